/* Reference twins of src/kernels/optim_rules.clh: the same update rules and
 * per-step scalars as plain C on float, in the same order of operations. */
#include <math.h>

#include "../../kernels/optim_defs.clh"
#include "../linreg_internal.h"

static float sign_of(float x) { return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : 0.0f); }

float cg__ref_optim_rule(int kind, int flags, const float *h, float p, float g, float *s0,
                         float *s1, float *s2)
{
    if (flags & CG_OF_MAXIMIZE) g = -g;
    const float wd = h[CG_H_WD];
    switch (kind) {
    case CG_OPT_SGD: {
        if (wd != 0.0f) g = g + wd * p;
        const float mom = h[CG_H_MOMENTUM];
        if (mom != 0.0f) {
            float buf = (flags & CG_OF_FIRST_STEP) ? g : *s0 * mom + h[CG_H_DAMP_C] * g;
            *s0 = buf;
            g = (flags & CG_OF_NESTEROV) ? g + mom * buf : buf;
        }
        return p + h[CG_H_NEG_LR] * g;
    }
    case CG_OPT_ADAM:
    case CG_OPT_ADAMW: {
        if (kind == CG_OPT_ADAMW)
            p = p * h[CG_H_DECAY];
        else if (wd != 0.0f)
            g = g + wd * p;
        float m = *s0 * h[CG_H_B1] + h[CG_H_C1] * g;
        float v = *s1 * h[CG_H_B2] + h[CG_H_C2] * g * g;
        *s0 = m;
        *s1 = v;
        if (flags & CG_OF_AMSGRAD) {
            v = fmaxf(*s2, v);
            *s2 = v;
        }
        float denom = sqrtf(v) / h[CG_H_BC2_SQRT] + h[CG_H_EPS];
        return p + h[CG_H_NEG_STEP] * m / denom;
    }
    case CG_OPT_ADAMAX: {
        if (wd != 0.0f) g = g + wd * p;
        float m = *s0 * h[CG_H_B1] + h[CG_H_C1] * g;
        float u = fmaxf(*s1 * h[CG_H_B2], fabsf(g) + h[CG_H_EPS]);
        *s0 = m;
        *s1 = u;
        return p + h[CG_H_NEG_STEP] * m / u;
    }
    case CG_OPT_ADAGRAD: {
        if (wd != 0.0f) g = g + wd * p;
        float sum = *s0 + 1.0f * g * g;
        *s0 = sum;
        return p + h[CG_H_NEG_STEP] * g / (sqrtf(sum) + h[CG_H_EPS]);
    }
    case CG_OPT_ADADELTA: {
        if (wd != 0.0f) g = g + wd * p;
        const float eps = h[CG_H_EPS];
        float sq = *s0 * h[CG_H_RHO] + h[CG_H_C_RHO] * g * g;
        float std = sqrtf(sq + eps);
        float delta = sqrtf(*s1 + eps) / std * g;
        *s0 = sq;
        *s1 = *s1 * h[CG_H_RHO] + h[CG_H_C_RHO] * delta * delta;
        return p + h[CG_H_NEG_LR] * delta;
    }
    case CG_OPT_RMSPROP: {
        if (wd != 0.0f) g = g + wd * p;
        float sq = *s0 * h[CG_H_RHO] + h[CG_H_C_RHO] * g * g;
        *s0 = sq;
        float avg;
        if (flags & CG_OF_CENTERED) {
            float ga = *s1 * h[CG_H_RHO] + h[CG_H_C_RHO] * g;
            *s1 = ga;
            avg = sqrtf(sq + -1.0f * ga * ga);
        } else {
            avg = sqrtf(sq);
        }
        avg = avg + h[CG_H_EPS];
        if (h[CG_H_MOMENTUM] > 0.0f) {
            float buf = *s2 * h[CG_H_MOMENTUM] + 1.0f * g / avg;
            *s2 = buf;
            return p + h[CG_H_NEG_LR] * buf;
        }
        return p + h[CG_H_NEG_LR] * g / avg;
    }
    case CG_OPT_RPROP: {
        float s = sign_of(g * *s0);
        float factor = s > 0.0f ? h[CG_H_ETA_PLUS] : (s < 0.0f ? h[CG_H_ETA_MINUS] : 1.0f);
        float step = fminf(fmaxf(*s1 * factor, h[CG_H_STEP_MIN]), h[CG_H_STEP_MAX]);
        *s1 = step;
        if (factor == h[CG_H_ETA_MINUS]) g = 0.0f;
        *s0 = g;
        return p + -1.0f * sign_of(g) * step;
    }
    case CG_OPT_ASGD: {
        if (wd != 0.0f) g = g + wd * p;
        p = p * h[CG_H_DECAY];
        p = p + h[CG_H_NEG_ETA] * g;
        *s0 = (flags & CG_OF_MU_ONE) ? p : *s0 + (p - *s0) * h[CG_H_MU];
        return p;
    }
    }
    return p;
}

