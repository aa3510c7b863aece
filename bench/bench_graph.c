/* bench_graph: the host's cost per graph node, the budget a compiler that
 * fuses and replays graphs has to beat (medians of repeats, one run).
 *
 *   1. recording a node: a view op (cg_transpose, no kernel), an op
 *      (cg_add_scalar on one element) with and without its backward rule;
 *      realization is deferred, so this is the host's bookkeeping alone;
 *      baseline: realizing one node (its launch, as the device runs it)
 *   2. realizing a chain of N recorded nodes, per node
 *   3. cg_backward over the chain (recording and realizing the gradient
 *      nodes), per node, against the forward's record + realize
 *   4. cg_tape_reset per tensor
 *
 * usage: bench_graph [--device SPEC] [--repeats R] [--nodes N] [--json FILE]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "clgrad.h"

static bench_sink sink;

#define record(...) bench_record(&sink, __VA_ARGS__)

typedef enum chain_kind { CHAIN_VIEW, CHAIN_UNARY } chain_kind;

/* A chain of n ops from x: ns per op to record it (the device runs nothing
 * yet: realization is deferred) and ns per node to realize it. */
static void chain(cg_context *ctx, cg_tensor *x, int n, chain_kind kind, cg_tensor **last,
                  double *record_ns, double *realize_ns)
{
    cg_finish(ctx);
    double t0 = bench_now();
    cg_tensor *y = x;
    for (int i = 0; i < n; i++) y = kind == CHAIN_VIEW ? cg_transpose(y, 0, 1) : cg_add_scalar(y, 1e-3f);
    double t1 = bench_now();
    cg_finish(ctx);
    double t2 = bench_now();
    bench_check(ctx, "chain");
    if (last) *last = y;
    if (record_ns) *record_ns = 1e9 * (t1 - t0) / n;
    if (realize_ns) *realize_ns = 1e9 * (t2 - t1) / n;
}

int main(int argc, char **argv)
{
    const char *device = NULL, *json = NULL;
    int repeats = 15, nodes = 2000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--device") && i + 1 < argc) device = argv[++i];
        else if (!strcmp(argv[i], "--repeats") && i + 1 < argc) repeats = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--nodes") && i + 1 < argc) nodes = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
        else {
            fprintf(stderr,
                    "usage: bench_graph [--device SPEC] [--repeats R] [--nodes N] [--json FILE]\n");
            return 2;
        }
    }
    if (repeats < 1 || repeats > 1000 || nodes < 1 || nodes > 1000000) {
        fprintf(stderr, "bench_graph: repeats 1..1000, nodes 1..1000000\n");
        return 2;
    }
    cg_context *ctx = cg_context_create(device);
    if (!ctx) return 3;
    bench_check(ctx, "context");
    cg_context_set_eager(ctx, false); /* recording and realizing timed apart */
    sink.device = cg_context_device(ctx)->name;
    if (json && !(sink.json = fopen(json, "w"))) {
        perror(json);
        return 3;
    }
    if (sink.json) fprintf(sink.json, "[\n");
    printf("device: %s\n%-40s %10s %12s %-7s %12s %9s\n", sink.device, "figure", "nodes", "median",
           "unit", "baseline", "ratio");

    cg_tensor *sq = cg_tensor_full(ctx, CG_SHAPE(2, 2), 1.0f);
    cg_tensor *one = cg_tensor_full(ctx, CG_SHAPE(1), 1.0f);
    cg_set_requires_grad(sq, true);
    cg_set_requires_grad(one, true);
    chain(ctx, one, nodes, CHAIN_UNARY, NULL, NULL, NULL); /* compile the kernels first */
    cg_tape_reset(ctx);

    enum { VIEW, RECORD, REALIZE, NOGRAD_RECORD, NOGRAD_REALIZE, BACKWARD, RESET, NFIG };
    double *fig[NFIG];
    for (int f = 0; f < NFIG; f++) fig[f] = malloc(sizeof(double) * (size_t)repeats);
    for (int r = 0; r < repeats; r++) {
        chain(ctx, sq, nodes, CHAIN_VIEW, NULL, &fig[VIEW][r], NULL);
        cg_tape_reset(ctx);
        cg_no_grad_begin(ctx);
        chain(ctx, one, nodes, CHAIN_UNARY, NULL, &fig[NOGRAD_RECORD][r], &fig[NOGRAD_REALIZE][r]);
        cg_no_grad_end(ctx);
        cg_tape_reset(ctx);
        cg_tensor *last;
        chain(ctx, one, nodes, CHAIN_UNARY, &last, &fig[RECORD][r], &fig[REALIZE][r]);
        double t0 = bench_now();
        cg_backward(last);
        cg_finish(ctx);
        fig[BACKWARD][r] = 1e9 * (bench_now() - t0) / nodes;
        bench_check(ctx, "backward");
        t0 = bench_now();
        cg_tape_reset(ctx);
        fig[RESET][r] = 1e9 * (bench_now() - t0) / (2.0 * nodes); /* the chain's and the grads' */
        cg_zero_grad_of(one);
    }
    double m[NFIG];
    for (int f = 0; f < NFIG; f++) m[f] = bench_median(fig[f], repeats);
    double launch = m[REALIZE];
    record("record a view node (no kernel)", (size_t)nodes, m[VIEW], "ns/op", launch,
           "baseline: realizing one node (a launch)");
    record("record an op node (differentiable)", (size_t)nodes, m[RECORD], "ns/op", launch,
           "baseline: realizing one node (a launch)");
    record("record an op node (no_grad)", (size_t)nodes, m[NOGRAD_RECORD], "ns/op", launch,
           "baseline: realizing one node (a launch)");
    record("realize a chain, per node", (size_t)nodes, m[REALIZE], "ns/node",
           m[RECORD] + m[REALIZE], "baseline: record + realize");
    record("backward (record + realize), per node", (size_t)nodes, m[BACKWARD], "ns/node",
           m[RECORD] + m[REALIZE], "baseline: forward per op");
    record("tape reset per tensor", (size_t)nodes, m[RESET], "ns", m[RECORD] + m[REALIZE],
           "baseline: forward per op");
    if (sink.json) {
        fprintf(sink.json, "\n]\n");
        fclose(sink.json);
    }
    for (int f = 0; f < NFIG; f++) free(fig[f]);
    cg_tensor_free(sq);
    cg_tensor_free(one);
    cg_context_free(ctx);
    return 0;
}
