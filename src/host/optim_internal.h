/* The optimizer's private structures, shared by optim.c (creation,
 * stepping, state) and optim_arena.c (the per-group arena). */
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
    char kernel_options[80]; /* of cg_optim_update */
    group *groups;
    size_t ngroups;
    cg__lbfgs *lbfgs; /* LBFGS's own state (lbfgs.c) */
};

/* Moves a group's parameters and gradients into its arena beside the state. */
void cg__arena_build(cg_context *ctx, cg_optim_kind kind, group *g);
/* Frees a group; arena-held tensors get their own memory back. */
void cg__group_free(cg_context *ctx, group *g);

#endif
