/* A record's fused groups planned again over the whole step.
 *
 * While capturing, each realization planned its own nodes: a backward
 * realizes the forward before it records its own nodes, an optimizer call
 * realizes what came before it, so groups end where the realizations did.
 * The record holds the step's nodes in order: each run of them between the
 * calls recorded as themselves (a step, a zero_grad, a fill or write from
 * the host) is planned again as one sequence by the same planner (fuse.c),
 * so a chain the realizations cut (a backward's seed and the chain that
 * reads it, the forward and the backward) becomes one group. First the
 * optimizer's calls move out of the runs' way where no memory says
 * otherwise: a zero_grad before the forward, a step after the loss is
 * added up. A group computes what its nodes would in order, bit for bit,
 * and moved calls keep their order against everything that shares their
 * memory, so the replays' results are the capture's. */
#include <stdlib.h>
#include <string.h>

#include "capture_internal.h"

static bool is_nodes(const rec *r) { return r->kind == REC_EXEC || r->kind == REC_GROUP; }

static size_t nodes_of(const rec *r)
{
    size_t count;
    cg__rec_nodes(r, &count);
    return count;
}

/* The nodes of recs[first, end) moved into nodes[] (their references with
 * them); the groups' shells freed. Returns how many. */
static size_t gather(rec *recs, size_t first, size_t end, cg__node *nodes)
{
    size_t at = 0;
    for (size_t i = first; i < end; i++) {
        rec *r = &recs[i];
        if (r->kind == REC_EXEC) {
            nodes[at++] = r->node;
            continue;
        }
        for (size_t k = 0; k < r->group->group.steps; k++) nodes[at++] = r->group->nodes[k];
        free(r->group);
    }
    for (size_t k = 0; k < at; k++) nodes[k].done = false; /* the planner skips done nodes */
    return at;
}

/* nodes[0, count) planned into out: groups where the planner makes them
 * (and memory allows), single nodes elsewhere. Returns the recs made. */
static size_t plan(cg_context *ctx, cg__node *nodes, size_t count, rec *out)
{
    size_t pos = 0, n = 0;
    while (pos < count) {
        rec *r = &out[n++];
        memset(r, 0, sizeof *r);
        cg__fuse_group g;
        rec_group *rg = NULL;
        /* A group over the nodes from pos on, none skipped (span == steps:
         * the record holds no views) */
        if (cg__fuse_plan(ctx, &nodes[pos], count - pos, &g) && g.span == g.steps &&
            (rg = cg__malloc(sizeof *rg))) {
            rg->group = g;
            for (size_t k = 0; k < g.steps; k++) {
                rg->nodes[k] = nodes[pos + k];
                rg->group.step[k].node = &rg->nodes[k];
            }
            r->kind = REC_GROUP;
            r->group = rg;
            r->what = rg->nodes[0].what;
            pos += g.steps;
            continue;
        }
        r->kind = REC_EXEC; /* alone, as it would run unfused */
        r->node = nodes[pos++];
        r->what = r->node.what;
    }
    return n;
}

/* ---- the optimizer's calls moved out of the way ---- */

/* Whether tensors a and b share memory: one storage, or two handles of one
 * view of an optimizer's arena (a parameter's, a gradient's, a state
 * slot's: each a range of its own, reached only through its tensors). */
static bool same_memory(const cg_tensor *a, const cg_tensor *b)
{
    const cg__storage *x = a->storage, *y = b->storage;
    return x == y || (x->borrowed && y->borrowed && x->mem == y->mem && x->host == y->host);
}

/* Whether node n touches one of `count` tensors. */
static bool node_touches_any(const cg__node *n, cg_tensor *const *ts, size_t count)
{
    const cg_tensor *mine[CG__NODE_INPUTS + 1] = {n->out, n->in[0], n->in[1], n->in[2]};
    for (int k = 0; k < CG__NODE_INPUTS + 1; k++)
        for (size_t j = 0; mine[k] && j < count; j++)
            if (ts[j] && same_memory(mine[k], ts[j])) return true;
    for (size_t m = 0; m < n->nmany; m++)
        for (size_t j = 0; j < count; j++)
            if (ts[j] && same_memory(n->many[m], ts[j])) return true;
    return false;
}

