/* Whole loops (issue 9, item 3): cg_capture_replay_n runs a captured step n
 * times, as one launch where the record allows, with the same results as n
 * replays bit for bit (parameters, optimizer state and step counts, the
 * watched loss of every step), stopping after the first loss that is not
 * finite; cg_fit's curve, history and divergence are the per-epoch loop's
 * with the loop on or off (CLGRAD_LOOP=0). */
#include "helpers.h"
#include "internal.h"

static const float lecture_u[11] = {35.7f, 55.9f, 58.2f, 81.9f, 56.3f, 48.9f,
                                    33.9f, 21.8f, 48.4f, 60.4f, 68.4f};
static const float lecture_c[11] = {0.5f, 14.0f, 15.0f, 28.0f, 11.0f, 8.0f,
                                    3.0f, -4.0f, 6.0f, 13.0f, 21.0f};

#define STEPS 40
#define MAXP 64

typedef struct run {
    cg_context *ctx;
    cg_tensor *x, *y;
    cg_tensor *params[4];
    int nparams;
    cg_mlp *mlp;
    bool grid;
    cg_optimizer *opt;
    cg_capture *cap;
    cg_tensor *loss;
} run;

typedef struct setup {
    cg_optim_kind kind;
    float lr;
    bool momentum, nesterov, amsgrad, weight_decay;
    bool mlp;
    bool grid; /* axis sums, concat: block copies with strides, expands */
} setup;

static cg_tensor *forward(run *r)
{
    if (r->mlp) return cg_mse_loss(cg_mlp_forward(r->mlp, r->x), r->y, CG_REDUCTION_MEAN);
    if (r->grid) {
        cg_tensor *w = r->params[0];
        cg_tensor *c = cg_concat((cg_tensor *[]){cg_mul(w, r->x), cg_tanh(w)}, 2, 1);
        return cg_mse_loss(cg_sum_axis(c, 1, false), r->y, CG_REDUCTION_MEAN);
    }
    cg_tensor *p = r->params[0];
    cg_tensor *t_p = cg_add(cg_mul(cg_at(p, 0), r->x), cg_at(p, 1));
    return cg_mse_loss(t_p, r->y, CG_REDUCTION_MEAN);
}

static cg_tensor *step(run *r)
{
    cg_tensor *loss = forward(r);
    cg_zero_grad(r->opt);
    cg_backward(loss);
    cg_step(r->opt);
    return loss;
}

/* The model and its optimizer, one plain step, then the second captured;
 * the loss tensor is the capture's. */
static void make(run *r, const setup *s)
{
    memset(r, 0, sizeof *r);
    r->ctx = test_context();
    if (s->mlp) {
        float x[11 * 2], y[11];
        for (int i = 0; i < 11; i++) {
            x[2 * i] = lecture_u[i] * 0.1f;
            x[2 * i + 1] = (float)i / 11.0f - 0.5f;
            y[i] = lecture_c[i] * 0.1f;
        }
        r->x = cg_tensor_from(r->ctx, x, CG_SHAPE(11, 2));
        r->y = cg_tensor_from(r->ctx, y, CG_SHAPE(11, 1));
        r->mlp = cg_mlp_create(r->ctx, (size_t[]){2, 5, 1}, 3, CG_ACT_TANH, 3);
        cr_assert_not_null(r->mlp, "%s", cg_error_message(r->ctx));
        r->nparams = (int)cg_mlp_parameters(r->mlp, r->params, 4);
    } else if (s->grid) {
        float x[12], w[12];
        for (int i = 0; i < 12; i++) {
            x[i] = lecture_u[i % 11] * 0.01f;
            w[i] = 0.1f * (float)(i % 5) - 0.2f;
        }
        r->grid = true;
        r->x = cg_tensor_from(r->ctx, x, CG_SHAPE(3, 4));
        r->y = cg_tensor_from(r->ctx, lecture_c, CG_SHAPE(3));
        r->params[0] = cg_tensor_from(r->ctx, w, CG_SHAPE(3, 4));
        cg_set_requires_grad(r->params[0], true);
        r->nparams = 1;
    } else {
        float x[11];
        for (int i = 0; i < 11; i++) x[i] = lecture_u[i] * 0.1f;
        r->x = cg_tensor_from(r->ctx, x, CG_SHAPE(11));
        r->y = cg_tensor_from(r->ctx, lecture_c, CG_SHAPE(11));
        r->params[0] = cg_tensor_from(r->ctx, (float[]){1.0f, 0.0f}, CG_SHAPE(2));
        cg_set_requires_grad(r->params[0], true);
        r->nparams = 1;
    }
    cg_optim_options o = cg_optim_defaults(s->kind);
    o.lr = s->lr;
    if (s->momentum) o.momentum = 0.9f;
    if (s->nesterov) o.nesterov = true;
    if (s->amsgrad) o.amsgrad = true;
    if (s->weight_decay) o.weight_decay = 0.01f;
    r->opt = cg_optimizer_create(r->ctx, s->kind, r->params, (size_t)r->nparams, &o);
    cr_assert_not_null(r->opt, "%s", cg_error_message(r->ctx));
    step(r);
    cg_tape_reset(r->ctx);
    cr_assert_eq(cg_capture_begin(r->ctx), CG_OK, "%s", cg_error_message(r->ctx));
    r->loss = step(r);
    r->cap = cg_capture_end(r->ctx);
    cr_assert_not_null(r->cap, "%s", cg_error_message(r->ctx));
    cg_tape_reset(r->ctx);
}

