/*
 * quant_avx2.c — AVX2+FMA+F16C dot products of quantised weight rows with
 * 8-bit-quantised activations, and the AVX2 activation quantisers (Q8_0,
 * Q8_K). Build flags for this file only: -mavx2 -mfma -mf16c
 * (Makefile: $(BUILD)/src/kernels/%_avx2.o: CFLAGS += -mavx2 -mfma -mf16c).
 * Without them the file compiles to a stub whose table is NULL, so other CPUs
 * and compilers still build whale; quant.c chooses at run time.
 *
 * Spec: the block layouts and formulas of quant.h (ggml's block_q*). Each
 * kernel computes the same per-block integer sums as its scalar twin in
 * quant.c (exact), then combines blocks with FP32 FMAs in a different order;
 * tests/test_quant.c holds them to 1e-5 of the sum of |terms|.
 *
 * Technique: signed x signed int8 products use _mm256_maddubs_epi16 on
 * (|w|, sign(w)*x); unsigned weights (offset quants, K-quant nibbles) go
 * straight into maddubs and their offsets are subtracted with the activation
 * block sums. No int16 lane can saturate: |w| <= 128 and |x| <= 127 (the
 * quantisers never emit -128), so a pair is at most 2*128*127 < 32767.
 */
#include "kernels/quant.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)

#include <immintrin.h>
#include <string.h>

#include "base/fp.h"

