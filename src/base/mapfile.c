/* mapfile.c — mmap and small-file reading (see mapfile.h). */
#define _POSIX_C_SOURCE 200809L
#include "base/mapfile.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/env.h"
#include "base/error.h"

/* ---- I/O fault injection (see mapfile.h) ---- */

static long g_io_fail_at;
static long g_io_count;
static wh_io_fault g_io_kind;

void wh_io_fail_at(long fail_at, wh_io_fault kind)
{
    g_io_fail_at = fail_at;
    g_io_kind = kind;
    g_io_count = 0;
}

long wh_io_count(void)
{
    return g_io_count;
}

/* Counts one operation; returns the fault to apply to it, or 0. */
static wh_io_fault io_fault(void)
{
    g_io_count++;
    return g_io_fail_at > 0 && g_io_count == g_io_fail_at ? g_io_kind : 0;
}

static int io_open(const char *path)
{
    if (io_fault() == WH_IO_ERROR) {
        errno = EIO;
        return -1;
    }
    return open(path, O_RDONLY | O_CLOEXEC);
}

static ssize_t io_read(int fd, void *buf, size_t n)
{
    switch (io_fault()) {
    case WH_IO_ERROR:
        errno = EIO;
        return -1;
    case WH_IO_SHORT:
        return read(fd, buf, n < 1 ? n : 1);
    case WH_IO_EOF:
        return 0;
    default:
        return read(fd, buf, n);
    }
}

#define HUGE_BYTES ((size_t)2 << 20)

static void *io_mmap(size_t n, int fd)
{
    if (io_fault() == WH_IO_ERROR) {
        errno = EIO;
        return MAP_FAILED;
    }
    if (n < 2 * HUGE_BYTES)
        return mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
    /* A large file is mapped at a 2 MiB-aligned address and marked MADV_HUGEPAGE, so
     * the kernel may read it into 2 MiB page-cache folios and map them with one TLB
     * entry each (file offset and address then agree modulo 2 MiB). The weights of a
     * decode step are streamed end to end; with 4 KiB pages the hardware prefetchers
     * stop at every page boundary. Only a hint: kernels or filesystems without large
     * folios keep 4 KiB pages. */
    size_t span = n + HUGE_BYTES;
    uint8_t *r = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED)
        return MAP_FAILED;
    uint8_t *a = (uint8_t *)(((uintptr_t)r + HUGE_BYTES - 1) & ~(uintptr_t)(HUGE_BYTES - 1));
    void *p = mmap(a, n, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
    if (p == MAP_FAILED) {
        int e = errno;
        munmap(r, span);
        errno = e;
        return MAP_FAILED;
    }
    if (a > r)
        munmap(r, (size_t)(a - r));
    size_t tail = span - (size_t)(a - r) - n;
    if (tail > 0)
        munmap(a + n, tail);
    if (!wh_env_flag("WHALE_NO_HUGEPAGE"))
        (void)madvise(a, n, MADV_HUGEPAGE);
    return a;
}

/* fstat, counted by the I/O fault hook (an injected error reads as EIO) */
static int io_fstat(int fd, struct stat *st)
{
    if (io_fault() == WH_IO_ERROR) {
        errno = EIO;
        return -1;
    }
    return fstat(fd, st);
}

int wh_mapfile_open(wh_mapfile *mf, const char *path, wh_error *err)
{
    memset(mf, 0, sizeof *mf);
    int fd = io_open(path);
    if (fd < 0)
        return wh_err(err, WH_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (io_fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return wh_err(err, WH_E_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return wh_err(err, WH_E_IO, "%s: not a regular file", path);
    }
    mf->path = wh_strdup(path);
    if (mf->path == NULL) {
        close(fd);
        return wh_err(err, WH_E_NOMEM, "%s: out of memory", path);
    }
    mf->size = (uint64_t)st.st_size;
    if (mf->size > 0) {
        void *p = io_mmap((size_t)mf->size, fd);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            wh_free(mf->path);
            mf->path = NULL;
            return wh_err(err, WH_E_IO, "%s: mmap failed: %s", path, strerror(e));
        }
        mf->data = p;
    }
    close(fd);
    return WH_OK;
}

void wh_mapfile_close(wh_mapfile *mf)
{
    if (mf->data != NULL)
        munmap((void *)mf->data, (size_t)mf->size);
    wh_free(mf->path);
    memset(mf, 0, sizeof *mf);
}

int wh_read_text(const char *path, uint64_t max_bytes, char **out, uint64_t *len, wh_error *err)
{
    *out = NULL;
    int fd = io_open(path);
    if (fd < 0)
        return wh_err(err, WH_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return wh_err(err, WH_E_IO, "%s: not a readable regular file", path);
    }
    if ((uint64_t)st.st_size > max_bytes) {
        close(fd);
        return wh_err(err, WH_E_FORMAT, "%s: %lld bytes, more than the %llu allowed", path,
                      (long long)st.st_size, (unsigned long long)max_bytes);
    }
    size_t n = (size_t)st.st_size;
    char *buf = wh_malloc(n + 1);
    if (buf == NULL) {
        close(fd);
        return wh_err(err, WH_E_NOMEM, "%s: out of memory", path);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = io_read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int e = r < 0 ? errno : 0;
            close(fd);
            wh_free(buf);
            return wh_err(err, WH_E_IO, "%s: %s at byte %zu of %zu", path,
                          r < 0 ? strerror(e) : "unexpected end of file (short read)", got, n);
        }
        got += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *out = buf;
    if (len != NULL)
        *len = n;
    return WH_OK;
}

int wh_is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int wh_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int wh_path_join_inside(const char *dir, const char *name, char **out, const char *what,
                        wh_error *err)
{
    *out = NULL;
    if (name[0] == '\0' || name[0] == '/' || strchr(name, '\\') != NULL)
        return wh_err(err, WH_E_FORMAT, "%s: file name \"%s\" is not a plain relative name", what,
                      name);
    const char *p = name;
    while (*p != '\0') {
        const char *slash = strchr(p, '/');
        size_t seg = slash ? (size_t)(slash - p) : strlen(p);
        if ((seg == 2 && p[0] == '.' && p[1] == '.') || seg == 0)
            return wh_err(err, WH_E_FORMAT, "%s: file name \"%s\" escapes the model folder", what,
                          name);
        p += seg;
        if (*p == '/')
            p++;
    }
    size_t n = strlen(dir) + 1 + strlen(name) + 1;
    char *s = wh_malloc(n);
    if (s == NULL)
        return wh_err(err, WH_E_NOMEM, "%s: out of memory", what);
    snprintf(s, n, "%s/%s", dir, name);
    *out = s;
    return WH_OK;
}

char *wh_path_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return wh_strdup(".");
    size_t n = (size_t)(slash - path);
    if (n == 0)
        n = 1;
    char *d = wh_malloc(n + 1);
    if (d == NULL)
        return NULL;
    memcpy(d, path, n);
    d[n] = '\0';
    return d;
}
