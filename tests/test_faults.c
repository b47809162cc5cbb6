/*
 * test_faults.c — fault injection, SQLite's method: each operation below is run again and
 * again with its Nth allocation failing (wh_alloc_fail_at), for N = 1, 2, ... until it
 * needs fewer than N and succeeds. Every failure must come back as WH_E_NOMEM with an
 * "out of memory" message, leave nothing behind (LeakSanitizer under `make test-san`)
 * and not disturb the next attempt. The operations: tokenizer loading from tokenizer.json
 * (in memory and from files) and from GGUF, encoding (with NFC), decoding and streaming
 * decoding, a sharded safetensors model (index, FP8 scales), chat rendering and encoding,
 * and a session with an eval and a whole wh_generate. (Single-file model loads and their
 * sessions are looped in test_bad_input.c.)
 *
 * Then I/O faults (wh_io_fail_at): the Nth open, read or mmap of a model load or a
 * tokenizer load fails with EIO or hits a premature end of file — a clear WH_E_IO naming
 * the file — or returns a legal short read, which must change nothing.
 *
 * Not covered here: the server's request parsing (src/serve/api.c) allocates through
 * wh_malloc but mostly through json-c, which the hook does not reach; it is fuzzed by
 * tests/fuzz/fuzz_api.c and its json-c failures are forced in tests/test_parsers_cov.c.
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
#include "whale.h"

#define FX "tests/fixtures/"
#define TD "../shared/testdata/tokenizer/"
#define SEEDS "tests/fuzz/corpus/"

static int have_testdata(void)
{
    if (wh_is_dir(TD "deepseek-v3"))
        return 1;
    print_message("skipped: %s not found\n", TD "deepseek-v3");
    return 0;
}

static char *slurp(const char *path, size_t *len)
{
    char *text = NULL;
    uint64_t n = 0;
    wh_error err;
    if (wh_read_text(path, 1ull << 30, &text, &n, &err) != WH_OK)
        fail_msg("%s", err.msg);
    *len = (size_t)n;
    return text;
}

/* ---- the allocation-failure loop ---- */

/* One attempt: returns a wh_status and releases whatever it made. */
typedef int (*attempt_fn)(void *ctx, wh_error *err);

/* Runs fn with allocation n (and every later one) failing for n = 1, 2, ... until it
 * succeeds without a failure; returns how many allocations it needed. A success despite a
 * failure is allowed where an allocation is optional (PCRE2's JIT compiler: without it
 * the regex is interpreted); those are counted and printed. */
static long alloc_loop(const char *what, attempt_fn fn, void *ctx)
{
    long n, absorbed = 0;
    for (n = 1; n < 1000000; n++) {
        wh_error err;
        memset(&err, 0, sizeof err);
        wh_alloc_fail_at(n);
        int rc = fn(ctx, &err);
        long used = wh_alloc_count();
        wh_alloc_fail_at(0);
        if (rc == WH_OK && used >= n) {
            absorbed++;
            continue;
        }
        if (rc == WH_OK)
            break;
        if (rc != WH_E_NOMEM || err.code != rc || strstr(err.msg, "out of memory") == NULL)
            fail_msg("%s, allocation %ld failing: %s: \"%s\"", what, n, wh_status_name(rc),
                     err.msg);
    }
    assert_true(n > 1);
    print_message("%s: a failure at each of its %ld allocations is reported", what, n - 1);
    print_message(absorbed ? " (%ld optional ones absorbed)\n" : "\n", absorbed);
    return n - 1;
}

/* ---- tokenizer loading ---- */

typedef struct json_src {
    char *json, *cfg;
    size_t n_json, n_cfg;
} json_src;

/* A fuzz seed: tokenizer.json, then 0xFF and tokenizer_config.json. */
static void load_seed(const char *path, json_src *s)
{
    memset(s, 0, sizeof *s);
    s->json = slurp(path, &s->n_json);
    char *sep = memchr(s->json, 0xff, s->n_json);
    if (sep != NULL) {
        s->cfg = sep + 1;
        s->n_cfg = s->n_json - (size_t)(sep + 1 - s->json);
        s->n_json = (size_t)(sep - s->json);
    }
}

