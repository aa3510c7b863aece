/* clgrad fit's optimizer flags, with PyTorch's names in kebab case; each
 * belongs to the optimizers that have that option, and a flag given to
 * another optimizer is an error that names its owners. Also --scheduler and
 * the clipping flags. */
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli_optim.h"

#define ALL_BUT(x) (0x1FFu & ~(1u << (x)))
#define K(x) (1u << (x))

/* Each flag: its id, its name, and the optimizers that own it (a bit per
 * optimizer id; 0: every optimizer). One list, so that the option table
 * below needs no name twice and stays a constant initializer. */
#define CLI_FLAGS(X)                                                                       \
    X(F_MOMENTUM, "momentum", K(CG_OPTIM_SGD) | K(CG_OPTIM_RMSPROP))                       \
    X(F_DAMPENING, "dampening", K(CG_OPTIM_SGD))                                           \
    X(F_NESTEROV, "nesterov", K(CG_OPTIM_SGD))                                             \
    X(F_WEIGHT_DECAY, "weight-decay", ALL_BUT(CG_OPTIM_RPROP))                             \
    X(F_AMSGRAD, "amsgrad", K(CG_OPTIM_ADAM) | K(CG_OPTIM_ADAMW))                          \
    X(F_MAXIMIZE, "maximize", 0x1FFu)                                                      \
    X(F_LR_DECAY, "lr-decay", K(CG_OPTIM_ADAGRAD))                                         \
    X(F_INITIAL_ACC, "initial-accumulator-value", K(CG_OPTIM_ADAGRAD))                     \
    X(F_RHO, "rho", K(CG_OPTIM_ADADELTA))                                                  \
    X(F_ALPHA, "alpha", K(CG_OPTIM_RMSPROP) | K(CG_OPTIM_ASGD))                            \
    X(F_CENTERED, "centered", K(CG_OPTIM_RMSPROP))                                         \
    X(F_ETAS, "etas", K(CG_OPTIM_RPROP))                                                   \
    X(F_STEP_SIZES, "step-sizes", K(CG_OPTIM_RPROP))                                       \
    X(F_LAMBD, "lambd", K(CG_OPTIM_ASGD))                                                  \
    X(F_T0, "t0", K(CG_OPTIM_ASGD))                                                        \
    X(F_MAX_ITER, "max-iter", K(CLI_LBFGS))                                                \
    X(F_MAX_EVAL, "max-eval", K(CLI_LBFGS))                                                \
    X(F_TOL_GRAD, "tolerance-grad", K(CLI_LBFGS))                                          \
    X(F_TOL_CHANGE, "tolerance-change", K(CLI_LBFGS))                                      \
    X(F_HISTORY, "history-size", K(CLI_LBFGS))                                             \
    X(F_LINE_SEARCH, "line-search", K(CLI_LBFGS))                                          \
    X(F_BETAS, "betas", K(CG_OPTIM_ADAM) | K(CG_OPTIM_ADAMW) | K(CG_OPTIM_ADAMAX))         \
    X(F_EPS, "eps",                                                                        \
      K(CG_OPTIM_ADAM) | K(CG_OPTIM_ADAMW) | K(CG_OPTIM_ADAMAX) | K(CG_OPTIM_ADAGRAD) |    \
          K(CG_OPTIM_ADADELTA) | K(CG_OPTIM_RMSPROP))                                      \
    X(F_SCHEDULER, "scheduler", 0)                                                         \
    X(F_CLIP_NORM, "clip-grad-norm", 0)                                                    \
    X(F_CLIP_VALUE, "clip-grad-value", 0)

enum flag {
#define CLI_ID(id, name, owners) id,
    CLI_FLAGS(CLI_ID)
#undef CLI_ID
    F_COUNT
};

static const struct {
    const char *name;
    unsigned owners;
} flags[F_COUNT] = {
#define CLI_ROW(id, name, owners) [id] = {name, owners},
    CLI_FLAGS(CLI_ROW)
#undef CLI_ROW
};

static bool takes_value(int f)
{
    return f != F_NESTEROV && f != F_AMSGRAD && f != F_MAXIMIZE && f != F_CENTERED;
}

