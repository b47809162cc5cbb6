/*
 * engine.c — continuous batching (see engine.h). One thread owns the session; each
 * loop iteration (1) admits queued requests into free slots, reusing the longest
 * prompt prefix already cached in a free slot, (2) prefills at most one chunk of one
 * slot's prompt, and (3) decodes one token for every slot in its decode phase in a
 * single batched forward pass. Cancelled requests leave at the next iteration.
 */
#define _POSIX_C_SOURCE 200809L
#include "serve/engine.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/error.h"
#include "runtime/gen_state.h"

#define PREFILL_CHUNK 64

struct wh_request {
    atomic_int refs;
    atomic_int cancel;
    int32_t *prompt;
    int n_prompt;
    wh_gen_params gen;
    char **stops;
    wh_logit_bias *bias; /* own copy of gen.sampler.logit_bias */
    wh_event_cb cb;
    void *user;
    struct wh_request *next;
    double t_submit;
};

typedef struct slot {
    wh_request *req;
    wh_gen_state *gen;
    int phase;       /* 0 free, 1 prefill, 2 decode */
    int n_done;      /* prompt tokens evaluated */
    int32_t next;    /* decode: token to evaluate */
    int32_t *cached; /* tokens held in this slot's cache */
    int n_cached, cap_cached;
    double t_prefilled, t_first;
} slot;

