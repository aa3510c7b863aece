/* Fusion's plan: which consecutive nodes of the graph run as one kernel.
 *
 * A group is a run of element-wise nodes, each computing its n elements,
 * element i from element i of its inputs or from one element read by all
 * (nodes of different sizes may share a group: a step of n elements runs
 * where i < n): unary ops and their gradients, broadcasting binary
 * ops whose operands are each the output's shape or one element (and their
 * gradients), axpy, fills, and a full sum's backward (every element plus
 * one scaled element). The backend runs a group as one kernel in
 * which element i of each node's output goes from the node that makes it to
 * the nodes that read it in a register (backend/cl_fuse.c); every output is
 * still written, since anything may read it later. The formulas and their
 * order are the nodes' own, so a group's results are the nodes' bit for bit.
 *
 * What ends a group: a node of another kind, a buffer accessed element by
 * element at two sizes, an operand read through strides (a row repeated
 * over the leading dimensions, a bias, is read at i % its length), and one
 * hazard: an element read by every work-item from a buffer the group
 * writes (work-item j could write it before work-item i reads it), unless
 * a fill of the group wrote it: then the read is the fill's value, with no
 * load. A gradient's formula loads only the inputs it reads
 * (cg_*_grad_reads, formulas.clh). Nodes with nothing to run (views)
 * inside a run join it. */
#include <string.h>

#include "internal.h"

/* The group's index for storage s, added if new; -1 when full. */
static int buffer_of(cg__fuse_group *g, cg__storage *s)
{
    for (int b = 0; b < g->nbuffers; b++)
        if (g->buffer[b] == s) return b;
    if (g->nbuffers == CG__FUSE_MAX_BUFFERS) return -1;
    g->buffer[g->nbuffers] = s;
    g->written[g->nbuffers] = g->read_scalar[g->nbuffers] = false;
    g->bsize[g->nbuffers] = 0;
    g->filled_by[g->nbuffers] = -1;
    return g->nbuffers++;
}

/* Buffer b accessed at element i by a step of n elements: every such access
 * of one buffer covers the same n (a register holds element i of it only
 * where i < n). */
static bool cover(cg__fuse_group *g, int b, size_t n)
{
    if (b < 0 || (g->bsize[b] && g->bsize[b] != n)) return false;
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
        /* every element of it is what a fill in the group put there (a
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
    while (lead > 0 && t->shape.dims[0 + (t->shape.ndim - lead)] == 1) lead--;
    /* t's dimensions after its leading ones match out's last ones */
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
 * shape, 2: one element; 0, strided: a repeated row, else it does not
 * fuse). */
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
    if (b < 0 || g->read_scalar[b] || !cover(g, b, n)) return false;
    g->written[b] = true;
    *out = (signed char)b;
    return true;
}

/* What a step that does not fit must leave as it was: the buffers it may
 * have added and their flags (its slot in step[] is not counted). */
typedef struct buffers_state {
    int nbuffers;
    bool written[CG__FUSE_MAX_BUFFERS], read_scalar[CG__FUSE_MAX_BUFFERS];
    size_t bsize[CG__FUSE_MAX_BUFFERS];
    signed char filled_by[CG__FUSE_MAX_BUFFERS];
} buffers_state;

static void save_buffers(const cg__fuse_group *g, buffers_state *b)
{
    b->nbuffers = g->nbuffers;
    memcpy(b->written, g->written, sizeof b->written);
    memcpy(b->read_scalar, g->read_scalar, sizeof b->read_scalar);
    memcpy(b->bsize, g->bsize, sizeof b->bsize);
    memcpy(b->filled_by, g->filled_by, sizeof b->filled_by);
}

