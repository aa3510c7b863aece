/* The OpenCL backend's reductions (reduce.cl), clipping's in-place steps
 * (elementwise.cl) and the embedding's backward (shape.cl): the nodes
 * CG__OP_REDUCE, SUM_TO, EXPAND_ADD, NORM2, CLIP_TOTAL, SCALE_BY, CLAMP and
 * EMBEDDING_GRAD, and the table's vreduce. Each reduction has two kernel
 * shapes (ctx->gpu_shapes): work-items over contiguous chunks or one per
 * output for CPUs; work-groups reading with coalesced strides and summing in
 * a local-memory tree for GPUs. Both are deterministic: every split and
 * every order is a function of the sizes and the device, never of timing.
 * The reference twin is ref_reduce.c. */
#include <math.h>
#include <string.h>

#include "../internal.h"

static cl_kernel kernel(cg_context *ctx, const char *name)
{
    return cg__kernel(ctx, CG__PROGRAM_REDUCE, NULL, name);
}

cl_uint cg__chunks(size_t n, size_t want, cl_uint *chunk)
{
    size_t c = (n + want - 1) / want;
    c = (c + 255) / 256 * 256;
    *chunk = (cl_uint)c;
    return (cl_uint)((n + c - 1) / c);
}

/* ---- GPU shapes: sizes ---------------------------------------------------- */

/* Local memory per work-item of the GPU shapes' trees: a (hi, lo) pair. */
#define TREE_BYTES (2 * sizeof(float))
/* Work-items per group the GPU shapes ask for; a kernel or device that
 * allows fewer gets fewer (cg__group_size). */
#define GROUP_WANT 256
/* Outputs adjacent in memory that one group reads side by side: a warp. */
#define TILE_INNER 32
/* Groups wanted per compute unit before a long reduction is split across
 * groups (then summed again), and the fewest elements each work-item of a
 * split reduction then reads. */
#define GROUPS_PER_CU 4
#define ITEM_MIN 16

static size_t min_z(size_t a, size_t b) { return a < b ? a : b; }
static size_t ceil_div(size_t a, size_t b) { return (a + b - 1) / b; }
static size_t pow2_ceil(size_t v)
{
    size_t p = 1;
    while (p < v) p *= 2;
    return p;
}

/* Slices to cut a reduction of len elements into, when `groups` work-groups
 * of `lanes` items per output would run otherwise. */
static size_t split_count(const cg_context *ctx, size_t groups, size_t len, size_t lanes)
{
    size_t cus = ctx->info.compute_units ? ctx->info.compute_units : 1;
    size_t want = cus * GROUPS_PER_CU;
    if (groups >= want) return 1;
    size_t s = min_z(ceil_div(want, groups), len / (lanes * ITEM_MIN));
    return s ? s : 1;
}

/* A group of cg_sum_tiles: ti outputs along inner by to along outer, tl
 * items on each output's len; ti tl to = L. */
typedef struct tiling {
    size_t ti, tl, to, tiles;
} tiling;

static tiling tile(size_t outer, size_t len, size_t inner, size_t L)
{
    tiling t;
    t.ti = min_z(pow2_ceil(inner), min_z(TILE_INNER, L));
    t.tl = min_z(pow2_ceil(len), L / t.ti);
    t.to = L / (t.ti * t.tl);
    t.tiles = ceil_div(inner, t.ti) * ceil_div(outer, t.to);
    return t;
}

