/* clgrad: gradient descent on OpenCL devices, with a scalar CPU reference.
 *
 * The only public header. Handles are opaque; names carry the cg_ prefix.
 *
 * Errors follow cairo: a context keeps the first error that happened on it,
 * with a message naming the call and the cause. Later calls on a context in
 * error do nothing and return that status (or NULL), so a chain of calls can
 * be checked once at the end with cg_status_of() / cg_error_message().
 * No function prints, exits or aborts on bad input.
 *
 * NULL: a NULL pointer argument is CG_ERROR_NULL_POINTER, set on the context
 * when another argument leads to one, and otherwise only returned: as that
 * status, or as NULL, NaN, 0 or -1 from functions that return those. The
 * exceptions are written at each function: where NULL is allowed, what it
 * means. Every *_free accepts NULL. tests/test_api.c holds the case of every
 * exported function.
 *
 * Out-parameters (structs and handles a function fills) are set to an empty
 * value (zeros and NULL pointers, which the matching *_free accepts) before
 * anything can fail, whatever the status, a context already in error
 * included.
 *
 * Names: cg_ and lower case for functions and types, CG_ for constants and
 * macros. A function of one kind of object (or of one family, cg_plot_*)
 * names it, then what it does or gives: cg_tensor_read, cg_optimizer_create,
 * cg_tensor_shape. A query is named for what it gives, never get_; a change
 * is set_<what>; a yes-or-no reads as a question (cg_context_is_ref,
 * cg_requires_grad). create makes an object, init fills one the caller holds
 * (cg_linear_init), free releases either. Ops and autograd are named after
 * PyTorch's (cg_add, cg_mse_loss, cg_backward, cg_grad, cg_zero_grad,
 * cg_step); an op that writes into its first operand instead of returning a
 * tensor ends in _ (cg_add_scaled_, PyTorch's add_). The context's everyday
 * calls are short: cg_error_message, cg_clear_error, cg_finish. Where the
 * name these give is already a type or another function, the query or action
 * on one object adds _of, and only then: cg_status_of(ctx) (cg_status is the
 * type), cg_context_stats_of(ctx) (so is cg_context_stats), cg_zero_grad_of(t)
 * (cg_zero_grad(opt) zeroes an optimizer's parameters). cg_X_defaults() gives
 * cg_X_options' defaults; cg_status_string and cg_device_type_string give a
 * value's text to show, cg_optim_name the word the CLI takes; _ex is the
 * general form of a call (cg_backward_ex).
 */
#ifndef CLGRAD_H
#define CLGRAD_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CG_VERSION_MAJOR 0
#define CG_VERSION_MINOR 1
#define CG_VERSION_PATCH 0
#define CG_VERSION_STRING "0.1.0"

/* ---- status ------------------------------------------------------------ */

/* Values are only ever appended; never renumbered. */
typedef enum cg_status {
    CG_OK = 0,                    /* success */
    CG_ERROR_NO_MEMORY = 1,       /* host or device allocation failed */
    CG_ERROR_INVALID_ARGUMENT = 2,/* a value outside its domain (lr <= 0, ...) */
    CG_ERROR_NULL_POINTER = 3,    /* a required pointer argument was NULL */
    CG_ERROR_SHAPE_MISMATCH = 4,  /* tensor shapes do not fit the operation */
    CG_ERROR_NO_DEVICE = 5,       /* the device spec matched no device */
    CG_ERROR_OPENCL = 6,          /* an OpenCL call failed (its code is named) */
    CG_ERROR_BUILD_FAILED = 7,    /* a kernel program failed to compile */
    CG_ERROR_IO = 8,              /* a file could not be read or written */
    CG_ERROR_PARSE = 9,           /* a file's contents are malformed */
    CG_ERROR_INVALID_DATA = 10,   /* data holds NaN/inf or is degenerate */
    CG_ERROR_UNSUPPORTED = 11,    /* valid request this build/device can't do */
    CG_ERROR_CONTEXT_MISMATCH = 12/* objects from two different contexts */
} cg_status;

/* A static English description of a status ("invalid argument"). */
const char *cg_status_string(cg_status status);

/* ---- devices ----------------------------------------------------------- */

typedef enum cg_device_type {
    CG_DEVICE_REF = 0,   /* the scalar reference path on the host */
    CG_DEVICE_CPU = 1,
    CG_DEVICE_GPU = 2,
    CG_DEVICE_ACCELERATOR = 3,
    CG_DEVICE_OTHER = 4
} cg_device_type;

typedef struct cg_device_info {
    int platform_index;          /* P of "P:D" */
    int device_index;            /* D of "P:D" */
    char spec[32];               /* the value to pass to CLGRAD_DEVICE, "P:D" */
    char name[128];
    char platform[128];
    char vendor[128];
    char version[128];           /* CL_DEVICE_VERSION */
    char driver_version[64];
    char opencl_c_version[64];
    cg_device_type type;
    unsigned compute_units;
    unsigned long long global_mem_bytes;
    size_t max_work_group_size;
} cg_device_info;

/* Lists every OpenCL device of every platform. On success *out is a malloc'd
 * array the caller frees with cg_device_list_free. No OpenCL platform is not
 * an error: *count is 0. Both are set (NULL, 0) first. */
cg_status cg_device_list(cg_device_info **out, size_t *count);
void cg_device_list_free(cg_device_info *list);
const char *cg_device_type_string(cg_device_type type);

/* ---- context ----------------------------------------------------------- */

typedef struct cg_context cg_context;

/* Creates a context on the device that `spec` names: "P:D" indices, a
 * case-insensitive substring of the device name, or "ref". NULL means the
 * CLGRAD_DEVICE environment variable, else the first GPU, else the first
 * OpenCL device, else the reference path (with a notice through the log
 * callback). Returns NULL only when out of host memory; otherwise check
 * cg_status_of(): a spec that matches nothing leaves the context in error,
 * with a message listing the devices that exist. */
cg_context *cg_context_create(const char *spec);
void cg_context_free(cg_context *ctx);

/* The context's first error, CG_OK while there is none; a NULL ctx gives
 * CG_ERROR_NULL_POINTER. (_of: cg_status names the type.) */
cg_status cg_status_of(const cg_context *ctx);
/* The first error's message, "" when CG_OK. Valid until ctx is freed.
 * A NULL ctx gives a static "NULL context". */
const char *cg_error_message(const cg_context *ctx);
/* Clears the sticky error so the context can be used again. */
void cg_clear_error(cg_context *ctx);

/* What the context runs on. */
const cg_device_info *cg_context_device(const cg_context *ctx);
bool cg_context_is_ref(const cg_context *ctx);

/* Messages the library would otherwise have nowhere to put (the notice that
 * no OpenCL device exists). Default, and fn NULL: none shown. user is passed
 * to fn as it is. */
typedef void (*cg_log_fn)(void *user, const char *message);
void cg_set_log_callback(cg_log_fn fn, void *user);

