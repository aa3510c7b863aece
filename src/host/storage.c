/* Storage and tensors as views onto it (PyTorch's split): a storage is one
 * buffer, reference counted; a tensor is a shape, strides and an offset over
 * a storage, reference counted too. Views (view.c) share their base's
 * storage and allocate nothing; memory returns to the pool when the last
 * tensor viewing it goes. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

cg__storage *cg__storage_new(cg_context *ctx, size_t bytes, const char *what)
{
    cg__storage *s = cg__calloc(1, sizeof *s);
    if (!s) {
        cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory", what);
        return NULL;
    }
    s->refs = 1;
    s->ctx = ctx;
    s->bytes = bytes;
    if (ctx->backend->alloc(ctx, s, what) != CG_OK) {
        free(s);
        return NULL;
    }
    return s;
}

void cg__storage_release(cg__storage *s)
{
    if (!s || --s->refs > 0) return;
    s->ctx->backend->release(s->ctx, s); /* borrowed: only the handle goes */
    free(s);
}

/* ---- layouts ------------------------------------------------------------ */

void cg__layout_contiguous(cg__layout *l, cg_shape shape)
{
    memset(l, 0, sizeof *l);
    l->shape = shape;
    size_t stride = 1;
    for (int d = shape.ndim - 1; d >= 0; d--) {
        l->strides[d] = stride;
        stride *= shape.dims[d];
    }
}

cg__layout cg__layout_of(const cg_tensor *t)
{
    cg__layout l;
    l.shape = t->shape;
    memcpy(l.strides, t->strides, sizeof l.strides);
    l.offset = t->offset;
    return l;
}

/* Dimensions of extent 1 may carry any stride: they never move the offset. */
bool cg__layout_is_plain(const cg__layout *l)
{
    if (l->offset != 0) return false;
    size_t stride = 1;
    for (int d = l->shape.ndim - 1; d >= 0; d--) {
        if (l->shape.dims[d] != 1 && l->strides[d] != stride) return false;
        stride *= l->shape.dims[d];
    }
    return true;
}

/* A tensor's layout never changes: plain is computed once (tensor_over);
 * only the storage's buffer may move. */
void cg__tensor_refresh(cg_tensor *t)
{
    t->mem = t->plain ? t->storage->mem : NULL;
    t->host = t->plain ? t->storage->host : NULL;
}

/* ---- tensors ------------------------------------------------------------ */

static bool shape_valid(cg_context *ctx, cg_shape shape, const char *what, size_t *numel)
{
    if (shape.ndim < 1 || shape.ndim > CG_MAX_DIMS) {
        cg__fail(ctx, CG_ERROR_SHAPE_MISMATCH, "%s: a tensor has 1 to %d dimensions (got %d)",
                 what, CG_MAX_DIMS, shape.ndim);
        return false;
    }
    size_t n = 1;
    for (int i = 0; i < shape.ndim; i++) {
        if (shape.dims[i] == 0) {
            cg__fail(ctx, CG_ERROR_SHAPE_MISMATCH, "%s: dimension %d is 0", what, i);
            return false;
        }
        if (n > SIZE_MAX / sizeof(float) / shape.dims[i]) {
            cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: shape too large", what);
            return false;
        }
        n *= shape.dims[i];
    }
    /* Beyond the largest allocation is out of memory, not a driver error
     * (PoCL would answer CL_INVALID_BUFFER_SIZE). */
    if (ctx->max_alloc_bytes && n > ctx->max_alloc_bytes / sizeof(float)) {
        char s[64];
        cg__shape_format(shape, s, sizeof s);
        cg__fail(ctx, CG_ERROR_NO_MEMORY,
                 "%s: a tensor of shape %s needs %zu bytes, more than the device can allocate "
                 "at once (%llu bytes)",
                 what, s, n * sizeof(float), (unsigned long long)ctx->max_alloc_bytes);
        return false;
    }
    *numel = n;
    return true;
}

