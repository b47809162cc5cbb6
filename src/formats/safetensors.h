/*
 * safetensors.h — reader for HF safetensors: one file, or shards listed by
 * model.safetensors.index.json. Format: u64 LE header length N, N bytes of JSON
 * {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}},
 * then the data; offsets are relative to the byte after the header.
 */
#ifndef WH_FORMATS_SAFETENSORS_H
#define WH_FORMATS_SAFETENSORS_H

#include "formats/tensor.h"

/* Header size limit: real checkpoints have headers of a few MB at most. */
#define WH_SAFETENSORS_MAX_HEADER (100ull << 20)

/* Maps one safetensors file and adds its tensors to st. */
int wh_safetensors_load_file(wh_tensor_store *st, const char *path, wh_error *err);

/* Loads a model folder: model.safetensors.index.json (every shard it names, each
 * required to stay inside dir) or model.safetensors. */
int wh_safetensors_load_dir(wh_tensor_store *st, const char *dir, wh_error *err);

#endif
