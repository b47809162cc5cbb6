/*
 * fuzz_st_index.c — libFuzzer target for model.safetensors.index.json: the input is
 * written as the index of a scratch model folder that also holds two small valid shards
 * (a.safetensors with tensors "x" and "y", b.safetensors with "z"); then
 * wh_safetensors_load_dir reads it (weight_map shape, shard names that must stay inside
 * the folder, tensors that must be in the shard the index names).
 * Every rejection must be a negative wh_status with a message; ASan/UBSan catch the rest.
 */
#include "fuzz.h"

#include <sys/stat.h>

#include "base/mapfile.h"
#include "formats/safetensors.h"

static char g_dir[512];
static char g_index[600];

/* A safetensors file: header JSON, then n_data zero bytes. */
static void write_shard(const char *name, const char *json, size_t n_data)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    size_t hl = strlen(json);
    uint8_t buf[512];
    if (8 + hl + n_data > sizeof buf)
        abort();
    uint64_t h = hl;
    memcpy(buf, &h, 8);
    memcpy(buf + 8, json, hl);
    memset(buf + 8 + hl, 0, n_data);
    fuzz_write(path, buf, 8 + hl + n_data);
    fuzz_remove_at_exit(path);
}

static void setup(void)
{
    snprintf(g_dir, sizeof g_dir, "%s", fuzz_scratch(".model"));
    if (mkdir(g_dir, 0700) != 0 && !wh_is_dir(g_dir))
        abort();
    write_shard("a.safetensors",
                "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                "\"y\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[8,16]}}",
                16);
    write_shard("b.safetensors", "{\"z\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]}}",
                8);
    snprintf(g_index, sizeof g_index, "%s/model.safetensors.index.json", g_dir);
    fuzz_remove_at_exit(g_index);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (g_dir[0] == '\0')
        setup();
    fuzz_write(g_index, data, size);

    wh_tensor_store st;
    wh_store_init(&st);
    wh_error err;
    memset(&err, 0, sizeof err);
    int rc = wh_safetensors_load_dir(&st, g_dir, &err);
    if (rc != WH_OK)
        fuzz_check_error(rc, &err);
    wh_store_free(&st);
    return 0;
}
