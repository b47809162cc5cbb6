/*
 * test_bad_input.c — wh_model_load against every class of bad model input:
 * truncated files (with a sweep over prefixes of real GGUF and safetensors
 * fixtures, and over every prefix of small complete models), wrong magic, lengths beyond the file,
 * tensor data out of bounds or overlapping, dimensions whose product overflows, unknown dtypes,
 * missing tensors, shapes that disagree with the config, absurd configs, shard names that escape
 * the model folder, and terabyte-sized declared lengths in tiny files. Each must fail with a
 * negative wh_status and a message naming the file and the field, tensor or byte offset at fault —
 * and without a crash, a leak or a huge allocation (run it under `make SAN=1`). Then a valid model
 * still loads and runs in the same process, and loads survive an allocation failure at every point
 * (wh_alloc_fail_at).
 *
 * Bad files are written into a fresh mkdtemp folder by the small GGUF and
 * safetensors writers below, or copied from tests/fixtures with one edit.
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "whale.h"

#define FX "tests/fixtures/"
#define SEEDS "tests/fuzz/corpus/" /* small complete models among the fuzz seeds */
#define TB ((uint64_t)1 << 40)

static char g_tmp[64]; /* the temp folder, "/tmp/whale-bad-XXXXXX" */

/* ---- small helpers ---- */

/* g_tmp/name in one of 64 rotating buffers (no test holds more at once). */
static char *tmp_path(const char *name)
{
    static char bufs[64][PATH_MAX];
    static int k;
    char *p = bufs[k++ & 63];
    snprintf(p, PATH_MAX, "%s/%s", g_tmp, name);
    return p;
}

/* Replaces path (never writes through a link into the fixtures). */
static void write_bytes(const char *path, const void *data, size_t n)
{
    unlink(path);
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        fail_msg("cannot create %s: %s", path, strerror(errno));
    assert_int_equal(n ? fwrite(data, 1, n, f) : 0, n);
    assert_int_equal(fclose(f), 0);
}

