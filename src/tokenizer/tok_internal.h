/*
 * tok_internal.h — the wh_tokenizer structure and the pieces shared by its files:
 *   vocab.c   token table, GPT-2 byte<->unicode map, hash maps, merges, added-token trie
 *   pretok.c  regex pre-tokenizers (PCRE2): named presets and Split sequences
 *   encode.c  encode (added tokens, NFC, pre-tokenize, BPE), decode, streaming decode
 *   nfc.c     Unicode NFC normalisation (Qwen's tokenizer.json asks for it)
 *   load_json.c / load_gguf.c  the two loaders, both filling a tok_builder
 */
#ifndef WH_TOKENIZER_TOK_INTERNAL_H
#define WH_TOKENIZER_TOK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "tokenizer/tokenizer.h"

/* Ids are at most this many (a bound on untrusted files; real vocabularies are < 2^18). */
#define TOK_MAX_VOCAB (1 << 24)
/* Pre-tokenizer stages at most (DeepSeek LLM has 6). */
#define TOK_MAX_STAGES 8

/* A growable byte arena; offsets stay valid when it grows. */
typedef struct tok_pool {
    char *data;
    size_t len, cap;
} tok_pool;

/* One merge-table slot: key (left id << 32 | right id) -> rank and merged id. */
typedef struct tok_merge {
    uint64_t key;
    int32_t rank;
    int32_t id;
} tok_merge;

/* Added-token trie node; children are a sibling list. */
typedef struct tok_trie {
    int32_t child, sibling;
    int32_t id; /* token ending here, or -1 */
    uint8_t byte;
} tok_trie;

/* Bits of wh_tokenizer.attr beyond the wh_token_attr value (vocab.c, export.c). */
#define ATTR_FALLBACK 0x80 /* the spelling was not byte-level; bytes are its UTF-8 */
#define ATTR_MASK 0x7f

typedef struct tok_added {
    int32_t id;
    uint8_t special, lstrip, rstrip, single_word;
} tok_added;

typedef struct tok_pretok {
    const char *name; /* preset name or "tokenizer.json" */
    int n_stages;
    pcre2_code *code[TOK_MAX_STAGES];
    int nfc; /* apply NFC before pre-tokenizing */
} tok_pretok;

struct wh_tokenizer {
    int32_t n_vocab;
    /* per id: the bytes the token stands for, in pool */
    uint32_t *piece_off;
    uint32_t *piece_len;
    uint8_t *attr; /* wh_token_attr, 0 = hole */
    tok_pool pool;
    tok_pool scratch; /* loading only */

    /* bytes -> id of NORMAL tokens, open addressing, -1 = empty */
    int32_t *vhash;
    uint32_t vhash_mask;

    /* merges, open addressing on the pair key */
    tok_merge *merges;
    uint32_t merges_mask;
    int32_t n_merges;

    /* token of each single byte (-1 when the vocabulary lacks it) */
    int32_t byte_id[256];

    /* added tokens: content in apool, matched by the trie */
    tok_added *added;
    int32_t n_added;
    int32_t *added_of_id; /* id -> index in added, -1 */
    tok_trie *trie;
    int32_t n_trie, cap_trie;
    uint32_t added_first[8]; /* bitmap of first bytes of added tokens */

    int ignore_merges; /* a word that is a whole token is taken as is (Llama-3) */
    int add_bos;
    int32_t bos, eos, think_open, think_close;
    int32_t max_piece; /* longest piece, bytes */

    tok_pretok pre;
};

/* ---- vocab.c ---- */

/* GPT-2 byte-level map: byte -> code point, and code point -> byte (-1). */
uint32_t tok_byte_to_cp(uint8_t b);
int tok_cp_to_byte(uint32_t cp);

/* Decodes one UTF-8 sequence at s (n bytes left); returns its length and the code point,
 * or 0 when the bytes are not valid UTF-8 (shortest form, no surrogates, <= U+10FFFF). */
int tok_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp);
/* Writes cp as UTF-8 into out (4 bytes room); returns the length. */
int tok_utf8_encode(uint32_t cp, char *out);

/* Converts a token's byte-level text (the vocabulary's spelling) into the bytes it
 * stands for, appended to out. When any character is outside the byte-level alphabet
 * the text's own UTF-8 bytes are used instead (as HF's ByteLevel decoder does).
 * Returns 1 when the byte-level mapping applied, 0 for the fallback, -1 on no memory. */
int tok_bytelevel_decode(const char *s, size_t n, tok_pool *out);

