/* Layers and random numbers: the same seed gives the same weights on every
 * device; an MLP matches PyTorch's loss and gradients on a fixture. */
#include "helpers.h"

Test(nn, random_numbers_are_identical_on_device_and_reference)
{
    cg_context *dev = test_context(), *ref = ref_context();
    const size_t n = 4097;
    cg_tensor *a = cg_rand_uniform(dev, CG_SHAPE(n), -0.5f, 0.5f, 42, 1000);
    cg_tensor *b = cg_rand_uniform(ref, CG_SHAPE(n), -0.5f, 0.5f, 42, 1000);
    float *va = malloc(n * sizeof *va), *vb = malloc(n * sizeof *vb);
    cg_tensor_read(a, va, n);
    cg_tensor_read(b, vb, n);
    cr_assert_eq(memcmp(va, vb, n * sizeof *va), 0, "bit-identical draws");
    double mean = 0;
    for (size_t i = 0; i < n; i++) {
        cr_assert(va[i] >= -0.5f && va[i] < 0.5f);
        mean += va[i];
    }
    assert_close(mean / n, 0.0, 0.02, 0, "mean %f", mean / n);
    /* Offsets continue the stream: draw [1000, 1010) == the first 10. */
    cg_tensor *c = cg_rand_uniform(dev, CG_SHAPE(10), -0.5f, 0.5f, 42, 1000);
    float vc[10];
    cg_tensor_read(c, vc, 10);
    cr_assert_eq(memcmp(vc, va, sizeof vc), 0);
    free(va);
    free(vb);
    cg_tensor_free(a);
    cg_tensor_free(b);
    cg_tensor_free(c);
    cg_context_free(dev);
    cg_context_free(ref);
}

Test(nn, mlp_init_is_torch_shaped_and_device_independent)
{
    cg_context *dev = test_context(), *ref = ref_context();
    const size_t sizes[] = {5, 7, 1};
    cg_mlp *a = cg_mlp_create(dev, sizes, 3, CG_ACT_RELU, 9), *b = cg_mlp_create(ref, sizes, 3, CG_ACT_RELU, 9);
    cr_assert_eq(cg_mlp_parameter_count(a), 5 * 7 + 7 + 7 + 1);
    cr_assert_eq(cg_mlp_layers(a), 2);
    for (size_t l = 0; l < 2; l++) {
        const cg_linear *la = cg_mlp_layer(a, l), *lb = cg_mlp_layer(b, l);
        cg_shape ws = cg_tensor_shape(la->weight);
        cr_assert(ws.dims[0] == la->out && ws.dims[1] == la->in, "weight is [out, in]");
        float wa[64], wb[64];
        size_t n = la->in * la->out;
        cg_tensor_read(la->weight, wa, n);
        cg_tensor_read(lb->weight, wb, n);
        cr_assert_eq(memcmp(wa, wb, n * sizeof(float)), 0, "layer %zu weights", l);
        float bound = 1.0f / sqrtf((float)la->in);
        for (size_t i = 0; i < n; i++) cr_assert_leq(fabsf(wa[i]), bound);
        cr_assert(cg_requires_grad(la->weight) && cg_requires_grad(la->bias));
    }
    cg_mlp *c = cg_mlp_create(dev, sizes, 3, CG_ACT_RELU, 10);
    float w9[35], w10[35];
    cg_tensor_read(cg_mlp_layer(a, 0)->weight, w9, 35);
    cg_tensor_read(cg_mlp_layer(c, 0)->weight, w10, 35);
    cr_assert_neq(memcmp(w9, w10, sizeof w9), 0, "another seed, other weights");
    cg_mlp_free(a);
    cg_mlp_free(b);
    cg_mlp_free(c);
    cr_assert_null(cg_mlp_create(dev, sizes, 1, CG_ACT_TANH, 1));
    cr_assert_eq(cg_status_of(dev), CG_ERROR_INVALID_ARGUMENT);
    cg_context_free(dev);
    cg_context_free(ref);
}

