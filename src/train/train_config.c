/*
 * train_config.c — the key table of `whale train`'s config file and its parser
 * (train_config.h). One row per key: name, type, where it lives, what it means.
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "base/mapfile.h"
#include "train/train_config.h"

typedef enum { K_INT, K_FLOAT, K_U64, K_STR, K_BOOL, K_SCHED, K_ROPE, K_AGG } ktype;

typedef struct key {
    const char *name;
    ktype type;
    size_t off;
    const char *help;
} key;

#define M(f) offsetof(wh_train_opts, model) + offsetof(wh_tr_config, f)
#define H(f) offsetof(wh_train_opts, hp) + offsetof(wh_tr_hparams, f)
#define O(f) offsetof(wh_train_opts, f)
#define R(f) offsetof(wh_train_opts, rl) + offsetof(wh_rl_opts, f)

static const key KEYS[] = {
    /* model (DeepSeek-V3 architecture; HF config.json names) */
    {"vocab_size", K_INT, M(V), "vocabulary; 0 = the data's tokenizer (shard header)"},
    {"hidden_size", K_INT, M(C), "model width C"},
    {"num_hidden_layers", K_INT, M(L), "transformer blocks (MTP excluded)"},
    {"num_attention_heads", K_INT, M(NH), "attention heads"},
    {"q_lora_rank", K_INT, M(QLR), "MLA query compression rank; 0 = none"},
    {"kv_lora_rank", K_INT, M(KVLR), "MLA key/value compression rank"},
    {"qk_nope_head_dim", K_INT, M(NOPE), "per-head query/key dims without RoPE"},
    {"qk_rope_head_dim", K_INT, M(ROPE), "per-head decoupled RoPE dims (even)"},
    {"v_head_dim", K_INT, M(VD), "per-head value dims"},
    {"intermediate_size", K_INT, M(FF), "dense SwiGLU MLP width (first dense blocks)"},
    {"moe_intermediate_size", K_INT, M(MI), "width of each routed and shared expert"},
    {"n_routed_experts", K_INT, M(E), "routed experts; 0 = dense model"},
    {"num_experts_per_tok", K_INT, M(K), "experts chosen per token (top-k)"},
    {"n_shared_experts", K_INT, M(NS), "shared experts"},
    {"n_group", K_INT, M(G), "expert groups (group-limited routing); 1 = none"},
    {"topk_group", K_INT, M(TG), "groups kept per token"},
    {"first_k_dense_replace", K_INT, M(first_dense), "leading blocks with a dense MLP"},
    {"num_nextn_predict_layers", K_INT, M(mtp), "MTP depth, 0 or 1"},
    {"norm_topk_prob", K_BOOL, M(norm_topk), "normalise the selected gates (true/false)"},
    {"routed_scaling_factor", K_FLOAT, M(route_scale), "gate scale"},
    {"rms_norm_eps", K_FLOAT, M(eps), "RMSNorm epsilon"},
    {"rope_theta", K_FLOAT, M(rope_theta), "RoPE base"},
    {"rope_scaling", K_ROPE, M(rope_scaling), "none or yarn"},
    {"rope_factor", K_FLOAT, M(rope_factor), "YaRN factor"},
    {"original_max_position_embeddings", K_INT, M(rope_orig_max_pos), "YaRN original context"},
    {"beta_fast", K_FLOAT, M(yarn_beta_fast), "YaRN beta_fast"},
    {"beta_slow", K_FLOAT, M(yarn_beta_slow), "YaRN beta_slow"},
    {"mscale", K_FLOAT, M(yarn_mscale), "YaRN mscale"},
    {"mscale_all_dim", K_FLOAT, M(yarn_mscale_all_dim), "YaRN mscale_all_dim"},
    /* losses and balancing */
    {"alpha", K_FLOAT, M(bal_alpha), "sequence-wise balance loss weight (V3 eq. 17); 0 = off"},
    {"lambda", K_FLOAT, M(mtp_lambda), "MTP loss weight (V3 eq. 25)"},
    {"gamma", K_FLOAT, H(gamma), "bias update speed of aux-loss-free balancing; 0 = off"},
    /* optimisation */
    {"steps", K_INT, H(steps), "optimizer steps"},
    {"lr", K_FLOAT, H(lr), "peak learning rate"},
    {"lr_min", K_FLOAT, H(lr_min), "final learning rate"},
    {"warmup", K_INT, H(warmup), "linear warmup steps"},
    {"schedule", K_SCHED, H(schedule), "cosine, wsd (warmup-stable-decay) or constant"},
    {"decay_steps", K_INT, H(decay_steps), "wsd: steps of the final linear decay"},
    {"weight_decay", K_FLOAT, H(weight_decay), "AdamW decoupled weight decay (not on norms)"},
    {"beta1", K_FLOAT, H(beta1), "AdamW beta1"},
    {"beta2", K_FLOAT, H(beta2), "AdamW beta2"},
    {"adam_eps", K_FLOAT, H(adam_eps), "AdamW epsilon"},
    {"clip", K_FLOAT, H(clip), "max global gradient norm; 0 = no clipping"},
    {"init_std", K_FLOAT, H(init_std), "std of the normal initialisation"},
    {"seed", K_U64, O(seed), "initialisation and data order"},
    /* data and batch */
    {"data", K_STR, O(data), "folder of token shards (whale data)"},
    {"batch_size", K_INT, O(batch), "sequences per micro-batch (per rank)"},
    {"seq_len", K_INT, O(seq_len), "tokens per sequence"},
    {"grad_accum", K_INT, O(grad_accum), "micro-batches per step, over all ranks"},
    /* run */
    {"eval_interval", K_INT, O(eval_interval), "steps between validation losses; 0 = never"},
    {"eval_batches", K_INT, O(eval_batches), "micro-batches of the validation split per eval"},
    {"checkpoint_interval", K_INT, O(checkpoint_interval),
     "steps between checkpoints; 0 = end only"},
    {"log_interval", K_INT, O(log_interval), "steps between progress lines"},
    {"threads", K_INT, O(threads), "BLAS threads; 0 = OpenBLAS's default"},
    {"out", K_STR, O(out), "output folder: checkpoint, log, plot, export"},
    /* post-training: whale sft, grpo, distill (docs/R1.md) */
    {"init_from", K_STR, R(init_from),
     "checkpoint.bin or HF model folder to start from; empty = seeded init"},
    {"tokenizer", K_STR, R(tokenizer), "tokenizer folder/json; empty = init_from's folder"},
    {"sft_data", K_STR, R(sft_data), "sft: JSONL conversations (whale tasks --sft)"},
    {"teacher", K_STR, R(teacher), "distill: solver, or a model whale runs"},
    {"tasks", K_STR, R(tasks), "grpo/distill: families, comma-separated, or all"},
    {"levels", K_STR, R(levels), "grpo/distill: level L or range LO-HI"},
    {"task_seed", K_U64, R(task_seed), "grpo/distill: train items task_seed * 2^32 + k"},
    {"prompts", K_INT, R(prompts), "grpo: prompts (groups) per step"},
    {"group", K_INT, R(group), "grpo: samples per prompt G"},
    {"max_new_tokens", K_INT, R(max_new_tokens),
     "response tokens at most; 0 = what seq_len leaves"},
    {"temperature", K_FLOAT, R(temperature), "sampling temperature of rollouts / the teacher"},
    {"top_p", K_FLOAT, R(top_p), "nucleus sampling; 1 = off"},
    {"mu", K_INT, R(mu), "grpo: policy updates per rollout batch"},
    {"clip_eps", K_FLOAT, R(clip_eps), "grpo: ratio clip below, 1 - eps"},
    {"clip_eps_high", K_FLOAT, R(clip_eps_high),
     "grpo: ratio clip above, 1 + eps_high (DAPO clip-higher)"},
    {"kl_beta", K_FLOAT, R(kl_beta), "grpo: weight of the k3 KL to the reference; 0 = off"},
    {"ref_reset", K_INT, R(ref_reset), "grpo: steps between reference resets; 0 = never"},
    {"aggregation", K_AGG, R(aggregation), "grpo: token (DAPO) or sequence (GRPO) loss mean"},
    {"adv_eps", K_FLOAT, R(adv_eps), "grpo: A = (r - mean) / (std + adv_eps)"},
    {"dynamic_sampling", K_BOOL, R(dynamic_sampling),
     "grpo: replace groups of equal rewards (DAPO)"},
    {"max_resample", K_INT, R(max_resample), "grpo: replacement groups per step at most"},
    {"distill_n", K_INT, R(distill_n), "distill: prompts per family and level"},
    {"distill_k", K_INT, R(distill_k), "distill: teacher samples per prompt"},
};

