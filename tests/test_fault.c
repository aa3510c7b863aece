/* Fault injection (issue 7, "Machinery that keeps it so"): every fallible
 * OpenCL call and host allocation of a representative short run is made to
 * fail in turn. Each failure must give an error status with a message (or,
 * for a fault the library can absorb, such as a cache load or a retried
 * allocation, the very same results), no crash, no leak (LeakSanitizer on
 * the reference path under the sanitizer build, the gate's live-object count
 * on OpenCL), and a context that works again after cg_clear_error (all but
 * failures of the context's own creation).
 *
 * The injection points: every call up to the end of the first epoch, and
 * the first two occurrences of every call site in the whole run. */
#include "fault.h"
#include "helpers.h"

#define MAX_RESULT 64
#define MAX_CALLS 200000

typedef struct outcome {
    cg_status status;
    float result[MAX_RESULT];
    size_t nresult;
} outcome;

/* A scenario builds everything it needs in ctx, frees everything it built
 * whatever happens (as a careful user does), and calls mark() after its
 * first epoch. */
typedef void (*mark_fn)(void);
typedef void (*scenario_fn)(cg_context *ctx, outcome *out, mark_fn mark);

static const float lecture_t_c[11] = {0.5f, 14.0f, 15.0f, 28.0f, 11.0f, 8.0f,
                                      3.0f, -4.0f, 6.0f,  13.0f, 21.0f};
static const float lecture_t_u[11] = {35.7f, 55.9f, 58.2f, 81.9f, 56.3f, 48.9f,
                                      33.9f, 21.8f, 48.4f, 60.4f, 68.4f};

static void keep(outcome *out, float v)
{
    if (out->nresult < MAX_RESULT) out->result[out->nresult++] = v;
}

static void keep_tensor(outcome *out, const cg_tensor *t)
{
    float buf[MAX_RESULT];
    size_t n = cg_tensor_numel(t);
    if (n == 0 || n > MAX_RESULT || cg_tensor_read(t, buf, n) != CG_OK) return;
    for (size_t i = 0; i < n; i++) keep(out, buf[i]);
}

/* The lecture's fused fit, 3 epochs (scaled inputs, SGD). */
static void lecture_fused(cg_context *ctx, outcome *out, mark_fn mark)
{
    cg_tensor *tu = cg_tensor_from(ctx, lecture_t_u, CG_SHAPE(11));
    cg_tensor *tc = cg_tensor_from(ctx, lecture_t_c, CG_SHAPE(11));
    cg_linreg *m = cg_linreg_create(ctx, tu, tc);
    const float scale = 0.1f;
    cg_linreg_set_transform(m, NULL, &scale);
    cg_fit_options o = cg_fit_defaults();
    o.epochs = 3;
    o.log_every = 1;
    cg_fit_result r;
    memset(&r, 0, sizeof r);
    if (cg_linreg_fit(m, &o, &r) == CG_OK) {
        keep(out, r.final_loss);
        for (size_t i = 0; i < r.nparams; i++) keep(out, r.params[i]);
    }
    mark();
    cg_fit_result_free(&r);
    cg_linreg_free(m);
    cg_tensor_free(tu);
    cg_tensor_free(tc);
    out->status = cg_status_of(ctx);
}

/* The lecture's autograd loop through the tape with torch.optim.SGD. */
static void lecture_tape(cg_context *ctx, outcome *out, mark_fn mark)
{
    float un[11];
    for (int i = 0; i < 11; i++) un[i] = 0.1f * lecture_t_u[i];
    cg_tensor *tu = cg_tensor_from(ctx, un, CG_SHAPE(11));
    cg_tensor *tc = cg_tensor_from(ctx, lecture_t_c, CG_SHAPE(11));
    cg_tensor *params = cg_tensor_from(ctx, (float[]){1.0f, 0.0f}, CG_SHAPE(2));
    cg_set_requires_grad(params, true);
    cg_optimizer *opt = cg_optimizer_create(ctx, CG_OPTIM_SGD, &params, 1, NULL); /* lr 1e-2 */
    for (int epoch = 1; epoch <= 3; epoch++) {
        cg_tensor *t_p = cg_add(cg_mul(cg_at(params, 0), tu), cg_at(params, 1));
        cg_tensor *loss = cg_mean(cg_pow_scalar(cg_sub(t_p, tc), 2.0f));
        cg_zero_grad(opt);
        cg_backward(loss);
        cg_step(opt);
        keep(out, cg_item(loss));
        cg_tape_reset(ctx);
        if (epoch == 1) mark();
    }
    keep_tensor(out, params);
    cg_optimizer_free(opt);
    cg_tensor_free(params);
    cg_tensor_free(tu);
    cg_tensor_free(tc);
    out->status = cg_status_of(ctx);
}

