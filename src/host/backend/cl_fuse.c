/* Fused groups on OpenCL: OpenCL C generated from a group's plan (fuse.c),
 * compiled once per structure and kept in a per-context cache.
 *
 * The text names the ops by their codes and calls the formulas every
 * element-wise kernel and the reference path use (cg_unary_f, cg_unary_grad,
 * cg_binary_f, cg_binary_grad_f), in the nodes' order, with contraction off:
 * a group computes what its nodes would, bit for bit. What varies between
 * two runs of one structure (the scalars, a one-element operand's offset,
 * n, the buffers) is a kernel argument, so a training loop builds each
 * group's program once. The cache's key is what the text depends on (kinds,
 * op codes, which operand is which buffer: structure(), compared in full,
 * found by its hash), so a known group costs no text; the program goes to
 * the binary cache like any other, keyed by its text. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"

/* Kernels kept per context; the least recently used goes past it. */
#define CACHE_SLOTS 128
/* Generated text: at most CG__FUSE_MAX_STEPS steps of ~160 bytes. */
#define SOURCE_CAP 16384

/* What a group's text depends on, as words (structure): looked up before
 * any text is made, since making it costs more than the launch it saves. */
#define KEY_CAP (2 + CG__FUSE_MAX_BUFFERS + CG__FUSE_MAX_STEPS * 11)

typedef struct fused_kernel {
    unsigned long long hash, used;
    unsigned *key;
    size_t key_len;
    cl_program program;
    cl_kernel kernel;
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

/* ---- the text ---------------------------------------------------------------- */

typedef struct text {
    char *buf;
    size_t len, cap;
    bool full;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...)
{
    if (t->full) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= t->cap - t->len)
        t->full = true;
    else
        t->len += (size_t)n;
}

/* Loads a buffer's element i into its register before the first step that
 * reads it (a statement of its own: a step's line assigns one register). */
static void preload(text *t, const cg__fuse_operand *o, bool *loaded)
{
    int b = o->buffer;
    if (b < 0 || o->scalar || o->period || loaded[b]) return;
    put(t, "    r%d = b%d[i];\n", b, b);
    loaded[b] = true;
}

/* The value of operand `o` of step k (input j) as an expression. */
static void operand(text *t, const cg__fuse_operand *o, size_t k, int j)
{
    if (o->buffer < 0) /* the formula does not read it (cg_*_grad_reads) */
        put(t, "0.0f");
    else if (o->fill)
        put(t, "s%d", o->fill - 1);
    else if (o->period)
        put(t, "b%d[i %% q%zu_%d]", o->buffer, k, j);
    else if (o->scalar)
        put(t, "b%d[o%zu_%d]", o->buffer, k, j);
    else
        put(t, "r%d", o->buffer);
}

/* Buffer b is accessed element by element over fewer elements than the
 * launch: its steps and its store are guarded by i < z<b>. */
static bool short_buffer(const cg__fuse_group *g, int b)
{
    return g->bsize[b] && g->bsize[b] != g->n;
}

/* The kernel for g, into t: parameters b<buffer>, z<buffer> (the short
 * ones' sizes), then per step s<k> (its scalar) and o<k>_<j> (a one-element
 * operand's offset), then n. */