#define N_KEYS (sizeof KEYS / sizeof KEYS[0])

void wh_train_opts_defaults(wh_train_opts *o)
{
    memset(o, 0, sizeof *o);
    wh_tr_config c = {.V = 0,
                      .C = 64,
                      .L = 4,
                      .NH = 4,
                      .QLR = 32,
                      .KVLR = 32,
                      .NOPE = 16,
                      .ROPE = 8,
                      .VD = 16,
                      .FF = 192,
                      .E = 8,
                      .K = 2,
                      .MI = 32,
                      .NS = 1,
                      .G = 1,
                      .TG = 1,
                      .first_dense = 1,
                      .norm_topk = 1,
                      .mtp = 1,
                      .eps = 1e-6f,
                      .route_scale = 2.5f,
                      .mtp_lambda = 0.3f,
                      .bal_alpha = 1e-4f,
                      .rope_theta = 10000.0f,
                      .rope_factor = 1.0f,
                      .yarn_beta_fast = 32.0f,
                      .yarn_beta_slow = 1.0f,
                      .yarn_mscale = 1.0f,
                      .yarn_mscale_all_dim = 1.0f,
                      .rope_scaling = WH_ROPE_NONE,
                      .rope_orig_max_pos = 4096};
    o->model = c;
    o->hp = wh_tr_hparams_defaults();
    snprintf(o->data, sizeof o->data, "data");
    snprintf(o->out, sizeof o->out, "out");
    o->batch = 8;
    o->seq_len = 64;
    o->grad_accum = 1;
    o->seed = 1;
    o->eval_interval = 100;
    o->eval_batches = 4;
    o->checkpoint_interval = 500;
    o->log_interval = 1;
    o->threads = 0;
    wh_rl_opts *r = &o->rl;
    snprintf(r->teacher, sizeof r->teacher, "solver");
    snprintf(r->tasks, sizeof r->tasks, "all");
    snprintf(r->levels, sizeof r->levels, "1");
    r->prompts = 4;
    r->group = 8;
    r->mu = 1;
    r->aggregation = WH_AGG_TOKEN;
    r->dynamic_sampling = 1;
    r->max_resample = 8;
    r->temperature = 1.0f;
    r->top_p = 1.0f;
    r->clip_eps = 0.2f;
    r->clip_eps_high = 0.28f;
    r->kl_beta = 0.04f;
    r->adv_eps = 1e-4f;
    r->distill_n = 16;
    r->distill_k = 1;
}

