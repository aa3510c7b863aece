/* cg_fit: every model through the autograd tape. The epoch loop (minibatches
 * in row order or shuffled, clipping, the optimizer's step, the schedule),
 * divergence, validation, checkpoints and resuming. What it shares with the
 * fused linear model (options, result, curve, log, wording) is train.c's.
 * The data stays on the device; per epoch only the loss comes back. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "optim_internal.h" /* the kind and context of a caller's optimizer */
#include "train_internal.h"

static const char FN[] = "cg_fit";

/* ---- the models clgrad has -------------------------------------------- */

static cg_tensor *mlp_forward(void *user, cg_tensor *x) { return cg_mlp_forward(user, x); }

static size_t mlp_parameters(void *user, cg_tensor **out, size_t cap)
{
    return cg_mlp_parameters(user, out, cap);
}

cg_fit_model cg_fit_model_mlp(cg_mlp *mlp)
{
    return mlp ? (cg_fit_model){mlp_forward, mlp_parameters, mlp} : (cg_fit_model){0};
}

static cg_tensor *linear_forward(void *user, cg_tensor *x) { return cg_linear_forward(user, x); }

static size_t linear_parameters(void *user, cg_tensor **out, size_t cap)
{
    const cg_linear *l = user;
    if (cap > 0) out[0] = l->weight;
    if (cap > 1) out[1] = l->bias;
    return 2;
}

cg_fit_model cg_fit_model_linear(cg_linear *layer)
{
    return layer ? (cg_fit_model){linear_forward, linear_parameters, layer} : (cg_fit_model){0};
}

static cg_tensor *linreg_forward(void *user, cg_tensor *x)
{
    cg_tensor *params = user;
    if (!x || !params) return NULL;
    const size_t F = params->numel - 1;
    if (x->shape.ndim == 1) {
        if (F != 1) {
            cg__fail(params->ctx, CG_ERROR_SHAPE_MISMATCH,
                     "cg_fit_model_linreg: X of shape [n] is one feature, but params holds "
                     "%zu weights and the bias",
                     F);
            return NULL;
        }
        /* The lecture's model(t_u, *params): w * t_u + b. */
        return cg_add(cg_mul(cg_at(params, 0), x), cg_at(params, 1));
    }
    cg_tensor *w = cg_reshape(cg_slice(params, 0, F), CG_SHAPE(F, 1));
    cg_tensor *xw = cg_matmul(x, w, false, false);
    return cg_add(cg_reshape(xw, CG_SHAPE(cg_tensor_numel(xw))), cg_at(params, F));
}

static size_t linreg_parameters(void *user, cg_tensor **out, size_t cap)
{
    if (cap > 0) out[0] = user;
    return 1;
}

cg_fit_model cg_fit_model_linreg(cg_tensor *params)
{
    return params ? (cg_fit_model){linreg_forward, linreg_parameters, params} : (cg_fit_model){0};
}

/* ---- one run ------------------------------------------------------------ */

typedef struct loop {
    cg_context *ctx;
    const cg_fit_model *model;
    const cg_fit_options *o;
    cg_tensor *X, *y;
    size_t n, batch;
    cg_tensor **params;
    size_t nparams, numel;
    cg_optimizer *opt;
    cg_scheduler *sched;
    bool own_opt, own_sched, lbfgs;
    cg_tensor *acc; /* the epoch's loss, summed on the device */
    unsigned *idx;  /* the shuffle's order of the rows */
    unsigned long long rng;
    float *pg; /* log_params: every parameter, then every grad */
    /* Capture and replay (capture.c): a full-size step captured once, the
     * rest replayed, a minibatch's rows rebound as plain tensors. */
    bool capture;
    cg_capture *cap;
    cg_tensor *cap_x, *cap_y; /* the rows the capture reads now */
    cg_tensor *cap_loss;      /* the captured step's loss */
    long steps, replayed;
    unsigned long long launches;
    /* Whole loops (capture_loop.c): epochs that need nothing from the host
     * run as one cg_capture_replay_n each, their losses in `values`. */
    bool loops;
    float *values;
} loop;

