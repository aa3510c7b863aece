/* elementwise.cl: unary and broadcasting binary ops and their backward
 * rules (a broadcast gradient's sum back to an input's shape is reduce.cl's).
 *
 * Kernels (one element per work-item, any size; host: src/host/elementwise.c):
 *   cg_unary            y = f(x; s)
 *   cg_unary_backward   gx += gy * f'(x; s), written from x, y = f(x) and gy
 *   cg_binary           out = a (op) b with NumPy broadcasting (strides of 0)
 *   cg_binary_grad      d = gy * d(out)/d(a or b), at every output element
 *   cg_axpy             y += a * x (gradient accumulation, in-place updates)
 *   cg_scale_by, cg_clamp_   in-place gradient clipping (clip.c)
 * Binary operands are read through strides and an offset (broadcasts and
 * views, no copies), padded on the left to 8 dimensions; cg_sum_to pads to
 * 4. Offsets use 32-bit indices (the host checks sizes).
 * The scalar formulas (cg_unary_f, cg_unary_grad, cg_binary_f,
 * cg_binary_grad_f) are formulas.clh's, concatenated before this file and
 * compiled as C for the reference path.
 */
#pragma OPENCL FP_CONTRACT OFF

/* The host builds one program per op (-DCG_OP=k) for cg_unary,
 * cg_unary_backward, cg_binary and cg_binary_grad: the op's switch folds
 * away and the compiler vectorizes one function rather than a switch. */
#ifdef CG_OP
#define CG_OPC CG_OP
#else
#define CG_OPC op
#endif
/* Binary kernels are also built per operand layout (-DCG_LA, -DCG_LB): a
 * same-shape or one-element operand then costs no index arithmetic at all. */
#ifdef CG_LA
#define CG_LAC CG_LA
#define CG_LBC CG_LB
#else
#define CG_LAC la
#define CG_LBC lb
#endif

__kernel void cg_unary(const int op, __global const float *x, __global float *y, const float s,
                       const uint n)
{
    uint i = get_global_id(0);
    if (i < n) y[i] = cg_unary_f(CG_OPC, x[i], s);
}

__kernel void cg_unary_backward(const int op, __global const float *x, __global const float *y,
                                __global const float *gy, __global float *gx, const float s,
                                const uint n)
{
    uint i = get_global_id(0);
    if (i < n) gx[i] += cg_unary_grad(CG_OPC, x[i], y[i], gy[i], s);
}

/* Operand layouts, so the common cases skip the index arithmetic. */
#define CG_LAYOUT_BCAST 0  /* general broadcast: strides decide */
#define CG_LAYOUT_SAME 1   /* the output's own shape: element i */
#define CG_LAYOUT_SCALAR 2 /* one element for all */

/* Offset of output element i in an operand with the given strides: the
 * index split over 8 dimensions (padded on the left with extents of 1),
 * innermost first. */
#define CG_DIM_STEP(c)                                                             \
    {                                                                              \
        uint q = i / dims.c;                                                       \
        off += (i - q * dims.c) * strides.c;                                       \
        i = q;                                                                     \
    }
/* Built per rank bucket (-DCG_RANK=2, 4 or 8: the host merges dimensions
 * first), so a 2-D broadcast divides once, not seven times. */
#ifndef CG_RANK
#define CG_RANK 8
#endif
inline uint cg_bcast_offset(uint i, uint8 dims, uint8 strides)
{
    uint off = 0;
    CG_DIM_STEP(s7)
#if CG_RANK > 2
    CG_DIM_STEP(s6) CG_DIM_STEP(s5)
#if CG_RANK > 4
    CG_DIM_STEP(s4) CG_DIM_STEP(s3) CG_DIM_STEP(s2) CG_DIM_STEP(s1)
    return off + i * strides.s0;
#else
    return off + i * strides.s4;
#endif
#else
    return off + i * strides.s6;
#endif
}

/* An operand's element: a same-shape operand is plain (offset 0), so its
 * loads stay p[i], which the compiler vectorizes; the others add their
 * offset (a view's). Layouts are compile-time constants in the built
 * variants, so the test folds away. */
