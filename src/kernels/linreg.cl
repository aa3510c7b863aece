/* linreg.cl: the fused linear model y = X.w + b (F features, F+1 params).
 *
 * One pass over the data gives K sums from which the loss and the gradient
 * follow: analytic mode sums loss(r), dloss(r) * x_j and dloss(r), with
 * r = p - y; numeric mode sums loss(r) and, for each parameter, the losses
 * with that parameter moved by +delta and -delta (the lecture's central
 * differences). Features are transformed on the fly, x' = (x - shift) * scale,
 * so normalization costs no extra pass and no second copy of X.
 *
 * Kernels:
 *   cg_linreg_fit_single        every epoch in one launch, one work-group
 *                               (small data: only the history comes back)
 *   cg_linreg_fit_single_item   the same for a single work-item (CPU devices)
 *   cg_linreg_partials_chunked  one epoch's sums, a contiguous chunk per
 *                               work-item with vector loads (CPU devices)
 *   cg_linreg_partials_strided  the same, grid-stride loop plus a local tree
 *                               per work-group (GPU devices)
 *   cg_linreg_finish            combines the partial sums in a fixed order and
 *                               applies the update (or reports an evaluation)
 *
 * Tuning: CG_NFEAT (features, a build option), CG_BLOCK (rows summed in float
 * before a compensated add into the running totals; bounds rounding error on
 * long chunks). Host launches: src/host/backend/cl_linreg.c.
 */
#pragma OPENCL FP_CONTRACT OFF

#ifndef CG_NFEAT
#define CG_NFEAT 1
#endif
#define CG_NPARAM (CG_NFEAT + 1)
#define CG_NSUM (1 + 2 * CG_NPARAM) /* room for the numeric mode's sums */
#define CG_BLOCK 256

/* Every helper is inlined, and the loops over parameters and sums unrolled
 * for small models: PoCL's LLVM left the row sums as a call inside the epoch
 * loop of the single-launch trainer and kept the small arrays (sums,
 * parameters, gradient) on the stack, which was a third of an 11-row epoch.
 * (The optimizer rule stays a call: inlining all nine, one per kind, cost
 * ~90 ms more of PoCL compile for under 1 ns an epoch.) */
#define CG_INLINE inline __attribute__((always_inline))
#if CG_NFEAT <= 8
#define CG_UNROLL _Pragma("unroll")
#else
#define CG_UNROLL
#endif

/* Vector width of the one-feature fast path: 16 floats fill an AVX-512
 * register on CPUs (PoCL maps vector types onto the host's SIMD). */
#ifndef CG_VEC
#define CG_VEC 16
#endif
#if CG_VEC == 16
typedef float16 cg_floatv;
#define CG_VLOAD vload16
CG_INLINE float cg_hsum(float16 v)
{
    float8 a = v.lo + v.hi;
    float4 b = a.lo + a.hi;
    float2 c = b.lo + b.hi;
    return c.x + c.y;
}
#elif CG_VEC == 8
typedef float8 cg_floatv;
#define CG_VLOAD vload8
CG_INLINE float cg_hsum(float8 v)
{
    float4 b = v.lo + v.hi;
    float2 c = b.lo + b.hi;
    return c.x + c.y;
}
#else
typedef float4 cg_floatv;
#define CG_VLOAD vload4
CG_INLINE float cg_hsum(float4 v)
{
    float2 c = v.lo + v.hi;
    return c.x + c.y;
}
#endif

#define CG_LOSS_MSE 0
#define CG_LOSS_L1 1
#define CG_MODE_ANALYTIC 0
#define CG_MODE_NUMERIC 1

/* status[] words, shared with the host */
#define CG_ST_EPOCHS 0   /* epochs run so far */
#define CG_ST_STOPPED 1  /* the loss went inf or NaN */
#define CG_ST_LOGGED 2   /* log records written */
#define CG_ST_COUNT 4

/* finish kernel modes (epoch > 0 trains that epoch) */
#define CG_FINISH_EVAL 0
#define CG_FINISH_FINAL -1

