/*
 * test_train.c — the training run around the ops (src/train/trainer.c, data.c,
 * checkpoint.c, export.c):
 *   - ten AdamW steps (warmup + cosine, clipping, weight decay, bias update) against
 *     PyTorch's torch.optim.AdamW on the reference state (tools/reference/train_ref.py):
 *     each loss within 1e-5 absolute (the C side is float32; the reference computes in
 *     float64 and keeps its parameters rounded to float32 after each update), and the
 *     parameters after ten steps within 1e-4 of the largest reference magnitude of each
 *     tensor;
 *   - seeded initialisation, bit-determinism, gradient accumulation;
 *   - the data shards and loader; checkpoints (resume bit-identical, corrupt and truncated
 *     files refused, a kill -9 mid-write leaves the previous one); export to a HF folder
 *     that the inference engine loads with the training forward's logits.
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

#include <ftw.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "train/checkpoint.h"
#include "train/data.h"
#include "train/export.h"
#include "train/trainer.h"
#include "trcfg.h"

#define STEP_LOSS_TOL 1e-5
#define STEP_PARAM_TOL 1e-4

/* ---------------------------------------------------------------- the reference state */

typedef struct state_file {
    int32_t hdr[32];
    float fh[16];
    int32_t *tokens, *targets, *counts, *sel;
    float *bias, *params, *grads, losses[4];
    int32_t n_steps;
    float hp[16], *step_losses, *params_after, *bias_after;
} state_file;

static void read_exact(FILE *f, void *p, size_t size, size_t n, const char *path)
{
    if (fread(p, size, n, f) != n)
        fail_msg("%s: truncated", path);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    assert_non_null(p);
    return p;
}

static void state_load(state_file *s, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("%s: missing (run tools/reference/train_ref.py)", path);
    read_exact(f, s->hdr, 4, 32, path);
    read_exact(f, s->fh, 4, 16, path);
    assert_int_equal(s->hdr[0], 0x52544857);
    assert_int_equal(s->hdr[1], 2);
    int B = s->hdr[23], T = s->hdr[24], nt = s->hdr[25], np = s->hdr[26], nm = s->hdr[27];
    int E = s->hdr[12], K = s->hdr[13], L = s->hdr[4], mtp = s->hdr[20];
    size_t nb = (size_t)(L + mtp) * E;
    s->tokens = xmalloc((size_t)B * T * 4);
    s->targets = xmalloc((size_t)B * T * 4);
    s->counts = xmalloc((size_t)nt * 4);
    s->bias = xmalloc(nb * 4);
    s->params = xmalloc((size_t)np * 4);
    s->grads = xmalloc((size_t)np * 4);
    s->sel = xmalloc((size_t)nm * B * T * K * 4);
    read_exact(f, s->tokens, 4, (size_t)B * T, path);
    read_exact(f, s->targets, 4, (size_t)B * T, path);
    read_exact(f, s->counts, 4, (size_t)nt, path);
    read_exact(f, s->bias, 4, nb, path);
    read_exact(f, s->params, 4, (size_t)np, path);
    read_exact(f, s->losses, 4, 4, path);
    read_exact(f, s->sel, 4, (size_t)nm * B * T * K, path);
    read_exact(f, s->grads, 4, (size_t)np, path);
    read_exact(f, &s->n_steps, 4, 1, path);
    read_exact(f, s->hp, 4, 16, path);
    s->step_losses = xmalloc((size_t)s->n_steps * 4);
    s->params_after = xmalloc((size_t)np * 4);
    s->bias_after = xmalloc(nb * 4);
    read_exact(f, s->step_losses, 4, (size_t)s->n_steps, path);
    read_exact(f, s->params_after, 4, (size_t)np, path);
    read_exact(f, s->bias_after, 4, nb, path);
    fclose(f);
}

static void state_free(state_file *s)
{
    free(s->tokens), free(s->targets), free(s->counts), free(s->sel);
    free(s->bias), free(s->params), free(s->grads);
    free(s->step_losses), free(s->params_after), free(s->bias_after);
}

