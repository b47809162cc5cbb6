/*
 * api.c — request parsing/validation and response building for the OpenAI /
 * DeepSeek-compatible API of `whale serve` (see api.h). Pure functions over json-c:
 * no sockets, no engine, so every bad-input class is unit-tested (tests/test_api.c).
 *
 * Every number taken from a request is type- and range-checked before it is used;
 * every count is bounded (api.h limits) and sizes are overflow-checked.
 */
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/checked.h"
#include "serve/api.h"

#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
#define MAX_DEPTH 64

int wh_api_fail(wh_api_error *e, int status, const char *param, const char *code, const char *fmt,
                ...)
{
    va_list ap;
    e->status = status;
    switch (status) {
    case 401:
        e->type = "authentication_error";
        break;
    case 404:
        e->type = "not_found_error";
        break;
    case 429:
        e->type = "rate_limit_error";
        break;
    case 503:
        e->type = "unavailable_error";
        break;
    default:
        e->type = status >= 500 ? "server_error" : "invalid_request_error";
        break;
    }
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    snprintf(e->code, sizeof e->code, "%s", code ? code : "");
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- UTF-8: responses carry valid UTF-8 only ---- */

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if it is not one (RFC 3629:
 * no overlongs, no surrogates, nothing above U+10FFFF). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return len;
}

/* A json string of text[0..len) with every invalid byte replaced by U+FFFD. */
static json_object *json_text(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        size_t k = utf8_seq(s + i, len - i);
        if (k == 0 || memchr(s + i, 0, k) != NULL)
            break;
        i += k;
    }
    if (i == len)
        return json_object_new_string_len(text, (int)len);
    uint64_t cap;
    if (len > INT_MAX / 3 || !wh_mul_u64(len, 3, &cap))
        return NULL;
    char *buf = wh_malloc((size_t)cap + 1);
    if (buf == NULL)
        return NULL;
    size_t o = 0;
    for (i = 0; i < len;) {
        size_t k = utf8_seq(s + i, len - i);
        if (k == 0 || s[i] == 0) {
            memcpy(buf + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        } else {
            memcpy(buf + o, s + i, k);
            o += k;
            i += k;
        }
    }
    json_object *j = json_object_new_string_len(buf, (int)o);
    wh_free(buf);
    return j;
}

/* Serialises and frees o; returns a malloc'd copy with `prefix` and `suffix`. */
static char *json_finish(json_object *o, const char *prefix, const char *suffix)
{
    if (o == NULL)
        return NULL;
    const char *s = json_object_to_json_string_ext(o, JSON_FLAGS);
    char *out = NULL;
    if (s != NULL) {
        size_t a = strlen(prefix), b = strlen(s), c = strlen(suffix);
        out = wh_malloc(a + b + c + 1);
        if (out != NULL) {
            memcpy(out, prefix, a);
            memcpy(out + a, s, b);
            memcpy(out + a + b, suffix, c + 1);
        }
    }
    json_object_put(o);
    return out;
}

char *wh_api_error_json(const wh_api_error *e)
{
    json_object *o = json_object_new_object(), *d = json_object_new_object();
    if (o == NULL || d == NULL) {
        json_object_put(o);
        json_object_put(d);
        return NULL;
    }
    json_object_object_add(d, "message", json_text(e->message, strlen(e->message)));
    json_object_object_add(d, "type", json_object_new_string(e->type ? e->type : "server_error"));
    json_object_object_add(d, "param", e->param[0] ? json_object_new_string(e->param) : NULL);
    json_object_object_add(d, "code", e->code[0] ? json_object_new_string(e->code) : NULL);
    json_object_object_add(o, "error", d);
    return json_finish(o, "", "");
}

/* ---- request parsing ---- */

static int bad_type(wh_api_error *e, const char *param, const char *want)
{
    return wh_api_fail(e, 400, param, "invalid_type", "Invalid type for '%s': expected %s.", param,
                       want);
}

static int bad_value(wh_api_error *e, const char *param, const char *rule)
{
    return wh_api_fail(e, 400, param, "invalid_value", "Invalid value for '%s': %s.", param, rule);
}

