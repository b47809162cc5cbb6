/*
 * pool.h — one fixed pool of worker threads per session. A task is a function
 * called once on every thread as fn(ctx, ith, nth); the caller is thread 0 and
 * wh_pool_run returns when all have finished. Workers spin briefly between tasks
 * (a decode step dispatches hundreds of short tasks) and then sleep.
 */
#ifndef WH_BASE_POOL_H
#define WH_BASE_POOL_H

#include "whale.h"

typedef void (*wh_task_fn)(void *ctx, int ith, int nth);
typedef struct wh_pool wh_pool;

/* n_threads >= 1 (1: no workers, tasks run on the caller). */
int wh_pool_new(int n_threads, wh_pool **out, wh_error *err);
void wh_pool_free(wh_pool *p);
int wh_pool_size(const wh_pool *p);
/* Runs fn on every thread; a NULL pool runs fn(ctx, 0, 1). */
void wh_pool_run(wh_pool *p, wh_task_fn fn, void *ctx);

/* The [begin, end) share of n items for thread ith of nth. */
static inline void wh_split(long n, int ith, int nth, long *begin, long *end)
{
    long per = (n + nth - 1) / nth;
    *begin = per * ith < n ? per * ith : n;
    *end = *begin + per < n ? *begin + per : n;
}

/* Number of online CPUs (at least 1). */
int wh_cpu_count(void);

#endif
