/* The tape: accumulation, zeroing, no_grad, detach, retain_graph, the errors
 * a user can make, flat memory over a long loop, and the tape path agreeing
 * with the fused linear path on the lecture's runs. */
#include "helpers.h"

static const float lecture_u[11] = {35.7f, 55.9f, 58.2f, 81.9f, 56.3f, 48.9f,
                                    33.9f, 21.8f, 48.4f, 60.4f, 68.4f};
static const float lecture_c[11] = {0.5f, 14.0f, 15.0f, 28.0f, 11.0f, 8.0f,
                                    3.0f, -4.0f, 6.0f, 13.0f, 21.0f};

static cg_tensor *lecture_loss(cg_tensor *params, cg_tensor *t_u, cg_tensor *t_c)
{
    cg_tensor *t_p = cg_add(cg_mul(cg_at(params, 0), t_u), cg_at(params, 1));
    return cg_mean(cg_pow_scalar(cg_sub(t_p, t_c), 2.0f));
}

typedef struct fixture {
    cg_context *ctx;
    cg_tensor *params, *t_u, *t_c;
} fixture;

static fixture open_lecture(float scale)
{
    fixture f;
    f.ctx = test_context();
    float u[11];
    for (int i = 0; i < 11; i++) u[i] = scale * lecture_u[i];
    f.t_u = cg_tensor_from(f.ctx, u, CG_SHAPE(11));
    f.t_c = cg_tensor_from(f.ctx, lecture_c, CG_SHAPE(11));
    f.params = cg_tensor_from(f.ctx, (float[]){1.0f, 0.0f}, CG_SHAPE(2));
    cg_set_requires_grad(f.params, true);
    return f;
}

static void close_lecture(fixture *f)
{
    cg_tape_reset(f->ctx);
    cg_tensor_free(f->params);
    cg_tensor_free(f->t_u);
    cg_tensor_free(f->t_c);
    cg_context_free(f->ctx);
}

static void read_grad(cg_tensor *t, float *g)
{
    cr_assert_not_null(cg_grad(t));
    cr_assert_eq(cg_tensor_read(cg_grad(t), g, cg_tensor_numel(t)), CG_OK);
}

Test(tape, lecture_gradient_and_accumulation)
{
    fixture f = open_lecture(1.0f);
    cr_assert_null(cg_grad(f.params), "no grad before any backward");
    cg_tensor *loss = lecture_loss(f.params, f.t_u, f.t_c);
    assert_close(cg_item(loss), 1763.8846, 0, 1e-6, "loss");
    cr_assert_eq(cg_backward(loss), CG_OK, "%s", cg_error_message(f.ctx));
    float g[2];
    read_grad(f.params, g);
    assert_close(g[0], 4517.2969, 0, 1e-5, "dL/dw %f", g[0]);
    assert_close(g[1], 82.6, 0, 1e-5, "dL/db %f", g[1]);
    /* A second forward and backward without zeroing: the gradient doubles. */
    cg_tape_reset(f.ctx);
    cr_assert_eq(cg_backward(lecture_loss(f.params, f.t_u, f.t_c)), CG_OK);
    float g2[2];
    read_grad(f.params, g2);
    assert_close(g2[0], 2 * g[0], 0, 1e-6, "accumulated %f", g2[0]);
    assert_close(g2[1], 2 * g[1], 0, 1e-6, "accumulated %f", g2[1]);
    cr_assert_eq(cg_zero_grad_of(f.params), CG_OK);
    read_grad(f.params, g2);
    cr_assert(g2[0] == 0.0f && g2[1] == 0.0f, "zeroed");
    close_lecture(&f);
}

