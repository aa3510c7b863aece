/* Private declarations shared by the host library's files. Not installed. */
#ifndef CG_INTERNAL_H
#define CG_INTERNAL_H

#include <stdarg.h>
#include <stdint.h>

#include "backend/backend.h"
#include "backend/cl_gate.h"
#include "clgrad.h"
#include "fault.h"

/* Every OpenCL call goes through the gate (backend/cl_gate.h): the raw names
 * are unusable in the rest of the library, so none can slip past fault
 * injection and the live-object counts. */
#if defined(__GNUC__)
#pragma GCC poison clCreateContext clCreateCommandQueue clCreateBuffer clCreateSubBuffer
#pragma GCC poison clCreateProgramWithSource clCreateProgramWithBinary clBuildProgram
#pragma GCC poison clCreateKernel clEnqueueNDRangeKernel clEnqueueFillBuffer clEnqueueCopyBuffer
#pragma GCC poison clEnqueueReadBuffer clEnqueueWriteBuffer clFinish clGetPlatformIDs
#pragma GCC poison clGetPlatformInfo clGetDeviceIDs clGetDeviceInfo clGetProgramInfo
#pragma GCC poison clGetProgramBuildInfo clSetKernelArg clRetainMemObject clReleaseMemObject
#pragma GCC poison clReleaseKernel clReleaseProgram clReleaseCommandQueue clReleaseContext
#pragma GCC poison clGetKernelWorkGroupInfo
#endif

#if defined(__GNUC__)
#define CG__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CG__PRINTF(f, a)
#endif

/* ---- programs (backend/cl_program.c) ----------------------------------- */

/* The kernel families, each one .cl file embedded at build time. */
typedef enum cg__program_id {
    CG__PROGRAM_LINREG = 0,
    CG__PROGRAM_ELEMENTWISE,
    CG__PROGRAM_SHAPE,
    CG__PROGRAM_REDUCE,
    CG__PROGRAM_MATMUL,
    CG__PROGRAM_RANDOM,
    CG__PROGRAM_OPTIM,
    CG__PROGRAM_COUNT
} cg__program_id;

#define CG__MAX_PROGRAM_SLOTS 128
#define CG__MAX_KERNELS_PER_PROGRAM 16

typedef struct cg__program_slot {
    cg__program_id id;
    char options[128];
    cl_program program;
    const char *kernel_names[CG__MAX_KERNELS_PER_PROGRAM];
    cl_kernel kernels[CG__MAX_KERNELS_PER_PROGRAM];
    /* Per kernel: the largest work-group it may be launched with
     * (CL_KERNEL_WORK_GROUP_SIZE, within the device's limit) and the local
     * memory left for its __local arguments. */
    size_t group_max[CG__MAX_KERNELS_PER_PROGRAM];
    size_t local_free[CG__MAX_KERNELS_PER_PROGRAM];
    bool from_cache;  /* loaded from the disk cache (rebuilt if a kernel is missing) */
} cg__program_slot;

/* ---- buffer pool (pool.c; the OpenCL half in backend/cl_pool.c) -------- */

typedef struct cg__pool_entry {
    size_t bytes;
    cl_mem mem;    /* device contexts */
    float *host;   /* the reference path */
} cg__pool_entry;

typedef struct cg__pool {
    cg__pool_entry *free_list;
    size_t count, capacity;
} cg__pool;

/* ---- tape -------------------------------------------------------------- */

typedef struct cg__node cg__node;
/* A node's backward rule: records the nodes that add out->grad's share into
 * its inputs' grads. It is given a copy of the node (recording moves the
 * graph's array). */
typedef void (*cg__backward_fn)(cg_context *ctx, cg__node *node);

/* What a node computes: one global list, executed by each backend's exec
 * (backend/). Parameters are in the node's fields named beside each. */
typedef enum cg__op {
    CG__OP_VIEW = 0,     /* nothing to compute: out is a view of in[0] */
    CG__OP_DONE,         /* computed when recorded (a family not behind exec yet) */
    CG__OP_FILL,         /* out = scalar, every element */
    CG__OP_COPY,         /* out (+)= in[0] through layouts la (source), lb (destination);
                            flag_a: accumulate */
    CG__OP_UNARY,        /* out = f(in[0]; scalar), f = op */
    CG__OP_UNARY_GRAD,   /* out += in[2] * f'(in[0], in[1]; scalar): x, y, gy */
    CG__OP_BINARY,       /* out = in[0] (op) in[1], broadcasting, strided operands */
    CG__OP_BINARY_GRAD,  /* out (+)= in[2] * d(in[0] op in[1])/d(operand ia); flag_a: accumulate */
    CG__OP_AXPY,         /* out += scalar * in[0] */
    CG__OP_SUM_TO,       /* out += in[0] summed over out's broadcast dimensions */
    CG__OP_REDUCE,       /* out = scalar * sum of in[0] [ia, ib, ic] over ib; a full sum
                            (ia = ic = 1) goes to out[id], added when flag_a */
    CG__OP_EXPAND_ADD,   /* out [ia, ib, ic] += scalar * in[0] [ia, ic] (REDUCE's backward) */
    CG__OP_MATMUL,       /* out (+)= op(in[0]) op(in[1]): flag_a/flag_b transpose, ia = M,
                            ib = N, ic = K, id: accumulate */
    CG__OP_BLOCK_COPY,   /* for o < ie, k < ig: out[ic + o*id + k] (+)= in[0][ia + o*ib + k];
                            flag_a: accumulate */
    CG__OP_GATHER_ROWS,  /* out[r,:] = in[0][rows[r],:], ia rows of ib columns */
    CG__OP_RAND_UNIFORM, /* out = U(scalar, scalar_b) from (seed ia, offset ib) */
    /* ---- reductions, clipping, embedding ---- */
    CG__OP_NORM2,        /* out[ia] = the 2-norm of in[0], without overflow or underflow */
    CG__OP_CLIP_TOTAL,   /* out[0] = the 2-norm of in[0] (the norms), out[1] =
                            min(scalar / (out[0] + 1e-6), 1): clipping's factor */
    CG__OP_SCALE_BY,     /* out *= in[0][ia], in place */
    CG__OP_CLAMP,        /* out = clamp(out, scalar, scalar_b), in place */
    CG__OP_EMBEDDING_GRAD, /* out[map[u], :] += the rows in[0][positions[k], :] for k in
                            [starts[u], starts[u+1]), summed in that order, for u < ic;
                            ia positions, ib columns; rows = map[ic], starts[ic + 1],
                            positions[ia]. flag_a: in[0] holds one row per u (rows = map) */
    CG__OP_COUNT
} cg__op;

