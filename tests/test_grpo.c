/*
 * test_grpo.c — GRPO (src/train/grpo.c) against the PyTorch reference
 * (tools/reference/grpo_ref.py -> tests/fixtures/train/grpo.bin): on a fixed batch of two
 * groups (given sequences, rewards, old and reference log-probs) the advantages, ratios,
 * k3 terms, the loss and every parameter gradient, for token-level aggregation with
 * clip-higher and for sequence-level aggregation. Then the identity: with old = current
 * log-probs (one update per rollout) every ratio is exactly 1, nothing is clipped, and
 * the gradient equals that of the weighted cross-entropy with weights c (A - beta (1 -
 * exp(ref - lp))), i.e. -A grad log pi plus the KL term. Plus the branches of one token,
 * the advantage formula, the aggregation weights, and SFT's rendering and mask.
 *
 * Tolerances (float32 against float64): loss 1e-5 absolute; advantages, ratios and k3
 * 1e-5; each gradient tensor 1e-4 of its largest reference magnitude.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "train/grpo.h"
#include "train/sft.h"
#include "train/train_config.h"
#include "trcfg.h"

#define FIXTURE "tests/fixtures/train/grpo.bin"

typedef struct fx_case {
    float hp[8], *adv, *ratio, *kl, loss, pg, *grads;
} fx_case;

typedef struct fx {
    int32_t hdr[16], ch[32];
    float fh[16];
    int n, G, T, B, nt, np, nc;
    int32_t *tokens, *targets, *counts;
    float *reward, *old, *ref, *bias, *params;
    fx_case cases[4];
} fx;

static void rd(FILE *f, void *p, size_t size, size_t n)
{
    if (fread(p, size, n, f) != n)
        fail_msg("%s: truncated", FIXTURE);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    assert_non_null(p);
    return p;
}

static void fx_load(fx *x)
{
    FILE *f = fopen(FIXTURE, "rb");
    if (f == NULL)
        fail_msg("%s: missing (make fixtures)", FIXTURE);
    rd(f, x->hdr, 4, 16);
    assert_int_equal(x->hdr[0], 0x52474857);
    assert_int_equal(x->hdr[1], 1);
    x->n = x->hdr[2], x->G = x->hdr[3], x->T = x->hdr[4], x->B = x->hdr[5];
    x->nt = x->hdr[6], x->np = x->hdr[7], x->nc = x->hdr[8];
    assert_true(x->nc >= 1 && x->nc <= 4);
    rd(f, x->ch, 4, 32);
    rd(f, x->fh, 4, 16);
    size_t nT = (size_t)x->n * x->T;
    int nbias = (x->ch[4] + x->ch[20]) * x->ch[12];
    x->tokens = xmalloc(nT * 4), x->targets = xmalloc(nT * 4);
    x->reward = xmalloc((size_t)x->n * 4), x->old = xmalloc(nT * 4), x->ref = xmalloc(nT * 4);
    x->counts = xmalloc((size_t)x->nt * 4), x->bias = xmalloc((size_t)nbias * 4);
    x->params = xmalloc((size_t)x->np * 4);
    rd(f, x->tokens, 4, nT), rd(f, x->targets, 4, nT);
    rd(f, x->reward, 4, (size_t)x->n), rd(f, x->old, 4, nT), rd(f, x->ref, 4, nT);
    rd(f, x->counts, 4, (size_t)x->nt), rd(f, x->bias, 4, (size_t)nbias);
    rd(f, x->params, 4, (size_t)x->np);
    for (int c = 0; c < x->nc; c++) {
        fx_case *k = &x->cases[c];
        k->adv = xmalloc((size_t)x->n * 4), k->ratio = xmalloc(nT * 4), k->kl = xmalloc(nT * 4);
        k->grads = xmalloc((size_t)x->np * 4);
        rd(f, k->hp, 4, 8), rd(f, k->adv, 4, (size_t)x->n), rd(f, k->ratio, 4, nT);
        rd(f, k->kl, 4, nT), rd(f, &k->loss, 4, 1), rd(f, &k->pg, 4, 1);
        rd(f, k->grads, 4, (size_t)x->np);
    }
    fclose(f);
}

static void fx_free(fx *x)
{
    free(x->tokens), free(x->targets), free(x->reward), free(x->old), free(x->ref);
    free(x->counts), free(x->bias), free(x->params);
    for (int c = 0; c < x->nc; c++)
        free(x->cases[c].adv), free(x->cases[c].ratio), free(x->cases[c].kl),
            free(x->cases[c].grads);
}

static wh_tr_config fx_config(const fx *x)
{
    return trcfg_decode(x->ch + 2, x->fh);
}

/* A trainer holding the fixture's parameters, and the batch. */
static void setup(const fx *x, wh_trainer *t, wh_grpo_batch *b)
{
    wh_tr_config c = fx_config(x);
    wh_tr_hparams hp = wh_tr_hparams_defaults();
    wh_error err = {0};
    if (wh_trainer_init(t, &c, x->B, x->T, &hp, &err) != WH_OK)
        fail_msg("%s", err.msg);
    assert_int_equal((int)t->model.n_params, x->np);
    assert_int_equal(t->model.n_tensors, x->nt);
    for (int i = 0; i < x->nt; i++)
        assert_int_equal((int)t->model.tensors[i].count, x->counts[i]);
    memcpy(t->model.params, x->params, (size_t)x->np * 4);
    memcpy(t->model.route_bias, x->bias, (size_t)t->model.n_blocks * c.E * 4);
    t->model.main_only = 1;
    if (wh_grpo_batch_init(b, x->n, x->T, x->G, x->B, &err) != WH_OK)
        fail_msg("%s", err.msg);
    b->n = x->n;
    size_t nT = (size_t)x->n * x->T;
    memcpy(b->tokens, x->tokens, nT * 4);
    memcpy(b->targets, x->targets, nT * 4);
    memcpy(b->old_lp, x->old, nT * 4);
    memcpy(b->ref_lp, x->ref, nT * 4);
    memcpy(b->reward, x->reward, (size_t)x->n * 4);
}