Test(tape, retain_graph_allows_a_second_backward)
{
    fixture f = open_lecture(0.1f);
    cg_tensor *loss = lecture_loss(f.params, f.t_u, f.t_c);
    cr_assert_eq(cg_backward_ex(loss, NULL, true), CG_OK);
    float g[2], g2[2];
    read_grad(f.params, g);
    cr_assert_eq(cg_backward(loss), CG_OK, "%s", cg_error_message(f.ctx));
    read_grad(f.params, g2);
    assert_close(g2[0], 2 * g[0], 0, 1e-6, "twice");
    /* The graph is now freed: a third backward is an error, not an abort. */
    cr_assert_eq(cg_backward(loss), CG_ERROR_INVALID_ARGUMENT);
    cr_assert(strstr(cg_error_message(f.ctx), "retain"), "%s", cg_error_message(f.ctx));
    close_lecture(&f);
}

Test(tape, no_grad_records_nothing)
{
    fixture f = open_lecture(0.1f);
    cg_no_grad_begin(f.ctx);
    cg_tensor *loss = lecture_loss(f.params, f.t_u, f.t_c);
    cg_no_grad_end(f.ctx);
    cr_assert_not_null(loss);
    cr_assert_not(cg_requires_grad(loss));
    cr_assert_eq(cg_context_stats_of(f.ctx).tape_nodes, 0);
    cr_assert_gt(cg_context_stats_of(f.ctx).tape_tensors, 0, "outputs still belong to the tape");
    cr_assert_eq(cg_backward(loss), CG_ERROR_INVALID_ARGUMENT);
    cr_assert(strstr(cg_error_message(f.ctx), "does not require grad"));
    cg_clear_error(f.ctx);
    /* With grad on, the same ops record one node each. */
    lecture_loss(f.params, f.t_u, f.t_c);
    cr_assert_eq(cg_context_stats_of(f.ctx).tape_nodes, 7);
    cg_tape_reset(f.ctx);
    cr_assert_eq(cg_context_stats_of(f.ctx).tape_nodes, 0);
    cr_assert_eq(cg_context_stats_of(f.ctx).tape_tensors, 0);
    close_lecture(&f);
}

Test(tape, detach_survives_reset_and_has_no_history)
{
    fixture f = open_lecture(0.1f);
    cg_tensor *t_p = cg_add(cg_mul(cg_at(f.params, 0), f.t_u), cg_at(f.params, 1));
    cg_tensor *kept = cg_detach(t_p);
    cr_assert_not(cg_requires_grad(kept));
    cg_tape_reset(f.ctx);
    float v[11];
    cr_assert_eq(cg_tensor_read(kept, v, 11), CG_OK);
    assert_close(v[0], 3.57, 0, 1e-6, "w * t_un + b at w=1, b=0");
    cg_tensor_free(kept);
    close_lecture(&f);
}

Test(tape, backward_errors_name_the_problem)
{
    fixture f = open_lecture(1.0f);
    cg_tensor *t_p = cg_mul(cg_at(f.params, 0), f.t_u);
    cr_assert_eq(cg_backward(t_p), CG_ERROR_SHAPE_MISMATCH);
    cr_assert(strstr(cg_error_message(f.ctx), "[11]") && strstr(cg_error_message(f.ctx), "seed"),
              "%s", cg_error_message(f.ctx));
    cg_clear_error(f.ctx);
    /* With a seed of the output's shape it works: d(sum w*t_u)/dw = sum t_u. */
    float ones[11];
    for (int i = 0; i < 11; i++) ones[i] = 1.0f;
    cg_tensor *seed = cg_tensor_from(f.ctx, ones, CG_SHAPE(11));
    cr_assert_eq(cg_backward_ex(t_p, seed, false), CG_OK, "%s", cg_error_message(f.ctx));
    float g[2];
    read_grad(f.params, g);
    assert_close(g[0], 569.8, 0, 1e-5, "sum of t_u: %f", g[0]);
    cr_assert_eq(g[1], 0.0f);
    cg_tensor_free(seed);

    /* Shape errors name the op and both shapes. */
    cg_tensor *a = cg_tensor_zeros(f.ctx, CG_SHAPE(3, 2)), *b = cg_tensor_zeros(f.ctx, CG_SHAPE(4, 2));
    cr_assert_null(cg_add(a, b));
    cr_assert_eq(cg_status_of(f.ctx), CG_ERROR_SHAPE_MISMATCH);
    cr_assert(strstr(cg_error_message(f.ctx), "cg_add: shapes [3,2] and [4,2] do not broadcast"),
              "%s", cg_error_message(f.ctx));
    /* Sticky: the next op returns NULL without a second message. */
    cr_assert_null(cg_mul(a, a));
    cr_assert(strstr(cg_error_message(f.ctx), "cg_add"));
    cg_clear_error(f.ctx);

    /* Tensors of two contexts. */
    cg_context *other = ref_context();
    cg_tensor *c = cg_tensor_zeros(other, CG_SHAPE(3, 2));
    cr_assert_null(cg_add(a, c));
    cr_assert_eq(cg_status_of(f.ctx), CG_ERROR_CONTEXT_MISMATCH);
    cr_assert(strstr(cg_error_message(f.ctx), "another context"));
    cr_assert_eq(cg_status_of(other), CG_OK, "the other context is untouched");
    cg_tensor_free(c);
    cg_context_free(other);
    cg_tensor_free(a);
    cg_tensor_free(b);
    close_lecture(&f);
}