static void unmake(run *r)
{
    cr_assert_eq(cg_status_of(r->ctx), CG_OK, "%s", cg_error_message(r->ctx));
    cg_capture_free(r->cap);
    cg_optimizer_free(r->opt);
    if (r->mlp)
        cg_mlp_free(r->mlp);
    else
        cg_tensor_free(r->params[0]);
    cg_tensor_free(r->x);
    cg_tensor_free(r->y);
    cg_context_free(r->ctx);
}

/* Parameters then optimizer state, flattened. */
static size_t snapshot(run *r, float *out)
{
    size_t at = 0;
    for (int i = 0; i < r->nparams; i++) {
        size_t n = cg_tensor_numel(r->params[i]);
        cr_assert_eq(cg_tensor_read(r->params[i], out + at, n), CG_OK, "%s",
                     cg_error_message(r->ctx));
        at += n;
    }
    size_t s = cg_optimizer_state_size(r->opt);
    cr_assert(at + s <= MAXP * 8);
    cr_assert_eq(cg_optimizer_state_save(r->opt, out + at, s), CG_OK, "%s",
                 cg_error_message(r->ctx));
    return at + s;
}

static void assert_bits(const float *a, const float *b, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        cr_assert(memcmp(&a[i], &b[i], sizeof *a) == 0, "%s: element %zu: %.9g vs %.9g", what, i,
                  (double)a[i], (double)b[i]);
}

typedef struct outcome {
    float values[STEPS];
    long done;
    float state[MAXP * 8];
    size_t nstate;
    bool looped;
    const char *why;
    unsigned long long launches;
} outcome;

/* n replays, each followed by a read of the loss, stopping after the first
 * loss that is not finite; then one more plain replay (the step counters
 * decide Adam's next update). */
static void by_replays(const setup *s, long n, outcome *out)
{
    run r;
    make(&r, s);
    out->done = 0;
    for (long i = 0; i < n; i++) {
        cr_assert_eq(cg_capture_replay(r.cap), CG_OK, "%s", cg_error_message(r.ctx));
        out->values[i] = cg_item(r.loss);
        out->done = i + 1;
        if (!isfinite(out->values[i])) break;
    }
    cg_capture_replay(r.cap);
    out->nstate = snapshot(&r, out->state);
    unmake(&r);
}

static void by_loop(const setup *s, long n, outcome *out)
{
    run r;
    make(&r, s);
    out->why = cg__capture_loop_problem(r.cap, r.loss);
    out->looped = out->why == NULL;
    unsigned long long l0 = cg_context_stats_of(r.ctx).kernel_launches;
    cr_assert_eq(cg_capture_replay_n(r.cap, n, r.loss, out->values, &out->done), CG_OK, "%s",
                 cg_error_message(r.ctx));
    out->launches = cg_context_stats_of(r.ctx).kernel_launches - l0;
    cg_capture_replay(r.cap);
    out->nstate = snapshot(&r, out->state);
    unmake(&r);
}

/* Whether this suite's device runs loops (the OpenCL suite on PoCL). */
static bool device_loops(void)
{
    cg_context *ctx = test_context();
    bool cpu = cg_context_device(ctx)->type == CG_DEVICE_CPU;
    cg_context_free(ctx);
    const char *shape = getenv("CLGRAD_KERNEL_SHAPE");
    return cpu && !(shape && strcmp(shape, "gpu") == 0);
}

