/* clgrad fit through the autograd tape: the linear model built from ops
 * (--grad autograd), MLPs (--model mlp:...), and minibatches (--batch-size).
 * The data goes to the device once; per epoch only the loss comes back. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_fit_args.h"
#include "cli_tape.h"

#define CURVE_MAX_POINTS 100000

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The model's parameters and forward pass. */
typedef struct model {
    cg_mlp *mlp;
    cg_tensor *params; /* linear: w..., b */
    size_t F;
} model;

static cg_tensor *forward(const model *m, cg_tensor *x)
{
    if (m->mlp) return cg_mlp_forward(m->mlp, x);
    if (m->F == 1) /* the lecture's model(t_u, *params): w * t_u + b */
        return cg_add(cg_mul(cg_at(m->params, 0), x), cg_at(m->params, 1));
    cg_tensor *w = cg_reshape(cg_slice(m->params, 0, m->F), CG_SHAPE(m->F, 1));
    cg_tensor *xw = cg_matmul(x, w, false, false);
    return cg_add(cg_reshape(xw, CG_SHAPE(cg_tensor_numel(xw))), cg_at(m->params, m->F));
}

static cg_tensor *loss_of(const tape_fit *t, cg_tensor *p, cg_tensor *y)
{
    return t->loss == CG_LOSS_L1 ? cg_l1_loss(p, y, CG_REDUCTION_MEAN)
                                 : cg_mse_loss(p, y, CG_REDUCTION_MEAN);
}

/* LBFGS's closure: the full batch's loss and gradients. */
typedef struct closure_args {
    cg_context *ctx;
    const tape_fit *t;
    const model *m;
    cg_tensor *x, *y;
    cg_optimizer *opt;
} closure_args;

static float full_batch_closure(void *user)
{
    closure_args *c = user;
    cg_zero_grad(c->opt);
    cg_tensor *loss = loss_of(c->t, forward(c->m, c->x), c->y);
    cg_backward(loss);
    float v = cg_item(loss);
    cg_tape_reset(c->ctx);
    return v;
}

/* A seeded Fisher-Yates shuffle of 0..n-1 (xorshift64*). */
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

static bool append(long **epochs, float **losses, size_t *count, long epoch, float loss)
{
    long *e = realloc(*epochs, (*count + 1) * sizeof *e);
    if (!e) return false;
    *epochs = e;
    float *l = realloc(*losses, (*count + 1) * sizeof *l);
    if (!l) return false;
    *losses = l;
    e[*count] = epoch;
    l[(*count)++] = loss;
    return true;
}

void tape_fit_free(tape_fit *t)
{
    free(t->hist_epochs);
    free(t->hist_loss);
    free(t->curve_epochs);
    free(t->curve_loss);
    free(t->params);
    t->hist_epochs = t->curve_epochs = NULL;
    t->hist_loss = t->curve_loss = t->params = NULL;
}

/* Logs an epoch in the lecture's format (params and grad of the linear
 * model only: an MLP's would fill the screen). */
static void log_epoch(const tape_fit *t, const model *m, long epoch, float loss)
{
    if (!t->log) return;
    size_t P = m->F + 1;
    float *pg = NULL;
    cg_epoch_log log = {epoch, loss, NULL, NULL, 0};
    if (!m->mlp && (t->log->params || t->log->grad) && (pg = calloc(2 * P, sizeof *pg))) {
        cg_tensor_read(m->params, pg, P);
        if (cg_grad(m->params)) cg_tensor_read(cg_grad(m->params), pg + P, P);
        log = (cg_epoch_log){epoch, loss, pg, pg + P, P};
    }
    cli_log_style style = *t->log;
    if (!log.nparams) style.params = style.grad = false;
    cli_print_epoch(&style, &log);
    free(pg);
}

