/* Every reduction family in both kernel shapes (issue 8, item 7): full sums
 * and means, axis sums over [outer, len, inner], the broadcast gradient's
 * sum back to an operand (sum_to, in every kept/reduced layout up to
 * CG_MAX_DIMS dimensions), the clip norm, L-BFGS's vector reductions and
 * the embedding's row sums. Each against an oracle in double on fresh
 * random data of awkward sizes, and each run twice: the same bits. On the
 * reference path the "GPU shape" is the reference path again. */
#include "helpers.h"
/* The private entry points (cg__vreduce has no public caller but L-BFGS)
 * and the context's allocation limit. */
#include "internal.h"

static const cg_kernel_shape shapes[2] = {CG_KERNEL_SHAPE_CPU, CG_KERNEL_SHAPE_GPU};
static const char *const shape_names[2] = {"cpu", "gpu"};

static bool on_ref(void)
{
    const char *d = getenv("CLGRAD_DEVICE");
    return d && strcmp(d, "ref") == 0;
}

static cg_context *shaped_context(int s)
{
    cg_context *ctx = test_context();
    cr_assert_eq(cg_context_set_kernel_shape(ctx, shapes[s]), CG_OK);
    if (!on_ref()) cr_assert_eq(cg_context_kernel_shape(ctx), shapes[s]);
    return ctx;
}

static float *random_floats(test_rng *r, size_t n, double lo, double hi)
{
    float *v = malloc((n ? n : 1) * sizeof *v);
    cr_assert_not_null(v);
    for (size_t i = 0; i < n; i++) v[i] = rng_range(r, lo, hi);
    return v;
}

static float *read_all(const cg_tensor *t)
{
    cr_assert_not_null(t);
    size_t n = cg_tensor_numel(t);
    float *v = malloc(n * sizeof *v);
    cr_assert_not_null(v);
    cr_assert_eq(cg_tensor_read(t, v, n), CG_OK);
    return v;
}

/* A sum computed with compensation (either shape) is within a few float
 * roundings of the sum of the magnitudes. */
#define SUM_TOL(abs_sum) (2e-6 * (abs_sum) + 1e-30)

/* ---- full sums and means --------------------------------------------------- */

Test(reduce, full_sums_and_means_in_both_shapes)
{
    const size_t sizes[] = {1, 2, 255, 256, 257, 4097, 100003};
    uint64_t seed = test_seed();
    test_rng rng = {seed | 1};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        size_t n = sizes[k];
        float *x = random_floats(&rng, n, -0.5, 1.5);
        double want = 0, abs_sum = 0;
        for (size_t i = 0; i < n; i++) {
            want += x[i];
            abs_sum += fabs(x[i]);
        }
        for (int s = 0; s < 2; s++) {
            cg_context *ctx = shaped_context(s);
            cg_tensor *t = cg_tensor_from(ctx, x, CG_SHAPE(n));
            float sum1 = cg_item(cg_sum(t)), sum2 = cg_item(cg_sum(t));
            float mean = cg_item(cg_mean(t));
            cr_assert_eq(cg_status_of(ctx), CG_OK, "%s", cg_error_message(ctx));
            assert_close(sum1, want, SUM_TOL(abs_sum), 0, "%s n=%zu sum %.9g vs %.9g (seed %llu)",
                         shape_names[s], n, sum1, want, (unsigned long long)seed);
            assert_close(mean, want / n, SUM_TOL(abs_sum) / n, 1e-7,
                         "%s n=%zu mean %.9g vs %.9g (seed %llu)", shape_names[s], n, mean,
                         want / n, (unsigned long long)seed);
            cr_assert(memcmp(&sum1, &sum2, sizeof sum1) == 0, "%s n=%zu: %.9g then %.9g",
                      shape_names[s], n, sum1, sum2);
            cg_tensor_free(t);
            cg_context_free(ctx);
        }
        free(x);
    }
}

