/*
 * fuzz_config.c — libFuzzer target for config.json: wh_config_from_hf_text on the input
 * (any bytes, not NUL-terminated), then wh_config_derive on what it maps (the one place
 * sizes are computed: every product must be range-checked, not overflow).
 * Every rejection must be a negative wh_status with a message; ASan/UBSan catch the rest.
 */
#include "fuzz.h"

#include "model/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a copy of exactly size bytes, so ASan sees any read past the end */
    char *text = malloc(size ? size : 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    wh_config cfg;
    wh_error err;
    memset(&err, 0, sizeof err);
    int rc = wh_config_from_hf_text(text, size, "config.json", &cfg, &err);
    if (rc == WH_OK) {
        wh_dims dims;
        rc = wh_config_derive(&cfg, &dims, &err);
    }
    if (rc != WH_OK)
        fuzz_check_error(rc, &err);
    free(text);
    return 0;
}
