/*
 * export_gguf.c — writes any loaded model (HF safetensors in F32/BF16/F16/FP8
 * block-scaled, or GGUF) as a GGUF v3 file with llama.cpp's tensor names and metadata
 * keys, in one of the common types (`whale quantize`).
 *
 * Layout written (llama.cpp's converter conventions, src/llama-arch.cpp names):
 *   deepseek2  the split MLA layout: attn_k_b {nope, kv_lora, heads} holds W_UK^T per
 *              head, attn_v_b {kv_lora, v, heads} holds W_UV; head_count_kv 1,
 *              key_length = kv_lora + rope, value_length = kv_lora, key_length_mla,
 *              value_length_mla, and q_lora_rank always (0 when absent); experts
 *              stacked into 3-D ffn_{gate,up,down}_exps; the router (ffn_gate_inp) and
 *              exp_probs_b.bias in F32; expert_gating_func 1 softmax / 2 sigmoid; YaRN
 *              as rope.scaling.* with yarn_log_multiplier = 0.1 * mscale_all_dim; MTP
 *              layers as blk.N.nextn.* after the main blocks (block_count includes
 *              them, nextn_predict_layers says how many).
 *   llama      Q/K rows permuted from HF's rotate-half halves to interleaved pairs
 *              (new row h*d + 2j + c = old row h*d + j + c*d/2); Llama-3 (or linear)
 *              rope scaling as rope_freqs.weight, the per-frequency divisors.
 *   qwen2      q/k/v biases; tied embeddings write no output.weight (any arch).
 * Every row is dequantised (wh_dequant_row) and requantised with the library's
 * quantisers; a row whose source dtype already is the target is copied as is.
 *
 * Type mixtures follow llama.cpp's llama_tensor_get_type (src/llama-quant.cpp) as
 * documented facts: 1-D tensors, *_norm.weight and ffn_gate_inp stay F32; for the
 * quantised types output.weight (or token_embd when tied) becomes Q6_K (Q8_0 when its
 * rows are not whole K blocks, unchanged for Q8_0); attn_v-like tensors (attn_v,
 * attn_qkv, attn_kv_b) and ffn_down get more bits in the "more bits" layers
 * (i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2) for Q4_K_M/Q5_K_M; Q2_K/Q3_K_M bump
 * attn_v, ffn_down and attn_output; 8-expert models bump attn_v/attn_k to Q8_0 and
 * attn_output to Q5_K; a row length that is not a multiple of the block falls back
 * Q4_K->Q5_0, Q5_K->Q5_1, Q6_K->Q8_0, Q2_K/Q3_K->Q4_0, then F16. The split layout's
 * attn_k_b / attn_v_b are not attn_v-like in llama.cpp's categories and keep the base.
 *
 * The file is written to OUT.tmp and renamed over OUT when complete; on any failure
 * the temporary file is removed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "base/alloc.h"
#include "base/checked.h"
#include "base/error.h"
#include "base/pool.h"
#include "formats/gguf_write.h"
#include "kernels/linear.h"
#include "kernels/quant.h"
#include "kernels/rope.h"
#include "model/model.h"
#include "tokenizer/tok_internal.h"

/* ---- the output types ---- */

typedef enum mix {
    MIX_PLAIN = 0, /* f32 / f16 / bf16: every 2-D weight in that type */
    MIX_QUANT,     /* a quantised type: llama.cpp's per-tensor rules */
} mix;

typedef struct out_type {
    const char *name;
    wh_dtype base;
    uint32_t ftype; /* general.file_type (llama_ftype) */
    mix mix;
} out_type;

enum {
    FT_F32 = 0,
    FT_F16 = 1,
    FT_Q4_0 = 2,
    FT_Q4_1 = 3,
    FT_Q8_0 = 7,
    FT_Q5_0 = 8,
    FT_Q5_1 = 9,
    FT_Q2_K = 10,
    FT_Q3_K_M = 12,
    FT_Q4_K_M = 15,
    FT_Q5_K_M = 17,
    FT_Q6_K = 18,
    FT_BF16 = 32,
};

static const out_type g_types[] = {
    {"f32", WH_DT_F32, FT_F32, MIX_PLAIN},        {"f16", WH_DT_F16, FT_F16, MIX_PLAIN},
    {"bf16", WH_DT_BF16, FT_BF16, MIX_PLAIN},     {"q8_0", WH_DT_Q8_0, FT_Q8_0, MIX_QUANT},
    {"q4_0", WH_DT_Q4_0, FT_Q4_0, MIX_QUANT},     {"q4_1", WH_DT_Q4_1, FT_Q4_1, MIX_QUANT},
    {"q5_0", WH_DT_Q5_0, FT_Q5_0, MIX_QUANT},     {"q5_1", WH_DT_Q5_1, FT_Q5_1, MIX_QUANT},
    {"q2_k", WH_DT_Q2_K, FT_Q2_K, MIX_QUANT},     {"q3_k_m", WH_DT_Q3_K, FT_Q3_K_M, MIX_QUANT},
    {"q4_k_m", WH_DT_Q4_K, FT_Q4_K_M, MIX_QUANT}, {"q5_k_m", WH_DT_Q5_K, FT_Q5_K_M, MIX_QUANT},
    {"q6_k", WH_DT_Q6_K, FT_Q6_K, MIX_QUANT},
};
#define N_TYPES (sizeof g_types / sizeof g_types[0])

