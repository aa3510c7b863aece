/* torch.optim's options for each optimizer: the names, PyTorch's defaults,
 * their validation (errors name the option), the kernels' base array, and
 * the per-step scalars computed in double as torch computes them in Python. */
#include <math.h>
#include <string.h>

#include "internal.h"
#include "linreg_internal.h"

static const char *const names[CG_OPTIM_KIND_COUNT] = {
    "sgd",     "adam",  "adamw", "adamax", "adagrad",     "adadelta",
    "rmsprop", "rprop", "asgd",  "lbfgs",  "sparse_adam",
};

const char *cg_optim_name(cg_optim_kind kind)
{
    return kind >= 0 && kind < CG_OPTIM_KIND_COUNT ? names[kind] : "unknown";
}

cg_optim_options cg_optim_defaults(cg_optim_kind kind)
{
    cg_optim_options o = {0};
    o.betas[0] = 0.9f;
    o.betas[1] = 0.999f;
    o.eps = 1e-8f;
    o.etas[0] = 0.5f;
    o.etas[1] = 1.2f;
    o.step_sizes[0] = 1e-6f;
    o.step_sizes[1] = 50.0f;
    o.lambd = 1e-4f;
    o.t0 = 1e6f;
    switch (kind) {
    case CG_OPTIM_SGD: o.lr = 1e-2f; break; /* torch requires one; the lecture's */
    case CG_OPTIM_ADAM: o.lr = 1e-3f; break;
    case CG_OPTIM_ADAMW:
        o.lr = 1e-3f;
        o.weight_decay = 1e-2f;
        break;
    case CG_OPTIM_ADAMAX: o.lr = 2e-3f; break;
    case CG_OPTIM_ADAGRAD:
        o.lr = 1e-2f;
        o.eps = 1e-10f;
        break;
    case CG_OPTIM_ADADELTA:
        o.lr = 1.0f;
        o.rho = 0.9f;
        o.eps = 1e-6f;
        break;
    case CG_OPTIM_RMSPROP:
        o.lr = 1e-2f;
        o.alpha = 0.99f;
        break;
    case CG_OPTIM_RPROP: o.lr = 1e-2f; break;
    case CG_OPTIM_ASGD:
        o.lr = 1e-2f;
        o.alpha = 0.75f;
        break;
    case CG_OPTIM_LBFGS:
        o.lr = 1.0f;
        break;
    case CG_OPTIM_SPARSE_ADAM: o.lr = 1e-3f; break;
    default: break;
    }
    o.max_iter = 20;
    o.history_size = 100;
    o.tolerance_grad = 1e-7f;
    o.tolerance_change = 1e-9f;
    return o;
}