#define CG__NODE_INPUTS 3

/* Where a tensor's elements sit in its storage: element (i0, i1, ...) is at
 * offset + i0 * strides[0] + i1 * strides[1] + ..., in elements. A stride of
 * 0 repeats an element (expand); unused dimensions have stride 0. */
typedef struct cg__layout {
    cg_shape shape;
    size_t strides[CG_MAX_DIMS];
    size_t offset;
} cg__layout;

/* One node of the graph: an op the user called (with its backward rule when
 * an input requires grad) or a step of a backward. Realized (executed by the
 * backend) when a result is needed, in the order recorded. */
struct cg__node {
    cg__op kind;
    const char *what;     /* the public call that recorded it: names it in errors */
    cg_tensor *out;       /* a reference while the node may still run */
    cg_tensor *in[CG__NODE_INPUTS]; /* references (released when no longer needed) */
    cg_tensor **many;     /* concat's inputs (owned array, each referenced), else NULL */
    size_t nmany;
    /* The parameter block (see cg__op; backward rules read it too). */
    int op;               /* the family's op code (ops.clh) */
    float scalar, scalar_b;
    bool flag_a, flag_b;
    size_t ia, ib, ic, id, ie, ig;
    unsigned *rows;       /* host indices (owned), else NULL */
    bool done;            /* executed */
    cg__backward_fn backward; /* NULL: not differentiated (a gradient step, no_grad) */
    bool consumed;        /* a backward without retain_graph went through it */
    /* Last, and not cleared by cg__emit (the nodes that use them set them):
     * la: a view op's view over in[0]'s contiguous layout; a copy's source
     * (la) and destination (lb). */
    cg__layout la, lb;
};

typedef struct cg__tape {
    cg__node *nodes;
    size_t count, capacity;
    cg_tensor **owned;    /* references the tape holds: ops' outputs, cg_tape_own: released by cg_tape_reset */
    size_t nowned, owned_capacity;
    size_t pending;       /* nodes [pending, count) have not been handed to the backend */
    size_t differentiable;/* nodes autograd may walk (cg_context_stats.tape_nodes) */
    bool realizing;       /* a backend is running a node (which must record none) */
    int no_grad;          /* depth of cg_no_grad_begin */
    bool consumed;        /* a backward without retain ran on this tape */
} cg__tape;

/* ---- context ----------------------------------------------------------- */

struct cg_context {
    cg_status status;
    char message[4096];

    const cg__backend *backend;
    bool eager;           /* realize every op as it is recorded (CLGRAD_EAGER=1) */
    bool fuse;            /* run element-wise chains as one kernel (fuse.c; CLGRAD_FUSE) */
    void *fused;          /* the backend's generated kernels (backend/cl_fuse.c) */
    void *loops;          /* the backend's whole-loop kernels (backend/cl_loop.c) */
    cg_device_info info;
    cl_platform_id platform;
    cl_device_id device;
    cl_context cl;
    cl_command_queue queue;

    cg__program_slot programs[CG__MAX_PROGRAM_SLOTS];
    int program_count;

    cg__pool pool;
    cg__pool orphans;        /* buffers views still use after their owner went (pool.c) */
    size_t pool_limit;       /* bytes the pool may keep idle (pool.c) */
    /* The largest single allocation: CL_DEVICE_MAX_MEM_ALLOC_SIZE (at most
     * the device's memory); on ref, the host's physical memory, which an
     * overcommitting malloc might still promise. 0: unknown, no limit. */
    size_t max_alloc_bytes;
    cg__tape tape;
    size_t align_floats;  /* sub-buffer offsets: CL_DEVICE_MEM_BASE_ADDR_ALIGN, in floats */
    /* Kernel shapes: GPU (coalesced strides, local-memory trees, grouped
     * single launch) or CPU (contiguous chunks per work-item). Follows the
     * device type unless CLGRAD_KERNEL_SHAPE or the API says otherwise. */
    bool gpu_shapes;
    /* Programs are read from / written to clgrad's binary cache (OpenCL;
     * on PoCL read only by default: CLGRAD_BINARY_CACHE, backend/cl_device.c). */
    bool binary_cache_read, binary_cache_write;
    cg_context_stats stats;
    /* The capture recording this context's device work (capture.c); while
     * open, backend is its recording copy of the context's own. */
    struct cg_capture *capture;
};

