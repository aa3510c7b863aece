/* The backend boundary: one table of operations per kind of device. The
 * graph (graph.c) hands nodes to exec in the order they were recorded;
 * transfers go through read/write/fill/copy. Two implementations: OpenCL
 * (cl_backend.c, on the gate cl_gate.c) and the scalar reference path
 * (ref_backend.c). A table holds no state: a context (one device) is its
 * instance, so a process can use several devices at once.
 *
 * Everything that depends on the kind of device is here or in the files
 * beside this one: the front end (src/host/ files) neither tests which backend
 * it runs on nor calls OpenCL (tools/check-backend-boundary.sh). Whole
 * in-place procedures that are not graph nodes (the fused trainer, an
 * optimizer's update, setup) have entries of their own, one block per
 * family. Copies are nodes (CG__OP_COPY, CG__OP_BLOCK_COPY). */
#ifndef CG_BACKEND_H
#define CG_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

#include "clgrad.h"

typedef struct cg__node cg__node;
typedef struct cg__fuse_group cg__fuse_group;
typedef struct cg__storage cg__storage;
typedef struct cg__linreg_run cg__linreg_run;
typedef struct cg__pool_entry cg__pool_entry;
typedef struct cg__loop cg__loop;

typedef struct cg__backend {
    const char *name;
    /* Transfers between host memory and a storage, at byte offsets;
     * blocking (the host memory may go when they return). */
    cg_status (*read)(cg_context *ctx, const cg__storage *s, size_t offset, size_t bytes,
                      void *dst, const char *what);
    cg_status (*write)(cg_context *ctx, cg__storage *s, size_t offset, size_t bytes,
                       const void *src, const char *what);
    /* Every float of [offset, offset + bytes) set to value. */
    cg_status (*fill)(cg_context *ctx, cg__storage *s, size_t offset, size_t bytes, float value,
                      const char *what);
    /* Runs one node: its inputs are computed, its output allocated. Errors
     * name node->what. */
    cg_status (*exec)(cg_context *ctx, cg__node *node);
    /* Runs a fused group (fuse.c): the same results as exec on each of its
     * nodes in order, bit for bit. */
    cg_status (*exec_group)(cg_context *ctx, const cg__fuse_group *group);
    /* Waits for everything queued. */
    cg_status (*sync)(cg_context *ctx, const char *what);
    /* ---- linreg ---- */
    /* The fused linear trainer (linreg_internal.h), whole runs rather than
     * nodes. prepare makes the model's state (m->state) if it has none and
     * brings it up to date with the model's transform; release frees it
     * (none made is fine). run trains from run's inputs into its outputs;
     * eval writes the loss, then the gradient, at params into out[1 + P]. */
    cg_status (*linreg_prepare)(cg_linreg *m, const char *what);
    cg_status (*linreg_run)(cg_linreg *m, cg__linreg_run *run);
    cg_status (*linreg_eval)(cg_linreg *m, const float *params, const float *hp,
                             cg_loss_kind loss, cg_grad_mode mode, float *out);
    void (*linreg_release)(cg_linreg *m);
    /* ---- setup ---- */
    /* Its devices, for selection (device.c matches a spec against them) and
     * cg_device_list: the i-th, in a stable order, into *info; false past
     * the last. The reference path's one device, the host, is chosen by name
     * only (device.c never enumerates it). */
    bool (*device)(size_t i, cg_device_info *info);
    /* Makes device i the context's: ctx->info, the queue, the largest
     * allocation, the pool's bound. Runs on a context already in error (an
     * environment variable it could not read) as on any other; returns the
     * status of its own steps, whose errors name cg_context_create. */
    cg_status (*open)(cg_context *ctx, size_t i);
    /* Waits for everything queued, its own failure ignored: the context goes
     * (cg_context_free), and its memory next. */
    void (*finish)(cg_context *ctx);
    /* Releases what open made; the pool is empty by then. */
    void (*close)(cg_context *ctx);
    /* Lets what is queued land, not counted by fault injection: a first
     * error's callers free host memory that queued reads may target
     * (cg__fail). */
    void (*drain)(cg_context *ctx);
    /* A storage's memory, s->bytes of it, from the pool (pool.c); the error
     * on ctx names what. */
    cg_status (*alloc)(cg_context *ctx, cg__storage *s, const char *what);
    /* Gives it back to the pool; of a borrowed storage, only the handle. */
    void (*release)(cg_context *ctx, cg__storage *s);
    /* Frees an idle buffer of the pool for good (evicted, or the pool
     * emptied). */
    void (*drop)(cg_context *ctx, cg__pool_entry *e);
    /* Its kernels come in GPU and CPU shapes (cg_kernel_shape). */
    bool kernel_shapes;
    /* ---- reductions ---- */
    /* *out = over a[0..n) (and b, read for kind 0 only): kind 0 dot(a, b),
     * 1 sum |a|, 2 max |a|; NaN on error. Blocking: L-BFGS's scalars. */
    cg_status (*vreduce)(cg_context *ctx, const cg_tensor *a, const cg_tensor *b, size_t n,
                         int kind, float *out);
    /* ---- optimizers ---- */
    /* The device work of optim.c, optim_arena.c and lbfgs.c: steps, the
     * arena, L-BFGS's vectors (a table of its own, in optim_internal.h). */
    const struct cg__optim_backend *optim;
    /* ---- whole loops ---- */
    /* A captured step's n replays as one launch (capture_loop.c plans):
     * fits says whether this device runs `loop` bit for bit as the replays
     * would (NULL: never); run runs up to n iterations, stopping after the
     * first whose watched value is not finite, into values[0..*done), with
     * iteration t's step scalars at table + t * table_stride (0: one row
     * for all). */
    bool (*loop_fits)(cg_context *ctx, const cg__loop *loop);
    cg_status (*loop_run)(cg_context *ctx, cg__loop *loop, long n,
                          const float *table, size_t table_stride, float *values, long *done);
} cg__backend;

extern const cg__backend cg__backend_opencl;
extern const cg__backend cg__backend_ref;

#endif
