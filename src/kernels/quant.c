/*
 * quant.c — scalar reference code for the ggml block quantisations (see
 * quant.h): exact dequantisation of every type, reference quantisers, the
 * scalar dot-product twins, and the type-traits table with run-time dispatch
 * to the AVX2 kernels of quant_avx2.c and the AVX-512 ones of quant_avx512.c.
 *
 * Spec: ggml block layouts (ggml-common.h) and dequantisation formulas
 * (ggml-quants.c, dequantize_row_*). The quantisers are whale's own simple
 * round-to-nearest schemes (no importance weighting, no scale search): they
 * produce valid blocks of each format, good enough for tests and a first
 * `whale quantize`.
 *
 * Floating-point order. Dequantisation computes the scale products first and
 * keeps each product and difference in its own statement, so that no compiler
 * contracts them into an FMA: the values are bit-exact against
 * tools/reference/quants.py. The dot twins sum integer products per block
 * (exact) and combine blocks in FP32.
 */
#include "kernels/quant.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/fp.h"
#include "base/env.h"
#include "kernels/cpu.h"

static float h2f(uint16_t h)
{
    return wh_f16_to_f32(h);
}

/* Round to nearest, ties to even (the SIMD quantisers round the same way). */
static int nearest(float x)
{
    return (int)__builtin_rintf(x);
}

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* ================= dequantisation ================= */

static void dequant_f32(const void *src, float *dst, int64_t n)
{
    memcpy(dst, src, (size_t)n * sizeof(float));
}

static void dequant_f16(const void *src, float *dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        dst[i] = wh_f16_to_f32(h);
    }
}

static void dequant_bf16(const void *src, float *dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        dst[i] = wh_bf16_to_f32(h);
    }
}

static void dequant_q4_0(const void *src, float *dst, int64_t n)
{
    const wh_block_q4_0 *b = src;
    for (int64_t i = 0; i < n / WH_QK; i++, b++, dst += WH_QK) {
        float d = h2f(b->d);
        for (int j = 0; j < 16; j++) {
            dst[j] = (float)((b->qs[j] & 0xF) - 8) * d;
            dst[j + 16] = (float)((b->qs[j] >> 4) - 8) * d;
        }
    }
}

