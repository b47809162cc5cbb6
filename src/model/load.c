/*
 * load.c — opening a model (safetensors folder or GGUF file), mapping its config,
 * and binding every weight by role with its shape checked against the config.
 * Tensor names: HF (model.layers.N.self_attn.q_a_proj.weight, …) and llama.cpp's
 * GGUF names (blk.N.attn_q_a.weight, …). Weights stay in the mmap; only small
 * non-F32 vectors (norms, biases) are converted to F32 copies.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "kernels/linear.h"
#include "kernels/rope.h"
#include "model/config.h"
#include "model/model.h"
#include <json-c/json.h>

/* Role names: {HF, GGUF}; %d is the layer index. */
typedef struct role {
    const char *hf, *gguf;
} role;

static const role R_EMBED = {"model.embed_tokens.weight", "token_embd.weight"};
static const role R_NORM = {"model.norm.weight", "output_norm.weight"};
static const role R_HEAD = {"lm_head.weight", "output.weight"};
static const role R_ATTN_NORM = {"model.layers.%d.input_layernorm.weight",
                                 "blk.%d.attn_norm.weight"};
static const role R_FFN_NORM = {"model.layers.%d.post_attention_layernorm.weight",
                                "blk.%d.ffn_norm.weight"};
static const role R_Q = {"model.layers.%d.self_attn.q_proj.weight", "blk.%d.attn_q.weight"};
static const role R_Q_A = {"model.layers.%d.self_attn.q_a_proj.weight", "blk.%d.attn_q_a.weight"};
static const role R_Q_A_NORM = {"model.layers.%d.self_attn.q_a_layernorm.weight",
                                "blk.%d.attn_q_a_norm.weight"};
static const role R_Q_B = {"model.layers.%d.self_attn.q_b_proj.weight", "blk.%d.attn_q_b.weight"};
static const role R_KV_A = {"model.layers.%d.self_attn.kv_a_proj_with_mqa.weight",
                            "blk.%d.attn_kv_a_mqa.weight"};
static const role R_KV_A_NORM = {"model.layers.%d.self_attn.kv_a_layernorm.weight",
                                 "blk.%d.attn_kv_a_norm.weight"};
static const role R_KV_B = {"model.layers.%d.self_attn.kv_b_proj.weight",
                            "blk.%d.attn_kv_b.weight"};
static const role R_K_B = {NULL, "blk.%d.attn_k_b.weight"};
static const role R_V_B = {NULL, "blk.%d.attn_v_b.weight"};
static const role R_O = {"model.layers.%d.self_attn.o_proj.weight", "blk.%d.attn_output.weight"};
static const role R_K = {"model.layers.%d.self_attn.k_proj.weight", "blk.%d.attn_k.weight"};
static const role R_V = {"model.layers.%d.self_attn.v_proj.weight", "blk.%d.attn_v.weight"};
static const role R_BQ = {"model.layers.%d.self_attn.q_proj.bias", "blk.%d.attn_q.bias"};
static const role R_BK = {"model.layers.%d.self_attn.k_proj.bias", "blk.%d.attn_k.bias"};
static const role R_BV = {"model.layers.%d.self_attn.v_proj.bias", "blk.%d.attn_v.bias"};
static const role R_GATE = {"model.layers.%d.mlp.gate_proj.weight", "blk.%d.ffn_gate.weight"};
static const role R_UP = {"model.layers.%d.mlp.up_proj.weight", "blk.%d.ffn_up.weight"};
static const role R_DOWN = {"model.layers.%d.mlp.down_proj.weight", "blk.%d.ffn_down.weight"};
static const role R_ROUTER = {"model.layers.%d.mlp.gate.weight", "blk.%d.ffn_gate_inp.weight"};
static const role R_ROUTER_B = {"model.layers.%d.mlp.gate.e_score_correction_bias",
                                "blk.%d.exp_probs_b.bias"};
static const role R_SH_GATE = {"model.layers.%d.mlp.shared_experts.gate_proj.weight",
                               "blk.%d.ffn_gate_shexp.weight"};
static const role R_SH_UP = {"model.layers.%d.mlp.shared_experts.up_proj.weight",
                             "blk.%d.ffn_up_shexp.weight"};
