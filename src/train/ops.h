/*
 * ops.h — training ops: forward/backward pairs, FP32, for DeepSeek-V3-architecture models
 * (MLA, DeepSeekMoE, MTP) and the dense GQA students (Qwen2/Llama).
 *
 * THE RULE (llm.c's convention, stated once here and followed by every op):
 *
 *   X_forward (out…, saved…, inp…, weights…, [scratch,] dims)
 *   X_backward(dinp…, dweights…, dout, inp…, weights…, saved…, [scratch,] dims)
 *
 *   - backward takes its arguments in the same order as forward (gradients first);
 *     arguments an op does not need are left out, never reordered;
 *   - PARAMETER gradients ACCUMULATE (+=): the caller zeroes them once per step, so
 *     gradient accumulation and shared weights (the MTP head) need nothing special;
 *   - ACTIVATION gradients are ASSIGNED (=): where one activation feeds two consumers
 *     (the residual stream) the caller adds the two results;
 *   - a NULL gradient pointer means "not wanted" (a frozen weight, the first layer's
 *     input) and is skipped.
 *
 * No op allocates. `saved` holds what forward keeps for backward, `scratch` is
 * backward's working memory; the composite ops give their sizes in floats with a
 * *_saved_floats / *_scratch_floats function (one place), the simple ops in the comment.
 *
 * Dims, named once:
 *   B batch, T positions per sequence, N = B*T rows (row n = b*T + t, position t),
 *   C hidden size, V vocabulary, I MLP width, NH query heads, NKV key/value heads,
 *   HD head dim, E routed experts, K experts per token, G expert groups.
 * Layouts: activations row-major [N][width]; weights as HF stores them, [out][in].
 */
#ifndef WH_TRAIN_OPS_H
#define WH_TRAIN_OPS_H

#include <stddef.h>

#include "whale.h"

/* ---------------------------------------------------------------- ops_basic.c */

/* out[N][C] = wte[tokens[n]]; a negative token gives a zero row (no gradient). */
void wh_tr_embedding_forward(float *out, const int *tokens, const float *wte, int N, int C);
void wh_tr_embedding_backward(float *dwte, const float *dout, const int *tokens, int N, int C);

/* RMSNorm (Zhang & Sennrich 2019): out = inp * rstd * w, rstd[N] = 1/sqrt(mean(inp^2)+eps).
 * backward: dinp may alias dout. */
void wh_tr_rmsnorm_forward(float *out, float *rstd, const float *inp, const float *w, int N, int C,
                           float eps);
void wh_tr_rmsnorm_backward(float *dinp, float *dw, const float *dout, const float *inp,
                            const float *w, const float *rstd, int N, int C);

/* out[N][OC] = inp[N][IC] w[OC][IC]^T + bias[OC] (bias may be NULL). cblas_sgemm. */
void wh_tr_linear_forward(float *out, const float *inp, const float *w, const float *bias, int N,
                          int IC, int OC);
void wh_tr_linear_backward(float *dinp, float *dw, float *dbias, const float *dout,
                           const float *inp, const float *w, int N, int IC, int OC);

/* SwiGLU (Shazeer 2020): out = silu(gate) * up, n elements. */
void wh_tr_swiglu_forward(float *out, const float *gate, const float *up, int n);
void wh_tr_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate,
                           const float *up, int n);

/* Softmax + cross-entropy per row: losses[n] = -log softmax(logits[n])[targets[n]],
 * probs[N][V] saved. A negative target is ignored (loss 0, gradient 0).
 * backward: dlogits = dlosses[n] * (probs - onehot(target)). */
void wh_tr_crossentropy_forward(float *losses, float *probs, const float *logits,
                                const int *targets, int N, int V);
void wh_tr_crossentropy_backward(float *dlogits, const float *dlosses, const int *targets,
                                 const float *probs, int N, int V);