static void dequant_q4_1(const void *src, float *dst, int64_t n)
{
    const wh_block_q4_1 *b = src;
    for (int64_t i = 0; i < n / WH_QK; i++, b++, dst += WH_QK) {
        float d = h2f(b->d), m = h2f(b->m);
        for (int j = 0; j < 16; j++) {
            float p0 = (float)(b->qs[j] & 0xF) * d;
            float p1 = (float)(b->qs[j] >> 4) * d;
            dst[j] = p0 + m;
            dst[j + 16] = p1 + m;
        }
    }
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void dequant_q5_0(const void *src, float *dst, int64_t n)
{
    const wh_block_q5_0 *b = src;
    for (int64_t i = 0; i < n / WH_QK; i++, b++, dst += WH_QK) {
        float d = h2f(b->d);
        uint32_t qh = le32(b->qh);
        for (int j = 0; j < 16; j++) {
            int q0 = (b->qs[j] & 0xF) | (int)((qh >> j) & 1) << 4;
            int q1 = (b->qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            dst[j] = (float)(q0 - 16) * d;
            dst[j + 16] = (float)(q1 - 16) * d;
        }
    }
}

static void dequant_q5_1(const void *src, float *dst, int64_t n)
{
    const wh_block_q5_1 *b = src;
    for (int64_t i = 0; i < n / WH_QK; i++, b++, dst += WH_QK) {
        float d = h2f(b->d), m = h2f(b->m);
        uint32_t qh = le32(b->qh);
        for (int j = 0; j < 16; j++) {
            int q0 = (b->qs[j] & 0xF) | (int)((qh >> j) & 1) << 4;
            int q1 = (b->qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            float p0 = (float)q0 * d;
            float p1 = (float)q1 * d;
            dst[j] = p0 + m;
            dst[j + 16] = p1 + m;
        }
    }
}

static void dequant_q8_0(const void *src, float *dst, int64_t n)
{
    const wh_block_q8_0 *b = src;
    for (int64_t i = 0; i < n / WH_QK; i++, b++, dst += WH_QK) {
        float d = h2f(b->d);
        for (int j = 0; j < 32; j++)
            dst[j] = (float)b->qs[j] * d;
    }
}

static void dequant_q2_K(const void *src, float *dst, int64_t n)
{
    const wh_block_q2_K *b = src;
    for (int64_t i = 0; i < n / WH_QK_K; i++, b++, dst += WH_QK_K) {
        float d = h2f(b->d), dmin = h2f(b->dmin);
        for (int e = 0; e < WH_QK_K; e++) {
            int h = e / 128, j = (e % 128) / 32, l = e % 32;
            int q = (b->qs[32 * h + l] >> (2 * j)) & 3;
            int s = b->scales[e / 16];
            float dl = d * (float)(s & 0xF);
            float ml = dmin * (float)(s >> 4);
            float p = dl * (float)q;
            dst[e] = p - ml;
        }
    }
}

static void dequant_q3_K(const void *src, float *dst, int64_t n)
{
    const wh_block_q3_K *b = src;
    for (int64_t i = 0; i < n / WH_QK_K; i++, b++, dst += WH_QK_K) {
        float d = h2f(b->d);
        for (int e = 0; e < WH_QK_K; e++) {
            int h = e / 128, j = (e % 128) / 32, l = e % 32;
            int q = (b->qs[32 * h + l] >> (2 * j)) & 3;
            if (!(b->hmask[l] & (1 << (4 * h + j))))
                q -= 4;
            float dl = d * (float)wh_q3k_scale(b->scales, e / 16);
            dst[e] = dl * (float)q;
        }
    }
}

static void dequant_q4_K(const void *src, float *dst, int64_t n)
{
    const wh_block_q4_K *b = src;
    for (int64_t i = 0; i < n / WH_QK_K; i++, b++, dst += WH_QK_K) {
        float d = h2f(b->d), dmin = h2f(b->dmin);
        for (int e = 0; e < WH_QK_K; e++) {
            int c = e / 64, hi = (e % 64) / 32, l = e % 32;
            int q = hi ? b->qs[32 * c + l] >> 4 : b->qs[32 * c + l] & 0xF;
            int sc, m;
            wh_q4k_scale_min(b->scales, 2 * c + hi, &sc, &m);
            float dl = d * (float)sc;
            float ml = dmin * (float)m;
            float p = dl * (float)q;
            dst[e] = p - ml;
        }
    }
}

static void dequant_q5_K(const void *src, float *dst, int64_t n)
{
    const wh_block_q5_K *b = src;
    for (int64_t i = 0; i < n / WH_QK_K; i++, b++, dst += WH_QK_K) {
        float d = h2f(b->d), dmin = h2f(b->dmin);
        for (int e = 0; e < WH_QK_K; e++) {
            int c = e / 64, hi = (e % 64) / 32, l = e % 32;
            int q = hi ? b->qs[32 * c + l] >> 4 : b->qs[32 * c + l] & 0xF;
            q |= ((b->qh[l] >> (2 * c + hi)) & 1) << 4;
            int sc, m;
            wh_q4k_scale_min(b->scales, 2 * c + hi, &sc, &m);
            float dl = d * (float)sc;
            float ml = dmin * (float)m;
            float p = dl * (float)q;
            dst[e] = p - ml;
        }
    }
}

static void dequant_q6_K(const void *src, float *dst, int64_t n)
{
    const wh_block_q6_K *b = src;
    for (int64_t i = 0; i < n / WH_QK_K; i++, b++, dst += WH_QK_K) {
        float d = h2f(b->d);
        for (int e = 0; e < WH_QK_K; e++) {
            int h = e / 128, k = (e % 128) / 32, l = e % 32;
            /* k: 0 low nibble of ql[l], 1 low of ql[l+32], 2 high of ql[l], 3 high of ql[l+32] */
            uint8_t lo = b->ql[64 * h + l + 32 * (k & 1)];
            int q = (k < 2 ? lo & 0xF : lo >> 4) | ((b->qh[32 * h + l] >> (2 * k)) & 3) << 4;
            float dl = d * (float)b->scales[e / 16];
            dst[e] = dl * (float)(q - 32);
        }
    }
}

static void dequant_q8_K(const void *src, float *dst, int64_t n)
{
    const wh_block_q8_K *b = src;
    for (int64_t i = 0; i < n / WH_QK_K; i++, b++, dst += WH_QK_K)
        for (int j = 0; j < WH_QK_K; j++)
            dst[j] = b->d * (float)b->qs[j];
}

/* ================= quantisation (reference) ================= */

static float absmax(const float *x, int n)
{
    float a = 0.0f;
    for (int i = 0; i < n; i++)
        a = fmaxf(a, fabsf(x[i]));
    return a;
}

/* The element of largest magnitude, with its sign (first one on ties). */
static float signed_max(const float *x, int n)
{
    float m = 0.0f;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > fabsf(m))
            m = x[i];
    return m;
}

static void quant_f32(const float *src, void *dst, int64_t n)
{
    memcpy(dst, src, (size_t)n * sizeof(float));
}

static void quant_f16(const float *src, void *dst, int64_t n)
{
    uint8_t *p = dst;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h = wh_f32_to_f16(src[i]);
        memcpy(p + 2 * i, &h, 2);
    }
}

static void quant_bf16(const float *src, void *dst, int64_t n)
{
    uint8_t *p = dst;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h = wh_f32_to_bf16(src[i]);
        memcpy(p + 2 * i, &h, 2);
    }
}