Test(reduce, full_sums_keep_inf_and_nan)
{
    for (int s = 0; s < 2; s++) {
        cg_context *ctx = shaped_context(s);
        float *x = calloc(4097, sizeof *x);
        x[4000] = INFINITY;
        cg_tensor *t = cg_tensor_from(ctx, x, CG_SHAPE(4097));
        cr_assert(isinf(cg_item(cg_sum(t))), "%s", shape_names[s]);
        x[17] = NAN;
        cg_tensor *u = cg_tensor_from(ctx, x, CG_SHAPE(4097));
        cr_assert(isnan(cg_item(cg_sum(u))), "%s", shape_names[s]);
        cg_tensor_free(t);
        cg_tensor_free(u);
        cg_context_free(ctx);
        free(x);
    }
}

/* ---- axis sums ------------------------------------------------------------ */

Test(reduce, axis_sums_over_awkward_layouts_in_both_shapes)
{
    const size_t cases[][3] = {{3, 257, 5},  {7, 1, 9},     {257, 3, 1}, {2, 100003, 1},
                               {1, 4097, 2}, {5, 33, 257},  {4097, 2, 3}, {1, 255, 1},
                               {1, 100003, 3}, {11, 255, 1}, {3, 1, 100003}};
    uint64_t seed = test_seed();
    test_rng rng = {seed | 1};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        size_t outer = cases[c][0], len = cases[c][1], inner = cases[c][2];
        size_t n = outer * len * inner;
        float *x = random_floats(&rng, n, -1.0, 2.0);
        double *want = calloc(outer * inner, sizeof *want), *abs_sum = calloc(outer * inner,
                                                                               sizeof *abs_sum);
        for (size_t o = 0; o < outer; o++)
            for (size_t l = 0; l < len; l++)
                for (size_t i = 0; i < inner; i++) {
                    float v = x[(o * len + l) * inner + i];
                    want[o * inner + i] += v;
                    abs_sum[o * inner + i] += fabs(v);
                }
        for (int s = 0; s < 2; s++) {
            cg_context *ctx = shaped_context(s);
            cg_tensor *t = cg_tensor_from(ctx, x, CG_SHAPE(outer, len, inner));
            cg_tensor *sum = cg_sum_axis(t, 1, false), *again = cg_sum_axis(t, 1, true);
            cg_tensor *mean = cg_mean_axis(t, -2, false);
            cr_assert_eq(cg_status_of(ctx), CG_OK, "%s", cg_error_message(ctx));
            float *got = read_all(sum), *got2 = read_all(again), *gm = read_all(mean);
            for (size_t j = 0; j < outer * inner; j++) {
                assert_close(got[j], want[j], SUM_TOL(abs_sum[j]), 0,
                             "%s [%zu,%zu,%zu] output %zu: %.9g vs %.9g (seed %llu)",
                             shape_names[s], outer, len, inner, j, got[j], want[j],
                             (unsigned long long)seed);
                assert_close(gm[j], want[j] / len, SUM_TOL(abs_sum[j]) / len, 1e-7,
                             "%s [%zu,%zu,%zu] mean %zu: %.9g vs %.9g (seed %llu)",
                             shape_names[s], outer, len, inner, j, gm[j], want[j] / len,
                             (unsigned long long)seed);
            }
            cr_assert(memcmp(got, got2, outer * inner * sizeof *got) == 0,
                      "%s [%zu,%zu,%zu]: two runs differ", shape_names[s], outer, len, inner);
            free(got);
            free(got2);
            free(gm);
            cg_tensor_free(t);
            cg_context_free(ctx);
        }
        free(x);
        free(want);
        free(abs_sum);
    }
}

/* ---- sum_to: broadcast gradients ----------------------------------------- */

static size_t shape_numel(cg_shape s)
{
    size_t n = 1;
    for (int k = 0; k < s.ndim; k++) n *= s.dims[k];
    return n;
}

