/*
 * quant.h — ggml block quantisations: exact dequantisation, reference
 * quantisers, and dot products of a quantised weight row with an activation
 * row quantised to 8-bit blocks.
 *
 * Spec: the block layouts of ggml (ggml/src/ggml-common.h, block_q4_0 ...
 * block_q8_K) and the dequantisation formulas of ggml's reference
 * dequantize_row_* (ggml-quants.c). Every value is the product written in the
 * comments of tensor.h, evaluated in FP32 in the same order as ggml (scale
 * products first, e.g. (d*sc)*q - (dmin*m)), so results are bit-exact.
 *
 * Contracts. n is a row length in elements and must be a multiple of the type's
 * block (32, or 256 for K-quants); callers check this (the tensor store rejects
 * tensors whose rows are not whole blocks), the wh_quant_* wrappers check it
 * and return WH_E_INVALID. Buffers may be unaligned. Functions in the traits
 * table assume valid n.
 *
 * Dot products. Every weight type names the activation type it is multiplied
 * with (vec_dot_type): Q8_0 for Q4_0/Q4_1/Q5_0/Q5_1/Q8_0, Q8_K for the
 * K-quants, F32 for F32/F16/BF16. vec_dot(n, w, x) returns sum_i w[i]*x[i] with
 * x in that type. Each dot has a scalar reference twin (vec_dot_ref, kept
 * forever); vec_dot is the fastest SIMD kernel the CPU can run, else the twin:
 * the AVX-512 one (quant_avx512.c: F, BW, VL, DQ and VNNI) for the types that
 * have one, unless the environment sets WHALE_NO_AVX512=1; otherwise the
 * AVX2+FMA one (quant_avx2.c); none when it sets WHALE_NO_SIMD=1.
 */
#ifndef WH_KERNELS_QUANT_H
#define WH_KERNELS_QUANT_H

#include <stdint.h>

#include "formats/tensor.h"

typedef void (*wh_dequant_fn)(const void *src, float *dst, int64_t n);
typedef void (*wh_quant_fn)(const float *src, void *dst, int64_t n);
typedef float (*wh_vec_dot_fn)(int64_t n, const void *w, const void *x);

typedef struct wh_quant_traits {
    wh_dtype type;
    wh_dtype vec_dot_type;      /* activation type of the dot; WH_DT_COUNT for Q8_K (no dot) */
    wh_dequant_fn dequantize;   /* exact, scalar */
    wh_quant_fn quantize;       /* dispatched (AVX2 for Q8_0/Q8_K activations) */
    wh_quant_fn quantize_ref;   /* scalar reference quantiser; NULL for F32 */
    wh_vec_dot_fn vec_dot;      /* dispatched; NULL for Q8_K (not a weight type) */
    wh_vec_dot_fn vec_dot_ref;  /* scalar twin */
    wh_vec_dot_fn vec_dot_simd; /* the SIMD kernel vec_dot uses unless WHALE_NO_SIMD is set:
                                   AVX-512 or AVX2 as above; NULL when none is built and
                                   supported */
} wh_quant_traits;

/* Traits of a float or block-quantised dtype (F32, F16, BF16, Q*); NULL for
 * the others (F8, integer types). Thread-safe; the first call picks kernels. */
const wh_quant_traits *wh_quant_traits_get(wh_dtype t);

/* 1 if the SIMD kernels are in use (CPU support and WHALE_NO_SIMD unset). */
int wh_quant_simd_active(void);

/* Checked wrappers: WH_E_INVALID (message in err) for a type without traits
 * or n not a multiple of the block. */
int wh_dequantize_row(wh_dtype t, const void *src, float *dst, int64_t n, wh_error *err);
int wh_quantize_row(wh_dtype t, const float *src, void *dst, int64_t n, wh_error *err);

/* ---- the block structs (little-endian, packed by construction) ---- */

#define WH_QK 32    /* legacy block */
#define WH_QK_K 256 /* K-quant super-block */

typedef struct wh_block_q4_0 {
    uint16_t d;     /* f16 */
    uint8_t qs[16]; /* element j: low nibble of qs[j]; element j+16: high nibble */
} wh_block_q4_0;

typedef struct wh_block_q4_1 {
    uint16_t d, m; /* f16 */
    uint8_t qs[16];
} wh_block_q4_1;

typedef struct wh_block_q5_0 {
    uint16_t d;
    uint8_t qh[4]; /* bit j (LE u32): 5th bit of element j */
    uint8_t qs[16];
} wh_block_q5_0;

