/* What the trainer's two entry points share (train.c): cg_linreg_fit (the
 * fused linear model) and cg_fit (any model through the tape, train_tape.c)
 * take one options struct and fill one result, with one loss curve, one
 * logging schedule, one clock (cg__now_seconds, around the epochs and the
 * final loss) and one wording of a divergence. */
#ifndef CG_TRAIN_INTERNAL_H
#define CG_TRAIN_INTERNAL_H

#include "internal.h"

/* The loss curve keeps at most this many points (a stride of the epochs). */
#define CG__CURVE_MAX_POINTS 100000

/* The curve's stride for a run whose last epoch is `epochs`: the points are
 * the epochs e with (e - 1) % stride == 0, so a resumed run's curve continues
 * the first part's. */
static inline long cg__curve_stride(long epochs)
{
    return (epochs + CG__CURVE_MAX_POINTS - 1) / CG__CURVE_MAX_POINTS;
}

/* Checks the options both entry points read (loss and path aside); fn names
 * the public call. */
cg_status cg__fit_validate_common(cg_context *ctx, const char *fn, const cg_fit_options *o);

/* The epochs to log: every log_every-th plus the explicit ones, sorted,
 * without repeats, within [1, epochs]. NULL when out of memory. */
int *cg__fit_log_schedule(const cg_fit_options *o, int *count);

/* The optimizer's options: the full struct when given, else its defaults
 * with lr, betas and eps from the fit options. */
cg_optim_options cg__fit_optim_options(const cg_fit_options *o);

/* "inf", "-inf", "nan" or %g. */
void cg__fit_format_float(char *buf, size_t cap, float v);

/* Appends to r->message (cut at its size: the cause comes first). */
void cg__fit_say(cg_fit_result *r, const char *fmt, ...) CG__PRINTF(2, 3);

/* The start of a divergence message whose loss was already non-finite at
 * the initial parameters: "training diverged at epoch 1: ... already inf: ". */
void cg__fit_say_initial(cg_fit_result *r, float first_loss);

/* A divergence blamed on the step size: "training diverged at epoch E: the
 * loss became L" (or, when the epochs' losses were finite, "... after the last
 * update (epoch E): the final loss is L"), then ". The updates overshoot: try
 * a smaller learning rate than LR". r->epochs_run and r->diverged decide. */
void cg__fit_say_overshoot(cg_fit_result *r, float loss, float lr);

#endif