/* The float scalars the fused kernels compute (cg_optim_scalars). */
void cg__ref_optim_scalars(int kind, const float *b, int step, float *h)
{
    for (int k = 0; k < CG_H_COUNT; k++) h[k] = 0.0f;
    const float lr = b[CG_B_LR], wd = b[CG_B_WEIGHT_DECAY];
    h[CG_H_LR] = lr;
    h[CG_H_NEG_LR] = -lr;
    h[CG_H_WD] = wd;
    h[CG_H_MOMENTUM] = b[CG_B_MOMENTUM];
    h[CG_H_DAMP_C] = 1.0f - b[CG_B_DAMPENING];
    h[CG_H_B1] = b[CG_B_BETA1];
    h[CG_H_B2] = b[CG_B_BETA2];
    h[CG_H_C1] = 1.0f - b[CG_B_BETA1];
    h[CG_H_C2] = 1.0f - b[CG_B_BETA2];
    h[CG_H_EPS] = b[CG_B_EPS];
    switch (kind) {
    case CG_OPT_ADAM:
    case CG_OPT_ADAMW:
        h[CG_H_NEG_STEP] = -(lr / (1.0f - powf(b[CG_B_BETA1], (float)step)));
        h[CG_H_BC2_SQRT] = sqrtf(1.0f - powf(b[CG_B_BETA2], (float)step));
        h[CG_H_DECAY] = 1.0f - lr * wd;
        break;
    case CG_OPT_ADAMAX:
        h[CG_H_NEG_STEP] = -(lr / (1.0f - powf(b[CG_B_BETA1], (float)step)));
        break;
    case CG_OPT_ADAGRAD:
        h[CG_H_NEG_STEP] = -(lr / (1.0f + (float)(step - 1) * b[CG_B_LR_DECAY]));
        break;
    case CG_OPT_ADADELTA:
        h[CG_H_RHO] = b[CG_B_RHO];
        h[CG_H_C_RHO] = 1.0f - b[CG_B_RHO];
        break;
    case CG_OPT_RMSPROP:
        h[CG_H_RHO] = b[CG_B_ALPHA];
        h[CG_H_C_RHO] = 1.0f - b[CG_B_ALPHA];
        break;
    case CG_OPT_RPROP:
        h[CG_H_ETA_MINUS] = b[CG_B_ETA_MINUS];
        h[CG_H_ETA_PLUS] = b[CG_B_ETA_PLUS];
        h[CG_H_STEP_MIN] = b[CG_B_STEP_MIN];
        h[CG_H_STEP_MAX] = b[CG_B_STEP_MAX];
        break;
    case CG_OPT_ASGD: {
        float eta = step == 1 ? lr
                              : lr / powf(1.0f + b[CG_B_LAMBD] * lr * (float)(step - 1),
                                          b[CG_B_ALPHA]);
        float mu = step == 1 ? 1.0f : 1.0f / fmaxf(1.0f, (float)(step - 1) - b[CG_B_T0]);
        h[CG_H_DECAY] = 1.0f - b[CG_B_LAMBD] * eta;
        h[CG_H_NEG_ETA] = -eta;
        h[CG_H_MU] = mu;
        break;
    }
    }
}

int cg__optim_step_flags(int flags, int step, const float *h)
{
    if (step == 1) flags |= CG_OF_FIRST_STEP;
    if (h[CG_H_MU] == 1.0f) flags |= CG_OF_MU_ONE;
    return flags;
}

/* The C twin of cg_sparse_adam_rule. */
float cg__ref_sparse_adam_rule(float p, float g, float *m, float *v, float c1, float c2,
                               float neg_step_size, float eps)
{
    float m_old = *m, v_old = *v;
    float upd_m = (g - m_old) * c1;
    float upd_v = (g * g - v_old) * c2;
    *m = m_old + upd_m;
    *v = v_old + upd_v;
    float numer = upd_m + m_old;
    float denom = sqrtf(upd_v + v_old) + eps;
    return p + neg_step_size * (numer / denom);
}
