/* Whole loops on OpenCL: a loop plan (capture_loop.c) as one kernel that
 * runs n iterations of a captured step in a single work-item.
 *
 * The data is tiny (every slab at most CG__LOOP_MAX_SLAB floats), so one
 * work-item does it all, with no barrier: each slab is copied into a
 * private array at the start and back at the end, and every command is a
 * plain loop over it in the record's order, sizes and offsets written into
 * the text as constants. Private arrays are distinct objects, so the
 * compiler may keep them in registers and unroll; it may not reassociate
 * (no fast-math, contraction off), so each command computes what its eager
 * kernel does, bit for bit: the same formulas (formulas.clh, the rule of
 * optim_rules.clh), the same summation order (a full sum's partials are cut
 * as cl_reduce.c's sum_all cuts them, each summed as cg_sum_partials does,
 * then combined as cg_sum_finish does). Only the CPU kernel shapes' order is
 * emulated: with GPU shapes (local-memory trees) the loop declines and the
 * replays run.
 *
 * The program depends on the plan's text only, so it is cached by that
 * text, per context, and in the binary cache (cg__program_generated). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../embedded.h"
#include "../optim_internal.h"

/* Programs kept per context; the least recently used goes past it. */
#define CACHE_SLOTS 16

typedef struct loop_kernel {
    unsigned long long hash, used, id;
    char *text;
    cl_program program;
    cl_kernel kernel;
} loop_kernel;

typedef struct loop_cache {
    loop_kernel slot[CACHE_SLOTS];
    int count;
    unsigned long long clock, ids;
} loop_cache;

static void slot_free(loop_kernel *k)
{
    if (k->kernel) cg__clReleaseKernel(k->kernel);
    if (k->program) cg__clReleaseProgram(k->program);
    free(k->text);
    memset(k, 0, sizeof *k);
}

void cg__cl_loop_release(cg_context *ctx)
{
    loop_cache *c = ctx->loops;
    if (!c) return;
    for (int i = 0; i < c->count; i++) slot_free(&c->slot[i]);
    free(c);
    ctx->loops = NULL;
}

/* The CPU shapes' full-sum order is the one emulated; and a CPU's compiler
 * rounds / and sqrt correctly with or without the option the optimizer's
 * program may be built with (cg__optim_cl_options). */
bool cg__cl_loop_fits(cg_context *ctx, const cg__loop *loop)
{
    (void)loop;
    return !ctx->gpu_shapes && ctx->info.type == CG_DEVICE_CPU;
}

/* ---- the text ---------------------------------------------------------------- */

typedef struct text {
    char *buf;
    size_t len, cap;
    bool failed;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...)
{
    if (t->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = true;
            return;
        }
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = 2 * t->cap + (size_t)n;
        char *b = cg__realloc(t->buf, cap);
        if (!b) {
            t->failed = true;
            return;
        }
        t->buf = b;
        t->cap = cap;
    }
}

/* A float constant with its exact bits. */
static void flt(text *t, float v)
{
    unsigned u;
    memcpy(&u, &v, sizeof u);
    put(t, "as_float(0x%08xu)", u);
}

/* Slab s's element `at` plus the loop index (when `indexed`). */
static void elem(text *t, cg__loop_at a, const char *index)
{
    if (index)
        put(t, "m%d[%zuu + %s]", a.slab, a.at, index);
    else
        put(t, "m%d[%zuu]", a.slab, a.at);
}

static const char *const PREAMBLE =
    "#pragma OPENCL FP_CONTRACT OFF\n"
    /* reduce.cl's cg_comp_add and cg_chunk_sum over a private array: the
     * partial sums of cg_sum_partials, added as cg_sum_finish adds them. */
    "inline void cg_loop_comp_add(float *sum, float *comp, float v)\n"
    "{\n"
    "    float yk = v - *comp;\n"
    "    float t = *sum + yk;\n"
    "    if (!isfinite(t)) {\n"
    "        *sum = t;\n"
    "        *comp = 0.0f;\n"
    "        return;\n"
    "    }\n"
    "    *comp = (t - *sum) - yk;\n"
    "    *sum = t;\n"
    "}\n"
    "inline float cg_loop_chunk_sum(const float *x, uint n, uint chunk, uint g)\n"
    "{\n"
    "    uint begin = min(n, g * chunk), end = min(n, begin + chunk);\n"
    "    float sum = 0.0f, comp = 0.0f;\n"
    "    for (uint i = begin; i < end;) {\n"
    "        uint block_end = min(end, i + 256u);\n"
    "        float s = 0.0f;\n"
    "        for (; i < block_end; i++) s += x[i];\n"
    "        cg_loop_comp_add(&sum, &comp, s);\n"
    "    }\n"
    "    return sum;\n"
    "}\n";

