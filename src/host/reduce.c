/* Reductions (reduce.cl): sum and mean over all elements or one axis, the
 * sum of a broadcast gradient back to an operand's shape (cg__sum_to), the
 * 2-norms of clipping and L-BFGS's vector reductions, and the backward of
 * the sums. Each has two kernel shapes (ctx->gpu_shapes): work-items over
 * contiguous chunks or one per output for CPUs; work-groups reading with
 * coalesced strides and summing in a local-memory tree for GPUs. Both are
 * deterministic: every split and every order is a function of the sizes and
 * the device, never of timing. */
#include <math.h>
#include <stdio.h>

#include "internal.h"
#include "ref/ops_ref.h"

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

cg_status cg__sum_all_into(cg_context *ctx, const cg_tensor *src, cg_tensor *dst, size_t off,
                           float scale, bool accumulate)
{
    if (ctx->status) return ctx->status;
    if (ctx->is_ref) {
        float v = (float)cg__ref_sum(src->host, src->numel) * scale;
        dst->host[off] = accumulate ? dst->host[off] + v : v;
        return CG_OK;
    }
    if (ctx->gpu_shapes)
        return sum_tiles(ctx, src->mem, 1, src->numel, 1, dst->mem, off, scale, accumulate,
                         "cg_sum");
    size_t cus = ctx->info.compute_units ? ctx->info.compute_units : 1;
    cl_uint n = (cl_uint)src->numel, chunk, o = (cl_uint)off;
    cl_uint parts = cg__chunks(n, cus * 4, &chunk);
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

/* ---- sum_to --------------------------------------------------------------- */

/* A run of adjacent dimensions of one kind, kept or reduced. */
typedef struct run {
    size_t extent;
    bool reduced;
} run;

/* src's dimensions as alternating runs (extent-1 dimensions dropped,
 * neighbours of one kind merged), dst right-aligned against src; -1 when
 * dst is not src's shape with some dimensions 1 or missing. */
static int runs_of(cg_shape src, cg_shape dst, run runs[CG_MAX_DIMS])
{
    int lead = src.ndim - dst.ndim, n = 0;
    if (lead < 0) return -1;
    for (int k = 0; k < src.ndim; k++) {
        size_t se = src.dims[k], de = k >= lead ? dst.dims[k - lead] : 1;
        if (de != se && de != 1) return -1;
        if (se == 1) continue;
        bool reduced = de == 1;
        if (n && runs[n - 1].reduced == reduced) runs[n - 1].extent *= se;
        else runs[n++] = (run){se, reduced};
    }
    return n;
}

/* The reference path: each output's sum in double, over the reduced
 * elements in src's order (as the 4-d loop it replaces did). */
static void ref_sum_runs(const float *src, const run *runs, int n, float *dst)
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

cg_status cg__sum_to(cg_context *ctx, const cg_tensor *src, cg_tensor *dst)
{
    static const char what[] = "cg_backward";
    if (ctx->status) return ctx->status;
    run runs[CG_MAX_DIMS];
    int n = runs_of(src->shape, dst->shape, runs);
    if (n < 0) {
        char a[64], b[64];
        cg__shape_format(src->shape, a, sizeof a);
        cg__shape_format(dst->shape, b, sizeof b);
        return cg__fail(ctx, CG_ERROR_SHAPE_MISMATCH, "%s: cannot sum a gradient of %s to %s",
                        what, a, b);
    }
    if (dst->numel == 1) /* a full reduction: the deterministic partial sums */
        return cg__sum_all_into(ctx, src, dst, 0, 1.0f, true);
    if (src->numel == dst->numel) return cg__accumulate(ctx, src, dst);
    if (ctx->is_ref) {
        ref_sum_runs(src->host, runs, n, dst->host);
        return CG_OK;
    }
    /* One [outer, len, inner] sum per reduced run, innermost first, through
     * temporaries each smaller than the last; the common cases ([K,R],
     * [R,K], [K,R,K]) are one. */
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

/* ---- 2-norms (clip.c) and vector reductions (lbfgs.c) ---------------------- */

/* The CPU shapes' fixed number of partials: the same partials, so the same
 * bits, every run. */
enum { NORM_PARTS = 8, VREDUCE_PARTS = 8 };

cg_status cg__norm2_into(cg_context *ctx, const cg_tensor *x, cg_tensor *dst, size_t off,
                         const char *what)
{
    if (ctx->status) return ctx->status;
    bool gpu = ctx->gpu_shapes;
    cl_kernel kp = kernel(ctx, gpu ? "cg_norm_groups" : "cg_norm_partials");
    cl_kernel kf = kernel(ctx, gpu ? "cg_norm_finish_group" : "cg_norm_finish");
    if (!kp || !kf) return ctx->status;
    cl_uint n = (cl_uint)x->numel, at = (cl_uint)off, chunk, parts;
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
                      sizeof(cl_mem), &dst->mem, sizeof at, &at, gpu ? Lf * TREE_BYTES : 0,
                      (const void *)NULL, (size_t)0))
        cg__launch(ctx, kf, Lf, Lf, what);
    cg__buffer_put(ctx, partials, bytes); /* in-order queue: safe */
    return ctx->status;
}

