/* bench_linreg: the fused linear model's speed, each figure against the plain
 * C baseline measured in the same run (medians of repeats).
 *
 *   1. the lecture's 5000-epoch fit (11 points): time per whole fit
 *   2. one epoch at 10^7 points, one feature: effective bandwidth (8 bytes
 *      per point) against an OpenMP + SIMD C loop (-O3 -march=native)
 *   3. single launch vs per-epoch launches across sizes (the AUTO threshold)
 *   4. process start to first epoch, warm and cold kernel cache
 *
 * usage: bench_linreg [--device SPEC] [--points N] [--repeats R]
 *                     [--json FILE] [--clgrad PATH] [--only FIGURES]
 *                     [--peer-json] [--fingerprint]
 *
 * --only lecture,epoch,paths,startup runs those figures alone. --peer-json
 * times the lecture's fit alone and prints one JSON line in the format of
 * ../shared/peers' scripts (bench/peers-p1.sh compares them). --fingerprint
 * prints a hash of every output of fits (single launch and per-epoch) over a
 * grid of data sets, optimizers, losses and gradient modes: two builds that print the same
 * lines compute the same bits (an A/B check for kernel changes).
 */
#define _GNU_SOURCE
#include <libgen.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "baseline_loop.h"
#include "bench_common.h"
#include "clgrad.h"

static bench_sink sink;

#define record(...) bench_record(&sink, __VA_ARGS__)

static const float lecture_u[11] = {35.7f, 55.9f, 58.2f, 81.9f, 56.3f, 48.9f,
                                    33.9f, 21.8f, 48.4f, 60.4f, 68.4f};
static const float lecture_c[11] = {0.5f, 14.0f, 15.0f, 28.0f, 11.0f, 8.0f,
                                    3.0f, -4.0f, 6.0f, 13.0f, 21.0f};

/* Median seconds of `repeats` fits (after two warm-ups). */
static double time_fit(cg_linreg *m, cg_fit_options *o, int repeats, cg_fit_path *used)
{
    double t[101];
    if (repeats > 101) repeats = 101;
    cg_fit_result r;
    for (int i = -2; i < repeats; i++) {
        double t0 = bench_now();
        cg_linreg_fit(m, o, &r);
        double dt = bench_now() - t0;
        if (used) *used = r.path_used;
        cg_fit_result_free(&r);
        if (i >= 0) t[i] = dt;
    }
    return bench_median(t, repeats);
}

static void bench_lecture(cg_context *ctx, int repeats)
{
    cg_tensor *u = cg_tensor_from(ctx, lecture_u, CG_SHAPE(11));
    cg_tensor *c = cg_tensor_from(ctx, lecture_c, CG_SHAPE(11));
    cg_linreg *m = cg_linreg_create(ctx, u, c);
    const float scale = 0.1f;
    cg_linreg_set_transform(m, NULL, &scale);
    bench_check(ctx, "lecture setup");
    cg_fit_options o = cg_fit_defaults();
    o.log_every = 0;
    double dev = time_fit(m, &o, repeats, NULL);
    /* What an epoch costs inside the kernel: the 5000-epoch fit less a
     * 1-epoch fit (launch, read-back and setup cancel out). */
    o.epochs = 1;
    double one = time_fit(m, &o, repeats, NULL);
    o.epochs = 5000;
    bench_check(ctx, "lecture fit");

    float un[11];
    for (int i = 0; i < 11; i++) un[i] = lecture_u[i] * 0.1f;
    double t[101];
    int reps = repeats > 101 ? 101 : repeats;
    for (int i = 0; i < reps; i++) {
        float w = 1.0f, b = 0.0f;
        double t0 = bench_now();
        baseline_fit(un, lecture_c, 11, 5000, 1e-2f, &w, &b);
        t[i] = bench_now() - t0;
        if (fabsf(w - 5.3671f) > 1e-3f) fprintf(stderr, "baseline fit is off: w = %f\n", w);
    }
    double base = bench_median(t, reps);
    record("lecture fit, 5000 epochs (whole fit)", 11, dev * 1e3, "ms", base * 1e3,
           "single launch; baseline: plain C loop");
    record("  per epoch (5000-epoch fit - 1-epoch fit)", 11, (dev - one) / 4999 * 1e9, "ns",
           base / 5000 * 1e9, "in-kernel cost; baseline: plain C loop");
    cg_linreg_free(m);
    cg_tensor_free(u);
    cg_tensor_free(c);
}

