/* cg_capture_rebind: a recorded step's input replaced by another tensor of
 * its shape, in the record's nodes and its groups' buffers. */
#include "capture_internal.h"

/* Whether t's storage is reached through another tensor than t itself. */
static bool storage_viewed(const cg__node *n, const cg_tensor *t)
{
    const cg_tensor *ts[CG__NODE_INPUTS + 1] = {n->out, n->in[0], n->in[1], n->in[2]};
    for (int k = 0; k < CG__NODE_INPUTS + 1; k++)
        if (ts[k] && ts[k] != t && ts[k]->storage == t->storage) return true;
    for (size_t k = 0; k < n->nmany; k++)
        if (n->many[k] != t && n->many[k]->storage == t->storage) return true;
    return false;
}

static bool node_uses(const cg__node *n, const cg_tensor *t)
{
    if (n->out == t || n->in[0] == t || n->in[1] == t || n->in[2] == t) return true;
    for (size_t k = 0; k < n->nmany; k++)
        if (n->many[k] == t) return true;
    return false;
}

bool cg__node_touches(const cg__node *n, const cg__storage *s)
{
    const cg_tensor *ts[CG__NODE_INPUTS + 1] = {n->out, n->in[0], n->in[1], n->in[2]};
    for (int k = 0; k < CG__NODE_INPUTS + 1; k++)
        if (ts[k] && ts[k]->storage == s) return true;
    for (size_t k = 0; k < n->nmany; k++)
        if (n->many[k]->storage == s) return true;
    return false;
}

/* Calls f on every node of the record; stops at the first true. */
static bool any_node(const cg_capture *c, bool (*f)(const cg__node *, const void *), const void *a)
{
    for (size_t i = 0; i < c->count; i++) {
        size_t count;
        const cg__node *nodes = cg__rec_nodes(&c->recs[i], &count);
        for (size_t k = 0; k < count; k++)
            if (f(&nodes[k], a)) return true;
    }
    return false;
}

static bool uses(const cg__node *n, const void *t) { return node_uses(n, t); }
static bool viewed(const cg__node *n, const void *t) { return storage_viewed(n, t); }
static bool touches(const cg__node *n, const void *s) { return cg__node_touches(n, s); }

static bool storage_recorded(const cg_capture *c, const cg__storage *s)
{
    for (size_t i = 0; i < c->count; i++)
        if ((c->recs[i].kind == REC_FILL || c->recs[i].kind == REC_WRITE) &&
            c->recs[i].storage == s)
            return true;
    return any_node(c, touches, s);
}

static void swap_tensor(cg_tensor **slot, cg_tensor *from, cg_tensor *to)
{
    if (*slot != from) return;
    cg__tensor_retain(to);
    cg__tensor_release(from);
    *slot = to;
}

static void swap_node(cg__node *n, cg_tensor *from, cg_tensor *to)
{
    swap_tensor(&n->out, from, to);
    for (int k = 0; k < CG__NODE_INPUTS; k++) swap_tensor(&n->in[k], from, to);
    for (size_t k = 0; k < n->nmany; k++) swap_tensor(&n->many[k], from, to);
}

static bool same_shape(cg_shape a, cg_shape b)
{
    if (a.ndim != b.ndim) return false;
    for (int d = 0; d < a.ndim; d++)
        if (a.dims[d] != b.dims[d]) return false;
    return true;
}

const char *cg__capture_rebind_problem(const cg_capture *c, const cg_tensor *from,
                                       const cg_tensor *to)
{
    if (to->ctx != c->ctx) return "the new tensor comes from another context";
    if (!from->plain || !to->plain)
        return "only plain tensors (contiguous from their storage's start) rebind: "
               "cg_contiguous makes one";
    if (!same_shape(from->shape, to->shape)) return "the shapes differ";
    if (!any_node(c, uses, from)) return "the capture does not use the tensor it is given";
    if (any_node(c, viewed, from))
        return "the capture also reads the tensor through a view of it (reshape, slice, "
               "transpose): rebind the view's base before any view is taken in the step";
    for (size_t i = 0; i < c->count; i++)
        if ((c->recs[i].kind == REC_FILL || c->recs[i].kind == REC_WRITE) &&
            c->recs[i].storage == from->storage)
            return "the capture writes the tensor from the host (cg_tensor_write)";
    if (to != from && storage_recorded(c, to->storage))
        return "the new tensor's memory is already used by the capture";
    return NULL;
}

cg_status cg_capture_rebind(cg_capture *c, cg_tensor *from, cg_tensor *to)
{
    static const char what[] = "cg_capture_rebind";
    if (!c) return CG_ERROR_NULL_POINTER;
    cg_context *ctx = c->ctx;
    if (ctx->status) return ctx->status;
    if (!from || !to)
        return cg__fail(ctx, CG_ERROR_NULL_POINTER, "%s: %s is NULL", what,
                        !from ? "the captured tensor" : "the new tensor");
    if (c->open)
        return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "%s: the capture is still open", what);
    const char *why = cg__capture_rebind_problem(c, from, to);
    if (why) return cg__fail(ctx, CG_ERROR_INVALID_ARGUMENT, "%s: %s", what, why);
    if (from == to) return CG_OK;
    cg__loop_free(c->loop); /* it names the old tensor's memory */
    c->loop = NULL;
    /* A fused group's buffers are storages: the tensor's is its alone (no
     * view of it is in the record), so it is swapped wherever it appears. */
    cg__tensor_retain(from); /* until every slot has let go */
    for (size_t i = 0; i < c->count; i++) {
        rec *r = &c->recs[i];
        size_t count;
        cg__node *nodes = cg__rec_nodes(r, &count);
        for (size_t k = 0; k < count; k++) swap_node(&nodes[k], from, to);
        if (r->kind != REC_GROUP) continue;
        cg__fuse_group *g = &r->group->group;
        for (int b = 0; b < g->nbuffers; b++)
            if (g->buffer[b] == from->storage) g->buffer[b] = to->storage;
    }
    cg__tensor_release(from);
    cg__capture_forget_stores(c); /* the record's references changed */
    return CG_OK;
}
