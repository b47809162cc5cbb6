/*
 * test_parsers_cov.c — the error paths of the parsers that whole-file tests and fuzzing
 * rarely or never reach, each driven on purpose (issue 8: `make coverage`, every error
 * report hit at least once). The inputs are built here, small, one defect each:
 *
 *   GGUF        nested arrays (bad element type, nested too deeply, lengths that
 *               overflow), v1 files, every metadata type through the typed getters,
 *               alignment, tensor-info defects
 *   tensors     wh_store_add / wh_store_check_overlaps / wh_store_bind_fp8_scales called
 *               directly with the defects their callers already rule out
 *   safetensors too many dimensions, index files with bad weight maps, empty folders
 *   config      config.json fields of the wrong type or range, rope_scaling variants,
 *               GGUF metadata configs, and wh_config_derive on each absurd value
 *   tokenizer   tokenizer.json pre-tokenizers and normalizers, tokenizer_config.json,
 *               GGUF vocabularies given as in-memory wh_gguf structures (counts no file
 *               this small could hold), hostile regexes, allocation failures in the
 *               token tables, encode/decode argument errors
 *   server API  request bodies and generation parameters
 *
 * Allocation failures go through wh_alloc_fail_at. json-c allocates with plain malloc, so
 * its constructors are interposed below (the test program's definitions win over
 * libjson-c's): with g_jfail set, json_tokener_new_ex and json_object_new_object return
 * NULL, as they do when out of memory.
 */
#include <dlfcn.h>
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
#include <json-c/json.h>

#include "base/alloc.h"
#include "base/mapfile.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "formats/tensor.h"
#include "model/config.h"
#include "serve/api.h"
#include "tokenizer/tok_internal.h"
#include "whale.h"

/* ---- json-c fault injection ---- */

static int g_jfail;         /* json_tokener_new_ex fails while set */
static long g_jobj_fail_at; /* the Nth json_object_new_object from arming fails, and after */
static long g_jobj_count;

static void jobj_fail_at(long n)
{
    g_jobj_fail_at = n;
    g_jobj_count = 0;
}

json_tokener *json_tokener_new_ex(int depth)
{
    static json_tokener *(*real)(int);
    if (g_jfail)
        return NULL;
    if (real == NULL)
        *(void **)&real = dlsym(RTLD_NEXT, "json_tokener_new_ex");
    return real(depth);
}

json_tokener *json_tokener_new(void)
{
    return json_tokener_new_ex(JSON_TOKENER_DEFAULT_DEPTH);
}

struct json_object *json_object_new_object(void)
{
    static struct json_object *(*real)(void);
    if (g_jobj_fail_at > 0 && ++g_jobj_count >= g_jobj_fail_at)
        return NULL;
    if (real == NULL)
        *(void **)&real = dlsym(RTLD_NEXT, "json_object_new_object");
    return real();
}

/* ---- helpers ---- */

static char g_tmp[64];

static char *tmp_path(const char *name)
{
    static char bufs[16][PATH_MAX];
    static int k;
    char *p = bufs[k++ & 15];
    snprintf(p, PATH_MAX, "%s/%s", g_tmp, name);
    return p;
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        fail_msg("cannot create %s: %s", path, strerror(errno));
    assert_int_equal(n ? fwrite(data, 1, n, f) : 0, n);
    assert_int_equal(fclose(f), 0);
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_tmp, sizeof g_tmp, "/tmp/whale-cov-XXXXXX");
    assert_non_null(mkdtemp(g_tmp));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    nftw(g_tmp, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* rc must be an error (== want unless want is 0) whose message has the substring. */
static void check_err(int rc, const wh_error *err, int want, const char *sub, const char *what)
{
    if (rc == WH_OK)
        fail_msg("%s: succeeded, expected \"%s\"", what, sub);
    if (want != 0 && rc != want)
        fail_msg("%s: expected %s, got %s: %s", what, wh_status_name(want), wh_status_name(rc),
                 err->msg);
    if (err->code != rc)
        fail_msg("%s: rc %d but err.code %d", what, rc, err->code);
    if (sub != NULL && strstr(err->msg, sub) == NULL)
        fail_msg("%s: message \"%s\" lacks \"%s\"", what, err->msg, sub);
}

/* A growable byte buffer. */
typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void b_put(buf *b, const void *s, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        assert_non_null(b->p);
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->n, s, n);
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

static void b_zero(buf *b, size_t n)
{
    while (n-- > 0)
        b_put(b, "", 1);
}

/* ---- GGUF builder ---- */

typedef struct gguf_b {
    uint32_t version;
    uint64_t n_kv, n_tensors;
    buf kv, ti;
    uint64_t data_bytes; /* zeros after the aligned tensor infos */
    int no_pad;          /* end the file right after the tensor infos */
} gguf_b;

static void g_init(gguf_b *g)
{
    memset(g, 0, sizeof *g);
    g->version = 3;
}

static void g_str(gguf_b *g, buf *b, const char *s, size_t n)
{
    if (g->version == 1)
        b_u32(b, (uint32_t)n);
    else
        b_u64(b, n);
    b_put(b, s, n);
}

/* A key and its type; the caller appends the value to g->kv. */
static void g_key(gguf_b *g, const char *key, uint32_t type)
{
    g_str(g, &g->kv, key, strlen(key));
    b_u32(&g->kv, type);
    g->n_kv++;
}

static void g_kv_u32(gguf_b *g, const char *key, uint32_t v)
{
    g_key(g, key, WH_GGUF_U32);
    b_u32(&g->kv, v);
}

static void g_kv_f32(gguf_b *g, const char *key, float v)
{
    g_key(g, key, WH_GGUF_F32);
    b_put(&g->kv, &v, 4);
}

static void g_kv_str(gguf_b *g, const char *key, const char *v)
{
    g_key(g, key, WH_GGUF_STRING);
    g_str(g, &g->kv, v, strlen(v));
}

static void g_kv_raw(gguf_b *g, const char *key, uint32_t type, const void *v, size_t n)
{
    g_key(g, key, type);
    b_put(&g->kv, v, n);
}

/* Array header: element type and count (u32 count in v1). */
static void g_arr(gguf_b *g, buf *b, uint32_t et, uint64_t n)
{
    b_u32(b, et);
    if (g->version == 1)
        b_u32(b, (uint32_t)n);
    else
        b_u64(b, n);
}

static void g_tensor(gguf_b *g, const char *name, size_t name_len, uint32_t nd, const uint64_t *ne,
                     uint32_t ggml_type, uint64_t offset)
{
    g_str(g, &g->ti, name, name_len);
    b_u32(&g->ti, nd);
    for (uint32_t d = 0; d < nd; d++)
        b_u64(&g->ti, ne[d]);
    b_u32(&g->ti, ggml_type);
    b_u64(&g->ti, offset);
    g->n_tensors++;
}

static const char *g_write(gguf_b *g, const char *name)
{
    buf f = {0};
    b_put(&f, "GGUF", 4);
    b_u32(&f, g->version);
    if (g->version == 1) {
        b_u32(&f, (uint32_t)g->n_tensors);
        b_u32(&f, (uint32_t)g->n_kv);
    } else {
        b_u64(&f, g->n_tensors);
        b_u64(&f, g->n_kv);
    }
    b_put(&f, g->kv.p, g->kv.n);
    b_put(&f, g->ti.p, g->ti.n);
    if (!g->no_pad) {
        b_zero(&f, (32 - f.n % 32) % 32);
        b_zero(&f, g->data_bytes);
    }
    const char *path = tmp_path(name);
    write_file(path, f.p, f.n);
    free(f.p);
    free(g->kv.p);
    free(g->ti.p);
    memset(&g->kv, 0, sizeof g->kv);
    memset(&g->ti, 0, sizeof g->ti);
    return path;
}

/* Writes g and expects wh_gguf_open to fail with want and the substring. */
static void g_expect(gguf_b *g, int want, const char *sub)
{
    const char *path = g_write(g, "bad.gguf");
    wh_gguf gg;
    wh_error err;
    memset(&err, 0, sizeof err);
    int rc = wh_gguf_open(&gg, path, &err);
    if (rc == WH_OK)
        wh_gguf_close(&gg);
    check_err(rc, &err, want, sub, sub);
}

static void g_open_ok(gguf_b *g, wh_gguf *gg)
{
    const char *path = g_write(g, "ok.gguf");
    wh_error err;
    if (wh_gguf_open(gg, path, &err) != WH_OK)
        fail_msg("%s", err.msg);
}

/* ---- GGUF ---- */

static void test_gguf_nested_arrays(void **state)
{
    (void)state;
    gguf_b g;
    /* an array of arrays whose inner element type is unknown */
    g_init(&g);
    g_key(&g, "a", WH_GGUF_ARRAY);
    g_arr(&g, &g.kv, WH_GGUF_ARRAY, 1);
    g_arr(&g, &g.kv, 99, 0);
    g_expect(&g, WH_E_FORMAT, "unknown array element type 99");

    /* arrays nested too deeply: depth 5 below the value */
    g_init(&g);
    g_key(&g, "deep", WH_GGUF_ARRAY);
    g_arr(&g, &g.kv, WH_GGUF_ARRAY, 1); /* the value */
    for (int d = 1; d <= 4; d++)
        g_arr(&g, &g.kv, WH_GGUF_ARRAY, 1);
    g_arr(&g, &g.kv, WH_GGUF_U8, 0);
    g_expect(&g, WH_E_FORMAT, "arrays nested too deeply");

    /* inner array lengths that overflow, or run past the file */
    g_init(&g);
    g_key(&g, "a", WH_GGUF_ARRAY);
    g_arr(&g, &g.kv, WH_GGUF_ARRAY, 1);
    g_arr(&g, &g.kv, WH_GGUF_U64, (uint64_t)1 << 62);
    g_expect(&g, WH_E_FORMAT, "overflows");
    g_init(&g);
    g_key(&g, "a", WH_GGUF_ARRAY);
    g_arr(&g, &g.kv, WH_GGUF_ARRAY, 1);
    g_arr(&g, &g.kv, WH_GGUF_U8, 1000);
    g.no_pad = 1;
    g_expect(&g, WH_E_FORMAT, "truncated");
    g_init(&g);
    g_key(&g, "a", WH_GGUF_ARRAY);
    g_arr(&g, &g.kv, WH_GGUF_ARRAY, 2);
    g_arr(&g, &g.kv, WH_GGUF_STRING, 1);
    b_u64(&g.kv, 1000); /* a string beyond the file */
    g_expect(&g, WH_E_FORMAT, "beyond the file end");
    g_init(&g);
    g_key(&g, "a", WH_GGUF_ARRAY);
    g_arr(&g, &g.kv, WH_GGUF_ARRAY, 1);
    g.no_pad = 1;
    g_expect(&g, WH_E_FORMAT, "truncated"); /* no inner header */
    /* the top-level array: overflowing scalars, an unknown element type */
    g_init(&g);
    g_key(&g, "a", WH_GGUF_ARRAY);
    g_arr(&g, &g.kv, WH_GGUF_F64, (uint64_t)1 << 62);
    g_expect(&g, WH_E_FORMAT, "overflows");
    g_init(&g);
    g_key(&g, "a", WH_GGUF_ARRAY);
    g_arr(&g, &g.kv, 77, 0);
    g_expect(&g, WH_E_FORMAT, "unknown array element type 77");
    g_init(&g);
    g_key(&g, "a", WH_GGUF_ARRAY);
    g_arr(&g, &g.kv, WH_GGUF_STRING, 1000);
    g_expect(&g, WH_E_FORMAT, "strings cannot fit");

    /* legal nesting (strings, scalars, empty arrays) is skipped */
    g_init(&g);
    g_key(&g, "ok", WH_GGUF_ARRAY);
    g_arr(&g, &g.kv, WH_GGUF_ARRAY, 3);
    g_arr(&g, &g.kv, WH_GGUF_STRING, 2);
    g_str(&g, &g.kv, "x", 1);
    g_str(&g, &g.kv, "yz", 2);
    g_arr(&g, &g.kv, WH_GGUF_U16, 2);
    b_u32(&g.kv, 0);
    g_arr(&g, &g.kv, WH_GGUF_ARRAY, 1);
    g_arr(&g, &g.kv, WH_GGUF_I8, 1);
    b_put(&g.kv, "\x01", 1);
    g_kv_u32(&g, "after", 7);
    wh_gguf gg;
    g_open_ok(&g, &gg);
    uint32_t v = 0;
    wh_error err;
    assert_int_equal(wh_gguf_get_u32(&gg, "after", 1, &v, &err), WH_OK);
    assert_int_equal(v, 7);
    wh_gguf_close(&gg);
}

static void test_gguf_v1_and_header(void **state)
{
    (void)state;
    gguf_b g;
    /* version 1: 32-bit lengths and counts */
    g_init(&g);
    g.version = 1;
    g_kv_str(&g, "general.name", "v1");
    g_key(&g, "arr", WH_GGUF_ARRAY);
    g_arr(&g, &g.kv, WH_GGUF_U32, 2);
    b_u32(&g.kv, 1);
    g_key(&g, "nested", WH_GGUF_ARRAY);
    b_put(&g.kv, "", 0);
    g_arr(&g, &g.kv, WH_GGUF_ARRAY, 1);
    g_arr(&g, &g.kv, WH_GGUF_STRING, 1);
    /* skip_array reads u64 counts and rd_str u32 lengths in v1: one 4-byte length */
    b_u32(&g.kv, 1);
    b_put(&g.kv, "s", 1);
    b_u32(&g.kv, 1);
    uint64_t ne[1] = {8};
    g_tensor(&g, "t", 1, 1, ne, 0, 0);
    g.data_bytes = 32;
    wh_gguf gg;
    const char *path = g_write(&g, "v1.gguf");
    wh_error err;
    memset(&err, 0, sizeof err);
    int rc = wh_gguf_open(&gg, path, &err);
    if (rc == WH_OK)
        wh_gguf_close(&gg);
    /* either way it must not crash; the simple v1 file below must load */
    g_init(&g);
    g.version = 1;
    g_kv_str(&g, "general.name", "v1");
    g_key(&g, "arr", WH_GGUF_ARRAY);
    g_arr(&g, &g.kv, WH_GGUF_U32, 1);
    b_u32(&g.kv, 5);
    g_tensor(&g, "t", 1, 1, ne, 0, 0);
    g.data_bytes = 32;
    g_open_ok(&g, &gg);
    assert_int_equal(gg.version, 1);
    assert_int_equal(gg.n_tensors, 1);
    wh_gguf_close(&gg);
    g_init(&g);
    g.version = 1;
    g.n_kv = 1; /* a v1 file that ends before its one entry */
    g.no_pad = 1;
    g_expect(&g, WH_E_FORMAT, NULL);

    /* versions 0 and 4 */
    g_init(&g);
    g.version = 0;
    g_expect(&g, WH_E_UNSUPPORTED, "GGUF version 0");
    g_init(&g);
    g.version = 4;
    g_expect(&g, WH_E_UNSUPPORTED, "GGUF version 4");
    /* counts that cannot fit, an unknown value type, a bad magic */
    g_init(&g);
    g.n_kv = 1000;
    g_expect(&g, WH_E_FORMAT, "metadata count 1000");
    g_init(&g);
    g.n_tensors = 1000;
    g_expect(&g, WH_E_FORMAT, "tensor count 1000");
    g_init(&g);
    g_key(&g, "k", 13);
    b_zero(&g.kv, 8);
    g_expect(&g, WH_E_FORMAT, "unknown value type 13");
    write_file(tmp_path("magic.gguf"), "GGUX\3\0\0\0", 8);
    wh_gguf x;
    memset(&err, 0, sizeof err);
    check_err(wh_gguf_open(&x, tmp_path("magic.gguf"), &err), &err, WH_E_FORMAT, "bad magic",
              "magic");
    write_file(tmp_path("short.gguf"), "GG", 2);
    check_err(wh_gguf_open(&x, tmp_path("short.gguf"), &err), &err, WH_E_FORMAT, "truncated",
              "short");
}

static void test_gguf_alignment_and_tensors(void **state)
{
    (void)state;
    gguf_b g;
    uint64_t ne1[1] = {32}, ne2[2] = {32, 2};
    /* general.alignment: not a power of two, the wrong type, zero, too large */
    static const uint32_t bad_align[] = {3, 0, 131072};
    for (size_t i = 0; i < 3; i++) {
        g_init(&g);
        g_kv_u32(&g, "general.alignment", bad_align[i]);
        g_expect(&g, WH_E_FORMAT, "general.alignment");
    }
    g_init(&g);
    g_kv_raw(&g, "general.alignment", WH_GGUF_U8, "\x20", 1);
    g_expect(&g, WH_E_FORMAT, "general.alignment");
    g_init(&g);
    g_kv_u32(&g, "general.alignment", 64);
    g_tensor(&g, "t", 1, 1, ne1, 0, 64);
    g.data_bytes = 512;
    wh_gguf gg;
    g_open_ok(&g, &gg);
    assert_int_equal(gg.alignment, 64);
    wh_gguf_close(&gg);

    /* tensor names: empty, too long, with a NUL */
    char longname[300];
    memset(longname, 'n', sizeof longname);
    g_init(&g);
    g_tensor(&g, "", 0, 1, ne1, 0, 0);
    g_expect(&g, WH_E_FORMAT, "bad name");
    g_init(&g);
    g_tensor(&g, longname, sizeof longname, 1, ne1, 0, 0);
    g_expect(&g, WH_E_FORMAT, "bad name");
    g_init(&g);
    g_tensor(&g, "a\0b", 3, 1, ne1, 0, 0);
    g_expect(&g, WH_E_FORMAT, "bad name");
    /* dimensions: none, five, one too large, a product that overflows */
    g_init(&g);
    g_tensor(&g, "t", 1, 0, ne1, 0, 0);
    g_expect(&g, WH_E_FORMAT, "0 dimensions");
    uint64_t ne5[5] = {1, 1, 1, 1, 1};
    g_init(&g);
    g_tensor(&g, "t", 1, 5, ne5, 0, 0);
    g_expect(&g, WH_E_FORMAT, "5 dimensions");
    uint64_t big[2] = {(uint64_t)1 << 54, 1};
    g_init(&g);
    g_tensor(&g, "t", 1, 2, big, 0, 0);
    g_expect(&g, WH_E_FORMAT, "overflows the shape");
    uint64_t prod[2] = {(uint64_t)1 << 30, (uint64_t)1 << 30};
    g_init(&g);
    g_tensor(&g, "t", 1, 2, prod, 0, 0);
    g_expect(&g, WH_E_FORMAT, "overflows the shape");
    /* an unsupported ggml type, a misaligned offset, a row that is not whole blocks */
    g_init(&g);
    g_tensor(&g, "t", 1, 1, ne1, 99, 0);
    g_expect(&g, WH_E_UNSUPPORTED, "ggml type 99");
    g_init(&g);
    g_tensor(&g, "t", 1, 1, ne1, 0, 4);
    g_expect(&g, WH_E_FORMAT, "not a multiple of the alignment");
    uint64_t ne33[1] = {33};
    g_init(&g);
    g_tensor(&g, "t", 1, 1, ne33, 8, 0);
    g_expect(&g, WH_E_FORMAT, "block size");
    /* data beyond the file; a data section that starts beyond the file */
    g_init(&g);
    g_tensor(&g, "t", 1, 2, ne2, 0, 0);
    g.data_bytes = 100;
    g_expect(&g, WH_E_FORMAT, "beyond the end");
    g_init(&g);
    g_tensor(&g, "t", 1, 1, ne1, 0, 0);
    g.no_pad = 1;
    g_expect(&g, WH_E_FORMAT, "data section would start");
    /* an empty tensor ({0, 2^53}) and every supported ggml type load */
    static const uint32_t types[] = {0,  1,  2,  3,  6,  7,  8,  10, 11, 12,
                                     13, 14, 15, 24, 25, 26, 27, 28, 30};
    g_init(&g);
    uint64_t empty[2] = {0, (uint64_t)1 << 53};
    g_tensor(&g, "empty", 5, 2, empty, 0, 0);
    uint64_t off = 0;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        char nm[16];
        snprintf(nm, sizeof nm, "t%zu", i);
        uint64_t ne[1] = {256};
        g_tensor(&g, nm, strlen(nm), 1, ne, types[i], off);
        off += 2048;
    }
    g.data_bytes = off;
    g_open_ok(&g, &gg);
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        assert_true(wh_gguf_dtype_from_ggml(types[i]) >= 0);
    assert_int_equal(gg.tensors[0].nbytes, 0);
    wh_gguf_close(&gg);
}

