/* torch.optim's optimizers, one block and one table entry each: the name,
 * PyTorch's defaults, the checks of the options (an error names the option
 * and its value), the state slots the rule keeps and where they start, and
 * the per-step scalars the rule is given, computed in double as torch
 * computes them in Python. The rules themselves: src/kernels/optim_rules.clh.
 * Below the table, the functions the rest of the library calls, which only
 * read it. */
#include <math.h>
#include <string.h>

#include "optim_table.h"

/* The kernels' ids and layouts (optim_defs.clh) are clgrad.h's enums. */
_Static_assert(CG_OPTIM_SGD == CG_OPT_SGD && CG_OPTIM_ADAM == CG_OPT_ADAM &&
                   CG_OPTIM_ADAMW == CG_OPT_ADAMW && CG_OPTIM_ADAMAX == CG_OPT_ADAMAX &&
                   CG_OPTIM_ADAGRAD == CG_OPT_ADAGRAD && CG_OPTIM_ADADELTA == CG_OPT_ADADELTA &&
                   CG_OPTIM_RMSPROP == CG_OPT_RMSPROP && CG_OPTIM_RPROP == CG_OPT_RPROP &&
                   CG_OPTIM_ASGD == CG_OPT_ASGD,
               "cg_optim_kind and optim_defs.clh's CG_OPT_* ids disagree");
_Static_assert(CG_OPT_RULE_COUNT == CG_OPTIM_ASGD + 1 && CG_OPTIM_LBFGS >= CG_OPT_RULE_COUNT &&
                   CG_OPTIM_SPARSE_ADAM >= CG_OPT_RULE_COUNT,
               "every rule of optim_rules.clh has a cg_optim_kind, and no other kind has one");
_Static_assert(CG_OPT_STATE_SLOTS == 3, "cg_optim_update passes three state buffers");
_Static_assert(CG_H_COUNT == 16 + 8, "a step's scalars travel as a float16 and a float8");
_Static_assert(CG_B_INIT + CG_OPT_STATE_SLOTS <= CG_B_DELTA && CG_B_DELTA < CG_B_COUNT &&
                   CG_B_T0 < CG_B_INIT,
               "optim_defs.clh's base layout overlaps");
_Static_assert(CG_H_MU < CG_H_COUNT, "optim_defs.clh's step layout overflows");

#define REQUIRE(cond, ...)                                                                   \
    if (!(cond)) return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, __VA_ARGS__)

static int slots_0(const cg_optim_options *o) { return (void)o, 1; }
static int slots_01(const cg_optim_options *o) { return (void)o, 3; }

/* 1 - beta^step, as torch's bias corrections. */
static double bias_correction(double beta, int step) { return 1.0 - pow(beta, step); }

static cg_status betas_valid(cg_context *ctx, const char *what, const char *name,
                             const cg_optim_options *o)
{
    for (int i = 0; i < 2; i++)
        REQUIRE(o->betas[i] >= 0.0f && o->betas[i] < 1.0f,
                "%s: %s: invalid betas[%d] %g (must be in [0, 1))", what, name, i,
                (double)o->betas[i]);
    return CG_OK;
}

/* ---- SGD ---------------------------------------------------------------- */

static cg_status sgd_validate(cg_context *ctx, const char *what, const cg_optim_options *o)
{
    REQUIRE(o->momentum >= 0.0f, "%s: sgd: invalid momentum %g", what, (double)o->momentum);
    REQUIRE(!o->nesterov || (o->momentum > 0.0f && o->dampening == 0.0f),
            "%s: sgd: nesterov needs a momentum and zero dampening (momentum %g, dampening %g)",
            what, (double)o->momentum, (double)o->dampening);
    return CG_OK;
}

/* The momentum buffer, only with a momentum. */
static int sgd_slots(const cg_optim_options *o) { return o->momentum != 0.0f ? 1 : 0; }

/* ---- Adam, AdamW -------------------------------------------------------- */

static void adamw_defaults(cg_optim_options *o) { o->weight_decay = 1e-2f; }

static cg_status adam_validate(cg_context *ctx, const char *what, const cg_optim_options *o)
{
    return betas_valid(ctx, what, "adam", o);
}

static cg_status adamw_validate(cg_context *ctx, const char *what, const cg_optim_options *o)
{
    return betas_valid(ctx, what, "adamw", o);
}

/* exp_avg, exp_avg_sq, and max_exp_avg_sq with amsgrad. */
static int adam_slots(const cg_optim_options *o) { return o->amsgrad ? 7 : 3; }

