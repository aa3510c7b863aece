/* Learning-rate schedules and gradient clipping against PyTorch's. */
#include "helpers.h"

Test(schedule, every_scheduler_matches_pytorch)
{
    static const int milestones[] = {2, 5, 5, 9};
    struct {
        const char *name;
        cg_scheduler_options o;
    } cases[6];
    cases[0].name = "sched step";
    cases[0].o = cg_scheduler_defaults(CG_SCHED_STEP);
    cases[0].o.step_size = 3;
    cases[0].o.gamma = 0.5f;
    cases[1].name = "sched multistep";
    cases[1].o = cg_scheduler_defaults(CG_SCHED_MULTISTEP);
    cases[1].o.milestones = milestones;
    cases[1].o.nmilestones = 4;
    cases[1].o.gamma = 0.3f;
    cases[2].name = "sched exp";
    cases[2].o = cg_scheduler_defaults(CG_SCHED_EXP);
    cases[2].o.gamma = 0.9f;
    cases[3].name = "sched cosine";
    cases[3].o = cg_scheduler_defaults(CG_SCHED_COSINE);
    cases[3].o.T_max = 7;
    cases[3].o.eta_min = 0.01f;
    cases[4].name = "sched linear";
    cases[4].o = cg_scheduler_defaults(CG_SCHED_LINEAR);
    cases[4].o.start_factor = 0.25f;
    cases[4].o.total_iters = 6;
    cases[5].name = "sched plateau";
    cases[5].o = cg_scheduler_defaults(CG_SCHED_PLATEAU);
    cases[5].o.factor = 0.5f;
    cases[5].o.patience = 2;
    cases[5].o.cooldown = 1;
    cases[5].o.min_lr = 0.004f;
    float metrics[30];
    fixture_values("schedulers.txt", "metrics", metrics, 30);
    for (int c = 0; c < 6; c++) {
        float want[31];
        cr_assert_eq(fixture_values("schedulers.txt", cases[c].name, want, 31), 31);
        cg_context *ctx = test_context();
        cg_tensor *p = cg_tensor_zeros(ctx, CG_SHAPE(1));
        cg_set_requires_grad(p, true);
        cg_optim_options sgd = cg_optim_defaults(CG_OPTIM_SGD);
        sgd.lr = 0.1f;
        cg_optimizer *opt = cg_optimizer_create(ctx, CG_OPTIM_SGD, &p, 1, &sgd);
        cg_scheduler *s = cg_scheduler_create(opt, &cases[c].o);
        cr_assert_not_null(s, "%s: %s", cases[c].name, cg_error_message(ctx));
        assert_close(cg_scheduler_lr(s, 0), want[0], 1e-9, 1e-6, "%s epoch 0", cases[c].name);
        for (int e = 0; e < 30; e++) {
            cg_step(opt);
            cr_assert_eq(cg_scheduler_step(s, metrics[e]), CG_OK);
            assert_close(cg_scheduler_lr(s, 0), want[e + 1], 1e-9, 1e-5,
                         "%s after epoch %d: %.9g vs torch %.9g", cases[c].name, e + 1,
                         cg_scheduler_lr(s, 0), want[e + 1]);
            assert_close(cg_optimizer_lr(opt, 0), want[e + 1], 1e-9, 1e-5, "optimizer's lr");
        }
        cg_scheduler_free(s);
        cg_optimizer_free(opt);
        cg_tensor_free(p);
        cg_context_free(ctx);
    }
}

Test(schedule, bad_options)
{
    cg_context *ctx = test_context();
    cg_tensor *p = cg_tensor_zeros(ctx, CG_SHAPE(1));
    cg_set_requires_grad(p, true);
    cg_optimizer *opt = cg_optimizer_create(ctx, CG_OPTIM_SGD, &p, 1, NULL);
    cg_scheduler_options o = cg_scheduler_defaults(CG_SCHED_STEP);
    cr_assert_null(cg_scheduler_create(opt, &o));
    cr_assert(strstr(cg_error_message(ctx), "step_size"), "%s", cg_error_message(ctx));
    cg_clear_error(ctx);
    o = cg_scheduler_defaults(CG_SCHED_COSINE);
    cr_assert_null(cg_scheduler_create(opt, &o));
    cr_assert(strstr(cg_error_message(ctx), "T_max"), "%s", cg_error_message(ctx));
    cg_optimizer_free(opt);
    cg_tensor_free(p);
    cg_context_free(ctx);
}

