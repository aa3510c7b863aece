/* optim.cl: the optimizer update on the tape path, one launch per parameter
 * tensor, using the rules of optim_rules.clh (host: src/host/optim.c).
 *
 *   cg_optim_update  p, m, v updated in place from g; hp as in optim_rules.clh
 */
#pragma OPENCL FP_CONTRACT OFF

__kernel void cg_optim_update(const int optim, __global float *p, __global const float *g,
                              __global float *m, __global float *v, const uint n, const int step,
                              const float lr, const float beta1, const float beta2,
                              const float eps)
{
    uint i = get_global_id(0);
    if (i >= n) return;
    if (optim == CG_OPTIM_ADAM) {
        float mm = m[i], vv = v[i];
        p[i] = cg_rule_adam(p[i], g[i], &mm, &vv, step, lr, beta1, beta2, eps);
        m[i] = mm;
        v[i] = vv;
    } else {
        p[i] = cg_rule_sgd(p[i], g[i], lr);
    }
}
