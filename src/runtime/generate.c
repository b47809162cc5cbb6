/*
 * generate.c — the generation loop shared by `whale run`, `whale chat` and the
 * server: prompt prefill, sampling, streaming decode, the R1 reasoning split
 * (<think>…</think>), a thinking budget, stop strings and end-of-sequence.
 */
#define _POSIX_C_SOURCE 200809L
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/error.h"
#include "model/model.h"
#include "whale.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

typedef struct answer_buf {
    char *p;
    size_t n, cap, emitted; /* text before `emitted` has gone to the callback */
} answer_buf;

static int ab_append(answer_buf *b, const char *t, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *np = wh_realloc(b->p, cap);
        if (np == NULL)
            return 0;
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, t, n);
    b->n += n;
    b->p[b->n] = '\0';
    return 1;
}

/* Answer text is held back while it could still be the start of a stop string.
 * Returns 1 if a stop string completed (text before it is emitted). */
static int flush_answer(answer_buf *b, const wh_gen_params *p, wh_gen_cb cb, void *user,
                        int final, int *cancel)
{
    size_t safe = b->n;
    for (int i = 0; i < p->n_stop; i++) {
        const char *st = p->stop[i];
        size_t sl = strlen(st);
        if (sl == 0)
            continue;
        const char *hit = NULL;
        for (size_t k = b->emitted > sl ? b->emitted - sl : 0; k + sl <= b->n; k++)
            if (memcmp(b->p + k, st, sl) == 0) {
                hit = b->p + k;
                break;
            }
        if (hit != NULL) {
            size_t upto = (size_t)(hit - b->p);
            if (upto > b->emitted && cb && cb(user, b->p + b->emitted, upto - b->emitted, 0))
                *cancel = 1;
            b->emitted = upto;
            return 1;
        }
        if (!final) {
            /* longest suffix of the text that is a prefix of the stop string */
            for (size_t k = sl - 1; k > 0; k--)
                if (k <= b->n && memcmp(b->p + b->n - k, st, k) == 0) {
                    if (b->n - k < safe)
                        safe = b->n - k;
                    break;
                }
        }
    }
    if (safe > b->emitted) {
        if (cb && cb(user, b->p + b->emitted, safe - b->emitted, 0))
            *cancel = 1;
        b->emitted = safe;
    }
    return 0;
}

