/*
 * test_quant.c — the ggml block quantisations of src/kernels/quant.{h,c} and
 * their SIMD twins (quant_avx2.c, quant_avx512.c).
 *
 *  (a) every type's scalar dequantisation equals the independent numpy
 *      reference (tools/reference/quants.py -> tests/fixtures/quant/blocks.bin)
 *      bit for bit, directly and through wh_dequant_row / wh_dot_row;
 *  (b) hand-built blocks (known scales and quants) give the values the format
 *      definition says;
 *  (c) quantise -> dequantise error bounds on Gaussian rows (relative RMS error,
 *      bounds below), and the Q8_K block sums;
 *  (d) every SIMD dot (the dispatched one, and each level's table: AVX2 and,
 *      where the CPU has it, AVX-512) equals the scalar twin within 1e-5 of
 *      sum_i |w_i*x_i| (the per-block integer sums are exact in all; only the
 *      FP32 order of combining blocks differs), also for every tail length and
 *      unaligned rows of the AVX-512 Q8_0 kernel, 1-40 blocks and unaligned rows of
 *      the K-quant kernels, and extreme Q4_K / Q6_K blocks against activations over
 *      the whole int8 range (-128 included); the scalar twin equals the dot
 *      of the dequantised rows within the same bound, and the SIMD activation
 *      quantisers equal the scalar ones byte for byte; WHALE_NO_SIMD=1 selects
 *      the twins, WHALE_NO_AVX512=1 the AVX2 kernels;
 *  (e) bad sizes: rows that are not whole blocks, unknown ggml types and byte
 *      counts that do not match the shape are clear errors.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/fp.h"
#include "formats/gguf.h"
#include "formats/tensor.h"
#include "kernels/linear.h"
#include "kernels/quant.h"

static const wh_dtype k_weight_types[] = {WH_DT_Q4_0, WH_DT_Q4_1, WH_DT_Q5_0, WH_DT_Q5_1,
                                          WH_DT_Q8_0, WH_DT_Q2_K, WH_DT_Q3_K, WH_DT_Q4_K,
                                          WH_DT_Q5_K, WH_DT_Q6_K};
#define N_WEIGHT_TYPES (int)(sizeof k_weight_types / sizeof k_weight_types[0])

/* ---- small deterministic RNG ---- */
static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd_u32(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng >> 16);
}
static float rnd_gauss(void)
{
    float u1 = ((float)(rnd_u32() & 0xffffff) + 1.0f) / 16777217.0f;
    float u2 = (float)(rnd_u32() & 0xffffff) / 16777216.0f;
    return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853f * u2);
}

static size_t row_bytes(wh_dtype t, int64_t n)
{
    return (size_t)wh_dtype_row_bytes(t, n);
}

/* ================= (a) the numpy reference ================= */

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n);
    if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static void test_reference_fixture(void **state)
{
    (void)state;
    size_t len = 0;
    uint8_t *buf = read_file("tests/fixtures/quant/blocks.bin", &len);
    assert_non_null(buf);
    assert_true(len >= 12 && memcmp(buf, "WHQB", 4) == 0 && rd32(buf + 4) == 1);
    uint32_t ntypes = rd32(buf + 8);
    assert_int_equal(ntypes, 11);
    size_t pos = 12;
    for (uint32_t k = 0; k < ntypes; k++) {
        assert_true(pos + 16 <= len);
        uint32_t gid = rd32(buf + pos), nb = rd32(buf + pos + 4);
        uint32_t bb = rd32(buf + pos + 8), be = rd32(buf + pos + 12);
        pos += 16;
        int dt = wh_gguf_dtype_from_ggml(gid);
        assert_true(dt >= 0);
        const wh_dtype_info *di = wh_dtype_get((wh_dtype)dt);
        assert_int_equal(di->block, (int)be);
        assert_int_equal(di->block_bytes, (int)bb);
        size_t n = (size_t)nb * be;
        assert_true(pos + (size_t)nb * bb + n * 4 <= len);
        const uint8_t *raw = buf + pos;
        const uint8_t *want = raw + (size_t)nb * bb;
        float *got = malloc(n * sizeof *got);
        wh_error err;
        assert_int_equal(wh_dequantize_row((wh_dtype)dt, raw, got, (int64_t)n, &err), WH_OK);
        int bad = -1;
        for (size_t i = 0; i < n && bad < 0; i++)
            if (memcmp(&got[i], want + 4 * i, 4) != 0)
                bad = (int)i;
        if (bad >= 0) {
            float w;
            memcpy(&w, want + 4 * (size_t)bad, 4);
            print_error("%s: element %d: got %.9g want %.9g\n", di->name, bad, got[bad], w);
        }
        assert_int_equal(bad, -1);

        /* through linear.c: a 2-row tensor view of the same bytes (weight types only) */
        if (di->computable && nb % 2 == 0) {
            wh_tensor t = {0};
            t.name = "t";
            t.dtype = (wh_dtype)dt;
            t.n_dims = 2;
            t.ne[0] = (int64_t)n / 2;
            t.ne[1] = 2;
            t.ne[2] = t.ne[3] = 1;
            t.data = raw;
            t.nbytes = (uint64_t)nb * bb;
            float *row = malloc(n / 2 * sizeof *row);
            float *x = malloc(n / 2 * sizeof *x);
            for (int r = 0; r < 2; r++) {
                wh_dequant_row(&t, r, row);
                assert_memory_equal(row, want + 4 * (n / 2) * (size_t)r, n / 2 * 4);
                double s = 0.0, sa = 0.0;
                for (size_t i = 0; i < n / 2; i++) {
                    x[i] = rnd_gauss();
                    s += (double)row[i] * x[i];
                    sa += fabs((double)row[i] * x[i]);
                }
                assert_true(fabs(wh_dot_row(&t, r, x) - s) <= 1e-5 * sa + 1e-30);
            }
            free(row);
            free(x);
        }
        free(got);
        pos += (size_t)nb * bb + n * 4;
    }
    assert_int_equal(pos, len);
    free(buf);
}

