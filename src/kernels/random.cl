/* random.cl: a counter-based generator, so a seed gives the same numbers on
 * every device and on the reference path (host: src/host/random.c).
 *
 *   cg_rand_uniform  dst[i] = lo + (hi - lo) * u(seed, offset + i),
 *                    u = the top 24 bits of splitmix64, an exact float in [0, 1)
 */
#pragma OPENCL FP_CONTRACT OFF

inline ulong cg_splitmix64(ulong z)
{
    z += 0x9E3779B97F4A7C15UL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
    return z ^ (z >> 31);
}

__kernel void cg_rand_uniform(__global float *dst, const uint n, const ulong seed,
                              const ulong offset, const float lo, const float hi)
{
    uint i = get_global_id(0);
    if (i >= n) return;
    ulong bits = cg_splitmix64(seed ^ cg_splitmix64(offset + i));
    float u = (float)(bits >> 40) * (1.0f / 16777216.0f);
    dst[i] = lo + (hi - lo) * u;
}
