/* clgrad warmup: compiles the kernels the common commands use, so that a
 * later first run finds them compiled.
 *
 * Compiling is most of a first run (PoCL's LLVM: tenths of a second per
 * program, and again per kernel at its first enqueue with a given local
 * size). Building a program is not enough: the driver compiles a kernel for
 * its work-group size when it is first enqueued, so warmup runs each
 * workload for real, small, on the device, at the work-group sizes the real
 * runs use (they do not depend on the data's size). What ends up cached is
 * the driver's own cache (PoCL's) and clgrad's program binary cache, which
 * warmup writes on every driver (a plain run on PoCL only reads it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_common.h"

static const char warmup_usage[] =
    "usage: clgrad warmup [--device SPEC] [--quiet]\n"
    "\n"
    "Compiles the kernels that clgrad demo and clgrad fit use on the device and\n"
    "runs each once, small, so that later first runs start without compiling:\n"
    "the fused linear trainer (the lecture's data and a large data set) with\n"
    "SGD and Adam, the autograd tape's linear model, and MLPs with tanh, relu and\n"
    "sigmoid, with every optimizer's update. Run once after installing (the\n"
    "README's setup does) and after a driver update. Prints one line per workload\n"
    "with the programs it compiled and the time taken (--quiet: the total only).\n"
    "\n"
    "  --device SPEC   the device (default CLGRAD_DEVICE, else the first GPU, else\n"
    "                  the first device; see clgrad devices)\n"
    "\n"
    "environment: CLGRAD_CACHE_DIR (clgrad's cache), POCL_CACHE_DIR (PoCL's)\n"
    "\n" CLI_EXIT_HELP;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The data the workloads train on: x = i / n, y = 2x + 1. */
static bool line_data(cg_context *ctx, size_t n, size_t features, cg_tensor **X, cg_tensor **y)
{
    float *xs = malloc(n * features * sizeof *xs), *ys = malloc(n * sizeof *ys);
    *X = *y = NULL;
    if (xs && ys) {
        for (size_t i = 0; i < n; i++) {
            for (size_t f = 0; f < features; f++) xs[i * features + f] = (float)(i + f) / (float)n;
            ys[i] = 2.0f * xs[i * features] + 1.0f;
        }
        cg_shape xs_shape = features == 1 ? CG_SHAPE(n) : CG_SHAPE(n, features);
        *X = cg_tensor_from(ctx, xs, xs_shape);
        *y = cg_tensor_from(ctx, ys, features == 1 ? CG_SHAPE(n) : CG_SHAPE(n, 1));
    }
    free(xs);
    free(ys);
    return *X && *y && cg_status_of(ctx) == CG_OK;
}

static cg_fit_options short_fit(cg_optim_kind kind)
{
    cg_fit_options o = cg_fit_defaults();
    o.epochs = 2;
    o.log_every = 0;
    o.optimizer = kind;
    o.lr = kind == CG_OPTIM_SGD ? 1e-2f : 1e-3f;
    return o;
}

/* The fused trainer, in one launch (the lecture's 11 rows) and per epoch,
 * and its evaluation of the loss and gradient. */
static cg_status fused(cg_context *ctx)
{
    static const size_t rows[] = {11, 1 << 16};
    static const cg_optim_kind kinds[] = {CG_OPTIM_SGD, CG_OPTIM_ADAM};
    for (size_t r = 0; r < 2; r++) {
        cg_tensor *X, *y;
        cg_linreg *model = NULL;
        if (line_data(ctx, rows[r], 1, &X, &y)) model = cg_linreg_create(ctx, X, y);
        /* The loss and gradient at given parameters (clgrad demo's first
         * steps), by the chain rule and by central differences. */
        float params[2] = {1.0f, 0.0f}, loss, grad[2];
        if (model) {
            cg_linreg_eval(model, params, CG_LOSS_MSE, CG_GRAD_ANALYTIC, 0.1f, &loss, grad);
            cg_linreg_eval(model, params, CG_LOSS_MSE, CG_GRAD_NUMERIC, 0.1f, &loss, grad);
        }
        for (size_t k = 0; model && k < 2; k++) {
            cg_fit_options o = short_fit(kinds[k]);
            cg_fit_result result;
            cg_linreg_fit(model, &o, &result);
            cg_fit_result_free(&result);
        }
        cg_linreg_free(model);
        cg_tensor_free(X);
        cg_tensor_free(y);
    }
    return cg_status_of(ctx);
}