static void test_gguf_getters(void **state)
{
    (void)state;
    gguf_b g;
    g_init(&g);
    uint8_t u8 = 200;
    int8_t i8 = -5;
    uint16_t u16 = 60000;
    int16_t i16 = -300;
    int32_t i32 = -1;
    uint64_t u64 = UINT64_MAX - 1, u64s = 42;
    int64_t i64 = -7;
    double f64 = 2.5;
    g_kv_raw(&g, "u8", WH_GGUF_U8, &u8, 1);
    g_kv_raw(&g, "i8", WH_GGUF_I8, &i8, 1);
    g_kv_raw(&g, "u16", WH_GGUF_U16, &u16, 2);
    g_kv_raw(&g, "i16", WH_GGUF_I16, &i16, 2);
    g_kv_u32(&g, "u32", 7);
    g_kv_raw(&g, "i32", WH_GGUF_I32, &i32, 4);
    g_kv_f32(&g, "f32", 1.5f);
    g_kv_raw(&g, "bool", WH_GGUF_BOOL, "\x01", 1);
    g_kv_str(&g, "str", "hello");
    g_kv_raw(&g, "u64", WH_GGUF_U64, &u64, 8);
    g_kv_raw(&g, "u64s", WH_GGUF_U64, &u64s, 8);
    g_kv_raw(&g, "i64", WH_GGUF_I64, &i64, 8);
    g_kv_raw(&g, "f64", WH_GGUF_F64, &f64, 8);
    g_key(&g, "arr", WH_GGUF_ARRAY);
    g_arr(&g, &g.kv, WH_GGUF_U8, 1);
    b_put(&g.kv, "\x01", 1);
    wh_gguf gg;
    g_open_ok(&g, &gg);
    wh_error err;
    int64_t v;
    float f;
    bool b;
    uint32_t u;
    wh_gguf_str s;
    static const char *ints[] = {"u8", "i8", "u16", "i16", "u32", "i32", "bool", "u64s", "i64"};
    static const int64_t want[] = {200, -5, 60000, -300, 7, -1, 1, 42, -7};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        assert_int_equal(wh_gguf_get_i64(&gg, ints[i], 1, &v, &err), WH_OK);
        assert_int_equal(v, want[i]);
        assert_int_equal(wh_gguf_get_f32(&gg, ints[i], 1, &f, &err), WH_OK);
        assert_true(f == (float)want[i]);
        assert_int_equal(wh_gguf_get_bool(&gg, ints[i], 1, &b, &err), WH_OK);
    }
    assert_int_equal(wh_gguf_get_f32(&gg, "f32", 1, &f, &err), WH_OK);
    assert_true(f == 1.5f);
    assert_int_equal(wh_gguf_get_f32(&gg, "f64", 1, &f, &err), WH_OK);
    assert_true(f == 2.5f);
    assert_int_equal(wh_gguf_get_str(&gg, "str", 1, &s, &err), WH_OK);
    assert_true(wh_gguf_str_eq(s, "hello"));
    assert_false(wh_gguf_str_eq(s, "hell"));
    /* errors: too large for i64, out of u32 range, the wrong types, missing keys */
    check_err(wh_gguf_get_i64(&gg, "u64", 1, &v, &err), &err, WH_E_FORMAT, "value too large",
              "u64");
    check_err(wh_gguf_get_u32(&gg, "i32", 1, &u, &err), &err, WH_E_FORMAT, "out of range", "i32");
    check_err(wh_gguf_get_u32(&gg, "str", 1, &u, &err), &err, WH_E_FORMAT, "expected an integer",
              "str u32");
    check_err(wh_gguf_get_i64(&gg, "f32", 1, &v, &err), &err, WH_E_FORMAT, "expected an integer",
              "f32 i64");
    check_err(wh_gguf_get_f32(&gg, "str", 1, &f, &err), &err, WH_E_FORMAT, "expected a number",
              "str f32");
    check_err(wh_gguf_get_f32(&gg, "arr", 1, &f, &err), &err, WH_E_FORMAT, "expected a number",
              "arr f32");
    check_err(wh_gguf_get_bool(&gg, "str", 1, &b, &err), &err, WH_E_FORMAT, "expected a bool",
              "str bool");
    check_err(wh_gguf_get_str(&gg, "u32", 1, &s, &err), &err, WH_E_FORMAT, "expected a string",
              "u32 str");
    check_err(wh_gguf_get_str(&gg, "nope", 1, &s, &err), &err, WH_E_MISSING, "missing", "nope");
    assert_int_equal(wh_gguf_get_str(&gg, "nope", 0, &s, &err), WH_OK);
    assert_int_equal(wh_gguf_get_f32(&gg, "nope", 0, &f, &err), WH_OK);
    assert_int_equal(wh_gguf_get_bool(&gg, "nope", 0, &b, &err), WH_OK);
    u = 3;
    assert_int_equal(wh_gguf_get_u32(&gg, "nope", 0, &u, &err), WH_OK);
    assert_int_equal(u, 3);
    wh_gguf_close(&gg);
}

/* ---- the tensor store, called directly ---- */

static wh_tensor mk_tensor(const char *name, wh_dtype dt, int64_t ne0, int64_t ne1)
{
    wh_tensor t;
    memset(&t, 0, sizeof t);
    t.name = name;
    t.dtype = dt;
    t.n_dims = 2;
    t.ne[0] = ne0;
    t.ne[1] = ne1;
    t.ne[2] = t.ne[3] = 1;
    t.file = -1;
    const wh_dtype_info *di = wh_dtype_get(dt);
    /* unsigned: the overflow cases wrap here and are caught by wh_store_add */
    t.nbytes =
        di ? (uint64_t)ne0 * (uint64_t)ne1 / (uint64_t)di->block * (uint64_t)di->block_bytes : 0;
    return t;
}

static void test_store_add_direct(void **state)
{
    (void)state;
    wh_tensor_store st;
    wh_store_init(&st);
    wh_error err;
    wh_tensor t = mk_tensor("x", WH_DT_F32, 4, 2);
    /* every check of wh_store_add, though the readers have ruled each out already */
    t.dtype = (wh_dtype)WH_DT_COUNT;
    check_err(wh_store_add(&st, &t, &err), &err, WH_E_UNSUPPORTED, "unknown dtype", "dtype");
    t = mk_tensor("x", WH_DT_F32, 4, 2);
    t.n_dims = 0;
    check_err(wh_store_add(&st, &t, &err), &err, WH_E_FORMAT, "0 dimensions", "dims");
    t = mk_tensor("x", WH_DT_F32, 4, 2);
    t.ne[1] = -1;
    check_err(wh_store_add(&st, &t, &err), &err, WH_E_FORMAT, "bad dimension 1", "neg");
    t = mk_tensor("x", WH_DT_F32, 4, 2);
    t.ne[3] = 2; /* beyond n_dims */
    check_err(wh_store_add(&st, &t, &err), &err, WH_E_FORMAT, "bad dimension 3", "beyond");
    t = mk_tensor("x", WH_DT_F32, (int64_t)1 << 40, (int64_t)1 << 20);
    check_err(wh_store_add(&st, &t, &err), &err, WH_E_FORMAT, "dimensions overflow", "ovf");
    t = mk_tensor("x", WH_DT_F32, (int64_t)1 << 62, 4);
    check_err(wh_store_add(&st, &t, &err), &err, WH_E_FORMAT, "dimensions overflow", "ovf2");
    t = mk_tensor("x", WH_DT_Q8_0, 33, 1);
    check_err(wh_store_add(&st, &t, &err), &err, WH_E_FORMAT, "block size", "block");
    t = mk_tensor("x", WH_DT_F32, 4, 2);
    t.nbytes = 31;
    check_err(wh_store_add(&st, &t, &err), &err, WH_E_FORMAT, "need 32", "nbytes");
    /* data outside its file */
    wh_mapfile mf = {wh_strdup("fake.bin"), NULL, 16};
    int fi = wh_store_add_file(&st, &mf, &err);
    assert_int_equal(fi, 0);
    t = mk_tensor("x", WH_DT_F32, 4, 2);
    t.file = fi;
    t.offset = 8;
    check_err(wh_store_add(&st, &t, &err), &err, WH_E_FORMAT, "outside the file", "outside");
    t.offset = UINT64_MAX - 4;
    check_err(wh_store_add(&st, &t, &err), &err, WH_E_FORMAT, "outside the file", "wrap");
    /* twice the same name */
    t = mk_tensor("x", WH_DT_F32, 2, 2);
    t.file = fi;
    assert_int_equal(wh_store_add(&st, &t, &err), WH_OK);
    check_err(wh_store_add(&st, &t, &err), &err, WH_E_FORMAT, "appears twice", "twice");
    wh_store_free(&st);
}