struct wh_engine {
    const wh_model *m;
    wh_session *sess;
    int n_slots, n_ctx, max_queue, vocab;
    slot *slots;
    float *logits; /* [n_slots][V] */
    int *seqs;
    int32_t *toks;
    pthread_t thread;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    wh_request *q_head, *q_tail;
    int n_queued;
    int stop;
    wh_engine_stats st;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void req_free(wh_request *r)
{
    if (r->stops != NULL)
        for (int i = 0; i < r->gen.n_stop; i++)
            wh_free(r->stops[i]);
    wh_free(r->stops);
    wh_free(r->bias);
    wh_free(r->prompt);
    wh_free(r);
}

void wh_request_release(wh_request *r)
{
    if (r != NULL && atomic_fetch_sub(&r->refs, 1) == 1)
        req_free(r);
}

void wh_engine_cancel(wh_request *r)
{
    if (r != NULL)
        atomic_store(&r->cancel, 1);
}

/* ---- events ---- */

static int on_text(void *user, const char *text, size_t len, int is_reasoning)
{
    wh_request *r = user;
    wh_event ev = {WH_EV_TEXT, text, len, is_reasoning, NULL};
    r->cb(r->user, &ev);
    return atomic_load(&r->cancel);
}

static void send_error(wh_request *r, const char *msg)
{
    wh_event ev = {WH_EV_ERROR, msg, strlen(msg), 0, NULL};
    r->cb(r->user, &ev);
}

static void send_done(wh_request *r, const wh_gen_result *res)
{
    wh_event ev = {WH_EV_DONE, NULL, 0, 0, res};
    r->cb(r->user, &ev);
}

/* ---- slots ---- */

static void remember_cache(wh_engine *e, int i)
{
    slot *s = &e->slots[i];
    int n = 0;
    const int32_t *toks = wh_gen_tokens(s->gen, &n);
    int held = wh_session_seq_pos(e->sess, i);
    if (held > n)
        held = n;
    if (held > s->cap_cached) {
        int32_t *p = wh_realloc(s->cached, (size_t)held * sizeof(int32_t));
        if (p == NULL) {
            s->n_cached = 0;
            wh_session_seq_truncate(e->sess, i, 0, NULL);
            return;
        }
        s->cached = p;
        s->cap_cached = held;
    }
    memcpy(s->cached, toks, (size_t)held * sizeof(int32_t));
    s->n_cached = held;
}

static void finish_slot(wh_engine *e, int i, int cancelled)
{
    slot *s = &e->slots[i];
    wh_request *r = s->req;
    if (cancelled)
        wh_gen_cancel(s->gen);
    wh_gen_end(s->gen, on_text, r);
    wh_gen_result *res = wh_gen_result_of(s->gen);
    double t = now_s();
    res->prompt_ms = (s->t_prefilled > 0 ? s->t_prefilled - r->t_submit : 0) * 1e3;
    res->first_token_ms = (s->t_first > 0 ? s->t_first - r->t_submit : 0) * 1e3;
    res->gen_ms = (s->t_prefilled > 0 ? t - s->t_prefilled : 0) * 1e3;
    remember_cache(e, i);
    pthread_mutex_lock(&e->mu);
    e->st.generated_tokens_total += res->n_generated;
    if (res->finish == WH_FINISH_CANCELLED)
        e->st.requests_cancelled++;
    e->st.active--;
    pthread_mutex_unlock(&e->mu);
    send_done(r, res);
    wh_gen_free(s->gen);
    s->gen = NULL;
    s->req = NULL;
    s->phase = 0;
    wh_request_release(r);
}

static void fail_slot(wh_engine *e, int i, const char *msg)
{
    send_error(e->slots[i].req, msg);
    /* the cache state is unknown: forget it */
    wh_session_seq_truncate(e->sess, i, 0, NULL);
    finish_slot(e, i, 1);
    e->slots[i].n_cached = 0;
    wh_session_seq_truncate(e->sess, i, 0, NULL);
}

/* After the last prompt chunk or a decode step: pick the next token. */
static void step_slot(wh_engine *e, int i, float *logits)
{
    slot *s = &e->slots[i];
    int32_t next = 0;
    int done = 0;
    wh_error err = {0};
    int room = e->n_ctx - wh_session_seq_pos(e->sess, i) - 1;
    if (wh_gen_step(s->gen, logits, room, on_text, s->req, &next, &done, &err) != WH_OK) {
        fail_slot(e, i, err.msg);
        return;
    }
    if (s->t_first == 0)
        s->t_first = now_s();
    if (done) {
        finish_slot(e, i, atomic_load(&s->req->cancel));
        return;
    }
    s->next = next;
    s->phase = 2;
}

static int common_prefix(const int32_t *a, int na, const int32_t *b, int nb)
{
    int n = na < nb ? na : nb, i = 0;
    while (i < n && a[i] == b[i])
        i++;
    return i;
}

/* Takes queued requests into free slots (called with the lock held). */
static void admit(wh_engine *e)
{
    while (e->q_head != NULL) {
        wh_request *r = e->q_head;
        if (atomic_load(&r->cancel)) {
            e->q_head = r->next;
            if (e->q_head == NULL)
                e->q_tail = NULL;
            e->n_queued--;
            e->st.requests_cancelled++;
            pthread_mutex_unlock(&e->mu);
            wh_gen_result res;
            memset(&res, 0, sizeof res);
            res.finish = WH_FINISH_CANCELLED;
            send_done(r, &res);
            wh_request_release(r);
            pthread_mutex_lock(&e->mu);
            continue;
        }
        int best = -1, best_lcp = -1;
        for (int i = 0; i < e->n_slots; i++) {
            if (e->slots[i].phase != 0)
                continue;
            int lcp =
                common_prefix(e->slots[i].cached, e->slots[i].n_cached, r->prompt, r->n_prompt);
            if (lcp > best_lcp) {
                best = i;
                best_lcp = lcp;
            }
        }
        if (best < 0)
            return;
        e->q_head = r->next;
        if (e->q_head == NULL)
            e->q_tail = NULL;
        e->n_queued--;
        e->st.active++;
        e->st.prompt_tokens_total += r->n_prompt;
        slot *s = &e->slots[best];
        if (best_lcp >= r->n_prompt)
            best_lcp = r->n_prompt - 1; /* the last prompt token is evaluated for its logits */
        e->st.reused_prompt_tokens_total += best_lcp;
        s->req = r;
        s->phase = 1;
        s->n_done = best_lcp;
        s->t_prefilled = s->t_first = 0;
        pthread_mutex_unlock(&e->mu);
        wh_error err = {0};
        wh_session_seq_truncate(e->sess, best, best_lcp, NULL);
        s->n_cached = best_lcp;
        if (wh_gen_begin(e->m, &r->gen, r->prompt, r->n_prompt, &s->gen, &err) != WH_OK) {
            send_error(r, err.msg);
            wh_gen_result res;
            memset(&res, 0, sizeof res);
            res.finish = WH_FINISH_CANCELLED;
            send_done(r, &res);
            s->req = NULL;
            s->phase = 0;
            wh_request_release(r);
            pthread_mutex_lock(&e->mu);
            e->st.active--;
            continue;
        }
        pthread_mutex_lock(&e->mu);
    }
}

static void *engine_main(void *arg)
{
    wh_engine *e = arg;
    int rr = 0; /* round-robin over slots for prefill */
    for (;;) {
        pthread_mutex_lock(&e->mu);
        for (;;) {
            if (e->stop)
                break;
            int busy = 0;
            for (int i = 0; i < e->n_slots; i++)
                busy |= e->slots[i].phase != 0;
            if (busy || e->q_head != NULL)
                break;
            pthread_cond_wait(&e->cv, &e->mu);
        }
        if (e->stop) {
            pthread_mutex_unlock(&e->mu);
            break;
        }
        admit(e);
        pthread_mutex_unlock(&e->mu);

        /* cancellations */
        for (int i = 0; i < e->n_slots; i++)
            if (e->slots[i].phase != 0 && atomic_load(&e->slots[i].req->cancel))
                finish_slot(e, i, 1);

        double t0 = now_s();
        /* one prefill chunk */
        for (int k = 0; k < e->n_slots; k++) {
            int i = (rr + k) % e->n_slots;
            slot *s = &e->slots[i];
            if (s->phase != 1)
                continue;
            rr = i + 1;
            int n = s->req->n_prompt - s->n_done;
            if (n > PREFILL_CHUNK)
                n = PREFILL_CHUNK;
            int last = s->n_done + n == s->req->n_prompt;
            wh_error err = {0};
            float *lg = e->logits + (size_t)i * e->vocab;
            if (wh_session_eval_seq(e->sess, i, s->req->prompt + s->n_done, n, last ? lg : NULL, 0,
                                    &err) != WH_OK) {
                fail_slot(e, i, err.msg);
                break;
            }
            s->n_done += n;
            if (last) {
                s->t_prefilled = now_s();
                step_slot(e, i, lg);
            }
            break;
        }
        /* one batched decode step */
        int nb = 0;
        for (int i = 0; i < e->n_slots; i++)
            if (e->slots[i].phase == 2) {
                e->seqs[nb] = i;
                e->toks[nb] = e->slots[i].next;
                nb++;
            }
        if (nb > 0) {
            wh_error err = {0};
            if (wh_session_decode_batch(e->sess, e->seqs, e->toks, nb, e->logits, &err) != WH_OK) {
                for (int r = 0; r < nb; r++)
                    fail_slot(e, e->seqs[r], err.msg);
            } else {
                for (int r = 0; r < nb; r++)
                    step_slot(e, e->seqs[r], e->logits + (size_t)r * e->vocab);
            }
        }
        pthread_mutex_lock(&e->mu);
        e->st.busy_seconds += now_s() - t0;
        pthread_mutex_unlock(&e->mu);
    }
    /* shutting down: everything still here is cancelled */
    for (int i = 0; i < e->n_slots; i++)
        if (e->slots[i].phase != 0)
            finish_slot(e, i, 1);
    pthread_mutex_lock(&e->mu);
    while (e->q_head != NULL) {
        wh_request *r = e->q_head;
        e->q_head = r->next;
        e->n_queued--;
        pthread_mutex_unlock(&e->mu);
        wh_gen_result res;
        memset(&res, 0, sizeof res);
        res.finish = WH_FINISH_CANCELLED;
        send_done(r, &res);
        wh_request_release(r);
        pthread_mutex_lock(&e->mu);
    }
    e->q_tail = NULL;
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

void wh_engine_free(wh_engine *e)
{
    if (e == NULL)
        return;
    if (e->started) {
        pthread_mutex_lock(&e->mu);
        e->stop = 1;
        pthread_cond_broadcast(&e->cv);
        pthread_mutex_unlock(&e->mu);
        pthread_join(e->thread, NULL);
    }
    for (int i = 0; i < e->n_slots && e->slots; i++)
        wh_free(e->slots[i].cached);
    wh_free(e->slots);
    wh_free(e->logits);
    wh_free(e->seqs);
    wh_free(e->toks);
    wh_session_free(e->sess);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    wh_free(e);
}

int wh_engine_new(const wh_model *m, const wh_engine_opts *o, wh_engine **out, wh_error *err)
{
    *out = NULL;
    wh_engine_opts opts = {0};
    if (o != NULL)
        opts = *o;
    if (opts.n_slots <= 0)
        opts.n_slots = 4;
    if (opts.max_queue <= 0)
        opts.max_queue = 64;
    if (opts.n_slots > 256)
        return wh_err(err, WH_E_INVALID, "engine: %d slots (at most 256)", opts.n_slots);
    const wh_config *c = wh_model_config(m);
    if (opts.n_ctx <= 0)
        opts.n_ctx = c->max_position_embeddings < 4096 ? c->max_position_embeddings : 4096;
    if (wh_model_tokenizer(m, err) == NULL)
        return wh_err_wrap(err, "engine: the model needs a tokenizer");
    wh_engine *e = wh_calloc(1, sizeof *e);
    if (e == NULL)
        return wh_err(err, WH_E_NOMEM, "engine: out of memory");
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    e->m = m;
    e->n_slots = opts.n_slots;
    e->n_ctx = opts.n_ctx;
    e->max_queue = opts.max_queue;
    e->vocab = c->vocab_size;
    e->st.n_slots = opts.n_slots;
    wh_session_opts so = {.n_ctx = opts.n_ctx, .n_seq = opts.n_slots, .n_threads = opts.n_threads};
    int rc = wh_session_new(m, &so, &e->sess, err);
    if (rc == WH_OK) {
        e->slots = wh_calloc((size_t)e->n_slots, sizeof(slot));
        e->logits = wh_malloc((size_t)e->n_slots * (size_t)e->vocab * sizeof(float));
        e->seqs = wh_calloc((size_t)e->n_slots, sizeof(int));
        e->toks = wh_calloc((size_t)e->n_slots, sizeof(int32_t));
        if (e->slots == NULL || e->logits == NULL || e->seqs == NULL || e->toks == NULL)
            rc = wh_err(err, WH_E_NOMEM, "engine: out of memory");
    }
    if (rc == WH_OK && pthread_create(&e->thread, NULL, engine_main, e) != 0)
        rc = wh_err(err, WH_E_IO, "engine: cannot start its thread");
    if (rc != WH_OK) {
        wh_engine_free(e);
        return rc;
    }
    e->started = 1;
    *out = e;
    return WH_OK;
}

int wh_engine_submit(wh_engine *e, const wh_request_params *p, wh_event_cb cb, void *user,
                     wh_request **out, wh_error *err)
{
    *out = NULL;
    if (p->n_prompt <= 0 || p->prompt == NULL)
        return wh_err(err, WH_E_INVALID, "request: empty prompt");
    if (p->n_prompt + 1 > e->n_ctx)
        return wh_err(err, WH_E_INVALID,
                      "request: the prompt has %d tokens; this server's context is %d tokens",
                      p->n_prompt, e->n_ctx);
    if (p->gen.max_tokens < 0 || p->gen.n_stop < 0 || p->gen.n_stop > 16)
        return wh_err(err, WH_E_INVALID, "request: bad max_tokens or stop list");
    for (int i = 0; i < p->n_prompt; i++)
        if (p->prompt[i] < 0 || p->prompt[i] >= e->vocab)
            return wh_err(err, WH_E_INVALID, "request: token %d outside the vocabulary",
                          p->prompt[i]);
    wh_request *r = wh_calloc(1, sizeof *r);
    if (r == NULL)
        return wh_err(err, WH_E_NOMEM, "request: out of memory");
    atomic_init(&r->refs, 2);
    atomic_init(&r->cancel, 0);
    r->prompt = wh_malloc((size_t)p->n_prompt * sizeof(int32_t));
    r->gen = p->gen;
    if (p->gen.n_stop > 0)
        r->stops = wh_calloc((size_t)p->gen.n_stop, sizeof(char *));
    int nb = p->gen.sampler.n_logit_bias;
    if (nb < 0 || nb > 1 << 20 || (nb > 0 && p->gen.sampler.logit_bias == NULL)) {
        req_free(r);
        return wh_err(err, WH_E_INVALID, "request: bad logit_bias");
    }
    if (nb > 0) {
        r->bias = wh_calloc((size_t)nb, sizeof *r->bias);
        if (r->bias != NULL)
            memcpy(r->bias, p->gen.sampler.logit_bias, (size_t)nb * sizeof *r->bias);
    }
    int ok = r->prompt != NULL && (p->gen.n_stop == 0 || r->stops != NULL) &&
             (nb == 0 || r->bias != NULL);
    for (int i = 0; ok && i < p->gen.n_stop; i++) {
        r->stops[i] = wh_strdup(p->gen.stop[i]);
        ok = r->stops[i] != NULL;
    }
    if (!ok) {
        req_free(r);
        return wh_err(err, WH_E_NOMEM, "request: out of memory");
    }
    memcpy(r->prompt, p->prompt, (size_t)p->n_prompt * sizeof(int32_t));
    r->n_prompt = p->n_prompt;
    r->gen.stop = (const char *const *)r->stops;
    r->gen.sampler.logit_bias = r->bias;
    r->cb = cb;
    r->user = user;
    r->t_submit = now_s();
    pthread_mutex_lock(&e->mu);
    if (e->n_queued >= e->max_queue) {
        pthread_mutex_unlock(&e->mu);
        req_free(r);
        return wh_err(err, WH_E_BUSY, "server busy: %d requests are waiting already", e->max_queue);
    }
    if (e->q_tail)
        e->q_tail->next = r;
    else
        e->q_head = r;
    e->q_tail = r;
    e->n_queued++;
    e->st.requests_total++;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
    *out = r;
    return WH_OK;
}

void wh_engine_stats_get(wh_engine *e, wh_engine_stats *st)
{
    pthread_mutex_lock(&e->mu);
    *st = e->st;
    st->queued = e->n_queued;
    pthread_mutex_unlock(&e->mu);
}
