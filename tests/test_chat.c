/*
 * test_chat.c — the chat formats (src/tokenizer/chat.c) against the official templates'
 * output: every case of ../shared/testdata/tokenizer/chat/cases.jsonl (rendered with
 * @huggingface/jinja, see that folder's README) must render to its text and, with the
 * matching tokenizer.json, encode to its ids. Also: template and vocabulary detection,
 * template quirks outside cases.jsonl (expected strings rendered from the same .jinja
 * files with Python jinja2 3.1.6), the plain fallback, and bad input (NULL fields,
 * unknown roles, invalid UTF-8, conversations over the size bound, failed allocations).
 * The data-driven tests are skipped (with a message) when the test data is absent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "base/alloc.h"
#include "base/mapfile.h"
#include "tokenizer/chat.h"

#define TD "../shared/testdata/tokenizer/"

static int have_data(void)
{
    if (wh_is_dir(TD "chat"))
        return 1;
    printf("skipped: %s not found\n", TD "chat");
    return 0;
}

static char *slurp(const char *path, size_t *len)
{
    char *s = NULL;
    uint64_t n = 0;
    wh_error err = {0};
    if (wh_read_text(path, 1u << 30, &s, &n, &err) != WH_OK)
        fail_msg("%s", err.msg);
    *len = (size_t)n;
    return s;
}

/* ---- loaded tokenizers, shared by the tests ---- */

static struct {
    char path[256];
    wh_tokenizer *t;
} g_tok[4];

static wh_tokenizer *tok(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, TD "%s/tokenizer.json", name);
    size_t i = 0;
    for (; i < sizeof g_tok / sizeof g_tok[0] && g_tok[i].t != NULL; i++)
        if (strcmp(g_tok[i].path, path) == 0)
            return g_tok[i].t;
    assert_true(i < sizeof g_tok / sizeof g_tok[0]);
    wh_error err = {0};
    wh_tokenizer *t = NULL;
    if (wh_tokenizer_load(path, &t, &err) != WH_OK)
        fail_msg("%s: %s", path, err.msg);
    snprintf(g_tok[i].path, sizeof g_tok[i].path, "%s", path);
    g_tok[i].t = t;
    return t;
}

static int teardown_all(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof g_tok / sizeof g_tok[0]; i++) {
        wh_tokenizer_free(g_tok[i].t);
        g_tok[i].t = NULL;
    }
    return 0;
}

/* ---- helpers ---- */

static void expect_render(wh_chat_family f, const wh_chat_msg *m, int n, int agp, const char *want)
{
    char *text = NULL;
    size_t len = 0;
    wh_error err = {0};
    int rc = wh_chat_render(f, m, n, agp, &text, &len, &err);
    if (rc != WH_OK)
        fail_msg("render: %s", err.msg);
    assert_int_equal(len, strlen(want));
    assert_string_equal(text, want);
    wh_free(text);
}

static void expect_error(wh_chat_family f, const wh_chat_msg *m, int n, int code,
                         const char *in_msg)
{
    char *text = (char *)"sentinel";
    size_t len = 7;
    wh_error err = {0};
    int rc = wh_chat_render(f, m, n, 1, &text, &len, &err);
    assert_int_equal(rc, code);
    assert_null(text);
    assert_int_equal(len, 0);
    if (strstr(err.msg, in_msg) == NULL)
        fail_msg("error message \"%s\" lacks \"%s\"", err.msg, in_msg);
}

static wh_chat_family family_of_template_file(const char *name)
{
    if (strcmp(name, "deepseek-r1.jinja") == 0)
        return WH_CHAT_R1;
    if (strcmp(name, "deepseek-v3.jinja") == 0)
        return WH_CHAT_V3;
    if (strcmp(name, "deepseek-r1-distill.jinja") == 0)
        return WH_CHAT_R1_DISTILL;
    fail_msg("unknown template %s in cases.jsonl", name);
    return WH_CHAT_PLAIN;
}

static const char *str_or_null(json_object *o, const char *key)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
        return NULL;
    return json_object_get_string(v);
}

/* ---- cases.jsonl ---- */

