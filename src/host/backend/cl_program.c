/* Programs: built once per context from the embedded sources, and cached as
 * device binaries on disk (cl_program_cache.c) so a second process skips the
 * OpenCL compiler (DESIGN.md, Programs). */
#include <stdio.h>
#include <string.h>

#include "../embedded.h"
#include "../internal.h"

/* Each program is its files concatenated in order: shared headers first. */
static const char *const program_files[CG__PROGRAM_COUNT][4] = {
    [CG__PROGRAM_LINREG] = {"optim_defs.clh", "optim_rules.clh", "linreg.cl", NULL},
    [CG__PROGRAM_ELEMENTWISE] = {"ops.clh", "formulas.clh", "elementwise.cl", NULL},
    [CG__PROGRAM_SHAPE] = {"shape.cl", NULL},
    [CG__PROGRAM_REDUCE] = {"reduce_sum.clh", "reduce.cl", NULL},
    [CG__PROGRAM_MATMUL] = {"matmul.cl", NULL},
    [CG__PROGRAM_RANDOM] = {"random.cl", NULL},
    [CG__PROGRAM_OPTIM] = {"optim_defs.clh", "optim_rules.clh", "optim.cl", NULL},
};

/* IEEE semantics (no -cl-fast-relaxed-math): the lecture's figures must come
 * out of the device to float32 precision. */
static const char base_options[] = "-cl-std=CL1.2";

static const cg__embedded_file *embedded(const char *name)
{
    for (size_t i = 0; i < cg__embedded_count; i++)
        if (strcmp(cg__embedded_files[i].name, name) == 0) return &cg__embedded_files[i];
    return NULL;
}

/* The texts of files[0..) (NULL-terminated, at most 4) into srcs/lens from
 * *nsrc on; false (error on ctx) when one is not embedded. */
static bool embedded_sources(cg_context *ctx, const char *const *files, const char **srcs,
                             size_t *lens, size_t *nsrc)
{
    for (size_t i = 0; i < 4 && files[i]; i++) {
        const cg__embedded_file *f = embedded(files[i]);
        if (!f) {
            cg__fail(ctx, CG_ERROR_BUILD_FAILED, "clgrad: kernel source %s is not embedded",
                     files[i]);
            return false;
        }
        srcs[*nsrc] = f->text;
        lens[(*nsrc)++] = f->length;
    }
    return true;
}

/* Builds the program of srcs with `options`: from the disk cache unless
 * from_source, else from the sources (then stored in the cache). *cached
 * says which; label names the program in a build failure. */
static cl_program build_sources(cg_context *ctx, const char **srcs, const size_t *lens,
                                size_t nsrc, const char *options, bool from_source, bool *cached,
                                const char *label)
{
    *cached = false;
    cg__cache_entry entry;
    if (cg__cache_entry_init(ctx, options, srcs, nsrc, &entry) != CG_OK) return NULL;
    if (from_source) cg__cache_forget(&entry);
    bool load = !from_source && ctx->binary_cache_read;
    cl_program program = load ? cg__cache_load(ctx, &entry, options) : NULL;
    if (program) {
        ctx->stats.programs_from_cache++;
        *cached = true;
        cg__cache_entry_free(&entry);
        return program;
    }

    cl_int err;
    program = cg__clCreateProgramWithSource(ctx->cl, (cl_uint)nsrc, srcs, lens, &err);
    if (!program) {
        cg__cl_fail(ctx, err, "clgrad: clCreateProgramWithSource");
        cg__cache_entry_free(&entry);
        return NULL;
    }
    err = cg__clBuildProgram(program, 1, &ctx->device, options, NULL, NULL);
    if (err != CL_SUCCESS) {
        char log[3000] = "";
        cg__clGetProgramBuildInfo(program, ctx->device, CL_PROGRAM_BUILD_LOG, sizeof log - 1, log,
                                  NULL);
        log[sizeof log - 1] = '\0';
        if (err == CL_BUILD_PROGRAM_FAILURE)
            cg__fail(ctx, CG_ERROR_BUILD_FAILED, "clgrad: building %s with '%s' failed (%s):\n%s",
                     label, options, cg__cl_error_name(err), log);
        else
            cg__cl_fail(ctx, err, "clgrad: clBuildProgram");
        cg__clReleaseProgram(program);
        cg__cache_entry_free(&entry);
        return NULL;
    }
    ctx->stats.programs_compiled++;
    if (ctx->binary_cache_write) cg__cache_store(ctx, &entry, program);
    cg__cache_entry_free(&entry);
    return program;
}

