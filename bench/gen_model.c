/*
 * gen_model.c — writes random-weight GGUF files with the real shapes of
 * DeepSeek-R1-Distill-Qwen-1.5B (qwen2) and a DeepSeek-V2-Lite-like MLA+MoE model
 * (deepseek2), in F16, Q8_0 or a Q4_K_M mixture, for the speed benchmarks. Blocks
 * hold random quants with small finite scales: the output is noise, the work per
 * token is exactly that of the real model. Includes a byte-level gpt2 vocabulary so
 * llama.cpp loads the same files.
 *
 *   gen_model qwen2|deepseek2 f16|q8_0|q4_k_m OUT.gguf [--layers N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fp.h"
#include "formats/gguf_write.h"

enum { T_F32 = 0, T_F16 = 1, T_Q5_0 = 6, T_Q8_0 = 8, T_Q4_K = 12, T_Q6_K = 14 };

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static inline uint64_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

/* small random float in [-a, a] */
static float rndf(float a)
{
    return ((float)(rnd() >> 40) / (float)(1 << 24) * 2.0f - 1.0f) * a;
}

typedef struct spec {
    const char *name;
    int type;
    int n_dims;
    int64_t ne[3];
} spec;

static spec g_specs[4096];
static int g_n;

static int block_bytes(int t, int *block)
{
    switch (t) {
    case T_F32:
        *block = 1;
        return 4;
    case T_F16:
        *block = 1;
        return 2;
    case T_Q5_0:
        *block = 32;
        return 22;
    case T_Q8_0:
        *block = 32;
        return 34;
    case T_Q4_K:
        *block = 256;
        return 144;
    case T_Q6_K:
        *block = 256;
        return 210;
    }
    return 0;
}

/* Fallback when the row length does not fit the K-quant super-block. */
static int fit(int t, int64_t ne0)
{
    if ((t == T_Q4_K || t == T_Q6_K) && ne0 % 256 != 0)
        return t == T_Q4_K ? T_Q5_0 : T_Q8_0;
    return t;
}

static void add(const char *name, int type, int n_dims, int64_t a, int64_t b, int64_t c)
{
    char *n = strdup(name);
    spec s = {n, n_dims == 1 ? T_F32 : fit(type, a), n_dims, {a, b, c}};
    g_specs[g_n++] = s;
}

/* llama.cpp's Q4_K_M rule for attn_v / ffn_down: more bits in the first and last
 * eighth of the layers and every third layer between. */
