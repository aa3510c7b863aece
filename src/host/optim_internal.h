/* The optimizer's private structures, shared by optim.c (creation,
 * stepping, state), optim_arena.c (the per-group arena), lbfgs.c and the
 * backends' optimizer work (backend/cl_optim.c, backend/ref_optim.c). */
#ifndef CG_OPTIM_INTERNAL_H
#define CG_OPTIM_INTERNAL_H

#include "internal.h"
#include "linreg_internal.h"
#include "optim_table.h"

/* A group's arena: its parameters, gradients and state slots each side by
 * side in one allocation (offsets aligned for sub-buffers), so that one
 * launch updates the whole group. The tensors become views into it while
 * the optimizer lives, and get their own memory back when it is freed. */
enum { ARENA_P, ARENA_G, ARENA_S0, ARENA_COUNT = ARENA_S0 + CG_OPT_STATE_SLOTS };

typedef struct group {
    cg_optim_options o;
    float base[CG_B_COUNT];
    int flags;
    size_t count;
    cg_tensor **params;
    cg_tensor **state; /* CG_OPT_STATE_SLOTS per parameter */
    int *steps;        /* per parameter, as torch's state['step'] */
    bool arena;
    size_t total, *offset;
    cl_mem mem[ARENA_COUNT];
    float *host[ARENA_COUNT];
} group;

typedef struct cg__lbfgs cg__lbfgs;
cg__lbfgs *cg__lbfgs_new(cg_context *ctx, cg_tensor **params, size_t count);
void cg__lbfgs_free(cg__lbfgs *s);
float cg__lbfgs_step(cg__lbfgs *s, const cg_optim_options *o, cg_closure_fn closure,
                     void *user);
size_t cg__lbfgs_state_size(const cg__lbfgs *s);
cg_status cg__lbfgs_state_io(cg__lbfgs *s, float *buf, size_t count, bool save, const char *what);

struct cg_optimizer {
    cg_context *ctx;
    cg_optim_kind kind;
    const cg__optim_desc *desc;
    char kernel_options[80]; /* of cg_optim_update: the OpenCL backend's, on first use */
    group *groups;
    size_t ngroups;
    cg__lbfgs *lbfgs; /* LBFGS's own state (lbfgs.c) */
    int captures;     /* records of its step or zero_grad (capture.c) */
};

/* cg_step and cg_zero_grad after their checks, the graph realized: what a
 * replay runs again (capture.c). */
cg_status cg__optim_step_now(cg_optimizer *opt);
cg_status cg__optim_zero_grad_now(cg_optimizer *opt);

/* Moves a group's parameters and gradients into its arena beside the state. */
void cg__arena_build(cg_context *ctx, cg_optim_kind kind, group *g);
/* Frees a group; arena-held tensors get their own memory back. */
void cg__group_free(cg_context *ctx, group *g);
/* Every float of the arena's slot k set to value (errors name what). */
cg_status cg__arena_fill(cg_context *ctx, group *g, int k, float value, const char *what);
/* The end of a backend's move_in, which cannot fail: parameter i's storage
 * already lies in the arena; its gradient becomes grad (when not NULL) and
 * its state slots state[]. */
void cg__arena_adopt(group *g, size_t i, cg_tensor *grad, cg_tensor *const *state);

/* One launch of the rule over n elements of p, g and the state slots
 * (buffers on a device, arrays on ref; NULL: a slot the rule doesn't use). */
typedef struct span {
    cl_mem mem[ARENA_COUNT];
    float *host[ARENA_COUNT];
    size_t n;
} span;

/* The optimizers' device work: cg__backend's optim, one per backend
 * (backend/cl_optim.c, backend/ref_optim.c). Each keeps the other's order
 * of operations and arithmetic, so the two give the same bits where the
 * device rounds correctly (tests/test_optim_rules.c). */
struct cg__optim_backend {
    /* The rule (optim_rules.clh) over sp's elements with the step's
     * scalars h and flags: one launch on a device. */
    cg_status (*update)(cg_optimizer *opt, const group *g, const span *sp, const float *h,
                        int flags);
    /* SparseAdam on p: the rows its row-sparse gradient touches, with its
     * state m and v and the step's constants. */
    cg_status (*sparse_adam)(cg_context *ctx, const cg_optim_options *o, cg_tensor *p,
                             cg_tensor *m, cg_tensor *v, float c1, float c2, float neg_step);
    /* cg_optim_scalars of rule with base b at each of steps[0..n), into h
     * (n * CG_H_COUNT floats): cg__optim_fused_scalars. */
    cg_status (*scalars)(cg_context *ctx, int rule, const float *b, const int *steps, size_t n,
                         float *h);
    /* The memory of the arena's slot k: g->total floats, uninitialized
     * (error on ctx on failure). */
    cg_status (*arena_alloc)(cg_context *ctx, group *g, int k);
    /* Moves parameter i (and its gradient) into the arena at g->offset[i]
     * and makes its state slots (used: bit s for slot s), through
     * cg__arena_adopt. All or nothing: false (error on ctx) leaves the
     * parameter its own memory and values. */
    bool (*move_in)(cg_context *ctx, group *g, size_t i, int used);
    /* p and its gradient, where they are views into an arena, get their own
     * memory back with their values, and p's gradient home goes. It runs
     * while freeing, maybe on a context in error: memory is asked for
     * whatever the status, and where that or the copy fails the tensor stays
     * a view and pinned[ARENA_P] or pinned[ARENA_G] is set (no error). */
    void (*move_out)(cg_context *ctx, cg_tensor *p, bool *pinned);
    /* y += a * x[off, off + y's elements) (L-BFGS's torch _add_grad). */
    cg_status (*axpy_at)(cg_context *ctx, cg_tensor *y, float a, const cg_tensor *x, size_t off);
    /* A new tensor over p's gradient home, where move_in put it in the
     * arena (autograd's first gradient of p after cg_zero_grad freed it);
     * NULL (error on ctx, naming what) on failure. */
    cg_tensor *(*grad_home)(cg_context *ctx, cg_tensor *p, const char *what);
};

#endif
