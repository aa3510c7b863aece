/* The reference path's optimizer arithmetic: src/kernels/optim_rules.clh
 * compiled as C, the very text the kernels run, behind the names the host
 * calls. */
#include "../linreg_internal.h"

#include "../../kernels/optim_rules.clh"

float cg__ref_optim_rule(int kind, int flags, const float *h, float p, float g, float *s0,
                         float *s1, float *s2)
{
    return cg_optim_rule(kind, flags, h, p, g, s0, s1, s2);
}

void cg__ref_optim_scalars(int kind, const float *b, int step, float *h)
{
    cg_optim_scalars(kind, b, step, h);
}

int cg__optim_step_flags(int flags, int step, const float *h)
{
    return cg_optim_step_flags(flags, step, h);
}

float cg__ref_sparse_adam_rule(float p, float g, float *m, float *v, float c1, float c2,
                               float neg_step_size, float eps)
{
    return cg_sparse_adam_rule(p, g, m, v, c1, c2, neg_step_size, eps);
}
