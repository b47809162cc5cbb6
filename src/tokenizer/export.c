/*
 * export.c — read-only export of a loaded tokenizer as GGUF tokenizer.ggml.* metadata
 * (ggml/docs/gguf.md, "Tokenizer"; the spelling conventions of llama.cpp's converter):
 *   tokens      NORMAL tokens in their byte-level spelling (GPT-2 byte -> code point map),
 *               added tokens (CONTROL, USER_DEFINED) as their raw text, holes and padding
 *               up to the model's vocabulary as "[PAD<id>]" UNUSED entries;
 *   token_type  the wh_token_attr values (they are GGUF's numbers);
 *   merges      "left right" in rank order, both sides spelled byte-level;
 *   pre         the llama.cpp pre-tokenizer name. A tokenizer loaded from GGUF already
 *               carries one; for a tokenizer.json Split sequence the name is found by
 *               behaviour: the candidate preset whose encoding of a set of probe texts
 *               (digit runs, CJK, contractions, punctuation runs, whitespace, combining
 *               marks) equals the tokenizer's own is taken.
 * Nothing here changes how the tokenizer encodes; the loaders read back exactly these
 * spellings (load_gguf.c), so a vocabulary round-trips through export and load.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "formats/gguf_write.h"
#include "tokenizer/tok_internal.h"

/* whale's canonical preset names -> llama.cpp's tokenizer.ggml.pre names */
static const struct {
    const char *canonical, *gguf;
} g_names[] = {
    {"deepseek-v3", "deepseek-v3"},
    {"qwen2", "qwen2"},
    {"llama-3", "llama-bpe"},
    {"deepseek-llm", "deepseek-llm"},
    {"deepseek-coder", "deepseek-coder"},
    {"gpt2", "gpt2"},
};
#define N_NAMES (sizeof g_names / sizeof g_names[0])

/* Texts on which the presets disagree pairwise (checked by tests/test_export.c). */
static const char *const g_probes[] = {
    "Hello world! It's 12345 apples, 3.14159 pies and 1234567 more.",
    "I'M sure we'LL see; DON'T you'd've?\n\n\t  indented  \r\n line",
    ("\xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c \xe3\x81\x93\xe3\x82\x93\xe3\x81\xab"
     "\xe3\x81\xa1\xe3\x81\xaf \xec\x95\x88\xeb\x85\x95\xed\x95\x98\xec\x84\xb8\xec\x9a\x94 "
     "\344\270\255\346\226\207abc123"),
    "x=foo(bar);//comment ...hello $var #tag @user {code} [1,2,3] <tag>",
    ("cafe\xcc\x81 nai\xcc\x88ve \xc2\xb5s \xce\xb1\xce\xb2\xce\xb3 \xd0\x9f\xd1\x80\xd0\xb8"
     "\xd0\xb2\xd0\xb5\xd1\x82 \342\202\254100 \xe2\x89\xa4 \xf0\x9f\x98\x80!!"),
    "  leading spaces\n\n\nand trailing   ",
    "\xef\xbc\x81\xef\xbc\x9f\xe3\x80\x82\xe2\x80\x9cquoted\xe2\x80\x9d \xef\xbc\xa1\xef\xbd\x82",
    "The \xe4\xb8\xad\xe6\x96\x87 word \xc2\xabhello\xc2\xbb it'sfoo we'llbe \342\202\254abc",
};
#define N_PROBES (sizeof g_probes / sizeof g_probes[0])

