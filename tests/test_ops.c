/* Every differentiable op: its forward and backward kernels against the
 * reference path on fresh random data (awkward sizes included), and its
 * backward rule against central differences (cg_gradcheck). */
#include "helpers.h"

typedef cg_tensor *(*op_fn)(void *user, cg_tensor *const *in, size_t n);

typedef struct op_case {
    const char *name;
    op_fn fn;
    void *user;
    size_t ninputs;
    cg_shape shapes[3];
    float lo, hi;    /* inputs drawn from [lo, hi] ... */
    float gap;       /* ... with |x| >= gap (kinks and poles stay away) */
    bool reduces;    /* sums many inputs: error scales with sum |x|, not |out| */
} op_case;

static float *random_values(test_rng *rng, size_t n, float lo, float hi, float gap)
{
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        float x;
        do x = rng_range(rng, lo, hi);
        while (fabsf(x) < gap);
        v[i] = x;
    }
    return v;
}

static size_t numel(cg_shape s)
{
    size_t n = 1;
    for (int i = 0; i < s.ndim; i++) n *= s.dims[i];
    return n;
}

/* The op on the context under test and on ref, same inputs: outputs and the
 * gradients of sum(out * w) agree; then gradcheck on the context under test. */
static void check_op(const op_case *c, bool gradcheck)
{
    uint64_t seed = test_seed();
    test_rng rng = {seed | 1};
    cg_context *dev = test_context(), *ref = ref_context();
    cg_tensor *din[3], *rin[3];
    float *vals[3];
    for (size_t i = 0; i < c->ninputs; i++) {
        size_t n = numel(c->shapes[i]);
        vals[i] = random_values(&rng, n, c->lo, c->hi, c->gap);
        din[i] = cg_tensor_from(dev, vals[i], c->shapes[i]);
        rin[i] = cg_tensor_from(ref, vals[i], c->shapes[i]);
        cg_set_requires_grad(din[i], true);
        cg_set_requires_grad(rin[i], true);
    }
    cg_tensor *dout = c->fn(c->user, din, c->ninputs), *rout = c->fn(c->user, rin, c->ninputs);
    cr_assert_not_null(dout, "%s: %s", c->name, cg_error_message(dev));
    cr_assert_not_null(rout, "%s: %s", c->name, cg_error_message(ref));
    cr_assert(cg_tensor_shape(dout).ndim == cg_tensor_shape(rout).ndim);
    size_t n = cg_tensor_numel(dout);
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *w = malloc(n * sizeof *w);
    cg_tensor_read(dout, a, n);
    cg_tensor_read(rout, b, n);
    double scale = 0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(b[i]));
    if (c->reduces)
        for (size_t i = 0; i < c->ninputs; i++)
            for (size_t j = 0; j < numel(c->shapes[i]); j++) scale += fabs(vals[i][j]) * 0.1;
    for (size_t i = 0; i < n; i++)
        assert_close(a[i], b[i], 1e-5 * scale + 1e-6, 1e-5,
                     "%s forward [%zu]: %.9g vs ref %.9g (seed %llu)", c->name, i, a[i], b[i],
                     (unsigned long long)seed);
    for (size_t i = 0; i < n; i++) w[i] = rng_range(&rng, -1, 1);
    cg_tensor *dw = cg_tensor_from(dev, w, cg_tensor_shape(dout));
    cg_tensor *rw = cg_tensor_from(ref, w, cg_tensor_shape(rout));
    cr_assert_eq(cg_backward_ex(dout, dw, false), CG_OK, "%s: %s", c->name, cg_error_message(dev));
    cr_assert_eq(cg_backward_ex(rout, rw, false), CG_OK, "%s: %s", c->name, cg_error_message(ref));
    for (size_t i = 0; i < c->ninputs; i++) {
        size_t m = numel(c->shapes[i]);
        float *ga = malloc(m * sizeof *ga), *gb = malloc(m * sizeof *gb);
        cr_assert_not_null(cg_grad(din[i]), "%s: input %zu got no gradient", c->name, i);
        cg_tensor_read(cg_grad(din[i]), ga, m);
        cg_tensor_read(cg_grad(rin[i]), gb, m);
        double gs = 0;
        for (size_t j = 0; j < m; j++) gs = fmax(gs, fabs(gb[j]));
        for (size_t j = 0; j < m; j++)
            assert_close(ga[j], gb[j], 2e-5 * gs + 1e-6, 1e-4,
                         "%s grad of input %zu [%zu]: %.9g vs ref %.9g (seed %llu)", c->name, i,
                         j, ga[j], gb[j], (unsigned long long)seed);
        free(ga);
        free(gb);
    }
    cg_tape_reset(dev);
    cg_tape_reset(ref);
    if (gradcheck) {
        cg_gradcheck_report rep;
        /* Central differences with eps 1e-2 carry a truncation error of
         * eps^2 f'''/6 (a few 1e-4 relative near log's and pow's poles), so one
         * tolerance serves both paths; a 1% error in a rule fails it. */
        float tol = 2e-3f;
        cg_status st = cg_gradcheck(dev, c->fn, c->user, din, c->ninputs, 1e-2f, tol, tol, &rep);
        cr_assert_eq(st, CG_OK, "%s gradcheck (seed %llu): %s", c->name,
                     (unsigned long long)seed, cg_error_message(dev));
        cr_assert_gt(rep.checked, 0);
    }
    for (size_t i = 0; i < c->ninputs; i++) {
        cg_tensor_free(din[i]);
        cg_tensor_free(rin[i]);
        free(vals[i]);
    }
    cg_tensor_free(dw);
    cg_tensor_free(rw);
    free(a);
    free(b);
    free(w);
    cg_context_free(dev);
    cg_context_free(ref);
}