int cli_fit_tape(cg_context *ctx, tape_fit *t)
{
    const size_t n = t->n, F = t->F;
    model m = {NULL, NULL, F};
    cg_tensor *X = NULL, *Y = NULL, *acc = NULL, *params[2 * (CLI_MAX_HIDDEN + 1)];
    size_t nparams = 0;
    cg_optimizer *opt = NULL;
    cg_scheduler *sched = NULL;
    unsigned *idx = NULL;
    float *init = NULL;
    int rc = CLI_RUNTIME; /* out of memory, unless said otherwise */

    /* An MLP takes X [n, F] and y [n, 1]; the linear model X [n] or [n, F], y [n]. */
    X = cg_tensor_from(ctx, t->x, (F == 1 && !t->mlp) ? CG_SHAPE(n) : CG_SHAPE(n, F));
    Y = cg_tensor_from(ctx, t->y, t->mlp ? CG_SHAPE(n, 1) : CG_SHAPE(n));
    if (t->mlp) {
        size_t sizes[CLI_MAX_HIDDEN + 2];
        sizes[0] = F;
        for (size_t i = 0; i < t->nhidden; i++) sizes[1 + i] = t->hidden[i];
        sizes[1 + t->nhidden] = 1;
        m.mlp = cg_mlp_create(ctx, sizes, t->nhidden + 2, t->activation, t->seed);
        nparams = cg_mlp_parameters(m.mlp, params, sizeof params / sizeof params[0]);
        t->parameter_count = cg_mlp_parameter_count(m.mlp);
    } else {
        if (!(init = malloc((F + 1) * sizeof *init))) goto out;
        for (size_t k = 0; k <= F; k++) init[k] = t->init ? t->init[k] : (k < F ? 1.0f : 0.0f);
        m.params = cg_tensor_from(ctx, init, CG_SHAPE(F + 1));
        cg_set_requires_grad(m.params, true);
        params[nparams++] = m.params;
        t->parameter_count = F + 1;
    }
    opt = cg_optimizer_create(ctx, t->optimizer, params, nparams, t->optim);
    if (opt && t->sched) sched = cg_scheduler_create(opt, t->sched);
    acc = cg_tensor_zeros(ctx, CG_SHAPE(1));
    size_t batch = t->batch && t->batch < n ? t->batch : n;
    idx = malloc(n * sizeof *idx);
    if (!idx) goto out;
    for (size_t i = 0; i < n; i++) idx[i] = (unsigned)i;
    unsigned long long rng = t->seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
    if (cg_status_of(ctx) != CG_OK) goto fail;

    long stride = (t->epochs + CURVE_MAX_POINTS - 1) / CURVE_MAX_POINTS;
    double t0 = seconds_now();
    t->epochs_run = 0;
    for (long epoch = 1; epoch <= t->epochs; epoch++) {
        if (t->shuffle) shuffle(idx, n, &rng);
        cg_tensor_write(acc, (float[]){0.0f}, 1);
        if (t->optimizer == CG_OPTIM_LBFGS) { /* one epoch: one step(closure) */
            closure_args c = {ctx, t, &m, X, Y, opt};
            float l = cg_step_closure(opt, full_batch_closure, &c);
            cg_tensor_write(acc, &l, 1);
        }
        for (size_t start = 0; start < n && t->optimizer != CG_OPTIM_LBFGS; start += batch) {
            size_t count = start + batch <= n ? batch : n - start;
            cg_tensor *xb = X, *yb = Y;
            if (count < n) {
                if (t->shuffle) {
                    xb = cg_index_rows(X, idx + start, count);
                    yb = cg_index_rows(Y, idx + start, count);
                } else {
                    xb = cg_slice(X, start, start + count);
                    yb = cg_slice(Y, start, start + count);
                }
            }
            cg_tensor *loss = loss_of(t, forward(&m, xb), yb);
            cg_zero_grad(opt);
            cg_backward(loss);
            if (t->clip_norm > 0) cg_clip_grad_norm(params, nparams, t->clip_norm, false);
            if (t->clip_value > 0) cg_clip_grad_value(params, nparams, t->clip_value);
            cg_step(opt);
            /* The epoch's loss: batch means weighted by their share of the data. */
            cg_add_scaled_(acc, (float)count / (float)n, loss);
            cg_tape_reset(ctx);
        }
        float loss = cg_item(acc);
        if (sched) cg_scheduler_step(sched, loss); /* after the epoch's last step */
        if (cg_status_of(ctx) != CG_OK) goto fail;
        t->epochs_run = epoch;
        if ((epoch - 1) % stride == 0 &&
            !append(&t->curve_epochs, &t->curve_loss, &t->curve_count, epoch, loss))
            goto out;
        bool logged = t->log_every > 0 && epoch % t->log_every == 0;
        bool diverged = !isfinite(loss);
        if (logged || diverged) {
            if (!append(&t->hist_epochs, &t->hist_loss, &t->hist_count, epoch, loss)) goto out;
            log_epoch(t, &m, epoch, loss);
        }
        if (diverged) {
            t->diverged = true;
            break;
        }
    }
    /* The loss of the final parameters on all the data. */
    cg_no_grad_begin(ctx);
    t->final_loss = cg_item(loss_of(t, forward(&m, X), Y));
    cg_no_grad_end(ctx);
    cg_tape_reset(ctx);
    t->seconds = seconds_now() - t0;
    if (cg_status_of(ctx) != CG_OK) goto fail;
    /* An overflow in the last update shows only here. */
    if (!isfinite(t->final_loss)) t->diverged = true;

    t->nparams = t->parameter_count;
    t->params = malloc(t->nparams * sizeof *t->params);
    if (!t->params) goto out;
    size_t off = 0;
    for (size_t i = 0; i < nparams; i++) {
        size_t k = cg_tensor_numel(params[i]);
        cg_tensor_read(params[i], t->params + off, k);
        off += k;
    }
    if (cg_status_of(ctx) != CG_OK) goto fail;
    rc = t->diverged ? 1 : 0;
    goto out;
fail:
    fprintf(stderr, "clgrad fit: %s\n", cg_error_message(ctx));
    rc = cli_exit_for(cg_status_of(ctx));
out:
    if (rc == CLI_RUNTIME && cg_status_of(ctx) == CG_OK)
        fprintf(stderr, "clgrad fit: out of memory\n");
    free(init);
    free(idx);
    cg_scheduler_free(sched);
    cg_optimizer_free(opt);
    cg_mlp_free(m.mlp);
    cg_tensor_free(m.params);
    cg_tensor_free(acc);
    cg_tensor_free(X);
    cg_tensor_free(Y);
    return rc;
}
