/* Optimizers: every rule against PyTorch's (fixtures), the tape path against
 * the fused linear trainer, parameter groups, state save/restore, options. */
#include "helpers.h"

#define MAXV 4096

static cg_optim_kind kind_of(const char *name)
{
    for (int k = 0; k < CG_OPTIM_LBFGS; k++)
        if (strcmp(cg_optim_name((cg_optim_kind)k), name) == 0) return (cg_optim_kind)k;
    cr_assert_fail("unknown optimizer %s", name);
    return CG_OPTIM_SGD;
}

/* PyTorch's keyword arguments onto cg_optim_options. */
static void apply_kwarg(cg_optim_options *o, const char *key, const char *value)
{
    float a = strtof(value, NULL), b = 0;
    const char *comma = strchr(value, ',');
    if (comma) b = strtof(comma + 1, NULL);
    bool t = strcmp(value, "True") == 0;
    if (!strcmp(key, "lr")) o->lr = a;
    else if (!strcmp(key, "momentum")) o->momentum = a;
    else if (!strcmp(key, "dampening")) o->dampening = a;
    else if (!strcmp(key, "nesterov")) o->nesterov = t;
    else if (!strcmp(key, "weight_decay")) o->weight_decay = a;
    else if (!strcmp(key, "maximize")) o->maximize = t;
    else if (!strcmp(key, "betas")) { o->betas[0] = a; o->betas[1] = b; }
    else if (!strcmp(key, "eps")) o->eps = a;
    else if (!strcmp(key, "amsgrad")) o->amsgrad = t;
    else if (!strcmp(key, "lr_decay")) o->lr_decay = a;
    else if (!strcmp(key, "initial_accumulator_value")) o->initial_accumulator_value = a;
    else if (!strcmp(key, "rho")) o->rho = a;
    else if (!strcmp(key, "alpha")) o->alpha = a;
    else if (!strcmp(key, "centered")) o->centered = t;
    else if (!strcmp(key, "etas")) { o->etas[0] = a; o->etas[1] = b; }
    else if (!strcmp(key, "step_sizes")) { o->step_sizes[0] = a; o->step_sizes[1] = b; }
    else if (!strcmp(key, "lambd")) o->lambd = a;
    else if (!strcmp(key, "t0")) o->t0 = a;
    else cr_assert_fail("unknown option %s", key);
}

typedef struct problem {
    cg_context *ctx;
    cg_tensor *x, *y, *w, *b;
} problem;

/* The optimizers' two-tensor problem as the fixture fixes it. */
typedef struct problem_data {
    float x[24], y[16], w0[6], b0[2];
} problem_data;

/* Reads the data from the start of optimizers.txt; returns the open file
 * when keep, else closes it. */
static FILE *problem_data_read(problem_data *d, bool keep)
{
    FILE *f = fixture_open("optimizers.txt");
    fixture_read(f, "x", d->x, 24);
    fixture_read(f, "y", d->y, 16);
    fixture_read(f, "w0", d->w0, 6);
    fixture_read(f, "b0", d->b0, 2);
    if (keep) return f;
    fclose(f);
    return NULL;
}

static problem problem_open(const float *x, const float *y, const float *w0, const float *b0)
{
    problem p;
    p.ctx = test_context();
    p.x = cg_tensor_from(p.ctx, x, CG_SHAPE(8, 3));
    p.y = cg_tensor_from(p.ctx, y, CG_SHAPE(8, 2));
    p.w = cg_tensor_from(p.ctx, w0, CG_SHAPE(2, 3));
    p.b = cg_tensor_from(p.ctx, b0, CG_SHAPE(2));
    cg_set_requires_grad(p.w, true);
    cg_set_requires_grad(p.b, true);
    return p;
}

static void problem_step(problem *p, cg_optimizer *opt)
{
    cg_tensor *pred = cg_add(cg_matmul(p->x, p->w, false, true), p->b);
    cg_tensor *loss = cg_mse_loss(pred, p->y, CG_REDUCTION_MEAN);
    cg_zero_grad(opt);
    cg_backward(loss);
    cg_step(opt);
    cg_tape_reset(p->ctx);
}

