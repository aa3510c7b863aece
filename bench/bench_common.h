/* Shared by the benchmark programs: a clock, medians, and the figures'
 * table row plus JSON record. */
#ifndef CG_BENCH_COMMON_H
#define CG_BENCH_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "clgrad.h"

/* Stops the benchmark on a library error, naming the step. */
static inline void bench_check(cg_context *ctx, const char *what)
{
    if (cg_status_of(ctx) == CG_OK) return;
    fprintf(stderr, "bench: %s: %s\n", what, cg_error_message(ctx));
    exit(1);
}

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of v[0..n) (reorders v). */
static inline double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Where record() writes its JSON array, and the device it names. */
typedef struct bench_sink {
    FILE *json;
    int items;
    const char *device;
} bench_sink;

/* One figure: a table row on stdout and a JSON record, with its baseline
 * from the same run and the ratio. */
static inline void bench_record(bench_sink *s, const char *name, size_t size, double value,
                                const char *unit, double baseline, const char *note)
{
    double ratio = baseline > 0 ? value / baseline : 0;
    printf("%-40s %10zu %12.4g %-7s %12.4g %9.3f  %s\n", name, size, value, unit, baseline, ratio,
           note ? note : "");
    if (!s->json) return;
    fprintf(s->json,
            "%s  {\"name\": \"%s\", \"device\": \"%s\", \"size\": %zu, \"median\": %.6g, "
            "\"unit\": \"%s\", \"baseline_median\": %.6g, \"ratio\": %.4f, \"note\": \"%s\"}",
            s->items++ ? ",\n" : "", name, s->device, size, value, unit, baseline, ratio,
            note ? note : "");
}

#endif
