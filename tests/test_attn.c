/* test_attn.c — the AVX2 attention loops against their scalar twins. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kernels/attn.h"

static float frand(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)(*s >> 8) / (float)(1 << 24) * 2.0f - 1.0f;
}

static void test_simd_equals_scalar(void **state)
{
    (void)state;
#if defined(__x86_64__)
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
        skip();
        return;
    }
    uint32_t seed = 1;
    int dims[] = {1, 7, 8, 33, 64, 128, 576, 1000};
    int ns[] = {1, 3, 17, 130};
    for (size_t a = 0; a < sizeof dims / sizeof dims[0]; a++)
        for (size_t b = 0; b < sizeof ns / sizeof ns[0]; b++) {
            int d = dims[a], n = ns[b];
            int64_t stride = d + 5;
            float *K = malloc(sizeof(float) * (size_t)(n * stride));
            float *q = malloc(sizeof(float) * (size_t)d), *p = malloc(sizeof(float) * (size_t)n);
            float *s1 = malloc(sizeof(float) * (size_t)n), *s2 = malloc(sizeof(float) * (size_t)n);
            float *o1 = malloc(sizeof(float) * (size_t)d), *o2 = malloc(sizeof(float) * (size_t)d);
            for (int64_t i = 0; i < n * stride; i++)
                K[i] = frand(&seed);
            for (int i = 0; i < d; i++)
                q[i] = frand(&seed);
            for (int i = 0; i < n; i++)
                p[i] = fabsf(frand(&seed));
            wh_attn_scores_ref(s1, q, K, n, stride, d, 0.3f);
            wh_attn_scores_avx2(s2, q, K, n, stride, d, 0.3f);
            for (int i = 0; i < n; i++) /* reassociated sum of d terms of |x| <= 1 */
                assert_true(fabsf(s1[i] - s2[i]) <= 1e-5f * (float)d);
            wh_attn_accum_ref(o1, p, K, n, stride, d);
            wh_attn_accum_avx2(o2, p, K, n, stride, d);
            for (int i = 0; i < d; i++)
                assert_true(fabsf(o1[i] - o2[i]) <= 1e-5f * (float)n);
            free(K);
            free(q);
            free(p);
            free(s1);
            free(s2);
            free(o1);
            free(o2);
        }
#else
    skip();
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_simd_equals_scalar)};
    return cmocka_run_group_tests_name("attn", tests, NULL, NULL);
}
