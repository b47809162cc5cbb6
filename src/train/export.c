/*
 * export.c — writes a training model as a HF DeepSeek-V3 folder (export.h): the
 * safetensors format (an 8-byte little-endian header length, a JSON header of
 * name -> {dtype, shape, data_offsets}, then the tensor bytes) and config.json with the
 * fields of DeepseekV3Config.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "base/alloc.h"
#include "base/error.h"
#include "kernels/linear.h"
#include "model/model.h"
#include "train/export.h"

typedef struct xt {
    char name[160];
    const float *data;
    size_t rows, cols; /* cols 0: a vector of `rows` */
} xt;

typedef struct xlist {
    xt *v;
    int n, cap;
    int oom;
} xlist;

static void add(xlist *l, const char *name, const float *data, size_t rows, size_t cols)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 256;
        xt *nv = wh_realloc(l->v, (size_t)cap * sizeof *nv);
        if (nv == NULL) {
            l->oom = 1;
            return;
        }
        l->v = nv;
        l->cap = cap;
    }
    xt *t = &l->v[l->n++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->data = data;
    t->rows = rows;
    t->cols = cols;
}

static void add_block(xlist *l, const wh_tr_model *m, int li)
{
    const wh_tr_config *c = &m->cfg;
    const wh_tr_block *b = &m->w.blocks[li];
    size_t C = c->C, QHD = (size_t)c->NOPE + c->ROPE;
    char p[32], n[160];
    snprintf(p, sizeof p, "model.layers.%d.", li);
#define ADD(suffix, data, rows, cols)                                                              \
    do {                                                                                           \
        snprintf(n, sizeof n, "%s%s", p, suffix);                                                  \
        add(l, n, data, rows, cols);                                                               \
    } while (0)
    ADD("input_layernorm.weight", b->attn_norm, C, 0);
    if (c->QLR > 0) {
        ADD("self_attn.q_a_proj.weight", b->attn.wq_a, c->QLR, C);
        ADD("self_attn.q_a_layernorm.weight", b->attn.q_a_norm, c->QLR, 0);
        ADD("self_attn.q_b_proj.weight", b->attn.wq_b, c->NH * QHD, c->QLR);
    } else {
        ADD("self_attn.q_proj.weight", b->attn.wq, c->NH * QHD, C);
    }
    ADD("self_attn.kv_a_proj_with_mqa.weight", b->attn.wkv_a, c->KVLR + c->ROPE, C);
    ADD("self_attn.kv_a_layernorm.weight", b->attn.kv_a_norm, c->KVLR, 0);
    ADD("self_attn.kv_b_proj.weight", b->attn.wkv_b, (size_t)c->NH * (c->NOPE + c->VD), c->KVLR);
    ADD("self_attn.o_proj.weight", b->attn.wo, C, (size_t)c->NH * c->VD);
    ADD("post_attention_layernorm.weight", b->ffn_norm, C, 0);
    if (b->is_moe) {
        size_t MI = c->MI, SI = (size_t)c->NS * c->MI;
        ADD("mlp.gate.weight", b->moe.router, c->E, C);
        ADD("mlp.gate.e_score_correction_bias", b->moe.bias, c->E, 0);
        for (int e = 0; e < c->E; e++) {
            char s[80];
            snprintf(s, sizeof s, "mlp.experts.%d.gate_proj.weight", e);
            ADD(s, b->moe.gate + (size_t)e * MI * C, MI, C);
            snprintf(s, sizeof s, "mlp.experts.%d.up_proj.weight", e);
            ADD(s, b->moe.up + (size_t)e * MI * C, MI, C);
            snprintf(s, sizeof s, "mlp.experts.%d.down_proj.weight", e);
            ADD(s, b->moe.down + (size_t)e * C * MI, C, MI);
        }
        if (c->NS > 0) {
            ADD("mlp.shared_experts.gate_proj.weight", b->moe.shared.gate, SI, C);
            ADD("mlp.shared_experts.up_proj.weight", b->moe.shared.up, SI, C);
            ADD("mlp.shared_experts.down_proj.weight", b->moe.shared.down, C, SI);
        }
    } else {
        ADD("mlp.gate_proj.weight", b->mlp.gate, c->FF, C);
        ADD("mlp.up_proj.weight", b->mlp.up, c->FF, C);
        ADD("mlp.down_proj.weight", b->mlp.down, C, c->FF);
    }
    if (li == c->L) { /* the MTP module (DeepSeek-V3's layer 61) */
        ADD("enorm.weight", m->w.mtp.enorm, C, 0);
        ADD("hnorm.weight", m->w.mtp.hnorm, C, 0);
        ADD("eh_proj.weight", m->w.mtp.eh_proj, C, 2 * C);
        ADD("shared_head.norm.weight", m->w.mtp_norm, C, 0);
        ADD("shared_head.head.weight", m->w.head, c->V, C);
        ADD("embed_tokens.weight", m->w.embed, c->V, C);
    }
#undef ADD
}

