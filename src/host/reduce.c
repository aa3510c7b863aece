/* Reductions: sum and mean over all elements or one axis (CG__OP_REDUCE
 * nodes) and their backward (CG__OP_EXPAND_ADD); the shape logic of the
 * broadcast gradient's sum back to an operand (CG__OP_SUM_TO); and the
 * private entry points the tests, benchmarks and L-BFGS call outside the
 * graph's ops. The kernels run in the backends (backend/cl_reduce.c,
 * backend/ref_reduce.c). */
#include <math.h>

#include "internal.h"

int cg__sum_runs(cg_context *ctx, cg_shape src, cg_shape dst, cg__sum_run runs[CG_MAX_DIMS])
{
    int lead = src.ndim - dst.ndim, n = 0;
    bool fits = lead >= 0;
    for (int k = 0; fits && k < src.ndim; k++) {
        size_t se = src.dims[k], de = k >= lead ? dst.dims[k - lead] : 1;
        if (de != se && de != 1) fits = false;
        else if (se == 1) continue;
        else if (n && runs[n - 1].reduced == (de == 1)) runs[n - 1].extent *= se;
        else runs[n++] = (cg__sum_run){se, de == 1};
    }
    if (fits) return n;
    char a[64], b[64];
    cg__shape_format(src, a, sizeof a);
    cg__shape_format(dst, b, sizeof b);
    cg__fail(ctx, CG_ERROR_SHAPE_MISMATCH, "cg_backward: cannot sum a gradient of %s to %s", a, b);
    return -1;
}

/* ---- nodes run at once ---------------------------------------------------- */

cg_status cg__sum_all_into(cg_context *ctx, const cg_tensor *src, cg_tensor *dst, size_t off,
                           float scale, bool accumulate)
{
    cg__node *n = cg__emit(ctx, CG__OP_REDUCE, "cg_sum", dst, (cg_tensor *)src, NULL, NULL);
    if (!n) return ctx->status;
    n->ia = 1;
    n->ib = src->numel;
    n->ic = 1;
    n->id = off;
    n->flag_a = accumulate;
    n->scalar = scale;
    return cg__realize(ctx);
}

cg_status cg__sum_to(cg_context *ctx, const cg_tensor *src, cg_tensor *dst)
{
    if (!cg__emit(ctx, CG__OP_SUM_TO, "cg_backward", dst, (cg_tensor *)src, NULL, NULL))
        return ctx->status;
    return cg__realize(ctx);
}

cg_status cg__norm2_into(cg_context *ctx, const cg_tensor *x, cg_tensor *dst, size_t off,
                         const char *what)
{
    cg__node *n = cg__emit(ctx, CG__OP_NORM2, what, dst, (cg_tensor *)x, NULL, NULL);
    if (!n) return ctx->status;
    n->ia = off;
    return cg__realize(ctx);
}

cg_status cg__vreduce(cg_context *ctx, const cg_tensor *a, const cg_tensor *b, size_t n,
                      int kind, float *out)
{
    *out = NAN;
    if (ctx->status) return ctx->status;
    return ctx->backend->vreduce(ctx, a, b, n, kind, out);
}

/* ---- the ops -------------------------------------------------------------- */

static void expand_backward_rule(cg_context *ctx, cg__node *node)
{
    cg_tensor *gx = cg__grad(node->in[0]);
    if (!gx) return;
    cg__node *n = cg__emit(ctx, CG__OP_EXPAND_ADD, "cg_backward", gx, node->out->grad, NULL, NULL);
    if (!n) return;
    n->ia = node->ia;
    n->ib = node->ib;
    n->ic = node->ic;
    n->scalar = node->scalar;
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
    cg__node *node = out ? cg__emit(ctx, CG__OP_REDUCE, what, out, x, NULL, NULL) : NULL;
    if (!node) return NULL;
    node->ia = outer;
    node->ib = len;
    node->ic = inner;
    node->scalar = scale;
    cg__differentiable(ctx, node, expand_backward_rule);
    return cg__submit(ctx) ? NULL : out;
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