static void adam_scalars(const cg_optim_options *o, int step, float *h)
{
    const double lr = o->lr;
    h[CG_H_NEG_STEP] = (float)-(lr / bias_correction(o->betas[0], step));
    h[CG_H_BC2_SQRT] = (float)sqrt(bias_correction(o->betas[1], step));
    h[CG_H_DECAY] = (float)(1.0 - lr * (double)o->weight_decay); /* AdamW's */
}

/* ---- Adamax ------------------------------------------------------------- */

static cg_status adamax_validate(cg_context *ctx, const char *what, const cg_optim_options *o)
{
    return betas_valid(ctx, what, "adamax", o);
}

static void adamax_scalars(const cg_optim_options *o, int step, float *h)
{
    h[CG_H_NEG_STEP] = (float)-((double)o->lr / bias_correction(o->betas[0], step));
}

/* ---- Adagrad ------------------------------------------------------------ */

static void adagrad_defaults(cg_optim_options *o) { o->eps = 1e-10f; }

static cg_status adagrad_validate(cg_context *ctx, const char *what, const cg_optim_options *o)
{
    REQUIRE(o->lr_decay >= 0.0f, "%s: adagrad: invalid lr_decay %g", what, (double)o->lr_decay);
    REQUIRE(o->initial_accumulator_value >= 0.0f,
            "%s: adagrad: invalid initial_accumulator_value %g", what,
            (double)o->initial_accumulator_value);
    return CG_OK;
}

/* The sum starts at initial_accumulator_value. */
static float adagrad_initial(const cg_optim_options *o, int s)
{
    return s == 0 ? o->initial_accumulator_value : 0.0f;
}

static void adagrad_scalars(const cg_optim_options *o, int step, float *h)
{
    h[CG_H_NEG_STEP] = (float)-((double)o->lr / (1.0 + (step - 1) * (double)o->lr_decay));
}

/* ---- Adadelta ----------------------------------------------------------- */

static void adadelta_defaults(cg_optim_options *o)
{
    o->rho = 0.9f;
    o->eps = 1e-6f;
}

static cg_status adadelta_validate(cg_context *ctx, const char *what, const cg_optim_options *o)
{
    REQUIRE(o->rho >= 0.0f && o->rho <= 1.0f, "%s: adadelta: invalid rho %g", what,
            (double)o->rho);
    return CG_OK;
}

static void adadelta_scalars(const cg_optim_options *o, int step, float *h)
{
    (void)step;
    h[CG_H_RHO] = o->rho;
    h[CG_H_C_RHO] = (float)(1.0 - (double)o->rho);
}

/* ---- RMSprop ------------------------------------------------------------ */

static void rmsprop_defaults(cg_optim_options *o) { o->alpha = 0.99f; }

static cg_status rmsprop_validate(cg_context *ctx, const char *what, const cg_optim_options *o)
{
    REQUIRE(o->alpha >= 0.0f, "%s: rmsprop: invalid alpha %g", what, (double)o->alpha);
    REQUIRE(o->momentum >= 0.0f, "%s: rmsprop: invalid momentum %g", what, (double)o->momentum);
    return CG_OK;
}

/* square_avg; grad_avg when centered; the momentum buffer with a momentum. */
static int rmsprop_slots(const cg_optim_options *o)
{
    return 1 | (o->centered ? 2 : 0) | (o->momentum > 0.0f ? 4 : 0);
}

static void rmsprop_scalars(const cg_optim_options *o, int step, float *h)
{
    (void)step;
    h[CG_H_RHO] = o->alpha;
    h[CG_H_C_RHO] = (float)(1.0 - (double)o->alpha);
}

/* ---- Rprop -------------------------------------------------------------- */

static cg_status rprop_validate(cg_context *ctx, const char *what, const cg_optim_options *o)
{
    REQUIRE(0.0f < o->etas[0] && o->etas[0] < 1.0f && 1.0f < o->etas[1],
            "%s: rprop: invalid etas (%g, %g): need 0 < etaminus < 1 < etaplus", what,
            (double)o->etas[0], (double)o->etas[1]);
    REQUIRE(0.0f <= o->step_sizes[0] && o->step_sizes[0] <= o->step_sizes[1],
            "%s: rprop: invalid step_sizes (%g, %g)", what, (double)o->step_sizes[0],
            (double)o->step_sizes[1]);
    return CG_OK;
}

/* prev starts at 0, the step sizes at lr. */
static float rprop_initial(const cg_optim_options *o, int s) { return s == 1 ? o->lr : 0.0f; }

static void rprop_scalars(const cg_optim_options *o, int step, float *h)
{
    (void)step;
    h[CG_H_ETA_MINUS] = o->etas[0];
    h[CG_H_ETA_PLUS] = o->etas[1];
    h[CG_H_STEP_MIN] = o->step_sizes[0];
    h[CG_H_STEP_MAX] = o->step_sizes[1];
}

