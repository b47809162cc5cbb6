/*
 * tok_bench.c — whale's side of bench/tok_bench.sh (tokenizer speed). Modes:
 *
 *   tok_bench load VOCAB REPS
 *       loads VOCAB (tokenizer.json, its folder, or a .gguf) REPS times; prints
 *       "whale load_ms_median X load_ms_min Y cpu_ms_median Z n_vocab N pre P" (wall
 *       clock; cpu: this process's CPU time, which other load on the machine hardly moves)
 *   tok_bench encode VOCAB TEXT REPS CHUNK [IDS_OUT]
 *       encodes TEXT (no BOS, special tokens not parsed, as llama_tok_bench does) once
 *       untimed (writing the ids to IDS_OUT, format in tok_common.h), then REPS timed
 *       times; prints "whale mbps_median X mbps_min Y mbps_max Z bytes B tokens T chunks C"
 *   tok_bench mkgguf TOKENIZER_JSON PRE OUT.gguf
 *       writes a vocabulary-only GGUF (tokenizer.ggml.model "gpt2", tokenizer.ggml.pre PRE,
 *       tokens in the file's byte-level spelling, token_type, merges, bos/eos) with whale's
 *       GGUF writer, so that llama.cpp and whale read the very same vocabulary data
 *   tok_bench cmp VOCAB A.ids B.ids
 *       counts the chunks where two ids files differ and their differing tokens (what
 *       is left after the common prefix and suffix of each chunk) and shows the
 *       text around the first difference (decoded with VOCAB)
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "formats/gguf_write.h"
#include "tok_common.h"
#include "whale.h"

static int die(const char *what, const wh_error *err)
{
    fprintf(stderr, "tok_bench: %s%s%s\n", what, err ? ": " : "", err ? err->msg : "");
    return 1;
}

static wh_tokenizer *load(const char *path)
{
    wh_error err = {0};
    wh_tokenizer *t = NULL;
    if (wh_tokenizer_load(path, &t, &err) != WH_OK) {
        die(path, &err);
        return NULL;
    }
    return t;
}

static int cmd_load(const char *path, int reps)
{
    double *ms = calloc((size_t)reps, sizeof *ms), *cpu = calloc((size_t)reps, sizeof *cpu),
           best = 1e30;
    int32_t nv = 0;
    const char *pre = "";
    if (ms == NULL || cpu == NULL)
        return die("out of memory", NULL);
    for (int r = 0; r < reps; r++) {
        double t0 = tb_now(), c0 = tb_cpu();
        wh_tokenizer *t = load(path);
        ms[r] = (tb_now() - t0) * 1e3;
        cpu[r] = (tb_cpu() - c0) * 1e3;
        if (t == NULL)
            return 1;
        nv = wh_tokenizer_n_vocab(t);
        pre = wh_tokenizer_pre_name(t);
        if (ms[r] < best)
            best = ms[r];
        if (r == reps - 1) { /* pre points into t: print before freeing it */
            printf(
                "whale load_ms_median %.1f load_ms_min %.1f cpu_ms_median %.1f n_vocab %d pre %s\n",
                tb_median(ms, reps), best, tb_median(cpu, reps), (int)nv, pre);
        }
        wh_tokenizer_free(t);
    }
    free(ms);
    free(cpu);
    return 0;
}

static int encode_all(const wh_tokenizer *t, const char *text, const size_t *off, size_t n_chunks,
                      FILE *ids_out, size_t *n_tokens)
{
    wh_error err = {0};
    size_t total = 0;
    for (size_t c = 0; c < n_chunks; c++) {
        int32_t *ids = NULL;
        size_t n = 0;
        if (wh_tokenizer_encode(t, text + off[c], off[c + 1] - off[c], 0, &ids, &n, &err) != WH_OK)
            return die("encode", &err);
        if (ids_out != NULL) {
            uint32_t k = (uint32_t)n;
            if (fwrite(&k, sizeof k, 1, ids_out) != 1 ||
                fwrite(ids, sizeof *ids, n, ids_out) != n) {
                wh_free(ids);
                return die("write ids", NULL);
            }
        }
        total += n;
        wh_free(ids);
    }
    *n_tokens = total;
    return 0;
}

