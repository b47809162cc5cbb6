/* gguf_write.c — streaming GGUF v3 writer (see gguf_write.h; layout in gguf.c). */
#include "formats/gguf_write.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/checked.h"
#include "base/error.h"

#define ALIGN 32

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
    int oom;
} buf;

static void put(buf *b, const void *data, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n)
            cap *= 2;
        uint8_t *np = wh_realloc(b->p, cap);
        if (np == NULL) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

static void put_u32(buf *b, uint32_t v)
{
    put(b, &v, 4);
}

static void put_u64(buf *b, uint64_t v)
{
    put(b, &v, 8);
}

static void put_str(buf *b, const char *s)
{
    uint64_t n = strlen(s);
    put_u64(b, n);
    put(b, s, (size_t)n);
}

typedef struct tinfo {
    uint64_t nbytes;
} tinfo;

struct wh_gguf_writer {
    buf kv;    /* serialised kv pairs */
    buf infos; /* serialised tensor infos */
    uint64_t n_kv, n_tensors;
    uint64_t data_size; /* running aligned offset */
    tinfo *t;
    uint64_t cap_t;
    FILE *f;
    char *path;
    uint64_t cur, cur_written;
};

int wh_gguf_writer_new(wh_gguf_writer **out, wh_error *err)
{
    *out = wh_calloc(1, sizeof **out);
    if (*out == NULL)
        return wh_err(err, WH_E_NOMEM, "gguf writer: out of memory");
    return WH_OK;
}

void wh_gguf_writer_free(wh_gguf_writer *w)
{
    if (w == NULL)
        return;
    if (w->f != NULL)
        fclose(w->f);
    wh_free(w->kv.p);
    wh_free(w->infos.p);
    wh_free(w->t);
    wh_free(w->path);
    wh_free(w);
}

static int kv_head(wh_gguf_writer *w, const char *key, uint32_t type)
{
    put_str(&w->kv, key);
    put_u32(&w->kv, type);
    w->n_kv++;
    return w->kv.oom ? WH_E_NOMEM : WH_OK;
}

int wh_gguf_set_str(wh_gguf_writer *w, const char *key, const char *v)
{
    kv_head(w, key, WH_GGUF_STRING);
    put_str(&w->kv, v);
    return w->kv.oom ? WH_E_NOMEM : WH_OK;
}

int wh_gguf_set_u32(wh_gguf_writer *w, const char *key, uint32_t v)
{
    kv_head(w, key, WH_GGUF_U32);
    put_u32(&w->kv, v);
    return w->kv.oom ? WH_E_NOMEM : WH_OK;
}

int wh_gguf_set_i32(wh_gguf_writer *w, const char *key, int32_t v)
{
    kv_head(w, key, WH_GGUF_I32);
    put(&w->kv, &v, 4);
    return w->kv.oom ? WH_E_NOMEM : WH_OK;
}

int wh_gguf_set_f32(wh_gguf_writer *w, const char *key, float v)
{
    kv_head(w, key, WH_GGUF_F32);
    put(&w->kv, &v, 4);
    return w->kv.oom ? WH_E_NOMEM : WH_OK;
}

int wh_gguf_set_bool(wh_gguf_writer *w, const char *key, int v)
{
    uint8_t b = v ? 1 : 0;
    kv_head(w, key, WH_GGUF_BOOL);
    put(&w->kv, &b, 1);
    return w->kv.oom ? WH_E_NOMEM : WH_OK;
}

int wh_gguf_set_arr_str(wh_gguf_writer *w, const char *key, const char *const *v, uint64_t n)
{
    kv_head(w, key, WH_GGUF_ARRAY);
    put_u32(&w->kv, WH_GGUF_STRING);
    put_u64(&w->kv, n);
    for (uint64_t i = 0; i < n; i++)
        put_str(&w->kv, v[i]);
    return w->kv.oom ? WH_E_NOMEM : WH_OK;
}

int wh_gguf_set_arr_i32(wh_gguf_writer *w, const char *key, const int32_t *v, uint64_t n)
{
    kv_head(w, key, WH_GGUF_ARRAY);
    put_u32(&w->kv, WH_GGUF_I32);
    put_u64(&w->kv, n);
    put(&w->kv, v, (size_t)n * 4);
    return w->kv.oom ? WH_E_NOMEM : WH_OK;
}

int wh_gguf_set_arr_f32(wh_gguf_writer *w, const char *key, const float *v, uint64_t n)
{
    kv_head(w, key, WH_GGUF_ARRAY);
    put_u32(&w->kv, WH_GGUF_F32);
    put_u64(&w->kv, n);
    put(&w->kv, v, (size_t)n * 4);
    return w->kv.oom ? WH_E_NOMEM : WH_OK;
}

int wh_gguf_ggml_from_dtype(wh_dtype t)
{
    for (uint32_t g = 0; g < 64; g++)
        if (wh_gguf_dtype_from_ggml(g) == (int)t)
            return (int)g;
    return -1;
}

