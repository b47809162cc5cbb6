/*
 * cmd_sft.c — `whale sft CONFIG` (the cold start, DeepSeek-R1 report §2.3.1: supervised
 * fine-tuning on reasoning traces in the R1 chat format, the loss on the assistant's
 * tokens only) and `whale distill CONFIG` (§2.4: a teacher — the programmatic solver or
 * any model whale runs — writes traces for task prompts, the verifier keeps the right ones
 * (rejection sampling), and the student is fine-tuned on them by the same SFT).
 * docs/R1.md is the manual.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/alloc.h"
#include "cli/cli.h"
#include "cli/post.h"
#include "r1/reward.h"
#include "r1/solver.h"
#include "train/checkpoint.h"
#include "train/rng.h"
#include "train/rollout.h"

static void sft_usage(FILE *f, const char *cmd)
{
    fprintf(f, "usage: whale %s CONFIG [--KEY VALUE]... [--no-export]\n", cmd);
    if (strcmp(cmd, "sft") == 0)
        fprintf(f, "  Fine-tunes init_from (or a seeded model) on sft_data (JSONL conversations,\n"
                   "  whale tasks --sft), the loss on the assistant's tokens in the R1 format.\n");
    else
        fprintf(f, "  teacher (solver, or a model) writes traces for the task prompts; the\n"
                   "  verifier keeps the right ones (OUT/traces.jsonl); the student (init_from,\n"
                   "  or a seeded model) is fine-tuned on them as by whale sft.\n");
    fprintf(f, "  Writes OUT/checkpoint.bin, OUT/log.jsonl, OUT/loss.svg, OUT/model/.\n"
               "keys (also every key of whale train --help):\n");
    wh_rl_opts_help(f);
}

/* Sequence s of the run: a seeded permutation of the examples per epoch. */
static int example_of(uint64_t s, int n, uint64_t seed, int *perm, int64_t *perm_epoch)
{
    int64_t e = (int64_t)(s / (uint64_t)n);
    if (e != *perm_epoch) {
        wh_tr_rng rng;
        wh_tr_rng_seed(&rng, seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(e + 1)));
        for (int i = 0; i < n; i++)
            perm[i] = i;
        for (int i = n - 1; i > 0; i--) {
            int j = (int)wh_tr_rng_below(&rng, (uint64_t)i + 1);
            int x = perm[i];
            perm[i] = perm[j];
            perm[j] = x;
        }
        *perm_epoch = e;
    }
    return perm[s % (uint64_t)n];
}

static const char *const LOSS_FIELDS[] = {"loss", "loss_main"};

