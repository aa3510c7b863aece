/* Capture and replay (issue 9, item 2): a training step captured once and
 * replayed gives the uncaptured steps' results bit for bit (every optimizer
 * but L-BFGS and SparseAdam, with clipping and a schedule), a replay builds
 * no graph, allocates nothing and launches what the capture counted, a
 * rebound input (the next minibatch) trains as the uncaptured loop does,
 * and what a replay could not repeat is refused with the reason. */
#include "helpers.h"

#define ROWS 13
#define IN 5
#define STEPS 6

typedef struct model {
    cg_context *ctx;
    cg_mlp *mlp;
    cg_tensor *params[4];
    cg_optimizer *opt;
    cg_scheduler *sched;
    cg_tensor *x[2], *y[2]; /* two minibatches */
} model;

static cg_tensor *data(cg_context *ctx, cg_shape shape, uint64_t seed)
{
    size_t n = 1;
    for (int d = 0; d < shape.ndim; d++) n *= shape.dims[d];
    float *v = malloc(n * sizeof *v);
    test_rng r = {seed | 1};
    for (size_t i = 0; i < n; i++) v[i] = rng_range(&r, -1.5, 1.5);
    cg_tensor *t = cg_tensor_from(ctx, v, shape);
    free(v);
    cr_assert_not_null(t, "%s", cg_error_message(ctx));
    return t;
}

/* An MLP IN-7-1 (tanh), its optimizer (and a schedule when sched), and
 * two minibatches of ROWS rows. */
static void make(model *m, cg_optim_kind kind, bool sched)
{
    m->ctx = test_context();
    m->mlp = cg_mlp_create(m->ctx, (size_t[]){IN, 7, 1}, 3, CG_ACT_TANH, 11);
    cr_assert_not_null(m->mlp, "%s", cg_error_message(m->ctx));
    cr_assert_eq(cg_mlp_parameters(m->mlp, m->params, 4), 4);
    cg_optim_options o = cg_optim_defaults(kind);
    o.lr = kind == CG_OPTIM_ADADELTA ? 1.0f : 0.05f;
    m->opt = cg_optimizer_create(m->ctx, kind, m->params, 4, &o);
    cr_assert_not_null(m->opt, "%s", cg_error_message(m->ctx));
    m->sched = NULL;
    if (sched) {
        cg_scheduler_options so = cg_scheduler_defaults(CG_SCHED_STEP);
        so.step_size = 2;
        so.gamma = 0.5f;
        m->sched = cg_scheduler_create(m->opt, &so);
        cr_assert_not_null(m->sched, "%s", cg_error_message(m->ctx));
    }
    for (int b = 0; b < 2; b++) {
        m->x[b] = data(m->ctx, CG_SHAPE(ROWS, IN), 100 + b);
        m->y[b] = data(m->ctx, CG_SHAPE(ROWS, 1), 200 + b);
    }
}

static void unmake(model *m)
{
    cg_scheduler_free(m->sched);
    cg_optimizer_free(m->opt);
    cr_assert_eq(cg_status_of(m->ctx), CG_OK, "%s", cg_error_message(m->ctx));
    cg_mlp_free(m->mlp);
    for (int b = 0; b < 2; b++) {
        cg_tensor_free(m->x[b]);
        cg_tensor_free(m->y[b]);
    }
    cg_context_free(m->ctx);
}

/* One step on minibatch (x, y): the loss's tensor (the tape's). */
static cg_tensor *step(model *m, cg_tensor *x, cg_tensor *y, bool clip)
{
    cg_tensor *loss = cg_mse_loss(cg_mlp_forward(m->mlp, x), y, CG_REDUCTION_MEAN);
    cg_zero_grad(m->opt);
    cg_backward(loss);
    if (clip) {
        cg_clip_grad_norm(m->params, 4, 0.5f, false);
        cg_clip_grad_value(m->params, 4, 0.2f);
    }
    cg_step(m->opt);
    return loss;
}