static cg_status tiles_launch(cg_context *ctx, cl_kernel k, size_t L, cl_mem x, size_t outer,
                              size_t len, size_t inner, size_t slice, size_t slices,
                              const tiling *t, cl_mem out, size_t off, float scale,
                              bool accumulate, const char *what)
{
    cl_uint o = (cl_uint)outer, l = (cl_uint)len, i = (cl_uint)inner, sl = (cl_uint)slice;
    cl_uint ti = (cl_uint)t->ti, tl = (cl_uint)t->tl, to = (cl_uint)t->to, at = (cl_uint)off;
    cl_int acc = accumulate;
    if (cg__set_args(ctx, k, what, sizeof(cl_mem), &x, sizeof o, &o, sizeof l, &l, sizeof i, &i,
                     sizeof sl, &sl, sizeof ti, &ti, sizeof tl, &tl, sizeof to, &to,
                     sizeof(cl_mem), &out, sizeof at, &at, sizeof scale, &scale, sizeof acc, &acc,
                     L * TREE_BYTES, (const void *)NULL, (size_t)0))
        return ctx->status;
    return cg__launch(ctx, k, t->tiles * slices * L, L, what);
}

/* out[off + o inner + i] (+)= scale * sum_l x[o, l, i], GPU shape. When the
 * outputs alone would leave the device idle, len is cut into slices whose
 * [slices, outer, inner] partials the same kernel then sums. */
static cg_status sum_tiles(cg_context *ctx, cl_mem x, size_t outer, size_t len, size_t inner,
                           cl_mem out, size_t off, float scale, bool accumulate, const char *what)
{
    cl_kernel k = kernel(ctx, "cg_sum_tiles");
    if (!k) return ctx->status;
    size_t L = cg__group_size(ctx, k, GROUP_WANT, TREE_BYTES);
    tiling t = tile(outer, len, inner, L);
    size_t slices = split_count(ctx, t.tiles, len, t.tl);
    if (slices == 1)
        return tiles_launch(ctx, k, L, x, outer, len, inner, len, 1, &t, out, off, scale,
                            accumulate, what);
    size_t slice = ceil_div(len, slices);
    slices = ceil_div(len, slice);
    /* A split happens only for fewer tiles than the device wants groups,
     * so outer * inner <= tiles * L: the partials are small. */
    size_t bytes = slices * outer * inner * sizeof(float);
    cl_mem partials = cg__buffer_get(ctx, bytes, what);
    if (!partials) return ctx->status;
    tiling t2 = tile(1, slices, outer * inner, L);
    if (!tiles_launch(ctx, k, L, x, outer, len, inner, slice, slices, &t, partials, 0, 1.0f,
                      false, what))
        tiles_launch(ctx, k, L, partials, 1, slices, outer * inner, slices, 1, &t2, out, off,
                     scale, accumulate, what);
    cg__buffer_put(ctx, partials, bytes); /* in-order queue: safe */
    return ctx->status;
}

/* ---- sums ----------------------------------------------------------------- */

/* out (+)= scale * sum_l x[o, l, i] over [outer, len, inner], both shapes. */
static cg_status axis_sum(cg_context *ctx, cl_mem x, size_t outer, size_t len, size_t inner,
                          cl_mem out, float scale, bool accumulate, const char *what)
{
    if (ctx->gpu_shapes)
        return sum_tiles(ctx, x, outer, len, inner, out, 0, scale, accumulate, what);
    cl_kernel k = kernel(ctx, "cg_sum_axis");
    cl_uint o = (cl_uint)outer, l = (cl_uint)len, i = (cl_uint)inner;
    cl_int acc = accumulate;
    if (!k || cg__set_args(ctx, k, what, sizeof(cl_mem), &x, sizeof(cl_mem), &out, sizeof o, &o,
                           sizeof l, &l, sizeof i, &i, sizeof scale, &scale, sizeof acc, &acc,
                           (size_t)0))
        return ctx->status;
    return cg__launch_n(ctx, k, outer * inner, what);
}