const char *wh_export_types(void)
{
    return "f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q2_k q3_k_m q4_k_m q5_k_m q6_k";
}

/* ---- the list of output tensors ---- */

typedef enum row_kind {
    K_ROWS,    /* row r of src */
    K_PERM,    /* row perm(r) of src: llama Q/K to interleaved pairs, n_head heads */
    K_EXPERTS, /* row r % rows of expert r / rows: which 0 gate, 1 up, 2 down */
    K_KB,      /* W_UK^T per head from uk[h] (transposed there unless uk_transposed) */
    K_VB,      /* W_UV per head: row r % v of uv[r / v] */
    K_VEC,     /* one F32 row: vec */
} row_kind;

typedef struct ox {
    char name[96];
    int n_dims;
    int64_t ne[3];
    wh_dtype type;
    row_kind kind;
    const wh_tensor *src; /* K_ROWS, K_PERM */
    int n_head;           /* K_PERM */
    const wh_layer *ly;   /* K_EXPERTS, K_KB, K_VB */
    int which;            /* K_EXPERTS */
    const float *vec;     /* K_VEC */
    int force_f32;        /* router: never quantised */
} ox;

typedef struct ex {
    const wh_model *m;
    const char *out_path;
    wh_error *err;
    int rc;
    ox *t;
    int n, cap;
    float **owned; /* permuted biases, rope_freqs */
    int n_owned, cap_owned;
} ex;

/* Records the first failure in x (later ones keep it); evaluates to x->rc. */
#define EX_FAIL(x, code, ...)                                                                      \
    ((x)->rc == WH_OK ? ((x)->rc = wh_err((x)->err, (code), __VA_ARGS__)) : (x)->rc)

static ox *add(ex *x, row_kind kind, int n_dims, int64_t ne0, int64_t ne1, int64_t ne2,
               const char *fmt, int layer)
{
    if (x->rc != WH_OK)
        return NULL;
    if (x->n == x->cap) {
        int cap = x->cap ? 2 * x->cap : 256;
        ox *nt = wh_realloc(x->t, (size_t)cap * sizeof *nt);
        if (nt == NULL) {
            EX_FAIL(x, WH_E_NOMEM, "%s: out of memory", x->out_path);
            return NULL;
        }
        x->t = nt;
        x->cap = cap;
    }
    ox *o = &x->t[x->n++];
    memset(o, 0, sizeof *o);
    if (layer >= 0)
        snprintf(o->name, sizeof o->name, fmt, layer);
    else
        snprintf(o->name, sizeof o->name, "%s", fmt);
    o->kind = kind;
    o->n_dims = n_dims;
    o->ne[0] = ne0;
    o->ne[1] = ne1;
    o->ne[2] = ne2;
    return o;
}

static void add_mat(ex *x, const wh_tensor *t, const char *fmt, int layer)
{
    if (t == NULL || x->rc != WH_OK)
        return;
    ox *o = add(x, K_ROWS, 2, t->ne[0], t->ne[1], 1, fmt, layer);
    if (o != NULL)
        o->src = t;
}

static void add_vec(ex *x, const float *v, int64_t n, const char *fmt, int layer)
{
    if (v == NULL || x->rc != WH_OK)
        return;
    ox *o = add(x, K_VEC, 1, n, 1, 1, fmt, layer);
    if (o != NULL)
        o->vec = v;
}

static float *own(ex *x, int64_t n)
{
    if (x->rc != WH_OK)
        return NULL;
    if (x->n_owned == x->cap_owned) {
        int cap = x->cap_owned ? 2 * x->cap_owned : 16;
        float **o = wh_realloc(x->owned, (size_t)cap * sizeof *o);
        if (o == NULL) {
            EX_FAIL(x, WH_E_NOMEM, "%s: out of memory", x->out_path);
            return NULL;
        }
        x->owned = o;
        x->cap_owned = cap;
    }
    float *v = wh_calloc((size_t)n, sizeof(float));
    if (v == NULL) {
        EX_FAIL(x, WH_E_NOMEM, "%s: out of memory", x->out_path);
        return NULL;
    }
    x->owned[x->n_owned++] = v;
    return v;
}

/* Row i of a head of d rows, in GGUF's interleaved order: which HF row it is. */
static int64_t perm_row(int64_t r, int64_t d)
{
    int64_t h = r / d, i = r % d;
    return h * d + i / 2 + (i % 2) * (d / 2);
}

/* A Q or K projection of a llama model: permuted unless the source already is. */
static void add_qk(ex *x, const wh_tensor *w, const float *bias, int n_head, const char *wfmt,
                   const char *bfmt, int il)
{
    const wh_model *m = x->m;
    int permute = m->cfg.arch == WH_ARCH_LLAMA && !m->cfg.rope_interleaved;
    if (!permute) {
        add_mat(x, w, wfmt, il);
        add_vec(x, bias, w->ne[1], bfmt, il);
        return;
    }
    ox *o = add(x, K_PERM, 2, w->ne[0], w->ne[1], 1, wfmt, il);
    if (o == NULL)
        return;
    o->src = w;
    o->n_head = n_head;
    if (bias != NULL) {
        int64_t rows = w->ne[1], d = rows / n_head;
        float *pb = own(x, rows);
        if (pb == NULL)
            return;
        for (int64_t r = 0; r < rows; r++)
            pb[r] = bias[perm_row(r, d)];
        add_vec(x, pb, rows, bfmt, il);
    }
}