/* The lecture's loops through the tape match the fused path. */
Test(tape, tape_path_matches_the_fused_path)
{
    for (int optim = 0; optim < 2; optim++) {
        float scale = optim ? 1.0f : 0.1f, lr = optim ? 1e-1f : 1e-2f;
        int epochs = optim ? 2000 : 5000;
        fixture f = open_lecture(scale);
        cg_tensor *ps[1] = {f.params};
        cg_optimizer *opt = optim ? cg_adam(f.ctx, ps, 1, &(cg_adam_options){.lr = lr})
                                  : cg_sgd(f.ctx, ps, 1, &(cg_sgd_options){.lr = lr});
        cr_assert_not_null(opt);
        for (int e = 0; e < epochs; e++) {
            cg_tensor *loss = lecture_loss(f.params, f.t_u, f.t_c);
            cg_zero_grad(opt);
            cg_backward(loss);
            cg_step(opt);
            cg_tape_reset(f.ctx);
        }
        cr_assert_eq(cg_status_of(f.ctx), CG_OK, "%s", cg_error_message(f.ctx));
        float p[2];
        cg_tensor_read(f.params, p, 2);

        cg_linreg *m = cg_linreg_create(f.ctx, f.t_u, f.t_c);
        cg_fit_options o = cg_fit_defaults();
        o.epochs = epochs;
        o.lr = lr;
        o.optimizer = optim ? CG_OPTIM_ADAM : CG_OPTIM_SGD;
        cg_fit_result r;
        cr_assert_eq(cg_linreg_fit(m, &o, &r), CG_OK);
        assert_close(p[0], r.params[0], 1e-4, 1e-4, "optim %d w: tape %f fused %f", optim, p[0],
                     r.params[0]);
        assert_close(p[1], r.params[1], 1e-3, 1e-4, "optim %d b: tape %f fused %f", optim, p[1],
                     r.params[1]);
        assert_close(p[0], optim ? 0.5367 : 5.3671, 1e-4, 0, "lecture's w");
        assert_close(p[1], optim ? -17.3021 : -17.3012, 2e-4, 0, "lecture's b");
        cg_fit_result_free(&r);
        cg_linreg_free(m);
        cg_optimizer_free(opt);
        close_lecture(&f);
    }
}

