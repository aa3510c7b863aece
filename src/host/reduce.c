/* Reductions (reduce.cl): sum and mean over all elements or one axis, and
 * their backward (the gradient spread back over the reduced elements). */
#include <stdio.h>

#include "internal.h"
#include "ref/ops_ref.h"

cl_uint cg__chunks(size_t n, size_t want, cl_uint *chunk)
{
    size_t c = (n + want - 1) / want;
    c = (c + 255) / 256 * 256;
    *chunk = (cl_uint)c;
    return (cl_uint)((n + c - 1) / c);
}

cg_status cg__sum_all_into(cg_context *ctx, const cg_tensor *src, cg_tensor *dst, size_t off,
                           float scale, bool accumulate)
{
    if (ctx->status) return ctx->status;
    if (ctx->is_ref) {
        float v = (float)cg__ref_sum(src->host, src->numel) * scale;
        dst->host[off] = accumulate ? dst->host[off] + v : v;
        return CG_OK;
    }
    size_t cus = ctx->info.compute_units ? ctx->info.compute_units : 1;
    cl_uint n = (cl_uint)src->numel, chunk, o = (cl_uint)off;
    cl_uint parts = cg__chunks(n, ctx->gpu_shapes ? cus * 8 : cus * 4, &chunk);
    cl_int acc = accumulate;
    cl_kernel kp = cg__kernel(ctx, CG__PROGRAM_REDUCE, NULL, "cg_sum_partials");
    cl_kernel kf = cg__kernel(ctx, CG__PROGRAM_REDUCE, NULL, "cg_sum_finish");
    if (!kp || !kf) return ctx->status;
    cl_mem partials = cg__buffer_get(ctx, parts * sizeof(float), "cg_sum");
    if (!partials) return ctx->status;
    if (!cg__set_args(ctx, kp, "cg_sum", sizeof(cl_mem), &src->mem, sizeof n, &n, sizeof chunk,
                      &chunk, sizeof(cl_mem), &partials, (size_t)0) &&
        !cg__launch(ctx, kp, parts, 1, "cg_sum") &&
        !cg__set_args(ctx, kf, "cg_sum", sizeof(cl_mem), &partials, sizeof parts, &parts,
                      sizeof(cl_mem), &dst->mem, sizeof o, &o, sizeof scale, &scale, sizeof acc,
                      &acc, (size_t)0))
        cg__launch(ctx, kf, 1, 1, "cg_sum");
    cg__buffer_put(ctx, partials, parts * sizeof(float)); /* in-order queue: safe */
    return ctx->status;
}

/* [outer, len, inner] views of a reduction; scale is 1 or 1/len. */
static void expand_backward_rule(cg_context *ctx, cg__node *node)
{
    cg_tensor *x = node->in[0], *gx = cg__grad(x), *gy = node->out->grad;
    if (!gx) return;
    size_t outer = node->ia, len = node->ib, inner = node->ic;
    if (ctx->is_ref) {
        cg__ref_expand_add(gy->host, gx->host, outer, len, inner, node->scalar);
        return;
    }
    float s = node->scalar;
    if (outer == 1 && inner == 1) { /* a full reduction: no index arithmetic */
        cl_kernel k = cg__kernel(ctx, CG__PROGRAM_REDUCE, NULL, "cg_expand_all_add");
        cl_uint n = (cl_uint)x->numel;
        if (k && !cg__set_args(ctx, k, "cg_backward", sizeof(cl_mem), &gy->mem, sizeof(cl_mem),
                               &gx->mem, sizeof n, &n, sizeof s, &s, (size_t)0))
            cg__launch_n(ctx, k, n, "cg_backward");
        return;
    }
    cl_kernel k = cg__kernel(ctx, CG__PROGRAM_REDUCE, NULL, "cg_expand_add");
    cl_uint o = (cl_uint)outer, l = (cl_uint)len, i = (cl_uint)inner;
    if (!k || cg__set_args(ctx, k, "cg_backward", sizeof(cl_mem), &gy->mem, sizeof(cl_mem),
                           &gx->mem, sizeof o, &o, sizeof l, &l, sizeof i, &i, sizeof s, &s,
                           (size_t)0))
        return;
    cg__launch_n(ctx, k, x->numel, "cg_backward");
}

static cg_tensor *reduce(const char *what, cg_tensor *x, int axis, bool all, bool keepdim,
                         bool mean)
{
    cg_context *ctx = cg__op_context(what, &x, 1);
    if (!ctx || !(x = cg__plain(x, what))) return NULL;
    size_t outer = 1, len = x->numel, inner = 1;
    cg_shape shape = {1, {1}};
    if (!all) {
        int ax = axis < 0 ? axis + x->shape.ndim : axis;
        if (ax < 0 || ax >= x->shape.ndim) {
            char a[64];
            cg__shape_format(x->shape, a, sizeof a);
            cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "%s: axis %d is out of range for %s", what,
                     axis, a);
            return NULL;
        }
        len = x->shape.dims[ax];
        for (int d = 0; d < ax; d++) outer *= x->shape.dims[d];
        for (int d = ax + 1; d < x->shape.ndim; d++) inner *= x->shape.dims[d];
        shape = x->shape;
        if (keepdim) {
            shape.dims[ax] = 1;
        } else if (x->shape.ndim == 1) {
            shape.dims[0] = 1; /* no 0-d tensors: a scalar is [1] */
        } else {
            for (int d = ax; d + 1 < x->shape.ndim; d++) shape.dims[d] = x->shape.dims[d + 1];
            shape.dims[--shape.ndim] = 0;
        }
    }
    const float scale = mean ? 1.0f / (float)len : 1.0f;
    cg_tensor *out = cg__op_output(ctx, shape, &x, 1, what);
    if (!out) return NULL;
    if (outer == 1 && inner == 1) {
        cg__sum_all_into(ctx, x, out, 0, scale, false);
    } else if (ctx->is_ref) {
        cg__ref_sum_axis(x->host, out->host, outer, len, inner, scale);
    } else {
        cl_kernel k = cg__kernel(ctx, CG__PROGRAM_REDUCE, NULL, "cg_sum_axis");
        cl_uint o = (cl_uint)outer, l = (cl_uint)len, i = (cl_uint)inner;
        if (!k || cg__set_args(ctx, k, what, sizeof(cl_mem), &x->mem, sizeof(cl_mem), &out->mem,
                               sizeof o, &o, sizeof l, &l, sizeof i, &i, sizeof scale, &scale,
                               (size_t)0))
            return NULL;
        cg__launch_n(ctx, k, outer * inner, what);
    }
    cg__node *node = cg__record(ctx, out, expand_backward_rule, x, NULL);
    if (node) {
        node->ia = outer;
        node->ib = len;
        node->ic = inner;
        node->scalar = scale;
    }
    return ctx->status ? NULL : out;
}

cg_tensor *cg_sum(cg_tensor *x) { return reduce("cg_sum", x, 0, true, false, false); }
cg_tensor *cg_mean(cg_tensor *x) { return reduce("cg_mean", x, 0, true, false, true); }
cg_tensor *cg_sum_axis(cg_tensor *x, int axis, bool keepdim)
{
    return reduce("cg_sum_axis", x, axis, false, keepdim, false);
}
cg_tensor *cg_mean_axis(cg_tensor *x, int axis, bool keepdim)
{
    return reduce("cg_mean_axis", x, axis, false, keepdim, true);
}
