/* bench_tape: the autograd tape's cost, each figure against a baseline
 * measured in the same run (medians of repeats).
 *
 *   1. the lecture's linear model through the tape: kernel launches per
 *      training step, and time per epoch at 11 and at 10^7 points, against
 *      the fused linear path
 *   2. matmul at 1024 x 1024 x 1024: GFLOP/s against a plain C triple loop
 *      and against a measured peak (multiply-add chains on every core)
 *   3. an MLP 1024-1024-1024-1 (tanh, batch 256, MSE, SGD): time per step
 *   4. the lecture's step captured and replayed, against building it
 *
 * usage: bench_tape [--device SPEC] [--repeats R] [--json FILE] [--quick]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "baseline_loop.h"
#include "bench_common.h"
#include "clgrad.h"

static bench_sink sink;

#define record(...) bench_record(&sink, __VA_ARGS__)

/* One training step of the lecture's model through the tape. */
static void tape_step(cg_context *ctx, cg_tensor *params, cg_tensor *x, cg_tensor *y,
                      cg_optimizer *opt)
{
    cg_tensor *t_p = cg_add(cg_mul(cg_at(params, 0), x), cg_at(params, 1));
    cg_tensor *loss = cg_mse_loss(t_p, y, CG_REDUCTION_MEAN);
    cg_zero_grad(opt);
    cg_backward(loss);
    cg_step(opt);
    cg_tape_reset(ctx);
}

static void bench_linear(cg_context *ctx, size_t n, int epochs, int repeats)
{
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    for (size_t i = 0; i < n; i++) {
        x[i] = (float)(i % 1000) / 500.0f - 1.0f;
        y[i] = 2.0f * x[i] - 0.5f;
    }
    cg_tensor *tx = cg_tensor_from(ctx, x, CG_SHAPE(n)), *ty = cg_tensor_from(ctx, y, CG_SHAPE(n));
    cg_tensor *params = cg_tensor_from(ctx, (float[]){1.0f, 0.0f}, CG_SHAPE(2));
    cg_set_requires_grad(params, true);
    cg_optimizer *opt = cg_optimizer_create(ctx, CG_OPTIM_SGD, &params, 1, NULL); /* lr 1e-2 */
    tape_step(ctx, params, tx, ty, opt); /* warm-up: programs, pool */
    cg_finish(ctx);
    unsigned long long l0 = cg_context_stats_of(ctx).kernel_launches;
    tape_step(ctx, params, tx, ty, opt);
    unsigned long long launches = cg_context_stats_of(ctx).kernel_launches - l0;
    double t[51], tf[51];
    int reps = repeats > 51 ? 51 : repeats;
    cg_linreg *m = cg_linreg_create(ctx, tx, ty);
    cg_fit_options o = cg_fit_defaults();
    o.epochs = epochs;
    o.log_every = 0;
    cg_fit_result r;
    cg_linreg_fit(m, &o, &r); /* warm-up */
    cg_fit_result_free(&r);
    for (int i = 0; i < reps; i++) {
        double t0 = bench_now();
        for (int e = 0; e < epochs; e++) tape_step(ctx, params, tx, ty, opt);
        cg_finish(ctx);
        t[i] = (bench_now() - t0) / epochs;
        t0 = bench_now();
        cg_linreg_fit(m, &o, &r);
        tf[i] = (bench_now() - t0) / epochs;
        cg_fit_result_free(&r);
    }
    bench_check(ctx, "linear");
    char note[128];
    snprintf(note, sizeof note, "%llu launches per tape step; baseline: fused path (%s)",
             launches, n <= 65536 ? "single launch" : "per-epoch launches");
    record("linear model epoch, tape vs fused", n, bench_median(t, reps) * 1e6, "us",
           bench_median(tf, reps) * 1e6, note);
    cg_linreg_free(m);
    cg_optimizer_free(opt);
    cg_tensor_free(params);
    cg_tensor_free(tx);
    cg_tensor_free(ty);
    free(x);
    free(y);
}

/* The same step captured once (cg_capture_begin) and replayed, against the
 * step built every time, alternating in the same run. */