static const key *find_key(const char *name)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcmp(KEYS[i].name, name) == 0)
            return &KEYS[i];
    return NULL;
}

int wh_train_opts_set(wh_train_opts *o, const char *name, const char *value, const char *where,
                      wh_error *err)
{
    const key *k = find_key(name);
    if (k == NULL)
        return wh_err(err, WH_E_INVALID, "%s: unknown key \"%s\" (whale train --help lists them)",
                      where, name);
    char *p = (char *)o + k->off, *end = NULL;
    errno = 0;
    switch (k->type) {
    case K_INT: {
        long v = strtol(value, &end, 10);
        if (end == value || *end || errno || v < 0 || v > 1000000000L)
            return wh_err(err, WH_E_INVALID, "%s: %s = \"%s\": want an integer 0..1e9", where, name,
                          value);
        int iv = (int)v;
        memcpy(p, &iv, sizeof iv);
        break;
    }
    case K_U64: {
        unsigned long long v = strtoull(value, &end, 10);
        if (end == value || *end || errno || value[0] == '-')
            return wh_err(err, WH_E_INVALID, "%s: %s = \"%s\": want an unsigned integer", where,
                          name, value);
        uint64_t uv = v;
        memcpy(p, &uv, sizeof uv);
        break;
    }
    case K_FLOAT: {
        float v = strtof(value, &end);
        if (end == value || *end || errno || !isfinite(v))
            return wh_err(err, WH_E_INVALID, "%s: %s = \"%s\": want a number", where, name, value);
        memcpy(p, &v, sizeof v);
        break;
    }
    case K_BOOL: {
        int v = strcmp(value, "true") == 0 || strcmp(value, "1") == 0    ? 1
                : strcmp(value, "false") == 0 || strcmp(value, "0") == 0 ? 0
                                                                         : -1;
        if (v < 0)
            return wh_err(err, WH_E_INVALID, "%s: %s = \"%s\": want true or false", where, name,
                          value);
        memcpy(p, &v, sizeof v);
        break;
    }
    case K_SCHED: {
        int v = strcmp(value, "cosine") == 0     ? WH_SCHED_COSINE
                : strcmp(value, "wsd") == 0      ? WH_SCHED_WSD
                : strcmp(value, "constant") == 0 ? WH_SCHED_CONSTANT
                                                 : -1;
        if (v < 0)
            return wh_err(err, WH_E_INVALID, "%s: %s = \"%s\": want cosine, wsd or constant", where,
                          name, value);
        memcpy(p, &v, sizeof v);
        break;
    }
    case K_ROPE: {
        int v = strcmp(value, "none") == 0   ? WH_ROPE_NONE
                : strcmp(value, "yarn") == 0 ? WH_ROPE_YARN
                                             : -1;
        if (v < 0)
            return wh_err(err, WH_E_INVALID, "%s: %s = \"%s\": want none or yarn", where, name,
                          value);
        memcpy(p, &v, sizeof v);
        break;
    }
    case K_AGG: {
        int v = strcmp(value, "token") == 0      ? WH_AGG_TOKEN
                : strcmp(value, "sequence") == 0 ? WH_AGG_SEQUENCE
                                                 : -1;
        if (v < 0)
            return wh_err(err, WH_E_INVALID, "%s: %s = \"%s\": want token or sequence", where, name,
                          value);
        memcpy(p, &v, sizeof v);
        break;
    }
    case K_STR:
        if (strlen(value) >= 1024)
            return wh_err(err, WH_E_INVALID, "%s: %s: path longer than 1023 bytes", where, name);
        snprintf(p, 1024, "%s", value);
        break;
    }
    return WH_OK;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

int wh_train_opts_load(wh_train_opts *o, const char *path, wh_error *err)
{
    char *text = NULL;
    uint64_t len = 0;
    int rc = wh_read_text(path, 1 << 20, &text, &len, err);
    if (rc != WH_OK)
        return rc;
    char *line = text;
    int lineno = 0;
    while (line && rc == WH_OK) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *s = trim(line);
        if (*s) {
            char where[1100];
            snprintf(where, sizeof where, "%s:%d", path, lineno);
            char *eq = strchr(s, '=');
            if (eq == NULL) {
                rc =
                    wh_err(err, WH_E_INVALID, "%s: expected \"key = value\", got \"%s\"", where, s);
                break;
            }
            *eq = '\0';
            rc = wh_train_opts_set(o, trim(s), trim(eq + 1), where, err);
        }
        line = nl ? nl + 1 : NULL;
    }
    wh_free(text);
    return rc;
}

