/* Capture and replay: a training step run once and recorded, then run again
 * from the record, with no graph building, no allocation and no host wait.
 *
 * While a capture is open the context's backend is a copy of its own whose
 * entries record what they are asked before passing it on: the nodes and
 * fused groups the graph hands to exec (copied, their tensors referenced),
 * and the fills and writes of host calls. Everything a step does on the
 * device goes through the backend (the boundary's lint keeps it so), so the
 * record is complete by construction; calls a backend makes into its own
 * table while running one (depth > 0) are part of that one.
 *
 * Two calls are recorded as what they are rather than as what they launch:
 * an optimizer's step, whose scalars (Adam's bias corrections, a
 * scheduler's lr) change every step, and its zero_grad, which fills memory
 * the optimizer owns. A replay runs them again, computing this step's
 * scalars on the host as cg_step does: the same kernels with the same
 * arguments as an uncaptured step, so replayed results are the same bits.
 *
 * What a replay cannot repeat is refused while capturing, with the reason:
 * work that waits on the host (L-BFGS, clipping that checks the norm), a
 * step that makes gradients or optimizer state (the first one: capture a
 * later step), SparseAdam (its rows come from the host), the fused linear
 * trainer. Reads are let through and not recorded: a replay does not read,
 * read the results after it. */
#include <stdlib.h>
#include <string.h>

#include "capture_internal.h"

/* ---- the record ------------------------------------------------------------ */

static rec *append(cg_capture *c, rec_kind kind, const char *what)
{
    cg_context *ctx = c->ctx;
    if (c->count == c->capacity) {
        size_t cap = c->capacity ? 2 * c->capacity : 32;
        rec *r = cg__realloc(c->recs, cap * sizeof *r);
        if (!r) {
            cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory capturing the step", what);
            return NULL;
        }
        c->recs = r;
        c->capacity = cap;
    }
    rec *r = &c->recs[c->count++];
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->what = what;
    return r;
}

/* The host indices a node owns (cg__node.rows): how many. */
static size_t rows_count(const cg__node *n)
{
    if (!n->rows) return 0;
    if (n->kind == CG__OP_EMBEDDING_GRAD) return 2 * n->ic + 1 + n->ia;
    return n->ia; /* GATHER_ROWS */
}

/* dst: a copy of src holding its own references (the graph's node lets go
 * of its inputs once it has run). False, dst empty, when out of memory. */
static bool copy_node(cg__node *dst, const cg__node *src)
{
    *dst = *src;
    dst->backward = NULL;
    dst->many = NULL;
    dst->nmany = 0;
    dst->rows = NULL;
    size_t nrows = rows_count(src);
    if (nrows && !(dst->rows = cg__malloc(nrows * sizeof *dst->rows))) return false;
    if (nrows) memcpy(dst->rows, src->rows, nrows * sizeof *dst->rows);
    if (src->nmany) {
        if (!(dst->many = cg__malloc(src->nmany * sizeof *dst->many))) {
            free(dst->rows);
            dst->rows = NULL;
            return false;
        }
        for (size_t k = 0; k < src->nmany; k++) dst->many[k] = cg__tensor_retain(src->many[k]);
        dst->nmany = src->nmany;
    }
    cg__tensor_retain(dst->out);
    for (int k = 0; k < CG__NODE_INPUTS; k++) cg__tensor_retain(dst->in[k]);
    return true;
}

static void free_node(cg__node *n)
{
    cg__tensor_release(n->out);
    for (int k = 0; k < CG__NODE_INPUTS; k++) cg__tensor_release(n->in[k]);
    for (size_t k = 0; k < n->nmany; k++) cg__tensor_release(n->many[k]);
    free(n->many);
    free(n->rows);
    memset(n, 0, sizeof *n);
}

static void free_rec(rec *r)
{
    switch (r->kind) {
    case REC_EXEC: free_node(&r->node); break;
    case REC_GROUP:
        for (size_t k = 0; r->group && k < r->group->group.steps; k++)
            free_node(&r->group->nodes[k]);
        free(r->group);
        break;
    case REC_FILL:
    case REC_WRITE:
        cg__storage_release(r->storage);
        free(r->data);
        break;
    case REC_STEP:
    case REC_ZERO_GRAD: r->opt->captures--; break;
    }
}

