/* The OpenCL C of a fused group (cl_fuse.c compiles, caches and launches
 * it), generated from its plan (fuse.c).
 *
 * The text names the ops by their codes and calls the formulas every
 * element-wise kernel and the reference path use (cg_unary_f, cg_unary_grad,
 * cg_binary_f, cg_binary_grad_f), in the nodes' order, with contraction off:
 * a group computes what its nodes would, bit for bit. A group with sums
 * follows the eager full sum's kernels (reduce.cl) for its size on this
 * device: the same split (cg__sum_split_of), the same blocks, compensated
 * adds and trees (reduce_sum.clh, the same text), the value added being the
 * element the chain just made instead of one read back; so its sums are the
 * eager ones bit for bit too. What varies between two runs of one structure
 * (the scalars, offsets, sizes) is an argument. */
#include <stdarg.h>
#include <stdio.h>

#include "../internal.h"
#include "cl_fuse.h"

/* ---- a step's arguments ------------------------------------------------------ */

static void add_u(cg__fuse_param *p, int *c, char letter, int j, size_t v)
{
    p[(*c)++] = (cg__fuse_param){.letter = letter, .j = (signed char)j, .u = (cl_uint)v};
}

/* Step st's arguments, in order: s (its scalar), o_j (a one-element
 * operand's offset), and m (its size) after the sums; a sum's scale s and
 * target offset o; a block copy's o_0, p, d, q, m, l (source offset and
 * stride, destination offset and stride, rows, row length). */
