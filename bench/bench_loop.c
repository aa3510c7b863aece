/* bench_loop: whole loops in one launch (issue 9, item 3). The lecture's
 * 5000-epoch fit through the tape (cg_fit, SGD, lr 1e-2, inputs scaled by
 * 0.1), with the loop (one cg_capture_replay_n) against the per-step replay
 * (CLGRAD_LOOP=0) and the hand-fused trainer (cg_linreg_fit, its single
 * launch), alternating in the same run, medians of repeats; and the loop's
 * launch alone (cg_capture_replay_n of 5000 steps, the capture made).
 *
 * usage: bench_loop [--device SPEC] [--repeats R] [--epochs N] [--json FILE]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "clgrad.h"

static bench_sink sink;

static const float lecture_u[11] = {35.7f, 55.9f, 58.2f, 81.9f, 56.3f, 48.9f,
                                    33.9f, 21.8f, 48.4f, 60.4f, 68.4f};
static const float lecture_c[11] = {0.5f, 14.0f, 15.0f, 28.0f, 11.0f, 8.0f,
                                    3.0f, -4.0f, 6.0f, 13.0f, 21.0f};

/* One cg_fit of the lecture's model through the tape: seconds. */
static double tape_fit(cg_context *ctx, cg_tensor *X, cg_tensor *y, long epochs, long log_every,
                       bool loop, float *final)
{
    if (loop)
        unsetenv("CLGRAD_LOOP");
    else
        setenv("CLGRAD_LOOP", "0", 1);
    cg_tensor *params = cg_tensor_from(ctx, (float[]){1.0f, 0.0f}, CG_SHAPE(2));
    cg_set_requires_grad(params, true);
    cg_fit_model m = cg_fit_model_linreg(params);
    cg_fit_options o = cg_fit_defaults();
    o.epochs = epochs;
    o.log_every = log_every;
    cg_fit_result r;
    double t0 = bench_now();
    cg_fit(&m, X, y, &o, &r);
    double t = bench_now() - t0;
    bench_check(ctx, "cg_fit");
    *final = r.final_loss;
    cg_fit_result_free(&r);
    cg_tensor_free(params);
    unsetenv("CLGRAD_LOOP");
    return t;
}

static double fused_fit(cg_linreg *m, long epochs, float *final)
{
    cg_fit_options o = cg_fit_defaults();
    o.epochs = epochs;
    o.log_every = 0;
    cg_fit_result r;
    double t0 = bench_now();
    cg_linreg_fit(m, &o, &r);
    double t = bench_now() - t0;
    *final = r.final_loss;
    cg_fit_result_free(&r);
    return t;
}

/* The loop's launch alone: n steps of a captured lecture step. */
static double loop_alone(cg_context *ctx, cg_tensor *X, cg_tensor *y, long n, int repeats)
{
    cg_tensor *p = cg_tensor_from(ctx, (float[]){1.0f, 0.0f}, CG_SHAPE(2));
    cg_set_requires_grad(p, true);
    cg_optimizer *opt = cg_optimizer_create(ctx, CG_OPTIM_SGD, &p, 1, NULL);
    cg_tensor *loss = NULL;
    for (int s = 0; s < 2; s++) {
        if (s == 1) cg_capture_begin(ctx);
        loss = cg_mse_loss(cg_add(cg_mul(cg_at(p, 0), X), cg_at(p, 1)), y, CG_REDUCTION_MEAN);
        cg_zero_grad(opt);
        cg_backward(loss);
        cg_step(opt);
        if (s == 0) cg_tape_reset(ctx);
    }
    cg_capture *cap = cg_capture_end(ctx);
    cg_tape_reset(ctx);
    float *v = malloc((size_t)n * sizeof *v);
    long done;
    double t[51];
    int reps = repeats > 51 ? 51 : repeats;
    cg_capture_replay_n(cap, n, loss, v, &done); /* warm-up: the plan, the program */
    for (int i = 0; i < reps; i++) {
        double t0 = bench_now();
        cg_capture_replay_n(cap, n, loss, v, &done);
        t[i] = bench_now() - t0;
    }
    bench_check(ctx, "cg_capture_replay_n");
    free(v);
    cg_capture_free(cap);
    cg_optimizer_free(opt);
    cg_tensor_free(p);
    return bench_median(t, reps);
}