static void clip_setup(cg_context *ctx, cg_tensor **w, cg_tensor **b, const char *mode)
{
    float x[24], y[16], wv[6], bv[2], g[8];
    fixture_values("clip.txt", "x", x, 24);
    fixture_values("clip.txt", "y", y, 16);
    fixture_values("clip.txt", "w", wv, 6);
    fixture_values("clip.txt", "b", bv, 2);
    *w = cg_tensor_from(ctx, wv, CG_SHAPE(2, 3));
    *b = cg_tensor_from(ctx, bv, CG_SHAPE(2));
    cg_set_requires_grad(*w, true);
    cg_set_requires_grad(*b, true);
    cg_tensor *tx = cg_tensor_from(ctx, x, CG_SHAPE(8, 3)), *ty = cg_tensor_from(ctx, y, CG_SHAPE(8, 2));
    cg_backward(cg_mse_loss(cg_add(cg_matmul(tx, *w, false, true), *b), ty, CG_REDUCTION_MEAN));
    cg_tape_reset(ctx);
    char key[32];
    snprintf(key, sizeof key, "grad_%s", mode);
    fixture_values("clip.txt", key, g, 8);
    float got[8];
    cg_tensor_read(cg_grad(*w), got, 6);
    cg_tensor_read(cg_grad(*b), got + 6, 2);
    for (int i = 0; i < 8; i++) assert_close(got[i], g[i], 1e-6, 1e-5, "grad %d", i);
    cg_tensor_free(tx);
    cg_tensor_free(ty);
}

static void expect_grads(cg_tensor *w, cg_tensor *b, const char *key)
{
    float want[8], got[8];
    fixture_values("clip.txt", key, want, 8);
    cg_tensor_read(cg_grad(w), got, 6);
    cg_tensor_read(cg_grad(b), got + 6, 2);
    for (int i = 0; i < 8; i++)
        assert_close(got[i], want[i], 1e-7, 1e-5, "%s[%d]: %.9g vs torch %.9g", key, i, got[i],
                     want[i]);
}

Test(schedule, clip_grad_norm_matches_pytorch)
{
    cg_context *ctx = test_context();
    cg_tensor *w, *b;
    clip_setup(ctx, &w, &b, "norm");
    cg_tensor *ps[2] = {w, b};
    float total_want;
    fixture_values("clip.txt", "total_norm", &total_want, 1);
    float total = cg_clip_grad_norm(ps, 2, 0.5f, true);
    assert_close(total, total_want, 0, 1e-6, "total norm %.9g vs %.9g", total, total_want);
    expect_grads(w, b, "clipped_norm");
    /* A large max_norm leaves the gradients as they are (factor 1). */
    float again = cg_clip_grad_norm(ps, 2, 100.0f, false);
    assert_close(again, 0.5, 0, 1e-5, "norm after clipping %f", again);
    expect_grads(w, b, "clipped_norm");
    cr_assert(isnan(cg_clip_grad_norm(ps, 2, -1.0f, false)));
    cr_assert(strstr(cg_error_message(ctx), "max_norm"));
    cg_tensor_free(w);
    cg_tensor_free(b);
    cg_context_free(ctx);
}

Test(schedule, clip_grad_value_matches_pytorch)
{
    cg_context *ctx = test_context();
    cg_tensor *w, *b;
    clip_setup(ctx, &w, &b, "value");
    cg_tensor *ps[2] = {w, b};
    cr_assert_eq(cg_clip_grad_value(ps, 2, 0.1f), CG_OK);
    expect_grads(w, b, "clipped_value");
    cg_tensor_free(w);
    cg_tensor_free(b);
    cg_context_free(ctx);
}

Test(schedule, nonfinite_norm_is_an_error_when_asked)
{
    cg_context *ctx = test_context();
    cg_tensor *p = cg_tensor_zeros(ctx, CG_SHAPE(3));
    cg_set_requires_grad(p, true);
    cg_tensor *seed = cg_tensor_from(ctx, (float[]){INFINITY, 1, 2}, CG_SHAPE(3));
    cg_backward_ex(p, seed, false);
    cr_assert(isnan(cg_clip_grad_norm(&p, 1, 1.0f, true)));
    cr_assert_eq(cg_status_of(ctx), CG_ERROR_INVALID_DATA);
    cr_assert(strstr(cg_error_message(ctx), "inf"), "%s", cg_error_message(ctx));
    cg_clear_error(ctx); /* (reads do nothing while the context is in error) */
    float g[3];
    cg_tensor_read(cg_grad(p), g, 3);
    cr_assert(isinf(g[0]) && g[1] == 1.0f, "left as they are: %f %f %f", g[0], g[1], g[2]);
    float n = cg_clip_grad_norm(&p, 1, 1.0f, false);
    cr_assert(isinf(n), "the norm is inf: %f", n);
    cr_assert_eq(cg_status_of(ctx), CG_OK);
    cg_tensor_free(seed);
    cg_tensor_free(p);
    cg_context_free(ctx);
}

/* Gradients g_i = scale * u_i (u uniform in [-1, 1], two tensors of awkward
 * sizes) for norms across the whole float range: squares of these overflow
 * or underflow a float, so only a scaled (or double) sum gets them right. */
