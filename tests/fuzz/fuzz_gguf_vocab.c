/*
 * fuzz_gguf_vocab.c — libFuzzer target for the GGUF vocabulary loader
 * (wh_tokenizer_load_gguf). Raw GGUF mutation rarely gets past the container, so the
 * input describes the tokenizer.ggml.* keys and a valid GGUF is written from it:
 *
 *   byte 0   flags: 1 token_type array, 2 merges, 4 pre, 8 bos_token_id, 16 eos_token_id,
 *            32 add_bos_token, 64 model name taken from the input (else "gpt2"),
 *            128 token_type as a u32 array (the wrong element type)
 *   byte 1,2 bos and eos ids (read as signed, times 3, so some are out of range)
 *   then NUL-separated strings: [model name], [pre name], tokens up to an empty string,
 *   each token "<type byte><text>" (type = byte % 8, so 0 and 7 are invalid), then merges.
 *
 * A tokenizer that loads encodes and decodes a fixed text. Every rejection must be a
 * negative wh_status with a message; ASan/UBSan catch the rest.
 */
#include "fuzz.h"

#include "formats/gguf.h"

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = (b->n + n) * 2;
        uint8_t *p = realloc(b->p, cap);
        if (p == NULL)
            abort();
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, d, n);
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

static void put_key(buf *b, const char *key, uint32_t type)
{
    put_str(b, key, strlen(key));
    put_u32(b, type);
}

typedef struct span {
    const char *s;
    size_t n;
} span;

/* The next NUL-separated string of [*p, end); {NULL, 0} at the end. */
static span next_str(const char **p, const char *end)
{
    span r = {NULL, 0};
    if (*p >= end)
        return r;
    const char *z = memchr(*p, '\0', (size_t)(end - *p));
    r.s = *p;
    r.n = z ? (size_t)(z - *p) : (size_t)(end - *p);
    *p += r.n + 1;
    return r;
}

#define MAX_TOKENS 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    static const char *path;
    if (path == NULL)
        path = fuzz_scratch("-vocab.gguf");
    int flags = data[0];
    int64_t bos = (int8_t)data[1] * 3, eos = (int8_t)data[2] * 3;
    const char *p = (const char *)data + 3, *end = (const char *)data + size;

    span model = {"gpt2", 4};
    if (flags & 64)
        model = next_str(&p, end);
    span pre = {NULL, 0};
    if (flags & 4)
        pre = next_str(&p, end);
    static span tokens[MAX_TOKENS];
    static span merges[MAX_TOKENS];
    size_t n_tok = 0, n_merge = 0;
    for (;;) {
        span s = next_str(&p, end);
        if (s.s == NULL || s.n == 0 || n_tok == MAX_TOKENS)
            break;
        tokens[n_tok++] = s;
    }
    while (n_merge < MAX_TOKENS) {
        span s = next_str(&p, end);
        if (s.s == NULL)
            break;
        merges[n_merge++] = s;
    }

    buf b = {NULL, 0, 0};
    uint64_t n_kv = 2 + !!(flags & 1) + !!(flags & 2) + !!(flags & 4) + !!(flags & 8) +
                    !!(flags & 16) + !!(flags & 32);
    put(&b, "GGUF", 4);
    put_u32(&b, 3);
    put_u64(&b, 0); /* tensors */
    put_u64(&b, n_kv);
    put_key(&b, "tokenizer.ggml.model", 8);
    put_str(&b, model.s ? model.s : "", model.n);
    put_key(&b, "tokenizer.ggml.tokens", 9);
    put_u32(&b, 8);
    put_u64(&b, n_tok);
    for (size_t i = 0; i < n_tok; i++)
        put_str(&b, tokens[i].s + 1, tokens[i].n - 1);
    if (flags & 1) {
        put_key(&b, "tokenizer.ggml.token_type", 9);
        put_u32(&b, (flags & 128) ? 4 : 5);
        put_u64(&b, n_tok);
        for (size_t i = 0; i < n_tok; i++)
            put_u32(&b, (uint32_t)((uint8_t)tokens[i].s[0] % 8));
    }
    if (flags & 2) {
        put_key(&b, "tokenizer.ggml.merges", 9);
        put_u32(&b, 8);
        put_u64(&b, n_merge);
        for (size_t i = 0; i < n_merge; i++)
            put_str(&b, merges[i].s, merges[i].n);
    }
    if (flags & 4) {
        put_key(&b, "tokenizer.ggml.pre", 8);
        put_str(&b, pre.s ? pre.s : "", pre.n);
    }
    if (flags & 8) {
        put_key(&b, "tokenizer.ggml.bos_token_id", 5); /* i32: negative ids are possible */
        put_u32(&b, (uint32_t)(int32_t)bos);
    }
    if (flags & 16) {
        put_key(&b, "tokenizer.ggml.eos_token_id", 4);
        put_u32(&b, (uint32_t)eos);
    }
    if (flags & 32) {
        put_key(&b, "tokenizer.ggml.add_bos_token", 7);
        uint8_t one = 1;
        put(&b, &one, 1);
    }
    fuzz_write(path, b.p, b.n);
    free(b.p);

    wh_gguf g;
    wh_error err;
    memset(&err, 0, sizeof err);
    int rc = wh_gguf_open(&g, path, &err);
    if (rc != WH_OK) { /* the writer above makes valid containers only */
        fprintf(stderr, "fuzz_gguf_vocab: %s\n", err.msg);
        abort();
    }
    wh_tokenizer *t = NULL;
    rc = wh_tokenizer_load_gguf(&g, &t, &err);
    wh_gguf_close(&g);
    if (rc != WH_OK) {
        fuzz_check_error(rc, &err);
        return 0;
    }
    static const char text[] = "Hello, world! <think>x</think> 12345 \xc3\xa9t\xc3\xa9\n\xff";
    int32_t *ids = NULL;
    size_t n_ids = 0;
    rc = wh_tokenizer_encode(t, text, sizeof text - 1, WH_TOK_ADD_SPECIAL | WH_TOK_PARSE_SPECIAL,
                             &ids, &n_ids, &err);
    if (rc == WH_OK) {
        char *out = NULL;
        size_t len = 0;
        rc = wh_tokenizer_decode(t, ids, n_ids, 0, &out, &len, &err);
        wh_free(out);
        wh_free(ids);
    }
    if (rc != WH_OK)
        fuzz_check_error(rc, &err);
    wh_tokenizer_free(t);
    return 0;
}
