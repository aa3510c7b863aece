/* Fused groups on OpenCL: the OpenCL C of a group's plan (fuse.c;
 * cl_fuse_text.c makes it), compiled once per structure and kept in a
 * per-context cache. What varies between two runs of one structure (the
 * scalars, offsets, sizes, the buffers) is a kernel argument, so a
 * training loop builds each group's program once. The cache's key is what
 * the text depends on (structure(), compared in full, found by its hash), so
 * a known group costs no text; the program goes to the binary cache like
 * any other, keyed by its text. */
#include <stdlib.h>
#include <string.h>

#include "../internal.h"
#include "cl_fuse.h"

/* Kernels kept per context; the least recently used goes past it. */
#define CACHE_SLOTS 128
/* Generated text: at most CG__FUSE_MAX_STEPS steps of ~200 bytes, the steps
 * after the sums twice (in both kernels). */
#define SOURCE_CAP 32768


typedef struct fused_kernel {
    unsigned long long hash, used;
    unsigned *key;
    size_t key_len;
    cl_program program;
    cl_kernel kernel;
    cl_kernel finish;     /* a group with sums: adds the partials, runs what comes after */
    size_t group_max, local_free; /* the tighter of the two kernels' limits */
} fused_kernel;

typedef struct fused_cache {
    fused_kernel slot[CACHE_SLOTS];
    int count;
    unsigned long long clock;
} fused_cache;

static unsigned long long fnv1a(const unsigned *w, size_t n)
{
    unsigned long long h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++) {
        h ^= w[i];
        h *= 1099511628211ull;
    }
    return h;
}

static void slot_free(fused_kernel *k)
{
    if (k->kernel) cg__clReleaseKernel(k->kernel);
    if (k->finish) cg__clReleaseKernel(k->finish);
    if (k->program) cg__clReleaseProgram(k->program);
    free(k->key);
    memset(k, 0, sizeof *k);
}

void cg__cl_fuse_release(cg_context *ctx)
{
    fused_cache *c = ctx->fused;
    if (!c) return;
    for (int i = 0; i < c->count; i++) slot_free(&c->slot[i]);
    free(c);
    ctx->fused = NULL;
}

/* ---- the cache ------------------------------------------------------------- */

static fused_cache *cache_of(cg_context *ctx)
{
    if (!ctx->fused) {
        ctx->fused = cg__calloc(1, sizeof(fused_cache));
        if (!ctx->fused) cg__fail(ctx, CG_ERROR_NO_MEMORY, "clgrad: out of memory for kernels");
    }
    return ctx->fused;
}

/* A kernel's own limits: its largest work-group and the local memory left. */
static cl_int limits(cg_context *ctx, cl_kernel k, size_t *group_max, size_t *local_free)
{
    size_t wg = 0;
    cl_ulong used = 0, device_local = 0;
    cl_int err = cg__clGetKernelWorkGroupInfo(k, ctx->device, CL_KERNEL_WORK_GROUP_SIZE,
                                              sizeof wg, &wg, NULL);
    if (err == CL_SUCCESS)
        err = cg__clGetKernelWorkGroupInfo(k, ctx->device, CL_KERNEL_LOCAL_MEM_SIZE, sizeof used,
                                           &used, NULL);
    if (err == CL_SUCCESS)
        err = cg__clGetDeviceInfo(ctx->device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof device_local,
                                  &device_local, NULL);
    if (err != CL_SUCCESS) return err;
    if (wg < *group_max) *group_max = wg;
    size_t left = device_local > used ? (size_t)(device_local - used) : 0;
    if (left < *local_free) *local_free = left;
    return CL_SUCCESS;
}

/* The program's kernels: cg_fused, and cg_fused_finish with sums; false
 * when one is missing (a cached binary of another program). */
static bool kernels_of(fused_kernel *k, bool sums, cl_int *err)
{
    k->kernel = cg__clCreateKernel(k->program, "cg_fused", err);
    if (k->kernel && sums) k->finish = cg__clCreateKernel(k->program, "cg_fused_finish", err);
    return k->kernel && (k->finish || !sums);
}

/* With sums, the limits both kernels share (for the GPU shapes'
 * work-groups, which must be the eager sum's). */