/* Every parameter, flattened. */
static size_t read_params(model *m, float *out)
{
    size_t at = 0;
    for (int i = 0; i < 4; i++) {
        size_t n = cg_tensor_numel(m->params[i]);
        cr_assert_eq(cg_tensor_read(m->params[i], out + at, n), CG_OK, "%s",
                     cg_error_message(m->ctx));
        at += n;
    }
    return at;
}

#define NPARAMS (IN * 7 + 7 + 7 + 1)

/* STEPS steps alternating the two minibatches, uncaptured: the parameters
 * and each step's loss. */
static void run_plain(cg_optim_kind kind, bool clip, bool sched, float *params, float *losses)
{
    model m;
    make(&m, kind, sched);
    for (int s = 0; s < STEPS; s++) {
        losses[s] = cg_item(step(&m, m.x[s % 2], m.y[s % 2], clip));
        cg_tape_reset(m.ctx);
        if (m.sched) cg_scheduler_step(m.sched, losses[s]);
    }
    cr_assert_eq(read_params(&m, params), NPARAMS);
    unmake(&m);
}

/* The same, the first step uncaptured, the second captured and the rest
 * replayed with the minibatch rebound. */
static void run_replayed(cg_optim_kind kind, bool clip, bool sched, float *params, float *losses)
{
    model m;
    make(&m, kind, sched);
    losses[0] = cg_item(step(&m, m.x[0], m.y[0], clip));
    cg_tape_reset(m.ctx);
    if (m.sched) cg_scheduler_step(m.sched, losses[0]);
    cr_assert_eq(cg_capture_begin(m.ctx), CG_OK, "%s", cg_error_message(m.ctx));
    cg_tensor *loss = step(&m, m.x[1], m.y[1], clip);
    cg_capture *c = cg_capture_end(m.ctx);
    cr_assert_not_null(c, "%s: %s", cg_optim_name(kind), cg_error_message(m.ctx));
    cg_tape_reset(m.ctx); /* the capture keeps what it needs, loss included */
    losses[1] = cg_item(loss);
    if (m.sched) cg_scheduler_step(m.sched, losses[1]);
    for (int s = 2; s < STEPS; s++) {
        cr_assert_eq(cg_capture_rebind(c, m.x[(s + 1) % 2], m.x[s % 2]), CG_OK, "%s",
                     cg_error_message(m.ctx));
        cr_assert_eq(cg_capture_rebind(c, m.y[(s + 1) % 2], m.y[s % 2]), CG_OK, "%s",
                     cg_error_message(m.ctx));
        cr_assert_eq(cg_capture_replay(c), CG_OK, "%s", cg_error_message(m.ctx));
        losses[s] = cg_item(loss);
        if (m.sched) cg_scheduler_step(m.sched, losses[s]);
    }
    cr_assert_eq(read_params(&m, params), NPARAMS);
    cg_capture_free(c);
    unmake(&m);
}

static void assert_same(cg_optim_kind kind, bool clip, bool sched)
{
    float pa[NPARAMS], pb[NPARAMS], la[STEPS], lb[STEPS];
    run_plain(kind, clip, sched, pa, la);
    run_replayed(kind, clip, sched, pb, lb);
    for (int s = 0; s < STEPS; s++)
        cr_assert(memcmp(&la[s], &lb[s], sizeof la[s]) == 0,
                  "%s: step %d's loss %.9g replayed, %.9g not", cg_optim_name(kind), s, lb[s],
                  la[s]);
    for (int i = 0; i < NPARAMS; i++)
        cr_assert(memcmp(&pa[i], &pb[i], sizeof pa[i]) == 0,
                  "%s: parameter %d %.9g replayed, %.9g not", cg_optim_name(kind), i, pb[i],
                  pa[i]);
    /* and training moved them: the comparison is not of two idle models */
    cr_assert(la[STEPS - 2] != la[0], "%s did not train", cg_optim_name(kind));
}