int wh_generate(wh_session *s, const wh_model *m, const int32_t *prompt, int n_prompt,
                const wh_gen_params *p, wh_gen_cb cb, void *user, wh_gen_result *res,
                wh_error *err)
{
    memset(res, 0, sizeof *res);
    const wh_tokenizer *tok = wh_model_tokenizer(m, err);
    if (tok == NULL)
        return err ? err->code : WH_E_MISSING;
    int V = m->cfg.vocab_size;
    if (n_prompt <= 0)
        return wh_err(err, WH_E_INVALID, "generate: empty prompt");
    wh_sampler *smp = NULL;
    wh_tokstream *ts = NULL;
    float *logits = wh_malloc((size_t)V * sizeof(float));
    int cap_hist = n_prompt + (p->max_tokens > 0 ? p->max_tokens : 0) + 8;
    int32_t *hist = wh_malloc((size_t)cap_hist * sizeof(int32_t));
    answer_buf ab = {0};
    int rc = WH_OK;
    if (logits == NULL || hist == NULL) {
        rc = wh_err(err, WH_E_NOMEM, "generate: out of memory");
        goto done;
    }
    if ((rc = wh_sampler_new(&p->sampler, V, &smp, err)) != WH_OK)
        goto done;
    if ((rc = wh_tokstream_new(tok, WH_TOK_SKIP_SPECIAL, &ts, err)) != WH_OK)
        goto done;
    memcpy(hist, prompt, (size_t)n_prompt * sizeof(int32_t));
    int n_hist = n_prompt;

    double t0 = now_ms();
    if ((rc = wh_session_eval(s, prompt, n_prompt, logits, 0, err)) != WH_OK)
        goto done;
    res->n_prompt = n_prompt;
    res->prompt_ms = now_ms() - t0;
    t0 = now_ms();

    int32_t eos = wh_tokenizer_eos(tok), eos2 = m->cfg.eos_token_id;
    int32_t th_open = wh_tokenizer_think_open(tok), th_close = wh_tokenizer_think_close(tok);
    int in_think = p->starts_in_reasoning && th_close >= 0;
    int n_think = 0, cancel = 0;
    int32_t forced[16];
    int n_forced = 0, forced_at = 0;
    res->finish = WH_FINISH_LENGTH;
    for (int i = 0; i < p->max_tokens; i++) {
        int32_t next;
        if (forced_at < n_forced) {
            next = forced[forced_at++];
        } else {
            next = wh_sampler_sample(smp, logits, hist, n_hist);
        }
        if (i == 0)
            res->first_token_ms = now_ms() - t0 + res->prompt_ms;
        res->n_generated++;
        hist[n_hist++] = next;
        if (next == eos || next == eos2) {
            res->finish = WH_FINISH_STOP;
            break;
        }
        if (next == th_open && !in_think && ab.n == 0) {
            in_think = 1;
        } else if (next == th_close && in_think) {
            in_think = 0;
            res->n_reasoning++;
        } else {
            const char *txt = NULL;
            size_t len = 0;
            if ((rc = wh_tokstream_push(ts, next, &txt, &len, err)) != WH_OK)
                goto done;
            if (in_think) {
                res->n_reasoning++;
                n_think++;
                if (len > 0 && cb && cb(user, txt, len, 1))
                    cancel = 1;
                if (p->think_budget >= 0 && n_think >= p->think_budget && n_forced == 0) {
                    /* close the thought: "\n</think>\n\n" */
                    int32_t *ids = NULL;
                    size_t nid = 0;
                    if (wh_tokenizer_encode(tok, "\n", 1, 0, &ids, &nid, NULL) == WH_OK &&
                        nid <= 4) {
                        for (size_t k = 0; k < nid; k++)
                            forced[n_forced++] = ids[k];
                    }
                    wh_free(ids);
                    forced[n_forced++] = th_close;
                    ids = NULL;
                    if (wh_tokenizer_encode(tok, "\n\n", 2, 0, &ids, &nid, NULL) == WH_OK &&
                        nid <= 4)
                        for (size_t k = 0; k < nid; k++)
                            forced[n_forced++] = ids[k];
                    wh_free(ids);
                }
            } else if (len > 0) {
                if (!ab_append(&ab, txt, len)) {
                    rc = wh_err(err, WH_E_NOMEM, "generate: out of memory");
                    goto done;
                }
                if (flush_answer(&ab, p, cb, user, 0, &cancel)) {
                    res->finish = WH_FINISH_STOP;
                    break;
                }
            }
        }
        if (cancel) {
            res->finish = WH_FINISH_CANCELLED;
            break;
        }
        if (i + 1 == p->max_tokens)
            break;
        if (wh_session_pos(s) + 1 > wh_session_ctx(s)) {
            res->finish = WH_FINISH_CONTEXT;
            break;
        }
        if ((rc = wh_session_eval(s, &next, 1, logits, 0, err)) != WH_OK)
            goto done;
    }
    if (!cancel && res->finish != WH_FINISH_STOP) {
        const char *txt = NULL;
        size_t len = 0;
        wh_tokstream_flush(ts, &txt, &len);
        if (len > 0 && in_think && cb)
            cb(user, txt, len, 1);
        else if (len > 0 && ab_append(&ab, txt, len))
            flush_answer(&ab, p, cb, user, 1, &cancel);
        else
            flush_answer(&ab, p, cb, user, 1, &cancel);
    }
    res->gen_ms = now_ms() - t0;
done:
    wh_free(ab.p);
    wh_tokstream_free(ts);
    wh_sampler_free(smp);
    wh_free(hist);
    wh_free(logits);
    return rc;
}
