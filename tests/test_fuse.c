/* Fusion (issue 9, item 1): chains of element-wise nodes run as one
 * generated kernel give the results of the nodes run one by one, bit for
 * bit, forward and backward, on random chains of awkward sizes; a chain
 * costs one launch; a one-element operand read from a buffer the chain
 * writes ends the group instead of racing; and the switch and its
 * environment variable behave. The reference path runs the same groups. */
#include "helpers.h"

static cg_context *context_fusing(bool fuse)
{
    cg_context *ctx = test_context();
    cr_assert_eq(cg_context_set_eager(ctx, false), CG_OK);
    cr_assert_eq(cg_context_set_fusion(ctx, fuse), CG_OK);
    cr_assert_eq(cg_context_fusion(ctx), fuse);
    return ctx;
}

static cg_tensor *filled(cg_context *ctx, size_t n, uint64_t seed, double lo, double hi)
{
    float *v = malloc(n * sizeof *v);
    test_rng r = {seed | 1};
    for (size_t i = 0; i < n; i++) v[i] = rng_range(&r, lo, hi);
    cg_tensor *t = cg_tensor_from(ctx, v, CG_SHAPE(n));
    free(v);
    cr_assert_not_null(t, "%s", cg_error_message(ctx));
    return t;
}

#define CHAIN 12

/* a and b (count values each) are the same bits. */
static void assert_same_bits(const float *a, const float *b, size_t count, size_t n, uint64_t g,
                             uint64_t seed)
{
    for (size_t i = 0; i < count; i++)
        cr_assert(memcmp(&a[i], &b[i], sizeof a[i]) == 0,
                  "n %zu chain %llu value %zu: fused %.9g, unfused %.9g (seed %llu)", n,
                  (unsigned long long)g, i, a[i], b[i], (unsigned long long)seed);
}

/* A random chain over inputs x, y (n elements, requires_grad), a scalar s
 * and a one-element view into a [3] tensor (offset 2): each op reads the
 * last value and one of the pool; the loss is the chain's mean. Every value
 * and both gradients are read into vals. The same seed on two contexts
 * builds the same chain. */
static size_t run_chain(cg_context *ctx, size_t n, uint64_t seed, float *vals)
{
    test_rng r = {seed * 2654435761u | 1};
    cg_tensor *x = filled(ctx, n, seed + 1, 0.2, 1.5), *y = filled(ctx, n, seed + 2, 0.2, 1.5);
    cg_tensor *s = filled(ctx, 1, seed + 3, 0.5, 1.2), *three = filled(ctx, 3, seed + 4, 0.5, 1.2);
    cg_set_requires_grad(x, true);
    cg_set_requires_grad(y, true);
    cg_tensor *pool[4] = {x, y, s, cg_select(three, 0, 2)};
    cg_tensor *chain[CHAIN + 1];
    chain[0] = x;
    for (int k = 1; k <= CHAIN; k++) {
        cg_tensor *a = chain[k - 1], *b = pool[(int)(rng_uniform(&r) * 4)];
        switch ((int)(rng_uniform(&r) * 10)) {
        case 0: chain[k] = cg_add(a, b); break;
        case 1: chain[k] = cg_sub(b, a); break;
        case 2: chain[k] = cg_mul(a, b); break;
        case 3: chain[k] = cg_div(a, cg_add_scalar(cg_abs(b), 1.0f)); break;
        case 4: chain[k] = cg_tanh(a); break;
        case 5: chain[k] = cg_sigmoid(a); break;
        case 6: chain[k] = cg_mul_scalar(cg_square(a), 0.5f); break;
        case 7: chain[k] = cg_exp(cg_neg(cg_abs(a))); break;
        case 8: chain[k] = cg_pow_scalar(cg_add_scalar(cg_abs(a), 0.1f), 1.7f); break;
        default: chain[k] = cg_relu(cg_sub_scalar(a, 0.3f)); break;
        }
        cr_assert_not_null(chain[k], "%s", cg_error_message(ctx));
    }
    cg_tensor *loss = cg_mean(chain[CHAIN]);
    cr_assert_eq(cg_backward(loss), CG_OK, "%s", cg_error_message(ctx));
    size_t at = 0;
    for (int k = 1; k <= CHAIN; k++) {
        cr_assert_eq(cg_tensor_read(chain[k], vals + at, n), CG_OK);
        at += n;
    }
    cr_assert_eq(cg_tensor_read(cg_grad(x), vals + at, n), CG_OK);
    at += n;
    if (cg_grad(y)) /* y may not be in the chain */
        cr_assert_eq(cg_tensor_read(cg_grad(y), vals + at, n), CG_OK);
    else
        memset(vals + at, 0, n * sizeof *vals);
    at += n;
    cg_tape_reset(ctx);
    cg_tensor_free(x);
    cg_tensor_free(y);
    cg_tensor_free(s);
    cg_tensor_free(three);
    return at;
}

