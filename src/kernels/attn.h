/*
 * attn.h — the two inner loops of attention over a KV cache, with a scalar
 * reference and an AVX2+FMA twin chosen at run time (WHALE_NO_SIMD=1 forces the
 * scalar one):
 *   scores[j] = scale * dot(q, K_j[0..d))   for j < n, K_j = K + j*stride
 *   out[0..d) = sum_j p[j] * V_j             for j < n, V_j = V + j*stride
 */
#ifndef WH_KERNELS_ATTN_H
#define WH_KERNELS_ATTN_H

#include <stdint.h>

void wh_attn_scores(float *scores, const float *q, const float *K, int n, int64_t stride, int d,
                    float scale);
void wh_attn_accum(float *out, const float *p, const float *V, int n, int64_t stride, int d);

/* Scalar twins (tests compare against them). */
void wh_attn_scores_ref(float *scores, const float *q, const float *K, int n, int64_t stride, int d,
                        float scale);
void wh_attn_accum_ref(float *out, const float *p, const float *V, int n, int64_t stride, int d);

/* AVX2 versions (attn_avx2.c); NULL-safe to call only when the CPU has AVX2+FMA. */
void wh_attn_scores_avx2(float *scores, const float *q, const float *K, int n, int64_t stride,
                         int d, float scale);
void wh_attn_accum_avx2(float *out, const float *p, const float *V, int n, int64_t stride, int d);

#endif