int wh_gguf_add_tensor(wh_gguf_writer *w, const char *name, uint32_t ggml_type, int n_dims,
                       const int64_t *ne, uint64_t *nbytes, wh_error *err)
{
    int dt = wh_gguf_dtype_from_ggml(ggml_type);
    if (dt < 0)
        return wh_err(err, WH_E_UNSUPPORTED, "gguf writer: tensor %s: ggml type %u", name,
                      ggml_type);
    if (n_dims < 1 || n_dims > WH_MAX_DIMS)
        return wh_err(err, WH_E_INVALID, "gguf writer: tensor %s: %d dims", name, n_dims);
    uint64_t nel = 1;
    for (int d = 0; d < n_dims; d++)
        if (ne[d] < 0 || !wh_mul_u64(nel, (uint64_t)ne[d], &nel))
            return wh_err(err, WH_E_INVALID, "gguf writer: tensor %s: bad shape", name);
    uint64_t rb = wh_dtype_row_bytes((wh_dtype)dt, ne[0]);
    if (rb == 0 && ne[0] != 0)
        return wh_err(err, WH_E_INVALID,
                      "gguf writer: tensor %s: row length %lld is not a multiple of the %s block",
                      name, (long long)ne[0], wh_dtype_get((wh_dtype)dt)->name);
    uint64_t size = rb * (nel / (ne[0] ? (uint64_t)ne[0] : 1));
    if (w->n_tensors == w->cap_t) {
        uint64_t cap = w->cap_t ? 2 * w->cap_t : 64;
        tinfo *nt = wh_realloc(w->t, (size_t)cap * sizeof *nt);
        if (nt == NULL)
            return wh_err(err, WH_E_NOMEM, "gguf writer: out of memory");
        w->t = nt;
        w->cap_t = cap;
    }
    put_str(&w->infos, name);
    put_u32(&w->infos, (uint32_t)n_dims);
    for (int d = 0; d < n_dims; d++)
        put_u64(&w->infos, (uint64_t)ne[d]);
    put_u32(&w->infos, ggml_type);
    put_u64(&w->infos, w->data_size);
    if (w->infos.oom)
        return wh_err(err, WH_E_NOMEM, "gguf writer: out of memory");
    w->t[w->n_tensors++].nbytes = size;
    w->data_size = wh_align_up(w->data_size + size, ALIGN);
    if (nbytes != NULL)
        *nbytes = size;
    return WH_OK;
}

static int wr(wh_gguf_writer *w, const void *p, size_t n, wh_error *err)
{
    if (n > 0 && fwrite(p, 1, n, w->f) != n)
        return wh_err(err, WH_E_IO, "%s: write failed: %s", w->path, strerror(errno));
    return WH_OK;
}

static int pad(wh_gguf_writer *w, uint64_t pos, wh_error *err)
{
    static const uint8_t zeros[ALIGN];
    uint64_t p = wh_align_up(pos, ALIGN) - pos;
    return wr(w, zeros, (size_t)p, err);
}

int wh_gguf_writer_begin(wh_gguf_writer *w, const char *path, wh_error *err)
{
    if (w->kv.oom || w->infos.oom)
        return wh_err(err, WH_E_NOMEM, "gguf writer: out of memory");
    w->path = wh_strdup(path);
    if (w->path == NULL)
        return wh_err(err, WH_E_NOMEM, "%s: out of memory", path);
    w->f = fopen(path, "wb");
    if (w->f == NULL)
        return wh_err(err, WH_E_IO, "%s: cannot create: %s", path, strerror(errno));
    uint32_t ver = 3;
    int rc = wr(w, "GGUF", 4, err);
    if (rc == WH_OK)
        rc = wr(w, &ver, 4, err);
    if (rc == WH_OK)
        rc = wr(w, &w->n_tensors, 8, err);
    if (rc == WH_OK)
        rc = wr(w, &w->n_kv, 8, err);
    if (rc == WH_OK)
        rc = wr(w, w->kv.p, w->kv.n, err);
    if (rc == WH_OK)
        rc = wr(w, w->infos.p, w->infos.n, err);
    if (rc == WH_OK)
        rc = pad(w, 24 + w->kv.n + w->infos.n, err);
    w->cur = 0;
    w->cur_written = 0;
    return rc;
}

int wh_gguf_writer_write(wh_gguf_writer *w, const void *data, uint64_t n, wh_error *err)
{
    while (n > 0) {
        if (w->cur >= w->n_tensors)
            return wh_err(err, WH_E_INVALID, "%s: more tensor data than declared", w->path);
        uint64_t room = w->t[w->cur].nbytes - w->cur_written;
        uint64_t k = n < room ? n : room;
        int rc = wr(w, data, (size_t)k, err);
        if (rc != WH_OK)
            return rc;
        data = (const uint8_t *)data + k;
        n -= k;
        w->cur_written += k;
        if (w->cur_written == w->t[w->cur].nbytes) {
            rc = pad(w, w->t[w->cur].nbytes, err);
            if (rc != WH_OK)
                return rc;
            w->cur++;
            w->cur_written = 0;
        }
    }
    return WH_OK;
}

int wh_gguf_writer_finish(wh_gguf_writer *w, wh_error *err)
{
    /* zero-sized tensors complete themselves */
    while (w->cur < w->n_tensors && w->t[w->cur].nbytes == 0)
        w->cur++;
    if (w->cur != w->n_tensors)
        return wh_err(err, WH_E_INVALID, "%s: tensor %llu of %llu not written", w->path,
                      (unsigned long long)w->cur, (unsigned long long)w->n_tensors);
    int rc = WH_OK;
    if (fflush(w->f) != 0 || fsync(fileno(w->f)) != 0)
        rc = wh_err(err, WH_E_IO, "%s: flush failed: %s", w->path, strerror(errno));
    if (fclose(w->f) != 0 && rc == WH_OK)
        rc = wh_err(err, WH_E_IO, "%s: close failed: %s", w->path, strerror(errno));
    w->f = NULL;
    return rc;
}
