/* bench_graph: the host's cost per graph node, the budget a compiler that
 * fuses and replays graphs has to beat (medians of repeats, one run).
 *
 *   1. recording a node alone: a view op (cg_transpose), which records its
 *      node and launches nothing; baseline: an op that also launches its
 *      kernel on a one-element tensor (cg_add_scalar), so the ratio is the
 *      share of an eager op's cost that is bookkeeping
 *   2. an op without recording (cg_no_grad_begin), against the same op with
 *      its node recorded
 *   3. walking N nodes backward (cg_backward over a chain of N ops), per
 *      node, against the forward's cost per op
 *   4. cg_tape_reset per node
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

/* ns per op of a chain of n ops from x; the graph is left for the caller. */
static double chain(cg_context *ctx, cg_tensor *x, int n, chain_kind kind, cg_tensor **last)
{
    cg_finish(ctx);
    double t0 = bench_now();
    cg_tensor *y = x;
    for (int i = 0; i < n; i++) y = kind == CHAIN_VIEW ? cg_transpose(y, 0, 1) : cg_add_scalar(y, 1e-3f);
    cg_finish(ctx);
    double t = bench_now() - t0;
    bench_check(ctx, "chain");
    if (last) *last = y;
    return 1e9 * t / n;
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
    chain(ctx, one, nodes, CHAIN_UNARY, NULL); /* compile the kernels first */
    cg_tape_reset(ctx);

    double *view = malloc(sizeof(double) * (size_t)repeats), *op = malloc(sizeof(double) * (size_t)repeats);
    double *nograd = malloc(sizeof(double) * (size_t)repeats), *back = malloc(sizeof(double) * (size_t)repeats);
    double *reset = malloc(sizeof(double) * (size_t)repeats);
    for (int r = 0; r < repeats; r++) {
        view[r] = chain(ctx, sq, nodes, CHAIN_VIEW, NULL);
        cg_tape_reset(ctx);
        cg_no_grad_begin(ctx);
        nograd[r] = chain(ctx, one, nodes, CHAIN_UNARY, NULL);
        cg_no_grad_end(ctx);
        cg_tape_reset(ctx);
        cg_tensor *last;
        op[r] = chain(ctx, one, nodes, CHAIN_UNARY, &last);
        double t0 = bench_now();
        cg_backward(last);
        cg_finish(ctx);
        back[r] = 1e9 * (bench_now() - t0) / nodes;
        bench_check(ctx, "backward");
        t0 = bench_now();
        cg_tape_reset(ctx);
        reset[r] = 1e9 * (bench_now() - t0) / (2.0 * nodes); /* the chain and the grads' */
        cg_zero_grad_of(one);
    }
    double mv = bench_median(view, repeats), mo = bench_median(op, repeats);
    double mn = bench_median(nograd, repeats), mb = bench_median(back, repeats);
    double mr = bench_median(reset, repeats);
    record("record a node (view op, no launch)", (size_t)nodes, mv, "ns/op", mo,
           "baseline: an op with its launch");
    record("op with a launch, no node (no_grad)", (size_t)nodes, mn, "ns/op", mo,
           "baseline: the same op recorded");
    record("backward per node", (size_t)nodes, mb, "ns/node", mo, "baseline: forward per op");
    record("tape reset per tensor", (size_t)nodes, mr, "ns", mo, "baseline: forward per op");
    if (sink.json) {
        fprintf(sink.json, "\n]\n");
        fclose(sink.json);
    }
    free(view);
    free(op);
    free(nograd);
    free(back);
    free(reset);
    cg_tensor_free(sq);
    cg_tensor_free(one);
    cg_context_free(ctx);
    return 0;
}
