/* The trainer's shared half: options and their defaults, the logging
 * schedule, the result, and how a divergence is worded (train_internal.h);
 * and the linear model's fused fit, whose epochs run in the context's
 * backend (backend/cl_linreg.c, ref/linreg_ref.c). Models trained through
 * the tape run in train_tape.c. */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linreg_internal.h"
#include "train_internal.h"

cg_fit_options cg_fit_defaults(void)
{
    return (cg_fit_options){
        .loss = CG_LOSS_MSE,
        .grad = CG_GRAD_ANALYTIC,
        .delta = 0.1f,
        .optimizer = CG_OPTIM_SGD,
        .lr = 1e-2f,
        .betas = {0.9f, 0.999f},
        .eps = 1e-8f,
        .epochs = 5000,
        .log_every = 500,
        .path = CG_PATH_AUTO,
        .huber_delta = 1.0f,
    };
}

/* True when p + delta or p - delta rounds to p in float32. */
static bool delta_vanishes(float p, float delta)
{
    volatile float hi = p + delta, lo = p - delta;
    return hi == p || lo == p;
}

/* The gap between p and the next float32 away from zero. */
static float p_spacing(float p)
{
    float a = fabsf(p);
    return nextafterf(a, INFINITY) - a;
}

cg_status cg__fit_validate_common(cg_context *ctx, const char *fn, const cg_fit_options *o)
{
    if (o->optimizer < CG_OPTIM_SGD || o->optimizer >= CG_OPTIM_KIND_COUNT)
        return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "%s: unknown optimizer %d", fn,
                        (int)o->optimizer);
    if (o->optim) {
        if (cg__optim_validate(ctx, fn, o->optimizer, o->optim)) return ctx->status;
    } else if (!(o->lr > 0.0f) || !isfinite(o->lr)) {
        return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "%s: lr must be positive (got %g)", fn,
                        (double)o->lr);
    }
    if (o->epochs < 1 || o->epochs > INT_MAX)
        return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                        "%s: epochs must be between 1 and %d (got %ld)", fn, INT_MAX, o->epochs);
    for (int i = 0; i < 2; i++)
        if (!(o->betas[i] >= 0.0f && o->betas[i] < 1.0f))
            return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                            "%s: betas[%d] must be in [0, 1) (got %g)", fn, i,
                            (double)o->betas[i]);
    if (!(o->eps >= 0.0f) || !isfinite(o->eps))
        return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "%s: eps must be >= 0 (got %g)", fn,
                        (double)o->eps);
    if (o->log_every < 0)
        return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "%s: log_every must be >= 0 (got %ld)",
                        fn, o->log_every);
    if (o->n_log_epochs && !o->log_epochs)
        return cg__fail(ctx, CG_ERROR_NULL_POINTER, "%s: log_epochs is NULL", fn);
    if (o->replicas < 0 || o->replicas > 1)
        return cg__fail(ctx, CG_ERROR_UNSUPPORTED,
                        "%s: replicas %d: data-parallel training is not built yet (0 or 1)", fn,
                        o->replicas);
    return CG_OK;
}

/* The cg_fit options the fused kernels have no room for: refused, naming
 * the entry point that runs them, rather than ignored. */
static cg_status refuse_tape_options(cg_context *ctx, const cg_linreg *m, const cg_fit_options *o)
{
    static const char fn[] = "cg_linreg_fit";
    const char *what = o->loss == CG_LOSS_HUBER                     ? "the huber loss"
                       : o->batch_size && o->batch_size < m->n      ? "minibatches (batch_size)"
                       : o->schedule || o->use_scheduler            ? "a learning-rate schedule"
                       : o->use_optimizer                           ? "an optimizer of your own"
                       : o->clip_grad_norm != 0.0f || o->clip_grad_value != 0.0f
                           ? "gradient clipping"
                       : o->val_x || o->val_y                       ? "a validation set"
                       : o->on_checkpoint || o->checkpoint_every    ? "checkpoints"
                       : o->start_epoch > 1 || o->shuffle_order     ? "resuming"
                                                                    : NULL;
    if (!what) return CG_OK;
    return cg__fail(ctx, CG_ERROR_UNSUPPORTED,
                    "%s: %s runs through the tape: train the linear model with cg_fit "
                    "(cg_fit_model_linreg)",
                    fn, what);
}

