/*
 * config.c — HF config.json and GGUF metadata → one validated wh_config.
 * Field names and defaults follow the HF configuration classes of each
 * architecture (DeepseekV3Config, DeepseekV2Config, Qwen2Config, LlamaConfig).
 */
#include "model/config.h"

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"

const char *wh_arch_name(wh_arch a)
{
    switch (a) {
    case WH_ARCH_DEEPSEEK_V3:
        return "DeepseekV3ForCausalLM";
    case WH_ARCH_DEEPSEEK_V2:
        return "DeepseekV2ForCausalLM";
    case WH_ARCH_QWEN2:
        return "Qwen2ForCausalLM";
    case WH_ARCH_LLAMA:
        return "LlamaForCausalLM";
    }
    return "unknown";
}

/* ---- HF config.json ---- */

typedef struct jctx {
    json_object *root;
    const char *path;
    wh_error *err;
    int rc;
} jctx;

/* Integer field: absent or null keeps *out (unless required). */
static void j_int(jctx *j, const char *key, int required, int *out)
{
    json_object *o;
    if (j->rc != WH_OK)
        return;
    if (!json_object_object_get_ex(j->root, key, &o) || o == NULL) {
        if (required)
            j->rc = wh_err(j->err, WH_E_MISSING, "%s: field %s is missing", j->path, key);
        return;
    }
    if (!json_object_is_type(o, json_type_int)) {
        j->rc = wh_err(j->err, WH_E_INVALID, "%s: field %s must be an integer", j->path, key);
        return;
    }
    int64_t v = json_object_get_int64(o);
    if (v < -1 || v > (1 << 30)) {
        j->rc = wh_err(j->err, WH_E_INVALID, "%s: field %s = %lld is out of range", j->path, key,
                       (long long)v);
        return;
    }
    *out = (int)v;
}

/* bos/eos ids: an integer, null, or a list of integers (the first is taken). */
static void j_token_id(jctx *j, const char *key, int *out)
{
    json_object *o;
    if (j->rc != WH_OK || !json_object_object_get_ex(j->root, key, &o) || o == NULL)
        return;
    if (json_object_is_type(o, json_type_array) && json_object_array_length(o) > 0)
        o = json_object_array_get_idx(o, 0);
    if (!json_object_is_type(o, json_type_int)) {
        j->rc = wh_err(j->err, WH_E_INVALID, "%s: field %s must be a token id or a list of them",
                       j->path, key);
        return;
    }
    int64_t v = json_object_get_int64(o);
    if (v < 0 || v >= (1 << 30)) {
        j->rc = wh_err(j->err, WH_E_INVALID, "%s: field %s = %lld is out of range", j->path, key,
                       (long long)v);
        return;
    }
    *out = (int)v;
}

static void j_float_in(jctx *j, json_object *obj, const char *key, float *out)
{
    json_object *o;
    if (j->rc != WH_OK || !json_object_object_get_ex(obj, key, &o) || o == NULL)
        return;
    if (!json_object_is_type(o, json_type_int) && !json_object_is_type(o, json_type_double)) {
        j->rc = wh_err(j->err, WH_E_INVALID, "%s: field %s must be a number", j->path, key);
        return;
    }
    double v = json_object_get_double(o);
    if (!isfinite(v)) {
        j->rc = wh_err(j->err, WH_E_INVALID, "%s: field %s is not finite", j->path, key);
        return;
    }
    *out = (float)v;
}

static void j_bool(jctx *j, const char *key, bool *out)
{
    json_object *o;
    if (j->rc != WH_OK || !json_object_object_get_ex(j->root, key, &o) || o == NULL)
        return;
    if (!json_object_is_type(o, json_type_boolean)) {
        j->rc = wh_err(j->err, WH_E_INVALID, "%s: field %s must be true or false", j->path, key);
        return;
    }
    *out = json_object_get_boolean(o);
}

static const char *j_str_in(jctx *j, json_object *obj, const char *key)
{
    json_object *o;
    if (j->rc != WH_OK || !json_object_object_get_ex(obj, key, &o) || o == NULL)
        return NULL;
    if (!json_object_is_type(o, json_type_string)) {
        j->rc = wh_err(j->err, WH_E_INVALID, "%s: field %s must be a string", j->path, key);
        return NULL;
    }
    return json_object_get_string(o);
}

