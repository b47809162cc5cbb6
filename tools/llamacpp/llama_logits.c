/*
 * llama_logits: run a GGUF model through llama.cpp (CPU, F32 KV cache, no flash attention)
 * and write the logits at every prompt position plus a greedy continuation as a .whfx file
 * (docs/FIXTURE_FORMAT.md).  This is whale's second, independent oracle.
 *
 *   llama_logits MODEL.gguf --tokens 3,17,5 [-n 8] -o OUT.whfx [options]
 *
 * Built by tools/llamacpp/setup.sh against the prebuilt libraries of node-llama-cpp.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml-backend.h"
#include "ggml.h"
#include "llama.h"

#ifndef LLAMACPP_LIBDIR
#define LLAMACPP_LIBDIR ""
#endif
#ifndef LLAMACPP_RELEASE
#define LLAMACPP_RELEASE "unknown"
#endif

#define MAX_MOE_LAYERS 512

static const char *prog = "llama_logits";

static void die(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: error: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: %s MODEL.gguf --tokens ID,ID,... [-n N] -o OUT.whfx [options]\n"
            "  --tokens LIST     comma-separated prompt token ids (required, at least one)\n"
            "  -n N              greedy tokens to generate after the prompt (default 0)\n"
            "  -o FILE           output .whfx file (required)\n"
            "  --threads N       CPU threads (default 1, for reproducibility)\n"
            "  --ctx N           context size (default max(64, prompt+n))\n"
            "  --cpu-variant V   load libggml-cpu-V.so (e.g. x64, haswell, skylakex) instead of\n"
            "                    the best variant for this CPU\n"
            "  --libdir DIR      folder holding libggml-cpu-*.so (default: $LLAMACPP_LIBDIR or\n"
            "                    the folder compiled in by setup.sh)\n"
            "  --no-moe          do not record routed-expert choices (n_moe_layers = 0)\n"
            "  -v                show all llama.cpp log output\n"
            "  --version         print llama.cpp / ggml version and exit\n",
            prog);
}

/* ---------------------------------------------------------------------------------------- */
/* logging */

static int g_verbose = 0;
static int g_last_level_shown = 1;

static void log_cb(enum ggml_log_level level, const char *text, void *ud)
{
    (void)ud;
    int show;
    if (level == GGML_LOG_LEVEL_CONT) {
        show = g_last_level_shown;
    } else {
        show = g_verbose || level == GGML_LOG_LEVEL_WARN || level == GGML_LOG_LEVEL_ERROR;
        g_last_level_shown = show;
    }
    if (show) {
        fputs(text, stderr);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* argument parsing */

static long parse_long(const char *s, long lo, long hi, const char *what)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        die("invalid %s '%s' (expected an integer in [%ld, %ld])", what, s, lo, hi);
    }
    return v;
}

static int32_t *parse_tokens(const char *s, size_t *n_out)
{
    size_t cap = 16, n = 0;
    int32_t *v = malloc(cap * sizeof *v);
    if (!v)
        die("out of memory");
    const char *p = s;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        char *end = NULL;
        errno = 0;
        long t = strtol(p, &end, 10);
        if (end == p || errno != 0 || t < 0 || t > INT32_MAX) {
            die("invalid token list at '%s' (expected comma-separated non-negative ids)", p);
        }
        if (n == cap) {
            if (cap > SIZE_MAX / 2 / sizeof *v)
                die("token list too long");
            cap *= 2;
            int32_t *nv = realloc(v, cap * sizeof *v);
            if (!nv)
                die("out of memory");
            v = nv;
        }
        v[n++] = (int32_t)t;
        p = end;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            break;
        if (*p != ',')
            die("invalid token list at '%s'", p);
        p++;
    }
    *n_out = n;
    return v;
}

/* ---------------------------------------------------------------------------------------- */
/* MoE expert capture through the graph evaluation callback */

struct moe_capture {
    int enabled;
    int active; /* only while decoding the prompt */
    size_t n_tokens;
    int top_k; /* 0 until the first layer is seen */
    int n_layers;
    int layer[MAX_MOE_LAYERS];
    int32_t *ids[MAX_MOE_LAYERS]; /* [n_tokens][top_k], sorted ascending per token */
    int error;
};

