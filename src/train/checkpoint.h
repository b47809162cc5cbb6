/*
 * checkpoint.h — a training run's whole state in one file, written atomically.
 *
 * File (little-endian), in this order:
 *   u32 magic 0x4B434857 ("WHCK"), u32 version 1, u64 file size
 *   u64 seed, u64 data position (sequences consumed), u64 rng[4] (xoshiro256** state)
 *   i32 step (optimizer steps done), B, T, grad_accum
 *   u32 n_ints, u32 n_floats; i32 ints[n_ints]; f32 floats[n_floats]
 *       the model config and hyperparameters, in the order of the tables in checkpoint.c
 *   u64 n_params, u64 n_bias
 *   f32 params[n_params], adam_m[n_params], adam_v[n_params], route_bias[n_bias]
 *   u64 checksum: FNV-1a over the 8-byte little-endian words of everything before it
 *       (the last word zero-padded)
 * A file whose size, magic, version, counts or checksum disagree is refused with an
 * error naming the file and the offset or field.
 *
 * Writing: to "<path>.tmp" in the same folder, fsync, rename over <path>, fsync of the
 * folder (POSIX rename is atomic: a crash leaves either the old file or the new one).
 */
#ifndef WH_TRAIN_CHECKPOINT_H
#define WH_TRAIN_CHECKPOINT_H

#include "base/mapfile.h"
#include "train/trainer.h"

typedef struct wh_tr_ckpt {
    wh_mapfile mf;
    wh_tr_config cfg;
    wh_tr_hparams hp;
    int B, T, grad_accum, step;
    uint64_t seed, data_pos;
    wh_tr_rng rng;
    uint64_t n_params, n_bias;
    const float *params, *m, *v, *bias; /* into the map (unaligned reads via memcpy) */
} wh_tr_ckpt;

/* Writes t's state (and the run's seed and grad_accum) to path atomically. */
int wh_tr_ckpt_save(const char *path, const wh_trainer *t, uint64_t seed, int grad_accum,
                    wh_error *err);

/* Maps and validates a checkpoint; fills everything but touches no trainer. */
int wh_tr_ckpt_open(wh_tr_ckpt *ck, const char *path, wh_error *err);
void wh_tr_ckpt_close(wh_tr_ckpt *ck);

/* Copies parameters, moments, biases, step, data position and RNG into t, which must
 * have been initialised with ck->cfg (same parameter count). */
int wh_tr_ckpt_apply(const wh_tr_ckpt *ck, wh_trainer *t, wh_error *err);

/* Test hook: called after every chunk written (64 KiB) with the bytes written so far,
 * before the file is renamed into place. NULL in normal use. */
extern void (*wh_tr_ckpt_chunk_hook)(unsigned long long bytes);

#endif
