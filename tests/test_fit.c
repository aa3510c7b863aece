/* cg_fit, the trainer for every model through the tape: the same numbers as
 * the loop written by hand, minibatches and their seeded order, schedules and
 * clipping, divergence, validation, checkpoints, resuming, and the options it
 * refuses. */
#include "helpers.h"

#define N 11 /* rows: batches of 4 leave one of 3 */
#define F 3

typedef struct data {
    cg_context *ctx;
    float x[N * F], y[N];
    cg_tensor *X, *Y; /* [N, F], [N, 1] */
} data;

static data data_open(void)
{
    data d;
    d.ctx = test_context();
    test_rng r = {0x5eed};
    for (size_t i = 0; i < N; i++) {
        double acc = 0.5;
        for (size_t j = 0; j < F; j++) {
            d.x[i * F + j] = rng_range(&r, -1, 1);
            acc += (double)(j + 1) * d.x[i * F + j];
        }
        d.y[i] = (float)(acc + rng_range(&r, -0.1, 0.1));
    }
    d.X = cg_tensor_from(d.ctx, d.x, CG_SHAPE(N, F));
    d.Y = cg_tensor_from(d.ctx, d.y, CG_SHAPE(N, 1));
    cr_assert_eq(cg_status_of(d.ctx), CG_OK, "%s", cg_error_message(d.ctx));
    return d;
}

static void data_close(data *d)
{
    cg_tensor_free(d->X);
    cg_tensor_free(d->Y);
    cg_context_free(d->ctx);
}

static cg_mlp *mlp(const data *d, unsigned long long seed)
{
    cg_mlp *m = cg_mlp_create(d->ctx, (size_t[]){F, 5, 1}, 3, CG_ACT_TANH, seed);
    cr_assert_not_null(m, "%s", cg_error_message(d->ctx));
    return m;
}

/* Every parameter of an MLP, flattened. */
static size_t mlp_values(cg_mlp *m, float *out)
{
    cg_tensor *p[4];
    size_t np = cg_mlp_parameters(m, p, 4), k = 0;
    for (size_t i = 0; i < np; i++) {
        size_t c = cg_tensor_numel(p[i]);
        cr_assert_eq(cg_tensor_read(p[i], out + k, c), CG_OK);
        k += c;
    }
    return k;
}

static cg_fit_options quiet(long epochs, float lr)
{
    cg_fit_options o = cg_fit_defaults();
    o.epochs = epochs;
    o.lr = lr;
    o.log_every = 0;
    return o;
}

static void fit_ok(const data *d, cg_fit_model m, const cg_fit_options *o, cg_fit_result *r)
{
    cr_assert_eq(cg_fit(&m, d->X, d->Y, o, r), CG_OK, "%s", cg_error_message(d->ctx));
}

/* The loop of the lecture's autograd chapter, with minibatches in row order;
 * the epoch's loss summed as cg_fit sums it. */
static void by_hand(const data *d, cg_mlp *m, cg_optimizer *opt, size_t batch, long epochs,
                    float *curve)
{
    cg_tensor *acc = cg_tensor_zeros(d->ctx, CG_SHAPE(1));
    for (long e = 0; e < epochs; e++) {
        cg_tensor_write(acc, (float[]){0}, 1);
        for (size_t s = 0; s < N; s += batch) {
            size_t c = s + batch <= N ? batch : N - s;
            cg_tensor *xb = c < N ? cg_slice(d->X, s, s + c) : d->X;
            cg_tensor *yb = c < N ? cg_slice(d->Y, s, s + c) : d->Y;
            cg_tensor *loss = cg_mse_loss(cg_mlp_forward(m, xb), yb, CG_REDUCTION_MEAN);
            cg_zero_grad(opt);
            cg_backward(loss);
            cg_step(opt);
            cg_add_scaled_(acc, (float)c / (float)N, loss);
            cg_tape_reset(d->ctx);
        }
        curve[e] = cg_item(acc);
    }
    cg_tensor_free(acc);
    cr_assert_eq(cg_status_of(d->ctx), CG_OK, "%s", cg_error_message(d->ctx));
}

