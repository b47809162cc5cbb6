/*
 * vocab.c — the token table of a byte-level BPE vocabulary and its lookups.
 *
 * Byte-level BPE (GPT-2, Radford et al. 2019; used unchanged by DeepSeek-V3, Qwen2 and
 * Llama-3) spells every byte as one printable code point so that tokens are strings:
 * bytes 0x21-0x7E, 0xA1-0xAC and 0xAE-0xFF stand for themselves, the other 68 bytes, in
 * increasing order, for U+0100, U+0101, ... U+0143. We convert every token to the bytes
 * it stands for once, at load time, so encoding and decoding work on raw bytes and never
 * on the spelled form.
 *
 * Lookups: bytes -> id (open addressing over the NORMAL tokens), (left id, right id) ->
 * (merge rank, merged id) (open addressing on a 64-bit key), and a byte trie of added
 * tokens for leftmost-longest matching in text.
 */
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "tokenizer/tok_internal.h"

/* ---- byte-level alphabet ---- */

static int byte_is_self(unsigned b)
{
    return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae);
}

uint32_t tok_byte_to_cp(uint8_t b)
{
    if (byte_is_self(b))
        return b;
    uint32_t n = 0;
    for (unsigned i = 0; i < b; i++)
        n += !byte_is_self(i);
    return 256 + n;
}

/* cp 0x100 + k -> the k-th byte that does not stand for itself */
static const uint8_t g_shifted[68] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d,
    0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b,
    0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x7f, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
    0x88, 0x89, 0x8a, 0x8b, 0x8c, 0x8d, 0x8e, 0x8f, 0x90, 0x91, 0x92, 0x93, 0x94, 0x95,
    0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f, 0xa0, 0xad,
};

int tok_cp_to_byte(uint32_t cp)
{
    if (cp < 256)
        return byte_is_self(cp) ? (int)cp : -1;
    if (cp < 256 + 68)
        return g_shifted[cp - 256];
    return -1;
}

/* ---- UTF-8 ---- */

int tok_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp)
{
    if (n == 0)
        return 0;
    uint8_t c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    int len;
    uint32_t v, min;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        v = c & 0x1f;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        v = c & 0x0f;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        v = c & 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    if ((size_t)len > n)
        return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return len;
}

int tok_utf8_encode(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* ---- pool ---- */

int tok_pool_reserve(tok_pool *p, size_t extra)
{
    if (p->cap - p->len >= extra)
        return WH_OK;
    size_t cap = p->cap ? p->cap : 4096;
    while (cap - p->len < extra) {
        if (cap > SIZE_MAX / 2)
            return WH_E_NOMEM;
        cap *= 2;
    }
    char *d = wh_realloc(p->data, cap);
    if (d == NULL)
        return WH_E_NOMEM;
    p->data = d;
    p->cap = cap;
    return WH_OK;
}

int tok_pool_append(tok_pool *p, const void *s, size_t n)
{
    if (tok_pool_reserve(p, n) != WH_OK)
        return WH_E_NOMEM;
    if (n > 0)
        memcpy(p->data + p->len, s, n);
    p->len += n;
    return WH_OK;
}

void tok_pool_free(tok_pool *p)
{
    wh_free(p->data);
    memset(p, 0, sizeof *p);
}

int tok_bytelevel_decode(const char *s, size_t n, tok_pool *out)
{
    if (tok_pool_reserve(out, n) != WH_OK)
        return -1;
    /* the decoded form is never longer than the spelling */
    size_t start = out->len;
    const uint8_t *u = (const uint8_t *)s;
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        int k = tok_utf8_decode(u + i, n - i, &cp);
        int b = k > 0 ? tok_cp_to_byte(cp) : -1;
        if (b < 0) {
            out->len = start;
            memcpy(out->data + start, s, n);
            out->len += n;
            return 0;
        }
        out->data[out->len++] = (char)b;
        i += (size_t)k;
    }
    return 1;
}

/* ---- ids ---- */

