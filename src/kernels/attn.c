/* attn.c — attention inner loops: scalar reference and run-time dispatch (see attn.h). */
#include "kernels/attn.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/env.h"
#include "kernels/cpu.h"

void wh_attn_scores_ref(float *scores, int64_t lds, const float *q, int64_t ldq, int nq,
                        const float *K, int n, int64_t stride, int d, float scale)
{
    for (int h = 0; h < nq; h++)
        for (int j = 0; j < n; j++) {
            const float *k = K + (int64_t)j * stride, *qh = q + h * ldq;
            float s = 0.0f;
            for (int i = 0; i < d; i++)
                s += qh[i] * k[i];
            scores[h * lds + j] = s * scale;
        }
}

void wh_attn_accum_ref(float *out, int64_t ldo, const float *p, int64_t ldp, int nq, const float *V,
                       int n, int64_t stride, int d)
{
    for (int h = 0; h < nq; h++) {
        float *o = out + h * ldo;
        memset(o, 0, (size_t)d * sizeof(float));
        for (int j = 0; j < n; j++) {
            const float *v = V + (int64_t)j * stride;
            float pj = p[h * ldp + j];
            for (int i = 0; i < d; i++)
                o[i] += pj * v[i];
        }
    }
}

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_simd;

static void pick(void)
{
    /* attn_avx2.c is built with -mavx2 -mfma -mf16c */
    g_simd = !wh_env_flag("WHALE_NO_SIMD") && wh_cpu_avx2();
}

void wh_attn_scores(float *scores, int64_t lds, const float *q, int64_t ldq, int nq, const float *K,
                    int n, int64_t stride, int d, float scale)
{
    pthread_once(&g_once, pick);
#if defined(__x86_64__) || defined(__i386__)
    if (g_simd) {
        wh_attn_scores_avx2(scores, lds, q, ldq, nq, K, n, stride, d, scale);
        return;
    }
#endif
    wh_attn_scores_ref(scores, lds, q, ldq, nq, K, n, stride, d, scale);
}

void wh_attn_accum(float *out, int64_t ldo, const float *p, int64_t ldp, int nq, const float *V,
                   int n, int64_t stride, int d)
{
    pthread_once(&g_once, pick);
#if defined(__x86_64__) || defined(__i386__)
    if (g_simd) {
        wh_attn_accum_avx2(out, ldo, p, ldp, nq, V, n, stride, d);
        return;
    }
#endif
    wh_attn_accum_ref(out, ldo, p, ldp, nq, V, n, stride, d);
}