Test(schedule, clip_grad_norm_has_no_overflow_or_underflow)
{
    static const double norms[] = {1e-30, 3e-20, 1e-10, 1.0, 7e5, 1.9e19, 1e20, 2e25, 1e30,
                                   1e36, 1.7e38, 3e38};
    const size_t sizes[2] = {1000, 257};
    uint64_t seed = test_seed();
    test_rng r = {seed | 1};
    cg_context *ctx = test_context();
    float *u[2];
    double sumsq = 0.0;
    for (int t = 0; t < 2; t++) {
        u[t] = malloc(sizes[t] * sizeof *u[t]);
        for (size_t i = 0; i < sizes[t]; i++) {
            u[t][i] = rng_range(&r, -1, 1);
            sumsq += (double)u[t][i] * u[t][i];
        }
    }
    for (size_t c = 0; c < sizeof norms / sizeof norms[0]; c++) {
        const float scale = (float)(norms[c] / sqrt(sumsq));
        cg_tensor *p[2];
        double want = 0.0; /* the oracle: the norm of the float gradients, in double */
        for (int t = 0; t < 2; t++) {
            float *g = malloc(sizes[t] * sizeof *g);
            for (size_t i = 0; i < sizes[t]; i++) {
                g[i] = u[t][i] * scale;
                want += (double)g[i] * g[i];
            }
            p[t] = cg_tensor_zeros(ctx, CG_SHAPE(sizes[t]));
            cg_set_requires_grad(p[t], true);
            cg_tensor *seed_t = cg_tensor_from(ctx, g, CG_SHAPE(sizes[t]));
            cg_backward_ex(p[t], seed_t, false); /* a leaf: its grad is the seed */
            cg_tensor_free(seed_t);
            free(g);
        }
        want = sqrt(want);
        float total = cg_clip_grad_norm(p, 2, 1.0f, true);
        cr_assert_eq(cg_status_of(ctx), CG_OK, "norm %g: %s", norms[c], cg_error_message(ctx));
        assert_close(total, want, 0, 2e-6, "seed %llu: norm %g came out %g",
                     (unsigned long long)seed, want, (double)total);
        /* Clipped to max_norm 1 when above it (factor 1 / (total + 1e-6)). */
        float after = cg_clip_grad_norm(p, 2, 1e38f, false);
        double expect = want > 1.0 ? 1.0 / (1.0 + 1e-6 / want) : want;
        assert_close(after, expect, 0, 1e-5, "norm %g: %g after clipping", want, (double)after);
        cg_tensor_free(p[0]);
        cg_tensor_free(p[1]);
    }
    free(u[0]);
    free(u[1]);
    cg_context_free(ctx);
}

/* Same gradients, same bits: fixed partials, fixed combine order. */
Test(schedule, clip_grad_norm_is_deterministic)
{
    cg_context *ctx = test_context();
    test_rng r = {test_seed() | 1};
    float *g = malloc(4097 * sizeof *g);
    for (int i = 0; i < 4097; i++) g[i] = rng_range(&r, -1e30, 1e30);
    cg_tensor *p = cg_tensor_zeros(ctx, CG_SHAPE(4097));
    cg_set_requires_grad(p, true);
    cg_tensor *seed = cg_tensor_from(ctx, g, CG_SHAPE(4097));
    float first = 0.0f;
    for (int run = 0; run < 3; run++) {
        cg_zero_grad_of(p);
        cg_backward_ex(p, seed, false);
        float n = cg_clip_grad_norm(&p, 1, 1e38f, false);
        if (run == 0) first = n;
        cr_assert_eq(memcmp(&n, &first, sizeof n), 0, "run %d: %.9g vs %.9g", run, n, first);
    }
    cr_assert(first > 1e31f && isfinite(first), "%g", (double)first);
    free(g);
    cg_tensor_free(seed);
    cg_tensor_free(p);
    cg_context_free(ctx);
}

Test(schedule, lr_of_a_group_the_scheduler_does_not_drive_is_an_error)
{
    cg_context *ctx = test_context();
    cg_tensor *a = cg_tensor_zeros(ctx, CG_SHAPE(2)), *b = cg_tensor_zeros(ctx, CG_SHAPE(2));
    cg_optim_options sgd = cg_optim_defaults(CG_OPTIM_SGD);
    sgd.lr = 0.5f;
    cg_optimizer *opt = cg_optimizer_create(ctx, CG_OPTIM_SGD, &a, 1, &sgd);
    cg_scheduler_options o = cg_scheduler_defaults(CG_SCHED_EXP);
    o.gamma = 0.5f;
    cg_scheduler *s = cg_scheduler_create(opt, &o);
    cr_assert_eq(cg_optimizer_add_group(opt, &b, 1, NULL), 1);
    cr_assert_eq(cg_scheduler_lr(s, 0), 0.5);
    cr_assert(isnan(cg_scheduler_lr(s, 1)));
    cr_assert_eq(cg_status_of(ctx), CG_ERROR_INVALID_ARGUMENT);
    cr_assert(strstr(cg_error_message(ctx), "added to the optimizer after the scheduler"), "%s",
              cg_error_message(ctx));
    cg_clear_error(ctx);
    cr_assert(isnan(cg_scheduler_lr(s, 2)));
    cr_assert(strstr(cg_error_message(ctx), "no group 2"), "%s", cg_error_message(ctx));
    cg_scheduler_free(s);
    cg_optimizer_free(opt);
    cg_tensor_free(a);
    cg_tensor_free(b);
    cg_context_free(ctx);
}
