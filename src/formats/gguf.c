/*
 * gguf.c — GGUF v2/v3 reader (see gguf.h). Layout (all little-endian):
 *   "GGUF" u32 version, u64 n_tensors, u64 n_kv,
 *   n_kv × (string key, u32 type, value), n_tensors × (string name, u32 n_dims,
 *   u64 ne[n_dims], u32 ggml_type, u64 offset), padding to general.alignment, data.
 * Every read is bounds-checked against the file; counts are checked against the
 * bytes that remain before anything is allocated for them.
 */
#include "formats/gguf.h"

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/checked.h"
#include "base/error.h"

typedef struct cursor {
    const uint8_t *base;
    uint64_t size, pos;
    const char *path;
    wh_error *err;
} cursor;

static int need(cursor *c, uint64_t n, const char *what)
{
    uint64_t end;
    if (!wh_add_u64(c->pos, n, &end) || end > c->size)
        return wh_err(c->err, WH_E_FORMAT,
                      "%s: truncated at byte %llu: %s needs %llu bytes, file has %llu", c->path,
                      (unsigned long long)c->pos, what, (unsigned long long)n,
                      (unsigned long long)c->size);
    return WH_OK;
}

static int rd_u32(cursor *c, uint32_t *v, const char *what)
{
    int rc = need(c, 4, what);
    if (rc != WH_OK)
        return rc;
    memcpy(v, c->base + c->pos, 4);
    c->pos += 4;
    return WH_OK;
}

static int rd_u64(cursor *c, uint64_t *v, const char *what)
{
    int rc = need(c, 8, what);
    if (rc != WH_OK)
        return rc;
    memcpy(v, c->base + c->pos, 8);
    c->pos += 8;
    return WH_OK;
}

static int rd_str(cursor *c, uint32_t version, wh_gguf_str *s, const char *what)
{
    uint64_t len;
    int rc;
    if (version == 1) {
        uint32_t l32;
        rc = rd_u32(c, &l32, what);
        len = l32;
    } else {
        rc = rd_u64(c, &len, what);
    }
    if (rc != WH_OK)
        return rc;
    if (len > c->size - c->pos)
        return wh_err(c->err, WH_E_FORMAT,
                      "%s: %s at byte %llu declares a length of %llu bytes, beyond the file end",
                      c->path, what, (unsigned long long)(c->pos - 8), (unsigned long long)len);
    s->ptr = (const char *)(c->base + c->pos);
    s->len = len;
    c->pos += len;
    return WH_OK;
}

static int scalar_size(wh_gguf_type t)
{
    switch (t) {
    case WH_GGUF_U8:
    case WH_GGUF_I8:
    case WH_GGUF_BOOL:
        return 1;
    case WH_GGUF_U16:
    case WH_GGUF_I16:
        return 2;
    case WH_GGUF_U32:
    case WH_GGUF_I32:
    case WH_GGUF_F32:
        return 4;
    case WH_GGUF_U64:
    case WH_GGUF_I64:
    case WH_GGUF_F64:
        return 8;
    default:
        return 0;
    }
}

/* Reads a scalar of type t at the cursor into kv's union. */
static int rd_scalar(cursor *c, wh_gguf_type t, wh_gguf_kv *kv, const char *what)
{
    int sz = scalar_size(t);
    int rc = need(c, (uint64_t)sz, what);
    if (rc != WH_OK)
        return rc;
    const uint8_t *p = c->base + c->pos;
    switch (t) {
    case WH_GGUF_U8:
    case WH_GGUF_BOOL:
        kv->v.u = p[0];
        break;
    case WH_GGUF_I8:
        kv->v.i = (int8_t)p[0];
        break;
    case WH_GGUF_U16: {
        uint16_t x;
        memcpy(&x, p, 2);
        kv->v.u = x;
        break;
    }
    case WH_GGUF_I16: {
        int16_t x;
        memcpy(&x, p, 2);
        kv->v.i = x;
        break;
    }
    case WH_GGUF_U32: {
        uint32_t x;
        memcpy(&x, p, 4);
        kv->v.u = x;
        break;
    }
    case WH_GGUF_I32: {
        int32_t x;
        memcpy(&x, p, 4);
        kv->v.i = x;
        break;
    }
    case WH_GGUF_F32: {
        float x;
        memcpy(&x, p, 4);
        kv->v.f = x;
        break;
    }
    case WH_GGUF_U64:
        memcpy(&kv->v.u, p, 8);
        break;
    case WH_GGUF_I64:
        memcpy(&kv->v.i, p, 8);
        break;
    case WH_GGUF_F64:
        memcpy(&kv->v.f, p, 8);
        break;
    default:
        /* not reached: rd_value calls this only for a type below WH_GGUF_TYPE_COUNT (parse
         * checks) other than STRING and ARRAY, and every other type is a scalar above */
        break;
    }
    c->pos += (uint64_t)sz;
    return WH_OK;
}

