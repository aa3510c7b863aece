/* optim.cl: the optimizer update on the tape path, using the rules of
 * optim_rules.clh (host: src/host/optim.c).
 *
 *   cg_optim_update  p, s0, s1, s2 updated in place from g, n elements,
 *                    with the step's scalars h = (ha, hb) passed by value
 *                    (computed by the host in double, as torch does in Python)
 */
#pragma OPENCL FP_CONTRACT OFF

__kernel void cg_optim_update(const int kind, const int flags, const float16 ha, const float8 hb,
                              __global float *p, __global const float *g, __global float *s0,
                              __global float *s1, __global float *s2, const uint n)
{
    uint i = get_global_id(0);
    if (i >= n) return;
    float h[CG_H_COUNT];
    vstore16(ha, 0, h);
    vstore8(hb, 0, h + 16);
    float a = s0[i], b = s1[i], c = s2[i];
    p[i] = cg_optim_rule(kind, flags, h, p[i], g[i], &a, &b, &c);
    s0[i] = a;
    s1[i] = b;
    s2[i] = c;
}
