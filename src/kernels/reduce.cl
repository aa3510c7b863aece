/* reduce.cl: sums and means, over everything or over one axis, and their
 * backward (host: src/host/reduce.c). Deterministic: a fixed number of
 * partial sums in a fixed order, then a fixed final combine.
 *
 *   cg_sum_partials  partial[g] = sum of a contiguous chunk (blocks of
 *                    CG_RBLOCK in float, blocks added with compensation)
 *   cg_sum_finish    out[off] (+)= scale * sum(partials), in order
 *   cg_sum_axis      out[o, i] = scale * sum_l x[o, l, i]
 *   cg_expand_add    gx[o, l, i] += scale * gy[o, i]  (backward of both)
 *   cg_norm_partials, cg_norm_finish, cg_clip_total   gradient 2-norms for
 *                    clipping (clip.c), scaled so that no square overflows or
 *                    underflows: any float norm from denormals to FLT_MAX
 */
#pragma OPENCL FP_CONTRACT OFF

#define CG_RBLOCK 256

inline void cg_comp_add(float *sum, float *comp, float v)
{
    float yk = v - *comp;
    float t = *sum + yk;
    if (!isfinite(t)) { /* keep inf as inf rather than NaN */
        *sum = t;
        *comp = 0.0f;
        return;
    }
    *comp = (t - *sum) - yk;
    *sum = t;
}

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
                          const uint len, const uint inner, const float scale)
{
    uint gid = get_global_id(0);
    if (gid >= outer * inner) return;
    uint o = gid / inner, i = gid % inner;
    __global const float *p = x + (size_t)o * len * inner + i;
    float sum = 0.0f, comp = 0.0f;
    for (uint l = 0; l < len; l++) cg_comp_add(&sum, &comp, p[(size_t)l * inner]);
    out[gid] = sum * scale;
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