/* ---- the ops as op_fn ---------------------------------------------------- */

typedef cg_tensor *(*unary_fn)(cg_tensor *);
typedef cg_tensor *(*scalar_fn)(cg_tensor *, float);
typedef cg_tensor *(*binary_fn)(cg_tensor *, cg_tensor *);

static cg_tensor *call_unary(void *u, cg_tensor *const *in, size_t n)
{
    (void)n;
    return ((unary_fn)u)(in[0]);
}

typedef struct scalar_op {
    scalar_fn fn;
    float s;
} scalar_op;
static cg_tensor *call_scalar(void *u, cg_tensor *const *in, size_t n)
{
    (void)n;
    scalar_op *op = u;
    return op->fn(in[0], op->s);
}

static cg_tensor *call_binary(void *u, cg_tensor *const *in, size_t n)
{
    (void)n;
    return ((binary_fn)u)(in[0], in[1]);
}

#define S1(a) ((cg_shape){1, {a}})
#define S2(a, b) ((cg_shape){2, {a, b}})
#define S3(a, b, c) ((cg_shape){3, {a, b, c}})

Test(ops, unary_ops)
{
    struct {
        const char *name;
        unary_fn fn;
        float lo, hi, gap;
    } ops[] = {
        {"neg", cg_neg, -2, 2, 0},          {"square", cg_square, -2, 2, 0},
        {"sqrt", cg_sqrt, 0.2f, 3, 0},      {"exp", cg_exp, -2, 2, 0},
        {"log", cg_log, 0.2f, 3, 0},        {"abs", cg_abs, -2, 2, 0.1f},
        {"relu", cg_relu, -2, 2, 0.1f},     {"tanh", cg_tanh, -2, 2, 0},
        {"sigmoid", cg_sigmoid, -3, 3, 0},
    };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        op_case c = {ops[i].name, call_unary, (void *)ops[i].fn, 1, {S2(3, 5)}, ops[i].lo,
                     ops[i].hi, ops[i].gap};
        check_op(&c, true);
    }
}

Test(ops, scalar_ops)
{
    struct {
        const char *name;
        scalar_op op;
        float lo, hi, gap;
    } ops[] = {
        {"add_scalar", {cg_add_scalar, 1.5f}, -2, 2, 0},
        {"sub_scalar", {cg_sub_scalar, 1.5f}, -2, 2, 0},
        {"rsub_scalar", {cg_rsub_scalar, 1.5f}, -2, 2, 0},
        {"mul_scalar", {cg_mul_scalar, -2.5f}, -2, 2, 0},
        {"div_scalar", {cg_div_scalar, 4.0f}, -2, 2, 0},
        {"rdiv_scalar", {cg_rdiv_scalar, 2.0f}, 0.5f, 2, 0},
        {"pow_scalar 2", {cg_pow_scalar, 2.0f}, -2, 2, 0},
        {"pow_scalar 3", {cg_pow_scalar, 3.0f}, -2, 2, 0},
        {"pow_scalar 2.5", {cg_pow_scalar, 2.5f}, 0.3f, 2, 0},
        {"pow_scalar -1.5", {cg_pow_scalar, -1.5f}, 0.5f, 2, 0},
    };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        op_case c = {ops[i].name, call_scalar, &ops[i].op, 1, {S1(7)}, ops[i].lo, ops[i].hi,
                     ops[i].gap};
        check_op(&c, true);
    }
}

