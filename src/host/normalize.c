/* Input normalization: per-feature statistics in double on the host, turned
 * into the transform x' = (x - shift) * scale that the kernels apply on the
 * fly, and the map of trained parameters back to raw-input units. */
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "internal.h"

/* 1 / spread, or 1 with a notice for a feature without a usable spread:
 * scikit-learn's rule (_is_constant_feature: a spread within the rounding
 * error of summing n values of this magnitude is none), and a spread whose
 * reciprocal overflows float32. */
static double spread_scale(const char *fn, size_t j, size_t n, double spread, double magnitude,
                           const char *what, double value)
{
    const double eps = DBL_EPSILON, s2 = spread * spread, bound = (double)n * magnitude * eps;
    if (!(spread > 0.0))
        cg__log("%s: feature %zu has no spread (every value is %g): left unscaled (scale 1)", fn,
                j, value);
    else if (s2 <= (double)n * eps * s2 + bound * bound || !isfinite((float)(1.0 / spread)))
        cg__log("%s: feature %zu has a %s of %g, too small to divide by (values near %g): left "
                "unscaled (scale 1)",
                fn, j, what, spread, value);
    else
        return 1.0 / spread;
    return 1.0;
}

cg_status cg_normalizer_fit(cg_context *ctx, cg_norm_kind kind, float factor, const float *X,
                            size_t n, size_t features, cg_normalizer *out)
{
    static const char fn[] = "cg_normalizer_fit";
    if (out) *out = (cg_normalizer){0};
    if (!ctx) return CG_ERROR_NULL_POINTER;
    if (ctx->status) return ctx->status;
    if (!out || (!X && n > 0)) return cg__fail(ctx, CG_ERROR_NULL_POINTER, "%s: NULL argument", fn);
    out->kind = kind;
    out->features = features;
    out->shift = out->scale = NULL;
    if (kind < CG_NORM_NONE || kind > CG_NORM_MINMAX)
        return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "%s: unknown normalization %d", fn,
                        (int)kind);
    if (kind == CG_NORM_SCALE && (!isfinite(factor) || factor == 0.0f))
        return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                        "%s: the scale factor must be finite and nonzero (got %g)", fn,
                        (double)factor);
    if (features == 0 || n == 0)
        return cg__fail(ctx, CG_ERROR_INVALID_DATA, "%s: no data to normalize", fn);
    out->shift = cg__calloc(features, sizeof(float));
    out->scale = cg__calloc(features, sizeof(float));
    if (!out->shift || !out->scale) {
        cg_normalizer_free(out);
        return cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory", fn);
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < features; j++)
            if (!isfinite(X[i * features + j])) {
                cg_normalizer_free(out);
                return cg__fail(ctx, CG_ERROR_INVALID_DATA,
                                "%s: X holds %s at row %zu, column %zu (0-based): the data must "
                                "be finite",
                                fn, isnan(X[i * features + j]) ? "nan" : "inf", i, j);
            }
    if (kind == CG_NORM_STANDARD && n < 2) {
        cg_normalizer_free(out);
        return cg__fail(ctx, CG_ERROR_INVALID_DATA,
                        "%s: standard normalization needs at least 2 rows (got 1): a single "
                        "value has zero variance; use none, scale or minmax",
                        fn);
    }
    for (size_t j = 0; j < features; j++) {
        double sum = 0.0, lo = INFINITY, hi = -INFINITY;
        for (size_t i = 0; i < n; i++) {
            double v = X[i * features + j];
            sum += v;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        double mean = sum / (double)n, ss = 0.0;
        for (size_t i = 0; i < n; i++) {
            double d = X[i * features + j] - mean;
            ss += d * d;
        }
        double std = sqrt(ss / (double)n); /* population std, ddof 0 */
        double shift = 0.0, scale = 1.0;
        switch (kind) {
        case CG_NORM_NONE: break;
        case CG_NORM_SCALE: scale = factor; break;
        case CG_NORM_STANDARD:
            shift = mean;
            scale = spread_scale(fn, j, n, std, fabs(mean), "standard deviation", lo);
            break;
        case CG_NORM_MINMAX:
            shift = lo;
            scale = spread_scale(fn, j, n, hi - lo, fmax(fabs(lo), fabs(hi)), "range", lo);
            break;
        }
        out->shift[j] = (float)shift;
        out->scale[j] = (float)scale;
    }
    return CG_OK;
}

void cg_normalizer_free(cg_normalizer *norm)
{
    if (!norm) return;
    free(norm->shift);
    free(norm->scale);
    norm->shift = norm->scale = NULL;
}

/* y = sum_j w_j (x_j - s_j) c_j + b = sum_j (w_j c_j) x_j + (b - sum_j w_j c_j s_j) */
cg_status cg_normalizer_to_raw(const cg_normalizer *norm, const float *params, float *params_raw)
{
    if (!norm || !params || !params_raw) return CG_ERROR_NULL_POINTER;
    if (norm->features && (!norm->shift || !norm->scale))
        return CG_ERROR_INVALID_ARGUMENT; /* freed, or its fit failed */
    size_t F = norm->features;
    double b = params[F];
    for (size_t j = 0; j < F; j++) {
        double w = (double)params[j] * (double)norm->scale[j];
        b -= w * (double)norm->shift[j];
        params_raw[j] = (float)w;
    }
    params_raw[F] = (float)b;
    return CG_OK;
}