static void problem_params(problem *p, float *v)
{
    cg_tensor_read(p->w, v, 6);
    cg_tensor_read(p->b, v + 6, 2);
}

static void problem_close(problem *p)
{
    cg_tensor_free(p->x);
    cg_tensor_free(p->y);
    cg_tensor_free(p->w);
    cg_tensor_free(p->b);
    cg_context_free(p->ctx);
}

Test(optim, every_optimizer_matches_pytorch_step_by_step)
{
    problem_data d;
    FILE *f = problem_data_read(&d, true);
    const float *x = d.x, *y = d.y, *w0 = d.w0, *b0 = d.b0;
    char line[1 << 12];
    int configs = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "opt ", 4) != 0) continue;
        char name[64], kind[32];
        int used = 0;
        cr_assert_eq(sscanf(line, "opt %63s %31s %n", name, kind, &used), 2);
        cg_optim_kind k = kind_of(kind);
        cg_optim_options o = cg_optim_defaults(k);
        for (char *tok = strtok(line + used, " \n"); tok; tok = strtok(NULL, " \n")) {
            char *eq = strchr(tok, '=');
            cr_assert_not_null(eq);
            *eq = '\0';
            apply_kwarg(&o, tok, eq + 1);
        }
        problem p = problem_open(x, y, w0, b0);
        cg_tensor *params[2] = {p.w, p.b};
        cg_optimizer *opt = cg_optimizer_create(p.ctx, k, params, 2, &o);
        cr_assert_not_null(opt, "%s: %s", name, cg_error_message(p.ctx));
        for (int step = 1; step <= 25; step++) {
            problem_step(&p, opt);
            cr_assert_eq(cg_status_of(p.ctx), CG_OK, "%s: %s", name, cg_error_message(p.ctx));
            char prefix[32];
            snprintf(prefix, sizeof prefix, "step %d", step);
            float want[8], got[8];
            cr_assert_eq(fixture_read(f, prefix, want, 8), 8);
            problem_params(&p, got);
            for (int i = 0; i < 8; i++)
                assert_close(got[i], want[i], 1e-6, 1e-5, "%s step %d param %d: %.9g vs torch %.9g",
                             name, step, i, got[i], want[i]);
            if (k == CG_OPTIM_ASGD) {
                snprintf(prefix, sizeof prefix, "ax %d", step);
                cr_assert_eq(fixture_read(f, prefix, want, 8), 8);
                cg_tensor_read(cg_optimizer_average(opt, 0, 0), got, 6);
                cg_tensor_read(cg_optimizer_average(opt, 0, 1), got + 6, 2);
                for (int i = 0; i < 8; i++)
                    assert_close(got[i], want[i], 1e-6, 1e-5, "%s ax step %d [%d]: %.9g vs %.9g",
                                 name, step, i, got[i], want[i]);
            }
        }
        cg_optimizer_free(opt);
        problem_close(&p);
        configs++;
    }
    fclose(f);
    cr_assert_eq(configs, 14, "every fixture configuration ran");
}

