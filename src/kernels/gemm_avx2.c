/*
 * gemm_avx2.c — AVX2+FMA+F16C micro-kernels of the prefill product (gemm.h): tiles
 * of 4 weight rows x 8 tokens (two per unpacked tile of 8 rows). Build flags for
 * this file only: -mavx2 -mfma -mf16c (Makefile rule for *_avx2.o); without them it
 * compiles to a stub whose table is NULL.
 *
 * Quantised types: one ymm holds 4 consecutive activation bytes (u8, x + 128) of 8
 * tokens; vpmaddubsw with the broadcast 4 signed weight bytes of one row gives each
 * token two int16 partial sums, which are added in int16 for G steps (G chosen per
 * type so that no lane can saturate: |w| <= 15 -> 4 steps, |w| <= 32 -> 2) and then
 * widened with vpmaddwd against the sub-block scale. Q8_0 weights (|w| up to 128)
 * take the sign trick instead (|w| times sign(w)*x on signed activations), one step
 * at a time. Every integer sum is exact and the FP32 scaling follows the scalar
 * twins' order, so the results are bit for bit vec_dot_ref. F16/BF16: FP32 FMAs of
 * broadcast weights with 8 tokens' inputs.
 *
 * Loops as in gemm_avx512.c: K chunks, row tiles unpacked once per chunk, token tiles.
 */
#include "kernels/gemm.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)

#include "kernels/gemm_simd.h"

#define L 8
#define HR 4 /* rows per register tile */

/* ---------------- K-quants against Q8_K tiles ---------------- */

WG_AI void ktile(const uint8_t *pk, const uint8_t *xt, int64_t nb, const int nsub, const int mins,
                 const int G, float *accm)
{
    const int S = 256 / nsub, steps = S / 4;
    WG_UNROLL
    for (int h = 0; h < WG_R / HR; h++) {
        const int r0 = h * HR;
        __m256 acc[HR];
        WG_UNROLL
        for (int r = 0; r < HR; r++)
            acc[r] = _mm256_loadu_ps(accm + (r0 + r) * L);
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *wb = pk + b * KB_BYTES;
            const uint8_t *xb = xt + b * XK_BYTES(L);
            __m256i isb[HR];
            WG_UNROLL
            for (int r = 0; r < HR; r++)
                isb[r] = _mm256_setzero_si256();
            for (int j = 0; j < nsub; j++) {
                for (int g0 = 0; g0 < steps; g0 += G) {
                    __m256i t16[HR];
                    WG_UNROLL
                    for (int r = 0; r < HR; r++)
                        t16[r] = _mm256_setzero_si256();
                    WG_UNROLL
                    for (int s = g0; s < g0 + G; s++) {
                        __m256i xv =
                            _mm256_loadu_si256((const __m256i *)(xb + (j * steps + s) * 32));
                        WG_UNROLL
                        for (int r = 0; r < HR; r++) {
                            __m256i wv = _mm256_set1_epi32(
                                wg_ld32(wb + KB_Q + (r0 + r) * 256 + j * S + 4 * s));
                            t16[r] = _mm256_add_epi16(t16[r], _mm256_maddubs_epi16(xv, wv));
                        }
                    }
                    WG_UNROLL
                    for (int r = 0; r < HR; r++) {
                        int sc = wg_ld32(wb + KB_SC + 4 * ((r0 + r) * 16 + j));
                        __m256i p = _mm256_madd_epi16(t16[r], _mm256_set1_epi16((short)sc));
                        isb[r] = _mm256_add_epi32(isb[r], p);
                    }
                }
            }
            __m256 dx = _mm256_loadu_ps((const float *)(xb + XK_DX(L)));
            const float *d = (const float *)(wb + KB_D);
            const float *dmin = (const float *)(wb + KB_DMIN);
            WG_UNROLL
            for (int r = 0; r < HR; r++) {
                int rr = r0 + r;
                __m256i is =
                    _mm256_sub_epi32(isb[r], _mm256_set1_epi32(wg_ld32(wb + KB_CORR + 4 * rr)));
                if (mins) {
                    __m256i ms = _mm256_setzero_si256();
                    WG_UNROLL
                    for (int p = 0; p < 8; p++) {
                        __m256i bsv = _mm256_loadu_si256((const __m256i *)(xb + XK_BS(L) + p * 32));
                        __m256i mn = _mm256_set1_epi32(wg_ld32(wb + KB_MN + 4 * (rr * 8 + p)));
                        ms = _mm256_add_epi32(ms, _mm256_madd_epi16(bsv, mn));
                    }
                    __m256 t1 = _mm256_mul_ps(_mm256_set1_ps(d[rr]), _mm256_cvtepi32_ps(is));
                    __m256 t2 = _mm256_mul_ps(_mm256_set1_ps(dmin[rr]), _mm256_cvtepi32_ps(ms));
                    acc[r] = _mm256_add_ps(acc[r], _mm256_mul_ps(dx, _mm256_sub_ps(t1, t2)));
                } else {
                    __m256 s = _mm256_mul_ps(dx, _mm256_set1_ps(d[rr]));
                    acc[r] = _mm256_add_ps(acc[r], _mm256_mul_ps(s, _mm256_cvtepi32_ps(is)));
                }
            }
        }
        WG_UNROLL
        for (int r = 0; r < HR; r++)
            _mm256_storeu_ps(accm + (r0 + r) * L, acc[r]);
    }
}

