/* The linear model on the reference path (the reference backend's linreg_*
 * entries): straight loops, element-wise arithmetic in float as the device
 * (and torch) does it, every reduction accumulated in double. Read this to
 * know what linreg.cl must compute. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../linreg_internal.h"

/* The loops read the data and the transform where they are, on the host:
 * there is nothing to upload and no state to keep. */
cg_status cg__ref_linreg_prepare(cg_linreg *m, const char *what)
{
    (void)what;
    return m->ctx->status;
}

void cg__ref_linreg_release(cg_linreg *m) { (void)m; }

static float point_loss(float r, cg_loss_kind loss)
{
    return loss == CG_LOSS_MSE ? r * r : fabsf(r);
}

static float point_dloss(float r, cg_loss_kind loss)
{
    if (loss == CG_LOSS_MSE) return r;
    return r > 0.0f ? 1.0f : r < 0.0f ? -1.0f : 0.0f;
}

/* w.x + b, with parameter alt_k (if >= 0) replaced by alt. */
static float predict(const float *xr, size_t F, const float *p, long alt_k, float alt)
{
    float acc = (alt_k == 0 ? alt : p[0]) * xr[0];
    for (size_t j = 1; j < F; j++) acc += (alt_k == (long)j ? alt : p[j]) * xr[j];
    return acc + (alt_k == (long)F ? alt : p[F]);
}

/* Loss (returned) and gradient g[F+1] at params p. */
static float loss_grad(const cg_linreg *m, const float *p, cg_loss_kind loss, cg_grad_mode mode,
                       float delta, float *g)
{
    const size_t F = m->features, P = F + 1, n = m->n;
    const float *X = m->X->host, *y = m->y->host;
    double sums[1 + 2 * (CG__LINREG_MAX_FEATURES + 1)] = {0};
    float xr[CG__LINREG_MAX_FEATURES];
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < F; j++) xr[j] = (X[i * F + j] - m->shift[j]) * m->scale[j];
        float r = predict(xr, F, p, -1, 0.0f) - y[i];
        sums[0] += point_loss(r, loss);
        if (mode == CG_GRAD_ANALYTIC) {
            float d = point_dloss(r, loss);
            for (size_t j = 0; j < F; j++) sums[1 + j] += d * xr[j];
            sums[1 + F] += d;
        } else {
            for (size_t k = 0; k < P; k++) {
                sums[1 + 2 * k] += point_loss(predict(xr, F, p, (long)k, p[k] + delta) - y[i], loss);
                sums[2 + 2 * k] += point_loss(predict(xr, F, p, (long)k, p[k] - delta) - y[i], loss);
            }
        }
    }
    if (g) {
        for (size_t k = 0; k < P; k++) {
            if (mode == CG_GRAD_ANALYTIC)
                g[k] = (float)((loss == CG_LOSS_MSE ? 2.0 : 1.0) * sums[1 + k] / (double)n);
            else
                g[k] = (float)((sums[1 + 2 * k] / (double)n - sums[2 + 2 * k] / (double)n) /
                               (2.0 * (double)delta));
        }
    }
    return (float)(sums[0] / (double)n);
}

static void write_record(float *rec, float loss, const float *p, const float *g, size_t P)
{
    rec[0] = loss;
    memcpy(rec + 1, p, P * sizeof *p);
    memcpy(rec + 1 + P, g, P * sizeof *g);
}

cg_status cg__ref_linreg_run(cg_linreg *m, cg__linreg_run *run)
{
    const size_t P = cg__linreg_nparams(m), rec_len = cg__linreg_record_len(m);
    float p[CG__LINREG_MAX_FEATURES + 1], g[CG__LINREG_MAX_FEATURES + 1];
    float s0[CG__LINREG_MAX_FEATURES + 1], s1[CG__LINREG_MAX_FEATURES + 1];
    float s2[CG__LINREG_MAX_FEATURES + 1], h[CG_H_COUNT];
    memcpy(p, run->init, P * sizeof *p);
    for (size_t k = 0; k < P; k++) { /* as linreg.cl's cg_init_state */
        s0[k] = run->hp[CG_B_INIT];
        s1[k] = run->hp[CG_B_INIT + 1];
        s2[k] = run->hp[CG_B_INIT + 2];
    }
    const float *hp = run->hp;
    double t0 = cg__now_seconds();
    run->epochs_run = run->stopped = run->logged = 0;
    for (int epoch = 1; epoch <= run->epochs; epoch++) {
        float loss = loss_grad(m, p, run->loss, run->mode, hp[CG_B_DELTA], g);
        cg__ref_optim_scalars((int)run->optimizer, hp, epoch, h);
        int flags = cg__optim_step_flags(run->optim_flags, epoch, h);
        for (size_t k = 0; k < P; k++)
            p[k] = cg__ref_optim_rule((int)run->optimizer, flags, h, p[k], g[k], &s0[k], &s1[k],
                                      &s2[k]);
        if ((epoch - 1) % run->curve_stride == 0)
            run->curve[(epoch - 1) / run->curve_stride] = loss;
        if (run->logged < run->nlog && run->log_epochs[run->logged] == epoch)
            write_record(run->records + (size_t)run->logged++ * rec_len, loss, p, g, P);
        write_record(run->records + (size_t)run->nlog * rec_len, loss, p, g, P);
        run->epochs_run = epoch;
        if (!isfinite(loss)) {
            run->stopped = 1;
            break;
        }
    }
    run->final_loss = loss_grad(m, p, run->loss, CG_GRAD_ANALYTIC, 0.0f, NULL);
    memcpy(run->params, p, P * sizeof *p);
    run->seconds = cg__now_seconds() - t0;
    run->path_used = run->path == CG_PATH_AUTO ? CG_PATH_SINGLE_LAUNCH : run->path;
    return CG_OK;
}

cg_status cg__ref_linreg_eval(cg_linreg *m, const float *params, const float *hp,
                              cg_loss_kind loss, cg_grad_mode mode, float *out)
{
    out[0] = loss_grad(m, params, loss, mode, hp[CG_B_DELTA], out + 1);
    return CG_OK;
}