Test(ops, binary_ops_with_broadcasting)
{
    struct {
        const char *name;
        binary_fn fn;
    } ops[] = {{"add", cg_add}, {"sub", cg_sub}, {"mul", cg_mul}, {"div", cg_div}};
    const cg_shape pairs[][2] = {
        {S2(3, 4), S2(3, 4)}, {S2(3, 1), S2(1, 4)}, {S1(1), S2(5, 2)},
        {S2(5, 2), S1(1)},    {S1(4), S2(3, 4)},    {S3(2, 1, 3), S2(4, 1)},
    };
    for (size_t i = 0; i < 4; i++)
        for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++) {
            char name[64];
            snprintf(name, sizeof name, "%s #%zu", ops[i].name, p);
            /* div: the divisor stays away from 0 */
            op_case c = {name, call_binary, (void *)ops[i].fn, 2, {pairs[p][0], pairs[p][1]},
                         -2, 2, 0.5f};
            check_op(&c, true);
        }
}

Test(ops, elementwise_kernels_at_awkward_sizes)
{
    const size_t sizes[] = {1, 2, 11, 255, 256, 257, 4097, 1000003};
    for (size_t s = 0; s < 8; s++) {
        char name[64];
        snprintf(name, sizeof name, "tanh n=%zu", sizes[s]);
        op_case u = {name, call_unary, (void *)cg_tanh, 1, {S1(sizes[s])}, -3, 3, 0};
        check_op(&u, false);
        snprintf(name, sizeof name, "mul bcast n=%zu", sizes[s]);
        op_case b = {name, call_binary, (void *)cg_mul, 2, {S1(1), S1(sizes[s])}, -2, 2, 0};
        check_op(&b, false);
        snprintf(name, sizeof name, "sum n=%zu", sizes[s]);
        op_case r = {name, call_unary, (void *)cg_sum, 1, {S1(sizes[s])}, -2, 2, 0, true};
        check_op(&r, false);
    }
}

typedef struct axis_op {
    int axis;
    bool keepdim, mean;
} axis_op;
static cg_tensor *call_axis(void *u, cg_tensor *const *in, size_t n)
{
    (void)n;
    axis_op *a = u;
    return a->mean ? cg_mean_axis(in[0], a->axis, a->keepdim)
                   : cg_sum_axis(in[0], a->axis, a->keepdim);
}

Test(ops, reductions)
{
    op_case sum = {"sum", call_unary, (void *)cg_sum, 1, {S3(2, 3, 4)}, -2, 2, 0};
    op_case mean = {"mean", call_unary, (void *)cg_mean, 1, {S2(5, 3)}, -2, 2, 0};
    check_op(&sum, true);
    check_op(&mean, true);
    axis_op cases[] = {{0, false, false}, {1, true, false}, {-1, false, true}, {2, true, true}};
    for (size_t i = 0; i < 4; i++) {
        char name[64];
        snprintf(name, sizeof name, "axis %d keepdim %d mean %d", cases[i].axis, cases[i].keepdim,
                 cases[i].mean);
        op_case c = {name, call_axis, &cases[i], 1, {S3(2, 3, 4)}, -2, 2, 0};
        check_op(&c, true);
    }
    /* shape rules */
    cg_context *ctx = test_context();
    cg_tensor *x = cg_tensor_zeros(ctx, CG_SHAPE(2, 3, 4));
    cg_shape s = cg_tensor_shape(cg_sum_axis(x, 1, false));
    cr_assert(s.ndim == 2 && s.dims[0] == 2 && s.dims[1] == 4);
    s = cg_tensor_shape(cg_sum_axis(x, -1, true));
    cr_assert(s.ndim == 3 && s.dims[2] == 1);
    cr_assert_null(cg_sum_axis(x, 3, false));
    cr_assert(strstr(cg_error_message(ctx), "axis 3 is out of range for [2,3,4]"), "%s",
              cg_error_message(ctx));
    cg_tensor_free(x);
    cg_context_free(ctx);
}

