/*
 * cmd_run.c — `whale run`: greedy generation from token ids (text in and out
 * arrives with the tokenizer). Prints the generated ids on stdout; optionally the
 * top logits of each step and a .whfx dump of every prompt position's logits.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "whale.h"

static void usage(void)
{
    printf("usage: whale run -m MODEL --tokens ID,ID,... [options]\n\n"
           "  -m, --model PATH      model folder, .safetensors or .gguf\n"
           "  --tokens LIST         prompt token ids, comma-separated\n"
           "  -n N                  tokens to generate greedily (default 16)\n"
           "  --top K               print the K largest logits of each step on stderr\n"
           "  --mla absorbed|naive  MLA evaluation order (default absorbed)\n"
           "  --ctx N               context positions (default min(model, 4096))\n"
           "  -t, --threads N       threads (default: one per CPU)\n"
           "  --logits-out FILE     write prompt logits + continuation as .whfx\n"
           "  --exact               reference numerics: F32 activations against dequantised\n"
           "                        weights (default: fast 8-bit activation kernels)\n"
           "  --stop-at-eos         stop when the model's EOS id is generated\n");
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return 0;
    *out = v;
    return 1;
}

/* "1,2,3" -> ids; returns count or -1. */
static int parse_tokens(const char *s, int32_t **out)
{
    int cap = 16, n = 0;
    int32_t *v = malloc((size_t)cap * sizeof *v);
    if (v == NULL)
        return -1;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (end == p || errno != 0 || x < 0 || x > INT32_MAX || (*end != ',' && *end != '\0')) {
            free(v);
            return -1;
        }
        if (n == cap) {
            cap *= 2;
            int32_t *nv = realloc(v, (size_t)cap * sizeof *nv);
            if (nv == NULL) {
                free(v);
                return -1;
            }
            v = nv;
        }
        v[n++] = (int32_t)x;
        p = *end == ',' ? end + 1 : end;
    }
    *out = v;
    return n;
}

static void print_top(long step, const float *logits, int V, int k)
{
    fprintf(stderr, "step %ld top %d:", step, k);
    /* simple selection over a copy */
    int *ids = malloc((size_t)k * sizeof *ids);
    if (ids == NULL)
        return;
    for (int r = 0; r < k && r < V; r++) {
        int best = -1;
        for (int i = 0; i < V; i++) {
            int used = 0;
            for (int q = 0; q < r; q++)
                used |= ids[q] == i;
            if (!used && (best < 0 || logits[i] > logits[best]))
                best = i;
        }
        ids[r] = best;
        fprintf(stderr, " %d:%.5f", best, (double)logits[best]);
    }
    fprintf(stderr, "\n");
    free(ids);
}

static int write_whfx(const char *path, const int32_t *toks, int T, int V, const float *logits,
                      const int32_t *gen, int G)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return 0;
    uint32_t hdr[3] = {1, (uint32_t)T, (uint32_t)V};
    uint32_t g = (uint32_t)G, zero = 0;
    int ok = fwrite("WHFX", 1, 4, f) == 4 && fwrite(hdr, 4, 3, f) == 3 &&
             fwrite(toks, 4, (size_t)T, f) == (size_t)T &&
             fwrite(logits, 4, (size_t)T * V, f) == (size_t)T * V && fwrite(&g, 4, 1, f) == 1 &&
             fwrite(gen, 4, (size_t)G, f) == (size_t)G && fwrite(&zero, 4, 1, f) == 1 &&
             fwrite(&zero, 4, 1, f) == 1 && fwrite(&zero, 4, 1, f) == 1;
    return fclose(f) == 0 && ok;
}

