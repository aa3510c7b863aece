/* Autograd over the graph (graph.c): an op whose input requires grad makes
 * its node differentiable; cg_backward realizes the forward, walks those
 * nodes in reverse, and each node's rule records gradient nodes that add into
 * its inputs' grads, realized at the end. Leaves keep their grad across
 * backward calls (accumulation); intermediate grads live for one backward. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "optim_internal.h"
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
    cg__node *node = cg__emit(ctx, CG__OP_DONE, "clgrad", out, a, b, NULL);
    cg__differentiable(ctx, node, backward);
    return node;
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
    return true;
}

void cg_tape_own(cg_tensor *t)
{
    if (!t || !t->user_ref || t->ctx->status) return;
    if (!cg__tape_own(t->ctx, t)) {
        cg__fail(t->ctx, CG_ERROR_NO_MEMORY, "cg_tape_own: out of memory");
        return;
    }
    t->user_ref = false;
    t->tape_owned = true;
}

cg_tensor *cg_scalar(cg_context *ctx, float value)
{
    if (!ctx) return NULL;
    cg_tensor *t = cg_tensor_full(ctx, CG_SHAPE(1), value);
    cg_tape_own(t);
    return ctx->status ? NULL : t;
}

/* Gradients are plain: the whole storage from its start. */
static cg_status fill(cg_tensor *t, float value)
{
    cg_context *ctx = t->ctx;
    return ctx->backend->fill(ctx, t->storage, 0, t->bytes, value, "cg_backward");
}

/* A new gradient's zeros, as a node: they are written in the order the
 * backward needs them, next to the kernels that read them, rather than all
 * up front (a 40 MB gradient is still in cache when its first reader runs). */
static cg_status zero_node(cg_tensor *g)
{
    cg_context *ctx = g->ctx;
    cg__node *n = cg__emit(ctx, CG__OP_FILL, "cg_backward", g, NULL, NULL, NULL);
    if (!n) return ctx->status;
    n->scalar = 0.0f;
    return CG_OK;
}

cg_tensor *cg__grad(cg_tensor *t)
{
    if (!t || !t->requires_grad) return NULL;
    if (!t->grad && (t->grad_home || t->grad_home_host)) {
        /* An optimizer keeps this parameter's gradient in its arena. */
        cg_tensor *g = t->ctx->backend->optim->grad_home(t->ctx, t, "cg_backward");
        if (!g) return NULL;
        t->grad = g;
        if (zero_node(g) != CG_OK) {
            cg__tensor_release(g);
            t->grad = NULL;
        }
    }
    if (!t->grad) {
        t->grad = cg__tensor_new(t->ctx, t->shape, false, "cg_backward");
        if (t->grad && zero_node(t->grad) != CG_OK) {
            cg__tensor_release(t->grad);
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
    if (cg__realize(t->ctx)) return t->ctx->status;
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
        if (out && ctx->tape.nodes[i].backward && out->grad) {
            cg__tensor_release(out->grad);
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
    cg__node *seed_node;
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
    else if ((seed_node = cg__emit(ctx, CG__OP_FILL, "cg_backward", g, NULL, NULL, NULL)))
        seed_node->scalar = 1.0f; /* after g's zeros, recorded before it */
    /* The forward first: backward rules read its values. */
    if (cg__realize(ctx)) return ctx->status;
    for (long i = out->node; i >= 0 && !ctx->status; i--) {
        cg__node *node = &ctx->tape.nodes[i]; /* rules append nodes: the array may move */
        if (!node->backward || !node->out->grad) continue; /* not on a path from out */
        if (node->consumed) {
            cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                     "%s: part of this graph was already used by a backward that did not "
                     "retain it",
                     fn);
            break;
        }
        /* The rule appends nodes, which may move the array: it gets a copy. */
        cg__node copy = *node;
        copy.backward(ctx, &copy);
        if (!retain_graph) ctx->tape.nodes[i].consumed = true;
    }
    /* The intermediate gradients are let go of before the gradient nodes
     * run (which hold their own references): a fused group then need not
     * store what only it reads (fuse.c). */
    drop_intermediate_grads(ctx, out->node);
    cg__realize(ctx); /* the gradient nodes */
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
    cg__graph_release_nodes(ctx);
    for (size_t i = 0; i < tape->nowned; i++) {
        cg_tensor *t = tape->owned[i];
        t->node = -1; /* its node is gone: a tensor still referenced is a leaf now */
        cg__tensor_release(t);
    }
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
    if (c) c->user_ref = true;
    cg__layout sl = cg__layout_of(t), dl;
    cg__layout_contiguous(&dl, t->shape);
    if (c && cg__strided_copy(t->ctx, (cg_tensor *)t, &sl, c, &dl, false, "cg_detach")) {
        cg__tensor_release(c);
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
