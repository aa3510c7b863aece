/* The fused linear model on an OpenCL device (the backend table's linreg_*
 * entries): the model's transform buffer, the kernel shape for the device
 * type, and the launches of linreg.cl (the single-launch whole run for small
 * data, one fused pass plus a tiny update per epoch otherwise). The
 * reference twin is ref/linreg_ref.c. */
#include <stdio.h>
#include <stdlib.h>

#include "../linreg_internal.h"

/* Small data runs every epoch inside one work-group: up to this many
 * elements (rows x (features + 1)) one compute unit beats two launches per
 * epoch. On PoCL (2 cores) the single launch was 2x faster at 32768 elements
 * and about even at 262144 (bench/RESULTS.md). A GPU spreads the per-epoch pass
 * over every compute unit, so its threshold is lower (not yet measured). */
#define SINGLE_LAUNCH_MAX_ELEMENTS_CPU 131072
#define SINGLE_LAUNCH_MAX_ELEMENTS_GPU 16384
/* Epochs enqueued between waits on the per-epoch path: bounds the queue
 * length and lets a diverged run stop enqueueing. */
#define EPOCHS_PER_SYNC 256
/* The kernels' sums per work-item/group (linreg.cl CG_NSUM). */
#define NSUM(F) (1 + 2 * ((F) + 1))
/* Sums a work-group combines at once: local memory per work-item, in floats
 * (linreg.cl CG_GROUP_BATCH). */
#define GROUP_BATCH 8

/* The model's state on this backend (cg_linreg.state). */
typedef struct cl_linreg_state {
    cl_mem transform; /* shift[F] then scale[F] */
} cl_linreg_state;

static size_t transform_bytes(const cg_linreg *m) { return 2 * m->features * sizeof(float); }

cg_status cg__cl_linreg_prepare(cg_linreg *m, const char *what)
{
    cg_context *ctx = m->ctx;
    cl_linreg_state *st = m->state;
    if (!st) {
        st = cg__calloc(1, sizeof *st);
        if (!st) return cg__fail(ctx, CG_ERROR_NO_MEMORY, "%s: out of memory", what);
        m->state = st;
        st->transform = cg__buffer_get(ctx, transform_bytes(m), what);
        if (!st->transform) return ctx->status;
    }
    return cg__write(ctx, st->transform, 0, transform_bytes(m), m->shift, true, what);
}

void cg__cl_linreg_release(cg_linreg *m)
{
    cl_linreg_state *st = m->state;
    if (!st) return;
    if (st->transform) cg__buffer_put(m->ctx, st->transform, transform_bytes(m));
    free(st);
    m->state = NULL;
}

static const char *feature_options(const cg_linreg *m, char *buf, size_t cap)
{
    snprintf(buf, cap, "-DCG_NFEAT=%zu%s", m->features, cg__optim_cl_options(m->ctx));
    return buf;
}

static size_t pow2_floor(size_t v)
{
    size_t p = 1;
    while (p * 2 <= v) p *= 2;
    return p;
}

/* The shape of one epoch's data pass on this device. */
typedef struct pass_shape {
    bool chunked;      /* CPU: contiguous chunk per work-item */
    size_t groups;     /* partial sums produced */
    size_t local;      /* work-group size */
    cl_uint chunk_rows;
} pass_shape;

static pass_shape choose_pass(const cg_linreg *m)
{
    const cg_device_info *d = &m->ctx->info;
    pass_shape s = {0};
    size_t cus = d->compute_units ? d->compute_units : 1;
    if (!m->ctx->gpu_shapes) {
        /* A few chunks per core for balance; chunks a multiple of the
         * kernel's block so float4 loads stay on row boundaries. */
        size_t want = cus * 4;
        size_t rows = (m->n + want - 1) / want;
        rows = (rows + 255) / 256 * 256;
        s.chunked = true;
        s.chunk_rows = (cl_uint)rows;
        s.groups = (m->n + rows - 1) / rows;
        s.local = 1;
    } else {
        s.local = pow2_floor(d->max_work_group_size < 256 ? d->max_work_group_size : 256);
        size_t by_data = (m->n + s.local - 1) / s.local;
        s.groups = by_data < cus * 8 ? by_data : cus * 8;
        if (s.groups == 0) s.groups = 1;
    }
    return s;
}

/* Device buffers of one run, all from the pool. */
typedef struct run_buffers {
    cl_mem params, hp, log_epochs, records, curve, status, out, partials, ostate;
    size_t params_b, hp_b, log_b, records_b, curve_b, status_b, out_b, partials_b, ostate_b;
} run_buffers;

