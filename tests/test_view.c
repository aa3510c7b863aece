/* Views: reshape, transpose, permute, expand, narrow, select, slice and at
 * share their input's storage (nothing allocated), read back in row-major
 * order, feed ops directly or through contiguous copies, pass gradcheck, and
 * writes through them reach the base. Ownership: tensors freed in any order
 * around backward and step leave correct results and no memory behind. */
#include "helpers.h"

static cg_tensor *iota(cg_context *ctx, cg_shape shape)
{
    size_t n = 1;
    for (int d = 0; d < shape.ndim; d++) n *= shape.dims[d];
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = (float)i;
    cg_tensor *t = cg_tensor_from(ctx, v, shape);
    free(v);
    cr_assert_not_null(t, "%s", cg_error_message(ctx));
    return t;
}

static void read_all(const cg_tensor *t, float *out)
{
    cg_context *ctx = cg_tensor_context(t);
    cr_assert_eq(cg_tensor_read(t, out, cg_tensor_numel(t)), CG_OK, "%s", cg_error_message(ctx));
}

static unsigned long long allocated(cg_context *ctx)
{
    return cg_context_stats_of(ctx).bytes_allocated;
}

Test(view, views_allocate_nothing_and_read_in_row_major_order)
{
    cg_context *ctx = test_context();
    cg_tensor *x = iota(ctx, CG_SHAPE(2, 3, 4)); /* x[i][j][k] = 12 i + 4 j + k */
    unsigned long long before = allocated(ctx);
    cg_tensor *t = cg_transpose(x, 0, 2);                   /* [4,3,2] */
    cg_tensor *p = cg_permute(x, (int[]){1, 2, 0}, 3);      /* [3,4,2] */
    cg_tensor *n = cg_narrow(x, -1, 1, 2);                  /* [2,3,2] */
    cg_tensor *s = cg_select(x, 1, 2);                      /* [2,4] */
    cg_tensor *e = cg_expand(cg_select(n, 0, 1), CG_SHAPE(5, 3, 2)); /* [5,3,2] */
    cg_tensor *r = cg_reshape(x, CG_SHAPE(6, 4));
    cg_tensor *sl = cg_slice(r, 2, 5);                      /* rows 2..4 */
    cg_tensor *a = cg_at(cg_at(cg_at(x, 1), 0), 3);         /* x[1][0][3] */
    cr_assert_eq(cg_status_of(ctx), CG_OK, "%s", cg_error_message(ctx));
    cr_assert_eq(allocated(ctx), before, "views allocate nothing");
    cr_assert(!cg_is_contiguous(t) && !cg_is_contiguous(n) && cg_is_contiguous(r));
    cr_assert(!cg_is_contiguous(sl), "offset into the storage");

    float v[64];
    read_all(t, v);
    for (size_t k = 0; k < 4; k++)
        for (size_t j = 0; j < 3; j++)
            for (size_t i = 0; i < 2; i++)
                cr_assert_eq(v[(k * 3 + j) * 2 + i], 12 * i + 4 * j + k);
    read_all(p, v);
    for (size_t j = 0; j < 3; j++)
        for (size_t k = 0; k < 4; k++)
            for (size_t i = 0; i < 2; i++)
                cr_assert_eq(v[(j * 4 + k) * 2 + i], 12 * i + 4 * j + k);
    read_all(n, v);
    for (size_t i = 0; i < 2; i++)
        for (size_t j = 0; j < 3; j++)
            for (size_t k = 0; k < 2; k++) cr_assert_eq(v[(i * 3 + j) * 2 + k], 12 * i + 4 * j + k + 1);
    read_all(s, v);
    for (size_t i = 0; i < 2; i++)
        for (size_t k = 0; k < 4; k++) cr_assert_eq(v[i * 4 + k], 12 * i + 8 + k);
    read_all(e, v);
    for (size_t m = 0; m < 5; m++)
        for (size_t j = 0; j < 3; j++)
            for (size_t k = 0; k < 2; k++) cr_assert_eq(v[(m * 3 + j) * 2 + k], 12 + 4 * j + k + 1);
    read_all(sl, v);
    for (size_t i = 0; i < 12; i++) cr_assert_eq(v[i], 8 + i);
    cr_assert_eq(cg_item(a), 15.0f);
    cg_tape_reset(ctx);
    cg_tensor_free(x);
    cr_assert_eq(allocated(ctx), 0, "the storage went with its last view");
    cg_context_free(ctx);
}

