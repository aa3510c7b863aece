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
        cr_assert_eq(cg_context_stats_of(ctx).kernel_launches,
                     before.kernel_launches + (cg_context_fusion(ctx) ? 1 : 3),
                     "three element-wise ops: one fused launch, or one each");
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

/* The embedding's backward records nodes like every rule (the indices are
 * sorted when it records): two lookups of one weight, over two backwards
 * that accumulate, with the gradient dense or row-sparse, deferred or eager.
 * All four give the same bits on the touched rows (the sparse values add
 * the old rows into zeros, then the new sums, as the dense gradient does),
 * and match the sums in double. */
static void embedding_grads(bool eager, bool sparse, float grad[18], unsigned *rows,
                            size_t *nrows)
{
    static const unsigned ia[5] = {4, 1, 4, 4, 0}, ib[4] = {1, 5, 1, 1};
    cg_context *ctx = context_in(eager);
    cg_tensor *w = random_tensor(ctx, CG_SHAPE(6, 3), 11, true);
    cg_tensor *x = random_tensor(ctx, CG_SHAPE(5, 3), 12, false);
    cg_tensor *y = random_tensor(ctx, CG_SHAPE(4, 3), 13, false);
    cr_assert_eq(cg_set_sparse_grad(w, sparse), CG_OK);
    for (int pass = 0; pass < 2; pass++) {
        /* gy of each lookup comes from nodes still pending when the rule records */
        cg_tensor *a = cg_mul(cg_embedding(w, ia, 5), cg_mul_scalar(x, 0.5f));
        cg_tensor *b = cg_mul(cg_embedding(w, ib, 4), cg_add_scalar(y, 1.0f));
        cr_assert_eq(cg_backward(cg_add(cg_sum(a), cg_sum(cg_square(b)))), CG_OK, "%s",
                     cg_error_message(ctx));
        cg_tape_reset(ctx);
    }
    memset(grad, 0, 18 * sizeof *grad);
    if (sparse) {
        cr_assert_null(cg_grad(w));
        *nrows = cg_sparse_grad_rows(w, rows, 6);
        float v[18];
        cr_assert_eq(cg_tensor_read(cg_sparse_grad_values(w), v, *nrows * 3), CG_OK);
        for (size_t r = 0; r < *nrows; r++) memcpy(grad + rows[r] * 3, v + r * 3, 3 * sizeof *v);
    } else {
        cr_assert_eq(cg_tensor_read(cg_grad(w), grad, 18), CG_OK, "%s", cg_error_message(ctx));
    }
    /* the oracle: d/dw[r] of both terms, twice */
    float wv[18], xv[15], yv[12];
    cg_tensor_read(w, wv, 18);
    cg_tensor_read(x, xv, 15);
    cg_tensor_read(y, yv, 12);
    for (int r = 0; r < 6; r++)
        for (int c = 0; c < 3; c++) {
            double want = 0;
            for (int i = 0; i < 5; i++)
                if (ia[i] == (unsigned)r) want += 0.5 * xv[i * 3 + c];
            for (int i = 0; i < 4; i++)
                if (ib[i] == (unsigned)r) {
                    double yy = yv[i * 3 + c] + 1.0;
                    want += 2.0 * wv[r * 3 + c] * yy * yy;
                }
            assert_close(grad[r * 3 + c], 2 * want, 0, 1e-5, "eager %d sparse %d w[%d,%d]",
                         eager, sparse, r, c);
        }
    cr_assert_eq(cg_status_of(ctx), CG_OK, "%s", cg_error_message(ctx));
    cg_tensor_free(w);
    cg_tensor_free(x);
    cg_tensor_free(y);
    cr_assert_eq(cg_context_stats_of(ctx).bytes_allocated, 0, "nothing left");
    cg_context_free(ctx);
}

Test(graph, the_embedding_backward_is_recorded_and_sparse_matches_dense_lazy_or_eager)
{
    float first[18];
    unsigned rows[6];
    size_t nrows = 0;
    embedding_grads(false, false, first, rows, &nrows);
    for (int k = 1; k < 4; k++) {
        float g[18];
        nrows = 0;
        embedding_grads(k & 1, k & 2, g, rows, &nrows);
        cr_assert(memcmp(first, g, sizeof g) == 0, "eager %d sparse %d", k & 1, (k & 2) != 0);
        if (k & 2) { /* the rows both lookups touched, sorted, once each */
            cr_assert_eq(nrows, 4);
            cr_assert(rows[0] == 0 && rows[1] == 1 && rows[2] == 4 && rows[3] == 5,
                      "%u %u %u %u", rows[0], rows[1], rows[2], rows[3]);
        }
    }
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