static inline float hsum_ps(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float hsum_ps128(__m128 s)
{
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float f16(uint16_t h)
{
    return _cvtsh_ss(h);
}

static inline __m256i loadu256(const void *p)
{
    return _mm256_loadu_si256((const __m256i *)p);
}

static inline __m128i loadu128(const void *p)
{
    return _mm_loadu_si128((const __m128i *)p);
}

/*
 * Weight rows are streamed once per token: software prefetch PF_AHEAD bytes ahead
 * (into the next row when near the end; prefetches never fault) overlaps the
 * memory latency with the arithmetic. Measured on a 64 MiB sweep: Q4_K 6.2 ->
 * 8.5 GB/s on one core, ~5% slower when the rows are already in L1.
 */
#define PF_AHEAD 1024

static inline void prefetch_ahead(const void *p, size_t bytes)
{
    const char *c = (const char *)p + PF_AHEAD;
    for (size_t o = 0; o < bytes; o += 64)
        _mm_prefetch(c + o, _MM_HINT_T0);
}

/* 8 int32: sums of 4 products of unsigned bytes u (<= 128) with signed bytes s. */
static inline __m256i dot_u8(__m256i u, __m256i s)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

/* 8 int32: sums of 4 products of signed bytes a and b. */
static inline __m256i dot_i8(__m256i a, __m256i b)
{
    return dot_u8(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
}

/* 16 nibbles -> 32 bytes: low nibbles of p[0..16) then high nibbles. */
static inline __m256i unpack_nibbles(const uint8_t *p)
{
    __m128i v = loadu128(p);
    __m128i m4 = _mm_set1_epi8(0x0F);
    __m128i lo = _mm_and_si128(v, m4);
    __m128i hi = _mm_and_si128(_mm_srli_epi16(v, 4), m4);
    return _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
}

/* 32 bits (LE) -> 32 bytes: 0xFF where bit i is set. */
static inline __m256i bits_to_bytes(const uint8_t *p)
{
    uint32_t u;
    memcpy(&u, p, 4);
    __m256i v = _mm256_set1_epi32((int)u);
    const __m256i shuf = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2,
                                          2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    v = _mm256_shuffle_epi8(v, shuf);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    return _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
}

/* ---------------- float weights against F32 ---------------- */

static float dot_f32(int64_t n, const void *w, const void *x)
{
    const float *a = w, *b = x;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float s = hsum_ps(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static inline __m256 load_f16x8(const uint16_t *p)
{
    return _mm256_cvtph_ps(loadu128(p));
}

static inline __m256 load_bf16x8(const uint16_t *p)
{
    __m256i v = _mm256_cvtepu16_epi32(loadu128(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

/* Bytes ahead of the weight row that the half-precision dots prefetch: decode streams
 * F16/BF16 rows from DRAM, where the hardware prefetchers alone left the dot about
 * 13% below llama.cpp's (qwen2 F16, 2 threads). */
#define HALF_AHEAD 2048

#define DOT_HALF(name, load, conv)                                                                 \
    static float name(int64_t n, const void *w, const void *x)                                     \
    {                                                                                              \
        const uint16_t *a = w;                                                                     \
        const float *b = x;                                                                        \
        __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;                                \
        int64_t i = 0;                                                                             \
        for (; i + 32 <= n; i += 32) {                                                             \
            _mm_prefetch((const char *)(a + i) + HALF_AHEAD, _MM_HINT_T0);                         \
            s0 = _mm256_fmadd_ps(load(a + i), _mm256_loadu_ps(b + i), s0);                         \
            s1 = _mm256_fmadd_ps(load(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);                 \
            s2 = _mm256_fmadd_ps(load(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);               \
            s3 = _mm256_fmadd_ps(load(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);               \
        }                                                                                          \
        for (; i + 8 <= n; i += 8)                                                                 \
            s0 = _mm256_fmadd_ps(load(a + i), _mm256_loadu_ps(b + i), s0);                         \
        float s = hsum_ps(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));            \
        for (; i < n; i++) {                                                                       \
            uint16_t h;                                                                            \
            memcpy(&h, a + i, 2);                                                                  \
            s += conv(h) * b[i];                                                                   \
        }                                                                                          \
        return s;                                                                                  \
    }

DOT_HALF(dot_f16, load_f16x8, wh_f16_to_f32)
DOT_HALF(dot_bf16, load_bf16x8, wh_bf16_to_f32)

/* ---------------- legacy quants against Q8_0 ---------------- */

static float dot_q8_0(int64_t n, const void *w, const void *x)
{
    const wh_block_q8_0 *a = w;
    const wh_block_q8_0 *b = x;
    int64_t nb = n / WH_QK, i = 0;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    for (; i + 2 <= nb; i += 2) {
        prefetch_ahead(&a[i], 2 * sizeof *a);
        __m256i p0 = dot_i8(loadu256(a[i].qs), loadu256(b[i].qs));
        __m256i p1 = dot_i8(loadu256(a[i + 1].qs), loadu256(b[i + 1].qs));
        __m256 d0 = _mm256_set1_ps(f16(a[i].d) * f16(b[i].d));
        __m256 d1 = _mm256_set1_ps(f16(a[i + 1].d) * f16(b[i + 1].d));
        acc0 = _mm256_fmadd_ps(d0, _mm256_cvtepi32_ps(p0), acc0);
        acc1 = _mm256_fmadd_ps(d1, _mm256_cvtepi32_ps(p1), acc1);
    }
    for (; i < nb; i++) {
        __m256i p = dot_i8(loadu256(a[i].qs), loadu256(b[i].qs));
        __m256 d = _mm256_set1_ps(f16(a[i].d) * f16(b[i].d));
        acc0 = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc0);
    }
    return hsum_ps(_mm256_add_ps(acc0, acc1));
}

/*
 * The legacy kernels below compute one block's contribution off the critical
 * path and add it into one of four accumulators: with a single FMA chain the
 * loop is latency-bound (4 cycles a block) and the full reorder buffer also
 * stops the loads of later blocks from being issued early.
 */
#define LEGACY_DOT(name, wblock, block_fn)                                                         \
    static float name(int64_t n, const void *w, const void *x)                                     \
    {                                                                                              \
        const wblock *a = w;                                                                       \
        const wh_block_q8_0 *b = x;                                                                \
        int64_t nb = n / WH_QK, i = 0;                                                             \
        __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;                  \
        for (; i + 4 <= nb; i += 4) {                                                              \
            prefetch_ahead(&a[i], 4 * sizeof *a);                                                  \
            acc0 = _mm256_add_ps(acc0, block_fn(&a[i], &b[i]));                                    \
            acc1 = _mm256_add_ps(acc1, block_fn(&a[i + 1], &b[i + 1]));                            \
            acc2 = _mm256_add_ps(acc2, block_fn(&a[i + 2], &b[i + 2]));                            \
            acc3 = _mm256_add_ps(acc3, block_fn(&a[i + 3], &b[i + 3]));                            \
        }                                                                                          \
        for (; i < nb; i++)                                                                        \
            acc0 = _mm256_add_ps(acc0, block_fn(&a[i], &b[i]));                                    \
        return hsum_ps(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));       \
    }

static inline __m256 blk_q4_0(const wh_block_q4_0 *a, const wh_block_q8_0 *b)
{
    __m256i q = _mm256_sub_epi8(unpack_nibbles(a->qs), _mm256_set1_epi8(8));
    __m256i p = dot_i8(q, loadu256(b->qs));
    return _mm256_mul_ps(_mm256_set1_ps(f16(a->d) * f16(b->d)), _mm256_cvtepi32_ps(p));
}

/* x = d*q + m: d*dy*sum(q*y) + m*dy*sum(y) */
static inline __m256 blk_q4_1(const wh_block_q4_1 *a, const wh_block_q8_0 *b)
{
    __m256i y = loadu256(b->qs);
    __m256i p = dot_u8(unpack_nibbles(a->qs), y);
    __m256i sy = dot_u8(_mm256_set1_epi8(1), y);
    float dy = f16(b->d);
    __m256 v = _mm256_mul_ps(_mm256_set1_ps(f16(a->d) * dy), _mm256_cvtepi32_ps(p));
    return _mm256_fmadd_ps(_mm256_set1_ps(f16(a->m) * dy), _mm256_cvtepi32_ps(sy), v);
}

static inline __m256 blk_q5_0(const wh_block_q5_0 *a, const wh_block_q8_0 *b)
{
    const __m256i b4 = _mm256_set1_epi8(0x10);
    __m256i hb = _mm256_and_si256(bits_to_bytes(a->qh), b4);
    __m256i q = _mm256_sub_epi8(_mm256_or_si256(unpack_nibbles(a->qs), hb), b4);
    __m256i p = dot_i8(q, loadu256(b->qs));
    return _mm256_mul_ps(_mm256_set1_ps(f16(a->d) * f16(b->d)), _mm256_cvtepi32_ps(p));
}

static inline __m256 blk_q5_1(const wh_block_q5_1 *a, const wh_block_q8_0 *b)
{
    __m256i y = loadu256(b->qs);
    __m256i hb = _mm256_and_si256(bits_to_bytes(a->qh), _mm256_set1_epi8(0x10));
    __m256i p = dot_u8(_mm256_or_si256(unpack_nibbles(a->qs), hb), y);
    __m256i sy = dot_u8(_mm256_set1_epi8(1), y);
    float dy = f16(b->d);
    __m256 v = _mm256_mul_ps(_mm256_set1_ps(f16(a->d) * dy), _mm256_cvtepi32_ps(p));
    return _mm256_fmadd_ps(_mm256_set1_ps(f16(a->m) * dy), _mm256_cvtepi32_ps(sy), v);
}

LEGACY_DOT(dot_q4_0, wh_block_q4_0, blk_q4_0)
LEGACY_DOT(dot_q4_1, wh_block_q4_1, blk_q4_1)
LEGACY_DOT(dot_q5_0, wh_block_q5_0, blk_q5_0)
LEGACY_DOT(dot_q5_1, wh_block_q5_1, blk_q5_1)

/* ---------------- K-quants against Q8_K ---------------- */

/* From 16 int16 scales s (as two 128-bit halves), the vector whose low 8 lanes
 * hold s[2p] and high 8 lanes s[2p+1], for p = 0..7 (one per 32 elements). */
typedef struct pair_scales {
    __m256i lo, hi; /* s[0..7] and s[8..15] broadcast to both 128-bit lanes */
} pair_scales;

static inline pair_scales pair_scales_init(__m256i s16)
{
    pair_scales ps;
    ps.lo = _mm256_permute2x128_si256(s16, s16, 0x00);
    ps.hi = _mm256_permute2x128_si256(s16, s16, 0x11);
    return ps;
}

/* Byte-shuffle masks: int16 lane k of a 128-bit half is bytes 2k, 2k+1. */
#define B2(k) 2 * (k), 2 * (k) + 1
#define B8(k) B2(k), B2(k), B2(k), B2(k)
#define HALF(k) B8(k), B8(k)
/* k_pair[p]: low lanes take int16 2p, high lanes int16 2p+1 (of each half) */
static const _Alignas(32) uint8_t k_pair[4][32] = {
    {HALF(0), HALF(1)}, {HALF(2), HALF(3)}, {HALF(4), HALF(5)}, {HALF(6), HALF(7)}};
/* k_bcast[k]: every lane takes int16 k */
static const _Alignas(32) uint8_t k_bcast[8][32] = {
    {HALF(0), HALF(0)}, {HALF(1), HALF(1)}, {HALF(2), HALF(2)}, {HALF(3), HALF(3)},
    {HALF(4), HALF(4)}, {HALF(5), HALF(5)}, {HALF(6), HALF(6)}, {HALF(7), HALF(7)}};

static inline __m256i pair_scale(const pair_scales *ps, int p)
{
    __m256i sh = _mm256_load_si256((const __m256i *)k_pair[p & 3]);
    return _mm256_shuffle_epi8(p < 4 ? ps->lo : ps->hi, sh);
}

/* The 8 scales and 8 mins of a Q4_K/Q5_K block as 8+8 int16 (scales low lanes). */
static inline void q4k_scales(const uint8_t *s, __m128i *sc, __m128i *mn)
{
    uint32_t u[3];
    memcpy(u, s, 12);
    const uint32_t m6 = 0x3f3f3f3f, m4 = 0x0f0f0f0f, m2 = 0x03030303;
    uint32_t s0 = u[0] & m6;
    uint32_t s1 = (u[2] & m4) | ((u[0] >> 6) & m2) << 4;
    uint32_t n0 = u[1] & m6;
    uint32_t n1 = ((u[2] >> 4) & m4) | ((u[1] >> 6) & m2) << 4;
    *sc = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, (int)s1, (int)s0));
    *mn = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, (int)n1, (int)n0));
}

/* The scale of sub-block k (0..7) in every int16 lane; s256: 8 int16 in both halves. */
static inline __m256i bcast16(__m256i s256, int k)
{
    return _mm256_shuffle_epi8(s256, _mm256_load_si256((const __m256i *)k_bcast[k]));
}

/* The mins term d_x*dmin*sum_j m_j*(bsum[2j]+bsum[2j+1]) as 4 int32 lanes. */
static inline __m128i q4k_mins(__m128i mn, const int16_t *bsums)
{
    __m128i b0 = loadu128(bsums), b1 = loadu128(bsums + 8);
    return _mm_madd_epi16(mn, _mm_hadd_epi16(b0, b1));
}

static float dot_q4_K(int64_t n, const void *w, const void *x)
{
    const wh_block_q4_K *a = w;
    const wh_block_q8_K *b = x;
    int64_t nb = n / WH_QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps();
    __m128 accm = _mm_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const wh_block_q4_K *x4 = &a[i];
        const wh_block_q8_K *y8 = &b[i];
        prefetch_ahead(x4, sizeof *x4);
        float d = y8->d * f16(x4->d);
        float dmin = -y8->d * f16(x4->dmin);
        __m128i sc, mn;
        q4k_scales(x4->scales, &sc, &mn);
        __m256i sc2 = _mm256_broadcastsi128_si256(sc);
        __m128i pm = q4k_mins(mn, y8->bsums);
        accm = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(pm), accm);
        __m256i s01 = _mm256_setzero_si256(), s23 = s01;
        for (int c = 0; c < 4; c += 2) {
            __m256i q0 = loadu256(x4->qs + 32 * c);
            __m256i q1 = loadu256(x4->qs + 32 * c + 32);
            __m256i p0 = _mm256_maddubs_epi16(_mm256_and_si256(q0, m4), loadu256(y8->qs + 64 * c));
            __m256i p1 = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(q0, 4), m4),
                                              loadu256(y8->qs + 64 * c + 32));
            __m256i p2 =
                _mm256_maddubs_epi16(_mm256_and_si256(q1, m4), loadu256(y8->qs + 64 * c + 64));
            __m256i p3 = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(q1, 4), m4),
                                              loadu256(y8->qs + 64 * c + 96));
            p0 = _mm256_madd_epi16(p0, bcast16(sc2, 2 * c));
            p1 = _mm256_madd_epi16(p1, bcast16(sc2, 2 * c + 1));
            p2 = _mm256_madd_epi16(p2, bcast16(sc2, 2 * c + 2));
            p3 = _mm256_madd_epi16(p3, bcast16(sc2, 2 * c + 3));
            s01 = _mm256_add_epi32(s01, _mm256_add_epi32(p0, p1));
            s23 = _mm256_add_epi32(s23, _mm256_add_epi32(p2, p3));
        }
        acc =
            _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(_mm256_add_epi32(s01, s23)), acc);
    }
    return hsum_ps(acc) + hsum_ps128(accm);
}

