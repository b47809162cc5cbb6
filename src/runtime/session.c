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

int wh_session_new(const wh_model *m, const wh_session_opts *opts, wh_session **out,
                   wh_error *err)
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
    int rc = wh_state_init(&s->st, m, n_ctx, n_batch, o.mla, o.record_routing, n_threads, o.exact, err);
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
    return s->st.pos;
}

int wh_session_ctx(const wh_session *s)
{
    return s->st.n_ctx;
}

int wh_session_truncate(wh_session *s, int pos, wh_error *err)
{
    if (pos < 0 || pos > s->st.pos)
        return wh_err(err, WH_E_INVALID, "session: cannot truncate to %d of %d positions", pos,
                      s->st.pos);
    s->st.pos = pos;
    return WH_OK;
}

void wh_session_reset(wh_session *s)
{
    s->st.pos = 0;
}

int wh_session_eval(wh_session *s, const int32_t *tokens, int n, float *logits, int all_logits,
                    wh_error *err)
{
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
        int rc = wh_forward(&s->st, tokens + i, T, lp, all_logits, err);
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