cg_status cg__optim_validate(cg_context *ctx, const char *what, cg_optim_kind kind,
                             const cg_optim_options *o)
{
    const char *name = cg_optim_name(kind);
#define CG__REQUIRE(cond, ...)                                                                \
    if (!(cond)) return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, __VA_ARGS__)
    CG__REQUIRE(kind >= 0 && kind < CG_OPTIM_KIND_COUNT, "%s: unknown optimizer %d", what,
                (int)kind);
    CG__REQUIRE(o->lr >= 0.0f && isfinite(o->lr), "%s: %s: invalid lr %g (must be >= 0)", what,
                name, (double)o->lr);
    CG__REQUIRE(o->weight_decay >= 0.0f, "%s: %s: invalid weight_decay %g (must be >= 0)", what,
                name, (double)o->weight_decay);
    CG__REQUIRE(o->eps >= 0.0f, "%s: %s: invalid eps %g (must be >= 0)", what, name,
                (double)o->eps);
    switch (kind) {
    case CG_OPTIM_SGD:
        CG__REQUIRE(o->momentum >= 0.0f, "%s: sgd: invalid momentum %g", what,
                    (double)o->momentum);
        CG__REQUIRE(!o->nesterov || (o->momentum > 0.0f && o->dampening == 0.0f),
                    "%s: sgd: nesterov needs a momentum and zero dampening (momentum %g, "
                    "dampening %g)",
                    what, (double)o->momentum, (double)o->dampening);
        break;
    case CG_OPTIM_ADAM:
    case CG_OPTIM_ADAMW:
    case CG_OPTIM_ADAMAX:
    case CG_OPTIM_SPARSE_ADAM:
        CG__REQUIRE(kind != CG_OPTIM_SPARSE_ADAM || o->weight_decay == 0.0f,
                    "%s: sparse_adam has no weight_decay (got %g)", what,
                    (double)o->weight_decay);
        for (int i = 0; i < 2; i++)
            CG__REQUIRE(o->betas[i] >= 0.0f && o->betas[i] < 1.0f,
                        "%s: %s: invalid betas[%d] %g (must be in [0, 1))", what, name, i,
                        (double)o->betas[i]);
        break;
    case CG_OPTIM_ADAGRAD:
        CG__REQUIRE(o->lr_decay >= 0.0f, "%s: adagrad: invalid lr_decay %g", what,
                    (double)o->lr_decay);
        CG__REQUIRE(o->initial_accumulator_value >= 0.0f,
                    "%s: adagrad: invalid initial_accumulator_value %g", what,
                    (double)o->initial_accumulator_value);
        break;
    case CG_OPTIM_ADADELTA:
        CG__REQUIRE(o->rho >= 0.0f && o->rho <= 1.0f, "%s: adadelta: invalid rho %g", what,
                    (double)o->rho);
        break;
    case CG_OPTIM_RMSPROP:
        CG__REQUIRE(o->alpha >= 0.0f, "%s: rmsprop: invalid alpha %g", what, (double)o->alpha);
        CG__REQUIRE(o->momentum >= 0.0f, "%s: rmsprop: invalid momentum %g", what,
                    (double)o->momentum);
        break;
    case CG_OPTIM_RPROP:
        CG__REQUIRE(0.0f < o->etas[0] && o->etas[0] < 1.0f && 1.0f < o->etas[1],
                    "%s: rprop: invalid etas (%g, %g): need 0 < etaminus < 1 < etaplus", what,
                    (double)o->etas[0], (double)o->etas[1]);
        CG__REQUIRE(0.0f <= o->step_sizes[0] && o->step_sizes[0] <= o->step_sizes[1],
                    "%s: rprop: invalid step_sizes (%g, %g)", what, (double)o->step_sizes[0],
                    (double)o->step_sizes[1]);
        break;
    case CG_OPTIM_ASGD:
        CG__REQUIRE(o->lambd >= 0.0f && o->alpha >= 0.0f, "%s: asgd: invalid lambd %g or alpha %g",
                    what, (double)o->lambd, (double)o->alpha);
        break;
    case CG_OPTIM_LBFGS:
        CG__REQUIRE(o->max_iter >= 1, "%s: lbfgs: invalid max_iter %d", what, o->max_iter);
        CG__REQUIRE(o->max_eval >= 0, "%s: lbfgs: invalid max_eval %d", what, o->max_eval);
        CG__REQUIRE(o->history_size >= 1, "%s: lbfgs: invalid history_size %d", what,
                    o->history_size);
        CG__REQUIRE(o->tolerance_grad >= 0.0f && o->tolerance_change >= 0.0f,
                    "%s: lbfgs: invalid tolerance_grad or tolerance_change", what);
        break;
    default: break;
    }
#undef CG__REQUIRE
    return CG_OK;
}

void cg__optim_base(const cg_optim_options *o, float *b, int *flags)
{
    memset(b, 0, CG_B_COUNT * sizeof *b);
    b[CG_B_LR] = o->lr;
    b[CG_B_WEIGHT_DECAY] = o->weight_decay;
    b[CG_B_MOMENTUM] = o->momentum;
    b[CG_B_DAMPENING] = o->dampening;
    b[CG_B_BETA1] = o->betas[0];
    b[CG_B_BETA2] = o->betas[1];
    b[CG_B_EPS] = o->eps;
    b[CG_B_LR_DECAY] = o->lr_decay;
    b[CG_B_RHO] = o->rho;
    b[CG_B_ALPHA] = o->alpha;
    b[CG_B_ETA_MINUS] = o->etas[0];
    b[CG_B_ETA_PLUS] = o->etas[1];
    b[CG_B_STEP_MIN] = o->step_sizes[0];
    b[CG_B_STEP_MAX] = o->step_sizes[1];
    b[CG_B_LAMBD] = o->lambd;
    b[CG_B_T0] = o->t0;
    b[CG_B_INIT_ACC] = o->initial_accumulator_value;
    *flags = (o->maximize ? CG_OF_MAXIMIZE : 0) | (o->nesterov ? CG_OF_NESTEROV : 0) |
             (o->amsgrad ? CG_OF_AMSGRAD : 0) | (o->centered ? CG_OF_CENTERED : 0);
}