Test(fit, an_mlp_matches_the_loop_written_by_hand_bit_for_bit)
{
    data d = data_open();
    const size_t batches[] = {0, 4};
    for (size_t b = 0; b < 2; b++) {
        cg_mlp *a = mlp(&d, 9), *h = mlp(&d, 9);
        cg_fit_options o = quiet(12, 0.01f);
        o.optimizer = CG_OPTIM_ADAM;
        o.batch_size = batches[b];
        cg_fit_result r;
        fit_ok(&d, cg_fit_model_mlp(a), &o, &r);

        cg_tensor *hp[4];
        cg_mlp_parameters(h, hp, 4);
        cg_optim_options oo = cg_optim_defaults(CG_OPTIM_ADAM);
        oo.lr = 0.01f;
        cg_optimizer *opt = cg_optimizer_create(d.ctx, CG_OPTIM_ADAM, hp, 4, &oo);
        float curve[12];
        by_hand(&d, h, opt, batches[b] ? batches[b] : N, 12, curve);

        float pa[64], ph[64];
        size_t k = mlp_values(a, pa);
        cr_assert_eq(mlp_values(h, ph), k);
        cr_assert_eq(r.nparams, k);
        cr_assert_eq(memcmp(pa, ph, k * sizeof *pa), 0, "batch %zu: the parameters", batches[b]);
        cr_assert_eq(memcmp(r.params, ph, k * sizeof *pa), 0, "the result's copy");
        cr_assert_eq(r.curve_count, 12);
        for (int e = 0; e < 12; e++) {
            cr_assert_eq(r.curve_epochs[e], e + 1);
            cr_assert(r.curve_loss[e] == curve[e], "epoch %d: %g against %g", e + 1,
                      (double)r.curve_loss[e], (double)curve[e]);
        }
        cr_assert(curve[11] < curve[0], "it learned: %g -> %g", (double)curve[0],
                  (double)curve[11]);
        cr_assert(!r.diverged && r.epochs_run == 12 && r.next_epoch == 13);
        cr_assert_eq(r.path_used, CG_PATH_TAPE);
        cr_assert_eq(r.replicas, 1);
        cr_assert(isnan(r.val_loss) && !r.val_curve_loss && !r.shuffle_order);
        cr_assert(isfinite(r.final_loss) && r.train_seconds > 0);
        cg_fit_result_free(&r);
        cg_optimizer_free(opt);
        cg_mlp_free(a);
        cg_mlp_free(h);
    }
    data_close(&d);
}

/* Params of an MLP trained with minibatches of 4, shuffled with seed. */
static void shuffled_run(const data *d, unsigned long long seed, bool shuffle, float *p)
{
    cg_mlp *m = mlp(d, 3);
    cg_fit_options o = quiet(6, 0.05f);
    o.batch_size = 4;
    o.shuffle = shuffle;
    o.seed = seed;
    cg_fit_result r;
    fit_ok(d, cg_fit_model_mlp(m), &o, &r);
    memcpy(p, r.params, r.nparams * sizeof *p);
    cr_assert_eq(r.shuffle_count, shuffle ? N : 0);
    cg_fit_result_free(&r);
    cg_mlp_free(m);
}

Test(fit, shuffled_minibatches_are_seeded)
{
    data d = data_open();
    float a[64], b[64], c[64], s[64];
    shuffled_run(&d, 11, true, a);
    shuffled_run(&d, 11, true, b);
    shuffled_run(&d, 12, true, c);
    shuffled_run(&d, 11, false, s);
    const size_t k = 26 * sizeof(float); /* 3*5 + 5 + 5 + 1 */
    cr_assert_eq(memcmp(a, b, k), 0, "same seed, same run");
    cr_assert_neq(memcmp(a, c, k), 0, "another seed, another order");
    cr_assert_neq(memcmp(a, s, k), 0, "shuffled or not");
    data_close(&d);
}

