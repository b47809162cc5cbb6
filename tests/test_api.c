/*
 * test_api.c — the HTTP API of `whale serve` without sockets (src/serve/api.c,
 * metrics.c): request parsing and validation (every bad-input class gives the right
 * status, error type and param), generation parameters and their defaults, response
 * JSON, SSE chunk format, UTF-8 repair, and the Prometheus exposition.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "serve/api.h"
#include "serve/metrics.h"

static int parse(wh_api_kind kind, const char *body, wh_api_request *rq, wh_api_error *e)
{
    memset(e, 0, sizeof *e);
    return wh_api_parse(kind, body, strlen(body), rq, e);
}

static void test_parse_full_chat(void **state)
{
    (void)state;
    const char *body =
        "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"s\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\","
        "\"text\":\"b\"}]},"
        "{\"role\":\"assistant\",\"content\":\"ans\",\"reasoning_content\":\"why\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"1\",\"type\":"
        "\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"1\",\"content\":\"42\"},"
        "{\"role\":\"developer\",\"content\":\"d\"}],"
        "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"max_tokens\":10,"
        "\"max_completion_tokens\":12,\"temperature\":0.5,\"top_p\":0.9,\"seed\":-3,\"n\":2,"
        "\"presence_penalty\":1,\"frequency_penalty\":-1,\"logit_bias\":{\"5\":2,\"7\":-100},"
        "\"stop\":[\"x\",\"yy\"],\"think_budget\":64,\"top_k\":40,\"min_p\":0.05,"
        "\"user\":\"ignored\",\"tools\":[]}";
    wh_api_request rq;
    wh_api_error e;
    assert_int_equal(parse(WH_API_CHAT, body, &rq, &e), 0);
    assert_string_equal(rq.model, "m");
    assert_int_equal(rq.n_msgs, 6);
    assert_string_equal(rq.msgs[1].content, "ab");
    assert_string_equal(rq.msgs[2].reasoning, "why");
    assert_null(rq.msgs[3].content);
    assert_int_equal(rq.msgs[3].n_tool_calls, 1);
    assert_string_equal(rq.msgs[3].tool_calls[0].name, "f");
    assert_string_equal(rq.msgs[3].tool_calls[0].arguments, "{}");
    assert_string_equal(rq.msgs[5].role, "system");
    assert_true(rq.stream && rq.include_usage);
    assert_int_equal(rq.max_tokens, 12); /* max_completion_tokens wins */
    assert_true(rq.temperature_set && rq.top_p_set);
    assert_true(rq.seed_set);
    assert_int_equal((int64_t)rq.seed, -3);
    assert_int_equal(rq.n, 2);
    assert_int_equal(rq.n_logit_bias, 2);
    assert_int_equal(rq.n_stop, 2);
    assert_string_equal(rq.stop[1], "yy");
    assert_int_equal(rq.think_budget, 64);
    assert_int_equal(rq.top_k, 40);
    float ban = 0;
    for (int i = 0; i < rq.n_logit_bias; i++)
        if (rq.logit_bias[i].token == 7)
            ban = rq.logit_bias[i].bias;
    assert_true(isinf(ban) && ban < 0); /* -100 bans, as OpenAI */
    wh_api_request_free(&rq);
}

static void test_parse_defaults_and_completion(void **state)
{
    (void)state;
    wh_api_request rq;
    wh_api_error e;
    assert_int_equal(
        parse(WH_API_CHAT, " {\"messages\":[{\"role\":\"user\",\"content\":\"\"}]}\n", &rq, &e), 0);
    assert_int_equal(rq.max_tokens, -1);
    assert_int_equal(rq.n, 1);
    assert_int_equal(rq.think_budget, -1);
    assert_false(rq.stream || rq.temperature_set || rq.seed_set);
    wh_api_request_free(&rq);
    assert_int_equal(parse(WH_API_COMPLETION, "{\"prompt\":\"once\",\"stop\":\"\\n\"}", &rq, &e),
                     0);
    assert_string_equal(rq.prompt, "once");
    assert_int_equal(rq.n_stop, 1);
    wh_api_request_free(&rq);
    assert_int_equal(parse(WH_API_COMPLETION, "{\"prompt\":[\"one\"]}", &rq, &e), 0);
    assert_string_equal(rq.prompt, "one");
    wh_api_request_free(&rq);
}

