/*
 * test_model.c — whale's logits against the independent PyTorch reference
 * (tools/reference, fixtures in tests/fixtures), for every architecture and file
 * format; cache decode against one prefill; absorbed MLA against naive MLA; the
 * router's expert choices, including choices the balancing bias changes.
 *
 * Tolerances. The reference computes in FP32 from exactly the values the files
 * store (BF16 upcast, F16, FP8 x block scale, Q8_0 x f16 scale), so every format
 * is held to the FP32 bound: 1e-4 max abs on logits of magnitude ~10 (the
 * observed gap is ~7e-6, from summation order). Decode vs prefill and absorbed vs
 * naive: 1e-5.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "whale.h"
#include "whfx.h"

#define FX "tests/fixtures/"

typedef struct fx_case {
    const char *model;
    const char *expected;
} fx_case;

static const fx_case CASES[] = {
    {FX "dsv3", FX "dsv3/expected.whfx"},          /* V3 safetensors F32, 2 shards, MTP */
    {FX "dsv3.gguf", FX "dsv3/expected.whfx"},     /* V3 GGUF, split k_b/v_b */
    {FX "dsv3-fp8", FX "dsv3-fp8/expected.whfx"},  /* official FP8 128x128 block layout */
    {FX "dsv2", FX "dsv2/expected.whfx"},          /* V2 safetensors, no q-lora */
    {FX "dsv2-old.gguf", FX "dsv2/expected.whfx"}, /* pre-April-2025 attn_kv_b */
    {FX "dsv2-new.gguf", FX "dsv2/expected.whfx"}, /* split attn_k_b / attn_v_b */
    {FX "dsv2-q8_0.gguf", FX "dsv2-q8_0.expected.whfx"},
    {FX "dsv2-lite", FX "dsv2-lite/expected.whfx"}, /* greedy softmax routing */
    {FX "dsv2-lite.gguf", FX "dsv2-lite/expected.whfx"},
    {FX "qwen2", FX "qwen2/expected.whfx"}, /* biases, tied embeddings */
    {FX "qwen2.gguf", FX "qwen2/expected.whfx"},
    {FX "qwen2-f16.gguf", FX "qwen2-f16.expected.whfx"},
    {FX "llama", FX "llama/expected.whfx"},      /* BF16, llama3 rope scaling */
    {FX "llama.gguf", FX "llama/expected.whfx"}, /* permuted Q/K + rope_freqs */
};
#define N_CASES (sizeof CASES / sizeof CASES[0])

static wh_model *load_or_fail(const char *path)
{
    wh_model *m = NULL;
    wh_error err = {0};
    int rc = wh_model_load(path, &m, &err);
    if (rc != WH_OK)
        fail_msg("%s: %s", path, err.msg);
    return m;
}

/* All prompt logits in one prefill. */
static float *prefill(wh_model *m, const whfx *x, wh_mla_mode mla, wh_session **keep)
{
    wh_session_opts o = {.n_ctx = 64, .mla = mla, .record_routing = 1, .exact = 1};
    wh_session *s = NULL;
    wh_error err = {0};
    assert_int_equal(wh_session_new(m, &o, &s, &err), WH_OK);
    float *lg = malloc(sizeof(float) * x->T * x->V);
    assert_non_null(lg);
    if (wh_session_eval(s, x->tokens, (int)x->T, lg, 1, &err) != WH_OK)
        fail_msg("eval: %s", err.msg);
    if (keep)
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
            mx = d; /* NaN propagates as a failure */
    }
    return mx;
}