/* The member `key` of o, or NULL when absent or JSON null. */
static json_object *member(json_object *o, const char *key)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, key, &v))
        return NULL;
    return v;
}

static int get_number(json_object *o, const char *key, double lo, double hi, float *out, int *set,
                      wh_api_error *e)
{
    json_object *v = member(o, key);
    if (v == NULL)
        return 0;
    if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
        return bad_type(e, key, "a number");
    double d = json_object_get_double(v);
    if (!(d >= lo && d <= hi)) {
        char rule[96];
        snprintf(rule, sizeof rule, "must be between %g and %g", lo, hi);
        return bad_value(e, key, rule);
    }
    *out = (float)d;
    if (set)
        *set = 1;
    return 0;
}

static int get_int(json_object *o, const char *key, long long lo, long long hi, long long *out,
                   int *set, wh_api_error *e)
{
    json_object *v = member(o, key);
    if (v == NULL)
        return 0;
    if (!json_object_is_type(v, json_type_int))
        return bad_type(e, key, "an integer");
    errno = 0;
    long long x = (long long)json_object_get_int64(v);
    if (errno != 0 || x < lo || x > hi) {
        char rule[96];
        snprintf(rule, sizeof rule, "must be an integer from %lld to %lld", lo, hi);
        return bad_value(e, key, rule);
    }
    *out = x;
    if (set)
        *set = 1;
    return 0;
}

static int get_bool(json_object *o, const char *key, int *out, wh_api_error *e)
{
    json_object *v = member(o, key);
    if (v == NULL)
        return 0;
    if (!json_object_is_type(v, json_type_boolean))
        return bad_type(e, key, "a boolean");
    *out = json_object_get_boolean(v) ? 1 : 0;
    return 0;
}

/* A string of the JSON value, rejecting embedded NULs (the chat format needs C strings). */
static int get_string(json_object *v, const char *param, const char **out, wh_api_error *e)
{
    if (!json_object_is_type(v, json_type_string))
        return bad_type(e, param, "a string");
    const char *s = json_object_get_string(v);
    if ((size_t)json_object_get_string_len(v) != strlen(s))
        return bad_value(e, param, "must not contain NUL characters");
    *out = s;
    return 0;
}

static int keep_owned(wh_api_request *rq, char *s)
{
    if (rq->n_owned == rq->cap_owned) {
        int cap = rq->cap_owned ? rq->cap_owned * 2 : 8;
        char **v = wh_realloc(rq->owned, (size_t)cap * sizeof *v);
        if (v == NULL)
            return -1;
        rq->owned = v;
        rq->cap_owned = cap;
    }
    rq->owned[rq->n_owned++] = s;
    return 0;
}

/* content: a string, or an array of {"type":"text","text":...} parts (joined). */
static int parse_content(wh_api_request *rq, json_object *v, const char *param, const char **out,
                         wh_api_error *e)
{
    if (json_object_is_type(v, json_type_string))
        return get_string(v, param, out, e);
    if (!json_object_is_type(v, json_type_array))
        return bad_type(e, param, "a string or an array of text parts");
    size_t n = json_object_array_length(v), total = 0;
    for (size_t i = 0; i < n; i++) {
        json_object *part = json_object_array_get_idx(v, i), *t = NULL, *x = NULL;
        if (!json_object_is_type(part, json_type_object) ||
            !json_object_object_get_ex(part, "type", &t) ||
            !json_object_is_type(t, json_type_string) ||
            strcmp(json_object_get_string(t), "text") != 0 ||
            !json_object_object_get_ex(part, "text", &x) ||
            !json_object_is_type(x, json_type_string))
            return wh_api_fail(e, 400, param, "invalid_value",
                               "Invalid content part %zu in '%s': only {\"type\": \"text\", "
                               "\"text\": \"...\"} parts are supported.",
                               i, param);
        total += (size_t)json_object_get_string_len(x); /* bounded by the body size */
    }
    char *s = wh_malloc(total + 1);
    if (s == NULL || keep_owned(rq, s) != 0) {
        wh_free(s);
        return wh_api_fail(e, 500, NULL, NULL, "out of memory");
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        json_object *x = NULL;
        json_object_object_get_ex(json_object_array_get_idx(v, i), "text", &x);
        size_t k = (size_t)json_object_get_string_len(x);
        memcpy(s + o, json_object_get_string(x), k);
        o += k;
    }
    s[o] = '\0';
    if (strlen(s) != o)
        return bad_value(e, param, "must not contain NUL characters");
    *out = s;
    return 0;
}

