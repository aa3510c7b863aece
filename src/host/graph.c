/* The graph: every op appends a node (what to compute, its parameters, its
 * inputs and output, held by reference) and the backend executes nodes in
 * the order they were recorded, when a result is needed (realization), or at
 * once in eager mode. Backward rules append gradient nodes the same way, so
 * a backward is a transformation of the graph (tape.c).
 *
 * A node's references to its inputs last while something may still need
 * them: until it has run, and, for a node autograd may walk, until
 * cg_tape_reset. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

cg__node *cg__emit(cg_context *ctx, cg__op kind, const char *what, cg_tensor *out, cg_tensor *a,
                   cg_tensor *b, cg_tensor *c)
{
    if (ctx->status) return NULL;
    cg__tape *tape = &ctx->tape;
    /* A node's execution records nothing: the realizing loop holds a
     * pointer into the array and runs nodes in order. */
    if (tape->realizing) {
        cg__fail(ctx, CG_ERROR_UNSUPPORTED, "%s: recorded while the graph runs (a bug)", what);
        return NULL;
    }
    if (tape->count == tape->capacity) {
        size_t cap = tape->capacity ? 2 * tape->capacity : 64;
        cg__node *nodes = cg__realloc(tape->nodes, cap * sizeof *nodes);
        if (!nodes) {
            cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory recording the op", what);
            return NULL;
        }
        tape->nodes = nodes;
        tape->capacity = cap;
    }
    cg__node *node = &tape->nodes[tape->count++];
    memset(node, 0, offsetof(cg__node, la));
    node->kind = kind;
    node->what = what;
    node->out = cg__tensor_retain(out);
    node->in[0] = cg__tensor_retain(a);
    node->in[1] = cg__tensor_retain(b);
    node->in[2] = cg__tensor_retain(c);
    node->done = kind == CG__OP_VIEW || kind == CG__OP_DONE;
    ctx->stats.graph_nodes++;
    return node;
}

void cg__differentiable(cg_context *ctx, cg__node *node, cg__backward_fn rule)
{
    if (!node || !node->out || !node->out->requires_grad) return;
    node->backward = rule;
    node->out->node = (long)(node - ctx->tape.nodes);
    ctx->tape.differentiable++;
}

/* What a node that has run and that no backward will walk no longer needs. */
static void settle(cg__node *node)
{
    if (!node->done || node->backward) return;
    for (int k = 0; k < CG__NODE_INPUTS; k++) {
        cg__tensor_release(node->in[k]);
        node->in[k] = NULL;
    }
    for (size_t k = 0; k < node->nmany; k++) cg__tensor_release(node->many[k]);
    free(node->many);
    node->many = NULL;
    node->nmany = 0;
    cg__tensor_release(node->out);
    node->out = NULL;
}

/* A failure while running a node is reported by whichever call realized the
 * graph: the message names the op that recorded the node. */
static void name_the_op(cg_context *ctx, const char *what)
{
    size_t len = strlen(what);
    if (strncmp(ctx->message, what, len) == 0 && ctx->message[len] == ':') return;
    size_t cap = sizeof ctx->message, plen = len + 2, mlen = strlen(ctx->message);
    if (plen >= cap) return;
    if (plen + mlen >= cap) mlen = cap - plen - 1;
    memmove(ctx->message + plen, ctx->message, mlen);
    ctx->message[plen + mlen] = '\0';
    memcpy(ctx->message, what, len);
    ctx->message[len] = ':';
    ctx->message[len + 1] = ' ';
}

cg_status cg__realize(cg_context *ctx)
{
    cg__tape *tape = &ctx->tape;
    cg__fuse_group group;
    while (tape->pending < tape->count && !ctx->status) {
        cg__node *node = &tape->nodes[tape->pending];
        /* A chain of element-wise nodes runs as one kernel (fuse.c); not in
         * eager mode, which runs every op alone as it is called. */
        if (ctx->fuse && !ctx->eager &&
            cg__fuse_plan(ctx, node, tape->count - tape->pending, &group)) {
            tape->realizing = true;
            if (ctx->backend->exec_group(ctx, &group)) name_the_op(ctx, group.step[0].node->what);
            tape->realizing = false;
            for (size_t k = 0; k < group.span; k++) {
                node[k].done = true;
                settle(&node[k]);
            }
            tape->pending += group.span;
            continue;
        }
        tape->pending++;
        if (!node->done) {
            tape->realizing = true;
            if (ctx->backend->exec(ctx, node)) name_the_op(ctx, node->what);
            tape->realizing = false;
            node->done = true;
        }
        settle(node);
    }
    return ctx->status;
}

cg_status cg__submit(cg_context *ctx)
{
    return ctx->eager ? cg__realize(ctx) : ctx->status;
}

void cg__graph_release_nodes(cg_context *ctx)
{
    cg__tape *tape = &ctx->tape;
    for (size_t i = 0; i < tape->count; i++) {
        cg__node *node = &tape->nodes[i];
        node->done = true; /* not run: nothing reads what it would have made */
        node->backward = NULL;
        settle(node);
        free(node->rows);
    }
    tape->count = 0;
    tape->pending = 0;
    tape->differentiable = 0;
}

cg_status cg_realize(cg_context *ctx)
{
    if (!ctx) return CG_ERROR_NULL_POINTER;
    return cg__realize(ctx);
}

cg_status cg_context_set_eager(cg_context *ctx, bool eager)
{
    if (!ctx) return CG_ERROR_NULL_POINTER;
    if (ctx->status) return ctx->status;
    if (eager && cg__realize(ctx)) return ctx->status;
    ctx->eager = eager;
    return CG_OK;
}

bool cg_context_eager(const cg_context *ctx) { return ctx && ctx->eager; }

cg_status cg_context_set_fusion(cg_context *ctx, bool fuse)
{
    if (!ctx) return CG_ERROR_NULL_POINTER;
    if (ctx->status) return ctx->status;
    ctx->fuse = fuse;
    return CG_OK;
}

bool cg_context_fusion(const cg_context *ctx) { return ctx && ctx->fuse; }
