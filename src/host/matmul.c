/* Matrix product (matmul.cl): op(a) @ op(b) for 2-D tensors, and its
 * backward: da += gy @ op(b)^T, db += op(a)^T @ gy, with the transposes
 * folded into the kernel's operand reads. */
#include <stdio.h>

#include "internal.h"

/* C (+)= op(A) @ op(B), C [M,N], inner dimension K: a node. */
static cg__node *gemm(cg_context *ctx, const char *what, cg_tensor *A, bool ta, cg_tensor *B,
                      bool tb, cg_tensor *C, size_t M, size_t N, size_t K, bool accumulate)
{
    cg__node *n = cg__emit(ctx, CG__OP_MATMUL, what, C, A, B, NULL);
    if (!n) return NULL;
    n->flag_a = ta;
    n->flag_b = tb;
    n->ia = M;
    n->ib = N;
    n->ic = K;
    n->id = accumulate;
    return n;
}

static void matmul_backward_rule(cg_context *ctx, cg__node *node)
{
    cg_tensor *a = node->in[0], *b = node->in[1], *gy = node->out->grad;
    bool ta = node->flag_a, tb = node->flag_b;
    size_t M = gy->shape.dims[0], N = gy->shape.dims[1], K = node->ic;
    cg_tensor *ga = cg__grad(a), *gb = cg__grad(b);
    /* y = A' B' with A' = op(a), B' = op(b); dA' = gy B'^T, dB' = A'^T gy. */
    if (ga) {
        if (!ta) /* ga [M,K] += gy [M,N] @ B'^T */
            gemm(ctx, "cg_backward", gy, false, b, !tb, ga, M, K, N, true);
        else /* ga [K,M] += (gy B'^T)^T = B' gy^T */
            gemm(ctx, "cg_backward", b, tb, gy, true, ga, K, M, N, true);
    }
    if (gb) {
        if (!tb) /* gb [K,N] += A'^T @ gy */
            gemm(ctx, "cg_backward", a, !ta, gy, false, gb, K, N, M, true);
        else /* gb [N,K] += (A'^T gy)^T = gy^T A' */
            gemm(ctx, "cg_backward", gy, true, a, ta, gb, N, K, M, true);
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
    cg__node *node =
        out ? gemm(ctx, "cg_matmul", a, transpose_a, b, transpose_b, out, M, N, K, false) : NULL;
    if (!node) return NULL;
    cg__differentiable(ctx, node, matmul_backward_rule);
    return cg__submit(ctx) ? NULL : out;
}