/* Epochs one cg_capture_replay_n may run (the losses' buffer). */
#define LOOP_EPOCHS 65536

static bool same_shape(cg_shape a, cg_shape b)
{
    if (a.ndim != b.ndim) return false;
    for (int d = 0; d < a.ndim; d++)
        if (a.dims[d] != b.dims[d]) return false;
    return true;
}

/* The loss of predictions p against targets t, which must have one shape:
 * a broadcast ([n,1] against [n] makes [n,n]) would train on the wrong sum. */
static cg_tensor *loss_of(const loop *l, cg_tensor *p, cg_tensor *t)
{
    if (!p || !t) return NULL;
    if (!same_shape(p->shape, t->shape)) {
        char a[64], b[64];
        cg__shape_format(p->shape, a, sizeof a);
        cg__shape_format(t->shape, b, sizeof b);
        cg__fail(l->ctx, CG_ERROR_SHAPE_MISMATCH,
                 "%s: the model's output %s and the targets' rows %s differ in shape", FN, a, b);
        return NULL;
    }
    switch (l->o->loss) {
    case CG_LOSS_L1: return cg_l1_loss(p, t, CG_REDUCTION_MEAN);
    case CG_LOSS_HUBER: return cg_huber_loss(p, t, l->o->huber_delta, CG_REDUCTION_MEAN);
    default: return cg_mse_loss(p, t, CG_REDUCTION_MEAN);
    }
}

static void clip(const loop *l)
{
    if (l->o->clip_grad_norm > 0)
        cg_clip_grad_norm(l->params, l->nparams, l->o->clip_grad_norm, false);
    if (l->o->clip_grad_value > 0) cg_clip_grad_value(l->params, l->nparams, l->o->clip_grad_value);
}

/* LBFGS's closure: the full batch's loss and gradients. */
static float full_batch_closure(void *user)
{
    const loop *l = user;
    cg_zero_grad(l->opt);
    cg_tensor *loss = loss_of(l, l->model->forward(l->model->user, l->X), l->y);
    cg_backward(loss);
    clip(l);
    float v = cg_item(loss);
    cg_tape_reset(l->ctx);
    return v;
}

/* A seeded Fisher-Yates shuffle of the previous epoch's order (xorshift64*):
 * clgrad fit's order since minibatches came, kept so runs stay comparable. */
static void shuffle(unsigned *idx, size_t n, unsigned long long *state)
{
    for (size_t i = n; i > 1; i--) {
        unsigned long long x = *state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *state = x;
        size_t j = (size_t)((x * 2685821657736338717ull) % i);
        unsigned tmp = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = tmp;
    }
}

static unsigned long long seed_state(unsigned long long seed)
{
    return seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
}

/* One step on rows xb, yb (count of the n), its loss added to the epoch's;
 * the loss's tensor (the tape's). */
static cg_tensor *step_on(loop *l, cg_tensor *xb, cg_tensor *yb, size_t count)
{
    const cg_fit_model *m = l->model;
    cg_tensor *loss = loss_of(l, m->forward(m->user, xb), yb);
    cg_zero_grad(l->opt);
    cg_backward(loss);
    clip(l);
    cg_step(l->opt);
    cg_add_scaled_(l->acc, (float)count / (float)l->n, loss);
    return loss;
}

static void stop_capturing(loop *l)
{
    cg__tensor_release(l->cap_loss);
    l->cap_loss = NULL;
    cg_capture_free(l->cap);
    l->cap = NULL;
    l->capture = false;
}

/* A full-size step as a replay (the first such step after the first step
 * of the run is captured: the first makes the gradients and the
 * optimizer's state). False when it is to run as usual. Minibatches become
 * plain tensors the capture is rebound to. */
