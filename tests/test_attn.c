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
    int dims[] = {1, 7, 8, 33, 64, 128, 200, 576, 1000};
    int ns[] = {1, 3, 17, 130};
    for (int nq = 1; nq <= WH_ATTN_HEADS; nq++)
        for (size_t a = 0; a < sizeof dims / sizeof dims[0]; a++)
            for (size_t b = 0; b < sizeof ns / sizeof ns[0]; b++) {
                int d = dims[a], n = ns[b];
                int64_t stride = d + 5, ldq = d + 3, lds = n + 2, ldo = d + 1;
                size_t nk = (size_t)(n * stride), nqv = (size_t)(nq * ldq);
                size_t ns_ = (size_t)(nq * lds), no = (size_t)(nq * ldo);
                float *K = malloc(sizeof(float) * nk), *q = malloc(sizeof(float) * nqv);
                float *p = malloc(sizeof(float) * ns_);
                float *s1 = calloc(ns_, sizeof(float)), *s2 = calloc(ns_, sizeof(float));
                float *o1 = calloc(no, sizeof(float)), *o2 = calloc(no, sizeof(float));
                for (size_t i = 0; i < nk; i++)
                    K[i] = frand(&seed);
                for (size_t i = 0; i < nqv; i++)
                    q[i] = frand(&seed);
                for (size_t i = 0; i < ns_; i++)
                    p[i] = fabsf(frand(&seed));
                wh_attn_scores_ref(s1, lds, q, ldq, nq, K, n, stride, d, 0.3f);
                wh_attn_scores_avx2(s2, lds, q, ldq, nq, K, n, stride, d, 0.3f);
                for (int h = 0; h < nq; h++)
                    for (int i = 0; i < n; i++) /* reassociated sum of d terms of |x| <= 1 */
                        assert_true(fabsf(s1[h * lds + i] - s2[h * lds + i]) <= 1e-5f * (float)d);
                wh_attn_accum_ref(o1, ldo, p, lds, nq, K, n, stride, d);
                wh_attn_accum_avx2(o2, ldo, p, lds, nq, K, n, stride, d);
                for (int h = 0; h < nq; h++)
                    for (int i = 0; i < d; i++) /* n terms of |x| <= 1, fused vs separate */
                        assert_true(fabsf(o1[h * ldo + i] - o2[h * ldo + i]) <= 1e-5f * (float)n);
                /* the padding between rows of the outputs is not written */
                for (int h = 0; h < nq; h++) {
                    for (int64_t i = n; i < lds; i++)
                        assert_true(s2[h * lds + i] == 0.0f);
                    for (int64_t i = d; i < ldo; i++)
                        assert_true(o2[h * ldo + i] == 0.0f);
                }
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
