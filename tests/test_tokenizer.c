/*
 * test_tokenizer.c — exactness of the tokenizers against the reference vectors in
 * ../shared/testdata/tokenizer (see its README: llama.cpp's ggml-vocab .inp/.out made
 * with HF tokenizers, and cases.jsonl made with transformers.js), the GGUF path against
 * the tokenizer.json path on the same vocabulary, decode(encode(s)) == s over random
 * byte strings and random Unicode, and the streaming decoder against whole decoding.
 * Skipped (with a message) when the test data folder is absent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "base/alloc.h"
#include "base/mapfile.h"
#include "formats/gguf.h"
#include "tokenizer/tok_internal.h"

#define TD "../shared/testdata/tokenizer/"

static int have_data(void)
{
    if (wh_is_dir(TD))
        return 1;
    printf("skipped: %s not found\n", TD);
    return 0;
}

/* ---- loaded tokenizers, shared by the tests ---- */

static struct {
    const char *path;
    wh_tokenizer *t;
} g_tok[8];

static wh_tokenizer *tok(const char *path)
{
    size_t i = 0;
    for (; i < sizeof g_tok / sizeof g_tok[0] && g_tok[i].path != NULL; i++)
        if (strcmp(g_tok[i].path, path) == 0)
            return g_tok[i].t;
    assert_true(i < sizeof g_tok / sizeof g_tok[0]);
    wh_error err = {0};
    wh_tokenizer *t = NULL;
    int rc = wh_tokenizer_load(path, &t, &err);
    if (rc != WH_OK)
        fail_msg("%s: %s", path, err.msg);
    g_tok[i].path = path;
    g_tok[i].t = t;
    return t;
}

static int teardown_all(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof g_tok / sizeof g_tok[0]; i++) {
        wh_tokenizer_free(g_tok[i].t);
        g_tok[i].t = NULL;
        g_tok[i].path = NULL;
    }
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

static void print_ids(const char *what, const int32_t *ids, size_t n)
{
    printf("  %s:", what);
    for (size_t i = 0; i < n && i < 40; i++)
        printf(" %d", (int)ids[i]);
    printf("\n");
}

/* Encodes text and compares with want; prints the case on a mismatch. Returns 1 if equal. */
static int check_case(wh_tokenizer *t, const char *text, size_t len, const int32_t *want,
                      size_t n_want, const char *where)
{
    int32_t *ids = NULL;
    size_t n = 0;
    wh_error err = {0};
    int rc = wh_tokenizer_encode(t, text, len, WH_TOK_PARSE_SPECIAL, &ids, &n, &err);
    if (rc != WH_OK)
        fail_msg("%s: encode: %s", where, err.msg);
    int ok = n == n_want && (n == 0 || memcmp(ids, want, n * sizeof *ids) == 0);
    if (!ok) {
        printf("MISMATCH %s: \"%.*s\"\n", where, (int)(len > 80 ? 80 : len), text);
        print_ids("want", want, n_want);
        print_ids("got ", ids, n);
    }
    wh_free(ids);
    return ok;
}

/* ---- llama.cpp .inp/.out vectors ---- */

static void run_ggml_vectors(wh_tokenizer *t, const char *inp, const char *outp)
{
    size_t in_len, out_len;
    char *in = slurp(inp, &in_len);
    char *out = slurp(outp, &out_len);
    static const char sep[] = "\n__ggml_vocab_test__\n";
    size_t seplen = sizeof sep - 1;
    char *p = in, *end = in + in_len, *o = out;
    int cases = 0, good = 0;
    while (p < end) {
        char *q = memmem(p, (size_t)(end - p), sep, seplen);
        assert_non_null(q);
        char *nl = strchr(o, '\n');
        assert_non_null(nl);
        int32_t want[512];
        size_t nw = 0;
        for (char *r = o; r < nl;) {
            char *e;
            long v = strtol(r, &e, 10);
            if (e == r)
                break;
            assert_true(nw < 512);
            want[nw++] = (int32_t)v;
            r = e;
        }
        cases++;
        good += check_case(t, p, (size_t)(q - p), want, nw, inp);
        p = q + seplen;
        o = nl + 1;
    }
    printf("%s: %d/%d\n", inp, good, cases);
    wh_free(in);
    wh_free(out);
    assert_int_equal(good, cases);
    assert_int_equal(cases, 46);
}

