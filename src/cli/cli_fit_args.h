/* clgrad fit's command line, parsed without side effects (cli_fit_args.c):
 * no data read, no device, no training, no exit. The command uses it, and
 * so does the fuzz harness tests/fuzz/fuzz_cli.c. */
#ifndef CG_CLI_FIT_ARGS_H
#define CG_CLI_FIT_ARGS_H

#include "cli_common.h"
#include "cli_optim.h"

/* An MLP's hidden layers: more would only be a typo. */
#define CLI_MAX_HIDDEN 16
#define CLI_MAX_HIDDEN_SIZE (1u << 20)

typedef struct fit_args {
    const char *data, *y, *device, *plot, *loss_plot, *normalize;
    char **x;      /* --x's column names (NULL: every column but --y) */
    size_t nx;
    char *x_names; /* their storage */
    cg_norm_kind norm_kind;
    float norm_factor;
    cg_fit_options opt;
    bool help, lr_given, json, autograd, mlp, shuffle, stats, activation_given, seed_given;
    bool no_capture;
    cli_optim optim;             /* optimizer, scheduler and clipping flags */
    cg_optim_options optim_opts; /* what they amount to */
    size_t hidden[CLI_MAX_HIDDEN], nhidden, batch;
    cg_activation activation;
    unsigned long long seed;
    float *init; /* --init's values (malloc'd) */
    size_t ninit;
    cli_log_style log;
    FILE *err;
} fit_args;

/* Parses argv (argv[0] is "fit") into a, checking every value and every
 * combination of flags that needs no data. Returns -1 to go on, CLI_OK with
 * a->help set for --help, or CLI_USAGE with the reason printed on err (NULL:
 * nowhere). a owns what it allocated: free it with cli_fit_args_free, whatever
 * the result. */
int cli_fit_parse(int argc, char **argv, fit_args *a, FILE *err);
void cli_fit_args_free(fit_args *a);

/* clgrad fit --help. */
void cli_fit_usage(FILE *out);

#endif
