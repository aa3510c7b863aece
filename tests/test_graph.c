/* The graph: ops record nodes and the device runs them when a result is
 * needed. Deferred (lazy) realization gives the eager results bit for bit on
 * every op, their gradients, an MLP trained with an optimizer; nothing runs
 * before a result is asked for; a device failure while realizing names the
 * op that recorded the node and is returned by the call that realized it. */
#include "fault.h"
#include "helpers.h"

static cg_context *context_in(bool eager)
{
    cg_context *ctx = test_context();
    cr_assert_eq(cg_context_set_eager(ctx, eager), CG_OK);
    cr_assert_eq(cg_context_eager(ctx), eager);
    return ctx;
}

static cg_tensor *random_tensor(cg_context *ctx, cg_shape shape, uint64_t seed, bool grad)
{
    size_t n = 1;
    for (int d = 0; d < shape.ndim; d++) n *= shape.dims[d];
    float *v = malloc(n * sizeof *v);
    test_rng r = {seed | 1};
    for (size_t i = 0; i < n; i++) v[i] = rng_range(&r, 0.1, 2.0); /* log, sqrt, div stay finite */
    cg_tensor *t = cg_tensor_from(ctx, v, shape);
    free(v);
    cr_assert_not_null(t, "%s", cg_error_message(ctx));
    if (grad) cg_set_requires_grad(t, true);
    return t;
}

typedef cg_tensor *(*op_fn)(cg_tensor *a, cg_tensor *b);

static cg_tensor *op_add(cg_tensor *a, cg_tensor *b) { return cg_add(a, cg_transpose(b, 0, 1)); }
static cg_tensor *op_sub(cg_tensor *a, cg_tensor *b) { return cg_sub(a, cg_transpose(b, 0, 1)); }
static cg_tensor *op_mul(cg_tensor *a, cg_tensor *b)
{
    return cg_mul(a, cg_transpose(cg_sum_axis(b, 1, true), 0, 1));
}
static cg_tensor *op_div(cg_tensor *a, cg_tensor *b)
{
    return cg_div(cg_expand(cg_at(a, 1), CG_SHAPE(3, 4)), cg_add(a, cg_transpose(b, 0, 1)));
}
static cg_tensor *op_unary(cg_tensor *a, cg_tensor *b)
{
    (void)b;
    return cg_sigmoid(cg_tanh(cg_log(cg_sqrt(cg_exp(cg_pow_scalar(cg_rdiv_scalar(a, 2), 1.5f))))));
}
static cg_tensor *op_matmul(cg_tensor *a, cg_tensor *b) { return cg_matmul(a, b, false, false); }
static cg_tensor *op_reduce(cg_tensor *a, cg_tensor *b)
{
    return cg_add(cg_mean_axis(a, -1, false), cg_sum(cg_relu(cg_sub_scalar(b, 1.0f))));
}
static cg_tensor *op_views(cg_tensor *a, cg_tensor *b)
{
    cg_tensor *parts[2] = {cg_narrow(a, 1, 1, 2), cg_contiguous(cg_slice(b, 0, 3))};
    parts[1] = cg_narrow(parts[1], 1, 0, 2);
    return cg_reshape(cg_concat(parts, 2, 0), CG_SHAPE(2, 6));
}
static cg_tensor *op_losses(cg_tensor *a, cg_tensor *b)
{
    cg_tensor *bt = cg_reshape(cg_transpose(b, 0, 1), CG_SHAPE(3, 4));
    return cg_add(cg_add(cg_mse_loss(a, bt, CG_REDUCTION_MEAN), cg_l1_loss(a, bt, CG_REDUCTION_SUM)),
                  cg_huber_loss(a, bt, 0.5f, CG_REDUCTION_MEAN));
}

static cg_tensor *op_scalars(cg_tensor *a, cg_tensor *b)
{
    cg_tensor *s = cg_add_scalar(cg_mul_scalar(cg_neg(cg_abs(a)), 1.5f), 0.25f);
    s = cg_div_scalar(cg_rsub_scalar(cg_square(s), 3.0f), 7.0f);
    return cg_add(s, cg_permute(cg_select(cg_expand(b, CG_SHAPE(2, 4, 3)), 0, 1), (int[]){1, 0}, 2));
}
static cg_tensor *op_rows(cg_tensor *a, cg_tensor *b)
{
    const unsigned idx[5] = {2, 0, 2, 1, 2}; /* repeats: summed in order */
    cg_tensor *e = cg_embedding(a, idx, 5);   /* [5, 4] */
    cg_tensor *d = cg_detach(b); /* yours: the tape takes it, freed at the reset */
    cg_tape_own(d);
    cg_tensor *r = cg_index_rows(d, idx + 1, 4); /* [4, 3]: rows of a tensor without grad */
    return cg_matmul(e, cg_mul(r, b), false, false); /* [5, 3] */
}