static bool replay_step(loop *l, cg_tensor *xb, cg_tensor *yb)
{
    cg_context *ctx = l->ctx;
    if (!l->capture || l->steps == 0) return false;
    const bool minibatch = l->batch < l->n;
    if (minibatch && (!(xb = cg_contiguous(xb)) || !(yb = cg_contiguous(yb))))
        return true; /* the error is on ctx */
    if (!l->cap) {
        if (cg_capture_begin(ctx)) return true;
        cg_tensor *loss = step_on(l, xb, yb, l->batch);
        l->cap = cg_capture_end(ctx);
        /* Full batches whose epochs need nothing from the host loop on the
         * device when the record allows: the epoch's loss is then the
         * step's (acc = 0 + 1 * loss, the same float). */
        if (l->cap && l->loops && !minibatch && loss &&
            !cg__capture_loop_problem(l->cap, loss) && (l->values = cg__malloc(
                                                            LOOP_EPOCHS * sizeof *l->values)))
            l->cap_loss = cg__tensor_retain(loss);
        l->cap_x = xb;
        l->cap_y = yb;
        /* A model that reads the device in its step (its own forward), or
         * reads its rows through a view, trains on without capture. */
        if (l->cap && (cg__capture_reads(l->cap) ||
                       (minibatch && (cg__capture_rebind_problem(l->cap, xb, xb) ||
                                      cg__capture_rebind_problem(l->cap, yb, yb)))))
            stop_capturing(l);
        return true;
    }
    if (minibatch) {
        cg_capture_rebind(l->cap, l->cap_x, xb);
        cg_capture_rebind(l->cap, l->cap_y, yb);
        l->cap_x = xb;
        l->cap_y = yb;
    }
    cg_capture_replay(l->cap);
    l->replayed++;
    return true;
}

/* One epoch's steps; returns its loss (the minibatches' means weighted by
 * their share of the rows), NaN when the context fails. */
static float run_epoch(loop *l)
{
    cg_tensor_write(l->acc, (float[]){0.0f}, 1);
    if (l->lbfgs) { /* one epoch: one step(closure) */
        float v = cg_step_closure(l->opt, full_batch_closure, l);
        cg_tensor_write(l->acc, &v, 1);
        l->steps++;
    }
    for (size_t start = 0; start < l->n && !l->lbfgs; start += l->batch) {
        size_t count = start + l->batch <= l->n ? l->batch : l->n - start;
        cg_tensor *xb = l->X, *yb = l->y;
        if (count < l->n) {
            if (l->o->shuffle) {
                xb = cg_index_rows(l->X, l->idx + start, count);
                yb = cg_index_rows(l->y, l->idx + start, count);
            } else {
                xb = cg_slice(l->X, start, start + count);
                yb = cg_slice(l->y, start, start + count);
            }
        }
        unsigned long long before = l->ctx->stats.kernel_launches;
        if (count < l->batch || !replay_step(l, xb, yb)) step_on(l, xb, yb, count);
        l->launches += l->ctx->stats.kernel_launches - before;
        l->steps++;
        cg_tape_reset(l->ctx);
    }
    return cg_item(l->acc);
}

/* The loss on rows x, y at the current parameters, recording nothing. */
static float eval_loss(const loop *l, cg_tensor *x, cg_tensor *y)
{
    cg_no_grad_begin(l->ctx);
    float v = cg_item(loss_of(l, l->model->forward(l->model->user, x), y));
    cg_no_grad_end(l->ctx);
    cg_tape_reset(l->ctx);
    return v;
}

/* Every parameter (and, with grads, every gradient after them; 0 where a
 * parameter has none) flattened in order into dst. */