static float dot_q5_K(int64_t n, const void *w, const void *x)
{
    const wh_block_q5_K *a = w;
    const wh_block_q8_K *b = x;
    int64_t nb = n / WH_QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i one = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    __m128 accm = _mm_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const wh_block_q5_K *x5 = &a[i];
        const wh_block_q8_K *y8 = &b[i];
        prefetch_ahead(x5, sizeof *x5);
        float d = y8->d * f16(x5->d);
        float dmin = -y8->d * f16(x5->dmin);
        __m128i sc, mn;
        q4k_scales(x5->scales, &sc, &mn);
        __m256i sc2 = _mm256_broadcastsi128_si256(sc);
        __m128i pm = q4k_mins(mn, y8->bsums);
        accm = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(pm), accm);
        __m256i hbits = loadu256(x5->qh);
        __m256i sumi = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            __m256i q = loadu256(x5->qs + 32 * c);
            __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(hbits, one), 4);
            hbits = _mm256_srli_epi16(hbits, 1);
            __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(hbits, one), 4);
            hbits = _mm256_srli_epi16(hbits, 1);
            __m256i q0 = _mm256_or_si256(_mm256_and_si256(q, m4), h0);
            __m256i q1 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), h1);
            __m256i p0 = _mm256_maddubs_epi16(q0, loadu256(y8->qs + 64 * c));
            __m256i p1 = _mm256_maddubs_epi16(q1, loadu256(y8->qs + 64 * c + 32));
            p0 = _mm256_madd_epi16(p0, bcast16(sc2, 2 * c));
            p1 = _mm256_madd_epi16(p1, bcast16(sc2, 2 * c + 1));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum_ps(acc) + hsum_ps128(accm);
}

