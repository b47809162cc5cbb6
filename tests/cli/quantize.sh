#!/bin/sh
# quantize.sh — `whale quantize` from the command line: --help, progress and summary
# on stderr, bad arguments, an exported file whale runs; then, when the llama.cpp
# harness is built (tools/llamacpp/setup.sh), llama.cpp itself loads the F32 GGUFs whale
# exports from the HF fixtures dsv3 (MLA, MoE, MTP, YaRN), qwen2 and llama (permuted
# Q/K, rope_freqs) and must agree with whale within 1e-4 (as tests/cli/llamacpp.sh).
BUILD=${BUILD:-build}
W=$BUILD/whale
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0
bad() { echo "quantize: FAIL: $*"; fail=1; }

"$W" quantize --help >"$TMP/help" 2>&1 || bad "--help exit status"
grep -q "q4_k_m" "$TMP/help" || bad "--help does not list the types"

if "$W" quantize tests/fixtures/qwen2 "$TMP/x.gguf" --type q9_9 2>"$TMP/err"; then
    bad "an unknown type was accepted"
fi
grep -q 'unknown type "q9_9"' "$TMP/err" || bad "unknown type: unclear message: $(cat "$TMP/err")"
if "$W" quantize tests/fixtures/qwen2 "$TMP/x.gguf" 2>/dev/null; then bad "missing --type accepted"; fi
if "$W" quantize tests/fixtures/qwen2 "$TMP/x.gguf" --type f16 --threads zero 2>/dev/null; then
    bad "--threads zero accepted"
fi
[ -e "$TMP/x.gguf" ] || [ -e "$TMP/x.gguf.tmp" ] && bad "a failed run left a file"

if "$W" quantize tests/fixtures/dsv3 "$TMP/dsv3-q8.gguf" --type q8_0 --threads 2 2>"$TMP/err"; then
    grep -q '^\[ *1/[0-9]*\] token_embd.weight' "$TMP/err" || bad "no progress lines"
    grep -q 'bits per weight' "$TMP/err" || bad "no summary"
    "$W" run -m "$TMP/dsv3-q8.gguf" --tokens 1,2,3 -n 2 >/dev/null 2>&1 || bad "whale cannot run its own q8_0 export"
else
    bad "q8_0 export failed: $(tail -1 "$TMP/err")"
fi
[ "$fail" -eq 0 ] && echo "quantize: CLI OK ($(tail -1 "$TMP/err" | sed 's/^ *//'))"

LL=build/llamacpp/llama_logits
CMP=build/llamacpp/fx_compare
if [ ! -x "$LL" ] || [ ! -x "$CMP" ]; then
    echo "quantize: llama.cpp check SKIPPED — harness not built (run: bash tools/llamacpp/setup.sh)"
    exit $fail
fi
for f in dsv3 qwen2 llama; do
    exp=tests/fixtures/$f/expected.whfx
    toks=$(od -An -t d4 -j 16 -N $(( $(od -An -t u4 -j 8 -N 4 "$exp") * 4 )) "$exp" | tr -s ' \n' ',' | sed 's/^,//; s/,$//')
    if ! "$W" quantize "tests/fixtures/$f" "$TMP/$f.gguf" --type f32 -q 2>"$TMP/err"; then
        bad "$f: export failed: $(tail -1 "$TMP/err")"; continue
    fi
    if ! "$LL" "$TMP/$f.gguf" --tokens "$toks" -n 8 -o "$TMP/ll.whfx" 2>"$TMP/ll.err"; then
        bad "$f: llama.cpp cannot load whale's export:"; tail -3 "$TMP/ll.err"; continue
    fi
    if ! "$W" run -m "$TMP/$f.gguf" --tokens "$toks" -n 8 --logits-out "$TMP/wh.whfx" >/dev/null 2>&1; then
        bad "$f: whale failed on its export"; continue
    fi
    if "$CMP" "$TMP/ll.whfx" "$TMP/wh.whfx" --tol 1e-4 >"$TMP/cmp.out" 2>&1 &&
        "$CMP" "$TMP/ll.whfx" "$exp" --tol 1e-4 --ignore-moe >"$TMP/cmp2.out" 2>&1; then
        echo "quantize: llama.cpp on whale's $f export OK: vs whale $(grep -o 'max |A-B| = [^ ]*' "$TMP/cmp.out"), vs reference $(grep -o 'max |A-B| = [^ ]*' "$TMP/cmp2.out")"
    else
        bad "$f: llama.cpp disagrees:"; cat "$TMP/cmp.out" "$TMP/cmp2.out"
    fi
done
exit $fail