cg_status cg__vreduce(cg_context *ctx, const cg_tensor *a, const cg_tensor *b, size_t n,
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

/* ---- the ops -------------------------------------------------------------- */

/* [outer, len, inner] views of a reduction; scale is 1 or 1/len. Run by
 * the backends for CG__OP_EXPAND_ADD: gx[o, l, i] += scale * gy[o, i]. */
cg_status cg__expand_add_run(cg_context *ctx, const cg__node *node)
{
    const cg_tensor *gy = node->in[0];
    cg_tensor *gx = node->out;
    size_t outer = node->ia, len = node->ib, inner = node->ic;
    if (ctx->is_ref) {
        cg__ref_expand_add(gy->host, gx->host, outer, len, inner, node->scalar);
        return CG_OK;
    }
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

/* CG__OP_REDUCE: out = scale * the sum of in[0] over [outer, len, inner]'s len. */
cg_status cg__reduce_run(cg_context *ctx, const cg__node *node)
{
    const cg_tensor *x = node->in[0];
    cg_tensor *out = node->out;
    size_t outer = node->ia, len = node->ib, inner = node->ic;
    if (outer == 1 && inner == 1) return cg__sum_all_into(ctx, x, out, 0, node->scalar, false);
    if (ctx->is_ref) {
        cg__ref_sum_axis(x->host, out->host, outer, len, inner, node->scalar);
        return CG_OK;
    }
    return axis_sum(ctx, x->mem, outer, len, inner, out->mem, node->scalar, false, node->what);
}

static void expand_backward_rule(cg_context *ctx, cg__node *node)
{
    cg_tensor *gx = cg__grad(node->in[0]);
    if (!gx) return;
    cg__node *n = cg__emit(ctx, CG__OP_EXPAND_ADD, "cg_backward", gx, node->out->grad, NULL, NULL);
    if (!n) return;
    n->ia = node->ia;
    n->ib = node->ib;
    n->ic = node->ic;
    n->scalar = node->scalar;
}

static cg_tensor *reduce(const char *what, cg_tensor *x, int axis, bool all, bool keepdim,
                         bool mean)
{
    cg_context *ctx = cg__op_context(what, &x, 1);
    if (!ctx || !(x = cg__plain(x, what))) return NULL;
    size_t outer = 1, len = x->numel, inner = 1;
    cg_shape shape = {1, {1}};
    if (!all) {
        int ax = axis < 0 ? axis + x->shape.ndim : axis;
        if (ax < 0 || ax >= x->shape.ndim) {
            char a[64];
            cg__shape_format(x->shape, a, sizeof a);
            cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "%s: axis %d is out of range for %s", what,
                     axis, a);
            return NULL;
        }
        len = x->shape.dims[ax];
        for (int d = 0; d < ax; d++) outer *= x->shape.dims[d];
        for (int d = ax + 1; d < x->shape.ndim; d++) inner *= x->shape.dims[d];
        shape = x->shape;
        if (keepdim) {
            shape.dims[ax] = 1;
        } else if (x->shape.ndim == 1) {
            shape.dims[0] = 1; /* no 0-d tensors: a scalar is [1] */
        } else {
            for (int d = ax; d + 1 < x->shape.ndim; d++) shape.dims[d] = x->shape.dims[d + 1];
            shape.dims[--shape.ndim] = 0;
        }
    }
    const float scale = mean ? 1.0f / (float)len : 1.0f;
    cg_tensor *out = cg__op_output(ctx, shape, &x, 1, what);
    cg__node *node = out ? cg__emit(ctx, CG__OP_REDUCE, what, out, x, NULL, NULL) : NULL;
    if (!node) return NULL;
    node->ia = outer;
    node->ib = len;
    node->ic = inner;
    node->scalar = scale;
    cg__differentiable(ctx, node, expand_backward_rule);
    return cg__submit(ctx) ? NULL : out;
}

cg_tensor *cg_sum(cg_tensor *x) { return reduce("cg_sum", x, 0, true, false, false); }
cg_tensor *cg_mean(cg_tensor *x) { return reduce("cg_mean", x, 0, true, false, true); }
cg_tensor *cg_sum_axis(cg_tensor *x, int axis, bool keepdim)
{
    return reduce("cg_sum_axis", x, axis, false, keepdim, false);
}
cg_tensor *cg_mean_axis(cg_tensor *x, int axis, bool keepdim)
{
    return reduce("cg_mean_axis", x, axis, false, keepdim, true);
}