/* Skips a nested array (arrays of arrays are legal but unused by any model key). */
static int skip_array(cursor *c, uint32_t version, int depth, const char *what)
{
    uint32_t et;
    uint64_t n;
    int rc = rd_u32(c, &et, what);
    if (rc == WH_OK)
        rc = rd_u64(c, &n, what);
    if (rc != WH_OK)
        return rc;
    if (et >= WH_GGUF_TYPE_COUNT)
        return wh_err(c->err, WH_E_FORMAT, "%s: %s: unknown array element type %u at byte %llu",
                      c->path, what, et, (unsigned long long)(c->pos - 12));
    if (depth > 4)
        return wh_err(c->err, WH_E_FORMAT, "%s: %s: arrays nested too deeply", c->path, what);
    if (et == WH_GGUF_STRING || et == WH_GGUF_ARRAY) {
        for (uint64_t i = 0; i < n; i++) {
            if (et == WH_GGUF_STRING) {
                wh_gguf_str s;
                rc = rd_str(c, version, &s, what);
            } else {
                rc = skip_array(c, version, depth + 1, what);
            }
            if (rc != WH_OK)
                return rc;
        }
        return WH_OK;
    }
    uint64_t bytes;
    if (!wh_mul_u64(n, (uint64_t)scalar_size((wh_gguf_type)et), &bytes))
        return wh_err(c->err, WH_E_FORMAT, "%s: %s: array length %llu overflows", c->path, what,
                      (unsigned long long)n);
    rc = need(c, bytes, what);
    if (rc != WH_OK)
        return rc;
    c->pos += bytes;
    return WH_OK;
}

static int rd_value(cursor *c, uint32_t version, wh_gguf_kv *kv, const char *what)
{
    if (kv->type == WH_GGUF_STRING)
        return rd_str(c, version, &kv->v.s, what);
    if (kv->type != WH_GGUF_ARRAY)
        return rd_scalar(c, kv->type, kv, what);
    uint32_t et;
    uint64_t n;
    uint64_t at = c->pos;
    int rc = rd_u32(c, &et, what);
    if (rc == WH_OK && version == 1) {
        uint32_t n32 = 0;
        rc = rd_u32(c, &n32, what);
        n = n32;
    } else if (rc == WH_OK) {
        rc = rd_u64(c, &n, what);
    }
    if (rc != WH_OK)
        return rc;
    if (et >= WH_GGUF_TYPE_COUNT)
        return wh_err(c->err, WH_E_FORMAT, "%s: %s: unknown array element type %u at byte %llu",
                      c->path, what, et, (unsigned long long)at);
    kv->v.arr.type = (wh_gguf_type)et;
    kv->v.arr.n = n;
    kv->v.arr.data = c->base + c->pos;
    kv->v.arr.strs = NULL;
    if (et == WH_GGUF_STRING) {
        /* each string takes at least 8 bytes: bound n before allocating */
        if (n > (c->size - c->pos) / 8)
            return wh_err(c->err, WH_E_FORMAT,
                          "%s: %s at byte %llu: %llu strings cannot fit in the file", c->path, what,
                          (unsigned long long)at, (unsigned long long)n);
        kv->v.arr.strs = wh_calloc((size_t)(n ? n : 1), sizeof(wh_gguf_str));
        if (kv->v.arr.strs == NULL)
            return wh_err(c->err, WH_E_NOMEM, "%s: %s: out of memory", c->path, what);
        for (uint64_t i = 0; i < n; i++) {
            rc = rd_str(c, version, &kv->v.arr.strs[i], what);
            if (rc != WH_OK)
                return rc;
        }
        return WH_OK;
    }
    if (et == WH_GGUF_ARRAY) {
        for (uint64_t i = 0; i < n; i++) {
            rc = skip_array(c, version, 1, what);
            if (rc != WH_OK)
                return rc;
        }
        return WH_OK;
    }
    uint64_t bytes;
    if (!wh_mul_u64(n, (uint64_t)scalar_size((wh_gguf_type)et), &bytes))
        return wh_err(c->err, WH_E_FORMAT, "%s: %s: array length %llu overflows", c->path, what,
                      (unsigned long long)n);
    rc = need(c, bytes, what);
    if (rc != WH_OK)
        return rc;
    c->pos += bytes;
    return WH_OK;
}

