/* pool.c — the worker pool (see pool.h): generation counter + spin, then condvar. */
#include "base/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/error.h"

#define WH_SPIN_ROUNDS 200000

struct wh_pool {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_uint gen;
    atomic_int done;
    atomic_int stop;
    wh_task_fn fn;
    void *ctx;
};

typedef struct worker_arg {
    wh_pool *p;
    int ith;
} worker_arg;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void *worker(void *arg)
{
    worker_arg *wa = arg;
    wh_pool *p = wa->p;
    int ith = wa->ith;
    wh_free(wa);
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        long spins = 0;
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen &&
               !atomic_load(&p->stop)) {
            if (++spins < WH_SPIN_ROUNDS) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->cv, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop))
            break;
        seen = g;
        p->fn(p->ctx, ith, p->n);
        atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
    }
    return NULL;
}

int wh_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

int wh_pool_new(int n_threads, wh_pool **out, wh_error *err)
{
    *out = NULL;
    if (n_threads < 1 || n_threads > 1024)
        return wh_err(err, WH_E_INVALID, "threads: %d (1..1024)", n_threads);
    wh_pool *p = wh_calloc(1, sizeof *p);
    if (p == NULL)
        return wh_err(err, WH_E_NOMEM, "thread pool: out of memory");
    p->n = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    atomic_init(&p->gen, 0);
    atomic_init(&p->done, 0);
    atomic_init(&p->stop, 0);
    if (n_threads > 1) {
        p->threads = wh_calloc((size_t)n_threads, sizeof(pthread_t));
        if (p->threads == NULL) {
            p->n = 1; /* no workers to join */
            wh_pool_free(p);
            return wh_err(err, WH_E_NOMEM, "thread pool: out of memory");
        }
    }
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = wh_malloc(sizeof *wa);
        if (wa == NULL) {
            p->n = i;
            wh_pool_free(p);
            return wh_err(err, WH_E_NOMEM, "thread pool: out of memory");
        }
        wa->p = p;
        wa->ith = i;
        if (pthread_create(&p->threads[i], NULL, worker, wa) != 0) {
            wh_free(wa);
            p->n = i;
            wh_pool_free(p);
            return wh_err(err, WH_E_IO, "thread pool: cannot start thread %d", i);
        }
    }
    *out = p;
    return WH_OK;
}

void wh_pool_free(wh_pool *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    wh_free(p->threads);
    wh_free(p);
}

int wh_pool_size(const wh_pool *p)
{
    return p ? p->n : 1;
}

void wh_pool_run(wh_pool *p, wh_task_fn fn, void *ctx)
{
    if (p == NULL || p->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    fn(ctx, 0, p->n);
    /* spin briefly, then yield: on a loaded machine a spinning caller can keep a
     * worker that has to wake up off the only free core */
    long spins = 0;
    while (atomic_load_explicit(&p->done, memory_order_acquire) < p->n - 1) {
        if (++spins < (1 << 16))
            cpu_relax();
        else
            sched_yield();
    }
}
