/*
 * llama_tok_bench.c — llama.cpp's side of bench/tok_bench.sh (tokenizer speed): the
 * prebuilt library of node-llama-cpp@3.21.1 through llama.h. Loads VOCAB.gguf with
 * vocab_only = true, encodes TEXT with llama_tokenize (add_special = false,
 * parse_special = false, the same as `tok_bench encode`) once untimed, writing the ids
 * to IDS_OUT (format in tok_common.h), then REPS timed times. Prints one line:
 *   llama.cpp mbps_median X mbps_min Y mbps_max Z bytes B tokens T chunks C load_ms L
 * usage: llama_tok_bench VOCAB.gguf TEXT REPS CHUNK [IDS_OUT] | --version
 * Built by tools/llamacpp/setup.sh (headers come from the npm package).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml.h"
#include "llama.h"
#include "tok_common.h"

#ifndef LLAMACPP_RELEASE
#define LLAMACPP_RELEASE "unknown"
#endif

static void quiet(enum ggml_log_level level, const char *text, void *ud)
{
    (void)ud;
    if (level == GGML_LOG_LEVEL_ERROR)
        fputs(text, stderr);
}

static llama_token *g_buf;
static size_t g_cap;

/* Encodes every chunk; returns the token count or -1. */
static long long encode_all(const struct llama_vocab *v, const char *text, const size_t *off,
                            size_t n_chunks, FILE *ids_out)
{
    long long total = 0;
    for (size_t c = 0; c < n_chunks; c++) {
        size_t len = off[c + 1] - off[c];
        if (len > INT32_MAX)
            return -1;
        int32_t n =
            llama_tokenize(v, text + off[c], (int32_t)len, g_buf, (int32_t)g_cap, false, false);
        if (n < 0)
            return -1; /* g_cap is one token per byte plus slack: cannot happen */
        if (ids_out != NULL) {
            uint32_t k = (uint32_t)n;
            if (fwrite(&k, sizeof k, 1, ids_out) != 1 ||
                fwrite(g_buf, sizeof *g_buf, (size_t)n, ids_out) != (size_t)n)
                return -1;
        }
        total += n;
    }
    return total;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
        printf("llama.cpp release %s (node-llama-cpp 3.21.1 prebuilt), ggml %s commit %s\n",
               LLAMACPP_RELEASE, ggml_version(), ggml_commit());
        return 0;
    }
    if (argc < 5 || atoi(argv[3]) <= 0) {
        fprintf(stderr,
                "usage: llama_tok_bench VOCAB.gguf TEXT REPS CHUNK [IDS_OUT] | --version\n");
        return 2;
    }
    int reps = atoi(argv[3]);
    size_t chunk = (size_t)strtoull(argv[4], NULL, 10);
    size_t len = 0, *off = NULL;
    char *text = tb_read_file(argv[2], &len);
    if (text == NULL) {
        fprintf(stderr, "llama_tok_bench: cannot read %s\n", argv[2]);
        return 1;
    }
    size_t n_chunks = tb_chunks(text, len, chunk, &off);
    g_cap = len + 16;
    g_buf = malloc(g_cap * sizeof *g_buf);
    if (off == NULL || g_buf == NULL || g_cap > INT32_MAX) {
        fprintf(stderr, "llama_tok_bench: out of memory or text too large\n");
        return 1;
    }

    llama_log_set(quiet, NULL);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    mp.vocab_only = true;
    mp.n_gpu_layers = 0;
    double t0 = tb_now();
    struct llama_model *model = llama_model_load_from_file(argv[1], mp);
    double load_ms = (tb_now() - t0) * 1e3;
    if (model == NULL) {
        fprintf(stderr, "llama_tok_bench: llama.cpp cannot load %s\n", argv[1]);
        return 1;
    }
    const struct llama_vocab *v = llama_model_get_vocab(model);

    FILE *f = NULL;
    if (argc > 5 && (f = fopen(argv[5], "wb")) == NULL) {
        fprintf(stderr, "llama_tok_bench: cannot write %s\n", argv[5]);
        return 1;
    }
    long long n_tokens = encode_all(v, text, off, n_chunks, f);
    if (n_tokens < 0 || (f != NULL && fclose(f) != 0)) {
        fprintf(stderr, "llama_tok_bench: tokenize or write failed\n");
        return 1;
    }
    double *mbps = calloc((size_t)reps, sizeof *mbps), lo = 1e30, hi = 0;
    if (mbps == NULL)
        return 1;
    for (int r = 0; r < reps; r++) {
        double s = tb_now();
        if (encode_all(v, text, off, n_chunks, NULL) < 0)
            return 1;
        mbps[r] = (double)len / (tb_now() - s) / 1e6;
        lo = mbps[r] < lo ? mbps[r] : lo;
        hi = mbps[r] > hi ? mbps[r] : hi;
    }
    printf(
        "llama.cpp mbps_median %.2f mbps_min %.2f mbps_max %.2f bytes %zu tokens %lld chunks %zu "
        "load_ms %.1f\n",
        tb_median(mbps, reps), lo, hi, len, n_tokens, n_chunks, load_ms);
    free(mbps);
    llama_model_free(model);
    llama_backend_free();
    free(g_buf);
    free(off);
    free(text);
    return 0;
}