Test(fuse, random_chains_give_the_unfused_bits_forward_and_backward)
{
    static const size_t sizes[] = {1, 7, 255, 1000, 4097};
    uint64_t seed = test_seed();
    cg_context *fused = context_fusing(true), *plain = context_fusing(false);
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (uint64_t g = 0; g < 8; g++) {
            size_t n = sizes[si], cap = (CHAIN + 2) * n;
            float *a = malloc(cap * sizeof *a), *b = malloc(cap * sizeof *b);
            /* The same 8 chains at every size: one program per chain
             * structure (two where n is 1), not one per size. */
            size_t count = run_chain(fused, n, seed + g, a);
            cr_assert_eq(run_chain(plain, n, seed + g, b), count);
            assert_same_bits(a, b, count, n, g, seed);
            free(a);
            free(b);
        }
    cg_context_stats fs = cg_context_stats_of(fused), ps = cg_context_stats_of(plain);
    cr_assert_gt(fs.fused_groups, 0);
    cr_assert_gt(fs.fused_nodes, 2 * fs.fused_groups - 1);
    cr_assert_eq(ps.fused_groups, 0);
    if (!cg_context_is_ref(fused)) cr_assert_lt(fs.kernel_launches, ps.kernel_launches);
    cg_context_free(fused);
    cg_context_free(plain);
}

/* Two chains interleaved: v over n elements and c over one, each step
 * advancing one of them, v's reading c's latest value as a one-element
 * operand (which ends a group when the group wrote it) and c's reading a
 * one-element input. Groups then hold steps of both sizes (a step of one
 * element runs where i < 1). Every value and the gradients are read. */
static size_t run_mixed(cg_context *ctx, size_t n, uint64_t seed, float *vals)
{
    test_rng r = {seed * 0x9E3779B97F4A7C15ull | 1};
    cg_tensor *x = filled(ctx, n, seed + 1, 0.2, 1.5), *s = filled(ctx, 1, seed + 2, 0.5, 1.2);
    cg_set_requires_grad(x, true);
    cg_set_requires_grad(s, true);
    cg_tensor *v = x, *c = s, *made[2 * CHAIN];
    size_t sizes[2 * CHAIN], count = 0;
    for (int k = 0; k < 2 * CHAIN; k++) {
        bool scalar_step = rng_uniform(&r) < 0.5;
        int op = (int)(rng_uniform(&r) * 5);
        cg_tensor *a = scalar_step ? c : v, *b = scalar_step ? s : c, *y;
        switch (op) {
        case 0: y = cg_add(a, b); break;
        case 1: y = cg_mul(a, b); break;
        case 2: y = cg_tanh(a); break;
        case 3: y = cg_sub(b, cg_mul_scalar(a, 0.5f)); break;
        default: y = cg_sigmoid(cg_mul(a, b)); break;
        }
        cr_assert_not_null(y, "%s", cg_error_message(ctx));
        if (scalar_step)
            c = y;
        else
            v = y;
        made[count] = y;
        sizes[count++] = scalar_step ? 1 : n;
    }
    cg_tensor *loss = cg_add(cg_mean(v), c);
    cr_assert_eq(cg_backward(loss), CG_OK, "%s", cg_error_message(ctx));
    size_t at = 0;
    for (size_t k = 0; k < count; k++) {
        cr_assert_eq(cg_tensor_read(made[k], vals + at, sizes[k]), CG_OK);
        at += sizes[k];
    }
    cr_assert_eq(cg_tensor_read(cg_grad(x), vals + at, n), CG_OK);
    at += n;
    cr_assert_eq(cg_tensor_read(cg_grad(s), vals + at, 1), CG_OK);
    at += 1;
    cg_tape_reset(ctx);
    cg_tensor_free(x);
    cg_tensor_free(s);
    return at;
}

Test(fuse, chains_of_two_sizes_give_the_unfused_bits)
{
    static const size_t sizes[] = {1, 5, 300, 4097};
    uint64_t seed = test_seed();
    cg_context *fused = context_fusing(true), *plain = context_fusing(false);
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (uint64_t g = 0; g < 6; g++) {
            size_t n = sizes[si], cap = (2 * CHAIN + 1) * n + 1;
            float *a = malloc(cap * sizeof *a), *b = malloc(cap * sizeof *b);
            size_t count = run_mixed(fused, n, seed + g, a);
            cr_assert_eq(run_mixed(plain, n, seed + g, b), count);
            assert_same_bits(a, b, count, n, g, seed);
            free(a);
            free(b);
        }
    cr_assert_gt(cg_context_stats_of(fused).fused_groups, 0);
    cg_context_free(fused);
    cg_context_free(plain);
}