bool cg__sum_split_of(cg_context *ctx, size_t n, cg__sum_split *s)
{
    memset(s, 0, sizeof *s);
    if (!ctx->gpu_shapes) {
        size_t cus = ctx->info.compute_units ? ctx->info.compute_units : 1;
        cl_uint chunk;
        s->parts = cg__chunks(n, cus * 4, &chunk);
        s->chunk = chunk;
        s->group = s->lanes = s->finish_lanes = 1;
        return true;
    }
    /* sum_tiles' choices for outer = inner = 1 */
    cl_kernel k = kernel(ctx, "cg_sum_tiles");
    if (!k) return false;
    size_t L = cg__group_size(ctx, k, GROUP_WANT, TREE_BYTES);
    tiling t = tile(1, n, 1, L);
    size_t slices = split_count(ctx, t.tiles, n, t.tl);
    s->group = L;
    s->lanes = t.tl;
    s->chunk = slices == 1 ? n : ceil_div(n, slices);
    s->parts = ceil_div(n, s->chunk);
    s->finish_lanes = s->parts > 1 ? tile(1, s->parts, 1, L).tl : 1;
    return true;
}

/* dst[off] (+)= scale * the sum of all of src. */
static cg_status sum_all(cg_context *ctx, const cg_tensor *src, cg_tensor *dst, size_t off,
                         float scale, bool accumulate)
{
    if (ctx->gpu_shapes)
        return sum_tiles(ctx, src->mem, 1, src->numel, 1, dst->mem, off, scale, accumulate,
                         "cg_sum");
    cg__sum_split split;
    cg__sum_split_of(ctx, src->numel, &split);
    cl_uint n = (cl_uint)src->numel, chunk = (cl_uint)split.chunk, o = (cl_uint)off;
    cl_uint parts = (cl_uint)split.parts;
    cl_int acc = accumulate;
    cl_kernel kp = kernel(ctx, "cg_sum_partials");
    cl_kernel kf = kernel(ctx, "cg_sum_finish");
    if (!kp || !kf) return ctx->status;
    cl_mem partials = cg__buffer_get(ctx, parts * sizeof(float), "cg_sum");
    if (!partials) return ctx->status;
    if (!cg__set_args(ctx, kp, "cg_sum", sizeof(cl_mem), &src->mem, sizeof n, &n, sizeof chunk,
                      &chunk, sizeof(cl_mem), &partials, (size_t)0) &&
        !cg__launch(ctx, kp, parts, 1, "cg_sum") &&
        !cg__set_args(ctx, kf, "cg_sum", sizeof(cl_mem), &partials, sizeof parts, &parts,
                      sizeof(cl_mem), &dst->mem, sizeof o, &o, sizeof scale, &scale, sizeof acc,
                      &acc, (size_t)0))
        cg__launch(ctx, kf, 1, 1, "cg_sum");
    cg__buffer_put(ctx, partials, parts * sizeof(float)); /* in-order queue: safe */
    return ctx->status;
}

/* CG__OP_REDUCE: out = scale * the sum of in[0] over [outer, len, inner]'s
 * len; a full sum lands at out[id], added when flag_a. */
static cg_status reduce(cg_context *ctx, const cg__node *node)
{
    size_t outer = node->ia, len = node->ib, inner = node->ic;
    if (outer == 1 && inner == 1)
        return sum_all(ctx, node->in[0], node->out, node->id, node->scalar, node->flag_a);
    return axis_sum(ctx, node->in[0]->mem, outer, len, inner, node->out->mem, node->scalar,
                    false, node->what);
}

/* ---- sum_to --------------------------------------------------------------- */

/* dst += src, same element count (the axpy kernel with alpha 1). */
static cg_status accumulate(cg_context *ctx, const cg_tensor *src, cg_tensor *dst,
                            const char *what)
{
    cl_kernel k = cg__kernel(ctx, CG__PROGRAM_ELEMENTWISE, NULL, "cg_axpy");
    cl_uint count = (cl_uint)dst->numel;
    float alpha = 1.0f;
    if (!k || cg__set_args(ctx, k, what, sizeof(cl_mem), &dst->mem, sizeof alpha, &alpha,
                           sizeof(cl_mem), &src->mem, sizeof count, &count, (size_t)0))
        return ctx->status;
    return cg__launch_n(ctx, k, count, what);
}

/* CG__OP_SUM_TO: one [outer, len, inner] sum per reduced run, innermost
 * first, through temporaries each smaller than the last; the common cases
 * ([K,R], [R,K], [K,R,K]) are one. */
