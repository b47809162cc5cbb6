/*
 * quant_avx512.c — AVX-512 (F, BW, VL, DQ, VNNI) dot products of quantised weight
 * rows with 8-bit-quantised activations, for the types where they beat the AVX2
 * kernels of quant_avx2.c (bench/dot_bench.c measures both): Q8_0 against Q8_0, and
 * Q4_K and Q6_K against Q8_K (the K-quant section below). Build flags for this file
 * only (Makefile: $(BUILD)/src/kernels/%_avx512.o: CFLAGS += -mavx512f -mavx512bw
 * -mavx512vl -mavx512dq -mavx512vnni -mfma -mf16c); without them it compiles to a
 * stub whose table is NULL. quant.c chooses at run time: an entry
 * here replaces the AVX2 one when the CPU has all of these extensions and
 * WHALE_NO_AVX512 is unset.
 *
 * Spec (Q8_0): the Q8_0 block of quant.h (ggml's block_q8_0: f16 d, 32 x int8). Each
 * int32 partial sum is exact; blocks are scaled by d_w * d_x (the same FP32
 * product as the scalar twin) and summed in FP32 in a different order, which
 * tests/test_quant.c holds to 1e-5 of the sum of |terms|.
 *
 * Technique. A row of Q8_0 blocks is read as a plain byte stream, 64 bytes (one
 * zmm) at a time, without regard to block boundaries: 32 blocks (1088 bytes) are
 * exactly 17 such chunks, so the layout of chunk q (0..16) within its group of 32
 * blocks repeats in every group. Because 34 = 2 mod 4, every int32 lane of a chunk
 * lies inside one block's 32 quants, or holds a scale field (2 bytes) at its start
 * or its end plus 2 quants of a single block; the lane at group byte o = 64q + 4l
 * belongs to block o / 34 (k_lane_block). vpdpbusd then gives per-lane sums of 4
 * products: the weights enter unsigned as w + 128 (w ^ 0x80) and 128 * sum(x) is
 * taken out with a second vpdpbusd, exactly, for any bytes; the activation bytes
 * of the scale fields are zeroed by a masked load (k_keep), so the scale bytes
 * contribute nothing. Each lane is then multiplied by its block's scale, fetched
 * with vpermt2ps from the 32 scales of the group, which come from two gathers of
 * the f16 fields per operand, vpmovdw and vcvtph2ps. A partial last group uses
 * masked gathers and a masked load for its partial last chunk (no read past the
 * row). Per 32 blocks: 34 vector loads, 4 gathers, 7 ALU operations per chunk and
 * 18 for the scales, against about 12 ALU operations per block for the AVX2 kernel.
 *
 * What it buys (one thread, a 2-vCPU Sapphire Rapids guest shared with other
 * work; bench/dot_bench.c, medians of interleaved runs, AVX2 time / AVX-512 time):
 * with the 1536- and 8960-input rows of a 1.5B model read from DRAM (dot_bench -c
 * 24, as in decode) 1.07-1.23; held in L3 (dot_bench) 0.93-1.16 for 1536 inputs and
 * 0.98-1.11 for 8960 (no clear gain); in L1/L2 about 1.1-1.25. From L3 or DRAM
 * both kernels come close to the plain read bandwidth. The scales are the costly
 * part: their f16 fields are 34 bytes apart, and gathers were the cheapest way
 * found to collect them (tried: vpermw from the loaded chunks, scalar stores
 * reloaded as a vector).
 */
#include "kernels/quant.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) &&                      \
    defined(__AVX512DQ__) && defined(__AVX512VNNI__) && defined(__FMA__) && defined(__F16C__)

#include <immintrin.h>
#include <string.h>

/* Q8_0: software prefetch of the weight row PF_AHEAD bytes ahead (prefetches never fault),
 * 3 lines per 3 chunks; of 1, 2, 4 and 8 KiB, 2 KiB measured best or as good in L3 and
 * in DRAM (within the noise of a shared machine). */
#define PF_AHEAD 2048