Test(tape, a_long_mlp_loop_keeps_memory_flat)
{
    cg_context *ctx = test_context();
    test_rng rng = {test_seed() | 1};
    float x[32 * 3], y[32];
    for (int i = 0; i < 32 * 3; i++) x[i] = rng_range(&rng, -1, 1);
    for (int i = 0; i < 32; i++) y[i] = rng_range(&rng, -1, 1);
    cg_tensor *tx = cg_tensor_from(ctx, x, CG_SHAPE(32, 3)), *ty = cg_tensor_from(ctx, y, CG_SHAPE(32, 1));
    const size_t sizes[] = {3, 16, 16, 1};
    cg_mlp *mlp = cg_mlp_create(ctx, sizes, 4, CG_ACT_TANH, 7);
    cg_tensor *params[6];
    cg_mlp_parameters(mlp, params, 6);
    cg_optimizer *opt = cg_sgd(ctx, params, 6, &(cg_sgd_options){.lr = 0.05f});
    cg_context_stats after_first = {0};
    float first = 0, last = 0;
    for (int it = 0; it < 10000; it++) {
        cg_tensor *loss = cg_mse_loss(cg_mlp_forward(mlp, tx), ty, CG_REDUCTION_MEAN);
        cg_zero_grad(opt);
        cg_backward(loss);
        cg_step(opt);
        if (it == 0) first = cg_item(loss);
        if (it == 9999) last = cg_item(loss);
        cg_tape_reset(ctx);
        cg_context_stats s = cg_context_stats_of(ctx);
        if (it == 0) after_first = s;
        else if (it % 1000 == 0 || it == 9999) {
            cr_assert_eq(s.bytes_allocated, after_first.bytes_allocated, "iteration %d", it);
            cr_assert_eq(s.bytes_pooled, after_first.bytes_pooled, "iteration %d", it);
        }
    }
    cr_assert_eq(cg_status_of(ctx), CG_OK, "%s", cg_error_message(ctx));
    cr_assert_lt(last, first, "training lowered the loss: %f -> %f", first, last);
    cg_optimizer_free(opt);
    cg_mlp_free(mlp);
    cg_tensor_free(tx);
    cg_tensor_free(ty);
    cg_context_free(ctx);
}

/* Freeing what the tape reads, then backward: the tape keeps it until the
 * reset (it was a use after free: PoCL asserted, ref crashed). */
Test(tape, freeing_a_tensor_the_tape_reads_waits_for_the_reset)
{
    cg_context *ctx = test_context();
    cg_context_stats start = cg_context_stats_of(ctx);
    cg_tensor *w = cg_tensor_from(ctx, (float[]){1, 2, 3}, CG_SHAPE(3));
    cg_tensor *x = cg_tensor_from(ctx, (float[]){4, 5, 6}, CG_SHAPE(3));
    cg_tensor *b = cg_tensor_from(ctx, (float[]){1}, CG_SHAPE(1));
    cg_set_requires_grad(w, true);
    cg_set_requires_grad(b, true);
    /* loss = sum(concat(w * x, b)): d/dw = x, read by mul's backward */
    cg_tensor *parts[2] = {cg_mul(w, x), b};
    cg_tensor *loss = cg_sum(cg_concat(parts, 2, 0));
    cg_tensor_free(x); /* an input of mul: its backward reads it */
    cg_tensor_free(b); /* an input of concat */
    cr_assert_eq(cg_backward(loss), CG_OK, "%s", cg_error_message(ctx));
    float g[3];
    read_grad(w, g);
    cr_assert(g[0] == 4 && g[1] == 5 && g[2] == 6, "dL/dw = x: %f %f %f", g[0], g[1], g[2]);
    cg_tape_reset(ctx); /* x and b go now */
    cg_tensor_free(w);  /* nothing reads w after the reset: freed at once */
    cg_context_stats end = cg_context_stats_of(ctx);
    cr_assert_eq(end.bytes_allocated, start.bytes_allocated, "nothing leaked or kept");
    cr_assert_eq(end.tape_tensors, 0);
    /* A tensor freed while the tape reads it, and the reset never comes:
     * the context's free takes it (LSan checks on ref). */
    cg_tensor *y = cg_tensor_from(ctx, (float[]){1, 2}, CG_SHAPE(2));
    cg_set_requires_grad(y, true);
    cg_sum(cg_square(y));
    cg_tensor_free(y);
    cr_assert_eq(cg_context_stats_of(ctx).tape_tensors, 3, "y joined the tape's tensors");
    cg_context_free(ctx);
}