static void add_layer(ex *x, const wh_layer *ly, int il)
{
    const wh_model *m = x->m;
    const wh_config *c = &m->cfg;
    int H = c->hidden_size, nh = c->num_attention_heads;
    add_vec(x, ly->attn_norm, H, "blk.%d.attn_norm.weight", il);
    if (m->dims.is_mla) {
        int kvl = c->kv_lora_rank, nope = c->qk_nope_head_dim, vd = c->v_head_dim;
        if (c->q_lora_rank > 0) {
            add_mat(x, ly->wq_a, "blk.%d.attn_q_a.weight", il);
            add_vec(x, ly->q_a_norm, c->q_lora_rank, "blk.%d.attn_q_a_norm.weight", il);
            add_mat(x, ly->wq_b, "blk.%d.attn_q_b.weight", il);
        } else {
            add_mat(x, ly->wq, "blk.%d.attn_q.weight", il);
        }
        add_mat(x, ly->wkv_a, "blk.%d.attn_kv_a_mqa.weight", il);
        add_vec(x, ly->kv_a_norm, kvl, "blk.%d.attn_kv_a_norm.weight", il);
        ox *o = add(x, K_KB, 3, nope, kvl, nh, "blk.%d.attn_k_b.weight", il);
        if (o != NULL)
            o->ly = ly;
        o = add(x, K_VB, 3, kvl, vd, nh, "blk.%d.attn_v_b.weight", il);
        if (o != NULL)
            o->ly = ly;
    } else {
        int kvh = c->num_key_value_heads;
        add_qk(x, ly->wq, ly->bq, nh, "blk.%d.attn_q.weight", "blk.%d.attn_q.bias", il);
        add_qk(x, ly->wk, ly->bk, kvh, "blk.%d.attn_k.weight", "blk.%d.attn_k.bias", il);
        add_mat(x, ly->wv, "blk.%d.attn_v.weight", il);
        if (ly->wv != NULL)
            add_vec(x, ly->bv, ly->wv->ne[1], "blk.%d.attn_v.bias", il);
    }
    add_mat(x, ly->wo, "blk.%d.attn_output.weight", il);
    add_vec(x, ly->ffn_norm, H, "blk.%d.ffn_norm.weight", il);
    if (!ly->is_moe) {
        add_mat(x, ly->mlp.gate, "blk.%d.ffn_gate.weight", il);
        add_mat(x, ly->mlp.up, "blk.%d.ffn_up.weight", il);
        add_mat(x, ly->mlp.down, "blk.%d.ffn_down.weight", il);
        return;
    }
    int E = c->n_routed_experts;
    add_mat(x, ly->router, "blk.%d.ffn_gate_inp.weight", il);
    if (x->rc == WH_OK)
        x->t[x->n - 1].force_f32 = 1;
    add_vec(x, ly->router_bias, E, "blk.%d.exp_probs_b.bias", il);
    static const char *const names[3] = {"blk.%d.ffn_gate_exps.weight", "blk.%d.ffn_up_exps.weight",
                                         "blk.%d.ffn_down_exps.weight"};
    for (int w = 0; w < 3; w++) {
        const wh_tensor *e0 =
            w == 0 ? ly->experts[0].gate : (w == 1 ? ly->experts[0].up : ly->experts[0].down);
        ox *o = add(x, K_EXPERTS, 3, e0->ne[0], e0->ne[1], E, names[w], il);
        if (o != NULL) {
            o->ly = ly;
            o->which = w;
        }
    }
    if (c->n_shared_experts > 0) {
        add_mat(x, ly->shared.gate, "blk.%d.ffn_gate_shexp.weight", il);
        add_mat(x, ly->shared.up, "blk.%d.ffn_up_shexp.weight", il);
        add_mat(x, ly->shared.down, "blk.%d.ffn_down_shexp.weight", il);
    }
}

/* rope_freqs.weight for llama (Llama-3 / linear scaling), NULL when not needed. Other
 * architectures must not need one (llama.cpp reads it for llama only). */
static const float *rope_freqs(ex *x)
{
    const wh_model *m = x->m;
    const wh_config *c = &m->cfg;
    int half = m->dims.rope_dim / 2;
    wh_config plain = *c;
    if (c->arch == WH_ARCH_LLAMA)
        plain.rope_scaling = WH_ROPE_NONE;
    float *base = own(x, half + 1), *ff = own(x, half + 1);
    if (ff == NULL)
        return NULL;
    float ms = 1.0f;
    wh_rope_freqs(&plain, m->dims.rope_dim, base, &ms);
    int needed = 0;
    for (int i = 0; i < half; i++) {
        ff[i] = base[i] / m->inv_freq[i];
        needed |= ff[i] != 1.0f;
    }
    if (!needed)
        return NULL;
    if (c->arch != WH_ARCH_LLAMA) {
        EX_FAIL(x, WH_E_UNSUPPORTED,
                "%s: this model's rotary frequencies (rope scaling %s) cannot be written for "
                "llama.cpp's architecture",
                m->path, c->rope_scaling == WH_ROPE_LINEAR ? "linear" : "or rope_freqs");
        return NULL;
    }
    return ff;
}

