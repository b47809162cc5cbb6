/*
 * http.c — `whale serve`'s HTTP server on libmicrohttpd (see http.h).
 *
 * A completion request becomes a job: n engine requests (choice i has seed + i)
 * whose event callbacks append text to the job's log under its mutex and signal its
 * condition variable. A non-streamed request waits in its handler for every choice's
 * DONE, then answers with one JSON body. A streamed one answers at once with an SSE
 * response whose content reader waits on the same log, turns new text into
 * "data: {...}" chunks and ends with "data: [DONE]". Both wait in 100 ms slices and
 * between slices look at the socket: a client that has gone cancels its requests.
 *
 * Lifetime of a job: one reference for the HTTP side (dropped when the response is
 * freed, or when the handler returns) and one per submitted engine request (dropped
 * on its DONE event); the last one frees it. The HTTP side releases its wh_request
 * handles itself, so the engine thread never calls back into the engine.
 *
 * Slow clients: libmicrohttpd's connection timeout only closes a connection that is
 * idle that long, so a client sending one byte every few seconds would hold its
 * thread for ever. Every connection therefore also has a deadline by which its
 * request's headers and body must have arrived (see "receive deadlines" below).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include "base/error.h"
#include "serve/api.h"
#include "serve/http.h"
#include "serve/metrics.h"

#define WAIT_SLICE_MS 100
#define STREAM_BLOCK 4096
#define DEFAULT_TIMEOUT_S 30
#define WATCHDOG_MS 250
#define LINGER_MS 2000

/* A connection still receiving its request, watched for its deadline. */
typedef struct watch {
    struct watch *prev, *next;
    int fd;
    int receiving; /* 0 once the whole request is in (the answer is under way) */
    int dropped;   /* the watchdog has shut its socket down */
    int linked;    /* in wh_http.watches */
    double deadline;
} watch;

struct wh_http {
    struct MHD_Daemon *d;
    wh_http_opts o;
    wh_metrics *metrics;
    atomic_int ready, stopping;
    wh_http_model m;
    char model_id[256];
    long long created;
    atomic_ullong counter; /* ids and default seeds */
    uint64_t salt;
    int port;
    /* receive deadlines: the watched connections and the watchdog thread */
    pthread_mutex_t wmu;
    pthread_cond_t wcv;
    watch *watches;
    int wd_stop;
    pthread_t wd;
};

/* ---- jobs: the log the engine thread writes and the HTTP thread reads ---- */

typedef struct seg {
    int choice, reasoning;
    size_t off, len; /* into the log's text */
} seg;

typedef struct job job;

typedef struct choice_ref {
    job *j;
    int index;
} choice_ref;

struct job {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;
    int n; /* choices */
    wh_request *req[WH_API_MAX_N];
    choice_ref cref[WH_API_MAX_N];
    /* the log (under mu) */
    char *text;
    size_t tlen, tcap;
    seg *segs;
    int nseg, capseg;
    int done[WH_API_MAX_N];
    wh_gen_result res[WH_API_MAX_N];
    int n_done;
    int failed, oom;
    char error[256];
    /* HTTP side only */
    wh_api_kind kind;
    int reasoning_model, include_usage, n_prompt;
    char id[48];
    char model[256];
    long long created;
    const atomic_int *stopping;
    struct MHD_Connection *conn;
    int started, finished;       /* stream: role chunks sent, [DONE] queued */
    int done_seen[WH_API_MAX_N]; /* stream: finish chunk sent */
    wh_logit_bias *bias;         /* the engine reads it until DONE (engine.h copies only stops) */
    char *out;                   /* stream: formatted bytes not yet handed to MHD */
    size_t out_len, out_off, out_cap;
    double heartbeat_s, last_sent; /* stream: SSE comment after this long without bytes */
};

static void job_unref(job *j)
{
    pthread_mutex_lock(&j->mu);
    int last = --j->refs == 0;
    pthread_mutex_unlock(&j->mu);
    if (!last)
        return;
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j->text);
    free(j->segs);
    free(j->out);
    free(j->bias);
    free(j);
}

static job *job_new(void)
{
    job *j = calloc(1, sizeof *j);
    if (j == NULL)
        return NULL;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int ok = pthread_mutex_init(&j->mu, NULL) == 0;
    if (ok && pthread_cond_init(&j->cv, &ca) != 0) {
        pthread_mutex_destroy(&j->mu);
        ok = 0;
    }
    pthread_condattr_destroy(&ca);
    if (!ok) {
        free(j);
        return NULL;
    }
    j->refs = 1;
    return j;
}