static const char MOE_PREFIX[] = "ffn_moe_topk-";

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static bool eval_cb(struct ggml_tensor *t, bool ask, void *ud)
{
    struct moe_capture *mc = ud;
    if (!mc->enabled || !mc->active) {
        return ask ? false : true;
    }
    if (strncmp(t->name, MOE_PREFIX, sizeof MOE_PREFIX - 1) != 0) {
        return ask ? false : true;
    }
    if (ask) {
        return true;
    }
    /* t: I32 [n_expert_used, n_tokens], possibly a strided view of the argsort result */
    if (t->type != GGML_TYPE_I32 || t->ne[1] != (int64_t)mc->n_tokens || t->ne[0] <= 0 ||
        t->ne[0] > 4096 || t->ne[2] != 1 || t->ne[3] != 1) {
        fprintf(stderr, "%s: warning: unexpected shape of %s, expert choices not recorded\n", prog,
                t->name);
        mc->error = 1;
        return true;
    }
    const char *lstr = t->name + sizeof MOE_PREFIX - 1;
    char *end = NULL;
    long il = strtol(lstr, &end, 10);
    if (end == lstr || *end != '\0' || il < 0 || il > INT_MAX) {
        mc->error = 1;
        return true;
    }
    int k = (int)t->ne[0];
    if (mc->top_k == 0)
        mc->top_k = k;
    if (k != mc->top_k || mc->n_layers >= MAX_MOE_LAYERS) {
        fprintf(stderr,
                "%s: warning: varying top_k or too many MoE layers; expert choices not "
                "recorded\n",
                prog);
        mc->error = 1;
        return true;
    }
    for (int i = 0; i < mc->n_layers; i++) {
        if (mc->layer[i] == (int)il) {
            fprintf(stderr,
                    "%s: warning: layer %ld routed twice (split batch?); expert choices "
                    "not recorded\n",
                    prog, il);
            mc->error = 1;
            return true;
        }
    }
    int32_t *ids = malloc(mc->n_tokens * (size_t)k * sizeof *ids);
    if (!ids)
        die("out of memory");
    if (t->buffer && ggml_backend_buffer_is_host(t->buffer)) {
        for (size_t j = 0; j < mc->n_tokens; j++) {
            for (int e = 0; e < k; e++) {
                const char *p = (const char *)t->data + (size_t)e * t->nb[0] + j * t->nb[1];
                memcpy(&ids[j * (size_t)k + (size_t)e], p, sizeof(int32_t));
            }
        }
    } else if (ggml_is_contiguous(t)) {
        ggml_backend_tensor_get(t, ids, 0, mc->n_tokens * (size_t)k * sizeof *ids);
    } else {
        fprintf(stderr, "%s: warning: %s not readable; expert choices not recorded\n", prog,
                t->name);
        free(ids);
        mc->error = 1;
        return true;
    }
    for (size_t j = 0; j < mc->n_tokens; j++) {
        qsort(&ids[j * (size_t)k], (size_t)k, sizeof *ids, cmp_i32);
    }
    mc->layer[mc->n_layers] = (int)il;
    mc->ids[mc->n_layers] = ids;
    mc->n_layers++;
    return true;
}

/* ---------------------------------------------------------------------------------------- */
/* output */

struct writer {
    FILE *f;
    const char *path;
};

static void w_bytes(struct writer *w, const void *p, size_t n)
{
    if (n && fwrite(p, 1, n, w->f) != n)
        die("writing %s: %s", w->path, strerror(errno));
}

static void w_u32(struct writer *w, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    w_bytes(w, b, 4);
}

static void w_i32(struct writer *w, int32_t v)
{
    w_u32(w, (uint32_t)v);
}

static void w_f32(struct writer *w, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    w_u32(w, u);
}

/* argmax, ties to the lowest id, NaN never chosen (returns -1 if all NaN) */
static int32_t argmax(const float *x, int32_t n)
{
    int32_t best = -1;
    for (int32_t i = 0; i < n; i++) {
        if (isnan(x[i]))
            continue;
        if (best < 0 || x[i] > x[best])
            best = i;
    }
    return best;
}

static void print_version(FILE *f)
{
    fprintf(f, "llama.cpp release %s (node-llama-cpp 3.21.1 prebuilt), ggml %s commit %s\n",
            LLAMACPP_RELEASE, ggml_version(), ggml_commit());
}

