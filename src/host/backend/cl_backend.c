/* The OpenCL backend: transfers on the context's in-order queue and one
 * launch (or a few) per node. Kernels: the .cl files in src/kernels; each op's
 * reference twin is in ref_backend.c. */
#include <stdio.h>
#include <string.h>

#include "../../kernels/ops.clh"
#include "../internal.h"
#include "../linreg_internal.h"

#define TILE 16

/* ---- transfers ------------------------------------------------------------ */

static cg_status cl_read(cg_context *ctx, const cg__storage *s, size_t offset, size_t bytes,
                         void *dst, const char *what)
{
    return cg__read(ctx, s->mem, offset, bytes, dst, true, what);
}

static cg_status cl_write(cg_context *ctx, cg__storage *s, size_t offset, size_t bytes,
                          const void *src, const char *what)
{
    return cg__write(ctx, s->mem, offset, bytes, src, true, what);
}

static cg_status cl_fill(cg_context *ctx, cg__storage *s, size_t offset, size_t bytes,
                         float value, const char *what)
{
    if (ctx->status) return ctx->status;
    if (bytes == 0) return CG_OK;
    cl_int err = cg__clEnqueueFillBuffer(ctx->queue, s->mem, &value, sizeof value, offset, bytes,
                                         0, NULL, NULL);
    return err == CL_SUCCESS ? CG_OK : cg__cl_fail(ctx, err, what);
}

static cg_status cl_sync(cg_context *ctx, const char *what)
{
    return cg__sync(ctx, what);
}

/* ---- element-wise (elementwise.cl) ------------------------------------------ */

/* The op-specialized build of a kernel (see elementwise.cl, CG_OP). */
static cl_kernel op_kernel(cg_context *ctx, const char *name, int op)
{
    char options[24];
    snprintf(options, sizeof options, "-DCG_OP=%d", op);
    return cg__kernel(ctx, CG__PROGRAM_ELEMENTWISE, options, name);
}

/* ... and per operand layout for the binary kernels (CG_LA, CG_LB), and,
 * where an operand is read through strides, per rank bucket (CG_RANK). */
static cl_kernel binary_kernel(cg_context *ctx, const char *name, int op, const cg__bcast *bc)
{
    char options[64];
    int rank = bc->rank <= 2 ? 2 : bc->rank <= 4 ? 4 : 8;
    if (bc->la && bc->lb)
        snprintf(options, sizeof options, "-DCG_OP=%d -DCG_LA=%d -DCG_LB=%d", op, bc->la, bc->lb);
    else
        snprintf(options, sizeof options, "-DCG_OP=%d -DCG_LA=%d -DCG_LB=%d -DCG_RANK=%d", op,
                 bc->la, bc->lb, rank);
    return cg__kernel(ctx, CG__PROGRAM_ELEMENTWISE, options, name);
}

static cg_status unary(cg_context *ctx, const cg__node *n)
{
    const cg_tensor *x = n->in[0];
    cl_kernel k = op_kernel(ctx, "cg_unary", n->op);
    cl_uint count = (cl_uint)x->numel;
    cl_int o = n->op;
    float s = n->scalar;
    if (!k || cg__set_args(ctx, k, n->what, sizeof o, &o, sizeof(cl_mem), &x->storage->mem, sizeof(cl_mem),
                           &n->out->storage->mem, sizeof s, &s, sizeof count, &count, (size_t)0))
        return ctx->status;
    return cg__launch_n(ctx, k, count, n->what);
}

static cg_status unary_grad(cg_context *ctx, const cg__node *n)
{
    const cg_tensor *x = n->in[0], *y = n->in[1], *gy = n->in[2];
    cl_kernel k = op_kernel(ctx, "cg_unary_backward", n->op);
    cl_uint count = (cl_uint)x->numel;
    cl_int o = n->op;
    float s = n->scalar;
    if (!k || cg__set_args(ctx, k, n->what, sizeof o, &o, sizeof(cl_mem), &x->storage->mem, sizeof(cl_mem),
                           &y->storage->mem, sizeof(cl_mem), &gy->storage->mem, sizeof(cl_mem), &n->out->storage->mem,
                           sizeof s, &s, sizeof count, &count, (size_t)0))
        return ctx->status;
    return cg__launch_n(ctx, k, count, n->what);
}

