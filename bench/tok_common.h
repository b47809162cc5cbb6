/*
 * tok_common.h — shared by bench/tok_bench.c (whale) and bench/llama_tok_bench.c
 * (llama.cpp) so that both cut the text into the same pieces, time the same way and
 * write token ids in the same format. Header-only (static functions), C11 + POSIX.
 *
 * Chunks: CHUNK = 0 encodes the whole text in one call; CHUNK = N > 0 cuts it after the
 * first '\n' at or past N bytes from the start of the piece (prompt-sized pieces).
 * Ids file: for each chunk a uint32 count then that many int32 ids (native endian).
 */
#ifndef WH_BENCH_TOK_COMMON_H
#define WH_BENCH_TOK_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double tb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU time of this process, seconds. */
static double tb_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int tb_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n) (sorts v). */
static double tb_median(double *v, int n)
{
    if (n <= 0)
        return 0;
    qsort(v, (size_t)n, sizeof *v, tb_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Reads a whole file; NULL on failure. */
static char *tb_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 1 << 20, n = 0;
    char *p = malloc(cap);
    while (p != NULL) {
        size_t r = fread(p + n, 1, cap - n, f);
        n += r;
        if (n < cap)
            break;
        char *q = realloc(p, cap *= 2);
        if (q == NULL) {
            free(p);
            p = NULL;
        }
        p = q;
    }
    fclose(f);
    *len = n;
    return p;
}

/* Cuts text into chunks; returns the number, with their start offsets in (*off)[0..n]
 * (off[n] = len). */
static size_t tb_chunks(const char *text, size_t len, size_t chunk, size_t **off)
{
    size_t n = 0, cap = 16;
    size_t *o = malloc(cap * sizeof *o);
    if (o == NULL)
        return 0;
    size_t pos = 0;
    o[n++] = 0;
    while (pos < len) {
        size_t end = len;
        if (chunk > 0 && pos + chunk < len) {
            const char *nl = memchr(text + pos + chunk, '\n', len - pos - chunk);
            end = nl ? (size_t)(nl - text) + 1 : len;
        }
        if (n + 1 > cap) {
            size_t *q = realloc(o, (cap *= 2) * sizeof *o);
            if (q == NULL) {
                free(o);
                return 0;
            }
            o = q;
        }
        o[n++] = end;
        pos = end;
    }
    *off = o;
    return n - 1;
}

#endif