/* Every class of bad input: status, type, param. */
static void test_parse_bad_inputs(void **state)
{
    (void)state;
    static const struct {
        wh_api_kind kind;
        const char *body, *param, *code;
    } cases[] = {
        {WH_API_CHAT, "", "", "invalid_request"},
        {WH_API_CHAT, "{\"messages\": [", "", "invalid_json"},
        {WH_API_CHAT, "{\"messages\": []} x", "", "invalid_json"},
        {WH_API_CHAT, "{'messages': []}", "", "invalid_json"},
        {WH_API_CHAT, "{\"messages\": [\"\xff\"]}", "", "invalid_json"},
        {WH_API_CHAT, "[1]", "", "invalid_request"},
        {WH_API_CHAT, "null", "", "invalid_request"},
        {WH_API_CHAT, "{}", "messages", "missing_required_parameter"},
        {WH_API_CHAT, "{\"messages\":{}}", "messages", "invalid_type"},
        {WH_API_CHAT, "{\"messages\":[]}", "messages", "invalid_value"},
        {WH_API_CHAT, "{\"messages\":[1]}", "messages[0]", "invalid_type"},
        {WH_API_CHAT, "{\"messages\":[{\"content\":\"x\"}]}", "messages[0].role",
         "missing_required_parameter"},
        {WH_API_CHAT, "{\"messages\":[{\"role\":1,\"content\":\"x\"}]}", "messages[0].role",
         "invalid_type"},
        {WH_API_CHAT, "{\"messages\":[{\"role\":\"bot\",\"content\":\"x\"}]}", "messages[0].role",
         "invalid_value"},
        {WH_API_CHAT, "{\"messages\":[{\"role\":\"user\"}]}", "messages[0].content",
         "missing_required_parameter"},
        {WH_API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":null}]}",
         "messages[0].content", "missing_required_parameter"},
        {WH_API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":7}]}", "messages[0].content",
         "invalid_type"},
        {WH_API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\\u0000b\"}]}",
         "messages[0].content", "invalid_value"},
        {WH_API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}",
         "messages[0].content", "invalid_value"},
        {WH_API_CHAT,
         "{\"messages\":[{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{}]}]}",
         "messages[0].tool_calls", "invalid_value"},
        {WH_API_CHAT,
         "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":\"1\"}",
         "temperature", "invalid_type"},
        {WH_API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":2.5}",
         "temperature", "invalid_value"},
        {WH_API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_p\":-0.1}",
         "top_p", "invalid_value"},
        {WH_API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":0}",
         "max_tokens", "invalid_value"},
        {WH_API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":2.0}",
         "max_tokens", "invalid_type"},
        {WH_API_CHAT,
         "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":99999999999}",
         "max_tokens", "invalid_value"},
        {WH_API_CHAT,
         "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_completion_tokens\":-5}",
         "max_completion_tokens", "invalid_value"},
        {WH_API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":0}", "n",
         "invalid_value"},
        {WH_API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":17}", "n",
         "invalid_value"},
        {WH_API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"seed\":1.5}", "seed",
         "invalid_type"},
        {WH_API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":1}",
         "stream", "invalid_type"},
        {WH_API_CHAT,
         "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream_options\":{}}",
         "stream_options", "invalid_value"},
        {WH_API_CHAT,
         "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":true,"
         "\"stream_options\":{\"include_usage\":\"yes\"}}",
         "include_usage", "invalid_type"},
        {WH_API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":3}", "stop",
         "invalid_type"},
        {WH_API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":[\"\"]}",
         "stop", "invalid_value"},
        {WH_API_CHAT,
         "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":[\"a\",\"b\",\"c\",\"d\","
         "\"e\"]}",
         "stop", "invalid_value"},
        {WH_API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logit_bias\":[]}",
         "logit_bias", "invalid_type"},
        {WH_API_CHAT,
         "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logit_bias\":{\"-1\":1}}",
         "logit_bias", "invalid_value"},
        {WH_API_CHAT,
         "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logit_bias\":{\"1x\":1}}",
         "logit_bias", "invalid_value"},
        {WH_API_CHAT,
         "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logit_bias\":{\"1\":101}}",
         "logit_bias", "invalid_value"},
        {WH_API_CHAT,
         "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logit_bias\":{\"1\":\"a\"}}",
         "logit_bias", "invalid_type"},
        {WH_API_CHAT,
         "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"presence_penalty\":2.1}",
         "presence_penalty", "invalid_value"},
        {WH_API_CHAT,
         "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"frequency_penalty\":[]}",
         "frequency_penalty", "invalid_type"},
        {WH_API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"think_budget\":-2}",
         "think_budget", "invalid_value"},
        {WH_API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"model\":5}", "model",
         "invalid_type"},
        {WH_API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logprobs\":true}",
         "logprobs", "invalid_value"},
        {WH_API_COMPLETION, "{}", "prompt", "missing_required_parameter"},
        {WH_API_COMPLETION, "{\"prompt\":1}", "prompt", "invalid_type"},
        {WH_API_COMPLETION, "{\"prompt\":[\"a\",\"b\"]}", "prompt", "invalid_value"},
        {WH_API_COMPLETION, "{\"prompt\":[[1,2]]}", "prompt", "invalid_type"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        wh_api_request rq;
        wh_api_error e;
        int rc = parse(cases[i].kind, cases[i].body, &rq, &e);
        if (rc == 0 || e.status != 400 || strcmp(e.param, cases[i].param) != 0 ||
            strcmp(e.code, cases[i].code) != 0)
            fail_msg("case %zu (%s): rc %d status %d param '%s' code '%s' (%s)", i, cases[i].body,
                     rc, e.status, e.param, e.code, e.message);
        assert_string_equal(e.type, "invalid_request_error");
        assert_true(strlen(e.message) > 10);
        assert_null(rq.json);
        wh_api_request_free(&rq);
    }
}

