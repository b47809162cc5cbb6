/*
 * api.h — the OpenAI / DeepSeek-compatible HTTP API of `whale serve`, as pure
 * functions with no sockets: request bodies in, validated requests and generation
 * parameters out; results in, response JSON and SSE chunks out. http.c does the I/O.
 *
 * Follows the OpenAI Chat Completions and (legacy) Completions API
 * (platform.openai.com/docs/api-reference) with DeepSeek's `reasoning_content`
 * beside `content` (api-docs.deepseek.com/guides/reasoning_model). Extensions:
 * `think_budget`, `top_k`, `min_p`, `repetition_penalty`.
 *
 * Errors are OpenAI-shaped: {"error": {"message", "type", "param", "code"}}.
 */
#ifndef WH_SERVE_API_H
#define WH_SERVE_API_H

#include <stddef.h>
#include <stdint.h>

#include "whale.h"

/* An error to answer with: HTTP status, OpenAI error type, offending parameter
 * ("" when none) and a machine-readable code ("" when none). */
typedef struct wh_api_error {
    int status;
    const char *type; /* "invalid_request_error", "authentication_error", ... */
    char param[64];
    char code[48];
    char message[512];
} wh_api_error;

/* Fills e and returns -1, so callers can `return wh_api_fail(...)`. */
int wh_api_fail(wh_api_error *e, int status, const char *param, const char *code, const char *fmt,
                ...) __attribute__((format(printf, 5, 6)));

/* The JSON body for e (free with free). NULL only when out of memory. */
char *wh_api_error_json(const wh_api_error *e);

typedef enum wh_api_kind { WH_API_CHAT = 0, WH_API_COMPLETION } wh_api_kind;

/* Limits the parser enforces on untrusted input. */
#define WH_API_MAX_MESSAGES 4096
#define WH_API_MAX_STOP 4         /* as OpenAI */
#define WH_API_MAX_STOP_BYTES 256 /* per stop string */
#define WH_API_MAX_LOGIT_BIAS 1024
#define WH_API_MAX_N 16
#define WH_API_MAX_TOOL_CALLS 128

/* A parsed request. Strings point into the parsed JSON (owned here) or into
 * allocations owned here; everything is released by wh_api_request_free. */
typedef struct wh_api_request {
    wh_api_kind kind;
    const char *model; /* may be NULL: the server's model is used */
    wh_chat_msg *msgs; /* CHAT */
    int n_msgs;
    const char *prompt; /* COMPLETION */
    int stream, include_usage;
    int max_tokens;           /* -1: not given (the rest of the context) */
    float temperature, top_p; /* valid when *_set */
    int temperature_set, top_p_set;
    int top_k;                /* extension; 0 = off */
    float min_p;              /* extension; 0 = off */
    float repetition_penalty; /* extension; 1 = off */
    float presence_penalty, frequency_penalty;
    uint64_t seed;
    int seed_set;
    int n;
    int think_budget; /* extension; -1 = unlimited */
    const char *stop[WH_API_MAX_STOP];
    int n_stop;
    wh_logit_bias *logit_bias;
    int n_logit_bias;
    /* private */
    void *json;   /* the parsed body (json_object) */
    char **owned; /* strings built while parsing (joined content parts) */
    int n_owned, cap_owned;
    wh_chat_tool_call *calls; /* all messages' tool calls, one block */
} wh_api_request;

/* Parses and validates a request body of len bytes (need not be NUL-terminated) for
 * the given endpoint. On error fills e (status 400) and returns -1; rq is then empty
 * (wh_api_request_free is still safe). */
int wh_api_parse(wh_api_kind kind, const char *body, size_t len, wh_api_request *rq,
                 wh_api_error *e);
void wh_api_request_free(wh_api_request *rq);

/* What the server knows about its model, for the checks that need it. */
typedef struct wh_api_model_info {
    const char *id; /* the model name reported by /v1/models */
    int n_ctx;      /* positions per slot */
    int n_vocab;    /* logit_bias ids must be below this */
    int reasoning;  /* R1 / R1-Distill family: R1 defaults, starts_in_reasoning */
} wh_api_model_info;

/* Builds the generation parameters of choice `index` (seed + index) for a prompt
 * of n_prompt tokens. Checks the prompt fits the context (400
 * context_length_exceeded) and that max_tokens fits beside it; an absent max_tokens
 * is the rest of the context. gp->stop and gp->sampler.logit_bias point into rq. */
int wh_api_gen_params(const wh_api_request *rq, const wh_api_model_info *mi, int n_prompt,
                      int index, wh_gen_params *gp, wh_api_error *e);

/* "stop", "length" (max_tokens or context full), "cancelled". */
const char *wh_api_finish_reason(wh_finish f);

/* Token counts of a response, summed over its choices (prompt counted once). */
typedef struct wh_api_usage {
    int prompt_tokens, completion_tokens, reasoning_tokens;
} wh_api_usage;

/* One finished choice of a non-streamed response. */
typedef struct wh_api_choice {
    const char *content;
    size_t content_len;
    const char *reasoning; /* NULL: no reasoning_content field */
    size_t reasoning_len;
    const char *finish_reason;
} wh_api_choice;

/* Identity shared by every chunk of a response. */
typedef struct wh_api_meta {
    const char *id; /* "chatcmpl-..." or "cmpl-..." */
    const char *model;
    long long created; /* unix seconds */
} wh_api_meta;

/* The whole non-streamed response (chat.completion or text_completion). Returns a
 * NUL-terminated JSON text (free with free), NULL when out of memory. */
char *wh_api_response_json(wh_api_kind kind, const wh_api_meta *mt, const wh_api_choice *ch, int n,
                           const wh_api_usage *u);

/* Streaming. Each function returns one complete SSE event "data: {...}\n\n" (free
 * with free), NULL when out of memory.
 *  - role chunk: the first chunk of a chat choice, delta {"role":"assistant","content":""};
 *  - text chunk: text goes to delta.content, or delta.reasoning_content when
 *    is_reasoning (COMPLETION: choices[].text, reasoning is not streamed);
 *  - finish chunk: an empty delta and finish_reason;
 *  - usage chunk: "choices": [] and usage (stream_options.include_usage). */
char *wh_api_sse_role(const wh_api_meta *mt, int index);
char *wh_api_sse_text(wh_api_kind kind, const wh_api_meta *mt, int index, const char *text,
                      size_t len, int is_reasoning);
char *wh_api_sse_finish(wh_api_kind kind, const wh_api_meta *mt, int index, const char *reason);
char *wh_api_sse_usage(wh_api_kind kind, const wh_api_meta *mt, const wh_api_usage *u);
/* The stream's last event. */
#define WH_API_SSE_DONE "data: [DONE]\n\n"

/* GET /v1/models. */
char *wh_api_models_json(const char *id, long long created);

#endif