static void buffers_release(cg_context *ctx, run_buffers *b)
{
    cg__buffer_put(ctx, b->params, b->params_b);
    cg__buffer_put(ctx, b->hp, b->hp_b);
    cg__buffer_put(ctx, b->log_epochs, b->log_b);
    cg__buffer_put(ctx, b->records, b->records_b);
    cg__buffer_put(ctx, b->curve, b->curve_b);
    cg__buffer_put(ctx, b->status, b->status_b);
    cg__buffer_put(ctx, b->out, b->out_b);
    cg__buffer_put(ctx, b->partials, b->partials_b);
    cg__buffer_put(ctx, b->ostate, b->ostate_b);
}

static cl_mem get_buffer(cg_context *ctx, size_t bytes, size_t *keep, const char *what)
{
    *keep = bytes ? bytes : sizeof(float);
    return cg__buffer_get(ctx, *keep, what);
}

/* Enqueues one data pass (partials) and one finish at `epoch`. */
static cg_status enqueue_epoch(cg_linreg *m, const pass_shape *ps, cl_kernel partials,
                               cl_kernel finish, run_buffers *b, const cg__linreg_run *run,
                               int loss, int mode, int epoch, const char *what)
{
    cg_context *ctx = m->ctx;
    const cl_linreg_state *st = m->state;
    cl_uint n = (cl_uint)m->n;
    cl_int honor_stop = epoch > 0;
    cl_uint nparts = (cl_uint)ps->groups;
    cl_int optim = run ? (cl_int)run->optimizer : 0;
    cl_int flags = run ? (cl_int)run->optim_flags : 0;
    cl_int nlog = run ? run->nlog : 0;
    cl_int stride = run ? run->curve_stride : 1;
    cg_status s;
    if (ps->chunked)
        s = cg__set_args(ctx, partials, what, sizeof(cl_mem), &m->X->mem, sizeof(cl_mem),
                         &m->y->mem, sizeof n, &n, sizeof(cl_mem), &st->transform,
                         sizeof(cl_mem), &b->params, sizeof(cl_mem), &b->hp, sizeof loss, &loss,
                         sizeof mode, &mode, sizeof ps->chunk_rows, &ps->chunk_rows,
                         sizeof(cl_mem), &b->status, sizeof honor_stop, &honor_stop,
                         sizeof(cl_mem), &b->partials, (size_t)0);
    else
        s = cg__set_args(ctx, partials, what, sizeof(cl_mem), &m->X->mem, sizeof(cl_mem),
                         &m->y->mem, sizeof n, &n, sizeof(cl_mem), &st->transform,
                         sizeof(cl_mem), &b->params, sizeof(cl_mem), &b->hp, sizeof loss, &loss,
                         sizeof mode, &mode, sizeof(cl_mem), &b->status, sizeof honor_stop,
                         &honor_stop, sizeof(cl_mem), &b->partials,
                         ps->local * GROUP_BATCH * sizeof(float), (const void *)NULL,
                         (size_t)0);
    if (s) return s;
    s = cg__launch(ctx, partials, ps->groups * ps->local, ps->local, what);
    if (s) return s;
    s = cg__set_args(ctx, finish, what, sizeof(cl_mem), &b->partials, sizeof nparts, &nparts,
                     sizeof n, &n, sizeof(cl_mem), &b->hp, sizeof optim, &optim, sizeof flags,
                     &flags, sizeof loss, &loss, sizeof mode, &mode, sizeof epoch, &epoch,
                     sizeof(cl_mem),
                     &b->params, sizeof(cl_mem), &b->ostate, sizeof(cl_mem), &b->log_epochs,
                     sizeof nlog, &nlog, sizeof(cl_mem), &b->records, sizeof(cl_mem), &b->curve,
                     sizeof stride, &stride, sizeof(cl_mem), &b->status, sizeof(cl_mem), &b->out,
                     (size_t)0);
    if (s) return s;
    return cg__launch(ctx, finish, 1, 1, what);
}