static cg_status validate(cg_context *ctx, const cg_linreg *m, const cg_fit_options *o)
{
    static const char fn[] = "cg_linreg_fit";
    if (o->loss != CG_LOSS_MSE && o->loss != CG_LOSS_L1 && o->loss != CG_LOSS_HUBER)
        return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "%s: unknown loss %d", fn, (int)o->loss);
    if (o->grad != CG_GRAD_ANALYTIC && o->grad != CG_GRAD_NUMERIC)
        return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "%s: unknown grad mode %d", fn,
                        (int)o->grad);
    if (o->optimizer == CG_OPTIM_SPARSE_ADAM)
        return cg__fail(ctx, CG_ERROR_UNSUPPORTED,
                        "%s: sparse_adam needs row-sparse gradients (embeddings); the linear "
                        "model's are dense: use adam",
                        fn);
    if (o->optimizer == CG_OPTIM_LBFGS)
        return cg__fail(ctx, CG_ERROR_UNSUPPORTED,
                        "%s: lbfgs re-evaluates the loss inside a step; the fused trainer runs "
                        "the other optimizers (train lbfgs through the tape)",
                        fn);
    if (o->path != CG_PATH_AUTO && o->path != CG_PATH_SINGLE_LAUNCH &&
        o->path != CG_PATH_PER_EPOCH)
        return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "%s: unknown path %d", fn, (int)o->path);
    if (cg__fit_validate_common(ctx, fn, o)) return ctx->status;
    if (o->grad == CG_GRAD_NUMERIC && (!(o->delta > 0.0f) || !isfinite(o->delta)))
        return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "%s: delta must be positive (got %g)",
                        fn, (double)o->delta);
    if (refuse_tape_options(ctx, m, o)) return ctx->status;
    if (o->init)
        for (size_t k = 0; k <= m->features; k++)
            if (!isfinite(o->init[k]))
                return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                                "%s: init[%zu] is not finite", fn, k);
    /* Central differences need p + delta and p - delta to differ from p. */
    if (o->grad == CG_GRAD_NUMERIC)
        for (size_t k = 0; k <= m->features; k++) {
            float p = o->init ? o->init[k] : (k < m->features ? 1.0f : 0.0f);
            if (delta_vanishes(p, o->delta))
                return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                                "%s: init[%zu] = %g: init[%zu] +- delta (%g) rounds to init[%zu] "
                                "in float32, so its numeric gradient would be 0; use a delta of "
                                "at least %g",
                                fn, k, (double)p, k, (double)o->delta, k, (double)p_spacing(p));
        }
    return CG_OK;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int *cg__fit_log_schedule(const cg_fit_options *o, int *count)
{
    size_t periodic = o->log_every > 0 ? (size_t)(o->epochs / o->log_every) : 0;
    int *list = cg__malloc((periodic + o->n_log_epochs + 1) * sizeof *list);
    if (!list) return NULL;
    size_t k = 0;
    for (size_t i = 1; i <= periodic; i++) list[k++] = (int)(i * (size_t)o->log_every);
    for (size_t i = 0; i < o->n_log_epochs; i++)
        if (o->log_epochs[i] >= 1 && o->log_epochs[i] <= o->epochs)
            list[k++] = (int)o->log_epochs[i];
    qsort(list, k, sizeof *list, cmp_int);
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (u == 0 || list[i] != list[u - 1]) list[u++] = list[i];
    *count = (int)u;
    return list;
}

cg_optim_options cg__fit_optim_options(const cg_fit_options *o)
{
    if (o->optim) return *o->optim;
    cg_optim_options r = cg_optim_defaults(o->optimizer);
    r.lr = o->lr;
    r.betas[0] = o->betas[0];
    r.betas[1] = o->betas[1];
    r.eps = o->eps;
    return r;
}

static void hyper_params(const cg_fit_options *o, float *hp, int *flags)
{
    cg_optim_options oo = cg__fit_optim_options(o);
    cg__optim_base(o->optimizer, &oo, hp, flags);
    hp[CG_B_DELTA] = o->delta;
}

