/*
 * rollout.c — groups of sampled responses to R1 task prompts, scored by the rule-based
 * rewards (DeepSeekMath §4.1 GRPO sampling; DeepSeek-R1 §2.2.2 rewards, §2.4 teacher
 * traces; DAPO §3.2 dynamic sampling). Contract: rollout.h.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/error.h"
#include "runtime/gen_state.h"
#include "train/rollout.h"
#include "train/sft.h"

int wh_rollout_parse_tasks(wh_rollout_opts *o, const char *tasks, const char *levels, wh_error *err)
{
    o->n_fams = 0;
    if (strcmp(tasks, "all") == 0 || tasks[0] == '\0') {
        for (int f = 0; f < WH_TASK_N_FAMILIES; f++)
            o->fams[o->n_fams++] = (wh_task_family)f;
    } else {
        const char *p = tasks;
        while (*p) {
            const char *e = strchr(p, ',');
            size_t n = e ? (size_t)(e - p) : strlen(p);
            char name[32];
            if (n == 0 || n >= sizeof name)
                return wh_err(err, WH_E_INVALID, "tasks = \"%s\": empty or long name", tasks);
            memcpy(name, p, n);
            name[n] = '\0';
            int f = wh_task_family_parse(name);
            if (f < 0 || o->n_fams >= WH_TASK_N_FAMILIES)
                return wh_err(err, WH_E_INVALID,
                              "tasks = \"%s\": unknown family \"%s\" "
                              "(arith, countdown, sort, all)",
                              tasks, name);
            o->fams[o->n_fams++] = (wh_task_family)f;
            p = e ? e + 1 : p + n;
        }
    }
    char *end = NULL;
    long lo = strtol(levels, &end, 10), hi = lo;
    if (end != levels && *end == '-')
        hi = strtol(end + 1, &end, 10);
    if (end == levels || *end || lo < 1 || hi < lo || hi > WH_TASK_LEVEL_MAX)
        return wh_err(err, WH_E_INVALID, "levels = \"%s\": want L or LO-HI within 1..%d", levels,
                      WH_TASK_LEVEL_MAX);
    o->level_lo = (int)lo;
    o->level_hi = (int)hi;
    return o->n_fams > 0 ? WH_OK : wh_err(err, WH_E_INVALID, "tasks: none given");
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One group: G samples of one prompt. gs[G] and logits [G][V] are the caller's. */
static int sample_group(const wh_model *m, wh_session *s, const int32_t *ids, int np,
                        const wh_gen_params *gp0, const wh_rollout_opts *o, uint64_t k,
                        wh_gen_state **gs, float *logits, float *blog, int *seqs, int32_t *toks,
                        wh_error *err)
{
    int G = o->G, V = wh_model_config(m)->vocab_size, rc = WH_OK;
    for (int j = 0; j < G && rc == WH_OK; j++) {
        wh_gen_params gp = *gp0;
        gp.sampler.seed = wh_task_mix(o->seed, k, (uint64_t)j, 0x5eed);
        rc = wh_session_seq_truncate(s, j, 0, err);
        if (rc == WH_OK && np > 1)
            rc = wh_session_eval_seq(s, j, ids, np - 1, NULL, 0, err);
        if (rc == WH_OK)
            rc = wh_gen_begin(m, &gp, ids + np - 1, 1, &gs[j], err);
        if (rc == WH_OK)
            rc = wh_session_eval_seq(s, j, ids + np - 1, 1, logits + (size_t)j * V, 0, err);
    }
    int *active = seqs + G;
    for (int j = 0; j < G; j++)
        active[j] = rc == WH_OK;
    while (rc == WH_OK) {
        int n = 0;
        for (int j = 0; j < G && rc == WH_OK; j++) {
            if (!active[j])
                continue;
            int done = 0;
            int32_t next = 0;
            int room = wh_session_ctx(s) - wh_session_seq_pos(s, j);
            rc =
                wh_gen_step(gs[j], logits + (size_t)j * V, room - 1, NULL, NULL, &next, &done, err);
            if (rc != WH_OK || done) {
                active[j] = 0;
                continue;
            }
            seqs[n] = j;
            toks[n] = next;
            n++;
        }
        if (rc != WH_OK || n == 0)
            break;
        rc = wh_session_decode_batch(s, seqs, toks, n, blog, err);
        for (int i = 0; i < n && rc == WH_OK; i++)
            memcpy(logits + (size_t)seqs[i] * V, blog + (size_t)i * V, (size_t)V * sizeof(float));
    }
    return rc;
}

