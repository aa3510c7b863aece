#ifndef CG_BENCH_BASELINE_LOOP_H
#define CG_BENCH_BASELINE_LOOP_H

void baseline_epoch(const float *x, const float *y, long n, float w, float b, float *loss,
                    float *gw, float *gb);
void baseline_fit(const float *x, const float *y, long n, long epochs, float lr, float *w,
                  float *b);

void baseline_matmul(const float *A, const float *B, float *C, long M, long N, long K);
double baseline_peak_gflops(double (*clock)(void));
void baseline_adam(float *p, const float *g, float *m, float *v, long n, float b1, float b2,
                   float c1, float c2, float neg_step, float bc2_sqrt, float eps);

#endif