/* b's gradient from loss = sum((a + b) * w), b broadcast onto out: the sum
 * of w over b's broadcast dimensions, in double. abs gets sum |w|. */
static void sum_to_oracle(const float *w, cg_shape out, cg_shape b, double *want, double *abs)
{
    size_t n = shape_numel(out), bn = shape_numel(b);
    memset(want, 0, bn * sizeof *want);
    memset(abs, 0, bn * sizeof *abs);
    int lead = out.ndim - b.ndim;
    for (size_t e = 0; e < n; e++) {
        size_t r = e, at = 0, stride = 1;
        for (int k = out.ndim - 1; k >= 0; k--) {
            size_t idx = r % out.dims[k];
            r /= out.dims[k];
            if (k >= lead) {
                size_t bd = b.dims[k - lead];
                at += (bd == 1 ? 0 : idx) * stride;
                stride *= bd;
            }
        }
        want[at] += w[e];
        abs[at] += fabs(w[e]);
    }
}

/* out's shapes and b's, covering each layout the runs collapse to: [R,K],
 * [K,R], [K,R,K], [R,K,R], a full reduction, extent-1 dimensions on both
 * sides, and alternating runs over all CG_MAX_DIMS dimensions. */
static size_t broadcast_cases(cg_shape *outs, cg_shape *bs)
{
    size_t n = 0;
#define BCASE(o, b) (outs[n] = (o), bs[n++] = (b))
    BCASE(CG_SHAPE(4097, 3), CG_SHAPE(3));
    BCASE(CG_SHAPE(3, 4097), CG_SHAPE(3, 1));
    BCASE(CG_SHAPE(5, 257, 3), CG_SHAPE(5, 1, 3));
    BCASE(CG_SHAPE(5, 257, 3), CG_SHAPE(257, 1));
    BCASE(CG_SHAPE(100003, 2), CG_SHAPE(1, 2));
    BCASE(CG_SHAPE(2, 100003), CG_SHAPE(2, 1));
    BCASE(CG_SHAPE(255), CG_SHAPE(1));
    BCASE(CG_SHAPE(7, 1, 9), CG_SHAPE(1, 1, 9));
    BCASE(CG_SHAPE(257, 255), CG_SHAPE(257, 1));
    BCASE(CG_SHAPE(1, 1), CG_SHAPE(1));
#undef BCASE
    /* Every other dimension reduced, over the most dimensions there are. */
    cg_shape o = {CG_MAX_DIMS, {0}}, b = {CG_MAX_DIMS, {0}};
    for (int k = 0; k < CG_MAX_DIMS; k++) {
        o.dims[k] = 2 + (size_t)(k % 3);
        b.dims[k] = k % 2 ? 1 : o.dims[k];
    }
    outs[n] = o;
    bs[n++] = b;
    b.dims[0] = 1; /* ... and with a reduced run first */
    outs[n] = o;
    bs[n++] = b;
    return n;
}