static cg_status sum_to(cg_context *ctx, const cg_tensor *src, cg_tensor *dst)
{
    static const char what[] = "cg_backward";
    cg__sum_run runs[CG_MAX_DIMS];
    int n = cg__sum_runs(ctx, src->shape, dst->shape, runs);
    if (n < 0) return ctx->status;
    if (dst->numel == 1) /* a full reduction: the deterministic partial sums */
        return sum_all(ctx, src, dst, 0, 1.0f, true);
    if (src->numel == dst->numel) return accumulate(ctx, src, dst, what);
    cl_mem cur = src->mem, tmp = NULL;
    size_t tmp_bytes = 0;
    for (;;) {
        int j = n - 1;
        while (!runs[j].reduced) j--;
        size_t outer = 1, inner = 1, len = runs[j].extent;
        for (int k = 0; k < j; k++) outer *= runs[k].extent;
        for (int k = j + 1; k < n; k++) inner *= runs[k].extent;
        if (j > 0 && j + 1 < n) { /* the kept runs either side become one */
            runs[j - 1].extent *= runs[j + 1].extent;
            for (int k = j; k + 2 < n; k++) runs[k] = runs[k + 2];
            n -= 2;
        } else {
            for (int k = j; k + 1 < n; k++) runs[k] = runs[k + 1];
            n -= 1;
        }
        bool last = true;
        for (int k = 0; k < n; k++) last = last && !runs[k].reduced;
        size_t next_bytes = last ? 0 : outer * inner * sizeof(float);
        cl_mem next = last ? dst->mem : cg__buffer_get(ctx, next_bytes, what);
        if (next) axis_sum(ctx, cur, outer, len, inner, next, 1.0f, last, what);
        if (tmp) cg__buffer_put(ctx, tmp, tmp_bytes); /* in-order queue: safe */
        if (last || !next || ctx->status) {
            if (!last && next) cg__buffer_put(ctx, next, next_bytes);
            return ctx->status;
        }
        cur = tmp = next;
        tmp_bytes = next_bytes;
    }
}

/* CG__OP_EXPAND_ADD: gx[o, l, i] += scale * gy[o, i] over [ia, ib, ic]. */
static cg_status expand_add(cg_context *ctx, const cg__node *node)
{
    const cg_tensor *gy = node->in[0];
    cg_tensor *gx = node->out;
    size_t outer = node->ia, len = node->ib, inner = node->ic;
    float s = node->scalar;
    if (outer == 1 && inner == 1) { /* a full reduction: no index arithmetic */
        cl_kernel k = kernel(ctx, "cg_expand_all_add");
        cl_uint n = (cl_uint)gx->numel;
        if (k && !cg__set_args(ctx, k, node->what, sizeof(cl_mem), &gy->mem, sizeof(cl_mem),
                               &gx->mem, sizeof n, &n, sizeof s, &s, (size_t)0))
            cg__launch_n(ctx, k, n, node->what);
        return ctx->status;
    }
    cl_kernel k = kernel(ctx, "cg_expand_add");
    cl_uint o = (cl_uint)outer, l = (cl_uint)len, i = (cl_uint)inner;
    if (!k || cg__set_args(ctx, k, node->what, sizeof(cl_mem), &gy->mem, sizeof(cl_mem),
                           &gx->mem, sizeof o, &o, sizeof l, &l, sizeof i, &i, sizeof s, &s,
                           (size_t)0))
        return ctx->status;
    return cg__launch_n(ctx, k, gx->numel, node->what);
}

/* ---- 2-norms (clipping) and vector reductions (L-BFGS) --------------------- */

/* The CPU shapes' fixed number of partials: the same partials, so the same
 * bits, every run. */
enum { NORM_PARTS = 8, VREDUCE_PARTS = 8 };

/* CG__OP_NORM2: out[ia] = the 2-norm of in[0], partial (scale, sum) pairs
 * then a fixed-order combine. */