/* ================= (b) hand-built blocks ================= */

static uint16_t h16(float f)
{
    return wh_f32_to_f16(f);
}

static void expect_values(wh_dtype t, const void *blk, const float *want, int n)
{
    float got[256];
    wh_error err;
    assert_int_equal(wh_dequantize_row(t, blk, got, n, &err), WH_OK);
    for (int i = 0; i < n; i++) {
        if (got[i] != want[i])
            print_error("%s element %d: got %g want %g\n", wh_dtype_get(t)->name, i, got[i],
                        want[i]);
        assert_true(got[i] == want[i]);
    }
}

static void test_hand_built_legacy(void **state)
{
    (void)state;
    float want[32];
    /* Q4_0, d = 1, element j = j%16 (low nibbles), element j+16 = 15-j: value q-8 */
    wh_block_q4_0 b40 = {h16(1.0f), {0}};
    for (int j = 0; j < 16; j++) {
        b40.qs[j] = (uint8_t)(j | (15 - j) << 4);
        want[j] = (float)(j - 8);
        want[j + 16] = (float)(15 - j - 8);
    }
    expect_values(WH_DT_Q4_0, &b40, want, 32);

    /* Q4_1, d = 0.5, m = -1: value q/2 - 1 */
    wh_block_q4_1 b41 = {h16(0.5f), h16(-1.0f), {0}};
    for (int j = 0; j < 16; j++) {
        b41.qs[j] = (uint8_t)(j | (15 - j) << 4);
        want[j] = (float)j * 0.5f - 1.0f;
        want[j + 16] = (float)(15 - j) * 0.5f - 1.0f;
    }
    expect_values(WH_DT_Q4_1, &b41, want, 32);

    /* Q5_0, d = 2, fifth bits 0xA5A5F00F: value 2*(q-16) */
    uint32_t qh = 0xA5A5F00Fu;
    wh_block_q5_0 b50 = {h16(2.0f), {0}, {0}};
    memcpy(b50.qh, &qh, 4);
    for (int j = 0; j < 16; j++) {
        b50.qs[j] = (uint8_t)(j | (15 - j) << 4);
        want[j] = 2.0f * (float)((j | (int)((qh >> j) & 1) << 4) - 16);
        want[j + 16] = 2.0f * (float)(((15 - j) | (int)((qh >> (j + 16)) & 1) << 4) - 16);
    }
    expect_values(WH_DT_Q5_0, &b50, want, 32);

    /* Q5_1, d = 0.25, m = 3: value q/4 + 3 */
    wh_block_q5_1 b51 = {h16(0.25f), h16(3.0f), {0}, {0}};
    memcpy(b51.qh, &qh, 4);
    memcpy(b51.qs, b50.qs, 16);
    for (int j = 0; j < 32; j++)
        want[j] = (want[j] / 2.0f + 16.0f) * 0.25f + 3.0f;
    expect_values(WH_DT_Q5_1, &b51, want, 32);

    /* Q8_0, d = 0.125, q = j - 16 */
    wh_block_q8_0 b80 = {h16(0.125f), {0}};
    for (int j = 0; j < 32; j++) {
        b80.qs[j] = (int8_t)(j - 16);
        want[j] = (float)(j - 16) * 0.125f;
    }
    expect_values(WH_DT_Q8_0, &b80, want, 32);
}

/* quants q(e) for element e with 0 <= q < lim, varied so that a wrong bit position shows */
static int pattern(int e, int lim)
{
    return (e * 7 + e / 16 + e / 64) % lim;
}

