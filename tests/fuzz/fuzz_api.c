/*
 * fuzz_api.c — libFuzzer target for the request handling of `whale serve` that needs no
 * socket (src/serve/api.h): wh_api_parse on the input as a chat-completions and as a
 * completions body, then what the server does next with a parsed request — the chat
 * rendering of its messages (wh_chat_render), the generation parameters
 * (wh_api_gen_params) and the response and stream chunks that echo its text back
 * (wh_api_response_json, wh_api_sse_text). Checks: an error always has a 4xx/5xx status
 * and a message, and every JSON the server would send parses back (the input's invalid
 * UTF-8 is replaced, never passed through).
 */
#include "fuzz.h"

#include <json-c/json.h>

#include "serve/api.h"

/* text must be one JSON object (after an optional "data: " and before "\n\n"). */
static void check_json(char *text, const char *prefix)
{
    if (text == NULL)
        abort(); /* only out of memory, which does not happen here */
    const char *p = text;
    size_t n = strlen(text);
    size_t np = strlen(prefix);
    if (np > 0) {
        if (strncmp(p, prefix, np) != 0 || n < np + 2 || strcmp(p + n - 2, "\n\n") != 0)
            abort();
        p += np;
        n -= np + 2;
    }
    json_tokener *tok = json_tokener_new();
    json_object *o = json_tokener_parse_ex(tok, p, (int)n);
    if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
        json_tokener_get_parse_end(tok) != n) {
        fprintf(stderr, "fuzz_api: not JSON: %s\n", text);
        abort();
    }
    json_object_put(o);
    json_tokener_free(tok);
    free(text);
}

static void use_request(const wh_api_request *rq, size_t size)
{
    if (rq->kind == WH_API_CHAT) {
        char *text = NULL;
        size_t len = 0;
        wh_error err;
        memset(&err, 0, sizeof err);
        int rc = wh_chat_render(WH_CHAT_R1, rq->msgs, rq->n_msgs, 1, &text, &len, &err);
        if (rc == WH_OK)
            wh_free(text);
        else
            fuzz_check_error(rc, &err);
    }
    wh_api_model_info mi = {"whale-fuzz", 256, 1000, (int)(size & 1)};
    wh_gen_params gp;
    wh_api_error e;
    memset(&e, 0, sizeof e);
    if (wh_api_gen_params(rq, &mi, (int)(size % 300), 1, &gp, &e) != 0) {
        if (e.status < 400 || e.message[0] == '\0')
            abort();
        check_json(wh_api_error_json(&e), "");
    }
    const char *text =
        rq->kind == WH_API_CHAT ? (rq->n_msgs ? rq->msgs[0].content : NULL) : rq->prompt;
    if (text == NULL)
        text = "";
    wh_api_meta mt = {"chatcmpl-1", rq->model ? rq->model : "whale", 1700000000};
    wh_api_choice ch = {text, strlen(text), rq->n_stop ? rq->stop[0] : NULL,
                        rq->n_stop ? strlen(rq->stop[0]) : 0, "stop"};
    wh_api_usage u = {1, 2, 3};
    check_json(wh_api_response_json(rq->kind, &mt, &ch, 1, &u), "");
    check_json(wh_api_sse_text(rq->kind, &mt, 0, text, strlen(text), 1), "data: ");
    check_json(wh_api_sse_text(rq->kind, &mt, 0, text, strlen(text), 0), "data: ");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *body = malloc(size ? size : 1); /* exact size: ASan sees over-reads */
    if (body == NULL)
        abort();
    memcpy(body, data, size);
    for (int kind = WH_API_CHAT; kind <= WH_API_COMPLETION; kind++) {
        wh_api_request rq;
        wh_api_error e;
        memset(&e, 0, sizeof e);
        if (wh_api_parse((wh_api_kind)kind, body, size, &rq, &e) == 0) {
            use_request(&rq, size);
        } else {
            if (e.status < 400 || e.status > 599 || e.message[0] == '\0')
                abort();
            check_json(wh_api_error_json(&e), "");
        }
        wh_api_request_free(&rq);
    }
    /* the same bytes as generated text: always valid JSON out */
    wh_api_meta mt = {"cmpl-1", "whale", 1};
    check_json(wh_api_sse_text(WH_API_CHAT, &mt, 0, body, size, 0), "data: ");
    free(body);
    return 0;
}