static int parse_tool_calls(wh_api_request *rq, json_object *v, const char *param, wh_chat_msg *m,
                            int *used, wh_api_error *e)
{
    if (!json_object_is_type(v, json_type_array))
        return bad_type(e, param, "an array");
    size_t n = json_object_array_length(v);
    if (n > (size_t)(WH_API_MAX_TOOL_CALLS - *used))
        return bad_value(e, param, "too many tool calls");
    m->tool_calls = rq->calls + *used;
    m->n_tool_calls = (int)n;
    for (size_t i = 0; i < n; i++) {
        json_object *c = json_object_array_get_idx(v, i), *f = NULL, *x;
        wh_chat_tool_call *tc = rq->calls + *used + i;
        if (!json_object_is_type(c, json_type_object) ||
            !json_object_object_get_ex(c, "function", &f) ||
            !json_object_is_type(f, json_type_object))
            return bad_value(e, param, "each tool call needs a \"function\" object");
        if ((x = member(c, "type")) != NULL && get_string(x, param, &tc->type, e) != 0)
            return -1;
        x = member(f, "name");
        if (x == NULL || get_string(x, param, &tc->name, e) != 0)
            return x == NULL ? bad_value(e, param, "each function needs a \"name\"") : -1;
        x = member(f, "arguments");
        if (x == NULL || get_string(x, param, &tc->arguments, e) != 0)
            return x == NULL
                       ? bad_value(e, param, "each function needs \"arguments\" (a JSON string)")
                       : -1;
    }
    *used += (int)n;
    return 0;
}

static int parse_messages(wh_api_request *rq, json_object *root, wh_api_error *e)
{
    json_object *v = member(root, "messages");
    if (v == NULL)
        return wh_api_fail(e, 400, "messages", "missing_required_parameter",
                           "Missing required parameter: 'messages'.");
    if (!json_object_is_type(v, json_type_array))
        return bad_type(e, "messages", "an array");
    size_t n = json_object_array_length(v);
    if (n == 0)
        return bad_value(e, "messages", "must contain at least one message");
    if (n > WH_API_MAX_MESSAGES)
        return bad_value(e, "messages", "too many messages (at most 4096)");
    rq->msgs = wh_calloc(n, sizeof *rq->msgs);
    rq->calls = wh_calloc(WH_API_MAX_TOOL_CALLS, sizeof *rq->calls);
    if (rq->msgs == NULL || rq->calls == NULL)
        return wh_api_fail(e, 500, NULL, NULL, "out of memory");
    int used = 0;
    for (size_t i = 0; i < n; i++) {
        char param[64];
        json_object *m = json_object_array_get_idx(v, i), *x;
        wh_chat_msg *cm = rq->msgs + i;
        snprintf(param, sizeof param, "messages[%zu]", i);
        if (!json_object_is_type(m, json_type_object))
            return bad_type(e, param, "an object");
        snprintf(param, sizeof param, "messages[%zu].role", i);
        x = member(m, "role");
        if (x == NULL)
            return wh_api_fail(e, 400, param, "missing_required_parameter",
                               "Missing required parameter: '%s'.", param);
        if (get_string(x, param, &cm->role, e) != 0)
            return -1;
        if (strcmp(cm->role, "developer") == 0)
            cm->role = "system";
        if (strcmp(cm->role, "system") != 0 && strcmp(cm->role, "user") != 0 &&
            strcmp(cm->role, "assistant") != 0 && strcmp(cm->role, "tool") != 0)
            return bad_value(e, param, "must be one of 'system', 'user', 'assistant', 'tool'");
        int assistant = strcmp(cm->role, "assistant") == 0;
        snprintf(param, sizeof param, "messages[%zu].tool_calls", i);
        if (assistant && (x = member(m, "tool_calls")) != NULL &&
            parse_tool_calls(rq, x, param, cm, &used, e) != 0)
            return -1;
        snprintf(param, sizeof param, "messages[%zu].content", i);
        x = member(m, "content");
        if (x == NULL) {
            if (!(assistant && cm->n_tool_calls > 0))
                return wh_api_fail(e, 400, param, "missing_required_parameter",
                                   "Missing required parameter: '%s'.", param);
        } else if (parse_content(rq, x, param, &cm->content, e) != 0) {
            return -1;
        }
        /* an earlier turn's reasoning is accepted and dropped, as R1's format requires */
        snprintf(param, sizeof param, "messages[%zu].reasoning_content", i);
        if (assistant && (x = member(m, "reasoning_content")) != NULL &&
            get_string(x, param, &cm->reasoning, e) != 0)
            return -1;
    }
    rq->n_msgs = (int)n;
    return 0;
}