static void hf_rope_scaling(jctx *j, wh_config *c)
{
    json_object *rs;
    if (j->rc != WH_OK || !json_object_object_get_ex(j->root, "rope_scaling", &rs) || rs == NULL)
        return;
    if (!json_object_is_type(rs, json_type_object)) {
        j->rc = wh_err(j->err, WH_E_INVALID, "%s: field rope_scaling must be an object", j->path);
        return;
    }
    const char *type = j_str_in(j, rs, "type");
    if (type == NULL)
        type = j_str_in(j, rs, "rope_type");
    if (j->rc != WH_OK)
        return;
    if (type == NULL || strcmp(type, "default") == 0)
        return;
    c->rope_factor = 1.0f;
    j_float_in(j, rs, "factor", &c->rope_factor);
    if (strcmp(type, "yarn") == 0) {
        c->rope_scaling = WH_ROPE_YARN;
        c->yarn_beta_fast = 32.0f;
        c->yarn_beta_slow = 1.0f;
        c->yarn_mscale = 1.0f;
        c->yarn_mscale_all_dim = 0.0f;
        c->rope_orig_max_pos = 4096;
        json_object *o;
        if (json_object_object_get_ex(rs, "original_max_position_embeddings", &o) &&
            json_object_is_type(o, json_type_int))
            c->rope_orig_max_pos = (int)json_object_get_int64(o);
        j_float_in(j, rs, "beta_fast", &c->yarn_beta_fast);
        j_float_in(j, rs, "beta_slow", &c->yarn_beta_slow);
        j_float_in(j, rs, "mscale", &c->yarn_mscale);
        j_float_in(j, rs, "mscale_all_dim", &c->yarn_mscale_all_dim);
    } else if (strcmp(type, "llama3") == 0) {
        c->rope_scaling = WH_ROPE_LLAMA3;
        c->llama3_low_freq_factor = 1.0f;
        c->llama3_high_freq_factor = 4.0f;
        c->rope_orig_max_pos = 8192;
        json_object *o;
        if (json_object_object_get_ex(rs, "original_max_position_embeddings", &o) &&
            json_object_is_type(o, json_type_int))
            c->rope_orig_max_pos = (int)json_object_get_int64(o);
        j_float_in(j, rs, "low_freq_factor", &c->llama3_low_freq_factor);
        j_float_in(j, rs, "high_freq_factor", &c->llama3_high_freq_factor);
    } else if (strcmp(type, "linear") == 0) {
        c->rope_scaling = WH_ROPE_LINEAR;
    } else {
        j->rc = wh_err(j->err, WH_E_UNSUPPORTED, "%s: rope_scaling type \"%s\" is not supported",
                       j->path, type);
    }
}

static void set_defaults(wh_config *c)
{
    memset(c, 0, sizeof *c);
    c->rms_norm_eps = 1e-6f;
    c->rope_theta = 10000.0f;
    c->max_position_embeddings = 4096;
    c->moe_layer_freq = 1;
    c->n_group = 1;
    c->topk_group = 1;
    c->routed_scaling_factor = 1.0f;
    c->rope_factor = 1.0f;
    c->bos_token_id = -1;
    c->eos_token_id = -1;
}

