/*
 * nfc.c — Unicode Normalization Form C (UAX #15), which Qwen's tokenizer.json applies
 * before pre-tokenizing: full canonical decomposition, canonical ordering of combining
 * marks, then canonical composition. Hangul syllables are (de)composed arithmetically
 * (Unicode ch. 3.12); everything else comes from nfc_table.h. A quick check lets text
 * without any code point that NFC could touch (all ASCII, most CJK) through untouched.
 */
#include <string.h>

#include "base/alloc.h"
#include "tokenizer/nfc_table.h"
#include "tokenizer/tok_internal.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

enum {
    S_BASE = 0xAC00,
    L_BASE = 0x1100,
    V_BASE = 0x1161,
    T_BASE = 0x11A7,
    L_COUNT = 19,
    V_COUNT = 21,
    T_COUNT = 28,
    N_COUNT = V_COUNT * T_COUNT,
    S_COUNT = L_COUNT * N_COUNT,
};

static int in_ranges2(const uint32_t (*r)[2], size_t n, uint32_t cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < r[mid][0])
            hi = mid;
        else if (cp > r[mid][1])
            lo = mid + 1;
        else
            return 1;
    }
    return 0;
}

static unsigned ccc(uint32_t cp)
{
    if (cp < 0x300)
        return 0;
    size_t lo = 0, hi = NELEM(g_ccc);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < g_ccc[mid][0])
            hi = mid;
        else if (cp > g_ccc[mid][1])
            lo = mid + 1;
        else
            return g_ccc[mid][2];
    }
    return 0;
}

static const uint32_t *decomp_of(uint32_t cp)
{
    size_t lo = 0, hi = NELEM(g_decomp);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < g_decomp[mid][0])
            hi = mid;
        else if (cp > g_decomp[mid][0])
            lo = mid + 1;
        else
            return g_decomp[mid];
    }
    return NULL;
}

/* Composite of the pair (a, b), or 0. */
static uint32_t compose(uint32_t a, uint32_t b)
{
    if (a >= L_BASE && a < L_BASE + L_COUNT && b >= V_BASE && b < V_BASE + V_COUNT)
        return S_BASE + ((a - L_BASE) * V_COUNT + (b - V_BASE)) * T_COUNT;
    if (a >= S_BASE && a < S_BASE + S_COUNT && (a - S_BASE) % T_COUNT == 0 && b > T_BASE &&
        b < T_BASE + T_COUNT)
        return a + (b - T_BASE);
    size_t lo = 0, hi = NELEM(g_comp);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const uint32_t *e = g_comp[mid];
        if (a < e[0] || (a == e[0] && b < e[1]))
            hi = mid;
        else if (a > e[0] || b > e[1])
            lo = mid + 1;
        else
            return e[2];
    }
    return 0;
}

int tok_nfc_maybe_changes(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0xcc) {
            /* lead bytes below 0xCC start code points below U+0300: never touched */
            i += s[i] < 0x80 ? 1 : 2;
            continue;
        }
        uint32_t cp;
        int k = tok_utf8_decode(s + i, n - i, &cp);
        if (k == 0)
            return 1;
        if (in_ranges2(g_nfc_qc, NELEM(g_nfc_qc), cp))
            return 1;
        i += (size_t)k;
    }
    return 0;
}

typedef struct cpbuf {
    uint32_t *v;
    size_t n, cap;
} cpbuf;

static int cp_push(cpbuf *b, uint32_t cp)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        uint32_t *v = wh_realloc(b->v, cap * sizeof *v);
        if (v == NULL)
            return WH_E_NOMEM;
        b->v = v;
        b->cap = cap;
    }
    b->v[b->n++] = cp;
    return WH_OK;
}

static int decompose(cpbuf *b, uint32_t cp, int depth)
{
    if (cp >= S_BASE && cp < S_BASE + S_COUNT) {
        uint32_t si = cp - S_BASE;
        int rc = cp_push(b, L_BASE + si / N_COUNT);
        if (rc == WH_OK)
            rc = cp_push(b, V_BASE + (si % N_COUNT) / T_COUNT);
        if (rc == WH_OK && si % T_COUNT != 0)
            rc = cp_push(b, T_BASE + si % T_COUNT);
        return rc;
    }
    const uint32_t *d = cp >= 0xc0 && depth < 8 ? decomp_of(cp) : NULL;
    if (d == NULL)
        return cp_push(b, cp);
    int rc = decompose(b, d[1], depth + 1);
    if (rc == WH_OK && d[2] != 0)
        rc = decompose(b, d[2], depth + 1);
    return rc;
}

int tok_nfc(const uint8_t *s, size_t n, tok_pool *out)
{
    cpbuf b = {0};
    int rc = WH_OK;
    size_t i = 0;
    while (i < n && rc == WH_OK) {
        uint32_t cp;
        int k = tok_utf8_decode(s + i, n - i, &cp);
        if (k == 0) {
            cp = 0xfffd; /* callers pass valid UTF-8; be safe anyway */
            k = 1;
        }
        rc = decompose(&b, cp, 0);
        i += (size_t)k;
    }
    if (rc != WH_OK)
        goto out;
    /* canonical ordering: stable sort of each run of non-starters by class */
    for (size_t j = 1; j < b.n; j++) {
        uint32_t c = b.v[j];
        unsigned cc = ccc(c);
        if (cc == 0)
            continue;
        size_t k = j;
        while (k > 0 && ccc(b.v[k - 1]) > cc) {
            b.v[k] = b.v[k - 1];
            k--;
        }
        b.v[k] = c;
    }
    /* canonical composition */
    size_t m = 0;
    long starter = -1;
    unsigned last = 0;
    for (size_t j = 0; j < b.n; j++) {
        uint32_t c = b.v[j];
        unsigned cc = ccc(c);
        /* c combines with the last starter unless something between blocks it: adjacent,
         * or every mark between has a lower class (they are sorted, so the last one) */
        if (starter >= 0 && (m == (size_t)starter + 1 || (last != 0 && last < cc))) {
            uint32_t comp = compose(b.v[starter], c);
            if (comp != 0) {
                b.v[starter] = comp;
                continue;
            }
        }
        if (cc == 0)
            starter = (long)m;
        last = cc;
        b.v[m++] = c;
    }
    if (tok_pool_reserve(out, m * 4) != WH_OK) {
        rc = WH_E_NOMEM;
        goto out;
    }
    for (size_t j = 0; j < m; j++)
        out->len += (size_t)tok_utf8_encode(b.v[j], out->data + out->len);
out:
    wh_free(b.v);
    return rc;
}
