/* Each parameter group's arena: parameters, gradients and the state slots
 * side by side in one allocation each (offsets aligned for sub-buffers), so
 * one launch updates the group and one fill zeroes its gradients. While the
 * optimizer lives the tensors are views into it; freeing the optimizer gives
 * them their own memory back, values kept. */
#include <stdlib.h>
#include <string.h>

#include "optim_internal.h"

/* A view of n floats at off of an arena buffer. */
static cl_mem view(cg_context *ctx, cl_mem parent, size_t off, size_t n)
{
    cl_buffer_region r = {off * sizeof(float), n * sizeof(float)};
    cl_int err;
    cl_mem m = cg__clCreateSubBuffer(parent, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &r, &err);
    if (!m) cg__cl_fail(ctx, err, "cg_optimizer: clCreateSubBuffer");
    return m;
}

/* t (a view) gets its own memory again, with its values. This runs while
 * freeing, maybe on a context in error, so it asks for memory whatever the
 * status; false when that or the copy fails: t stays a view, and the caller
 * keeps the arena buffer alive for it. */
static bool unborrow(cg_context *ctx, cg_tensor *t)
{
    cg__storage *s = t ? t->storage : NULL;
    if (!s || !s->borrowed) return true;
    if (ctx->is_ref) {
        float *own = cg__host_get_anyway(ctx, s->bytes);
        if (!own) return false;
        memcpy(own, s->host, s->bytes);
        s->host = own;
    } else {
        cl_mem own = cg__buffer_get_anyway(ctx, s->bytes);
        if (!own) return false;
        if (cg__clEnqueueCopyBuffer(ctx->queue, s->mem, own, 0, 0, s->bytes, 0, NULL, NULL) !=
            CL_SUCCESS) {
            cg__buffer_put(ctx, own, s->bytes);
            return false;
        }
        cg__clReleaseMemObject(s->mem);
        s->mem = own;
    }
    s->borrowed = false;
    cg__tensor_refresh(t);
    return true;
}