static void test_hand_built_kquants(void **state)
{
    (void)state;
    float want[256];

    /* Q2_K: d = 1, dmin = 0.5, sub-block s (16 elements): scale s, min 15-s */
    wh_block_q2_K b2;
    memset(&b2, 0, sizeof b2);
    b2.d = h16(1.0f);
    b2.dmin = h16(0.5f);
    for (int s = 0; s < 16; s++)
        b2.scales[s] = (uint8_t)(s | (15 - s) << 4);
    for (int e = 0; e < 256; e++) {
        int q = pattern(e, 4), h = e / 128, j = (e % 128) / 32, l = e % 32;
        b2.qs[32 * h + l] |= (uint8_t)(q << (2 * j));
        want[e] = (float)(e / 16) * (float)q - 0.5f * (float)(15 - e / 16);
    }
    expect_values(WH_DT_Q2_K, &b2, want, 256);

    /* Q3_K: d = 0.5, 6-bit scale of sub-block s = 4s+1 (-31..29 after -32), q in -4..3 */
    wh_block_q3_K b3;
    memset(&b3, 0, sizeof b3);
    b3.d = h16(0.5f);
    for (int s = 0; s < 16; s++) {
        int v = 4 * s + 1;
        if (s < 8)
            b3.scales[s] |= (uint8_t)(v & 15);
        else
            b3.scales[s - 8] |= (uint8_t)((v & 15) << 4);
        b3.scales[8 + s % 4] |= (uint8_t)((v >> 4) << (2 * (s / 4)));
    }
    for (int e = 0; e < 256; e++) {
        int u = pattern(e, 8), h = e / 128, j = (e % 128) / 32, l = e % 32;
        b3.qs[32 * h + l] |= (uint8_t)((u & 3) << (2 * j));
        if (u & 4) /* hmask bit set: no -4 */
            b3.hmask[l] |= (uint8_t)(1 << (4 * h + j));
        int q = (u & 3) - ((u & 4) ? 0 : 4);
        want[e] = 0.5f * (float)(4 * (e / 16) + 1 - 32) * (float)q;
    }
    expect_values(WH_DT_Q3_K, &b3, want, 256);

    /* Q4_K / Q5_K: d = 1, dmin = 0.25, sub-block s (32 elements): scale 10+7s, min 63-5s
     * (both use the high 2 bits for s >= 2) */
    int sc[8], mn[8];
    uint8_t s12[12] = {0};
    for (int s = 0; s < 8; s++) {
        sc[s] = 10 + 7 * s;
        mn[s] = 63 - 5 * s;
        if (s < 4) {
            s12[s] |= (uint8_t)(sc[s] & 63);
            s12[s + 4] |= (uint8_t)(mn[s] & 63);
        } else {
            s12[s + 4] = (uint8_t)((sc[s] & 15) | (mn[s] & 15) << 4);
            s12[s - 4] |= (uint8_t)((sc[s] >> 4) << 6);
            s12[s] |= (uint8_t)((mn[s] >> 4) << 6);
        }
    }
    wh_block_q4_K b4;
    memset(&b4, 0, sizeof b4);
    b4.d = h16(1.0f);
    b4.dmin = h16(0.25f);
    memcpy(b4.scales, s12, 12);
    for (int e = 0; e < 256; e++) {
        int q = e % 16, c = e / 64, hi = (e % 64) / 32, l = e % 32;
        b4.qs[32 * c + l] |= (uint8_t)(q << (4 * hi));
        want[e] = (float)sc[e / 32] * (float)q - 0.25f * (float)mn[e / 32];
    }
    expect_values(WH_DT_Q4_K, &b4, want, 256);

    wh_block_q5_K b5;
    memset(&b5, 0, sizeof b5);
    b5.d = h16(1.0f);
    b5.dmin = h16(0.25f);
    memcpy(b5.scales, s12, 12);
    for (int e = 0; e < 256; e++) {
        int q = pattern(e, 32), c = e / 64, hi = (e % 64) / 32, l = e % 32;
        b5.qs[32 * c + l] |= (uint8_t)((q & 15) << (4 * hi));
        b5.qh[l] |= (uint8_t)((q >> 4) << (e / 32));
        want[e] = (float)sc[e / 32] * (float)q - 0.25f * (float)mn[e / 32];
    }
    expect_values(WH_DT_Q5_K, &b5, want, 256);

    /* Q6_K: d = 0.5, scale of sub-block s = 9s - 70, q - 32 with q = pattern in 0..63 */
    wh_block_q6_K b6;
    memset(&b6, 0, sizeof b6);
    b6.d = h16(0.5f);
    for (int s = 0; s < 16; s++)
        b6.scales[s] = (int8_t)(9 * s - 70);
    for (int e = 0; e < 256; e++) {
        int q = pattern(e, 64), h = e / 128, k = (e % 128) / 32, l = e % 32;
        b6.ql[64 * h + 32 * (k & 1) + l] |= (uint8_t)((q & 15) << (k < 2 ? 0 : 4));
        b6.qh[32 * h + l] |= (uint8_t)((q >> 4) << (2 * k));
        want[e] = 0.5f * (float)(9 * (e / 16) - 70) * (float)(q - 32);
    }
    expect_values(WH_DT_Q6_K, &b6, want, 256);

    /* Q8_K: d = 0.75, q = e - 128 clamped to int8 */
    wh_block_q8_K b8;
    memset(&b8, 0, sizeof b8);
    b8.d = 0.75f;
    for (int e = 0; e < 256; e++) {
        b8.qs[e] = (int8_t)(e - 128);
        want[e] = 0.75f * (float)(e - 128);
    }
    expect_values(WH_DT_Q8_K, &b8, want, 256);
}