static void read_params(const loop *l, float *dst, bool grads)
{
    size_t off = 0;
    for (size_t i = 0; i < l->nparams; i++) {
        size_t k = l->params[i]->numel;
        cg_tensor_read(l->params[i], dst + off, k);
        if (grads) {
            const cg_tensor *g = cg_grad(l->params[i]);
            if (g)
                cg_tensor_read(g, dst + l->numel + off, k);
            else
                memset(dst + l->numel + off, 0, k * sizeof *dst);
        }
        off += k;
    }
}

/* ---- checks before anything runs ---------------------------------------- */

static cg_status check_data(cg_context *ctx, const char *what, const cg_tensor *x,
                            const cg_tensor *y)
{
    if (x->ctx != ctx || y->ctx != ctx)
        return cg__fail(ctx, CG_ERROR_CONTEXT_MISMATCH, "%s: %s come from another context", FN,
                        what);
    if (x->tape_owned || y->tape_owned)
        return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                        "%s: %s must be tensors you own: one an op made is freed by the tape "
                        "reset after each step (cg_detach makes one you own)",
                        FN, what);
    if (x->shape.dims[0] != y->shape.dims[0])
        return cg__fail(ctx, CG_ERROR_SHAPE_MISMATCH,
                        "%s: %s have %zu and %zu rows: the first dimension is the rows, one per "
                        "example",
                        FN, what, x->shape.dims[0], y->shape.dims[0]);
    return CG_OK;
}

static bool finite_nonneg(float v) { return v >= 0.0f && isfinite(v); }

static cg_status check_options(cg_context *ctx, const cg_fit_options *o, size_t n)
{
    if (o->loss != CG_LOSS_MSE && o->loss != CG_LOSS_L1 && o->loss != CG_LOSS_HUBER)
        return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "%s: unknown loss %d", FN, (int)o->loss);
    if (o->grad == CG_GRAD_NUMERIC)
        return cg__fail(ctx, CG_ERROR_UNSUPPORTED,
                        "%s: central differences (CG_GRAD_NUMERIC) run on the fused linear "
                        "model (cg_linreg_fit); the tape's gradients are analytic",
                        FN);
    if (o->grad != CG_GRAD_ANALYTIC)
        return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "%s: unknown grad mode %d", FN,
                        (int)o->grad);
    if (o->path != CG_PATH_AUTO && o->path != CG_PATH_TAPE)
        return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                        "%s: path %d is not the tape's (CG_PATH_AUTO or CG_PATH_TAPE); the fused "
                        "paths are cg_linreg_fit's",
                        FN, (int)o->path);
    /* The optimizer's fields make one: with the caller's, they are unused. */
    cg_fit_options common = *o;
    if (o->use_optimizer) {
        cg_fit_options d = cg_fit_defaults();
        common.optimizer = d.optimizer;
        common.lr = d.lr;
        common.optim = NULL;
    }
    if (cg__fit_validate_common(ctx, FN, &common)) return ctx->status;
    if (o->loss == CG_LOSS_HUBER && !(o->huber_delta > 0.0f && isfinite(o->huber_delta)))
        return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                        "%s: huber_delta must be positive (got %g)", FN, (double)o->huber_delta);
    if (!finite_nonneg(o->clip_grad_norm) || !finite_nonneg(o->clip_grad_value))
        return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                        "%s: clip_grad_norm and clip_grad_value must be >= 0 and finite (got "
                        "%g, %g)",
                        FN, (double)o->clip_grad_norm, (double)o->clip_grad_value);
    if (o->schedule && o->use_scheduler)
        return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                        "%s: schedule and use_scheduler both given: one schedule per run", FN);
    if (!o->val_x != !o->val_y)
        return cg__fail(ctx, CG_ERROR_NULL_POINTER,
                        "%s: val_x and val_y go together (one of them is NULL)", FN);
    if (o->checkpoint_every < 0 || !o->on_checkpoint != !o->checkpoint_every)
        return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                        "%s: on_checkpoint needs checkpoint_every >= 1, and that needs "
                        "on_checkpoint (got %ld, %s)",
                        FN, o->checkpoint_every, o->on_checkpoint ? "a function" : "NULL");
    if (o->start_epoch < 0 || o->start_epoch > o->epochs)
        return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                        "%s: start_epoch must be between 0 and epochs (%ld; got %ld)", FN,
                        o->epochs, o->start_epoch);
    bool lbfgs = o->use_optimizer ? o->use_optimizer->kind == CG_OPTIM_LBFGS
                                  : o->optimizer == CG_OPTIM_LBFGS;
    if (lbfgs && o->batch_size && o->batch_size < n)
        return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                        "%s: lbfgs takes the full batch (batch_size 0, got %zu)", FN,
                        o->batch_size);
    if (o->shuffle && n > UINT_MAX)
        return cg__fail(ctx, CG_ERROR_UNSUPPORTED, "%s: shuffling takes at most %u rows (got %zu)",
                        FN, UINT_MAX, n);
    if (o->use_optimizer && o->use_optimizer->ctx != ctx)
        return cg__fail(ctx, CG_ERROR_CONTEXT_MISMATCH,
                        "%s: use_optimizer comes from another context", FN);
    return CG_OK;
}

