/* Optimizers (optim.cl): torch.optim's update rules from optim_rules.clh,
 * parameter groups with their own options, state on the device, state
 * save/restore, and the step: one launch per group over its arena
 * (optim_arena.c), with the step's scalars passed by value. What differs
 * between optimizers is in their descriptors (optim_table.c): SparseAdam
 * updates the rows a sparse gradient touches; LBFGS is lbfgs.c's. The
 * device work is the backend's (cg__backend's optim: backend/cl_optim.c,
 * backend/ref_optim.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "optim_internal.h"


/* ---- creation ----------------------------------------------------------- */

void cg_optimizer_free(cg_optimizer *opt)
{
    if (!opt) return;
    if (opt->captures) { /* a replay would step freed memory */
        cg__fail(opt->ctx, CG_ERROR_INVALID_ARGUMENT,
                 "cg_optimizer_free: a capture still steps this optimizer: free the capture "
                 "first (cg_capture_free); the optimizer was not freed");
        return;
    }
    /* The parameters' storage moves back: pending nodes first. */
    cg__realize(opt->ctx);
    for (size_t i = 0; i < opt->ngroups; i++) cg__group_free(opt->ctx, &opt->groups[i]);
    cg__lbfgs_free(opt->lbfgs);
    free(opt->groups);
    free(opt);
}

/* what: the public call, for the messages (create makes group 0 here). */
static int add_group(cg_optimizer *opt, cg_tensor *const *params, size_t count,
                     const cg_optim_options *options, const char *what)
{
    if (!opt) return -1;
    cg_context *ctx = opt->ctx;
    const cg__optim_desc *d = opt->desc;
    if (ctx->status) return -1;
    if (!params && count > 0) {
        cg__fail(ctx, CG_ERROR_NULL_POINTER, "%s: params is NULL", what);
        return -1;
    }
    cg_optim_options o = options ? *options : cg_optim_defaults(opt->kind);
    if (cg__optim_validate(ctx, what, opt->kind, &o)) return -1;
    if (d->one_group && opt->ngroups > 0) {
        cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                 "%s: %s doesn't support per-parameter options (parameter groups)", what,
                 d->name);
        return -1;
    }
    if (count == 0) {
        cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "%s: no parameters", what);
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        if (!params[i]) {
            cg__fail(ctx, CG_ERROR_NULL_POINTER, "%s: parameter %zu is NULL", what, i);
            return -1;
        }
        if (params[i]->ctx != ctx) {
            cg__fail(ctx, CG_ERROR_CONTEXT_MISMATCH,
                     "%s: parameter %zu belongs to another context", what, i);
            return -1;
        }
        if (params[i]->tape_owned) {
            cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                     "%s: parameter %zu is an op's output; parameters must be leaves", what, i);
            return -1;
        }
        if (!cg_is_contiguous(params[i])) {
            cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                     "%s: parameter %zu is a view that is not contiguous; parameters must be "
                     "contiguous",
                     what, i);
            return -1;
        }
        /* torch: "some parameters appear in more than one parameter group";
         * stepping one twice per step would be a silent wrong answer. */
        for (size_t j = 0; j < i; j++)
            if (params[i] == params[j]) {
                cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                         "%s: parameter %zu appears twice in the group (as parameter %zu)", what,
                         i, j);
                return -1;
            }
        for (size_t gi = 0; gi < opt->ngroups; gi++)
            for (size_t j = 0; j < opt->groups[gi].count; j++)
                if (params[i] == opt->groups[gi].params[j]) {
                    cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                             "%s: some parameters appear in more than one parameter group: "
                             "parameter %zu is parameter %zu of group %zu",
                             what, i, j, gi);
                    return -1;
                }
    }
    group *groups = cg__realloc(opt->groups, (opt->ngroups + 1) * sizeof *groups);
    if (!groups) {
        cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory", what);
        return -1;
    }
    opt->groups = groups;
    group *g = &groups[opt->ngroups];
    memset(g, 0, sizeof *g);
    g->o = o;
    cg__optim_base(opt->kind, &o, g->base, &g->flags);
    g->count = count;
    g->params = cg__malloc(count * sizeof *g->params);
    g->state = cg__calloc(count * CG_OPT_STATE_SLOTS, sizeof *g->state);
    g->steps = cg__calloc(count, sizeof *g->steps);
    if (!g->params || !g->state || !g->steps) {
        free(g->params); /* nothing else is made yet, and params is not filled */
        free(g->state);
        free(g->steps);
        cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory", what);
        return -1;
    }
    /* The group holds each parameter (released by cg__group_free): the
     * caller may free one before the optimizer. */
    for (size_t i = 0; i < count; i++) g->params[i] = cg__tensor_retain(params[i]);
    if (d->stepping == CG__STEP_CLOSURE) { /* LBFGS: its state is its own (lbfgs.c) */
        for (size_t i = 0; i < count; i++)
            if (!params[i]->requires_grad) {
                cg__group_free(ctx, g);
                cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                         "%s: lbfgs: parameter %zu does not require grad", what, i);
                return -1;
            }
        opt->lbfgs = cg__lbfgs_new(ctx, g->params, count);
        if (!opt->lbfgs) {
            cg__group_free(ctx, g);
            cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory", what);
            return -1;
        }
        return (int)opt->ngroups++;
    }
    /* SparseAdam updates rows, not ranges; a parameter already in another
     * optimizer's arena stays there: both keep per-tensor state. */
    bool arena = d->stepping == CG__STEP_RULE;
    /* Nor does a parameter whose storage other tensors view. */
    for (size_t i = 0; i < count; i++)
        if (params[i]->storage->borrowed || params[i]->storage->refs > 1) arena = false;
    if (!arena) {
        const int used = cg__optim_used_slots(opt->kind, &o);
        for (size_t i = 0; i < count; i++)
            for (int s = 0; s < CG_OPT_STATE_SLOTS; s++)
                if (used & (1 << s))
                    g->state[i * CG_OPT_STATE_SLOTS + s] = cg_tensor_full(
                        ctx, params[i]->shape, cg__initial_state(opt->kind, &o, s));
    } else {
        cg__arena_build(ctx, opt->kind, g);
    }
    if (ctx->status) {
        cg__group_free(ctx, g);
        return -1;
    }
    return (int)opt->ngroups++;
}