Test(fit, a_schedule_and_clipping_take_effect)
{
    data d = data_open();
    /* StepLR(1, 0.5) on the caller's optimizer: after 3 epochs lr = 0.1 / 8. */
    cg_mlp *m = mlp(&d, 1);
    cg_tensor *p[4];
    cg_mlp_parameters(m, p, 4);
    cg_optim_options oo = cg_optim_defaults(CG_OPTIM_SGD);
    oo.lr = 0.1f;
    cg_optimizer *opt = cg_optimizer_create(d.ctx, CG_OPTIM_SGD, p, 4, &oo);
    cg_scheduler_options so = cg_scheduler_defaults(CG_SCHED_STEP);
    so.step_size = 1;
    so.gamma = 0.5f;
    cg_fit_options o = quiet(3, 1.0f);
    o.use_optimizer = opt;
    o.schedule = &so;
    cg_fit_result r;
    fit_ok(&d, cg_fit_model_mlp(m), &o, &r);
    assert_close(cg_optimizer_lr(opt, 0), 0.0125, 0, 1e-6, "lr %g", (double)cg_optimizer_lr(opt, 0));
    cg_fit_result_free(&r);
    cg_optimizer_free(opt);
    cg_mlp_free(m);

    /* Clipping: SGD at lr 1 moves each parameter by at most lr * clip per
     * step, or the whole vector by lr * max_norm. */
    cg_tensor *w = cg_tensor_from(d.ctx, (float[]){0, 0, 0, 0}, CG_SHAPE(4));
    cg_set_requires_grad(w, true);
    cg_tensor *y = cg_tensor_from(d.ctx, d.y, CG_SHAPE(N));
    cg_fit_model lin = cg_fit_model_linreg(w);
    o = quiet(5, 1.0f);
    o.clip_grad_value = 1e-3f;
    cr_assert_eq(cg_fit(&lin, d.X, y, &o, &r), CG_OK, "%s", cg_error_message(d.ctx));
    float most = 0;
    for (int k = 0; k < 4; k++) most = fmaxf(most, fabsf(r.params[k]));
    assert_close(most, 5e-3, 1e-6, 0, "5 steps of 1e-3: %g", (double)most);
    cg_fit_result_free(&r);
    cg_tensor_write(w, (float[]){0, 0, 0, 0}, 4);
    o = quiet(5, 1.0f);
    o.clip_grad_norm = 1e-2f;
    cr_assert_eq(cg_fit(&lin, d.X, y, &o, &r), CG_OK, "%s", cg_error_message(d.ctx));
    double norm = 0;
    for (int k = 0; k < 4; k++) norm += (double)r.params[k] * r.params[k];
    cr_assert(sqrt(norm) <= 5e-2 * (1 + 1e-5), "5 steps of norm 1e-2 at most: %g", sqrt(norm));
    cr_assert(sqrt(norm) >= 4e-2, "the gradients were clipped, not dropped: %g", sqrt(norm));
    cg_fit_result_free(&r);
    /* Without clipping the first step alone goes further. */
    cg_tensor_write(w, (float[]){0, 0, 0, 0}, 4);
    o = quiet(1, 1.0f);
    cr_assert_eq(cg_fit(&lin, d.X, y, &o, &r), CG_OK, "%s", cg_error_message(d.ctx));
    cr_assert_gt(fabsf(r.params[3]), 0.1f);
    cg_fit_result_free(&r);
    cg_tensor_free(w);
    cg_tensor_free(y);
    data_close(&d);
}

/* The lecture's t_u, t_c on the device. */
typedef struct lecture {
    cg_context *ctx;
    cg_tensor *u, *c, *params;
} lecture;

static lecture lecture_open(float u_scale, float c_scale)
{
    lecture l = {test_context(), NULL, NULL, NULL};
    cg_table t;
    cr_assert_eq(cg_table_lecture(&t), CG_OK);
    float u[11], c[11];
    for (int i = 0; i < 11; i++) {
        u[i] = t.values[2 * i] * u_scale;
        c[i] = t.values[2 * i + 1] * c_scale;
    }
    cg_table_free(&t);
    l.u = cg_tensor_from(l.ctx, u, CG_SHAPE(11));
    l.c = cg_tensor_from(l.ctx, c, CG_SHAPE(11));
    l.params = cg_tensor_from(l.ctx, (float[]){1, 0}, CG_SHAPE(2));
    cg_set_requires_grad(l.params, true);
    return l;
}

static void lecture_close(lecture *l)
{
    cg_tensor_free(l->u);
    cg_tensor_free(l->c);
    cg_tensor_free(l->params);
    cg_context_free(l->ctx);
}