static void test_parse_deep_nesting(void **state)
{
    (void)state;
    char body[4096];
    size_t n = 0;
    n += (size_t)snprintf(body, sizeof body, "{\"messages\":");
    for (int i = 0; i < 1000; i++)
        body[n++] = '[';
    body[n] = '\0';
    wh_api_request rq;
    wh_api_error e;
    assert_int_equal(parse(WH_API_CHAT, body, &rq, &e), -1);
    assert_int_equal(e.status, 400);
    assert_string_equal(e.code, "invalid_json");
}

static const wh_api_model_info R1 = {"r1", 100, 256, 1};
static const wh_api_model_info PLAIN = {"p", 100, 256, 0};

static void test_gen_params(void **state)
{
    (void)state;
    wh_api_request rq;
    wh_api_error e;
    wh_gen_params gp;
    assert_int_equal(parse(WH_API_CHAT,
                           "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"seed\":9,"
                           "\"stop\":\"END\",\"logit_bias\":{\"3\":1.5},\"think_budget\":8}",
                           &rq, &e),
                     0);
    assert_int_equal(wh_api_gen_params(&rq, &R1, 30, 2, &gp, &e), 0);
    assert_true(fabsf(gp.sampler.temperature - 0.6f) < 1e-6f); /* R1's recommended defaults */
    assert_true(fabsf(gp.sampler.top_p - 0.95f) < 1e-6f);
    assert_int_equal((int)gp.sampler.seed, 11); /* seed + index */
    assert_int_equal(gp.max_tokens, 70);        /* the rest of the context */
    assert_int_equal(gp.think_budget, 8);
    assert_int_equal(gp.n_stop, 1);
    assert_string_equal(gp.stop[0], "END");
    assert_int_equal(gp.sampler.n_logit_bias, 1);
    assert_true(gp.starts_in_reasoning);
    assert_int_equal(wh_api_gen_params(&rq, &PLAIN, 30, 0, &gp, &e), 0);
    assert_true(fabsf(gp.sampler.temperature - 1.0f) < 1e-6f); /* OpenAI's defaults */
    assert_false(gp.starts_in_reasoning);
    /* prompt longer than (or as long as) the context */
    assert_int_equal(wh_api_gen_params(&rq, &R1, 100, 0, &gp, &e), -1);
    assert_int_equal(e.status, 400);
    assert_string_equal(e.param, "messages");
    assert_string_equal(e.code, "context_length_exceeded");
    assert_non_null(strstr(e.message, "100"));
    wh_api_request_free(&rq);

    /* max_tokens beyond the context beside the prompt */
    assert_int_equal(
        parse(WH_API_CHAT,
              "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":71,"
              "\"temperature\":0}",
              &rq, &e),
        0);
    assert_int_equal(wh_api_gen_params(&rq, &R1, 30, 0, &gp, &e), -1);
    assert_string_equal(e.param, "max_tokens");
    assert_string_equal(e.code, "context_length_exceeded");
    assert_int_equal(wh_api_gen_params(&rq, &R1, 29, 0, &gp, &e), 0);
    assert_int_equal(gp.max_tokens, 71);
    assert_true(gp.sampler.temperature == 0.0f); /* explicit 0 is greedy, not the default */
    wh_api_request_free(&rq);

    /* logit_bias id outside the vocabulary */
    assert_int_equal(
        parse(WH_API_COMPLETION, "{\"prompt\":\"x\",\"logit_bias\":{\"256\":1}}", &rq, &e), 0);
    assert_int_equal(wh_api_gen_params(&rq, &R1, 3, 0, &gp, &e), -1);
    assert_string_equal(e.param, "logit_bias");
    wh_api_request_free(&rq);
}

