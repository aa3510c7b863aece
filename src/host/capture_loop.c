/* Whole loops in one launch: a capture's n replays run as one program that
 * loops on the device (the backend's loop entries, backend/cl_loop.c),
 * with the loss read after every iteration and the loop stopped after the
 * first one that is not finite: the general form of the fused linear
 * trainer's single launch.
 *
 * This file turns a record into a plan (cg__loop): the record's nodes in
 * order, each as a command over "slabs" (a storage, or a slot of an
 * optimizer's arena: the parameters, gradients and state the tensors view),
 * with every address and size resolved. What the plan cannot say exactly as
 * the eager kernels compute it is not loopable, and cg_capture_replay_n
 * replays instead: the same results everywhere, only slower.
 *
 * Loopable: element-wise nodes whose operands are each the output's shape
 * or one element (the kernels' SAME and SCALAR layouts), full and axis
 * sums, SUM_TO to one element or to the same size, EXPAND_ADD, AXPY,
 * BLOCK_COPY, fills, and the zero_grad and step of optimizers whose groups
 * live in an arena and step as a whole (optim.c's step_whole_group), every
 * slab at most CG__LOOP_MAX_SLAB elements. A step's scalars (Adam's bias
 * corrections, SGD's first-step flag) change every iteration: the host
 * computes them for steps s+1..s+n with cg_step's own function and hands
 * them over as a table; the step counters then advance by the replays run. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "optim_internal.h"

_Static_assert(CG__LOOP_ROW == CG_H_COUNT + 1, "a table row: h, then the flags");

/* Launches of at most this many iterations (the table stays a few MB). */
#define LOOP_CHUNK 16384

void cg__loop_free(cg__loop *loop)
{
    if (!loop) return;
    free(loop->slab);
    free(loop->cmd);
    free(loop->row_opt);
    free(loop->row_group);
    free(loop);
}

/* ---- the plan ---------------------------------------------------------------- */

typedef struct builder {
    cg_context *ctx;
    cg__loop *L;
    size_t slab_cap, cmd_cap;
    cg_optimizer *opts[8];
    int nopts;
    const char *why; /* not loopable: the first reason (for tests and debugging) */
} builder;

static bool no(builder *b, const char *why)
{
    if (!b->why) b->why = why;
    return false;
}

/* The slab holding (key, slot), added when new: size elements over mem/host. */
static int slab_for(builder *b, const void *key, int slot, cl_mem mem, float *host, size_t size)
{
    cg__loop *L = b->L;
    for (int i = 0; i < L->nslabs; i++)
        if (L->slab[i].key == key && L->slab[i].slot == slot) return i;
    if (size > CG__LOOP_MAX_SLAB) return no(b, "a tensor larger than CG__LOOP_MAX_SLAB"), -1;
    if ((size_t)L->nslabs == b->slab_cap) {
        size_t cap = b->slab_cap ? 2 * b->slab_cap : 16;
        cg__loop_slab *s = cg__realloc(L->slab, cap * sizeof *s);
        if (!s) return no(b, "out of memory"), -1;
        L->slab = s;
        b->slab_cap = cap;
    }
    L->slab[L->nslabs] = (cg__loop_slab){mem, host, size, false, key, slot};
    return L->nslabs++;
}

/* Where storage s lies: its own slab, or (borrowed: an optimizer's arena
 * view) its group's slot at the parameter's offset. */
