/*
 * fuzz_gguf.c — libFuzzer target for the GGUF reader and everything that reads an
 * open GGUF: wh_gguf_open on the input written to a file, then the typed getters,
 * the config mapping (wh_config_from_gguf + wh_config_derive), the vocabulary loader
 * (wh_tokenizer_load_gguf), the tensor store (wh_gguf_to_store: duplicates, overlaps),
 * and a whole wh_model_load of the same file (weight binding against the config); a
 * model that loads then evaluates two tokens.
 * Every rejection must be a negative wh_status with a message; ASan/UBSan catch the rest.
 */
#include "fuzz.h"

#include "formats/gguf.h"
#include "model/config.h"

static void read_open_file(wh_gguf *g)
{
    wh_error err;
    static const char *keys[] = {"general.architecture",    "general.alignment",
                                 "tokenizer.ggml.model",    "tokenizer.ggml.bos_token_id",
                                 "tokenizer.chat_template", "llama.block_count"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        uint32_t u = 0;
        int64_t v = 0;
        float f = 0;
        bool b = false;
        wh_gguf_str s;
        wh_gguf_get_u32(g, keys[i], 0, &u, &err);
        wh_gguf_get_i64(g, keys[i], 0, &v, &err);
        wh_gguf_get_f32(g, keys[i], 0, &f, &err);
        wh_gguf_get_bool(g, keys[i], 0, &b, &err);
        wh_gguf_get_str(g, keys[i], 0, &s, &err);
    }
    wh_config cfg;
    int split = 0;
    memset(&err, 0, sizeof err);
    int rc = wh_config_from_gguf(g, &cfg, &split, &err);
    if (rc == WH_OK) {
        wh_dims dims;
        memset(&err, 0, sizeof err);
        rc = wh_config_derive(&cfg, &dims, &err);
    }
    if (rc != WH_OK)
        fuzz_check_error(rc, &err);

    wh_tokenizer *tok = NULL;
    memset(&err, 0, sizeof err);
    rc = wh_tokenizer_load_gguf(g, &tok, &err);
    if (rc == WH_OK) {
        int32_t *ids = NULL;
        size_t n_ids = 0;
        static const char text[] = "Hello <think>world</think> 123 \xe4\xbd\xa0\xe5\xa5\xbd";
        if (wh_tokenizer_encode(tok, text, sizeof text - 1, WH_TOK_PARSE_SPECIAL, &ids, &n_ids,
                                &err) == WH_OK) {
            char *out = NULL;
            size_t len = 0;
            if (wh_tokenizer_decode(tok, ids, n_ids, 0, &out, &len, &err) == WH_OK)
                wh_free(out);
            wh_free(ids);
        }
        wh_tokenizer_free(tok);
    } else {
        fuzz_check_error(rc, &err);
    }

    wh_tensor_store st;
    wh_store_init(&st);
    memset(&err, 0, sizeof err);
    rc = wh_gguf_to_store(g, &st, &err);
    if (rc != WH_OK)
        fuzz_check_error(rc, &err);
    wh_store_free(&st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *path;
    if (path == NULL)
        path = fuzz_scratch(".gguf");
    fuzz_write(path, data, size);

    wh_gguf g;
    wh_error err;
    memset(&err, 0, sizeof err);
    int rc = wh_gguf_open(&g, path, &err);
    if (rc != WH_OK) {
        fuzz_check_error(rc, &err);
        return 0;
    }
    read_open_file(&g);
    wh_gguf_close(&g);

    wh_model *m = NULL;
    memset(&err, 0, sizeof err);
    rc = wh_model_load(path, &m, &err);
    if (rc != WH_OK) {
        fuzz_check_error(rc, &err);
        return 0;
    }
    /* a model that loads runs: two tokens through a small session */
    wh_session_opts o = {.n_ctx = 8, .n_threads = 1};
    wh_session *s = NULL;
    rc = wh_session_new(m, &o, &s, &err);
    if (rc == WH_OK) {
        const int32_t toks[2] = {0, wh_model_config(m)->vocab_size - 1};
        rc = wh_session_eval(s, toks, 2, NULL, 0, &err);
        wh_session_free(s);
    }
    if (rc != WH_OK)
        fuzz_check_error(rc, &err);
    wh_model_free(m);
    return 0;
}
