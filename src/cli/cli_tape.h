/* clgrad fit's path through the autograd tape (cli_tape.c): the model and
 * the options from the flags, trained by the library's cg_fit. */
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
    /* training: the flags' options (loss, optimizer, epochs, minibatches,
     * schedule, clipping, log period) */
    cg_fit_options opt;
    cli_log_style *log; /* NULL: no log lines */
} tape_fit;

/* Trains into *r (zeroed first; the caller frees it with cg_fit_result_free).
 * -1: trained or diverged (r says which); -2: a library error on ctx, for
 * the caller to print. */
int cli_fit_tape(cg_context *ctx, tape_fit *t, cg_fit_result *r);

#endif
