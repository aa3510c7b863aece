/* Reference twins of src/kernels/optim_rules.clh: the same update rules as
 * plain C on float, in the same order of operations. */
#include <math.h>

#include "../linreg_internal.h"

float cg__ref_rule_sgd(float p, float g, float lr)
{
    return p - lr * g;
}

float cg__ref_rule_adam(float p, float g, float *m, float *v, int step, float lr, float beta1,
                        float beta2, float eps)
{
    float w = 1.0f - beta1;
    float mm = *m;
    mm = (w < 0.5f) ? mm + w * (g - mm) : g - (g - mm) * (1.0f - w);
    float vv = *v * beta2 + (1.0f - beta2) * g * g;
    float bias_correction1 = 1.0f - powf(beta1, (float)step);
    float bias_correction2 = 1.0f - powf(beta2, (float)step);
    float step_size = lr / bias_correction1;
    float denom = sqrtf(vv) / sqrtf(bias_correction2) + eps;
    *m = mm;
    *v = vv;
    return p + (-step_size * mm) / denom;
}