static const role R_SH_DOWN = {"model.layers.%d.mlp.shared_experts.down_proj.weight",
                               "blk.%d.ffn_down_shexp.weight"};
static const role R_EXP_GATE = {"model.layers.%d.mlp.experts.%d.gate_proj.weight",
                                "blk.%d.ffn_gate_exps.weight"};
static const role R_EXP_UP = {"model.layers.%d.mlp.experts.%d.up_proj.weight",
                              "blk.%d.ffn_up_exps.weight"};
static const role R_EXP_DOWN = {"model.layers.%d.mlp.experts.%d.down_proj.weight",
                                "blk.%d.ffn_down_exps.weight"};
static const role R_MTP_ENORM = {"model.layers.%d.enorm.weight", "blk.%d.nextn.enorm.weight"};
static const role R_MTP_HNORM = {"model.layers.%d.hnorm.weight", "blk.%d.nextn.hnorm.weight"};
static const role R_MTP_EH = {"model.layers.%d.eh_proj.weight", "blk.%d.nextn.eh_proj.weight"};
static const role R_MTP_HEAD_NORM = {"model.layers.%d.shared_head.norm.weight",
                                     "blk.%d.nextn.shared_head_norm.weight"};
static const role R_MTP_HEAD = {"model.layers.%d.shared_head.head.weight",
                                "blk.%d.nextn.shared_head_head.weight"};
static const role R_MTP_EMBED = {"model.layers.%d.embed_tokens.weight",
                                 "blk.%d.nextn.embed_tokens.weight"};
static const role R_ROPE_FREQS = {NULL, "rope_freqs.weight"};

typedef struct binder {
    wh_model *m;
    wh_error *err;
    int rc;
} binder;

static void role_name(const binder *b, const role *r, int layer, int expert, char *out, size_t n)
{
    const char *fmt = b->m->format == WH_FMT_GGUF ? r->gguf : r->hf;
    if (fmt == NULL) {
        out[0] = '\0';
        return;
    }
    if (expert >= 0)
        snprintf(out, n, fmt, layer, expert);
    else
        snprintf(out, n, fmt, layer);
}

static const char *file_of(const wh_model *m, const wh_tensor *t)
{
    return m->store.files[t->file].path;
}

/* Finds a tensor and checks its shape ({ne0, ne1, ne2}; 0 = don't check that dim). */
static const wh_tensor *bind(binder *b, const role *r, int layer, int expert, int required,
                             int n_dims, int64_t ne0, int64_t ne1, int64_t ne2)
{
    if (b->rc != WH_OK)
        return NULL;
    char name[256];
    role_name(b, r, layer, expert, name, sizeof name);
    const wh_tensor *t = name[0] ? wh_store_find(&b->m->store, name) : NULL;
    if (t == NULL) {
        if (required)
            b->rc = wh_err(b->err, WH_E_MISSING, "%s: tensor %s is missing", b->m->path,
                           name[0] ? name : "(role has no name in this format)");
        return NULL;
    }
    const wh_dtype_info *di = wh_dtype_get(t->dtype);
    if (!di->computable) {
        b->rc =
            wh_err(b->err, WH_E_UNSUPPORTED, "%s: tensor %s: dtype %s cannot be used as a weight",
                   file_of(b->m, t), name, di->name);
        return NULL;
    }
    int64_t want[3] = {ne0, ne1, ne2};
    int bad = t->n_dims != n_dims;
    for (int d = 0; d < 3 && !bad; d++)
        if (d < n_dims && t->ne[d] != want[d])
            bad = 1;
    if (bad) {
        char ws[96], hs[96];
        if (n_dims == 1)
            snprintf(ws, sizeof ws, "[%lld]", (long long)ne0);
        else if (n_dims == 2)
            snprintf(ws, sizeof ws, "[%lld, %lld]", (long long)ne1, (long long)ne0);
        else
            snprintf(ws, sizeof ws, "[%lld, %lld, %lld]", (long long)ne2, (long long)ne1,
                     (long long)ne0);
        int o = snprintf(hs, sizeof hs, "[");
        for (int d = t->n_dims - 1; d >= 0 && o < (int)sizeof hs; d--)
            o += snprintf(hs + o, sizeof hs - (size_t)o, "%lld%s", (long long)t->ne[d],
                          d ? ", " : "]");
        b->rc = wh_err(b->err, WH_E_FORMAT,
                       "%s: tensor %s has shape %s but the config implies %s (PyTorch order)",
                       file_of(b->m, t), name, hs, ws);
        return NULL;
    }
    /* The kernels read matrices in place as float / 16-bit elements: their data must be
     * aligned for that (an untrusted file may place it anywhere; vectors are copied by
     * bind_vec). Real writers align: GGUF to 32 bytes, safetensors pads its header to 8. */
    const wh_tensor *parts[2] = {t, t->scale};
    for (int k = 0; k < 2 && n_dims > 1; k++) {
        const wh_tensor *p = parts[k];
        if (p == NULL)
            continue;
        const wh_dtype_info *pi = wh_dtype_get(p->dtype);
        unsigned align = p->dtype == WH_DT_F32 ? 4u : (pi->block_bytes % 2 == 0 ? 2u : 1u);
        if ((uintptr_t)p->data % align != 0) {
            b->rc =
                wh_err(b->err, WH_E_UNSUPPORTED,
                       "%s: tensor %s: data at byte %llu is not aligned to %u bytes, as %s "
                       "needs",
                       file_of(b->m, p), p->name, (unsigned long long)p->offset, align, pi->name);
            return NULL;
        }
    }
    return t;
}

