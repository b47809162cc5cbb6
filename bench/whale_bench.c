/*
 * whale_bench.c — whale's figures for bench/run.sh, measured exactly as
 * llama_bench.c measures llama.cpp: prefill of a P-token prompt, decode of N
 * tokens at context 0, decode of N tokens after D positions. Prints one line:
 *   whale <version> prefill_tps X decode0_tps Y decodeD_tps Z rss_mb R
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "whale.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: whale_bench MODEL THREADS PROMPT N DEPTH\n");
        return 2;
    }
    int threads = atoi(argv[2]), P = atoi(argv[3]), N = atoi(argv[4]), D = atoi(argv[5]);
    wh_error err = {0};
    wh_model *m = NULL;
    if (wh_model_load(argv[1], &m, &err) != WH_OK) {
        fprintf(stderr, "whale_bench: %s\n", err.msg);
        return 1;
    }
    int V = wh_model_config(m)->vocab_size;
    int n_ctx = (P > D ? P : D) + N + 16;
    wh_session_opts o = {.n_ctx = n_ctx, .mla = WH_MLA_ABSORBED, .n_threads = threads};
    wh_session *s = NULL;
    if (wh_session_new(m, &o, &s, &err) != WH_OK) {
        fprintf(stderr, "whale_bench: %s\n", err.msg);
        return 1;
    }
    int32_t *toks = malloc(sizeof(int32_t) * (size_t)n_ctx);
    float *logits = malloc(sizeof(float) * (size_t)V);
    unsigned r = 12345;
    for (int i = 0; i < n_ctx; i++) {
        r = r * 1103515245u + 12345u;
        toks[i] = (int32_t)(2 + (r >> 8) % (unsigned)(V - 2));
    }
    double t0 = now();
    if (wh_session_eval(s, toks, P, logits, 0, &err) != WH_OK)
        goto fail;
    double prefill = P / (now() - t0);

    wh_session_reset(s);
    t0 = now();
    for (int i = 0; i < N; i++)
        if (wh_session_eval(s, &toks[i], 1, logits, 0, &err) != WH_OK)
            goto fail;
    double dec0 = N / (now() - t0);

    double decd = 0;
    if (D > 0) {
        wh_session_reset(s);
        if (wh_session_eval(s, toks, D, NULL, 0, &err) != WH_OK)
            goto fail;
        t0 = now();
        for (int i = 0; i < N; i++)
            if (wh_session_eval(s, &toks[D + i], 1, logits, 0, &err) != WH_OK)
                goto fail;
        decd = N / (now() - t0);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("whale %s prefill_tps %.3f decode0_tps %.3f decodeD_tps %.3f rss_mb %.1f\n",
           WHALE_VERSION, prefill, dec0, decd, ru.ru_maxrss / 1024.0);
    free(toks);
    free(logits);
    wh_session_free(s);
    wh_model_free(m);
    return 0;
fail:
    fprintf(stderr, "whale_bench: %s\n", err.msg);
    return 1;
}
