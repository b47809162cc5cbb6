/*
 * load_json.c — loads a Hugging Face `tokenizer.json` (format of the `tokenizers`
 * library: added_tokens, normalizer, pre_tokenizer, model{type BPE, vocab, merges}) and,
 * when given, `tokenizer_config.json` (bos_token, eos_token, add_bos_token).
 *
 * `model.vocab` (an object "spelling": id) and `model.merges` (an array of "a b" strings
 * or ["a", "b"] pairs) are 99% of the file (7.8 MB for DeepSeek-V3). json-c would build
 * ~400k objects for them, which alone takes about as long as our whole load budget, so
 * those two values are read by a small dedicated scanner straight from the text, and
 * json-c parses the rest: a copy of the file in which those two values are replaced by
 * {} and []. Everything json-c does not see is validated by the scanner.
 */
#include <json-c/json.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "base/mapfile.h"
#include "tokenizer/tok_internal.h"

#define MAX_JSON_BYTES (1ull << 30)

/* ---- a minimal JSON scanner over the source text ---- */

typedef struct jscan {
    const char *base, *p, *end;
    const char *src; /* file name, for messages */
    wh_error *err;
    tok_pool str; /* unescaped strings that had escapes */
} jscan;

static int js_fail(jscan *j, const char *what)
{
    return wh_err(j->err, WH_E_FORMAT, "%s: byte %zu: %s", j->src, (size_t)(j->p - j->base), what);
}

static void js_ws(jscan *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t'))
        j->p++;
}

static int hex4(const char *p, uint32_t *v)
{
    uint32_t x = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        x <<= 4;
        if (c >= '0' && c <= '9')
            x |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            x |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            x |= (uint32_t)(c - 'A' + 10);
        else
            return 0;
    }
    *v = x;
    return 1;
}

/* Reads a string at j->p (which must be '"'). s, n: its value, pointing into the source
 * when it has no escapes, else into j->str (valid until the next string). */
static int js_string(jscan *j, const char **s, size_t *n)
{
    if (j->p >= j->end || *j->p != '"')
        return js_fail(j, "expected a string");
    const char *start = ++j->p;
    while (j->p < j->end) {
        unsigned char c = (unsigned char)*j->p;
        if (c == '"') {
            *s = start;
            *n = (size_t)(j->p - start);
            j->p++;
            return WH_OK;
        }
        if (c == '\\')
            break;
        if (c < 0x20)
            return js_fail(j, "control character in a string");
        j->p++;
    }
    /* slow path: unescape into j->str */
    j->str.len = 0;
    if (tok_pool_append(&j->str, start, (size_t)(j->p - start)) != WH_OK)
        return wh_err(j->err, WH_E_NOMEM, "%s: out of memory", j->src);
    while (j->p < j->end) {
        unsigned char c = (unsigned char)*j->p;
        if (c == '"') {
            j->p++;
            *s = j->str.data;
            *n = j->str.len;
            return WH_OK;
        }
        if (c < 0x20)
            return js_fail(j, "control character in a string");
        if (tok_pool_reserve(&j->str, 4) != WH_OK)
            return wh_err(j->err, WH_E_NOMEM, "%s: out of memory", j->src);
        if (c != '\\') {
            j->str.data[j->str.len++] = (char)c;
            j->p++;
            continue;
        }
        if (j->end - j->p < 2)
            break;
        char e = j->p[1];
        j->p += 2;
        char out = 0;
        switch (e) {
        case '"':
        case '\\':
        case '/':
            out = e;
            break;
        case 'b':
            out = '\b';
            break;
        case 'f':
            out = '\f';
            break;
        case 'n':
            out = '\n';
            break;
        case 'r':
            out = '\r';
            break;
        case 't':
            out = '\t';
            break;
        case 'u': {
            uint32_t cp, lo;
            if (j->end - j->p < 4 || !hex4(j->p, &cp))
                return js_fail(j, "bad \\u escape");
            j->p += 4;
            if (cp >= 0xdc00 && cp <= 0xdfff)
                return js_fail(j, "lone low surrogate in a \\u escape");
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u' ||
                    !hex4(j->p + 2, &lo) || lo < 0xdc00 || lo > 0xdfff)
                    return js_fail(j, "lone high surrogate in a \\u escape");
                j->p += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            j->str.len += (size_t)tok_utf8_encode(cp, j->str.data + j->str.len);
            continue;
        }
        default:
            j->p -= 2;
            return js_fail(j, "bad escape in a string");
        }
        j->str.data[j->str.len++] = out;
    }
    return js_fail(j, "unterminated string");
}

