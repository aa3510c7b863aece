/* clgrad.h from C++: the build compiles this file as C++11 with -Wall -Wextra
 * -Wpedantic -Werror (and again as C++17), so a header change C++ rejects
 * (a compound literal, a designated initializer in a macro, an implicit int
 * to enum conversion) fails the build. Run on the device under test like the
 * Criterion suites, it checks that what C++ builds is right: the lecture's
 * line y = w * x + b, one loss, backward and one SGD step made through
 * cg_optimizer_create, against values worked by hand. Exits nonzero on any
 * failure. Plain C++ without Criterion, whose macros are C's; it takes and
 * ignores Criterion's arguments (--jobs N) so runners can treat it as one. */
#include <clgrad.h>

#include <cmath>
#include <cstdio>

namespace {

int passed = 0, failed = 0;

void check(bool ok, const char *what)
{
    if (ok) {
        passed++;
    } else {
        failed++;
        std::fprintf(stderr, "FAIL: %s\n", what);
    }
}

bool approx(double got, double want)
{
    return std::fabs(got - want) <= 1e-6 + 1e-6 * std::fabs(want);
}

void check_close(double got, double want, const char *what)
{
    if (!approx(got, want)) std::fprintf(stderr, "  %s: got %.9g, want %.9g\n", what, got, want);
    check(approx(got, want), what);
}

/* CG_SHAPE is a constant expression in C++: checked at compile time. */
static_assert(CG_SHAPE(3, 2).ndim == 2 && CG_SHAPE(3, 2).dims[1] == 2, "CG_SHAPE(3, 2)");
static_assert(CG_SHAPE(7).dims[1] == 0, "unused sizes are 0");

/* cg_status is a type only (a macro of that name once broke this). */
typedef cg_status (*status_fn)(const cg_context *);

void shapes()
{
    size_t rows = 3;
    int cols = 1; /* any integer type converts, as in C */
    cg_shape s = CG_SHAPE(rows, cols);
    check(s.ndim == 2 && s.dims[0] == 3 && s.dims[1] == 1, "CG_SHAPE of variables");
    cg_shape t = cg_shape_make(2u, 3u, 4u);
    check(t.ndim == 3 && t.dims[2] == 4, "cg_shape_make by name");
    cg_shape u = {}; /* a rank known at run time: field by field */
    u.ndim = 1;
    u.dims[0] = 5;
    check(u.ndim == 1 && u.dims[0] == 5, "a shape filled field by field");
}

/* x = [1, 2, 3], y = [2, 4, 6], w = 0.5, b = 0: p - y = [-1.5, -3, -4.5],
 * mse = (2.25 + 9 + 20.25) / 3 = 10.5, dL/dw = 2 mean((p - y) x) = -14,
 * dL/db = 2 mean(p - y) = -6; one SGD step at lr 0.01: w 0.64, b 0.06. */
void line_fit(cg_context *ctx)
{
    const float xs[] = {1, 2, 3}, ys[] = {2, 4, 6}, w0 = 0.5f, b0 = 0.0f;
    cg_tensor *x = cg_tensor_from(ctx, xs, CG_SHAPE(3));
    cg_tensor *y = cg_tensor_from(ctx, ys, CG_SHAPE(3));
    cg_tensor *w = cg_tensor_from(ctx, &w0, CG_SHAPE(1));
    cg_tensor *b = cg_tensor_from(ctx, &b0, CG_SHAPE(1));
    cg_set_requires_grad(w, true);
    cg_set_requires_grad(b, true);
    cg_tensor *params[] = {w, b};

    cg_optim_options o = cg_optim_defaults(CG_OPTIM_SGD);
    o.lr = 0.01f;
    cg_optimizer *opt = cg_optimizer_create(ctx, CG_OPTIM_SGD, params, 2, &o);
    check(opt != nullptr, "cg_optimizer_create");

    cg_tensor *p = cg_add(cg_mul(x, w), b);
    cg_tensor *loss = cg_mse_loss(p, y, CG_REDUCTION_MEAN);
    check_close(cg_item(loss), 10.5, "mse");
    check(cg_backward(loss) == CG_OK, "cg_backward");
    float g = NAN;
    check(cg_tensor_read(cg_grad(w), &g, 1) == CG_OK, "read w.grad");
    check_close(g, -14.0, "dL/dw");
    check(cg_tensor_read(cg_grad(b), &g, 1) == CG_OK, "read b.grad");
    check_close(g, -6.0, "dL/db");

    check(cg_step(opt) == CG_OK, "cg_step");
    float v[1] = {NAN};
    check(cg_tensor_read(w, v, 1) == CG_OK, "read w");
    check_close(v[0], 0.64, "w after one step");
    check(cg_tensor_read(b, v, 1) == CG_OK, "read b");
    check_close(v[0], 0.06, "b after one step");

    /* The losses refuse operands of different shapes. */
    cg_tensor *column = cg_reshape(x, CG_SHAPE(3, 1));
    check(cg_mse_loss(column, y, CG_REDUCTION_MEAN) == nullptr, "mse of [3,1] and [3]");
    check(cg_status_of(ctx) == CG_ERROR_SHAPE_MISMATCH, "its status");
    cg_clear_error(ctx);

    cg_context_stats stats = cg_context_stats_of(ctx);
    check(stats.tape_nodes > 0, "the tape recorded nodes");
    cg_tape_reset(ctx);
    check(cg_context_stats_of(ctx).tape_nodes == 0, "reset empties the tape");

    cg_optimizer_free(opt);
    cg_tensor_free(x);
    cg_tensor_free(y);
    cg_tensor_free(w);
    cg_tensor_free(b);
}

} // namespace

int main(int, char **)
{
    shapes();
    cg_context *ctx = cg_context_create(nullptr); /* CLGRAD_DEVICE's, as the suites */
    if (!ctx || cg_status_of(ctx) != CG_OK) {
        std::fprintf(stderr, "context: %s\n", cg_error_message(ctx));
        return 1;
    }
    std::printf("device: %s\n", cg_context_device(ctx)->name);
    status_fn query = cg_status_of;
    check(query(ctx) == CG_OK, "cg_status_of through a cg_status (*)(const cg_context *)");
    line_fit(ctx);
    check(cg_status_of(ctx) == CG_OK, cg_error_message(ctx));
    cg_context_free(ctx);
    /* Criterion's summary line, which tools/test-all.sh and the bundle's
     * run.sh add up. */
    std::printf("[====] Synthesis: Tested: %d | Passing: %d | Failing: %d | Crashing: 0\n",
                passed + failed, passed, failed);
    return failed == 0 ? 0 : 1;
}
