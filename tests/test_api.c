/* The public API's contract for NULL arguments (include/clgrad.h, top): every
 * exported function has a case below that calls it with NULL in each pointer
 * argument and checks the documented answer. The list of functions is the
 * built shared library's own (its ELF dynamic symbols, CLGRAD_SHARED_LIB set
 * by meson), so a new or renamed function without a case fails the sweep.
 * One case per exported function: the file is as long as the API. */
#include <elf.h>
#include <signal.h>

#include "helpers.h"

#include <criterion/parameterized.h> /* after criterion.h */

/* ---- objects a case may need, made on first use, freed after each case -- */

static cg_context *ctx_;
static cg_tensor *t_, *x_, *y_;
static cg_optimizer *opt_;
static cg_scheduler *sched_;
static cg_mlp *mlp_;
static cg_linear layer_;
static cg_linreg *model_;
static cg_normalizer norm_;
static cg_table table_;

static cg_context *C(void)
{
    if (!ctx_) ctx_ = test_context();
    return ctx_;
}

/* A [2, 3] leaf that requires grad. */
static cg_tensor *T(void)
{
    if (!t_) {
        t_ = cg_tensor_from(C(), (float[]){1, 2, 3, 4, 5, 6}, CG_SHAPE(2, 3));
        cg_set_requires_grad(t_, true);
    }
    return t_;
}

static cg_optimizer *OPT(void)
{
    if (!opt_) opt_ = cg_optimizer_create(C(), CG_OPTIM_SGD, (cg_tensor *[]){T()}, 1, NULL);
    cr_assert_not_null(opt_, "%s", cg_error_message(C()));
    return opt_;
}

static cg_scheduler *SCHED(void)
{
    cg_scheduler_options o = cg_scheduler_defaults(CG_SCHED_EXP);
    o.gamma = 0.5f;
    if (!sched_) sched_ = cg_scheduler_create(OPT(), &o);
    cr_assert_not_null(sched_, "%s", cg_error_message(C()));
    return sched_;
}

static cg_mlp *MLP(void)
{
    if (!mlp_) mlp_ = cg_mlp_create(C(), (size_t[]){3, 4, 1}, 3, CG_ACT_TANH, 7);
    cr_assert_not_null(mlp_, "%s", cg_error_message(C()));
    return mlp_;
}

static cg_linear *LAYER(void)
{
    if (!layer_.weight) cr_assert_eq(cg_linear_init(C(), &layer_, 3, 2, 1, 0), CG_OK);
    return &layer_;
}

static cg_tensor *X(void)
{
    if (!x_) x_ = cg_tensor_from(C(), (float[]){1, 2, 3, 4}, CG_SHAPE(4));
    return x_;
}

static cg_tensor *Y(void)
{
    if (!y_) y_ = cg_tensor_from(C(), (float[]){3, 5, 7, 9}, CG_SHAPE(4));
    return y_;
}

static cg_linreg *MODEL(void)
{
    if (!model_) model_ = cg_linreg_create(C(), X(), Y());
    cr_assert_not_null(model_, "%s", cg_error_message(C()));
    return model_;
}

static cg_normalizer *NORM(void)
{
    if (!norm_.shift)
        cr_assert_eq(cg_normalizer_fit(C(), CG_NORM_STANDARD, 1.0f, (float[]){1, 2, 3, 4}, 4, 1,
                                       &norm_),
                     CG_OK);
    return &norm_;
}

static cg_table *TABLE(void)
{
    if (!table_.names) cr_assert_eq(cg_table_lecture(&table_), CG_OK);
    return &table_;
}

static void free_all(void)
{
    cg_scheduler_free(sched_);
    cg_optimizer_free(opt_);
    cg_mlp_free(mlp_);
    cg_linear_free(&layer_);
    cg_linreg_free(model_);
    cg_normalizer_free(&norm_);
    cg_table_free(&table_);
    cg_tensor_free(t_);
    cg_tensor_free(x_);
    cg_tensor_free(y_);
    cg_context_free(ctx_);
    sched_ = NULL, opt_ = NULL, mlp_ = NULL, model_ = NULL, t_ = x_ = y_ = NULL, ctx_ = NULL;
}

/* The call reached a context: CG_ERROR_NULL_POINTER on it, the message
 * naming `fn`; cleared for the next call. */
static void expect_error(const char *fn)
{
    cr_assert_eq(cg_status_of(C()), CG_ERROR_NULL_POINTER, "%s: status %s (%s)", fn,
                 cg_status_string(cg_status_of(C())), cg_error_message(C()));
    cr_assert(strstr(cg_error_message(C()), fn), "%s: the message names it: '%s'", fn,
              cg_error_message(C()));
    cg_clear_error(C());
}

/* The call reached no context, or NULL was allowed: nothing recorded. */
static void expect_clean(const char *fn)
{
    if (ctx_)
        cr_assert_eq(cg_status_of(ctx_), CG_OK, "%s: status %s (%s)", fn,
                     cg_status_string(cg_status_of(ctx_)), cg_error_message(ctx_));
}

#define NP CG_ERROR_NULL_POINTER
#define ISNAN(v) cr_assert(isnan(v))

/* ---- the cases ----------------------------------------------------------- */

#define CASE(fn) static void case_##fn(void)

/* Op families: NULL alone reaches no context; NULL beside a tensor reaches
 * the tensor's. */
