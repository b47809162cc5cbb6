/*
 * http.h — the HTTP front of `whale serve` on libmicrohttpd: routing, API-key check,
 * body limits, SSE streaming, disconnect detection and the embedded web page. The
 * request/response JSON is api.c's; generation is the engine's (engine.h).
 *
 * One thread per connection (MHD_USE_THREAD_PER_CONNECTION): a handler waiting for
 * its generation blocks on a condition variable in 100 ms slices, and between slices
 * checks for shutdown and for a client that has gone (then the request is cancelled,
 * which frees its slot at the engine's next step).
 */
#ifndef WH_SERVE_HTTP_H
#define WH_SERVE_HTTP_H

#include <stddef.h>

#include "serve/engine.h"
#include "whale.h"

/* A file of the web page, embedded in the binary (tools/embed writes the table). */
typedef struct wh_web_asset {
    const char *path; /* "/index.html" */
    const char *mime; /* "text/html; charset=utf-8" */
    const unsigned char *data;
    size_t len;
} wh_web_asset;

/* The page built into the whale program: defined by the generated
 * $(BUILD)/gen/web_assets.c (Makefile, tools/embed), not by libwhale. */
extern const wh_web_asset wh_web_assets[];
extern const int wh_web_n_assets;

typedef struct wh_http_opts {
    const char *host;           /* address to bind; NULL = "127.0.0.1" */
    int port;                   /* 0 = any free port (see wh_http_port) */
    const char *api_key;        /* NULL: no authentication; else the /v1 routes need "Bearer KEY" */
    const char *cors;           /* NULL: no CORS headers; else the allowed origin ("*" allowed) */
    size_t max_body;            /* request body limit in bytes; 0 = 1 MiB */
    int max_connections;        /* 0 = 256 */
    int timeout_s;              /* 0 = 30: a connection idle this long is closed, and a request's
                                 * headers and body must arrive within it (slow clients are dropped) */
    const wh_web_asset *assets; /* the web page; may be NULL */
    int n_assets;
} wh_http_opts;

/* The model being served, handed over once it is loaded (until then /health is 503). */
typedef struct wh_http_model {
    wh_engine *engine;
    const wh_tokenizer *tok;
    wh_chat_family family;
    const char *id; /* model name for responses and /v1/models (copied) */
    int n_ctx;      /* positions per slot */
    int n_vocab;    /* logits per step */
} wh_http_model;

typedef struct wh_http wh_http;

/* Binds and starts answering (health 503 until wh_http_set_model). */
int wh_http_start(const wh_http_opts *o, wh_http **out, wh_error *err);
/* The port bound (useful with port 0). */
int wh_http_port(const wh_http *h);
void wh_http_set_model(wh_http *h, const wh_http_model *m);
/* Stops accepting, wakes every waiting handler (their requests are cancelled) and
 * joins the connection threads. The engine must still exist; free it afterwards. */
void wh_http_stop(wh_http *h);

#endif
