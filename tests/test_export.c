/*
 * test_export.c — wh_model_export_gguf (`whale quantize`): every HF fixture and a GGUF
 * written back as GGUF with llama.cpp's names and metadata, then loaded again.
 *
 *   f32      the exported model's logits equal the PyTorch reference (exact numerics,
 *            1e-4 as in test_model.c), the router picks the same experts, the greedy
 *            continuation is the same, and the config (MTP depth included) survives.
 *   q8_0, q4_k_m  the next-token distribution stays within a KL bound of the reference
 *            at every prompt position (bounds and measurements at test_quant_kl).
 *   types    the per-tensor choices of the mixtures (llama.cpp's rules) and the keys
 *            llama.cpp needs (q_lora_rank always, the split MLA layout, nextn).
 *   copy     a tensor already in the target type is copied byte for byte.
 *   tokenizer  a real vocabulary (shared test data) round-trips: every id's piece and
 *            type, BOS/EOS/add_bos, the pre-tokenizer name, the chat template.
 *   failures unknown type, unwritable path, and every allocation failing in turn: a
 *            clear error and no file (final or temporary) left behind.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "formats/gguf.h"
#include "tokenizer/tok_internal.h"
#include "whale.h"
#include "whfx.h"

#define FX "tests/fixtures/"
#define TD "../shared/testdata/tokenizer/"

static char g_dir[] = "/tmp/whale-export-XXXXXX";

static void out_path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", g_dir, name);
}

static int file_exists(const char *p)
{
    return access(p, F_OK) == 0;
}

static wh_model *load_or_fail(const char *path)
{
    wh_model *m = NULL;
    wh_error err = {0};
    if (wh_model_load(path, &m, &err) != WH_OK)
        fail_msg("%s: %s", path, err.msg);
    return m;
}

static void export_or_fail(const char *src, const char *dst, const char *type)
{
    wh_model *m = load_or_fail(src);
    wh_error err = {0};
    wh_export_opts o = {.n_threads = 2};
    if (wh_model_export_gguf_ex(m, dst, type, &o, NULL, NULL, NULL, &err) != WH_OK)
        fail_msg("export %s -> %s (%s): %s", src, dst, type, err.msg);
    wh_model_free(m);
}

static float *prefill(wh_model *m, const whfx *x, int exact, wh_session **keep)
{
    wh_session_opts o = {.n_ctx = 64, .record_routing = 1, .exact = exact, .n_threads = 2};
    wh_session *s = NULL;
    wh_error err = {0};
    assert_int_equal(wh_session_new(m, &o, &s, &err), WH_OK);
    float *lg = malloc(sizeof(float) * x->T * x->V);
    assert_non_null(lg);
    if (wh_session_eval(s, x->tokens, (int)x->T, lg, 1, &err) != WH_OK)
        fail_msg("eval: %s", err.msg);
    if (keep != NULL)
        *keep = s;
    else
        wh_session_free(s);
    return lg;
}

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double mx = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= mx))
            mx = d;
    }
    return mx;
}

/* KL(p || q) of the softmaxes of two logit rows. */
static double kl_div(const float *p_logits, const float *q_logits, int n)
{
    double mp = p_logits[0], mq = q_logits[0];
    for (int i = 1; i < n; i++) {
        mp = p_logits[i] > mp ? p_logits[i] : mp;
        mq = q_logits[i] > mq ? q_logits[i] : mq;
    }
    double zp = 0, zq = 0;
    for (int i = 0; i < n; i++) {
        zp += exp(p_logits[i] - mp);
        zq += exp(q_logits[i] - mq);
    }
    double kl = 0;
    for (int i = 0; i < n; i++) {
        double lp = p_logits[i] - mp - log(zp), lq = q_logits[i] - mq - log(zq);
        kl += exp(lp) * (lp - lq);
    }
    return kl;
}

typedef struct ex_case {
    const char *src, *expected, *out;
} ex_case;