static void test_ggml_deepseek_llm(void **state)
{
    (void)state;
    if (!have_data())
        skip();
    wh_tokenizer *t = tok(TD "ggml-vocab-deepseek-llm.gguf");
    assert_string_equal(wh_tokenizer_pre_name(t), "deepseek-llm");
    run_ggml_vectors(t, TD "ggml-vocab-deepseek-llm.gguf.inp",
                     TD "ggml-vocab-deepseek-llm.gguf.out");
}

static void test_ggml_deepseek_coder(void **state)
{
    (void)state;
    if (!have_data())
        skip();
    wh_tokenizer *t = tok(TD "ggml-vocab-deepseek-coder.gguf");
    assert_string_equal(wh_tokenizer_pre_name(t), "deepseek-coder");
    run_ggml_vectors(t, TD "ggml-vocab-deepseek-coder.gguf.inp",
                     TD "ggml-vocab-deepseek-coder.gguf.out");
}

static void test_ggml_qwen2(void **state)
{
    (void)state;
    if (!have_data())
        skip();
    wh_tokenizer *t = tok(TD "qwen/tokenizer.json");
    run_ggml_vectors(t, TD "ggml-vocab-qwen2.gguf.inp", TD "ggml-vocab-qwen2.gguf.out");
    run_ggml_vectors(t, TD "ggml-vocab-deepseek-r1-qwen.gguf.inp",
                     TD "ggml-vocab-deepseek-r1-qwen.gguf.out");
}

/* ---- cases.jsonl ---- */

typedef struct jcase {
    const char *text;
    size_t len;
    int32_t ids[1024];
    size_t n;
} jcase;

