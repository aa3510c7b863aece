/* Argument values the library used to take silently, or answer with the
 * wrong status: out-parameters on a context in error, sizes no device holds,
 * a zero transform scale, an optimizer's parameter twice, a sparse gradient
 * for a dense optimizer, a group that does not exist. (NULL arguments:
 * test_api.c.) */
#include "helpers.h"

static cg_tensor *square_fn(void *user, cg_tensor *const *in, size_t count)
{
    (void)user, (void)count;
    return cg_square(in[0]);
}

/* A 4 TiB request must come back as NULL from malloc, not abort under ASan. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

/* On a context already in error, every out-parameter is emptied all the same:
 * its free is safe (garbage left in it was freed before: ASan on ref). */
Test(args, out_parameters_are_empty_on_a_context_in_error)
{
    cg_context *ctx = test_context();
    cg_tensor *X = cg_tensor_from(ctx, (float[]){1, 2, 3}, CG_SHAPE(3));
    cg_tensor *y = cg_tensor_from(ctx, (float[]){2, 4, 6}, CG_SHAPE(3));
    cg_tensor *in = cg_tensor_from(ctx, (float[]){1, 2}, CG_SHAPE(2));
    cg_set_requires_grad(in, true);
    cg_linreg *m = cg_linreg_create(ctx, X, y);
    cr_assert_not_null(m, "%s", cg_error_message(ctx));
    cr_assert_null(cg_tensor_from(ctx, NULL, CG_SHAPE(1))); /* the context's first error */
    cr_assert_eq(cg_status_of(ctx), CG_ERROR_NULL_POINTER);

    cg_table t;
    memset(&t, 0xA5, sizeof t);
    cr_assert_eq(cg_table_read_csv(ctx, "no-such.csv", &t), CG_ERROR_NULL_POINTER);
    cr_assert(!t.names && !t.values && !t.rows && !t.cols);
    cg_table_free(&t);

    cg_normalizer n;
    memset(&n, 0xA5, sizeof n);
    cr_assert_eq(cg_normalizer_fit(ctx, CG_NORM_STANDARD, 1.0f, (float[]){1, 2}, 2, 1, &n),
                 CG_ERROR_NULL_POINTER);
    cr_assert(!n.shift && !n.scale && !n.features);
    cg_normalizer_free(&n);

    cg_linear l;
    memset(&l, 0xA5, sizeof l);
    cr_assert_eq(cg_linear_init(ctx, &l, 2, 3, 1, 0), CG_ERROR_NULL_POINTER);
    cr_assert(!l.weight && !l.bias);
    cg_linear_free(&l);

    cg_fit_result r;
    memset(&r, 0xA5, sizeof r);
    cr_assert_eq(cg_linreg_fit(m, NULL, &r), CG_ERROR_NULL_POINTER);
    cr_assert(!r.params && !r.history_epochs && !r.history_loss && !r.curve_epochs &&
              !r.curve_loss && !r.history_count);
    cg_fit_result_free(&r);

    cg_gradcheck_report rep;
    memset(&rep, 0xA5, sizeof rep);
    cr_assert_eq(cg_gradcheck(ctx, square_fn, NULL, &in, 1, 1e-2f, 1e-2f, 1e-2f, &rep),
                 CG_ERROR_NULL_POINTER);
    cr_assert(rep.checked == 0 && rep.failures == 0 && rep.max_abs_error == 0.0);

    float loss = 7.0f, grad[2] = {7.0f, 7.0f};
    cr_assert_eq(cg_linreg_eval(m, (float[]){1, 0}, CG_LOSS_MSE, CG_GRAD_ANALYTIC, 0.1f, &loss,
                                grad),
                 CG_ERROR_NULL_POINTER);
    cr_assert(isnan(loss) && isnan(grad[0]) && isnan(grad[1]), "no stale values");

    /* Without a context: the lecture's table and the device list. */
    memset(&t, 0xA5, sizeof t);
    cr_assert_eq(cg_table_lecture(&t), CG_OK);
    cg_table_free(&t);
    cg_device_info *list = (cg_device_info *)&t;
    cr_assert_eq(cg_device_list(&list, NULL), CG_ERROR_NULL_POINTER);
    cg_device_list_free(list);

    cg_clear_error(ctx);
    cg_linreg_free(m);
    cg_tensor_free(X);
    cg_tensor_free(y);
    cg_tensor_free(in);
    cg_context_free(ctx);
}