static json_object *parse_json(const char *s)
{
    json_object *o = json_tokener_parse(s);
    assert_non_null(o);
    return o;
}

static const char *jstr(json_object *o, const char *path0, const char *path1)
{
    json_object *v = NULL;
    assert_true(json_object_object_get_ex(o, path0, &v));
    if (path1 != NULL)
        assert_true(json_object_object_get_ex(v, path1, &v));
    return json_object_get_string(v);
}

static void test_error_json(void **state)
{
    (void)state;
    wh_api_error e;
    wh_api_fail(&e, 429, NULL, "rate_limit_exceeded", "busy \"now\"");
    char *s = wh_api_error_json(&e);
    json_object *o = parse_json(s);
    json_object *err = NULL, *param = NULL;
    assert_true(json_object_object_get_ex(o, "error", &err));
    assert_string_equal(jstr(err, "message", NULL), "busy \"now\"");
    assert_string_equal(jstr(err, "type", NULL), "rate_limit_error");
    assert_string_equal(jstr(err, "code", NULL), "rate_limit_exceeded");
    assert_true(json_object_object_get_ex(err, "param", &param));
    assert_null(param); /* JSON null */
    json_object_put(o);
    free(s);
    wh_api_fail(&e, 401, NULL, NULL, "x");
    assert_string_equal(e.type, "authentication_error");
    wh_api_fail(&e, 404, NULL, NULL, "x");
    assert_string_equal(e.type, "not_found_error");
    wh_api_fail(&e, 413, NULL, NULL, "x");
    assert_string_equal(e.type, "invalid_request_error");
}