static void generate(const cg__fuse_group *g, text *t)
{
    put(t, "#pragma OPENCL FP_CONTRACT OFF\n__kernel void cg_fused(");
    for (int b = 0; b < g->nbuffers; b++)
        put(t, "%s__global %sfloat *b%d", b ? ", " : "", g->written[b] ? "" : "const ", b);
    for (int b = 0; b < g->nbuffers; b++)
        if (short_buffer(g, b)) put(t, ", const uint z%d", b);
    for (size_t k = 0; k < g->steps; k++) {
        put(t, ", const float s%zu", k);
        for (int j = 0; j < 3; j++)
            if (g->step[k].in[j].buffer >= 0 && g->step[k].in[j].scalar &&
                !g->step[k].in[j].fill)
                put(t, ", const uint o%zu_%d", k, j);
            else if (g->step[k].in[j].buffer >= 0 && g->step[k].in[j].period)
                put(t, ", const uint q%zu_%d", k, j);
    }
    put(t, ", const uint n)\n{\n    const uint i = get_global_id(0);\n    if (i >= n) return;\n");
    for (int b = 0; b < g->nbuffers; b++) put(t, "    float r%d;\n", b);
    bool loaded[CG__FUSE_MAX_BUFFERS] = {false};
    for (size_t k = 0; k < g->steps; k++) {
        const cg__fuse_step *st = &g->step[k];
        const cg__node *node = st->node;
        const cg__fuse_operand *in = st->in;
        const cg__fuse_operand self = {.buffer = st->out, .scalar = false};
        int out = st->out;
        /* A step over fewer elements than the launch: its buffers are all
         * of its size (fuse.c), so their registers are used under the same
         * guard only. */
        bool guarded = short_buffer(g, out);
        if (guarded) put(t, "    if (i < z%d) {\n", out);
        for (int j = 0; j < 3; j++) preload(t, &in[j], loaded);
        bool accumulates = node->kind == CG__OP_UNARY_GRAD || node->kind == CG__OP_AXPY ||
                           node->kind == CG__OP_EXPAND_ADD ||
                           (node->kind == CG__OP_BINARY_GRAD && node->flag_a);
        if (accumulates) preload(t, &self, loaded);
        switch (node->kind) {
        case CG__OP_FILL: put(t, "    r%d = s%zu;\n", out, k); break;
        case CG__OP_UNARY:
            put(t, "    r%d = cg_unary_f(%d, ", out, node->op);
            operand(t, &in[0], k, 0);
            put(t, ", s%zu);\n", k);
            break;
        case CG__OP_UNARY_GRAD: /* gx += gy * f'(x) */
            put(t, "    r%d = ", out);
            operand(t, &self, k, -1);
            put(t, " + cg_unary_grad(%d, ", node->op);
            operand(t, &in[0], k, 0);
            put(t, ", ");
            operand(t, &in[1], k, 1);
            put(t, ", ");
            operand(t, &in[2], k, 2);
            put(t, ", s%zu);\n", k);
            break;
        case CG__OP_AXPY:       /* y += a * x */
        case CG__OP_EXPAND_ADD: /* gx += scale * gy[0] (cg_expand_all_add) */
            put(t, "    r%d = ", out);
            operand(t, &self, k, -1);
            put(t, " + s%zu * ", k);
            operand(t, &in[0], k, 0);
            put(t, ";\n");
            break;
        case CG__OP_BINARY:
            put(t, "    r%d = cg_binary_f(%d, ", out, node->op);
            operand(t, &in[0], k, 0);
            put(t, ", ");
            operand(t, &in[1], k, 1);
            put(t, ");\n");
            break;
        case CG__OP_BINARY_GRAD: /* d = gy * d(a op b)/d(which); dst = d or dst + d */
            put(t, "    {\n        float d = cg_binary_grad_f(%d, %d, ", node->op, (int)node->ia);
            operand(t, &in[0], k, 0);
            put(t, ", ");
            operand(t, &in[1], k, 1);
            put(t, ", ");
            operand(t, &in[2], k, 2);
            put(t, ");\n        r%d = ", out);
            if (node->flag_a) {
                operand(t, &self, k, -1);
                put(t, " + d;\n    }\n");
            } else {
                put(t, "d;\n    }\n");
            }
            break;
        default: t->full = true; break; /* the plan admits no other kind */
        }
        if (guarded) put(t, "    }\n");
        loaded[out] = true;
    }
    for (int b = 0; b < g->nbuffers; b++) {
        if (!g->written[b] || g->skip_store[b]) continue;
        if (short_buffer(g, b))
            put(t, "    if (i < z%d) b%d[i] = r%d;\n", b, b, b);
        else
            put(t, "    b%d[i] = r%d;\n", b, b);
    }
    put(t, "}\n");
}