static void state_config(const state_file *s, wh_tr_config *out, int *pB, int *pT)
{
    const int32_t *h = s->hdr + 2;
    *out = trcfg_decode(h, s->fh);
    *pB = h[21];
    *pT = h[22];
}

static wh_tr_hparams state_hparams(const state_file *s)
{
    wh_tr_hparams h = wh_tr_hparams_defaults();
    h.lr = s->hp[0];
    h.lr_min = s->hp[1];
    h.warmup = (int)s->hp[2];
    h.steps = (int)s->hp[3];
    h.schedule = WH_SCHED_COSINE;
    h.beta1 = s->hp[4];
    h.beta2 = s->hp[5];
    h.adam_eps = s->hp[6];
    h.weight_decay = s->hp[7];
    h.clip = s->hp[8];
    h.gamma = s->hp[9];
    return h;
}

/* ---------------------------------------------------------------- ten steps vs PyTorch */

static void steps_case(const char *path)
{
    state_file s;
    state_load(&s, path);
    wh_tr_config c;
    int B, T;
    state_config(&s, &c, &B, &T);
    wh_tr_hparams hp = state_hparams(&s);
    wh_trainer t;
    wh_error err = {0};
    if (wh_trainer_init(&t, &c, B, T, &hp, &err) != WH_OK)
        fail_msg("%s: %s", path, err.msg);
    wh_tr_model *m = &t.model;
    memcpy(m->params, s.params, m->n_params * sizeof(float));
    memcpy(m->route_bias, s.bias, (size_t)m->n_blocks * c.E * sizeof(float));
    double worst = 0.0;
    for (int i = 0; i < s.n_steps; i++) {
        float loss = wh_trainer_step(&t, s.tokens, s.targets, 1);
        double d = fabs((double)loss - s.step_losses[i]);
        printf("  step %d: loss %.7f ref %.7f diff %.2e  lr %.3e |g| %.4f\n", i, loss,
               s.step_losses[i], d, t.lr, t.grad_norm);
        worst = fmax(worst, d);
        if (d > STEP_LOSS_TOL)
            fail_msg("%s: step %d loss %.7f, reference %.7f (tolerance %.0e)", path, i, loss,
                     s.step_losses[i], STEP_LOSS_TOL);
    }
    double worst_p = 0.0;
    const char *worst_name = "";
    for (int i = 0; i < m->n_tensors; i++) {
        const wh_tr_tensor *tn = &m->tensors[i];
        double md = 0.0, mr = 0.0;
        for (size_t j = 0; j < tn->count; j++) {
            double r = s.params_after[tn->offset + j];
            md = fmax(md, fabs(m->params[tn->offset + j] - r));
            mr = fmax(mr, fabs(r));
        }
        double e = md / fmax(mr, 1e-12);
        if (e > worst_p) {
            worst_p = e;
            worst_name = tn->name;
        }
        if (e > STEP_PARAM_TOL)
            fail_msg("%s: %s after %d steps off by %.3e relative", path, tn->name, s.n_steps, e);
    }
    size_t nb = (size_t)m->n_blocks * c.E;
    for (size_t i = 0; i < nb; i++)
        assert_true(fabsf(m->route_bias[i] - s.bias_after[i]) < 1e-6f);
    printf("  %s: %d steps, worst loss diff %.2e, worst parameter diff %.2e (%s)\n", path,
           s.n_steps, worst, worst_p, worst_name);
    wh_trainer_free(&t);
    state_free(&s);
}

static void test_steps_parity(void **st)
{
    (void)st;
    steps_case("tests/fixtures/train/state.bin");
    steps_case("tests/fixtures/train/state_nolora.bin");
}

/* ---------------------------------------------------------------- helpers */

/* the reference's tiny model (q-LoRA, groups, MTP, YaRN) with batches of B x T */
static void tiny_config(wh_tr_config *c, int qlora_mtp)
{
    state_file s;
    int B, T;
    state_load(&s, qlora_mtp ? "tests/fixtures/train/state.bin"
                             : "tests/fixtures/train/state_nolora.bin");
    state_config(&s, c, &B, &T);
    state_free(&s);
}

static uint64_t tok_rng = 12345;