/* A resumed shuffle's order must be the rows, each once. */
static cg_status check_order(cg_context *ctx, const unsigned *order, size_t n)
{
    unsigned char *seen = cg__calloc(n, 1);
    if (!seen) return cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory", FN);
    for (size_t i = 0; i < n; i++) {
        if (order[i] >= n || seen[order[i]]) {
            free(seen);
            return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                            "%s: shuffle_order is not a permutation of the %zu rows (at %zu: "
                            "%u)",
                            FN, n, i, order[i]);
        }
        seen[order[i]] = 1;
    }
    free(seen);
    return CG_OK;
}

/* The model's parameters into l, with options' init written into them. */
static cg_status gather_params(loop *l)
{
    cg_context *ctx = l->ctx;
    const cg_fit_model *m = l->model;
    l->nparams = m->parameters(m->user, NULL, 0);
    if (l->nparams == 0)
        return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "%s: the model has no parameters", FN);
    l->params = cg__calloc(l->nparams, sizeof *l->params);
    if (!l->params) return cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory", FN);
    m->parameters(m->user, l->params, l->nparams);
    for (size_t i = 0; i < l->nparams; i++) {
        if (!l->params[i])
            return cg__fail(ctx, CG_ERROR_NULL_POINTER, "%s: the model's parameter %zu is NULL",
                            FN, i);
        if (l->params[i]->ctx != ctx)
            return cg__fail(ctx, CG_ERROR_CONTEXT_MISMATCH,
                            "%s: the model's parameter %zu comes from another context", FN, i);
        l->numel += l->params[i]->numel;
    }
    const float *init = l->o->init;
    if (!init) return CG_OK;
    for (size_t k = 0; k < l->numel; k++)
        if (!isfinite(init[k]))
            return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "%s: init[%zu] is not finite", FN, k);
    for (size_t i = 0, off = 0; i < l->nparams; off += l->params[i++]->numel)
        cg_tensor_write(l->params[i], init + off, l->params[i]->numel);
    return ctx->status;
}