/* Allocates what both device paths need and uploads the run's inputs. */
static cg_status buffers_prepare(cg_linreg *m, run_buffers *b, const cg__linreg_run *run,
                                 const float *params, const float *hp, size_t partial_groups,
                                 const char *what)
{
    cg_context *ctx = m->ctx;
    size_t P = cg__linreg_nparams(m);
    int nlog = run ? run->nlog : 0;
    b->params = get_buffer(ctx, P * sizeof(float), &b->params_b, what);
    b->hp = get_buffer(ctx, CG_B_COUNT * sizeof(float), &b->hp_b, what);
    b->log_epochs = get_buffer(ctx, (size_t)nlog * sizeof(cl_int), &b->log_b, what);
    b->records = get_buffer(ctx, (size_t)(nlog + 1) * cg__linreg_record_len(m) * sizeof(float),
                            &b->records_b, what);
    b->curve = get_buffer(ctx, (run ? run->curve_count : 1) * sizeof(float), &b->curve_b, what);
    b->status = get_buffer(ctx, CG__ST_COUNT * sizeof(cl_int), &b->status_b, what);
    b->out = get_buffer(ctx, (1 + P) * sizeof(float), &b->out_b, what);
    b->partials = get_buffer(ctx, partial_groups * NSUM(m->features) * sizeof(float),
                             &b->partials_b, what);
    b->ostate = get_buffer(ctx, CG_OPT_STATE_SLOTS * P * sizeof(float), &b->ostate_b, what);
    if (ctx->status) return ctx->status;

    /* Non-blocking: params, hp and the schedule outlive the run, which ends
     * in a blocking read on this in-order queue. */
    cg__write(ctx, b->params, 0, P * sizeof(float), params, false, what);
    cg__write(ctx, b->hp, 0, CG_B_COUNT * sizeof(float), hp, false, what);
    if (nlog)
        cg__write(ctx, b->log_epochs, 0, (size_t)nlog * sizeof(cl_int), run->log_epochs, false,
                  what);
    cg__fill_zero(ctx, b->status, b->status_b, what);
    cg__fill_zero(ctx, b->ostate, b->ostate_b, what);
    return ctx->status;
}

/* Reads everything a run produced with one wait: the reads are queued in
 * order and only the last blocks. */
static cg_status read_outputs(cg_linreg *m, run_buffers *b, cg__linreg_run *run, const char *what)
{
    cg_context *ctx = m->ctx;
    size_t P = cg__linreg_nparams(m);
    float final_loss = 0.0f;
    cl_int status[CG__ST_COUNT];
    cg__read(ctx, b->params, 0, P * sizeof(float), run->params, false, what);
    cg__read(ctx, b->records, 0, (size_t)(run->nlog + 1) * cg__linreg_record_len(m) * sizeof(float),
             run->records, false, what);
    cg__read(ctx, b->curve, 0, run->curve_count * sizeof(float), run->curve, false, what);
    cg__read(ctx, b->out, 0, sizeof final_loss, &final_loss, false, what);
    cg__read(ctx, b->status, 0, sizeof status, status, true, what);
    if (ctx->status) return ctx->status;
    run->final_loss = final_loss;
    run->epochs_run = status[CG__ST_EPOCHS];
    run->stopped = status[CG__ST_STOPPED];
    run->logged = status[CG__ST_LOGGED];
    return CG_OK;
}

static cg_status run_single(cg_linreg *m, cg__linreg_run *run, const char *what)
{
    cg_context *ctx = m->ctx;
    char opts[64];
    /* GPUs: a work-group sized to the data. CPUs: one work-item (PoCL runs a
     * work-group on one core anyway), with no barrier in the kernel. */
    size_t local = 1;
    if (ctx->gpu_shapes) {
        size_t cap = pow2_floor(ctx->info.max_work_group_size < 256 ? ctx->info.max_work_group_size
                                                                    : 256);
        while (local < m->n && local < cap) local *= 2;
    }
    const bool grouped = ctx->gpu_shapes;
    cl_kernel k = cg__kernel(ctx, CG__PROGRAM_LINREG, feature_options(m, opts, sizeof opts),
                             grouped ? "cg_linreg_fit_single" : "cg_linreg_fit_single_item");
    if (!k) return ctx->status;
    run_buffers b = {0};
    if (buffers_prepare(m, &b, run, run->init, run->hp, 1, what)) {
        buffers_release(ctx, &b);
        return ctx->status;
    }
    const cl_linreg_state *st = m->state;
    cl_uint n = (cl_uint)m->n;
    cl_int optim = run->optimizer, flags = run->optim_flags, loss = run->loss, mode = run->mode;
    cl_int epochs = run->epochs;
    cl_int nlog = run->nlog, stride = run->curve_stride;
    double t0 = cg__now_seconds();
    cg__set_args(ctx, k, what, sizeof(cl_mem), &m->X->mem, sizeof(cl_mem), &m->y->mem, sizeof n,
                 &n, sizeof(cl_mem), &st->transform, sizeof(cl_mem), &b.params, sizeof(cl_mem),
                 &b.hp, sizeof optim, &optim, sizeof flags, &flags, sizeof loss, &loss,
                 sizeof mode, &mode,
                 sizeof epochs, &epochs, sizeof(cl_mem), &b.log_epochs, sizeof nlog, &nlog,
                 sizeof(cl_mem), &b.records, sizeof(cl_mem), &b.curve, sizeof stride, &stride,
                 sizeof(cl_mem), &b.status, sizeof(cl_mem), &b.out,
                 grouped ? local * GROUP_BATCH * sizeof(float) : (size_t)0, (const void *)NULL,
                 (size_t)0);
    cg__launch(ctx, k, local, local, what);
    read_outputs(m, &b, run, what);
    run->seconds = cg__now_seconds() - t0;
    run->path_used = CG_PATH_SINGLE_LAUNCH;
    buffers_release(ctx, &b);
    return ctx->status;
}

