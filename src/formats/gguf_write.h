/*
 * gguf_write.h — streaming GGUF v3 writer: declare metadata and tensor infos,
 * then write each tensor's bytes in declaration order (files of many GB never sit
 * in memory). Used by `whale quantize`, model export and the benchmark generator.
 */
#ifndef WH_FORMATS_GGUF_WRITE_H
#define WH_FORMATS_GGUF_WRITE_H

#include <stdint.h>
#include <stdio.h>

#include "formats/gguf.h"

typedef struct wh_gguf_writer wh_gguf_writer;

int wh_gguf_writer_new(wh_gguf_writer **out, wh_error *err);
void wh_gguf_writer_free(wh_gguf_writer *w);

/* Metadata (copied). */
int wh_gguf_set_str(wh_gguf_writer *w, const char *key, const char *v);
int wh_gguf_set_u32(wh_gguf_writer *w, const char *key, uint32_t v);
int wh_gguf_set_i32(wh_gguf_writer *w, const char *key, int32_t v);
int wh_gguf_set_f32(wh_gguf_writer *w, const char *key, float v);
int wh_gguf_set_bool(wh_gguf_writer *w, const char *key, int v);
int wh_gguf_set_arr_str(wh_gguf_writer *w, const char *key, const char *const *v, uint64_t n);
int wh_gguf_set_arr_i32(wh_gguf_writer *w, const char *key, const int32_t *v, uint64_t n);
int wh_gguf_set_arr_f32(wh_gguf_writer *w, const char *key, const float *v, uint64_t n);

/* Declares a tensor (ne[0] innermost); returns its byte size via nbytes. */
int wh_gguf_add_tensor(wh_gguf_writer *w, const char *name, uint32_t ggml_type, int n_dims,
                       const int64_t *ne, uint64_t *nbytes, wh_error *err);

/* Writes the header and tensor infos to path (created or truncated). */
int wh_gguf_writer_begin(wh_gguf_writer *w, const char *path, wh_error *err);
/* Appends bytes of the current tensor; tensors are filled in declaration order,
 * each exactly its declared size. */
int wh_gguf_writer_write(wh_gguf_writer *w, const void *data, uint64_t n, wh_error *err);
/* Checks every tensor was written, flushes, fsyncs and closes. */
int wh_gguf_writer_finish(wh_gguf_writer *w, wh_error *err);

/* ggml type id of a whale dtype (-1 if none). */
int wh_gguf_ggml_from_dtype(wh_dtype t);

#endif