/* The tensor object alone, over `storage` (whose reference it takes). */
static cg_tensor *tensor_over(cg_context *ctx, cg__storage *storage, const cg__layout *l,
                              size_t numel, bool tape_owned, const char *what)
{
    cg_tensor *t = cg__calloc(1, sizeof *t);
    if (!t) {
        cg__storage_release(storage);
        cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory", what);
        return NULL;
    }
    t->ctx = ctx;
    t->shape = l->shape;
    for (int i = l->shape.ndim; i < CG_MAX_DIMS; i++) t->shape.dims[i] = 0;
    memcpy(t->strides, l->strides, sizeof t->strides);
    t->offset = l->offset;
    t->numel = numel;
    t->bytes = numel * sizeof(float);
    t->storage = storage;
    t->refs = 1;
    t->tape_owned = tape_owned; /* user_ref: set by the public constructors */
    t->node = -1;
    t->plain = cg__layout_is_plain(l);
    cg__tensor_refresh(t);
    if (tape_owned && !cg__tape_own(ctx, t)) {
        cg__tensor_release(t);
        cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory", what);
        return NULL;
    }
    return t;
}

cg_tensor *cg__tensor_new(cg_context *ctx, cg_shape shape, bool tape_owned, const char *what)
{
    if (!ctx || ctx->status) return NULL;
    size_t numel;
    if (!shape_valid(ctx, shape, what, &numel)) return NULL;
    cg__storage *s = cg__storage_new(ctx, numel * sizeof(float), what);
    if (!s) return NULL;
    cg__layout l;
    cg__layout_contiguous(&l, shape);
    return tensor_over(ctx, s, &l, numel, tape_owned, what);
}

cg_tensor *cg__tensor_borrowed(cg_context *ctx, cg_shape shape, cl_mem mem, float *host,
                               const char *what)
{
    size_t numel = cg__shape_numel(shape);
    cg__storage made = {.refs = 1, .ctx = ctx, .bytes = numel * sizeof(float), .mem = mem,
                        .host = host, .borrowed = true};
    cg__storage *s = cg__calloc(1, sizeof *s);
    if (!s) {
        ctx->backend->release(ctx, &made); /* the handle was ours: it goes */
        cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory", what);
        return NULL;
    }
    *s = made;
    cg__layout l;
    cg__layout_contiguous(&l, shape);
    return tensor_over(ctx, s, &l, numel, false, what);
}

cg_tensor *cg__tensor_view(cg_tensor *x, const cg__layout *layout, const char *what)
{
    cg_context *ctx = x->ctx;
    if (ctx->status) return NULL;
    x->storage->refs++;
    return tensor_over(ctx, x->storage, layout, cg__shape_numel(layout->shape), true, what);
}

cg_tensor *cg__tensor_retain(cg_tensor *t)
{
    if (t) t->refs++;
    return t;
}

void cg__tensor_release(cg_tensor *t)
{
    if (!t || --t->refs > 0) return;
    cg__tensor_release(t->grad);
    cg__sparse_free(t->sparse);
    cg__storage_release(t->storage);
    free(t);
}

void cg_tensor_free(cg_tensor *t)
{
    /* The caller's reference goes; the tape and the nodes that read t keep
     * theirs, so a backward still finds it. Tensors ops made hold no
     * reference of the caller's: the tape's goes at cg_tape_reset. */
    if (!t || !t->user_ref) return;
    t->user_ref = false;
    cg__tensor_release(t);
}

/* ---- strided copies ------------------------------------------------------ */

/* The kernel indexes with 32 bits: every element a layout reaches must be
 * below 2^32. */
static bool fits(const cg__layout *l)
{
    size_t last = l->offset;
    for (int d = 0; d < l->shape.ndim; d++) last += (l->shape.dims[d] - 1) * l->strides[d];
    return last <= 0xFFFFFFFFu;
}

cg__node *cg__strided_copy_node(cg_context *ctx, cg_tensor *src, const cg__layout *sl,
                                cg_tensor *dst, const cg__layout *dl, bool accumulate,
                                const char *what)
{
    if (ctx->status) return NULL;
    if (!fits(sl) || !fits(dl)) {
        cg__fail(ctx, CG_ERROR_UNSUPPORTED, "%s: a view reaching past 2^32-1 elements", what);
        return NULL;
    }
    cg__node *n = cg__emit(ctx, CG__OP_COPY, what, dst, src, NULL, NULL);
    if (!n) return NULL;
    n->la = *sl;
    n->lb = *dl;
    n->flag_a = accumulate;
    return n;
}

cg_status cg__strided_copy(cg_context *ctx, cg_tensor *src, const cg__layout *sl, cg_tensor *dst,
                           const cg__layout *dl, bool accumulate, const char *what)
{
    if (!cg__strided_copy_node(ctx, src, sl, dst, dl, accumulate, what)) return ctx->status;
    return cg__realize(ctx);
}