static void test_cases(void **state)
{
    (void)state;
    if (!have_data())
        return;
    size_t n = 0;
    char *all = slurp(TD "chat/cases.jsonl", &n);
    int passed[3] = {0}, with_ids[3] = {0}, total = 0;
    for (char *line = all; line < all + n;) {
        char *nl = memchr(line, '\n', (size_t)(all + n - line));
        size_t ll = nl != NULL ? (size_t)(nl - line) : (size_t)(all + n - line);
        if (ll == 0) {
            line += 1;
            continue;
        }
        json_tokener *tk = json_tokener_new();
        json_object *c = json_tokener_parse_ex(tk, line, (int)ll);
        json_tokener_free(tk);
        assert_non_null(c);
        line += ll + 1;

        const char *name = str_or_null(c, "name");
        wh_chat_family f = family_of_template_file(str_or_null(c, "template"));
        json_object *jm = NULL, *jagp = NULL, *jids = NULL;
        assert_true(json_object_object_get_ex(c, "messages", &jm));
        assert_true(json_object_object_get_ex(c, "add_generation_prompt", &jagp));
        int nm = (int)json_object_array_length(jm);
        wh_chat_msg msgs[16];
        wh_chat_tool_call calls[16];
        int nc = 0;
        assert_true(nm <= 16);
        for (int i = 0; i < nm; i++) {
            json_object *o = json_object_array_get_idx(jm, (size_t)i), *jc = NULL;
            msgs[i] =
                (wh_chat_msg){.role = str_or_null(o, "role"), .content = str_or_null(o, "content")};
            if (json_object_object_get_ex(o, "tool_calls", &jc)) {
                msgs[i].tool_calls = &calls[nc];
                for (size_t k = 0; k < json_object_array_length(jc); k++) {
                    json_object *t = json_object_array_get_idx(jc, k), *fn = NULL;
                    assert_true(nc < 16);
                    assert_true(json_object_object_get_ex(t, "function", &fn));
                    calls[nc++] = (wh_chat_tool_call){.type = str_or_null(t, "type"),
                                                      .name = str_or_null(fn, "name"),
                                                      .arguments = str_or_null(fn, "arguments")};
                    msgs[i].n_tool_calls++;
                }
            }
        }
        char *text = NULL;
        size_t len = 0;
        wh_error err = {0};
        if (wh_chat_render(f, msgs, nm, json_object_get_boolean(jagp), &text, &len, &err) != WH_OK)
            fail_msg("%s/%s: %s", wh_chat_family_name(f), name, err.msg);
        const char *want = str_or_null(c, "text");
        if (len != strlen(want) || memcmp(text, want, len) != 0)
            fail_msg("%s/%s:\n got  %s\n want %s", wh_chat_family_name(f), name, text, want);

        if (json_object_object_get_ex(c, "ids", &jids) &&
            json_object_is_type(jids, json_type_array)) {
            wh_tokenizer *t = tok(str_or_null(c, "tokenizer"));
            int32_t *ids = NULL;
            size_t n_ids = 0;
            if (wh_chat_encode(t, f, msgs, nm, json_object_get_boolean(jagp), &ids, &n_ids, &err) !=
                WH_OK)
                fail_msg("%s/%s: %s", wh_chat_family_name(f), name, err.msg);
            assert_int_equal(n_ids, json_object_array_length(jids));
            for (size_t k = 0; k < n_ids; k++)
                if (ids[k] != json_object_get_int(json_object_array_get_idx(jids, k)))
                    fail_msg("%s/%s: id %zu is %d, want %d", wh_chat_family_name(f), name, k,
                             ids[k], json_object_get_int(json_object_array_get_idx(jids, k)));
            wh_free(ids);
            with_ids[f]++;
        }
        wh_free(text);
        json_object_put(c);
        passed[f]++;
        total++;
    }
    wh_free(all);
    printf("chat cases: r1 %d (%d with ids), v3 %d (%d), r1-distill %d (%d); %d in all\n",
           passed[WH_CHAT_R1], with_ids[WH_CHAT_R1], passed[WH_CHAT_V3], with_ids[WH_CHAT_V3],
           passed[WH_CHAT_R1_DISTILL], with_ids[WH_CHAT_R1_DISTILL], total);
    assert_int_equal(total, 27);
}

/* ---- detection ---- */