static wh_grpo_hp case_hp(const fx_case *k)
{
    wh_grpo_hp hp = {k->hp[0], k->hp[1], k->hp[2], k->hp[3], (int)k->hp[4]};
    return hp;
}

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

/* Worst per-tensor relative gradient error (max |c - ref| / max |ref|). */
static double grad_error(const wh_tr_model *m, const float *g, const float *ref, const char **worst)
{
    double w = 0.0;
    *worst = "";
    for (int i = 0; i < m->n_tensors; i++) {
        const wh_tr_tensor *t = &m->tensors[i];
        double md = 0.0, mr = 0.0;
        for (size_t j = 0; j < t->count; j++) {
            md = fmax(md, fabs((double)g[t->offset + j] - ref[t->offset + j]));
            mr = fmax(mr, fabs((double)ref[t->offset + j]));
        }
        double e = mr > 0.0 ? md / mr : md * 1e12;
        if (e > w) {
            w = e;
            *worst = t->name;
        }
    }
    return w;
}

static void test_parity(void **st)
{
    (void)st;
    fx x;
    fx_load(&x);
    for (int c = 0; c < x.nc; c++) {
        const fx_case *k = &x.cases[c];
        wh_trainer t;
        wh_grpo_batch b;
        setup(&x, &t, &b);
        wh_grpo_hp hp = case_hp(k);
        int flat = wh_grpo_advantages(b.reward, b.n / b.G, b.G, hp.adv_eps, b.adv);
        assert_int_equal(flat, 0);
        wh_grpo_coefs(&b, hp.aggregation);
        wh_trainer_begin(&t);
        wh_grpo_pass ps;
        wh_grpo_loss_grad(&t, &b, &hp, &ps);
        size_t nT = (size_t)b.n * b.T;
        double da = max_abs_diff(b.adv, k->adv, (size_t)b.n);
        double dr = max_abs_diff(b.ratio, k->ratio, nT), dk = max_abs_diff(b.kl, k->kl, nT);
        const char *worst;
        double ge = grad_error(&t.model, t.gsum, k->grads, &worst);
        printf("  %s aggregation, eps %.2f/%.2f, beta %.2f: loss %.7f (ref %.7f, diff %.1e), "
               "pg diff %.1e, adv %.1e, ratio %.1e, k3 %.1e, clipped %.0f%%, gradients %.1e "
               "(worst %s)\n",
               hp.aggregation ? "sequence" : "token", hp.clip_eps, hp.clip_eps_high, hp.kl_beta,
               ps.loss, k->loss, fabs(ps.loss - k->loss), fabs(ps.pg - k->pg), da, dr, dk,
               100 * ps.clip_frac, ge, worst);
        assert_true(fabs(ps.loss - k->loss) <= 1e-5);
        assert_true(fabs(ps.pg - k->pg) <= 1e-5);
        assert_true(da <= 1e-5 && dr <= 1e-5 && dk <= 1e-5);
        assert_true(ps.clip_frac > 0.0); /* the fixture exercises both clipped branches */
        assert_true(ge <= 1e-4);
        wh_grpo_batch_free(&b);
        wh_trainer_free(&t);
    }
    fx_free(&x);
}

