/* One descriptor per optimizer (optim_table.c): everything the host knows
 * about it, in one place. Its per-element update rule is in
 * src/kernels/optim_rules.clh; everything else reads the table. Adding an
 * optimizer: a cg_optim_kind, a table entry, its rule (docs/architecture.md). */
#ifndef CG_OPTIM_TABLE_H
#define CG_OPTIM_TABLE_H

#include "internal.h"
#include "linreg_internal.h"

/* How cg_step moves an optimizer's parameters. */
typedef enum cg__optim_stepping {
    CG__STEP_RULE,        /* the rule on every element: one launch over a group's arena */
    CG__STEP_SPARSE_ROWS, /* the rows a row-sparse gradient touches; state per tensor */
    CG__STEP_CLOSURE,     /* re-evaluates the loss (cg_step_closure); its own state */
} cg__optim_stepping;

/* A typedef, not a pointer declarator: clgrad.h's cg_status_of(ctx) macro
 * would take "cg_status (*validate)(...)" for a call. */
typedef cg_status cg__optim_check(cg_context *ctx, const char *what, const cg_optim_options *o);

typedef struct cg__optim_desc {
    const char *name; /* torch's class name in lower case: cg_optim_name, messages */
    cg__optim_stepping stepping;
    int rule;         /* its CG_OPT_* id in optim_rules.clh, or -1: none there */
    bool one_group;   /* refuses parameter groups, as torch does */
    bool average;     /* state slot 0 is the averaged parameters (cg_optimizer_average) */
    float lr;         /* torch's default learning rate */
    /* Its other torch defaults, over those every optimizer shares; NULL: none. */
    void (*defaults)(cg_optim_options *o);
    /* Its own checks, after those of lr, weight_decay and eps; NULL: none. */
    cg__optim_check *validate;
    /* The state slots it keeps with these options: bit k for slot k. */
    int (*slots)(const cg_optim_options *o);
    /* Where slot s starts, as torch initializes it; NULL: every slot at 0. */
    float (*initial)(const cg_optim_options *o, int s);
    /* Its own entries of a step's h[] (optim_defs.clh), in double as torch
     * computes them in Python; the shared ones are filled already. NULL: none. */
    void (*scalars)(const cg_optim_options *o, int step, float *h);
} cg__optim_desc;

/* The descriptor of kind; NULL for a value outside cg_optim_kind. */
const cg__optim_desc *cg__optim_desc_of(cg_optim_kind kind);

/* The state slots kind's rule reads and writes with options o (bit k: slot k). */
int cg__optim_used_slots(cg_optim_kind kind, const cg_optim_options *o);
/* Torch's initial value of state slot s. */
float cg__initial_state(cg_optim_kind kind, const cg_optim_options *o, int s);

/* The fused trainers' per-step scalars (optim_rules.clh's cg_optim_scalars)
 * at each of steps[0..n), computed on ctx's device (C on ref), into h
 * (n * CG_H_COUNT floats): for the twin test (optim.c). */
cg_status cg__optim_fused_scalars(cg_context *ctx, cg_optim_kind kind, const cg_optim_options *o,
                                  const int *steps, size_t n, float *h);

#endif
