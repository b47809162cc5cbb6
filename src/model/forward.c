/*
 * forward.c — the decoder stack: embedding, N × (RMSNorm → attention → residual,
 * RMSNorm → MLP or MoE → residual), final RMSNorm, output head. One function for
 * every architecture; the attention block is MLA (DeepSeek) or GQA (Qwen2/Llama).
 * Also the state layout: every buffer sized once from the config.
 */
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "kernels/attn.h"
#include "kernels/linear.h"
#include "kernels/matmul.h"
#include "kernels/norm.h"
#include "model/state.h"

static int imax(int a, int b)
{
    return a > b ? a : b;
}

void wh_state_free(wh_state *s)
{
    float **bufs[] = {&s->kv,         &s->x,      &s->xn,          &s->q,          &s->qa,
                      &s->kva,        &s->vv,     &s->attn,        &s->ff1,        &s->ff2,
                      &s->ffo,        &s->e1,     &s->e2,          &s->eo,         &s->scores,
                      &s->qc,         &s->oc,     &s->kh,          &s->vh,         &s->scratch,
                      &s->router,     &s->choice, &s->group_score, &s->router_all, &s->gate_all,
                      &s->ex_gate,    &s->moe_x,  &s->moe_e1,      &s->moe_e2,     &s->moe_eo,
                      &s->att_scores, &s->qfull,  &s->oc_all,      &s->hbuf_in,    &s->hbuf_out};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        wh_free(*bufs[i]);
        *bufs[i] = NULL;
    }
    wh_free(s->sel);
    wh_free(s->keep);
    wh_free(s->sel_all);
    wh_free(s->ex_cnt);
    wh_free(s->ex_tok);
    wh_free(s->seq_pos);
    wh_free(s->row_seq);
    wh_free(s->row_pos);
    wh_free(s->mm.rows);
    wh_free(s->mm.act);
    wh_pool_free(s->pool);
    wh_free(s->routing);
    memset(s, 0, sizeof *s);
}

static float *alloc_f(int64_t n, int *ok)
{
    if (n <= 0)
        n = 1;
    float *p = wh_calloc((size_t)n, sizeof(float));
    if (p == NULL)
        *ok = 0;
    return p;
}