typedef struct mm {
    bool ta, tb;
} mm;
static cg_tensor *call_matmul(void *u, cg_tensor *const *in, size_t n)
{
    (void)n;
    mm *m = u;
    return cg_matmul(in[0], in[1], m->ta, m->tb);
}

Test(ops, matmul_with_transposes)
{
    mm cases[] = {{false, false}, {true, false}, {false, true}, {true, true}};
    for (size_t i = 0; i < 4; i++) {
        cg_shape a = cases[i].ta ? S2(4, 3) : S2(3, 4), b = cases[i].tb ? S2(5, 4) : S2(4, 5);
        char name[64];
        snprintf(name, sizeof name, "matmul ta=%d tb=%d", cases[i].ta, cases[i].tb);
        op_case c = {name, call_matmul, &cases[i], 2, {a, b}, -1, 1, 0};
        check_op(&c, true);
    }
    /* Sizes that are not multiples of the tile, forward and backward vs ref. */
    const size_t dims[][3] = {{1, 1, 1}, {17, 33, 15}, {64, 16, 48}, {100, 3, 257}};
    for (size_t i = 0; i < 4; i++)
        for (size_t t = 0; t < 4; t++) {
            size_t M = dims[i][0], K = dims[i][1], N = dims[i][2];
            cg_shape a = cases[t].ta ? S2(K, M) : S2(M, K), b = cases[t].tb ? S2(N, K) : S2(K, N);
            char name[64];
            snprintf(name, sizeof name, "matmul %zux%zux%zu t=%zu", M, K, N, t);
            op_case c = {name, call_matmul, &cases[t], 2, {a, b}, -1, 1, 0};
            check_op(&c, false);
        }
    cg_context *ctx = test_context();
    cg_tensor *a = cg_tensor_zeros(ctx, CG_SHAPE(11, 2)), *b = cg_tensor_zeros(ctx, CG_SHAPE(3, 1));
    cr_assert_null(cg_matmul(a, b, false, false));
    cr_assert_eq(cg_status_of(ctx), CG_ERROR_SHAPE_MISMATCH);
    cr_assert_str_eq(cg_error_message(ctx), "cg_matmul: inner dimensions differ: [11,2] x [3,1]");
    cg_tensor_free(a);
    cg_tensor_free(b);
    cg_context_free(ctx);
}

static cg_tensor *call_reshape(void *u, cg_tensor *const *in, size_t n)
{
    (void)u;
    (void)n;
    return cg_reshape(in[0], CG_SHAPE(4, 3));
}
static cg_tensor *call_at(void *u, cg_tensor *const *in, size_t n)
{
    (void)n;
    return cg_at(in[0], *(size_t *)u);
}
static cg_tensor *call_slice(void *u, cg_tensor *const *in, size_t n)
{
    (void)u;
    (void)n;
    return cg_slice(in[0], 1, 3);
}
static cg_tensor *call_concat(void *u, cg_tensor *const *in, size_t n)
{
    return cg_concat(in, n, *(int *)u);
}
/* Indexing used as the lecture does: w = params[0], b = params[1]. */
static cg_tensor *call_lecture_model(void *u, cg_tensor *const *in, size_t n)
{
    (void)u;
    (void)n;
    return cg_add(cg_mul(cg_at(in[0], 0), in[1]), cg_at(in[0], 1));
}

Test(ops, shape_ops)
{
    op_case r = {"reshape", call_reshape, NULL, 1, {S2(2, 6)}, -2, 2, 0};
    check_op(&r, true);
    size_t i1 = 1, i0 = 0;
    op_case a = {"at 2-D", call_at, &i1, 1, {S2(3, 4)}, -2, 2, 0};
    check_op(&a, true);
    op_case a1 = {"at 1-D", call_at, &i0, 1, {S1(5)}, -2, 2, 0};
    check_op(&a1, true);
    op_case s = {"slice", call_slice, NULL, 1, {S2(4, 3)}, -2, 2, 0};
    check_op(&s, true);
    int ax0 = 0, ax1 = 1;
    op_case c0 = {"concat 0", call_concat, &ax0, 3, {S2(2, 3), S2(1, 3), S2(3, 3)}, -2, 2, 0};
    check_op(&c0, true);
    op_case c1 = {"concat 1", call_concat, &ax1, 2, {S2(2, 3), S2(2, 1)}, -2, 2, 0};
    check_op(&c1, true);
    op_case m = {"params[0] * t_u + params[1]", call_lecture_model, NULL, 2, {S1(2), S1(11)}, -2,
                 2, 0};
    check_op(&m, true);
}