static void bench_replay(cg_context *ctx, size_t n, int epochs, int repeats)
{
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    for (size_t i = 0; i < n; i++) {
        x[i] = (float)(i % 1000) / 500.0f - 1.0f;
        y[i] = 2.0f * x[i] - 0.5f;
    }
    cg_tensor *tx = cg_tensor_from(ctx, x, CG_SHAPE(n)), *ty = cg_tensor_from(ctx, y, CG_SHAPE(n));
    cg_tensor *params = cg_tensor_from(ctx, (float[]){1.0f, 0.0f}, CG_SHAPE(2));
    cg_set_requires_grad(params, true);
    cg_optimizer *opt = cg_optimizer_create(ctx, CG_OPTIM_SGD, &params, 1, NULL);
    tape_step(ctx, params, tx, ty, opt); /* the first step makes the gradients */
    cg_capture_begin(ctx);
    tape_step(ctx, params, tx, ty, opt);
    cg_capture *c = cg_capture_end(ctx);
    bench_check(ctx, "replay");
    double t[51], tb[51];
    int reps = repeats > 51 ? 51 : repeats;
    for (int i = 0; i < reps; i++) {
        double t0 = bench_now();
        for (int e = 0; e < epochs; e++) cg_capture_replay(c);
        cg_finish(ctx);
        t[i] = (bench_now() - t0) / epochs;
        t0 = bench_now();
        for (int e = 0; e < epochs; e++) tape_step(ctx, params, tx, ty, opt);
        cg_finish(ctx);
        tb[i] = (bench_now() - t0) / epochs;
    }
    bench_check(ctx, "replay");
    char note[128];
    snprintf(note, sizeof note, "%llu launches per replay; baseline: the step built each time",
             cg_capture_launches(c));
    record("linear model epoch, replayed vs built", n, bench_median(t, reps) * 1e6, "us",
           bench_median(tb, reps) * 1e6, note);
    cg_capture_free(c);
    cg_optimizer_free(opt);
    cg_tensor_free(params);
    cg_tensor_free(tx);
    cg_tensor_free(ty);
    free(x);
    free(y);
}

static void bench_matmul(cg_context *ctx, size_t n, int repeats)
{
    float *a = malloc(n * n * sizeof *a), *b = malloc(n * n * sizeof *b), *c = malloc(n * n * sizeof *c);
    for (size_t i = 0; i < n * n; i++) {
        a[i] = (float)((i * 7) % 13) / 13.0f - 0.5f;
        b[i] = (float)((i * 5) % 11) / 11.0f - 0.5f;
    }
    cg_tensor *ta = cg_tensor_from(ctx, a, CG_SHAPE(n, n)), *tb = cg_tensor_from(ctx, b, CG_SHAPE(n, n));
    cg_tensor *out = cg_matmul(ta, tb, false, false); /* warm-up */
    cg_finish(ctx);
    bench_check(ctx, "matmul");
    /* Correct before fast: spot-check a row against the C loop's result. */
    baseline_matmul(a, b, c, (long)n, (long)n, (long)n);
    float *got = malloc(n * n * sizeof *got);
    cg_tensor_read(out, got, n * n);
    for (size_t j = 0; j < n; j += 97)
        if (fabsf(got[j] - c[j]) > 1e-3f * (1.0f + fabsf(c[j]))) {
            fprintf(stderr, "bench_tape: matmul differs at %zu: %f vs %f\n", j, got[j], c[j]);
            exit(1);
        }
    cg_tape_reset(ctx);
    double t[21], tb_[5];
    int reps = repeats > 21 ? 21 : repeats;
    for (int i = 0; i < reps; i++) {
        double t0 = bench_now();
        cg_matmul(ta, tb, false, false);
        cg_finish(ctx);
        t[i] = bench_now() - t0;
        cg_tape_reset(ctx);
    }
    int breps = reps < 3 ? reps : 3;
    for (int i = 0; i < breps; i++) {
        double t0 = bench_now();
        baseline_matmul(a, b, c, (long)n, (long)n, (long)n);
        tb_[i] = bench_now() - t0;
    }
    double flops = 2.0 * (double)n * n * n;
    double dev = flops / bench_median(t, reps) / 1e9, base = flops / bench_median(tb_, breps) / 1e9;
    double peak = baseline_peak_gflops(bench_now);
    record("matmul GFLOP/s vs plain triple loop", n, dev, "GFLOP/s", base,
           "baseline: i-k-j C loop, -O3 -march=native, 1 core");
    record("matmul GFLOP/s vs measured peak", n, dev, "GFLOP/s", peak,
           "baseline: FMA chains on all cores (OpenMP, SIMD)");
    cg_tensor_free(ta);
    cg_tensor_free(tb);
    free(a);
    free(b);
    free(c);
    free(got);
}