/* Calls fn for every line of a cases.jsonl; returns the number of lines. */
static int for_cases(const char *path, void (*fn)(const jcase *c, void *ctx), void *ctx)
{
    size_t len;
    char *s = slurp(path, &len);
    int lines = 0;
    jcase *c = malloc(sizeof *c);
    assert_non_null(c);
    for (char *p = s; p < s + len;) {
        char *nl = memchr(p, '\n', (size_t)(s + len - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(s + len - p);
        if (n > 0) {
            json_tokener *tk = json_tokener_new();
            json_object *o = json_tokener_parse_ex(tk, p, (int)n);
            json_tokener_free(tk);
            assert_non_null(o);
            json_object *text, *ids;
            assert_true(json_object_object_get_ex(o, "text", &text));
            assert_true(json_object_object_get_ex(o, "ids", &ids));
            c->text = json_object_get_string(text);
            c->len = (size_t)json_object_get_string_len(text);
            c->n = json_object_array_length(ids);
            assert_true(c->n <= 1024);
            for (size_t i = 0; i < c->n; i++)
                c->ids[i] = (int32_t)json_object_get_int(json_object_array_get_idx(ids, i));
            fn(c, ctx);
            json_object_put(o);
            lines++;
        }
        p += n + 1;
    }
    free(c);
    wh_free(s);
    return lines;
}

typedef struct case_ctx {
    wh_tokenizer *t;
    const char *path;
    int good;
} case_ctx;

static void check_one(const jcase *c, void *ctx)
{
    case_ctx *k = ctx;
    k->good += check_case(k->t, c->text, c->len, c->ids, c->n, k->path);
}

static void run_cases(const char *tokpath, const char *cases)
{
    case_ctx k = {tok(tokpath), cases, 0};
    int n = for_cases(cases, check_one, &k);
    printf("%s: %d/%d\n", cases, k.good, n);
    assert_int_equal(n, 456);
    assert_int_equal(k.good, n);
}

static void test_cases_deepseek_v3(void **state)
{
    (void)state;
    if (!have_data())
        skip();
    run_cases(TD "deepseek-v3/tokenizer.json", TD "deepseek-v3/cases.jsonl");
    wh_tokenizer *t = tok(TD "deepseek-v3/tokenizer.json");
    assert_int_equal(wh_tokenizer_n_vocab(t), 128815);
    assert_int_equal(wh_tokenizer_bos(t), 0);
    assert_int_equal(wh_tokenizer_eos(t), 1);
    assert_int_equal(wh_tokenizer_adds_bos(t), 1);
    assert_int_equal(wh_tokenizer_think_open(t), -1);
}

static void test_cases_deepseek_r1(void **state)
{
    (void)state;
    if (!have_data())
        skip();
    run_cases(TD "deepseek-r1/tokenizer.json", TD "deepseek-r1/cases.jsonl");
    wh_tokenizer *t = tok(TD "deepseek-r1/tokenizer.json");
    assert_int_equal(wh_tokenizer_think_open(t), 128798);
    assert_int_equal(wh_tokenizer_think_close(t), 128799);
    assert_int_equal(wh_tokenizer_bos(t), 0);
    assert_int_equal(wh_tokenizer_eos(t), 1);
}

static void test_cases_qwen(void **state)
{
    (void)state;
    if (!have_data())
        skip();
    run_cases(TD "qwen/tokenizer.json", TD "qwen/cases.jsonl");
}

static void test_cases_r1_distill_qwen(void **state)
{
    (void)state;
    if (!have_data())
        skip();
    run_cases(TD "deepseek-r1-distill-qwen/tokenizer.json",
              TD "deepseek-r1-distill-qwen/cases.jsonl");
    wh_tokenizer *t = tok(TD "deepseek-r1-distill-qwen/tokenizer.json");
    assert_int_equal(wh_tokenizer_think_open(t), 151648);
    assert_int_equal(wh_tokenizer_think_close(t), 151649);
}

/* Special tokens are plain text without WH_TOK_PARSE_SPECIAL; BOS with ADD_SPECIAL. */
static void test_special_flags(void **state)
{
    (void)state;
    if (!have_data())
        skip();
    wh_tokenizer *t = tok(TD "deepseek-r1/tokenizer.json");
    const char *s = "<\xef\xbd\x9c"
                    "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c><think>";
    int32_t *ids = NULL;
    size_t n = 0;
    wh_error err = {0};
    assert_int_equal(wh_tokenizer_encode(t, s, strlen(s), WH_TOK_PARSE_SPECIAL | WH_TOK_ADD_SPECIAL,
                                         &ids, &n, &err),
                     WH_OK);
    assert_int_equal(n, 3);
    assert_int_equal(ids[0], 0);
    assert_int_equal(ids[1], 1);
    assert_int_equal(ids[2], 128798);
    wh_free(ids);
    assert_int_equal(wh_tokenizer_encode(t, s, strlen(s), 0, &ids, &n, &err), WH_OK);
    assert_true(n > 3); /* EOS spelled out; <think> (not special) still one token */
    assert_int_equal(ids[n - 1], 128798);
    for (size_t i = 0; i < n; i++)
        assert_int_not_equal(ids[i], 1);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(wh_tokenizer_decode(t, ids, n, 0, &text, &len, &err), WH_OK);
    assert_int_equal(len, strlen(s));
    assert_memory_equal(text, s, len);
    wh_free(text);
    wh_free(ids);
}

/* ---- GGUF path == tokenizer.json path ---- */

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *s, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void put_u32(buf *b, uint32_t v)
{
    put(b, &v, 4);
}

static void put_u64(buf *b, uint64_t v)
{
    put(b, &v, 8);
}

static void put_str(buf *b, const char *s, size_t n)
{
    put_u64(b, n);
    put(b, s, n);
}

static void put_key(buf *b, const char *k, uint32_t type)
{
    put_str(b, k, strlen(k));
    put_u32(b, type);
}

/* Writes a vocabulary-only GGUF from a tokenizer.json (spellings, types, merges). */
static void json_to_gguf(const char *json_path, const char *pre, const char *out_path)
{
    json_object *root = json_object_from_file(json_path);
    assert_non_null(root);
    json_object *model, *vocab, *merges, *added;
    assert_true(json_object_object_get_ex(root, "model", &model));
    assert_true(json_object_object_get_ex(model, "vocab", &vocab));
    assert_true(json_object_object_get_ex(model, "merges", &merges));
    assert_true(json_object_object_get_ex(root, "added_tokens", &added));
    size_t n = 0;
    json_object_object_foreach(vocab, k0, v0)
    {
        (void)k0;
        if ((size_t)json_object_get_int(v0) + 1 > n)
            n = (size_t)json_object_get_int(v0) + 1;
    }
    for (size_t i = 0; i < json_object_array_length(added); i++) {
        json_object *id;
        json_object_object_get_ex(json_object_array_get_idx(added, i), "id", &id);
        if ((size_t)json_object_get_int(id) + 1 > n)
            n = (size_t)json_object_get_int(id) + 1;
    }
    const char **spell = calloc(n, sizeof *spell);
    size_t *spell_n = calloc(n, sizeof *spell_n);
    int32_t *type = calloc(n, sizeof *type);
    assert_true(spell && spell_n && type);
    json_object_object_foreach(vocab, k, v)
    {
        int id = json_object_get_int(v);
        spell[id] = k;
        spell_n[id] = strlen(k);
        type[id] = 1;
    }
    for (size_t i = 0; i < json_object_array_length(added); i++) {
        json_object *a = json_object_array_get_idx(added, i), *id, *c, *sp;
        json_object_object_get_ex(a, "id", &id);
        json_object_object_get_ex(a, "content", &c);
        json_object_object_get_ex(a, "special", &sp);
        int k2 = json_object_get_int(id);
        spell[k2] = json_object_get_string(c);
        spell_n[k2] = (size_t)json_object_get_string_len(c);
        type[k2] = json_object_get_boolean(sp) ? 3 : 4;
    }
    buf b = {0};
    put(&b, "GGUF", 4);
    put_u32(&b, 3);
    put_u64(&b, 0); /* tensors */
    put_u64(&b, 5); /* kv */
    put_key(&b, "tokenizer.ggml.model", 8);
    put_str(&b, "gpt2", 4);
    put_key(&b, "tokenizer.ggml.pre", 8);
    put_str(&b, pre, strlen(pre));
    put_key(&b, "tokenizer.ggml.tokens", 9);
    put_u32(&b, 8);
    put_u64(&b, n);
    for (size_t i = 0; i < n; i++) {
        if (spell[i] == NULL) { /* a hole: an unused token */
            char name[32];
            snprintf(name, sizeof name, "[UNUSED%zu]", i);
            type[i] = 5;
            put_str(&b, name, strlen(name));
        } else {
            put_str(&b, spell[i], spell_n[i]);
        }
    }
    put_key(&b, "tokenizer.ggml.token_type", 9);
    put_u32(&b, 5);
    put_u64(&b, n);
    put(&b, type, n * 4);
    put_key(&b, "tokenizer.ggml.merges", 9);
    put_u32(&b, 8);
    put_u64(&b, json_object_array_length(merges));
    for (size_t i = 0; i < json_object_array_length(merges); i++) {
        json_object *m = json_object_array_get_idx(merges, i);
        if (json_object_is_type(m, json_type_array)) {
            char tmp[1024];
            int k3 = snprintf(tmp, sizeof tmp, "%s %s",
                              json_object_get_string(json_object_array_get_idx(m, 0)),
                              json_object_get_string(json_object_array_get_idx(m, 1)));
            put_str(&b, tmp, (size_t)k3);
        } else {
            put_str(&b, json_object_get_string(m), (size_t)json_object_get_string_len(m));
        }
    }
    FILE *f = fopen(out_path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b.p, 1, b.n, f), b.n);
    fclose(f);
    free(b.p);
    free(spell);
    free(spell_n);
    free(type);
    json_object_put(root);
}

typedef struct cmp_ctx {
    wh_tokenizer *a, *b;
    int same, total;
} cmp_ctx;

static void compare_one(const jcase *c, void *ctx)
{
    cmp_ctx *k = ctx;
    int32_t *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    wh_error err = {0};
    assert_int_equal(
        wh_tokenizer_encode(k->a, c->text, c->len, WH_TOK_PARSE_SPECIAL, &x, &nx, &err), WH_OK);
    assert_int_equal(
        wh_tokenizer_encode(k->b, c->text, c->len, WH_TOK_PARSE_SPECIAL, &y, &ny, &err), WH_OK);
    k->total++;
    k->same += nx == ny && (nx == 0 || memcmp(x, y, nx * sizeof *x) == 0);
    wh_free(x);
    wh_free(y);
}

static void gguf_matches_json(const char *json_path, const char *pre, const char *cases)
{
    char path[] = "/tmp/whale-tok-XXXXXX.gguf";
    int fd = mkstemps(path, 5);
    assert_true(fd >= 0);
    json_to_gguf(json_path, pre, path);
    wh_tokenizer *g = NULL;
    wh_error err = {0};
    int rc = wh_tokenizer_load(path, &g, &err);
    remove(path);
    if (rc != WH_OK)
        fail_msg("%s", err.msg);
    assert_string_equal(wh_tokenizer_pre_name(g), pre);
    wh_tokenizer *j = tok(json_path);
    assert_int_equal(wh_tokenizer_n_vocab(g), wh_tokenizer_n_vocab(j));
    cmp_ctx k = {j, g, 0, 0};
    for_cases(cases, compare_one, &k);
    printf("%s vs GGUF (%s): %d/%d identical\n", json_path, pre, k.same, k.total);
    assert_int_equal(k.same, k.total);
    wh_tokenizer_free(g);
}

static void test_gguf_equals_json(void **state)
{
    (void)state;
    if (!have_data())
        skip();
    gguf_matches_json(TD "deepseek-r1/tokenizer.json", "deepseek-v3", TD "deepseek-r1/cases.jsonl");
    gguf_matches_json(TD "deepseek-r1-distill-qwen/tokenizer.json", "qwen2",
                      TD "deepseek-r1-distill-qwen/cases.jsonl");
}

/* ---- round trips ---- */

static uint64_t g_rng = 0x2545F4914F6CDD1Dull;

static uint32_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng >> 16);
}

