/*
 * fx_compare: compare two expected-output files (.whfx, docs/FIXTURE_FORMAT.md).
 *
 *   fx_compare A.whfx B.whfx [--tol 1e-4] [--gen N] [--ignore-moe]
 *
 * Checks that both files hold the same prompt and vocabulary size, reports the largest
 * absolute logit difference (and where), compares the greedy continuations (the first N
 * tokens; by default all tokens the two have in common) and, when both files record them,
 * the routed-expert choices.
 *
 * Exit status: 0 within tolerance and equal, 1 different, 2 unreadable/malformed file or bad
 * usage.  Sizes read from the files are never trusted: every count is checked against the
 * bytes actually present, and the file must end exactly where the format says.
 *
 * C11, no dependencies.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_DIFF 1
#define EXIT_BAD 2

static void fail_usage(const char *fmt, ...)
{
    va_list ap;
    fputs("fx_compare: error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nusage: fx_compare A.whfx B.whfx [--tol X] [--gen N] [--ignore-moe]\n", stderr);
    exit(EXIT_BAD);
}

/* ---------------------------------------------------------------------------------------- */

struct moe_layer {
    uint32_t layer;
    const unsigned char *ids; /* i32[n_tokens][top_k], little-endian */
};

struct fx {
    const char *path;
    unsigned char *buf;
    size_t size;
    uint32_t n_tokens, vocab;
    const unsigned char *tokens; /* i32[n_tokens] */
    const unsigned char *logits; /* f32[n_tokens][vocab] */
    uint32_t n_gen;
    const unsigned char *gen; /* i32[n_gen] */
    uint32_t n_moe, top_k;
    struct moe_layer *moe;
    uint32_t n_bias_changed;
};

static uint32_t rd_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int32_t rd_i32(const unsigned char *p)
{
    uint32_t u = rd_u32(p);
    int32_t v;
    memcpy(&v, &u, 4);
    return v;
}

static float rd_f32(const unsigned char *p)
{
    uint32_t u = rd_u32(p);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void bad(const struct fx *f, size_t off, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "fx_compare: error: %s: at byte offset %zu: ", f->path, off);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(EXIT_BAD);
}

