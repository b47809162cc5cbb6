/*
 * gemm_avx512.c — AVX-512 (F, BW, VL, DQ, VNNI) micro-kernels of the prefill
 * product (gemm.h): tiles of 8 weight rows x 16 tokens. Build flags for this file
 * only (Makefile: $(BUILD)/src/kernels/%_avx512.o: CFLAGS += -mavx512f -mavx512bw
 * -mavx512vl -mavx512dq -mavx512vnni -mfma -mf16c); without them it compiles to a
 * stub whose table is NULL and gemm.c falls back to AVX2.
 *
 * Quantised types: one zmm holds 4 consecutive activation bytes (u8, x + 128) of 16
 * tokens; vpdpbusd with the broadcast 4 signed weight bytes of one row adds the 16
 * tokens' partial dot products of that row, exactly, in int32. Each sub-block's
 * integer sum is multiplied by its integer scale (vpmulld), the mins term of
 * Q4_K/Q5_K comes from the Q8_K block sums (vpdpwssd), and the block is scaled and
 * summed in FP32 in the order of quant.c's scalar twins, so the results are bit for
 * bit vec_dot_ref. F16/BF16: FP32 FMAs of broadcast weights with 16 tokens' inputs.
 *
 * Loops: K in chunks of WG_KC inputs (the chunk's activation tiles stay in L2), row
 * tiles of 8 unpacked once per chunk into a stack buffer, then every token tile;
 * the running sums live in out between chunks.
 */
#include "kernels/gemm.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) &&                      \
    defined(__AVX512DQ__) && defined(__AVX512VNNI__) && defined(__FMA__) && defined(__F16C__)

#include "kernels/gemm_simd.h"

#define L 16

/* ---------------- K-quants against Q8_K tiles ---------------- */

/* nb blocks of 8 rows x 16 tokens; nsub sub-blocks per block; mins: Q4_K/Q5_K form
 * dx*(d*isum - dmin*msum), else (dx*d)*isum (Q6_K). */
WG_AI void ktile(const uint8_t *pk, const uint8_t *xt, int64_t nb, const int nsub, const int mins,
                 float *accm)
{
    const int S = 256 / nsub, steps = S / 4;
    __m512 acc[WG_R];
    WG_UNROLL
    for (int r = 0; r < WG_R; r++)
        acc[r] = _mm512_loadu_ps(accm + r * L);
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *wb = pk + b * KB_BYTES;
        const uint8_t *xb = xt + b * XK_BYTES(L);
        __m512i isb[WG_R];
        WG_UNROLL
        for (int r = 0; r < WG_R; r++)
            isb[r] = _mm512_setzero_si512();
        for (int j = 0; j < nsub; j++) {
            __m512i ip[WG_R];
            WG_UNROLL
            for (int r = 0; r < WG_R; r++)
                ip[r] = _mm512_setzero_si512();
            WG_UNROLL
            for (int s = 0; s < steps; s++) {
                __m512i xv = _mm512_loadu_si512(xb + (j * steps + s) * 64);
                WG_UNROLL
                for (int r = 0; r < WG_R; r++)
                    ip[r] = _mm512_dpbusd_epi32(
                        ip[r], xv, _mm512_set1_epi32(wg_ld32(wb + KB_Q + r * 256 + j * S + 4 * s)));
            }
            WG_UNROLL
            for (int r = 0; r < WG_R; r++) {
                __m512i sc = _mm512_set1_epi32(wg_ld32(wb + KB_SC + 4 * (r * 16 + j)));
                isb[r] = _mm512_add_epi32(isb[r], _mm512_mullo_epi32(ip[r], sc));
            }
        }
        __m512 dx = _mm512_loadu_ps((const float *)(xb + XK_DX(L)));
        const float *d = (const float *)(wb + KB_D);
        const float *dmin = (const float *)(wb + KB_DMIN);
        WG_UNROLL
        for (int r = 0; r < WG_R; r++) {
            __m512i is = _mm512_sub_epi32(isb[r], _mm512_set1_epi32(wg_ld32(wb + KB_CORR + 4 * r)));
            if (mins) {
                __m512i ms = _mm512_setzero_si512();
                WG_UNROLL
                for (int p = 0; p < 8; p++)
                    ms = _mm512_dpwssd_epi32(
                        ms, _mm512_loadu_si512(xb + XK_BS(L) + p * 64),
                        _mm512_set1_epi32(wg_ld32(wb + KB_MN + 4 * (r * 8 + p))));
                __m512 t1 = _mm512_mul_ps(_mm512_set1_ps(d[r]), _mm512_cvtepi32_ps(is));
                __m512 t2 = _mm512_mul_ps(_mm512_set1_ps(dmin[r]), _mm512_cvtepi32_ps(ms));
                acc[r] = _mm512_add_ps(acc[r], _mm512_mul_ps(dx, _mm512_sub_ps(t1, t2)));
            } else {
                __m512 s = _mm512_mul_ps(dx, _mm512_set1_ps(d[r]));
                acc[r] = _mm512_add_ps(acc[r], _mm512_mul_ps(s, _mm512_cvtepi32_ps(is)));
            }
        }
    }
    WG_UNROLL
    for (int r = 0; r < WG_R; r++)
        _mm512_storeu_ps(accm + r * L, acc[r]);
}