CG_INLINE float cg_point_loss(float r, int loss)
{
    return loss == CG_LOSS_MSE ? r * r : fabs(r);
}

/* d loss / d r up to the constant the epilogue applies (2 for MSE). sign()
 * is 0 at 0, as torch's abs backward. */
CG_INLINE float cg_point_dloss(float r, int loss)
{
    return loss == CG_LOSS_MSE ? r : sign(r);
}

/* Compensated add that keeps inf as inf (a plain Kahan step would turn
 * inf into NaN through inf - inf, hiding how a run diverged). */
CG_INLINE void cg_kahan_add(float *sum, float *comp, float v)
{
    float yk = v - *comp;
    float t = *sum + yk;
    if (!isfinite(t)) {
        *sum = t;
        *comp = 0.0f;
        return;
    }
    *comp = (t - *sum) - yk;
    *sum = t;
}

/* w.x + b with parameter `alt_k` replaced by `alt` (alt_k = -1: none). The
 * order is the lecture's w * x + b. */
CG_INLINE float cg_predict(const float *xr, const float *p, int alt_k, float alt)
{
    float acc = (alt_k == 0 ? alt : p[0]) * xr[0];
    for (int j = 1; j < CG_NFEAT; j++) acc += (alt_k == j ? alt : p[j]) * xr[j];
    return acc + (alt_k == CG_NFEAT ? alt : p[CG_NFEAT]);
}

CG_INLINE int cg_nsum(int mode)
{
    return mode == CG_MODE_ANALYTIC ? 1 + CG_NPARAM : 1 + 2 * CG_NPARAM;
}

/* Adds row i's contributions into acc[0 .. cg_nsum(mode)). */
CG_INLINE void cg_row_accumulate(__global const float *X, __global const float *y, size_t i,
                              const float *shift, const float *scale, const float *p, int loss,
                              int mode, float delta, float *acc)
{
    float xr[CG_NFEAT];
    for (int j = 0; j < CG_NFEAT; j++) xr[j] = (X[i * CG_NFEAT + j] - shift[j]) * scale[j];
    float yi = y[i];
    float r = cg_predict(xr, p, -1, 0.0f) - yi;
    acc[0] += cg_point_loss(r, loss);
    if (mode == CG_MODE_ANALYTIC) {
        float d = cg_point_dloss(r, loss);
        for (int j = 0; j < CG_NFEAT; j++) acc[1 + j] += d * xr[j];
        acc[1 + CG_NFEAT] += d;
    } else {
        for (int k = 0; k < CG_NPARAM; k++) {
            acc[1 + 2 * k] += cg_point_loss(cg_predict(xr, p, k, p[k] + delta) - yi, loss);
            acc[2 + 2 * k] += cg_point_loss(cg_predict(xr, p, k, p[k] - delta) - yi, loss);
        }
    }
}

CG_INLINE void cg_load_transform(__global const float *tf, float *shift, float *scale)
{
    for (int j = 0; j < CG_NFEAT; j++) {
        shift[j] = tf[j];
        scale[j] = tf[CG_NFEAT + j];
    }
}

/* Sums over rows [begin, end): blocks of CG_BLOCK rows in float, blocks
 * combined with compensation. One feature in analytic mode (the lecture's
 * model, and the bandwidth-bound case) reads CG_VEC floats at a time. */
