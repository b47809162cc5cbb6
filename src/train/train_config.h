/*
 * train_config.h — `whale train`'s configuration: a small text file of `key = value`
 * lines ('#' starts a comment), and `--key value` flags that override it. Every key is
 * in the table in train_config.c with its meaning; docs/TRAINING.md lists them all.
 * Model keys use the names of the HF DeepSeek-V3 config.json they end up in.
 */
#ifndef WH_TRAIN_TRAIN_CONFIG_H
#define WH_TRAIN_TRAIN_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "train/trainer.h"

/* Post-training keys (whale sft, grpo, distill; docs/R1.md). */
typedef enum wh_rl_agg { WH_AGG_TOKEN = 0, WH_AGG_SEQUENCE } wh_rl_agg;
typedef struct wh_rl_opts {
    char init_from[1024]; /* checkpoint.bin or HF folder; "" = seeded initialisation */
    char tokenizer[1024]; /* "" = the tokenizer in init_from's folder */
    char sft_data[1024];  /* JSONL conversations (whale tasks --sft) */
    char teacher[1024];   /* distill: "solver" or a model whale runs */
    char tasks[1024];     /* comma-separated families, or "all" */
    char levels[1024];    /* "L" or "LO-HI" */
    uint64_t task_seed;   /* train items task_seed * 2^32 + k */
    int prompts, group;   /* GRPO: prompts per step, samples per prompt (G) */
    int max_new_tokens;   /* response tokens at most; 0 = what seq_len leaves */
    int mu;               /* policy updates per rollout batch */
    int ref_reset;        /* steps between reference resets to the policy; 0 = never */
    int aggregation;      /* wh_rl_agg */
    int dynamic_sampling; /* replace zero-variance groups */
    int max_resample;     /* replacement groups drawn per step at most */
    float temperature, top_p;
    float clip_eps, clip_eps_high, kl_beta, adv_eps;
    int distill_n, distill_k; /* prompts per family and level, teacher samples per prompt */
} wh_rl_opts;

typedef struct wh_train_opts {
    wh_tr_config model; /* V = 0: the vocabulary size of the data's tokenizer */
    wh_tr_hparams hp;
    char data[1024]; /* folder of shards from `whale data` */
    char out[1024];  /* checkpoints, log, plot, export */
    int batch, seq_len, grad_accum;
    uint64_t seed;
    int eval_interval, eval_batches, checkpoint_interval, log_interval, threads;
    wh_rl_opts rl; /* post-training keys */
} wh_train_opts;

/* Defaults: a ~1M-parameter DeepSeek-V3-style model (docs/TRAINING.md). */
void wh_train_opts_defaults(wh_train_opts *o);

/* Sets one key from its text value; WH_E_INVALID names the key and what it expects.
 * `where` (e.g. "run.conf:12" or "--lr") prefixes the message. */
int wh_train_opts_set(wh_train_opts *o, const char *key, const char *value, const char *where,
                      wh_error *err);

/* Reads a config file into o (on top of what o holds). */
int wh_train_opts_load(wh_train_opts *o, const char *path, wh_error *err);

/* Writes every key and its value in the file's syntax (round-trips through _load). */
void wh_train_opts_write(const wh_train_opts *o, FILE *f);

/* One line per key: "key  meaning" (for --help and the docs): the pretraining keys, and
 * the post-training keys of whale sft / grpo / distill. */
void wh_train_opts_help(FILE *f);
void wh_rl_opts_help(FILE *f);

/* Checks the combination (positive sizes, divisibility); the model dims are checked by
 * wh_tr_model_init. */
int wh_train_opts_check(const wh_train_opts *o, wh_error *err);

#endif