int cg_optimizer_add_group(cg_optimizer *opt, cg_tensor *const *params, size_t count,
                           const cg_optim_options *options)
{
    return add_group(opt, params, count, options, "cg_optimizer_add_group");
}

cg_optimizer *cg_optimizer_create(cg_context *ctx, cg_optim_kind kind, cg_tensor *const *params,
                                  size_t count, const cg_optim_options *options)
{
    if (!ctx || cg__realize(ctx)) return NULL; /* the parameters' storage moves */
    if (!cg__optim_desc_of(kind)) {
        cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "cg_optimizer_create: unknown optimizer %d",
                 (int)kind);
        return NULL;
    }
    cg_optimizer *opt = cg__calloc(1, sizeof *opt);
    if (!opt) {
        cg__fail(ctx, CG_ERROR_NO_MEMORY, "cg_optimizer_create: out of memory");
        return NULL;
    }
    opt->ctx = ctx;
    opt->kind = kind;
    opt->desc = cg__optim_desc_of(kind);
    if (add_group(opt, params, count, options, "cg_optimizer_create") < 0) {
        cg_optimizer_free(opt);
        return NULL;
    }
    return opt;
}

/* ---- stepping ----------------------------------------------------------- */

cg_status cg_zero_grad(cg_optimizer *opt)
{
    if (!opt) return CG_ERROR_NULL_POINTER;
    cg_context *ctx = opt->ctx;
    /* In place: what the graph has recorded reads the values before. */
    if (cg__realize(ctx)) return ctx->status;
    if (!cg__capture_call_begin(ctx, CG__CAPTURE_ZERO_GRAD, opt, "cg_zero_grad"))
        return ctx->status;
    cg__optim_zero_grad_now(opt);
    cg__capture_call_end(ctx);
    return ctx->status;
}

cg_status cg__optim_zero_grad_now(cg_optimizer *opt)
{
    cg_context *ctx = opt->ctx;
    for (size_t gi = 0; gi < opt->ngroups && !ctx->status; gi++) {
        group *g = &opt->groups[gi];
        if (g->arena) { /* every gradient of the group: one fill */
            cg__arena_fill(ctx, g, ARENA_G, 0.0f, "cg_zero_grad: clEnqueueFillBuffer");
            continue;
        }
        for (size_t i = 0; i < g->count; i++) cg_zero_grad_of(g->params[i]);
    }
    return ctx->status;
}

/* The rule over one span (optim_internal.h), by the context's backend. */
static cg_status update(cg_optimizer *opt, const group *g, const span *sp, const float *h,
                        int flags)
{
    return opt->ctx->backend->optim->update(opt, g, sp, h, flags);
}