static int try_json_mem(void *ctx, wh_error *err)
{
    const json_src *s = ctx;
    wh_tokenizer *t = (wh_tokenizer *)1;
    int rc =
        wh_tokenizer_load_json_mem(s->json, s->n_json, s->cfg, s->n_cfg, "tokenizer.json", &t, err);
    if (rc == WH_OK)
        wh_tokenizer_free(t);
    else
        assert_null(t);
    return rc;
}

static int try_load_path(void *ctx, wh_error *err)
{
    wh_tokenizer *t = (wh_tokenizer *)1;
    int rc = wh_tokenizer_load((const char *)ctx, &t, err);
    if (rc == WH_OK)
        wh_tokenizer_free(t);
    else
        assert_null(t);
    return rc;
}

static void test_alloc_tokenizer_json(void **state)
{
    (void)state;
    static const char *seeds[] = {SEEDS "fuzz_tokenizer_json/deepseek-v3.json",
                                  SEEDS "fuzz_tokenizer_json/qwen.json",
                                  SEEDS "fuzz_tokenizer_json/minimal.json"};
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        json_src s;
        load_seed(seeds[i], &s);
        alloc_loop(seeds[i], try_json_mem, &s);
        wh_free(s.json);
    }
    /* a whole real vocabulary from its folder (tokenizer.json + tokenizer_config.json) */
    if (have_testdata())
        alloc_loop(TD "qwen", try_load_path, TD "qwen");
}

static void test_alloc_tokenizer_gguf(void **state)
{
    (void)state;
    alloc_loop(SEEDS "fuzz_gguf/tiny-llama.gguf", try_load_path, SEEDS "fuzz_gguf/tiny-llama.gguf");
    if (have_testdata())
        alloc_loop(TD "ggml-vocab-deepseek-coder.gguf", try_load_path,
                   TD "ggml-vocab-deepseek-coder.gguf");
}

/* Encoding with NFC (Qwen's vocabulary asks for it), decoding and streaming decoding. */
typedef struct enc_ctx {
    const wh_tokenizer *tok;
    const char *text;
} enc_ctx;

static int try_encode(void *ctx, wh_error *err)
{
    const enc_ctx *c = ctx;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    int rc = wh_tokenizer_encode(c->tok, c->text, strlen(c->text),
                                 WH_TOK_ADD_SPECIAL | WH_TOK_PARSE_SPECIAL, &ids, &n_ids, err);
    if (rc != WH_OK)
        return rc;
    char *out = NULL;
    size_t len = 0;
    rc = wh_tokenizer_decode(c->tok, ids, n_ids, 0, &out, &len, err);
    wh_free(out);
    wh_tokstream *ts = NULL;
    if (rc == WH_OK)
        rc = wh_tokstream_new(c->tok, WH_TOK_SKIP_SPECIAL, &ts, err);
    for (size_t i = 0; rc == WH_OK && i < n_ids; i++) {
        const char *piece;
        size_t n;
        rc = wh_tokstream_push(ts, ids[i], &piece, &n, err);
    }
    wh_tokstream_free(ts);
    wh_free(ids);
    return rc;
}

static void test_alloc_encode(void **state)
{
    (void)state;
    if (!have_testdata())
        return;
    static const char *names[] = {"qwen", "deepseek-v3"};
    for (int i = 0; i < 2; i++) {
        char path[256];
        snprintf(path, sizeof path, TD "%s", names[i]);
        wh_tokenizer *tok = NULL;
        wh_error err;
        if (wh_tokenizer_load(path, &tok, &err) != WH_OK)
            fail_msg("%s", err.msg);
        /* decomposed accents (NFC composes them), CJK, digits, a special token, bad UTF-8 */
        enc_ctx c = {tok, "Cafe\xcc\x81 na\xc3\xafve \xe4\xbd\xa0\xe5\xa5\xbd 12345 "
                          "<|endoftext|><\xef\xbd\x9cUser\xef\xbd\x9c> \xff\xfe end"};
        char what[64];
        snprintf(what, sizeof what, "%s: encode, decode, stream", names[i]);
        alloc_loop(what, try_encode, &c);
        wh_tokenizer_free(tok);
    }
}