static void test_detect_templates(void **state)
{
    (void)state;
    if (!have_data())
        return;
    static const struct {
        const char *file;
        wh_chat_family f;
    } known[] = {
        {TD "chat/deepseek-r1.jinja", WH_CHAT_R1},
        {TD "chat/deepseek-v3.jinja", WH_CHAT_V3},
        {TD "chat/deepseek-r1-distill.jinja", WH_CHAT_R1_DISTILL},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        size_t n = 0;
        char *t = slurp(known[i].file, &n);
        wh_chat_match how = WH_CHAT_MATCH_NONE;
        assert_int_equal(wh_chat_detect(t, NULL, &how), known[i].f);
        assert_int_equal(how, WH_CHAT_MATCH_EXACT);
        /* an edited copy is recognised by its markers */
        char *edited = wh_malloc(n + 2);
        assert_non_null(edited);
        memcpy(edited, t, n);
        memcpy(edited + n, " ", 2);
        assert_int_equal(wh_chat_detect(edited, NULL, &how), known[i].f);
        assert_int_equal(how, WH_CHAT_MATCH_SIMILAR);
        wh_free(edited);
        wh_free(t);
    }
    /* the V3 tokenizer_config.json carries the V3 template */
    size_t n = 0;
    char *cfg = slurp(TD "deepseek-v3/tokenizer_config.json", &n);
    json_object *o = json_tokener_parse(cfg);
    json_object *ct = NULL;
    assert_true(json_object_object_get_ex(o, "chat_template", &ct));
    wh_chat_match how = WH_CHAT_MATCH_NONE;
    assert_int_equal(wh_chat_detect(json_object_get_string(ct), NULL, &how), WH_CHAT_V3);
    assert_int_equal(how, WH_CHAT_MATCH_EXACT);
    json_object_put(o);
    wh_free(cfg);
}

static void test_detect_other(void **state)
{
    (void)state;
    wh_chat_match how = WH_CHAT_MATCH_EXACT;
    /* someone else's template (ChatML) is not ours: plain, with the warning state */
    const char *chatml = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}"
                         "<|im_end|>\n{% endfor %}";
    assert_int_equal(wh_chat_detect(chatml, NULL, &how), WH_CHAT_PLAIN);
    assert_int_equal(how, WH_CHAT_MATCH_NONE);
    assert_int_equal(wh_chat_detect(NULL, NULL, &how), WH_CHAT_PLAIN);
    assert_int_equal(how, WH_CHAT_MATCH_NONE);
    assert_int_equal(wh_chat_detect("", NULL, NULL), WH_CHAT_PLAIN);
    /* older R1/Distill templates (generation prompt without <think>) and a bare V3-like one */
    const char *old_r1 = "{% set ns = namespace(is_first_sp=true) %}{{'<｜User｜>' + c}}"
                         "{% set content = content.split('</think>')[-1] %}{{'<｜Assistant｜>'}}";
    assert_int_equal(wh_chat_detect(old_r1, NULL, &how), WH_CHAT_R1);
    assert_int_equal(how, WH_CHAT_MATCH_SIMILAR);
    const char *old_distill =
        "{{'<｜User｜>' + c}}{% set content = content.split('</think>')[-1] %}"
        "{{'<｜Assistant｜>'}}";
    assert_int_equal(wh_chat_detect(old_distill, NULL, &how), WH_CHAT_R1_DISTILL);
    assert_int_equal(wh_chat_detect("<｜User｜>{{x}}<｜Assistant｜>", NULL, &how), WH_CHAT_V3);
    assert_int_equal(how, WH_CHAT_MATCH_SIMILAR);
    assert_string_equal(wh_chat_family_name(WH_CHAT_R1), "deepseek-r1");
    assert_string_equal(wh_chat_family_name(WH_CHAT_PLAIN), "plain");
    assert_string_equal(wh_chat_family_name((wh_chat_family)42), "?");
}

static void test_detect_vocab(void **state)
{
    (void)state;
    if (!have_data())
        return;
    wh_chat_match how = WH_CHAT_MATCH_NONE;
    assert_int_equal(wh_chat_detect(NULL, tok("deepseek-r1"), &how), WH_CHAT_R1);
    assert_int_equal(how, WH_CHAT_MATCH_VOCAB);
    assert_int_equal(wh_chat_detect("", tok("deepseek-v3"), &how), WH_CHAT_V3);
    assert_int_equal(how, WH_CHAT_MATCH_VOCAB);
    assert_int_equal(wh_chat_detect(NULL, tok("deepseek-r1-distill-qwen"), &how),
                     WH_CHAT_R1_DISTILL);
    assert_int_equal(how, WH_CHAT_MATCH_VOCAB);
    /* the template wins over the vocabulary */
    assert_int_equal(wh_chat_detect("<|im_start|>", tok("deepseek-r1"), &how), WH_CHAT_PLAIN);
    assert_int_equal(how, WH_CHAT_MATCH_NONE);
}

