/*
 * load_gguf.c — a BPE tokenizer from GGUF metadata (ggml/docs/gguf.md, "Tokenizer"):
 *   tokenizer.ggml.model       "gpt2" (byte-level BPE; the only kind handled here)
 *   tokenizer.ggml.pre         pre-tokenizer name (see pretok.c presets)
 *   tokenizer.ggml.tokens      string[n]: byte-level spellings, added tokens as raw text
 *   tokenizer.ggml.token_type  i32[n] (optional): 1 normal, 2 unknown, 3 control,
 *                              4 user-defined, 5 unused, 6 byte
 *   tokenizer.ggml.merges      string[]: "a b", in rank order
 *   tokenizer.ggml.bos_token_id / eos_token_id (u32), add_bos_token (bool), all optional.
 * Control and user-defined tokens become added tokens, as llama.cpp and the converter that
 * wrote them (special -> control, other added -> user-defined) intend.
 */
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "formats/gguf.h"
#include "tokenizer/tok_internal.h"

static const wh_gguf_kv *find_array(const wh_gguf *g, const char *key, wh_gguf_type elem,
                                    int required, int *rc, wh_error *err)
{
    *rc = WH_OK;
    int64_t i = wh_gguf_find(g, key);
    if (i < 0) {
        if (required)
            *rc = wh_err(err, WH_E_MISSING, "%s: no %s", g->path, key);
        return NULL;
    }
    const wh_gguf_kv *kv = &g->kv[i];
    if (kv->type != WH_GGUF_ARRAY || kv->v.arr.type != elem) {
        *rc = wh_err(err, WH_E_FORMAT, "%s: %s (byte %llu) is not an array of the expected type",
                     g->path, key, (unsigned long long)kv->offset);
        return NULL;
    }
    return kv;
}