/* Appends text to the log, merging with the previous segment when it continues it. */
static int log_append(job *j, int choice, int reasoning, const char *text, size_t len)
{
    if (len > SIZE_MAX / 2 - j->tlen)
        return -1;
    if (j->tlen + len > j->tcap) {
        size_t cap = j->tcap ? j->tcap : 1024;
        while (cap < j->tlen + len)
            cap *= 2;
        char *t = realloc(j->text, cap);
        if (t == NULL)
            return -1;
        j->text = t;
        j->tcap = cap;
    }
    memcpy(j->text + j->tlen, text, len);
    seg *last = j->nseg ? &j->segs[j->nseg - 1] : NULL;
    if (last && last->choice == choice && last->reasoning == reasoning &&
        last->off + last->len == j->tlen) {
        last->len += len;
    } else {
        if (j->nseg == j->capseg) {
            if (j->capseg > INT_MAX / 2)
                return -1;
            int cap = j->capseg ? j->capseg * 2 : 64;
            seg *s = realloc(j->segs, (size_t)cap * sizeof *s);
            if (s == NULL)
                return -1;
            j->segs = s;
            j->capseg = cap;
        }
        j->segs[j->nseg++] = (seg){choice, reasoning, j->tlen, len};
    }
    j->tlen += len;
    return 0;
}

/* Engine thread: copy out and signal; drop the engine's reference on DONE. */
static void on_event(void *user, const wh_event *ev)
{
    choice_ref *cr = user;
    job *j = cr->j;
    pthread_mutex_lock(&j->mu);
    switch (ev->kind) {
    case WH_EV_TEXT:
        if (!j->oom && log_append(j, cr->index, ev->is_reasoning != 0, ev->text, ev->len) != 0)
            j->oom = 1;
        break;
    case WH_EV_ERROR:
        if (!j->failed)
            snprintf(j->error, sizeof j->error, "%.*s", (int)(ev->len < 255 ? ev->len : 255),
                     ev->text ? ev->text : "generation failed");
        j->failed = 1;
        break;
    case WH_EV_DONE:
        if (!j->done[cr->index]) {
            if (ev->result != NULL)
                j->res[cr->index] = *ev->result;
            else
                j->res[cr->index].finish = WH_FINISH_CANCELLED;
            j->done[cr->index] = 1;
            j->n_done++;
        }
        break;
    }
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    if (ev->kind == WH_EV_DONE)
        job_unref(j);
}

/* HTTP side: stop every choice and let go of the request handles. */
static void job_cancel_release(job *j)
{
    for (int i = 0; i < j->n; i++) {
        if (j->req[i] != NULL) {
            wh_engine_cancel(j->req[i]);
            wh_request_release(j->req[i]);
            j->req[i] = NULL;
        }
    }
}

/* 1 when the peer has closed the connection (or it failed). */
static int client_gone(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci == NULL)
        return 0;
    struct pollfd p = {.fd = ci->connect_fd, .events = POLLIN | POLLRDHUP};
    if (poll(&p, 1, 0) <= 0)
        return 0;
    if (p.revents & (POLLHUP | POLLERR | POLLRDHUP | POLLNVAL))
        return 1;
    if (p.revents & POLLIN) {
        char ch;
        ssize_t k = recv(ci->connect_fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT);
        return k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
    }
    return 0;
}

/* Waits up to one slice for the log to change; call with j->mu held. */
static void wait_slice(job *j)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += WAIT_SLICE_MS * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&j->cv, &j->mu, &ts);
}

/* ---- receive deadlines ----
 * Each connection is registered when MHD accepts it (NOTIFY_CONNECTION STARTED) with
 * deadline = now + timeout. When the request has arrived whole (a GET is routed, or
 * the completion handler runs) it stops being watched; when that request completes
 * the connection is watched again for the next keep-alive request, from that moment.
 * Every WATCHDOG_MS the watchdog shuts down (shutdown(2), not close) the socket of a
 * watched connection past its deadline; MHD then reads end-of-file and closes it
 * itself. MHD sends the CLOSED notification, which unlinks the entry under the same
 * mutex, before it closes the descriptor, so a descriptor is never touched after it
 * could have been reused. */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode code)
{
    wh_http *h = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        watch *w = calloc(1, sizeof *w);
        *socket_ctx = w;
        if (w == NULL || ci == NULL)
            return; /* unwatched: only the idle timeout applies */
        w->fd = ci->connect_fd;
        w->receiving = 1;
        w->deadline = now_s() + h->o.timeout_s;
        pthread_mutex_lock(&h->wmu);
        w->linked = 1;
        w->next = h->watches;
        if (h->watches != NULL)
            h->watches->prev = w;
        h->watches = w;
        pthread_mutex_unlock(&h->wmu);
        return;
    }
    watch *w = *socket_ctx;
    if (w == NULL)
        return;
    pthread_mutex_lock(&h->wmu);
    if (w->linked) {
        if (w->prev != NULL)
            w->prev->next = w->next;
        else
            h->watches = w->next;
        if (w->next != NULL)
            w->next->prev = w->prev;
    }
    pthread_mutex_unlock(&h->wmu);
    free(w);
    *socket_ctx = NULL;
}

/* receiving = 1: watch the connection again from now (a keep-alive connection waits
 * for its next request); 0: its request is in. */
