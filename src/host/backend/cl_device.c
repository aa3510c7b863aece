/* The OpenCL backend's devices and setup: every platform's every device, in
 * the order the ICD loader reports them (device.c matches a spec against
 * them), and the context and in-order queue a context runs on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"

#define CG__MAX_PLATFORMS 16
#define CG__MAX_DEVICES 64

static void device_string(cl_device_id device, cl_device_info what, char *dst, size_t cap)
{
    dst[0] = '\0';
    if (cg__clGetDeviceInfo(device, what, cap, dst, NULL) != CL_SUCCESS) dst[0] = '\0';
    dst[cap - 1] = '\0';
}

static void describe(cl_platform_id platform, cl_device_id device, int p, int d,
                     cg_device_info *info)
{
    memset(info, 0, sizeof *info);
    info->platform_index = p;
    info->device_index = d;
    snprintf(info->spec, sizeof info->spec, "%d:%d", p, d);
    device_string(device, CL_DEVICE_NAME, info->name, sizeof info->name);
    device_string(device, CL_DEVICE_VENDOR, info->vendor, sizeof info->vendor);
    device_string(device, CL_DEVICE_VERSION, info->version, sizeof info->version);
    device_string(device, CL_DRIVER_VERSION, info->driver_version, sizeof info->driver_version);
    device_string(device, CL_DEVICE_OPENCL_C_VERSION, info->opencl_c_version,
                  sizeof info->opencl_c_version);
    if (cg__clGetPlatformInfo(platform, CL_PLATFORM_NAME, sizeof info->platform, info->platform,
                              NULL) != CL_SUCCESS)
        info->platform[0] = '\0';
    info->platform[sizeof info->platform - 1] = '\0';

    cl_device_type type = 0;
    cg__clGetDeviceInfo(device, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    info->type = (type & CL_DEVICE_TYPE_GPU)           ? CG_DEVICE_GPU
                 : (type & CL_DEVICE_TYPE_CPU)         ? CG_DEVICE_CPU
                 : (type & CL_DEVICE_TYPE_ACCELERATOR) ? CG_DEVICE_ACCELERATOR
                                                       : CG_DEVICE_OTHER;
    cl_uint cus = 0;
    cg__clGetDeviceInfo(device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cus, &cus, NULL);
    info->compute_units = cus;
    cl_ulong mem = 0;
    cg__clGetDeviceInfo(device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem, &mem, NULL);
    info->global_mem_bytes = mem;
    size_t wg = 0;
    cg__clGetDeviceInfo(device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
    info->max_work_group_size = wg;
}

/* Platforms and their devices, in the order the ICD loader reports them. */
typedef struct device_table {
    cl_uint nplatforms;
    cl_platform_id platforms[CG__MAX_PLATFORMS];
    cl_uint ndevices[CG__MAX_PLATFORMS];
    cl_device_id devices[CG__MAX_PLATFORMS][CG__MAX_DEVICES];
} device_table;

static void device_table_load(device_table *t)
{
    memset(t, 0, sizeof *t);
    /* No ICD or no platform is not an error: the reference path remains. */
    if (cg__clGetPlatformIDs(CG__MAX_PLATFORMS, t->platforms, &t->nplatforms) != CL_SUCCESS) {
        t->nplatforms = 0;
        return;
    }
    if (t->nplatforms > CG__MAX_PLATFORMS) t->nplatforms = CG__MAX_PLATFORMS;
    for (cl_uint p = 0; p < t->nplatforms; p++) {
        cl_uint n = 0;
        if (cg__clGetDeviceIDs(t->platforms[p], CL_DEVICE_TYPE_ALL, CG__MAX_DEVICES, t->devices[p],
                               &n) != CL_SUCCESS)
            n = 0;
        t->ndevices[p] = n > CG__MAX_DEVICES ? CG__MAX_DEVICES : n;
    }
}

/* The i-th device of t, counted over the platforms in order. */
static bool nth(const device_table *t, size_t i, cl_uint *p, cl_uint *d)
{
    for (*p = 0; *p < t->nplatforms; (*p)++) {
        if (i < t->ndevices[*p]) {
            *d = (cl_uint)i;
            return true;
        }
        i -= t->ndevices[*p];
    }
    return false;
}