/* The same optimizer through the tape and through the fused linear trainer. */
Test(optim, tape_and_fused_linear_paths_agree_for_every_optimizer)
{
    uint64_t seed = test_seed();
    test_rng rng = {seed | 1};
    const size_t n = 64, F = 2;
    float *X, *Y;
    random_linear_data(&rng, n, F, &X, &Y);
    for (int k = 0; k < CG_OPTIM_LBFGS; k++) {
        cg_context *ctx = test_context();
        cg_optim_options o = cg_optim_defaults((cg_optim_kind)k);
        if (k == CG_OPTIM_SGD) {
            o.momentum = 0.5f;
            o.nesterov = true;
        }
        if (k == CG_OPTIM_RMSPROP) o.centered = true;
        if (k == CG_OPTIM_ASGD) o.t0 = 3;
        o.weight_decay = k == CG_OPTIM_ADAMW ? 0.05f : 0.01f;
        cg_tensor *tx = cg_tensor_from(ctx, X, CG_SHAPE(n, F)), *ty = cg_tensor_from(ctx, Y, CG_SHAPE(n));
        cg_tensor *params = cg_tensor_from(ctx, (float[]){1, 1, 0}, CG_SHAPE(3));
        cg_set_requires_grad(params, true);
        cg_optimizer *opt = cg_optimizer_create(ctx, (cg_optim_kind)k, &params, 1, &o);
        const int epochs = 30;
        for (int e = 0; e < epochs; e++) {
            cg_tensor *w = cg_reshape(cg_slice(params, 0, 2), CG_SHAPE(2, 1));
            cg_tensor *pred = cg_add(cg_reshape(cg_matmul(tx, w, false, false), CG_SHAPE(n)),
                                     cg_at(params, 2));
            cg_tensor *loss = cg_mse_loss(pred, ty, CG_REDUCTION_MEAN);
            cg_zero_grad(opt);
            cg_backward(loss);
            cg_step(opt);
            cg_tape_reset(ctx);
        }
        cr_assert_eq(cg_status_of(ctx), CG_OK, "%s: %s", cg_optim_name(k), cg_error_message(ctx));
        float tape[3];
        cg_tensor_read(params, tape, 3);
        cg_linreg *m = cg_linreg_create(ctx, tx, ty);
        for (int path = 1; path <= 2; path++) {
            cg_fit_options fo = cg_fit_defaults();
            fo.optimizer = (cg_optim_kind)k;
            fo.optim = &o;
            fo.epochs = epochs;
            fo.path = (cg_fit_path)path;
            cg_fit_result r;
            cr_assert_eq(cg_linreg_fit(m, &fo, &r), CG_OK, "%s", cg_error_message(ctx));
            for (int i = 0; i < 3; i++)
                assert_close(r.params[i], tape[i], 1e-5, 1e-4,
                             "%s path %d param %d: fused %.9g vs tape %.9g (seed %llu)",
                             cg_optim_name(k), path, i, r.params[i], tape[i],
                             (unsigned long long)seed);
            cg_fit_result_free(&r);
        }
        cg_linreg_free(m);
        cg_optimizer_free(opt);
        cg_tensor_free(params);
        cg_tensor_free(tx);
        cg_tensor_free(ty);
        cg_context_free(ctx);
    }
    free(X);
    free(Y);
}

Test(optim, state_save_and_restore_continue_bit_for_bit)
{
    problem_data d;
    problem_data_read(&d, false);
    const float *x = d.x, *y = d.y, *w0 = d.w0, *b0 = d.b0;
    for (int k = 0; k < CG_OPTIM_LBFGS; k++) {
        cg_optim_options o = cg_optim_defaults((cg_optim_kind)k);
        o.momentum = k == CG_OPTIM_SGD || k == CG_OPTIM_RMSPROP ? 0.5f : 0.0f;
        o.amsgrad = true;
        problem a = problem_open(x, y, w0, b0), b = problem_open(x, y, w0, b0);
        cg_tensor *pa[2] = {a.w, a.b}, *pb[2] = {b.w, b.b};
        cg_optimizer *oa = cg_optimizer_create(a.ctx, (cg_optim_kind)k, pa, 2, &o);
        cg_optimizer *ob = cg_optimizer_create(b.ctx, (cg_optim_kind)k, pb, 2, &o);
        for (int s = 0; s < 10; s++) {
            problem_step(&a, oa);
            problem_step(&b, ob);
        }
        /* Save b, restore into a fresh optimizer, continue. */
        size_t n = cg_optimizer_state_size(ob);
        /* the step counts, and the state slots this rule keeps (8 elements each) */
        static const int slots[CG_OPTIM_LBFGS] = {1, 3, 3, 2, 1, 2, 2, 2, 1};
        cr_assert_eq(n, 2 + (size_t)slots[k] * 8, "%s: %zu", cg_optim_name(k), n);
        float *state = malloc(n * sizeof *state);
        cr_assert_eq(cg_optimizer_state_save(ob, state, n), CG_OK);
        cg_optimizer_free(ob);
        ob = cg_optimizer_create(b.ctx, (cg_optim_kind)k, pb, 2, &o);
        cr_assert_eq(cg_optimizer_state_load(ob, state, n), CG_OK);
        cr_assert_eq(cg_optimizer_state_load(ob, state, n - 1), CG_ERROR_SHAPE_MISMATCH);
        cg_clear_error(b.ctx);
        for (int s = 0; s < 10; s++) {
            problem_step(&a, oa);
            problem_step(&b, ob);
        }
        float va[8], vb[8];
        problem_params(&a, va);
        problem_params(&b, vb);
        cr_assert_eq(memcmp(va, vb, sizeof va), 0, "%s: resumed run differs", cg_optim_name(k));
        free(state);
        cg_optimizer_free(oa);
        cg_optimizer_free(ob);
        problem_close(&a);
        problem_close(&b);
    }
}

