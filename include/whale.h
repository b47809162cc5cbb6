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
    WH_E_BUSY = -7,        /* a queue or every slot is full: try again later */
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
    WH_TOPK_GREEDY = 0,    /* plain top-k over all experts */
    WH_TOPK_GROUP_LIMITED, /* V2: group score = max of the group */
    WH_TOPK_NOAUX_TC,      /* V3: biased scores, group score = sum of its top-2 */
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
    bool attention_bias;   /* q/k/v biases (Qwen2) */
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
    int q_head_dim; /* qk_nope + qk_rope for MLA, head_dim otherwise */
    int rope_dim;   /* number of rotary dims per head */
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

/* The model's own tokenizer (tokenizer.json in its folder, or the GGUF vocabulary).
 * NULL when it has none or it failed to load; err then says why. */
struct wh_tokenizer;
const struct wh_tokenizer *wh_model_tokenizer(const wh_model *m, wh_error *err);
/* The chat template text the model ships (tokenizer_config.json or GGUF), or NULL.
 * It is never evaluated: whale recognises the known families (chat format). */
const char *wh_model_chat_template(const wh_model *m);

/* Writes the `whale info` report (architecture, parameters, dtypes, files, KV bytes). */
void wh_model_describe(const wh_model *m, FILE *out);

/* KV-cache bytes per token for all layers, F32 cache, in the given MLA mode. */
int64_t wh_model_kv_bytes_per_token(const wh_model *m, int absorbed);

/* ---- export: a loaded model as a GGUF file llama.cpp loads (`whale quantize`) ----
 * Any model whale loads (HF safetensors F32/BF16/F16/FP8, or GGUF) is written with
 * llama.cpp's tensor names and metadata keys: deepseek2 (split attn_k_b/attn_v_b MLA
 * layout, stacked experts, MTP layers as blk.N.nextn.*), qwen2, llama (Q/K rows permuted
 * to interleaved pairs, rope_freqs for Llama-3 scaling); the model's tokenizer and chat
 * template as tokenizer.*. type: f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q2_k q3_k_m
 * q4_k_m q5_k_m q6_k (case-insensitive); the mixtures follow llama.cpp's per-tensor
 * rules (src/model/export_gguf.c). The file appears at out_path only when complete
 * (written to out_path.tmp, then renamed; the temporary is removed on failure).
 * Errors: WH_E_INVALID (unknown type), WH_E_UNSUPPORTED (a config llama.cpp's metadata
 * cannot express, named in the message), WH_E_IO, WH_E_NOMEM. */

/* Called before each tensor is written: its GGUF name and type, index of count. */
typedef void (*wh_progress_fn)(void *user, const char *name, const char *type, int index,
                               int count);

typedef struct wh_export_opts {
    int n_threads; /* 0 = one per online CPU */
} wh_export_opts;

typedef struct wh_export_stats {
    int n_tensors;
    uint64_t n_elements;      /* weights written */
    uint64_t tensor_bytes;    /* their bytes (bits per weight = 8 * bytes / elements) */
    uint64_t file_bytes;      /* size of the written file */
    uint64_t source_bytes;    /* tensor bytes of the source files (FP8 scales included) */
    uint64_t source_elements; /* their weights (FP8 scales excluded) */
} wh_export_stats;

int wh_model_export_gguf(const wh_model *m, const char *out_path, const char *type,
                         wh_progress_fn progress, void *user, wh_error *err);
/* The same with options (may be NULL) and statistics of the written file (may be NULL). */
int wh_model_export_gguf_ex(const wh_model *m, const char *out_path, const char *type,
                            const wh_export_opts *opts, wh_export_stats *stats,
                            wh_progress_fn progress, void *user, wh_error *err);
/* The accepted type names, space-separated. */
const char *wh_export_types(void);

/* ---- session: KV cache + scratch, one sequence ---- */

typedef enum wh_mla_mode { WH_MLA_ABSORBED = 0, WH_MLA_NAIVE = 1 } wh_mla_mode;

typedef struct wh_session_opts {
    int n_ctx;          /* positions the cache holds; 0 = min(max_position_embeddings, 4096) */
    wh_mla_mode mla;    /* absorbed (default) or naive */
    int record_routing; /* keep the routed experts of the last eval (tests, debugging) */
    int n_threads;      /* 0 = one per online CPU */
    int n_seq;          /* sequences (KV caches) for batched decoding; 0 = 1 */
    int exact;          /* 1: F32 activations against dequantised weights (reference numerics);
                           0: the fast kernels, which quantise activations to 8 bits for
                           block-quantised weights as llama.cpp does */
} wh_session_opts;

typedef struct wh_session wh_session;