/* Counters, for seeing what a run costs. */
typedef struct cg_context_stats {
    unsigned long long kernel_launches;
    unsigned long long programs_compiled;    /* built from source by the driver */
    unsigned long long programs_from_cache;  /* loaded from the binary cache */
    unsigned long long bytes_allocated;      /* device bytes currently held by tensors */
    unsigned long long bytes_pooled;         /* device bytes idle in the pool */
    unsigned long long tape_nodes;           /* nodes on the tape now that backward may walk */
    unsigned long long tape_tensors;         /* tensors the tape owns now */
    unsigned long long pool_limit_bytes;     /* the most the pool keeps idle */
    unsigned long long pool_evictions;       /* idle buffers released to keep the bound */
    unsigned long long graph_nodes;          /* graph nodes recorded since the context was made */
    unsigned long long fused_groups;         /* element-wise chains run as one kernel */
    unsigned long long fused_nodes;          /* the nodes in them */
} cg_context_stats;
cg_context_stats cg_context_stats_of(const cg_context *ctx);

/* The shapes kernels are launched in. GPU shapes (coalesced strided loops,
 * local-memory reduction trees, one work-group per single-launch fit) suit
 * GPUs; CPU shapes (a contiguous chunk per work-item, wide vector loads) suit
 * CPU devices such as PoCL. AUTO follows the device type. Both compute the
 * same results to float32 rounding; either runs on any OpenCL device, which
 * is how the GPU shapes are tested on PoCL. */
typedef enum cg_kernel_shape {
    CG_KERNEL_SHAPE_AUTO = 0,
    CG_KERNEL_SHAPE_CPU = 1,
    CG_KERNEL_SHAPE_GPU = 2
} cg_kernel_shape;
/* Default: the CLGRAD_KERNEL_SHAPE environment variable (auto|cpu|gpu),
 * else AUTO; a value it does not know leaves the new context in error. No
 * effect on the reference path. */
cg_status cg_context_set_kernel_shape(cg_context *ctx, cg_kernel_shape shape);
/* The shapes in use: CG_KERNEL_SHAPE_CPU or CG_KERNEL_SHAPE_GPU (CPU on ref
 * and for a NULL context). */
cg_kernel_shape cg_context_kernel_shape(const cg_context *ctx);

/* Freed tensors' buffers are kept for reuse by size class, up to a bound:
 * CLGRAD_POOL_LIMIT (bytes, with an optional k/M/G suffix, or a percentage
 * of device memory such as "10%"), else a quarter of the device's memory
 * (of physical memory on the reference path). Past it, the oldest idle
 * buffers are released; 0 keeps none. A failed allocation releases every
 * idle buffer and is tried once more. */
cg_status cg_context_set_pool_limit(cg_context *ctx, size_t bytes);

/* Ops record nodes of a graph; the device runs them when a result is
 * needed: cg_tensor_read, cg_item, cg_backward, cg_step and the other calls
 * that read or change tensors, cg_finish, or cg_realize. An error the device
 * reports while running them (out of memory, a driver failure) names the op
 * that recorded the failing node and is returned by the call that ran it;
 * argument and shape errors are returned by the op itself.
 * Runs every recorded node not run yet. */
cg_status cg_realize(cg_context *ctx);
/* Eager mode runs each op as it is called (for debugging: the same results
 * bit for bit). Default: deferred, unless the CLGRAD_EAGER environment
 * variable is 1 (0 or unset: deferred; anything else leaves a new context in
 * error). */
cg_status cg_context_set_eager(cg_context *ctx, bool eager);
bool cg_context_eager(const cg_context *ctx);
/* Fusion: when the graph is realized, a chain of element-wise nodes
 * (unary and binary ops whose operands are the output's shape, one element
 * or a row repeated over the leading dimensions, their gradients,
 * accumulations), ending in full sums where there are some, runs as one
 * generated kernel, each intermediate element kept in a register between
 * the ops. Every result anything can still read is written, and the same
 * bit for bit as unfused. On by default (CLGRAD_FUSE=0 turns it off); eager
 * mode never fuses. */
cg_status cg_context_set_fusion(cg_context *ctx, bool fuse);
bool cg_context_fusion(const cg_context *ctx);

/* Runs what is recorded and waits for every queued command to finish. */
cg_status cg_finish(cg_context *ctx);

/* ---- tensors ----------------------------------------------------------- */

#define CG_MAX_DIMS 8

typedef struct cg_shape {
    int ndim;
    size_t dims[CG_MAX_DIMS];
} cg_shape;

/* CG_SHAPE(11) or CG_SHAPE(11, 2): a shape value with 1 to CG_MAX_DIMS
 * sizes, in C and in C++. In C it is a compound literal; C++ has none, so
 * there (C++11 or later) it calls cg_shape_make(11, 2), a function template
 * C++ code may also call by name. A shape whose rank is known only at run
 * time is filled field by field in either language. */
#ifndef __cplusplus
#define CG_SHAPE(...)                                                        \
    ((cg_shape){(int)(sizeof((size_t[]){__VA_ARGS__}) / sizeof(size_t)),     \
                {__VA_ARGS__}})
#else
extern "C++" {
template <typename... Sizes>
inline constexpr cg_shape cg_shape_make(Sizes... sizes)
{
    static_assert(sizeof...(Sizes) >= 1 && sizeof...(Sizes) <= CG_MAX_DIMS,
                  "a cg_shape has 1 to CG_MAX_DIMS sizes");
    return cg_shape{static_cast<int>(sizeof...(Sizes)), {static_cast<size_t>(sizes)...}};
}
}
#define CG_SHAPE(...) cg_shape_make(__VA_ARGS__)
#endif

typedef struct cg_tensor cg_tensor;

/* float32, row-major; a tensor is a view (shape, strides, offset) of a
 * storage, a buffer on the device that views share. The constructors make
 * contiguous tensors with storage of their own; the caller owns them and
 * frees them with cg_tensor_free. A tensor larger than the device can
 * allocate at once (CL_DEVICE_MAX_MEM_ALLOC_SIZE; on ref, the host's memory)
 * is CG_ERROR_NO_MEMORY. */
cg_tensor *cg_tensor_from(cg_context *ctx, const float *data, cg_shape shape);
cg_tensor *cg_tensor_zeros(cg_context *ctx, cg_shape shape);
cg_tensor *cg_tensor_full(cg_context *ctx, cg_shape shape, float value);
/* Copies the tensor's elements in row-major order (all of them, count must
 * equal numel), whatever its strides. */
cg_status cg_tensor_read(const cg_tensor *t, float *dst, size_t count);
/* Overwrites the tensor's elements from host memory. Writing a view writes
 * its base's elements, as in PyTorch; an expanded view (one element seen
 * several times) is CG_ERROR_UNSUPPORTED. */
cg_status cg_tensor_write(cg_tensor *t, const float *src, size_t count);
/* Releases your reference to a tensor you made (a constructor, cg_detach,
 * cg_rand_uniform); t is gone for you. Its memory returns when the last
 * reference goes: a node of the tape that reads t holds one until
 * cg_tape_reset(), so freeing an op's input before cg_backward() is safe.
 * Tensors ops made belong to the tape (its reference goes at
 * cg_tape_reset()): this ignores them, as it does grads and other tensors
 * the library owns. */