static void open_loop(text *t, size_t n) { put(t, "    for (uint i = 0; i < %zuu; i++) ", n); }

static void command(cg_context *ctx, text *t, const cg__loop_cmd *c)
{
    switch (c->kind) {
    case CG__LOOP_FILL:
        open_loop(t, c->n);
        elem(t, c->out, "i");
        put(t, " = ");
        flt(t, c->scalar);
        put(t, ";\n");
        break;
    case CG__LOOP_UNARY:
        open_loop(t, c->n);
        elem(t, c->out, "i");
        put(t, " = cg_unary_f(%d, ", c->op);
        elem(t, c->in[0], "i");
        put(t, ", ");
        flt(t, c->scalar);
        put(t, ");\n");
        break;
    case CG__LOOP_UNARY_GRAD: /* gx[i] += cg_unary_grad(...) */
        open_loop(t, c->n);
        elem(t, c->out, "i");
        put(t, " += cg_unary_grad(%d, ", c->op);
        for (int j = 0; j < 3; j++) {
            elem(t, c->in[j], "i");
            put(t, ", ");
        }
        flt(t, c->scalar);
        put(t, ");\n");
        break;
    case CG__LOOP_BINARY:
        open_loop(t, c->n);
        elem(t, c->out, "i");
        put(t, " = cg_binary_f(%d, ", c->op);
        elem(t, c->in[0], c->one[0] ? NULL : "i");
        put(t, ", ");
        elem(t, c->in[1], c->one[1] ? NULL : "i");
        put(t, ");\n");
        break;
    case CG__LOOP_BINARY_GRAD: /* d = ...; dst[i] = accumulate ? dst[i] + d : d */
        open_loop(t, c->n);
        put(t, "{\n        float d = cg_binary_grad_f(%d, %d, ", c->op, c->which);
        elem(t, c->in[0], c->one[0] ? NULL : "i");
        put(t, ", ");
        elem(t, c->in[1], c->one[1] ? NULL : "i");
        put(t, ", ");
        elem(t, c->in[2], "i");
        put(t, ");\n        ");
        elem(t, c->out, "i");
        put(t, c->acc ? " += d;\n    }\n" : " = d;\n    }\n");
        break;
    case CG__LOOP_AXPY: /* y[i] += a * x[i] */
        open_loop(t, c->n);
        elem(t, c->out, "i");
        put(t, " += ");
        flt(t, c->scalar);
        put(t, " * ");
        elem(t, c->in[0], "i");
        put(t, ";\n");
        break;
    case CG__LOOP_EXPAND_ADD: /* gx[gid] += scale * gy[o * inner + i] */
        open_loop(t, c->n);
        put(t, "{\n        uint k = i %% %zuu, o = i / %zuu;\n        ", c->inner,
            c->len * c->inner);
        elem(t, c->out, "i");
        put(t, " += ");
        flt(t, c->scalar);
        put(t, " * ");
        put(t, "m%d[%zuu + o * %zuu + k];\n    }\n", c->in[0].slab, c->in[0].at, c->inner);
        break;
    case CG__LOOP_SUM_ALL: { /* cl_reduce.c's sum_all, CPU shape */
        size_t cus = ctx->info.compute_units ? ctx->info.compute_units : 1;
        cl_uint chunk, parts = cg__chunks(c->n, cus * 4, &chunk);
        put(t, "    {\n        float sum = 0.0f, comp = 0.0f;\n");
        put(t, "        for (uint g = 0; g < %uu; g++)\n", parts);
        put(t, "            cg_loop_comp_add(&sum, &comp, cg_loop_chunk_sum(m%d + %zuu, %zuu, "
               "%uu, g));\n",
            c->in[0].slab, c->in[0].at, c->n, chunk);
        put(t, "        float v = sum * ");
        flt(t, c->scalar);
        put(t, ";\n        ");
        elem(t, c->out, NULL);
        put(t, c->acc ? " += v;\n    }\n" : " = v;\n    }\n");
        break;
    }
    case CG__LOOP_SUM_AXIS: /* cg_sum_axis */
        put(t, "    for (uint gid = 0; gid < %zuu; gid++) {\n", c->outer * c->inner);
        put(t, "        uint o = gid / %zuu, i = gid %% %zuu;\n", c->inner, c->inner);
        put(t, "        float sum = 0.0f, comp = 0.0f;\n");
        put(t, "        for (uint l = 0; l < %zuu; l++)\n", c->len);
        put(t, "            cg_loop_comp_add(&sum, &comp, m%d[%zuu + o * %zuu + i + l * %zuu]);\n",
            c->in[0].slab, c->in[0].at, c->len * c->inner, c->inner);
        put(t, "        float v = sum * ");
        flt(t, c->scalar);
        put(t, ";\n        ");
        elem(t, c->out, "gid");
        put(t, " = v;\n    }\n");
        break;
    case CG__LOOP_BLOCK_COPY:
        put(t, "    for (uint o = 0; o < %zuu; o++)\n", c->outer);
        put(t, "        for (uint k = 0; k < %zuu; k++) ", c->len);
        put(t, "m%d[%zuu + o * %zuu + k] %s m%d[%zuu + o * %zuu + k];\n", c->out.slab,
            c->out.at, c->dstride, c->acc ? "+=" : "=", c->in[0].slab, c->in[0].at,
            c->sstride);
        break;
    case CG__LOOP_STEP: /* optim.cl's cg_optim_update, with row `row`'s scalars */
        put(t, "    {\n        float h[CG_H_COUNT];\n");
        put(t, "        for (int k = 0; k < CG_H_COUNT; k++) h[k] = row[%d + k];\n",
            c->row * CG__LOOP_ROW);
        put(t, "        const int flags = as_int(row[%d]);\n", c->row * CG__LOOP_ROW + CG_H_COUNT);
        open_loop(t, c->n);
        put(t, "{\n");
        for (int k = 0; k < 3; k++) {
            if (c->used & (1 << k))
                put(t, "            float s%d = m%d[i];\n", k, c->s[k]);
            else
                put(t, "            float s%d = 0.0f;\n", k);
        }
        put(t, "            m%d[i] = cg_optim_rule(%d, flags, h, m%d[i], m%d[i], &s0, &s1, &s2);\n",
            c->p, c->rule, c->p, c->g);
        for (int k = 0; k < 3; k++)
            if (c->used & (1 << k)) put(t, "            m%d[i] = s%d;\n", c->s[k], k);
        put(t, "        }\n    }\n");
        break;
    }
}