/* Skips any value (strings, numbers, literals, nested containers). The grammar of what is
 * skipped here is checked again by json-c, except inside vocab and merges. */
static int js_skip(jscan *j)
{
    int depth = 0;
    js_ws(j);
    do {
        if (j->p >= j->end)
            return js_fail(j, "unexpected end of file");
        char c = *j->p;
        if (c == '"') {
            const char *s;
            size_t n;
            int rc = js_string(j, &s, &n);
            if (rc != WH_OK)
                return rc;
        } else if (c == '{' || c == '[') {
            if (++depth > 512)
                return js_fail(j, "nesting too deep");
            j->p++;
        } else if (c == '}' || c == ']') {
            if (depth == 0)
                return js_fail(j, "unexpected bracket");
            depth--;
            j->p++;
        } else {
            j->p++;
            if (depth == 0) {
                /* a scalar: runs to the next delimiter */
                while (j->p < j->end && !strchr(",]} \t\r\n", *j->p))
                    j->p++;
            }
        }
    } while (depth > 0);
    return WH_OK;
}

static int js_expect(jscan *j, char c)
{
    js_ws(j);
    if (j->p >= j->end || *j->p != c) {
        char msg[32];
        snprintf(msg, sizeof msg, "expected '%c'", c);
        return js_fail(j, msg);
    }
    j->p++;
    return WH_OK;
}

