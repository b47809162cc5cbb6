/*
 * mapfile.h — read-only memory maps of model files, and whole-file reads of
 * small text files (configs). Weights are used in place from the map.
 */
#ifndef WH_BASE_MAPFILE_H
#define WH_BASE_MAPFILE_H

#include <stddef.h>
#include <stdint.h>

#include "whale.h"

typedef struct wh_mapfile {
    char *path;
    const uint8_t *data;
    uint64_t size;
} wh_mapfile;

/* Maps path read-only. An empty file maps to data == NULL, size 0. */
int wh_mapfile_open(wh_mapfile *mf, const char *path, wh_error *err);
void wh_mapfile_close(wh_mapfile *mf);

/* Reads a whole file (at most max_bytes) into a NUL-terminated heap buffer. */
int wh_read_text(const char *path, uint64_t max_bytes, char **out, uint64_t *len, wh_error *err);

/* I/O fault injection for tests (SQLite's method, like wh_alloc_fail_at): the fail_at-th
 * I/O operation from now (1-based; counted: open, read and mmap of model, config and
 * tokenizer files) is faulted once, as `kind` says; 0 disarms. Not thread-safe.
 *   WH_IO_ERROR  the operation fails with EIO
 *   WH_IO_SHORT  a read returns 1 byte (a legal short read: results must not change)
 *   WH_IO_EOF    a read returns 0 (the file shrank after it was measured)
 * wh_io_count returns the number of operations since arming. */
typedef enum wh_io_fault { WH_IO_ERROR = 1, WH_IO_SHORT, WH_IO_EOF } wh_io_fault;
void wh_io_fail_at(long fail_at, wh_io_fault kind);
long wh_io_count(void);

/* 1 if path names an existing regular file / directory. */
int wh_is_file(const char *path);
int wh_is_dir(const char *path);

/* Joins dir and a relative name that must stay inside dir: no absolute path,
 * no ".." component, no backslash. Returns WH_E_FORMAT naming `what` otherwise. */
int wh_path_join_inside(const char *dir, const char *name, char **out, const char *what,
                        wh_error *err);

/* Directory part of path ("." when none); heap-allocated. */
char *wh_path_dirname(const char *path);

#endif