/* ================= (c) quantise -> dequantise ================= */

typedef struct err_bound {
    wh_dtype t;
    double rel_rms; /* RMS error / RMS of the data, Gaussian rows */
} err_bound;

/* Round-to-nearest with per-block scales on Gaussian data: the RMS error is about
 * step/sqrt(12), step = block range / levels. Measured (worst 256-element span):
 * Q4_0 .094, Q4_1 .088, Q5_0 .049, Q5_1 .043, Q8_0 .0061, Q2_K .36, Q3_K .17,
 * Q4_K .090, Q5_K .043, Q6_K .021, Q8_K .0083; the bounds are ~1.3x those. */
static const err_bound k_bounds[] = {
    {WH_DT_Q4_0, 0.12},  {WH_DT_Q4_1, 0.11},  {WH_DT_Q5_0, 0.062}, {WH_DT_Q5_1, 0.055},
    {WH_DT_Q8_0, 0.008}, {WH_DT_Q2_K, 0.45},  {WH_DT_Q3_K, 0.22},  {WH_DT_Q4_K, 0.115},
    {WH_DT_Q5_K, 0.056}, {WH_DT_Q6_K, 0.028}, {WH_DT_Q8_K, 0.011},
};

static void test_roundtrip_error(void **state)
{
    (void)state;
    enum { N = 8192 };
    static float x[N], y[N];
    static uint8_t q[N * 2];
    for (int i = 0; i < N; i++)
        x[i] = rnd_gauss() * (i % 512 < 256 ? 1.0f : 0.01f); /* two magnitudes */
    for (size_t k = 0; k < sizeof k_bounds / sizeof k_bounds[0]; k++) {
        const wh_quant_traits *tr = wh_quant_traits_get(k_bounds[k].t);
        assert_non_null(tr);
        tr->quantize_ref(x, q, N);
        tr->dequantize(q, y, N);
        /* relative RMS error per 256-element span (each span has one magnitude) */
        double worst = 0.0;
        for (int s = 0; s < N; s += 256) {
            double e2 = 0.0, x2 = 0.0;
            for (int i = s; i < s + 256; i++) {
                e2 += ((double)y[i] - x[i]) * ((double)y[i] - x[i]);
                x2 += (double)x[i] * x[i];
            }
            double r = sqrt(e2 / x2);
            worst = r > worst ? r : worst;
        }
        if (worst > k_bounds[k].rel_rms)
            print_error("%s: relative RMS error %.4f > %.4f\n", wh_dtype_get(k_bounds[k].t)->name,
                        worst, k_bounds[k].rel_rms);
        assert_true(worst <= k_bounds[k].rel_rms);
    }
    /* Q8_K block sums are the sums of their 16 quants */
    const wh_quant_traits *t8 = wh_quant_traits_get(WH_DT_Q8_K);
    t8->quantize_ref(x, q, N);
    const wh_block_q8_K *b = (const wh_block_q8_K *)q;
    for (int i = 0; i < N / 256; i++)
        for (int g = 0; g < 16; g++) {
            int s = 0;
            for (int j = 0; j < 16; j++)
                s += b[i].qs[16 * g + j];
            assert_int_equal(s, b[i].bsums[g]);
        }
    /* zeros quantise to zeros */
    memset(x, 0, sizeof x);
    for (size_t k = 0; k < sizeof k_bounds / sizeof k_bounds[0]; k++) {
        const wh_quant_traits *tr = wh_quant_traits_get(k_bounds[k].t);
        tr->quantize_ref(x, q, 512);
        tr->dequantize(q, y, 512);
        for (int i = 0; i < 512; i++)
            assert_true(y[i] == 0.0f);
    }
}

/* ================= (d) SIMD against the scalar twins ================= */

/* Random blocks: mostly quantised Gaussian data, every other row raw random bytes with
 * finite scales (exercises every bit pattern of the quants). */
static void random_weight_row(wh_dtype t, uint8_t *w, int64_t n, int raw)
{
    static float x[16384];
    for (int64_t i = 0; i < n; i++)
        x[i] = rnd_gauss();
    wh_quant_traits_get(t)->quantize_ref(x, w, n);
    if (!raw)
        return;
    const wh_dtype_info *di = wh_dtype_get(t);
    /* overwrite everything but the f16 scale fields */
    for (int64_t b = 0; b < n / di->block; b++) {
        uint8_t *blk = w + b * di->block_bytes;
        uint8_t keep[8];
        int off = 0, len = 0;
        switch (t) {
        case WH_DT_Q4_0:
        case WH_DT_Q5_0:
        case WH_DT_Q8_0:
            off = 0;
            len = 2;
            break;
        case WH_DT_Q4_1:
        case WH_DT_Q5_1:
        case WH_DT_Q4_K:
        case WH_DT_Q5_K:
            off = 0;
            len = 4;
            break;
        case WH_DT_Q2_K:
            off = 80;
            len = 4;
            break;
        case WH_DT_Q3_K:
            off = 108;
            len = 2;
            break;
        case WH_DT_Q6_K:
            off = 208;
            len = 2;
            break;
        default:
            break;
        }
        memcpy(keep, blk + off, (size_t)len);
        for (int j = 0; j < di->block_bytes; j++)
            blk[j] = (uint8_t)rnd_u32();
        memcpy(blk + off, keep, (size_t)len);
    }
}

