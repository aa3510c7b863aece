/* optim.cl: the optimizer update on the tape path, using the rules of
 * optim_rules.clh (host: src/host/optim.c).
 *
 *   cg_sparse_adam_update  SparseAdam on the rows a row-sparse gradient touches
 *   cg_optim_update  p, s0, s1, s2 updated in place from g, n elements,
 *                    with the step's scalars h = (ha, hb) passed by value
 *                    (computed by the host in double, as torch does in Python)
 *   cg_optim_scalars_at  the fused trainers' scalars, for the twin test
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
/* restrict: the buffers never overlap where they are used (an unused slot may
 * be handed any buffer), so the compiler needs no run-time overlap checks. */
__kernel void cg_optim_update(const int kind, const int flags, const float16 ha, const float8 hb,
                              __global float *restrict p, __global const float *restrict g,
                              __global float *restrict s0, __global float *restrict s1,
                              __global float *restrict s2, const uint n, const int used)
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

/* SparseAdam over the touched rows: element (u, c) of the gradient's values
 * updates element (rows[u], c) of p, m and v. */
__kernel void cg_sparse_adam_update(__global float *p, __global float *m, __global float *v,
                                    __global const float *values, __global const uint *rows,
                                    const uint nrows, const uint dim, const float c1,
                                    const float c2, const float neg_step_size, const float eps,
                                    const int maximize)
{
    uint gid = get_global_id(0);
    if (gid >= nrows * dim) return;
    size_t at = (size_t)rows[gid / dim] * dim + gid % dim;
    float g = maximize ? -values[gid] : values[gid];
    float mm = m[at], vv = v[at];
    p[at] = cg_sparse_adam_rule(p[at], g, &mm, &vv, c1, c2, neg_step_size, eps);
    m[at] = mm;
    v[at] = vv;
}

/* The fused trainers' per-step scalars (cg_optim_scalars, in float, as
 * linreg.cl computes them) at each of steps[0..n): out[i * CG_H_COUNT + k].
 * Only tests/test_optim_rules.c runs it (cg__optim_fused_scalars), to hold
 * the device to the reference path's bits. */
__kernel void cg_optim_scalars_at(const int kind, __global const float *base,
                                  __global const int *steps, const uint n, __global float *out)
{
    uint i = get_global_id(0);
    if (i >= n) return;
    float b[CG_B_COUNT], h[CG_H_COUNT];
    for (int k = 0; k < CG_B_COUNT; k++) b[k] = base[k];
    cg_optim_scalars(kind, b, steps[i], h);
    for (int k = 0; k < CG_H_COUNT; k++) out[(size_t)i * CG_H_COUNT + k] = h[k];
}
