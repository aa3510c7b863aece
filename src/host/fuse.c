/* Fusion's plan: which consecutive nodes of the graph run as one kernel.
 *
 * A group is a run of element-wise nodes, each computing its n elements,
 * element i from element i of its inputs or from one element read by all
 * (nodes of different sizes may share a group: a step of n elements runs
 * where i < n): unary ops and their gradients, broadcasting binary
 * ops whose operands are each the output's shape or one element (and their
 * gradients), axpy, fills, and a full sum's backward. The backend runs a
 * group as one kernel in which element i of each node's output goes from
 * the node that makes it to the nodes that read it in a register
 * (backend/cl_fuse_text.c). The formulas and their order are the nodes' own, so
 * a group's results are the nodes' bit for bit.
 *
 * What ends a group: a node of another kind, a buffer accessed element by
 * element at two sizes, an operand read through strides (a row repeated
 * over the leading dimensions, a bias, is read at i % its length), and one
 * hazard: an element read by every work-item from a buffer the group
 * writes (work-item j could write it before work-item i reads it), unless
 * a fill of the group wrote it: the read is then the fill's value, with no
 * load. A gradient's formula loads only the inputs it reads
 * (cg_*_grad_reads, formulas.clh). Nodes with nothing to run (views) inside
 * a run join it.
 *
 * Sums. When a full sum (REDUCE over everything, SUM_TO to one element) is
 * ahead, the group is planned around its n: its element-wise steps all
 * compute n elements (EACH), each sum of n elements adds element i of its
 * input as the step before it left it (SUM; several sums share the pass:
 * the linear model's weight and bias gradients), and the smaller steps
 * run AFTER the sums, in the nodes' order, by one work-item: fills of a
 * sum's target, a sum's small consumers (so they cost no launch), the block
 * copies of a gradient into its parameter's slot. The kernel follows the
 * eager sum's split and order for n on this device (cl_reduce.c's
 * cg__sum_split_of), so a fused sum is the eager one bit for bit. Since the
 * AFTER steps run last, an EACH step may not touch a buffer an AFTER step or
 * a sum writes, nor write one an AFTER step reads.
 *
 * Outputs nothing outside the group can read (a temporary whose every
 * reference is held by the group's nodes, which let go of it when it has
 * run) are not stored: the broadcast gradients only summed back, the
 * intermediate gradients cg_backward has let go of. */
#include <string.h>

#include "internal.h"

/* The group's index for storage s, added if new; -1 when full. */
static int buffer_of(cg__fuse_group *g, cg__storage *s)
{
    for (int b = 0; b < g->nbuffers; b++)
        if (g->buffer[b] == s) return b;
    if (g->nbuffers == CG__FUSE_MAX_BUFFERS) return -1;
    int b = g->nbuffers++;
    g->buffer[b] = s;
    g->written[b] = g->read_scalar[b] = g->after_write[b] = g->after_read[b] = false;
    g->dead[b] = g->skip_store[b] = false;
    g->filled_by[b] = -1;
    g->bsize[b] = 0;
    return b;
}

/* Buffer b accessed at element i by a step of n elements: every such access
 * of one buffer covers the same n (a register holds element i of it only
 * where i < n), and none of a buffer written after the sums (which runs
 * later). */
static bool cover(cg__fuse_group *g, int b, size_t n)
{
    if (b < 0 || g->after_write[b] || (g->bsize[b] && g->bsize[b] != n)) return false;
    g->bsize[b] = n;
    return true;
}

/* t read element by element by a step of n elements: plain, n elements. */
static bool read_same(cg__fuse_group *g, const cg_tensor *t, size_t n, cg__fuse_operand *op)
{
    if (!t || !t->plain || t->numel != n) return false;
    int b = buffer_of(g, t->storage);
    if (!cover(g, b, n)) return false;
    *op = (cg__fuse_operand){.buffer = (signed char)b, .scalar = false, .offset = 0};
    return true;
}

/* t, one element, read by every work-item at its offset (for a step of one
 * element at offset 0, that is element i itself). */
