/* Training the linear model: the lecture's printed figures, divergence,
 * both device paths, determinism, and option validation. */
#include "helpers.h"

typedef struct lecture {
    cg_context *ctx;
    cg_tensor *t_u, *t_c;
    cg_linreg *model;
} lecture;

static lecture lecture_open(void)
{
    lecture l;
    l.ctx = test_context();
    cg_table t;
    cr_assert_eq(cg_table_lecture(&t), CG_OK);
    float u[11], c[11];
    for (int i = 0; i < 11; i++) {
        u[i] = t.values[2 * i];
        c[i] = t.values[2 * i + 1];
    }
    cg_table_free(&t);
    l.t_u = cg_tensor_from(l.ctx, u, CG_SHAPE(11));
    l.t_c = cg_tensor_from(l.ctx, c, CG_SHAPE(11));
    l.model = cg_linreg_create(l.ctx, l.t_u, l.t_c);
    cr_assert_eq(cg_status_of(l.ctx), CG_OK, "%s", cg_error_message(l.ctx));
    return l;
}

static void lecture_close(lecture *l)
{
    cg_linreg_free(l->model);
    cg_tensor_free(l->t_u);
    cg_tensor_free(l->t_c);
    cg_context_free(l->ctx);
}

static float history_at(const cg_fit_result *r, long epoch)
{
    for (size_t i = 0; i < r->history_count; i++)
        if (r->history_epochs[i] == epoch) return r->history_loss[i];
    cr_assert_fail("epoch %ld was not logged", epoch);
    return NAN;
}

static const cg_fit_path paths[] = {CG_PATH_SINGLE_LAUNCH, CG_PATH_PER_EPOCH};

Test(train, lecture_first_epoch_loss_and_gradient)
{
    lecture l = lecture_open();
    const float p[2] = {1.0f, 0.0f};
    float loss, g[2], num[2];
    cr_assert_eq(cg_linreg_eval(l.model, p, CG_LOSS_MSE, CG_GRAD_ANALYTIC, 0.1f, &loss, g),
                 CG_OK);
    assert_close(loss, 1763.8846, 0, 1e-6, "loss %f", loss);
    assert_close(g[0], 4517.297, 0, 1e-6, "dL/dw %f", g[0]);
    assert_close(g[1], 82.600, 0, 1e-6, "dL/db %f", g[1]);
    /* Central differences of a quadratic are exact up to float rounding. */
    cr_assert_eq(cg_linreg_eval(l.model, p, CG_LOSS_MSE, CG_GRAD_NUMERIC, 0.1f, &loss, num),
                 CG_OK);
    assert_close(num[0], 4517.3, 0.01, 0, "numeric dL/dw %f", num[0]);
    assert_close(num[1], 82.6, 0.01, 0, "numeric dL/db %f", num[1]);
    lecture_close(&l);
}

static cg_fit_result lecture_fit(lecture *l, long epochs, float lr, float scale,
                                 cg_optim_kind optim, cg_fit_path path)
{
    cg_linreg_set_transform(l->model, NULL, &scale);
    static const long logged[] = {1, 2, 3, 10, 11, 99, 100, 4000, 5000};
    cg_fit_options o = cg_fit_defaults();
    o.epochs = epochs;
    o.lr = lr;
    o.optimizer = optim;
    o.path = path;
    o.log_epochs = logged;
    o.n_log_epochs = 9;
    cg_fit_result r;
    cr_assert_eq(cg_linreg_fit(l->model, &o, &r), CG_OK, "%s", cg_error_message(l->ctx));
    return r;
}

