/* Element-wise ops (elementwise.cl): unary ops with a scalar parameter, and
 * add/sub/mul/div with NumPy broadcasting. Each op's backward rule sits
 * beside its forward; a broadcast input's gradient is summed back to its
 * shape (cg__sum_to, reduce.c). */
#include <stdio.h>
#include <string.h>

#include "../kernels/ops.clh"
#include "internal.h"

/* ---- nodes other files run at once ------------------------------------------ */

/* (The graph's references count, they do not change values: inputs taken
 * as const are referenced through a cast.) */
cg_status cg__unary_into(cg_context *ctx, int op, const cg_tensor *x, cg_tensor *y, float s)
{
    cg__node *n = cg__emit(ctx, CG__OP_UNARY, "clgrad", y, (cg_tensor *)x, NULL, NULL);
    if (!n) return ctx->status;
    n->op = op;
    n->scalar = s;
    return cg__realize(ctx);
}

/* dst += alpha * src, recorded (run with the graph). */
static cg_status axpy(cg_context *ctx, const char *what, cg_tensor *dst, float alpha,
                      cg_tensor *src)
{
    cg__node *n = cg__emit(ctx, CG__OP_AXPY, what, dst, src, NULL, NULL);
    if (n) n->scalar = alpha;
    return ctx->status;
}

cg_status cg__accumulate(cg_context *ctx, const cg_tensor *src, cg_tensor *dst)
{
    return axpy(ctx, "cg_backward", dst, 1.0f, (cg_tensor *)src) ? ctx->status : cg__realize(ctx);
}

cg_status cg_add_scaled_(cg_tensor *dst, float alpha, const cg_tensor *src)
{
    cg_tensor *ts[2] = {dst, (cg_tensor *)src};
    cg_context *ctx = cg__op_context("cg_add_scaled_", ts, 2);
    if (!ctx) return dst ? dst->ctx->status : src ? src->ctx->status : CG_ERROR_NULL_POINTER;
    if (!dst->plain)
        return cg__fail(ctx, CG_ERROR_UNSUPPORTED,
                        "cg_add_scaled_: dst is a view that is not contiguous; update its base "
                        "or a contiguous tensor");
    cg_tensor *s = cg__plain((cg_tensor *)src, "cg_add_scaled_");
    if (!s) return ctx->status;
    if (dst->numel != src->numel) {
        char a[64], b[64];
        cg__shape_format(dst->shape, a, sizeof a);
        cg__shape_format(src->shape, b, sizeof b);
        return cg__fail(ctx, CG_ERROR_SHAPE_MISMATCH, "cg_add_scaled_: shapes differ: %s and %s",
                        a, b);
    }
    /* In place: what the graph has recorded so far reads dst as it was. */
    return axpy(ctx, "cg_add_scaled_", dst, alpha, s) ? ctx->status : cg__realize(ctx);
}

/* ---- unary ops ---------------------------------------------------------- */

/* gx += gy * f'(x), from x, y = f(x) and gy. */
static void unary_backward_rule(cg_context *ctx, cg__node *node)
{
    cg_tensor *x = node->in[0], *gx = cg__grad(x);
    if (!gx) return;
    cg__node *n = cg__emit(ctx, CG__OP_UNARY_GRAD, "cg_backward", gx, x, node->out,
                           node->out->grad);
    if (!n) return;
    n->op = node->op;
    n->scalar = node->scalar;
}

static cg_tensor *unary(const char *what, int op, cg_tensor *x, float s)
{
    cg_context *ctx = cg__op_context(what, &x, 1);
    if (!ctx || !(x = cg__plain(x, what))) return NULL;
    cg_tensor *y = cg__op_output(ctx, x->shape, &x, 1, what);
    cg__node *node = y ? cg__emit(ctx, CG__OP_UNARY, what, y, x, NULL, NULL) : NULL;
    if (!node) return NULL;
    node->op = op;
    node->scalar = s;
    cg__differentiable(ctx, node, unary_backward_rule);
    return cg__submit(ctx) ? NULL : y;
}