typedef struct loss_op {
    int kind;
    cg_reduction reduction;
} loss_op;
static cg_tensor *call_loss(void *u, cg_tensor *const *in, size_t n)
{
    (void)n;
    loss_op *l = u;
    if (l->kind == 0) return cg_mse_loss(in[0], in[1], l->reduction);
    if (l->kind == 1) return cg_l1_loss(in[0], in[1], l->reduction);
    return cg_huber_loss(in[0], in[1], 1.0f, l->reduction);
}

Test(ops, losses)
{
    const char *names[] = {"mse", "l1", "huber"};
    for (int kind = 0; kind < 3; kind++)
        for (int red = 0; red < 3; red++) {
            loss_op l = {kind, (cg_reduction)red};
            char name[64];
            snprintf(name, sizeof name, "%s reduction %d", names[kind], red);
            /* targets and predictions drawn far enough apart that |p - y|
             * avoids l1's kink; huber's kink at 1 is crossed rarely enough */
            op_case c = {name, call_loss, &l, 2, {S1(9), S1(9)}, -3, 3, 0.2f};
            check_op(&c, kind == 0);
        }
    /* Values: mse of [1,2] vs [3,5] is (4 + 9) / 2. */
    cg_context *ctx = test_context();
    cg_tensor *p = cg_tensor_from(ctx, (float[]){1, 2}, CG_SHAPE(2));
    cg_tensor *y = cg_tensor_from(ctx, (float[]){3, 5}, CG_SHAPE(2));
    assert_close(cg_item(cg_mse_loss(p, y, CG_REDUCTION_MEAN)), 6.5, 0, 1e-7, "mse");
    assert_close(cg_item(cg_mse_loss(p, y, CG_REDUCTION_SUM)), 13.0, 0, 1e-7, "mse sum");
    assert_close(cg_item(cg_l1_loss(p, y, CG_REDUCTION_MEAN)), 2.5, 0, 1e-7, "l1");
    /* huber, delta 1: |d| = 2, 3 -> 1.5, 2.5 */
    assert_close(cg_item(cg_huber_loss(p, y, 1.0f, CG_REDUCTION_SUM)), 4.0, 0, 1e-7, "huber");
    cr_assert_null(cg_huber_loss(p, y, 0.0f, CG_REDUCTION_MEAN));
    cr_assert(strstr(cg_error_message(ctx), "delta"));
    cg_tape_reset(ctx);
    cg_tensor_free(p);
    cg_tensor_free(y);
    cg_context_free(ctx);
}

/* A [n,1] prediction against a [n] target: broadcasting would give [n,n], the
 * loss over every pair (PyTorch's "Using a target size ... different to the
 * input size" warning). Every loss refuses it, names both shapes and says
 * how to fix it; same shapes still work. */
