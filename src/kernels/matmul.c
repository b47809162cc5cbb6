/* matmul.c — threaded matrix product (see matmul.h). */
#include "kernels/matmul.h"

#include <stdatomic.h>
#include <string.h>

#include "kernels/gemm.h"
#include "kernels/linear.h"
#include "kernels/quant.h"

/* Bytes of T quantised activation rows: 8-bit blocks with scales, < 1.2 bytes per value. */
static uint64_t act_rows_bytes(int64_t cols, int T)
{
    return (uint64_t)T * (uint64_t)(cols + cols / 4 + 64);
}

uint64_t wh_mm_act_bytes(int64_t cols, int T)
{
    /* the quantised rows, then (T > 1) the GEMM's token tiles */
    uint64_t b = act_rows_bytes(cols, T);
    return T > 1 ? b + wh_gemm_prep_bytes(cols, T) : b;
}

typedef struct mm_args {
    wh_mm_scratch *sc;
    float *out;
    const float *inp;
    const wh_tensor *w;
    const float *bias;
    int T;
    const wh_quant_traits *tr; /* NULL: dequantise rows and use the float dot */
    uint64_t act_row_bytes;    /* bytes of one quantised activation row (0: float input) */
    long chunk;                /* dot_task: rows taken at a time */
    _Atomic long next;         /* dot_task: first row not yet taken */
} mm_args;

static float dot(const float *a, const float *b, int64_t n)
{
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
        s4 += a[i + 4] * b[i + 4];
        s5 += a[i + 5] * b[i + 5];
        s6 += a[i + 6] * b[i + 6];
        s7 += a[i + 7] * b[i + 7];
    }
    for (; i < n; i++)
        s0 += a[i] * b[i];
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
}

/* Quantises the T input rows to the weight type's activation type (vec_dot_type). */
static void quant_task(void *ctx, int ith, int nth)
{
    mm_args *a = ctx;
    long t0, t1;
    wh_split(a->T, ith, nth, &t0, &t1);
    int64_t I = a->w->ne[0];
    wh_quant_fn q = wh_quant_traits_get(a->tr->vec_dot_type)->quantize;
    for (long t = t0; t < t1; t++)
        q(a->inp + t * I, (uint8_t *)a->sc->act + (uint64_t)t * a->act_row_bytes, I);
}

/* ---- prefill: the GEMM of gemm.h ---- */

typedef struct gemm_task_args {
    wh_gemm_args g;
    const wh_gemm_kernels *k;
} gemm_task_args;

/* Quantises and tiles a share of the token tiles. */
static void gemm_prep_task(void *ctx, int ith, int nth)
{
    gemm_task_args *a = ctx;
    int tt = a->k->token_tile;
    long b, e;
    wh_split((a->g.T + tt - 1) / tt, ith, nth, &b, &e);
    if (b < e)
        a->k->prepare[a->g.type](&a->g, (int)b * tt, e * tt < a->g.T ? (int)e * tt : a->g.T);
}

/* A share of the output rows, in whole row tiles. */
static void gemm_rows_task(void *ctx, int ith, int nth)
{
    gemm_task_args *a = ctx;
    long rt = a->k->row_tile, b, e;
    wh_split((a->g.O + rt - 1) / rt, ith, nth, &b, &e);
    if (b < e)
        a->k->rows[a->g.type](&a->g, b * rt, e * rt < a->g.O ? e * rt : a->g.O);
}

/* The GEMM when a SIMD level has a kernel for the type (the active one, or the next
 * below that has it) and T is large enough to fill a tile; 0 if not taken (the caller
 * runs the 1x1 dots). */
static int try_gemm(wh_pool *pool, wh_mm_scratch *sc, float *out, const float *inp,
                    const wh_tensor *w, const float *bias, int T, const wh_quant_traits *tr)
{
    const wh_gemm_kernels *k = wh_gemm_for_type(w->dtype);
    if (k == NULL || k->rows[w->dtype] == NULL || k->prepare[w->dtype] == NULL || T < k->min_tokens)
        return 0;
    int64_t K = w->ne[0];
    uint64_t xq = tr->vec_dot_type == WH_DT_F32 ? 0 : act_rows_bytes(K, T);
    if (xq + wh_gemm_prep_bytes(K, T) > sc->act_bytes)
        return 0; /* scratch sized for fewer tokens or columns */
    gemm_task_args a = {{w->dtype, K, wh_tensor_rows(w), w->data, T, inp, bias, out,
                         (uint8_t *)sc->act, (uint8_t *)sc->act + xq},
                        k};
    wh_pool_run(pool, gemm_prep_task, &a);
    wh_pool_run(pool, gemm_rows_task, &a);
    return 1;
}

