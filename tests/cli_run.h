/* Running the clgrad command from a test (test_cli.c, test_cli_fault.c). */
#ifndef CG_TEST_CLI_RUN_H
#define CG_TEST_CLI_RUN_H

#include <sys/wait.h>

#include "helpers.h"

typedef struct run_result {
    int status;
    char out[65536];
    char err[8192];
} run_result;

static inline void slurp(const char *path, char *buf, size_t cap)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f) return;
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* Runs `clgrad ARGS` with the given environment prefix. */
static inline void run_cli(run_result *r, const char *env, const char *args)
{
    const char *exe = getenv("CLGRAD_EXE");
    cr_assert_not_null(exe, "CLGRAD_EXE is set by meson");
    char dir[64], cmd[4096], out[128], err[128];
    temp_dir(dir, sizeof dir);
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(err, sizeof err, "%s/err", dir);
    snprintf(cmd, sizeof cmd, "%s %s %s >%s 2>%s </dev/null", env ? env : "", exe, args, out, err);
    int st = system(cmd);
    cr_assert(WIFEXITED(st), "%s did not exit normally", cmd);
    r->status = WEXITSTATUS(st);
    slurp(out, r->out, sizeof r->out);
    slurp(err, r->err, sizeof r->err);
}

static inline bool on_ref(void)
{
    const char *d = getenv("CLGRAD_DEVICE");
    return d && strcmp(d, "ref") == 0;
}

#endif