static int parse_stop(wh_api_request *rq, json_object *root, wh_api_error *e)
{
    json_object *v = member(root, "stop");
    if (v == NULL)
        return 0;
    json_object *one[1] = {v};
    size_t n = 1;
    int is_array = json_object_is_type(v, json_type_array);
    if (is_array) {
        n = json_object_array_length(v);
        if (n > WH_API_MAX_STOP)
            return bad_value(e, "stop", "at most 4 stop sequences");
    } else if (!json_object_is_type(v, json_type_string)) {
        return bad_type(e, "stop", "a string or an array of strings");
    }
    for (size_t i = 0; i < n; i++) {
        json_object *s = is_array ? json_object_array_get_idx(v, i) : one[0];
        const char *str;
        if (get_string(s, "stop", &str, e) != 0)
            return -1;
        if (str[0] == '\0')
            return bad_value(e, "stop", "stop sequences must not be empty");
        if (strlen(str) > WH_API_MAX_STOP_BYTES)
            return bad_value(e, "stop", "a stop sequence is at most 256 bytes");
        rq->stop[rq->n_stop++] = str;
    }
    return 0;
}

static int parse_logit_bias(wh_api_request *rq, json_object *root, wh_api_error *e)
{
    json_object *v = member(root, "logit_bias");
    if (v == NULL)
        return 0;
    if (!json_object_is_type(v, json_type_object))
        return bad_type(e, "logit_bias", "an object mapping token ids to numbers");
    int n = json_object_object_length(v);
    if (n > WH_API_MAX_LOGIT_BIAS)
        return bad_value(e, "logit_bias", "at most 1024 entries");
    if (n == 0)
        return 0;
    rq->logit_bias = wh_calloc((size_t)n, sizeof *rq->logit_bias);
    if (rq->logit_bias == NULL)
        return wh_api_fail(e, 500, NULL, NULL, "out of memory");
    json_object_object_foreach(v, key, val)
    {
        char *end;
        errno = 0;
        long id = strtol(key, &end, 10);
        if (key[0] < '0' || key[0] > '9' || *end != '\0' || errno != 0 || id > INT32_MAX)
            return bad_value(e, "logit_bias", "keys must be token ids (non-negative integers)");
        if (!json_object_is_type(val, json_type_double) && !json_object_is_type(val, json_type_int))
            return bad_type(e, "logit_bias", "numbers as values");
        double b = json_object_get_double(val);
        if (!(b >= -100 && b <= 100))
            return bad_value(e, "logit_bias", "biases must be between -100 and 100");
        wh_logit_bias *lb = rq->logit_bias + rq->n_logit_bias++;
        lb->token = (int32_t)id;
        lb->bias = b <= -100 ? -INFINITY : (float)b; /* -100 bans the token, as OpenAI */
    }
    return 0;
}