Test(train, lecture_lr_1e2_on_raw_inputs_diverges_at_epoch_11)
{
    lecture l = lecture_open();
    for (int i = 0; i < 2; i++) {
        cg_fit_result r = lecture_fit(&l, 100, 1e-2f, 1.0f, CG_OPTIM_SGD, paths[i]);
        cr_assert(r.diverged, "path %d", i);
        cr_assert_eq(r.epochs_run, 11);
        assert_close(history_at(&r, 1), 1763.884644, 0, 1e-6, "epoch 1");
        assert_close(history_at(&r, 2), 5802485.5, 0, 1e-5, "epoch 2");
        assert_close(history_at(&r, 10), 9.0901154e34, 0, 1e-4, "epoch 10");
        cr_assert(isinf(history_at(&r, 11)), "epoch 11 loss is inf");
        assert_close(r.params[0], -1.8590e19, 0, 1e-4, "w %g", r.params[0]);
        assert_close(r.params[1], -3.2746e17, 0, 1e-4, "b %g", r.params[1]);
        cr_assert(strstr(r.message, "epoch 11") && strstr(r.message, "learning rate") &&
                      strstr(r.message, "normalized"),
                  "message: %s", r.message);
        cg_fit_result_free(&r);
    }
    lecture_close(&l);
}

Test(train, lecture_lr_1e4_stalls)
{
    lecture l = lecture_open();
    for (int i = 0; i < 2; i++) {
        cg_fit_result r = lecture_fit(&l, 100, 1e-4f, 1.0f, CG_OPTIM_SGD, paths[i]);
        cr_assert_not(r.diverged);
        assert_close(history_at(&r, 2), 323.090546, 0, 1e-6, "epoch 2");
        assert_close(history_at(&r, 100), 29.022669, 0, 1e-6, "epoch 100");
        assert_close(r.params[0], 0.2327, 1e-4, 0, "w %f", r.params[0]);
        assert_close(r.params[1], -0.0438, 1e-4, 0, "b %f", r.params[1]);
        cg_fit_result_free(&r);
    }
    lecture_close(&l);
}

Test(train, lecture_scaled_inputs_100_and_5000_epochs)
{
    lecture l = lecture_open();
    for (int i = 0; i < 2; i++) {
        cg_fit_result r = lecture_fit(&l, 100, 1e-2f, 0.1f, CG_OPTIM_SGD, paths[i]);
        assert_close(history_at(&r, 1), 80.364342, 0, 1e-6, "epoch 1");
        assert_close(history_at(&r, 100), 22.148710, 0, 1e-6, "epoch 100");
        assert_close(r.params[0], 2.7553, 1e-4, 0, "w");
        assert_close(r.params[1], -2.5162, 1e-4, 0, "b");
        cg_fit_result_free(&r);

        r = lecture_fit(&l, 5000, 1e-2f, 0.1f, CG_OPTIM_SGD, paths[i]);
        cr_assert_eq(r.epochs_run, 5000);
        assert_close(history_at(&r, 4000), 2.927680, 0, 1e-6, "epoch 4000");
        assert_close(history_at(&r, 5000), 2.927648, 0, 1e-6, "epoch 5000");
        assert_close(r.params[0], 5.3671, 1e-4, 0, "w %f", r.params[0]);
        assert_close(r.params[1], -17.3012, 1e-4, 0, "b %f", r.params[1]);
        assert_close(r.final_loss, 2.927647, 0, 1e-6, "final loss %f", r.final_loss);
        cr_assert_eq(r.curve_count, 5000);
        assert_close(r.curve_loss[0], 80.364342, 0, 1e-6, "curve starts at epoch 1");
        cg_fit_result_free(&r);
    }
    lecture_close(&l);
}

Test(train, lecture_adam_on_raw_inputs)
{
    lecture l = lecture_open();
    for (int i = 0; i < 2; i++) {
        cg_fit_result r = lecture_fit(&l, 2000, 1e-1f, 1.0f, CG_OPTIM_ADAM, paths[i]);
        cr_assert_not(r.diverged);
        assert_close(r.params[0], 0.5367, 1e-4, 0, "w %f", r.params[0]);
        assert_close(r.params[1], -17.3021, 2e-4, 0, "b %f", r.params[1]);
        assert_close(r.final_loss, 2.927646, 0, 1e-5, "final loss %f", r.final_loss);
        cg_fit_result_free(&r);
    }
    lecture_close(&l);
}