/* Adds n tensors (enough to grow the table and the hash) with allocation failures. */
static int store_many(int n, wh_error *err)
{
    wh_tensor_store st;
    wh_store_init(&st);
    int rc = WH_OK;
    for (int i = 0; i < n && rc == WH_OK; i++) {
        char name[32];
        snprintf(name, sizeof name, "t.%d", i);
        wh_tensor t = mk_tensor(name, WH_DT_F32, 2, 1);
        t.offset = (uint64_t)i * 8;
        rc = wh_store_add(&st, &t, err);
    }
    if (rc == WH_OK)
        rc = wh_store_check_overlaps(&st, -1, err);
    wh_store_free(&st);
    return rc;
}

static void test_store_alloc_failures(void **state)
{
    (void)state;
    int nomem = 0;
    long n;
    for (n = 1; n < 10000; n++) {
        wh_error err;
        memset(&err, 0, sizeof err);
        wh_alloc_fail_at(n);
        int rc = store_many(150, &err);
        long used = wh_alloc_count();
        wh_alloc_fail_at(0);
        if (rc == WH_OK && used < n)
            break;
        check_err(rc, &err, WH_E_NOMEM, "out of memory", "store");
        nomem++;
    }
    assert_true(nomem > 3);
    /* overlaps: the widest tensor so far hides nothing behind an empty one */
    wh_tensor_store st;
    wh_store_init(&st);
    wh_error err;
    wh_mapfile fake = {wh_strdup("fake.bin"), NULL, 1024};
    assert_int_equal(wh_store_add_file(&st, &fake, &err), 0);
    wh_tensor a = mk_tensor("a", WH_DT_F32, 8, 1), e = mk_tensor("e", WH_DT_F32, 0, 1),
              b = mk_tensor("b", WH_DT_F32, 2, 1);
    a.file = e.file = b.file = 0;
    a.offset = 0;
    e.offset = 4;
    b.offset = 16;
    assert_int_equal(wh_store_add(&st, &a, &err), WH_OK);
    assert_int_equal(wh_store_add(&st, &e, &err), WH_OK);
    assert_int_equal(wh_store_add(&st, &b, &err), WH_OK);
    check_err(wh_store_check_overlaps(&st, -1, &err), &err, WH_E_FORMAT, "overlap", "overlap");
    wh_alloc_fail_at(1);
    int rc = wh_store_check_overlaps(&st, -1, &err);
    wh_alloc_fail_at(0);
    check_err(rc, &err, WH_E_NOMEM, "out of memory", "overlap nomem");
    wh_store_free(&st);
    /* wh_store_add_file when the file table cannot grow */
    wh_store_init(&st);
    wh_mapfile mf = {wh_strdup("f"), NULL, 0};
    wh_alloc_fail_at(1);
    rc = wh_store_add_file(&st, &mf, &err);
    wh_alloc_fail_at(0);
    check_err(rc, &err, WH_E_NOMEM, "out of memory", "add_file");
    wh_free(mf.path);
    wh_store_free(&st);
}

static void test_store_fp8_scales(void **state)
{
    (void)state;
    wh_error err;
    wh_mapfile mf = {wh_strdup("fp8.safetensors"), NULL, 1 << 20};
    /* an FP8 tensor without its scale */
    wh_tensor_store st;
    wh_store_init(&st);
    assert_int_equal(wh_store_add_file(&st, &mf, &err), 0);
    wh_tensor w = mk_tensor("w", WH_DT_F8_E4M3, 256, 256);
    w.file = 0;
    assert_int_equal(wh_store_add(&st, &w, &err), WH_OK);
    check_err(wh_store_bind_fp8_scales(&st, &err), &err, WH_E_MISSING, "block-scale", "none");
    /* a scale of the wrong shape */
    wh_tensor s = mk_tensor("w_scale_inv", WH_DT_F32, 3, 2);
    s.file = 0;
    s.offset = 65536;
    assert_int_equal(wh_store_add(&st, &s, &err), WH_OK);
    check_err(wh_store_bind_fp8_scales(&st, &err), &err, WH_E_FORMAT, "block scales", "shape");
    wh_alloc_fail_at(1);
    int rc = wh_store_bind_fp8_scales(&st, &err);
    wh_alloc_fail_at(0);
    check_err(rc, &err, WH_E_NOMEM, "out of memory", "fp8 nomem");
    wh_store_free(&st);
    /* an FP8 tensor that is not 2-D */
    wh_store_init(&st);
    mf = (wh_mapfile){wh_strdup("fp8.safetensors"), NULL, 1 << 20};
    assert_int_equal(wh_store_add_file(&st, &mf, &err), 0);
    w = mk_tensor("w", WH_DT_F8_E4M3, 128, 1);
    w.n_dims = 1;
    w.file = 0;
    assert_int_equal(wh_store_add(&st, &w, &err), WH_OK);
    s = mk_tensor("w_scale_inv", WH_DT_F32, 1, 1);
    s.file = 0;
    s.offset = 1024;
    assert_int_equal(wh_store_add(&st, &s, &err), WH_OK);
    check_err(wh_store_bind_fp8_scales(&st, &err), &err, WH_E_UNSUPPORTED, "2-D", "1-D");
    wh_store_free(&st);
}

/* ---- safetensors ---- */

static const char *st_file(const char *name, const char *header, size_t data_bytes)
{
    buf f = {0};
    b_u64(&f, strlen(header));
    b_put(&f, header, strlen(header));
    b_zero(&f, data_bytes);
    const char *path = tmp_path(name);
    write_file(path, f.p, f.n);
    free(f.p);
    return path;
}

static void st_expect(const char *header, int want, const char *sub)
{
    const char *path = st_file("bad.safetensors", header, 64);
    wh_tensor_store st;
    wh_store_init(&st);
    wh_error err;
    memset(&err, 0, sizeof err);
    int rc = wh_safetensors_load_file(&st, path, &err);
    wh_store_free(&st);
    check_err(rc, &err, want, sub, header);
}

static void test_safetensors_headers(void **state)
{
    (void)state;
    st_expect("{\"t\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,4]}}",
              WH_E_UNSUPPORTED, "5 dimensions");
    st_expect("{\"t\":{\"dtype\":\"X9\",\"shape\":[1],\"data_offsets\":[0,4]}}", WH_E_UNSUPPORTED,
              "unknown dtype");
    st_expect("{\"t\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", WH_E_FORMAT,
              "shape[0]");
    st_expect("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", WH_E_FORMAT,
              "data_offsets must be");
    st_expect("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,400]}}", WH_E_FORMAT,
              "beyond the data section");
    st_expect("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", WH_E_FORMAT,
              "needs dtype");
    st_expect("{\"t\":[]}", WH_E_FORMAT, "needs dtype");
    st_expect("{\"t\":{}} x", WH_E_FORMAT, "unexpected data after the JSON");
    st_expect("{\"a\":[[[[[[[[[[1]]]]]]]]]]}", WH_E_FORMAT, "invalid JSON");
    st_expect("{\"a\":", WH_E_FORMAT, "unexpected end");
    st_expect("[]", WH_E_FORMAT, "not a JSON object");
    /* a scalar shape ([]) is one element; __metadata__ is skipped */
    const char *ok = st_file("ok.safetensors",
                             "{\"__metadata__\":{\"format\":\"pt\"},"
                             "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}  ",
                             4);
    wh_tensor_store st;
    wh_store_init(&st);
    wh_error err;
    if (wh_safetensors_load_file(&st, ok, &err) != WH_OK)
        fail_msg("%s", err.msg);
    assert_non_null(wh_store_find(&st, "s"));
    wh_store_free(&st);
    /* json-c out of memory */
    wh_store_init(&st);
    g_jfail = 1;
    int rc = wh_safetensors_load_file(&st, ok, &err);
    g_jfail = 0;
    wh_store_free(&st);
    check_err(rc, &err, WH_E_NOMEM, "out of memory", "tokener");
}

static void st_dir_expect(const char *dir, const char *index, int want, const char *sub)
{
    char path[PATH_MAX];
    if (index != NULL) {
        snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
        write_file(path, index, strlen(index));
    }
    wh_tensor_store st;
    wh_store_init(&st);
    wh_error err;
    memset(&err, 0, sizeof err);
    int rc = wh_safetensors_load_dir(&st, dir, &err);
    wh_store_free(&st);
    check_err(rc, &err, want, sub, index ? index : dir);
}

static void test_safetensors_index(void **state)
{
    (void)state;
    const char *dir = tmp_path("sharded");
    mkdir(dir, 0700);
    /* an empty folder */
    st_dir_expect(dir, NULL, WH_E_MISSING, "no model.safetensors.index.json");
    char shard[PATH_MAX];
    snprintf(shard, sizeof shard, "%s/a.safetensors", dir);
    const char *h = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
    buf f = {0};
    b_u64(&f, strlen(h));
    b_put(&f, h, strlen(h));
    b_zero(&f, 4);
    write_file(shard, f.p, f.n);
    free(f.p);
    st_dir_expect(dir, "{\"metadata\":{}}", WH_E_FORMAT, "weight_map");
    st_dir_expect(dir, "{\"weight_map\":[]}", WH_E_FORMAT, "weight_map");
    st_dir_expect(dir, "[1]", WH_E_FORMAT, "weight_map");
    st_dir_expect(dir, "{\"weight_map\":{\"w\":7}}", WH_E_FORMAT, "is not a file name");
    st_dir_expect(dir, "{\"weight_map\":{\"w\":\"a.safetensors\",\"v\":\"a.safetensors\"}}",
                  WH_E_MISSING, "tensor v is not in shard");
    st_dir_expect(dir, "{\"weight_map\":{\"w\":\"../x.safetensors\"}}", 0, NULL);
    st_dir_expect(dir, "{\"weight_map\":{\"w\":\"a.safetensors\"}} }", WH_E_FORMAT,
                  "unexpected data");
    st_dir_expect(dir, "{\"weight_map\":{\"w\":\"missing.safetensors\"}}", 0, NULL);
    /* json-c out of memory for the set of shards seen: the Nth object fails */
    snprintf(shard, sizeof shard, "%s/model.safetensors.index.json", dir);
    const char *idx = "{\"weight_map\":{\"w\":\"a.safetensors\"}}";
    write_file(shard, idx, strlen(idx));
    wh_tensor_store st;
    wh_error err;
    int nomem = 0;
    for (long n = 1; n < 20; n++) {
        wh_store_init(&st);
        memset(&err, 0, sizeof err);
        jobj_fail_at(n);
        int rc = wh_safetensors_load_dir(&st, dir, &err);
        jobj_fail_at(0);
        wh_store_free(&st);
        if (rc == WH_OK)
            break;
        nomem += rc == WH_E_NOMEM && strstr(err.msg, "out of memory") != NULL;
    }
    assert_true(nomem > 0);
    wh_store_init(&st);
    assert_int_equal(wh_safetensors_load_dir(&st, dir, &err), WH_OK);
    wh_store_free(&st);
}

/* ---- config.json ---- */

#define DS_BASE                                                                                    \
    "\"vocab_size\":64,\"hidden_size\":32,\"intermediate_size\":64,\"num_hidden_layers\":2,"       \
    "\"num_attention_heads\":2,\"kv_lora_rank\":16,\"qk_nope_head_dim\":8,"                        \
    "\"qk_rope_head_dim\":8,\"v_head_dim\":8"
#define LL_BASE                                                                                    \
    "\"vocab_size\":64,\"hidden_size\":32,\"intermediate_size\":64,\"num_hidden_layers\":2,"       \
    "\"num_attention_heads\":2"

static int hf(const char *json, wh_config *c, wh_error *err)
{
    memset(err, 0, sizeof *err);
    return wh_config_from_hf_text(json, strlen(json), "config.json", c, err);
}

static void hf_expect(const char *json, int want, const char *sub)
{
    wh_config c;
    wh_error err;
    check_err(hf(json, &c, &err), &err, want, sub, json);
}

static void hf_ok(const char *json, wh_config *c)
{
    wh_error err;
    if (hf(json, c, &err) != WH_OK)
        fail_msg("%s: %s", json, err.msg);
}