/* A random graph over [R, C] values mixing what fuses with what does not:
 * transposed and expanded operands (strided, they end groups), sums over an
 * axis and their broadcast back, one-element operands, unary ops. Deferred
 * with fusion against eager (every op alone, as called), forward values and
 * the leaves' gradients, bit for bit. */
enum { R = 7, C = 5, DAG = 16 };

static size_t run_dag(cg_context *ctx, uint64_t seed, float *vals)
{
    test_rng r = {seed * 0xD1B54A32D192ED03ull | 1};
    cg_tensor *x = filled(ctx, R * C, seed + 1, 0.2, 1.5), *xt = filled(ctx, C * R, seed + 2, 0.2, 1.5);
    cg_tensor *row = filled(ctx, C, seed + 3, 0.2, 1.5), *s = filled(ctx, 1, seed + 4, 0.5, 1.2);
    cg_tensor *leaves[4] = {x, xt, row, s};
    for (int k = 0; k < 4; k++) cg_set_requires_grad(leaves[k], true);
    cg_tensor *pool[DAG + 1];
    pool[0] = cg_reshape(x, CG_SHAPE(R, C));
    cg_tensor *xt2 = cg_reshape(xt, CG_SHAPE(C, R)), *row2 = cg_reshape(row, CG_SHAPE(1, C));
    for (int k = 1; k <= DAG; k++) {
        cg_tensor *a = pool[(int)(rng_uniform(&r) * k)], *b = pool[(int)(rng_uniform(&r) * k)];
        switch ((int)(rng_uniform(&r) * 8)) {
        case 0: pool[k] = cg_add(a, b); break;
        case 1: pool[k] = cg_mul(a, cg_transpose(xt2, 0, 1)); break;
        case 2: pool[k] = cg_sub(a, cg_sum_axis(b, 1, true)); break;
        case 3: pool[k] = cg_add(a, cg_expand(row2, CG_SHAPE(R, C))); break;
        case 4: pool[k] = cg_mul(cg_tanh(a), s); break;
        case 5: pool[k] = cg_sigmoid(cg_sub(a, b)); break;
        case 6: pool[k] = cg_div(a, cg_add_scalar(cg_square(b), 1.0f)); break;
        default: pool[k] = cg_mul_scalar(cg_add(a, cg_mean_axis(b, 0, true)), 0.5f); break;
        }
        cr_assert_not_null(pool[k], "%s", cg_error_message(ctx));
    }
    cg_tensor *loss = cg_add(cg_mean(pool[DAG]), cg_mean(pool[DAG / 2]));
    cr_assert_eq(cg_backward(loss), CG_OK, "%s", cg_error_message(ctx));
    size_t at = 0;
    for (int k = 1; k <= DAG; k++) {
        cr_assert_eq(cg_tensor_read(pool[k], vals + at, R * C), CG_OK);
        at += R * C;
    }
    for (int k = 0; k < 4; k++) {
        size_t n = k == 2 ? C : k == 3 ? 1 : R * C;
        if (cg_grad(leaves[k]))
            cr_assert_eq(cg_tensor_read(cg_grad(leaves[k]), vals + at, n), CG_OK);
        else
            memset(vals + at, 0, n * sizeof *vals);
        at += n;
    }
    cg_tape_reset(ctx);
    for (int k = 0; k < 4; k++) cg_tensor_free(leaves[k]);
    return at;
}

Test(fuse, random_graphs_with_views_and_reductions_give_the_eager_bits)
{
    uint64_t seed = test_seed();
    cg_context *fused = context_fusing(true), *eager = test_context();
    cr_assert_eq(cg_context_set_eager(eager, true), CG_OK);
    const size_t cap = DAG * R * C + 2 * R * C + C + 1;
    float *a = malloc(cap * sizeof *a), *b = malloc(cap * sizeof *b);
    for (uint64_t g = 0; g < 12; g++) {
        size_t count = run_dag(fused, seed + g, a);
        cr_assert_eq(run_dag(eager, seed + g, b), count);
        assert_same_bits(a, b, count, R * C, g, seed);
    }
    cr_assert_gt(cg_context_stats_of(fused).fused_groups, 0);
    cr_assert_eq(cg_context_stats_of(eager).fused_groups, 0);
    free(a);
    free(b);
    cg_context_free(fused);
    cg_context_free(eager);
}

/* The lecture's forward, w * x + b - y then squared: four nodes, one
 * group, one launch on a device (the reference counts the group too). */