static const ex_case CASES[] = {
    {FX "dsv3", FX "dsv3/expected.whfx", "dsv3.gguf"},             /* V3, q-lora, MTP, YaRN */
    {FX "dsv3-fp8", FX "dsv3-fp8/expected.whfx", "dsv3-fp8.gguf"}, /* FP8 block-scaled */
    {FX "dsv2", FX "dsv2/expected.whfx", "dsv2.gguf"},             /* group-limited V2 */
    {FX "dsv2-lite", FX "dsv2-lite/expected.whfx", "dsv2-lite.gguf"},
    {FX "qwen2", FX "qwen2/expected.whfx", "qwen2.gguf"}, /* biases, tied embeddings */
    {FX "llama", FX "llama/expected.whfx", "llama.gguf"}, /* BF16, Q/K permuted, rope_freqs */
    {FX "dsv2-old.gguf", FX "dsv2/expected.whfx", "dsv2-old-re.gguf"}, /* GGUF kv_b -> split */
};
#define N_CASES (sizeof CASES / sizeof CASES[0])

static void test_f32_roundtrip(void **state)
{
    (void)state;
    for (size_t c = 0; c < N_CASES; c++) {
        char dst[512];
        out_path(dst, sizeof dst, CASES[c].out);
        export_or_fail(CASES[c].src, dst, "f32");
        whfx x;
        assert_true(whfx_load(CASES[c].expected, &x));
        wh_model *src = load_or_fail(CASES[c].src);
        wh_model *m = load_or_fail(dst);
        const wh_config *a = wh_model_config(src), *b = wh_model_config(m);
        assert_int_equal(b->vocab_size, (int)x.V);
        assert_int_equal(b->num_hidden_layers, a->num_hidden_layers);
        assert_int_equal(b->num_nextn_predict_layers, a->num_nextn_predict_layers);
        assert_int_equal(b->n_routed_experts, a->n_routed_experts);
        assert_int_equal(b->q_lora_rank, a->q_lora_rank);
        assert_int_equal(b->tie_word_embeddings, a->tie_word_embeddings);
        wh_session *s = NULL;
        float *lg = prefill(m, &x, 1, &s);
        double d = max_abs_diff(lg, x.logits, (size_t)x.T * x.V);
        printf("  %-16s -> f32: logits max|diff| %.3g (tol 1e-4)", CASES[c].src + strlen(FX), d);
        assert_true(d <= 1e-4);
        int checked = 0;
        for (uint32_t l = 0; l < x.n_moe; l++)
            for (uint32_t t = 0; t < x.T; t++) {
                const int32_t *got = wh_session_routing(s, (int)x.moe_layer[l], (int)t);
                assert_non_null(got);
                const int32_t *want = x.experts + ((size_t)l * x.T + t) * x.top_k;
                for (uint32_t k = 0; k < x.top_k; k++)
                    assert_int_equal(got[k], want[k]);
                checked++;
            }
        float *step = malloc(sizeof(float) * x.V);
        memcpy(step, lg + (size_t)(x.T - 1) * x.V, sizeof(float) * x.V);
        wh_error err = {0};
        for (uint32_t g = 0; g < x.G; g++) {
            int32_t next = wh_argmax(step, (int)x.V);
            assert_int_equal(next, x.gen[g]);
            assert_int_equal(wh_session_eval(s, &next, 1, step, 0, &err), WH_OK);
        }
        printf("  routing %d/%d  greedy %u equal\n", checked, checked, x.G);
        free(step);
        free(lg);
        wh_session_free(s);
        wh_model_free(m);
        wh_model_free(src);
        whfx_free(&x);
    }
}