static cg_status limits_of(cg_context *ctx, fused_kernel *k)
{
    k->group_max = k->local_free = (size_t)-1;
    cl_int err = limits(ctx, k->kernel, &k->group_max, &k->local_free);
    if (err == CL_SUCCESS) err = limits(ctx, k->finish, &k->group_max, &k->local_free);
    return err == CL_SUCCESS ? CG_OK : cg__cl_fail(ctx, err, "cg_fused: clGetKernelWorkGroupInfo");
}

static fused_kernel *kernel_for(cg_context *ctx, const cg__fuse_group *g, const char *what)
{
    fused_cache *c = cache_of(ctx);
    if (!c) return NULL;
    /* Looked up by the structure before any text is made: making it costs
     * more than the launch it saves. */
    unsigned key[CG__FUSE_KEY_CAP];
    size_t key_len = cg__fuse_structure(g, ctx->gpu_shapes, key);
    unsigned long long h = fnv1a(key, key_len);
    for (int i = 0; i < c->count; i++)
        if (c->slot[i].hash == h && c->slot[i].key_len == key_len &&
            memcmp(c->slot[i].key, key, key_len * sizeof *key) == 0) {
            c->slot[i].used = ++c->clock;
            return &c->slot[i];
        }
    /* Not seen: the text, then a program (from the binary cache when it is
     * there, keyed by the text like any program). */
    char *source = cg__malloc(SOURCE_CAP);
    if (!source) {
        cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory for a generated kernel", what);
        return NULL;
    }
    if (!cg__fuse_text(g, ctx->gpu_shapes, source, SOURCE_CAP)) {
        free(source);
        cg__fail(ctx, CG_ERROR_UNSUPPORTED, "%s: a fused group too large to generate", what);
        return NULL;
    }
    fused_kernel k = {.hash = h, .used = ++c->clock, .key_len = key_len};
    k.key = cg__malloc(key_len * sizeof *key);
    if (!k.key) {
        free(source);
        cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory for a generated kernel", what);
        return NULL;
    }
    memcpy(k.key, key, key_len * sizeof *key);
    bool cached;
    cl_int err = CL_SUCCESS;
    k.program = cg__program_generated(ctx, source, false, &cached);
    if (k.program && !kernels_of(&k, g->sums, &err) && cached) { /* build once */
        if (k.kernel) cg__clReleaseKernel(k.kernel);
        cg__clReleaseProgram(k.program);
        k.kernel = NULL;
        k.program = cg__program_generated(ctx, source, true, &cached);
        if (k.program) kernels_of(&k, g->sums, &err);
    }
    free(source);
    if (!k.kernel || (g->sums && !k.finish) || (g->sums && limits_of(ctx, &k))) {
        if (k.program && !ctx->status) cg__cl_fail(ctx, err, "cg_fused");
        slot_free(&k);
        return NULL;
    }
    int at = c->count;
    if (at == CACHE_SLOTS) { /* the least recently used goes */
        at = 0;
        for (int i = 1; i < c->count; i++)
            if (c->slot[i].used < c->slot[at].used) at = i;
        slot_free(&c->slot[at]);
    } else {
        c->count++;
    }
    c->slot[at] = k;
    return &c->slot[at];
}

/* ---- the launch ------------------------------------------------------------- */

/* Sets kernel's arguments in parameters()' order. split and partials: a
 * group with sums, else NULL. */
