/* The context: one device behind one backend (which keeps its queue and
 * programs), the buffer pool, and the sticky error. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* Deferred realization unless CLGRAD_EAGER=1 (debugging: every op runs as
 * it is called, with the same results bit for bit). */
static void eager_from_env(cg_context *ctx)
{
    const char *env = getenv("CLGRAD_EAGER");
    ctx->eager = false;
    if (!env || !*env) return;
    if (strcmp(env, "0") == 0 || strcmp(env, "1") == 0)
        ctx->eager = env[0] == '1';
    else
        cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                 "cg_context_create: CLGRAD_EAGER must be 0 or 1 (got '%.64s')", env);
}

/* Fusion of element-wise chains unless CLGRAD_FUSE=0 (for comparing: the
 * results are the same bit for bit). */
static void fusion_from_env(cg_context *ctx)
{
    const char *env = getenv("CLGRAD_FUSE");
    ctx->fuse = true;
    if (!env || !*env) return;
    if (strcmp(env, "0") == 0 || strcmp(env, "1") == 0)
        ctx->fuse = env[0] == '1';
    else
        cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                 "cg_context_create: CLGRAD_FUSE must be 0 or 1 (got '%.64s')", env);
}

static void kernel_shape_from_env(cg_context *ctx)
{
    ctx->gpu_shapes = ctx->info.type == CG_DEVICE_GPU;
    const char *env = getenv("CLGRAD_KERNEL_SHAPE");
    if (!env || !*env || strcmp(env, "auto") == 0) return;
    if (strcmp(env, "cpu") == 0 || strcmp(env, "gpu") == 0)
        ctx->gpu_shapes = env[0] == 'g';
    else
        cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                 "cg_context_create: CLGRAD_KERNEL_SHAPE must be auto, cpu or gpu (got '%.64s')",
                 env);
}

cg_status cg_context_set_kernel_shape(cg_context *ctx, cg_kernel_shape shape)
{
    if (!ctx) return CG_ERROR_NULL_POINTER;
    if (ctx->status) return ctx->status;
    switch (shape) {
    case CG_KERNEL_SHAPE_AUTO: ctx->gpu_shapes = ctx->info.type == CG_DEVICE_GPU; break;
    case CG_KERNEL_SHAPE_CPU: ctx->gpu_shapes = false; break;
    case CG_KERNEL_SHAPE_GPU: ctx->gpu_shapes = ctx->backend->kernel_shapes; break;
    default:
        return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                        "cg_context_set_kernel_shape: unknown shape %d", (int)shape);
    }
    return CG_OK;
}

cg_kernel_shape cg_context_kernel_shape(const cg_context *ctx)
{
    return ctx && ctx->gpu_shapes ? CG_KERNEL_SHAPE_GPU : CG_KERNEL_SHAPE_CPU;
}

cg_context *cg_context_create(const char *spec)
{
    cg_context *ctx = cg__calloc(1, sizeof *ctx);
    if (!ctx) return NULL;
    /* Until a device is chosen the context describes the reference path:
     * nothing runs on it. */
    ctx->backend = &cg__backend_ref;
    ctx->backend->device(0, &ctx->info);
    eager_from_env(ctx);
    fusion_from_env(ctx);

    size_t index;
    const cg__backend *backend = cg__device_select(ctx, spec, &index);
    if (!backend) return ctx;
    ctx->backend = backend;
    ctx->align_floats = 1;
    if (backend->open(ctx, index) != CG_OK) return ctx;
    if (backend->kernel_shapes) kernel_shape_from_env(ctx);
    return ctx;
}

void cg_context_free(cg_context *ctx)
{
    if (!ctx) return;
    /* An open capture's recording table goes with its context. */
    if (ctx->capture) cg_capture_free(ctx->capture);
    ctx->backend->finish(ctx);
    cg__tape_release(ctx);
    cg__pool_release(ctx);
    cg__orphans_release(ctx);
    ctx->backend->close(ctx);
    free(ctx);
}

cg_status cg_status_of(const cg_context *ctx)
{
    return ctx ? ctx->status : CG_ERROR_NULL_POINTER;
}

const char *cg_error_message(const cg_context *ctx)
{
    if (!ctx) return "NULL context";
    return ctx->status == CG_OK ? "" : ctx->message;
}

void cg_clear_error(cg_context *ctx)
{
    if (!ctx) return;
    ctx->status = CG_OK;
    ctx->message[0] = '\0';
}

const cg_device_info *cg_context_device(const cg_context *ctx)
{
    return ctx ? &ctx->info : NULL;
}

bool cg_context_is_ref(const cg_context *ctx)
{
    return ctx && cg__backend_of(ctx) == &cg__backend_ref;
}

cg_context_stats cg_context_stats_of(const cg_context *ctx)
{
    cg_context_stats none = {0};
    if (!ctx) return none;
    cg_context_stats s = ctx->stats;
    s.tape_nodes = ctx->tape.differentiable;
    s.tape_tensors = ctx->tape.nowned;
    s.pool_limit_bytes = ctx->pool_limit;
    return s;
}

cg_status cg_finish(cg_context *ctx)
{
    if (!ctx) return CG_ERROR_NULL_POINTER;
    if (cg__realize(ctx)) return ctx->status;
    return ctx->backend->sync(ctx, "cg_finish");
}

double cg__now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
