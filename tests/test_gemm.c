/*
 * test_gemm.c — the prefill GEMM of src/kernels/gemm.{h,c} and its SIMD levels
 * (gemm_avx2.c, gemm_avx512.c, gemm_amx.c).
 *
 *  (a) every level that this CPU runs, for every type it handles, on random
 *      quantised weights and Gaussian activations, for shapes with tails (tokens not
 *      a multiple of the token tile, rows not a multiple of the row tile, K over
 *      more than one K-chunk), split over several row and token ranges as the
 *      threads split it: quantised types equal the scalar twin (vec_dot_ref per
 *      output, gemm.c) bit for bit; F16/BF16 are within 1e-5 of sum |w*x|;
 *  (b) the same products through wh_matmul (2 threads, T tokens at once) against
 *      T single-token wh_matmul calls (the 1x1 dispatched vec_dot path), within
 *      1e-5 of sum |w*x|;
 *  (c) WHALE_NO_SIMD=1 selects the scalar level, WHALE_NO_AVX512=1 at most AVX2,
 *      WHALE_NO_AMX=1 at most AVX-512; a type the active level lacks (AMX: F16, BF16,
 *      Q4_0, Q5_0) is served by the next level down, prepare and rows from one table.
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

#include "base/pool.h"
#include "kernels/gemm.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"

static const wh_dtype k_types[] = {WH_DT_Q4_0, WH_DT_Q5_0, WH_DT_Q8_0, WH_DT_Q4_K,
                                   WH_DT_Q5_K, WH_DT_Q6_K, WH_DT_F16,  WH_DT_BF16};
#define N_TYPES (int)(sizeof k_types / sizeof k_types[0])

/* ---- small deterministic RNG ---- */
static uint64_t g_rng = 0x2545F4914F6CDD1Dull;
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

static int block_of(wh_dtype t)
{
    if (t == WH_DT_F16 || t == WH_DT_BF16)
        return 1;
    return t >= WH_DT_Q2_K && t <= WH_DT_Q6_K ? WH_QK_K : WH_QK;
}

/* A random problem: O rows of K (weights quantised with the reference quantiser),
 * T token rows (with some outliers and one all-zero row), a bias. */
typedef struct problem {
    wh_dtype type;
    int64_t K, O;
    int T;
    uint8_t *w;
    float *x, *bias, *wf; /* wf: dequantised weights */
} problem;

static void problem_init(problem *p, wh_dtype t, int64_t O, int T, int64_t K)
{
    const wh_quant_traits *tr = wh_quant_traits_get(t);
    uint64_t rb = wh_dtype_row_bytes(t, K);
    p->type = t;
    p->K = K;
    p->O = O;
    p->T = T;
    p->w = malloc((size_t)(rb * (uint64_t)O));
    p->wf = malloc(sizeof(float) * (size_t)(O * K));
    p->x = malloc(sizeof(float) * (size_t)(T * K));
    p->bias = malloc(sizeof(float) * (size_t)O);
    float *row = malloc(sizeof(float) * (size_t)K);
    for (int64_t o = 0; o < O; o++) {
        float scale = 0.02f * (float)(1 + o % 5);
        for (int64_t k = 0; k < K; k++)
            row[k] = scale * rnd_gauss();
        tr->quantize_ref(row, p->w + (uint64_t)o * rb, K);
        tr->dequantize(p->w + (uint64_t)o * rb, p->wf + o * K, K);
        p->bias[o] = 0.1f * rnd_gauss();
    }
    for (int t0 = 0; t0 < T; t0++)
        for (int64_t k = 0; k < K; k++) {
            float v = rnd_gauss();
            if (rnd_u32() % 97 == 0)
                v *= 30.0f;
            p->x[t0 * K + k] = t0 == T / 2 && T > 2 ? 0.0f : v;
        }
    free(row);
}

static void problem_free(problem *p)
{
    free(p->w);
    free(p->wf);
    free(p->x);
    free(p->bias);
}

/* sum_k |w[o][k] * x[t][k]| with the dequantised weights: the error scale. */
static double abs_terms(const problem *p, int64_t o, int t)
{
    double s = 0.0;
    for (int64_t k = 0; k < p->K; k++)
        s += fabs((double)p->wf[o * p->K + k] * (double)p->x[(int64_t)t * p->K + k]);
    return s;
}

/* ================= (a) each level against the scalar twin ================= */

static int g_checked;