static void check_simd(const char *what, wh_vec_dot_fn f, wh_dtype t, int64_t n, int raw,
                       const void *w, const void *xa, float ref, double tol)
{
    if (f == NULL)
        return;
    float simd = f(n, w, xa);
    if (fabs(simd - ref) > tol)
        print_error("%s n=%lld raw=%d: %s dot %.9g vs scalar %.9g (tol %.3g)\n",
                    wh_dtype_get(t)->name, (long long)n, raw, what, simd, ref, tol);
    assert_true(fabs(simd - ref) <= tol);
}

/* The scalar twin of the weight row w against the activation row xa (its vec_dot_type)
 * equals the dot of the dequantised rows, and every SIMD dot (the dispatched one, then each
 * level's own, whatever the environment chose) equals the twin, within 1e-5 of sum |terms|. */
static void check_dot_rows(wh_dtype t, int64_t n, int raw, const void *w, const void *xa)
{
    const wh_quant_traits *tr = wh_quant_traits_get(t);
    const wh_quant_traits *ta = wh_quant_traits_get(tr->vec_dot_type);
    static float wd[16384], xd[16384];
    tr->dequantize(w, wd, n);
    ta->dequantize(xa, xd, n);
    double exact = 0.0, sabs = 0.0;
    for (int64_t i = 0; i < n; i++) {
        exact += (double)wd[i] * xd[i];
        sabs += fabs((double)wd[i] * xd[i]);
    }
    double tol = 1e-5 * sabs + 1e-30;
    float ref = tr->vec_dot_ref(n, w, xa);
    if (fabs(ref - exact) > tol)
        print_error("%s n=%lld: scalar dot %.9g vs dequantised %.9g (tol %.3g)\n",
                    wh_dtype_get(t)->name, (long long)n, ref, exact, tol);
    assert_true(fabs(ref - exact) <= tol);
    check_simd("SIMD", tr->vec_dot_simd, t, n, raw, w, xa, ref, tol);
    const wh_quant_simd_table *avx2 = wh_quant_level_table(WH_QUANT_AVX2);
    const wh_quant_simd_table *avx512 = wh_quant_level_table(WH_QUANT_AVX512);
    if (avx2 != NULL)
        check_simd("AVX2", avx2->vec_dot[t], t, n, raw, w, xa, ref, tol);
    if (avx512 != NULL)
        check_simd("AVX-512", avx512->vec_dot[t], t, n, raw, w, xa, ref, tol);
}

/* The weight row at w_buf + woff and the activations at x_buf + xoff (unaligned rows). */
static void check_dot_at(wh_dtype t, int64_t n, int raw, int woff, int xoff)
{
    const wh_quant_traits *tr = wh_quant_traits_get(t);
    const wh_quant_traits *ta = wh_quant_traits_get(tr->vec_dot_type);
    static uint8_t w_buf[16384 * 4 + 64], xa_buf[16384 * 4 + 64], xb[16384 * 4];
    static float xf[16384];
    uint8_t *w = w_buf + woff, *xa = xa_buf + xoff;
    random_weight_row(t, w, n, raw);
    for (int64_t i = 0; i < n; i++)
        xf[i] = rnd_gauss();
    /* activations: the SIMD quantiser equals the scalar one byte for byte */
    ta->quantize_ref(xf, xa, n);
    ta->quantize(xf, xb, n);
    assert_memory_equal(xa, xb, row_bytes(tr->vec_dot_type, n));
    check_dot_rows(t, n, raw, w, xa);
}

static void check_dot(wh_dtype t, int64_t n, int raw)
{
    check_dot_at(t, n, raw, 0, 0);
}

static void test_simd_vs_scalar(void **state)
{
    (void)state;
    if (wh_quant_traits_get(WH_DT_Q4_K)->vec_dot_simd == NULL)
        print_message("note: no AVX2 kernels on this build/CPU; checking the scalar twins only\n");
    static const int64_t sizes_legacy[] = {32, 96, 4096, 11008};
    static const int64_t sizes_k[] = {256, 768, 4096, 11008 / 256 * 256};
    for (int k = 0; k < N_WEIGHT_TYPES; k++) {
        wh_dtype t = k_weight_types[k];
        const int64_t *sizes = wh_dtype_get(t)->block == 32 ? sizes_legacy : sizes_k;
        for (int s = 0; s < 4; s++)
            for (int raw = 0; raw < 2; raw++)
                check_dot(t, sizes[s], raw);
    }
    static const int64_t sizes_f[] = {1, 7, 8, 33, 4096, 4103};
    for (int s = 0; s < 6; s++) {
        check_dot(WH_DT_F32, sizes_f[s], 0);
        check_dot(WH_DT_F16, sizes_f[s], 0);
        check_dot(WH_DT_BF16, sizes_f[s], 0);
    }
}

