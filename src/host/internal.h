/* Private declarations shared by the host library's files. Not installed. */
#ifndef CG_INTERNAL_H
#define CG_INTERNAL_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <stdarg.h>
#include <stdint.h>

#include "clgrad.h"

#if defined(__GNUC__)
#define CG__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CG__PRINTF(f, a)
#endif

/* ---- programs ---------------------------------------------------------- */

/* The kernel families, each one .cl file embedded at build time. */
typedef enum cg__program_id {
    CG__PROGRAM_LINREG = 0,
    CG__PROGRAM_COUNT
} cg__program_id;

#define CG__MAX_PROGRAM_SLOTS 32
#define CG__MAX_KERNELS_PER_PROGRAM 8

typedef struct cg__program_slot {
    cg__program_id id;
    char options[128];
    cl_program program;
    const char *kernel_names[CG__MAX_KERNELS_PER_PROGRAM];
    cl_kernel kernels[CG__MAX_KERNELS_PER_PROGRAM];
} cg__program_slot;

/* ---- buffer pool ------------------------------------------------------- */

typedef struct cg__pool_entry {
    size_t bytes;
    cl_mem mem;    /* device contexts */
    float *host;   /* the reference path */
} cg__pool_entry;

typedef struct cg__pool {
    cg__pool_entry *free_list;
    size_t count, capacity;
} cg__pool;

/* ---- context ----------------------------------------------------------- */

struct cg_context {
    cg_status status;
    char message[4096];

    bool is_ref;
    cg_device_info info;
    cl_platform_id platform;
    cl_device_id device;
    cl_context cl;
    cl_command_queue queue;

    cg__program_slot programs[CG__MAX_PROGRAM_SLOTS];
    int program_count;

    cg__pool pool;
    cg_context_stats stats;
};

struct cg_tensor {
    cg_context *ctx;
    cg_shape shape;
    size_t numel;
    size_t bytes;
    cl_mem mem;   /* device contexts */
    float *host;  /* the reference path */
};

/* ---- errors (error.c) -------------------------------------------------- */

/* Records the first error on ctx and returns the context's status (the first
 * error's, which may be an earlier one). fmt starts with the public call's
 * name: "cg_linreg_fit: lr must be positive (got -1)". */
cg_status cg__fail(cg_context *ctx, cg_status status, const char *fmt, ...) CG__PRINTF(3, 4);
/* Same, for a failed OpenCL call: the message gets the code's name. */
cg_status cg__cl_fail(cg_context *ctx, cl_int err, const char *what);
const char *cg__cl_error_name(cl_int err);
void cg__log(const char *fmt, ...) CG__PRINTF(1, 2);

/* ---- devices (device.c) ------------------------------------------------ */

/* Fills info for one OpenCL device. */
void cg__device_describe(cl_platform_id platform, cl_device_id device, int p, int d,
                         cg_device_info *info);
/* Resolves a spec to a device; ref → *is_ref. Error message on ctx. */
cg_status cg__device_select(cg_context *ctx, const char *spec, bool *is_ref,
                            cl_platform_id *platform, cl_device_id *device,
                            cg_device_info *info);

/* ---- programs (program.c) ---------------------------------------------- */

/* The kernel `name` of program `id` built with `options` (cached per context,
 * on disk across processes). NULL on failure, with the error on ctx. */
cl_kernel cg__kernel(cg_context *ctx, cg__program_id id, const char *options, const char *name);
void cg__programs_release(cg_context *ctx);

/* Enqueues a 1-D range with explicit local size (PoCL would otherwise pick
 * one work-group for the whole range). Counts the launch. */
cg_status cg__launch(cg_context *ctx, cl_kernel kernel, size_t global, size_t local,
                     const char *what);

/* Sets kernel arguments: pairs of (size, pointer), terminated by size 0. */
cg_status cg__set_args(cg_context *ctx, cl_kernel kernel, const char *what, ...);

/* ---- buffers (tensor.c) ------------------------------------------------ */

/* Device buffers (or host memory on ref) of exactly `bytes`, from the pool. */
cl_mem cg__buffer_get(cg_context *ctx, size_t bytes, const char *what);
void cg__buffer_put(cg_context *ctx, cl_mem mem, size_t bytes);
float *cg__host_get(cg_context *ctx, size_t bytes, const char *what);
void cg__host_put(cg_context *ctx, float *host, size_t bytes);
void cg__pool_release(cg_context *ctx);
/* Transfers; non-blocking ones need their host memory to stay valid until a
 * later blocking call or cg__sync on the (in-order) queue. */
cg_status cg__write(cg_context *ctx, cl_mem mem, size_t offset, size_t bytes, const void *src,
                    bool blocking, const char *what);
cg_status cg__read(cg_context *ctx, cl_mem mem, size_t offset, size_t bytes, void *dst,
                   bool blocking, const char *what);
cg_status cg__fill_zero(cg_context *ctx, cl_mem mem, size_t bytes, const char *what);
cg_status cg__sync(cg_context *ctx, const char *what);

/* ---- misc -------------------------------------------------------------- */

double cg__now_seconds(void);
int cg__strcasestr_index(const char *haystack, const char *needle);

#endif /* CG_INTERNAL_H */