static void test_config_hf_fields(void **state)
{
    (void)state;
    wh_config c;
    /* architecture from model_type when architectures is absent */
    static const char *mts[] = {"deepseek_v3", "deepseek_v2", "qwen2", "llama"};
    static const wh_arch archs[] = {WH_ARCH_DEEPSEEK_V3, WH_ARCH_DEEPSEEK_V2, WH_ARCH_QWEN2,
                                    WH_ARCH_LLAMA};
    for (int i = 0; i < 4; i++) {
        char json[1024];
        snprintf(json, sizeof json, "{\"model_type\":\"%s\",%s}", mts[i],
                 i < 2 ? DS_BASE : LL_BASE);
        hf_ok(json, &c);
        assert_int_equal(c.arch, archs[i]);
        assert_string_equal(wh_arch_name(c.arch), wh_arch_name(archs[i]));
    }
    assert_string_equal(wh_arch_name((wh_arch)99), "unknown");
    hf_expect("{\"model_type\":\"gpt2\"}", WH_E_UNSUPPORTED, "\"gpt2\" is not supported");
    hf_expect("{\"architectures\":[7],\"model_type\":7}", WH_E_UNSUPPORTED, "(none)");
    hf_expect("{\"architectures\":[]}", WH_E_UNSUPPORTED, "(none)");
    hf_expect("[1]", WH_E_FORMAT, "not a JSON object");
    hf_expect("{\"a\":", WH_E_FORMAT, "not a JSON object");
    /* integers: missing, of the wrong type, out of range */
    hf_expect("{\"model_type\":\"llama\"}", WH_E_MISSING, "vocab_size is missing");
    hf_expect("{\"model_type\":\"llama\",\"vocab_size\":\"64\"}", WH_E_INVALID,
              "must be an integer");
    hf_expect("{\"model_type\":\"llama\",\"vocab_size\":2147483648}", WH_E_INVALID, "out of range");
    /* token ids: lists, wrong types, out of range */
    hf_ok("{\"model_type\":\"llama\"," LL_BASE ",\"bos_token_id\":[5,6],\"eos_token_id\":null}",
          &c);
    assert_int_equal(c.bos_token_id, 5);
    hf_expect("{\"model_type\":\"llama\"," LL_BASE ",\"bos_token_id\":\"x\"}", WH_E_INVALID,
              "must be a token id");
    hf_expect("{\"model_type\":\"llama\"," LL_BASE ",\"eos_token_id\":-3}", WH_E_INVALID,
              "out of range");
    hf_expect("{\"model_type\":\"llama\"," LL_BASE ",\"eos_token_id\":[true]}", WH_E_INVALID,
              "must be a token id");
    /* numbers and booleans */
    hf_expect("{\"model_type\":\"llama\"," LL_BASE ",\"rope_theta\":\"big\"}", WH_E_INVALID,
              "must be a number");
    hf_expect("{\"model_type\":\"llama\"," LL_BASE ",\"rope_theta\":1e999}", WH_E_INVALID,
              "not finite");
    hf_ok("{\"model_type\":\"llama\"," LL_BASE ",\"rope_theta\":500000}", &c);
    hf_expect("{\"model_type\":\"llama\"," LL_BASE ",\"tie_word_embeddings\":1}", WH_E_INVALID,
              "true or false");
    hf_expect("{\"model_type\":7," LL_BASE "}", WH_E_UNSUPPORTED, "(none)");
    /* llama: attention_bias, head_dim */
    hf_ok("{\"model_type\":\"llama\"," LL_BASE ",\"attention_bias\":true,\"head_dim\":8}", &c);
    assert_true(c.attention_bias);
    assert_int_equal(c.head_dim, 8);
    hf_ok("{\"model_type\":\"llama\",\"vocab_size\":64,\"hidden_size\":32,"
          "\"intermediate_size\":64,\"num_hidden_layers\":2,\"num_attention_heads\":0}",
          &c);
    /* deepseek: scoring_func and topk_method */
    static const char *sfs[] = {"sigmoid", "softmax"};
    for (int i = 0; i < 2; i++) {
        char json[1024];
        snprintf(json, sizeof json, "{\"model_type\":\"deepseek_v2\",%s,\"scoring_func\":\"%s\"}",
                 DS_BASE, sfs[i]);
        hf_ok(json, &c);
    }
    static const char *tms[] = {"noaux_tc", "group_limited_greedy", "greedy", "gready"};
    for (int i = 0; i < 4; i++) {
        char json[1024];
        snprintf(json, sizeof json, "{\"model_type\":\"deepseek_v3\",%s,\"topk_method\":\"%s\"}",
                 DS_BASE, tms[i]);
        hf_ok(json, &c);
    }
    hf_expect("{\"model_type\":\"deepseek_v3\"," DS_BASE ",\"scoring_func\":\"relu\"}",
              WH_E_UNSUPPORTED, "scoring_func");
    hf_expect("{\"model_type\":\"deepseek_v3\"," DS_BASE ",\"topk_method\":\"best\"}",
              WH_E_UNSUPPORTED, "topk_method");
    hf_expect("{\"model_type\":\"deepseek_v3\"," DS_BASE ",\"topk_method\":5}", WH_E_INVALID,
              "must be a string");
    hf_expect("{\"model_type\":\"deepseek_v3\"," DS_BASE
              ",\"scoring_func\":\"relu\",\"topk_method\":\"best\",\"n_group\":\"x\"}",
              WH_E_INVALID, "n_group");
    /* json-c out of memory */
    g_jfail = 1;
    hf_expect("{}", WH_E_NOMEM, "out of memory");
    g_jfail = 0;
}

static void test_config_hf_rope(void **state)
{
    (void)state;
    wh_config c;
    hf_expect("{\"model_type\":\"llama\"," LL_BASE ",\"rope_scaling\":[1]}", WH_E_INVALID,
              "rope_scaling must be an object");
    hf_expect("{\"model_type\":\"llama\"," LL_BASE ",\"rope_scaling\":{\"type\":3}}", WH_E_INVALID,
              "must be a string");
    hf_expect("{\"model_type\":\"llama\"," LL_BASE ",\"rope_scaling\":{\"type\":\"ntk\"}}",
              WH_E_UNSUPPORTED, "\"ntk\" is not supported");
    hf_ok("{\"model_type\":\"llama\"," LL_BASE ",\"rope_scaling\":{\"rope_type\":\"default\"}}",
          &c);
    assert_int_equal(c.rope_scaling, WH_ROPE_NONE);
    hf_ok("{\"model_type\":\"llama\"," LL_BASE ",\"rope_scaling\":{\"factor\":2}}", &c);
    hf_ok("{\"model_type\":\"llama\"," LL_BASE
          ",\"rope_scaling\":{\"type\":\"linear\",\"factor\":2}}",
          &c);
    assert_int_equal(c.rope_scaling, WH_ROPE_LINEAR);
    hf_ok("{\"model_type\":\"llama\"," LL_BASE
          ",\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8,"
          "\"original_max_position_embeddings\":8192,\"low_freq_factor\":1,"
          "\"high_freq_factor\":4}}",
          &c);
    assert_int_equal(c.rope_scaling, WH_ROPE_LLAMA3);
    hf_ok(
        "{\"model_type\":\"llama\"," LL_BASE
        ",\"rope_scaling\":{\"rope_type\":\"llama3\",\"original_max_position_embeddings\":\"x\"}}",
        &c);
    hf_ok("{\"model_type\":\"deepseek_v3\"," DS_BASE
          ",\"rope_scaling\":{\"type\":\"yarn\",\"factor\":40,"
          "\"original_max_position_embeddings\":4096,\"beta_fast\":32,\"beta_slow\":1,"
          "\"mscale\":1,\"mscale_all_dim\":1}}",
          &c);
    assert_int_equal(c.rope_scaling, WH_ROPE_YARN);
    wh_dims d;
    wh_error err;
    assert_int_equal(wh_config_derive(&c, &d, &err), WH_OK);
    hf_ok("{\"model_type\":\"deepseek_v3\"," DS_BASE
          ",\"rope_scaling\":{\"type\":\"yarn\",\"original_max_position_embeddings\":null}}",
          &c);
    hf_expect("{\"model_type\":\"deepseek_v3\"," DS_BASE
              ",\"rope_scaling\":{\"type\":\"yarn\",\"factor\":\"x\"}}",
              WH_E_INVALID, "factor must be a number");
}

/* config.json in a folder, with generation_config.json filling bos/eos. */
static void test_config_hf_dir(void **state)
{
    (void)state;
    const char *dir = tmp_path("cfgdir");
    mkdir(dir, 0700);
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/config.json", dir);
    const char *cfg = "{\"model_type\":\"llama\"," LL_BASE "}";
    write_file(p, cfg, strlen(cfg));
    snprintf(p, sizeof p, "%s/generation_config.json", dir);
    const char *gen = "{\"bos_token_id\":1,\"eos_token_id\":[2,3]}";
    write_file(p, gen, strlen(gen));
    wh_config c;
    wh_error err;
    assert_int_equal(wh_config_from_hf(dir, &c, &err), WH_OK);
    assert_int_equal(c.bos_token_id, 1);
    assert_int_equal(c.eos_token_id, 2);
    write_file(p, "[]", 2); /* not an object: ignored */
    assert_int_equal(wh_config_from_hf(dir, &c, &err), WH_OK);
    assert_int_equal(c.bos_token_id, -1);
    snprintf(p, sizeof p, "%s/config.json", dir);
    unlink(p);
    check_err(wh_config_from_hf(dir, &c, &err), &err, WH_E_IO, "config.json", "no config");
}

/* A valid config of each family, then one absurd value at a time. */
static void derive_expect(const wh_config *c, const char *sub)
{
    wh_dims d;
    wh_error err;
    memset(&err, 0, sizeof err);
    check_err(wh_config_derive(c, &d, &err), &err, WH_E_INVALID, sub, sub);
}

static void test_config_derive(void **state)
{
    (void)state;
    wh_config ds, ll, c;
    hf_ok("{\"model_type\":\"deepseek_v3\"," DS_BASE
          ",\"n_routed_experts\":8,\"num_experts_per_tok\":2,\"moe_intermediate_size\":16,"
          "\"n_shared_experts\":1,\"first_k_dense_replace\":1,\"n_group\":2,\"topk_group\":1,"
          "\"q_lora_rank\":16,\"num_nextn_predict_layers\":1}",
          &ds);
    hf_ok("{\"model_type\":\"qwen2\"," LL_BASE ",\"num_key_value_heads\":1}", &ll);
    wh_dims d;
    wh_error err;
    assert_int_equal(wh_config_derive(&ds, &d, &err), WH_OK);
    assert_int_equal(wh_config_derive(&ll, &d, &err), WH_OK);
#define MUT(base, stmt, sub)                                                                       \
    do {                                                                                           \
        c = (base);                                                                                \
        stmt;                                                                                      \
        derive_expect(&c, sub);                                                                    \
    } while (0)
    MUT(ll, c.num_hidden_layers = 0, "num_hidden_layers");
    MUT(ll, c.hidden_size = 1 << 20, "hidden_size");
    MUT(ll, c.vocab_size = 0, "vocab_size");
    MUT(ll, c.num_attention_heads = 5000, "num_attention_heads");
    MUT(ll, c.rms_norm_eps = 0, "rms_norm_eps");
    MUT(ll, c.rope_theta = 1, "rope_theta");
    MUT(ll, c.max_position_embeddings = 0, "max_position_embeddings");
    MUT(ll, c.num_key_value_heads = 3, "num_key_value_heads");
    MUT(ll, c.head_dim = 7, "head_dim");
    MUT(ll, c.intermediate_size = 0, "intermediate_size = 0");
    MUT(ll, c.intermediate_size = 1 << 23, "intermediate_size");
    MUT(ll, c.num_nextn_predict_layers = 65, "num_nextn_predict_layers");
    MUT(ll, (c.rope_scaling = WH_ROPE_LINEAR, c.rope_factor = 0.5f), "rope_scaling.factor");
    MUT(ll, (c.rope_scaling = WH_ROPE_LLAMA3, c.rope_factor = 2, c.rope_orig_max_pos = 0),
        "original_max_position_embeddings");
    MUT(ll,
        (c.rope_scaling = WH_ROPE_LLAMA3, c.rope_factor = 2, c.rope_orig_max_pos = 8,
         c.llama3_low_freq_factor = 4, c.llama3_high_freq_factor = 1),
        "high_freq_factor");
    c = ll;
    c.attention_bias = true;
    assert_int_equal(wh_config_derive(&c, &d, &err), WH_OK);
    MUT(ds, c.kv_lora_rank = 0, "kv_lora_rank");
    MUT(ds, c.q_lora_rank = -1, "q_lora_rank");
    MUT(ds, c.qk_rope_head_dim = 7, "qk_rope_head_dim");
    MUT(ds, c.qk_nope_head_dim = -1, "qk_nope_head_dim");
    MUT(ds, c.v_head_dim = 0, "v_head_dim");
    MUT(ds, c.n_routed_experts = 5000, "n_routed_experts");
    MUT(ds, c.num_experts_per_tok = 9, "num_experts_per_tok");
    MUT(ds, c.moe_intermediate_size = 0, "moe_intermediate_size");
    MUT(ds, c.n_shared_experts = 65, "n_shared_experts");
    MUT(ds, c.moe_layer_freq = 0, "moe_layer_freq");
    MUT(ds, c.first_k_dense_replace = 3, "first_k_dense_replace");
    MUT(ds, c.n_group = 3, "n_group");
    MUT(ds, c.topk_group = 3, "topk_group = 3");
    MUT(ds, (c.num_experts_per_tok = 8, c.topk_group = 1), "fewer than num_experts_per_tok");
    MUT(ds, (c.n_group = 8, c.topk_group = 8), "at least 2 experts per group");
    MUT(ds,
        (c.hidden_size = 1 << 18, c.moe_intermediate_size = 1 << 22, c.n_routed_experts = 4096,
         c.num_hidden_layers = 4096, c.n_group = 1, c.num_experts_per_tok = 8),
        "overflows 64 bits");
    c = ds;
    c.q_lora_rank = 0;
    c.topk_method = WH_TOPK_GREEDY;
    c.rope_scaling = WH_ROPE_YARN;
    c.rope_factor = 40;
    c.rope_orig_max_pos = 4096;
    c.yarn_mscale_all_dim = 1;
    assert_int_equal(wh_config_derive(&c, &d, &err), WH_OK);
    c.rope_factor = 1;
    assert_int_equal(wh_config_derive(&c, &d, &err), WH_OK);
#undef MUT
}

/* ---- GGUF metadata configs ---- */

static void gguf_cfg_base(gguf_b *g, const char *arch)
{
    g_init(g);
    g_kv_str(g, "general.architecture", arch);
    char k[96];
#define KU(name, v)                                                                                \
    do {                                                                                           \
        snprintf(k, sizeof k, "%s.%s", arch, name);                                                \
        g_kv_u32(g, k, v);                                                                         \
    } while (0)
    KU("block_count", 2);
    KU("embedding_length", 32);
    KU("attention.head_count", 2);
    if (strcmp(arch, "deepseek2") == 0) {
        KU("attention.kv_lora_rank", 16);
        KU("rope.dimension_count", 8);
        KU("attention.key_length", 24);
        KU("attention.value_length", 8);
    }
#undef KU
}

/* The base keys after an override (wh_gguf_find takes the first of a key). */
static void gguf_cfg_over(gguf_b *g, const char *arch)
{
    g_kv_str(g, "general.architecture", arch);
    char k[96];
#define KU(name, v)                                                                                \
    do {                                                                                           \
        snprintf(k, sizeof k, "%s.%s", arch, name);                                                \
        g_kv_u32(g, k, v);                                                                         \
    } while (0)
    KU("block_count", 2);
    KU("embedding_length", 32);
    KU("attention.head_count", 2);
    if (strcmp(arch, "deepseek2") == 0) {
        KU("attention.kv_lora_rank", 16);
        KU("rope.dimension_count", 8);
        KU("attention.key_length", 24);
        KU("attention.value_length", 8);
    }
#undef KU
}

static int gguf_cfg(gguf_b *g, wh_config *c, int *mla, wh_error *err)
{
    const char *path = g_write(g, "cfg.gguf");
    wh_gguf gg;
    if (wh_gguf_open(&gg, path, err) != WH_OK)
        fail_msg("%s", err->msg);
    memset(err, 0, sizeof *err);
    int rc = wh_config_from_gguf(&gg, c, mla, err);
    wh_gguf_close(&gg);
    return rc;
}