/* ---- quirks outside cases.jsonl; expected strings from Python jinja2 3.1.6 ---- */

static const wh_chat_tool_call call_a = {"function", "f", "{\"a\": 1}"};
static const wh_chat_tool_call call_b = {NULL, "g", "{}"};

static void test_quirks(void **state)
{
    (void)state;
    /* R1: content before the calls, and a later tool-call turn continues the first block
     * (the template's is_first flag is never reset); tool outputs without "\n". */
    const wh_chat_msg conv[] = {
        {.role = "user", .content = "q"},
        {.role = "assistant",
         .content = "<think>x</think>Let me check.",
         .tool_calls = &call_a,
         .n_tool_calls = 1},
        {.role = "tool", .content = "1"},
        {.role = "assistant", .content = NULL, .tool_calls = &call_b, .n_tool_calls = 1},
        {.role = "tool", .content = "2"},
        {.role = "assistant", .content = "<think>a</think>b</think>c", .reasoning = "ignored"},
    };
    expect_render(
        WH_CHAT_R1, conv, 6, 1,
        "<｜begin▁of▁sentence｜><｜User｜>q<｜Assistant｜><think>x</think>Let me "
        "check.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>f\n```json\n{\"a\":"
        " 1}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜><｜end▁of▁sentence｜>"
        "<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>1<｜tool▁output▁end｜>"
        "\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>g\n```json\n{}\n```<｜tool▁call▁end｜><"
        "｜tool▁calls▁end｜><｜end▁of▁sentence｜>"
        "<｜tool▁output▁begin｜>2<｜tool▁output▁end｜>"
        "<｜tool▁outputs▁end｜><think>a</think>b</think>c<｜end▁of▁sentence｜>"
        "<｜Assistant｜><think>\n");
    /* V3 and Distill: an assistant turn with content ignores its tool calls, so the
     * null-content turn opens the block (and, with one call, never closes it); outputs
     * joined by "\n"; an answer after tool output keeps its "</think>". */
    expect_render(
        WH_CHAT_V3, conv, 6, 0,
        "<｜begin▁of▁sentence｜><｜User｜>q<｜Assistant｜><think>x</think>Let me "
        "check.<｜end▁of▁sentence｜>"
        "<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>1<｜tool▁output▁end｜>"
        "<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>g\n```"
        "json\n{}\n```<｜tool▁call▁end｜>\n<｜tool▁output▁begin｜>2<｜tool▁output▁end｜>"
        "<｜tool▁outputs▁end｜><think>a</think>b</think>c<｜end▁of▁sentence｜>");
    expect_render(
        WH_CHAT_R1_DISTILL, conv, 6, 1,
        "<｜begin▁of▁sentence｜><｜User｜>q<｜Assistant｜>Let me check.<｜end▁of▁sentence｜>"
        "<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>1<｜tool▁output▁end｜>"
        "<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>g\n```"
        "json\n{}\n```<｜tool▁call▁end｜>\n<｜tool▁output▁begin｜>2<｜tool▁output▁end｜>"
        "<｜tool▁outputs▁end｜><think>a</think>b</think>c<｜end▁of▁sentence｜>"
        "<｜Assistant｜><think>\n");
    /* system messages anywhere in the conversation go first; empty content is valid */
    const wh_chat_msg sys[] = {
        {.role = "user", .content = ""},
        {.role = "system", .content = "S1"},
        {.role = "system", .content = ""},
    };
    expect_render(WH_CHAT_R1, sys, 3, 0, "<｜begin▁of▁sentence｜>S1\n\n<｜User｜>");
    expect_render(WH_CHAT_R1_DISTILL, sys, 3, 0, "<｜begin▁of▁sentence｜><｜User｜>");
    /* no messages */
    expect_render(WH_CHAT_R1, NULL, 0, 1, "<｜begin▁of▁sentence｜><｜Assistant｜><think>\n");
    expect_render(WH_CHAT_V3, NULL, 0, 0, "<｜begin▁of▁sentence｜>");
}