/* Legacy types against Q8_0 tiles: (d*dx)*si per block. G == 0: Q8_0 weights, the
 * sign trick on signed activations (no +128, so no correction). */
WG_AI void ltile(const uint8_t *pk, const uint8_t *xt, int64_t nb, const int G, float *accm)
{
    const __m256i ones16 = _mm256_set1_epi16(1);
    const __m256i bias8 = _mm256_set1_epi8((char)0x80);
    WG_UNROLL
    for (int h = 0; h < WG_R / HR; h++) {
        const int r0 = h * HR;
        __m256 acc[HR];
        WG_UNROLL
        for (int r = 0; r < HR; r++)
            acc[r] = _mm256_loadu_ps(accm + (r0 + r) * L);
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *wb = pk + b * LB_BYTES;
            const uint8_t *xb = xt + b * XL_BYTES(L);
            __m256i ip[HR];
            WG_UNROLL
            for (int r = 0; r < HR; r++)
                ip[r] = _mm256_setzero_si256();
            if (G == 0) {
                WG_UNROLL
                for (int s = 0; s < 8; s++) {
                    __m256i xs =
                        _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(xb + s * 32)), bias8);
                    WG_UNROLL
                    for (int r = 0; r < HR; r++) {
                        __m256i wv = _mm256_set1_epi32(wg_ld32(wb + LB_Q + (r0 + r) * 32 + 4 * s));
                        __m256i p =
                            _mm256_maddubs_epi16(_mm256_abs_epi8(wv), _mm256_sign_epi8(xs, wv));
                        ip[r] = _mm256_add_epi32(ip[r], _mm256_madd_epi16(p, ones16));
                    }
                }
            } else {
                for (int g0 = 0; g0 < 8; g0 += G) {
                    __m256i t16[HR];
                    WG_UNROLL
                    for (int r = 0; r < HR; r++)
                        t16[r] = _mm256_setzero_si256();
                    WG_UNROLL
                    for (int s = g0; s < g0 + G; s++) {
                        __m256i xv = _mm256_loadu_si256((const __m256i *)(xb + s * 32));
                        WG_UNROLL
                        for (int r = 0; r < HR; r++) {
                            __m256i wv =
                                _mm256_set1_epi32(wg_ld32(wb + LB_Q + (r0 + r) * 32 + 4 * s));
                            t16[r] = _mm256_add_epi16(t16[r], _mm256_maddubs_epi16(xv, wv));
                        }
                    }
                    WG_UNROLL
                    for (int r = 0; r < HR; r++)
                        ip[r] = _mm256_add_epi32(ip[r], _mm256_madd_epi16(t16[r], ones16));
                }
                WG_UNROLL
                for (int r = 0; r < HR; r++)
                    ip[r] = _mm256_sub_epi32(
                        ip[r], _mm256_set1_epi32(wg_ld32(wb + LB_CORR + 4 * (r0 + r))));
            }
            __m256 dx = _mm256_loadu_ps((const float *)(xb + XL_DX(L)));
            const float *d = (const float *)(wb + LB_D);
            WG_UNROLL
            for (int r = 0; r < HR; r++) {
                __m256 s = _mm256_mul_ps(_mm256_set1_ps(d[r0 + r]), dx);
                acc[r] = _mm256_add_ps(acc[r], _mm256_mul_ps(s, _mm256_cvtepi32_ps(ip[r])));
            }
        }
        WG_UNROLL
        for (int r = 0; r < HR; r++)
            _mm256_storeu_ps(accm + (r0 + r) * L, acc[r]);
    }
}