static int more_bits(int i, int n)
{
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

static void fill_block(uint8_t *p, int t, int bytes)
{
    for (int i = 0; i < bytes; i += 8) {
        uint64_t r = rnd();
        memcpy(p + i, &r, bytes - i < 8 ? (size_t)(bytes - i) : 8);
    }
    uint16_t d = wh_f32_to_f16(0.001f + rndf(0.0005f));
    uint16_t dm = wh_f32_to_f16(0.0005f);
    switch (t) {
    case T_Q5_0:
    case T_Q8_0:
        memcpy(p, &d, 2);
        break;
    case T_Q4_K:
        memcpy(p, &d, 2);
        memcpy(p + 2, &dm, 2);
        break;
    case T_Q6_K:
        memcpy(p + 208, &d, 2);
        break;
    }
}

static int write_data(wh_gguf_writer *w, const spec *s, wh_error *err)
{
    int block = 1;
    int bb = block_bytes(s->type, &block);
    int64_t nel = s->ne[0] * (s->n_dims > 1 ? s->ne[1] : 1) * (s->n_dims > 2 ? s->ne[2] : 1);
    int64_t nblocks = nel / block;
    static uint8_t chunk[1 << 20];
    int64_t per = (int64_t)sizeof chunk / bb;
    int norm = strstr(s->name, "norm") != NULL;
    for (int64_t b0 = 0; b0 < nblocks; b0 += per) {
        int64_t nb = nblocks - b0 < per ? nblocks - b0 : per;
        for (int64_t b = 0; b < nb; b++) {
            uint8_t *p = chunk + b * bb;
            if (s->type == T_F32) {
                float v = norm ? 1.0f : rndf(0.02f);
                memcpy(p, &v, 4);
            } else if (s->type == T_F16) {
                uint16_t h = wh_f32_to_f16(rndf(0.02f));
                memcpy(p, &h, 2);
            } else {
                fill_block(p, s->type, bb);
            }
        }
        int rc = wh_gguf_writer_write(w, chunk, (uint64_t)(nb * bb), err);
        if (rc != WH_OK)
            return rc;
    }
    return WH_OK;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: gen_model qwen2|deepseek2 f16|q8_0|q4_k_m OUT.gguf [--layers N]\n");
        return 2;
    }
    const char *arch = argv[1], *ty = argv[2], *out = argv[3];
    int layers = -1;
    if (argc >= 6 && strcmp(argv[4], "--layers") == 0)
        layers = atoi(argv[5]);
    int base, more, emb, head;
    if (strcmp(ty, "f16") == 0) {
        base = more = emb = head = T_F16;
    } else if (strcmp(ty, "q8_0") == 0) {
        base = more = emb = head = T_Q8_0;
    } else if (strcmp(ty, "q4_k_m") == 0) {
        base = emb = T_Q4_K;
        more = head = T_Q6_K;
    } else {
        fprintf(stderr, "gen_model: unknown type %s\n", ty);
        return 2;
    }
    wh_error err = {0};
    wh_gguf_writer *w = NULL;
    wh_gguf_writer_new(&w, &err);
    char key[128], name[128];
    int V;
    if (strcmp(arch, "qwen2") == 0) {
        /* DeepSeek-R1-Distill-Qwen-1.5B */
        int L = layers > 0 ? layers : 28, H = 1536, I = 8960, nh = 12, kvh = 2, hd = 128;
        V = 151936;
        wh_gguf_set_str(w, "general.architecture", "qwen2");
        wh_gguf_set_str(w, "general.name", "bench-qwen2-1.5b-shape");
#define K(s) (snprintf(key, sizeof key, "qwen2.%s", s), key)
        wh_gguf_set_u32(w, K("block_count"), (uint32_t)L);
        wh_gguf_set_u32(w, K("context_length"), 131072);
        wh_gguf_set_u32(w, K("embedding_length"), (uint32_t)H);
        wh_gguf_set_u32(w, K("feed_forward_length"), (uint32_t)I);
        wh_gguf_set_u32(w, K("attention.head_count"), (uint32_t)nh);
        wh_gguf_set_u32(w, K("attention.head_count_kv"), (uint32_t)kvh);
        wh_gguf_set_f32(w, K("rope.freq_base"), 10000.0f);
        wh_gguf_set_f32(w, K("attention.layer_norm_rms_epsilon"), 1e-6f);
#undef K
        add("token_embd.weight", emb, 2, H, V, 1);
        add("output_norm.weight", T_F32, 1, H, 1, 1);
        add("output.weight", head, 2, H, V, 1);
        for (int i = 0; i < L; i++) {
#define N(s) (snprintf(name, sizeof name, "blk.%d.%s", i, s), name)
            add(N("attn_norm.weight"), T_F32, 1, H, 1, 1);
            add(N("attn_q.weight"), base, 2, H, nh * hd, 1);
            add(N("attn_q.bias"), T_F32, 1, nh * hd, 1, 1);
            add(N("attn_k.weight"), base, 2, H, kvh * hd, 1);
            add(N("attn_k.bias"), T_F32, 1, kvh * hd, 1, 1);
            add(N("attn_v.weight"), more_bits(i, L) ? more : base, 2, H, kvh * hd, 1);
            add(N("attn_v.bias"), T_F32, 1, kvh * hd, 1, 1);
            add(N("attn_output.weight"), base, 2, nh * hd, H, 1);
            add(N("ffn_norm.weight"), T_F32, 1, H, 1, 1);
            add(N("ffn_gate.weight"), base, 2, H, I, 1);
            add(N("ffn_up.weight"), base, 2, H, I, 1);
            add(N("ffn_down.weight"), more_bits(i, L) ? more : base, 2, I, H, 1);
#undef N
        }
    } else if (strcmp(arch, "deepseek2") == 0) {
        /* DeepSeek-V2-Lite shapes, fewer layers */
        int L = layers > 0 ? layers : 8, H = 2048, I = 10944, nh = 16, kvl = 512, nope = 128,
            rope = 64, vd = 128, E = 64, mI = 1408, nsh = 2;
        V = 102400;
        wh_gguf_set_str(w, "general.architecture", "deepseek2");
        wh_gguf_set_str(w, "general.name", "bench-deepseek-v2-lite-shape");
#define K(s) (snprintf(key, sizeof key, "deepseek2.%s", s), key)
        wh_gguf_set_u32(w, K("block_count"), (uint32_t)L);
        wh_gguf_set_u32(w, K("context_length"), 163840);
        wh_gguf_set_u32(w, K("embedding_length"), (uint32_t)H);
        wh_gguf_set_u32(w, K("feed_forward_length"), (uint32_t)I);
        wh_gguf_set_u32(w, K("attention.head_count"), (uint32_t)nh);
        wh_gguf_set_u32(w, K("attention.head_count_kv"), 1);
        wh_gguf_set_f32(w, K("rope.freq_base"), 10000.0f);
        wh_gguf_set_f32(w, K("attention.layer_norm_rms_epsilon"), 1e-6f);
        wh_gguf_set_u32(w, K("attention.q_lora_rank"), 0);
        wh_gguf_set_u32(w, K("attention.kv_lora_rank"), (uint32_t)kvl);
        wh_gguf_set_u32(w, K("attention.key_length"), (uint32_t)(kvl + rope));
        wh_gguf_set_u32(w, K("attention.value_length"), (uint32_t)kvl);
        wh_gguf_set_u32(w, K("attention.key_length_mla"), (uint32_t)(nope + rope));
        wh_gguf_set_u32(w, K("attention.value_length_mla"), (uint32_t)vd);
        wh_gguf_set_u32(w, K("rope.dimension_count"), (uint32_t)rope);
        wh_gguf_set_u32(w, K("leading_dense_block_count"), 1);
        wh_gguf_set_u32(w, K("expert_feed_forward_length"), (uint32_t)mI);
        wh_gguf_set_u32(w, K("expert_count"), (uint32_t)E);
        wh_gguf_set_u32(w, K("expert_shared_count"), (uint32_t)nsh);
        wh_gguf_set_u32(w, K("expert_used_count"), 6);
        wh_gguf_set_f32(w, K("expert_weights_scale"), 1.0f);
        wh_gguf_set_bool(w, K("expert_weights_norm"), 0);
        wh_gguf_set_u32(w, K("expert_gating_func"), 1);
#undef K
        add("token_embd.weight", emb, 2, H, V, 1);
        add("output_norm.weight", T_F32, 1, H, 1, 1);
        add("output.weight", head, 2, H, V, 1);
        for (int i = 0; i < L; i++) {
#define N(s) (snprintf(name, sizeof name, "blk.%d.%s", i, s), name)
            add(N("attn_norm.weight"), T_F32, 1, H, 1, 1);
            add(N("attn_q.weight"), base, 2, H, nh * (nope + rope), 1);
            add(N("attn_kv_a_mqa.weight"), base, 2, H, kvl + rope, 1);
            add(N("attn_kv_a_norm.weight"), T_F32, 1, kvl, 1, 1);
            add(N("attn_k_b.weight"), base, 3, nope, kvl, nh);
            add(N("attn_v_b.weight"), more_bits(i, L) ? more : base, 3, kvl, vd, nh);
            add(N("attn_output.weight"), base, 2, nh * vd, H, 1);
            add(N("ffn_norm.weight"), T_F32, 1, H, 1, 1);
            if (i == 0) {
                add(N("ffn_gate.weight"), base, 2, H, I, 1);
                add(N("ffn_up.weight"), base, 2, H, I, 1);
                add(N("ffn_down.weight"), more_bits(i, L) ? more : base, 2, I, H, 1);
            } else {
                add(N("ffn_gate_inp.weight"), T_F32, 2, H, E, 1);
                add(N("ffn_gate_exps.weight"), base, 3, H, mI, E);
                add(N("ffn_up_exps.weight"), base, 3, H, mI, E);
                add(N("ffn_down_exps.weight"), more_bits(i, L) ? more : base, 3, mI, H, E);
                add(N("ffn_gate_shexp.weight"), base, 2, H, mI * nsh, 1);
                add(N("ffn_up_shexp.weight"), base, 2, H, mI * nsh, 1);
                add(N("ffn_down_shexp.weight"), more_bits(i, L) ? more : base, 2, mI * nsh, H, 1);
            }
#undef N
        }
    } else {
        fprintf(stderr, "gen_model: unknown arch %s\n", arch);
        return 2;
    }
    /* gpt2-style byte-level vocabulary: the 256 byte symbols (so any text encodes),
     * then distinct placeholder tokens */
    char **toks = malloc(sizeof(char *) * (size_t)V);
    int32_t *types = malloc(sizeof(int32_t) * (size_t)V);
    int extra = 0;
    for (int i = 0; i < V; i++) {
        char b[16];
        if (i < 256) {
            int keep = (i >= '!' && i <= '~') || (i >= 0xA1 && i <= 0xAC) || i >= 0xAE;
            unsigned cp = keep ? (unsigned)i : 256u + (unsigned)extra++;
            if (cp < 0x80) {
                b[0] = (char)cp;
                b[1] = 0;
            } else {
                b[0] = (char)(0xC0 | (cp >> 6));
                b[1] = (char)(0x80 | (cp & 0x3F));
                b[2] = 0;
            }
        } else {
            snprintf(b, sizeof b, "t%d", i);
        }
        toks[i] = strdup(b);
        types[i] = 1;
    }
    const char *merges[] = {NULL}; /* placeholder tokens: no merges */
    wh_gguf_set_str(w, "tokenizer.ggml.model", "gpt2");
    wh_gguf_set_str(w, "tokenizer.ggml.pre", "default");
    wh_gguf_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)toks, (uint64_t)V);
    wh_gguf_set_arr_i32(w, "tokenizer.ggml.token_type", types, (uint64_t)V);
    wh_gguf_set_arr_str(w, "tokenizer.ggml.merges", merges, 0);
    wh_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", 0);
    wh_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", 1);
    for (int i = 0; i < g_n; i++) {
        if (wh_gguf_add_tensor(w, g_specs[i].name, (uint32_t)g_specs[i].type, g_specs[i].n_dims,
                               g_specs[i].ne, NULL, &err) != WH_OK) {
            fprintf(stderr, "gen_model: %s\n", err.msg);
            return 1;
        }
    }
    if (wh_gguf_writer_begin(w, out, &err) != WH_OK) {
        fprintf(stderr, "gen_model: %s\n", err.msg);
        return 1;
    }
    for (int i = 0; i < g_n; i++)
        if (write_data(w, &g_specs[i], &err) != WH_OK) {
            fprintf(stderr, "gen_model: %s\n", err.msg);
            return 1;
        }
    if (wh_gguf_writer_finish(w, &err) != WH_OK) {
        fprintf(stderr, "gen_model: %s\n", err.msg);
        return 1;
    }
    wh_gguf_writer_free(w);
    for (int i = 0; i < V; i++)
        free(toks[i]);
    free(toks);
    free(types);
    for (int i = 0; i < g_n; i++)
        free((void *)g_specs[i].name);
    return 0;
}
