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

/* Notices from the library's log callback. */
typedef struct notices {
    int count;
    char last[512];
} notices;

static void keep_notice(void *user, const char *message)
{
    notices *n = user;
    n->count++;
    snprintf(n->last, sizeof n->last, "%s", message);
}

Test(normalize, standard_needs_two_rows)
{
    cg_context *ctx = test_context();
    const float one_row[2] = {3, 4};
    cg_normalizer nz;
    cr_assert_eq(cg_normalizer_fit(ctx, CG_NORM_STANDARD, 0, one_row, 1, 2, &nz),
                 CG_ERROR_INVALID_DATA);
    cr_assert(strstr(cg_error_message(ctx), "zero variance") != NULL, "%s",
              cg_error_message(ctx));
    cr_assert(strstr(cg_error_message(ctx), "2 rows") != NULL, "%s", cg_error_message(ctx));
    cg_clear_error(ctx);
    const float X[4] = {1, 5, 2, 5};
    cr_assert_eq(cg_normalizer_fit(ctx, CG_NORM_SCALE, 0.0f, X, 2, 2, &nz),
                 CG_ERROR_INVALID_ARGUMENT);
    cg_context_free(ctx);
}

/* Issue 7, item 22: scikit-learn's rule. A feature with no spread, or one
 * too small for its magnitude (or for float32 to divide by), keeps scale 1,
 * with a notice naming it. */
Test(normalize, feature_without_spread_keeps_scale_1_with_a_notice)
{
    cg_context *ctx = test_context();
    notices seen = {0};
    cg_set_log_callback(keep_notice, &seen);
    const float X[6] = {1, 5, 2, 5, 4, 5}; /* feature 1 is constant */
    const cg_norm_kind kinds[2] = {CG_NORM_STANDARD, CG_NORM_MINMAX};
    for (int k = 0; k < 2; k++) {
        cg_normalizer nz;
        seen.count = 0;
        cr_assert_eq(cg_normalizer_fit(ctx, kinds[k], 0, X, 3, 2, &nz), CG_OK, "%s",
                     cg_error_message(ctx));
        cr_assert_eq(nz.scale[1], 1.0f, "kind %d", k);
        cr_assert_eq(nz.shift[1], 5.0f, "kind %d: the mean or the min", k);
        cr_assert_neq(nz.scale[0], 1.0f, "kind %d: feature 0 is scaled", k);
        cr_assert_eq(seen.count, 1, "kind %d: one notice", k);
        cr_assert(strstr(seen.last, "feature 1") && strstr(seen.last, "scale 1"), "%s",
                  seen.last);
        cr_assert_null(strchr(seen.last, '\n'), "one line: %s", seen.last);
        cg_normalizer_free(&nz);
    }
    /* A spread whose reciprocal overflows float32. */
    const float tiny[3] = {1e-39f, 2e-39f, 3e-39f};
    for (int k = 0; k < 2; k++) {
        cg_normalizer nz;
        seen.count = 0;
        cr_assert_eq(cg_normalizer_fit(ctx, kinds[k], 0, tiny, 3, 1, &nz), CG_OK, "%s",
                     cg_error_message(ctx));
        cr_assert_eq(nz.scale[0], 1.0f, "kind %d: scale %g", k, nz.scale[0]);
        cr_assert(isfinite(nz.shift[0]));
        cr_assert_eq(seen.count, 1, "kind %d", k);
        cr_assert(strstr(seen.last, "feature 0"), "%s", seen.last);
        cg_normalizer_free(&nz);
    }
    cg_set_log_callback(NULL, NULL);
    cg_context_free(ctx);
}

/* Issue 7, item 20: NaN or inf in the data is named by row and column. */
Test(normalize, non_finite_data_is_invalid_data_naming_row_and_column)
{
    cg_context *ctx = test_context();
    float X[8] = {1, 10, 2, 10, 3, 20, 4, 20};
    X[2 * 2 + 1] = NAN;
    const cg_norm_kind kinds[4] = {CG_NORM_NONE, CG_NORM_SCALE, CG_NORM_STANDARD, CG_NORM_MINMAX};
    for (int k = 0; k < 4; k++) {
        cg_normalizer nz;
        cr_assert_eq(cg_normalizer_fit(ctx, kinds[k], 0.5f, X, 4, 2, &nz), CG_ERROR_INVALID_DATA,
                     "kind %d", k);
        cr_assert(strstr(cg_error_message(ctx), "row 2") &&
                      strstr(cg_error_message(ctx), "column 1") &&
                      strstr(cg_error_message(ctx), "nan"),
                  "kind %d: %s", k, cg_error_message(ctx));
        cg_clear_error(ctx);
    }
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