static bool locate(builder *b, const cg__storage *s, int *slab, size_t *base)
{
    *base = 0;
    if (!s->borrowed) {
        *slab = slab_for(b, s, -1, s->mem, s->host, s->bytes / sizeof(float));
        return *slab >= 0;
    }
    for (int o = 0; o < b->nopts; o++) {
        cg_optimizer *opt = b->opts[o];
        for (size_t gi = 0; gi < opt->ngroups; gi++) {
            group *g = &opt->groups[gi];
            if (!g->arena) continue;
            for (size_t i = 0; i < g->count; i++) {
                const cg_tensor *p = g->params[i];
                int k = -1;
                if (p->storage == s) k = ARENA_P;
                if (p->grad && p->grad->storage == s) k = ARENA_G;
                for (int t = 0; t < CG_OPT_STATE_SLOTS && k < 0; t++) {
                    const cg_tensor *st = g->state[i * CG_OPT_STATE_SLOTS + t];
                    if (st && st->storage == s) k = ARENA_S0 + t;
                }
                if (k < 0) continue;
                *slab = slab_for(b, g, k, g->mem[k], g->host[k], g->total);
                *base = g->offset[i];
                return *slab >= 0;
            }
        }
    }
    return no(b, "memory of an optimizer the record does not step");
}

/* Element `at` of t's storage, count elements from there in bounds. */
static bool addr(builder *b, const cg_tensor *t, size_t at, size_t count, cg__loop_at *out)
{
    size_t base;
    if (!t || !locate(b, t->storage, &out->slab, &base)) return no(b, "a missing tensor");
    out->at = base + at;
    if (out->at + count > b->L->slab[out->slab].size) return no(b, "an access past a slab");
    return true;
}

static cg__loop_cmd *add(builder *b, cg__loop_kind kind)
{
    cg__loop *L = b->L;
    if (L->ncmds == b->cmd_cap) {
        size_t cap = b->cmd_cap ? 2 * b->cmd_cap : 32;
        cg__loop_cmd *c = cg__realloc(L->cmd, cap * sizeof *c);
        if (!c) return no(b, "out of memory"), NULL;
        L->cmd = c;
        b->cmd_cap = cap;
    }
    cg__loop_cmd *c = &L->cmd[L->ncmds++];
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->p = c->g = c->s[0] = c->s[1] = c->s[2] = -1;
    return c;
}

static void writes(builder *b, const cg__loop_cmd *c) { b->L->slab[c->out.slab].written = true; }

/* Each node as its eager kernel reads it: element i of its tensors'
 * storages (element-wise kernels take the buffer, not the view), an
 * operand's offset where it is one element for all. */
static bool binary_node(builder *b, const cg__node *n, bool grad)
{
    cg__bcast bc;
    if (!cg__broadcast(b->ctx, n->what, n->in[0], n->in[1], &bc)) return no(b, "broadcast");
    const int la[2] = {bc.la, bc.lb};
    const cl_uint off[2] = {bc.oa, bc.ob};
    size_t count = cg__shape_numel(bc.out);
    cg__loop_cmd *c = add(b, grad ? CG__LOOP_BINARY_GRAD : CG__LOOP_BINARY);
    if (!c) return false;
    c->op = n->op;
    c->which = (int)n->ia;
    c->acc = grad && n->flag_a;
    c->n = count;
    for (int j = 0; j < 2; j++) {
        /* 1: the output's shape (element i; the kernel takes its offset to
         * be 0), 2: one element at its offset; 0 (strides) is not looped. */
        if (la[j] == 1 && off[j] != 0) return no(b, "a same-shape operand at an offset");
        if (la[j] != 1 && la[j] != 2) return no(b, "a broadcast operand");
        c->one[j] = la[j] == 2;
        if (!addr(b, n->in[j], c->one[j] ? off[j] : 0, c->one[j] ? 1 : count, &c->in[j]))
            return false;
    }
    if (grad && !addr(b, n->in[2], 0, count, &c->in[2])) return false;
    if (!addr(b, n->out, 0, count, &c->out)) return false;
    writes(b, c);
    return true;
}

static bool sum_all(builder *b, const cg_tensor *src, const cg_tensor *dst, size_t at,
                    float scale, bool acc)
{
    if (!src->plain) return no(b, "a sum of a view");
    cg__loop_cmd *c = add(b, CG__LOOP_SUM_ALL);
    if (!c) return false;
    c->n = src->numel;
    c->scalar = scale;
    c->acc = acc;
    if (!addr(b, src, 0, c->n, &c->in[0]) || !addr(b, dst, at, 1, &c->out)) return false;
    writes(b, c);
    return true;
}

