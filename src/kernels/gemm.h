/*
 * gemm.h — the prefill product: T tokens times one weight matrix,
 * out[t][o] = sum_i W[o][i] * x[t][i] (+ bias[o]), with register-tiled micro-kernels
 * that load each weight block once per tile of tokens and each activation block once
 * per tile of rows. wh_matmul (matmul.h) calls it for T > 1.
 *
 * Numerics. For the block-quantised types the activations are quantised exactly as
 * the 1x1 path does it (the type's vec_dot_type, Q8_0 or Q8_K, with the same
 * quantiser), the per-block integer sums are exact, and the per-block scaling and
 * the sum over blocks are evaluated in FP32 in the same order as the scalar dot
 * twins of quant.c (no FMA), so every SIMD level returns bit for bit
 * vec_dot_ref(W[o], xq[t]). F16 weights: FP32 products of the exactly converted
 * weights with the F32 inputs, summed in a different order than dot_f16_ref
 * (tests hold them to 1e-5 of sum |w*x|).
 *
 * Levels, chosen once at run time: AMX (AVX-512 plus AMX-TILE and AMX-INT8 tile
 * products, tdpbsud/tdpbssd; Q4_K, Q5_K, Q6_K and Q8_0 only, see gemm_amx.c; the
 * same numerics), AVX-512 (F, BW, VL, DQ and VNNI: vpdpbusd), AVX2 (+FMA, F16C:
 * vpmaddubsw), scalar (the twin: vec_dot_ref per output). A level whose table lacks
 * a type leaves that type to the next level down (wh_gemm_for_type); one product
 * always takes prepare and rows from the same table. WHALE_NO_SIMD=1 forces the
 * scalar twin, WHALE_NO_AVX512=1 at most AVX2, WHALE_NO_AMX=1 at most AVX-512. AMX
 * needs Linux's permission for the tile data (arch_prctl ARCH_REQ_XCOMP_PERM),
 * asked once, when the level is picked and no variable above rules AMX out.
 *
 * Layout technique (the AVX2 and AVX-512 levels; AMX: see gemm_amx.c). Activations
 * are transposed once per product into token tiles (L tokens: 16 for AVX-512, 8 for
 * AVX2): for every 4 consecutive inputs, L tokens x 4 bytes, stored as u8 (x + 128),
 * so one vector load serves a tile; weight rows are unpacked once per row tile into
 * signed bytes, and 4 of them are broadcast per instruction. The +128 is taken out
 * exactly with the per-row weight sums (corr below).
 */
#ifndef WH_KERNELS_GEMM_H
#define WH_KERNELS_GEMM_H

#include <stdint.h>

#include "formats/tensor.h"

typedef enum wh_gemm_level {
    WH_GEMM_SCALAR = 0,
    WH_GEMM_AVX2 = 1,
    WH_GEMM_AVX512 = 2,
    WH_GEMM_AMX = 3,
} wh_gemm_level;

/* One product. The caller fills everything but the scratch pointers' contents. */
typedef struct wh_gemm_args {
    wh_dtype type;     /* weight dtype */
    int64_t K;         /* inputs per row (a multiple of the type's block) */
    int64_t O;         /* weight rows = outputs per token; out row stride */
    const uint8_t *w;  /* O rows of wh_dtype_row_bytes(type, K) bytes */
    int T;             /* tokens (>= 1) */
    const float *x;    /* [T][K] inputs */
    const float *bias; /* [O] or NULL */
    float *out;        /* [T][O] */
    uint8_t *xq;       /* scratch: T rows quantised to the vec_dot_type */
    uint8_t *prep;     /* scratch: token tiles, wh_gemm_prep_bytes(K, T) */
} wh_gemm_args;

/* A level's implementation. prepare: token rows [t0, t1) of a (quantise + tile;
 * t0 and t1 multiples of token_tile except t1 == T). rows: output rows [o0, o1)
 * for all tokens, o0 a multiple of row_tile; the unpacked weights live on the
 * thread's stack (< 80 KiB). NULL: type not handled at this level. */
typedef void (*wh_gemm_prepare_fn)(const wh_gemm_args *a, int t0, int t1);
typedef void (*wh_gemm_rows_fn)(const wh_gemm_args *a, long o0, long o1);

typedef struct wh_gemm_kernels {
    wh_gemm_prepare_fn prepare[WH_DT_COUNT];
    wh_gemm_rows_fn rows[WH_DT_COUNT];
    int row_tile;   /* rows per tile: thread shares are multiples of it */
    int token_tile; /* tokens per tile: prepare ranges are multiples of it */
    int min_tokens; /* below this, T 1x1 dots are faster (one tile costs ~5 of them) */
} wh_gemm_kernels;

/* The kernels of a level (NULL when the CPU or the build lacks it; AMX: also when the
 * environment rules it out or Linux refused the tile data). */
const wh_gemm_kernels *wh_gemm_kernels_get(wh_gemm_level level);
/* The level in use (CPU support and environment, see above). */
wh_gemm_level wh_gemm_level_active(void);
/* The kernels in use; NULL for the scalar level. Their table may lack types that a
 * lower level has: products go through wh_gemm_for_type. */
const wh_gemm_kernels *wh_gemm_active(void);
/* The table for one weight type: the active level's if it handles the type, else the
 * first level below that does; NULL: the scalar twin (no GEMM). */
const wh_gemm_kernels *wh_gemm_for_type(wh_dtype type);

/* Bytes of the token-tile scratch (wh_gemm_args.prep) for T tokens of K inputs. */
uint64_t wh_gemm_prep_bytes(int64_t K, int T);

/* The scalar twin: out[t][o] = vec_dot_ref(W[o], xq[t]) + bias[o] for o in [o0, o1),
 * with xq already quantised (F16/BF16/F32: the float inputs). */
void wh_gemm_rows_ref(const wh_gemm_args *a, long o0, long o1);

/* SIMD tables (gemm_avx2.c, gemm_avx512.c, gemm_amx.c): NULL when built without the
 * flags. */
const wh_gemm_kernels *wh_gemm_avx2_kernels(void);
const wh_gemm_kernels *wh_gemm_avx512_kernels(void);
const wh_gemm_kernels *wh_gemm_amx_kernels(void);

#endif