/* Symmetric blocks: d = signed max / -lev, q = round(x/d) + lev in [0, 2*lev). */
static void quant_sym(const float *x, int lev, float *d_out, uint8_t *q)
{
    float mx = signed_max(x, WH_QK);
    float d = h2f(wh_f32_to_f16(mx / (float)-lev));
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    *d_out = d;
    for (int j = 0; j < WH_QK; j++)
        q[j] = (uint8_t)clampi(nearest(x[j] * id) + lev, 0, 2 * lev - 1);
}

/* Asymmetric blocks: x = d*q + m, q in [0, top]. */
static void quant_asym(const float *x, int top, uint16_t *d_out, uint16_t *m_out, uint8_t *q)
{
    float lo = x[0], hi = x[0];
    for (int j = 1; j < WH_QK; j++) {
        lo = fminf(lo, x[j]);
        hi = fmaxf(hi, x[j]);
    }
    *m_out = wh_f32_to_f16(lo);
    *d_out = wh_f32_to_f16((hi - lo) / (float)top);
    float m = h2f(*m_out), d = h2f(*d_out);
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < WH_QK; j++)
        q[j] = (uint8_t)clampi(nearest((x[j] - m) * id), 0, top);
}

static void quant_q4_0(const float *src, void *dst, int64_t n)
{
    wh_block_q4_0 *b = dst;
    for (int64_t i = 0; i < n / WH_QK; i++, b++, src += WH_QK) {
        uint8_t q[WH_QK];
        float d;
        quant_sym(src, 8, &d, q);
        b->d = wh_f32_to_f16(d);
        for (int j = 0; j < 16; j++)
            b->qs[j] = (uint8_t)(q[j] | q[j + 16] << 4);
    }
}

static void quant_q4_1(const float *src, void *dst, int64_t n)
{
    wh_block_q4_1 *b = dst;
    for (int64_t i = 0; i < n / WH_QK; i++, b++, src += WH_QK) {
        uint8_t q[WH_QK];
        quant_asym(src, 15, &b->d, &b->m, q);
        for (int j = 0; j < 16; j++)
            b->qs[j] = (uint8_t)(q[j] | q[j + 16] << 4);
    }
}

static void pack5(const uint8_t *q, uint8_t *qs, uint8_t *qh)
{
    uint32_t h = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((q[j] & 0xF) | (q[j + 16] & 0xF) << 4);
        h |= (uint32_t)(q[j] >> 4) << j;
        h |= (uint32_t)(q[j + 16] >> 4) << (j + 16);
    }
    for (int k = 0; k < 4; k++)
        qh[k] = (uint8_t)(h >> (8 * k));
}

static void quant_q5_0(const float *src, void *dst, int64_t n)
{
    wh_block_q5_0 *b = dst;
    for (int64_t i = 0; i < n / WH_QK; i++, b++, src += WH_QK) {
        uint8_t q[WH_QK];
        float d;
        quant_sym(src, 16, &d, q);
        b->d = wh_f32_to_f16(d);
        pack5(q, b->qs, b->qh);
    }
}

static void quant_q5_1(const float *src, void *dst, int64_t n)
{
    wh_block_q5_1 *b = dst;
    for (int64_t i = 0; i < n / WH_QK; i++, b++, src += WH_QK) {
        uint8_t q[WH_QK];
        quant_asym(src, 31, &b->d, &b->m, q);
        pack5(q, b->qs, b->qh);
    }
}

/* Q8_0 (weights and activations): d = absmax/127, q = round(x*127/absmax). */
static void quant_q8_0(const float *src, void *dst, int64_t n)
{
    wh_block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / WH_QK; i++, b++, src += WH_QK) {
        float amax = absmax(src, WH_QK);
        float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        b->d = wh_f32_to_f16(amax / 127.0f);
        for (int j = 0; j < WH_QK; j++)
            b->qs[j] = (int8_t)nearest(src[j] * id);
    }
}

/* Q8_K (activations): d = absmax/127 in f32, q = round(x*127/absmax). */
static void quant_q8_K(const float *src, void *dst, int64_t n)
{
    wh_block_q8_K *b = dst;
    for (int64_t i = 0; i < n / WH_QK_K; i++, b++, src += WH_QK_K) {
        float amax = absmax(src, WH_QK_K);
        float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        b->d = amax / 127.0f;
        for (int j = 0; j < WH_QK_K; j++)
            b->qs[j] = (int8_t)nearest(src[j] * id);
        for (int g = 0; g < 16; g++) {
            int s = 0;
            for (int j = 0; j < 16; j++)
                s += b->qs[16 * g + j];
            b->bsums[g] = (int16_t)s;
        }
    }
}

