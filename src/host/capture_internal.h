/* Capture and replay's private structures (capture.c records and replays,
 * capture_rebind.c swaps inputs, capture_stores.c finds the stores nobody
 * reads). */
#ifndef CG_CAPTURE_INTERNAL_H
#define CG_CAPTURE_INTERNAL_H

#include "optim_internal.h"

typedef enum rec_kind { REC_EXEC, REC_GROUP, REC_FILL, REC_WRITE, REC_STEP, REC_ZERO_GRAD } rec_kind;

/* A fused group and its steps' nodes, which the steps point at. */
typedef struct rec_group {
    cg__fuse_group group;
    cg__node nodes[CG__FUSE_MAX_STEPS];
} rec_group;

/* A buffer a recorded group writes that may need no store (see "Stores
 * nobody reads"): the record's tensors on its storage, tensors[first ..
 * first + count), each with the references the record holds. */
typedef struct candidate {
    size_t rec;
    int buffer;
    size_t first, count;
} candidate;

typedef struct rec {
    rec_kind kind;
    cg__node node;         /* REC_EXEC */
    rec_group *group;      /* REC_GROUP */
    cg__storage *storage;  /* REC_FILL, REC_WRITE: referenced */
    size_t offset, bytes;
    float value;           /* REC_FILL */
    void *data;            /* REC_WRITE: a copy */
    const char *what;
    cg_optimizer *opt;     /* REC_STEP, REC_ZERO_GRAD */
} rec;

struct cg_capture {
    cg_context *ctx;
    const cg__backend *real;     /* the context's own backend */
    cg__backend table;           /* the recording one, ctx->backend while open */
    struct cg__optim_backend optim;
    rec *recs;
    size_t count, capacity;
    int depth;                   /* > 0: inside a recorded call */
    bool open;
    bool failed;                 /* an error while open (cleared or not) */
    unsigned long reads;         /* host reads while open (not replayed) */
    unsigned long long launches; /* kernel launches of the last replay */
    unsigned long long replays;
    struct cg__loop *loop;       /* n replays as one launch (capture_loop.c) */
    /* Stores nobody reads: found at the first replay, again after a rebind. */
    bool analyzed;
    candidate *cands;
    size_t ncands;
    cg_tensor **ctensors;     /* each candidate's tensors ... */
    unsigned long *crefs;     /* ... and the references the record holds to each */
    size_t nctensors;
};

/* The nodes entry r holds, *count of them: its node (REC_EXEC), its group's
 * steps' (REC_GROUP), none for the calls recorded as themselves. */
static inline cg__node *cg__rec_nodes(const rec *r, size_t *count)
{
    rec *w = (rec *)r; /* the caller's constness is the record's */
    *count = r->kind == REC_EXEC ? 1 : r->kind == REC_GROUP ? r->group->group.steps : 0;
    return r->kind == REC_EXEC ? &w->node : r->kind == REC_GROUP ? w->group->nodes : NULL;
}

/* The stores of recorded groups that nothing reads, for the next replay
 * (capture_stores.c); forgetting them makes the next replay look again. */
void cg__capture_mark_dead_stores(cg_capture *c);
void cg__capture_forget_stores(cg_capture *c);
/* The record's fused groups planned again over each run of nodes
 * (capture_plan.c): groups the realizations cut become one. */
void cg__capture_replan(cg_capture *c);
/* Whether node n reads or writes storage s through any of its tensors. */
bool cg__node_touches(const cg__node *n, const cg__storage *s);

#endif