static cg_fit_result lecture_fit(lecture *l, const cg_fit_options *o)
{
    cg_fit_model m = cg_fit_model_linreg(l->params);
    cg_fit_result r;
    cr_assert_eq(cg_fit(&m, l->u, l->c, o, &r), CG_OK, "%s", cg_error_message(l->ctx));
    return r;
}

Test(fit, the_linear_model_through_the_tape_fits_the_lecture)
{
    lecture l = lecture_open(0.1f, 1);
    cg_fit_options o = cg_fit_defaults();
    cg_fit_result r = lecture_fit(&l, &o);
    assert_close(r.params[0], 5.3671, 1e-4, 0, "w %f", (double)r.params[0]);
    assert_close(r.params[1], -17.3012, 2e-4, 0, "b %f", (double)r.params[1]);
    assert_close(r.final_loss, 2.927647, 0, 1e-5, "loss %f", (double)r.final_loss);
    cr_assert_eq(r.history_count, 10);
    cr_assert_eq(r.history_epochs[0], 500);
    assert_close(r.history_loss[0], 7.860116, 0, 1e-5, "loss at 500");
    cg_fit_result_free(&r);
    /* LBFGS: one step(closure) per epoch. */
    cg_tensor_write(l.params, (float[]){1, 0}, 2);
    o = quiet(3, 1);
    o.optimizer = CG_OPTIM_LBFGS;
    cg_optim_options oo = cg_optim_defaults(CG_OPTIM_LBFGS);
    oo.max_iter = 50;
    oo.strong_wolfe = true;
    o.optim = &oo;
    r = lecture_fit(&l, &o);
    assert_close(r.final_loss, 2.927645, 0, 1e-5, "lbfgs: %f", (double)r.final_loss);
    cg_fit_result_free(&r);
    lecture_close(&l);
}

Test(fit, divergence_is_reported_with_the_fused_paths_words)
{
    lecture l = lecture_open(1, 1);
    cg_fit_options o = quiet(100, 1e-2f);
    o.log_every = 50;
    cg_fit_result r = lecture_fit(&l, &o);
    cr_assert(r.diverged);
    cr_assert_eq(r.epochs_run, 11);
    cr_assert(!isfinite(r.final_loss));
    cr_assert(strstr(r.message, "training diverged at epoch 11: the loss became") &&
                  strstr(r.message, "The updates overshoot: try a smaller learning rate than 0.01"),
              "%s", r.message);
    cr_assert_eq(r.history_count, 1, "the epoch it stopped at is logged");
    cr_assert_eq(r.history_epochs[0], 11);
    cr_assert_eq(r.curve_count, 11);
    cg_fit_result_free(&r);
    /* 10 epochs: every epoch's loss finite, the final one not. */
    cg_tensor_write(l.params, (float[]){1, 0}, 2);
    o.epochs = 10;
    r = lecture_fit(&l, &o);
    cr_assert(r.diverged && r.epochs_run == 10);
    cr_assert(strstr(r.message, "training diverged after the last update (epoch 10)"), "%s",
              r.message);
    cg_fit_result_free(&r);
    lecture_close(&l);
    /* Targets beyond float32's square: lost before any step. */
    l = lecture_open(1, 1e30f);
    r = lecture_fit(&l, &o);
    cr_assert(r.diverged && r.epochs_run == 1);
    cr_assert(strstr(r.message, "training diverged at epoch 1: the loss at the initial parameters "
                                "is already inf"),
              "%s", r.message);
    cg_fit_result_free(&r);
    lecture_close(&l);
}

/* What the callbacks saw. */
typedef struct seen {
    long epochs[16], checkpoints[16];
    int nepochs, ncheckpoints;
    size_t nparams;
    float val[16];
    cg_fit_checkpoint at3;
    unsigned order[N];
} seen;

static void on_epoch(void *user, const cg_epoch_log *log)
{
    seen *s = user;
    s->nparams = log->nparams;
    s->val[s->nepochs] = log->val_loss;
    s->epochs[s->nepochs++] = log->epoch;
}

