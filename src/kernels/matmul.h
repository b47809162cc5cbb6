/*
 * matmul.h — the threaded matrix product used by the forward pass:
 * out[t][o] = sum_i inp[t][i] * W[o][i] (+ bias[o]) for T tokens, rows of W split
 * across the pool's threads. Each weight row is read once and applied to all T
 * tokens while it is in cache. wh_linear_forward (linear.h) is its scalar twin.
 */
#ifndef WH_KERNELS_MATMUL_H
#define WH_KERNELS_MATMUL_H

#include "base/pool.h"
#include "formats/tensor.h"

/* Scratch the product needs: per-thread dequantised rows and quantised activations. */
typedef struct wh_mm_scratch {
    float *rows; /* [nth][max_cols] */
    int64_t max_cols;
    void *act; /* quantised activations, act_bytes */
    uint64_t act_bytes;
    int exact; /* 1: F32 activations against dequantised rows (the reference numerics) */
} wh_mm_scratch;

/* Bytes of activation buffer needed for T rows of `cols` values (any weight dtype). */
uint64_t wh_mm_act_bytes(int64_t cols, int T);

void wh_matmul(wh_pool *pool, wh_mm_scratch *sc, float *out, const float *inp, const wh_tensor *w,
               const float *bias, int T);

#endif