static cg_status norm2(cg_context *ctx, const cg__node *node)
{
    const cg_tensor *x = node->in[0];
    const char *what = node->what;
    bool gpu = ctx->gpu_shapes;
    cl_kernel kp = kernel(ctx, gpu ? "cg_norm_groups" : "cg_norm_partials");
    cl_kernel kf = kernel(ctx, gpu ? "cg_norm_finish_group" : "cg_norm_finish");
    if (!kp || !kf) return ctx->status;
    cl_uint n = (cl_uint)x->numel, at = (cl_uint)node->ia, chunk, parts;
    size_t L = 1, Lf = 1;
    if (gpu) {
        L = cg__group_size(ctx, kp, GROUP_WANT, TREE_BYTES);
        Lf = cg__group_size(ctx, kf, GROUP_WANT, TREE_BYTES);
        size_t slices = split_count(ctx, 1, n, L);
        chunk = (cl_uint)ceil_div(n ? n : 1, slices);
        parts = (cl_uint)ceil_div(n ? n : 1, chunk);
    } else {
        parts = cg__chunks(n, NORM_PARTS, &chunk);
    }
    size_t bytes = 2 * (size_t)parts * sizeof(float);
    cl_mem partials = cg__buffer_get(ctx, bytes, what);
    if (!partials) return ctx->status;
    /* The CPU kernels take no local argument: its size, 0, ends the list. */
    if (!cg__set_args(ctx, kp, what, sizeof(cl_mem), &x->mem, sizeof n, &n, sizeof chunk, &chunk,
                      sizeof(cl_mem), &partials, gpu ? L * TREE_BYTES : 0, (const void *)NULL,
                      (size_t)0) &&
        !cg__launch(ctx, kp, parts * L, L, what) &&
        !cg__set_args(ctx, kf, what, sizeof(cl_mem), &partials, sizeof parts, &parts,
                      sizeof(cl_mem), &node->out->mem, sizeof at, &at,
                      gpu ? Lf * TREE_BYTES : 0, (const void *)NULL, (size_t)0))
        cg__launch(ctx, kf, Lf, Lf, what);
    cg__buffer_put(ctx, partials, bytes); /* in-order queue: safe */
    return ctx->status;
}

cg_status cg__cl_vreduce(cg_context *ctx, const cg_tensor *a, const cg_tensor *b, size_t n,
                         int kind, float *out)
{
    static const char what[] = "lbfgs";
    *out = NAN;
    if (ctx->status) return ctx->status;
    bool gpu = ctx->gpu_shapes;
    cl_kernel kp = kernel(ctx, gpu ? "cg_vreduce_groups" : "cg_vreduce_partials");
    cl_kernel kf = kernel(ctx, gpu ? "cg_vreduce_groups" : "cg_vreduce_finish");
    if (!kp || !kf) return ctx->status;
    cl_uint nn = (cl_uint)n, chunk, parts;
    cl_int k = kind, kind2 = kind == 2 ? 2 : 3; /* finish: the max of maxima, else a sum */
    size_t L = 1;
    if (gpu) {
        L = cg__group_size(ctx, kp, GROUP_WANT, TREE_BYTES);
        size_t slices = split_count(ctx, 1, n, L);
        chunk = (cl_uint)ceil_div(n ? n : 1, slices);
        parts = (cl_uint)ceil_div(n ? n : 1, chunk);
    } else {
        parts = cg__chunks(n, VREDUCE_PARTS, &chunk);
    }
    const cl_mem bm = b ? b->mem : a->mem;
    cl_mem partials = cg__buffer_get(ctx, parts * sizeof(float), what);
    cl_mem result = cg__buffer_get(ctx, sizeof(float), what);
    if (partials && result &&
        !cg__set_args(ctx, kp, what, sizeof(cl_mem), &a->mem, sizeof(cl_mem), &bm, sizeof nn,
                      &nn, sizeof chunk, &chunk, sizeof k, &k, sizeof(cl_mem), &partials,
                      gpu ? L * TREE_BYTES : 0, (const void *)NULL, (size_t)0) &&
        !cg__launch(ctx, kp, parts * L, L, what)) {
        if (gpu)
            cg__set_args(ctx, kf, what, sizeof(cl_mem), &partials, sizeof(cl_mem), &partials,
                         sizeof parts, &parts, sizeof parts, &parts, sizeof kind2, &kind2,
                         sizeof(cl_mem), &result, L * TREE_BYTES, (const void *)NULL,
                         (size_t)0);
        else
            cg__set_args(ctx, kf, what, sizeof(cl_mem), &partials, sizeof parts, &parts,
                         sizeof k, &k, sizeof(cl_mem), &result, (size_t)0);
        if (!cg__launch(ctx, kf, L, L, what)) cg__read(ctx, result, 0, sizeof *out, out, true, what);
    }
    cg__buffer_put(ctx, partials, parts * sizeof(float));
    cg__buffer_put(ctx, result, sizeof(float));
    return ctx->status;
}