static void check(const setup *s, long n, bool loopable)
{
    outcome a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    by_replays(s, n, &a);
    by_loop(s, n, &b);
    cr_assert_eq(b.done, a.done, "%s: %ld replays vs %ld", cg_optim_name(s->kind), b.done,
                 a.done);
    assert_bits(b.values, a.values, (size_t)a.done, "the losses");
    cr_assert_eq(b.nstate, a.nstate);
    assert_bits(b.state, a.state, a.nstate, "the parameters and the optimizer's state");
    if (loopable && device_loops()) {
        cr_assert(b.looped, "%s: expected one launch (%s)", cg_optim_name(s->kind), b.why);
        cr_assert_eq(b.launches, 1, "%s: %llu launches", cg_optim_name(s->kind), b.launches);
    }
    if (!loopable) cr_assert(!b.looped, "not loopable, yet looped");
}

Test(capture_loop, sgd_equals_replays)
{
    check(&(setup){CG_OPTIM_SGD, 1e-2f}, STEPS, true);
    check(&(setup){CG_OPTIM_SGD, 1e-2f, .momentum = true}, STEPS, true);
    check(&(setup){CG_OPTIM_SGD, 1e-2f, .momentum = true, .nesterov = true, .weight_decay = true},
          STEPS, true);
}

Test(capture_loop, adam_equals_replays)
{
    check(&(setup){CG_OPTIM_ADAM, 1e-1f}, STEPS, true);
    check(&(setup){CG_OPTIM_ADAM, 1e-1f, .amsgrad = true}, STEPS, true);
    check(&(setup){CG_OPTIM_ADAMW, 1e-1f, .weight_decay = true}, STEPS, true);
}

Test(capture_loop, other_optimizers_equal_replays)
{
    const cg_optim_kind kinds[] = {CG_OPTIM_ADAGRAD, CG_OPTIM_RMSPROP, CG_OPTIM_ADAMAX,
                                   CG_OPTIM_ADADELTA, CG_OPTIM_RPROP, CG_OPTIM_ASGD};
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++)
        check(&(setup){kinds[k], kinds[k] == CG_OPTIM_ADADELTA ? 1.0f : 1e-2f}, STEPS, true);
}

Test(capture_loop, axis_sums_and_block_copies_equal_replays)
{
    check(&(setup){CG_OPTIM_ADAM, 1e-2f, .grid = true}, STEPS, true);
    check(&(setup){CG_OPTIM_SGD, 1e-2f, .momentum = true, .grid = true}, STEPS, true);
}

Test(capture_loop, divergence_stops_the_loop)
{
    outcome a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    const setup s = {CG_OPTIM_SGD, 1.0f}; /* overshoots: the loss grows to inf, then NaN */
    by_replays(&s, STEPS, &a);
    by_loop(&s, STEPS, &b);
    cr_assert(a.done > 2 && a.done < STEPS, "the run should diverge (after %ld)", a.done);
    cr_assert(!isfinite(a.values[a.done - 1]));
    cr_assert_eq(b.done, a.done);
    assert_bits(b.values, a.values, (size_t)a.done, "the losses");
    assert_bits(b.state, a.state, a.nstate, "the parameters");
}

Test(capture_loop, mlp_matches)
{
    /* Its matmuls are not looped: the replays run, with the same results. */
    check(&(setup){CG_OPTIM_SGD, 1e-2f, .mlp = true}, 12, false);
    check(&(setup){CG_OPTIM_ADAM, 1e-2f, .mlp = true}, 12, false);
}

Test(capture_loop, arguments)
{
    run r;
    make(&r, &(setup){CG_OPTIM_SGD, 1e-2f});
    long done = 7;
    float v[4];
    cr_assert_eq(cg_capture_replay_n(NULL, 1, NULL, NULL, &done), CG_ERROR_NULL_POINTER);
    cr_assert_eq(done, 0);
    cr_assert_eq(cg_capture_replay_n(r.cap, 0, r.loss, v, &done), CG_OK);
    cr_assert_eq(done, 0);
    /* Without a watch: the steps, nothing read. */
    cr_assert_eq(cg_capture_replay_n(r.cap, 3, NULL, NULL, &done), CG_OK, "%s",
                 cg_error_message(r.ctx));
    cr_assert_eq(done, 3);
    cr_assert_eq(cg_capture_replay_n(r.cap, 2, r.loss, NULL, &done), CG_ERROR_NULL_POINTER);
    cr_assert(strstr(cg_error_message(r.ctx), "values"));
    cg_clear_error(r.ctx);
    cr_assert_eq(cg_capture_replay_n(r.cap, -1, r.loss, v, &done), CG_ERROR_INVALID_ARGUMENT);
    cg_clear_error(r.ctx);
    unmake(&r);
}

