/*
 * error.h — filling a wh_error. Every failing library call goes through
 * wh_err(), so messages share one shape: "<where>: <what>".
 */
#ifndef WH_BASE_ERROR_H
#define WH_BASE_ERROR_H

#include "whale.h"

#if defined(__GNUC__)
#define WH_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define WH_PRINTF(a, b)
#endif

/* Sets err (if not NULL) and returns code, so callers can `return wh_err(...)`. */
int wh_err(wh_error *err, int code, const char *fmt, ...) WH_PRINTF(3, 4);

/* Prepends "prefix: " to an existing message (adds context on the way up). */
int wh_err_wrap(wh_error *err, const char *fmt, ...) WH_PRINTF(2, 3);

#endif
