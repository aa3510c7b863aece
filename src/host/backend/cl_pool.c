/* The OpenCL backend's buffers: cl_mem objects kept by the context's pool
 * (pool.c holds the bookkeeping every backend shares), a storage's memory
 * (the table's alloc, release and drop), and the transfers on the
 * context's in-order queue. */
#include "../internal.h"

static bool out_of_memory(cl_int err)
{
    return err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_RESOURCES ||
           err == CL_OUT_OF_HOST_MEMORY;
}

/* A buffer of class `bytes`, whatever the context's status; err set on
 * failure (the pool released and one more try made first). */
static cl_mem buffer_alloc(cg_context *ctx, size_t bytes, cl_int *err)
{
    cg__pool_entry e;
    if (cg__pool_take(ctx, bytes, &e)) return e.mem;
    cl_mem mem = cg__clCreateBuffer(ctx->cl, CL_MEM_READ_WRITE, bytes, NULL, err);
    if (!mem && out_of_memory(*err) && ctx->pool.count) {
        cg__pool_release(ctx); /* idle buffers may be what stands in the way */
        mem = cg__clCreateBuffer(ctx->cl, CL_MEM_READ_WRITE, bytes, NULL, err);
    }
    return mem;
}

cl_mem cg__buffer_get(cg_context *ctx, size_t bytes, const char *what)
{
    if (ctx->status || cg__pool_too_large(ctx, bytes, what)) return NULL;
    bytes = cg__pool_class(ctx, bytes);
    cl_int err = CL_SUCCESS;
    cl_mem mem = buffer_alloc(ctx, bytes, &err);
    if (!mem) {
        cg__cl_fail(ctx, err, what);
        return NULL;
    }
    ctx->stats.bytes_allocated += bytes;
    return mem;
}

cl_mem cg__buffer_get_anyway(cg_context *ctx, size_t bytes)
{
    bytes = cg__pool_class(ctx, bytes);
    cl_int err = CL_SUCCESS;
    cl_mem mem = buffer_alloc(ctx, bytes, &err);
    if (mem) ctx->stats.bytes_allocated += bytes;
    return mem;
}

void cg__buffer_put(cg_context *ctx, cl_mem mem, size_t bytes)
{
    if (!mem) return;
    bytes = cg__pool_class(ctx, bytes);
    ctx->stats.bytes_allocated -= bytes;
    cg__pool_give(ctx, (cg__pool_entry){.bytes = bytes, .mem = mem});
}

/* ---- the table's entries --------------------------------------------------- */

cg_status cg__cl_alloc(cg_context *ctx, cg__storage *s, const char *what)
{
    s->mem = cg__buffer_get(ctx, s->bytes, what);
    return s->mem ? CG_OK : ctx->status;
}

void cg__cl_release(cg_context *ctx, cg__storage *s)
{
    if (!s->mem) return;
    if (s->borrowed) /* a view into an arena: only the view's handle goes */
        cg__clReleaseMemObject(s->mem);
    else
        cg__buffer_put(ctx, s->mem, s->bytes);
}

void cg__cl_drop(cg_context *ctx, cg__pool_entry *e)
{
    (void)ctx;
    if (e->mem) cg__clReleaseMemObject(e->mem);
}

/* ---- transfers ---------------------------------------------------------------- */

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