/* A 1-D tensor as F32: in place when stored F32, else a converted copy. */
static const float *bind_vec(binder *b, const role *r, int layer, int required, int64_t n)
{
    const wh_tensor *t = bind(b, r, layer, -1, required, 1, n, 0, 0);
    if (t == NULL)
        return NULL;
    if (t->dtype == WH_DT_F32 && ((uintptr_t)t->data % sizeof(float)) == 0)
        return (const float *)t->data;
    wh_model *m = b->m;
    if (m->n_owned == m->cap_owned) {
        int cap = m->cap_owned ? 2 * m->cap_owned : 64;
        float **o = wh_realloc(m->owned, (size_t)cap * sizeof *o);
        if (o == NULL) {
            b->rc = wh_err(b->err, WH_E_NOMEM, "%s: out of memory", m->path);
            return NULL;
        }
        m->owned = o;
        m->cap_owned = cap;
    }
    float *v = wh_malloc((size_t)n * sizeof(float));
    if (v == NULL) {
        b->rc = wh_err(b->err, WH_E_NOMEM, "%s: out of memory", m->path);
        return NULL;
    }
    wh_dequant_row(t, 0, v);
    m->owned[m->n_owned++] = v;
    return v;
}

static void bind_mlp(binder *b, wh_mlp_weights *w, const role *g, const role *u, const role *d,
                     int layer, int expert, int H, int I)
{
    w->gate = bind(b, g, layer, expert, 1, 2, H, I, 0);
    w->up = bind(b, u, layer, expert, 1, 2, H, I, 0);
    w->down = bind(b, d, layer, expert, 1, 2, I, H, 0);
}