Test(optim, parameter_groups_have_their_own_options)
{
    problem_data d;
    problem_data_read(&d, false);
    const float *x = d.x, *y = d.y, *w0 = d.w0, *b0 = d.b0;
    /* One optimizer with two groups == the same rules with each group's lr. */
    problem p = problem_open(x, y, w0, b0);
    cg_optim_options slow = cg_optim_defaults(CG_OPTIM_ADAM), fast = slow;
    fast.lr = 0.05f;
    cg_optimizer *opt = cg_optimizer_create(p.ctx, CG_OPTIM_ADAM, &p.w, 1, &slow);
    cr_assert_eq(cg_optimizer_add_group(opt, &p.b, 1, &fast), 1);
    cr_assert_eq(cg_optimizer_groups(opt), 2);
    assert_close(cg_optimizer_lr(opt, 1), 0.05, 0, 1e-7, "group 1 lr");
    problem q = problem_open(x, y, w0, b0);
    cg_optimizer *qw = cg_optimizer_create(q.ctx, CG_OPTIM_ADAM, &q.w, 1, &slow);
    cg_optimizer *qb = cg_optimizer_create(q.ctx, CG_OPTIM_ADAM, &q.b, 1, &fast);
    for (int s = 0; s < 5; s++) {
        problem_step(&p, opt);
        cg_tensor *loss = cg_mse_loss(cg_add(cg_matmul(q.x, q.w, false, true), q.b), q.y,
                                      CG_REDUCTION_MEAN);
        cg_zero_grad(qw);
        cg_zero_grad(qb);
        cg_backward(loss);
        cg_step(qw);
        cg_step(qb);
        cg_tape_reset(q.ctx);
    }
    float a[8], b[8];
    problem_params(&p, a);
    problem_params(&q, b);
    cr_assert_eq(memcmp(a, b, sizeof a), 0);
    cr_assert_eq(cg_optimizer_set_lr(opt, 5, 0.1f), CG_ERROR_INVALID_ARGUMENT);
    cg_optimizer_free(opt);
    cg_optimizer_free(qw);
    cg_optimizer_free(qb);
    problem_close(&p);
    problem_close(&q);
}

