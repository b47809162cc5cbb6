/*
 * encode.c — text -> ids and ids -> text for byte-level BPE.
 *
 * Encoding, in the order Hugging Face tokenizers applies it:
 *   1. added tokens are cut out of the text first, leftmost-longest (special ones only
 *      with WH_TOK_PARSE_SPECIAL); lstrip/rstrip absorb the whitespace beside them;
 *   2. each remaining segment is split into maximal valid UTF-8 runs; a byte that is not
 *      part of valid UTF-8 becomes a word of its own (so any byte string round-trips);
 *   3. NFC when the vocabulary asks (Qwen), then the pre-tokenizer's Split stages;
 *   4. BPE on the bytes of each word: start from one symbol per byte and repeatedly merge
 *      the adjacent pair with the lowest merge rank, leftmost first. Symbols form a linked
 *      list and candidate pairs sit in a binary heap keyed (rank, position), validated when
 *      popped, so a word of n bytes costs O(n log n) even when n is 10^7.
 * Nothing is allocated per token: an encoder owns growable scratch arrays.
 */
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "tokenizer/tok_internal.h"

typedef struct bpe_sym {
    int32_t id;
    int32_t prev, next;
} bpe_sym;

typedef struct encoder {
    const wh_tokenizer *t;
    wh_error *err;
    int32_t *ids;
    size_t n_ids, cap_ids;
    bpe_sym *sym;
    size_t cap_sym;
    uint64_t *heap; /* rank << 32 | left symbol index */
    size_t n_heap, cap_heap;
    tok_pool nfc;
    pcre2_general_context *gc;
    pcre2_match_context *mc;
    pcre2_match_data *md;
    pcre2_jit_stack *jit_stack;
} encoder;

static int emit(encoder *e, int32_t id)
{
    if (e->n_ids == e->cap_ids) {
        size_t cap = e->cap_ids ? e->cap_ids * 2 : 64;
        int32_t *n = wh_realloc(e->ids, cap * sizeof *n);
        if (n == NULL)
            return wh_err(e->err, WH_E_NOMEM, "encode: out of memory for %zu ids", cap);
        e->ids = n;
        e->cap_ids = cap;
    }
    e->ids[e->n_ids++] = id;
    return WH_OK;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (*cap >= need)
        return WH_OK;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *n = wh_realloc(*p, c * elem);
    if (n == NULL)
        return WH_E_NOMEM;
    *p = n;
    *cap = c;
    return WH_OK;
}

/* ---- binary min-heap of uint64 ---- */

static void heap_push(encoder *e, uint64_t v)
{
    size_t i = e->n_heap++;
    uint64_t *h = e->heap;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p] <= v)
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = v;
}

static uint64_t heap_pop(encoder *e)
{
    uint64_t *h = e->heap;
    uint64_t top = h[0];
    uint64_t v = h[--e->n_heap];
    size_t n = e->n_heap, i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && h[c + 1] < h[c])
            c++;
        if (h[c] >= v)
            break;
        h[i] = h[c];
        i = c;
    }
    if (n > 0)
        h[i] = v;
    return top;
}

static void push_pair(encoder *e, int32_t i)
{
    const bpe_sym *s = e->sym;
    if (i < 0)
        return;
    int32_t j = s[i].next;
    if (j < 0)
        return;
    int32_t merged = -1;
    int32_t rank = tok_merge_find(e->t, s[i].id, s[j].id, &merged);
    if (rank >= 0)
        heap_push(e, ((uint64_t)(uint32_t)rank << 32) | (uint32_t)i);
}

static int byte_token(encoder *e, uint8_t b, int32_t *id)
{
    *id = e->t->byte_id[b];
    if (*id < 0)
        return wh_err(e->err, WH_E_UNSUPPORTED,
                      "encode: the vocabulary has no token for byte 0x%02x", b);
    return WH_OK;
}

