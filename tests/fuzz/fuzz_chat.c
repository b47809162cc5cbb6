/*
 * fuzz_chat.c — libFuzzer target for the chat formats: messages built from the input
 * are rendered by wh_chat_render for every family and, for the DeepSeek formats, rendered
 * and encoded by wh_chat_encode with the real DeepSeek-V3 tokenizer (loaded once, as in
 * fuzz_encode.c). The input also serves as a chat_template text for wh_chat_detect.
 *
 * Input layout: byte 0 picks add_generation_prompt (bit 0); then messages, each a role
 * byte (system, user, assistant, tool, an unknown role, or NULL), a flags byte (bit 0:
 * content is NULL; bit 1: has reasoning; bits 2-3: tool-call count; bit 4: a NULL tool
 * name; bit 5: a NULL tool type), then NUL-separated strings for content, reasoning and
 * each call's type, name and arguments.
 * Checks: a rendered text is NUL-terminated at its length; every rejection is a negative
 * wh_status with a message; ASan/UBSan catch the rest.
 */
#include "fuzz.h"

#define MAX_MSGS 16
#define MAX_CALLS 3

static wh_tokenizer *g_tok;

static const wh_tokenizer *tokenizer(void)
{
    if (g_tok != NULL)
        return g_tok;
    const char *td = getenv("WHALE_TESTDATA");
    char path[1024];
    snprintf(path, sizeof path, "%s/tokenizer/deepseek-v3/tokenizer.json",
             td ? td : "../shared/testdata");
    wh_error err;
    /* without the shared test data (a checkout without ../shared), the project's own
     * small R1-marker tokenizer of tests/fixtures/train/tok stands in */
    if (wh_tokenizer_load_json(path, &g_tok, &err) != WH_OK &&
        wh_tokenizer_load_json("tests/fixtures/train/tok/tokenizer.json", &g_tok, &err) != WH_OK) {
        fprintf(stderr, "fuzz_chat: %s\n", err.msg);
        abort();
    }
    return g_tok;
}

typedef struct reader {
    char *p, *end; /* a NUL-terminated copy of the input */
} reader;

static int rd_byte(reader *r)
{
    if (r->p >= r->end)
        return -1;
    return (uint8_t)*r->p++;
}

/* The next NUL-separated string (the copy ends with a NUL, so it is always terminated). */
static const char *rd_str(reader *r)
{
    if (r->p > r->end)
        return "";
    const char *s = r->p;
    r->p += strlen(s) + 1;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1);
    if (copy == NULL)
        abort();
    memcpy(copy, data, size);
    copy[size] = '\0';
    reader r = {copy, copy + size};

    static const char *const roles[] = {"system", "user", "assistant", "tool", "User", NULL};
    wh_chat_msg msgs[MAX_MSGS];
    wh_chat_tool_call calls[MAX_MSGS][MAX_CALLS];
    int n = 0;
    int gen = rd_byte(&r);
    while (n < MAX_MSGS && r.p < r.end) {
        int role = rd_byte(&r);
        int flags = rd_byte(&r);
        if (role < 0 || flags < 0)
            break;
        wh_chat_msg *m = &msgs[n];
        memset(m, 0, sizeof *m);
        m->role = roles[role % 6];
        m->content = rd_str(&r);
        if (flags & 1)
            m->content = NULL;
        if (flags & 2)
            m->reasoning = rd_str(&r);
        m->n_tool_calls = (flags >> 2) & 3;
        for (int k = 0; k < m->n_tool_calls; k++) {
            calls[n][k].type = rd_str(&r);
            calls[n][k].name = rd_str(&r);
            calls[n][k].arguments = rd_str(&r);
            if (flags & 16)
                calls[n][k].name = NULL;
            if (flags & 32)
                calls[n][k].type = NULL;
        }
        m->tool_calls = m->n_tool_calls ? calls[n] : NULL;
        n++;
    }

    for (int f = WH_CHAT_R1; f <= WH_CHAT_PLAIN; f++) {
        char *text = NULL;
        size_t len = 0;
        wh_error err;
        memset(&err, 0, sizeof err);
        int rc =
            wh_chat_render((wh_chat_family)f, msgs, n, gen > 0 && (gen & 1), &text, &len, &err);
        if (rc == WH_OK) {
            if (text == NULL || strlen(text) != len)
                abort();
            wh_free(text);
        } else {
            fuzz_check_error(rc, &err);
            if (text != NULL)
                abort();
        }
    }
    /* encoding: one family per input, to keep the rate up */
    int32_t *ids = NULL;
    size_t n_ids = 0;
    wh_error err;
    memset(&err, 0, sizeof err);
    wh_chat_family fam = (wh_chat_family)((gen > 0 ? gen >> 1 : 0) % 4);
    int rc = wh_chat_encode(tokenizer(), fam, msgs, n, 1, &ids, &n_ids, &err);
    if (rc == WH_OK)
        wh_free(ids);
    else
        fuzz_check_error(rc, &err);

    wh_chat_match how;
    wh_chat_detect(copy, (gen & 2) ? tokenizer() : NULL, &how);
    free(copy);
    return 0;
}
