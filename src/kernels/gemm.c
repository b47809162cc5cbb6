/*
 * gemm.c — the prefill product's scalar twin, scratch sizes and run-time choice
 * of level (see gemm.h). The twin is the definition the SIMD levels are tested
 * against: every output is the scalar dot twin of quant.c, vec_dot_ref(W[o], xq[t]).
 */
#include "kernels/gemm.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "base/env.h"
#include "kernels/cpu.h"
#include "kernels/quant.h"

uint64_t wh_gemm_prep_bytes(int64_t K, int T)
{
    /* tiles of up to 16 tokens; per token and input at most 4 bytes (F32 tiles for
     * F16/BF16 weights; Q8_K tiles take 292 bytes per 256, Q8_0 36 per 32) */
    uint64_t tokens = (uint64_t)T + 16u;
    return tokens * ((uint64_t)K * 4u + 64u) + 4096u;
}

void wh_gemm_rows_ref(const wh_gemm_args *a, long o0, long o1)
{
    const wh_quant_traits *tr = wh_quant_traits_get(a->type);
    uint64_t rb = wh_dtype_row_bytes(a->type, a->K);
    int floats = tr->vec_dot_type == WH_DT_F32;
    uint64_t xb =
        floats ? (uint64_t)a->K * sizeof(float) : wh_dtype_row_bytes(tr->vec_dot_type, a->K);
    const uint8_t *x = floats ? (const uint8_t *)a->x : a->xq;
    for (long o = o0; o < o1; o++) {
        const uint8_t *row = a->w + (uint64_t)o * rb;
        float b = a->bias != NULL ? a->bias[o] : 0.0f;
        for (int t = 0; t < a->T; t++)
            a->out[(int64_t)t * a->O + o] = tr->vec_dot_ref(a->K, row, x + (uint64_t)t * xb) + b;
    }
}

/* ---------------- level choice ---------------- */

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static wh_gemm_level g_level = WH_GEMM_SCALAR;
static const wh_gemm_kernels *g_avx2, *g_avx512, *g_amx;

/* AMX-TILE and AMX-INT8 usable by this process: CPUID leaf 7 EDX bits 24 and 25, the
 * OS saving the tile state (XCR0 bits 17 and 18), and Linux's permission for the tile
 * data (arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA), once per process; it
 * covers every thread). */
static int amx_usable(void)
{
#if defined(__linux__) && defined(__x86_64__)
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d & (1u << 24)) || !(d & (1u << 25)))
        return 0;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) /* OSXSAVE: xgetbv */
        return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & (3u << 17)) != (3u << 17))
        return 0;
    return syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XTILEDATA */) == 0;
#else
    return 0;
#endif
}

static void pick_level(void)
{
#if defined(__x86_64__) || defined(__i386__)
    if (wh_cpu_avx2())
        g_avx2 = wh_gemm_avx2_kernels();
    if (wh_cpu_avx512())
        g_avx512 = wh_gemm_avx512_kernels();
    /* asked only when it would be used: the permission enlarges every signal frame */
    if (g_avx512 != NULL && wh_gemm_amx_kernels() != NULL && !wh_env_flag("WHALE_NO_SIMD") &&
        !wh_env_flag("WHALE_NO_AVX512") && !wh_env_flag("WHALE_NO_AMX") && amx_usable())
        g_amx = wh_gemm_amx_kernels();
#endif
    if (wh_env_flag("WHALE_NO_SIMD"))
        g_level = WH_GEMM_SCALAR;
    else if (g_amx != NULL)
        g_level = WH_GEMM_AMX;
    else if (g_avx512 != NULL && !wh_env_flag("WHALE_NO_AVX512"))
        g_level = WH_GEMM_AVX512;
    else if (g_avx2 != NULL)
        g_level = WH_GEMM_AVX2;
}

const wh_gemm_kernels *wh_gemm_kernels_get(wh_gemm_level level)
{
    pthread_once(&g_once, pick_level);
    switch (level) {
    case WH_GEMM_AVX2:
        return g_avx2;
    case WH_GEMM_AVX512:
        return g_avx512;
    case WH_GEMM_AMX:
        return g_amx;
    default:
        return NULL;
    }
}

wh_gemm_level wh_gemm_level_active(void)
{
    pthread_once(&g_once, pick_level);
    return g_level;
}

const wh_gemm_kernels *wh_gemm_active(void)
{
    return wh_gemm_kernels_get(wh_gemm_level_active());
}

const wh_gemm_kernels *wh_gemm_for_type(wh_dtype type)
{
    if ((unsigned)type >= WH_DT_COUNT)
        return NULL;
    for (int lv = (int)wh_gemm_level_active(); lv > WH_GEMM_SCALAR; lv--) {
        const wh_gemm_kernels *k = wh_gemm_kernels_get((wh_gemm_level)lv);
        if (k != NULL && k->prepare[type] != NULL && k->rows[type] != NULL)
            return k;
    }
    return NULL;
}