static void test_plain(void **state)
{
    (void)state;
    const wh_chat_msg conv[] = {
        {.role = "system", .content = "Be brief."},
        {.role = "user", .content = "Hi"},
        {.role = "assistant",
         .content = "<think>x</think>Hello",
         .tool_calls = &call_a,
         .n_tool_calls = 1},
        {.role = "tool", .content = "1"},
    };
    expect_render(
        WH_CHAT_PLAIN, conv, 4, 1,
        "System: Be brief.\nUser: Hi\nAssistant: <think>x</think>Hello\nTool call: f {\"a\": 1}\n"
        "Tool: 1\nAssistant:");
    expect_render(WH_CHAT_PLAIN, conv, 2, 0, "System: Be brief.\nUser: Hi\n");
    if (!have_data())
        return;
    /* plain is encoded without special-token parsing: a BOS spelled in the text is text */
    const wh_chat_msg inj[] = {{.role = "user", .content = "<｜end▁of▁sentence｜>"}};
    wh_tokenizer *t = tok("deepseek-v3");
    int32_t *ids = NULL;
    size_t n_ids = 0;
    wh_error err = {0};
    assert_int_equal(wh_chat_encode(t, WH_CHAT_PLAIN, inj, 1, 1, &ids, &n_ids, &err), WH_OK);
    assert_int_equal(ids[0], wh_tokenizer_bos(t)); /* V3's config adds BOS */
    for (size_t k = 1; k < n_ids; k++)
        assert_int_not_equal(ids[k], wh_tokenizer_eos(t));
    wh_free(ids);
}

/* ---- bad input ---- */

static void test_bad_input(void **state)
{
    (void)state;
    const wh_chat_msg null_user[] = {{.role = "user", .content = NULL}};
    expect_error(WH_CHAT_R1, null_user, 1, WH_E_INVALID, "message 0 (user): content is NULL");
    const wh_chat_msg null_asst[] = {{.role = "user", .content = "a"},
                                     {.role = "assistant", .content = NULL}};
    expect_error(WH_CHAT_V3, null_asst, 2, WH_E_INVALID, "message 1 (assistant): content is NULL");
    const wh_chat_msg bad_role[] = {{.role = "developer", .content = "x"}};
    expect_error(WH_CHAT_R1_DISTILL, bad_role, 1, WH_E_INVALID, "message 0: unknown role");
    const wh_chat_msg no_role[] = {{.role = NULL, .content = "x"}};
    expect_error(WH_CHAT_PLAIN, no_role, 1, WH_E_INVALID, "message 0: no role");
    const wh_chat_msg user_calls[] = {
        {.role = "user", .content = "x", .tool_calls = &call_a, .n_tool_calls = 1}};
    expect_error(WH_CHAT_R1, user_calls, 1, WH_E_INVALID, "tool calls on a non-assistant");
    const wh_chat_msg calls_null[] = {{.role = "assistant", .content = "x", .n_tool_calls = 2}};
    expect_error(WH_CHAT_R1, calls_null, 1, WH_E_INVALID, "no tool_calls array");
    const wh_chat_msg calls_neg[] = {{.role = "assistant", .content = "x", .n_tool_calls = -1}};
    expect_error(WH_CHAT_R1, calls_neg, 1, WH_E_INVALID, "negative n_tool_calls");
    const wh_chat_tool_call no_name = {"function", NULL, "{}"}, no_args = {"function", "f", NULL};
    const wh_chat_msg c1[] = {{.role = "assistant", .tool_calls = &no_name, .n_tool_calls = 1}};
    expect_error(WH_CHAT_V3, c1, 1, WH_E_INVALID, "tool call 0: no name");
    const wh_chat_msg c2[] = {{.role = "assistant", .tool_calls = &no_args, .n_tool_calls = 1}};
    expect_error(WH_CHAT_V3, c2, 1, WH_E_INVALID, "tool call 0: no arguments");
    expect_error(WH_CHAT_R1, NULL, 3, WH_E_INVALID, "no message array");
    expect_error(WH_CHAT_R1, bad_role, -1, WH_E_INVALID, "negative message count");
    expect_error((wh_chat_family)99, bad_role, 1, WH_E_INVALID, "unknown format");

    wh_error err = {0};
    size_t len = 0;
    assert_int_equal(wh_chat_render(WH_CHAT_R1, NULL, 0, 1, NULL, &len, &err), WH_E_INVALID);
    int32_t *ids = NULL;
    size_t n_ids = 0;
    assert_int_equal(wh_chat_encode(NULL, WH_CHAT_R1, NULL, 0, 1, &ids, &n_ids, &err),
                     WH_E_INVALID);
}