Test(nn, linear_layer_shapes_and_forward)
{
    cg_context *ctx = test_context();
    cg_linear l;
    cr_assert_eq(cg_linear_init(ctx, &l, 3, 2, 5, 0), CG_OK);
    float w[6] = {1, 2, 3, 4, 5, 6}, b[2] = {0.5f, -1};
    cg_tensor_write(l.weight, w, 6);
    cg_tensor_write(l.bias, b, 2);
    cg_tensor *x = cg_tensor_from(ctx, (float[]){1, 0, -1, 2, 1, 0}, CG_SHAPE(2, 3));
    cg_tensor *y = cg_linear_forward(&l, x);
    cg_shape s = cg_tensor_shape(y);
    cr_assert(s.ndim == 2 && s.dims[0] == 2 && s.dims[1] == 2);
    float out[4];
    cg_tensor_read(y, out, 4);
    /* x W^T + b: [1-3, 4-6] + b, [2+2, 8+5] + b */
    const float want[4] = {-2 + 0.5f, -2 - 1, 4 + 0.5f, 13 - 1};
    for (int i = 0; i < 4; i++) assert_close(out[i], want[i], 0, 1e-6, "y[%d] = %f", i, out[i]);
    cg_linear bad; /* (init empties its layer first: not l, which holds tensors) */
    cr_assert_eq(cg_linear_init(ctx, &bad, 0, 2, 5, 0), CG_ERROR_INVALID_ARGUMENT);
    cr_assert_null(bad.weight);
    cg_tape_reset(ctx);
    cg_tensor_free(x);
    cg_linear_free(&l);
    cg_context_free(ctx);
}

Test(nn, mlp_matches_pytorch_loss_and_gradients)
{
    const char *path = "mlp_3_16_16_1_tanh.txt";
    cg_context *ctx = test_context();
    const size_t sizes[] = {3, 16, 16, 1};
    cg_mlp *mlp = cg_mlp_create(ctx, sizes, 4, CG_ACT_TANH, 0);
    float buf[512];
    for (size_t l = 0; l < 3; l++) {
        char name[32];
        const cg_linear *layer = cg_mlp_layer(mlp, l);
        snprintf(name, sizeof name, "weight%zu", l);
        cr_assert_eq(fixture_values(path, name, buf, 512), layer->in * layer->out);
        cg_tensor_write(layer->weight, buf, layer->in * layer->out);
        snprintf(name, sizeof name, "bias%zu", l);
        cr_assert_eq(fixture_values(path, name, buf, 512), layer->out);
        cg_tensor_write(layer->bias, buf, layer->out);
    }
    float x[24], y[8], loss_want;
    fixture_values(path, "x", x, 24);
    fixture_values(path, "y", y, 8);
    fixture_values(path, "loss", &loss_want, 1);
    cg_tensor *tx = cg_tensor_from(ctx, x, CG_SHAPE(8, 3)), *ty = cg_tensor_from(ctx, y, CG_SHAPE(8, 1));
    cg_tensor *loss = cg_mse_loss(cg_mlp_forward(mlp, tx), ty, CG_REDUCTION_MEAN);
    assert_close(cg_item(loss), loss_want, 1e-7, 1e-5, "loss %.9g vs torch %.9g", cg_item(loss),
                 loss_want);
    cr_assert_eq(cg_backward(loss), CG_OK, "%s", cg_error_message(ctx));
    for (size_t l = 0; l < 3; l++) {
        const cg_linear *layer = cg_mlp_layer(mlp, l);
        for (int which = 0; which < 2; which++) {
            char name[32];
            snprintf(name, sizeof name, which ? "gbias%zu" : "gweight%zu", l);
            size_t n = fixture_values(path, name, buf, 512);
            float got[512];
            cg_tensor *t = which ? layer->bias : layer->weight;
            cr_assert_eq(n, cg_tensor_numel(t));
            cg_tensor_read(cg_grad(t), got, n);
            double scale = 0;
            for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(buf[i]));
            for (size_t i = 0; i < n; i++)
                assert_close(got[i], buf[i], 1e-5 * scale, 1e-5, "%s[%zu]: %.9g vs torch %.9g",
                             name, i, got[i], buf[i]);
        }
    }
    cg_tape_reset(ctx);
    cg_mlp_free(mlp);
    cg_tensor_free(tx);
    cg_tensor_free(ty);
    cg_context_free(ctx);
}

