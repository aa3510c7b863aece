/* The embedding lookup (rows of a weight by index) and its backward, dense
 * or row-sparse (torch.nn.Embedding(sparse=True)): repeated indices are
 * summed in the order they appear, so the result is the same every run. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Uploads n uints into a pooled buffer; NULL on error. */
static cl_mem upload(cg_context *ctx, const unsigned *v, size_t n, const char *what)
{
    cl_mem m = cg__buffer_get(ctx, (n ? n : 1) * sizeof(cl_uint), what);
    if (m && n && cg__write(ctx, m, 0, n * sizeof(cl_uint), v, true, what)) return NULL;
    return m;
}

static void put(cg_context *ctx, cl_mem m, size_t n)
{
    cg__buffer_put(ctx, m, (n ? n : 1) * sizeof(cl_uint));
}

static size_t pow2_ceil(size_t v)
{
    size_t p = 1;
    while (p < v) p *= 2;
    return p;
}

/* sums[u, :] = the rows of gy at positions[starts[u] .. starts[u+1]), in
 * the CPU shape one work-item per output, in the GPU shape work-groups of
 * (columns x repeats x rows) with a tree over the repeats (shape.cl). */
static void rows_sum(cg_context *ctx, const cg_tensor *gy, size_t dim, cl_mem st, cl_mem po,
                     const unsigned *starts, size_t nu, cg_tensor *sums, const char *what)
{
    cl_uint d = (cl_uint)dim, n = (cl_uint)nu;
    if (!ctx->gpu_shapes) {
        cl_kernel k = cg__kernel(ctx, CG__PROGRAM_SHAPE, NULL, "cg_rows_sum");
        if (k && !cg__set_args(ctx, k, what, sizeof(cl_mem), &gy->mem, sizeof d, &d,
                               sizeof(cl_mem), &st, sizeof(cl_mem), &po, sizeof n, &n,
                               sizeof(cl_mem), &sums->mem, (size_t)0))
            cg__launch_n(ctx, k, nu * dim, what);
        return;
    }
    cl_kernel k = cg__kernel(ctx, CG__PROGRAM_SHAPE, NULL, "cg_rows_sum_groups");
    if (!k) return;
    size_t most = 1; /* the most repeats of one row: how many items may share it */
    for (size_t u = 0; u < nu; u++)
        if (starts[u + 1] - starts[u] > most) most = starts[u + 1] - starts[u];
    size_t L = cg__group_size(ctx, k, 256, sizeof(float));
    size_t tc = pow2_ceil(dim) < 32 ? pow2_ceil(dim) : 32;
    if (tc > L) tc = L;
    size_t tk = pow2_ceil(most) < L / tc ? pow2_ceil(most) : L / tc;
    size_t tu = L / (tc * tk);
    size_t groups = (dim + tc - 1) / tc * ((nu + tu - 1) / tu);
    cl_uint c = (cl_uint)tc, kk = (cl_uint)tk, u = (cl_uint)tu;
    if (!cg__set_args(ctx, k, what, sizeof(cl_mem), &gy->mem, sizeof d, &d, sizeof(cl_mem), &st,
                      sizeof(cl_mem), &po, sizeof n, &n, sizeof(cl_mem), &sums->mem, sizeof c,
                      &c, sizeof kk, &kk, sizeof u, &u, L * sizeof(float), (const void *)NULL,
                      (size_t)0))
        cg__launch(ctx, k, groups * L, L, what);
}

/* dst[map[u], :] += src[u, :] for u < nsrc. */
static void scatter_add(cg_context *ctx, const cg_tensor *src, const unsigned *map, size_t nsrc,
                        size_t dim, cg_tensor *dst, const char *what)
{
    if (ctx->is_ref) {
        for (size_t u = 0; u < nsrc; u++)
            for (size_t c = 0; c < dim; c++) dst->host[map[u] * dim + c] += src->host[u * dim + c];
        return;
    }
    cl_kernel k = cg__kernel(ctx, CG__PROGRAM_SHAPE, NULL, "cg_rows_scatter_add");
    cl_mem m = upload(ctx, map, nsrc, what);
    cl_uint d = (cl_uint)dim, ns = (cl_uint)nsrc;
    if (k && m && !cg__set_args(ctx, k, what, sizeof(cl_mem), &src->mem, sizeof d, &d,
                                sizeof(cl_mem), &m, sizeof ns, &ns, sizeof(cl_mem), &dst->mem,
                                (size_t)0))
        cg__launch_n(ctx, k, nsrc * dim, what);
    put(ctx, m, nsrc);
}