/* One device buffer (host memory on ref), shared by every tensor that views
 * it; freed (back to the pool) when the last of them goes. */
typedef struct cg__storage {
    unsigned long refs;
    cg_context *ctx;
    size_t bytes;
    cl_mem mem;     /* device contexts */
    float *host;    /* the reference path */
    bool borrowed;  /* a sub-buffer of an optimizer's arena: only the handle is ours */
} cg__storage;

/* A view of a storage: shape, strides and offset (layout). Reference
 * counted: the user's handle (user_ref), the tape (for what ops made and
 * what cg_tape_own gave it) and every node that reads the tensor each hold
 * one; the last release frees it. */
struct cg_tensor {
    cg_context *ctx;
    cg_shape shape;
    size_t numel;
    size_t bytes;     /* numel * sizeof(float): what a contiguous copy takes */
    cg__storage *storage;
    size_t strides[CG_MAX_DIMS]; /* elements; 0 where expanded or past ndim */
    size_t offset;               /* elements into the storage */
    /* Row-major and dense from the storage's start: kernels may take mem or
     * host as the tensor's elements. Views that are not plain have mem and
     * host NULL and reach kernels through cg__plain (a contiguous copy) or
     * kernels that read strides. */
    bool plain;
    cl_mem mem;       /* storage->mem when plain (device contexts) */
    float *host;      /* storage->host when plain (the reference path) */
    unsigned long refs;
    bool user_ref;    /* the caller's handle still holds a reference */
    bool requires_grad;
    bool tape_owned;  /* made by an op: the tape holds it, cg_tensor_free ignores it */
    cg_tensor *grad;  /* allocated by the first backward that reaches it */
    long node;        /* the tape node that made it, -1 for leaves */
    cl_mem grad_home;      /* where its gradient lives when an optimizer arranged it */
    float *grad_home_host; /* (the reference path's) */
    bool sparse_grad;            /* embeddings: a row-sparse gradient instead */
    struct cg__sparse *sparse;   /* ... its rows and values, NULL until a backward */
};

/* A row-sparse gradient of a [rows, dim] tensor: the rows touched (sorted,
 * unique, on the host) and their values [nrows, dim]. */
typedef struct cg__sparse {
    unsigned *rows;
    size_t nrows, dim;
    cg_tensor *values;
} cg__sparse;
void cg__sparse_free(cg__sparse *s);

/* ---- errors (error.c; OpenCL's in backend/cl_error.c) ------------------ */

/* Records the first error on ctx and returns the context's status (the first
 * error's, which may be an earlier one). fmt starts with the public call's
 * name: "cg_linreg_fit: lr must be positive (got -1)". */
cg_status cg__fail(cg_context *ctx, cg_status status, const char *fmt, ...) CG__PRINTF(3, 4);
/* Same, for a failed OpenCL call: the message gets the code's name. */
cg_status cg__cl_fail(cg_context *ctx, cl_int err, const char *what);
const char *cg__cl_error_name(cl_int err);
void cg__log(const char *fmt, ...) CG__PRINTF(1, 2);

/* ---- devices (device.c) ------------------------------------------------ */

/* The backend a spec (NULL: CLGRAD_DEVICE, else the default) names, and the
 * index of its device to open; NULL, with the error on ctx, when none does. */
const cg__backend *cg__device_select(cg_context *ctx, const char *spec, size_t *index);

/* ---- programs (backend/cl_program.c) ----------------------------------- */

/* The kernel `name` of program `id` built with `options` (cached per context,
 * on disk across processes). NULL on failure, with the error on ctx. */
cl_kernel cg__kernel(cg_context *ctx, cg__program_id id, const char *options, const char *name);
void cg__programs_release(cg_context *ctx);
/* A program of generated source after the shared headers (ops.clh and the
 * formulas), keyed in the binary cache by its text like any program. */
cl_program cg__program_generated(cg_context *ctx, const char *source, bool from_source,
                                 bool *cached);

/* The disk cache's entry for one program build (backend/cl_program_cache.c). */
typedef struct cg__cache_entry {
    char *key;       /* what the binary is built for: device, driver, options, source */
    size_t key_len;
    char *path;      /* NULL when there is no cache directory */
} cg__cache_entry;
cg_status cg__cache_entry_init(cg_context *ctx, const char *options, const char *const *srcs,
                               size_t nsrc, cg__cache_entry *e);
void cg__cache_entry_free(cg__cache_entry *e);
/* The cached program, built; NULL when absent or unusable (then deleted,
 * unless the driver was only short of memory). */
cl_program cg__cache_load(cg_context *ctx, const cg__cache_entry *e, const char *options);
void cg__cache_store(cg_context *ctx, const cg__cache_entry *e, cl_program program);
void cg__cache_forget(const cg__cache_entry *e);

/* Enqueues a 1-D range with explicit local size (PoCL would otherwise pick
 * one work-group for the whole range). Counts the launch. */