static void bind_layer(binder *b, wh_layer *ly, int il, int is_moe)
{
    wh_model *m = b->m;
    const wh_config *c = &m->cfg;
    const wh_dims *dm = &m->dims;
    int H = c->hidden_size, nh = c->num_attention_heads;
    ly->attn_norm = bind_vec(b, &R_ATTN_NORM, il, 1, H);
    ly->ffn_norm = bind_vec(b, &R_FFN_NORM, il, 1, H);
    if (dm->is_mla) {
        int qhd = dm->q_head_dim, kvl = c->kv_lora_rank, nope = c->qk_nope_head_dim;
        int vd = c->v_head_dim;
        if (c->q_lora_rank > 0) {
            ly->wq_a = bind(b, &R_Q_A, il, -1, 1, 2, H, c->q_lora_rank, 0);
            ly->q_a_norm = bind_vec(b, &R_Q_A_NORM, il, 1, c->q_lora_rank);
            ly->wq_b = bind(b, &R_Q_B, il, -1, 1, 2, c->q_lora_rank, (int64_t)nh * qhd, 0);
        } else {
            ly->wq = bind(b, &R_Q, il, -1, 1, 2, H, (int64_t)nh * qhd, 0);
        }
        ly->wkv_a = bind(b, &R_KV_A, il, -1, 1, 2, H, kvl + c->qk_rope_head_dim, 0);
        ly->kv_a_norm = bind_vec(b, &R_KV_A_NORM, il, 1, kvl);
        ly->wo = bind(b, &R_O, il, -1, 1, 2, (int64_t)nh * vd, H, 0);
        if (b->rc != WH_OK)
            return;
        ly->uk = wh_calloc((size_t)nh, sizeof(wh_tensor));
        ly->uv = wh_calloc((size_t)nh, sizeof(wh_tensor));
        if (ly->uk == NULL || ly->uv == NULL) {
            b->rc = wh_err(b->err, WH_E_NOMEM, "%s: out of memory", m->path);
            return;
        }
        if (m->mla_split_layout) {
            const wh_tensor *kb = bind(b, &R_K_B, il, -1, 1, 3, nope, kvl, nh);
            const wh_tensor *vb = bind(b, &R_V_B, il, -1, 1, 3, kvl, vd, nh);
            if (b->rc != WH_OK)
                return;
            ly->uk_transposed = 1;
            for (int h = 0; h < nh; h++) {
                ly->uk[h] = wh_tensor_matrix_view(kb, h);
                ly->uv[h] = wh_tensor_matrix_view(vb, h);
            }
        } else {
            const wh_tensor *kvb =
                bind(b, &R_KV_B, il, -1, 1, 2, kvl, (int64_t)nh * (nope + vd), 0);
            if (b->rc != WH_OK)
                return;
            for (int h = 0; h < nh; h++) {
                ly->uk[h] = wh_tensor_rows_view(kvb, (int64_t)h * (nope + vd), nope);
                ly->uv[h] = wh_tensor_rows_view(kvb, (int64_t)h * (nope + vd) + nope, vd);
            }
        }
    } else {
        int hd = c->head_dim, kvh = c->num_key_value_heads;
        ly->wq = bind(b, &R_Q, il, -1, 1, 2, H, (int64_t)nh * hd, 0);
        ly->wk = bind(b, &R_K, il, -1, 1, 2, H, (int64_t)kvh * hd, 0);
        ly->wv = bind(b, &R_V, il, -1, 1, 2, H, (int64_t)kvh * hd, 0);
        ly->wo = bind(b, &R_O, il, -1, 1, 2, (int64_t)nh * hd, H, 0);
        if (c->attention_bias) {
            ly->bq = bind_vec(b, &R_BQ, il, 1, (int64_t)nh * hd);
            ly->bk = bind_vec(b, &R_BK, il, 1, (int64_t)kvh * hd);
            ly->bv = bind_vec(b, &R_BV, il, 1, (int64_t)kvh * hd);
        }
    }
    ly->is_moe = is_moe;
    if (!is_moe) {
        bind_mlp(b, &ly->mlp, &R_GATE, &R_UP, &R_DOWN, il, -1, H, c->intermediate_size);
        return;
    }
    int E = c->n_routed_experts, mI = c->moe_intermediate_size;
    ly->router = bind(b, &R_ROUTER, il, -1, 1, 2, H, E, 0);
    ly->router_bias = bind_vec(b, &R_ROUTER_B, il, c->topk_method == WH_TOPK_NOAUX_TC, E);
    if (c->n_shared_experts > 0)
        bind_mlp(b, &ly->shared, &R_SH_GATE, &R_SH_UP, &R_SH_DOWN, il, -1, H,
                 mI * c->n_shared_experts);
    if (b->rc != WH_OK)
        return;
    ly->experts = wh_calloc((size_t)E, sizeof(wh_mlp_weights));
    wh_tensor *views = wh_calloc((size_t)E * 3, sizeof(wh_tensor));
    ly->expert_views = views;
    if (ly->experts == NULL || views == NULL) {
        b->rc = wh_err(b->err, WH_E_NOMEM, "%s: out of memory", m->path);
        return;
    }
    if (m->format == WH_FMT_GGUF) {
        const wh_tensor *g = bind(b, &R_EXP_GATE, il, -1, 1, 3, H, mI, E);
        const wh_tensor *u = bind(b, &R_EXP_UP, il, -1, 1, 3, H, mI, E);
        const wh_tensor *d = bind(b, &R_EXP_DOWN, il, -1, 1, 3, mI, H, E);
        if (b->rc == WH_OK) {
            for (int e = 0; e < E; e++) {
                views[3 * e] = wh_tensor_matrix_view(g, e);
                views[3 * e + 1] = wh_tensor_matrix_view(u, e);
                views[3 * e + 2] = wh_tensor_matrix_view(d, e);
                ly->experts[e].gate = &views[3 * e];
                ly->experts[e].up = &views[3 * e + 1];
                ly->experts[e].down = &views[3 * e + 2];
            }
        }
    } else {
        for (int e = 0; e < E && b->rc == WH_OK; e++)
            bind_mlp(b, &ly->experts[e], &R_EXP_GATE, &R_EXP_UP, &R_EXP_DOWN, il, e, H, mI);
    }
}