/* Binary forward (grad false) or one operand's gradient (grad true). */
static cg_status binary(cg_context *ctx, const cg__node *n, bool grad)
{
    const cg_tensor *a = n->in[0], *b = n->in[1];
    cg__bcast bc;
    if (!cg__broadcast(ctx, n->what, a, b, &bc)) return ctx->status;
    cl_uint count = (cl_uint)cg__shape_numel(bc.out);
    cl_int o = n->op, w = (cl_int)n->ia, acc = n->flag_a;
    cl_uint8 sa, sb, dims;
    memcpy(sa.s, bc.sa, sizeof sa.s);
    memcpy(sb.s, bc.sb, sizeof sb.s);
    memcpy(dims.s, bc.dims, sizeof dims.s);
    /* Neither operand strided: the kernels without stride arguments. */
    bool dense = bc.la != 0 && bc.lb != 0;
    const char *name = dense ? (grad ? "cg_binary_grad_dense" : "cg_binary_dense")
                             : (grad ? "cg_binary_grad" : "cg_binary");
    cl_kernel k = binary_kernel(ctx, name, n->op, &bc);
    if (!k) return ctx->status;
    cg_status s;
    if (dense && !grad)
        s = cg__set_args(ctx, k, n->what, sizeof o, &o, sizeof(cl_mem), &a->storage->mem,
                         sizeof bc.oa, &bc.oa, sizeof(cl_mem), &b->storage->mem, sizeof bc.ob,
                         &bc.ob, sizeof(cl_mem), &n->out->storage->mem, sizeof count, &count,
                         (size_t)0);
    else if (dense)
        s = cg__set_args(ctx, k, n->what, sizeof o, &o, sizeof w, &w, sizeof(cl_mem),
                         &a->storage->mem, sizeof bc.oa, &bc.oa, sizeof(cl_mem), &b->storage->mem,
                         sizeof bc.ob, &bc.ob, sizeof(cl_mem), &n->in[2]->storage->mem,
                         sizeof(cl_mem), &n->out->storage->mem, sizeof count, &count, sizeof acc,
                         &acc, (size_t)0);
    else if (!grad)
        s = cg__set_args(ctx, k, n->what, sizeof o, &o, sizeof(cl_mem), &a->storage->mem,
                         sizeof bc.oa, &bc.oa, sizeof sa, &sa, sizeof(cl_mem), &b->storage->mem,
                         sizeof bc.ob, &bc.ob, sizeof sb, &sb, sizeof(cl_mem), &n->out->storage->mem,
                         sizeof dims, &dims, sizeof count, &count, sizeof bc.la, &bc.la,
                         sizeof bc.lb, &bc.lb, (size_t)0);
    else
        s = cg__set_args(ctx, k, n->what, sizeof o, &o, sizeof w, &w, sizeof(cl_mem),
                         &a->storage->mem, sizeof bc.oa, &bc.oa, sizeof sa, &sa, sizeof(cl_mem),
                         &b->storage->mem, sizeof bc.ob, &bc.ob, sizeof sb, &sb, sizeof(cl_mem),
                         &n->in[2]->storage->mem, sizeof(cl_mem), &n->out->storage->mem, sizeof dims, &dims,
                         sizeof count, &count, sizeof acc, &acc, sizeof bc.la, &bc.la,
                         sizeof bc.lb, &bc.lb, (size_t)0);
    return s ? s : cg__launch_n(ctx, k, count, n->what);
}

static cg_status axpy(cg_context *ctx, const cg__node *n)
{
    cl_kernel k = cg__kernel(ctx, CG__PROGRAM_ELEMENTWISE, NULL, "cg_axpy");
    cl_uint count = (cl_uint)n->out->numel;
    float alpha = n->scalar;
    if (!k || cg__set_args(ctx, k, n->what, sizeof(cl_mem), &n->out->storage->mem, sizeof alpha, &alpha,
                           sizeof(cl_mem), &n->in[0]->storage->mem, sizeof count, &count, (size_t)0))
        return ctx->status;
    return cg__launch_n(ctx, k, count, n->what);
}

