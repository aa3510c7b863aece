/* Views: reshape, transpose/permute, expand, narrow/slice, select/at. Each
 * makes a tensor over its input's storage with a new layout: no copy, no
 * allocation. A kernel that needs dense operands gets a contiguous copy
 * (cg__plain), recorded like any op so gradients flow through it.
 *
 * Backward of a view: the same view laid over the input's gradient (which
 * is contiguous) receives the output's gradient, element by element. That
 * is a scatter without collisions for every view but expand, whose repeated
 * elements are summed instead (cg_sum_to's reduction). */
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* The view of a layout, applied to the actual layout of the input (the
 * forward) and to the contiguous layout of its shape (the backward). */
typedef enum view_kind {
    VIEW_RESHAPE, /* contiguous input only */
    VIEW_PERMUTE,
    VIEW_EXPAND,
    VIEW_NARROW,
    VIEW_SELECT,
} view_kind;

typedef struct view_args {
    view_kind kind;
    cg_shape shape;             /* reshape, expand */
    int perm[CG_MAX_DIMS];      /* permute */
    int dim;                    /* narrow, select */
    size_t start, length;       /* narrow; select: start */
} view_args;

static void apply(const view_args *v, const cg__layout *in, cg__layout *out)
{
    cg__layout r;
    memset(&r, 0, sizeof r);
    switch (v->kind) {
    case VIEW_RESHAPE: /* only of contiguous data: strides are the new shape's */
        cg__layout_contiguous(&r, v->shape);
        r.offset = in->offset;
        break;
    case VIEW_PERMUTE:
        r.shape.ndim = in->shape.ndim;
        for (int d = 0; d < in->shape.ndim; d++) {
            r.shape.dims[d] = in->shape.dims[v->perm[d]];
            r.strides[d] = in->strides[v->perm[d]];
        }
        r.offset = in->offset;
        break;
    case VIEW_EXPAND: { /* right-aligned: new leading dims and extents of 1 repeat */
        int lead = v->shape.ndim - in->shape.ndim;
        r.shape = v->shape;
        for (int d = 0; d < v->shape.ndim; d++) {
            int s = d - lead;
            bool repeat = s < 0 || in->shape.dims[s] != v->shape.dims[d];
            r.strides[d] = repeat ? 0 : in->strides[s];
        }
        r.offset = in->offset;
        break;
    }
    case VIEW_NARROW:
        r = *in;
        r.shape.dims[v->dim] = v->length;
        r.offset = in->offset + v->start * in->strides[v->dim];
        break;
    case VIEW_SELECT: /* drops the dimension; a 1-D input leaves [1] */
        r.offset = in->offset + v->start * in->strides[v->dim];
        if (in->shape.ndim == 1) {
            r.shape.ndim = 1;
            r.shape.dims[0] = 1;
            r.strides[0] = 1;
            break;
        }
        r.shape.ndim = in->shape.ndim - 1;
        for (int d = 0, o = 0; d < in->shape.ndim; d++) {
            if (d == v->dim) continue;
            r.shape.dims[o] = in->shape.dims[d];
            r.strides[o++] = in->strides[d];
        }
        break;
    }
    *out = r;
}

static bool repeats(const cg__layout *l)
{
    for (int d = 0; d < l->shape.ndim; d++)
        if (l->shape.dims[d] > 1 && l->strides[d] == 0) return true;
    return false;
}

static void view_backward_rule(cg_context *ctx, cg__node *node)
{
    cg_tensor *x = node->in[0], *gx = cg__grad(x), *gy = node->out->grad;
    if (!gx) return;
    if (repeats(&node->la)) { /* expand: sum the repeats back */
        cg__emit(ctx, CG__OP_SUM_TO, "cg_backward", gx, gy, NULL, NULL);
        return;
    }
    cg__layout dense = node->la;
    dense.offset = 0;
    if (cg__layout_is_plain(&dense)) { /* one block (at, slice): no strides to pass */
        cg__node *n = cg__emit(ctx, CG__OP_BLOCK_COPY, "cg_backward", gx, gy, NULL, NULL);
        if (!n) return;
        n->ic = node->la.offset; /* into gx at the view's offset */
        n->ie = 1;
        n->ig = gy->numel;
        n->flag_a = true;
        return;
    }
    cg__layout gl;
    cg__layout_contiguous(&gl, gy->shape);
    cg__strided_copy_node(ctx, gy, &gl, gx, &node->la, true, "cg_backward");
}

static cg_tensor *make_view(const char *what, cg_tensor *x, const view_args *v)
{
    cg_context *ctx = x->ctx;
    cg__layout in = cg__layout_of(x), out, rel;
    apply(v, &in, &out);
    cg_tensor *y = cg__tensor_view(x, &out, what);
    if (!y) return NULL;
    if (ctx->tape.no_grad == 0 && x->requires_grad) y->requires_grad = true;
    if (!y->requires_grad) return y; /* nothing to compute, nothing to differentiate */
    cg__node *node = cg__emit(ctx, CG__OP_VIEW, what, y, x, NULL, NULL);
    if (!node) return NULL;
    cg__layout_contiguous(&in, x->shape);
    apply(v, &in, &rel);
    node->la = rel;
    cg__differentiable(ctx, node, view_backward_rule);
    return y;
}