static bool read_one(cg__fuse_group *g, const cg_tensor *t, unsigned offset, size_t n,
                     cg__fuse_operand *op)
{
    if (n == 1 && offset == 0) return read_same(g, t, 1, op);
    int b = buffer_of(g, t->storage);
    if (b >= 0 && g->written[b] && g->filled_by[b] >= 0) {
        /* every element of it is what a fill of the group put there (a
         * backward's seed): that value, with no read to race a write */
        *op = (cg__fuse_operand){.buffer = (signed char)b, .scalar = true,
                                 .fill = (unsigned char)(g->filled_by[b] + 1)};
        return true;
    }
    if (b < 0 || g->written[b]) return false;
    g->read_scalar[b] = true;
    *op = (cg__fuse_operand){.buffer = (signed char)b, .scalar = true, .offset = offset};
    return true;
}

/* t, plain, repeated over the leading dimensions of `out` (its own shape
 * is out's last dimensions, after ones): the period of the repeat, 0 when
 * it is not such a row. */
static size_t row_period(const cg_tensor *t, cg_shape out)
{
    if (!t->plain || t->numel == 0 || t->numel > 0xFFFFFFFFu) return 0;
    int lead = t->shape.ndim;
    while (lead > 0 && t->shape.dims[t->shape.ndim - lead] == 1) lead--;
    if (lead > out.ndim) return 0;
    for (int k = 1; k <= lead; k++)
        if (t->shape.dims[t->shape.ndim - k] != out.dims[out.ndim - k]) return 0;
    return t->numel;
}

/* t read as a row of `period` elements by every step element i (i %
 * period), from memory like a one-element operand (the same hazard). */
static bool read_row(cg__fuse_group *g, const cg_tensor *t, size_t period, cg__fuse_operand *op)
{
    int b = buffer_of(g, t->storage);
    if (b < 0 || g->written[b]) return false;
    g->read_scalar[b] = true;
    *op = (cg__fuse_operand){.buffer = (signed char)b, .period = (unsigned)period};
    return true;
}

/* An operand of a broadcasting binary node in layout l (1: the output's
 * shape, 2: one element; 0, strided: a repeated row, a bias, else it does
 * not fuse). */
static bool read_operand(cg__fuse_group *g, const cg_tensor *t, cl_int l, cl_uint offset,
                         size_t n, cg_shape out, cg__fuse_operand *op)
{
    if (l == 1) return read_same(g, t, n, op);
    if (l == 2) return read_one(g, t, offset, n, op);
    size_t period = row_period(t, out);
    return period && period < n && n % period == 0 && read_row(g, t, period, op);
}

static bool write_out(cg__fuse_group *g, const cg_tensor *t, size_t n, signed char *out)
{
    if (!t || !t->plain || t->numel != n) return false;
    int b = buffer_of(g, t->storage);
    if (b < 0 || g->read_scalar[b] || g->after_read[b] || !cover(g, b, n)) return false;
    g->written[b] = true;
    *out = (signed char)b;
    return true;
}

/* ---- after the sums: one work-item, the nodes' order: any buffer may be
 * read (a later EACH step may then not write it: it would run first) ---- */

static bool after_same(cg__fuse_group *g, const cg_tensor *t, size_t n, cg__fuse_operand *op)
{
    if (!t || !t->plain || t->numel != n) return false;
    int b = buffer_of(g, t->storage);
    if (b < 0) return false;
    g->after_read[b] = true;
    *op = (cg__fuse_operand){.buffer = (signed char)b, .scalar = false, .offset = 0};
    return true;
}

static bool after_one(cg__fuse_group *g, const cg_tensor *t, size_t offset, cg__fuse_operand *op)
{
    if (!t || offset > 0xFFFFFFFFu) return false;
    int b = buffer_of(g, t->storage);
    if (b < 0) return false;
    g->after_read[b] = true;
    *op = (cg__fuse_operand){.buffer = (signed char)b, .scalar = true, .offset = (unsigned)offset};
    return true;
}

static bool after_operand(cg__fuse_group *g, const cg_tensor *t, cl_int l, cl_uint offset,
                          size_t n, cg_shape out, cg__fuse_operand *op)
{
    (void)out; /* a repeated row is read before the sums only */
    if (l == 1) return after_same(g, t, n, op);
    if (l == 2) return after_one(g, t, offset, op);
    return false;
}