cg_status cg__launch(cg_context *ctx, cl_kernel kernel, size_t global, size_t local,
                     const char *what);
/* 2-D range, explicit local size; global is rounded up to the local size. */
cg_status cg__launch2d(cg_context *ctx, cl_kernel kernel, const size_t global[2],
                       const size_t local[2], const char *what);
/* One work-item per element, n rounded up to the work-group size. */
cg_status cg__launch_n(cg_context *ctx, cl_kernel kernel, size_t n, const char *what);
/* A work-group size for `kernel`: the largest power of two that is at most
 * `want`, the kernel's and the device's limits, and, when each work-item
 * takes `local_per_item` bytes of local memory, what local memory holds.
 * At least 1. */
size_t cg__group_size(cg_context *ctx, cl_kernel kernel, size_t want, size_t local_per_item);

/* Sets kernel arguments: pairs of (size, pointer), terminated by size 0. */
cg_status cg__set_args(cg_context *ctx, cl_kernel kernel, const char *what, ...);

/* ---- buffers (pool.c, backend/cl_pool.c) ------------------------------ */

/* Device buffers (or host memory on ref) of at least `bytes`, from the pool;
 * put takes the same byte count as get. */
cl_mem cg__buffer_get(cg_context *ctx, size_t bytes, const char *what);
void cg__buffer_put(cg_context *ctx, cl_mem mem, size_t bytes);
float *cg__host_get(cg_context *ctx, size_t bytes, const char *what);
void cg__host_put(cg_context *ctx, float *host, size_t bytes);
/* The same, for cleanup paths (giving a tensor its memory back while the
 * context is in error): no status check, no error set; NULL on failure. */
cl_mem cg__buffer_get_anyway(cg_context *ctx, size_t bytes);
float *cg__host_get_anyway(cg_context *ctx, size_t bytes);
/* A buffer that tensors still view after its owner was freed, because
 * giving them their own memory failed: kept until cg_context_free. */
void cg__buffer_orphan(cg_context *ctx, cl_mem mem, float *host, size_t bytes);
void cg__orphans_release(cg_context *ctx);
/* Releases every idle buffer. */
void cg__pool_release(cg_context *ctx);
/* The pool's bound: CLGRAD_POOL_LIMIT, else a quarter of the device's
 * memory (`memory` bytes; 0: unknown). */
void cg__pool_configure(cg_context *ctx, unsigned long long memory);
/* The bookkeeping every backend's buffers share: the size class a request
 * of `bytes` takes; an idle buffer of exactly that class (false: none);
 * giving one back (kept idle, or dropped past the bound); and the check of
 * a request against the largest allocation (true: too large, error on ctx
 * naming what). */
size_t cg__pool_class(const cg_context *ctx, size_t bytes);
bool cg__pool_take(cg_context *ctx, size_t bytes, cg__pool_entry *out);
void cg__pool_give(cg_context *ctx, cg__pool_entry entry);
bool cg__pool_too_large(cg_context *ctx, size_t bytes, const char *what);
/* Physical memory of the host (0 when unknown). */
unsigned long long cg__host_memory_bytes(void);
/* OpenCL transfers (backend/cl_pool.c); non-blocking ones need their host
 * memory to stay valid until a later blocking call or cg__sync on the
 * (in-order) queue. */
cg_status cg__write(cg_context *ctx, cl_mem mem, size_t offset, size_t bytes, const void *src,
                    bool blocking, const char *what);
cg_status cg__read(cg_context *ctx, cl_mem mem, size_t offset, size_t bytes, void *dst,
                   bool blocking, const char *what);
cg_status cg__fill_zero(cg_context *ctx, cl_mem mem, size_t bytes, const char *what);
cg_status cg__sync(cg_context *ctx, const char *what);

/* ---- setup ---- */

/* The backends' setup entries (backend.h): the OpenCL backend's in
 * backend/cl_device.c and backend/cl_pool.c, the reference path's in
 * backend/ref_setup.c. */
bool cg__cl_device(size_t i, cg_device_info *info);
cg_status cg__cl_open(cg_context *ctx, size_t i);
void cg__cl_finish(cg_context *ctx);
void cg__cl_close(cg_context *ctx);
void cg__cl_drain_queue(cg_context *ctx);
cg_status cg__cl_alloc(cg_context *ctx, cg__storage *s, const char *what);
void cg__cl_release(cg_context *ctx, cg__storage *s);
void cg__cl_drop(cg_context *ctx, cg__pool_entry *e);
bool cg__ref_device(size_t i, cg_device_info *info);
cg_status cg__ref_open(cg_context *ctx, size_t i);
void cg__ref_nothing(cg_context *ctx);
cg_status cg__ref_alloc(cg_context *ctx, cg__storage *s, const char *what);
void cg__ref_release(cg_context *ctx, cg__storage *s);
void cg__ref_drop(cg_context *ctx, cg__pool_entry *e);

/* Tensor references (storage.c). A new tensor has one reference, its
 * creator's; release frees it (and its gradient) with the last. */
cg_tensor *cg__tensor_retain(cg_tensor *t);
void cg__tensor_release(cg_tensor *t);
/* A new tensor of `shape` with its own contiguous storage, uninitialized;
 * the tape holds its reference when tape_owned. */