/* The kernel: arguments g<slab>, then the table, the output (done, then
 * the watched values), n and the table's stride. */
static void generate(cg_context *ctx, const cg__loop *L, text *t)
{
    static const char *const headers[] = {"optim_defs.clh", "optim_rules.clh"};
    for (size_t h = 0; h < 2; h++)
        for (size_t i = 0; i < cg__embedded_count; i++)
            if (strcmp(cg__embedded_files[i].name, headers[h]) == 0)
                put(t, "%.*s\n", (int)cg__embedded_files[i].length, cg__embedded_files[i].text);
    put(t, "%s", PREAMBLE);
    put(t, "__kernel void cg_loop(");
    for (int s = 0; s < L->nslabs; s++)
        put(t, "__global %sfloat *g%d, ", L->slab[s].written ? "" : "const ", s);
    put(t, "__global const float *restrict table, __global float *restrict out, const uint n, "
           "const uint stride)\n{\n");
    for (int s = 0; s < L->nslabs; s++) {
        put(t, "    float m%d[%zu];\n", s, L->slab[s].size);
        put(t, "    for (uint i = 0; i < %zuu; i++) m%d[i] = g%d[i];\n", L->slab[s].size, s, s);
    }
    put(t, "    uint t = 0;\n    while (t < n) {\n");
    put(t, "    __global const float *row = table + (size_t)t * stride;\n    (void)row;\n");
    for (size_t k = 0; k < L->ncmds; k++) command(ctx, t, &L->cmd[k]);
    put(t, "    t++;\n");
    if (L->watch.slab >= 0) {
        put(t, "    {\n        float w = ");
        elem(t, L->watch, NULL);
        put(t, ";\n        out[t] = w;\n        if (!isfinite(w)) break;\n    }\n");
    }
    put(t, "    }\n");
    for (int s = 0; s < L->nslabs; s++)
        if (L->slab[s].written)
            put(t, "    for (uint i = 0; i < %zuu; i++) g%d[i] = m%d[i];\n", L->slab[s].size, s,
                s);
    put(t, "    out[0] = as_float(t);\n}\n");
}

/* ---- the cache ------------------------------------------------------------- */