/* Ops on views against the same ops on contiguous copies made on the host. */
Test(view, ops_read_non_contiguous_inputs)
{
    cg_context *ctx = test_context();
    test_rng rng = {test_seed() | 1};
    size_t M = 7, K = 5, N = 3;
    float A[35], B[15], At[35];
    for (size_t i = 0; i < M * K; i++) A[i] = rng_range(&rng, -1, 1);
    for (size_t i = 0; i < K * N; i++) B[i] = rng_range(&rng, -1, 1);
    for (size_t i = 0; i < M; i++)
        for (size_t k = 0; k < K; k++) At[k * M + i] = A[i * K + k];
    cg_tensor *at = cg_tensor_from(ctx, At, CG_SHAPE(K, M)); /* A^T stored */
    cg_tensor *b = cg_tensor_from(ctx, B, CG_SHAPE(K, N));
    cg_tensor *a = cg_transpose(at, 0, 1);                   /* A, strided */
    /* matmul of a strided operand */
    float C[21];
    read_all(cg_matmul(a, b, false, false), C);
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < N; j++) {
            double s = 0;
            for (size_t k = 0; k < K; k++) s += (double)A[i * K + k] * B[k * N + j];
            assert_close(C[i * N + j], s, 1e-5, 1e-5, "C[%zu,%zu]", i, j);
        }
    /* binary with a transposed and an expanded operand, no copies */
    cg_tensor *col = cg_narrow(b, 1, 1, 1);               /* B[:,1:2], [K,1] */
    cg_tensor *rowv = cg_select(cg_transpose(col, 0, 1), 0, 0); /* [K] */
    unsigned long long before = allocated(ctx);
    cg_tensor *like = cg_tensor_zeros(ctx, CG_SHAPE(M, K)); /* what one output takes */
    unsigned long long one = allocated(ctx) - before;
    cg_tensor_free(like);
    cg_tensor *sum = cg_add(a, cg_expand(rowv, CG_SHAPE(M, K)));
    cr_assert_not_null(sum, "%s", cg_error_message(ctx));
    cr_assert_eq(allocated(ctx), before + one, "only the output is allocated");
    float S[35];
    read_all(sum, S);
    for (size_t i = 0; i < M; i++)
        for (size_t k = 0; k < K; k++)
            cr_assert_eq(S[i * K + k], A[i * K + k] + B[k * N + 1], "S[%zu,%zu]", i, k);
    /* a unary op and a reduction over strided inputs (contiguous copies) */
    float E[35], T;
    read_all(cg_exp(a), E);
    for (size_t i = 0; i < M * K; i++) assert_close(E[i], exp(A[i]), 1e-6, 1e-6, "exp %zu", i);
    T = cg_item(cg_sum(cg_narrow(a, 0, 2, 3)));
    double t = 0;
    for (size_t i = 2; i < 5; i++)
        for (size_t k = 0; k < K; k++) t += A[i * K + k];
    assert_close(T, t, 1e-5, 1e-5, "sum of rows 2..4");
    cr_assert_eq(cg_status_of(ctx), CG_OK, "%s", cg_error_message(ctx));
    cg_tape_reset(ctx);
    cg_tensor_free(at);
    cg_tensor_free(b);
    cr_assert_eq(allocated(ctx), 0);
    cg_context_free(ctx);
}