/* The optimizer, schedule, accumulator, row order and buffers of a run. */
static cg_status prepare(loop *l)
{
    cg_context *ctx = l->ctx;
    const cg_fit_options *o = l->o;
    if (gather_params(l)) return ctx->status;
    l->opt = o->use_optimizer;
    if (!l->opt) {
        cg_optim_options oo = cg__fit_optim_options(o);
        l->opt = cg_optimizer_create(ctx, o->optimizer, l->params, l->nparams, &oo);
        l->own_opt = true;
    }
    if (!l->opt) return ctx->status;
    l->lbfgs = l->opt->kind == CG_OPTIM_LBFGS;
    l->sched = o->use_scheduler;
    if (o->schedule) {
        l->sched = cg_scheduler_create(l->opt, o->schedule);
        l->own_sched = true;
    }
    l->acc = cg_tensor_zeros(ctx, CG_SHAPE(1));
    l->batch = o->batch_size && o->batch_size < l->n ? o->batch_size : l->n;
    if (ctx->status) return ctx->status;
    if (o->shuffle) {
        if (o->shuffle_order && check_order(ctx, o->shuffle_order, l->n)) return ctx->status;
        l->idx = cg__malloc(l->n * sizeof *l->idx);
        if (!l->idx) return cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory", FN);
        for (size_t i = 0; i < l->n; i++)
            l->idx[i] = o->shuffle_order ? o->shuffle_order[i] : (unsigned)i;
    }
    l->rng = o->rng_state ? o->rng_state : seed_state(o->seed);
    /* The models clgrad makes do the same device work every step; a
     * caller's forward may not (host values baked into a record). */
    bool ours = l->model->forward == mlp_forward || l->model->forward == linear_forward ||
                l->model->forward == linreg_forward;
    l->capture = ours && !o->no_capture && !cg_context_eager(ctx) && !l->lbfgs &&
                 l->opt->kind != CG_OPTIM_SPARSE_ADAM;
    /* Whole loops: nothing between epochs needs the host but what they
     * return (the loss), logs and checkpoints ending a loop. */
    l->loops = cg__loop_enabled() && l->capture && l->batch == l->n && !l->sched && !o->val_x && !o->log_params;
    if (o->log_params && !(l->pg = cg__malloc(2 * l->numel * sizeof *l->pg)))
        return cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory", FN);
    return CG_OK;
}

static void release(loop *l)
{
    cg__tensor_release(l->cap_loss);
    free(l->values);
    cg_capture_free(l->cap); /* before the optimizer it steps */
    if (l->own_sched) cg_scheduler_free(l->sched);
    if (l->own_opt) cg_optimizer_free(l->opt);
    cg_tensor_free(l->acc);
    free(l->params);
    free(l->idx);
    free(l->pg);
}

/* ---- the result ------------------------------------------------------------ */

/* Room for what a run of epochs [start, epochs] records: the curve's points,
 * the logged epochs (plus the one a divergence stops at), the parameters. */
static cg_status allocate_result(const loop *l, long start, const int *sched, int nsched,
                                 cg_fit_result *r)
{
    const cg_fit_options *o = l->o;
    long stride = cg__curve_stride(o->epochs);
    long first = (start - 1 + stride - 1) / stride, last = (o->epochs - 1) / stride;
    size_t curve = last >= first ? (size_t)(last - first + 1) : 0, logs = 1;
    for (int i = 0; i < nsched; i++) logs += sched[i] >= start;
    r->curve_epochs = cg__malloc((curve + 1) * sizeof *r->curve_epochs);
    r->curve_loss = cg__malloc((curve + 1) * sizeof *r->curve_loss);
    r->history_epochs = cg__malloc(logs * sizeof *r->history_epochs);
    r->history_loss = cg__malloc(logs * sizeof *r->history_loss);
    r->params = cg__malloc(l->numel * sizeof *r->params);
    bool ok = r->curve_epochs && r->curve_loss && r->history_epochs && r->history_loss &&
              r->params;
    if (ok && o->val_x) ok = (r->val_curve_loss = cg__malloc((curve + 1) * sizeof(float)));
    if (ok && o->shuffle) ok = (r->shuffle_order = cg__malloc(l->n * sizeof(unsigned)));
    return ok ? CG_OK : cg__fail(l->ctx, CG_ERROR_NO_MEMORY, "%s: out of memory", FN);
}

/* The message of a diverged run. A full batch's first loss is at the initial
 * parameters: non-finite there, the size of the data or of those parameters
 * is to blame, not the learning rate. */