/* ---- the recording backend ----------------------------------------------- */

static cg_capture *capture_of(cg_context *ctx) { return ctx->capture; }

static cg_status rec_exec(cg_context *ctx, cg__node *node)
{
    cg_capture *c = capture_of(ctx);
    if (c->depth == 0) {
        rec *r = append(c, REC_EXEC, node->what);
        if (!r) return ctx->status;
        if (!copy_node(&r->node, node)) {
            c->count--;
            return cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory capturing the step",
                            node->what);
        }
    }
    c->depth++;
    cg_status s = c->real->exec(ctx, node);
    c->depth--;
    return s;
}

static cg_status rec_exec_group(cg_context *ctx, const cg__fuse_group *group)
{
    cg_capture *c = capture_of(ctx);
    if (c->depth == 0) {
        const char *what = group->step[0].node->what;
        rec *r = append(c, REC_GROUP, what);
        rec_group *g = r ? cg__calloc(1, sizeof *g) : NULL;
        if (r && !g) c->count--;
        if (!g) return cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory capturing the step", what);
        g->group = *group;
        g->group.steps = 0;
        memset(g->group.skip_store, 0, sizeof g->group.skip_store);
        for (size_t k = 0; k < group->steps; k++) {
            if (!copy_node(&g->nodes[k], group->step[k].node)) {
                r->group = g;
                free_rec(r);
                c->count--;
                return cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory capturing the step",
                                what);
            }
            g->group.step[k].node = &g->nodes[k];
            g->group.steps = k + 1;
        }
        r->group = g;
    }
    c->depth++;
    cg_status s = c->real->exec_group(ctx, group);
    c->depth--;
    return s;
}

static cg_status rec_fill(cg_context *ctx, cg__storage *s, size_t offset, size_t bytes,
                          float value, const char *what)
{
    cg_capture *c = capture_of(ctx);
    if (c->depth == 0) {
        rec *r = append(c, REC_FILL, what);
        if (!r) return ctx->status;
        r->storage = s;
        s->refs++;
        r->offset = offset;
        r->bytes = bytes;
        r->value = value;
    }
    c->depth++;
    cg_status st = c->real->fill(ctx, s, offset, bytes, value, what);
    c->depth--;
    return st;
}

static cg_status rec_write(cg_context *ctx, cg__storage *s, size_t offset, size_t bytes,
                           const void *src, const char *what)
{
    cg_capture *c = capture_of(ctx);
    if (c->depth == 0) {
        void *data = cg__malloc(bytes ? bytes : 1);
        rec *r = data ? append(c, REC_WRITE, what) : NULL;
        if (!r) {
            free(data);
            return cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory capturing the step",
                            what);
        }
        memcpy(data, src, bytes);
        r->storage = s;
        s->refs++;
        r->offset = offset;
        r->bytes = bytes;
        r->data = data;
    }
    c->depth++;
    cg_status st = c->real->write(ctx, s, offset, bytes, src, what);
    c->depth--;
    return st;
}

static cg_status rec_read(cg_context *ctx, const cg__storage *s, size_t offset, size_t bytes,
                          void *dst, const char *what)
{
    cg_capture *c = capture_of(ctx);
    c->reads += c->depth == 0;
    c->depth++;
    cg_status st = c->real->read(ctx, s, offset, bytes, dst, what);
    c->depth--;
    return st;
}

/* What a replay could not repeat: refused while capturing, unless inside a
 * recorded call (whose replay does it again). */
static bool refuse(cg_context *ctx, const char *what, const char *why)
{
    if (capture_of(ctx)->depth > 0) return false;
    cg__fail(ctx, CG_ERROR_UNSUPPORTED, "%s: cannot be captured: %s", what, why);
    return true;
}