static float dot_q6_K(int64_t n, const void *w, const void *x)
{
    const wh_block_q6_K *a = w;
    const wh_block_q8_K *b = x;
    int64_t nb = n / WH_QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i m03 = _mm256_set1_epi8(0x03), m0c = _mm256_set1_epi8(0x0C);
    const __m256i m30 = _mm256_set1_epi8(0x30), mc0 = _mm256_set1_epi8((char)0xC0);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const wh_block_q6_K *x6 = &a[i];
        const wh_block_q8_K *y8 = &b[i];
        prefetch_ahead(x6, sizeof *x6);
        float d = y8->d * f16(x6->d);
        __m256i s16 = _mm256_cvtepi8_epi16(loadu128(x6->scales));
        /* q is stored +32: subtract 32 * sum_s sc_s * bsum_s at the end */
        __m256i bias = _mm256_madd_epi16(s16, loadu256(y8->bsums));
        pair_scales ps = pair_scales_init(s16);
        __m256i s0 = _mm256_setzero_si256(), s1 = s0;
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = x6->ql + 64 * h;
            const int8_t *y = y8->qs + 128 * h;
            __m256i l0 = loadu256(ql), l1 = loadu256(ql + 32);
            __m256i qh = loadu256(x6->qh + 32 * h);
            __m256i q0 = _mm256_or_si256(_mm256_and_si256(l0, m4),
                                         _mm256_slli_epi16(_mm256_and_si256(qh, m03), 4));
            __m256i q1 = _mm256_or_si256(_mm256_and_si256(l1, m4),
                                         _mm256_slli_epi16(_mm256_and_si256(qh, m0c), 2));
            __m256i q2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                         _mm256_and_si256(qh, m30));
            __m256i q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                         _mm256_srli_epi16(_mm256_and_si256(qh, mc0), 2));
            __m256i p0 = _mm256_maddubs_epi16(q0, loadu256(y));
            __m256i p1 = _mm256_maddubs_epi16(q1, loadu256(y + 32));
            __m256i p2 = _mm256_maddubs_epi16(q2, loadu256(y + 64));
            __m256i p3 = _mm256_maddubs_epi16(q3, loadu256(y + 96));
            p0 = _mm256_madd_epi16(p0, pair_scale(&ps, 4 * h + 0));
            p1 = _mm256_madd_epi16(p1, pair_scale(&ps, 4 * h + 1));
            p2 = _mm256_madd_epi16(p2, pair_scale(&ps, 4 * h + 2));
            p3 = _mm256_madd_epi16(p3, pair_scale(&ps, 4 * h + 3));
            s0 = _mm256_add_epi32(s0, _mm256_add_epi32(p0, p1));
            s1 = _mm256_add_epi32(s1, _mm256_add_epi32(p2, p3));
        }
        __m256i sumi = _mm256_sub_epi32(_mm256_add_epi32(s0, s1), _mm256_slli_epi32(bias, 5));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum_ps(acc);
}

