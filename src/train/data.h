/*
 * data.h — training data: token shards and the loader.
 *
 * `whale data` turns text into shards with a model's tokenizer (wh_data_build). Each
 * document (a plain-text file, or one JSONL line's "text" field) is encoded without BOS
 * and followed by EOS, and the documents are packed back to back. A seeded hash sends a
 * fraction of the documents to the validation split. Files in the output folder:
 *   train-00000.tok, train-00001.tok, ...   val-00000.tok, ...
 *
 * Shard format (little-endian), 32-byte header then the tokens:
 *   0  u32 magic 0x4B544857 ("WHTK")      16  u64 token count
 *   4  u32 version 1                      24  u32 EOS id (0xFFFFFFFF: none)
 *   8  u32 vocabulary size                28  u32 reserved, 0
 *  12  u32 dtype: 1 = u32 tokens          32  u32 tokens[count]
 *
 * The loader cuts every shard of a split into windows of T+1 tokens at stride T
 * (inputs t..t+T-1, targets t+1..t+T; windows never cross shards and may span
 * documents: packing). Training windows are visited in a seeded random order, a new
 * permutation each epoch: the s-th sequence of the run is window perm_e[s mod W] of
 * epoch e = s / W, so the data position of a run is one number (sequences consumed),
 * and a data-parallel rank reads sequence s without reading the others.
 */
#ifndef WH_TRAIN_DATA_H
#define WH_TRAIN_DATA_H

#include <stdint.h>

#include "base/mapfile.h"
#include "train/rng.h"
#include "whale.h"

#define WH_SHARD_MAGIC 0x4B544857u
#define WH_SHARD_VERSION 1u
#define WH_SHARD_HEADER 32
#define WH_SHARD_U32 1u

typedef struct wh_data_opts {
    const char *tokenizer; /* tokenizer folder, tokenizer.json, .gguf, or model folder */
    const char *out_dir;   /* created if missing */
    double val_fraction;   /* documents held out for validation, 0..1 */
    uint64_t seed;         /* which documents are held out */
    uint64_t shard_tokens; /* tokens per shard file at most; 0 = 100M */
} wh_data_opts;

typedef struct wh_data_report {
    uint64_t docs[2], tokens[2]; /* [0] train, [1] validation */
    int shards[2];
    int vocab, eos;
} wh_data_report;

/* Tokenizes inputs[0..n) (files ending in .jsonl: one JSON object a line with a string
 * "text"; any other file: one document) into shards in o->out_dir. Errors name the file
 * and line. */
int wh_data_build(const wh_data_opts *o, const char *const *inputs, int n, wh_data_report *rep,
                  wh_error *err);

typedef struct wh_tr_loader {
    int T, n_shards;
    wh_mapfile *maps;
    uint64_t *first; /* [n_shards + 1]: index of each shard's first window */
    uint64_t n_windows;
    uint32_t vocab, eos;
    uint64_t seed;
    int shuffle;
    uint32_t *perm;     /* permutation of the current epoch (shuffle) */
    int64_t perm_epoch; /* -1: none yet */
    uint64_t n_tokens;
} wh_tr_loader;

/* Opens every `split`-NNNNN.tok ("train" or "val") in dir, checks each header and that
 * every token is below the vocabulary size. shuffle: seeded order per epoch (training);
 * 0: windows in file order (validation). A split with no shard gives n_windows = 0
 * (WH_OK); shards too short for one window are skipped. */
int wh_tr_loader_open(wh_tr_loader *ld, const char *dir, const char *split, int T, int shuffle,
                      uint64_t seed, wh_error *err);
void wh_tr_loader_close(wh_tr_loader *ld);

/* Sequence s of the stream: tokens[T] and targets[T]. Needs n_windows > 0. */
void wh_tr_loader_get(wh_tr_loader *ld, uint64_t s, int *tokens, int *targets);

/* Reads a shard's header (no tokens): vocab, eos, count. */
int wh_shard_read_header(const char *path, uint32_t *vocab, uint32_t *eos, uint64_t *count,
                         wh_error *err);

#endif
