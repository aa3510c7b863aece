/* The reference backend: each node as plain loops over host memory
 * (ref/ops_ref.c), float arithmetic as the kernels do it, double
 * accumulation in every reduction. The twin of cl_backend.c. */
#include <string.h>

#include "../internal.h"
#include "../linreg_internal.h"
#include "../ref/ops_ref.h"

static cg_status ref_read(cg_context *ctx, const cg__storage *s, size_t offset, size_t bytes,
                          void *dst, const char *what)
{
    (void)what;
    if (ctx->status) return ctx->status;
    if (bytes) memcpy(dst, (const char *)s->host + offset, bytes);
    return CG_OK;
}

static cg_status ref_write(cg_context *ctx, cg__storage *s, size_t offset, size_t bytes,
                           const void *src, const char *what)
{
    (void)what;
    if (ctx->status) return ctx->status;
    if (bytes) memcpy((char *)s->host + offset, src, bytes);
    return CG_OK;
}

static cg_status ref_fill(cg_context *ctx, cg__storage *s, size_t offset, size_t bytes,
                          float value, const char *what)
{
    (void)what;
    if (ctx->status) return ctx->status;
    float *p = s->host + offset / sizeof(float);
    for (size_t i = 0; i < bytes / sizeof(float); i++) p[i] = value;
    return CG_OK;
}

static cg_status ref_sync(cg_context *ctx, const char *what)
{
    (void)what;
    return ctx->status;
}

static void pad(const cg__layout *l, uint32_t dims[CG_MAX_DIMS], uint32_t strides[CG_MAX_DIMS])
{
    int lead = CG_MAX_DIMS - l->shape.ndim;
    for (int d = 0; d < CG_MAX_DIMS; d++) {
        int s = d - lead;
        dims[d] = s >= 0 ? (uint32_t)l->shape.dims[s] : 1;
        strides[d] = s >= 0 ? (uint32_t)l->strides[s] : 0;
    }
}

static cg_status binary(cg_context *ctx, const cg__node *n, bool grad)
{
    const cg_tensor *a = n->in[0], *b = n->in[1];
    cg__bcast bc;
    if (!cg__broadcast(ctx, n->what, a, b, &bc)) return ctx->status;
    size_t count = cg__shape_numel(bc.out);
    const float *ah = a->storage->host + bc.oa, *bh = b->storage->host + bc.ob;
    if (grad)
        cg__ref_binary_grad(n->op, (int)n->ia, ah, bc.sa, bc.la, bh, bc.sb, bc.lb,
                            n->in[2]->storage->host, n->out->storage->host, bc.dims, count,
                            n->flag_a);
    else
        cg__ref_binary(n->op, ah, bc.sa, bc.la, bh, bc.sb, bc.lb, n->out->storage->host, bc.dims,
                       count);
    return CG_OK;
}