/* ---------------- Q8_0 against Q8_0 ---------------- */

#define Q8_BLK 34                /* bytes of a block */
#define GRP_BLOCKS 32            /* blocks of a group */
#define GRP_CHUNKS 17            /* 64-byte chunks of a group: 32 * 34 = 17 * 64 */
#define HALF_BYTES (16 * Q8_BLK) /* bytes of 16 blocks */

/* Block (within the group) of int32 lane l of chunk q. */
#define LB(q, l) ((64 * (q) + 4 * (l)) / Q8_BLK)
#define LANES(q)                                                                                   \
    {                                                                                              \
        LB(q, 0), LB(q, 1), LB(q, 2), LB(q, 3), LB(q, 4), LB(q, 5), LB(q, 6), LB(q, 7), LB(q, 8),  \
            LB(q, 9), LB(q, 10), LB(q, 11), LB(q, 12), LB(q, 13), LB(q, 14), LB(q, 15)             \
    }
static const _Alignas(64) int32_t k_lane_block[GRP_CHUNKS][16] = {
    LANES(0), LANES(1),  LANES(2),  LANES(3),  LANES(4),  LANES(5),  LANES(6),  LANES(7), LANES(8),
    LANES(9), LANES(10), LANES(11), LANES(12), LANES(13), LANES(14), LANES(15), LANES(16)};

/* Bytes of chunk q that are not scale fields. Its first scale field starts at byte
 * J0 (< 34: the first block starting in the chunk); a second one at J0 + 34 when
 * that is inside the chunk. Fields never straddle chunks (34 and 64 are even). */
#define J0(q) (Q8_BLK * ((64 * (q) + Q8_BLK - 1) / Q8_BLK) - 64 * (q))
#define KEEP(q)                                                                                    \
    (~(3ull << J0(q)) & (J0(q) + Q8_BLK < 64 ? ~(3ull << ((J0(q) + Q8_BLK) & 63)) : ~0ull))
static const uint64_t k_keep[GRP_CHUNKS] = {
    KEEP(0), KEEP(1),  KEEP(2),  KEEP(3),  KEEP(4),  KEEP(5),  KEEP(6),  KEEP(7), KEEP(8),
    KEEP(9), KEEP(10), KEEP(11), KEEP(12), KEEP(13), KEEP(14), KEEP(15), KEEP(16)};

/* d_w * d_x of 16 consecutive blocks (lanes not in m: 0). */
static inline __m512 scales16(const uint8_t *w, const uint8_t *x, __mmask16 m)
{
    const __m512i off = _mm512_setr_epi32(0, 34, 68, 102, 136, 170, 204, 238, 272, 306, 340, 374,
                                          408, 442, 476, 510);
    __m512i dw = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, off, w, 1);
    __m512i dx = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, off, x, 1);
    return _mm512_mul_ps(_mm512_cvtph_ps(_mm512_cvtepi32_epi16(dw)),
                         _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dx)));
}

/* acc + (per-lane block scale) * (per-lane sum of 4 products w*x) for chunk q;
 * x has its scale-field bytes zeroed. */
static inline __m512 chunk(__m512i w, __m512i x, int q, __m512 s_lo, __m512 s_hi, __m512 acc)
{
    const __m512i k80 = _mm512_set1_epi8((char)0x80);
    __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_xor_si512(w, k80), x);
    __m512i c = _mm512_dpbusd_epi32(_mm512_setzero_si512(), k80, x);
    __m512 s = _mm512_permutex2var_ps(s_lo, _mm512_load_si512(k_lane_block[q]), s_hi);
    return _mm512_fmadd_ps(s, _mm512_cvtepi32_ps(_mm512_sub_epi32(p, c)), acc);
}

/* A whole chunk q at group bytes pa, pb. */
#define CHUNK(q, acc)                                                                              \
    acc = chunk(_mm512_loadu_si512(pa + 64 * (q)),                                                 \
                _mm512_maskz_loadu_epi8(k_keep[q], pb + 64 * (q)), q, s_lo, s_hi, acc)