/* BPE of one word (raw bytes). */
static int bpe_word(encoder *e, const uint8_t *s, size_t n)
{
    const wh_tokenizer *t = e->t;
    int32_t id;
    int rc;
    if (n == 0)
        return WH_OK;
    if (n == 1) {
        rc = byte_token(e, s[0], &id);
        return rc != WH_OK ? rc : emit(e, id);
    }
    if (t->ignore_merges) {
        id = tok_vocab_lookup(t, (const char *)s, n);
        if (id >= 0)
            return emit(e, id);
    }
    /* n <= INT32_MAX: a word is part of one call's text, which wh_tokenizer_encode
     * limits to INT32_MAX bytes */
    if (grow((void **)&e->sym, &e->cap_sym, n, sizeof *e->sym) != WH_OK ||
        grow((void **)&e->heap, &e->cap_heap, 2 * n, sizeof *e->heap) != WH_OK)
        return wh_err(e->err, WH_E_NOMEM, "encode: out of memory for a word of %zu bytes", n);
    bpe_sym *sym = e->sym;
    for (size_t i = 0; i < n; i++) {
        rc = byte_token(e, s[i], &sym[i].id);
        if (rc != WH_OK)
            return rc;
        sym[i].prev = (int32_t)i - 1;
        sym[i].next = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    e->n_heap = 0;
    for (size_t i = 0; i + 1 < n; i++)
        push_pair(e, (int32_t)i);
    /* Each merge removes one symbol and pushes at most 2 pairs, so the heap never holds
     * more than 2n entries. */
    while (e->n_heap > 0) {
        uint64_t top = heap_pop(e);
        int32_t rank = (int32_t)(top >> 32);
        int32_t i = (int32_t)(uint32_t)top;
        if (sym[i].id < 0)
            continue;
        int32_t j = sym[i].next;
        if (j < 0)
            continue;
        int32_t merged = -1;
        if (tok_merge_find(t, sym[i].id, sym[j].id, &merged) != rank)
            continue; /* stale: one side has changed since the pair was pushed */
        sym[i].id = merged;
        sym[i].next = sym[j].next;
        if (sym[j].next >= 0)
            sym[sym[j].next].prev = i;
        sym[j].id = -1;
        push_pair(e, sym[i].prev);
        push_pair(e, i);
    }
    for (int32_t i = 0; i >= 0; i = sym[i].next) {
        rc = emit(e, sym[i].id);
        if (rc != WH_OK)
            return rc;
    }
    return WH_OK;
}

/* ---- pre-tokenization ---- */

static int match_error(encoder *e, int rc)
{
    PCRE2_UCHAR msg[160];
    pcre2_get_error_message(rc, msg, sizeof msg);
    if (rc == PCRE2_ERROR_NOMEMORY || rc == PCRE2_ERROR_HEAPLIMIT)
        return wh_err(e->err, WH_E_NOMEM, "encode: out of memory in the pre-tokenizer");
    return wh_err(e->err, WH_E_INVALID, "encode: pre-tokenizer regex failed: %s",
                  (const char *)msg);
}

static int run_match(encoder *e, pcre2_code *code, const uint8_t *s, size_t n, size_t pos)
{
    int rc = pcre2_match(code, s, n, pos, PCRE2_NO_UTF_CHECK, e->md, e->mc);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT && e->jit_stack == NULL) {
        e->jit_stack = pcre2_jit_stack_create(64 * 1024, 64 * 1024 * 1024, e->gc);
        if (e->jit_stack == NULL)
            return PCRE2_ERROR_NOMEMORY;
        pcre2_jit_stack_assign(e->mc, NULL, e->jit_stack);
        rc = pcre2_match(code, s, n, pos, PCRE2_NO_UTF_CHECK, e->md, e->mc);
    }
    return rc;
}

static size_t utf8_len_at(const uint8_t *s)
{
    uint8_t c = s[0];
    if (c < 0x80)
        return 1;
    if (c < 0xe0)
        return 2;
    if (c < 0xf0)
        return 3;
    return 4;
}

