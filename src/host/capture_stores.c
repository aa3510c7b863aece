/* Stores nobody reads, in a recorded step's fused groups. */
#include <stdlib.h>
#include <string.h>

#include "capture_internal.h"

/* A fused group writes every output, since anything may read it later. In
 * a record, later is known: a buffer a group writes needs no store when
 * (1) the group writes it before it reads it (no value comes in through
 * memory, from an earlier command or the previous replay), (2) no other
 * command of the record touches its storage, and (3) nothing outside the
 * record holds it: the storage's only tensors are the record's, and the
 * record holds every reference to them (no user handle, tape, optimizer or
 * gradient slot). (1) and (2) are the record's structure, found once; (3)
 * is checked before every replay, since a caller may take a reference
 * (a new op reading a tensor the step made) at any time. The values are the
 * same either way; only the memory traffic goes. */

/* The record's references to tensor t. */
static unsigned long record_refs(const cg_capture *c, const cg_tensor *t)
{
    unsigned long n = 0;
    for (size_t i = 0; i < c->count; i++) {
        size_t count;
        const cg__node *nodes = cg__rec_nodes(&c->recs[i], &count);
        for (size_t k = 0; k < count; k++) {
            const cg__node *nd = &nodes[k];
            n += (nd->out == t) + (nd->in[0] == t) + (nd->in[1] == t) + (nd->in[2] == t);
            for (size_t m = 0; m < nd->nmany; m++) n += nd->many[m] == t;
        }
    }
    return n;
}

/* Whether record entry i (other than the group `self`) touches storage s. */
static bool other_touches(const cg_capture *c, size_t self, const cg__storage *s)
{
    for (size_t i = 0; i < c->count; i++) {
        if (i == self) continue;
        const rec *r = &c->recs[i];
        switch (r->kind) {
        case REC_EXEC:
            if (cg__node_touches(&r->node, s)) return true;
            break;
        case REC_GROUP:
            /* what the group loads and stores: its nodes may name more
             * (an operand a gradient's formula does not read) */
            for (int b = 0; b < r->group->group.nbuffers; b++)
                if (r->group->group.buffer[b] == s) return true;
            break;
        case REC_FILL:
        case REC_WRITE:
            if (r->storage == s) return true;
            break;
        default: break; /* an optimizer's tensors are its own: (3) fails for them */
        }
    }
    return false;
}

/* Whether group g's first access to buffer b writes all of it. */
static bool written_first(const cg__fuse_group *g, int b)
{
    /* the steps after a group's sums read and write memory */
    if (g->after_read[b] || g->after_write[b]) return false;
    for (size_t k = 0; k < g->steps; k++) {
        const cg__fuse_step *st = &g->step[k];
        for (int j = 0; j < 3; j++)
            if (st->in[j].buffer == b) return false;
        if (st->out != b) continue;
        const cg__node *n = st->node;
        bool accumulates = n->kind == CG__OP_UNARY_GRAD || n->kind == CG__OP_AXPY ||
                           n->kind == CG__OP_EXPAND_ADD || (n->kind == CG__OP_BINARY_GRAD && n->flag_a);
        return !accumulates;
    }
    return false;
}

/* The record's distinct tensors on storage s, appended to c->ctensors with
 * the record's references to each; false when out of memory. */
static bool gather_tensors(cg_capture *c, const cg__storage *s, size_t *first, size_t *count)
{
    *first = c->nctensors;
    for (size_t i = 0; i < c->count; i++) {
        size_t nn;
        const cg__node *nodes = cg__rec_nodes(&c->recs[i], &nn);
        for (size_t k = 0; k < nn; k++) {
            const cg__node *nd = &nodes[k];
            cg_tensor *ts[CG__NODE_INPUTS + 1] = {nd->out, nd->in[0], nd->in[1], nd->in[2]};
            for (int j = 0; j < CG__NODE_INPUTS + 1; j++) {
                cg_tensor *t = ts[j];
                if (!t || t->storage != s) continue;
                bool seen = false;
                for (size_t m = *first; m < c->nctensors && !seen; m++) seen = c->ctensors[m] == t;
                if (seen) continue;
                cg_tensor **nt = cg__realloc(c->ctensors, (c->nctensors + 1) * sizeof *nt);
                if (!nt) return false;
                c->ctensors = nt;
                unsigned long *nr = cg__realloc(c->crefs, (c->nctensors + 1) * sizeof *nr);
                if (!nr) return false;
                c->crefs = nr;
                c->ctensors[c->nctensors] = t;
                c->crefs[c->nctensors++] = record_refs(c, t);
            }
        }
    }
    *count = c->nctensors - *first;
    return true;
}

/* Finds the candidates: (1) and (2). Out of memory finds none (every store
 * stays: correct, only slower). */
static void analyze(cg_capture *c)
{
    cg__capture_forget_stores(c);
    c->analyzed = true;
    for (size_t i = 0; i < c->count; i++) {
        if (c->recs[i].kind != REC_GROUP) continue;
        const cg__fuse_group *g = &c->recs[i].group->group;
        for (int b = 0; b < g->nbuffers; b++) {
            if (!g->written[b] || !written_first(g, b) || other_touches(c, i, g->buffer[b]))
                continue;
            size_t first, count;
            candidate *nc = cg__realloc(c->cands, (c->ncands + 1) * sizeof *nc);
            if (!nc || !gather_tensors(c, g->buffer[b], &first, &count)) {
                if (nc) c->cands = nc;
                cg__capture_forget_stores(c);
                c->analyzed = true;
                return;
            }
            c->cands = nc;
            c->cands[c->ncands++] = (candidate){i, b, first, count};
        }
    }
}

/* Before a replay: which candidates nothing outside the record holds (3). */
void cg__capture_mark_dead_stores(cg_capture *c)
{
    if (!c->analyzed) analyze(c);
    for (size_t k = 0; k < c->ncands; k++) {
        const candidate *cd = &c->cands[k];
        cg__fuse_group *g = &c->recs[cd->rec].group->group;
        bool private = g->buffer[cd->buffer]->refs == cd->count;
        for (size_t m = cd->first; m < cd->first + cd->count && private; m++)
            private = c->ctensors[m]->refs == c->crefs[m];
        g->skip_store[cd->buffer] = private;
    }
}

void cg__capture_forget_stores(cg_capture *c)
{
    free(c->cands);
    free(c->ctensors);
    free(c->crefs);
    c->cands = NULL;
    c->ctensors = NULL;
    c->crefs = NULL;
    c->ncands = c->nctensors = 0;
    c->analyzed = false;
}