static bool axpy(builder *b, const cg_tensor *x, const cg_tensor *y, float a)
{
    cg__loop_cmd *c = add(b, CG__LOOP_AXPY);
    if (!c) return false;
    c->n = y->numel;
    c->scalar = a;
    if (!addr(b, x, 0, c->n, &c->in[0]) || !addr(b, y, 0, c->n, &c->out)) return false;
    writes(b, c);
    return true;
}

static bool node(builder *b, const cg__node *n)
{
    const cg_tensor *x = n->in[0], *out = n->out;
    cg__loop_cmd *c;
    switch (n->kind) {
    case CG__OP_VIEW:
    case CG__OP_DONE: return true;
    case CG__OP_FILL: /* the whole storage, as the backend's fill */
        if (!(c = add(b, CG__LOOP_FILL))) return false;
        c->n = out->bytes / sizeof(float);
        c->scalar = n->scalar;
        if (!addr(b, out, 0, c->n, &c->out)) return false;
        writes(b, c);
        return true;
    case CG__OP_UNARY:
    case CG__OP_UNARY_GRAD: {
        bool grad = n->kind == CG__OP_UNARY_GRAD;
        if (!(c = add(b, grad ? CG__LOOP_UNARY_GRAD : CG__LOOP_UNARY))) return false;
        c->op = n->op;
        c->scalar = n->scalar;
        c->n = x->numel;
        for (int j = 0; j < (grad ? 3 : 1); j++)
            if (!addr(b, n->in[j], 0, c->n, &c->in[j])) return false;
        if (!addr(b, out, 0, c->n, &c->out)) return false;
        writes(b, c);
        return true;
    }
    case CG__OP_BINARY: return binary_node(b, n, false);
    case CG__OP_BINARY_GRAD: return binary_node(b, n, true);
    case CG__OP_AXPY: return axpy(b, x, out, n->scalar);
    case CG__OP_SUM_TO: /* the two cases that are one kernel on every shape */
        if (out->numel == 1) return sum_all(b, x, out, 0, 1.0f, true);
        if (out->numel == x->numel) return axpy(b, x, out, 1.0f);
        return no(b, "a sum over some dimensions (sum_to)");
    case CG__OP_REDUCE:
        if (n->ia == 1 && n->ic == 1) return sum_all(b, x, out, n->id, n->scalar, n->flag_a);
        if (!x->plain || !out->plain) return no(b, "an axis sum of a view");
        if (!(c = add(b, CG__LOOP_SUM_AXIS))) return false;
        c->outer = n->ia;
        c->len = n->ib;
        c->inner = n->ic;
        c->scalar = n->scalar;
        if (!addr(b, x, 0, c->outer * c->len * c->inner, &c->in[0]) ||
            !addr(b, out, 0, c->outer * c->inner, &c->out))
            return false;
        writes(b, c);
        return true;
    case CG__OP_EXPAND_ADD:
        if (!x->plain || !out->plain) return no(b, "an expand of a view");
        if (!(c = add(b, CG__LOOP_EXPAND_ADD))) return false;
        c->outer = n->ia;
        c->len = n->ib;
        c->inner = n->ic;
        c->n = out->numel;
        c->scalar = n->scalar;
        if (c->outer * c->len * c->inner != c->n) return no(b, "an expand of another size");
        if (!addr(b, x, 0, c->outer * c->inner, &c->in[0]) || !addr(b, out, 0, c->n, &c->out))
            return false;
        writes(b, c);
        return true;
    case CG__OP_BLOCK_COPY:
        if (!(c = add(b, CG__LOOP_BLOCK_COPY))) return false;
        c->outer = n->ie;
        c->len = n->ig;
        c->sstride = n->ib;
        c->dstride = n->id;
        c->acc = n->flag_a;
        if (c->outer * c->len == 0) {
            b->L->ncmds--;
            return true;
        }
        if (!addr(b, x, n->ia, (c->outer - 1) * c->sstride + c->len, &c->in[0]) ||
            !addr(b, out, n->ic, (c->outer - 1) * c->dstride + c->len, &c->out))
            return false;
        writes(b, c);
        return true;
    default: return no(b, "a node kind the loop does not run (matmul, strided copy, ...)");
    }
}

