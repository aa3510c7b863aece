/* matmul.cl: C[M,N] (+)= op(A) @ op(B), op = optional transpose, for 2-D
 * row-major tensors (host: src/host/matmul.c).
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