/* ---- copies (shape.cl) --------------------------------------------------------- */

/* Pads a layout to CG_MAX_DIMS dimensions on the left (extent 1, stride 0). */
static void pad(const cg__layout *l, cl_uint8 *dims, cl_uint8 *strides)
{
    int lead = CG_MAX_DIMS - l->shape.ndim;
    for (int d = 0; d < CG_MAX_DIMS; d++) {
        int s = d - lead;
        dims->s[d] = s >= 0 ? (cl_uint)l->shape.dims[s] : 1;
        strides->s[d] = s >= 0 ? (cl_uint)l->strides[s] : 0;
    }
}

static cg_status strided_copy(cg_context *ctx, const cg__node *n)
{
    cl_kernel k = cg__kernel(ctx, CG__PROGRAM_SHAPE, NULL, "cg_strided_copy");
    cl_uint8 vd, vs, vt, unused;
    pad(&n->la, &vd, &vs);
    pad(&n->lb, &unused, &vt);
    cl_uint so = (cl_uint)n->la.offset, doff = (cl_uint)n->lb.offset;
    cl_uint count = (cl_uint)cg__shape_numel(n->la.shape);
    cl_int acc = n->flag_a;
    if (!k || cg__set_args(ctx, k, n->what, sizeof(cl_mem), &n->in[0]->storage->mem, sizeof so,
                           &so, sizeof vs, &vs, sizeof(cl_mem), &n->out->storage->mem,
                           sizeof doff, &doff, sizeof vt, &vt, sizeof vd, &vd, sizeof count, &count,
                           sizeof acc, &acc, (size_t)0))
        return ctx->status;
    return cg__launch_n(ctx, k, count, n->what);
}

static cg_status block_copy(cg_context *ctx, const cg__node *n)
{
    const cg_tensor *src = n->in[0];
    size_t outer = n->ie, len = n->ig;
    if (outer * len == 0) return CG_OK;
    if (!n->flag_a && outer == 1) { /* a plain copy: the driver's own */
        cl_int err = cg__clEnqueueCopyBuffer(ctx->queue, src->storage->mem, n->out->storage->mem,
                                             n->ia * sizeof(float), n->ic * sizeof(float),
                                             len * sizeof(float), 0, NULL, NULL);
        return err == CL_SUCCESS ? CG_OK : cg__cl_fail(ctx, err, n->what);
    }
    cl_kernel k = cg__kernel(ctx, CG__PROGRAM_SHAPE, NULL, "cg_block_copy");
    cl_uint so = (cl_uint)n->ia, ss = (cl_uint)n->ib, doff = (cl_uint)n->ic;
    cl_uint ds = (cl_uint)n->id, o = (cl_uint)outer, l = (cl_uint)len;
    cl_int acc = n->flag_a;
    if (!k || cg__set_args(ctx, k, n->what, sizeof(cl_mem), &src->storage->mem, sizeof so, &so, sizeof ss,
                           &ss, sizeof(cl_mem), &n->out->storage->mem, sizeof doff, &doff, sizeof ds, &ds,
                           sizeof o, &o, sizeof l, &l, sizeof acc, &acc, (size_t)0))
        return ctx->status;
    return cg__launch_n(ctx, k, outer * len, n->what);
}

static cg_status gather_rows(cg_context *ctx, const cg__node *n)
{
    size_t count = n->ia, cols = n->ib;
    cl_kernel k = cg__kernel(ctx, CG__PROGRAM_SHAPE, NULL, "cg_gather_rows");
    cl_mem idx = cg__buffer_get(ctx, count * sizeof(cl_uint), n->what);
    cl_uint c = (cl_uint)cols, cnt = (cl_uint)count;
    if (k && idx && !cg__write(ctx, idx, 0, count * sizeof(cl_uint), n->rows, true, n->what) &&
        !cg__set_args(ctx, k, n->what, sizeof(cl_mem), &n->in[0]->storage->mem, sizeof c, &c,
                      sizeof(cl_mem), &idx, sizeof cnt, &cnt, sizeof(cl_mem), &n->out->storage->mem,
                      (size_t)0))
        cg__launch_n(ctx, k, count * cols, n->what);
    if (idx) cg__buffer_put(ctx, idx, count * sizeof(cl_uint)); /* in-order queue: safe */
    return ctx->status;
}

