/*
 * alloc.h — the library's allocator. All heap memory goes through these so
 * tests can fail the Nth allocation on purpose (SQLite's fault-injection method).
 */
#ifndef WH_BASE_ALLOC_H
#define WH_BASE_ALLOC_H

#include <stddef.h>

void *wh_malloc(size_t n);
void *wh_calloc(size_t count, size_t size); /* overflow-checked */
void *wh_realloc(void *p, size_t n);
void wh_free(void *p);
char *wh_strdup(const char *s);

/* Asks the kernel to back the 2 MiB-aligned interior of [p, p + n) with huge pages
 * (madvise MADV_HUGEPAGE; a hint, ignored where unsupported). For large buffers read
 * end to end on every step, such as the KV cache: fewer TLB misses. */
void wh_advise_huge(void *p, size_t n);

/* Fault injection: the fail_at-th allocation from now (1-based) and all after it
 * fail while armed; 0 disarms. Returns the number of allocations since arming. */
void wh_alloc_fail_at(long fail_at);
long wh_alloc_count(void);

#endif