/* Checks the config can be said in llama.cpp's metadata; fills the tensor list. */
static void build_list(ex *x)
{
    const wh_model *m = x->m;
    const wh_config *c = &m->cfg;
    int H = c->hidden_size, L = c->num_hidden_layers;
    if (c->rope_scaling == WH_ROPE_YARN) {
        if (!m->dims.is_mla) {
            EX_FAIL(x, WH_E_UNSUPPORTED, "%s: YaRN rope scaling is only written for DeepSeek",
                    m->path);
            return;
        }
        if (c->yarn_mscale != c->yarn_mscale_all_dim) {
            EX_FAIL(x, WH_E_UNSUPPORTED,
                    "%s: rope_scaling mscale differs from mscale_all_dim; llama.cpp's "
                    "yarn_log_multiplier holds only one",
                    m->path);
            return;
        }
    } else if (c->rope_scaling != WH_ROPE_NONE && c->arch != WH_ARCH_LLAMA) {
        EX_FAIL(x, WH_E_UNSUPPORTED,
                "%s: rope scaling other than YaRN (DeepSeek) or Llama-3/linear (llama) has no "
                "llama.cpp key whale reads back",
                m->path);
        return;
    }
    if (m->dims.is_mla && c->n_routed_experts > 0) {
        for (int il = 0; il < L + c->num_nextn_predict_layers; il++) {
            int moe = il >= c->first_k_dense_replace && il % c->moe_layer_freq == 0;
            if (moe != (il >= c->first_k_dense_replace)) {
                EX_FAIL(x, WH_E_UNSUPPORTED,
                        "%s: moe_layer_freq > 1 (dense layers between MoE layers) has no "
                        "llama.cpp key",
                        m->path);
                return;
            }
        }
        if ((c->scoring_func == WH_SCORE_SIGMOID) != (c->topk_method == WH_TOPK_NOAUX_TC)) {
            EX_FAIL(x, WH_E_UNSUPPORTED,
                    "%s: routing must be sigmoid+noaux_tc (V3) or softmax+greedy/group-limited "
                    "(V2) to be written as expert_gating_func",
                    m->path);
            return;
        }
    }
    if (m->rope_mscale != 1.0f && !m->dims.is_mla) {
        EX_FAIL(x, WH_E_UNSUPPORTED, "%s: a rotary cos/sin scale has no llama.cpp key", m->path);
        return;
    }
    add_mat(x, m->embed, "token_embd.weight", -1);
    add_vec(x, m->final_norm, H, "output_norm.weight", -1);
    if (m->head != m->embed)
        add_mat(x, m->head, "output.weight", -1);
    const float *ff = rope_freqs(x);
    if (ff != NULL)
        add_vec(x, ff, m->dims.rope_dim / 2, "rope_freqs.weight", -1);
    for (int il = 0; il < L && x->rc == WH_OK; il++)
        add_layer(x, &m->layers[il], il);
    for (int k = 0; k < c->num_nextn_predict_layers && x->rc == WH_OK; k++) {
        const wh_mtp *t = &m->mtp[k];
        int il = L + k;
        add_layer(x, &t->layer, il);
        add_mat(x, t->eh_proj, "blk.%d.nextn.eh_proj.weight", il);
        add_vec(x, t->enorm, H, "blk.%d.nextn.enorm.weight", il);
        add_vec(x, t->hnorm, H, "blk.%d.nextn.hnorm.weight", il);
        add_vec(x, t->head_norm, H, "blk.%d.nextn.shared_head_norm.weight", il);
        add_mat(x, t->head, "blk.%d.nextn.shared_head_head.weight", il);
        add_mat(x, t->embed, "blk.%d.nextn.embed_tokens.weight", il);
    }
}

/* ---- type choice: llama.cpp's rules ---- */

