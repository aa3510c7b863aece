/* shape.cl: block copies, the one kernel behind reshape, indexing, slicing
 * and concatenation, forward and backward (host: src/host/shape.c).
 *
 *   cg_block_copy  for o < outer, k < len:
 *                  dst[dst_off + o*dst_stride + k] (+)= src[src_off + o*src_stride + k]
 *   cg_gather_rows dst[r, :] = src[rows[r], :]
 *   cg_rows_sum, cg_rows_scatter_add   the embedding's backward (embedding.c)
 *   cg_rows_sum_groups   cg_rows_sum's GPU shape (work-group tiles, a tree)
 */
#pragma OPENCL FP_CONTRACT OFF

__kernel void cg_block_copy(__global const float *src, const uint src_off, const uint src_stride,
                            __global float *dst, const uint dst_off, const uint dst_stride,
                            const uint outer, const uint len, const int accumulate)
{
    uint gid = get_global_id(0);
    if (gid >= outer * len) return;
    uint o = gid / len, k = gid % len;
    float v = src[src_off + o * src_stride + k];
    __global float *d = dst + dst_off + o * dst_stride + k;
    *d = accumulate ? *d + v : v;
}

/* dst[r, c] = src[rows[r], c]: a minibatch's rows (no backward yet). */
__kernel void cg_gather_rows(__global const float *src, const uint cols,
                             __global const uint *rows, const uint count, __global float *dst)
{
    uint gid = get_global_id(0);
    if (gid >= count * cols) return;
    uint r = gid / cols, c = gid % cols;
    dst[gid] = src[(size_t)rows[r] * cols + c];
}

/* Embedding backward, deterministic when indices repeat: out[u, :] sums
 * gy[positions[k], :] for k in [starts[u], starts[u+1]) in order. */
__kernel void cg_rows_sum(__global const float *gy, const uint dim,
                          __global const uint *starts, __global const uint *positions,
                          const uint nunique, __global float *out)
{
    uint gid = get_global_id(0);
    if (gid >= nunique * dim) return;
    uint u = gid / dim, c = gid % dim;
    float sum = 0.0f;
    for (uint k = starts[u]; k < starts[u + 1]; k++) sum += gy[(size_t)positions[k] * dim + c];
    out[gid] = sum;
}

/* cg_rows_sum with work-groups of L = tc tk tu items: tc neighbouring
 * columns (coalesced reads) of tu unique rows, tk items sharing each
 * output's repeats, then a local-memory tree over those tk (tk a power of
 * two). Groups enumerate (column tile, row tile), columns fastest. The
 * order depends on the sizes and L only: the same bits every run. */
__kernel void cg_rows_sum_groups(__global const float *gy, const uint dim,
                                 __global const uint *starts, __global const uint *positions,
                                 const uint nunique, __global float *out, const uint tc_n,
                                 const uint tk_n, const uint tu_n, __local float *scratch)
{
    uint lid = get_local_id(0), g = get_group_id(0);
    uint tc = lid % tc_n, tk = (lid / tc_n) % tk_n, tu = lid / (tc_n * tk_n);
    uint tiles_c = (dim + tc_n - 1) / tc_n;
    uint c = (g % tiles_c) * tc_n + tc, u = (g / tiles_c) * tu_n + tu;
    bool mine = c < dim && u < nunique;
    float sum = 0.0f;
    if (mine)
        for (uint k = starts[u] + tk; k < starts[u + 1]; k += tk_n)
            sum += gy[(size_t)positions[k] * dim + c];
    scratch[lid] = sum;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint h = tk_n / 2; h > 0; h >>= 1) { /* uniform trip count: every item gets here */
        if (tk < h) scratch[lid] += scratch[lid + h * tc_n];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (mine && tk == 0) out[(size_t)u * dim + c] = scratch[lid];
}

/* dst[map[u], :] += src[u, :]; map's entries are distinct, so no two
 * work-items write one element. */
__kernel void cg_rows_scatter_add(__global const float *src, const uint dim,
                                  __global const uint *map, const uint nsrc,
                                  __global float *dst)
{
    uint gid = get_global_id(0);
    if (gid >= nsrc * dim) return;
    uint u = gid / dim, c = gid % dim;
    dst[(size_t)map[u] * dim + c] += src[gid];
}

/* dst (+)= src element by element in logical order, each through its own
 * strides and offset (views: transpose, slices, expand on the source side).
 * 8 dimensions, padded on the left with extents of 1. When accumulating, no
 * two elements of dst may be the same (the host never asks otherwise). */
#define CG_COPY_STEP(c)                                                            \
    {                                                                              \
        uint q = r / dims.c, k = r - q * dims.c;                                   \
        so += k * ss.c;                                                            \
        dof += k * ds.c;                                                           \
        r = q;                                                                     \
    }
__kernel void cg_strided_copy(__global const float *src, const uint src_off, const uint8 ss,
                              __global float *dst, const uint dst_off, const uint8 ds,
                              const uint8 dims, const uint n, const int accumulate)
{
    uint i = get_global_id(0);
    if (i >= n) return;
    uint r = i, so = src_off, dof = dst_off;
    CG_COPY_STEP(s7) CG_COPY_STEP(s6) CG_COPY_STEP(s5) CG_COPY_STEP(s4)
    CG_COPY_STEP(s3) CG_COPY_STEP(s2) CG_COPY_STEP(s1)
    so += r * ss.s0;
    dof += r * ds.s0;
    float v = src[so];
    dst[dof] = accumulate ? dst[dof] + v : v;
}