int wh_session_new(const wh_model *m, const wh_session_opts *opts, wh_session **out, wh_error *err);
void wh_session_free(wh_session *s);
/* Number of positions already in the cache, and the cache's capacity. */
int wh_session_pos(const wh_session *s);
int wh_session_ctx(const wh_session *s);
/* Forgets positions from pos on (keeps a shared prefix for the next turn). */
int wh_session_truncate(wh_session *s, int pos, wh_error *err);
void wh_session_reset(wh_session *s);

/* Runs n tokens at the next positions (prefill when n > 1, decode when n == 1).
 * logits: NULL, or room for vocab floats (last position) or n*vocab (all_logits). */
int wh_session_eval(wh_session *s, const int32_t *tokens, int n, float *logits, int all_logits,
                    wh_error *err);

/* Several sequences in one session (continuous batching): each has its own cache of
 * n_ctx positions; the weights and every matrix product are shared. */
int wh_session_n_seq(const wh_session *s);
int wh_session_seq_pos(const wh_session *s, int seq);
int wh_session_seq_truncate(wh_session *s, int seq, int pos, wh_error *err);
/* Like wh_session_eval, for sequence seq (wh_session_eval is sequence 0). */
int wh_session_eval_seq(wh_session *s, int seq, const int32_t *tokens, int n, float *logits,
                        int all_logits, wh_error *err);
/* One token for each of n distinct sequences, in one batched forward pass;
 * logits: [n][vocab]. */
int wh_session_decode_batch(wh_session *s, const int *seqs, const int32_t *tokens, int n,
                            float *logits, wh_error *err);

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

/* ---- tokenizer: byte-level BPE of the DeepSeek-R1 family ----
 * Loaded from a Hugging Face tokenizer.json (+ tokenizer_config.json beside it) or
 * from a GGUF file's tokenizer.ggml.* metadata; both give the same ids for the same
 * vocabulary. Encoding: split out added/special tokens (leftmost-longest), normalise
 * (NFC when the vocabulary asks), pre-tokenize with the vocabulary's regexes (PCRE2),
 * BPE on each piece's bytes. A loaded tokenizer is read-only and thread-safe.
 * Memory returned to the caller (ids, text) is released with wh_free(). */

/* Releases memory the library returned to the caller. */
void wh_free(void *p);

struct wh_gguf;
typedef struct wh_tokenizer wh_tokenizer;

/* Token attributes; the numbers are GGUF's tokenizer.ggml.token_type values. */
typedef enum wh_token_attr {
    WH_TOKEN_NORMAL = 1,       /* a BPE vocabulary entry */
    WH_TOKEN_UNKNOWN = 2,      /* the unknown token (never produced by byte-level BPE) */
    WH_TOKEN_CONTROL = 3,      /* special added token (BOS, EOS, chat markers) */
    WH_TOKEN_USER_DEFINED = 4, /* non-special added token (e.g. <think> in R1) */
    WH_TOKEN_UNUSED = 5,       /* reserved id with no text */
    WH_TOKEN_BYTE = 6,         /* byte-fallback token (not used by byte-level BPE) */
} wh_token_attr;

/* Flags for encode and decode. */
enum {
    /* encode: prepend BOS when the tokenizer's config asks for it (HF add_special_tokens). */
    WH_TOK_ADD_SPECIAL = 1u << 0,
    /* encode: recognise special (CONTROL) tokens written literally in the text. Without it
     * only non-special added tokens are recognised and e.g. "<｜end▁of▁sentence｜>" is
     * tokenized as plain text (the safe choice for untrusted input). */
    WH_TOK_PARSE_SPECIAL = 1u << 1,
    /* decode: leave CONTROL tokens out of the text. */
    WH_TOK_SKIP_SPECIAL = 1u << 2,
};

/* Loads from a path that is a folder (tokenizer.json, else the only *.gguf in it), a
 * tokenizer.json file (its folder's tokenizer_config.json is read when present) or a
 * .gguf file (only the metadata is used). */
int wh_tokenizer_load(const char *path, wh_tokenizer **out, wh_error *err);

/* tokenizer.json from a file (path may also be its folder). */
int wh_tokenizer_load_json(const char *path, wh_tokenizer **out, wh_error *err);

/* tokenizer.json from memory; config (tokenizer_config.json) may be NULL. `name` is used
 * in error messages. The buffers need not be NUL-terminated and are not kept. */
int wh_tokenizer_load_json_mem(const char *json, size_t len, const char *config, size_t config_len,
                               const char *name, wh_tokenizer **out, wh_error *err);

/* From the tokenizer.ggml.* keys of an open GGUF file. Nothing of g is kept. */
int wh_tokenizer_load_gguf(const struct wh_gguf *g, wh_tokenizer **out, wh_error *err);

void wh_tokenizer_free(wh_tokenizer *t);