cg_status cg_linreg_eval(cg_linreg *m, const float *params, cg_loss_kind loss, cg_grad_mode mode,
                         float delta, float *loss_out, float *grad)
{
    if (loss_out) *loss_out = NAN;
    for (size_t k = 0; m && grad && k < cg__linreg_nparams(m); k++) grad[k] = NAN;
    if (!m) return CG_ERROR_NULL_POINTER;
    cg_context *ctx = m->ctx;
    if (ctx->status) return ctx->status;
    if (!params || !loss_out)
        return cg__fail(ctx, CG_ERROR_NULL_POINTER, "cg_linreg_eval: params or loss_out is NULL");
    if (loss == CG_LOSS_HUBER)
        return cg__fail(ctx, CG_ERROR_UNSUPPORTED,
                        "cg_linreg_eval: the huber loss runs through the tape (cg_fit)");
    if (loss != CG_LOSS_MSE && loss != CG_LOSS_L1)
        return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "cg_linreg_eval: unknown loss %d",
                        (int)loss);
    if (mode != CG_GRAD_ANALYTIC && mode != CG_GRAD_NUMERIC)
        return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "cg_linreg_eval: unknown grad mode %d",
                        (int)mode);
    if (mode == CG_GRAD_NUMERIC && (!(delta > 0.0f) || !isfinite(delta)))
        return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                        "cg_linreg_eval: delta must be positive (got %g)", (double)delta);
    cg_fit_options o = cg_fit_defaults();
    o.delta = delta;
    float hp[CG_B_COUNT];
    int flags;
    hyper_params(&o, hp, &flags);
    float out[1 + CG__LINREG_MAX_FEATURES + 1];
    cg_status s = ctx->backend->linreg_eval(m, params, hp, loss, mode, out);
    if (s) return s;
    *loss_out = out[0];
    if (grad) memcpy(grad, out + 1, cg__linreg_nparams(m) * sizeof *grad);
    return CG_OK;
}

void cg__fit_format_float(char *buf, size_t cap, float v)
{
    if (isinf(v))
        snprintf(buf, cap, "%s", v > 0 ? "inf" : "-inf");
    else if (isnan(v))
        snprintf(buf, cap, "nan");
    else
        snprintf(buf, cap, "%g", (double)v);
}

/* Fills result from a finished run; calls on_epoch for each logged epoch. */
static cg_status build_result(cg_context *ctx, const cg_linreg *m, const cg_fit_options *o,
                              const cg__linreg_run *run, cg_fit_result *r)
{
    const size_t P = cg__linreg_nparams(m), rec_len = cg__linreg_record_len(m);
    /* The epoch a diverged run stopped at is logged too, if not already. */
    bool add_last = run->stopped &&
                    (run->logged == 0 || run->log_epochs[run->logged - 1] != run->epochs_run);
    size_t count = (size_t)run->logged + (add_last ? 1 : 0);
    size_t curve = run->epochs_run > 0
                       ? (size_t)(run->epochs_run - 1) / (size_t)run->curve_stride + 1
                       : 0;
    r->params = cg__malloc(P * sizeof *r->params);
    r->history_epochs = cg__malloc((count + 1) * sizeof *r->history_epochs);
    r->history_loss = cg__malloc((count + 1) * sizeof *r->history_loss);
    r->curve_epochs = cg__malloc((curve + 1) * sizeof *r->curve_epochs);
    r->curve_loss = cg__malloc((curve + 1) * sizeof *r->curve_loss);
    if (!r->params || !r->history_epochs || !r->history_loss || !r->curve_epochs ||
        !r->curve_loss) {
        cg_fit_result_free(r);
        return cg__fail(ctx, CG_ERROR_NO_MEMORY, "cg_linreg_fit: out of memory");
    }
    memcpy(r->params, run->params, P * sizeof *r->params);
    r->nparams = P;
    r->epochs_run = run->epochs_run;
    r->diverged = run->stopped != 0;
    r->final_loss = run->final_loss;
    r->path_used = run->path_used;
    r->train_seconds = run->seconds;
    r->val_loss = NAN;
    r->next_epoch = run->epochs_run + 1;
    r->replicas = 1;
    for (size_t i = 0; i < curve; i++) {
        r->curve_epochs[i] = (long)(i * (size_t)run->curve_stride + 1);
        r->curve_loss[i] = run->curve[i];
    }
    r->curve_count = curve;
    for (size_t i = 0; i < count; i++) {
        bool last = i == (size_t)run->logged;
        const float *rec = run->records + (last ? (size_t)run->nlog : i) * rec_len;
        r->history_epochs[i] = last ? run->epochs_run : run->log_epochs[i];
        r->history_loss[i] = rec[0];
        if (o->on_epoch) {
            cg_epoch_log log = {r->history_epochs[i], rec[0], rec + 1, rec + 1 + P, P, NAN};
            o->on_epoch(o->user, &log);
        }
    }
    r->history_count = count;
    return CG_OK;
}

