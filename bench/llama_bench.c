/*
 * llama_bench.c — the peer's figures for bench/run.sh: llama.cpp (the prebuilt CPU
 * library of node-llama-cpp@3.21.1) with the settings its users get by default
 * (mmap, weight repacking, default KV cache type), timing the same three things
 * as whale_bench: prefill of a P-token prompt, decode of N tokens at context 0,
 * and decode of N tokens after a D-token context. Prints one line:
 *   llama.cpp <version> prefill_tps X decode0_tps Y decodeD_tps Z rss_mb R
 * Built by tools/llamacpp/setup.sh (headers come from the npm package).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "llama.h"
#include "ggml-backend.h"

#ifndef LLAMACPP_LIBDIR
#define LLAMACPP_LIBDIR ""
#endif
#ifndef LLAMACPP_RELEASE
#define LLAMACPP_RELEASE "unknown"
#endif

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void quiet(enum ggml_log_level level, const char *text, void *ud)
{
    (void)ud;
    if (level == GGML_LOG_LEVEL_ERROR)
        fputs(text, stderr);
}

static int decode_tokens(struct llama_context *ctx, const llama_token *toks, int n, int pos0,
                         int n_batch)
{
    struct llama_batch b = llama_batch_init(n_batch, 0, 1);
    for (int i = 0; i < n; i += n_batch) {
        int m = n - i < n_batch ? n - i : n_batch;
        for (int j = 0; j < m; j++) {
            b.token[j] = toks[i + j];
            b.pos[j] = pos0 + i + j;
            b.n_seq_id[j] = 1;
            b.seq_id[j][0] = 0;
            b.logits[j] = (i + j == n - 1);
        }
        b.n_tokens = m;
        if (llama_decode(ctx, b) != 0) {
            llama_batch_free(b);
            return 0;
        }
    }
    llama_batch_free(b);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: llama_bench MODEL.gguf THREADS PROMPT N DEPTH [nofa]\n");
        return 2;
    }
    const char *path = argv[1];
    int threads = atoi(argv[2]), P = atoi(argv[3]), N = atoi(argv[4]), D = atoi(argv[5]);
    llama_log_set(quiet, NULL);
    if (*LLAMACPP_LIBDIR)
        ggml_backend_load_all_from_path(LLAMACPP_LIBDIR);
    else
        ggml_backend_load_all();
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    struct llama_model *model = llama_model_load_from_file(path, mp);
    if (model == NULL) {
        fprintf(stderr, "llama_bench: cannot load %s\n", path);
        return 1;
    }
    int V = llama_vocab_n_tokens(llama_model_get_vocab(model));
    int n_ctx = (P > D ? P : D) + N + 16;
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)n_ctx;
    cp.n_batch = 512;
    cp.n_ubatch = 512;
    cp.n_threads = threads;
    cp.n_threads_batch = threads;
    cp.no_perf = true;
    /* this build aborts while reserving a deepseek2 (MLA) graph with flash attention
     * on the CPU; run.sh passes "nofa" for that shape */
    if (argc > 6 && strcmp(argv[6], "nofa") == 0)
        cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (ctx == NULL) {
        fprintf(stderr, "llama_bench: cannot create a context\n");
        return 1;
    }
    int maxn = n_ctx;
    llama_token *toks = malloc(sizeof(llama_token) * (size_t)maxn);
    unsigned r = 12345;
    for (int i = 0; i < maxn; i++) {
        r = r * 1103515245u + 12345u;
        toks[i] = (llama_token)(2 + (r >> 8) % (unsigned)(V - 2));
    }
    llama_memory_t mem = llama_get_memory(ctx);

    /* prefill */
    double t0 = now();
    if (!decode_tokens(ctx, toks, P, 0, 512))
        return 1;
    double prefill = P / (now() - t0);

    /* decode at context 0 */
    llama_memory_clear(mem, true);
    t0 = now();
    for (int i = 0; i < N; i++)
        if (!decode_tokens(ctx, &toks[i], 1, i, 1))
            return 1;
    double dec0 = N / (now() - t0);

    /* decode after D positions */
    double decd = 0;
    if (D > 0) {
        llama_memory_clear(mem, true);
        if (!decode_tokens(ctx, toks, D, 0, 512))
            return 1;
        t0 = now();
        for (int i = 0; i < N; i++)
            if (!decode_tokens(ctx, &toks[D + i], 1, D + i, 1))
                return 1;
        decd = N / (now() - t0);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("llama.cpp %s prefill_tps %.3f decode0_tps %.3f decodeD_tps %.3f rss_mb %.1f\n",
           LLAMACPP_RELEASE, prefill, dec0, decd, ru.ru_maxrss / 1024.0);
    free(toks);
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}