/* Quantised exports against the reference, exact numerics (F32 activations), so the
 * measure is the weights' rounding alone (whale's plain round-to-nearest quantisers;
 * the fixtures' 64-wide rows send most K-quant tensors to the 32-block fallbacks).
 * The fixtures are tiny random models whose routers were built with near-ties (dsv3's
 * balancing bias flips choices on purpose), so a small weight change can swap an
 * expert, and one swapped expert moves a position's distribution far more than
 * rounding does. Hence two bounds, from the measured maxima with ~3x headroom:
 *   routing unchanged: max KL over positions  q8_0 <= 1e-2 (observed <= 3.7e-3),
 *                                             q4_k_m <= 0.3 (observed <= 0.11);
 *   an expert swapped:  mean KL over positions q8_0 <= 5e-2 (observed 1.5e-2),
 *                                              q4_k_m <= 0.5 (observed <= 0.17).
 * WHALE_EXPORT_KL_ALL=1 also measures f16, q6_k, q5_k_m, q3_k_m, q2_k (printed only). */
static void test_quant_kl(void **state)
{
    (void)state;
    static const struct {
        const char *type;
        double bound_max, bound_mean; /* 0: measured, not asserted */
    } types[] = {{"q8_0", 1e-2, 5e-2}, {"q4_k_m", 0.3, 0.5}, {"f16", 0, 0}, {"q6_k", 0, 0},
                 {"q5_k_m", 0, 0},     {"q3_k_m", 0, 0},     {"q2_k", 0, 0}};
    size_t n_types = getenv("WHALE_EXPORT_KL_ALL") != NULL ? sizeof types / sizeof types[0] : 2;
    for (size_t ti = 0; ti < n_types; ti++) {
        for (size_t c = 0; c + 1 < N_CASES; c++) {
            char dst[512], name[128];
            snprintf(name, sizeof name, "%s.%s", types[ti].type, CASES[c].out);
            out_path(dst, sizeof dst, name);
            export_or_fail(CASES[c].src, dst, types[ti].type);
            whfx x;
            assert_true(whfx_load(CASES[c].expected, &x));
            wh_model *m = load_or_fail(dst);
            wh_session *s = NULL;
            float *lg = prefill(m, &x, 1, &s);
            int flips = 0, sets = 0;
            for (uint32_t l = 0; l < x.n_moe; l++)
                for (uint32_t t = 0; t < x.T; t++, sets++) {
                    const int32_t *got = wh_session_routing(s, (int)x.moe_layer[l], (int)t);
                    const int32_t *want = x.experts + ((size_t)l * x.T + t) * x.top_k;
                    flips += memcmp(got, want, x.top_k * sizeof *got) != 0;
                }
            wh_session_free(s);
            double kl = 0, mean = 0;
            for (uint32_t t = 0; t < x.T; t++) {
                double k = kl_div(x.logits + (size_t)t * x.V, lg + (size_t)t * x.V, (int)x.V);
                kl = k > kl ? k : kl;
                mean += k / x.T;
            }
            printf("  %-10s %-7s KL max %.3g mean %.3g, routing changed %d/%d\n",
                   CASES[c].src + strlen(FX), types[ti].type, kl, mean, flips, sets);
            if (types[ti].bound_max > 0) {
                if (flips == 0)
                    assert_true(kl <= types[ti].bound_max);
                else
                    assert_true(mean <= types[ti].bound_mean);
            }
            free(lg);
            wh_model_free(m);
            whfx_free(&x);
            remove(dst);
        }
    }
}

/* ---- reading back what was written ---- */

static int tensor_type(const wh_gguf *g, const char *name)
{
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (strcmp(g->tensor_names[i], name) == 0)
            return (int)g->tensor_ggml_type[i];
    return -1;
}

static int64_t key_u32(const wh_gguf *g, const char *key)
{
    uint32_t v = 0;
    if (wh_gguf_find(g, key) < 0 || wh_gguf_get_u32(g, key, 1, &v, NULL) != WH_OK)
        return -1;
    return v;
}