static uint8_t *read_bytes(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s: %s", path, strerror(errno));
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    assert_true(size >= 0);
    rewind(f);
    uint8_t *p = malloc((size_t)size + 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    p[size] = '\0';
    *n = (size_t)size;
    return p;
}

static void make_dir(const char *path)
{
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        fail_msg("mkdir %s: %s", path, strerror(errno));
}

/* dst -> absolute path of the fixture file src (the loader follows links). */
static void link_fixture(const char *src, const char *dst)
{
    char abs[PATH_MAX];
    assert_non_null(realpath(src, abs));
    unlink(dst);
    if (symlink(abs, dst) != 0)
        fail_msg("symlink %s: %s", dst, strerror(errno));
}

/*
 * Loads path and expects failure: rc < 0 (and == want unless want is 0), no
 * model, and every NULL-terminated substring present in the message.
 */
static void expect_fail_v(const char *path, int want, va_list ap)
{
    wh_model *m = (wh_model *)1;
    wh_error err;
    memset(&err, 0, sizeof err);
    int rc = wh_model_load(path, &m, &err);
    if (rc == WH_OK) {
        wh_model_free(m);
        fail_msg("%s: loaded, but it is bad input", path);
    }
    assert_null(m);
    if (rc >= 0 || err.code != rc)
        fail_msg("%s: rc %d, err.code %d (%s)", path, rc, err.code, err.msg);
    if (want != 0 && rc != want)
        fail_msg("%s: expected %s, got %s: %s", path, wh_status_name(want), wh_status_name(rc),
                 err.msg);
    for (const char *s = va_arg(ap, const char *); s != NULL; s = va_arg(ap, const char *))
        if (strstr(err.msg, s) == NULL)
            fail_msg("%s: message lacks \"%s\": %s", path, s, err.msg);
}

static void expect_fail(const char *path, int want, ...)
{
    va_list ap;
    va_start(ap, want);
    expect_fail_v(path, want, ap);
    va_end(ap);
}

/* The same, and no more than a few allocations on the way (no huge buffer sized
 * from the declared length: that would abort under ASan, or fail as NOMEM). */
static void expect_fail_cheap(const char *path, int want, ...)
{
    wh_alloc_fail_at(0); /* disarmed; resets the count */
    va_list ap;
    va_start(ap, want);
    expect_fail_v(path, want, ap);
    va_end(ap);
    long n = wh_alloc_count();
    if (n > 64)
        fail_msg("%s: %ld allocations to reject a tiny file", path, n);
}

/* ---- a growing byte buffer ---- */

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void b_put(buf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->n + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        assert_non_null(b->p);
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void b_u32(buf *b, uint32_t v)
{
    b_put(b, &v, 4);
}

static void b_u64(buf *b, uint64_t v)
{
    b_put(b, &v, 8);
}

static void b_zeros(buf *b, size_t n)
{
    static const uint8_t z[256];
    while (n > 0) {
        size_t k = n < sizeof z ? n : sizeof z;
        b_put(b, z, k);
        n -= k;
    }
}

static void b_save(buf *b, const char *path)
{
    write_bytes(path, b->p, b->n);
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* ---- a tiny GGUF v3 writer ---- */

enum { G_U32 = 4, G_F32 = 6, G_STRING = 8, G_ARRAY = 9, G_U64 = 10 };

static void g_str(buf *b, const char *s)
{
    b_u64(b, strlen(s));
    b_put(b, s, strlen(s));
}

static void g_header(buf *b, uint64_t n_tensors, uint64_t n_kv)
{
    b_put(b, "GGUF", 4);
    b_u32(b, 3);
    b_u64(b, n_tensors);
    b_u64(b, n_kv);
}

static void g_kv_u32(buf *b, const char *key, uint32_t v)
{
    g_str(b, key);
    b_u32(b, G_U32);
    b_u32(b, v);
}

static void g_kv_str(buf *b, const char *key, const char *v)
{
    g_str(b, key);
    b_u32(b, G_STRING);
    g_str(b, v);
}

/* The metadata of a minimal qwen2 model (hidden 8, 2 heads, 1 layer): enough
 * for the config mapping, so errors further on are reached. */
#define G_BASE_KV 5
static void g_base_kv(buf *b)
{
    g_kv_str(b, "general.architecture", "qwen2");
    g_kv_u32(b, "qwen2.block_count", 1);
    g_kv_u32(b, "qwen2.embedding_length", 8);
    g_kv_u32(b, "qwen2.attention.head_count", 2);
    g_kv_u32(b, "qwen2.feed_forward_length", 16);
}

static void g_tensor(buf *b, const char *name, uint32_t n_dims, const uint64_t *ne,
                     uint32_t ggml_type, uint64_t offset)
{
    g_str(b, name);
    b_u32(b, n_dims);
    for (uint32_t d = 0; d < n_dims; d++)
        b_u64(b, ne[d]);
    b_u32(b, ggml_type);
    b_u64(b, offset);
}

/* Pads to the default alignment (32) and appends n bytes of tensor data. */
static void g_data(buf *b, size_t n)
{
    b_zeros(b, (32 - b->n % 32) % 32);
    b_zeros(b, n);
}

static const uint64_t NE_EMBD[2] = {8, 4}; /* token_embd: vocab 4 x hidden 8, F32: 128 bytes */
static const uint64_t NE_NORM[1] = {8};

/* ---- a tiny safetensors writer: u64 header length, JSON, data ---- */

static void st_write(const char *path, const char *json, size_t data_bytes)
{
    buf b = {0};
    b_u64(&b, strlen(json));
    b_put(&b, json, strlen(json));
    b_zeros(&b, data_bytes);
    b_save(&b, path);
}

/* A model folder tmp/name with the qwen2 fixture's config.json and the given
 * safetensors header + data as model.safetensors; returns the folder. */
static const char *st_model(const char *name, const char *json, size_t data_bytes)
{
    char *dir = tmp_path(name);
    make_dir(dir);
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/config.json", dir);
    link_fixture(FX "qwen2/config.json", p);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    st_write(p, json, data_bytes);
    return dir;
}

/* ---- fixture copies with config edits ---- */

/* Replaces the value of "key" in JSON text (a number, string, null or literal). */
static char *json_set(const char *text, const char *key, const char *value)
{
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *k = strstr(text, pat);
    if (k == NULL)
        fail_msg("config has no %s", key);
    const char *v = k + strlen(pat);
    while (*v == ' ')
        v++;
    const char *e = v;
    while (*e != ',' && *e != '\n' && *e != '}' && *e != '\0')
        e++;
    size_t n = (size_t)(v - text) + strlen(value) + strlen(e) + 1;
    char *out = malloc(n);
    assert_non_null(out);
    snprintf(out, n, "%.*s%s%s", (int)(v - text), text, value, e);
    return out;
}

/* Makes tmp/name: the fixture folder's weight files linked, config.json with
 * the (key, value) edits (NULL-terminated pairs). Returns the folder. */
static const char *edited_model(const char *name, const char *fixture, ...)
{
    static const char *weights[] = {"model.safetensors", "model.safetensors.index.json",
                                    "model-00001-of-00002.safetensors",
                                    "model-00002-of-00002.safetensors"};
    char *dir = tmp_path(name);
    make_dir(dir);
    char src[PATH_MAX], dst[PATH_MAX];
    for (size_t i = 0; i < sizeof weights / sizeof weights[0]; i++) {
        snprintf(src, sizeof src, FX "%s/%s", fixture, weights[i]);
        snprintf(dst, sizeof dst, "%s/%s", dir, weights[i]);
        if (access(src, R_OK) == 0)
            link_fixture(src, dst);
    }
    snprintf(src, sizeof src, FX "%s/config.json", fixture);
    size_t n;
    char *text = (char *)read_bytes(src, &n);
    va_list ap;
    va_start(ap, fixture);
    for (const char *k = va_arg(ap, const char *); k != NULL; k = va_arg(ap, const char *)) {
        char *t = json_set(text, k, va_arg(ap, const char *));
        free(text);
        text = t;
    }
    va_end(ap);
    snprintf(dst, sizeof dst, "%s/config.json", dir);
    write_bytes(dst, text, strlen(text));
    free(text);
    return dir;
}

/* ---- setup ---- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(g_tmp, sizeof g_tmp, "/tmp/whale-bad-XXXXXX");
    return mkdtemp(g_tmp) == NULL ? -1 : 0;
}

static int group_teardown(void **state)
{
    (void)state;
    wh_alloc_fail_at(0);
    return nftw(g_tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- 0. the writers make files that parse ---- */

static void test_writers_sanity(void **state)
{
    (void)state;
    /* Metadata + token_embd only: parses, maps the config, binds the embedding,
     * then stops at the first tensor it lacks. */
    buf b = {0};
    g_header(&b, 1, G_BASE_KV);
    g_base_kv(&b);
    g_tensor(&b, "token_embd.weight", 2, NE_EMBD, 0, 0);
    g_data(&b, 128);
    const char *p = tmp_path("sane.gguf");
    b_save(&b, p);
    expect_fail(p, WH_E_MISSING, p, "output_norm.weight", NULL);

    const char *d = st_model(
        "sane-st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16);
    expect_fail(d, WH_E_MISSING, d, "model.embed_tokens.weight", NULL);
}

/* ---- 1. truncated files ---- */

/* Every prefix below limit, then every stride-th up to the full size, of src
 * copied to dst, is rejected with a message naming dst and a byte offset. */
static void sweep_prefixes(const char *src, const char *dst, const char *load_path, size_t limit,
                           size_t stride)
{
    size_t n;
    uint8_t *data = read_bytes(src, &n);
    write_bytes(dst, data, n);
    free(data);
    /* Going down with truncate(): one file, no rewrites. */
    int count = 0;
    for (size_t len = n; len-- > 0;) {
        if (len > limit && len != n - 1 && (len - limit) % stride != 0)
            continue;
        assert_int_equal(truncate(dst, (off_t)len), 0);
        wh_model *m = NULL;
        wh_error err;
        memset(&err, 0, sizeof err);
        int rc = wh_model_load(load_path, &m, &err);
        if (rc == WH_OK) {
            wh_model_free(m);
            fail_msg("%s cut to %zu of %zu bytes loaded", src, len, n);
        }
        if (rc >= 0 || m != NULL || strstr(err.msg, dst) == NULL || strstr(err.msg, "byte") == NULL)
            fail_msg("%s cut to %zu bytes: rc %d: %s", src, len, rc, err.msg);
        count++;
    }
    assert_true(count > (int)limit);
}

static void test_truncated_gguf(void **state)
{
    (void)state;
    const char *p = tmp_path("trunc.gguf");
    sweep_prefixes(FX "qwen2-f16.gguf", p, p, 4096, 1021);
    /* one clear message at a known place: inside the tensor count */
    size_t n;
    uint8_t *data = read_bytes(FX "qwen2-f16.gguf", &n);
    write_bytes(p, data, 12);
    free(data);
    expect_fail(p, WH_E_FORMAT, p, "truncated at byte 8", "tensor count", NULL);
}

static void test_truncated_safetensors(void **state)
{
    (void)state;
    char *dir = tmp_path("trunc-st");
    make_dir(dir);
    char cfg[PATH_MAX], st[PATH_MAX];
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    snprintf(st, sizeof st, "%s/model.safetensors", dir);
    link_fixture(FX "qwen2/config.json", cfg);
    sweep_prefixes(FX "qwen2/model.safetensors", st, dir, 4096, 1021);
    write_bytes(st, "\x10\0\0", 3);
    expect_fail(dir, WH_E_FORMAT, st, "truncated", "8-byte header length", NULL);
}

/* Every prefix, not a sample, of small complete models: the tiny llama and qwen2 GGUFs of
 * the fuzz seeds (about 5 KB each, tokenizer included) and a tiny qwen2 safetensors model
 * written here. Each full file loads; each of its prefixes is rejected. */
static void sweep_all_prefixes(const char *src, const char *dst, const char *load_path)
{
    size_t n;
    free(read_bytes(src, &n));
    assert_true(n > 0 && n < 65536);
    sweep_prefixes(src, dst, load_path, n - 1, 1);
}

/* The tensors of a qwen2 model with hidden 8, 2 heads (1 KV head), FFN 16, vocab 32, 1 layer,
 * tied embeddings: HF names, F32, contiguous. */
static const struct {
    const char *name;
    int rows, cols; /* cols 0: a vector */
} TINY_QWEN2[] = {
    {"model.embed_tokens.weight", 32, 8},
    {"model.norm.weight", 8, 0},
    {"model.layers.0.input_layernorm.weight", 8, 0},
    {"model.layers.0.post_attention_layernorm.weight", 8, 0},
    {"model.layers.0.self_attn.q_proj.weight", 8, 8},
    {"model.layers.0.self_attn.q_proj.bias", 8, 0},
    {"model.layers.0.self_attn.k_proj.weight", 4, 8},
    {"model.layers.0.self_attn.k_proj.bias", 4, 0},
    {"model.layers.0.self_attn.v_proj.weight", 4, 8},
    {"model.layers.0.self_attn.v_proj.bias", 4, 0},
    {"model.layers.0.self_attn.o_proj.weight", 8, 8},
    {"model.layers.0.mlp.gate_proj.weight", 16, 8},
    {"model.layers.0.mlp.up_proj.weight", 16, 8},
    {"model.layers.0.mlp.down_proj.weight", 8, 16},
};

/* pad: pad the header with spaces to a multiple of 8 bytes, as safetensors writers do;
 * without it the F32 data is misaligned. */
static const char *tiny_qwen2_st(const char *name, int pad)
{
    char *dir = tmp_path(name);
    make_dir(dir);
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/config.json", dir);
    static const char cfg[] =
        "{\"architectures\": [\"Qwen2ForCausalLM\"], \"vocab_size\": 32, \"hidden_size\": 8,"
        " \"intermediate_size\": 16, \"num_hidden_layers\": 1, \"num_attention_heads\": 2,"
        " \"num_key_value_heads\": 1, \"max_position_embeddings\": 64,"
        " \"tie_word_embeddings\": true, \"rms_norm_eps\": 1e-6}";
    write_bytes(p, cfg, sizeof cfg - 1);
    char json[4096];
    size_t len = 0, off = 0;
    len += (size_t)snprintf(json + len, sizeof json - len, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (size_t i = 0; i < sizeof TINY_QWEN2 / sizeof TINY_QWEN2[0]; i++) {
        size_t bytes =
            (size_t)TINY_QWEN2[i].rows * (TINY_QWEN2[i].cols ? TINY_QWEN2[i].cols : 1) * 4;
        if (TINY_QWEN2[i].cols)
            len += (size_t)snprintf(json + len, sizeof json - len,
                                    ",\"%s\":{\"dtype\":\"F32\",\"shape\":[%d,%d],"
                                    "\"data_offsets\":[%zu,%zu]}",
                                    TINY_QWEN2[i].name, TINY_QWEN2[i].rows, TINY_QWEN2[i].cols, off,
                                    off + bytes);
        else
            len += (size_t)snprintf(json + len, sizeof json - len,
                                    ",\"%s\":{\"dtype\":\"F32\",\"shape\":[%d],"
                                    "\"data_offsets\":[%zu,%zu]}",
                                    TINY_QWEN2[i].name, TINY_QWEN2[i].rows, off, off + bytes);
        off += bytes;
    }
    assert_true(len + 10 < sizeof json);
    json[len++] = '}';
    while (pad && (len + 8) % 8 != 0)
        json[len++] = ' ';
    if (!pad && (len + 8) % 4 == 0)
        json[len++] = ' '; /* make sure it is misaligned */
    json[len] = '\0';
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    st_write(p, json, off);
    return dir;
}

/* Loads path and evaluates three tokens (the tiny models have 32 ids). */
static void load_tiny(const char *path)
{
    wh_model *m = NULL;
    wh_error err;
    if (wh_model_load(path, &m, &err) != WH_OK)
        fail_msg("%s: %s", path, err.msg);
    wh_session_opts o = {.n_ctx = 8, .n_threads = 1};
    wh_session *s = NULL;
    if (wh_session_new(m, &o, &s, &err) != WH_OK)
        fail_msg("%s: %s", path, err.msg);
    const int32_t toks[3] = {0, 17, 31};
    if (wh_session_eval(s, toks, 3, NULL, 0, &err) != WH_OK)
        fail_msg("%s: eval: %s", path, err.msg);
    wh_session_free(s);
    wh_model_free(m);
}

static void test_truncated_every_prefix(void **state)
{
    (void)state;
    const char *p = tmp_path("every.gguf");
    load_tiny(SEEDS "fuzz_gguf/tiny-llama.gguf");
    sweep_all_prefixes(SEEDS "fuzz_gguf/tiny-llama.gguf", p, p);
    load_tiny(SEEDS "fuzz_gguf/tiny-qwen2.gguf");
    sweep_all_prefixes(SEEDS "fuzz_gguf/tiny-qwen2.gguf", p, p);

    const char *dir = tiny_qwen2_st("tiny-qwen2", 1);
    load_tiny(dir);
    char st[PATH_MAX], copy[PATH_MAX];
    snprintf(st, sizeof st, "%s/model.safetensors", dir);
    snprintf(copy, sizeof copy, "%s/full.bin", g_tmp);
    size_t n;
    uint8_t *data = read_bytes(st, &n);
    write_bytes(copy, data, n);
    free(data);
    sweep_all_prefixes(copy, st, dir);

    /* unpadded header: the F32 matrices are misaligned for the kernels, a clear error */
    dir = tiny_qwen2_st("tiny-qwen2-unaligned", 0);
    snprintf(st, sizeof st, "%s/model.safetensors", dir);
    expect_fail(dir, WH_E_UNSUPPORTED, st, "model.embed_tokens.weight: data at byte",
                "is not aligned to 4 bytes, as F32 needs", NULL);
}

/* ---- 2. wrong magic, bad version ---- */

static void test_bad_magic(void **state)
{
    (void)state;
    size_t n;
    uint8_t *data = read_bytes(FX "qwen2.gguf", &n);
    memcpy(data, "GGUX", 4);
    const char *p = tmp_path("magic.gguf");
    write_bytes(p, data, n);
    expect_fail(p, WH_E_FORMAT, p, "bad magic at byte 0", NULL);
    memcpy(data, "GGUF", 4);
    data[4] = 99;
    write_bytes(p, data, n);
    expect_fail(p, WH_E_UNSUPPORTED, p, "version 99 at byte 4", NULL);
    free(data);

    /* safetensors whose header is not a JSON object / not valid JSON */
    const char *d = st_model("magic-st", "[1,2,3]", 0);
    expect_fail(d, WH_E_FORMAT, "model.safetensors", "byte 8", NULL);
    d = st_model("json-st", "{\"a\":{\"dtype\":\"F32\",", 0);
    expect_fail(d, WH_E_FORMAT, "model.safetensors", "invalid JSON at byte", NULL);
}

/* ---- 3. lengths beyond the file ---- */

static void test_length_beyond_file(void **state)
{
    (void)state;
    const char *p = tmp_path("len.gguf");
    buf b = {0};
    /* a metadata key 1000 bytes long in a 40-byte file */
    g_header(&b, 0, 1);
    b_u64(&b, 1000);
    b_put(&b, "general", 7);
    b_save(&b, p);
    expect_fail(p, WH_E_FORMAT, p, "metadata entry 0 at byte 24", "beyond the file end", NULL);

    /* a string value longer than the file */
    g_header(&b, 0, G_BASE_KV + 1);
    g_base_kv(&b);
    g_str(&b, "general.name");
    b_u32(&b, G_STRING);
    b_u64(&b, 1000);
    b_put(&b, "x", 1);
    b_save(&b, p);
    expect_fail(p, WH_E_FORMAT, p, "metadata \"general.name\"", "declares a length of 1000", NULL);

    /* an F32 array longer than the file */
    g_header(&b, 0, G_BASE_KV + 1);
    g_base_kv(&b);
    g_str(&b, "tokenizer.ggml.scores");
    b_u32(&b, G_ARRAY);
    b_u32(&b, G_F32);
    b_u64(&b, 1000);
    b_zeros(&b, 16);
    b_save(&b, p);
    expect_fail(p, WH_E_FORMAT, p, "metadata \"tokenizer.ggml.scores\"", "needs 4000 bytes", NULL);

    /* safetensors: header length one past the file */
    char json[] = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
    const char *d = st_model("hlen-st", json, 4);
    char st[PATH_MAX];
    snprintf(st, sizeof st, "%s/model.safetensors", d);
    buf s = {0};
    b_u64(&s, strlen(json) + 5);
    b_put(&s, json, strlen(json));
    b_zeros(&s, 4);
    b_save(&s, st);
    char want[64];
    snprintf(want, sizeof want, "header length %zu at byte 0", strlen(json) + 5);
    expect_fail(d, WH_E_FORMAT, st, want, "runs beyond the file", NULL);
}

/* ---- 4. tensor data out of bounds, overlapping tensors ---- */

static void test_data_out_of_bounds(void **state)
{
    (void)state;
    const char *p = tmp_path("oob.gguf");
    buf b = {0};
    g_header(&b, 2, G_BASE_KV);
    g_base_kv(&b);
    g_tensor(&b, "token_embd.weight", 2, NE_EMBD, 0, 0);
    g_tensor(&b, "output_norm.weight", 1, NE_NORM, 0, 128);
    g_data(&b, 128 + 16); /* output_norm needs 32 */
    b_save(&b, p);
    expect_fail(p, WH_E_FORMAT, p, "tensor output_norm.weight", "beyond the end of the file", NULL);

    g_header(&b, 1, G_BASE_KV);
    g_base_kv(&b);
    g_tensor(&b, "token_embd.weight", 2, NE_EMBD, 0, (uint64_t)1 << 62);
    g_data(&b, 128);
    b_save(&b, p);
    expect_fail(p, WH_E_FORMAT, p, "tensor token_embd.weight", "data at byte", NULL);

    /* offset + size that wraps around 2^64 */
    g_header(&b, 1, G_BASE_KV);
    g_base_kv(&b);
    g_tensor(&b, "token_embd.weight", 2, NE_EMBD, 0, UINT64_MAX - 31);
    g_data(&b, 128);
    b_save(&b, p);
    expect_fail(p, WH_E_FORMAT, p, "tensor token_embd.weight", NULL);

    const char *d = st_model(
        "oob-st", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[16,32]}}", 24);
    expect_fail(d, WH_E_FORMAT, "model.safetensors", "tensor w", "data_offsets [16, 32]",
                "beyond the data section", NULL);
    d = st_model(
        "oob2-st",
        "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,18446744073709551615]}}",
        16);
    expect_fail(d, WH_E_FORMAT, "model.safetensors", "tensor w", "data_offsets must be", NULL);
    /* size that disagrees with shape x dtype */
    d = st_model("size-st", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,8]}}",
                 16);
    expect_fail(d, WH_E_FORMAT, "model.safetensors", "tensor w at byte", "holds 8 bytes", NULL);
}

static void test_overlap(void **state)
{
    (void)state;
    const char *p = tmp_path("overlap.gguf");
    buf b = {0};
    g_header(&b, 2, G_BASE_KV);
    g_base_kv(&b);
    g_tensor(&b, "token_embd.weight", 2, NE_EMBD, 0, 0);
    g_tensor(&b, "output_norm.weight", 1, NE_NORM, 0, 96);
    g_data(&b, 128);
    b_save(&b, p);
    expect_fail(p, WH_E_FORMAT, p, "token_embd.weight", "output_norm.weight", "overlap", NULL);

    /* the same, with an empty tensor sorted between the two */
    uint64_t zero = 0;
    g_header(&b, 3, G_BASE_KV);
    g_base_kv(&b);
    g_tensor(&b, "token_embd.weight", 2, NE_EMBD, 0, 0);
    g_tensor(&b, "empty", 1, &zero, 0, 32);
    g_tensor(&b, "output_norm.weight", 1, NE_NORM, 0, 64);
    g_data(&b, 128);
    b_save(&b, p);
    expect_fail(p, WH_E_FORMAT, p, "token_embd.weight", "output_norm.weight", "overlap", NULL);

    const char *d = st_model("overlap-st",
                             "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                             "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}",
                             24);
    expect_fail(d, WH_E_FORMAT, "model.safetensors", "tensors a (bytes", "and b", "overlap", NULL);
    d = st_model("overlap2-st",
                 "{\"a\":{\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[0,32]},"
                 "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}",
                 32);
    expect_fail(d, WH_E_FORMAT, "model.safetensors", "tensors a (bytes", "and b", "overlap", NULL);
}