/* ---- after a run: what a non-finite or stalled run means ---------------- */

/* The model's data, read back to the host only to explain a failed run. */
typedef struct host_data {
    float *X, *y;
    double max_y, max_x, max_pred; /* |y|, |x'| and |w.x' + b| at the initial params */
} host_data;

static cg_status read_data(cg_context *ctx, const cg_linreg *m, const float *init, host_data *d)
{
    const size_t n = m->n, F = m->features;
    d->X = cg__malloc(n * F * sizeof *d->X);
    d->y = cg__malloc(n * sizeof *d->y);
    if (!d->X || !d->y) return cg__fail(ctx, CG_ERROR_NO_MEMORY, "cg_linreg_fit: out of memory");
    if (cg_tensor_read(m->X, d->X, n * F) || cg_tensor_read(m->y, d->y, n)) return ctx->status;
    for (size_t i = 0; i < n; i++) {
        double pred = init ? init[F] : 0.0;
        for (size_t j = 0; j < F; j++) {
            double x = ((double)d->X[i * F + j] - m->shift[j]) * m->scale[j];
            pred += (init ? init[j] : 1.0) * x;
            d->max_x = fmax(d->max_x, fabs(x));
        }
        d->max_pred = fmax(d->max_pred, fabs(pred));
        d->max_y = fmax(d->max_y, fabs((double)d->y[i]));
    }
    return CG_OK;
}

/* NaN or inf anywhere in the data; fails naming the first, in reading order. */
static cg_status check_finite(cg_context *ctx, const cg_linreg *m, const host_data *d)
{
    const size_t F = m->features;
    char v[32];
    for (size_t i = 0; i < m->n; i++) {
        for (size_t j = 0; j < F; j++)
            if (!isfinite(d->X[i * F + j])) {
                cg__fit_format_float(v, sizeof v, d->X[i * F + j]);
                return cg__fail(ctx, CG_ERROR_INVALID_DATA,
                                "cg_linreg_fit: X holds %s at row %zu, column %zu (0-based): the "
                                "data must be finite",
                                v, i, j);
            }
        if (!isfinite(d->y[i])) {
            cg__fit_format_float(v, sizeof v, d->y[i]);
            return cg__fail(ctx, CG_ERROR_INVALID_DATA,
                            "cg_linreg_fit: y holds %s at row %zu (0-based): the data must be "
                            "finite",
                            v, i);
        }
    }
    return CG_OK;
}

void cg__fit_say(cg_fit_result *r, const char *fmt, ...)
{
    size_t len = strlen(r->message);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message + len, sizeof r->message - len, fmt, ap);
    va_end(ap);
}

static bool transform_is_identity(const cg_linreg *m)
{
    for (size_t j = 0; j < m->features; j++)
        if (m->shift[j] != 0.0f || m->scale[j] != 1.0f) return false;
    return true;
}

void cg__fit_say_initial(cg_fit_result *r, float first_loss)
{
    char loss[32];
    cg__fit_format_float(loss, sizeof loss, first_loss);
    cg__fit_say(r, "training diverged at epoch 1: the loss at the initial parameters is already "
                   "%s: ",
                loss);
}

void cg__fit_say_overshoot(cg_fit_result *r, float loss, float lr)
{
    char l[32], rate[32];
    cg__fit_format_float(l, sizeof l, loss);
    cg__fit_format_float(rate, sizeof rate, lr);
    if (r->diverged)
        cg__fit_say(r, "training diverged at epoch %ld: the loss became %s", r->epochs_run, l);
    else
        cg__fit_say(r,
                    "training diverged after the last update (epoch %ld): the final loss is %s",
                    r->epochs_run, l);
    cg__fit_say(r, ". The updates overshoot: try a smaller learning rate than %s", rate);
}

