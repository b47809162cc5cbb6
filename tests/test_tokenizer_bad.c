/*
 * test_tokenizer_bad.c — the tokenizer on bad and extreme input: malformed tokenizer.json
 * (missing model, bad merges, duplicate tokens, ids out of range, broken JSON,
 * unsupported components), GGUF vocabularies whose arrays disagree, every allocation
 * failed in turn while loading and encoding (SQLite-style fault injection), and very long
 * input (a single 10 MB word, 10 MB of spaces) that must complete in linear memory.
 * Uses a small tokenizer.json built here; the long-input tests also use the DeepSeek-V3
 * vocabulary from ../shared/testdata/tokenizer when present.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "base/mapfile.h"
#include "formats/gguf.h"
#include "tokenizer/tok_internal.h"

#define TD "../shared/testdata/tokenizer/"

/* ---- a small byte-level BPE vocabulary ---- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf;

static void add(sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void adds(sbuf *b, const char *s)
{
    add(b, s, strlen(s));
}

/* JSON string body of the byte-level spelling of byte c. */
static void add_spelled_byte(sbuf *b, uint8_t c)
{
    char u[8];
    uint32_t cp = tok_byte_to_cp(c);
    if (cp == '"' || cp == '\\') {
        u[0] = '\\';
        u[1] = (char)cp;
        add(b, u, 2);
        return;
    }
    int n = tok_utf8_encode(cp, u);
    add(b, u, (size_t)n);
}

/* {"added_tokens":[...], ..., "model":{"type":"BPE","vocab":{<256 bytes>, EXTRA_VOCAB},
 * "merges":[MERGES]}} with the pieces given; ids 0-255 are the bytes, "ab" 256, "abc" 257,
 * "Ġa" 258, "<s>" 259 (added, special). */
static char *mini_json(const char *added, const char *normalizer, const char *pre,
                       const char *model_key, const char *type, const char *extra_vocab,
                       const char *merges)
{
    sbuf b = {0};
    adds(&b, "{\"version\":\"1.0\",\"added_tokens\":[");
    adds(&b, added);
    adds(&b, "],\"normalizer\":");
    adds(&b, normalizer);
    adds(&b, ",\"pre_tokenizer\":");
    adds(&b, pre);
    adds(&b, ",\"");
    adds(&b, model_key);
    adds(&b, "\":{\"type\":\"");
    adds(&b, type);
    adds(&b, "\",\"dropout\":null,\"vocab\":{");
    for (int c = 0; c < 256; c++) {
        char num[32];
        adds(&b, "\"");
        add_spelled_byte(&b, (uint8_t)c);
        snprintf(num, sizeof num, "\":%d,", c);
        adds(&b, num);
    }
    adds(&b, extra_vocab);
    adds(&b, "},\"merges\":[");
    adds(&b, merges);
    adds(&b, "]}}");
    return b.p;
}

#define ADDED "{\"id\":259,\"content\":\"<s>\",\"special\":true}"
#define PRE "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":true}"
#define VOCAB                                                                                      \
    "\"ab\":256,\"abc\":257,\"\xc4\xa0"                                                            \
    "a\":258"
#define MERGES "\"a b\",[\"ab\",\"c\"],\"\xc4\xa0 a\""

static char *good_json(void)
{
    return mini_json(ADDED, "null", PRE, "model", "BPE", VOCAB, MERGES);
}

static int load_mem(const char *json, size_t len, wh_tokenizer **t, wh_error *err)
{
    return wh_tokenizer_load_json_mem(json, len, NULL, 0, "mini.json", t, err);
}

static void test_mini_works(void **state)
{
    (void)state;
    char *j = good_json();
    wh_tokenizer *t = NULL;
    wh_error err = {0};
    int rc = load_mem(j, strlen(j), &t, &err);
    if (rc != WH_OK)
        fail_msg("%s", err.msg);
    int32_t *ids = NULL;
    size_t n = 0;
    const char *text = "abc a<s>ab";
    assert_int_equal(
        wh_tokenizer_encode(t, text, strlen(text), WH_TOK_PARSE_SPECIAL, &ids, &n, &err), WH_OK);
    int32_t want[] = {257, 258, 259, 256};
    assert_int_equal(n, 4);
    assert_memory_equal(ids, want, sizeof want);
    wh_free(ids);
    assert_int_equal(wh_tokenizer_n_vocab(t), 260);
    wh_tokenizer_free(t);
    free(j);
}