/* ---- ASGD --------------------------------------------------------------- */

static void asgd_defaults(cg_optim_options *o) { o->alpha = 0.75f; }

static cg_status asgd_validate(cg_context *ctx, const char *what, const cg_optim_options *o)
{
    REQUIRE(o->lambd >= 0.0f && o->alpha >= 0.0f, "%s: asgd: invalid lambd %g or alpha %g",
            what, (double)o->lambd, (double)o->alpha);
    return CG_OK;
}

/* eta and mu as torch leaves them after step - 1, float32 tensors there. */
static void asgd_scalars(const cg_optim_options *o, int step, float *h)
{
    const double lr = o->lr;
    float eta = step == 1 ? o->lr
                          : (float)(lr / pow(1.0 + (double)o->lambd * lr * (step - 1),
                                             (double)o->alpha));
    double m = (double)(step - 1) - (double)o->t0;
    float mu = step == 1 ? 1.0f : (float)(1.0 / (m > 1.0 ? m : 1.0));
    h[CG_H_DECAY] = (float)(1.0 - (double)o->lambd * (double)eta);
    h[CG_H_NEG_ETA] = -eta;
    h[CG_H_MU] = mu;
}

/* ---- LBFGS (lbfgs.c steps it) -------------------------------------------- */

static cg_status lbfgs_validate(cg_context *ctx, const char *what, const cg_optim_options *o)
{
    REQUIRE(o->max_iter >= 1, "%s: lbfgs: invalid max_iter %d", what, o->max_iter);
    REQUIRE(o->max_eval >= 0, "%s: lbfgs: invalid max_eval %d", what, o->max_eval);
    REQUIRE(o->history_size >= 1, "%s: lbfgs: invalid history_size %d", what, o->history_size);
    REQUIRE(o->tolerance_grad >= 0.0f && o->tolerance_change >= 0.0f,
            "%s: lbfgs: invalid tolerance_grad or tolerance_change", what);
    return CG_OK;
}

/* ---- SparseAdam (optim.c's cg_sparse_adam_update) ------------------------ */

static cg_status sparse_adam_validate(cg_context *ctx, const char *what,
                                      const cg_optim_options *o)
{
    REQUIRE(o->weight_decay == 0.0f, "%s: sparse_adam has no weight_decay (got %g)", what,
            (double)o->weight_decay);
    return betas_valid(ctx, what, "sparse_adam", o);
}

/* ---- the table ----------------------------------------------------------- */

static const cg__optim_desc table[CG_OPTIM_KIND_COUNT] = {
    [CG_OPTIM_SGD] = {.name = "sgd", .rule = CG_OPT_SGD, .lr = 1e-2f, /* the lecture's */
                      .validate = sgd_validate, .slots = sgd_slots},
    [CG_OPTIM_ADAM] = {.name = "adam", .rule = CG_OPT_ADAM, .lr = 1e-3f,
                       .validate = adam_validate, .slots = adam_slots, .scalars = adam_scalars},
    [CG_OPTIM_ADAMW] = {.name = "adamw", .rule = CG_OPT_ADAMW, .lr = 1e-3f,
                        .defaults = adamw_defaults, .validate = adamw_validate,
                        .slots = adam_slots, .scalars = adam_scalars},
    [CG_OPTIM_ADAMAX] = {.name = "adamax", .rule = CG_OPT_ADAMAX, .lr = 2e-3f,
                         .validate = adamax_validate, .slots = slots_01,
                         .scalars = adamax_scalars},
    [CG_OPTIM_ADAGRAD] = {.name = "adagrad", .rule = CG_OPT_ADAGRAD, .lr = 1e-2f,
                          .defaults = adagrad_defaults, .validate = adagrad_validate,
                          .slots = slots_0, .initial = adagrad_initial,
                          .scalars = adagrad_scalars},
    [CG_OPTIM_ADADELTA] = {.name = "adadelta", .rule = CG_OPT_ADADELTA, .lr = 1.0f,
                           .defaults = adadelta_defaults, .validate = adadelta_validate,
                           .slots = slots_01, .scalars = adadelta_scalars},
    [CG_OPTIM_RMSPROP] = {.name = "rmsprop", .rule = CG_OPT_RMSPROP, .lr = 1e-2f,
                          .defaults = rmsprop_defaults, .validate = rmsprop_validate,
                          .slots = rmsprop_slots, .scalars = rmsprop_scalars},
    [CG_OPTIM_RPROP] = {.name = "rprop", .rule = CG_OPT_RPROP, .lr = 1e-2f,
                        .validate = rprop_validate, .slots = slots_01, .initial = rprop_initial,
                        .scalars = rprop_scalars},
    [CG_OPTIM_ASGD] = {.name = "asgd", .rule = CG_OPT_ASGD, .average = true, .lr = 1e-2f,
                       .defaults = asgd_defaults, .validate = asgd_validate, .slots = slots_0,
                       .scalars = asgd_scalars},
    [CG_OPTIM_LBFGS] = {.name = "lbfgs", .stepping = CG__STEP_CLOSURE, .rule = -1,
                        .one_group = true, .lr = 1.0f, .validate = lbfgs_validate},
    [CG_OPTIM_SPARSE_ADAM] = {.name = "sparse_adam", .stepping = CG__STEP_SPARSE_ROWS,
                              .rule = -1, .lr = 1e-3f, .validate = sparse_adam_validate,
                              .slots = slots_01},
};