Test(optim, bad_options_name_the_option)
{
    cg_context *ctx = test_context();
    cg_tensor *w = cg_tensor_zeros(ctx, CG_SHAPE(3));
    cg_set_requires_grad(w, true);
    cg_optim_options o = cg_optim_defaults(CG_OPTIM_ADAM);
    o.lr = -0.1f;
    cr_assert_null(cg_optimizer_create(ctx, CG_OPTIM_ADAM, &w, 1, &o));
    cr_assert(strstr(cg_error_message(ctx), "invalid lr -0.1"), "%s", cg_error_message(ctx));
    cg_clear_error(ctx);
    o = cg_optim_defaults(CG_OPTIM_ADAMW);
    o.betas[1] = 1.0f;
    cr_assert_null(cg_optimizer_create(ctx, CG_OPTIM_ADAMW, &w, 1, &o));
    cr_assert(strstr(cg_error_message(ctx), "betas[1]"), "%s", cg_error_message(ctx));
    cg_clear_error(ctx);
    o = cg_optim_defaults(CG_OPTIM_SGD);
    o.nesterov = true;
    cr_assert_null(cg_optimizer_create(ctx, CG_OPTIM_SGD, &w, 1, &o));
    cr_assert(strstr(cg_error_message(ctx), "nesterov"), "%s", cg_error_message(ctx));
    cg_clear_error(ctx);
    o.momentum = 0.9f;
    o.dampening = 0.1f;
    cr_assert_null(cg_optimizer_create(ctx, CG_OPTIM_SGD, &w, 1, &o));
    cr_assert(strstr(cg_error_message(ctx), "dampening 0.1"), "%s", cg_error_message(ctx));
    cg_clear_error(ctx);
    o = cg_optim_defaults(CG_OPTIM_RPROP);
    o.etas[0] = 1.5f;
    cr_assert_null(cg_optimizer_create(ctx, CG_OPTIM_RPROP, &w, 1, &o));
    cr_assert(strstr(cg_error_message(ctx), "etas"), "%s", cg_error_message(ctx));
    cg_clear_error(ctx);
    cr_assert_null(cg_optimizer_create(ctx, (cg_optim_kind)77, &w, 1, NULL));
    cr_assert_eq(cg_status_of(ctx), CG_ERROR_INVALID_ARGUMENT);
    cg_tensor_free(w);
    cg_context_free(ctx);
}

/* ---- LBFGS ---------------------------------------------------------------- */

typedef struct closure_data {
    problem *p;
    int calls;
} closure_data;

static float problem_closure(void *user)
{
    closure_data *c = user;
    problem *p = c->p;
    c->calls++;
    cg_zero_grad_of(p->w);
    cg_zero_grad_of(p->b);
    cg_tensor *loss = cg_mse_loss(cg_add(cg_matmul(p->x, p->w, false, true), p->b), p->y,
                                  CG_REDUCTION_MEAN);
    cg_backward(loss);
    float v = cg_item(loss);
    cg_tape_reset(p->ctx);
    return v;
}

Test(optim, lbfgs_matches_pytorch_with_and_without_line_search)
{
    problem_data d;
    problem_data_read(&d, false);
    const float *x = d.x, *y = d.y, *w0 = d.w0, *b0 = d.b0;
    struct {
        const char *name;
        float lr;
        int max_iter, history, steps;
        bool wolfe;
    } runs[] = {{"lbfgs_plain", 0.5f, 5, 3, 6, false},
                {"lbfgs_wolfe", 1.0f, 8, 4, 4, true},
                {"lbfgs_long", 0.05f, 1, 2, 22, false}};
    for (int r = 0; r < 3; r++) {
        problem p = problem_open(x, y, w0, b0);
        cg_tensor *params[2] = {p.w, p.b};
        cg_optim_options o = cg_optim_defaults(CG_OPTIM_LBFGS);
        o.lr = runs[r].lr;
        o.max_iter = runs[r].max_iter;
        o.history_size = runs[r].history;
        o.strong_wolfe = runs[r].wolfe;
        if (r == 2) o.tolerance_change = 1e-12f;
        cg_optimizer *opt = cg_optimizer_create(p.ctx, CG_OPTIM_LBFGS, params, 2, &o);
        cr_assert_not_null(opt, "%s", cg_error_message(p.ctx));
        closure_data cd = {&p, 0};
        FILE *fx = fixture_open("lbfgs.txt");
        float want[24][9];
        for (int step = 1; step <= runs[r].steps; step++) {
            char prefix[64];
            snprintf(prefix, sizeof prefix, "%s %d", runs[r].name, step);
            cr_assert_eq(fixture_read(fx, prefix, want[step - 1], 9), 9);
        }
        fclose(fx);
        for (int step = 1; step <= runs[r].steps; step++) {
            const float *w = want[step - 1];
            float loss = cg_step_closure(opt, problem_closure, &cd);
            cr_assert_eq(cg_status_of(p.ctx), CG_OK, "%s", cg_error_message(p.ctx));
            assert_close(loss, w[0], 1e-6, 1e-5, "%s %d loss: %.9g vs torch %.9g",
                         runs[r].name, step, loss, w[0]);
            /* step returns the loss before it; the loss after it is the next
             * step's. Once that is the minimum's at float32 resolution, which
             * of two nearly equal losses is smaller is rounding noise and the
             * parameters wander in the flat valley (~1e-4): they are compared
             * tightly only while the run is still above it. */
            float final = want[runs[r].steps - 1][0];
            float after = step < runs[r].steps ? want[step][0] : w[0];
            bool converged = fabsf(after - final) < 1e-5f * final;
            float got[8];
            problem_params(&p, got);
            /* LBFGS amplifies float32 rounding (dot products summed in
             * another order than BLAS's) through its curvature pairs, about
             * 3x a step here: 2e-7 after step 2, 6e-4 after step 13. The
             * losses agree to 1e-5 at every step; the parameters to 1e-4 for
             * the first 6 steps, then to 3e-3. */
            double rtol = converged || step > 6 ? 3e-3 : 1e-4, scale = 0;
            for (int i = 0; i < 8; i++) scale = fmax(scale, fabs(w[1 + i]));
            for (int i = 0; i < 8; i++) /* relative to the parameters' scale */
                assert_close(got[i], w[1 + i], rtol * scale, 0,
                             "%s %d param %d: %.9g vs torch %.9g", runs[r].name, step, i, got[i],
                             w[1 + i]);
        }
        if (runs[r].max_iter > 1)
            cr_assert_gt(cd.calls, runs[r].steps, "the closure was re-evaluated inside steps");
        /* LBFGS has one group and steps only with a closure. */
        cr_assert_eq(cg_optimizer_add_group(opt, params, 1, &o), -1);
        cr_assert(strstr(cg_error_message(p.ctx), "parameter groups"), "%s",
                  cg_error_message(p.ctx));
        cg_clear_error(p.ctx);
        cr_assert_eq(cg_step(opt), CG_ERROR_INVALID_ARGUMENT);
        cr_assert(strstr(cg_error_message(p.ctx), "closure"));
        cg_clear_error(p.ctx);
        cg_optimizer_free(opt);
        problem_close(&p);
    }
}

