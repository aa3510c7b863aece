/* clgrad: gradient descent on OpenCL devices, with a scalar CPU reference.
 *
 * The only public header. Handles are opaque; names carry the cg_ prefix.
 *
 * Errors follow cairo: a context keeps the first error that happened on it,
 * with a message naming the call and the cause. Later calls on a context in
 * error do nothing and return that status (or NULL), so a chain of calls can
 * be checked once at the end with cg_status() / cg_error_message().
 * No function prints, exits or aborts on bad input.
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
 * an error: *count is 0. */
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
 * cg_status(): a spec that matches nothing leaves the context in error,
 * with a message listing the devices that exist. */
cg_context *cg_context_create(const char *spec);
void cg_context_free(cg_context *ctx);

cg_status cg_status_of(const cg_context *ctx);
#define cg_status(ctx) cg_status_of(ctx)
/* The first error's message, "" when CG_OK. Valid until ctx is freed. */
const char *cg_error_message(const cg_context *ctx);
/* Clears the sticky error so the context can be used again. */
void cg_clear_error(cg_context *ctx);

/* What the context runs on. */
const cg_device_info *cg_context_device(const cg_context *ctx);
bool cg_context_is_ref(const cg_context *ctx);

/* Messages the library would otherwise have nowhere to put (the notice that
 * no OpenCL device exists). Default: none shown. */
typedef void (*cg_log_fn)(void *user, const char *message);
void cg_set_log_callback(cg_log_fn fn, void *user);

/* Counters, for seeing what a run costs. */
typedef struct cg_context_stats {
    unsigned long long kernel_launches;
    unsigned long long programs_compiled;    /* built from source by the driver */
    unsigned long long programs_from_cache;  /* loaded from the binary cache */
    unsigned long long bytes_allocated;      /* device bytes currently held by tensors */
    unsigned long long bytes_pooled;         /* device bytes idle in the pool */
} cg_context_stats;
cg_context_stats cg_context_get_stats(const cg_context *ctx);

/* Waits for every queued command to finish. */
cg_status cg_finish(cg_context *ctx);

/* ---- tensors ----------------------------------------------------------- */

#define CG_MAX_DIMS 4

typedef struct cg_shape {
    int ndim;
    size_t dims[CG_MAX_DIMS];
} cg_shape;

/* CG_SHAPE(11) or CG_SHAPE(11, 2): a shape literal. */
#define CG_SHAPE(...)                                                        \
    ((cg_shape){(int)(sizeof((size_t[]){__VA_ARGS__}) / sizeof(size_t)),     \
                {__VA_ARGS__}})

typedef struct cg_tensor cg_tensor;

/* float32, contiguous, row-major. The caller frees what it creates. */
cg_tensor *cg_tensor_from(cg_context *ctx, const float *data, cg_shape shape);
cg_tensor *cg_tensor_zeros(cg_context *ctx, cg_shape shape);
cg_tensor *cg_tensor_full(cg_context *ctx, cg_shape shape, float value);
/* Copies the tensor's elements (all of them, count must equal numel). */
cg_status cg_tensor_read(const cg_tensor *t, float *dst, size_t count);
/* Overwrites the tensor's elements from host memory. */
cg_status cg_tensor_write(cg_tensor *t, const float *src, size_t count);
void cg_tensor_free(cg_tensor *t);
size_t cg_tensor_numel(const cg_tensor *t);
cg_shape cg_tensor_shape(const cg_tensor *t);
cg_context *cg_tensor_context(const cg_tensor *t);

/* ---- the linear model y = X.w + b, fused fast path ----------------------- */

typedef enum cg_loss_kind {
    CG_LOSS_MSE = 0,  /* mean((p - y)^2) */
    CG_LOSS_L1 = 1    /* mean(|p - y|) */
} cg_loss_kind;

typedef enum cg_grad_mode {
    CG_GRAD_ANALYTIC = 0, /* chain rule: dloss/dp * dp/dw, summed */
    CG_GRAD_NUMERIC = 1   /* central differences (L(p+d) - L(p-d)) / 2d */
} cg_grad_mode;

typedef enum cg_optim_kind {
    CG_OPTIM_SGD = 0,  /* p -= lr * g (full batch: plain gradient descent) */
    CG_OPTIM_ADAM = 1  /* torch.optim.Adam, bias-corrected, eps after sqrt */
} cg_optim_kind;

typedef enum cg_fit_path {
    CG_PATH_AUTO = 0,          /* single launch when the data is small */
    CG_PATH_SINGLE_LAUNCH = 1, /* every epoch inside one kernel launch */
    CG_PATH_PER_EPOCH = 2      /* one fused data pass + one update per epoch */
} cg_fit_path;

typedef struct cg_linreg cg_linreg;

/* Binds data already on the device: X of shape [n] (one feature) or [n, F],
 * y of shape [n]. The model keeps references; X and y must outlive it. */