/* --peer-json: the lecture's 5000-epoch fit alone, as ../shared/peers/p1_*.py
 * print theirs. train_seconds is the whole cg_linreg_fit call (options
 * checked, buffers, launch, read-back, result), as the peers time the whole
 * call of their compiled loop; kernel_seconds is the fit's own timer (the
 * launch and the read-back). Medians after two warm-up fits. w is the weight
 * on 0.1 * t_u, as the peers report it. */
static void peer_json(cg_context *ctx, int repeats)
{
    cg_tensor *u = cg_tensor_from(ctx, lecture_u, CG_SHAPE(11));
    cg_tensor *c = cg_tensor_from(ctx, lecture_c, CG_SHAPE(11));
    cg_linreg *m = cg_linreg_create(ctx, u, c);
    const float scale = 0.1f;
    cg_linreg_set_transform(m, NULL, &scale);
    cg_fit_options o = cg_fit_defaults();
    o.log_every = 0;
    double t[101], whole[101];
    int reps = repeats > 101 ? 101 : repeats;
    cg_fit_result r = {0};
    for (int i = -2; i < reps; i++) {
        cg_fit_result_free(&r);
        double t0 = bench_now();
        cg_linreg_fit(m, &o, &r);
        double dt = bench_now() - t0;
        if (i >= 0) {
            t[i] = r.train_seconds;
            whole[i] = dt;
        }
    }
    bench_check(ctx, "peer fit");
    printf("{\"fw\": \"clgrad %s\", \"train_seconds\": %.9g, \"kernel_seconds\": %.9g, "
           "\"w\": %.9g, \"b\": %.9g, \"loss\": %.9g}\n",
           cg_context_device(ctx)->name, bench_median(whole, reps), bench_median(t, reps),
           r.params[0], r.params[1], r.final_loss);
    cg_fit_result_free(&r);
    cg_linreg_free(m);
    cg_tensor_free(u);
    cg_tensor_free(c);
}

/* FNV-1a over the bits of floats. */
static unsigned long long fp_mix(unsigned long long h, const float *v, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        unsigned bits;
        memcpy(&bits, &v[i], sizeof bits);
        for (int k = 0; k < 4; k++) h = (h ^ ((bits >> (8 * k)) & 0xffu)) * 1099511628211ull;
    }
    return h;
}

static void fp_on_epoch(void *user, const cg_epoch_log *log)
{
    unsigned long long *h = user;
    float e = (float)log->epoch;
    *h = fp_mix(*h, &e, 1);
    *h = fp_mix(*h, &log->loss, 1);
    *h = fp_mix(*h, log->params, log->nparams);
    *h = fp_mix(*h, log->grad, log->nparams);
}

/* One fingerprint line. variant 1 switches on every option the rule has. */
static void fp_fit(cg_context *ctx, cg_linreg *m, size_t n, size_t F, int path, int kind,
                   int variant, int loss, int mode)
{
    static const long extra_logs[] = {1, 2, 3, 10, 11, 99, 100};
    cg_optim_options oo = cg_optim_defaults((cg_optim_kind)kind);
    oo.lr = kind == CG_OPTIM_ADADELTA ? 1.0f : 1e-2f;
    if (variant) {
        oo.weight_decay = 1e-2f;
        oo.momentum = 0.9f;
        oo.nesterov = kind == CG_OPTIM_SGD;
        oo.amsgrad = true;
        oo.centered = true;
        oo.lr_decay = 1e-3f;
        oo.t0 = 20.0f;
        oo.maximize = kind == CG_OPTIM_RPROP;
        if (kind == CG_OPTIM_SGD) oo.lr = 0.5f; /* diverges */
    }
    cg_fit_options o = cg_fit_defaults();
    o.optimizer = (cg_optim_kind)kind;
    o.optim = &oo;
    o.loss = (cg_loss_kind)loss;
    o.grad = (cg_grad_mode)mode;
    o.epochs = 250;
    o.log_every = 37;
    o.log_epochs = extra_logs;
    o.n_log_epochs = sizeof extra_logs / sizeof extra_logs[0];
    o.path = path ? CG_PATH_PER_EPOCH : CG_PATH_SINGLE_LAUNCH;
    unsigned long long h = 14695981039346656037ull;
    o.on_epoch = fp_on_epoch;
    o.user = &h;
    cg_fit_result r;
    if (cg_linreg_fit(m, &o, &r) != CG_OK) {
        printf("error: %s\n", cg_error_message(ctx));
        exit(1);
    }
    float e = (float)r.epochs_run, dv = (float)r.diverged;
    h = fp_mix(h, &e, 1);
    h = fp_mix(h, &dv, 1);
    h = fp_mix(h, &r.final_loss, 1);
    h = fp_mix(h, r.params, r.nparams);
    h = fp_mix(h, r.curve_loss, r.curve_count);
    h = fp_mix(h, r.history_loss, r.history_count);
    printf("%s n=%zu F=%zu %-8s v%d loss=%d mode=%d epochs=%ld %016llx\n",
           path ? "per-epoch" : "single", n, F, cg_optim_name((cg_optim_kind)kind), variant, loss,
           mode, r.epochs_run, h);
    cg_fit_result_free(&r);
}