enum {
    G_F32 = 0,
    G_F16 = 1,
    G_Q4_0 = 2,
    G_Q5_0 = 6,
    G_Q8_0 = 8,
    G_Q3_K = 11,
    G_Q4_K = 12,
    G_Q5_K = 13,
    G_Q6_K = 14
};

static void test_types_and_keys(void **state)
{
    (void)state;
    char dst[512];
    wh_gguf g;
    wh_error err = {0};
    /* dsv3-fp8: hidden 256, so the K-quants apply to the rows that are 256 wide */
    out_path(dst, sizeof dst, "fp8-q4km.gguf");
    export_or_fail(FX "dsv3-fp8", dst, "q4_k_m");
    assert_int_equal(wh_gguf_open(&g, dst, &err), WH_OK);
    assert_int_equal(tensor_type(&g, "token_embd.weight"), G_Q4_K);
    assert_int_equal(tensor_type(&g, "output.weight"), G_Q6_K);
    assert_int_equal(tensor_type(&g, "output_norm.weight"), G_F32);
    assert_int_equal(tensor_type(&g, "blk.0.attn_q_a.weight"), G_Q4_K);
    assert_int_equal(tensor_type(&g, "blk.0.attn_q_b.weight"), G_Q5_0); /* rows 192: Q4_K -> Q5_0 */
    assert_int_equal(tensor_type(&g, "blk.0.ffn_down.weight"), G_Q5_0); /* layer 0 of 3: base */
    assert_int_equal(tensor_type(&g, "blk.1.ffn_gate_inp.weight"), G_F32); /* router */
    assert_int_equal(tensor_type(&g, "blk.1.exp_probs_b.bias"), G_F32);
    assert_int_equal(tensor_type(&g, "blk.1.ffn_gate_exps.weight"), G_Q4_K);
    assert_int_equal(tensor_type(&g, "blk.2.ffn_down_exps.weight"),
                     G_Q8_0); /* more bits: Q6_K -> Q8_0 */
    assert_int_equal(tensor_type(&g, "blk.2.nextn.eh_proj.weight"), G_Q4_K);
    assert_int_equal(key_u32(&g, "deepseek2.block_count"), 3);
    assert_int_equal(key_u32(&g, "deepseek2.nextn_predict_layers"), 1);
    assert_int_equal(key_u32(&g, "deepseek2.attention.q_lora_rank"), 192);
    assert_int_equal(key_u32(&g, "deepseek2.attention.head_count_kv"), 1);
    assert_int_equal(key_u32(&g, "deepseek2.attention.key_length"), 160 + 16);
    assert_int_equal(key_u32(&g, "deepseek2.attention.value_length"), 160);
    assert_int_equal(key_u32(&g, "deepseek2.attention.key_length_mla"), 32 + 16);
    assert_int_equal(key_u32(&g, "deepseek2.attention.value_length_mla"), 32);
    assert_int_equal(key_u32(&g, "deepseek2.expert_gating_func"), 2);
    assert_int_equal(key_u32(&g, "general.file_type"), 15);
    assert_int_equal(tensor_type(&g, "blk.0.attn_kv_b.weight"), -1); /* split layout only */
    assert_true(tensor_type(&g, "blk.0.attn_k_b.weight") >= 0);
    wh_gguf_close(&g);

    /* dsv2 (no q-lora): q_lora_rank written as 0; 8 experts bump attn_output to Q5_K,
     * which the 64-wide rows turn into Q5_1 */
    out_path(dst, sizeof dst, "dsv2-q4km.gguf");
    export_or_fail(FX "dsv2", dst, "q4_k_m");
    assert_int_equal(wh_gguf_open(&g, dst, &err), WH_OK);
    assert_int_equal(key_u32(&g, "deepseek2.attention.q_lora_rank"), 0);
    assert_int_equal(key_u32(&g, "deepseek2.expert_group_count"), 4);
    assert_int_equal(key_u32(&g, "deepseek2.expert_group_used_count"), 2);
    assert_int_equal(tensor_type(&g, "blk.0.attn_output.weight"), 7 /* Q5_1 */);
    assert_int_equal(tensor_type(&g, "output.weight"), G_Q8_0); /* rows 64: not K blocks */
    wh_gguf_close(&g);

    /* qwen2: tied, so no output.weight and token_embd takes the output's rule */
    out_path(dst, sizeof dst, "qwen2-q6k.gguf");
    export_or_fail(FX "qwen2", dst, "q6_k");
    assert_int_equal(wh_gguf_open(&g, dst, &err), WH_OK);
    assert_int_equal(tensor_type(&g, "output.weight"), -1);
    assert_int_equal(tensor_type(&g, "token_embd.weight"), G_Q8_0);
    assert_int_equal(tensor_type(&g, "blk.0.attn_q.bias"), G_F32);
    assert_int_equal(key_u32(&g, "qwen2.attention.head_count_kv"), 2);
    wh_gguf_close(&g);

    /* llama: rope_freqs for the Llama-3 scaling; f16 keeps 1-D tensors F32 */
    out_path(dst, sizeof dst, "llama-f16.gguf");
    export_or_fail(FX "llama", dst, "F16");
    assert_int_equal(wh_gguf_open(&g, dst, &err), WH_OK);
    assert_int_equal(tensor_type(&g, "rope_freqs.weight"), G_F32);
    assert_int_equal(tensor_type(&g, "blk.1.attn_k.weight"), G_F16);
    assert_int_equal(tensor_type(&g, "blk.1.attn_norm.weight"), G_F32);
    assert_int_equal(key_u32(&g, "general.file_type"), 1);
    wh_gguf_close(&g);
}

