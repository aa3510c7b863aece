/* libFuzzer harness for clgrad fit's command line: the input, split on NUL
 * or newline, is the argument list after "fit", handed to cli_fit_parse (no
 * data read, no device, no exit). A parse either refuses (status 2, the
 * reason printed) or returns arguments that keep every promise the run
 * relies on; --help returns 0. Crashes, leaks and undefined behaviour are the
 * sanitizers' findings; a broken promise here aborts.
 *
 * Links: src/cli/cli_fit_args.c, src/cli/cli_common.c, src/cli/cli_optim.c
 * (with src/cli on the include path) and the static library. */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_fit_args.h"

#define CHECK(c)                                                                       \
    do {                                                                               \
        if (!(c)) {                                                                    \
            fprintf(stderr, "fuzz_cli: %s:%d: %s does not hold\n", __FILE__, __LINE__, #c); \
            abort();                                                                   \
        }                                                                              \
    } while (0)

#define MAX_ARGS 256

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Refusals are formatted for real, into nothing. */
static FILE *sink;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    sink = fopen("/dev/null", "w");
    return 0;
}

static void check_parsed(const fit_args *a)
{
    CHECK(a->opt.epochs >= 1 && a->opt.epochs <= INT_MAX);
    CHECK(a->opt.log_every >= 0);
    CHECK(a->opt.lr > 0.0f && isfinite(a->opt.lr));
    CHECK(a->opt.delta > 0.0f && isfinite(a->opt.delta));
    CHECK(a->opt.optim == &a->optim_opts);
    CHECK(a->nhidden <= CLI_MAX_HIDDEN);
    CHECK(!a->mlp || a->nhidden >= 1);
    for (size_t i = 0; i < a->nhidden; i++)
        CHECK(a->hidden[i] >= 1 && a->hidden[i] <= CLI_MAX_HIDDEN_SIZE);
    CHECK(!a->init || a->ninit >= 2);
    for (size_t i = 0; a->init && i < a->ninit; i++) CHECK(isfinite(a->init[i]));
    CHECK(!a->x || a->nx >= 1);
    for (size_t k = 0; a->x && k < a->nx; k++) {
        CHECK(a->x[k][0] && !strchr(a->x[k], ','));
        for (size_t j = 0; j < k; j++) CHECK(strcmp(a->x[j], a->x[k]) != 0);
    }
    CHECK(a->norm_kind >= CG_NORM_NONE && a->norm_kind <= CG_NORM_MINMAX);
    CHECK(a->norm_kind != CG_NORM_SCALE || (isfinite(a->norm_factor) && a->norm_factor != 0));
    CHECK(!a->shuffle || a->batch >= 1);
    if (a->optim.has_scheduler && a->optim.sched.kind == CG_SCHED_MULTISTEP) {
        const cg_scheduler_options *s = &a->optim.sched;
        CHECK(s->nmilestones >= 1 && s->milestones == a->optim.milestones);
        for (size_t i = 0; i < s->nmilestones; i++)
            CHECK(s->milestones[i] >= 1 && (i == 0 || s->milestones[i] >= s->milestones[i - 1]));
    }
    const char *plots[2] = {a->plot, a->loss_plot};
    for (int i = 0; i < 2; i++)
        if (plots[i]) CHECK(strlen(plots[i]) > 4);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* One NUL-terminated copy, cut into arguments in place. */
    char *buf = malloc(size + 1);
    CHECK(buf);
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = "fit";
    char *start = buf;
    for (size_t i = 0; i <= size && argc <= MAX_ARGS; i++)
        if (buf[i] == '\0' || buf[i] == '\n') {
            buf[i] = '\0';
            /* Empty arguments count, but not the one after a final newline. */
            if (i < size || start < buf + size) argv[argc++] = start;
            start = buf + i + 1;
        }
    argv[argc] = NULL;

    fit_args a;
    int rc = cli_fit_parse(argc, argv, &a, sink);
    CHECK(rc == -1 || rc == CLI_OK || rc == CLI_USAGE);
    CHECK((rc == CLI_OK) == a.help);
    if (rc == -1) check_parsed(&a);
    cli_fit_args_free(&a);
    free(buf);
    return 0;
}
