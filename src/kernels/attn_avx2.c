/* attn_avx2.c — AVX2+FMA attention inner loops (built with -mavx2 -mfma; see attn.h). */
#include "kernels/attn.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <string.h>

static inline float hsum(__m256 v)
{
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    __m128 s = _mm_add_ps(lo, hi);
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

void wh_attn_scores_avx2(float *scores, const float *q, const float *K, int n, int64_t stride,
                         int d, float scale)
{
    int d32 = d & ~31, d8 = d & ~7;
    for (int j = 0; j < n; j++) {
        const float *k = K + (int64_t)j * stride;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        int i = 0;
        for (; i < d32; i += 32) {
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(k + i), a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), _mm256_loadu_ps(k + i + 8), a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 16), _mm256_loadu_ps(k + i + 16), a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 24), _mm256_loadu_ps(k + i + 24), a3);
        }
        for (; i < d8; i += 8)
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(k + i), a0);
        float s = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
        for (; i < d; i++)
            s += q[i] * k[i];
        scores[j] = s * scale;
    }
}

void wh_attn_accum_avx2(float *out, const float *p, const float *V, int n, int64_t stride, int d)
{
    int d8 = d & ~7;
    memset(out, 0, (size_t)d * sizeof(float));
    /* columns in blocks of 64 kept in registers while the rows stream by */
    for (int c0 = 0; c0 < d8; c0 += 64) {
        int w = d8 - c0 < 64 ? d8 - c0 : 64;
        __m256 acc[8];
        for (int b = 0; b < 8; b++)
            acc[b] = _mm256_setzero_ps();
        for (int j = 0; j < n; j++) {
            const float *v = V + (int64_t)j * stride + c0;
            __m256 pj = _mm256_set1_ps(p[j]);
            for (int b = 0; b < w / 8; b++)
                acc[b] = _mm256_fmadd_ps(pj, _mm256_loadu_ps(v + 8 * b), acc[b]);
        }
        for (int b = 0; b < w / 8; b++)
            _mm256_storeu_ps(out + c0 + 8 * b, acc[b]);
    }
    for (int j = 0; j < n; j++) {
        const float *v = V + (int64_t)j * stride;
        for (int i = d8; i < d; i++)
            out[i] += p[j] * v[i];
    }
}
#endif