void cg_tensor_free(cg_tensor *t);
/* Hands your reference to the tape: t lives until the next cg_tape_reset(),
 * then goes with the step's other tensors (a per-step constant needs no
 * bookkeeping). Ignored for tensors you do not own. */
void cg_tape_own(cg_tensor *t);
/* A [1] tensor holding value, owned by the tape (cg_tape_own): a per-step
 * constant. */
cg_tensor *cg_scalar(cg_context *ctx, float value);
/* Row-major and dense, starting at its storage's first element. */
bool cg_is_contiguous(const cg_tensor *t);
size_t cg_tensor_numel(const cg_tensor *t);
cg_shape cg_tensor_shape(const cg_tensor *t);
cg_context *cg_tensor_context(const cg_tensor *t);

/* ---- autograd ------------------------------------------------------------
 *
 * Ops on tensors return new tensors that belong to the context's tape:
 * cg_tape_reset() frees them all (cg_tensor_free ignores them), so a
 * training loop that resets once per iteration keeps its memory flat. When
 * an input requires grad (and no cg_no_grad_begin is open), the op records a
 * node; cg_backward() walks the nodes in reverse and adds each gradient
 * into the leaves' grad, accumulating across calls until zeroed.
 * A tensor of one element stands for a scalar (shape [1]).
 * Broadcasting follows NumPy: shapes align on the right, a dimension of 1
 * stretches. Shape rules are written beside each op.
 *
 * Each recorded node holds a reference to what it reads, so any tensor may
 * be freed at any moment (by you, or by the library for the tensors it owns,
 * such as cg_optimizer_average()'s): it stays alive for the nodes that read
 * it and goes at cg_tape_reset().
 */

cg_status cg_set_requires_grad(cg_tensor *t, bool requires_grad);
bool cg_requires_grad(const cg_tensor *t);
/* The accumulated gradient (same shape as t), NULL before any backward
 * reached t. Owned by t. */
cg_tensor *cg_grad(const cg_tensor *t);
/* t.grad.zero_() (no-op when t has no gradient yet). */
cg_status cg_zero_grad_of(cg_tensor *t);

/* Backward from a one-element tensor (seed 1). Frees the graph's saved state
 * unless retained: a second backward over the same tape fails until
 * cg_tape_reset(). */
cg_status cg_backward(cg_tensor *loss);
/* General form: seed has out's shape (NULL: out must have one element). */
cg_status cg_backward_ex(cg_tensor *out, const cg_tensor *seed, bool retain_graph);

void cg_no_grad_begin(cg_context *ctx);   /* with torch.no_grad(): */
void cg_no_grad_end(cg_context *ctx);
/* Frees every tensor ops made since the last reset, and the graph. Ops
 * recorded but never needed (nothing read their results) are not run. */
void cg_tape_reset(cg_context *ctx);
/* A copy owned by the caller, with no history and no grad. */
cg_tensor *cg_detach(const cg_tensor *t);
/* The value of a one-element tensor (NaN on error). */
float cg_item(const cg_tensor *t);
/* In place, not recorded: dst += alpha * src (same shapes). */
cg_status cg_add_scaled_(cg_tensor *dst, float alpha, const cg_tensor *src);

/* Element-wise, with broadcasting:        out shape = broadcast(a, b) */
cg_tensor *cg_add(cg_tensor *a, cg_tensor *b);
cg_tensor *cg_sub(cg_tensor *a, cg_tensor *b);
cg_tensor *cg_mul(cg_tensor *a, cg_tensor *b);
cg_tensor *cg_div(cg_tensor *a, cg_tensor *b);
/* With a scalar:                          out shape = x's */
cg_tensor *cg_neg(cg_tensor *x);
cg_tensor *cg_add_scalar(cg_tensor *x, float s);    /* x + s */
cg_tensor *cg_sub_scalar(cg_tensor *x, float s);    /* x - s */
cg_tensor *cg_rsub_scalar(cg_tensor *x, float s);   /* s - x */
cg_tensor *cg_mul_scalar(cg_tensor *x, float s);    /* x * s */
cg_tensor *cg_div_scalar(cg_tensor *x, float s);    /* x / s */
cg_tensor *cg_rdiv_scalar(cg_tensor *x, float s);   /* s / x */
cg_tensor *cg_pow_scalar(cg_tensor *x, float s);    /* x ^ s */
cg_tensor *cg_square(cg_tensor *x);
cg_tensor *cg_sqrt(cg_tensor *x);
cg_tensor *cg_exp(cg_tensor *x);
cg_tensor *cg_log(cg_tensor *x);
cg_tensor *cg_abs(cg_tensor *x);
cg_tensor *cg_relu(cg_tensor *x);
cg_tensor *cg_tanh(cg_tensor *x);
cg_tensor *cg_sigmoid(cg_tensor *x);

/* Reductions:                             [..] -> [1] */
cg_tensor *cg_sum(cg_tensor *x);
cg_tensor *cg_mean(cg_tensor *x);
/* Over one axis (negative counts from the end): [a,n,b] -> [a,b], or
 * [a,1,b] with keepdim; a 1-D input reduces to [1]. */
cg_tensor *cg_sum_axis(cg_tensor *x, int axis, bool keepdim);
cg_tensor *cg_mean_axis(cg_tensor *x, int axis, bool keepdim);

/* op(a) [M,K] @ op(b) [K,N] -> [M,N]; op transposes when asked. */
cg_tensor *cg_matmul(cg_tensor *a, cg_tensor *b, bool transpose_a, bool transpose_b);

/* Views: the output shares x's storage (no copy, nothing allocated); the
 * gradient flows back into x. Kernels read views through their strides, or
 * get a contiguous copy where they need one. A dimension argument may be
 * negative (counts from the end).
 * Same elements, new shape:               numel(shape) = numel(x)
 * (a view of contiguous data; other data is copied first, as torch.reshape) */
cg_tensor *cg_reshape(cg_tensor *x, cg_shape shape);
/* x[i] along the first axis:              [n,...] -> [...]; [n] -> [1] */
cg_tensor *cg_at(cg_tensor *x, size_t i);
/* x[start:stop] along the first axis:     [n,...] -> [stop-start,...] */
cg_tensor *cg_slice(cg_tensor *x, size_t start, size_t stop);
/* torch.select: x[..., index, ...] at dim, which goes ([n] -> [1]). */
cg_tensor *cg_select(cg_tensor *x, int dim, size_t index);
/* torch.narrow: length elements from start along dim. */
cg_tensor *cg_narrow(cg_tensor *x, int dim, size_t start, size_t length);
/* Two dimensions swapped (torch.transpose). */
cg_tensor *cg_transpose(cg_tensor *x, int dim0, int dim1);
/* Dimensions reordered: output dim i is x's dims[i]; ndims = x's. */
cg_tensor *cg_permute(cg_tensor *x, const int *dims, size_t ndims);
/* Broadcast to shape without copying (torch.expand): dimensions of extent 1
 * and new leading ones repeat. Its gradient sums the repeats. */
