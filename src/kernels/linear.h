/*
 * linear.h — weight rows in any stored dtype, and the matrix products built on
 * them. Weights are read in place; accumulation is FP32. Scalar reference code:
 * the SIMD and threaded twins arrive with the performance work and are tested
 * against these.
 */
#ifndef WH_KERNELS_LINEAR_H
#define WH_KERNELS_LINEAR_H

#include <stdint.h>

#include "formats/tensor.h"

/* dst[0..ne0) = row r of w, dequantised (F8 rows use their 128x128 block scales). */
void wh_dequant_row(const wh_tensor *w, int64_t r, float *dst);

/* Dot product of row r of w with x (ne0 floats). */
float wh_dot_row(const wh_tensor *w, int64_t r, const float *x);

/* out[t][o] = sum_i inp[t][i] * w[o][i] (+ bias[o]), for t < T.
 * w: [O rows][I cols] (ne = {I, O}); inp [T][I]; out [T][O]; scratch >= I floats. */
void wh_linear_forward(float *out, const float *inp, const wh_tensor *w, const float *bias, int T,
                       float *scratch);

/* out[i] = sum_o x[o] * w[o][i]: the transposed product, for one vector.
 * w: [O][I]; x [O]; out [I]; scratch >= I floats. */
void wh_linear_t_forward(float *out, const float *x, const wh_tensor *w, float *scratch);

#endif