static void random_tokens(int *tok, int *tgt, size_t n, int V)
{
    for (size_t i = 0; i < n; i++) {
        tok_rng = tok_rng * 6364136223846793005ull + 1442695040888963407ull;
        tok[i] = (int)((tok_rng >> 33) % (uint64_t)V);
        tok_rng = tok_rng * 6364136223846793005ull + 1442695040888963407ull;
        tgt[i] = (int)((tok_rng >> 33) % (uint64_t)V);
    }
}

static void make_trainer(wh_trainer *t, const wh_tr_config *c, int B, int T, uint64_t seed)
{
    wh_tr_hparams hp = wh_tr_hparams_defaults();
    hp.steps = 20;
    hp.warmup = 2;
    hp.init_std = 0.1f;
    wh_error err = {0};
    if (wh_trainer_init(t, c, B, T, &hp, &err) != WH_OK)
        fail_msg("%s", err.msg);
    wh_trainer_init_params(t, seed);
}

static char tmp_root[256];

static const char *tmp_dir(void)
{
    if (tmp_root[0] == '\0') {
        snprintf(tmp_root, sizeof tmp_root, "/tmp/whale-test-train-XXXXXX");
        assert_non_null(mkdtemp(tmp_root));
    }
    return tmp_root;
}

/* ---------------------------------------------------------------- init, determinism */

static void test_init(void **st)
{
    (void)st;
    wh_tr_config c;
    tiny_config(&c, 1);
    wh_trainer a, b;
    make_trainer(&a, &c, 2, 8, 7);
    make_trainer(&b, &c, 2, 8, 7);
    assert_memory_equal(a.model.params, b.model.params, a.model.n_params * sizeof(float));
    wh_trainer_init_params(&b, 8);
    assert_true(memcmp(a.model.params, b.model.params, a.model.n_params * sizeof(float)) != 0);
    double want_out = 0.1 / sqrt(2.0 * a.model.n_blocks);
    for (int i = 0; i < a.model.n_tensors; i++) {
        const wh_tr_tensor *tn = &a.model.tensors[i];
        const float *p = a.model.params + tn->offset;
        double s = 0.0, s2 = 0.0;
        for (size_t j = 0; j < tn->count; j++) {
            s += p[j];
            s2 += (double)p[j] * p[j];
        }
        double mean = s / tn->count, sd = sqrt(s2 / tn->count - mean * mean);
        if (strstr(tn->name, "norm")) {
            assert_true(mean == 1.0 && sd == 0.0);
            continue;
        }
        const char *leaf = strrchr(tn->name, '.');
        leaf = leaf ? leaf + 1 : tn->name;
        int out = !strcmp(leaf, "wo") || !strcmp(leaf, "down") || !strcmp(leaf, "exp_down") ||
                  !strcmp(leaf, "sh_down");
        double want = out ? want_out : 0.1;
        if (tn->count >= 1000 && fabs(sd / want - 1.0) > 0.1)
            fail_msg("%s: std %.4f, want %.4f", tn->name, sd, want);
    }
    wh_trainer_free(&a);
    wh_trainer_free(&b);
}

static void test_determinism(void **st)
{
    (void)st;
    wh_tr_config c;
    tiny_config(&c, 1);
    int B = 2, T = 8, steps = 5;
    size_t N = (size_t)B * T;
    int *tok = xmalloc(N * steps * sizeof(int)), *tgt = xmalloc(N * steps * sizeof(int));
    random_tokens(tok, tgt, N * steps, c.V);
    float loss[2][5];
    wh_trainer t[2];
    for (int r = 0; r < 2; r++) {
        make_trainer(&t[r], &c, B, T, 42);
        for (int i = 0; i < steps; i++)
            loss[r][i] = wh_trainer_step(&t[r], tok + i * N, tgt + i * N, 1);
    }
    assert_memory_equal(loss[0], loss[1], sizeof loss[0]);
    assert_memory_equal(t[0].model.params, t[1].model.params, t[0].model.n_params * 4);
    assert_memory_equal(t[0].m, t[1].m, t[0].model.n_params * 4);
    assert_memory_equal(t[0].model.route_bias, t[1].model.route_bias,
                        (size_t)t[0].model.n_blocks * c.E * 4);
    printf("  two runs of %d steps: identical losses (%.6f -> %.6f) and parameters\n", steps,
           loss[0][0], loss[0][steps - 1]);
    wh_trainer_free(&t[0]);
    wh_trainer_free(&t[1]);
    free(tok), free(tgt);
}