/* ---- clipping's steps ------------------------------------------------------ */

/* CG__OP_CLIP_TOTAL: out[0] = the norm of the norms in[0], out[1] the factor. */
static cg_status clip_total(cg_context *ctx, const cg__node *node)
{
    cl_kernel k = kernel(ctx, "cg_clip_total");
    cl_uint c = (cl_uint)node->in[0]->numel;
    float max_norm = node->scalar;
    if (!k || cg__set_args(ctx, k, node->what, sizeof(cl_mem), &node->in[0]->mem, sizeof c, &c,
                           sizeof max_norm, &max_norm, sizeof(cl_mem), &node->out->mem,
                           (size_t)0))
        return ctx->status;
    return cg__launch(ctx, k, 1, 1, node->what);
}

/* CG__OP_SCALE_BY: out *= in[0][ia], the factor read on the device. */
static cg_status scale_by(cg_context *ctx, const cg__node *node)
{
    cl_kernel k = cg__kernel(ctx, CG__PROGRAM_ELEMENTWISE, NULL, "cg_scale_by");
    cl_uint n = (cl_uint)node->out->numel, at = (cl_uint)node->ia;
    if (!k || cg__set_args(ctx, k, node->what, sizeof(cl_mem), &node->out->mem, sizeof n, &n,
                           sizeof(cl_mem), &node->in[0]->mem, sizeof at, &at, (size_t)0))
        return ctx->status;
    return cg__launch_n(ctx, k, n, node->what);
}

/* CG__OP_CLAMP: out = clamp(out, scalar, scalar_b) in place. */
static cg_status clamp(cg_context *ctx, const cg__node *node)
{
    cl_kernel k = cg__kernel(ctx, CG__PROGRAM_ELEMENTWISE, NULL, "cg_clamp_");
    cl_uint n = (cl_uint)node->out->numel;
    float lo = node->scalar, hi = node->scalar_b;
    if (!k || cg__set_args(ctx, k, node->what, sizeof(cl_mem), &node->out->mem, sizeof n, &n,
                           sizeof lo, &lo, sizeof hi, &hi, (size_t)0))
        return ctx->status;
    return cg__launch_n(ctx, k, n, node->what);
}

/* ---- the embedding's backward (shape.cl) ----------------------------------- */

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

/* sums[u, :] = the rows of gy at positions[starts[u] .. starts[u+1]), in
 * the CPU shape one work-item per output, in the GPU shape work-groups of
 * (columns x repeats x rows) with a tree over the repeats. */