Test(view, broadcasting_over_eight_dimensions)
{
    cg_context *ctx = test_context();
    cg_shape sa = CG_SHAPE(2, 1, 2, 1, 2, 1, 2, 1), sb = CG_SHAPE(1, 2, 1, 2, 1, 2, 1, 2);
    cg_tensor *a = iota(ctx, sa), *b = iota(ctx, sb);
    cg_tensor *c = cg_mul(a, b);
    cr_assert_not_null(c, "%s", cg_error_message(ctx));
    cr_assert_eq(cg_tensor_shape(c).ndim, 8);
    float v[256];
    read_all(c, v);
    for (size_t i = 0; i < 256; i++) {
        size_t idx[8], r = i;
        for (int d = 7; d >= 0; d--) {
            idx[d] = r % 2;
            r /= 2;
        }
        float av = (float)(idx[0] * 8 + idx[2] * 4 + idx[4] * 2 + idx[6]);
        float bv = (float)(idx[1] * 8 + idx[3] * 4 + idx[5] * 2 + idx[7]);
        cr_assert_eq(v[i], av * bv, "element %zu", i);
    }
    cg_tape_reset(ctx);
    cg_tensor_free(a);
    cg_tensor_free(b);
    cg_context_free(ctx);
}

Test(view, writes_through_a_view_reach_the_base)
{
    cg_context *ctx = test_context();
    cg_tensor *x = iota(ctx, CG_SHAPE(3, 4));
    cg_tensor *col = cg_select(x, 1, 2); /* x[:,2] */
    cr_assert_eq(cg_tensor_write(col, (float[]){-1, -2, -3}, 3), CG_OK, "%s",
                 cg_error_message(ctx));
    float v[12];
    read_all(x, v);
    for (size_t i = 0; i < 12; i++)
        cr_assert_eq(v[i], i % 4 == 2 ? -(float)(i / 4 + 1) : (float)i, "x[%zu]", i);
    cg_tensor *e = cg_expand(cg_at(x, 0), CG_SHAPE(2, 4));
    float w[8] = {0};
    cr_assert_eq(cg_tensor_write(e, w, 8), CG_ERROR_UNSUPPORTED);
    cr_assert(strstr(cg_error_message(ctx), "expanded view"), "%s", cg_error_message(ctx));
    cg_tape_reset(ctx);
    cg_tensor_free(x);
    cg_context_free(ctx);
}

Test(view, bad_arguments_are_named)
{
    cg_context *ctx = test_context();
    cg_tensor *x = iota(ctx, CG_SHAPE(2, 3));
    cr_assert_null(cg_transpose(x, 0, 2));
    cr_assert(strstr(cg_error_message(ctx), "cg_transpose: dimension 2 is out of range"), "%s",
              cg_error_message(ctx));
    cg_clear_error(ctx);
    cr_assert_null(cg_permute(x, (int[]){0, 0}, 2));
    cr_assert(strstr(cg_error_message(ctx), "appears twice"), "%s", cg_error_message(ctx));
    cg_clear_error(ctx);
    cr_assert_null(cg_permute(x, (int[]){0}, 1));
    cr_assert_eq(cg_status_of(ctx), CG_ERROR_INVALID_ARGUMENT);
    cg_clear_error(ctx);
    cr_assert_null(cg_expand(x, CG_SHAPE(2, 4)));
    cr_assert(strstr(cg_error_message(ctx), "cannot expand [2,3] to [2,4]"), "%s",
              cg_error_message(ctx));
    cg_clear_error(ctx);
    cr_assert_null(cg_expand(x, CG_SHAPE(3)));
    cr_assert_eq(cg_status_of(ctx), CG_ERROR_SHAPE_MISMATCH);
    cg_clear_error(ctx);
    cr_assert_null(cg_narrow(x, 1, 2, 2));
    cr_assert(strstr(cg_error_message(ctx), "out of range for dimension 1 of [2,3]"), "%s",
              cg_error_message(ctx));
    cg_clear_error(ctx);
    cr_assert_null(cg_select(x, -1, 3));
    cr_assert_eq(cg_status_of(ctx), CG_ERROR_INVALID_ARGUMENT);
    cg_clear_error(ctx);
    cr_assert_null(cg_reshape(x, CG_SHAPE(4)));
    cr_assert_eq(cg_status_of(ctx), CG_ERROR_SHAPE_MISMATCH);
    cg_clear_error(ctx);
    cg_tape_reset(ctx);
    cg_tensor_free(x);
    cg_context_free(ctx);
}

