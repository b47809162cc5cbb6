/*
 * config.h — building a wh_config from HF config.json (+ generation_config.json)
 * or from GGUF metadata. Validation and all derived sizes live in one function,
 * wh_config_derive (whale.h).
 */
#ifndef WH_MODEL_CONFIG_H
#define WH_MODEL_CONFIG_H

#include "formats/gguf.h"
#include "whale.h"

/* Reads dir/config.json (and generation_config.json when present). */
int wh_config_from_hf(const char *dir, wh_config *cfg, wh_error *err);

/* Parses config.json text (path used in messages). */
int wh_config_from_hf_text(const char *text, size_t len, const char *path, wh_config *cfg,
                           wh_error *err);

/* Maps GGUF metadata (general.architecture = deepseek2 | qwen2 | llama). */
int wh_config_from_gguf(const wh_gguf *g, wh_config *cfg, int *mla_split_layout, wh_error *err);

#endif