int tok_alloc_ids(wh_tokenizer *t, int32_t n_vocab, wh_error *err)
{
    t->n_vocab = n_vocab;
    t->piece_off = wh_calloc((size_t)n_vocab, sizeof *t->piece_off);
    t->piece_len = wh_calloc((size_t)n_vocab, sizeof *t->piece_len);
    t->attr = wh_calloc((size_t)n_vocab, 1);
    t->added_of_id = wh_malloc((size_t)n_vocab * sizeof *t->added_of_id);
    if (!t->piece_off || !t->piece_len || !t->attr || !t->added_of_id)
        return wh_err(err, WH_E_NOMEM, "tokenizer: out of memory for %d ids", (int)n_vocab);
    memset(t->added_of_id, 0xff, (size_t)n_vocab * sizeof *t->added_of_id);
    if (tok_pool_reserve(&t->pool, 1) != WH_OK)
        return wh_err(err, WH_E_NOMEM, "tokenizer: out of memory");
    return WH_OK;
}

static int set_piece(wh_tokenizer *t, int32_t id, const char *s, size_t n, wh_error *err)
{
    size_t off = t->pool.len;
    if (off > UINT32_MAX - n)
        return wh_err(err, WH_E_FORMAT, "tokenizer: token texts exceed 4 GiB");
    int r = tok_bytelevel_decode(s, n, &t->pool);
    if (r < 0)
        return wh_err(err, WH_E_NOMEM, "tokenizer: out of memory for token texts");
    t->piece_off[id] = (uint32_t)off;
    t->piece_len[id] = (uint32_t)(t->pool.len - off);
    return r;
}

int tok_set_token(wh_tokenizer *t, int32_t id, const char *s, size_t n, int attr, wh_error *err)
{
    if (id < 0 || id >= t->n_vocab)
        return wh_err(err, WH_E_FORMAT, "token id %d out of range [0, %d)", (int)id,
                      (int)t->n_vocab);
    if (t->attr[id] != 0)
        return wh_err(err, WH_E_FORMAT, "token id %d is given twice (second: \"%.*s\")", (int)id,
                      (int)(n > 64 ? 64 : n), s);
    int r = set_piece(t, id, s, n, err);
    if (r < 0)
        return r;
    t->attr[id] = (uint8_t)(attr | (r == 0 ? ATTR_FALLBACK : 0));
    return WH_OK;
}

/* ---- bytes -> id hash ---- */

static uint32_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xff51afd7ed558ccdull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    if (n > 0) /* s may be NULL for an empty string (an empty pool) */
        memcpy(&w, s, n);
    h = (h ^ w) * 0x94d049bb133111ebull;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    return (uint32_t)(h >> 32);
}

static const char *piece(const wh_tokenizer *t, int32_t id, size_t *n)
{
    *n = t->piece_len[id];
    return t->pool.data + t->piece_off[id];
}

int32_t tok_vocab_lookup(const wh_tokenizer *t, const char *s, size_t n)
{
    if (t->vhash == NULL)
        return -1;
    uint32_t h = hash_bytes(s, n) & t->vhash_mask;
    for (;;) {
        int32_t id = t->vhash[h];
        if (id < 0)
            return -1;
        if (t->piece_len[id] == n && (n == 0 || memcmp(t->pool.data + t->piece_off[id], s, n) == 0))
            return id;
        h = (h + 1) & t->vhash_mask;
    }
}

static uint32_t pow2_at_least(size_t n)
{
    uint32_t c = 16;
    while (c < n && c < (1u << 31))
        c <<= 1;
    return c;
}