static inline void prefetch_ahead(const uint8_t *p, int lines)
{
    for (int i = 0; i < lines; i++)
        _mm_prefetch((const char *)p + PF_AHEAD + 64 * i, _MM_HINT_T0);
}

static float dot_q8_0(int64_t n, const void *w, const void *x)
{
    const uint8_t *a = w, *b = x;
    int64_t nb = n / WH_QK, g = 0;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0, acc2 = acc0;
    for (; g + GRP_BLOCKS <= nb; g += GRP_BLOCKS) {
        const uint8_t *pa = a + g * Q8_BLK, *pb = b + g * Q8_BLK;
        __m512 s_lo = scales16(pa, pb, 0xFFFF);
        __m512 s_hi = scales16(pa + HALF_BYTES, pb + HALF_BYTES, 0xFFFF);
        for (int q = 0; q < 15; q += 3) {
            prefetch_ahead(pa + 64 * q, 3);
            CHUNK(q, acc0);
            CHUNK(q + 1, acc1);
            CHUNK(q + 2, acc2);
        }
        prefetch_ahead(pa + 64 * 15, 2);
        CHUNK(15, acc0);
        CHUNK(16, acc1);
    }
    if (g < nb) {
        /* 1..31 blocks: their whole chunks, then a masked partial one */
        const uint8_t *pa = a + g * Q8_BLK, *pb = b + g * Q8_BLK;
        int rem = (int)(nb - g), bytes = rem * Q8_BLK, q = 0;
        __m512 s_lo = scales16(pa, pb, rem >= 16 ? 0xFFFF : (__mmask16)((1u << rem) - 1));
        __m512 s_hi = rem > 16 ? scales16(pa + HALF_BYTES, pb + HALF_BYTES,
                                          (__mmask16)((1u << (rem - 16)) - 1))
                               : _mm512_setzero_ps();
        for (; 64 * q + 128 <= bytes; q += 2) {
            prefetch_ahead(pa + 64 * q, 2);
            CHUNK(q, acc0);
            CHUNK(q + 1, acc1);
        }
        if (64 * q + 64 <= bytes) {
            CHUNK(q, acc2);
            q++;
        }
        if (64 * q < bytes) {
            __mmask64 m = ((__mmask64)1 << (bytes - 64 * q)) - 1;
            acc2 = chunk(_mm512_maskz_loadu_epi8(m, pa + 64 * q),
                         _mm512_maskz_loadu_epi8(m & k_keep[q], pb + 64 * q), q, s_lo, s_hi, acc2);
        }
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc0, acc1), acc2));
}

