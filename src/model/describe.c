/* describe.c — the `whale info` report of a loaded model. */
#include <stdio.h>
#include <string.h>

#include "model/model.h"

int64_t wh_model_kv_bytes_per_token(const wh_model *m, int absorbed)
{
    int64_t per_layer =
        absorbed ? m->dims.kv_values_per_token_absorbed : m->dims.kv_values_per_token_naive;
    return per_layer * m->cfg.num_hidden_layers * (int64_t)sizeof(float);
}

static void human(double bytes, char *out, size_t n)
{
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (bytes >= 1024.0 && i < 4) {
        bytes /= 1024.0;
        i++;
    }
    snprintf(out, n, "%.2f %s", bytes, u[i]);
}

static void count_fmt(int64_t v, char *out, size_t n)
{
    if (v >= 1000000000)
        snprintf(out, n, "%.2fB", (double)v / 1e9);
    else if (v >= 1000000)
        snprintf(out, n, "%.2fM", (double)v / 1e6);
    else if (v >= 1000)
        snprintf(out, n, "%.2fK", (double)v / 1e3);
    else
        snprintf(out, n, "%lld", (long long)v);
}

void wh_model_describe(const wh_model *m, FILE *out)
{
    const wh_config *c = &m->cfg;
    const wh_dims *d = &m->dims;
    char a[32], b[32], t[32];
    fprintf(out, "model:        %s\n", m->path);
    fprintf(out, "format:       %s%s\n", m->format == WH_FMT_GGUF ? "GGUF" : "safetensors",
            m->format == WH_FMT_GGUF && d->is_mla
                ? (m->mla_split_layout ? " (deepseek2, split attn_k_b/attn_v_b)"
                                       : " (deepseek2, unsplit attn_kv_b)")
                : "");
    fprintf(out, "architecture: %s\n", wh_arch_name(c->arch));
    fprintf(out, "layers:       %d (+%d MTP)   hidden %d   vocab %d   heads %d",
            c->num_hidden_layers, c->num_nextn_predict_layers, c->hidden_size, c->vocab_size,
            c->num_attention_heads);
    if (!d->is_mla)
        fprintf(out, " (kv %d, head_dim %d)", c->num_key_value_heads, c->head_dim);
    fprintf(out, "\n");
    if (d->is_mla)
        fprintf(out,
                "attention:    MLA q_lora %d kv_lora %d qk_nope %d qk_rope %d v %d, softmax "
                "scale %.6g\n",
                c->q_lora_rank, c->kv_lora_rank, c->qk_nope_head_dim, c->qk_rope_head_dim,
                c->v_head_dim, d->softmax_scale);
    if (c->n_routed_experts > 0)
        fprintf(out,
                "moe:          %d routed (%d per token) + %d shared, width %d, %d MoE layers "
                "from layer %d, %s scores, %s, groups %d/%d, scale %g%s\n",
                c->n_routed_experts, c->num_experts_per_tok, c->n_shared_experts,
                c->moe_intermediate_size, d->n_moe_layers, c->first_k_dense_replace,
                c->scoring_func == WH_SCORE_SIGMOID ? "sigmoid" : "softmax",
                c->topk_method == WH_TOPK_NOAUX_TC
                    ? "noaux_tc"
                    : (c->topk_method == WH_TOPK_GROUP_LIMITED ? "group_limited_greedy" : "greedy"),
                c->topk_group, c->n_group, (double)c->routed_scaling_factor,
                c->norm_topk_prob ? ", normalised" : "");
    const char *rs[] = {"none", "linear", "yarn", "llama3"};
    fprintf(out, "rope:         theta %g, scaling %s", (double)c->rope_theta, rs[c->rope_scaling]);
    if (c->rope_scaling != WH_ROPE_NONE)
        fprintf(out, " (factor %g, original context %d)", (double)c->rope_factor,
                c->rope_orig_max_pos);
    fprintf(out, ", %s pairs, context %d\n", c->rope_interleaved ? "interleaved" : "half-split",
            c->max_position_embeddings);
    count_fmt(d->n_params_total, a, sizeof a);
    count_fmt(d->n_params_active, b, sizeof b);
    count_fmt(d->n_params_mtp, t, sizeof t);
    fprintf(out, "parameters:   %s total, %s active per token, %s in MTP layers\n", a, b, t);

    /* dtypes: element counts per stored dtype */
    int64_t per[WH_DT_COUNT] = {0};
    for (int i = 0; i < m->store.n_tensors; i++)
        per[m->store.tensors[i].dtype] += wh_tensor_nelem(&m->store.tensors[i]);
    fprintf(out, "tensors:      %d:", m->store.n_tensors);
    for (int dt = 0; dt < WH_DT_COUNT; dt++)
        if (per[dt] > 0) {
            count_fmt(per[dt], a, sizeof a);
            fprintf(out, " %s %s", wh_dtype_get((wh_dtype)dt)->name, a);
        }
    fprintf(out, "\n");
    uint64_t total = 0;
    for (int i = 0; i < m->store.n_files; i++)
        total += m->store.files[i].size;
    human((double)total, a, sizeof a);
    fprintf(out, "files:        %d, %s\n", m->store.n_files, a);
    for (int i = 0; i < m->store.n_files && i < 16; i++) {
        human((double)m->store.files[i].size, a, sizeof a);
        fprintf(out, "  %s  %s\n", a, m->store.files[i].path);
    }
    if (m->tok != NULL) {
        wh_chat_match how;
        wh_chat_family fam = wh_chat_detect(m->chat_template, m->tok, &how);
        static const char *hows[] = {"exact template", "recognised variant", "from the vocabulary",
                                     "not recognised"};
        fprintf(out,
                "tokenizer:    %d ids, pre-tokenizer %s, bos %d, eos %d%s; chat format %s (%s)\n",
                wh_tokenizer_n_vocab(m->tok), wh_tokenizer_pre_name(m->tok),
                wh_tokenizer_bos(m->tok), wh_tokenizer_eos(m->tok),
                wh_tokenizer_think_open(m->tok) >= 0 ? ", <think> tokens" : "",
                wh_chat_family_name(fam), hows[how]);
    } else {
        fprintf(out, "tokenizer:    none (%s)\n", m->tok_error);
    }
    int64_t kva = wh_model_kv_bytes_per_token(m, 1);
    int64_t kvn = wh_model_kv_bytes_per_token(m, 0);
    if (d->is_mla)
        fprintf(out,
                "kv cache:     %lld bytes per token (absorbed MLA: (kv_lora %d + rope %d) x %d "
                "layers x 4 bytes); naive per-head K/V would be %lld\n",
                (long long)kva, c->kv_lora_rank, c->qk_rope_head_dim, c->num_hidden_layers,
                (long long)kvn);
    else
        fprintf(out,
                "kv cache:     %lld bytes per token (2 x %d kv heads x %d x %d layers x 4 bytes)\n",
                (long long)kva, c->num_key_value_heads, c->head_dim, c->num_hidden_layers);
}