/* An optimizer's groups each stepped as one span over its arena (optim.c's
 * step_whole_group), which stays so from one replay to the next. */
static bool whole_groups(builder *b, const cg_optimizer *opt)
{
    if (opt->desc->stepping != CG__STEP_RULE || opt->desc->rule < 0)
        return no(b, "an optimizer without a rule");
    for (size_t gi = 0; gi < opt->ngroups; gi++) {
        const group *g = &opt->groups[gi];
        if (!g->arena) return no(b, "an optimizer group outside an arena");
        for (size_t i = 0; i < g->count; i++)
            if (!g->params[i]->grad || !g->params[i]->grad->storage->borrowed ||
                g->steps[i] != g->steps[0])
                return no(b, "a group that does not step as a whole");
    }
    return true;
}

static bool step(builder *b, cg_optimizer *opt)
{
    for (size_t r = 0; r < (size_t)b->L->rows; r++)
        if (b->L->row_opt[r] == opt) return no(b, "an optimizer stepped twice per step");
    for (size_t gi = 0; gi < opt->ngroups; gi++) {
        group *g = &opt->groups[gi];
        cg__loop_cmd *c = add(b, CG__LOOP_STEP);
        if (!c) return false;
        c->rule = opt->desc->rule;
        c->used = cg__optim_used_slots(opt->kind, &g->o);
        c->n = g->total;
        c->p = slab_for(b, g, ARENA_P, g->mem[ARENA_P], g->host[ARENA_P], g->total);
        c->g = slab_for(b, g, ARENA_G, g->mem[ARENA_G], g->host[ARENA_G], g->total);
        if (c->p < 0 || c->g < 0) return false;
        b->L->slab[c->p].written = true;
        for (int k = 0; k < CG_OPT_STATE_SLOTS; k++) {
            if (!(c->used & (1 << k))) continue;
            c->s[k] = slab_for(b, g, ARENA_S0 + k, g->mem[ARENA_S0 + k], g->host[ARENA_S0 + k],
                               g->total);
            if (c->s[k] < 0) return false;
            b->L->slab[c->s[k]].written = true;
        }
        cg_optimizer **ro = cg__realloc(b->L->row_opt, (b->L->rows + 1) * sizeof *ro);
        if (ro) b->L->row_opt = ro;
        size_t *rg = ro ? cg__realloc(b->L->row_group, (b->L->rows + 1) * sizeof *rg) : NULL;
        if (!rg) return no(b, "out of memory");
        b->L->row_group = rg;
        ro[b->L->rows] = opt;
        rg[b->L->rows] = gi;
        c->row = b->L->rows++;
    }
    return true;
}

static bool zero_grad(builder *b, cg_optimizer *opt)
{
    for (size_t gi = 0; gi < opt->ngroups; gi++) {
        group *g = &opt->groups[gi];
        cg__loop_cmd *c = add(b, CG__LOOP_FILL);
        if (!c) return false;
        c->n = g->total;
        c->scalar = 0.0f;
        c->out.slab = slab_for(b, g, ARENA_G, g->mem[ARENA_G], g->host[ARENA_G], g->total);
        if (c->out.slab < 0) return false;
        writes(b, c);
    }
    return true;
}

static bool add_opt(builder *b, cg_optimizer *opt)
{
    for (int i = 0; i < b->nopts; i++)
        if (b->opts[i] == opt) return true;
    if (b->nopts == (int)(sizeof b->opts / sizeof *b->opts)) return no(b, "many optimizers");
    b->opts[b->nopts++] = opt;
    return whole_groups(b, opt);
}

