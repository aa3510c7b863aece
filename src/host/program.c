/* Programs: built once per context from the embedded sources, and cached as
 * device binaries on disk so a second process skips the OpenCL compiler
 * (DESIGN.md, Programs). The cache key covers the device, its driver, the
 * build options and the source, so a stale binary is never loaded. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "embedded.h"
#include "internal.h"

/* Each program is its files concatenated in order: shared headers first. */
static const char *const program_files[CG__PROGRAM_COUNT][4] = {
    [CG__PROGRAM_LINREG] = {"optim_defs.clh", "optim_rules.clh", "linreg.cl", NULL},
    [CG__PROGRAM_ELEMENTWISE] = {"ops.clh", "elementwise.cl", NULL},
    [CG__PROGRAM_SHAPE] = {"shape.cl", NULL},
    [CG__PROGRAM_REDUCE] = {"reduce.cl", NULL},
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

static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static uint64_t fnv1a_str(uint64_t h, const char *s)
{
    return fnv1a(h, s, strlen(s) + 1); /* the NUL separates fields */
}

/* The cache directory, created if needed; "" when there is none to use. */
static void cache_dir(char *dir, size_t cap)
{
    const char *env = getenv("CLGRAD_CACHE_DIR");
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (env && *env)
        snprintf(dir, cap, "%s", env);
    else if (xdg && *xdg)
        snprintf(dir, cap, "%s/clgrad", xdg);
    else if (home && *home)
        snprintf(dir, cap, "%s/.cache/clgrad", home);
    else {
        dir[0] = '\0';
        return;
    }
    /* mkdir -p: each prefix in turn; failures surface when the file is opened. */
    char path[1024];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0755);
            *p = '/';
        }
    mkdir(path, 0755);
}

static void cache_path(const cg_context *ctx, const char *options, const char **srcs,
                       size_t nsrc, char *path, size_t cap)
{
    uint64_t h = 14695981039346656037ull;
    h = fnv1a_str(h, ctx->info.name);
    h = fnv1a_str(h, ctx->info.platform);
    h = fnv1a_str(h, ctx->info.version);
    h = fnv1a_str(h, ctx->info.driver_version);
    h = fnv1a_str(h, options);
    for (size_t i = 0; i < nsrc; i++) h = fnv1a_str(h, srcs[i]);
    char dir[900];
    cache_dir(dir, sizeof dir);
    if (!dir[0]) {
        path[0] = '\0';
        return;
    }
    snprintf(path, cap, "%s/%016llx.bin", dir, (unsigned long long)h);
}

static cl_program load_cached(cg_context *ctx, const char *path, const char *options)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    cl_program program = NULL;
    unsigned char *bin = NULL;
    if (fseek(f, 0, SEEK_END) != 0) goto done;
    long size = ftell(f);
    if (size <= 0 || fseek(f, 0, SEEK_SET) != 0) goto done;
    bin = malloc((size_t)size);
    if (!bin || fread(bin, 1, (size_t)size, f) != (size_t)size) goto done;
    size_t len = (size_t)size;
    cl_int status, err;
    const unsigned char *bins[1] = {bin};
    program = clCreateProgramWithBinary(ctx->cl, 1, &ctx->device, &len, bins, &status, &err);
    if (!program || err != CL_SUCCESS || status != CL_SUCCESS) goto fail;
    if (clBuildProgram(program, 1, &ctx->device, options, NULL, NULL) != CL_SUCCESS) goto fail;
    goto done;
fail:
    /* A corrupt or foreign binary: forget it and compile from source. */
    if (program) clReleaseProgram(program);
    program = NULL;
    remove(path);
done:
    free(bin);
    fclose(f);
    return program;
}

static void store_cached(cg_context *ctx, cl_program program, const char *path)
{
    size_t size = 0;
    if (clGetProgramInfo(program, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL) !=
            CL_SUCCESS ||
        size == 0)
        return;
    unsigned char *bin = malloc(size);
    if (!bin) return;
    unsigned char *bins[1] = {bin};
    if (clGetProgramInfo(program, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) == CL_SUCCESS) {
        /* Write then rename, so a concurrent reader never sees half a file. */
        char tmp[1100];
        snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
        FILE *f = fopen(tmp, "wb");
        if (f) {
            bool ok = fwrite(bin, 1, size, f) == size;
            ok = (fclose(f) == 0) && ok;
            if (!ok || rename(tmp, path) != 0) remove(tmp);
        }
    }
    (void)ctx;
    free(bin);
}

