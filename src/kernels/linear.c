/* linear.c — row dequantisation and matrix products (see linear.h). */
#include "kernels/linear.h"

#include <string.h>

#include "base/fp.h"
#include "kernels/quant.h"

static void dequant_q8_0(const uint8_t *row, int64_t n, float *dst)
{
    for (int64_t b = 0; b < n / 32; b++) {
        const uint8_t *blk = row + b * 34;
        uint16_t dh;
        memcpy(&dh, blk, 2);
        float d = wh_f16_to_f32(dh);
        const int8_t *q = (const int8_t *)(blk + 2);
        for (int j = 0; j < 32; j++)
            dst[b * 32 + j] = d * (float)q[j];
    }
}

static void dequant_f8(const wh_tensor *w, int64_t r, const uint8_t *row, float *dst)
{
    int64_t n = w->ne[0];
    const float *scale = NULL;
    int64_t sc = 0;
    if (w->scale != NULL) {
        sc = w->scale->ne[0];
        scale = (const float *)w->scale->data + ((w->row0 + r) / 128) * sc;
    }
    for (int64_t c = 0; c < n; c++) {
        float s = 1.0f;
        if (scale != NULL)
            memcpy(&s, scale + c / 128, sizeof s);
        dst[c] = wh_fp8_e4m3_to_f32(row[c]) * s;
    }
}

void wh_dequant_row(const wh_tensor *w, int64_t r, float *dst)
{
    int64_t n = w->ne[0];
    uint64_t rb = wh_dtype_row_bytes(w->dtype, n);
    const uint8_t *row = w->data + (uint64_t)r * rb;
    switch (w->dtype) {
    case WH_DT_F32:
        memcpy(dst, row, (size_t)n * sizeof(float));
        break;
    case WH_DT_F16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, row + 2 * i, 2);
            dst[i] = wh_f16_to_f32(h);
        }
        break;
    case WH_DT_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, row + 2 * i, 2);
            dst[i] = wh_bf16_to_f32(h);
        }
        break;
    case WH_DT_F8_E4M3:
        dequant_f8(w, r, row, dst);
        break;
    case WH_DT_Q8_0:
        dequant_q8_0(row, n, dst);
        break;
    default:
        if (wh_quant_traits_get(w->dtype) != NULL) /* ggml block quantisations */
            wh_quant_traits_get(w->dtype)->dequantize(row, dst, n);
        else /* not computable: bound models reject these dtypes at load */
            memset(dst, 0, (size_t)n * sizeof(float));
        break;
    }
}

static float dot_f32(const float *a, const float *b, int64_t n)
{
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; i++)
        s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

/* Dequantises columns [c0, c0+m) of row r (plain and F8 dtypes). */
static void dequant_span(const wh_tensor *w, int64_t r, int64_t c0, int64_t m, float *dst)
{
    uint64_t rb = wh_dtype_row_bytes(w->dtype, w->ne[0]);
    const uint8_t *row = w->data + (uint64_t)r * rb;
    for (int64_t i = 0; i < m; i++) {
        int64_t c = c0 + i;
        uint16_t h;
        switch (w->dtype) {
        case WH_DT_F32:
            memcpy(&dst[i], row + 4 * c, 4);
            break;
        case WH_DT_F16:
            memcpy(&h, row + 2 * c, 2);
            dst[i] = wh_f16_to_f32(h);
            break;
        case WH_DT_BF16:
            memcpy(&h, row + 2 * c, 2);
            dst[i] = wh_bf16_to_f32(h);
            break;
        case WH_DT_F8_E4M3: {
            float sc = 1.0f;
            if (w->scale != NULL)
                memcpy(&sc,
                       (const float *)w->scale->data + ((w->row0 + r) / 128) * w->scale->ne[0] +
                           c / 128,
                       sizeof sc);
            dst[i] = wh_fp8_e4m3_to_f32(row[c]) * sc;
            break;
        }
        default:
            dst[i] = 0.0f;
            break;
        }
    }
}

float wh_dot_row(const wh_tensor *w, int64_t r, const float *x)
{
    int64_t n = w->ne[0];
    if (w->dtype == WH_DT_F32) {
        const float *row = (const float *)(w->data + (uint64_t)r * (uint64_t)n * 4);
        return dot_f32(row, x, n);
    }
    float s = 0.0f;
    if (w->dtype == WH_DT_Q8_0) {
        const uint8_t *row = w->data + (uint64_t)r * wh_dtype_row_bytes(w->dtype, n);
        for (int64_t b = 0; b < n / 32; b++) {
            const uint8_t *blk = row + b * 34;
            uint16_t dh;
            memcpy(&dh, blk, 2);
            const int8_t *q = (const int8_t *)(blk + 2);
            float acc = 0.0f;
            for (int j = 0; j < 32; j++)
                acc += (float)q[j] * x[b * 32 + j];
            s += wh_f16_to_f32(dh) * acc;
        }
        return s;
    }
    const wh_dtype_info *di = wh_dtype_get(w->dtype);
    const wh_quant_traits *qt = di->block > 1 ? wh_quant_traits_get(w->dtype) : NULL;
    const uint8_t *qrow = w->data + (uint64_t)r * wh_dtype_row_bytes(w->dtype, n);
    float tile[256]; /* rows are dequantised 256 values (whole blocks) at a time */
    for (int64_t c0 = 0; c0 < n; c0 += 256) {
        int64_t m = n - c0 < 256 ? n - c0 : 256;
        if (qt != NULL)
            qt->dequantize(qrow + c0 / di->block * di->block_bytes, tile, m);
        else
            dequant_span(w, r, c0, m, tile);
        s += dot_f32(tile, x + c0, m);
    }
    return s;
}

void wh_linear_forward(float *out, const float *inp, const wh_tensor *w, const float *bias, int T,
                       float *scratch)
{
    int64_t I = w->ne[0], O = wh_tensor_rows(w);
    for (int64_t o = 0; o < O; o++) {
        float b = bias ? bias[o] : 0.0f;
        if (T == 1) {
            out[o] = wh_dot_row(w, o, inp) + b;
            continue;
        }
        const float *row;
        if (w->dtype == WH_DT_F32) {
            row = (const float *)(w->data + (uint64_t)o * (uint64_t)I * 4);
        } else {
            wh_dequant_row(w, o, scratch);
            row = scratch;
        }
        for (int t = 0; t < T; t++)
            out[(int64_t)t * O + o] = dot_f32(row, inp + (int64_t)t * I, I) + b;
    }
}

void wh_linear_t_forward(float *out, const float *x, const wh_tensor *w, float *scratch)
{
    int64_t I = w->ne[0], O = wh_tensor_rows(w);
    memset(out, 0, (size_t)I * sizeof(float));
    for (int64_t o = 0; o < O; o++) {
        float xo = x[o];
        const float *row;
        if (w->dtype == WH_DT_F32) {
            row = (const float *)(w->data + (uint64_t)o * (uint64_t)I * 4);
        } else {
            wh_dequant_row(w, o, scratch);
            row = scratch;
        }
        for (int64_t i = 0; i < I; i++)
            out[i] += xo * row[i];
    }
}
