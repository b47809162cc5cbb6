/* whfx.h — test-side reader of the .whfx expected-output files (docs/FIXTURE_FORMAT.md). */
#ifndef WH_TESTS_WHFX_H
#define WH_TESTS_WHFX_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct whfx {
    uint32_t T, V, G, n_moe, top_k, n_bias_changed;
    int32_t *tokens;     /* [T] */
    float *logits;       /* [T][V] */
    int32_t *gen;        /* [G] */
    uint32_t *moe_layer; /* [n_moe] */
    int32_t *experts;    /* [n_moe][T][top_k] */
} whfx;

static inline int whfx_rd(FILE *f, void *p, size_t n)
{
    return fread(p, 1, n, f) == n;
}

/* Returns 1 on success. Sizes are bounded: the files are the project's own fixtures. */
static inline int whfx_load(const char *path, whfx *x)
{
    memset(x, 0, sizeof *x);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return 0;
    char magic[4];
    uint32_t ver;
    int ok = whfx_rd(f, magic, 4) && memcmp(magic, "WHFX", 4) == 0 && whfx_rd(f, &ver, 4) &&
             ver == 1 && whfx_rd(f, &x->T, 4) && whfx_rd(f, &x->V, 4) && x->T < 65536 &&
             x->V < (1u << 24);
    if (ok) {
        x->tokens = malloc(4 * (size_t)x->T + 4);
        x->logits = malloc(4 * (size_t)x->T * x->V + 4);
        ok = x->tokens && x->logits && whfx_rd(f, x->tokens, 4 * (size_t)x->T) &&
             whfx_rd(f, x->logits, 4 * (size_t)x->T * x->V) && whfx_rd(f, &x->G, 4) && x->G < 65536;
    }
    if (ok) {
        x->gen = malloc(4 * (size_t)x->G + 4);
        ok = x->gen && whfx_rd(f, x->gen, 4 * (size_t)x->G) && whfx_rd(f, &x->n_moe, 4) &&
             whfx_rd(f, &x->top_k, 4) && x->n_moe < 4096 && x->top_k < 4096;
    }
    if (ok) {
        x->moe_layer = malloc(4 * (size_t)x->n_moe + 4);
        x->experts = malloc(4 * (size_t)x->n_moe * x->T * x->top_k + 4);
        ok = x->moe_layer && x->experts;
        for (uint32_t i = 0; ok && i < x->n_moe; i++)
            ok = whfx_rd(f, &x->moe_layer[i], 4) &&
                 whfx_rd(f, x->experts + (size_t)i * x->T * x->top_k, 4 * (size_t)x->T * x->top_k);
        ok = ok && whfx_rd(f, &x->n_bias_changed, 4);
    }
    fclose(f);
    return ok;
}

static inline void whfx_free(whfx *x)
{
    free(x->tokens);
    free(x->logits);
    free(x->gen);
    free(x->moe_layer);
    free(x->experts);
    memset(x, 0, sizeof *x);
}

#endif
