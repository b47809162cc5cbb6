/*
 * checkpoint.c — saving and loading a training run (format: checkpoint.h). The write is
 * atomic: temp file, fsync, rename, fsync of the folder.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/error.h"
#include "train/checkpoint.h"

#define CK_MAGIC 0x4B434857u
#define CK_VERSION 1u
#define CK_CHUNK (64u * 1024u)
#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

void (*wh_tr_ckpt_chunk_hook)(unsigned long long bytes) = NULL;

/* The config and hyperparameters, in file order. */
static const size_t CFG_INTS[] = {
    offsetof(wh_tr_config, V),
    offsetof(wh_tr_config, C),
    offsetof(wh_tr_config, L),
    offsetof(wh_tr_config, NH),
    offsetof(wh_tr_config, QLR),
    offsetof(wh_tr_config, KVLR),
    offsetof(wh_tr_config, NOPE),
    offsetof(wh_tr_config, ROPE),
    offsetof(wh_tr_config, VD),
    offsetof(wh_tr_config, FF),
    offsetof(wh_tr_config, E),
    offsetof(wh_tr_config, K),
    offsetof(wh_tr_config, MI),
    offsetof(wh_tr_config, NS),
    offsetof(wh_tr_config, G),
    offsetof(wh_tr_config, TG),
    offsetof(wh_tr_config, first_dense),
    offsetof(wh_tr_config, norm_topk),
    offsetof(wh_tr_config, mtp),
    offsetof(wh_tr_config, rope_scaling),
    offsetof(wh_tr_config, rope_orig_max_pos),
};
static const size_t CFG_FLOATS[] = {
    offsetof(wh_tr_config, eps),
    offsetof(wh_tr_config, route_scale),
    offsetof(wh_tr_config, mtp_lambda),
    offsetof(wh_tr_config, bal_alpha),
    offsetof(wh_tr_config, rope_theta),
    offsetof(wh_tr_config, rope_factor),
    offsetof(wh_tr_config, yarn_beta_fast),
    offsetof(wh_tr_config, yarn_beta_slow),
    offsetof(wh_tr_config, yarn_mscale),
    offsetof(wh_tr_config, yarn_mscale_all_dim),
};
static const size_t HP_INTS[] = {
    offsetof(wh_tr_hparams, steps),
    offsetof(wh_tr_hparams, warmup),
    offsetof(wh_tr_hparams, schedule),
    offsetof(wh_tr_hparams, decay_steps),
};
static const size_t HP_FLOATS[] = {
    offsetof(wh_tr_hparams, lr),       offsetof(wh_tr_hparams, lr_min),
    offsetof(wh_tr_hparams, beta1),    offsetof(wh_tr_hparams, beta2),
    offsetof(wh_tr_hparams, adam_eps), offsetof(wh_tr_hparams, weight_decay),
    offsetof(wh_tr_hparams, clip),     offsetof(wh_tr_hparams, gamma),
    offsetof(wh_tr_hparams, init_std),
};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define N_INTS (COUNT(CFG_INTS) + COUNT(HP_INTS))
#define N_FLOATS (COUNT(CFG_FLOATS) + COUNT(HP_FLOATS))

/* ---------------------------------------------------------------- writer */

typedef struct ckw {
    int fd;
    const char *path;
    unsigned char *buf;
    size_t n;
    unsigned long long written;
    uint64_t h;
    int failed;
} ckw;

static void hash_words(uint64_t *h, const unsigned char *p, size_t n)
{
    uint64_t x = *h;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8); /* little-endian hosts (x86-64, arm64) */
        x = (x ^ w) * FNV_PRIME;
    }
    if (i < n) {
        uint64_t w = 0;
        memcpy(&w, p + i, n - i);
        x = (x ^ w) * FNV_PRIME;
    }
    *h = x;
}

static void ckw_flush(ckw *w)
{
    if (w->failed || w->n == 0)
        return;
    hash_words(&w->h, w->buf, w->n);
    size_t off = 0;
    while (off < w->n) {
        ssize_t k = write(w->fd, w->buf + off, w->n - off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            w->failed = errno ? errno : EIO;
            return;
        }
        off += (size_t)k;
    }
    w->written += w->n;
    w->n = 0;
    if (wh_tr_ckpt_chunk_hook)
        wh_tr_ckpt_chunk_hook(w->written);
}

static void ckw_put(ckw *w, const void *p, size_t n)
{
    const unsigned char *s = p;
    while (n > 0 && !w->failed) {
        size_t k = CK_CHUNK - w->n < n ? CK_CHUNK - w->n : n;
        memcpy(w->buf + w->n, s, k);
        w->n += k;
        s += k;
        n -= k;
        if (w->n == CK_CHUNK)
            ckw_flush(w);
    }
}

static void put32(ckw *w, uint32_t v)
{
    ckw_put(w, &v, 4);
}

static void put64(ckw *w, uint64_t v)
{
    ckw_put(w, &v, 8);
}

