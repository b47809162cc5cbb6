/* attn_avx2.c — AVX2+FMA attention inner loops (built with -mavx2 -mfma; see attn.h).
 *
 * Scores: one pass over the key rows; each row is loaded once and multiplied with
 * the nq queries (two accumulators per head). Sums: the value columns in blocks of
 * 8*cb floats held in nq*cb registers while the rows stream by (cb = 8/nq, 16
 * accumulators at most), so each cache line of a value row is read once per call.
 * Rows a few positions ahead are prefetched: the cache of a long context is not in
 * any cache level after the weights of a decode step have streamed through. */
#include "kernels/attn.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define AHEAD 24 /* key rows ahead that are prefetched */

static inline float hsum(__m256 v)
{
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    __m128 s = _mm_add_ps(lo, hi);
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Prefetches rows [j, j + rows) of the first d floats at stride (into L1 and L2). */
static inline void prefetch_rows(const float *X, int j, int rows, int n, int64_t stride, int d)
{
    int e = j + rows < n ? j + rows : n;
    for (; j < e; j++)
        for (int i = 0; i < d; i += 16)
            _mm_prefetch((const char *)(X + (int64_t)j * stride + i), _MM_HINT_T0);
}

static inline __attribute__((always_inline)) void scores_nq(float *scores, int64_t lds,
                                                            const float *q, int64_t ldq,
                                                            const int nq, const float *K, int n,
                                                            int64_t stride, int d, float scale)
{
    int d16 = d & ~15, d8 = d & ~7;
    prefetch_rows(K, 0, AHEAD, n, stride, d);
    for (int j = 0; j < n; j++) {
        const float *k = K + (int64_t)j * stride;
        prefetch_rows(K, j + AHEAD, 1, n, stride, d);
        __m256 a0[WH_ATTN_HEADS], a1[WH_ATTN_HEADS];
#pragma GCC unroll 4
        for (int h = 0; h < nq; h++)
            a0[h] = a1[h] = _mm256_setzero_ps();
        int i = 0;
        for (; i < d16; i += 16) {
            __m256 k0 = _mm256_loadu_ps(k + i), k1 = _mm256_loadu_ps(k + i + 8);
#pragma GCC unroll 4
            for (int h = 0; h < nq; h++) {
                a0[h] = _mm256_fmadd_ps(_mm256_loadu_ps(q + h * ldq + i), k0, a0[h]);
                a1[h] = _mm256_fmadd_ps(_mm256_loadu_ps(q + h * ldq + i + 8), k1, a1[h]);
            }
        }
        for (; i < d8; i += 8) {
            __m256 k0 = _mm256_loadu_ps(k + i);
#pragma GCC unroll 4
            for (int h = 0; h < nq; h++)
                a0[h] = _mm256_fmadd_ps(_mm256_loadu_ps(q + h * ldq + i), k0, a0[h]);
        }
#pragma GCC unroll 4
        for (int h = 0; h < nq; h++) {
            float s = hsum(_mm256_add_ps(a0[h], a1[h]));
            for (int r = d8; r < d; r++)
                s += q[h * ldq + r] * k[r];
            scores[h * lds + j] = s * scale;
        }
    }
}

void wh_attn_scores_avx2(float *scores, int64_t lds, const float *q, int64_t ldq, int nq,
                         const float *K, int n, int64_t stride, int d, float scale)
{
    switch (nq) {
    case 1:
        scores_nq(scores, lds, q, ldq, 1, K, n, stride, d, scale);
        break;
    case 2:
        scores_nq(scores, lds, q, ldq, 2, K, n, stride, d, scale);
        break;
    case 3:
        scores_nq(scores, lds, q, ldq, 3, K, n, stride, d, scale);
        break;
    default:
        scores_nq(scores, lds, q, ldq, 4, K, n, stride, d, scale);
        break;
    }
}

/* Adds rows [j0, j1) to columns [c, c + 8*cb) of the nq sums (first: start from 0). */
static inline __attribute__((always_inline)) void
accum_cols(float *out, int64_t ldo, const float *p, int64_t ldp, const int nq, const int cb,
           const float *V, int j0, int j1, int64_t stride, int c, int first)
{
    __m256 acc[WH_ATTN_HEADS][8];
#pragma GCC unroll 4
    for (int h = 0; h < nq; h++)
#pragma GCC unroll 8
        for (int b = 0; b < cb; b++)
            acc[h][b] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(out + h * ldo + c + 8 * b);
    for (int j = j0; j < j1; j++) {
        const float *v = V + (int64_t)j * stride + c;
        __m256 vb[8];
#pragma GCC unroll 8
        for (int b = 0; b < cb; b++)
            vb[b] = _mm256_loadu_ps(v + 8 * b);
#pragma GCC unroll 4
        for (int h = 0; h < nq; h++) {
            __m256 pj = _mm256_broadcast_ss(p + h * ldp + j);
#pragma GCC unroll 8
            for (int b = 0; b < cb; b++)
                acc[h][b] = _mm256_fmadd_ps(pj, vb[b], acc[h][b]);
        }
    }
#pragma GCC unroll 4
    for (int h = 0; h < nq; h++)
#pragma GCC unroll 8
        for (int b = 0; b < cb; b++)
            _mm256_storeu_ps(out + h * ldo + c + 8 * b, acc[h][b]);
}

/* Rows go in blocks of ROWS_BLOCK, held in L1 while every column block passes over
 * them; the next block is prefetched meanwhile. */
#define ROWS_BLOCK 16

static inline __attribute__((always_inline)) void accum_nq(float *out, int64_t ldo, const float *p,
                                                           int64_t ldp, const int nq,
                                                           const float *V, int n, int64_t stride,
                                                           int d)
{
    const int cb = nq == 1 ? 8 : nq == 2 ? 4 : 2;
    int d8 = d & ~7;
    prefetch_rows(V, 0, ROWS_BLOCK, n, stride, d);
    for (int j0 = 0; j0 < n; j0 += ROWS_BLOCK) {
        int j1 = j0 + ROWS_BLOCK < n ? j0 + ROWS_BLOCK : n;
        prefetch_rows(V, j1, ROWS_BLOCK, n, stride, d);
        int c = 0;
        for (; c + 8 * cb <= d; c += 8 * cb)
            accum_cols(out, ldo, p, ldp, nq, cb, V, j0, j1, stride, c, j0 == 0);
        for (; c < d8; c += 8)
            accum_cols(out, ldo, p, ldp, nq, 1, V, j0, j1, stride, c, j0 == 0);
    }
    for (int h = 0; h < nq; h++)
        for (int i = d8; i < d; i++) {
            float s = 0.0f;
            for (int j = 0; j < n; j++)
                s += p[h * ldp + j] * V[(int64_t)j * stride + i];
            out[h * ldo + i] = s;
        }
}

void wh_attn_accum_avx2(float *out, int64_t ldo, const float *p, int64_t ldp, int nq,
                        const float *V, int n, int64_t stride, int d)
{
    switch (nq) {
    case 1:
        accum_nq(out, ldo, p, ldp, 1, V, n, stride, d);
        break;
    case 2:
        accum_nq(out, ldo, p, ldp, 2, V, n, stride, d);
        break;
    case 3:
        accum_nq(out, ldo, p, ldp, 3, V, n, stride, d);
        break;
    default:
        accum_nq(out, ldo, p, ldp, 4, V, n, stride, d);
        break;
    }
}
#endif