/* --fingerprint: one line per data set x path x optimizer x loss x gradient
 * mode, each the hash of everything the fit returns. */
static void fingerprint(cg_context *ctx)
{
    static const struct { size_t n, f; } sets[] = {{11, 1}, {40, 1}, {300, 1}, {1000, 1},
                                                   {37, 2}, {500, 3}};
    for (size_t d = 0; d < sizeof sets / sizeof sets[0]; d++) {
        size_t n = sets[d].n, F = sets[d].f;
        float *x = malloc(n * F * sizeof *x), *y = malloc(n * sizeof *y);
        if (!x || !y) exit(1);
        unsigned s = 777u + (unsigned)d;
        for (size_t i = 0; i < n; i++) {
            float acc = 0.5f;
            for (size_t j = 0; j < F; j++) {
                s = s * 1103515245u + 12345u;
                float v = n == 11 ? lecture_u[i] : (float)(s >> 8) / 16777216.0f * 6.0f - 2.0f;
                x[i * F + j] = v;
                acc += (float)(j + 1) * 0.7f * v;
            }
            s = s * 1103515245u + 12345u;
            y[i] = n == 11 ? lecture_c[i] : acc + ((float)((s >> 4) & 1023) / 1024.0f - 0.5f);
        }
        cg_tensor *tx = F == 1 ? cg_tensor_from(ctx, x, CG_SHAPE(n))
                               : cg_tensor_from(ctx, x, CG_SHAPE(n, F));
        cg_tensor *ty = cg_tensor_from(ctx, y, CG_SHAPE(n));
        cg_linreg *m = cg_linreg_create(ctx, tx, ty);
        if (n == 11) {
            const float scale = 0.1f;
            cg_linreg_set_transform(m, NULL, &scale);
        } else {
            float shift[3] = {0.5f, -0.25f, 1.0f}, scale[3] = {0.8f, 1.5f, 0.3f};
            cg_linreg_set_transform(m, shift, scale);
        }
        bench_check(ctx, "fingerprint setup");
        for (int path = 0; path < 2; path++)
            for (int kind = 0; kind <= CG_OPTIM_ASGD; kind++)
                for (int v = 0; v < 4 * 2; v++) /* variant x loss x mode */
                    fp_fit(ctx, m, n, F, path, kind, v >> 2, (v >> 1) & 1, v & 1);
        cg_linreg_free(m);
        cg_tensor_free(tx);
        cg_tensor_free(ty);
        free(x);
        free(y);
    }
}

