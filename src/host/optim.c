/* Optimizers on the tape path (optim.cl): the parameters' update from their
 * grad, state (Adam's moments) on the device, the rules of optim_rules.clh
 * (ref: ref/optim_ref.c). One launch per parameter tensor. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "linreg_internal.h"

struct cg_optimizer {
    cg_context *ctx;
    cg_optim_kind kind;
    float lr, beta1, beta2, eps;
    int step;
    size_t count;
    cg_tensor **params;
    cg_tensor **m, **v; /* Adam */
};

void cg_optimizer_free(cg_optimizer *opt)
{
    if (!opt) return;
    for (size_t i = 0; i < opt->count; i++) {
        if (opt->m) cg_tensor_free(opt->m[i]);
        if (opt->v) cg_tensor_free(opt->v[i]);
    }
    free(opt->params);
    free(opt->m);
    free(opt->v);
    free(opt);
}

static cg_optimizer *create(cg_context *ctx, const char *what, cg_optim_kind kind,
                            cg_tensor *const *params, size_t count)
{
    if (!ctx || ctx->status) return NULL;
    if (!params || count == 0) {
        cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "%s: no parameters", what);
        return NULL;
    }
    for (size_t i = 0; i < count; i++) {
        if (!params[i]) {
            cg__fail(ctx, CG_ERROR_NULL_POINTER, "%s: parameter %zu is NULL", what, i);
            return NULL;
        }
        if (params[i]->ctx != ctx) {
            cg__fail(ctx, CG_ERROR_CONTEXT_MISMATCH,
                     "%s: parameter %zu belongs to another context", what, i);
            return NULL;
        }
        if (params[i]->tape_owned) {
            cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                     "%s: parameter %zu is an op's output; parameters must be leaves", what, i);
            return NULL;
        }
    }
    cg_optimizer *opt = calloc(1, sizeof *opt);
    if (opt) opt->params = malloc(count * sizeof *opt->params);
    if (!opt || !opt->params) {
        free(opt);
        cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory", what);
        return NULL;
    }
    memcpy(opt->params, params, count * sizeof *params);
    opt->ctx = ctx;
    opt->kind = kind;
    opt->count = count;
    return opt;
}

cg_optimizer *cg_sgd(cg_context *ctx, cg_tensor *const *params, size_t count,
                     const cg_sgd_options *options)
{
    float lr = options && options->lr != 0.0f ? options->lr : 1e-2f;
    if (ctx && !ctx->status && (!(lr > 0.0f) || !isfinite(lr))) {
        cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "cg_sgd: lr must be positive (got %g)",
                 (double)lr);
        return NULL;
    }
    cg_optimizer *opt = create(ctx, "cg_sgd", CG_OPTIM_SGD, params, count);
    if (opt) opt->lr = lr;
    return opt;
}

cg_optimizer *cg_adam(cg_context *ctx, cg_tensor *const *params, size_t count,
                      const cg_adam_options *options)
{
    cg_adam_options o = options ? *options : (cg_adam_options){0};
    if (o.lr == 0.0f) o.lr = 1e-3f;
    if (o.betas[0] == 0.0f && o.betas[1] == 0.0f) {
        o.betas[0] = 0.9f;
        o.betas[1] = 0.999f;
    }
    if (o.eps == 0.0f) o.eps = 1e-8f;
    if (ctx && !ctx->status) {
        if (!(o.lr > 0.0f) || !isfinite(o.lr)) {
            cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "cg_adam: lr must be positive (got %g)",
                     (double)o.lr);
            return NULL;
        }
        for (int i = 0; i < 2; i++)
            if (!(o.betas[i] >= 0.0f && o.betas[i] < 1.0f)) {
                cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                         "cg_adam: betas[%d] must be in [0, 1) (got %g)", i, (double)o.betas[i]);
                return NULL;
            }
        if (!(o.eps >= 0.0f)) {
            cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "cg_adam: eps must be >= 0 (got %g)",
                     (double)o.eps);
            return NULL;
        }
    }
    cg_optimizer *opt = create(ctx, "cg_adam", CG_OPTIM_ADAM, params, count);
    if (!opt) return NULL;
    opt->lr = o.lr;
    opt->beta1 = o.betas[0];
    opt->beta2 = o.betas[1];
    opt->eps = o.eps;
    opt->m = calloc(count, sizeof *opt->m);
    opt->v = calloc(count, sizeof *opt->v);
    if (!opt->m || !opt->v) {
        cg_optimizer_free(opt);
        cg__fail(ctx, CG_ERROR_NO_MEMORY, "cg_adam: out of memory");
        return NULL;
    }
    for (size_t i = 0; i < count; i++) {
        opt->m[i] = cg_tensor_zeros(ctx, params[i]->shape);
        opt->v[i] = cg_tensor_zeros(ctx, params[i]->shape);
    }
    if (ctx->status) {
        cg_optimizer_free(opt);
        return NULL;
    }
    return opt;
}

cg_status cg_zero_grad(cg_optimizer *opt)
{
    if (!opt) return CG_ERROR_NULL_POINTER;
    for (size_t i = 0; i < opt->count; i++) cg_zero_grad_of(opt->params[i]);
    return opt->ctx->status;
}

cg_status cg_step(cg_optimizer *opt)
{
    if (!opt) return CG_ERROR_NULL_POINTER;
    cg_context *ctx = opt->ctx;
    if (ctx->status) return ctx->status;
    opt->step++;
    for (size_t i = 0; i < opt->count && !ctx->status; i++) {
        cg_tensor *p = opt->params[i], *g = p->grad;
        if (!g) continue; /* torch skips parameters whose grad is None */
        cg_tensor *m = opt->m ? opt->m[i] : p, *v = opt->v ? opt->v[i] : p;
        if (ctx->is_ref) {
            for (size_t k = 0; k < p->numel; k++)
                p->host[k] = opt->kind == CG_OPTIM_ADAM
                                 ? cg__ref_rule_adam(p->host[k], g->host[k], &m->host[k],
                                                     &v->host[k], opt->step, opt->lr, opt->beta1,
                                                     opt->beta2, opt->eps)
                                 : cg__ref_rule_sgd(p->host[k], g->host[k], opt->lr);
            continue;
        }
        cl_kernel k = cg__kernel(ctx, CG__PROGRAM_OPTIM, NULL, "cg_optim_update");
        cl_int kind = opt->kind, step = opt->step;
        cl_uint n = (cl_uint)p->numel;
        if (!k || cg__set_args(ctx, k, "cg_step", sizeof kind, &kind, sizeof(cl_mem), &p->mem,
                               sizeof(cl_mem), &g->mem, sizeof(cl_mem), &m->mem, sizeof(cl_mem),
                               &v->mem, sizeof n, &n, sizeof step, &step, sizeof opt->lr,
                               &opt->lr, sizeof opt->beta1, &opt->beta1, sizeof opt->beta2,
                               &opt->beta2, sizeof opt->eps, &opt->eps, (size_t)0))
            break;
        cg__launch_n(ctx, k, n, "cg_step");
    }
    return ctx->status;
}
