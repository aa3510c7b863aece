/* Gradient clipping on the device (reduce.cl, elementwise.cl): by the global
 * 2-norm over all parameters, as torch.nn.utils.clip_grad_norm_, and by
 * value, as clip_grad_value_. The norm is computed without overflow or
 * underflow on both paths (scaled float sums on the device, double on ref),
 * so any norm a float can hold comes out, and the two agree. */
#include <math.h>
#include <stdlib.h>

#include "internal.h"
#include "ref/ops_ref.h"

/* The parameters' context after checking them all: NULL when params is
 * NULL (no context to tell) or the check failed (the error is on it). */
static cg_context *params_context(const char *what, cg_tensor *const *params, size_t count)
{
    if (!params) return NULL;
    return cg__op_context(what, params, count);
}

/* Each gradient's 2-norm into norms[i] (0 without a gradient): partial
 * (scale, sum) pairs, then a fixed-order combine (reduce.c). */
static void device_norms(cg_context *ctx, cg_tensor *const *params, size_t count,
                         cg_tensor *norms, const char *what)
{
    cg__fill_zero(ctx, norms->mem, norms->bytes, what);
    for (size_t i = 0; i < count && !ctx->status; i++)
        if (params[i]->grad) cg__norm2_into(ctx, params[i]->grad, norms, i, what);
}

float cg_clip_grad_norm(cg_tensor *const *params, size_t count, float max_norm,
                        bool error_if_nonfinite)
{
    static const char what[] = "cg_clip_grad_norm";
    if (count == 0) return 0.0f; /* torch: the norm of no gradients is 0 */
    cg_context *ctx = params_context(what, params, count);
    if (!ctx || cg__realize(ctx)) return NAN;
    if (!(max_norm > 0.0f)) {
        cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "%s: max_norm must be positive (got %g)", what,
                 (double)max_norm);
        return NAN;
    }
    float total = 0.0f;
    if (ctx->is_ref) {
        float *norms = cg__calloc(count, sizeof *norms);
        if (!norms) {
            cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory", what);
            return NAN;
        }
        for (size_t i = 0; i < count; i++) {
            const cg_tensor *g = params[i]->grad;
            if (g) norms[i] = cg__ref_norm2(g->host, g->numel);
        }
        total = cg__ref_norm2(norms, count);
        free(norms);
        float factor = fminf(max_norm / (total + 1e-6f), 1.0f);
        if (!(error_if_nonfinite && !isfinite(total)))
            for (size_t i = 0; i < count; i++)
                if (params[i]->grad)
                    for (size_t k = 0; k < params[i]->grad->numel; k++)
                        params[i]->grad->host[k] *= factor;
    } else {
        /* Each gradient's norm, then total and factor, all queued. */
        cg_tensor *norms = cg__tensor_new(ctx, CG_SHAPE(count), false, what);
        cg_tensor *out = cg__tensor_new(ctx, CG_SHAPE(2), false, what);
        cl_kernel kt = cg__kernel(ctx, CG__PROGRAM_REDUCE, NULL, "cg_clip_total");
        cl_kernel ks = cg__kernel(ctx, CG__PROGRAM_ELEMENTWISE, NULL, "cg_scale_by");
        if (norms && out && kt && ks) {
            device_norms(ctx, params, count, norms, what);
            cl_uint c = (cl_uint)count;
            if (!cg__set_args(ctx, kt, what, sizeof(cl_mem), &norms->mem, sizeof c, &c,
                              sizeof max_norm, &max_norm, sizeof(cl_mem), &out->mem, (size_t)0))
                cg__launch(ctx, kt, 1, 1, what);
            /* The value comes back for the caller (and the non-finite check);
             * the scaling itself reads the factor on the device. */
            cg__read(ctx, out->mem, 0, sizeof total, &total, true, what);
            if (!(error_if_nonfinite && !isfinite(total)))
                for (size_t i = 0; i < count && !ctx->status; i++) {
                    cg_tensor *g = params[i]->grad;
                    if (!g) continue;
                    cl_uint n = (cl_uint)g->numel, at = 1; /* out[1]: the factor */
                    if (!cg__set_args(ctx, ks, what, sizeof(cl_mem), &g->mem, sizeof n, &n,
                                      sizeof(cl_mem), &out->mem, sizeof at, &at, (size_t)0))
                        cg__launch_n(ctx, ks, n, what);
                }
        }
        cg__tensor_release(norms);
        cg__tensor_release(out);
    }
    if (ctx->status) return NAN;
    if (error_if_nonfinite && !isfinite(total)) {
        cg__fail(ctx, CG_ERROR_INVALID_DATA,
                 "%s: the total norm of the gradients is %g; the gradients were left as they "
                 "are (error_if_nonfinite)",
                 what, (double)total);
        return NAN;
    }
    return total;
}

cg_status cg_clip_grad_value(cg_tensor *const *params, size_t count, float clip_value)
{
    static const char what[] = "cg_clip_grad_value";
    if (count == 0) return CG_OK; /* nothing to clip */
    cg_context *ctx = params_context(what, params, count);
    if (ctx && cg__realize(ctx)) return ctx->status;
    if (!ctx) {
        for (size_t i = 0; params && i < count; i++) /* the error the check found */
            if (params[i]) return params[i]->ctx->status;
        return CG_ERROR_NULL_POINTER;
    }
    if (!(clip_value >= 0.0f))
        return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "%s: clip_value must be >= 0 (got %g)",
                        what, (double)clip_value);
    float lo = -clip_value, hi = clip_value;
    for (size_t i = 0; i < count && !ctx->status; i++) {
        cg_tensor *g = params[i]->grad;
        if (!g) continue;
        if (ctx->is_ref) {
            for (size_t k = 0; k < g->numel; k++) g->host[k] = fminf(fmaxf(g->host[k], lo), hi);
            continue;
        }
        cl_kernel k = cg__kernel(ctx, CG__PROGRAM_ELEMENTWISE, NULL, "cg_clamp_");
        cl_uint n = (cl_uint)g->numel;
        if (k && !cg__set_args(ctx, k, what, sizeof(cl_mem), &g->mem, sizeof n, &n, sizeof lo,
                               &lo, sizeof hi, &hi, (size_t)0))
            cg__launch_n(ctx, k, n, what);
    }
    return ctx->status;
}