/* one step over 4 sequences = two accumulated micro-batches of 2 */
static void test_grad_accum(void **st)
{
    (void)st;
    wh_tr_config c;
    tiny_config(&c, 1);
    int T = 8;
    size_t N = (size_t)4 * T;
    int *tok = xmalloc(N * sizeof(int)), *tgt = xmalloc(N * sizeof(int));
    random_tokens(tok, tgt, N, c.V);
    wh_trainer full, acc;
    make_trainer(&full, &c, 4, T, 3);
    make_trainer(&acc, &c, 2, T, 3);
    full.hp.clip = acc.hp.clip = 0.0f;
    float lf = wh_trainer_step(&full, tok, tgt, 1);
    float la = wh_trainer_step(&acc, tok, tgt, 2);
    double md = 0.0, mg = 0.0;
    for (size_t i = 0; i < full.model.n_params; i++) {
        md = fmax(md, fabs(full.gsum[i] - acc.gsum[i]));
        mg = fmax(mg, fabs(full.gsum[i]));
    }
    printf("  full batch loss %.7f, accumulated %.7f; gradient diff %.2e of max %.3e\n", lf, la, md,
           mg);
    assert_true(fabs(lf - la) < 1e-6);
    assert_true(md / mg < 1e-5);
    assert_true(fabs(full.grad_norm - acc.grad_norm) < 1e-5 * full.grad_norm);
    wh_trainer_free(&full);
    wh_trainer_free(&acc);
    free(tok), free(tgt);
}

