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

/* t (a view) gets its own memory again, with its values. */
static void unborrow(cg_context *ctx, cg_tensor *t)
{
    if (!t || !t->borrowed) return;
    if (ctx->is_ref) {
        float *own = cg__host_get(ctx, t->bytes, "cg_optimizer_free");
        if (own) memcpy(own, t->host, t->bytes);
        t->host = own;
    } else {
        cl_mem own = cg__buffer_get(ctx, t->bytes, "cg_optimizer_free");
        if (own && cg__clEnqueueCopyBuffer(ctx->queue, t->mem, own, 0, 0, t->bytes, 0, NULL, NULL))
            cg__fail(ctx, CG_ERROR_OPENCL, "cg_optimizer_free: copying a parameter back failed");
        cg__clReleaseMemObject(t->mem);
        t->mem = own;
    }
    t->borrowed = false;
}

void cg__group_free(cg_context *ctx, group *g)
{
    if (g->arena) {
        for (size_t i = 0; i < g->count; i++) {
            cg_tensor *p = g->params[i];
            unborrow(ctx, p);
            if (p->grad) unborrow(ctx, p->grad);
            if (p->grad_home) cg__clReleaseMemObject(p->grad_home);
            p->grad_home = NULL;
            p->grad_home_host = NULL;
        }
    }
    for (size_t i = 0; g->state && i < g->count * CG_OPT_STATE_SLOTS; i++)
        cg__tensor_destroy(g->state[i]);
    if (g->arena) {
        /* No wait: the copies above are queued before anything that reuses the
         * arena from the pool (one in-order queue). */
        for (int k = 0; k < ARENA_COUNT; k++) {
            if (g->mem[k]) cg__buffer_put(ctx, g->mem[k], g->total * sizeof(float));
            if (g->host[k]) cg__host_put(ctx, g->host[k], g->total * sizeof(float));
        }
    }
    free(g->offset);
    free(g->state);
    free(g->params);
    free(g->steps);
}

/* Moves the group's parameters (and gradients) into an arena beside their
 * state; the tensors become views. */
void cg__arena_build(cg_context *ctx, cg_optim_kind kind, group *g)
{
    const size_t align = ctx->align_floats ? ctx->align_floats : 1;
    g->offset = malloc(g->count * sizeof *g->offset);
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
            if (g->mem[k] &&
                cg__clEnqueueFillBuffer(ctx->queue, g->mem[k], &init, sizeof init, 0, bytes, 0, NULL,
                                    NULL) != CL_SUCCESS)
                cg__fail(ctx, CG_ERROR_OPENCL, "cg_optimizer: clEnqueueFillBuffer failed");
        }
    }
    if (ctx->status) return;
    g->arena = true;
    for (size_t i = 0; i < g->count && !ctx->status; i++) {
        cg_tensor *p = g->params[i];
        const size_t off = g->offset[i], n = p->numel;
        /* The parameter's values move in; its own memory goes back. */
        if (ctx->is_ref) {
            memcpy(g->host[ARENA_P] + off, p->host, p->bytes);
            cg__host_put(ctx, p->host, p->bytes);
            p->host = g->host[ARENA_P] + off;
            p->grad_home_host = g->host[ARENA_G] + off;
            if (p->grad) {
                memcpy(p->grad_home_host, p->grad->host, p->bytes);
                cg_tensor *old = p->grad;
                p->grad = calloc(1, sizeof *p->grad);
                if (p->grad)
                    *p->grad = (cg_tensor){.ctx = ctx, .shape = p->shape, .numel = n,
                                           .bytes = p->bytes, .node = -1, .borrowed = true,
                                           .host = p->grad_home_host};
                cg__tensor_destroy(old);
            }
        } else {
            cg__clEnqueueCopyBuffer(ctx->queue, p->mem, g->mem[ARENA_P], 0, off * sizeof(float),
                                p->bytes, 0, NULL, NULL);
            cl_mem v = view(ctx, g->mem[ARENA_P], off, n);
            if (!v) return;
            cg__buffer_put(ctx, p->mem, p->bytes);
            p->mem = v;
            p->grad_home = view(ctx, g->mem[ARENA_G], off, n);
            if (p->grad && p->grad_home) {
                cg__clEnqueueCopyBuffer(ctx->queue, p->grad->mem, g->mem[ARENA_G], 0,
                                    off * sizeof(float), p->bytes, 0, NULL, NULL);
                cg_tensor *old = p->grad;
                p->grad = calloc(1, sizeof *p->grad);
                if (p->grad) {
                    *p->grad = (cg_tensor){.ctx = ctx, .shape = p->shape, .numel = n,
                                           .bytes = p->bytes, .node = -1, .borrowed = true,
                                           .mem = p->grad_home};
                    cg__clRetainMemObject(p->grad_home);
                }
                cg__tensor_destroy(old); /* in-order queue: after the copy */
            }
        }
        p->borrowed = true;
        for (int s = 0; s < CG_OPT_STATE_SLOTS; s++) {
            if (!(used & (1 << s))) continue; /* stays NULL */
            cg_tensor *t = calloc(1, sizeof *t);
            if (!t) {
                cg__fail(ctx, CG_ERROR_NO_MEMORY, "cg_optimizer: out of memory");
                return;
            }
            *t = (cg_tensor){.ctx = ctx, .shape = p->shape, .numel = n, .bytes = p->bytes,
                             .node = -1, .borrowed = true};
            if (ctx->is_ref)
                t->host = g->host[ARENA_S0 + s] + off;
            else
                t->mem = view(ctx, g->mem[ARENA_S0 + s], off, n);
            g->state[i * CG_OPT_STATE_SLOTS + s] = t;
        }
    }
}