Test(train, numeric_gradient_training_matches_analytic)
{
    lecture l = lecture_open();
    const float scale = 0.1f;
    cg_linreg_set_transform(l.model, NULL, &scale);
    cg_fit_options o = cg_fit_defaults();
    cg_fit_result a, n;
    cr_assert_eq(cg_linreg_fit(l.model, &o, &a), CG_OK);
    o.grad = CG_GRAD_NUMERIC;
    cr_assert_eq(cg_linreg_fit(l.model, &o, &n), CG_OK);
    assert_close(n.params[0], a.params[0], 2e-3, 0, "w %f vs %f", n.params[0], a.params[0]);
    assert_close(n.params[1], a.params[1], 1e-2, 0, "b %f vs %f", n.params[1], a.params[1]);
    assert_close(n.final_loss, a.final_loss, 0, 1e-4, "loss");
    cg_fit_result_free(&a);
    cg_fit_result_free(&n);
    lecture_close(&l);
}

Test(train, runs_are_bit_identical)
{
    uint64_t seed = test_seed();
    test_rng rng = {seed | 1};
    cg_context *ctx = test_context();
    const size_t n = 300007, F = 2;
    float *X, *y;
    random_linear_data(&rng, n, F, &X, &y);
    cg_tensor *tx = cg_tensor_from(ctx, X, CG_SHAPE(n, F)), *ty = cg_tensor_from(ctx, y, CG_SHAPE(n));
    cg_linreg *m = cg_linreg_create(ctx, tx, ty);
    cg_fit_options o = cg_fit_defaults();
    o.epochs = 20;
    o.log_every = 1;
    o.optimizer = CG_OPTIM_ADAM;
    o.lr = 0.05f;
    for (int i = 0; i < 2; i++) {
        o.path = paths[i];
        cg_fit_result a, b;
        cr_assert_eq(cg_linreg_fit(m, &o, &a), CG_OK, "%s", cg_error_message(ctx));
        cr_assert_eq(cg_linreg_fit(m, &o, &b), CG_OK);
        cr_assert_eq(memcmp(a.params, b.params, a.nparams * sizeof(float)), 0, "params differ");
        cr_assert_eq(memcmp(a.history_loss, b.history_loss, 20 * sizeof(float)), 0);
        cr_assert_eq(memcmp(&a.final_loss, &b.final_loss, sizeof(float)), 0);
        cg_fit_result_free(&a);
        cg_fit_result_free(&b);
    }
    cg_linreg_free(m);
    cg_tensor_free(tx);
    cg_tensor_free(ty);
    free(X);
    free(y);
    cg_context_free(ctx);
}