int wh_config_from_hf_text(const char *text, size_t len, const char *path, wh_config *cfg,
                           wh_error *err)
{
    set_defaults(cfg);
    json_tokener *tok = json_tokener_new_ex(16);
    if (tok == NULL)
        return wh_err(err, WH_E_NOMEM, "%s: out of memory", path);
    json_object *root = json_tokener_parse_ex(tok, text, (int)len);
    if (root == NULL || json_tokener_get_error(tok) != json_tokener_success ||
        !json_object_is_type(root, json_type_object)) {
        size_t at = json_tokener_get_parse_end(tok);
        json_object_put(root);
        json_tokener_free(tok);
        return wh_err(err, WH_E_FORMAT, "%s: not a JSON object (error near byte %zu)", path, at);
    }
    json_tokener_free(tok);
    jctx j = {root, path, err, WH_OK};
    wh_config *c = cfg;

    const char *arch = NULL;
    json_object *archs;
    if (json_object_object_get_ex(root, "architectures", &archs) &&
        json_object_is_type(archs, json_type_array) && json_object_array_length(archs) > 0) {
        json_object *a0 = json_object_array_get_idx(archs, 0);
        if (json_object_is_type(a0, json_type_string))
            arch = json_object_get_string(a0);
    }
    const char *mt = j_str_in(&j, root, "model_type");
    if (arch != NULL && strcmp(arch, "DeepseekV3ForCausalLM") == 0)
        c->arch = WH_ARCH_DEEPSEEK_V3;
    else if (arch != NULL && strcmp(arch, "DeepseekV2ForCausalLM") == 0)
        c->arch = WH_ARCH_DEEPSEEK_V2;
    else if (arch != NULL && strcmp(arch, "Qwen2ForCausalLM") == 0)
        c->arch = WH_ARCH_QWEN2;
    else if (arch != NULL && strcmp(arch, "LlamaForCausalLM") == 0)
        c->arch = WH_ARCH_LLAMA;
    else if (arch == NULL && mt != NULL && strcmp(mt, "deepseek_v3") == 0)
        c->arch = WH_ARCH_DEEPSEEK_V3;
    else if (arch == NULL && mt != NULL && strcmp(mt, "deepseek_v2") == 0)
        c->arch = WH_ARCH_DEEPSEEK_V2;
    else if (arch == NULL && mt != NULL && strcmp(mt, "qwen2") == 0)
        c->arch = WH_ARCH_QWEN2;
    else if (arch == NULL && mt != NULL && strcmp(mt, "llama") == 0)
        c->arch = WH_ARCH_LLAMA;
    else {
        /* arch and mt point into root: format the message before releasing it */
        int rc = wh_err(err, WH_E_UNSUPPORTED,
                        "%s: field architectures: \"%s\" is not supported (DeepseekV3ForCausalLM, "
                        "DeepseekV2ForCausalLM, Qwen2ForCausalLM, LlamaForCausalLM are)",
                        path, arch ? arch : (mt ? mt : "(none)"));
        json_object_put(root);
        return rc;
    }
    int is_ds = c->arch == WH_ARCH_DEEPSEEK_V3 || c->arch == WH_ARCH_DEEPSEEK_V2;

    j_int(&j, "vocab_size", 1, &c->vocab_size);
    j_int(&j, "hidden_size", 1, &c->hidden_size);
    j_int(&j, "intermediate_size", 1, &c->intermediate_size);
    j_int(&j, "num_hidden_layers", 1, &c->num_hidden_layers);
    j_int(&j, "num_attention_heads", 1, &c->num_attention_heads);
    c->num_key_value_heads = c->num_attention_heads;
    j_int(&j, "num_key_value_heads", 0, &c->num_key_value_heads);
    j_int(&j, "max_position_embeddings", 0, &c->max_position_embeddings);
    j_float_in(&j, root, "rms_norm_eps", &c->rms_norm_eps);
    j_float_in(&j, root, "rope_theta", &c->rope_theta);
    j_bool(&j, "tie_word_embeddings", &c->tie_word_embeddings);
    j_token_id(&j, "bos_token_id", &c->bos_token_id);
    j_token_id(&j, "eos_token_id", &c->eos_token_id);
    hf_rope_scaling(&j, c);

    if (is_ds) {
        c->rope_interleaved = true;
        j_int(&j, "q_lora_rank", 0, &c->q_lora_rank);
        j_int(&j, "kv_lora_rank", 1, &c->kv_lora_rank);
        j_int(&j, "qk_nope_head_dim", 1, &c->qk_nope_head_dim);
        j_int(&j, "qk_rope_head_dim", 1, &c->qk_rope_head_dim);
        j_int(&j, "v_head_dim", 1, &c->v_head_dim);
        j_int(&j, "n_routed_experts", 0, &c->n_routed_experts);
        j_int(&j, "n_shared_experts", 0, &c->n_shared_experts);
        j_int(&j, "num_experts_per_tok", 0, &c->num_experts_per_tok);
        j_int(&j, "moe_intermediate_size", 0, &c->moe_intermediate_size);
        j_int(&j, "first_k_dense_replace", 0, &c->first_k_dense_replace);
        j_int(&j, "moe_layer_freq", 0, &c->moe_layer_freq);
        j_int(&j, "n_group", 0, &c->n_group);
        j_int(&j, "topk_group", 0, &c->topk_group);
        j_float_in(&j, root, "routed_scaling_factor", &c->routed_scaling_factor);
        j_bool(&j, "norm_topk_prob", &c->norm_topk_prob);
        j_int(&j, "num_nextn_predict_layers", 0, &c->num_nextn_predict_layers);
        const char *sf = j_str_in(&j, root, "scoring_func");
        const char *tm = j_str_in(&j, root, "topk_method");
        if (c->arch == WH_ARCH_DEEPSEEK_V3) {
            c->scoring_func = WH_SCORE_SIGMOID;
            c->topk_method = WH_TOPK_NOAUX_TC;
            c->scale_after_norm = true;
        } else {
            c->scoring_func = WH_SCORE_SOFTMAX;
            c->topk_method = WH_TOPK_GREEDY;
            c->scale_after_norm = false;
        }
        if (sf != NULL && strcmp(sf, "sigmoid") == 0)
            c->scoring_func = WH_SCORE_SIGMOID;
        else if (sf != NULL && strcmp(sf, "softmax") == 0)
            c->scoring_func = WH_SCORE_SOFTMAX;
        else if (sf != NULL && j.rc == WH_OK)
            j.rc =
                wh_err(err, WH_E_UNSUPPORTED, "%s: scoring_func \"%s\" is not supported", path, sf);
        if (tm != NULL && strcmp(tm, "noaux_tc") == 0)
            c->topk_method = WH_TOPK_NOAUX_TC;
        else if (tm != NULL && strcmp(tm, "group_limited_greedy") == 0)
            c->topk_method = WH_TOPK_GROUP_LIMITED;
        else if (tm != NULL && (strcmp(tm, "greedy") == 0 || strcmp(tm, "gready") == 0))
            c->topk_method = WH_TOPK_GREEDY;
        else if (tm != NULL && j.rc == WH_OK)
            j.rc =
                wh_err(err, WH_E_UNSUPPORTED, "%s: topk_method \"%s\" is not supported", path, tm);
    } else {
        c->head_dim = 0;
        j_int(&j, "head_dim", 0, &c->head_dim);
        if (c->head_dim == 0 && c->num_attention_heads > 0)
            c->head_dim = c->hidden_size / c->num_attention_heads;
        c->attention_bias = c->arch == WH_ARCH_QWEN2;
        if (c->arch == WH_ARCH_LLAMA)
            j_bool(&j, "attention_bias", &c->attention_bias);
    }
    json_object_put(root);
    return j.rc;
}

