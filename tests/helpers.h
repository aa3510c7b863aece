/* Shared by the test files: contexts, seeded random data, and an oracle for
 * the linear model computed independently of the library, in double. */
#ifndef CG_TEST_HELPERS_H
#define CG_TEST_HELPERS_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clgrad.h"

/* The context under test: CLGRAD_DEVICE's (the suite runs once on PoCL and
 * once with CLGRAD_DEVICE=ref). */
static inline cg_context *test_context(void)
{
    cg_context *ctx = cg_context_create(NULL);
    cr_assert_not_null(ctx);
    cr_assert_eq(cg_status_of(ctx), CG_OK, "context: %s", cg_error_message(ctx));
    return ctx;
}

static inline cg_context *ref_context(void)
{
    cg_context *ctx = cg_context_create("ref");
    cr_assert_not_null(ctx);
    cr_assert_eq(cg_status_of(ctx), CG_OK);
    return ctx;
}

/* A fresh seed per run (printed on failure through the assertion texts). */
static inline uint64_t test_seed(void)
{
    const char *env = getenv("CLGRAD_TEST_SEED");
    if (env) return strtoull(env, NULL, 10);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid();
}

typedef struct test_rng {
    uint64_t s;
} test_rng;

static inline double rng_uniform(test_rng *r) /* [0, 1) */
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return (double)(r->s >> 11) * (1.0 / 9007199254740992.0);
}

static inline float rng_range(test_rng *r, double lo, double hi)
{
    return (float)(lo + (hi - lo) * rng_uniform(r));
}

/* Random linear data: y = X.w_true + b_true + noise. Caller frees. */
static inline void random_linear_data(test_rng *r, size_t n, size_t F, float **X, float **y)
{
    *X = malloc(n * F * sizeof **X);
    *y = malloc(n * sizeof **y);
    cr_assert(*X && *y);
    float w[64];
    for (size_t j = 0; j < F; j++) w[j] = rng_range(r, -2, 2);
    float b = rng_range(r, -1, 1);
    for (size_t i = 0; i < n; i++) {
        double acc = b;
        for (size_t j = 0; j < F; j++) {
            (*X)[i * F + j] = rng_range(r, -3, 3);
            acc += w[j] * (*X)[i * F + j];
        }
        (*y)[i] = (float)(acc + rng_range(r, -0.5, 0.5));
    }
}

/* The oracle: loss and analytic gradient of y = X.w + b in double, plus the
 * scale of each gradient sum (mean |term|) for tolerances. */
typedef struct oracle {
    double loss, grad[65], grad_scale[65], loss_plus[65], loss_minus[65];
} oracle;

static inline double oracle_point_loss(double r, cg_loss_kind loss)
{
    return loss == CG_LOSS_MSE ? r * r : fabs(r);
}

static inline void oracle_eval(const float *X, const float *y, size_t n, size_t F, const float *p,
                               cg_loss_kind loss, double delta, oracle *o)
{
    memset(o, 0, sizeof *o);
    for (size_t i = 0; i < n; i++) {
        double pred = p[F];
        for (size_t j = 0; j < F; j++) pred += (double)p[j] * X[i * F + j];
        double r = pred - y[i];
        o->loss += oracle_point_loss(r, loss);
        double d = loss == CG_LOSS_MSE ? 2.0 * r : (r > 0) - (r < 0);
        for (size_t k = 0; k <= F; k++) {
            double xk = k < F ? X[i * F + k] : 1.0;
            o->grad[k] += d * xk;
            o->grad_scale[k] += fabs(d * xk);
            o->loss_plus[k] += oracle_point_loss(r + delta * xk, loss);
            o->loss_minus[k] += oracle_point_loss(r - delta * xk, loss);
        }
    }
    o->loss /= (double)n;
    for (size_t k = 0; k <= F; k++) {
        o->grad[k] /= (double)n;
        o->grad_scale[k] /= (double)n;
        o->loss_plus[k] /= (double)n;
        o->loss_minus[k] /= (double)n;
    }
}

#define assert_close(actual, expected, atol, rtol, ...)                                     \
    cr_assert(fabs((double)(actual) - (double)(expected)) <=                               \
                  (atol) + (rtol) * fabs((double)(expected)),                              \
              __VA_ARGS__)

/* Fixtures (tests/fixtures, made by gen_fixtures.py): lines of a name
 * followed by numbers. fixture_read takes the next line starting with
 * prefix from the stream f; fixture_values the first one in a file. */
static inline size_t fixture_read(FILE *f, const char *prefix, float *out, size_t cap)
{
    static char line[1 << 16];
    size_t len = strlen(prefix);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, prefix, len) != 0 || line[len] != ' ') continue;
        size_t n = 0;
        char *p = line + len, *end;
        for (;;) {
            double v = strtod(p, &end);
            if (end == p) break;
            cr_assert_lt(n, cap, "more than %zu values after '%s'", cap, prefix);
            out[n++] = (float)v;
            p = end;
        }
        return n;
    }
    cr_assert_fail("no '%s' line in the fixture", prefix);
    return 0;
}

static inline FILE *fixture_open(const char *file)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", getenv("CLGRAD_FIXTURES"), file);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot open %s (CLGRAD_FIXTURES is set by meson)", path);
    return f;
}

static inline size_t fixture_values(const char *file, const char *prefix, float *out, size_t cap)
{
    FILE *f = fixture_open(file);
    size_t n = fixture_read(f, prefix, out, cap);
    fclose(f);
    return n;
}

/* A temporary directory for files a test writes. */
static inline void temp_dir(char *buf, size_t cap)
{
    snprintf(buf, cap, "/tmp/clgrad-test-XXXXXX");
    cr_assert_not_null(mkdtemp(buf));
}

static inline void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

#endif