static void test_response_json(void **state)
{
    (void)state;
    wh_api_meta mt = {"chatcmpl-1", "model/x", 1700000000};
    wh_api_choice ch[2] = {{"hello", 5, "think", 5, "stop"}, {"bad\xff", 4, NULL, 0, "length"}};
    wh_api_usage u = {10, 7, 3};
    char *s = wh_api_response_json(WH_API_CHAT, &mt, ch, 2, &u);
    json_object *o = parse_json(s);
    assert_string_equal(jstr(o, "object", NULL), "chat.completion");
    assert_string_equal(jstr(o, "model", NULL), "model/x");
    assert_null(strstr(s, "\\/")); /* slashes not escaped */
    json_object *choices = NULL;
    assert_true(json_object_object_get_ex(o, "choices", &choices));
    assert_int_equal(json_object_array_length(choices), 2);
    json_object *c0 = json_object_array_get_idx(choices, 0),
                *c1 = json_object_array_get_idx(choices, 1);
    assert_string_equal(jstr(c0, "message", "content"), "hello");
    assert_string_equal(jstr(c0, "message", "reasoning_content"), "think");
    assert_string_equal(jstr(c0, "finish_reason", NULL), "stop");
    json_object *msg1 = NULL, *rc = NULL;
    json_object_object_get_ex(c1, "message", &msg1);
    assert_false(json_object_object_get_ex(msg1, "reasoning_content", &rc));
    assert_string_equal(jstr(c1, "message", "content"), "bad\xEF\xBF\xBD"); /* U+FFFD */
    json_object *usage = NULL, *v = NULL;
    json_object_object_get_ex(o, "usage", &usage);
    json_object_object_get_ex(usage, "total_tokens", &v);
    assert_int_equal(json_object_get_int(v), 17);
    assert_string_equal(jstr(usage, "completion_tokens_details", "reasoning_tokens"), "3");
    json_object_put(o);
    free(s);

    wh_api_choice t = {"text", 4, NULL, 0, "length"};
    s = wh_api_response_json(WH_API_COMPLETION, &mt, &t, 1, &u);
    o = parse_json(s);
    assert_string_equal(jstr(o, "object", NULL), "text_completion");
    json_object_object_get_ex(o, "choices", &choices);
    assert_string_equal(jstr(json_object_array_get_idx(choices, 0), "text", NULL), "text");
    json_object_put(o);
    free(s);

    s = wh_api_models_json("dsv3.gguf", 5);
    o = parse_json(s);
    assert_string_equal(jstr(o, "object", NULL), "list");
    json_object_put(o);
    free(s);
}

/* One SSE event: "data: " + one line of JSON + a blank line. */
static json_object *sse_event(char *s)
{
    size_t n = strlen(s);
    assert_true(n > 8);
    assert_memory_equal(s, "data: ", 6);
    assert_memory_equal(s + n - 2, "\n\n", 2);
    assert_null(memchr(s, '\n', n - 2));
    s[n - 2] = '\0';
    json_object *o = parse_json(s + 6);
    free(s);
    return o;
}

static json_object *first_choice(json_object *o)
{
    json_object *choices = NULL;
    assert_true(json_object_object_get_ex(o, "choices", &choices));
    assert_int_equal(json_object_array_length(choices), 1);
    return json_object_array_get_idx(choices, 0);
}

static void test_sse_chunks(void **state)
{
    (void)state;
    wh_api_meta mt = {"chatcmpl-2", "m", 1};
    json_object *o = sse_event(wh_api_sse_role(&mt, 1));
    assert_string_equal(jstr(o, "object", NULL), "chat.completion.chunk");
    json_object *c = first_choice(o);
    assert_string_equal(jstr(c, "index", NULL), "1");
    assert_string_equal(jstr(c, "delta", "role"), "assistant");
    json_object *fr = NULL;
    assert_true(json_object_object_get_ex(c, "finish_reason", &fr));
    assert_null(fr);
    json_object_put(o);

    o = sse_event(wh_api_sse_text(WH_API_CHAT, &mt, 0, "hmm\n", 4, 1));
    c = first_choice(o);
    assert_string_equal(jstr(c, "delta", "reasoning_content"), "hmm\n");
    json_object *d = NULL, *x = NULL;
    json_object_object_get_ex(c, "delta", &d);
    assert_false(json_object_object_get_ex(d, "content", &x));
    json_object_put(o);

    o = sse_event(wh_api_sse_text(WH_API_CHAT, &mt, 0, "answer", 6, 0));
    assert_string_equal(jstr(first_choice(o), "delta", "content"), "answer");
    json_object_put(o);

    o = sse_event(wh_api_sse_text(WH_API_COMPLETION, &mt, 0, "raw", 3, 0));
    assert_string_equal(jstr(o, "object", NULL), "text_completion");
    assert_string_equal(jstr(first_choice(o), "text", NULL), "raw");
    json_object_put(o);

    o = sse_event(wh_api_sse_finish(WH_API_CHAT, &mt, 0, "length"));
    assert_string_equal(jstr(first_choice(o), "finish_reason", NULL), "length");
    json_object_put(o);

    wh_api_usage u = {3, 4, 1};
    o = sse_event(wh_api_sse_usage(WH_API_CHAT, &mt, &u));
    json_object *choices = NULL;
    json_object_object_get_ex(o, "choices", &choices);
    assert_int_equal(json_object_array_length(choices), 0);
    assert_string_equal(jstr(o, "usage", "total_tokens"), "7");
    json_object_put(o);
    assert_string_equal(WH_API_SSE_DONE, "data: [DONE]\n\n");
}