static void read_all(struct fx *f)
{
    FILE *fp = fopen(f->path, "rb");
    if (!fp) {
        fprintf(stderr, "fx_compare: error: cannot open %s: %s\n", f->path, strerror(errno));
        exit(EXIT_BAD);
    }
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    if (!buf)
        goto oom;
    for (;;) {
        if (n == cap) {
            if (cap > SIZE_MAX / 2)
                goto oom;
            unsigned char *nb = realloc(buf, cap * 2);
            if (!nb)
                goto oom;
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(fp)) {
        fprintf(stderr, "fx_compare: error: reading %s failed\n", f->path);
        exit(EXIT_BAD);
    }
    fclose(fp);
    f->buf = buf;
    f->size = n;
    return;
oom:
    fprintf(stderr, "fx_compare: error: out of memory reading %s\n", f->path);
    exit(EXIT_BAD);
}

/* cursor helpers: every read checks the remaining size first */
struct cur {
    struct fx *f;
    size_t off;
};

static size_t remaining(const struct cur *c)
{
    return c->f->size - c->off;
}

static uint32_t take_u32(struct cur *c, const char *what)
{
    if (remaining(c) < 4)
        bad(c->f, c->off, "file ends inside %s (truncated)", what);
    uint32_t v = rd_u32(c->f->buf + c->off);
    c->off += 4;
    return v;
}

/* reserve count*elem bytes, overflow-safe; returns pointer to the start */
static const unsigned char *take_array(struct cur *c, uint64_t count, uint64_t count2,
                                       const char *what)
{
    /* bytes = count * count2 * 4, checked against the remaining size without overflow */
    uint64_t rem = remaining(c);
    if (count2 != 0 && count > rem / 4 / count2) {
        bad(c->f, c->off,
            "%s needs %llu x %llu x 4 bytes but only %llu bytes remain (size fields do not "
            "match the file size)",
            what, (unsigned long long)count, (unsigned long long)count2, (unsigned long long)rem);
    }
    size_t bytes = (size_t)(count * count2 * 4);
    const unsigned char *p = c->f->buf + c->off;
    c->off += bytes;
    return p;
}

static void parse(struct fx *f)
{
    struct cur c = {f, 0};
    if (f->size < 4 || memcmp(f->buf, "WHFX", 4) != 0)
        bad(f, 0, "bad magic (expected 'WHFX')");
    c.off = 4;
    uint32_t version = take_u32(&c, "version");
    if (version != 1)
        bad(f, 4, "unsupported version %u (expected 1)", version);
    f->n_tokens = take_u32(&c, "n_tokens");
    f->vocab = take_u32(&c, "vocab");
    if (f->n_tokens == 0)
        bad(f, 8, "n_tokens is 0");
    if (f->vocab == 0)
        bad(f, 12, "vocab is 0");
    size_t tok_off = c.off;
    f->tokens = take_array(&c, f->n_tokens, 1, "tokens");
    for (uint32_t i = 0; i < f->n_tokens; i++) {
        int32_t t = rd_i32(f->tokens + 4 * (size_t)i);
        if (t < 0 || (uint32_t)t >= f->vocab) {
            bad(f, tok_off + 4 * (size_t)i, "prompt token %d at position %u outside vocab %u", t, i,
                f->vocab);
        }
    }
    f->logits = take_array(&c, f->n_tokens, f->vocab, "logits (n_tokens x vocab)");
    f->n_gen = take_u32(&c, "n_gen");
    size_t gen_off = c.off;
    f->gen = take_array(&c, f->n_gen, 1, "gen");
    for (uint32_t i = 0; i < f->n_gen; i++) {
        int32_t t = rd_i32(f->gen + 4 * (size_t)i);
        if (t < 0 || (uint32_t)t >= f->vocab) {
            bad(f, gen_off + 4 * (size_t)i, "generated token %d (step %u) outside vocab %u", t, i,
                f->vocab);
        }
    }
    size_t moe_off = c.off;
    f->n_moe = take_u32(&c, "n_moe_layers");
    f->top_k = take_u32(&c, "top_k");
    if (f->n_moe == 0 && f->top_k != 0)
        bad(f, moe_off + 4, "top_k %u with n_moe_layers 0", f->top_k);
    if (f->n_moe != 0 && f->top_k == 0)
        bad(f, moe_off + 4, "top_k 0 with %u MoE layers", f->n_moe);
    if (f->n_moe) {
        /* each layer needs at least 4 + 4*n_tokens*top_k bytes: bound n_moe before allocating */
        if (f->n_moe > remaining(&c) / 4) {
            bad(f, moe_off, "n_moe_layers %u does not fit in the file", f->n_moe);
        }
        f->moe = calloc(f->n_moe, sizeof *f->moe);
        if (!f->moe)
            bad(f, moe_off, "out of memory");
    }
    for (uint32_t m = 0; m < f->n_moe; m++) {
        size_t loff = c.off;
        f->moe[m].layer = take_u32(&c, "MoE layer index");
        for (uint32_t j = 0; j < m; j++) {
            if (f->moe[j].layer == f->moe[m].layer)
                bad(f, loff, "MoE layer %u listed twice", f->moe[m].layer);
        }
        size_t ids_off = c.off;
        f->moe[m].ids = take_array(&c, f->n_tokens, f->top_k, "MoE expert ids (n_tokens x top_k)");
        for (uint64_t i = 0; i < (uint64_t)f->n_tokens * f->top_k; i++) {
            if (rd_i32(f->moe[m].ids + 4 * i) < 0)
                bad(f, ids_off + 4 * i, "negative expert id");
        }
    }
    f->n_bias_changed = take_u32(&c, "n_bias_changed");
    if (c.off != f->size) {
        bad(f, c.off, "%zu unexpected trailing bytes (sizes do not match the file size)",
            f->size - c.off);
    }
}

/* ---------------------------------------------------------------------------------------- */

static uint32_t argmax_row(const unsigned char *row, uint32_t n)
{
    uint32_t best = 0;
    float bv = NAN;
    for (uint32_t i = 0; i < n; i++) {
        float v = rd_f32(row + 4 * (size_t)i);
        if (isnan(v))
            continue;
        if (isnan(bv) || v > bv) {
            bv = v;
            best = i;
        }
    }
    return best;
}

int main(int argc, char **argv)
{
    const char *pa = NULL, *pb = NULL;
    double tol = 1e-4;
    long gen_req = -1;
    int ignore_moe = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--tol") || !strcmp(a, "--gen")) {
            if (i + 1 >= argc)
                fail_usage("%s needs a value", a);
            const char *v = argv[++i];
            char *end = NULL;
            errno = 0;
            if (!strcmp(a, "--tol")) {
                tol = strtod(v, &end);
                if (end == v || *end || errno || !(tol >= 0))
                    fail_usage("bad --tol '%s'", v);
            } else {
                gen_req = strtol(v, &end, 10);
                if (end == v || *end || errno || gen_req < 0)
                    fail_usage("bad --gen '%s'", v);
            }
        } else if (!strcmp(a, "--ignore-moe")) {
            ignore_moe = 1;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf(
                "usage: fx_compare A.whfx B.whfx [--tol X] [--gen N] [--ignore-moe]\n"
                "  --tol X        max allowed absolute logit difference (default 1e-4)\n"
                "  --gen N        compare the first N generated tokens (default: all in common)\n"
                "  --ignore-moe   do not compare routed-expert choices\n"
                "exit: 0 equal within tolerance, 1 different, 2 bad file or usage\n");
            return 0;
        } else if (a[0] == '-' && a[1]) {
            fail_usage("unknown option %s", a);
        } else if (!pa) {
            pa = a;
        } else if (!pb) {
            pb = a;
        } else {
            fail_usage("too many files");
        }
    }
    if (!pa || !pb)
        fail_usage("two files are required");

    struct fx A = {.path = pa}, B = {.path = pb};
    read_all(&A);
    parse(&A);
    read_all(&B);
    parse(&B);

    printf("A: %s: %u tokens, vocab %u, %u generated, %u MoE layers (top_k %u)\n", pa, A.n_tokens,
           A.vocab, A.n_gen, A.n_moe, A.top_k);
    printf("B: %s: %u tokens, vocab %u, %u generated, %u MoE layers (top_k %u)\n", pb, B.n_tokens,
           B.vocab, B.n_gen, B.n_moe, B.top_k);

    int ok = 1;
    if (A.vocab != B.vocab) {
        printf("FAIL vocab differs: %u vs %u\n", A.vocab, B.vocab);
        ok = 0;
        goto done;
    }
    if (A.n_tokens != B.n_tokens) {
        printf("FAIL prompt length differs: %u vs %u\n", A.n_tokens, B.n_tokens);
        ok = 0;
        goto done;
    }
    for (uint32_t i = 0; i < A.n_tokens; i++) {
        int32_t ta = rd_i32(A.tokens + 4 * (size_t)i), tb = rd_i32(B.tokens + 4 * (size_t)i);
        if (ta != tb) {
            printf("FAIL prompt differs at position %u: %d vs %d\n", i, ta, tb);
            ok = 0;
            goto done;
        }
    }

    /* logits */
    const uint32_t T = A.n_tokens, V = A.vocab;
    double max_abs = -1, sum_abs = 0, max_mag = 0;
    uint32_t wp = 0, wt = 0;
    float wa = 0, wb = 0;
    size_t n_nan_mismatch = 0, n_top1_diff = 0;
    uint32_t first_top1_diff = UINT32_MAX;
    for (uint32_t t = 0; t < T; t++) {
        const unsigned char *ra = A.logits + 4 * (size_t)t * V, *rb = B.logits + 4 * (size_t)t * V;
        for (uint32_t v = 0; v < V; v++) {
            float a = rd_f32(ra + 4 * (size_t)v), b = rd_f32(rb + 4 * (size_t)v);
            double d;
            if (isnan(a) || isnan(b)) {
                if (isnan(a) && isnan(b))
                    continue;
                n_nan_mismatch++;
                d = INFINITY;
            } else if (a == b) {
                d = 0; /* also equal infinities */
            } else {
                d = fabs((double)a - (double)b);
            }
            if (isfinite(a) && fabs(a) > max_mag)
                max_mag = fabs(a);
            if (isfinite(d))
                sum_abs += d;
            if (d > max_abs) {
                max_abs = d;
                wp = t;
                wt = v;
                wa = a;
                wb = b;
            }
        }
        if (argmax_row(ra, V) != argmax_row(rb, V)) {
            if (!n_top1_diff)
                first_top1_diff = t;
            n_top1_diff++;
        }
    }
    printf("logits: max |A-B| = %.6g at position %u, token %u (A %.8g, B %.8g); mean |A-B| = %.3g; "
           "max |logit| = %.4g; tol %.3g\n",
           max_abs, wp, wt, (double)wa, (double)wb, sum_abs / ((double)T * V), max_mag, tol);
    if (n_nan_mismatch)
        printf("logits: %zu values NaN in only one file\n", n_nan_mismatch);
    if (n_top1_diff) {
        printf("logits: argmax differs at %zu of %u positions (first: %u)\n", n_top1_diff, T,
               first_top1_diff);
    }
    if (!(max_abs <= tol)) {
        printf("FAIL logits differ by more than %.3g\n", tol);
        ok = 0;
    }

    /* greedy continuation */
    uint32_t common = A.n_gen < B.n_gen ? A.n_gen : B.n_gen;
    uint32_t ncmp = common;
    if (gen_req >= 0) {
        if ((uint64_t)gen_req > common) {
            printf("FAIL --gen %ld requested but the files hold %u and %u generated tokens\n",
                   gen_req, A.n_gen, B.n_gen);
            ok = 0;
        } else {
            ncmp = (uint32_t)gen_req;
        }
    }
    uint32_t gen_eq = 0;
    while (gen_eq < ncmp &&
           rd_i32(A.gen + 4 * (size_t)gen_eq) == rd_i32(B.gen + 4 * (size_t)gen_eq)) {
        gen_eq++;
    }
    if (gen_eq < ncmp) {
        printf("FAIL greedy continuation differs at step %u: %d vs %d (compared %u)\n", gen_eq,
               rd_i32(A.gen + 4 * (size_t)gen_eq), rd_i32(B.gen + 4 * (size_t)gen_eq), ncmp);
        ok = 0;
    } else {
        printf("greedy: first %u generated tokens equal\n", ncmp);
    }

    /* routed experts */
    if (A.n_moe && B.n_moe && !ignore_moe) {
        if (A.top_k != B.top_k) {
            printf("FAIL MoE top_k differs: %u vs %u\n", A.top_k, B.top_k);
            ok = 0;
        } else {
            uint32_t n_layers = 0, n_missing = 0;
            size_t n_diff = 0;
            int have_first = 0;
            uint32_t fl = 0, ft = 0;
            for (uint32_t m = 0; m < A.n_moe; m++) {
                const struct moe_layer *lb = NULL;
                for (uint32_t j = 0; j < B.n_moe; j++) {
                    if (B.moe[j].layer == A.moe[m].layer)
                        lb = &B.moe[j];
                }
                if (!lb) {
                    n_missing++;
                    continue;
                }
                n_layers++;
                for (uint32_t t = 0; t < T; t++) {
                    size_t o = 4 * (size_t)t * A.top_k;
                    if (memcmp(A.moe[m].ids + o, lb->ids + o, 4 * (size_t)A.top_k) != 0) {
                        if (!have_first) {
                            have_first = 1;
                            fl = A.moe[m].layer;
                            ft = t;
                        }
                        n_diff++;
                    }
                }
            }
            n_missing += B.n_moe - n_layers;
            if (n_missing)
                printf("MoE: %u layers recorded in only one file\n", n_missing);
            if (n_diff) {
                printf("FAIL MoE expert choices differ for %zu (token, layer) pairs of %zu "
                       "(first: layer %u, token %u)\n",
                       n_diff, (size_t)n_layers * T, fl, ft);
                ok = 0;
            } else {
                printf("MoE: expert choices equal in %u common layers\n", n_layers);
            }
        }
    }
    if (A.n_bias_changed || B.n_bias_changed) {
        printf("bias-changed choices: %u vs %u\n", A.n_bias_changed, B.n_bias_changed);
    }

done:
    printf("%s\n", ok ? "OK" : "DIFFERENT");
    free(A.moe);
    free(B.moe);
    free(A.buf);
    free(B.buf);
    return ok ? 0 : EXIT_DIFF;
}
