/* Between cl_fuse.c (the cache and the launch) and cl_fuse_text.c (the
 * text of a group's kernels). Private to the OpenCL backend. */
#ifndef CG_CL_FUSE_H
#define CG_CL_FUSE_H

#include "../internal.h"

/* One scalar argument of a step: named <letter><k>, or <letter><k>_<j>. */
typedef struct cg__fuse_param {
    char letter;
    signed char j; /* -1: no suffix */
    bool is_float;
    float f;
    cl_uint u;
} cg__fuse_param;
#define CG__FUSE_STEP_PARAMS 6
/* Step st's arguments in the order the kernels take them; their count. */
int cg__fuse_step_params(const cg__fuse_step *st, cg__fuse_param *p);
/* Buffer b is accessed element by element over fewer elements than the
 * launch: its steps and its store are guarded by i < z<b>. */
bool cg__fuse_short_buffer(const cg__fuse_group *g, int b);
/* The program's text for g into buf: cg_fused, and with sums
 * cg_fused_finish, both taking the same arguments (the buffers, the short
 * buffers' sizes, each step's, n, and with sums chunk, lanes, finish_lanes,
 * partials, parts and, GPU shapes, the trees' local memory). False when it
 * does not fit in cap. */
bool cg__fuse_text(const cg__fuse_group *g, bool gpu, char *buf, size_t cap);
/* What the text depends on, as words into key (CG__FUSE_KEY_CAP of them);
 * their count. */
#define CG__FUSE_KEY_CAP (3 + CG__FUSE_MAX_BUFFERS + CG__FUSE_MAX_STEPS * 12)
size_t cg__fuse_structure(const cg__fuse_group *g, bool gpu, unsigned *key);

#endif /* CG_CL_FUSE_H */