static cl_program build(cg_context *ctx, cg__program_id id, const char *options)
{
    const char *srcs[4];
    size_t lens[4], nsrc = 0;
    for (size_t i = 0; i < 4 && program_files[id][i]; i++) {
        const cg__embedded_file *f = embedded(program_files[id][i]);
        if (!f) {
            cg__fail(ctx, CG_ERROR_BUILD_FAILED, "clgrad: kernel source %s is not embedded",
                     program_files[id][i]);
            return NULL;
        }
        srcs[nsrc] = f->text;
        lens[nsrc++] = f->length;
    }

    char path[1100];
    cache_path(ctx, options, srcs, nsrc, path, sizeof path);
    if (path[0]) {
        cl_program cached = load_cached(ctx, path, options);
        if (cached) {
            ctx->stats.programs_from_cache++;
            return cached;
        }
    }

    cl_int err;
    cl_program program = clCreateProgramWithSource(ctx->cl, (cl_uint)nsrc, srcs, lens, &err);
    if (!program) {
        cg__cl_fail(ctx, err, "clgrad: clCreateProgramWithSource");
        return NULL;
    }
    err = clBuildProgram(program, 1, &ctx->device, options, NULL, NULL);
    if (err != CL_SUCCESS) {
        char log[3000] = "";
        clGetProgramBuildInfo(program, ctx->device, CL_PROGRAM_BUILD_LOG, sizeof log - 1, log,
                              NULL);
        log[sizeof log - 1] = '\0';
        cg__fail(ctx, CG_ERROR_BUILD_FAILED, "clgrad: building %s with '%s' failed (%s):\n%s",
                 program_files[id][nsrc - 1], options, cg__cl_error_name(err), log);
        clReleaseProgram(program);
        return NULL;
    }
    ctx->stats.programs_compiled++;
    if (path[0]) store_cached(ctx, program, path);
    return program;
}

cl_kernel cg__kernel(cg_context *ctx, cg__program_id id, const char *extra_options,
                     const char *name)
{
    if (ctx->status) return NULL;
    char options[128];
    snprintf(options, sizeof options, "%s %s", base_options, extra_options ? extra_options : "");

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
        cl_program program = build(ctx, id, options);
        if (!program) return NULL;
        slot = &ctx->programs[ctx->program_count++];
        memset(slot, 0, sizeof *slot);
        slot->id = id;
        snprintf(slot->options, sizeof slot->options, "%s", options);
        slot->program = program;
    }
    for (int k = 0; k < CG__MAX_KERNELS_PER_PROGRAM; k++) {
        if (slot->kernel_names[k] && strcmp(slot->kernel_names[k], name) == 0)
            return slot->kernels[k];
        if (!slot->kernel_names[k]) {
            cl_int err;
            cl_kernel kernel = clCreateKernel(slot->program, name, &err);
            if (!kernel) {
                cg__cl_fail(ctx, err, name);
                return NULL;
            }
            slot->kernel_names[k] = name; /* names are string literals */
            slot->kernels[k] = kernel;
            return kernel;
        }
    }
    cg__fail(ctx, CG_ERROR_UNSUPPORTED, "clgrad: too many kernels in one program");
    return NULL;
}

void cg__programs_release(cg_context *ctx)
{
    for (int i = 0; i < ctx->program_count; i++) {
        for (int k = 0; k < CG__MAX_KERNELS_PER_PROGRAM; k++)
            if (ctx->programs[i].kernels[k]) clReleaseKernel(ctx->programs[i].kernels[k]);
        clReleaseProgram(ctx->programs[i].program);
    }
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
        cl_int err = clSetKernelArg(kernel, index, size, value);
        if (err != CL_SUCCESS) {
            char buf[160];
            snprintf(buf, sizeof buf, "%s: clSetKernelArg(%u)", what, index);
            status = cg__cl_fail(ctx, err, buf);
            break;
        }
        index++;
    }
    va_end(ap);
    return status;
}

/* Work-group size of the one-element-per-item kernels. */
#define ELEMENT_LOCAL 64

cg_status cg__launch_n(cg_context *ctx, cl_kernel kernel, size_t n, const char *what)
{
    size_t global = (n + ELEMENT_LOCAL - 1) / ELEMENT_LOCAL * ELEMENT_LOCAL;
    if (global == 0) global = ELEMENT_LOCAL;
    return cg__launch(ctx, kernel, global, ELEMENT_LOCAL, what);
}

cg_status cg__launch2d(cg_context *ctx, cl_kernel kernel, const size_t global[2],
                       const size_t local[2], const char *what)
{
    if (ctx->status) return ctx->status;
    size_t g[2];
    for (int i = 0; i < 2; i++) g[i] = (global[i] + local[i] - 1) / local[i] * local[i];
    cl_int err = clEnqueueNDRangeKernel(ctx->queue, kernel, 2, NULL, g, local, 0, NULL, NULL);
    if (err != CL_SUCCESS) return cg__cl_fail(ctx, err, what);
    ctx->stats.kernel_launches++;
    return CG_OK;
}

cg_status cg__launch(cg_context *ctx, cl_kernel kernel, size_t global, size_t local,
                     const char *what)
{
    if (ctx->status) return ctx->status;
    cl_int err = clEnqueueNDRangeKernel(ctx->queue, kernel, 1, NULL, &global, &local, 0, NULL,
                                        NULL);
    if (err != CL_SUCCESS) return cg__cl_fail(ctx, err, what);
    ctx->stats.kernel_launches++;
    return CG_OK;
}