/* Storage s written after the sums (and read there: accumulations). */
static bool after_write(cg__fuse_group *g, cg__storage *s, signed char *out)
{
    int b = buffer_of(g, s);
    if (b < 0) return false;
    g->written[b] = g->after_write[b] = g->after_read[b] = true;
    *out = (signed char)b;
    return true;
}

/* ---- the kinds ---- */

/* A full sum: REDUCE over everything into out[id], or SUM_TO into one
 * element (a broadcast scalar's or a [n] -> [1] bias's gradient). */
static bool full_sum(const cg__node *node)
{
    const cg_tensor *x = node->in[0], *out = node->out;
    if (!x || !out || !x->plain || !out->plain || x->numel == 0 || x->numel > 0xFFFFFFFFu)
        return false;
    if (node->kind == CG__OP_REDUCE)
        return node->ia == 1 && node->ic == 1 && node->id < out->numel && node->id <= 0xFFFFFFFFu;
    return node->kind == CG__OP_SUM_TO && out->numel == 1 && out->shape.ndim <= x->shape.ndim;
}

/* Kinds a group may hold: what does not end the look for a sum ahead. */
static bool groupable(const cg__node *node)
{
    switch (node->kind) {
    case CG__OP_FILL:
    case CG__OP_UNARY:
    case CG__OP_UNARY_GRAD:
    case CG__OP_BINARY:
    case CG__OP_BINARY_GRAD:
    case CG__OP_AXPY:
    case CG__OP_EXPAND_ADD:
    case CG__OP_BLOCK_COPY: return true;
    default: return false;
    }
}

/* Which of node's first two inputs its formula reads (bit 0, bit 1): a
 * gradient's, what cg_*_grad_reads say; anything else, both. */
static int operand_reads(const cg__node *node)
{
    if (node->kind == CG__OP_UNARY_GRAD) return cg__unary_grad_reads(node->op);
    if (node->kind == CG__OP_BINARY_GRAD) return cg__binary_grad_reads(node->op, (int)node->ia);
    return 3;
}

/* How a step reads its operands: element i in a register before the sums
 * (read_*), from memory after them (after_*). */
typedef struct readers {
    bool (*same)(cg__fuse_group *g, const cg_tensor *t, size_t n, cg__fuse_operand *op);
    bool (*first)(cg__fuse_group *g, const cg_tensor *t, size_t n, cg__fuse_operand *op);
    bool (*operand)(cg__fuse_group *g, const cg_tensor *t, cl_int l, cl_uint offset, size_t n,
                    cg_shape out, cg__fuse_operand *op);
} readers;

/* element 0 of t, read by every element */
static bool read_first(cg__fuse_group *g, const cg_tensor *t, size_t n, cg__fuse_operand *op)
{
    return read_one(g, t, 0, n, op);
}

static bool after_first(cg__fuse_group *g, const cg_tensor *t, size_t n, cg__fuse_operand *op)
{
    (void)n;
    return after_one(g, t, 0, op);
}

static const readers each_readers = {read_same, read_first, read_operand};
static const readers after_readers = {after_same, after_first, after_operand};

/* Node's operands as step st's, n elements, read as r says: false when
 * they do not fit. Only what a formula reads is loaded (operand_reads). */
static bool fill_operands(cg_context *ctx, cg__fuse_group *g, cg__fuse_step *st, cg__node *node,
                          size_t n, const readers *r)
{
    switch (node->kind) {
    case CG__OP_FILL: return node->out->bytes == n * sizeof(float);
    case CG__OP_UNARY:
    case CG__OP_AXPY: return r->same(g, node->in[0], n, &st->in[0]);
    case CG__OP_EXPAND_ADD: /* a full reduction's backward: gx[i] += scale * gy[0] */
        return node->ia == 1 && node->ic == 1 && node->in[0] && node->in[0]->plain &&
               node->in[0]->numel == 1 && r->first(g, node->in[0], n, &st->in[0]);
    case CG__OP_UNARY_GRAD: {
        int reads = operand_reads(node);
        return (!(reads & 1) || r->same(g, node->in[0], n, &st->in[0])) &&
               (!(reads & 2) || r->same(g, node->in[1], n, &st->in[1])) &&
               r->same(g, node->in[2], n, &st->in[2]);
    }
    case CG__OP_BINARY:
    case CG__OP_BINARY_GRAD: {
        cg__bcast bc;
        if (!cg__broadcast(ctx, node->what, node->in[0], node->in[1], &bc)) return false;
        int reads = operand_reads(node);
        return cg__shape_numel(bc.out) == n &&
               (!(reads & 1) ||
                r->operand(g, node->in[0], bc.la, bc.oa, n, bc.out, &st->in[0])) &&
               (!(reads & 2) ||
                r->operand(g, node->in[1], bc.lb, bc.ob, n, bc.out, &st->in[1])) &&
               (node->kind == CG__OP_BINARY || r->same(g, node->in[2], n, &st->in[2]));
    }
    default: return false;
    }
}

