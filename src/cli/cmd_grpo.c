/*
 * cmd_grpo.c — `whale grpo CONFIG`: reinforcement learning with rule-based rewards
 * (DeepSeek-R1 report §2.2: GRPO, DeepSeekMath §4.1 eq. 3; DAPO clip-higher eq. 10,
 * dynamic sampling §3.2, token-level loss eq. 12). R1-Zero mode starts from a pretrained
 * base (init_from = its checkpoint or export), R1 mode from the SFT model.
 *
 * One step: export the policy's parameters as a HF folder (OUT/policy, the tokenizer
 * beside it) and load it with wh_model_load — the inference engine's logits equal the
 * training forward's within 5e-7 (docs/TRAINING.md) — then sample `prompts` groups of
 * `group` responses (src/train/rollout.c), reward = accuracy + format, group-normalised
 * advantages, log pi_old by the training forward (fixed for the step), log pi_ref, and
 * `mu` AdamW updates of the clipped objective with the k3 KL (src/train/grpo.c).
 * The reference is reset to the policy every `ref_reset` steps (0: never).
 * Logged per step (OUT/log.jsonl, the progress line): reward, accuracy, format, fraction
 * of zero-variance groups, KL, clip fraction, entropy, mean response length of right and
 * wrong answers, truncation rate, timings. Plots: OUT/reward.svg, OUT/kl.svg.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "cli/cli.h"
#include "cli/post.h"
#include "train/checkpoint.h"
#include "train/grpo.h"
#include "train/rollout.h"

static void grpo_usage(FILE *f)
{
    fprintf(f, "usage: whale grpo CONFIG [--KEY VALUE]... [--no-export]\n"
               "  GRPO on the R1 tasks from init_from (R1-Zero: a pretrained base; R1: the SFT\n"
               "  model). Writes OUT/checkpoint.bin, OUT/log.jsonl, OUT/reward.svg, OUT/kl.svg,\n"
               "  OUT/model/ (the policy, with its tokenizer).\n"
               "keys (also every key of whale train --help):\n");
    wh_rl_opts_help(f);
}

typedef struct grpo_run {
    post_run p;
    wh_grpo_batch b;
    wh_grpo_ref ref;
    wh_rollout_opts ro;
    wh_grpo_hp hp;
    char policy_dir[1200];
} grpo_run;

/* The policy as an inference model: export + load (timed by the caller). */
static int load_policy(grpo_run *g, wh_model **m, wh_session **s, int n_seq)
{
    wh_error err = {0};
    if (post_export(&g->p, g->policy_dir) != 0)
        return 1;
    if (wh_model_load(g->policy_dir, m, &err) != WH_OK)
        return cli_fail("grpo: the policy export does not load: %s", err.msg);
    wh_session_opts so = {0};
    so.n_ctx = g->p.o.seq_len + 1;
    so.n_seq = n_seq;
    so.n_threads = g->p.o.threads;
    so.exact = 1;
    if (wh_session_new(*m, &so, s, &err) != WH_OK) {
        wh_model_free(*m);
        *m = NULL;
        return cli_fail("grpo: %s", err.msg);
    }
    return 0;
}

static const char *const REWARD_FIELDS[] = {"reward",        "accuracy",  "format",
                                            "zero_var_frac", "clip_frac", "truncated"};
static const char *const KL_FIELDS[] = {"kl", "entropy"};

