/* The scalar C baseline for one epoch of the linear model: one pass computing
 * the loss and both gradient sums, as fast as plain C gets on this machine
 * (-O3 -march=native, OpenMP over every core, SIMD reductions). */
#include "baseline_loop.h"

#include <math.h>

#ifdef _OPENMP
#include <omp.h>
#endif

void baseline_epoch(const float *x, const float *y, long n, float w, float b, float *loss,
                    float *gw, float *gb)
{
    float l = 0.0f, sw = 0.0f, sb = 0.0f;
#pragma omp parallel for simd reduction(+ : l, sw, sb) schedule(static)
    for (long i = 0; i < n; i++) {
        float r = w * x[i] + b - y[i];
        l += r * r;
        sw += r * x[i];
        sb += r;
    }
    *loss = l / (float)n;
    *gw = 2.0f * sw / (float)n;
    *gb = 2.0f * sb / (float)n;
}

/* The lecture's whole 5000-epoch fit as a plain loop (no threads: 11 points). */
void baseline_fit(const float *x, const float *y, long n, long epochs, float lr, float *w,
                  float *b)
{
    for (long e = 0; e < epochs; e++) {
        float l = 0.0f, sw = 0.0f, sb = 0.0f;
        for (long i = 0; i < n; i++) {
            float r = *w * x[i] + *b - y[i];
            l += r * r;
            sw += r * x[i];
            sb += r;
        }
        (void)l;
        *w -= lr * 2.0f * sw / (float)n;
        *b -= lr * 2.0f * sb / (float)n;
    }
}

/* The plain triple loop, C[M,N] = A[M,K] @ B[K,N], in the
 * i-k-j order a C programmer writes for row-major data (the inner loop
 * vectorizes), one core. */
void baseline_matmul(const float *A, const float *B, float *C, long M, long N, long K)
{
    for (long i = 0; i < M * N; i++) C[i] = 0.0f;
    for (long i = 0; i < M; i++)
        for (long k = 0; k < K; k++) {
            float a = A[i * K + k];
            for (long j = 0; j < N; j++) C[i * N + j] += a * B[k * N + j];
        }
}

/* A measured peak: independent multiply-add chains on every core, as wide as
 * the compiler vectorizes them. Returns GFLOP/s. */
double baseline_peak_gflops(double (*clock)(void))
{
    enum { CHAINS = 64, ITERS = 2000000 };
    double t0 = clock();
    float total = 0.0f;
#pragma omp parallel reduction(+ : total)
    {
        float acc[CHAINS];
        for (int c = 0; c < CHAINS; c++) acc[c] = (float)c * 1e-3f;
        for (long it = 0; it < ITERS; it++)
#pragma omp simd
            for (int c = 0; c < CHAINS; c++) acc[c] = acc[c] * 0.9999999f + 1e-7f;
        for (int c = 0; c < CHAINS; c++) total += acc[c];
    }
    double dt = clock() - t0;
    int threads = 1;
#ifdef _OPENMP
#pragma omp parallel
#pragma omp single
    threads = omp_get_num_threads();
#endif
    if (total == 12345.0f) return 0; /* keep the work */
    return 2.0 * CHAINS * (double)ITERS * threads / dt / 1e9;
}

/* One Adam step over n elements as a plain C loop (OpenMP + SIMD), the
 * same arithmetic as the rule: reads p, g, m, v; writes p, m, v. */
void baseline_adam(float *p, const float *g, float *m, float *v, long n, float b1, float b2,
                   float c1, float c2, float neg_step, float bc2_sqrt, float eps)
{
#pragma omp parallel for simd schedule(static)
    for (long i = 0; i < n; i++) {
        float mm = m[i] * b1 + c1 * g[i];
        float vv = v[i] * b2 + c2 * g[i] * g[i];
        m[i] = mm;
        v[i] = vv;
        p[i] = p[i] + neg_step * mm / (sqrtf(vv) / bc2_sqrt + eps);
    }
}
