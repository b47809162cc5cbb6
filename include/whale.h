/*
 * whale.h — the public API of libwhale, the DeepSeek-R1 system in C.
 *
 * Contract used throughout: every function that can fail returns WH_OK (0) or
 * a negative wh_status, and fills the caller's wh_error with a message that
 * names the file, tensor, field or byte offset at fault. The library never
 * prints (except to a FILE* the caller hands it) and never exits.
 */
#ifndef WHALE_H
#define WHALE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WHALE_VERSION "0.1.0"

typedef enum wh_status {
    WH_OK = 0,
    WH_E_IO = -1,          /* open/read/mmap failed */
    WH_E_FORMAT = -2,      /* malformed file: bad magic, truncated, out-of-bounds offsets */
    WH_E_NOMEM = -3,       /* allocation failed (or refused by the fault-injection hook) */
    WH_E_INVALID = -4,     /* bad argument or inconsistent config */
    WH_E_UNSUPPORTED = -5, /* well-formed but not handled: architecture, dtype */
    WH_E_MISSING = -6,     /* a required tensor or field is absent */
} wh_status;

typedef struct wh_error {
    int code;       /* a wh_status */
    char msg[1024]; /* human-readable, names the file/tensor/field/offset */
} wh_error;

/* Returns a short name for a status code ("format error", ...). */
const char *wh_status_name(int code);

/* ---- model configuration (mirrors HF config.json; GGUF metadata maps into it) ---- */

typedef enum wh_arch {
    WH_ARCH_DEEPSEEK_V3 = 0, /* DeepseekV3ForCausalLM: V3, R1, R1-Zero */
    WH_ARCH_DEEPSEEK_V2,     /* DeepseekV2ForCausalLM: V2, V2-Lite, V2.5 */
    WH_ARCH_QWEN2,           /* Qwen2ForCausalLM: R1-Distill-Qwen */
    WH_ARCH_LLAMA,           /* LlamaForCausalLM: R1-Distill-Llama */
} wh_arch;

typedef enum wh_score_func { WH_SCORE_SOFTMAX = 0, WH_SCORE_SIGMOID } wh_score_func;

typedef enum wh_topk_method {
    WH_TOPK_GREEDY = 0,       /* plain top-k over all experts */
    WH_TOPK_GROUP_LIMITED,    /* V2: group score = max of the group */
    WH_TOPK_NOAUX_TC,         /* V3: biased scores, group score = sum of its top-2 */
} wh_topk_method;

typedef enum wh_rope_scaling {
    WH_ROPE_NONE = 0,
    WH_ROPE_LINEAR,
    WH_ROPE_YARN,   /* DeepSeek's YaRN */
    WH_ROPE_LLAMA3, /* Llama-3.1 frequency bands */
} wh_rope_scaling;

typedef struct wh_config {
    wh_arch arch;
    int vocab_size;
    int hidden_size;
    int intermediate_size; /* dense MLP */
    int num_hidden_layers; /* excluding MTP layers */
    int num_attention_heads;
    int num_key_value_heads;
    int head_dim; /* dense GQA models */
    int max_position_embeddings;
    float rms_norm_eps;
    float rope_theta;
    bool tie_word_embeddings;
    bool attention_bias; /* q/k/v biases (Qwen2) */
    bool rope_interleaved; /* pairs (2i, 2i+1) instead of (i, i+d/2) */

    /* Multi-head latent attention */
    int q_lora_rank; /* 0: no q compression */
    int kv_lora_rank;
    int qk_nope_head_dim;
    int qk_rope_head_dim;
    int v_head_dim;

    /* DeepSeekMoE */
    int n_routed_experts; /* 0: dense model */
    int n_shared_experts;
    int num_experts_per_tok;
    int moe_intermediate_size;
    int first_k_dense_replace;
    int moe_layer_freq;
    int n_group;
    int topk_group;
    float routed_scaling_factor;
    bool norm_topk_prob;
    bool scale_after_norm; /* V3/GGUF: scale always; HF V2: scale only when not normalised */
    wh_score_func scoring_func;
    wh_topk_method topk_method;
    int num_nextn_predict_layers; /* MTP depth */

    /* RoPE scaling */
    wh_rope_scaling rope_scaling;
    float rope_factor;
    int rope_orig_max_pos;
    float yarn_beta_fast, yarn_beta_slow;
    float yarn_mscale, yarn_mscale_all_dim;
    float llama3_low_freq_factor, llama3_high_freq_factor;

    int bos_token_id, eos_token_id;
} wh_config;