const struct option cli_optim_options[] = {
#define CLI_OPT(id, name, owners) {name, 0, 0, CLI_OPTIM_CODE + id},
    CLI_FLAGS(CLI_OPT)
#undef CLI_OPT
    {0, 0, 0, 0},
};

const char cli_optim_usage[] =
    "optimizer options (PyTorch's names; each belongs to the optimizers that have it):\n"
    "  --optimizer gd|sgd|adam|adamw|adamax|adagrad|adadelta|rmsprop|rprop|asgd|lbfgs\n"
    "  --lr F                learning rate (gd/sgd 1e-2; the others PyTorch's default)\n"
    "  --momentum F  --dampening F  --nesterov      sgd (momentum: rmsprop too)\n"
    "  --weight-decay F      every optimizer but rprop (adamw: decoupled, 1e-2)\n"
    "  --betas B1,B2  --eps F  --amsgrad            adam, adamw, adamax (eps: more)\n"
    "  --maximize            every optimizer: ascend instead\n"
    "  --lr-decay F  --initial-accumulator-value F  adagrad\n"
    "  --rho F               adadelta\n"
    "  --alpha F  --centered                        rmsprop (alpha: asgd too)\n"
    "  --etas A,B  --step-sizes A,B                 rprop\n"
    "  --lambd F  --t0 F                            asgd\n"
    "  --max-iter N  --max-eval N  --tolerance-grad F  --tolerance-change F\n"
    "  --history-size N  --line-search none|strong_wolfe      lbfgs (one epoch: one step)\n"
    "  --scheduler step:STEP,GAMMA | multistep:M1;M2,GAMMA | exp:GAMMA |\n"
    "              cosine:T_MAX[,ETA_MIN] | linear:START,END,ITERS | plateau:FACTOR,PATIENCE\n"
    "                        stepped once per epoch, after the optimizer\n"
    "  --clip-grad-norm F    scale the gradients to a global 2-norm of at most F\n"
    "  --clip-grad-value F   clamp every gradient element into [-F, F]\n";

static int fail(const cli_optim *c, const char *fmt, ...) CLI_PRINTF(2, 3);
static int fail(const cli_optim *c, const char *fmt, ...)
{
    if (!c->err) return CLI_USAGE;
    va_list ap;
    va_start(ap, fmt);
    fprintf(c->err, "clgrad fit: ");
    vfprintf(c->err, fmt, ap);
    fprintf(c->err, "\n(see clgrad fit --help)\n");
    va_end(ap);
    return CLI_USAGE;
}

void cli_optim_free(cli_optim *c)
{
    free(c->milestones);
    c->milestones = NULL;
}

static const char *const kind_names[] = {"sgd",     "adam",  "adamw", "adamax", "adagrad",
                                         "adadelta", "rmsprop", "rprop", "asgd",   "lbfgs",
                                         "sparse_adam"};

int cli_optim_kind(const char *name, cli_optim *c)
{
    if (strcmp(name, "gd") == 0) name = "sgd";
    for (int k = 0; k <= CG_OPTIM_SPARSE_ADAM; k++)
        if (strcmp(name, kind_names[k]) == 0) {
            c->kind = k;
            return -1;
        }
    return fail(c, "unknown --optimizer '%s' (expected gd, sgd, adam, adamw, adamax, adagrad, "
                   "adadelta, rmsprop, rprop, asgd or lbfgs)",
                name);
}

static int number(const cli_optim *c, const char *flag, const char *v, float *out,
                  bool positive)
{
    if (!cli_parse_float(v, out) || (positive ? !(*out > 0.0f) : !(*out >= 0.0f)))
        return fail(c, "--%s must be a %s (got '%s')", flag,
                    positive ? "positive number" : "number >= 0", v);
    return -1;
}

/* Exactly n floats separated by sep into out; false otherwise. */
static bool floats(const char *v, char sep, float *out, size_t n)
{
    size_t count;
    float *f = cli_parse_floats(v, sep, &count);
    bool ok = f && count == n;
    if (ok) memcpy(out, f, n * sizeof *f);
    free(f);
    return ok;
}

static int pair(const cli_optim *c, const char *flag, const char *v, float *out)
{
    if (!floats(v, ',', out, 2)) return fail(c, "--%s takes A,B (got '%s')", flag, v);
    return -1;
}

