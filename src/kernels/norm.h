/* norm.h — RMSNorm (Zhang & Sennrich 2019): y = x / sqrt(mean(x^2) + eps) * w. */
#ifndef WH_KERNELS_NORM_H
#define WH_KERNELS_NORM_H

/* out[t][c] for t < T, c < C; out may alias inp. */
void wh_rmsnorm_forward(float *out, const float *inp, const float *weight, int T, int C, float eps);

#endif