static void test_config_gguf(void **state)
{
    (void)state;
    gguf_b g;
    wh_config c;
    wh_error err;
    int mla;
    g_init(&g);
    check_err(gguf_cfg(&g, &c, &mla, &err), &err, WH_E_MISSING, "general.architecture", "none");
    g_init(&g);
    g_kv_str(&g, "general.architecture", "gpt2");
    check_err(gguf_cfg(&g, &c, &mla, &err), &err, WH_E_UNSUPPORTED, "\"gpt2\"", "gpt2");
    /* a value beyond 2^30, a wrong type, a missing required key */
    gguf_cfg_base(&g, "llama");
    g_kv_u32(&g, "llama.context_length", (1u << 30) + 1);
    check_err(gguf_cfg(&g, &c, &mla, &err), &err, WH_E_INVALID, "out of range", "2^30");
    gguf_cfg_base(&g, "llama");
    g_kv_str(&g, "llama.rope.freq_base", "x");
    check_err(gguf_cfg(&g, &c, &mla, &err), &err, WH_E_FORMAT, "expected a number", "f32");
    g_init(&g);
    g_kv_str(&g, "general.architecture", "qwen2");
    check_err(gguf_cfg(&g, &c, &mla, &err), &err, WH_E_MISSING, "block_count", "missing");
    /* deepseek2: key_length < rope dims; nextn > block_count */
    gguf_cfg_base(&g, "deepseek2");
    g_kv_u32(&g, "deepseek2.attention.key_length_mla", 4);
    check_err(gguf_cfg(&g, &c, &mla, &err), &err, WH_E_INVALID, "smaller than", "key_length");
    gguf_cfg_base(&g, "deepseek2");
    g_kv_u32(&g, "deepseek2.nextn_predict_layers", 3);
    check_err(gguf_cfg(&g, &c, &mla, &err), &err, WH_E_INVALID, "exceeds block_count", "nextn");
    gguf_cfg_base(&g, "deepseek2");
    g_kv_str(&g, "deepseek2.expert_weights_norm", "yes");
    check_err(gguf_cfg(&g, &c, &mla, &err), &err, WH_E_FORMAT, "expected a bool", "norm");
    gguf_cfg_base(&g, "deepseek2");
    g_kv_u32(&g, "deepseek2.rope.scaling.type", 1);
    check_err(gguf_cfg(&g, &c, &mla, &err), &err, WH_E_FORMAT, "expected a string", "rst");
    /* deepseek2 with yarn, MLA split layout, sigmoid gating, groups, vocab from tokens */
    gguf_cfg_base(&g, "deepseek2");
    g_kv_u32(&g, "deepseek2.attention.key_length_mla", 24);
    g_kv_u32(&g, "deepseek2.attention.value_length_mla", 8);
    g_kv_u32(&g, "deepseek2.expert_gating_func", 2);
    g_kv_str(&g, "deepseek2.rope.scaling.type", "yarn");
    g_kv_f32(&g, "deepseek2.rope.scaling.factor", 40);
    g_kv_u32(&g, "deepseek2.rope.scaling.original_context_length", 4096);
    g_kv_f32(&g, "deepseek2.rope.scaling.yarn_log_multiplier", 0.1f);
    g_kv_u32(&g, "tokenizer.ggml.bos_token_id", 1);
    g_kv_u32(&g, "tokenizer.ggml.eos_token_id", 2);
    g_key(&g, "tokenizer.ggml.tokens", WH_GGUF_ARRAY);
    g_arr(&g, &g.kv, WH_GGUF_STRING, 3);
    for (int i = 0; i < 3; i++)
        g_str(&g, &g.kv, "a", 1);
    assert_int_equal(gguf_cfg(&g, &c, &mla, &err), WH_OK);
    assert_int_equal(mla, 1);
    assert_int_equal(c.arch, WH_ARCH_DEEPSEEK_V3);
    assert_int_equal(c.rope_scaling, WH_ROPE_YARN);
    assert_int_equal(c.vocab_size, 3);
    assert_int_equal(c.bos_token_id, 1);
    gguf_cfg_base(&g, "deepseek2");
    g_kv_u32(&g, "deepseek2.expert_group_count", 4);
    g_kv_str(&g, "deepseek2.rope.scaling.type", "none");
    assert_int_equal(gguf_cfg(&g, &c, &mla, &err), WH_OK);
    assert_int_equal(c.topk_method, WH_TOPK_GROUP_LIMITED);
    gguf_cfg_base(&g, "deepseek2");
    g_kv_str(&g, "deepseek2.rope.scaling.type", "yarn");
    check_err(gguf_cfg(&g, &c, &mla, &err), &err, WH_E_MISSING, "rope.scaling.factor", "yarn");
    /* qwen2 with a q bias and an output tensor; llama with a token_embd tensor */
    gguf_cfg_base(&g, "qwen2");
    uint64_t ne[2] = {32, 10};
    g_tensor(&g, "blk.0.attn_q.bias", 17, 1, ne, 0, 0);
    g_tensor(&g, "output.weight", 13, 2, ne, 0, 128);
    g_tensor(&g, "token_embd.weight", 17, 2, ne, 0, 2048);
    g.data_bytes = 4096;
    assert_int_equal(gguf_cfg(&g, &c, &mla, &err), WH_OK);
    assert_true(c.attention_bias);
    assert_false(c.tie_word_embeddings);
    assert_int_equal(c.vocab_size, 10);
}

/* ---- tokenizer.json ---- */

/* {"model":{"type":"BPE","vocab":{all 256 bytes, "ab":256},"merges":["a b"]}, REST} */
static char *tok_json(const char *rest)
{
    buf b = {0};
    const char *head = "{\"model\":{\"type\":\"BPE\",\"vocab\":{";
    b_put(&b, head, strlen(head));
    for (int i = 0; i < 256; i++) {
        char sp[8], item[32];
        int n = tok_utf8_encode(tok_byte_to_cp((uint8_t)i), sp);
        sp[n] = '\0';
        const char *esc = (i == '"' || i == '\\') ? "\\" : "";
        snprintf(item, sizeof item, "\"%s%s\":%d,", esc, sp, i);
        b_put(&b, item, strlen(item));
    }
    const char *tail = "\"ab\":256},\"merges\":[\"a b\"]}";
    b_put(&b, tail, strlen(tail));
    if (rest != NULL && rest[0] != '\0') {
        b_put(&b, ",", 1);
        b_put(&b, rest, strlen(rest));
    }
    b_put(&b, "}", 2);
    return (char *)b.p;
}

static int tok_load(const char *json, size_t len, const char *cfg, wh_tokenizer **t, wh_error *err)
{
    memset(err, 0, sizeof *err);
    int rc = wh_tokenizer_load_json_mem(json, len, cfg, cfg ? strlen(cfg) : 0, "tok.json", t, err);
    if (rc != WH_OK)
        assert_null(*t);
    return rc;
}

/* The 256-byte vocabulary with REST, expecting an error (or success when want is 1). */
static void tok_rest_expect(const char *rest, const char *cfg, int want, const char *sub)
{
    char *json = tok_json(rest);
    wh_tokenizer *t = NULL;
    wh_error err;
    int rc = tok_load(json, strlen(json), cfg, &t, &err);
    if (want == 1) {
        if (rc != WH_OK)
            fail_msg("%s: %s", rest, err.msg);
        wh_tokenizer_free(t);
    } else {
        check_err(rc, &err, want, sub, rest);
    }
    free(json);
}

static void tok_text_expect(const char *json, int want, const char *sub)
{
    wh_tokenizer *t = NULL;
    wh_error err;
    check_err(tok_load(json, strlen(json), NULL, &t, &err), &err, want, sub, json);
}

static void test_tokenizer_json_pre(void **state)
{
    (void)state;
    tok_rest_expect("\"pre_tokenizer\":{\"kind\":1}", NULL, WH_E_FORMAT, "without a \"type\"");
    tok_rest_expect("\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":true}", NULL,
                    WH_E_UNSUPPORTED, "add_prefix_space");
    tok_rest_expect("\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"use_regex\":false}", NULL, 1,
                    NULL);
    tok_rest_expect("\"pre_tokenizer\":{\"type\":\"Split\",\"behavior\":\"Isolated\"}", NULL,
                    WH_E_FORMAT, "without a pattern");
    tok_rest_expect("\"pre_tokenizer\":{\"type\":\"Split\",\"behavior\":\"Removed\","
                    "\"pattern\":{\"Regex\":\"a\"}}",
                    NULL, WH_E_UNSUPPORTED, "Isolated");
    tok_rest_expect("\"pre_tokenizer\":{\"type\":\"Split\",\"behavior\":\"Isolated\","
                    "\"pattern\":{\"Regex\":\"(\"}}",
                    NULL, WH_E_FORMAT, "regex");
    /* a String pattern is matched literally ("." is no wildcard) and isolated */
    char *json = tok_json("\"pre_tokenizer\":{\"type\":\"Split\",\"behavior\":\"Isolated\","
                          "\"pattern\":{\"String\":\".\"}}");
    wh_tokenizer *t = NULL;
    wh_error err;
    if (tok_load(json, strlen(json), NULL, &t, &err) != WH_OK)
        fail_msg("String pattern: %s", err.msg);
    free(json);
    int32_t *ids = NULL;
    size_t n_ids = 0;
    assert_int_equal(wh_tokenizer_encode(t, "ab.ab", 5, 0, &ids, &n_ids, &err), WH_OK);
    assert_int_equal(n_ids, 3); /* "ab" "." "ab": the merge applies within pieces */
    assert_int_equal(ids[0], 256);
    assert_int_equal(ids[1], '.');
    assert_int_equal(ids[2], 256);
    wh_free(ids);
    wh_tokenizer_free(t);
    tok_rest_expect("\"pre_tokenizer\":{\"type\":\"Sequence\"}", NULL, WH_E_FORMAT,
                    "without a list");
    tok_rest_expect("\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":["
                    "{\"type\":\"Digits\",\"individual_digits\":true},{\"type\":\"Digits\"},"
                    "{\"type\":\"Whitespace\"}]}",
                    NULL, WH_E_UNSUPPORTED, "\"Whitespace\" is not supported");
    /* nine splits, and eight then ByteLevel's own */
    char seq[2048] = "\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[";
    for (int i = 0; i < 9; i++)
        strcat(seq, "{\"type\":\"Digits\"},");
    strcat(seq, "{\"type\":\"Digits\"}]}");
    tok_rest_expect(seq, NULL, WH_E_UNSUPPORTED, "more than 8 pre-tokenizer splits");
    strcpy(seq, "\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[");
    for (int i = 0; i < 8; i++)
        strcat(seq, "{\"type\":\"Digits\"},");
    strcat(seq, "{\"type\":\"ByteLevel\"}]}");
    tok_rest_expect(seq, NULL, WH_E_UNSUPPORTED, "too many pre-tokenizers");
    /* normalizers */
    tok_rest_expect("\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFC\"}]}",
                    NULL, 1, NULL);
    tok_rest_expect("\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFKC\"}]}",
                    NULL, WH_E_UNSUPPORTED, "\"NFKC\"");
    tok_rest_expect("\"normalizer\":{\"type\":\"Sequence\"}", NULL, 1, NULL);
    tok_rest_expect("\"normalizer\":[]", NULL, WH_E_UNSUPPORTED, "\"?\"");
    tok_rest_expect("\"normalizer\":null,\"pre_tokenizer\":null", NULL, 1, NULL);
    /* added tokens */
    tok_rest_expect("\"added_tokens\":[{\"id\":\"7\",\"content\":\"x\"}]", NULL, WH_E_FORMAT,
                    "needs an integer id");
    tok_rest_expect("\"added_tokens\":[{\"id\":7,\"content\":5}]", NULL, WH_E_FORMAT,
                    "needs an integer id");
    tok_rest_expect("\"added_tokens\":[{\"id\":-1,\"content\":\"x\"}]", NULL, WH_E_FORMAT,
                    "out of range");
    tok_rest_expect("\"added_tokens\":[{\"id\":300,\"content\":\"x\"},"
                    "{\"id\":300,\"content\":\"y\"}]",
                    NULL, WH_E_FORMAT, "given twice");
}

static void test_tokenizer_json_model(void **state)
{
    (void)state;
    /* the config: bad JSON, not an object, tokens by name or {"content"} */
    tok_rest_expect("", "{\"bos_token\":", WH_E_FORMAT, "JSON error");
    tok_rest_expect("", "[1]", WH_E_FORMAT, "top level is not an object");
    tok_rest_expect("", "{} x", WH_E_FORMAT, "text after the JSON value");
    tok_rest_expect("\"added_tokens\":[{\"id\":257,\"content\":\"<s>\",\"special\":true}]",
                    "{\"bos_token\":{\"content\":\"<s>\"},\"eos_token\":\"<s>\","
                    "\"add_bos_token\":true}",
                    1, NULL);
    /* the model: no vocab, an empty vocabulary, unsupported options */
    tok_text_expect("{\"model\":{\"type\":\"BPE\"}}", WH_E_MISSING, "no \"vocab\"");
    tok_text_expect("{\"x\":1}", WH_E_MISSING, "no \"model\"");
    tok_text_expect("{\"model\":{\"vocab\":{}}}", WH_E_FORMAT, "empty vocabulary");
    tok_text_expect("{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0}}}", WH_E_UNSUPPORTED,
                    "\"WordPiece\"");
    tok_text_expect("{\"model\":{\"vocab\":{\"a\":0},\"byte_fallback\":true}}", WH_E_UNSUPPORTED,
                    "byte fallback");
    tok_text_expect("{\"model\":{\"vocab\":{\"a\":0},\"continuing_subword_prefix\":\"##\"}}",
                    WH_E_UNSUPPORTED, "byte fallback");
    tok_text_expect("{\"model\":{\"vocab\":{\"a\":0},\"end_of_word_suffix\":\"</w>\"}}",
                    WH_E_UNSUPPORTED, "byte fallback");
    /* merges before vocab, values of every kind beside them */
    const char *mv = "{\"model\":{\"merges\":[],\"vocab\":{\"a\":0,\"b\":1,\"ab\":2}},"
                     "\"x\":[1,{\"y\":\"z\\n\"},true,null]}";
    wh_tokenizer *t = NULL;
    wh_error err;
    if (tok_load(mv, strlen(mv), NULL, &t, &err) != WH_OK)
        fail_msg("%s", err.msg);
    wh_tokenizer_free(t);
    /* the scanner: escapes, numbers, nesting, merges in both forms */
    tok_text_expect("{\"model\":{\"vocab\":{\"a\\q\":0}}}", WH_E_FORMAT, "bad escape");
    tok_text_expect("{\"model\":{\"vocab\":{\"\\ud800x\":0}}}", WH_E_FORMAT, "lone high surrogate");
    tok_text_expect("{\"model\":{\"vocab\":{\"\\udc00\":0}}}", WH_E_FORMAT, "lone low surrogate");
    tok_text_expect("{\"model\":{\"vocab\":{\"\\u12\":0}}}", WH_E_FORMAT, "bad \\u escape");
    tok_text_expect("{\"model\":{\"vocab\":{\"a\":1.5}}}", WH_E_FORMAT, "fraction");
    tok_text_expect("{\"model\":{\"vocab\":{\"a\":99999999999999999999}}}", WH_E_FORMAT,
                    "too large");
    tok_text_expect("{\"model\":{\"vocab\":{\"a\":-}}}", WH_E_FORMAT, "expected an integer");
    tok_text_expect("{\"model\":{\"vocab\":{\"a\":0}],\"x\":1}", WH_E_FORMAT, NULL);
    tok_text_expect("{\"model\":{\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[[\"a\"]]}}",
                    WH_E_FORMAT, "expected ','");
    tok_text_expect("{\"model\":{\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a b c\"]}}",
                    WH_E_FORMAT, "not two tokens");
    tok_text_expect("{\"model\":{\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a x\"]}}",
                    WH_E_FORMAT, "not in the vocabulary");
    tok_text_expect("{\"model\":{\"vocab\":{\"a\":0,\"b\":1},\"merges\":[[\"a\",\"b\"]]}}",
                    WH_E_FORMAT, "merged token is not in the vocabulary");
    char deep[1200];
    strcpy(deep, "{\"x\":");
    for (int i = 0; i < 520; i++)
        strcat(deep, "[");
    tok_text_expect(deep, WH_E_FORMAT, "nesting too deep");
    tok_text_expect("{\"model\":{\"vocab\":{\"a\":0}}, \"x\":]}", WH_E_FORMAT,
                    "unexpected bracket");
    tok_text_expect("{\"model\":{\"vocab\":{\"a\x01\":0}}}", WH_E_FORMAT, "control character");
    tok_text_expect("{\"model\":{\"vocab\":{\"\\n\x01\":0}}}", WH_E_FORMAT, "control character");
    tok_text_expect("{\"model\":{\"vocab\":{\"\\n", WH_E_FORMAT, "unterminated");
    /* too large for json-c's int lengths: rejected before a byte is read */
    check_err(tok_load("{}", (size_t)INT32_MAX + 1, NULL, &t, &err), &err, WH_E_FORMAT, "too large",
              "huge");
    /* json-c out of memory */
    char *json = tok_json("");
    g_jfail = 1;
    int rc = tok_load(json, strlen(json), NULL, &t, &err);
    g_jfail = 0;
    check_err(rc, &err, WH_E_NOMEM, "out of memory", "tokener");
    assert_int_equal(tok_load(json, strlen(json), NULL, &t, &err), WH_OK);
    wh_tokenizer_free(t);
    free(json);
}