/* Stage k of the Split sequence over the valid UTF-8 piece s[0..n). */
static int split(encoder *e, int k, const uint8_t *s, size_t n)
{
    if (k == e->t->pre.n_stages)
        return bpe_word(e, s, n);
    pcre2_code *code = e->t->pre.code[k];
    size_t pos = 0, last = 0;
    int rc;
    while (pos < n) {
        int m = run_match(e, code, s, n, pos);
        if (m == PCRE2_ERROR_NOMATCH)
            break;
        if (m < 0)
            return match_error(e, m);
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(e->md);
        size_t ms = ov[0], me = ov[1];
        if (me <= ms) {
            /* empty match: not a piece; search again one character on */
            pos = ms + utf8_len_at(s + ms);
            continue;
        }
        if (ms > last) {
            rc = split(e, k + 1, s + last, ms - last);
            if (rc != WH_OK)
                return rc;
        }
        rc = split(e, k + 1, s + ms, me - ms);
        if (rc != WH_OK)
            return rc;
        last = pos = me;
    }
    if (last < n)
        return split(e, k + 1, s + last, n - last);
    return WH_OK;
}

/* A valid UTF-8 run: NFC if asked, then the pre-tokenizer. */
static int valid_run(encoder *e, const uint8_t *s, size_t n)
{
    if (e->t->pre.nfc && tok_nfc_maybe_changes(s, n)) {
        e->nfc.len = 0;
        if (tok_nfc(s, n, &e->nfc) != WH_OK)
            return wh_err(e->err, WH_E_NOMEM, "encode: out of memory normalising");
        /* the recursion below does not touch e->nfc, so the buffer stays put */
        return split(e, 0, (const uint8_t *)e->nfc.data, e->nfc.len);
    }
    return split(e, 0, s, n);
}

/* Segment between added tokens: valid runs go to the pre-tokenizer, every byte that is not
 * valid UTF-8 is a word by itself. */
static int segment(encoder *e, const uint8_t *s, size_t n)
{
    size_t i = 0, run = 0;
    int rc;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        int k = tok_utf8_decode(s + i, n - i, &cp);
        if (k > 0) {
            i += (size_t)k;
            continue;
        }
        if (i > run) {
            rc = valid_run(e, s + run, i - run);
            if (rc != WH_OK)
                return rc;
        }
        rc = bpe_word(e, s + i, 1);
        if (rc != WH_OK)
            return rc;
        i++;
        run = i;
    }
    if (n > run)
        return valid_run(e, s + run, n - run);
    return WH_OK;
}

static int is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int is_word_byte(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           c >= 0x80;
}

/* Longest allowed added token starting at s[i]; returns its id and sets *end, or -1. */
static int32_t match_added(const wh_tokenizer *t, const uint8_t *s, size_t n, size_t i,
                           unsigned flags, size_t *end)
{
    int32_t node = 0, best = -1;
    for (size_t j = i; j < n; j++) {
        int32_t ch = t->trie[node].child;
        while (ch >= 0 && t->trie[ch].byte != s[j])
            ch = t->trie[ch].sibling;
        if (ch < 0)
            break;
        node = ch;
        int32_t id = t->trie[node].id;
        if (id < 0)
            continue;
        const tok_added *a = &t->added[t->added_of_id[id]];
        if (a->special && !(flags & WH_TOK_PARSE_SPECIAL))
            continue;
        if (a->single_word &&
            ((i > 0 && is_word_byte(s[i - 1])) || (j + 1 < n && is_word_byte(s[j + 1]))))
            continue;
        best = id;
        *end = j + 1;
    }
    return best;
}

static void encoder_free(encoder *e)
{
    wh_free(e->sym);
    wh_free(e->heap);
    tok_pool_free(&e->nfc);
    if (e->md)
        pcre2_match_data_free(e->md);
    if (e->jit_stack)
        pcre2_jit_stack_free(e->jit_stack);
    if (e->mc)
        pcre2_match_context_free(e->mc);
    if (e->gc)
        pcre2_general_context_free(e->gc);
}

