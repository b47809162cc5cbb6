/*
 * test_r1_tasks.c — the R1 task layer (src/r1): generators deterministic and split by
 * problem hash, the pinned held-out items, teacher traces that score full marks at every
 * level, verifiers against adversarial responses (format tricks, several answers, answer
 * in the thought, spaces and leading zeros, unicode minus, huge numbers, numbers reused,
 * division by zero, deep nesting, empty answers), the pass@k and cons@k estimators on
 * hand-made outcomes, and `whale eval`'s machinery end to end on the tiny fixture model.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "r1/eval.h"
#include "r1/reward.h"
#include "r1/solver.h"
#include "r1/tasks.h"
#include "whale.h"

/* ---- generators ---- */

static void test_deterministic(void **st)
{
    (void)st;
    for (int f = 0; f < WH_TASK_N_FAMILIES; f++)
        for (int lv = 1; lv <= WH_TASK_LEVEL_MAX; lv++)
            for (int sp = 0; sp < 2; sp++)
                for (uint64_t i = 0; i < 5; i++) {
                    wh_task a, b;
                    assert_int_equal(wh_task_make((wh_task_family)f, lv, (wh_task_split)sp, i, &a),
                                     0);
                    assert_int_equal(wh_task_make((wh_task_family)f, lv, (wh_task_split)sp, i, &b),
                                     0);
                    assert_memory_equal(&a, &b, sizeof a);
                    assert_int_equal(wh_task_split_of(&a), sp);
                    assert_int_equal(a.level, lv);
                    assert_non_null(strstr(a.prompt, "\\boxed{}"));
                    assert_true(strlen(a.answer) > 0);
                }
    wh_task t;
    assert_int_equal(wh_task_make(WH_TASK_ARITH, 0, WH_SPLIT_TRAIN, 0, &t), -1);
    assert_int_equal(wh_task_make(WH_TASK_ARITH, WH_TASK_LEVEL_MAX + 1, WH_SPLIT_TRAIN, 0, &t), -1);
    assert_int_equal(wh_task_make(WH_TASK_N_FAMILIES, 1, WH_SPLIT_TRAIN, 0, &t), -1);
    assert_int_equal(wh_task_family_parse("countdown"), WH_TASK_COUNTDOWN);
    assert_int_equal(wh_task_family_parse("nope"), -1);
}

/* The held-out sets must never change: the first test item of each family is pinned. */
static void test_pinned_test_items(void **st)
{
    (void)st;
    static const char *const want[WH_TASK_N_FAMILIES][2] = {
        {"Compute 23 - 62. Put the final answer in \\boxed{}.", "-39"},
        {"Make 27 from 15, 12, 5 with + - * / (each number at most once). Put the final "
         "answer in \\boxed{}.",
         "15+12"},
        {"Sort 67, 38, 5, 66 in ascending order. Put the final answer in \\boxed{}.",
         "5, 38, 66, 67"},
    };
    for (int f = 0; f < WH_TASK_N_FAMILIES; f++) {
        wh_task t;
        assert_int_equal(wh_task_make((wh_task_family)f, 1, WH_SPLIT_TEST, 0, &t), 0);
        assert_string_equal(t.prompt, want[f][0]);
        assert_string_equal(t.answer, want[f][1]);
    }
}

/* Train and test are disjoint by construction (split = hash of the canonical form); check
 * that the split is not degenerate and that a problem's order variants share its split. */
static void test_split(void **st)
{
    (void)st;
    int n_test = 0, n = 0;
    for (uint64_t i = 0; i < 400; i++) {
        wh_task t;
        wh_task_rng r = {i * 7919 + 1};
        memset(&t, 0, sizeof t);
        t.family = WH_TASK_ARITH;
        if (wh_task_gen_arith(&r, 2, &t) != 0)
            continue;
        n++;
        n_test += wh_task_split_of(&t) == WH_SPLIT_TEST;
        if (t.op != '-') { /* a op b and b op a are one problem */
            wh_task u = t;
            u.a = t.b;
            u.b = t.a;
            assert_int_equal(wh_task_split_of(&u), wh_task_split_of(&t));
        }
    }
    assert_true(n_test > n / 20 && n_test < n / 4); /* about one in eight */
    wh_task c;
    assert_int_equal(wh_task_make(WH_TASK_COUNTDOWN, 3, WH_SPLIT_TRAIN, 9, &c), 0);
    wh_task d = c; /* the numbers in another order: the same problem */
    d.nums[0] = c.nums[c.n_nums - 1];
    d.nums[c.n_nums - 1] = c.nums[0];
    assert_int_equal(wh_task_split_of(&d), WH_SPLIT_TRAIN);
}