/* ---- GGUF vocabularies as in-memory wh_gguf structures ---- */

static wh_gguf_kv kv_str(const char *key, const char *v)
{
    wh_gguf_kv kv;
    memset(&kv, 0, sizeof kv);
    kv.key = (wh_gguf_str){key, strlen(key)};
    kv.type = WH_GGUF_STRING;
    kv.v.s = (wh_gguf_str){v, strlen(v)};
    return kv;
}

static wh_gguf_kv kv_int(const char *key, wh_gguf_type type, uint64_t v)
{
    wh_gguf_kv kv;
    memset(&kv, 0, sizeof kv);
    kv.key = (wh_gguf_str){key, strlen(key)};
    kv.type = type;
    kv.v.u = v;
    return kv;
}

static wh_gguf_kv kv_arr(const char *key, wh_gguf_type et, uint64_t n, const void *data,
                         wh_gguf_str *strs)
{
    wh_gguf_kv kv;
    memset(&kv, 0, sizeof kv);
    kv.key = (wh_gguf_str){key, strlen(key)};
    kv.type = WH_GGUF_ARRAY;
    kv.v.arr.type = et;
    kv.v.arr.n = n;
    kv.v.arr.data = data;
    kv.v.arr.strs = strs;
    return kv;
}

static wh_gguf_str g_tokens[4] = {{"a", 1}, {"b", 1}, {"ab", 2}, {"<s>", 3}};
static int32_t g_types[4] = {1, 1, 1, 3};

/* A vocabulary: model, the 4 tokens, their types, then the extra kvs. */
static int vocab_gguf(const wh_gguf_kv *extra, int n_extra, wh_error *err)
{
    wh_gguf_kv kv[16];
    int n = 0;
    kv[n++] = kv_str("tokenizer.ggml.model", "gpt2");
    kv[n++] = kv_arr("tokenizer.ggml.tokens", WH_GGUF_STRING, 4, NULL, g_tokens);
    kv[n++] = kv_arr("tokenizer.ggml.token_type", WH_GGUF_I32, 4, g_types, NULL);
    for (int i = 0; i < n_extra; i++) {
        /* an extra kv replaces one of the same key */
        int k;
        for (k = 0; k < n; k++)
            if (kv[k].key.len == extra[i].key.len &&
                memcmp(kv[k].key.ptr, extra[i].key.ptr, kv[k].key.len) == 0)
                break;
        kv[k] = extra[i];
        if (k == n)
            n++;
    }
    wh_gguf g;
    memset(&g, 0, sizeof g);
    g.path = "vocab.gguf";
    g.kv = kv;
    g.n_kv = (uint64_t)n;
    wh_tokenizer *t = (wh_tokenizer *)1;
    memset(err, 0, sizeof *err);
    int rc = wh_tokenizer_load_gguf(&g, &t, err);
    if (rc == WH_OK)
        wh_tokenizer_free(t);
    else
        assert_null(t);
    return rc;
}

static void vocab_expect(const wh_gguf_kv *extra, int n_extra, int want, const char *sub)
{
    wh_error err;
    check_err(vocab_gguf(extra, n_extra, &err), &err, want, sub, sub);
}

static void test_tokenizer_gguf(void **state)
{
    (void)state;
    wh_error err;
    wh_gguf_str merges_ok[1] = {{"a b", 3}};
    wh_gguf_kv x[3];
    x[0] = kv_arr("tokenizer.ggml.merges", WH_GGUF_STRING, 1, NULL, merges_ok);
    x[1] = kv_str("tokenizer.ggml.pre", "qwen2");
    x[2] = kv_int("tokenizer.ggml.add_bos_token", WH_GGUF_BOOL, 1);
    assert_int_equal(vocab_gguf(x, 3, &err), WH_OK);
    x[0] = kv_int("tokenizer.ggml.bos_token_id", WH_GGUF_U32, 3);
    assert_int_equal(vocab_gguf(x, 1, &err), WH_OK);

    x[0] = kv_str("tokenizer.ggml.model", "llama");
    vocab_expect(x, 1, WH_E_UNSUPPORTED, "\"llama\" is not supported");
    {
        /* no token list at all */
        wh_gguf_kv only[1] = {kv_str("tokenizer.ggml.model", "gpt2")};
        wh_gguf g;
        memset(&g, 0, sizeof g);
        g.path = "vocab.gguf";
        g.kv = only;
        g.n_kv = 1;
        wh_tokenizer *t = NULL;
        check_err(wh_tokenizer_load_gguf(&g, &t, &err), &err, WH_E_MISSING,
                  "no tokenizer.ggml.tokens", "no tokens");
    }
    x[0] = kv_int("tokenizer.ggml.model", WH_GGUF_U32, 1);
    vocab_expect(x, 1, WH_E_FORMAT, "expected a string");
    x[0] = kv_str("tokenizer.ggml.tokens", "abc");
    vocab_expect(x, 1, WH_E_FORMAT, "not an array of the expected type");
    x[0] = kv_arr("tokenizer.ggml.token_type", WH_GGUF_U8, 4, g_types, NULL);
    vocab_expect(x, 1, WH_E_FORMAT, "not an array of the expected type");
    x[0] = kv_arr("tokenizer.ggml.tokens", WH_GGUF_STRING, 0, NULL, g_tokens);
    vocab_expect(x, 1, WH_E_FORMAT, "has 0 entries");
    x[0] = kv_arr("tokenizer.ggml.tokens", WH_GGUF_STRING, (uint64_t)1 << 25, NULL, NULL);
    vocab_expect(x, 1, WH_E_FORMAT, "entries");
    x[0] = kv_arr("tokenizer.ggml.token_type", WH_GGUF_I32, 3, g_types, NULL);
    vocab_expect(x, 1, WH_E_FORMAT, "token_type has 3 entries");
    int32_t bad_types[4] = {1, 9, 1, 1};
    x[0] = kv_arr("tokenizer.ggml.token_type", WH_GGUF_I32, 4, bad_types, NULL);
    vocab_expect(x, 1, WH_E_FORMAT, "is not a token type");
    /* more merges than ranks: the count is checked before any string is read */
    x[0] = kv_arr("tokenizer.ggml.merges", WH_GGUF_STRING, (uint64_t)INT32_MAX + 1, NULL, NULL);
    vocab_expect(x, 1, WH_E_FORMAT, "merges");
    static wh_gguf_str bad_merges[3] = {{"ab", 2}, {" b", 2}, {"a ", 2}};
    for (int i = 0; i < 3; i++) {
        x[0] = kv_arr("tokenizer.ggml.merges", WH_GGUF_STRING, 1, NULL, &bad_merges[i]);
        vocab_expect(x, 1, WH_E_FORMAT, "is not \"a b\"");
    }
    static wh_gguf_str unknown_merge[1] = {{"a c", 3}};
    x[0] = kv_arr("tokenizer.ggml.merges", WH_GGUF_STRING, 1, NULL, unknown_merge);
    vocab_expect(x, 1, WH_E_FORMAT, "not in the vocabulary");
    x[0] = kv_str("tokenizer.ggml.pre", "nonesuch");
    vocab_expect(x, 1, WH_E_UNSUPPORTED, "tokenizer.ggml.pre");
    x[0] = kv_int("tokenizer.ggml.pre", WH_GGUF_U32, 1);
    vocab_expect(x, 1, WH_E_FORMAT, "expected a string");
    /* BOS/EOS ids beyond the vocabulary, or not integers */
    x[0] = kv_int("tokenizer.ggml.bos_token_id", WH_GGUF_U32, 4);
    vocab_expect(x, 1, WH_E_FORMAT, "BOS id");
    x[0] = kv_int("tokenizer.ggml.eos_token_id", WH_GGUF_U32, 99);
    vocab_expect(x, 1, WH_E_FORMAT, "EOS id");
    x[0] = kv_str("tokenizer.ggml.bos_token_id", "1");
    vocab_expect(x, 1, WH_E_FORMAT, "expected an integer");
    x[0] = kv_str("tokenizer.ggml.eos_token_id", "1");
    vocab_expect(x, 1, WH_E_FORMAT, "expected an integer");
    x[0] = kv_str("tokenizer.ggml.add_bos_token", "yes");
    vocab_expect(x, 1, WH_E_FORMAT, "expected a bool");
    /* allocation failures, each reported */
    long n;
    for (n = 1; n < 1000; n++) {
        wh_alloc_fail_at(n);
        x[0] = kv_arr("tokenizer.ggml.merges", WH_GGUF_STRING, 1, NULL, merges_ok);
        int rc = vocab_gguf(x, 1, &err);
        long used = wh_alloc_count();
        wh_alloc_fail_at(0);
        if (rc == WH_OK && used < n)
            break;
        if (rc != WH_OK)
            check_err(rc, &err, WH_E_NOMEM, "out of memory", "vocab nomem");
    }
    assert_true(n > 5);
}

/* ---- token tables, called directly ---- */

static void test_vocab_direct(void **state)
{
    (void)state;
    wh_error err;
    wh_tokenizer *t = wh_calloc(1, sizeof *t);
    assert_int_equal(tok_alloc_ids(t, 4, &err), WH_OK);
    /* ids the loaders have range-checked already */
    check_err(tok_set_token(t, -1, "a", 1, WH_TOKEN_NORMAL, &err), &err, WH_E_FORMAT,
              "out of range", "set -1");
    check_err(tok_set_token(t, 4, "a", 1, WH_TOKEN_NORMAL, &err), &err, WH_E_FORMAT, "out of range",
              "set 4");
    check_err(tok_add_added(t, 4, "x", 1, 1, 0, 0, 0, &err), &err, WH_E_FORMAT, "out of range",
              "added 4");
    check_err(tok_add_added(t, -1, "x", 1, 1, 0, 0, 0, &err), &err, WH_E_FORMAT, "out of range",
              "added -1");
    /* token texts at the 4 GiB limit of their 32-bit offsets */
    size_t keep = t->pool.len;
    t->pool.len = UINT32_MAX;
    check_err(tok_set_token(t, 0, "a", 1, WH_TOKEN_NORMAL, &err), &err, WH_E_FORMAT, "4 GiB",
              "4 GiB");
    assert_int_equal(tok_add_added(t, 1, "", 0, 1, 0, 0, 0, &err), WH_OK); /* a first node */
    check_err(tok_add_added(t, 2, "x", 1, 1, 0, 0, 0, &err), &err, WH_E_NOMEM, "token texts",
              "added 4 GiB");
    t->pool.len = keep;
    /* out of memory: a piece longer than the pool's room, the merge table, the trie */
    char big[6000];
    memset(big, 'a', sizeof big);
    wh_alloc_fail_at(1);
    int rc = tok_set_token(t, 0, big, sizeof big, WH_TOKEN_NORMAL, &err);
    wh_alloc_fail_at(0);
    check_err(rc, &err, WH_E_NOMEM, "out of memory", "piece");
    wh_alloc_fail_at(1);
    rc = tok_merges_alloc(t, 8, &err);
    wh_alloc_fail_at(0);
    check_err(rc, &err, WH_E_NOMEM, "out of memory", "merges");
    wh_tokenizer_free(t);

    t = wh_calloc(1, sizeof *t);
    assert_int_equal(tok_alloc_ids(t, 8, &err), WH_OK);
    wh_alloc_fail_at(1);
    rc = tok_add_added(t, 0, "<x>", 3, 1, 0, 0, 0, &err);
    wh_alloc_fail_at(0);
    check_err(rc, &err, WH_E_NOMEM, "out of memory", "trie root");
    wh_alloc_fail_at(2);
    rc = tok_add_added(t, 0, "<x>", 3, 1, 0, 0, 0, &err);
    wh_alloc_fail_at(0);
    check_err(rc, &err, WH_E_NOMEM, "out of memory", "added table");
    /* long pieces whose merge needs a bigger scratch buffer */
    memset(big, 'a', 3000);
    memset(big + 3000, 'b', 3000);
    assert_int_equal(tok_set_token(t, 1, big, 3000, WH_TOKEN_NORMAL, &err), WH_OK);
    assert_int_equal(tok_set_token(t, 2, big + 3000, 3000, WH_TOKEN_NORMAL, &err), WH_OK);
    assert_int_equal(tok_set_token(t, 3, big, 6000, WH_TOKEN_NORMAL, &err), WH_OK);
    assert_int_equal(tok_build_vocab_hash(t, 1, "t", &err), WH_OK);
    assert_int_equal(tok_merges_alloc(t, 4, &err), WH_OK);
    tok_pool_free(&t->scratch);
    t->scratch.data = wh_malloc(16);
    t->scratch.cap = 16;
    int nomem = 0;
    for (long n = 1; n < 10; n++) {
        wh_alloc_fail_at(n);
        rc = tok_add_merge(t, big, 3000, big + 3000, 3000, 0, "t", &err);
        long used = wh_alloc_count();
        wh_alloc_fail_at(0);
        if (rc == WH_OK && used < n)
            break;
        if (rc != WH_OK) {
            check_err(rc, &err, WH_E_NOMEM, "out of memory", "merge scratch");
            nomem++;
        }
        tok_pool_free(&t->scratch);
    }
    assert_true(nomem > 0);
    /* tok_finish: out of memory decoding an added token; a BOS below -1 */
    assert_int_equal(tok_add_added(t, 4, "<x>", 3, 1, 0, 0, 0, &err), WH_OK);
    tok_pool_free(&t->scratch);
    t->bos = t->eos = -1;
    wh_alloc_fail_at(1);
    rc = tok_finish(t, "t", &err);
    wh_alloc_fail_at(0);
    check_err(rc, &err, WH_E_NOMEM, "out of memory", "finish");
    t->bos = -5;
    check_err(tok_finish(t, "t", &err), &err, WH_E_FORMAT, "BOS id", "bos -5");
    t->bos = -1;
    t->eos = -5;
    check_err(tok_finish(t, "t", &err), &err, WH_E_FORMAT, "EOS id", "eos -5");
    wh_tokenizer_free(t);
}

