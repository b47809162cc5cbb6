/*
 * bench_dot.c — micro-benchmark of the quantised dot kernels (src/kernels/quant.h):
 * ns per 4096-element dot and GB/s of weight bytes read, scalar twin vs SIMD (the
 * dispatched vec_dot_simd: AVX-512 where it has a kernel, else AVX2), on
 * one thread, in two regimes:
 *   hot:  the same ~32 KiB of rows again and again (L1/L2-resident: compute bound);
 *   cold: a sweep over 64 MiB of rows (far beyond L2; memory bound, the decode case).
 * The activation row is quantised once to the type's vec_dot_type, as in a
 * matrix-vector product. Not a test: numbers only.
 *
 *   bench_dot [TYPE ...]        e.g. bench_dot Q4_K Q6_K   (default: every type)
 *   env BENCH_COLD_MIB=64, BENCH_NO_SCALAR=1 (skip the scalar twins)
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "formats/tensor.h"
#include "kernels/quant.h"

#define N 4096

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t g_rng = 0x2545F4914F6CDD1Dull;
static float rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (float)((g_rng >> 40) & 0xffff) / 32768.0f - 1.0f;
}

static volatile float g_sink;

/* Best of `reps` sweeps over `rows` rows: seconds per dot. */
static double time_dots(wh_vec_dot_fn dot, const uint8_t *w, size_t rb, size_t rows, const void *x,
                        int reps, size_t min_dots)
{
    double best = 1e30;
    size_t sweeps = rows >= min_dots ? 1 : (min_dots + rows - 1) / rows;
    for (int r = 0; r < reps; r++) {
        float s = 0.0f;
        double t0 = now_s();
        for (size_t k = 0; k < sweeps; k++)
            for (size_t i = 0; i < rows; i++)
                s += dot(N, w + i * rb, x);
        double t = (now_s() - t0) / (double)(sweeps * rows);
        g_sink = s;
        best = t < best ? t : best;
    }
    return best;
}

static void bench_type(wh_dtype t, size_t cold_bytes, int scalar)
{
    const wh_quant_traits *tr = wh_quant_traits_get(t);
    const wh_quant_traits *ta = wh_quant_traits_get(tr->vec_dot_type);
    size_t rb = (size_t)wh_dtype_row_bytes(t, N);
    size_t rows_cold = cold_bytes / rb, rows_hot = (32 * 1024) / rb;
    if (rows_hot < 1)
        rows_hot = 1;
    uint8_t *w = malloc(rows_cold * rb);
    uint8_t *x = malloc((size_t)wh_dtype_row_bytes(tr->vec_dot_type, N));
    float *f = malloc(N * sizeof *f);
    if (w == NULL || x == NULL || f == NULL) {
        fprintf(stderr, "bench_dot: out of memory\n");
        exit(1);
    }
    /* quantise a few distinct rows, then copy them over the whole buffer */
    for (size_t i = 0; i < 16 && i < rows_cold; i++) {
        for (int j = 0; j < N; j++)
            f[j] = rnd();
        tr->quantize_ref(f, w + i * rb, N);
    }
    for (size_t i = 16; i < rows_cold; i++)
        memcpy(w + i * rb, w + (i % 16) * rb, rb);
    for (int j = 0; j < N; j++)
        f[j] = rnd();
    ta->quantize(f, x, N);

    wh_vec_dot_fn impl[2] = {scalar ? tr->vec_dot_ref : NULL, tr->vec_dot_simd};
    const char *iname[2] = {"scalar", "simd"};
    for (int k = 0; k < 2; k++) {
        if (impl[k] == NULL)
            continue;
        double hot = time_dots(impl[k], w, rb, rows_hot, x, 5, 20000);
        double cold = time_dots(impl[k], w, rb, rows_cold, x, k == 0 ? 1 : 3, 0);
        printf("%-5s %-6s %6zu B/row  hot %8.1f ns/dot %6.1f GB/s   cold %8.1f ns/dot %6.1f "
               "GB/s\n",
               wh_dtype_get(t)->name, iname[k], rb, hot * 1e9, (double)rb / hot * 1e-9, cold * 1e9,
               (double)rb / cold * 1e-9);
        fflush(stdout);
    }
    free(w);
    free(x);
    free(f);
}

int main(int argc, char **argv)
{
    static const wh_dtype all[] = {WH_DT_Q4_K, WH_DT_Q6_K, WH_DT_Q8_0, WH_DT_Q5_K,
                                   WH_DT_Q4_0, WH_DT_Q4_1, WH_DT_Q5_0, WH_DT_Q5_1,
                                   WH_DT_Q2_K, WH_DT_Q3_K, WH_DT_F16,  WH_DT_BF16};
    const char *mib = getenv("BENCH_COLD_MIB");
    size_t cold = (size_t)(mib ? strtoul(mib, NULL, 10) : 64) << 20;
    const char *ns = getenv("BENCH_NO_SCALAR");
    int scalar = !(ns != NULL && ns[0] == '1');
    printf("bench_dot: n=%d, 1 thread, cold sweep %zu MiB, kernels: %s\n", N, cold >> 20,
           wh_quant_level_active() == WH_QUANT_AVX512
               ? "AVX-512 where it has a kernel (bench/dot_bench.c compares), else AVX2+FMA"
           : wh_quant_simd_active() ? "AVX2+FMA"
                                    : "scalar only (no AVX2 or WHALE_NO_SIMD)");
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        int pick = argc < 2;
        for (int a = 1; a < argc; a++)
            if (strcmp(argv[a], wh_dtype_get(all[i])->name) == 0)
                pick = 1;
        if (pick)
            bench_type(all[i], cold, scalar);
    }
    return 0;
}
