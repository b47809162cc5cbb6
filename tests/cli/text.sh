#!/bin/sh
# text.sh — the text front ends: `whale tokenize` (argument and stdin, ids and pieces,
# a tokenizer folder and a GGUF vocabulary) and `whale run -p` (chat rendering,
# streaming, the stats line, deterministic sampling by seed).
BUILD=${BUILD:-build}
W="$BUILD/whale"
TD=../shared/testdata/tokenizer
fail=0
check() { # name, expected, actual
    if [ "$2" = "$3" ]; then echo "text: ok: $1"; else echo "text: FAIL: $1"; echo "  want: $2"; echo "  got:  $3"; fail=1; fi
}
if [ -d "$TD/deepseek-r1" ]; then
    # R1 vocabulary: <think> is one added token, digits split in threes
    check "tokenize R1 ids" "19923 128798 29616 128799 223 6895 18009" \
        "$("$W" tokenize -m "$TD/deepseek-r1" --ids 'Hello<think>world</think> 123456')"
    check "tokenize stdin byte for byte" "$("$W" tokenize -m "$TD/deepseek-r1" --ids 'a
b')" "$(printf 'a\nb' | "$W" tokenize -m "$TD/deepseek-r1" --ids -)"
    check "tokenize special off by default" "1" \
        "$("$W" tokenize -m "$TD/deepseek-r1" --ids '<｜end▁of▁sentence｜>' | awk '{print (NF > 1)}')"
    check "tokenize --special" "1" \
        "$("$W" tokenize -m "$TD/deepseek-r1" --ids --special '<｜end▁of▁sentence｜>')"
fi
if [ -f "$TD/ggml-vocab-deepseek-llm.gguf" ]; then
    check "tokenize GGUF vocabulary" "87 320" "$(printf 'x y' | "$W" tokenize -m "$TD/ggml-vocab-deepseek-llm.gguf" --ids -)"
fi
a=$("$W" run -m tests/fixtures/dsv3.gguf -p "hello" -n 12 --temp 0.8 --seed 5 2>/dev/null | od -An -tx1)
b=$("$W" run -m tests/fixtures/dsv3.gguf -p "hello" -n 12 --temp 0.8 --seed 5 2>/dev/null | od -An -tx1)
check "run -p: same seed, same text" "$a" "$b"
stats=$("$W" run -m tests/fixtures/dsv3.gguf -p "hello" -n 12 2>&1 >/dev/null | grep -c 'generated')
check "run -p: stats line" "1" "$stats"
warn=$("$W" run -m tests/fixtures/dsv3.gguf -p "hello" -n 4 2>&1 >/dev/null | grep -c 'not recognised')
check "run -p: unknown template warns" "1" "$warn"
if "$W" run -m tests/fixtures/dsv3 -p "hello" -n 4 >/dev/null 2>&1; then
    echo "text: FAIL: a model without a tokenizer must refuse -p"; fail=1
else
    echo "text: ok: a model without a tokenizer refuses -p"
fi
exit $fail
