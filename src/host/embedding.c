/* The embedding lookup (rows of a weight by index) and its backward, dense
 * or row-sparse (torch.nn.Embedding(sparse=True)): repeated indices are
 * summed in the order they appear, so the result is the same every run. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct pos {
    unsigned row, at;
} pos;

static int cmp_pos(const void *a, const void *b)
{
    const pos *x = a, *y = b;
    if (x->row != y->row) return x->row < y->row ? -1 : 1;
    return (x->at > y->at) - (x->at < y->at); /* appearance order within a row */
}

/* Records out[map[u], :] += (in's rows as the layout says; see
 * CG__OP_EMBEDDING_GRAD), the node owning layout; false on error (layout
 * freed). */
static bool record(cg_context *ctx, cg_tensor *out, cg_tensor *in, unsigned *layout,
                   size_t count, size_t dim, size_t nu, bool rows_given)
{
    cg__node *n = cg__emit(ctx, CG__OP_EMBEDDING_GRAD, "cg_backward", out, in, NULL, NULL);
    if (!n) {
        free(layout);
        return false;
    }
    n->rows = layout;
    n->ia = count;
    n->ib = dim;
    n->ic = nu;
    n->flag_a = rows_given;
    return true;
}

/* The indices sorted by row on the host, once, as the rule records: the
 * node gets each touched row's target, where its repeats start, and their
 * positions in order of appearance, so the sums are the same every run. */
static void embedding_backward_rule(cg_context *ctx, cg__node *node)
{
    static const char what[] = "cg_backward";
    cg_tensor *w = node->in[0], *gy = node->out->grad;
    const size_t count = node->ia, dim = node->ib;
    pos *ps = cg__malloc(count * sizeof *ps);
    if (!ps) {
        cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory", what);
        return;
    }
    for (size_t i = 0; i < count; i++) ps[i] = (pos){node->rows[i], (unsigned)i};
    qsort(ps, count, sizeof *ps, cmp_pos);
    size_t nu = 0;
    for (size_t i = 0; i < count; i++) nu += i == 0 || ps[i].row != ps[i - 1].row;
    /* [map: nu][starts: nu + 1][positions: count]; map starts as the rows */
    unsigned *layout = cg__malloc((2 * nu + 1 + count) * sizeof *layout);
    if (!layout) {
        free(ps);
        cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory", what);
        return;
    }
    unsigned *map = layout, *starts = layout + nu, *positions = starts + nu + 1;
    for (size_t i = 0, u = 0; i < count; i++) {
        if (i == 0 || ps[i].row != ps[i - 1].row) {
            map[u] = ps[i].row;
            starts[u++] = (unsigned)i;
        }
        positions[i] = ps[i].at;
    }
    starts[nu] = (unsigned)count;
    free(ps);
    if (!w->sparse_grad) { /* dense: straight into the weight's gradient */
        cg_tensor *gw = cg__grad(w);
        if (gw) record(ctx, gw, gy, layout, count, dim, nu, false);
        else free(layout);
        return;
    }
    /* Row-sparse: the union of the rows seen so far and these, new values
     * made of the old ones and these rows' sums. */
    cg__sparse *old = w->sparse, *s = cg__calloc(1, sizeof *s);
    size_t n_old = old ? old->nrows : 0;
    unsigned *all = s ? cg__malloc((n_old + nu) * sizeof *all) : NULL;
    unsigned *map_old = cg__malloc((n_old + 1) * sizeof *map_old);
    if (!s || !all || !map_old) {
        free(s);
        free(all);
        free(map_old);
        free(layout);
        cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory", what);
        return;
    }
    size_t a = 0, b = 0, m = 0;
    while (a < n_old || b < nu) {
        unsigned ra = a < n_old ? old->rows[a] : ~0u, rb = b < nu ? map[b] : ~0u;
        unsigned r = ra < rb ? ra : rb;
        if (ra == r) map_old[a++] = (unsigned)m;
        if (rb == r) map[b++] = (unsigned)m; /* read above: a row becomes its place */
        all[m++] = r;
    }
    s->rows = all;
    s->nrows = m;
    s->dim = dim;
    s->values = cg_tensor_zeros(ctx, CG_SHAPE(m, dim));
    bool ok = s->values != NULL;
    if (old && ok) ok = record(ctx, s->values, old->values, map_old, n_old, dim, n_old, true);
    else free(map_old);
    if (ok) record(ctx, s->values, gy, layout, count, dim, nu, false);
    else free(layout);
    cg__sparse_free(old); /* the node that reads its values holds them */
    w->sparse = s;
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