/* ---- 5. dimensions whose product overflows ---- */

static void test_dims_overflow(void **state)
{
    (void)state;
    const char *p = tmp_path("dims.gguf");
    static const uint64_t shapes[][4] = {
        {(uint64_t)1 << 62, 4, 1, 1},                                    /* product wraps 2^64 */
        {(uint64_t)1 << 63, 1, 1, 1},                                    /* negative as int64 */
        {UINT64_MAX, 1, 1, 1},        {1u << 20, 1u << 20, 1u << 20, 1}, /* 2^60 elements */
        {0, (uint64_t)1 << 63, 1, 1}, /* empty, but a dimension beyond int64 */
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        buf b = {0};
        g_header(&b, 1, G_BASE_KV);
        g_base_kv(&b);
        g_tensor(&b, "token_embd.weight", 4, shapes[i], 0, 0);
        g_data(&b, 128);
        b_save(&b, p);
        expect_fail(p, WH_E_FORMAT, p, "tensor token_embd.weight", "at byte", NULL);
    }
    static const char *st_shapes[] = {
        "[9007199254740992,9007199254740992]", /* 2^53 x 2^53 */
        "[4611686018427387904,4]",             /* 2^62 x 4 */
        "[18446744073709551615]",              /* beyond int64 */
        "[-4]",
        "[1.5]",
    };
    for (size_t i = 0; i < sizeof st_shapes / sizeof st_shapes[0]; i++) {
        char json[256];
        snprintf(json, sizeof json,
                 "{\"w\":{\"dtype\":\"F32\",\"shape\":%s,\"data_offsets\":[0,16]}}", st_shapes[i]);
        const char *d = st_model("dims-st", json, 16);
        expect_fail(d, WH_E_FORMAT, "model.safetensors", "tensor w", "shape", NULL);
    }
    /* more than 4 dimensions */
    uint64_t ne5[5] = {1, 1, 1, 1, 1};
    buf b = {0};
    g_header(&b, 1, G_BASE_KV);
    g_base_kv(&b);
    g_tensor(&b, "token_embd.weight", 5, ne5, 0, 0);
    g_data(&b, 128);
    b_save(&b, p);
    expect_fail(p, WH_E_FORMAT, p, "tensor token_embd.weight", "5 dimensions at byte", NULL);
}

