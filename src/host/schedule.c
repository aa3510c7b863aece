/* Learning-rate schedules with torch.optim.lr_scheduler's semantics: the
 * same recursive ("chainable") formulas, in double, epoch by epoch. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

cg_context *cg__optimizer_context(const cg_optimizer *opt);

struct cg_scheduler {
    cg_optimizer *opt;
    cg_scheduler_options o;
    int *milestones;
    size_t ngroups;
    double *lr, *base_lr;
    long last_epoch;
    /* ReduceLROnPlateau */
    double best;
    int num_bad_epochs, cooldown_counter;
};

cg_scheduler_options cg_scheduler_defaults(cg_sched_kind kind)
{
    cg_scheduler_options o = {0};
    o.kind = kind;
    o.gamma = kind == CG_SCHED_EXP ? 0.0f : 0.1f;
    o.start_factor = 1.0f / 3.0f;
    o.end_factor = 1.0f;
    o.total_iters = 5;
    o.factor = 0.1f;
    o.patience = 10;
    o.threshold = 1e-4f;
    o.eps = 1e-8f;
    return o;
}

void cg_scheduler_free(cg_scheduler *s)
{
    if (!s) return;
    free(s->milestones);
    free(s->lr);
    free(s->base_lr);
    free(s);
}

static cg_status apply(cg_scheduler *s)
{
    for (size_t g = 0; g < s->ngroups; g++) cg_optimizer_set_lr(s->opt, g, (float)s->lr[g]);
    return cg_status_of(cg__optimizer_context(s->opt));
}

/* The chainable get_lr of each scheduler at s->last_epoch. */
static double next_lr(const cg_scheduler *s, size_t g)
{
    const cg_scheduler_options *o = &s->o;
    const long e = s->last_epoch;
    const double lr = s->lr[g], gamma = o->gamma;
    switch (o->kind) {
    case CG_SCHED_STEP: return (e == 0 || e % o->step_size != 0) ? lr : lr * gamma;
    case CG_SCHED_MULTISTEP: {
        int hits = 0;
        for (size_t i = 0; i < o->nmilestones; i++) hits += s->milestones[i] == e;
        return hits ? lr * pow(gamma, hits) : lr;
    }
    case CG_SCHED_EXP: return e == 0 ? lr : lr * gamma;
    case CG_SCHED_COSINE: {
        const double T = o->T_max, eta_min = o->eta_min, pi = 3.14159265358979323846;
        if (e == 0) return lr;
        if ((e - 1 - o->T_max) % (2 * o->T_max) == 0)
            return lr + (s->base_lr[g] - eta_min) * (1 - cos(pi / T)) / 2;
        return (1 + cos(pi * e / T)) / (1 + cos(pi * (e - 1) / T)) * (lr - eta_min) + eta_min;
    }
    case CG_SCHED_LINEAR: {
        const double sf = o->start_factor, ef = o->end_factor;
        if (e == 0) return lr * sf;
        if (e > o->total_iters) return lr;
        return lr * (1. + (ef - sf) / (o->total_iters * sf + (e - 1) * (ef - sf)));
    }
    default: return lr;
    }
}

