/* attn.c — attention inner loops: scalar reference and run-time dispatch (see attn.h). */
#include "kernels/attn.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu.h"

void wh_attn_scores_ref(float *scores, const float *q, const float *K, int n, int64_t stride, int d,
                        float scale)
{
    for (int j = 0; j < n; j++) {
        const float *k = K + (int64_t)j * stride;
        float s = 0.0f;
        for (int i = 0; i < d; i++)
            s += q[i] * k[i];
        scores[j] = s * scale;
    }
}

void wh_attn_accum_ref(float *out, const float *p, const float *V, int n, int64_t stride, int d)
{
    memset(out, 0, (size_t)d * sizeof(float));
    for (int j = 0; j < n; j++) {
        const float *v = V + (int64_t)j * stride;
        float pj = p[j];
        for (int i = 0; i < d; i++)
            out[i] += pj * v[i];
    }
}

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_simd;

static void pick(void)
{
    /* attn_avx2.c is built with -mavx2 -mfma -mf16c */
    g_simd = !wh_env_flag("WHALE_NO_SIMD") && wh_cpu_avx2();
}

void wh_attn_scores(float *scores, const float *q, const float *K, int n, int64_t stride, int d,
                    float scale)
{
    pthread_once(&g_once, pick);
#if defined(__x86_64__) || defined(__i386__)
    if (g_simd) {
        wh_attn_scores_avx2(scores, q, K, n, stride, d, scale);
        return;
    }
#endif
    wh_attn_scores_ref(scores, q, K, n, stride, d, scale);
}

void wh_attn_accum(float *out, const float *p, const float *V, int n, int64_t stride, int d)
{
    pthread_once(&g_once, pick);
#if defined(__x86_64__) || defined(__i386__)
    if (g_simd) {
        wh_attn_accum_avx2(out, p, V, n, stride, d);
        return;
    }
#endif
    wh_attn_accum_ref(out, p, V, n, stride, d);
}
