/* Each parameter group's arena: parameters, gradients and the state slots
 * side by side in one allocation each (offsets aligned for sub-buffers), so
 * one launch updates the group and one fill zeroes its gradients. While the
 * optimizer lives the tensors are views into it; freeing the optimizer gives
 * them their own memory back, values kept. Moving memory in and out is the
 * backend's (cg__backend's optim: move_in, move_out). */
#include <stdlib.h>
#include <string.h>

#include "optim_internal.h"

void cg__group_free(cg_context *ctx, group *g)
{
    bool pinned[ARENA_COUNT] = {false};
    for (size_t i = 0; g->params && i < g->count; i++)
        ctx->backend->optim->move_out(ctx, g->params[i], pinned);
    if (pinned[ARENA_P] || pinned[ARENA_G])
        cg__fail(ctx, CG_ERROR_NO_MEMORY,
                 "cg_optimizer_free: no memory to give the parameters their own buffers; they "
                 "keep the optimizer's until the context is freed");
    for (size_t i = 0; g->state && i < g->count * CG_OPT_STATE_SLOTS; i++)
        cg__tensor_release(g->state[i]);
    /* No wait: the copies above are queued before anything that reuses the
     * arena from the pool (one in-order queue). */
    for (int k = 0; k < ARENA_COUNT; k++) {
        if (pinned[k])
            cg__buffer_orphan(ctx, g->mem[k], g->host[k], g->total * sizeof(float));
        else if (g->mem[k])
            cg__buffer_put(ctx, g->mem[k], g->total * sizeof(float));
        else if (g->host[k])
            cg__host_put(ctx, g->host[k], g->total * sizeof(float));
        g->mem[k] = NULL;
        g->host[k] = NULL;
    }
    free(g->offset);
    free(g->state);
    for (size_t i = 0; g->params && i < g->count; i++) cg__tensor_release(g->params[i]);
    free(g->params);
    free(g->steps);
}

cg_status cg__arena_fill(cg_context *ctx, group *g, int k, float value, const char *what)
{
    /* The slot described as a storage, for the backend's fill: the group
     * owns the memory, nothing references this. */
    cg__storage slot = {.refs = 1,
                        .ctx = ctx,
                        .bytes = g->total * sizeof(float),
                        .mem = g->mem[k],
                        .host = g->host[k]};
    return ctx->backend->fill(ctx, &slot, 0, slot.bytes, value, what);
}

void cg__arena_adopt(group *g, size_t i, cg_tensor *grad, cg_tensor *const *state)
{
    cg_tensor *p = g->params[i];
    if (grad) {
        cg__tensor_release(p->grad);
        p->grad = grad;
    }
    /* The storage moved, so views of the parameter follow it. */
    p->storage->borrowed = true;
    cg__tensor_refresh(p);
    for (int s = 0; s < CG_OPT_STATE_SLOTS; s++) g->state[i * CG_OPT_STATE_SLOTS + s] = state[s];
}

/* Moves the group's parameters (and gradients) into an arena beside their
 * state; the tensors become views. */
void cg__arena_build(cg_context *ctx, cg_optim_kind kind, group *g)
{
    const size_t align = ctx->align_floats ? ctx->align_floats : 1;
    g->offset = cg__malloc(g->count * sizeof *g->offset);
    if (!g->offset) {
        cg__fail(ctx, CG_ERROR_NO_MEMORY, "cg_optimizer: out of memory");
        return;
    }
    size_t cursor = 0;
    for (size_t i = 0; i < g->count; i++) {
        g->offset[i] = (cursor + align - 1) / align * align;
        cursor = g->offset[i] + g->params[i]->numel;
    }
    g->total = cursor;
    const int used = cg__optim_used_slots(kind, &g->o);
    for (int k = 0; k < ARENA_COUNT; k++) {
        if (k >= ARENA_S0 && !(used & (1 << (k - ARENA_S0)))) continue; /* no memory for it */
        float init = k >= ARENA_S0 ? cg__initial_state(kind, &g->o, k - ARENA_S0) : 0.0f;
        if (!ctx->backend->optim->arena_alloc(ctx, g, k))
            cg__arena_fill(ctx, g, k, init, "cg_optimizer: clEnqueueFillBuffer");
    }
    if (ctx->status) return;
    g->arena = true;
    for (size_t i = 0; i < g->count && !ctx->status; i++)
        if (!ctx->backend->optim->move_in(ctx, g, i, used)) return;
}