/* ---------------- K-quants (Q4_K, Q6_K) against Q8_K ----------------
 *
 * Spec: the Q4_K, Q6_K and Q8_K blocks of quant.h (ggml's block_q4_K, block_q6_K,
 * block_q8_K: 256 elements). Q4_K: y = d*sc_j*q - dmin*m_j with q in 0..15 and 6-bit sc_j,
 * m_j per sub-block of 32 (wh_q4k_scale_min); Q6_K: y = d*sc_s*(q - 32) with q in 0..63 and
 * int8 sc_s per sub-block of 16. The per-block integer sums are exact and equal the scalar
 * twins' (isum, msum); blocks are combined in FP32 in another order (1e-5 of sum |terms|).
 *
 * Technique. The weights are unpacked to one byte each, in element order, 64 to a zmm, and
 * multiplied with the 64 activation bytes of the same elements by one vpdpbusd (weights the
 * unsigned operand: Q4_K nibbles 0..15 and Q6_K q 0..63 as stored, no sign trick), giving 16
 * int32 sums of 4 products. Q4_K: 32 bytes of qs are broadcast to both halves and shifted
 * by 0 / 4 per half (vpsrlvw) and masked: low nibbles (sub-block 2j) then high (2j+1).
 * Q6_K: 64 bytes of ql give the low nibbles of elements 0-63 and the high nibbles of 64-127
 * of a half-block; the 32 bytes of qh, broadcast and masked to the fields of those elements,
 * are moved to bits 4-5 by word shifts (0x33 / 0xCC masks: the bits that cross into the next
 * byte land in its bits 0-3) and merged with the nibbles by one vpternlogd. The sub-block
 * scales: a sum of 4 products is at most 4*63*128 = 32256 in magnitude, so vpackssdw packs
 * two such vectors into int16 without saturating and vpdpwssd multiplies them by their
 * sub-block scales (broadcast per lane by vpshufb / vpermw from fixed tables) and adds them
 * up in int32: the block's isum in 16 lanes, converted and multiplied by d_x*d with one FMA.
 * Q4_K's mins term sum_j m_j*(bsum_2j + bsum_2j+1) is one vpmaddwd of the Q8_K bsums with
 * the mins, Q6_K's - 32 is 32 * sum_s sc_s*bsum_s, likewise. The f16 d (and dmin) of 16
 * blocks at a time are gathered, converted and multiplied by the gathered Q8_K d up front,
 * so that the loop broadcasts them from memory. Per block about 26 vector uops for Q4_K
 * and 27 for Q6_K (counted in gcc's code), against about 45 and 70 for the AVX2 kernels; on this
 * machine 512-bit uops have ports 0 and 5 only. Prefetch: KPF_BLOCKS blocks ahead into L2 (T1);
 * with the weights in DRAM 40 blocks (5.8 KB / 8.4 KB) measured better than Q8_0's 2 KB into L1.
 *
 * What it buys (one thread, the 2-vCPU Sapphire Rapids guest shared with other work, gcc
 * 12 -O2; `make BUILD=... bench/dot_bench`, then `dot_bench -c 24 Q4_K Q6_K` and
 * `dot_bench Q4_K Q6_K`, 5 runs of each interleaved, medians of the per-run medians,
 * ns/row AVX2 -> AVX-512 (AVX2 time / AVX-512 time, range over the runs)):
 *   from DRAM (-c 24, as in decode):
 *     Q4_K 8960x1536 112.2 -> 91.6 (1.23, 1.18-1.26)  1536x8960 667 -> 520 (1.28, 1.26-1.34)
 *     Q6_K 8960x1536 160.4 -> 130.5 (1.24, 1.22-1.27) 1536x8960 950 -> 753 (1.26, 1.23-1.28)
 *   in L3 (the matrix read again at once):
 *     Q4_K 8960x1536 49.7 -> 44.4 (1.12, 1.11-1.13)   1536x8960 279 -> 232 (1.20, 1.19-1.22)
 *     Q6_K 8960x1536 59.6 -> 56.2 (1.05, 1.03-1.09)   1536x8960 342 -> 318 (1.07, 1.05-1.11)
 *   in L1 (an ad-hoc loop over one 4096-input row, per block): Q4_K 7.2 -> 5.2 ns (1.4),
 *     Q6_K 8.3 -> 5.9 ns (1.4).
 * About half of the DRAM gain is the prefetch (T1, 40 blocks ahead), which the AVX2
 * kernels (1 KB ahead, T0) could share: with T0 2 KB ahead these kernels gained only
 * 1.03-1.15 from DRAM; T0 16 or 40 blocks ahead measured 5-15% slower than T1 there, though
 * up to 5% faster in L3; a second T0 stream 8 blocks ahead was 30% slower everywhere. Tried
 * and dropped: unpacking the Q4_K scales of each 16 blocks into memory first (10-20%
 * slower: that scalar work no longer overlaps the vector work).
 */

#define KGRP 16       /* blocks whose float scales are computed together */
#define KPF_BLOCKS 40 /* prefetch distance of the K-quant kernels, in blocks */

/* 64 int32 lanes -> 32 int16 per pair of vectors: sums of 4 products fit int16. */
static inline __m512i pack2(__m512i a, __m512i b)
{
    return _mm512_packs_epi32(a, b);
}