/* 2^40 floats: out of memory on every device (PoCL said CG_ERROR_OPENCL). */
Test(args, a_tensor_larger_than_the_device_is_out_of_memory)
{
    cg_context *ctx = test_context();
    const size_t big = (size_t)1 << 20;
    cr_assert_null(cg_tensor_zeros(ctx, CG_SHAPE(big, big)));
    cr_assert_eq(cg_status_of(ctx), CG_ERROR_NO_MEMORY, "%s: %s",
                 cg_status_string(cg_status_of(ctx)), cg_error_message(ctx));
    cr_assert(strstr(cg_error_message(ctx), "cg_tensor_zeros"), "%s", cg_error_message(ctx));
    cg_clear_error(ctx);
    cr_assert_null(cg_rand_uniform(ctx, CG_SHAPE(big, big), 0.0f, 1.0f, 1, 0));
    cr_assert_eq(cg_status_of(ctx), CG_ERROR_NO_MEMORY, "%s", cg_error_message(ctx));
    cg_clear_error(ctx);
    cg_tensor *ok = cg_tensor_zeros(ctx, CG_SHAPE(1000)); /* usable again */
    cr_assert_not_null(ok, "%s", cg_error_message(ctx));
    cg_tensor_free(ok);
    cg_context_free(ctx);
}

/* x' = (x - shift) * 0 would train on a constant: refused, as the CLI
 * refuses a zero scale. */
Test(args, a_zero_or_non_finite_transform_scale_is_refused)
{
    cg_context *ctx = test_context();
    cg_tensor *X = cg_tensor_from(ctx, (float[]){1, 2, 3, 4, 5, 6}, CG_SHAPE(3, 2));
    cg_tensor *y = cg_tensor_from(ctx, (float[]){1, 2, 3}, CG_SHAPE(3));
    cg_linreg *m = cg_linreg_create(ctx, X, y);
    const float bad[] = {0.0f, -0.0f, INFINITY, NAN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(cg_linreg_set_transform(m, NULL, (float[]){1.0f, bad[i]}),
                     CG_ERROR_INVALID_ARGUMENT, "scale %g", (double)bad[i]);
        cr_assert(strstr(cg_error_message(ctx), "feature 1"), "%s", cg_error_message(ctx));
        cg_clear_error(ctx);
    }
    cr_assert_eq(cg_linreg_set_transform(m, (float[]){1, 1}, (float[]){-2, 0.5f}), CG_OK);
    cg_linreg_free(m);
    cg_tensor_free(X);
    cg_tensor_free(y);
    cg_context_free(ctx);
}

Test(args, a_parameter_twice_is_refused)
{
    cg_context *ctx = test_context();
    cg_tensor *w = cg_tensor_from(ctx, (float[]){1, 2, 3}, CG_SHAPE(3));
    cg_tensor *b = cg_tensor_zeros(ctx, CG_SHAPE(1));
    cg_set_requires_grad(w, true);
    cg_set_requires_grad(b, true);
    for (int k = 0; k < CG_OPTIM_KIND_COUNT; k++) { /* twice in one group: every kind */
        cr_assert_null(cg_optimizer_create(ctx, (cg_optim_kind)k, (cg_tensor *[]){w, b, w}, 3,
                                           NULL));
        cr_assert(strstr(cg_error_message(ctx), "parameter 2 appears twice"), "%s: %s",
                  cg_optim_name((cg_optim_kind)k), cg_error_message(ctx));
        cg_clear_error(ctx);
    }
    /* In two groups (torch raises): refused, so one step moves w once. */
    cg_optim_options sgd = cg_optim_defaults(CG_OPTIM_SGD);
    sgd.lr = 0.1f;
    cg_optimizer *opt = cg_optimizer_create(ctx, CG_OPTIM_SGD, &w, 1, &sgd);
    cr_assert_eq(cg_optimizer_add_group(opt, (cg_tensor *[]){b, w}, 2, NULL), -1);
    cr_assert_eq(cg_status_of(ctx), CG_ERROR_INVALID_ARGUMENT);
    cr_assert(strstr(cg_error_message(ctx), "more than one parameter group"), "%s",
              cg_error_message(ctx));
    cg_clear_error(ctx);
    cr_assert_eq(cg_optimizer_groups(opt), 1);
    cg_backward(cg_sum(cg_square(w)));
    cr_assert_eq(cg_step(opt), CG_OK);
    float v[3];
    cg_tensor_read(w, v, 3);
    assert_close(v[0], 0.8, 1e-6, 0, "w[0] = %f: stepped once", v[0]);
    cg_tape_reset(ctx);
    cg_optimizer_free(opt);
    cg_tensor_free(w);
    cg_tensor_free(b);
    cg_context_free(ctx);
}