/* ---- SparseAdam and the embedding's row-sparse gradient ------------------ */

static size_t sparse_line(FILE *f, const char *prefix, float *out, size_t cap)
{
    rewind(f);
    return fixture_read(f, prefix, out, cap);
}

Test(optim, sparse_adam_with_an_embedding_matches_pytorch)
{
    FILE *f = fixture_open("sparse_adam.txt");
    float w0[30];
    cr_assert_eq(sparse_line(f, "w0", w0, 30), 30);
    cg_context *ctx = test_context();
    cg_tensor *w = cg_tensor_from(ctx, w0, CG_SHAPE(10, 3));
    cg_set_requires_grad(w, true);
    cr_assert_eq(cg_set_sparse_grad(w, true), CG_OK);
    cg_optim_options o = cg_optim_defaults(CG_OPTIM_SPARSE_ADAM);
    o.lr = 0.05f;
    o.betas[0] = 0.8f;
    o.betas[1] = 0.9f;
    o.eps = 1e-6f;
    cg_optimizer *opt = cg_optimizer_create(ctx, CG_OPTIM_SPARSE_ADAM, &w, 1, &o);
    cr_assert_not_null(opt, "%s", cg_error_message(ctx));
    for (int step = 1; step <= 22; step++) {
        char key[32];
        float bf[16], target[48], want[30], got[30];
        snprintf(key, sizeof key, "batch%d", step);
        size_t n = sparse_line(f, key, bf, 16);
        unsigned idx[16];
        for (size_t i = 0; i < n; i++) idx[i] = (unsigned)bf[i];
        snprintf(key, sizeof key, "target%d", step);
        cr_assert_eq(sparse_line(f, key, target, 48), n * 3);
        cg_tensor *t = cg_tensor_from(ctx, target, CG_SHAPE(n, 3));
        cg_zero_grad(opt);
        cg_tensor *loss = cg_mse_loss(cg_embedding(w, idx, n), t, CG_REDUCTION_SUM);
        cr_assert_eq(cg_backward(loss), CG_OK, "%s", cg_error_message(ctx));
        cr_assert_null(cg_grad(w), "a sparse gradient, not a dense one");
        if (step == 1) { /* rows 1, 3, 7 with repeated indices summed */
            float rows_want[8], vals_want[24], vals[24];
            size_t nr = sparse_line(f, "grad_rows", rows_want, 8);
            unsigned rows[8];
            cr_assert_eq(cg_sparse_grad_rows(w, rows, 8), nr);
            for (size_t i = 0; i < nr; i++) cr_assert_eq(rows[i], (unsigned)rows_want[i]);
            cr_assert_eq(sparse_line(f, "grad_values", vals_want, 24), nr * 3);
            cg_tensor_read(cg_sparse_grad_values(w), vals, nr * 3);
            for (size_t i = 0; i < nr * 3; i++)
                assert_close(vals[i], vals_want[i], 1e-6, 1e-5, "grad value %zu", i);
        }
        cr_assert_eq(cg_step(opt), CG_OK, "%s", cg_error_message(ctx));
        cg_tape_reset(ctx);
        cg_tensor_free(t);
        snprintf(key, sizeof key, "weight%d", step);
        cr_assert_eq(sparse_line(f, key, want, 30), 30);
        cg_tensor_read(w, got, 30);
        for (int i = 0; i < 30; i++)
            assert_close(got[i], want[i], 1e-6, 1e-5, "step %d weight[%d]: %.9g vs torch %.9g",
                         step, i, got[i], want[i]);
    }
    fclose(f);
    /* Dense gradients are refused, as torch refuses them. */
    cr_assert_eq(cg_set_sparse_grad(w, false), CG_OK);
    unsigned one = 2;
    cg_zero_grad(opt);
    cg_backward(cg_sum(cg_embedding(w, &one, 1)));
    cr_assert_eq(cg_step(opt), CG_ERROR_INVALID_ARGUMENT);
    cr_assert(strstr(cg_error_message(ctx), "dense gradients"), "%s", cg_error_message(ctx));
    cg_tape_reset(ctx);
    cg_optimizer_free(opt);
    cg_tensor_free(w);
    cg_context_free(ctx);
}