/* The SFT loop on r (set up) over the conversations of o.rl.sft_data. */
static int sft_train(post_run *r, int do_export)
{
    wh_train_opts *o = &r->o;
    wh_error err = {0};
    wh_sft_set set;
    if (o->rl.sft_data[0] == '\0')
        return cli_fail("sft: no sft_data (a JSONL of conversations, whale tasks --sft)");
    if (wh_sft_load(&set, o->rl.sft_data, r->tok, r->fam, o->seq_len, &err) != WH_OK)
        return cli_fail("%s", err.msg);
    int B = o->batch, T = o->seq_len, A = o->grad_accum;
    size_t per = (size_t)B * T;
    int *tok = wh_malloc(per * A * sizeof(int)), *tgt = wh_malloc(per * A * sizeof(int));
    float *w = wh_malloc(per * A * sizeof(float));
    int *perm = wh_malloc((size_t)set.n * sizeof(int));
    FILE *log = fopen(r->path_log, "w");
    if (!tok || !tgt || !w || !perm || !log) {
        wh_free(tok), wh_free(tgt), wh_free(w), wh_free(perm), wh_sft_free(&set);
        if (log)
            fclose(log);
        return cli_fail(log ? "out of memory" : "%s: cannot open", r->path_log);
    }
    fprintf(stderr,
            "whale sft: %zu parameters, chat format %s, %d conversations (%d cut at seq_len "
            "%d), %llu assistant tokens; batch %d x %d x %d\n",
            r->t.model.n_params, wh_chat_family_name(r->fam), set.n, set.n_truncated, T,
            (unsigned long long)set.n_reply, B, T, A);
    int64_t perm_epoch = -1;
    uint64_t pos = 0;
    double t_start = post_now();
    int rc = 0;
    for (int step = 0; step < o->hp.steps && rc == 0; step++) {
        double t0 = post_now();
        double total = 0.0;
        for (int i = 0; i < A * B; i++) {
            int ex = example_of(pos + (uint64_t)i, set.n, o->seed, perm, &perm_epoch);
            memcpy(tok + (size_t)i * T, set.tokens + (size_t)ex * T, (size_t)T * sizeof(int));
            memcpy(tgt + (size_t)i * T, set.targets + (size_t)ex * T, (size_t)T * sizeof(int));
            memcpy(w + (size_t)i * T, set.mask + (size_t)ex * T, (size_t)T * sizeof(float));
            for (int t = 0; t < T; t++)
                total += set.mask[(size_t)ex * T + t];
        }
        pos += (uint64_t)A * B;
        /* the mean over the assistant tokens of the whole global batch */
        for (size_t i = 0; i < per * A; i++) {
            w[i] = total > 0 ? (float)(w[i] / total) : 0.0f;
            if (w[i] == 0.0f)
                tgt[i] = -1; /* prompt and padding: no loss, no MTP target */
        }
        wh_trainer_begin(&r->t);
        /* the balance loss is a mean per micro-batch: 1/A of it each, as whale train */
        float alpha = r->t.model.cfg.bal_alpha;
        r->t.model.cfg.bal_alpha = alpha / (float)A;
        for (int a = 0; a < A; a++) {
            wh_tr_model_forward_w(&r->t.model, tok + a * per, tgt + a * per, w + a * per);
            wh_tr_model_zero_grad(&r->t.model);
            wh_tr_model_backward(&r->t.model);
            wh_trainer_accumulate(&r->t);
        }
        r->t.model.cfg.bal_alpha = alpha;
        wh_trainer_finish(&r->t, 1);
        double dt = post_now() - t0, el = post_now() - t_start;
        if (!isfinite(r->t.loss)) {
            rc = cli_fail("sft: the loss is not finite at step %d (lower lr?)", r->t.step);
            break;
        }
        if (r->t.step % o->log_interval == 0 || r->t.step == o->hp.steps)
            fprintf(stderr,
                    "sft step %5d/%d  loss %.4f  assistant CE %.4f  lr %.2e  |g| %.3f  "
                    "%.0f tok/s  ETA %.0fs\n",
                    r->t.step, o->hp.steps, r->t.loss, r->t.loss_main, r->t.lr, r->t.grad_norm,
                    (double)per * A / (dt > 0 ? dt : 1e-9),
                    el / (step + 1) * (o->hp.steps - step - 1));
        fprintf(log,
                "{\"step\":%d,\"loss\":%.7g,\"loss_main\":%.7g,\"loss_mtp\":%.7g,"
                "\"loss_bal\":%.7g,\"lr\":%.7g,\"grad_norm\":%.7g,\"assistant_tokens\":%.0f,"
                "\"sequences\":%llu,\"seconds\":%.4f}\n",
                r->t.step, r->t.loss, r->t.loss_main, r->t.loss_mtp, r->t.loss_bal, r->t.lr,
                r->t.grad_norm, total, (unsigned long long)pos, dt);
        fflush(log);
        r->t.data_pos = pos;
        if (r->t.step == o->hp.steps ||
            (o->checkpoint_interval > 0 && r->t.step % o->checkpoint_interval == 0)) {
            if (wh_tr_ckpt_save(r->path_ckpt, &r->t, o->seed, A, &err) != WH_OK)
                rc = cli_fail("%s", err.msg);
        }
    }
    fclose(log);
    char svg[1200];
    snprintf(svg, sizeof svg, "%s/loss.svg", o->out);
    post_plot(r->path_log, svg, "whale sft", LOSS_FIELDS, 2);
    if (rc == 0 && do_export)
        rc = post_export(r, r->path_model);
    if (rc == 0)
        fprintf(stderr, "done: step %d, assistant CE %.4f; %s, %s%s%s\n", r->t.step, r->t.loss_main,
                r->path_ckpt, svg, do_export ? ", " : "", do_export ? r->path_model : "");
    wh_free(tok), wh_free(tgt), wh_free(w), wh_free(perm);
    wh_sft_free(&set);
    return rc;
}

