/* optim.cl: the optimizer update on the tape path, using the rules of
 * optim_rules.clh (host: src/host/optim.c).
 *
 *   cg_optim_update  p, s0, s1, s2 updated in place from g, n elements,
 *                    with the step's scalars h = (ha, hb) passed by value
 *                    (computed by the host in double, as torch does in Python)
 */
#pragma OPENCL FP_CONTRACT OFF

/* Built once per optimizer with -DCG_OPT_KIND=k: the rule's switch folds away
 * and the compiler vectorizes one rule, not nine. */
#ifdef CG_OPT_KIND
#define CG_KIND CG_OPT_KIND
#else
#define CG_KIND kind
#endif

/* used: bit k set when the rule reads and writes state slot k; the others
 * are neither loaded nor stored (memory traffic is what a step costs). */
__kernel void cg_optim_update(const int kind, const int flags, const float16 ha, const float8 hb,
                              __global float *p, __global const float *g, __global float *s0,
                              __global float *s1, __global float *s2, const uint n,
                              const int used)
{
    uint i = get_global_id(0);
    if (i >= n) return;
    float h[CG_H_COUNT];
    vstore16(ha, 0, h);
    vstore8(hb, 0, h + 16);
    float a = (used & 1) ? s0[i] : 0.0f, b = (used & 2) ? s1[i] : 0.0f;
    float c = (used & 4) ? s2[i] : 0.0f;
    p[i] = cg_optim_rule(CG_KIND, flags, h, p[i], g[i], &a, &b, &c);
    if (used & 1) s0[i] = a;
    if (used & 2) s1[i] = b;
    if (used & 4) s2[i] = c;
}