void wh_train_opts_write(const wh_train_opts *o, FILE *f)
{
    for (size_t i = 0; i < N_KEYS; i++) {
        const key *k = &KEYS[i];
        const char *p = (const char *)o + k->off;
        int iv;
        float fv;
        uint64_t uv;
        fprintf(f, "%-32s = ", k->name);
        switch (k->type) {
        case K_INT:
            memcpy(&iv, p, sizeof iv);
            fprintf(f, "%d", iv);
            break;
        case K_U64:
            memcpy(&uv, p, sizeof uv);
            fprintf(f, "%llu", (unsigned long long)uv);
            break;
        case K_FLOAT:
            memcpy(&fv, p, sizeof fv);
            fprintf(f, "%.9g", fv);
            break;
        case K_BOOL:
            memcpy(&iv, p, sizeof iv);
            fprintf(f, "%s", iv ? "true" : "false");
            break;
        case K_SCHED:
            memcpy(&iv, p, sizeof iv);
            fprintf(f, "%s",
                    iv == WH_SCHED_WSD        ? "wsd"
                    : iv == WH_SCHED_CONSTANT ? "constant"
                                              : "cosine");
            break;
        case K_ROPE:
            memcpy(&iv, p, sizeof iv);
            fprintf(f, "%s", iv == WH_ROPE_YARN ? "yarn" : "none");
            break;
        case K_AGG:
            memcpy(&iv, p, sizeof iv);
            fprintf(f, "%s", iv == WH_AGG_SEQUENCE ? "sequence" : "token");
            break;
        case K_STR:
            fprintf(f, "%s", p);
            break;
        }
        fprintf(f, "\n");
    }
}