static const char *const OWN[] = {"--no-export"};

static int has_flag(int argc, char **argv, const char *f)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], f) == 0)
            return 1;
    return 0;
}

int cmd_sft(int argc, char **argv)
{
    static post_run r;
    memset(&r, 0, sizeof r);
    int rc = post_parse(&r, argc, argv, OWN, 1);
    if (rc == 2) {
        int help = has_flag(argc, argv, "--help") || has_flag(argc, argv, "-h");
        sft_usage(help ? stdout : stderr, "sft");
        return help ? 0 : 2;
    }
    if (rc == 0)
        rc = post_setup(&r, 0);
    if (rc == 0)
        rc = sft_train(&r, !has_flag(argc, argv, "--no-export"));
    post_free(&r);
    return rc;
}

/* ---------------------------------------------------------------- whale distill */

typedef struct keeper {
    FILE *f;
    long seen, kept, bad_write;
} keeper;

/* Rejection sampling: a teacher sample is kept when the verifier accepts it. */
static void keep_sample(void *user, const wh_task *t, const char *text, size_t len,
                        const wh_r1_score *sc)
{
    keeper *k = user;
    k->seen++;
    if (!sc->correct)
        return;
    wh_r1_parsed p;
    wh_r1_parse(text, len, WH_R1_THINK, &p);
    const char *th = p.think;
    size_t tl = p.think_len;
    if (tl > 0 && th[0] == '\n')
        th++, tl--;
    if (tl > 0 && th[tl - 1] == '\n')
        tl--;
    const char *an = p.answer;
    size_t al = p.answer_len;
    while (al > 0 && (*an == '\n' || *an == ' '))
        an++, al--;
    while (al > 0 && (an[al - 1] == '\n' || an[al - 1] == ' '))
        al--;
    wh_r1_trace tr;
    tr.think = wh_malloc(tl + 1);
    tr.answer = wh_malloc(al + 1);
    if (tr.think && tr.answer) {
        memcpy(tr.think, th, tl);
        tr.think[tl] = '\0';
        tr.think_len = tl;
        memcpy(tr.answer, an, al);
        tr.answer[al] = '\0';
        tr.answer_len = al;
        if (wh_r1_write_sft(k->f, t, &tr) == 0)
            k->kept++;
        else
            k->bad_write++;
    } else {
        k->bad_write++;
    }
    wh_free(tr.think);
    wh_free(tr.answer);
}