/* The AVX-512 Q8_0 kernel reads rows in groups of 32 blocks (17 chunks of 64 bytes)
 * with a masked partial group: every block count from 1 to 70 (all 31 tail lengths,
 * 0-2 whole groups), the 1536- and 8960-input rows of a 1.5B model, rows at every
 * even address mod 64 (blocks are 34 bytes and tensors 32-byte aligned: rows are
 * 2-byte aligned, and the scalar twins read the f16 fields as such); for all levels
 * (test_simd_vs_scalar covers the other types). */
static void test_q8_0_lengths(void **state)
{
    (void)state;
    if (wh_quant_level_table(WH_QUANT_AVX512) == NULL)
        print_message("note: no AVX-512 kernels on this build/CPU\n");
    for (int64_t nb = 1; nb <= 70; nb++)
        for (int raw = 0; raw < 2; raw++)
            check_dot_at(WH_DT_Q8_0, nb * WH_QK, raw, (int)(nb % 7) * 2, (int)(nb % 5) * 6);
    static const int64_t sizes[] = {1536, 8960};
    for (int s = 0; s < 2; s++)
        for (int off = 0; off < 64; off += 6)
            check_dot_at(WH_DT_Q8_0, sizes[s], (off / 6) & 1, off, 62 - off);
}

/* The AVX-512 Q4_K and Q6_K kernels take the f16 scales of 16 blocks at a time (masked for
 * the last, partial group): every block count from 1 to 40 (1-15 blocks, one group, one
 * group and 1-15, two groups, two and 1-8), the 1536- and 8960-input rows of a 1.5B model,
 * rows at even addresses (weight blocks are 2-byte aligned, Q8_K blocks 4-byte); the other
 * K-quants ride along for the AVX2 kernels. */
static void test_kquant_lengths(void **state)
{
    (void)state;
    static const wh_dtype types[] = {WH_DT_Q2_K, WH_DT_Q3_K, WH_DT_Q4_K, WH_DT_Q5_K, WH_DT_Q6_K};
    for (int k = 0; k < 5; k++) {
        for (int64_t nb = 1; nb <= 40; nb++)
            check_dot_at(types[k], nb * WH_QK_K, (int)(nb & 1), (int)(nb % 7) * 2,
                         (int)(nb % 5) * 4);
        check_dot_at(types[k], 1536, 1, 62, 4);
        check_dot_at(types[k], 8960, 0, 2, 60);
        check_dot_at(types[k], 8960, 1, 30, 12);
    }
}

/* One of the bytes that are extreme for some field of a block, or a random one. */
static uint8_t extreme_byte(void)
{
    static const uint8_t pick[] = {0x00, 0xFF, 0x80, 0x7F, 0x0F, 0xF0, 0x3F, 0xC0, 0x33, 0xCC};
    uint32_t r = rnd_u32() % 12;
    return r < 10 ? pick[r] : (uint8_t)rnd_u32();
}

/* Q8_K activations with every quant in `mode`: 0 all -128, 1 all 127, 2 alternating -128 /
 * 127, 3 picked from -128, -127, 127, 0 or random; the block sums to match. -128 is beyond
 * what the quantiser emits (-127..127), but the Q4_K and Q6_K kernels are exact for any
 * int8 (a sum of 4 products is at most 4*63*128 = 32256 in magnitude, an int16). */
static void extreme_q8_K(wh_block_q8_K *b, int64_t nb, int mode)
{
    static const int8_t pick[] = {-128, -127, 127, 0};
    for (int64_t i = 0; i < nb; i++) {
        b[i].d = 0.01f * (float)(1 + i % 5);
        for (int e = 0; e < WH_QK_K; e++) {
            uint32_t r = rnd_u32();
            b[i].qs[e] = mode == 0   ? -128
                         : mode == 1 ? 127
                         : mode == 2 ? (e & 1 ? 127 : -128)
                         : r % 5 < 4 ? pick[r % 5]
                                     : (int8_t)(r >> 8);
        }
        for (int g = 0; g < 16; g++) {
            int sum = 0;
            for (int j = 0; j < 16; j++)
                sum += b[i].qs[16 * g + j];
            b[i].bsums[g] = (int16_t)sum;
        }
    }
}

/* Q4_K and Q6_K weight rows whose bytes are all 0xFF (largest quants, Q4_K's largest scales
 * and mins, Q6_K scale -1), all 0x80 / 0x7F (Q6_K scales -128 / 127), all 0x00, or picked
 * per byte from such values, with finite f16 scales; against extreme activations. */