int wh_gguf_dtype_from_ggml(uint32_t ggml_type)
{
    switch (ggml_type) {
    case 0:
        return WH_DT_F32;
    case 1:
        return WH_DT_F16;
    case 2:
        return WH_DT_Q4_0;
    case 3:
        return WH_DT_Q4_1;
    case 6:
        return WH_DT_Q5_0;
    case 7:
        return WH_DT_Q5_1;
    case 8:
        return WH_DT_Q8_0;
    case 10:
        return WH_DT_Q2_K;
    case 11:
        return WH_DT_Q3_K;
    case 12:
        return WH_DT_Q4_K;
    case 13:
        return WH_DT_Q5_K;
    case 14:
        return WH_DT_Q6_K;
    case 15:
        return WH_DT_Q8_K;
    case 24:
        return WH_DT_I8;
    case 25:
        return WH_DT_I16;
    case 26:
        return WH_DT_I32;
    case 27:
        return WH_DT_I64;
    case 28:
        return WH_DT_F64;
    case 30:
        return WH_DT_BF16;
    default:
        return -1;
    }
}

static void free_kv(wh_gguf *g)
{
    if (g->kv != NULL) {
        for (uint64_t i = 0; i < g->n_kv; i++)
            if (g->kv[i].type == WH_GGUF_ARRAY)
                wh_free(g->kv[i].v.arr.strs);
    }
    wh_free(g->kv);
    g->kv = NULL;
}

void wh_gguf_close(wh_gguf *g)
{
    free_kv(g);
    if (g->tensor_names != NULL)
        for (uint64_t i = 0; i < g->n_tensors; i++)
            wh_free(g->tensor_names[i]);
    wh_free(g->tensor_names);
    wh_free(g->tensors);
    wh_free(g->tensor_ggml_type);
    wh_mapfile_close(&g->map);
    wh_free(g->path);
    memset(g, 0, sizeof *g);
}

