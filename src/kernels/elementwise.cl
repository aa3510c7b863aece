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

/* x ^ s with the exponents torch special-cases computed exactly. */
inline float cg_pow_s(float x, float s)
{
    if (s == 2.0f) return x * x;
    if (s == 1.0f) return x;
    if (s == 0.0f) return 1.0f;
    if (s == 3.0f) return x * x * x;
    if (s == 0.5f) return sqrt(x);
    if (s == -1.0f) return 1.0f / x;
    if (s == -0.5f) return 1.0f / sqrt(x); /* torch: rsqrt */
    return pow(x, s);
}

inline float cg_unary_f(int op, float x, float s)
{
    switch (op) {
    case CG_U_NEG: return -x;
    case CG_U_ADD_S: return x + s;
    case CG_U_SUB_S: return x - s;
    case CG_U_RSUB_S: return s - x;
    case CG_U_MUL_S: return x * s;
    case CG_U_DIV_S: return x / s;
    case CG_U_RDIV_S: return s / x;
    case CG_U_POW_S: return cg_pow_s(x, s);
    case CG_U_SQUARE: return x * x;
    case CG_U_SQRT: return sqrt(x);
    case CG_U_EXP: return exp(x);
    case CG_U_LOG: return log(x);
    case CG_U_ABS: return fabs(x);
    case CG_U_RELU: return x < 0.0f ? 0.0f : x; /* NaN stays NaN, as torch's */
    case CG_U_TANH: return tanh(x);
    case CG_U_SIGMOID: return 1.0f / (1.0f + exp(-x));
    case CG_U_HUBER: {
        float ax = fabs(x);
        return ax < s ? 0.5f * x * x : s * (ax - 0.5f * s);
    }
    default: return x;
    }
}

/* gy * dy/dx, in the forms torch's backward formulas use. */
inline float cg_unary_grad(int op, float x, float y, float gy, float s)
{
    switch (op) {
    case CG_U_NEG: return -gy;
    case CG_U_RSUB_S: return -gy;
    case CG_U_MUL_S: return gy * s;
    case CG_U_DIV_S: return gy / s;
    case CG_U_RDIV_S: return -gy * y / x; /* s/x^2 without squaring x */
    case CG_U_POW_S: return s == 0.0f ? 0.0f : gy * (s * cg_pow_s(x, s - 1.0f));
    case CG_U_SQUARE: return gy * (2.0f * x);
    case CG_U_SQRT: return gy / (2.0f * y);
    case CG_U_EXP: return gy * y;
    case CG_U_LOG: return gy / x;
    case CG_U_ABS: return gy * sign(x);
    case CG_U_RELU: return y <= 0.0f ? 0.0f : gy; /* torch's threshold_backward */
    case CG_U_TANH: return gy * (1.0f - y * y);
    case CG_U_SIGMOID: return gy * (1.0f - y) * y;
    case CG_U_HUBER: return x < -s ? -s * gy : (x > s ? s * gy : x * gy);
    default: return gy; /* ADD_S, SUB_S, COPY */
    }
}

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

inline float cg_binary_f(int op, float a, float b)
{
    switch (op) {
    case CG_B_ADD: return a + b;
    case CG_B_SUB: return a - b;
    case CG_B_MUL: return a * b;
    default: return a / b;
    }
}

/* g * d(a op b)/da (which 0) or /db (which 1). */
inline float cg_binary_grad_f(int op, int which, float a, float b, float g)
{
    if (op == CG_B_ADD) return g;
    if (op == CG_B_SUB) return which == 0 ? g : -g;
    if (op == CG_B_MUL) return which == 0 ? g * b : g * a;
    return which == 0 ? g / b : -g * ((a / b) / b); /* torch's form: b*b overflows */
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
