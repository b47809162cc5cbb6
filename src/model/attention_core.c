/*
 * attention_core.c — the part of attention that reads the KV cache, shared by MLA
 * (absorbed) and GQA: for every row t and head h, scores over the sequence's cached
 * positions 0..pos_t, softmax, and the weighted sum of values. (row, head) pairs are
 * split across the session's threads; the inner loops are kernels/attn.c.
 */
#include "kernels/act.h"
#include "kernels/attn.h"
#include "model/state.h"

typedef struct attn_job {
    wh_state *s;
    int layer, T, nh, group;
    const float *q; /* [T][nh][q_stride] queries */
    int q_stride;
    int dk, dv;            /* dims of keys (scored) and values (summed) */
    int k_head_off, v_off; /* key offset per KV head, value offset in a cache slot */
    int v_head_off;        /* value offset per KV head */
    float scale;
    float *out; /* [T][nh][dv] */
} attn_job;

static void attn_task(void *ctx, int ith, int nth)
{
    attn_job *a = ctx;
    wh_state *s = a->s;
    long begin, end;
    wh_split((long)a->T * a->nh, ith, nth, &begin, &end);
    float *scores = s->att_scores + (int64_t)ith * s->n_ctx;
    for (long job = begin; job < end; job++) {
        int t = (int)(job / a->nh), h = (int)(job % a->nh);
        int n = s->row_pos[t] + 1; /* causal: positions 0..pos */
        int g = h / a->group;
        const float *cache = wh_state_cache(s, a->layer, s->row_seq[t]);
        const float *q = a->q + ((int64_t)t * a->nh + h) * a->q_stride;
        wh_attn_scores(scores, q, cache + (int64_t)g * a->k_head_off, n, s->kv_per_token, a->dk,
                       a->scale);
        wh_softmax_forward(scores, n);
        wh_attn_accum(a->out + ((int64_t)t * a->nh + h) * a->dv, scores,
                      cache + a->v_off + (int64_t)g * a->v_head_off, n, s->kv_per_token, a->dv);
    }
}

void wh_attention_core(wh_state *s, int layer, int T, int nh, int group, const float *q,
                       int q_stride, int dk, int dv, int k_head_off, int v_off, int v_head_off,
                       float scale, float *out)
{
    attn_job a = {s,  layer, T,          nh,    group,      q,     q_stride,
                  dk, dv,    k_head_off, v_off, v_head_off, scale, out};
    wh_pool_run(s->pool, attn_task, &a);
}