static void bench_mlp(cg_context *ctx, int repeats)
{
    const size_t batch = 256, sizes[] = {1024, 1024, 1024, 1};
    float *x = malloc(batch * 1024 * sizeof *x), *y = malloc(batch * sizeof *y);
    for (size_t i = 0; i < batch * 1024; i++) x[i] = (float)((i * 31) % 101) / 101.0f - 0.5f;
    for (size_t i = 0; i < batch; i++) y[i] = (float)(i % 7) / 7.0f;
    cg_tensor *tx = cg_tensor_from(ctx, x, CG_SHAPE(batch, 1024));
    cg_tensor *ty = cg_tensor_from(ctx, y, CG_SHAPE(batch, 1));
    cg_mlp *mlp = cg_mlp_create(ctx, sizes, 4, CG_ACT_TANH, 1);
    cg_tensor *params[6];
    cg_mlp_parameters(mlp, params, 6);
    cg_optim_options sgd = cg_optim_defaults(CG_OPTIM_SGD);
    sgd.lr = 1e-3f;
    cg_optimizer *opt = cg_optimizer_create(ctx, CG_OPTIM_SGD, params, 6, &sgd);
    double t[11];
    int reps = repeats > 11 ? 11 : repeats;
    unsigned long long launches = 0;
    for (int i = -1; i < reps; i++) {
        unsigned long long l0 = cg_context_stats_of(ctx).kernel_launches;
        double t0 = bench_now();
        cg_tensor *loss = cg_mse_loss(cg_mlp_forward(mlp, tx), ty, CG_REDUCTION_MEAN);
        cg_zero_grad(opt);
        cg_backward(loss);
        cg_step(opt);
        cg_finish(ctx);
        if (i >= 0) t[i] = bench_now() - t0;
        cg_tape_reset(ctx);
        launches = cg_context_stats_of(ctx).kernel_launches - l0;
    }
    bench_check(ctx, "mlp");
    /* forward 2*B*P, backward about twice that: ~6 B P flops per step */
    double flops = 6.0 * (double)batch * (double)cg_mlp_parameter_count(mlp);
    double step = bench_median(t, reps);
    char note[128];
    snprintf(note, sizeof note, "%zu params, %llu launches/step, %.1f GFLOP/s", cg_mlp_parameter_count(mlp),
             launches, flops / step / 1e9);
    record("MLP 1024-1024-1024-1 training step", batch, step * 1e3, "ms", 0, note);
    cg_optimizer_free(opt);
    cg_mlp_free(mlp);
    cg_tensor_free(tx);
    cg_tensor_free(ty);
    free(x);
    free(y);
}

int main(int argc, char **argv)
{
    const char *device = getenv("CLGRAD_DEVICE"), *json_path = NULL;
    int repeats = 7;
    bool quick = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--device") == 0 && i + 1 < argc)
            device = argv[++i];
        else if (strcmp(argv[i], "--repeats") == 0 && i + 1 < argc)
            repeats = atoi(argv[++i]);
        else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc)
            json_path = argv[++i];
        else if (strcmp(argv[i], "--quick") == 0)
            quick = true;
        else {
            fprintf(stderr, "usage: bench_tape [--device SPEC] [--repeats R] [--json FILE] "
                            "[--quick]\n");
            return 2;
        }
    }
    if (repeats < 1) repeats = 1;
    cg_context *ctx = cg_context_create(device);
    if (!ctx) return 1;
    bench_check(ctx, "context");
    sink.device = cg_context_device(ctx)->name;
    if (json_path && !(sink.json = fopen(json_path, "w"))) {
        perror(json_path);
        return 1;
    }
    if (sink.json) fprintf(sink.json, "[\n");
    printf("device: %s\n", sink.device);
    printf("%-40s %10s %12s %-7s %12s %9s  %s\n", "figure", "size", "median", "unit", "baseline",
           "ratio", "note");
    bench_linear(ctx, 11, 500, repeats);
    bench_linear(ctx, quick ? 100000 : 10000000, quick ? 5 : 3, repeats < 5 ? repeats : 5);
    bench_replay(ctx, 11, 500, repeats);
    bench_replay(ctx, quick ? 100000 : 10000000, quick ? 5 : 3, repeats < 5 ? repeats : 5);
    bench_matmul(ctx, quick ? 256 : 1024, repeats);
    if (!quick) bench_mlp(ctx, repeats < 5 ? repeats : 5);
    if (sink.json) {
        fprintf(sink.json, "\n]\n");
        fclose(sink.json);
    }
    cg_context_free(ctx);
    return 0;
}