cg_scheduler *cg_scheduler_create(cg_optimizer *opt, const cg_scheduler_options *options)
{
    static const char what[] = "cg_scheduler_create";
    cg_context *ctx = cg__optimizer_context(opt);
    if (!ctx || ctx->status) return NULL;
    if (!options) {
        cg__fail(ctx, CG_ERROR_NULL_POINTER, "%s: options is NULL", what);
        return NULL;
    }
    const cg_scheduler_options *o = options;
    if (o->kind == CG_SCHED_MULTISTEP && !o->milestones && o->nmilestones) {
        cg__fail(ctx, CG_ERROR_NULL_POINTER, "%s: milestones is NULL (%zu milestones)", what,
                 o->nmilestones);
        return NULL;
    }
    const char *bad = NULL;
    switch (o->kind) {
    case CG_SCHED_STEP:
        if (o->step_size < 1) bad = "step_size must be >= 1";
        break;
    case CG_SCHED_MULTISTEP:
        for (size_t i = 1; !bad && i < o->nmilestones; i++)
            if (o->milestones[i] < o->milestones[i - 1]) bad = "milestones must be ascending";
        break;
    case CG_SCHED_EXP:
        if (!(o->gamma > 0.0f)) bad = "gamma must be positive";
        break;
    case CG_SCHED_COSINE:
        if (o->T_max < 1) bad = "T_max must be >= 1";
        break;
    case CG_SCHED_LINEAR:
        if (!(o->start_factor > 0.0f && o->start_factor <= 1.0f) ||
            !(o->end_factor >= 0.0f && o->end_factor <= 1.0f))
            bad = "start_factor must be in (0, 1] and end_factor in [0, 1]";
        else if (o->total_iters < 1)
            bad = "total_iters must be >= 1";
        break;
    case CG_SCHED_PLATEAU:
        if (!(o->factor < 1.0f && o->factor >= 0.0f)) bad = "factor must be in [0, 1)";
        else if (o->patience < 0) bad = "patience must be >= 0";
        break;
    default: bad = "unknown scheduler";
    }
    if (bad) {
        cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "%s: %s", what, bad);
        return NULL;
    }
    cg_scheduler *s = cg__calloc(1, sizeof *s);
    size_t ng = cg_optimizer_groups(opt);
    if (s) {
        s->lr = cg__calloc(ng, sizeof *s->lr);
        s->base_lr = cg__calloc(ng, sizeof *s->base_lr);
        s->milestones = cg__calloc(o->nmilestones + 1, sizeof *s->milestones);
    }
    if (!s || !s->lr || !s->base_lr || !s->milestones) {
        cg_scheduler_free(s);
        cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory", what);
        return NULL;
    }
    s->opt = opt;
    s->o = *o;
    if (o->nmilestones) memcpy(s->milestones, o->milestones, o->nmilestones * sizeof(int));
    s->o.milestones = s->milestones;
    s->ngroups = ng;
    for (size_t g = 0; g < ng; g++) s->lr[g] = s->base_lr[g] = cg_optimizer_lr(opt, g);
    s->best = INFINITY;
    /* torch's constructor takes the first step: epoch 0. */
    s->last_epoch = 0;
    if (o->kind != CG_SCHED_PLATEAU) {
        for (size_t g = 0; g < ng; g++) s->lr[g] = next_lr(s, g);
        apply(s);
    }
    return s;
}

cg_status cg_scheduler_step(cg_scheduler *s, float metric)
{
    if (!s) return CG_ERROR_NULL_POINTER;
    cg_context *ctx = cg__optimizer_context(s->opt);
    if (ctx->status) return ctx->status;
    s->last_epoch++;
    if (s->o.kind != CG_SCHED_PLATEAU) {
        for (size_t g = 0; g < s->ngroups; g++) s->lr[g] = next_lr(s, g);
        return apply(s);
    }
    /* ReduceLROnPlateau, mode 'min', threshold_mode 'rel'. */
    double current = metric;
    if (current < s->best * (1.0 - (double)s->o.threshold)) {
        s->best = current;
        s->num_bad_epochs = 0;
    } else {
        s->num_bad_epochs++;
    }
    if (s->cooldown_counter > 0) {
        s->cooldown_counter--;
        s->num_bad_epochs = 0;
    }
    if (s->num_bad_epochs > s->o.patience) {
        for (size_t g = 0; g < s->ngroups; g++) {
            double old_lr = s->lr[g];
            double new_lr = fmax(old_lr * (double)s->o.factor, (double)s->o.min_lr);
            if (old_lr - new_lr > (double)s->o.eps) s->lr[g] = new_lr;
        }
        s->cooldown_counter = s->o.cooldown;
        s->num_bad_epochs = 0;
    }
    return apply(s);
}

double cg_scheduler_lr(const cg_scheduler *s, size_t g)
{
    if (!s) return NAN;
    if (g < s->ngroups) return s->lr[g];
    cg_context *ctx = cg__optimizer_context(s->opt);
    if (g < cg_optimizer_groups(s->opt))
        cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                 "cg_scheduler_lr: group %zu was added to the optimizer after the scheduler was "
                 "created; the scheduler drives groups 0 to %zu only",
                 g, s->ngroups - 1);
    else
        cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                 "cg_scheduler_lr: no group %zu (the optimizer has %zu)", g,
                 cg_optimizer_groups(s->opt));
    return NAN;
}
