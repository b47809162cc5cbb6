/*
 * export.h — a trained model as a Hugging Face DeepSeek-V3 folder: config.json and one
 * model.safetensors (F32) with the real DeepseekV3ForCausalLM tensor names, the MTP
 * module as layer num_hidden_layers (enorm, hnorm, eh_proj, shared_head.norm/head,
 * embed_tokens, and its block), and the routing biases as e_score_correction_bias.
 * wh_model_load / `whale run` load it; wh_tr_import_hf reads such a folder back (SFT and
 * GRPO start from an exported model).
 */
#ifndef WH_TRAIN_EXPORT_H
#define WH_TRAIN_EXPORT_H

#include "train/model_train.h"

/* dir is created if missing. bos, eos: token ids for config.json (-1: none);
 * max_pos: max_position_embeddings. */
int wh_tr_export_hf(const wh_tr_model *m, const char *dir, int bos, int eos, int max_pos,
                    wh_error *err);

/* The training config of a loaded DeepSeek-V3-architecture model (the model dims; the loss
 * weights mtp_lambda and bal_alpha are left as they are). WH_E_UNSUPPORTED names what
 * training cannot represent (another architecture, softmax routing, tied head, ...). */
struct wh_model;
int wh_tr_config_from_model(const struct wh_model *src, wh_tr_config *c, wh_error *err);

/* Copies src's weights (any dtype whale reads, dequantised to F32) and routing biases
 * into m, laid out by the same HF names the export writes; m was initialised with
 * wh_tr_config_from_model's config. WH_E_MISSING / WH_E_FORMAT name the tensor. */
int wh_tr_import_hf(wh_tr_model *m, const struct wh_model *src, wh_error *err);

#endif