CG_INLINE void cg_rows_sums(__global const float *X, __global const float *y, size_t begin,
                         size_t end, const float *shift, const float *scale, const float *p,
                         int loss, int mode, float delta, float *out)
{
    const int nsum = cg_nsum(mode);
    float comp[CG_NSUM];
    CG_UNROLL for (int k = 0; k < CG_NSUM; k++) out[k] = comp[k] = 0.0f;
    size_t i = begin;
#if CG_NFEAT == 1
    if (mode == CG_MODE_ANALYTIC) {
        /* Scalars, not the arrays: in the single-launch trainer these sums
         * are the epoch's critical path, and PoCL kept arrays on the stack. */
        const float w = p[0], b = p[1], sh = shift[0], sc = scale[0];
        float o0 = 0.0f, o1 = 0.0f, o2 = 0.0f, c0 = 0.0f, c1 = 0.0f, c2 = 0.0f;
        while (i < end) {
            size_t block_end = min(end, i + CG_BLOCK);
            cg_floatv a0 = (cg_floatv)(0.0f), a1 = (cg_floatv)(0.0f), a2 = (cg_floatv)(0.0f);
            /* The loss is uniform: one loop per loss keeps the body branch-free.
             * The rows after the last full vector add on in order, as
             * cg_row_accumulate would add them. */
            float s0, s1, s2;
            if (loss == CG_LOSS_MSE) {
                for (; i + CG_VEC <= block_end; i += CG_VEC) {
                    cg_floatv x = (CG_VLOAD(0, X + i) - sh) * sc;
                    cg_floatv r = (w * x + b) - CG_VLOAD(0, y + i);
                    a0 += r * r;
                    a1 += r * x;
                    a2 += r;
                }
                s0 = cg_hsum(a0);
                s1 = cg_hsum(a1);
                s2 = cg_hsum(a2);
                for (; i < block_end; i++) {
                    float x = (X[i] - sh) * sc;
                    float r = (w * x + b) - y[i];
                    s0 += r * r;
                    s1 += r * x;
                    s2 += r;
                }
            } else {
                for (; i + CG_VEC <= block_end; i += CG_VEC) {
                    cg_floatv x = (CG_VLOAD(0, X + i) - sh) * sc;
                    cg_floatv r = (w * x + b) - CG_VLOAD(0, y + i);
                    cg_floatv d = sign(r);
                    a0 += fabs(r);
                    a1 += d * x;
                    a2 += d;
                }
                s0 = cg_hsum(a0);
                s1 = cg_hsum(a1);
                s2 = cg_hsum(a2);
                for (; i < block_end; i++) {
                    float x = (X[i] - sh) * sc;
                    float r = (w * x + b) - y[i];
                    float d = sign(r);
                    s0 += fabs(r);
                    s1 += d * x;
                    s2 += d;
                }
            }
            cg_kahan_add(&o0, &c0, s0);
            cg_kahan_add(&o1, &c1, s1);
            cg_kahan_add(&o2, &c2, s2);
        }
        out[0] = o0;
        out[1] = o1;
        out[2] = o2;
        return;
    }
#endif
    while (i < end) {
        size_t block_end = min(end, i + CG_BLOCK);
        float s[CG_NSUM];
        for (int k = 0; k < nsum; k++) s[k] = 0.0f;
        for (; i < block_end; i++)
            cg_row_accumulate(X, y, i, shift, scale, p, loss, mode, delta, s);
        for (int k = 0; k < nsum; k++) cg_kahan_add(&out[k], &comp[k], s[k]);
    }
}

/* Sums of v[0 .. count) over the work-group (size a power of two), each in
 * the same fixed tree order; every work-item gets the totals. count is at
 * most CG_GROUP_BATCH and scratch holds CG_GROUP_BATCH floats per work-item.
 * Called by all work-items alike. The sums of a batch share their barriers:
 * on PoCL every barrier ends a loop over the work-items, and an epoch of the
 * single-launch trainer summed its three sums one after another (18
 * barriers, now 6). */