static void bench_epoch(cg_context *ctx, size_t n, int repeats)
{
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    if (!x || !y) exit(1);
    unsigned s = 12345;
    for (size_t i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        x[i] = (float)(s >> 8) / 16777216.0f * 4.0f - 2.0f;
        y[i] = 3.0f * x[i] - 1.0f + ((float)((s >> 4) & 1023) / 1024.0f - 0.5f);
    }
    cg_tensor *tx = cg_tensor_from(ctx, x, CG_SHAPE(n)), *ty = cg_tensor_from(ctx, y, CG_SHAPE(n));
    cg_linreg *m = cg_linreg_create(ctx, tx, ty);
    bench_check(ctx, "epoch setup");
    const int epochs = 20;
    cg_fit_options o = cg_fit_defaults();
    o.epochs = epochs;
    o.log_every = 0;
    o.path = CG_PATH_PER_EPOCH;
    /* One epoch = the fused pass + the update; the fit's own timer excludes
     * setup, and the final-loss pass is one more pass, hence epochs + 1. */
    /* Device and baseline alternate, so a neighbour's load on this shared
     * machine hits both alike. */
    double t[101], tb[101];
    int reps = repeats > 101 ? 101 : repeats;
    cg_fit_result r;
    float loss, gw, gb;
    for (int i = -1; i < reps; i++) {
        cg_linreg_fit(m, &o, &r);
        if (i >= 0) t[i] = r.train_seconds / (epochs + 1);
        cg_fit_result_free(&r);
        double t0 = bench_now();
        baseline_epoch(x, y, (long)n, 1.0f, 0.0f, &loss, &gw, &gb);
        if (i >= 0) tb[i] = bench_now() - t0;
    }
    bench_check(ctx, "epoch fit");
    double dev = bench_median(t, reps), base = bench_median(tb, reps);
    double bytes = 8.0 * (double)n;
    record("one epoch (fused pass + update)", n, dev * 1e3, "ms", base * 1e3,
           "baseline: OpenMP+SIMD C loop");
    record("  effective bandwidth", n, bytes / dev / 1e9, "GB/s", bytes / base / 1e9,
           "8 bytes per point; ratio > 1 is faster than C");
    cg_linreg_free(m);
    cg_tensor_free(tx);
    cg_tensor_free(ty);
    free(x);
    free(y);
}

static void bench_paths(cg_context *ctx, int repeats)
{
    const size_t sizes[] = {11, 1024, 8192, 32768, 131072};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
        for (size_t i = 0; i < n; i++) {
            x[i] = (float)(i % 97) / 97.0f;
            y[i] = 2.0f * x[i] + 0.5f;
        }
        cg_tensor *tx = cg_tensor_from(ctx, x, CG_SHAPE(n)), *ty = cg_tensor_from(ctx, y, CG_SHAPE(n));
        cg_linreg *m = cg_linreg_create(ctx, tx, ty);
        cg_fit_options o = cg_fit_defaults();
        o.epochs = 200;
        o.log_every = 0;
        o.path = CG_PATH_SINGLE_LAUNCH;
        double single = time_fit(m, &o, repeats / 2 + 1, NULL) / 200;
        o.path = CG_PATH_PER_EPOCH;
        double per = time_fit(m, &o, repeats / 2 + 1, NULL) / 200;
        o.path = CG_PATH_AUTO;
        cg_fit_path used;
        time_fit(m, &o, 1, &used);
        bench_check(ctx, "paths");
        char note[96];
        snprintf(note, sizeof note, "single launch vs per-epoch (ratio); AUTO picks %s",
                 used == CG_PATH_SINGLE_LAUNCH ? "single" : "per-epoch");
        record("epoch time, single vs per-epoch", n, single * 1e6, "us", per * 1e6, note);
        cg_linreg_free(m);
        cg_tensor_free(tx);
        cg_tensor_free(ty);
        free(x);
        free(y);
    }
}

static double run_process(const char *cmd)
{
    double t0 = bench_now();
    if (system(cmd) != 0) {
        fprintf(stderr, "bench_linreg: '%s' failed\n", cmd);
        exit(1);
    }
    return bench_now() - t0;
}