bool cg__cl_device(size_t i, cg_device_info *info)
{
    device_table t;
    device_table_load(&t);
    cl_uint p, d;
    if (!nth(&t, i, &p, &d)) return false;
    describe(t.platforms[p], t.devices[p][d], (int)p, (int)d, info);
    return true;
}

/* Whether programs come from and go into clgrad's binary cache
 * (cl_program_cache.c). Asking PoCL for a program's binary makes it compile
 * every kernel of the program for a generic work-group size, used or not:
 * most of a first run (the lecture's demo on empty caches: 2.1 s writing
 * the binaries, 0.9 s without), while PoCL caches builds itself
 * (POCL_CACHE_DIR). So on PoCL a first run writes none; binaries already
 * there (clgrad warmup writes them) are read, which is what makes later
 * runs start fast (PoCL's own cache still preprocesses every source: an
 * autograd fit starts in 0.20 s without our binaries, 0.07 s with).
 * Other drivers read and write. CLGRAD_BINARY_CACHE=on|off|auto overrides. */
static void binary_cache_from_env(cg_context *ctx)
{
    bool pocl = strstr(ctx->info.platform, "Portable Computing Language") != NULL;
    ctx->binary_cache_read = true;
    ctx->binary_cache_write = !pocl;
    const char *env = getenv("CLGRAD_BINARY_CACHE");
    if (!env || !*env || strcmp(env, "auto") == 0) return;
    if (strcmp(env, "on") == 0 || strcmp(env, "off") == 0)
        ctx->binary_cache_read = ctx->binary_cache_write = env[1] == 'n';
    else
        cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                 "cg_context_create: CLGRAD_BINARY_CACHE must be auto, on or off (got '%.64s')",
                 env);
}

cg_status cg__cl_open(cg_context *ctx, size_t i)
{
    device_table t;
    device_table_load(&t);
    cl_uint p, d;
    if (!nth(&t, i, &p, &d)) /* between selection and here */
        return cg__fail(ctx, CG_ERROR_NO_DEVICE, "cg_context_create: OpenCL device %zu went away",
                        i);
    ctx->platform = t.platforms[p];
    ctx->device = t.devices[p][d];
    describe(ctx->platform, ctx->device, (int)p, (int)d, &ctx->info);
    binary_cache_from_env(ctx);

    cl_int err;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)ctx->platform,
                                     0};
    ctx->cl = cg__clCreateContext(props, 1, &ctx->device, &err);
    if (!ctx->cl) return cg__cl_fail(ctx, err, "cg_context_create: clCreateContext");
    cl_uint align_bits = 1024;
    cg__clGetDeviceInfo(ctx->device, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof align_bits, &align_bits,
                        NULL);
    ctx->align_floats = align_bits / 32 ? align_bits / 32 : 1;
    cl_ulong max_alloc = 0;
    cg__clGetDeviceInfo(ctx->device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof max_alloc, &max_alloc,
                        NULL);
    if (ctx->info.global_mem_bytes && (!max_alloc || ctx->info.global_mem_bytes < max_alloc))
        max_alloc = ctx->info.global_mem_bytes;
    ctx->max_alloc_bytes = (size_t)max_alloc;
    /* A bad CLGRAD_POOL_LIMIT is the context's error, yet the queue is made. */
    cg__pool_configure(ctx, ctx->info.global_mem_bytes);
    ctx->queue = cg__clCreateCommandQueue(ctx->cl, ctx->device, 0, &err);
    if (!ctx->queue) return cg__cl_fail(ctx, err, "cg_context_create: clCreateCommandQueue");
    return CG_OK;
}

void cg__cl_finish(cg_context *ctx)
{
    if (ctx->queue) cg__clFinish(ctx->queue);
}

void cg__cl_close(cg_context *ctx)
{
    cg__cl_fuse_release(ctx);
    cg__cl_loop_release(ctx);
    cg__programs_release(ctx);
    if (ctx->queue) cg__clReleaseCommandQueue(ctx->queue);
    if (ctx->cl) cg__clReleaseContext(ctx->cl);
    ctx->queue = NULL;
    ctx->cl = NULL;
}

void cg__cl_drain_queue(cg_context *ctx) { cg__cl_drain(ctx->queue); }