/* The tensors optimizer opt's call reads or writes: the gradients (a
 * zero_grad), or the parameters, gradients and state (a step). NULL when
 * out of memory. */
static cg_tensor **optimizer_tensors(const cg_optimizer *opt, bool step, size_t *count)
{
    size_t n = 0;
    for (size_t gi = 0; gi < opt->ngroups; gi++)
        n += opt->groups[gi].count * (step ? 2 + CG_OPT_STATE_SLOTS : 1);
    cg_tensor **ts = cg__calloc(n ? n : 1, sizeof *ts);
    if (!ts) return NULL;
    size_t at = 0;
    for (size_t gi = 0; gi < opt->ngroups; gi++) {
        const group *g = &opt->groups[gi];
        for (size_t i = 0; i < g->count; i++) {
            ts[at++] = g->params[i]->grad;
            if (!step) continue;
            ts[at++] = g->params[i];
            for (int k = 0; k < CG_OPT_STATE_SLOTS; k++)
                ts[at++] = g->state ? g->state[i * CG_OPT_STATE_SLOTS + k] : NULL;
        }
    }
    *count = at;
    return ts;
}

/* Whether record entry r touches any of ts (a call of another optimizer,
 * a host write or fill: assumed to). */
static bool rec_touches(const rec *r, cg_tensor *const *ts, size_t count)
{
    if (!is_nodes(r)) return true;
    size_t n;
    const cg__node *nodes = cg__rec_nodes(r, &n);
    for (size_t k = 0; k < n; k++)
        if (node_touches_any(&nodes[k], ts, count)) return true;
    return false;
}

/* A zero_grad moves before the nodes that do not touch its gradients (the
 * forward, recorded before it), a step after those that do not touch what
 * it updates (the epoch's loss added up): the runs of nodes between them
 * grow, and with them the groups. The order of every pair of commands that
 * share memory stays. */
static void move_optimizer_calls(cg_capture *c)
{
    for (size_t i = 0; i < c->count; i++) {
        rec *r = &c->recs[i];
        if (r->kind != REC_ZERO_GRAD && r->kind != REC_STEP) continue;
        bool step = r->kind == REC_STEP;
        size_t count;
        cg_tensor **ts = optimizer_tensors(r->opt, step, &count);
        if (!ts) return;
        if (!step) {
            size_t to = i;
            while (to > 0 && !rec_touches(&c->recs[to - 1], ts, count)) to--;
            if (to < i) {
                rec moved = *r;
                memmove(c->recs + to + 1, c->recs + to, (i - to) * sizeof *c->recs);
                c->recs[to] = moved;
            }
        } else {
            size_t to = i;
            while (to + 1 < c->count && !rec_touches(&c->recs[to + 1], ts, count)) to++;
            if (to > i) {
                rec moved = *r;
                memmove(c->recs + i, c->recs + i + 1, (to - i) * sizeof *c->recs);
                c->recs[to] = moved;
                i = to; /* not again */
            }
        }
        free(ts);
    }
}

void cg__capture_replan(cg_capture *c)
{
    cg_context *ctx = c->ctx;
    if (!ctx->fuse || ctx->eager || ctx->status) return;
    move_optimizer_calls(c);
    size_t total = 0;
    for (size_t i = 0; i < c->count; i++) total += nodes_of(&c->recs[i]);
    /* Room for every node alone beside the other recs: nothing after this
     * can run out, so the record is replanned whole or left as it is. */
    rec *made = cg__malloc((c->count + total) * sizeof *made);
    cg__node *nodes = made ? cg__malloc((total ? total : 1) * sizeof *nodes) : NULL;
    if (!nodes) {
        free(made);
        return; /* out of memory: the groups stay as they were made (correct) */
    }
    size_t n = 0, i = 0;
    while (i < c->count) {
        if (!is_nodes(&c->recs[i])) {
            made[n++] = c->recs[i++];
            continue;
        }
        size_t end = i;
        while (end < c->count && is_nodes(&c->recs[end])) end++;
        size_t count = gather(c->recs, i, end, nodes);
        n += plan(ctx, nodes, count, made + n);
        i = end;
    }
    free(nodes);
    free(c->recs);
    c->recs = made;
    c->count = n;
    c->capacity = c->count > 0 ? c->count : 0;
    cg__capture_forget_stores(c);
}