/* Number of ids (largest id + 1; ids with no token decode to nothing). */
int32_t wh_tokenizer_n_vocab(const wh_tokenizer *t);
/* Special ids, -1 when the vocabulary has none. */
int32_t wh_tokenizer_bos(const wh_tokenizer *t);
int32_t wh_tokenizer_eos(const wh_tokenizer *t);
int32_t wh_tokenizer_think_open(const wh_tokenizer *t);  /* "<think>" */
int32_t wh_tokenizer_think_close(const wh_tokenizer *t); /* "</think>" */
/* 1 when WH_TOK_ADD_SPECIAL prepends BOS. */
int wh_tokenizer_adds_bos(const wh_tokenizer *t);
/* The pre-tokenizer in use: "deepseek-v3", "qwen2", ..., or "tokenizer.json" for a
 * Split sequence read from the file. */
const char *wh_tokenizer_pre_name(const wh_tokenizer *t);

/* Id of the token whose text is exactly s[0..len) (an added token's content, or a
 * vocabulary entry's bytes), or -1. */
int32_t wh_tokenizer_find(const wh_tokenizer *t, const char *s, size_t len);

/* The bytes a token decodes to (not NUL-terminated; may be partial UTF-8), or NULL
 * with *len = 0 for an id out of range. */
const char *wh_tokenizer_piece(const wh_tokenizer *t, int32_t id, size_t *len);
/* A wh_token_attr, or 0 for an id out of range or with no token. */
int wh_tokenizer_attr(const wh_tokenizer *t, int32_t id);

/* Encodes text[0..len) (any bytes; see docs/TOKENIZER.md for invalid UTF-8) into a new
 * array *ids of *n_ids ids (free with wh_free; never NULL on success). */
int wh_tokenizer_encode(const wh_tokenizer *t, const char *text, size_t len, unsigned flags,
                        int32_t **ids, size_t *n_ids, wh_error *err);

/* Decodes ids into a new NUL-terminated buffer *text of *len bytes (free with wh_free).
 * An id out of range is WH_E_INVALID. */
int wh_tokenizer_decode(const wh_tokenizer *t, const int32_t *ids, size_t n_ids, unsigned flags,
                        char **text, size_t *len, wh_error *err);

/* Streaming decoder: feed ids one at a time, get text that never ends inside a UTF-8
 * sequence. Bytes that cannot start or continue a valid sequence are passed through as
 * soon as that is known, so the concatenated output equals wh_tokenizer_decode's. */
typedef struct wh_tokstream wh_tokstream;

int wh_tokstream_new(const wh_tokenizer *t, unsigned flags, wh_tokstream **out, wh_error *err);
/* text, len: the newly completed text; valid until the next call on s. */
int wh_tokstream_push(wh_tokstream *s, int32_t id, const char **text, size_t *len, wh_error *err);
/* Emits whatever is held back (an incomplete sequence at the end of the stream). */
void wh_tokstream_flush(wh_tokstream *s, const char **text, size_t *len);
void wh_tokstream_free(wh_tokstream *s);

/* ---- chat format: the R1 / V3 / R1-Distill conversation formats, rendered in C ----
 * A model's chat_template is untrusted Jinja and is never evaluated: its text (or the
 * vocabulary) only selects one of these fixed renderers, each reproducing the official
 * template byte for byte (docs/TOKENIZER.md). Unknown templates fall back to a plain
 * "System/User/Assistant" format, reported through wh_chat_match. */

typedef enum wh_chat_family {
    WH_CHAT_R1 = 0,     /* DeepSeek-R1: generation prompt "<｜Assistant｜><think>\n" */
    WH_CHAT_V3,         /* DeepSeek-V3: no reasoning, generation prompt "<｜Assistant｜>" */
    WH_CHAT_R1_DISTILL, /* DeepSeek-R1-Distill-Qwen / -Llama */
    WH_CHAT_PLAIN,      /* fallback: "System: ...\nUser: ...\nAssistant:" */
} wh_chat_family;

/* How wh_chat_detect decided. Callers should print a warning for MATCH_NONE and may
 * print a note for MATCH_SIMILAR and MATCH_VOCAB. */
typedef enum wh_chat_match {
    WH_CHAT_MATCH_EXACT = 0, /* the template text is byte for byte a known official one */
    WH_CHAT_MATCH_SIMILAR,   /* a variant recognised by its markers, rendered as the family */
    WH_CHAT_MATCH_VOCAB,     /* no usable template; family read off the special tokens */
    WH_CHAT_MATCH_NONE,      /* nothing recognised: WH_CHAT_PLAIN */
} wh_chat_match;

typedef struct wh_chat_tool_call {
    const char *type;      /* NULL means "function" */
    const char *name;      /* required */
    const char *arguments; /* required: the arguments as JSON text, rendered verbatim */
} wh_chat_tool_call;

