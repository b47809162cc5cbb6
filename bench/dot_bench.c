/*
 * dot_bench.c — the matrix-vector product of decode, y = W x, with the AVX2 and the
 * AVX-512 dot kernels of src/kernels/quant.h side by side: one thread, random
 * Gaussian weights and activations quantised with the library's quantisers, the two
 * shapes of a 1.5B model's MLP (8960 rows x 1536 inputs: gate/up; 1536 x 8960:
 * down). Each repetition runs one product with each kernel, in alternating order,
 * so that a machine shared with other work slows both alike; prints the medians in
 * ns per row and GB/s of weight bytes, and AVX2 time / AVX-512 time (> 1: AVX-512 is
 * faster). Numbers only, not a test (tests/test_quant.c checks the kernels).
 *
 *   dot_bench [-r REPS] [-c COPIES] [TYPE ...]
 *     TYPE     weight types (default: every type with an AVX-512 kernel)
 *     -r REPS  repetitions (default 301)
 *     -c N     cycle through N copies of each matrix, each product reading the least
 *              recently read one (default 1: the matrix, 14.6 MB for Q8_0, may stay
 *              in the last-level cache; e.g. -c 24 reads from DRAM like decode on a
 *              whole model)
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "formats/tensor.h"
#include "kernels/quant.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t g_rng = 0x2545F4914F6CDD1Dull;
static float rnd_gauss(void)
{
    float u[2];
    for (int k = 0; k < 2; k++) {
        g_rng ^= g_rng << 13;
        g_rng ^= g_rng >> 7;
        g_rng ^= g_rng << 17;
        u[k] = ((float)(g_rng >> 40) + 0.5f) / 16777216.0f;
    }
    return sqrtf(-2.0f * logf(u[0])) * cosf(6.2831853f * u[1]);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (p == NULL) {
        fprintf(stderr, "dot_bench: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

/* Seconds for y = W x (rows dots of cols inputs). */
static double product(wh_vec_dot_fn dot, const uint8_t *w, size_t rb, long rows, int64_t cols,
                      const void *x, float *y)
{
    double t0 = now_s();
    for (long o = 0; o < rows; o++)
        y[o] = dot(cols, w + (size_t)o * rb, x);
    return now_s() - t0;
}

static void bench_shape(wh_dtype t, long rows, int64_t cols, int reps, int copies)
{
    const wh_quant_traits *tr = wh_quant_traits_get(t);
    const wh_quant_traits *ta = wh_quant_traits_get(tr->vec_dot_type);
    const wh_quant_simd_table *lv[2] = {wh_quant_level_table(WH_QUANT_AVX2),
                                        wh_quant_level_table(WH_QUANT_AVX512)};
    wh_vec_dot_fn k[2] = {lv[0] ? lv[0]->vec_dot[t] : NULL, lv[1] ? lv[1]->vec_dot[t] : NULL};
    const char *name = wh_dtype_get(t)->name;
    if (k[0] == NULL || k[1] == NULL) {
        printf("%-5s %5ldx%-5lld  skipped: no %s kernel on this build/CPU\n", name, rows,
               (long long)cols, k[0] == NULL ? "AVX2" : "AVX-512");
        return;
    }
    size_t rb = (size_t)wh_dtype_row_bytes(t, cols), mb = rb * (size_t)rows;
    uint8_t *w = xmalloc(mb * (size_t)copies);
    uint8_t *x = xmalloc((size_t)wh_dtype_row_bytes(tr->vec_dot_type, cols));
    float *f = xmalloc((size_t)cols * sizeof *f), *y[2];
    for (int i = 0; i < 2; i++)
        y[i] = xmalloc((size_t)rows * sizeof(float));
    for (long o = 0; o < rows; o++) {
        for (int64_t j = 0; j < cols; j++)
            f[j] = rnd_gauss();
        tr->quantize(f, w + (size_t)o * rb, cols);
    }
    for (int c = 1; c < copies; c++)
        memcpy(w + (size_t)c * mb, w, mb);
    for (int64_t j = 0; j < cols; j++)
        f[j] = rnd_gauss();
    ta->quantize(f, x, cols);

    /* the kernels agree (tests/test_quant.c holds each to the scalar twin) */
    product(k[0], w, rb, rows, cols, x, y[0]);
    product(k[1], w, rb, rows, cols, x, y[1]);
    double dmax = 0.0, ymax = 0.0;
    for (long o = 0; o < rows; o++) {
        dmax = fmax(dmax, fabs((double)y[0][o] - y[1][o]));
        ymax = fmax(ymax, fabs((double)y[0][o]));
    }

    double *ts[2] = {xmalloc((size_t)reps * sizeof(double)),
                     xmalloc((size_t)reps * sizeof(double))};
    for (int r = 0; r < 2 * copies + 4; r++) /* warm-up: clock and caches */
        product(k[r & 1], w + (size_t)(r % copies) * mb, rb, rows, cols, x, y[r & 1]);
    for (int r = 0; r < reps; r++)
        for (int i = 0; i < 2; i++) {
            int kk = (r + i) & 1; /* alternate which kernel goes first */
            /* each product reads the copy least recently read */
            const uint8_t *wc = w + (size_t)((2 * r + i) % copies) * mb;
            ts[kk][r] = product(k[kk], wc, rb, rows, cols, x, y[kk]) / (double)rows;
        }
    double med[2];
    for (int i = 0; i < 2; i++) {
        qsort(ts[i], (size_t)reps, sizeof(double), cmp_double);
        med[i] = ts[i][reps / 2];
    }
    printf("%-5s %5ldx%-5lld %5zu B/row  AVX2 %8.1f ns/row %6.2f GB/s   AVX-512 %8.1f ns/row "
           "%6.2f GB/s   AVX2/AVX-512 time %.3f  (max |diff| %.1e of max |y| %.1e)\n",
           name, rows, (long long)cols, rb, med[0] * 1e9, (double)rb / med[0] * 1e-9, med[1] * 1e9,
           (double)rb / med[1] * 1e-9, med[0] / med[1], dmax, ymax);
    fflush(stdout);
    for (int i = 0; i < 2; i++) {
        free(ts[i]);
        free(y[i]);
    }
    free(w);
    free(x);
    free(f);
}