/* After a member or element: 1 = ',' (more follow), 0 = the closing bracket, <0 error. */
static int js_next(jscan *j, char close)
{
    js_ws(j);
    if (j->p < j->end && *j->p == ',') {
        j->p++;
        return 1;
    }
    if (j->p < j->end && *j->p == close) {
        j->p++;
        return 0;
    }
    return js_fail(j, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
}

static int js_int(jscan *j, int64_t *v)
{
    js_ws(j);
    int neg = 0;
    if (j->p < j->end && *j->p == '-') {
        neg = 1;
        j->p++;
    }
    if (j->p >= j->end || *j->p < '0' || *j->p > '9')
        return js_fail(j, "expected an integer");
    int64_t x = 0;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        if (x > (INT64_MAX - 9) / 10)
            return js_fail(j, "integer too large");
        x = x * 10 + (*j->p - '0');
        j->p++;
    }
    if (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E'))
        return js_fail(j, "expected an integer, found a fraction");
    *v = neg ? -x : x;
    return WH_OK;
}

/* Member loop over an object at j->p: calls back with each key; the callback consumes
 * the value. */
typedef struct span {
    const char *start, *end; /* [start, end) of a value in the source; start NULL = absent */
} span;

typedef struct spans {
    span model, vocab, merges;
} spans;

static int key_is(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

static int find_spans(jscan *j, spans *sp)
{
    int rc = js_expect(j, '{');
    if (rc != WH_OK)
        return rc;
    js_ws(j);
    if (j->p < j->end && *j->p == '}')
        return WH_OK;
    for (;;) {
        const char *k;
        size_t kn;
        js_ws(j);
        rc = js_string(j, &k, &kn);
        if (rc == WH_OK)
            rc = js_expect(j, ':');
        if (rc != WH_OK)
            return rc;
        js_ws(j);
        if (key_is(k, kn, "model") && j->p < j->end && *j->p == '{') {
            sp->model.start = j->p;
            j->p++;
            js_ws(j);
            int more = 1;
            if (j->p < j->end && *j->p == '}') {
                j->p++;
                more = 0;
            }
            while (more) {
                const char *mk;
                size_t mkn;
                js_ws(j);
                rc = js_string(j, &mk, &mkn);
                if (rc == WH_OK)
                    rc = js_expect(j, ':');
                if (rc != WH_OK)
                    return rc;
                js_ws(j);
                span *dst = key_is(mk, mkn, "vocab")    ? &sp->vocab
                            : key_is(mk, mkn, "merges") ? &sp->merges
                                                        : NULL;
                const char *vs = j->p;
                rc = js_skip(j);
                if (rc != WH_OK)
                    return rc;
                if (dst != NULL) {
                    dst->start = vs;
                    dst->end = j->p;
                }
                more = js_next(j, '}');
                if (more < 0)
                    return more;
            }
            sp->model.end = j->p;
        } else {
            rc = js_skip(j);
            if (rc != WH_OK)
                return rc;
        }
        int more = js_next(j, '}');
        if (more < 0)
            return more;
        if (more == 0)
            return WH_OK;
    }
}

/* ---- vocab and merges ---- */

/* Pass over the vocab object: count entries and find the largest id (set == 0), or store
 * the tokens (set == 1). */
static int read_vocab(jscan *j, wh_tokenizer *t, int set, size_t *count, int64_t *max_id)
{
    int rc = js_expect(j, '{');
    if (rc != WH_OK)
        return rc;
    js_ws(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        return WH_OK;
    }
    for (;;) {
        const char *s;
        size_t n;
        int64_t id = 0;
        js_ws(j);
        const char *at = j->p;
        rc = js_string(j, &s, &n);
        if (rc == WH_OK)
            rc = js_expect(j, ':');
        if (rc == WH_OK)
            rc = js_int(j, &id);
        if (rc != WH_OK)
            return rc;
        if (id < 0 || id >= TOK_MAX_VOCAB) {
            j->p = at;
            return wh_err(
                j->err, WH_E_FORMAT,
                "%s: byte %zu: model.vocab: token \"%.*s\" has id %lld, out of range [0, %d)",
                j->src, (size_t)(at - j->base), (int)(n > 48 ? 48 : n), s, (long long)id,
                TOK_MAX_VOCAB);
        }
        if (set) {
            rc = tok_set_token(t, (int32_t)id, s, n, WH_TOKEN_NORMAL, j->err);
            if (rc != WH_OK)
                return wh_err_wrap(j->err, "%s: model.vocab at byte %zu", j->src,
                                   (size_t)(at - j->base));
        } else {
            (*count)++;
            if (id > *max_id)
                *max_id = id;
        }
        int more = js_next(j, '}');
        if (more < 0)
            return more;
        if (more == 0)
            return WH_OK;
    }
}

static int read_merges(jscan *j, wh_tokenizer *t, int set, size_t *count)
{
    int rc = js_expect(j, '[');
    if (rc != WH_OK)
        return rc;
    js_ws(j);
    if (j->p < j->end && *j->p == ']') {
        j->p++;
        return WH_OK;
    }
    tok_pool first = {0};
    int32_t rank = 0;
    for (;;) {
        js_ws(j);
        const char *at = j->p;
        const char *a = NULL, *b = NULL, *s;
        size_t na = 0, nb = 0, n;
        if (j->p < j->end && *j->p == '[') {
            j->p++;
            js_ws(j);
            rc = js_string(j, &s, &n);
            if (rc != WH_OK)
                goto out;
            /* the first string may live in j->str, which the second overwrites */
            first.len = 0;
            if (tok_pool_append(&first, s, n) != WH_OK) {
                rc = wh_err(j->err, WH_E_NOMEM, "%s: out of memory", j->src);
                goto out;
            }
            rc = js_expect(j, ',');
            if (rc == WH_OK) {
                js_ws(j);
                rc = js_string(j, &b, &nb);
            }
            if (rc == WH_OK)
                rc = js_expect(j, ']');
            if (rc != WH_OK)
                goto out;
            a = first.data;
            na = first.len;
        } else {
            rc = js_string(j, &s, &n);
            if (rc != WH_OK)
                goto out;
            const char *sp = memchr(s, ' ', n);
            if (sp == NULL || memchr(sp + 1, ' ', n - (size_t)(sp + 1 - s)) != NULL) {
                rc = wh_err(
                    j->err, WH_E_FORMAT,
                    "%s: byte %zu: merge %d \"%.*s\" is not two tokens separated by one space",
                    j->src, (size_t)(at - j->base), (int)rank, (int)(n > 48 ? 48 : n), s);
                goto out;
            }
            a = s;
            na = (size_t)(sp - s);
            b = sp + 1;
            nb = n - na - 1;
        }
        if (set) {
            rc = tok_add_merge(t, a, na, b, nb, rank, j->src, j->err);
            if (rc != WH_OK)
                goto out;
        } else {
            (*count)++;
        }
        if (rank == INT32_MAX) {
            rc = js_fail(j, "too many merges");
            goto out;
        }
        rank++;
        int more = js_next(j, ']');
        if (more <= 0) {
            rc = more;
            goto out;
        }
    }
out:
    tok_pool_free(&first);
    return rc;
}

/* ---- the json-c part ---- */

static json_object *get(json_object *o, const char *key)
{
    json_object *v = NULL;
    if (o == NULL || !json_object_is_type(o, json_type_object))
        return NULL;
    if (!json_object_object_get_ex(o, key, &v))
        return NULL;
    return v;
}

static int get_bool(json_object *o, const char *key)
{
    json_object *v = get(o, key);
    return v != NULL && json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
}

static const char *get_str(json_object *o, const char *key, size_t *n)
{
    json_object *v = get(o, key);
    if (v == NULL || !json_object_is_type(v, json_type_string))
        return NULL;
    *n = (size_t)json_object_get_string_len(v);
    return json_object_get_string(v);
}

static int type_is(json_object *o, const char *type)
{
    size_t n;
    const char *s = get_str(o, "type", &n);
    return s != NULL && key_is(s, n, type);
}

static int parse_normalizer(wh_tokenizer *t, json_object *norm, const char *src, wh_error *err)
{
    if (norm == NULL || json_object_is_type(norm, json_type_null))
        return WH_OK;
    if (type_is(norm, "NFC")) {
        t->pre.nfc = 1;
        return WH_OK;
    }
    if (type_is(norm, "Sequence")) {
        json_object *list = get(norm, "normalizers");
        size_t n =
            list && json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 0;
        for (size_t i = 0; i < n; i++) {
            int rc = parse_normalizer(t, json_object_array_get_idx(list, i), src, err);
            if (rc != WH_OK)
                return rc;
        }
        return WH_OK;
    }
    size_t n = 0;
    const char *ty = get_str(norm, "type", &n);
    return wh_err(err, WH_E_UNSUPPORTED, "%s: normalizer \"%.*s\" is not supported", src,
                  ty ? (int)n : 1, ty ? ty : "?");
}

static int parse_pre_one(wh_tokenizer *t, json_object *pt, const char *src, wh_error *err)
{
    size_t n = 0;
    const char *ty = get_str(pt, "type", &n);
    if (ty == NULL)
        return wh_err(err, WH_E_FORMAT, "%s: pre_tokenizer without a \"type\"", src);
    if (key_is(ty, n, "ByteLevel")) {
        if (get_bool(pt, "add_prefix_space"))
            return wh_err(err, WH_E_UNSUPPORTED, "%s: ByteLevel add_prefix_space is not supported",
                          src);
        json_object *ur = get(pt, "use_regex");
        if (ur == NULL || json_object_get_boolean(ur)) {
            /* ByteLevel's own regex is GPT-2's */
            tok_pretok tmp = {0};
            int rc = tok_pretok_preset(&tmp, "gpt2", 4, err);
            if (rc == WH_OK && t->pre.n_stages < TOK_MAX_STAGES) {
                t->pre.code[t->pre.n_stages++] = tmp.code[0];
                tmp.n_stages = 0;
            } else if (rc == WH_OK) {
                rc = wh_err(err, WH_E_UNSUPPORTED, "%s: too many pre-tokenizers", src);
            }
            tok_pretok_free(&tmp);
            return rc;
        }
        return WH_OK;
    }
    if (key_is(ty, n, "Split")) {
        size_t bn = 0;
        const char *beh = get_str(pt, "behavior", &bn);
        if (beh == NULL || !key_is(beh, bn, "Isolated") || get_bool(pt, "invert"))
            return wh_err(err, WH_E_UNSUPPORTED,
                          "%s: only Split with behavior \"Isolated\" and invert false is supported",
                          src);
        json_object *pat = get(pt, "pattern");
        size_t pn = 0;
        const char *re = get_str(pat, "Regex", &pn);
        if (re != NULL)
            return tok_pretok_add(&t->pre, re, pn, src, err);
        re = get_str(pat, "String", &pn);
        if (re != NULL)
            return tok_pretok_add_literal(&t->pre, re, pn, src, err);
        return wh_err(err, WH_E_FORMAT, "%s: Split pre_tokenizer without a pattern", src);
    }
    if (key_is(ty, n, "Digits")) {
        if (get_bool(pt, "individual_digits"))
            return tok_pretok_add(&t->pre, "\\p{N}", 5, src, err);
        return tok_pretok_add(&t->pre, "\\p{N}+", 6, src, err);
    }
    if (key_is(ty, n, "Sequence")) {
        json_object *list = get(pt, "pretokenizers");
        if (list == NULL || !json_object_is_type(list, json_type_array))
            return wh_err(err, WH_E_FORMAT, "%s: Sequence pre_tokenizer without a list", src);
        for (size_t i = 0; i < json_object_array_length(list); i++) {
            int rc = parse_pre_one(t, json_object_array_get_idx(list, i), src, err);
            if (rc != WH_OK)
                return rc;
        }
        return WH_OK;
    }
    return wh_err(err, WH_E_UNSUPPORTED, "%s: pre_tokenizer \"%.*s\" is not supported", src, (int)n,
                  ty);
}

/* Id of a token named in tokenizer_config.json ("x" or {"content": "x"}), or -1. */
static int32_t config_token(const wh_tokenizer *t, json_object *cfg, const char *key)
{
    json_object *v = get(cfg, key);
    if (v != NULL && json_object_is_type(v, json_type_object))
        v = get(v, "content");
    if (v == NULL || !json_object_is_type(v, json_type_string))
        return -1;
    return wh_tokenizer_find(t, json_object_get_string(v), (size_t)json_object_get_string_len(v));
}

static int parse_with_jsonc(const char *text, size_t len, const char *src, json_object **out,
                            wh_error *err)
{
    *out = NULL;
    json_tokener *tk = json_tokener_new();
    if (tk == NULL)
        return wh_err(err, WH_E_NOMEM, "%s: out of memory", src);
    json_object *o = json_tokener_parse_ex(tk, text, (int)len);
    enum json_tokener_error je = json_tokener_get_error(tk);
    size_t used = json_tokener_get_parse_end(tk);
    json_tokener_free(tk);
    if (o == NULL || je != json_tokener_success) {
        json_object_put(o);
        return wh_err(err, WH_E_FORMAT, "%s: JSON error near byte %zu: %s", src, used,
                      je == json_tokener_continue ? "unexpected end of file"
                                                  : json_tokener_error_desc(je));
    }
    while (used < len && text[used] != '\0' && strchr(" \t\r\n", text[used]) != NULL)
        used++;
    if (used < len) {
        json_object_put(o);
        return wh_err(err, WH_E_FORMAT, "%s: byte %zu: text after the JSON value", src, used);
    }
    if (!json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return wh_err(err, WH_E_FORMAT, "%s: the top level is not an object", src);
    }
    *out = o;
    return WH_OK;
}

int wh_tokenizer_load_json_mem(const char *json, size_t len, const char *config, size_t config_len,
                               const char *name, wh_tokenizer **out, wh_error *err)
{
    *out = NULL;
    const char *src = name ? name : "tokenizer.json";
    if (len > MAX_JSON_BYTES || len > INT32_MAX)
        return wh_err(err, WH_E_FORMAT, "%s: %zu bytes is too large", src, len);
    jscan j = {.base = json, .p = json, .end = json + len, .src = src, .err = err};
    spans sp;
    memset(&sp, 0, sizeof sp);
    json_object *root = NULL, *cfg = NULL;
    char *light = NULL;
    wh_tokenizer *t = wh_calloc(1, sizeof *t);
    if (t == NULL)
        return wh_err(err, WH_E_NOMEM, "%s: out of memory", src);
    t->bos = t->eos = t->think_open = t->think_close = -1;
    int rc = find_spans(&j, &sp);
    if (rc != WH_OK)
        goto fail;
    if (sp.model.start == NULL) {
        rc = wh_err(err, WH_E_MISSING, "%s: no \"model\" object", src);
        goto fail;
    }
    if (sp.vocab.start == NULL) {
        rc = wh_err(err, WH_E_MISSING, "%s: model has no \"vocab\"", src);
        goto fail;
    }

    /* json-c sees everything but vocab and merges */
    light = wh_malloc(len + 8);
    if (light == NULL) {
        rc = wh_err(err, WH_E_NOMEM, "%s: out of memory", src);
        goto fail;
    }
    {
        const span *cut[2] = {&sp.vocab, &sp.merges};
        if (sp.merges.start != NULL && sp.merges.start < sp.vocab.start) {
            cut[0] = &sp.merges;
            cut[1] = &sp.vocab;
        }
        size_t k = 0;
        const char *from = json;
        for (int i = 0; i < 2; i++) {
            if (cut[i]->start == NULL)
                continue;
            size_t n = (size_t)(cut[i]->start - from);
            memcpy(light + k, from, n);
            k += n;
            memcpy(light + k, cut[i] == &sp.vocab ? "{}" : "[]", 2);
            k += 2;
            from = cut[i]->end;
        }
        size_t n = (size_t)(json + len - from);
        memcpy(light + k, from, n);
        k += n;
        rc = parse_with_jsonc(light, k, src, &root, err);
        wh_free(light);
        light = NULL;
        if (rc != WH_OK)
            goto fail;
    }
    json_object *model = get(root, "model");
    size_t tn = 0;
    const char *mtype = get_str(model, "type", &tn);
    if (mtype != NULL && !key_is(mtype, tn, "BPE")) {
        rc = wh_err(err, WH_E_UNSUPPORTED, "%s: model type \"%.*s\" is not supported (BPE only)",
                    src, (int)tn, mtype);
        goto fail;
    }
    size_t pn = 0;
    const char *pfx = get_str(model, "continuing_subword_prefix", &pn);
    const char *sfx = get_str(model, "end_of_word_suffix", &tn);
    if ((pfx != NULL && pn > 0) || (sfx != NULL && tn > 0) || get_bool(model, "byte_fallback")) {
        rc =
            wh_err(err, WH_E_UNSUPPORTED,
                   "%s: BPE with subword prefixes/suffixes or byte fallback is not supported", src);
        goto fail;
    }
    t->ignore_merges = get_bool(model, "ignore_merges");

    /* sizes: largest id over vocab and added tokens */
    json_object *added = get(root, "added_tokens");
    size_t n_added =
        added && json_object_is_type(added, json_type_array) ? json_object_array_length(added) : 0;
    size_t n_tokens = 0, n_merges = 0;
    int64_t max_id = -1;
    j.p = sp.vocab.start;
    rc = read_vocab(&j, t, 0, &n_tokens, &max_id);
    if (rc != WH_OK)
        goto fail;
    for (size_t i = 0; i < n_added; i++) {
        json_object *a = json_object_array_get_idx(added, i);
        json_object *idv = get(a, "id");
        if (idv == NULL || !json_object_is_type(idv, json_type_int) || get(a, "content") == NULL ||
            !json_object_is_type(get(a, "content"), json_type_string)) {
            rc = wh_err(err, WH_E_FORMAT,
                        "%s: added_tokens[%zu] needs an integer id and a string content", src, i);
            goto fail;
        }
        int64_t id = json_object_get_int64(idv);
        if (id < 0 || id >= TOK_MAX_VOCAB) {
            rc = wh_err(err, WH_E_FORMAT, "%s: added_tokens[%zu]: id %lld out of range [0, %d)",
                        src, i, (long long)id, TOK_MAX_VOCAB);
            goto fail;
        }
        if (id > max_id)
            max_id = id;
    }
    if (max_id < 0) {
        rc = wh_err(err, WH_E_FORMAT, "%s: empty vocabulary", src);
        goto fail;
    }
    rc = tok_alloc_ids(t, (int32_t)(max_id + 1), err);
    if (rc != WH_OK)
        goto fail;
    j.p = sp.vocab.start;
    rc = read_vocab(&j, t, 1, &n_tokens, &max_id);
    if (rc != WH_OK)
        goto fail;
    for (size_t i = 0; i < n_added; i++) {
        json_object *a = json_object_array_get_idx(added, i);
        json_object *c = get(a, "content");
        int32_t id = (int32_t)json_object_get_int64(get(a, "id"));
        rc = tok_add_added(t, id, json_object_get_string(c), (size_t)json_object_get_string_len(c),
                           get_bool(a, "special"), get_bool(a, "lstrip"), get_bool(a, "rstrip"),
                           get_bool(a, "single_word"), err);
        if (rc != WH_OK) {
            wh_err_wrap(err, "%s: added_tokens[%zu]", src, i);
            goto fail;
        }
    }
    rc = tok_build_vocab_hash(t, 1, src, err);
    if (rc != WH_OK)
        goto fail;
    if (sp.merges.start != NULL) {
        j.p = sp.merges.start;
        rc = read_merges(&j, t, 0, &n_merges);
        if (rc == WH_OK)
            rc = tok_merges_alloc(t, n_merges, err);
        if (rc != WH_OK)
            goto fail;
        j.p = sp.merges.start;
        rc = read_merges(&j, t, 1, &n_merges);
        if (rc != WH_OK)
            goto fail;
    } else {
        rc = tok_merges_alloc(t, 0, err);
        if (rc != WH_OK)
            goto fail;
    }

    rc = parse_normalizer(t, get(root, "normalizer"), src, err);
    if (rc != WH_OK)
        goto fail;
    json_object *pre = get(root, "pre_tokenizer");
    if (pre != NULL && !json_object_is_type(pre, json_type_null)) {
        rc = parse_pre_one(t, pre, src, err);
        if (rc != WH_OK)
            goto fail;
    }
    t->pre.name = "tokenizer.json"; /* the file's own Split sequence */

    if (config != NULL) {
        rc = parse_with_jsonc(config, config_len, "tokenizer_config.json", &cfg, err);
        if (rc != WH_OK)
            goto fail;
        t->bos = config_token(t, cfg, "bos_token");
        t->eos = config_token(t, cfg, "eos_token");
        t->add_bos = get_bool(cfg, "add_bos_token");
    } else {
        /* no config: DeepSeek's names, when present (its config adds BOS) */
        static const char bos[] = "<\xef\xbd\x9c"
                                  "begin\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>";
        static const char eos[] = "<\xef\xbd\x9c"
                                  "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>";
        t->bos = wh_tokenizer_find(t, bos, sizeof bos - 1);
        t->eos = wh_tokenizer_find(t, eos, sizeof eos - 1);
        t->add_bos = t->bos >= 0;
    }
    rc = tok_finish(t, src, err);
    if (rc != WH_OK)
        goto fail;
    json_object_put(root);
    json_object_put(cfg);
    tok_pool_free(&j.str);
    *out = t;
    return WH_OK;
fail:
    json_object_put(root);
    json_object_put(cfg);
    tok_pool_free(&j.str);
    wh_free(light);
    wh_tokenizer_free(t);
    return rc;
}

int wh_tokenizer_load_json(const char *path, wh_tokenizer **out, wh_error *err)
{
    *out = NULL;
    char *file = NULL, *dir = NULL, *cfg_path = NULL, *text = NULL, *cfg = NULL;
    uint64_t len = 0, cfg_len = 0;
    int rc;
    if (wh_is_dir(path)) {
        rc = wh_path_join_inside(path, "tokenizer.json", &file, "tokenizer.json", err);
        if (rc != WH_OK)
            return rc;
        dir = wh_strdup(path);
    } else {
        file = wh_strdup(path);
        dir = wh_path_dirname(path);
    }
    if (file == NULL || dir == NULL) {
        rc = wh_err(err, WH_E_NOMEM, "%s: out of memory", path);
        goto out;
    }
    rc = wh_read_text(file, MAX_JSON_BYTES, &text, &len, err);
    if (rc != WH_OK)
        goto out;
    rc = wh_path_join_inside(dir, "tokenizer_config.json", &cfg_path, "tokenizer_config.json", err);
    if (rc != WH_OK)
        goto out;
    if (wh_is_file(cfg_path)) {
        rc = wh_read_text(cfg_path, 64u << 20, &cfg, &cfg_len, err);
        if (rc != WH_OK)
            goto out;
    }
    rc = wh_tokenizer_load_json_mem(text, (size_t)len, cfg, (size_t)cfg_len, file, out, err);
out:
    wh_free(file);
    wh_free(dir);
    wh_free(cfg_path);
    wh_free(text);
    wh_free(cfg);
    return rc;
}