static uint64_t file_size(const wh_trainer *t)
{
    uint64_t np = t->model.n_params, nb = (uint64_t)t->model.n_blocks * t->E1;
    return 16 + 48 + 16 + 8 + 4 * (N_INTS + N_FLOATS) + 16 + 4 * (3 * np + nb) + 8;
}

int wh_tr_ckpt_save(const char *path, const wh_trainer *t, uint64_t seed, int grad_accum,
                    wh_error *err)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    ckw w = {0};
    w.path = tmp;
    w.h = FNV_OFFSET;
    w.buf = wh_malloc(CK_CHUNK);
    if (w.buf == NULL)
        return wh_err(err, WH_E_NOMEM, "%s: out of memory", path);
    w.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (w.fd < 0) {
        wh_free(w.buf);
        return wh_err(err, WH_E_IO, "%s: cannot create: %s", tmp, strerror(errno));
    }
    const wh_tr_model *m = &t->model;
    uint64_t np = m->n_params, nb = (uint64_t)m->n_blocks * t->E1;
    put32(&w, CK_MAGIC);
    put32(&w, CK_VERSION);
    put64(&w, file_size(t));
    put64(&w, seed);
    put64(&w, t->data_pos);
    for (int i = 0; i < 4; i++)
        put64(&w, t->rng.s[i]);
    put32(&w, (uint32_t)t->step);
    put32(&w, (uint32_t)m->B);
    put32(&w, (uint32_t)m->T);
    put32(&w, (uint32_t)grad_accum);
    put32(&w, (uint32_t)N_INTS);
    put32(&w, (uint32_t)N_FLOATS);
    for (size_t i = 0; i < COUNT(CFG_INTS); i++)
        ckw_put(&w, (const char *)&m->cfg + CFG_INTS[i], 4);
    for (size_t i = 0; i < COUNT(HP_INTS); i++)
        ckw_put(&w, (const char *)&t->hp + HP_INTS[i], 4);
    for (size_t i = 0; i < COUNT(CFG_FLOATS); i++)
        ckw_put(&w, (const char *)&m->cfg + CFG_FLOATS[i], 4);
    for (size_t i = 0; i < COUNT(HP_FLOATS); i++)
        ckw_put(&w, (const char *)&t->hp + HP_FLOATS[i], 4);
    put64(&w, np);
    put64(&w, nb);
    ckw_put(&w, m->params, np * 4);
    ckw_put(&w, t->m, np * 4);
    ckw_put(&w, t->v, np * 4);
    ckw_put(&w, m->route_bias, nb * 4);
    ckw_flush(&w);
    uint64_t h = w.h;
    if (!w.failed) {
        memcpy(w.buf, &h, 8);
        w.n = 8;
        size_t off = 0;
        while (off < 8 && !w.failed) {
            ssize_t k = write(w.fd, w.buf + off, 8 - off);
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0)
                w.failed = errno ? errno : EIO;
            else
                off += (size_t)k;
        }
    }
    wh_free(w.buf);
    if (!w.failed && fsync(w.fd) != 0)
        w.failed = errno;
    if (close(w.fd) != 0 && !w.failed)
        w.failed = errno;
    if (w.failed) {
        unlink(tmp);
        return wh_err(err, WH_E_IO, "%s: write failed: %s", tmp, strerror(w.failed));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return wh_err(err, WH_E_IO, "%s: cannot rename into place: %s", path, strerror(e));
    }
    char *dir = wh_path_dirname(path);
    if (dir == NULL)
        return wh_err(err, WH_E_NOMEM, "%s: out of memory", path);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    int rc = WH_OK;
    if (dfd < 0 || fsync(dfd) != 0)
        rc = wh_err(err, WH_E_IO, "%s: cannot fsync the folder: %s", dir, strerror(errno));
    if (dfd >= 0)
        close(dfd);
    wh_free(dir);
    return rc;
}

/* ---------------------------------------------------------------- reader */

typedef struct ckr {
    const unsigned char *p;
    uint64_t off, size;
} ckr;

static uint32_t get32(ckr *r)
{
    uint32_t v;
    memcpy(&v, r->p + r->off, 4);
    r->off += 4;
    return v;
}

static uint64_t get64(ckr *r)
{
    uint64_t v;
    memcpy(&v, r->p + r->off, 8);
    r->off += 8;
    return v;
}

void wh_tr_ckpt_close(wh_tr_ckpt *ck)
{
    wh_mapfile_close(&ck->mf);
    memset(ck, 0, sizeof *ck);
}