static void tile_q4k(const uint8_t *pk, const uint8_t *xt, int64_t nb, float *accm)
{
    ktile(pk, xt, nb, 8, 1, 4, accm);
}

static void tile_q5k(const uint8_t *pk, const uint8_t *xt, int64_t nb, float *accm)
{
    ktile(pk, xt, nb, 8, 1, 2, accm);
}

static void tile_q6k(const uint8_t *pk, const uint8_t *xt, int64_t nb, float *accm)
{
    ktile(pk, xt, nb, 16, 0, 2, accm);
}

static void tile_q8_0(const uint8_t *pk, const uint8_t *xt, int64_t nb, float *accm)
{
    ltile(pk, xt, nb, 0, accm);
}

static void tile_q5_0(const uint8_t *pk, const uint8_t *xt, int64_t nb, float *accm)
{
    ltile(pk, xt, nb, 4, accm);
}

static void tile_q4_0(const uint8_t *pk, const uint8_t *xt, int64_t nb, float *accm)
{
    ltile(pk, xt, nb, 8, accm);
}

typedef void (*tile_fn)(const uint8_t *pk, const uint8_t *xt, int64_t nb, float *accm);

WG_AI void rows_quant(const wh_gemm_args *a, long o0, long o1, wg_unpack_fn unpack, tile_fn tile)
{
    int kq = wg_is_kquant(a->type);
    int64_t bs = kq ? WH_QK_K : WH_QK, nblk = a->K / bs, chunk = WG_KC / bs;
    uint64_t wblk = wh_dtype_row_bytes(a->type, bs);
    uint64_t pblk = kq ? KB_BYTES : LB_BYTES, xblk = kq ? XK_BYTES(L) : XL_BYTES(L);
    _Alignas(64) uint8_t pack[8 * KB_BYTES > 64 * LB_BYTES ? 8 * KB_BYTES : 64 * LB_BYTES];
    _Alignas(64) float acc[WG_R * L];
    const uint8_t *prep = wg_prep_base(a);
    int ntiles = (a->T + L - 1) / L;
    for (int64_t b0 = 0; b0 < nblk; b0 += chunk) {
        int64_t nb = nblk - b0 < chunk ? nblk - b0 : chunk;
        int first = b0 == 0, last = b0 + nb == nblk;
        for (long o = o0; o < o1; o += WG_R) {
            int nr = o1 - o < WG_R ? (int)(o1 - o) : WG_R;
            wg_unpack_tile(a, unpack, wblk, pblk, o, nr, b0, nb, pack);
            for (int tau = 0; tau < ntiles; tau++) {
                int t0 = tau * L, nt = a->T - t0 < L ? a->T - t0 : L;
                const uint8_t *xt = prep + ((uint64_t)tau * (uint64_t)nblk + (uint64_t)b0) * xblk;
                wg_load_acc(a, o, nr, t0, nt, L, first, acc);
                tile(pack, xt, nb, acc);
                wg_store_acc(a, o, nr, t0, nt, L, last, acc);
            }
        }
    }
}

static void rows_q4_K(const wh_gemm_args *a, long o0, long o1)
{
    rows_quant(a, o0, o1, wg_unpack_q4_K, tile_q4k);
}

static void rows_q5_K(const wh_gemm_args *a, long o0, long o1)
{
    rows_quant(a, o0, o1, wg_unpack_q5_K, tile_q5k);
}

static void rows_q6_K(const wh_gemm_args *a, long o0, long o1)
{
    rows_quant(a, o0, o1, wg_unpack_q6_K, tile_q6k);
}

static void rows_q8_0(const wh_gemm_args *a, long o0, long o1)
{
    rows_quant(a, o0, o1, wg_unpack_q8_0, tile_q8_0);
}

static void rows_q5_0(const wh_gemm_args *a, long o0, long o1)
{
    rows_quant(a, o0, o1, wg_unpack_q5_0, tile_q5_0);
}

static void rows_q4_0(const wh_gemm_args *a, long o0, long o1)
{
    rows_quant(a, o0, o1, wg_unpack_q4_0, tile_q4_0);
}

/* ---------------- F16 / BF16 against F32 tiles ---------------- */

#define FKC 1024 /* inputs per chunk: 8 rows x 1024 F32 = 32 KiB */
#define FR 8     /* rows per tile */

