/*
 * tasks.c — the task registry: family names, the PRNG the generators share, the
 * train/test split by problem hash, and wh_task_make, which draws from a family's
 * generator until a problem of the requested split comes out (tasks.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "r1/tasks.h"

static const char *const FAMILY_NAMES[WH_TASK_N_FAMILIES] = {"arith", "countdown", "sort"};

const char *wh_task_family_name(wh_task_family f)
{
    if ((int)f < 0 || f >= WH_TASK_N_FAMILIES)
        return "?";
    return FAMILY_NAMES[f];
}

int wh_task_family_parse(const char *s)
{
    for (int i = 0; i < WH_TASK_N_FAMILIES; i++)
        if (strcmp(s, FAMILY_NAMES[i]) == 0)
            return i;
    return -1;
}

/* splitmix64 (Steele, Lea, Flood 2014): one add and a finaliser per draw. */
uint64_t wh_task_rng_next(wh_task_rng *r)
{
    r->s += 0x9e3779b97f4a7c15ull;
    uint64_t z = r->s;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

int64_t wh_task_rng_range(wh_task_rng *r, int64_t lo, int64_t hi)
{
    uint64_t span = (uint64_t)(hi - lo) + 1u;
    if (span == 0) /* the whole int64 range */
        return (int64_t)wh_task_rng_next(r);
    /* rejection keeps the draw unbiased */
    uint64_t limit = UINT64_MAX - UINT64_MAX % span;
    uint64_t x;
    do {
        x = wh_task_rng_next(r);
    } while (x >= limit);
    return lo + (int64_t)(x % span);
}

uint64_t wh_task_mix(uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
    wh_task_rng r = {a};
    uint64_t h = wh_task_rng_next(&r);
    r.s = h ^ b;
    h = wh_task_rng_next(&r);
    r.s = h ^ c;
    h = wh_task_rng_next(&r);
    r.s = h ^ d;
    return wh_task_rng_next(&r);
}

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

/* FNV-1a over the canonical form; one problem in eight is held out. */
wh_task_split wh_task_split_of(const wh_task *t)
{
    char canon[512];
    int n = 0;
    if (t->family == WH_TASK_ARITH) {
        int64_t x = t->a, y = t->b;
        if (t->op != '-' && x > y) { /* + and * commute */
            x = t->b;
            y = t->a;
        }
        n = snprintf(canon, sizeof canon, "A%c%lld,%lld", t->op, (long long)x, (long long)y);
    } else {
        int64_t s[WH_TASK_MAX_NUMS];
        memcpy(s, t->nums, (size_t)t->n_nums * sizeof s[0]);
        qsort(s, (size_t)t->n_nums, sizeof s[0], cmp_i64);
        if (t->family == WH_TASK_COUNTDOWN)
            n = snprintf(canon, sizeof canon, "C%lld:", (long long)t->target);
        else
            n = snprintf(canon, sizeof canon, "S%d:", t->descending);
        for (int i = 0; i < t->n_nums && n > 0 && n < (int)sizeof canon - 24; i++)
            n += snprintf(canon + n, sizeof canon - (size_t)n, "%lld,", (long long)s[i]);
    }
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < n; i++) {
        h ^= (unsigned char)canon[i];
        h *= 0x100000001b3ull;
    }
    return (h >> 29) % 8 == 0 ? WH_SPLIT_TEST : WH_SPLIT_TRAIN;
}

int wh_task_make(wh_task_family f, int level, wh_task_split split, uint64_t index, wh_task *t)
{
    if ((int)f < 0 || f >= WH_TASK_N_FAMILIES || level < 1 || level > WH_TASK_LEVEL_MAX)
        return -1;
    if (split != WH_SPLIT_TRAIN && split != WH_SPLIT_TEST)
        return -1;
    wh_task_rng r = {wh_task_mix((uint64_t)f + 1, (uint64_t)level, (uint64_t)split, index)};
    /* a test problem takes ~8 draws, a train problem ~1.1; the cap is never reached */
    for (int attempt = 0; attempt < 100000; attempt++) {
        memset(t, 0, sizeof *t);
        t->family = f;
        t->level = level;
        t->index = index;
        int rc;
        if (f == WH_TASK_ARITH)
            rc = wh_task_gen_arith(&r, level, t);
        else if (f == WH_TASK_COUNTDOWN)
            rc = wh_task_gen_countdown(&r, level, t);
        else
            rc = wh_task_gen_sort(&r, level, t);
        if (rc != 0)
            continue;
        if (wh_task_split_of(t) != split)
            continue;
        t->split = split;
        return 0;
    }
    return -1;
}