int main(int argc, char **argv)
{
    const char *model_path = NULL, *out_path = NULL, *tokens_arg = NULL;
    const char *cpu_variant = NULL, *libdir = NULL;
    long n_gen = 0, n_threads = 1, n_ctx_arg = 0;
    int record_moe = 1;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define NEXT() ((i + 1 < argc) ? argv[++i] : (die("option %s needs an argument", a), (char *)NULL))
        if (!strcmp(a, "--tokens"))
            tokens_arg = NEXT();
        else if (!strcmp(a, "-n"))
            n_gen = parse_long(NEXT(), 0, 1 << 20, "-n");
        else if (!strcmp(a, "-o"))
            out_path = NEXT();
        else if (!strcmp(a, "--threads"))
            n_threads = parse_long(NEXT(), 1, 1024, "--threads");
        else if (!strcmp(a, "--ctx"))
            n_ctx_arg = parse_long(NEXT(), 1, 1 << 24, "--ctx");
        else if (!strcmp(a, "--cpu-variant"))
            cpu_variant = NEXT();
        else if (!strcmp(a, "--libdir"))
            libdir = NEXT();
        else if (!strcmp(a, "--no-moe"))
            record_moe = 0;
        else if (!strcmp(a, "-v"))
            g_verbose = 1;
        else if (!strcmp(a, "--version")) {
            print_version(stdout);
            return 0;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (a[0] == '-' && a[1] != '\0') {
            usage(stderr);
            die("unknown option %s", a);
        } else if (!model_path)
            model_path = a;
        else {
            usage(stderr);
            die("unexpected argument %s", a);
        }
#undef NEXT
    }
    if (!model_path || !tokens_arg || !out_path) {
        usage(stderr);
        die("MODEL, --tokens and -o are required");
    }

    size_t n_prompt = 0;
    int32_t *prompt = parse_tokens(tokens_arg, &n_prompt);
    if (n_prompt > (size_t)INT32_MAX / 2)
        die("prompt too long");

    long n_ctx = n_ctx_arg ? n_ctx_arg : (long)n_prompt + n_gen;
    if (n_ctx < 64)
        n_ctx = 64;
    if ((long)n_prompt + n_gen > n_ctx) {
        die("--ctx %ld is smaller than prompt (%zu) + n (%ld)", n_ctx, n_prompt, n_gen);
    }

    llama_log_set(log_cb, NULL);

    /* backends: the prebuilt package ships one CPU backend per ISA level, loaded at runtime */
    if (!libdir)
        libdir = getenv("LLAMACPP_LIBDIR");
    if (!libdir || !*libdir)
        libdir = LLAMACPP_LIBDIR;
    if (cpu_variant) {
        char path[4096];
        int len = snprintf(path, sizeof path, "%s/libggml-cpu-%s.so", libdir, cpu_variant);
        if (len < 0 || (size_t)len >= sizeof path)
            die("library path too long");
        if (!ggml_backend_load(path))
            die("could not load CPU backend %s", path);
    } else if (*libdir) {
        ggml_backend_load_all_from_path(libdir);
    } else {
        ggml_backend_load_all();
    }
    if (ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU) == NULL) {
        die("no CPU backend could be loaded from '%s' (set --libdir or LLAMACPP_LIBDIR to the "
            "folder holding libggml-cpu-*.so)",
            *libdir ? libdir : "(default search path)");
    }
    llama_backend_init();

    print_version(stderr);
    fprintf(stderr, "%s: system info: %s\n", prog, llama_print_system_info());

    /* model: CPU only, read into memory (no mmap), no weight repacking */
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    mp.load_mode = LLAMA_LOAD_MODE_NONE;
    mp.use_extra_bufts = false;
    mp.check_tensors = true;
    static ggml_backend_dev_t devs[2];
    devs[0] = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    devs[1] = NULL;
    mp.devices = devs;

    struct llama_model *model = llama_model_load_from_file(model_path, mp);
    if (!model)
        die("failed to load model %s (see llama.cpp messages above)", model_path);

    char desc[256];
    llama_model_desc(model, desc, sizeof desc);
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    const int32_t n_vocab = llama_vocab_n_tokens(vocab);
    fprintf(stderr, "%s: model %s: %s, %d layers, vocab %d\n", prog, model_path, desc,
            llama_model_n_layer(model), n_vocab);
    if (n_vocab <= 0)
        die("model has no vocabulary");
    for (size_t i = 0; i < n_prompt; i++) {
        if (prompt[i] >= n_vocab)
            die("token %d at position %zu is outside the vocabulary (%d)", prompt[i], i, n_vocab);
    }

    static struct moe_capture mc;
    memset(&mc, 0, sizeof mc);
    mc.enabled = record_moe;
    mc.n_tokens = n_prompt;

    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)n_ctx;
    cp.n_batch = (uint32_t)n_ctx;
    cp.n_ubatch = (uint32_t)n_ctx; /* whole prompt in one micro-batch */
    cp.n_seq_max = 1;
    cp.n_threads = (int32_t)n_threads;
    cp.n_threads_batch = (int32_t)n_threads;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.type_k = GGML_TYPE_F32;
    cp.type_v = GGML_TYPE_F32;
    cp.offload_kqv = false;
    cp.op_offload = false;
    cp.no_perf = true;
    cp.embeddings = false;
    if (record_moe) {
        cp.cb_eval = eval_cb;
        cp.cb_eval_user_data = &mc;
    }
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx)
        die("failed to create a llama.cpp context (n_ctx %ld)", n_ctx);

    /* prompt: one batch, logits at every position */
    struct llama_batch batch = llama_batch_init((int32_t)n_prompt, 0, 1);
    for (size_t i = 0; i < n_prompt; i++) {
        batch.token[i] = prompt[i];
        batch.pos[i] = (llama_pos)i;
        batch.n_seq_id[i] = 1;
        batch.seq_id[i][0] = 0;
        batch.logits[i] = 1;
    }
    batch.n_tokens = (int32_t)n_prompt;
    mc.active = 1;
    int32_t rc = llama_decode(ctx, batch);
    mc.active = 0;
    if (rc != 0)
        die("llama_decode failed on the prompt (code %d)", rc);

    float *logits = malloc(n_prompt * (size_t)n_vocab * sizeof *logits);
    if (!logits)
        die("out of memory for %zu x %d logits", n_prompt, n_vocab);
    for (size_t i = 0; i < n_prompt; i++) {
        const float *l = llama_get_logits_ith(ctx, (int32_t)i);
        if (!l)
            die("no logits for prompt position %zu", i);
        memcpy(&logits[i * (size_t)n_vocab], l, (size_t)n_vocab * sizeof *l);
    }
    size_t n_nonfinite = 0;
    for (size_t i = 0; i < n_prompt * (size_t)n_vocab; i++)
        n_nonfinite += !isfinite(logits[i]);
    if (n_nonfinite) {
        fprintf(stderr, "%s: warning: %zu non-finite prompt logits\n", prog, n_nonfinite);
    }

    /* greedy continuation, one token at a time */
    int32_t *gen = malloc(((size_t)n_gen + 1) * sizeof *gen);
    if (!gen)
        die("out of memory");
    const float *last = &logits[(n_prompt - 1) * (size_t)n_vocab];
    for (long g = 0; g < n_gen; g++) {
        int32_t next = argmax(last, n_vocab);
        if (next < 0)
            die("all logits are NaN at generation step %ld", g);
        gen[g] = next;
        if (g + 1 == n_gen)
            break;
        struct llama_batch one = llama_batch_get_one(&gen[g], 1);
        /* llama_batch_get_one lets llama.cpp assign the position (n_prompt + g) */
        rc = llama_decode(ctx, one);
        if (rc != 0)
            die("llama_decode failed at generation step %ld (code %d)", g, rc);
        last = llama_get_logits_ith(ctx, -1);
        if (!last)
            die("no logits at generation step %ld", g);
    }

    /* write */
    struct writer w = {fopen(out_path, "wb"), out_path};
    if (!w.f)
        die("cannot open %s for writing: %s", out_path, strerror(errno));
    w_bytes(&w, "WHFX", 4);
    w_u32(&w, 1);
    w_u32(&w, (uint32_t)n_prompt);
    w_u32(&w, (uint32_t)n_vocab);
    for (size_t i = 0; i < n_prompt; i++)
        w_i32(&w, prompt[i]);
    for (size_t i = 0; i < n_prompt * (size_t)n_vocab; i++)
        w_f32(&w, logits[i]);
    w_u32(&w, (uint32_t)n_gen);
    for (long g = 0; g < n_gen; g++)
        w_i32(&w, gen[g]);
    int n_moe = (record_moe && !mc.error) ? mc.n_layers : 0;
    w_u32(&w, (uint32_t)n_moe);
    w_u32(&w, n_moe ? (uint32_t)mc.top_k : 0);
    for (int m = 0; m < n_moe; m++) {
        w_u32(&w, (uint32_t)mc.layer[m]);
        for (size_t j = 0; j < n_prompt * (size_t)mc.top_k; j++)
            w_i32(&w, mc.ids[m][j]);
    }
    w_u32(&w, 0); /* n_bias_changed: not computed by this oracle */
    if (fclose(w.f) != 0)
        die("closing %s: %s", out_path, strerror(errno));

    fprintf(stderr,
            "%s: wrote %s: %zu tokens x %d vocab, %ld generated, %d MoE layers (top_k %d)\n", prog,
            out_path, n_prompt, n_vocab, n_gen, n_moe, n_moe ? mc.top_k : 0);
    if (n_gen > 0) {
        fprintf(stderr, "%s: greedy:", prog);
        for (long g = 0; g < n_gen; g++)
            fprintf(stderr, " %d", gen[g]);
        fputc('\n', stderr);
    }

    for (int m = 0; m < mc.n_layers; m++)
        free(mc.ids[m]);
    free(gen);
    free(logits);
    free(prompt);
    llama_batch_free(batch);
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    return 0;
}
