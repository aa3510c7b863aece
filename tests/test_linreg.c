/* The fused linear kernels (linreg.cl and its reference twin) against an
 * independent double-precision oracle, on fresh random data of awkward
 * sizes, one and several features, both losses and both gradient modes. */
#include "helpers.h"

static const size_t sizes[] = {1, 2, 11, 255, 256, 257, 4097, 1000003};
#define NSIZES (sizeof sizes / sizeof sizes[0])

typedef struct bound {
    cg_context *ctx;
    cg_tensor *X, *y;
    cg_linreg *model;
} bound;

static bound bind(cg_context *ctx, const float *X, const float *y, size_t n, size_t F)
{
    bound b = {ctx, NULL, NULL, NULL};
    b.X = cg_tensor_from(ctx, X, F == 1 ? CG_SHAPE(n) : CG_SHAPE(n, F));
    b.y = cg_tensor_from(ctx, y, CG_SHAPE(n));
    b.model = cg_linreg_create(ctx, b.X, b.y);
    cr_assert_eq(cg_status_of(ctx), CG_OK, "bind: %s", cg_error_message(ctx));
    return b;
}

static void unbind(bound *b)
{
    cg_linreg_free(b->model);
    cg_tensor_free(b->X);
    cg_tensor_free(b->y);
}

Test(linreg, eval_matches_oracle_on_awkward_sizes)
{
    uint64_t seed = test_seed();
    test_rng rng = {seed | 1};
    cg_context *ctx = test_context();
    const size_t feats[] = {1, 3};
    for (size_t si = 0; si < NSIZES; si++)
        for (size_t fi = 0; fi < 2; fi++) {
            size_t n = sizes[si], F = feats[fi];
            float *X, *y;
            random_linear_data(&rng, n, F, &X, &y);
            bound b = bind(ctx, X, y, n, F);
            float p[4];
            for (size_t k = 0; k <= F; k++) p[k] = rng_range(&rng, -1, 1);
            for (int loss = 0; loss < 2; loss++)
                for (int mode = 0; mode < 2; mode++) {
                    const float delta = 0.1f;
                    oracle o;
                    oracle_eval(X, y, n, F, p, (cg_loss_kind)loss, delta, &o);
                    float got_loss, g[4];
                    cr_assert_eq(cg_linreg_eval(b.model, p, (cg_loss_kind)loss,
                                                (cg_grad_mode)mode, delta, &got_loss, g),
                                 CG_OK, "%s", cg_error_message(ctx));
                    assert_close(got_loss, o.loss, 1e-6, 2e-5,
                                 "loss n=%zu F=%zu loss=%d mode=%d seed=%llu: %.9g vs %.9g", n, F,
                                 loss, mode, (unsigned long long)seed, got_loss, o.loss);
                    for (size_t k = 0; k <= F; k++) {
                        double want, atol;
                        if (mode == CG_GRAD_ANALYTIC) {
                            want = o.grad[k];
                            atol = 2e-5 * o.grad_scale[k] + 1e-6;
                        } else {
                            want = (o.loss_plus[k] - o.loss_minus[k]) / (2.0 * delta);
                            atol = 2e-5 * (o.loss_plus[k] + o.loss_minus[k]) / (2.0 * delta) +
                                   1e-6;
                        }
                        assert_close(g[k], want, atol, 0.0,
                                     "grad[%zu] n=%zu F=%zu loss=%d mode=%d seed=%llu: %.9g vs "
                                     "%.9g",
                                     k, n, F, loss, mode, (unsigned long long)seed, g[k], want);
                    }
                }
            unbind(&b);
            free(X);
            free(y);
        }
    cg_context_free(ctx);
}

