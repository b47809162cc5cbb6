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

    if (s->mla == WH_MLA_ABSORBED) {
        /* absorbed queries: [W_UK_h^T q_nope | q_pe] per row and head */
        for (int h = 0; h < nh; h++) {
            if (ly->uk_transposed) {
                for (int t = 0; t < T; t++)
                    memcpy(s->hbuf_in + (int64_t)t * nope, s->q + ((int64_t)t * nh + h) * qhd,
                           (size_t)nope * sizeof(float));
                wh_matmul(s->pool, &s->mm, s->hbuf_out, s->hbuf_in, &ly->uk[h], NULL, T);
                for (int t = 0; t < T; t++)
                    memcpy(s->qfull + ((int64_t)t * nh + h) * kvw, s->hbuf_out + (int64_t)t * kvl,
                           (size_t)kvl * sizeof(float));
            } else {
                for (int t = 0; t < T; t++)
                    wh_linear_t_forward(s->qfull + ((int64_t)t * nh + h) * kvw,
                                        s->q + ((int64_t)t * nh + h) * qhd, &ly->uk[h], s->scratch);
            }
            for (int t = 0; t < T; t++)
                memcpy(s->qfull + ((int64_t)t * nh + h) * kvw + kvl,
                       s->q + ((int64_t)t * nh + h) * qhd + nope, (size_t)rope * sizeof(float));
        }
        /* scores over [latent | rotary key], values are the latents */
        wh_attention_core(s, layer, T, nh, nh, s->qfull, kvw, kvw, kvl, 0, 0, 0, scale, s->oc_all);
        /* back from the latent space: out_h = W_UV_h o_c */
        for (int h = 0; h < nh; h++) {
            for (int t = 0; t < T; t++)
                memcpy(s->hbuf_in + (int64_t)t * kvl, s->oc_all + ((int64_t)t * nh + h) * kvl,
                       (size_t)kvl * sizeof(float));
            wh_matmul(s->pool, &s->mm, s->hbuf_out, s->hbuf_in, &ly->uv[h], NULL, T);
            for (int t = 0; t < T; t++)
                memcpy(s->attn + ((int64_t)t * nh + h) * vd, s->hbuf_out + (int64_t)t * vd,
                       (size_t)vd * sizeof(float));
        }
    } else {
        for (int t = 0; t < T; t++) {
            int n = s->row_pos[t] + 1; /* causal: positions 0..pos */
            const float *cache = wh_state_cache(s, layer, s->row_seq[t]);
            const float *qt = s->q + (int64_t)t * nh * qhd;
            float *ot = s->attn + (int64_t)t * nh * vd;
            for (int h = 0; h < nh; h++) {
                const float *qh = qt + (int64_t)h * qhd;
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
                    const float *vj =
                        cache + (int64_t)j * s->kv_per_token + (int64_t)nh * qhd + (int64_t)h * vd;
                    float p = s->scores[j];
                    for (int i = 0; i < vd; i++)
                        oh[i] += p * vj[i];
                }
            }
        }
    }
    wh_matmul(s->pool, &s->mm, out, s->attn, ly->wo, NULL, T);
}