static void test_generated_properties(void **st)
{
    (void)st;
    for (int lv = 1; lv <= WH_TASK_LEVEL_MAX; lv++)
        for (uint64_t i = 0; i < 20; i++) {
            wh_task t;
            assert_int_equal(wh_task_make(WH_TASK_COUNTDOWN, lv, WH_SPLIT_TRAIN, i, &t), 0);
            assert_int_equal(t.n_nums, lv + 2);
            int64_t v = 0;
            const char *why = NULL;
            /* the reference expression is a valid solution */
            assert_int_equal(
                wh_countdown_eval(t.answer, strlen(t.answer), t.nums, t.n_nums, &v, &why), 0);
            assert_int_equal(v, t.target);
            assert_int_equal(wh_task_make(WH_TASK_ARITH, lv, WH_SPLIT_TRAIN, i, &t), 0);
            int64_t want = t.op == '+' ? t.a + t.b : t.op == '-' ? t.a - t.b : t.a * t.b;
            char buf[32];
            snprintf(buf, sizeof buf, "%lld", (long long)want);
            assert_string_equal(t.answer, buf);
            assert_int_equal(wh_task_make(WH_TASK_SORT, lv, WH_SPLIT_TRAIN, i, &t), 0);
            assert_int_equal(t.n_nums, lv + 3);
        }
}

/* ---- teacher traces score full marks ---- */

static void test_solver_traces(void **st)
{
    (void)st;
    for (int f = 0; f < WH_TASK_N_FAMILIES; f++)
        for (int lv = 1; lv <= WH_TASK_LEVEL_MAX; lv++)
            for (uint64_t i = 0; i < 12; i++) {
                wh_task t;
                assert_int_equal(wh_task_make((wh_task_family)f, lv, WH_SPLIT_TRAIN, i, &t), 0);
                wh_r1_trace tr;
                assert_int_equal(wh_r1_solve(&t, &tr), 0);
                size_t len = 0;
                char *text = wh_r1_trace_text(&tr, &len);
                assert_non_null(text);
                wh_r1_score s;
                wh_r1_score_response(&t, text, len, WH_R1_THINK, &s);
                if (!s.correct)
                    fail_msg("%s: %s\n%s", t.prompt, s.why, text);
                assert_true(wh_r1_reward(&s) == 2.0f);
                wh_free(text);
                wh_r1_trace_free(&tr);
            }
}

static void test_sft_jsonl(void **st)
{
    (void)st;
    wh_task t;
    assert_int_equal(wh_task_make(WH_TASK_ARITH, 2, WH_SPLIT_TRAIN, 3, &t), 0);
    wh_r1_trace tr;
    assert_int_equal(wh_r1_solve(&t, &tr), 0);
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    assert_non_null(f);
    assert_int_equal(wh_r1_write_sft(f, &t, &tr), 0);
    fclose(f);
    assert_true(n > 0 && buf[n - 1] == '\n');
    assert_null(memchr(buf, '\n', n - 1)); /* one line */
    json_object *o = json_tokener_parse(buf);
    assert_non_null(o);
    json_object *msgs, *m1, *v;
    assert_true(json_object_object_get_ex(o, "messages", &msgs));
    assert_int_equal(json_object_array_length(msgs), 2);
    m1 = json_object_array_get_idx(msgs, 1);
    assert_true(json_object_object_get_ex(m1, "role", &v));
    assert_string_equal(json_object_get_string(v), "assistant");
    assert_true(json_object_object_get_ex(m1, "reasoning_content", &v));
    assert_memory_equal(json_object_get_string(v), tr.think, tr.think_len);
    assert_true(json_object_object_get_ex(m1, "content", &v));
    char want[200];
    snprintf(want, sizeof want, "\\boxed{%s}", t.answer);
    assert_string_equal(json_object_get_string(v), want);
    assert_true(json_object_object_get_ex(o, "task", &v));
    assert_string_equal(json_object_get_string(v), "arith");
    assert_true(json_object_object_get_ex(o, "level", &v));
    assert_int_equal(json_object_get_int(v), 2);
    assert_true(json_object_object_get_ex(o, "answer", &v));
    assert_string_equal(json_object_get_string(v), t.answer);
    json_object_put(o);
    free(buf);
    wh_r1_trace_free(&tr);
}