Test(reduce, broadcast_gradients_sum_to_every_layout_in_both_shapes)
{
    cg_shape outs[16], bs[16];
    size_t ncases = broadcast_cases(outs, bs);
    uint64_t seed = test_seed();
    test_rng rng = {seed | 1};
    for (size_t c = 0; c < ncases; c++) {
        size_t n = shape_numel(outs[c]), bn = shape_numel(bs[c]);
        float *w = random_floats(&rng, n, -1.0, 2.0), *a0 = random_floats(&rng, n, -1, 1);
        float *b0 = random_floats(&rng, bn, -1, 1);
        double *want = malloc(bn * sizeof *want), *abs = malloc(bn * sizeof *abs);
        sum_to_oracle(w, outs[c], bs[c], want, abs);
        char os[64], bsn[64];
        snprintf(os, sizeof os, "out ndim %d numel %zu", outs[c].ndim, n);
        snprintf(bsn, sizeof bsn, "b ndim %d numel %zu", bs[c].ndim, bn);
        for (int s = 0; s < 2; s++) {
            float *first = NULL;
            for (int run = 0; run < 2; run++) {
                cg_context *ctx = shaped_context(s);
                cg_tensor *a = cg_tensor_from(ctx, a0, outs[c]), *b = cg_tensor_from(ctx, b0, bs[c]);
                cg_tensor *wt = cg_tensor_from(ctx, w, outs[c]);
                cg_set_requires_grad(a, true);
                cg_set_requires_grad(b, true);
                /* b first on the second run: the other operand's rule */
                cg_tensor *sum = run ? cg_add(b, a) : cg_add(a, b);
                cr_assert_eq(cg_backward(cg_sum(cg_mul(sum, wt))), CG_OK, "%s",
                             cg_error_message(ctx));
                float *gb = read_all(cg_grad(b)), *ga = read_all(cg_grad(a));
                for (size_t j = 0; j < bn; j++)
                    assert_close(gb[j], want[j], SUM_TOL(abs[j]), 0,
                                 "%s case %zu (%s, %s) element %zu: %.9g vs %.9g (seed %llu)",
                                 shape_names[s], c, os, bsn, j, gb[j], want[j],
                                 (unsigned long long)seed);
                cr_assert(memcmp(ga, w, n * sizeof *w) == 0, "%s case %zu: a's gradient",
                          shape_names[s], c);
                if (!first) {
                    first = gb;
                } else {
                    cr_assert(memcmp(first, gb, bn * sizeof *gb) == 0,
                              "%s case %zu (%s, %s): two runs differ", shape_names[s], c, os,
                              bsn);
                    free(gb);
                }
                free(ga);
                cg_tape_reset(ctx);
                cg_tensor_free(a);
                cg_tensor_free(b);
                cg_tensor_free(wt);
                cg_context_free(ctx);
            }
            free(first);
        }
        free(w);
        free(a0);
        free(b0);
        free(want);
        free(abs);
    }
}

/* ---- clip norms ----------------------------------------------------------- */

/* params[i].grad = the values g[i] (loss = sum(p * g)). */
static void set_grads(cg_context *ctx, cg_tensor **params, float *const *g, const size_t *sizes,
                      size_t count)
{
    cg_tensor *loss = NULL;
    for (size_t i = 0; i < count; i++) {
        params[i] = cg_tensor_zeros(ctx, CG_SHAPE(sizes[i]));
        cg_set_requires_grad(params[i], true);
        cg_tensor *gt = cg_tensor_from(ctx, g[i], CG_SHAPE(sizes[i]));
        cg_tensor *term = cg_sum(cg_mul(params[i], gt));
        cg_tensor_free(gt); /* the tape keeps it until the reset */
        loss = loss ? cg_add(loss, term) : term;
    }
    cr_assert_eq(cg_backward(loss), CG_OK, "%s", cg_error_message(ctx));
    cg_tape_reset(ctx);
}