static void on_checkpoint(void *user, const cg_fit_checkpoint *c)
{
    seen *s = user;
    cr_assert_eq(c->next_epoch, c->epoch + 1);
    cr_assert_not_null(c->optimizer);
    if (c->epoch == 3) {
        s->at3 = *c;
        if (c->shuffle_order) memcpy(s->order, c->shuffle_order, N * sizeof *s->order);
    }
    s->checkpoints[s->ncheckpoints++] = c->epoch;
}

Test(fit, logs_and_checkpoints_come_at_their_epochs)
{
    data d = data_open();
    cg_mlp *m = mlp(&d, 2);
    seen s = {0};
    cg_fit_options o = quiet(7, 0.01f);
    o.log_every = 3;
    o.log_epochs = (long[]){1, 3, 99};
    o.n_log_epochs = 3;
    o.on_epoch = on_epoch;
    o.log_params = true;
    o.checkpoint_every = 2;
    o.on_checkpoint = on_checkpoint;
    o.user = &s;
    cg_fit_result r;
    fit_ok(&d, cg_fit_model_mlp(m), &o, &r);
    cr_assert_eq(s.nepochs, 3);
    cr_assert(s.epochs[0] == 1 && s.epochs[1] == 3 && s.epochs[2] == 6);
    cr_assert_eq(s.nparams, 26, "log_params: every parameter");
    cr_assert(isnan(s.val[0]), "no validation set");
    cr_assert_eq(s.ncheckpoints, 3);
    cr_assert(s.checkpoints[0] == 2 && s.checkpoints[1] == 4 && s.checkpoints[2] == 6);
    cr_assert_eq(r.history_count, 3);
    cg_fit_result_free(&r);
    /* A resumed run counts epochs from where it starts. */
    memset(&s, 0, sizeof s);
    o.start_epoch = 8;
    o.epochs = 12;
    o.checkpoint_every = 3;
    fit_ok(&d, cg_fit_model_mlp(m), &o, &r);
    cr_assert(s.ncheckpoints == 2 && s.checkpoints[0] == 9 && s.checkpoints[1] == 12);
    cr_assert(s.nepochs == 2 && s.epochs[0] == 9 && s.epochs[1] == 12);
    cr_assert(r.curve_count == 5 && r.curve_epochs[0] == 8 && r.epochs_run == 12);
    cg_fit_result_free(&r);
    cg_mlp_free(m);
    data_close(&d);
}

Test(fit, validation_loss_is_the_loss_on_the_held_out_rows)
{
    data d = data_open();
    cg_mlp *m = mlp(&d, 4);
    cg_tensor *vx = cg_tensor_from(d.ctx, d.x, CG_SHAPE(3, F));
    cg_tensor *vy = cg_tensor_from(d.ctx, d.y, CG_SHAPE(3, 1));
    seen s = {0};
    cg_fit_options o = quiet(4, 0.05f);
    o.val_x = vx;
    o.val_y = vy;
    o.log_every = 2;
    o.on_epoch = on_epoch;
    o.user = &s;
    cg_fit_result r;
    fit_ok(&d, cg_fit_model_mlp(m), &o, &r);
    cg_no_grad_begin(d.ctx);
    float want = cg_item(cg_mse_loss(cg_mlp_forward(m, vx), vy, CG_REDUCTION_MEAN));
    cg_no_grad_end(d.ctx);
    cg_tape_reset(d.ctx);
    cr_assert(r.val_loss == want, "%g against %g", (double)r.val_loss, (double)want);
    cr_assert_not_null(r.val_curve_loss);
    cr_assert(r.val_curve_loss[3] == want);
    cr_assert(r.val_curve_loss[0] > want, "it learned");
    cr_assert(s.val[1] == want, "the log has it too");
    cr_assert_eq(s.nparams, 0, "no params without log_params");
    cg_fit_result_free(&r);
    cg_tensor_free(vx);
    cg_tensor_free(vy);
    cg_mlp_free(m);
    data_close(&d);
}

/* 7 epochs of an MLP with Adam, a schedule, shuffled minibatches and a
 * validation set: in one run, or in runs of `split` and 7 - split epochs
 * with the state carried over. */
typedef struct resume_run {
    float params[64], curve[7], val[7];
    long hist[8];
    size_t nhist;
    unsigned long long rng1; /* after the first call */
    unsigned order1[N], order[N];
} resume_run;

