/* Shape ops that copy (shape.cl): concatenation and row gathers, and the
 * block copy under them. The ops that only re-view their input (reshape,
 * slices, transposes) are in view.c. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The block copy's node, recorded only. */
static cg__node *block_copy_node(cg_context *ctx, const char *what, cg_tensor *src,
                                 size_t src_off, size_t src_stride, cg_tensor *dst,
                                 size_t dst_off, size_t dst_stride, size_t outer, size_t len,
                                 bool accumulate)
{
    cg__node *n = cg__emit(ctx, CG__OP_BLOCK_COPY, what, dst, src, NULL, NULL);
    if (!n) return NULL;
    n->ia = src_off;
    n->ib = src_stride;
    n->ic = dst_off;
    n->id = dst_stride;
    n->ie = outer;
    n->ig = len;
    n->flag_a = accumulate;
    return n;
}

cg_status cg__block_copy(cg_context *ctx, const cg_tensor *src, size_t src_off, size_t src_stride,
                         cg_tensor *dst, size_t dst_off, size_t dst_stride, size_t outer,
                         size_t len, bool accumulate)
{
    if (!block_copy_node(ctx, "clgrad", (cg_tensor *)src, src_off, src_stride, dst, dst_off, dst_stride, outer,
                         len, accumulate))
        return ctx->status;
    return cg__realize(ctx);
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
        if (gx)
            block_copy_node(ctx, "cg_backward", gy, off, total * inner, gx, 0, len, outer, len,
                            true);
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
        block_copy_node(ctx, "cg_concat", xs[i], 0, len, out, off, total * inner, outer, len,
                        false);
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
    return cg__submit(ctx) ? NULL : out;
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
    cg__node *node = cg__emit(ctx, CG__OP_GATHER_ROWS, what, out, x, NULL, NULL);
    if (!node) return NULL;
    node->ia = count;
    node->ib = cols;
    /* Run later: the node keeps its own copy of the indices. */
    if (!(node->rows = cg__malloc(count * sizeof *rows))) {
        cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory", what);
        return NULL;
    }
    memcpy(node->rows, rows, count * sizeof *rows);
    return cg__submit(ctx) ? NULL : out;
}