static int use_more_bits(int i, int n)
{
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

static int block_of(wh_dtype t)
{
    return wh_dtype_get(t)->block;
}

/* The fallback when a row is not a whole number of blocks. */
static wh_dtype fallback(wh_dtype t, int64_t ne0)
{
    if (ne0 % block_of(t) == 0)
        return t;
    switch (t) {
    case WH_DT_Q2_K:
    case WH_DT_Q3_K:
        t = WH_DT_Q4_0;
        break;
    case WH_DT_Q4_K:
        t = WH_DT_Q5_0;
        break;
    case WH_DT_Q5_K:
        t = WH_DT_Q5_1;
        break;
    case WH_DT_Q6_K:
        t = WH_DT_Q8_0;
        break;
    default:
        break;
    }
    return ne0 % block_of(t) == 0 ? t : WH_DT_F16;
}

static int has(const char *s, const char *sub)
{
    return strstr(s, sub) != NULL;
}

static void choose_types(ex *x, const out_type *ty)
{
    const wh_model *m = x->m;
    const wh_config *c = &m->cfg;
    int n_layer_all = c->num_hidden_layers + c->num_nextn_predict_layers;
    int tied = m->head == m->embed;
    int n_expert = c->n_routed_experts;
    int n_head_kv = m->dims.is_mla ? 1 : c->num_key_value_heads;
    int n_gqa = c->num_attention_heads / (n_head_kv > 0 ? n_head_kv : 1);
    /* llama.cpp's LLM_TYPE_70B: llama with 80 layers and grouped KV heads */
    int is_70b = c->arch == WH_ARCH_LLAMA && c->num_hidden_layers == 80 &&
                 c->num_attention_heads != c->num_key_value_heads;
    uint32_t ft = ty->ftype;
    int n_attn_v = 0, i_attn_v = 0, i_ffn_down = 0;
    for (int i = 0; i < x->n; i++) {
        const char *nm = x->t[i].name;
        n_attn_v +=
            has(nm, "attn_v.weight") || has(nm, "attn_qkv.weight") || has(nm, "attn_kv_b.weight");
    }
    for (int i = 0; i < x->n; i++) {
        ox *o = &x->t[i];
        const char *nm = o->name;
        if (o->n_dims < 2 || o->force_f32 || has(nm, "_norm.weight") ||
            has(nm, "ffn_gate_inp.weight")) {
            o->type = WH_DT_F32;
            continue;
        }
        wh_dtype t = ty->base;
        if (ty->mix == MIX_PLAIN) {
            o->type = t;
            continue;
        }
        int layer = -1;
        if (sscanf(nm, "blk.%d.", &layer) != 1)
            layer = -1;
        if (strcmp(nm, "output.weight") == 0 || (tied && strcmp(nm, "token_embd.weight") == 0)) {
            if (o->ne[0] % block_of(t) != 0)
                t = WH_DT_Q8_0;
            else if (t != WH_DT_Q8_0)
                t = WH_DT_Q6_K;
        } else if (strcmp(nm, "token_embd.weight") == 0) {
            /* the base type */
        } else if (has(nm, "attn_v.weight") || has(nm, "attn_qkv.weight") ||
                   has(nm, "attn_kv_b.weight")) {
            if (ft == FT_Q2_K)
                t = n_gqa >= 4 ? WH_DT_Q4_K : WH_DT_Q3_K;
            else if (ft == FT_Q3_K_M)
                t = i_attn_v < 2 ? WH_DT_Q5_K : WH_DT_Q4_K;
            else if ((ft == FT_Q4_K_M || ft == FT_Q5_K_M) && use_more_bits(i_attn_v, n_attn_v))
                t = WH_DT_Q6_K;
            if (is_70b && (t == WH_DT_Q3_K || t == WH_DT_Q4_K))
                t = WH_DT_Q5_K;
            if (n_expert == 8)
                t = WH_DT_Q8_0;
            i_attn_v++;
        } else if (has(nm, "attn_k.weight")) {
            if (n_expert == 8)
                t = WH_DT_Q8_0;
        } else if (has(nm, "ffn_down")) {
            /* MoE models: the layer from the name; dense ones: the running count */
            int il = n_expert > 1 ? layer : i_ffn_down, n = n_layer_all;
            if (ft == FT_Q2_K)
                t = WH_DT_Q3_K;
            else if (ft == FT_Q3_K_M)
                t = il < n / 16 ? WH_DT_Q5_K : WH_DT_Q4_K;
            else if ((ft == FT_Q4_K_M || ft == FT_Q5_K_M) && use_more_bits(il, n))
                t = WH_DT_Q6_K;
            i_ffn_down++;
        } else if (has(nm, "attn_output.weight")) {
            if (n_expert == 8) {
                if (ft == FT_Q2_K || ft == FT_Q3_K_M || ft == FT_Q4_K_M)
                    t = WH_DT_Q5_K;
            } else if (ft == FT_Q2_K) {
                t = WH_DT_Q3_K;
            } else if (ft == FT_Q3_K_M) {
                t = WH_DT_Q4_K;
            }
        }
        o->type = fallback(t, o->ne[0]);
    }
}

/* ---- metadata ---- */

typedef struct kvw {
    wh_gguf_writer *w;
    const char *arch;
    int bad;
} kvw;

static const char *key(const kvw *k, const char *name, char *buf, size_t n)
{
    snprintf(buf, n, "%s.%s", k->arch, name);
    return buf;
}

static void put_u32(kvw *k, const char *name, int64_t v)
{
    char b[128];
    k->bad |= wh_gguf_set_u32(k->w, key(k, name, b, sizeof b), (uint32_t)v) != WH_OK;
}

static void put_f32(kvw *k, const char *name, float v)
{
    char b[128];
    k->bad |= wh_gguf_set_f32(k->w, key(k, name, b, sizeof b), v) != WH_OK;
}

/* The model's name for general.name: its file or folder name without ".gguf". */
static void model_name(const char *path, char *out, size_t n)
{
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/')
        len--;
    size_t s = len;
    while (s > 0 && path[s - 1] != '/')
        s--;
    size_t k = len - s;
    if (k > 5 && strncmp(path + len - 5, ".gguf", 5) == 0)
        k -= 5;
    if (k >= n)
        k = n - 1;
    memcpy(out, path + s, k);
    out[k] = '\0';
}

static int write_metadata(ex *x, wh_gguf_writer *w, const out_type *ty)
{
    const wh_model *m = x->m;
    const wh_config *c = &m->cfg;
    const char *arch =
        m->dims.is_mla ? "deepseek2" : (c->arch == WH_ARCH_QWEN2 ? "qwen2" : "llama");
    kvw k = {w, arch, 0};
    char name[256];
    model_name(m->path, name, sizeof name);
    k.bad |= wh_gguf_set_str(w, "general.architecture", arch) != WH_OK;
    k.bad |= wh_gguf_set_str(w, "general.name", name) != WH_OK;
    k.bad |= wh_gguf_set_u32(w, "general.file_type", ty->ftype) != WH_OK;
    if (ty->mix == MIX_QUANT)
        k.bad |= wh_gguf_set_u32(w, "general.quantization_version", 2) != WH_OK;
    put_u32(&k, "block_count", c->num_hidden_layers + c->num_nextn_predict_layers);
    put_u32(&k, "context_length", c->max_position_embeddings);
    put_u32(&k, "embedding_length", c->hidden_size);
    put_u32(&k, "feed_forward_length", c->intermediate_size);
    put_u32(&k, "attention.head_count", c->num_attention_heads);
    put_f32(&k, "rope.freq_base", c->rope_theta);
    put_f32(&k, "attention.layer_norm_rms_epsilon", c->rms_norm_eps);
    put_u32(&k, "vocab_size", c->vocab_size);
    put_u32(&k, "rope.dimension_count", m->dims.rope_dim);
    if (m->dims.is_mla) {
        int kvl = c->kv_lora_rank, rope = c->qk_rope_head_dim;
        put_u32(&k, "attention.head_count_kv", 1);
        put_u32(&k, "attention.q_lora_rank", c->q_lora_rank);
        put_u32(&k, "attention.kv_lora_rank", kvl);
        put_u32(&k, "attention.key_length", kvl + rope);
        put_u32(&k, "attention.value_length", kvl);
        put_u32(&k, "attention.key_length_mla", c->qk_nope_head_dim + rope);
        put_u32(&k, "attention.value_length_mla", c->v_head_dim);
        if (c->num_nextn_predict_layers > 0)
            put_u32(&k, "nextn_predict_layers", c->num_nextn_predict_layers);
        int moe = c->n_routed_experts > 0;
        put_u32(&k, "leading_dense_block_count",
                moe ? c->first_k_dense_replace
                    : c->num_hidden_layers + c->num_nextn_predict_layers);
        put_u32(&k, "expert_feed_forward_length", c->moe_intermediate_size);
        put_u32(&k, "expert_count", c->n_routed_experts);
        put_u32(&k, "expert_shared_count", c->n_shared_experts);
        put_u32(&k, "expert_used_count", c->num_experts_per_tok);
        /* GGUF semantics scale after normalising; HF V2 scales only unnormalised gates */
        int normed = c->norm_topk_prob && c->num_experts_per_tok > 1;
        put_f32(&k, "expert_weights_scale",
                !c->scale_after_norm && normed ? 1.0f : c->routed_scaling_factor);
        char b[128];
        k.bad |= wh_gguf_set_bool(w, key(&k, "expert_weights_norm", b, sizeof b),
                                  c->norm_topk_prob) != WH_OK;
        put_u32(&k, "expert_gating_func", c->scoring_func == WH_SCORE_SIGMOID ? 2 : 1);
        int grouped = c->topk_method != WH_TOPK_GREEDY && c->topk_group < c->n_group;
        put_u32(&k, "expert_group_count", grouped ? c->n_group : 1);
        put_u32(&k, "expert_group_used_count", grouped ? c->topk_group : 1);
        if (c->rope_scaling == WH_ROPE_YARN) {
            k.bad |= wh_gguf_set_str(w, key(&k, "rope.scaling.type", b, sizeof b), "yarn") != WH_OK;
            put_f32(&k, "rope.scaling.factor", c->rope_factor);
            put_u32(&k, "rope.scaling.original_context_length", c->rope_orig_max_pos);
            put_f32(&k, "rope.scaling.yarn_log_multiplier", 0.1f * c->yarn_mscale_all_dim);
            if (c->yarn_beta_fast != 32.0f)
                put_f32(&k, "rope.scaling.yarn_beta_fast", c->yarn_beta_fast);
            if (c->yarn_beta_slow != 1.0f)
                put_f32(&k, "rope.scaling.yarn_beta_slow", c->yarn_beta_slow);
        }
    } else {
        put_u32(&k, "attention.head_count_kv", c->num_key_value_heads);
        put_u32(&k, "attention.key_length", c->head_dim);
        put_u32(&k, "attention.value_length", c->head_dim);
    }
    if (k.bad)
        return EX_FAIL(x, WH_E_NOMEM, "%s: out of memory", x->out_path);
    /* tokenizer: the model's own, else llama.cpp's "none" (ids only) */
    const wh_tokenizer *tok = m->tok;
    if (tok != NULL) {
        int rc = tok_export_gguf(tok, w, c->vocab_size, x->err);
        if (rc != WH_OK) {
            wh_err_wrap(x->err, "%s", m->path);
            x->rc = rc;
            return rc;
        }
    } else {
        k.bad |= wh_gguf_set_str(w, "tokenizer.ggml.model", "none") != WH_OK;
    }
    int32_t bos =
        tok != NULL && tok->bos >= 0 && tok->bos < tok->n_vocab ? tok->bos : c->bos_token_id;
    int32_t eos =
        tok != NULL && tok->eos >= 0 && tok->eos < tok->n_vocab ? tok->eos : c->eos_token_id;
    if (bos >= 0)
        k.bad |= wh_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)bos) != WH_OK;
    if (eos >= 0)
        k.bad |= wh_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)eos) != WH_OK;
    if (m->chat_template != NULL)
        k.bad |= wh_gguf_set_str(w, "tokenizer.chat_template", m->chat_template) != WH_OK;
    if (k.bad)
        return EX_FAIL(x, WH_E_NOMEM, "%s: out of memory", x->out_path);
    return WH_OK;
}