static void explain(const loop *l, long start, float stop_loss, float lr, cg_fit_result *r)
{
    r->message[0] = '\0';
    if (r->diverged && r->epochs_run == 1 && start <= 1 && l->batch == l->n) {
        cg__fit_say_initial(r, stop_loss);
        cg__fit_say(r, "the targets, the inputs or the initial parameters are too large for "
                       "float32. Scale them down");
        return;
    }
    cg__fit_say_overshoot(r, r->diverged ? stop_loss : r->final_loss, lr);
}

/* What an epoch's end records and calls: the curve, the log, divergence,
 * checkpoints. True when the run stops there. */
typedef struct ledger {
    const int *sched;
    int nsched, li;
    long stride;
} ledger;

static bool epoch_end(loop *l, ledger *lg, long epoch, float loss, float val, cg_fit_result *r)
{
    cg_context *ctx = l->ctx;
    const cg_fit_options *o = l->o;
    r->epochs_run = epoch;
    if ((epoch - 1) % lg->stride == 0) {
        r->curve_epochs[r->curve_count] = epoch;
        if (o->val_x) r->val_curve_loss[r->curve_count] = val;
        r->curve_loss[r->curve_count++] = loss;
    }
    bool logged = lg->li < lg->nsched && lg->sched[lg->li] == epoch;
    lg->li += logged;
    r->diverged = !isfinite(loss);
    if (logged || r->diverged) {
        r->history_epochs[r->history_count] = epoch;
        r->history_loss[r->history_count++] = loss;
        cg_epoch_log log = {epoch, loss, NULL, NULL, 0, val};
        if (l->pg) {
            read_params(l, l->pg, true);
            if (ctx->status) return true;
            log = (cg_epoch_log){epoch, loss, l->pg, l->pg + l->numel, l->numel, val};
        }
        if (o->on_epoch) o->on_epoch(o->user, &log);
    }
    if (r->diverged) return true;
    if (o->on_checkpoint && epoch % o->checkpoint_every == 0) {
        cg_fit_checkpoint c = {epoch, loss, epoch + 1, l->rng, l->idx,
                               o->shuffle ? l->n : 0, l->opt, l->sched};
        o->on_checkpoint(o->user, &c);
        if (ctx->status) return true;
    }
    return false;
}

/* The epochs from `epoch` a loop may run: up to the next that the host
 * must see (logged, checkpointed, the last); 0 when epochs loop not. */
static long loop_epochs(const loop *l, const ledger *lg, long epoch)
{
    const cg_fit_options *o = l->o;
    if (!l->cap_loss || !l->cap) return 0;
    long last = o->epochs;
    if (lg->li < lg->nsched && lg->sched[lg->li] < last) last = lg->sched[lg->li];
    if (o->on_checkpoint) {
        long c = (epoch + o->checkpoint_every - 1) / o->checkpoint_every * o->checkpoint_every;
        if (c < last) last = c;
    }
    long k = last - epoch + 1;
    return k < LOOP_EPOCHS ? k : LOOP_EPOCHS;
}

