/* The optimizers' work on the reference path (cg__backend's optim): the
 * rules of optim_rules.clh compiled as C (ref/optim_ref.c) in plain loops,
 * the arena in host memory, L-BFGS's vector operations with double
 * accumulation. The twin of cl_optim.c. */
#include <math.h>
#include <string.h>

#include "../optim_internal.h"
#include "../ref/ops_ref.h"

/* ---- steps ----------------------------------------------------------------- */

static cg_status update(cg_optimizer *opt, const group *g, const span *sp, const float *h,
                        int flags)
{
    (void)g;
    float *const *a = sp->host;
    float unused = 0.0f; /* slots the rule neither reads nor writes */
    for (size_t k = 0; k < sp->n; k++) {
        float *s0 = a[ARENA_S0] ? &a[ARENA_S0][k] : &unused;
        float *s1 = a[ARENA_S0 + 1] ? &a[ARENA_S0 + 1][k] : &unused;
        float *s2 = a[ARENA_S0 + 2] ? &a[ARENA_S0 + 2][k] : &unused;
        a[ARENA_P][k] = cg__ref_optim_rule(opt->desc->rule, flags, h, a[ARENA_P][k],
                                           a[ARENA_G][k], s0, s1, s2);
    }
    return CG_OK;
}

static cg_status sparse_adam(cg_context *ctx, const cg_optim_options *o, cg_tensor *p,
                             cg_tensor *m, cg_tensor *v, float c1, float c2, float neg_step)
{
    (void)ctx;
    const cg__sparse *sp = p->sparse;
    for (size_t u = 0; u < sp->nrows; u++)
        for (size_t c = 0; c < sp->dim; c++) {
            size_t at = (size_t)sp->rows[u] * sp->dim + c;
            float gv = sp->values->host[u * sp->dim + c];
            if (o->maximize) gv = -gv;
            p->host[at] = cg__ref_sparse_adam_rule(p->host[at], gv, &m->host[at], &v->host[at],
                                                   c1, c2, neg_step, o->eps);
        }
    return CG_OK;
}

static cg_status scalars(cg_context *ctx, int rule, const float *b, const int *steps, size_t n,
                         float *h)
{
    (void)ctx;
    for (size_t i = 0; i < n; i++) cg__ref_optim_scalars(rule, b, steps[i], h + i * CG_H_COUNT);
    return CG_OK;
}

/* ---- the arena ------------------------------------------------------------- */

static cg_status arena_alloc(cg_context *ctx, group *g, int k)
{
    g->host[k] = cg__host_get(ctx, g->total * sizeof(float), "cg_optimizer");
    return ctx->status;
}

/* A borrowed tensor shaped like `like` over host at off: a gradient or a
 * state slot. NULL (error on ctx) on failure. */
static cg_tensor *arena_tensor(cg_context *ctx, const cg_tensor *like, float *host, size_t off)
{
    return cg__tensor_borrowed(ctx, like->shape, NULL, host ? host + off : NULL, "cg_optimizer");
}

static bool move_in(cg_context *ctx, group *g, size_t i, int used)
{
    cg_tensor *p = g->params[i];
    const size_t off = g->offset[i];
    cg_tensor *state[CG_OPT_STATE_SLOTS] = {NULL}, *grad = NULL;
    if (p->grad && !(grad = arena_tensor(ctx, p, g->host[ARENA_G], off))) goto fail;
    for (int s = 0; s < CG_OPT_STATE_SLOTS; s++)
        if ((used & (1 << s)) && !(state[s] = arena_tensor(ctx, p, g->host[ARENA_S0 + s], off)))
            goto fail;

    /* Nothing can fail from here: the parameter moves in. */
    cg__storage *st = p->storage;
    memcpy(g->host[ARENA_P] + off, st->host, p->bytes);
    cg__host_put(ctx, st->host, st->bytes);
    st->host = g->host[ARENA_P] + off;
    p->grad_home_host = g->host[ARENA_G] + off;
    if (grad) memcpy(p->grad_home_host, p->grad->host, p->bytes);
    cg__arena_adopt(g, i, grad, state);
    return true;
fail:
    for (int s = 0; s < CG_OPT_STATE_SLOTS; s++) cg__tensor_release(state[s]);
    cg__tensor_release(grad);
    return false;
}

/* t (a view) gets its own memory again, with its values; false when there
 * is none: t stays a view, and the caller keeps the arena alive for it. */
static bool unborrow(cg_context *ctx, cg_tensor *t)
{
    cg__storage *s = t ? t->storage : NULL;
    if (!s || !s->borrowed) return true;
    float *own = cg__host_get_anyway(ctx, s->bytes);
    if (!own) return false;
    memcpy(own, s->host, s->bytes);
    s->host = own;
    s->borrowed = false;
    cg__tensor_refresh(t);
    return true;
}

static void move_out(cg_context *ctx, cg_tensor *p, bool *pinned)
{
    if (!unborrow(ctx, p)) pinned[ARENA_P] = true;
    if (p->grad && !unborrow(ctx, p->grad)) pinned[ARENA_G] = true;
    p->grad_home = NULL;
    p->grad_home_host = NULL;
}

/* ---- L-BFGS ------------------------------------------------------------------ */

static cg_status axpy_at(cg_context *ctx, cg_tensor *y, float a, const cg_tensor *x, size_t off)
{
    (void)ctx;
    cg__ref_axpy(y->host, a, x->host + off, y->numel);
    return CG_OK;
}

static cg_tensor *grad_home(cg_context *ctx, cg_tensor *p, const char *what)
{
    return cg__tensor_borrowed(ctx, p->shape, NULL, p->grad_home_host, what);
}

const struct cg__optim_backend cg__optim_ref = {
    .update = update,
    .sparse_adam = sparse_adam,
    .scalars = scalars,
    .arena_alloc = arena_alloc,
    .move_in = move_in,
    .move_out = move_out,
    .axpy_at = axpy_at,
    .grad_home = grad_home,
};
