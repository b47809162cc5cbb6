/*
 * gguf.h — reader for GGUF v2/v3 files (the llama.cpp/ggml container):
 * header, every metadata value type including nested arrays, tensor infos and
 * alignment. Everything is validated against the file size with overflow-safe
 * arithmetic before use; strings and arrays point into the mmap.
 * Spec: ggml/docs/gguf.md.
 */
#ifndef WH_FORMATS_GGUF_H
#define WH_FORMATS_GGUF_H

#include <stdint.h>

#include "base/mapfile.h"
#include "formats/tensor.h"
#include "whale.h"

typedef enum wh_gguf_type {
    WH_GGUF_U8 = 0,
    WH_GGUF_I8 = 1,
    WH_GGUF_U16 = 2,
    WH_GGUF_I16 = 3,
    WH_GGUF_U32 = 4,
    WH_GGUF_I32 = 5,
    WH_GGUF_F32 = 6,
    WH_GGUF_BOOL = 7,
    WH_GGUF_STRING = 8,
    WH_GGUF_ARRAY = 9,
    WH_GGUF_U64 = 10,
    WH_GGUF_I64 = 11,
    WH_GGUF_F64 = 12,
    WH_GGUF_TYPE_COUNT
} wh_gguf_type;

typedef struct wh_gguf_str {
    const char *ptr; /* not NUL-terminated; points into the map */
    uint64_t len;
} wh_gguf_str;

typedef struct wh_gguf_kv {
    wh_gguf_str key;
    wh_gguf_type type;
    uint64_t offset; /* file offset of the value, for messages */
    union {
        uint64_t u;
        int64_t i;
        double f;
        wh_gguf_str s;
        struct {
            wh_gguf_type type; /* element type */
            uint64_t n;
            const uint8_t *data; /* scalars: packed little-endian elements */
            wh_gguf_str *strs;   /* strings: n entries (heap) */
        } arr;
    } v;
} wh_gguf_kv;

typedef struct wh_gguf {
    char *path;
    wh_mapfile map; /* owned until handed to a tensor store */
    uint32_t version;
    uint64_t n_kv, n_tensors;
    wh_gguf_kv *kv;
    uint64_t alignment;
    uint64_t data_offset; /* start of the tensor data section */
    /* tensor infos, validated: name, type, dims, absolute offset */
    wh_tensor *tensors;
    char **tensor_names;
    uint64_t *tensor_ggml_type;
} wh_gguf;

/* Opens and validates a GGUF file. On failure everything is released. */
int wh_gguf_open(wh_gguf *g, const char *path, wh_error *err);
void wh_gguf_close(wh_gguf *g);

/* Index of key, or -1. */
int64_t wh_gguf_find(const wh_gguf *g, const char *key);

/* Typed getters. Return WH_OK; WH_E_MISSING if absent (when required is 0 the
 * output keeps its prior value and WH_OK is returned); WH_E_FORMAT on a type
 * that cannot convert. Integers convert between widths when the value fits. */
int wh_gguf_get_u32(const wh_gguf *g, const char *key, int required, uint32_t *out, wh_error *err);
int wh_gguf_get_i64(const wh_gguf *g, const char *key, int required, int64_t *out, wh_error *err);
int wh_gguf_get_f32(const wh_gguf *g, const char *key, int required, float *out, wh_error *err);
int wh_gguf_get_bool(const wh_gguf *g, const char *key, int required, bool *out, wh_error *err);
/* String value; out points into the map (not NUL-terminated). */
int wh_gguf_get_str(const wh_gguf *g, const char *key, int required, wh_gguf_str *out,
                    wh_error *err);
/* Compares a GGUF string with a C string. */
int wh_gguf_str_eq(wh_gguf_str s, const char *c);

/* Moves the tensors into a tensor store (and the map with them). */
int wh_gguf_to_store(wh_gguf *g, wh_tensor_store *st, wh_error *err);

/* ggml type id -> whale dtype; -1 if not supported here. */
int wh_gguf_dtype_from_ggml(uint32_t ggml_type);

#endif