static void test_identity(void **st)
{
    (void)st;
    fx x;
    fx_load(&x);
    for (int c = 0; c < x.nc; c++) {
        wh_trainer t;
        wh_grpo_batch b;
        setup(&x, &t, &b);
        wh_grpo_hp hp = case_hp(&x.cases[c]);
        wh_grpo_advantages(b.reward, b.n / b.G, b.G, hp.adv_eps, b.adv);
        wh_grpo_coefs(&b, hp.aggregation);
        wh_grpo_logprobs(&t.model, &b, b.old_lp, NULL); /* mu = 1: old = current */
        wh_trainer_begin(&t);
        wh_grpo_pass ps;
        wh_grpo_loss_grad(&t, &b, &hp, &ps);
        for (size_t i = 0; i < (size_t)b.n * b.T; i++)
            if (b.targets[i] >= 0 && b.ratio[i] != 1.0f)
                fail_msg("ratio %zu is %.9g, not 1", i, b.ratio[i]);
        assert_true(ps.clip_frac == 0.0);
        size_t np = t.model.n_params;
        float *g = malloc(np * sizeof(float));
        assert_non_null(g);
        memcpy(g, t.gsum, np * sizeof(float));
        /* the same gradient from the weighted cross-entropy: d loss/d CE = c (A - beta (1 -
         * exp(ref - lp))) — the policy term is -A grad log pi */
        wh_tr_model *m = &t.model;
        float *w = calloc((size_t)m->B * m->T, sizeof(float));
        assert_non_null(w);
        memset(t.gsum, 0, np * sizeof(float));
        for (int mb = 0; mb * m->B < b.n; mb++) {
            int *tok = b.tokens + (size_t)mb * m->B * m->T;
            int *tgt = b.targets + (size_t)mb * m->B * m->T;
            for (int k = 0; k < m->B * m->T; k++) {
                size_t o = (size_t)mb * m->B * m->T + k;
                int i = (int)(o / m->T);
                float e = expf(b.ref_lp[o] - b.old_lp[o]);
                w[k] = b.coef[o] * (b.adv[i] - hp.kl_beta * (1.0f - e));
            }
            wh_tr_model_forward_w(m, tok, tgt, w);
            wh_tr_model_zero_grad(m);
            wh_tr_model_backward(m);
            for (size_t i = 0; i < np; i++)
                t.gsum[i] += m->grads[i];
        }
        const char *worst;
        double ge = grad_error(m, g, t.gsum, &worst);
        printf("  identity (%s): every ratio 1, nothing clipped; gradient vs -A grad log pi + "
               "KL term: %.1e (worst %s)\n",
               hp.aggregation ? "sequence" : "token", ge, worst);
        assert_true(ge <= 1e-6);
        free(w);
        free(g);
        wh_grpo_batch_free(&b);
        wh_trainer_free(&t);
    }
    fx_free(&x);
}

static void test_token_branches(void **st)
{
    (void)st;
    wh_grpo_hp hp = {0.2f, 0.28f, 0.0f, 1e-4f, 0};
    float d, r, k;
    int c;
    /* A > 0: clipped above 1 + eps_high, not below */
    float l = wh_grpo_token(logf(1.5f), 0.0f, 0.0f, 2.0f, &hp, &d, &r, &k, &c);
    assert_true(c == 1 && d == 0.0f && fabsf(l + 1.28f * 2.0f) < 1e-6f);
    wh_grpo_token(logf(0.5f), 0.0f, 0.0f, 2.0f, &hp, &d, &r, &k, &c);
    assert_true(c == 0 && fabsf(d + 2.0f * 0.5f) < 1e-6f);
    /* A < 0: clipped below 1 - eps, not above */
    l = wh_grpo_token(logf(0.5f), 0.0f, 0.0f, -1.0f, &hp, &d, &r, &k, &c);
    assert_true(c == 1 && d == 0.0f && fabsf(l - 0.8f) < 1e-6f);
    wh_grpo_token(logf(1.5f), 0.0f, 0.0f, -1.0f, &hp, &d, &r, &k, &c);
    assert_true(c == 0 && fabsf(d - 1.5f) < 1e-5f);
    /* k3 and its derivative against a central difference */
    hp.kl_beta = 0.5f;
    float lp = -1.3f, ref = -0.7f, h = 1e-3f, dp, dm;
    wh_grpo_token(lp, lp, ref, 0.0f, &hp, &d, &r, &k, &c);
    assert_true(fabsf(k - (expf(ref - lp) - (ref - lp) - 1.0f)) < 1e-6f && k >= 0.0f);
    float lp_p = wh_grpo_token(lp + h, lp, ref, 0.0f, &hp, &dp, &r, &k, &c);
    float lp_m = wh_grpo_token(lp - h, lp, ref, 0.0f, &hp, &dm, &r, &k, &c);
    assert_true(fabsf((lp_p - lp_m) / (2 * h) - d) < 1e-3f);
}

