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
#include "runtime/gen_state.h"
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
static int flush_answer(answer_buf *b, const wh_gen_params *p, wh_gen_cb cb, void *user, int final,
                        int *cancel)
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

struct wh_gen_state {
    const wh_model *m;
    const wh_tokenizer *tok;
    wh_gen_params p;
    wh_sampler *smp;
    wh_tokstream *ts;
    int32_t *hist;
    int n_hist, cap_hist;
    answer_buf ab;
    int32_t eos, eos2, th_open, th_close;
    int in_think, n_think, ended;
    int32_t forced[16];
    int n_forced, forced_at;
    wh_gen_result res;
};

void wh_gen_free(wh_gen_state *g)
{
    if (g == NULL)
        return;
    wh_free(g->ab.p);
    wh_tokstream_free(g->ts);
    wh_sampler_free(g->smp);
    wh_free(g->hist);
    wh_free(g);
}

int wh_gen_begin(const wh_model *m, const wh_gen_params *p, const int32_t *prompt, int n_prompt,
                 wh_gen_state **out, wh_error *err)
{
    *out = NULL;
    const wh_tokenizer *tok = wh_model_tokenizer(m, err);
    if (tok == NULL)
        return err ? err->code : WH_E_MISSING;
    if (n_prompt <= 0)
        return wh_err(err, WH_E_INVALID, "generate: empty prompt");
    if (p->max_tokens < 0)
        return wh_err(err, WH_E_INVALID, "generate: max_tokens %d", p->max_tokens);
    wh_gen_state *g = wh_calloc(1, sizeof *g);
    if (g == NULL)
        return wh_err(err, WH_E_NOMEM, "generate: out of memory");
    g->m = m;
    g->tok = tok;
    g->p = *p;
    g->cap_hist = n_prompt + p->max_tokens + 8;
    g->hist = wh_malloc((size_t)g->cap_hist * sizeof(int32_t));
    int rc = WH_OK;
    if (g->hist == NULL)
        rc = wh_err(err, WH_E_NOMEM, "generate: out of memory");
    if (rc == WH_OK)
        rc = wh_sampler_new(&p->sampler, m->cfg.vocab_size, &g->smp, err);
    if (rc == WH_OK)
        rc = wh_tokstream_new(tok, WH_TOK_SKIP_SPECIAL, &g->ts, err);
    if (rc != WH_OK) {
        wh_gen_free(g);
        return rc;
    }
    memcpy(g->hist, prompt, (size_t)n_prompt * sizeof(int32_t));
    g->n_hist = n_prompt;
    g->eos = wh_tokenizer_eos(tok);
    g->eos2 = m->cfg.eos_token_id;
    g->th_open = wh_tokenizer_think_open(tok);
    g->th_close = wh_tokenizer_think_close(tok);
    g->in_think = p->starts_in_reasoning && g->th_close >= 0;
    g->res.n_prompt = n_prompt;
    g->res.finish = WH_FINISH_LENGTH;
    *out = g;
    return WH_OK;
}

static void close_thought(wh_gen_state *g)
{
    int32_t *ids = NULL;
    size_t nid = 0;
    if (wh_tokenizer_encode(g->tok, "\n", 1, 0, &ids, &nid, NULL) == WH_OK && nid <= 4)
        for (size_t k = 0; k < nid; k++)
            g->forced[g->n_forced++] = ids[k];
    wh_free(ids);
    g->forced[g->n_forced++] = g->th_close;
    ids = NULL;
    if (wh_tokenizer_encode(g->tok, "\n\n", 2, 0, &ids, &nid, NULL) == WH_OK && nid <= 4)
        for (size_t k = 0; k < nid; k++)
            g->forced[g->n_forced++] = ids[k];
    wh_free(ids);
}