static void watch_set(wh_http *h, struct MHD_Connection *c, int receiving)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (ci == NULL || ci->socket_context == NULL)
        return;
    watch *w = ci->socket_context;
    pthread_mutex_lock(&h->wmu);
    w->receiving = receiving;
    if (receiving)
        w->deadline = now_s() + h->o.timeout_s;
    pthread_mutex_unlock(&h->wmu);
}

static void *watchdog(void *arg)
{
    wh_http *h = arg;
    pthread_mutex_lock(&h->wmu);
    while (!h->wd_stop) {
        double t = now_s();
        for (watch *w = h->watches; w != NULL; w = w->next) {
            if (w->receiving && !w->dropped && t > w->deadline) {
                w->dropped = 1;
                shutdown(w->fd, SHUT_RDWR);
                wh_metrics_timeout(h->metrics);
            }
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += WATCHDOG_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&h->wcv, &h->wmu, &ts);
    }
    pthread_mutex_unlock(&h->wmu);
    return NULL;
}

/* ---- responses ---- */

static void add_common_headers(wh_http *h, struct MHD_Response *r)
{
    if (h->o.cors != NULL) {
        MHD_add_response_header(r, "Access-Control-Allow-Origin", h->o.cors);
        MHD_add_response_header(r, "Vary", "Origin");
    }
}

typedef struct conn {
    double t0;
    wh_endpoint ep;
    int status;
    int answered;
    char *body;
    size_t len, cap;
    int too_large;
    int refused_unread; /* 413 queued before the body was read: linger_drain on completion */
} conn;

static enum MHD_Result send_buf(wh_http *h, struct MHD_Connection *c, conn *cn, int status,
                                const char *mime, char *buf, size_t len, int must_free)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, buf, must_free ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (r == NULL) {
        if (must_free)
            free(buf);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", mime);
    add_common_headers(h, r);
    if (status == 401)
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
    if (status == 405)
        MHD_add_response_header(
            r, "Allow", cn->ep == WH_EP_CHAT || cn->ep == WH_EP_COMPLETIONS ? "POST" : "GET, HEAD");
    if (status == 429 || status == 503)
        MHD_add_response_header(r, "Retry-After", "1");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    cn->status = status;
    cn->answered = 1;
    return ret;
}

static enum MHD_Result send_json(wh_http *h, struct MHD_Connection *c, conn *cn, int status,
                                 char *json)
{
    static char oom[] = "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\","
                        "\"param\":null,\"code\":null}}";
    if (json == NULL)
        return send_buf(h, c, cn, 500, "application/json", oom, sizeof oom - 1, 0);
    return send_buf(h, c, cn, status, "application/json", json, strlen(json), 1);
}

static enum MHD_Result send_error(wh_http *h, struct MHD_Connection *c, conn *cn,
                                  const wh_api_error *e)
{
    return send_json(h, c, cn, e->status, wh_api_error_json(e));
}