Test(fuse, a_chain_of_four_element_wise_ops_is_one_launch)
{
    cg_context *ctx = context_fusing(true);
    cg_tensor *x = filled(ctx, 11, 1, 0, 1), *y = filled(ctx, 11, 2, 0, 1);
    cg_tensor *w = filled(ctx, 1, 3, 0, 1), *b = filled(ctx, 1, 4, 0, 1);
    cg_realize(ctx);
    cg_context_stats before = cg_context_stats_of(ctx);
    cg_tensor *d = cg_square(cg_sub(cg_add(cg_mul(w, x), b), y));
    cr_assert_eq(cg_realize(ctx), CG_OK, "%s", cg_error_message(ctx));
    cg_context_stats after = cg_context_stats_of(ctx);
    cr_assert_eq(after.fused_groups - before.fused_groups, 1);
    cr_assert_eq(after.fused_nodes - before.fused_nodes, 4);
    if (!cg_context_is_ref(ctx)) cr_assert_eq(after.kernel_launches - before.kernel_launches, 1);
    float v[11], xs[11], ys[11], ws, bs;
    cg_tensor_read(d, v, 11);
    cg_tensor_read(x, xs, 11);
    cg_tensor_read(y, ys, 11);
    cg_tensor_read(w, &ws, 1);
    cg_tensor_read(b, &bs, 1);
    for (int i = 0; i < 11; i++) {
        float t = ws * xs[i];
        t = t + bs;
        t = t - ys[i];
        t = t * t;
        cr_assert(memcmp(&t, &v[i], sizeof t) == 0, "element %d: %.9g vs %.9g", i, v[i], t);
    }
    cg_tape_reset(ctx);
    cg_tensor_free(x);
    cg_tensor_free(y);
    cg_tensor_free(w);
    cg_tensor_free(b);
    cg_context_free(ctx);
}

/* u = 2x writes a buffer; a one-element view of u read by every element
 * next must see u as the first op left it, so the group ends before that
 * read (fused, work-item 0 could write u[0] while others read it); and an
 * in-place accumulation in the chain reads what the op before it wrote. */
Test(fuse, a_one_element_read_of_a_written_buffer_ends_the_group)
{
    for (int fuse = 1; fuse >= 0; fuse--) {
        cg_context *ctx = context_fusing(fuse);
        const size_t n = 300;
        cg_tensor *x = filled(ctx, n, 9, -1, 1);
        cg_tensor *u = cg_mul_scalar(x, 2.0f);
        cg_tensor *v = cg_add(cg_tanh(x), cg_select(u, 0, 7));
        cr_assert_eq(cg_add_scaled_(v, 0.5f, u), CG_OK, "%s", cg_error_message(ctx));
        cg_tensor *z = cg_mul(v, cg_select(v, 0, n - 1));
        float xs[300], zs[300];
        cr_assert_eq(cg_tensor_read(z, zs, n), CG_OK, "%s", cg_error_message(ctx));
        cg_tensor_read(x, xs, n);
        float last = tanhf(xs[n - 1]) + 2.0f * xs[7];
        last = last + 0.5f * (2.0f * xs[n - 1]);
        for (size_t i = 0; i < n; i++) {
            float vi = tanhf(xs[i]) + 2.0f * xs[7];
            vi = vi + 0.5f * (2.0f * xs[i]);
            assert_close(zs[i], vi * last, 1e-6, 1e-6, "fuse %d element %zu", fuse, i);
        }
        cg_tape_reset(ctx);
        cg_tensor_free(x);
        cg_context_free(ctx);
    }
}

Test(fuse, clgrad_fuse_is_0_or_1)
{
    setenv("CLGRAD_FUSE", "0", 1);
    cg_context *ctx = test_context();
    cr_assert(!cg_context_fusion(ctx));
    cg_context_free(ctx);
    setenv("CLGRAD_FUSE", "yes", 1);
    ctx = cg_context_create(NULL);
    cr_assert_eq(cg_status_of(ctx), CG_ERROR_INVALID_ARGUMENT);
    cr_assert(strstr(cg_error_message(ctx), "CLGRAD_FUSE") != NULL, "%s", cg_error_message(ctx));
    cg_context_free(ctx);
    unsetenv("CLGRAD_FUSE");
    ctx = test_context();
    cr_assert(cg_context_fusion(ctx), "on by default");
    cg_context_free(ctx);
}

/* A bias: a row repeated over the leading dimensions ([5] over [7, 5],
 * [4, 5] over [3, 4, 5], [1, 5] over [6, 5]) joins the chain that reads
 * it, as `x + b` then tanh in an MLP's layer: one launch, the unfused bits,
 * forward and backward (the bias's gradient sums the rows). */