Test(reduce, clip_norms_in_both_shapes_at_every_scale)
{
    const size_t sizes[] = {1, 255, 257, 4097, 100003};
    enum { COUNT = sizeof sizes / sizeof *sizes };
    const double scales[] = {1.0, 1e-30, 1e30};
    uint64_t seed = test_seed();
    test_rng rng = {seed | 1};
    for (size_t sc = 0; sc < sizeof scales / sizeof *scales; sc++) {
        float *g[COUNT];
        double total = 0, each[COUNT];
        for (size_t i = 0; i < COUNT; i++) {
            g[i] = random_floats(&rng, sizes[i], -scales[sc], scales[sc]);
            double s = 0;
            for (size_t k = 0; k < sizes[i]; k++) s += ((double)g[i][k] / scales[sc]) * ((double)g[i][k] / scales[sc]);
            each[i] = sqrt(s) * scales[sc];
            total += s;
        }
        total = sqrt(total) * scales[sc];
        for (int s = 0; s < 2; s++) {
            cg_context *ctx = shaped_context(s);
            cg_tensor *params[COUNT];
            set_grads(ctx, params, g, sizes, COUNT);
            /* max_norm far above: the factor is 1 and the gradients stay */
            float got = cg_clip_grad_norm(params, COUNT, 3e38f, false);
            float again = cg_clip_grad_norm(params, COUNT, 3e38f, false);
            cr_assert_eq(cg_status_of(ctx), CG_OK, "%s", cg_error_message(ctx));
            assert_close(got, total, 0, 2e-6, "%s scale %g: total norm %.9g vs %.9g (seed %llu)",
                         shape_names[s], scales[sc], got, total, (unsigned long long)seed);
            cr_assert(memcmp(&got, &again, sizeof got) == 0, "%s: %.9g then %.9g",
                      shape_names[s], got, again);
            /* each tensor's own norm: clip it alone */
            for (size_t i = 0; i < COUNT; i++) {
                float one = cg_clip_grad_norm(&params[i], 1, 3e38f, false);
                assert_close(one, each[i], 0, 2e-6, "%s scale %g size %zu: %.9g vs %.9g",
                             shape_names[s], scales[sc], sizes[i], one, each[i]);
                cg_tensor_free(params[i]);
            }
            cg_context_free(ctx);
        }
        for (size_t i = 0; i < COUNT; i++) free(g[i]);
    }
}

Test(reduce, clip_norm_of_a_zero_gradient_is_zero)
{
    for (int s = 0; s < 2; s++) {
        cg_context *ctx = shaped_context(s);
        float *z = calloc(4097, sizeof *z);
        size_t size = 4097;
        cg_tensor *p;
        set_grads(ctx, &p, &z, &size, 1);
        cr_assert_eq(cg_clip_grad_norm(&p, 1, 1.0f, false), 0.0f, "%s", shape_names[s]);
        cg_tensor_free(p);
        cg_context_free(ctx);
        free(z);
    }
}

/* ---- L-BFGS's vector reductions ------------------------------------------- */

Test(reduce, vector_reductions_in_both_shapes)
{
    const size_t sizes[] = {1, 255, 257, 4097, 100003};
    uint64_t seed = test_seed();
    test_rng rng = {seed | 1};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        size_t n = sizes[k];
        float *a = random_floats(&rng, n, -1, 1), *b = random_floats(&rng, n, -2, 1);
        double dot = 0, dot_abs = 0, asum = 0;
        float amax = 0;
        for (size_t i = 0; i < n; i++) {
            dot += (double)a[i] * b[i];
            dot_abs += fabs((double)a[i] * b[i]);
            asum += fabs(a[i]);
            amax = fmaxf(amax, fabsf(a[i]));
        }
        for (int s = 0; s < 2; s++) {
            cg_context *ctx = shaped_context(s);
            cg_tensor *ta = cg_tensor_from(ctx, a, CG_SHAPE(n)), *tb = cg_tensor_from(ctx, b, CG_SHAPE(n));
            float v[3], w[3];
            for (int kind = 0; kind < 3; kind++) {
                cr_assert_eq(cg__vreduce(ctx, ta, kind == 0 ? tb : NULL, n, kind, &v[kind]), CG_OK,
                             "%s", cg_error_message(ctx));
                cr_assert_eq(cg__vreduce(ctx, ta, kind == 0 ? tb : NULL, n, kind, &w[kind]), CG_OK);
            }
            /* a product's rounding is in both sides: the tolerance allows it */
            assert_close(v[0], dot, SUM_TOL(dot_abs) + 1e-7 * dot_abs, 0,
                         "%s n=%zu dot %.9g vs %.9g (seed %llu)", shape_names[s], n, v[0], dot,
                         (unsigned long long)seed);
            assert_close(v[1], asum, SUM_TOL(asum), 0, "%s n=%zu asum %.9g vs %.9g",
                         shape_names[s], n, v[1], asum);
            cr_assert_eq(v[2], amax, "%s n=%zu max %.9g vs %.9g", shape_names[s], n, v[2], amax);
            cr_assert(memcmp(v, w, sizeof v) == 0, "%s n=%zu: two runs differ", shape_names[s], n);
            cg_tensor_free(ta);
            cg_tensor_free(tb);
            cg_context_free(ctx);
        }
        free(a);
        free(b);
    }
}