/* Program `id`: its files, concatenated. */
static cl_program build(cg_context *ctx, cg__program_id id, const char *options, bool from_source,
                        bool *cached)
{
    const char *srcs[4];
    size_t lens[4], nsrc = 0;
    *cached = false;
    if (!embedded_sources(ctx, program_files[id], srcs, lens, &nsrc)) return NULL;
    return build_sources(ctx, srcs, lens, nsrc, options, from_source, cached,
                         program_files[id][nsrc - 1]);
}

/* The headers generated kernels call (cl_fuse.c): the op codes and the
 * scalar formulas, the same the built-in kernels and the reference use, and
 * the order of a sum, the same the reductions use. */
static const char *const generated_headers[] = {"ops.clh", "formulas.clh", "reduce_sum.clh",
                                                NULL};

cl_program cg__program_generated(cg_context *ctx, const char *source, bool from_source,
                                 bool *cached)
{
    const char *srcs[4];
    size_t lens[4], nsrc = 0;
    *cached = false;
    if (!embedded_sources(ctx, generated_headers, srcs, lens, &nsrc)) return NULL;
    srcs[nsrc] = source;
    lens[nsrc++] = strlen(source);
    return build_sources(ctx, srcs, lens, nsrc, base_options, from_source, cached,
                         "a generated kernel");
}

/* What a launch of `kernel` may use, asked once when it is created:
 * CL_KERNEL_WORK_GROUP_SIZE (registers and the like can put it below the
 * device's maximum) and the local memory its own __local variables leave. */
static cl_int kernel_limits(cg_context *ctx, cl_kernel kernel, size_t *group_max,
                            size_t *local_free)
{
    size_t wg = 0;
    cl_ulong used = 0, device_local = 0;
    cl_int err = cg__clGetKernelWorkGroupInfo(kernel, ctx->device, CL_KERNEL_WORK_GROUP_SIZE,
                                              sizeof wg, &wg, NULL);
    if (err == CL_SUCCESS)
        err = cg__clGetKernelWorkGroupInfo(kernel, ctx->device, CL_KERNEL_LOCAL_MEM_SIZE,
                                           sizeof used, &used, NULL);
    if (err != CL_SUCCESS) return err;
    if (cg__clGetDeviceInfo(ctx->device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof device_local,
                            &device_local, NULL) != CL_SUCCESS)
        device_local = 0;
    if (ctx->info.max_work_group_size && ctx->info.max_work_group_size < wg)
        wg = ctx->info.max_work_group_size;
    *group_max = wg ? wg : 1;
    *local_free = device_local > used ? (size_t)(device_local - used) : 0;
    return CL_SUCCESS;
}

static void slot_release(cg__program_slot *slot)
{
    for (int k = 0; k < CG__MAX_KERNELS_PER_PROGRAM; k++) {
        if (slot->kernels[k]) cg__clReleaseKernel(slot->kernels[k]);
        slot->kernels[k] = NULL;
        slot->kernel_names[k] = NULL;
    }
    if (slot->program) cg__clReleaseProgram(slot->program);
    slot->program = NULL;
}

