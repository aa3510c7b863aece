/* Input normalization: the fitted transform, degenerate features, and the
 * map of trained parameters back to raw units. */
#include "helpers.h"

Test(normalize, standard_uses_population_std)
{
    cg_context *ctx = test_context();
    /* Two features: [1,2,3,4] (mean 2.5, std sqrt(1.25)) and [10,10,20,20]. */
    const float X[8] = {1, 10, 2, 10, 3, 20, 4, 20};
    cg_normalizer nz;
    cr_assert_eq(cg_normalizer_fit(ctx, CG_NORM_STANDARD, 0, X, 4, 2, &nz), CG_OK);
    assert_close(nz.shift[0], 2.5, 0, 1e-7, "mean");
    assert_close(nz.scale[0], 1.0 / sqrt(1.25), 0, 1e-6, "1/std (ddof 0)");
    assert_close(nz.shift[1], 15.0, 0, 1e-7, "mean");
    assert_close(nz.scale[1], 0.2, 0, 1e-6, "1/std");
    cg_normalizer_free(&nz);

    cr_assert_eq(cg_normalizer_fit(ctx, CG_NORM_MINMAX, 0, X, 4, 2, &nz), CG_OK);
    assert_close(nz.shift[0], 1.0, 0, 0, "min");
    assert_close(nz.scale[0], 1.0 / 3.0, 0, 1e-6, "1/range");
    cg_normalizer_free(&nz);

    cr_assert_eq(cg_normalizer_fit(ctx, CG_NORM_SCALE, 0.1f, X, 4, 2, &nz), CG_OK);
    cr_assert_eq(nz.shift[1], 0.0f);
    cr_assert_eq(nz.scale[1], 0.1f);
    cg_normalizer_free(&nz);
    cg_context_free(ctx);
}

Test(normalize, constant_feature_is_an_error_naming_it)
{
    cg_context *ctx = test_context();
    const float one_row[2] = {3, 4};
    cg_normalizer nz;
    cr_assert_eq(cg_normalizer_fit(ctx, CG_NORM_STANDARD, 0, one_row, 1, 2, &nz),
                 CG_ERROR_INVALID_DATA);
    cr_assert(strstr(cg_error_message(ctx), "zero variance") != NULL, "%s",
              cg_error_message(ctx));
    cr_assert(strstr(cg_error_message(ctx), "feature 0") != NULL);
    cg_clear_error(ctx);
    const float X[4] = {1, 5, 2, 5};
    cr_assert_eq(cg_normalizer_fit(ctx, CG_NORM_MINMAX, 0, X, 2, 2, &nz), CG_ERROR_INVALID_DATA);
    cr_assert(strstr(cg_error_message(ctx), "feature 1") != NULL, "%s", cg_error_message(ctx));
    cg_clear_error(ctx);
    cr_assert_eq(cg_normalizer_fit(ctx, CG_NORM_SCALE, 0.0f, X, 2, 2, &nz),
                 CG_ERROR_INVALID_ARGUMENT);
    cg_context_free(ctx);
}

/* Trained on standardized inputs, mapped back, the parameters are the raw
 * least-squares line (computed here in closed form). */
Test(normalize, raw_params_are_the_raw_least_squares_fit)
{
    cg_context *ctx = test_context();
    cg_table t;
    cg_table_lecture(&t);
    float x[11], y[11];
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (int i = 0; i < 11; i++) {
        x[i] = t.values[2 * i];
        y[i] = t.values[2 * i + 1];
        sx += x[i];
        sy += y[i];
        sxx += (double)x[i] * x[i];
        sxy += (double)x[i] * y[i];
    }
    cg_table_free(&t);
    double w = (11 * sxy - sx * sy) / (11 * sxx - sx * sx), b = (sy - w * sx) / 11;
    cg_normalizer nz;
    cr_assert_eq(cg_normalizer_fit(ctx, CG_NORM_STANDARD, 0, x, 11, 1, &nz), CG_OK);
    cg_tensor *tx = cg_tensor_from(ctx, x, CG_SHAPE(11)), *ty = cg_tensor_from(ctx, y, CG_SHAPE(11));
    cg_linreg *m = cg_linreg_create(ctx, tx, ty);
    cr_assert_eq(cg_linreg_set_transform(m, nz.shift, nz.scale), CG_OK);
    cg_fit_options o = cg_fit_defaults();
    cg_fit_result r;
    cr_assert_eq(cg_linreg_fit(m, &o, &r), CG_OK, "%s", cg_error_message(ctx));
    float raw[2];
    cg_normalizer_to_raw(&nz, r.params, raw);
    assert_close(raw[0], w, 1e-4, 0, "w %f vs %f", raw[0], w);
    assert_close(raw[1], b, 5e-3, 0, "b %f vs %f", raw[1], b);
    cg_fit_result_free(&r);
    cg_normalizer_free(&nz);
    cg_linreg_free(m);
    cg_tensor_free(tx);
    cg_tensor_free(ty);
    cg_context_free(ctx);
}