Test(linreg, transform_equals_pretransformed_data)
{
    uint64_t seed = test_seed();
    test_rng rng = {seed | 1};
    cg_context *ctx = test_context();
    const size_t n = 4097, F = 3;
    float *X, *y;
    random_linear_data(&rng, n, F, &X, &y);
    const float shift[3] = {0.5f, -1.0f, 0.0f}, scale[3] = {0.5f, 2.0f, 0.1f};
    float *Xt = malloc(n * F * sizeof *Xt);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < F; j++) Xt[i * F + j] = (X[i * F + j] - shift[j]) * scale[j];
    bound a = bind(ctx, X, y, n, F), b = bind(ctx, Xt, y, n, F);
    cr_assert_eq(cg_linreg_set_transform(a.model, shift, scale), CG_OK);
    const float p[4] = {0.3f, -0.2f, 1.5f, 0.25f};
    float la, lb, ga[4], gb[4];
    cg_linreg_eval(a.model, p, CG_LOSS_MSE, CG_GRAD_ANALYTIC, 0.1f, &la, ga);
    cg_linreg_eval(b.model, p, CG_LOSS_MSE, CG_GRAD_ANALYTIC, 0.1f, &lb, gb);
    cr_assert_eq(cg_status_of(ctx), CG_OK, "%s", cg_error_message(ctx));
    /* The same float arithmetic on the same values: identical. */
    cr_assert_eq(la, lb, "seed=%llu", (unsigned long long)seed);
    for (int k = 0; k < 4; k++) cr_assert_eq(ga[k], gb[k], "grad[%d]", k);
    unbind(&a);
    unbind(&b);
    free(X);
    free(Xt);
    free(y);
    cg_context_free(ctx);
}

/* A few epochs through each path; the results agree with each other and
 * with the reference context. */
Test(linreg, fit_paths_and_reference_agree_on_awkward_sizes)
{
    uint64_t seed = test_seed();
    test_rng rng = {seed | 1};
    cg_context *ctx = test_context(), *ref = ref_context();
    const size_t feats[] = {1, 3};
    for (size_t si = 0; si < NSIZES; si++)
        for (size_t fi = 0; fi < 2; fi++)
            for (int optim = 0; optim < 2; optim++) {
                size_t n = sizes[si], F = feats[fi];
                float *X, *y;
                random_linear_data(&rng, n, F, &X, &y);
                bound b = bind(ctx, X, y, n, F), r = bind(ref, X, y, n, F);
                cg_fit_options o = cg_fit_defaults();
                o.epochs = 4;
                o.log_every = 1;
                o.optimizer = (cg_optim_kind)optim;
                o.lr = optim ? 0.05f : 0.02f;
                cg_fit_result single, per_epoch, want;
                o.path = CG_PATH_SINGLE_LAUNCH;
                cr_assert_eq(cg_linreg_fit(b.model, &o, &single), CG_OK, "%s",
                             cg_error_message(ctx));
                o.path = CG_PATH_PER_EPOCH;
                cr_assert_eq(cg_linreg_fit(b.model, &o, &per_epoch), CG_OK, "%s",
                             cg_error_message(ctx));
                cr_assert_eq(cg_linreg_fit(r.model, &o, &want), CG_OK);
                cr_assert_eq(single.history_count, 4);
                cr_assert_eq(per_epoch.history_count, 4);
                for (size_t k = 0; k <= F; k++) {
                    assert_close(single.params[k], want.params[k], 1e-5, 1e-4,
                                 "single p[%zu] n=%zu F=%zu optim=%d seed=%llu: %.9g vs %.9g", k,
                                 n, F, optim, (unsigned long long)seed, single.params[k],
                                 want.params[k]);
                    assert_close(per_epoch.params[k], want.params[k], 1e-5, 1e-4,
                                 "per-epoch p[%zu] n=%zu F=%zu optim=%d seed=%llu", k, n, F,
                                 optim, (unsigned long long)seed);
                }
                for (size_t i = 0; i < 4; i++)
                    assert_close(single.history_loss[i], per_epoch.history_loss[i], 1e-6, 1e-5,
                                 "loss at epoch %zu n=%zu F=%zu seed=%llu", i + 1, n, F,
                                 (unsigned long long)seed);
                assert_close(single.final_loss, want.final_loss, 1e-6, 1e-4, "final loss");
                assert_close(per_epoch.final_loss, want.final_loss, 1e-6, 1e-4, "final loss");
                cg_fit_result_free(&single);
                cg_fit_result_free(&per_epoch);
                cg_fit_result_free(&want);
                unbind(&b);
                unbind(&r);
                free(X);
                free(y);
            }
    cg_context_free(ctx);
    cg_context_free(ref);
}

