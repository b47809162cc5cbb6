/*
 * fuzz_tokenizer_json.c — libFuzzer target for the tokenizer.json loader
 * (wh_tokenizer_load_json_mem): its own streaming scanner for the vocabulary and merges,
 * json-c for the rest (normalizer, pre-tokenizer regexes compiled by PCRE2, added
 * tokens). The input is split at the first 0xFF byte: before it tokenizer.json, after it
 * tokenizer_config.json (none when there is no 0xFF). A tokenizer that loads then
 * encodes and decodes a fixed text.
 * Every rejection must be a negative wh_status with a message; ASan/UBSan catch the rest.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *sep = memchr(data, 0xff, size);
    size_t n_json = sep ? (size_t)(sep - data) : size;
    size_t n_cfg = sep ? size - n_json - 1 : 0;
    /* exact-size copies, so ASan sees any read past either end */
    char *json = malloc(n_json ? n_json : 1);
    char *cfg = malloc(n_cfg ? n_cfg : 1);
    if (json == NULL || cfg == NULL)
        abort();
    memcpy(json, data, n_json);
    if (sep != NULL)
        memcpy(cfg, sep + 1, n_cfg);

    wh_tokenizer *t = NULL;
    wh_error err;
    memset(&err, 0, sizeof err);
    int rc = wh_tokenizer_load_json_mem(json, n_json, sep ? cfg : NULL, n_cfg, "tokenizer.json", &t,
                                        &err);
    if (rc == WH_OK) {
        static const char text[] = "Hello, world! <think>x</think> 12345 \xc3\xa9t\xc3\xa9\n\n";
        int32_t *ids = NULL;
        size_t n_ids = 0;
        rc = wh_tokenizer_encode(t, text, sizeof text - 1,
                                 WH_TOK_ADD_SPECIAL | WH_TOK_PARSE_SPECIAL, &ids, &n_ids, &err);
        if (rc == WH_OK) {
            char *out = NULL;
            size_t len = 0;
            rc = wh_tokenizer_decode(t, ids, n_ids, WH_TOK_SKIP_SPECIAL, &out, &len, &err);
            wh_free(out);
            wh_free(ids);
        }
        if (rc != WH_OK)
            fuzz_check_error(rc, &err);
        int32_t nv = wh_tokenizer_n_vocab(t);
        for (int32_t id = -1; id <= nv && id < 4096; id++) {
            size_t n = 0;
            wh_tokenizer_piece(t, id, &n);
            wh_tokenizer_attr(t, id);
        }
        wh_tokenizer_free(t);
    } else {
        fuzz_check_error(rc, &err);
    }
    free(json);
    free(cfg);
    return 0;
}
