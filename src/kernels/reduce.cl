/* reduce.cl: sums and means, over everything or over one axis, and their
 * backward (host: src/host/reduce.c). Deterministic: a fixed number of
 * partial sums in a fixed order, then a fixed final combine. What fixes a
 * sum's order (the compensated add, the blocks, the trees) is in
 * reduce_sum.clh, concatenated before this file and before the generated
 * kernels that fuse sums (backend/cl_fuse.c).
 *
 * CPU shapes (one work-item per contiguous chunk or per output):
 *   cg_sum_partials  partial[g] = sum of a contiguous chunk (blocks of
 *                    CG_RBLOCK in float, blocks added with compensation)
 *   cg_sum_finish    out[off] (+)= scale * sum(partials), in order
 *   cg_sum_axis      out[o, i] (+)= scale * sum_l x[o, l, i]
 *   cg_norm_partials, cg_norm_finish, cg_clip_total   gradient 2-norms for
 *                    clipping (clip.c), scaled so that no square overflows or
 *                    underflows: any float norm from denormals to FLT_MAX
 *   cg_vreduce_partials, cg_vreduce_finish   dot, sum |a|, max |a| (L-BFGS)
 * GPU shapes (work-groups with coalesced strided loops and a local-memory
 * tree, the layout of CLBlast's level-1 Xdot/Xasum/Xnrm2; see below):
 *   cg_sum_tiles     the [outer, len, inner] sums, full sums and sum_to
 *   cg_norm_groups, cg_norm_finish_group, cg_vreduce_groups
 * Both:
 *   cg_expand_add    gx[o, l, i] += scale * gy[o, i]  (backward of both)
 */
#pragma OPENCL FP_CONTRACT OFF

/* The sum of work-item g's chunk: blocks in float, blocks added with
 * compensation. */
inline float cg_chunk_sum(__global const float *x, uint n, uint chunk, uint g)
{
    uint begin = min(n, g * chunk), end = min(n, begin + chunk);
    float sum = 0.0f, comp = 0.0f;
    for (uint i = begin; i < end;) {
        uint block_end = min(end, i + CG_RBLOCK);
        float s = 0.0f;
        for (; i < block_end; i++) s += x[i];
        cg_comp_add(&sum, &comp, s);
    }
    return sum;
}

__kernel void cg_sum_partials(__global const float *x, const uint n, const uint chunk,
                              __global float *partials)
{
    uint g = get_global_id(0);
    partials[g] = cg_chunk_sum(x, n, chunk, g);
}

__kernel void cg_sum_finish(__global const float *partials, const uint nparts,
                            __global float *out, const uint off, const float scale,
                            const int accumulate)
{
    float sum = 0.0f, comp = 0.0f;
    for (uint g = 0; g < nparts; g++) cg_comp_add(&sum, &comp, partials[g]);
    float v = sum * scale;
    out[off] = accumulate ? out[off] + v : v;
}

__kernel void cg_sum_axis(__global const float *x, __global float *out, const uint outer,
                          const uint len, const uint inner, const float scale,
                          const int accumulate)
{
    uint gid = get_global_id(0);
    if (gid >= outer * inner) return;
    uint o = gid / inner, i = gid % inner;
    __global const float *p = x + (size_t)o * len * inner + i;
    float sum = 0.0f, comp = 0.0f;
    for (uint l = 0; l < len; l++) cg_comp_add(&sum, &comp, p[(size_t)l * inner]);
    float v = sum * scale;
    out[gid] = accumulate ? out[gid] + v : v;
}

__kernel void cg_expand_add(__global const float *gy, __global float *gx, const uint outer,
                            const uint len, const uint inner, const float scale)
{
    uint gid = get_global_id(0);
    if (gid >= outer * len * inner) return;
    uint i = gid % inner, o = gid / (len * inner);
    gx[gid] += scale * gy[o * inner + i];
}

/* The backward of a full reduction: every element gets the same value. */
__kernel void cg_expand_all_add(__global const float *gy, __global float *gx, const uint n,
                                const float scale)
{
    uint gid = get_global_id(0);
    if (gid < n) gx[gid] += scale * gy[0];
}

/* 2-norms without overflow or underflow (the idea of LAPACK's snrm2): the
 * squares are summed after scaling by a power of two, 2^-e with 2^e just above
 * the largest |x|, so each scaled square is below 1 and the scaling itself is
 * exact. A partial is the pair (e, s) with sum x^2 = s * 4^e. The scale is
 * applied as two factors so that each stays a normal float for any e. */