Test(optim, embedding_dense_gradient_sums_repeats)
{
    cg_context *ctx = test_context();
    float wv[12];
    for (int i = 0; i < 12; i++) wv[i] = (float)i;
    cg_tensor *w = cg_tensor_from(ctx, wv, CG_SHAPE(4, 3));
    cg_set_requires_grad(w, true);
    const unsigned idx[5] = {2, 0, 2, 2, 3};
    cg_tensor *e = cg_embedding(w, idx, 5);
    float out[15];
    cg_tensor_read(e, out, 15);
    cr_assert(out[0] == 6 && out[3] == 0 && out[12] == 9, "rows gathered");
    float seedv[15];
    for (int i = 0; i < 15; i++) seedv[i] = (float)(i + 1);
    cg_tensor *seed = cg_tensor_from(ctx, seedv, CG_SHAPE(5, 3));
    cr_assert_eq(cg_backward_ex(e, seed, false), CG_OK);
    float g[12];
    cg_tensor_read(cg_grad(w), g, 12);
    /* row 2 gets positions 0, 2, 3: (1+7+10, 2+8+11, 3+9+12) */
    cr_assert(g[6] == 18 && g[7] == 21 && g[8] == 24, "%f %f %f", g[6], g[7], g[8]);
    cr_assert(g[0] == 4 && g[3] == 0 && g[9] == 13, "row 0 and 3, row 1 untouched");
    cr_assert_null(cg_embedding(w, (const unsigned[]){4}, 1));
    cr_assert(strstr(cg_error_message(ctx), "out of range"));
    cg_tape_reset(ctx);
    cg_tensor_free(seed);
    cg_tensor_free(w);
    cg_context_free(ctx);
}

