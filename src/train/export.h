/*
 * export.h — a trained model as a Hugging Face DeepSeek-V3 folder: config.json and one
 * model.safetensors (F32) with the real DeepseekV3ForCausalLM tensor names, the MTP
 * module as layer num_hidden_layers (enorm, hnorm, eh_proj, shared_head.norm/head,
 * embed_tokens, and its block), and the routing biases as e_score_correction_bias.
 * wh_model_load / `whale run` load it.
 */
#ifndef WH_TRAIN_EXPORT_H
#define WH_TRAIN_EXPORT_H

#include "train/model_train.h"

/* dir is created if missing. bos, eos: token ids for config.json (-1: none);
 * max_pos: max_position_embeddings. */
int wh_tr_export_hf(const wh_tr_model *m, const char *dir, int bos, int eos, int max_pos,
                    wh_error *err);

#endif
