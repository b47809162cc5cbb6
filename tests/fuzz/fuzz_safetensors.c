/*
 * fuzz_safetensors.c — libFuzzer target for the single-file safetensors reader:
 * wh_safetensors_load_file on the input written to a file (8-byte header length, JSON
 * header, data offsets checked against the file, duplicate and overlapping tensors),
 * then the FP8 block-scale binding (wh_store_bind_fp8_scales) on what loaded.
 * Every rejection must be a negative wh_status with a message; ASan/UBSan catch the rest.
 */
#include "fuzz.h"

#include "formats/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *path;
    if (path == NULL)
        path = fuzz_scratch(".safetensors");
    fuzz_write(path, data, size);

    wh_tensor_store st;
    wh_store_init(&st);
    wh_error err;
    memset(&err, 0, sizeof err);
    int rc = wh_safetensors_load_file(&st, path, &err);
    if (rc == WH_OK) {
        rc = wh_store_bind_fp8_scales(&st, &err);
        for (int i = 0; i < st.n_tensors; i++)
            if (wh_store_find(&st, st.tensors[i].name) == NULL)
                abort(); /* every tensor added must be found by name */
    }
    if (rc != WH_OK)
        fuzz_check_error(rc, &err);
    wh_store_free(&st);
    return 0;
}
