/* The linear model's shared pieces: the object, and one training run's
 * inputs and outputs as both backends (OpenCL: backend/cl_linreg.c,
 * reference: ref/linreg_ref.c; reached through backend.h's linreg_*) fill
 * them. train.c validates options and turns a run into a cg_fit_result. */
#ifndef CG_LINREG_INTERNAL_H
#define CG_LINREG_INTERNAL_H

#include "internal.h"

/* Limits of the fused kernels: features are a compile-time constant there
 * (private arrays, unrolled loops). Wider models belong to the tape. */
#define CG__LINREG_MAX_FEATURES 64

#include "../kernels/optim_defs.clh"

/* Mirrors of linreg.cl constants. */
#define CG__ST_EPOCHS 0
#define CG__ST_STOPPED 1
#define CG__ST_LOGGED 2
#define CG__ST_COUNT 4
#define CG__FINISH_EVAL 0
#define CG__FINISH_FINAL (-1)

struct cg_linreg {
    cg_context *ctx;
    const cg_tensor *X, *y;
    size_t n, features;
    float *shift, *scale; /* features each; one block, shift first (uploaded whole) */
    void *state;          /* the backend's (its linreg_prepare made it), or NULL */
};

typedef struct cg__linreg_run {
    /* inputs */
    cg_loss_kind loss;
    cg_grad_mode mode;
    cg_optim_kind optimizer;
    int optim_flags;      /* CG_OF_MAXIMIZE, NESTEROV, AMSGRAD, CENTERED */
    float hp[CG_B_COUNT]; /* optim_defs.clh's base layout, delta at CG_B_DELTA */
    int epochs;
    const int *log_epochs; /* ascending, each in [1, epochs] */
    int nlog;
    int curve_stride;
    size_t curve_count;
    const float *init;  /* nparams */
    cg_fit_path path;   /* AUTO resolved by the backend */
    /* outputs (allocated by the caller) */
    float *records;     /* (nlog + 1) x (1 + 2 nparams): loss, params, grad */
    float *curve;       /* curve_count */
    float *params;      /* nparams */
    int epochs_run, stopped, logged;
    float final_loss;
    cg_fit_path path_used;
    double seconds;
} cg__linreg_run;

static inline size_t cg__linreg_nparams(const cg_linreg *m) { return m->features + 1; }
static inline size_t cg__linreg_record_len(const cg_linreg *m)
{
    return 1 + 2 * cg__linreg_nparams(m);
}

/* ---- linreg ---- */
/* The backends' linreg_* entries (backend.h): OpenCL (backend/cl_linreg.c)
 * and the reference path (ref/linreg_ref.c). */
cg_status cg__cl_linreg_prepare(cg_linreg *model, const char *what);
cg_status cg__cl_linreg_run(cg_linreg *model, cg__linreg_run *run);
cg_status cg__cl_linreg_eval(cg_linreg *model, const float *params, const float *hp,
                             cg_loss_kind loss, cg_grad_mode mode, float *out);
void cg__cl_linreg_release(cg_linreg *model);
cg_status cg__ref_linreg_prepare(cg_linreg *model, const char *what);
cg_status cg__ref_linreg_run(cg_linreg *model, cg__linreg_run *run);
cg_status cg__ref_linreg_eval(cg_linreg *model, const float *params, const float *hp,
                              cg_loss_kind loss, cg_grad_mode mode, float *out);
void cg__ref_linreg_release(cg_linreg *model);

/* optim_rules.clh compiled as C (ref/optim_ref.c). */
float cg__ref_optim_rule(int kind, int flags, const float *h, float p, float g, float *s0,
                         float *s1, float *s2);
void cg__ref_optim_scalars(int kind, const float *base, int step, float *h);
int cg__optim_step_flags(int flags, int step, const float *h);
float cg__ref_sparse_adam_rule(float p, float g, float *m, float *v, float c1, float c2,
                               float neg_step_size, float eps);

/* The optimizer options as the kernels' base array and flags (optim_table.c). */
void cg__optim_base(cg_optim_kind kind, const cg_optim_options *o, float *base, int *flags);
/* The step's scalars (h[]) in double, as torch computes them in Python. */
void cg__optim_scalars(cg_optim_kind kind, const cg_optim_options *o, int step, float *h);
/* The build options the optimizer rules need on ctx's device (optim.c). */
const char *cg__optim_cl_options(cg_context *ctx);
/* Checks the options for kind; error on ctx naming the option. */
cg_status cg__optim_validate(cg_context *ctx, const char *what, cg_optim_kind kind,
                             const cg_optim_options *o);

#endif