static void check_level(wh_gemm_level level, const wh_gemm_kernels *k, const problem *p)
{
    if (k->rows[p->type] == NULL)
        return;
    const wh_quant_traits *tr = wh_quant_traits_get(p->type);
    int floats = tr->vec_dot_type == WH_DT_F32;
    uint64_t xq_bytes = floats ? 0 : wh_dtype_row_bytes(tr->vec_dot_type, p->K) * (uint64_t)p->T;
    uint8_t *xq = malloc((size_t)xq_bytes + 1);
    uint8_t *prep = malloc((size_t)wh_gemm_prep_bytes(p->K, p->T));
    /* out on a cache line (bias 0) and 16 bytes past one (bias 1): the AMX level puts
     * its row tiles on out's lines and streams whole lines */
    size_t out_bytes = (sizeof(float) * (size_t)(p->T * p->O) + 64 + 63) / 64 * 64;
    float *out_base = aligned_alloc(64, out_bytes);
    float *ref = malloc(sizeof(float) * (size_t)(p->T * p->O));
    for (int bias = 0; bias < 2; bias++) {
        float *out = out_base + 4 * bias;
        wh_gemm_args a = {p->type, p->K, p->O, p->w, p->T, p->x, bias ? p->bias : NULL,
                          out,     xq,   prep};
        /* tokens in two ranges (a thread split), rows in three */
        int tt = k->token_tile, mid = ((p->T / 2) / tt) * tt;
        if (mid > 0)
            k->prepare[p->type](&a, 0, mid);
        k->prepare[p->type](&a, mid, p->T);
        long rt = k->row_tile, r1 = rt < p->O ? rt : p->O;
        long r2 = 3 * rt < p->O ? 3 * rt : p->O;
        for (int64_t i = 0; i < p->T * p->O; i++)
            out[i] = NAN;
        k->rows[p->type](&a, 0, r1);
        if (r2 > r1)
            k->rows[p->type](&a, r1, r2);
        if (p->O > r2)
            k->rows[p->type](&a, r2, p->O);
        wh_gemm_args ra = a;
        ra.out = ref;
        wh_gemm_rows_ref(&ra, 0, p->O);
        for (int t = 0; t < p->T; t++)
            for (int64_t o = 0; o < p->O; o++) {
                float g = out[(int64_t)t * p->O + o], r = ref[(int64_t)t * p->O + o];
                if (floats) {
                    double tol = 1e-5 * abs_terms(p, o, t) + 1e-6;
                    if (!(fabs((double)g - (double)r) <= tol))
                        fail_msg("level %d %s O=%lld T=%d K=%lld: out[%d][%lld] = %.9g, twin %.9g",
                                 (int)level, wh_dtype_get(p->type)->name, (long long)p->O, p->T,
                                 (long long)p->K, t, (long long)o, (double)g, (double)r);
                } else if (memcmp(&g, &r, sizeof g) != 0) {
                    fail_msg("level %d %s O=%lld T=%d K=%lld: out[%d][%lld] = %.9g, twin %.9g "
                             "(not bit-exact)",
                             (int)level, wh_dtype_get(p->type)->name, (long long)p->O, p->T,
                             (long long)p->K, t, (long long)o, (double)g, (double)r);
                }
            }
        g_checked++;
    }
    free(xq);
    free(prep);
    free(out_base);
    free(ref);
}

/* (rows, tokens, K in blocks): tails of every tile, K over two chunks, rows a
 * multiple of 16 (whole cache lines of out), tokens over two AMX token groups. */
static const int k_shapes[][3] = {
    {37, 21, 2}, {16, 16, 1}, {5, 2, 3},   {40, 33, 9}, {8, 1, 1},
    {19, 47, 5}, {70, 40, 4}, {33, 64, 3}, {64, 20, 2}, {48, 530, 1},
};

static void test_levels_vs_twin(void **state)
{
    (void)state;
    int levels = 0;
    for (int lv = WH_GEMM_AVX2; lv <= WH_GEMM_AMX; lv++) {
        const wh_gemm_kernels *k = wh_gemm_kernels_get((wh_gemm_level)lv);
        if (k == NULL) {
            printf("  gemm level %d: not supported here, skipped\n", lv);
            continue;
        }
        levels++;
        for (int ti = 0; ti < N_TYPES; ti++)
            for (size_t s = 0; s < sizeof k_shapes / sizeof k_shapes[0]; s++) {
                int bs = block_of(k_types[ti]);
                /* K: K-quants 256*n; legacy 32*n*9 (n=9: 2592 > one 2048 chunk);
                 * F16: 300*n + 7 (not a multiple of the 256 chunk or 16) */
                int64_t K = bs == WH_QK_K ? 256 * k_shapes[s][2]
                            : bs == WH_QK ? 288 * k_shapes[s][2]
                                          : 300 * k_shapes[s][2] + 7;
                problem p;
                problem_init(&p, k_types[ti], k_shapes[s][0], k_shapes[s][1], K);
                check_level((wh_gemm_level)lv, k, &p);
                problem_free(&p);
            }
    }
    printf("  gemm: %d SIMD level(s), %d products checked against the scalar twin\n", levels,
           g_checked);
}