static float dot_q2_K(int64_t n, const void *w, const void *x)
{
    const wh_block_q2_K *a = w;
    const wh_block_q8_K *b = x;
    int64_t nb = n / WH_QK_K;
    const __m128i m4 = _mm_set1_epi8(0x0F);
    const __m256i m3 = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps(), accm = acc;
    for (int64_t i = 0; i < nb; i++) {
        const wh_block_q2_K *x2 = &a[i];
        const wh_block_q8_K *y8 = &b[i];
        prefetch_ahead(x2, sizeof *x2);
        float d = y8->d * f16(x2->d);
        float dmin = -y8->d * f16(x2->dmin);
        __m128i s8 = loadu128(x2->scales);
        __m256i sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(s8, m4));
        __m256i mn16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(s8, 4), m4));
        __m256i pm = _mm256_madd_epi16(mn16, loadu256(y8->bsums));
        accm = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(pm), accm);
        pair_scales ps = pair_scales_init(sc16);
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i q = loadu256(x2->qs + 32 * h);
            const int8_t *y = y8->qs + 128 * h;
            __m256i p0 = _mm256_maddubs_epi16(_mm256_and_si256(q, m3), loadu256(y));
            __m256i p1 = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(q, 2), m3),
                                              loadu256(y + 32));
            __m256i p2 = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(q, 4), m3),
                                              loadu256(y + 64));
            __m256i p3 = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(q, 6), m3),
                                              loadu256(y + 96));
            p0 = _mm256_madd_epi16(p0, pair_scale(&ps, 4 * h + 0));
            p1 = _mm256_madd_epi16(p1, pair_scale(&ps, 4 * h + 1));
            p2 = _mm256_madd_epi16(p2, pair_scale(&ps, 4 * h + 2));
            p3 = _mm256_madd_epi16(p3, pair_scale(&ps, 4 * h + 3));
            sumi = _mm256_add_epi32(
                sumi, _mm256_add_epi32(_mm256_add_epi32(p0, p1), _mm256_add_epi32(p2, p3)));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum_ps(_mm256_add_ps(acc, accm));
}