static void resume(const data *d, long split, resume_run *out, seen *s)
{
    cg_mlp *m = mlp(d, 8);
    cg_tensor *p[4];
    cg_mlp_parameters(m, p, 4);
    cg_optimizer *opt = cg_optimizer_create(d->ctx, CG_OPTIM_ADAM, p, 4, NULL);
    cg_scheduler_options so = cg_scheduler_defaults(CG_SCHED_STEP);
    so.step_size = 2;
    cg_scheduler *sched = cg_scheduler_create(opt, &so);
    cg_fit_options o = quiet(7, 0);
    o.use_optimizer = opt;
    o.use_scheduler = sched;
    o.batch_size = 4;
    o.shuffle = true;
    o.seed = 21;
    o.log_every = 2;
    o.val_x = d->X;
    o.val_y = d->Y;
    if (s) {
        o.checkpoint_every = 3;
        o.on_checkpoint = on_checkpoint;
        o.user = s;
    }
    cg_fit_result r;
    size_t k = 0;
    out->nhist = 0;
    for (long start = 1; start <= 7; start = o.start_epoch) {
        o.epochs = start == 1 ? split : 7;
        fit_ok(d, cg_fit_model_mlp(m), &o, &r);
        for (size_t i = 0; i < r.curve_count; i++, k++) {
            cr_assert_eq(r.curve_epochs[i], (long)k + 1);
            out->curve[k] = r.curve_loss[i];
            out->val[k] = r.val_curve_loss[i];
        }
        for (size_t i = 0; i < r.history_count; i++) out->hist[out->nhist++] = r.history_epochs[i];
        memcpy(out->params, r.params, r.nparams * sizeof(float));
        o.start_epoch = r.next_epoch;
        o.rng_state = r.rng_state;
        if (start == 1) {
            out->rng1 = r.rng_state;
            memcpy(out->order1, r.shuffle_order, sizeof out->order1);
        }
        memcpy(out->order, r.shuffle_order, sizeof out->order);
        o.shuffle_order = out->order;
        cg_fit_result_free(&r);
    }
    cr_assert_eq(k, 7);
    cg_scheduler_free(sched);
    cg_optimizer_free(opt);
    cg_mlp_free(m);
}

Test(fit, a_run_split_in_two_equals_one_run_bit_for_bit)
{
    data d = data_open();
    resume_run whole, halves;
    seen s = {0};
    resume(&d, 7, &whole, &s);
    resume(&d, 3, &halves, NULL);
    cr_assert_eq(memcmp(whole.params, halves.params, 26 * sizeof(float)), 0, "the parameters");
    cr_assert_eq(memcmp(whole.curve, halves.curve, sizeof whole.curve), 0, "the loss curve");
    cr_assert_eq(memcmp(whole.val, halves.val, sizeof whole.val), 0, "the validation curve");
    cr_assert(whole.nhist == 3 && halves.nhist == 3 && halves.hist[0] == 2 &&
              halves.hist[1] == 4 && halves.hist[2] == 6);
    /* What the checkpoint at epoch 3 held is what the first half returned. */
    cr_assert_eq(s.ncheckpoints, 2);
    cr_assert_eq(s.at3.next_epoch, 4);
    cr_assert_eq(s.at3.shuffle_count, N);
    cr_assert_eq(s.at3.rng_state, halves.rng1);
    cr_assert_eq(memcmp(s.order, halves.order1, sizeof s.order), 0);
    cr_assert_neq(halves.rng1, 0);
    data_close(&d);
}