/* A tiny MLP (2-4-1, tanh) with Adam, minibatches of the whole set. */
static void mlp_adam(cg_context *ctx, outcome *out, mark_fn mark)
{
    float x[12], y[6];
    for (int i = 0; i < 6; i++) {
        x[2 * i] = (float)i / 5.0f;
        x[2 * i + 1] = 1.0f - (float)i / 7.0f;
        y[i] = x[2 * i] * x[2 * i + 1];
    }
    cg_tensor *tx = cg_tensor_from(ctx, x, CG_SHAPE(6, 2));
    cg_tensor *ty = cg_tensor_from(ctx, y, CG_SHAPE(6, 1));
    const size_t sizes[] = {2, 4, 1};
    cg_mlp *mlp = cg_mlp_create(ctx, sizes, 3, CG_ACT_TANH, 3);
    cg_tensor *params[4] = {0};
    size_t np = mlp ? cg_mlp_parameters(mlp, params, 4) : 0;
    cg_optim_options o = cg_optim_defaults(CG_OPTIM_ADAM);
    o.lr = 1e-2f;
    cg_optimizer *opt = cg_optimizer_create(ctx, CG_OPTIM_ADAM, params, np, &o);
    for (int epoch = 1; epoch <= 3; epoch++) {
        cg_tensor *loss = cg_mse_loss(cg_mlp_forward(mlp, tx), ty, CG_REDUCTION_MEAN);
        cg_zero_grad(opt);
        cg_backward(loss);
        cg_clip_grad_norm(params, np, 1.0f, false);
        cg_step(opt);
        keep(out, cg_item(loss));
        cg_tape_reset(ctx);
        if (epoch == 1) mark();
    }
    if (np) keep_tensor(out, params[np - 1]);
    cg_optimizer_free(opt);
    cg_mlp_free(mlp);
    cg_tensor_free(tx);
    cg_tensor_free(ty);
    out->status = cg_status_of(ctx);
}

/* SGD with momentum under StepLR, on a linear model through the tape. */
static void scheduled(cg_context *ctx, outcome *out, mark_fn mark)
{
    float un[11];
    for (int i = 0; i < 11; i++) un[i] = 0.1f * lecture_t_u[i];
    cg_tensor *tu = cg_tensor_from(ctx, un, CG_SHAPE(11, 1));
    cg_tensor *tc = cg_tensor_from(ctx, lecture_t_c, CG_SHAPE(11, 1));
    cg_linear layer;
    memset(&layer, 0, sizeof layer);
    cg_linear_init(ctx, &layer, 1, 1, 5, 0);
    cg_tensor *params[2] = {layer.weight, layer.bias};
    cg_optim_options o = cg_optim_defaults(CG_OPTIM_SGD);
    o.lr = 1e-2f;
    o.momentum = 0.9f;
    cg_optimizer *opt = cg_optimizer_create(ctx, CG_OPTIM_SGD, params, 2, &o);
    cg_scheduler *sched = cg_scheduler_create(
        opt, &(cg_scheduler_options){.kind = CG_SCHED_STEP, .step_size = 1, .gamma = 0.5f});
    for (int epoch = 1; epoch <= 3; epoch++) {
        cg_tensor *loss = cg_mse_loss(cg_linear_forward(&layer, tu), tc, CG_REDUCTION_MEAN);
        cg_zero_grad(opt);
        cg_backward(loss);
        cg_step(opt);
        float l = cg_item(loss);
        keep(out, l);
        cg_scheduler_step(sched, l);
        keep(out, (float)cg_scheduler_lr(sched, 0));
        cg_tape_reset(ctx);
        if (epoch == 1) mark();
    }
    keep_tensor(out, layer.weight);
    cg_scheduler_free(sched);
    cg_optimizer_free(opt);
    cg_linear_free(&layer);
    cg_tensor_free(tu);
    cg_tensor_free(tc);
    out->status = cg_status_of(ctx);
}

/* The library's trainer (cg_fit) on a tiny MLP: shuffled minibatches, Adam,
 * clipping, a schedule, a validation set, logs with the parameters and a
 * checkpoint hook. */
static void fit_epoch(void *user, const cg_epoch_log *log)
{
    if (log->epoch == 1) ((mark_fn)user)();
}

static void fit_checkpoint(void *user, const cg_fit_checkpoint *c) { (void)user, (void)c; }