inline float cg_scaled_sumsq(__global const float *x, uint begin, uint end, int e)
{
    const float f1 = ldexp(1.0f, -e / 2), f2 = ldexp(1.0f, -e - (-e / 2));
    float sum = 0.0f, comp = 0.0f;
    for (uint i = begin; i < end;) {
        uint block_end = min(end, i + CG_RBLOCK);
        float s = 0.0f;
        for (; i < block_end; i++) {
            float v = (x[i] * f1) * f2;
            s += v * v;
        }
        cg_comp_add(&sum, &comp, s);
    }
    return sum;
}

/* The exponent e of the scale for values up to mx: mx = m 2^e, m in [0.5, 1).
 * inf and NaN keep e = 0: their square is the answer anyway. */
inline int cg_scale_exponent(float mx)
{
    int e = 0;
    if (mx > 0.0f && isfinite(mx)) frexp(mx, &e);
    return e;
}

__kernel void cg_norm_partials(__global const float *x, const uint n, const uint chunk,
                               __global float *partials)
{
    uint g = get_global_id(0);
    uint begin = min(n, g * chunk), end = min(n, begin + chunk);
    float mx = 0.0f;
    for (uint i = begin; i < end; i++) mx = fmax(mx, fabs(x[i])); /* NaN shows in the sum */
    int e = cg_scale_exponent(mx);
    partials[2 * g] = (float)e; /* an integer in [-148, 128]: exact */
    partials[2 * g + 1] = cg_scaled_sumsq(x, begin, end, e);
}

/* out[off] = the 2-norm from nparts (e, s) partials, combined in order at the
 * largest scale among the non-zero ones. */
__kernel void cg_norm_finish(__global const float *partials, const uint nparts,
                             __global float *out, const uint off)
{
    int top = INT_MIN;
    for (uint g = 0; g < nparts; g++)
        if (partials[2 * g + 1] != 0.0f) top = max(top, (int)partials[2 * g]);
    if (top == INT_MIN) { /* all zero */
        out[off] = 0.0f;
        return;
    }
    float sum = 0.0f, comp = 0.0f;
    for (uint g = 0; g < nparts; g++) {
        float s = partials[2 * g + 1];
        if (s != 0.0f) cg_comp_add(&sum, &comp, ldexp(s, 2 * ((int)partials[2 * g] - top)));
    }
    out[off] = ldexp(sqrt(sum), top);
}

/* clip_grad_norm_: the total 2-norm of the per-tensor norms (as torch stacks
 * them), scaled as above, and the factor min(1, max_norm / (total + 1e-6)).
 * out[0] = total, out[1] = factor. */
__kernel void cg_clip_total(__global const float *norms, const uint count, const float max_norm,
                            __global float *out)
{
    float mx = 0.0f;
    for (uint i = 0; i < count; i++) mx = fmax(mx, fabs(norms[i]));
    int e = cg_scale_exponent(mx);
    float total = ldexp(sqrt(cg_scaled_sumsq(norms, 0, count, e)), e);
    out[0] = total;
    out[1] = fmin(max_norm / (total + 1e-6f), 1.0f);
}

/* Vector reductions for LBFGS (lbfgs.c): kind 0 dot(a, b), 1 sum |a|,
 * 2 max |a|; partials over chunks, then a fixed-order finish. */
__kernel void cg_vreduce_partials(__global const float *a, __global const float *b,
                                  const uint n, const uint chunk, const int kind,
                                  __global float *partials)
{
    uint g = get_global_id(0);
    uint begin = min(n, g * chunk), end = min(n, begin + chunk);
    float sum = 0.0f, comp = 0.0f, mx = 0.0f;
    for (uint i = begin; i < end;) {
        uint block_end = min(end, i + CG_RBLOCK);
        float s = 0.0f;
        for (; i < block_end; i++) {
            if (kind == 0) s += a[i] * b[i];
            else if (kind == 1) s += fabs(a[i]);
            else mx = fmax(mx, fabs(a[i]));
        }
        cg_comp_add(&sum, &comp, s);
    }
    partials[g] = kind == 2 ? mx : sum;
}