Test(train, l1_loss_fits_and_agrees_with_reference)
{
    lecture l = lecture_open();
    cg_context *ref = ref_context();
    float u[11], c[11];
    cg_tensor_read(l.t_u, u, 11);
    cg_tensor_read(l.t_c, c, 11);
    cg_tensor *ru = cg_tensor_from(ref, u, CG_SHAPE(11)), *rc = cg_tensor_from(ref, c, CG_SHAPE(11));
    cg_linreg *rm = cg_linreg_create(ref, ru, rc);
    const float scale = 0.1f;
    cg_linreg_set_transform(l.model, NULL, &scale);
    cg_linreg_set_transform(rm, NULL, &scale);
    cg_fit_options o = cg_fit_defaults();
    o.loss = CG_LOSS_L1;
    o.epochs = 3000;
    const float p0[2] = {1.0f, 0.0f};
    float initial;
    cr_assert_eq(cg_linreg_eval(l.model, p0, CG_LOSS_L1, CG_GRAD_ANALYTIC, 0.1f, &initial, NULL),
                 CG_OK);
    assert_close(initial, 7.0727273, 0, 1e-5, "mean |0.1 t_u - t_c| at w=1, b=0: %f", initial);
    cg_fit_result a, b;
    cr_assert_eq(cg_linreg_fit(l.model, &o, &a), CG_OK);
    cr_assert_eq(cg_linreg_fit(rm, &o, &b), CG_OK);
    cr_assert_lt(a.final_loss, 0.9f * initial, "L1 loss %f from %f", a.final_loss, initial);
    assert_close(a.params[0], b.params[0], 1e-3, 1e-3, "w %f vs %f", a.params[0], b.params[0]);
    assert_close(a.params[1], b.params[1], 1e-3, 1e-3, "b %f vs %f", a.params[1], b.params[1]);
    cg_fit_result_free(&a);
    cg_fit_result_free(&b);
    cg_linreg_free(rm);
    cg_tensor_free(ru);
    cg_tensor_free(rc);
    cg_context_free(ref);
    lecture_close(&l);
}

typedef struct seen_logs {
    long epochs[16];
    float w[16];
    int count;
} seen_logs;

static void record_log(void *user, const cg_epoch_log *log)
{
    seen_logs *seen = user;
    cr_assert_eq(log->nparams, 2);
    cr_assert_lt(seen->count, 16);
    seen->epochs[seen->count] = log->epoch;
    seen->w[seen->count++] = log->params[0];
}

Test(train, logs_in_order_with_params_and_grad)
{
    lecture l = lecture_open();
    seen_logs seen = {.count = 0};
    cg_fit_options o = cg_fit_defaults();
    o.epochs = 1000;
    o.log_every = 250;
    const float scale = 0.1f;
    cg_linreg_set_transform(l.model, NULL, &scale);
    o.on_epoch = record_log;
    o.user = &seen;
    cg_fit_result r;
    cr_assert_eq(cg_linreg_fit(l.model, &o, &r), CG_OK);
    cr_assert_eq(seen.count, 4);
    for (int i = 0; i < 4; i++) cr_assert_eq(seen.epochs[i], 250 * (i + 1));
    cr_assert_eq(seen.w[3], r.params[0], "the last log's params are the final params");
    cg_fit_result_free(&r);
    lecture_close(&l);
}

Test(train, rejects_bad_options_with_a_message_naming_them)
{
    lecture l = lecture_open();
    struct {
        const char *name;
        cg_fit_options o;
    } cases[6];
    for (int i = 0; i < 6; i++) cases[i].o = cg_fit_defaults();
    cases[0].name = "lr";
    cases[0].o.lr = -1.0f;
    cases[1].name = "lr";
    cases[1].o.lr = 0.0f;
    cases[2].name = "epochs";
    cases[2].o.epochs = 0;
    cases[3].name = "delta";
    cases[3].o.grad = CG_GRAD_NUMERIC;
    cases[3].o.delta = -0.1f;
    cases[4].name = "betas";
    cases[4].o.betas[1] = 1.0f;
    cases[5].name = "optimizer";
    cases[5].o.optimizer = (cg_optim_kind)42;
    for (int i = 0; i < 6; i++) {
        cg_fit_result r;
        cr_assert_eq(cg_linreg_fit(l.model, &cases[i].o, &r), CG_ERROR_INVALID_ARGUMENT,
                     "case %d", i);
        cr_assert(strstr(cg_error_message(l.ctx), cases[i].name) != NULL, "case %d: %s", i,
                  cg_error_message(l.ctx));
        cr_assert_null(r.params);
        /* Sticky: the next call does nothing and returns the first error. */
        cg_fit_options good = cg_fit_defaults();
        cr_assert_eq(cg_linreg_fit(l.model, &good, &r), CG_ERROR_INVALID_ARGUMENT);
        cg_clear_error(l.ctx);
    }
    lecture_close(&l);
}