/* ---------------------------------------------------------------- data */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_data(void **st)
{
    (void)st;
    char in[512], out[512], bad[512];
    snprintf(in, sizeof in, "%s/docs.jsonl", tmp_dir());
    snprintf(out, sizeof out, "%s/shards", tmp_dir());
    FILE *f = fopen(in, "w");
    assert_non_null(f);
    for (int i = 0; i < 40; i++)
        fprintf(f, "{\"text\": \"the cat %d sat on the mat, then ran %d times\", \"id\": %d}\n", i,
                i * 7, i);
    fclose(f);
    wh_data_opts o = {"tests/fixtures/train/tok", out, 0.25, 5, 64};
    wh_data_report rep;
    wh_error err = {0};
    const char *inputs[1] = {in};
    if (wh_data_build(&o, inputs, 1, &rep, &err) != WH_OK)
        fail_msg("%s", err.msg);
    printf("  40 documents: train %llu (%llu tokens, %d shards), val %llu (%llu tokens)\n",
           (unsigned long long)rep.docs[0], (unsigned long long)rep.tokens[0], rep.shards[0],
           (unsigned long long)rep.docs[1], (unsigned long long)rep.tokens[1]);
    assert_int_equal(rep.docs[0] + rep.docs[1], 40);
    assert_true(rep.docs[1] > 0 && rep.docs[0] > rep.docs[1]);
    assert_true(rep.shards[0] > 1); /* 64 tokens a shard */
    assert_int_equal(rep.vocab, 268);
    assert_int_equal(rep.eos, 267);

    int T = 8;
    wh_tr_loader a, b;
    assert_int_equal(wh_tr_loader_open(&a, out, "train", T, 1, 9, &err), WH_OK);
    assert_int_equal(wh_tr_loader_open(&b, out, "train", T, 1, 9, &err), WH_OK);
    assert_true(a.n_tokens == rep.tokens[0]);
    uint64_t W = a.n_windows;
    assert_true(W > 10);
    /* an epoch visits every window once; the same seed gives the same order; the next
     * epoch another order */
    int *seen = calloc(W, sizeof(int)), tok[8], tgt[8], tok2[8], tgt2[8];
    int eos_seen = 0, differs = 0;
    for (uint64_t s = 0; s < W; s++) {
        wh_tr_loader_get(&a, s, tok, tgt);
        wh_tr_loader_get(&b, s, tok2, tgt2);
        assert_memory_equal(tok, tok2, sizeof tok);
        for (int t = 0; t + 1 < T; t++)
            assert_int_equal(tgt[t], tok[t + 1]);
        for (int t = 0; t < T; t++)
            eos_seen |= tok[t] == 267;
        int idx = (int)a.perm[s];
        seen[idx]++;
        wh_tr_loader_get(&b, s + W, tok2, tgt2);
        differs |= memcmp(tok, tok2, sizeof tok) != 0;
    }
    for (uint64_t w = 0; w < W; w++)
        assert_int_equal(seen[w], 1);
    assert_true(eos_seen && differs);
    free(seen);
    wh_tr_loader_close(&a);
    wh_tr_loader_close(&b);
    wh_tr_loader v;
    assert_int_equal(wh_tr_loader_open(&v, out, "val", T, 0, 9, &err), WH_OK);
    assert_true(v.n_windows > 0 && v.n_tokens == rep.tokens[1]);
    wh_tr_loader_close(&v);

    /* bad input: a JSONL line without "text", a truncated shard, a token outside the vocabulary */
    snprintf(bad, sizeof bad, "%s/bad.jsonl", tmp_dir());
    write_file(bad, "{\"text\": \"ok\"}\n{\"body\": \"no text\"}\n");
    inputs[0] = bad;
    snprintf(out, sizeof out, "%s/shards_bad", tmp_dir());
    o.out_dir = out;
    assert_int_equal(wh_data_build(&o, inputs, 1, &rep, &err), WH_E_FORMAT);
    printf("  %s\n", err.msg);
    assert_non_null(strstr(err.msg, "bad.jsonl:2"));
    char shard[600];
    snprintf(shard, sizeof shard, "%s/shards/train-00000.tok", tmp_dir());
    assert_int_equal(truncate(shard, 32 + 4 * 10), 0);
    assert_int_equal(wh_tr_loader_open(&v, tmp_dir(), "nothing", T, 0, 9, &err), WH_OK);
    assert_true(v.n_windows == 0);
    wh_tr_loader_close(&v);
    snprintf(out, sizeof out, "%s/shards", tmp_dir());
    assert_int_equal(wh_tr_loader_open(&v, out, "train", T, 1, 9, &err), WH_E_FORMAT);
    printf("  %s\n", err.msg);
    assert_non_null(strstr(err.msg, "truncated"));
}

/* ---------------------------------------------------------------- checkpoints */