Test(capture, replay_is_the_step_bit_for_bit_for_every_optimizer)
{
    for (int k = 0; k < CG_OPTIM_KIND_COUNT; k++)
        if (k != CG_OPTIM_LBFGS && k != CG_OPTIM_SPARSE_ADAM) assert_same(k, false, false);
}

Test(capture, replay_with_clipping_and_a_schedule)
{
    assert_same(CG_OPTIM_ADAM, true, true);
    assert_same(CG_OPTIM_SGD, true, true);
}

/* A replay builds no graph, allocates nothing and launches what the
 * capture counted (on ref, no launches at all). */
Test(capture, replay_records_nothing_and_allocates_nothing)
{
    model m;
    make(&m, CG_OPTIM_ADAM, false);
    cg_item(step(&m, m.x[0], m.y[0], true)); /* the first makes gradients and state */
    cg_tape_reset(m.ctx);
    unsigned long long l0 = cg_context_stats_of(m.ctx).kernel_launches;
    step(&m, m.x[0], m.y[0], true);
    cg_finish(m.ctx);
    const unsigned long long built = cg_context_stats_of(m.ctx).kernel_launches - l0;
    cg_tape_reset(m.ctx);
    cr_assert_eq(cg_capture_begin(m.ctx), CG_OK);
    cg_tensor *loss = step(&m, m.x[0], m.y[0], true);
    cg_capture *c = cg_capture_end(m.ctx);
    cr_assert_not_null(c, "%s", cg_error_message(m.ctx));
    cg_tape_reset(m.ctx);
    float first = cg_item(loss);
    cg_context_stats before = cg_context_stats_of(m.ctx);
    for (int r = 0; r < 3; r++) cr_assert_eq(cg_capture_replay(c), CG_OK);
    cg_context_stats after = cg_context_stats_of(m.ctx);
    cr_assert_eq(after.graph_nodes, before.graph_nodes);
    cr_assert_eq(after.bytes_allocated, before.bytes_allocated);
    cr_assert_eq(after.tape_tensors, 0);
    cr_assert_eq(after.kernel_launches - before.kernel_launches, 3 * cg_capture_launches(c));
    if (cg_context_is_ref(m.ctx))
        cr_assert_eq(cg_capture_launches(c), 0);
    else
        cr_assert_gt(cg_capture_launches(c), 5);
    /* planned over the whole step, groups the realizations cut are one
     * (the backward's seed joins the chain that reads it) */
    if (!cg_context_is_ref(m.ctx) && !cg_context_eager(m.ctx))
        cr_assert_lt(cg_capture_launches(c), built, "%llu launches replayed, %llu built",
                     cg_capture_launches(c), built);
    /* the same rows again: the loss goes down */
    float later = cg_item(loss);
    cr_assert_lt(later, first, "loss %g after replays, %g before", later, first);
    cg_capture_free(c);
    unmake(&m);
}

/* Freeing the capture releases what it held: nothing stays allocated
 * beyond the model's own tensors. */
Test(capture, free_releases_what_the_step_made)
{
    model m;
    make(&m, CG_OPTIM_SGD, false);
    cg_item(step(&m, m.x[0], m.y[0], false));
    cg_tape_reset(m.ctx);
    unsigned long long held = cg_context_stats_of(m.ctx).bytes_allocated;
    cr_assert_eq(cg_capture_begin(m.ctx), CG_OK);
    step(&m, m.x[0], m.y[0], false);
    cg_capture *c = cg_capture_end(m.ctx);
    cr_assert_not_null(c);
    cg_tape_reset(m.ctx);
    cr_assert_gt(cg_context_stats_of(m.ctx).bytes_allocated, held);
    cg_capture_free(c);
    cr_assert_eq(cg_context_stats_of(m.ctx).bytes_allocated, held);
    unmake(&m);
}