/* ---- encode and decode ---- */

static void test_encode_errors(void **state)
{
    (void)state;
    wh_error err;
    wh_tokenizer *t = NULL;
    char *json = tok_json("\"added_tokens\":[{\"id\":257,\"content\":\"<s>\",\"special\":true,"
                          "\"lstrip\":true,\"rstrip\":true}]");
    assert_int_equal(tok_load(json, strlen(json), NULL, &t, &err), WH_OK);
    free(json);
    int32_t *ids = NULL;
    size_t n_ids = 0;
    check_err(wh_tokenizer_encode(t, NULL, 3, 0, &ids, &n_ids, &err), &err, WH_E_INVALID,
              "NULL text", "null");
    int32_t bad[2] = {1, 300};
    char *text = NULL;
    size_t len = 0;
    check_err(wh_tokenizer_decode(t, bad, 2, 0, &text, &len, &err), &err, WH_E_INVALID,
              "out of range", "decode");
    bad[1] = -1;
    check_err(wh_tokenizer_decode(t, bad, 2, 0, &text, &len, &err), &err, WH_E_INVALID,
              "out of range", "decode -1");
    /* more ids than the first guess (len / 4 + 16): every invalid byte is a word; with the
     * allocation that grows the id array failing */
    char many[400];
    memset(many, 0xff, sizeof many);
    memcpy(many + 100, "ab <s> ab", 9);
    int nomem = 0;
    long n;
    for (n = 1; n < 1000; n++) {
        wh_alloc_fail_at(n);
        int rc =
            wh_tokenizer_encode(t, many, sizeof many, WH_TOK_PARSE_SPECIAL, &ids, &n_ids, &err);
        long used = wh_alloc_count();
        wh_alloc_fail_at(0);
        if (rc == WH_OK) {
            wh_free(ids);
            if (used < n)
                break;
            continue;
        }
        check_err(rc, &err, WH_E_NOMEM, "out of memory", "encode nomem");
        nomem++;
    }
    assert_true(nomem > 1);
    assert_int_equal(
        wh_tokenizer_encode(t, many, sizeof many, WH_TOK_PARSE_SPECIAL, &ids, &n_ids, &err), WH_OK);
    assert_true(n_ids > sizeof many / 4 + 16);
    wh_free(ids);
    wh_tokenizer_free(t);

    /* hostile pre-tokenizer regexes: a match limit, a heap limit (interpreter) */
    static const char *limits[] = {
        "\"pre_tokenizer\":{\"type\":\"Split\",\"behavior\":\"Isolated\",\"pattern\":"
        "{\"Regex\":\"(*NO_JIT)(*LIMIT_MATCH=10)(a|b)*c\"}}",
        "\"pre_tokenizer\":{\"type\":\"Split\",\"behavior\":\"Isolated\",\"pattern\":"
        "{\"Regex\":\"(*NO_JIT)(*LIMIT_HEAP=1)(a|b)*c\"}}",
    };
    static const int want[] = {WH_E_INVALID, WH_E_NOMEM};
    for (int i = 0; i < 2; i++) {
        json = tok_json(limits[i]);
        if (tok_load(json, strlen(json), NULL, &t, &err) != WH_OK)
            fail_msg("%s", err.msg);
        free(json);
        char text2[20000];
        memset(text2, 'a', sizeof text2);
        text2[sizeof text2 - 1] = 'c';
        int rc = wh_tokenizer_encode(t, text2, sizeof text2, 0, &ids, &n_ids, &err);
        if (rc == WH_OK)
            wh_free(ids);
        check_err(rc, &err, want[i], "pre-tokenizer", limits[i]);
        wh_tokenizer_free(t);
    }
}

/* ---- the server API ---- */

static void api_expect(wh_api_kind kind, const char *body, int status, const char *sub)
{
    wh_api_request rq;
    wh_api_error e;
    memset(&e, 0, sizeof e);
    int rc = wh_api_parse(kind, body, body ? strlen(body) : 0, &rq, &e);
    wh_api_request_free(&rq);
    if (rc == 0)
        fail_msg("%s: accepted", body);
    if (e.status != status || strstr(e.message, sub) == NULL)
        fail_msg("%s: %d \"%s\", expected %d \"%s\"", body, e.status, e.message, status, sub);
}

#define MSG "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"

static void test_api_requests(void **state)
{
    (void)state;
    wh_api_kind C = WH_API_CHAT, P = WH_API_COMPLETION;
    api_expect(C, NULL, 400, "empty");
    api_expect(C, "{'a':1}", 400, "single quote");
    api_expect(C, "null", 400, "must be a JSON object");
    api_expect(C, "{\"a\":1} x", 400, "not valid JSON");
    {
        /* json-c stops at a NUL: what follows it is extra data */
        wh_api_request rq0;
        wh_api_error e0;
        memset(&e0, 0, sizeof e0);
        assert_int_equal(wh_api_parse(C, "{} \0x", 5, &rq0, &e0), -1);
        wh_api_request_free(&rq0);
        if (strstr(e0.message, "extra data") == NULL && strstr(e0.message, "not valid") == NULL)
            fail_msg("NUL: %s", e0.message);
    }
    api_expect(C, "{\"a\":", 400, "not valid JSON");
    api_expect(C, "[1]", 400, "must be a JSON object");
    api_expect(C, "{\"model\":1," MSG "}", 400, "Invalid type for 'model'");
    api_expect(C, "{}", 400, "'messages'");
    api_expect(C, "{\"messages\":{}}", 400, "expected an array");
    api_expect(C, "{\"messages\":[]}", 400, "at least one message");
    api_expect(C, "{\"messages\":[1]}", 400, "messages[0]");
    api_expect(C, "{\"messages\":[{\"content\":\"x\"}]}", 400, "messages[0].role");
    api_expect(C, "{\"messages\":[{\"role\":\"king\",\"content\":\"x\"}]}", 400, "must be one of");
    api_expect(C, "{\"messages\":[{\"role\":\"user\"}]}", 400, "messages[0].content");
    api_expect(C, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\\u0000b\"}]}", 400, "NUL");
    api_expect(C, "{\"messages\":[{\"role\":\"user\",\"content\":5}]}", 400,
               "a string or an array");
    api_expect(C, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image\"}]}]}", 400,
               "Invalid content part 0");
    api_expect(C,
               "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
               "\"text\":\"a\\u0000\"}]}]}",
               400, "NUL");
    api_expect(C, "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":{}}]}", 400,
               "expected an array");
    api_expect(C, "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[1]}]}", 400,
               "\"function\" object");
    api_expect(C,
               "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"type\":1,"
               "\"function\":{}}]}]}",
               400, "expected a string");
    api_expect(C, "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"function\":{}}]}]}",
               400, "\"name\"");
    api_expect(C,
               "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"function\":"
               "{\"name\":\"f\"}}]}]}",
               400, "\"arguments\"");
    api_expect(C,
               "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"function\":"
               "{\"name\":1,\"arguments\":\"{}\"}}]}]}",
               400, "expected a string");
    api_expect(C,
               "{\"messages\":[{\"role\":\"assistant\",\"content\":\"x\","
               "\"reasoning_content\":7}]}",
               400, "reasoning_content");
    api_expect(P, "{}", 400, "'prompt'");
    api_expect(P, "{\"prompt\":[\"a\",\"b\"]}", 400, "one prompt");
    api_expect(P, "{\"prompt\":[5]}", 400, "expected a string");
    api_expect(C, "{" MSG ",\"stream\":1}", 400, "a boolean");
    api_expect(C, "{" MSG ",\"stream_options\":1}", 400, "an object");
    api_expect(C, "{" MSG ",\"stream_options\":{}}", 400, "only allowed when");
    api_expect(C, "{" MSG ",\"stream\":true,\"stream_options\":{\"include_usage\":0}}", 400,
               "a boolean");
    api_expect(C, "{" MSG ",\"max_tokens\":0}", 400, "max_tokens");
    api_expect(C, "{" MSG ",\"max_tokens\":1.5}", 400, "an integer");
    api_expect(C, "{" MSG ",\"max_completion_tokens\":-1}", 400, "max_completion_tokens");
    api_expect(C, "{" MSG ",\"temperature\":\"hot\"}", 400, "a number");
    api_expect(C, "{" MSG ",\"temperature\":3}", 400, "between 0 and 2");
    api_expect(C, "{" MSG ",\"top_p\":2}", 400, "top_p");
    api_expect(C, "{" MSG ",\"presence_penalty\":3}", 400, "presence_penalty");
    api_expect(C, "{" MSG ",\"frequency_penalty\":-3}", 400, "frequency_penalty");
    api_expect(C, "{" MSG ",\"min_p\":2}", 400, "min_p");
    api_expect(C, "{" MSG ",\"repetition_penalty\":0}", 400, "repetition_penalty");
    api_expect(C, "{" MSG ",\"top_k\":-1}", 400, "top_k");
    api_expect(C, "{" MSG ",\"seed\":\"x\"}", 400, "an integer");
    api_expect(C, "{" MSG ",\"n\":17}", 400, "'n'");
    api_expect(C, "{" MSG ",\"think_budget\":-2}", 400, "think_budget");
    api_expect(C, "{" MSG ",\"stop\":5}", 400, "a string or an array");
    api_expect(C, "{" MSG ",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", 400, "at most 4");
    api_expect(C, "{" MSG ",\"stop\":[\"\"]}", 400, "must not be empty");
    api_expect(C, "{" MSG ",\"stop\":[3]}", 400, "expected a string");
    char longstop[400];
    snprintf(longstop, sizeof longstop, "{" MSG ",\"stop\":\"%0300d\"}", 0);
    api_expect(C, longstop, 400, "at most 256 bytes");
    api_expect(C, "{" MSG ",\"logit_bias\":[]}", 400, "logit_bias");
    api_expect(C, "{" MSG ",\"logit_bias\":{\"x\":1}}", 400, "token ids");
    api_expect(C, "{" MSG ",\"logit_bias\":{\"99999999999\":1}}", 400, "token ids");
    api_expect(C, "{" MSG ",\"logit_bias\":{\"5\":\"x\"}}", 400, "numbers as values");
    api_expect(C, "{" MSG ",\"logit_bias\":{\"5\":101}}", 400, "between -100 and 100");
    api_expect(C, "{" MSG ",\"logprobs\":true}", 400, "not supported");
    /* json-c out of memory */
    g_jfail = 1;
    api_expect(C, "{" MSG "}", 500, "out of memory");
    g_jfail = 0;

    /* a request that uses every field, then its generation parameters */
    const char *full =
        "{\"model\":\"m\",\"messages\":[{\"role\":\"developer\",\"content\":\"be brief\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
        "{\"type\":\"text\",\"text\":\"b\"}]},"
        "{\"role\":\"assistant\",\"reasoning_content\":\"r\",\"tool_calls\":[{\"type\":"
        "\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},"
        "{\"role\":\"tool\",\"content\":\"1\"}],"
        "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"max_tokens\":8,"
        "\"max_completion_tokens\":9,\"temperature\":0.5,\"top_p\":0,\"presence_penalty\":0.1,"
        "\"frequency_penalty\":0.2,\"min_p\":0.05,\"repetition_penalty\":1.1,\"top_k\":4,"
        "\"seed\":7,\"n\":2,\"think_budget\":16,\"stop\":\"x\","
        "\"logit_bias\":{\"5\":-100,\"6\":2.5},\"logprobs\":false}";
    wh_api_request rq;
    wh_api_error e;
    if (wh_api_parse(C, full, strlen(full), &rq, &e) != 0)
        fail_msg("%s", e.message);
    assert_int_equal(rq.max_tokens, 9);
    assert_int_equal(rq.n_logit_bias, 2);
    wh_api_model_info mi = {"m", 64, 100, 1};
    wh_gen_params gp;
    assert_int_equal(wh_api_gen_params(&rq, &mi, 10, 1, &gp, &e), 0);
    assert_int_equal(gp.max_tokens, 9);
    assert_int_equal(gp.sampler.top_k, 4);
    assert_int_equal(wh_api_gen_params(&rq, &mi, 64, 0, &gp, &e), -1);
    assert_string_equal(e.code, "context_length_exceeded");
    assert_int_equal(wh_api_gen_params(&rq, &mi, 60, 0, &gp, &e), -1);
    assert_string_equal(e.param, "max_tokens");
    mi.n_vocab = 6;
    assert_int_equal(wh_api_gen_params(&rq, &mi, 10, 0, &gp, &e), -1);
    assert_string_equal(e.param, "logit_bias");
    wh_api_request_free(&rq);
    /* a completion with no max_tokens: the rest of the context */
    const char *comp = "{\"prompt\":[\"hello\"]}";
    if (wh_api_parse(P, comp, strlen(comp), &rq, &e) != 0)
        fail_msg("%s", e.message);
    mi.reasoning = 0;
    assert_int_equal(wh_api_gen_params(&rq, &mi, 60, 0, &gp, &e), 0);
    assert_int_equal(gp.max_tokens, 4);
    assert_int_equal(wh_api_gen_params(&rq, &mi, 70, 0, &gp, &e), -1);
    assert_string_equal(e.param, "prompt");
    wh_api_request_free(&rq);

    /* allocation failures while parsing the full request */
    int nomem = 0;
    long n;
    for (n = 1; n < 1000; n++) {
        wh_alloc_fail_at(n);
        memset(&e, 0, sizeof e);
        int rc = wh_api_parse(C, full, strlen(full), &rq, &e);
        long used = wh_alloc_count();
        wh_alloc_fail_at(0);
        wh_api_request_free(&rq);
        if (rc == 0 && used < n)
            break;
        if (rc != 0) {
            assert_int_equal(e.status, 500);
            assert_non_null(strstr(e.message, "out of memory"));
            nomem++;
        }
    }
    assert_true(nomem >= 3);
    /* the size limit of json-c's int lengths: checked before the body is read */
    memset(&e, 0, sizeof e);
    assert_int_equal(wh_api_parse(C, "{}", (size_t)INT_MAX + 1, &rq, &e), -1);
    assert_int_equal(e.status, 413);
    wh_api_request_free(&rq);
}

