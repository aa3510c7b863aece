/* The reference backend's reductions, clipping's steps and the embedding's
 * backward: the twins of cl_reduce.c as loops over host memory, with double
 * accumulation in every reduction (ref/ops_ref.c) except the embedding's row
 * sums, float in order of appearance as the kernels do them. */
#include <math.h>

#include "../internal.h"
#include "../ref/ops_ref.h"

/* Each output's sum in double, over the reduced elements in src's order (as
 * the 4-d loop it replaced did). */
static void sum_runs(const float *src, const cg__sum_run *runs, int n, float *dst)
{
    size_t stride[CG_MAX_DIMS], kept = 1, reduced = 1, s = 1;
    for (int j = n - 1; j >= 0; j--) {
        stride[j] = s;
        s *= runs[j].extent;
        if (runs[j].reduced) reduced *= runs[j].extent;
        else kept *= runs[j].extent;
    }
    for (size_t d = 0; d < kept; d++) {
        size_t base = 0, r = d;
        for (int j = n - 1; j >= 0; j--)
            if (!runs[j].reduced) {
                base += r % runs[j].extent * stride[j];
                r /= runs[j].extent;
            }
        double sum = 0.0;
        for (size_t q = 0; q < reduced; q++) {
            size_t at = base;
            r = q;
            for (int j = n - 1; j >= 0; j--)
                if (runs[j].reduced) {
                    at += r % runs[j].extent * stride[j];
                    r /= runs[j].extent;
                }
            sum += src[at];
        }
        dst[d] += (float)sum;
    }
}

/* dst[off] (+)= scale * the sum of all of src. */
static void sum_all(const cg_tensor *src, cg_tensor *dst, size_t off, float scale,
                    bool accumulate)
{
    float v = (float)cg__ref_sum(src->host, src->numel) * scale;
    dst->host[off] = accumulate ? dst->host[off] + v : v;
}

static cg_status sum_to(cg_context *ctx, const cg_tensor *src, cg_tensor *dst)
{
    cg__sum_run runs[CG_MAX_DIMS];
    int n = cg__sum_runs(ctx, src->shape, dst->shape, runs);
    if (n < 0) return ctx->status;
    if (dst->numel == 1) /* a full reduction: as the full sums */
        sum_all(src, dst, 0, 1.0f, true);
    else if (src->numel == dst->numel)
        cg__ref_axpy(dst->host, 1.0f, src->host, dst->numel);
    else
        sum_runs(src->host, runs, n, dst->host);
    return CG_OK;
}

/* Rows [starts[u], starts[u+1]) of gy at positions, summed in float in order
 * of appearance, added into dst's row map[u] (shape.cl's cg_rows_sum, then
 * cg_rows_scatter_add). */
static void embedding_grad(const cg__node *node)
{
    const size_t dim = node->ib, nu = node->ic;
    const unsigned *map = node->rows, *starts = map + nu, *positions = starts + nu + 1;
    const float *src = node->in[0]->host;
    float *dst = node->out->host;
    for (size_t u = 0; u < nu; u++)
        for (size_t c = 0; c < dim; c++) {
            float s;
            if (node->flag_a) { /* src already holds one row per target */
                s = src[u * dim + c];
            } else {
                s = 0.0f;
                for (unsigned k = starts[u]; k < starts[u + 1]; k++)
                    s += src[positions[k] * dim + c];
            }
            dst[map[u] * dim + c] += s;
        }
}

cg_status cg__ref_vreduce(cg_context *ctx, const cg_tensor *a, const cg_tensor *b, size_t n,
                          int kind, float *out)
{
    *out = NAN;
    if (ctx->status) return ctx->status;
    double acc = 0.0;
    float mx = 0.0f;
    for (size_t i = 0; i < n; i++) {
        if (kind == 0) acc += (double)a->host[i] * b->host[i];
        else if (kind == 1) acc += fabs(a->host[i]);
        else mx = fmaxf(mx, fabsf(a->host[i]));
    }
    *out = kind == 2 ? mx : (float)acc;
    return CG_OK;
}

cg_status cg__ref_reduce_exec(cg_context *ctx, cg__node *node)
{
    const cg_tensor *x = node->in[0];
    cg_tensor *out = node->out;
    switch (node->kind) {
    case CG__OP_REDUCE:
        if (node->ia == 1 && node->ic == 1)
            sum_all(x, out, node->id, node->scalar, node->flag_a);
        else
            cg__ref_sum_axis(x->host, out->host, node->ia, node->ib, node->ic, node->scalar);
        return CG_OK;
    case CG__OP_SUM_TO: return sum_to(ctx, x, out);
    case CG__OP_EXPAND_ADD:
        cg__ref_expand_add(x->host, out->host, node->ia, node->ib, node->ic, node->scalar);
        return CG_OK;
    case CG__OP_NORM2: out->host[node->ia] = cg__ref_norm2(x->host, x->numel); return CG_OK;
    case CG__OP_CLIP_TOTAL: {
        float total = cg__ref_norm2(x->host, x->numel);
        out->host[0] = total;
        out->host[1] = fminf(node->scalar / (total + 1e-6f), 1.0f);
        return CG_OK;
    }
    case CG__OP_SCALE_BY: {
        float factor = x->host[node->ia];
        for (size_t k = 0; k < out->numel; k++) out->host[k] *= factor;
        return CG_OK;
    }
    case CG__OP_CLAMP:
        for (size_t k = 0; k < out->numel; k++)
            out->host[k] = fminf(fmaxf(out->host[k], node->scalar), node->scalar_b);
        return CG_OK;
    case CG__OP_EMBEDDING_GRAD: embedding_grad(node); return CG_OK;
    default: break;
    }
    return cg__fail(ctx, CG_ERROR_UNSUPPORTED, "%s: the reference backend has no op %d",
                    node->what, (int)node->kind);
}
