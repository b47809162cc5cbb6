/*
 * test_engine.c — the continuous-batching engine behind `whale serve`: every request
 * gets exactly the text it would get alone (same seed), however many run at once;
 * cancellation frees the slot; a full queue refuses; an over-long prompt is refused;
 * a cached prompt prefix is reused.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "serve/engine.h"
#include "whale.h"

#define MODEL "tests/fixtures/dsv3.gguf"

typedef struct sink {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char text[8192];
    size_t n;
    int done, errors, n_text_events;
    wh_gen_result res;
    int block_first; /* test hook: the first text event waits until released */
    int released;
} sink;

static void sink_init(sink *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
}

static void on_event(void *user, const wh_event *ev)
{
    sink *s = user;
    pthread_mutex_lock(&s->mu);
    if (ev->kind == WH_EV_TEXT) {
        s->n_text_events++;
        pthread_cond_broadcast(&s->cv);
        while (s->block_first && !s->released)
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->n + ev->len < sizeof s->text) {
            memcpy(s->text + s->n, ev->text, ev->len);
            s->n += ev->len;
        }
    } else if (ev->kind == WH_EV_ERROR) {
        s->errors++;
    } else {
        s->res = *ev->result;
        s->done = 1;
    }
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void sink_wait(sink *s)
{
    pthread_mutex_lock(&s->mu);
    while (!s->done)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
}

static wh_model *g_model;

static int setup(void **state)
{
    (void)state;
    wh_error err = {0};
    return wh_model_load(MODEL, &g_model, &err) == WH_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    wh_model_free(g_model);
    return 0;
}

static wh_gen_params params(uint64_t seed, float temp, int max_tokens)
{
    wh_gen_params p;
    memset(&p, 0, sizeof p);
    p.sampler = wh_sampler_defaults();
    p.sampler.temperature = temp;
    p.sampler.seed = seed;
    p.max_tokens = max_tokens;
    p.think_budget = -1;
    return p;
}

typedef struct solo_buf {
    char text[8192];
    size_t n;
} solo_buf;

static int solo_cb(void *user, const char *t, size_t len, int is_reasoning)
{
    (void)is_reasoning;
    solo_buf *b = user;
    if (b->n + len < sizeof b->text) {
        memcpy(b->text + b->n, t, len);
        b->n += len;
    }
    return 0;
}

/* The text a request gets alone, through wh_generate. */
static void solo(const int32_t *prompt, int n, const wh_gen_params *p, solo_buf *out)
{
    wh_session_opts o = {.n_ctx = 128, .n_threads = 1};
    wh_session *s = NULL;
    wh_error err = {0};
    assert_int_equal(wh_session_new(g_model, &o, &s, &err), WH_OK);
    memset(out, 0, sizeof *out);
    wh_gen_result res;
    assert_int_equal(wh_generate(s, g_model, prompt, n, p, solo_cb, out, &res, &err), WH_OK);
    wh_session_free(s);
}

static void make_prompt(int32_t *p, int n, int salt)
{
    p[0] = 0;
    for (int i = 1; i < n; i++)
        p[i] = 2 + (i * 37 + salt * 11) % 250;
}

static void test_concurrent_equals_alone(void **state)
{
    (void)state;
    wh_engine_opts eo = {.n_slots = 3, .n_ctx = 128, .n_threads = 2};
    wh_engine *e = NULL;
    wh_error err = {0};
    assert_int_equal(wh_engine_new(g_model, &eo, &e, &err), WH_OK);
    enum { N = 7 };
    int32_t prompts[N][40];
    int lens[N];
    sink sinks[N];
    wh_request *reqs[N];
    wh_gen_params ps[N];
    for (int i = 0; i < N; i++) {
        lens[i] = 5 + 5 * i;
        make_prompt(prompts[i], lens[i], i);
        ps[i] = params(100 + (uint64_t)i, i % 2 ? 0.9f : 0.0f, 24);
        sink_init(&sinks[i]);
        wh_request_params rp = {prompts[i], lens[i], ps[i]};
        assert_int_equal(wh_engine_submit(e, &rp, on_event, &sinks[i], &reqs[i], &err), WH_OK);
    }
    for (int i = 0; i < N; i++) {
        sink_wait(&sinks[i]);
        solo_buf b;
        solo(prompts[i], lens[i], &ps[i], &b);
        assert_int_equal(sinks[i].errors, 0);
        assert_int_equal(sinks[i].n, b.n);
        assert_memory_equal(sinks[i].text, b.text, b.n);
        wh_request_release(reqs[i]);
    }
    wh_engine_stats st;
    wh_engine_stats_get(e, &st);
    printf("  %lld requests on %d slots, %lld tokens generated, all equal to their solo text\n",
           st.requests_total, st.n_slots, st.generated_tokens_total);
    assert_int_equal(st.active, 0);
    wh_engine_free(e);
}