/* Sizes derived from a config; computed in one place (wh_config_derive). */
typedef struct wh_dims {
    int is_mla;
    int q_head_dim;    /* qk_nope + qk_rope for MLA, head_dim otherwise */
    int rope_dim;      /* number of rotary dims per head */
    int n_moe_layers;
    int64_t kv_values_per_token_absorbed; /* per layer: kv_lora_rank + qk_rope_head_dim */
    int64_t kv_values_per_token_naive;    /* per layer: per-head K and V */
    double softmax_scale;
    int64_t n_params_total;  /* main layers + embeddings + head (MTP excluded) */
    int64_t n_params_active; /* per token */
    int64_t n_params_mtp;
} wh_dims;

/* Validates cfg and fills dims. WH_E_INVALID names the offending field. */
int wh_config_derive(const wh_config *cfg, wh_dims *dims, wh_error *err);
const char *wh_arch_name(wh_arch a);

/* ---- model ---- */

typedef struct wh_model wh_model;

/* Loads a model: a folder with config.json + *.safetensors (single or sharded),
 * a single .safetensors file whose folder holds config.json, or a .gguf file.
 * Weights are mmapped and used in place. */
int wh_model_load(const char *path, wh_model **out, wh_error *err);
void wh_model_free(wh_model *m);
const wh_config *wh_model_config(const wh_model *m);
const wh_dims *wh_model_dims(const wh_model *m);

/* Writes the `whale info` report (architecture, parameters, dtypes, files, KV bytes). */
void wh_model_describe(const wh_model *m, FILE *out);

/* KV-cache bytes per token for all layers, F32 cache, in the given MLA mode. */
int64_t wh_model_kv_bytes_per_token(const wh_model *m, int absorbed);

/* ---- session: KV cache + scratch, one sequence ---- */

typedef enum wh_mla_mode { WH_MLA_ABSORBED = 0, WH_MLA_NAIVE = 1 } wh_mla_mode;

typedef struct wh_session_opts {
    int n_ctx;         /* positions the cache holds; 0 = min(max_position_embeddings, 4096) */
    wh_mla_mode mla;   /* absorbed (default) or naive */
    int record_routing; /* keep the routed experts of the last eval (tests, debugging) */
    int n_threads;      /* 0 = one per online CPU */
} wh_session_opts;

typedef struct wh_session wh_session;

int wh_session_new(const wh_model *m, const wh_session_opts *opts, wh_session **out,
                   wh_error *err);
void wh_session_free(wh_session *s);
/* Number of positions already in the cache. */
int wh_session_pos(const wh_session *s);
void wh_session_reset(wh_session *s);

/* Runs n tokens at the next positions (prefill when n > 1, decode when n == 1).
 * logits: NULL, or room for vocab floats (last position) or n*vocab (all_logits). */
int wh_session_eval(wh_session *s, const int32_t *tokens, int n, float *logits, int all_logits,
                    wh_error *err);

/* Routed experts chosen in the last eval for MoE layer `layer` (absolute index) and
 * token i of that eval: top_k ids, sorted ascending. NULL if not recorded. */
const int32_t *wh_session_routing(const wh_session *s, int layer, int i);

/* Index of the largest logit; ties go to the lowest id. */
int32_t wh_argmax(const float *logits, int n);

/* ---- sampling ---- */

typedef struct wh_logit_bias {
    int32_t token;
    float bias; /* added to the logit; -INFINITY bans the token */
} wh_logit_bias;

typedef struct wh_sampler_params {
    float temperature;        /* 0 = greedy (argmax) */
    float top_p;              /* 1 = off */
    int top_k;                /* 0 = off */
    float min_p;              /* 0 = off: drop tokens below min_p * p(best) */
    float repetition_penalty; /* 1 = off; HF/CTRL style: logit/p if > 0 else logit*p */
    float presence_penalty;   /* 0 = off; OpenAI style */
    float frequency_penalty;  /* 0 = off; OpenAI style */
    int penalty_last_n;       /* window of recent tokens the penalties see; 0 = all */
    uint64_t seed;
    const wh_logit_bias *logit_bias;
    int n_logit_bias;
} wh_sampler_params;

/* Defaults: greedy, every filter off. R1 models recommend temperature 0.6, top_p 0.95. */
wh_sampler_params wh_sampler_defaults(void);

typedef struct wh_sampler wh_sampler;

int wh_sampler_new(const wh_sampler_params *p, int vocab, wh_sampler **out, wh_error *err);
void wh_sampler_free(wh_sampler *s);
/* Picks the next token from logits (modified in place) given the tokens so far. */
int32_t wh_sampler_sample(wh_sampler *s, float *logits, const int32_t *history, int n_history);

#ifdef __cplusplus
}
#endif
#endif
