/* Tensors (float32, contiguous) and transfers; their memory comes from the
 * context's pool (pool.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

cg_status cg__write(cg_context *ctx, cl_mem mem, size_t offset, size_t bytes, const void *src,
                    bool blocking, const char *what)
{
    if (ctx->status) return ctx->status;
    if (bytes == 0) return CG_OK;
    cl_int err = cg__clEnqueueWriteBuffer(ctx->queue, mem, blocking ? CL_TRUE : CL_FALSE, offset,
                                          bytes, src, 0, NULL, NULL);
    return err == CL_SUCCESS ? CG_OK : cg__cl_fail(ctx, err, what);
}

cg_status cg__read(cg_context *ctx, cl_mem mem, size_t offset, size_t bytes, void *dst,
                   bool blocking, const char *what)
{
    if (ctx->status) return ctx->status;
    if (bytes == 0) return CG_OK;
    cl_int err = cg__clEnqueueReadBuffer(ctx->queue, mem, blocking ? CL_TRUE : CL_FALSE, offset, bytes,
                                         dst, 0, NULL, NULL);
    return err == CL_SUCCESS ? CG_OK : cg__cl_fail(ctx, err, what);
}

cg_status cg__fill_zero(cg_context *ctx, cl_mem mem, size_t bytes, const char *what)
{
    if (ctx->status) return ctx->status;
    const cl_int zero = 0; /* 0.0f and integer 0 share the bit pattern */
    cl_int err = cg__clEnqueueFillBuffer(ctx->queue, mem, &zero, sizeof zero, 0, bytes, 0, NULL, NULL);
    return err == CL_SUCCESS ? CG_OK : cg__cl_fail(ctx, err, what);
}

cg_status cg__sync(cg_context *ctx, const char *what)
{
    if (ctx->status) return ctx->status;
    cl_int err = cg__clFinish(ctx->queue);
    return err == CL_SUCCESS ? CG_OK : cg__cl_fail(ctx, err, what);
}

/* ---- tensors ----------------------------------------------------------- */

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

cg_tensor *cg__tensor_new(cg_context *ctx, cg_shape shape, bool tape_owned, const char *what)
{
    if (!ctx) return NULL;
    if (ctx->status) return NULL;
    size_t numel;
    if (!shape_valid(ctx, shape, what, &numel)) return NULL;
    cg_tensor *t = cg__calloc(1, sizeof *t);
    if (!t) {
        cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory", what);
        return NULL;
    }
    t->ctx = ctx;
    t->shape = shape;
    for (int i = shape.ndim; i < CG_MAX_DIMS; i++) t->shape.dims[i] = 0;
    t->numel = numel;
    t->bytes = numel * sizeof(float);
    t->node = -1;
    if (ctx->is_ref)
        t->host = cg__host_get(ctx, t->bytes, what);
    else
        t->mem = cg__buffer_get(ctx, t->bytes, what);
    if (!t->host && !t->mem) {
        free(t);
        return NULL;
    }
    if (tape_owned && !cg__tape_own(ctx, t)) {
        cg__tensor_destroy(t);
        cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory", what);
        return NULL;
    }
    return t;
}

static cg_tensor *tensor_new(cg_context *ctx, cg_shape shape, const char *what)
{
    return cg__tensor_new(ctx, shape, false, what);
}

cg_tensor *cg_tensor_from(cg_context *ctx, const float *data, cg_shape shape)
{
    if (ctx && !data) {
        cg__fail(ctx, CG_ERROR_NULL_POINTER, "cg_tensor_from: data is NULL");
        return NULL;
    }
    cg_tensor *t = tensor_new(ctx, shape, "cg_tensor_from");
    if (t && cg_tensor_write(t, data, t->numel) != CG_OK) {
        cg_tensor_free(t);
        return NULL;
    }
    return t;
}

static cg_tensor *tensor_full(cg_context *ctx, cg_shape shape, float value, const char *what)
{
    cg_tensor *t = tensor_new(ctx, shape, what);
    if (!t) return NULL;
    if (ctx->is_ref) {
        for (size_t i = 0; i < t->numel; i++) t->host[i] = value;
        return t;
    }
    cl_int err = cg__clEnqueueFillBuffer(ctx->queue, t->mem, &value, sizeof value, 0, t->bytes, 0,
                                         NULL, NULL);
    if (err != CL_SUCCESS) {
        cg__cl_fail(ctx, err, what);
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

cg_status cg_tensor_read(const cg_tensor *t, float *dst, size_t count)
{
    cg_status s = check_count(t, count, dst, "cg_tensor_read");
    if (s) return s;
    if (t->host) {
        memcpy(dst, t->host, t->bytes);
        return CG_OK;
    }
    return cg__read(t->ctx, t->mem, 0, t->bytes, dst, true, "cg_tensor_read");
}

cg_status cg_tensor_write(cg_tensor *t, const float *src, size_t count)
{
    cg_status s = check_count(t, count, src, "cg_tensor_write");
    if (s) return s;
    if (t->host) {
        memcpy(t->host, src, t->bytes);
        return CG_OK;
    }
    return cg__write(t->ctx, t->mem, 0, t->bytes, src, true, "cg_tensor_write");
}

void cg__sparse_free(cg__sparse *s)
{
    if (!s) return;
    free(s->rows);
    cg__tensor_destroy(s->values);
    free(s);
}

void cg__tensor_destroy(cg_tensor *t)
{
    if (!t) return;
    cg__tensor_destroy(t->grad);
    cg__sparse_free(t->sparse);
    if (t->borrowed) { /* a view into an arena: only the view's handle goes */
        if (t->mem) cg__clReleaseMemObject(t->mem);
    } else {
        if (t->host) cg__host_put(t->ctx, t->host, t->bytes);
        if (t->mem) cg__buffer_put(t->ctx, t->mem, t->bytes);
    }
    free(t);
}

void cg_tensor_free(cg_tensor *t)
{
    /* Tensors that ops made belong to the tape: cg_tape_reset frees them; so
     * does it those the tape still reads (a backward may yet need them). */
    if (t && !t->tape_owned && !cg__tape_adopt(t)) cg__tensor_destroy(t);
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