/* ---- adversarial responses ---- */

static wh_task arith_task(int64_t a, char op, int64_t b)
{
    wh_task t;
    memset(&t, 0, sizeof t);
    t.family = WH_TASK_ARITH;
    t.level = 1;
    t.op = op;
    t.a = a;
    t.b = b;
    t.target = op == '+' ? a + b : op == '-' ? a - b : a * b;
    snprintf(t.answer, sizeof t.answer, "%lld", (long long)t.target);
    return t;
}

static wh_task countdown_task(int64_t target, int n, const int64_t *nums)
{
    wh_task t;
    memset(&t, 0, sizeof t);
    t.family = WH_TASK_COUNTDOWN;
    t.level = 1;
    t.target = target;
    t.n_nums = n;
    memcpy(t.nums, nums, (size_t)n * sizeof nums[0]);
    return t;
}

/* reward (0, 1 or 2) of a NUL-terminated response */
static float reward_of(const wh_task *t, const char *resp)
{
    wh_r1_score s;
    wh_r1_score_response(t, resp, strlen(resp), WH_R1_THINK, &s);
    return wh_r1_reward(&s);
}

static void test_format_tricks(void **st)
{
    (void)st;
    wh_task t = arith_task(23, '-', 62); /* -39 */
    assert_true(reward_of(&t, "<think>\n23 - 62 = -39\n</think>\n\n\\boxed{-39}") == 2.0f);
    assert_true(reward_of(&t, "  \n<think>x</think>The answer is \\boxed{ -39 }.") == 2.0f);
    assert_true(reward_of(&t, "<think></think>\\boxed{-39}") ==
                2.0f); /* empty thought is allowed */
    assert_true(reward_of(&t, "<think>x</think>\\boxed{-38}") == 1.0f); /* format only */
    /* several answers: no hedging */
    assert_true(reward_of(&t, "<think>x</think>\\boxed{-39} or \\boxed{-38}") == 0.0f);
    assert_true(reward_of(&t, "<think>x</think>\\boxed{-39} \\boxed{-39}") == 0.0f);
    assert_true(reward_of(&t, "<think>x</think>\\boxed{-39}\\boxed") == 0.0f);
    /* the answer only inside the thought */
    assert_true(reward_of(&t, "<think>\\boxed{-39}</think>") == 0.0f);
    assert_true(reward_of(&t, "<think>\\boxed{-39}</think>\n\nI am not sure.") == 0.0f);
    /* a box in the thought does not count, only the answer part's */
    assert_true(reward_of(&t, "<think>\\boxed{-39}</think>\\boxed{7}") == 1.0f);
    /* missing or broken tags */
    assert_true(reward_of(&t, "<think>23 - 62 = -39 \\boxed{-39}") == 0.0f);
    assert_true(reward_of(&t, "\\boxed{-39}") == 0.0f);
    assert_true(reward_of(&t, "\\boxed{-39}<think>x</think>") == 0.0f);
    assert_true(reward_of(&t, "answer first <think>x</think>\\boxed{-39}") == 0.0f);
    assert_true(reward_of(&t, "<think>x</think></think>\\boxed{-39}") == 0.0f);
    assert_true(reward_of(&t, "<think>x</think><think>y</think>\\boxed{-39}") == 0.0f);
    assert_true(reward_of(&t, "<think><think>x</think>\\boxed{-39}") == 0.0f);
    assert_true(reward_of(&t, "<think>x</think>\\boxed{-39}</think>") == 0.0f);
    assert_true(reward_of(&t, "<THINK>x</THINK>\\boxed{-39}") == 0.0f);
    /* empty and broken boxes */
    assert_true(reward_of(&t, "<think>x</think>\\boxed{}") == 0.0f);
    assert_true(reward_of(&t, "<think>x</think>\\boxed{ \n }") == 0.0f);
    assert_true(reward_of(&t, "<think>x</think>") == 0.0f);
    assert_true(reward_of(&t, "<think>x</think>-39") == 0.0f);
    assert_true(reward_of(&t, "<think>x</think>\\boxed{-39") == 0.0f);
    assert_true(reward_of(&t, "<think>x</think>\\boxed -39") == 0.0f);
    assert_true(reward_of(&t, "") == 0.0f);
    /* a NUL byte inside the answer is not skipped over */
    const char nul[] = "<think>x</think>\\boxed{-3\0009}";
    wh_r1_score s;
    wh_r1_score_response(&t, nul, sizeof nul - 1, WH_R1_THINK, &s);
    assert_int_equal(s.correct, 0);
    /* answer-only mode (non-reasoning models): no tags at all */
    wh_r1_score_response(&t, "\\boxed{-39}", 11, WH_R1_ANSWER_ONLY, &s);
    assert_int_equal(s.correct, 1);
    const char *tagged = "<think>x</think>\\boxed{-39}";
    wh_r1_score_response(&t, tagged, strlen(tagged), WH_R1_ANSWER_ONLY, &s);
    assert_int_equal(s.format, 0);
    assert_int_equal(s.correct, 0);
    /* the parts are reported */
    wh_r1_parsed p;
    const char *r = "<think>abc</think> so \\boxed{ 42 }";
    assert_int_equal(wh_r1_parse(r, strlen(r), WH_R1_THINK, &p), 1);
    assert_int_equal(p.think_len, 3);
    assert_memory_equal(p.think, "abc", 3);
    assert_int_equal(p.boxed_len, 2);
    assert_memory_equal(p.boxed, "42", 2);
    /* an unclosed thought still reports its length */
    r = "<think>abcdef";
    assert_int_equal(wh_r1_parse(r, strlen(r), WH_R1_THINK, &p), 0);
    assert_int_equal(p.think_len, 6);
    /* balanced braces inside the box are fine */
    assert_int_equal(wh_r1_parse("<think></think>\\boxed{{1}}", 26, WH_R1_THINK, &p), 1);
    assert_int_equal(p.boxed_len, 3);
}