static void assert_refused(cg_context *ctx, cg_status want, const char *words)
{
    cr_assert_eq(cg_status_of(ctx), want, "status %d: %s", cg_status_of(ctx),
                 cg_error_message(ctx));
    cr_assert_not_null(strstr(cg_error_message(ctx), words), "message: %s",
                       cg_error_message(ctx));
    cg_clear_error(ctx);
}

Test(capture, a_first_step_is_refused)
{
    model m;
    make(&m, CG_OPTIM_ADAM, false);
    cr_assert_eq(cg_capture_begin(m.ctx), CG_OK);
    step(&m, m.x[0], m.y[0], false);
    cr_assert_null(cg_capture_end(m.ctx));
    assert_refused(m.ctx, CG_ERROR_UNSUPPORTED, "run one step before capturing");
    /* the context works on: a plain step, then a capture of the next */
    cg_tape_reset(m.ctx);
    cg_item(step(&m, m.x[0], m.y[0], false));
    cg_tape_reset(m.ctx);
    cr_assert_eq(cg_capture_begin(m.ctx), CG_OK);
    step(&m, m.x[0], m.y[0], false);
    cg_capture *c = cg_capture_end(m.ctx);
    cr_assert_not_null(c, "%s", cg_error_message(m.ctx));
    cg_capture_free(c);
    unmake(&m);
}

Test(capture, what_a_replay_cannot_repeat_is_refused)
{
    model m;
    make(&m, CG_OPTIM_SGD, false);
    cg_item(step(&m, m.x[0], m.y[0], false));
    cg_tape_reset(m.ctx);
    cr_assert_eq(cg_capture_begin(m.ctx), CG_OK);
    cr_assert_eq(cg_capture_begin(m.ctx), CG_ERROR_INVALID_ARGUMENT);
    assert_refused(m.ctx, CG_ERROR_INVALID_ARGUMENT, "already open");
    cg_tensor *loss = cg_mse_loss(cg_mlp_forward(m.mlp, m.x[0]), m.y[0], CG_REDUCTION_MEAN);
    cg_backward(loss);
    cr_assert(isnan(cg_clip_grad_norm(m.params, 4, 1.0f, true)));
    assert_refused(m.ctx, CG_ERROR_UNSUPPORTED, "error_if_nonfinite");
    cr_assert_null(cg_capture_end(m.ctx)); /* the error cleared, the record is not whole */
    assert_refused(m.ctx, CG_ERROR_INVALID_ARGUMENT, "capture the step again");
    cg_tape_reset(m.ctx);
    cr_assert_null(cg_capture_end(m.ctx));
    assert_refused(m.ctx, CG_ERROR_INVALID_ARGUMENT, "no capture is open");
    cr_assert_eq(cg_capture_replay(NULL), CG_ERROR_NULL_POINTER);
    cr_assert_eq(cg_capture_rebind(NULL, m.x[0], m.x[1]), CG_ERROR_NULL_POINTER);
    cr_assert_eq(cg_capture_launches(NULL), 0);
    cg_capture_free(NULL);
    cr_assert_eq(cg_capture_begin(NULL), CG_ERROR_NULL_POINTER);
    cr_assert_null(cg_capture_end(NULL));
    unmake(&m);
}

static float lbfgs_closure(void *user)
{
    model *m = user;
    cg_zero_grad(m->opt);
    cg_tensor *loss = cg_mse_loss(cg_mlp_forward(m->mlp, m->x[0]), m->y[0], CG_REDUCTION_MEAN);
    cg_backward(loss);
    return cg_item(loss);
}

Test(capture, lbfgs_is_refused)
{
    model m;
    make(&m, CG_OPTIM_LBFGS, false);
    cg_step_closure(m.opt, lbfgs_closure, &m);
    cg_tape_reset(m.ctx);
    cr_assert_eq(cg_capture_begin(m.ctx), CG_OK);
    cr_assert(isnan(cg_step_closure(m.opt, lbfgs_closure, &m)));
    assert_refused(m.ctx, CG_ERROR_UNSUPPORTED, "cannot be captured");
    cr_assert_null(cg_capture_end(m.ctx));
    assert_refused(m.ctx, CG_ERROR_INVALID_ARGUMENT, "capture the step again");
    cg_tape_reset(m.ctx);
    unmake(&m);
}

