/* bench_reduce: every reduction family in both kernel shapes on one
 * context, in the same run: the throughput (bytes the reduction must read
 * over the median time) in the GPU shapes, with the CPU shapes' as the
 * baseline, and their ratio. On PoCL the GPU shapes are expected slower;
 * the figure says by how much. Calls the private entry points so each
 * family is timed alone (no tape, no output allocation).
 *
 * usage: bench_reduce [--device SPEC] [--repeats R] [--scale S] [--json FILE]
 *   --scale multiplies the element counts (default 1: 4 Mi elements; at least 1/16).
 */
#include <string.h>

#include "internal.h"

#include "bench_common.h"

typedef struct family {
    const char *name;
    size_t outer, len, inner; /* the input's [outer, len, inner] */
    int kind;                 /* what runs: see run_once */
} family;

enum { SUM_ALL, SUM_AXIS, SUM_TO, NORM, DOT, ROWS };

typedef struct fixture {
    cg_context *ctx;
    cg_tensor *x, *y, *out;
    cg_tensor *src, *dst; /* the family's [outer, len, inner] and [outer, 1, inner] */
    cg_tensor *emb_w, *emb_g;
    unsigned *idx;
    size_t count;
} fixture;

/* One reduction of family f; the bytes it must read. */
static double run_once(fixture *fx, const family *f)
{
    cg_context *ctx = fx->ctx;
    size_t n = f->outer * f->len * f->inner;
    float v;
    switch (f->kind) {
    case SUM_ALL:
        cg__sum_all_into(ctx, fx->x, fx->out, 0, 1.0f, false);
        return 4.0 * n;
    case SUM_AXIS: /* the op itself: its output comes from the pool, the tape frees it */
        cg_sum_axis(fx->src, 1, false);
        cg_realize(ctx); /* the reset would drop the op unrun */
        cg_tape_reset(ctx);
        return 4.0 * n;
    case SUM_TO:
        cg__sum_to(ctx, fx->src, fx->dst);
        return 4.0 * n;
    case NORM:
        cg__norm2_into(ctx, fx->x, fx->out, 0, "bench");
        return 4.0 * n;
    case DOT:
        cg__vreduce(ctx, fx->x, fx->y, n, 0, &v);
        return 8.0 * n;
    case ROWS: {
        cg_tensor *loss = cg_sum(cg_mul(cg_embedding(fx->emb_w, fx->idx, fx->count), fx->emb_g));
        cg_backward(loss);
        cg_tape_reset(ctx);
        return 4.0 * (double)fx->count * f->inner;
    }
    }
    return 0;
}

/* Median seconds of one reduction of f in the current shape. */
static double time_family(fixture *fx, const family *f, int repeats, double *bytes)
{
    double t[51];
    *bytes = run_once(fx, f); /* warm-up: builds, first enqueue */
    cg_finish(fx->ctx);
    for (int r = 0; r < repeats; r++) {
        double t0 = bench_now();
        run_once(fx, f);
        cg_finish(fx->ctx);
        t[r] = bench_now() - t0;
    }
    bench_check(fx->ctx, f->name);
    return bench_median(t, repeats);
}