static int cmd_encode(const char *vocab, const char *text_path, int reps, size_t chunk,
                      const char *ids_path)
{
    size_t len = 0, *off = NULL;
    char *text = tb_read_file(text_path, &len);
    if (text == NULL)
        return die(text_path, NULL);
    size_t n_chunks = tb_chunks(text, len, chunk, &off);
    wh_tokenizer *t = load(vocab);
    if (t == NULL || off == NULL)
        return 1;
    FILE *f = NULL;
    if (ids_path != NULL && (f = fopen(ids_path, "wb")) == NULL)
        return die(ids_path, NULL);
    size_t n_tokens = 0;
    if (encode_all(t, text, off, n_chunks, f, &n_tokens))
        return 1;
    if (f != NULL && fclose(f) != 0)
        return die(ids_path, NULL);
    double *mbps = calloc((size_t)reps, sizeof *mbps), lo = 1e30, hi = 0;
    if (mbps == NULL)
        return die("out of memory", NULL);
    for (int r = 0; r < reps; r++) {
        size_t n = 0;
        double t0 = tb_now();
        if (encode_all(t, text, off, n_chunks, NULL, &n))
            return 1;
        double dt = tb_now() - t0;
        mbps[r] = (double)len / dt / 1e6;
        lo = mbps[r] < lo ? mbps[r] : lo;
        hi = mbps[r] > hi ? mbps[r] : hi;
    }
    printf("whale mbps_median %.2f mbps_min %.2f mbps_max %.2f bytes %zu tokens %zu chunks %zu\n",
           tb_median(mbps, reps), lo, hi, len, n_tokens, n_chunks);
    free(mbps);
    free(off);
    free(text);
    wh_tokenizer_free(t);
    return 0;
}

/* ---- mkgguf ---- */