/* A scheduler spec's fields, split on ','. */
typedef struct fields {
    const char *at[4];
    size_t len[4], n;
} fields;

static fields split(const char *s)
{
    fields f = {{0}, {0}, 0};
    for (const char *p = s;; p++) {
        const char *q = strchr(p, ',');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        if (f.n == 4) {
            f.n++; /* too many: no spec takes more than 3 */
            return f;
        }
        f.at[f.n] = p;
        f.len[f.n++] = len;
        if (!q) return f;
        p = q;
    }
}

static bool field_int(const fields *f, size_t i, unsigned long long lo, int *out)
{
    unsigned long long v;
    if (i >= f->n || !cli_parse_uint(f->at[i], f->len[i], lo, INT_MAX, &v)) return false;
    *out = (int)v;
    return true;
}

static bool field_float(const fields *f, size_t i, float *out)
{
    return i < f->n && cli_parse_float_n(f->at[i], f->len[i], out);
}

static int scheduler(const char *v, cli_optim *c)
{
    const char *colon = strchr(v, ':');
    const size_t klen = colon ? (size_t)(colon - v) : strlen(v);
#define KIND(name) (klen == sizeof(name) - 1 && strncmp(v, name, klen) == 0)
    const char *args = colon ? colon + 1 : "";
    fields f = split(args);
    cg_scheduler_options *s = &c->sched;
    c->has_scheduler = true;
    if (KIND("step")) {
        *s = cg_scheduler_defaults(CG_SCHED_STEP);
        if (f.n != 2 || !field_int(&f, 0, 1, &s->step_size) || !field_float(&f, 1, &s->gamma) ||
            !(s->gamma > 0))
            return fail(c, "--scheduler step:STEP,GAMMA needs an integer STEP from 1 to %d "
                           "and GAMMA > 0 (got '%s')",
                        INT_MAX, v);
    } else if (KIND("multistep")) {
        *s = cg_scheduler_defaults(CG_SCHED_MULTISTEP);
        const char *comma = strrchr(args, ',');
        if (!comma || !cli_parse_float(comma + 1, &s->gamma) || !(s->gamma > 0))
            return fail(c, "--scheduler multistep:M1;M2,GAMMA needs GAMMA > 0 (got '%s')", v);
        size_t n = 1;
        for (const char *p = args; p < comma; p++) n += *p == ';';
        free(c->milestones);
        c->milestones = malloc(n * sizeof *c->milestones);
        if (!c->milestones) return fail(c, "out of memory");
        s->nmilestones = 0;
        for (const char *p = args; s->nmilestones < n;) {
            const char *q = memchr(p, ';', (size_t)(comma - p));
            size_t len = q ? (size_t)(q - p) : (size_t)(comma - p);
            unsigned long long m;
            if (!cli_parse_uint(p, len, 1, INT_MAX, &m) ||
                (s->nmilestones && (int)m < c->milestones[s->nmilestones - 1]))
                return fail(c, "--scheduler multistep: milestones are ascending integers from 1 "
                               "to %d, separated by ';' (got '%.*s' in '%s')",
                            INT_MAX, (int)len, p, v);
            c->milestones[s->nmilestones++] = (int)m;
            p += len + 1;
        }
        s->milestones = c->milestones;
    } else if (KIND("exp")) {
        *s = cg_scheduler_defaults(CG_SCHED_EXP);
        if (!cli_parse_float(args, &s->gamma) || !(s->gamma > 0))
            return fail(c, "--scheduler exp:GAMMA needs GAMMA > 0 (got '%s')", v);
    } else if (KIND("cosine")) {
        *s = cg_scheduler_defaults(CG_SCHED_COSINE);
        s->eta_min = 0.0f;
        if (f.n < 1 || f.n > 2 || !field_int(&f, 0, 1, &s->T_max) ||
            (f.n == 2 && (!field_float(&f, 1, &s->eta_min) || !(s->eta_min >= 0))))
            return fail(c, "--scheduler cosine:T_MAX[,ETA_MIN] needs an integer T_MAX from 1 to "
                           "%d and ETA_MIN >= 0 (got '%s')",
                        INT_MAX, v);
    } else if (KIND("linear")) {
        *s = cg_scheduler_defaults(CG_SCHED_LINEAR);
        if (f.n != 3 || !field_float(&f, 0, &s->start_factor) ||
            !field_float(&f, 1, &s->end_factor) || !field_int(&f, 2, 1, &s->total_iters) ||
            !(s->start_factor > 0 && s->start_factor <= 1) ||
            !(s->end_factor >= 0 && s->end_factor <= 1))
            return fail(c, "--scheduler linear:START,END,ITERS needs START in (0,1], END in "
                           "[0,1], and an integer ITERS from 1 to %d (got '%s')",
                        INT_MAX, v);
    } else if (KIND("plateau")) {
        *s = cg_scheduler_defaults(CG_SCHED_PLATEAU);
        if (f.n != 2 || !field_float(&f, 0, &s->factor) || !field_int(&f, 1, 0, &s->patience) ||
            !(s->factor >= 0 && s->factor < 1))
            return fail(c, "--scheduler plateau:FACTOR,PATIENCE needs FACTOR in [0,1) and an "
                           "integer PATIENCE from 0 to %d (got '%s')",
                        INT_MAX, v);
    } else {
        return fail(c, "unknown --scheduler '%s' (expected step:, multistep:, exp:, cosine:, "
                       "linear: or plateau:)",
                    v);
    }
#undef KIND
    return -1;
}