/* A random string: mode 0 any bytes, 1 valid UTF-8 from a mix of scripts. */
static size_t random_text(char *s, size_t cap, int mode)
{
    static const uint32_t blocks[][2] = {
        {0x20, 0x7e},       {0x09, 0x0d},        {0xa0, 0x24f},    {0x300, 0x36f},
        {0x391, 0x3c9},     {0x400, 0x44f},      {0x5d0, 0x5ea},   {0x600, 0x6ff},
        {0x900, 0x97f},     {0xe00, 0xe5b},      {0x1100, 0x11ff}, {0x2000, 0x206f},
        {0x3000, 0x30ff},   {0x4e00, 0x9fa5},    {0xac00, 0xd7a3}, {0xff00, 0xffef},
        {0x1f300, 0x1faff}, {0x10000, 0x10fff0},
    };
    size_t n = rnd() % (cap - 8), k = 0;
    while (k < n) {
        if (mode == 0) {
            s[k++] = (char)rnd();
            continue;
        }
        uint32_t cp;
        if (rnd() % 3 == 0) {
            cp = 0x20 + rnd() % 95; /* plenty of ASCII, spaces and digits */
        } else {
            const uint32_t *b = blocks[rnd() % (sizeof blocks / sizeof blocks[0])];
            cp = b[0] + rnd() % (b[1] - b[0] + 1);
        }
        if (cp >= 0xd800 && cp <= 0xdfff)
            continue;
        char u[4];
        int m = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
        if (m == 1) {
            u[0] = (char)cp;
        } else if (m == 2) {
            u[0] = (char)(0xc0 | (cp >> 6));
            u[1] = (char)(0x80 | (cp & 0x3f));
        } else if (m == 3) {
            u[0] = (char)(0xe0 | (cp >> 12));
            u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
            u[2] = (char)(0x80 | (cp & 0x3f));
        } else {
            u[0] = (char)(0xf0 | (cp >> 18));
            u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
            u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
            u[3] = (char)(0x80 | (cp & 0x3f));
        }
        memcpy(s + k, u, (size_t)m);
        k += (size_t)m;
    }
    return k;
}

