/* alloc.c — allocation wrappers with a fault-injection hook (see alloc.h). */
#include "base/alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static long g_fail_at;
static long g_count;

static int should_fail(void)
{
    g_count++;
    return g_fail_at > 0 && g_count >= g_fail_at;
}

void wh_alloc_fail_at(long fail_at)
{
    g_fail_at = fail_at;
    g_count = 0;
}

long wh_alloc_count(void)
{
    return g_count;
}

void *wh_malloc(size_t n)
{
    if (should_fail())
        return NULL;
    return malloc(n == 0 ? 1 : n);
}

void *wh_calloc(size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size)
        return NULL;
    if (should_fail())
        return NULL;
    return calloc(count == 0 ? 1 : count, size == 0 ? 1 : size);
}

void *wh_realloc(void *p, size_t n)
{
    if (should_fail())
        return NULL;
    return realloc(p, n == 0 ? 1 : n);
}

void wh_free(void *p)
{
    free(p);
}

char *wh_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = wh_malloc(n);
    if (d != NULL)
        memcpy(d, s, n);
    return d;
}

void wh_advise_huge(void *p, size_t n)
{
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t a = ((uintptr_t)p + huge - 1) & ~(huge - 1), e = ((uintptr_t)p + n) & ~(huge - 1);
    if (p != NULL && e > a)
        (void)madvise((void *)a, (size_t)(e - a), MADV_HUGEPAGE);
}