static int parse(wh_gguf *g, wh_error *err)
{
    cursor c = {g->map.data, g->map.size, 0, g->path, err};
    int rc = need(&c, 4, "magic");
    if (rc != WH_OK)
        return rc;
    if (memcmp(c.base, "GGUF", 4) != 0)
        return wh_err(err, WH_E_FORMAT, "%s: bad magic at byte 0 (not a GGUF file)", g->path);
    c.pos = 4;
    if ((rc = rd_u32(&c, &g->version, "version")) != WH_OK)
        return rc;
    if (g->version < 1 || g->version > 3)
        return wh_err(err, WH_E_UNSUPPORTED, "%s: GGUF version %u at byte 4 (1..3 supported)",
                      g->path, g->version);
    if (g->version == 1) {
        uint32_t a, b;
        if ((rc = rd_u32(&c, &a, "tensor count")) != WH_OK ||
            (rc = rd_u32(&c, &b, "metadata count")) != WH_OK)
            return rc;
        g->n_tensors = a;
        g->n_kv = b;
    } else {
        if ((rc = rd_u64(&c, &g->n_tensors, "tensor count")) != WH_OK ||
            (rc = rd_u64(&c, &g->n_kv, "metadata count")) != WH_OK)
            return rc;
    }
    /* each kv takes >= 8+0+4+1 bytes, each tensor info >= 8+4+8+4+8 */
    uint64_t rest = c.size - c.pos;
    if (g->n_kv > rest / 13)
        return wh_err(err, WH_E_FORMAT,
                      "%s: metadata count %llu at byte %llu cannot fit in a %llu-byte file",
                      g->path, (unsigned long long)g->n_kv, (unsigned long long)(c.pos - 8),
                      (unsigned long long)c.size);
    if (g->n_tensors > rest / 32)
        return wh_err(err, WH_E_FORMAT, "%s: tensor count %llu cannot fit in a %llu-byte file",
                      g->path, (unsigned long long)g->n_tensors, (unsigned long long)c.size);
    g->kv = wh_calloc((size_t)(g->n_kv ? g->n_kv : 1), sizeof *g->kv);
    if (g->kv == NULL)
        return wh_err(err, WH_E_NOMEM, "%s: out of memory", g->path);
    for (uint64_t i = 0; i < g->n_kv; i++) {
        wh_gguf_kv *kv = &g->kv[i];
        char what[96];
        snprintf(what, sizeof what, "metadata entry %llu", (unsigned long long)i);
        if ((rc = rd_str(&c, g->version, &kv->key, what)) != WH_OK)
            return rc;
        snprintf(what, sizeof what, "metadata \"%.*s\"", (int)(kv->key.len > 64 ? 64 : kv->key.len),
                 kv->key.ptr);
        uint32_t t;
        if ((rc = rd_u32(&c, &t, what)) != WH_OK)
            return rc;
        if (t >= WH_GGUF_TYPE_COUNT)
            return wh_err(err, WH_E_FORMAT, "%s: %s: unknown value type %u at byte %llu", g->path,
                          what, t, (unsigned long long)(c.pos - 4));
        kv->type = (wh_gguf_type)t;
        kv->offset = c.pos;
        kv->v.arr.strs = NULL;
        if ((rc = rd_value(&c, g->version, kv, what)) != WH_OK)
            return rc;
    }
    g->alignment = 32;
    int64_t ai = wh_gguf_find(g, "general.alignment");
    if (ai >= 0) {
        const wh_gguf_kv *kv = &g->kv[ai];
        if (kv->type != WH_GGUF_U32 || kv->v.u == 0 || (kv->v.u & (kv->v.u - 1)) != 0 ||
            kv->v.u > 65536)
            return wh_err(err, WH_E_FORMAT,
                          "%s: general.alignment at byte %llu must be a power of two u32", g->path,
                          (unsigned long long)kv->offset);
        g->alignment = kv->v.u;
    }
    size_t nt = (size_t)(g->n_tensors ? g->n_tensors : 1);
    g->tensors = wh_calloc(nt, sizeof *g->tensors);
    g->tensor_names = wh_calloc(nt, sizeof *g->tensor_names);
    g->tensor_ggml_type = wh_calloc(nt, sizeof *g->tensor_ggml_type);
    if (g->tensors == NULL || g->tensor_names == NULL || g->tensor_ggml_type == NULL)
        return wh_err(err, WH_E_NOMEM, "%s: out of memory", g->path);
    uint64_t *rel = wh_calloc(nt, sizeof *rel);
    if (rel == NULL)
        return wh_err(err, WH_E_NOMEM, "%s: out of memory", g->path);
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        wh_tensor *t = &g->tensors[i];
        wh_gguf_str name;
        char what[160];
        snprintf(what, sizeof what, "tensor info %llu", (unsigned long long)i);
        uint64_t info_at = c.pos;
        if ((rc = rd_str(&c, g->version, &name, what)) != WH_OK)
            goto fail;
        if (name.len == 0 || name.len > 256 || memchr(name.ptr, '\0', name.len) != NULL) {
            rc = wh_err(err, WH_E_FORMAT, "%s: tensor info %llu at byte %llu: bad name", g->path,
                        (unsigned long long)i, (unsigned long long)info_at);
            goto fail;
        }
        g->tensor_names[i] = wh_malloc(name.len + 1);
        if (g->tensor_names[i] == NULL) {
            rc = wh_err(err, WH_E_NOMEM, "%s: out of memory", g->path);
            goto fail;
        }
        memcpy(g->tensor_names[i], name.ptr, name.len);
        g->tensor_names[i][name.len] = '\0';
        t->name = g->tensor_names[i];
        snprintf(what, sizeof what, "tensor %s", t->name);
        uint32_t nd, gt;
        if ((rc = rd_u32(&c, &nd, what)) != WH_OK)
            goto fail;
        if (nd < 1 || nd > WH_MAX_DIMS) {
            rc = wh_err(err, WH_E_FORMAT, "%s: tensor %s: %u dimensions at byte %llu", g->path,
                        t->name, nd, (unsigned long long)(c.pos - 4));
            goto fail;
        }
        t->n_dims = (int)nd;
        for (int d = 0; d < WH_MAX_DIMS; d++)
            t->ne[d] = 1;
        uint64_t nel = 1;
        for (uint32_t d = 0; d < nd; d++) {
            uint64_t ne;
            if ((rc = rd_u64(&c, &ne, what)) != WH_OK)
                goto fail;
            /* each dimension too: an empty tensor ({0, 2^63}) multiplies to 0 */
            if (ne > ((uint64_t)1 << 53) || !wh_mul_u64(nel, ne, &nel) ||
                nel > ((uint64_t)1 << 53)) {
                rc = wh_err(err, WH_E_FORMAT,
                            "%s: tensor %s: dimension %u = %llu at byte %llu overflows the shape "
                            "(more than 2^53 elements)",
                            g->path, t->name, d, (unsigned long long)ne,
                            (unsigned long long)(c.pos - 8));
                goto fail;
            }
            t->ne[d] = (int64_t)ne;
        }
        if ((rc = rd_u32(&c, &gt, what)) != WH_OK)
            goto fail;
        g->tensor_ggml_type[i] = gt;
        int dt = wh_gguf_dtype_from_ggml(gt);
        if (dt < 0) {
            rc = wh_err(err, WH_E_UNSUPPORTED,
                        "%s: tensor %s: ggml type %u at byte %llu is not supported", g->path,
                        t->name, gt, (unsigned long long)(c.pos - 4));
            goto fail;
        }
        t->dtype = (wh_dtype)dt;
        if ((rc = rd_u64(&c, &rel[i], what)) != WH_OK)
            goto fail;
        if (rel[i] % g->alignment != 0) {
            rc = wh_err(err, WH_E_FORMAT,
                        "%s: tensor %s: data offset %llu is not a multiple of the alignment %llu",
                        g->path, t->name, (unsigned long long)rel[i],
                        (unsigned long long)g->alignment);
            goto fail;
        }
        uint64_t rb = wh_dtype_row_bytes(t->dtype, t->ne[0]);
        if (rb == 0 && t->ne[0] != 0) {
            const wh_dtype_info *di = wh_dtype_get(t->dtype);
            rc = wh_err(err, WH_E_FORMAT,
                        "%s: tensor %s: row length %lld is not a multiple of the %s block size "
                        "(%d elements)",
                        g->path, t->name, (long long)t->ne[0], di->name, di->block);
            goto fail;
        }
        uint64_t rows = nel / (t->ne[0] ? (uint64_t)t->ne[0] : 1);
        /* cannot overflow: nel <= 2^53 (checked above) and no dtype takes more than 8 bytes
         * per element (I64/F64; the block types less), so rb * rows <= 2^56 */
        t->nbytes = rb * rows;
        if (nel == 0)
            t->nbytes = 0;
    }
    g->data_offset = wh_align_up(c.pos, g->alignment);
    if (g->data_offset > c.size && g->n_tensors > 0) {
        rc = wh_err(err, WH_E_FORMAT, "%s: truncated: data section would start at byte %llu",
                    g->path, (unsigned long long)g->data_offset);
        goto fail;
    }
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        wh_tensor *t = &g->tensors[i];
        uint64_t abs, end;
        if (!wh_add_u64(g->data_offset, rel[i], &abs) || !wh_add_u64(abs, t->nbytes, &end) ||
            end > c.size) {
            rc = wh_err(err, WH_E_FORMAT,
                        "%s: tensor %s: data at byte %llu + %llu bytes lies beyond the end of "
                        "the file (%llu bytes)",
                        g->path, t->name, (unsigned long long)abs, (unsigned long long)t->nbytes,
                        (unsigned long long)c.size);
            goto fail;
        }
        t->offset = abs;
        t->data = c.base + abs;
        t->file = -1;
    }
    wh_free(rel);
    return WH_OK;