#define CG_GROUP_BATCH 8
CG_INLINE void cg_group_sums(__local float *scratch, float *v, int count)
{
    const size_t lid = get_local_id(0), size = get_local_size(0);
    for (int k = 0; k < count; k++) scratch[k * size + lid] = v[k];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (size_t width = size / 2; width > 0; width /= 2) {
        if (lid < width)
            for (int k = 0; k < count; k++)
                scratch[k * size + lid] += scratch[k * size + lid + width];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    for (int k = 0; k < count; k++) v[k] = scratch[k * size];
    barrier(CLK_LOCAL_MEM_FENCE);
}

/* Every one of v[0 .. count) summed over the work-group, a batch at a time. */
CG_INLINE void cg_group_sums_all(__local float *scratch, float *v, int count)
{
    for (int k = 0; k < count; k += CG_GROUP_BATCH)
        cg_group_sums(scratch, v + k, min(count - k, CG_GROUP_BATCH));
}

/* Loss and gradient of the parameters from the data sums. */
CG_INLINE float cg_loss_grad(const float *s, float n, int loss, int mode, float delta, float *g)
{
    if (mode == CG_MODE_ANALYTIC) {
        const float f = loss == CG_LOSS_MSE ? 2.0f : 1.0f;
        CG_UNROLL for (int k = 0; k < CG_NPARAM; k++) g[k] = f * s[1 + k] / n;
    } else {
        CG_UNROLL for (int k = 0; k < CG_NPARAM; k++)
            g[k] = (s[1 + 2 * k] / n - s[2 + 2 * k] / n) / (2.0f * delta);
    }
    return s[0] / n;
}

/* The group's hyper-parameters (optim_defs.clh layout) in private memory:
 * read once per launch rather than once per epoch. */
CG_INLINE void cg_load_base(__global const float *hp, float *b)
{
    for (int k = 0; k < CG_B_COUNT; k++) b[k] = hp[k];
}

/* Optimizer state at the start of a run, as the host's optimizer table
 * says (the base array's CG_B_INIT entries). */
CG_INLINE void cg_init_state(const float *b, float *s0, float *s1, float *s2)
{
    CG_UNROLL for (int k = 0; k < CG_NPARAM; k++) {
        s0[k] = b[CG_B_INIT];
        s1[k] = b[CG_B_INIT + 1];
        s2[k] = b[CG_B_INIT + 2];
    }
}

/* Whether an optimizer's step scalars (h[]) may change with the step (the
 * bias corrections, Adagrad's decayed rate, ASGD's eta and mu). The kinds
 * listed read only the hyper-parameters in cg_optim_scalars and keep the h[]
 * of step 1 for the whole run; any other is recomputed every step. */
CG_INLINE int cg_scalars_vary(int optim)
{
    return !(optim == CG_OPT_SGD || optim == CG_OPT_ADADELTA || optim == CG_OPT_RMSPROP ||
             optim == CG_OPT_RPROP);
}

/* One optimizer step on every parameter (step counts from 1). h[] holds the
 * scalars of an earlier step (cg_optim_scalars) and is brought to this step's
 * where they vary. */
CG_INLINE void cg_update(int optim, int flags, const float *b, int step, float *h, float *p,
                         float *s0, float *s1, float *s2, const float *g)
{
    if (cg_scalars_vary(optim)) cg_optim_scalars(optim, b, step, h);
    int f = cg_optim_step_flags(flags, step, h);
    CG_UNROLL for (int k = 0; k < CG_NPARAM; k++)
        p[k] = cg_optim_rule(optim, f, h, p[k], g[k], &s0[k], &s1[k], &s2[k]);
}

/* Writes a log record: loss, params (after the update), grad. */
CG_INLINE void cg_write_record(__global float *rec, float loss, const float *p, const float *g)
{
    rec[0] = loss;
    for (int k = 0; k < CG_NPARAM; k++) {
        rec[1 + k] = p[k];
        rec[1 + CG_NPARAM + k] = g[k];
    }
}

/* What a run has written so far, kept in registers and stored once at the
 * end (records[nlog], the last epoch's, and the status words). */
typedef struct cg_run_book {
    int epochs, stopped, logged, curve_next, curve_at;
    float loss;
} cg_run_book;

CG_INLINE cg_run_book cg_book_start(void)
{
    cg_run_book k = {0, 0, 0, 1, 0, 0.0f};
    return k;
}

/* One epoch's bookkeeping after the update: the loss curve (every
 * curve_stride-th epoch from the first), the log record if this epoch is
 * logged, the stop flag. Returns nonzero when the run stops. */
CG_INLINE int cg_epoch_done(cg_run_book *k, int epoch, float loss, const float *p,
                            const float *g, __global const int *log_epochs, int nlog,
                            __global float *records, __global float *curve, int curve_stride,
                            int writer)
{
    const int rec_len = 1 + 2 * CG_NPARAM;
    if (epoch == k->curve_next) {
        if (writer) curve[k->curve_at] = loss;
        k->curve_at++;
        k->curve_next += curve_stride;
    }
    if (k->logged < nlog && log_epochs[k->logged] == epoch) {
        if (writer) cg_write_record(records + (size_t)k->logged * rec_len, loss, p, g);
        k->logged++;
    }
    k->epochs = epoch;
    k->loss = loss;
    k->stopped = !isfinite(loss);
    return k->stopped;
}

/* The end of a run: record slot nlog holds the last epoch run, whatever the
 * schedule, and the status words what happened. */
CG_INLINE void cg_book_finish(const cg_run_book *k, const float *p, const float *g, int nlog,
                              __global float *records, __global int *status)
{
    if (k->epochs > 0)
        cg_write_record(records + (size_t)nlog * (1 + 2 * CG_NPARAM), k->loss, p, g);
    status[CG_ST_EPOCHS] = k->epochs;
    status[CG_ST_STOPPED] = k->stopped;
    status[CG_ST_LOGGED] = k->logged;
}

/* The whole run in one work-group (size a power of two). Every work-item
 * sums a contiguous slice, the group combines the sums, and each work-item
 * then applies the same update to its private copy of the parameters (same
 * inputs, same arithmetic, same result), so no broadcast is needed; work-item
 * 0 alone writes. The epoch loop has the same trip count in every work-item
 * and barriers outside any divergent branch (PoCL has miscompiled the
 * alternatives); after a stop the remaining epochs do no work.
 * `grouped` is a constant at each call: 0 compiles the body without any
 * barrier, for one work-item on CPU devices, where PoCL would otherwise keep
 * every private variable live across barriers in memory. */
CG_INLINE void cg_fit_single_body(__global const float *X, __global const float *y, const uint n,
                               __global const float *tf, __global float *params,
                               __global const float *hp, const int optim, const int flags,
                               const int loss, const int mode, const int epochs,
                               __global const int *log_epochs, const int nlog,
                               __global float *records, __global float *curve,
                               const int curve_stride, __global int *status,
                               __global float *final_loss, __local float *scratch,
                               const int grouped)
{
    const size_t lid = grouped ? get_local_id(0) : 0, size = grouped ? get_local_size(0) : 1;
    const size_t begin = (size_t)n * lid / size, end = (size_t)n * (lid + 1) / size;
    float b[CG_B_COUNT];
    cg_load_base(hp, b);
    const float delta = b[CG_B_DELTA];
    const int nsum = cg_nsum(mode);
    float shift[CG_NFEAT], scale[CG_NFEAT];
    cg_load_transform(tf, shift, scale);
    float p[CG_NPARAM], s0[CG_NPARAM], s1[CG_NPARAM], s2[CG_NPARAM], g[CG_NPARAM];
    CG_UNROLL for (int k = 0; k < CG_NPARAM; k++) p[k] = params[k];
    CG_UNROLL for (int k = 0; k < CG_NPARAM; k++) g[k] = 0.0f;
    cg_init_state(b, s0, s1, s2);
    float h[CG_H_COUNT];
    cg_optim_scalars(optim, b, 1, h);
    cg_run_book book = cg_book_start();
    float s[CG_NSUM];
    if (!grouped) {
        for (int epoch = 1; epoch <= epochs; epoch++) {
            cg_rows_sums(X, y, begin, end, shift, scale, p, loss, mode, delta, s);
            float l = cg_loss_grad(s, (float)n, loss, mode, delta, g);
            cg_update(optim, flags, b, epoch, h, p, s0, s1, s2, g);
            if (cg_epoch_done(&book, epoch, l, p, g, log_epochs, nlog, records, curve,
                              curve_stride, 1))
                break;
        }
        /* The loss at the final parameters. */
        cg_rows_sums(X, y, begin, end, shift, scale, p, loss, CG_MODE_ANALYTIC, delta, s);
    } else {
        /* The pass after the last epoch sums the loss at the final
         * parameters through the same call: each call site is another
         * inlined copy of cg_rows_sums, and PoCL's compile of a kernel with
         * barriers grows fast with its size (one site: ~300 ms less). On one
         * work-item (above) two sites were ~2 ns an epoch faster. */
        for (int epoch = 1, last = epochs < 1;;) {
            if (last || !book.stopped)
                cg_rows_sums(X, y, begin, end, shift, scale, p, loss,
                             last ? CG_MODE_ANALYTIC : mode, delta, s);
            cg_group_sums_all(scratch, s, last ? 1 : nsum);
            if (last) break;
            if (!book.stopped) {
                float l = cg_loss_grad(s, (float)n, loss, mode, delta, g);
                cg_update(optim, flags, b, epoch, h, p, s0, s1, s2, g);
                cg_epoch_done(&book, epoch, l, p, g, log_epochs, nlog, records, curve,
                              curve_stride, lid == 0);
            }
            last = epoch == epochs; /* a stopped run passes every barrier as often */
            if (!last) epoch++;
        }
    }
    if (lid == 0) {
        final_loss[0] = s[0] / (float)n;
        for (int k = 0; k < CG_NPARAM; k++) params[k] = p[k];
        cg_book_finish(&book, p, g, nlog, records, status);
    }
}

#define CG_FIT_SINGLE_PARAMS                                                                  \
    __global const float *X, __global const float *y, const uint n, __global const float *tf, \
        __global float *params, __global const float *hp, const int optim, const int flags,   \
        const int loss, const int mode, const int epochs, __global const int *log_epochs, const int nlog,     \
        __global float *records, __global float *curve, const int curve_stride,               \
        __global int *status, __global float *final_loss
#define CG_FIT_SINGLE_ARGS                                                                    \
    X, y, n, tf, params, hp, optim, flags, loss, mode, epochs, log_epochs, nlog, records, curve, \
        curve_stride, status, final_loss

__kernel void cg_linreg_fit_single(CG_FIT_SINGLE_PARAMS, __local float *scratch)
{
    cg_fit_single_body(CG_FIT_SINGLE_ARGS, scratch, 1);
}

/* One work-item (CPU devices): the same run without barriers. */
__kernel void cg_linreg_fit_single_item(CG_FIT_SINGLE_PARAMS)
{
    cg_fit_single_body(CG_FIT_SINGLE_ARGS, 0, 0);
}

/* Stops early when the run has stopped, unless honor_stop is 0 (the final
 * evaluation runs regardless). */
#define CG_PARTIALS_PROLOGUE                                                   \
    if (honor_stop && status[CG_ST_STOPPED]) return;                          \
    float shift[CG_NFEAT], scale[CG_NFEAT], p[CG_NPARAM];                     \
    cg_load_transform(tf, shift, scale);                                       \
    for (int k = 0; k < CG_NPARAM; k++) p[k] = params[k];                     \
    const float delta = hp[CG_B_DELTA];                                        \
    const int nsum = cg_nsum(mode);

__kernel void cg_linreg_partials_chunked(__global const float *X, __global const float *y,
                                         const uint n, __global const float *tf,
                                         __global const float *params,
                                         __global const float *hp, const int loss,
                                         const int mode, const uint chunk_rows,
                                         __global const int *status, const int honor_stop,
                                         __global float *partials)
{
    CG_PARTIALS_PROLOGUE
    const size_t gid = get_global_id(0);
    const size_t begin = min((size_t)n, gid * chunk_rows);
    const size_t end = min((size_t)n, begin + chunk_rows);
    float s[CG_NSUM];
    cg_rows_sums(X, y, begin, end, shift, scale, p, loss, mode, delta, s);
    for (int k = 0; k < nsum; k++) partials[gid * CG_NSUM + k] = s[k];
}

__kernel void cg_linreg_partials_strided(__global const float *X, __global const float *y,
                                         const uint n, __global const float *tf,
                                         __global const float *params,
                                         __global const float *hp, const int loss,
                                         const int mode, __global const int *status,
                                         const int honor_stop, __global float *partials,
                                         __local float *scratch)
{
    CG_PARTIALS_PROLOGUE
    float s[CG_NSUM];
    for (int k = 0; k < nsum; k++) s[k] = 0.0f;
    for (size_t i = get_global_id(0); i < n; i += get_global_size(0))
        cg_row_accumulate(X, y, i, shift, scale, p, loss, mode, delta, s);
    cg_group_sums_all(scratch, s, nsum);
    if (get_local_id(0) == 0)
        for (int k = 0; k < nsum; k++) partials[get_group_id(0) * CG_NSUM + k] = s[k];
}

/* One work-item. epoch > 0: train that epoch (update params and optimizer
 * state, write the history); CG_FINISH_EVAL: write loss and gradient to out;
 * CG_FINISH_FINAL: write the loss to out[0]. */
__kernel void cg_linreg_finish(__global const float *partials, const uint nparts, const uint n,
                               __global const float *hp, const int optim, const int flags,
                               const int loss,
                               const int mode, const int epoch, __global float *params,
                               __global float *ostate, __global const int *log_epochs,
                               const int nlog, __global float *records, __global float *curve,
                               const int curve_stride, __global int *status,
                               __global float *out)
{
    if (epoch > 0 && status[CG_ST_STOPPED]) return;
    const int nsum = cg_nsum(mode);
    float s[CG_NSUM], comp[CG_NSUM], g[CG_NPARAM];
    for (int k = 0; k < nsum; k++) s[k] = comp[k] = 0.0f;
    for (uint part = 0; part < nparts; part++)
        for (int k = 0; k < nsum; k++) cg_kahan_add(&s[k], &comp[k], partials[part * CG_NSUM + k]);
    float b[CG_B_COUNT];
    cg_load_base(hp, b);
    float l = cg_loss_grad(s, (float)n, loss, mode, b[CG_B_DELTA], g);
    if (epoch == CG_FINISH_FINAL) {
        out[0] = l;
        return;
    }
    if (epoch == CG_FINISH_EVAL) {
        out[0] = l;
        for (int k = 0; k < CG_NPARAM; k++) out[1 + k] = g[k];
        return;
    }
    /* ostate: the three state slots of every parameter; epoch 1 starts them. */
    float p[CG_NPARAM], s0[CG_NPARAM], s1[CG_NPARAM], s2[CG_NPARAM];
    for (int k = 0; k < CG_NPARAM; k++) p[k] = params[k];
    if (epoch == 1) {
        cg_init_state(b, s0, s1, s2);
    } else {
        for (int k = 0; k < CG_NPARAM; k++) {
            s0[k] = ostate[k];
            s1[k] = ostate[CG_NPARAM + k];
            s2[k] = ostate[2 * CG_NPARAM + k];
        }
    }
    float h[CG_H_COUNT];
    cg_optim_scalars(optim, b, epoch, h);
    cg_update(optim, flags, b, epoch, h, p, s0, s1, s2, g);
    for (int k = 0; k < CG_NPARAM; k++) {
        params[k] = p[k];
        ostate[k] = s0[k];
        ostate[CG_NPARAM + k] = s1[k];
        ostate[2 * CG_NPARAM + k] = s2[k];
    }
    /* One epoch per launch: the run's bookkeeping lives in status[]. */
    cg_run_book book = cg_book_start();
    book.logged = status[CG_ST_LOGGED];
    book.curve_next = epoch;
    book.curve_at = (epoch - 1) / curve_stride;
    if ((epoch - 1) % curve_stride != 0) book.curve_next = 0; /* not on the curve */
    cg_epoch_done(&book, epoch, l, p, g, log_epochs, nlog, records, curve, curve_stride, 1);
    cg_book_finish(&book, p, g, nlog, records, status);
}