typedef struct pos {
    unsigned row, at;
} pos;

static int cmp_pos(const void *a, const void *b)
{
    const pos *x = a, *y = b;
    if (x->row != y->row) return x->row < y->row ? -1 : 1;
    return (x->at > y->at) - (x->at < y->at); /* appearance order within a row */
}

static void embedding_backward_rule(cg_context *ctx, cg__node *node)
{
    static const char what[] = "cg_backward";
    cg_tensor *w = node->in[0], *gy = node->out->grad;
    const size_t count = node->ia, dim = node->ib;
    pos *ps = cg__malloc(count * sizeof *ps);
    unsigned *rows = cg__malloc(count * sizeof *rows), *starts = cg__malloc((count + 1) * sizeof *starts);
    unsigned *positions = cg__malloc(count * sizeof *positions);
    cg_tensor *sums = NULL;
    if (!ps || !rows || !starts || !positions) {
        cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory", what);
        goto out;
    }
    for (size_t i = 0; i < count; i++) ps[i] = (pos){node->rows[i], (unsigned)i};
    qsort(ps, count, sizeof *ps, cmp_pos);
    size_t nu = 0;
    for (size_t i = 0; i < count; i++) {
        if (i == 0 || ps[i].row != ps[i - 1].row) {
            rows[nu] = ps[i].row;
            starts[nu++] = (unsigned)i;
        }
        positions[i] = ps[i].at;
    }
    starts[nu] = (unsigned)count;
    /* Each touched row's sum, in order of appearance. */
    sums = cg__tensor_new(ctx, CG_SHAPE(nu, dim), false, what);
    if (!sums) goto out;
    if (ctx->is_ref) {
        for (size_t u = 0; u < nu; u++)
            for (size_t c = 0; c < dim; c++) {
                float s = 0.0f;
                for (unsigned k = starts[u]; k < starts[u + 1]; k++)
                    s += gy->host[positions[k] * dim + c];
                sums->host[u * dim + c] = s;
            }
    } else {
        cl_mem st = upload(ctx, starts, nu + 1, what), po = upload(ctx, positions, count, what);
        if (st && po) rows_sum(ctx, gy, dim, st, po, starts, nu, sums, what);
        put(ctx, st, nu + 1);
        put(ctx, po, count);
    }
    if (!w->sparse_grad) { /* dense: straight into the weight's gradient */
        cg_tensor *gw = cg__grad(w);
        if (gw) scatter_add(ctx, sums, rows, nu, dim, gw, what);
        goto out;
    }
    /* Row-sparse: the union of the rows seen so far and these. */
    cg__sparse *old = w->sparse, *s = cg__calloc(1, sizeof *s);
    size_t n_old = old ? old->nrows : 0;
    unsigned *all = s ? cg__malloc((n_old + nu) * sizeof *all) : NULL;
    unsigned *map_old = cg__malloc((n_old + 1) * sizeof *map_old), *map_new = cg__malloc((nu + 1) * sizeof *map_new);
    if (!s || !all || !map_old || !map_new) {
        free(s);
        free(all);
        free(map_old);
        free(map_new);
        cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory", what);
        goto out;
    }
    size_t a = 0, b = 0, m = 0;
    while (a < n_old || b < nu) {
        unsigned ra = a < n_old ? old->rows[a] : ~0u, rb = b < nu ? rows[b] : ~0u;
        unsigned r = ra < rb ? ra : rb;
        if (ra == r) map_old[a++] = (unsigned)m;
        if (rb == r) map_new[b++] = (unsigned)m;
        all[m++] = r;
    }
    s->rows = all;
    s->nrows = m;
    s->dim = dim;
    s->values = cg_tensor_zeros(ctx, CG_SHAPE(m, dim));
    if (s->values) {
        if (old) scatter_add(ctx, old->values, map_old, n_old, dim, s->values, what);
        scatter_add(ctx, sums, map_new, nu, dim, s->values, what);
    }
    free(map_old);
    free(map_new);
    cg__sparse_free(old);
    w->sparse = s;
out:
    cg__tensor_release(sums);
    free(ps);
    free(rows);
    free(starts);
    free(positions);
}