/* The real entry, run as part of the call that made it (depth > 0). */
static const cg__backend *enter(cg_context *ctx)
{
    capture_of(ctx)->depth++;
    return capture_of(ctx)->real;
}

static void leave(cg_context *ctx) { capture_of(ctx)->depth--; }

static const char FIRST_STEP[] =
    "the step makes gradients or optimizer state (a first step does: run one step before "
    "capturing, and create optimizers before cg_capture_begin)";

static cg_status rec_vreduce(cg_context *ctx, const cg_tensor *a, const cg_tensor *b, size_t n,
                             int kind, float *out)
{
    if (refuse(ctx, "cg_step_closure", "L-BFGS reads its scalars on the host every step"))
        return ctx->status;
    const cg__backend *real = enter(ctx);
    cg_status r = real->vreduce(ctx, a, b, n, kind, out);
    leave(ctx);
    return r;
}

static cg_status rec_linreg_prepare(cg_linreg *m, const char *what)
{
    cg_context *ctx = m->ctx;
    if (refuse(ctx, what, "the fused linear trainer runs whole fits; capture cg_fit's steps"))
        return ctx->status;
    const cg__backend *real = enter(ctx);
    cg_status r = real->linreg_prepare(m, what);
    leave(ctx);
    return r;
}

static cg_status rec_linreg_run(cg_linreg *m, cg__linreg_run *run)
{
    cg_context *ctx = m->ctx;
    if (refuse(ctx, "cg_linreg_fit", "the fused linear trainer runs whole fits"))
        return ctx->status;
    const cg__backend *real = enter(ctx);
    cg_status r = real->linreg_run(m, run);
    leave(ctx);
    return r;
}

static cg_status rec_linreg_eval(cg_linreg *m, const float *params, const float *hp,
                                 cg_loss_kind loss, cg_grad_mode mode, float *out)
{
    cg_context *ctx = m->ctx;
    if (refuse(ctx, "cg_linreg_eval", "the fused linear trainer's loss comes back to the host"))
        return ctx->status;
    const cg__backend *real = enter(ctx);
    cg_status r = real->linreg_eval(m, params, hp, loss, mode, out);
    leave(ctx);
    return r;
}

static cg_status rec_sparse_adam(cg_context *ctx, const cg_optim_options *o, cg_tensor *p,
                                 cg_tensor *m, cg_tensor *v, float c1, float c2, float neg_step)
{
    if (refuse(ctx, "cg_step", "SparseAdam's rows come from the host every step"))
        return ctx->status;
    const cg__backend *real = enter(ctx);
    cg_status r = real->optim->sparse_adam(ctx, o, p, m, v, c1, c2, neg_step);
    leave(ctx);
    return r;
}

static cg_status rec_update(cg_optimizer *opt, const group *g, const span *sp, const float *h,
                            int flags)
{
    cg_context *ctx = opt->ctx;
    if (refuse(ctx, "cg_step", "an optimizer update outside cg_step (a bug)")) return ctx->status;
    const cg__backend *real = enter(ctx);
    cg_status r = real->optim->update(opt, g, sp, h, flags);
    leave(ctx);
    return r;
}

static cg_status rec_scalars(cg_context *ctx, int rule, const float *b, const int *steps,
                             size_t n, float *h)
{
    if (refuse(ctx, "cg__optim_fused_scalars", "the scalars come back to the host"))
        return ctx->status;
    const cg__backend *real = enter(ctx);
    cg_status r = real->optim->scalars(ctx, rule, b, steps, n, h);
    leave(ctx);
    return r;
}

static cg_status rec_arena_alloc(cg_context *ctx, group *g, int k)
{
    if (refuse(ctx, "cg_optimizer_create", FIRST_STEP)) return ctx->status;
    const cg__backend *real = enter(ctx);
    cg_status r = real->optim->arena_alloc(ctx, g, k);
    leave(ctx);
    return r;
}

static bool rec_move_in(cg_context *ctx, group *g, size_t i, int used)
{
    if (refuse(ctx, "cg_optimizer_create", FIRST_STEP)) return false;
    const cg__backend *real = enter(ctx);
    bool r = real->optim->move_in(ctx, g, i, used);
    leave(ctx);
    return r;
}

