/*
 * gemm_simd.h — the parts of the prefill product (gemm.h) shared by the SIMD levels,
 * included only by gemm_avx2.c and gemm_avx512.c (compiled with -mavx2 or better):
 * the scratch layouts, the activation tiling, and the unpacking of weight blocks
 * into signed bytes with their per-block integer scales. AVX2 intrinsics only.
 *
 * Unpacked weights: a row tile of WG_R = 8 rows, one K-chunk (WG_KC inputs) at a
 * time, in a stack buffer. Per 256-input K-quant block (KB_* offsets):
 *   q    int8  [8][256]  weight values, offset removed where the type has one
 *                        (Q6_K q-32) or kept unsigned (Q4_K/Q5_K q, mins apart)
 *   sc   int32 [8][16]   sub-block scales of each row (8 used for 32-input sub-blocks)
 *   mn   int32 [8][8]    each row's pairs of int16 mins (sub16 2p | sub16 2p+1 << 16)
 *   corr int32 [8]       128 * sum_j sc_j * sum(q in sub-block j): the activations
 *                        are stored +128, this takes it out exactly
 *   d, dmin float [8]
 * Per 32-input legacy block (LB_*): q int8 [8][32], corr int32 [8], d float [8].
 *
 * Token tiles (L lanes, 16 or 8): per 256-input Q8_K block (XK_*): u8 [64][L][4]
 * (x + 128, four consecutive inputs of each token), dx float [L], bs int32 [8][L]
 * (pairs of the Q8_K 16-input sums); per 32-input Q8_0 block (XL_*): u8 [8][L][4],
 * dx float [L]. Tile tau starts at prep + tau * nblk * block bytes. F16/BF16
 * weights: float [tau][K][L]. Lanes past T are zero.
 */
#ifndef WH_KERNELS_GEMM_SIMD_H
#define WH_KERNELS_GEMM_SIMD_H

#include <immintrin.h>
#include <string.h>

#include "base/fp.h"
#include "kernels/gemm.h"
#include "kernels/quant.h"

#define WG_R 8     /* rows per unpacked tile */
#define WG_KC 2048 /* inputs per K-chunk (8 K-quant blocks, 64 legacy blocks) */
#define WG_RT 16   /* rows per thread-share unit (gemm_kernels.row_tile) */

#define KB_Q 0
#define KB_SC 2048
#define KB_MN 2560
#define KB_CORR 2816
#define KB_D 2848
#define KB_DMIN 2880
#define KB_BYTES 2944

#define LB_Q 0
#define LB_CORR 256
#define LB_D 288
#define LB_BYTES 320

#define XK_BYTES(L) (292 * (L))
#define XK_DX(L) (256 * (L))
#define XK_BS(L) (260 * (L))
#define XL_BYTES(L) (36 * (L))
#define XL_DX(L) (32 * (L))

#define WG_AI static inline __attribute__((always_inline))
/* Register tiles are arrays indexed by loop counters: they stay in registers only
 * when those loops are fully unrolled (gcc -O2 does not on its own). */
#define WG_UNROLL _Pragma("GCC unroll 16")