int cg__fuse_step_params(const cg__fuse_step *st, cg__fuse_param *p)
{
    const cg__node *node = st->node;
    int c = 0;
    if (node->kind == CG__OP_BLOCK_COPY) {
        add_u(p, &c, 'o', 0, node->ia);
        add_u(p, &c, 'p', -1, node->ib);
        add_u(p, &c, 'd', -1, node->ic);
        add_u(p, &c, 'q', -1, node->id);
        add_u(p, &c, 'm', -1, node->ie);
        add_u(p, &c, 'l', -1, node->ig);
        return c;
    }
    bool sum_to = st->phase == CG__FUSE_SUM && node->kind == CG__OP_SUM_TO;
    p[c++] = (cg__fuse_param){.letter = 's', .j = -1, .is_float = true, .f = sum_to ? 1.0f : node->scalar};
    if (st->phase == CG__FUSE_SUM) {
        add_u(p, &c, 'o', -1, node->kind == CG__OP_REDUCE ? node->id : 0);
        return c;
    }
    for (int j = 0; j < 3; j++) {
        const cg__fuse_operand *o = &st->in[j];
        if (o->buffer < 0 || o->fill) continue; /* a fill's value is its s */
        if (o->scalar) add_u(p, &c, 'o', j, o->offset);
        if (o->period) add_u(p, &c, 'q', j, o->period);
    }
    if (st->phase == CG__FUSE_AFTER) add_u(p, &c, 'm', -1, st->n);
    return c;
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

/* The value of operand `o` of step k (input j): element i from its register
 * or, after the sums, from memory. */
static void operand(text *t, const cg__fuse_operand *o, size_t k, int j, bool memory)
{
    if (o->buffer < 0) /* the formula does not read it (cg_*_grad_reads) */
        put(t, "0.0f");
    else if (o->fill)
        put(t, "s%d", o->fill - 1);
    else if (o->period)
        put(t, "b%d[i %% q%zu_%d]", o->buffer, k, j);
    else if (o->scalar)
        put(t, "b%d[o%zu_%d]", o->buffer, k, j);
    else if (memory)
        put(t, "b%d[i]", o->buffer);
    else
        put(t, "r%d", o->buffer);
}

bool cg__fuse_short_buffer(const cg__fuse_group *g, int b)
{
    return g->bsize[b] && g->bsize[b] != g->n;
}

/* Step k's formula, element i: into its register (memory false) or into
 * memory (after the sums). */
static void formula(text *t, const cg__fuse_step *st, size_t k, bool memory)
{
    const cg__node *node = st->node;
    const cg__fuse_operand *in = st->in;
    const cg__fuse_operand self = {.buffer = st->out, .scalar = false};
    char dest[24];
    snprintf(dest, sizeof dest, memory ? "b%d[i]" : "r%d", st->out);
    switch (node->kind) {
    case CG__OP_FILL: put(t, "    %s = s%zu;\n", dest, k); break;
    case CG__OP_UNARY:
        put(t, "    %s = cg_unary_f(%d, ", dest, node->op);
        operand(t, &in[0], k, 0, memory);
        put(t, ", s%zu);\n", k);
        break;
    case CG__OP_UNARY_GRAD: /* gx += gy * f'(x) */
        put(t, "    %s = ", dest);
        operand(t, &self, k, -1, memory);
        put(t, " + cg_unary_grad(%d, ", node->op);
        operand(t, &in[0], k, 0, memory);
        put(t, ", ");
        operand(t, &in[1], k, 1, memory);
        put(t, ", ");
        operand(t, &in[2], k, 2, memory);
        put(t, ", s%zu);\n", k);
        break;
    case CG__OP_AXPY:       /* y += a * x */
    case CG__OP_EXPAND_ADD: /* gx += scale * gy[0] (cg_expand_all_add) */
        put(t, "    %s = ", dest);
        operand(t, &self, k, -1, memory);
        put(t, " + s%zu * ", k);
        operand(t, &in[0], k, 0, memory);
        put(t, ";\n");
        break;
    case CG__OP_BINARY:
        put(t, "    %s = cg_binary_f(%d, ", dest, node->op);
        operand(t, &in[0], k, 0, memory);
        put(t, ", ");
        operand(t, &in[1], k, 1, memory);
        put(t, ");\n");
        break;
    case CG__OP_BINARY_GRAD: /* d = gy * d(a op b)/d(which); dst = d or dst + d */
        put(t, "    {\n        float d = cg_binary_grad_f(%d, %d, ", node->op, (int)node->ia);
        operand(t, &in[0], k, 0, memory);
        put(t, ", ");
        operand(t, &in[1], k, 1, memory);
        put(t, ", ");
        operand(t, &in[2], k, 2, memory);
        put(t, ");\n        %s = ", dest);
        if (node->flag_a) {
            operand(t, &self, k, -1, memory);
            put(t, " + d;\n    }\n");
        } else {
            put(t, "d;\n    }\n");
        }
        break;
    default: t->full = true; break; /* the plan admits no other kind */
    }
}

static bool accumulates(const cg__node *node)
{
    return node->kind == CG__OP_UNARY_GRAD || node->kind == CG__OP_AXPY ||
           node->kind == CG__OP_EXPAND_ADD || (node->kind == CG__OP_BINARY_GRAD && node->flag_a);
}

/* The element-i steps for element i in registers, each sum's value added
 * into T<sum> where the sum's node stands, then the stores (none for a dead
 * buffer). */
static void each_element(const cg__fuse_group *g, text *t)
{
    for (int b = 0; b < g->nbuffers; b++) put(t, "    float r%d;\n", b);
    bool loaded[CG__FUSE_MAX_BUFFERS] = {false}, stored[CG__FUSE_MAX_BUFFERS] = {false};
    int sum = 0;
    for (size_t k = 0; k < g->steps; k++) {
        const cg__fuse_step *st = &g->step[k];
        if (st->phase == CG__FUSE_AFTER) continue;
        if (st->phase == CG__FUSE_SUM) {
            preload(t, &st->in[0], loaded);
            put(t, "    T%d += r%d;\n", sum++, st->in[0].buffer);
            continue;
        }
        int out = st->out;
        /* A step over fewer elements than the launch: its buffers are all
         * of its size (fuse.c), so their registers are used under the same
         * guard only. */
        bool guarded = cg__fuse_short_buffer(g, out);
        if (guarded) put(t, "    if (i < z%d) {\n", out);
        for (int j = 0; j < 3; j++) preload(t, &st->in[j], loaded);
        if (accumulates(st->node)) {
            const cg__fuse_operand self = {.buffer = (signed char)out, .scalar = false};
            preload(t, &self, loaded);
        }
        formula(t, st, k, false);
        if (guarded) put(t, "    }\n");
        loaded[out] = stored[out] = true;
    }
    for (int b = 0; b < g->nbuffers; b++) {
        if (!stored[b] || g->dead[b] || g->skip_store[b]) continue;
        if (cg__fuse_short_buffer(g, b))
            put(t, "    if (i < z%d) b%d[i] = r%d;\n", b, b, b);
        else
            put(t, "    b%d[i] = r%d;\n", b, b);
    }
}

/* The parameters both kernels of a group take: the buffers, the short
 * buffers' sizes, each step's arguments, n, and with sums the split. */
static void parameters(const cg__fuse_group *g, text *t, bool gpu)
{
    for (int b = 0; b < g->nbuffers; b++)
        put(t, "%s__global %sfloat *b%d", b ? ", " : "", g->written[b] ? "" : "const ", b);
    for (int b = 0; b < g->nbuffers; b++)
        if (cg__fuse_short_buffer(g, b)) put(t, ", const uint z%d", b);
    cg__fuse_param p[CG__FUSE_STEP_PARAMS];
    for (size_t k = 0; k < g->steps; k++) {
        int c = cg__fuse_step_params(&g->step[k], p);
        for (int q = 0; q < c; q++) {
            put(t, ", const %s %c%zu", p[q].is_float ? "float" : "uint", p[q].letter, k);
            if (p[q].j >= 0) put(t, "_%d", p[q].j);
        }
    }
    put(t, ", const uint n");
    if (g->sums)
        put(t, ", const uint chunk, const uint lanes, const uint finish_lanes, "
               "__global float *partials, const uint parts%s",
            gpu ? ", __local float *scratch" : "");
    put(t, ")\n{\n");
}

/* What runs once the sums V<sum> are known, in the nodes' order: each sum
 * scaled into its target (cg_sum_finish, cg_sum_tiles), the small steps. */
static void after_sums(const cg__fuse_group *g, text *t)
{
    int sum = 0;
    for (size_t k = 0; k < g->steps; k++) {
        const cg__fuse_step *st = &g->step[k];
        const cg__node *node = st->node;
        int o = st->out;
        if (st->phase == CG__FUSE_SUM) {
            bool acc = node->kind == CG__OP_SUM_TO || node->flag_a;
            put(t, "    {\n        const float v = V%d * s%zu;\n", sum++, k);
            if (acc)
                put(t, "        b%d[o%zu] = b%d[o%zu] + v;\n    }\n", o, k, o, k);
            else
                put(t, "        b%d[o%zu] = v;\n    }\n", o, k);
        } else if (st->phase == CG__FUSE_AFTER && node->kind == CG__OP_BLOCK_COPY) {
            int src = st->in[0].buffer;
            put(t, "    for (uint o = 0; o < m%zu; o++)\n        for (uint i = 0; i < l%zu; i++) {\n",
                k, k);
            put(t, "            const float v = b%d[o%zu_0 + o * p%zu + i];\n", src, k, k);
            put(t, "            const uint at = d%zu + o * q%zu + i;\n", k, k);
            if (node->flag_a)
                put(t, "            b%d[at] = b%d[at] + v;\n        }\n", o, o);
            else
                put(t, "            b%d[at] = v;\n        }\n", o);
        } else if (st->phase == CG__FUSE_AFTER) {
            put(t, "    for (uint i = 0; i < m%zu; i++) {\n", k);
            formula(t, st, k, true);
            put(t, "    }\n");
        }
    }
}

/* A group with sums, CPU shapes (cg_sum_partials, cg_sum_finish): work-item
 * g takes the chunk [g chunk, (g+1) chunk), in blocks of CG_RBLOCK summed
 * in float and added with compensation; one part finishes in place, more
 * leave partials to cg_fused_finish. */
static void generate_cpu_sums(const cg__fuse_group *g, text *t)
{
    size_t sums = g->sums;
    put(t, "__kernel void cg_fused(");
    parameters(g, t, false);
    put(t, "    const uint g = get_global_id(0);\n"
           "    const uint begin = min(n, g * chunk), end = min(n, begin + chunk);\n");
    for (size_t r = 0; r < sums; r++) put(t, "    float S%zu = 0.0f, C%zu = 0.0f;\n", r, r);
    put(t, "    for (uint i = begin; i < end;) {\n"
           "        const uint block_end = min(end, i + CG_RBLOCK);\n");
    for (size_t r = 0; r < sums; r++) put(t, "        float T%zu = 0.0f;\n", r);
    put(t, "        for (; i < block_end; i++) {\n");
    each_element(g, t);
    put(t, "        }\n");
    for (size_t r = 0; r < sums; r++) put(t, "        cg_comp_add(&S%zu, &C%zu, T%zu);\n", r, r, r);
    put(t, "    }\n    if (parts == 1) {\n");
    for (size_t r = 0; r < sums; r++)
        put(t, "        float V%zu = 0.0f, D%zu = 0.0f;\n        cg_comp_add(&V%zu, &D%zu, S%zu);\n",
            r, r, r, r, r);
    after_sums(g, t);
    put(t, "    } else {\n");
    for (size_t r = 0; r < sums; r++) put(t, "        partials[%zuu * parts + g] = S%zu;\n", r, r);
    put(t, "    }\n}\n\n__kernel void cg_fused_finish(");
    parameters(g, t, false);
    for (size_t r = 0; r < sums; r++)
        put(t, "    float V%zu = 0.0f, D%zu = 0.0f;\n"
               "    for (uint u = 0; u < parts; u++) cg_comp_add(&V%zu, &D%zu, partials[%zuu * parts + u]);\n",
            r, r, r, r, r);
    after_sums(g, t);
    put(t, "}\n");
}

/* A group with sums, GPU shapes (cg_sum_tiles with one output): group g
 * takes the slice [g chunk, (g+1) chunk), its first `lanes` items element
 * tl, tl + lanes, ... in blocks of CG_TBLOCK, then a tree per sum; one part
 * finishes in place (after a barrier: the steps after the sums read what
 * other items wrote), more leave partials to cg_fused_finish, which sums
 * them as cg_sum_tiles does the partials of a split sum. */
static void generate_gpu_sums(const cg__fuse_group *g, text *t)
{
    size_t sums = g->sums;
    put(t, "__kernel void cg_fused(");
    parameters(g, t, true);
    put(t, "    const uint lid = get_local_id(0), L = get_local_size(0), g = get_group_id(0);\n"
           "    const uint tl = lid %% lanes;\n"
           "    const uint begin = min(n, g * chunk), end = min(n, begin + chunk);\n");
    for (size_t r = 0; r < sums; r++) put(t, "    float S%zu = 0.0f, C%zu = 0.0f;\n", r, r);
    put(t, "    if (lid / lanes == 0)\n        for (uint i = begin + tl; i < end;) {\n");
    for (size_t r = 0; r < sums; r++) put(t, "        float T%zu = 0.0f;\n", r);
    put(t, "        for (uint j = 0; j < CG_TBLOCK && i < end; j++, i += lanes) {\n");
    each_element(g, t);
    put(t, "        }\n");
    for (size_t r = 0; r < sums; r++) put(t, "        cg_comp_add(&S%zu, &C%zu, T%zu);\n", r, r, r);
    put(t, "    }\n");
    for (size_t r = 0; r < sums; r++)
        put(t, "    cg_tree_put(scratch + %zuu * 2 * L, lid, S%zu, C%zu);\n", r, r, r);
    put(t, "    barrier(CLK_LOCAL_MEM_FENCE);\n");
    for (size_t r = 0; r < sums; r++)
        put(t, "    cg_tree_sum(scratch + %zuu * 2 * L, lid, tl, lanes, 1);\n", r);
    /* Not under `if (parts == 1)`: PoCL ran the code after a barrier in that
     * branch on every item of the group (the steps after the sums 256 times). */
    put(t, "    barrier(CLK_GLOBAL_MEM_FENCE);\n    if (lid == 0 && parts == 1) {\n");
    for (size_t r = 0; r < sums; r++)
        put(t, "    const float V%zu = cg_tree_value(scratch + %zuu * 2 * L, 0);\n", r, r);
    after_sums(g, t);
    put(t, "    } else if (lid == 0) {\n");
    for (size_t r = 0; r < sums; r++)
        put(t, "        partials[%zuu * parts + g] = cg_tree_value(scratch + %zuu * 2 * L, 0) * "
               "1.0f;\n",
            r, r);
    put(t, "    }\n}\n\n__kernel void cg_fused_finish(");
    parameters(g, t, true);
    put(t, "    const uint lid = get_local_id(0), L = get_local_size(0);\n"
           "    const uint tl = lid %% finish_lanes;\n");
    for (size_t r = 0; r < sums; r++) {
        put(t, "    {\n        float S = 0.0f, C = 0.0f;\n"
               "        if (lid / finish_lanes == 0)\n"
               "            for (uint l = tl; l < parts;) {\n"
               "                float B = 0.0f;\n"
               "                for (uint j = 0; j < CG_TBLOCK && l < parts; j++, l += finish_lanes)\n"
               "                    B += partials[%zuu * parts + l];\n"
               "                cg_comp_add(&S, &C, B);\n            }\n"
               "        cg_tree_put(scratch + %zuu * 2 * L, lid, S, C);\n    }\n",
            r, r);
    }
    put(t, "    barrier(CLK_LOCAL_MEM_FENCE);\n");
    for (size_t r = 0; r < sums; r++)
        put(t, "    cg_tree_sum(scratch + %zuu * 2 * L, lid, tl, finish_lanes, 1);\n", r);
    put(t, "    if (lid == 0) {\n");
    for (size_t r = 0; r < sums; r++)
        put(t, "    const float V%zu = cg_tree_value(scratch + %zuu * 2 * L, 0);\n", r, r);
    after_sums(g, t);
    put(t, "    }\n}\n");
}

/* The kernel for g, into t: cg_fused (and with sums cg_fused_finish). */
static void generate(const cg__fuse_group *g, bool gpu, text *t)
{
    put(t, "#pragma OPENCL FP_CONTRACT OFF\n");
    if (g->sums) {
        if (gpu)
            generate_gpu_sums(g, t);
        else
            generate_cpu_sums(g, t);
        return;
    }
    put(t, "__kernel void cg_fused(");
    parameters(g, t, gpu);
    put(t, "    const uint i = get_global_id(0);\n    if (i >= n) return;\n");
    each_element(g, t);
    put(t, "}\n");
}

bool cg__fuse_text(const cg__fuse_group *g, bool gpu, char *buf, size_t cap)
{
    text t = {buf, 0, cap, false};
    generate(g, gpu, &t);
    return !t.full;
}

size_t cg__fuse_structure(const cg__fuse_group *g, bool gpu, unsigned *key)
{
    size_t n = 0;
    key[n++] = (unsigned)g->nbuffers;
    key[n++] = (unsigned)g->steps;
    key[n++] = (unsigned)g->sums | (unsigned)(gpu && g->sums) << 8;
    for (int b = 0; b < g->nbuffers; b++)
        key[n++] = (unsigned)g->written[b] | (unsigned)cg__fuse_short_buffer(g, b) << 1 |
                   (unsigned)g->dead[b] << 2 | (unsigned)g->skip_store[b] << 3;
    for (size_t k = 0; k < g->steps; k++) {
        const cg__fuse_step *st = &g->step[k];
        key[n++] = (unsigned)st->node->kind;
        key[n++] = (unsigned)st->phase;
        key[n++] = (unsigned)st->node->op;
        key[n++] = st->node->kind == CG__OP_BINARY_GRAD ? (unsigned)st->node->ia : 0;
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