int tok_build_vocab_hash(wh_tokenizer *t, int dup_is_error, const char *src, wh_error *err)
{
    size_t n_normal = 0;
    for (int32_t id = 0; id < t->n_vocab; id++)
        n_normal += (t->attr[id] & ATTR_MASK) == WH_TOKEN_NORMAL;
    uint32_t cap = pow2_at_least(2 * n_normal + 1);
    t->vhash = wh_malloc((size_t)cap * sizeof *t->vhash);
    if (t->vhash == NULL)
        return wh_err(err, WH_E_NOMEM, "%s: out of memory for the vocabulary hash", src);
    memset(t->vhash, 0xff, (size_t)cap * sizeof *t->vhash);
    t->vhash_mask = cap - 1;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        if ((t->attr[id] & ATTR_MASK) != WH_TOKEN_NORMAL)
            continue;
        size_t n;
        const char *s = piece(t, id, &n);
        uint32_t h = hash_bytes(s, n) & t->vhash_mask;
        for (;;) {
            int32_t o = t->vhash[h];
            if (o < 0) {
                t->vhash[h] = id;
                break;
            }
            if (t->piece_len[o] == n && memcmp(t->pool.data + t->piece_off[o], s, n) == 0) {
                int o_fb = (t->attr[o] & ATTR_FALLBACK) != 0;
                int id_fb = (t->attr[id] & ATTR_FALLBACK) != 0;
                if (o_fb && !id_fb)
                    t->vhash[h] = id; /* the byte-level spelling wins */
                else if (o_fb == id_fb && dup_is_error)
                    return wh_err(err, WH_E_FORMAT,
                                  "%s: duplicate token: ids %d and %d have the same text", src,
                                  (int)o, (int)id);
                break;
            }
            h = (h + 1) & t->vhash_mask;
        }
    }
    return WH_OK;
}

/* ---- merges ---- */

int tok_merges_alloc(wh_tokenizer *t, size_t n, wh_error *err)
{
    uint32_t cap = pow2_at_least(2 * n + 1);
    t->merges = wh_malloc((size_t)cap * sizeof *t->merges);
    if (t->merges == NULL)
        return wh_err(err, WH_E_NOMEM, "tokenizer: out of memory for %zu merges", n);
    for (uint32_t i = 0; i < cap; i++)
        t->merges[i].key = UINT64_MAX;
    t->merges_mask = cap - 1;
    return WH_OK;
}

/* Byte-level spelling -> id of a NORMAL token, using the scratch pool. */
static int32_t lookup_spelled(wh_tokenizer *t, tok_pool *scratch, const char *s, size_t n)
{
    scratch->len = 0;
    if (tok_bytelevel_decode(s, n, scratch) < 0)
        return -2;
    return tok_vocab_lookup(t, scratch->data, scratch->len);
}

