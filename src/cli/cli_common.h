/* Shared pieces of the clgrad command's subcommands. */
#ifndef CG_CLI_COMMON_H
#define CG_CLI_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "clgrad.h"

#if defined(__GNUC__) || defined(__clang__)
#define CLI_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CLI_PRINTF(f, a)
#endif

/* Exit statuses of every subcommand (the fit contract). */
#define CLI_OK 0
#define CLI_DIVERGED 1
#define CLI_USAGE 2   /* bad input or usage */
#define CLI_RUNTIME 3 /* a failure that is not the input's: device, memory, a failed write */

/* The same paragraph ends every --help. */
#define CLI_EXIT_HELP                                                                      \
    "exit status: 0 success; 1 training diverged (a loss became inf or NaN, or the\n"      \
    "numeric gradient vanished); 2 bad input or usage; 3 a runtime failure that is not\n"  \
    "the input's fault (OpenCL device or driver error, out of memory, a failed write of\n" \
    "the results, plots included).\n"

int cli_devices(int argc, char **argv);
int cli_fit(int argc, char **argv);
int cli_demo(int argc, char **argv);
int cli_warmup(int argc, char **argv);

/* The exit status for a library error met while reading input or training:
 * 3 for the device, the driver and memory, 2 for the rest. */
int cli_exit_for(cg_status status);

/* A message on err ("PROG: ..." and a newline); err NULL prints nothing. */
void cli_say(FILE *err, const char *prog, const char *fmt, ...) CLI_PRINTF(3, 4);

/* Strict number parsing of s[0..len): the whole text, finite in float. */
bool cli_parse_float_n(const char *s, size_t len, float *out);
bool cli_parse_float(const char *s, float *out);
/* The one parser of every integer in a flag or a spec: decimal digits only
 * (no sign, space or exponent), within [lo, hi], never narrowed. */
bool cli_parse_uint(const char *s, size_t len, unsigned long long lo, unsigned long long hi,
                    unsigned long long *out);
/* cli_parse_uint on a whole flag value; on failure prints "FLAG must be an
 * integer from LO to HI (got 'S')" and returns false. */
bool cli_uint_flag(FILE *err, const char *prog, const char *flag, const char *s,
                   unsigned long long lo, unsigned long long hi, unsigned long long *out);
/* Floats separated by sep, any count (malloc'd, *count set); NULL for an
 * empty or bad item or no memory. */
float *cli_parse_floats(const char *s, char sep, size_t *count);

/* torch's tensor formatting: [-44.1730,  -0.8260] or [3.2144e+17, 5.6621e+15]. */
void cli_format_values(char *buf, size_t cap, const float *v, size_t n);

/* A context on device (or CLGRAD_DEVICE). P:D indices are range-checked
 * here, before the library narrows them. On failure prints why and returns
 * the exit status (2 no such device, 3 the driver or memory); -1 on success. */
int cli_context(const char *device, const char *prog, cg_context **out);

/* Whether a file can be created at path, checked before a long run: its
 * directory exists and takes a new file (a probe file is made and removed),
 * and path is not a directory. Prints "PROG: FLAG PATH: ..." with errno's
 * text when not. */
bool cli_check_output(const char *path, const char *prog, const char *flag);
/* Same for a directory that files will be written into. */
bool cli_check_output_dir(const char *dir, const char *prog, const char *flag);

/* The library's notices, one line each on stderr (the default callback). */
void cli_log_to_stderr(void *user, const char *message);

/* Flushes and closes stdout: a write that failed anywhere before (a full
 * disk, a closed pipe) is reported on stderr and turns rc into 3. */
int cli_finish_stdout(int rc);

/* Prints the lecture-style log line(s) for one epoch. */
typedef struct cli_log_style {
    FILE *out;
    bool params, grad;
} cli_log_style;
void cli_print_epoch(void *style, const cg_epoch_log *log);

#endif
