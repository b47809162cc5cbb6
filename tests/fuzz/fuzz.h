/*
 * fuzz.h — helpers shared by the libFuzzer targets in tests/fuzz/: scratch files that
 * hold the input (the readers take paths and mmap them) and are removed at exit, and the
 * check every target makes on a rejected input: a negative wh_status and a message.
 *
 * Each target defines LLVMFuzzerTestOneInput; `make test-fuzz` builds them with clang
 * -fsanitize=fuzzer,address,undefined and runs each for a fixed number of inputs.
 */
#ifndef WH_FUZZ_H
#define WH_FUZZ_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "whale.h"

/* Scratch files and folders to remove when the fuzzer exits, last registered first. */
static char g_fuzz_rm[8][512];
static int g_fuzz_n_rm;

static inline void fuzz_cleanup(void)
{
    for (int i = g_fuzz_n_rm - 1; i >= 0; i--)
        if (unlink(g_fuzz_rm[i]) != 0)
            rmdir(g_fuzz_rm[i]);
}

static inline void fuzz_remove_at_exit(const char *path)
{
    if (g_fuzz_n_rm == 0)
        atexit(fuzz_cleanup);
    if (g_fuzz_n_rm < 8)
        snprintf(g_fuzz_rm[g_fuzz_n_rm++], sizeof g_fuzz_rm[0], "%s", path);
}

/* A new per-process scratch path under $TMPDIR (default /dev/shm, else /tmp) ending in
 * suffix, removed at exit. Call it once per name (the result is a static buffer of 4). */
static inline const char *fuzz_scratch(const char *suffix)
{
    static char path[4][512];
    static int k;
    const char *dir = getenv("TMPDIR");
    if (dir == NULL || dir[0] == '\0')
        dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"; /* tmpfs: 4x the rate */
    char *p = path[k++ & 3];
    snprintf(p, sizeof path[0], "%s/whale-fuzz-%ld%s", dir, (long)getpid(), suffix);
    fuzz_remove_at_exit(p);
    return p;
}

/* Replaces path with data[0..size). Aborts when it cannot (a harness fault, not a finding). */
static inline void fuzz_write(const char *path, const void *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        abort();
    const uint8_t *p = data;
    while (size > 0) {
        ssize_t w = write(fd, p, size);
        if (w <= 0)
            abort();
        p += w;
        size -= (size_t)w;
    }
    if (close(fd) != 0)
        abort();
}

/* A rejected input must come with a negative status and a message; anything else is a bug. */
static inline void fuzz_check_error(int rc, const wh_error *err)
{
    if (rc >= 0 || err->code != rc || err->msg[0] == '\0') {
        fprintf(stderr, "fuzz: rc %d, err.code %d, message \"%s\"\n", rc, err->code, err->msg);
        abort();
    }
}

#endif