Test(fuse, a_repeated_row_joins_the_chain)
{
    static const cg_shape xs[] = {{2, {7, 5}}, {3, {3, 4, 5}}, {2, {6, 5}}};
    static const cg_shape bs[] = {{1, {5}}, {2, {4, 5}}, {2, {1, 5}}};
    for (int c = 0; c < 3; c++) {
        float vals[2][4 * 128];
        for (int fuse = 0; fuse < 2; fuse++) {
            cg_context *ctx = context_fusing(fuse);
            size_t nx = 1, nb = 1;
            for (int d = 0; d < xs[c].ndim; d++) nx *= xs[c].dims[d];
            for (int d = 0; d < bs[c].ndim; d++) nb *= bs[c].dims[d];
            cg_tensor *x0 = filled(ctx, nx, 11 + c, -1, 1), *b0 = filled(ctx, nb, 21 + c, -1, 1);
            float xv[128], bv[32];
            cr_assert_eq(cg_tensor_read(x0, xv, nx), CG_OK);
            cr_assert_eq(cg_tensor_read(b0, bv, nb), CG_OK);
            cg_tensor_free(x0);
            cg_tensor_free(b0);
            cg_tensor *x = cg_tensor_from(ctx, xv, xs[c]), *b = cg_tensor_from(ctx, bv, bs[c]);
            cg_set_requires_grad(x, true);
            cg_set_requires_grad(b, true);
            cg_realize(ctx);
            cg_context_stats before = cg_context_stats_of(ctx);
            cg_tensor *h = cg_tanh(cg_mul_scalar(cg_add(x, b), 1.5f));
            cr_assert_eq(cg_realize(ctx), CG_OK, "%s", cg_error_message(ctx));
            cg_context_stats after = cg_context_stats_of(ctx);
            if (fuse && !cg_context_is_ref(ctx))
                cr_assert_eq(after.kernel_launches - before.kernel_launches, 1,
                             "case %d: %llu launches", c,
                             after.kernel_launches - before.kernel_launches);
            cr_assert_eq(cg_backward(cg_sum(cg_mul(h, h))), CG_OK, "%s", cg_error_message(ctx));
            cr_assert_eq(cg_tensor_read(h, vals[fuse], nx), CG_OK);
            cr_assert_eq(cg_tensor_read(cg_grad(x), vals[fuse] + nx, nx), CG_OK);
            cr_assert_eq(cg_tensor_read(cg_grad(b), vals[fuse] + 2 * nx, nb), CG_OK);
            cg_tape_reset(ctx);
            cg_tensor_free(x);
            cg_tensor_free(b);
            cg_context_free(ctx);
        }
        size_t count = 0;
        for (size_t n = 1, d = 0; d < (size_t)xs[c].ndim; d++) n *= xs[c].dims[d], count = n;
        count = 2 * count + 5 * (c == 1 ? 4 : 1);
        assert_same_bits(vals[1], vals[0], count, count, (uint64_t)c, 0);
    }
}

/* ---- sums at the end of chains ---------------------------------------------
 * A chain may end in full sums, several over the same elements in one pass,
 * with the sums' small consumers after them: the sums are the eager kernel's
 * for that size and kernel shape, bit for bit (both shapes run on PoCL). */

static const cg_kernel_shape shapes[2] = {CG_KERNEL_SHAPE_CPU, CG_KERNEL_SHAPE_GPU};

/* Random graphs per size and shape: a few in CI, CLGRAD_TEST_GRAPHS more. */
static uint64_t graphs(uint64_t ci)
{
    const char *env = getenv("CLGRAD_TEST_GRAPHS");
    return env && atoi(env) > 0 ? (uint64_t)atoi(env) : ci;
}

static cg_context *shaped(bool fuse, bool eager, int s)
{
    cg_context *ctx = test_context();
    cr_assert_eq(cg_context_set_eager(ctx, eager), CG_OK);
    cr_assert_eq(cg_context_set_fusion(ctx, fuse), CG_OK);
    cr_assert_eq(cg_context_set_kernel_shape(ctx, shapes[s]), CG_OK);
    return ctx;
}

/* Values compared within float rounding (a device against the reference). */
static void assert_near(const float *a, const float *b, size_t count, const char *what,
                        size_t n, uint64_t seed)
{
    for (size_t i = 0; i < count; i++)
        assert_close(a[i], b[i], 1e-6 * (double)n + 1e-4, 1e-4,
                     "%s n %zu value %zu: device %.9g, reference %.9g (seed %llu)", what, n, i,
                     a[i], b[i], (unsigned long long)seed);
}

/* A random chain over x, y ([n], requiring grad) and the one-element w, b
 * (requiring grad: their gradients are SUM_TO to one element), ending in
 * three sums of its values (cg_sum, cg_mean of a product, the mean of
 * squares as cg_mse_loss makes it) and a loss of small ops on them. Every
 * value, the sums and the four gradients are read into vals. */