static int write_safetensors(const xlist *l, const char *path, wh_error *err)
{
    json_object *root = json_object_new_object();
    json_object *meta = json_object_new_object();
    json_object_object_add(meta, "format", json_object_new_string("pt"));
    json_object_object_add(root, "__metadata__", meta);
    uint64_t off = 0;
    for (int i = 0; i < l->n; i++) {
        const xt *t = &l->v[i];
        uint64_t n = (uint64_t)t->rows * (t->cols ? t->cols : 1);
        json_object *o = json_object_new_object();
        json_object *shape = json_object_new_array();
        json_object_array_add(shape, json_object_new_int64((int64_t)t->rows));
        if (t->cols)
            json_object_array_add(shape, json_object_new_int64((int64_t)t->cols));
        json_object *offs = json_object_new_array();
        json_object_array_add(offs, json_object_new_int64((int64_t)off));
        json_object_array_add(offs, json_object_new_int64((int64_t)(off + 4 * n)));
        json_object_object_add(o, "dtype", json_object_new_string("F32"));
        json_object_object_add(o, "shape", shape);
        json_object_object_add(o, "data_offsets", offs);
        json_object_object_add(root, t->name, o);
        off += 4 * n;
    }
    const char *js = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
    size_t jl = strlen(js), padded = (jl + 7) & ~(size_t)7;
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        json_object_put(root);
        return wh_err(err, WH_E_IO, "%s: cannot create: %s", path, strerror(errno));
    }
    unsigned char hl[8];
    for (int i = 0; i < 8; i++)
        hl[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    int bad = fwrite(hl, 1, 8, f) != 8 || fwrite(js, 1, jl, f) != jl;
    for (size_t i = jl; i < padded && !bad; i++)
        bad = fputc(' ', f) == EOF;
    json_object_put(root);
    for (int i = 0; i < l->n && !bad; i++) {
        const xt *t = &l->v[i];
        size_t n = t->rows * (t->cols ? t->cols : 1);
        bad = fwrite(t->data, 4, n, f) != n;
    }
    bad |= fclose(f) != 0;
    if (bad)
        return wh_err(err, WH_E_IO, "%s: write failed: %s", path, strerror(errno));
    return WH_OK;
}

