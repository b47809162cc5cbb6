/* safetensors.c — safetensors reader (see safetensors.h). */
#include "formats/safetensors.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/checked.h"
#include "base/error.h"

static int dtype_from_name(const char *s)
{
    static const struct {
        const char *name;
        wh_dtype dt;
    } map[] = {
        {"F32", WH_DT_F32}, {"F16", WH_DT_F16}, {"BF16", WH_DT_BF16}, {"F8_E4M3", WH_DT_F8_E4M3},
        {"I8", WH_DT_I8},   {"I16", WH_DT_I16}, {"I32", WH_DT_I32},   {"I64", WH_DT_I64},
        {"F64", WH_DT_F64}, {"U8", WH_DT_U8},   {"BOOL", WH_DT_BOOL},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(s, map[i].name) == 0)
            return (int)map[i].dt;
    return -1;
}

/* Parses JSON text of known length with a nesting limit; NULL + err on failure. len fits
 * json-c's int: the callers bound it (a header by WH_SAFETENSORS_MAX_HEADER, 100 MiB; an
 * index file by the 64 MiB wh_read_text limit). */
static json_object *parse_json(const char *text, size_t len, int depth, const char *path,
                               uint64_t base_offset, wh_error *err)
{
    _Static_assert(WH_SAFETENSORS_MAX_HEADER <= INT32_MAX, "header length fits an int");
    json_tokener *tok = json_tokener_new_ex(depth);
    if (tok == NULL) {
        wh_err(err, WH_E_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    json_object *obj = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    if (obj == NULL || jerr != json_tokener_success) {
        wh_err(err, WH_E_FORMAT, "%s: invalid JSON at byte %llu: %s", path,
               (unsigned long long)(base_offset + end),
               jerr == json_tokener_continue ? "unexpected end" : json_tokener_error_desc(jerr));
        json_object_put(obj);
        json_tokener_free(tok);
        return NULL;
    }
    for (size_t i = end; i < len; i++) {
        char c = text[i];
        if (c != ' ' && c != '\n' && c != '\r' && c != '\t' && c != '\0') {
            wh_err(err, WH_E_FORMAT, "%s: unexpected data after the JSON at byte %llu", path,
                   (unsigned long long)(base_offset + i));
            json_object_put(obj);
            json_tokener_free(tok);
            return NULL;
        }
    }
    json_tokener_free(tok);
    return obj;
}

static int get_u64(json_object *o, uint64_t *out)
{
    if (o == NULL || !json_object_is_type(o, json_type_int))
        return 0;
    int64_t v = json_object_get_int64(o);
    if (v < 0 || v == INT64_MAX)
        return 0;
    *out = (uint64_t)v;
    return 1;
}

int wh_safetensors_load_file(wh_tensor_store *st, const char *path, wh_error *err)
{
    wh_mapfile mf;
    int rc = wh_mapfile_open(&mf, path, err);
    if (rc != WH_OK)
        return rc;
    if (mf.size < 8) {
        wh_mapfile_close(&mf);
        return wh_err(err, WH_E_FORMAT,
                      "%s: truncated: %llu bytes, a safetensors file starts "
                      "with an 8-byte header length",
                      path, (unsigned long long)mf.size);
    }
    uint64_t hlen;
    memcpy(&hlen, mf.data, 8);
    if (hlen > mf.size - 8 || hlen > WH_SAFETENSORS_MAX_HEADER) {
        uint64_t size = mf.size;
        wh_mapfile_close(&mf);
        return wh_err(err, WH_E_FORMAT,
                      "%s: header length %llu at byte 0 runs beyond the file (%llu bytes) or "
                      "the %llu-byte limit",
                      path, (unsigned long long)hlen, (unsigned long long)size,
                      (unsigned long long)WH_SAFETENSORS_MAX_HEADER);
    }
    if (hlen < 2 || mf.data[8] != '{') {
        wh_mapfile_close(&mf);
        return wh_err(err, WH_E_FORMAT, "%s: bad magic: header at byte 8 is not a JSON object",
                      path);
    }
    json_object *root = parse_json((const char *)mf.data + 8, (size_t)hlen, 8, path, 8, err);
    if (root == NULL) {
        wh_mapfile_close(&mf);
        return err ? err->code : WH_E_FORMAT;
    }
    if (!json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        wh_mapfile_close(&mf);
        return wh_err(err, WH_E_FORMAT, "%s: header is not a JSON object", path);
    }
    const uint8_t *base = mf.data;
    uint64_t data_start = 8 + hlen;
    uint64_t data_size = mf.size - data_start;
    int fi = wh_store_add_file(st, &mf, err);
    if (fi < 0) {
        json_object_put(root);
        wh_mapfile_close(&mf);
        return fi;
    }
    rc = WH_OK;
    json_object_object_foreach(root, key, val)
    {
        if (strcmp(key, "__metadata__") == 0)
            continue;
        json_object *jd, *js, *jo;
        if (!json_object_is_type(val, json_type_object) ||
            !json_object_object_get_ex(val, "dtype", &jd) ||
            !json_object_object_get_ex(val, "shape", &js) ||
            !json_object_object_get_ex(val, "data_offsets", &jo) ||
            !json_object_is_type(jd, json_type_string) ||
            !json_object_is_type(js, json_type_array) ||
            !json_object_is_type(jo, json_type_array) || json_object_array_length(jo) != 2) {
            rc = wh_err(err, WH_E_FORMAT,
                        "%s: tensor %s: header entry needs dtype, shape and data_offsets [b, e]",
                        path, key);
            break;
        }
        int dt = dtype_from_name(json_object_get_string(jd));
        if (dt < 0) {
            rc = wh_err(err, WH_E_UNSUPPORTED, "%s: tensor %s: unknown dtype \"%s\"", path, key,
                        json_object_get_string(jd));
            break;
        }
        size_t nd = json_object_array_length(js);
        if (nd > WH_MAX_DIMS) {
            rc = wh_err(err, WH_E_UNSUPPORTED, "%s: tensor %s: %zu dimensions (at most %d)", path,
                        key, nd, WH_MAX_DIMS);
            break;
        }
        wh_tensor t;
        memset(&t, 0, sizeof t);
        t.name = key;
        t.dtype = (wh_dtype)dt;
        t.n_dims = nd == 0 ? 1 : (int)nd;
        for (int d = 0; d < WH_MAX_DIMS; d++)
            t.ne[d] = 1;
        int bad = -1;
        for (size_t d = 0; d < nd; d++) {
            uint64_t v;
            if (!get_u64(json_object_array_get_idx(js, d), &v) || v > ((uint64_t)1 << 53)) {
                bad = (int)d;
                break;
            }
            t.ne[nd - 1 - d] = (int64_t)v; /* reverse: ne[0] is the innermost */
        }
        if (bad >= 0) {
            rc = wh_err(err, WH_E_FORMAT, "%s: tensor %s: shape[%d] is not an integer in 0..2^53",
                        path, key, bad);
            break;
        }
        uint64_t b, e;
        if (!get_u64(json_object_array_get_idx(jo, 0), &b) ||
            !get_u64(json_object_array_get_idx(jo, 1), &e) || e < b) {
            rc = wh_err(err, WH_E_FORMAT,
                        "%s: tensor %s: data_offsets must be two integers [begin, end], "
                        "begin <= end < 2^63",
                        path, key);
            break;
        }
        if (e > data_size) {
            rc = wh_err(err, WH_E_FORMAT,
                        "%s: tensor %s: data_offsets [%llu, %llu] run beyond the data section "
                        "(%llu bytes from byte %llu)",
                        path, key, (unsigned long long)b, (unsigned long long)e,
                        (unsigned long long)data_size, (unsigned long long)data_start);
            break;
        }
        t.offset = data_start + b;
        t.nbytes = e - b;
        t.data = base + t.offset;
        t.file = fi;
        rc = wh_store_add(st, &t, err);
        if (rc != WH_OK)
            break;
    }
    json_object_put(root);
    if (rc == WH_OK)
        rc = wh_store_check_overlaps(st, fi, err);
    return rc;
}

static int load_index(wh_tensor_store *st, const char *dir, const char *index_path, wh_error *err)
{
    char *text = NULL;
    uint64_t len = 0;
    int rc = wh_read_text(index_path, 64ull << 20, &text, &len, err);
    if (rc != WH_OK)
        return rc;
    json_object *root = parse_json(text, (size_t)len, 16, index_path, 0, err);
    wh_free(text);
    if (root == NULL)
        return err ? err->code : WH_E_FORMAT;
    json_object *wm;
    if (!json_object_is_type(root, json_type_object) ||
        !json_object_object_get_ex(root, "weight_map", &wm) ||
        !json_object_is_type(wm, json_type_object)) {
        json_object_put(root);
        return wh_err(err, WH_E_FORMAT, "%s: field weight_map (an object) is missing", index_path);
    }
    /* Load each distinct shard once, in order of first appearance. */
    rc = WH_OK;
    json_object *seen = json_object_new_object();
    if (seen == NULL) {
        json_object_put(root);
        return wh_err(err, WH_E_NOMEM, "%s: out of memory", index_path);
    }
    json_object_object_foreach(wm, tname, fobj)
    {
        if (!json_object_is_type(fobj, json_type_string)) {
            rc =
                wh_err(err, WH_E_FORMAT, "%s: weight_map.%s is not a file name", index_path, tname);
            break;
        }
        const char *fname = json_object_get_string(fobj);
        if (json_object_object_get_ex(seen, fname, NULL))
            continue;
        char *full = NULL;
        char what[512];
        snprintf(what, sizeof what, "%s: weight_map.%s", index_path, tname);
        rc = wh_path_join_inside(dir, fname, &full, what, err);
        if (rc != WH_OK)
            break;
        rc = wh_safetensors_load_file(st, full, err);
        wh_free(full);
        if (rc != WH_OK)
            break;
        json_object_object_add(seen, fname, json_object_new_boolean(1));
    }
    if (rc == WH_OK) {
        json_object_object_foreach(wm, tname2, fobj2)
        {
            const wh_tensor *t = wh_store_find(st, tname2);
            const char *want = json_object_get_string(fobj2);
            const char *have = t ? strrchr(st->files[t->file].path, '/') : NULL;
            have = have ? have + 1 : (t ? st->files[t->file].path : NULL);
            if (t == NULL ||
                strcmp(have, strrchr(want, '/') ? strrchr(want, '/') + 1 : want) != 0) {
                rc = wh_err(err, WH_E_MISSING, "%s: tensor %s is not in shard %s", index_path,
                            tname2, want);
                break;
            }
        }
    }
    json_object_put(seen);
    json_object_put(root);
    return rc;
}

int wh_safetensors_load_dir(wh_tensor_store *st, const char *dir, wh_error *err)
{
    char *index = NULL, *single = NULL;
    int rc = wh_path_join_inside(dir, "model.safetensors.index.json", &index, dir, err);
    if (rc != WH_OK)
        return rc;
    if (wh_is_file(index)) {
        rc = load_index(st, dir, index, err);
        wh_free(index);
        return rc;
    }
    wh_free(index);
    rc = wh_path_join_inside(dir, "model.safetensors", &single, dir, err);
    if (rc != WH_OK)
        return rc;
    if (!wh_is_file(single)) {
        rc = wh_err(err, WH_E_MISSING,
                    "%s: no model.safetensors.index.json or model.safetensors in this folder", dir);
        wh_free(single);
        return rc;
    }
    rc = wh_safetensors_load_file(st, single, err);
    wh_free(single);
    return rc;
}