cg_tensor *cg_embedding(cg_tensor *weight, const unsigned *indices, size_t count)
{
    static const char what[] = "cg_embedding";
    cg_context *ctx = cg__op_context(what, &weight, 1);
    if (ctx && !weight->plain) {
        cg__fail(ctx, CG_ERROR_UNSUPPORTED,
                 "%s: the weight is a view that is not contiguous; pass the parameter itself",
                 what);
        return NULL;
    }
    if (!ctx) return NULL;
    if (weight->shape.ndim != 2) {
        char s[64];
        cg__shape_format(weight->shape, s, sizeof s);
        cg__fail(ctx, CG_ERROR_SHAPE_MISMATCH, "%s: the weight must be [num, dim] (got %s)", what,
                 s);
        return NULL;
    }
    if (!indices) {
        cg__fail(ctx, CG_ERROR_NULL_POINTER, "%s: indices is NULL", what);
        return NULL;
    }
    if (count == 0) {
        cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "%s: no indices", what);
        return NULL;
    }
    const size_t num = weight->shape.dims[0], dim = weight->shape.dims[1];
    for (size_t i = 0; i < count; i++)
        if (indices[i] >= num) {
            cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "%s: index %u is out of range (%zu rows)",
                     what, indices[i], num);
            return NULL;
        }
    cg_tensor *out = cg__op_output(ctx, CG_SHAPE(count, dim), &weight, 1, what);
    cg__node *node = out ? cg__emit(ctx, CG__OP_GATHER_ROWS, what, out, weight, NULL, NULL) : NULL;
    if (!node) return NULL;
    node->ia = count;
    node->ib = dim;
    /* Run later, and read by the backward: the node keeps its own copy. */
    if (!(node->rows = cg__malloc(count * sizeof *node->rows))) {
        cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory", what);
        return NULL;
    }
    memcpy(node->rows, indices, count * sizeof *indices);
    cg__differentiable(ctx, node, embedding_backward_rule);
    node->rule_runs_now = true; /* its backward launches kernels itself */
    return cg__submit(ctx) ? NULL : out;
}

cg_status cg_set_sparse_grad(cg_tensor *weight, bool sparse)
{
    if (!weight) return CG_ERROR_NULL_POINTER;
    if (weight->ctx->status) return weight->ctx->status;
    if (weight->shape.ndim != 2)
        return cg__fail(weight->ctx, CG_ERROR_SHAPE_MISMATCH,
                        "cg_set_sparse_grad: row-sparse gradients are for [num, dim] tensors");
    weight->sparse_grad = sparse;
    return CG_OK;
}

size_t cg_sparse_grad_rows(const cg_tensor *t, unsigned *rows, size_t cap)
{
    if (!t) return 0;
    if (!rows && cap > 0) {
        cg__fail(t->ctx, CG_ERROR_NULL_POINTER,
                 "cg_sparse_grad_rows: rows is NULL with cap %zu (cap 0 asks only the count)",
                 cap);
        return 0;
    }
    if (!t->sparse) return 0;
    for (size_t i = 0; i < t->sparse->nrows && i < cap; i++) rows[i] = t->sparse->rows[i];
    return t->sparse->nrows;
}

const cg_tensor *cg_sparse_grad_values(const cg_tensor *t)
{
    return t && t->sparse ? t->sparse->values : NULL;
}