/* A sharded safetensors model (index + two shards) with its config. */
static int try_model(void *ctx, wh_error *err)
{
    wh_model *m = (wh_model *)1;
    int rc = wh_model_load((const char *)ctx, &m, err);
    if (rc == WH_OK)
        wh_model_free(m);
    else
        assert_null(m);
    return rc;
}

static void test_alloc_sharded_model(void **state)
{
    (void)state;
    alloc_loop(FX "dsv3", try_model, FX "dsv3");
    alloc_loop(FX "dsv3-fp8", try_model, FX "dsv3-fp8");
}

/* ---- chat rendering and encoding ---- */

typedef struct chat_ctx {
    const wh_tokenizer *tok;
    wh_chat_family fam;
} chat_ctx;

static const wh_chat_tool_call g_calls[2] = {
    {NULL, "get_weather", "{\"city\": \"Paris\"}"},
    {"function", "get_time", "{}"},
};

static const wh_chat_msg g_msgs[] = {
    {"system", "You are a helpful assistant.", NULL, NULL, 0},
    {"user", "What is the weather in Paris, and the time?", NULL, NULL, 0},
    {"assistant", NULL, "I should call two tools.", g_calls, 2},
    {"tool", "{\"temp\": 21}", NULL, NULL, 0},
    {"tool", "{\"time\": \"12:00\"}", NULL, NULL, 0},
    {"assistant", "<think>done</think>It is 21 degrees at noon.", NULL, NULL, 0},
    {"user", "Thanks! \xe4\xbd\xa0\xe5\xa5\xbd \xff", NULL, NULL, 0},
};

static int try_chat(void *ctx, wh_error *err)
{
    const chat_ctx *c = ctx;
    int n = (int)(sizeof g_msgs / sizeof g_msgs[0]);
    char *text = (char *)1;
    size_t len = 0;
    int rc = wh_chat_render(c->fam, g_msgs, n, 1, &text, &len, err);
    if (rc != WH_OK) {
        assert_null(text);
        return rc;
    }
    wh_free(text);
    int32_t *ids = NULL;
    size_t n_ids = 0;
    rc = wh_chat_encode(c->tok, c->fam, g_msgs, n, 1, &ids, &n_ids, err);
    if (rc == WH_OK) {
        assert_true(n_ids > 10);
        wh_free(ids);
    }
    return rc;
}

static void test_alloc_chat(void **state)
{
    (void)state;
    if (!have_testdata())
        return;
    wh_tokenizer *tok = NULL;
    wh_error err;
    if (wh_tokenizer_load(TD "deepseek-v3", &tok, &err) != WH_OK)
        fail_msg("%s", err.msg);
    static const char *names[] = {"chat R1", "chat V3", "chat R1-Distill", "chat plain"};
    for (int f = WH_CHAT_R1; f <= WH_CHAT_PLAIN; f++) {
        chat_ctx c = {tok, (wh_chat_family)f};
        alloc_loop(names[f], try_chat, &c);
    }
    wh_tokenizer_free(tok);
}

/* ---- a session, an eval and a whole generation ---- */

typedef struct gen_ctx {
    const wh_model *m;
    const char *text;
} gen_ctx;

static int count_cb(void *user, const char *text, size_t len, int is_reasoning)
{
    (void)text;
    (void)is_reasoning;
    *(size_t *)user += len;
    return 0;
}