cg_linreg *cg_linreg_create(cg_context *ctx, const cg_tensor *X, const cg_tensor *y);
void cg_linreg_free(cg_linreg *model);
size_t cg_linreg_features(const cg_linreg *model);
size_t cg_linreg_rows(const cg_linreg *model);

/* Applies x' = (x - shift[j]) * scale[j] to feature j on the fly inside the
 * kernels (the data on the device stays raw). NULL, NULL resets to identity. */
cg_status cg_linreg_set_transform(cg_linreg *model, const float *shift, const float *scale);

/* One evaluation at params (F weights then the bias): the loss, and the
 * gradient (F+1 values) by the chosen mode; grad may be NULL. */
cg_status cg_linreg_eval(cg_linreg *model, const float *params, cg_loss_kind loss,
                         cg_grad_mode mode, float delta, float *loss_out, float *grad);

/* One logged epoch, as the lecture prints it. params are after this epoch's
 * update; loss and grad are at the params before it. */
typedef struct cg_epoch_log {
    long epoch;
    float loss;
    const float *params; /* F+1 values */
    const float *grad;   /* F+1 values */
    size_t nparams;
} cg_epoch_log;
typedef void (*cg_epoch_fn)(void *user, const cg_epoch_log *log);

typedef struct cg_fit_options {
    cg_loss_kind loss;       /* CG_LOSS_MSE */
    cg_grad_mode grad;       /* CG_GRAD_ANALYTIC */
    float delta;             /* 0.1, for CG_GRAD_NUMERIC */
    cg_optim_kind optimizer; /* CG_OPTIM_SGD */
    float lr;                /* 1e-2 */
    float betas[2];          /* 0.9, 0.999 (Adam) */
    float eps;               /* 1e-8 (Adam) */
    long epochs;             /* 5000 */
    long log_every;          /* 500; 0 logs no epoch by period */
    const long *log_epochs;  /* extra epochs to log (the lecture's 1,2,3,10,...) */
    size_t n_log_epochs;
    const float *init;       /* F+1 initial values; NULL: weights 1, bias 0 */
    cg_fit_path path;        /* CG_PATH_AUTO */
    cg_epoch_fn on_epoch;    /* called for each logged epoch, in order */
    void *user;
} cg_fit_options;

/* The defaults above (PyTorch's where PyTorch has one; the lecture's else). */
cg_fit_options cg_fit_defaults(void);

typedef struct cg_fit_result {
    long epochs_run;         /* the epoch where the run stopped */
    bool diverged;           /* the loss became inf or NaN */
    float final_loss;        /* loss at the params after the last update */
    float *params;           /* F+1 values, after the last update */
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
} cg_fit_result;

/* Trains the model; fills *result (free it with cg_fit_result_free). A
 * diverging run is not an error: result->diverged says so and the status is
 * CG_OK. */
cg_status cg_linreg_fit(cg_linreg *model, const cg_fit_options *options, cg_fit_result *result);
void cg_fit_result_free(cg_fit_result *result);

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

/* Fits a normalizer to X (n rows of F features, row-major). Fails with
 * CG_ERROR_INVALID_DATA when a feature is constant (standard, minmax),
 * naming the feature; the message is on ctx. */
cg_status cg_normalizer_fit(cg_context *ctx, cg_norm_kind kind, float factor, const float *X,
                            size_t n, size_t features, cg_normalizer *out);
void cg_normalizer_free(cg_normalizer *norm);
/* Maps params trained on normalized inputs to raw-input units. */
void cg_normalizer_to_raw(const cg_normalizer *norm, const float *params, float *params_raw);

/* ---- data files --------------------------------------------------------- */

/* A CSV with a header row and numeric cells. */
typedef struct cg_table {
    size_t rows;
    size_t cols;
    char **names;   /* cols column names */
    float *values;  /* rows x cols, row-major */
} cg_table;

/* Reads a CSV; errors (missing file, ragged rows, a non-numeric cell, NaN or
 * inf) name the file, line and column. */
cg_status cg_table_read_csv(cg_context *ctx, const char *path, cg_table *out);
/* The lecture's eleven thermometer readings, columns t_u, t_c. */
cg_status cg_table_lecture(cg_table *out);
void cg_table_free(cg_table *table);
/* Index of a column by name, -1 if absent. */
int cg_table_column(const cg_table *table, const char *name);

/* ---- plots (cairo; PNG or SVG by the file's extension) ------------------- */

/* Data as markers and the line y = w * x + b over the data's x range. */
cg_status cg_plot_fit(cg_context *ctx, const char *path, const float *x, const float *y,
                      size_t n, float w, float b, const char *xlabel, const char *ylabel);
/* The loss curve on a log scale. */
cg_status cg_plot_loss(cg_context *ctx, const char *path, const long *epochs,
                       const float *loss, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* CLGRAD_H */
