/* Element-wise ops (elementwise.cl): unary ops with a scalar parameter, and
 * add/sub/mul/div with NumPy broadcasting. Each op's backward rule sits
 * beside its forward; a broadcast input's gradient is summed back to its
 * shape (cg__sum_to, reduce.c). */
#include <stdio.h>
#include <string.h>

#include "../kernels/ops.clh"
#include "internal.h"
#include "ref/ops_ref.h"

/* ---- launches (device) or loops (reference) ----------------------------- */

static cl_kernel kernel(cg_context *ctx, const char *name)
{
    return cg__kernel(ctx, CG__PROGRAM_ELEMENTWISE, NULL, name);
}

/* The op-specialized build of a kernel (see elementwise.cl, CG_OP). */
static cl_kernel op_kernel(cg_context *ctx, const char *name, int op)
{
    char options[24];
    snprintf(options, sizeof options, "-DCG_OP=%d", op);
    return cg__kernel(ctx, CG__PROGRAM_ELEMENTWISE, options, name);
}

/* ... and per operand layout for the binary kernels (CG_LA, CG_LB). */
static cl_kernel binary_kernel(cg_context *ctx, const char *name, int op, int la, int lb)
{
    char options[48];
    snprintf(options, sizeof options, "-DCG_OP=%d -DCG_LA=%d -DCG_LB=%d", op, la, lb);
    return cg__kernel(ctx, CG__PROGRAM_ELEMENTWISE, options, name);
}

cg_status cg__unary_into(cg_context *ctx, int op, const cg_tensor *x, cg_tensor *y, float s)
{
    if (ctx->status) return ctx->status;
    if (ctx->is_ref) {
        cg__ref_unary(op, x->host, y->host, s, x->numel);
        return CG_OK;
    }
    cl_kernel k = op_kernel(ctx, "cg_unary", op);
    cl_uint n = (cl_uint)x->numel;
    cl_int o = op;
    if (!k || cg__set_args(ctx, k, "cg_unary", sizeof o, &o, sizeof(cl_mem), &x->mem,
                           sizeof(cl_mem), &y->mem, sizeof s, &s, sizeof n, &n, (size_t)0))
        return ctx->status;
    return cg__launch_n(ctx, k, n, "cg_unary");
}

static cg_status unary_backward(cg_context *ctx, int op, const cg_tensor *x, const cg_tensor *y,
                                const cg_tensor *gy, cg_tensor *gx, float s)
{
    if (ctx->is_ref) {
        cg__ref_unary_backward(op, x->host, y->host, gy->host, gx->host, s, x->numel);
        return CG_OK;
    }
    cl_kernel k = op_kernel(ctx, "cg_unary_backward", op);
    cl_uint n = (cl_uint)x->numel;
    cl_int o = op;
    if (!k || cg__set_args(ctx, k, "cg_unary_backward", sizeof o, &o, sizeof(cl_mem), &x->mem,
                           sizeof(cl_mem), &y->mem, sizeof(cl_mem), &gy->mem, sizeof(cl_mem),
                           &gx->mem, sizeof s, &s, sizeof n, &n, (size_t)0))
        return ctx->status;
    return cg__launch_n(ctx, k, n, "cg_unary_backward");
}

cg_status cg__accumulate(cg_context *ctx, const cg_tensor *src, cg_tensor *dst)
{
    if (ctx->status) return ctx->status;
    if (ctx->is_ref) {
        cg__ref_axpy(dst->host, 1.0f, src->host, dst->numel);
        return CG_OK;
    }
    cl_kernel k = kernel(ctx, "cg_axpy");
    cl_uint n = (cl_uint)dst->numel;
    float one = 1.0f;
    if (!k || cg__set_args(ctx, k, "cg_axpy", sizeof(cl_mem), &dst->mem, sizeof one, &one,
                           sizeof(cl_mem), &src->mem, sizeof n, &n, (size_t)0))
        return ctx->status;
    return cg__launch_n(ctx, k, n, "cg_axpy");
}