/* Weighted cross-entropy, the per-target loss weights of SFT (a mask on the assistant's
 * tokens, normalised over the batch) and of GRPO (each token's coefficient):
 *   loss = sum_n weights[n] * losses[n],  losses[n] = -log softmax(logits[n])[targets[n]]
 * (sum in double; a negative target contributes nothing). losses[N], probs[N][V] saved.
 * backward: dlogits[n] = dloss * weights[n] * (probs[n] - onehot(targets[n])). */
void wh_tr_crossentropy_weighted_forward(float *loss, float *losses, float *probs,
                                         const float *logits, const int *targets,
                                         const float *weights, int N, int V);
void wh_tr_crossentropy_weighted_backward(float *dlogits, float dloss, const int *targets,
                                          const float *weights, const float *probs, int N, int V);

/* SwiGLU MLP: out = down(silu(gate x) * up x); gate, up [I][C], down [C][I]. */
typedef struct wh_tr_mlp_w {
    float *gate, *up, *down;
} wh_tr_mlp_w;
size_t wh_tr_mlp_saved_floats(int N, int I);          /* 3*N*I */
size_t wh_tr_mlp_scratch_floats(int N, int C, int I); /* 3*N*I + N*C */
void wh_tr_mlp_forward(float *out, float *saved, const float *inp, const wh_tr_mlp_w *w, int N,
                       int C, int I);
void wh_tr_mlp_backward(float *dinp, wh_tr_mlp_w *dw, const float *dout, const float *inp,
                        const wh_tr_mlp_w *w, const float *saved, float *scratch, int N, int C,
                        int I);

/* ---------------------------------------------------------------- ops_rope.c */

/* RoPE tables cos[T][D/2], sin[T][D/2] for positions 0..T-1, from wh_rope_freqs (so YaRN,
 * Llama-3 and linear scaling are the inference engine's), the YaRN mscale folded in. */
void wh_tr_rope_tables(float *cos_t, float *sin_t, const wh_config *cfg, int D, int T);

/* Rotates dims [OFF, OFF+D) of each of NH heads of HS floats in every row of inp[N][NH*HS];
 * other dims are copied. interleaved: pairs (2i, 2i+1) (DeepSeek); otherwise (i, i+D/2)
 * (Qwen/Llama rotate-half). out may alias inp; dinp may alias dout. */
void wh_tr_rope_forward(float *out, const float *inp, const float *cos_t, const float *sin_t, int B,
                        int T, int NH, int HS, int OFF, int D, int interleaved);
void wh_tr_rope_backward(float *dinp, const float *dout, const float *cos_t, const float *sin_t,
                         int B, int T, int NH, int HS, int OFF, int D, int interleaved);

/* ---------------------------------------------------------------- ops_attention.c */

/* Causal softmax attention. q [N][NH][HD], k [N][NKV][HD], v [N][NKV][VD] -> out [N][NH][VD];
 * query head h reads kv head h / (NH/NKV). att [B][NH][T][T] saves the probabilities.
 * backward scratch: T*T floats. */
void wh_tr_attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                             int B, int T, int NH, int NKV, int HD, int VD, float scale);
void wh_tr_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                              const float *k, const float *v, const float *att, float *scratch,
                              int B, int T, int NH, int NKV, int HD, int VD, float scale);

/* Multi-head Latent Attention, naive form (DeepSeek-V2 §2.1): inp = RMSNorm'd x [N][C].
 *   q   = wq_b RMSNorm(wq_a x) (QLR > 0) or wq x      [N][NH][NOPE+ROPE], RoPE on the last ROPE
 *   c   = RMSNorm(wkv_a[:KVLR] x)   k_pe = RoPE(wkv_a[KVLR:] x)   (one rotary key, all heads)
 *   [k_nope_h | v_h] = wkv_b_h c    k_h = [k_nope_h | k_pe]
 *   out = wo concat_h attention(q_h, k_h, v_h)
 * Shapes: wq_a [QLR][C], q_a_norm [QLR], wq_b [NH*(NOPE+ROPE)][QLR], wq [NH*(NOPE+ROPE)][C],
 * wkv_a [KVLR+ROPE][C], kv_a_norm [KVLR], wkv_b [NH*(NOPE+VD)][KVLR], wo [C][NH*VD].
 * The same struct carries the gradients. */