/* Loads json and expects failure with code and a message containing needle. */
static void expect_fail(const char *json, size_t len, int code, const char *needle)
{
    wh_tokenizer *t = NULL;
    wh_error err = {0};
    int rc = load_mem(json, len, &t, &err);
    if (rc == WH_OK)
        fail_msg("loaded, expected \"%s\"", needle);
    assert_null(t);
    if (rc != code || strstr(err.msg, needle) == NULL)
        fail_msg("got %d \"%s\", expected %d with \"%s\"", rc, err.msg, code, needle);
}

static void test_malformed_json(void **state)
{
    (void)state;
    char *j;
    /* missing model */
    j = mini_json(ADDED, "null", PRE, "modul", "BPE", VOCAB, MERGES);
    expect_fail(j, strlen(j), WH_E_MISSING, "no \"model\"");
    free(j);
    /* merge of a token that is not in the vocabulary */
    j = mini_json(ADDED, "null", PRE, "model", "BPE", VOCAB, MERGES ",\"ab zz\"");
    expect_fail(j, strlen(j), WH_E_FORMAT, "\"zz\" is not in the vocabulary");
    free(j);
    /* merge whose result is not in the vocabulary */
    j = mini_json(ADDED, "null", PRE, "model", "BPE", VOCAB, MERGES ",\"b c\"");
    expect_fail(j, strlen(j), WH_E_FORMAT, "merged token is not in the vocabulary");
    free(j);
    /* merge that is not two tokens */
    j = mini_json(ADDED, "null", PRE, "model", "BPE", VOCAB, MERGES ",\"abc\"");
    expect_fail(j, strlen(j), WH_E_FORMAT, "not two tokens");
    free(j);
    j = mini_json(ADDED, "null", PRE, "model", "BPE", VOCAB, MERGES ",[\"a\"]");
    expect_fail(j, strlen(j), WH_E_FORMAT, "expected ','");
    free(j);
    j = mini_json(ADDED, "null", PRE, "model", "BPE", VOCAB, MERGES ",7");
    expect_fail(j, strlen(j), WH_E_FORMAT, "expected a string");
    free(j);
    /* the same token twice, and the same id twice */
    j = mini_json(ADDED, "null", PRE, "model", "BPE", VOCAB ",\"ab\":260", MERGES);
    expect_fail(j, strlen(j), WH_E_FORMAT, "duplicate token");
    free(j);
    j = mini_json(ADDED, "null", PRE, "model", "BPE", VOCAB ",\"xyz\":256", MERGES);
    expect_fail(j, strlen(j), WH_E_FORMAT, "id 256 is given twice");
    free(j);
    /* ids out of range */
    j = mini_json(ADDED, "null", PRE, "model", "BPE", VOCAB ",\"xyz\":-1", MERGES);
    expect_fail(j, strlen(j), WH_E_FORMAT, "out of range");
    free(j);
    j = mini_json(ADDED, "null", PRE, "model", "BPE", VOCAB ",\"xyz\":2000000000", MERGES);
    expect_fail(j, strlen(j), WH_E_FORMAT, "out of range");
    free(j);
    j = mini_json(ADDED, "null", PRE, "model", "BPE", VOCAB ",\"xyz\":1.5", MERGES);
    expect_fail(j, strlen(j), WH_E_FORMAT, "fraction");
    free(j);
    j = mini_json("{\"id\":-4,\"content\":\"<x>\"}", "null", PRE, "model", "BPE", VOCAB, MERGES);
    expect_fail(j, strlen(j), WH_E_FORMAT, "out of range");
    free(j);
    j = mini_json(ADDED ",{\"id\":259,\"content\":\"<y>\"}", "null", PRE, "model", "BPE", VOCAB,
                  MERGES);
    expect_fail(j, strlen(j), WH_E_FORMAT, "given twice");
    free(j);
    j = mini_json("{\"id\":300}", "null", PRE, "model", "BPE", VOCAB, MERGES);
    expect_fail(j, strlen(j), WH_E_FORMAT, "needs an integer id and a string content");
    free(j);
    /* unsupported components */
    j = mini_json(ADDED, "null", PRE, "model", "WordPiece", VOCAB, MERGES);
    expect_fail(j, strlen(j), WH_E_UNSUPPORTED, "WordPiece");
    free(j);
    j = mini_json(ADDED, "{\"type\":\"Lowercase\"}", PRE, "model", "BPE", VOCAB, MERGES);
    expect_fail(j, strlen(j), WH_E_UNSUPPORTED, "Lowercase");
    free(j);
    j = mini_json(ADDED, "null",
                  "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"[a-\"},\"behavior\":\"Isolated\"}",
                  "model", "BPE", VOCAB, MERGES);
    expect_fail(j, strlen(j), WH_E_FORMAT, "regex");
    free(j);
    j = mini_json(ADDED, "null",
                  "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"a\"},\"behavior\":\"Removed\"}",
                  "model", "BPE", VOCAB, MERGES);
    expect_fail(j, strlen(j), WH_E_UNSUPPORTED, "Isolated");
    free(j);
    /* broken JSON: every truncation of the file, garbage after it, bad escapes */
    j = good_json();
    size_t len = strlen(j);
    for (size_t cut = 0; cut < len; cut += 1 + cut / 64) {
        wh_tokenizer *t = NULL;
        wh_error err = {0};
        int rc = load_mem(j, cut, &t, &err);
        assert_int_not_equal(rc, WH_OK);
        assert_null(t);
        assert_true(err.msg[0] != '\0');
    }
    char *g = malloc(len + 8);
    assert_non_null(g);
    memcpy(g, j, len);
    memcpy(g + len, " x", 2);
    expect_fail(g, len + 2, WH_E_FORMAT, "");
    free(g);
    free(j);
    j = mini_json(ADDED, "null", PRE, "model", "BPE", VOCAB ",\"\\q\":300", MERGES);
    expect_fail(j, strlen(j), WH_E_FORMAT, "bad escape");
    free(j);
    j = mini_json(ADDED, "null", PRE, "model", "BPE", VOCAB ",\"\\ud800\":300", MERGES);
    expect_fail(j, strlen(j), WH_E_FORMAT, "surrogate");
    free(j);
    expect_fail("[]", 2, WH_E_FORMAT, "expected '{'");
    expect_fail("", 0, WH_E_FORMAT, "expected '{'");
}

/* Every allocation fails in turn: each load/encode either succeeds or reports no memory,
 * and (under ASan) leaks nothing. */
static void test_fault_injection(void **state)
{
    (void)state;
    char *j = good_json();
    int ok = 0;
    for (long k = 1; k < 10000 && !ok; k++) {
        wh_tokenizer *t = NULL;
        wh_error err = {0};
        wh_alloc_fail_at(k);
        int rc = load_mem(j, strlen(j), &t, &err);
        if (rc == WH_OK) {
            int32_t *ids = NULL;
            size_t n = 0;
            rc =
                wh_tokenizer_encode(t, "abc a<s>ab \xff", 12, WH_TOK_PARSE_SPECIAL, &ids, &n, &err);
            wh_free(ids);
            char *text = NULL;
            size_t len;
            int32_t some[] = {257, 259};
            if (rc == WH_OK)
                rc = wh_tokenizer_decode(t, some, 2, 0, &text, &len, &err);
            wh_free(text);
            wh_tokenizer_free(t);
            ok = rc == WH_OK;
        }
        wh_alloc_fail_at(0);
        if (!ok && rc != WH_E_NOMEM)
            fail_msg("allocation %ld failed: %d %s", k, rc, err.msg);
    }
    assert_true(ok);
    free(j);
}

/* ---- GGUF ---- */

typedef struct gbuf {
    uint8_t *p;
    size_t n, cap;
} gbuf;

static void gput(gbuf *b, const void *s, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void gput_u32(gbuf *b, uint32_t v)
{
    gput(b, &v, 4);
}

static void gput_u64(gbuf *b, uint64_t v)
{
    gput(b, &v, 8);
}

static void gput_str(gbuf *b, const char *s, size_t n)
{
    gput_u64(b, n);
    gput(b, s, n);
}

static void gput_key(gbuf *b, const char *k, uint32_t type)
{
    gput_str(b, k, strlen(k));
    gput_u32(b, type);
}

/* A vocabulary-only GGUF of the mini vocabulary with n_tokens tokens, n_types types. */
static int load_gguf(uint64_t n_tokens, uint64_t n_types, const char *merge, const char *pre,
                     wh_tokenizer **t, wh_error *err)
{
    gbuf b = {0};
    gput(&b, "GGUF", 4);
    gput_u32(&b, 3);
    gput_u64(&b, 0);
    gput_u64(&b, 5);
    gput_key(&b, "tokenizer.ggml.model", 8);
    gput_str(&b, "gpt2", 4);
    gput_key(&b, "tokenizer.ggml.pre", 8);
    gput_str(&b, pre, strlen(pre));
    gput_key(&b, "tokenizer.ggml.tokens", 9);
    gput_u32(&b, 8);
    gput_u64(&b, n_tokens);
    for (uint64_t i = 0; i < n_tokens; i++) {
        char u[8];
        int n = i < 256 ? tok_utf8_encode(tok_byte_to_cp((uint8_t)i), u) : 0;
        if (i == 256)
            gput_str(&b, "ab", 2);
        else if (i < 256)
            gput_str(&b, u, (size_t)n);
        else
            gput_str(&b, "<s>", 3);
    }
    gput_key(&b, "tokenizer.ggml.token_type", 9);
    gput_u32(&b, 5);
    gput_u64(&b, n_types);
    for (uint64_t i = 0; i < n_types; i++)
        gput_u32(&b, i == 257 ? 3 : 1);
    gput_key(&b, "tokenizer.ggml.merges", 9);
    gput_u32(&b, 8);
    gput_u64(&b, 1);
    gput_str(&b, merge, strlen(merge));
    char path[] = "/tmp/whale-tokbad-XXXXXX.gguf";
    int fd = mkstemps(path, 5);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b.p, 1, b.n, f), b.n);
    fclose(f);
    free(b.p);
    int rc = wh_tokenizer_load(path, t, err);
    remove(path);
    return rc;
}