int tok_pool_reserve(tok_pool *p, size_t extra);
int tok_pool_append(tok_pool *p, const void *s, size_t n);
void tok_pool_free(tok_pool *p);

/* Allocates the per-id tables for n_vocab ids (all holes). */
int tok_alloc_ids(wh_tokenizer *t, int32_t n_vocab, wh_error *err);
/* Sets token id to the byte-level text s (vocabulary spelling). */
int tok_set_token(wh_tokenizer *t, int32_t id, const char *s, size_t n, int attr, wh_error *err);
/* Builds the bytes -> id hash of NORMAL tokens. dup_is_error: two NORMAL tokens with the
 * same byte-level spelling are an error (tokenizer.json); otherwise the lower id wins. */
int tok_build_vocab_hash(wh_tokenizer *t, int dup_is_error, const char *src, wh_error *err);
int32_t tok_vocab_lookup(const wh_tokenizer *t, const char *s, size_t n);
/* Allocates the merge table for up to n merges. */
int tok_merges_alloc(wh_tokenizer *t, size_t n, wh_error *err);
/* Adds merge number `rank` of the two byte-level spellings a and b. */
int tok_add_merge(wh_tokenizer *t, const char *a, size_t na, const char *b, size_t nb, int32_t rank,
                  const char *src, wh_error *err);
/* Looks up a pair; returns the rank (or -1) and the merged id. */
static inline int32_t tok_merge_find(const wh_tokenizer *t, int32_t l, int32_t r, int32_t *id)
{
    uint64_t key = ((uint64_t)(uint32_t)l << 32) | (uint32_t)r;
    uint32_t h = (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & t->merges_mask;
    for (;;) {
        const tok_merge *m = &t->merges[h];
        if (m->key == key) {
            *id = m->id;
            return m->rank;
        }
        if (m->key == UINT64_MAX)
            return -1;
        h = (h + 1) & t->merges_mask;
    }
}
/* Marks id as an added token with raw content s (matched literally in text). */
int tok_add_added(wh_tokenizer *t, int32_t id, const char *s, size_t n, int special, int lstrip,
                  int rstrip, int single_word, wh_error *err);
/* Final checks and derived fields (byte ids, think ids, longest piece). */
int tok_finish(wh_tokenizer *t, const char *src, wh_error *err);

/* ---- pretok.c ---- */

/* Compiles a named preset ("deepseek-v3", "deepseek-llm", "deepseek-coder", "qwen2",
 * "llama-bpe", "gpt2", ...). WH_E_UNSUPPORTED for an unknown name. */
int tok_pretok_preset(tok_pretok *p, const char *name, size_t name_len, wh_error *err);
/* Adds one Split stage with the given regex (UTF-8, n bytes). */
int tok_pretok_add(tok_pretok *p, const char *re, size_t n, const char *src, wh_error *err);
/* Adds one Split stage that matches the string s literally. */
int tok_pretok_add_literal(tok_pretok *p, const char *s, size_t n, const char *src, wh_error *err);
void tok_pretok_free(tok_pretok *p);

/* ---- export.c: read-only views of a loaded tokenizer for GGUF export ---- */

struct wh_gguf_writer;
/* llama.cpp's tokenizer.ggml.pre name for t's pre-tokenizer ("deepseek-v3", "qwen2",
 * "llama-bpe", "deepseek-llm", "deepseek-coder", "gpt2"), or NULL when none of them
 * tokenizes like t (a tokenizer.json Split sequence is identified by its behaviour). */
const char *tok_export_pre_name(const wh_tokenizer *t);
/* Writes tokenizer.ggml.model/pre/tokens/token_type/merges/add_bos_token of t to w.
 * The token list is padded with "[PAD<id>]" UNUSED entries up to n_min ids (the model's
 * vocabulary may be larger than the tokenizer's). bos/eos ids are left to the caller.
 * WH_E_UNSUPPORTED when no llama.cpp pre-tokenizer matches or a token text holds a NUL. */
int tok_export_gguf(const wh_tokenizer *t, struct wh_gguf_writer *w, int32_t n_min, wh_error *err);

/* ---- nfc.c ---- */

/* 1 when s[0..n) (valid UTF-8) may change under NFC (a quick check). */
int tok_nfc_maybe_changes(const uint8_t *s, size_t n);
/* NFC of valid UTF-8 s[0..n) appended to out. */
int tok_nfc(const uint8_t *s, size_t n, tok_pool *out);

#endif
