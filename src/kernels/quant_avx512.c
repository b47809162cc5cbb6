/*
 * quant_avx512.c — AVX-512 (F, BW, VL, DQ, VNNI) dot products of quantised weight
 * rows with 8-bit-quantised activations, for the types where they beat the AVX2
 * kernels of quant_avx2.c (bench/dot_bench.c measures both): Q8_0. Build flags for
 * this file only (Makefile: $(BUILD)/src/kernels/%_avx512.o: CFLAGS += -mavx512f
 * -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mfma -mf16c); without them it
 * compiles to a stub whose table is NULL. quant.c chooses at run time: an entry
 * here replaces the AVX2 one when the CPU has all of these extensions and
 * WHALE_NO_AVX512 is unset.
 *
 * Spec: the Q8_0 block of quant.h (ggml's block_q8_0: f16 d, 32 x int8). Each
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

/* Software prefetch of the weight row PF_AHEAD bytes ahead (prefetches never fault),
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

static const wh_quant_simd_table g_avx512 = {
    .vec_dot =
        {
            [WH_DT_Q8_0] = dot_q8_0,
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
