/* bench_optim: one optimizer step over the 2.1 million parameters of an MLP
 * 1024-1024-1024-1 (six tensors), each rule on the device against the bytes
 * it must move, and Adam against a plain C loop (OpenMP + SIMD) in the same
 * run. Medians of repeats.
 *
 * usage: bench_optim [--device SPEC] [--repeats R] [--json FILE]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "baseline_loop.h"
#include "bench_common.h"
#include "clgrad.h"

/* Bytes each rule reads and writes per element: p, g, and its state slots. */
static double bytes_per_element(cg_optim_kind k)
{
    int state = k == CG_OPTIM_SGD ? 1 : k == CG_OPTIM_ADAGRAD || k == CG_OPTIM_ASGD ? 1
                : k == CG_OPTIM_RMSPROP ? 1 : 2;
    return 4.0 * (2 + 1 + 2 * state); /* read p, g, state; write p, state */
}

int main(int argc, char **argv)
{
    const char *device = getenv("CLGRAD_DEVICE"), *json_path = NULL;
    int repeats = 11;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--device") && i + 1 < argc) device = argv[++i];
        else if (!strcmp(argv[i], "--repeats") && i + 1 < argc) repeats = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) json_path = argv[++i];
        else {
            fprintf(stderr, "usage: bench_optim [--device SPEC] [--repeats R] [--json FILE]\n");
            return 2;
        }
    }
    if (repeats < 1) repeats = 1;
    if (repeats > 51) repeats = 51;
    cg_context *ctx = cg_context_create(device);
    if (!ctx || cg_status_of(ctx) != CG_OK) {
        fprintf(stderr, "bench_optim: %s\n", ctx ? cg_error_message(ctx) : "no memory");
        return 1;
    }
    const size_t sizes[] = {1024, 1024, 1024, 1};
    cg_mlp *mlp = cg_mlp_create(ctx, sizes, 4, CG_ACT_TANH, 3);
    cg_tensor *params[6];
    cg_mlp_parameters(mlp, params, 6);
    size_t total = cg_mlp_parameter_count(mlp);
    /* Gradients: one backward of a sum over the outputs fills them. */
    float *xs = calloc(1024, sizeof *xs);
    for (int i = 0; i < 1024; i++) xs[i] = (float)(i % 17) / 17.0f;
    cg_tensor *x = cg_tensor_from(ctx, xs, CG_SHAPE(1, 1024));
    cg_backward(cg_sum(cg_mlp_forward(mlp, x)));
    cg_tape_reset(ctx);
    FILE *json = json_path ? fopen(json_path, "w") : NULL;
    if (json) fprintf(json, "[\n");
    printf("device: %s\n%-10s %12s %10s %10s %12s %10s\n", cg_context_device(ctx)->name,
           "optimizer", "params", "launches", "median ms", "GB/s", "vs C loop");
    for (int k = 0; k < CG_OPTIM_LBFGS; k++) {
        cg_optim_options o = cg_optim_defaults((cg_optim_kind)k);
        if (k == CG_OPTIM_SGD) o.momentum = 0.9f;
        cg_optimizer *opt = cg_optimizer_create(ctx, (cg_optim_kind)k, params, 6, &o);
        cg_step(opt); /* warm-up: program, first-step paths */
        cg_finish(ctx);
        double t[51];
        unsigned long long launches = 0;
        for (int r = 0; r < repeats; r++) {
            unsigned long long l0 = cg_context_stats_of(ctx).kernel_launches;
            double t0 = bench_now();
            cg_step(opt);
            cg_finish(ctx);
            t[r] = bench_now() - t0;
            launches = cg_context_stats_of(ctx).kernel_launches - l0;
        }
        double step = bench_median(t, repeats), gbs = bytes_per_element(k) * total / step / 1e9;
        double ratio = 0;
        if (k == CG_OPTIM_ADAM) {
            float *p = malloc(total * 4), *g = malloc(total * 4), *m = calloc(total, 4),
                  *v = calloc(total, 4);
            for (size_t i = 0; i < total; i++) {
                p[i] = 0.01f * (float)(i % 101);
                g[i] = 0.001f * (float)(i % 37);
            }
            double tb[51];
            for (int r = -1; r < repeats; r++) {
                double t0 = bench_now();
                baseline_adam(p, g, m, v, (long)total, 0.9f, 0.999f, 0.1f, 0.001f, -1e-3f, 0.5f,
                              1e-8f);
                if (r >= 0) tb[r] = bench_now() - t0;
            }
            ratio = bench_median(tb, repeats) / step;
            free(p);
            free(g);
            free(m);
            free(v);
        }
        printf("%-10s %12zu %10llu %10.3f %12.2f %10s\n", cg_optim_name(k), total, launches,
               step * 1e3, gbs, ratio > 0 ? "" : "-");
        if (ratio > 0) printf("%-10s %12s %10s %10s %12s %9.2fx\n", "", "", "", "", "", ratio);
        if (json)
            fprintf(json,
                    "%s  {\"name\": \"optimizer step\", \"optimizer\": \"%s\", \"device\": \"%s\", "
                    "\"size\": %zu, \"launches\": %llu, \"median_ms\": %.4f, \"gbps\": %.3f, "
                    "\"speed_vs_c_loop\": %.3f}",
                    k ? ",\n" : "", cg_optim_name(k), cg_context_device(ctx)->name, total,
                    launches, step * 1e3, gbs, ratio);
        cg_optimizer_free(opt);
    }
    if (json) {
        fprintf(json, "\n]\n");
        fclose(json);
    }
    cg_tensor_free(x);
    free(xs);
    cg_mlp_free(mlp);
    cg_context_free(ctx);
    return 0;
}