/* A Q8_0 GGUF written as q8_0 copies its blocks byte for byte. The one change is
 * llama.cpp's rule for rows that are not whole blocks: attn_k_b rows are 16 wide, so
 * F32 becomes F16 there. */
static void test_same_type_is_copied(void **state)
{
    (void)state;
    char dst[512];
    out_path(dst, sizeof dst, "dsv2-q8-again.gguf");
    export_or_fail(FX "dsv2-q8_0.gguf", dst, "q8_0");
    wh_gguf a, b;
    wh_error err = {0};
    assert_int_equal(wh_gguf_open(&a, FX "dsv2-q8_0.gguf", &err), WH_OK);
    assert_int_equal(wh_gguf_open(&b, dst, &err), WH_OK);
    assert_int_equal(a.n_tensors, b.n_tensors);
    int copied = 0, changed = 0;
    for (uint64_t i = 0; i < a.n_tensors; i++) {
        const char *nm = a.tensor_names[i];
        uint64_t j = 0;
        while (j < b.n_tensors && strcmp(b.tensor_names[j], nm) != 0)
            j++;
        assert_true(j < b.n_tensors);
        if (a.tensor_ggml_type[i] != b.tensor_ggml_type[j]) {
            assert_non_null(strstr(nm, "attn_k_b"));
            assert_int_equal(b.tensor_ggml_type[j], G_F16);
            changed++;
            continue;
        }
        assert_int_equal(a.tensors[i].nbytes, b.tensors[j].nbytes);
        assert_memory_equal(a.tensors[i].data, b.tensors[j].data, a.tensors[i].nbytes);
        copied++;
    }
    printf("  dsv2-q8_0.gguf -> q8_0: %d tensors byte-identical, %d attn_k_b F32 -> F16\n", copied,
           changed);
    wh_gguf_close(&a);
    wh_gguf_close(&b);
}

/* ---- tokenizer ---- */

static void link_or_fail(const char *target, const char *dir, const char *name)
{
    char abs[4096], path[512];
    assert_non_null(realpath(target, abs));
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(symlink(abs, path), 0);
}