cg_tensor *cg__tensor_new(cg_context *ctx, cg_shape shape, bool tape_owned, const char *what);
/* A contiguous tensor over memory an optimizer's arena owns: mem (a handle
 * it takes) or host; freeing it frees only the handle. */
cg_tensor *cg__tensor_borrowed(cg_context *ctx, cg_shape shape, cl_mem mem, float *host,
                               const char *what);
/* A tape-owned tensor over x's storage with the given layout. */
cg_tensor *cg__tensor_view(cg_tensor *x, const cg__layout *layout, const char *what);
/* Storage (storage.c): a new one of `bytes` from the pool; references. */
cg__storage *cg__storage_new(cg_context *ctx, size_t bytes, const char *what);
void cg__storage_release(cg__storage *s);
/* Layouts (storage.c). */
void cg__layout_contiguous(cg__layout *l, cg_shape shape);
cg__layout cg__layout_of(const cg_tensor *t);
bool cg__layout_is_plain(const cg__layout *l);
/* Sets t->plain, t->mem and t->host from its layout and storage (after the
 * storage's buffer moved, as an optimizer's arena does). */
void cg__tensor_refresh(cg_tensor *t);
/* x itself when plain, else a contiguous copy made by a recorded op (its
 * gradient flows back into x). NULL on error. */
cg_tensor *cg__plain(cg_tensor *x, const char *what);
/* Replaces each of ts[0..n) by cg__plain of it; false on error. */
bool cg__plain_all(cg_tensor **ts, size_t n, const char *what);
/* dst (+)= src element by element in logical order, both through their
 * layouts (any strides; dst must not repeat an element when accumulating). */
cg_status cg__strided_copy(cg_context *ctx, cg_tensor *src, const cg__layout *sl, cg_tensor *dst,
                           const cg__layout *dl, bool accumulate, const char *what);
/* The same, recorded only (a backward rule's step: run with the graph). */
cg__node *cg__strided_copy_node(cg_context *ctx, cg_tensor *src, const cg__layout *sl,
                                cg_tensor *dst, const cg__layout *dl, bool accumulate,
                                const char *what);
/* Shape helpers. */
bool cg__shape_equal(cg_shape a, cg_shape b);
void cg__shape_format(cg_shape s, char *buf, size_t cap);
size_t cg__shape_numel(cg_shape s);

/* ---- graph (graph.c) --------------------------------------------------- */

/* Appends a node computing `kind` into out from a, b, c (each referenced;
 * NULL for none); the caller fills its parameters. NULL (error on ctx) when
 * out of memory. The pointer is valid until the next node is appended. */
cg__node *cg__emit(cg_context *ctx, cg__op kind, const char *what, cg_tensor *out, cg_tensor *a,
                   cg_tensor *b, cg_tensor *c);
/* Makes node a step autograd walks (rule) when its output requires grad. */
void cg__differentiable(cg_context *ctx, cg__node *node, cg__backward_fn rule);
/* The op's end: runs what is pending in eager mode. */
cg_status cg__submit(cg_context *ctx);
/* Runs every pending node, in order. */
cg_status cg__realize(cg_context *ctx);
/* Drops every node (cg_tape_reset): pending ones are not run. */
void cg__graph_release_nodes(cg_context *ctx);

/* ---- tape (tape.c) ----------------------------------------------------- */

/* Checks an op's tensor arguments: non-NULL, one context, no error yet.
 * Returns that context or NULL (error recorded where one can be). */
cg_context *cg__op_context(const char *what, cg_tensor *const *ts, size_t n);
/* The op's output: tape-owned, requires grad when an input does and
 * recording is on. */
cg_tensor *cg__op_output(cg_context *ctx, cg_shape shape, cg_tensor *const *inputs, size_t n,
                         const char *what);
/* A differentiable node for an output the nodes recorded before it compute
 * (concat's block copies): appended only when out requires grad, NULL
 * otherwise. Its rule records nodes like any other. */
cg__node *cg__record(cg_context *ctx, cg_tensor *out, cg__backward_fn backward, cg_tensor *a,
                     cg_tensor *b);
/* The gradient buffer of t, zero-filled on first use; NULL when t does not
 * require grad. */
cg_tensor *cg__grad(cg_tensor *t);
void cg__tape_release(cg_context *ctx);
/* Gives the tape the caller's reference to t (released by cg_tape_reset);
 * false when out of memory (nothing changed). */
bool cg__tape_own(cg_context *ctx, cg_tensor *t);

/* ---- kernel families shared by ops (elementwise.c, reduce.c, shape.c) --- */

/* Broadcasting: the output's shape and each operand read through its
 * strides (0 where broadcast) and offset, padded on the left to
 * CG_MAX_DIMS dimensions (elementwise.c). */
typedef struct cg__bcast {
    cg_shape out;
    cl_uint dims[CG_MAX_DIMS], sa[CG_MAX_DIMS], sb[CG_MAX_DIMS];
    cl_uint adims[CG_MAX_DIMS], bdims[CG_MAX_DIMS]; /* the operands' own extents, padded */
    cl_uint oa, ob;                                 /* the operands' offsets */
    cl_int la, lb; /* CG_LAYOUT_* of elementwise.cl: 0 general, 1 same, 2 scalar */
    int rank;      /* dimensions left after merging (dims, sa, sb right-aligned) */
} cg__bcast;
/* False (error on ctx, naming what) when a and b do not broadcast. */
bool cg__broadcast(cg_context *ctx, const char *what, const cg_tensor *a, const cg_tensor *b,
                   cg__bcast *r);
