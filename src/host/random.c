/* Random tensors (random.cl): counter-based, identical on every device. */
#include <math.h>

#include "internal.h"
#include "ref/ops_ref.h"

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
    if (t) t->user_ref = true;
    if (!t) return NULL;
    if (ctx->is_ref) {
        cg__ref_rand_uniform(t->host, t->numel, seed, offset, lo, hi);
        return t;
    }
    cl_kernel k = cg__kernel(ctx, CG__PROGRAM_RANDOM, NULL, "cg_rand_uniform");
    cl_uint n = (cl_uint)t->numel;
    cl_ulong s = seed, o = offset;
    if (!k || cg__set_args(ctx, k, "cg_rand_uniform", sizeof(cl_mem), &t->mem, sizeof n, &n,
                           sizeof s, &s, sizeof o, &o, sizeof lo, &lo, sizeof hi, &hi, (size_t)0) ||
        cg__launch_n(ctx, k, n, "cg_rand_uniform")) {
        cg__tensor_destroy(t);
        return NULL;
    }
    return t;
}