static const struct {
    const char *name;
    op_fn fn;
} ops[] = {
    {"scalars", op_scalars}, {"rows", op_rows},
    {"add", op_add},       {"sub", op_sub},         {"mul", op_mul},   {"div", op_div},
    {"unary", op_unary},   {"matmul", op_matmul},   {"reduce", op_reduce},
    {"views", op_views},   {"losses", op_losses},
};

/* The op's output and both inputs' gradients (of sum(out * out)), as bits. */
static size_t run_op(bool eager, op_fn fn, uint64_t seed, float *out, size_t cap)
{
    cg_context *ctx = context_in(eager);
    cg_tensor *a = random_tensor(ctx, CG_SHAPE(3, 4), seed, true);
    cg_tensor *b = random_tensor(ctx, CG_SHAPE(4, 3), seed + 7, true);
    cg_tensor *y = fn(a, b);
    cr_assert_not_null(y, "%s", cg_error_message(ctx));
    cr_assert_eq(cg_backward(cg_sum(cg_square(y))), CG_OK, "%s", cg_error_message(ctx));
    size_t n = cg_tensor_numel(y);
    cr_assert(n + 24 <= cap);
    cr_assert_eq(cg_tensor_read(y, out, n), CG_OK);
    cg_tensor *grads[2] = {cg_grad(a), cg_grad(b)}; /* NULL: the op does not read it */
    for (int k = 0; k < 2; k++)
        if (grads[k])
            cr_assert_eq(cg_tensor_read(grads[k], out + n + 12 * k, 12), CG_OK);
        else
            memset(out + n + 12 * k, 0, 12 * sizeof(float));
    cg_tape_reset(ctx);
    cg_tensor_free(a);
    cg_tensor_free(b);
    cr_assert_eq(cg_context_stats_of(ctx).bytes_allocated, 0, "nothing left");
    cg_context_free(ctx);
    return n + 24;
}

Test(graph, lazy_equals_eager_bit_for_bit_on_every_op)
{
    uint64_t seed = test_seed();
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        float lazy[128], eager[128];
        size_t n = run_op(false, ops[i].fn, seed, lazy, 128);
        cr_assert_eq(run_op(true, ops[i].fn, seed, eager, 128), n);
        cr_assert(memcmp(lazy, eager, n * sizeof(float)) == 0, "%s (seed %llu)", ops[i].name,
                  (unsigned long long)seed);
    }
}

/* Five Adam steps of an MLP on minibatches: parameters as bits. */
static void train_mlp(bool eager, float *params, size_t cap)
{
    cg_context *ctx = context_in(eager);
    const size_t sizes[] = {3, 16, 8, 1};
    cg_mlp *mlp = cg_mlp_create(ctx, sizes, 4, CG_ACT_TANH, 42);
    cg_tensor *ps[6];
    size_t np = cg_mlp_parameters(mlp, ps, 6);
    cg_optim_options o = cg_optim_defaults(CG_OPTIM_ADAM);
    o.lr = 1e-2f;
    o.amsgrad = true;
    cg_optimizer *opt = cg_optimizer_create(ctx, CG_OPTIM_ADAM, ps, np, &o);
    cg_tensor *X = random_tensor(ctx, CG_SHAPE(10, 3), 5, false);
    cg_tensor *Y = random_tensor(ctx, CG_SHAPE(10, 1), 6, false);
    for (int step = 0; step < 5; step++) {
        cg_zero_grad(opt);
        cg_tensor *xb = cg_narrow(X, 0, (size_t)step, 5), *yb = cg_narrow(Y, 0, (size_t)step, 5);
        cg_backward(cg_mse_loss(cg_mlp_forward(mlp, xb), yb, CG_REDUCTION_MEAN));
        cg_step(opt);
        cg_tape_reset(ctx);
    }
    cr_assert_eq(cg_status_of(ctx), CG_OK, "%s", cg_error_message(ctx));
    size_t at = 0;
    for (size_t i = 0; i < np; i++) {
        size_t n = cg_tensor_numel(ps[i]);
        cr_assert(at + n <= cap);
        cr_assert_eq(cg_tensor_read(ps[i], params + at, n), CG_OK);
        at += n;
    }
    cg_optimizer_free(opt);
    cg_mlp_free(mlp);
    cg_tensor_free(X);
    cg_tensor_free(Y);
    cg_context_free(ctx);
}

Test(graph, lazy_equals_eager_on_an_mlp_trained_with_adam)
{
    float lazy[256] = {0}, eager[256] = {0};
    train_mlp(false, lazy, 256);
    train_mlp(true, eager, 256);
    cr_assert(memcmp(lazy, eager, sizeof lazy) == 0);
}