static bool build(builder *b, cg_capture *c, const cg_tensor *watch)
{
    size_t count = cg__capture_size(c);
    for (size_t i = 0; i < count; i++) { /* the arenas first: nodes view them */
        cg__capture_item it = cg__capture_item_at(c, i);
        if ((it.kind == CG__ITEM_STEP || it.kind == CG__ITEM_ZERO_GRAD) && !add_opt(b, it.opt))
            return false;
    }
    for (size_t i = 0; i < count; i++) {
        cg__capture_item it = cg__capture_item_at(c, i);
        switch (it.kind) {
        case CG__ITEM_NODES:
            for (size_t k = 0; k < it.nnodes; k++)
                if (!node(b, &it.nodes[k])) return false;
            break;
        case CG__ITEM_FILL: {
            cg__loop_cmd *f = add(b, CG__LOOP_FILL);
            size_t base;
            if (!f || !locate(b, it.storage, &f->out.slab, &base)) return false;
            f->out.at = base + it.offset / sizeof(float);
            f->n = it.bytes / sizeof(float);
            f->scalar = it.value;
            if (f->out.at + f->n > b->L->slab[f->out.slab].size) return no(b, "a fill past a slab");
            writes(b, f);
            break;
        }
        case CG__ITEM_WRITE: return no(b, "a write from the host");
        case CG__ITEM_STEP:
            if (!step(b, it.opt)) return false;
            break;
        case CG__ITEM_ZERO_GRAD:
            if (!zero_grad(b, it.opt)) return false;
            break;
        }
    }
    if (watch) {
        size_t base;
        if (!locate(b, watch->storage, &b->L->watch.slab, &base)) return false;
        b->L->watch.at = base + watch->offset;
        if (b->L->watch.at >= b->L->slab[b->L->watch.slab].size) return no(b, "the watch");
    }
    size_t total = 0;
    for (int i = 0; i < b->L->nslabs; i++) total += b->L->slab[i].size;
    if (total > CG__LOOP_MAX_FLOATS) return no(b, "more than CG__LOOP_MAX_FLOATS in all");
    return true;
}

/* The plan for c watching `watch`, kept on the capture; NULL when the
 * record is not loopable here (*why says why). */
static cg__loop *plan_of(cg_capture *c, const cg_tensor *watch, const char **why)
{
    cg_context *ctx = cg__capture_context(c);
    cg__loop **slot = cg__capture_loop_slot(c);
    if (*slot && (*slot)->watch_tensor == watch) return *slot;
    cg__loop_free(*slot);
    *slot = NULL;
    builder b = {.ctx = ctx};
    if (!(b.L = cg__calloc(1, sizeof *b.L))) {
        *why = "out of memory";
        return NULL;
    }
    b.L->watch_tensor = watch;
    b.L->watch.slab = -1;
    bool ok = build(&b, c, watch);
    if (ok && !(ctx->backend->loop_fits && ctx->backend->loop_fits(ctx, b.L)))
        ok = no(&b, "the device does not run this loop as the replays would");
    if (!ok) {
        cg__loop_free(b.L);
        *why = b.why;
        return NULL;
    }
    *slot = b.L;
    return b.L;
}

const char *cg__capture_loop_problem(cg_capture *c, const cg_tensor *watch)
{
    const char *why = NULL;
    return plan_of(c, watch, &why) ? NULL : why;
}

/* ---- the step table -------------------------------------------------------- */

/* The scalars of steps s+1..s+n of each row into table (n rows of
 * L->rows * CG__LOOP_ROW floats), as cg_step computes them; *stride 0 when
 * every iteration's are the same (then only the first is written: SGD's,
 * after its first step). */