int cmd_run(int argc, char **argv)
{
    const char *path = NULL, *toks = NULL, *dump = NULL;
    long n_gen = 16, top = 0, ctx = 0, threads = 0;
    int naive = 0, stop_eos = 0, exact = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            return 0;
        } else if ((strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) && has) {
            path = argv[++i];
        } else if (strcmp(a, "--tokens") == 0 && has) {
            toks = argv[++i];
        } else if (strcmp(a, "-n") == 0 && has) {
            if (!parse_int(argv[++i], 0, 1 << 20, &n_gen))
                return cli_fail("run: -n needs a count (0..1048576)");
        } else if (strcmp(a, "--top") == 0 && has) {
            if (!parse_int(argv[++i], 1, 100, &top))
                return cli_fail("run: --top needs 1..100");
        } else if (strcmp(a, "--ctx") == 0 && has) {
            if (!parse_int(argv[++i], 1, 1 << 24, &ctx))
                return cli_fail("run: --ctx needs a positive count");
        } else if ((strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0) && has) {
            if (!parse_int(argv[++i], 1, 1024, &threads))
                return cli_fail("run: --threads needs 1..1024");
        } else if (strcmp(a, "--mla") == 0 && has) {
            const char *v = argv[++i];
            if (strcmp(v, "naive") == 0)
                naive = 1;
            else if (strcmp(v, "absorbed") != 0)
                return cli_fail("run: --mla is absorbed or naive");
        } else if (strcmp(a, "--logits-out") == 0 && has) {
            dump = argv[++i];
        } else if (strcmp(a, "--exact") == 0) {
            exact = 1;
        } else if (strcmp(a, "--stop-at-eos") == 0) {
            stop_eos = 1;
        } else {
            return cli_fail("run: unexpected argument \"%s\" (see whale run --help)", a);
        }
    }
    if (path == NULL)
        return cli_fail("run: no model given: whale run -m MODEL --tokens 1,2,3");
    if (toks == NULL)
        return cli_fail("run: no prompt given: --tokens 1,2,3 (text prompts arrive with the "
                        "tokenizer)");
    int32_t *prompt = NULL;
    int T = parse_tokens(toks, &prompt);
    if (T <= 0)
        return cli_fail("run: --tokens must be non-negative integers separated by commas");

    wh_error err = {0};
    wh_model *m = NULL;
    if (wh_model_load(path, &m, &err) != WH_OK) {
        free(prompt);
        return cli_fail("%s", err.msg);
    }
    const wh_config *c = wh_model_config(m);
    int V = c->vocab_size;
    wh_session_opts so = {.n_ctx = (int)ctx,
                          .mla = naive ? WH_MLA_NAIVE : WH_MLA_ABSORBED,
                          .n_threads = (int)threads,
                          .exact = exact};
    if (so.n_ctx == 0) {
        long need = T + n_gen;
        so.n_ctx = need < c->max_position_embeddings ? (int)need : c->max_position_embeddings;
        if (so.n_ctx > 4096 && need <= 4096)
            so.n_ctx = 4096;
    }
    wh_session *s = NULL;
    int rc = 1;
    float *logits = NULL;
    int32_t *gen = NULL;
    if (wh_session_new(m, &so, &s, &err) != WH_OK) {
        cli_fail("%s", err.msg);
        goto done;
    }
    if ((long)T + n_gen > so.n_ctx) {
        cli_fail("run: %d prompt + %ld new tokens exceed the context of %d", T, n_gen, so.n_ctx);
        goto done;
    }
    logits = malloc((size_t)T * (size_t)V * sizeof(float));
    gen = malloc((size_t)(n_gen + 1) * sizeof(int32_t));
    if (logits == NULL || gen == NULL) {
        cli_fail("run: out of memory");
        goto done;
    }
    if (wh_session_eval(s, prompt, T, logits, 1, &err) != WH_OK) {
        cli_fail("%s", err.msg);
        goto done;
    }
    float *last = logits + (size_t)(T - 1) * V;
    float *step = malloc((size_t)V * sizeof(float));
    if (step == NULL) {
        cli_fail("run: out of memory");
        goto done;
    }
    memcpy(step, last, (size_t)V * sizeof(float));
    int G = 0;
    for (long i = 0; i < n_gen; i++) {
        if (top > 0)
            print_top(i, step, V, (int)top);
        int32_t next = wh_argmax(step, V);
        gen[G++] = next;
        if (stop_eos && next == c->eos_token_id)
            break;
        if (i + 1 == n_gen)
            break;
        if (wh_session_eval(s, &next, 1, step, 0, &err) != WH_OK) {
            free(step);
            cli_fail("%s", err.msg);
            goto done;
        }
    }
    for (int i = 0; i < G; i++)
        printf("%s%d", i ? " " : "", gen[i]);
    printf("\n");
    free(step);
    if (dump != NULL && !write_whfx(dump, prompt, T, V, logits, gen, G)) {
        cli_fail("run: cannot write %s", dump);
        goto done;
    }
    rc = 0;
done:
    free(logits);
    free(gen);
    free(prompt);
    wh_session_free(s);
    wh_model_free(m);
    return rc;
}