/* Parameter i's own span: its tensor, gradient and state views. */
static span param_span(const group *g, size_t i)
{
    cg_tensor *p = g->params[i];
    cg_tensor *const *st = &g->state[i * CG_OPT_STATE_SLOTS];
    span sp = {.n = p->numel};
    cg_tensor *t[ARENA_COUNT] = {p, p->grad, st[0], st[1], st[2]};
    for (int k = 0; k < ARENA_COUNT; k++) { /* a state slot the rule doesn't use is NULL */
        sp.mem[k] = t[k] ? t[k]->mem : NULL;
        sp.host[k] = t[k] ? t[k]->host : NULL;
    }
    return sp;
}

/* One launch for the whole group when every parameter has a gradient (in
 * the arena) and they have taken the same number of steps. */
static bool step_whole_group(cg_optimizer *opt, group *g)
{
    if (!g->arena) return false;
    for (size_t i = 0; i < g->count; i++)
        if (!g->params[i]->grad || !g->params[i]->grad->storage->borrowed || g->steps[i] != g->steps[0])
            return false;
    int step = 0;
    for (size_t i = 0; i < g->count; i++) step = ++g->steps[i];
    float h[CG_H_COUNT];
    cg__optim_scalars(opt->kind, &g->o, step, h);
    span sp = {.n = g->total};
    for (int k = 0; k < ARENA_COUNT; k++) {
        sp.mem[k] = g->mem[k];
        sp.host[k] = g->host[k];
    }
    update(opt, g, &sp, h, cg__optim_step_flags(g->flags, step, h));
    return true;
}

/* SparseAdam on parameter i: only the rows its row-sparse gradient touches. */
static void sparse_adam_update(cg_optimizer *opt, group *g, size_t i)
{
    cg_context *ctx = opt->ctx;
    cg_tensor *p = g->params[i];
    if (!p->sparse) {
        if (p->grad)
            cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                     "cg_step: sparse_adam does not support dense gradients (parameter %zu); "
                     "use adam, or cg_set_sparse_grad on the embedding's weight",
                     i);
        return;
    }
    const cg_optim_options *o = &g->o;
    int step = ++g->steps[i];
    double b1 = o->betas[0], b2 = o->betas[1];
    float c1 = (float)(1.0 - b1), c2 = (float)(1.0 - b2);
    float neg_step = (float)-((double)o->lr * sqrt(1.0 - pow(b2, step)) / (1.0 - pow(b1, step)));
    cg_tensor *m = g->state[i * CG_OPT_STATE_SLOTS], *v = g->state[i * CG_OPT_STATE_SLOTS + 1];
    ctx->backend->optim->sparse_adam(ctx, o, p, m, v, c1, c2, neg_step);
}

/* torch's dense optimizers raise on a sparse gradient at step ("Adam does not
 * support sparse gradients, please consider SparseAdam instead"); skipping
 * the parameter, as a missing gradient is skipped, would be a silent wrong
 * answer. Checked for every group before anything is updated. */
static cg_status refuse_sparse(cg_optimizer *opt, const char *what)
{
    if (opt->desc->stepping == CG__STEP_SPARSE_ROWS) return CG_OK;
    for (size_t gi = 0; gi < opt->ngroups; gi++)
        for (size_t i = 0; i < opt->groups[gi].count; i++)
            if (opt->groups[gi].params[i]->sparse)
                return cg__fail(opt->ctx, CG_ERROR_INVALID_ARGUMENT,
                                "%s: %s does not support sparse gradients (parameter %zu of "
                                "group %zu has a row-sparse gradient); use SparseAdam "
                                "(CG_OPTIM_SPARSE_ADAM) for it, or cg_set_sparse_grad(weight, "
                                "false) for a dense gradient",
                                what, cg_optim_name(opt->kind), i, gi);
    return CG_OK;
}

cg_status cg_step(cg_optimizer *opt)
{
    if (!opt) return CG_ERROR_NULL_POINTER;
    cg_context *ctx = opt->ctx;
    if (ctx->status) return ctx->status;
    if (opt->desc->stepping == CG__STEP_CLOSURE)
        return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                        "cg_step: %s re-evaluates the loss: step it with cg_step_closure",
                        opt->desc->name);
    if (refuse_sparse(opt, "cg_step")) return ctx->status;
    /* In place: what the graph has recorded reads the values before. */
    if (cg__realize(ctx)) return ctx->status;
    if (!cg__capture_call_begin(ctx, CG__CAPTURE_STEP, opt, "cg_step")) return ctx->status;
    cg__optim_step_now(opt);
    cg__capture_call_end(ctx);
    return ctx->status;
}