static void rec_move_out(cg_context *ctx, cg_tensor *p, bool *pinned)
{
    cg_capture *c = capture_of(ctx);
    c->depth++;
    c->real->optim->move_out(ctx, p, pinned);
    c->depth--;
}

static cg_status rec_axpy_at(cg_context *ctx, cg_tensor *y, float a, const cg_tensor *x,
                             size_t off)
{
    if (refuse(ctx, "cg_step_closure", "L-BFGS reads its scalars on the host every step"))
        return ctx->status;
    const cg__backend *real = enter(ctx);
    cg_status r = real->optim->axpy_at(ctx, y, a, x, off);
    leave(ctx);
    return r;
}

static cg_tensor *rec_grad_home(cg_context *ctx, cg_tensor *p, const char *what)
{
    if (refuse(ctx, what, FIRST_STEP)) return NULL;
    const cg__backend *real = enter(ctx);
    cg_tensor *r = real->optim->grad_home(ctx, p, what);
    leave(ctx);
    return r;
}

/* The recording table: the context's own, with the entries above. */
static void make_table(cg_capture *c)
{
    c->table = *c->real;
    c->optim = *c->real->optim;
    c->table.read = rec_read;
    c->table.exec = rec_exec;
    c->table.exec_group = rec_exec_group;
    c->table.fill = rec_fill;
    c->table.write = rec_write;
    c->table.vreduce = rec_vreduce;
    c->table.linreg_prepare = rec_linreg_prepare;
    c->table.linreg_run = rec_linreg_run;
    c->table.linreg_eval = rec_linreg_eval;
    c->optim.update = rec_update;
    c->optim.sparse_adam = rec_sparse_adam;
    c->optim.scalars = rec_scalars;
    c->optim.arena_alloc = rec_arena_alloc;
    c->optim.move_in = rec_move_in;
    c->optim.move_out = rec_move_out;
    c->optim.axpy_at = rec_axpy_at;
    c->optim.grad_home = rec_grad_home;
    c->table.optim = &c->optim;
}

/* ---- calls recorded as themselves ------------------------------------------ */

bool cg__capture_call_begin(cg_context *ctx, int call, cg_optimizer *opt, const char *what)
{
    cg_capture *c = ctx->capture;
    if (!c) return true;
    if (c->depth == 0) {
        rec *r = append(c, call == CG__CAPTURE_STEP ? REC_STEP : REC_ZERO_GRAD, what);
        if (!r) return false;
        r->opt = opt;
        opt->captures++;
    }
    c->depth++;
    return true;
}

void cg__capture_call_end(cg_context *ctx)
{
    if (ctx->capture) ctx->capture->depth--;
}

void cg__capture_failed(cg_context *ctx) { ctx->capture->failed = true; }

const cg__backend *cg__backend_of(const cg_context *ctx)
{
    return ctx->capture ? ctx->capture->real : ctx->backend;
}

/* ---- the public calls ------------------------------------------------------ */

static void close_capture(cg_capture *c)
{
    cg_context *ctx = c->ctx;
    if (!c->open) return;
    ctx->backend = c->real;
    ctx->capture = NULL;
    c->open = false;
}

void cg_capture_free(cg_capture *c)
{
    if (!c) return;
    close_capture(c);
    cg__capture_forget_stores(c);
    cg__loop_free(c->loop);
    for (size_t i = 0; i < c->count; i++) free_rec(&c->recs[i]);
    free(c->recs);
    free(c);
}

cg_status cg_capture_begin(cg_context *ctx)
{
    static const char what[] = "cg_capture_begin";
    if (!ctx) return CG_ERROR_NULL_POINTER;
    if (ctx->status) return ctx->status;
    if (ctx->capture)
        return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                        "%s: a capture is already open on this context (end it first)", what);
    /* What was recorded before belongs to no step: it runs now. */
    if (cg__realize(ctx)) return ctx->status;
    cg_capture *c = cg__calloc(1, sizeof *c);
    if (!c) return cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory", what);
    c->ctx = ctx;
    c->real = ctx->backend;
    make_table(c);
    c->open = true;
    c->launches = ctx->stats.kernel_launches;
    ctx->capture = c;
    ctx->backend = &c->table;
    return CG_OK;
}