static void read_generation_config(const char *dir, wh_config *cfg)
{
    /* Optional: only bos/eos are taken from it when config.json lacks them. */
    char *path = NULL, *text = NULL;
    uint64_t len = 0;
    if (wh_path_join_inside(dir, "generation_config.json", &path, dir, NULL) != WH_OK)
        return;
    if (wh_is_file(path) && wh_read_text(path, 1 << 20, &text, &len, NULL) == WH_OK) {
        json_object *root = json_tokener_parse(text);
        json_object *o;
        if (root != NULL && json_object_is_type(root, json_type_object)) {
            jctx j = {root, "generation_config.json", NULL, WH_OK};
            if (cfg->bos_token_id < 0)
                j_token_id(&j, "bos_token_id", &cfg->bos_token_id);
            if (cfg->eos_token_id < 0)
                j_token_id(&j, "eos_token_id", &cfg->eos_token_id);
            (void)o;
        }
        json_object_put(root);
    }
    wh_free(text);
    wh_free(path);
}

int wh_config_from_hf(const char *dir, wh_config *cfg, wh_error *err)
{
    char *path = NULL, *text = NULL;
    uint64_t len = 0;
    int rc = wh_path_join_inside(dir, "config.json", &path, dir, err);
    if (rc != WH_OK)
        return rc;
    rc = wh_read_text(path, 4 << 20, &text, &len, err);
    if (rc == WH_OK)
        rc = wh_config_from_hf_text(text, (size_t)len, path, cfg, err);
    wh_free(text);
    wh_free(path);
    if (rc == WH_OK)
        read_generation_config(dir, cfg);
    return rc;
}

/* ---- GGUF metadata ---- */

