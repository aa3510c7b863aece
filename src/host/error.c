/* The status enum's strings and the per-context sticky error (cairo's model:
 * the first error wins and later calls become no-ops that return it). An
 * OpenCL error's name is the backend's (backend/cl_error.c). */
#include <stdio.h>
#include <string.h>

#include "internal.h"

const char *cg_status_string(cg_status status)
{
    switch (status) {
    case CG_OK: return "success";
    case CG_ERROR_NO_MEMORY: return "out of memory";
    case CG_ERROR_INVALID_ARGUMENT: return "invalid argument";
    case CG_ERROR_NULL_POINTER: return "NULL pointer";
    case CG_ERROR_SHAPE_MISMATCH: return "shape mismatch";
    case CG_ERROR_NO_DEVICE: return "no such device";
    case CG_ERROR_OPENCL: return "OpenCL error";
    case CG_ERROR_BUILD_FAILED: return "kernel build failed";
    case CG_ERROR_IO: return "I/O error";
    case CG_ERROR_PARSE: return "malformed input";
    case CG_ERROR_INVALID_DATA: return "invalid data";
    case CG_ERROR_UNSUPPORTED: return "unsupported";
    case CG_ERROR_CONTEXT_MISMATCH: return "objects from different contexts";
    }
    return "unknown status";
}

cg_status cg__fail(cg_context *ctx, cg_status status, const char *fmt, ...)
{
    if (!ctx) return status;
    if (ctx->status != CG_OK) return ctx->status;
    ctx->status = status;
    if (ctx->capture) cg__capture_failed(ctx); /* its record misses what failed */
    /* Non-blocking reads queued before the failure target host memory the
     * failing call's callers free on their way out: let them land first. */
    ctx->backend->drain(ctx);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->message, sizeof ctx->message, fmt, ap);
    va_end(ap);
    return status;
}

static cg_log_fn log_fn;
static void *log_user;

void cg_set_log_callback(cg_log_fn fn, void *user)
{
    log_fn = fn;
    log_user = user;
}

void cg__log(const char *fmt, ...)
{
    if (!log_fn) return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    log_fn(log_user, buf);
}