cg_status cg_add_scaled_(cg_tensor *dst, float alpha, const cg_tensor *src)
{
    cg_tensor *ts[2] = {dst, (cg_tensor *)src};
    cg_context *ctx = cg__op_context("cg_add_scaled_", ts, 2);
    if (!ctx) return dst ? dst->ctx->status : src ? src->ctx->status : CG_ERROR_NULL_POINTER;
    if (dst->numel != src->numel) {
        char a[64], b[64];
        cg__shape_format(dst->shape, a, sizeof a);
        cg__shape_format(src->shape, b, sizeof b);
        return cg__fail(ctx, CG_ERROR_SHAPE_MISMATCH, "cg_add_scaled_: shapes differ: %s and %s",
                        a, b);
    }
    if (ctx->is_ref) {
        cg__ref_axpy(dst->host, alpha, src->host, dst->numel);
        return CG_OK;
    }
    cl_kernel k = kernel(ctx, "cg_axpy");
    cl_uint n = (cl_uint)dst->numel;
    if (!k || cg__set_args(ctx, k, "cg_add_scaled_", sizeof(cl_mem), &dst->mem, sizeof alpha,
                           &alpha, sizeof(cl_mem), &src->mem, sizeof n, &n, (size_t)0))
        return ctx->status;
    return cg__launch_n(ctx, k, n, "cg_add_scaled_");
}

/* ---- unary ops ---------------------------------------------------------- */

static void unary_backward_rule(cg_context *ctx, cg__node *node)
{
    cg_tensor *x = node->in[0], *gx = cg__grad(x);
    if (gx) unary_backward(ctx, node->op, x, node->out, node->out->grad, gx, node->scalar);
}