static int distill_traces(post_run *r, const char *path)
{
    wh_train_opts *o = &r->o;
    wh_error err = {0};
    wh_rollout_opts ro;
    memset(&ro, 0, sizeof ro);
    if (wh_rollout_parse_tasks(&ro, o->rl.tasks, o->rl.levels, &err) != WH_OK)
        return cli_fail("%s", err.msg);
    if (o->rl.distill_n <= 0 || o->rl.distill_k <= 0 || o->rl.distill_k > 256)
        return cli_fail("distill: distill_n > 0 and 0 < distill_k <= 256");
    keeper k = {fopen(path, "w"), 0, 0, 0};
    if (k.f == NULL)
        return cli_fail("%s: cannot create: %s", path, strerror(errno));
    int rc = 0;
    double t0 = post_now();
    if (strcmp(o->rl.teacher, "solver") == 0) {
        for (int fi = 0; fi < ro.n_fams; fi++)
            for (int lv = ro.level_lo; lv <= ro.level_hi; lv++)
                for (int i = 0; i < o->rl.distill_n; i++) {
                    wh_task t;
                    wh_task_make(ro.fams[fi], lv, WH_SPLIT_TRAIN,
                                 (o->rl.task_seed << 32) + (uint64_t)i, &t);
                    wh_r1_trace tr;
                    if (wh_r1_solve(&t, &tr) != 0)
                        continue;
                    size_t len = 0;
                    char *text = wh_r1_trace_text(&tr, &len);
                    wh_r1_trace_free(&tr);
                    if (text == NULL) {
                        rc = cli_fail("distill: out of memory");
                        break;
                    }
                    wh_r1_score sc;
                    wh_r1_score_response(&t, text, len, WH_R1_THINK, &sc);
                    keep_sample(&k, &t, text, len, &sc);
                    wh_free(text);
                }
    } else {
        wh_model *tm = NULL;
        wh_session *s = NULL;
        if (wh_model_load(o->rl.teacher, &tm, &err) != WH_OK) {
            fclose(k.f);
            return cli_fail("teacher: %s", err.msg);
        }
        wh_session_opts so = {0};
        so.n_ctx = o->seq_len + 1;
        so.n_seq = o->rl.distill_k;
        so.n_threads = o->threads;
        const wh_tokenizer *ttok = wh_model_tokenizer(tm, &err);
        if (ttok == NULL || wh_session_new(tm, &so, &s, &err) != WH_OK) {
            wh_model_free(tm);
            fclose(k.f);
            return cli_fail("teacher: %s", err.msg);
        }
        wh_chat_family tf = wh_chat_detect(wh_model_chat_template(tm), ttok, NULL);
        ro.task_seed = o->rl.task_seed;
        ro.seed = o->seed;
        ro.G = o->rl.distill_k;
        ro.max_new_tokens = o->rl.max_new_tokens;
        ro.temperature = o->rl.temperature;
        ro.top_p = o->rl.top_p;
        ro.on_sample = keep_sample;
        ro.user = &k;
        uint64_t pos = 0;
        wh_rollout_stats st;
        int groups = o->rl.distill_n * ro.n_fams * (ro.level_hi - ro.level_lo + 1);
        if (wh_rollout(tm, s, tf, &ro, groups, o->seq_len, &pos, NULL, &st, &err) != WH_OK)
            rc = cli_fail("teacher: %s", err.msg);
        wh_session_free(s);
        wh_model_free(tm);
    }
    if (fclose(k.f) != 0 || k.bad_write)
        rc = rc ? rc : cli_fail("%s: write failed", path);
    if (rc == 0)
        fprintf(stderr,
                "distill: teacher %s wrote %ld traces, the verifier kept %ld (%.0f%%) "
                "in %.1fs: %s\n",
                o->rl.teacher, k.seen, k.kept, k.seen ? 100.0 * k.kept / k.seen : 0.0,
                post_now() - t0, path);
    if (rc == 0 && k.kept == 0)
        rc = cli_fail("distill: the verifier kept no trace; nothing to train on");
    return rc;
}

int cmd_distill(int argc, char **argv)
{
    static post_run r;
    memset(&r, 0, sizeof r);
    int rc = post_parse(&r, argc, argv, OWN, 1);
    if (rc == 2) {
        int help = has_flag(argc, argv, "--help") || has_flag(argc, argv, "-h");
        sft_usage(help ? stdout : stderr, "distill");
        return help ? 0 : 2;
    }
    char path[1200];
    if (rc == 0 && strlen(r.o.out) > 1000)
        rc = cli_fail("out: path longer than 1000 bytes");
    if (rc == 0) {
        snprintf(path, sizeof path, "%s/traces.jsonl", r.o.out);
        if (mkdir(r.o.out, 0777) != 0 && errno != EEXIST)
            rc = cli_fail("%s: cannot create folder: %s", r.o.out, strerror(errno));
    }
    if (rc == 0)
        rc = distill_traces(&r, path);
    if (rc == 0) {
        memcpy(r.o.rl.sft_data, path, strlen(path) + 1); /* < 1015 bytes, checked above */
        rc = post_setup(&r, 0);
    }
    if (rc == 0)
        rc = sft_train(&r, !has_flag(argc, argv, "--no-export"));
    post_free(&r);
    return rc;
}