__kernel void cg_vreduce_finish(__global const float *partials, const uint nparts, const int kind,
                                __global float *out)
{
    float sum = 0.0f, comp = 0.0f, mx = 0.0f;
    for (uint g = 0; g < nparts; g++) {
        if (kind == 2) mx = fmax(mx, partials[g]);
        else cg_comp_add(&sum, &comp, partials[g]);
    }
    out[0] = kind == 2 ? mx : sum;
}

/* ---- GPU shapes ----------------------------------------------------------
 * A work-group of L work-items (a power of two chosen by the host from the
 * kernel's and the device's limits) reads so that neighbouring work-items
 * read neighbouring addresses, each item accumulating its strided share with
 * compensation; then a tree in local memory halves the values log2 of their
 * count times, carrying each value as a float pair hi + lo whose additions
 * keep their rounding errors (Knuth's two-sum): as accurate as the CPU
 * shapes' compensated sums. The split and the tree's order depend only on
 * the sizes and L: the same bits on every run. Every work-item reaches every
 * barrier (the trees' trip counts are uniform; idle items carry zeros).
 * PoCL runs these slower than the CPU shapes (bench/bench_reduce.c): they are
 * for devices whose work-items run in lockstep over one memory bus.
 * scratch holds 2 L floats: hi[0..L), lo[L..2L). */