static void test_gguf_bad(void **state)
{
    (void)state;
    wh_tokenizer *t = NULL;
    wh_error err = {0};
    int rc = load_gguf(258, 258, "a b", "gpt2", &t, &err);
    if (rc != WH_OK)
        fail_msg("%s", err.msg);
    int32_t *ids = NULL;
    size_t n = 0;
    assert_int_equal(wh_tokenizer_encode(t, "ab<s>", 5, WH_TOK_PARSE_SPECIAL, &ids, &n, &err),
                     WH_OK);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], 256);
    assert_int_equal(ids[1], 257);
    wh_free(ids);
    assert_int_equal(wh_tokenizer_attr(t, 257), WH_TOKEN_CONTROL);
    wh_tokenizer_free(t);

    t = NULL;
    rc = load_gguf(258, 257, "a b", "gpt2", &t, &err);
    assert_int_equal(rc, WH_E_FORMAT);
    assert_null(t);
    assert_non_null(
        strstr(err.msg, "token_type has 257 entries but tokenizer.ggml.tokens has 258"));
    rc = load_gguf(258, 259, "a b", "gpt2", &t, &err);
    assert_int_equal(rc, WH_E_FORMAT);
    rc = load_gguf(258, 258, "a q", "gpt2", &t, &err);
    assert_int_equal(rc, WH_E_FORMAT);
    assert_non_null(strstr(err.msg, "merged token is not in the vocabulary"));
    rc = load_gguf(258, 258, "ab", "gpt2", &t, &err);
    assert_int_equal(rc, WH_E_FORMAT);
    assert_non_null(strstr(err.msg, "is not \"a b\""));
    rc = load_gguf(258, 258, "a b", "no-such-pre", &t, &err);
    assert_int_equal(rc, WH_E_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "no-such-pre"));
    assert_null(t);
}

