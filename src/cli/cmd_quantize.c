/*
 * cmd_quantize.c — `whale quantize IN OUT --type TYPE [--threads N]`: writes any model
 * whale loads (safetensors folder or file in F32/BF16/F16/FP8, or GGUF) as a GGUF file
 * with llama.cpp's names and metadata, in one of the common types (wh_model_export_gguf).
 * Progress goes to stderr, one line per tensor; a summary of sizes and bits per weight
 * ends it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "whale.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: whale quantize IN OUT --type TYPE [--threads N]\n\n"
            "  IN           model folder (config.json + *.safetensors), .safetensors or .gguf\n"
            "  OUT          the GGUF file to write (written to OUT.tmp, then renamed)\n"
            "  --type TYPE  %s\n"
            "               (the _m mixtures follow llama.cpp's per-tensor rules)\n"
            "  --threads N  worker threads (default: one per CPU)\n"
            "  -q, --quiet  no per-tensor progress lines\n",
            wh_export_types());
}

typedef struct progress_ctx {
    int quiet;
} progress_ctx;

static void on_tensor(void *user, const char *name, const char *type, int index, int count)
{
    const progress_ctx *p = user;
    if (!p->quiet)
        fprintf(stderr, "[%*d/%d] %-40s %s\n", count >= 1000 ? 4 : 3, index + 1, count, name, type);
}

static void human(uint64_t bytes, char *out, size_t n)
{
    if (bytes >= (1ull << 30))
        snprintf(out, n, "%.2f GiB", (double)bytes / (double)(1ull << 30));
    else if (bytes >= (1ull << 20))
        snprintf(out, n, "%.2f MiB", (double)bytes / (double)(1ull << 20));
    else
        snprintf(out, n, "%.1f KiB", (double)bytes / 1024.0);
}

static double bpw(uint64_t bytes, uint64_t elems)
{
    return elems ? 8.0 * (double)bytes / (double)elems : 0.0;
}

int cmd_quantize(int argc, char **argv)
{
    const char *in = NULL, *out = NULL, *type = NULL;
    int threads = 0, quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--type") == 0 || strcmp(a, "-t") == 0) {
            if (i + 1 >= argc)
                return cli_fail("quantize: %s needs a type (%s)", a, wh_export_types());
            type = argv[++i];
        } else if (strcmp(a, "--threads") == 0) {
            if (i + 1 >= argc)
                return cli_fail("quantize: --threads needs a number");
            char *end = NULL;
            errno = 0;
            long v = strtol(argv[++i], &end, 10);
            if (errno != 0 || end == argv[i] || *end != '\0' || v < 1 || v > 1024)
                return cli_fail("quantize: --threads \"%s\" is not a number in 1..1024", argv[i]);
            threads = (int)v;
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            quiet = 1;
        } else if (a[0] == '-' && a[1] != '\0') {
            usage(stderr);
            return cli_fail("quantize: unknown option %s", a);
        } else if (in == NULL) {
            in = a;
        } else if (out == NULL) {
            out = a;
        } else {
            usage(stderr);
            return cli_fail("quantize: unexpected argument %s", a);
        }
    }
    if (in == NULL || out == NULL || type == NULL) {
        usage(stderr);
        return cli_fail("quantize: IN, OUT and --type are required");
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    wh_error err = {0};
    wh_model *m = NULL;
    if (wh_model_load(in, &m, &err) != WH_OK)
        return cli_fail("%s", err.msg);
    wh_export_opts opts = {.n_threads = threads};
    wh_export_stats st;
    progress_ctx pc = {quiet};
    int rc = wh_model_export_gguf_ex(m, out, type, &opts, &st, on_tensor, &pc, &err);
    wh_model_free(m);
    if (rc != WH_OK)
        return cli_fail("quantize: %s", err.msg);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    char hin[32], hout[32];
    human(st.source_bytes, hin, sizeof hin);
    human(st.file_bytes, hout, sizeof hout);
    fprintf(stderr,
            "quantize: %s -> %s (%s)\n"
            "  input  %s, %.2f bits per weight (%llu weights)\n"
            "  output %s, %.2f bits per weight (%llu weights, %d tensors), %.1f s\n",
            in, out, type, hin, bpw(st.source_bytes, st.source_elements),
            (unsigned long long)st.source_elements, hout, bpw(st.tensor_bytes, st.n_elements),
            (unsigned long long)st.n_elements, st.n_tensors, secs);
    return 0;
}