/* Every GGUF metadata key of the config, first of the wrong type, then (integers) beyond
 * 2^30: each is reported by name. */
static void test_config_gguf_keys(void **state)
{
    (void)state;
    static const struct {
        const char *arch, *key;
        int is_f32, yarn;
    } keys[] = {
        {"llama", "block_count", 0, 0},
        {"llama", "context_length", 0, 0},
        {"llama", "embedding_length", 0, 0},
        {"llama", "feed_forward_length", 0, 0},
        {"llama", "attention.head_count", 0, 0},
        {"llama", "attention.head_count_kv", 0, 0},
        {"llama", "rope.freq_base", 1, 0},
        {"llama", "attention.layer_norm_rms_epsilon", 1, 0},
        {"llama", "vocab_size", 0, 0},
        {"llama", "attention.key_length", 0, 0},
        {"deepseek2", "nextn_predict_layers", 0, 0},
        {"deepseek2", "attention.q_lora_rank", 0, 0},
        {"deepseek2", "attention.kv_lora_rank", 0, 0},
        {"deepseek2", "rope.dimension_count", 0, 0},
        {"deepseek2", "attention.key_length", 0, 0},
        {"deepseek2", "attention.value_length", 0, 0},
        {"deepseek2", "attention.key_length_mla", 0, 0},
        {"deepseek2", "attention.value_length_mla", 0, 0},
        {"deepseek2", "leading_dense_block_count", 0, 0},
        {"deepseek2", "expert_feed_forward_length", 0, 0},
        {"deepseek2", "expert_count", 0, 0},
        {"deepseek2", "expert_shared_count", 0, 0},
        {"deepseek2", "expert_used_count", 0, 0},
        {"deepseek2", "expert_weights_scale", 1, 0},
        {"deepseek2", "expert_gating_func", 0, 0},
        {"deepseek2", "expert_group_count", 0, 0},
        {"deepseek2", "expert_group_used_count", 0, 0},
        {"deepseek2", "rope.scaling.factor", 1, 1},
        {"deepseek2", "rope.scaling.original_context_length", 0, 1},
        {"deepseek2", "rope.scaling.yarn_log_multiplier", 1, 1},
        {"deepseek2", "rope.scaling.yarn_beta_fast", 1, 1},
        {"deepseek2", "rope.scaling.yarn_beta_slow", 1, 1},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char k[128];
        snprintf(k, sizeof k, "%s.%s", keys[i].arch, keys[i].key);
        for (int pass = 0; pass < 2 - keys[i].is_f32; pass++) {
            gguf_b g;
            g_init(&g);
            if (pass == 0)
                g_kv_str(&g, k, "x");
            else
                g_kv_u32(&g, k, (1u << 30) + 1);
            if (keys[i].yarn) {
                g_kv_str(&g, "deepseek2.rope.scaling.type", "yarn");
                g_kv_f32(&g, "deepseek2.rope.scaling.factor", 4);
                g_kv_u32(&g, "deepseek2.rope.scaling.original_context_length", 4096);
            }
            gguf_cfg_over(&g, keys[i].arch);
            wh_config c;
            wh_error err;
            int mla;
            check_err(gguf_cfg(&g, &c, &mla, &err), &err, pass ? WH_E_INVALID : WH_E_FORMAT, k, k);
        }
    }
    /* bos/eos ids of 2^30 and more, a token list that is not an array, are ignored */
    gguf_b g;
    g_init(&g);
    uint64_t big = (uint64_t)1 << 31;
    g_kv_raw(&g, "tokenizer.ggml.bos_token_id", WH_GGUF_U64, &big, 8);
    g_kv_raw(&g, "tokenizer.ggml.eos_token_id", WH_GGUF_U64, &big, 8);
    g_kv_str(&g, "tokenizer.ggml.tokens", "abc");
    gguf_cfg_over(&g, "llama");
    wh_config c;
    wh_error err;
    int mla;
    assert_int_equal(gguf_cfg(&g, &c, &mla, &err), WH_OK);
    assert_int_equal(c.bos_token_id, -1);
    assert_int_equal(c.vocab_size, 0);
}

/* The scanner's and encoder's less travelled paths that end well or in a plain error. */
static void test_tokenizer_more_paths(void **state)
{
    (void)state;
    wh_error err;
    wh_tokenizer *t = NULL;
    /* every escape, both hex cases and a surrogate pair in vocabulary spellings */
    const char *esc =
        "{\"model\":{\"vocab\":{\"\\\"\\\\\\/\\b\\f\\n\\r\\t\":0,\"\\u00E9\\u00e9\":1,"
        "\"\\ud83d\\ude00\":2,\"x\":3}}}";
    if (tok_load(esc, strlen(esc), NULL, &t, &err) != WH_OK)
        fail_msg("escapes: %s", err.msg);
    wh_tokenizer_free(t);
    /* a NULL name is "tokenizer.json" */
    memset(&err, 0, sizeof err);
    assert_int_equal(wh_tokenizer_load_json_mem("{}", 2, NULL, 0, NULL, &t, &err), WH_E_MISSING);
    assert_non_null(strstr(err.msg, "tokenizer.json"));
    tok_text_expect("{\"model\":{\"vocab\":{\"a\\", WH_E_FORMAT, "unterminated");
    tok_text_expect("{\"model\":{}}", WH_E_MISSING, "no \"vocab\"");
    tok_text_expect("{\"model\":{\"vocab\":[]}}", WH_E_FORMAT, "expected '{'");
    tok_text_expect("{\"model\":{\"vocab\":{}}}", WH_E_FORMAT, "empty vocabulary");
    tok_text_expect(
        "{\"model\":{\"vocab\":{\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\":-1}}}",
        WH_E_FORMAT, "out of range");
    tok_text_expect("{\"model\":{\"vocab\":{\"a\":0},\"merges\":{}}}", WH_E_FORMAT, "expected '['");
    tok_text_expect("{\"model\":{\"vocab\":{\"a\":0},\"merges\":[\"a a\" \"b\"]}}", WH_E_FORMAT,
                    "expected ',' or ']'");
    tok_text_expect("{\"model\":{\"vocab\":{\"a\":0},\"merges\":[[1,\"a\"]]}}", WH_E_FORMAT,
                    "expected a string");
    tok_text_expect("{\"model\":{\"vocab\":{\"a\":0} \"x\":1}}", WH_E_FORMAT,
                    "expected ',' or '}'");
    tok_rest_expect("\"added_tokens\":[{\"id\":99999999,\"content\":\"x\"}]", NULL, WH_E_FORMAT,
                    "out of range");
    tok_rest_expect("\"added_tokens\":[{\"content\":\"x\"}]", NULL, WH_E_FORMAT, "integer id");
    tok_rest_expect("\"added_tokens\":[{\"id\":300}]", NULL, WH_E_FORMAT, "integer id");
    tok_rest_expect("", "{\"bos_token\":7} \n", 1, NULL);
    tok_rest_expect("\"pre_tokenizer\":{\"type\":\"Split\",\"behavior\":\"Isolated\","
                    "\"invert\":true,\"pattern\":{\"Regex\":\"a\"}}",
                    NULL, WH_E_UNSUPPORTED, "Isolated");
    tok_rest_expect("\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":{}}", NULL,
                    WH_E_FORMAT, "without a list");
    tok_rest_expect("\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":{}}", NULL, 1, NULL);

    /* a folder's tokenizer.json with its allocations failing */
    const char *dir = tmp_path("tokdir");
    mkdir(dir, 0700);
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    char *json = tok_json("");
    write_file(p, json, strlen(json));
    free(json);
    for (long n = 1; n < 4; n++) {
        wh_alloc_fail_at(n);
        int rc = wh_tokenizer_load_json(dir, &t, &err);
        wh_alloc_fail_at(0);
        check_err(rc, &err, WH_E_NOMEM, "out of memory", "load_json nomem");
    }

    /* ignore_merges; empty regex matches before multi-byte characters; the JIT stack */
    json = tok_json("\"pre_tokenizer\":{\"type\":\"Split\",\"behavior\":\"Isolated\","
                    "\"pattern\":{\"Regex\":\"x*\"}}");
    if (tok_load(json, strlen(json), NULL, &t, &err) != WH_OK)
        fail_msg("x*: %s", err.msg);
    free(json);
    int32_t *ids = NULL;
    size_t n_ids = 0;
    const char *mb = "\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80xx";
    assert_int_equal(wh_tokenizer_encode(t, mb, strlen(mb), 0, &ids, &n_ids, &err), WH_OK);
    wh_free(ids);
    wh_tokenizer_free(t);
    json = tok_json("\"pre_tokenizer\":{\"type\":\"Split\",\"behavior\":\"Isolated\","
                    "\"pattern\":{\"Regex\":\"(a|b)*c\"}}");
    buf b = {0};
    char *at = strstr(json, "\"type\":\"BPE\",");
    b_put(&b, json, (size_t)(at - json));
    b_put(&b, "\"ignore_merges\":true,", 21);
    b_put(&b, at, strlen(at) + 1);
    free(json);
    if (tok_load((char *)b.p, b.n - 1, NULL, &t, &err) != WH_OK)
        fail_msg("ignore_merges: %s", err.msg);
    free(b.p);
    static char deep_text[200001];
    memset(deep_text, 'a', sizeof deep_text - 1);
    deep_text[sizeof deep_text - 2] = 'c';
    assert_int_equal(wh_tokenizer_encode(t, deep_text, sizeof deep_text - 1, 0, &ids, &n_ids, &err),
                     WH_OK);
    wh_free(ids);
    assert_int_equal(wh_tokenizer_encode(t, "ab ba", 5, 0, &ids, &n_ids, &err), WH_OK);
    wh_free(ids);
    wh_tokenizer_free(t);

    /* single_word added tokens; spaces of every kind stripped around them */
    json = tok_json("\"added_tokens\":[{\"id\":257,\"content\":\"<s>\",\"special\":true,"
                    "\"single_word\":true,\"lstrip\":true,\"rstrip\":true}]");
    assert_int_equal(tok_load(json, strlen(json), NULL, &t, &err), WH_OK);
    free(json);
    static const char *texts[] = {"a<s>", "<s>b",        " \t\n\r\v\f<s> \t\n\r\v\f x",
                                  "_<s>", "\xc3\xa9<s>", "<s>"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        assert_int_equal(wh_tokenizer_encode(t, texts[i], strlen(texts[i]), WH_TOK_PARSE_SPECIAL,
                                             &ids, &n_ids, &err),
                         WH_OK);
        wh_free(ids);
    }
    /* the streaming decoder's range check */
    wh_tokstream *ts = NULL;
    assert_int_equal(wh_tokstream_new(t, 0, &ts, &err), WH_OK);
    const char *piece;
    size_t plen;
    check_err(wh_tokstream_push(ts, 9999, &piece, &plen, &err), &err, WH_E_INVALID, "out of range",
              "stream");
    check_err(wh_tokstream_push(ts, -1, &piece, &plen, &err), &err, WH_E_INVALID, "out of range",
              "stream -1");
    wh_tokstream_free(ts);
    wh_tokenizer_free(t);
}

/* One encode call takes at most 2 GiB - 1 bytes; a larger length is refused before
 * anything is read (the buffer here is one byte: nothing past it may be touched). */
static void test_encode_length_limit(void **state)
{
    (void)state;
    wh_tokenizer *t = NULL;
    wh_error err = {0};
    assert_int_equal(wh_tokenizer_load("tests/fixtures/train/tok", &t, &err), WH_OK);
    int32_t *ids = NULL;
    size_t n = 0;
    assert_int_equal(wh_tokenizer_encode(t, "x", (size_t)INT32_MAX + 1, 0, &ids, &n, &err),
                     WH_E_INVALID);
    assert_non_null(strstr(err.msg, "split the text"));
    assert_null(ids);
    wh_tokenizer_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gguf_nested_arrays),
        cmocka_unit_test(test_gguf_v1_and_header),
        cmocka_unit_test(test_gguf_alignment_and_tensors),
        cmocka_unit_test(test_gguf_getters),
        cmocka_unit_test(test_store_add_direct),
        cmocka_unit_test(test_store_alloc_failures),
        cmocka_unit_test(test_store_fp8_scales),
        cmocka_unit_test(test_safetensors_headers),
        cmocka_unit_test(test_safetensors_index),
        cmocka_unit_test(test_config_hf_fields),
        cmocka_unit_test(test_config_hf_rope),
        cmocka_unit_test(test_config_hf_dir),
        cmocka_unit_test(test_config_derive),
        cmocka_unit_test(test_config_gguf),
        cmocka_unit_test(test_config_gguf_keys),
        cmocka_unit_test(test_tokenizer_json_pre),
        cmocka_unit_test(test_tokenizer_json_model),
        cmocka_unit_test(test_tokenizer_gguf),
        cmocka_unit_test(test_vocab_direct),
        cmocka_unit_test(test_encode_errors),
        cmocka_unit_test(test_tokenizer_more_paths),
        cmocka_unit_test(test_api_requests),
        cmocka_unit_test(test_encode_length_limit),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