void cg__group_free(cg_context *ctx, group *g)
{
    bool pinned[ARENA_COUNT] = {false};
    for (size_t i = 0; g->params && i < g->count; i++) {
        cg_tensor *p = g->params[i];
        if (!unborrow(ctx, p)) pinned[ARENA_P] = true;
        if (p->grad && !unborrow(ctx, p->grad)) pinned[ARENA_G] = true;
        if (p->grad_home) cg__clReleaseMemObject(p->grad_home);
        p->grad_home = NULL;
        p->grad_home_host = NULL;
    }
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

/* A borrowed tensor shaped like `like` over an arena at off (host memory on
 * ref, a new view of parent on OpenCL, neither yet when both are NULL): a
 * gradient or a state slot. NULL (error on ctx) on failure. */
static cg_tensor *arena_tensor(cg_context *ctx, const cg_tensor *like, cl_mem parent,
                               float *host, size_t off)
{
    cl_mem m = NULL;
    if (!host && parent && !(m = view(ctx, parent, off, like->numel))) return NULL;
    return cg__tensor_borrowed(ctx, like->shape, m, host ? host + off : NULL, "cg_optimizer");
}

/* Moves parameter i (and its gradient) into the group's arena and makes its
 * state slots. All or nothing for the parameter: on failure it keeps its
 * own memory and values (error on ctx). */
static bool move_in(cg_context *ctx, group *g, size_t i, int used)
{
    cg_tensor *p = g->params[i];
    const size_t off = g->offset[i], n = p->numel;
    cg_tensor *state[CG_OPT_STATE_SLOTS] = {NULL}, *grad = NULL;
    cl_mem v = NULL, grad_home = NULL;
    if (ctx->is_ref) {
        if (p->grad && !(grad = arena_tensor(ctx, p, NULL, g->host[ARENA_G], off))) goto fail;
    } else {
        if (cg__clEnqueueCopyBuffer(ctx->queue, p->mem, g->mem[ARENA_P], 0, off * sizeof(float),
                                    p->bytes, 0, NULL, NULL) != CL_SUCCESS) {
            cg__fail(ctx, CG_ERROR_OPENCL, "cg_optimizer: copying a parameter in failed");
            goto fail;
        }
        if (!(v = view(ctx, g->mem[ARENA_P], off, n))) goto fail;
        if (!(grad_home = view(ctx, g->mem[ARENA_G], off, n))) goto fail;
        if (p->grad) {
            if (cg__clEnqueueCopyBuffer(ctx->queue, p->grad->mem, g->mem[ARENA_G], 0,
                                        off * sizeof(float), p->bytes, 0, NULL,
                                        NULL) != CL_SUCCESS) {
                cg__fail(ctx, CG_ERROR_OPENCL, "cg_optimizer: copying a gradient in failed");
                goto fail;
            }
            /* The gradient tensor shares the grad_home view (one more reference). */
            cg__clRetainMemObject(grad_home);
            if (!(grad = cg__tensor_borrowed(ctx, p->shape, grad_home, NULL, "cg_optimizer")))
                goto fail;
        }
    }
    for (int s = 0; s < CG_OPT_STATE_SLOTS; s++)
        if ((used & (1 << s)) &&
            !(state[s] = arena_tensor(ctx, p, g->mem[ARENA_S0 + s], g->host[ARENA_S0 + s], off)))
            goto fail;

    /* Nothing can fail from here: the parameter moves in. */
    /* The storage moves, so views of the parameter follow it. */
    cg__storage *st = p->storage;
    if (ctx->is_ref) {
        memcpy(g->host[ARENA_P] + off, st->host, p->bytes);
        cg__host_put(ctx, st->host, st->bytes);
        st->host = g->host[ARENA_P] + off;
        p->grad_home_host = g->host[ARENA_G] + off;
        if (grad) memcpy(p->grad_home_host, p->grad->host, p->bytes);
    } else {
        cg__buffer_put(ctx, st->mem, st->bytes); /* in-order queue: after the copy */
        st->mem = v;
        p->grad_home = grad_home;
    }
    if (grad) {
        cg__tensor_release(p->grad);
        p->grad = grad;
    }
    st->borrowed = true;
    cg__tensor_refresh(p);
    for (int s = 0; s < CG_OPT_STATE_SLOTS; s++) g->state[i * CG_OPT_STATE_SLOTS + s] = state[s];
    return true;
fail:
    for (int s = 0; s < CG_OPT_STATE_SLOTS; s++) cg__tensor_release(state[s]);
    cg__tensor_release(grad);
    if (v) cg__clReleaseMemObject(v);
    if (grad_home) cg__clReleaseMemObject(grad_home);
    return false;
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
    const size_t bytes = g->total * sizeof(float);
    const int used = cg__optim_used_slots(kind, &g->o);
    for (int k = 0; k < ARENA_COUNT; k++) {
        if (k >= ARENA_S0 && !(used & (1 << (k - ARENA_S0)))) continue; /* no memory for it */
        float init = k >= ARENA_S0 ? cg__initial_state(kind, &g->o, k - ARENA_S0) : 0.0f;
        if (ctx->is_ref) {
            g->host[k] = cg__host_get(ctx, bytes, "cg_optimizer");
            if (g->host[k])
                for (size_t e = 0; e < g->total; e++) g->host[k][e] = init;
        } else {
            g->mem[k] = cg__buffer_get(ctx, bytes, "cg_optimizer");
            cl_int err;
            if (g->mem[k] &&
                (err = cg__clEnqueueFillBuffer(ctx->queue, g->mem[k], &init, sizeof init, 0, bytes,
                                               0, NULL, NULL)) != CL_SUCCESS)
                cg__cl_fail(ctx, err, "cg_optimizer: clEnqueueFillBuffer");
        }
    }
    if (ctx->status) return;
    g->arena = true;
    for (size_t i = 0; i < g->count && !ctx->status; i++)
        if (!move_in(ctx, g, i, used)) return;
}