/* The pretraining keys come first, the post-training keys from init_from on. */
static size_t n_train_keys(void)
{
    size_t i = 0;
    while (i < N_KEYS && strcmp(KEYS[i].name, "init_from") != 0)
        i++;
    return i;
}

void wh_train_opts_help(FILE *f)
{
    for (size_t i = 0; i < n_train_keys(); i++)
        fprintf(f, "  %-33s %s\n", KEYS[i].name, KEYS[i].help);
}

void wh_rl_opts_help(FILE *f)
{
    for (size_t i = n_train_keys(); i < N_KEYS; i++)
        fprintf(f, "  %-33s %s\n", KEYS[i].name, KEYS[i].help);
}

int wh_train_opts_check(const wh_train_opts *o, wh_error *err)
{
    if (o->batch <= 0 || o->seq_len <= 0 || o->grad_accum <= 0)
        return wh_err(err, WH_E_INVALID, "train: batch_size, seq_len and grad_accum must be > 0");
    if (o->hp.steps <= 0)
        return wh_err(err, WH_E_INVALID, "train: steps must be > 0");
    if (o->hp.warmup < 0 || (o->hp.warmup == 0 && o->hp.schedule != WH_SCHED_COSINE &&
                             o->hp.schedule != WH_SCHED_WSD && o->hp.schedule != WH_SCHED_CONSTANT))
        return wh_err(err, WH_E_INVALID, "train: bad warmup");
    if (o->hp.lr <= 0.0f || o->hp.lr_min < 0.0f)
        return wh_err(err, WH_E_INVALID, "train: lr must be > 0 and lr_min >= 0");
    if (o->hp.beta1 < 0.0f || o->hp.beta1 >= 1.0f || o->hp.beta2 < 0.0f || o->hp.beta2 >= 1.0f)
        return wh_err(err, WH_E_INVALID, "train: beta1 and beta2 must be in [0, 1)");
    if (o->log_interval <= 0)
        return wh_err(err, WH_E_INVALID, "train: log_interval must be > 0");
    return WH_OK;
}