int main(int argc, char **argv)
{
    int reps = 301, copies = 1, ntypes = 0;
    wh_dtype types[WH_DT_COUNT];
    for (int a = 1; a < argc; a++) {
        if ((strcmp(argv[a], "-r") == 0 || strcmp(argv[a], "-c") == 0) && a + 1 < argc) {
            int v = atoi(argv[a + 1]);
            if (v < 1) {
                fprintf(stderr, "dot_bench: %s needs a positive number\n", argv[a]);
                return 2;
            }
            *(argv[a][1] == 'r' ? &reps : &copies) = v;
            a++;
            continue;
        }
        int found = 0;
        for (int t = 0; t < WH_DT_COUNT && !found; t++) {
            const wh_dtype_info *di = wh_dtype_get((wh_dtype)t);
            const wh_quant_traits *tr = wh_quant_traits_get((wh_dtype)t);
            if (di != NULL && tr != NULL && tr->vec_dot != NULL && tr->vec_dot_type != WH_DT_F32 &&
                strcmp(argv[a], di->name) == 0 && ntypes < WH_DT_COUNT) {
                types[ntypes++] = (wh_dtype)t;
                found = 1;
            }
        }
        if (!found) {
            fprintf(stderr,
                    "usage: dot_bench [-r REPS] [-c COPIES] [TYPE ...] (TYPE: Q8_0, "
                    "Q4_K, ...; '%s' is not a block-quantised weight type)\n",
                    argv[a]);
            return 2;
        }
    }
    const wh_quant_simd_table *avx512 = wh_quant_level_table(WH_QUANT_AVX512);
    if (ntypes == 0 && avx512 != NULL)
        for (int t = 0; t < WH_DT_COUNT; t++)
            if (avx512->vec_dot[t] != NULL)
                types[ntypes++] = (wh_dtype)t;
    printf("dot_bench: 1 thread, %d interleaved repetitions, medians; %d cop%s of each matrix; "
           "AVX2 %s, AVX-512 %s\n",
           reps, copies, copies == 1 ? "y" : "ies",
           wh_quant_level_table(WH_QUANT_AVX2) ? "yes" : "no", avx512 ? "yes" : "no");
    if (ntypes == 0)
        printf("dot_bench: nothing to compare (no AVX-512 kernels on this build/CPU)\n");
    for (int i = 0; i < ntypes; i++) { /* 1536 and 8960: whole blocks of 32 and 256 */
        bench_shape(types[i], 8960, 1536, reps, copies);
        bench_shape(types[i], 1536, 8960, reps, copies);
    }
    return 0;
}
