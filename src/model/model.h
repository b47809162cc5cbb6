/*
 * model.h — a loaded model: config, derived dims, the tensor store (mmapped
 * files) and the weights bound by role. Shapes are written GGUF-style,
 * {in, out}: a linear layer y = W x with W of PyTorch shape [out, in].
 *
 * Dims named once: H hidden, V vocab, nh heads, kvh KV heads, hd head dim,
 * qhd = nope + rope (MLA), I dense MLP width, mI expert width, E routed experts.
 */
#ifndef WH_MODEL_MODEL_H
#define WH_MODEL_MODEL_H

#include "formats/tensor.h"
#include "whale.h"

typedef enum wh_format { WH_FMT_SAFETENSORS = 0, WH_FMT_GGUF } wh_format;

typedef struct wh_mlp_weights {
    const wh_tensor *gate, *up, *down; /* {H, I}, {H, I}, {I, H} */
} wh_mlp_weights;

typedef struct wh_layer {
    const float *attn_norm; /* [H] */
    const float *ffn_norm;  /* [H] */

    /* MLA (DeepSeek V2/V3) */
    const wh_tensor *wq;    /* {H, nh*qhd}, when q_lora_rank == 0 */
    const wh_tensor *wq_a;  /* {H, q_lora} */
    const float *q_a_norm;  /* [q_lora] */
    const wh_tensor *wq_b;  /* {q_lora, nh*qhd} */
    const wh_tensor *wkv_a; /* {H, kv_lora + rope}: latent and the shared rotary key */
    const float *kv_a_norm; /* [kv_lora] */
    wh_tensor
        *uk; /* nh views: W_UK per head, {kv_lora, nope} or, split layout, W_UK^T {nope, kv_lora} */
    wh_tensor *uv;     /* nh views: W_UV per head, {kv_lora, v} */
    int uk_transposed; /* 1 for GGUF attn_k_b (stores W_UK^T) */

    /* GQA (Qwen2, Llama) */
    const wh_tensor *wk, *wv;  /* {H, kvh*hd} */
    const float *bq, *bk, *bv; /* biases or NULL */

    const wh_tensor *wo; /* {nh*v or nh*hd, H} */

    /* feed-forward: dense MLP or DeepSeekMoE */
    int is_moe;
    wh_mlp_weights mlp;
    const wh_tensor *router;  /* {H, E} */
    const float *router_bias; /* [E] e_score_correction_bias, or NULL */
    wh_mlp_weights *experts;  /* E entries */
    wh_tensor *expert_views;  /* GGUF: 3*E matrix views into the stacked *_exps tensors */
    wh_mlp_weights shared;    /* {H, mI*n_shared}, or NULL tensors */
} wh_layer;

typedef struct wh_mtp {
    const float *enorm, *hnorm; /* [H] */
    const wh_tensor *eh_proj;   /* {2H, H} */
    const float *head_norm;     /* [H] */
    const wh_tensor *head;      /* {H, V}, may be NULL (shared with the main head) */
    const wh_tensor *embed;     /* {H, V}, may be NULL */
    wh_layer layer;
} wh_mtp;

struct wh_model {
    char *path;
    wh_format format;
    int mla_split_layout; /* GGUF attn_k_b/attn_v_b */
    wh_config cfg;
    wh_dims dims;
    wh_tensor_store store;

    const wh_tensor *embed; /* {H, V} */
    const float *final_norm;
    const wh_tensor *head; /* {H, V} (= embed when tied) */
    wh_layer *layers;
    wh_mtp *mtp;     /* num_nextn_predict_layers entries */
    float *inv_freq; /* [rope_dim/2], rope_freqs divisors applied */
    float rope_mscale;

    wh_tokenizer *tok;    /* the model's own tokenizer, or NULL */
    char tok_error[1024]; /* why tok is NULL */
    char *chat_template;  /* tokenizer_config.json / GGUF chat template text, or NULL */

    float **owned; /* F32 copies of small non-F32 vectors */
    int n_owned, cap_owned;
};

#endif