static void bind_mtp(binder *b, wh_mtp *t, int il)
{
    const wh_config *c = &b->m->cfg;
    int H = c->hidden_size;
    t->enorm = bind_vec(b, &R_MTP_ENORM, il, 1, H);
    t->hnorm = bind_vec(b, &R_MTP_HNORM, il, 1, H);
    t->eh_proj = bind(b, &R_MTP_EH, il, -1, 1, 2, 2 * (int64_t)H, H, 0);
    t->head_norm = bind_vec(b, &R_MTP_HEAD_NORM, il, 1, H);
    t->head = bind(b, &R_MTP_HEAD, il, -1, 0, 2, H, c->vocab_size, 0);
    t->embed = bind(b, &R_MTP_EMBED, il, -1, 0, 2, H, c->vocab_size, 0);
    int moe =
        c->n_routed_experts > 0 && il >= c->first_k_dense_replace && il % c->moe_layer_freq == 0;
    bind_layer(b, &t->layer, il, moe);
}

static void free_layer(const wh_model *m, wh_layer *ly)
{
    wh_free(ly->uk);
    wh_free(ly->uv);
    (void)m;
    wh_free(ly->experts);
    wh_free(ly->expert_views);
}

void wh_model_free(wh_model *m)
{
    if (m == NULL)
        return;
    if (m->layers != NULL)
        for (int i = 0; i < m->cfg.num_hidden_layers; i++)
            free_layer(m, &m->layers[i]);
    if (m->mtp != NULL)
        for (int i = 0; i < m->cfg.num_nextn_predict_layers; i++)
            free_layer(m, &m->mtp[i].layer);
    wh_free(m->layers);
    wh_free(m->mtp);
    for (int i = 0; i < m->n_owned; i++)
        wh_free(m->owned[i]);
    wh_free(m->owned);
    wh_free(m->inv_freq);
    wh_tokenizer_free(m->tok);
    wh_free(m->chat_template);
    wh_store_free(&m->store);
    wh_free(m->path);
    wh_free(m);
}

/* The tokenizer is optional for a model: a model without one (or with one that fails
 * to load) still runs on token ids; text features report tok_error. */
static void gguf_tokenizer(wh_model *m, const wh_gguf *g)
{
    wh_error terr = {0};
    if (wh_gguf_find(g, "tokenizer.ggml.tokens") < 0) {
        snprintf(m->tok_error, sizeof m->tok_error, "%s has no tokenizer.ggml.tokens", m->path);
    } else if (wh_tokenizer_load_gguf(g, &m->tok, &terr) != WH_OK) {
        snprintf(m->tok_error, sizeof m->tok_error, "%s", terr.msg);
        m->tok = NULL;
    }
    wh_gguf_str tpl;
    if (wh_gguf_get_str(g, "tokenizer.chat_template", 0, &tpl, NULL) == WH_OK &&
        wh_gguf_find(g, "tokenizer.chat_template") >= 0 && tpl.len < (1u << 20)) {
        m->chat_template = wh_malloc(tpl.len + 1);
        if (m->chat_template != NULL) {
            memcpy(m->chat_template, tpl.ptr, tpl.len);
            m->chat_template[tpl.len] = '\0';
        }
    }
}