static inline int32_t wg_ld32(const void *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline void wg_st32(void *p, int32_t v)
{
    memcpy(p, &v, 4);
}

static inline float wg_f16(uint16_t h)
{
    return _cvtsh_ss(h);
}

/* 64-byte aligned start of the token tiles inside the caller's scratch */
static inline uint8_t *wg_prep_base(const wh_gemm_args *a)
{
    uintptr_t p = (uintptr_t)a->prep;
    return (uint8_t *)((p + 63) & ~(uintptr_t)63);
}

static inline int wg_is_kquant(wh_dtype t)
{
    return t == WH_DT_Q4_K || t == WH_DT_Q5_K || t == WH_DT_Q6_K;
}

/* ---------------- activation tiles ---------------- */

/* F16/BF16 weights: tiles of the float inputs, [tau][K][L]. */
static inline void wg_prepare_float(const wh_gemm_args *a, int t0, int t1, int L)
{
    float *prep = (float *)wg_prep_base(a);
    int tau0 = t0 / L, tau1 = (t1 + L - 1) / L;
    for (int tau = tau0; tau < tau1; tau++) {
        float *tile = prep + (int64_t)tau * a->K * L;
        for (int l = 0; l < L; l++) {
            int t = tau * L + l;
            const float *x = a->x + (int64_t)t * a->K;
            for (int64_t k = 0; k < a->K; k++)
                tile[k * L + l] = t < a->T ? x[k] : 0.0f;
        }
    }
}

/* Tiles [t0/L, ceil(t1/L)) of a: quantise each token as the 1x1 path does, then
 * transpose into the tile. */
static inline void wg_prepare(const wh_gemm_args *a, int t0, int t1, int L)
{
    const wh_quant_traits *tr = wh_quant_traits_get(a->type);
    if (tr->vec_dot_type == WH_DT_F32) {
        wg_prepare_float(a, t0, t1, L);
        return;
    }
    const wh_quant_traits *xt = wh_quant_traits_get(tr->vec_dot_type);
    int kq = tr->vec_dot_type == WH_DT_Q8_K;
    int64_t bs = kq ? WH_QK_K : WH_QK, nblk = a->K / bs;
    uint64_t xrb = wh_dtype_row_bytes(tr->vec_dot_type, a->K);
    uint64_t blk_bytes = kq ? XK_BYTES(L) : XL_BYTES(L);
    uint8_t *prep = wg_prep_base(a);
    int tau0 = t0 / L, tau1 = (t1 + L - 1) / L;
    for (int tau = tau0; tau < tau1; tau++) {
        uint8_t *tile = prep + (uint64_t)tau * (uint64_t)nblk * blk_bytes;
        for (int l = 0; l < L; l++) {
            int t = tau * L + l;
            if (t >= a->T) {
                for (int64_t b = 0; b < nblk; b++) {
                    uint8_t *tb = tile + (uint64_t)b * blk_bytes;
                    int steps = (int)(bs / 4);
                    for (int s = 0; s < steps; s++)
                        wg_st32(tb + ((int64_t)s * L + l) * 4, 0);
                    float z = 0.0f;
                    memcpy(tb + (kq ? XK_DX(L) : XL_DX(L)) + 4 * l, &z, 4);
                    if (kq)
                        for (int p = 0; p < 8; p++)
                            wg_st32(tb + XK_BS(L) + (p * L + l) * 4, 0);
                }
                continue;
            }
            uint8_t *row = a->xq + (uint64_t)t * xrb;
            xt->quantize(a->x + (int64_t)t * a->K, row, a->K);
            for (int64_t b = 0; b < nblk; b++) {
                uint8_t *tb = tile + (uint64_t)b * blk_bytes;
                if (kq) {
                    const wh_block_q8_K *y = (const wh_block_q8_K *)row + b;
                    for (int s = 0; s < 64; s++)
                        wg_st32(tb + (s * L + l) * 4, wg_ld32(y->qs + 4 * s) ^ (int32_t)0x80808080);
                    memcpy(tb + XK_DX(L) + 4 * l, &y->d, 4);
                    for (int p = 0; p < 8; p++) {
                        uint32_t v = (uint32_t)(uint16_t)y->bsums[2 * p] |
                                     (uint32_t)(uint16_t)y->bsums[2 * p + 1] << 16;
                        wg_st32(tb + XK_BS(L) + (p * L + l) * 4, (int32_t)v);
                    }
                } else {
                    const wh_block_q8_0 *y = (const wh_block_q8_0 *)row + b;
                    for (int s = 0; s < 8; s++)
                        wg_st32(tb + (s * L + l) * 4, wg_ld32(y->qs + 4 * s) ^ (int32_t)0x80808080);
                    float dx = wg_f16(y->d);
                    memcpy(tb + XL_DX(L) + 4 * l, &dx, 4);
                }
            }
        }
    }
}

/* ---------------- weight unpacking ---------------- */

static inline __m256i wg_loadu(const void *p)
{
    return _mm256_loadu_si256((const __m256i *)p);
}

/* 16 packed nibbles -> 32 bytes: low nibbles of p[0..16), then high nibbles. */
static inline __m256i wg_nibbles16(const uint8_t *p)
{
    __m128i v = _mm_loadu_si128((const __m128i *)p);
    __m128i m4 = _mm_set1_epi8(0x0F);
    __m128i lo = _mm_and_si128(v, m4);
    __m128i hi = _mm_and_si128(_mm_srli_epi16(v, 4), m4);
    return _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
}

/* 32 bits (LE) -> 32 bytes: 0xFF where bit i is set. */
static inline __m256i wg_bits(const uint8_t *p)
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

static inline void wg_put_i32(uint8_t *blk, int off, int idx, int32_t v)
{
    memcpy(blk + off + 4 * idx, &v, 4);
}

static inline void wg_put_f32(uint8_t *blk, int off, int idx, float v)
{
    memcpy(blk + off + 4 * idx, &v, 4);
}

/* Sum of the four 64-bit lanes. */
static inline int64_t wg_hsum64(__m256i v)
{
    __m128i s = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi64(s, _mm_unpackhi_epi64(s, s));
    return (int64_t)_mm_cvtsi128_si64(s);
}

/* Q4_K / Q5_K: unsigned q (8 vectors of 32, one per sub-block), 6-bit scales and
 * mins unpacked as in quant.h's wh_q4k_scale_min, 4 at a time. */
static inline void wg_unpack_q45k(const uint8_t *scales, uint16_t d, uint16_t dmin,
                                  const __m256i *q8, int r, uint8_t *blk)
{
    uint32_t u[3];
    memcpy(u, scales, 12);
    const uint32_t m6 = 0x3f3f3f3f, m4 = 0x0f0f0f0f, m2 = 0x03030303;
    uint32_t s0 = u[0] & m6, s1 = (u[2] & m4) | ((u[0] >> 6) & m2) << 4;
    uint32_t n0 = u[1] & m6, n1 = ((u[2] >> 4) & m4) | ((u[1] >> 6) & m2) << 4;
    __m256i sc = _mm256_cvtepu8_epi32(_mm_set_epi32(0, 0, (int)s1, (int)s0));
    __m256i mn = _mm256_cvtepu8_epi32(_mm_set_epi32(0, 0, (int)n1, (int)n0));
    _mm256_storeu_si256((__m256i *)(blk + KB_SC + r * 64), sc);
    _mm256_storeu_si256((__m256i *)(blk + KB_MN + r * 32),
                        _mm256_or_si256(mn, _mm256_slli_epi32(mn, 16)));
    uint64_t s64 = (uint64_t)s0 | (uint64_t)s1 << 32;
    __m256i acc = _mm256_setzero_si256();
    WG_UNROLL
    for (int j = 0; j < 8; j++) {
        _mm256_storeu_si256((__m256i *)(blk + KB_Q + r * 256 + 32 * j), q8[j]);
        __m256i s = _mm256_sad_epu8(q8[j], _mm256_setzero_si256());
        acc = _mm256_add_epi64(
            acc, _mm256_mul_epu32(s, _mm256_set1_epi32((int)((s64 >> (8 * j)) & 0xFF))));
    }
    wg_put_i32(blk, KB_CORR, r, (int32_t)(128 * wg_hsum64(acc)));
    wg_put_f32(blk, KB_D, r, wg_f16(d));
    wg_put_f32(blk, KB_DMIN, r, wg_f16(dmin));
}

static inline void wg_unpack_q4_K(const void *src, int r, uint8_t *blk)
{
    const wh_block_q4_K *b = src;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256i q8[8];
    WG_UNROLL
    for (int c = 0; c < 4; c++) {
        __m256i v = wg_loadu(b->qs + 32 * c);
        q8[2 * c] = _mm256_and_si256(v, m4);
        q8[2 * c + 1] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
    }
    wg_unpack_q45k(b->scales, b->d, b->dmin, q8, r, blk);
}

static inline void wg_unpack_q5_K(const void *src, int r, uint8_t *blk)
{
    const wh_block_q5_K *b = src;
    const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    __m256i hb = wg_loadu(b->qh);
    __m256i q8[8];
    WG_UNROLL
    for (int c = 0; c < 4; c++) {
        __m256i v = wg_loadu(b->qs + 32 * c);
        __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * c), one), 4);
        __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * c + 1), one), 4);
        q8[2 * c] = _mm256_or_si256(_mm256_and_si256(v, m4), h0);
        q8[2 * c + 1] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4), h1);
    }
    wg_unpack_q45k(b->scales, b->d, b->dmin, q8, r, blk);
}

