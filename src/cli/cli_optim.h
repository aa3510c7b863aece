/* clgrad fit's optimizer, scheduler and clipping flags (cli_optim.c). */
#ifndef CG_CLI_OPTIM_H
#define CG_CLI_OPTIM_H

#include <getopt.h>

#include "cli_common.h"

/* Option codes handed to getopt_long start here. */
#define CLI_OPTIM_CODE 1000
#define CLI_LBFGS 9 /* an optimizer id beyond cg_optim_kind: not built yet */

typedef struct cli_optim {
    FILE *err;             /* where refusals go (NULL: nowhere) */
    int kind;              /* cg_optim_kind, or CLI_LBFGS */
    cg_optim_options o;    /* the values given (applied over the defaults) */
    unsigned long given;   /* which flags were given */
    bool has_scheduler;
    cg_scheduler_options sched;
    int *milestones;       /* multistep's, malloc'd */
    float clip_norm, clip_value; /* 0: none */
} cli_optim;

extern const struct option cli_optim_options[];
/* The --optimizer value; -1 to go on, else the exit status. */
int cli_optim_kind(const char *name, cli_optim *c);
/* One flag (code from cli_optim_options); -1 to go on, else the exit status. */
int cli_optim_flag(int code, const char *value, cli_optim *c);
/* Checks each flag belongs to the optimizer and builds its options (PyTorch's
 * defaults, lr 1e-2 for gd/sgd). -1 to go on, else the exit status. */
int cli_optim_finish(cli_optim *c, bool lr_given, float lr, cg_optim_options *out);
/* Frees what the flags allocated. */
void cli_optim_free(cli_optim *c);
/* Help text for these flags. */
extern const char cli_optim_usage[];

#endif