int tok_add_merge(wh_tokenizer *t, const char *a, size_t na, const char *b, size_t nb, int32_t rank,
                  const char *src, wh_error *err)
{
    tok_pool *scratch = &t->scratch;
    int32_t r = -1;
    int32_t l = lookup_spelled(t, scratch, a, na);
    if (l >= 0)
        r = lookup_spelled(t, scratch, b, nb);
    if (l == -2 || r == -2)
        return wh_err(err, WH_E_NOMEM, "%s: out of memory", src);
    int sa = (int)(na > 48 ? 48 : na), sb = (int)(nb > 48 ? 48 : nb);
    if (l < 0 || r < 0)
        return wh_err(err, WH_E_FORMAT,
                      "%s: merge %d (\"%.*s\" \"%.*s\"): \"%.*s\" is not in the vocabulary", src,
                      (int)rank, sa, a, sb, b, l < 0 ? sa : sb, l < 0 ? a : b);
    size_t ln = t->piece_len[l], rn = t->piece_len[r];
    scratch->len = 0;
    if (tok_pool_reserve(scratch, ln + rn) != WH_OK)
        return wh_err(err, WH_E_NOMEM, "%s: out of memory", src);
    memcpy(scratch->data, t->pool.data + t->piece_off[l], ln);
    memcpy(scratch->data + ln, t->pool.data + t->piece_off[r], rn);
    int32_t m = tok_vocab_lookup(t, scratch->data, ln + rn);
    if (m < 0)
        return wh_err(err, WH_E_FORMAT,
                      "%s: merge %d (\"%.*s\" \"%.*s\"): the merged token is not in the vocabulary",
                      src, (int)rank, sa, a, sb, b);
    uint64_t key = ((uint64_t)(uint32_t)l << 32) | (uint32_t)r;
    uint32_t h = (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & t->merges_mask;
    for (;;) {
        tok_merge *e = &t->merges[h];
        if (e->key == key)
            return WH_OK; /* a repeated merge keeps its first (lowest) rank */
        if (e->key == UINT64_MAX) {
            e->key = key;
            e->rank = rank;
            e->id = m;
            t->n_merges++;
            return WH_OK;
        }
        h = (h + 1) & t->merges_mask;
    }
}

/* ---- added tokens ---- */

static int trie_node(wh_tokenizer *t, uint8_t byte, int32_t *out)
{
    if (t->n_trie == t->cap_trie) {
        int32_t cap = t->cap_trie ? t->cap_trie * 2 : 256;
        tok_trie *n = wh_realloc(t->trie, (size_t)cap * sizeof *n);
        if (n == NULL)
            return WH_E_NOMEM;
        t->trie = n;
        t->cap_trie = cap;
    }
    tok_trie *n = &t->trie[t->n_trie];
    n->child = -1;
    n->sibling = -1;
    n->id = -1;
    n->byte = byte;
    *out = t->n_trie++;
    return WH_OK;
}

int tok_add_added(wh_tokenizer *t, int32_t id, const char *s, size_t n, int special, int lstrip,
                  int rstrip, int single_word, wh_error *err)
{
    if (id < 0 || id >= t->n_vocab)
        return wh_err(err, WH_E_FORMAT, "added token id %d out of range [0, %d)", (int)id,
                      (int)t->n_vocab);
    if (t->added_of_id[id] >= 0)
        return wh_err(err, WH_E_FORMAT, "added token id %d is given twice", (int)id);
    int32_t node = 0;
    if (t->n_trie == 0 && trie_node(t, 0, &node) != WH_OK)
        return wh_err(err, WH_E_NOMEM, "tokenizer: out of memory");
    tok_added *a = wh_realloc(t->added, (size_t)(t->n_added + 1) * sizeof *a);
    if (a == NULL)
        return wh_err(err, WH_E_NOMEM, "tokenizer: out of memory");
    t->added = a;
    /* the piece is the text itself, so that decoding gives back what was matched */
    size_t off = t->pool.len;
    if (off > UINT32_MAX - n || tok_pool_append(&t->pool, s, n) != WH_OK)
        return wh_err(err, WH_E_NOMEM, "tokenizer: out of memory for token texts");
    t->piece_off[id] = (uint32_t)off;
    t->piece_len[id] = (uint32_t)n;
    t->attr[id] = (uint8_t)(special ? WH_TOKEN_CONTROL : WH_TOKEN_USER_DEFINED);
    a[t->n_added].id = id;
    a[t->n_added].special = (uint8_t)special;
    a[t->n_added].lstrip = (uint8_t)lstrip;
    a[t->n_added].rstrip = (uint8_t)rstrip;
    a[t->n_added].single_word = (uint8_t)single_word;
    t->added_of_id[id] = t->n_added++;
    if (n == 0)
        return WH_OK; /* never matched */
    node = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        int32_t ch = t->trie[node].child;
        while (ch >= 0 && t->trie[ch].byte != c)
            ch = t->trie[ch].sibling;
        if (ch < 0) {
            if (trie_node(t, c, &ch) != WH_OK)
                return wh_err(err, WH_E_NOMEM, "tokenizer: out of memory");
            t->trie[ch].sibling = t->trie[node].child;
            t->trie[node].child = ch;
        }
        node = ch;
    }
    if (t->trie[node].id < 0)
        t->trie[node].id = id; /* the same text twice: the first id is matched */
    t->added_first[(uint8_t)s[0] >> 5] |= 1u << ((uint8_t)s[0] & 31);
    return WH_OK;
}

/* Exact lookup of an added token's content. */
static int32_t trie_exact(const wh_tokenizer *t, const char *s, size_t n)
{
    if (t->n_trie == 0 || n == 0)
        return -1;
    int32_t node = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t ch = t->trie[node].child;
        while (ch >= 0 && t->trie[ch].byte != (uint8_t)s[i])
            ch = t->trie[ch].sibling;
        if (ch < 0)
            return -1;
        node = ch;
    }
    return t->trie[node].id;
}