/* Nodes run at once (for callers outside the graph's ops). */
cg_status cg__unary_into(cg_context *ctx, int op, const cg_tensor *x, cg_tensor *y, float s);
/* dst (+)= src block copy (see shape.cl). */
cg_status cg__block_copy(cg_context *ctx, const cg_tensor *src, size_t src_off, size_t src_stride,
                         cg_tensor *dst, size_t dst_off, size_t dst_stride, size_t outer,
                         size_t len, bool accumulate);
/* dst += src, same element count. */
cg_status cg__accumulate(cg_context *ctx, const cg_tensor *src, cg_tensor *dst);

/* ---- reductions, clipping, embedding ---- */

/* Nodes run at once (reduce.c; for callers outside the graph's ops: the
 * tests and benchmarks time and check each reduction alone). */
/* dst (+)= scale * sum of src (all elements) at dst element `off`. */
cg_status cg__sum_all_into(cg_context *ctx, const cg_tensor *src, cg_tensor *dst, size_t off,
                           float scale, bool accumulate);
/* dst += src summed over the dimensions where dst, right-aligned against
 * src, has extent 1 or none (a broadcast operand's gradient); both plain. */
cg_status cg__sum_to(cg_context *ctx, const cg_tensor *src, cg_tensor *dst);
/* dst[off] = the 2-norm of x, without overflow or underflow. */
cg_status cg__norm2_into(cg_context *ctx, const cg_tensor *x, cg_tensor *dst, size_t off,
                         const char *what);
/* *out = over a[0..n) (and b): kind 0 dot(a, b), 1 sum |a|, 2 max |a|; NaN
 * on error (L-BFGS's scalars): the backend's vreduce. */
cg_status cg__vreduce(cg_context *ctx, const cg_tensor *a, const cg_tensor *b, size_t n,
                      int kind, float *out);
/* A run of adjacent dimensions of one kind, kept or reduced (sum_to). */
typedef struct cg__sum_run {
    size_t extent;
    bool reduced;
} cg__sum_run;
/* src's dimensions as alternating runs (extent-1 dimensions dropped,
 * neighbours of one kind merged), dst right-aligned against src; -1 (error
 * on ctx) when dst is not src's shape with some dimensions 1 or missing. */
int cg__sum_runs(cg_context *ctx, cg_shape src, cg_shape dst, cg__sum_run runs[CG_MAX_DIMS]);
/* The backends' side (backend/cl_reduce.c, backend/ref_reduce.c): exec of
 * the family's nodes (REDUCE, SUM_TO, EXPAND_ADD, NORM2, CLIP_TOTAL,
 * SCALE_BY, CLAMP, EMBEDDING_GRAD) and the tables' vreduce. */
cg_status cg__cl_reduce_exec(cg_context *ctx, cg__node *node);
cg_status cg__ref_reduce_exec(cg_context *ctx, cg__node *node);
cg_status cg__cl_vreduce(cg_context *ctx, const cg_tensor *a, const cg_tensor *b, size_t n,
                         int kind, float *out);
cg_status cg__ref_vreduce(cg_context *ctx, const cg_tensor *a, const cg_tensor *b, size_t n,
                          int kind, float *out);
/* Splits n elements into at most `want` chunks, each a multiple of 256 long
 * (the partial sums of every reduction, cl_reduce.c): returns the count,
 * sets *chunk. A fixed split per device keeps results bit-identical run to
 * run. */
cl_uint cg__chunks(size_t n, size_t want, cl_uint *chunk);
/* How a full sum of n elements splits on this context: the eager kernels'
 * choice, which the generated kernels that fuse sums follow (cl_fuse.c).
 * CPU shapes: `parts` work-items (group 1) over `chunk` elements each, the
 * partials added in order by one more. GPU shapes: `parts` work-groups of
 * `group` items over `chunk`-element slices, `lanes` items on each (a tree
 * over them); with several parts, one more group adds the partials in a
 * tree over `finish_lanes` items. False (error on ctx) when the eager
 * kernel, whose limits decide, cannot be had. */
typedef struct cg__sum_split {
    size_t parts, chunk, group, lanes, finish_lanes;
} cg__sum_split;
bool cg__sum_split_of(cg_context *ctx, size_t n, cg__sum_split *s);
/* ---- optimizers ---- */

/* cg__backend's optim of each backend (backend/cl_optim.c, backend/ref_optim.c). */
extern const struct cg__optim_backend cg__optim_opencl;
extern const struct cg__optim_backend cg__optim_ref;

/* ---- fusion (fuse.c plans; the backends' exec_group runs) ---- */

/* A group: consecutive nodes of the graph that each compute some number of
 * elements, element i from element i of their inputs (or from one element
 * for all), run as one kernel that keeps each element in a register from
 * the op that makes it to the ops that use it; and, in a group with sums,
 * full sums of n elements that add element i as it is made, several in one
 * pass, with the small steps after them (fuse.c has the rules). An output
 * is written unless nothing outside the group can read it. */