typedef struct wh_tr_mla_w {
    float *wq_a, *q_a_norm, *wq_b, *wq, *wkv_a, *kv_a_norm, *wkv_b, *wo;
} wh_tr_mla_w;
typedef struct wh_tr_mla_dims {
    int B, T, C, NH, QLR, KVLR, NOPE, ROPE, VD;
    float eps, scale;
    const float *cos_t, *sin_t; /* [T][ROPE/2], interleaved pairs */
} wh_tr_mla_dims;
size_t wh_tr_mla_saved_floats(const wh_tr_mla_dims *d);
size_t wh_tr_mla_scratch_floats(const wh_tr_mla_dims *d);
void wh_tr_mla_forward(float *out, float *saved, const float *inp, const wh_tr_mla_w *w,
                       const wh_tr_mla_dims *d);
void wh_tr_mla_backward(float *dinp, wh_tr_mla_w *dw, const float *dout, const float *inp,
                        const wh_tr_mla_w *w, const float *saved, float *scratch,
                        const wh_tr_mla_dims *d);

/* Grouped-query attention (Qwen2/Llama): q = wq x + bq [N][NH*HD], k, v = [N][NKV*HD]
 * (biases may be NULL), RoPE on all HD dims, out = wo concat_h attention. wo [C][NH*HD]. */
typedef struct wh_tr_gqa_w {
    float *wq, *bq, *wk, *bk, *wv, *bv, *wo;
} wh_tr_gqa_w;
typedef struct wh_tr_gqa_dims {
    int B, T, C, NH, NKV, HD, interleaved;
    float scale;
    const float *cos_t, *sin_t; /* [T][HD/2] */
} wh_tr_gqa_dims;
size_t wh_tr_gqa_saved_floats(const wh_tr_gqa_dims *d);
size_t wh_tr_gqa_scratch_floats(const wh_tr_gqa_dims *d);
void wh_tr_gqa_forward(float *out, float *saved, const float *inp, const wh_tr_gqa_w *w,
                       const wh_tr_gqa_dims *d);
void wh_tr_gqa_backward(float *dinp, wh_tr_gqa_w *dw, const float *dout, const float *inp,
                        const wh_tr_gqa_w *w, const float *saved, float *scratch,
                        const wh_tr_gqa_dims *d);

/* ---------------------------------------------------------------- ops_moe.c */

/* DeepSeekMoE with V3 routing (DeepSeek-V3 §2.1.2, eqs. 12-16):
 *   s = sigmoid(router x) [E];  choice = s + bias (bias steers selection only);
 *   group score = sum of the top-2 choices of each of G groups; keep the TG best groups
 *   (G <= 1: all); top-K of choice among them (ties to the lowest index);
 *   gates g = s_sel / sum(s_sel) (norm_topk, K > 1) times route_scale;
 *   out = sum_k g_k FFN_sel_k(x) + shared MLP(x) (NS shared experts = one MLP of NS*I).
 * Gradients reach the router only through the selected gates (the choice is a step
 * function), plus dscores_extra (the balance loss's gradient on s, may be NULL).
 * Shapes: router [E][C]; bias [E]; experts gate/up [E][I][C], down [E][C][I];
 * shared gate/up [NS*I][C], down [C][NS*I]. `route` holds ints: sel [N][K] (sorted
 * ascending), then bookkeeping; wh_tr_moe_route_ints gives its size. */
typedef struct wh_tr_moe_w {
    float *router, *bias; /* bias: selection only; never written, no gradient */
    float *gate, *up, *down;
    wh_tr_mlp_w shared;
} wh_tr_moe_w;
typedef struct wh_tr_moe_dims {
    int N, C, E, K, I, NS, G, TG, norm_topk;
    float route_scale;
} wh_tr_moe_dims;
size_t wh_tr_moe_saved_floats(const wh_tr_moe_dims *d);
size_t wh_tr_moe_scratch_floats(const wh_tr_moe_dims *d);
size_t wh_tr_moe_route_ints(const wh_tr_moe_dims *d);
/* The router's decision for one token: sel[K] ascending, gates[K] in that order. */
void wh_tr_moe_route(int *sel, float *gates, const float *scores, const float *bias,
                     const wh_tr_moe_dims *d);