/* The message of a run whose loss became inf or NaN, fitted to the cause:
 * a loss already non-finite at the initial parameters comes from the size
 * of the data or of those parameters, not from the learning rate. */
static void explain_divergence(const cg_linreg *m, const cg_fit_options *o, float first_loss,
                               const host_data *d, cg_fit_result *r)
{
    const bool identity = transform_is_identity(m);
    r->message[0] = '\0';
    if (!isfinite(first_loss)) {
        cg__fit_say_initial(r, first_loss);
        if (d->max_y >= d->max_pred)
            cg__fit_say(r,
                        "the targets (y) reach %.3g and the loss overflows float32 (largest "
                        "finite value 3.4e+38). Rescale y: %s",
                        d->max_y,
                        identity ? "normalizing the inputs would not touch it"
                                 : "the inputs' transform does not touch it");
        else if (o->init)
            cg__fit_say(r,
                        "with the initial parameters given, the predictions reach %.3g and "
                        "overflow float32. Start from smaller initial parameters",
                        d->max_pred);
        else
            cg__fit_say(r, "the %sfeatures reach %.3g and the predictions overflow float32. %s",
                        identity ? "" : "transformed ", d->max_x,
                        identity ? "Scale the inputs down (normalized inputs)"
                                 : "Scale the inputs down further");
        return;
    }
    cg__fit_say_overshoot(r, r->final_loss, cg__fit_optim_options(o).lr);
    if (identity)
        cg__fit_say(r, ", or normalized inputs");
    else if (d->max_y > 1e6)
        cg__fit_say(r, " (the inputs' transform does not touch y, which reaches %.3g)",
                    d->max_y);
}

static void param_name(char *buf, size_t cap, const cg_linreg *m, size_t k)
{
    if (k == m->features)
        snprintf(buf, cap, "b");
    else
        snprintf(buf, cap, "w[%zu]", k);
}

/* --grad numeric: a parameter so large that p +- delta rounds to p, or a
 * loss so large that the two losses round to the same float, gives a
 * difference quotient of exactly 0, and the run stalls with a finite loss.
 * That is reported as a divergence: the run did not train. */
static void check_numeric(cg_linreg *m, const cg_fit_options *o, const cg__linreg_run *run,
                          cg_fit_result *r)
{
    const size_t P = cg__linreg_nparams(m);
    char name[32];
    for (size_t k = 0; k < P; k++) {
        if (!delta_vanishes(r->params[k], o->delta)) continue;
        /* The first logged epoch already stalled, else the last. */
        long by = r->epochs_run;
        for (int i = 0; i < run->logged; i++)
            if (delta_vanishes(run->records[(size_t)i * cg__linreg_record_len(m) + 1 + k],
                               o->delta)) {
                by = run->log_epochs[i];
                break;
            }
        param_name(name, sizeof name, m, k);
        r->diverged = true;
        r->message[0] = '\0';
        cg__fit_say(r,
                    "training stalled by epoch %ld: the numeric gradient vanished. %s reached "
                    "%.3g, where %s +- delta (%g) rounds to %s in float32, so the difference "
                    "quotient is 0. Try a smaller learning rate, or a larger delta",
                    by, name, (double)r->params[k], name, (double)o->delta, name);
        return;
    }
    /* The bias alone would remove mean(r)^2 of an MSE: when that is a real
     * share of the loss but the bias's quotient is 0, the loss is too large
     * for delta to move it. */
    if (o->loss != CG_LOSS_MSE || !(r->final_loss > 0.0f)) return;
    float la, ln, ga[CG__LINREG_MAX_FEATURES + 1], gn[CG__LINREG_MAX_FEATURES + 1];
    if (cg_linreg_eval(m, r->params, o->loss, CG_GRAD_ANALYTIC, o->delta, &la, ga) ||
        cg_linreg_eval(m, r->params, o->loss, CG_GRAD_NUMERIC, o->delta, &ln, gn))
        return;
    const double gb = ga[P - 1];
    if (gn[P - 1] == 0.0f && gb * gb / 4.0 > 1e-3 * (double)la) {
        r->diverged = true;
        r->message[0] = '\0';
        cg__fit_say(r,
                    "training stalled: the numeric gradient vanished. At a loss of %.3g, the "
                    "losses at b +- delta (%g) round to the same float32, so the difference "
                    "quotient is 0 (the analytic one is %.3g). Rescale y, or use the analytic "
                    "gradient",
                    (double)la, (double)o->delta, gb);
    }
}