Test(capture, rebind_checks_what_it_is_given)
{
    model m;
    make(&m, CG_OPTIM_SGD, false);
    cg_item(step(&m, m.x[0], m.y[0], false));
    cg_tape_reset(m.ctx);
    cr_assert_eq(cg_capture_begin(m.ctx), CG_OK);
    step(&m, m.x[0], m.y[0], false);
    cg_capture *c = cg_capture_end(m.ctx);
    cr_assert_not_null(c);
    cg_tape_reset(m.ctx);
    cg_tensor *wide = data(m.ctx, CG_SHAPE(ROWS, IN + 1), 7);
    cr_assert_eq(cg_capture_rebind(c, m.x[0], wide), CG_ERROR_INVALID_ARGUMENT);
    assert_refused(m.ctx, CG_ERROR_INVALID_ARGUMENT, "shapes differ");
    cg_tensor *t = data(m.ctx, CG_SHAPE(IN, ROWS), 8);
    cg_tensor *view = cg_transpose(t, 0, 1);
    cr_assert_eq(cg_capture_rebind(c, m.x[0], view), CG_ERROR_INVALID_ARGUMENT);
    assert_refused(m.ctx, CG_ERROR_INVALID_ARGUMENT, "plain");
    cr_assert_eq(cg_capture_rebind(c, m.x[1], m.x[0]), CG_ERROR_INVALID_ARGUMENT);
    assert_refused(m.ctx, CG_ERROR_INVALID_ARGUMENT, "does not use");
    /* after a rebind, the new tensor is the one to rebind */
    cg_tensor *w0 = data(m.ctx, CG_SHAPE(ROWS, IN), 9);
    cr_assert_eq(cg_capture_rebind(c, m.x[0], w0), CG_OK);
    cr_assert_eq(cg_capture_rebind(c, m.x[0], m.x[1]), CG_ERROR_INVALID_ARGUMENT);
    assert_refused(m.ctx, CG_ERROR_INVALID_ARGUMENT, "does not use");
    cr_assert_eq(cg_capture_replay(c), CG_OK, "%s", cg_error_message(m.ctx));
    /* the optimizer it steps cannot go first */
    cg_optimizer_free(m.opt);
    assert_refused(m.ctx, CG_ERROR_INVALID_ARGUMENT, "free the capture first");
    cg_tape_reset(m.ctx);
    cg_capture_free(c);
    cg_tensor_free(wide);
    cg_tensor_free(t);
    cg_tensor_free(w0);
    unmake(&m);
}

/* ---- cg_fit: capture by default, the same results as without ---------- */

typedef struct fit_case {
    const char *name;
    cg_optim_kind kind;
    size_t batch;
    bool shuffle, clip, sched;
    int model; /* 0 MLP, 1 the lecture's linreg on 1-D rows, 2 linreg on [n, 3] */
} fit_case;

/* A fit of case fc with capture on or off: params into out, the result's
 * step counts into r. Returns the number of parameters. */