Test(ops, losses_refuse_operands_of_different_shapes)
{
    cg_context *ctx = test_context();
    cg_tensor *p = cg_tensor_from(ctx, (float[]){1, 2, 3}, CG_SHAPE(3, 1));
    cg_tensor *y = cg_tensor_from(ctx, (float[]){1, 2, 4}, CG_SHAPE(3));
    cg_set_requires_grad(p, true);
    const char *names[] = {"cg_mse_loss", "cg_l1_loss", "cg_huber_loss"};
    for (int kind = 0; kind < 3; kind++)
        for (int red = 0; red < 3; red++) {
            cg_tensor *in[2] = {p, y};
            loss_op l = {kind, (cg_reduction)red};
            cr_assert_null(call_loss(&l, in, 2), "%s reduction %d", names[kind], red);
            cr_assert_eq(cg_status_of(ctx), CG_ERROR_SHAPE_MISMATCH, "%s: %s", names[kind],
                         cg_error_message(ctx));
            const char *msg = cg_error_message(ctx);
            cr_assert(strstr(msg, names[kind]) && strstr(msg, "[3,1]") && strstr(msg, "[3]") &&
                          strstr(msg, "cg_reshape"),
                      "message: %s", msg);
            cg_clear_error(ctx);
            /* Either order of the operands. */
            cg_tensor *swapped[2] = {y, p};
            cr_assert_null(call_loss(&l, swapped, 2));
            cr_assert_eq(cg_status_of(ctx), CG_ERROR_SHAPE_MISMATCH);
            cg_clear_error(ctx);
        }
    /* The fix the message gives: mean((p - y)^2) over the 3 pairs, 1/3. */
    cg_tensor *loss = cg_mse_loss(cg_reshape(p, cg_tensor_shape(y)), y, CG_REDUCTION_MEAN);
    assert_close(cg_item(loss), 1.0 / 3.0, 0, 1e-7, "mse after reshape");
    cr_assert_eq(cg_backward(loss), CG_OK, "%s", cg_error_message(ctx));
    float g[3];
    cr_assert_eq(cg_tensor_read(cg_grad(p), g, 3), CG_OK);
    assert_close(g[2], 2.0 * (3.0 - 4.0) / 3.0, 0, 1e-7, "d/dp of the pair that differs");
    cr_assert_eq(g[0], 0.0f);
    cg_tape_reset(ctx);
    cg_tensor_free(p);
    cg_tensor_free(y);
    cg_context_free(ctx);
}

Test(ops, gradcheck_catches_a_wrong_rule)
{
    /* |x| at a kink: backward says 0 (sign), central differences straddle it
     * asymmetrically when x is offset from 0 by less than eps. */
    cg_context *ctx = test_context();
    cg_tensor *x = cg_tensor_from(ctx, (float[]){0.004f}, CG_SHAPE(1));
    cg_set_requires_grad(x, true);
    cg_gradcheck_report rep;
    cr_assert_eq(cg_gradcheck(ctx, call_unary, (void *)cg_relu, &x, 1, 1e-2f, 1e-3f, 1e-3f, &rep),
                 CG_ERROR_INVALID_DATA);
    cr_assert_eq(rep.failures, 1);
    cr_assert(strstr(cg_error_message(ctx), "differ"), "%s", cg_error_message(ctx));
    cg_tensor_free(x);
    cg_context_free(ctx);
}

/* A shape literal with more dims than a shape holds (ndim past CG_MAX_DIMS):
 * the message is formatted without reading past dims (ASan saw it read). */
Test(ops, reshape_refuses_a_bad_dimension_count_without_reading_past_the_shape)
{
    cg_context *ctx = test_context();
    cg_tensor *x = cg_tensor_zeros(ctx, CG_SHAPE(6));
    const int bad[] = {CG_MAX_DIMS + 1, 64, 0, -3};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cg_shape s = {bad[i], {1, 1, 2, 3}};
        cr_assert_null(cg_reshape(x, s));
        cr_assert_eq(cg_status_of(ctx), CG_ERROR_SHAPE_MISMATCH);
        char want[64];
        snprintf(want, sizeof want, "1 to %d dimensions (got %d)", CG_MAX_DIMS, bad[i]);
        cr_assert(strstr(cg_error_message(ctx), want), "%s", cg_error_message(ctx));
        cg_clear_error(ctx);
        /* The other places that format a user's shape. */
        cr_assert_null(cg_tensor_zeros(ctx, s));
        cr_assert_eq(cg_status_of(ctx), CG_ERROR_SHAPE_MISMATCH, "%s", cg_error_message(ctx));
        cg_clear_error(ctx);
        cr_assert_null(cg_rand_uniform(ctx, s, 0.0f, 1.0f, 1, 0));
        cr_assert_eq(cg_status_of(ctx), CG_ERROR_SHAPE_MISMATCH, "%s", cg_error_message(ctx));
        cg_clear_error(ctx);
    }
    /* A product that wraps around size_t to 6 is not 6 elements. */
    cg_shape wraps = {2, {((size_t)1 << 63) + 3, 2}};
    cr_assert_null(cg_reshape(x, wraps));
    cr_assert(strstr(cg_error_message(ctx), "cannot view [6] as"), "%s", cg_error_message(ctx));
    cg_tensor_free(x);
    cg_context_free(ctx);
}
