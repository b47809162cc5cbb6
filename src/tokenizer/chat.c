/*
 * chat.c — the DeepSeek-V3, DeepSeek-R1 and R1-Distill conversation formats, rendered
 * in C, plus a plain fallback (docs/TOKENIZER.md, "Chat format").
 *
 * The model file's chat_template is never evaluated: wh_chat_detect only looks for
 * distinctive substrings in it (or, with no template, for the vocabulary's chat tokens).
 * The renderers reproduce, output for output, the official Jinja templates kept in
 * ../shared/testdata/tokenizer/chat/, quirks included (they are what the models were
 * trained on): the tool-call and tool-output "first" flags are never reset within a
 * conversation, V3 and the Distill template close a tool-call block only after a second
 * call, R1 joins tool outputs without a newline, the Distill template keeps only the last
 * system message, and R1/Distill drop everything up to the last "</think>" of an
 * assistant turn (the reasoning of earlier turns).
 *
 * Rendering runs twice over the same code: once to measure (no buffer) and once to
 * write into one exact allocation, so sizes are checked once, against WH_CHAT_MAX_BYTES.
 */
#include "tokenizer/chat.h"

#include <assert.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"

/* Special-token spellings shared by the three DeepSeek formats. */
#define T_BOS "<｜begin▁of▁sentence｜>"
#define T_EOS "<｜end▁of▁sentence｜>"
#define T_USER "<｜User｜>"
#define T_ASSISTANT "<｜Assistant｜>"
#define T_CALLS_BEGIN "<｜tool▁calls▁begin｜>"
#define T_CALLS_END "<｜tool▁calls▁end｜>"
#define T_CALL_BEGIN "<｜tool▁call▁begin｜>"
#define T_CALL_END "<｜tool▁call▁end｜>"
#define T_SEP "<｜tool▁sep｜>"
#define T_OUTPUTS_BEGIN "<｜tool▁outputs▁begin｜>"
#define T_OUTPUTS_END "<｜tool▁outputs▁end｜>"
#define T_OUTPUT_BEGIN "<｜tool▁output▁begin｜>"
#define T_OUTPUT_END "<｜tool▁output▁end｜>"
#define T_THINK_CLOSE "</think>"

/* ---- detection ---- */

/* FNV-1a 64 of the official template texts (the files in testdata/tokenizer/chat/). */
static const struct {
    uint64_t hash;
    size_t len;
    wh_chat_family family;
} known_templates[] = {
    {0x4526f885d718fa95ull, 2765, WH_CHAT_R1},         /* DeepSeek-R1 (2025, "<think>\n") */
    {0xebe3604156dc466aull, 2301, WH_CHAT_V3},         /* DeepSeek-V3 */
    {0x845fdf813c637ee2ull, 2246, WH_CHAT_R1_DISTILL}, /* R1-Distill-Qwen and -Llama */
};