static size_t fit_once(const fit_case *fc, bool no_capture, float *out, cg_fit_result *r)
{
    cg_context *ctx = test_context();
    const size_t n = 29, F = fc->model == 1 ? 1 : 3;
    cg_tensor *X = fc->model == 1 ? data(ctx, CG_SHAPE(n), 31) : data(ctx, CG_SHAPE(n, F), 31);
    cg_tensor *y = fc->model == 0 ? data(ctx, CG_SHAPE(n, 1), 32) : data(ctx, CG_SHAPE(n), 32);
    cg_mlp *mlp = NULL;
    cg_tensor *params = NULL;
    cg_fit_model model;
    if (fc->model == 0) {
        mlp = cg_mlp_create(ctx, (size_t[]){F, 6, 1}, 3, CG_ACT_TANH, 5);
        model = cg_fit_model_mlp(mlp);
    } else {
        params = cg_tensor_zeros(ctx, CG_SHAPE(F + 1));
        cg_set_requires_grad(params, true);
        model = cg_fit_model_linreg(params);
    }
    cg_fit_options o = cg_fit_defaults();
    o.optimizer = fc->kind;
    o.lr = 0.02f;
    o.epochs = 7;
    o.log_every = 3;
    o.batch_size = fc->batch;
    o.shuffle = fc->shuffle;
    o.seed = 3;
    o.no_capture = no_capture;
    cg_scheduler_options so = cg_scheduler_defaults(CG_SCHED_EXP);
    so.gamma = 0.8f;
    if (fc->sched) o.schedule = &so;
    if (fc->clip) {
        o.clip_grad_norm = 0.3f;
        o.clip_grad_value = 0.05f;
    }
    cr_assert_eq(cg_fit(&model, X, y, &o, r), CG_OK, "%s: %s", fc->name, cg_error_message(ctx));
    memcpy(out, r->params, r->nparams * sizeof *out);
    size_t count = r->nparams;
    for (size_t i = 0; i < r->curve_count; i++) out[count++] = r->curve_loss[i];
    out[count++] = r->final_loss;
    cg_mlp_free(mlp);
    cg_tensor_free(params);
    cg_tensor_free(X);
    cg_tensor_free(y);
    cg_context_free(ctx);
    return count;
}

static const fit_case fit_cases[] = {
    {"mlp sgd full batch", CG_OPTIM_SGD, 0, false, false, false, 0},
    {"mlp adam minibatches with a tail", CG_OPTIM_ADAM, 8, false, false, false, 0},
    {"mlp rmsprop shuffled", CG_OPTIM_RMSPROP, 8, true, false, false, 0},
    {"mlp adamw clipped, scheduled", CG_OPTIM_ADAMW, 0, false, true, true, 0},
    {"lecture sgd", CG_OPTIM_SGD, 0, false, false, false, 1},
    {"lecture adam minibatches", CG_OPTIM_ADAM, 10, false, false, true, 1},
    {"linreg asgd shuffled", CG_OPTIM_ASGD, 7, true, true, false, 2},
};

Test(capture, fit_captures_by_default_and_matches_no_capture)
{
    cg_context *probe = test_context();
    const bool ref = cg_context_is_ref(probe), eager = cg_context_eager(probe);
    cg_context_free(probe);
    for (size_t c = 0; c < sizeof fit_cases / sizeof *fit_cases; c++) {
        const fit_case *fc = &fit_cases[c];
        float a[256], b[256];
        cg_fit_result ra, rb;
        size_t na = fit_once(fc, false, a, &ra), nb = fit_once(fc, true, b, &rb);
        cr_assert_eq(na, nb);
        for (size_t i = 0; i < na; i++)
            cr_assert(memcmp(&a[i], &b[i], sizeof a[i]) == 0,
                      "%s: value %zu %.9g captured, %.9g not", fc->name, i, a[i], b[i]);
        cr_assert_eq(ra.steps, rb.steps, "%s", fc->name);
        cr_assert_eq(rb.steps_replayed, 0, "%s", fc->name);
        /* every full-size step after the first two is a replay */
        size_t n = 29, batch = fc->batch ? fc->batch : n;
        long full = (long)(n / batch) * 7;
        cr_assert_eq(ra.steps_replayed, eager ? 0 : full - 2, "%s: %ld of %ld steps replayed",
                     fc->name, ra.steps_replayed, ra.steps);
        if (ref)
            cr_assert_eq(ra.step_launches, 0);
        else
            cr_assert_gt(ra.step_launches, (unsigned long long)ra.steps, "%s", fc->name);
        cg_fit_result_free(&ra);
        cg_fit_result_free(&rb);
    }
}

