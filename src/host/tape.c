/* The tape: ops append nodes (what made each tensor, what backward needs),
 * cg_backward walks them in reverse and each node's rule adds gradients into
 * its inputs'. Leaves keep their grad across backward calls (accumulation);
 * intermediate grads live for one backward. micrograd's engine in C. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "../kernels/ops.clh"

cg_context *cg__op_context(const char *what, cg_tensor *const *ts, size_t n)
{
    cg_context *ctx = NULL;
    for (size_t i = 0; i < n && !ctx; i++)
        if (ts[i]) ctx = ts[i]->ctx;
    if (!ctx) return NULL;
    if (ctx->status) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (!ts[i]) {
            cg__fail(ctx, CG_ERROR_NULL_POINTER, "%s: argument %zu is NULL", what, i + 1);
            return NULL;
        }
        if (ts[i]->ctx != ctx) {
            cg__fail(ctx, CG_ERROR_CONTEXT_MISMATCH,
                     "%s: argument %zu belongs to another context than argument 1", what, i + 1);
            return NULL;
        }
    }
    return ctx;
}

cg_tensor *cg__op_output(cg_context *ctx, cg_shape shape, cg_tensor *const *inputs, size_t n,
                         const char *what)
{
    cg_tensor *t = cg__tensor_new(ctx, shape, true, what);
    if (!t) return NULL;
    if (ctx->tape.no_grad == 0)
        for (size_t i = 0; i < n; i++)
            if (inputs[i] && inputs[i]->requires_grad) t->requires_grad = true;
    return t;
}

cg__node *cg__record(cg_context *ctx, cg_tensor *out, cg__backward_fn backward, cg_tensor *a,
                     cg_tensor *b)
{
    if (!out || !out->requires_grad) return NULL;
    cg__tape *tape = &ctx->tape;
    if (tape->count == tape->capacity) {
        size_t cap = tape->capacity ? 2 * tape->capacity : 64;
        cg__node *nodes = cg__realloc(tape->nodes, cap * sizeof *nodes);
        if (!nodes) {
            cg__fail(ctx, CG_ERROR_NO_MEMORY, "clgrad: out of memory recording an op");
            return NULL;
        }
        tape->nodes = nodes;
        tape->capacity = cap;
    }
    cg__node *node = &tape->nodes[tape->count];
    memset(node, 0, sizeof *node);
    node->backward = backward;
    node->out = out;
    node->in[0] = a;
    node->in[1] = b;
    cg__tape_uses(ctx, a);
    cg__tape_uses(ctx, b);
    out->node = (long)tape->count++;
    return node;
}

void cg__tape_uses(cg_context *ctx, cg_tensor *t)
{
    if (t) t->tape_gen = ctx->tape.generation + 1;
}

bool cg__tape_own(cg_context *ctx, cg_tensor *t)
{
    cg__tape *tape = &ctx->tape;
    if (tape->nowned == tape->owned_capacity) {
        size_t cap = tape->owned_capacity ? 2 * tape->owned_capacity : 64;
        cg_tensor **owned = cg__realloc(tape->owned, cap * sizeof *owned);
        if (!owned) return false;
        tape->owned = owned;
        tape->owned_capacity = cap;
    }
    tape->owned[tape->nowned++] = t;
    t->tape_owned = true;
    return true;
}

bool cg__tape_adopt(cg_tensor *t)
{
    cg_context *ctx = t->ctx;
    cg__tape *tape = &ctx->tape;
    if (tape->count == 0 || t->tape_gen != tape->generation + 1) return false;
    /* Out of memory: a leak until the context goes beats a use after free. */
    if (!cg__tape_own(ctx, t)) cg__fail(ctx, CG_ERROR_NO_MEMORY, "cg_tensor_free: out of memory");
    return true;
}