static uint64_t fnv1a64(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static int has(const char *text, const char *needle)
{
    return strstr(text, needle) != NULL;
}

static int vocab_has(const wh_tokenizer *tok, const char *s)
{
    return wh_tokenizer_find(tok, s, strlen(s)) >= 0;
}

wh_chat_family wh_chat_detect(const char *template_text, const wh_tokenizer *tok,
                              wh_chat_match *how)
{
    wh_chat_match dummy;
    if (how == NULL)
        how = &dummy;

    if (template_text != NULL && template_text[0] != '\0') {
        size_t len = strlen(template_text);
        uint64_t h = fnv1a64(template_text, len);
        for (size_t i = 0; i < sizeof known_templates / sizeof known_templates[0]; i++) {
            if (known_templates[i].hash == h && known_templates[i].len == len) {
                *how = WH_CHAT_MATCH_EXACT;
                return known_templates[i].family;
            }
        }
        /* A variant of a DeepSeek template (older R1/Distill versions whose generation
         * prompt lacks "<think>\n", re-exports with other whitespace, ...). */
        if (has(template_text, T_USER) && has(template_text, T_ASSISTANT)) {
            *how = WH_CHAT_MATCH_SIMILAR;
            if (!has(template_text, T_THINK_CLOSE))
                return WH_CHAT_V3;
            /* R1 joins all system messages (is_first_sp); the Distill template keeps the last. */
            return has(template_text, "is_first_sp") ? WH_CHAT_R1 : WH_CHAT_R1_DISTILL;
        }
        *how = WH_CHAT_MATCH_NONE;
        return WH_CHAT_PLAIN;
    }

    if (tok != NULL && vocab_has(tok, T_USER) && vocab_has(tok, T_ASSISTANT)) {
        int think = vocab_has(tok, "<think>");
        *how = WH_CHAT_MATCH_VOCAB;
        if (vocab_has(tok, T_CALLS_BEGIN)) /* the V3 vocabulary (R1 adds <think>) */
            return think ? WH_CHAT_R1 : WH_CHAT_V3;
        return think ? WH_CHAT_R1_DISTILL : WH_CHAT_V3;
    }
    *how = WH_CHAT_MATCH_NONE;
    return WH_CHAT_PLAIN;
}

const char *wh_chat_family_name(wh_chat_family f)
{
    switch (f) {
    case WH_CHAT_R1:
        return "deepseek-r1";
    case WH_CHAT_V3:
        return "deepseek-v3";
    case WH_CHAT_R1_DISTILL:
        return "deepseek-r1-distill";
    case WH_CHAT_PLAIN:
        return "plain";
    }
    return "?";
}

/* ---- validation ---- */

typedef enum { ROLE_SYSTEM, ROLE_USER, ROLE_ASSISTANT, ROLE_TOOL } role;

static int role_of(const char *s, role *r)
{
    static const char *const names[] = {"system", "user", "assistant", "tool"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, names[i]) == 0) {
            *r = (role)i;
            return 1;
        }
    }
    return 0;
}

/* Checks every message once, so the renderers can assume well-formed input. */
static int validate(const wh_chat_msg *msgs, int n, wh_error *err)
{
    if (n < 0)
        return wh_err(err, WH_E_INVALID, "chat: negative message count %d", n);
    if (n > 0 && msgs == NULL)
        return wh_err(err, WH_E_INVALID, "chat: %d messages but no message array", n);
    for (int i = 0; i < n; i++) {
        const wh_chat_msg *m = &msgs[i];
        role r;
        if (m->role == NULL)
            return wh_err(err, WH_E_INVALID, "chat: message %d: no role", i);
        if (!role_of(m->role, &r))
            return wh_err(err, WH_E_INVALID,
                          "chat: message %d: unknown role (not system, user, assistant or tool)",
                          i);
        if (m->n_tool_calls < 0)
            return wh_err(err, WH_E_INVALID, "chat: message %d: negative n_tool_calls", i);
        if (m->n_tool_calls > 0 && r != ROLE_ASSISTANT)
            return wh_err(err, WH_E_INVALID,
                          "chat: message %d (%s): tool calls on a non-assistant message", i,
                          m->role);
        if (m->n_tool_calls > 0 && m->tool_calls == NULL)
            return wh_err(err, WH_E_INVALID,
                          "chat: message %d: n_tool_calls %d but no tool_calls array", i,
                          m->n_tool_calls);
        if (m->content == NULL && !(r == ROLE_ASSISTANT && m->n_tool_calls > 0))
            return wh_err(err, WH_E_INVALID,
                          "chat: message %d (%s): content is NULL (only an assistant message with "
                          "tool calls may have none)",
                          i, m->role);
        for (int k = 0; k < m->n_tool_calls; k++) {
            const wh_chat_tool_call *c = &m->tool_calls[k];
            if (c->name == NULL)
                return wh_err(err, WH_E_INVALID, "chat: message %d: tool call %d: no name", i, k);
            if (c->arguments == NULL)
                return wh_err(err, WH_E_INVALID, "chat: message %d: tool call %d: no arguments", i,
                              k);
        }
    }
    return WH_OK;
}

/* ---- output buffer: measure pass (buf == NULL) and write pass ---- */

typedef struct {
    char *buf;    /* NULL while measuring */
    size_t len;   /* bytes so far */
    int too_long; /* would exceed WH_CHAT_MAX_BYTES */
} out_buf;

static void put_n(out_buf *o, const char *s, size_t n)
{
    if (o->too_long)
        return;
    if (n > WH_CHAT_MAX_BYTES - o->len) {
        o->too_long = 1;
        return;
    }
    if (o->buf != NULL)
        memcpy(o->buf + o->len, s, n);
    o->len += n;
}