static int try_generate(void *ctx, wh_error *err)
{
    const gen_ctx *g = ctx;
    const wh_tokenizer *tok = wh_model_tokenizer(g->m, err);
    if (tok == NULL)
        fail_msg("no tokenizer: %s", err->msg);
    int32_t *ids = NULL;
    size_t n_ids = 0;
    int rc =
        wh_tokenizer_encode(tok, g->text, strlen(g->text), WH_TOK_ADD_SPECIAL, &ids, &n_ids, err);
    if (rc != WH_OK)
        return rc;
    wh_session_opts o = {.n_ctx = 32, .n_threads = 1};
    wh_session *s = (wh_session *)1;
    rc = wh_session_new(g->m, &o, &s, err);
    if (rc != WH_OK) {
        assert_null(s);
        wh_free(ids);
        return rc;
    }
    rc = wh_session_eval(s, ids, (int)n_ids, NULL, 0, err);
    wh_session_reset(s);
    if (rc == WH_OK) {
        wh_gen_params p;
        memset(&p, 0, sizeof p);
        p.sampler = wh_sampler_defaults();
        p.sampler.temperature = 0.8f;
        p.sampler.top_k = 8;
        p.sampler.top_p = 0.9f;
        p.sampler.repetition_penalty = 1.1f;
        p.sampler.seed = 7;
        p.max_tokens = 6;
        p.think_budget = 2;
        static const char *const stop[] = {"zz"};
        p.stop = stop;
        p.n_stop = 1;
        size_t got = 0;
        wh_gen_result res;
        rc = wh_generate(s, g->m, ids, (int)n_ids, &p, count_cb, &got, &res, err);
    }
    wh_session_free(s);
    wh_free(ids);
    return rc;
}

static void test_alloc_session_generate(void **state)
{
    (void)state;
    wh_model *m = NULL;
    wh_error err;
    const char *path = SEEDS "fuzz_gguf/tiny-llama.gguf";
    if (wh_model_load(path, &m, &err) != WH_OK)
        fail_msg("%s: %s", path, err.msg);
    gen_ctx g = {m, "abc ab a"};
    alloc_loop("tiny-llama: encode, session, eval, generate", try_generate, &g);
    wh_model_free(m);
}

/* ---- I/O faults ---- */

typedef struct io_ctx {
    const char *path;
    int is_model; /* else a tokenizer */
    int32_t n_vocab, eos;
} io_ctx;

/* Loads ctx->path; on success checks it is what an unfaulted load gives. */
static int io_attempt(io_ctx *c, wh_error *err)
{
    if (c->is_model) {
        wh_model *m = (wh_model *)1;
        int rc = wh_model_load(c->path, &m, err);
        if (rc != WH_OK) {
            assert_null(m);
            return rc;
        }
        const wh_config *cfg = wh_model_config(m);
        if (c->n_vocab == 0) {
            c->n_vocab = cfg->vocab_size;
            c->eos = cfg->eos_token_id;
        }
        assert_int_equal(cfg->vocab_size, c->n_vocab);
        assert_int_equal(cfg->eos_token_id, c->eos);
        wh_model_free(m);
        return WH_OK;
    }
    wh_tokenizer *t = (wh_tokenizer *)1;
    int rc = wh_tokenizer_load(c->path, &t, err);
    if (rc != WH_OK) {
        assert_null(t);
        return rc;
    }
    if (c->n_vocab == 0) {
        c->n_vocab = wh_tokenizer_n_vocab(t);
        c->eos = wh_tokenizer_eos(t);
    }
    assert_int_equal(wh_tokenizer_n_vocab(t), c->n_vocab);
    assert_int_equal(wh_tokenizer_eos(t), c->eos);
    wh_tokenizer_free(t);
    return WH_OK;
}

static void io_loop(const char *path, int is_model)
{
    io_ctx c = {path, is_model, 0, 0};
    wh_error err;
    memset(&err, 0, sizeof err);
    if (io_attempt(&c, &err) != WH_OK) /* the reference load, unfaulted */
        fail_msg("%s: %s", path, err.msg);
    static const wh_io_fault kinds[] = {WH_IO_ERROR, WH_IO_EOF, WH_IO_SHORT};
    static const char *names[] = {"", "EIO", "short read", "end of file"};
    for (size_t k = 0; k < 3; k++) {
        long n, failed = 0;
        for (n = 1; n < 10000; n++) {
            memset(&err, 0, sizeof err);
            wh_io_fail_at(n, kinds[k]);
            int rc = io_attempt(&c, &err);
            long used = wh_io_count();
            wh_io_fail_at(0, 0);
            if (used < n) { /* ran out of operations to fault */
                if (rc != WH_OK)
                    fail_msg("%s: unfaulted load failed: %s", path, err.msg);
                break;
            }
            if (kinds[k] == WH_IO_SHORT) {
                if (rc != WH_OK) /* a short read is legal: nothing may change */
                    fail_msg("%s, operation %ld returning a short read: %s", path, n, err.msg);
                continue;
            }
            if (rc == WH_OK)
                continue; /* an optional file (generation_config.json) was skipped */
            failed++;
            if (rc != WH_E_IO || strstr(err.msg, "/") == NULL)
                fail_msg("%s, operation %ld with %s: %s: %s", path, n, names[kinds[k]],
                         wh_status_name(rc), err.msg);
        }
        if (kinds[k] == WH_IO_ERROR)
            assert_true(failed > 0);
        print_message("%s: %s at each of its %ld I/O operations handled (%ld errors)\n", path,
                      names[kinds[k]], n - 1, failed);
    }
}