/* ---- rows: produced in parallel, written in order ---- */

typedef struct worker {
    float *row;  /* >= max row length */
    float *head; /* K_KB from an untransposed W_UK: nope x kv_lora */
    int cached;  /* head held in `head`, -1 none */
} worker;

typedef struct chunk_task {
    const ox *o;
    int64_t r0, r1;
    uint8_t *out;
    uint64_t rb; /* output row bytes */
    worker *wk;
} chunk_task;

/* The source tensor and row that output row r comes from (all kinds but K_VEC and
 * an untransposed K_KB). */
static const wh_tensor *row_source(const ox *o, int64_t r, int64_t *sr)
{
    switch (o->kind) {
    case K_ROWS:
        *sr = r;
        return o->src;
    case K_PERM:
        *sr = perm_row(r, o->ne[1] / o->n_head);
        return o->src;
    case K_EXPERTS: {
        int64_t e = r / o->ne[1];
        *sr = r % o->ne[1];
        const wh_mlp_weights *w = &o->ly->experts[e];
        return o->which == 0 ? w->gate : (o->which == 1 ? w->up : w->down);
    }
    case K_VB:
        *sr = r % o->ne[1];
        return &o->ly->uv[r / o->ne[1]];
    case K_KB:
        *sr = r % o->ne[1];
        return &o->ly->uk[r / o->ne[1]];
    case K_VEC:
        break;
    }
    *sr = 0;
    return NULL;
}

