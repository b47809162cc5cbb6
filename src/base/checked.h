/*
 * checked.h — overflow-safe size arithmetic for untrusted sizes and offsets.
 * Each returns 1 on success and stores the result, 0 on overflow.
 */
#ifndef WH_BASE_CHECKED_H
#define WH_BASE_CHECKED_H

#include <stdint.h>

static inline int wh_add_u64(uint64_t a, uint64_t b, uint64_t *r)
{
    return !__builtin_add_overflow(a, b, r);
}

static inline int wh_mul_u64(uint64_t a, uint64_t b, uint64_t *r)
{
    return !__builtin_mul_overflow(a, b, r);
}

static inline uint64_t wh_align_up(uint64_t x, uint64_t a)
{
    return (x + a - 1) / a * a;
}

#endif
