/* Shape ops that copy (shape.cl): concatenation and row gathers, and the
 * block copy under them. The ops that only re-view their input (reshape,
 * slices, transposes) are in view.c. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "ref/ops_ref.h"

cg_status cg__block_copy(cg_context *ctx, const cg_tensor *src, size_t src_off, size_t src_stride,
                         cg_tensor *dst, size_t dst_off, size_t dst_stride, size_t outer,
                         size_t len, bool accumulate)
{
    if (ctx->status) return ctx->status;
    if (outer * len == 0) return CG_OK;
    if (ctx->is_ref) {
        cg__ref_block_copy(src->host, src_off, src_stride, dst->host, dst_off, dst_stride, outer,
                           len, accumulate);
        return CG_OK;
    }
    if (!accumulate && outer == 1) { /* a plain copy: the driver's own */
        cl_int err = cg__clEnqueueCopyBuffer(ctx->queue, src->mem, dst->mem, src_off * sizeof(float),
                                             dst_off * sizeof(float), len * sizeof(float), 0, NULL,
                                             NULL);
        return err == CL_SUCCESS ? CG_OK : cg__cl_fail(ctx, err, "clgrad: clEnqueueCopyBuffer");
    }
    cl_kernel k = cg__kernel(ctx, CG__PROGRAM_SHAPE, NULL, "cg_block_copy");
    cl_uint so = (cl_uint)src_off, ss = (cl_uint)src_stride, doff = (cl_uint)dst_off;
    cl_uint ds = (cl_uint)dst_stride, o = (cl_uint)outer, l = (cl_uint)len;
    cl_int acc = accumulate;
    if (!k || cg__set_args(ctx, k, "cg_block_copy", sizeof(cl_mem), &src->mem, sizeof so, &so,
                           sizeof ss, &ss, sizeof(cl_mem), &dst->mem, sizeof doff, &doff,
                           sizeof ds, &ds, sizeof o, &o, sizeof l, &l, sizeof acc, &acc,
                           (size_t)0))
        return ctx->status;
    return cg__launch_n(ctx, k, outer * len, "cg_block_copy");
}

/* Concat along axis: the output is [outer, total_len, inner]; input i fills
 * columns [off_i, off_i + len_i) of every outer row. */
static void concat_backward_rule(cg_context *ctx, cg__node *node)
{
    cg_tensor *gy = node->out->grad;
    size_t outer = node->ia, inner = node->ib, total = node->ic, off = 0;
    for (size_t i = 0; i < node->nmany; i++) {
        cg_tensor *x = node->many[i], *gx = cg__grad(x);
        size_t len = x->numel / outer;
        if (gx) cg__block_copy(ctx, gy, off, total * inner, gx, 0, len, outer, len, true);
        off += len;
    }
}

static int normalize_axis(int axis, int ndim)
{
    return axis < 0 ? axis + ndim : axis;
}

static cg_tensor *concat(cg_context *ctx, cg_tensor *const *xs, size_t count, int axis);

cg_tensor *cg_concat(cg_tensor *const *xs, size_t count, int axis)
{
    if (!xs || count == 0) return NULL;
    cg_context *ctx = cg__op_context("cg_concat", xs, count);
    if (!ctx) return NULL;
    /* The block copies read dense inputs: views get contiguous copies. */
    cg_tensor **plain = cg__malloc(count * sizeof *plain);
    if (!plain) {
        cg__fail(ctx, CG_ERROR_NO_MEMORY, "cg_concat: out of memory");
        return NULL;
    }
    memcpy(plain, xs, count * sizeof *xs);
    cg_tensor *out = cg__plain_all(plain, count, "cg_concat") ? concat(ctx, plain, count, axis)
                                                               : NULL;
    free(plain);
    return out;
}