int cli_optim_flag(int code, const char *v, cli_optim *c)
{
    int f = code - CLI_OPTIM_CODE;
    if (f < 0 || f >= F_COUNT) return fail(c, "internal: unknown flag");
    const char *name = flags[f].name;
    if (takes_value(f) && !v) return fail(c, "--%s needs a value", name);
    c->given |= 1ul << f;
    cg_optim_options *o = &c->o;
    switch (f) {
    case F_MOMENTUM: return number(c, name, v, &o->momentum, false);
    case F_DAMPENING: return number(c, name, v, &o->dampening, false);
    case F_NESTEROV: o->nesterov = true; return -1;
    case F_WEIGHT_DECAY: return number(c, name, v, &o->weight_decay, false);
    case F_AMSGRAD: o->amsgrad = true; return -1;
    case F_MAXIMIZE: o->maximize = true; return -1;
    case F_LR_DECAY: return number(c, name, v, &o->lr_decay, false);
    case F_INITIAL_ACC: return number(c, name, v, &o->initial_accumulator_value, false);
    case F_RHO: return number(c, name, v, &o->rho, false);
    case F_ALPHA: return number(c, name, v, &o->alpha, false);
    case F_CENTERED: o->centered = true; return -1;
    case F_ETAS: return pair(c, name, v, o->etas);
    case F_STEP_SIZES: return pair(c, name, v, o->step_sizes);
    case F_LAMBD: return number(c, name, v, &o->lambd, false);
    case F_T0: return number(c, name, v, &o->t0, false);
    case F_BETAS:
        if (!floats(v, ',', o->betas, 2) ||
            !(o->betas[0] >= 0 && o->betas[0] < 1 && o->betas[1] >= 0 && o->betas[1] < 1))
            return fail(c, "--betas takes B1,B2, each in [0, 1) (got '%s')", v);
        return -1;
    case F_EPS: return number(c, name, v, &o->eps, false);
    case F_SCHEDULER: return scheduler(v, c);
    case F_CLIP_NORM: return number(c, name, v, &c->clip_norm, true);
    case F_CLIP_VALUE: return number(c, name, v, &c->clip_value, true);
    case F_MAX_ITER:
    case F_MAX_EVAL:
    case F_HISTORY: {
        /* LBFGS keeps history-size vectors and runs max-iter steps per epoch:
         * a million of either is already beyond any use. */
        unsigned long long l;
        char flag[40];
        snprintf(flag, sizeof flag, "--%s", name);
        if (!cli_uint_flag(c->err, "clgrad fit", flag, v, f == F_MAX_EVAL ? 0 : 1, 1000000, &l))
            return CLI_USAGE;
        if (f == F_MAX_ITER) o->max_iter = (int)l;
        else if (f == F_MAX_EVAL) o->max_eval = (int)l;
        else o->history_size = (int)l;
        return -1;
    }
    case F_TOL_GRAD: return number(c, name, v, &o->tolerance_grad, false);
    case F_TOL_CHANGE: return number(c, name, v, &o->tolerance_change, false);
    case F_LINE_SEARCH:
        if (!strcmp(v, "none")) o->strong_wolfe = false;
        else if (!strcmp(v, "strong_wolfe")) o->strong_wolfe = true;
        else return fail(c, "unknown --line-search '%s' (expected none or strong_wolfe)", v);
        return -1;
    default: return -1;
    }
}