static void put(out_buf *o, const char *s)
{
    put_n(o, s, strlen(s));
}

/* The part of an assistant turn after its last "</think>" (the whole text when none):
 * R1 and Distill keep only the answer of earlier turns. */
static const char *after_think(const char *content)
{
    const char *p = content;
    const char *hit = strstr(p, T_THINK_CLOSE);
    while (hit != NULL) {
        p = hit + strlen(T_THINK_CLOSE);
        hit = strstr(p, T_THINK_CLOSE);
    }
    return p;
}

/* "<｜tool▁call▁begin｜>TYPE<｜tool▁sep｜>NAME\n```json\nARGS\n```<｜tool▁call▁end｜>" */
static void put_call(out_buf *o, const wh_chat_tool_call *c)
{
    put(o, T_CALL_BEGIN);
    put(o, c->type != NULL ? c->type : "function");
    put(o, T_SEP);
    put(o, c->name);
    put(o, "\n```json\n");
    put(o, c->arguments);
    put(o, "\n```" T_CALL_END);
}

/* R1, V3 and Distill in one function: the three templates share their skeleton and
 * differ in the five points tested through `f` below. */
static void render_deepseek(out_buf *o, wh_chat_family f, const wh_chat_msg *msgs, int n, int agp)
{
    const int strip_think = f != WH_CHAT_V3;
    const int r1 = f == WH_CHAT_R1;
    int is_first = 0, is_tool = 0, is_output_first = 1;

    put(o, T_BOS);
    /* System prompt: R1 and V3 join all system messages with "\n\n"; Distill keeps the last. */
    if (f == WH_CHAT_R1_DISTILL) {
        const char *sys = NULL;
        for (int i = 0; i < n; i++)
            if (strcmp(msgs[i].role, "system") == 0)
                sys = msgs[i].content;
        if (sys != NULL)
            put(o, sys);
    } else {
        int first = 1;
        for (int i = 0; i < n; i++) {
            if (strcmp(msgs[i].role, "system") != 0)
                continue;
            if (!first)
                put(o, "\n\n");
            put(o, msgs[i].content);
            first = 0;
        }
    }

    for (int i = 0; i < n; i++) {
        const wh_chat_msg *m = &msgs[i];
        role r = ROLE_SYSTEM;
        role_of(m->role, &r); /* validated */
        if (r == ROLE_USER) {
            is_tool = 0;
            put(o, T_USER);
            put(o, m->content);
        } else if (r == ROLE_ASSISTANT) {
            /* R1 takes the tool-call branch whenever there are calls (content may come
             * first); V3 and Distill only when content is null, ignoring calls otherwise. */
            int calls = r1 ? m->n_tool_calls > 0 : m->content == NULL;
            if (calls) {
                is_tool = 0;
                for (int k = 0; k < m->n_tool_calls; k++) {
                    if (!is_first) {
                        put(o, T_ASSISTANT);
                        if (r1 && m->content != NULL)
                            put(o, m->content);
                        put(o, T_CALLS_BEGIN);
                        put_call(o, &m->tool_calls[k]);
                        is_first = 1;
                    } else {
                        put(o, "\n");
                        put_call(o, &m->tool_calls[k]);
                        if (!r1)
                            put(o, T_CALLS_END T_EOS);
                    }
                }
                if (r1)
                    put(o, T_CALLS_END T_EOS);
            } else if (is_tool) {
                put(o, T_OUTPUTS_END);
                put(o, m->content);
                put(o, T_EOS);
                is_tool = 0;
            } else {
                put(o, T_ASSISTANT);
                put(o, strip_think ? after_think(m->content) : m->content);
                put(o, T_EOS);
            }
        } else if (r == ROLE_TOOL) {
            is_tool = 1;
            if (is_output_first) {
                put(o, T_OUTPUTS_BEGIN);
                is_output_first = 0;
            } else if (!r1) {
                put(o, "\n");
            }
            put(o, T_OUTPUT_BEGIN);
            put(o, m->content);
            put(o, T_OUTPUT_END);
        }
    }
    if (is_tool)
        put(o, T_OUTPUTS_END);
    if (agp && !is_tool)
        put(o, f == WH_CHAT_V3 ? T_ASSISTANT : T_ASSISTANT "<think>\n");
}