int wh_rollout(const wh_model *m, wh_session *s, wh_chat_family fam, const wh_rollout_opts *o,
               int n_groups, int T, uint64_t *pos, wh_grpo_batch *b, wh_rollout_stats *st,
               wh_error *err)
{
    double t0 = now_s();
    memset(st, 0, sizeof *st);
    const wh_tokenizer *tok = wh_model_tokenizer(m, err);
    if (tok == NULL)
        return wh_err(err, WH_E_MISSING, "rollout: the policy model has no tokenizer");
    int G = o->G, V = wh_model_config(m)->vocab_size;
    if (G < 1 || G > wh_session_n_seq(s) || wh_session_ctx(s) < T + 1)
        return wh_err(err, WH_E_INVALID,
                      "rollout: the session needs %d sequences of %d "
                      "positions",
                      G, T + 1);
    wh_gen_state **gs = wh_calloc((size_t)G, sizeof *gs);
    float *logits = wh_malloc((size_t)2 * G * V * sizeof(float));
    int *seqs = wh_malloc((size_t)2 * G * sizeof(int));
    int32_t *toks = wh_malloc((size_t)G * sizeof(int32_t));
    if (!gs || !logits || !seqs || !toks) {
        wh_free(gs), wh_free(logits), wh_free(seqs), wh_free(toks);
        return wh_err(err, WH_E_NOMEM, "rollout: out of memory");
    }
    const char *prefix = wh_r1_score_prefix(fam);
    size_t pl = strlen(prefix);
    int nl = o->level_hi - o->level_lo + 1, done_groups = 0, resampled = 0, rc = WH_OK;
    if (b)
        b->n = 0;
    while (done_groups < n_groups && rc == WH_OK) {
        uint64_t k = (*pos)++;
        wh_task task;
        wh_task_make(o->fams[k % (uint64_t)o->n_fams],
                     o->level_lo + (int)((k / (uint64_t)o->n_fams) % (uint64_t)nl), WH_SPLIT_TRAIN,
                     (o->task_seed << 32) + k, &task);
        wh_chat_msg msg;
        memset(&msg, 0, sizeof msg);
        msg.role = "user";
        msg.content = task.prompt;
        int32_t *ids = NULL;
        size_t np = 0;
        rc = wh_chat_encode(tok, fam, &msg, 1, 1, &ids, &np, err);
        if (rc != WH_OK)
            break;
        int room = T + 1 - (int)np;
        if (room < 2) {
            wh_free(ids);
            rc = wh_err(err, WH_E_INVALID,
                        "rollout: the prompt of %s level %d takes %zu tokens, "
                        "seq_len %d leaves no room for a response",
                        wh_task_family_name(task.family), task.level, np, T);
            break;
        }
        wh_gen_params gp;
        memset(&gp, 0, sizeof gp);
        gp.sampler = wh_sampler_defaults();
        gp.sampler.temperature = o->temperature;
        gp.sampler.top_p = o->top_p;
        gp.max_tokens =
            o->max_new_tokens > 0 && o->max_new_tokens < room ? o->max_new_tokens : room;
        gp.think_budget = -1;
        gp.starts_in_reasoning = pl > 0;
        memset(gs, 0, (size_t)G * sizeof *gs);
        rc = sample_group(m, s, ids, (int)np, &gp, o, k, gs, logits, logits + (size_t)G * V, seqs,
                          toks, err);
        float rw[256];
        int base = b ? b->n : 0, all_equal = 1;
        for (int j = 0; j < G && rc == WH_OK; j++) {
            int n_all = 0;
            wh_gen_end(gs[j], NULL, NULL);
            const int32_t *all = wh_gen_tokens(gs[j], &n_all);
            const wh_gen_result *res = wh_gen_result_of(gs[j]);
            int nr = n_all - 1; /* all[0] is the last prompt token */
            st->gen_tokens += nr;
            char *text = NULL;
            size_t len = 0;
            rc = wh_tokenizer_decode(tok, all + 1, (size_t)nr, WH_TOK_SKIP_SPECIAL, &text, &len,
                                     err);
            if (rc != WH_OK)
                break;
            char *full = wh_malloc(pl + len + 1);
            if (full == NULL) {
                wh_free(text);
                rc = wh_err(err, WH_E_NOMEM, "rollout: out of memory");
                break;
            }
            memcpy(full, prefix, pl);
            memcpy(full + pl, text, len);
            full[pl + len] = '\0';
            wh_free(text);
            wh_r1_score sc;
            wh_r1_score_response(&task, full, pl + len, WH_R1_THINK, &sc);
            if (o->on_sample)
                o->on_sample(o->user, &task, full, pl + len, &sc);
            wh_free(full);
            float r = wh_r1_reward(&sc);
            if (j < 256)
                rw[j] = r;
            all_equal &= r == rw[0];
            if (b == NULL)
                continue;
            int i = base + j, Tn = b->T;
            int *tk = b->tokens + (size_t)i * Tn, *tg = b->targets + (size_t)i * Tn;
            for (int t = 0; t < Tn; t++) {
                int at = t + 1; /* index of the target in prompt ++ response */
                int32_t cur = t < (int)np               ? ids[t]
                              : t - (int)np + 1 < n_all ? all[t - (int)np + 1]
                                                        : -1;
                int32_t nxt = at < (int)np               ? ids[at]
                              : at - (int)np + 1 < n_all ? all[at - (int)np + 1]
                                                         : -1;
                tk[t] = cur;
                tg[t] = at >= (int)np && cur >= 0 ? nxt : -1;
            }
            b->reward[i] = r;
            b->correct[i] = sc.correct;
            b->truncated[i] = res->finish != WH_FINISH_STOP;
        }
        for (int j = 0; j < G; j++)
            wh_gen_free(gs[j]);
        wh_free(ids);
        if (rc != WH_OK)
            break;
        st->groups_drawn++;
        st->flat_groups += all_equal && G > 1;
        if (all_equal && G > 1 && o->dynamic_sampling && resampled < o->max_resample) {
            resampled++; /* DAPO dynamic sampling: no signal, draw another prompt */
            continue;
        }
        if (b)
            b->n += G;
        done_groups++;
    }
    wh_free(gs), wh_free(logits), wh_free(seqs), wh_free(toks);
    st->seconds = now_s() - t0;
    return rc;
}