static int grpo_main(grpo_run *g, int do_export)
{
    post_run *p = &g->p;
    wh_train_opts *o = &p->o;
    wh_rl_opts *rl = &o->rl;
    wh_error err = {0};
    if (rl->prompts <= 0 || rl->group < 2 || rl->group > 256 || rl->mu <= 0)
        return cli_fail("grpo: prompts > 0, 2 <= group <= 256, mu > 0");
    if (rl->clip_eps < 0.0f || rl->clip_eps >= 1.0f || rl->clip_eps_high < 0.0f ||
        rl->kl_beta < 0.0f || rl->temperature < 0.0f)
        return cli_fail("grpo: 0 <= clip_eps < 1, clip_eps_high >= 0, kl_beta >= 0, "
                        "temperature >= 0");
    if (wh_rollout_parse_tasks(&g->ro, rl->tasks, rl->levels, &err) != WH_OK)
        return cli_fail("%s", err.msg);
    g->ro.task_seed = rl->task_seed;
    g->ro.seed = o->seed;
    g->ro.G = rl->group;
    g->ro.max_new_tokens = rl->max_new_tokens;
    g->ro.temperature = rl->temperature;
    g->ro.top_p = rl->top_p;
    g->ro.dynamic_sampling = rl->dynamic_sampling;
    g->ro.max_resample = rl->max_resample;
    g->hp =
        (wh_grpo_hp){rl->clip_eps, rl->clip_eps_high, rl->kl_beta, rl->adv_eps, rl->aggregation};
    /* the schedule counts optimizer updates: mu per rollout step */
    p->t.hp.steps = o->hp.steps * rl->mu;
    int n_seq = rl->prompts * rl->group;
    if (wh_grpo_batch_init(&g->b, n_seq, o->seq_len, rl->group, o->batch, &err) != WH_OK ||
        wh_grpo_ref_init(&g->ref, &p->t.model, &err) != WH_OK)
        return cli_fail("%s", err.msg);
    snprintf(g->policy_dir, sizeof g->policy_dir, "%s/policy", o->out);
    FILE *log = fopen(p->path_log, "w");
    if (log == NULL)
        return cli_fail("%s: cannot open", p->path_log);
    fprintf(stderr,
            "whale grpo: %zu parameters, chat format %s, %d prompts x %d samples a step, "
            "mu %d, eps %.2f/%.2f, beta %.3g, %s-level loss, dynamic sampling %s\n",
            p->t.model.n_params, wh_chat_family_name(p->fam), rl->prompts, rl->group, rl->mu,
            rl->clip_eps, rl->clip_eps_high, rl->kl_beta,
            rl->aggregation == WH_AGG_SEQUENCE ? "sequence" : "token",
            rl->dynamic_sampling ? "on" : "off");
    uint64_t pos = 0;
    int rc = 0;
    double t_start = post_now();
    for (int step = 1; step <= o->hp.steps && rc == 0; step++) {
        double t0 = post_now();
        wh_model *pm = NULL;
        wh_session *s = NULL;
        rc = load_policy(g, &pm, &s, rl->group);
        if (rc != 0)
            break;
        double t_export = post_now() - t0;
        wh_rollout_stats rs;
        if (wh_rollout(pm, s, p->fam, &g->ro, rl->prompts, o->seq_len, &pos, &g->b, &rs, &err) !=
            WH_OK)
            rc = cli_fail("grpo: %s", err.msg);
        wh_session_free(s);
        wh_model_free(pm);
        if (rc != 0)
            break;
        double t1 = post_now();
        wh_grpo_batch *b = &g->b;
        wh_grpo_advantages(b->reward, b->n / b->G, b->G, g->hp.adv_eps, b->adv);
        wh_grpo_coefs(b, g->hp.aggregation);
        double entropy = 0.0;
        wh_grpo_logprobs(&p->t.model, b, b->old_lp, &entropy);
        if (g->hp.kl_beta > 0.0f)
            wh_grpo_ref_logprobs(&g->ref, &p->t.model, b);
        else
            memcpy(b->ref_lp, b->old_lp, (size_t)b->n * b->T * sizeof(float));
        wh_grpo_pass first = {0}, pass = {0};
        double clip_sum = 0.0;
        for (int u = 0; u < rl->mu; u++) {
            wh_trainer_begin(&p->t);
            wh_grpo_loss_grad(&p->t, b, &g->hp, &pass);
            wh_trainer_finish(&p->t, 1);
            if (u == 0)
                first = pass;
            clip_sum += pass.clip_frac;
        }
        if (rl->ref_reset > 0 && step % rl->ref_reset == 0)
            wh_grpo_ref_reset(&g->ref, &p->t.model);
        double t_update = post_now() - t1, dt = post_now() - t0;
        /* statistics of the rollout */
        double rsum = 0, acc = 0, fmt = 0, len_r = 0, len_w = 0, trunc = 0;
        int n_r = 0, n_w = 0;
        long resp_tokens = 0;
        for (int i = 0; i < b->n; i++) {
            rsum += b->reward[i];
            acc += b->correct[i];
            fmt += b->reward[i] - b->correct[i];
            trunc += b->truncated[i];
            resp_tokens += b->len[i];
            if (b->correct[i]) {
                len_r += b->len[i];
                n_r++;
            } else {
                len_w += b->len[i];
                n_w++;
            }
        }
        double n = b->n > 0 ? b->n : 1;
        double zero_var = rs.groups_drawn ? (double)rs.flat_groups / rs.groups_drawn : 0.0;
        double ent = resp_tokens ? entropy / resp_tokens : 0.0;
        if (!isfinite(p->t.grad_norm) || !isfinite(first.loss)) {
            rc = cli_fail("grpo: the loss is not finite at step %d (lower lr?)", step);
            break;
        }
        if (step % o->log_interval == 0 || step == o->hp.steps)
            fprintf(stderr,
                    "grpo step %4d/%d  reward %.3f  acc %.3f  zero-var %.2f  kl %.4f  clip %.3f  "
                    "H %.3f  len %.0f/%.0f  trunc %.2f  |g| %.3f  %.1fs (export %.2fs, rollout "
                    "%.1fs, update %.1fs)  ETA %.0fs\n",
                    step, o->hp.steps, rsum / n, acc / n, zero_var, first.kl, clip_sum / rl->mu,
                    ent, n_r ? len_r / n_r : 0.0, n_w ? len_w / n_w : 0.0, trunc / n,
                    p->t.grad_norm, dt, t_export, rs.seconds, t_update,
                    (post_now() - t_start) / step * (o->hp.steps - step));
        fprintf(log,
                "{\"step\":%d,\"reward\":%.6g,\"accuracy\":%.6g,\"format\":%.6g,"
                "\"zero_var_frac\":%.6g,\"groups_drawn\":%d,\"kl\":%.7g,\"clip_frac\":%.6g,"
                "\"entropy\":%.6g,\"len_correct\":%.2f,\"len_wrong\":%.2f,\"truncated\":%.6g,"
                "\"loss\":%.7g,\"pg\":%.7g,\"ratio_mean\":%.7g,\"grad_norm\":%.7g,\"lr\":%.7g,"
                "\"updates\":%d,\"gen_tokens\":%ld,\"prompts_drawn\":%llu,\"seconds\":%.4f,"
                "\"export_s\":%.4f,\"rollout_s\":%.4f,\"update_s\":%.4f}\n",
                step, rsum / n, acc / n, fmt / n, zero_var, rs.groups_drawn, first.kl,
                clip_sum / rl->mu, ent, n_r ? len_r / n_r : 0.0, n_w ? len_w / n_w : 0.0, trunc / n,
                first.loss, first.pg, pass.ratio_mean, p->t.grad_norm, p->t.lr, p->t.step,
                rs.gen_tokens, (unsigned long long)pos, dt, t_export, rs.seconds, t_update);
        fflush(log);
        p->t.data_pos = pos;
        if (step == o->hp.steps ||
            (o->checkpoint_interval > 0 && step % o->checkpoint_interval == 0)) {
            if (wh_tr_ckpt_save(p->path_ckpt, &p->t, o->seed, 1, &err) != WH_OK)
                rc = cli_fail("%s", err.msg);
        }
    }
    fclose(log);
    char svg[1200];
    snprintf(svg, sizeof svg, "%s/reward.svg", o->out);
    post_plot(p->path_log, svg, "whale grpo", REWARD_FIELDS, 6);
    snprintf(svg, sizeof svg, "%s/kl.svg", o->out);
    post_plot(p->path_log, svg, "whale grpo", KL_FIELDS, 2);
    if (rc == 0 && do_export)
        rc = post_export(p, p->path_model);
    if (rc == 0)
        fprintf(stderr, "done: %d steps, %d updates; %s, %s/reward.svg%s%s\n", o->hp.steps,
                p->t.step, p->path_ckpt, o->out, do_export ? ", " : "",
                do_export ? p->path_model : "");
    return rc;
}

int cmd_grpo(int argc, char **argv)
{
    static grpo_run g;
    memset(&g, 0, sizeof g);
    static const char *const own[] = {"--no-export"};
    int do_export = 1, help = 0;
    for (int i = 1; i < argc; i++) {
        do_export &= strcmp(argv[i], "--no-export") != 0;
        help |= strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0;
    }
    int rc = post_parse(&g.p, argc, argv, own, 1);
    if (rc == 2) {
        grpo_usage(help ? stdout : stderr);
        return help ? 0 : 2;
    }
    if (rc == 0)
        rc = post_setup(&g.p, 1);
    if (rc == 0)
        rc = grpo_main(&g, do_export);
    wh_grpo_batch_free(&g.b);
    wh_grpo_ref_free(&g.ref);
    post_free(&g.p);
    return rc;
}
