/* Gradient clipping: by the global 2-norm over all parameters, as
 * torch.nn.utils.clip_grad_norm_, and by value, as clip_grad_value_, as
 * nodes run at once (CG__OP_NORM2, CLIP_TOTAL, SCALE_BY, CLAMP; the backends
 * run them). The norm is computed without overflow or underflow on both
 * paths (scaled float sums on the device, double on ref), so any norm a
 * float can hold comes out, and the two agree. */
#include <math.h>

#include "internal.h"

/* The parameters' context after checking them all: NULL when params is
 * NULL (no context to tell) or the check failed (the error is on it). */
static cg_context *params_context(const char *what, cg_tensor *const *params, size_t count)
{
    if (!params) return NULL;
    return cg__op_context(what, params, count);
}

/* One of clipping's nodes: into t (in place, or the norms), reading in. */
static cg__node *step(cg_context *ctx, cg__op kind, cg_tensor *t, cg_tensor *in, const char *what)
{
    return cg__emit(ctx, kind, what, t, in, NULL, NULL);
}

float cg_clip_grad_norm(cg_tensor *const *params, size_t count, float max_norm,
                        bool error_if_nonfinite)
{
    static const char what[] = "cg_clip_grad_norm";
    if (count == 0) return 0.0f; /* torch: the norm of no gradients is 0 */
    cg_context *ctx = params_context(what, params, count);
    if (!ctx || cg__realize(ctx)) return NAN;
    if (error_if_nonfinite && ctx->capture) {
        cg__fail(ctx, CG_ERROR_UNSUPPORTED,
                 "%s: cannot be captured with error_if_nonfinite: the check reads the norm on "
                 "the host every step",
                 what);
        return NAN;
    }
    if (!(max_norm > 0.0f)) {
        cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "%s: max_norm must be positive (got %g)", what,
                 (double)max_norm);
        return NAN;
    }
    /* Each gradient's norm (0 without one: the zeros), then the total and
     * the factor in out[0..1]. */
    float total = NAN;
    cg_tensor *norms = cg__tensor_new(ctx, CG_SHAPE(count), false, what);
    cg_tensor *out = cg__tensor_new(ctx, CG_SHAPE(2), false, what);
    cg__node *n = norms && out ? step(ctx, CG__OP_FILL, norms, NULL, what) : NULL;
    if (n) n->scalar = 0.0f;
    for (size_t i = 0; i < count && n; i++)
        if (params[i]->grad && (n = step(ctx, CG__OP_NORM2, norms, params[i]->grad, what)))
            n->ia = i;
    if (n && (n = step(ctx, CG__OP_CLIP_TOTAL, out, norms, what))) n->scalar = max_norm;
    /* The value comes back for the caller (and the non-finite check); the
     * scaling itself reads the factor where it lies. Without the check, what
     * runs does not depend on the value: a capture need not count the read
     * as one its replays miss (capture.c), so it goes to the device's own
     * backend. */
    if (n && !cg__realize(ctx) &&
        !cg__backend_of(ctx)->read(ctx, out->storage, 0, sizeof total, &total, what) &&
        !(error_if_nonfinite && !isfinite(total))) {
        for (size_t i = 0; i < count && n; i++)
            if (params[i]->grad && (n = step(ctx, CG__OP_SCALE_BY, params[i]->grad, out, what)))
                n->ia = 1; /* out[1]: the factor */
        cg__realize(ctx);
    }
    cg__tensor_release(norms);
    cg__tensor_release(out);
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
    for (size_t i = 0; i < count && !ctx->status; i++) {
        cg__node *n = params[i]->grad ? step(ctx, CG__OP_CLAMP, params[i]->grad, NULL, what) : NULL;
        if (n) {
            n->scalar = -clip_value;
            n->scalar_b = clip_value;
        }
    }
    return cg__realize(ctx);
}
