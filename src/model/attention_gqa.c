/*
 * attention_gqa.c — grouped-query attention for the dense R1-Distill students
 * (Qwen2, Llama): nh query heads share kvh key/value heads; optional q/k/v biases
 * (Qwen2); RoPE in HF's rotate-half pairing, or interleaved for llama GGUFs whose
 * Q/K rows llama.cpp's converter permuted. Cache: [K (kvh*hd) | V (kvh*hd)] per token.
 */
#include <math.h>
#include <string.h>

#include "kernels/act.h"
#include "kernels/linear.h"
#include "kernels/matmul.h"
#include "kernels/rope.h"
#include "model/state.h"

void wh_gqa_forward(wh_state *s, int layer, const float *xn, float *out, int T)
{
    const wh_model *m = s->m;
    const wh_config *c = &m->cfg;
    const wh_layer *ly = &m->layers[layer];
    int nh = c->num_attention_heads, kvh = c->num_key_value_heads, hd = c->head_dim;
    int kvd = kvh * hd, group = nh / kvh;
    float scale = (float)m->dims.softmax_scale;

    wh_matmul(s->pool, &s->mm, s->q, xn, ly->wq, ly->bq, T);
    wh_matmul(s->pool, &s->mm, s->kva, xn, ly->wk, ly->bk, T);
    wh_matmul(s->pool, &s->mm, s->vv, xn, ly->wv, ly->bv, T);

    for (int t = 0; t < T; t++) {
        int pos = s->row_pos[t];
        float *cache = wh_state_cache(s, layer, s->row_seq[t]);
        float *qt = s->q + (int64_t)t * nh * hd;
        float *kt = s->kva + (int64_t)t * kvd;
        wh_rope_forward(qt, nh, hd, hd, pos, m->inv_freq, m->rope_mscale, c->rope_interleaved);
        wh_rope_forward(kt, kvh, hd, hd, pos, m->inv_freq, m->rope_mscale, c->rope_interleaved);
        float *slot = cache + (int64_t)pos * s->kv_per_token;
        memcpy(slot, kt, (size_t)kvd * sizeof(float));
        memcpy(slot + kvd, s->vv + (int64_t)t * kvd, (size_t)kvd * sizeof(float));
    }
    wh_attention_core(s, layer, T, nh, group, s->q, hd, hd, hd, hd, kvd, hd, scale, s->attn);
    wh_matmul(s->pool, &s->mm, out, s->attn, ly->wo, NULL, T);
}