int main(int argc, char **argv)
{
    const char *device = getenv("CLGRAD_DEVICE"), *json_path = NULL;
    int repeats = 7;
    long epochs = 5000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--device") == 0 && i + 1 < argc)
            device = argv[++i];
        else if (strcmp(argv[i], "--repeats") == 0 && i + 1 < argc)
            repeats = atoi(argv[++i]);
        else if (strcmp(argv[i], "--epochs") == 0 && i + 1 < argc)
            epochs = atol(argv[++i]);
        else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc)
            json_path = argv[++i];
        else {
            fprintf(stderr, "usage: bench_loop [--device SPEC] [--repeats R] [--epochs N] "
                            "[--json FILE]\n");
            return 2;
        }
    }
    if (repeats < 1) repeats = 1;
    if (repeats > 51) repeats = 51;
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
    float x[11];
    for (int i = 0; i < 11; i++) x[i] = lecture_u[i] * 0.1f;
    cg_tensor *X = cg_tensor_from(ctx, x, CG_SHAPE(11));
    cg_tensor *y = cg_tensor_from(ctx, lecture_c, CG_SHAPE(11));
    cg_linreg *m = cg_linreg_create(ctx, X, y);
    float fl, fr, ff, fl500;
    /* Warm-up: every program each path uses, the pool. */
    tape_fit(ctx, X, y, epochs, 0, true, &fl);
    tape_fit(ctx, X, y, 50, 0, false, &fr);
    fused_fit(m, epochs, &ff);
    double tl[51], tl500[51], tr[51], tf[51];
    int rreps = repeats < 3 ? repeats : 3; /* the replays take ~0.5 s a fit */
    for (int i = 0; i < repeats; i++) { /* alternating rounds */
        tl[i] = tape_fit(ctx, X, y, epochs, 0, true, &fl);
        tf[i] = fused_fit(m, epochs, &ff);
        tl500[i] = tape_fit(ctx, X, y, epochs, 500, true, &fl500);
        if (i < rreps) tr[i] = tape_fit(ctx, X, y, epochs, 0, false, &fr);
    }
    if (fl != fr || fl != fl500)
        fprintf(stderr, "bench_loop: the loop's final loss %.9g differs from the replays' %.9g\n",
                (double)fl, (double)fr);
    double loop = bench_median(tl, repeats), fused = bench_median(tf, repeats);
    double replay = bench_median(tr, rreps), loop500 = bench_median(tl500, repeats);
    double alone = loop_alone(ctx, X, y, epochs, repeats);
    char note[160];
    snprintf(note, sizeof note, "baseline: fused trainer (cg_linreg_fit); final loss %.6f vs %.6f",
             (double)fl, (double)ff);
    bench_record(&sink, "lecture fit via tape, loop vs fused", (size_t)epochs, loop * 1e3, "ms",
                 fused * 1e3, note);
    bench_record(&sink, "lecture fit via tape, log every 500", (size_t)epochs, loop500 * 1e3,
                 "ms", fused * 1e3, "baseline: fused trainer; every 500th epoch (a log) ends a launch");
    bench_record(&sink, "lecture fit via tape, loop vs replay", (size_t)epochs, loop * 1e3, "ms",
                 replay * 1e3, "baseline: per-step replay (CLGRAD_LOOP=0)");
    bench_record(&sink, "replay_n alone vs fused trainer", (size_t)epochs, alone * 1e3, "ms",
                 fused * 1e3, "one launch of the captured step's loop, capture made");
    if (sink.json) {
        fprintf(sink.json, "\n]\n");
        fclose(sink.json);
    }
    cg_linreg_free(m);
    cg_tensor_free(X);
    cg_tensor_free(y);
    cg_context_free(ctx);
    return 0;
}