static void produce_row(const ox *o, int64_t r, uint8_t *dst, worker *wk)
{
    const wh_quant_traits *tr = wh_quant_traits_get(o->type);
    int64_t n = o->ne[0];
    if (o->kind == K_VEC) {
        tr->quantize(o->vec, dst, n);
        return;
    }
    if (o->kind == K_KB && !o->ly->uk_transposed) {
        /* uk[h] is W_UK {kv_lora, nope}: nope rows of kv_lora; output row c is column c */
        int64_t kvl = o->ne[1], h = r / kvl, col = r % kvl;
        if (wk->cached != (int)h) {
            for (int64_t j = 0; j < n; j++)
                wh_dequant_row(&o->ly->uk[h], j, wk->head + j * kvl);
            wk->cached = (int)h;
        }
        for (int64_t j = 0; j < n; j++)
            wk->row[j] = wk->head[j * kvl + col];
        tr->quantize(wk->row, dst, n);
        return;
    }
    int64_t sr = 0;
    const wh_tensor *s = row_source(o, r, &sr);
    if (s->dtype == o->type) {
        uint64_t rb = wh_dtype_row_bytes(s->dtype, s->ne[0]);
        memcpy(dst, s->data + (uint64_t)sr * rb, (size_t)rb);
        return;
    }
    wh_dequant_row(s, sr, wk->row);
    tr->quantize(wk->row, dst, n);
}

static void chunk_run(void *ctx, int ith, int nth)
{
    const chunk_task *c = ctx;
    long b, e;
    wh_split((long)(c->r1 - c->r0), ith, nth, &b, &e);
    for (long i = b; i < e; i++)
        produce_row(c->o, c->r0 + i, c->out + (uint64_t)i * c->rb, &c->wk[ith]);
}

#define CHUNK_BYTES ((uint64_t)32 << 20)

/* ---- driver ---- */

static const out_type *find_type(const char *name)
{
    for (size_t i = 0; i < N_TYPES; i++)
        if (name != NULL && strcasecmp(name, g_types[i].name) == 0)
            return &g_types[i];
    return NULL;
}

static void ex_free(ex *x)
{
    wh_free(x->t);
    for (int i = 0; i < x->n_owned; i++)
        wh_free(x->owned[i]);
    wh_free(x->owned);
}

int wh_model_export_gguf(const wh_model *m, const char *out_path, const char *type,
                         wh_progress_fn progress, void *user, wh_error *err)
{
    return wh_model_export_gguf_ex(m, out_path, type, NULL, NULL, progress, user, err);
}