/* The epochs, filling r as they go; CG_OK or the context's error. */
static cg_status train(loop *l, long start, const int *sched, int nsched, cg_fit_result *r)
{
    cg_context *ctx = l->ctx;
    const cg_fit_options *o = l->o;
    ledger lg = {sched, nsched, 0, cg__curve_stride(o->epochs)};
    const float lr = cg_optimizer_lr(l->opt, 0);
    while (lg.li < nsched && sched[lg.li] < start) lg.li++;
    float loss = NAN, val = NAN;
    double t0 = cg__now_seconds();
    bool stop = false;
    for (long epoch = start; epoch <= o->epochs && !stop;) {
        long k = loop_epochs(l, &lg, epoch), done = 0;
        if (k > 0) { /* k epochs in one launch, then their bookkeeping */
            unsigned long long before = ctx->stats.kernel_launches;
            cg_capture_replay_n(l->cap, k, l->cap_loss, l->values, &done);
            l->launches += ctx->stats.kernel_launches - before;
            l->steps += done;
            l->replayed += done;
            if (ctx->status) return ctx->status;
            if (done == 0) return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "%s: no epoch ran", FN);
            for (long i = 0; i < done && !stop; i++, epoch++) {
                if (o->shuffle) shuffle(l->idx, l->n, &l->rng);
                loss = l->values[i];
                stop = epoch_end(l, &lg, epoch, loss, val, r);
                if (ctx->status) return ctx->status;
            }
            continue;
        }
        if (o->shuffle) shuffle(l->idx, l->n, &l->rng);
        loss = run_epoch(l);
        if (o->val_x) val = eval_loss(l, o->val_x, o->val_y);
        if (l->sched) cg_scheduler_step(l->sched, loss); /* after the epoch's last step */
        if (ctx->status) return ctx->status;
        stop = epoch_end(l, &lg, epoch, loss, val, r);
        if (ctx->status) return ctx->status;
        epoch++;
    }
    /* The loss of the final parameters on all the data. */
    r->final_loss = eval_loss(l, l->X, l->y);
    r->train_seconds = cg__now_seconds() - t0;
    read_params(l, r->params, false);
    if (ctx->status) return ctx->status;
    r->nparams = l->numel;
    r->val_loss = o->val_x ? val : NAN;
    r->next_epoch = r->epochs_run + 1;
    r->rng_state = l->rng;
    if (o->shuffle) {
        memcpy(r->shuffle_order, l->idx, l->n * sizeof *l->idx);
        r->shuffle_count = l->n;
    }
    r->path_used = CG_PATH_TAPE;
    r->replicas = 1;
    r->steps = l->steps;
    r->steps_replayed = l->replayed;
    r->step_launches = l->launches;
    /* An overflow in the last update shows only in the final loss. */
    if (r->diverged || !isfinite(r->final_loss)) {
        explain(l, start, loss, lr, r);
        r->diverged = true;
    }
    return CG_OK;
}

cg_status cg_fit(const cg_fit_model *model, cg_tensor *X, cg_tensor *y,
                 const cg_fit_options *options, cg_fit_result *result)
{
    if (result) memset(result, 0, sizeof *result);
    cg_context *ctx = X ? X->ctx : y ? y->ctx : NULL;
    if (!ctx) return CG_ERROR_NULL_POINTER;
    if (ctx->status) return ctx->status;
    if (!model || !X || !y || !result)
        return cg__fail(ctx, CG_ERROR_NULL_POINTER, "%s: %s is NULL", FN,
                        !model ? "model" : !X ? "X" : !y ? "y" : "result");
    if (!model->forward || !model->parameters)
        return cg__fail(ctx, CG_ERROR_NULL_POINTER,
                        "%s: the model has no forward or no parameters function", FN);
    cg_fit_options o = options ? *options : cg_fit_defaults();
    if (check_data(ctx, "X and y", X, y) ||
        (o.val_x && o.val_y && check_data(ctx, "val_x and val_y", o.val_x, o.val_y)) ||
        check_options(ctx, &o, X->shape.dims[0]))
        return ctx->status;

    loop l = {.ctx = ctx, .model = model, .o = &o, .X = X, .y = y, .n = X->shape.dims[0]};
    const long start = o.start_epoch > 1 ? o.start_epoch : 1;
    int nsched = 0, *sched = NULL;
    if (prepare(&l) == CG_OK) {
        sched = cg__fit_log_schedule(&o, &nsched);
        if (!sched)
            cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory", FN);
        else if (allocate_result(&l, start, sched, nsched, result) == CG_OK)
            train(&l, start, sched, nsched, result);
    }
    free(sched);
    release(&l); /* freeing the optimizer can fail too (its arena copied back) */
    if (ctx->status) cg_fit_result_free(result);
    return ctx->status;
}