static void test_kquant_extremes(void **state)
{
    (void)state;
    enum { NB = 18 };
    static const wh_dtype types[] = {WH_DT_Q4_K, WH_DT_Q6_K};
    static wh_block_q8_K xa[NB];
    static uint8_t w[NB * 210];
    for (int k = 0; k < 2; k++) {
        wh_dtype t = types[k];
        int bb = wh_dtype_get(t)->block_bytes;
        for (int wmode = 0; wmode < 5; wmode++)
            for (int xmode = 0; xmode < 4; xmode++) {
                static const uint8_t fill[] = {0xFF, 0x80, 0x7F, 0x00};
                for (int i = 0; i < NB * bb; i++)
                    w[i] = wmode < 4 ? fill[wmode] : extreme_byte();
                for (int i = 0; i < NB; i++) {
                    uint16_t d = h16(0.5f + 0.125f * (float)(i % 7));
                    uint16_t dmin = h16(i & 1 ? 0.25f : 3.0f);
                    uint8_t *blk = w + i * bb;
                    if (t == WH_DT_Q4_K) {
                        memcpy(blk, &d, 2);
                        memcpy(blk + 2, &dmin, 2);
                    } else {
                        memcpy(blk + 208, &d, 2);
                    }
                }
                extreme_q8_K(xa, NB, xmode);
                for (int64_t nb = 1; nb <= NB; nb += 17) /* one block, then a group and 2 */
                    check_dot_rows(t, nb * WH_QK_K, wmode, w, xa);
            }
    }
}

/* Children for test_env: each picks the kernels under its own environment. */
static int child_no_simd(void)
{
    setenv("WHALE_NO_SIMD", "1", 1);
    const wh_quant_traits *tr = wh_quant_traits_get(WH_DT_Q4_K);
    const wh_quant_traits *q8 = wh_quant_traits_get(WH_DT_Q8_0);
    return !wh_quant_simd_active() && wh_quant_level_active() == WH_QUANT_SCALAR &&
           tr->vec_dot == tr->vec_dot_ref && q8->vec_dot == q8->vec_dot_ref;
}

static int child_no_avx512(void)
{
    unsetenv("WHALE_NO_SIMD");
    setenv("WHALE_NO_AVX512", "1", 1);
    const wh_quant_traits *q8 = wh_quant_traits_get(WH_DT_Q8_0);
    const wh_quant_simd_table *avx2 = wh_quant_level_table(WH_QUANT_AVX2);
    if (avx2 == NULL)
        return wh_quant_level_active() == WH_QUANT_SCALAR && q8->vec_dot == q8->vec_dot_ref;
    return wh_quant_level_active() == WH_QUANT_AVX2 && q8->vec_dot == avx2->vec_dot[WH_DT_Q8_0] &&
           q8->vec_dot_simd == q8->vec_dot;
}

static int child_default(void)
{
    unsetenv("WHALE_NO_SIMD");
    unsetenv("WHALE_NO_AVX512");
    const wh_quant_traits *q8 = wh_quant_traits_get(WH_DT_Q8_0);
    const wh_quant_traits *q4k = wh_quant_traits_get(WH_DT_Q4_K);
    const wh_quant_simd_table *avx2 = wh_quant_level_table(WH_QUANT_AVX2);
    const wh_quant_simd_table *avx512 = wh_quant_level_table(WH_QUANT_AVX512);
    if (avx512 != NULL) /* its Q8_0 kernel; the AVX2 one where it has none */
        return wh_quant_level_active() == WH_QUANT_AVX512 &&
               q8->vec_dot == avx512->vec_dot[WH_DT_Q8_0] &&
               q4k->vec_dot == (avx512->vec_dot[WH_DT_Q4_K] != NULL ? avx512->vec_dot[WH_DT_Q4_K]
                                                                    : avx2->vec_dot[WH_DT_Q4_K]);
    if (avx2 != NULL)
        return wh_quant_level_active() == WH_QUANT_AVX2 && q8->vec_dot == avx2->vec_dot[WH_DT_Q8_0];
    return wh_quant_level_active() == WH_QUANT_SCALAR && q8->vec_dot == q8->vec_dot_ref;
}