static void rows_sum(cg_context *ctx, cl_mem gy, size_t dim, cl_mem st, cl_mem po,
                     const unsigned *starts, size_t nu, cl_mem sums, const char *what)
{
    cl_uint d = (cl_uint)dim, n = (cl_uint)nu;
    if (!ctx->gpu_shapes) {
        cl_kernel k = cg__kernel(ctx, CG__PROGRAM_SHAPE, NULL, "cg_rows_sum");
        if (k && !cg__set_args(ctx, k, what, sizeof(cl_mem), &gy, sizeof d, &d, sizeof(cl_mem),
                               &st, sizeof(cl_mem), &po, sizeof n, &n, sizeof(cl_mem), &sums,
                               (size_t)0))
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
    if (!cg__set_args(ctx, k, what, sizeof(cl_mem), &gy, sizeof d, &d, sizeof(cl_mem), &st,
                      sizeof(cl_mem), &po, sizeof n, &n, sizeof(cl_mem), &sums, sizeof c, &c,
                      sizeof kk, &kk, sizeof u, &u, L * sizeof(float), (const void *)NULL,
                      (size_t)0))
        cg__launch(ctx, k, groups * L, L, what);
}

/* dst[map[u], :] += src[u, :] for u < nsrc. */
static void scatter_add(cg_context *ctx, cl_mem src, const unsigned *map, size_t nsrc,
                        size_t dim, cl_mem dst, const char *what)
{
    cl_kernel k = cg__kernel(ctx, CG__PROGRAM_SHAPE, NULL, "cg_rows_scatter_add");
    cl_mem m = upload(ctx, map, nsrc, what);
    cl_uint d = (cl_uint)dim, ns = (cl_uint)nsrc;
    if (k && m && !cg__set_args(ctx, k, what, sizeof(cl_mem), &src, sizeof d, &d,
                                sizeof(cl_mem), &m, sizeof ns, &ns, sizeof(cl_mem), &dst,
                                (size_t)0))
        cg__launch_n(ctx, k, nsrc * dim, what);
    put(ctx, m, nsrc);
}

/* CG__OP_EMBEDDING_GRAD (internal.h has the layout of rows). */
static cg_status embedding_grad(cg_context *ctx, const cg__node *node)
{
    const size_t count = node->ia, dim = node->ib, nu = node->ic;
    const unsigned *map = node->rows, *starts = map + nu, *positions = starts + nu + 1;
    const char *what = node->what;
    if (node->flag_a) { /* in[0] already holds one row per target */
        scatter_add(ctx, node->in[0]->mem, map, nu, dim, node->out->mem, what);
        return ctx->status;
    }
    /* Each touched row's sum, in order of appearance, then into place. */
    size_t bytes = (nu * dim > 0 ? nu * dim : 1) * sizeof(float);
    cl_mem sums = cg__buffer_get(ctx, bytes, what);
    if (!sums) return ctx->status;
    cl_mem st = upload(ctx, starts, nu + 1, what), po = upload(ctx, positions, count, what);
    if (st && po) rows_sum(ctx, node->in[0]->mem, dim, st, po, starts, nu, sums, what);
    put(ctx, st, nu + 1);
    put(ctx, po, count);
    if (!ctx->status) scatter_add(ctx, sums, map, nu, dim, node->out->mem, what);
    cg__buffer_put(ctx, sums, bytes); /* in-order queue: safe */
    return ctx->status;
}

/* ---- the family's nodes ---------------------------------------------------- */

cg_status cg__cl_reduce_exec(cg_context *ctx, cg__node *node)
{
    switch (node->kind) {
    case CG__OP_REDUCE: return reduce(ctx, node);
    case CG__OP_SUM_TO: return sum_to(ctx, node->in[0], node->out);
    case CG__OP_EXPAND_ADD: return expand_add(ctx, node);
    case CG__OP_NORM2: return norm2(ctx, node);
    case CG__OP_CLIP_TOTAL: return clip_total(ctx, node);
    case CG__OP_SCALE_BY: return scale_by(ctx, node);
    case CG__OP_CLAMP: return clamp(ctx, node);
    case CG__OP_EMBEDDING_GRAD: return embedding_grad(ctx, node);
    default: break;
    }
    return cg__fail(ctx, CG_ERROR_UNSUPPORTED, "%s: the OpenCL backend has no op %d", node->what,
                    (int)node->kind);
}
