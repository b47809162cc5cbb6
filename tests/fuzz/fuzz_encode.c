/*
 * fuzz_encode.c — libFuzzer target for the tokenizer's encode and decode on arbitrary
 * bytes, with the real DeepSeek-V3 vocabulary (../shared/testdata/tokenizer/deepseek-v3,
 * loaded once; WHALE_TESTDATA overrides ../shared/testdata). Checks the documented
 * round trip decode(encode(x)) == x for any bytes, with and without special-token
 * parsing, that every id is in range, and that the streaming decoder's concatenated
 * output equals decode's.
 */
#include "fuzz.h"

static wh_tokenizer *g_tok;

static wh_tokenizer *tokenizer(void)
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
        fprintf(stderr, "fuzz_encode: %s\n", err.msg);
        abort();
    }
    return g_tok;
}

static void round_trip(const wh_tokenizer *t, const char *text, size_t size, unsigned flags)
{
    int32_t *ids = NULL;
    size_t n_ids = 0;
    wh_error err;
    if (wh_tokenizer_encode(t, text, size, flags, &ids, &n_ids, &err) != WH_OK) {
        fprintf(stderr, "fuzz_encode: encode failed: %s\n", err.msg);
        abort();
    }
    int32_t nv = wh_tokenizer_n_vocab(t);
    for (size_t i = 0; i < n_ids; i++)
        if (ids[i] < 0 || ids[i] >= nv || wh_tokenizer_attr(t, ids[i]) == 0)
            abort();
    char *out = NULL;
    size_t len = 0;
    if (wh_tokenizer_decode(t, ids, n_ids, 0, &out, &len, &err) != WH_OK) {
        fprintf(stderr, "fuzz_encode: decode failed: %s\n", err.msg);
        abort();
    }
    if (len != size || memcmp(out, text, size) != 0) {
        fprintf(stderr, "fuzz_encode: decode(encode(x)) != x (flags %u, %zu -> %zu bytes)\n", flags,
                size, len);
        abort();
    }
    /* the streaming decoder gives the same bytes */
    wh_tokstream *s = NULL;
    if (wh_tokstream_new(t, 0, &s, &err) != WH_OK)
        abort();
    size_t got = 0;
    for (size_t i = 0; i < n_ids; i++) {
        const char *piece;
        size_t n;
        if (wh_tokstream_push(s, ids[i], &piece, &n, &err) != WH_OK)
            abort();
        if (got + n > len || memcmp(out + got, piece, n) != 0)
            abort();
        got += n;
    }
    const char *rest;
    size_t n_rest;
    wh_tokstream_flush(s, &rest, &n_rest);
    if (got + n_rest != len || memcmp(out + got, rest, n_rest) != 0)
        abort();
    wh_tokstream_free(s);
    wh_free(out);
    wh_free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const wh_tokenizer *t = tokenizer();
    char *text = malloc(size ? size : 1); /* exact size: ASan sees over-reads */
    if (text == NULL)
        abort();
    memcpy(text, data, size);
    round_trip(t, text, size, 0);
    round_trip(t, text, size, WH_TOK_PARSE_SPECIAL);
    free(text);
    return 0;
}
