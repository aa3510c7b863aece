/* Random tensors (random.cl): counter-based, identical on every device. */
#include <math.h>

#include "internal.h"

cg_tensor *cg_rand_uniform(cg_context *ctx, cg_shape shape, float lo, float hi,
                           unsigned long long seed, unsigned long long offset)
{
    if (!ctx || ctx->status) return NULL;
    /* torch's uniform_(from, to): from <= to, to - from representable. */
    if (!(isfinite(lo) && isfinite(hi) && lo <= hi && isfinite(hi - lo))) {
        cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                 "cg_rand_uniform: the bounds must be finite, lo <= hi and hi - lo finite "
                 "(got lo %g, hi %g)",
                 (double)lo, (double)hi);
        return NULL;
    }
    cg_tensor *t = cg__tensor_new(ctx, shape, false, "cg_rand_uniform");
    if (!t) return NULL;
    t->user_ref = true;
    cg__node *n = cg__emit(ctx, CG__OP_RAND_UNIFORM, "cg_rand_uniform", t, NULL, NULL, NULL);
    if (n) {
        n->ia = seed;
        n->ib = offset;
        n->scalar = lo;
        n->scalar_b = hi;
    }
    if (!n || cg__submit(ctx)) {
        cg_tensor_free(t);
        return NULL;
    }
    return t;
}