cg_status cg__optim_step_now(cg_optimizer *opt)
{
    cg_context *ctx = opt->ctx;
    for (size_t gi = 0; gi < opt->ngroups && !ctx->status; gi++) {
        group *g = &opt->groups[gi];
        if (step_whole_group(opt, g)) continue;
        for (size_t i = 0; i < g->count && !ctx->status; i++) {
            if (opt->desc->stepping == CG__STEP_SPARSE_ROWS) {
                sparse_adam_update(opt, g, i);
                continue;
            }
            if (!g->params[i]->grad) continue; /* torch skips a parameter without grad */
            int step = ++g->steps[i];
            float h[CG_H_COUNT];
            cg__optim_scalars(opt->kind, &g->o, step, h);
            span sp = param_span(g, i);
            update(opt, g, &sp, h, cg__optim_step_flags(g->flags, step, h));
        }
    }
    return ctx->status;
}

/* cg_optim_scalars (the fused trainers' per-step scalars, in float) of kind
 * with options o at each of steps[0..n), into h (n * CG_H_COUNT floats): by
 * ctx's backend, on the device or the C build of the same text. Only the
 * twin test calls it, to hold the two to the same bits. */
cg_status cg__optim_fused_scalars(cg_context *ctx, cg_optim_kind kind, const cg_optim_options *o,
                                  const int *steps, size_t n, float *h)
{
    static const char what[] = "cg__optim_fused_scalars";
    const cg__optim_desc *d = cg__optim_desc_of(kind);
    if (!d || d->rule < 0)
        return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "%s: %s has no rule in optim_rules.clh",
                        what, cg_optim_name(kind));
    float b[CG_B_COUNT];
    int flags;
    cg__optim_base(kind, o, b, &flags);
    return ctx->backend->optim->scalars(ctx, d->rule, b, steps, n, h);
}

/* LBFGS reads the gradients right after each evaluation, inside its step:
 * the sparse check runs there too. */
typedef struct checked_closure {
    cg_optimizer *opt;
    cg_closure_fn fn;
    void *user;
} checked_closure;

static float closure_then_check(void *user)
{
    checked_closure *c = user;
    float loss = c->fn(c->user);
    return refuse_sparse(c->opt, "cg_step_closure") ? NAN : loss;
}

float cg_step_closure(cg_optimizer *opt, cg_closure_fn closure, void *user)
{
    if (!opt) return NAN;
    cg_context *ctx = opt->ctx;
    if (cg__realize(ctx)) return NAN;
    if (!closure) {
        cg__fail(ctx, CG_ERROR_NULL_POINTER, "cg_step_closure: closure is NULL");
        return NAN;
    }
    if (opt->desc->stepping == CG__STEP_CLOSURE) {
        if (ctx->capture) {
            cg__fail(ctx, CG_ERROR_UNSUPPORTED,
                     "cg_step_closure: cannot be captured: %s reads its scalars on the host "
                     "every step",
                     opt->desc->name);
            return NAN;
        }
        checked_closure c = {opt, closure, user};
        return cg__lbfgs_step(opt->lbfgs, &opt->groups[0].o, closure_then_check, &c);
    }
    float loss = closure(user);
    cg_step(opt);
    return ctx->status ? NAN : loss;
}

size_t cg_optimizer_groups(const cg_optimizer *opt) { return opt ? opt->ngroups : 0; }

/* A group index past the last: NaN/NULL with the error on the context. */
static bool group_ok(const cg_optimizer *opt, size_t gi, const char *what)
{
    if (gi < opt->ngroups) return true;
    cg__fail(opt->ctx, CG_ERROR_INVALID_ARGUMENT, "%s: no group %zu (the optimizer has %zu)",
             what, gi, opt->ngroups);
    return false;
}

float cg_optimizer_lr(const cg_optimizer *opt, size_t group)
{
    if (!opt || !group_ok(opt, group, "cg_optimizer_lr")) return NAN;
    return opt->groups[group].o.lr;
}