static float dot_q3_K(int64_t n, const void *w, const void *x)
{
    const wh_block_q3_K *a = w;
    const wh_block_q8_K *b = x;
    int64_t nb = n / WH_QK_K;
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m256i one = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const wh_block_q3_K *x3 = &a[i];
        const wh_block_q8_K *y8 = &b[i];
        prefetch_ahead(x3, sizeof *x3);
        float d = y8->d * f16(x3->d);
        uint32_t u[3];
        memcpy(u, x3->scales, 12);
        const uint32_t k4 = 0x0f0f0f0f, k2 = 0x03030303;
        uint32_t a0 = (u[0] & k4) | ((u[2] >> 0) & k2) << 4;
        uint32_t a1 = (u[1] & k4) | ((u[2] >> 2) & k2) << 4;
        uint32_t a2 = ((u[0] >> 4) & k4) | ((u[2] >> 4) & k2) << 4;
        uint32_t a3 = ((u[1] >> 4) & k4) | ((u[2] >> 6) & k2) << 4;
        __m128i s8 =
            _mm_sub_epi8(_mm_set_epi32((int)a3, (int)a2, (int)a1, (int)a0), _mm_set1_epi8(32));
        __m256i sc16 = _mm256_cvtepi8_epi16(s8);
        /* q is stored +4: subtract 4 * sum_s sc_s * bsum_s at the end */
        __m256i bias = _mm256_madd_epi16(sc16, loadu256(y8->bsums));
        pair_scales ps = pair_scales_init(sc16);
        __m256i hbits = loadu256(x3->hmask);
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i q = loadu256(x3->qs + 32 * h);
            const int8_t *y = y8->qs + 128 * h;
            for (int j = 0; j < 4; j++) {
                __m256i hb = _mm256_slli_epi16(_mm256_and_si256(hbits, one), 2);
                hbits = _mm256_srli_epi16(hbits, 1);
                __m256i qj = _mm256_or_si256(_mm256_and_si256(q, m3), hb);
                q = _mm256_srli_epi16(q, 2);
                __m256i p = _mm256_maddubs_epi16(qj, loadu256(y + 32 * j));
                p = _mm256_madd_epi16(p, pair_scale(&ps, 4 * h + j));
                sumi = _mm256_add_epi32(sumi, p);
            }
        }
        sumi = _mm256_sub_epi32(sumi, _mm256_slli_epi32(bias, 2));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum_ps(acc);
}