int cli_optim_finish(cli_optim *c, bool lr_given, float lr, cg_optim_options *out)
{
    for (int f = 0; f < F_COUNT; f++) {
        if (!(c->given & (1ul << f)) || !flags[f].owners) continue;
        if (flags[f].owners & (1u << c->kind)) continue;
        char owners[128] = "";
        for (int k = 0; k <= CLI_LBFGS; k++)
            if (flags[f].owners & (1u << k)) {
                strcat(owners, owners[0] ? ", " : "");
                strcat(owners, kind_names[k]);
            }
        char flag[200];
        snprintf(flag, sizeof flag, "--%s belongs to %s", flags[f].name, owners);
        return fail(c, "%s, not to --optimizer %s", flag, kind_names[c->kind]);
    }
    cg_optim_options o = cg_optim_defaults((cg_optim_kind)c->kind);
    const cg_optim_options *g = &c->o;
    if (lr_given) o.lr = lr;
    if (c->given & (1ul << F_MOMENTUM)) o.momentum = g->momentum;
    if (c->given & (1ul << F_DAMPENING)) o.dampening = g->dampening;
    if (c->given & (1ul << F_NESTEROV)) o.nesterov = true;
    if (c->given & (1ul << F_WEIGHT_DECAY)) o.weight_decay = g->weight_decay;
    if (c->given & (1ul << F_AMSGRAD)) o.amsgrad = true;
    if (c->given & (1ul << F_MAXIMIZE)) o.maximize = true;
    if (c->given & (1ul << F_LR_DECAY)) o.lr_decay = g->lr_decay;
    if (c->given & (1ul << F_INITIAL_ACC)) o.initial_accumulator_value = g->initial_accumulator_value;
    if (c->given & (1ul << F_RHO)) o.rho = g->rho;
    if (c->given & (1ul << F_ALPHA)) o.alpha = g->alpha;
    if (c->given & (1ul << F_CENTERED)) o.centered = true;
    if (c->given & (1ul << F_ETAS)) memcpy(o.etas, g->etas, sizeof o.etas);
    if (c->given & (1ul << F_STEP_SIZES)) memcpy(o.step_sizes, g->step_sizes, sizeof o.step_sizes);
    if (c->given & (1ul << F_LAMBD)) o.lambd = g->lambd;
    if (c->given & (1ul << F_T0)) o.t0 = g->t0;
    if (c->given & (1ul << F_BETAS)) memcpy(o.betas, g->betas, sizeof o.betas);
    if (c->given & (1ul << F_EPS)) o.eps = g->eps;
    if (c->given & (1ul << F_MAX_ITER)) o.max_iter = g->max_iter;
    if (c->given & (1ul << F_MAX_EVAL)) o.max_eval = g->max_eval;
    if (c->given & (1ul << F_HISTORY)) o.history_size = g->history_size;
    if (c->given & (1ul << F_TOL_GRAD)) o.tolerance_grad = g->tolerance_grad;
    if (c->given & (1ul << F_TOL_CHANGE)) o.tolerance_change = g->tolerance_change;
    if (c->given & (1ul << F_LINE_SEARCH)) o.strong_wolfe = g->strong_wolfe;
    if (c->kind == CG_OPTIM_SPARSE_ADAM)
        return fail(c, "--optimizer sparse_adam updates row-sparse gradients (embeddings); "
                       "clgrad fit's models have dense ones: use adam");
    /* Combinations (nesterov without momentum, ...) are the library's to
     * check: it names the option before any training starts. */
    *out = o;
    return -1;
}