/* The f16 at bit `shift` of the dwords at p + i * stride (i in m), as f32 (others 0). */
static inline __m512 gather_f16(const void *p, int stride, int shift, __mmask16 m)
{
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m512i off = _mm512_mullo_epi32(iota, _mm512_set1_epi32(stride));
    __m512i v = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, off, p, 1);
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(v, shift)));
}

/* The activation scales d of the Q8_K blocks y[i], i in m (others 0). */
static inline __m512 gather_q8k_d(const wh_block_q8_K *y, __mmask16 m)
{
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m512i off = _mm512_mullo_epi32(iota, _mm512_set1_epi32((int)sizeof *y));
    return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, off, &y->d, 1);
}

/* Mask of the blocks of a group when `left` blocks of the row remain. */
static inline __mmask16 group_mask(int64_t left)
{
    return left >= KGRP ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
}

static inline void prefetch_blocks(const void *p, size_t block_bytes, int lines)
{
    const char *c = (const char *)p + KPF_BLOCKS * block_bytes;
    for (int l = 0; l < lines; l++)
        _mm_prefetch(c + 64 * l, _MM_HINT_T1);
}

/* Q4_K. Weight bytes qs[32c + l] hold element 64c + l (low nibble) and 64c + 32 + l (high). */

/* word w of 128-bit lane k of packs(V_{2p}, V_{2p+1}) belongs to sub-block
 * 4p + (w < 4 ? 0 : 2) + k / 2 (V_j: elements 64j..64j+63 = sub-blocks 2j (lanes 0-7), 2j+1) */
#define Q4W(sb) (sb), (char)0x80
#define Q4LANE(a, b) Q4W(a), Q4W(a), Q4W(a), Q4W(a), Q4W(b), Q4W(b), Q4W(b), Q4W(b)
static const _Alignas(64) char k_q4_sc[2][64] = {
    {Q4LANE(0, 2), Q4LANE(0, 2), Q4LANE(1, 3), Q4LANE(1, 3)},
    {Q4LANE(4, 6), Q4LANE(4, 6), Q4LANE(5, 7), Q4LANE(5, 7)}};
/* word w of 128-bit lane L of the 16 bsums (ymm): the min of sub-block 4L + w / 2 */
#define Q4M(L)                                                                                     \
    Q4W(4 * L), Q4W(4 * L), Q4W(4 * L + 1), Q4W(4 * L + 1), Q4W(4 * L + 2), Q4W(4 * L + 2),        \
        Q4W(4 * L + 3), Q4W(4 * L + 3)
static const _Alignas(32) char k_q4_mn[32] = {Q4M(0), Q4M(1)};

/* Sums of 4 products of elements 64j..64j+63 (q: the 32 bytes qs + 32j, y: qs + 64j of the
 * Q8_K block): int32 lanes 0-7 sub-block 2j (low nibbles), 8-15 sub-block 2j+1 (high). */
static inline __m512i q4_sums(const uint8_t *q, const int8_t *y, __m512i sh, __m512i m4)
{
    __m512i w = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)q));
    w = _mm512_and_si512(_mm512_srlv_epi16(w, sh), m4);
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), w, _mm512_loadu_si512(y));
}

/* The 6-bit scales (sc) and mins (mn) of a Q4_K block, byte j for sub-block j (quant.h's
 * wh_q4k_scale_min for all 8 at once). */
static inline void q4k_unpack(const uint8_t *s, uint64_t *sc, uint64_t *mn)
{
    uint32_t u0, u1, u2;
    memcpy(&u0, s, 4);
    memcpy(&u1, s + 4, 4);
    memcpy(&u2, s + 8, 4);
    const uint32_t m6 = 0x3f3f3f3f, m4 = 0x0f0f0f0f, m2 = 0x03030303;
    *sc = (u0 & m6) | (uint64_t)((u2 & m4) | ((u0 >> 6) & m2) << 4) << 32;
    *mn = (u1 & m6) | (uint64_t)(((u2 >> 4) & m4) | ((u1 >> 6) & m2) << 4) << 32;
}