int wh_config_from_gguf(const wh_gguf *g, wh_config *cfg, int *mla_split_layout, wh_error *err)
{
    set_defaults(cfg);
    *mla_split_layout = 0;
    wh_gguf_str arch;
    int rc = wh_gguf_get_str(g, "general.architecture", 1, &arch, err);
    if (rc != WH_OK)
        return rc;
    const char *an;
    if (wh_gguf_str_eq(arch, "deepseek2"))
        an = "deepseek2";
    else if (wh_gguf_str_eq(arch, "qwen2"))
        an = "qwen2";
    else if (wh_gguf_str_eq(arch, "llama"))
        an = "llama";
    else
        return wh_err(err, WH_E_UNSUPPORTED,
                      "%s: general.architecture \"%.*s\" is not supported (deepseek2, qwen2, "
                      "llama are)",
                      g->path, (int)(arch.len > 64 ? 64 : arch.len), arch.ptr);
    char key[128];
    uint32_t u;
#define GET_U32(name, req, field)                                                                  \
    do {                                                                                           \
        snprintf(key, sizeof key, "%s.%s", an, name);                                              \
        u = (uint32_t)(field);                                                                     \
        if ((rc = wh_gguf_get_u32(g, key, req, &u, err)) != WH_OK)                                 \
            return rc;                                                                             \
        if (u > (1u << 30))                                                                        \
            return wh_err(err, WH_E_INVALID, "%s: metadata %s = %u is out of range", g->path, key, \
                          u);                                                                      \
        (field) = (int)u;                                                                          \
    } while (0)
#define GET_F32(name, req, field)                                                                  \
    do {                                                                                           \
        snprintf(key, sizeof key, "%s.%s", an, name);                                              \
        if ((rc = wh_gguf_get_f32(g, key, req, &(field), err)) != WH_OK)                           \
            return rc;                                                                             \
    } while (0)

    int block_count = 0;
    GET_U32("block_count", 1, block_count);
    GET_U32("context_length", 0, cfg->max_position_embeddings);
    GET_U32("embedding_length", 1, cfg->hidden_size);
    GET_U32("feed_forward_length", 0, cfg->intermediate_size);
    GET_U32("attention.head_count", 1, cfg->num_attention_heads);
    cfg->num_key_value_heads = cfg->num_attention_heads;
    GET_U32("attention.head_count_kv", 0, cfg->num_key_value_heads);
    GET_F32("rope.freq_base", 0, cfg->rope_theta);
    GET_F32("attention.layer_norm_rms_epsilon", 0, cfg->rms_norm_eps);
    GET_U32("vocab_size", 0, cfg->vocab_size);
    if (cfg->vocab_size == 0) {
        int64_t ti = wh_gguf_find(g, "tokenizer.ggml.tokens");
        if (ti >= 0 && g->kv[ti].type == WH_GGUF_ARRAY && g->kv[ti].v.arr.n < (1u << 30))
            cfg->vocab_size = (int)g->kv[ti].v.arr.n;
        for (uint64_t i = 0; i < g->n_tensors; i++)
            if (strcmp(g->tensors[i].name, "token_embd.weight") == 0 &&
                g->tensors[i].ne[1] < (1 << 30))
                cfg->vocab_size = (int)g->tensors[i].ne[1];
    }
    int64_t v;
    if (wh_gguf_get_i64(g, "tokenizer.ggml.bos_token_id", 0, &v, NULL) == WH_OK &&
        wh_gguf_find(g, "tokenizer.ggml.bos_token_id") >= 0 && v < (1 << 30))
        cfg->bos_token_id = (int)v;
    if (wh_gguf_get_i64(g, "tokenizer.ggml.eos_token_id", 0, &v, NULL) == WH_OK &&
        wh_gguf_find(g, "tokenizer.ggml.eos_token_id") >= 0 && v < (1 << 30))
        cfg->eos_token_id = (int)v;

    int has_output = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (strcmp(g->tensors[i].name, "output.weight") == 0)
            has_output = 1;
    cfg->tie_word_embeddings = !has_output;

    if (strcmp(an, "deepseek2") == 0) {
        cfg->rope_interleaved = true;
        int nextn = 0, key_len = 0, val_len = 0, key_mla = 0, val_mla = 0, gating = 0;
        GET_U32("nextn_predict_layers", 0, nextn);
        GET_U32("attention.q_lora_rank", 0, cfg->q_lora_rank);
        GET_U32("attention.kv_lora_rank", 1, cfg->kv_lora_rank);
        GET_U32("rope.dimension_count", 1, cfg->qk_rope_head_dim);
        GET_U32("attention.key_length", 1, key_len);
        GET_U32("attention.value_length", 1, val_len);
        GET_U32("attention.key_length_mla", 0, key_mla);
        GET_U32("attention.value_length_mla", 0, val_mla);
        if (key_mla > 0) {
            *mla_split_layout = 1;
            cfg->qk_nope_head_dim = key_mla - cfg->qk_rope_head_dim;
            cfg->v_head_dim = val_mla;
        } else {
            cfg->qk_nope_head_dim = key_len - cfg->qk_rope_head_dim;
            cfg->v_head_dim = val_len;
        }
        cfg->num_key_value_heads = cfg->num_attention_heads;
        if (cfg->qk_nope_head_dim < 0)
            return wh_err(err, WH_E_INVALID,
                          "%s: deepseek2.attention.key_length is smaller than "
                          "rope.dimension_count",
                          g->path);
        GET_U32("leading_dense_block_count", 0, cfg->first_k_dense_replace);
        GET_U32("expert_feed_forward_length", 0, cfg->moe_intermediate_size);
        GET_U32("expert_count", 0, cfg->n_routed_experts);
        GET_U32("expert_shared_count", 0, cfg->n_shared_experts);
        GET_U32("expert_used_count", 0, cfg->num_experts_per_tok);
        GET_F32("expert_weights_scale", 0, cfg->routed_scaling_factor);
        snprintf(key, sizeof key, "%s.expert_weights_norm", an);
        if ((rc = wh_gguf_get_bool(g, key, 0, &cfg->norm_topk_prob, err)) != WH_OK)
            return rc;
        GET_U32("expert_gating_func", 0, gating);
        GET_U32("expert_group_count", 0, cfg->n_group);
        GET_U32("expert_group_used_count", 0, cfg->topk_group);
        cfg->scale_after_norm = true;
        if (gating == 2) {
            cfg->arch = WH_ARCH_DEEPSEEK_V3;
            cfg->scoring_func = WH_SCORE_SIGMOID;
            cfg->topk_method = WH_TOPK_NOAUX_TC;
        } else {
            cfg->arch = WH_ARCH_DEEPSEEK_V2;
            cfg->scoring_func = WH_SCORE_SOFTMAX;
            cfg->topk_method = cfg->n_group > 1 ? WH_TOPK_GROUP_LIMITED : WH_TOPK_GREEDY;
        }
        if (nextn > block_count)
            return wh_err(err, WH_E_INVALID,
                          "%s: deepseek2.nextn_predict_layers exceeds block_count", g->path);
        cfg->num_nextn_predict_layers = nextn;
        cfg->num_hidden_layers = block_count - nextn;
        wh_gguf_str rst = {0};
        snprintf(key, sizeof key, "%s.rope.scaling.type", an);
        if ((rc = wh_gguf_get_str(g, key, 0, &rst, err)) != WH_OK)
            return rc;
        if (rst.ptr != NULL && wh_gguf_str_eq(rst, "yarn")) {
            float logmul = 0.0f;
            cfg->rope_scaling = WH_ROPE_YARN;
            cfg->yarn_beta_fast = 32.0f;
            cfg->yarn_beta_slow = 1.0f;
            GET_F32("rope.scaling.factor", 1, cfg->rope_factor);
            GET_U32("rope.scaling.original_context_length", 1, cfg->rope_orig_max_pos);
            GET_F32("rope.scaling.yarn_log_multiplier", 0, logmul);
            GET_F32("rope.scaling.yarn_beta_fast", 0, cfg->yarn_beta_fast);
            GET_F32("rope.scaling.yarn_beta_slow", 0, cfg->yarn_beta_slow);
            /* llama.cpp stores 0.1 * mscale_all_dim and assumes mscale == mscale_all_dim */
            cfg->yarn_mscale_all_dim = logmul / 0.1f;
            cfg->yarn_mscale = cfg->yarn_mscale_all_dim;
        }
    } else {
        cfg->arch = strcmp(an, "qwen2") == 0 ? WH_ARCH_QWEN2 : WH_ARCH_LLAMA;
        cfg->num_hidden_layers = block_count;
        cfg->head_dim = cfg->num_attention_heads ? cfg->hidden_size / cfg->num_attention_heads : 0;
        GET_U32("attention.key_length", 0, cfg->head_dim);
        /* llama.cpp's converter permutes llama Q/K rows to interleaved pairs */
        cfg->rope_interleaved = cfg->arch == WH_ARCH_LLAMA;
        cfg->attention_bias = false;
        for (uint64_t i = 0; i < g->n_tensors; i++)
            if (strcmp(g->tensors[i].name, "blk.0.attn_q.bias") == 0)
                cfg->attention_bias = true;
    }
#undef GET_U32
#undef GET_F32
    return WH_OK;
}