static int write_config(const wh_tr_model *m, const char *path, int bos, int eos, int max_pos,
                        wh_error *err)
{
    const wh_tr_config *c = &m->cfg;
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return wh_err(err, WH_E_IO, "%s: cannot create: %s", path, strerror(errno));
    fprintf(f, "{\n  \"architectures\": [\"DeepseekV3ForCausalLM\"],\n");
    fprintf(f, "  \"model_type\": \"deepseek_v3\",\n  \"torch_dtype\": \"float32\",\n");
    fprintf(f, "  \"vocab_size\": %d,\n  \"hidden_size\": %d,\n", c->V, c->C);
    fprintf(f, "  \"intermediate_size\": %d,\n  \"moe_intermediate_size\": %d,\n",
            c->FF > 0 ? c->FF : c->MI, c->MI);
    fprintf(f, "  \"num_hidden_layers\": %d,\n  \"num_nextn_predict_layers\": %d,\n", c->L, c->mtp);
    fprintf(f, "  \"num_attention_heads\": %d,\n  \"num_key_value_heads\": %d,\n", c->NH, c->NH);
    if (c->QLR > 0)
        fprintf(f, "  \"q_lora_rank\": %d,\n", c->QLR);
    else
        fprintf(f, "  \"q_lora_rank\": null,\n");
    fprintf(f, "  \"kv_lora_rank\": %d,\n  \"qk_nope_head_dim\": %d,\n", c->KVLR, c->NOPE);
    fprintf(f, "  \"qk_rope_head_dim\": %d,\n  \"v_head_dim\": %d,\n", c->ROPE, c->VD);
    fprintf(f, "  \"n_routed_experts\": %d,\n  \"n_shared_experts\": %d,\n", c->E, c->NS);
    fprintf(f, "  \"num_experts_per_tok\": %d,\n", c->E > 0 ? c->K : 0);
    fprintf(f, "  \"n_group\": %d,\n  \"topk_group\": %d,\n", c->G > 1 ? c->G : 1,
            c->G > 1 ? c->TG : 1);
    fprintf(f, "  \"first_k_dense_replace\": %d,\n  \"moe_layer_freq\": 1,\n",
            c->E > 0 ? c->first_dense : c->L);
    fprintf(f, "  \"routed_scaling_factor\": %.9g,\n  \"norm_topk_prob\": %s,\n", c->route_scale,
            c->norm_topk ? "true" : "false");
    fprintf(f, "  \"scoring_func\": \"sigmoid\",\n  \"topk_method\": \"noaux_tc\",\n");
    fprintf(f, "  \"aux_loss_alpha\": %.9g,\n  \"seq_aux\": true,\n", c->bal_alpha);
    fprintf(f, "  \"rms_norm_eps\": %.9g,\n  \"rope_theta\": %.9g,\n", c->eps, c->rope_theta);
    fprintf(f, "  \"max_position_embeddings\": %d,\n", max_pos);
    if (c->rope_scaling == WH_ROPE_YARN)
        fprintf(f,
                "  \"rope_scaling\": {\"type\": \"yarn\", \"factor\": %.9g, "
                "\"original_max_position_embeddings\": %d, \"beta_fast\": %.9g, "
                "\"beta_slow\": %.9g, \"mscale\": %.9g, \"mscale_all_dim\": %.9g},\n",
                c->rope_factor, c->rope_orig_max_pos, c->yarn_beta_fast, c->yarn_beta_slow,
                c->yarn_mscale, c->yarn_mscale_all_dim);
    else
        fprintf(f, "  \"rope_scaling\": null,\n");
    if (bos >= 0)
        fprintf(f, "  \"bos_token_id\": %d,\n", bos);
    if (eos >= 0)
        fprintf(f, "  \"eos_token_id\": %d,\n", eos);
    fprintf(f, "  \"hidden_act\": \"silu\",\n  \"attention_bias\": false,\n");
    fprintf(f, "  \"tie_word_embeddings\": false,\n  \"initializer_range\": 0.02\n}\n");
    if (fclose(f) != 0)
        return wh_err(err, WH_E_IO, "%s: write failed: %s", path, strerror(errno));
    return WH_OK;
}

/* Every exported tensor of m: HF name, data, shape. */
static int build_list(const wh_tr_model *m, xlist *l, wh_error *err)
{
    const wh_tr_config *c = &m->cfg;
    add(l, "model.embed_tokens.weight", m->w.embed, c->V, c->C);
    for (int i = 0; i < m->n_blocks; i++)
        add_block(l, m, i);
    add(l, "model.norm.weight", m->w.final_norm, c->C, 0);
    add(l, "lm_head.weight", m->w.head, c->V, c->C);
    if (l->oom) {
        wh_free(l->v);
        l->v = NULL;
        return wh_err(err, WH_E_NOMEM, "export: out of memory");
    }
    return WH_OK;
}

int wh_tr_export_hf(const wh_tr_model *m, const char *dir, int bos, int eos, int max_pos,
                    wh_error *err)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return wh_err(err, WH_E_IO, "%s: cannot create folder: %s", dir, strerror(errno));
    xlist l = {0};
    if (build_list(m, &l, err) != WH_OK)
        return err ? err->code : WH_E_NOMEM;
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    int rc = write_safetensors(&l, path, err);
    wh_free(l.v);
    if (rc == WH_OK) {
        snprintf(path, sizeof path, "%s/config.json", dir);
        rc = write_config(m, path, bos, eos, max_pos, err);
    }
    return rc;
}

/* ---------------------------------------------------------------- import */