static cl_int set_args(cl_kernel kernel, const cg__fuse_group *g, const cg__sum_split *split,
                       cl_mem partials, size_t scratch)
{
    cl_uint arg = 0;
    cl_int err = CL_SUCCESS;
    for (int b = 0; b < g->nbuffers && err == CL_SUCCESS; b++)
        err = cg__clSetKernelArg(kernel, arg++, sizeof(cl_mem), &g->buffer[b]->mem);
    for (int b = 0; b < g->nbuffers && err == CL_SUCCESS; b++)
        if (cg__fuse_short_buffer(g, b)) {
            cl_uint z = (cl_uint)g->bsize[b];
            err = cg__clSetKernelArg(kernel, arg++, sizeof z, &z);
        }
    cg__fuse_param p[CG__FUSE_STEP_PARAMS];
    for (size_t k = 0; k < g->steps && err == CL_SUCCESS; k++) {
        int c = cg__fuse_step_params(&g->step[k], p);
        for (int q = 0; q < c && err == CL_SUCCESS; q++)
            err = p[q].is_float ? cg__clSetKernelArg(kernel, arg++, sizeof p[q].f, &p[q].f)
                                : cg__clSetKernelArg(kernel, arg++, sizeof p[q].u, &p[q].u);
    }
    cl_uint n = (cl_uint)g->n;
    if (err == CL_SUCCESS) err = cg__clSetKernelArg(kernel, arg++, sizeof n, &n);
    if (!split || err != CL_SUCCESS) return err;
    cl_uint v[3] = {(cl_uint)split->chunk, (cl_uint)split->lanes, (cl_uint)split->finish_lanes};
    for (int q = 0; q < 3 && err == CL_SUCCESS; q++)
        err = cg__clSetKernelArg(kernel, arg++, sizeof v[q], &v[q]);
    cl_uint parts = (cl_uint)split->parts;
    if (err == CL_SUCCESS) err = cg__clSetKernelArg(kernel, arg++, sizeof(cl_mem), &partials);
    if (err == CL_SUCCESS) err = cg__clSetKernelArg(kernel, arg++, sizeof parts, &parts);
    if (err == CL_SUCCESS && scratch) err = cg__clSetKernelArg(kernel, arg++, scratch, NULL);
    return err;
}

/* The group's nodes one by one (a device whose limits the generated
 * kernels do not meet: the eager split is what the sums must follow). */
static cg_status run_nodes(cg_context *ctx, const cg__fuse_group *g)
{
    for (size_t k = 0; k < g->steps && !ctx->status; k++) ctx->backend->exec(ctx, g->step[k].node);
    return ctx->status;
}

/* A group with sums: one launch when the split has one part, else the
 * parts then cg_fused_finish. */
static cg_status launch_sums(cg_context *ctx, const fused_kernel *k, const cg__fuse_group *g,
                             const char *what)
{
    cg__sum_split split;
    if (!cg__sum_split_of(ctx, g->n, &split)) return ctx->status;
    bool gpu = ctx->gpu_shapes;
    size_t L = split.group, scratch = gpu ? g->sums * 2 * L * sizeof(float) : 0;
    if (gpu && (k->group_max < L || k->local_free < scratch)) return run_nodes(ctx, g);
    size_t bytes = g->sums * split.parts * sizeof(float);
    cl_mem partials = split.parts > 1 ? cg__buffer_get(ctx, bytes, what) : g->buffer[0]->mem;
    if (!partials) return ctx->status;
    cl_int err = set_args(k->kernel, g, &split, partials, scratch);
    if (err == CL_SUCCESS && split.parts > 1)
        err = set_args(k->finish, g, &split, partials, scratch);
    if (err != CL_SUCCESS)
        cg__cl_fail(ctx, err, what);
    else if (!cg__launch(ctx, k->kernel, split.parts * L, L, what) && split.parts > 1)
        cg__launch(ctx, k->finish, L, L, what);
    if (split.parts > 1) cg__buffer_put(ctx, partials, bytes); /* in-order queue: safe */
    if (!ctx->status) {
        ctx->stats.fused_groups++;
        ctx->stats.fused_nodes += g->steps;
    }
    return ctx->status;
}

cg_status cg__cl_exec_group(cg_context *ctx, const cg__fuse_group *g)
{
    if (ctx->status) return ctx->status;
    const char *what = g->step[0].node->what;
    const fused_kernel *k = kernel_for(ctx, g, what);
    if (!k) return ctx->status;
    if (g->sums) return launch_sums(ctx, k, g, what);
    cl_int err = set_args(k->kernel, g, NULL, NULL, 0);
    if (err != CL_SUCCESS) return cg__cl_fail(ctx, err, what);
    ctx->stats.fused_groups++;
    ctx->stats.fused_nodes += g->steps;
    return cg__launch_n(ctx, k->kernel, g->n, what);
}