static void restore_buffers(cg__fuse_group *g, const buffers_state *b)
{
    g->nbuffers = b->nbuffers;
    memcpy(g->written, b->written, sizeof b->written);
    memcpy(g->read_scalar, b->read_scalar, sizeof b->read_scalar);
    memcpy(g->bsize, b->bsize, sizeof b->bsize);
    memcpy(g->filled_by, b->filled_by, sizeof b->filled_by);
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
    bool ok;
    switch (node->kind) {
    case CG__OP_FILL: ok = out->bytes == n * sizeof(float); break;
    case CG__OP_UNARY: ok = read_same(g, node->in[0], n, &st->in[0]); break;
    case CG__OP_AXPY: ok = read_same(g, node->in[0], n, &st->in[0]); break;
    case CG__OP_EXPAND_ADD: /* a full reduction's backward: gx[i] += scale * gy[0] */
        ok = node->ia == 1 && node->ic == 1 && node->in[0] && node->in[0]->plain &&
             node->in[0]->numel == 1 && read_one(g, node->in[0], 0, n, &st->in[0]);
        break;
    case CG__OP_UNARY_GRAD: { /* only what the formula reads is loaded */
        int reads = cg__unary_grad_reads(node->op);
        ok = (!(reads & 1) || read_same(g, node->in[0], n, &st->in[0])) &&
             (!(reads & 2) || read_same(g, node->in[1], n, &st->in[1])) &&
             read_same(g, node->in[2], n, &st->in[2]);
        break;
    }
    case CG__OP_BINARY:
    case CG__OP_BINARY_GRAD: {
        cg__bcast bc;
        if (!cg__broadcast(ctx, node->what, node->in[0], node->in[1], &bc)) return false;
        int reads = node->kind == CG__OP_BINARY ? 3 : cg__binary_grad_reads(node->op, (int)node->ia);
        ok = cg__shape_numel(bc.out) == n &&
             (!(reads & 1) ||
              read_operand(g, node->in[0], bc.la, bc.oa, n, bc.out, &st->in[0])) &&
             (!(reads & 2) ||
              read_operand(g, node->in[1], bc.lb, bc.ob, n, bc.out, &st->in[1])) &&
             (node->kind == CG__OP_BINARY || read_same(g, node->in[2], n, &st->in[2]));
        break;
    }
    default: return false;
    }
    return ok && write_out(g, out, n, &st->out);
}

/* Adds node to the group as its next step; false, the group as it was,
 * when it does not fit. */
static bool add_step(cg_context *ctx, cg__fuse_group *g, cg__node *node)
{
    if (g->steps == CG__FUSE_MAX_STEPS || node->many) return false;
    buffers_state before;
    save_buffers(g, &before);
    cg__fuse_step *st = &g->step[g->steps];
    /* Steps of several sizes only in a small launch: the guard around a
     * short step stops PoCL vectorizing the whole kernel (a 10^7-element
     * group ran 4x slower), which costs more than the launch it saves
     * (~2 us, a few thousand elements' worth). */
    bool fits = fill_step(ctx, g, st, node);
    size_t n = fits && st->n > g->n ? st->n : g->n;
    bool mixed = g->mixed || (fits && g->steps && st->n != g->step[0].n);
    if (!fits || (mixed && n > CG__FUSE_MIXED_MAX)) {
        restore_buffers(g, &before);
        return false;
    }
    g->n = n;
    g->mixed = mixed;
    g->filled_by[(int)st->out] = node->kind == CG__OP_FILL ? (signed char)g->steps : -1;
    g->steps++;
    return true;
}

bool cg__fuse_plan(cg_context *ctx, cg__node *nodes, size_t avail, cg__fuse_group *g)
{
    if (!avail || nodes[0].done || !nodes[0].out) return false;
    memset(g, 0, offsetof(cg__fuse_group, step));
    g->nbuffers = 0;
    memset(g->skip_store, 0, sizeof g->skip_store);
    size_t span = 0;
    for (size_t k = 0; k < avail; k++) {
        cg__node *node = &nodes[k];
        if (node->done) { /* a view: nothing to run, nothing in the way */
            continue;
        }
        if (!add_step(ctx, g, node)) break;
        span = k + 1;
    }
    g->span = span;
    return g->steps >= 2;
}