static void *pc_malloc(size_t n, void *data)
{
    (void)data;
    return wh_malloc(n);
}

static void pc_free(void *p, void *data)
{
    (void)data;
    wh_free(p);
}

int wh_tokenizer_encode(const wh_tokenizer *t, const char *text, size_t len, unsigned flags,
                        int32_t **ids, size_t *n_ids, wh_error *err)
{
    *ids = NULL;
    *n_ids = 0;
    if (text == NULL && len > 0)
        return wh_err(err, WH_E_INVALID, "encode: NULL text");
    /* BPE symbols are indexed with int32: one call encodes at most 2 GiB - 1 bytes, so
     * no word (a part of the text) can be longer (bpe_word relies on it). */
    if (len > INT32_MAX)
        return wh_err(err, WH_E_INVALID,
                      "encode: %zu bytes in one call; at most %d (split the text)", len, INT32_MAX);
    encoder e;
    memset(&e, 0, sizeof e);
    e.t = t;
    e.err = err;
    int rc = WH_OK;
    e.gc = pcre2_general_context_create(pc_malloc, pc_free, NULL);
    if (e.gc != NULL)
        e.mc = pcre2_match_context_create(e.gc);
    if (e.mc != NULL) {
        /* The pre-tokenizer regexes cost O(piece length) per match (a run of n spaces takes
         * ~2n steps); PCRE2's default limit of 10^7 steps would fail a 10 MB run. */
        pcre2_set_match_limit(e.mc, UINT32_MAX);
        pcre2_set_heap_limit(e.mc, 256u * 1024); /* KiB, interpreter only */
    }
    if (e.mc != NULL)
        e.md = pcre2_match_data_create(16, e.gc);
    if (e.md == NULL || grow((void **)&e.ids, &e.cap_ids, len / 4 + 16, sizeof *e.ids) != WH_OK) {
        rc = wh_err(err, WH_E_NOMEM, "encode: out of memory");
        goto out;
    }
    if ((flags & WH_TOK_ADD_SPECIAL) && t->add_bos) {
        rc = emit(&e, t->bos);
        if (rc != WH_OK)
            goto out;
    }
    const uint8_t *s = (const uint8_t *)text;
    size_t seg = 0, i = 0;
    while (i < len) {
        uint8_t c = s[i];
        if (t->n_added == 0 || !(t->added_first[c >> 5] & (1u << (c & 31)))) {
            i++;
            continue;
        }
        size_t end = 0;
        int32_t id = match_added(t, s, len, i, flags, &end);
        if (id < 0) {
            i++;
            continue;
        }
        const tok_added *a = &t->added[t->added_of_id[id]];
        size_t seg_end = i;
        if (a->lstrip)
            while (seg_end > seg && is_space(s[seg_end - 1]))
                seg_end--;
        rc = segment(&e, s + seg, seg_end - seg);
        if (rc == WH_OK)
            rc = emit(&e, id);
        if (rc != WH_OK)
            goto out;
        if (a->rstrip)
            while (end < len && is_space(s[end]))
                end++;
        i = seg = end;
    }
    rc = segment(&e, s + seg, len - seg);
out:
    if (rc == WH_OK) {
        *ids = e.ids;
        *n_ids = e.n_ids;
        e.ids = NULL;
    }
    wh_free(e.ids);
    encoder_free(&e);
    return rc;
}

/* ---- decoding ---- */