static cg_tensor *concat(cg_context *ctx, cg_tensor *const *xs, size_t count, int axis)
{
    const cg_shape first = xs[0]->shape;
    int ax = normalize_axis(axis, first.ndim);
    if (ax < 0 || ax >= first.ndim) {
        cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "cg_concat: axis %d out of range for %d dims",
                 axis, first.ndim);
        return NULL;
    }
    cg_shape shape = first;
    shape.dims[ax] = 0;
    for (size_t i = 0; i < count; i++) {
        cg_shape s = xs[i]->shape;
        bool ok = s.ndim == first.ndim;
        for (int d = 0; ok && d < s.ndim; d++)
            if (d != ax && s.dims[d] != first.dims[d]) ok = false;
        if (!ok) {
            char a[64], b[64];
            cg__shape_format(first, a, sizeof a);
            cg__shape_format(s, b, sizeof b);
            cg__fail(ctx, CG_ERROR_SHAPE_MISMATCH,
                     "cg_concat: %s and %s differ outside axis %d", a, b, ax);
            return NULL;
        }
        shape.dims[ax] += s.dims[ax];
    }
    size_t outer = 1, inner = 1;
    for (int d = 0; d < ax; d++) outer *= first.dims[d];
    for (int d = ax + 1; d < first.ndim; d++) inner *= first.dims[d];
    cg_tensor *out = cg__op_output(ctx, shape, xs, count, "cg_concat");
    if (!out) return NULL;
    size_t total = shape.dims[ax], off = 0;
    for (size_t i = 0; i < count; i++) {
        size_t len = xs[i]->numel / outer;
        cg__block_copy(ctx, xs[i], 0, len, out, off, total * inner, outer, len, false);
        off += len;
    }
    cg__node *node = cg__record(ctx, out, concat_backward_rule, NULL, NULL);
    if (node) {
        node->many = cg__malloc(count * sizeof *node->many);
        if (!node->many) {
            cg__fail(ctx, CG_ERROR_NO_MEMORY, "cg_concat: out of memory");
            return NULL;
        }
        for (size_t i = 0; i < count; i++) node->many[i] = cg__tensor_retain(xs[i]);
        node->nmany = count;
        node->ia = outer;
        node->ib = inner;
        node->ic = total;
    }
    return ctx->status ? NULL : out;
}

cg_tensor *cg_index_rows(cg_tensor *x, const unsigned *rows, size_t count)
{
    static const char what[] = "cg_index_rows";
    cg_context *ctx = cg__op_context(what, &x, 1);
    if (!ctx) return NULL;
    if (!rows) {
        cg__fail(ctx, CG_ERROR_NULL_POINTER, "%s: rows is NULL", what);
        return NULL;
    }
    if (count == 0) {
        cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "%s: no rows", what);
        return NULL;
    }
    if (x->requires_grad) {
        cg__fail(ctx, CG_ERROR_UNSUPPORTED, "%s: the input requires grad; the backward of a "
                 "row gather is not implemented yet", what);
        return NULL;
    }
    if (!(x = cg__plain(x, what))) return NULL;
    size_t n = x->shape.dims[0], cols = x->numel / n;
    for (size_t r = 0; r < count; r++)
        if (rows[r] >= n) {
            cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "%s: row %u is out of range (%zu rows)",
                     what, rows[r], n);
            return NULL;
        }
    cg_shape shape = x->shape;
    shape.dims[0] = count;
    cg_tensor *out = cg__op_output(ctx, shape, &x, 1, what);
    if (!out) return NULL;
    if (ctx->is_ref) {
        for (size_t r = 0; r < count; r++)
            memcpy(out->host + r * cols, x->host + (size_t)rows[r] * cols, cols * sizeof(float));
        return out;
    }
    cl_kernel k = cg__kernel(ctx, CG__PROGRAM_SHAPE, NULL, "cg_gather_rows");
    cl_mem idx = cg__buffer_get(ctx, count * sizeof(cl_uint), what);
    cl_uint c = (cl_uint)cols, cnt = (cl_uint)count;
    if (k && idx && !cg__write(ctx, idx, 0, count * sizeof(cl_uint), rows, true, what) &&
        !cg__set_args(ctx, k, what, sizeof(cl_mem), &x->mem, sizeof c, &c, sizeof(cl_mem), &idx,
                      sizeof cnt, &cnt, sizeof(cl_mem), &out->mem, (size_t)0))
        cg__launch_n(ctx, k, count * cols, what);
    cg__buffer_put(ctx, idx, count * sizeof(cl_uint));
    return ctx->status ? NULL : out;
}
