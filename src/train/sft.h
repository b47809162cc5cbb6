/*
 * sft.h — supervised fine-tuning in the R1 chat format (DeepSeek-R1 report §2.3.1, the
 * cold start; §2.4, distillation): conversations rendered with the model's chat format,
 * the loss on the assistant's tokens only, and where a post-training run starts from.
 *
 * Rendering (docs/R1.md, "SFT"). The prompt is the conversation before the last
 * assistant message, rendered by wh_chat_encode with the generation prompt; the reply is
 *     wh_r1_reply_prefix(family) + reasoning + "\n</think>\n\n" + content + EOS
 * encoded without special-token parsing (so text cannot forge control tokens; "</think>"
 * is a non-special added token in R1 vocabularies and is still recognised). The prefix
 * completes the prompt to "<think>\n": empty for R1 / R1-Distill (their generation prompt
 * already ends with "<think>\n", which wh_generate's starts_in_reasoning expects), and
 * "<think>\n" for V3; for the plain format of a from-scratch whale vocabulary without
 * DeepSeek markers ("User: …\nAssistant:") it is " <think>\n" — the space render_plain
 * writes after "Assistant:". Each token of the reply (prefix, thought, answer, EOS) is
 * a target with weight 1; prompt tokens are not.
 *
 * A sequence holds T positions: tokens = ids[0..n-1), targets = ids[1..n), cut at T
 * (counted as truncated); the rest is padding (token -1: a zero embedding row, target -1:
 * no loss). One conversation per sequence, no packing.
 */
#ifndef WH_TRAIN_SFT_H
#define WH_TRAIN_SFT_H

#include <stdint.h>

#include "train/checkpoint.h"
#include "whale.h"

/* Text the reply starts with before the thought, per chat family (see above). */
const char *wh_r1_reply_prefix(wh_chat_family f);
/* Text to put before generated text to score it as a whole R1 response (what the
 * generation prompt already holds): "<think>\n" for R1 / R1-Distill, else "". */
const char *wh_r1_score_prefix(wh_chat_family f);

/* Prompt + reply ids of one conversation: msgs[0..n_msgs) are the prompt messages
 * (rendered with the generation prompt), reasoning (may be NULL = "") and content the
 * assistant's reply. *ids (free with wh_free) holds *n_ids ids of which the first
 * *n_prompt are the prompt. WH_E_INVALID when the tokenizer has no EOS. */
int wh_r1_render_train(const wh_tokenizer *tok, wh_chat_family fam, const wh_chat_msg *msgs,
                       int n_msgs, const char *reasoning, const char *content, int32_t **ids,
                       size_t *n_ids, size_t *n_prompt, wh_error *err);

/* Lays ids out as one sequence of T positions (see above): tokens, targets [T],
 * weights [T] 1 on reply targets, 0 elsewhere. Returns 1 when cut at T, else 0. */
int wh_sft_layout(const int32_t *ids, size_t n_ids, size_t n_prompt, int T, int *tokens,
                  int *targets, float *weights);

/* The conversations of a JSONL file, laid out. */
typedef struct wh_sft_set {
    int n, T;
    int *tokens, *targets; /* [n][T] */
    float *mask;           /* [n][T] 1 on reply targets */
    int n_truncated;       /* conversations cut at T */
    uint64_t n_reply;      /* reply targets in all */
} wh_sft_set;

/* Reads path: one JSON object a line with "messages": [{"role", "content",
 * "reasoning_content"?}, ...]; the last message must be the assistant's. Errors name the
 * file and line. */
int wh_sft_load(wh_sft_set *s, const char *path, const wh_tokenizer *tok, wh_chat_family fam, int T,
                wh_error *err);
void wh_sft_free(wh_sft_set *s);

/* A tokenizer and its chat family for post-training: path is a tokenizer folder, a
 * tokenizer.json or a model folder; the family is wh_chat_detect's on the chat_template
 * of the folder's tokenizer_config.json (absent: the vocabulary), as `whale eval` sees
 * the exported model. dir receives the folder (for copying the files into exports). */
int wh_sft_tokenizer(const char *path, wh_tokenizer **tok, wh_chat_family *fam, char *dir,
                     size_t dir_cap, wh_error *err);
/* Copies tokenizer.json and tokenizer_config.json (when present) from src_dir to dst_dir. */
int wh_sft_copy_tokenizer(const char *src_dir, const char *dst_dir, wh_error *err);

/* Where a post-training run starts (init_from): a whale checkpoint (a file, or a folder
 * holding checkpoint.bin and no config.json) or a model folder whale loads (an exported
 * HF DeepSeek-V3 folder). */
typedef struct wh_tr_init {
    int is_ckpt;
    wh_tr_ckpt ck;
    struct wh_model *model;
    wh_tr_config cfg; /* the model dims of the source */
} wh_tr_init;
int wh_tr_init_open(wh_tr_init *s, const char *path, wh_error *err);
/* Copies the parameters and routing biases into m (laid out with s->cfg's dims). */
int wh_tr_init_apply(const wh_tr_init *s, wh_tr_model *m, wh_error *err);
void wh_tr_init_close(wh_tr_init *s);

#endif
