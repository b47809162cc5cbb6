/*
 * attn.h — the two inner loops of attention over a KV cache, for up to
 * WH_ATTN_HEADS query heads that share one key/value head (grouped-query
 * attention, or MLA's absorbed form where every head shares the latent), with a
 * scalar reference and an AVX2+FMA twin chosen at run time (WHALE_NO_SIMD=1
 * forces the scalar one). For h < nq and j < n, with K_j = K + j*stride and
 * V_j = V + j*stride:
 *   scores[h*lds + j] = scale * dot(q + h*ldq, K_j[0..d))
 *   out[h*ldo + 0..d) = sum_j p[h*ldp + j] * V_j[0..d)
 * One pass over the cached positions serves all nq heads: each key and value row
 * is read from memory once, not once per head.
 */
#ifndef WH_KERNELS_ATTN_H
#define WH_KERNELS_ATTN_H

#include <stdint.h>

/* Query heads one call handles at most. */
#define WH_ATTN_HEADS 4

void wh_attn_scores(float *scores, int64_t lds, const float *q, int64_t ldq, int nq, const float *K,
                    int n, int64_t stride, int d, float scale);
void wh_attn_accum(float *out, int64_t ldo, const float *p, int64_t ldp, int nq, const float *V,
                   int n, int64_t stride, int d);

/* Scalar twins (tests compare against them). */
void wh_attn_scores_ref(float *scores, int64_t lds, const float *q, int64_t ldq, int nq,
                        const float *K, int n, int64_t stride, int d, float scale);
void wh_attn_accum_ref(float *out, int64_t ldo, const float *p, int64_t ldp, int nq, const float *V,
                       int n, int64_t stride, int d);

/* AVX2 versions (attn_avx2.c); call only when the CPU has AVX2+FMA. */
void wh_attn_scores_avx2(float *scores, int64_t lds, const float *q, int64_t ldq, int nq,
                         const float *K, int n, int64_t stride, int d, float scale);
void wh_attn_accum_avx2(float *out, int64_t ldo, const float *p, int64_t ldp, int nq,
                        const float *V, int n, int64_t stride, int d);

#endif
