/*
 * metrics.h — the counters of `whale serve` and their Prometheus text exposition
 * (prometheus.io/docs/instrumenting/exposition_formats): requests by endpoint and
 * status, request latency as a histogram, in-flight requests, and the engine's
 * gauges and token counters (wh_engine_stats). Thread-safe.
 */
#ifndef WH_SERVE_METRICS_H
#define WH_SERVE_METRICS_H

#include <stddef.h>

#include "serve/engine.h"

typedef enum wh_endpoint {
    WH_EP_CHAT = 0,    /* POST /v1/chat/completions */
    WH_EP_COMPLETIONS, /* POST /v1/completions */
    WH_EP_MODELS,      /* GET /v1/models */
    WH_EP_HEALTH,      /* GET /health */
    WH_EP_METRICS,     /* GET /metrics */
    WH_EP_PAGE,        /* GET / and the page's assets */
    WH_EP_OTHER,       /* anything else (404, 405) */
    WH_EP_COUNT
} wh_endpoint;

typedef struct wh_metrics wh_metrics;

wh_metrics *wh_metrics_new(void);
void wh_metrics_free(wh_metrics *m);
/* Counts one finished request; seconds is its wall time (arrival to last byte). */
void wh_metrics_request(wh_metrics *m, wh_endpoint ep, int status, double seconds);
/* Requests being answered now (+1 on arrival, -1 when done). */
void wh_metrics_inflight(wh_metrics *m, int delta);
/* Counts one connection closed because its request did not arrive within the timeout. */
void wh_metrics_timeout(wh_metrics *m);
/* Renders the exposition into a new NUL-terminated buffer (free with free); st may be
 * NULL while the model loads. NULL when out of memory. */
char *wh_metrics_render(wh_metrics *m, const wh_engine_stats *st, size_t *len);

#endif