/* Node's operands and output as the group's step k: false when they do not
 * fit (the group's buffers may then be changed: add_step restores them). */
static bool fill_step(cg_context *ctx, cg__fuse_group *g, cg__fuse_step *st, cg__node *node)
{
    memset(st, 0, sizeof *st);
    for (int k = 0; k < 3; k++) st->in[k].buffer = -1;
    st->node = node;
    const cg_tensor *out = node->out;
    if (!out || out->numel == 0 || out->numel > 0xFFFFFFFFu) return false;
    const size_t n = st->n = out->numel;
    return fill_operands(ctx, g, st, node, n, &each_readers) && write_out(g, out, n, &st->out);
}

/* Node as a step after the sums (phase AFTER): the kinds of fill_step over
 * at most CG__FUSE_AFTER_MAX elements, operands read from memory, and small
 * block copies. */
static bool fill_after(cg_context *ctx, cg__fuse_group *g, cg__fuse_step *st, cg__node *node)
{
    memset(st, 0, sizeof *st);
    for (int k = 0; k < 3; k++) st->in[k].buffer = -1;
    st->node = node;
    st->phase = CG__FUSE_AFTER;
    const cg_tensor *out = node->out;
    if (!out) return false;
    if (node->kind == CG__OP_BLOCK_COPY) { /* offsets and strides: the node's own */
        size_t count = node->ie * node->ig;
        if (!node->in[0] || count == 0 || count > CG__FUSE_AFTER_MAX || node->ie > 0xFFFFFFFFu ||
            node->ig > 0xFFFFFFFFu)
            return false;
        size_t span_in = node->ia + (node->ie - 1) * node->ib + node->ig;
        size_t span_out = node->ic + (node->ie - 1) * node->id + node->ig;
        if (span_in > 0xFFFFFFFFu || span_out > 0xFFFFFFFFu) return false;
        st->n = count;
        return after_one(g, node->in[0], node->ia, &st->in[0]) &&
               after_write(g, out->storage, &st->out);
    }
    const size_t n = st->n = out->numel;
    if (n == 0 || n > CG__FUSE_AFTER_MAX || !out->plain) return false;
    return fill_operands(ctx, g, st, node, n, &after_readers) &&
           after_write(g, out->storage, &st->out);
}

/* A full sum of the group's n elements as its next step: its input read at
 * element i, its target written after the pass. */
static bool fill_sum(cg__fuse_group *g, cg__fuse_step *st, cg__node *node, size_t n)
{
    memset(st, 0, sizeof *st);
    for (int k = 0; k < 3; k++) st->in[k].buffer = -1;
    st->node = node;
    st->phase = CG__FUSE_SUM;
    st->n = n;
    return g->sums < CG__FUSE_MAX_SUMS && full_sum(node) && node->in[0]->numel == n &&
           read_same(g, node->in[0], n, &st->in[0]) &&
           after_write(g, node->out->storage, &st->out);
}

/* What a step that does not fit must leave as it was: the buffers it may
 * have added and their flags (its slot in step[] is not counted). */
typedef struct buffers_state {
    int nbuffers;
    bool written[CG__FUSE_MAX_BUFFERS], read_scalar[CG__FUSE_MAX_BUFFERS];
    bool after_write[CG__FUSE_MAX_BUFFERS], after_read[CG__FUSE_MAX_BUFFERS];
    size_t bsize[CG__FUSE_MAX_BUFFERS];
    signed char filled_by[CG__FUSE_MAX_BUFFERS];
} buffers_state;