static int parse_prompt(wh_api_request *rq, json_object *root, wh_api_error *e)
{
    json_object *v = member(root, "prompt");
    if (v == NULL)
        return wh_api_fail(e, 400, "prompt", "missing_required_parameter",
                           "Missing required parameter: 'prompt'.");
    if (json_object_is_type(v, json_type_array)) {
        if (json_object_array_length(v) != 1)
            return bad_value(e, "prompt", "give one prompt string (batches are not supported)");
        v = json_object_array_get_idx(v, 0);
    }
    return get_string(v, "prompt", &rq->prompt, e);
}

static int parse_body(wh_api_kind kind, json_object *root, wh_api_request *rq, wh_api_error *e)
{
    long long x;
    int set = 0;
    json_object *v;
    if (!json_object_is_type(root, json_type_object))
        return wh_api_fail(e, 400, NULL, "invalid_request",
                           "The request body must be a JSON object.");
    if ((v = member(root, "model")) != NULL && get_string(v, "model", &rq->model, e) != 0)
        return -1;
    if (kind == WH_API_CHAT ? parse_messages(rq, root, e) : parse_prompt(rq, root, e))
        return -1;
    if (get_bool(root, "stream", &rq->stream, e))
        return -1;
    if ((v = member(root, "stream_options")) != NULL) {
        if (!json_object_is_type(v, json_type_object))
            return bad_type(e, "stream_options", "an object");
        if (!rq->stream)
            return bad_value(e, "stream_options", "only allowed when 'stream' is true");
        if (get_bool(v, "include_usage", &rq->include_usage, e))
            return -1;
    }
    if (get_int(root, "max_tokens", 1, INT_MAX, &x, &set, e))
        return -1;
    if (set)
        rq->max_tokens = (int)x;
    set = 0;
    if (get_int(root, "max_completion_tokens", 1, INT_MAX, &x, &set, e))
        return -1;
    if (set)
        rq->max_tokens = (int)x;
    if (get_number(root, "temperature", 0, 2, &rq->temperature, &rq->temperature_set, e) ||
        get_number(root, "top_p", 0, 1, &rq->top_p, &rq->top_p_set, e) ||
        get_number(root, "presence_penalty", -2, 2, &rq->presence_penalty, NULL, e) ||
        get_number(root, "frequency_penalty", -2, 2, &rq->frequency_penalty, NULL, e) ||
        get_number(root, "min_p", 0, 1, &rq->min_p, NULL, e) ||
        get_number(root, "repetition_penalty", 0.01, 100, &rq->repetition_penalty, NULL, e))
        return -1;
    set = 0;
    if (get_int(root, "top_k", 0, 1 << 24, &x, &set, e))
        return -1;
    if (set)
        rq->top_k = (int)x;
    if (get_int(root, "seed", LLONG_MIN, LLONG_MAX, &x, &rq->seed_set, e))
        return -1;
    if (rq->seed_set)
        rq->seed = (uint64_t)x;
    set = 0;
    if (get_int(root, "n", 1, WH_API_MAX_N, &x, &set, e))
        return -1;
    if (set)
        rq->n = (int)x;
    set = 0;
    if (get_int(root, "think_budget", -1, 1 << 24, &x, &set, e))
        return -1;
    if (set)
        rq->think_budget = (int)x;
    if (parse_stop(rq, root, e) || parse_logit_bias(rq, root, e))
        return -1;
    if ((v = member(root, "logprobs")) != NULL && json_object_is_type(v, json_type_boolean) &&
        json_object_get_boolean(v))
        return bad_value(e, "logprobs", "log probabilities are not supported");
    return 0;
}

static void request_init(wh_api_request *rq, wh_api_kind kind)
{
    memset(rq, 0, sizeof *rq);
    rq->kind = kind;
    rq->max_tokens = -1;
    rq->n = 1;
    rq->think_budget = -1;
    rq->repetition_penalty = 1.0f;
}

/* Offset of a single quote outside a string, or len: json-c (0.16) accepts
 * single-quoted strings even in strict mode. */