static void test_io_faults(void **state)
{
    (void)state;
    io_loop(FX "qwen2", 1);          /* config.json, generation_config.json, one shard */
    io_loop(FX "dsv3", 1);           /* + model.safetensors.index.json, two shards */
    io_loop(FX "dsv2-lite.gguf", 1); /* one mmap */
    if (have_testdata()) {
        io_loop(TD "qwen", 0); /* tokenizer.json + tokenizer_config.json */
        io_loop(TD "ggml-vocab-deepseek-coder.gguf", 0);
    }
}

/* The messages say what happened and where. */
static void test_io_messages(void **state)
{
    (void)state;
    wh_error err;
    wh_model *m = NULL;
    wh_io_fail_at(1, WH_IO_ERROR); /* the open of config.json */
    assert_int_equal(wh_model_load(FX "qwen2", &m, &err), WH_E_IO);
    wh_io_fail_at(0, 0);
    assert_non_null(strstr(err.msg, "qwen2/config.json: cannot open: Input/output error"));
    wh_io_fail_at(2, WH_IO_EOF); /* its first read */
    assert_int_equal(wh_model_load(FX "qwen2", &m, &err), WH_E_IO);
    wh_io_fail_at(0, 0);
    assert_non_null(
        strstr(err.msg, "qwen2/config.json: unexpected end of file (short read) at byte 0"));
    wh_io_fail_at(2, WH_IO_ERROR); /* the fstat of the GGUF */
    assert_int_equal(wh_model_load(FX "dsv2-lite.gguf", &m, &err), WH_E_IO);
    wh_io_fail_at(0, 0);
    assert_non_null(strstr(err.msg, "dsv2-lite.gguf: cannot stat: Input/output error"));
    wh_io_fail_at(3, WH_IO_ERROR); /* the mmap of the GGUF */
    assert_int_equal(wh_model_load(FX "dsv2-lite.gguf", &m, &err), WH_E_IO);
    wh_io_fail_at(0, 0);
    assert_non_null(strstr(err.msg, "dsv2-lite.gguf: mmap failed: Input/output error"));
    assert_null(m);
    /* not a regular file, too large */
    char *text = NULL;
    wh_mapfile mf;
    assert_int_equal(wh_read_text(FX "qwen2", 1024, &text, NULL, &err), WH_E_IO);
    assert_non_null(strstr(err.msg, "qwen2: not a readable regular file"));
    assert_int_equal(wh_mapfile_open(&mf, FX "qwen2", &err), WH_E_IO);
    assert_non_null(strstr(err.msg, "qwen2: not a regular file"));
    assert_int_equal(wh_read_text(FX "qwen2/config.json", 10, &text, NULL, &err), WH_E_FORMAT);
    assert_non_null(strstr(err.msg, "more than the 10 allowed"));
    assert_null(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_tokenizer_json),
        cmocka_unit_test(test_alloc_tokenizer_gguf),
        cmocka_unit_test(test_alloc_encode),
        cmocka_unit_test(test_alloc_sharded_model),
        cmocka_unit_test(test_alloc_chat),
        cmocka_unit_test(test_alloc_session_generate),
        cmocka_unit_test(test_io_faults),
        cmocka_unit_test(test_io_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