static int32_t read_i32(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

int wh_tokenizer_load_gguf(const wh_gguf *g, wh_tokenizer **out, wh_error *err)
{
    *out = NULL;
    int rc;
    wh_gguf_str model = {0}, pre = {0};
    rc = wh_gguf_get_str(g, "tokenizer.ggml.model", 1, &model, err);
    if (rc != WH_OK)
        return rc;
    if (!wh_gguf_str_eq(model, "gpt2"))
        return wh_err(
            err, WH_E_UNSUPPORTED,
            "%s: tokenizer.ggml.model \"%.*s\" is not supported (byte-level BPE \"gpt2\" only)",
            g->path, (int)(model.len > 32 ? 32 : model.len), model.ptr);
    const wh_gguf_kv *tokens = find_array(g, "tokenizer.ggml.tokens", WH_GGUF_STRING, 1, &rc, err);
    if (rc != WH_OK)
        return rc;
    const wh_gguf_kv *types = NULL;
    if (wh_gguf_find(g, "tokenizer.ggml.token_type") >= 0) {
        types = find_array(g, "tokenizer.ggml.token_type", WH_GGUF_I32, 1, &rc, err);
        if (rc != WH_OK)
            return rc;
    }
    const wh_gguf_kv *merges = find_array(g, "tokenizer.ggml.merges", WH_GGUF_STRING, 0, &rc, err);
    if (rc != WH_OK)
        return rc;
    uint64_t n = tokens->v.arr.n;
    if (n == 0 || n > TOK_MAX_VOCAB)
        return wh_err(err, WH_E_FORMAT, "%s: tokenizer.ggml.tokens has %llu entries", g->path,
                      (unsigned long long)n);
    if (types != NULL && types->v.arr.n != n)
        return wh_err(
            err, WH_E_FORMAT,
            "%s: tokenizer.ggml.token_type has %llu entries but tokenizer.ggml.tokens has %llu",
            g->path, (unsigned long long)types->v.arr.n, (unsigned long long)n);

    wh_tokenizer *t = wh_calloc(1, sizeof *t);
    if (t == NULL)
        return wh_err(err, WH_E_NOMEM, "%s: out of memory", g->path);
    t->bos = t->eos = t->think_open = t->think_close = -1;
    rc = tok_alloc_ids(t, (int32_t)n, err);
    if (rc != WH_OK)
        goto fail;
    for (uint64_t i = 0; i < n; i++) {
        const wh_gguf_str *s = &tokens->v.arr.strs[i];
        int32_t ty = types ? read_i32(types->v.arr.data + 4 * i) : WH_TOKEN_NORMAL;
        if (ty == WH_TOKEN_CONTROL || ty == WH_TOKEN_USER_DEFINED)
            rc = tok_add_added(t, (int32_t)i, s->ptr, (size_t)s->len, ty == WH_TOKEN_CONTROL, 0, 0,
                               0, err);
        else if (ty >= WH_TOKEN_NORMAL && ty <= WH_TOKEN_BYTE)
            rc = tok_set_token(t, (int32_t)i, s->ptr, (size_t)s->len, ty, err);
        else
            rc = wh_err(err, WH_E_FORMAT,
                        "%s: tokenizer.ggml.token_type[%llu] = %d is not a token type", g->path,
                        (unsigned long long)i, (int)ty);
        if (rc != WH_OK)
            goto fail;
    }
    /* GGUF vocabularies may repeat a spelling; the lower id wins, as in the HF vocab */
    rc = tok_build_vocab_hash(t, 0, g->path, err);
    if (rc != WH_OK)
        goto fail;
    uint64_t nm = merges ? merges->v.arr.n : 0;
    if (nm > INT32_MAX) {
        rc = wh_err(err, WH_E_FORMAT, "%s: %llu merges", g->path, (unsigned long long)nm);
        goto fail;
    }
    rc = tok_merges_alloc(t, (size_t)nm, err);
    if (rc != WH_OK)
        goto fail;
    for (uint64_t i = 0; i < nm; i++) {
        const wh_gguf_str *s = &merges->v.arr.strs[i];
        const char *sp = memchr(s->ptr, ' ', (size_t)s->len);
        if (sp == NULL || sp == s->ptr || sp + 1 == s->ptr + s->len) {
            rc = wh_err(err, WH_E_FORMAT, "%s: tokenizer.ggml.merges[%llu] \"%.*s\" is not \"a b\"",
                        g->path, (unsigned long long)i, (int)(s->len > 48 ? 48 : s->len), s->ptr);
            goto fail;
        }
        size_t na = (size_t)(sp - s->ptr);
        rc =
            tok_add_merge(t, s->ptr, na, sp + 1, (size_t)s->len - na - 1, (int32_t)i, g->path, err);
        if (rc != WH_OK)
            goto fail;
    }
    if (wh_gguf_find(g, "tokenizer.ggml.pre") >= 0) {
        rc = wh_gguf_get_str(g, "tokenizer.ggml.pre", 1, &pre, err);
        if (rc != WH_OK)
            goto fail;
        rc = tok_pretok_preset(&t->pre, pre.ptr, (size_t)pre.len, err);
    } else {
        rc = tok_pretok_preset(&t->pre, "default", 7, err);
    }
    if (rc != WH_OK) {
        wh_err_wrap(err, "%s: tokenizer.ggml.pre", g->path);
        goto fail;
    }
    uint32_t v;
    if (wh_gguf_find(g, "tokenizer.ggml.bos_token_id") >= 0) {
        rc = wh_gguf_get_u32(g, "tokenizer.ggml.bos_token_id", 1, &v, err);
        if (rc != WH_OK)
            goto fail;
        t->bos = v >= (uint32_t)n ? INT32_MAX : (int32_t)v;
    }
    if (wh_gguf_find(g, "tokenizer.ggml.eos_token_id") >= 0) {
        rc = wh_gguf_get_u32(g, "tokenizer.ggml.eos_token_id", 1, &v, err);
        if (rc != WH_OK)
            goto fail;
        t->eos = v >= (uint32_t)n ? INT32_MAX : (int32_t)v;
    }
    bool add_bos = false;
    rc = wh_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", 0, &add_bos, err);
    if (rc != WH_OK)
        goto fail;
    t->add_bos = add_bos;
    rc = tok_finish(t, g->path, err);
    if (rc != WH_OK)
        goto fail;
    *out = t;
    return WH_OK;
fail:
    wh_tokenizer_free(t);
    return rc;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

int wh_tokenizer_load(const char *path, wh_tokenizer **out, wh_error *err)
{
    *out = NULL;
    if (!wh_is_dir(path) && ends_with(path, ".gguf")) {
        wh_gguf g;
        int rc = wh_gguf_open(&g, path, err);
        if (rc != WH_OK)
            return rc;
        rc = wh_tokenizer_load_gguf(&g, out, err);
        wh_gguf_close(&g);
        return rc;
    }
    return wh_tokenizer_load_json(path, out, err);
}
