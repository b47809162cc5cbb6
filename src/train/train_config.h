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

typedef struct wh_train_opts {
    wh_tr_config model; /* V = 0: the vocabulary size of the data's tokenizer */
    wh_tr_hparams hp;
    char data[1024];    /* folder of shards from `whale data` */
    char out[1024];     /* checkpoints, log, plot, export */
    int batch, seq_len, grad_accum;
    uint64_t seed;
    int eval_interval, eval_batches, checkpoint_interval, log_interval, threads;
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

/* One line per key: "key  meaning" (for --help and the docs). */
void wh_train_opts_help(FILE *f);

/* Checks the combination (positive sizes, divisibility); the model dims are checked by
 * wh_tr_model_init. */
int wh_train_opts_check(const wh_train_opts *o, wh_error *err);

#endif