Test(optim, lbfgs_state_save_and_restore_continue_bit_for_bit)
{
    problem_data d;
    problem_data_read(&d, false);
    const float *x = d.x, *y = d.y, *w0 = d.w0, *b0 = d.b0;
    for (int wolfe = 0; wolfe < 2; wolfe++) {
        cg_optim_options o = cg_optim_defaults(CG_OPTIM_LBFGS);
        o.lr = wolfe ? 1.0f : 0.3f;
        o.max_iter = 3;
        o.history_size = 4;
        o.strong_wolfe = wolfe;
        problem a = problem_open(x, y, w0, b0), b = problem_open(x, y, w0, b0);
        cg_tensor *pa[2] = {a.w, a.b}, *pb[2] = {b.w, b.b};
        cg_optimizer *oa = cg_optimizer_create(a.ctx, CG_OPTIM_LBFGS, pa, 2, &o);
        cg_optimizer *ob = cg_optimizer_create(b.ctx, CG_OPTIM_LBFGS, pb, 2, &o);
        closure_data ca = {&a, 0}, cb = {&b, 0};
        for (int s = 0; s < 2; s++) {
            cg_step_closure(oa, problem_closure, &ca);
            cg_step_closure(ob, problem_closure, &cb);
        }
        size_t n = cg_optimizer_state_size(ob);
        cr_assert_gt(n, 8 * 2, "the history is saved too");
        float *state = malloc(n * sizeof *state);
        cr_assert_eq(cg_optimizer_state_save(ob, state, n), CG_OK, "%s", cg_error_message(b.ctx));
        cg_optimizer_free(ob);
        ob = cg_optimizer_create(b.ctx, CG_OPTIM_LBFGS, pb, 2, &o);
        cr_assert_eq(cg_optimizer_state_load(ob, state, n), CG_OK, "%s", cg_error_message(b.ctx));
        for (int s = 0; s < 3; s++) {
            cg_step_closure(oa, problem_closure, &ca);
            cg_step_closure(ob, problem_closure, &cb);
        }
        float va[8], vb[8];
        problem_params(&a, va);
        problem_params(&b, vb);
        cr_assert_eq(memcmp(va, vb, sizeof va), 0, "wolfe %d: resumed run differs", wolfe);
        state[0] = 7.0f; /* another version */
        cr_assert_eq(cg_optimizer_state_load(ob, state, n), CG_ERROR_INVALID_DATA);
        free(state);
        cg_optimizer_free(oa);
        cg_optimizer_free(ob);
        problem_close(&a);
        problem_close(&b);
    }
}

Test(optim, a_parameter_in_two_optimizers)
{
    cg_context *ctx = test_context();
    cg_tensor *w = cg_tensor_from(ctx, (float[]){1, 2, 3}, CG_SHAPE(3));
    cg_set_requires_grad(w, true);
    cg_optim_options sgd = cg_optim_defaults(CG_OPTIM_SGD);
    sgd.lr = 0.1f;
    cg_optimizer *a = cg_optimizer_create(ctx, CG_OPTIM_SGD, &w, 1, &sgd);
    cg_optimizer *b = cg_optimizer_create(ctx, CG_OPTIM_ADAM, &w, 1, NULL);
    cr_assert(a && b, "%s", cg_error_message(ctx));
    cg_backward(cg_sum(cg_square(w)));
    cr_assert_eq(cg_step(a), CG_OK);
    cr_assert_eq(cg_step(b), CG_OK, "%s", cg_error_message(ctx));
    cg_tape_reset(ctx);
    float v[3];
    cg_tensor_read(w, v, 3);
    /* sgd: 1 - 0.1 * 2 = 0.8; adam's first step moves by lr = 1e-3 */
    assert_close(v[0], 0.8 - 1e-3, 1e-6, 0, "w[0] = %f", v[0]);
    cg_optimizer_free(a);
    cg_tensor_read(w, v, 3);
    assert_close(v[2], 3 - 0.6 - 1e-3, 1e-6, 0, "values kept after one optimizer goes");
    cg_optimizer_free(b);
    cg_tensor_read(w, v, 3);
    assert_close(v[1], 2 - 0.4 - 1e-3, 1e-6, 0, "and after the other");
    cg_tensor_free(w);
    cg_context_free(ctx);
}