void wh_tr_moe_forward(float *out, float *saved, int *route, const float *inp, const wh_tr_moe_w *w,
                       const wh_tr_moe_dims *d);
void wh_tr_moe_backward(float *dinp, wh_tr_moe_w *dw, const float *dout, const float *dscores_extra,
                        const float *inp, const wh_tr_moe_w *w, const float *saved,
                        const int *route, float *scratch, const wh_tr_moe_dims *d);
/* s [N][E] and sel [N][K] of the last forward, for the balance loss and load statistics. */
const float *wh_tr_moe_scores(const float *saved);
static inline const int *wh_tr_moe_sel(const int *route)
{
    return route;
}

/* Complementary sequence-wise balance loss (DeepSeek-V3 §2.1.2, eqs. 17-20), averaged
 * over the B sequences:  L = alpha/B sum_b sum_i f_i P_i,
 *   f_i = E/(K T) sum_t 1[i in sel_t],  P_i = 1/T sum_t s_i,t / sum_j s_j,t.
 * f is a count (no gradient); backward assigns dscores [N][E] = dloss * dL/ds. */
void wh_tr_balance_forward(float *loss, const float *scores, const int *sel, int B, int T, int E,
                           int K, float alpha);
void wh_tr_balance_backward(float *dscores, float dloss, const float *scores, const int *sel, int B,
                            int T, int E, int K, float alpha);

/* Auxiliary-loss-free balancing (DeepSeek-V3 §2.1.2): load[E] += tokens routed to each
 * expert, padding positions (tokens[n] < 0; tokens NULL: none) not counted, so that the
 * padded batches of SFT and GRPO do not steer the bias; after the step
 * bias_i += gamma * sign(mean(load) - load_i); statistics. */
void wh_tr_moe_count_load(float *load, const int *sel, const int *tokens, int N, int K, int E);
void wh_tr_moe_bias_update(float *bias, const float *load, int E, float gamma);
typedef struct wh_tr_load_stats {
    float max_load, mean_load, max_over_mean; /* max_over_mean: 1 = perfectly balanced */
    float bias_min, bias_max, bias_mean_abs;
} wh_tr_load_stats;
void wh_tr_moe_load_stats(wh_tr_load_stats *st, const float *load, const float *bias, int E);

/* ---------------------------------------------------------------- ops_mtp.c */

/* Multi-token prediction input (DeepSeek-V3 §2.2, eq. 21), depth 1:
 *   out = eh_proj [RMSNorm_e(e); RMSNorm_h(h)]
 * h [N][C]: the main model's last hidden state at position t; e [N][C]: the embedding of
 * token t+1. Concatenation order as in DeepSeek-V3's checkpoints (embedding first; the
 * paper writes h first, the maths is the same up to eh_proj's column order).
 * hnorm, enorm [C], eh_proj [C][2C]. Then the caller runs one block and the shared head. */
typedef struct wh_tr_mtp_w {
    float *hnorm, *enorm, *eh_proj;
} wh_tr_mtp_w;
size_t wh_tr_mtp_saved_floats(int N, int C);   /* 2*N*C + 2*N */
size_t wh_tr_mtp_scratch_floats(int N, int C); /* 2*N*C */
void wh_tr_mtp_forward(float *out, float *saved, const float *h, const float *e,
                       const wh_tr_mtp_w *w, int N, int C, float eps);
void wh_tr_mtp_backward(float *dh, float *de, wh_tr_mtp_w *dw, const float *dout, const float *h,
                        const float *e, const wh_tr_mtp_w *w, const float *saved, float *scratch,
                        int N, int C);

#endif