/*
 * Scale/min K-quants (Q2_K 16 sub-blocks of 16, Q4_K/Q5_K 8 of 32):
 * x = d*sc*q - dmin*m with sc, m in [0, smax] and q in [0, qmax]. Each
 * sub-block's offset is its minimum clamped to <= 0; its scale spans to its
 * maximum; both are rounded onto the super-block's f16 d and dmin; q is then
 * rounded with the rounded scales.
 */
static void quant_kmin(const float *x, int nsub, int qmax, int smax, uint16_t *d16,
                       uint16_t *dmin16, int *sc, int *mn, uint8_t *q)
{
    int len = WH_QK_K / nsub;
    float scale[16], off[16], max_s = 0.0f, max_m = 0.0f;
    for (int s = 0; s < nsub; s++) {
        const float *v = x + s * len;
        float lo = 0.0f, hi = v[0];
        for (int j = 0; j < len; j++) {
            lo = fminf(lo, v[j]);
            hi = fmaxf(hi, v[j]);
        }
        scale[s] = (hi - lo) / (float)qmax;
        off[s] = -lo;
        max_s = fmaxf(max_s, scale[s]);
        max_m = fmaxf(max_m, off[s]);
    }
    *d16 = wh_f32_to_f16(max_s / (float)smax);
    *dmin16 = wh_f32_to_f16(max_m / (float)smax);
    float d = h2f(*d16), dmin = h2f(*dmin16);
    for (int s = 0; s < nsub; s++) {
        sc[s] = d > 0.0f ? clampi(nearest(scale[s] / d), 0, smax) : 0;
        mn[s] = dmin > 0.0f ? clampi(nearest(off[s] / dmin), 0, smax) : 0;
        float dl = d * (float)sc[s], ml = dmin * (float)mn[s];
        float id = dl > 0.0f ? 1.0f / dl : 0.0f;
        for (int j = 0; j < len; j++)
            q[s * len + j] = (uint8_t)clampi(nearest((x[s * len + j] + ml) * id), 0, qmax);
    }
}

/*
 * Symmetric K-quants (Q3_K 16 sub-blocks with 6-bit signed scales, Q6_K 16
 * with int8 scales): x = d*sc*q, q in [-qlev, qlev).
 */
static void quant_ksym(const float *x, int qlev, int slev, uint16_t *d16, int *sc, int *q)
{
    float scale[16];
    for (int s = 0; s < 16; s++)
        scale[s] = signed_max(x + 16 * s, 16) / (float)-qlev;
    float smx = signed_max(scale, 16);
    *d16 = wh_f32_to_f16(smx / (float)-slev);
    float d = h2f(*d16);
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int s = 0; s < 16; s++) {
        sc[s] = clampi(nearest(scale[s] * id), -slev, slev - 1);
        float dl = d * (float)sc[s];
        float il = dl != 0.0f ? 1.0f / dl : 0.0f;
        for (int j = 0; j < 16; j++)
            q[16 * s + j] = clampi(nearest(x[16 * s + j] * il), -qlev, qlev - 1);
    }
}

static void quant_q2_K(const float *src, void *dst, int64_t n)
{
    wh_block_q2_K *b = dst;
    for (int64_t i = 0; i < n / WH_QK_K; i++, b++, src += WH_QK_K) {
        int sc[16], mn[16];
        uint8_t q[WH_QK_K];
        quant_kmin(src, 16, 3, 15, &b->d, &b->dmin, sc, mn, q);
        for (int s = 0; s < 16; s++)
            b->scales[s] = (uint8_t)(sc[s] | mn[s] << 4);
        memset(b->qs, 0, sizeof b->qs);
        for (int e = 0; e < WH_QK_K; e++) {
            int h = e / 128, j = (e % 128) / 32, l = e % 32;
            b->qs[32 * h + l] |= (uint8_t)(q[e] << (2 * j));
        }
    }
}

static void quant_q3_K(const float *src, void *dst, int64_t n)
{
    wh_block_q3_K *b = dst;
    for (int64_t i = 0; i < n / WH_QK_K; i++, b++, src += WH_QK_K) {
        int sc[16], q[WH_QK_K];
        quant_ksym(src, 4, 32, &b->d, sc, q);
        memset(b->scales, 0, sizeof b->scales);
        for (int s = 0; s < 16; s++) {
            int l = sc[s] + 32;
            if (s < 8)
                b->scales[s] |= (uint8_t)(l & 0xF);
            else
                b->scales[s - 8] |= (uint8_t)((l & 0xF) << 4);
            b->scales[8 + (s & 3)] |= (uint8_t)((l >> 4) << (2 * (s >> 2)));
        }
        memset(b->qs, 0, sizeof b->qs);
        memset(b->hmask, 0, sizeof b->hmask);
        for (int e = 0; e < WH_QK_K; e++) {
            int h = e / 128, j = (e % 128) / 32, l = e % 32;
            int u = q[e] + 4; /* 0..7: low 2 bits in qs, bit 2 in hmask */
            b->qs[32 * h + l] |= (uint8_t)((u & 3) << (2 * j));
            if (u & 4)
                b->hmask[l] |= (uint8_t)(1 << (4 * h + j));
        }
    }
}

