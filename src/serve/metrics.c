/*
 * metrics.c — request counters, a latency histogram and the Prometheus text
 * exposition of `whale serve` (see metrics.h). One mutex; every update is O(1).
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/metrics.h"

#define N_STATUS 16 /* distinct HTTP statuses tracked per endpoint (few are used) */

static const double BUCKETS[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                 1,     2.5,  5,     10,   30,  60,   300};
#define N_BUCKETS (int)(sizeof BUCKETS / sizeof BUCKETS[0])

static const char *EP_NAME[WH_EP_COUNT] = {
    "/v1/chat/completions", "/v1/completions", "/v1/models", "/health", "/metrics", "/", "other"};

struct wh_metrics {
    pthread_mutex_t mu;
    struct {
        int status[N_STATUS];
        long long count[N_STATUS];
        long long bucket[N_BUCKETS]; /* latency, non-cumulative */
        long long n;
        double sum;
    } ep[WH_EP_COUNT];
    long long inflight;
    long long timeouts; /* connections dropped: request not received in time */
};

wh_metrics *wh_metrics_new(void)
{
    wh_metrics *m = calloc(1, sizeof *m);
    if (m != NULL && pthread_mutex_init(&m->mu, NULL) != 0) {
        free(m);
        return NULL;
    }
    return m;
}

void wh_metrics_free(wh_metrics *m)
{
    if (m == NULL)
        return;
    pthread_mutex_destroy(&m->mu);
    free(m);
}

void wh_metrics_request(wh_metrics *m, wh_endpoint ep, int status, double seconds)
{
    if (m == NULL || (int)ep < 0 || ep >= WH_EP_COUNT)
        return;
    pthread_mutex_lock(&m->mu);
    for (int i = 0; i < N_STATUS; i++) {
        if (m->ep[ep].status[i] == status || m->ep[ep].status[i] == 0) {
            m->ep[ep].status[i] = status;
            m->ep[ep].count[i]++;
            break;
        }
    }
    int b = 0;
    while (b < N_BUCKETS && seconds > BUCKETS[b])
        b++;
    if (b < N_BUCKETS)
        m->ep[ep].bucket[b]++;
    m->ep[ep].n++;
    m->ep[ep].sum += seconds;
    pthread_mutex_unlock(&m->mu);
}

void wh_metrics_inflight(wh_metrics *m, int delta)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->mu);
    m->inflight += delta;
    pthread_mutex_unlock(&m->mu);
}

void wh_metrics_timeout(wh_metrics *m)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->mu);
    m->timeouts++;
    pthread_mutex_unlock(&m->mu);
}

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void put(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(sbuf *b, const char *fmt, ...)
{
    for (int tries = 0; tries < 2 && !b->oom; tries++) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)k < b->cap - b->len) {
            b->len += (size_t)k;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)k + 1;
        char *np = realloc(b->p, cap);
        if (np == NULL) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
}

char *wh_metrics_render(wh_metrics *m, const wh_engine_stats *st, size_t *len)
{
    sbuf b = {malloc(4096), 0, 4096, 0};
    if (b.p == NULL)
        return NULL;
    b.p[0] = '\0';
    pthread_mutex_lock(&m->mu);
    put(&b, "# HELP whale_http_requests_total HTTP requests answered, by endpoint and status.\n"
            "# TYPE whale_http_requests_total counter\n");
    for (int e = 0; e < WH_EP_COUNT; e++)
        for (int i = 0; i < N_STATUS && m->ep[e].status[i] != 0; i++)
            put(&b, "whale_http_requests_total{endpoint=\"%s\",status=\"%d\"} %lld\n", EP_NAME[e],
                m->ep[e].status[i], m->ep[e].count[i]);
    put(&b, "# HELP whale_http_request_duration_seconds Time from a request's arrival to its "
            "last byte.\n"
            "# TYPE whale_http_request_duration_seconds histogram\n");
    for (int e = 0; e < WH_EP_COUNT; e++) {
        if (m->ep[e].n == 0)
            continue;
        long long cum = 0;
        for (int i = 0; i < N_BUCKETS; i++) {
            cum += m->ep[e].bucket[i];
            put(&b, "whale_http_request_duration_seconds_bucket{endpoint=\"%s\",le=\"%g\"} %lld\n",
                EP_NAME[e], BUCKETS[i], cum);
        }
        put(&b,
            "whale_http_request_duration_seconds_bucket{endpoint=\"%s\",le=\"+Inf\"} %lld\n"
            "whale_http_request_duration_seconds_sum{endpoint=\"%s\"} %.6f\n"
            "whale_http_request_duration_seconds_count{endpoint=\"%s\"} %lld\n",
            EP_NAME[e], m->ep[e].n, EP_NAME[e], m->ep[e].sum, EP_NAME[e], m->ep[e].n);
    }
    put(&b,
        "# HELP whale_http_requests_in_flight Requests being answered now.\n"
        "# TYPE whale_http_requests_in_flight gauge\nwhale_http_requests_in_flight %lld\n",
        m->inflight);
    put(&b,
        "# HELP whale_http_timeouts_total Connections closed because a request's headers and "
        "body did not arrive within the timeout.\n"
        "# TYPE whale_http_timeouts_total counter\nwhale_http_timeouts_total %lld\n",
        m->timeouts);
    pthread_mutex_unlock(&m->mu);
    put(&b,
        "# HELP whale_model_loaded 1 once the model is loaded and the engine runs.\n"
        "# TYPE whale_model_loaded gauge\nwhale_model_loaded %d\n",
        st != NULL);
    if (st != NULL) {
        put(&b,
            "# HELP whale_slots Generation slots (KV caches).\n"
            "# TYPE whale_slots gauge\nwhale_slots %d\n"
            "# HELP whale_slots_active Slots generating now.\n"
            "# TYPE whale_slots_active gauge\nwhale_slots_active %d\n"
            "# HELP whale_queue_depth Requests waiting for a slot.\n"
            "# TYPE whale_queue_depth gauge\nwhale_queue_depth %d\n"
            "# HELP whale_engine_requests_total Requests the engine accepted.\n"
            "# TYPE whale_engine_requests_total counter\nwhale_engine_requests_total %lld\n"
            "# HELP whale_engine_requests_cancelled_total Requests cancelled (client gone or "
            "shutdown).\n"
            "# TYPE whale_engine_requests_cancelled_total counter\n"
            "whale_engine_requests_cancelled_total %lld\n"
            "# HELP whale_prompt_tokens_total Prompt tokens received.\n"
            "# TYPE whale_prompt_tokens_total counter\nwhale_prompt_tokens_total %lld\n"
            "# HELP whale_prompt_tokens_reused_total Prompt tokens found in a slot's cache.\n"
            "# TYPE whale_prompt_tokens_reused_total counter\n"
            "whale_prompt_tokens_reused_total %lld\n"
            "# HELP whale_generated_tokens_total Tokens generated.\n"
            "# TYPE whale_generated_tokens_total counter\nwhale_generated_tokens_total %lld\n"
            "# HELP whale_engine_busy_seconds_total Time spent in forward passes.\n"
            "# TYPE whale_engine_busy_seconds_total counter\n"
            "whale_engine_busy_seconds_total %.6f\n",
            st->n_slots, st->active, st->queued, st->requests_total, st->requests_cancelled,
            st->prompt_tokens_total, st->reused_prompt_tokens_total, st->generated_tokens_total,
            st->busy_seconds);
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    if (len != NULL)
        *len = b.len;
    return b.p;
}