static size_t single_quote_at(const char *s, size_t len)
{
    int in_string = 0;
    for (size_t i = 0; i < len; i++) {
        if (in_string) {
            if (s[i] == '\\')
                i++;
            else if (s[i] == '"')
                in_string = 0;
        } else if (s[i] == '"') {
            in_string = 1;
        } else if (s[i] == '\'') {
            return i;
        }
    }
    return len;
}

int wh_api_parse(wh_api_kind kind, const char *body, size_t len, wh_api_request *rq,
                 wh_api_error *e)
{
    request_init(rq, kind);
    if (body == NULL || len == 0)
        return wh_api_fail(e, 400, NULL, "invalid_request",
                           "The request body is empty; "
                           "send a JSON object.");
    if (len > INT_MAX)
        return wh_api_fail(e, 413, NULL, "request_too_large", "The request body is too large.");
    size_t q = single_quote_at(body, len);
    if (q != len)
        return wh_api_fail(e, 400, NULL, "invalid_json",
                           "The request body is not valid JSON (a single quote at byte %zu).", q);
    json_tokener *tok = json_tokener_new_ex(MAX_DEPTH);
    if (tok == NULL)
        return wh_api_fail(e, 500, NULL, NULL, "out of memory");
    /* RFC 8259 exactly: no single quotes or other json-c leniencies, valid UTF-8 */
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    json_object *root = json_tokener_parse_ex(tok, body, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    if (jerr == json_tokener_continue && end == len) {
        /* a bare literal ("null", "5") ends only at the end of input: say so */
        root = json_tokener_parse_ex(tok, "", 1);
        jerr = json_tokener_get_error(tok);
    }
    json_tokener_free(tok);
    if (root == NULL && jerr == json_tokener_success)
        return wh_api_fail(e, 400, NULL, "invalid_request",
                           "The request body must be a JSON object.");
    if (root == NULL || jerr != json_tokener_success) {
        json_object_put(root);
        return wh_api_fail(
            e, 400, NULL, "invalid_json", "The request body is not valid JSON (%s at byte %zu).",
            jerr == json_tokener_continue ? "unexpected end" : json_tokener_error_desc(jerr), end);
    }
    while (end < len &&
           (body[end] == ' ' || body[end] == '\n' || body[end] == '\r' || body[end] == '\t'))
        end++;
    if (end != len) {
        json_object_put(root);
        return wh_api_fail(e, 400, NULL, "invalid_json",
                           "The request body is not valid JSON (extra data at byte %zu).", end);
    }
    rq->json = root;
    if (parse_body(kind, root, rq, e) != 0) {
        wh_api_request_free(rq);
        request_init(rq, kind);
        return -1;
    }
    return 0;
}

void wh_api_request_free(wh_api_request *rq)
{
    if (rq == NULL)
        return;
    json_object_put(rq->json);
    for (int i = 0; i < rq->n_owned; i++)
        wh_free(rq->owned[i]);
    wh_free(rq->owned);
    wh_free(rq->msgs);
    wh_free(rq->calls);
    wh_free(rq->logit_bias);
    memset(rq, 0, sizeof *rq);
}

int wh_api_gen_params(const wh_api_request *rq, const wh_api_model_info *mi, int n_prompt,
                      int index, wh_gen_params *gp, wh_api_error *e)
{
    const char *pparam = rq->kind == WH_API_CHAT ? "messages" : "prompt";
    if (n_prompt >= mi->n_ctx)
        return wh_api_fail(e, 400, pparam, "context_length_exceeded",
                           "This model's maximum context length is %d tokens; your %s "
                           "resulted in %d tokens, leaving no room for a reply. Shorten the %s.",
                           mi->n_ctx, rq->kind == WH_API_CHAT ? "messages" : "prompt", n_prompt,
                           pparam);
    int room = mi->n_ctx - n_prompt;
    if (rq->max_tokens > room)
        return wh_api_fail(e, 400, "max_tokens", "context_length_exceeded",
                           "max_tokens is too large: %d, but the context is %d tokens and the "
                           "prompt uses %d, so at most %d can be generated.",
                           rq->max_tokens, mi->n_ctx, n_prompt, room);
    for (int i = 0; i < rq->n_logit_bias; i++)
        if (rq->logit_bias[i].token >= mi->n_vocab)
            return wh_api_fail(e, 400, "logit_bias", "invalid_value",
                               "Invalid value for 'logit_bias': token id %d is outside the "
                               "vocabulary of %d tokens.",
                               (int)rq->logit_bias[i].token, mi->n_vocab);
    memset(gp, 0, sizeof *gp);
    wh_sampler_params *sp = &gp->sampler;
    *sp = wh_sampler_defaults();
    /* R1's recommended settings; otherwise OpenAI's defaults (1.0, 1.0) */
    sp->temperature = rq->temperature_set ? rq->temperature : (mi->reasoning ? 0.6f : 1.0f);
    sp->top_p = rq->top_p_set ? rq->top_p : (mi->reasoning ? 0.95f : 1.0f);
    if (sp->top_p <= 0)
        sp->top_k = 1; /* top_p 0 keeps the most likely token only */
    if (sp->top_p <= 0)
        sp->top_p = 1;
    if (rq->top_k > 0)
        sp->top_k = rq->top_k;
    sp->min_p = rq->min_p;
    sp->repetition_penalty = rq->repetition_penalty;
    sp->presence_penalty = rq->presence_penalty;
    sp->frequency_penalty = rq->frequency_penalty;
    sp->seed = rq->seed + (uint64_t)index;
    sp->logit_bias = rq->logit_bias;
    sp->n_logit_bias = rq->n_logit_bias;
    gp->max_tokens = rq->max_tokens > 0 ? rq->max_tokens : room;
    gp->think_budget = rq->think_budget;
    gp->stop = rq->stop;
    gp->n_stop = rq->n_stop;
    gp->starts_in_reasoning = rq->kind == WH_API_CHAT && mi->reasoning;
    return 0;
}

const char *wh_api_finish_reason(wh_finish f)
{
    switch (f) {
    case WH_FINISH_STOP:
        return "stop";
    case WH_FINISH_LENGTH:
    case WH_FINISH_CONTEXT:
        return "length";
    case WH_FINISH_CANCELLED:
        return "cancelled";
    }
    return "stop";
}

/* ---- responses ---- */

static json_object *usage_json(const wh_api_usage *u)
{
    json_object *o = json_object_new_object(), *d = json_object_new_object();
    json_object_object_add(o, "prompt_tokens", json_object_new_int(u->prompt_tokens));
    json_object_object_add(o, "completion_tokens", json_object_new_int(u->completion_tokens));
    json_object_object_add(o, "total_tokens",
                           json_object_new_int64((int64_t)u->prompt_tokens + u->completion_tokens));
    json_object_object_add(d, "reasoning_tokens", json_object_new_int(u->reasoning_tokens));
    json_object_object_add(o, "completion_tokens_details", d);
    return o;
}

static json_object *envelope(wh_api_kind kind, const wh_api_meta *mt, int chunk)
{
    json_object *o = json_object_new_object();
    if (o == NULL)
        return NULL;
    const char *object = kind == WH_API_CHAT ? (chunk ? "chat.completion.chunk" : "chat.completion")
                                             : "text_completion";
    json_object_object_add(o, "id", json_object_new_string(mt->id));
    json_object_object_add(o, "object", json_object_new_string(object));
    json_object_object_add(o, "created", json_object_new_int64(mt->created));
    json_object_object_add(o, "model", json_text(mt->model, strlen(mt->model)));
    json_object_object_add(o, "system_fingerprint", json_object_new_string("whale-" WHALE_VERSION));
    return o;
}

char *wh_api_response_json(wh_api_kind kind, const wh_api_meta *mt, const wh_api_choice *ch, int n,
                           const wh_api_usage *u)
{
    json_object *o = envelope(kind, mt, 0), *arr = json_object_new_array();
    if (o == NULL || arr == NULL) {
        json_object_put(o);
        json_object_put(arr);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        json_object *c = json_object_new_object();
        json_object_object_add(c, "index", json_object_new_int(i));
        if (kind == WH_API_CHAT) {
            json_object *msg = json_object_new_object();
            json_object_object_add(msg, "role", json_object_new_string("assistant"));
            json_object_object_add(msg, "content", json_text(ch[i].content, ch[i].content_len));
            if (ch[i].reasoning != NULL)
                json_object_object_add(msg, "reasoning_content",
                                       json_text(ch[i].reasoning, ch[i].reasoning_len));
            json_object_object_add(c, "message", msg);
        } else {
            json_object_object_add(c, "text", json_text(ch[i].content, ch[i].content_len));
        }
        json_object_object_add(c, "logprobs", NULL);
        json_object_object_add(c, "finish_reason", json_object_new_string(ch[i].finish_reason));
        json_object_array_add(arr, c);
    }
    json_object_object_add(o, "choices", arr);
    json_object_object_add(o, "usage", usage_json(u));
    return json_finish(o, "", "");
}

static char *sse(json_object *o)
{
    return json_finish(o, "data: ", "\n\n");
}

/* A chunk envelope with one choice {index, delta|text, finish_reason}. */
static json_object *chunk_with_choice(wh_api_kind kind, const wh_api_meta *mt, int index,
                                      json_object *delta_or_text, const char *finish)
{
    json_object *o = envelope(kind, mt, 1), *arr = json_object_new_array(),
                *c = json_object_new_object();
    if (o == NULL || arr == NULL || c == NULL) {
        json_object_put(o);
        json_object_put(arr);
        json_object_put(c);
        json_object_put(delta_or_text);
        return NULL;
    }
    json_object_object_add(c, "index", json_object_new_int(index));
    json_object_object_add(c, kind == WH_API_CHAT ? "delta" : "text", delta_or_text);
    json_object_object_add(c, "logprobs", NULL);
    json_object_object_add(c, "finish_reason", finish ? json_object_new_string(finish) : NULL);
    json_object_array_add(arr, c);
    json_object_object_add(o, "choices", arr);
    return o;
}

char *wh_api_sse_role(const wh_api_meta *mt, int index)
{
    json_object *d = json_object_new_object();
    json_object_object_add(d, "role", json_object_new_string("assistant"));
    json_object_object_add(d, "content", json_object_new_string(""));
    return sse(chunk_with_choice(WH_API_CHAT, mt, index, d, NULL));
}

char *wh_api_sse_text(wh_api_kind kind, const wh_api_meta *mt, int index, const char *text,
                      size_t len, int is_reasoning)
{
    json_object *t = json_text(text, len);
    if (t == NULL)
        return NULL;
    if (kind == WH_API_CHAT) {
        json_object *d = json_object_new_object();
        json_object_object_add(d, is_reasoning ? "reasoning_content" : "content", t);
        t = d;
    }
    return sse(chunk_with_choice(kind, mt, index, t, NULL));
}

char *wh_api_sse_finish(wh_api_kind kind, const wh_api_meta *mt, int index, const char *reason)
{
    json_object *d = kind == WH_API_CHAT ? json_object_new_object() : json_object_new_string("");
    return sse(chunk_with_choice(kind, mt, index, d, reason));
}

char *wh_api_sse_usage(wh_api_kind kind, const wh_api_meta *mt, const wh_api_usage *u)
{
    json_object *o = envelope(kind, mt, 1);
    if (o == NULL)
        return NULL;
    json_object_object_add(o, "choices", json_object_new_array());
    json_object_object_add(o, "usage", usage_json(u));
    return sse(o);
}

char *wh_api_models_json(const char *id, long long created)
{
    json_object *o = json_object_new_object(), *arr = json_object_new_array(),
                *m = json_object_new_object();
    json_object_object_add(m, "id", json_text(id, strlen(id)));
    json_object_object_add(m, "object", json_object_new_string("model"));
    json_object_object_add(m, "created", json_object_new_int64(created));
    json_object_object_add(m, "owned_by", json_object_new_string("whale"));
    json_object_array_add(arr, m);
    json_object_object_add(o, "object", json_object_new_string("list"));
    json_object_object_add(o, "data", arr);
    return json_finish(o, "", "");
}