#define CG_LOAD(p, o, idx, layout)                                                 \
    ((layout) == CG_LAYOUT_SAME     ? (p)[idx]                                     \
     : (layout) == CG_LAYOUT_SCALAR ? (p)[o]                                       \
                                    : (p)[(o) + (idx)])

inline uint cg_operand_offset(uint i, uint8 dims, uint8 strides, int layout)
{
    return layout == CG_LAYOUT_SAME ? i
           : layout == CG_LAYOUT_SCALAR ? 0u
                                        : cg_bcast_offset(i, dims, strides);
}

__kernel void cg_binary(const int op, __global const float *a, const uint oa, const uint8 sa,
                        __global const float *b, const uint ob, const uint8 sb,
                        __global float *out, const uint8 dims, const uint n, const int la,
                        const int lb)
{
    uint i = get_global_id(0);
    if (i >= n) return;
    out[i] = cg_binary_f(CG_OPC, CG_LOAD(a, oa, cg_operand_offset(i, dims, sa, CG_LAC), CG_LAC),
                         CG_LOAD(b, ob, cg_operand_offset(i, dims, sb, CG_LBC), CG_LBC));
}

#ifdef CG_LA
/* The same when neither operand needs strides (each the output's shape or
 * one element): no stride arguments to set, which is most of a small
 * launch's cost on a CPU device. Built only per operand layout. */
__kernel void cg_binary_dense(const int op, __global const float *a, const uint oa,
                              __global const float *b, const uint ob, __global float *out,
                              const uint n)
{
    uint i = get_global_id(0);
    if (i >= n) return;
    out[i] = cg_binary_f(CG_OPC, CG_LOAD(a, oa, i, CG_LAC), CG_LOAD(b, ob, i, CG_LBC));
}
#endif

/* which = 0: d/da, 1: d/db. accumulate: dst += (dst has the output's
 * shape and is the input's own gradient when nothing was broadcast). */
__kernel void cg_binary_grad(const int op, const int which, __global const float *a,
                             const uint oa, const uint8 sa, __global const float *b,
                             const uint ob, const uint8 sb, __global const float *gy,
                             __global float *dst, const uint8 dims, const uint n,
                             const int accumulate, const int la, const int lb)
{
    uint i = get_global_id(0);
    if (i >= n) return;
    float av = CG_LOAD(a, oa, cg_operand_offset(i, dims, sa, CG_LAC), CG_LAC);
    float bv = CG_LOAD(b, ob, cg_operand_offset(i, dims, sb, CG_LBC), CG_LBC);
    float d = cg_binary_grad_f(CG_OPC, which, av, bv, gy[i]);
    dst[i] = accumulate ? dst[i] + d : d;
}

#ifdef CG_LA
__kernel void cg_binary_grad_dense(const int op, const int which, __global const float *a,
                                   const uint oa, __global const float *b, const uint ob,
                                   __global const float *gy, __global float *dst, const uint n,
                                   const int accumulate)
{
    uint i = get_global_id(0);
    if (i >= n) return;
    float av = CG_LOAD(a, oa, i, CG_LAC);
    float bv = CG_LOAD(b, ob, i, CG_LBC);
    float d = cg_binary_grad_f(CG_OPC, which, av, bv, gy[i]);
    dst[i] = accumulate ? dst[i] + d : d;
}
#endif

__kernel void cg_axpy(__global float *y, const float a, __global const float *x, const uint n)
{
    uint i = get_global_id(0);
    if (i < n) y[i] += a * x[i];
}

/* x *= factor[at] (the factor computed on the device: no round trip). */
__kernel void cg_scale_by(__global float *x, const uint n, __global const float *factor,
                          const uint at)
{
    uint i = get_global_id(0);
    if (i < n) x[i] *= factor[at];
}

/* x = clamp(x, lo, hi) in place (clip_grad_value_). */
__kernel void cg_clamp_(__global float *x, const uint n, const float lo, const float hi)
{
    uint i = get_global_id(0);
    if (i < n) x[i] = fmin(fmax(x[i], lo), hi);
}

/* y[i] += a * x[xoff + i]: a parameter's share of a flat direction (LBFGS). */
__kernel void cg_axpy_off(__global float *y, const float a, __global const float *x,
                          const uint xoff, const uint n)
{
    uint i = get_global_id(0);
    if (i < n) y[i] += a * x[xoff + i];
}
