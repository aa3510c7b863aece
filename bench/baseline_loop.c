/* The scalar C baseline for one epoch of the linear model: one pass computing
 * the loss and both gradient sums, as fast as plain C gets on this machine
 * (-O3 -march=native, OpenMP over every core, SIMD reductions). */
#include "baseline_loop.h"

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