/* ================= (b) wh_matmul: T at once vs one token at a time ================= */

static void test_matmul_prefill(void **state)
{
    (void)state;
    wh_pool *pool = NULL;
    wh_error err;
    assert_int_equal(wh_pool_new(2, &pool, &err), WH_OK);
    const int64_t Kmax = 2592;
    const int Tmax = 40;
    wh_mm_scratch sc = {0};
    sc.max_cols = Kmax;
    sc.rows = malloc(sizeof(float) * 2 * (size_t)Kmax);
    sc.act_bytes = wh_mm_act_bytes(Kmax, Tmax);
    sc.act = malloc((size_t)sc.act_bytes);
    for (int ti = 0; ti < N_TYPES; ti++) {
        int bs = block_of(k_types[ti]);
        int64_t K = bs == WH_QK_K ? 2304 : bs == WH_QK ? 2592 : 1000;
        problem p;
        problem_init(&p, k_types[ti], 45, 37, K);
        wh_tensor w = {0};
        w.dtype = p.type;
        w.n_dims = 2;
        w.ne[0] = K;
        w.ne[1] = p.O;
        w.ne[2] = w.ne[3] = 1;
        w.data = p.w;
        w.nbytes = wh_dtype_row_bytes(p.type, K) * (uint64_t)p.O;
        float *out = malloc(sizeof(float) * (size_t)(p.T * p.O));
        float *one = malloc(sizeof(float) * (size_t)p.O);
        wh_matmul(pool, &sc, out, p.x, &w, p.bias, p.T);
        for (int t = 0; t < p.T; t++) {
            wh_matmul(pool, &sc, one, p.x + (int64_t)t * K, &w, p.bias, 1);
            for (int64_t o = 0; o < p.O; o++) {
                double tol = 1e-5 * abs_terms(&p, o, t) + 1e-6;
                double diff = fabs((double)out[(int64_t)t * p.O + o] - (double)one[o]);
                if (!(diff <= tol))
                    fail_msg("wh_matmul %s: token %d row %lld: T=%d gives %.9g, T=1 gives %.9g",
                             wh_dtype_get(p.type)->name, t, (long long)o, p.T,
                             (double)out[(int64_t)t * p.O + o], (double)one[o]);
            }
        }
        free(out);
        free(one);
        problem_free(&p);
    }
    free(sc.rows);
    free(sc.act);
    wh_pool_free(pool);
}

/* ================= (c) the environment ================= */

static int child_level(const char *var)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv(var, "1", 1);
        _exit((int)wh_gemm_level_active());
    }
    int status = 0;
    assert_true(waitpid(pid, &status, 0) == pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void test_env(void **state)
{
    (void)state;
    assert_int_equal(child_level("WHALE_NO_SIMD"), WH_GEMM_SCALAR);
    assert_true(child_level("WHALE_NO_AVX512") <= WH_GEMM_AVX2);
    assert_true(child_level("WHALE_NO_AMX") <= WH_GEMM_AVX512);
    assert_null(wh_gemm_kernels_get(WH_GEMM_SCALAR));
    printf("  gemm: active level %d (0 scalar, 1 AVX2, 2 AVX-512, 3 AMX)\n",
           (int)wh_gemm_level_active());
}

/* Per type, the table of the highest level at or below the active one that has the
 * type, with prepare and rows both from it. */
static void test_for_type(void **state)
{
    (void)state;
    wh_gemm_level act = wh_gemm_level_active();
    for (int ti = 0; ti < N_TYPES; ti++) {
        wh_dtype t = k_types[ti];
        const wh_gemm_kernels *want = NULL;
        for (int lv = (int)act; lv > WH_GEMM_SCALAR && want == NULL; lv--) {
            const wh_gemm_kernels *k = wh_gemm_kernels_get((wh_gemm_level)lv);
            if (k != NULL && k->rows[t] != NULL)
                want = k;
        }
        const wh_gemm_kernels *got = wh_gemm_for_type(t);
        assert_ptr_equal(got, want);
        if (got != NULL)
            assert_non_null(got->prepare[t]);
        if (act == WH_GEMM_AMX && (t == WH_DT_F16 || t == WH_DT_Q4_0))
            assert_ptr_equal(got, wh_gemm_kernels_get(WH_GEMM_AVX512));
        if (act == WH_GEMM_AMX && (t == WH_DT_Q4_K || t == WH_DT_Q6_K || t == WH_DT_Q8_0))
            assert_ptr_equal(got, wh_gemm_kernels_get(WH_GEMM_AMX));
    }
    assert_null(wh_gemm_for_type(WH_DT_F32));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_env),
        cmocka_unit_test(test_for_type),
        cmocka_unit_test(test_levels_vs_twin),
        cmocka_unit_test(test_matmul_prefill),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