/* ---- validation and derived sizes: the one place ---- */

static double yarn_get_mscale(double scale, double mscale)
{
    if (scale <= 1.0)
        return 1.0;
    return 0.1 * mscale * log(scale) + 1.0;
}

int wh_config_derive(const wh_config *c, wh_dims *d, wh_error *err)
{
    memset(d, 0, sizeof *d);
    const char *an = wh_arch_name(c->arch);
#define REQUIRE(cond, ...)                                                                         \
    do {                                                                                           \
        if (!(cond))                                                                               \
            return wh_err(err, WH_E_INVALID, __VA_ARGS__);                                         \
    } while (0)
    REQUIRE(c->num_hidden_layers > 0 && c->num_hidden_layers <= 4096,
            "%s config: num_hidden_layers = %d (must be 1..4096)", an, c->num_hidden_layers);
    REQUIRE(c->hidden_size > 0 && c->hidden_size <= (1 << 18),
            "%s config: hidden_size = %d is absurd", an, c->hidden_size);
    REQUIRE(c->vocab_size > 0 && c->vocab_size <= (1 << 24), "%s config: vocab_size = %d is absurd",
            an, c->vocab_size);
    REQUIRE(c->num_attention_heads > 0 && c->num_attention_heads <= 4096,
            "%s config: num_attention_heads = %d is absurd", an, c->num_attention_heads);
    REQUIRE(c->rms_norm_eps > 0.0f && c->rms_norm_eps < 1.0f,
            "%s config: rms_norm_eps = %g is absurd", an, (double)c->rms_norm_eps);
    REQUIRE(c->rope_theta > 1.0f, "%s config: rope_theta = %g is absurd", an,
            (double)c->rope_theta);
    REQUIRE(c->max_position_embeddings > 0, "%s config: max_position_embeddings must be > 0", an);
    int is_ds = c->arch == WH_ARCH_DEEPSEEK_V3 || c->arch == WH_ARCH_DEEPSEEK_V2;
    d->is_mla = is_ds;
    int64_t H = c->hidden_size, V = c->vocab_size, L = c->num_hidden_layers;
    int64_t nh = c->num_attention_heads;
    int64_t attn = 0;
    if (is_ds) {
        REQUIRE(c->kv_lora_rank > 0 && c->kv_lora_rank <= (1 << 16),
                "%s config: kv_lora_rank = %d is absurd", an, c->kv_lora_rank);
        REQUIRE(c->q_lora_rank >= 0 && c->q_lora_rank <= (1 << 16),
                "%s config: q_lora_rank = %d is absurd", an, c->q_lora_rank);
        REQUIRE(c->qk_rope_head_dim > 0 && c->qk_rope_head_dim % 2 == 0 &&
                    c->qk_rope_head_dim <= 1024,
                "%s config: qk_rope_head_dim = %d does not fit (must be even, > 0)", an,
                c->qk_rope_head_dim);
        REQUIRE(c->qk_nope_head_dim >= 0 && c->qk_nope_head_dim <= 4096,
                "%s config: qk_nope_head_dim = %d is absurd", an, c->qk_nope_head_dim);
        REQUIRE(c->v_head_dim > 0 && c->v_head_dim <= 4096, "%s config: v_head_dim = %d is absurd",
                an, c->v_head_dim);
        d->q_head_dim = c->qk_nope_head_dim + c->qk_rope_head_dim;
        d->rope_dim = c->qk_rope_head_dim;
        d->kv_values_per_token_absorbed = c->kv_lora_rank + c->qk_rope_head_dim;
        d->kv_values_per_token_naive = nh * (d->q_head_dim + c->v_head_dim);
        int64_t q = c->q_lora_rank > 0
                        ? H * c->q_lora_rank + c->q_lora_rank + c->q_lora_rank * nh * d->q_head_dim
                        : H * nh * d->q_head_dim;
        attn = q + H * (c->kv_lora_rank + c->qk_rope_head_dim) + c->kv_lora_rank +
               (int64_t)c->kv_lora_rank * nh * (c->qk_nope_head_dim + c->v_head_dim) +
               nh * c->v_head_dim * H;
    } else {
        REQUIRE(c->num_key_value_heads > 0 && c->num_attention_heads % c->num_key_value_heads == 0,
                "%s config: num_attention_heads = %d is not a multiple of num_key_value_heads = "
                "%d",
                an, c->num_attention_heads, c->num_key_value_heads);
        REQUIRE(c->head_dim > 0 && c->head_dim % 2 == 0 && c->head_dim <= 4096,
                "%s config: head_dim = %d does not fit (hidden_size / heads must be even)", an,
                c->head_dim);
        d->q_head_dim = c->head_dim;
        d->rope_dim = c->head_dim;
        int64_t kvh = c->num_key_value_heads, hd = c->head_dim;
        d->kv_values_per_token_absorbed = 2 * kvh * hd;
        d->kv_values_per_token_naive = 2 * kvh * hd;
        attn = H * nh * hd + 2 * H * kvh * hd + nh * hd * H;
        if (c->attention_bias)
            attn += nh * hd + 2 * kvh * hd;
    }
    REQUIRE(c->intermediate_size > 0 || (c->n_routed_experts > 0 && c->first_k_dense_replace == 0),
            "%s config: intermediate_size = %d", an, c->intermediate_size);
    REQUIRE(c->intermediate_size >= 0 && c->intermediate_size <= (1 << 22),
            "%s config: intermediate_size = %d is absurd", an, c->intermediate_size);
    REQUIRE(c->num_nextn_predict_layers >= 0 && c->num_nextn_predict_layers <= 64,
            "%s config: num_nextn_predict_layers = %d is absurd (0..64)", an,
            c->num_nextn_predict_layers);
    int64_t dense_mlp = 3 * H * (int64_t)c->intermediate_size;
    int64_t moe_total = 0, moe_active = 0;
    if (c->n_routed_experts > 0) {
        REQUIRE(c->n_routed_experts <= 4096, "%s config: n_routed_experts = %d is absurd", an,
                c->n_routed_experts);
        REQUIRE(c->num_experts_per_tok > 0 && c->num_experts_per_tok <= c->n_routed_experts &&
                    c->num_experts_per_tok <= 256,
                "%s config: num_experts_per_tok = %d must be in 1..n_routed_experts (%d)", an,
                c->num_experts_per_tok, c->n_routed_experts);
        REQUIRE(c->moe_intermediate_size > 0 && c->moe_intermediate_size <= (1 << 22),
                "%s config: moe_intermediate_size = %d (must be 1..4194304)", an,
                c->moe_intermediate_size);
        REQUIRE(c->n_shared_experts >= 0 && c->n_shared_experts <= 64,
                "%s config: n_shared_experts = %d is absurd", an, c->n_shared_experts);
        REQUIRE(c->moe_layer_freq >= 1, "%s config: moe_layer_freq must be >= 1", an);
        REQUIRE(c->first_k_dense_replace >= 0 && c->first_k_dense_replace <= c->num_hidden_layers,
                "%s config: first_k_dense_replace = %d exceeds num_hidden_layers", an,
                c->first_k_dense_replace);
        int ng = c->topk_method == WH_TOPK_GREEDY ? 1 : c->n_group;
        REQUIRE(ng >= 1 && ng <= 4096 && c->n_routed_experts % ng == 0,
                "%s config: n_group = %d does not divide n_routed_experts = %d", an, c->n_group,
                c->n_routed_experts);
        if (c->topk_method != WH_TOPK_GREEDY) {
            REQUIRE(c->topk_group >= 1 && c->topk_group <= ng,
                    "%s config: topk_group = %d must be in 1..n_group (%d)", an, c->topk_group, ng);
            REQUIRE((int64_t)c->topk_group * (c->n_routed_experts / ng) >= c->num_experts_per_tok,
                    "%s config: topk_group groups hold fewer than num_experts_per_tok experts", an);
            REQUIRE(c->topk_method != WH_TOPK_NOAUX_TC || c->n_routed_experts / ng >= 2,
                    "%s config: noaux_tc needs at least 2 experts per group", an);
        }
        int64_t e = 3 * H * (int64_t)c->moe_intermediate_size;
        int64_t router = (int64_t)c->n_routed_experts * H +
                         (c->topk_method == WH_TOPK_NOAUX_TC ? c->n_routed_experts : 0);
        moe_total = router + e * c->n_routed_experts + e * c->n_shared_experts;
        moe_active = router + e * c->num_experts_per_tok + e * c->n_shared_experts;
    }
    int64_t total = V * H + H + (c->tie_word_embeddings ? 0 : V * H);
    int64_t active = total;
    /* Each size is bounded above, but their product over layers can still pass 2^63. */
    bool ovf = false;
    for (int64_t l = 0; l < L; l++) {
        int moe =
            c->n_routed_experts > 0 && l >= c->first_k_dense_replace && l % c->moe_layer_freq == 0;
        d->n_moe_layers += moe;
        ovf |= __builtin_add_overflow(total, 2 * H + attn + (moe ? moe_total : dense_mlp), &total);
        ovf |=
            __builtin_add_overflow(active, 2 * H + attn + (moe ? moe_active : dense_mlp), &active);
    }
    d->n_params_total = total;
    d->n_params_active = active;
    if (c->num_nextn_predict_layers > 0)
        ovf |= __builtin_mul_overflow((int64_t)c->num_nextn_predict_layers,
                                      2 * H + attn + (c->n_routed_experts ? moe_total : dense_mlp) +
                                          3 * H + 2 * H * H,
                                      &d->n_params_mtp);
    REQUIRE(!ovf,
            "%s config: the parameter count overflows 64 bits (hidden_size %d, intermediate_size "
            "%d, moe_intermediate_size %d, n_routed_experts %d, num_hidden_layers %d)",
            an, c->hidden_size, c->intermediate_size, c->moe_intermediate_size, c->n_routed_experts,
            c->num_hidden_layers);
    if (c->rope_scaling == WH_ROPE_YARN || c->rope_scaling == WH_ROPE_LINEAR ||
        c->rope_scaling == WH_ROPE_LLAMA3)
        REQUIRE(c->rope_factor >= 1.0f && c->rope_factor < 1e6f,
                "%s config: rope_scaling.factor = %g is absurd", an, (double)c->rope_factor);
    if (c->rope_scaling == WH_ROPE_YARN || c->rope_scaling == WH_ROPE_LLAMA3)
        REQUIRE(c->rope_orig_max_pos > 0,
                "%s config: rope_scaling.original_max_position_embeddings must be > 0", an);
    if (c->rope_scaling == WH_ROPE_LLAMA3)
        REQUIRE(c->llama3_high_freq_factor > c->llama3_low_freq_factor,
                "%s config: rope_scaling high_freq_factor must exceed low_freq_factor", an);
    d->softmax_scale = 1.0 / sqrt((double)d->q_head_dim);
    if (is_ds && c->rope_scaling == WH_ROPE_YARN && c->yarn_mscale_all_dim != 0.0f) {
        double m = yarn_get_mscale(c->rope_factor, c->yarn_mscale_all_dim);
        d->softmax_scale *= m * m;
    }
#undef REQUIRE
    return WH_OK;
}