/* ---- very long input ---- */

static void long_input(wh_tokenizer *t, const char *what, char fill)
{
    size_t n = 10u << 20;
    char *s = malloc(n);
    assert_non_null(s);
    memset(s, fill, n);
    int32_t *ids = NULL;
    size_t n_ids = 0;
    wh_error err = {0};
    int rc = wh_tokenizer_encode(t, s, n, 0, &ids, &n_ids, &err);
    if (rc != WH_OK)
        fail_msg("%s: %s", what, err.msg);
    assert_true(n_ids > 0 && n_ids <= n);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(wh_tokenizer_decode(t, ids, n_ids, 0, &text, &len, &err), WH_OK);
    assert_int_equal(len, n);
    assert_memory_equal(text, s, n);
    printf("%s: 10 MiB -> %zu tokens\n", what, n_ids);
    wh_free(text);
    wh_free(ids);
    free(s);
}

static void test_long_word(void **state)
{
    (void)state;
    /* the mini vocabulary: a 10 MiB word of one letter */
    char *j = good_json();
    wh_tokenizer *t = NULL;
    wh_error err = {0};
    assert_int_equal(load_mem(j, strlen(j), &t, &err), WH_OK);
    long_input(t, "mini: 'a' x 10 MiB", 'a');
    wh_tokenizer_free(t);
    free(j);
    if (!wh_is_dir(TD)) {
        printf("skipped the DeepSeek-V3 part: %s not found\n", TD);
        return;
    }
    assert_int_equal(wh_tokenizer_load(TD "deepseek-v3/tokenizer.json", &t, &err), WH_OK);
    long_input(t, "deepseek-v3: 'a' x 10 MiB", 'a');
    long_input(t, "deepseek-v3: ' ' x 10 MiB", ' ');
    wh_tokenizer_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mini_works),      cmocka_unit_test(test_malformed_json),
        cmocka_unit_test(test_fault_injection), cmocka_unit_test(test_gguf_bad),
        cmocka_unit_test(test_long_word),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