/* Q6_K: w = q - 32, 16 sub-blocks of 16 with int8 scales. */
static inline void wg_unpack_q6_K(const void *src, int r, uint8_t *blk)
{
    const wh_block_q6_K *b = src;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(3);
    const __m256i off = _mm256_set1_epi8(32);
    __m128i s8 = _mm_loadu_si128((const __m128i *)b->scales);
    __m256i sc_lo = _mm256_cvtepi8_epi32(s8), sc_hi = _mm256_cvtepi8_epi32(_mm_srli_si128(s8, 8));
    _mm256_storeu_si256((__m256i *)(blk + KB_SC + r * 64), sc_lo);
    _mm256_storeu_si256((__m256i *)(blk + KB_SC + r * 64 + 32), sc_hi);
    /* sum of the scales, for the -32 of every q */
    __m256i ssum = _mm256_add_epi32(sc_lo, sc_hi);
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(ssum), _mm256_extracti128_si256(ssum, 1));
    s4 = _mm_add_epi32(s4, _mm_unpackhi_epi64(s4, s4));
    int32_t sum_sc = _mm_cvtsi128_si32(s4) + _mm_extract_epi32(s4, 1);
    __m256i acc = _mm256_setzero_si256();
    WG_UNROLL
    for (int h = 0; h < 2; h++) {
        __m256i l0 = wg_loadu(b->ql + 64 * h), l1 = wg_loadu(b->ql + 64 * h + 32);
        __m256i qh = wg_loadu(b->qh + 32 * h);
        __m256i q[4];
        q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4),
                               _mm256_slli_epi16(_mm256_and_si256(qh, m3), 4));
        q[1] =
            _mm256_or_si256(_mm256_and_si256(l1, m4),
                            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m3), 4));
        q[2] =
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m3), 4));
        q[3] =
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m3), 4));
        WG_UNROLL
        for (int k = 0; k < 4; k++) {
            int g = 8 * h + 2 * k; /* this vector: sub-blocks of 16 g and g+1 */
            _mm256_storeu_si256((__m256i *)(blk + KB_Q + r * 256 + 128 * h + 32 * k),
                                _mm256_sub_epi8(q[k], off));
            __m256i s = _mm256_sad_epu8(q[k], _mm256_setzero_si256());
            __m256i scv = _mm256_setr_epi32(b->scales[g], 0, b->scales[g], 0, b->scales[g + 1], 0,
                                            b->scales[g + 1], 0);
            acc = _mm256_add_epi64(acc, _mm256_mul_epi32(s, scv));
        }
    }
    wg_put_i32(blk, KB_CORR, r, (int32_t)(128 * (wg_hsum64(acc) - 512 * (int64_t)sum_sc)));
    wg_put_f32(blk, KB_D, r, wg_f16(b->d));
}