Test(linreg, rejects_bad_shapes_and_foreign_tensors)
{
    cg_context *ctx = test_context(), *other = ref_context();
    float data[6] = {1, 2, 3, 4, 5, 6};
    cg_tensor *X = cg_tensor_from(ctx, data, CG_SHAPE(3, 2));
    cg_tensor *y2 = cg_tensor_from(ctx, data, CG_SHAPE(2));
    cr_assert_null(cg_linreg_create(ctx, X, y2));
    cr_assert_eq(cg_status_of(ctx), CG_ERROR_SHAPE_MISMATCH);
    cr_assert(strstr(cg_error_message(ctx), "cg_linreg_create") != NULL);
    cg_clear_error(ctx);

    cg_tensor *y_other = cg_tensor_from(other, data, CG_SHAPE(3));
    cr_assert_null(cg_linreg_create(ctx, X, y_other));
    cr_assert_eq(cg_status_of(ctx), CG_ERROR_CONTEXT_MISMATCH);
    cg_clear_error(ctx);

    cr_assert_null(cg_linreg_create(ctx, X, NULL));
    cr_assert_eq(cg_status_of(ctx), CG_ERROR_NULL_POINTER);
    cg_clear_error(ctx);

    float *wide = calloc(2 * 65, sizeof *wide);
    cg_tensor *Xw = cg_tensor_from(ctx, wide, CG_SHAPE(2, 65));
    cg_tensor *yw = cg_tensor_from(ctx, data, CG_SHAPE(2));
    cr_assert_null(cg_linreg_create(ctx, Xw, yw));
    cr_assert_eq(cg_status_of(ctx), CG_ERROR_UNSUPPORTED);
    cr_assert(strstr(cg_error_message(ctx), "65 features") != NULL, "%s", cg_error_message(ctx));
    free(wide);
    cg_tensor_free(Xw);
    cg_tensor_free(yw);
    cg_tensor_free(X);
    cg_tensor_free(y2);
    cg_tensor_free(y_other);
    cg_context_free(ctx);
    cg_context_free(other);
}

Test(linreg, eval_rejects_bad_delta_and_modes)
{
    cg_context *ctx = test_context();
    float x[2] = {1, 2}, y[2] = {3, 4}, p[2] = {1, 0}, l, g[2];
    bound b = bind(ctx, x, y, 2, 1);
    cr_assert_eq(cg_linreg_eval(b.model, p, CG_LOSS_MSE, CG_GRAD_NUMERIC, 0.0f, &l, g),
                 CG_ERROR_INVALID_ARGUMENT);
    cr_assert(strstr(cg_error_message(ctx), "delta") != NULL);
    cg_clear_error(ctx);
    cr_assert_eq(cg_linreg_eval(b.model, p, (cg_loss_kind)7, CG_GRAD_ANALYTIC, 0.1f, &l, g),
                 CG_ERROR_INVALID_ARGUMENT);
    cg_clear_error(ctx);
    cr_assert_eq(cg_linreg_eval(b.model, p, CG_LOSS_MSE, CG_GRAD_ANALYTIC, 0.1f, &l, g), CG_OK);
    assert_close(l, ((3.0 - 1.0) * (3.0 - 1.0) + (4.0 - 2.0) * (4.0 - 2.0)) / 2.0, 0, 1e-6,
                 "loss %g", l);
    unbind(&b);
    cg_context_free(ctx);
}

/* Issue 7, item 20: NaN or inf in the data is bad data, named by row and
 * column, never a divergence. */