Test(fit, huber_loss_and_a_layer_of_ones_own)
{
    data d = data_open();
    cg_linear layer;
    cr_assert_eq(cg_linear_init(d.ctx, &layer, F, 1, 3, 0), CG_OK);
    cg_fit_options o = quiet(100, 0.1f);
    o.loss = CG_LOSS_HUBER;
    o.huber_delta = 0.5f;
    cg_fit_result r;
    fit_ok(&d, cg_fit_model_linear(&layer), &o, &r);
    cr_assert_eq(r.nparams, F + 1);
    cg_no_grad_begin(d.ctx);
    float want = cg_item(cg_huber_loss(cg_linear_forward(&layer, d.X), d.Y, 0.5f,
                                       CG_REDUCTION_MEAN));
    cg_no_grad_end(d.ctx);
    cg_tape_reset(d.ctx);
    cr_assert(r.final_loss == want, "huber's: %g against %g", (double)r.final_loss, (double)want);
    cr_assert_lt(r.final_loss, 0.5f * r.curve_loss[0], "it learned: %g -> %g",
                 (double)r.curve_loss[0], (double)r.final_loss);
    cg_fit_result_free(&r);
    /* init: the flattened parameters written first. */
    o = quiet(1, 1e-30f);
    float init[F + 1] = {1, 2, 3, 0.5f};
    o.init = init;
    fit_ok(&d, cg_fit_model_linear(&layer), &o, &r);
    cr_assert_eq(memcmp(r.params, init, sizeof init), 0);
    cg_fit_result_free(&r);
    cg_linear_free(&layer);
    data_close(&d);
}

static cg_tensor *no_model(void *user, cg_tensor *x)
{
    (void)user;
    return x;
}

static size_t no_params(void *user, cg_tensor **out, size_t cap)
{
    (void)user, (void)out, (void)cap;
    return 0;
}

/* cg_fit refuses, naming the cause; the context keeps the error. */
static void refused(data *d, const cg_fit_model *m, cg_tensor *X, cg_tensor *Y,
                    const cg_fit_options *o, cg_status want, const char *text)
{
    cg_fit_result r;
    memset(&r, 0xA5, sizeof r);
    cr_assert_eq(cg_fit(m, X, Y, o, &r), want, "%s: %s", text, cg_error_message(d->ctx));
    cr_assert(!r.params && !r.curve_loss && !r.shuffle_order, "%s: the result is empty", text);
    cr_assert(strstr(cg_error_message(d->ctx), text), "want '%s': %s", text,
              cg_error_message(d->ctx));
    cg_clear_error(d->ctx);
}