static void run_child(int (*fn)(void))
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(fn() ? 0 : 1);
    int status = 0;
    assert_true(waitpid(pid, &status, 0) == pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* The kernel choice happens once per process (this test runs first, before this
 * process picks): ask children started with WHALE_NO_SIMD=1, WHALE_NO_AVX512=1, neither. */
static void test_no_simd_env(void **state)
{
    (void)state;
    run_child(child_no_simd);
    run_child(child_no_avx512);
    run_child(child_default);
}

/* ================= (e) bad sizes ================= */

static void test_bad_row_lengths(void **state)
{
    (void)state;
    wh_error err;
    float dst[512];
    uint8_t src[1024] = {0};
    assert_int_equal(wh_dequantize_row(WH_DT_Q4_K, src, dst, 128, &err), WH_E_INVALID);
    assert_non_null(strstr(err.msg, "not a multiple of the Q4_K block size (256 elements)"));
    assert_int_equal(wh_quantize_row(WH_DT_Q8_0, dst, src, 48, &err), WH_E_INVALID);
    assert_int_equal(wh_dequantize_row(WH_DT_I32, src, dst, 32, &err), WH_E_INVALID);
    assert_int_equal(wh_dtype_row_bytes(WH_DT_Q6_K, 4096 + 128), 0);
    assert_int_equal(wh_dtype_row_bytes(WH_DT_Q6_K, 4096), 16 * 210);
    assert_null(wh_quant_traits_get(WH_DT_F8_E4M3));

    /* the tensor store: a Q5_K row of 128 elements, and a byte count off by one block */
    wh_tensor_store st;
    wh_store_init(&st);
    wh_tensor t = {0};
    t.name = "blk.0.ffn_down.weight";
    t.dtype = WH_DT_Q5_K;
    t.n_dims = 2;
    t.ne[0] = 128;
    t.ne[1] = 2;
    t.ne[2] = t.ne[3] = 1;
    t.data = src;
    t.nbytes = 176;
    t.file = -1;
    assert_int_equal(wh_store_add(&st, &t, &err), WH_E_FORMAT);
    assert_non_null(strstr(err.msg, "row length 128 is not a multiple of the Q5_K block size"));
    t.ne[0] = 256;
    t.nbytes = 176;
    assert_int_equal(wh_store_add(&st, &t, &err), WH_E_FORMAT);
    assert_non_null(strstr(err.msg, "holds 176 bytes but shape and dtype Q5_K need 352"));
    t.nbytes = 352;
    assert_int_equal(wh_store_add(&st, &t, &err), WH_OK);
    wh_store_free(&st);
}

/* A minimal GGUF v3 file with one 2-D tensor of ggml type `gt` and row length ne0. */
static void write_gguf(const char *path, uint32_t gt, uint64_t ne0, uint64_t data_bytes)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    uint32_t u32;
    uint64_t u64;
    fwrite("GGUF", 1, 4, f);
    u32 = 3;
    fwrite(&u32, 4, 1, f);
    u64 = 1; /* tensors */
    fwrite(&u64, 8, 1, f);
    u64 = 0; /* metadata */
    fwrite(&u64, 8, 1, f);
    const char *name = "blk.0.attn_q.weight";
    u64 = strlen(name);
    fwrite(&u64, 8, 1, f);
    fwrite(name, 1, strlen(name), f);
    u32 = 2;
    fwrite(&u32, 4, 1, f);
    fwrite(&ne0, 8, 1, f);
    u64 = 1;
    fwrite(&u64, 8, 1, f);
    fwrite(&gt, 4, 1, f);
    u64 = 0; /* offset */
    fwrite(&u64, 8, 1, f);
    long pos = ftell(f);
    for (; pos % 32 != 0; pos++)
        fputc(0, f);
    for (uint64_t i = 0; i < data_bytes; i++)
        fputc(0, f);
    fclose(f);
}

static void test_gguf_bad_quant_shapes(void **state)
{
    (void)state;
    char path[] = "/tmp/whale_test_quant_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    wh_gguf g;
    wh_error err;
    /* Q4_K (12) with a 128-element row */
    write_gguf(path, 12, 128, 144);
    assert_int_equal(wh_gguf_open(&g, path, &err), WH_E_FORMAT);
    assert_non_null(strstr(err.msg, "blk.0.attn_q.weight"));
    assert_non_null(strstr(err.msg, "row length 128 is not a multiple of the Q4_K block size "
                                    "(256 elements)"));
    /* Q4_0 (2) with 48 elements */
    write_gguf(path, 2, 48, 36);
    assert_int_equal(wh_gguf_open(&g, path, &err), WH_E_FORMAT);
    assert_non_null(strstr(err.msg, "Q4_0 block size (32 elements)"));
    /* an unknown type id (IQ2_XXS = 16) */
    write_gguf(path, 16, 256, 66);
    assert_int_equal(wh_gguf_open(&g, path, &err), WH_E_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "ggml type 16"));
    /* a good Q6_K file opens; data shorter than the tensor does not */
    write_gguf(path, 14, 256, 210);
    assert_int_equal(wh_gguf_open(&g, path, &err), WH_OK);
    assert_int_equal(g.tensors[0].dtype, WH_DT_Q6_K);
    assert_int_equal(g.tensors[0].nbytes, 210);
    wh_gguf_close(&g);
    write_gguf(path, 14, 256, 100);
    assert_int_not_equal(wh_gguf_open(&g, path, &err), WH_OK);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_simd_env),       cmocka_unit_test(test_reference_fixture),
        cmocka_unit_test(test_hand_built_legacy), cmocka_unit_test(test_hand_built_kquants),
        cmocka_unit_test(test_roundtrip_error),   cmocka_unit_test(test_simd_vs_scalar),
        cmocka_unit_test(test_bad_row_lengths),   cmocka_unit_test(test_gguf_bad_quant_shapes),
        cmocka_unit_test(test_q8_0_lengths),      cmocka_unit_test(test_kquant_lengths),
        cmocka_unit_test(test_kquant_extremes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