cl_kernel cg__kernel(cg_context *ctx, cg__program_id id, const char *extra_options,
                     const char *name)
{
    if (ctx->status) return NULL;
    char options[sizeof ctx->programs[0].options];
    int n = snprintf(options, sizeof options, "%s %s", base_options,
                     extra_options ? extra_options : "");
    if (n < 0 || (size_t)n >= sizeof options) {
        cg__fail(ctx, CG_ERROR_UNSUPPORTED, "clgrad: build options longer than %zu bytes: %s",
                 sizeof options - 1, extra_options);
        return NULL;
    }

    cg__program_slot *slot = NULL;
    for (int i = 0; i < ctx->program_count; i++)
        if (ctx->programs[i].id == id && strcmp(ctx->programs[i].options, options) == 0)
            slot = &ctx->programs[i];
    if (!slot) {
        if (ctx->program_count == CG__MAX_PROGRAM_SLOTS) {
            cg__fail(ctx, CG_ERROR_UNSUPPORTED, "clgrad: more than %d program variants",
                     CG__MAX_PROGRAM_SLOTS);
            return NULL;
        }
        bool cached;
        cl_program program = build(ctx, id, options, false, &cached);
        if (!program) return NULL;
        slot = &ctx->programs[ctx->program_count++];
        memset(slot, 0, sizeof *slot);
        slot->id = id;
        snprintf(slot->options, sizeof slot->options, "%s", options);
        slot->program = program;
        slot->from_cache = cached;
    }
    int k = 0;
    for (; k < CG__MAX_KERNELS_PER_PROGRAM && slot->kernel_names[k]; k++)
        if (strcmp(slot->kernel_names[k], name) == 0) return slot->kernels[k];
    if (k == CG__MAX_KERNELS_PER_PROGRAM) {
        cg__fail(ctx, CG_ERROR_UNSUPPORTED, "clgrad: too many kernels in one program");
        return NULL;
    }
    cl_int err;
    cl_kernel kernel = cg__clCreateKernel(slot->program, name, &err);
    if (!kernel && slot->from_cache && err != CL_OUT_OF_RESOURCES &&
        err != CL_OUT_OF_HOST_MEMORY) {
        /* A cached binary that passed its checks yet lacks the kernel (a
         * binary of another program under this key): forget it, build from
         * source, once. The slot's kernels so far belong to the old program. */
        slot_release(slot);
        bool cached;
        slot->program = build(ctx, id, options, true, &cached);
        slot->from_cache = false;
        if (!slot->program) {
            *slot = ctx->programs[--ctx->program_count];
            return NULL;
        }
        return cg__kernel(ctx, id, extra_options, name);
    }
    if (!kernel) {
        cg__cl_fail(ctx, err, name);
        return NULL;
    }
    err = kernel_limits(ctx, kernel, &slot->group_max[k], &slot->local_free[k]);
    if (err != CL_SUCCESS) {
        cg__clReleaseKernel(kernel);
        char what[160];
        snprintf(what, sizeof what, "%s: clGetKernelWorkGroupInfo", name);
        cg__cl_fail(ctx, err, what);
        return NULL;
    }
    slot->kernel_names[k] = name; /* names are string literals */
    slot->kernels[k] = kernel;
    return kernel;
}

void cg__programs_release(cg_context *ctx)
{
    for (int i = 0; i < ctx->program_count; i++) slot_release(&ctx->programs[i]);
    ctx->program_count = 0;
}

cg_status cg__set_args(cg_context *ctx, cl_kernel kernel, const char *what, ...)
{
    va_list ap;
    va_start(ap, what);
    cl_uint index = 0;
    cg_status status = CG_OK;
    for (;;) {
        size_t size = va_arg(ap, size_t);
        if (size == 0) break;
        const void *value = va_arg(ap, const void *);
        cl_int err = cg__clSetKernelArg(kernel, index, size, value);
        if (err != CL_SUCCESS) {
            char buf[160];
            snprintf(buf, sizeof buf, "%s: cg__clSetKernelArg(%u)", what, index);
            status = cg__cl_fail(ctx, err, buf);
            break;
        }
        index++;
    }
    va_end(ap);
    return status;
}