static void test_logits_vs_reference(void **state)
{
    (void)state;
    for (size_t c = 0; c < N_CASES; c++) {
        whfx x;
        assert_true(whfx_load(CASES[c].expected, &x));
        wh_model *m = load_or_fail(CASES[c].model);
        assert_int_equal(wh_model_config(m)->vocab_size, (int)x.V);
        wh_session *s = NULL;
        float *lg = prefill(m, &x, WH_MLA_ABSORBED, &s);
        double d = max_abs_diff(lg, x.logits, (size_t)x.T * x.V);
        printf("  %-22s logits max|diff| %.3g (tol 1e-4)", CASES[c].model + strlen(FX), d);
        assert_true(d <= 1e-4);

        /* router: every MoE layer, every prompt token, same experts */
        int checked = 0;
        for (uint32_t l = 0; l < x.n_moe; l++) {
            for (uint32_t t = 0; t < x.T; t++) {
                const int32_t *got = wh_session_routing(s, (int)x.moe_layer[l], (int)t);
                assert_non_null(got);
                const int32_t *want = x.experts + ((size_t)l * x.T + t) * x.top_k;
                for (uint32_t k = 0; k < x.top_k; k++)
                    assert_int_equal(got[k], want[k]);
                checked++;
            }
        }
        printf("  routing %d/%d", checked, checked);

        /* greedy continuation through the cache */
        float *step = malloc(sizeof(float) * x.V);
        memcpy(step, lg + (size_t)(x.T - 1) * x.V, sizeof(float) * x.V);
        wh_error err = {0};
        for (uint32_t g = 0; g < x.G; g++) {
            int32_t next = wh_argmax(step, (int)x.V);
            assert_int_equal(next, x.gen[g]);
            assert_int_equal(wh_session_eval(s, &next, 1, step, 0, &err), WH_OK);
        }
        printf("  greedy %u tokens equal\n", x.G);
        free(step);
        free(lg);
        wh_session_free(s);
        wh_model_free(m);
        whfx_free(&x);
    }
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

/* The fast kernels (8-bit activations for block-quantised weights, SIMD dots) against
 * the reference. Float weights stay within the FP32 bound; block-quantised weights
 * are held to a KL bound on every position's next-token distribution: 5e-3 (observed 2.3e-3 for
 * Q8_0). The fixtures' rows are only 32-128 values wide, two to four 8-bit blocks, which is where
 * activation rounding weighs most; wide rows of real models average it out. */
static void test_fast_kernels_vs_reference(void **state)
{
    (void)state;
    for (size_t c = 0; c < N_CASES; c++) {
        whfx x;
        assert_true(whfx_load(CASES[c].expected, &x));
        wh_model *m = load_or_fail(CASES[c].model);
        wh_session_opts o = {.n_ctx = 64, .n_threads = 2};
        wh_session *s = NULL;
        wh_error err = {0};
        assert_int_equal(wh_session_new(m, &o, &s, &err), WH_OK);
        float *lg = malloc(sizeof(float) * x.T * x.V);
        assert_int_equal(wh_session_eval(s, x.tokens, (int)x.T, lg, 1, &err), WH_OK);
        double d = max_abs_diff(lg, x.logits, (size_t)x.T * x.V), kl = 0;
        for (uint32_t t = 0; t < x.T; t++) {
            double k = kl_div(x.logits + (size_t)t * x.V, lg + (size_t)t * x.V, (int)x.V);
            kl = k > kl ? k : kl;
        }
        int quantised = strstr(CASES[c].model, "q8_0") != NULL;
        printf("  %-22s fast: max|diff| %.3g, max KL %.3g (tol %s)\n", CASES[c].model + strlen(FX),
               d, kl, quantised ? "KL 5e-3" : "1e-4");
        if (quantised)
            assert_true(kl <= 5e-3);
        else
            assert_true(d <= 1e-4);
        /* greedy continuation: with float weights it must be the reference's; 8-bit
         * activations may flip the fixtures' narrow margins (scalar vs SIMD greedy
         * equality for them is tests/cli/simd.sh) */
        float *step = malloc(sizeof(float) * x.V);
        memcpy(step, lg + (size_t)(x.T - 1) * x.V, sizeof(float) * x.V);
        for (uint32_t g = 0; g < x.G && !quantised; g++) {
            int32_t next = wh_argmax(step, (int)x.V);
            assert_int_equal(next, x.gen[g]);
            assert_int_equal(wh_session_eval(s, &next, 1, step, 0, &err), WH_OK);
        }
        free(step);
        free(lg);
        wh_session_free(s);
        wh_model_free(m);
        whfx_free(&x);
    }
}

/* The bias-changed case is really exercised: the V3 fixtures hold such choices. */
static void test_router_bias_changes_choice(void **state)
{
    (void)state;
    const char *files[] = {FX "dsv3/expected.whfx", FX "dsv3-fp8/expected.whfx"};
    for (int i = 0; i < 2; i++) {
        whfx x;
        assert_true(whfx_load(files[i], &x));
        printf("  %s: %u (token, layer) choices changed by e_score_correction_bias\n", files[i],
               x.n_bias_changed);
        assert_true(x.n_bias_changed >= 3);
        assert_true(x.n_moe > 0);
        whfx_free(&x);
    }
}

static void test_decode_equals_prefill(void **state)
{
    (void)state;
    for (size_t c = 0; c < N_CASES; c++) {
        whfx x;
        assert_true(whfx_load(CASES[c].expected, &x));
        wh_model *m = load_or_fail(CASES[c].model);
        for (int mode = 0; mode < 2; mode++) {
            float *all = prefill(m, &x, (wh_mla_mode)mode, NULL);
            wh_session_opts o = {.n_ctx = 64, .mla = (wh_mla_mode)mode, .n_threads = 1, .exact = 1};
            wh_session *s = NULL;
            wh_error err = {0};
            assert_int_equal(wh_session_new(m, &o, &s, &err), WH_OK);
            float *one = malloc(sizeof(float) * x.V);
            double mx = 0;
            for (uint32_t t = 0; t < x.T; t++) {
                assert_int_equal(wh_session_eval(s, &x.tokens[t], 1, one, 0, &err), WH_OK);
                double d = max_abs_diff(one, all + (size_t)t * x.V, x.V);
                mx = d > mx ? d : mx;
            }
            assert_int_equal(wh_session_pos(s), (int)x.T);
            if (mode == 0 || wh_model_dims(m)->is_mla)
                printf("  %-22s %-8s decode vs prefill max|diff| %.3g (tol 1e-5)\n",
                       CASES[c].model + strlen(FX), mode ? "naive" : "absorbed", mx);
            assert_true(mx <= 1e-5);
            free(one);
            free(all);
            wh_session_free(s);
        }
        wh_model_free(m);
        whfx_free(&x);
    }
}

static void test_absorbed_equals_naive(void **state)
{
    (void)state;
    for (size_t c = 0; c < N_CASES; c++) {
        whfx x;
        assert_true(whfx_load(CASES[c].expected, &x));
        wh_model *m = load_or_fail(CASES[c].model);
        if (!wh_model_dims(m)->is_mla) {
            wh_model_free(m);
            whfx_free(&x);
            continue;
        }
        float *a = prefill(m, &x, WH_MLA_ABSORBED, NULL);
        float *n = prefill(m, &x, WH_MLA_NAIVE, NULL);
        double d = max_abs_diff(a, n, (size_t)x.T * x.V);
        printf("  %-22s absorbed vs naive max|diff| %.3g (tol 1e-5)\n", CASES[c].model + strlen(FX),
               d);
        assert_true(d <= 1e-5);
        free(a);
        free(n);
        wh_model_free(m);
        whfx_free(&x);
    }
}

/* Continuous batching: three sequences decoded together give each sequence's own
 * logits (same kernels, one batched pass). */
static void test_batched_decode_equals_single(void **state)
{
    (void)state;
    const char *models[] = {FX "dsv3.gguf", FX "qwen2", FX "dsv2-q8_0.gguf"};
    const char *exps[] = {FX "dsv3/expected.whfx", FX "qwen2/expected.whfx",
                          FX "dsv2-q8_0.expected.whfx"};
    for (int mi = 0; mi < 3; mi++) {
        whfx x;
        assert_true(whfx_load(exps[mi], &x));
        wh_model *m = load_or_fail(models[mi]);
        wh_error err = {0};
        wh_session_opts ob = {.n_ctx = 64, .n_seq = 3, .n_threads = 2};
        wh_session *sb = NULL;
        assert_int_equal(wh_session_new(m, &ob, &sb, &err), WH_OK);
        wh_session *one[3];
        int plen[3] = {3, 7, 12};
        int32_t next[3];
        float *lb = malloc(sizeof(float) * 3 * x.V), *l1 = malloc(sizeof(float) * x.V);
        for (int q = 0; q < 3; q++) {
            wh_session_opts o1 = {.n_ctx = 64, .n_threads = 2};
            assert_int_equal(wh_session_new(m, &o1, &one[q], &err), WH_OK);
            assert_int_equal(wh_session_eval_seq(sb, q, x.tokens, plen[q], lb, 0, &err), WH_OK);
            assert_int_equal(wh_session_eval(one[q], x.tokens, plen[q], l1, 0, &err), WH_OK);
            next[q] = wh_argmax(l1, (int)x.V);
        }
        double mx = 0;
        int seqs[3] = {2, 0, 1}; /* any order */
        for (int step = 0; step < 6; step++) {
            int32_t toks[3] = {next[2], next[0], next[1]};
            assert_int_equal(wh_session_decode_batch(sb, seqs, toks, 3, lb, &err), WH_OK);
            for (int r = 0; r < 3; r++) {
                int q = seqs[r];
                assert_int_equal(wh_session_eval(one[q], &toks[r], 1, l1, 0, &err), WH_OK);
                double d = max_abs_diff(lb + (size_t)r * x.V, l1, x.V);
                mx = d > mx ? d : mx;
                next[q] = wh_argmax(l1, (int)x.V);
            }
        }
        for (int q = 0; q < 3; q++) {
            assert_int_equal(wh_session_seq_pos(sb, q), plen[q] + 6);
            wh_session_free(one[q]);
        }
        printf("  %-22s batched decode vs single max|diff| %.3g (tol 1e-6)\n",
               models[mi] + strlen(FX), mx);
        assert_true(mx <= 1e-6);
        free(lb);
        free(l1);
        wh_session_free(sb);
        wh_model_free(m);
        whfx_free(&x);
    }
}

/* K-quant fast kernels (8-bit Q8_K activations) against exact numerics on the same
 * file: dsv3-fp8 exported to Q4_K_M and Q6_K (its 256-wide rows are real K-quant
 * rows). A wrong activation quantiser once passed every other test (mean KL 0.4-4.9);
 * this one fails. The bound is on the mean over positions: the fixture's router has
 * deliberate near-ties, so 8-bit activation rounding may swap an expert at a position,
 * which moves that one distribution far more than rounding itself does. */
static void test_kquant_fast_vs_exact(void **state)
{
    (void)state;
    const char *types[] = {"q4_k_m", "q6_k", "q5_k_m"};
    whfx x;
    assert_true(whfx_load(FX "dsv3-fp8/expected.whfx", &x));
    wh_model *src = load_or_fail(FX "dsv3-fp8");
    for (int ti = 0; ti < 3; ti++) {
        char path[128];
        snprintf(path, sizeof path, "/tmp/whale-test-kq-%d-%s.gguf", (int)getpid(), types[ti]);
        wh_error err = {0};
        assert_int_equal(wh_model_export_gguf(src, path, types[ti], NULL, NULL, &err), WH_OK);
        wh_model *m = load_or_fail(path);
        float *lg[2];
        for (int exact = 0; exact < 2; exact++) {
            wh_session_opts o = {.n_ctx = 64, .n_threads = 2, .exact = exact};
            wh_session *s = NULL;
            assert_int_equal(wh_session_new(m, &o, &s, &err), WH_OK);
            lg[exact] = malloc(sizeof(float) * x.T * x.V);
            assert_int_equal(wh_session_eval(s, x.tokens, (int)x.T, lg[exact], 1, &err), WH_OK);
            wh_session_free(s);
        }
        double kl = 0, mean = 0;
        for (uint32_t t = 0; t < x.T; t++) {
            double k = kl_div(lg[1] + (size_t)t * x.V, lg[0] + (size_t)t * x.V, (int)x.V);
            kl = k > kl ? k : kl;
            mean += k / x.T;
        }
        printf("  dsv3-fp8 as %-7s fast vs exact: mean KL %.3g (tol 0.1), max %.3g\n", types[ti],
               mean, kl);
        assert_true(mean <= 0.1);
        free(lg[0]);
        free(lg[1]);
        wh_model_free(m);
        remove(path);
    }
    wh_model_free(src);
    whfx_free(&x);
}

static void test_kv_bytes_per_token(void **state)
{
    (void)state;
    wh_model *m = load_or_fail(FX "dsv3-fp8");
    const wh_config *c = wh_model_config(m);
    int64_t want = (int64_t)(c->kv_lora_rank + c->qk_rope_head_dim) * c->num_hidden_layers * 4;
    assert_int_equal(wh_model_kv_bytes_per_token(m, 1), want);
    assert_int_equal(want, (160 + 16) * 2 * 4);
    wh_model_free(m);
    m = load_or_fail(FX "qwen2.gguf");
    c = wh_model_config(m);
    assert_int_equal(wh_model_kv_bytes_per_token(m, 1),
                     2 * c->num_key_value_heads * c->head_dim * c->num_hidden_layers * 4);
    wh_model_free(m);
}

/* MTP weights of the V3 checkpoints are bound and shape-checked. */
static void test_mtp_loaded(void **state)
{
    (void)state;
    wh_model *m = load_or_fail(FX "dsv3");
    assert_int_equal(wh_model_config(m)->num_nextn_predict_layers, 1);
    assert_true(wh_model_dims(m)->n_params_mtp > 0);
    wh_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logits_vs_reference),
        cmocka_unit_test(test_router_bias_changes_choice),
        cmocka_unit_test(test_fast_kernels_vs_reference),
        cmocka_unit_test(test_decode_equals_prefill),
        cmocka_unit_test(test_absorbed_equals_naive),
        cmocka_unit_test(test_batched_decode_equals_single),
        cmocka_unit_test(test_kquant_fast_vs_exact),
        cmocka_unit_test(test_kv_bytes_per_token),
        cmocka_unit_test(test_mtp_loaded),
    };
    return cmocka_run_group_tests_name("model", tests, NULL, NULL);
}