typedef struct wh_block_q5_1 {
    uint16_t d, m;
    uint8_t qh[4];
    uint8_t qs[16];
} wh_block_q5_1;

typedef struct wh_block_q8_0 {
    uint16_t d;
    int8_t qs[32];
} wh_block_q8_0;

typedef struct wh_block_q2_K {
    uint8_t scales[16]; /* per 16 elements: low nibble scale, high nibble min */
    uint8_t qs[64];     /* element 128h+32j+l: bits 2j..2j+1 of qs[32h+l] */
    uint16_t d, dmin;
} wh_block_q2_K;

typedef struct wh_block_q3_K {
    uint8_t hmask[32];  /* element 128h+32j+l: bit 4h+j of hmask[l] (set: no -4) */
    uint8_t qs[64];     /* low 2 bits, laid out as Q2_K */
    uint8_t scales[12]; /* 16 6-bit scales, see quant.c */
    uint16_t d;
} wh_block_q3_K;

typedef struct wh_block_q4_K {
    uint16_t d, dmin;
    uint8_t scales[12]; /* 8 6-bit scales and 8 6-bit mins, see quant.c */
    uint8_t qs[128];    /* element 64c+l: low nibble of qs[32c+l]; 64c+32+l: high */
} wh_block_q4_K;

typedef struct wh_block_q5_K {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qh[32]; /* element 64c+l: bit 2c of qh[l]; 64c+32+l: bit 2c+1 */
    uint8_t qs[128];
} wh_block_q5_K;

typedef struct wh_block_q6_K {
    uint8_t ql[128]; /* low 4 bits */
    uint8_t qh[64];  /* high 2 bits */
    int8_t scales[16];
    uint16_t d;
} wh_block_q6_K;

typedef struct wh_block_q8_K {
    float d;
    int8_t qs[256];
    int16_t bsums[16]; /* sum of each 16 consecutive qs */
} wh_block_q8_K;

_Static_assert(sizeof(wh_block_q4_0) == 18, "q4_0");
_Static_assert(sizeof(wh_block_q4_1) == 20, "q4_1");
_Static_assert(sizeof(wh_block_q5_0) == 22, "q5_0");
_Static_assert(sizeof(wh_block_q5_1) == 24, "q5_1");
_Static_assert(sizeof(wh_block_q8_0) == 34, "q8_0");
_Static_assert(sizeof(wh_block_q2_K) == 84, "q2_K");
_Static_assert(sizeof(wh_block_q3_K) == 110, "q3_K");
_Static_assert(sizeof(wh_block_q4_K) == 144, "q4_K");
_Static_assert(sizeof(wh_block_q5_K) == 176, "q5_K");
_Static_assert(sizeof(wh_block_q6_K) == 210, "q6_K");
_Static_assert(sizeof(wh_block_q8_K) == 292, "q8_K");

/* The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K block. */
static inline void wh_q4k_scale_min(const uint8_t *s, int j, int *sc, int *m)
{
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

/* The 6-bit scale i (0..15) of a Q3_K block, unbiased (-32..31). */
static inline int wh_q3k_scale(const uint8_t *s, int i)
{
    int lo = i < 8 ? (s[i] & 0xF) : (s[i - 8] >> 4);
    int hi = (s[8 + (i & 3)] >> (2 * (i >> 2))) & 3;
    return (lo | (hi << 4)) - 32;
}

/* ---- SIMD kernels: AVX2 (quant_avx2.c) and AVX-512 (quant_avx512.c). A table is
 * NULL when its file was built without its flags; indexed by wh_dtype, NULL
 * entries where the level has no kernel (AVX-512: the AVX2 one is used). ---- */
typedef struct wh_quant_simd_table {
    wh_vec_dot_fn vec_dot[WH_DT_COUNT];
    wh_quant_fn quantize[WH_DT_COUNT];
} wh_quant_simd_table;

const wh_quant_simd_table *wh_quant_avx2_table(void);
const wh_quant_simd_table *wh_quant_avx512_table(void);

typedef enum wh_quant_level {
    WH_QUANT_SCALAR = 0,
    WH_QUANT_AVX2 = 1,
    WH_QUANT_AVX512 = 2,
} wh_quant_level;

/* The table of a level when it is built and this CPU can run it, whatever the
 * environment says (tests and benchmarks call each level directly); NULL otherwise
 * and for WH_QUANT_SCALAR. */
const wh_quant_simd_table *wh_quant_level_table(wh_quant_level level);

/* The highest level vec_dot uses (CPU support, WHALE_NO_SIMD, WHALE_NO_AVX512). */
wh_quant_level wh_quant_level_active(void);

#endif
