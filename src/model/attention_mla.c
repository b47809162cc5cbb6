/*
 * attention_mla.c — Multi-head Latent Attention (DeepSeek-V2 paper, §2.1).
 *
 *   c_kv = RMSNorm(W_DKV x)            latent [kv_lora]     k_R = RoPE(W_KR x)  [rope], one head
 *   q    = W_UQ RMSNorm(W_DQ x)  (or W_Q x)                  per head [nope | rope]
 *   k_h  = [W_UK_h c_kv ; k_R]          v_h = W_UV_h c_kv
 *   o    = W_O concat_h softmax(q_h k_h^T * scale) v_h
 *
 * Two evaluation orders of the same maths:
 *   naive    — the cache holds per-head K and V (decompressed);
 *   absorbed — W_UK is folded into the query (q_c = W_UK_h^T q_nope) and W_UV is
 *              applied after attention, so the cache holds only c_kv and k_R:
 *              kv_lora + rope floats per token per layer (the decode default).
 * RoPE pairs are interleaved (x[2i], x[2i+1]), as DeepSeek's checkpoints expect.
 */
#include <math.h>
#include <string.h>

#include "kernels/act.h"
#include "kernels/linear.h"
#include "kernels/matmul.h"
#include "kernels/norm.h"
#include "kernels/rope.h"
#include "model/state.h"

/* y = W_UK_h c  (naive key) */
static void uk_apply(const wh_layer *ly, int h, const float *c, float *y, float *scratch)
{
    if (ly->uk_transposed)
        wh_linear_t_forward(y, c, &ly->uk[h], scratch); /* stored W_UK^T: {nope, kv_lora} */
    else
        wh_linear_forward(y, c, &ly->uk[h], NULL, 1, scratch);
}

/* y = W_UK_h^T q  (absorbed query) */
static void uk_t_apply(const wh_layer *ly, int h, const float *q, float *y, float *scratch)
{
    if (ly->uk_transposed)
        wh_linear_forward(y, q, &ly->uk[h], NULL, 1, scratch);
    else
        wh_linear_t_forward(y, q, &ly->uk[h], scratch);
}

void wh_mla_forward(wh_state *s, int layer, const float *xn, float *out, int T)
{
    const wh_model *m = s->m;
    const wh_config *c = &m->cfg;
    const wh_layer *ly = &m->layers[layer];
    int nh = c->num_attention_heads, nope = c->qk_nope_head_dim, rope = c->qk_rope_head_dim;
    int qhd = nope + rope, kvl = c->kv_lora_rank, vd = c->v_head_dim;
    int kvw = kvl + rope;
    float scale = (float)m->dims.softmax_scale;

    /* queries [T][nh*qhd] */
    if (c->q_lora_rank > 0) {
        wh_matmul(s->pool, &s->mm, s->qa, xn, ly->wq_a, NULL, T);
        wh_rmsnorm_forward(s->qa, s->qa, ly->q_a_norm, T, c->q_lora_rank, c->rms_norm_eps);
        wh_matmul(s->pool, &s->mm, s->q, s->qa, ly->wq_b, NULL, T);
    } else {
        wh_matmul(s->pool, &s->mm, s->q, xn, ly->wq, NULL, T);
    }
    /* latent and rotary key [T][kv_lora + rope] */
    wh_matmul(s->pool, &s->mm, s->kva, xn, ly->wkv_a, NULL, T);

    for (int t = 0; t < T; t++) {
        int pos = s->row_pos[t];
        float *cache = wh_state_cache(s, layer, s->row_seq[t]);
        float *kv = s->kva + (int64_t)t * kvw;
        wh_rmsnorm_forward(kv, kv, ly->kv_a_norm, 1, kvl, c->rms_norm_eps);
        wh_rope_forward(kv + kvl, 1, rope, rope, pos, m->inv_freq, m->rope_mscale, 1);
        wh_rope_forward(s->q + (int64_t)t * nh * qhd + nope, nh, qhd, rope, pos, m->inv_freq,
                        m->rope_mscale, 1);
        float *slot = cache + (int64_t)pos * s->kv_per_token;
        if (s->mla == WH_MLA_ABSORBED) {
            memcpy(slot, kv, (size_t)kvw * sizeof(float));
        } else {
            for (int h = 0; h < nh; h++) {
                float *k = slot + (int64_t)h * qhd;
                float *v = slot + (int64_t)nh * qhd + (int64_t)h * vd;
                uk_apply(ly, h, kv, k, s->scratch);
                memcpy(k + nope, kv + kvl, (size_t)rope * sizeof(float));
                wh_matmul(s->pool, &s->mm, v, kv, &ly->uv[h], NULL, 1);
            }
        }
    }

    for (int t = 0; t < T; t++) {
        int n = s->row_pos[t] + 1; /* causal: positions 0..pos */
        const float *cache = wh_state_cache(s, layer, s->row_seq[t]);
        const float *qt = s->q + (int64_t)t * nh * qhd;
        float *ot = s->attn + (int64_t)t * nh * vd;
        for (int h = 0; h < nh; h++) {
            const float *qh = qt + (int64_t)h * qhd;
            if (s->mla == WH_MLA_ABSORBED) {
                uk_t_apply(ly, h, qh, s->qc, s->scratch);
                for (int j = 0; j < n; j++) {
                    const float *cj = cache + (int64_t)j * s->kv_per_token;
                    float d = 0.0f, r = 0.0f;
                    for (int i = 0; i < kvl; i++)
                        d += s->qc[i] * cj[i];
                    for (int i = 0; i < rope; i++)
                        r += qh[nope + i] * cj[kvl + i];
                    s->scores[j] = (d + r) * scale;
                }
                wh_softmax_forward(s->scores, n);
                memset(s->oc, 0, (size_t)kvl * sizeof(float));
                for (int j = 0; j < n; j++) {
                    const float *cj = cache + (int64_t)j * s->kv_per_token;
                    float p = s->scores[j];
                    for (int i = 0; i < kvl; i++)
                        s->oc[i] += p * cj[i];
                }
                wh_matmul(s->pool, &s->mm, ot + (int64_t)h * vd, s->oc, &ly->uv[h], NULL, 1);
            } else {
                for (int j = 0; j < n; j++) {
                    const float *kj = cache + (int64_t)j * s->kv_per_token + (int64_t)h * qhd;
                    float d = 0.0f;
                    for (int i = 0; i < qhd; i++)
                        d += qh[i] * kj[i];
                    s->scores[j] = d * scale;
                }
                wh_softmax_forward(s->scores, n);
                float *oh = ot + (int64_t)h * vd;
                memset(oh, 0, (size_t)vd * sizeof(float));
                for (int j = 0; j < n; j++) {
                    const float *vj = cache + (int64_t)j * s->kv_per_token + (int64_t)nh * qhd +
                                      (int64_t)h * vd;
                    float p = s->scores[j];
                    for (int i = 0; i < vd; i++)
                        oh[i] += p * vj[i];
                }
            }
        }
    }
    wh_matmul(s->pool, &s->mm, out, s->attn, ly->wo, NULL, T);
}
