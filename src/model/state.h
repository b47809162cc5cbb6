/*
 * state.h — everything a forward pass writes: the KV cache and the activation
 * buffers, laid out once from the config (no allocation in the token loop).
 * Buffers hold up to n_batch positions; longer prompts are processed in chunks.
 */
#ifndef WH_MODEL_STATE_H
#define WH_MODEL_STATE_H

#include "base/pool.h"
#include "kernels/matmul.h"
#include "model/model.h"

typedef struct wh_state {
    const wh_model *m;
    int n_ctx;    /* positions the cache holds, per sequence */
    int n_batch;  /* rows per forward call */
    int n_seq;    /* sequences sharing the weights and the batch (continuous batching) */
    int *seq_pos; /* [n_seq] positions already cached per sequence */
    int *row_seq; /* [n_batch] sequence of each row of the current call */
    int *row_pos; /* [n_batch] position of each row of the current call */
    wh_mla_mode mla;
    int64_t kv_per_token; /* floats per position per layer */
    float *kv;            /* [L][n_seq][n_ctx][kv_per_token] */

    float *x, *xn;       /* [B][H] residual stream and its normalised copy */
    float *q;            /* [B][nh*qhd] */
    float *qa;           /* [B][q_lora] */
    float *kva;          /* [B][max(kv_lora+rope, kvh*hd)]: latent+rotary key, or GQA keys */
    float *vv;           /* [B][kvh*hd] GQA values */
    float *attn;         /* [B][nh*max(v, hd)] concatenated head outputs */
    float *ff1, *ff2;    /* [B][max MLP width] */
    float *ffo;          /* [B][H] */
    float *e1, *e2, *eo; /* one token through one expert */
    /* MoE, experts gathered by token: */
    float *router_all;                       /* [B][E] router logits */
    int *sel_all;                            /* [B][top_k] chosen experts */
    float *gate_all;                         /* [B][top_k] their gates */
    int *ex_cnt;                             /* [E] */
    int *ex_tok;                             /* [B*top_k] tokens grouped by expert */
    float *ex_gate;                          /* [B*top_k] */
    float *moe_x, *moe_e1, *moe_e2, *moe_eo; /* [B][H], [B][mI], [B][mI], [B][H] */
    float *scores;                           /* [n_ctx] */
    float *att_scores;                       /* [threads][n_ctx] */
    float *qfull;                            /* [B][nh][kv_lora + rope] absorbed MLA queries */
    float *oc_all;             /* [B][nh][kv_lora] absorbed MLA outputs in latent space */
    float *hbuf_in, *hbuf_out; /* [B][max(nope, kv_lora)], [B][max(kv_lora, v)] per-head gathers */
    float *qc, *oc;            /* [kv_lora] absorbed query / output latent */
    float *kh, *vh;            /* [qhd], [v] one head's naive key/value */
    float *scratch;            /* [max weight row] dequantised row */
    float *router, *choice;    /* [E] */
    float *group_score;        /* [n_group] */
    int *sel;                  /* [top_k] */
    unsigned char *keep;       /* [E] */

    wh_pool *pool;    /* owned: the session's threads */
    wh_mm_scratch mm; /* per-thread rows + quantised activations */

    int record_routing;
    int32_t *routing; /* [L][B][top_k] of the last chunk */
    int routing_T;
} wh_state;

int wh_state_init(wh_state *s, const wh_model *m, int n_ctx, int n_batch, int n_seq,
                  wh_mla_mode mla, int record_routing, int n_threads, int exact, wh_error *err);
void wh_state_free(wh_state *s);

/* The cache of one layer and sequence: [n_ctx][kv_per_token]. */
static inline float *wh_state_cache(const wh_state *s, int layer, int seq)
{
    return s->kv + ((int64_t)layer * s->n_seq + seq) * s->n_ctx * s->kv_per_token;
}

/* Runs T <= n_batch rows: row t is token tokens[t] of sequence seqs[t], at that
 * sequence's next position (rows of one sequence in order). Advances each sequence.
 * logits: NULL, or [T][V] for every row when all_logits, else [V] of the last row. */
int wh_forward_rows(wh_state *s, const int32_t *tokens, const int *seqs, int T, float *logits,
                    int all_logits, wh_error *err);

/* T tokens of sequence 0 (the single-sequence case). */
int wh_forward(wh_state *s, const int32_t *tokens, int T, float *logits, int all_logits,
               wh_error *err);

/* Blocks (one file each). x/out are [T][H]. */
void wh_mla_forward(wh_state *s, int layer, const float *xn, float *out, int T);
void wh_gqa_forward(wh_state *s, int layer, const float *xn, float *out, int T);
void wh_mlp_forward(wh_state *s, const wh_mlp_weights *w, int width, const float *xn, float *out,
                    int T);
void wh_moe_forward(wh_state *s, int layer, const float *xn, float *out, int T);

/* Cache-reading attention for rows x heads (attention_core.c): q [T][nh][q_stride];
 * head h reads KV head h/group: keys at k_head_off*(h/group) (dk values), values at
 * v_off + v_head_off*(h/group) (dv values) of each cache slot; out [T][nh][dv]. */
void wh_attention_core(wh_state *s, int layer, int T, int nh, int group, const float *q,
                       int q_stride, int dk, int dv, int k_head_off, int v_off, int v_head_off,
                       float scale, float *out);

/* The router alone: selected experts (sorted ascending) and their gates for one token. */
void wh_moe_route(const wh_config *c, const float *logits, const float *bias, float *scores,
                  float *choice, float *group_score, unsigned char *keep, int *sel, float *gates);

#endif