cg_tensor *cg_expand(cg_tensor *x, cg_shape shape);
/* A contiguous copy (always a copy; recorded). */
cg_tensor *cg_contiguous(cg_tensor *x);
/* Joined along `axis`; other dimensions equal. count 0 or xs NULL reach no
 * context: NULL, with no error anywhere (nothing to join). */
cg_tensor *cg_concat(cg_tensor *const *xs, size_t count, int axis);
/* torch.nn.Embedding's lookup:            weight [num, dim] -> [count, dim]
 * Backward adds each row's gradient, repeated indices summed in order of
 * appearance: into weight's dense grad, or, after cg_set_sparse_grad, into a
 * row-sparse gradient (the rows touched and their values) for SparseAdam. */
cg_tensor *cg_embedding(cg_tensor *weight, const unsigned *indices, size_t count);
cg_status cg_set_sparse_grad(cg_tensor *weight, bool sparse);
/* The row-sparse gradient: its rows (sorted; returns how many, fills up to
 * cap; rows NULL with cap 0 asks only how many) and values [rows, dim]
 * (owned by t; NULL when there is none). */
size_t cg_sparse_grad_rows(const cg_tensor *t, unsigned *rows, size_t cap);
const cg_tensor *cg_sparse_grad_values(const cg_tensor *t);
/* Rows of x by index (a minibatch):       [n,...] -> [count,...]
 * Not differentiable yet: x must not require grad. */
cg_tensor *cg_index_rows(cg_tensor *x, const unsigned *rows, size_t count);

typedef enum cg_reduction {
    CG_REDUCTION_MEAN = 0,
    CG_REDUCTION_SUM = 1,
    CG_REDUCTION_NONE = 2
} cg_reduction;

/* Losses of prediction p against target y of the same shape: [1] for mean
 * and sum, p's shape for none. Shapes that differ are CG_ERROR_SHAPE_MISMATCH
 * naming both: PyTorch broadcasts a [n,1] prediction against a [n] target
 * into [n,n] (with a warning), a loss over every pair that trains nothing
 * useful. Reshape one operand to the other's shape; broadcast explicitly
 * (cg_add with zeros) if every pair is really meant. */
cg_tensor *cg_mse_loss(cg_tensor *p, cg_tensor *y, cg_reduction reduction);
cg_tensor *cg_l1_loss(cg_tensor *p, cg_tensor *y, cg_reduction reduction);
cg_tensor *cg_huber_loss(cg_tensor *p, cg_tensor *y, float delta, cg_reduction reduction);

/* ---- random numbers ------------------------------------------------------
 * Counter-based: element i of a draw is a function of (seed, offset + i)
 * alone, so a seed gives the same numbers on every device and on ref.
 * U(lo, hi) as torch's uniform_: lo <= hi, both and hi - lo finite, else
 * CG_ERROR_INVALID_ARGUMENT. */
cg_tensor *cg_rand_uniform(cg_context *ctx, cg_shape shape, float lo, float hi,
                           unsigned long long seed, unsigned long long offset);

/* ---- layers --------------------------------------------------------------- */

typedef enum cg_activation {
    CG_ACT_NONE = 0,
    CG_ACT_TANH = 1,
    CG_ACT_RELU = 2,
    CG_ACT_SIGMOID = 3
} cg_activation;

/* y = x W^T + b, W [out, in], b [out], as torch.nn.Linear, initialised
 * U(-1/sqrt(in), 1/sqrt(in)) (kaiming_uniform with a = sqrt(5)). */
typedef struct cg_linear {
    cg_tensor *weight;
    cg_tensor *bias;
    size_t in, out;
} cg_linear;

/* Creates the layer's tensors (requires_grad) from (seed, stream): distinct
 * streams give independent draws under one seed. *layer is zeroed first, so
 * cg_linear_free(layer) is safe whatever the status. */
cg_status cg_linear_init(cg_context *ctx, cg_linear *layer, size_t in, size_t out,
                         unsigned long long seed, unsigned long long stream);
/* x [batch, in] -> [batch, out] */
cg_tensor *cg_linear_forward(const cg_linear *layer, cg_tensor *x);
void cg_linear_free(cg_linear *layer);

/* A stack of linear layers with an activation between them (none after
 * the last). sizes: in, hidden..., out. */
typedef struct cg_mlp cg_mlp;
cg_mlp *cg_mlp_create(cg_context *ctx, const size_t *sizes, size_t nsizes,
                      cg_activation activation, unsigned long long seed);
void cg_mlp_free(cg_mlp *mlp);
/* x [batch, in] -> [batch, out] */
cg_tensor *cg_mlp_forward(cg_mlp *mlp, cg_tensor *x);
/* The parameter tensors, weight then bias per layer (owned by the MLP):
 * fills up to cap, returns how many there are; out NULL with cap 0 asks only
 * how many. */
size_t cg_mlp_parameters(const cg_mlp *mlp, cg_tensor **out, size_t cap);
size_t cg_mlp_parameter_count(const cg_mlp *mlp);
/* Layer i; past the last, NULL with CG_ERROR_INVALID_ARGUMENT. */
const cg_linear *cg_mlp_layer(const cg_mlp *mlp, size_t i);
size_t cg_mlp_layers(const cg_mlp *mlp);

/* torch.optim's optimizers, each with its semantics and defaults. */
typedef enum cg_optim_kind {
    CG_OPTIM_SGD = 0,      /* p -= lr * g; momentum, dampening, nesterov */
    CG_OPTIM_ADAM = 1,     /* bias-corrected moments, eps after the sqrt, amsgrad */
    CG_OPTIM_ADAMW = 2,    /* Adam with decoupled weight decay */
    CG_OPTIM_ADAMAX = 3,   /* Adam with the infinity norm */
    CG_OPTIM_ADAGRAD = 4,
    CG_OPTIM_ADADELTA = 5,
    CG_OPTIM_RMSPROP = 6,
    CG_OPTIM_RPROP = 7,
    CG_OPTIM_ASGD = 8,     /* averaged SGD */
    CG_OPTIM_LBFGS = 9,    /* quasi-Newton; steps with a closure (cg_step_closure) */
    CG_OPTIM_SPARSE_ADAM = 10, /* lazy Adam for row-sparse gradients (embeddings) */
    CG_OPTIM_KIND_COUNT = 11
} cg_optim_kind;

/* ---- optimizers ------------------------------------------------------------
 * Every field carries PyTorch's name; cg_optim_defaults(kind) fills PyTorch's
 * defaults for that optimizer (lr included). Every value is taken as it is (0
 * is 0, not "the default"): start from cg_optim_defaults and change fields.
 * Fields another optimizer owns are ignored. */