static size_t run_sums(cg_context *ctx, size_t n, uint64_t seed, float *vals)
{
    test_rng r = {seed * 0x2545F4914F6CDD1Dull | 1};
    cg_tensor *x = filled(ctx, n, seed + 1, -1, 1), *y = filled(ctx, n, seed + 2, -1, 1);
    cg_tensor *w = filled(ctx, 1, seed + 3, 0.5, 1.5), *b = filled(ctx, 1, seed + 4, -0.5, 0.5);
    cg_tensor *leaves[4] = {x, y, w, b};
    for (int k = 0; k < 4; k++) cg_set_requires_grad(leaves[k], true);
    cg_tensor *made[8];
    cg_tensor *v = cg_add(cg_mul(w, x), b); /* the lecture's prediction */
    for (int k = 0; k < 5; k++) {
        cg_tensor *o = rng_uniform(&r) < 0.5 ? y : x;
        switch ((int)(rng_uniform(&r) * 5)) {
        case 0: v = cg_sub(v, o); break;
        case 1: v = cg_tanh(cg_mul(v, w)); break;
        case 2: v = cg_add(cg_mul_scalar(v, 0.5f), b); break;
        case 3: v = cg_sigmoid(cg_add(v, o)); break;
        default: v = cg_mul(v, cg_add_scalar(cg_abs(o), 0.5f)); break;
        }
        made[k] = v;
    }
    cg_tensor *s1 = cg_sum(v), *s2 = cg_mean(cg_mul(v, y)), *s3 = cg_mse_loss(v, x, CG_REDUCTION_MEAN);
    cg_tensor *loss = cg_add(cg_add(cg_mul_scalar(s1, 1.0f / (float)n), cg_tanh(s2)), s3);
    cr_assert_not_null(loss, "%s", cg_error_message(ctx));
    cr_assert_eq(cg_backward(loss), CG_OK, "%s", cg_error_message(ctx));
    made[5] = s1, made[6] = s2, made[7] = s3;
    size_t at = 0;
    for (int k = 0; k < 8; k++) {
        size_t m = k < 5 ? n : 1;
        cr_assert_eq(cg_tensor_read(made[k], vals + at, m), CG_OK);
        at += m;
    }
    cr_assert_eq(cg_tensor_read(loss, vals + at++, 1), CG_OK);
    for (int k = 0; k < 4; k++) {
        size_t m = k < 2 ? n : 1;
        cr_assert_eq(cg_tensor_read(cg_grad(leaves[k]), vals + at, m), CG_OK);
        at += m;
    }
    cg_tape_reset(ctx);
    for (int k = 0; k < 4; k++) cg_tensor_free(leaves[k]);
    return at;
}

Test(fuse, chains_ending_in_sums_give_the_eager_bits_on_both_kernel_shapes)
{
    static const size_t sizes[] = {1, 7, 255, 257, 4097, 100003};
    uint64_t seed = test_seed();
    cg_context *probe = test_context();
    cg_context *ref = cg_context_is_ref(probe) ? NULL : ref_context();
    cg_context_free(probe);
    for (int s = 0; s < 2; s++) {
        cg_context *fused = shaped(true, false, s), *eager = shaped(true, true, s);
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
            for (uint64_t g = 0; g < graphs(3); g++) {
                size_t n = sizes[si], cap = 7 * n + 8;
                float *a = malloc(cap * sizeof *a), *b = malloc(cap * sizeof *b);
                size_t count = run_sums(fused, n, seed + g, a);
                cr_assert_eq(run_sums(eager, n, seed + g, b), count);
                assert_same_bits(a, b, count, n, g, seed);
                if (ref && s == 0) {
                    cr_assert_eq(run_sums(ref, n, seed + g, b), count);
                    assert_near(a, b, count, "sums", n, seed);
                }
                free(a);
                free(b);
            }
        cg_context_stats fs = cg_context_stats_of(fused);
        cr_assert_gt(fs.fused_groups, 0);
        cr_assert_eq(cg_context_stats_of(eager).fused_groups, 0);
        if (!cg_context_is_ref(fused))
            cr_assert_lt(fs.kernel_launches, cg_context_stats_of(eager).kernel_launches);
        cg_context_free(fused);
        cg_context_free(eager);
    }
    cg_context_free(ref);
}

/* The lecture's tape step (bench_tape): forward and mean (one group, the
 * sum fused), the loss's seed, and the whole backward with the weight's and
 * the bias's sums in one pass and the copies into the parameters' gradient
 * after them (one group), then the optimizer: 4 launches where fusing
 * element-wise chains only took 13 (eager: 19); 6 at 100003 points, where a
 * sum's partials need a second launch. The parameters after three steps are eager's bit for bit. */
