/* Matrix product (matmul.cl): op(a) @ op(b) for 2-D tensors, and its
 * backward: da += gy @ op(b)^T, db += op(a)^T @ gy, with the transposes
 * folded into the kernel's operand reads. */
#include <stdio.h>

#include "internal.h"
#include "ref/ops_ref.h"

#define TILE 16

/* dst [cols, rows] = src [rows, cols]^T */
static cg_tensor *transposed(cg_context *ctx, const cg_tensor *src, size_t rows, size_t cols)
{
    cg_tensor *t = cg__tensor_new(ctx, CG_SHAPE(cols, rows), false, "cg_matmul");
    cl_kernel k = cg__kernel(ctx, CG__PROGRAM_MATMUL, NULL, "cg_transpose");
    cl_uint r = (cl_uint)rows, c = (cl_uint)cols;
    if (t && k &&
        !cg__set_args(ctx, k, "cg_matmul", sizeof(cl_mem), &src->mem, sizeof r, &r, sizeof c, &c,
                      sizeof(cl_mem), &t->mem, (size_t)0))
        cg__launch_n(ctx, k, rows * cols, "cg_matmul");
    return t;
}

/* CPU devices: strips of 16 columns per work-item over untransposed operands
 * (a transpose costs O(size), the product O(M N K)). */
static cg_status gemm_strips(cg_context *ctx, const cg_tensor *A, bool ta, const cg_tensor *B,
                             bool tb, cg_tensor *C, size_t M, size_t N, size_t K, bool accumulate)
{
    cg_tensor *at = ta ? transposed(ctx, A, K, M) : NULL, *bt = tb ? transposed(ctx, B, N, K) : NULL;
    const cg_tensor *a = at ? at : A, *b = bt ? bt : B;
    cl_kernel k = cg__kernel(ctx, CG__PROGRAM_MATMUL, NULL, "cg_matmul_strips");
    cl_uint m = (cl_uint)M, n = (cl_uint)N, kk = (cl_uint)K;
    cl_int acc = accumulate;
    if (k && !ctx->status &&
        !cg__set_args(ctx, k, "cg_matmul", sizeof(cl_mem), &a->mem, sizeof(cl_mem), &b->mem,
                      sizeof(cl_mem), &C->mem, sizeof m, &m, sizeof n, &n, sizeof kk, &kk,
                      sizeof acc, &acc, (size_t)0)) {
        const size_t global[2] = {(N + 15) / 16, (M + 3) / 4}, local[2] = {1, 1};
        cg__launch2d(ctx, k, global, local, "cg_matmul");
    }
    cg__tensor_destroy(at); /* in-order queue: after the product */
    cg__tensor_destroy(bt);
    return ctx->status;
}

/* C (+)= op(A) @ op(B), C [M,N], inner dimension K. */
static cg_status gemm(cg_context *ctx, const cg_tensor *A, bool ta, const cg_tensor *B, bool tb,
                      cg_tensor *C, size_t M, size_t N, size_t K, bool accumulate)
{
    if (ctx->status) return ctx->status;
    if (ctx->is_ref) {
        cg__ref_matmul(A->host, B->host, C->host, M, N, K, ta, tb, accumulate);
        return CG_OK;
    }
    if (!ctx->gpu_shapes) return gemm_strips(ctx, A, ta, B, tb, C, M, N, K, accumulate);
    cl_kernel k = cg__kernel(ctx, CG__PROGRAM_MATMUL, NULL, "cg_matmul");
    cl_uint m = (cl_uint)M, n = (cl_uint)N, kk = (cl_uint)K;
    cl_int ita = ta, itb = tb, acc = accumulate;
    if (!k || cg__set_args(ctx, k, "cg_matmul", sizeof(cl_mem), &A->mem, sizeof(cl_mem), &B->mem,
                           sizeof(cl_mem), &C->mem, sizeof m, &m, sizeof n, &n, sizeof kk, &kk,
                           sizeof ita, &ita, sizeof itb, &itb, sizeof acc, &acc, (size_t)0))
        return ctx->status;
    const size_t global[2] = {N, M}, local[2] = {TILE, TILE};
    return cg__launch2d(ctx, k, global, local, "cg_matmul");
}

static void matmul_backward_rule(cg_context *ctx, cg__node *node)
{
    cg_tensor *a = node->in[0], *b = node->in[1], *gy = node->out->grad;
    bool ta = node->flag_a, tb = node->flag_b;
    size_t M = gy->shape.dims[0], N = gy->shape.dims[1], K = node->ia;
    cg_tensor *ga = cg__grad(a), *gb = cg__grad(b);
    /* y = A' B' with A' = op(a), B' = op(b); dA' = gy B'^T, dB' = A'^T gy. */
    if (ga) {
        if (!ta) /* ga [M,K] += gy [M,N] @ B'^T */
            gemm(ctx, gy, false, b, !tb, ga, M, K, N, true);
        else /* ga [K,M] += (gy B'^T)^T = B' gy^T */
            gemm(ctx, b, tb, gy, true, ga, K, M, N, true);
    }
    if (gb) {
        if (!tb) /* gb [K,N] += A'^T @ gy */
            gemm(ctx, a, !ta, gy, false, gb, K, N, M, true);
        else /* gb [N,K] += (A'^T gy)^T = gy^T A' */
            gemm(ctx, gy, true, a, ta, gb, N, K, M, true);
    }
}

cg_tensor *cg_matmul(cg_tensor *a, cg_tensor *b, bool transpose_a, bool transpose_b)
{
    cg_tensor *ts[2] = {a, b};
    cg_context *ctx = cg__op_context("cg_matmul", ts, 2);
    if (!ctx || !cg__plain_all(ts, 2, "cg_matmul")) return NULL;
    a = ts[0];
    b = ts[1];
    char as[64], bs[64];
    cg__shape_format(a->shape, as, sizeof as);
    cg__shape_format(b->shape, bs, sizeof bs);
    if (a->shape.ndim != 2 || b->shape.ndim != 2) {
        cg__fail(ctx, CG_ERROR_SHAPE_MISMATCH, "cg_matmul: needs 2-D tensors: %s x %s", as, bs);
        return NULL;
    }
    size_t M = transpose_a ? a->shape.dims[1] : a->shape.dims[0];
    size_t K = transpose_a ? a->shape.dims[0] : a->shape.dims[1];
    size_t Kb = transpose_b ? b->shape.dims[1] : b->shape.dims[0];
    size_t N = transpose_b ? b->shape.dims[0] : b->shape.dims[1];
    if (K != Kb) {
        cg__fail(ctx, CG_ERROR_SHAPE_MISMATCH, "cg_matmul: inner dimensions differ: %s%s x %s%s",
                 as, transpose_a ? "^T" : "", bs, transpose_b ? "^T" : "");
        return NULL;
    }
    cg_tensor *out = cg__op_output(ctx, CG_SHAPE(M, N), ts, 2, "cg_matmul");
    if (!out || gemm(ctx, a, transpose_a, b, transpose_b, out, M, N, K, false)) return NULL;
    cg__node *node = cg__record(ctx, out, matmul_backward_rule, a, b);
    if (node) {
        node->flag_a = transpose_a;
        node->flag_b = transpose_b;
        node->ia = K;
    }
    return ctx->status ? NULL : out;
}