static void hf_tokenizer(wh_model *m, const char *dir)
{
    char *tj = NULL, *tc = NULL, *text = NULL;
    uint64_t len = 0;
    wh_error terr = {0};
    if (wh_path_join_inside(dir, "tokenizer.json", &tj, dir, NULL) != WH_OK)
        return;
    if (!wh_is_file(tj)) {
        snprintf(m->tok_error, sizeof m->tok_error, "%s: no tokenizer.json in the model folder",
                 dir);
    } else if (wh_tokenizer_load_json(tj, &m->tok, &terr) != WH_OK) {
        snprintf(m->tok_error, sizeof m->tok_error, "%s", terr.msg);
        m->tok = NULL;
    }
    wh_free(tj);
    if (wh_path_join_inside(dir, "tokenizer_config.json", &tc, dir, NULL) == WH_OK &&
        wh_is_file(tc) && wh_read_text(tc, 16u << 20, &text, &len, NULL) == WH_OK) {
        json_object *root = json_tokener_parse(text);
        json_object *ct;
        if (root != NULL && json_object_object_get_ex(root, "chat_template", &ct)) {
            if (json_object_is_type(ct, json_type_array) && json_object_array_length(ct) > 0) {
                /* [{"name": "default", "template": "..."}, ...]: take "default" or the first */
                json_object *pick = json_object_array_get_idx(ct, 0), *nm, *tp;
                for (size_t i = 0; i < json_object_array_length(ct); i++) {
                    json_object *e = json_object_array_get_idx(ct, i);
                    if (json_object_object_get_ex(e, "name", &nm) &&
                        strcmp(json_object_get_string(nm), "default") == 0)
                        pick = e;
                }
                ct = json_object_object_get_ex(pick, "template", &tp) ? tp : NULL;
            }
            if (ct != NULL && json_object_is_type(ct, json_type_string))
                m->chat_template = wh_strdup(json_object_get_string(ct));
        }
        json_object_put(root);
    }
    wh_free(text);
    wh_free(tc);
}

static int open_files(wh_model *m, const char *path, wh_error *err)
{
    size_t n = strlen(path);
    if (n >= 5 && strcmp(path + n - 5, ".gguf") == 0 && wh_is_file(path)) {
        m->format = WH_FMT_GGUF;
        wh_gguf g;
        int rc = wh_gguf_open(&g, path, err);
        if (rc != WH_OK)
            return rc;
        rc = wh_config_from_gguf(&g, &m->cfg, &m->mla_split_layout, err);
        if (rc == WH_OK)
            gguf_tokenizer(m, &g);
        if (rc == WH_OK)
            rc = wh_gguf_to_store(&g, &m->store, err);
        wh_gguf_close(&g);
        return rc;
    }
    m->format = WH_FMT_SAFETENSORS;
    if (wh_is_dir(path)) {
        int rc = wh_config_from_hf(path, &m->cfg, err);
        if (rc == WH_OK)
            rc = wh_safetensors_load_dir(&m->store, path, err);
        if (rc == WH_OK)
            hf_tokenizer(m, path);
        return rc;
    }
    if (wh_is_file(path) && n >= 12 && strcmp(path + n - 12, ".safetensors") == 0) {
        char *dir = wh_path_dirname(path);
        if (dir == NULL)
            return wh_err(err, WH_E_NOMEM, "%s: out of memory", path);
        int rc = wh_config_from_hf(dir, &m->cfg, err);
        if (rc == WH_OK)
            rc = wh_safetensors_load_file(&m->store, path, err);
        if (rc == WH_OK)
            hf_tokenizer(m, dir);
        wh_free(dir);
        return rc;
    }
    if (!wh_is_file(path))
        return wh_err(err, WH_E_IO, "%s: no such file or folder", path);
    return wh_err(err, WH_E_UNSUPPORTED,
                  "%s: not a model (expected a folder with config.json and safetensors, a "
                  ".safetensors file, or a .gguf file)",
                  path);
}