/* ---- what the rest of the library calls --------------------------------- */

const cg__optim_desc *cg__optim_desc_of(cg_optim_kind kind)
{
    return kind >= 0 && kind < CG_OPTIM_KIND_COUNT ? &table[kind] : NULL;
}

const char *cg_optim_name(cg_optim_kind kind)
{
    const cg__optim_desc *d = cg__optim_desc_of(kind);
    return d ? d->name : "unknown";
}

cg_optim_options cg_optim_defaults(cg_optim_kind kind)
{
    /* torch's defaults for every option some optimizer shares */
    cg_optim_options o = {
        .betas = {0.9f, 0.999f},
        .eps = 1e-8f,
        .etas = {0.5f, 1.2f},
        .step_sizes = {1e-6f, 50.0f},
        .lambd = 1e-4f,
        .t0 = 1e6f,
        .max_iter = 20,
        .history_size = 100,
        .tolerance_grad = 1e-7f,
        .tolerance_change = 1e-9f,
    };
    const cg__optim_desc *d = cg__optim_desc_of(kind);
    if (!d) return o;
    o.lr = d->lr;
    if (d->defaults) d->defaults(&o);
    return o;
}

cg_status cg__optim_validate(cg_context *ctx, const char *what, cg_optim_kind kind,
                             const cg_optim_options *o)
{
    const cg__optim_desc *d = cg__optim_desc_of(kind);
    REQUIRE(d, "%s: unknown optimizer %d", what, (int)kind);
    REQUIRE(o->lr >= 0.0f && isfinite(o->lr), "%s: %s: invalid lr %g (must be >= 0)", what,
            d->name, (double)o->lr);
    REQUIRE(o->weight_decay >= 0.0f, "%s: %s: invalid weight_decay %g (must be >= 0)", what,
            d->name, (double)o->weight_decay);
    REQUIRE(o->eps >= 0.0f, "%s: %s: invalid eps %g (must be >= 0)", what, d->name,
            (double)o->eps);
    return d->validate ? d->validate(ctx, what, o) : CG_OK;
}

int cg__optim_used_slots(cg_optim_kind kind, const cg_optim_options *o)
{
    const cg__optim_desc *d = cg__optim_desc_of(kind);
    return d && d->slots ? d->slots(o) : 0;
}

float cg__initial_state(cg_optim_kind kind, const cg_optim_options *o, int s)
{
    const cg__optim_desc *d = cg__optim_desc_of(kind);
    return d && d->initial ? d->initial(o, s) : 0.0f;
}

void cg__optim_base(cg_optim_kind kind, const cg_optim_options *o, float *b, int *flags)
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
    for (int s = 0; s < CG_OPT_STATE_SLOTS; s++) b[CG_B_INIT + s] = cg__initial_state(kind, o, s);
    *flags = (o->maximize ? CG_OF_MAXIMIZE : 0) | (o->nesterov ? CG_OF_NESTEROV : 0) |
             (o->amsgrad ? CG_OF_AMSGRAD : 0) | (o->centered ? CG_OF_CENTERED : 0);
}

void cg__optim_scalars(cg_optim_kind kind, const cg_optim_options *o, int step, float *h)
{
    memset(h, 0, CG_H_COUNT * sizeof *h);
    h[CG_H_LR] = o->lr;
    h[CG_H_NEG_LR] = -o->lr;
    h[CG_H_WD] = o->weight_decay;
    h[CG_H_MOMENTUM] = o->momentum;
    h[CG_H_DAMP_C] = (float)(1.0 - (double)o->dampening);
    h[CG_H_B1] = o->betas[0];
    h[CG_H_B2] = o->betas[1];
    h[CG_H_C1] = (float)(1.0 - (double)o->betas[0]);
    h[CG_H_C2] = (float)(1.0 - (double)o->betas[1]);
    h[CG_H_EPS] = o->eps;
    const cg__optim_desc *d = cg__optim_desc_of(kind);
    if (d && d->scalars) d->scalars(o, step, h);
}