static void mlp_fit(cg_context *ctx, outcome *out, mark_fn mark)
{
    float x[12], y[6];
    for (int i = 0; i < 6; i++) {
        x[2 * i] = (float)i / 5.0f;
        x[2 * i + 1] = 1.0f - (float)i / 7.0f;
        y[i] = x[2 * i] * x[2 * i + 1];
    }
    cg_tensor *tx = cg_tensor_from(ctx, x, CG_SHAPE(6, 2));
    cg_tensor *ty = cg_tensor_from(ctx, y, CG_SHAPE(6, 1));
    cg_mlp *mlp = cg_mlp_create(ctx, (size_t[]){2, 4, 1}, 3, CG_ACT_TANH, 3);
    cg_fit_model model = cg_fit_model_mlp(mlp);
    cg_fit_options o = cg_fit_defaults();
    o.optimizer = CG_OPTIM_ADAM;
    o.epochs = 3;
    o.log_every = 1;
    o.batch_size = 4;
    o.shuffle = true;
    o.clip_grad_norm = 1.0f;
    o.schedule = &(cg_scheduler_options){.kind = CG_SCHED_STEP, .step_size = 1, .gamma = 0.5f};
    o.val_x = tx;
    o.val_y = ty;
    o.log_params = true;
    o.on_epoch = fit_epoch;
    o.user = (void *)mark;
    o.checkpoint_every = 2;
    o.on_checkpoint = fit_checkpoint;
    cg_fit_result r;
    if (cg_fit(&model, tx, ty, &o, &r) == CG_OK) {
        keep(out, r.final_loss);
        keep(out, r.val_loss);
        for (size_t i = 0; i < r.nparams; i++) keep(out, r.params[i]);
    } else {
        cr_assert(!r.params && !r.curve_loss && !r.shuffle_order, "cg_fit failed: result empty");
    }
    cg_fit_result_free(&r);
    cg_mlp_free(mlp);
    cg_tensor_free(tx);
    cg_tensor_free(ty);
    out->status = cg_status_of(ctx);
}

/* ---- the walk -------------------------------------------------------------- */

typedef struct trace {
    const char *site[MAX_CALLS];
    const char *call[MAX_CALLS];
    unsigned long long n;
} trace;

static trace *recorded;
static unsigned long long first_epoch_end;

static void record(void *user, unsigned long long index, const char *site, const char *call)
{
    (void)user;
    if (index <= MAX_CALLS) {
        recorded->site[index - 1] = site;
        recorded->call[index - 1] = call;
        recorded->n = index;
    }
}

static void mark_epoch(void) { first_epoch_end = cg__fault_count(); }
static void no_mark(void) {}

static bool same_results(const outcome *a, const outcome *b)
{
    return a->nresult == b->nresult &&
           memcmp(a->result, b->result, a->nresult * sizeof *a->result) == 0;
}

/* One run in a fresh context; the calls are counted from the reset, so the
 * context's creation is part of the walk. */
static cg_context *fresh_run(scenario_fn scenario, outcome *out, mark_fn mark)
{
    memset(out, 0, sizeof *out);
    cg_context *ctx = cg_context_create(NULL);
    if (!ctx) { /* documented: no host memory for the context itself */
        out->status = CG_ERROR_NO_MEMORY;
        return NULL;
    }
    if (cg_status_of(ctx) == CG_OK)
        scenario(ctx, out, mark);
    else
        out->status = cg_status_of(ctx);
    return ctx;
}