Test(nn, mlp_learns_a_nonlinear_function)
{
    cg_context *ctx = test_context();
    enum { N = 128 };
    float x[N], y[N];
    for (int i = 0; i < N; i++) {
        x[i] = -1.0f + 2.0f * (float)i / (N - 1);
        y[i] = sinf(3.0f * x[i]);
    }
    cg_tensor *tx = cg_tensor_from(ctx, x, CG_SHAPE(N, 1)), *ty = cg_tensor_from(ctx, y, CG_SHAPE(N, 1));
    const size_t sizes[] = {1, 32, 32, 1};
    cg_mlp *mlp = cg_mlp_create(ctx, sizes, 4, CG_ACT_TANH, 42);
    cg_tensor *params[6];
    cg_mlp_parameters(mlp, params, 6);
    cg_optimizer *opt = cg_adam(ctx, params, 6, &(cg_adam_options){.lr = 1e-2f});
    float first = 0, last = 0;
    for (int e = 0; e < 600; e++) {
        cg_tensor *loss = cg_mse_loss(cg_mlp_forward(mlp, tx), ty, CG_REDUCTION_MEAN);
        cg_zero_grad(opt);
        cg_backward(loss);
        cg_step(opt);
        if (e == 0) first = cg_item(loss);
        last = cg_item(loss);
        cg_tape_reset(ctx);
    }
    cr_assert_eq(cg_status_of(ctx), CG_OK, "%s", cg_error_message(ctx));
    cr_assert_gt(first, 0.1f, "starts around 0.5: %f", first);
    cr_assert_lt(last, 0.01f, "ends under 0.01: %f", last);
    cg_optimizer_free(opt);
    cg_mlp_free(mlp);
    cg_tensor_free(tx);
    cg_tensor_free(ty);
    cg_context_free(ctx);
}

Test(nn, uniform_bounds_are_checked_as_torch_checks_them)
{
    cg_context *ctx = test_context();
    const float bad[][2] = {{1, 0}, {NAN, 1}, {0, NAN}, {-INFINITY, 0}, {0, INFINITY},
                            {-3e38f, 3e38f}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_null(cg_rand_uniform(ctx, CG_SHAPE(4), bad[i][0], bad[i][1], 1, 0), "case %zu",
                       i);
        cr_assert_eq(cg_status_of(ctx), CG_ERROR_INVALID_ARGUMENT, "case %zu", i);
        cr_assert(strstr(cg_error_message(ctx), "cg_rand_uniform: the bounds"), "%s",
                  cg_error_message(ctx));
        cg_clear_error(ctx);
    }
    cg_tensor *same = cg_rand_uniform(ctx, CG_SHAPE(3), 2.5f, 2.5f, 1, 0); /* lo == hi: fine */
    float v[3];
    cr_assert_eq(cg_tensor_read(same, v, 3), CG_OK, "%s", cg_error_message(ctx));
    cr_assert(v[0] == 2.5f && v[2] == 2.5f);
    cg_tensor_free(same);
    /* A layer past the last is an error, not a quiet NULL. */
    cg_mlp *m = cg_mlp_create(ctx, (size_t[]){2, 3, 1}, 3, CG_ACT_TANH, 1);
    cr_assert_not_null(cg_mlp_layer(m, 1));
    cr_assert_null(cg_mlp_layer(m, 2));
    cr_assert_eq(cg_status_of(ctx), CG_ERROR_INVALID_ARGUMENT);
    cg_mlp_free(m);
    cg_context_free(ctx);
}
