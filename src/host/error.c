/* The status enum's strings and the per-context sticky error (cairo's model:
 * the first error wins and later calls become no-ops that return it). */
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
    /* Non-blocking reads queued before the failure target host memory the
     * failing call's callers free on their way out: let them land first. */
    cg__cl_drain(ctx->queue);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->message, sizeof ctx->message, fmt, ap);
    va_end(ap);
    return status;
}

const char *cg__cl_error_name(cl_int err)
{
    switch (err) {
#define CG__CASE(x) case x: return #x;
    CG__CASE(CL_SUCCESS)
    CG__CASE(CL_DEVICE_NOT_FOUND)
    CG__CASE(CL_DEVICE_NOT_AVAILABLE)
    CG__CASE(CL_COMPILER_NOT_AVAILABLE)
    CG__CASE(CL_MEM_OBJECT_ALLOCATION_FAILURE)
    CG__CASE(CL_OUT_OF_RESOURCES)
    CG__CASE(CL_OUT_OF_HOST_MEMORY)
    CG__CASE(CL_PROFILING_INFO_NOT_AVAILABLE)
    CG__CASE(CL_MEM_COPY_OVERLAP)
    CG__CASE(CL_IMAGE_FORMAT_MISMATCH)
    CG__CASE(CL_IMAGE_FORMAT_NOT_SUPPORTED)
    CG__CASE(CL_BUILD_PROGRAM_FAILURE)
    CG__CASE(CL_MAP_FAILURE)
    CG__CASE(CL_MISALIGNED_SUB_BUFFER_OFFSET)
    CG__CASE(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
    CG__CASE(CL_COMPILE_PROGRAM_FAILURE)
    CG__CASE(CL_LINKER_NOT_AVAILABLE)
    CG__CASE(CL_LINK_PROGRAM_FAILURE)
    CG__CASE(CL_DEVICE_PARTITION_FAILED)
    CG__CASE(CL_KERNEL_ARG_INFO_NOT_AVAILABLE)
    CG__CASE(CL_INVALID_VALUE)
    CG__CASE(CL_INVALID_DEVICE_TYPE)
    CG__CASE(CL_INVALID_PLATFORM)
    CG__CASE(CL_INVALID_DEVICE)
    CG__CASE(CL_INVALID_CONTEXT)
    CG__CASE(CL_INVALID_QUEUE_PROPERTIES)
    CG__CASE(CL_INVALID_COMMAND_QUEUE)
    CG__CASE(CL_INVALID_HOST_PTR)
    CG__CASE(CL_INVALID_MEM_OBJECT)
    CG__CASE(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR)
    CG__CASE(CL_INVALID_IMAGE_SIZE)
    CG__CASE(CL_INVALID_SAMPLER)
    CG__CASE(CL_INVALID_BINARY)
    CG__CASE(CL_INVALID_BUILD_OPTIONS)
    CG__CASE(CL_INVALID_PROGRAM)
    CG__CASE(CL_INVALID_PROGRAM_EXECUTABLE)
    CG__CASE(CL_INVALID_KERNEL_NAME)
    CG__CASE(CL_INVALID_KERNEL_DEFINITION)
    CG__CASE(CL_INVALID_KERNEL)
    CG__CASE(CL_INVALID_ARG_INDEX)
    CG__CASE(CL_INVALID_ARG_VALUE)
    CG__CASE(CL_INVALID_ARG_SIZE)
    CG__CASE(CL_INVALID_KERNEL_ARGS)
    CG__CASE(CL_INVALID_WORK_DIMENSION)
    CG__CASE(CL_INVALID_WORK_GROUP_SIZE)
    CG__CASE(CL_INVALID_WORK_ITEM_SIZE)
    CG__CASE(CL_INVALID_GLOBAL_OFFSET)
    CG__CASE(CL_INVALID_EVENT_WAIT_LIST)
    CG__CASE(CL_INVALID_EVENT)
    CG__CASE(CL_INVALID_OPERATION)
    CG__CASE(CL_INVALID_GL_OBJECT)
    CG__CASE(CL_INVALID_BUFFER_SIZE)
    CG__CASE(CL_INVALID_MIP_LEVEL)
    CG__CASE(CL_INVALID_GLOBAL_WORK_SIZE)
    CG__CASE(CL_INVALID_PROPERTY)
    CG__CASE(CL_INVALID_IMAGE_DESCRIPTOR)
    CG__CASE(CL_INVALID_COMPILER_OPTIONS)
    CG__CASE(CL_INVALID_LINKER_OPTIONS)
    CG__CASE(CL_INVALID_DEVICE_PARTITION_COUNT)
#undef CG__CASE
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    }
    return "unknown OpenCL error";
}

cg_status cg__cl_fail(cg_context *ctx, cl_int err, const char *what)
{
    cg_status status = CG_ERROR_OPENCL;
    if (err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_HOST_MEMORY)
        status = CG_ERROR_NO_MEMORY;
    return cg__fail(ctx, status, "%s: %s (%d)", what, cg__cl_error_name(err), (int)err);
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