/* ---- the embedding's row sums --------------------------------------------- */

Test(reduce, embedding_row_sums_in_both_shapes)
{
    /* rows in the table, columns, lookups: many repeats, few, one column */
    const size_t cases[][3] = {{7, 3, 4097}, {100, 257, 255}, {5, 1, 100003}, {4097, 2, 257},
                               {1, 33, 1}};
    uint64_t seed = test_seed();
    test_rng rng = {seed | 1};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        size_t rows = cases[c][0], dim = cases[c][1], count = cases[c][2];
        unsigned *idx = malloc(count * sizeof *idx);
        for (size_t i = 0; i < count; i++) idx[i] = (unsigned)(rng_uniform(&rng) * rows);
        float *g = random_floats(&rng, count * dim, -1, 2);
        double *want = calloc(rows * dim, sizeof *want), *abs = calloc(rows * dim, sizeof *abs);
        for (size_t i = 0; i < count; i++)
            for (size_t d = 0; d < dim; d++) {
                want[idx[i] * dim + d] += g[i * dim + d];
                abs[idx[i] * dim + d] += fabs(g[i * dim + d]);
            }
        for (int s = 0; s < 2; s++) {
            float *first = NULL;
            for (int run = 0; run < 2; run++) {
                cg_context *ctx = shaped_context(s);
                cg_tensor *w = cg_tensor_zeros(ctx, CG_SHAPE(rows, dim));
                cg_set_requires_grad(w, true);
                cg_tensor *gt = cg_tensor_from(ctx, g, CG_SHAPE(count, dim));
                cr_assert_eq(cg_backward(cg_sum(cg_mul(cg_embedding(w, idx, count), gt))), CG_OK,
                             "%s", cg_error_message(ctx));
                float *got = read_all(cg_grad(w));
                /* plain float sums in both shapes: n roundings at most */
                for (size_t j = 0; j < rows * dim; j++)
                    assert_close(got[j], want[j], 1e-5 * abs[j] + 1e-30, 0,
                                 "%s case %zu element %zu: %.9g vs %.9g (seed %llu)",
                                 shape_names[s], c, j, got[j], want[j], (unsigned long long)seed);
                if (!first) {
                    first = got;
                } else {
                    cr_assert(memcmp(first, got, rows * dim * sizeof *got) == 0,
                              "%s case %zu: two runs differ", shape_names[s], c);
                    free(got);
                }
                cg_tape_reset(ctx);
                cg_tensor_free(w);
                cg_tensor_free(gt);
                cg_context_free(ctx);
            }
            free(first);
        }
        free(idx);
        free(g);
        free(want);
        free(abs);
    }
}

/* ---- work-group sizes: the query's failure ------------------------------- */

typedef struct found {
    unsigned long long at;
} found;

static void find_query(void *user, unsigned long long index, const char *site, const char *call)
{
    (void)site;
    found *f = user;
    if (!f->at && strcmp(call, "clGetKernelWorkGroupInfo") == 0) f->at = index;
}

/* cg_sum on a fresh context: its kernels are created then, and their
 * limits asked. */
static float fresh_sum(cg_context *ctx, const float *x, size_t n)
{
    cg_tensor *t = cg_tensor_from(ctx, x, CG_SHAPE(n));
    float v = cg_item(cg_sum(t));
    cg_tensor_free(t);
    return v;
}

