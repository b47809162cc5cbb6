/*
 * pretok.c — regex pre-tokenizers: the rules that cut text into words before BPE.
 *
 * A pre-tokenizer here is what Hugging Face calls a Sequence of Split pre-tokenizers
 * with behavior "Isolated": stage k cuts every piece left by stage k-1 into the regex's
 * matches and the gaps between them, both kept. DeepSeek-V3/R1 ship exactly that in
 * tokenizer.json (three Splits followed by a ByteLevel that does no splitting), and the
 * one-regex GPT-2/Qwen2/Llama-3 rules are the one-stage case. For GGUF files the
 * `tokenizer.ggml.pre` name selects one of the presets below; their regexes are the
 * ones in the models' tokenizer.json files (as also listed by llama.cpp's
 * llama-vocab.cpp), DeepSeek LLM/Coder's trailing Digits pre-tokenizer written as
 * \p{N}+ / \p{N}.
 *
 * Regexes are compiled by PCRE2 with PCRE2_UTF | PCRE2_UCP (Unicode properties and
 * Unicode \s, \w), PCRE2_DOLLAR_ENDONLY ('$' is the end of the piece), and JIT-compiled
 * when the platform supports it.
 */
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "tokenizer/tok_internal.h"

/* Split regexes of DeepSeek-V3 / R1 tokenizer.json. */
static const char *const g_deepseek_v3[] = {
    "\\p{N}{1,3}",
    "[一-龥぀-ゟ゠-ヿ]+",
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}"
    "\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
    NULL,
};

/* DeepSeek LLM (7B/67B base and chat). The letter class is the Unicode cased letters
 * (Lu, Ll, Lt); the \x{...} escapes are characters that NFC would change, written as
 * code points so no editor or tool can normalise them. */
static const char *const g_deepseek_llm[] = {
    "[\r\n]",
    "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆ"
    "Έ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷ"
    "ᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\\x{1F7D}ᾀ-ᾴᾶ-ᾼ\\x{1FBE}ῂ-ῄῆ-ῌῐ-\\x{1FD3}ῖ-\\x{1FDB}ῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-"
    "ℝℤ\\x{2126}ℨ\\x{212A}-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄ"
    "Ⰰ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-"
    "ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
    "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
    "\\s+$",
    "[一-龥ࠀ-一가-퟿]+",
    "\\p{N}+",
    NULL,
};

/* DeepSeek Coder (1.3B/6.7B/33B). */
static const char *const g_deepseek_coder[] = {
    "[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[一-龥ࠀ-一가-퟿]+", "\\p{N}", NULL,
};

/* Qwen2 / Qwen2.5 / R1-Distill-Qwen. */
static const char *const g_qwen2[] = {
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+"
    "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL,
};

/* Llama-3 / R1-Distill-Llama. */
static const char *const g_llama3[] = {
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}"
    "\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL,
};

/* GPT-2. */
static const char *const g_gpt2[] = {
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
    NULL,
};

typedef struct preset {
    const char *name; /* tokenizer.ggml.pre value */
    const char *canonical;
    const char *const *re;
    int nfc;
} preset;

static const preset g_presets[] = {
    {"deepseek-v3", "deepseek-v3", g_deepseek_v3, 0},
    {"deepseek-llm", "deepseek-llm", g_deepseek_llm, 0},
    {"deepseek-coder", "deepseek-coder", g_deepseek_coder, 0},
    /* llama.cpp does not apply NFC for these; Qwen's tokenizer.json does, so we do */
    {"qwen2", "qwen2", g_qwen2, 1},
    {"deepseek-r1-qwen", "qwen2", g_qwen2, 1},
    {"llama-bpe", "llama-3", g_llama3, 0},
    {"llama3", "llama-3", g_llama3, 0},
    {"llama-3", "llama-3", g_llama3, 0},
    {"gpt2", "gpt2", g_gpt2, 0},
    {"default", "gpt2", g_gpt2, 0},
};

static void *pc_malloc(size_t n, void *data)
{
    (void)data;
    return wh_malloc(n);
}

static void pc_free(void *p, void *data)
{
    (void)data;
    wh_free(p);
}

static int add_stage(tok_pretok *p, const char *re, size_t n, int literal, const char *src,
                     wh_error *err)
{
    if (p->n_stages >= TOK_MAX_STAGES)
        return wh_err(err, WH_E_UNSUPPORTED, "%s: more than %d pre-tokenizer splits", src,
                      TOK_MAX_STAGES);
    pcre2_general_context *gc = pcre2_general_context_create(pc_malloc, pc_free, NULL);
    if (gc == NULL)
        return wh_err(err, WH_E_NOMEM, "%s: out of memory compiling a regex", src);
    pcre2_compile_context *cc = pcre2_compile_context_create(gc);
    if (cc == NULL) {
        pcre2_general_context_free(gc);
        return wh_err(err, WH_E_NOMEM, "%s: out of memory compiling a regex", src);
    }
    int ecode = 0;
    PCRE2_SIZE eoff = 0;
    /* PCRE2_LITERAL refuses UCP and DOLLAR_ENDONLY ("invalid option bits"): a literal
     * needs neither */
    uint32_t opts =
        literal ? PCRE2_UTF | PCRE2_LITERAL : PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)re, n, opts, &ecode, &eoff, cc);
    pcre2_compile_context_free(cc);
    pcre2_general_context_free(gc);
    if (code == NULL) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(ecode, msg, sizeof msg);
        if (ecode == PCRE2_ERROR_HEAP_FAILED)
            return wh_err(err, WH_E_NOMEM, "%s: out of memory compiling a regex", src);
        return wh_err(err, WH_E_FORMAT, "%s: pre-tokenizer regex /%.*s/: %s at offset %zu", src,
                      (int)(n > 200 ? 200 : n), re, (const char *)msg, (size_t)eoff);
    }
    /* JIT is an optimisation only: without it pcre2_match interprets */
    (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    p->code[p->n_stages++] = code;
    return WH_OK;
}

int tok_pretok_add(tok_pretok *p, const char *re, size_t n, const char *src, wh_error *err)
{
    return add_stage(p, re, n, 0, src, err);
}

int tok_pretok_add_literal(tok_pretok *p, const char *s, size_t n, const char *src, wh_error *err)
{
    return add_stage(p, s, n, 1, src, err);
}

int tok_pretok_preset(tok_pretok *p, const char *name, size_t name_len, wh_error *err)
{
    for (size_t i = 0; i < sizeof g_presets / sizeof g_presets[0]; i++) {
        const preset *ps = &g_presets[i];
        if (strlen(ps->name) != name_len || memcmp(ps->name, name, name_len) != 0)
            continue;
        for (int k = 0; ps->re[k] != NULL; k++) {
            int rc = add_stage(p, ps->re[k], strlen(ps->re[k]), 0, ps->name, err);
            if (rc != WH_OK)
                return rc;
        }
        p->name = ps->canonical;
        p->nfc = ps->nfc;
        return WH_OK;
    }
    return wh_err(err, WH_E_UNSUPPORTED, "unknown pre-tokenizer \"%.*s\"",
                  (int)(name_len > 64 ? 64 : name_len), name);
}

void tok_pretok_free(tok_pretok *p)
{
    for (int i = 0; i < p->n_stages; i++)
        pcre2_code_free(p->code[i]);
    p->n_stages = 0;
}
