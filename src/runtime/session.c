/*
 * session.c — the public session API over the model's forward pass: one
 * sequence, its KV cache, prompts longer than a batch split into chunks.
 */
#include <string.h>

#include "base/alloc.h"
#include "base/pool.h"
#include "base/error.h"
#include "model/state.h"

struct wh_session {
    wh_state st;
};

int wh_session_new(const wh_model *m, const wh_session_opts *opts, wh_session **out, wh_error *err)
{
    *out = NULL;
    wh_session_opts o = {0};
    if (opts != NULL)
        o = *opts;
    int n_ctx = o.n_ctx;
    if (n_ctx <= 0)
        n_ctx = m->cfg.max_position_embeddings < 4096 ? m->cfg.max_position_embeddings : 4096;
    if (n_ctx > m->cfg.max_position_embeddings)
        return wh_err(err, WH_E_INVALID, "session: n_ctx %d exceeds the model's %d positions",
                      n_ctx, m->cfg.max_position_embeddings);
    wh_session *s = wh_calloc(1, sizeof *s);
    if (s == NULL)
        return wh_err(err, WH_E_NOMEM, "session: out of memory");
    int n_batch = n_ctx < 256 ? n_ctx : 256;
    int n_threads = o.n_threads > 0 ? o.n_threads : wh_cpu_count();
    int n_seq = o.n_seq > 0 ? o.n_seq : 1;
    if (n_batch < n_seq)
        n_batch = n_seq;
    int rc = wh_state_init(&s->st, m, n_ctx, n_batch, n_seq, o.mla, o.record_routing, n_threads,
                           o.exact, err);
    if (rc != WH_OK) {
        wh_free(s);
        return rc;
    }
    *out = s;
    return WH_OK;
}

void wh_session_free(wh_session *s)
{
    if (s == NULL)
        return;
    wh_state_free(&s->st);
    wh_free(s);
}

int wh_session_pos(const wh_session *s)
{
    return s->st.seq_pos[0];
}

int wh_session_seq_pos(const wh_session *s, int seq)
{
    return seq >= 0 && seq < s->st.n_seq ? s->st.seq_pos[seq] : -1;
}

int wh_session_n_seq(const wh_session *s)
{
    return s->st.n_seq;
}

int wh_session_ctx(const wh_session *s)
{
    return s->st.n_ctx;
}

int wh_session_seq_truncate(wh_session *s, int seq, int pos, wh_error *err)
{
    if (seq < 0 || seq >= s->st.n_seq)
        return wh_err(err, WH_E_INVALID, "session: no sequence %d", seq);
    if (pos < 0 || pos > s->st.seq_pos[seq])
        return wh_err(err, WH_E_INVALID, "session: cannot truncate to %d of %d positions", pos,
                      s->st.seq_pos[seq]);
    s->st.seq_pos[seq] = pos;
    return WH_OK;
}

int wh_session_truncate(wh_session *s, int pos, wh_error *err)
{
    return wh_session_seq_truncate(s, 0, pos, err);
}

void wh_session_reset(wh_session *s)
{
    for (int i = 0; i < s->st.n_seq; i++)
        s->st.seq_pos[i] = 0;
}

int wh_session_eval(wh_session *s, const int32_t *tokens, int n, float *logits, int all_logits,
                    wh_error *err)
{
    return wh_session_eval_seq(s, 0, tokens, n, logits, all_logits, err);
}

int wh_session_decode_batch(wh_session *s, const int *seqs, const int32_t *tokens, int n,
                            float *logits, wh_error *err)
{
    if (n <= 0 || n > s->st.n_batch)
        return wh_err(err, WH_E_INVALID, "decode batch: %d rows (1..%d)", n, s->st.n_batch);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++)
            if (seqs[i] == seqs[j])
                return wh_err(err, WH_E_INVALID, "decode batch: sequence %d appears twice",
                              seqs[i]);
    return wh_forward_rows(&s->st, tokens, seqs, n, logits, 1, err);
}

int wh_session_eval_seq(wh_session *s, int seq, const int32_t *tokens, int n, float *logits,
                        int all_logits, wh_error *err)
{
    if (seq < 0 || seq >= s->st.n_seq)
        return wh_err(err, WH_E_INVALID, "eval: no sequence %d", seq);
    if (n <= 0)
        return wh_err(err, WH_E_INVALID, "eval: no tokens");
    if (s->st.record_routing && n > s->st.n_batch)
        return wh_err(err, WH_E_INVALID, "eval: routing is recorded for at most %d tokens",
                      s->st.n_batch);
    int V = s->st.m->cfg.vocab_size;
    for (int i = 0; i < n;) {
        int T = n - i < s->st.n_batch ? n - i : s->st.n_batch;
        int last = i + T == n;
        float *lp = NULL;
        if (logits != NULL && all_logits)
            lp = logits + (int64_t)i * V;
        else if (logits != NULL && last)
            lp = logits;
        for (int t = 0; t < T; t++)
            s->st.row_seq[t] = seq;
        int rc = wh_forward_rows(&s->st, tokens + i, s->st.row_seq, T, lp, all_logits, err);
        if (rc != WH_OK)
            return rc;
        i += T;
    }
    return WH_OK;
}

const int32_t *wh_session_routing(const wh_session *s, int layer, int i)
{
    const wh_state *st = &s->st;
    const wh_config *c = &st->m->cfg;
    if (st->routing == NULL || layer < 0 || layer >= c->num_hidden_layers ||
        !st->m->layers[layer].is_moe || i < 0 || i >= st->routing_T)
        return NULL;
    return st->routing + ((int64_t)layer * st->n_batch + i) * c->num_experts_per_tok;
}

int32_t wh_argmax(const float *logits, int n)
{
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (logits[i] > logits[best])
            best = i;
    return best;
}
