/* Shared pieces of the clgrad command's subcommands. */
#ifndef CG_CLI_COMMON_H
#define CG_CLI_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "clgrad.h"

/* Exit statuses of every subcommand (the fit contract). */
#define CLI_OK 0
#define CLI_DIVERGED 1
#define CLI_USAGE 2

int cli_devices(int argc, char **argv);
int cli_fit(int argc, char **argv);
int cli_demo(int argc, char **argv);

/* Strict number parsing: the whole string, finite. */
bool cli_parse_float(const char *s, float *out);
bool cli_parse_long(const char *s, long *out);
/* Comma-separated floats; returns the count, -1 on a bad item or overflow. */
int cli_parse_floats(const char *s, float *out, int cap);

/* torch's tensor formatting: [-44.1730,  -0.8260] or [3.2144e+17, 5.6621e+15]. */
void cli_format_values(char *buf, size_t cap, const float *v, size_t n);

/* A context on --device (or CLGRAD_DEVICE); prints the error and returns
 * NULL when the spec matches nothing. */
cg_context *cli_context(const char *device, const char *prog);

/* Prints the lecture-style log line(s) for one epoch. */
typedef struct cli_log_style {
    FILE *out;
    bool params, grad;
} cli_log_style;
void cli_print_epoch(void *style, const cg_epoch_log *log);

#endif
