/* matmul.cl: C[M,N] (+)= op(A) @ op(B), op = optional transpose, for 2-D
 * row-major tensors (host: src/host/matmul.c). Two shapes, chosen by device
 * type: cg_matmul (GPUs, local-memory tiles) and cg_matmul_strips (CPUs,
 * vector strips of a row, with cg_transpose making operands row-major).
 *
 * A first tiled kernel: CG_TILE x CG_TILE work-groups stage tiles of A and B
 * in local memory; every work-group is full (the range is rounded up) and
 * out-of-range elements load zeros, so partial groups with local memory, a
 * PoCL pitfall, never occur. Each output sums k in increasing order:
 * deterministic. Tuning parameter: CG_TILE.
 */
#pragma OPENCL FP_CONTRACT OFF

#ifndef CG_TILE
#define CG_TILE 16
#endif
#define CG_STRIP_ROWS 4

__kernel void cg_matmul(__global const float *A, __global const float *B, __global float *C,
                        const uint M, const uint N, const uint K, const int trans_a,
                        const int trans_b, const int accumulate)
{
    __local float As[CG_TILE][CG_TILE];
    __local float Bs[CG_TILE][CG_TILE];
    const uint tx = get_local_id(0), ty = get_local_id(1);
    const uint n = get_group_id(0) * CG_TILE + tx, m = get_group_id(1) * CG_TILE + ty;
    float acc = 0.0f;
    for (uint k0 = 0; k0 < K; k0 += CG_TILE) {
        uint ka = k0 + tx, kb = k0 + ty;
        As[ty][tx] = (m < M && ka < K) ? (trans_a ? A[(size_t)ka * M + m] : A[(size_t)m * K + ka])
                                       : 0.0f;
        Bs[ty][tx] = (n < N && kb < K) ? (trans_b ? B[(size_t)n * K + kb] : B[(size_t)kb * N + n])
                                       : 0.0f;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (uint k = 0; k < CG_TILE; k++) acc += As[ty][k] * Bs[k][tx];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (m < M && n < N) {
        __global float *c = C + (size_t)m * N + n;
        *c = accumulate ? *c + acc : acc;
    }
}

/* CPU shape (PoCL): each work-item computes a strip of 16 columns of one row
 * of C, reading 16 consecutive elements of a row of B per k with one vector
 * load; operands are row-major and untransposed (the host transposes first).
 * Columns past N (the last strip) go through a scalar loop. Each element still
 * sums k in increasing order, as the tiled kernel does. */
__kernel void cg_matmul_strips(__global const float *A, __global const float *B,
                               __global float *C, const uint M, const uint N, const uint K,
                               const int accumulate)
{
    /* CG_STRIP_ROWS rows share each vector of B: four times the work per load. */
    const uint n0 = get_global_id(0) * 16, m0 = get_global_id(1) * CG_STRIP_ROWS;
    if (m0 >= M || n0 >= N) return;
    if (n0 + 16 <= N && m0 + CG_STRIP_ROWS <= M) {
        __global const float *a = A + (size_t)m0 * K;
        float16 acc0 = (float16)(0.0f), acc1 = acc0, acc2 = acc0, acc3 = acc0;
        for (uint k = 0; k < K; k++) {
            float16 b = vload16(0, B + (size_t)k * N + n0);
            acc0 += a[k] * b;
            acc1 += a[K + k] * b;
            acc2 += a[2 * K + k] * b;
            acc3 += a[3 * K + k] * b;
        }
        __global float *c = C + (size_t)m0 * N + n0;
        if (accumulate) {
            acc0 += vload16(0, c);
            acc1 += vload16(0, c + N);
            acc2 += vload16(0, c + 2 * N);
            acc3 += vload16(0, c + 3 * N);
        }
        vstore16(acc0, 0, c);
        vstore16(acc1, 0, c + N);
        vstore16(acc2, 0, c + 2 * N);
        vstore16(acc3, 0, c + 3 * N);
        return;
    }
    /* Edges: the same sums, one element at a time. */
    for (uint m = m0; m < min(M, m0 + CG_STRIP_ROWS); m++)
        for (uint n = n0; n < min(N, n0 + 16); n++) {
            float acc = 0.0f;
            for (uint k = 0; k < K; k++) acc += A[(size_t)m * K + k] * B[(size_t)k * N + n];
            __global float *c = C + (size_t)m * N + n;
            *c = accumulate ? *c + acc : acc;
        }
}

/* dst[c, r] = src[r, c] for src [rows, cols]. */
__kernel void cg_transpose(__global const float *src, const uint rows, const uint cols,
                           __global float *dst)
{
    uint gid = get_global_id(0);
    if (gid >= rows * cols) return;
    uint r = gid / cols, c = gid % cols;
    dst[(size_t)c * rows + r] = src[gid];
}