static float dot_q4_K(int64_t n, const void *w, const void *x)
{
    const wh_block_q4_K *a = w;
    const wh_block_q8_K *b = x;
    int64_t nb = n / WH_QK_K;
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    /* shift counts: low nibbles in the low 256 bits, high nibbles in the high 256 */
    const __m512i sh = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(4), 1);
    const __m512i isc0 = _mm512_load_si512(k_q4_sc[0]), isc1 = _mm512_load_si512(k_q4_sc[1]);
    const __m256i imn = _mm256_load_si256((const __m256i *)k_q4_mn);
    __m512 acc = _mm512_setzero_ps();
    __m256 accm = _mm256_setzero_ps();
    for (int64_t g = 0; g < nb; g += KGRP) {
        /* d_x * d and d_x * dmin of up to 16 blocks */
        _Alignas(64) float dd[KGRP], dm[KGRP];
        __mmask16 gm = group_mask(nb - g);
        __m512 yd = gather_q8k_d(b + g, gm);
        _mm512_store_ps(dd, _mm512_mul_ps(yd, gather_f16(a + g, sizeof *a, 0, gm)));
        _mm512_store_ps(dm, _mm512_mul_ps(yd, gather_f16(a + g, sizeof *a, 16, gm)));
        int cnt = nb - g < KGRP ? (int)(nb - g) : KGRP;
        for (int k = 0; k < cnt; k++) {
            const wh_block_q4_K *x4 = &a[g + k];
            const wh_block_q8_K *y8 = &b[g + k];
            prefetch_blocks(x4, sizeof *x4, 3);
            uint64_t sc, mn; /* in general-purpose registers: ports vector code leaves free */
            q4k_unpack(x4->scales, &sc, &mn);
            __m512i v0 = q4_sums(x4->qs, y8->qs, sh, m4);
            __m512i v1 = q4_sums(x4->qs + 32, y8->qs + 64, sh, m4);
            __m512i v2 = q4_sums(x4->qs + 64, y8->qs + 128, sh, m4);
            __m512i v3 = q4_sums(x4->qs + 96, y8->qs + 192, sh, m4);
            __m512i scb = _mm512_set1_epi64((long long)sc);
            __m512i isum = _mm512_dpwssd_epi32(_mm512_setzero_si512(), pack2(v0, v1),
                                               _mm512_shuffle_epi8(scb, isc0));
            isum = _mm512_dpwssd_epi32(isum, pack2(v2, v3), _mm512_shuffle_epi8(scb, isc1));
            __m256i pm =
                _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y8->bsums),
                                  _mm256_shuffle_epi8(_mm256_set1_epi64x((long long)mn), imn));
            acc = _mm512_fmadd_ps(_mm512_set1_ps(dd[k]), _mm512_cvtepi32_ps(isum), acc);
            accm = _mm256_fmadd_ps(_mm256_set1_ps(dm[k]), _mm256_cvtepi32_ps(pm), accm);
        }
    }
    return _mm512_reduce_add_ps(acc) - _mm512_reduce_add_ps(_mm512_zextps256_ps512(accm));
}

/* Q6_K. Element 128h + 32k + l: low 4 bits in ql[64h + 32(k & 1) + l] (low nibble for
 * k < 2), high 2 bits in bits 2k, 2k+1 of qh[32h + l]; value q - 32. */

/* word w of 128-bit lane k of packs(V_{2p}, V_{2p+1}) belongs to sub-block
 * 8p + (w < 4 ? 0 : 4) + k (V_j: elements 64j..64j+63 = sub-blocks 4j..4j+3, one per lane) */
#define Q6LANE(a, b) a, a, a, a, b, b, b, b
static const _Alignas(64) int16_t k_q6_sc[2][32] = {
    {Q6LANE(0, 4), Q6LANE(1, 5), Q6LANE(2, 6), Q6LANE(3, 7)},
    {Q6LANE(8, 12), Q6LANE(9, 13), Q6LANE(10, 14), Q6LANE(11, 15)}};

