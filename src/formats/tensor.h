/*
 * tensor.h — a named view of weights inside a mapped model file, and the
 * store that indexes every tensor of a model (one GGUF file, or one or many
 * safetensors shards). Views never own data: weights stay in the mmap.
 *
 * Dimension order is GGUF's: ne[0] is the contiguous (innermost) dimension.
 * A PyTorch/safetensors shape [out, in] becomes ne = {in, out}.
 */
#ifndef WH_FORMATS_TENSOR_H
#define WH_FORMATS_TENSOR_H

#include <stdint.h>

#include "base/mapfile.h"
#include "whale.h"

typedef enum wh_dtype {
    WH_DT_F32 = 0,
    WH_DT_F16,
    WH_DT_BF16,
    WH_DT_F8_E4M3, /* with a separate block-scale tensor (weight_scale_inv) */
    WH_DT_Q8_0,    /* ggml: blocks of 32 int8 with one f16 scale */
    WH_DT_I8,
    WH_DT_I16,
    WH_DT_I32,
    WH_DT_I64,
    WH_DT_F64,
    WH_DT_U8,
    WH_DT_BOOL,
    /* ggml block quantisations (kernels/quant.h; layouts in ggml's ggml-common.h).
     * Legacy types: 32-element blocks; K-quants: 256-element super-blocks. */
    WH_DT_Q4_0, /* 32 x 4-bit, f16 scale d:            x = d*(q-8)              */
    WH_DT_Q4_1, /* 32 x 4-bit, f16 d and min m:        x = d*q + m              */
    WH_DT_Q5_0, /* 32 x 5-bit, f16 d:                  x = d*(q-16)             */
    WH_DT_Q5_1, /* 32 x 5-bit, f16 d and m:            x = d*q + m              */
    WH_DT_Q2_K, /* 256 x 2-bit, 16 4-bit scales/mins:  x = d*s*q - dmin*m       */
    WH_DT_Q3_K, /* 256 x 3-bit, 16 6-bit scales:       x = d*(s-32)*(q-4)       */
    WH_DT_Q4_K, /* 256 x 4-bit, 8 6-bit scales/mins:   x = d*s*q - dmin*m       */
    WH_DT_Q5_K, /* 256 x 5-bit, 8 6-bit scales/mins:   x = d*s*q - dmin*m       */
    WH_DT_Q6_K, /* 256 x 6-bit, 16 int8 scales:        x = d*s*(q-32)           */
    WH_DT_Q8_K, /* 256 x int8, f32 d, 16 block sums (activations only)          */
    WH_DT_COUNT
} wh_dtype;

typedef struct wh_dtype_info {
    const char *name;
    int block;       /* elements per block (1 for plain types) */
    int block_bytes; /* bytes per block */
    int computable;  /* usable as a weight by the kernels */
} wh_dtype_info;

const wh_dtype_info *wh_dtype_get(wh_dtype t);

/* Bytes of a row of n elements; 0 if n is not a multiple of the block size. */
uint64_t wh_dtype_row_bytes(wh_dtype t, int64_t n);

#define WH_MAX_DIMS 4

typedef struct wh_tensor {
    const char *name; /* owned by the store */
    wh_dtype dtype;
    int n_dims;
    int64_t ne[WH_MAX_DIMS]; /* unused dims are 1 */
    const uint8_t *data;
    uint64_t nbytes;
    int file;                      /* index into the store's files */
    uint64_t offset;               /* absolute byte offset in that file (for messages) */
    const struct wh_tensor *scale; /* F8_E4M3: F32 block scales [ceil(rows/128)][ceil(cols/128)] */
    int64_t row0;                  /* views: first row inside the parent (for block-scale lookup) */
} wh_tensor;

/* A view of rows [r0, r0+n) of a 2-D tensor, or of matrix i of a 3-D tensor. */
wh_tensor wh_tensor_rows_view(const wh_tensor *t, int64_t r0, int64_t n);
wh_tensor wh_tensor_matrix_view(const wh_tensor *t, int64_t i);

typedef struct wh_tensor_store {
    wh_tensor *tensors;
    int n_tensors, cap_tensors;
    int *slots; /* open-addressing hash of tensor indices, -1 = empty */
    int n_slots;
    wh_mapfile *files;
    int n_files, cap_files;
} wh_tensor_store;

void wh_store_init(wh_tensor_store *st);
void wh_store_free(wh_tensor_store *st);

/* Adds a mapped file (takes ownership of mf's contents); returns its index or <0. */
int wh_store_add_file(wh_tensor_store *st, wh_mapfile *mf, wh_error *err);

/* Adds a tensor view (name copied). Rejects duplicates, bad dims, data outside the
 * file, and sizes that overflow; the error names the file, tensor and offset. */
int wh_store_add(wh_tensor_store *st, const wh_tensor *t, wh_error *err);

const wh_tensor *wh_store_find(const wh_tensor_store *st, const char *name);

/* Checks that no two tensors of file `file` overlap (-1: every file). */
int wh_store_check_overlaps(const wh_tensor_store *st, int file, wh_error *err);

/* Binds every "X.weight_scale_inv" to its F8 tensor "X.weight" and checks its shape. */
int wh_store_bind_fp8_scales(wh_tensor_store *st, wh_error *err);

/* Number of elements (already validated not to overflow). */
int64_t wh_tensor_nelem(const wh_tensor *t);
/* Rows = product of ne[1..], row length = ne[0]. */
static inline int64_t wh_tensor_rows(const wh_tensor *t)
{
    return t->ne[1] * t->ne[2] * t->ne[3];
}

#endif