static int cmd_mkgguf(const char *json_path, const char *pre, const char *out)
{
    /* bos/eos as whale reads them (tokenizer_config.json beside the file) */
    wh_tokenizer *wt = load(json_path);
    if (wt == NULL)
        return 1;
    int32_t bos = wh_tokenizer_bos(wt), eos = wh_tokenizer_eos(wt);
    wh_tokenizer_free(wt);

    json_object *root = json_object_from_file(json_path), *model, *vocab, *merges, *added;
    if (root == NULL || !json_object_object_get_ex(root, "model", &model) ||
        !json_object_object_get_ex(model, "vocab", &vocab) ||
        !json_object_object_get_ex(model, "merges", &merges) ||
        !json_object_object_get_ex(root, "added_tokens", &added))
        return die("tokenizer.json lacks model.vocab, model.merges or added_tokens", NULL);
    size_t n = 0, n_added = json_object_array_length(added),
           n_merges = json_object_array_length(merges);
    json_object_object_foreach(vocab, k0, v0)
    {
        (void)k0;
        if ((size_t)json_object_get_int(v0) + 1 > n)
            n = (size_t)json_object_get_int(v0) + 1;
    }
    for (size_t i = 0; i < n_added; i++) {
        json_object *id;
        if (json_object_object_get_ex(json_object_array_get_idx(added, i), "id", &id) &&
            (size_t)json_object_get_int(id) + 1 > n)
            n = (size_t)json_object_get_int(id) + 1;
    }
    const char **spell = calloc(n, sizeof *spell);
    char **owned = calloc(n + n_merges, sizeof *owned);
    int32_t *type = calloc(n, sizeof *type);
    const char **mer = calloc(n_merges ? n_merges : 1, sizeof *mer);
    if (spell == NULL || owned == NULL || type == NULL || mer == NULL)
        return die("out of memory", NULL);
    size_t n_owned = 0;
    json_object_object_foreach(vocab, k, v)
    {
        int id = json_object_get_int(v);
        if (id < 0)
            return die("negative id in model.vocab", NULL);
        spell[id] = k;
        type[id] = 1; /* NORMAL */
    }
    for (size_t i = 0; i < n_added; i++) {
        json_object *a = json_object_array_get_idx(added, i), *id, *c, *sp;
        if (!json_object_object_get_ex(a, "id", &id) ||
            !json_object_object_get_ex(a, "content", &c))
            return die("added_tokens entry without id or content", NULL);
        int special = json_object_object_get_ex(a, "special", &sp) && json_object_get_boolean(sp);
        int k2 = json_object_get_int(id);
        if (k2 < 0)
            return die("negative id in added_tokens", NULL);
        spell[k2] = json_object_get_string(c);
        type[k2] = special ? 3 : 4; /* CONTROL : USER_DEFINED */
    }
    for (size_t i = 0; i < n; i++) {
        if (spell[i] == NULL) { /* a hole in the id range: an unused token */
            char name[32];
            snprintf(name, sizeof name, "[UNUSED%zu]", i);
            if ((owned[n_owned] = strdup(name)) == NULL)
                return die("out of memory", NULL);
            spell[i] = owned[n_owned++];
            type[i] = 5;
        }
    }
    for (size_t i = 0; i < n_merges; i++) {
        json_object *m = json_object_array_get_idx(merges, i);
        if (json_object_is_type(m, json_type_array)) {
            const char *a = json_object_get_string(json_object_array_get_idx(m, 0));
            const char *b = json_object_get_string(json_object_array_get_idx(m, 1));
            size_t la = strlen(a), lb = strlen(b);
            char *s = malloc(la + lb + 2);
            if (s == NULL)
                return die("out of memory", NULL);
            memcpy(s, a, la);
            s[la] = ' ';
            memcpy(s + la + 1, b, lb + 1);
            mer[i] = owned[n_owned++] = s;
        } else {
            mer[i] = json_object_get_string(m);
        }
    }
    wh_error err = {0};
    wh_gguf_writer *w = NULL;
    if (wh_gguf_writer_new(&w, &err) != WH_OK)
        return die("gguf writer", &err);
    /* llama.cpp needs an architecture and its required hyperparameters even for a
     * vocab_only load; the values (a tiny llama) do not affect tokenization. */
    int bad = wh_gguf_set_str(w, "general.architecture", "llama") |
              wh_gguf_set_str(w, "general.name", "whale tok_bench vocabulary") |
              wh_gguf_set_u32(w, "llama.block_count", 1) |
              wh_gguf_set_u32(w, "llama.context_length", 4096) |
              wh_gguf_set_u32(w, "llama.embedding_length", 64) |
              wh_gguf_set_u32(w, "llama.feed_forward_length", 128) |
              wh_gguf_set_u32(w, "llama.attention.head_count", 4) |
              wh_gguf_set_u32(w, "llama.attention.head_count_kv", 4) |
              wh_gguf_set_f32(w, "llama.rope.freq_base", 10000.0f) |
              wh_gguf_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-6f) |
              wh_gguf_set_u32(w, "llama.rope.dimension_count", 16) |
              wh_gguf_set_u32(w, "llama.vocab_size", (uint32_t)n) |
              wh_gguf_set_str(w, "tokenizer.ggml.model", "gpt2") |
              wh_gguf_set_str(w, "tokenizer.ggml.pre", pre) |
              wh_gguf_set_arr_str(w, "tokenizer.ggml.tokens", spell, n) |
              wh_gguf_set_arr_i32(w, "tokenizer.ggml.token_type", type, n) |
              wh_gguf_set_arr_str(w, "tokenizer.ggml.merges", mer, n_merges);
    if (bos >= 0)
        bad |= wh_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)bos);
    if (eos >= 0)
        bad |= wh_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)eos);
    bad |= wh_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", bos >= 0);
    bad |= wh_gguf_set_bool(w, "tokenizer.ggml.add_eos_token", 0);
    if (bad)
        return die("gguf metadata: out of memory", NULL);
    if (wh_gguf_writer_begin(w, out, &err) != WH_OK || wh_gguf_writer_finish(w, &err) != WH_OK)
        return die(out, &err);
    wh_gguf_writer_free(w);
    printf("wrote %s: %zu tokens, %zu merges, pre %s, bos %d, eos %d\n", out, n, n_merges, pre,
           (int)bos, (int)eos);
    for (size_t i = 0; i < n_owned; i++)
        free(owned[i]);
    free(owned);
    free(spell);
    free(type);
    free(mer);
    json_object_put(root);
    return 0;
}

/* ---- cmp ---- */

typedef struct ids_file {
    uint32_t *p; /* counts and ids, as written */
    size_t n;    /* words */
} ids_file;