/* The fallback, one line per message:
 *   System: ...\nUser: ...\nAssistant: ...\nTool: ...\n   and "Assistant:" as the prompt.
 * Tool calls follow their assistant text as "\nTool call: NAME ARGS". Nothing is
 * stripped; no BOS (wh_chat_encode lets the tokenizer add it). */
static void render_plain(out_buf *o, const wh_chat_msg *msgs, int n, int agp)
{
    for (int i = 0; i < n; i++) {
        const wh_chat_msg *m = &msgs[i];
        role r = ROLE_SYSTEM;
        role_of(m->role, &r);
        switch (r) {
        case ROLE_SYSTEM:
            put(o, "System: ");
            break;
        case ROLE_USER:
            put(o, "User: ");
            break;
        case ROLE_ASSISTANT:
            put(o, "Assistant: ");
            break;
        case ROLE_TOOL:
            put(o, "Tool: ");
            break;
        }
        if (m->content != NULL)
            put(o, m->content);
        for (int k = 0; k < m->n_tool_calls; k++) {
            put(o, "\nTool call: ");
            put(o, m->tool_calls[k].name);
            put(o, " ");
            put(o, m->tool_calls[k].arguments);
        }
        put(o, "\n");
    }
    if (agp)
        put(o, "Assistant:");
}

static void render(out_buf *o, wh_chat_family f, const wh_chat_msg *msgs, int n, int agp)
{
    if (f == WH_CHAT_PLAIN)
        render_plain(o, msgs, n, agp);
    else
        render_deepseek(o, f, msgs, n, agp);
}

int wh_chat_render(wh_chat_family f, const wh_chat_msg *msgs, int n, int add_generation_prompt,
                   char **out_text, size_t *out_len, wh_error *err)
{
    if (out_text == NULL || out_len == NULL)
        return wh_err(err, WH_E_INVALID, "chat: NULL output pointer");
    *out_text = NULL;
    *out_len = 0;
    if (f != WH_CHAT_R1 && f != WH_CHAT_V3 && f != WH_CHAT_R1_DISTILL && f != WH_CHAT_PLAIN)
        return wh_err(err, WH_E_INVALID, "chat: unknown format %d", (int)f);
    int rc = validate(msgs, n, err);
    if (rc != WH_OK)
        return rc;

    out_buf o = {0};
    render(&o, f, msgs, n, add_generation_prompt);
    if (o.too_long)
        return wh_err(err, WH_E_INVALID, "chat: rendered conversation exceeds %zu bytes",
                      WH_CHAT_MAX_BYTES);
    size_t need = o.len;
    char *buf = wh_malloc(need + 1);
    if (buf == NULL)
        return wh_err(err, WH_E_NOMEM, "chat: out of memory for %zu bytes", need + 1);
    o = (out_buf){.buf = buf};
    render(&o, f, msgs, n, add_generation_prompt);
    /* Same input, same code: the write pass cannot differ from the measure pass (an
     * invariant of render(), not a property of the input). */
    assert(o.len == need && !o.too_long);
    buf[need] = '\0';
    *out_text = buf;
    *out_len = need;
    return WH_OK;
}

int wh_chat_encode(const wh_tokenizer *tok, wh_chat_family f, const wh_chat_msg *msgs, int n,
                   int add_generation_prompt, int32_t **ids, size_t *n_ids, wh_error *err)
{
    if (tok == NULL || ids == NULL || n_ids == NULL)
        return wh_err(err, WH_E_INVALID, "chat: NULL tokenizer or output pointer");
    *ids = NULL;
    *n_ids = 0;
    char *text = NULL;
    size_t len = 0;
    int rc = wh_chat_render(f, msgs, n, add_generation_prompt, &text, &len, err);
    if (rc != WH_OK)
        return rc;
    unsigned flags = f == WH_CHAT_PLAIN ? WH_TOK_ADD_SPECIAL : WH_TOK_PARSE_SPECIAL;
    rc = wh_tokenizer_encode(tok, text, len, flags, ids, n_ids, err);
    wh_free(text);
    if (rc != WH_OK)
        return wh_err_wrap(err, "chat (%s)", wh_chat_family_name(f));
    return WH_OK;
}
