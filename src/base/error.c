/* error.c — wh_error helpers (see error.h). */
#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int wh_err(wh_error *err, int code, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

int wh_err_wrap(wh_error *err, const char *fmt, ...)
{
    if (err == NULL)
        return WH_E_INVALID;
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    size_t np = strlen(prefix);
    size_t cap = sizeof err->msg - 1;
    if (np + 2 > cap)
        return err->code;
    size_t nm = strnlen(err->msg, cap);
    if (np + 2 + nm > cap)
        nm = cap - np - 2;
    memmove(err->msg + np + 2, err->msg, nm);
    memcpy(err->msg, prefix, np);
    err->msg[np] = ':';
    err->msg[np + 1] = ' ';
    err->msg[np + 2 + nm] = '\0';
    return err->code;
}

const char *wh_status_name(int code)
{
    switch (code) {
    case WH_OK:
        return "ok";
    case WH_E_IO:
        return "I/O error";
    case WH_E_FORMAT:
        return "format error";
    case WH_E_NOMEM:
        return "out of memory";
    case WH_E_INVALID:
        return "invalid";
    case WH_E_UNSUPPORTED:
        return "unsupported";
    case WH_E_MISSING:
        return "missing";
    case WH_E_BUSY:
        return "busy";
    default:
        return "unknown error";
    }
}