/* Issue 7, item 6: the lecture at lr 1e-2 overflows in its 11th update; 10
 * epochs end with finite epoch losses but an inf loss at the final params. */
Test(train, non_finite_final_loss_is_a_divergence)
{
    lecture l = lecture_open();
    for (int i = 0; i < 2; i++) {
        cg_fit_result r = lecture_fit(&l, 10, 1e-2f, 1.0f, CG_OPTIM_SGD, paths[i]);
        cr_assert(isfinite(history_at(&r, 10)), "path %d: epoch 10's loss is finite", i);
        cr_assert_not(isfinite(r.final_loss), "path %d: final loss %g", i, r.final_loss);
        cr_assert(r.diverged, "path %d: a non-finite final loss is a divergence", i);
        cr_assert_eq(r.epochs_run, 10);
        cr_assert(strstr(r.message, "epoch 10") && strstr(r.message, "learning rate"),
                  "path %d: %s", i, r.message);
        cg_fit_result_free(&r);
    }
    lecture_close(&l);
}

/* A model of 11 rows: x in [-1, 1], y = y0 + x. */
static lecture scaled_targets_open(double y0)
{
    lecture l;
    l.ctx = test_context();
    float x[11], y[11];
    for (int i = 0; i < 11; i++) {
        x[i] = (float)(i - 5) / 5.0f;
        y[i] = (float)(y0 + x[i]);
    }
    l.t_u = cg_tensor_from(l.ctx, x, CG_SHAPE(11));
    l.t_c = cg_tensor_from(l.ctx, y, CG_SHAPE(11));
    l.model = cg_linreg_create(l.ctx, l.t_u, l.t_c);
    cr_assert_eq(cg_status_of(l.ctx), CG_OK, "%s", cg_error_message(l.ctx));
    return l;
}

/* Issue 7, item 21: overflow from the data's scale is not the learning rate's
 * fault, and normalizing the inputs cannot help y. */
Test(train, overflow_from_huge_targets_blames_y_not_the_learning_rate)
{
    lecture l = scaled_targets_open(3e19);
    const float shift = 0.0f, scale = 1.6f; /* a transform is set: inputs normalized */
    cg_linreg_set_transform(l.model, &shift, &scale);
    cg_fit_options o = cg_fit_defaults();
    o.epochs = 100;
    cg_fit_result r;
    cr_assert_eq(cg_linreg_fit(l.model, &o, &r), CG_OK, "%s", cg_error_message(l.ctx));
    cr_assert(r.diverged);
    cr_assert_eq(r.epochs_run, 1);
    cr_assert(strstr(r.message, "targets") && strstr(r.message, "3e+19"), "%s", r.message);
    cr_assert(strstr(r.message, "does not touch"), "%s", r.message);
    cr_assert_null(strstr(r.message, "learning rate"), "%s", r.message);
    cr_assert_null(strstr(r.message, "normalized inputs"), "%s", r.message);
    cg_fit_result_free(&r);
    lecture_close(&l);
}

Test(train, overflow_from_huge_initial_params_blames_them)
{
    lecture l = lecture_open();
    const float init[2] = {3e38f, 0.0f};
    cg_fit_options o = cg_fit_defaults();
    o.epochs = 100;
    o.init = init;
    cg_fit_result r;
    cr_assert_eq(cg_linreg_fit(l.model, &o, &r), CG_OK, "%s", cg_error_message(l.ctx));
    cr_assert(r.diverged);
    cr_assert_eq(r.epochs_run, 1);
    cr_assert(strstr(r.message, "initial parameters"), "%s", r.message);
    cr_assert_null(strstr(r.message, "learning rate"), "%s", r.message);
    cg_fit_result_free(&r);
    lecture_close(&l);
}