/* ---- 6. unknown dtype ---- */

static void test_unknown_dtype(void **state)
{
    (void)state;
    const char *p = tmp_path("dtype.gguf");
    buf b = {0};
    g_header(&b, 1, G_BASE_KV);
    g_base_kv(&b);
    g_tensor(&b, "token_embd.weight", 2, NE_EMBD, 99, 0);
    g_data(&b, 128);
    b_save(&b, p);
    expect_fail(p, WH_E_UNSUPPORTED, p, "tensor token_embd.weight", "ggml type 99 at byte", NULL);

    /* an unknown metadata value type */
    g_header(&b, 0, 1);
    g_str(&b, "general.x");
    b_u32(&b, 77);
    b_u32(&b, 0);
    b_save(&b, p);
    expect_fail(p, WH_E_FORMAT, p, "metadata \"general.x\"", "unknown value type 77 at byte 41",
                NULL);

    const char *d = st_model(
        "dtype-st", "{\"w\":{\"dtype\":\"X9\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16);
    expect_fail(d, WH_E_UNSUPPORTED, "model.safetensors", "tensor w", "unknown dtype \"X9\"", NULL);

    /* a known dtype that cannot be a weight, where a weight is expected */
    d = st_model("i32-st",
                 "{\"model.embed_tokens.weight\":{\"dtype\":\"I32\",\"shape\":[256,64],"
                 "\"data_offsets\":[0,65536]}}",
                 65536);
    expect_fail(d, WH_E_UNSUPPORTED, "model.safetensors", "model.embed_tokens.weight", "I32", NULL);
}

/* ---- 7. missing tensor, 8. shape that disagrees with the config ---- */

static void test_missing_tensor(void **state)
{
    (void)state;
    const char *d = edited_model("layers3", "qwen2", "num_hidden_layers", "3", NULL);
    expect_fail(d, WH_E_MISSING, d, "tensor model.layers.2.", "missing", NULL);
    /* untied head without lm_head.weight */
    d = edited_model("untied", "qwen2", "tie_word_embeddings", "false", NULL);
    expect_fail(d, WH_E_MISSING, d, "tensor lm_head.weight is missing", NULL);
    /* a sharded model whose index names a tensor its shard lacks */
    d = edited_model("shard-missing", "dsv3", NULL);
    char idx[PATH_MAX];
    snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", d);
    const char *text = "{\"weight_map\":{\"lm_head.weight\":\"model-00002-of-00002.safetensors\","
                       "\"model.ghost.weight\":\"model-00001-of-00002.safetensors\"}}";
    unlink(idx);
    write_bytes(idx, text, strlen(text));
    expect_fail(d, WH_E_MISSING, idx, "tensor model.ghost.weight", NULL);
}

static void test_shape_vs_config(void **state)
{
    (void)state;
    const char *d = edited_model("inter128", "qwen2", "intermediate_size", "128", NULL);
    expect_fail(d, WH_E_FORMAT, "model.safetensors", "model.layers.0.mlp.gate_proj.weight",
                "[160, 64]", "config implies [128, 64]", NULL);
    d = edited_model("vocab300", "qwen2", "vocab_size", "300", NULL);
    expect_fail(d, WH_E_FORMAT, "model.safetensors", "model.embed_tokens.weight", "[300, 64]",
                NULL);
    d = edited_model("kvlora", "dsv3", "kv_lora_rank", "16", NULL);
    expect_fail(d, WH_E_FORMAT, "model-0000", "kv_a_proj_with_mqa.weight", "config implies", NULL);
}

/* ---- 9. absurd configs ---- */

static void test_absurd_config(void **state)
{
    (void)state;
    static const struct {
        const char *fixture, *key, *value, *field;
    } cases[] = {
        {"qwen2", "num_hidden_layers", "0", "num_hidden_layers = 0"},
        {"qwen2", "num_key_value_heads", "3", "num_key_value_heads = 3"},
        {"qwen2", "hidden_size", "0", "hidden_size = 0"},
        {"qwen2", "num_attention_heads", "0", "num_attention_heads = 0"},
        {"qwen2", "intermediate_size", "0", "intermediate_size = 0"},
        {"qwen2", "rms_norm_eps", "-1", "rms_norm_eps"},
        {"qwen2", "vocab_size", "-1", "vocab_size = -1"},
        {"qwen2", "max_position_embeddings", "0", "max_position_embeddings"},
        {"qwen2", "hidden_size", "\"64\"", "hidden_size must be an integer"},
        {"qwen2", "num_hidden_layers", "99999999999", "num_hidden_layers = 99999999999"},
        {"dsv3", "qk_rope_head_dim", "7", "qk_rope_head_dim = 7"}, /* before any shape check */
        {"dsv3", "n_group", "3", "n_group = 3 does not divide n_routed_experts = 16"},
        {"dsv3", "num_experts_per_tok", "17", "num_experts_per_tok = 17"},
        {"dsv3", "first_k_dense_replace", "9", "first_k_dense_replace = 9"},
        {"dsv3", "topk_group", "5", "topk_group = 5"},
        {"dsv3", "num_nextn_predict_layers", "1000000000", "num_nextn_predict_layers"},
        {"dsv3", "moe_intermediate_size", "1073741824", "moe_intermediate_size"},
        {"dsv3", "kv_lora_rank", "0", "kv_lora_rank = 0"},
        {"dsv3", "scoring_func", "\"tanh\"", "scoring_func \"tanh\""},
        /* the name is quoted from the parsed JSON: once read after it was freed (fuzz_config) */
        {"qwen2", "architectures", "[\"MambaForCausalLM\"], \"was\": [",
         "\"MambaForCausalLM\" is not supported"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "absurd%zu", i);
        const char *d = edited_model(name, cases[i].fixture, cases[i].key, cases[i].value, NULL);
        char cfg[PATH_MAX];
        snprintf(cfg, sizeof cfg, "%s/config.json", d);
        expect_fail(d, 0, cfg, cases[i].field, NULL);
    }
    /* Individually plausible sizes whose parameter count overflows 64 bits. */
    const char *d = edited_model("huge", "dsv3", "hidden_size", "262144", "moe_intermediate_size",
                                 "4194304", "n_routed_experts", "4096", "num_hidden_layers", "4096",
                                 "n_shared_experts", "64", NULL);
    expect_fail(d, WH_E_INVALID, "config.json", "overflow", NULL);
}

/* ---- 10. shard names that escape the model folder ---- */

static void test_shard_escape(void **state)
{
    (void)state;
    static const char *names[] = {
        "../x.safetensors",          "/etc/passwd", "a/../../x.safetensors", "..", "",
        "sub\\\\..\\\\x.safetensors"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *d = edited_model("escape", "dsv3", NULL);
        char idx[PATH_MAX], text[512];
        snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", d);
        snprintf(text, sizeof text, "{\"metadata\":{},\"weight_map\":{\"lm_head.weight\":\"%s\"}}",
                 names[i]);
        unlink(idx);
        write_bytes(idx, text, strlen(text));
        expect_fail(d, WH_E_FORMAT, idx, "weight_map.lm_head.weight", "file name", NULL);
    }
}

/* ---- 11. terabyte lengths in tiny files ---- */

static void test_terabyte_lengths(void **state)
{
    (void)state;
    const char *p = tmp_path("tb.gguf");
    buf b = {0};
    g_header(&b, 0, 1); /* key length 2^40 */
    b_u64(&b, TB);
    b_zeros(&b, 16);
    b_save(&b, p);
    expect_fail_cheap(p, WH_E_FORMAT, p, "metadata entry 0", "1099511627776", NULL);

    g_header(&b, 0, 1); /* string value length 2^40 */
    g_str(&b, "general.name");
    b_u32(&b, G_STRING);
    b_u64(&b, TB);
    b_zeros(&b, 16);
    b_save(&b, p);
    expect_fail_cheap(p, WH_E_FORMAT, p, "metadata \"general.name\"", "1099511627776", NULL);

    g_header(&b, 0, 1); /* 2^40 strings */
    g_str(&b, "tokenizer.ggml.tokens");
    b_u32(&b, G_ARRAY);
    b_u32(&b, G_STRING);
    b_u64(&b, TB);
    b_zeros(&b, 16);
    b_save(&b, p);
    expect_fail_cheap(p, WH_E_FORMAT, p, "metadata \"tokenizer.ggml.tokens\"", "1099511627776",
                      NULL);

    g_header(&b, 0, 1); /* 2^62 u64s: the byte count overflows */
    g_str(&b, "tokenizer.ggml.scores");
    b_u32(&b, G_ARRAY);
    b_u32(&b, G_U64);
    b_u64(&b, (uint64_t)1 << 62);
    b_zeros(&b, 16);
    b_save(&b, p);
    expect_fail_cheap(p, WH_E_FORMAT, p, "metadata \"tokenizer.ggml.scores\"", NULL);

    g_header(&b, 0, 1); /* 2^40 nested arrays */
    g_str(&b, "x.nested");
    b_u32(&b, G_ARRAY);
    b_u32(&b, G_ARRAY);
    b_u64(&b, TB);
    b_zeros(&b, 16);
    b_save(&b, p);
    expect_fail_cheap(p, WH_E_FORMAT, p, "metadata \"x.nested\"", NULL);

    g_header(&b, TB, 0); /* tensor count 2^40 */
    b_zeros(&b, 64);
    b_save(&b, p);
    expect_fail_cheap(p, WH_E_FORMAT, p, "tensor count 1099511627776", NULL);

    g_header(&b, 0, TB); /* metadata count 2^40 */
    b_zeros(&b, 64);
    b_save(&b, p);
    expect_fail_cheap(p, WH_E_FORMAT, p, "metadata count 1099511627776 at byte 16", NULL);

    g_header(&b, 1, G_BASE_KV); /* tensor name 2^40 long */
    g_base_kv(&b);
    b_u64(&b, TB);
    b_zeros(&b, 64);
    b_save(&b, p);
    expect_fail_cheap(p, WH_E_FORMAT, p, "tensor info 0", "1099511627776", NULL);

    /* safetensors header length 2^40 */
    const char *d = st_model("tb-st", "{}", 0);
    char st[PATH_MAX];
    snprintf(st, sizeof st, "%s/model.safetensors", d);
    b_u64(&b, TB);
    b_put(&b, "{}", 2);
    b_save(&b, st);
    expect_fail_cheap(d, WH_E_FORMAT, st, "header length 1099511627776 at byte 0", NULL);
}

/* ---- afterwards: a valid model still loads and runs ---- */

static void load_and_run(const char *path)
{
    wh_model *m = NULL;
    wh_error err;
    memset(&err, 0, sizeof err);
    if (wh_model_load(path, &m, &err) != WH_OK)
        fail_msg("%s: %s", path, err.msg);
    wh_session_opts o = {.n_ctx = 16, .mla = WH_MLA_ABSORBED, .n_threads = 1};
    wh_session *s = NULL;
    if (wh_session_new(m, &o, &s, &err) != WH_OK)
        fail_msg("%s: %s", path, err.msg);
    int V = wh_model_config(m)->vocab_size;
    float *lg = malloc((size_t)V * sizeof(float));
    assert_non_null(lg);
    const int32_t toks[4] = {0, 17, 42, 7};
    if (wh_session_eval(s, toks, 4, lg, 0, &err) != WH_OK)
        fail_msg("%s: eval: %s", path, err.msg);
    for (int i = 0; i < V; i++)
        assert_true(isfinite(lg[i]));
    assert_int_equal(wh_session_pos(s), 4);
    free(lg);
    wh_session_free(s);
    wh_model_free(m);
}

static void test_valid_after_bad(void **state)
{
    (void)state;
    load_and_run(FX "qwen2");
    load_and_run(FX "dsv3");
    load_and_run(FX "dsv2-lite.gguf");
}

/* ---- allocation failure at every point of a load ---- */

static void fault_loop(const char *path)
{
    long n;
    for (n = 1; n < 100000; n++) {
        wh_model *m = (wh_model *)1;
        wh_error err;
        memset(&err, 0, sizeof err);
        wh_alloc_fail_at(n);
        int rc = wh_model_load(path, &m, &err);
        long used = wh_alloc_count();
        wh_alloc_fail_at(0);
        if (rc == WH_OK) {
            assert_non_null(m);
            wh_model_free(m);
            assert_true(used < n); /* it loaded because it needed fewer */
            break;
        }
        assert_null(m);
        if (rc >= 0 || err.msg[0] == '\0')
            fail_msg("%s, allocation %ld failing: rc %d, message \"%s\"", path, n, rc, err.msg);
        if (rc != WH_E_NOMEM || strstr(err.msg, "out of memory") == NULL)
            fail_msg("%s, allocation %ld failing: %s: %s", path, n, wh_status_name(rc), err.msg);
    }
    assert_true(n > 1);
    print_message("%s: a failure at each of its %ld allocations is reported\n", path, n - 1);
    load_and_run(path); /* disarmed: loads */
}

/* The same for a session (KV cache, scratch, worker pool) and its first eval. */
static void fault_loop_session(const char *path)
{
    wh_model *m = NULL;
    wh_error err;
    memset(&err, 0, sizeof err);
    if (wh_model_load(path, &m, &err) != WH_OK)
        fail_msg("%s: %s", path, err.msg);
    const int32_t toks[3] = {3, 1, 4};
    long n;
    for (n = 1; n < 100000; n++) {
        wh_session_opts o = {.n_ctx = 8, .record_routing = 1, .n_threads = 2};
        wh_session *s = (wh_session *)1;
        wh_alloc_fail_at(n);
        int rc = wh_session_new(m, &o, &s, &err);
        if (rc == WH_OK)
            rc = wh_session_eval(s, toks, 3, NULL, 0, &err);
        else
            assert_null(s);
        long used = wh_alloc_count();
        wh_alloc_fail_at(0);
        if (s != NULL)
            wh_session_free(s);
        if (rc == WH_OK) {
            assert_true(used < n);
            break;
        }
        if (rc != WH_E_NOMEM)
            fail_msg("%s session, allocation %ld failing: %s: %s", path, n, wh_status_name(rc),
                     err.msg);
    }
    assert_true(n > 1);
    print_message("%s: session + eval: each of %ld allocations can fail\n", path, n - 1);
    wh_model_free(m);
}

static void test_alloc_failures(void **state)
{
    (void)state;
    fault_loop(FX "dsv2-lite.gguf");
    fault_loop(FX "qwen2");
    fault_loop_session(FX "dsv2-lite.gguf");
    fault_loop_session(FX "qwen2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writers_sanity),
        cmocka_unit_test(test_truncated_gguf),
        cmocka_unit_test(test_truncated_safetensors),
        cmocka_unit_test(test_truncated_every_prefix),
        cmocka_unit_test(test_bad_magic),
        cmocka_unit_test(test_length_beyond_file),
        cmocka_unit_test(test_data_out_of_bounds),
        cmocka_unit_test(test_overlap),
        cmocka_unit_test(test_dims_overflow),
        cmocka_unit_test(test_unknown_dtype),
        cmocka_unit_test(test_missing_tensor),
        cmocka_unit_test(test_shape_vs_config),
        cmocka_unit_test(test_absurd_config),
        cmocka_unit_test(test_shard_escape),
        cmocka_unit_test(test_terabyte_lengths),
        cmocka_unit_test(test_valid_after_bad),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