int wh_model_export_gguf_ex(const wh_model *m, const char *out_path, const char *type,
                            const wh_export_opts *opts, wh_export_stats *stats,
                            wh_progress_fn progress, void *user, wh_error *err)
{
    if (stats != NULL)
        memset(stats, 0, sizeof *stats);
    const out_type *ty = find_type(type);
    if (ty == NULL)
        return wh_err(err, WH_E_INVALID, "export: unknown type \"%s\" (one of: %s)",
                      type ? type : "(null)", wh_export_types());
    if (m == NULL || out_path == NULL || out_path[0] == '\0')
        return wh_err(err, WH_E_INVALID, "export: no model or no output path");
    ex x = {m, out_path, err, WH_OK, NULL, 0, 0, NULL, 0, 0};
    build_list(&x);
    if (x.rc == WH_OK)
        choose_types(&x, ty);
    wh_gguf_writer *w = NULL;
    if (x.rc == WH_OK)
        x.rc = wh_gguf_writer_new(&w, err);
    if (x.rc == WH_OK)
        write_metadata(&x, w, ty);
    /* declare the tensors; size the per-thread scratch */
    int64_t max_row = 1, max_head = 0;
    uint64_t n_elem = 0, t_bytes = 0;
    for (int i = 0; i < x.n && x.rc == WH_OK; i++) {
        ox *o = &x.t[i];
        uint64_t nb = 0;
        x.rc = wh_gguf_add_tensor(w, o->name, (uint32_t)wh_gguf_ggml_from_dtype(o->type), o->n_dims,
                                  o->ne, &nb, err);
        if (x.rc != WH_OK)
            break;
        if (o->ne[0] > max_row)
            max_row = o->ne[0];
        if (o->kind == K_KB && !o->ly->uk_transposed && o->ne[0] * o->ne[1] > max_head)
            max_head = o->ne[0] * o->ne[1];
        n_elem += (uint64_t)o->ne[0] * (uint64_t)o->ne[1] * (uint64_t)o->ne[2];
        t_bytes += nb;
    }
    char *tmp = NULL;
    if (x.rc == WH_OK) {
        size_t len = strlen(out_path);
        tmp = wh_malloc(len + 5);
        if (tmp == NULL)
            x.rc = wh_err(err, WH_E_NOMEM, "%s: out of memory", out_path);
        else
            snprintf(tmp, len + 5, "%s.tmp", out_path);
    }
    int started = 0;
    if (x.rc == WH_OK) {
        x.rc = wh_gguf_writer_begin(w, tmp, err);
        started = 1;
    }
    int nth = opts != NULL && opts->n_threads > 0 ? opts->n_threads : wh_cpu_count();
    if (nth > 256)
        nth = 256;
    wh_pool *pool = NULL;
    worker *wk = NULL;
    uint8_t *buf = NULL;
    if (x.rc == WH_OK)
        x.rc = wh_pool_new(nth, &pool, err);
    if (x.rc == WH_OK) {
        wk = wh_calloc((size_t)nth, sizeof *wk);
        buf = wh_malloc((size_t)CHUNK_BYTES);
        int ok = wk != NULL && buf != NULL;
        for (int i = 0; ok && i < nth; i++) {
            wk[i].row = wh_malloc((size_t)max_row * sizeof(float));
            wk[i].head = max_head ? wh_malloc((size_t)max_head * sizeof(float)) : NULL;
            ok = wk[i].row != NULL && (max_head == 0 || wk[i].head != NULL);
        }
        if (!ok)
            x.rc = wh_err(err, WH_E_NOMEM, "%s: out of memory for the export buffers", out_path);
    }
    for (int i = 0; i < x.n && x.rc == WH_OK; i++) {
        const ox *o = &x.t[i];
        if (progress != NULL)
            progress(user, o->name, wh_dtype_get(o->type)->name, i, x.n);
        for (int k = 0; k < nth; k++)
            wk[k].cached = -1;
        uint64_t rb = wh_dtype_row_bytes(o->type, o->ne[0]);
        int64_t rows = o->ne[1] * o->ne[2];
        int64_t per = rb >= CHUNK_BYTES ? 1 : (int64_t)(CHUNK_BYTES / rb);
        uint8_t *cbuf = buf;
        uint8_t *big = NULL;
        if (rb > CHUNK_BYTES) { /* one row larger than the buffer */
            big = wh_malloc((size_t)rb);
            if (big == NULL) {
                x.rc = wh_err(err, WH_E_NOMEM, "%s: tensor %s: out of memory", out_path, o->name);
                break;
            }
            cbuf = big;
        }
        for (int64_t r0 = 0; r0 < rows && x.rc == WH_OK; r0 += per) {
            int64_t r1 = r0 + per < rows ? r0 + per : rows;
            chunk_task ct = {o, r0, r1, cbuf, rb, wk};
            /* a transposing K_KB reuses each head across its rows: one thread per chunk
             * keeps that cache warm and the work is small */
            if (o->kind == K_KB && !o->ly->uk_transposed)
                chunk_run(&ct, 0, 1);
            else
                wh_pool_run(pool, chunk_run, &ct);
            x.rc = wh_gguf_writer_write(w, cbuf, (uint64_t)(r1 - r0) * rb, err);
            if (x.rc != WH_OK)
                wh_err_wrap(err, "tensor %s", o->name);
        }
        wh_free(big);
    }
    if (x.rc == WH_OK)
        x.rc = wh_gguf_writer_finish(w, err);
    if (wk != NULL)
        for (int i = 0; i < nth; i++) {
            wh_free(wk[i].row);
            wh_free(wk[i].head);
        }
    wh_free(wk);
    wh_free(buf);
    wh_pool_free(pool);
    wh_gguf_writer_free(w);
    if (x.rc == WH_OK && rename(tmp, out_path) != 0)
        x.rc = wh_err(err, WH_E_IO, "%s: cannot rename %s into place: %s", out_path, tmp,
                      strerror(errno));
    if (x.rc != WH_OK && started)
        remove(tmp);
    if (x.rc == WH_OK && stats != NULL) {
        struct stat st;
        stats->n_tensors = x.n;
        stats->n_elements = n_elem;
        stats->tensor_bytes = t_bytes;
        stats->file_bytes = stat(out_path, &st) == 0 ? (uint64_t)st.st_size : 0;
        for (int i = 0; i < m->store.n_tensors; i++) {
            const wh_tensor *t = &m->store.tensors[i];
            static const char sfx[] = ".weight_scale_inv";
            size_t nl = strlen(t->name), ns = sizeof sfx - 1;
            stats->source_bytes += t->nbytes;
            if (!(nl > ns && strcmp(t->name + nl - ns, sfx) == 0))
                stats->source_elements += (uint64_t)wh_tensor_nelem(t);
        }
    }
    wh_free(tmp);
    ex_free(&x);
    return x.rc;
}