/* ---- gradients through views ------------------------------------------------ */

static cg_tensor *through_views(void *user, cg_tensor *const *in, size_t n)
{
    (void)user;
    (void)n;
    cg_tensor *x = in[0], *w = in[1]; /* x [3,4,2], w [4] */
    cg_tensor *t = cg_permute(x, (int[]){2, 0, 1}, 3);          /* [2,3,4] */
    cg_tensor *m = cg_mul(t, cg_expand(w, CG_SHAPE(2, 3, 4)));   /* w repeats */
    cg_tensor *s = cg_narrow(cg_transpose(m, 1, 2), 1, 1, 2);    /* [2,2,3] */
    cg_tensor *r = cg_reshape(s, CG_SHAPE(4, 3));                /* a copy: s is strided */
    cg_tensor *q = cg_tanh(cg_select(r, 0, 1));                  /* [4] */
    return cg_add(cg_matmul(cg_transpose(r, 0, 1), r, false, false), cg_sum(q));
}

Test(view, gradients_flow_through_views)
{
    cg_context *ctx = test_context();
    test_rng rng = {test_seed() | 1};
    float xv[24], wv[4];
    for (int i = 0; i < 24; i++) xv[i] = rng_range(&rng, -1, 1);
    for (int i = 0; i < 4; i++) wv[i] = rng_range(&rng, -1, 1);
    cg_tensor *in[2] = {cg_tensor_from(ctx, xv, CG_SHAPE(3, 4, 2)),
                        cg_tensor_from(ctx, wv, CG_SHAPE(4))};
    cg_set_requires_grad(in[0], true);
    cg_set_requires_grad(in[1], true);
    cg_gradcheck_report rep;
    cg_status s = cg_gradcheck(ctx, through_views, NULL, in, 2, 1e-2f, 2e-3f, 2e-2f, &rep);
    cr_assert_eq(s, CG_OK, "%s", cg_error_message(ctx));
    cr_assert_eq(rep.checked, 28);
    cg_tape_reset(ctx);
    cg_tensor_free(in[0]);
    cg_tensor_free(in[1]);
    cg_context_free(ctx);
}

/* A broadcast over all eight dimensions, both operands' gradients summed
 * back over the dimensions they were stretched along. */
static cg_tensor *eight_d(void *user, cg_tensor *const *in, size_t n)
{
    (void)user;
    (void)n;
    return cg_div(cg_mul(in[0], in[1]), cg_add_scalar(cg_abs(in[1]), 1.0f));
}

Test(view, gradients_broadcast_over_eight_dimensions)
{
    cg_context *ctx = test_context();
    test_rng rng = {test_seed() | 1};
    float av[16], bv[16];
    for (int i = 0; i < 16; i++) {
        av[i] = rng_range(&rng, -1, 1);
        bv[i] = rng_range(&rng, -1, 1);
    }
    cg_tensor *in[2] = {cg_tensor_from(ctx, av, CG_SHAPE(2, 1, 2, 1, 2, 1, 2, 1)),
                        cg_tensor_from(ctx, bv, CG_SHAPE(2, 1, 2, 1, 2, 1, 2))};
    cg_set_requires_grad(in[0], true);
    cg_set_requires_grad(in[1], true);
    cg_gradcheck_report rep;
    cg_status s = cg_gradcheck(ctx, eight_d, NULL, in, 2, 1e-2f, 2e-3f, 2e-2f, &rep);
    cr_assert_eq(s, CG_OK, "%s", cg_error_message(ctx));
    cr_assert_eq(rep.checked, 32);
    cg_tape_reset(ctx);
    cg_tensor_free(in[0]);
    cg_tensor_free(in[1]);
    cg_context_free(ctx);
}