/* ---------------- activation quantisers ---------------- */

static inline __m256 abs_ps(__m256 v)
{
    return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
}

static inline float hmax_ps(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

#define RNE (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

/* 32 floats * id, rounded to nearest even, packed to 32 int8 in order. */
static inline __m256i round_pack32(const float *x, __m256 id)
{
    __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x), id), RNE));
    __m256i i1 =
        _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + 8), id), RNE));
    __m256i i2 =
        _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + 16), id), RNE));
    __m256i i3 =
        _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + 24), id), RNE));
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

static inline float absmax32(const float *x)
{
    __m256 m = _mm256_max_ps(abs_ps(_mm256_loadu_ps(x)), abs_ps(_mm256_loadu_ps(x + 8)));
    m = _mm256_max_ps(
        m, _mm256_max_ps(abs_ps(_mm256_loadu_ps(x + 16)), abs_ps(_mm256_loadu_ps(x + 24))));
    return hmax_ps(m);
}

/* Same values as quant.c's quant_q8_0 (max, 127/amax, x*id, round-to-even). */
static void quant_q8_0(const float *src, void *dst, int64_t n)
{
    wh_block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / WH_QK; i++, b++, src += WH_QK) {
        float amax = absmax32(src);
        float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        b->d = wh_f32_to_f16(amax / 127.0f);
        _mm256_storeu_si256((__m256i *)b->qs, round_pack32(src, _mm256_set1_ps(id)));
    }
}

static void quant_q8_K(const float *src, void *dst, int64_t n)
{
    wh_block_q8_K *b = dst;
    const __m256i ones8 = _mm256_set1_epi8(1);
    for (int64_t i = 0; i < n / WH_QK_K; i++, b++, src += WH_QK_K) {
        float amax = 0.0f;
        for (int k = 0; k < 8; k++) {
            float m = absmax32(src + 32 * k);
            amax = m > amax ? m : amax;
        }
        float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        b->d = amax / 127.0f;
        __m256 vid = _mm256_set1_ps(id);
        for (int k = 0; k < 8; k++) {
            __m256i q = round_pack32(src + 32 * k, vid);
            _mm256_storeu_si256((__m256i *)(b->qs + 32 * k), q);
            /* 16 pair sums, then 4 sums of 4 per 128-bit lane -> 2 block sums */
            __m256i s4 = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, q), _mm256_set1_epi16(1));
            __m128i lo = _mm256_castsi256_si128(s4), hi = _mm256_extracti128_si256(s4, 1);
            __m128i s = _mm_hadd_epi32(lo, hi);
            s = _mm_hadd_epi32(s, s);
            b->bsums[2 * k] = (int16_t)_mm_cvtsi128_si32(s);
            b->bsums[2 * k + 1] = (int16_t)_mm_extract_epi32(s, 1);
        }
    }
}

static const wh_quant_simd_table g_avx2 = {
    .vec_dot =
        {
            [WH_DT_F32] = dot_f32,
            [WH_DT_F16] = dot_f16,
            [WH_DT_BF16] = dot_bf16,
            [WH_DT_Q4_0] = dot_q4_0,
            [WH_DT_Q4_1] = dot_q4_1,
            [WH_DT_Q5_0] = dot_q5_0,
            [WH_DT_Q5_1] = dot_q5_1,
            [WH_DT_Q8_0] = dot_q8_0,
            [WH_DT_Q2_K] = dot_q2_K,
            [WH_DT_Q3_K] = dot_q3_K,
            [WH_DT_Q4_K] = dot_q4_K,
            [WH_DT_Q5_K] = dot_q5_K,
            [WH_DT_Q6_K] = dot_q6_K,
        },
    .quantize =
        {
            [WH_DT_Q8_0] = quant_q8_0,
            [WH_DT_Q8_K] = quant_q8_K,
        },
};

const wh_quant_simd_table *wh_quant_avx2_table(void)
{
    return &g_avx2;
}

#else

const wh_quant_simd_table *wh_quant_avx2_table(void)
{
    return NULL; /* built without -mavx2 -mfma -mf16c */
}

#endif