int main(int argc, char **argv)
{
    const char *device = getenv("CLGRAD_DEVICE"), *json_path = NULL;
    int repeats = 9;
    double scale = 1.0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--device") && i + 1 < argc) device = argv[++i];
        else if (!strcmp(argv[i], "--repeats") && i + 1 < argc) repeats = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--scale") && i + 1 < argc) scale = atof(argv[++i]);
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) json_path = argv[++i];
        else {
            fprintf(stderr, "usage: bench_reduce [--device SPEC] [--repeats R] [--scale S] "
                            "[--json FILE]\n");
            return 2;
        }
    }
    if (repeats < 1) repeats = 1;
    if (repeats > 51) repeats = 51;
    if (!(scale >= 1.0 / 16)) scale = 1.0 / 16; /* [64, R/64, 1024] needs R >= 64 */
    cg_context *ctx = cg_context_create(device);
    if (!ctx || cg_status_of(ctx) != CG_OK) {
        fprintf(stderr, "bench_reduce: %s\n", ctx ? cg_error_message(ctx) : "no memory");
        return 1;
    }
    if (cg_context_is_ref(ctx)) {
        fprintf(stderr, "bench_reduce: kernel shapes are an OpenCL device's (got ref)\n");
        return 2;
    }
    const size_t N = (size_t)(4194304 * scale) / 4096 * 4096, rows = N / 1024;
    const family families[] = {
        {"sum (all)", 1, N, 1, SUM_ALL},
        {"sum_axis rows [R,1024]->[R]", rows, 1024, 1, SUM_AXIS},
        {"sum_axis cols [R,1024]->[1024]", 1, rows, 1024, SUM_AXIS},
        {"sum_axis few cols [N/3,3]->[3]", 1, N / 3, 3, SUM_AXIS},
        {"sum_to [R,1024]->[1,1024]", 1, rows, 1024, SUM_TO},
        {"sum_to [64,R/64,1024]->[64,1,1024]", 64, rows / 64, 1024, SUM_TO},
        {"clip norm (2-norm)", 1, N, 1, NORM},
        {"lbfgs dot", 1, N, 1, DOT},
        {"embedding rows_sum (whole backward)", 1, 1, 64, ROWS},
    };
    const size_t nf = sizeof families / sizeof *families;

    float *data = malloc(N * sizeof *data);
    for (size_t i = 0; i < N; i++) data[i] = (float)((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
    fixture fx = {ctx, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0};
    fx.x = cg_tensor_from(ctx, data, CG_SHAPE(N));
    fx.y = cg_tensor_from(ctx, data, CG_SHAPE(N));
    fx.out = cg_tensor_zeros(ctx, CG_SHAPE(N / 4));
    /* embedding: 64 columns, N/64 lookups into 1000 rows (repeats ~N/64000) */
    fx.count = N / 64;
    fx.idx = malloc(fx.count * sizeof *fx.idx);
    for (size_t i = 0; i < fx.count; i++) fx.idx[i] = (unsigned)((i * 2654435761u) % 1000);
    fx.emb_w = cg_tensor_zeros(ctx, CG_SHAPE(1000, 64));
    cg_set_requires_grad(fx.emb_w, true);
    fx.emb_g = cg_tensor_from(ctx, data, CG_SHAPE(fx.count, 64));
    bench_check(ctx, "setup");

    FILE *json = json_path ? fopen(json_path, "w") : NULL;
    if (json) fprintf(json, "[\n");
    bench_sink sink = {json, 0, cg_context_device(ctx)->name};
    cl_kernel tiles = cg__kernel(ctx, CG__PROGRAM_REDUCE, NULL, "cg_sum_tiles");
    bench_check(ctx, "cg_sum_tiles");
    printf("device: %s (%zu compute units), %zu elements, median of %d; GPU shapes' "
           "work-groups: %zu items (device max %zu)\n",
           cg_context_device(ctx)->name, (size_t)ctx->info.compute_units, N, repeats,
           cg__group_size(ctx, tiles, 256, 2 * sizeof(float)), ctx->info.max_work_group_size);
    printf("%-40s %10s %12s %-7s %12s %9s\n", "family (GPU shape vs CPU shape)", "elements",
           "GPU shape", "unit", "CPU shape", "ratio");
    for (size_t k = 0; k < nf; k++) {
        const family *f = &families[k];
        double bytes, t[2];
        if (f->kind == SUM_AXIS || f->kind == SUM_TO) {
            fx.src = cg_tensor_from(ctx, data, CG_SHAPE(f->outer, f->len, f->inner));
            fx.dst = cg_tensor_zeros(ctx, CG_SHAPE(f->outer, 1, f->inner));
        }
        for (int s = 0; s < 2; s++) {
            cg_context_set_kernel_shape(ctx, s ? CG_KERNEL_SHAPE_GPU : CG_KERNEL_SHAPE_CPU);
            t[s] = time_family(&fx, f, repeats, &bytes);
        }
        cg_tensor_free(fx.src);
        cg_tensor_free(fx.dst);
        fx.src = fx.dst = NULL;
        size_t elems = (size_t)(bytes / 4);
        bench_record(&sink, f->name, elems, bytes / t[1] / 1e9, "GB/s",
                     bytes / t[0] / 1e9, "baseline: CPU shapes, same run");
    }
    if (json) {
        fprintf(json, "\n]\n");
        fclose(json);
    }
    cg_tensor_free(fx.x);
    cg_tensor_free(fx.y);
    cg_tensor_free(fx.out);
    cg_tensor_free(fx.emb_w);
    cg_tensor_free(fx.emb_g);
    free(fx.idx);
    free(data);
    cg_context_free(ctx);
    return 0;
}
