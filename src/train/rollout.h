/*
 * rollout.h — sampling groups of responses to R1 task prompts with the inference engine
 * (GRPO's rollouts, DeepSeekMath §4.1; distillation's teacher, DeepSeek-R1 §2.4), scored
 * by the rule-based rewards of src/r1 (R1 §2.2.2: accuracy + format), with DAPO's dynamic
 * sampling (§3.2): a group whose rewards are all equal carries no advantage, so it is
 * replaced by the next prompt, up to max_resample replacements per call.
 *
 * Prompt k of a run (k = 0, 1, ...; *pos holds the next k) is family fams[k mod nf],
 * level lo + (k / nf) mod (hi - lo + 1), train item task_seed * 2^32 + k. Sample j of
 * prompt k is seeded by wh_task_mix(seed, k, j, 0x5eed): results do not depend on
 * threads or on how many groups were drawn before. The G samples of a group decode
 * together (one batched forward pass per token, wh_session_decode_batch).
 */
#ifndef WH_TRAIN_ROLLOUT_H
#define WH_TRAIN_ROLLOUT_H

#include <stdint.h>

#include "r1/reward.h"
#include "train/grpo.h"
#include "whale.h"

typedef struct wh_rollout_opts {
    wh_task_family fams[WH_TASK_N_FAMILIES];
    int n_fams, level_lo, level_hi;
    uint64_t task_seed, seed;
    int G, max_new_tokens; /* max_new_tokens 0: what T + 1 - prompt leaves */
    float temperature, top_p;
    int dynamic_sampling, max_resample;
    /* Called for every sample (may be NULL): the task, the response as scored (score
     * prefix included) and its score. */
    void (*on_sample)(void *user, const wh_task *t, const char *text, size_t len,
                      const wh_r1_score *sc);
    void *user;
} wh_rollout_opts;

typedef struct wh_rollout_stats {
    int groups_drawn, flat_groups; /* groups sampled, of which all rewards equal */
    long gen_tokens;
    double seconds;
} wh_rollout_stats;

/* Parses "arith,countdown" / "all" and "2" / "1-3" into o. WH_E_INVALID names the value. */
int wh_rollout_parse_tasks(wh_rollout_opts *o, const char *tasks, const char *levels,
                           wh_error *err);

/* Samples n_groups groups of o->G responses with model m through session s (o->G
 * sequences, a context of at least b->T + 1) into b (b->n = n_groups * G afterwards;
 * tokens, targets as grpo.h lays out, reward, correct, truncated). *pos advances past the
 * prompts drawn. b may be NULL (distillation: only on_sample sees the samples). */
int wh_rollout(const wh_model *m, wh_session *s, wh_chat_family fam, const wh_rollout_opts *o,
               int n_groups, int T, uint64_t *pos, wh_grpo_batch *b, wh_rollout_stats *st,
               wh_error *err);

#endif