/* Invalid UTF-8 is passed through byte for byte, and the tokenizer keeps it exact. */
static void test_invalid_utf8(void **state)
{
    (void)state;
    const wh_chat_msg m[] = {{.role = "user", .content = "a\xff\xfe\xc3(\xed\xa0\x80z"}};
    expect_render(
        WH_CHAT_R1, m, 1, 1,
        "<｜begin▁of▁sentence｜><｜User｜>a\xff\xfe\xc3(\xed\xa0\x80z<｜Assistant｜><think>\n");
    if (!have_data())
        return;
    wh_tokenizer *t = tok("deepseek-r1");
    int32_t *ids = NULL;
    size_t n_ids = 0;
    char *text = NULL, *back = NULL;
    size_t len = 0, back_len = 0;
    wh_error err = {0};
    assert_int_equal(wh_chat_render(WH_CHAT_R1, m, 1, 1, &text, &len, &err), WH_OK);
    assert_int_equal(wh_chat_encode(t, WH_CHAT_R1, m, 1, 1, &ids, &n_ids, &err), WH_OK);
    assert_int_equal(wh_tokenizer_decode(t, ids, n_ids, 0, &back, &back_len, &err), WH_OK);
    assert_int_equal(back_len, len);
    assert_memory_equal(back, text, len);
    wh_free(back);
    wh_free(ids);
    wh_free(text);
}

/* A conversation over WH_CHAT_MAX_BYTES is refused before anything is allocated for it;
 * one big message just under it renders. The same 64 MiB string is reused 17 times. */
static void test_huge(void **state)
{
    (void)state;
    const size_t big = (size_t)64 << 20;
    char *s = wh_malloc(big + 1);
    assert_non_null(s);
    memset(s, 'a', big);
    s[big] = '\0';
    wh_chat_msg m[17];
    for (int i = 0; i < 17; i++)
        m[i] = (wh_chat_msg){.role = i % 2 ? "assistant" : "user", .content = s};
    for (int f = WH_CHAT_R1; f <= WH_CHAT_PLAIN; f++)
        expect_error((wh_chat_family)f, m, 17, WH_E_INVALID, "exceeds");
    char *text = NULL;
    size_t len = 0;
    wh_error err = {0};
    assert_int_equal(wh_chat_render(WH_CHAT_R1, m, 1, 1, &text, &len, &err), WH_OK);
    assert_int_equal(len,
                     big + strlen("<｜begin▁of▁sentence｜><｜User｜><｜Assistant｜><think>\n"));
    wh_free(text);
    wh_free(s);
}

static void test_alloc_failure(void **state)
{
    (void)state;
    const wh_chat_msg m[] = {{.role = "user", .content = "hi"}};
    char *text = NULL;
    size_t len = 0;
    wh_error err = {0};
    wh_alloc_fail_at(1);
    int rc = wh_chat_render(WH_CHAT_R1, m, 1, 1, &text, &len, &err);
    wh_alloc_fail_at(0);
    assert_int_equal(rc, WH_E_NOMEM);
    assert_null(text);
    if (!have_data())
        return;
    /* every allocation of render + encode, failed in turn, gives an error and no leak */
    wh_tokenizer *t = tok("deepseek-r1");
    for (long k = 1;; k++) {
        int32_t *ids = NULL;
        size_t n_ids = 0;
        wh_alloc_fail_at(k);
        rc = wh_chat_encode(t, WH_CHAT_R1, m, 1, 1, &ids, &n_ids, &err);
        wh_alloc_fail_at(0);
        if (rc == WH_OK) {
            wh_free(ids);
            break;
        }
        assert_int_equal(rc, WH_E_NOMEM);
        assert_null(ids);
        assert_true(k < 1000);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),        cmocka_unit_test(test_detect_templates),
        cmocka_unit_test(test_detect_other), cmocka_unit_test(test_detect_vocab),
        cmocka_unit_test(test_quirks),       cmocka_unit_test(test_plain),
        cmocka_unit_test(test_bad_input),    cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_huge),         cmocka_unit_test(test_alloc_failure),
    };
    return cmocka_run_group_tests(tests, NULL, teardown_all);
}