Test(fit, bad_arguments_are_refused_with_a_message)
{
    data d = data_open();
    cg_mlp *m = mlp(&d, 1);
    cg_fit_model mm = cg_fit_model_mlp(m), empty = {0}, none = {no_model, no_params, NULL};
    cg_fit_options o = quiet(2, 0.1f);
    cg_tensor *y1 = cg_tensor_from(d.ctx, d.y, CG_SHAPE(N)), *y3 = cg_tensor_from(d.ctx, d.y, CG_SHAPE(3, 1));
    refused(&d, NULL, d.X, d.Y, &o, CG_ERROR_NULL_POINTER, "cg_fit: model is NULL");
    refused(&d, &mm, d.X, NULL, &o, CG_ERROR_NULL_POINTER, "cg_fit: y is NULL");
    refused(&d, &empty, d.X, d.Y, &o, CG_ERROR_NULL_POINTER, "no forward");
    refused(&d, &none, d.X, d.Y, &o, CG_ERROR_INVALID_ARGUMENT, "no parameters");
    refused(&d, &mm, d.X, y3, &o, CG_ERROR_SHAPE_MISMATCH, "have 11 and 3 rows");
    refused(&d, &mm, d.X, y1, &o, CG_ERROR_SHAPE_MISMATCH, "the model's output [11,1]");
    cg_tensor *made = cg_mul_scalar(d.X, 1.0f);
    refused(&d, &mm, made, d.Y, &o, CG_ERROR_INVALID_ARGUMENT, "tensors you own");
    cg_tape_reset(d.ctx);
    static const struct {
        cg_status want;
        const char *text;
    } cases[] = {
        {CG_ERROR_UNSUPPORTED, "central differences"},
        {CG_ERROR_INVALID_ARGUMENT, "path 1 is not the tape's"},
        {CG_ERROR_INVALID_ARGUMENT, "lbfgs takes the full batch"},
        {CG_ERROR_INVALID_ARGUMENT, "huber_delta must be positive"},
        {CG_ERROR_INVALID_ARGUMENT, "clip_grad_norm and clip_grad_value"},
        {CG_ERROR_INVALID_ARGUMENT, "on_checkpoint needs checkpoint_every"},
        {CG_ERROR_INVALID_ARGUMENT, "start_epoch must be between 0 and epochs"},
        {CG_ERROR_UNSUPPORTED, "replicas 2"},
        {CG_ERROR_NULL_POINTER, "val_x and val_y go together"},
        {CG_ERROR_INVALID_ARGUMENT, "lr must be positive"},
        {CG_ERROR_INVALID_ARGUMENT, "shuffle_order is not a permutation"},
    };
    const unsigned twice[N] = {0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cg_fit_options b = o;
        switch (i) {
        case 0: b.grad = CG_GRAD_NUMERIC; break;
        case 1: b.path = CG_PATH_SINGLE_LAUNCH; break;
        case 2: b.optimizer = CG_OPTIM_LBFGS, b.batch_size = 4; break;
        case 3: b.loss = CG_LOSS_HUBER, b.huber_delta = 0; break;
        case 4: b.clip_grad_norm = -1; break;
        case 5: b.checkpoint_every = 2; break;
        case 6: b.start_epoch = 3; break;
        case 7: b.replicas = 2; break;
        case 8: b.val_x = d.X; break;
        case 9: b.lr = 0; break;
        case 10: b.shuffle = true, b.batch_size = 4, b.shuffle_order = twice; break;
        }
        refused(&d, &mm, d.X, d.Y, &b, cases[i].want, cases[i].text);
    }
    /* The linear model's X [n] is one feature. */
    cg_tensor *w = cg_tensor_from(d.ctx, (float[]){1, 1, 0}, CG_SHAPE(3));
    cg_set_requires_grad(w, true);
    cg_fit_model lin = cg_fit_model_linreg(w);
    refused(&d, &lin, y1, y1, &o, CG_ERROR_SHAPE_MISMATCH, "is one feature");
    /* Another context's data. */
    cg_context *other = ref_context();
    cg_tensor *ox = cg_tensor_from(other, d.x, CG_SHAPE(N, F));
    refused(&d, &mm, d.X, d.Y, &(cg_fit_options){.epochs = 1, .lr = 1, .val_x = ox, .val_y = d.Y},
            CG_ERROR_CONTEXT_MISMATCH, "val_x and val_y come from another context");
    cg_tensor_free(ox);
    cg_context_free(other);
    /* Sticky: a context in error trains nothing. */
    cg_fit_result r;
    cg_fit(NULL, d.X, d.Y, &o, &r);
    cr_assert_eq(cg_fit(&mm, d.X, d.Y, &o, &r), CG_ERROR_NULL_POINTER);
    cr_assert_null(r.params);
    cg_clear_error(d.ctx);
    cg_tensor_free(w);
    cg_tensor_free(y1);
    cg_tensor_free(y3);
    cg_mlp_free(m);
    data_close(&d);
}

Test(fit, the_fused_path_refuses_what_only_the_tape_runs)
{
    lecture l = lecture_open(0.1f, 1);
    cg_linreg *model = cg_linreg_create(l.ctx, l.u, l.c);
    cg_fit_options o = quiet(10, 1e-2f);
    o.batch_size = 4;
    cg_fit_result r;
    cr_assert_eq(cg_linreg_fit(model, &o, &r), CG_ERROR_UNSUPPORTED);
    cr_assert(strstr(cg_error_message(l.ctx), "minibatches (batch_size) runs through the tape"),
              "%s", cg_error_message(l.ctx));
    cg_clear_error(l.ctx);
    o = quiet(10, 1e-2f);
    o.loss = CG_LOSS_HUBER;
    cr_assert_eq(cg_linreg_fit(model, &o, &r), CG_ERROR_UNSUPPORTED);
    cr_assert(strstr(cg_error_message(l.ctx), "the huber loss"), "%s", cg_error_message(l.ctx));
    cg_clear_error(l.ctx);
    /* A batch as large as the data is the full batch the fused path runs. */
    o = quiet(10, 1e-2f);
    o.batch_size = 11;
    cr_assert_eq(cg_linreg_fit(model, &o, &r), CG_OK, "%s", cg_error_message(l.ctx));
    cr_assert(isnan(r.val_loss) && r.next_epoch == 11 && r.replicas == 1);
    cg_fit_result_free(&r);
    cg_linreg_free(model);
    lecture_close(&l);
}