static cg_tensor *unary(const char *what, int op, cg_tensor *x, float s)
{
    cg_context *ctx = cg__op_context(what, &x, 1);
    if (!ctx) return NULL;
    cg_tensor *y = cg__op_output(ctx, x->shape, &x, 1, what);
    if (!y || cg__unary_into(ctx, op, x, y, s)) return NULL;
    cg__node *node = cg__record(ctx, y, unary_backward_rule, x, NULL);
    if (node) {
        node->op = op;
        node->scalar = s;
    }
    return ctx->status ? NULL : y;
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

/* Shapes padded on the left to 4 dims; strides are 0 where broadcast. */
typedef struct bcast {
    cg_shape out;
    cl_uint4 dims, sa, sb;
    uint32_t adims[4], bdims[4];
    cl_int la, lb; /* CG_LAYOUT_* of elementwise.cl: 0 general, 1 same, 2 scalar */
} bcast;

static cl_int layout(const uint32_t d[4], const uint32_t od[4])
{
    if (d[0] * d[1] * d[2] * d[3] == 1) return 2;
    for (int i = 0; i < 4; i++)
        if (d[i] != od[i]) return 0;
    return 1;
}

static bool broadcast(cg_context *ctx, const char *what, cg_shape a, cg_shape b, bcast *r)
{
    int nd = a.ndim > b.ndim ? a.ndim : b.ndim;
    uint32_t ad[4], bd[4], od[4];
    for (int i = 0; i < 4; i++) {
        int ia = i - (4 - a.ndim), ib = i - (4 - b.ndim);
        ad[i] = ia >= 0 ? (uint32_t)a.dims[ia] : 1;
        bd[i] = ib >= 0 ? (uint32_t)b.dims[ib] : 1;
        if (ad[i] != bd[i] && ad[i] != 1 && bd[i] != 1) {
            char as[64], bs[64];
            cg__shape_format(a, as, sizeof as);
            cg__shape_format(b, bs, sizeof bs);
            cg__fail(ctx, CG_ERROR_SHAPE_MISMATCH,
                     "%s: shapes %s and %s do not broadcast (dimension %d: %u vs %u)", what, as,
                     bs, i - (4 - nd), ad[i], bd[i]);
            return false;
        }
        od[i] = ad[i] > bd[i] ? ad[i] : bd[i];
    }
    r->out.ndim = nd;
    for (int i = 0; i < nd; i++) r->out.dims[i] = od[4 - nd + i];
    for (int i = nd; i < CG_MAX_DIMS; i++) r->out.dims[i] = 0;
    uint32_t stride_a = 1, stride_b = 1;
    for (int i = 3; i >= 0; i--) {
        r->dims.s[i] = od[i];
        r->sa.s[i] = ad[i] == 1 ? 0 : stride_a;
        r->sb.s[i] = bd[i] == 1 ? 0 : stride_b;
        stride_a *= ad[i];
        stride_b *= bd[i];
        r->adims[i] = ad[i];
        r->bdims[i] = bd[i];
    }
    r->la = layout(ad, od);
    r->lb = layout(bd, od);
    return true;
}

static cg_status binary_launch(cg_context *ctx, int op, const cg_tensor *a, const cg_tensor *b,
                               cg_tensor *out, const bcast *bc)
{
    cl_uint n = (cl_uint)out->numel;
    if (ctx->is_ref) {
        cg__ref_binary(op, a->host, bc->sa.s, b->host, bc->sb.s, out->host, bc->dims.s, n);
        return CG_OK;
    }
    cl_kernel k = binary_kernel(ctx, "cg_binary", op, bc->la, bc->lb);
    cl_int o = op;
    if (!k || cg__set_args(ctx, k, "cg_binary", sizeof o, &o, sizeof(cl_mem), &a->mem,
                           sizeof bc->sa, &bc->sa, sizeof(cl_mem), &b->mem, sizeof bc->sb, &bc->sb,
                           sizeof(cl_mem), &out->mem, sizeof bc->dims, &bc->dims, sizeof n, &n,
                           sizeof bc->la, &bc->la, sizeof bc->lb, &bc->lb, (size_t)0))
        return ctx->status;
    return cg__launch_n(ctx, k, n, "cg_binary");
}

static cg_status binary_grad_launch(cg_context *ctx, int op, int which, const cg_tensor *a,
                                    const cg_tensor *b, const cg_tensor *gy, cg_tensor *dst,
                                    const bcast *bc, bool accumulate)
{
    cl_uint n = (cl_uint)gy->numel;
    cl_int o = op, w = which, acc = accumulate;
    if (ctx->is_ref) {
        cg__ref_binary_grad(op, which, a->host, bc->sa.s, b->host, bc->sb.s, gy->host, dst->host,
                            bc->dims.s, n, acc);
        return CG_OK;
    }
    cl_kernel k = binary_kernel(ctx, "cg_binary_grad", op, bc->la, bc->lb);
    if (!k || cg__set_args(ctx, k, "cg_binary_grad", sizeof o, &o, sizeof w, &w, sizeof(cl_mem),
                           &a->mem, sizeof bc->sa, &bc->sa, sizeof(cl_mem), &b->mem,
                           sizeof bc->sb, &bc->sb, sizeof(cl_mem), &gy->mem, sizeof(cl_mem),
                           &dst->mem, sizeof bc->dims, &bc->dims, sizeof n, &n, sizeof acc, &acc,
                           sizeof bc->la, &bc->la, sizeof bc->lb, &bc->lb, (size_t)0))
        return ctx->status;
    return cg__launch_n(ctx, k, n, "cg_binary_grad");
}

static void binary_backward_rule(cg_context *ctx, cg__node *node)
{
    cg_tensor *a = node->in[0], *b = node->in[1], *gy = node->out->grad;
    bcast bc;
    if (!broadcast(ctx, "cg_backward", a->shape, b->shape, &bc)) return;
    for (int which = 0; which < 2 && !ctx->status; which++) {
        cg_tensor *x = which ? b : a, *gx = cg__grad(x);
        if (!gx) continue;
        if (x->numel == gy->numel) { /* nothing broadcast: straight into x's grad */
            binary_grad_launch(ctx, node->op, which, a, b, gy, gx, &bc, true);
            continue;
        }
        /* The in-order queue lets the temporary go back to the pool at once. */
        cg_tensor *full = cg__tensor_new(ctx, gy->shape, false, "cg_backward");
        if (!full) return;
        binary_grad_launch(ctx, node->op, which, a, b, gy, full, &bc, false);
        cg__sum_to(ctx, full, gx);
        cg__tensor_destroy(full);
    }
}

static cg_tensor *binary(const char *what, int op, cg_tensor *a, cg_tensor *b)
{
    cg_tensor *ts[2] = {a, b};
    cg_context *ctx = cg__op_context(what, ts, 2);
    if (!ctx) return NULL;
    bcast bc;
    if (!broadcast(ctx, what, a->shape, b->shape, &bc)) return NULL;
    if (cg__shape_numel(bc.out) > 0xFFFFFFFFu) {
        cg__fail(ctx, CG_ERROR_UNSUPPORTED, "%s: more than 2^32-1 elements", what);
        return NULL;
    }
    cg_tensor *out = cg__op_output(ctx, bc.out, ts, 2, what);
    if (!out || binary_launch(ctx, op, a, b, out, &bc)) return NULL;
    cg__node *node = cg__record(ctx, out, binary_backward_rule, a, b);
    if (node) node->op = op;
    return ctx->status ? NULL : out;
}

cg_tensor *cg_add(cg_tensor *a, cg_tensor *b) { return binary("cg_add", CG_B_ADD, a, b); }
cg_tensor *cg_sub(cg_tensor *a, cg_tensor *b) { return binary("cg_sub", CG_B_SUB, a, b); }
cg_tensor *cg_mul(cg_tensor *a, cg_tensor *b) { return binary("cg_mul", CG_B_MUL, a, b); }
cg_tensor *cg_div(cg_tensor *a, cg_tensor *b) { return binary("cg_div", CG_B_DIV, a, b); }