/* Turns a finished run into its verdict: NaN data is an error, a
 * non-finite loss (the final one included) a divergence with its cause. */
static cg_status check_run(cg_linreg *m, const cg_fit_options *o, const cg__linreg_run *run,
                           cg_fit_result *r)
{
    cg_context *ctx = m->ctx;
    if (!r->diverged && isfinite(r->final_loss)) {
        if (o->grad == CG_GRAD_NUMERIC) check_numeric(m, o, run, r);
        if (ctx->status) cg_fit_result_free(r); /* the check's evaluations failed */
        return ctx->status;
    }
    const float first_loss = run->curve[0]; /* epoch 1's: at the initial params */
    host_data d = {0};
    if (read_data(ctx, m, o->init, &d) == CG_OK && !isfinite(first_loss))
        check_finite(ctx, m, &d);
    if (ctx->status == CG_OK)
        explain_divergence(m, o, first_loss, &d, r);
    else
        cg_fit_result_free(r);
    r->diverged = ctx->status == CG_OK;
    free(d.X);
    free(d.y);
    return ctx->status;
}

cg_status cg_linreg_fit(cg_linreg *m, const cg_fit_options *options, cg_fit_result *result)
{
    if (result) memset(result, 0, sizeof *result);
    if (!m) return CG_ERROR_NULL_POINTER;
    cg_context *ctx = m->ctx;
    if (cg__realize(ctx)) return ctx->status;
    if (!result) return cg__fail(ctx, CG_ERROR_NULL_POINTER, "cg_linreg_fit: result is NULL");
    cg_fit_options o = options ? *options : cg_fit_defaults();
    if (validate(ctx, m, &o)) return ctx->status;

    const size_t P = cg__linreg_nparams(m);
    cg__linreg_run run = {0};
    run.loss = o.loss;
    run.mode = o.grad;
    run.optimizer = o.optimizer;
    hyper_params(&o, run.hp, &run.optim_flags);
    run.epochs = (int)o.epochs;
    run.path = o.path;
    run.curve_stride = (int)cg__curve_stride(o.epochs);
    run.curve_count = (size_t)((o.epochs + run.curve_stride - 1) / run.curve_stride);

    float init[CG__LINREG_MAX_FEATURES + 1];
    for (size_t k = 0; k < P; k++) init[k] = o.init ? o.init[k] : (k + 1 < P ? 1.0f : 0.0f);
    run.init = init;

    int nlog = 0;
    int *sched = cg__fit_log_schedule(&o, &nlog);
    run.log_epochs = sched;
    run.nlog = nlog;
    run.records = cg__malloc((size_t)(nlog + 1) * cg__linreg_record_len(m) * sizeof(float));
    run.curve = cg__malloc(run.curve_count * sizeof(float));
    run.params = cg__malloc(P * sizeof(float));
    if (!sched || !run.records || !run.curve || !run.params)
        cg__fail(ctx, CG_ERROR_NO_MEMORY, "cg_linreg_fit: out of memory");
    else if (ctx->backend->linreg_run(m, &run) == CG_OK &&
             build_result(ctx, m, &o, &run, result) == CG_OK)
        check_run(m, &o, &run, result);
    free(sched);
    free(run.records);
    free(run.curve);
    free(run.params);
    return ctx->status;
}

void cg_fit_result_free(cg_fit_result *r)
{
    if (!r) return;
    free(r->params);
    free(r->history_epochs);
    free(r->history_loss);
    free(r->curve_epochs);
    free(r->curve_loss);
    free(r->val_curve_loss);
    free(r->shuffle_order);
    memset(r, 0, sizeof *r);
}