/* ---- matrix products (matmul.cl) ------------------------------------------------ */

/* A new [cols, rows] buffer holding src [rows, cols]^T; NULL on error. */
static cl_mem transposed(cg_context *ctx, cl_mem src, size_t rows, size_t cols, const char *what)
{
    cl_mem t = cg__buffer_get(ctx, rows * cols * sizeof(float), what);
    cl_kernel k = cg__kernel(ctx, CG__PROGRAM_MATMUL, NULL, "cg_transpose");
    cl_uint r = (cl_uint)rows, c = (cl_uint)cols;
    if (t && k &&
        !cg__set_args(ctx, k, what, sizeof(cl_mem), &src, sizeof r, &r, sizeof c, &c,
                      sizeof(cl_mem), &t, (size_t)0))
        cg__launch_n(ctx, k, rows * cols, what);
    return t;
}

/* CPU devices: strips of 16 columns per work-item over untransposed operands
 * (a transpose costs O(size), the product O(M N K)). */
static cg_status gemm_strips(cg_context *ctx, const cg__node *n, size_t M, size_t N, size_t K)
{
    cl_mem A = n->in[0]->storage->mem, B = n->in[1]->storage->mem;
    cl_mem at = n->flag_a ? transposed(ctx, A, K, M, n->what) : NULL;
    cl_mem bt = n->flag_b ? transposed(ctx, B, N, K, n->what) : NULL;
    cl_mem a = at ? at : A, b = bt ? bt : B;
    cl_kernel k = cg__kernel(ctx, CG__PROGRAM_MATMUL, NULL, "cg_matmul_strips");
    cl_uint m = (cl_uint)M, nn = (cl_uint)N, kk = (cl_uint)K;
    cl_int acc = n->id != 0;
    if (k && !ctx->status &&
        !cg__set_args(ctx, k, n->what, sizeof(cl_mem), &a, sizeof(cl_mem), &b, sizeof(cl_mem),
                      &n->out->storage->mem, sizeof m, &m, sizeof nn, &nn, sizeof kk, &kk, sizeof acc, &acc,
                      (size_t)0)) {
        const size_t global[2] = {(N + 15) / 16, (M + 3) / 4}, local[2] = {1, 1};
        cg__launch2d(ctx, k, global, local, n->what);
    }
    /* in-order queue: back to the pool after the product */
    if (at) cg__buffer_put(ctx, at, K * M * sizeof(float));
    if (bt) cg__buffer_put(ctx, bt, N * K * sizeof(float));
    return ctx->status;
}

static cg_status matmul(cg_context *ctx, const cg__node *n)
{
    size_t M = n->ia, N = n->ib, K = n->ic;
    if (!ctx->gpu_shapes) return gemm_strips(ctx, n, M, N, K);
    cl_kernel k = cg__kernel(ctx, CG__PROGRAM_MATMUL, NULL, "cg_matmul");
    cl_uint m = (cl_uint)M, nn = (cl_uint)N, kk = (cl_uint)K;
    cl_int ita = n->flag_a, itb = n->flag_b, acc = n->id != 0;
    if (!k || cg__set_args(ctx, k, n->what, sizeof(cl_mem), &n->in[0]->storage->mem, sizeof(cl_mem),
                           &n->in[1]->storage->mem, sizeof(cl_mem), &n->out->storage->mem, sizeof m, &m, sizeof nn,
                           &nn, sizeof kk, &kk, sizeof ita, &ita, sizeof itb, &itb, sizeof acc,
                           &acc, (size_t)0))
        return ctx->status;
    const size_t global[2] = {N, M}, local[2] = {TILE, TILE};
    return cg__launch2d(ctx, k, global, local, n->what);
}