static void lecture_steps(cg_context *ctx, size_t n, int steps, float out[2],
                          unsigned long long *launches, unsigned long long *groups)
{
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    for (size_t i = 0; i < n; i++) {
        x[i] = (float)(i % 1000) / 500.0f - 1.0f;
        y[i] = 2.0f * x[i] - 0.5f;
    }
    cg_tensor *tx = cg_tensor_from(ctx, x, CG_SHAPE(n)), *ty = cg_tensor_from(ctx, y, CG_SHAPE(n));
    cg_tensor *params = cg_tensor_from(ctx, (float[]){1.0f, 0.0f}, CG_SHAPE(2));
    cg_set_requires_grad(params, true);
    cg_optimizer *opt = cg_optimizer_create(ctx, CG_OPTIM_SGD, &params, 1, NULL);
    for (int e = 0; e < steps; e++) {
        cg_finish(ctx);
        cg_context_stats before = cg_context_stats_of(ctx);
        cg_tensor *p = cg_add(cg_mul(cg_at(params, 0), tx), cg_at(params, 1));
        cg_tensor *loss = cg_mse_loss(p, ty, CG_REDUCTION_MEAN);
        cg_zero_grad(opt);
        cg_backward(loss);
        cg_step(opt);
        cg_tape_reset(ctx);
        cr_assert_eq(cg_finish(ctx), CG_OK, "%s", cg_error_message(ctx));
        cg_context_stats after = cg_context_stats_of(ctx);
        *launches = after.kernel_launches - before.kernel_launches;
        *groups = after.fused_groups - before.fused_groups;
    }
    cr_assert_eq(cg_tensor_read(params, out, 2), CG_OK);
    cg_optimizer_free(opt);
    cg_tensor_free(params);
    cg_tensor_free(tx);
    cg_tensor_free(ty);
    free(x);
    free(y);
}

Test(fuse, the_lecture_tape_step_is_four_launches_and_a_large_epoch_six)
{
    static const size_t sizes[] = {11, 100003};
    for (int s = 0; s < 2; s++)
        for (int si = 0; si < 2; si++) {
            cg_context *fused = shaped(true, false, s), *eager = shaped(true, true, s);
            float pf[2], pe[2];
            unsigned long long lf, le, gf, ge;
            lecture_steps(fused, sizes[si], 3, pf, &lf, &gf);
            lecture_steps(eager, sizes[si], 3, pe, &le, &ge);
            assert_same_bits(pf, pe, 2, sizes[si], (uint64_t)s, 0);
            cr_assert_eq(gf, 3, "groups: forward, seed, backward (%llu)", gf);
            cr_assert_eq(ge, 0);
            if (!cg_context_is_ref(fused)) {
                cr_assert_lt(lf, le);
                cr_assert_eq(lf, sizes[si] == 11 ? 4 : 6, "shape %d, n %zu: %llu launches", s,
                             sizes[si], lf);
            }
            cg_context_free(fused);
            cg_context_free(eager);
        }
}

/* A random graph over [n] values and one-element ones: element-wise ops,
 * full sums and means of them, small ops on the sums, the sums read back
 * by every element (a sum's result as a one-element operand), and two
 * elements of a [3] leaf (their gradients are block copies added into its
 * gradient after the sums). Every value and the leaves' gradients are read
 * into vals. */
static size_t run_sum_graph(cg_context *ctx, size_t n, uint64_t seed, float *vals)
{
    enum { STEPS = 14 };
    test_rng r = {seed * 0xBF58476D1CE4E5B9ull | 1};
    cg_tensor *x = filled(ctx, n, seed + 1, -1, 1), *y = filled(ctx, n, seed + 2, -1, 1);
    cg_tensor *w = filled(ctx, 1, seed + 3, 0.5, 1.5), *p = filled(ctx, 3, seed + 4, -1, 1);
    cg_tensor *leaves[4] = {x, y, w, p};
    for (int k = 0; k < 4; k++) cg_set_requires_grad(leaves[k], true);
    cg_tensor *vec[STEPS + 2] = {x, y}, *one[STEPS + 3] = {w, cg_at(p, 0), cg_at(p, 2)};
    cg_tensor *made[STEPS];
    bool is_vec[STEPS];
    int nv = 2, ns = 3;
    float inv = 1.0f / (float)n;
    for (int k = 0; k < STEPS; k++) {
        cg_tensor *a = vec[(int)(rng_uniform(&r) * nv)], *b = vec[(int)(rng_uniform(&r) * nv)];
        cg_tensor *s = one[(int)(rng_uniform(&r) * ns)], *t = one[(int)(rng_uniform(&r) * ns)];
        cg_tensor *v = NULL, *c = NULL;
        switch ((int)(rng_uniform(&r) * 8)) {
        case 0: v = cg_add(a, b); break;
        case 1: v = cg_mul(a, s); break;
        case 2: v = cg_tanh(cg_sub(a, s)); break;
        case 3: c = cg_mul_scalar(cg_sum(a), inv); break;
        case 4: c = cg_mean(cg_mul(a, b)); break;
        case 5: c = cg_tanh(cg_add(s, t)); break;
        case 6: v = cg_sigmoid(cg_mul(a, b)); break;
        default: c = cg_mse_loss(a, cg_mul(b, t), CG_REDUCTION_MEAN); break;
        }
        cr_assert(v || c, "%s", cg_error_message(ctx));
        made[k] = v ? v : c;
        is_vec[k] = v != NULL;
        if (v)
            vec[nv++] = v;
        else
            one[ns++] = c;
    }
    cg_tensor *loss = cg_add(cg_mean(vec[nv - 1]), one[ns - 1]);
    cr_assert_eq(cg_backward(loss), CG_OK, "%s", cg_error_message(ctx));
    size_t at = 0;
    for (int k = 0; k < STEPS; k++) {
        size_t m = is_vec[k] ? n : 1;
        cr_assert_eq(cg_tensor_read(made[k], vals + at, m), CG_OK);
        at += m;
    }
    for (int k = 0; k < 4; k++) {
        size_t m = k < 2 ? n : k == 2 ? 1 : 3;
        if (cg_grad(leaves[k]))
            cr_assert_eq(cg_tensor_read(cg_grad(leaves[k]), vals + at, m), CG_OK);
        else
            memset(vals + at, 0, m * sizeof *vals);
        at += m;
    }
    cg_tape_reset(ctx);
    for (int k = 0; k < 4; k++) cg_tensor_free(leaves[k]);
    return at;
}