Test(linreg, non_finite_data_is_invalid_data_naming_row_and_column)
{
    cg_context *ctx = test_context();
    float X[2 * 8], y[8];
    for (int i = 0; i < 8; i++) {
        X[2 * i] = (float)i;
        X[2 * i + 1] = (float)(i % 3);
        y[i] = (float)(2 * i + 1);
    }
    X[2 * 5 + 1] = NAN;
    bound b = bind(ctx, X, y, 8, 2);
    cg_fit_options o = cg_fit_defaults();
    o.epochs = 20;
    cg_fit_result r;
    cr_assert_eq(cg_linreg_fit(b.model, &o, &r), CG_ERROR_INVALID_DATA, "%s",
                 cg_error_message(ctx));
    cr_assert(strstr(cg_error_message(ctx), "row 5") && strstr(cg_error_message(ctx), "column 1"),
              "%s", cg_error_message(ctx));
    cr_assert_null(r.params);
    cg_clear_error(ctx);
    unbind(&b);

    X[2 * 5 + 1] = 1.0f;
    y[3] = INFINITY;
    b = bind(ctx, X, y, 8, 2);
    cr_assert_eq(cg_linreg_fit(b.model, &o, &r), CG_ERROR_INVALID_DATA, "%s",
                 cg_error_message(ctx));
    cr_assert(strstr(cg_error_message(ctx), "y") && strstr(cg_error_message(ctx), "row 3"), "%s",
              cg_error_message(ctx));
    unbind(&b);
    cg_context_free(ctx);
}

/* The model holds its own references, and reads a view (here a transpose
 * and a strided slice) through a contiguous copy: the same loss and
 * gradient as the same values bound contiguous, with X and y freed by the
 * caller before the first eval. */
Test(linreg, views_and_freed_inputs_train_as_contiguous_copies)
{
    cg_context *ctx = test_context();
    enum { N = 37, F = 3 };
    float xt[F * N], x[N * F], y2[2 * N], y[N];
    test_rng rng = {test_seed() | 1};
    for (size_t f = 0; f < F; f++)
        for (size_t i = 0; i < N; i++) x[i * F + f] = xt[f * N + i] = rng_range(&rng, -0.5, 0.5);
    for (size_t i = 0; i < 2 * N; i++) y2[i] = rng_range(&rng, 0.0, 1.0);
    for (size_t i = 0; i < N; i++) y[i] = y2[2 * i];

    bound plain = bind(ctx, x, y, N, F);
    cg_tensor *XT = cg_tensor_from(ctx, xt, CG_SHAPE(F, N));
    cg_tensor *Y2 = cg_tensor_from(ctx, y2, CG_SHAPE(N, 2));
    cg_tensor *Xv = cg_transpose(XT, 0, 1);
    cg_tensor *yv = cg_select(Y2, 1, 0);
    cr_assert(!cg_is_contiguous(Xv) && !cg_is_contiguous(yv));
    cg_linreg *viewed = cg_linreg_create(ctx, Xv, yv);
    cr_assert_eq(cg_status_of(ctx), CG_OK, "%s", cg_error_message(ctx));
    cg_tensor_free(XT);
    cg_tensor_free(Y2);
    cg_tape_reset(ctx); /* the views and the copies' nodes go */

    const float params[F + 1] = {0.5f, -1.0f, 2.0f, 0.25f};
    float la, lb, ga[F + 1], gb[F + 1];
    cr_assert_eq(cg_linreg_eval(plain.model, params, CG_LOSS_MSE, CG_GRAD_ANALYTIC, 0.1f, &la, ga),
                 CG_OK);
    cr_assert_eq(cg_linreg_eval(viewed, params, CG_LOSS_MSE, CG_GRAD_ANALYTIC, 0.1f, &lb, gb),
                 CG_OK, "%s", cg_error_message(ctx));
    cr_assert_eq(memcmp(&la, &lb, sizeof la), 0, "loss %.9g vs %.9g", la, lb);
    cr_assert_eq(memcmp(ga, gb, sizeof ga), 0, "the gradients differ");
    cg_linreg_free(viewed);
    unbind(&plain);
    cg_context_free(ctx);
}