/* ---- random numbers (random.cl) --------------------------------------------------- */

static cg_status rand_uniform(cg_context *ctx, const cg__node *n)
{
    cl_kernel k = cg__kernel(ctx, CG__PROGRAM_RANDOM, NULL, "cg_rand_uniform");
    cl_uint count = (cl_uint)n->out->numel;
    cl_ulong seed = n->ia, offset = n->ib;
    float lo = n->scalar, hi = n->scalar_b;
    if (!k || cg__set_args(ctx, k, n->what, sizeof(cl_mem), &n->out->storage->mem, sizeof count,
                           &count, sizeof seed, &seed, sizeof offset, &offset, sizeof lo, &lo,
                           sizeof hi, &hi, (size_t)0))
        return ctx->status;
    return cg__launch_n(ctx, k, count, n->what);
}

/* ---- the table --------------------------------------------------------------- */

static cg_status cl_exec(cg_context *ctx, cg__node *n)
{
    if (ctx->status) return ctx->status;
    switch (n->kind) {
    case CG__OP_VIEW:
    case CG__OP_DONE: return CG_OK;
    case CG__OP_FILL:
        return ctx->backend->fill(ctx, n->out->storage, 0, n->out->bytes, n->scalar, n->what);
    case CG__OP_COPY: return strided_copy(ctx, n);
    case CG__OP_UNARY: return unary(ctx, n);
    case CG__OP_UNARY_GRAD: return unary_grad(ctx, n);
    case CG__OP_BINARY: return binary(ctx, n, false);
    case CG__OP_BINARY_GRAD: return binary(ctx, n, true);
    case CG__OP_AXPY: return axpy(ctx, n);
    case CG__OP_SUM_TO:
    case CG__OP_REDUCE:
    case CG__OP_EXPAND_ADD: return cg__cl_reduce_exec(ctx, n);
    case CG__OP_MATMUL: return matmul(ctx, n);
    case CG__OP_BLOCK_COPY: return block_copy(ctx, n);
    case CG__OP_GATHER_ROWS: return gather_rows(ctx, n);
    case CG__OP_RAND_UNIFORM: return rand_uniform(ctx, n);
    /* ---- reductions, clipping, embedding (cl_reduce.c) ---- */
    case CG__OP_NORM2:
    case CG__OP_CLIP_TOTAL:
    case CG__OP_SCALE_BY:
    case CG__OP_CLAMP:
    case CG__OP_EMBEDDING_GRAD: return cg__cl_reduce_exec(ctx, n);
    case CG__OP_COUNT: break;
    }
    return cg__fail(ctx, CG_ERROR_UNSUPPORTED, "%s: the OpenCL backend has no op %d", n->what,
                    (int)n->kind);
}

const cg__backend cg__backend_opencl = {
    .name = "opencl",
    .read = cl_read,
    .write = cl_write,
    .fill = cl_fill,
    .exec = cl_exec,
    .exec_group = cg__cl_exec_group,
    .sync = cl_sync,
    /* ---- linreg ---- */
    .linreg_prepare = cg__cl_linreg_prepare,
    .linreg_run = cg__cl_linreg_run,
    .linreg_eval = cg__cl_linreg_eval,
    .linreg_release = cg__cl_linreg_release,
    /* ---- setup ---- */
    .device = cg__cl_device,
    .open = cg__cl_open,
    .finish = cg__cl_finish,
    .close = cg__cl_close,
    .drain = cg__cl_drain_queue,
    .alloc = cg__cl_alloc,
    .release = cg__cl_release,
    .drop = cg__cl_drop,
    .kernel_shapes = true,
    /* ---- reductions ---- */
    .vreduce = cg__cl_vreduce,
    /* ---- optimizers ---- */
    .optim = &cg__optim_opencl,
    /* ---- whole loops ---- */
    .loop_fits = cg__cl_loop_fits,
    .loop_run = cg__cl_loop_run,
};
