/* clgrad fit's path through the autograd tape (cli_tape.c). */
#ifndef CG_CLI_TAPE_H
#define CG_CLI_TAPE_H

#include "cli_common.h"

typedef struct tape_fit {
    /* data: features already normalized (n x F, row-major), targets */
    const float *x, *y;
    size_t n, F;
    /* model: linear, or an MLP with these hidden sizes */
    bool mlp;
    const size_t *hidden;
    size_t nhidden;
    cg_activation activation;
    unsigned long long seed;
    const float *init; /* linear: F+1 initial values, NULL: 1s and 0 */
    /* training */
    cg_loss_kind loss;
    cg_optim_kind optimizer;
    const cg_optim_options *optim;
    const cg_scheduler_options *sched; /* NULL: none */
    float clip_norm, clip_value;       /* 0: none */
    long epochs, log_every;
    size_t batch; /* 0: full batch */
    bool shuffle;
    cli_log_style *log; /* NULL: no log lines */
    /* results */
    long epochs_run;
    bool diverged;
    float final_loss;
    double seconds;
    long *hist_epochs, *curve_epochs;
    float *hist_loss, *curve_loss;
    size_t hist_count, curve_count;
    float *params; /* every parameter, flattened in order */
    size_t nparams, parameter_count;
} tape_fit;

/* Trains; 0 trained, 1 diverged, 2 error (printed). */
int cli_fit_tape(cg_context *ctx, tape_fit *t);
void tape_fit_free(tape_fit *t);

#endif
