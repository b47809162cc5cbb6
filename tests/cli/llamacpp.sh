#!/bin/sh
# llamacpp.sh — second, independent oracle: llama.cpp (node-llama-cpp@3.21.1's
# prebuilt CPU library, driven by tools/llamacpp/llama_logits) computes logits and
# greedy continuations for the F32 GGUF fixtures; whale must agree within 1e-4
# and generate the same tokens. Needs `bash tools/llamacpp/setup.sh` once (CI runs it).
#
# Not compared: dsv2-old/new (grouped V2 routing: llama.cpp scores a group by the
# sum of its top-2 experts, DeepSeek-V2 defines the max, so llama.cpp is not an
# oracle there), and the F16/Q8_0 files (llama.cpp rounds activations to F16/Q8).
BUILD=${BUILD:-build}
LL=build/llamacpp/llama_logits
CMP=build/llamacpp/fx_compare
if [ ! -x "$LL" ] || [ ! -x "$CMP" ]; then
    echo "llamacpp: SKIPPED — harness not built (run: bash tools/llamacpp/setup.sh)"
    exit 0
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0
for f in dsv3 dsv2-lite qwen2 llama; do
    exp=tests/fixtures/$f/expected.whfx
    toks=$(od -An -t d4 -j 16 -N $(( $(od -An -t u4 -j 8 -N 4 "$exp") * 4 )) "$exp" | tr -s ' \n' ',' | sed 's/^,//; s/,$//')
    if ! "$LL" "tests/fixtures/$f.gguf" --tokens "$toks" -n 8 -o "$TMP/ll.whfx" 2>"$TMP/ll.err"; then
        echo "llamacpp: $f.gguf: llama.cpp failed:"; tail -3 "$TMP/ll.err"; fail=1; continue
    fi
    if ! "$BUILD/whale" run -m "tests/fixtures/$f.gguf" --tokens "$toks" -n 8 --logits-out "$TMP/wh.whfx" >/dev/null; then
        echo "llamacpp: $f.gguf: whale failed"; fail=1; continue
    fi
    if "$CMP" "$TMP/ll.whfx" "$TMP/wh.whfx" --tol 1e-4 >"$TMP/cmp.out" 2>&1; then
        echo "llamacpp: $f.gguf OK: $(grep -o 'max |A-B| = [^ ]*' "$TMP/cmp.out"), greedy equal"
    else
        echo "llamacpp: $f.gguf MISMATCH:"; cat "$TMP/cmp.out"; fail=1
    fi
done
exit $fail