/* The linear model through the autograd tape, every optimizer's update. */
static cg_status tape_linear(cg_context *ctx)
{
    cg_tensor *X, *y;
    if (!line_data(ctx, 11, 1, &X, &y)) return cg_status_of(ctx);
    for (int k = 0; k < CG_OPTIM_KIND_COUNT && cg_status_of(ctx) == CG_OK; k++) {
        if (k == CG_OPTIM_SPARSE_ADAM) continue; /* row-sparse gradients only */
        float init[2] = {1.0f, 0.0f};
        cg_tensor *params = cg_tensor_from(ctx, init, CG_SHAPE(2));
        cg_set_requires_grad(params, true);
        cg_fit_model model = cg_fit_model_linreg(params);
        cg_fit_options o = short_fit((cg_optim_kind)k);
        /* the second step is captured, the rest loop on the device: the
         * replayed groups and the loop's program */
        o.epochs = 4;
        cg_fit_result result;
        cg_fit(&model, X, y, &o, &result);
        cg_fit_result_free(&result);
        cg_tensor_free(params);
    }
    cg_tensor_free(X);
    cg_tensor_free(y);
    return cg_status_of(ctx);
}

/* MLPs as clgrad fit --model mlp:... builds them, each activation. */
static cg_status mlps(cg_context *ctx)
{
    static const cg_activation acts[] = {CG_ACT_TANH, CG_ACT_RELU, CG_ACT_SIGMOID};
    static const cg_optim_kind kinds[] = {CG_OPTIM_SGD, CG_OPTIM_ADAM};
    cg_tensor *X, *y;
    if (!line_data(ctx, 64, 3, &X, &y)) return cg_status_of(ctx);
    const size_t sizes[] = {3, 8, 8, 1};
    for (size_t a = 0; a < 3 && cg_status_of(ctx) == CG_OK; a++) {
        for (size_t k = 0; k < 2; k++) {
            cg_mlp *mlp = cg_mlp_create(ctx, sizes, 4, acts[a], 1);
            cg_fit_model model = cg_fit_model_mlp(mlp);
            cg_fit_options o = short_fit(kinds[k]);
            o.batch_size = 16; /* minibatches: the row gathers */
            cg_fit_result result;
            if (mlp) cg_fit(&model, X, y, &o, &result), cg_fit_result_free(&result);
            cg_mlp_free(mlp);
        }
    }
    cg_tensor_free(X);
    cg_tensor_free(y);
    return cg_status_of(ctx);
}

static const struct {
    const char *name;
    cg_status (*run)(cg_context *ctx);
} workloads[] = {
    {"fused linear trainer", fused},
    {"linear model, autograd", tape_linear},
    {"MLPs, autograd", mlps},
};

int cli_warmup(int argc, char **argv)
{
    const char *device = NULL;
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(warmup_usage, stdout);
            return CLI_OK;
        } else if (strcmp(argv[i], "--quiet") == 0) {
            quiet = true;
        } else if (strcmp(argv[i], "--device") == 0 && i + 1 < argc) {
            device = argv[++i];
        } else {
            fprintf(stderr, "clgrad warmup: unknown option '%s' (see --help)\n", argv[i]);
            return CLI_USAGE;
        }
    }
    /* The binaries go into clgrad's cache on every driver (on PoCL a
     * plain run only reads them: writing costs compiling every kernel of a
     * program, paid here once), unless the user turned the cache off. */
    const char *cache = getenv("CLGRAD_BINARY_CACHE");
    if (!cache || !*cache || strcmp(cache, "auto") == 0) setenv("CLGRAD_BINARY_CACHE", "on", 1);
    cg_context *ctx;
    int rc = cli_context(device, "clgrad warmup", &ctx);
    if (rc >= 0) return rc;
    double start = now_s();
    unsigned long long compiled = 0;
    for (size_t w = 0; w < sizeof workloads / sizeof workloads[0]; w++) {
        double t0 = now_s();
        cg_context_stats before = cg_context_stats_of(ctx);
        if (workloads[w].run(ctx) != CG_OK) {
            cli_say(stderr, "clgrad warmup", "%s: %s", workloads[w].name, cg_error_message(ctx));
            rc = cli_exit_for(cg_status_of(ctx));
            cg_context_free(ctx);
            return rc;
        }
        cg_context_stats after = cg_context_stats_of(ctx);
        compiled += after.programs_compiled - before.programs_compiled;
        if (!quiet)
            printf("%-24s %3llu programs compiled, %3llu from the cache  %6.2f s\n",
                   workloads[w].name, after.programs_compiled - before.programs_compiled,
                   after.programs_from_cache - before.programs_from_cache, now_s() - t0);
    }
    printf("warmed up %s (%s): %llu programs compiled in %.2f s\n",
           cg_context_device(ctx)->name, cg_context_device(ctx)->platform, compiled,
           now_s() - start);
    cg_context_free(ctx);
    return CLI_OK;
}