/* The data pass's shape for m and its two kernels (the partial sums in that
 * shape, then the finish); false (error on ctx) when a build fails. */
static bool pass_kernels(cg_linreg *m, pass_shape *ps, cl_kernel *partials, cl_kernel *finish)
{
    char opts[64];
    feature_options(m, opts, sizeof opts);
    *ps = choose_pass(m);
    *partials = cg__kernel(m->ctx, CG__PROGRAM_LINREG, opts,
                           ps->chunked ? "cg_linreg_partials_chunked"
                                       : "cg_linreg_partials_strided");
    *finish = cg__kernel(m->ctx, CG__PROGRAM_LINREG, opts, "cg_linreg_finish");
    return *partials && *finish;
}

static cg_status run_per_epoch(cg_linreg *m, cg__linreg_run *run, const char *what)
{
    cg_context *ctx = m->ctx;
    pass_shape ps;
    cl_kernel partials, finish;
    if (!pass_kernels(m, &ps, &partials, &finish)) return ctx->status;
    run_buffers b = {0};
    if (buffers_prepare(m, &b, run, run->init, run->hp, ps.groups, what)) {
        buffers_release(ctx, &b);
        return ctx->status;
    }
    double t0 = cg__now_seconds();
    for (int epoch = 1; epoch <= run->epochs && !ctx->status; epoch++) {
        enqueue_epoch(m, &ps, partials, finish, &b, run, run->loss, run->mode, epoch, what);
        if (epoch % EPOCHS_PER_SYNC == 0 && epoch < run->epochs) {
            cl_int stopped = 0;
            cg__read(ctx, b.status, CG__ST_STOPPED * sizeof(cl_int), sizeof stopped, &stopped,
                     true, what);
            if (stopped) break;
        }
    }
    enqueue_epoch(m, &ps, partials, finish, &b, run, run->loss, CG_GRAD_ANALYTIC,
                  CG__FINISH_FINAL, what);
    read_outputs(m, &b, run, what);
    run->seconds = cg__now_seconds() - t0;
    run->path_used = CG_PATH_PER_EPOCH;
    buffers_release(ctx, &b);
    return ctx->status;
}

cg_status cg__cl_linreg_run(cg_linreg *m, cg__linreg_run *run)
{
    cg_fit_path path = run->path;
    if (path == CG_PATH_AUTO) {
        size_t limit = m->ctx->gpu_shapes ? SINGLE_LAUNCH_MAX_ELEMENTS_GPU
                                                           : SINGLE_LAUNCH_MAX_ELEMENTS_CPU;
        path = m->n * (m->features + 1) <= limit ? CG_PATH_SINGLE_LAUNCH : CG_PATH_PER_EPOCH;
    }
    return path == CG_PATH_SINGLE_LAUNCH ? run_single(m, run, "cg_linreg_fit")
                                         : run_per_epoch(m, run, "cg_linreg_fit");
}

cg_status cg__cl_linreg_eval(cg_linreg *m, const float *params, const float *hp,
                                 cg_loss_kind loss, cg_grad_mode mode, float *out)
{
    static const char what[] = "cg_linreg_eval";
    cg_context *ctx = m->ctx;
    pass_shape ps;
    cl_kernel partials, finish;
    if (!pass_kernels(m, &ps, &partials, &finish)) return ctx->status;
    run_buffers b = {0};
    if (buffers_prepare(m, &b, NULL, params, hp, ps.groups, what) == CG_OK &&
        enqueue_epoch(m, &ps, partials, finish, &b, NULL, (int)loss, (int)mode, CG__FINISH_EVAL,
                      what) == CG_OK)
        cg__read(ctx, b.out, 0, (1 + cg__linreg_nparams(m)) * sizeof(float), out, true, what);
    buffers_release(ctx, &b);
    return ctx->status;
}