/* decode(encode(s)) == s, and the stream decoder gives the same bytes, never splitting a
 * valid UTF-8 sequence. */
static void round_trip(wh_tokenizer *t, const char *s, size_t n, int valid_utf8)
{
    int32_t *ids = NULL;
    size_t n_ids = 0;
    char *text = NULL;
    size_t len = 0;
    wh_error err = {0};
    assert_int_equal(wh_tokenizer_encode(t, s, n, 0, &ids, &n_ids, &err), WH_OK);
    assert_int_equal(wh_tokenizer_decode(t, ids, n_ids, 0, &text, &len, &err), WH_OK);
    if (len != n || memcmp(text, s, n) != 0) {
        printf("round trip differs for %zu bytes:", n);
        for (size_t i = 0; i < n && i < 64; i++)
            printf(" %02x", (uint8_t)s[i]);
        printf("\n");
        fail();
    }
    wh_tokstream *st = NULL;
    assert_int_equal(wh_tokstream_new(t, 0, &st, &err), WH_OK);
    size_t at = 0;
    for (size_t i = 0; i < n_ids; i++) {
        const char *p;
        size_t k;
        assert_int_equal(wh_tokstream_push(st, ids[i], &p, &k, &err), WH_OK);
        assert_true(at + k <= n);
        assert_memory_equal(p, s + at, k);
        if (valid_utf8 && k > 0) {
            /* a chunk of valid text ends on a character boundary */
            assert_true(at + k == n || ((uint8_t)s[at + k] & 0xc0) != 0x80);
        }
        at += k;
    }
    const char *p;
    size_t k;
    wh_tokstream_flush(st, &p, &k);
    if (valid_utf8)
        assert_int_equal(k, 0);
    assert_memory_equal(p, s + at, k);
    assert_int_equal(at + k, n);
    wh_tokstream_free(st);
    wh_free(text);
    wh_free(ids);
}