static void pack_q4k_scales(const int *sc, const int *mn, uint8_t *s)
{
    memset(s, 0, 12);
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            s[j] |= (uint8_t)sc[j];
            s[j + 4] |= (uint8_t)mn[j];
        } else {
            s[j + 4] = (uint8_t)((sc[j] & 0xF) | (mn[j] & 0xF) << 4);
            s[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
            s[j] |= (uint8_t)((mn[j] >> 4) << 6);
        }
    }
}

static void quant_q4_K(const float *src, void *dst, int64_t n)
{
    wh_block_q4_K *b = dst;
    for (int64_t i = 0; i < n / WH_QK_K; i++, b++, src += WH_QK_K) {
        int sc[8], mn[8];
        uint8_t q[WH_QK_K];
        quant_kmin(src, 8, 15, 63, &b->d, &b->dmin, sc, mn, q);
        pack_q4k_scales(sc, mn, b->scales);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                b->qs[32 * c + l] = (uint8_t)(q[64 * c + l] | q[64 * c + 32 + l] << 4);
    }
}

static void quant_q5_K(const float *src, void *dst, int64_t n)
{
    wh_block_q5_K *b = dst;
    for (int64_t i = 0; i < n / WH_QK_K; i++, b++, src += WH_QK_K) {
        int sc[8], mn[8];
        uint8_t q[WH_QK_K];
        quant_kmin(src, 8, 31, 63, &b->d, &b->dmin, sc, mn, q);
        pack_q4k_scales(sc, mn, b->scales);
        memset(b->qh, 0, sizeof b->qh);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) {
                int q0 = q[64 * c + l], q1 = q[64 * c + 32 + l];
                b->qs[32 * c + l] = (uint8_t)((q0 & 0xF) | (q1 & 0xF) << 4);
                b->qh[l] |= (uint8_t)((q0 >> 4) << (2 * c) | (q1 >> 4) << (2 * c + 1));
            }
    }
}

static void quant_q6_K(const float *src, void *dst, int64_t n)
{
    wh_block_q6_K *b = dst;
    for (int64_t i = 0; i < n / WH_QK_K; i++, b++, src += WH_QK_K) {
        int sc[16], q[WH_QK_K];
        quant_ksym(src, 32, 128, &b->d, sc, q);
        for (int s = 0; s < 16; s++)
            b->scales[s] = (int8_t)sc[s];
        memset(b->ql, 0, sizeof b->ql);
        memset(b->qh, 0, sizeof b->qh);
        for (int e = 0; e < WH_QK_K; e++) {
            int h = e / 128, k = (e % 128) / 32, l = e % 32;
            int u = q[e] + 32;
            b->ql[64 * h + l + 32 * (k & 1)] |= (uint8_t)((u & 0xF) << (k < 2 ? 0 : 4));
            b->qh[32 * h + l] |= (uint8_t)((u >> 4) << (2 * k));
        }
    }
}

/* ================= dot products (scalar twins) ================= */

static float dot_f32_ref(int64_t n, const void *w, const void *x)
{
    const float *a = w, *b = x;
    float s = 0.0f;
    for (int64_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static float dot_f16_ref(int64_t n, const void *w, const void *x)
{
    const uint8_t *a = w;
    const float *b = x;
    float s = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, a + 2 * i, 2);
        s += wh_f16_to_f32(h) * b[i];
    }
    return s;
}

static float dot_bf16_ref(int64_t n, const void *w, const void *x)
{
    const uint8_t *a = w;
    const float *b = x;
    float s = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, a + 2 * i, 2);
        s += wh_bf16_to_f32(h) * b[i];
    }
    return s;
}

/* Legacy quants against Q8_0: sum over blocks of d_w*d_x*sum(qw*qx) (+ m_w*d_x*sum(qx)). */
static float dot_q4_0_ref(int64_t n, const void *w, const void *x)
{
    const wh_block_q4_0 *a = w;
    const wh_block_q8_0 *b = x;
    float s = 0.0f;
    for (int64_t i = 0; i < n / WH_QK; i++, a++, b++) {
        int si = 0;
        for (int j = 0; j < 16; j++) {
            si += ((a->qs[j] & 0xF) - 8) * b->qs[j];
            si += ((a->qs[j] >> 4) - 8) * b->qs[j + 16];
        }
        s += h2f(a->d) * h2f(b->d) * (float)si;
    }
    return s;
}

