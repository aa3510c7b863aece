/* The fused linear model: binds the data and keeps the input transform.
 * Its device work (the transform's upload, the training runs) is the
 * backend's (backend.h, linreg_*); train.c validates and dispatches fits. */
#include <math.h>
#include <stdlib.h>

#include "linreg_internal.h"

_Static_assert(CG__LINREG_MAX_FEATURES == CG_LINREG_MAX_FEATURES,
               "the public limit is the kernels' limit");

cg_linreg *cg_linreg_create(cg_context *ctx, const cg_tensor *X, const cg_tensor *y)
{
    if (!ctx || cg__realize(ctx)) return NULL; /* X and y may come from ops */
    if (!X || !y) {
        cg__fail(ctx, CG_ERROR_NULL_POINTER, "cg_linreg_create: X or y is NULL");
        return NULL;
    }
    if (X->ctx != ctx || y->ctx != ctx) {
        cg__fail(ctx, CG_ERROR_CONTEXT_MISMATCH,
                 "cg_linreg_create: X and y must belong to the context given");
        return NULL;
    }
    size_t n = X->shape.dims[0];
    size_t features = X->shape.ndim == 1 ? 1 : X->shape.dims[1];
    if (X->shape.ndim > 2 || y->shape.ndim != 1 || y->shape.dims[0] != n) {
        cg__fail(ctx, CG_ERROR_SHAPE_MISMATCH,
                 "cg_linreg_create: X must be [n] or [n, F] and y [n]; got X of %d dims "
                 "(%zu rows) and y of %d dims (%zu)",
                 X->shape.ndim, n, y->shape.ndim, y->shape.dims[0]);
        return NULL;
    }
    if (features > CG__LINREG_MAX_FEATURES) {
        cg__fail(ctx, CG_ERROR_UNSUPPORTED,
                 "cg_linreg_create: %zu features; the fused linear path takes at most %d",
                 features, CG__LINREG_MAX_FEATURES);
        return NULL;
    }
    if (n > 0xFFFFFFFFu) {
        cg__fail(ctx, CG_ERROR_UNSUPPORTED, "cg_linreg_create: more than 2^32-1 rows");
        return NULL;
    }
    cg_linreg *m = cg__calloc(1, sizeof *m);
    float *tf = cg__calloc(2 * features, sizeof *tf);
    if (!m || !tf) {
        free(m);
        free(tf);
        cg__fail(ctx, CG_ERROR_NO_MEMORY, "cg_linreg_create: out of memory");
        return NULL;
    }
    m->ctx = ctx;
    /* References of our own, so the caller may free X and y; a view (a
     * transpose, a slice) becomes a contiguous copy, since the kernels read
     * rows at fixed strides. cg__plain takes no const, but only reads x. */
    m->X = cg__tensor_retain(cg__plain((cg_tensor *)X, "cg_linreg_create"));
    m->y = cg__tensor_retain(cg__plain((cg_tensor *)y, "cg_linreg_create"));
    if (!m->X || !m->y || cg__realize(ctx)) {
        cg_linreg_free(m);
        return NULL;
    }
    m->n = n;
    m->features = features;
    m->shift = tf;
    m->scale = tf + features;
    for (size_t j = 0; j < features; j++) m->scale[j] = 1.0f;
    if (ctx->backend->linreg_prepare(m, "cg_linreg_create")) {
        cg_linreg_free(m);
        return NULL;
    }
    return m;
}

void cg_linreg_free(cg_linreg *m)
{
    if (!m) return;
    m->ctx->backend->linreg_release(m);
    cg__tensor_release((cg_tensor *)m->X);
    cg__tensor_release((cg_tensor *)m->y);
    free(m->shift);
    free(m);
}

size_t cg_linreg_features(const cg_linreg *m) { return m ? m->features : 0; }
size_t cg_linreg_rows(const cg_linreg *m) { return m ? m->n : 0; }

cg_status cg_linreg_set_transform(cg_linreg *m, const float *shift, const float *scale)
{
    if (!m) return CG_ERROR_NULL_POINTER;
    cg_context *ctx = m->ctx;
    if (ctx->status) return ctx->status;
    for (size_t j = 0; scale && j < m->features; j++) /* x' = (x - shift) * 0 trains nothing */
        if (scale[j] == 0.0f || !isfinite(scale[j]))
            return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                            "cg_linreg_set_transform: feature %zu: the scale must be finite and "
                            "nonzero (got %g)",
                            j, (double)scale[j]);
    for (size_t j = 0; j < m->features; j++) {
        float sh = shift ? shift[j] : 0.0f, sc = scale ? scale[j] : 1.0f;
        if (!isfinite(sh) || !isfinite(sc))
            return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                            "cg_linreg_set_transform: feature %zu: shift and scale must be "
                            "finite",
                            j);
        m->shift[j] = sh;
        m->scale[j] = sc;
    }
    return ctx->backend->linreg_prepare(m, "cg_linreg_set_transform");
}