fail:
    wh_free(rel);
    return rc;
}

int wh_gguf_open(wh_gguf *g, const char *path, wh_error *err)
{
    memset(g, 0, sizeof *g);
    g->path = wh_strdup(path);
    if (g->path == NULL)
        return wh_err(err, WH_E_NOMEM, "%s: out of memory", path);
    int rc = wh_mapfile_open(&g->map, path, err);
    if (rc == WH_OK)
        rc = parse(g, err);
    if (rc != WH_OK)
        wh_gguf_close(g);
    return rc;
}

int64_t wh_gguf_find(const wh_gguf *g, const char *key)
{
    size_t n = strlen(key);
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (g->kv[i].key.len == n && memcmp(g->kv[i].key.ptr, key, n) == 0)
            return (int64_t)i;
    return -1;
}

int wh_gguf_str_eq(wh_gguf_str s, const char *c)
{
    size_t n = strlen(c);
    return s.len == n && memcmp(s.ptr, c, n) == 0;
}

static int is_int_type(wh_gguf_type t)
{
    return t == WH_GGUF_U8 || t == WH_GGUF_I8 || t == WH_GGUF_U16 || t == WH_GGUF_I16 ||
           t == WH_GGUF_U32 || t == WH_GGUF_I32 || t == WH_GGUF_U64 || t == WH_GGUF_I64 ||
           t == WH_GGUF_BOOL;
}