/* Legacy blocks: signed w in [-128, 127] (Q8_0), [-16, 15] (Q5_0), [-8, 7] (Q4_0). */
static inline void wg_unpack_legacy(__m256i w, uint16_t d, int r, uint8_t *blk)
{
    _mm256_storeu_si256((__m256i *)(blk + LB_Q + r * 32), w);
    __m256i s =
        _mm256_sad_epu8(_mm256_xor_si256(w, _mm256_set1_epi8((char)0x80)), _mm256_setzero_si256());
    wg_put_i32(blk, LB_CORR, r, (int32_t)(128 * (wg_hsum64(s) - 32 * 128)));
    wg_put_f32(blk, LB_D, r, wg_f16(d));
}

static inline void wg_unpack_q8_0(const void *src, int r, uint8_t *blk)
{
    const wh_block_q8_0 *b = src;
    wg_unpack_legacy(wg_loadu(b->qs), b->d, r, blk);
}

static inline void wg_unpack_q5_0(const void *src, int r, uint8_t *blk)
{
    const wh_block_q5_0 *b = src;
    const __m256i b4 = _mm256_set1_epi8(0x10);
    __m256i hb = _mm256_and_si256(wg_bits(b->qh), b4);
    __m256i q = _mm256_sub_epi8(_mm256_or_si256(wg_nibbles16(b->qs), hb), b4);
    wg_unpack_legacy(q, b->d, r, blk);
}

