/* The reference path's twins of the op kernels (elementwise.cl, shape.cl,
 * reduce.cl, matmul.cl, random.cl): plain loops over host arrays, float
 * element-wise arithmetic as the kernels do it, double accumulation in every
 * reduction. dims/strides are padded on the left to 8 dimensions, as in the
 * kernels. */
#ifndef CG_OPS_REF_H
#define CG_OPS_REF_H

#include <stddef.h>
#include <stdint.h>

float cg__ref_unary_f(int op, float x, float s);
float cg__ref_unary_grad(int op, float x, float y, float gy, float s);
void cg__ref_unary(int op, const float *x, float *y, float s, size_t n);
void cg__ref_unary_backward(int op, const float *x, const float *y, const float *gy, float *gx,
                            float s, size_t n);
/* Binary operands through 8-D strides (a, b already at their offsets). */
/* la, lb: the operand layouts of elementwise.cl (0 strided, 1 same, 2 one element). */
void cg__ref_binary(int op, const float *a, const uint32_t sa[8], int la, const float *b,
                    const uint32_t sb[8], int lb, float *out, const uint32_t dims[8], size_t n);
void cg__ref_binary_grad(int op, int which, const float *a, const uint32_t sa[8], int la,
                         const float *b, const uint32_t sb[8], int lb, const float *gy,
                         float *dst, const uint32_t dims[8], size_t n, int accumulate);
/* The twin of shape.cl's cg_strided_copy (src, dst at their offsets). */
void cg__ref_strided_copy(const float *src, const uint32_t ss[8], float *dst,
                          const uint32_t ds[8], const uint32_t dims[8], size_t n, int accumulate);
void cg__ref_axpy(float *y, float a, const float *x, size_t n);
void cg__ref_block_copy(const float *src, size_t src_off, size_t src_stride, float *dst,
                        size_t dst_off, size_t dst_stride, size_t outer, size_t len,
                        int accumulate);
double cg__ref_sum(const float *x, size_t n);
/* The 2-norm, in double: any float vector's norm, NaN and inf as they come. */
float cg__ref_norm2(const float *x, size_t n);
void cg__ref_sum_axis(const float *x, float *out, size_t outer, size_t len, size_t inner,
                      float scale);
void cg__ref_expand_add(const float *gy, float *gx, size_t outer, size_t len, size_t inner,
                        float scale);
void cg__ref_matmul(const float *A, const float *B, float *C, size_t M, size_t N, size_t K,
                    int trans_a, int trans_b, int accumulate);
void cg__ref_rand_uniform(float *dst, size_t n, uint64_t seed, uint64_t offset, float lo,
                          float hi);

#endif