typedef struct cg_optim_options {
    float lr;
    float weight_decay;
    bool maximize;
    float momentum, dampening; bool nesterov;    /* SGD; RMSprop's momentum */
    float betas[2]; float eps; bool amsgrad;     /* Adam, AdamW, Adamax */
    float lr_decay, initial_accumulator_value;   /* Adagrad */
    float rho;                                   /* Adadelta */
    float alpha; bool centered;                  /* RMSprop; ASGD's alpha */
    float etas[2], step_sizes[2];                /* Rprop */
    float lambd, t0;                             /* ASGD */
    int max_iter, max_eval, history_size;        /* LBFGS (max_eval 0: max_iter * 5/4) */
    float tolerance_grad, tolerance_change;      /* LBFGS */
    bool strong_wolfe;                           /* LBFGS: line_search_fn='strong_wolfe' */
} cg_optim_options;

cg_optim_options cg_optim_defaults(cg_optim_kind kind);
const char *cg_optim_name(cg_optim_kind kind);   /* "sgd", "adam", ... */

typedef struct cg_optimizer cg_optimizer;
/* The optimizer keeps the parameter pointers (not owned; parameters must
 * outlive it) and its state on the device. The parameters form group 0;
 * options are checked (a bad one is named in the error); NULL options are
 * cg_optim_defaults(kind). A parameter appears once per optimizer: twice in
 * a group, or in two groups, is CG_ERROR_INVALID_ARGUMENT (torch: "some
 * parameters appear in more than one parameter group"). */
cg_optimizer *cg_optimizer_create(cg_context *ctx, cg_optim_kind kind, cg_tensor *const *params,
                                  size_t count, const cg_optim_options *options);
/* Another parameter group with its own options (PyTorch's param_groups);
 * returns its index. */
int cg_optimizer_add_group(cg_optimizer *opt, cg_tensor *const *params, size_t count,
                           const cg_optim_options *options);
cg_status cg_zero_grad(cg_optimizer *opt);
/* One update of every parameter with a gradient (one without is skipped, as
 * torch skips it). Every optimizer but SparseAdam refuses a parameter whose
 * gradient is row-sparse (cg_set_sparse_grad) with CG_ERROR_INVALID_ARGUMENT
 * naming SparseAdam, before it updates anything. */
cg_status cg_step(cg_optimizer *opt);
/* Re-evaluates the model: zeroes the gradients, computes the loss, runs
 * backward, returns the loss (NaN on error). It may reset the tape. */
typedef float (*cg_closure_fn)(void *user);
/* optimizer.step(closure): LBFGS calls it as often as it needs; the others
 * call it once, then step. Returns the closure's first loss (NaN on error).
 * user is passed to the closure as it is. */
float cg_step_closure(cg_optimizer *opt, cg_closure_fn closure, void *user);
void cg_optimizer_free(cg_optimizer *opt);
size_t cg_optimizer_groups(const cg_optimizer *opt);
/* A group past the last gives NaN (NULL for the pointers below) with
 * CG_ERROR_INVALID_ARGUMENT on the context. */
float cg_optimizer_lr(const cg_optimizer *opt, size_t group);
cg_status cg_optimizer_set_lr(cg_optimizer *opt, size_t group, float lr);
/* The parameters of a group (the optimizer's array); *count is set to how
 * many (0 on error) unless count is NULL. */
cg_tensor *const *cg_optimizer_params(const cg_optimizer *opt, size_t group, size_t *count);
/* ASGD's averaged parameters (ax) of parameter i of group g; NULL, with no
 * error, for the other optimizers. Owned by the optimizer. */
cg_tensor *cg_optimizer_average(const cg_optimizer *opt, size_t group, size_t i);
/* State save/restore: steps taken and every state buffer, as floats. A
 * restored optimizer continues exactly as the saved one would have. */
size_t cg_optimizer_state_size(const cg_optimizer *opt);
cg_status cg_optimizer_state_save(cg_optimizer *opt, float *dst, size_t count);
cg_status cg_optimizer_state_load(cg_optimizer *opt, const float *src, size_t count);

/* ---- learning-rate schedules ------------------------------------------------
 * torch.optim.lr_scheduler's semantics: created after the optimizer (which
 * sets epoch 0), stepped once per epoch after the optimizer's last step. The
 * learning rates are kept in double, as torch keeps them in Python floats. */
typedef enum cg_sched_kind {
    CG_SCHED_STEP = 0,      /* StepLR(step_size, gamma) */
    CG_SCHED_MULTISTEP = 1, /* MultiStepLR(milestones, gamma) */
    CG_SCHED_EXP = 2,       /* ExponentialLR(gamma) */
    CG_SCHED_COSINE = 3,    /* CosineAnnealingLR(T_max, eta_min) */
    CG_SCHED_LINEAR = 4,    /* LinearLR(start_factor, end_factor, total_iters) */
    CG_SCHED_PLATEAU = 5    /* ReduceLROnPlateau(mode='min', factor, patience, ...) */
} cg_sched_kind;

typedef struct cg_scheduler_options {
    cg_sched_kind kind;
    int step_size;                 /* step */
    float gamma;                   /* step, multistep, exp (0.1 for step/multistep) */
    const int *milestones;         /* multistep, ascending */
    size_t nmilestones;
    int T_max;                     /* cosine */
    float eta_min;                 /* cosine (0) */
    float start_factor, end_factor;/* linear (1/3, 1) */
    int total_iters;               /* linear (5) */
    float factor;                  /* plateau (0.1) */
    int patience;                  /* plateau (10) */
    float threshold;               /* plateau (1e-4, relative) */
    int cooldown;                  /* plateau (0) */
    float min_lr;                  /* plateau (0) */
    float eps;                     /* plateau (1e-8) */
} cg_scheduler_options;

/* PyTorch's defaults for kind (required fields left 0). */
cg_scheduler_options cg_scheduler_defaults(cg_sched_kind kind);

typedef struct cg_scheduler cg_scheduler;
/* Drives the optimizer's groups that exist now; a group added later keeps
 * the lr it is given. options is required. */
cg_scheduler *cg_scheduler_create(cg_optimizer *opt, const cg_scheduler_options *options);
/* One epoch; metric is the monitored value for ReduceLROnPlateau (ignored
 * by the others). */
cg_status cg_scheduler_step(cg_scheduler *sched, float metric);
/* NaN with CG_ERROR_INVALID_ARGUMENT for a group it does not drive (added
 * after the scheduler, or past the last). */
double cg_scheduler_lr(const cg_scheduler *sched, size_t group);
void cg_scheduler_free(cg_scheduler *sched);

/* ---- gradient clipping (on the device) ----------------------------------- */

/* torch.nn.utils.clip_grad_norm_: scales every gradient by
 * min(1, max_norm / (total_norm + 1e-6)), the total the 2-norm over all of
 * them; returns the total (NaN on error). A non-finite total is an error
 * when error_if_nonfinite. Parameters without grad are skipped; count 0
 * returns 0. The norm is computed without overflow or underflow (scaled
 * sums on a device, double on ref): any norm a float holds, 1e-38 to 3e38,
 * comes out, the same on every device to float rounding. */
float cg_clip_grad_norm(cg_tensor *const *params, size_t count, float max_norm,
                        bool error_if_nonfinite);
/* torch.nn.utils.clip_grad_value_: every gradient element into [-v, v].
 * count 0: CG_OK, nothing to do. */