static int is_signed(wh_gguf_type t)
{
    return t == WH_GGUF_I8 || t == WH_GGUF_I16 || t == WH_GGUF_I32 || t == WH_GGUF_I64;
}

static const wh_gguf_kv *lookup(const wh_gguf *g, const char *key, int required, int *rc,
                                wh_error *err)
{
    int64_t i = wh_gguf_find(g, key);
    *rc = WH_OK;
    if (i < 0) {
        if (required)
            *rc = wh_err(err, WH_E_MISSING, "%s: metadata key %s is missing", g->path, key);
        return NULL;
    }
    return &g->kv[i];
}

int wh_gguf_get_i64(const wh_gguf *g, const char *key, int required, int64_t *out, wh_error *err)
{
    int rc;
    const wh_gguf_kv *kv = lookup(g, key, required, &rc, err);
    if (kv == NULL)
        return rc;
    if (!is_int_type(kv->type))
        return wh_err(err, WH_E_FORMAT, "%s: metadata %s at byte %llu: expected an integer",
                      g->path, key, (unsigned long long)kv->offset);
    if (!is_signed(kv->type) && kv->v.u > (uint64_t)INT64_MAX)
        return wh_err(err, WH_E_FORMAT, "%s: metadata %s: value too large", g->path, key);
    *out = is_signed(kv->type) ? kv->v.i : (int64_t)kv->v.u;
    return WH_OK;
}

int wh_gguf_get_u32(const wh_gguf *g, const char *key, int required, uint32_t *out, wh_error *err)
{
    int64_t v = *out;
    int rc = wh_gguf_get_i64(g, key, required, &v, err);
    if (rc != WH_OK)
        return rc;
    if (v < 0 || v > (int64_t)UINT32_MAX)
        return wh_err(err, WH_E_FORMAT, "%s: metadata %s = %lld is out of range", g->path, key,
                      (long long)v);
    *out = (uint32_t)v;
    return WH_OK;
}

int wh_gguf_get_f32(const wh_gguf *g, const char *key, int required, float *out, wh_error *err)
{
    int rc;
    const wh_gguf_kv *kv = lookup(g, key, required, &rc, err);
    if (kv == NULL)
        return rc;
    if (kv->type == WH_GGUF_F32 || kv->type == WH_GGUF_F64)
        *out = (float)kv->v.f;
    else if (is_int_type(kv->type))
        *out = is_signed(kv->type) ? (float)kv->v.i : (float)kv->v.u;
    else
        return wh_err(err, WH_E_FORMAT, "%s: metadata %s at byte %llu: expected a number", g->path,
                      key, (unsigned long long)kv->offset);
    return WH_OK;
}

int wh_gguf_get_bool(const wh_gguf *g, const char *key, int required, bool *out, wh_error *err)
{
    int rc;
    const wh_gguf_kv *kv = lookup(g, key, required, &rc, err);
    if (kv == NULL)
        return rc;
    if (!is_int_type(kv->type))
        return wh_err(err, WH_E_FORMAT, "%s: metadata %s at byte %llu: expected a bool", g->path,
                      key, (unsigned long long)kv->offset);
    *out = kv->v.u != 0;
    return WH_OK;
}

int wh_gguf_get_str(const wh_gguf *g, const char *key, int required, wh_gguf_str *out,
                    wh_error *err)
{
    int rc;
    const wh_gguf_kv *kv = lookup(g, key, required, &rc, err);
    if (kv == NULL)
        return rc;
    if (kv->type != WH_GGUF_STRING)
        return wh_err(err, WH_E_FORMAT, "%s: metadata %s at byte %llu: expected a string", g->path,
                      key, (unsigned long long)kv->offset);
    *out = kv->v.s;
    return WH_OK;
}

int wh_gguf_to_store(wh_gguf *g, wh_tensor_store *st, wh_error *err)
{
    /* The store takes the map; g keeps pointers into it, valid while st lives. */
    wh_mapfile mf = g->map;
    memset(&g->map, 0, sizeof g->map);
    int fi = wh_store_add_file(st, &mf, err);
    if (fi < 0) {
        g->map = mf;
        return fi;
    }
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        g->tensors[i].file = fi;
        int rc = wh_store_add(st, &g->tensors[i], err);
        if (rc != WH_OK)
            return rc;
    }
    return wh_store_check_overlaps(st, fi, err);
}