/* One message. Strings are NUL-terminated and rendered byte for byte (invalid UTF-8
 * included). An empty string is valid content. */
typedef struct wh_chat_msg {
    const char *role;      /* "system", "user", "assistant" or "tool"; anything else is an error */
    const char *content;   /* NULL is JSON null: allowed only for an assistant message with
                              tool calls; every other message needs content */
    const char *reasoning; /* optional, never rendered: every supported format drops the
                              reasoning of earlier turns from the history */
    const wh_chat_tool_call *tool_calls; /* assistant only; n_tool_calls entries */
    int n_tool_calls;                    /* 0 = none (an empty list counts as none) */
} wh_chat_msg;

/* Upper bound on a rendered conversation; longer ones are WH_E_INVALID. */
#define WH_CHAT_MAX_BYTES ((size_t)1 << 30)

/* Picks the family for a model. template_text is the chat_template string from
 * tokenizer_config.json or GGUF tokenizer.chat_template (NULL or "" when absent); tok may
 * be NULL. A template that is present but not a DeepSeek one gives WH_CHAT_PLAIN (the
 * model expects some other format); only an absent template falls back to the vocabulary.
 * *how (may be NULL) says how the decision was made. Never fails. */
wh_chat_family wh_chat_detect(const char *template_text, const wh_tokenizer *tok,
                              wh_chat_match *how);

/* "deepseek-r1", "deepseek-v3", "deepseek-r1-distill", "plain", or "?" for a bad value. */
const char *wh_chat_family_name(wh_chat_family f);

/* Renders msgs[0..n) into a new NUL-terminated buffer *out_text of *out_len bytes (free
 * with wh_free). add_generation_prompt appends the opening of the assistant's reply.
 * n == 0 is allowed (BOS and the generation prompt only). Errors: WH_E_INVALID for a bad
 * argument or message (the message names the index and field) or a result over
 * WH_CHAT_MAX_BYTES; WH_E_NOMEM. On error *out_text is NULL. */
int wh_chat_render(wh_chat_family f, const wh_chat_msg *msgs, int n, int add_generation_prompt,
                   char **out_text, size_t *out_len, wh_error *err);

/* Renders and tokenizes in one step, with the flags each family needs: the DeepSeek
 * formats write BOS themselves and are encoded with WH_TOK_PARSE_SPECIAL; the plain
 * format is encoded with WH_TOK_ADD_SPECIAL (BOS when the tokenizer's config asks for
 * it) and without special-token parsing. *ids is freed with wh_free. */
int wh_chat_encode(const wh_tokenizer *tok, wh_chat_family f, const wh_chat_msg *msgs, int n,
                   int add_generation_prompt, int32_t **ids, size_t *n_ids, wh_error *err);

/* ---- generation: sampling loop with reasoning split, budget and stop strings ---- */

typedef enum wh_finish {
    WH_FINISH_STOP = 0,  /* end-of-sequence token or a stop string */
    WH_FINISH_LENGTH,    /* max_tokens reached */
    WH_FINISH_CANCELLED, /* the callback asked to stop */
    WH_FINISH_CONTEXT,   /* the context is full */
} wh_finish;

typedef struct wh_gen_params {
    wh_sampler_params sampler;
    int max_tokens;          /* generated tokens at most (reasoning included) */
    int think_budget;        /* < 0: unlimited; else after this many reasoning tokens the
                                thought is closed with "\n</think>\n\n" and the answer follows */
    const char *const *stop; /* stop strings, matched in the answer text */
    int n_stop;
    int starts_in_reasoning; /* the prompt ended inside <think> (R1's generation prompt) */
} wh_gen_params;

typedef struct wh_gen_result {
    int n_prompt;    /* tokens evaluated for the prompt */
    int n_generated; /* tokens generated (reasoning included) */
    int n_reasoning; /* of which inside <think>...</think> */
    wh_finish finish;
    double prompt_ms, gen_ms, first_token_ms;
} wh_gen_result;

/* Text callback: is_reasoning tells the thinking apart from the answer. Text never ends
 * inside a UTF-8 sequence. Return non-zero to stop (finish = CANCELLED). */
typedef int (*wh_gen_cb)(void *user, const char *text, size_t len, int is_reasoning);

/* Evaluates prompt[0..n_prompt) at the session's current position, then samples until a
 * stop condition, streaming text to cb. Generated tokens stay in the session's cache. */
int wh_generate(wh_session *s, const wh_model *m, const int32_t *prompt, int n_prompt,
                const wh_gen_params *p, wh_gen_cb cb, void *user, wh_gen_result *res,
                wh_error *err);

#ifdef __cplusplus
}
#endif
#endif