/* check(t, answer) through wh_task_check */
static int chk(const wh_task *t, const char *ans)
{
    return wh_task_check(t, ans, strlen(ans), NULL, 0, NULL);
}

static void test_integers(void **st)
{
    (void)st;
    wh_task t = arith_task(23, '-', 62); /* -39 */
    assert_int_equal(chk(&t, "-39"), 1);
    assert_int_equal(chk(&t, "\xe2\x88\x92"
                             "39"),
                     1); /* U+2212 MINUS SIGN is a minus */
    assert_int_equal(chk(&t, "39"), 0);
    assert_int_equal(chk(&t, "- 39"), -1);
    assert_int_equal(chk(&t, "-3 9"), -1);
    assert_int_equal(chk(&t, "-039"), -1);
    assert_int_equal(chk(&t, "--39"), -1);
    assert_int_equal(chk(&t, "-39.0"), -1);
    assert_int_equal(chk(&t, "-39."), -1);
    assert_int_equal(chk(&t, "-3,9"), -1);
    assert_int_equal(chk(&t, "x = -39"), -1);
    assert_int_equal(chk(&t, "\xe2\x80\x93"
                             "39"),
                     -1);                /* EN DASH is not a minus */
    wh_task u = arith_task(60, '+', 42); /* 102 */
    assert_int_equal(chk(&u, "102"), 1);
    assert_int_equal(chk(&u, "1 02"), -1);
    assert_int_equal(chk(&u, "10 2"), -1);
    assert_int_equal(chk(&u, "0102"), -1);
    assert_int_equal(chk(&u, "+102"), -1);
    assert_int_equal(chk(&u, "\xe2\x88\x92"
                             "102"),
                     0);                     /* -102, not 102 */
    assert_int_equal(chk(&u, "１０２"), -1); /* fullwidth digits */
    /* huge numbers: compared as text, never converted, no overflow */
    assert_int_equal(chk(&u, "102000000000000000000000000000000000000000"), 0);
    assert_int_equal(chk(&u, "18446744073709551718"), 0); /* 2^64 + 102 */
    char big[200];
    memset(big, '9', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(chk(&u, big), -1);
    wh_task z = arith_task(50, '-', 50);
    snprintf(z.answer, sizeof z.answer, "0");
    assert_int_equal(chk(&z, "0"), 1);
    assert_int_equal(chk(&z, "-0"), -1);
    assert_int_equal(chk(&z, "00"), -1);
    char key[WH_R1_KEY_MAX];
    assert_int_equal(wh_task_check(&t,
                                   "\xe2\x88\x92"
                                   "39",
                                   5, key, sizeof key, NULL),
                     1);
    assert_string_equal(key, "-39"); /* votes count in canonical form */
}

static void test_countdown_verifier(void **st)
{
    (void)st;
    const int64_t nums[4] = {3, 7, 25, 50};
    wh_task t = countdown_task(181, 4, nums);
    assert_int_equal(chk(&t, "50*3+25+7-1"), 0); /* 1 was not given */
    assert_int_equal(chk(&t, "(50+7)*3+25-15"), 0);
    const int64_t n2[4] = {3, 7, 25, 50};
    wh_task u = countdown_task(182, 4, n2);
    assert_int_equal(chk(&u, "50*3+25+7"), 1);
    assert_int_equal(chk(&u, " 50 * 3 + 25 + 7 "), 1);
    assert_int_equal(chk(&u, "(50*3)+(25+7)"), 1);
    assert_int_equal(chk(&u, "50\xc3\x97"
                             "3+25+7"),
                     1); /* U+00D7 */
    assert_int_equal(chk(&u, "50 \\times 3 + 25 + 7"), 1);
    assert_int_equal(chk(&u, "50*3+25+7 = 182"), 1);
    assert_int_equal(chk(&u, "50*3+25+7 = 181"), -1); /* a false claim */
    assert_int_equal(chk(&u, "50*3+25+7 = 0182"), -1);
    assert_int_equal(chk(&u, "50*3+25+7+0"), 0); /* 0 not given */
    assert_int_equal(chk(&u, "50*3+25+7*1"), 0); /* 1 not given */
    /* a number used twice */
    assert_int_equal(chk(&u, "50*3+25+3+3+1"), 0);
    const char *why = NULL;
    int64_t v = 0;
    const int64_t n3[3] = {5, 5, 2};
    assert_int_equal(wh_countdown_eval("5*5*2", 5, n3, 3, &v, &why), 0); /* two 5s given */
    assert_int_equal(v, 50);
    assert_int_equal(wh_countdown_eval("5*5*5", 5, n3, 3, &v, &why), -1);
    assert_string_equal(why, "a number used more often than given");
    assert_int_equal(wh_countdown_eval("2*2", 3, n3, 3, &v, &why), -1);
    /* division: by zero, with a remainder */
    const int64_t n4[3] = {5, 3, 3};
    assert_int_equal(wh_countdown_eval("5/(3-3)", 7, n4, 3, &v, &why), -1);
    assert_string_equal(why, "division by zero");
    assert_int_equal(wh_countdown_eval("5/3", 3, n4, 3, &v, &why), -1);
    assert_string_equal(why, "division with a remainder");
    assert_int_equal(wh_countdown_eval("(5+3)/3", 7, n4, 3, &v, &why), -1);
    assert_int_equal(wh_countdown_eval("(3+3)/3*5", 9, n4, 3, &v, &why), -1); /* 3 thrice */
    const int64_t n5[3] = {6, 3, 5};
    assert_int_equal(wh_countdown_eval("6/3*5", 5, n5, 3, &v, &why), 0); /* left to right */
    assert_int_equal(v, 10);
    assert_int_equal(wh_countdown_eval("6\xc3\xb7"
                                       "3-5",
                                       6, n5, 3, &v, &why),
                     0); /* U+00F7 */
    assert_int_equal(v, -3);
    assert_int_equal(wh_countdown_eval("6\xe2\x88\x92"
                                       "5",
                                       5, n5, 3, &v, &why),
                     0); /* U+2212 */
    assert_int_equal(v, 1);
    assert_int_equal(wh_countdown_eval("6-3-5", 5, n5, 3, &v, &why), 0);
    assert_int_equal(v, -2);
    /* syntax: unary minus, leading zeros, juxtaposition, junk, empty */
    assert_int_equal(wh_countdown_eval("-6+5", 4, n5, 3, &v, &why), -1);
    assert_int_equal(wh_countdown_eval("06+5", 4, n5, 3, &v, &why), -1);
    assert_int_equal(wh_countdown_eval("6 5", 3, n5, 3, &v, &why), -1);
    assert_int_equal(wh_countdown_eval("6(5)", 4, n5, 3, &v, &why), -1);
    assert_int_equal(wh_countdown_eval("6+", 2, n5, 3, &v, &why), -1);
    assert_int_equal(wh_countdown_eval("(6+5", 4, n5, 3, &v, &why), -1);
    assert_int_equal(wh_countdown_eval("6+5)", 4, n5, 3, &v, &why), -1);
    assert_int_equal(wh_countdown_eval("", 0, n5, 3, &v, &why), -1);
    assert_int_equal(wh_countdown_eval("6**5", 4, n5, 3, &v, &why), -1);
    assert_int_equal(wh_countdown_eval("6^5", 3, n5, 3, &v, &why), -1);
    assert_int_equal(wh_countdown_eval("6.0+5", 5, n5, 3, &v, &why), -1);
    /* overflow of int64 is an error, not a wrapped value */
    const int64_t nb[4] = {999999999, 999999999, 999999999, 2};
    assert_int_equal(wh_countdown_eval("999999999*999999999*999999999", 29, nb, 4, &v, &why), -1);
    assert_string_equal(why, "overflow");
    assert_int_equal(wh_countdown_eval("99999999999999999999", 20, nb, 4, &v, &why), -1);
    /* nesting: bounded depth, and a long text is refused before parsing */
    char deep[WH_R1_EXPR_MAX + 64];
    for (int d = 1; d <= WH_R1_EXPR_DEPTH + 8; d++) {
        int k = 0;
        for (int i = 0; i < d; i++)
            deep[k++] = '(';
        deep[k++] = '6';
        for (int i = 0; i < d; i++)
            deep[k++] = ')';
        deep[k] = '\0';
        int rc = wh_countdown_eval(deep, (size_t)k, n5, 3, &v, &why);
        assert_int_equal(rc, d <= WH_R1_EXPR_DEPTH ? 0 : -1);
    }
    size_t huge = 1u << 20;
    char *hp = malloc(huge);
    assert_non_null(hp);
    memset(hp, '(', huge);
    assert_int_equal(wh_countdown_eval(hp, huge, n5, 3, &v, &why), -1);
    /* the same through a whole response: no crash, no reward */
    char *resp = malloc(huge + 64);
    assert_non_null(resp);
    int k = snprintf(resp, 64, "<think>x</think>\\boxed{");
    memset(resp + k, '(', huge);
    memcpy(resp + k + huge, "6}", 3);
    wh_task w = countdown_task(6, 3, n5);
    wh_r1_score s;
    wh_r1_score_response(&w, resp, strlen(resp), WH_R1_THINK, &s);
    assert_int_equal(s.correct, 0);
    free(resp);
    free(hp);
    /* vote keys: every correct expression is one answer */
    char k1[WH_R1_KEY_MAX], k2[WH_R1_KEY_MAX];
    assert_int_equal(wh_task_check(&u, "50*3+25+7", 9, k1, sizeof k1, NULL), 1);
    assert_int_equal(wh_task_check(&u, "7+25+3*50", 9, k2, sizeof k2, NULL), 1);
    assert_string_equal(k1, k2);
}

static void test_sort_verifier(void **st)
{
    (void)st;
    wh_task t;
    assert_int_equal(wh_task_make(WH_TASK_SORT, 1, WH_SPLIT_TEST, 0, &t), 0);
    assert_string_equal(t.answer, "5, 38, 66, 67");
    assert_int_equal(chk(&t, "5, 38, 66, 67"), 1);
    assert_int_equal(chk(&t, "5,38,66,67"), 1);
    assert_int_equal(chk(&t, "[5, 38, 66, 67]"), 1);
    assert_int_equal(chk(&t, " [ 5 ,38 , 66, 67 ] "), 1);
    assert_int_equal(chk(&t, "67, 66, 38, 5"), 0); /* wrong order */
    assert_int_equal(chk(&t, "5, 38, 66"), 0);     /* missing */
    assert_int_equal(chk(&t, "5, 38, 66, 67, 67"), 0);
    assert_int_equal(chk(&t, "5 38 66 67"), -1); /* separators are commas */
    assert_int_equal(chk(&t, "5, 38, 6 6, 67"), -1);
    assert_int_equal(chk(&t, "05, 38, 66, 67"), -1);
    assert_int_equal(chk(&t, "[5, 38, 66, 67"), -1);
    assert_int_equal(chk(&t, "5, 38, 66, 67,"), -1);
    assert_int_equal(chk(&t, "5, , 38, 66, 67"), -1);
    assert_int_equal(chk(&t, "[]"), -1);
}

/* ---- estimators ---- */

static void test_pass_at_k(void **st)
{
    (void)st;
    assert_float_equal(wh_eval_pass_at_k(4, 0, 1), 0.0, 1e-12);
    assert_float_equal(wh_eval_pass_at_k(4, 4, 1), 1.0, 1e-12);
    assert_float_equal(wh_eval_pass_at_k(4, 1, 1), 0.25, 1e-12);
    assert_float_equal(wh_eval_pass_at_k(4, 3, 1), 0.75, 1e-12);
    assert_float_equal(wh_eval_pass_at_k(4, 1, 4), 1.0, 1e-12);              /* any correct */
    assert_float_equal(wh_eval_pass_at_k(5, 2, 2), 1.0 - 3.0 / 10.0, 1e-12); /* C(3,2)/C(5,2) */
    assert_float_equal(wh_eval_pass_at_k(10, 3, 5), 1.0 - 21.0 / 252.0, 1e-12);
    assert_float_equal(wh_eval_pass_at_k(10, 6, 5), 1.0, 1e-12); /* n - c < k */
    assert_float_equal(wh_eval_pass_at_k(64, 1, 8), 8.0 / 64.0, 1e-12);
    /* pass@1 is c/n for any n and c */
    for (int n = 1; n <= 20; n++)
        for (int c = 0; c <= n; c++)
            assert_float_equal(wh_eval_pass_at_k(n, c, 1), (double)c / n, 1e-12);
}

static void test_cons_at_k(void **st)
{
    (void)st;
    const char *k1[3] = {"5", "6", "5"};
    int p1[3] = {1, 1, 1}, c1[3] = {1, 0, 1};
    assert_int_equal(wh_eval_cons(k1, p1, c1, 3), 1);
    const char *k2[3] = {"6", "5", "6"};
    int c2[3] = {0, 1, 0};
    assert_int_equal(wh_eval_cons(k2, p1, c2, 3), 0); /* right once, outvoted */
    const char *k3[4] = {"6", "5", "5", "6"};
    int p3[4] = {1, 1, 1, 1}, c3[4] = {0, 1, 1, 0};
    assert_int_equal(wh_eval_cons(k3, p3, c3, 4), 0); /* tie: the key seen first wins */
    int c3b[4] = {1, 0, 0, 1};
    const char *k3b[4] = {"5", "6", "6", "5"};
    assert_int_equal(wh_eval_cons(k3b, p3, c3b, 4), 1);
    /* unparsed samples do not vote, even if their (empty) keys agree */
    const char *k4[4] = {"", "", "", "7"};
    int p4[4] = {0, 0, 0, 1}, c4[4] = {0, 0, 0, 1};
    assert_int_equal(wh_eval_cons(k4, p4, c4, 4), 1);
    int p5[4] = {0, 0, 0, 0};
    assert_int_equal(wh_eval_cons(k4, p5, c4, 4), 0);
    assert_int_equal(wh_eval_cons(NULL, NULL, NULL, 0), 0);
}

/* eval decodes the generated ids with WH_TOK_SKIP_SPECIAL and scores the text: the
 * thinking tags of the R1 vocabularies must survive that decode (they are non-special
 * added tokens). Skipped without the shared tokenizer test data. */
static void test_tags_survive_decode(void **st)
{
    (void)st;
    static const char *const dirs[] = {"../shared/testdata/tokenizer/deepseek-r1",
                                       "../shared/testdata/tokenizer/deepseek-r1-distill-qwen"};
    int tested = 0;
    for (size_t d = 0; d < sizeof dirs / sizeof dirs[0]; d++) {
        FILE *probe = fopen(dirs[d], "r");
        if (probe == NULL)
            continue;
        fclose(probe);
        wh_tokenizer *tok = NULL;
        wh_error err = {0};
        if (wh_tokenizer_load(dirs[d], &tok, &err) != WH_OK)
            fail_msg("%s", err.msg);
        const char *s = "<think>\nx\n</think>\n\n\\boxed{5}";
        int32_t *ids = NULL;
        size_t n = 0;
        assert_int_equal(wh_tokenizer_encode(tok, s, strlen(s), 0, &ids, &n, &err), WH_OK);
        int has_close = 0;
        for (size_t i = 0; i < n; i++)
            has_close |= ids[i] == wh_tokenizer_think_close(tok);
        assert_true(has_close);
        char *text = NULL;
        size_t len = 0;
        assert_int_equal(wh_tokenizer_decode(tok, ids, n, WH_TOK_SKIP_SPECIAL, &text, &len, &err),
                         WH_OK);
        assert_string_equal(text, s);
        wh_free(ids);
        wh_free(text);
        wh_tokenizer_free(tok);
        tested++;
    }
    if (tested == 0)
        skip();
}

/* ---- whale eval end to end on the tiny fixture (random weights: scores ~0) ---- */

static void run_eval(const wh_model *m, wh_session *s, uint64_t seed, wh_eval_report *rep)
{
    wh_eval_opts o = wh_eval_defaults();
    o.level_lo = 2;
    o.level_hi = 2;
    o.n = 2;
    o.k = 3;
    o.temperature = 0.9f;
    o.seed = seed;
    o.max_tokens = 16;
    wh_error err = {0};
    int rc = wh_eval_run(m, s, &o, rep, &err);
    if (rc != WH_OK)
        fail_msg("%s", err.msg);
}

static void test_eval_fixture(void **st)
{
    (void)st;
    wh_error err = {0};
    wh_model *m = NULL;
    if (wh_model_load("tests/fixtures/dsv3.gguf", &m, &err) != WH_OK)
        fail_msg("%s", err.msg);
    wh_session_opts so = {.n_ctx = 0, .n_threads = 1};
    wh_session *s = NULL;
    assert_int_equal(wh_session_new(m, &so, &s, &err), WH_OK);
    wh_eval_report a, b;
    run_eval(m, s, 7, &a);
    run_eval(m, s, 7, &b);
    assert_int_equal(a.n_cells, WH_TASK_N_FAMILIES);
    assert_string_equal(a.chat_family, "plain");
    assert_int_equal(a.mode, WH_R1_THINK);
    for (int i = 0; i < a.n_cells; i++) {
        const wh_eval_cell *c = &a.cells[i], *d = &b.cells[i];
        assert_int_equal(c->family, i);
        assert_int_equal(c->level, 2);
        assert_int_equal(c->n_items, 2);
        assert_int_equal(c->k, 3);
        assert_true(c->pass1 >= 0 && c->pass1 <= c->passk && c->passk <= 1);
        assert_true(c->consk >= 0 && c->consk <= 1);
        assert_true(c->format_rate >= 0 && c->format_rate <= 1);
        assert_true(c->gen_tokens > 0 && c->gen_tokens <= 16);
        assert_true(c->n_truncated >= 0 && c->n_truncated <= 6);
        /* same seed, same samples */
        assert_true(c->gen_tokens == d->gen_tokens);
        assert_true(c->pass1 == d->pass1 && c->format_rate == d->format_rate);
        for (int j = 0; j < c->n_items; j++)
            assert_memory_equal(&c->items[j], &d->items[j], sizeof c->items[j]);
    }
    /* the JSON has every field */
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    assert_non_null(f);
    assert_int_equal(wh_eval_write_json(&a, "dsv3.gguf", f), 0);
    fclose(f);
    json_object *o = json_tokener_parse(buf);
    assert_non_null(o);
    json_object *res, *v;
    static const char *const top[] = {"model", "chat_format", "mode",        "split",
                                      "n",     "k",           "temperature", "top_p",
                                      "seed",  "max_tokens",  "totals"};
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
        assert_true(json_object_object_get_ex(o, top[i], &v));
    assert_true(json_object_object_get_ex(o, "results", &res));
    assert_int_equal(json_object_array_length(res), (size_t)a.n_cells);
    static const char *const fields[] = {
        "task",      "level",   "n",       "k",      "pass@1",       "pass@k",
        "pass@3",    "cons@k",  "cons@3",  "format", "think_tokens", "gen_tokens",
        "truncated", "skipped", "pass_at", "items"};
    for (size_t r = 0; r < json_object_array_length(res); r++) {
        json_object *c = json_object_array_get_idx(res, r);
        for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
            if (!json_object_object_get_ex(c, fields[i], &v))
                fail_msg("results[%zu] lacks \"%s\"", r, fields[i]);
        json_object_object_get_ex(c, "items", &v);
        assert_int_equal(json_object_array_length(v), 2);
    }
    json_object_put(o);
    free(buf);
    wh_eval_report_free(&a);
    wh_eval_report_free(&b);
    /* bad options are refused */
    wh_eval_opts bad = wh_eval_defaults();
    bad.level_hi = WH_TASK_LEVEL_MAX + 1;
    wh_eval_report r;
    assert_int_equal(wh_eval_run(m, s, &bad, &r, &err), WH_E_INVALID);
    wh_eval_report_free(&r);
    wh_session_free(s);
    wh_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_pinned_test_items),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_generated_properties),
        cmocka_unit_test(test_solver_traces),
        cmocka_unit_test(test_sft_jsonl),
        cmocka_unit_test(test_format_tricks),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_countdown_verifier),
        cmocka_unit_test(test_sort_verifier),
        cmocka_unit_test(test_pass_at_k),
        cmocka_unit_test(test_cons_at_k),
        cmocka_unit_test(test_tags_survive_decode),
        cmocka_unit_test(test_eval_fixture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