static int read_ids(const char *path, ids_file *f)
{
    size_t len = 0;
    char *p = tb_read_file(path, &len);
    if (p == NULL || len % 4)
        return die(path, NULL);
    f->p = (uint32_t *)(void *)p;
    f->n = len / 4;
    return 0;
}

static void show(const wh_tokenizer *t, const char *side, const uint32_t *ids, size_t n, size_t at)
{
    size_t from = at > 4 ? at - 4 : 0, to = at + 6 < n ? at + 6 : n;
    printf("  %s [%zu..%zu):", side, from, to);
    for (size_t i = from; i < to; i++) {
        size_t len = 0;
        const char *s = wh_tokenizer_piece(t, (int32_t)ids[i], &len);
        printf(" %u'", ids[i]);
        for (size_t j = 0; j < len; j++) {
            unsigned char c = (unsigned char)s[j];
            if (c < 0x20 || c == '\'' || c == '\\')
                printf("\\x%02x", c);
            else
                putchar(c);
        }
        putchar('\'');
    }
    putchar('\n');
}

static int cmd_cmp(const char *vocab, const char *pa, const char *pb)
{
    ids_file a, b;
    if (read_ids(pa, &a) || read_ids(pb, &b))
        return 1;
    size_t ia = 0, ib = 0, chunks = 0, diff_chunks = 0, diff_pos = 0, tok_a = 0, tok_b = 0;
    int shown = 0;
    wh_tokenizer *t = NULL;
    while (ia < a.n && ib < b.n) {
        size_t na = a.p[ia++], nb = b.p[ib++];
        if (ia + na > a.n || ib + nb > b.n)
            return die("truncated ids file", NULL);
        const uint32_t *xa = a.p + ia, *xb = b.p + ib;
        /* differing tokens: what is left of the longer side after the common prefix and
         * suffix (one local difference counts as the few tokens it touches) */
        size_t m = na < nb ? na : nb, first = 0, suf = 0;
        while (first < m && xa[first] == xb[first])
            first++;
        while (suf < m - first && xa[na - 1 - suf] == xb[nb - 1 - suf])
            suf++;
        size_t d = (na > nb ? na : nb) - first - suf;
        if (d) {
            diff_chunks++;
            diff_pos += d;
            if (!shown && (t = load(vocab)) != NULL) {
                printf("first difference: chunk %zu, token %zu\n", chunks, first);
                show(t, "A", xa, na, first);
                show(t, "B", xb, nb, first);
                shown = 1;
            }
        }
        tok_a += na;
        tok_b += nb;
        ia += na;
        ib += nb;
        chunks++;
    }
    if (ia != a.n || ib != b.n)
        return die("the ids files have different numbers of chunks", NULL);
    printf("cmp chunks %zu differing_chunks %zu differing_tokens %zu tokens_a %zu tokens_b %zu\n",
           chunks, diff_chunks, diff_pos, tok_a, tok_b);
    wh_tokenizer_free(t);
    free(a.p);
    free(b.p);
    return diff_chunks ? 3 : 0;
}

int main(int argc, char **argv)
{
    const char *usage = "usage: tok_bench load VOCAB REPS\n"
                        "       tok_bench encode VOCAB TEXT REPS CHUNK [IDS_OUT]\n"
                        "       tok_bench mkgguf TOKENIZER_JSON PRE OUT.gguf\n"
                        "       tok_bench cmp VOCAB A.ids B.ids\n";
    if (argc >= 4 && strcmp(argv[1], "load") == 0 && atoi(argv[3]) > 0)
        return cmd_load(argv[2], atoi(argv[3]));
    if (argc >= 6 && strcmp(argv[1], "encode") == 0 && atoi(argv[4]) > 0)
        return cmd_encode(argv[2], argv[3], atoi(argv[4]), (size_t)strtoull(argv[5], NULL, 10),
                          argc > 6 ? argv[6] : NULL);
    if (argc == 5 && strcmp(argv[1], "mkgguf") == 0)
        return cmd_mkgguf(argv[2], argv[3], argv[4]);
    if (argc == 5 && strcmp(argv[1], "cmp") == 0)
        return cmd_cmp(argv[2], argv[3], argv[4]);
    fputs(usage, stderr);
    return 2;
}
