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

/* A job is one row t, one KV head g and a chunk of at most WH_ATTN_HEADS of the
 * query heads that share it (chunks of a group are of equal size within one). */
static void attn_task(void *ctx, int ith, int nth)
{
    attn_job *a = ctx;
    wh_state *s = a->s;
    int n_kv = a->nh / a->group;
    int n_chunks = (a->group + WH_ATTN_HEADS - 1) / WH_ATTN_HEADS;
    int per = (a->group + n_chunks - 1) / n_chunks;
    long begin, end;
    wh_split((long)a->T * n_kv * n_chunks, ith, nth, &begin, &end);
    float *scores = s->att_scores + (int64_t)ith * WH_ATTN_HEADS * s->n_ctx;
    for (long job = begin; job < end; job++) {
        int t = (int)(job / ((long)n_kv * n_chunks));
        int g = (int)(job / n_chunks % n_kv), c = (int)(job % n_chunks);
        int h0 = g * a->group + c * per;
        int nq = a->group - c * per < per ? a->group - c * per : per;
        int n = s->row_pos[t] + 1; /* causal: positions 0..pos */
        const float *cache = wh_state_cache(s, a->layer, s->row_seq[t]);
        const float *q = a->q + ((int64_t)t * a->nh + h0) * a->q_stride;
        wh_attn_scores(scores, s->n_ctx, q, a->q_stride, nq, cache + (int64_t)g * a->k_head_off, n,
                       s->kv_per_token, a->dk, a->scale);
        for (int h = 0; h < nq; h++)
            wh_softmax_forward(scores + (int64_t)h * s->n_ctx, n);
        wh_attn_accum(a->out + ((int64_t)t * a->nh + h0) * a->dv, a->dv, scores, s->n_ctx, nq,
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
