/* tensor.c — dtype table and the tensor store (see tensor.h). */
#include "formats/tensor.h"

#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/checked.h"
#include "base/error.h"

static const wh_dtype_info g_dtypes[WH_DT_COUNT] = {
    [WH_DT_F32] = {"F32", 1, 4, 1},
    [WH_DT_F16] = {"F16", 1, 2, 1},
    [WH_DT_BF16] = {"BF16", 1, 2, 1},
    [WH_DT_F8_E4M3] = {"F8_E4M3", 1, 1, 1},
    [WH_DT_Q8_0] = {"Q8_0", 32, 34, 1},
    [WH_DT_I8] = {"I8", 1, 1, 0},
    [WH_DT_I16] = {"I16", 1, 2, 0},
    [WH_DT_I32] = {"I32", 1, 4, 0},
    [WH_DT_I64] = {"I64", 1, 8, 0},
    [WH_DT_F64] = {"F64", 1, 8, 0},
    [WH_DT_U8] = {"U8", 1, 1, 0},
    [WH_DT_BOOL] = {"BOOL", 1, 1, 0},
    /* ggml block quantisations: {name, elements per block, bytes per block} */
    [WH_DT_Q4_0] = {"Q4_0", 32, 18, 1},
    [WH_DT_Q4_1] = {"Q4_1", 32, 20, 1},
    [WH_DT_Q5_0] = {"Q5_0", 32, 22, 1},
    [WH_DT_Q5_1] = {"Q5_1", 32, 24, 1},
    [WH_DT_Q2_K] = {"Q2_K", 256, 84, 1},
    [WH_DT_Q3_K] = {"Q3_K", 256, 110, 1},
    [WH_DT_Q4_K] = {"Q4_K", 256, 144, 1},
    [WH_DT_Q5_K] = {"Q5_K", 256, 176, 1},
    [WH_DT_Q6_K] = {"Q6_K", 256, 210, 1},
    [WH_DT_Q8_K] = {"Q8_K", 256, 292, 0},
};

const wh_dtype_info *wh_dtype_get(wh_dtype t)
{
    if ((int)t < 0 || t >= WH_DT_COUNT)
        return NULL;
    return &g_dtypes[t];
}

uint64_t wh_dtype_row_bytes(wh_dtype t, int64_t n)
{
    const wh_dtype_info *d = wh_dtype_get(t);
    if (d == NULL || n < 0 || n % d->block != 0)
        return 0;
    return (uint64_t)(n / d->block) * (uint64_t)d->block_bytes;
}

int64_t wh_tensor_nelem(const wh_tensor *t)
{
    return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}

void wh_store_init(wh_tensor_store *st)
{
    memset(st, 0, sizeof *st);
}

void wh_store_free(wh_tensor_store *st)
{
    for (int i = 0; i < st->n_tensors; i++)
        wh_free((void *)st->tensors[i].name);
    wh_free(st->tensors);
    wh_free(st->slots);
    for (int i = 0; i < st->n_files; i++)
        wh_mapfile_close(&st->files[i]);
    wh_free(st->files);
    memset(st, 0, sizeof *st);
}