/* ---- contiguous copies --------------------------------------------------- */

static void copy_backward_rule(cg_context *ctx, cg__node *node)
{
    cg_tensor *x = node->in[0], *gx = cg__grad(x), *gy = node->out->grad;
    if (!gx) return;
    cg__node *n = cg__emit(ctx, CG__OP_AXPY, "cg_backward", gx, gy, NULL, NULL);
    if (n) n->scalar = 1.0f;
}

static cg_tensor *contiguous_copy(cg_tensor *x, const char *what)
{
    cg_context *ctx = x->ctx;
    cg_tensor *y = cg__op_output(ctx, x->shape, &x, 1, what);
    if (!y) return NULL;
    cg__layout sl = cg__layout_of(x), dl;
    cg__layout_contiguous(&dl, x->shape);
    cg__node *node = cg__strided_copy_node(ctx, x, &sl, y, &dl, false, what);
    cg__differentiable(ctx, node, copy_backward_rule);
    return cg__submit(ctx) ? NULL : y;
}

cg_tensor *cg__plain(cg_tensor *x, const char *what)
{
    if (!x || x->ctx->status) return NULL;
    cg__tensor_refresh(x); /* an arena may have moved the storage's buffer */
    return x->plain ? x : contiguous_copy(x, what);
}

bool cg__plain_all(cg_tensor **ts, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (!(ts[i] = cg__plain(ts[i], what))) return false;
    return true;
}

cg_tensor *cg_contiguous(cg_tensor *x)
{
    cg_context *ctx = cg__op_context("cg_contiguous", &x, 1);
    if (!ctx) return NULL;
    return contiguous_copy(x, "cg_contiguous");
}

bool cg_is_contiguous(const cg_tensor *t)
{
    if (!t) return false;
    cg__layout l = cg__layout_of(t);
    return cg__layout_is_plain(&l);
}

/* ---- the view ops --------------------------------------------------------- */

static int normalize_dim(cg_context *ctx, const char *what, int dim, int ndim)
{
    int d = dim < 0 ? dim + ndim : dim;
    if (d < 0 || d >= ndim) {
        cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                 "%s: dimension %d is out of range for a tensor of %d dimensions", what, dim,
                 ndim);
        return -1;
    }
    return d;
}

cg_tensor *cg_reshape(cg_tensor *x, cg_shape shape)
{
    static const char what[] = "cg_reshape";
    cg_context *ctx = cg__op_context(what, &x, 1);
    if (!ctx) return NULL;
    if (shape.ndim < 1 || shape.ndim > CG_MAX_DIMS) {
        cg__fail(ctx, CG_ERROR_SHAPE_MISMATCH, "%s: a shape has 1 to %d dimensions (got %d)",
                 what, CG_MAX_DIMS, shape.ndim);
        return NULL;
    }
    if (cg__shape_numel(shape) != x->numel) {
        char a[96], b[96];
        cg__shape_format(x->shape, a, sizeof a);
        cg__shape_format(shape, b, sizeof b);
        cg__fail(ctx, CG_ERROR_SHAPE_MISMATCH, "%s: cannot view %s as %s", what, a, b);
        return NULL;
    }
    for (int d = 0; d < shape.ndim; d++)
        if (shape.dims[d] == 0) {
            cg__fail(ctx, CG_ERROR_SHAPE_MISMATCH, "%s: dimension %d is 0", what, d);
            return NULL;
        }
    /* As torch.reshape: a view of contiguous data, else a copy first. */
    cg__layout l = cg__layout_of(x);
    l.offset = 0;
    bool dense = cg__layout_is_plain(&l);
    cg_tensor *src = dense ? x : contiguous_copy(x, what);
    if (!src) return NULL;
    view_args v = {.kind = VIEW_RESHAPE, .shape = shape};
    return make_view(what, src, &v);
}

cg_tensor *cg_permute(cg_tensor *x, const int *dims, size_t ndims)
{
    static const char what[] = "cg_permute";
    cg_context *ctx = cg__op_context(what, &x, 1);
    if (!ctx) return NULL;
    if (!dims) {
        cg__fail(ctx, CG_ERROR_NULL_POINTER, "%s: dims is NULL", what);
        return NULL;
    }
    if (ndims != (size_t)x->shape.ndim) {
        cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                 "%s: %zu dimensions given for a tensor of %d (name each once)", what, ndims,
                 x->shape.ndim);
        return NULL;
    }
    view_args v = {.kind = VIEW_PERMUTE};
    bool seen[CG_MAX_DIMS] = {false};
    for (size_t i = 0; i < ndims; i++) {
        int d = normalize_dim(ctx, what, dims[i], x->shape.ndim);
        if (d < 0) return NULL;
        if (seen[d]) {
            cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "%s: dimension %d appears twice", what, d);
            return NULL;
        }
        seen[d] = true;
        v.perm[i] = d;
    }
    return make_view(what, x, &v);
}

