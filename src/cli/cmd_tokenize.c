/*
 * cmd_tokenize.c — `whale tokenize -m MODEL [--ids|--pieces] [--special] TEXT|-`.
 * MODEL may be a model folder, a folder with only tokenizer files, a tokenizer.json,
 * or a GGUF file (a vocabulary-only GGUF too). `-` reads the text from stdin, byte
 * for byte.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "whale.h"

static void usage(void)
{
    printf("usage: whale tokenize -m MODEL [--ids|--pieces] [--special] [--bos] TEXT|-\n\n"
           "  -m PATH      model folder, tokenizer folder, tokenizer.json or .gguf\n"
           "  --ids        print the ids only, space-separated (default: id and piece per line)\n"
           "  --pieces     print the pieces only, one per line\n"
           "  --special    recognise special tokens written in the text (e.g. <｜User｜>)\n"
           "  --bos        prepend BOS when the tokenizer's config asks for it\n"
           "  TEXT | -     the text, or - to read stdin byte for byte\n");
}

static char *read_stdin(size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (buf == NULL)
        return NULL;
    for (;;) {
        if (n == cap) {
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (nb == NULL) {
                free(buf);
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, stdin);
        n += r;
        if (r == 0)
            break;
    }
    *len = n;
    return buf;
}

/* Prints a piece with control bytes and invalid UTF-8 escaped, so output stays readable. */
static void print_piece(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\n')
            fputs("\\n", stdout);
        else if (c == '\t')
            fputs("\\t", stdout);
        else if (c < 0x20 || c == 0x7f)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
}

int cmd_tokenize(int argc, char **argv)
{
    const char *path = NULL, *text = NULL;
    int mode = 0; /* 0 both, 1 ids, 2 pieces */
    unsigned flags = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            return 0;
        } else if ((strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) && i + 1 < argc) {
            path = argv[++i];
        } else if (strcmp(a, "--ids") == 0) {
            mode = 1;
        } else if (strcmp(a, "--pieces") == 0) {
            mode = 2;
        } else if (strcmp(a, "--special") == 0) {
            flags |= WH_TOK_PARSE_SPECIAL;
        } else if (strcmp(a, "--bos") == 0) {
            flags |= WH_TOK_ADD_SPECIAL;
        } else if (text == NULL && (a[0] != '-' || strcmp(a, "-") == 0)) {
            text = a;
        } else {
            return cli_fail("tokenize: unexpected argument \"%s\" (see whale tokenize --help)", a);
        }
    }
    if (path == NULL)
        return cli_fail("tokenize: no tokenizer given: whale tokenize -m MODEL TEXT");
    if (text == NULL)
        return cli_fail("tokenize: no text given (use - to read stdin)");
    wh_error err = {0};
    wh_tokenizer *t = NULL;
    if (wh_tokenizer_load(path, &t, &err) != WH_OK)
        return cli_fail("%s", err.msg);
    size_t len = 0;
    char *owned = NULL;
    if (strcmp(text, "-") == 0) {
        owned = read_stdin(&len);
        if (owned == NULL) {
            wh_tokenizer_free(t);
            return cli_fail("tokenize: cannot read stdin");
        }
        text = owned;
    } else {
        len = strlen(text);
    }
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = 0;
    if (wh_tokenizer_encode(t, text, len, flags, &ids, &n, &err) != WH_OK) {
        rc = cli_fail("%s", err.msg);
    } else {
        for (size_t i = 0; i < n; i++) {
            size_t pl = 0;
            const char *p = wh_tokenizer_piece(t, ids[i], &pl);
            if (mode == 1) {
                printf("%s%d", i ? " " : "", ids[i]);
            } else if (mode == 2) {
                print_piece(p, pl);
                putchar('\n');
            } else {
                printf("%d\t", ids[i]);
                print_piece(p, pl);
                putchar('\n');
            }
        }
        if (mode == 1)
            putchar('\n');
    }
    wh_free(ids);
    free(owned);
    wh_tokenizer_free(t);
    return rc;
}