Test(reduce, a_failed_work_group_query_is_an_error_and_leaves_a_usable_context)
{
    if (on_ref()) cr_skip_test("no kernels on the reference path");
    float x[300];
    for (int i = 0; i < 300; i++) x[i] = (float)i;
    for (int s = 0; s < 2; s++) {
        cg_context *warm = shaped_context(s); /* the program in the disk cache */
        fresh_sum(warm, x, 300);
        cg_context_free(warm);
        cg_context *ctx = shaped_context(s);
        found f = {0};
        cg__fault_reset();
        cg__fault_trace(find_query, &f);
        float want = fresh_sum(ctx, x, 300);
        cg__fault_trace(NULL, NULL);
        cg_context_free(ctx);
        cr_assert_gt(f.at, 0, "no clGetKernelWorkGroupInfo call");
        cr_assert_eq(want, 44850.0f);

        ctx = shaped_context(s);
        cg__fault_reset();
        cg__fault_arm(f.at);
        float got = fresh_sum(ctx, x, 300);
        cr_assert(cg__fault_fired());
        cg__fault_reset();
        cr_assert(isnan(got));
        cr_assert_neq(cg_status_of(ctx), CG_OK);
        cr_assert(strstr(cg_error_message(ctx), "clGetKernelWorkGroupInfo"), "%s",
                  cg_error_message(ctx));
        cg_clear_error(ctx);
        cr_assert_eq(fresh_sum(ctx, x, 300), want, "%s", cg_error_message(ctx));
        cg_context_free(ctx);
        cr_assert_eq(cg__cl_live_total(), 0, "OpenCL objects leaked");
    }
}

/* ---- temporaries and the largest allocation ------------------------------ */

Test(reduce, temporaries_beyond_the_largest_allocation_are_refused_clearly)
{
    if (on_ref()) cr_skip_test("the reference path's sums take no temporaries");
    float *x = calloc(100003, sizeof *x);
    for (int s = 0; s < 2; s++) {
        cg_context *ctx = shaped_context(s);
        cg_tensor *t = cg_tensor_from(ctx, x, CG_SHAPE(5, 257, 3));
        cg_tensor *to = cg_tensor_zeros(ctx, CG_SHAPE(257, 1));
        cg_tensor *big = cg_tensor_from(ctx, x, CG_SHAPE(100003)), *one = cg_tensor_zeros(ctx, CG_SHAPE(1));
        cr_assert_eq(cg_status_of(ctx), CG_OK);
        size_t saved = ctx->max_alloc_bytes;
        /* [5,257,3] to [257,1] goes through a [5,257] temporary: 5140 bytes */
        ctx->max_alloc_bytes = 4096;
        cr_assert_eq(cg__sum_to(ctx, t, to), CG_ERROR_NO_MEMORY, "%s", shape_names[s]);
        cr_assert(strstr(cg_error_message(ctx),
                         "5140 bytes at once is more than the device can allocate (4096 bytes)"),
                  "%s: %s", shape_names[s], cg_error_message(ctx));
        cg_clear_error(ctx);
        /* a full sum's partials: a few floats */
        ctx->max_alloc_bytes = 8;
        cr_assert_eq(cg__sum_all_into(ctx, big, one, 0, 1.0f, false), CG_ERROR_NO_MEMORY, "%s",
                     shape_names[s]);
        cr_assert(strstr(cg_error_message(ctx), "more than the device can allocate (8 bytes)"),
                  "%s: %s", shape_names[s], cg_error_message(ctx));
        cg_clear_error(ctx);
        ctx->max_alloc_bytes = saved;
        cr_assert_eq(cg__sum_to(ctx, t, to), CG_OK, "%s", cg_error_message(ctx));
        cg_tensor_free(t);
        cg_tensor_free(to);
        cg_tensor_free(big);
        cg_tensor_free(one);
        cg_context_free(ctx);
    }
    free(x);
}