static void unpack_half(const wh_gemm_args *a, long o, int nr, int64_t k0, int64_t kn, float *pk)
{
    int bf = a->type == WH_DT_BF16;
    WG_UNROLL
    for (int r = 0; r < FR; r++) {
        float *dst = pk + r * FKC;
        if (r >= nr) {
            memset(dst, 0, sizeof(float) * FKC);
            continue;
        }
        const uint16_t *src =
            (const uint16_t *)(a->w + (uint64_t)(o + r) * (uint64_t)a->K * 2) + k0;
        int64_t k = 0;
        for (; k + 8 <= kn; k += 8) {
            __m128i h = _mm_loadu_si128((const __m128i *)(src + k));
            __m256 f = bf ? _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16))
                          : _mm256_cvtph_ps(h);
            _mm256_storeu_ps(dst + k, f);
        }
        for (; k < kn; k++)
            dst[k] = bf ? wh_bf16_to_f32(src[k]) : wh_f16_to_f32(src[k]);
    }
}

static void ftile(const float *pk, const float *xt, int64_t kn, float *accm)
{
    __m256 acc[FR];
    WG_UNROLL
    for (int r = 0; r < FR; r++)
        acc[r] = _mm256_loadu_ps(accm + r * L);
    for (int64_t k = 0; k < kn; k++) {
        __m256 xv = _mm256_loadu_ps(xt + k * L);
        WG_UNROLL
        for (int r = 0; r < FR; r++)
            acc[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(pk + r * FKC + k), xv, acc[r]);
    }
    WG_UNROLL
    for (int r = 0; r < FR; r++)
        _mm256_storeu_ps(accm + r * L, acc[r]);
}

static void rows_half(const wh_gemm_args *a, long o0, long o1)
{
    _Alignas(64) float pk[FR * FKC];
    _Alignas(64) float acc[FR * L];
    const float *prep = (const float *)wg_prep_base(a);
    int ntiles = (a->T + L - 1) / L;
    for (int64_t k0 = 0; k0 < a->K; k0 += FKC) {
        int64_t kn = a->K - k0 < FKC ? a->K - k0 : FKC;
        int first = k0 == 0, last = k0 + kn == a->K;
        for (long o = o0; o < o1; o += FR) {
            int nr = o1 - o < FR ? (int)(o1 - o) : FR;
            unpack_half(a, o, nr, k0, kn, pk);
            for (int tau = 0; tau < ntiles; tau++) {
                int t0 = tau * L, nt = a->T - t0 < L ? a->T - t0 : L;
                const float *xt = prep + ((int64_t)tau * a->K + k0) * L;
                wg_load_acc(a, o, nr, t0, nt, L, first, acc);
                ftile(pk, xt, kn, acc);
                wg_store_acc(a, o, nr, t0, nt, L, last, acc);
            }
        }
    }
}

static void prepare(const wh_gemm_args *a, int t0, int t1)
{
    wg_prepare(a, t0, t1, L);
}

static const wh_gemm_kernels g_kernels = {
    .prepare =
        {
            [WH_DT_F16] = prepare,
            [WH_DT_BF16] = prepare,
            [WH_DT_Q4_0] = prepare,
            [WH_DT_Q5_0] = prepare,
            [WH_DT_Q8_0] = prepare,
            [WH_DT_Q4_K] = prepare,
            [WH_DT_Q5_K] = prepare,
            [WH_DT_Q6_K] = prepare,
        },
    .rows =
        {
            [WH_DT_F16] = rows_half,
            [WH_DT_BF16] = rows_half,
            [WH_DT_Q4_0] = rows_q4_0,
            [WH_DT_Q5_0] = rows_q5_0,
            [WH_DT_Q8_0] = rows_q8_0,
            [WH_DT_Q4_K] = rows_q4_K,
            [WH_DT_Q5_K] = rows_q5_K,
            [WH_DT_Q6_K] = rows_q6_K,
        },
    .row_tile = WG_RT,
    .token_tile = L,
    .min_tokens = 6, /* measured: Q4_K/Q8_0 1536x8960, one tile ~ 5 single-token dots */
};

const wh_gemm_kernels *wh_gemm_avx2_kernels(void)
{
    return &g_kernels;
}

#else

const wh_gemm_kernels *wh_gemm_avx2_kernels(void)
{
    return NULL; /* built without -mavx2 -mfma -mf16c */
}

#endif