/* The words generate() reads from g, in a fixed order; its length. */
static size_t structure(const cg__fuse_group *g, unsigned *key)
{
    size_t n = 0;
    key[n++] = (unsigned)g->nbuffers;
    key[n++] = (unsigned)g->steps;
    for (int b = 0; b < g->nbuffers; b++)
        key[n++] = (unsigned)g->written[b] | (unsigned)short_buffer(g, b) << 1 |
                   (unsigned)g->skip_store[b] << 2;
    for (size_t k = 0; k < g->steps; k++) {
        const cg__fuse_step *st = &g->step[k];
        key[n++] = (unsigned)st->node->kind;
        key[n++] = (unsigned)st->node->op;
        key[n++] = (unsigned)st->node->ia;
        key[n++] = (unsigned)st->node->flag_a;
        key[n++] = (unsigned)(st->out + 1);
        for (int j = 0; j < 3; j++) {
            key[n++] = (unsigned)(st->in[j].buffer + 1);
            key[n++] = (unsigned)st->in[j].scalar | (unsigned)(st->in[j].period > 0) << 1 |
                       (unsigned)st->in[j].fill << 2;
        }
    }
    return n;
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

static cl_kernel kernel_for(cg_context *ctx, const cg__fuse_group *g, const char *what)
{
    fused_cache *c = cache_of(ctx);
    if (!c) return NULL;
    unsigned key[KEY_CAP];
    size_t key_len = structure(g, key);
    unsigned long long h = fnv1a(key, key_len);
    for (int i = 0; i < c->count; i++)
        if (c->slot[i].hash == h && c->slot[i].key_len == key_len &&
            memcmp(c->slot[i].key, key, key_len * sizeof *key) == 0) {
            c->slot[i].used = ++c->clock;
            return c->slot[i].kernel;
        }
    /* Not seen: the text, then a program (from the binary cache when it is
     * there, keyed by the text like any program). */
    char *source = cg__malloc(SOURCE_CAP);
    if (!source) {
        cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory for a generated kernel", what);
        return NULL;
    }
    text t = {source, 0, SOURCE_CAP, false};
    generate(g, &t);
    if (t.full) {
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
    k.program = cg__program_generated(ctx, source, false, &cached);
    cl_int err = CL_SUCCESS;
    if (k.program) k.kernel = cg__clCreateKernel(k.program, "cg_fused", &err);
    if (!k.kernel && k.program && cached) { /* a cached binary without it: build once */
        cg__clReleaseProgram(k.program);
        k.program = cg__program_generated(ctx, source, true, &cached);
        if (k.program) k.kernel = cg__clCreateKernel(k.program, "cg_fused", &err);
    }
    free(source);
    if (!k.kernel) {
        if (k.program) cg__cl_fail(ctx, err, "cg_fused");
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
    return k.kernel;
}

/* ---- the launch ------------------------------------------------------------- */

cg_status cg__cl_exec_group(cg_context *ctx, const cg__fuse_group *g)
{
    if (ctx->status) return ctx->status;
    const char *what = g->step[0].node->what;
    cl_kernel kernel = kernel_for(ctx, g, what);
    if (!kernel) return ctx->status;
    cl_uint arg = 0;
    cl_int err = CL_SUCCESS;
    for (int b = 0; b < g->nbuffers && err == CL_SUCCESS; b++)
        err = cg__clSetKernelArg(kernel, arg++, sizeof(cl_mem), &g->buffer[b]->mem);
    for (int b = 0; b < g->nbuffers && err == CL_SUCCESS; b++)
        if (short_buffer(g, b)) {
            cl_uint z = (cl_uint)g->bsize[b];
            err = cg__clSetKernelArg(kernel, arg++, sizeof z, &z);
        }
    for (size_t k = 0; k < g->steps && err == CL_SUCCESS; k++) {
        float s = g->step[k].node->scalar;
        err = cg__clSetKernelArg(kernel, arg++, sizeof s, &s);
        for (int j = 0; j < 3 && err == CL_SUCCESS; j++) {
            const cg__fuse_operand *o = &g->step[k].in[j];
            if (o->buffer >= 0 && !o->fill && (o->scalar || o->period)) {
                cl_uint v = o->scalar ? o->offset : o->period;
                err = cg__clSetKernelArg(kernel, arg++, sizeof v, &v);
            }
        }
    }
    cl_uint n = (cl_uint)g->n;
    if (err == CL_SUCCESS) err = cg__clSetKernelArg(kernel, arg++, sizeof n, &n);
    if (err != CL_SUCCESS) return cg__cl_fail(ctx, err, what);
    ctx->stats.fused_groups++;
    ctx->stats.fused_nodes += g->steps;
    return cg__launch_n(ctx, kernel, g->n, what);
}