cg_tensor *cg_transpose(cg_tensor *x, int dim0, int dim1)
{
    static const char what[] = "cg_transpose";
    cg_context *ctx = cg__op_context(what, &x, 1);
    if (!ctx) return NULL;
    int a = normalize_dim(ctx, what, dim0, x->shape.ndim);
    int b = a < 0 ? -1 : normalize_dim(ctx, what, dim1, x->shape.ndim);
    if (b < 0) return NULL;
    view_args v = {.kind = VIEW_PERMUTE};
    for (int d = 0; d < x->shape.ndim; d++) v.perm[d] = d;
    v.perm[a] = b;
    v.perm[b] = a;
    return make_view(what, x, &v);
}

cg_tensor *cg_expand(cg_tensor *x, cg_shape shape)
{
    static const char what[] = "cg_expand";
    cg_context *ctx = cg__op_context(what, &x, 1);
    if (!ctx) return NULL;
    char a[96], b[96];
    cg__shape_format(x->shape, a, sizeof a);
    cg__shape_format(shape, b, sizeof b);
    if (shape.ndim < x->shape.ndim || shape.ndim > CG_MAX_DIMS) {
        cg__fail(ctx, CG_ERROR_SHAPE_MISMATCH,
                 "%s: cannot expand %s to %s (the new shape needs at least as many dimensions, "
                 "at most %d)",
                 what, a, b, CG_MAX_DIMS);
        return NULL;
    }
    int lead = shape.ndim - x->shape.ndim;
    for (int d = 0; d < shape.ndim; d++) {
        size_t have = d >= lead ? x->shape.dims[d - lead] : 1;
        if (shape.dims[d] == 0 || (have != 1 && have != shape.dims[d])) {
            cg__fail(ctx, CG_ERROR_SHAPE_MISMATCH,
                     "%s: cannot expand %s to %s (dimension %d: only extents of 1 stretch)", what,
                     a, b, d);
            return NULL;
        }
    }
    view_args v = {.kind = VIEW_EXPAND, .shape = shape};
    return make_view(what, x, &v);
}

cg_tensor *cg_narrow(cg_tensor *x, int dim, size_t start, size_t length)
{
    static const char what[] = "cg_narrow";
    cg_context *ctx = cg__op_context(what, &x, 1);
    if (!ctx) return NULL;
    int d = normalize_dim(ctx, what, dim, x->shape.ndim);
    if (d < 0) return NULL;
    size_t n = x->shape.dims[d];
    if (length == 0 || start >= n || length > n - start) {
        char a[96];
        cg__shape_format(x->shape, a, sizeof a);
        cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                 "%s: [%zu, %zu + %zu) is empty or out of range for dimension %d of %s", what,
                 start, start, length, d, a);
        return NULL;
    }
    view_args v = {.kind = VIEW_NARROW, .dim = d, .start = start, .length = length};
    return make_view(what, x, &v);
}

cg_tensor *cg_select(cg_tensor *x, int dim, size_t index)
{
    static const char what[] = "cg_select";
    cg_context *ctx = cg__op_context(what, &x, 1);
    if (!ctx) return NULL;
    int d = normalize_dim(ctx, what, dim, x->shape.ndim);
    if (d < 0) return NULL;
    if (index >= x->shape.dims[d]) {
        char a[96];
        cg__shape_format(x->shape, a, sizeof a);
        cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                 "%s: index %zu is out of range for dimension %d of %s", what, index, d, a);
        return NULL;
    }
    view_args v = {.kind = VIEW_SELECT, .dim = d, .start = index};
    return make_view(what, x, &v);
}

cg_tensor *cg_at(cg_tensor *x, size_t i)
{
    cg_context *ctx = cg__op_context("cg_at", &x, 1);
    if (!ctx) return NULL;
    if (i >= x->shape.dims[0]) {
        char a[96];
        cg__shape_format(x->shape, a, sizeof a);
        cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "cg_at: index %zu is out of range for %s", i, a);
        return NULL;
    }
    view_args v = {.kind = VIEW_SELECT, .dim = 0, .start = i};
    return make_view("cg_at", x, &v);
}

cg_tensor *cg_slice(cg_tensor *x, size_t start, size_t stop)
{
    cg_context *ctx = cg__op_context("cg_slice", &x, 1);
    if (!ctx) return NULL;
    if (start >= stop || stop > x->shape.dims[0]) {
        char a[96];
        cg__shape_format(x->shape, a, sizeof a);
        cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                 "cg_slice: [%zu:%zu] is empty or out of range for %s", start, stop, a);
        return NULL;
    }
    view_args v = {.kind = VIEW_NARROW, .dim = 0, .start = start, .length = stop - start};
    return make_view("cg_slice", x, &v);
}