static cg_status fill(cg_tensor *t, float value)
{
    cg_context *ctx = t->ctx;
    if (ctx->is_ref) {
        for (size_t i = 0; i < t->numel; i++) t->host[i] = value;
        return CG_OK;
    }
    cl_int err = cg__clEnqueueFillBuffer(ctx->queue, t->mem, &value, sizeof value, 0, t->bytes, 0,
                                         NULL, NULL);
    return err == CL_SUCCESS ? CG_OK : cg__cl_fail(ctx, err, "clgrad: clEnqueueFillBuffer");
}

cg_tensor *cg__grad(cg_tensor *t)
{
    if (!t || !t->requires_grad) return NULL;
    if (!t->grad && (t->grad_home || t->grad_home_host)) {
        /* An optimizer keeps this parameter's gradient in its arena. */
        cg_tensor *g = cg__calloc(1, sizeof *g);
        if (!g) {
            cg__fail(t->ctx, CG_ERROR_NO_MEMORY, "cg_backward: out of memory");
            return NULL;
        }
        *g = (cg_tensor){.ctx = t->ctx, .shape = t->shape, .numel = t->numel,
                         .bytes = t->bytes, .node = -1, .borrowed = true};
        if (t->grad_home) {
            cg__clRetainMemObject(t->grad_home);
            g->mem = t->grad_home;
        } else {
            g->host = t->grad_home_host;
        }
        t->grad = g;
        if (fill(g, 0.0f) != CG_OK) {
            cg__tensor_destroy(g);
            t->grad = NULL;
        }
    }
    if (!t->grad) {
        t->grad = cg__tensor_new(t->ctx, t->shape, false, "cg_backward");
        if (t->grad && fill(t->grad, 0.0f) != CG_OK) {
            cg__tensor_destroy(t->grad);
            t->grad = NULL;
        }
    }
    return t->grad;
}

cg_status cg_set_requires_grad(cg_tensor *t, bool requires_grad)
{
    if (!t) return CG_ERROR_NULL_POINTER;
    if (t->ctx->status) return t->ctx->status;
    if (t->node >= 0)
        return cg__fail(t->ctx, CG_ERROR_INVALID_ARGUMENT,
                        "cg_set_requires_grad: only leaves (tensors you created) can change "
                        "requires_grad; detach an op's output first");
    t->requires_grad = requires_grad;
    return CG_OK;
}

bool cg_requires_grad(const cg_tensor *t) { return t && t->requires_grad; }

cg_tensor *cg_grad(const cg_tensor *t) { return t ? t->grad : NULL; }

cg_status cg_zero_grad_of(cg_tensor *t)
{
    if (!t) return CG_ERROR_NULL_POINTER;
    if (t->ctx->status) return t->ctx->status;
    if (t->sparse) { /* a sparse gradient has no zeros to keep: it goes */
        cg__sparse_free(t->sparse);
        t->sparse = NULL;
    }
    return t->grad ? fill(t->grad, 0.0f) : CG_OK;
}

/* Intermediate gradients live for one backward only. */
static void drop_intermediate_grads(cg_context *ctx, long last)
{
    for (long i = 0; i <= last; i++) {
        cg_tensor *out = ctx->tape.nodes[i].out;
        if (out->grad) {
            cg__tensor_destroy(out->grad);
            out->grad = NULL;
        }
    }
}