static void fill_table(const cg__loop *L, long n, float *table, size_t *stride)
{
    const size_t row = (size_t)L->rows * CG__LOOP_ROW, bytes = row * sizeof *table;
    *stride = 0;
    for (long t = 0; t < n; t++) {
        /* While all are the first, the next is made in row 1's place. */
        float *dst = t == 0 ? table : *stride ? table + (size_t)t * row : table + row;
        for (int r = 0; r < L->rows; r++) {
            const group *g = &L->row_opt[r]->groups[L->row_group[r]];
            int step = g->steps[0] + (int)t + 1;
            float *h = dst + (size_t)r * CG__LOOP_ROW;
            cg__optim_scalars(L->row_opt[r]->kind, &g->o, step, h);
            int flags = cg__optim_step_flags(g->flags, step, h);
            memcpy(&h[CG_H_COUNT], &flags, sizeof flags);
        }
        if (t == 0 || *stride || memcmp(dst, table, bytes) == 0) continue;
        /* The first that differs: it goes to its place, the rows before it
         * are the first's. */
        memmove(table + (size_t)t * row, dst, bytes);
        for (long u = 1; u < t; u++) memcpy(table + (size_t)u * row, table, bytes);
        *stride = row;
    }
}

/* ---- the public call ---------------------------------------------------------- */

bool cg__loop_enabled(void)
{
    const char *env = getenv("CLGRAD_LOOP");
    return !(env && strcmp(env, "0") == 0);
}

/* The fallback: replays and a read each (correct everywhere). */
static cg_status replays(cg_capture *c, long n, cg_tensor *watch, float *values, long *done)
{
    cg_context *ctx = cg__capture_context(c);
    for (long i = 0; i < n; i++) {
        if (cg_capture_replay(c)) return ctx->status;
        *done = i + 1;
        if (!watch) continue;
        if (cg_tensor_read(watch, &values[i], 1)) return ctx->status;
        if (!isfinite(values[i])) break;
    }
    return ctx->status;
}

cg_status cg_capture_replay_n(cg_capture *c, long n, cg_tensor *watch, float *values, long *done)
{
    static const char what[] = "cg_capture_replay_n";
    long ran = 0;
    if (done) *done = 0;
    if (!c) return CG_ERROR_NULL_POINTER;
    cg_context *ctx = cg__capture_context(c);
    if (ctx->status) return ctx->status;
    if (n < 0) return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "%s: n must be >= 0 (got %ld)", what, n);
    if (watch && !values)
        return cg__fail(ctx, CG_ERROR_NULL_POINTER, "%s: values is NULL (a watch needs it)", what);
    if (watch && watch->ctx != ctx)
        return cg__fail(ctx, CG_ERROR_CONTEXT_MISMATCH, "%s: the watch comes from another context",
                        what);
    if (ctx->capture)
        return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT,
                        "%s: a capture is open on this context (end it first)", what);
    if (n == 0) return CG_OK;
    /* In place: what the graph has recorded reads the values before. */
    if (cg__realize(ctx)) return ctx->status;
    const char *why = NULL;
    cg__loop *L = !cg__loop_enabled() ? NULL : plan_of(c, watch, &why);
    if (!L) {
        cg_status s = replays(c, n, watch, values, &ran);
        if (done) *done = ran;
        return s;
    }
    const size_t row = (size_t)L->rows * CG__LOOP_ROW;
    const long chunk = n < LOOP_CHUNK ? n : LOOP_CHUNK;
    /* At least two rows: the table's second is scratch while all are alike. */
    float *table = row ? cg__malloc((size_t)(chunk < 2 ? 2 : chunk) * row * sizeof *table) : NULL;
    if (row && !table) return cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory", what);
    while (ran < n && !ctx->status) {
        long k = n - ran < chunk ? n - ran : chunk, got = 0;
        size_t stride = 0;
        if (row) fill_table(L, k, table, &stride);
        ctx->backend->loop_run(ctx, L, k, table, stride, watch ? values + ran : NULL, &got);
        if (ctx->status) break;
        /* The optimizers' step counters, as got steps would have. */
        for (int r = 0; r < L->rows; r++) {
            group *g = &L->row_opt[r]->groups[L->row_group[r]];
            for (size_t i = 0; i < g->count; i++) g->steps[i] += (int)got;
        }
        cg__capture_add_replays(c, (unsigned long long)got);
        ran += got;
        if (got < k) break; /* a value that is not finite */
    }
    free(table);
    if (done) *done = ran;
    return ctx->status;
}