int wh_state_init(wh_state *s, const wh_model *m, int n_ctx, int n_batch, int n_seq,
                  wh_mla_mode mla, int record_routing, int n_threads, int exact, wh_error *err)
{
    memset(s, 0, sizeof *s);
    const wh_config *c = &m->cfg;
    const wh_dims *d = &m->dims;
    if (n_ctx <= 0 || n_ctx > (1 << 24) || n_batch <= 0 || n_batch > (1 << 16) || n_seq <= 0 ||
        n_seq > 4096)
        return wh_err(err, WH_E_INVALID, "session: n_ctx %d / n_batch %d / n_seq %d out of range",
                      n_ctx, n_batch, n_seq);
    s->m = m;
    s->n_ctx = n_ctx;
    s->n_batch = n_batch;
    s->n_seq = n_seq;
    s->mla = d->is_mla ? mla : WH_MLA_ABSORBED;
    s->record_routing = record_routing;
    s->kv_per_token =
        s->mla == WH_MLA_NAIVE ? d->kv_values_per_token_naive : d->kv_values_per_token_absorbed;
    int64_t B = n_batch, H = c->hidden_size, nh = c->num_attention_heads;
    int hd = d->is_mla ? d->q_head_dim : c->head_dim;
    int vd = d->is_mla ? c->v_head_dim : c->head_dim;
    int kvd =
        d->is_mla ? c->kv_lora_rank + c->qk_rope_head_dim : c->num_key_value_heads * c->head_dim;
    int ffw = imax(c->intermediate_size, c->moe_intermediate_size * imax(1, c->n_shared_experts));
    int E = imax(1, c->n_routed_experts);
    int cols = imax(imax((int)H, c->q_lora_rank), imax(c->kv_lora_rank, (int)(nh * vd)));
    cols = imax(cols, imax(ffw, imax(c->moe_intermediate_size, c->qk_nope_head_dim)));
    cols = imax(cols, imax(c->v_head_dim, 2 * (int)H));
    int ok = 1;
    int64_t kv_floats = (int64_t)c->num_hidden_layers * n_seq * n_ctx * s->kv_per_token;
    s->kv = alloc_f(kv_floats, &ok);
    wh_advise_huge(s->kv, sizeof(float) * (size_t)kv_floats);
    s->seq_pos = wh_calloc((size_t)n_seq, sizeof(int));
    s->row_seq = wh_calloc((size_t)n_batch, sizeof(int));
    s->row_pos = wh_calloc((size_t)n_batch, sizeof(int));
    if (s->seq_pos == NULL || s->row_seq == NULL || s->row_pos == NULL)
        ok = 0;
    s->x = alloc_f(B * H, &ok);
    s->xn = alloc_f(B * H, &ok);
    s->q = alloc_f(B * nh * hd, &ok);
    s->qa = alloc_f(B * c->q_lora_rank, &ok);
    s->kva = alloc_f(B * kvd, &ok);
    s->vv = alloc_f(B * kvd, &ok);
    s->attn = alloc_f(B * nh * vd, &ok);
    s->ff1 = alloc_f(B * ffw, &ok);
    s->ff2 = alloc_f(B * ffw, &ok);
    s->ffo = alloc_f(B * H, &ok);
    s->e1 = alloc_f(c->moe_intermediate_size, &ok);
    s->e2 = alloc_f(c->moe_intermediate_size, &ok);
    s->eo = alloc_f(H, &ok);
    s->scores = alloc_f(n_ctx, &ok);
    s->qc = alloc_f(c->kv_lora_rank, &ok);
    s->oc = alloc_f(c->kv_lora_rank, &ok);
    s->kh = alloc_f(hd, &ok);
    s->vh = alloc_f(vd, &ok);
    s->scratch = alloc_f(cols, &ok);
    s->router = alloc_f(E, &ok);
    s->choice = alloc_f(E, &ok);
    s->group_score = alloc_f(imax(1, c->n_group), &ok);
    s->sel = wh_calloc((size_t)imax(1, c->num_experts_per_tok), sizeof(int));
    if (c->n_routed_experts > 0) {
        int64_t K = c->num_experts_per_tok, mI = c->moe_intermediate_size;
        s->router_all = alloc_f(B * E, &ok);
        s->gate_all = alloc_f(B * K, &ok);
        s->ex_gate = alloc_f(B * K, &ok);
        s->moe_x = alloc_f(B * H, &ok);
        s->moe_e1 = alloc_f(B * mI, &ok);
        s->moe_e2 = alloc_f(B * mI, &ok);
        s->moe_eo = alloc_f(B * H, &ok);
        s->sel_all = wh_calloc((size_t)(B * K), sizeof(int));
        s->ex_cnt = wh_calloc((size_t)E, sizeof(int));
        s->ex_tok = wh_calloc((size_t)(B * K), sizeof(int));
        if (s->sel_all == NULL || s->ex_cnt == NULL || s->ex_tok == NULL)
            ok = 0;
    }
    s->keep = wh_calloc((size_t)E, 1);
    if (s->sel == NULL || s->keep == NULL)
        ok = 0;
    int rc = wh_pool_new(n_threads, &s->pool, err);
    if (rc != WH_OK) {
        wh_state_free(s);
        return rc;
    }
    s->att_scores = alloc_f((int64_t)n_threads * WH_ATTN_HEADS * n_ctx, &ok);
    if (d->is_mla) {
        int64_t kvl = c->kv_lora_rank, kvw = kvl + c->qk_rope_head_dim;
        int64_t wide = imax((int)kvl, imax(c->qk_nope_head_dim, c->v_head_dim));
        s->qfull = alloc_f(B * nh * kvw, &ok);
        s->oc_all = alloc_f(B * nh * kvl, &ok);
        s->hbuf_in = alloc_f(B * wide, &ok);
        s->hbuf_out = alloc_f(B * wide, &ok);
    }
    s->mm.max_cols = cols;
    s->mm.exact = exact;
    s->mm.rows = alloc_f((int64_t)n_threads * cols, &ok);
    s->mm.act_bytes = wh_mm_act_bytes(cols, n_batch);
    s->mm.act = wh_malloc((size_t)s->mm.act_bytes);
    if (s->mm.act == NULL)
        ok = 0;
    if (record_routing && c->n_routed_experts > 0) {
        s->routing =
            wh_calloc((size_t)c->num_hidden_layers * (size_t)B * (size_t)c->num_experts_per_tok,
                      sizeof(int32_t));
        if (s->routing == NULL)
            ok = 0;
    }
    if (!ok) {
        wh_state_free(s);
        return wh_err(err, WH_E_NOMEM,
                      "session: out of memory for a %d-position cache (%lld bytes per position)",
                      n_ctx, (long long)(s->kv_per_token * c->num_hidden_layers * 4));
    }
    return WH_OK;
}

