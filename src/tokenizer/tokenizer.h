/*
 * tokenizer.h — byte-level BPE tokenizers of the DeepSeek-R1 family: DeepSeek-V3/R1
 * (128k vocabulary), R1-Distill-Qwen (Qwen2.5 vocabulary), R1-Distill-Llama (Llama-3
 * vocabulary) and the older DeepSeek LLM / Coder vocabularies.
 *
 * A tokenizer is loaded from a Hugging Face `tokenizer.json` (plus
 * `tokenizer_config.json` beside it) or from the `tokenizer.ggml.*` metadata of a GGUF
 * file; both paths give the same ids for the same vocabulary. Encoding is: split out
 * added/special tokens (leftmost-longest), normalise (NFC when the vocabulary asks),
 * pre-tokenize with the vocabulary's regexes (PCRE2), then BPE on the bytes of each
 * piece. Decoding concatenates the bytes of each token.
 *
 * This is the public part; the lead moves it into whale.h. Conventions as in whale.h:
 * functions that can fail return WH_OK or a negative wh_status and fill the wh_error.
 * A loaded tokenizer is read-only: any number of threads may encode/decode with it at
 * once. Memory returned to the caller (ids, text) is released with wh_free().
 */
#ifndef WH_TOKENIZER_TOKENIZER_H
#define WH_TOKENIZER_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "whale.h"

#ifdef __cplusplus
extern "C" {
#endif

struct wh_gguf;
typedef struct wh_tokenizer wh_tokenizer;

/* Token attributes; the numbers are GGUF's tokenizer.ggml.token_type values. */
typedef enum wh_token_attr {
    WH_TOKEN_NORMAL = 1,       /* a BPE vocabulary entry */
    WH_TOKEN_UNKNOWN = 2,      /* the unknown token (never produced by byte-level BPE) */
    WH_TOKEN_CONTROL = 3,      /* special added token (BOS, EOS, chat markers) */
    WH_TOKEN_USER_DEFINED = 4, /* non-special added token (e.g. <think> in R1) */
    WH_TOKEN_UNUSED = 5,       /* reserved id with no text */
    WH_TOKEN_BYTE = 6,         /* byte-fallback token (not used by byte-level BPE) */
} wh_token_attr;

/* Flags for encode and decode. */
enum {
    /* encode: prepend BOS when the tokenizer's config asks for it (HF add_special_tokens). */
    WH_TOK_ADD_SPECIAL = 1u << 0,
    /* encode: recognise special (CONTROL) tokens written literally in the text. Without it
     * only non-special added tokens are recognised and e.g. "<｜end▁of▁sentence｜>" is
     * tokenized as plain text (the safe choice for untrusted input). */
    WH_TOK_PARSE_SPECIAL = 1u << 1,
    /* decode: leave CONTROL tokens out of the text. */
    WH_TOK_SKIP_SPECIAL = 1u << 2,
};

/* Loads from a path that is a folder (tokenizer.json, else the only *.gguf in it), a
 * tokenizer.json file (its folder's tokenizer_config.json is read when present) or a
 * .gguf file (only the metadata is used). */
int wh_tokenizer_load(const char *path, wh_tokenizer **out, wh_error *err);

/* tokenizer.json from a file (path may also be its folder). */
int wh_tokenizer_load_json(const char *path, wh_tokenizer **out, wh_error *err);

/* tokenizer.json from memory; config (tokenizer_config.json) may be NULL. `name` is used
 * in error messages. The buffers need not be NUL-terminated and are not kept. */
int wh_tokenizer_load_json_mem(const char *json, size_t len, const char *config, size_t config_len,
                               const char *name, wh_tokenizer **out, wh_error *err);

/* From the tokenizer.ggml.* keys of an open GGUF file. Nothing of g is kept. */
int wh_tokenizer_load_gguf(const struct wh_gguf *g, wh_tokenizer **out, wh_error *err);

void wh_tokenizer_free(wh_tokenizer *t);

/* Number of ids (largest id + 1; ids with no token decode to nothing). */
int32_t wh_tokenizer_n_vocab(const wh_tokenizer *t);
/* Special ids, -1 when the vocabulary has none. */
int32_t wh_tokenizer_bos(const wh_tokenizer *t);
int32_t wh_tokenizer_eos(const wh_tokenizer *t);
int32_t wh_tokenizer_think_open(const wh_tokenizer *t);  /* "<think>" */
int32_t wh_tokenizer_think_close(const wh_tokenizer *t); /* "</think>" */
/* 1 when WH_TOK_ADD_SPECIAL prepends BOS. */
int wh_tokenizer_adds_bos(const wh_tokenizer *t);
/* The pre-tokenizer in use: "deepseek-v3", "qwen2", ..., or "tokenizer.json" for a
 * Split sequence read from the file. */
const char *wh_tokenizer_pre_name(const wh_tokenizer *t);

/* Id of the token whose text is exactly s[0..len) (an added token's content, or a
 * vocabulary entry's bytes), or -1. */
int32_t wh_tokenizer_find(const wh_tokenizer *t, const char *s, size_t len);

/* The bytes a token decodes to (not NUL-terminated; may be partial UTF-8), or NULL
 * with *len = 0 for an id out of range. */
const char *wh_tokenizer_piece(const wh_tokenizer *t, int32_t id, size_t *len);
/* A wh_token_attr, or 0 for an id out of range or with no token. */
int wh_tokenizer_attr(const wh_tokenizer *t, int32_t id);

/* Encodes text[0..len) (any bytes; see docs/TOKENIZER.md for invalid UTF-8) into a new
 * array *ids of *n_ids ids (free with wh_free; never NULL on success). */
int wh_tokenizer_encode(const wh_tokenizer *t, const char *text, size_t len, unsigned flags,
                        int32_t **ids, size_t *n_ids, wh_error *err);

/* Decodes ids into a new NUL-terminated buffer *text of *len bytes (free with wh_free).
 * An id out of range is WH_E_INVALID. */
int wh_tokenizer_decode(const wh_tokenizer *t, const int32_t *ids, size_t n_ids, unsigned flags,
                        char **text, size_t *len, wh_error *err);

/* Streaming decoder: feed ids one at a time, get text that never ends inside a UTF-8
 * sequence. Bytes that cannot start or continue a valid sequence are passed through as
 * soon as that is known, so the concatenated output equals wh_tokenizer_decode's. */
typedef struct wh_tokstream wh_tokstream;

int wh_tokstream_new(const wh_tokenizer *t, unsigned flags, wh_tokstream **out, wh_error *err);
/* text, len: the newly completed text; valid until the next call on s. */
int wh_tokstream_push(wh_tokstream *s, int32_t id, const char **text, size_t *len, wh_error *err);
/* Emits whatever is held back (an incomplete sequence at the end of the stream). */
void wh_tokstream_flush(wh_tokstream *s, const char **text, size_t *len);
void wh_tokstream_free(wh_tokstream *s);

#ifdef __cplusplus
}
#endif
#endif