int wh_model_load(const char *path, wh_model **out, wh_error *err)
{
    *out = NULL;
    wh_model *m = wh_calloc(1, sizeof *m);
    if (m == NULL)
        return wh_err(err, WH_E_NOMEM, "%s: out of memory", path);
    wh_store_init(&m->store);
    m->path = wh_strdup(path);
    if (m->path == NULL) {
        wh_free(m);
        return wh_err(err, WH_E_NOMEM, "%s: out of memory", path);
    }
    int rc = open_files(m, path, err);
    if (rc == WH_OK) {
        rc = wh_config_derive(&m->cfg, &m->dims, err);
        if (rc != WH_OK && m->format == WH_FMT_GGUF) {
            wh_err_wrap(err, "%s", path);
        } else if (rc != WH_OK) { /* name the file the fields came from */
            char *dir = wh_is_dir(path) ? NULL : wh_path_dirname(path);
            wh_err_wrap(err, "%s/config.json", dir ? dir : path);
            wh_free(dir);
        }
    }
    if (rc == WH_OK)
        rc = wh_store_bind_fp8_scales(&m->store, err);
    binder b = {m, err, rc};
    const wh_config *c = &m->cfg;
    int H = c->hidden_size, V = c->vocab_size;
    m->embed = bind(&b, &R_EMBED, 0, -1, 1, 2, H, V, 0);
    m->final_norm = bind_vec(&b, &R_NORM, 0, 1, H);
    m->head = bind(&b, &R_HEAD, 0, -1, !c->tie_word_embeddings, 2, H, V, 0);
    if (m->head == NULL && b.rc == WH_OK)
        m->head = m->embed;
    if (b.rc == WH_OK) {
        m->layers = wh_calloc((size_t)c->num_hidden_layers, sizeof(wh_layer));
        if (c->num_nextn_predict_layers > 0)
            m->mtp = wh_calloc((size_t)c->num_nextn_predict_layers, sizeof(wh_mtp));
        m->inv_freq = wh_calloc((size_t)m->dims.rope_dim / 2 + 1, sizeof(float));
        if (m->layers == NULL || m->inv_freq == NULL ||
            (c->num_nextn_predict_layers > 0 && m->mtp == NULL))
            b.rc = wh_err(err, WH_E_NOMEM, "%s: out of memory", path);
    }
    for (int il = 0; il < c->num_hidden_layers && b.rc == WH_OK; il++) {
        int moe = c->n_routed_experts > 0 && il >= c->first_k_dense_replace &&
                  il % c->moe_layer_freq == 0;
        bind_layer(&b, &m->layers[il], il, moe);
    }
    /* MTP weights: loaded and validated (used by speculative decoding and training later).
     * GGUF files commonly omit them; HF checkpoints of V3/R1 carry them. */
    for (int k = 0; k < c->num_nextn_predict_layers && b.rc == WH_OK; k++) {
        int il = c->num_hidden_layers + k;
        char probe[128];
        role_name(&b, &R_MTP_EH, il, -1, probe, sizeof probe);
        if (m->format == WH_FMT_GGUF && wh_store_find(&m->store, probe) == NULL) {
            m->cfg.num_nextn_predict_layers = k; /* not present in this file */
            break;
        }
        bind_mtp(&b, &m->mtp[k], il);
    }
    if (b.rc == WH_OK) {
        wh_rope_freqs(c, m->dims.rope_dim, m->inv_freq, &m->rope_mscale);
        const float *ff = bind_vec(&b, &R_ROPE_FREQS, 0, 0, m->dims.rope_dim / 2);
        if (ff != NULL)
            for (int i = 0; i < m->dims.rope_dim / 2; i++)
                m->inv_freq[i] /= ff[i];
    }
    if (b.rc != WH_OK) {
        wh_model_free(m);
        return b.rc;
    }
    *out = m;
    return WH_OK;
}

const wh_config *wh_model_config(const wh_model *m)
{
    return &m->cfg;
}

const wh_dims *wh_model_dims(const wh_model *m)
{
    return &m->dims;
}

const wh_tokenizer *wh_model_tokenizer(const wh_model *m, wh_error *err)
{
    if (m->tok == NULL)
        wh_err(err, WH_E_MISSING, "%s", m->tok_error[0] ? m->tok_error : "model has no tokenizer");
    return m->tok;
}

const char *wh_model_chat_template(const wh_model *m)
{
    return m->chat_template;
}