int wh_forward(wh_state *s, const int32_t *tokens, int T, float *logits, int all_logits,
               wh_error *err)
{
    if (T <= 0 || T > s->n_batch)
        return wh_err(err, WH_E_INVALID, "forward: %d tokens (1..%d per call)", T, s->n_batch);
    int *seqs = s->row_seq; /* reused: forward_rows reads seqs before it writes row_seq */
    for (int t = 0; t < T; t++)
        seqs[t] = 0;
    return wh_forward_rows(s, tokens, seqs, T, logits, all_logits, err);
}

int wh_forward_rows(wh_state *s, const int32_t *tokens, const int *seqs, int T, float *logits,
                    int all_logits, wh_error *err)
{
    const wh_model *m = s->m;
    const wh_config *c = &m->cfg;
    int H = c->hidden_size, V = c->vocab_size;
    if (T <= 0 || T > s->n_batch)
        return wh_err(err, WH_E_INVALID, "forward: %d rows (1..%d per call)", T, s->n_batch);
    for (int t = 0; t < T; t++) {
        if (seqs[t] < 0 || seqs[t] >= s->n_seq)
            return wh_err(err, WH_E_INVALID, "forward: sequence %d at row %d (0..%d)", seqs[t], t,
                          s->n_seq - 1);
        if (tokens[t] < 0 || tokens[t] >= V)
            return wh_err(err, WH_E_INVALID,
                          "forward: token id %d at index %d is outside the vocabulary (0..%d)",
                          tokens[t], t, V - 1);
    }
    /* positions: each sequence continues where it stopped */
    for (int t = 0; t < T; t++) {
        int q = seqs[t], before = 0;
        for (int u = 0; u < t; u++)
            before += seqs[u] == q;
        int pos = s->seq_pos[q] + before;
        if (pos >= s->n_ctx)
            return wh_err(err, WH_E_INVALID,
                          "forward: position %d of sequence %d exceeds the context of %d "
                          "positions",
                          pos, q, s->n_ctx);
        s->row_pos[t] = pos;
    }
    for (int t = 0; t < T; t++)
        s->row_seq[t] = seqs[t];

    for (int t = 0; t < T; t++)
        wh_dequant_row(m->embed, tokens[t], s->x + (int64_t)t * H);
    for (int l = 0; l < c->num_hidden_layers; l++) {
        const wh_layer *ly = &m->layers[l];
        wh_rmsnorm_forward(s->xn, s->x, ly->attn_norm, T, H, c->rms_norm_eps);
        if (m->dims.is_mla)
            wh_mla_forward(s, l, s->xn, s->ffo, T);
        else
            wh_gqa_forward(s, l, s->xn, s->ffo, T);
        for (int64_t i = 0; i < (int64_t)T * H; i++)
            s->x[i] += s->ffo[i];
        wh_rmsnorm_forward(s->xn, s->x, ly->ffn_norm, T, H, c->rms_norm_eps);
        if (ly->is_moe)
            wh_moe_forward(s, l, s->xn, s->ffo, T);
        else
            wh_mlp_forward(s, &ly->mlp, c->intermediate_size, s->xn, s->ffo, T);
        for (int64_t i = 0; i < (int64_t)T * H; i++)
            s->x[i] += s->ffo[i];
    }
    s->routing_T = T;
    for (int t = 0; t < T; t++)
        s->seq_pos[s->row_seq[t]]++;
    if (logits == NULL)
        return WH_OK;
    wh_rmsnorm_forward(s->xn, s->x, m->final_norm, T, H, c->rms_norm_eps);
    if (all_logits)
        wh_matmul(s->pool, &s->mm, logits, s->xn, m->head, NULL, T);
    else
        wh_matmul(s->pool, &s->mm, logits, s->xn + (int64_t)(T - 1) * H, m->head, NULL, 1);
    (void)V;
    return WH_OK;
}