static void save_buffers(const cg__fuse_group *g, buffers_state *b)
{
    int n = g->nbuffers;
    b->nbuffers = n;
    memcpy(b->written, g->written, (size_t)n * sizeof *b->written);
    memcpy(b->read_scalar, g->read_scalar, (size_t)n * sizeof *b->read_scalar);
    memcpy(b->after_write, g->after_write, (size_t)n * sizeof *b->after_write);
    memcpy(b->after_read, g->after_read, (size_t)n * sizeof *b->after_read);
    memcpy(b->bsize, g->bsize, (size_t)n * sizeof *b->bsize);
    memcpy(b->filled_by, g->filled_by, (size_t)n * sizeof *b->filled_by);
}

static void restore_buffers(cg__fuse_group *g, const buffers_state *b)
{
    int n = b->nbuffers;
    g->nbuffers = n;
    memcpy(g->written, b->written, (size_t)n * sizeof *b->written);
    memcpy(g->read_scalar, b->read_scalar, (size_t)n * sizeof *b->read_scalar);
    memcpy(g->after_write, b->after_write, (size_t)n * sizeof *b->after_write);
    memcpy(g->after_read, b->after_read, (size_t)n * sizeof *b->after_read);
    memcpy(g->bsize, b->bsize, (size_t)n * sizeof *b->bsize);
    memcpy(g->filled_by, b->filled_by, (size_t)n * sizeof *b->filled_by);
}

/* Node as a step of a group planned around sums of sum_n elements. */
static bool fill_around_sums(cg_context *ctx, cg__fuse_group *g, cg__fuse_step *st,
                             cg__node *node, size_t sum_n)
{
    if (node->kind == CG__OP_REDUCE || node->kind == CG__OP_SUM_TO)
        return fill_sum(g, st, node, sum_n);
    if (node->kind != CG__OP_BLOCK_COPY && node->out && node->out->numel == sum_n)
        return fill_step(ctx, g, st, node);
    return fill_after(ctx, g, st, node);
}

/* The bytes of step st's arguments (cl_fuse.c's step_params), at most. */
static size_t step_arg_bytes(const cg__fuse_step *st)
{
    if (st->node->kind == CG__OP_BLOCK_COPY) return 6 * sizeof(cl_uint);
    if (st->phase == CG__FUSE_SUM) return sizeof(float) + sizeof(cl_uint);
    size_t b = sizeof(float) + (st->phase == CG__FUSE_AFTER ? sizeof(cl_uint) : 0);
    for (int j = 0; j < 3; j++) {
        const cg__fuse_operand *o = &st->in[j];
        b += o->buffer >= 0 && ((o->scalar && !o->fill) || o->period) ? sizeof(cl_uint) : 0;
    }
    return b;
}

/* Whether g's arguments with st's stay within what every device takes: a
 * pointer and a size per buffer, the steps', the launch's few. */
static bool args_fit(const cg__fuse_group *g, const cg__fuse_step *st)
{
    size_t bytes = (size_t)g->nbuffers * (8 + sizeof(cl_uint)) + g->arg_bytes +
                   step_arg_bytes(st) + 64;
    return bytes <= CG__FUSE_ARG_BYTES;
}

/* Which fill last wrote the buffer step st writes (g->steps is its index):
 * a one-element read of it may then take the fill's value (read_one). */
static void note_fill(cg__fuse_group *g, const cg__fuse_step *st)
{
    /* after the sums too: its value is known whatever runs when */
    bool fill = st->node->kind == CG__OP_FILL && st->phase != CG__FUSE_SUM;
    g->filled_by[(int)st->out] = fill ? (signed char)g->steps : -1;
}

/* Adds node to the group as its next step; false, the group as it was,
 * when it does not fit. sum_n: the sums' size, 0 in a group without. */
