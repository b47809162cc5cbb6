/*
 * task_sort.c — sorting: order L+3 distinct integers ascending or descending. Values
 * are in 0..99 (levels 1-2), 0..999 (3-4) or -999..999 (5 on, negatives included).
 * The reference answer is the sorted list written "a, b, c".
 */
#include <stdio.h>
#include <stdlib.h>

#include "r1/tasks.h"

static int cmp_asc(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

int wh_task_gen_sort(wh_task_rng *r, int level, wh_task *t)
{
    int n = level + 3;
    if (n > WH_TASK_MAX_NUMS)
        n = WH_TASK_MAX_NUMS;
    int64_t lo = level <= 4 ? 0 : -999, hi = level <= 2 ? 99 : 999;
    for (int i = 0; i < n; i++) {
        int64_t v;
        int dup;
        do { /* distinct values: the range is always far larger than n */
            v = wh_task_rng_range(r, lo, hi);
            dup = 0;
            for (int j = 0; j < i; j++)
                dup |= t->nums[j] == v;
        } while (dup);
        t->nums[i] = v;
    }
    t->n_nums = n;
    t->descending = (int)wh_task_rng_range(r, 0, 1);
    int64_t s[WH_TASK_MAX_NUMS];
    for (int i = 0; i < n; i++)
        s[i] = t->nums[i];
    qsort(s, (size_t)n, sizeof s[0], cmp_asc);
    int k = 0;
    for (int i = 0; i < n; i++) {
        int64_t v = t->descending ? s[n - 1 - i] : s[i];
        k += snprintf(t->answer + k, sizeof t->answer - (size_t)k, "%s%lld", i ? ", " : "",
                      (long long)v);
    }
    k = snprintf(t->prompt, sizeof t->prompt, "Sort ");
    for (int i = 0; i < n; i++)
        k += snprintf(t->prompt + k, sizeof t->prompt - (size_t)k, "%s%lld", i ? ", " : "",
                      (long long)t->nums[i]);
    snprintf(t->prompt + k, sizeof t->prompt - (size_t)k, " in %s order. " WH_TASK_BOX_HINT,
             t->descending ? "descending" : "ascending");
    return 0;
}