cg_status cg_clip_grad_value(cg_tensor *const *params, size_t count, float clip_value);

/* ---- capture and replay ------------------------------------------------ */

/* A training step run once and recorded, then run again from the record:
 * no graph building, no allocation and no wait for the device per replay,
 * one enqueue per kernel (fused groups included). In the spirit of CUDA
 * graphs and torch.cuda.graph. Between cg_capture_begin and cg_capture_end
 * everything runs as usual (the step is taken) and is recorded: ops,
 * cg_backward, clipping, cg_zero_grad, cg_step (replays compute each step's
 * scalars again, so schedulers and Adam's bias corrections go on as
 * without capture), cg_tensor_write (its data copied). Replayed results are
 * the uncaptured step's, bit for bit.
 *
 * Capture a step after a first one: a step that makes gradients or
 * optimizer state (the first does), L-BFGS, SparseAdam, clipping with
 * error_if_nonfinite and the fused linear trainer are refused while
 * capturing (the error says which). Reads (cg_item, cg_tensor_read) run but
 * are not recorded: read the results after a replay. Tensors the step made
 * live as long as the capture. After a replay, what you still hold (a
 * tensor an op of yours reads, the tape before cg_tape_reset), the
 * parameters, gradients and sums (a loss) hold its values; an element-wise
 * intermediate only the capture holds may be left unstored. Free the
 * capture before the optimizers it steps (cg_optimizer_free refuses). */
typedef struct cg_capture cg_capture;
cg_status cg_capture_begin(cg_context *ctx);
/* The record, or NULL when the step failed or something in it cannot be
 * captured (the error is on the context). */
cg_capture *cg_capture_end(cg_context *ctx);
/* Runs the recorded step again (after what the graph holds). */
cg_status cg_capture_replay(cg_capture *capture);
/* The step's input `captured` replaced by `tensor` in the record (the next
 * minibatch), without capturing again: both plain (contiguous from their
 * memory's start, as cg_contiguous makes) and of one shape, and the step
 * must read `captured` itself, not through a view of it. The capture holds
 * `tensor` from then on. */
cg_status cg_capture_rebind(cg_capture *capture, cg_tensor *captured, cg_tensor *tensor);
/* Kernel launches of the last replay (before any, of the captured run; a
 * replay runs groups planned over the whole step, often fewer). */
unsigned long long cg_capture_launches(const cg_capture *capture);
/* Replays the step n times; after each, the first element of `watch` goes
 * to values[i] (n floats; watch NULL: nothing is read), and the replays stop
 * after the first value that is not finite (a diverged run). *done (when
 * not NULL): the replays run. The results are n cg_capture_replay calls'
 * bit for bit. Where the record allows (tiny tensors, the element-wise,
 * reduction and optimizer work of a training step; an OpenCL CPU device),
 * it is one kernel launch that loops on the device and one wait for the
 * host; elsewhere it is those replays with a read after each.
 * CLGRAD_LOOP=0 always replays. */
cg_status cg_capture_replay_n(cg_capture *capture, long n, cg_tensor *watch, float *values,
                              long *done);
void cg_capture_free(cg_capture *capture);

/* ---- gradcheck -------------------------------------------------------------- */

/* Builds an output from the inputs with ops (it may return any shape). */
typedef cg_tensor *(*cg_gradcheck_fn)(void *user, cg_tensor *const *inputs, size_t count);

typedef struct cg_gradcheck_report {
    size_t checked;       /* input elements compared */
    size_t failures;
    double max_abs_error;
    size_t worst_input, worst_element;
    double worst_analytic, worst_numeric;
} cg_gradcheck_report;

/* Compares backward with central differences of the forward: for a fixed
 * random projection r, L = sum(fn(inputs) * r); each input element's dL/dx
 * from backward against (L(x+eps) - L(x-eps)) / 2 eps. An element passes when
 * |analytic - numeric| <= atol + rtol * |numeric|. Inputs must require grad;
 * their grads are zeroed. Returns CG_OK when every element passed, else
 * CG_ERROR_INVALID_DATA with the worst element in the report and message.
 * user goes to fn as it is; report may be NULL, else it is zeroed first. */
cg_status cg_gradcheck(cg_context *ctx, cg_gradcheck_fn fn, void *user, cg_tensor *const *inputs,
                       size_t count, float eps, float atol, float rtol,
                       cg_gradcheck_report *report);

/* ---- training: the linear model's fused path, and every model's loop -------
 *
 * One trainer, two entry points sharing their options and their result:
 * cg_linreg_fit trains the linear model y = X.w + b in fused kernels (the
 * fast path: a whole fit can be one launch); cg_fit trains any model built
 * from ops through the autograd tape (an MLP, a layer, the linear model with
 * more features than the fused kernels take, or your own forward pass), with
 * minibatches, shuffling, schedules, clipping and validation. Both stop on a
 * non-finite loss and report it as a divergence, keep the same loss curve and
 * log, and time the training the same way. */

typedef enum cg_loss_kind {
    CG_LOSS_MSE = 0,  /* mean((p - y)^2) */
    CG_LOSS_L1 = 1,   /* mean(|p - y|) */
    CG_LOSS_HUBER = 2 /* cg_huber_loss with huber_delta (cg_fit only) */
} cg_loss_kind;

typedef enum cg_grad_mode {
    CG_GRAD_ANALYTIC = 0, /* chain rule: dloss/dp * dp/dw, summed (cg_fit: autograd) */
    CG_GRAD_NUMERIC = 1   /* central differences (L(p+d) - L(p-d)) / 2d (fused only) */
} cg_grad_mode;


typedef enum cg_fit_path {
    CG_PATH_AUTO = 0,          /* single launch when the data is small */
    CG_PATH_SINGLE_LAUNCH = 1, /* every epoch inside one kernel launch */
    CG_PATH_PER_EPOCH = 2,     /* one fused data pass + one update per epoch */
    CG_PATH_TAPE = 3           /* cg_fit: the autograd tape, a launch per op */
} cg_fit_path;

typedef struct cg_linreg cg_linreg;

/* The widest model the fused linear path takes: the feature count is a
 * compile-time constant of its kernels. Wider models train through the tape
 * (cg_fit with cg_fit_model_linreg). */
#define CG_LINREG_MAX_FEATURES 64

/* Binds data already on the device: X of shape [n] (one feature) or [n, F],
 * y of shape [n]; F above CG_LINREG_MAX_FEATURES is CG_ERROR_UNSUPPORTED.
 * The model holds references of its own: X and y may be freed at any time.
 * A view (a transpose, a slice) is copied once, contiguous. */
cg_linreg *cg_linreg_create(cg_context *ctx, const cg_tensor *X, const cg_tensor *y);
void cg_linreg_free(cg_linreg *model);
size_t cg_linreg_features(const cg_linreg *model);
size_t cg_linreg_rows(const cg_linreg *model);

/* Applies x' = (x - shift[j]) * scale[j] to feature j on the fly inside the
 * kernels (the data on the device stays raw). shift NULL means zeros, scale
 * NULL ones (NULL, NULL resets to identity). A scale of 0 or a non-finite
 * value is CG_ERROR_INVALID_ARGUMENT. */
