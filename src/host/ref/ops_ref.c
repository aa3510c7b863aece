/* Reference twins of the op kernels; see ops_ref.h. Read these to know what
 * the kernels must compute. The element-wise formulas are formulas.clh's,
 * the text elementwise.cl runs, compiled here as C. */
#include "ops_ref.h"

#include <math.h>

#include "../../kernels/formulas.clh"

float cg__ref_unary_f(int op, float x, float s) { return cg_unary_f(op, x, s); }
int cg__unary_grad_reads(int op) { return cg_unary_grad_reads(op); }
int cg__binary_grad_reads(int op, int which) { return cg_binary_grad_reads(op, which); }

float cg__ref_unary_grad(int op, float x, float y, float gy, float s)
{
    return cg_unary_grad(op, x, y, gy, s);
}

void cg__ref_unary(int op, const float *x, float *y, float s, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = cg__ref_unary_f(op, x[i], s);
}

void cg__ref_unary_backward(int op, const float *x, const float *y, const float *gy, float *gx,
                            float s, size_t n)
{
    for (size_t i = 0; i < n; i++) gx[i] += cg__ref_unary_grad(op, x[i], y[i], gy[i], s);
}

/* Offset of logical element i through 8-D strides (innermost last). */
static size_t offset(size_t i, const uint32_t dims[8], const uint32_t strides[8])
{
    size_t off = 0;
    for (int d = 7; d > 0; d--) {
        size_t q = i / dims[d];
        off += (i - q * dims[d]) * strides[d];
        i = q;
    }
    return off + i * strides[0];
}

void cg__ref_strided_copy(const float *src, const uint32_t ss[8], float *dst,
                          const uint32_t ds[8], const uint32_t dims[8], size_t n, int accumulate)
{
    for (size_t i = 0; i < n; i++) {
        float v = src[offset(i, dims, ss)];
        float *d = dst + offset(i, dims, ds);
        *d = accumulate ? *d + v : v;
    }
}

/* An operand's element for output element i: the layouts of elementwise.cl
 * (1: the output's own shape, 2: one element, 0: through its strides). */
static inline size_t operand_at(size_t i, const uint32_t dims[8], const uint32_t strides[8],
                                int layout)
{
    return layout == 1 ? i : layout == 2 ? 0 : offset(i, dims, strides);
}

void cg__ref_binary(int op, const float *a, const uint32_t sa[8], int la, const float *b,
                    const uint32_t sb[8], int lb, float *out, const uint32_t dims[8], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float x = a[operand_at(i, dims, sa, la)], y = b[operand_at(i, dims, sb, lb)];
        out[i] = cg_binary_f(op, x, y);
    }
}

void cg__ref_binary_grad(int op, int which, const float *a, const uint32_t sa[8], int la,
                         const float *b, const uint32_t sb[8], int lb, const float *gy,
                         float *dst, const uint32_t dims[8], size_t n, int accumulate)
{
    for (size_t i = 0; i < n; i++) {
        float av = a[operand_at(i, dims, sa, la)], bv = b[operand_at(i, dims, sb, lb)];
        float d = cg_binary_grad_f(op, which, av, bv, gy[i]);
        dst[i] = accumulate ? dst[i] + d : d;
    }
}

void cg__ref_axpy(float *y, float a, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] += a * x[i];
}

void cg__ref_block_copy(const float *src, size_t src_off, size_t src_stride, float *dst,
                        size_t dst_off, size_t dst_stride, size_t outer, size_t len,
                        int accumulate)
{
    for (size_t o = 0; o < outer; o++)
        for (size_t k = 0; k < len; k++) {
            float v = src[src_off + o * src_stride + k];
            float *d = dst + dst_off + o * dst_stride + k;
            *d = accumulate ? *d + v : v;
        }
}

double cg__ref_sum(const float *x, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += x[i];
    return s;
}

float cg__ref_norm2(const float *x, size_t n)
{
    double s = 0.0; /* a float's square never overflows or underflows a double */
    for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return (float)sqrt(s);
}

void cg__ref_sum_axis(const float *x, float *out, size_t outer, size_t len, size_t inner,
                      float scale)
{
    for (size_t o = 0; o < outer; o++)
        for (size_t i = 0; i < inner; i++) {
            double s = 0.0;
            for (size_t l = 0; l < len; l++) s += x[(o * len + l) * inner + i];
            out[o * inner + i] = (float)s * scale;
        }
}

void cg__ref_expand_add(const float *gy, float *gx, size_t outer, size_t len, size_t inner,
                        float scale)
{
    for (size_t o = 0; o < outer; o++)
        for (size_t l = 0; l < len; l++)
            for (size_t i = 0; i < inner; i++)
                gx[(o * len + l) * inner + i] += scale * gy[o * inner + i];
}

void cg__ref_matmul(const float *A, const float *B, float *C, size_t M, size_t N, size_t K,
                    int trans_a, int trans_b, int accumulate)
{
    for (size_t m = 0; m < M; m++)
        for (size_t n = 0; n < N; n++) {
            double acc = 0.0;
            for (size_t k = 0; k < K; k++)
                acc += (double)(trans_a ? A[k * M + m] : A[m * K + k]) *
                       (double)(trans_b ? B[n * K + k] : B[k * N + n]);
            C[m * N + n] = accumulate ? C[m * N + n] + (float)acc : (float)acc;
        }
}

static uint64_t splitmix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void cg__ref_rand_uniform(float *dst, size_t n, uint64_t seed, uint64_t off, float lo, float hi)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t bits = splitmix64(seed ^ splitmix64(off + i));
        float u = (float)(bits >> 40) * (1.0f / 16777216.0f);
        dst[i] = lo + (hi - lo) * u;
    }
}