static void test_utf8_repair(void **state)
{
    (void)state;
    wh_api_meta mt = {"id", "m", 1};
    /* valid multi-byte kept; overlong, surrogate, truncated and stray bytes replaced */
    const char in[] = "\xC3\xA9|\xC0\xAF|\xED\xA0\x80|\xE2\x82|\x80";
    json_object *o = sse_event(wh_api_sse_text(WH_API_CHAT, &mt, 0, in, sizeof in - 1, 0));
    const char *got = jstr(first_choice(o), "delta", "content");
    assert_string_equal(got,
                        "\xC3\xA9|\xEF\xBF\xBD\xEF\xBF\xBD|\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD|"
                        "\xEF\xBF\xBD\xEF\xBF\xBD|\xEF\xBF\xBD");
    json_object_put(o);
}

static void test_finish_reason(void **state)
{
    (void)state;
    assert_string_equal(wh_api_finish_reason(WH_FINISH_STOP), "stop");
    assert_string_equal(wh_api_finish_reason(WH_FINISH_LENGTH), "length");
    assert_string_equal(wh_api_finish_reason(WH_FINISH_CONTEXT), "length");
}

static void test_metrics(void **state)
{
    (void)state;
    wh_metrics *m = wh_metrics_new();
    assert_non_null(m);
    wh_metrics_request(m, WH_EP_CHAT, 200, 0.02);
    wh_metrics_request(m, WH_EP_CHAT, 200, 3);
    wh_metrics_request(m, WH_EP_CHAT, 429, 0.001);
    wh_metrics_inflight(m, 1);
    wh_engine_stats st = {4, 2, 1, 10, 1, 100, 50, 20, 0.5};
    size_t len = 0;
    char *s = wh_metrics_render(m, &st, &len);
    assert_non_null(s);
    assert_int_equal(strlen(s), len);
    assert_non_null(strstr(
        s, "whale_http_requests_total{endpoint=\"/v1/chat/completions\",status=\"200\"} 2\n"));
    assert_non_null(strstr(
        s, "whale_http_requests_total{endpoint=\"/v1/chat/completions\",status=\"429\"} 1\n"));
    assert_non_null(strstr(s, "whale_http_request_duration_seconds_bucket{endpoint=\"/v1/chat/"
                              "completions\",le=\"0.025\"} 2\n"));
    assert_non_null(strstr(s, "whale_http_request_duration_seconds_bucket{endpoint=\"/v1/chat/"
                              "completions\",le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(s, "whale_slots_active 2\n"));
    assert_non_null(strstr(s, "whale_queue_depth 1\n"));
    assert_non_null(strstr(s, "whale_generated_tokens_total 50\n"));
    assert_non_null(strstr(s, "whale_http_requests_in_flight 1\n"));
    free(s);
    s = wh_metrics_render(m, NULL, NULL); /* while loading */
    assert_non_null(strstr(s, "whale_model_loaded 0\n"));
    assert_null(strstr(s, "whale_slots_active"));
    free(s);
    wh_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_full_chat),
        cmocka_unit_test(test_parse_defaults_and_completion),
        cmocka_unit_test(test_parse_bad_inputs),
        cmocka_unit_test(test_parse_deep_nesting),
        cmocka_unit_test(test_gen_params),
        cmocka_unit_test(test_error_json),
        cmocka_unit_test(test_response_json),
        cmocka_unit_test(test_sse_chunks),
        cmocka_unit_test(test_utf8_repair),
        cmocka_unit_test(test_finish_reason),
        cmocka_unit_test(test_metrics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