static void test_round_trip(void **state)
{
    (void)state;
    if (!have_data())
        skip();
    wh_tokenizer *ts[] = {tok(TD "deepseek-r1/tokenizer.json"),
                          tok(TD "ggml-vocab-deepseek-llm.gguf"),
                          tok(TD "ggml-vocab-deepseek-coder.gguf")};
    char s[600];
    for (size_t k = 0; k < sizeof ts / sizeof ts[0]; k++) {
        for (int i = 0; i < 600; i++) {
            /* DeepSeek LLM and Coder have no BPE token for the 13 bytes that never occur
             * in UTF-8 (C0, C1, F5-FF), only added tokens spelled "À", "õ", ... that
             * decode as their text; they round-trip valid UTF-8 only. */
            int mode = k == 0 ? i % 2 : 1;
            size_t n = random_text(s, sizeof s, mode);
            round_trip(ts[k], s, n, mode);
        }
    }
    /* with NFC (Qwen) the round trip gives the NFC form: equal on NFC-stable text */
    wh_tokenizer *q = tok(TD "qwen/tokenizer.json");
    const char *stable =
        "Hello \xe4\xbd\xa0\xe5\xa5\xbd \xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80 12345\n\t";
    round_trip(q, stable, strlen(stable), 1);
    /* invalid UTF-8 inside words: each bad byte is a token of its own, nothing is lost */
    const char bad[] = "ab\xff"
                       "cd\xc3(\xe2\x82 \xf0\x9f\x98 x\xed\xa0\x80y\xc0\xaf";
    round_trip(ts[0], bad, sizeof bad - 1, 0);
    round_trip(q, bad, sizeof bad - 1, 0);
}