#define UNARY(fn)                                                                              \
    CASE(fn)                                                                                   \
    {                                                                                          \
        cr_assert_null(fn(NULL));                                                              \
        expect_clean(#fn);                                                                     \
    }
#define UNARY_S(fn)                                                                            \
    CASE(fn)                                                                                   \
    {                                                                                          \
        cr_assert_null(fn(NULL, 2.0f));                                                        \
        expect_clean(#fn);                                                                     \
    }
#define BINARY(fn)                                                                             \
    CASE(fn)                                                                                   \
    {                                                                                          \
        cr_assert_null(fn(NULL, NULL));                                                        \
        expect_clean(#fn);                                                                     \
        cr_assert_null(fn(NULL, T()));                                                         \
        expect_error(#fn);                                                                     \
        cr_assert_null(fn(T(), NULL));                                                         \
        expect_error(#fn);                                                                     \
    }
#define LOSS(fn)                                                                               \
    CASE(fn)                                                                                   \
    {                                                                                          \
        cr_assert_null(fn(NULL, NULL, CG_REDUCTION_MEAN));                                     \
        expect_clean(#fn);                                                                     \
        cr_assert_null(fn(NULL, T(), CG_REDUCTION_MEAN));                                      \
        expect_error(#fn);                                                                     \
        cr_assert_null(fn(T(), NULL, CG_REDUCTION_SUM));                                       \
        expect_error(#fn);                                                                     \
    }
/* Handles' accessors and frees: NULL is a no-op with a neutral answer. */
#define FREE(fn, type)                                                                         \
    CASE(fn)                                                                                   \
    {                                                                                          \
        fn((type *)NULL);                                                                      \
        expect_clean(#fn);                                                                     \
    }
/* No pointer argument: the entry records that the sweep looked at it. */
#define NO_POINTERS(fn, call)                                                                  \
    CASE(fn)                                                                                   \
    {                                                                                          \
        call;                                                                                  \
        expect_clean(#fn);                                                                     \
    }

UNARY(cg_neg) UNARY(cg_square) UNARY(cg_sqrt) UNARY(cg_exp) UNARY(cg_log) UNARY(cg_abs)
UNARY(cg_relu) UNARY(cg_tanh) UNARY(cg_sigmoid) UNARY(cg_sum) UNARY(cg_mean)
UNARY_S(cg_add_scalar) UNARY_S(cg_sub_scalar) UNARY_S(cg_rsub_scalar) UNARY_S(cg_mul_scalar)
UNARY_S(cg_div_scalar) UNARY_S(cg_rdiv_scalar) UNARY_S(cg_pow_scalar)
BINARY(cg_add) BINARY(cg_sub) BINARY(cg_mul) BINARY(cg_div)
LOSS(cg_mse_loss) LOSS(cg_l1_loss)
FREE(cg_tensor_free, cg_tensor) FREE(cg_context_free, cg_context) FREE(cg_clear_error, cg_context)
FREE(cg_no_grad_begin, cg_context) FREE(cg_no_grad_end, cg_context)
FREE(cg_tape_reset, cg_context) FREE(cg_device_list_free, cg_device_info)
FREE(cg_linear_free, cg_linear) FREE(cg_mlp_free, cg_mlp) FREE(cg_optimizer_free, cg_optimizer)
FREE(cg_scheduler_free, cg_scheduler) FREE(cg_linreg_free, cg_linreg)
FREE(cg_fit_result_free, cg_fit_result) FREE(cg_normalizer_free, cg_normalizer)
FREE(cg_table_free, cg_table)
NO_POINTERS(cg_status_string, cr_assert_str_eq(cg_status_string((cg_status)999), "unknown status"))
NO_POINTERS(cg_device_type_string, cr_assert_not_null(cg_device_type_string((cg_device_type)99)))
NO_POINTERS(cg_optim_defaults, cr_assert_gt(cg_optim_defaults(CG_OPTIM_ADAM).lr, 0.0f))
NO_POINTERS(cg_optim_name, cr_assert_str_eq(cg_optim_name((cg_optim_kind)99), "unknown"))
NO_POINTERS(cg_scheduler_defaults, cr_assert_eq(cg_scheduler_defaults(CG_SCHED_STEP).gamma, 0.1f))
NO_POINTERS(cg_fit_defaults, cr_assert_eq(cg_fit_defaults().epochs, 5000))

CASE(cg_sum_axis) { cr_assert_null(cg_sum_axis(NULL, 0, false)); expect_clean("cg_sum_axis"); }
CASE(cg_mean_axis) { cr_assert_null(cg_mean_axis(NULL, 0, true)); expect_clean("cg_mean_axis"); }

CASE(cg_huber_loss)
{
    cr_assert_null(cg_huber_loss(NULL, T(), 1.0f, CG_REDUCTION_MEAN));
    expect_error("cg_huber_loss");
    cr_assert_null(cg_huber_loss(T(), NULL, 1.0f, CG_REDUCTION_MEAN));
    expect_error("cg_huber_loss");
}

CASE(cg_matmul)
{
    cr_assert_null(cg_matmul(NULL, T(), false, true));
    expect_error("cg_matmul");
    cr_assert_null(cg_matmul(T(), NULL, false, true));
    expect_error("cg_matmul");
}

CASE(cg_reshape) { cr_assert_null(cg_reshape(NULL, CG_SHAPE(6))); expect_clean("cg_reshape"); }
CASE(cg_at) { cr_assert_null(cg_at(NULL, 0)); expect_clean("cg_at"); }
CASE(cg_slice) { cr_assert_null(cg_slice(NULL, 0, 1)); expect_clean("cg_slice"); }
CASE(cg_detach) { cr_assert_null(cg_detach(NULL)); expect_clean("cg_detach"); }
CASE(cg_select) { cr_assert_null(cg_select(NULL, 0, 0)); expect_clean("cg_select"); }
CASE(cg_narrow) { cr_assert_null(cg_narrow(NULL, 0, 0, 1)); expect_clean("cg_narrow"); }
CASE(cg_transpose) { cr_assert_null(cg_transpose(NULL, 0, 1)); expect_clean("cg_transpose"); }
CASE(cg_expand) { cr_assert_null(cg_expand(NULL, CG_SHAPE(2, 3))); expect_clean("cg_expand"); }
CASE(cg_contiguous) { cr_assert_null(cg_contiguous(NULL)); expect_clean("cg_contiguous"); }
CASE(cg_is_contiguous) { cr_assert(!cg_is_contiguous(NULL)); expect_clean("cg_is_contiguous"); }
CASE(cg_tape_own) { cg_tape_own(NULL); expect_clean("cg_tape_own"); }
CASE(cg_realize) { cr_assert_eq(cg_realize(NULL), NP); expect_clean("cg_realize"); }
CASE(cg_context_set_eager)
{
    cr_assert_eq(cg_context_set_eager(NULL, true), NP);
    expect_clean("cg_context_set_eager");
}
CASE(cg_context_eager) { cr_assert(!cg_context_eager(NULL)); expect_clean("cg_context_eager"); }
CASE(cg_context_set_fusion)
{
    cr_assert_eq(cg_context_set_fusion(NULL, true), NP);
    expect_clean("cg_context_set_fusion");
}
CASE(cg_context_fusion) { cr_assert(!cg_context_fusion(NULL)); expect_clean("cg_context_fusion"); }
CASE(cg_capture_begin)
{
    cr_assert_eq(cg_capture_begin(NULL), NP);
    expect_clean("cg_capture_begin");
}
CASE(cg_capture_end) { cr_assert_null(cg_capture_end(NULL)); expect_clean("cg_capture_end"); }
CASE(cg_capture_replay)
{
    cr_assert_eq(cg_capture_replay(NULL), NP);
    expect_clean("cg_capture_replay");
}
CASE(cg_capture_rebind)
{
    cr_assert_eq(cg_capture_rebind(NULL, NULL, NULL), NP);
    expect_clean("cg_capture_rebind");
    cr_assert_eq(cg_capture_rebind(NULL, T(), T()), NP);
    expect_clean("cg_capture_rebind");
}
CASE(cg_capture_launches)
{
    cr_assert_eq(cg_capture_launches(NULL), 0);
    expect_clean("cg_capture_launches");
}
CASE(cg_capture_replay_n)
{
    long done = 5;
    cr_assert_eq(cg_capture_replay_n(NULL, 3, NULL, NULL, &done), NP);
    cr_assert_eq(done, 0);
    expect_clean("cg_capture_replay_n");
}
CASE(cg_capture_free)
{
    cg_capture_free(NULL);
    expect_clean("cg_capture_free");
}
CASE(cg_scalar) { cr_assert_null(cg_scalar(NULL, 1.0f)); expect_clean("cg_scalar"); }
CASE(cg_permute)
{
    cr_assert_null(cg_permute(NULL, (int[]){1, 0}, 2));
    expect_clean("cg_permute");
    cr_assert_null(cg_permute(T(), NULL, 2));
    expect_error("cg_permute");
}
CASE(cg_item) { ISNAN(cg_item(NULL)); expect_clean("cg_item"); }

CASE(cg_concat)
{
    cr_assert_null(cg_concat(NULL, 2, 0)); /* documented: no context, no error */
    cr_assert_null(cg_concat((cg_tensor *[]){T()}, 0, 0));
    expect_clean("cg_concat");
    cr_assert_null(cg_concat((cg_tensor *[]){T(), NULL}, 2, 0));
    expect_error("cg_concat");
}

CASE(cg_embedding)
{
    cr_assert_null(cg_embedding(NULL, (unsigned[]){0}, 1));
    expect_clean("cg_embedding");
    cr_assert_null(cg_embedding(T(), NULL, 1));
    expect_error("cg_embedding");
}

CASE(cg_index_rows)
{
    cr_assert_null(cg_index_rows(NULL, (unsigned[]){0}, 1));
    expect_clean("cg_index_rows");
    cr_assert_null(cg_index_rows(T(), NULL, 1));
    expect_error("cg_index_rows");
}

CASE(cg_set_sparse_grad) { cr_assert_eq(cg_set_sparse_grad(NULL, true), NP); }

CASE(cg_sparse_grad_rows)
{
    unsigned rows[4];
    cr_assert_eq(cg_sparse_grad_rows(NULL, rows, 4), 0);
    expect_clean("cg_sparse_grad_rows");
    cr_assert_eq(cg_sparse_grad_rows(T(), NULL, 0), 0); /* documented: a count */
    expect_clean("cg_sparse_grad_rows");
    cr_assert_eq(cg_sparse_grad_rows(T(), NULL, 4), 0);
    expect_error("cg_sparse_grad_rows");
    /* With a sparse gradient to copy (this crashed). */
    cg_tensor *w = cg_tensor_zeros(C(), CG_SHAPE(3, 2));
    cg_set_requires_grad(w, true);
    cg_set_sparse_grad(w, true);
    cg_backward(cg_sum(cg_embedding(w, (const unsigned[]){1, 2}, 2)));
    cr_assert_eq(cg_sparse_grad_rows(w, NULL, 0), 2);
    expect_clean("cg_sparse_grad_rows");
    cr_assert_eq(cg_sparse_grad_rows(w, NULL, 2), 0);
    expect_error("cg_sparse_grad_rows");
    cg_tensor_free(w);
}

CASE(cg_sparse_grad_values) { cr_assert_null(cg_sparse_grad_values(NULL)); }

CASE(cg_add_scaled_)
{
    cr_assert_eq(cg_add_scaled_(NULL, 1.0f, NULL), NP);
    cr_assert_eq(cg_add_scaled_(NULL, 1.0f, T()), NP);
    expect_error("cg_add_scaled_");
    cr_assert_eq(cg_add_scaled_(T(), 1.0f, NULL), NP);
    expect_error("cg_add_scaled_");
}

/* ---- context, devices, tensors ------------------------------------------ */

CASE(cg_device_list)
{
    cg_device_info *list = (cg_device_info *)&list; /* garbage: must be replaced */
    size_t n = 99;
    cr_assert_eq(cg_device_list(NULL, &n), NP);
    cr_assert_eq(n, 0);
    cr_assert_eq(cg_device_list(&list, NULL), NP);
    cr_assert_null(list);
}

CASE(cg_context_create)
{
    cg_context *c = cg_context_create(NULL); /* documented: CLGRAD_DEVICE, else the default */
    cr_assert_not_null(c);
    cr_assert_eq(cg_status_of(c), CG_OK, "%s", cg_error_message(c));
    cg_context_free(c);
}

CASE(cg_status_of) { cr_assert_eq(cg_status_of(NULL), NP); }
CASE(cg_error_message) { cr_assert_str_eq(cg_error_message(NULL), "NULL context"); }
CASE(cg_context_device) { cr_assert_null(cg_context_device(NULL)); }
CASE(cg_context_is_ref) { cr_assert(!cg_context_is_ref(NULL)); }
CASE(cg_set_log_callback) { cg_set_log_callback(NULL, NULL); /* documented: none shown */ }
CASE(cg_context_stats_of) { cr_assert_eq(cg_context_stats_of(NULL).kernel_launches, 0); }
CASE(cg_finish) { cr_assert_eq(cg_finish(NULL), NP); }
CASE(cg_context_set_kernel_shape)
{
    cr_assert_eq(cg_context_set_kernel_shape(NULL, CG_KERNEL_SHAPE_GPU), NP);
}
CASE(cg_context_kernel_shape)
{
    cr_assert_eq(cg_context_kernel_shape(NULL), CG_KERNEL_SHAPE_CPU); /* documented */
}
CASE(cg_context_set_pool_limit) { cr_assert_eq(cg_context_set_pool_limit(NULL, 0), NP); }

CASE(cg_tensor_from)
{
    cr_assert_null(cg_tensor_from(NULL, (float[]){1}, CG_SHAPE(1)));
    cr_assert_null(cg_tensor_from(C(), NULL, CG_SHAPE(1)));
    expect_error("cg_tensor_from");
}

CASE(cg_tensor_zeros) { cr_assert_null(cg_tensor_zeros(NULL, CG_SHAPE(1))); }
CASE(cg_tensor_full) { cr_assert_null(cg_tensor_full(NULL, CG_SHAPE(1), 1.0f)); }

CASE(cg_tensor_read)
{
    float v[6];
    cr_assert_eq(cg_tensor_read(NULL, v, 6), NP);
    cr_assert_eq(cg_tensor_read(T(), NULL, 6), NP);
    expect_error("cg_tensor_read");
}

CASE(cg_tensor_write)
{
    float v[6] = {0};
    cr_assert_eq(cg_tensor_write(NULL, v, 6), NP);
    cr_assert_eq(cg_tensor_write(T(), NULL, 6), NP);
    expect_error("cg_tensor_write");
}

CASE(cg_tensor_numel) { cr_assert_eq(cg_tensor_numel(NULL), 0); }
CASE(cg_tensor_shape) { cr_assert_eq(cg_tensor_shape(NULL).ndim, 0); }
CASE(cg_tensor_context) { cr_assert_null(cg_tensor_context(NULL)); }

/* ---- autograd ------------------------------------------------------------- */

CASE(cg_set_requires_grad) { cr_assert_eq(cg_set_requires_grad(NULL, true), NP); }
CASE(cg_requires_grad) { cr_assert(!cg_requires_grad(NULL)); }
CASE(cg_grad) { cr_assert_null(cg_grad(NULL)); }
CASE(cg_zero_grad_of) { cr_assert_eq(cg_zero_grad_of(NULL), NP); }
CASE(cg_backward) { cr_assert_eq(cg_backward(NULL), NP); }

CASE(cg_backward_ex)
{
    cr_assert_eq(cg_backward_ex(NULL, NULL, false), NP);
    cr_assert_eq(cg_backward_ex(NULL, T(), false), NP);
    expect_error("cg_backward");
    cg_tensor *one = cg_tensor_from(C(), (float[]){2}, CG_SHAPE(1));
    cg_set_requires_grad(one, true);
    cr_assert_eq(cg_backward_ex(one, NULL, false), CG_OK); /* documented: seed 1 */
    cg_tensor_free(one);
}

/* ---- layers --------------------------------------------------------------- */

CASE(cg_rand_uniform)
{
    cr_assert_null(cg_rand_uniform(NULL, CG_SHAPE(2), 0.0f, 1.0f, 1, 0));
}

CASE(cg_linear_init)
{
    cg_linear l;
    memset(&l, 0xA5, sizeof l);
    cr_assert_eq(cg_linear_init(NULL, &l, 2, 3, 0, 0), NP);
    cr_assert(!l.weight && !l.bias && !l.in && !l.out, "zeroed first");
    cr_assert_eq(cg_linear_init(C(), NULL, 2, 3, 0, 0), NP);
    expect_error("cg_linear_init");
}

CASE(cg_linear_forward)
{
    cr_assert_null(cg_linear_forward(NULL, NULL));
    expect_clean("cg_linear_forward");
    cr_assert_null(cg_linear_forward(NULL, T()));
    expect_error("cg_linear_forward");
    cr_assert_null(cg_linear_forward(LAYER(), NULL));
    expect_error("cg_linear_forward");
}

CASE(cg_mlp_create)
{
    cr_assert_null(cg_mlp_create(NULL, (size_t[]){1, 1}, 2, CG_ACT_NONE, 0));
    cr_assert_null(cg_mlp_create(C(), NULL, 2, CG_ACT_NONE, 0));
    expect_error("cg_mlp_create");
}

CASE(cg_mlp_forward)
{
    cr_assert_null(cg_mlp_forward(NULL, NULL));
    expect_clean("cg_mlp_forward");
    cr_assert_null(cg_mlp_forward(NULL, T()));
    expect_error("cg_mlp_forward");
    cr_assert_null(cg_mlp_forward(MLP(), NULL));
    expect_error("cg_mlp_forward");
}

CASE(cg_mlp_parameters)
{
    cg_tensor *ps[4];
    cr_assert_eq(cg_mlp_parameters(NULL, ps, 4), 0);
    cr_assert_eq(cg_mlp_parameters(MLP(), NULL, 0), 4); /* documented: the count */
    expect_clean("cg_mlp_parameters");
    cr_assert_eq(cg_mlp_parameters(MLP(), NULL, 4), 0);
    expect_error("cg_mlp_parameters");
}

CASE(cg_mlp_parameter_count) { cr_assert_eq(cg_mlp_parameter_count(NULL), 0); }
CASE(cg_mlp_layer) { cr_assert_null(cg_mlp_layer(NULL, 0)); }
CASE(cg_mlp_layers) { cr_assert_eq(cg_mlp_layers(NULL), 0); }

/* ---- optimizers and schedules --------------------------------------------- */

static float constant_closure(void *user)
{
    (void)user;
    return 1.5f;
}

#define CREATES(fn, ...)                                                                       \
    CASE(fn)                                                                                   \
    {                                                                                          \
        cr_assert_null(fn(NULL, __VA_ARGS__ (cg_tensor *[]){T()}, 1, NULL));                   \
        cr_assert_null(fn(C(), __VA_ARGS__ NULL, 1, NULL));                                    \
        expect_error("cg_optimizer_create");                                                   \
        cg_optimizer *o = fn(C(), __VA_ARGS__ (cg_tensor *[]){T()}, 1, NULL); /* defaults */   \
        cr_assert_not_null(o, "%s", cg_error_message(C()));                                    \
        cg_optimizer_free(o);                                                                  \
    }
CREATES(cg_optimizer_create, CG_OPTIM_ADAM,)

CASE(cg_optimizer_add_group)
{
    cg_tensor *p = cg_tensor_zeros(C(), CG_SHAPE(2));
    cr_assert_eq(cg_optimizer_add_group(NULL, &p, 1, NULL), -1);
    cr_assert_eq(cg_optimizer_add_group(OPT(), NULL, 1, NULL), -1);
    expect_error("cg_optimizer_add_group");
    cr_assert_eq(cg_optimizer_add_group(OPT(), &p, 1, NULL), 1); /* options: defaults */
    cg_optimizer_free(opt_); /* before p goes */
    opt_ = NULL;
    cg_tensor_free(p);
}

CASE(cg_zero_grad) { cr_assert_eq(cg_zero_grad(NULL), NP); }
CASE(cg_step) { cr_assert_eq(cg_step(NULL), NP); }

CASE(cg_step_closure)
{
    ISNAN(cg_step_closure(NULL, constant_closure, NULL));
    ISNAN(cg_step_closure(OPT(), NULL, NULL));
    expect_error("cg_step_closure");
    cr_assert_eq(cg_step_closure(OPT(), constant_closure, NULL), 1.5f); /* user: as given */
}

CASE(cg_optimizer_groups) { cr_assert_eq(cg_optimizer_groups(NULL), 0); }
CASE(cg_optimizer_lr) { ISNAN(cg_optimizer_lr(NULL, 0)); }
CASE(cg_optimizer_set_lr) { cr_assert_eq(cg_optimizer_set_lr(NULL, 0, 0.1f), NP); }

CASE(cg_optimizer_params)
{
    size_t n = 99;
    cr_assert_null(cg_optimizer_params(NULL, 0, &n));
    cr_assert_eq(n, 0);
    cr_assert_not_null(cg_optimizer_params(OPT(), 0, NULL)); /* documented: count optional */
}

CASE(cg_optimizer_average) { cr_assert_null(cg_optimizer_average(NULL, 0, 0)); }
CASE(cg_optimizer_state_size) { cr_assert_eq(cg_optimizer_state_size(NULL), 0); }

CASE(cg_optimizer_state_save)
{
    float buf[16];
    cr_assert_eq(cg_optimizer_state_save(NULL, buf, 1), NP);
    cr_assert_eq(cg_optimizer_state_save(OPT(), NULL, 1), NP);
    expect_error("cg_optimizer_state_save");
}

CASE(cg_optimizer_state_load)
{
    float buf[16] = {0};
    cr_assert_eq(cg_optimizer_state_load(NULL, buf, 1), NP);
    cr_assert_eq(cg_optimizer_state_load(OPT(), NULL, 1), NP);
    expect_error("cg_optimizer_state_load");
}

CASE(cg_scheduler_create)
{
    cg_scheduler_options o = cg_scheduler_defaults(CG_SCHED_EXP);
    o.gamma = 0.5f;
    cr_assert_null(cg_scheduler_create(NULL, &o));
    cr_assert_null(cg_scheduler_create(OPT(), NULL));
    expect_error("cg_scheduler_create");
    o = cg_scheduler_defaults(CG_SCHED_MULTISTEP);
    o.nmilestones = 2; /* milestones NULL */
    cr_assert_null(cg_scheduler_create(OPT(), &o));
    expect_error("cg_scheduler_create");
    cr_assert_not_null(SCHED());
}

CASE(cg_scheduler_step) { cr_assert_eq(cg_scheduler_step(NULL, 0.0f), NP); }
CASE(cg_scheduler_lr) { ISNAN(cg_scheduler_lr(NULL, 0)); }

CASE(cg_clip_grad_norm)
{
    ISNAN(cg_clip_grad_norm(NULL, 1, 1.0f, false));
    expect_clean("cg_clip_grad_norm");
    cr_assert_eq(cg_clip_grad_norm(NULL, 0, 1.0f, false), 0.0f); /* documented: no params */
    ISNAN(cg_clip_grad_norm((cg_tensor *[]){T(), NULL}, 2, 1.0f, false));
    expect_error("cg_clip_grad_norm");
}

CASE(cg_clip_grad_value)
{
    cr_assert_eq(cg_clip_grad_value(NULL, 1, 1.0f), NP);
    cr_assert_eq(cg_clip_grad_value(NULL, 0, 1.0f), CG_OK); /* documented: nothing to do */
    expect_clean("cg_clip_grad_value");
    cr_assert_eq(cg_clip_grad_value((cg_tensor *[]){NULL, T()}, 2, 1.0f), NP);
    expect_error("cg_clip_grad_value");
}

/* ---- gradcheck -------------------------------------------------------------- */

static cg_tensor *square_fn(void *user, cg_tensor *const *in, size_t count)
{
    (void)user, (void)count;
    return cg_square(in[0]);
}

CASE(cg_gradcheck)
{
    cg_gradcheck_report r;
    memset(&r, 0xA5, sizeof r);
    cr_assert_eq(cg_gradcheck(NULL, square_fn, NULL, (cg_tensor *[]){T()}, 1, 1e-2f, 1e-2f,
                              1e-2f, &r),
                 NP);
    cr_assert(r.checked == 0 && r.failures == 0, "zeroed first");
    cr_assert_eq(cg_gradcheck(C(), NULL, NULL, (cg_tensor *[]){T()}, 1, 1e-2f, 1e-2f, 1e-2f, &r),
                 NP);
    expect_error("cg_gradcheck");
    cr_assert_eq(cg_gradcheck(C(), square_fn, NULL, NULL, 1, 1e-2f, 1e-2f, 1e-2f, &r), NP);
    expect_error("cg_gradcheck");
    cr_assert_eq(cg_gradcheck(C(), square_fn, NULL, (cg_tensor *[]){NULL}, 1, 1e-2f, 1e-2f,
                              1e-2f, &r),
                 NP);
    expect_error("cg_gradcheck");
    /* documented: user passes through, report may be NULL */
    cr_assert_eq(cg_gradcheck(C(), square_fn, NULL, (cg_tensor *[]){T()}, 1, 1e-2f, 1e-2f,
                              1e-2f, NULL),
                 CG_OK, "%s", cg_error_message(C()));
}

/* ---- linear model, normalization, tables, plots --------------------------- */

CASE(cg_linreg_create)
{
    cr_assert_null(cg_linreg_create(NULL, X(), Y()));
    cr_assert_null(cg_linreg_create(C(), NULL, Y()));
    expect_error("cg_linreg_create");
    cr_assert_null(cg_linreg_create(C(), X(), NULL));
    expect_error("cg_linreg_create");
}

CASE(cg_linreg_features) { cr_assert_eq(cg_linreg_features(NULL), 0); }
CASE(cg_linreg_rows) { cr_assert_eq(cg_linreg_rows(NULL), 0); }

CASE(cg_linreg_set_transform)
{
    float v[1] = {1};
    cr_assert_eq(cg_linreg_set_transform(NULL, v, v), NP);
    cr_assert_eq(cg_linreg_set_transform(MODEL(), NULL, NULL), CG_OK); /* documented */
    cr_assert_eq(cg_linreg_set_transform(MODEL(), NULL, v), CG_OK);
    cr_assert_eq(cg_linreg_set_transform(MODEL(), v, NULL), CG_OK);
}

CASE(cg_linreg_eval)
{
    float p[2] = {1, 0}, loss = 0, g[2] = {0, 0};
    cr_assert_eq(cg_linreg_eval(NULL, p, CG_LOSS_MSE, CG_GRAD_ANALYTIC, 0.1f, &loss, g), NP);
    ISNAN(loss);
    cr_assert_eq(cg_linreg_eval(MODEL(), NULL, CG_LOSS_MSE, CG_GRAD_ANALYTIC, 0.1f, &loss, g), NP);
    expect_error("cg_linreg_eval");
    cr_assert_eq(cg_linreg_eval(MODEL(), p, CG_LOSS_MSE, CG_GRAD_ANALYTIC, 0.1f, NULL, g), NP);
    expect_error("cg_linreg_eval");
    cr_assert_eq(cg_linreg_eval(MODEL(), p, CG_LOSS_MSE, CG_GRAD_ANALYTIC, 0.1f, &loss, NULL),
                 CG_OK); /* documented: grad optional */
    assert_close(loss, 13.5, 1e-6, 1e-6, "loss %f", loss);
}

CASE(cg_linreg_fit)
{
    cg_fit_result r;
    memset(&r, 0xA5, sizeof r);
    cg_fit_options o = cg_fit_defaults();
    o.epochs = 3;
    cr_assert_eq(cg_linreg_fit(NULL, &o, &r), NP);
    cr_assert(!r.params && !r.history_loss && !r.curve_loss, "zeroed first");
    cr_assert_eq(cg_linreg_fit(MODEL(), &o, NULL), NP);
    expect_error("cg_linreg_fit");
    cr_assert_eq(cg_linreg_fit(MODEL(), NULL, &r), CG_OK); /* documented: the defaults */
    cr_assert_eq(r.epochs_run, 5000);
    cg_fit_result_free(&r);
}

CASE(cg_fit)
{
    cg_fit_result r;
    memset(&r, 0xA5, sizeof r);
    cg_fit_model m = cg_fit_model_mlp(MLP());
    cg_tensor *x = cg_tensor_from(C(), (float[]){1, 2, 3, 4, 5, 6}, CG_SHAPE(2, 3));
    cg_tensor *y = cg_tensor_from(C(), (float[]){1, 2}, CG_SHAPE(2, 1));
    cg_fit_options o = cg_fit_defaults();
    o.epochs = 2;
    cr_assert_eq(cg_fit(&m, NULL, NULL, &o, &r), NP); /* no context to reach */
    cr_assert(!r.params && !r.history_loss && !r.curve_loss, "zeroed first");
    cr_assert_eq(cg_fit(NULL, x, y, &o, &r), NP);
    expect_error("cg_fit");
    cr_assert_eq(cg_fit(&m, NULL, y, &o, &r), NP);
    expect_error("cg_fit");
    cr_assert_eq(cg_fit(&m, x, NULL, &o, &r), NP);
    expect_error("cg_fit");
    cr_assert_eq(cg_fit(&m, x, y, &o, NULL), NP);
    expect_error("cg_fit");
    cr_assert_eq(cg_fit(&m, x, y, NULL, &r), CG_OK, "%s", cg_error_message(C())); /* defaults */
    cr_assert_eq(r.epochs_run, 5000);
    cg_fit_result_free(&r);
    cg_tensor_free(x);
    cg_tensor_free(y);
}

/* The adapters: NULL gives a model without functions, which cg_fit refuses. */
#define FIT_MODEL(fn)                                                                          \
    CASE(fn)                                                                                   \
    {                                                                                          \
        cg_fit_model m = fn(NULL);                                                             \
        cr_assert(!m.forward && !m.parameters && !m.user);                                     \
        expect_clean(#fn);                                                                     \
        cr_assert_eq(cg_fit(&m, X(), Y(), NULL, &(cg_fit_result){0}), NP);                     \
        cr_assert(strstr(cg_error_message(C()), "no forward"), "%s", cg_error_message(C()));   \
        cg_clear_error(C());                                                                   \
    }
FIT_MODEL(cg_fit_model_mlp) FIT_MODEL(cg_fit_model_linear) FIT_MODEL(cg_fit_model_linreg)

CASE(cg_normalizer_fit)
{
    cg_normalizer n;
    memset(&n, 0xA5, sizeof n);
    float X[2] = {1, 2};
    cr_assert_eq(cg_normalizer_fit(NULL, CG_NORM_STANDARD, 1.0f, X, 2, 1, &n), NP);
    cr_assert(!n.shift && !n.scale, "zeroed first");
    cr_assert_eq(cg_normalizer_fit(C(), CG_NORM_STANDARD, 1.0f, NULL, 2, 1, &n), NP);
    expect_error("cg_normalizer_fit");
    cr_assert_eq(cg_normalizer_fit(C(), CG_NORM_STANDARD, 1.0f, X, 2, 1, NULL), NP);
    expect_error("cg_normalizer_fit");
}

CASE(cg_normalizer_to_raw)
{
    float p[2] = {1, 2}, raw[2];
    cr_assert_eq(cg_normalizer_to_raw(NULL, p, raw), NP);
    cr_assert_eq(cg_normalizer_to_raw(NORM(), NULL, raw), NP);
    cr_assert_eq(cg_normalizer_to_raw(NORM(), p, NULL), NP);
    cg_normalizer freed = *NORM();
    freed.shift = freed.scale = NULL;
    cr_assert_eq(cg_normalizer_to_raw(&freed, p, raw), CG_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(cg_normalizer_to_raw(NORM(), p, raw), CG_OK);
}

CASE(cg_table_read_csv)
{
    cg_table t;
    memset(&t, 0xA5, sizeof t);
    cr_assert_eq(cg_table_read_csv(NULL, "x.csv", &t), NP);
    cr_assert(!t.names && !t.values && !t.rows && !t.cols, "zeroed first");
    cr_assert_eq(cg_table_read_csv(C(), NULL, &t), NP);
    expect_error("cg_table_read_csv");
    cr_assert_eq(cg_table_read_csv(C(), "x.csv", NULL), NP);
    expect_error("cg_table_read_csv");
}

CASE(cg_table_lecture) { cr_assert_eq(cg_table_lecture(NULL), NP); }

CASE(cg_table_column)
{
    cr_assert_eq(cg_table_column(NULL, "t_u"), -1);
    cr_assert_eq(cg_table_column(TABLE(), NULL), -1);
    cr_assert_eq(cg_table_column(TABLE(), "t_c"), 1);
}

CASE(cg_plot_fit)
{
    float x[2] = {0, 1}, y[2] = {1, 2};
    cr_assert_eq(cg_plot_fit(NULL, "p.svg", x, y, 2, 1, 0, "x", "y"), NP);
    cr_assert_eq(cg_plot_fit(C(), NULL, x, y, 2, 1, 0, "x", "y"), NP);
    expect_error("cg_plot_fit");
    cr_assert_eq(cg_plot_fit(C(), "p.svg", NULL, y, 2, 1, 0, "x", "y"), NP);
    expect_error("cg_plot_fit");
    cr_assert_eq(cg_plot_fit(C(), "p.svg", x, NULL, 2, 1, 0, "x", "y"), NP);
    expect_error("cg_plot_fit");
    char dir[64], path[96];
    temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/fit.svg", dir);
    cr_assert_eq(cg_plot_fit(C(), path, x, y, 2, 1, 0, NULL, NULL), CG_OK, /* documented */
                 "%s", cg_error_message(C()));
    remove(path);
    rmdir(dir);
}

CASE(cg_plot_loss)
{
    long e[2] = {1, 2};
    float l[2] = {2, 1};
    cr_assert_eq(cg_plot_loss(NULL, "l.svg", e, l, 2), NP);
    cr_assert_eq(cg_plot_loss(C(), NULL, e, l, 2), NP);
    expect_error("cg_plot_loss");
    cr_assert_eq(cg_plot_loss(C(), "l.svg", NULL, l, 2), NP);
    expect_error("cg_plot_loss");
    cr_assert_eq(cg_plot_loss(C(), "l.svg", e, NULL, 2), NP);
    expect_error("cg_plot_loss");
}

/* ---- the table ------------------------------------------------------------ */

typedef struct api_case {
    const char *name;
    void (*run)(void);
} api_case;

#define E(fn) {#fn, case_##fn}
static api_case cases[] = {
    E(cg_status_string), E(cg_device_list), E(cg_device_list_free), E(cg_device_type_string),
    E(cg_context_create), E(cg_context_free), E(cg_status_of), E(cg_error_message),
    E(cg_clear_error), E(cg_context_device), E(cg_context_is_ref), E(cg_set_log_callback),
    E(cg_context_stats_of), E(cg_finish), E(cg_context_set_kernel_shape),
    E(cg_context_kernel_shape), E(cg_context_set_pool_limit), E(cg_tensor_from), E(cg_tensor_zeros),
    E(cg_tensor_full), E(cg_tensor_read), E(cg_tensor_write), E(cg_tensor_free),
    E(cg_tensor_numel), E(cg_tensor_shape), E(cg_tensor_context), E(cg_set_requires_grad),
    E(cg_requires_grad), E(cg_grad), E(cg_zero_grad_of), E(cg_backward), E(cg_backward_ex),
    E(cg_no_grad_begin), E(cg_no_grad_end), E(cg_tape_reset), E(cg_detach), E(cg_item),
    E(cg_add_scaled_), E(cg_add), E(cg_sub), E(cg_mul), E(cg_div), E(cg_neg),
    E(cg_add_scalar), E(cg_sub_scalar), E(cg_rsub_scalar), E(cg_mul_scalar), E(cg_div_scalar),
    E(cg_rdiv_scalar), E(cg_pow_scalar), E(cg_square), E(cg_sqrt), E(cg_exp), E(cg_log),
    E(cg_abs), E(cg_relu), E(cg_tanh), E(cg_sigmoid), E(cg_sum), E(cg_mean), E(cg_sum_axis),
    E(cg_mean_axis), E(cg_matmul), E(cg_reshape), E(cg_at), E(cg_slice), E(cg_concat),
    E(cg_select), E(cg_narrow), E(cg_transpose), E(cg_permute), E(cg_expand), E(cg_contiguous),
    E(cg_is_contiguous), E(cg_tape_own), E(cg_scalar), E(cg_realize), E(cg_context_set_eager),
    E(cg_context_eager), E(cg_context_set_fusion), E(cg_context_fusion), E(cg_capture_begin),
    E(cg_capture_end), E(cg_capture_replay), E(cg_capture_rebind), E(cg_capture_launches),
    E(cg_capture_replay_n), E(cg_capture_free),
    E(cg_embedding), E(cg_set_sparse_grad), E(cg_sparse_grad_rows), E(cg_sparse_grad_values),
    E(cg_index_rows), E(cg_mse_loss), E(cg_l1_loss), E(cg_huber_loss), E(cg_rand_uniform),
    E(cg_linear_init), E(cg_linear_forward), E(cg_linear_free), E(cg_mlp_create),
    E(cg_mlp_free), E(cg_mlp_forward), E(cg_mlp_parameters), E(cg_mlp_parameter_count),
    E(cg_mlp_layer), E(cg_mlp_layers), E(cg_optim_defaults), E(cg_optim_name),
    E(cg_optimizer_create), E(cg_optimizer_add_group), E(cg_zero_grad), E(cg_step),
    E(cg_step_closure), E(cg_optimizer_free), E(cg_optimizer_groups), E(cg_optimizer_lr),
    E(cg_optimizer_set_lr), E(cg_optimizer_params), E(cg_optimizer_average),
    E(cg_optimizer_state_size), E(cg_optimizer_state_save), E(cg_optimizer_state_load),
    E(cg_scheduler_defaults), E(cg_scheduler_create),
    E(cg_scheduler_step), E(cg_scheduler_lr), E(cg_scheduler_free), E(cg_clip_grad_norm),
    E(cg_clip_grad_value), E(cg_gradcheck), E(cg_linreg_create), E(cg_linreg_free),
    E(cg_linreg_features), E(cg_linreg_rows), E(cg_linreg_set_transform), E(cg_linreg_eval),
    E(cg_fit_defaults), E(cg_linreg_fit), E(cg_fit_result_free), E(cg_fit),
    E(cg_fit_model_mlp), E(cg_fit_model_linear), E(cg_fit_model_linreg), E(cg_normalizer_fit),
    E(cg_normalizer_free), E(cg_normalizer_to_raw), E(cg_table_read_csv), E(cg_table_lecture),
    E(cg_table_free), E(cg_table_column), E(cg_plot_fit), E(cg_plot_loss),
};
#define NCASES (sizeof cases / sizeof cases[0])

static const api_case *find_case(const char *name)
{
    for (size_t i = 0; i < NCASES; i++)
        if (strcmp(cases[i].name, name) == 0) return &cases[i];
    return NULL;
}

/* The exported functions of the shared library, from its ELF dynamic symbol
 * table (no tool needed at test time). Returns how many; names point into
 * *image, which the caller frees. */
static size_t exported_functions(const char *path, char **image, const char **names, size_t cap)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s (CLGRAD_SHARED_LIB, set by meson)", path);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)size);
    cr_assert(buf && fread(buf, 1, (size_t)size, f) == (size_t)size);
    fclose(f);
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)buf;
    cr_assert(size > (long)sizeof *eh && memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 &&
                  eh->e_ident[EI_CLASS] == ELFCLASS64,
              "%s: not a 64-bit ELF file", path);
    const Elf64_Shdr *sh = (const Elf64_Shdr *)(buf + eh->e_shoff);
    size_t n = 0;
    for (unsigned i = 0; i < eh->e_shnum; i++) {
        if (sh[i].sh_type != SHT_DYNSYM) continue;
        const Elf64_Sym *sym = (const Elf64_Sym *)(buf + sh[i].sh_offset);
        const char *strtab = buf + sh[sh[i].sh_link].sh_offset;
        for (size_t k = 0; k < sh[i].sh_size / sizeof *sym; k++) {
            const char *name = strtab + sym[k].st_name;
            if (ELF64_ST_TYPE(sym[k].st_info) != STT_FUNC || sym[k].st_shndx == SHN_UNDEF ||
                ELF64_ST_BIND(sym[k].st_info) == STB_LOCAL || strncmp(name, "cg_", 3) != 0)
                continue;
            cr_assert_lt(n, cap);
            names[n++] = name;
        }
    }
    *image = buf;
    return n;
}

Test(api, every_exported_function_has_a_null_case)
{
    const char *lib = getenv("CLGRAD_SHARED_LIB");
    cr_assert_not_null(lib, "CLGRAD_SHARED_LIB is set by tests/meson.build");
    char *image;
    const char *names[512];
    size_t n = exported_functions(lib, &image, names, 512);
    cr_assert_gt(n, 100, "%s exports %zu cg_ functions", lib, n);
    size_t missing = 0;
    for (size_t i = 0; i < n; i++)
        if (!find_case(names[i])) {
            cr_log_error("%s is exported but has no case in tests/test_api.c", names[i]);
            missing++;
        }
    /* And no case for a function that is gone (a rename leaves one behind). */
    for (size_t c = 0; c < NCASES; c++) {
        bool found = false;
        for (size_t i = 0; i < n && !found; i++) found = strcmp(names[i], cases[c].name) == 0;
        if (!found) {
            cr_log_error("tests/test_api.c has a case for %s, which is not exported",
                         cases[c].name);
            missing++;
        }
    }
    free(image);
    cr_assert_eq(missing, 0, "%zu functions without a case or cases without a function "
                             "(see the log)", missing);
}

/* Cases go to the test processes by index: nothing but numbers crosses. */
ParameterizedTestParameters(api, null_arguments)
{
    static size_t index[NCASES];
    for (size_t i = 0; i < NCASES; i++) index[i] = i;
    return cr_make_param_array(size_t, index, NCASES);
}

/* Criterion reports a crash without the parameter: say which case it was.
 * (Under ASan its report, with the stack, says it better: no handler.) */
static const char *running;

#ifndef __SANITIZE_ADDRESS__
static void name_the_crash(int sig)
{
    const char *pre = "test_api: crashed in the case of ";
    if (write(2, pre, strlen(pre)) < 0 || write(2, running, strlen(running)) < 0 ||
        write(2, "\n", 1) < 0) {
    }
    signal(sig, SIG_DFL);
    raise(sig);
}
#endif

/* Each function in its own test process. */
ParameterizedTest(size_t *i, api, null_arguments)
{
    const api_case *c = &cases[*i];
    running = c->name;
#ifndef __SANITIZE_ADDRESS__
    signal(SIGSEGV, name_the_crash);
    signal(SIGBUS, name_the_crash);
    signal(SIGABRT, name_the_crash);
#endif
    c->run();
    expect_clean(c->name);
    free_all();
}