static unsigned long long fnv1a(const char *s, size_t n)
{
    unsigned long long h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static cl_kernel kernel_for(cg_context *ctx, cg__loop *L, const char *what)
{
    if (!ctx->loops && !(ctx->loops = cg__calloc(1, sizeof(loop_cache)))) {
        cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory for a loop kernel", what);
        return NULL;
    }
    loop_cache *c = ctx->loops;
    /* The plan's own, found before: no text to make (a fit's every log
     * ends a launch). */
    for (int i = 0; L->program && i < c->count; i++)
        if (c->slot[i].id == L->program_id && c->slot[i].kernel == L->program) {
            c->slot[i].used = ++c->clock;
            return c->slot[i].kernel;
        }
    text t = {cg__malloc(16384), 0, 16384, false};
    if (t.buf) generate(ctx, L, &t);
    if (!t.buf || t.failed) {
        free(t.buf);
        cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory for a loop kernel", what);
        return NULL;
    }
    unsigned long long h = fnv1a(t.buf, t.len);
    for (int i = 0; i < c->count; i++)
        if (c->slot[i].hash == h && strcmp(c->slot[i].text, t.buf) == 0) {
            c->slot[i].used = ++c->clock;
            free(t.buf);
            L->program = c->slot[i].kernel;
            L->program_id = c->slot[i].id;
            return c->slot[i].kernel;
        }
    loop_kernel k = {.hash = h, .used = ++c->clock, .id = ++c->ids, .text = t.buf};
    bool cached;
    cl_int err = CL_SUCCESS;
    k.program = cg__program_generated(ctx, k.text, false, &cached);
    if (k.program) k.kernel = cg__clCreateKernel(k.program, "cg_loop", &err);
    if (!k.kernel && k.program && cached) { /* a cached binary without it: build once */
        cg__clReleaseProgram(k.program);
        k.program = cg__program_generated(ctx, k.text, true, &cached);
        if (k.program) k.kernel = cg__clCreateKernel(k.program, "cg_loop", &err);
    }
    if (!k.kernel) {
        if (k.program) cg__cl_fail(ctx, err, "cg_loop");
        slot_free(&k);
        return NULL;
    }
    int at = c->count;
    if (at == CACHE_SLOTS) {
        at = 0;
        for (int i = 1; i < c->count; i++)
            if (c->slot[i].used < c->slot[at].used) at = i;
        slot_free(&c->slot[at]);
    } else {
        c->count++;
    }
    c->slot[at] = k;
    L->program = k.kernel;
    L->program_id = k.id;
    return k.kernel;
}

/* ---- the launch --------------------------------------------------------------- */

cg_status cg__cl_loop_run(cg_context *ctx, cg__loop *L, long n, const float *table,
                          size_t table_stride, float *values, long *done)
{
    static const char what[] = "cg_capture_replay_n";
    *done = 0;
    if (ctx->status) return ctx->status;
    cl_kernel k = kernel_for(ctx, L, what);
    if (!k) return ctx->status;
    size_t rows = table ? (table_stride ? (size_t)n : 1) : 0;
    size_t tbytes = rows ? rows * (size_t)L->rows * CG__LOOP_ROW * sizeof(float) : sizeof(float);
    size_t obytes = ((size_t)n + 1) * sizeof(float);
    cl_mem tb = cg__buffer_get(ctx, tbytes, what);
    cl_mem ob = tb ? cg__buffer_get(ctx, obytes, what) : NULL;
    cl_uint nn = (cl_uint)n, stride = (cl_uint)table_stride;
    float *host = ob ? cg__malloc(obytes) : NULL;
    if (ob && !host) cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory", what);
    cl_int err = CL_SUCCESS;
    cl_uint arg = 0;
    for (int s = 0; s < L->nslabs && err == CL_SUCCESS; s++)
        err = cg__clSetKernelArg(k, arg++, sizeof(cl_mem), &L->slab[s].mem);
    const struct {
        size_t size;
        const void *value;
    } rest[] = {{sizeof(cl_mem), &tb}, {sizeof(cl_mem), &ob}, {sizeof nn, &nn},
                {sizeof stride, &stride}};
    for (size_t r = 0; r < 4 && err == CL_SUCCESS; r++)
        err = cg__clSetKernelArg(k, arg++, rest[r].size, rest[r].value);
    if (host && err != CL_SUCCESS) cg__cl_fail(ctx, err, what);
    /* One write, one launch, one read: the host waits once for n steps
     * (the read's wait covers the write's memory). */
    if (host && !ctx->status && (!rows || !cg__write(ctx, tb, 0, tbytes, table, false, what)) &&
        !cg__launch(ctx, k, 1, 1, what) && !cg__read(ctx, ob, 0, obytes, host, true, what)) {
        cl_uint ran;
        memcpy(&ran, &host[0], sizeof ran);
        *done = ran <= nn ? (long)ran : 0;
        if (values && *done) memcpy(values, host + 1, (size_t)*done * sizeof *values);
    }
    free(host);
    if (tb) cg__buffer_put(ctx, tb, tbytes);
    if (ob) cg__buffer_put(ctx, ob, obytes);
    return ctx->status;
}