static inline void wg_unpack_q4_0(const void *src, int r, uint8_t *blk)
{
    const wh_block_q4_0 *b = src;
    __m256i q = _mm256_sub_epi8(wg_nibbles16(b->qs), _mm256_set1_epi8(8));
    wg_unpack_legacy(q, b->d, r, blk);
}

typedef void (*wg_unpack_fn)(const void *src, int r, uint8_t *blk);

/* Unpacks rows [o, o + nr) (nr <= 8) x blocks [b0, b0 + nb) into pack; rows past
 * nr are zero. */
WG_AI void wg_unpack_tile(const wh_gemm_args *a, wg_unpack_fn fn, uint64_t wblk, uint64_t pblk,
                          long o, int nr, int64_t b0, int64_t nb, uint8_t *pack)
{
    uint64_t rb = wh_dtype_row_bytes(a->type, a->K);
    if (nr < WG_R)
        memset(pack, 0, (size_t)(pblk * (uint64_t)nb));
    /* the weights stream from memory, 8 rows at a time: fetch the next tile's lines
     * while this one is unpacked and multiplied */
    for (int r = 0; r < WG_R && o + WG_R + r < a->O; r++) {
        const char *next = (const char *)a->w + (uint64_t)(o + WG_R + r) * rb + (uint64_t)b0 * wblk;
        for (uint64_t off = 0; off < (uint64_t)nb * wblk; off += 64)
            _mm_prefetch(next + off, _MM_HINT_T1);
    }
    for (int r = 0; r < nr; r++) {
        const uint8_t *row = a->w + (uint64_t)(o + r) * rb + (uint64_t)b0 * wblk;
        for (int64_t b = 0; b < nb; b++)
            fn(row + (uint64_t)b * wblk, r, pack + (uint64_t)b * pblk);
    }
}

/* ---------------- outputs ---------------- */

/* acc[r][l] (row r, token t0+l) <-> out; first chunk starts at 0, the last adds the bias. */
static inline void wg_load_acc(const wh_gemm_args *a, long o, int nr, int t0, int nt, int L,
                               int first, float *acc)
{
    memset(acc, 0, sizeof(float) * (size_t)(WG_R * L));
    if (first)
        return;
    for (int r = 0; r < nr; r++)
        for (int l = 0; l < nt; l++)
            acc[r * L + l] = a->out[(int64_t)(t0 + l) * a->O + o + r];
}

static inline void wg_store_acc(const wh_gemm_args *a, long o, int nr, int t0, int nt, int L,
                                int last, const float *acc)
{
    for (int r = 0; r < nr; r++) {
        float b = a->bias != NULL ? a->bias[o + r] : 0.0f; /* as the 1x1 path: dot + b */
        for (int l = 0; l < nt; l++) {
            float v = acc[r * L + l];
            a->out[(int64_t)(t0 + l) * a->O + o + r] = last ? v + b : v;
        }
    }
}

#endif
