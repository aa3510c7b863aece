/* Tensors' constructors and transfers (the storage and views themselves are
 * in storage.c and view.c); their memory comes from the context's pool
 * (pool.c) through the backend. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- tensors ----------------------------------------------------------- */

static cg_tensor *tensor_new(cg_context *ctx, cg_shape shape, const char *what)
{
    cg_tensor *t = cg__tensor_new(ctx, shape, false, what);
    if (t) t->user_ref = true; /* the caller's handle: cg_tensor_free releases it */
    return t;
}

cg_tensor *cg_tensor_from(cg_context *ctx, const float *data, cg_shape shape)
{
    if (ctx && !data) {
        cg__fail(ctx, CG_ERROR_NULL_POINTER, "cg_tensor_from: data is NULL");
        return NULL;
    }
    cg_tensor *t = tensor_new(ctx, shape, "cg_tensor_from");
    /* New: no recorded node reads it, nothing to realize first. */
    if (t && ctx->backend->write(ctx, t->storage, 0, t->bytes, data, "cg_tensor_from")) {
        cg_tensor_free(t);
        return NULL;
    }
    return t;
}

static cg_tensor *tensor_full(cg_context *ctx, cg_shape shape, float value, const char *what)
{
    cg_tensor *t = tensor_new(ctx, shape, what);
    if (!t) return NULL;
    if (ctx->backend->fill(ctx, t->storage, 0, t->bytes, value, what)) {
        cg_tensor_free(t);
        return NULL;
    }
    return t;
}

cg_tensor *cg_tensor_full(cg_context *ctx, cg_shape shape, float value)
{
    return tensor_full(ctx, shape, value, "cg_tensor_full");
}

cg_tensor *cg_tensor_zeros(cg_context *ctx, cg_shape shape)
{
    return tensor_full(ctx, shape, 0.0f, "cg_tensor_zeros");
}

static cg_status check_count(const cg_tensor *t, size_t count, const void *ptr, const char *what)
{
    if (!t) return CG_ERROR_NULL_POINTER;
    if (t->ctx->status) return t->ctx->status;
    if (!ptr) return cg__fail(t->ctx, CG_ERROR_NULL_POINTER, "%s: buffer is NULL", what);
    if (count != t->numel)
        return cg__fail(t->ctx, CG_ERROR_SHAPE_MISMATCH,
                        "%s: count %zu differs from the tensor's %zu elements", what, count,
                        t->numel);
    return CG_OK;
}

/* A view's elements pass through a contiguous temporary (no history). */
static cg_status read_view(const cg_tensor *t, float *dst)
{
    cg_context *ctx = t->ctx;
    cg_tensor *tmp = cg__tensor_new(ctx, t->shape, false, "cg_tensor_read");
    cg__layout sl = cg__layout_of(t), dl;
    cg__layout_contiguous(&dl, t->shape);
    if (tmp && !cg__strided_copy(ctx, (cg_tensor *)t, &sl, tmp, &dl, false, "cg_tensor_read"))
        cg_tensor_read(tmp, dst, t->numel);
    cg__tensor_release(tmp);
    return ctx->status;
}

/* Writing a view writes the elements it shows in its base, as in PyTorch.
 * An expanded view (repeated elements) takes the last write of each. */
static cg_status write_view(cg_tensor *t, const float *src)
{
    cg_context *ctx = t->ctx;
    cg__layout sl, dl = cg__layout_of(t);
    for (int d = 0; d < dl.shape.ndim; d++)
        if (dl.shape.dims[d] > 1 && dl.strides[d] == 0)
            return cg__fail(ctx, CG_ERROR_UNSUPPORTED,
                            "cg_tensor_write: the tensor is an expanded view: several of its "
                            "elements are one element of its base (write the base, or a "
                            "contiguous copy)");
    cg_tensor *tmp = cg__tensor_new(ctx, t->shape, false, "cg_tensor_write");
    cg__layout_contiguous(&sl, t->shape);
    if (tmp && !cg_tensor_write(tmp, src, t->numel))
        cg__strided_copy(ctx, tmp, &sl, t, &dl, false, "cg_tensor_write");
    cg__tensor_release(tmp);
    return ctx->status;
}

cg_status cg_tensor_read(const cg_tensor *t, float *dst, size_t count)
{
    cg_status s = check_count(t, count, dst, "cg_tensor_read");
    if (s) return s;
    if (cg__realize(t->ctx)) return t->ctx->status;
    if (!t->plain) return read_view(t, dst);
    return t->ctx->backend->read(t->ctx, t->storage, 0, t->bytes, dst, "cg_tensor_read");
}

cg_status cg_tensor_write(cg_tensor *t, const float *src, size_t count)
{
    cg_status s = check_count(t, count, src, "cg_tensor_write");
    if (s) return s;
    /* In place: what the graph has recorded so far reads t as it was. */
    if (cg__realize(t->ctx)) return t->ctx->status;
    if (!t->plain) return write_view(t, src);
    return t->ctx->backend->write(t->ctx, t->storage, 0, t->bytes, src, "cg_tensor_write");
}

void cg__sparse_free(cg__sparse *s)
{
    if (!s) return;
    free(s->rows);
    cg__tensor_release(s->values);
    free(s);
}

bool cg__shape_equal(cg_shape a, cg_shape b)
{
    if (a.ndim != b.ndim) return false;
    for (int i = 0; i < a.ndim; i++)
        if (a.dims[i] != b.dims[i]) return false;
    return true;
}

size_t cg__shape_numel(cg_shape s)
{
    size_t n = 1;
    for (int i = 0; i < s.ndim && i < CG_MAX_DIMS; i++) {
        if (s.dims[i] && n > SIZE_MAX / s.dims[i]) return SIZE_MAX; /* no tensor is this big */
        n *= s.dims[i];
    }
    return n;
}

/* Callers format shapes the user gave, before or without checking them: an
 * ndim outside 1..CG_MAX_DIMS is written as such, never read past dims. */
void cg__shape_format(cg_shape s, char *buf, size_t cap)
{
    if (s.ndim < 1 || s.ndim > CG_MAX_DIMS) {
        snprintf(buf, cap, "[%d dims]", s.ndim);
        return;
    }
    size_t len = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < s.ndim && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%zu", i ? "," : "", s.dims[i]);
    if (len < cap) snprintf(buf + len, cap - len, "]");
}

size_t cg_tensor_numel(const cg_tensor *t) { return t ? t->numel : 0; }

cg_shape cg_tensor_shape(const cg_tensor *t)
{
    cg_shape none = {0, {0}};
    return t ? t->shape : none;
}

cg_context *cg_tensor_context(const cg_tensor *t) { return t ? t->ctx : NULL; }