/* 1 when t and u give the same ids for every probe. */
static int same_on_probes(const wh_tokenizer *t, const wh_tokenizer *u)
{
    for (size_t i = 0; i < N_PROBES; i++) {
        int32_t *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        size_t len = strlen(g_probes[i]);
        int ok = wh_tokenizer_encode(t, g_probes[i], len, 0, &a, &na, NULL) == WH_OK &&
                 wh_tokenizer_encode(u, g_probes[i], len, 0, &b, &nb, NULL) == WH_OK && na == nb &&
                 (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
        wh_free(a);
        wh_free(b);
        if (!ok)
            return 0;
    }
    return 1;
}

const char *tok_export_pre_name(const wh_tokenizer *t)
{
    const char *name = t->pre.name != NULL ? t->pre.name : "";
    for (size_t i = 0; i < N_NAMES; i++)
        if (strcmp(name, g_names[i].canonical) == 0)
            return g_names[i].gguf;
    /* a tokenizer.json Split sequence: try each preset on a shallow copy of t that
     * differs only in its pre-tokenizer (encoding reads t, never writes it). A vocabulary
     * never merges across its own pre-tokenizer's boundaries, so a preset that splits
     * more coarsely can look the same on probes; llama.cpp ties ignore_merges to
     * llama-bpe, which tells Llama-3 apart from DeepSeek-V3 whatever the probes say. */
    for (size_t i = 0; i < N_NAMES; i++) {
        if ((strcmp(g_names[i].gguf, "llama-bpe") == 0) != (t->ignore_merges != 0))
            continue;
        tok_pretok cand = {0};
        if (tok_pretok_preset(&cand, g_names[i].gguf, strlen(g_names[i].gguf), NULL) != WH_OK) {
            tok_pretok_free(&cand);
            continue;
        }
        wh_tokenizer u = *t;
        u.pre = cand;
        int same = same_on_probes(t, &u);
        tok_pretok_free(&cand);
        if (same)
            return g_names[i].gguf;
    }
    return NULL;
}

/* A growable list of NUL-terminated strings in one arena. */
typedef struct strlist {
    tok_pool pool;
    size_t *off;
    size_t n, cap;
} strlist;

static int sl_begin(strlist *l)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 1024;
        size_t *o = wh_realloc(l->off, cap * sizeof *o);
        if (o == NULL)
            return WH_E_NOMEM;
        l->off = o;
        l->cap = cap;
    }
    l->off[l->n] = l->pool.len;
    return WH_OK;
}

static int sl_end(strlist *l)
{
    if (tok_pool_append(&l->pool, "", 1) != WH_OK)
        return WH_E_NOMEM;
    l->n++;
    return WH_OK;
}

static void sl_free(strlist *l)
{
    tok_pool_free(&l->pool);
    wh_free(l->off);
}

/* Appends the byte-level spelling of bytes s[0..n) (each byte's code point as UTF-8). */
static int spell_bytelevel(tok_pool *p, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char u[4];
        int k = tok_utf8_encode(tok_byte_to_cp((uint8_t)s[i]), u);
        if (tok_pool_append(p, u, (size_t)k) != WH_OK)
            return WH_E_NOMEM;
    }
    return WH_OK;
}

/* Appends token id's GGUF spelling. */
static int spell_token(const wh_tokenizer *t, int32_t id, tok_pool *p, wh_error *err)
{
    const char *s = t->pool.data + t->piece_off[id];
    size_t n = t->piece_len[id];
    int a = t->attr[id] & ATTR_MASK;
    int raw = a == WH_TOKEN_CONTROL || a == WH_TOKEN_USER_DEFINED || (t->attr[id] & ATTR_FALLBACK);
    if (!raw)
        return spell_bytelevel(p, s, n) == WH_OK
                   ? WH_OK
                   : wh_err(err, WH_E_NOMEM, "tokenizer export: out of memory");
    if (memchr(s, '\0', n) != NULL)
        return wh_err(err, WH_E_UNSUPPORTED,
                      "tokenizer export: token %d holds a NUL byte (a GGUF string cannot)",
                      (int)id);
    if (tok_pool_append(p, s, n) != WH_OK)
        return wh_err(err, WH_E_NOMEM, "tokenizer export: out of memory");
    return WH_OK;
}

typedef struct merge_ref {
    int32_t rank, l, r;
} merge_ref;

static int cmp_rank(const void *a, const void *b)
{
    const merge_ref *x = a, *y = b;
    return (x->rank > y->rank) - (x->rank < y->rank);
}

