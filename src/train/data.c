/*
 * data.c — `whale data`'s shard writer and the training loader's seeded windows.
 * Formats and the order of sequences: data.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "base/alloc.h"
#include "base/error.h"
#include "train/data.h"

/* ---------------------------------------------------------------- shard writer */

typedef struct shard_writer {
    const char *dir, *split;
    FILE *f;
    char path[4096];
    int index;
    uint64_t count, max_tokens;
    uint32_t vocab, eos;
} shard_writer;

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const unsigned char *p)
{
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

static void shard_header(unsigned char *h, uint32_t vocab, uint32_t eos, uint64_t count)
{
    memset(h, 0, WH_SHARD_HEADER);
    put_u32(h, WH_SHARD_MAGIC);
    put_u32(h + 4, WH_SHARD_VERSION);
    put_u32(h + 8, vocab);
    put_u32(h + 12, WH_SHARD_U32);
    put_u64(h + 16, count);
    put_u32(h + 24, eos);
}

static int shard_close(shard_writer *w, wh_error *err)
{
    if (w->f == NULL)
        return WH_OK;
    unsigned char h[WH_SHARD_HEADER];
    shard_header(h, w->vocab, w->eos, w->count);
    int bad = fseek(w->f, 0, SEEK_SET) != 0 || fwrite(h, 1, sizeof h, w->f) != sizeof h;
    bad |= fclose(w->f) != 0;
    w->f = NULL;
    w->index++;
    if (bad)
        return wh_err(err, WH_E_IO, "%s: write failed: %s", w->path, strerror(errno));
    return WH_OK;
}

static int shard_open(shard_writer *w, wh_error *err)
{
    snprintf(w->path, sizeof w->path, "%s/%s-%05d.tok", w->dir, w->split, w->index);
    w->f = fopen(w->path, "wb");
    if (w->f == NULL)
        return wh_err(err, WH_E_IO, "%s: cannot create: %s", w->path, strerror(errno));
    unsigned char h[WH_SHARD_HEADER];
    shard_header(h, w->vocab, w->eos, 0);
    w->count = 0;
    if (fwrite(h, 1, sizeof h, w->f) != sizeof h)
        return wh_err(err, WH_E_IO, "%s: write failed: %s", w->path, strerror(errno));
    return WH_OK;
}

static int shard_put(shard_writer *w, const int32_t *ids, size_t n, wh_error *err)
{
    unsigned char buf[4096];
    size_t i = 0;
    while (i < n) {
        if (w->f == NULL || w->count >= w->max_tokens) {
            int rc = shard_close(w, err);
            if (rc == WH_OK)
                rc = shard_open(w, err);
            if (rc != WH_OK)
                return rc;
        }
        size_t room = w->max_tokens - w->count, k = 0;
        while (i < n && k < sizeof buf / 4 && k < room) {
            put_u32(buf + 4 * k, (uint32_t)ids[i]);
            k++;
            i++;
        }
        if (fwrite(buf, 4, k, w->f) != k)
            return wh_err(err, WH_E_IO, "%s: write failed: %s", w->path, strerror(errno));
        w->count += k;
    }
    return WH_OK;
}

/* ---------------------------------------------------------------- documents */

typedef struct build_ctx {
    const wh_data_opts *o;
    const wh_tokenizer *tok;
    shard_writer w[2];
    wh_data_report *rep;
    uint64_t doc_index;
} build_ctx;

static int is_val(const build_ctx *b, uint64_t doc)
{
    uint64_t x = b->o->seed ^ (doc * 0xD1B54A32D192ED03ull);
    double u = (double)(wh_tr_splitmix64(&x) >> 11) * (1.0 / 9007199254740992.0);
    return u < b->o->val_fraction;
}

static int add_doc(build_ctx *b, const char *text, size_t len, const char *where, wh_error *err)
{
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = wh_tokenizer_encode(b->tok, text, len, 0, &ids, &n, err);
    if (rc != WH_OK)
        return wh_err_wrap(err, "%s", where);
    int split = is_val(b, b->doc_index++);
    rc = shard_put(&b->w[split], ids, n, err);
    if (rc == WH_OK && b->rep->eos >= 0) {
        int32_t e = b->rep->eos;
        rc = shard_put(&b->w[split], &e, 1, err);
        n++;
    }
    wh_free(ids);
    b->rep->docs[split]++;
    b->rep->tokens[split] += n;
    return rc;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int add_jsonl(build_ctx *b, const char *path, char *text, size_t len, wh_error *err)
{
    size_t line = 0, pos = 0;
    char where[4200];
    while (pos < len) {
        size_t end = pos;
        while (end < len && text[end] != '\n')
            end++;
        line++;
        size_t a = pos, z = end;
        while (a < z && (text[a] == ' ' || text[a] == '\t' || text[a] == '\r'))
            a++;
        pos = end + 1;
        if (a == z)
            continue; /* blank line */
        json_tokener *tk = json_tokener_new();
        if (tk == NULL)
            return wh_err(err, WH_E_NOMEM, "%s:%zu: out of memory", path, line);
        json_object *o = json_tokener_parse_ex(tk, text + a, (int)(z - a));
        enum json_tokener_error je = json_tokener_get_error(tk);
        json_tokener_free(tk);
        json_object *tx = NULL;
        int rc = WH_OK;
        if (o == NULL || je != json_tokener_success)
            rc = wh_err(err, WH_E_FORMAT, "%s:%zu: not a JSON object: %s", path, line,
                        json_tokener_error_desc(je));
        else if (!json_object_is_type(o, json_type_object) ||
                 !json_object_object_get_ex(o, "text", &tx) ||
                 !json_object_is_type(tx, json_type_string))
            rc = wh_err(err, WH_E_FORMAT, "%s:%zu: no string field \"text\"", path, line);
        else {
            snprintf(where, sizeof where, "%s:%zu", path, line);
            rc = add_doc(b, json_object_get_string(tx), (size_t)json_object_get_string_len(tx),
                         where, err);
        }
        json_object_put(o);
        if (rc != WH_OK)
            return rc;
    }
    return WH_OK;
}

int wh_data_build(const wh_data_opts *o, const char *const *inputs, int n, wh_data_report *rep,
                  wh_error *err)
{
    memset(rep, 0, sizeof *rep);
    if (o->val_fraction < 0.0 || o->val_fraction > 1.0)
        return wh_err(err, WH_E_INVALID, "data: validation fraction %g is not in [0, 1]",
                      o->val_fraction);
    if (mkdir(o->out_dir, 0777) != 0 && errno != EEXIST)
        return wh_err(err, WH_E_IO, "%s: cannot create folder: %s", o->out_dir, strerror(errno));
    wh_tokenizer *tok = NULL;
    int rc = wh_tokenizer_load(o->tokenizer, &tok, err);
    if (rc != WH_OK)
        return rc;
    rep->vocab = wh_tokenizer_n_vocab(tok);
    rep->eos = wh_tokenizer_eos(tok);
    build_ctx b = {o, tok, {{0}, {0}}, rep, 0};
    for (int s = 0; s < 2; s++) {
        b.w[s].dir = o->out_dir;
        b.w[s].split = s ? "val" : "train";
        b.w[s].max_tokens = o->shard_tokens ? o->shard_tokens : 100000000ull;
        b.w[s].vocab = (uint32_t)rep->vocab;
        b.w[s].eos = rep->eos >= 0 ? (uint32_t)rep->eos : 0xFFFFFFFFu;
    }
    for (int i = 0; i < n && rc == WH_OK; i++) {
        char *text = NULL;
        uint64_t len = 0;
        rc = wh_read_text(inputs[i], (uint64_t)1 << 40, &text, &len, err);
        if (rc != WH_OK)
            break;
        if (ends_with(inputs[i], ".jsonl"))
            rc = add_jsonl(&b, inputs[i], text, (size_t)len, err);
        else
            rc = add_doc(&b, text, (size_t)len, inputs[i], err);
        wh_free(text);
    }
    for (int s = 0; s < 2; s++) {
        int rc2 = shard_close(&b.w[s], err);
        if (rc == WH_OK)
            rc = rc2;
        rep->shards[s] = b.w[s].index;
    }
    wh_tokenizer_free(tok);
    return rc;
}

/* ---------------------------------------------------------------- loader */

static int check_header(const unsigned char *h, uint64_t size, const char *path, uint32_t *vocab,
                        uint32_t *eos, uint64_t *count, wh_error *err)
{
    if (size < WH_SHARD_HEADER)
        return wh_err(err, WH_E_FORMAT, "%s: %llu bytes, shorter than the 32-byte header", path,
                      (unsigned long long)size);
    if (get_u32(h) != WH_SHARD_MAGIC)
        return wh_err(err, WH_E_FORMAT, "%s: offset 0: bad magic 0x%08x (want \"WHTK\")", path,
                      get_u32(h));
    if (get_u32(h + 4) != WH_SHARD_VERSION)
        return wh_err(err, WH_E_UNSUPPORTED, "%s: offset 4: version %u (this whale reads 1)", path,
                      get_u32(h + 4));
    if (get_u32(h + 12) != WH_SHARD_U32)
        return wh_err(err, WH_E_UNSUPPORTED, "%s: offset 12: dtype %u (only 1 = u32)", path,
                      get_u32(h + 12));
    *vocab = get_u32(h + 8);
    *eos = get_u32(h + 24);
    *count = get_u64(h + 16);
    if (*vocab == 0)
        return wh_err(err, WH_E_FORMAT, "%s: offset 8: vocabulary size 0", path);
    if (size != WH_SHARD_HEADER + 4 * *count)
        return wh_err(err, WH_E_FORMAT,
                      "%s: offset 16: header says %llu tokens (%llu bytes), the file has %llu "
                      "bytes (truncated?)",
                      path, (unsigned long long)*count,
                      (unsigned long long)(WH_SHARD_HEADER + 4 * *count), (unsigned long long)size);
    return WH_OK;
}

int wh_shard_read_header(const char *path, uint32_t *vocab, uint32_t *eos, uint64_t *count,
                         wh_error *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return wh_err(err, WH_E_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char h[WH_SHARD_HEADER] = {0};
    size_t got = fread(h, 1, sizeof h, f);
    struct stat st;
    int ok = fstat(fileno(f), &st) == 0;
    fclose(f);
    if (!ok)
        return wh_err(err, WH_E_IO, "%s: cannot stat", path);
    return check_header(h, got < sizeof h ? got : (uint64_t)st.st_size, path, vocab, eos, count,
                        err);
}

void wh_tr_loader_close(wh_tr_loader *ld)
{
    for (int i = 0; i < ld->n_shards; i++)
        wh_mapfile_close(&ld->maps[i]);
    wh_free(ld->maps);
    wh_free(ld->first);
    wh_free(ld->perm);
    memset(ld, 0, sizeof *ld);
}

int wh_tr_loader_open(wh_tr_loader *ld, const char *dir, const char *split, int T, int shuffle,
                      uint64_t seed, wh_error *err)
{
    memset(ld, 0, sizeof *ld);
    ld->T = T;
    ld->seed = seed;
    ld->shuffle = shuffle;
    ld->perm_epoch = -1;
    if (T <= 0)
        return wh_err(err, WH_E_INVALID, "data: sequence length %d", T);
    if (!wh_is_dir(dir))
        return wh_err(err, WH_E_IO, "%s: not a folder of shards (run `whale data`)", dir);
    char path[4096];
    int n = 0;
    for (;; n++) {
        snprintf(path, sizeof path, "%s/%s-%05d.tok", dir, split, n);
        if (!wh_is_file(path))
            break;
    }
    ld->maps = wh_calloc((size_t)n + 1, sizeof *ld->maps);
    ld->first = wh_calloc((size_t)n + 1, sizeof *ld->first);
    if (!ld->maps || !ld->first) {
        wh_tr_loader_close(ld);
        return wh_err(err, WH_E_NOMEM, "data: out of memory");
    }
    int rc = WH_OK;
    for (int i = 0; i < n && rc == WH_OK; i++) {
        snprintf(path, sizeof path, "%s/%s-%05d.tok", dir, split, i);
        rc = wh_mapfile_open(&ld->maps[i], path, err);
        if (rc != WH_OK)
            break;
        ld->n_shards++;
        uint32_t vocab, eos;
        uint64_t count;
        rc = check_header(ld->maps[i].data, ld->maps[i].size, path, &vocab, &eos, &count, err);
        if (rc != WH_OK)
            break;
        if (i > 0 && (vocab != ld->vocab || eos != ld->eos))
            rc = wh_err(err, WH_E_FORMAT,
                        "%s: vocabulary %u / EOS %u differ from the first shard's %u / %u", path,
                        vocab, eos, ld->vocab, ld->eos);
        ld->vocab = vocab;
        ld->eos = eos;
        const unsigned char *p = ld->maps[i].data + WH_SHARD_HEADER;
        for (uint64_t j = 0; j < count && rc == WH_OK; j++)
            if (get_u32(p + 4 * j) >= vocab)
                rc = wh_err(
                    err, WH_E_FORMAT, "%s: offset %llu: token %u is outside the vocabulary of %u",
                    path, (unsigned long long)(WH_SHARD_HEADER + 4 * j), get_u32(p + 4 * j), vocab);
        ld->n_tokens += count;
        uint64_t w = count > 0 ? (count - 1) / (uint64_t)T : 0;
        ld->first[i + 1] = ld->first[i] + w;
    }
    if (rc != WH_OK) {
        wh_tr_loader_close(ld);
        return rc;
    }
    ld->n_windows = ld->first[n];
    if (shuffle && ld->n_windows > 0) {
        if (ld->n_windows > UINT32_MAX) {
            wh_tr_loader_close(ld);
            return wh_err(err, WH_E_UNSUPPORTED, "%s: more than 2^32 windows", dir);
        }
        ld->perm = wh_malloc(ld->n_windows * sizeof *ld->perm);
        if (ld->perm == NULL) {
            wh_tr_loader_close(ld);
            return wh_err(err, WH_E_NOMEM, "data: out of memory for %llu windows",
                          (unsigned long long)ld->n_windows);
        }
    }
    return WH_OK;
}

/* Fisher-Yates with a stream seeded by (seed, epoch) */
static void make_perm(wh_tr_loader *ld, int64_t epoch)
{
    wh_tr_rng r;
    uint64_t x = ld->seed ^ ((uint64_t)epoch * 0x9E3779B97F4A7C15ull + 0x5EEDull);
    wh_tr_rng_seed(&r, wh_tr_splitmix64(&x));
    for (uint64_t i = 0; i < ld->n_windows; i++)
        ld->perm[i] = (uint32_t)i;
    for (uint64_t i = ld->n_windows; i > 1; i--) {
        uint64_t j = wh_tr_rng_below(&r, i);
        uint32_t tmp = ld->perm[i - 1];
        ld->perm[i - 1] = ld->perm[j];
        ld->perm[j] = tmp;
    }
    ld->perm_epoch = epoch;
}

void wh_tr_loader_get(wh_tr_loader *ld, uint64_t s, int *tokens, int *targets)
{
    uint64_t w = s % ld->n_windows;
    if (ld->shuffle) {
        int64_t epoch = (int64_t)(s / ld->n_windows);
        if (epoch != ld->perm_epoch)
            make_perm(ld, epoch);
        w = ld->perm[w];
    }
    int lo = 0, hi = ld->n_shards - 1; /* the shard with first[i] <= w < first[i+1] */
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (ld->first[mid] <= w)
            lo = mid;
        else
            hi = mid - 1;
    }
    const unsigned char *p =
        ld->maps[lo].data + WH_SHARD_HEADER + 4 * (w - ld->first[lo]) * (uint64_t)ld->T;
    for (int t = 0; t < ld->T; t++) {
        tokens[t] = (int)get_u32(p + 4 * t);
        targets[t] = (int)get_u32(p + 4 * (t + 1));
    }
}