static cg_status ref_exec(cg_context *ctx, cg__node *n)
{
    if (ctx->status) return ctx->status;
    cg_tensor *out = n->out, *x = n->in[0];
    switch (n->kind) {
    case CG__OP_VIEW:
    case CG__OP_DONE: return CG_OK;
    case CG__OP_FILL:
        return ctx->backend->fill(ctx, n->out->storage, 0, n->out->bytes, n->scalar, n->what);
    case CG__OP_COPY: {
        uint32_t dims[CG_MAX_DIMS], ss[CG_MAX_DIMS], ds[CG_MAX_DIMS], unused[CG_MAX_DIMS];
        pad(&n->la, dims, ss);
        pad(&n->lb, unused, ds);
        cg__ref_strided_copy(x->storage->host + n->la.offset, ss, out->storage->host + n->lb.offset,
                             ds, dims, cg__shape_numel(n->la.shape), n->flag_a);
        return CG_OK;
    }
    case CG__OP_UNARY: cg__ref_unary(n->op, x->storage->host, out->storage->host, n->scalar, x->numel); return CG_OK;
    case CG__OP_UNARY_GRAD:
        cg__ref_unary_backward(n->op, x->storage->host, n->in[1]->storage->host, n->in[2]->storage->host, out->storage->host,
                               n->scalar, x->numel);
        return CG_OK;
    case CG__OP_BINARY: return binary(ctx, n, false);
    case CG__OP_BINARY_GRAD: return binary(ctx, n, true);
    case CG__OP_AXPY: cg__ref_axpy(out->storage->host, n->scalar, x->storage->host, out->numel); return CG_OK;
    case CG__OP_SUM_TO:
    case CG__OP_REDUCE:
    case CG__OP_EXPAND_ADD: return cg__ref_reduce_exec(ctx, n);
    case CG__OP_MATMUL:
        cg__ref_matmul(x->storage->host, n->in[1]->storage->host, out->storage->host, n->ia, n->ib, n->ic, n->flag_a,
                       n->flag_b, n->id != 0);
        return CG_OK;
    case CG__OP_BLOCK_COPY:
        cg__ref_block_copy(x->storage->host, n->ia, n->ib, out->storage->host, n->ic, n->id, n->ie, n->ig,
                           n->flag_a);
        return CG_OK;
    case CG__OP_GATHER_ROWS:
        for (size_t r = 0; r < n->ia; r++)
            memcpy(out->storage->host + r * n->ib, x->storage->host + (size_t)n->rows[r] * n->ib,
                   n->ib * sizeof(float));
        return CG_OK;
    case CG__OP_RAND_UNIFORM:
        cg__ref_rand_uniform(out->storage->host, out->numel, n->ia, n->ib, n->scalar,
                             n->scalar_b);
        return CG_OK;
    /* ---- reductions, clipping, embedding (ref_reduce.c) ---- */
    case CG__OP_NORM2:
    case CG__OP_CLIP_TOTAL:
    case CG__OP_SCALE_BY:
    case CG__OP_CLAMP:
    case CG__OP_EMBEDDING_GRAD: return cg__ref_reduce_exec(ctx, n);
    case CG__OP_COUNT: break;
    }
    return cg__fail(ctx, CG_ERROR_UNSUPPORTED, "%s: the reference backend has no op %d", n->what,
                    (int)n->kind);
}

/* A group's nodes one after another: the reference runs the same groups as
 * a device, with each node's own loop. */
static cg_status ref_exec_group(cg_context *ctx, const cg__fuse_group *g)
{
    for (size_t k = 0; k < g->steps && !ctx->status; k++) ref_exec(ctx, g->step[k].node);
    ctx->stats.fused_groups++;
    ctx->stats.fused_nodes += g->steps;
    return ctx->status;
}

const cg__backend cg__backend_ref = {
    .name = "ref",
    .read = ref_read,
    .write = ref_write,
    .fill = ref_fill,
    .exec = ref_exec,
    .exec_group = ref_exec_group,
    .sync = ref_sync,
    /* ---- linreg ---- */
    .linreg_prepare = cg__ref_linreg_prepare,
    .linreg_run = cg__ref_linreg_run,
    .linreg_eval = cg__ref_linreg_eval,
    .linreg_release = cg__ref_linreg_release,
    /* ---- setup ---- */
    .device = cg__ref_device,
    .open = cg__ref_open,
    .finish = cg__ref_nothing,
    .close = cg__ref_nothing,
    .drain = cg__ref_nothing,
    .alloc = cg__ref_alloc,
    .release = cg__ref_release,
    .drop = cg__ref_drop,
    .kernel_shapes = false,
    /* ---- reductions ---- */
    .vreduce = cg__ref_vreduce,
    /* ---- optimizers ---- */
    .optim = &cg__optim_ref,
    /* ---- whole loops: none (cg_capture_replay_n replays) ---- */
    .loop_fits = NULL,
    .loop_run = NULL,
};