int wh_gen_step(wh_gen_state *g, float *logits, int room, wh_gen_cb cb, void *user,
                int32_t *next_out, int *done, wh_error *err)
{
    *done = 0;
    if (g->res.n_generated >= g->p.max_tokens) {
        g->res.finish = WH_FINISH_LENGTH;
        *done = 1;
        return WH_OK;
    }
    int32_t next;
    if (g->forced_at < g->n_forced)
        next = g->forced[g->forced_at++];
    else
        next = wh_sampler_sample(g->smp, logits, g->hist, g->n_hist);
    *next_out = next;
    g->res.n_generated++;
    g->hist[g->n_hist++] = next;
    int cancel = 0;
    if (next == g->eos || next == g->eos2) {
        g->res.finish = WH_FINISH_STOP;
        *done = 1;
        return WH_OK;
    }
    if (next == g->th_open && !g->in_think && g->ab.n == 0) {
        g->in_think = 1;
    } else if (next == g->th_close && g->in_think) {
        g->in_think = 0;
        g->res.n_reasoning++;
    } else {
        const char *txt = NULL;
        size_t len = 0;
        int rc = wh_tokstream_push(g->ts, next, &txt, &len, err);
        if (rc != WH_OK)
            return rc;
        if (g->in_think) {
            g->res.n_reasoning++;
            g->n_think++;
            if (len > 0 && cb && cb(user, txt, len, 1))
                cancel = 1;
            if (g->p.think_budget >= 0 && g->n_think >= g->p.think_budget && g->n_forced == 0)
                close_thought(g);
        } else if (len > 0) {
            if (!ab_append(&g->ab, txt, len))
                return wh_err(err, WH_E_NOMEM, "generate: out of memory");
            if (flush_answer(&g->ab, &g->p, cb, user, 0, &cancel)) {
                g->res.finish = WH_FINISH_STOP;
                g->ended = 1;
                *done = 1;
                return WH_OK;
            }
        }
    }
    if (cancel) {
        g->res.finish = WH_FINISH_CANCELLED;
        g->ended = 1;
        *done = 1;
    } else if (g->res.n_generated >= g->p.max_tokens) {
        g->res.finish = WH_FINISH_LENGTH;
        *done = 1;
    } else if (room <= 0) {
        g->res.finish = WH_FINISH_CONTEXT;
        *done = 1;
    }
    return WH_OK;
}

void wh_gen_cancel(wh_gen_state *g)
{
    g->res.finish = WH_FINISH_CANCELLED;
    g->ended = 1;
}

void wh_gen_end(wh_gen_state *g, wh_gen_cb cb, void *user)
{
    if (g->ended || g->res.finish == WH_FINISH_STOP) {
        g->ended = 1;
        return;
    }
    g->ended = 1;
    int cancel = 0;
    const char *txt = NULL;
    size_t len = 0;
    wh_tokstream_flush(g->ts, &txt, &len);
    if (len > 0 && g->in_think) {
        if (cb)
            cb(user, txt, len, 1);
        len = 0;
    }
    if (len > 0)
        ab_append(&g->ab, txt, len);
    flush_answer(&g->ab, &g->p, cb, user, 1, &cancel);
}

wh_gen_result *wh_gen_result_of(wh_gen_state *g)
{
    return &g->res;
}

const int32_t *wh_gen_tokens(const wh_gen_state *g, int *n)
{
    *n = g->n_hist;
    return g->hist;
}

int wh_generate(wh_session *s, const wh_model *m, const int32_t *prompt, int n_prompt,
                const wh_gen_params *p, wh_gen_cb cb, void *user, wh_gen_result *res, wh_error *err)
{
    memset(res, 0, sizeof *res);
    wh_gen_state *g = NULL;
    int rc = wh_gen_begin(m, p, prompt, n_prompt, &g, err);
    if (rc != WH_OK)
        return rc;
    float *logits = wh_malloc((size_t)m->cfg.vocab_size * sizeof(float));
    if (logits == NULL) {
        wh_gen_free(g);
        return wh_err(err, WH_E_NOMEM, "generate: out of memory");
    }
    double t0 = now_ms();
    rc = wh_session_eval(s, prompt, n_prompt, logits, 0, err);
    g->res.prompt_ms = now_ms() - t0;
    t0 = now_ms();
    int done = 0;
    while (rc == WH_OK && !done) {
        int32_t next;
        int room = wh_session_ctx(s) - wh_session_pos(s);
        rc = wh_gen_step(g, logits, room - 1, cb, user, &next, &done, err);
        if (g->res.n_generated == 1 && g->res.first_token_ms == 0)
            g->res.first_token_ms = now_ms() - t0 + g->res.prompt_ms;
        if (rc == WH_OK && !done)
            rc = wh_session_eval(s, &next, 1, logits, 0, err);
    }
    if (rc == WH_OK)
        wh_gen_end(g, cb, user);
    g->res.gen_ms = now_ms() - t0;
    *res = g->res;
    wh_free(logits);
    wh_gen_free(g);
    return rc;
}