Test(train, overshoot_with_normalized_inputs_does_not_suggest_normalizing)
{
    lecture l = lecture_open();
    const float shift = 45.0f, scale = 0.06f; /* roughly standardized t_u */
    cg_linreg_set_transform(l.model, &shift, &scale);
    cg_fit_options o = cg_fit_defaults();
    o.lr = 50.0f;
    o.epochs = 1000;
    cg_fit_result r;
    cr_assert_eq(cg_linreg_fit(l.model, &o, &r), CG_OK, "%s", cg_error_message(l.ctx));
    cr_assert(r.diverged);
    cr_assert_gt(r.epochs_run, 1);
    cr_assert(strstr(r.message, "smaller learning rate than 50"), "%s", r.message);
    cr_assert_null(strstr(r.message, "normalized inputs"), "%s", r.message);
    cg_fit_result_free(&r);
    lecture_close(&l);
}

/* Issue 7, item 14: on raw t_u at lr 1e-2 the parameters grow until w + 0.1
 * rounds to w in float32; the central difference is then exactly 0 and the
 * run used to "train" on at a loss of 1.9e17. */
Test(train, numeric_gradient_that_vanishes_in_rounding_is_reported)
{
    lecture l = lecture_open();
    for (int i = 0; i < 2; i++) {
        cg_fit_options o = cg_fit_defaults();
        o.grad = CG_GRAD_NUMERIC;
        o.epochs = 500;
        o.path = paths[i];
        cg_fit_result r;
        cr_assert_eq(cg_linreg_fit(l.model, &o, &r), CG_OK, "%s", cg_error_message(l.ctx));
        cr_assert(r.diverged, "path %d: final loss %g, w %g", i, r.final_loss, r.params[0]);
        cr_assert(strstr(r.message, "numeric gradient") && strstr(r.message, "delta") &&
                      strstr(r.message, "rounds"),
                  "path %d: %s", i, r.message);
        cg_fit_result_free(&r);
    }
    lecture_close(&l);
}

/* The loss of 1e30 has a float32 spacing of 7e22: no step of delta moves it,
 * so every difference quotient is 0 although the bias is far off. */
Test(train, numeric_gradient_lost_in_a_huge_loss_is_reported)
{
    lecture l = scaled_targets_open(1e15);
    cg_fit_options o = cg_fit_defaults();
    o.grad = CG_GRAD_NUMERIC;
    o.epochs = 50;
    cg_fit_result r;
    cr_assert_eq(cg_linreg_fit(l.model, &o, &r), CG_OK, "%s", cg_error_message(l.ctx));
    cr_assert(r.diverged, "final loss %g, b %g", r.final_loss, r.params[1]);
    cr_assert(strstr(r.message, "numeric gradient"), "%s", r.message);
    cg_fit_result_free(&r);
    lecture_close(&l);
}

Test(train, numeric_gradient_refuses_params_below_delta_resolution)
{
    lecture l = lecture_open();
    const float init[2] = {1e10f, 0.0f};
    cg_fit_options o = cg_fit_defaults();
    o.grad = CG_GRAD_NUMERIC;
    o.init = init;
    cg_fit_result r;
    cr_assert_eq(cg_linreg_fit(l.model, &o, &r), CG_ERROR_INVALID_ARGUMENT);
    cr_assert(strstr(cg_error_message(l.ctx), "delta") &&
                  strstr(cg_error_message(l.ctx), "init[0]"),
              "%s", cg_error_message(l.ctx));
    cr_assert_null(r.params);
    cg_clear_error(l.ctx);
    o.init = NULL;
    o.delta = 1e-9f; /* 1 +- 1e-9 is 1 in float32 */
    cr_assert_eq(cg_linreg_fit(l.model, &o, &r), CG_ERROR_INVALID_ARGUMENT);
    cr_assert(strstr(cg_error_message(l.ctx), "delta"), "%s", cg_error_message(l.ctx));
    lecture_close(&l);
}