static void bench_startup(const char *clgrad, const char *device, int repeats)
{
    char dir[] = "/tmp/clgrad-bench-XXXXXX";
    if (!mkdtemp(dir)) return;
    char cmd[2048];
    double cold[5], warm[101];
    int reps = repeats > 101 ? 101 : repeats;
    /* Cold: empty clgrad cache and an empty PoCL kernel cache. */
    for (int i = 0; i < 5; i++) {
        snprintf(cmd, sizeof cmd,
                 "rm -rf %s/c && CLGRAD_CACHE_DIR=%s/c POCL_CACHE_DIR=%s/p%d CLGRAD_DEVICE='%s' "
                 "%s fit --epochs 1 --json >/dev/null",
                 dir, dir, dir, i, device, clgrad);
        cold[i] = run_process(cmd);
    }
    snprintf(cmd, sizeof cmd,
             "CLGRAD_CACHE_DIR=%s/c POCL_CACHE_DIR=%s/p0 CLGRAD_DEVICE='%s' %s fit --epochs 1 "
             "--json >/dev/null",
             dir, dir, device, clgrad);
    for (int i = -1; i < reps; i++) {
        double t = run_process(cmd);
        if (i >= 0) warm[i] = t;
    }
    snprintf(cmd, sizeof cmd, "CLGRAD_DEVICE=ref %s fit --epochs 1 --json >/dev/null", clgrad);
    double ref[101];
    for (int i = 0; i < reps; i++) ref[i] = run_process(cmd);
    double w = bench_median(warm, reps), c = bench_median(cold, 5), r = bench_median(ref, reps);
    record("process: fit --epochs 1, warm cache", 11, w * 1e3, "ms", r * 1e3,
           "whole process; baseline: the same on ref");
    record("process: fit --epochs 1, cold cache", 11, c * 1e3, "ms", w * 1e3,
           "empty clgrad + PoCL caches; baseline: warm");
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

int main(int argc, char **argv)
{
    const char *device = getenv("CLGRAD_DEVICE"), *json_path = NULL, *clgrad = NULL;
    size_t points = 10000000;
    int repeats = 21;
    const char *only = "lecture,epoch,paths,startup";
    bool peer = false, prints = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--device") == 0 && i + 1 < argc)
            device = argv[++i];
        else if (strcmp(argv[i], "--points") == 0 && i + 1 < argc)
            points = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--repeats") == 0 && i + 1 < argc)
            repeats = atoi(argv[++i]);
        else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc)
            json_path = argv[++i];
        else if (strcmp(argv[i], "--clgrad") == 0 && i + 1 < argc)
            clgrad = argv[++i];
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            only = argv[++i];
        else if (strcmp(argv[i], "--peer-json") == 0)
            peer = true;
        else if (strcmp(argv[i], "--fingerprint") == 0)
            prints = true;
        else {
            fprintf(stderr, "usage: bench_linreg [--device SPEC] [--points N] [--repeats R] "
                            "[--json FILE] [--clgrad PATH] [--only FIGURES] [--peer-json] "
                            "[--fingerprint]\n");
            return 2;
        }
    }
    if (repeats < 1) repeats = 1;
    if (peer || prints) {
        cg_context *ctx = cg_context_create(device);
        if (!ctx) return 1;
        bench_check(ctx, "context");
        if (peer) peer_json(ctx, repeats);
        if (prints) fingerprint(ctx);
        cg_context_free(ctx);
        return 0;
    }
    char exe[1024];
    if (!clgrad) {
        char self[1024];
        snprintf(self, sizeof self, "%s", argv[0]);
        snprintf(exe, sizeof exe, "%s/../clgrad", dirname(self));
        clgrad = exe;
    }
    cg_context *ctx = cg_context_create(device);
    if (!ctx) return 1;
    bench_check(ctx, "context");
    sink.device = cg_context_device(ctx)->name;
    if (json_path && !(sink.json = fopen(json_path, "w"))) {
        perror(json_path);
        return 1;
    }
    if (sink.json) fprintf(sink.json, "[\n");
    printf("device: %s (%s)\n", sink.device, cg_context_device(ctx)->driver_version);
    printf("%-38s %10s %12s %-6s %12s %8s  %s\n", "figure", "size", "median", "unit", "baseline",
           "ratio", "note");
    if (strstr(only, "lecture")) bench_lecture(ctx, repeats);
    if (strstr(only, "epoch")) bench_epoch(ctx, points, repeats);
    if (strstr(only, "paths")) bench_paths(ctx, repeats);
    if (strstr(only, "startup")) bench_startup(clgrad, device ? device : "", repeats);
    if (sink.json) {
        fprintf(sink.json, "\n]\n");
        fclose(sink.json);
    }
    cg_context_free(ctx);
    return 0;
}
