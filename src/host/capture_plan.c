/* A record's fused groups planned again over the whole step.
 *
 * While capturing, each realization planned its own nodes: a backward
 * realizes the forward before it records its own nodes, an optimizer call
 * realizes what came before it, so groups end where the realizations did.
 * The record holds the step's nodes in order: each run of them between the
 * calls recorded as themselves (a step, a zero_grad, a fill or write from
 * the host) is planned again as one sequence by the same planner (fuse.c),
 * so a chain the realizations cut (a backward's seed and the chain that
 * reads it) becomes one group. A group computes what its nodes would in
 * order, bit for bit, so the replays' results are the capture's. */
#include <stdlib.h>
#include <string.h>

#include "capture_internal.h"

static bool is_nodes(const rec *r) { return r->kind == REC_EXEC || r->kind == REC_GROUP; }

static size_t nodes_of(const rec *r)
{
    return r->kind == REC_EXEC ? 1 : r->kind == REC_GROUP ? r->group->group.steps : 0;
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

void cg__capture_replan(cg_capture *c)
{
    cg_context *ctx = c->ctx;
    if (!ctx->fuse || ctx->eager || ctx->status) return;
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