static cg_tensor *own_forward(void *user, cg_tensor *x) { return cg_mlp_forward(user, x); }
static size_t own_parameters(void *user, cg_tensor **out, size_t cap)
{
    return cg_mlp_parameters(user, out, cap);
}

/* A caller's own forward may do different work each step, and eager mode
 * and no_capture build every step: none of them replays. */
Test(capture, fit_replays_only_what_it_knows)
{
    for (int c = 0; c < 4; c++) {
        cg_context *ctx = test_context();
        const bool eager = cg_context_eager(ctx); /* CLGRAD_EAGER=1: none replays */
        if (c == 1) cr_assert_eq(cg_context_set_eager(ctx, true), CG_OK);
        cg_tensor *X = data(ctx, CG_SHAPE(9, 2), 41), *y = data(ctx, CG_SHAPE(9, 1), 42);
        cg_mlp *mlp = cg_mlp_create(ctx, (size_t[]){2, 4, 1}, 3, CG_ACT_RELU, 5);
        cg_fit_model model = cg_fit_model_mlp(mlp);
        if (c == 2) model = (cg_fit_model){own_forward, own_parameters, mlp};
        cg_fit_options o = cg_fit_defaults();
        o.epochs = 5;
        o.no_capture = c == 3;
        cg_fit_result r;
        cr_assert_eq(cg_fit(&model, X, y, &o, &r), CG_OK, "%s", cg_error_message(ctx));
        cr_assert_eq(r.steps, 5);
        cr_assert_eq(r.steps_replayed, c == 0 && !eager ? 3 : 0, "case %d: %ld replayed", c,
                     r.steps_replayed);
        cg_fit_result_free(&r);
        cg_mlp_free(mlp);
        cg_tensor_free(X);
        cg_tensor_free(y);
        cg_context_free(ctx);
    }
}

/* A replay stores only what something may read: an intermediate the tape
 * (or anyone) still holds is current after each replay, the same bits as
 * computing it again from the parameters the replay started from. */
Test(capture, an_intermediate_still_held_is_current)
{
    cg_context *ctx = test_context();
    const size_t n = 257;
    cg_tensor *x = data(ctx, CG_SHAPE(n), 61);
    cg_tensor *p = cg_tensor_from(ctx, (float[]){0.7f}, CG_SHAPE(1));
    cg_set_requires_grad(p, true);
    cg_optim_options o = cg_optim_defaults(CG_OPTIM_SGD);
    o.lr = 0.5f;
    cg_optimizer *opt = cg_optimizer_create(ctx, CG_OPTIM_SGD, &p, 1, &o);
    cg_tensor *h = NULL;
    for (int s = 0; s < 2; s++) {
        if (s == 1) cr_assert_eq(cg_capture_begin(ctx), CG_OK);
        h = cg_mul(x, p); /* read by tanh in its group, by no gradient */
        cg_tensor *loss = cg_mean(cg_square(cg_tanh(h)));
        cg_zero_grad(opt);
        cg_backward(loss);
        cg_step(opt);
        if (s == 0) cg_tape_reset(ctx);
    }
    cg_capture *c = cg_capture_end(ctx);
    cr_assert_not_null(c, "%s", cg_error_message(ctx));
    /* the tape is not reset: it holds h */
    float *got = malloc(n * sizeof *got), *want = malloc(n * sizeof *want);
    for (int r = 0; r < 3; r++) {
        float p0;
        cr_assert_eq(cg_tensor_read(p, &p0, 1), CG_OK);
        cr_assert_eq(cg_capture_replay(c), CG_OK, "%s", cg_error_message(ctx));
        cr_assert_eq(cg_tensor_read(h, got, n), CG_OK);
        cg_tensor *q = cg_tensor_from(ctx, &p0, CG_SHAPE(1));
        cr_assert_eq(cg_tensor_read(cg_mul(x, q), want, n), CG_OK);
        cg_tensor_free(q);
        for (size_t i = 0; i < n; i++)
            cr_assert(memcmp(&got[i], &want[i], sizeof got[i]) == 0,
                      "replay %d: h[%zu] %.9g, want %.9g", r, i, got[i], want[i]);
    }
    free(got);
    free(want);
    cg_tape_reset(ctx);
    cg_capture_free(c);
    cg_optimizer_free(opt);
    cg_tensor_free(p);
    cg_tensor_free(x);
    cg_context_free(ctx);
}