static float dot_q6_K(int64_t n, const void *w, const void *x)
{
    const wh_block_q6_K *a = w;
    const wh_block_q8_K *b = x;
    int64_t nb = n / WH_QK_K;
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    /* qh is broadcast to both halves; the fields of k = 0, 2 kept in the low half, k = 1, 3 in
     * the high half, then moved to bits 4, 5 (word shifts: what crosses into the neighbouring
     * byte lands in its bits 0-3, which the nibbles replace) */
    const __m512i mqh = _mm512_inserti64x4(_mm512_set1_epi8(0x33), _mm256_set1_epi8((char)0xCC), 1);
    const __m512i sh01 = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
    const __m512i sh23 = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    const __m512i isc0 = _mm512_load_si512(k_q6_sc[0]), isc1 = _mm512_load_si512(k_q6_sc[1]);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t g = 0; g < nb; g += KGRP) {
        _Alignas(64) float dd[KGRP];
        __mmask16 gm = group_mask(nb - g);
        /* d is the last 2 bytes of the 210: gather the dword before it (no read past the row) */
        _mm512_store_ps(
            dd, _mm512_mul_ps(gather_q8k_d(b + g, gm),
                              gather_f16((const uint8_t *)(a + g) + 206, sizeof *a, 16, gm)));
        int cnt = nb - g < KGRP ? (int)(nb - g) : KGRP;
        for (int k = 0; k < cnt; k++) {
            const wh_block_q6_K *x6 = &a[g + k];
            const wh_block_q8_K *y8 = &b[g + k];
            prefetch_blocks(x6, sizeof *x6, 4);
            __m512i v[4];
            for (int h = 0; h < 2; h++) {
                __m512i lo = _mm512_loadu_si512(x6->ql + 64 * h);
                __m512i hb = _mm512_and_si512(
                    _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x6->qh + 32 * h))),
                    mqh);
                /* m4 ? A : B */
                __m512i q0 = _mm512_ternarylogic_epi32(lo, _mm512_sllv_epi16(hb, sh01), m4, 0xE4);
                __m512i q1 = _mm512_ternarylogic_epi32(_mm512_srli_epi16(lo, 4),
                                                       _mm512_srlv_epi16(hb, sh23), m4, 0xE4);
                v[2 * h] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q0,
                                               _mm512_loadu_si512(y8->qs + 128 * h));
                v[2 * h + 1] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q1,
                                                   _mm512_loadu_si512(y8->qs + 128 * h + 64));
            }
            __m256i s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x6->scales));
            __m512i s512 = _mm512_zextsi256_si512(s16);
            __m512i isum = _mm512_dpwssd_epi32(_mm512_setzero_si512(), pack2(v[0], v[1]),
                                               _mm512_permutexvar_epi16(isc0, s512));
            isum =
                _mm512_dpwssd_epi32(isum, pack2(v[2], v[3]), _mm512_permutexvar_epi16(isc1, s512));
            /* q is stored + 32: take out 32 * sum_s scale_s * bsum_s */
            __m256i bias = _mm256_madd_epi16(_mm256_slli_epi16(s16, 5),
                                             _mm256_loadu_si256((const __m256i *)y8->bsums));
            isum = _mm512_sub_epi32(isum, _mm512_zextsi256_si512(bias));
            acc = _mm512_fmadd_ps(_mm512_set1_ps(dd[k]), _mm512_cvtepi32_ps(isum), acc);
        }
    }
    return _mm512_reduce_add_ps(acc);
}

static const wh_quant_simd_table g_avx512 = {
    .vec_dot =
        {
            [WH_DT_Q8_0] = dot_q8_0,
            [WH_DT_Q4_K] = dot_q4_K,
            [WH_DT_Q6_K] = dot_q6_K,
        },
};

const wh_quant_simd_table *wh_quant_avx512_table(void)
{
    return &g_avx512;
}

#else

const wh_quant_simd_table *wh_quant_avx512_table(void)
{
    return NULL; /* built without -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni */
}

#endif