static void check_tokenizer(const char *tok_dir, const char *want_pre, const char *tag)
{
    char dir[512], tj[512], tc[512], dst[512];
    snprintf(dir, sizeof dir, "%s/%s-model", g_dir, tag);
    assert_int_equal(mkdir(dir, 0755), 0);
    link_or_fail(FX "qwen2/config.json", dir, "config.json");
    link_or_fail(FX "qwen2/model.safetensors", dir, "model.safetensors");
    snprintf(tj, sizeof tj, "%stokenizer.json", tok_dir);
    link_or_fail(tj, dir, "tokenizer.json");
    snprintf(tc, sizeof tc, "%stokenizer_config.json", tok_dir);
    if (file_exists(tc))
        link_or_fail(tc, dir, "tokenizer_config.json");
    snprintf(dst, sizeof dst, "%s/%s.gguf", g_dir, tag);
    export_or_fail(dir, dst, "f32");
    wh_model *a = load_or_fail(dir), *b = load_or_fail(dst);
    wh_error err = {0};
    const wh_tokenizer *ta = wh_model_tokenizer(a, &err), *tb = wh_model_tokenizer(b, &err);
    if (ta == NULL || tb == NULL)
        fail_msg("%s: %s", tag, err.msg);
    assert_string_equal(wh_tokenizer_pre_name(tb), want_pre);
    int32_t n = wh_tokenizer_n_vocab(ta);
    assert_true(wh_tokenizer_n_vocab(tb) >= n);
    int same = 0;
    for (int32_t id = 0; id < n; id++) {
        size_t la = 0, lb = 0;
        const char *pa = wh_tokenizer_piece(ta, id, &la), *pb = wh_tokenizer_piece(tb, id, &lb);
        int aa = wh_tokenizer_attr(ta, id), ab = wh_tokenizer_attr(tb, id);
        /* holes come back as UNUSED "[PAD<id>]" entries */
        same += aa == 0 ? ab == WH_TOKEN_UNUSED
                        : (aa == ab && la == lb && (la == 0 || memcmp(pa, pb, la) == 0));
    }
    assert_int_equal(same, n);
    /* a tokenizer without BOS/EOS gets config.json's ids, as llama.cpp's converter does */
    if (wh_tokenizer_bos(ta) >= 0)
        assert_int_equal(wh_tokenizer_bos(tb), wh_tokenizer_bos(ta));
    if (wh_tokenizer_eos(ta) >= 0)
        assert_int_equal(wh_tokenizer_eos(tb), wh_tokenizer_eos(ta));
    assert_int_equal(wh_tokenizer_adds_bos(tb), wh_tokenizer_adds_bos(ta));
    const char *ca = wh_model_chat_template(a), *cb = wh_model_chat_template(b);
    assert_true((ca == NULL) == (cb == NULL));
    if (ca != NULL)
        assert_string_equal(ca, cb);
    static const char *const texts[] = {
        "Hello world! 12345 apples, 3.14159 pies.\n\n  indented\ttab",
        "\xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c caf\xc3\xa9 cafe\xcc\x81 I'M don't",
        ("<think>\nreasoning</think>\n\nanswer <\xef\xbd\x9c"
         "end\xe2\x96\x81of\xe2\x96\x81"
         "sentence\xef\xbd\x9c>"),
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        int32_t *ia = NULL, *ib = NULL;
        size_t na = 0, nb = 0;
        unsigned fl = WH_TOK_PARSE_SPECIAL;
        assert_int_equal(wh_tokenizer_encode(ta, texts[i], strlen(texts[i]), fl, &ia, &na, &err),
                         WH_OK);
        assert_int_equal(wh_tokenizer_encode(tb, texts[i], strlen(texts[i]), fl, &ib, &nb, &err),
                         WH_OK);
        assert_int_equal(na, nb);
        assert_memory_equal(ia, ib, na * sizeof *ia);
        wh_free(ia);
        wh_free(ib);
    }
    printf("  %s: %d ids, pre \"%s\", chat template %s: round-trip equal\n", tag, (int)n, want_pre,
           ca ? "kept" : "none");
    wh_model_free(a);
    wh_model_free(b);
}