static uint64_t next_random(wh_http *h)
{
    /* splitmix64 over a per-process salt and a counter: ids and default seeds */
    uint64_t z = h->salt + 0x9E3779B97F4A7C15ull * (atomic_fetch_add(&h->counter, 1) + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* ---- streaming ---- */

static int out_put(job *j, char *s)
{
    if (s == NULL)
        return -1;
    size_t k = strlen(s);
    if (j->out_len + k > j->out_cap) {
        size_t cap = j->out_cap ? j->out_cap : 4096;
        while (cap < j->out_len + k)
            cap *= 2;
        char *p = realloc(j->out, cap);
        if (p == NULL) {
            free(s);
            return -1;
        }
        j->out = p;
        j->out_cap = cap;
    }
    memcpy(j->out + j->out_len, s, k);
    j->out_len += k;
    free(s);
    return 0;
}

static wh_api_usage job_usage(const job *j)
{
    wh_api_usage u = {j->n_prompt, 0, 0};
    for (int i = 0; i < j->n; i++) {
        u.completion_tokens += j->res[i].n_generated;
        u.reasoning_tokens += j->res[i].n_reasoning;
    }
    return u;
}

/* Formats everything new in the log into j->out. Returns -1 when out of memory. */
static int stream_format(job *j)
{
    wh_api_meta mt = {j->id, j->model, j->created};
    int rc = 0;
    if (!j->started) {
        j->started = 1;
        for (int i = 0; i < j->n && j->kind == WH_API_CHAT; i++)
            rc |= out_put(j, wh_api_sse_role(&mt, i));
    }
    pthread_mutex_lock(&j->mu);
    char *text = j->text;
    seg *segs = j->segs;
    int nseg = j->nseg, done[WH_API_MAX_N], failed = j->failed, oom = j->oom;
    char error[256];
    memcpy(done, j->done, sizeof done);
    memcpy(error, j->error, sizeof error);
    j->text = NULL;
    j->segs = NULL;
    j->tlen = j->tcap = 0;
    j->nseg = j->capseg = 0;
    pthread_mutex_unlock(&j->mu);
    for (int s = 0; s < nseg; s++)
        rc |= out_put(j, wh_api_sse_text(j->kind, &mt, segs[s].choice, text + segs[s].off,
                                         segs[s].len, segs[s].reasoning && j->reasoning_model));
    free(text);
    free(segs);
    int all = 1;
    for (int i = 0; i < j->n; i++) {
        if (done[i] && !j->done_seen[i]) {
            j->done_seen[i] = 1;
            rc |= out_put(
                j, wh_api_sse_finish(j->kind, &mt, i, wh_api_finish_reason(j->res[i].finish)));
        }
        all &= done[i];
    }
    if ((all || oom) && !j->finished) {
        j->finished = 1;
        if (failed || oom) {
            wh_api_error e;
            wh_api_fail(&e, 500, NULL, "generation_failed", "%s",
                        oom ? "out of memory while streaming" : error);
            char *ej = wh_api_error_json(&e);
            if (ej != NULL) {
                size_t k = strlen(ej) + 9;
                char *ev = malloc(k);
                if (ev != NULL)
                    snprintf(ev, k, "data: %s\n\n", ej);
                free(ej);
                rc |= out_put(j, ev);
            }
        }
        if (j->include_usage && !oom) {
            wh_api_usage u = job_usage(j);
            rc |= out_put(j, wh_api_sse_usage(j->kind, &mt, &u));
        }
        char *d = strdup(WH_API_SSE_DONE);
        rc |= out_put(j, d);
    }
    return rc ? -1 : 0;
}

/* A stream waiting for its first token (queued, or a long prompt being prefilled)
 * sends nothing; libmicrohttpd would then close it as idle after --timeout. So after
 * heartbeat_s (half the timeout) without bytes an SSE comment goes out, which clients
 * ignore. A client that stops reading still times out: its socket fills up. */
static const char HEARTBEAT[] = ": keep-alive\n\n";

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    job *j = cls;
    (void)pos;
    for (;;) {
        if (j->out_off < j->out_len) {
            size_t k = j->out_len - j->out_off;
            if (k > max)
                k = max;
            memcpy(buf, j->out + j->out_off, k);
            j->out_off += k;
            if (j->out_off == j->out_len)
                j->out_off = j->out_len = 0;
            j->last_sent = now_s();
            return (ssize_t)k;
        }
        if (!j->finished && now_s() - j->last_sent >= j->heartbeat_s &&
            max >= sizeof HEARTBEAT - 1) {
            memcpy(buf, HEARTBEAT, sizeof HEARTBEAT - 1);
            j->last_sent = now_s();
            return (ssize_t)(sizeof HEARTBEAT - 1);
        }
        if (j->finished)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (atomic_load(j->stopping)) {
            job_cancel_release(j);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        pthread_mutex_lock(&j->mu);
        int fresh = j->nseg > 0 || j->oom || !j->started;
        for (int i = 0; i < j->n && !fresh; i++)
            fresh = j->done[i] && !j->done_seen[i];
        if (!fresh)
            wait_slice(j);
        pthread_mutex_unlock(&j->mu);
        if (!fresh && client_gone(j->conn)) {
            job_cancel_release(j);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        if (stream_format(j) != 0) {
            job_cancel_release(j);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
}

static void stream_free(void *cls)
{
    job *j = cls;
    job_cancel_release(j);
    job_unref(j);
}

/* ---- completions ---- */

/* Tokenizes the request into *ids (free with wh_free). */
static int render_prompt(wh_http *h, const wh_api_request *rq, int32_t **ids, size_t *n,
                         wh_api_error *e)
{
    wh_error err = {0};
    int rc;
    if (rq->kind == WH_API_CHAT)
        rc = wh_chat_encode(h->m.tok, h->m.family, rq->msgs, rq->n_msgs, 1, ids, n, &err);
    else
        rc = wh_tokenizer_encode(h->m.tok, rq->prompt, strlen(rq->prompt),
                                 WH_TOK_ADD_SPECIAL | WH_TOK_PARSE_SPECIAL, ids, n, &err);
    if (rc == WH_OK)
        return 0;
    if (rc == WH_E_INVALID)
        return wh_api_fail(e, 400, rq->kind == WH_API_CHAT ? "messages" : "prompt", "invalid_value",
                           "%s", err.msg);
    return wh_api_fail(e, 500, NULL, NULL, "cannot tokenize the request: %s", err.msg);
}

/* Gathers choice i's text from the log into content and reasoning buffers (for a
 * model without reasoning, everything is content, as when streaming). */
static int gather(job *j, int i, char **content, size_t *clen, char **reasoning, size_t *rlen)
{
    size_t nc = 0, nr = 0;
    for (int s = 0; s < j->nseg; s++)
        if (j->segs[s].choice == i)
            *(j->segs[s].reasoning && j->reasoning_model ? &nr : &nc) += j->segs[s].len;
    *content = malloc(nc + 1);
    *reasoning = malloc(nr + 1);
    if (*content == NULL || *reasoning == NULL)
        return -1;
    nc = nr = 0;
    for (int s = 0; s < j->nseg; s++) {
        const seg *g = &j->segs[s];
        if (g->choice != i)
            continue;
        if (g->reasoning && j->reasoning_model) {
            memcpy(*reasoning + nr, j->text + g->off, g->len);
            nr += g->len;
        } else {
            memcpy(*content + nc, j->text + g->off, g->len);
            nc += g->len;
        }
    }
    *clen = nc;
    *rlen = nr;
    return 0;
}

static enum MHD_Result answer_whole(wh_http *h, struct MHD_Connection *c, conn *cn, job *j)
{
    pthread_mutex_lock(&j->mu);
    for (;;) {
        if (j->n_done == j->n)
            break;
        wait_slice(j);
        if (j->n_done == j->n)
            break;
        pthread_mutex_unlock(&j->mu);
        int stop = atomic_load(&h->stopping), gone = !stop && client_gone(c);
        if (stop || gone) {
            job_cancel_release(j);
            job_unref(j);
            cn->status = gone ? 499 : 503;
            if (gone)
                return MHD_NO;
            wh_api_error e;
            wh_api_fail(&e, 503, NULL, "shutting_down", "The server is shutting down.");
            return send_error(h, c, cn, &e);
        }
        pthread_mutex_lock(&j->mu);
    }
    pthread_mutex_unlock(&j->mu);
    /* every DONE is in: the log is ours alone now */
    job_cancel_release(j);
    enum MHD_Result ret;
    if (j->failed || j->oom) {
        wh_api_error e;
        wh_api_fail(&e, 500, NULL, "generation_failed", "%s",
                    j->oom ? "out of memory while generating" : j->error);
        ret = send_error(h, c, cn, &e);
        job_unref(j);
        return ret;
    }
    wh_api_choice ch[WH_API_MAX_N];
    char *bufs[2 * WH_API_MAX_N] = {0};
    int ok = 1;
    for (int i = 0; i < j->n; i++) {
        ok &= gather(j, i, &bufs[2 * i], &ch[i].content_len, &bufs[2 * i + 1],
                     &ch[i].reasoning_len) == 0;
        ch[i].content = bufs[2 * i];
        ch[i].reasoning = j->reasoning_model ? bufs[2 * i + 1] : NULL;
        ch[i].finish_reason = wh_api_finish_reason(j->res[i].finish);
    }
    wh_api_meta mt = {j->id, j->model, j->created};
    wh_api_usage u = job_usage(j);
    char *json = ok ? wh_api_response_json(j->kind, &mt, ch, j->n, &u) : NULL;
    for (int i = 0; i < 2 * j->n; i++)
        free(bufs[i]);
    job_unref(j);
    return send_json(h, c, cn, 200, json);
}

static enum MHD_Result handle_completion(wh_http *h, struct MHD_Connection *c, conn *cn,
                                         wh_api_kind kind)
{
    wh_api_error e;
    watch_set(h, c, 0); /* the request is in; generation may take longer than the timeout */
    if (!atomic_load(&h->ready)) {
        wh_api_fail(&e, 503, NULL, "model_loading", "The model is still loading; retry shortly.");
        return send_error(h, c, cn, &e);
    }
    if (cn->too_large) {
        wh_api_fail(&e, 413, NULL, "request_too_large",
                    "The request body is larger than the limit of %zu bytes.", h->o.max_body);
        return send_error(h, c, cn, &e);
    }
    wh_api_request rq;
    if (wh_api_parse(kind, cn->body, cn->len, &rq, &e) != 0)
        return send_error(h, c, cn, &e);
    if (!rq.seed_set)
        rq.seed = next_random(h) >> 1;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    if (render_prompt(h, &rq, &ids, &n_ids, &e) != 0) {
        wh_api_request_free(&rq);
        return send_error(h, c, cn, &e);
    }
    wh_api_model_info mi = {h->model_id, h->m.n_ctx, h->m.n_vocab,
                            h->m.family == WH_CHAT_R1 || h->m.family == WH_CHAT_R1_DISTILL};
    int n_prompt = n_ids > (size_t)INT_MAX ? INT_MAX : (int)n_ids;
    wh_gen_params gp[WH_API_MAX_N];
    for (int i = 0; i < rq.n; i++) {
        if (wh_api_gen_params(&rq, &mi, n_prompt, i, &gp[i], &e) != 0) {
            wh_free(ids);
            wh_api_request_free(&rq);
            return send_error(h, c, cn, &e);
        }
    }
    job *j = job_new();
    if (j == NULL) {
        wh_free(ids);
        wh_api_request_free(&rq);
        return send_json(h, c, cn, 500, NULL);
    }
    if (rq.n_logit_bias > 0) {
        j->bias = malloc((size_t)rq.n_logit_bias * sizeof *j->bias);
        if (j->bias == NULL) {
            job_unref(j);
            wh_free(ids);
            wh_api_request_free(&rq);
            return send_json(h, c, cn, 500, NULL);
        }
        memcpy(j->bias, rq.logit_bias, (size_t)rq.n_logit_bias * sizeof *j->bias);
        for (int i = 0; i < rq.n; i++)
            gp[i].sampler.logit_bias = j->bias;
    }
    j->n = rq.n;
    j->kind = kind;
    j->reasoning_model = mi.reasoning && kind == WH_API_CHAT;
    j->include_usage = rq.include_usage;
    j->n_prompt = n_prompt;
    j->created = (long long)time(NULL);
    j->stopping = &h->stopping;
    j->conn = c;
    j->heartbeat_s = h->o.timeout_s / 2.0;
    j->last_sent = now_s();
    snprintf(j->model, sizeof j->model, "%s", h->model_id);
    snprintf(j->id, sizeof j->id, "%s%016llx%08llx", kind == WH_API_CHAT ? "chatcmpl-" : "cmpl-",
             (unsigned long long)next_random(h),
             (unsigned long long)(next_random(h) & 0xffffffffull));
    int rc = WH_OK;
    wh_error err = {0};
    for (int i = 0; i < rq.n && rc == WH_OK; i++) {
        wh_request_params p = {ids, n_prompt, gp[i]};
        j->cref[i] = (choice_ref){j, i};
        pthread_mutex_lock(&j->mu);
        j->refs++; /* the engine's, until DONE */
        pthread_mutex_unlock(&j->mu);
        rc = wh_engine_submit(h->m.engine, &p, on_event, &j->cref[i], &j->req[i], &err);
        if (rc != WH_OK) {
            j->req[i] = NULL;
            job_unref(j);
        }
    }
    int n_stream = rq.stream;
    wh_free(ids);
    wh_api_request_free(&rq);
    if (rc != WH_OK) {
        job_cancel_release(j);
        job_unref(j);
        if (rc == WH_E_BUSY)
            wh_api_fail(&e, 429, NULL, "rate_limit_exceeded",
                        "The server is busy: every slot is generating and the queue is full. "
                        "Retry shortly.");
        else if (rc == WH_E_INVALID)
            wh_api_fail(&e, 400, kind == WH_API_CHAT ? "messages" : "prompt", "invalid_value", "%s",
                        err.msg);
        else
            wh_api_fail(&e, 500, NULL, NULL, "%s", err.msg);
        return send_error(h, c, cn, &e);
    }
    if (!n_stream)
        return answer_whole(h, c, cn, j);
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK,
                                                               stream_read, j, stream_free);
    if (r == NULL) {
        stream_free(j);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    add_common_headers(h, r);
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    cn->status = 200;
    cn->answered = 1;
    return ret;
}

/* ---- routing ---- */

static int is_get(const char *method)
{
    return strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
}

static const wh_web_asset *find_asset(wh_http *h, const char *url)
{
    if (strcmp(url, "/") == 0)
        url = "/index.html";
    for (int i = 0; i < h->o.n_assets; i++)
        if (strcmp(h->o.assets[i].path, url) == 0)
            return &h->o.assets[i];
    return NULL;
}

/* Constant-time comparison of the Authorization header with "Bearer KEY". */
static int auth_ok(wh_http *h, struct MHD_Connection *c)
{
    if (h->o.api_key == NULL)
        return 1;
    const char *got = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (got == NULL || strncmp(got, "Bearer ", 7) != 0)
        return 0;
    got += 7;
    size_t a = strlen(got), b = strlen(h->o.api_key);
    unsigned diff = a != b;
    for (size_t i = 0; i < b; i++)
        diff |= (unsigned char)h->o.api_key[i] ^ (unsigned char)(i < a ? got[i] : 0);
    return diff == 0;
}

static wh_endpoint route(const char *url)
{
    if (strcmp(url, "/v1/chat/completions") == 0 || strcmp(url, "/chat/completions") == 0)
        return WH_EP_CHAT;
    if (strcmp(url, "/v1/completions") == 0 || strcmp(url, "/completions") == 0)
        return WH_EP_COMPLETIONS;
    if (strcmp(url, "/v1/models") == 0 || strcmp(url, "/models") == 0)
        return WH_EP_MODELS;
    if (strcmp(url, "/health") == 0)
        return WH_EP_HEALTH;
    if (strcmp(url, "/metrics") == 0)
        return WH_EP_METRICS;
    return WH_EP_PAGE; /* or 404 when no asset matches */
}

static enum MHD_Result handle_get(wh_http *h, struct MHD_Connection *c, conn *cn, const char *url)
{
    wh_api_error e;
    switch (cn->ep) {
    case WH_EP_MODELS:
        if (!atomic_load(&h->ready)) {
            wh_api_fail(&e, 503, NULL, "model_loading", "The model is still loading.");
            return send_error(h, c, cn, &e);
        }
        return send_json(h, c, cn, 200, wh_api_models_json(h->model_id, h->created));
    case WH_EP_HEALTH:
        if (!atomic_load(&h->ready))
            return send_json(h, c, cn, 503, strdup("{\"status\":\"loading\"}"));
        return send_json(h, c, cn, 200, strdup("{\"status\":\"ok\"}"));
    case WH_EP_METRICS: {
        wh_engine_stats st;
        int ready = atomic_load(&h->ready);
        if (ready)
            wh_engine_stats_get(h->m.engine, &st);
        size_t len = 0;
        char *text = wh_metrics_render(h->metrics, ready ? &st : NULL, &len);
        if (text == NULL)
            return send_json(h, c, cn, 500, NULL);
        return send_buf(h, c, cn, 200, "text/plain; version=0.0.4; charset=utf-8", text, len, 1);
    }
    default: {
        const wh_web_asset *a = find_asset(h, url);
        if (a == NULL) {
            cn->ep = WH_EP_OTHER;
            wh_api_fail(&e, 404, NULL, "not_found", "No route for GET %s.", url);
            return send_error(h, c, cn, &e);
        }
        return send_buf(h, c, cn, 200, a->mime, (char *)a->data, a->len, 0);
    }
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    wh_http *h = cls;
    conn *cn = *con_cls;
    wh_api_error e;
    (void)version;
    if (cn == NULL) {
        cn = calloc(1, sizeof *cn);
        if (cn == NULL)
            return MHD_NO;
        *con_cls = cn;
        cn->t0 = now_s();
        cn->ep = route(url);
        wh_metrics_inflight(h->metrics, 1);
        int post_ep = cn->ep == WH_EP_CHAT || cn->ep == WH_EP_COMPLETIONS;
        if (!post_ep)
            watch_set(h, c, 0); /* no body to wait for: the request is in */
        if (h->o.cors != NULL && strcmp(method, MHD_HTTP_METHOD_OPTIONS) == 0) {
            struct MHD_Response *r =
                MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
            if (r == NULL)
                return MHD_NO;
            add_common_headers(h, r);
            MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
            MHD_add_response_header(r, "Access-Control-Allow-Headers",
                                    "Authorization, Content-Type");
            MHD_add_response_header(r, "Access-Control-Max-Age", "600");
            enum MHD_Result ret = MHD_queue_response(c, 204, r);
            MHD_destroy_response(r);
            cn->status = 204;
            cn->answered = 1;
            return ret;
        }
        int known = cn->ep != WH_EP_PAGE || find_asset(h, url) != NULL;
        if (known && (post_ep ? strcmp(method, MHD_HTTP_METHOD_POST) != 0 : !is_get(method))) {
            wh_api_fail(&e, 405, NULL, "method_not_allowed", "%s is not allowed on %s; use %s.",
                        method, url, post_ep ? "POST" : "GET");
            return send_error(h, c, cn, &e);
        }
        if (!known) {
            cn->ep = WH_EP_OTHER;
            wh_api_fail(&e, 404, NULL, "not_found", "No route for %s %s.", method, url);
            return send_error(h, c, cn, &e);
        }
        if ((post_ep || cn->ep == WH_EP_MODELS) && !auth_ok(h, c)) {
            wh_api_fail(&e, 401, NULL, "invalid_api_key",
                        "Incorrect or missing API key: send \"Authorization: Bearer KEY\".");
            return send_error(h, c, cn, &e);
        }
        if (!post_ep)
            return handle_get(h, c, cn, url);
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl != NULL) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(cl, &end, 10);
            /* A declared body over the limit is refused at once, before any of it
             * is read; on_completed then drains what the client still sends so
             * that it reads the 413 rather than a reset (linger_drain). */
            if (errno != 0 || end == cl || v > h->o.max_body) {
                cn->too_large = cn->refused_unread = 1;
                wh_api_fail(&e, 413, NULL, "request_too_large",
                            "The request body is larger than the limit of %zu bytes.",
                            h->o.max_body);
                return send_error(h, c, cn, &e);
            }
        }
        return MHD_YES;
    }
    if (cn->answered)
        return MHD_YES; /* an early answer is queued; the rest of the body is discarded */
    if (*upload_size > 0) {
        size_t k = *upload_size;
        *upload_size = 0;
        if (cn->too_large || k > h->o.max_body - cn->len) {
            /* no length declared (chunked): the rest is read and dropped (MHD allows
             * no answer in mid-upload), bounded by the receive deadline; 413 at the end */
            cn->too_large = 1;
            return MHD_YES;
        }
        if (cn->len + k > cn->cap) {
            size_t cap = cn->cap ? cn->cap : 4096;
            while (cap < cn->len + k)
                cap *= 2;
            char *b = realloc(cn->body, cap);
            if (b == NULL)
                return MHD_NO;
            cn->body = b;
            cn->cap = cap;
        }
        memcpy(cn->body + cn->len, upload, k);
        cn->len += k;
        return MHD_YES;
    }
    return handle_completion(h, c, cn, cn->ep == WH_EP_CHAT ? WH_API_CHAT : WH_API_COMPLETION);
}

/* After a 413 sent while the client was still uploading, MHD closes the socket with
 * the upload unread, and the kernel answers with a reset that destroys the 413 before
 * the client reads it. So the answer is followed by our FIN, and what the client still
 * sends is read and dropped until it closes its side (it stops uploading once it has
 * the answer), for at most LINGER_MS. Runs on the connection's own thread. */
static void linger_drain(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci == NULL)
        return;
    int fd = ci->connect_fd;
    shutdown(fd, SHUT_WR);
    double end = now_s() + LINGER_MS / 1000.0;
    char buf[16384];
    for (double t = now_s(); t < end; t = now_s()) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int ms = (int)((end - t) * 1000) + 1;
        if (poll(&p, 1, ms) <= 0)
            return;
        ssize_t k = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            return;
    }
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    wh_http *h = cls;
    conn *cn = *con_cls;
    watch_set(h, c, 1); /* a keep-alive connection: its next request, from now */
    if (cn == NULL)
        return;
    if (cn->refused_unread)
        linger_drain(c);
    int status = cn->status;
    if (status == 0 || (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && status == 200))
        status = 499; /* the client went away before the answer was complete */
    wh_metrics_request(h->metrics, cn->ep, status, now_s() - cn->t0);
    wh_metrics_inflight(h->metrics, -1);
    free(cn->body);
    free(cn);
    *con_cls = NULL;
}

static void on_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    fputs("whale: http: ", stderr);
    vfprintf(stderr, fmt, ap);
}

static void http_free(wh_http *h)
{
    pthread_cond_destroy(&h->wcv);
    pthread_mutex_destroy(&h->wmu);
    wh_metrics_free(h->metrics);
    free(h);
}

int wh_http_start(const wh_http_opts *o, wh_http **out, wh_error *err)
{
    *out = NULL;
    wh_http *h = calloc(1, sizeof *h);
    if (h == NULL)
        return wh_err(err, WH_E_NOMEM, "serve: out of memory");
    h->o = *o;
    if (h->o.host == NULL)
        h->o.host = "127.0.0.1";
    if (h->o.max_body == 0)
        h->o.max_body = (size_t)1 << 20;
    if (h->o.max_connections <= 0)
        h->o.max_connections = 256;
    if (h->o.timeout_s <= 0)
        h->o.timeout_s = DEFAULT_TIMEOUT_S;
    h->created = (long long)time(NULL);
    if (getrandom(&h->salt, sizeof h->salt, 0) != (ssize_t)sizeof h->salt)
        h->salt = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull;
    h->metrics = wh_metrics_new();
    if (h->metrics == NULL) {
        free(h);
        return wh_err(err, WH_E_NOMEM, "serve: out of memory");
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int sync_ok = pthread_mutex_init(&h->wmu, NULL) == 0;
    if (sync_ok && pthread_cond_init(&h->wcv, &ca) != 0) {
        pthread_mutex_destroy(&h->wmu);
        sync_ok = 0;
    }
    pthread_condattr_destroy(&ca);
    if (!sync_ok) {
        wh_metrics_free(h->metrics);
        free(h);
        return wh_err(err, WH_E_NOMEM, "serve: cannot create a mutex");
    }
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    char port[16];
    snprintf(port, sizeof port, "%d", o->port);
    int gai = getaddrinfo(h->o.host, port, &hints, &ai);
    if (gai != 0) {
        http_free(h);
        return wh_err(err, WH_E_INVALID, "serve: cannot resolve --host %s: %s", o->host,
                      gai_strerror(gai));
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->d = MHD_start_daemon(
        flags, (uint16_t)o->port, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, on_log, h,
        MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, h, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)h->o.max_connections, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)h->o.timeout_s,
        MHD_OPTION_END);
    freeaddrinfo(ai);
    if (h->d == NULL) {
        http_free(h);
        return wh_err(err, WH_E_IO,
                      "serve: cannot listen on %s:%d (in use, or not an address "
                      "of this machine?)",
                      o->host ? o->host : "127.0.0.1", o->port);
    }
    if (pthread_create(&h->wd, NULL, watchdog, h) != 0) {
        MHD_stop_daemon(h->d);
        http_free(h);
        return wh_err(err, WH_E_IO, "serve: cannot start the timeout thread");
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = di != NULL ? di->port : o->port;
    *out = h;
    return WH_OK;
}

int wh_http_port(const wh_http *h)
{
    return h->port;
}

void wh_http_set_model(wh_http *h, const wh_http_model *m)
{
    h->m = *m;
    snprintf(h->model_id, sizeof h->model_id, "%s", m->id ? m->id : "whale");
    h->m.id = h->model_id;
    atomic_store(&h->ready, 1);
}

void wh_http_stop(wh_http *h)
{
    if (h == NULL)
        return;
    atomic_store(&h->stopping, 1);
    pthread_mutex_lock(&h->wmu);
    h->wd_stop = 1;
    pthread_cond_signal(&h->wcv);
    pthread_mutex_unlock(&h->wmu);
    pthread_join(h->wd, NULL);
    MHD_stop_daemon(h->d); /* its CLOSED notifications free the remaining watches */
    http_free(h);
}