int wh_tr_config_from_model(const wh_model *src, wh_tr_config *c, wh_error *err)
{
    const wh_config *mc = &src->cfg;
    if (mc->arch != WH_ARCH_DEEPSEEK_V3 || mc->kv_lora_rank <= 0)
        return wh_err(err, WH_E_UNSUPPORTED,
                      "%s: training starts only from DeepSeek-V3-architecture models (MLA), "
                      "this is %s",
                      src->path, wh_arch_name(mc->arch));
    if (mc->n_routed_experts > 0 &&
        (mc->scoring_func != WH_SCORE_SIGMOID || mc->moe_layer_freq > 1 || mc->tie_word_embeddings))
        return wh_err(err, WH_E_UNSUPPORTED,
                      "%s: training needs sigmoid routing on every layer from "
                      "first_k_dense_replace and an untied head",
                      src->path);
    if (mc->num_nextn_predict_layers > 1)
        return wh_err(err, WH_E_UNSUPPORTED, "%s: MTP depth %d (training has 0 or 1)", src->path,
                      mc->num_nextn_predict_layers);
    c->V = mc->vocab_size;
    c->C = mc->hidden_size;
    c->L = mc->num_hidden_layers;
    c->NH = mc->num_attention_heads;
    c->QLR = mc->q_lora_rank;
    c->KVLR = mc->kv_lora_rank;
    c->NOPE = mc->qk_nope_head_dim;
    c->ROPE = mc->qk_rope_head_dim;
    c->VD = mc->v_head_dim;
    c->FF = mc->intermediate_size;
    c->E = mc->n_routed_experts;
    c->K = mc->num_experts_per_tok;
    c->MI = mc->moe_intermediate_size;
    c->NS = mc->n_shared_experts;
    c->G = mc->n_group > 1 ? mc->n_group : 1;
    c->TG = mc->n_group > 1 ? mc->topk_group : 1;
    c->first_dense = c->E > 0 ? mc->first_k_dense_replace : 0;
    c->norm_topk = mc->norm_topk_prob;
    c->mtp = mc->num_nextn_predict_layers;
    c->eps = mc->rms_norm_eps;
    c->route_scale = mc->routed_scaling_factor;
    c->rope_theta = mc->rope_theta;
    c->rope_scaling = mc->rope_scaling;
    c->rope_factor = mc->rope_factor;
    c->rope_orig_max_pos = mc->rope_orig_max_pos;
    c->yarn_beta_fast = mc->yarn_beta_fast;
    c->yarn_beta_slow = mc->yarn_beta_slow;
    c->yarn_mscale = mc->yarn_mscale;
    c->yarn_mscale_all_dim = mc->yarn_mscale_all_dim;
    if (c->rope_scaling != WH_ROPE_NONE && c->rope_scaling != WH_ROPE_YARN)
        return wh_err(err, WH_E_UNSUPPORTED, "%s: rope scaling other than YaRN", src->path);
    return WH_OK;
}

int wh_tr_import_hf(wh_tr_model *m, const wh_model *src, wh_error *err)
{
    xlist l = {0};
    if (build_list(m, &l, err) != WH_OK)
        return err ? err->code : WH_E_NOMEM;
    int rc = WH_OK;
    for (int i = 0; i < l.n && rc == WH_OK; i++) {
        const xt *t = &l.v[i];
        const wh_tensor *w = wh_store_find(&src->store, t->name);
        int64_t cols = t->cols ? (int64_t)t->cols : (int64_t)t->rows;
        int64_t rows = t->cols ? (int64_t)t->rows : 1;
        if (w == NULL) {
            rc = wh_err(err, WH_E_MISSING,
                        "%s: no tensor %s (training imports whale's and "
                        "DeepSeek-V3's HF safetensors names)",
                        src->path, t->name);
            break;
        }
        if (w->ne[0] != cols || wh_tensor_nelem(w) != rows * cols) {
            rc = wh_err(err, WH_E_FORMAT, "%s: tensor %s has %lld x %lld values, want %lld x %lld",
                        src->path, t->name, (long long)(wh_tensor_nelem(w) / w->ne[0]),
                        (long long)w->ne[0], (long long)rows, (long long)cols);
            break;
        }
        /* the list's views point into m->params (or the routing bias): writable */
        float *dst = (float *)(uintptr_t)t->data;
        for (int64_t r = 0; r < rows; r++)
            wh_dequant_row(w, r, dst + r * cols);
    }
    wh_free(l.v);
    return rc;
}