/* The step's scalars in double, rounded to float where torch rounds them
 * (Python floats meet float32 tensors; ASGD keeps eta and mu as float32). */
void cg__optim_scalars(cg_optim_kind kind, const cg_optim_options *o, int step, float *h)
{
    memset(h, 0, CG_H_COUNT * sizeof *h);
    const double lr = o->lr, wd = o->weight_decay, b1 = o->betas[0], b2 = o->betas[1];
    h[CG_H_LR] = o->lr;
    h[CG_H_NEG_LR] = -o->lr;
    h[CG_H_WD] = o->weight_decay;
    h[CG_H_MOMENTUM] = o->momentum;
    h[CG_H_DAMP_C] = (float)(1.0 - (double)o->dampening);
    h[CG_H_B1] = o->betas[0];
    h[CG_H_B2] = o->betas[1];
    h[CG_H_C1] = (float)(1.0 - b1);
    h[CG_H_C2] = (float)(1.0 - b2);
    h[CG_H_EPS] = o->eps;
    switch (kind) {
    case CG_OPTIM_ADAM:
    case CG_OPTIM_ADAMW:
        h[CG_H_NEG_STEP] = (float)-(lr / (1.0 - pow(b1, step)));
        h[CG_H_BC2_SQRT] = (float)sqrt(1.0 - pow(b2, step));
        h[CG_H_DECAY] = (float)(1.0 - lr * wd);
        break;
    case CG_OPTIM_ADAMAX: h[CG_H_NEG_STEP] = (float)-(lr / (1.0 - pow(b1, step))); break;
    case CG_OPTIM_ADAGRAD:
        h[CG_H_NEG_STEP] = (float)-(lr / (1.0 + (step - 1) * (double)o->lr_decay));
        break;
    case CG_OPTIM_ADADELTA:
        h[CG_H_RHO] = o->rho;
        h[CG_H_C_RHO] = (float)(1.0 - (double)o->rho);
        break;
    case CG_OPTIM_RMSPROP:
        h[CG_H_RHO] = o->alpha;
        h[CG_H_C_RHO] = (float)(1.0 - (double)o->alpha);
        break;
    case CG_OPTIM_RPROP:
        h[CG_H_ETA_MINUS] = o->etas[0];
        h[CG_H_ETA_PLUS] = o->etas[1];
        h[CG_H_STEP_MIN] = o->step_sizes[0];
        h[CG_H_STEP_MAX] = o->step_sizes[1];
        break;
    case CG_OPTIM_ASGD: {
        float eta = step == 1 ? o->lr
                              : (float)(lr / pow(1.0 + (double)o->lambd * lr * (step - 1),
                                                 (double)o->alpha));
        double m = (double)(step - 1) - (double)o->t0;
        float mu = step == 1 ? 1.0f : (float)(1.0 / (m > 1.0 ? m : 1.0));
        h[CG_H_DECAY] = (float)(1.0 - (double)o->lambd * (double)eta);
        h[CG_H_NEG_ETA] = -eta;
        h[CG_H_MU] = mu;
        break;
    }
    default: break;
    }
}


/* The state slots a rule reads and writes (bit k: slot k), per optim_rules.clh. */
int cg__optim_used_slots(cg_optim_kind kind, const cg_optim_options *o)
{
    switch (kind) {
    case CG_OPTIM_SGD: return o->momentum != 0.0f ? 1 : 0;
    case CG_OPTIM_ADAM:
    case CG_OPTIM_ADAMW: return o->amsgrad ? 7 : 3;
    case CG_OPTIM_ADAMAX: return 3;
    case CG_OPTIM_ADAGRAD: return 1;
    case CG_OPTIM_ADADELTA: return 3;
    case CG_OPTIM_RMSPROP: return 1 | (o->centered ? 2 : 0) | (o->momentum > 0.0f ? 4 : 0);
    case CG_OPTIM_RPROP: return 3;
    case CG_OPTIM_ASGD: return 1;
    default: return 7;
    }
}
