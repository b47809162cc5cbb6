/*
 * gen_state.h — one generation, step by step: the caller evaluates tokens (alone or
 * batched with other sequences) and hands each step's logits to wh_gen_step, which
 * picks the next token and streams its text. wh_generate (whale.h) is this loop for
 * one sequence; the server's engine drives many at once.
 */
#ifndef WH_RUNTIME_GEN_STATE_H
#define WH_RUNTIME_GEN_STATE_H

#include "whale.h"

typedef struct wh_gen_state wh_gen_state;

int wh_gen_begin(const wh_model *m, const wh_gen_params *p, const int32_t *prompt, int n_prompt,
                 wh_gen_state **out, wh_error *err);
/* Picks the next token from logits (of the last evaluated position), streams its text to
 * cb. *done = 1 when generation is over (the token, if any, need not be evaluated);
 * else *next must be evaluated and its logits passed to the next call. room: positions
 * left in the context. */
int wh_gen_step(wh_gen_state *g, float *logits, int room, wh_gen_cb cb, void *user, int32_t *next,
                int *done, wh_error *err);
/* Flushes held-back text (end of stream). */
void wh_gen_end(wh_gen_state *g, wh_gen_cb cb, void *user);
/* Marks the generation cancelled (finish CANCELLED). */
void wh_gen_cancel(wh_gen_state *g);
wh_gen_result *wh_gen_result_of(wh_gen_state *g);
/* Tokens seen so far: prompt + generated. */
const int32_t *wh_gen_tokens(const wh_gen_state *g, int *n);
void wh_gen_free(wh_gen_state *g);

#endif