static bool add_step(cg_context *ctx, cg__fuse_group *g, cg__node *node, size_t sum_n)
{
    if (g->steps == CG__FUSE_MAX_STEPS || node->many) return false;
    buffers_state before;
    save_buffers(g, &before);
    cg__fuse_step *st = &g->step[g->steps];
    if (sum_n) {
        if (!fill_around_sums(ctx, g, st, node, sum_n) || !args_fit(g, st)) {
            restore_buffers(g, &before);
            return false;
        }
        g->arg_bytes += step_arg_bytes(st);
        g->n = sum_n;
        g->sums += st->phase == CG__FUSE_SUM;
        note_fill(g, st);
        g->steps++;
        return true;
    }
    /* Steps of several sizes only in a small launch: the guard around a
     * short step stops PoCL vectorizing the whole kernel (a 10^7-element
     * group ran 4x slower), which costs more than the launch it saves
     * (~2 us, a few thousand elements' worth). */
    bool fits = fill_step(ctx, g, st, node);
    size_t n = fits && st->n > g->n ? st->n : g->n;
    bool mixed = g->mixed || (fits && g->steps && st->n != g->step[0].n);
    if (!fits || (mixed && n > CG__FUSE_MIXED_MAX) || !args_fit(g, st)) {
        restore_buffers(g, &before);
        return false;
    }
    g->arg_bytes += step_arg_bytes(st);
    g->n = n;
    g->mixed = mixed;
    note_fill(g, st);
    g->steps++;
    return true;
}

/* The elements of the first full sum a group from nodes[0] could reach
 * (only groupable kinds before it); 0 when there is none. */
static size_t sum_ahead(const cg__node *nodes, size_t avail)
{
    size_t look = avail < 2 * CG__FUSE_MAX_STEPS ? avail : 2 * CG__FUSE_MAX_STEPS;
    for (size_t k = 0; k < look; k++) {
        const cg__node *node = &nodes[k];
        if (node->done) continue;
        if (node->kind == CG__OP_REDUCE || node->kind == CG__OP_SUM_TO)
            return full_sum(node) ? node->in[0]->numel : 0;
        if (!groupable(node)) return 0;
    }
    return 0;
}

/* The group from nodes[0] (sum_n: around sums of that size). */
static void plan(cg_context *ctx, cg__node *nodes, size_t avail, size_t sum_n, cg__fuse_group *g)
{
    memset(g, 0, offsetof(cg__fuse_group, step));
    g->nbuffers = 0;
    size_t span = 0;
    for (size_t k = 0; k < avail; k++) {
        cg__node *node = &nodes[k];
        if (node->done) { /* a view: nothing to run, nothing in the way */
            continue;
        }
        if (!add_step(ctx, g, node, sum_n)) break;
        span = k + 1;
    }
    g->span = span;
}

/* References to t that nodes[0..span) hold and let go of once they have run
 * (a node a backward may walk keeps its own). */
static unsigned long refs_let_go(const cg__node *nodes, size_t span, const cg_tensor *t)
{
    unsigned long r = 0;
    for (size_t k = 0; k < span; k++) {
        const cg__node *node = &nodes[k];
        if (node->backward) continue;
        r += node->out == t;
        for (int j = 0; j < CG__NODE_INPUTS; j++) r += node->in[j] == t;
        for (size_t j = 0; j < node->nmany; j++) r += node->many[j] == t;
    }
    return r;
}

/* Marks the buffers only EACH steps write whose one tensor dies with the
 * group: whatever holds a reference to it (the user, the tape, a gradient's
 * owner, a later node) is one of the group's nodes. */
static void mark_dead(cg__fuse_group *g, const cg__node *nodes)
{
    for (size_t k = 0; k < g->steps; k++) {
        const cg__fuse_step *st = &g->step[k];
        int b = st->out;
        if (st->phase != CG__FUSE_EACH || g->dead[b] || g->after_write[b] || g->after_read[b])
            continue;
        const cg_tensor *t = st->node->out;
        const cg__storage *s = g->buffer[b];
        g->dead[b] = !s->borrowed && s->refs == 1 && !t->user_ref && !t->tape_owned &&
                     t->refs == refs_let_go(nodes, g->span, t);
    }
}

bool cg__fuse_plan(cg_context *ctx, cg__node *nodes, size_t avail, cg__fuse_group *g)
{
    if (!avail || nodes[0].done || !nodes[0].out) return false;
    size_t sum_n = sum_ahead(nodes, avail);
    if (sum_n) {
        plan(ctx, nodes, avail, sum_n, g);
        if (g->sums && g->steps >= 2) {
            mark_dead(g, nodes);
            return true;
        }
    }
    plan(ctx, nodes, avail, 0, g);
    if (g->steps < 2) return false;
    mark_dead(g, nodes);
    return true;
}