cg_status cg_linreg_set_transform(cg_linreg *model, const float *shift, const float *scale);

/* One evaluation at params (F weights then the bias): the loss, and the
 * gradient (F+1 values) by the chosen mode; grad may be NULL. *loss_out and
 * grad are NaN until it succeeds. */
cg_status cg_linreg_eval(cg_linreg *model, const float *params, cg_loss_kind loss,
                         cg_grad_mode mode, float delta, float *loss_out, float *grad);

/* One logged epoch, as the lecture prints it. params are after this epoch's
 * update; loss and grad are at the params before it (cg_fit with minibatches:
 * loss is the epoch's, grad the last minibatch's). params and grad are NULL
 * (nparams 0) for a cg_fit run without log_params. */
typedef struct cg_epoch_log {
    long epoch;
    float loss;
    const float *params; /* nparams values: F+1 for the linear model */
    const float *grad;   /* nparams values (0 where a parameter has no grad) */
    size_t nparams;
    float val_loss;      /* cg_fit: the validation set's loss; NaN without one */
} cg_epoch_log;
typedef void (*cg_epoch_fn)(void *user, const cg_epoch_log *log);

/* What cg_fit hands a checkpoint hook: everything a later cg_fit needs to go
 * on from here (save the parameters, and the optimizer's state with
 * cg_optimizer_state_save, beside these). Pointers are valid during the call. */
typedef struct cg_fit_checkpoint {
    long epoch;                    /* the epoch just finished */
    float loss;                    /* its loss */
    long next_epoch;               /* the start_epoch to resume with */
    unsigned long long rng_state;  /* the rng_state to resume with */
    const unsigned *shuffle_order; /* the shuffle_order to resume with (n rows; NULL
                                      without shuffle) */
    size_t shuffle_count;
    cg_optimizer *optimizer;       /* the run's */
    cg_scheduler *scheduler;       /* the run's; NULL without a schedule */
} cg_fit_checkpoint;
typedef void (*cg_checkpoint_fn)(void *user, const cg_fit_checkpoint *state);

typedef struct cg_fit_options {
    cg_loss_kind loss;       /* CG_LOSS_MSE */
    cg_grad_mode grad;       /* CG_GRAD_ANALYTIC */
    float delta;             /* 0.1, for CG_GRAD_NUMERIC */
    cg_optim_kind optimizer; /* CG_OPTIM_SGD */
    float lr;                /* 1e-2 */
    float betas[2];          /* 0.9, 0.999 (Adam) */
    float eps;               /* 1e-8 (Adam) */
    /* Every other option of the optimizer; NULL: its defaults, with lr,
     * betas and eps from the fields above. When given, it is used whole. */
    const cg_optim_options *optim;
    long epochs;             /* 5000: the last epoch (counted from 1) */
    long log_every;          /* 500; 0 logs no epoch by period */
    const long *log_epochs;  /* extra epochs to log (the lecture's 1,2,3,10,...) */
    size_t n_log_epochs;
    /* Initial values: the linear model's F+1 (NULL: weights 1, bias 0);
     * cg_fit: every parameter's, flattened in the model's order, written into
     * its tensors first (NULL: they keep theirs). */
    const float *init;
    cg_fit_path path;        /* CG_PATH_AUTO (cg_fit: AUTO or TAPE) */
    cg_epoch_fn on_epoch;    /* called for each logged epoch, in order */
    void *user;              /* passed to on_epoch and on_checkpoint as it is */

    /* ---- cg_fit only (the fused path refuses what it cannot do) ---- */
    size_t batch_size;       /* 0: the full batch; n or more: the full batch */
    bool shuffle;            /* minibatches in a seeded random order (else in row order) */
    unsigned long long seed; /* the shuffle's (0) */
    float huber_delta;       /* 1.0, for CG_LOSS_HUBER */
    /* A learning-rate schedule, stepped after each epoch's last step with the
     * epoch's training loss as ReduceLROnPlateau's metric. NULL: none. */
    const cg_scheduler_options *schedule;
    /* Your own optimizer (over the model's parameters) and schedule, used
     * instead of making them from the fields above; not freed. They keep
     * their state across calls, which is how a resumed run goes on exactly. */
    cg_optimizer *use_optimizer;
    cg_scheduler *use_scheduler;
    float clip_grad_norm;    /* 0: none; else cg_clip_grad_norm after each backward */
    float clip_grad_value;   /* 0: none; else cg_clip_grad_value (after the norm's) */
    bool log_params;         /* read every parameter and grad into each log (slow for
                                big models: a read per logged epoch) */
    /* A validation set (rows as X and y): its loss at the end of every epoch
     * (the result's val_curve_loss, val_loss, and the epoch log). NULL: none. */
    cg_tensor *val_x, *val_y;
    /* on_checkpoint after every checkpoint_every-th epoch (counted from 1);
     * both or neither. */
    long checkpoint_every;
    cg_checkpoint_fn on_checkpoint;
    /* Resuming: the first epoch to run (0 or 1: a fresh run), the shuffle's
     * state (0: from seed) and order (NULL: rows in order). Take all three
     * from a result or a checkpoint. */
    long start_epoch;
    unsigned long long rng_state;
    const unsigned *shuffle_order; /* a permutation of the n rows */
    /* Reserved for data-parallel training: copies of the model trained side
     * by side. 0 or 1 today. */
    int replicas;
    /* cg_fit captures its second full-size step and replays it for the
     * rest (cg_capture_begin; the same results bit for bit, no graph
     * building per step). true: every step builds its graph. Eager
     * contexts, L-BFGS and SparseAdam never capture. */
    bool no_capture;
} cg_fit_options;

/* The defaults above (PyTorch's where PyTorch has one; the lecture's else). */
cg_fit_options cg_fit_defaults(void);

typedef struct cg_fit_result {
    long epochs_run;         /* the epoch where the run stopped */
    bool diverged;           /* the loss became inf or NaN */
    float final_loss;        /* loss at the params after the last update, all of the data */
    float *params;           /* every parameter after the last update, flattened in
                                order: the linear model's F+1 */
    size_t nparams;
    long *history_epochs;    /* the logged epochs ... */
    float *history_loss;     /* ... and their losses */
    size_t history_count;
    long *curve_epochs;      /* the loss curve, every epoch or a stride of them */
    float *curve_loss;
    size_t curve_count;
    cg_fit_path path_used;
    double train_seconds;    /* the training alone: no setup, no compile */
    char message[256];       /* why it stopped, when it diverged */

    /* Validation (cg_fit with val_x, val_y): the set's loss at curve_epochs
     * (curve_count values) and at the final params. NULL and NaN without. */
    float *val_curve_loss;
    float val_loss;
    /* Where a later cg_fit goes on (options' start_epoch, rng_state,
     * shuffle_order): the next epoch, the shuffle's state and its order
     * (shuffle_count rows; NULL without shuffle). */
    long next_epoch;
    unsigned long long rng_state;
    unsigned *shuffle_order;
    size_t shuffle_count;
    /* Reserved for data-parallel training: the copies of the model that
     * trained (their parameters agree bit for bit). 1 today. */
    int replicas;
    /* cg_fit: the optimizer steps taken, how many of them were replays of a
     * captured step, and the kernel launches of the steps (evaluation
     * aside), 0 on the fused path. */
    long steps, steps_replayed;
    unsigned long long step_launches;
} cg_fit_result;