cg_status cg_backward_ex(cg_tensor *out, const cg_tensor *seed, bool retain_graph)
{
    static const char fn[] = "cg_backward";
    if (!out)
        return seed ? cg__fail(seed->ctx, CG_ERROR_NULL_POINTER, "%s: the output is NULL", fn)
                    : CG_ERROR_NULL_POINTER;
    cg_context *ctx = out->ctx;
    if (ctx->status) return ctx->status;
    char shape[64];
    cg__shape_format(out->shape, shape, sizeof shape);
    if (!out->requires_grad)
        return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                        "%s: the tensor %s does not require grad (no input of the ops that "
                        "made it requires grad, or it was made under no_grad)",
                        fn, shape);
    if (seed) {
        if (seed->ctx != ctx)
            return cg__fail(ctx, CG_ERROR_CONTEXT_MISMATCH,
                            "%s: the seed belongs to another context", fn);
        if (!cg__shape_equal(seed->shape, out->shape)) {
            char sshape[64];
            cg__shape_format(seed->shape, sshape, sizeof sshape);
            return cg__fail(ctx, CG_ERROR_SHAPE_MISMATCH,
                            "%s: the seed's shape %s differs from the output's %s", fn, sshape,
                            shape);
        }
    } else if (out->numel != 1) {
        return cg__fail(ctx, CG_ERROR_SHAPE_MISMATCH,
                        "%s: the output has shape %s; backward without a seed needs a "
                        "one-element tensor (use cg_backward_ex with a seed of that shape)",
                        fn, shape);
    }
    cg_tensor *g = cg__grad(out);
    if (!g) return ctx->status;
    if (out->node < 0) /* a leaf: its own gradient is the seed */
        return seed ? cg__accumulate(ctx, seed, g) : cg__unary_into(ctx, CG_U_ADD_S, g, g, 1.0f);

    cg__node *nodes = ctx->tape.nodes;
    if (nodes[out->node].consumed) {
        drop_intermediate_grads(ctx, out->node);
        return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                        "%s: this graph was already used by a backward that did not retain "
                        "it; pass retain_graph to the first backward, or rebuild the graph",
                        fn);
    }
    if (seed)
        cg__accumulate(ctx, seed, g);
    else
        fill(g, 1.0f);
    for (long i = out->node; i >= 0 && !ctx->status; i--) {
        cg__node *node = &nodes[i];
        if (!node->out->grad) continue; /* not on a path from out */
        if (node->consumed) {
            cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                     "%s: part of this graph was already used by a backward that did not "
                     "retain it",
                     fn);
            break;
        }
        node->backward(ctx, node);
        if (!retain_graph) node->consumed = true;
    }
    drop_intermediate_grads(ctx, out->node);
    return ctx->status;
}

cg_status cg_backward(cg_tensor *loss) { return cg_backward_ex(loss, NULL, false); }

void cg_no_grad_begin(cg_context *ctx)
{
    if (ctx) ctx->tape.no_grad++;
}

void cg_no_grad_end(cg_context *ctx)
{
    if (ctx && ctx->tape.no_grad > 0) ctx->tape.no_grad--;
}

void cg_tape_reset(cg_context *ctx)
{
    if (!ctx) return;
    cg__tape *tape = &ctx->tape;
    for (size_t i = 0; i < tape->count; i++) {
        free(tape->nodes[i].many);
        free(tape->nodes[i].rows);
    }
    tape->count = 0;
    tape->generation++;
    for (size_t i = 0; i < tape->nowned; i++) cg__tensor_destroy(tape->owned[i]);
    tape->nowned = 0;
}

void cg__tape_release(cg_context *ctx)
{
    cg_tape_reset(ctx);
    free(ctx->tape.nodes);
    free(ctx->tape.owned);
    memset(&ctx->tape, 0, sizeof ctx->tape);
}

cg_tensor *cg_detach(const cg_tensor *t)
{
    if (!t || t->ctx->status) return NULL;
    cg_tensor *c = cg__tensor_new(t->ctx, t->shape, false, "cg_detach");
    if (c && cg__block_copy(t->ctx, t, 0, 0, c, 0, 0, 1, t->numel, false) != CG_OK) {
        cg__tensor_destroy(c);
        return NULL;
    }
    return c;
}

float cg_item(const cg_tensor *t)
{
    if (!t || t->ctx->status) return NAN;
    if (t->numel != 1) {
        char shape[64];
        cg__shape_format(t->shape, shape, sizeof shape);
        cg__fail(t->ctx, CG_ERROR_SHAPE_MISMATCH,
                 "cg_item: the tensor has shape %s; item needs exactly one element", shape);
        return NAN;
    }
    float v;
    return cg_tensor_read(t, &v, 1) == CG_OK ? v : NAN;
}