cg_status cg_optimizer_set_lr(cg_optimizer *opt, size_t gi, float lr)
{
    if (!opt) return CG_ERROR_NULL_POINTER;
    if (opt->ctx->status) return opt->ctx->status;
    if (gi >= opt->ngroups || !(lr >= 0.0f) || !isfinite(lr))
        return cg__fail(opt->ctx, CG_ERROR_INVALID_ARGUMENT,
                        "cg_optimizer_set_lr: group %zu of %zu, lr %g", gi, opt->ngroups,
                        (double)lr);
    opt->groups[gi].o.lr = lr;
    opt->groups[gi].base[CG_B_LR] = lr;
    return CG_OK;
}

cg_tensor *const *cg_optimizer_params(const cg_optimizer *opt, size_t gi, size_t *count)
{
    if (count) *count = 0;
    if (!opt || !group_ok(opt, gi, "cg_optimizer_params")) return NULL;
    if (count) *count = opt->groups[gi].count;
    return opt->groups[gi].params;
}

cg_context *cg__optimizer_context(const cg_optimizer *opt);
cg_context *cg__optimizer_context(const cg_optimizer *opt) { return opt ? opt->ctx : NULL; }

cg_tensor *cg_optimizer_average(const cg_optimizer *opt, size_t gi, size_t i)
{
    if (!opt || !group_ok(opt, gi, "cg_optimizer_average")) return NULL;
    if (i >= opt->groups[gi].count) {
        cg__fail(opt->ctx, CG_ERROR_INVALID_ARGUMENT,
                 "cg_optimizer_average: group %zu has %zu parameters (asked for %zu)", gi,
                 opt->groups[gi].count, i);
        return NULL;
    }
    if (!opt->desc->average) return NULL;
    return opt->groups[gi].state[i * CG_OPT_STATE_SLOTS];
}

/* ---- state save/restore ---------------------------------------------------
 * Layout: for each group, for each parameter: its step count (as a float,
 * exact up to 2^24), then its state slots' elements. */

size_t cg_optimizer_state_size(const cg_optimizer *opt)
{
    if (opt && opt->lbfgs) return cg__lbfgs_state_size(opt->lbfgs);
    size_t n = 0;
    for (size_t gi = 0; opt && gi < opt->ngroups; gi++)
        for (size_t i = 0; i < opt->groups[gi].count; i++) {
            n += 1;
            for (int s = 0; s < CG_OPT_STATE_SLOTS; s++)
                if (opt->groups[gi].state[i * CG_OPT_STATE_SLOTS + s])
                    n += opt->groups[gi].params[i]->numel;
        }
    return n;
}

static cg_status state_io(cg_optimizer *opt, float *buf, size_t count, bool save)
{
    const char *what = save ? "cg_optimizer_state_save" : "cg_optimizer_state_load";
    if (!opt) return CG_ERROR_NULL_POINTER;
    cg_context *ctx = opt->ctx;
    if (ctx->status) return ctx->status;
    if (!buf) return cg__fail(ctx, CG_ERROR_NULL_POINTER, "%s: buffer is NULL", what);
    if (opt->lbfgs) return cg__lbfgs_state_io(opt->lbfgs, buf, count, save, what);
    if (count != cg_optimizer_state_size(opt))
        return cg__fail(ctx, CG_ERROR_SHAPE_MISMATCH, "%s: %zu floats given, the state has %zu",
                        what, count, cg_optimizer_state_size(opt));
    size_t off = 0;
    for (size_t gi = 0; gi < opt->ngroups; gi++) {
        group *g = &opt->groups[gi];
        for (size_t i = 0; i < g->count; i++) {
            if (save)
                buf[off] = (float)g->steps[i];
            else
                g->steps[i] = (int)buf[off];
            off++;
            for (int s = 0; s < CG_OPT_STATE_SLOTS; s++) {
                cg_tensor *t = g->state[i * CG_OPT_STATE_SLOTS + s];
                if (!t) continue; /* a slot this optimizer doesn't use */
                if (save)
                    cg_tensor_read(t, buf + off, t->numel);
                else
                    cg_tensor_write(t, buf + off, t->numel);
                off += t->numel;
            }
        }
    }
    return ctx->status;
}

cg_status cg_optimizer_state_save(cg_optimizer *opt, float *dst, size_t count)
{
    if (opt) cg__realize(opt->ctx);
    return state_io(opt, dst, count, true);
}

cg_status cg_optimizer_state_load(cg_optimizer *opt, const float *src, size_t count)
{
    if (opt) cg__realize(opt->ctx);
    return state_io(opt, (float *)src, count, false);
}