static void test_tokenizer_roundtrip(void **state)
{
    (void)state;
    char probe[512];
    snprintf(probe, sizeof probe, "%sqwen/tokenizer.json", TD);
    if (!file_exists(probe)) {
        printf("skipped: %s not found\n", TD);
        skip();
    }
    check_tokenizer(TD "qwen/", "qwen2", "tok-qwen");
    check_tokenizer(TD "deepseek-v3/", "deepseek-v3", "tok-dsv3");
    check_tokenizer(TD "deepseek-r1-distill-qwen/", "qwen2", "tok-r1-qwen");
}

/* A tokenizer.json's pre-tokenizer is named by behaviour: give a real vocabulary each
 * preset in turn, disguised as a tokenizer.json Split sequence, and the export must name
 * that preset (so the probe texts tell every pair apart). */
static void test_pre_name_by_behaviour(void **state)
{
    (void)state;
    wh_tokenizer *t = NULL;
    wh_error err = {0};
    if (wh_tokenizer_load(TD "deepseek-v3/tokenizer.json", &t, &err) != WH_OK) {
        printf("skipped: %s\n", err.msg);
        skip();
    }
    static const char *const names[] = {"deepseek-v3",  "qwen2",          "llama-bpe",
                                        "deepseek-llm", "deepseek-coder", "gpt2"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        tok_pretok p = {0};
        assert_int_equal(tok_pretok_preset(&p, names[i], strlen(names[i]), &err), WH_OK);
        wh_tokenizer u = *t;
        u.pre = p;
        u.pre.name = "tokenizer.json";
        u.ignore_merges = strcmp(names[i], "llama-bpe") == 0; /* llama.cpp pairs the two */
        const char *got = tok_export_pre_name(&u);
        assert_non_null(got);
        assert_string_equal(got, names[i]);
        tok_pretok_free(&p);
    }
    printf("  6 presets, each named back from its behaviour\n");
    wh_tokenizer_free(t);
}

/* ---- failures ---- */

static void test_failures(void **state)
{
    (void)state;
    wh_model *m = load_or_fail(FX "qwen2");
    wh_error err = {0};
    char dst[512], tmp[600];
    out_path(dst, sizeof dst, "fail.gguf");
    snprintf(tmp, sizeof tmp, "%s.tmp", dst);
    assert_int_equal(wh_model_export_gguf(m, dst, "q4_k_s", NULL, NULL, &err), WH_E_INVALID);
    assert_non_null(strstr(err.msg, "q4_k_m"));
    assert_int_equal(wh_model_export_gguf(m, "/nonexistent-dir/x.gguf", "f16", NULL, NULL, &err),
                     WH_E_IO);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/x.gguf"));
    /* every allocation failing in turn: an error, never a crash or a stray file */
    int failures = 0;
    for (long k = 1; k < 100000; k++) {
        wh_alloc_fail_at(k);
        int rc = wh_model_export_gguf(m, dst, "q8_0", NULL, NULL, &err);
        wh_alloc_fail_at(0);
        assert_false(file_exists(tmp));
        if (rc == WH_OK)
            break;
        if (rc != WH_E_NOMEM)
            fail_msg("allocation %ld failing gave %d: %s", k, rc, err.msg);
        assert_false(file_exists(dst));
        failures++;
    }
    assert_true(file_exists(dst));
    printf("  %d allocation failures: each a clean WH_E_NOMEM\n", failures);
    wh_model_free(m);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(g_dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f32_roundtrip),
        cmocka_unit_test(test_quant_kl),
        cmocka_unit_test(test_types_and_keys),
        cmocka_unit_test(test_same_type_is_copied),
        cmocka_unit_test(test_tokenizer_roundtrip),
        cmocka_unit_test(test_pre_name_by_behaviour),
        cmocka_unit_test(test_failures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