/* The lecture's step replayed: the record planned over the whole step (the
 * zero_grad moved before the forward, the loss added before the optimizer's
 * step) is one fused group and the optimizer's launch (issue 9: at most 3
 * per replayed step), with the uncaptured step's results. */
Test(capture, the_lecture_step_replays_in_at_most_three_launches)
{
    float got[2][2];
    for (int captured = 0; captured < 2; captured++) {
        cg_context *ctx = test_context();
        const float tu[11] = {35.7f, 55.9f, 58.2f, 81.9f, 56.3f, 48.9f, 33.9f, 21.8f, 48.4f, 60.4f, 68.4f};
        const float tc[11] = {0.5f, 14.0f, 15.0f, 28.0f, 11.0f, 8.0f, 3.0f, -4.0f, 6.0f, 13.0f, 21.0f};
        float tun[11];
        for (int i = 0; i < 11; i++) tun[i] = 0.1f * tu[i];
        cg_tensor *x = cg_tensor_from(ctx, tun, CG_SHAPE(11)), *y = cg_tensor_from(ctx, tc, CG_SHAPE(11));
        cg_tensor *p = cg_tensor_from(ctx, (float[]){1.0f, 0.0f}, CG_SHAPE(2));
        cg_tensor *acc = cg_tensor_zeros(ctx, CG_SHAPE(1));
        cg_set_requires_grad(p, true);
        cg_optimizer *opt = cg_optimizer_create(ctx, CG_OPTIM_SGD, &p, 1, NULL);
        cg_capture *c = NULL;
        for (int s = 0; s < 20; s++) {
            if (captured && c) {
                cr_assert_eq(cg_capture_replay(c), CG_OK, "%s", cg_error_message(ctx));
                continue;
            }
            if (captured && s == 1) cr_assert_eq(cg_capture_begin(ctx), CG_OK);
            cg_tensor *pred = cg_add(cg_mul(cg_at(p, 0), x), cg_at(p, 1));
            cg_tensor *loss = cg_mse_loss(pred, y, CG_REDUCTION_MEAN);
            cg_zero_grad(opt);
            cg_backward(loss);
            cg_step(opt);
            cg_add_scaled_(acc, 1.0f, loss);
            if (captured && s == 1) {
                c = cg_capture_end(ctx);
                cr_assert_not_null(c, "%s", cg_error_message(ctx));
            }
            cg_tape_reset(ctx);
        }
        cr_assert_eq(cg_tensor_read(p, got[captured], 2), CG_OK);
        float a;
        cr_assert_eq(cg_tensor_read(acc, &a, 1), CG_OK);
        if (captured && !cg_context_is_ref(ctx) && !cg_context_eager(ctx) && cg_context_fusion(ctx))
            cr_assert_leq(cg_capture_launches(c), 3, "%llu launches per replay",
                          cg_capture_launches(c));
        cg_capture_free(c);
        cg_optimizer_free(opt);
        cg_tensor_free(x);
        cg_tensor_free(y);
        cg_tensor_free(p);
        cg_tensor_free(acc);
        cg_context_free(ctx);
    }
    cr_assert(memcmp(got[0], got[1], sizeof got[0]) == 0, "params %.9g %.9g replayed, %.9g %.9g not",
              got[1][0], got[1][1], got[0][0], got[0][1]);
}