static void walk(const char *name, scenario_fn scenario)
{
    /* Warm: programs in the disk cache, so the traced run and the walked
     * runs take the same calls. */
    outcome expect;
    cg_context_free(fresh_run(scenario, &expect, no_mark));
    cr_assert_eq(expect.status, CG_OK, "%s: %s", name, "the run without faults fails");

    recorded = calloc(1, sizeof *recorded);
    cg__fault_reset();
    cg__fault_trace(record, NULL);
    first_epoch_end = 0;
    outcome traced;
    cg_context_free(fresh_run(scenario, &traced, mark_epoch));
    cg__fault_trace(NULL, NULL);
    cr_assert_eq(traced.status, CG_OK);
    cr_assert(same_results(&traced, &expect), "%s: two runs without faults differ", name);
    cr_assert_leq(recorded->n, MAX_CALLS);

    /* The injection points. */
    unsigned long long n = recorded->n;
    bool *inject = calloc(n + 1, sizeof *inject);
    for (unsigned long long i = 1; i <= n && i <= first_epoch_end; i++) inject[i] = true;
    for (unsigned long long i = 1; i <= n; i++) {
        int seen = 0;
        for (unsigned long long j = 1; j < i && seen < 2; j++)
            if (recorded->site[j - 1] == recorded->site[i - 1]) seen++;
        if (seen < 2) inject[i] = true;
    }

    size_t injected = 0, absorbed = 0;
    for (unsigned long long i = 1; i <= n; i++) {
        if (!inject[i]) continue;
        injected++;
        const char *site = recorded->site[i - 1], *call = recorded->call[i - 1];
        if (getenv("CLGRAD_FAULT_VERBOSE"))
            fprintf(stderr, "%s: failing call %llu, %s at %s\n", name, i, call, site);
        cg__fault_reset();
        cg__fault_arm(i);
        outcome got;
        cg_context *ctx = fresh_run(scenario, &got, no_mark);
        if (!ctx) {
            cr_assert(cg__fault_fired() && i == 1, "%s: no context without a fault", name);
            cr_assert_eq(cg__cl_live_total(), 0);
            continue;
        }
        if (!cg__fault_fired()) {
            /* The call is in cg_context_free (its final wait): nothing to
             * report it to, but no crash and no leak. */
            cg_context_free(ctx);
            cr_assert(cg__fault_fired(), "%s: call %llu (%s at %s) was not reached", name, i,
                      call, site);
            cr_assert_eq(cg__cl_live_total(), 0, "%s: call %llu (%s at %s): objects leaked",
                         name, i, call, site);
            continue;
        }
        cg__fault_arm(0);
        if (got.status == CG_OK) {
            absorbed++;
            if (getenv("CLGRAD_FAULT_VERBOSE"))
                fprintf(stderr, "%s: absorbed call %llu, %s at %s\n", name, i, call, site);
            cr_assert(same_results(&got, &expect),
                      "%s: call %llu (%s at %s) failed, the run said OK, and its results differ",
                      name, i, call, site);
        } else {
            const char *msg = cg_error_message(ctx);
            cr_assert(msg && msg[0], "%s: call %llu (%s at %s): error %d without a message", name,
                      i, call, site, (int)got.status);
        }
        /* Usable again, with the same results: every context but one whose
         * own creation failed. */
        bool made = cg_status_of(ctx) == CG_OK || !strstr(cg_error_message(ctx), "cg_context_create");
        if (made) {
            cg_clear_error(ctx);
            outcome again;
            memset(&again, 0, sizeof again);
            scenario(ctx, &again, no_mark);
            cr_assert_eq(again.status, CG_OK, "%s: after call %llu (%s at %s) failed and the error "
                         "was cleared: %s", name, i, call, site, cg_error_message(ctx));
            cr_assert(same_results(&again, &expect),
                      "%s: after call %llu (%s at %s) failed, the next run's results differ", name,
                      i, call, site);
        }
        cg_context_free(ctx);
        cg__cl_live live = cg__cl_live_objects();
        cr_assert_eq(cg__cl_live_total(), 0,
                     "%s: call %llu (%s at %s) failed and OpenCL objects leaked: %ld contexts, %ld "
                     "queues, %ld programs, %ld kernels, %ld buffers",
                     name, i, call, site, live.contexts, live.queues, live.programs, live.kernels,
                     live.buffers);
    }
    cg__fault_reset();
    cr_log_info("%s: %llu fallible calls, %zu injected, %zu absorbed with identical results", name,
                n, injected, absorbed);
    fprintf(stderr, "fault walk %s: %llu fallible calls, %zu injected, %zu absorbed\n", name, n,
            injected, absorbed);
    free(inject);
    free(recorded);
}

Test(fault, lecture_fused_fit, .timeout = 300) { walk("lecture (fused)", lecture_fused); }
Test(fault, lecture_tape_fit, .timeout = 300) { walk("lecture (tape)", lecture_tape); }
Test(fault, mlp_with_adam, .timeout = 300) { walk("mlp + adam", mlp_adam); }
Test(fault, sgd_under_a_scheduler, .timeout = 300) { walk("sgd + steplr", scheduled); }
Test(fault, the_trainer, .timeout = 300) { walk("cg_fit", mlp_fit); }

Test(fault, live_objects_return_to_zero_after_a_run)
{
    outcome out;
    cg_context *ctx = fresh_run(lecture_tape, &out, no_mark);
    cr_assert_eq(out.status, CG_OK, "%s", cg_error_message(ctx));
    if (!cg_context_is_ref(ctx)) cr_assert_gt(cg__cl_live_total(), 0);
    cg_context_free(ctx);
    cr_assert_eq(cg__cl_live_total(), 0);
}