/* ---- cg_fit ----------------------------------------------------------------- */

typedef struct fit_out {
    cg_fit_result r;
    long logged[64];
    float logged_loss[64];
    int nlogged, checkpoints;
} fit_out;

static void on_epoch(void *user, const cg_epoch_log *log)
{
    fit_out *f = user;
    if (f->nlogged < 64) {
        f->logged[f->nlogged] = log->epoch;
        f->logged_loss[f->nlogged++] = log->loss;
    }
}

static void on_checkpoint(void *user, const cg_fit_checkpoint *c)
{
    (void)c;
    ((fit_out *)user)->checkpoints++;
}

static void fit(bool loop, cg_optim_kind kind, float lr, long epochs, fit_out *out)
{
    if (loop)
        unsetenv("CLGRAD_LOOP");
    else
        setenv("CLGRAD_LOOP", "0", 1);
    memset(out, 0, sizeof *out);
    cg_context *ctx = test_context();
    float x[11];
    for (int i = 0; i < 11; i++) x[i] = lecture_u[i] * 0.1f;
    cg_tensor *X = cg_tensor_from(ctx, x, CG_SHAPE(11)), *y = cg_tensor_from(ctx, lecture_c, CG_SHAPE(11));
    cg_tensor *params = cg_tensor_from(ctx, (float[]){1.0f, 0.0f}, CG_SHAPE(2));
    cg_set_requires_grad(params, true);
    cg_fit_model m = cg_fit_model_linreg(params);
    cg_fit_options o = cg_fit_defaults();
    o.epochs = epochs;
    o.optimizer = kind;
    o.lr = lr;
    o.log_every = 37;
    o.on_epoch = on_epoch;
    o.on_checkpoint = on_checkpoint;
    o.checkpoint_every = 50;
    o.user = out;
    cr_assert_eq(cg_fit(&m, X, y, &o, &out->r), CG_OK, "%s", cg_error_message(ctx));
    cg_tensor_free(params);
    cg_tensor_free(X);
    cg_tensor_free(y);
    cg_context_free(ctx);
    unsetenv("CLGRAD_LOOP");
}

static void fit_same(cg_optim_kind kind, float lr, long epochs)
{
    fit_out a, b;
    fit(false, kind, lr, epochs, &a);
    fit(true, kind, lr, epochs, &b);
    cr_assert_eq(b.r.epochs_run, a.r.epochs_run);
    cr_assert_eq(b.r.diverged, a.r.diverged);
    cr_assert_eq(b.r.steps, a.r.steps);
    cr_assert_eq(b.r.curve_count, a.r.curve_count);
    for (size_t i = 0; i < a.r.curve_count; i++) cr_assert_eq(b.r.curve_epochs[i], a.r.curve_epochs[i]);
    assert_bits(b.r.curve_loss, a.r.curve_loss, a.r.curve_count, "the curve");
    cr_assert_eq(b.r.history_count, a.r.history_count);
    for (size_t i = 0; i < a.r.history_count; i++)
        cr_assert_eq(b.r.history_epochs[i], a.r.history_epochs[i]);
    assert_bits(b.r.history_loss, a.r.history_loss, a.r.history_count, "the history");
    cr_assert_eq(b.nlogged, a.nlogged);
    cr_assert_eq(b.checkpoints, a.checkpoints);
    for (int i = 0; i < a.nlogged; i++) cr_assert_eq(b.logged[i], a.logged[i]);
    assert_bits(b.logged_loss, a.logged_loss, (size_t)a.nlogged, "the logged losses");
    assert_bits(b.r.params, a.r.params, a.r.nparams, "the parameters");
    assert_bits(&b.r.final_loss, &a.r.final_loss, 1, "the final loss");
    cr_assert_str_eq(b.r.message, a.r.message);
    if (device_loops()) /* a few launches for the run, not some per epoch (a replayed
                           step of this model is two: one fused group and the step) */
        cr_assert(b.r.step_launches < a.r.step_launches, "%llu vs %llu launches",
                  (unsigned long long)b.r.step_launches, (unsigned long long)a.r.step_launches);
    cg_fit_result_free(&a.r);
    cg_fit_result_free(&b.r);
}

Test(capture_loop, fit_same_with_and_without)
{
    fit_same(CG_OPTIM_SGD, 1e-2f, 300);
    fit_same(CG_OPTIM_ADAM, 1e-1f, 211);
}

Test(capture_loop, fit_divergence_same)
{
    fit_same(CG_OPTIM_SGD, 1.0f, 300);
}
