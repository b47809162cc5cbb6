/*
 * post.h — what `whale sft`, `whale grpo` and `whale distill` share: the config (a
 * `whale train` config file plus the post-training keys, --KEY VALUE overrides), the
 * tokenizer and chat family, the trainer started from init_from (or a seeded init), the
 * export with the tokenizer beside it, and line charts of log.jsonl fields as SVG.
 */
#ifndef WH_CLI_POST_H
#define WH_CLI_POST_H

#include <stdio.h>

#include "train/sft.h"
#include "train/train_config.h"
#include "train/trainer.h"

typedef struct post_run {
    wh_train_opts o;
    wh_tokenizer *tok;
    wh_chat_family fam;
    char tok_dir[1024];
    wh_trainer t;
    int have_trainer;
    char path_ckpt[1100], path_log[1100], path_model[1100];
} post_run;

/* Parses argv (CONFIG, --KEY VALUE; flags in `own` are skipped: "--x" takes no value,
 * "--x=" one) into r->o over the defaults. Returns 0, 2 for usage (help printed by the
 * caller), or 1 with the error printed. */
int post_parse(post_run *r, int argc, char **argv, const char *const *own, int n_own);

/* Tokenizer (tokenizer key, else init_from's folder, its parent, or parent/model), then
 * the trainer (B = batch_size, T = seq_len) from init_from or seeded from the config
 * (vocab_size 0: the tokenizer's). main_only: GRPO's loss. Prints and returns 1 on error. */
int post_setup(post_run *r, int main_only);

/* Writes OUT/model (HF folder + tokenizer files). Returns 0 or 1 (printed). */
int post_export(post_run *r, const char *dir);

/* An SVG line chart of fields of log.jsonl against "step": one colour per field. */
void post_plot(const char *log_path, const char *svg_path, const char *title,
               const char *const *fields, int n_fields);

void post_free(post_run *r);

double post_now(void);

#endif