/* ---- ownership ------------------------------------------------------------- */

/* One training step of y = sum((x W)^2) with W updated by SGD; which tensors
 * are freed where (bit mask) must not change the result or leak. */
static float step_with_frees(cg_context *ctx, unsigned frees, float *w_out)
{
    cg_tensor *x = cg_tensor_from(ctx, (float[]){1, 2, 3, 4, 5, 6}, CG_SHAPE(2, 3));
    cg_tensor *w = cg_tensor_from(ctx, (float[]){0.1f, -0.2f, 0.3f}, CG_SHAPE(3, 1));
    cg_set_requires_grad(w, true);
    cg_optim_options o = cg_optim_defaults(CG_OPTIM_SGD);
    o.lr = 0.01f;
    cg_optimizer *opt = cg_optimizer_create(ctx, CG_OPTIM_SGD, &w, 1, &o);
    cg_tensor *h = cg_matmul(x, w, false, false);
    cg_tensor *k = cg_scalar(ctx, 0.5f);
    cg_tensor *loss = cg_sum(cg_mul(cg_square(h), k));
    if (frees & 1) cg_tensor_free(x); /* an input the matmul's backward reads */
    if (frees & 2) cg_tensor_free(h); /* an op's output: the tape's, ignored */
    cr_assert_eq(cg_backward(loss), CG_OK, "%s", cg_error_message(ctx));
    if (frees & 4) cg_tensor_free(x);
    float value = cg_item(loss);
    cr_assert_eq(cg_step(opt), CG_OK, "%s", cg_error_message(ctx));
    cr_assert_eq(cg_tensor_read(w, w_out, 3), CG_OK);
    cg_tape_reset(ctx);
    if (!(frees & 5)) cg_tensor_free(x);
    cg_optimizer_free(opt);
    cg_tensor_free(w);
    return value;
}

Test(view, freeing_in_any_order_keeps_results_and_leaks_nothing)
{
    cg_context *ctx = test_context();
    float w0[3], w[3];
    float l0 = step_with_frees(ctx, 0, w0);
    for (unsigned f = 1; f < 8; f++) {
        if ((f & 1) && (f & 4)) continue; /* x freed once */
        float l = step_with_frees(ctx, f, w);
        cr_assert_eq(l, l0, "frees %u: loss", f);
        for (int i = 0; i < 3; i++) cr_assert_eq(w[i], w0[i], "frees %u: w[%d]", f, i);
        cr_assert_eq(allocated(ctx), 0, "frees %u: nothing left", f);
    }
    /* loss = 0.5 * sum((x w)^2): x w = [0.6, 1.2] -> 0.5 * (0.36 + 1.44) */
    assert_close(l0, 0.9, 1e-6, 1e-6, "loss");
    cg_context_free(ctx);
}

Test(view, a_view_outlives_its_base_handle)
{
    cg_context *ctx = test_context();
    cg_tensor *x = iota(ctx, CG_SHAPE(4, 2));
    cg_tensor *t = cg_transpose(x, 0, 1);
    cg_tensor_free(x); /* the view keeps the storage */
    float v[8];
    read_all(t, v);
    for (size_t j = 0; j < 2; j++)
        for (size_t i = 0; i < 4; i++) cr_assert_eq(v[j * 4 + i], 2 * i + j);
    cg_tape_reset(ctx);
    cr_assert_eq(allocated(ctx), 0);
    cg_context_free(ctx);
}