static float dot_q4_1_ref(int64_t n, const void *w, const void *x)
{
    const wh_block_q4_1 *a = w;
    const wh_block_q8_0 *b = x;
    float s = 0.0f;
    for (int64_t i = 0; i < n / WH_QK; i++, a++, b++) {
        int si = 0, sy = 0;
        for (int j = 0; j < 16; j++) {
            si += (a->qs[j] & 0xF) * b->qs[j] + (a->qs[j] >> 4) * b->qs[j + 16];
            sy += b->qs[j] + b->qs[j + 16];
        }
        float dy = h2f(b->d);
        s += h2f(a->d) * dy * (float)si + h2f(a->m) * dy * (float)sy;
    }
    return s;
}

static float dot_q5_0_ref(int64_t n, const void *w, const void *x)
{
    const wh_block_q5_0 *a = w;
    const wh_block_q8_0 *b = x;
    float s = 0.0f;
    for (int64_t i = 0; i < n / WH_QK; i++, a++, b++) {
        uint32_t qh = le32(a->qh);
        int si = 0;
        for (int j = 0; j < 16; j++) {
            int q0 = ((a->qs[j] & 0xF) | (int)((qh >> j) & 1) << 4) - 16;
            int q1 = ((a->qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4) - 16;
            si += q0 * b->qs[j] + q1 * b->qs[j + 16];
        }
        s += h2f(a->d) * h2f(b->d) * (float)si;
    }
    return s;
}

static float dot_q5_1_ref(int64_t n, const void *w, const void *x)
{
    const wh_block_q5_1 *a = w;
    const wh_block_q8_0 *b = x;
    float s = 0.0f;
    for (int64_t i = 0; i < n / WH_QK; i++, a++, b++) {
        uint32_t qh = le32(a->qh);
        int si = 0, sy = 0;
        for (int j = 0; j < 16; j++) {
            int q0 = (a->qs[j] & 0xF) | (int)((qh >> j) & 1) << 4;
            int q1 = (a->qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            si += q0 * b->qs[j] + q1 * b->qs[j + 16];
            sy += b->qs[j] + b->qs[j + 16];
        }
        float dy = h2f(b->d);
        s += h2f(a->d) * dy * (float)si + h2f(a->m) * dy * (float)sy;
    }
    return s;
}

static float dot_q8_0_ref(int64_t n, const void *w, const void *x)
{
    const wh_block_q8_0 *a = w;
    const wh_block_q8_0 *b = x;
    float s = 0.0f;
    for (int64_t i = 0; i < n / WH_QK; i++, a++, b++) {
        int si = 0;
        for (int j = 0; j < 32; j++)
            si += a->qs[j] * b->qs[j];
        s += h2f(a->d) * h2f(b->d) * (float)si;
    }
    return s;
}

/* K-quants against Q8_K: per super-block d_x*(d*sum_s sc_s*sum(q*qx) - dmin*sum_s m_s*bsum_s). */
static float dot_q2_K_ref(int64_t n, const void *w, const void *x)
{
    const wh_block_q2_K *a = w;
    const wh_block_q8_K *b = x;
    float s = 0.0f;
    for (int64_t i = 0; i < n / WH_QK_K; i++, a++, b++) {
        int isum = 0, msum = 0;
        for (int e = 0; e < WH_QK_K; e++) {
            int h = e / 128, j = (e % 128) / 32, l = e % 32;
            int q = (a->qs[32 * h + l] >> (2 * j)) & 3;
            isum += (a->scales[e / 16] & 0xF) * q * b->qs[e];
        }
        for (int g = 0; g < 16; g++)
            msum += (a->scales[g] >> 4) * b->bsums[g];
        s += b->d * (h2f(a->d) * (float)isum - h2f(a->dmin) * (float)msum);
    }
    return s;
}

static float dot_q3_K_ref(int64_t n, const void *w, const void *x)
{
    const wh_block_q3_K *a = w;
    const wh_block_q8_K *b = x;
    float s = 0.0f;
    for (int64_t i = 0; i < n / WH_QK_K; i++, a++, b++) {
        int isum = 0;
        for (int e = 0; e < WH_QK_K; e++) {
            int h = e / 128, j = (e % 128) / 32, l = e % 32;
            int q = (a->qs[32 * h + l] >> (2 * j)) & 3;
            if (!(a->hmask[l] & (1 << (4 * h + j))))
                q -= 4;
            isum += wh_q3k_scale(a->scales, e / 16) * q * b->qs[e];
        }
        s += b->d * h2f(a->d) * (float)isum;
    }
    return s;
}

static float dot_q4_K_ref(int64_t n, const void *w, const void *x)
{
    const wh_block_q4_K *a = w;
    const wh_block_q8_K *b = x;
    float s = 0.0f;
    for (int64_t i = 0; i < n / WH_QK_K; i++, a++, b++) {
        int isum = 0, msum = 0;
        for (int sb = 0; sb < 8; sb++) {
            int sc, m, si = 0;
            wh_q4k_scale_min(a->scales, sb, &sc, &m);
            const uint8_t *q = a->qs + 32 * (sb / 2);
            for (int l = 0; l < 32; l++)
                si += (sb & 1 ? q[l] >> 4 : q[l] & 0xF) * b->qs[32 * sb + l];
            isum += sc * si;
            msum += m * (b->bsums[2 * sb] + b->bsums[2 * sb + 1]);
        }
        s += b->d * (h2f(a->d) * (float)isum - h2f(a->dmin) * (float)msum);
    }
    return s;
}

static float dot_q5_K_ref(int64_t n, const void *w, const void *x)
{
    const wh_block_q5_K *a = w;
    const wh_block_q8_K *b = x;
    float s = 0.0f;
    for (int64_t i = 0; i < n / WH_QK_K; i++, a++, b++) {
        int isum = 0, msum = 0;
        for (int sb = 0; sb < 8; sb++) {
            int sc, m, si = 0;
            wh_q4k_scale_min(a->scales, sb, &sc, &m);
            const uint8_t *q = a->qs + 32 * (sb / 2);
            for (int l = 0; l < 32; l++) {
                int v = (sb & 1 ? q[l] >> 4 : q[l] & 0xF) | ((a->qh[l] >> sb) & 1) << 4;
                si += v * b->qs[32 * sb + l];
            }
            isum += sc * si;
            msum += m * (b->bsums[2 * sb] + b->bsums[2 * sb + 1]);
        }
        s += b->d * (h2f(a->d) * (float)isum - h2f(a->dmin) * (float)msum);
    }
    return s;
}

static float dot_q6_K_ref(int64_t n, const void *w, const void *x)
{
    const wh_block_q6_K *a = w;
    const wh_block_q8_K *b = x;
    float s = 0.0f;
    for (int64_t i = 0; i < n / WH_QK_K; i++, a++, b++) {
        int isum = 0;
        for (int e = 0; e < WH_QK_K; e++) {
            int h = e / 128, k = (e % 128) / 32, l = e % 32;
            uint8_t lo = a->ql[64 * h + l + 32 * (k & 1)];
            int q = (k < 2 ? lo & 0xF : lo >> 4) | ((a->qh[32 * h + l] >> (2 * k)) & 3) << 4;
            isum += a->scales[e / 16] * (q - 32) * b->qs[e];
        }
        s += b->d * h2f(a->d) * (float)isum;
    }
    return s;
}

/* ================= traits and dispatch ================= */

#define NO_TYPE WH_DT_COUNT

static wh_quant_traits g_traits[WH_DT_COUNT] = {
    [WH_DT_F32] = {WH_DT_F32, WH_DT_F32, dequant_f32, quant_f32, quant_f32, dot_f32_ref,
                   dot_f32_ref, NULL},
    [WH_DT_F16] = {WH_DT_F16, WH_DT_F32, dequant_f16, quant_f16, quant_f16, dot_f16_ref,
                   dot_f16_ref, NULL},
    [WH_DT_BF16] = {WH_DT_BF16, WH_DT_F32, dequant_bf16, quant_bf16, quant_bf16, dot_bf16_ref,
                    dot_bf16_ref, NULL},
    [WH_DT_Q4_0] = {WH_DT_Q4_0, WH_DT_Q8_0, dequant_q4_0, quant_q4_0, quant_q4_0, dot_q4_0_ref,
                    dot_q4_0_ref, NULL},
    [WH_DT_Q4_1] = {WH_DT_Q4_1, WH_DT_Q8_0, dequant_q4_1, quant_q4_1, quant_q4_1, dot_q4_1_ref,
                    dot_q4_1_ref, NULL},
    [WH_DT_Q5_0] = {WH_DT_Q5_0, WH_DT_Q8_0, dequant_q5_0, quant_q5_0, quant_q5_0, dot_q5_0_ref,
                    dot_q5_0_ref, NULL},
    [WH_DT_Q5_1] = {WH_DT_Q5_1, WH_DT_Q8_0, dequant_q5_1, quant_q5_1, quant_q5_1, dot_q5_1_ref,
                    dot_q5_1_ref, NULL},
    [WH_DT_Q8_0] = {WH_DT_Q8_0, WH_DT_Q8_0, dequant_q8_0, quant_q8_0, quant_q8_0, dot_q8_0_ref,
                    dot_q8_0_ref, NULL},
    [WH_DT_Q2_K] = {WH_DT_Q2_K, WH_DT_Q8_K, dequant_q2_K, quant_q2_K, quant_q2_K, dot_q2_K_ref,
                    dot_q2_K_ref, NULL},
    [WH_DT_Q3_K] = {WH_DT_Q3_K, WH_DT_Q8_K, dequant_q3_K, quant_q3_K, quant_q3_K, dot_q3_K_ref,
                    dot_q3_K_ref, NULL},
    [WH_DT_Q4_K] = {WH_DT_Q4_K, WH_DT_Q8_K, dequant_q4_K, quant_q4_K, quant_q4_K, dot_q4_K_ref,
                    dot_q4_K_ref, NULL},
    [WH_DT_Q5_K] = {WH_DT_Q5_K, WH_DT_Q8_K, dequant_q5_K, quant_q5_K, quant_q5_K, dot_q5_K_ref,
                    dot_q5_K_ref, NULL},
    [WH_DT_Q6_K] = {WH_DT_Q6_K, WH_DT_Q8_K, dequant_q6_K, quant_q6_K, quant_q6_K, dot_q6_K_ref,
                    dot_q6_K_ref, NULL},
    [WH_DT_Q8_K] = {WH_DT_Q8_K, NO_TYPE, dequant_q8_K, quant_q8_K, quant_q8_K, NULL, NULL, NULL},
};

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_simd_active;
static wh_quant_level g_level = WH_QUANT_SCALAR;
static const wh_quant_simd_table *g_avx2, *g_avx512; /* built and supported by the CPU */

static void cpu_tables(void)
{
    if (wh_cpu_avx2())
        g_avx2 = wh_quant_avx2_table();
    if (g_avx2 != NULL && wh_cpu_avx512())
        g_avx512 = wh_quant_avx512_table();
}

/* vec_dot_simd (and quantize) from the highest level allowed that has a kernel for the
 * type; vec_dot takes them unless WHALE_NO_SIMD is set. */
static void pick_kernels(void)
{
    cpu_tables();
    const wh_quant_simd_table *hi = wh_env_flag("WHALE_NO_AVX512") ? NULL : g_avx512;
    int use = g_avx2 != NULL && !wh_env_flag("WHALE_NO_SIMD");
    for (int t = 0; t < WH_DT_COUNT; t++) {
        wh_quant_traits *tr = &g_traits[t];
        if (tr->dequantize == NULL || g_avx2 == NULL)
            continue;
        wh_vec_dot_fn vd =
            hi != NULL && hi->vec_dot[t] != NULL ? hi->vec_dot[t] : g_avx2->vec_dot[t];
        wh_quant_fn q =
            hi != NULL && hi->quantize[t] != NULL ? hi->quantize[t] : g_avx2->quantize[t];
        tr->vec_dot_simd = vd;
        if (use && vd != NULL)
            tr->vec_dot = vd;
        if (use && q != NULL)
            tr->quantize = q;
    }
    g_simd_active = use;
    g_level = !use ? WH_QUANT_SCALAR : hi != NULL ? WH_QUANT_AVX512 : WH_QUANT_AVX2;
}

const wh_quant_traits *wh_quant_traits_get(wh_dtype t)
{
    if ((int)t < 0 || t >= WH_DT_COUNT)
        return NULL;
    pthread_once(&g_once, pick_kernels);
    return g_traits[t].dequantize != NULL ? &g_traits[t] : NULL;
}

int wh_quant_simd_active(void)
{
    pthread_once(&g_once, pick_kernels);
    return g_simd_active;
}

const wh_quant_simd_table *wh_quant_level_table(wh_quant_level level)
{
    pthread_once(&g_once, pick_kernels);
    return level == WH_QUANT_AVX2 ? g_avx2 : level == WH_QUANT_AVX512 ? g_avx512 : NULL;
}

wh_quant_level wh_quant_level_active(void)
{
    pthread_once(&g_once, pick_kernels);
    return g_level;
}

static int check_row(wh_dtype t, int64_t n, const wh_quant_traits **tr, wh_error *err)
{
    *tr = wh_quant_traits_get(t);
    const wh_dtype_info *di = wh_dtype_get(t);
    if (*tr == NULL)
        return wh_err(err, WH_E_INVALID, "quantised row: dtype %s has no block codec",
                      di != NULL ? di->name : "(unknown)");
    if (n < 0 || n % di->block != 0)
        return wh_err(err, WH_E_INVALID,
                      "quantised row: length %lld is not a multiple of the %s block size "
                      "(%d elements)",
                      (long long)n, di->name, di->block);
    return WH_OK;
}

int wh_dequantize_row(wh_dtype t, const void *src, float *dst, int64_t n, wh_error *err)
{
    const wh_quant_traits *tr;
    int rc = check_row(t, n, &tr, err);
    if (rc != WH_OK)
        return rc;
    tr->dequantize(src, dst, n);
    return WH_OK;
}

int wh_quantize_row(wh_dtype t, const float *src, void *dst, int64_t n, wh_error *err)
{
    const wh_quant_traits *tr;
    int rc = check_row(t, n, &tr, err);
    if (rc != WH_OK)
        return rc;
    tr->quantize(src, dst, n);
    return WH_OK;
}