cg_capture *cg_capture_end(cg_context *ctx)
{
    static const char what[] = "cg_capture_end";
    if (!ctx) return NULL;
    cg_capture *c = ctx->capture;
    if (!c) {
        if (!ctx->status)
            cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "%s: no capture is open on this context",
                     what);
        return NULL;
    }
    /* The step's nodes not run yet are part of it. */
    cg__realize(ctx);
    close_capture(c);
    c->launches = ctx->stats.kernel_launches - c->launches;
    if (c->failed && !ctx->status)
        cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                 "%s: an error while capturing (cleared since) left the record incomplete: "
                 "capture the step again",
                 what);
    if (ctx->status) {
        cg_capture_free(c);
        return NULL;
    }
    cg__capture_replan(c);
    return c;
}

cg_status cg_capture_replay(cg_capture *c)
{
    if (!c) return CG_ERROR_NULL_POINTER;
    cg_context *ctx = c->ctx;
    if (ctx->status) return ctx->status;
    if (ctx->capture)
        return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                        "cg_capture_replay: a capture is open on this context (end it first)");
    /* In place: what the graph has recorded reads the values before. */
    if (cg__realize(ctx)) return ctx->status;
    if (ctx->fuse) cg__capture_mark_dead_stores(c);
    const unsigned long long before = ctx->stats.kernel_launches;
    const cg__backend *b = ctx->backend;
    for (size_t i = 0; i < c->count && !ctx->status; i++) {
        rec *r = &c->recs[i];
        switch (r->kind) {
        case REC_EXEC: b->exec(ctx, &r->node); break;
        case REC_GROUP: b->exec_group(ctx, &r->group->group); break;
        case REC_FILL: b->fill(ctx, r->storage, r->offset, r->bytes, r->value, r->what); break;
        case REC_WRITE: b->write(ctx, r->storage, r->offset, r->bytes, r->data, r->what); break;
        case REC_STEP: cg__optim_step_now(r->opt); break;
        case REC_ZERO_GRAD: cg__optim_zero_grad_now(r->opt); break;
        }
    }
    c->replays++;
    c->launches = ctx->stats.kernel_launches - before;
    return ctx->status;
}

unsigned long cg__capture_reads(const cg_capture *c) { return c->reads; }

/* ---- what the loop planner reads ----------------------------------------- */

size_t cg__capture_size(const cg_capture *c) { return c->count; }

cg_context *cg__capture_context(const cg_capture *c) { return c->ctx; }

struct cg__loop **cg__capture_loop_slot(cg_capture *c) { return &c->loop; }

void cg__capture_add_replays(cg_capture *c, unsigned long long n) { c->replays += n; }

cg__capture_item cg__capture_item_at(const cg_capture *c, size_t i)
{
    const rec *r = &c->recs[i];
    cg__capture_item it = {0};
    switch (r->kind) {
    case REC_EXEC:
        it.kind = CG__ITEM_NODES;
        it.nodes = &r->node;
        it.nnodes = 1;
        break;
    case REC_GROUP:
        it.kind = CG__ITEM_NODES;
        it.nodes = r->group->nodes;
        it.nnodes = r->group->group.steps;
        break;
    case REC_FILL:
    case REC_WRITE:
        it.kind = r->kind == REC_FILL ? CG__ITEM_FILL : CG__ITEM_WRITE;
        it.storage = r->storage;
        it.offset = r->offset;
        it.bytes = r->bytes;
        it.value = r->value;
        break;
    case REC_STEP:
    case REC_ZERO_GRAD:
        it.kind = r->kind == REC_STEP ? CG__ITEM_STEP : CG__ITEM_ZERO_GRAD;
        it.opt = r->opt;
        break;
    }
    return it;
}

unsigned long long cg_capture_launches(const cg_capture *c) { return c ? c->launches : 0; }