#define CG__FUSE_MAX_STEPS 32
#define CG__FUSE_MAX_BUFFERS 24
/* The bytes of a kernel's arguments OpenCL 1.2 promises on every device
 * (CL_DEVICE_MAX_PARAMETER_SIZE): a group's estimate stays within. */
#define CG__FUSE_ARG_BYTES 1024
/* Steps of different sizes share a group only up to this many elements. */
#define CG__FUSE_MIXED_MAX 4096
/* Sums in one group, and the most elements a step after them computes (one
 * work-item runs those). */
#define CG__FUSE_MAX_SUMS 8
#define CG__FUSE_AFTER_MAX 256
typedef enum cg__fuse_phase {
    CG__FUSE_EACH = 0, /* element i of its n, by the work-item that has i */
    CG__FUSE_SUM,      /* adds element i of its input into a full sum; the sum is
                          written once every element is in (REDUCE, SUM_TO to one) */
    CG__FUSE_AFTER     /* after the sums, in the nodes' order, by one work-item */
} cg__fuse_phase;
typedef struct cg__fuse_operand {
    signed char buffer;   /* the group's buffer; -1: none */
    bool scalar;          /* the element at offset for every i; else element i */
    unsigned offset;
    unsigned period;      /* > 0: element i % period (a row repeated over the
                             leading dimensions: a bias); else as above */
    unsigned char fill;   /* > 0: a one-element read of a buffer the group's
                             step fill - 1 filled: that step's value, no load */
} cg__fuse_operand;
typedef struct cg__fuse_step {
    cg__node *node;
    cg__fuse_operand in[3];
    signed char out;      /* the buffer written (element i) */
    size_t n;             /* elements it computes: i < n (a sum: it adds) */
    cg__fuse_phase phase;
} cg__fuse_step;
struct cg__fuse_group {
    size_t span;          /* nodes from the first that the group covers */
    size_t steps;         /* of those, the ones that compute (the rest are views) */
    size_t n;             /* the most elements a step computes (the launch's); with
                             sums, what each sum adds and every EACH step computes */
    bool mixed;           /* its steps are not all of one size */
    size_t sums;          /* steps that are sums (then the launch follows their split) */
    size_t arg_bytes;     /* its steps' arguments (fuse.c's estimate) */
    cg__fuse_step step[CG__FUSE_MAX_STEPS];
    cg__storage *buffer[CG__FUSE_MAX_BUFFERS];
    int nbuffers;
    bool written[CG__FUSE_MAX_BUFFERS];     /* some step writes it */
    bool read_scalar[CG__FUSE_MAX_BUFFERS]; /* some step reads one element of it for all */
    size_t bsize[CG__FUSE_MAX_BUFFERS];     /* elements its element-i accesses cover (0: none) */
    bool after_write[CG__FUSE_MAX_BUFFERS]; /* written after the sums */
    bool after_read[CG__FUSE_MAX_BUFFERS];  /* read after the sums */
    bool dead[CG__FUSE_MAX_BUFFERS];        /* its element-i writes are not stored */
    signed char filled_by[CG__FUSE_MAX_BUFFERS]; /* the FILL step that last wrote it, or -1 */
    /* Its final value is read by nothing: not stored (a replay knows what
     * reads it, capture.c; the planner leaves it false). */
    bool skip_store[CG__FUSE_MAX_BUFFERS];
};
/* The group that starts at nodes[0] (avail nodes pending from there), or
 * false when fewer than two nodes would be in it. */
bool cg__fuse_plan(cg_context *ctx, cg__node *nodes, size_t avail, cg__fuse_group *group);
cg_status cg__cl_exec_group(cg_context *ctx, const cg__fuse_group *group);
void cg__cl_fuse_release(cg_context *ctx);

/* Which inputs a gradient formula reads (formulas.clh, through
 * ref/ops_ref.c): bit 0 the first (x; a), bit 1 the second (y; b). */
int cg__unary_grad_reads(int op);
int cg__binary_grad_reads(int op, int which);

/* ---- capture and replay (capture.c) ------------------------------------ */

/* Calls recorded as themselves, replayed by running them again: between
 * begin and end, the device work they ask for is theirs. begin: false on
 * error. Without an open capture both do nothing. */
enum { CG__CAPTURE_STEP, CG__CAPTURE_ZERO_GRAD };
bool cg__capture_call_begin(cg_context *ctx, int call, cg_optimizer *opt, const char *what);
void cg__capture_call_end(cg_context *ctx);
/* The open capture's record is incomplete: cg_capture_end refuses it. */
void cg__capture_failed(cg_context *ctx);
/* The context's own backend, also while a capture records. */
const cg__backend *cg__backend_of(const cg_context *ctx);
/* The host reads the captured step made (a replay does not repeat them). */
unsigned long cg__capture_reads(const cg_capture *c);
/* Why `to` cannot replace `from` in the capture; NULL when it can. */
const char *cg__capture_rebind_problem(const cg_capture *c, const cg_tensor *from,
                                       const cg_tensor *to);

/* What the loop planner reads of a record (capture_loop.c): item i, in
 * order. A fused group is its nodes in order (the grouping is the
 * backend's business, not the loop's). */