inline void cg_tree_max(__local float *scratch, uint lid, uint n)
{
    for (uint h = n / 2; h > 0; h >>= 1) {
        if (lid < h) scratch[lid] = fmax(scratch[lid], scratch[lid + h]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

/* out[off + (s outer + o) inner + i] (+)= scale * sum of x[o, l, i] over the
 * s-th slice of l, [s slice, (s+1) slice). A group is a tile of ti outputs
 * along i (neighbours in memory) by to outputs along o, with tl items
 * sharing each output's l (neighbours in memory when inner is 1); ti tl to
 * = L, tl a power of two. Groups enumerate (i tile, o tile, slice), i
 * fastest. With one slice the result is final; with several, the host sums
 * the [slices, outer, inner] partials with this kernel again. */
__kernel void cg_sum_tiles(__global const float *x, const uint outer, const uint len,
                           const uint inner, const uint slice, const uint ti_n, const uint tl_n,
                           const uint to_n, __global float *out, const uint off,
                           const float scale, const int accumulate, __local float *scratch)
{
    uint lid = get_local_id(0), g = get_group_id(0);
    uint ti = lid % ti_n, tl = (lid / ti_n) % tl_n, to = lid / (ti_n * tl_n);
    uint tiles_i = (inner + ti_n - 1) / ti_n, tiles_o = (outer + to_n - 1) / to_n;
    uint i = (g % tiles_i) * ti_n + ti;
    g /= tiles_i;
    uint o = (g % tiles_o) * to_n + to, s = g / tiles_o;
    uint begin = min(len, s * slice), end = min(len, begin + slice);
    bool mine = i < inner && o < outer;
    float sum = 0.0f, comp = 0.0f;
    if (mine) {
        __global const float *p = x + (size_t)o * len * inner + i;
        for (uint l = begin + tl; l < end;) {
            float b = 0.0f;
            for (uint j = 0; j < CG_TBLOCK && l < end; j++, l += tl_n) b += p[(size_t)l * inner];
            cg_comp_add(&sum, &comp, b);
        }
    }
    cg_tree_put(scratch, lid, sum, comp);
    barrier(CLK_LOCAL_MEM_FENCE);
    cg_tree_sum(scratch, lid, tl, tl_n, ti_n);
    if (mine && tl == 0) {
        size_t at = off + ((size_t)s * outer + o) * inner + i;
        float v = cg_tree_value(scratch, lid) * scale;
        out[at] = accumulate ? out[at] + v : v;
    }
}

/* The (e, s) partial of cg_norm_partials for group g's slice of x: first
 * the slice's largest |x| (a max tree), then the squares scaled by 2^-e. */
__kernel void cg_norm_groups(__global const float *x, const uint n, const uint slice,
                             __global float *partials, __local float *scratch)
{
    uint lid = get_local_id(0), L = get_local_size(0), g = get_group_id(0);
    uint begin = min(n, g * slice), end = min(n, begin + slice);
    float mx = 0.0f;
    for (uint i = begin + lid; i < end; i += L) mx = fmax(mx, fabs(x[i])); /* NaN: in the sum */
    scratch[lid] = mx;
    barrier(CLK_LOCAL_MEM_FENCE);
    cg_tree_max(scratch, lid, L);
    int e = cg_scale_exponent(scratch[0]);
    barrier(CLK_LOCAL_MEM_FENCE); /* all have read scratch[0] before it is reused */
    const float f1 = ldexp(1.0f, -e / 2), f2 = ldexp(1.0f, -e - (-e / 2));
    float sum = 0.0f, comp = 0.0f;
    for (uint i = begin + lid; i < end;) {
        float b = 0.0f;
        for (uint j = 0; j < CG_TBLOCK && i < end; j++, i += L) {
            float v = (x[i] * f1) * f2;
            b += v * v;
        }
        cg_comp_add(&sum, &comp, b);
    }
    cg_tree_put(scratch, lid, sum, comp);
    barrier(CLK_LOCAL_MEM_FENCE);
    cg_tree_sum(scratch, lid, lid, L, 1);
    if (lid == 0) {
        partials[2 * g] = (float)e;
        partials[2 * g + 1] = cg_tree_value(scratch, 0);
    }
}

/* cg_norm_finish by one work-group: the largest exponent among the non-zero
 * partials (a max tree), then the partials rescaled to it (a sum tree). */
__kernel void cg_norm_finish_group(__global const float *partials, const uint nparts,
                                   __global float *out, const uint off, __local float *scratch)
{
    uint lid = get_local_id(0), L = get_local_size(0);
    float top = -INFINITY;
    for (uint g = lid; g < nparts; g += L)
        if (partials[2 * g + 1] != 0.0f) top = fmax(top, partials[2 * g]);
    scratch[lid] = top;
    barrier(CLK_LOCAL_MEM_FENCE);
    cg_tree_max(scratch, lid, L);
    top = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    int t = top == -INFINITY ? 0 : (int)top; /* -inf: all zero, nothing is summed */
    float sum = 0.0f, comp = 0.0f;
    for (uint g = lid; g < nparts; g += L) {
        float s = partials[2 * g + 1];
        if (s != 0.0f) cg_comp_add(&sum, &comp, ldexp(s, 2 * ((int)partials[2 * g] - t)));
    }
    cg_tree_put(scratch, lid, sum, comp);
    barrier(CLK_LOCAL_MEM_FENCE);
    cg_tree_sum(scratch, lid, lid, L, 1);
    if (lid == 0) out[off] = top == -INFINITY ? 0.0f : ldexp(sqrt(cg_tree_value(scratch, 0)), t);
}

/* cg_vreduce_partials' kinds (0 dot(a, b), 1 sum |a|, 2 max |a|) and 3, the
 * plain sum of a, which finishes kinds 0 and 1: out[g] = the reduction of
 * group g's slice of a (and b). */
__kernel void cg_vreduce_groups(__global const float *a, __global const float *b, const uint n,
                                const uint slice, const int kind, __global float *out,
                                __local float *scratch)
{
    uint lid = get_local_id(0), L = get_local_size(0), g = get_group_id(0);
    uint begin = min(n, g * slice), end = min(n, begin + slice);
    float sum = 0.0f, comp = 0.0f, mx = 0.0f;
    for (uint i = begin + lid; i < end;) {
        float s = 0.0f;
        for (uint j = 0; j < CG_TBLOCK && i < end; j++, i += L) {
            if (kind == 0) s += a[i] * b[i];
            else if (kind == 1) s += fabs(a[i]);
            else if (kind == 2) mx = fmax(mx, fabs(a[i]));
            else s += a[i];
        }
        cg_comp_add(&sum, &comp, s);
    }
    if (kind == 2) cg_tree_put(scratch, lid, mx, 0.0f);
    else cg_tree_put(scratch, lid, sum, comp);
    barrier(CLK_LOCAL_MEM_FENCE);
    /* Both trees in one loop: no barrier under a branch. */
    __local float *lo = scratch + L;
    for (uint h = L / 2; h > 0; h >>= 1) {
        if (lid < h) {
            if (kind == 2) scratch[lid] = fmax(scratch[lid], scratch[lid + h]);
            else cg_pair_add(scratch, lo, lid, lid + h);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) out[g] = kind == 2 ? scratch[0] : cg_tree_value(scratch, 0);
}