int wh_store_add_file(wh_tensor_store *st, wh_mapfile *mf, wh_error *err)
{
    if (st->n_files == st->cap_files) {
        int cap = st->cap_files ? st->cap_files * 2 : 4;
        wh_mapfile *f = wh_realloc(st->files, (size_t)cap * sizeof *f);
        if (f == NULL)
            return wh_err(err, WH_E_NOMEM, "%s: out of memory", mf->path);
        st->files = f;
        st->cap_files = cap;
    }
    st->files[st->n_files] = *mf;
    memset(mf, 0, sizeof *mf);
    return st->n_files++;
}

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) {
        h ^= (uint8_t)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static int rehash(wh_tensor_store *st, int n_slots, wh_error *err)
{
    int *slots = wh_malloc((size_t)n_slots * sizeof *slots);
    if (slots == NULL)
        return wh_err(err, WH_E_NOMEM, "tensor index: out of memory");
    for (int i = 0; i < n_slots; i++)
        slots[i] = -1;
    for (int i = 0; i < st->n_tensors; i++) {
        uint64_t h = hash_name(st->tensors[i].name) & (uint64_t)(n_slots - 1);
        while (slots[h] >= 0)
            h = (h + 1) & (uint64_t)(n_slots - 1);
        slots[h] = i;
    }
    wh_free(st->slots);
    st->slots = slots;
    st->n_slots = n_slots;
    return WH_OK;
}

const wh_tensor *wh_store_find(const wh_tensor_store *st, const char *name)
{
    if (st->n_slots == 0)
        return NULL;
    uint64_t mask = (uint64_t)(st->n_slots - 1);
    uint64_t h = hash_name(name) & mask;
    while (st->slots[h] >= 0) {
        const wh_tensor *t = &st->tensors[st->slots[h]];
        if (strcmp(t->name, name) == 0)
            return t;
        h = (h + 1) & mask;
    }
    return NULL;
}

int wh_store_add(wh_tensor_store *st, const wh_tensor *t, wh_error *err)
{
    const char *fpath = (t->file >= 0 && t->file < st->n_files) ? st->files[t->file].path : "?";
    const wh_dtype_info *di = wh_dtype_get(t->dtype);
    if (di == NULL)
        return wh_err(err, WH_E_UNSUPPORTED, "%s: tensor %s: unknown dtype", fpath, t->name);
    if (t->n_dims < 1 || t->n_dims > WH_MAX_DIMS)
        return wh_err(err, WH_E_FORMAT, "%s: tensor %s: %d dimensions (1..%d supported)", fpath,
                      t->name, t->n_dims, WH_MAX_DIMS);
    uint64_t nel = 1;
    for (int d = 0; d < WH_MAX_DIMS; d++) {
        if (t->ne[d] < 0 || (d >= t->n_dims && t->ne[d] != 1))
            return wh_err(err, WH_E_FORMAT, "%s: tensor %s: bad dimension %d", fpath, t->name, d);
        if (!wh_mul_u64(nel, (uint64_t)t->ne[d], &nel) || nel > ((uint64_t)1 << 53))
            return wh_err(err, WH_E_FORMAT,
                          "%s: tensor %s: dimensions overflow (product of shape too large)", fpath,
                          t->name);
    }
    if (t->ne[0] % di->block != 0)
        return wh_err(err, WH_E_FORMAT,
                      "%s: tensor %s: row length %lld is not a multiple of the %s block size "
                      "(%d elements)",
                      fpath, t->name, (long long)t->ne[0], di->name, di->block);
    uint64_t need = nel / (uint64_t)di->block * (uint64_t)di->block_bytes;
    if (need != t->nbytes)
        return wh_err(err, WH_E_FORMAT,
                      "%s: tensor %s at byte %llu: holds %llu bytes but shape and dtype %s need "
                      "%llu",
                      fpath, t->name, (unsigned long long)t->offset, (unsigned long long)t->nbytes,
                      di->name, (unsigned long long)need);
    if (t->file >= 0 && t->file < st->n_files) {
        uint64_t end;
        if (!wh_add_u64(t->offset, t->nbytes, &end) || end > st->files[t->file].size)
            return wh_err(err, WH_E_FORMAT,
                          "%s: tensor %s: data [%llu, +%llu) lies outside the file (%llu bytes)",
                          fpath, t->name, (unsigned long long)t->offset,
                          (unsigned long long)t->nbytes,
                          (unsigned long long)st->files[t->file].size);
    }
    if (wh_store_find(st, t->name) != NULL)
        return wh_err(err, WH_E_FORMAT, "%s: tensor %s appears twice", fpath, t->name);
    if (st->n_tensors == st->cap_tensors) {
        int cap = st->cap_tensors ? st->cap_tensors * 2 : 64;
        wh_tensor *nt = wh_realloc(st->tensors, (size_t)cap * sizeof *nt);
        if (nt == NULL)
            return wh_err(err, WH_E_NOMEM, "tensor %s: out of memory", t->name);
        st->tensors = nt;
        st->cap_tensors = cap;
    }
    char *name = wh_strdup(t->name);
    if (name == NULL)
        return wh_err(err, WH_E_NOMEM, "tensor %s: out of memory", t->name);
    wh_tensor *dst = &st->tensors[st->n_tensors++];
    *dst = *t;
    dst->name = name;
    dst->scale = NULL;
    if (st->n_tensors * 2 > st->n_slots) {
        int n = st->n_slots ? st->n_slots * 2 : 128;
        while (n < st->n_tensors * 2)
            n *= 2;
        int rc = rehash(st, n, err);
        if (rc != WH_OK) {
            st->n_tensors--;
            wh_free(name);
            return rc;
        }
    } else {
        uint64_t mask = (uint64_t)(st->n_slots - 1);
        uint64_t h = hash_name(name) & mask;
        while (st->slots[h] >= 0)
            h = (h + 1) & mask;
        st->slots[h] = st->n_tensors - 1;
    }
    return WH_OK;
}

static const wh_tensor_store *g_sort_store;

static int cmp_by_offset(const void *a, const void *b)
{
    const wh_tensor *x = &g_sort_store->tensors[*(const int *)a];
    const wh_tensor *y = &g_sort_store->tensors[*(const int *)b];
    if (x->file != y->file)
        return x->file < y->file ? -1 : 1;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    return 0;
}

int wh_store_check_overlaps(const wh_tensor_store *st, int file, wh_error *err)
{
    if (st->n_tensors < 2)
        return WH_OK;
    int *idx = wh_malloc((size_t)st->n_tensors * sizeof *idx);
    if (idx == NULL)
        return wh_err(err, WH_E_NOMEM, "tensor overlap check: out of memory");
    int n = 0;
    for (int i = 0; i < st->n_tensors; i++)
        if (file < 0 || st->tensors[i].file == file)
            idx[n++] = i;
    g_sort_store = st;
    qsort(idx, (size_t)n, sizeof *idx, cmp_by_offset);
    int rc = WH_OK;
    /* a: the non-empty tensor of this file reaching furthest so far. Comparing
     * neighbours only would let an empty tensor between two hide their overlap. */
    const wh_tensor *a = NULL;
    for (int i = 0; i < n; i++) {
        const wh_tensor *b = &st->tensors[idx[i]];
        if (b->nbytes == 0)
            continue;
        if (a != NULL && a->file == b->file && a->offset + a->nbytes > b->offset) {
            rc = wh_err(err, WH_E_FORMAT,
                        "%s: tensors %s (bytes %llu..%llu) and %s (from byte %llu) overlap",
                        st->files[a->file].path, a->name, (unsigned long long)a->offset,
                        (unsigned long long)(a->offset + a->nbytes), b->name,
                        (unsigned long long)b->offset);
            break;
        }
        if (a == NULL || a->file != b->file || b->offset + b->nbytes > a->offset + a->nbytes)
            a = b;
    }
    wh_free(idx);
    return rc;
}

int wh_store_bind_fp8_scales(wh_tensor_store *st, wh_error *err)
{
    static const char suffix[] = "_scale_inv";
    for (int i = 0; i < st->n_tensors; i++) {
        wh_tensor *t = &st->tensors[i];
        if (t->dtype != WH_DT_F8_E4M3)
            continue;
        size_t n = strlen(t->name);
        char *sname = wh_malloc(n + sizeof suffix);
        if (sname == NULL)
            return wh_err(err, WH_E_NOMEM, "tensor %s: out of memory", t->name);
        memcpy(sname, t->name, n);
        memcpy(sname + n, suffix, sizeof suffix);
        const wh_tensor *s = wh_store_find(st, sname);
        wh_free(sname);
        const char *fpath = st->files[t->file].path;
        if (s == NULL)
            return wh_err(err, WH_E_MISSING, "%s: FP8 tensor %s has no %s%s block-scale tensor",
                          fpath, t->name, t->name, suffix);
        if (t->n_dims != 2)
            return wh_err(err, WH_E_UNSUPPORTED, "%s: FP8 tensor %s must be 2-D", fpath, t->name);
        int64_t want_r = (t->ne[1] + 127) / 128, want_c = (t->ne[0] + 127) / 128;
        if (s->dtype != WH_DT_F32 || s->n_dims != 2 || s->ne[1] != want_r || s->ne[0] != want_c)
            return wh_err(err, WH_E_FORMAT,
                          "%s: tensor %s%s: expected F32 [%lld, %lld] block scales for %s", fpath,
                          t->name, suffix, (long long)want_r, (long long)want_c, t->name);
        t->scale = s;
    }
    return WH_OK;
}

wh_tensor wh_tensor_rows_view(const wh_tensor *t, int64_t r0, int64_t n)
{
    wh_tensor v = *t;
    uint64_t rb = wh_dtype_row_bytes(t->dtype, t->ne[0]);
    v.n_dims = 2;
    v.ne[1] = n;
    v.ne[2] = v.ne[3] = 1;
    v.data = t->data + (uint64_t)r0 * rb;
    v.offset = t->offset + (uint64_t)r0 * rb;
    v.nbytes = (uint64_t)n * rb;
    v.row0 = t->row0 + r0;
    return v;
}

wh_tensor wh_tensor_matrix_view(const wh_tensor *t, int64_t i)
{
    wh_tensor v = wh_tensor_rows_view(t, i * t->ne[1], t->ne[1]);
    v.row0 = 0; /* block scales are per matrix only for 2-D tensors */
    return v;
}