enum { CG__ITEM_NODES, CG__ITEM_FILL, CG__ITEM_WRITE, CG__ITEM_STEP, CG__ITEM_ZERO_GRAD };
typedef struct cg__capture_item {
    int kind;
    const cg__node *nodes;   /* NODES: nnodes of them */
    size_t nnodes;
    cg__storage *storage;    /* FILL, WRITE: bytes at offset */
    size_t offset, bytes;
    float value;             /* FILL */
    cg_optimizer *opt;       /* STEP, ZERO_GRAD */
} cg__capture_item;
size_t cg__capture_size(const cg_capture *c);
cg__capture_item cg__capture_item_at(const cg_capture *c, size_t i);
cg_context *cg__capture_context(const cg_capture *c);
/* The capture's loop plan (capture_loop.c owns it; dropped by a rebind and
 * by cg_capture_free), and the replays a loop ran. */
struct cg__loop **cg__capture_loop_slot(cg_capture *c);
void cg__capture_add_replays(cg_capture *c, unsigned long long n);

/* ---- whole loops (capture_loop.c plans; the backend's loop entries run) -- */

/* A replay of n steps as one program that loops on the device: the record's
 * commands over "slabs", each a storage (or an optimizer arena's slot) of a
 * few floats that the loop keeps to itself while it runs. Addresses are
 * (slab, element); every size is known when the plan is made. */
#define CG__LOOP_MAX_SLAB 4096     /* elements of one slab */
#define CG__LOOP_MAX_FLOATS 16384  /* of all slabs together */
typedef struct cg__loop_slab {
    cl_mem mem;        /* device contexts */
    float *host;       /* the reference path */
    size_t size;       /* elements */
    bool written;
    const void *key;   /* the storage, or the arena's group */
    int slot;          /* -1: a storage; else the arena slot */
} cg__loop_slab;
typedef struct cg__loop_at {
    int slab;
    size_t at;         /* element in the slab */
} cg__loop_at;
typedef enum cg__loop_kind {
    CG__LOOP_FILL,        /* out[i] = scalar, i < n */
    CG__LOOP_UNARY,       /* out[i] = cg_unary_f(op, in0[i], scalar) */
    CG__LOOP_UNARY_GRAD,  /* out[i] += cg_unary_grad(op, in0[i], in1[i], in2[i], scalar) */
    CG__LOOP_BINARY,      /* out[i] = cg_binary_f(op, A, B), A = in0[i] or in0[0] (one[0]) */
    CG__LOOP_BINARY_GRAD, /* d = cg_binary_grad_f(op, which, A, B, in2[i]); out[i] (+)= d */
    CG__LOOP_AXPY,        /* out[i] += scalar * in0[i] */
    CG__LOOP_EXPAND_ADD,  /* out[o, l, i] += scalar * in0[o, i] over [outer, len, inner] */
    CG__LOOP_SUM_ALL,     /* out[0] (+)= scalar * the sum of in0[0..n), as the eager full sum */
    CG__LOOP_SUM_AXIS,    /* out[o, i] = scalar * sum_l in0[o, l, i], as the eager axis sum */
    CG__LOOP_BLOCK_COPY,  /* out[o*dstride + k] (+)= in0[o*sstride + k], o < outer, k < len */
    CG__LOOP_STEP,        /* the optimizer rule over n elements of slabs p, g, s[3] with the
                             iteration's scalars: row `row` of its table */
} cg__loop_kind;
typedef struct cg__loop_cmd {
    cg__loop_kind kind;
    int op, which;
    bool acc;
    bool one[2];          /* BINARY*: operand j is one element for all */
    float scalar;
    size_t n, outer, len, inner, sstride, dstride;
    cg__loop_at out, in[3];
    int rule, used, row;  /* STEP: CG_OPT_* id, state slots used, table row */
    int p, g, s[3];       /* STEP: slabs (-1: a slot the rule does not use) */
} cg__loop_cmd;
struct cg__loop {
    cg__loop_slab *slab;
    int nslabs;
    cg__loop_cmd *cmd;
    size_t ncmds;
    int rows;             /* STEP rows per iteration: (CG_H_COUNT + 1) floats each */
    cg__loop_at watch;    /* read after every iteration */
    const cg_tensor *watch_tensor;
    /* Each row's optimizer and group, for the table (capture_loop.c). */
    cg_optimizer **row_opt;
    size_t *row_group;
    /* The backend's: the program found for this plan (backend/cl_loop.c
     * keeps it in its cache under id, which a later call checks). */
    void *program;
    unsigned long long program_id;
};
/* Floats per row of the step table: the rule's scalars h, then the flags
 * (an int's bits). */
#define CG__LOOP_ROW (24 + 1)
void cg__loop_free(struct cg__loop *loop);
/* Why the capture does not run as one loop here watching `watch` (NULL:
 * it does; the plan is made and kept). For tests. */
const char *cg__capture_loop_problem(cg_capture *c, const cg_tensor *watch);
/* False when CLGRAD_LOOP=0: n replays are always replays. */
bool cg__loop_enabled(void);
void cg__cl_loop_release(cg_context *ctx);
bool cg__cl_loop_fits(cg_context *ctx, const cg__loop *loop);
cg_status cg__cl_loop_run(cg_context *ctx, cg__loop *loop, long n, const float *table,
                          size_t table_stride, float *values, long *done);

/* ---- misc -------------------------------------------------------------- */

double cg__now_seconds(void);
int cg__strcasestr_index(const char *haystack, const char *needle);

#endif /* CG_INTERNAL_H */