int tok_finish(wh_tokenizer *t, const char *src, wh_error *err)
{
    for (int b = 0; b < 256; b++) {
        char c = (char)b;
        t->byte_id[b] = tok_vocab_lookup(t, &c, 1);
    }
    /* A byte the BPE vocabulary lacks may exist as an added token spelled in the byte-level
     * alphabet (DeepSeek Coder adds "õ" etc. for bytes that never occur in UTF-8). */
    for (int32_t i = 0; i < t->n_added; i++) {
        int32_t id = t->added[i].id;
        t->scratch.len = 0;
        if (tok_bytelevel_decode(t->pool.data + t->piece_off[id], t->piece_len[id], &t->scratch) <
            0)
            return wh_err(err, WH_E_NOMEM, "%s: out of memory", src);
        if (t->scratch.len == 1 && t->byte_id[(uint8_t)t->scratch.data[0]] < 0)
            t->byte_id[(uint8_t)t->scratch.data[0]] = id;
    }
    t->think_open = trie_exact(t, "<think>", 7);
    t->think_close = trie_exact(t, "</think>", 8);
    if (t->bos >= t->n_vocab || t->bos < -1)
        return wh_err(err, WH_E_FORMAT, "%s: BOS id %d out of range [0, %d)", src, (int)t->bos,
                      (int)t->n_vocab);
    if (t->eos >= t->n_vocab || t->eos < -1)
        return wh_err(err, WH_E_FORMAT, "%s: EOS id %d out of range [0, %d)", src, (int)t->eos,
                      (int)t->n_vocab);
    if (t->add_bos && t->bos < 0)
        t->add_bos = 0;
    tok_pool_free(&t->scratch);
    t->max_piece = 0;
    for (int32_t id = 0; id < t->n_vocab; id++)
        if ((int32_t)t->piece_len[id] > t->max_piece)
            t->max_piece = (int32_t)t->piece_len[id];
    return WH_OK;
}

/* ---- public accessors ---- */

int32_t wh_tokenizer_n_vocab(const wh_tokenizer *t)
{
    return t->n_vocab;
}

int32_t wh_tokenizer_bos(const wh_tokenizer *t)
{
    return t->bos;
}

int32_t wh_tokenizer_eos(const wh_tokenizer *t)
{
    return t->eos;
}

int32_t wh_tokenizer_think_open(const wh_tokenizer *t)
{
    return t->think_open;
}

int32_t wh_tokenizer_think_close(const wh_tokenizer *t)
{
    return t->think_close;
}

int wh_tokenizer_adds_bos(const wh_tokenizer *t)
{
    return t->add_bos;
}

const char *wh_tokenizer_pre_name(const wh_tokenizer *t)
{
    return t->pre.name;
}

int32_t wh_tokenizer_find(const wh_tokenizer *t, const char *s, size_t len)
{
    int32_t id = trie_exact(t, s, len);
    if (id >= 0)
        return id;
    return tok_vocab_lookup(t, s, len);
}

const char *wh_tokenizer_piece(const wh_tokenizer *t, int32_t id, size_t *len)
{
    if (id < 0 || id >= t->n_vocab) {
        *len = 0;
        return NULL;
    }
    return piece(t, id, len);
}

int wh_tokenizer_attr(const wh_tokenizer *t, int32_t id)
{
    if (id < 0 || id >= t->n_vocab)
        return 0;
    return t->attr[id] & ATTR_MASK;
}

void wh_tokenizer_free(wh_tokenizer *t)
{
    if (t == NULL)
        return;
    wh_free(t->piece_off);
    wh_free(t->piece_len);
    wh_free(t->attr);
    tok_pool_free(&t->pool);
    tok_pool_free(&t->scratch);
    wh_free(t->vhash);
    wh_free(t->merges);
    wh_free(t->added);
    wh_free(t->added_of_id);
    wh_free(t->trie);
    tok_pretok_free(&t->pre);
    wh_free(t);
}