Test(args, a_group_that_does_not_exist_is_an_error)
{
    cg_context *ctx = test_context();
    cg_tensor *w = cg_tensor_zeros(ctx, CG_SHAPE(3));
    cg_set_requires_grad(w, true);
    cg_optimizer *opt = cg_optimizer_create(ctx, CG_OPTIM_ASGD, &w, 1, NULL);
    cr_assert(isnan(cg_optimizer_lr(opt, 1)));
    cr_assert_eq(cg_status_of(ctx), CG_ERROR_INVALID_ARGUMENT);
    cr_assert(strstr(cg_error_message(ctx), "cg_optimizer_lr: no group 1"), "%s",
              cg_error_message(ctx));
    cg_clear_error(ctx);
    size_t n = 7;
    cr_assert_null(cg_optimizer_params(opt, 2, &n));
    cr_assert_eq(n, 0);
    cr_assert_eq(cg_status_of(ctx), CG_ERROR_INVALID_ARGUMENT);
    cg_clear_error(ctx);
    cr_assert_null(cg_optimizer_average(opt, 0, 1));
    cr_assert_eq(cg_status_of(ctx), CG_ERROR_INVALID_ARGUMENT);
    cg_clear_error(ctx);
    cr_assert_not_null(cg_optimizer_average(opt, 0, 0));
    cr_assert_eq(cg_optimizer_lr(opt, 0), cg_optim_defaults(CG_OPTIM_ASGD).lr);
    cr_assert_eq(cg_status_of(ctx), CG_OK);
    cg_optimizer_free(opt);
    cg_tensor_free(w);
    cg_context_free(ctx);
}

/* embedding rows 1 and 2 of a sparse-gradient w, plus a dense b. */
static float sparse_loss(cg_tensor *w, cg_tensor *b)
{
    cg_tensor *loss = cg_sum(cg_add(cg_embedding(w, (const unsigned[]){1, 2}, 2), b));
    cg_backward(loss);
    return cg_item(loss);
}

typedef struct sparse_problem {
    cg_optimizer *opt;
    cg_tensor *w, *b;
} sparse_problem;

static float sparse_closure(void *user)
{
    sparse_problem *p = user;
    cg_zero_grad(p->opt);
    cg_tape_reset(cg_tensor_context(p->w));
    return sparse_loss(p->w, p->b);
}

Test(args, dense_optimizers_refuse_a_sparse_gradient)
{
    cg_context *ctx = test_context();
    for (int k = 0; k < CG_OPTIM_KIND_COUNT; k++) {
        if (k == CG_OPTIM_SPARSE_ADAM) continue;
        const char *name = cg_optim_name((cg_optim_kind)k);
        cg_tensor *w = cg_tensor_full(ctx, CG_SHAPE(4, 3), 1.0f);
        cg_tensor *b = cg_tensor_full(ctx, CG_SHAPE(3), 2.0f);
        cg_set_requires_grad(w, true);
        cg_set_requires_grad(b, true);
        cg_set_sparse_grad(w, true);
        sparse_problem p = {cg_optimizer_create(ctx, (cg_optim_kind)k, (cg_tensor *[]){b, w}, 2,
                                                NULL),
                            w, b};
        cr_assert_not_null(p.opt, "%s: %s", name, cg_error_message(ctx));
        if (k == CG_OPTIM_LBFGS) { /* it reads the gradients inside its step */
            cr_assert(isnan(cg_step_closure(p.opt, sparse_closure, &p)), "%s", name);
        } else {
            sparse_loss(w, b);
            cr_assert_eq(cg_step(p.opt), CG_ERROR_INVALID_ARGUMENT, "%s: %s", name,
                         cg_error_message(ctx));
        }
        cr_assert(strstr(cg_error_message(ctx), "SparseAdam") &&
                      strstr(cg_error_message(ctx), name),
                  "%s", cg_error_message(ctx));
        cg_clear_error(ctx);
        float v[3];
        cg_tensor_read(b, v, 3);
        cr_assert(v[0] == 2.0f && v[2] == 2.0f, "%s: nothing was updated (b %f)", name, v[0]);
        cg_tape_reset(ctx);
        cg_optimizer_free(p.opt);
        cg_tensor_free(w);
        cg_tensor_free(b);
    }
    cg_context_free(ctx);
}