static void test_advantages_and_coefs(void **st)
{
    (void)st;
    float r[6] = {2, 1, 0, 1, 1, 1}, a[6];
    int flat = wh_grpo_advantages(r, 2, 3, 0.0f, a);
    assert_int_equal(flat, 1);
    assert_true(fabsf(a[0] - 1.0f) < 1e-6f && a[1] == 0.0f && fabsf(a[2] + 1.0f) < 1e-6f);
    assert_true(a[3] == 0.0f && a[4] == 0.0f && a[5] == 0.0f);
    wh_grpo_batch b;
    wh_error err = {0};
    assert_int_equal(wh_grpo_batch_init(&b, 2, 4, 2, 1, &err), WH_OK);
    b.n = 2;
    int tg[8] = {-1, 5, 6, -1, -1, -1, 7, -1};
    memcpy(b.targets, tg, sizeof tg);
    wh_grpo_coefs(&b, WH_AGG_TOKEN);
    assert_true(fabsf(b.coef[1] - 1.0f / 3) < 1e-7f && fabsf(b.coef[6] - 1.0f / 3) < 1e-7f);
    assert_true(b.coef[0] == 0.0f && b.len[0] == 2 && b.len[1] == 1);
    wh_grpo_coefs(&b, WH_AGG_SEQUENCE);
    assert_true(fabsf(b.coef[1] - 0.25f) < 1e-7f && fabsf(b.coef[6] - 0.5f) < 1e-7f);
    wh_grpo_batch_free(&b);
}

/* SFT: the plain-format rendering of a from-scratch vocabulary, the mask, truncation. */
static void test_sft_render(void **st)
{
    (void)st;
    wh_tokenizer *tok = NULL;
    wh_chat_family fam;
    char dir[1024];
    wh_error err = {0};
    if (wh_sft_tokenizer("tests/fixtures/train/tok", &tok, &fam, dir, sizeof dir, &err) != WH_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(fam, WH_CHAT_PLAIN);
    wh_chat_msg u = {.role = "user", .content = "Compute 2 + 3."};
    int32_t *ids = NULL;
    size_t n = 0, np = 0;
    assert_int_equal(
        wh_r1_render_train(tok, fam, &u, 1, "2 + 3 = 5", "\\boxed{5}", &ids, &n, &np, &err), WH_OK);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(wh_tokenizer_decode(tok, ids, np, 0, &text, &len, &err), WH_OK);
    assert_string_equal(text, "User: Compute 2 + 3.\nAssistant:");
    wh_free(text);
    assert_int_equal(wh_tokenizer_decode(tok, ids + np, n - np, 0, &text, &len, &err), WH_OK);
    assert_string_equal(text, " <think>\n2 + 3 = 5\n</think>\n\n\\boxed{5}<|eos|>");
    wh_free(text);
    assert_int_equal(ids[n - 1], wh_tokenizer_eos(tok));
    int T = (int)n + 3, *tk = malloc((size_t)T * sizeof(int)), *tg = malloc((size_t)T * 4);
    float *w = malloc((size_t)T * sizeof(float));
    assert_int_equal(wh_sft_layout(ids, n, np, T, tk, tg, w), 0);
    int reply = 0;
    for (int t = 0; t < T; t++) {
        reply += w[t] > 0.0f;
        if (w[t] > 0.0f)
            assert_int_equal(tg[t], ids[t + 1]);
    }
    assert_int_equal(reply, (int)(n - np)); /* every reply token, EOS included, no prompt */
    assert_true(w[np - 2] == 0.0f && w[np - 1] == 1.0f && tg[n - 1] == -1);
    assert_int_equal(wh_sft_layout(ids, n, np, (int)n - 2, tk, tg, w), 1);
    free(tk), free(tg), free(w);
    wh_free(ids);
    wh_tokenizer_free(tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parity),         cmocka_unit_test(test_identity),
        cmocka_unit_test(test_token_branches), cmocka_unit_test(test_advantages_and_coefs),
        cmocka_unit_test(test_sft_render),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