int tok_export_gguf(const wh_tokenizer *t, struct wh_gguf_writer *w, int32_t n_min, wh_error *err)
{
    const char *pre = tok_export_pre_name(t);
    if (pre == NULL)
        return wh_err(err, WH_E_UNSUPPORTED,
                      "tokenizer export: the pre-tokenizer matches none of llama.cpp's "
                      "(deepseek-v3, qwen2, llama-bpe, deepseek-llm, deepseek-coder, gpt2)");
    int32_t n = t->n_vocab > n_min ? t->n_vocab : n_min;
    strlist toks = {0}, merges = {0};
    int32_t *types = wh_malloc((size_t)n * sizeof *types);
    const char **ptrs = NULL;
    merge_ref *mr = NULL;
    int rc = types != NULL ? WH_OK : wh_err(err, WH_E_NOMEM, "tokenizer export: out of memory");
    for (int32_t id = 0; id < n && rc == WH_OK; id++) {
        if (sl_begin(&toks) != WH_OK) {
            rc = wh_err(err, WH_E_NOMEM, "tokenizer export: out of memory");
            break;
        }
        int a = id < t->n_vocab ? (t->attr[id] & ATTR_MASK) : 0;
        if (a == 0) {
            char pad[32];
            int k = snprintf(pad, sizeof pad, "[PAD%d]", (int)id);
            types[id] = WH_TOKEN_UNUSED;
            if (tok_pool_append(&toks.pool, pad, (size_t)k) != WH_OK)
                rc = wh_err(err, WH_E_NOMEM, "tokenizer export: out of memory");
        } else {
            types[id] = a;
            rc = spell_token(t, id, &toks.pool, err);
        }
        if (rc == WH_OK && sl_end(&toks) != WH_OK)
            rc = wh_err(err, WH_E_NOMEM, "tokenizer export: out of memory");
    }
    /* merges in rank order */
    size_t nm = 0;
    if (rc == WH_OK && t->n_merges > 0) {
        mr = wh_malloc((size_t)t->n_merges * sizeof *mr);
        if (mr == NULL)
            rc = wh_err(err, WH_E_NOMEM, "tokenizer export: out of memory");
        for (uint64_t h = 0; rc == WH_OK && h <= (uint64_t)t->merges_mask; h++) {
            const tok_merge *e = &t->merges[h];
            if (e->key == UINT64_MAX || nm >= (size_t)t->n_merges)
                continue;
            mr[nm].rank = e->rank;
            mr[nm].l = (int32_t)(e->key >> 32);
            mr[nm].r = (int32_t)(uint32_t)e->key;
            nm++;
        }
        if (rc == WH_OK)
            qsort(mr, nm, sizeof *mr, cmp_rank);
    }
    for (size_t i = 0; i < nm && rc == WH_OK; i++) {
        if (sl_begin(&merges) != WH_OK) {
            rc = wh_err(err, WH_E_NOMEM, "tokenizer export: out of memory");
            break;
        }
        rc = spell_token(t, mr[i].l, &merges.pool, err);
        if (rc == WH_OK && tok_pool_append(&merges.pool, " ", 1) != WH_OK)
            rc = wh_err(err, WH_E_NOMEM, "tokenizer export: out of memory");
        if (rc == WH_OK)
            rc = spell_token(t, mr[i].r, &merges.pool, err);
        if (rc == WH_OK && sl_end(&merges) != WH_OK)
            rc = wh_err(err, WH_E_NOMEM, "tokenizer export: out of memory");
    }
    size_t np = toks.n > merges.n ? toks.n : merges.n;
    if (rc == WH_OK) {
        ptrs = wh_malloc((np ? np : 1) * sizeof *ptrs);
        if (ptrs == NULL)
            rc = wh_err(err, WH_E_NOMEM, "tokenizer export: out of memory");
    }
    if (rc == WH_OK) {
        int bad = wh_gguf_set_str(w, "tokenizer.ggml.model", "gpt2") != WH_OK;
        bad |= wh_gguf_set_str(w, "tokenizer.ggml.pre", pre) != WH_OK;
        for (size_t i = 0; i < toks.n; i++)
            ptrs[i] = toks.pool.data + toks.off[i];
        bad |= wh_gguf_set_arr_str(w, "tokenizer.ggml.tokens", ptrs, toks.n) != WH_OK;
        bad |= wh_gguf_set_arr_i32(w, "tokenizer.ggml.token_type", types, (uint64_t)n) != WH_OK;
        for (size_t i = 0; i < merges.n; i++)
            ptrs[i] = merges.pool.data + merges.off[i];
        bad |= wh_gguf_set_arr_str(w, "tokenizer.ggml.merges", ptrs, merges.n) != WH_OK;
        bad |= wh_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", t->add_bos) != WH_OK;
        if (bad)
            rc = wh_err(err, WH_E_NOMEM, "tokenizer export: out of memory");
    }
    wh_free(ptrs);
    wh_free(mr);
    wh_free(types);
    sl_free(&toks);
    sl_free(&merges);
    return rc;
}