Test(graph, nothing_runs_until_a_result_is_needed)
{
    cg_context *ctx = context_in(false);
    cg_tensor *a = random_tensor(ctx, CG_SHAPE(64), 3, false);
    cg_finish(ctx);
    cg_context_stats before = cg_context_stats_of(ctx);
    cg_tensor *y = cg_mul_scalar(cg_exp(cg_add(a, a)), 0.5f);
    cg_context_stats recorded = cg_context_stats_of(ctx);
    cr_assert_eq(recorded.graph_nodes, before.graph_nodes + 3);
    if (!cg_context_is_ref(ctx))
        cr_assert_eq(recorded.kernel_launches, before.kernel_launches, "nothing launched yet");
    float v[64], av[64];
    cr_assert_eq(cg_tensor_read(y, v, 64), CG_OK);
    cr_assert_eq(cg_tensor_read(a, av, 64), CG_OK);
    if (!cg_context_is_ref(ctx))
        cr_assert_eq(cg_context_stats_of(ctx).kernel_launches, before.kernel_launches + 3);
    for (int i = 0; i < 64; i++) assert_close(v[i], exp(2.0 * av[i]) * 0.5, 0, 1e-6, "v[%d]", i);
    /* a write after recording: the recorded op reads the old values */
    cg_tensor *z = cg_add_scalar(a, 1.0f);
    float ones[64];
    for (int i = 0; i < 64; i++) ones[i] = 1.0f;
    cr_assert_eq(cg_tensor_write(a, ones, 64), CG_OK);
    cr_assert_eq(cg_tensor_read(z, v, 64), CG_OK);
    for (int i = 0; i < 64; i++) cr_assert_eq(v[i], av[i] + 1.0f, "z[%d]", i);
    cg_tape_reset(ctx);
    cg_tensor_free(a);
    cg_context_free(ctx);
}

Test(graph, a_device_failure_names_the_op_and_the_realizing_call_returns_it)
{
    cg_context *ctx = context_in(false);
    if (cg_context_is_ref(ctx)) { /* nothing on the reference path fails late */
        cg_context_free(ctx);
        return;
    }
    cg_tensor *a = random_tensor(ctx, CG_SHAPE(8), 3, false);
    cg_tensor *y = cg_exp(a);
    cr_assert_not_null(y);
    cg_finish(ctx);
    cg_tensor *z = cg_tanh(y); /* recorded, not run */
    cr_assert_not_null(z);
    cg__fault_reset();
    cg__fault_arm(1); /* the next fallible OpenCL call or allocation fails */
    float v[8];
    cg_status s = cg_tensor_read(z, v, 8);
    bool fired = cg__fault_fired();
    cg__fault_reset();
    cr_assert(fired);
    cr_assert_neq(s, CG_OK);
    cr_assert(strstr(cg_error_message(ctx), "cg_tanh"), "%s", cg_error_message(ctx));
    cg_clear_error(ctx);
    cg_tape_reset(ctx);
    cg_tensor_free(a);
    cg_context_free(ctx);
}

/* A backward that records more gradient nodes than the graph has room for:
 * the array moves while rules run (each rule works on a copy of its node). */
Test(graph, a_long_chain_grows_the_graph_during_backward)
{
    cg_context *ctx = test_context();
    cg_tensor *x = cg_tensor_full(ctx, CG_SHAPE(3), 1.0f);
    cg_set_requires_grad(x, true);
    cg_tensor *y = x;
    for (int i = 0; i < 300; i++) y = i % 2 ? cg_mul_scalar(y, 1.01f) : cg_add(y, x);
    cr_assert_eq(cg_backward(cg_sum(y)), CG_OK, "%s", cg_error_message(ctx));
    /* y_{k+1} = y_k + x or 1.01 y_k: the derivative by the same recurrence */
    double d = 1.0;
    for (int i = 0; i < 300; i++) d = i % 2 ? d * 1.01 : d + 1.0;
    float g[3];
    cr_assert_eq(cg_tensor_read(cg_grad(x), g, 3), CG_OK);
    for (int i = 0; i < 3; i++) assert_close(g[i], d, 0, 1e-4, "g[%d]", i);
    cg_tape_reset(ctx);
    cg_tensor_free(x);
    cg_context_free(ctx);
}

Test(graph, eager_comes_from_the_environment)
{
    setenv("CLGRAD_EAGER", "maybe", 1);
    cg_context *ctx = cg_context_create(NULL);
    cr_assert_eq(cg_status_of(ctx), CG_ERROR_INVALID_ARGUMENT);
    cr_assert(strstr(cg_error_message(ctx), "CLGRAD_EAGER"), "%s", cg_error_message(ctx));
    cg_context_free(ctx);
    setenv("CLGRAD_EAGER", "1", 1);
    ctx = cg_context_create(NULL);
    cr_assert(cg_context_eager(ctx));
    cg_context_free(ctx);
    setenv("CLGRAD_EAGER", "0", 1);
    ctx = cg_context_create(NULL);
    cr_assert(!cg_context_eager(ctx));
    cg_context_free(ctx);
    unsetenv("CLGRAD_EAGER");
}