Test(fuse, random_graphs_with_sums_give_the_eager_bits_and_the_reference_values)
{
    static const size_t sizes[] = {1, 7, 257, 4097};
    uint64_t seed = test_seed();
    cg_context *probe = test_context();
    cg_context *ref = cg_context_is_ref(probe) ? NULL : ref_context();
    cg_context_free(probe);
    for (int s = 0; s < 2; s++) {
        cg_context *fused = shaped(true, false, s), *eager = shaped(true, true, s);
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
            for (uint64_t g = 0; g < graphs(4); g++) {
                size_t n = sizes[si], cap = 16 * n + 20;
                float *a = malloc(cap * sizeof *a), *b = malloc(cap * sizeof *b);
                size_t count = run_sum_graph(fused, n, seed + g, a);
                cr_assert_eq(run_sum_graph(eager, n, seed + g, b), count);
                assert_same_bits(a, b, count, n, g, seed);
                if (ref && s == 0) {
                    cr_assert_eq(run_sum_graph(ref, n, seed + g, b), count);
                    assert_near(a, b, count, "graph", n, seed);
                }
                free(a);
                free(b);
            }
        cr_assert_gt(cg_context_stats_of(fused).fused_groups, 0);
        cg_context_free(fused);
        cg_context_free(eager);
    }
    cg_context_free(ref);
}

/* After the sums, one element of u (u[3]) is read by a small step; the
 * in-place update of u recorded next would, in the same group, run before
 * that read: it must end the group. The sum's target read by every element
 * next (cg_mul(u, s)) must not be read before the sum is written. */
Test(fuse, what_runs_after_the_sums_keeps_the_nodes_order)
{
    for (int fuse = 1; fuse >= 0; fuse--) {
        cg_context *ctx = context_fusing(fuse);
        const size_t n = 300;
        cg_tensor *x = filled(ctx, n, 11, -1, 1);
        cg_tensor *u = cg_mul_scalar(x, 2.0f);
        cg_tensor *s = cg_sum(u);
        cg_tensor *c = cg_mul(cg_select(u, 0, 3), s);
        cr_assert_eq(cg_add_scaled_(u, 0.5f, x), CG_OK, "%s", cg_error_message(ctx));
        cg_tensor *z = cg_mul(u, s);
        float xs[300], zs[300], cs, ss;
        cr_assert_eq(cg_tensor_read(z, zs, n), CG_OK, "%s", cg_error_message(ctx));
        cg_tensor_read(x, xs, n);
        cg_tensor_read(c, &cs, 1);
        cg_tensor_read(s, &ss, 1);
        double want = 0;
        for (size_t i = 0; i < n; i++) want += 2.0 * xs[i];
        assert_close(ss, want, 1e-4, 1e-6, "fuse %d sum", fuse);
        assert_close(cs, 2.0f * xs[3] * ss, 1e-6, 1e-6, "fuse %d: u[3] before the update", fuse);
        for (size_t i = 0; i < n; i++)
            assert_close(zs[i], (2.0f * xs[i] + 0.5f * xs[i]) * ss, 1e-6, 1e-6,
                         "fuse %d element %zu", fuse, i);
        cg_tape_reset(ctx);
        cg_tensor_free(x);
        cg_context_free(ctx);
    }
}