/* Block-quantised and F16/BF16 weights: the type's own dot product. The rows are
 * handed out in chunks from a shared counter, not split in fixed halves: on a shared
 * machine one thread often runs slower than the other, and with a fixed split the
 * faster one then waits at the end of every matrix (about a tenth of the decode
 * samples on a 1.5B Q8_0 model). */
static void dot_task(void *ctx, int ith, int nth)
{
    (void)ith;
    (void)nth;
    mm_args *a = ctx;
    const wh_tensor *w = a->w;
    int64_t I = w->ne[0], O = wh_tensor_rows(w);
    uint64_t rb = wh_dtype_row_bytes(w->dtype, I);
    wh_vec_dot_fn vd = a->tr->vec_dot;
    for (;;) {
        long r0 = atomic_fetch_add_explicit(&a->next, a->chunk, memory_order_relaxed);
        if (r0 >= O)
            break;
        long r1 = r0 + a->chunk < O ? r0 + a->chunk : (long)O;
        for (long o = r0; o < r1; o++) {
            const uint8_t *row = w->data + (uint64_t)o * rb;
            float b = a->bias ? a->bias[o] : 0.0f;
            for (int t = 0; t < a->T; t++) {
                const void *x = a->act_row_bytes ? (const void *)((const uint8_t *)a->sc->act +
                                                                  (uint64_t)t * a->act_row_bytes)
                                                 : (const void *)(a->inp + (int64_t)t * I);
                a->out[(int64_t)t * O + o] = vd(I, row, x) + b;
            }
        }
    }
}

/* Rows per chunk of dot_task: about 16 chunks a thread, each at least 4 rows. */
static long dot_chunk(int64_t rows, int nth)
{
    long c = (long)(rows / (16 * (int64_t)nth));
    return c < 4 ? 4 : c;
}

static void mm_task(void *ctx, int ith, int nth)
{
    mm_args *a = ctx;
    const wh_tensor *w = a->w;
    int64_t I = w->ne[0], O = wh_tensor_rows(w);
    long r0, r1;
    wh_split(O, ith, nth, &r0, &r1);
    float *row_buf = a->sc->rows + (int64_t)ith * a->sc->max_cols;
    for (long o = r0; o < r1; o++) {
        float b = a->bias ? a->bias[o] : 0.0f;
        const float *row;
        if (w->dtype == WH_DT_F32) {
            row = (const float *)(w->data + (uint64_t)o * (uint64_t)I * 4);
        } else {
            wh_dequant_row(w, o, row_buf);
            row = row_buf;
        }
        for (int t = 0; t < a->T; t++)
            a->out[(int64_t)t * O + o] = dot(row, a->inp + (int64_t)t * I, I) + b;
    }
}

void wh_matmul(wh_pool *pool, wh_mm_scratch *sc, float *out, const float *inp, const wh_tensor *w,
               const float *bias, int T)
{
    mm_args a = {sc, out, inp, w, bias, T, NULL, 0, 0, 0};
    const wh_quant_traits *tr = w->dtype == WH_DT_F32 ? NULL : wh_quant_traits_get(w->dtype);
    if (tr != NULL && tr->vec_dot != NULL && !sc->exact) {
        if (T > 1 && try_gemm(pool, sc, out, inp, w, bias, T, tr))
            return;
        a.tr = tr;
        if (tr->vec_dot_type != WH_DT_F32) {
            a.act_row_bytes = wh_dtype_row_bytes(tr->vec_dot_type, w->ne[0]);
            if (T == 1)
                quant_task(&a, 0, 1);
            else
                wh_pool_run(pool, quant_task, &a);
        }
        a.chunk = dot_chunk(wh_tensor_rows(w), wh_pool_size(pool));
        atomic_init(&a.next, 0);
        wh_pool_run(pool, dot_task, &a);
        return;
    }
    wh_pool_run(pool, mm_task, &a);
}