cg_tensor *cg_neg(cg_tensor *x) { return unary("cg_neg", CG_U_NEG, x, 0.0f); }
cg_tensor *cg_add_scalar(cg_tensor *x, float s) { return unary("cg_add_scalar", CG_U_ADD_S, x, s); }
cg_tensor *cg_sub_scalar(cg_tensor *x, float s) { return unary("cg_sub_scalar", CG_U_SUB_S, x, s); }
cg_tensor *cg_rsub_scalar(cg_tensor *x, float s) { return unary("cg_rsub_scalar", CG_U_RSUB_S, x, s); }
cg_tensor *cg_mul_scalar(cg_tensor *x, float s) { return unary("cg_mul_scalar", CG_U_MUL_S, x, s); }
cg_tensor *cg_div_scalar(cg_tensor *x, float s) { return unary("cg_div_scalar", CG_U_DIV_S, x, s); }
cg_tensor *cg_rdiv_scalar(cg_tensor *x, float s) { return unary("cg_rdiv_scalar", CG_U_RDIV_S, x, s); }
cg_tensor *cg_pow_scalar(cg_tensor *x, float s) { return unary("cg_pow_scalar", CG_U_POW_S, x, s); }
cg_tensor *cg_square(cg_tensor *x) { return unary("cg_square", CG_U_SQUARE, x, 0.0f); }
cg_tensor *cg_sqrt(cg_tensor *x) { return unary("cg_sqrt", CG_U_SQRT, x, 0.0f); }
cg_tensor *cg_exp(cg_tensor *x) { return unary("cg_exp", CG_U_EXP, x, 0.0f); }
cg_tensor *cg_log(cg_tensor *x) { return unary("cg_log", CG_U_LOG, x, 0.0f); }
cg_tensor *cg_abs(cg_tensor *x) { return unary("cg_abs", CG_U_ABS, x, 0.0f); }
cg_tensor *cg_relu(cg_tensor *x) { return unary("cg_relu", CG_U_RELU, x, 0.0f); }
cg_tensor *cg_tanh(cg_tensor *x) { return unary("cg_tanh", CG_U_TANH, x, 0.0f); }
cg_tensor *cg_sigmoid(cg_tensor *x) { return unary("cg_sigmoid", CG_U_SIGMOID, x, 0.0f); }

/* The element-wise Huber function of a difference (loss.c builds on it). */
cg_tensor *cg__huber(cg_tensor *x, float delta);
cg_tensor *cg__huber(cg_tensor *x, float delta) { return unary("cg_huber_loss", CG_U_HUBER, x, delta); }

/* ---- broadcasting ------------------------------------------------------- */

#define NDIM CG_MAX_DIMS /* the kernels' padded rank (uint8 vectors) */

/* SAME needs a plain operand of the output's shape; SCALAR one element. */
static cl_int layout(const cg_tensor *t, const cl_uint d[NDIM], const cl_uint od[NDIM])
{
    if (t->numel == 1) return 2;
    if (!t->plain) return 0;
    for (int i = 0; i < NDIM; i++)
        if (d[i] != od[i]) return 0;
    return 1;
}

/* Pads x's extents and strides to NDIM dimensions; strides 0 where x
 * broadcasts. False when an index reaches past 2^32-1. */
static bool operand(const cg_tensor *x, const cl_uint od[NDIM], cl_uint dims[NDIM],
                    cl_uint strides[NDIM])
{
    int lead = NDIM - x->shape.ndim;
    size_t last = x->offset;
    for (int i = 0; i < NDIM; i++) {
        int s = i - lead;
        dims[i] = s >= 0 ? (cl_uint)x->shape.dims[s] : 1;
        strides[i] = s >= 0 && dims[i] == od[i] && dims[i] != 1 ? (cl_uint)x->strides[s] : 0;
        if (s >= 0) last += (x->shape.dims[s] - 1) * x->strides[s];
    }
    return last <= 0xFFFFFFFFu;
}

/* Merges neighbouring dimensions that both operands walk as one (each
 * stride the inner one times the inner extent: contiguous runs, or both
 * broadcast) and drops extents of 1, so the kernel divides once per
 * dimension left: [256, 1024] + [1024] stays 2-D, [2,3,4] + [2,3,4] becomes
 * 1-D. The elements each output reads are the same. r->rank: how many are
 * left (right-aligned). */
static void collapse(cg__bcast *r)
{
    cl_uint d[NDIM], sa[NDIM], sb[NDIM];
    int k = 0; /* entries, innermost first */
    for (int i = NDIM - 1; i >= 0; i--) {
        if (r->dims[i] == 1) continue;
        if (k > 0 && r->sa[i] == sa[k - 1] * d[k - 1] && r->sb[i] == sb[k - 1] * d[k - 1]) {
            d[k - 1] *= r->dims[i];
            continue;
        }
        d[k] = r->dims[i];
        sa[k] = r->sa[i];
        sb[k] = r->sb[i];
        k++;
    }
    for (int i = 0; i < NDIM; i++) {
        int e = NDIM - 1 - i; /* position i from the right */
        r->dims[e] = i < k ? d[i] : 1;
        r->sa[e] = i < k ? sa[i] : 0;
        r->sb[e] = i < k ? sb[i] : 0;
    }
    r->rank = k ? k : 1;
}

