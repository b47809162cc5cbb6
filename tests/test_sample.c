/*
 * test_sample.c — the sampler: greedy cases, determinism by seed, each filter,
 * penalties and logit bias, and draws that follow the softmax distribution.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "whale.h"

#define V 8

static const float BASE[V] = {1.0f, 3.0f, 2.5f, 0.5f, -1.0f, 2.9f, 0.0f, -2.0f};

static wh_sampler *make(wh_sampler_params p)
{
    wh_sampler *s = NULL;
    wh_error err = {0};
    assert_int_equal(wh_sampler_new(&p, V, &s, &err), WH_OK);
    return s;
}

static int32_t draw(wh_sampler *s, const int32_t *hist, int n)
{
    float l[V];
    memcpy(l, BASE, sizeof l);
    return wh_sampler_sample(s, l, hist, n);
}

static void test_greedy(void **st)
{
    (void)st;
    wh_sampler_params p = wh_sampler_defaults();
    wh_sampler *s = make(p);
    assert_int_equal(draw(s, NULL, 0), 1);
    wh_sampler_free(s);
    p.temperature = 1.0f;
    p.top_k = 1;
    s = make(p);
    for (int i = 0; i < 50; i++)
        assert_int_equal(draw(s, NULL, 0), 1);
    wh_sampler_free(s);
    p.top_k = 0;
    p.top_p = 0.01f; /* nucleus of one token */
    s = make(p);
    for (int i = 0; i < 50; i++)
        assert_int_equal(draw(s, NULL, 0), 1);
    wh_sampler_free(s);
}

static void test_same_seed_same_tokens(void **st)
{
    (void)st;
    wh_sampler_params p = wh_sampler_defaults();
    p.temperature = 1.0f;
    p.seed = 42;
    wh_sampler *a = make(p), *b = make(p);
    p.seed = 43;
    wh_sampler *c = make(p);
    int differ = 0;
    for (int i = 0; i < 200; i++) {
        int32_t x = draw(a, NULL, 0), y = draw(b, NULL, 0), z = draw(c, NULL, 0);
        assert_int_equal(x, y);
        differ += x != z;
    }
    assert_true(differ > 20); /* another seed gives another stream */
    wh_sampler_free(a);
    wh_sampler_free(b);
    wh_sampler_free(c);
}

static void test_follows_softmax(void **st)
{
    (void)st;
    wh_sampler_params p = wh_sampler_defaults();
    p.temperature = 0.7f;
    p.seed = 7;
    wh_sampler *s = make(p);
    enum { N = 40000 };
    int hits[V] = {0};
    for (int i = 0; i < N; i++)
        hits[draw(s, NULL, 0)]++;
    double z = 0, mx = BASE[1] / 0.7;
    for (int i = 0; i < V; i++)
        z += exp(BASE[i] / 0.7 - mx);
    for (int i = 0; i < V; i++) {
        double want = exp(BASE[i] / 0.7 - mx) / z;
        double got = (double)hits[i] / N;
        /* 5 standard deviations of a binomial proportion */
        double tol = 5 * sqrt(want * (1 - want) / N) + 1e-4;
        if (fabs(got - want) > tol)
            fail_msg("token %d: %.4f drawn vs %.4f expected", i, got, want);
    }
    wh_sampler_free(s);
}

static void test_filters(void **st)
{
    (void)st;
    wh_sampler_params p = wh_sampler_defaults();
    p.temperature = 1.0f;
    p.top_k = 3; /* ids 1, 5, 2 */
    p.seed = 1;
    wh_sampler *s = make(p);
    for (int i = 0; i < 500; i++) {
        int32_t t = draw(s, NULL, 0);
        assert_true(t == 1 || t == 5 || t == 2);
    }
    wh_sampler_free(s);
    p.top_k = 0;
    p.min_p = 0.5f; /* keeps p >= 0.5 p(best): ids 1 (3.0), 5 (2.9), 2 (2.5) */
    s = make(p);
    for (int i = 0; i < 500; i++) {
        int32_t t = draw(s, NULL, 0);
        assert_true(t == 1 || t == 5 || t == 2);
    }
    wh_sampler_free(s);
}

static void test_penalties_and_bias(void **st)
{
    (void)st;
    wh_sampler_params p = wh_sampler_defaults();
    int32_t hist[] = {1, 1, 1};
    p.frequency_penalty = 0.5f; /* 3.0 - 1.5 = 1.5: token 5 (2.9) wins */
    wh_sampler *s = make(p);
    assert_int_equal(draw(s, hist, 3), 5);
    assert_int_equal(draw(s, NULL, 0), 1); /* no history, no penalty */
    wh_sampler_free(s);
    p = wh_sampler_defaults();
    p.repetition_penalty = 2.0f; /* 3.0 / 2 = 1.5 */
    s = make(p);
    assert_int_equal(draw(s, hist, 3), 5);
    wh_sampler_free(s);
    wh_logit_bias b[] = {{7, 10.0f}, {1, -INFINITY}};
    p = wh_sampler_defaults();
    p.logit_bias = b;
    p.n_logit_bias = 2;
    s = make(p);
    assert_int_equal(draw(s, NULL, 0), 7);
    wh_sampler_free(s);
}

static void test_bad_params(void **st)
{
    (void)st;
    wh_sampler_params p = wh_sampler_defaults();
    wh_sampler *s = NULL;
    wh_error err = {0};
    p.top_p = 0.0f;
    assert_int_equal(wh_sampler_new(&p, V, &s, &err), WH_E_INVALID);
    p = wh_sampler_defaults();
    p.temperature = -1.0f;
    assert_int_equal(wh_sampler_new(&p, V, &s, &err), WH_E_INVALID);
    wh_logit_bias b = {V, 1.0f};
    p = wh_sampler_defaults();
    p.logit_bias = &b;
    p.n_logit_bias = 1;
    assert_int_equal(wh_sampler_new(&p, V, &s, &err), WH_E_INVALID);
    assert_non_null(strstr(err.msg, "logit_bias"));
    assert_null(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy),
        cmocka_unit_test(test_same_seed_same_tokens),
        cmocka_unit_test(test_follows_softmax),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_penalties_and_bias),
        cmocka_unit_test(test_bad_params),
    };
    return cmocka_run_group_tests_name("sample", tests, NULL, NULL);
}