/* Trains the model; fills *result (zeroed first; free it with
 * cg_fit_result_free). options NULL: cg_fit_defaults(). A diverging run is
 * not an error: result->diverged says so, with the cause in result->message,
 * and the status is CG_OK. A run diverged when any loss, the final one
 * included, is inf or NaN, and (CG_GRAD_NUMERIC) when its central differences
 * vanished in float32 rounding. NaN or inf in X or y is CG_ERROR_INVALID_DATA
 * naming the row and column. The cg_fit-only options are refused unless
 * left at their defaults. */
cg_status cg_linreg_fit(cg_linreg *model, const cg_fit_options *options, cg_fit_result *result);
void cg_fit_result_free(cg_fit_result *result);

/* A model trained through the tape: model(x), and model.parameters(). */
typedef struct cg_fit_model {
    /* The predictions for the rows x (a slice or a gather of X: [batch, ...]),
     * built with ops, shaped as the same rows of y. NULL: an error on the
     * context. */
    cg_tensor *(*forward)(void *user, cg_tensor *x);
    /* Fills up to cap parameter tensors (requires_grad, owned by the model)
     * and returns how many there are; out NULL with cap 0 asks the count. */
    size_t (*parameters)(void *user, cg_tensor **out, size_t cap);
    void *user;
} cg_fit_model;

/* The models clgrad has, as cg_fit takes them; the model must outlive every
 * use. A NULL argument gives a model with no functions (cg_fit refuses it). */
cg_fit_model cg_fit_model_mlp(cg_mlp *mlp);       /* X [n, in], y [n, out] */
cg_fit_model cg_fit_model_linear(cg_linear *layer); /* X [n, in], y [n, out] */
/* The linear model y = X.w + b through the tape, with the parameters of
 * cg_linreg in one tensor: params [F+1], weights then bias (requires_grad).
 * X [n] for one feature (the lecture's w * x + b) or [n, F]; y [n]. */
cg_fit_model cg_fit_model_linreg(cg_tensor *params);

/* Trains model on the rows of X and y (same context, same first dimension)
 * through the autograd tape: each epoch runs the rows in minibatches
 * (batch_size, in row order or shuffled), one forward, backward, clipping and
 * optimizer step per minibatch (lbfgs: one step(closure) per epoch on the full
 * batch), then the schedule's step. An epoch's loss is its minibatches' mean
 * losses weighted by their share of the rows. The options and the result are
 * cg_linreg_fit's; what that one says about divergence holds here (minus the
 * numeric gradient), and the run stops at the first non-finite epoch loss.
 * The context's tape is reset after every step: start with no graph of your
 * own pending. path_used is CG_PATH_TAPE. */
cg_status cg_fit(const cg_fit_model *model, cg_tensor *X, cg_tensor *y,
                 const cg_fit_options *options, cg_fit_result *result);

/* ---- input normalization (host side, double precision) ------------------ */

typedef enum cg_norm_kind {
    CG_NORM_NONE = 0,
    CG_NORM_SCALE = 1,    /* x * factor (the lecture's 0.1 * t_u) */
    CG_NORM_STANDARD = 2, /* (x - mean) / std, population std (ddof 0) */
    CG_NORM_MINMAX = 3    /* (x - min) / (max - min) */
} cg_norm_kind;

/* Per-feature transform x' = (x - shift) * scale, fitted to data. */
typedef struct cg_normalizer {
    cg_norm_kind kind;
    size_t features;
    float *shift;
    float *scale;
} cg_normalizer;

/* Fits a normalizer to X (n rows of F features, row-major); *out is zeroed
 * first. NaN or inf in X is CG_ERROR_INVALID_DATA naming the row and column,
 * and so is standard normalization of a single row. A feature without a
 * usable spread (standard, minmax) keeps scale 1, as in scikit-learn, with a
 * one-line notice naming it through the log callback ("feature J has no
 * spread ..."): a spread of 0, one within the rounding error of its magnitude
 * (std <= about n * |mean| * DBL_EPSILON, scikit-learn's
 * _is_constant_feature; range <= about n * max(|min|, |max|) * DBL_EPSILON),
 * or one whose reciprocal overflows float32. Its shift (mean or min) still
 * applies. */
cg_status cg_normalizer_fit(cg_context *ctx, cg_norm_kind kind, float factor, const float *X,
                            size_t n, size_t features, cg_normalizer *out);
void cg_normalizer_free(cg_normalizer *norm);
/* Maps params trained on normalized inputs to raw-input units (F + 1
 * values each). No context: CG_ERROR_NULL_POINTER for a NULL argument,
 * CG_ERROR_INVALID_ARGUMENT for a freed (or never fitted) normalizer. */
cg_status cg_normalizer_to_raw(const cg_normalizer *norm, const float *params, float *params_raw);

/* ---- data files --------------------------------------------------------- */

/* A CSV with a header row and numeric cells. */
typedef struct cg_table {
    size_t rows;
    size_t cols;
    char **names;   /* cols column names */
    float *values;  /* rows x cols, row-major */
} cg_table;

/* Reads a CSV; errors (missing file, ragged rows, a non-numeric cell, NaN or
 * inf, a NUL byte, duplicate column names, UTF-16) name the file, line and
 * column. *out is emptied first, whatever the status. A UTF-8 byte-order
 * mark is skipped. Input is bounded: a line by CLGRAD_CSV_MAX_LINE bytes
 * (default 1M), the whole input by CLGRAD_CSV_MAX_BYTES (default 4G); both
 * take a byte count with an optional K, M, G or T suffix. Character and block
 * devices are refused; pipes, FIFOs, /dev/fd/N and /dev/stdin are read. */
cg_status cg_table_read_csv(cg_context *ctx, const char *path, cg_table *out);
/* The lecture's eleven thermometer readings, columns t_u, t_c. No context:
 * the status is returned only. */
cg_status cg_table_lecture(cg_table *out);
void cg_table_free(cg_table *table);
/* Index of a column by name, -1 if absent (or either argument is NULL). */
int cg_table_column(const cg_table *table, const char *name);

/* ---- plots (cairo; PNG or SVG by the file's extension) ------------------- */

/* Data as markers and the line y = w * x + b over the data's x range.
 * xlabel, ylabel NULL: "x", "y". */
cg_status cg_plot_fit(cg_context *ctx, const char *path, const float *x, const float *y,
                      size_t n, float w, float b, const char *xlabel, const char *ylabel);
/* The loss curve on a log scale. */
cg_status cg_plot_loss(cg_context *ctx, const char *path, const long *epochs,
                       const float *loss, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* CLGRAD_H */