/* Work-group size of the one-element-per-item kernels (where the kernel
 * allows it). */
#define ELEMENT_LOCAL 64

/* The limits cg__kernel recorded for `kernel`; false for a kernel it did not
 * make. A context holds a few dozen kernels: a scan is cheaper than the
 * enqueue that follows. */
static bool limits_of(const cg_context *ctx, cl_kernel kernel, size_t *group_max,
                      size_t *local_free)
{
    for (int i = 0; i < ctx->program_count; i++) {
        const cg__program_slot *slot = &ctx->programs[i];
        for (int k = 0; k < CG__MAX_KERNELS_PER_PROGRAM && slot->kernel_names[k]; k++)
            if (slot->kernels[k] == kernel) {
                *group_max = slot->group_max[k];
                *local_free = slot->local_free[k];
                return true;
            }
    }
    return false;
}

size_t cg__group_size(cg_context *ctx, cl_kernel kernel, size_t want, size_t local_per_item)
{
    size_t cap = want, group_max, local_free;
    if (limits_of(ctx, kernel, &group_max, &local_free)) {
        if (group_max < cap) cap = group_max;
        if (local_per_item && local_free / local_per_item < cap) cap = local_free / local_per_item;
    } else if (ctx->info.max_work_group_size && ctx->info.max_work_group_size < cap) {
        cap = ctx->info.max_work_group_size;
    }
    size_t p = 1;
    while (p <= cap / 2) p *= 2;
    return p;
}

/* A work-group larger than the kernel allows is refused here with the limit
 * named, rather than by the driver as CL_INVALID_WORK_GROUP_SIZE. */
static cg_status check_group(cg_context *ctx, cl_kernel kernel, size_t local, const char *what)
{
    size_t group_max, local_free;
    if (!limits_of(ctx, kernel, &group_max, &local_free) || local <= group_max) return CG_OK;
    return cg__fail(ctx, CG_ERROR_UNSUPPORTED,
                    "%s: a work-group of %zu work-items is more than this kernel allows on %s "
                    "(%zu)",
                    what, local, ctx->info.name, group_max);
}

static cg_status enqueue(cg_context *ctx, cl_kernel kernel, cl_uint dims, const size_t *global,
                         const size_t *local, const char *what)
{
    cl_int err = cg__clEnqueueNDRangeKernel(ctx->queue, kernel, dims, NULL, global, local, 0,
                                            NULL, NULL);
    if (err != CL_SUCCESS) return cg__cl_fail(ctx, err, what);
    ctx->stats.kernel_launches++;
    return CG_OK;
}

cg_status cg__launch_n(cg_context *ctx, cl_kernel kernel, size_t n, const char *what)
{
    if (ctx->status) return ctx->status;
    size_t local = cg__group_size(ctx, kernel, ELEMENT_LOCAL, 0);
    size_t global = (n + local - 1) / local * local;
    if (global == 0) global = local;
    return enqueue(ctx, kernel, 1, &global, &local, what);
}

cg_status cg__launch2d(cg_context *ctx, cl_kernel kernel, const size_t global[2],
                       const size_t local[2], const char *what)
{
    if (ctx->status) return ctx->status;
    if (check_group(ctx, kernel, local[0] * local[1], what)) return ctx->status;
    size_t g[2];
    for (int i = 0; i < 2; i++) g[i] = (global[i] + local[i] - 1) / local[i] * local[i];
    return enqueue(ctx, kernel, 2, g, local, what);
}

cg_status cg__launch(cg_context *ctx, cl_kernel kernel, size_t global, size_t local,
                     const char *what)
{
    if (ctx->status) return ctx->status;
    if (check_group(ctx, kernel, local, what)) return ctx->status;
    return enqueue(ctx, kernel, 1, &global, &local, what);
}