static void test_cancel_frees_slot(void **state)
{
    (void)state;
    wh_engine_opts eo = {.n_slots = 1, .n_ctx = 128, .n_threads = 1};
    wh_engine *e = NULL;
    wh_error err = {0};
    assert_int_equal(wh_engine_new(g_model, &eo, &e, &err), WH_OK);
    int32_t p[8];
    make_prompt(p, 8, 3);
    sink s;
    sink_init(&s);
    s.block_first = 1;
    wh_request *r = NULL;
    wh_request_params rp = {p, 8, params(1, 0.0f, 100)};
    assert_int_equal(wh_engine_submit(e, &rp, on_event, &s, &r, &err), WH_OK);
    /* wait for the first text, cancel, then let the engine go on */
    pthread_mutex_lock(&s.mu);
    while (s.n_text_events == 0 && !s.done)
        pthread_cond_wait(&s.cv, &s.mu);
    wh_engine_cancel(r);
    s.released = 1;
    pthread_cond_broadcast(&s.cv);
    pthread_mutex_unlock(&s.mu);
    sink_wait(&s);
    assert_int_equal(s.res.finish, WH_FINISH_CANCELLED);
    assert_true(s.res.n_generated < 100);
    wh_engine_stats st;
    wh_engine_stats_get(e, &st);
    assert_int_equal(st.active, 0);
    assert_int_equal(st.requests_cancelled, 1);
    /* the slot serves the next request */
    sink s2;
    sink_init(&s2);
    wh_request *r2 = NULL;
    wh_request_params rp2 = {p, 8, params(1, 0.0f, 5)};
    assert_int_equal(wh_engine_submit(e, &rp2, on_event, &s2, &r2, &err), WH_OK);
    sink_wait(&s2);
    assert_true(s2.res.n_generated > 0);
    wh_request_release(r);
    wh_request_release(r2);
    wh_engine_free(e);
}

static void test_queue_full_and_long_prompt(void **state)
{
    (void)state;
    wh_engine_opts eo = {.n_slots = 1, .n_ctx = 64, .n_threads = 1, .max_queue = 1};
    wh_engine *e = NULL;
    wh_error err = {0};
    assert_int_equal(wh_engine_new(g_model, &eo, &e, &err), WH_OK);
    int32_t p[100];
    make_prompt(p, 100, 1);
    wh_request *r = NULL;
    sink s[3];
    wh_request_params too_long = {p, 64, params(1, 0.0f, 4)};
    sink_init(&s[0]);
    assert_int_equal(wh_engine_submit(e, &too_long, on_event, &s[0], &r, &err), WH_E_INVALID);
    assert_non_null(strstr(err.msg, "context"));
    /* A occupies the slot (blocked in its first text event), B waits, C is refused */
    wh_request *ra = NULL, *rb = NULL, *rc = NULL;
    sink_init(&s[0]);
    sink_init(&s[1]);
    sink_init(&s[2]);
    s[0].block_first = 1;
    wh_request_params ok = {p, 8, params(1, 0.0f, 4)};
    assert_int_equal(wh_engine_submit(e, &ok, on_event, &s[0], &ra, &err), WH_OK);
    pthread_mutex_lock(&s[0].mu);
    while (s[0].n_text_events == 0 && !s[0].done)
        pthread_cond_wait(&s[0].cv, &s[0].mu);
    pthread_mutex_unlock(&s[0].mu);
    assert_int_equal(wh_engine_submit(e, &ok, on_event, &s[1], &rb, &err), WH_OK);
    assert_int_equal(wh_engine_submit(e, &ok, on_event, &s[2], &rc, &err), WH_E_BUSY);
    pthread_mutex_lock(&s[0].mu);
    s[0].released = 1;
    pthread_cond_broadcast(&s[0].cv);
    pthread_mutex_unlock(&s[0].mu);
    sink_wait(&s[0]);
    sink_wait(&s[1]);
    assert_int_equal(s[1].errors, 0);
    wh_request_release(ra);
    wh_request_release(rb);
    wh_engine_free(e);
}

static void test_prefix_reuse(void **state)
{
    (void)state;
    wh_engine_opts eo = {.n_slots = 2, .n_ctx = 128, .n_threads = 1};
    wh_engine *e = NULL;
    wh_error err = {0};
    assert_int_equal(wh_engine_new(g_model, &eo, &e, &err), WH_OK);
    int32_t p[40];
    make_prompt(p, 40, 9);
    sink a, b;
    sink_init(&a);
    sink_init(&b);
    wh_request *ra = NULL, *rb = NULL;
    wh_gen_params gp = params(5, 0.0f, 6);
    wh_request_params first = {p, 30, gp};
    assert_int_equal(wh_engine_submit(e, &first, on_event, &a, &ra, &err), WH_OK);
    sink_wait(&a);
    wh_request_params second = {p, 40, gp}; /* extends the first prompt */
    assert_int_equal(wh_engine_submit(e, &second, on_event, &b, &rb, &err), WH_OK);
    sink_wait(&b);
    wh_engine_stats st;
    wh_engine_stats_get(e, &st);
    printf("  prefix reuse: %lld of %lld prompt tokens came from the cache\n",
           st.reused_prompt_tokens_total, st.prompt_tokens_total);
    assert_true(st.reused_prompt_tokens_total >= 30);
    solo_buf sb;
    solo(p, 40, &gp, &sb);
    assert_int_equal(b.n, sb.n);
    assert_memory_equal(b.text, sb.text, sb.n);
    wh_request_release(ra);
    wh_request_release(rb);
    wh_engine_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_equals_alone),
        cmocka_unit_test(test_cancel_frees_slot),
        cmocka_unit_test(test_queue_full_and_long_prompt),
        cmocka_unit_test(test_prefix_reuse),
    };
    return cmocka_run_group_tests_name("engine", tests, setup, teardown);
}