int wh_tr_ckpt_open(wh_tr_ckpt *ck, const char *path, wh_error *err)
{
    memset(ck, 0, sizeof *ck);
    int rc = wh_mapfile_open(&ck->mf, path, err);
    if (rc != WH_OK)
        return rc;
    ckr r = {ck->mf.data, 0, ck->mf.size};
    const uint64_t fixed = 16 + 48 + 16 + 8;
#define FAIL(code, ...)                                                                            \
    do {                                                                                           \
        rc = wh_err(err, code, __VA_ARGS__);                                                       \
        wh_tr_ckpt_close(ck);                                                                      \
        return rc;                                                                                 \
    } while (0)
    if (r.size < fixed + 8)
        FAIL(WH_E_FORMAT, "%s: %llu bytes: truncated (a checkpoint has at least %llu)", path,
             (unsigned long long)r.size, (unsigned long long)(fixed + 8));
    if (get32(&r) != CK_MAGIC)
        FAIL(WH_E_FORMAT, "%s: offset 0: not a whale checkpoint (bad magic)", path);
    uint32_t version = get32(&r);
    if (version != CK_VERSION)
        FAIL(WH_E_UNSUPPORTED, "%s: offset 4: version %u (this whale reads %u)", path, version,
             CK_VERSION);
    uint64_t size = get64(&r);
    if (size != r.size)
        FAIL(WH_E_FORMAT, "%s: offset 8: header says %llu bytes, the file has %llu (truncated?)",
             path, (unsigned long long)size, (unsigned long long)r.size);
    uint64_t h = FNV_OFFSET, stored;
    hash_words(&h, r.p, (size_t)(r.size - 8));
    memcpy(&stored, r.p + r.size - 8, 8);
    if (h != stored)
        FAIL(WH_E_FORMAT, "%s: offset %llu: checksum mismatch (the file is corrupt)", path,
             (unsigned long long)(r.size - 8));
    ck->seed = get64(&r);
    ck->data_pos = get64(&r);
    for (int i = 0; i < 4; i++)
        ck->rng.s[i] = get64(&r);
    ck->step = (int)get32(&r);
    ck->B = (int)get32(&r);
    ck->T = (int)get32(&r);
    ck->grad_accum = (int)get32(&r);
    uint32_t ni = get32(&r), nf = get32(&r);
    if (ni != N_INTS || nf != N_FLOATS)
        FAIL(WH_E_FORMAT, "%s: offset %llu: %u config ints and %u floats (want %zu and %zu)", path,
             (unsigned long long)(r.off - 8), ni, nf, (size_t)N_INTS, (size_t)N_FLOATS);
    if (r.size < fixed + 4 * (uint64_t)(ni + nf) + 16 + 8)
        FAIL(WH_E_FORMAT, "%s: truncated in the config", path);
    ck->hp = wh_tr_hparams_defaults();
    for (size_t i = 0; i < COUNT(CFG_INTS); i++) {
        memcpy((char *)&ck->cfg + CFG_INTS[i], r.p + r.off, 4);
        r.off += 4;
    }
    for (size_t i = 0; i < COUNT(HP_INTS); i++) {
        memcpy((char *)&ck->hp + HP_INTS[i], r.p + r.off, 4);
        r.off += 4;
    }
    for (size_t i = 0; i < COUNT(CFG_FLOATS); i++) {
        memcpy((char *)&ck->cfg + CFG_FLOATS[i], r.p + r.off, 4);
        r.off += 4;
    }
    for (size_t i = 0; i < COUNT(HP_FLOATS); i++) {
        memcpy((char *)&ck->hp + HP_FLOATS[i], r.p + r.off, 4);
        r.off += 4;
    }
    ck->n_params = get64(&r);
    ck->n_bias = get64(&r);
    if (ck->n_params > r.size || ck->n_bias > r.size ||
        r.off + 4 * (3 * ck->n_params + ck->n_bias) + 8 != r.size)
        FAIL(WH_E_FORMAT, "%s: offset %llu: %llu parameters and %llu biases do not fit the file",
             path, (unsigned long long)(r.off - 16), (unsigned long long)ck->n_params,
             (unsigned long long)ck->n_bias);
    ck->params = (const float *)(const void *)(r.p + r.off);
    ck->m = ck->params + ck->n_params;
    ck->v = ck->m + ck->n_params;
    ck->bias = ck->v + ck->n_params;
    if (ck->step < 0 || ck->B <= 0 || ck->T <= 0 || ck->grad_accum <= 0)
        FAIL(WH_E_FORMAT, "%s: offset 64: step %d, B %d, T %d, grad_accum %d", path, ck->step,
             ck->B, ck->T, ck->grad_accum);
#undef FAIL
    return WH_OK;
}

int wh_tr_ckpt_apply(const wh_tr_ckpt *ck, wh_trainer *t, wh_error *err)
{
    wh_tr_model *m = &t->model;
    uint64_t nb = (uint64_t)m->n_blocks * t->E1;
    if (ck->n_params != m->n_params || ck->n_bias != nb)
        return wh_err(err, WH_E_INVALID,
                      "%s: %llu parameters / %llu biases, the model has %zu / %llu", ck->mf.path,
                      (unsigned long long)ck->n_params, (unsigned long long)ck->n_bias, m->n_params,
                      (unsigned long long)nb);
    /* the map is 8-byte aligned at the start; memcpy handles any offset */
    memcpy(m->params, ck->params, m->n_params * 4);
    memcpy(t->m, ck->m, m->n_params * 4);
    memcpy(t->v, ck->v, m->n_params * 4);
    memcpy(m->route_bias, ck->bias, nb * 4);
    t->step = ck->step;
    t->data_pos = ck->data_pos;
    t->rng = ck->rng;
    return WH_OK;
}