/* Legacy types (Q8_0, Q5_0, Q4_0) against Q8_0 tiles: (d*dx)*si per block. */
WG_AI void ltile(const uint8_t *pk, const uint8_t *xt, int64_t nb, float *accm)
{
    __m512 acc[WG_R];
    WG_UNROLL
    for (int r = 0; r < WG_R; r++)
        acc[r] = _mm512_loadu_ps(accm + r * L);
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *wb = pk + b * LB_BYTES;
        const uint8_t *xb = xt + b * XL_BYTES(L);
        __m512i ip[WG_R];
        WG_UNROLL
        for (int r = 0; r < WG_R; r++)
            ip[r] = _mm512_setzero_si512();
        WG_UNROLL
        for (int s = 0; s < 8; s++) {
            __m512i xv = _mm512_loadu_si512(xb + s * 64);
            WG_UNROLL
            for (int r = 0; r < WG_R; r++)
                ip[r] = _mm512_dpbusd_epi32(ip[r], xv,
                                            _mm512_set1_epi32(wg_ld32(wb + LB_Q + r * 32 + 4 * s)));
        }
        __m512 dx = _mm512_loadu_ps((const float *)(xb + XL_DX(L)));
        const float *d = (const float *)(wb + LB_D);
        WG_UNROLL
        for (int r = 0; r < WG_R; r++) {
            __m512i si = _mm512_sub_epi32(ip[r], _mm512_set1_epi32(wg_ld32(wb + LB_CORR + 4 * r)));
            __m512 s = _mm512_mul_ps(_mm512_set1_ps(d[r]), dx);
            acc[r] = _mm512_add_ps(acc[r], _mm512_mul_ps(s, _mm512_cvtepi32_ps(si)));
        }
    }
    WG_UNROLL
    for (int r = 0; r < WG_R; r++)
        _mm512_storeu_ps(accm + r * L, acc[r]);
}

static void ktile_q45k(const uint8_t *pk, const uint8_t *xt, int64_t nb, float *accm)
{
    ktile(pk, xt, nb, 8, 1, accm);
}

static void ktile_q6k(const uint8_t *pk, const uint8_t *xt, int64_t nb, float *accm)
{
    ktile(pk, xt, nb, 16, 0, accm);
}

static void ltile_fn(const uint8_t *pk, const uint8_t *xt, int64_t nb, float *accm)
{
    ltile(pk, xt, nb, accm);
}

typedef void (*tile_fn)(const uint8_t *pk, const uint8_t *xt, int64_t nb, float *accm);

/* The loops of the file comment, for one quantised type. */
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
    rows_quant(a, o0, o1, wg_unpack_q4_K, ktile_q45k);
}

static void rows_q5_K(const wh_gemm_args *a, long o0, long o1)
{
    rows_quant(a, o0, o1, wg_unpack_q5_K, ktile_q45k);
}

static void rows_q6_K(const wh_gemm_args *a, long o0, long o1)
{
    rows_quant(a, o0, o1, wg_unpack_q6_K, ktile_q6k);
}

static void rows_q8_0(const wh_gemm_args *a, long o0, long o1)
{
    rows_quant(a, o0, o1, wg_unpack_q8_0, ltile_fn);
}

static void rows_q5_0(const wh_gemm_args *a, long o0, long o1)
{
    rows_quant(a, o0, o1, wg_unpack_q5_0, ltile_fn);
}

static void rows_q4_0(const wh_gemm_args *a, long o0, long o1)
{
    rows_quant(a, o0, o1, wg_unpack_q4_0, ltile_fn);
}

/* ---------------- F16 / BF16 against F32 tiles ---------------- */

#define FKC 1024 /* inputs per chunk: 16 rows x 1024 F32 = 64 KiB */
#define FR 16    /* rows per tile */

/* Rows [o, o+nr) of a 16-bit float matrix, inputs [k0, k0+kn), as F32 rows. */
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
        for (; k + 16 <= kn; k += 16) {
            __m256i h = _mm256_loadu_si256((const __m256i *)(src + k));
            __m512 f = bf ? _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16))
                          : _mm512_cvtph_ps(h);
            _mm512_storeu_ps(dst + k, f);
        }
        for (; k < kn; k++)
            dst[k] = bf ? wh_bf16_to_f32(src[k]) : wh_f16_to_f32(src[k]);
    }
}

/* 16 rows x 16 tokens over kn inputs: acc[r] += w[r][k] * x[k][0..16) */
static void ftile(const float *pk, const float *xt, int64_t kn, float *accm)
{
    __m512 acc[FR];
    WG_UNROLL
    for (int r = 0; r < FR; r++)
        acc[r] = _mm512_loadu_ps(accm + r * L);
    for (int64_t k = 0; k < kn; k++) {
        __m512 xv = _mm512_loadu_ps(xt + k * L);
        WG_UNROLL
        for (int r = 0; r < FR; r++)
            acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(pk[r * FKC + k]), xv, acc[r]);
    }
    WG_UNROLL
    for (int r = 0; r < FR; r++)
        _mm512_storeu_ps(accm + r * L, acc[r]);
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
                /* two halves of 8 rows: the wg_*_acc helpers work on WG_R rows */
                WG_UNROLL
                for (int h = 0; h < FR / WG_R; h++)
                    wg_load_acc(a, o + h * WG_R, nr - h * WG_R, t0, nt, L, first,
                                acc + h * WG_R * L);
                ftile(pk, xt, kn, acc);
                WG_UNROLL
                for (int h = 0; h < FR / WG_R; h++)
                    wg_store_acc(a, o + h * WG_R, nr - h * WG_R, t0, nt, L, last,
                                 acc + h * WG_R * L);
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

const wh_gemm_kernels *wh_gemm_avx512_kernels(void)
{
    return &g_kernels;
}

#else

const wh_gemm_kernels *wh_gemm_avx512_kernels(void)
{
    return NULL; /* built without the AVX-512 flags */
}

#endif