bool cg__broadcast(cg_context *ctx, const char *what, const cg_tensor *a, const cg_tensor *b,
                   cg__bcast *r)
{
    cg_shape as = a->shape, bs = b->shape;
    int nd = as.ndim > bs.ndim ? as.ndim : bs.ndim;
    cl_uint od[NDIM];
    for (int i = 0; i < NDIM; i++) {
        int ia = i - (NDIM - as.ndim), ib = i - (NDIM - bs.ndim);
        size_t ad = ia >= 0 ? as.dims[ia] : 1, bd = ib >= 0 ? bs.dims[ib] : 1;
        if (ad != bd && ad != 1 && bd != 1) {
            char sa[96], sb[96];
            cg__shape_format(as, sa, sizeof sa);
            cg__shape_format(bs, sb, sizeof sb);
            cg__fail(ctx, CG_ERROR_SHAPE_MISMATCH,
                     "%s: shapes %s and %s do not broadcast (dimension %d: %zu vs %zu)", what, sa,
                     sb, i - (NDIM - nd), ad, bd);
            return false;
        }
        od[i] = (cl_uint)(ad > bd ? ad : bd);
    }
    r->out.ndim = nd;
    for (int i = 0; i < CG_MAX_DIMS; i++) r->out.dims[i] = i < nd ? od[NDIM - nd + i] : 0;
    memcpy(r->dims, od, sizeof od);
    if (!operand(a, od, r->adims, r->sa) || !operand(b, od, r->bdims, r->sb)) {
        cg__fail(ctx, CG_ERROR_UNSUPPORTED, "%s: an operand reaches past 2^32-1 elements", what);
        return false;
    }
    r->oa = (cl_uint)a->offset;
    r->ob = (cl_uint)b->offset;
    r->la = layout(a, r->adims, od);
    r->lb = layout(b, r->bdims, od);
    collapse(r);
    return true;
}

static void binary_backward_rule(cg_context *ctx, cg__node *node)
{
    cg_tensor *a = node->in[0], *b = node->in[1], *gy = node->out->grad;
    for (int which = 0; which < 2 && !ctx->status; which++) {
        cg_tensor *x = which ? b : a, *gx = cg__grad(x);
        if (!gx) continue;
        bool direct = x->numel == gy->numel; /* nothing broadcast: straight into x's grad */
        cg_tensor *dst = direct ? gx : cg__tensor_new(ctx, gy->shape, false, "cg_backward");
        cg__node *n = dst ? cg__emit(ctx, CG__OP_BINARY_GRAD, "cg_backward", dst, a, b, gy) : NULL;
        if (n) {
            n->op = node->op;
            n->ia = (size_t)which;
            n->flag_a = direct;
        }
        if (!direct) { /* summed back to x's shape; the node keeps the temporary */
            cg__emit(ctx, CG__OP_SUM_TO, "cg_backward", gx, dst, NULL, NULL);
            cg__tensor_release(dst);
        }
    }
}

static cg_tensor *binary(const char *what, int op, cg_tensor *a, cg_tensor *b)
{
    cg_tensor *ts[2] = {a, b};
    cg_context *ctx = cg__op_context(what, ts, 2);
    if (!ctx) return NULL;
    cg__bcast bc;
    if (!cg__broadcast(ctx, what, a, b, &bc)) return NULL;
    if (cg__shape_numel(bc.out) > 0xFFFFFFFFu) {
        cg__fail(ctx, CG_ERROR_UNSUPPORTED, "%s: more than 2^32-1 elements", what);
        return NULL;
    }
    cg_tensor *out = cg__op_output(ctx, bc.out, ts, 2, what);
    cg__node *node = out ? cg__emit(ctx, CG__OP_BINARY, what, out, a, b, NULL) : NULL;
    if (!node) return NULL;
    node->op = op;
    cg__differentiable(ctx, node, binary_backward_rule);
    return cg__submit(ctx) ? NULL : out;
}

cg_tensor *cg_add(cg_tensor *a, cg_tensor *b) { return binary("cg_add", CG_B_ADD, a, b); }
cg_tensor *cg_sub(cg_tensor *a, cg_tensor *b) { return binary("cg_sub", CG_B_SUB, a, b); }
cg_tensor *cg_mul(cg_tensor *a, cg_tensor *b) { return binary("cg_mul", CG_B_MUL, a, b); }
cg_tensor *cg_div(cg_tensor *a, cg_tensor *b) { return binary("cg_div", CG_B_DIV, a, b); }
