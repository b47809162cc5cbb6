/*
 * engine.h — the generation engine behind `whale serve`: one thread owns the model
 * and a multi-sequence session (one KV cache per slot) and runs continuous batching:
 * every step decodes all active requests in one batched forward pass, and a new
 * request joins at the next step (its prompt is prefilled in chunks between decode
 * steps). A prompt prefix already in a free slot's cache is reused.
 *
 * Threads: wh_engine_submit / wh_engine_cancel / wh_request_release / wh_engine_stats
 * may be called from any thread. Event callbacks run on the engine thread and must be
 * quick (copy the text out and signal).
 */
#ifndef WH_SERVE_ENGINE_H
#define WH_SERVE_ENGINE_H

#include "whale.h"

typedef struct wh_engine wh_engine;
typedef struct wh_request wh_request;

typedef struct wh_engine_opts {
    int n_slots;   /* concurrent generations (KV caches); 0 = 4 */
    int n_ctx;     /* positions per slot; 0 = min(model, 4096) */
    int n_threads; /* 0 = one per CPU */
    int max_queue; /* requests waiting for a slot before submit refuses; 0 = 64 */
} wh_engine_opts;

int wh_engine_new(const wh_model *m, const wh_engine_opts *o, wh_engine **out, wh_error *err);
/* Stops the engine thread; pending requests finish with WH_FINISH_CANCELLED. */
void wh_engine_free(wh_engine *e);

typedef enum wh_event_kind {
    WH_EV_TEXT = 0, /* text (never ends inside a UTF-8 sequence) */
    WH_EV_DONE,     /* the last event of a request: result is set */
    WH_EV_ERROR,    /* followed by DONE */
} wh_event_kind;

typedef struct wh_event {
    wh_event_kind kind;
    const char *text; /* TEXT: the text; ERROR: the message */
    size_t len;
    int is_reasoning;            /* TEXT: inside <think> */
    const wh_gen_result *result; /* DONE */
} wh_event;

typedef void (*wh_event_cb)(void *user, const wh_event *ev);

typedef struct wh_request_params {
    const int32_t *prompt; /* the rendered, tokenized conversation (copied) */
    int n_prompt;
    wh_gen_params gen; /* stop strings and logit_bias are copied */
} wh_request_params;

/* Queues a request. WH_E_INVALID: prompt longer than a slot's context (the message
 * says so) or bad parameters; WH_E_BUSY: the queue is full (HTTP 429). On success
 * *out holds a reference the caller releases with wh_request_release after DONE (or
 * at any time; the engine keeps its own reference until it has sent DONE). */
int wh_engine_submit(wh_engine *e, const wh_request_params *p, wh_event_cb cb, void *user,
                     wh_request **out, wh_error *err);
/* Asks the engine to stop this request; its slot is freed at the next step and DONE
 * (finish CANCELLED) is delivered. Safe to call more than once, and after DONE. */
void wh_engine_cancel(wh_request *r);
void wh_request_release(wh_request *r);

typedef struct wh_engine_stats {
    int n_slots, active, queued;
    long long requests_total, requests_cancelled, prompt_tokens_total, generated_tokens_total,
        reused_prompt_tokens_total;
    double busy_seconds; /* time spent in forward passes */
} wh_engine_stats;

void wh_engine_stats_get(wh_engine *e, wh_engine_stats *st);

#endif