/* A split multi-byte character is held back until complete. */
static void test_stream_holds_partial(void **state)
{
    (void)state;
    if (!have_data())
        skip();
    wh_tokenizer *t = tok(TD "deepseek-v3/tokenizer.json");
    /* single-byte tokens of the three bytes of U+4F60 */
    uint8_t bytes[3] = {0xe4, 0xbd, 0xa0};
    wh_tokstream *st = NULL;
    wh_error err = {0};
    assert_int_equal(wh_tokstream_new(t, 0, &st, &err), WH_OK);
    const char *p;
    size_t k;
    for (int i = 0; i < 3; i++) {
        int32_t id = wh_tokenizer_find(t, (const char *)&bytes[i], 1);
        assert_true(id >= 0);
        assert_int_equal(wh_tokstream_push(st, id, &p, &k, &err), WH_OK);
        assert_int_equal(k, i < 2 ? 0 : 3);
    }
    assert_memory_equal(p, bytes, 3);
    wh_tokstream_flush(st, &p, &k);
    assert_int_equal(k, 0);
    /* a truncated sequence comes out at flush */
    int32_t id = wh_tokenizer_find(t, (const char *)&bytes[0], 1);
    assert_int_equal(wh_tokstream_push(st, id, &p, &k, &err), WH_OK);
    assert_int_equal(k, 0);
    wh_tokstream_flush(st, &p, &k);
    assert_int_equal(k, 1);
    assert_int_equal((uint8_t)p[0], 0xe4);
    assert_int_equal(wh_tokstream_push(st, -5, &p, &k, &err), WH_E_INVALID);
    wh_tokstream_free(st);
}

/* NFC against Python's unicodedata: composition, Hangul, reordering, blocking, singletons. */
static void test_nfc(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"\x65\xcc\x81", "\xc3\xa9"},
        {"\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8", "\xea\xb0\x81"},
        {"\x61\xcc\x88\xcc\x81", "\xc3\xa4\xcc\x81"},
        {"\x61\xcc\x81\xcc\x88", "\xc3\xa1\xcc\x88"},
        {"\x41\xcc\x8a\xcc\xa3", "\xe1\xba\xa0\xcc\x8a"},
        {"\xe2\x84\xab", "\xc3\x85"},
        {"\xef\xa4\x80", "\xe8\xb1\x88"},
        {"\x5a\xcd\x91\xcd\xab\xcd\x83", "\x5a\xcd\x91\xcd\xab\xcc\x93"},
        {"\xe0\xa5\x98", "\xe0\xa4\x95\xe0\xa4\xbc"},
        {"\x71\xcc\x87\xcc\xa3", "\x71\xcc\xa3\xcc\x87"},
        {"\xe1\xb8\x8b\xcc\xa3", "\xe1\xb8\x8d\xcc\x87"},
        {"plain ASCII", "plain ASCII"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const uint8_t *in = (const uint8_t *)cases[i][0];
        size_t n = strlen(cases[i][0]);
        tok_pool out = {0};
        assert_int_equal(tok_nfc(in, n, &out), WH_OK);
        assert_int_equal(out.len, strlen(cases[i][1]));
        assert_memory_equal(out.data, cases[i][1], out.len);
        assert_int_equal(tok_nfc_maybe_changes(in, n), i + 1 < sizeof cases / sizeof cases[0]);
        tok_pool_free(&out);
    }
}

/* The 128k tokenizer.json loads within the budget (printed; asserted loosely so slow CI
 * machines and sanitizer builds pass). */
static void test_load_time(void **state)
{
    (void)state;
    if (!have_data())
        skip();
    struct timespec a, b;
    wh_tokenizer *t = NULL;
    wh_error err = {0};
    clock_gettime(CLOCK_MONOTONIC, &a);
    assert_int_equal(wh_tokenizer_load(TD "deepseek-v3/tokenizer.json", &t, &err), WH_OK);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
    printf("deepseek-v3 tokenizer.json loaded in %.1f ms\n", ms);
    wh_tokenizer_free(t);
    assert_true(ms < 3000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ggml_deepseek_llm),
        cmocka_unit_test(test_ggml_deepseek_coder),
        cmocka_unit_test(test_ggml_qwen2),
        cmocka_unit_test(test_cases_deepseek_v3),
        cmocka_unit_test(test_cases_deepseek_r1),
        cmocka_unit_test(test_cases_qwen),
        cmocka_unit_test(test_cases_r1_distill_qwen),
        cmocka_unit_test(test_special_flags),
        cmocka_unit_test(test_gguf_equals_json),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_stream_holds_partial),
        cmocka_unit_test(test_nfc),
        cmocka_unit_test(test_load_time),
    };
    return cmocka_run_group_tests(tests, NULL, teardown_all);
}