static void test_resume(void **st)
{
    (void)st;
    wh_tr_config c;
    tiny_config(&c, 1);
    int B = 2, T = 8, steps = 6;
    size_t N = (size_t)B * T;
    int *tok = xmalloc(N * steps * sizeof(int)), *tgt = xmalloc(N * steps * sizeof(int));
    random_tokens(tok, tgt, N * steps, c.V);
    float straight[6], resumed[6];
    wh_trainer a;
    make_trainer(&a, &c, B, T, 11);
    for (int i = 0; i < steps; i++)
        straight[i] = wh_trainer_step(&a, tok + i * N, tgt + i * N, 1);

    char path[512];
    snprintf(path, sizeof path, "%s/resume.ckpt", tmp_dir());
    wh_error err = {0};
    wh_trainer b;
    make_trainer(&b, &c, B, T, 11);
    for (int i = 0; i < 3; i++)
        resumed[i] = wh_trainer_step(&b, tok + i * N, tgt + i * N, 1);
    b.data_pos = 3 * (uint64_t)B;
    if (wh_tr_ckpt_save(path, &b, 11, 1, &err) != WH_OK)
        fail_msg("%s", err.msg);
    wh_trainer_free(&b);

    wh_tr_ckpt ck;
    if (wh_tr_ckpt_open(&ck, path, &err) != WH_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(ck.step, 3);
    assert_true(ck.data_pos == 3 * (uint64_t)B && ck.seed == 11 && ck.B == B && ck.T == T);
    assert_memory_equal(&ck.cfg, &c, sizeof c);
    wh_trainer r;
    assert_int_equal(wh_trainer_init(&r, &ck.cfg, ck.B, ck.T, &ck.hp, &err), WH_OK);
    assert_int_equal(wh_tr_ckpt_apply(&ck, &r, &err), WH_OK);
    wh_tr_ckpt_close(&ck);
    for (int i = 3; i < steps; i++)
        resumed[i] = wh_trainer_step(&r, tok + i * N, tgt + i * N, 1);
    assert_memory_equal(straight, resumed, sizeof straight);
    assert_memory_equal(a.model.params, r.model.params, a.model.n_params * 4);
    assert_memory_equal(a.m, r.m, a.model.n_params * 4);
    assert_memory_equal(a.v, r.v, a.model.n_params * 4);
    assert_memory_equal(a.model.route_bias, r.model.route_bias, (size_t)a.model.n_blocks * c.E * 4);
    printf("  6 steps straight == 3 + checkpoint + 3, bit for bit (loss %.6f)\n", straight[5]);
    wh_trainer_free(&a);
    wh_trainer_free(&r);
    free(tok), free(tgt);
}

static void copy_file(const char *from, const char *to, long keep, long flip)
{
    FILE *f = fopen(from, "rb"), *g = fopen(to, "wb");
    assert_true(f && g);
    int ch;
    long i = 0;
    while ((ch = fgetc(f)) != EOF && (keep < 0 || i < keep)) {
        fputc(i == flip ? ch ^ 0x10 : ch, g);
        i++;
    }
    fclose(f);
    fclose(g);
}

static void test_ckpt_corrupt(void **st)
{
    (void)st;
    wh_tr_config c;
    tiny_config(&c, 0);
    wh_trainer t;
    make_trainer(&t, &c, 2, 8, 1);
    char path[512], bad[512];
    snprintf(path, sizeof path, "%s/good.ckpt", tmp_dir());
    snprintf(bad, sizeof bad, "%s/bad.ckpt", tmp_dir());
    wh_error err = {0};
    assert_int_equal(wh_tr_ckpt_save(path, &t, 1, 1, &err), WH_OK);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    wh_tr_ckpt ck;
    const struct {
        long keep, flip;
        const char *want;
    } cases[] = {
        {(long)sb.st_size / 2, -1, "truncated"}, {10, -1, "truncated"},
        {-1, (long)sb.st_size / 2, "checksum"},  {-1, 0, "magic"},
        {-1, (long)sb.st_size - 3, "checksum"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        copy_file(path, bad, cases[i].keep, cases[i].flip);
        int rc = wh_tr_ckpt_open(&ck, bad, &err);
        printf("  %s\n", err.msg);
        assert_true(rc == WH_E_FORMAT);
        assert_non_null(strstr(err.msg, cases[i].want));
        assert_non_null(strstr(err.msg, "bad.ckpt"));
    }
    assert_int_equal(wh_tr_ckpt_open(&ck, path, &err), WH_OK);
    wh_tr_ckpt_close(&ck);
    wh_trainer_free(&t);
}

/* A kill -9 while a checkpoint is being written leaves the previous one loadable. */
static int hook_fd = -1;

static void pause_hook(unsigned long long bytes)
{
    if (bytes >= 2 * 64 * 1024 && hook_fd >= 0) {
        char ch = 'w';
        if (write(hook_fd, &ch, 1) != 1)
            _exit(3);
        for (;;)
            pause();
    }
}

static void test_ckpt_kill(void **st)
{
    (void)st;
    wh_tr_config c;
    tiny_config(&c, 1);
    wh_trainer t;
    make_trainer(&t, &c, 2, 8, 5);
    char path[512];
    snprintf(path, sizeof path, "%s/kill.ckpt", tmp_dir());
    wh_error err = {0};
    t.step = 1;
    assert_int_equal(wh_tr_ckpt_save(path, &t, 5, 1, &err), WH_OK);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        hook_fd = fds[1];
        wh_tr_ckpt_chunk_hook = pause_hook;
        t.step = 2;
        for (size_t i = 0; i < t.model.n_params; i++)
            t.model.params[i] += 1.0f;
        wh_tr_ckpt_save(path, &t, 5, 1, &err);
        _exit(2); /* not reached: the hook waits to be killed */
    }
    close(fds[1]);
    char ch = 0;
    assert_int_equal(read(fds[0], &ch, 1), 1); /* the child is mid-write */
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    struct stat sb;
    assert_int_equal(stat(tmp, &sb), 0);
    assert_true(sb.st_size >= 2 * 64 * 1024);
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    close(fds[0]);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    wh_tr_ckpt ck;
    if (wh_tr_ckpt_open(&ck, path, &err) != WH_OK)
        fail_msg("after kill -9: %s", err.msg);
    assert_int_equal(ck.step, 1);
    assert_memory_equal(ck.params, t.model.params, t.model.n_params * 4);
    wh_tr_ckpt_close(&ck);
    printf("  killed mid-write at %lld bytes of the temp file: the previous checkpoint loads\n",
           (long long)sb.st_size);
    /* the next save replaces the stale temp file */
    assert_int_equal(wh_tr_ckpt_save(path, &t, 5, 1, &err), WH_OK);
    assert_true(stat(tmp, &sb) != 0);
    wh_trainer_free(&t);
}

/* ---------------------------------------------------------------- export */

static void export_case(int qlora_mtp)
{
    wh_tr_config c;
    tiny_config(&c, qlora_mtp);
    int B = 2, T = 8;
    size_t N = (size_t)B * T;
    int *tok = xmalloc(N * 3 * sizeof(int)), *tgt = xmalloc(N * 3 * sizeof(int));
    random_tokens(tok, tgt, N * 3, c.V);
    wh_trainer t;
    make_trainer(&t, &c, B, T, 21);
    t.hp.gamma = 0.05f; /* visible routing biases */
    for (int i = 0; i < 2; i++)
        wh_trainer_step(&t, tok + i * N, tgt + i * N, 1);
    wh_tr_model_forward(&t.model, tok + 2 * N, tgt + 2 * N);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/export%d", tmp_dir(), qlora_mtp);
    wh_error err = {0};
    if (wh_tr_export_hf(&t.model, dir, -1, 1, 64, &err) != WH_OK)
        fail_msg("%s", err.msg);
    wh_model *m = NULL;
    if (wh_model_load(dir, &m, &err) != WH_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(wh_model_config(m)->num_nextn_predict_layers, c.mtp);
    wh_session_opts so = {0};
    so.n_ctx = T;
    so.exact = 1;
    so.n_threads = 1;
    so.mla = WH_MLA_NAIVE;
    double worst = 0.0;
    for (int b = 0; b < B; b++) {
        wh_session *s = NULL;
        assert_int_equal(wh_session_new(m, &so, &s, &err), WH_OK);
        float *logits = xmalloc((size_t)T * c.V * sizeof(float));
        int32_t ids[64];
        for (int i = 0; i < T; i++)
            ids[i] = tok[2 * N + (size_t)b * T + i];
        if (wh_session_eval(s, ids, T, logits, 1, &err) != WH_OK)
            fail_msg("%s", err.msg);
        for (size_t i = 0; i < (size_t)T * c.V; i++)
            worst = fmax(worst, fabs(logits[i] - t.model.logits[(size_t)b * T * c.V + i]));
        free(logits);
        wh_session_free(s);
    }
    printf("  export (%s): inference logits vs training forward, max diff %.2e\n",
           qlora_mtp ? "q-LoRA, groups, MTP, YaRN" : "no q-LoRA, no MTP", worst);
    assert_true(worst < 1e-4);
    wh_model_free(m);
    wh_trainer_free(&t);
    free(tok), free(tgt);
}

static void test_export(void **st)
{
    (void)st;
    export_case(1);
    export_case(0);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_steps_parity), cmocka_unit_test(test_init),
        cmocka_unit_test(test_determinism),  cmocka_unit_test(test_grad_accum),
        cmocka_unit_test(test_data),         cmocka_unit_test(test_resume),
        cmocka_unit_test(test_ckpt_corrupt), cmocka_unit_test(test_ckpt_kill),
        cmocka_unit_test(test_export),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (tmp_root[0])
        nftw(tmp_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}