int wh_tokenizer_decode(const wh_tokenizer *t, const int32_t *ids, size_t n_ids, unsigned flags,
                        char **text, size_t *len, wh_error *err)
{
    *text = NULL;
    *len = 0;
    size_t total = 0;
    for (size_t i = 0; i < n_ids; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_vocab)
            return wh_err(err, WH_E_INVALID,
                          "decode: id %d at position %zu is out of range [0, %d)", (int)ids[i], i,
                          (int)t->n_vocab);
        total += t->piece_len[ids[i]];
    }
    char *out = wh_malloc(total + 1);
    if (out == NULL)
        return wh_err(err, WH_E_NOMEM, "decode: out of memory for %zu bytes", total);
    size_t k = 0;
    for (size_t i = 0; i < n_ids; i++) {
        int32_t id = ids[i];
        if ((flags & WH_TOK_SKIP_SPECIAL) && wh_tokenizer_attr(t, id) == WH_TOKEN_CONTROL)
            continue;
        memcpy(out + k, t->pool.data + t->piece_off[id], t->piece_len[id]);
        k += t->piece_len[id];
    }
    out[k] = '\0';
    *text = out;
    *len = k;
    return WH_OK;
}

struct wh_tokstream {
    const wh_tokenizer *t;
    unsigned flags;
    char *buf; /* output: held-back bytes followed by the new piece */
    size_t cap;
    char held[4]; /* an incomplete UTF-8 sequence waiting for its next bytes */
    size_t n_held;
};

int wh_tokstream_new(const wh_tokenizer *t, unsigned flags, wh_tokstream **out, wh_error *err)
{
    *out = NULL;
    wh_tokstream *s = wh_calloc(1, sizeof *s);
    if (s != NULL) {
        s->cap = (size_t)t->max_piece + 8;
        s->buf = wh_malloc(s->cap);
    }
    if (s == NULL || s->buf == NULL) {
        wh_free(s);
        return wh_err(err, WH_E_NOMEM, "decode stream: out of memory");
    }
    s->t = t;
    s->flags = flags;
    *out = s;
    return WH_OK;
}

/* 1 when s[0..n) (n >= 1) is the start of a valid UTF-8 sequence that needs more bytes. */
static int utf8_incomplete(const uint8_t *s, size_t n)
{
    uint8_t c = s[0];
    size_t need;
    uint8_t lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (c >= 0xc2 && c <= 0xdf) {
        need = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        if (c == 0xe0)
            lo = 0xa0;
        if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        if (c == 0xf0)
            lo = 0x90;
        if (c == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if (n >= need)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if (i == 1 ? (s[i] < lo || s[i] > hi) : ((s[i] & 0xc0) != 0x80))
            return 0;
    }
    return 1;
}

int wh_tokstream_push(wh_tokstream *s, int32_t id, const char **text, size_t *len, wh_error *err)
{
    const wh_tokenizer *t = s->t;
    *text = s->buf;
    *len = 0;
    if (id < 0 || id >= t->n_vocab)
        return wh_err(err, WH_E_INVALID, "decode stream: id %d out of range [0, %d)", (int)id,
                      (int)t->n_vocab);
    if ((s->flags & WH_TOK_SKIP_SPECIAL) && wh_tokenizer_attr(t, id) == WH_TOKEN_CONTROL)
        return WH_OK;
    memcpy(s->buf, s->held, s->n_held);
    memcpy(s->buf + s->n_held, t->pool.data + t->piece_off[id], t->piece_len[id]);
    size_t n = s->n_held + t->piece_len[id];
    const uint8_t *u = (const uint8_t *)s->buf;
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        int k = tok_utf8_decode(u + i, n - i, &cp);
        if (k > 0)
            i += (size_t)k;
        else if (utf8_incomplete(u + i, n - i))
            break; /* at most 3 bytes, all at the end */
        else
            i++; /* not UTF-8 and never will be: pass the byte through */
    }
    s->n_held = n - i;
    memcpy(s->held, s->buf + i, s->n_held);
    *len = i;
    return WH_OK;
}

void wh_tokstream_flush(wh_tokstream *s, const char **text, size_t *len)
{
    memcpy(s->buf, s->held, s->n_held);
    *text = s->buf;
    *len = s->n_held;
    s->n_held = 0;
}

void wh_tokstream_free(wh_tokstream *s)
{
    if (s == NULL)
        return;
    wh_free(s->buf);
    wh_free(s);
}
