/* The backend boundary: one table of operations per kind of device. The
 * graph (graph.c) hands nodes to exec in the order they were recorded;
 * transfers go through read/write/fill/copy. Two implementations: OpenCL
 * (cl_backend.c, on the gate cl_gate.c) and the scalar reference path
 * (ref_backend.c). A table holds no state: a context (one device) is its
 * instance, so a process can use several devices at once.
 *
 * Moving in, family by family (see docs/DESIGN.md): the op families not yet
 * behind exec still choose their path with ctx->is_ref. */
#ifndef CG_BACKEND_H
#define CG_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

#include "clgrad.h"

typedef struct cg__node cg__node;
typedef struct cg__storage cg__storage;

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
    /* Waits for everything queued. */
    cg_status (*sync)(cg_context *ctx, const char *what);
    /* ---- optimizers ---- */
    /* The device work of optim.c, optim_arena.c and lbfgs.c: steps, the
     * arena, L-BFGS's vectors (a table of its own, in optim_internal.h). */
    const struct cg__optim_backend *optim;
} cg__backend;

extern const cg__backend cg__backend_opencl;
extern const cg__backend cg__backend_ref;

#endif
