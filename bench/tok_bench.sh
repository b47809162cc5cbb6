#!/bin/sh
# tok_bench.sh — tokenizer speed: whale vs llama.cpp on the same vocabulary, same text,
# same run (issue 3). Not part of `make test` or `make bench`; run it by hand:
#
#   sh bench/tok_bench.sh          (after `make`; for the llama.cpp column first run
#                                   bash tools/llamacpp/setup.sh, which builds
#                                   build/llamacpp/llama_tok_bench)
#
# 1. builds build/bench/tok_bench (make target; links build/libwhale.a)
# 2. writes the mixed text (bench/make_tok_corpus.py: prose, code, Chinese, numbers, test
#    strings; deterministic) to build/bench/tok_corpus.txt
# 3. writes build/bench/tok-deepseek-v3.gguf from DeepSeek-V3's tokenizer.json with whale's
#    GGUF writer (tok_bench mkgguf), so llama.cpp and whale read identical vocabulary data
# 4. whale's load time of the 128k tokenizer.json (median of REPS loads), and whale's ids
#    from tokenizer.json vs from the GGUF on the whole text (must be 0 differing)
# 5. per vocabulary (that GGUF; ggml-vocab-deepseek-llm.gguf) and chunk size: encode
#    throughput of both (median of REPS timed runs after one untimed run, all in one
#    process each, load excluded), the ratio, and whether both produced identical ids
#    (tok_bench cmp: chunks / tokens that differ; 0 = apples to apples)
# Environment (defaults in brackets): BUILD [build] REPS [5] SIZE [4194304 bytes]
# CHUNKS ["0 4096": 0 = the whole text in one call, N = pieces cut at the first newline
# after N bytes] TD [../shared/testdata/tokenizer] LLTB [build/llamacpp/llama_tok_bench]
set -eu
BUILD=${BUILD:-build}
OUT=$BUILD/bench
REPS=${REPS:-5}
SIZE=${SIZE:-4194304}
CHUNKS=${CHUNKS:-"0 4096"}
TD=${TD:-../shared/testdata/tokenizer}
LLTB=${LLTB:-build/llamacpp/llama_tok_bench}
TB=$OUT/tok_bench
V3JSON=$TD/deepseek-v3/tokenizer.json
V3GGUF=$OUT/tok-deepseek-v3.gguf
LLM=$TD/ggml-vocab-deepseek-llm.gguf
TEXT=$OUT/tok_corpus.txt

[ -f "$V3JSON" ] || { echo "tok_bench.sh: $V3JSON not found (set TD)" >&2; exit 1; }
make -s BUILD="$BUILD" "$TB" >/dev/null
mkdir -p "$OUT"
python3 bench/make_tok_corpus.py "$TEXT" "$SIZE"
"$TB" mkgguf "$V3JSON" deepseek-v3 "$V3GGUF" >/dev/null

field() { echo "$1" | awk -v k="$2" '{for (i=1;i<NF;i++) if ($i==k) print $(i+1)}'; }

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -x "$LLTB" ]; then
    echo "peer: $("$LLTB" --version)"
else
    echo "peer: $LLTB missing (bash tools/llamacpp/setup.sh); whale only"
fi
echo "text: $TEXT, $(wc -c < "$TEXT") bytes, sha256 $(sha256sum "$TEXT" | cut -c1-16)"
line=$("$TB" load "$V3JSON" "$REPS")
echo "whale load of DeepSeek-V3 tokenizer.json ($(field "$line" n_vocab) ids): median $(field "$line" load_ms_median) ms, min $(field "$line" load_ms_min) ms, CPU time median $(field "$line" cpu_ms_median) ms (target <= 150 ms)"
line=$("$TB" load "$V3GGUF" "$REPS")
echo "whale load of the same vocabulary as GGUF: median $(field "$line" load_ms_median) ms, CPU time median $(field "$line" cpu_ms_median) ms"

# whale's two loaders on the same vocabulary: tokenizer.json and the GGUF made from it
"$TB" encode "$V3JSON" "$TEXT" 1 0 "$OUT/tok-whale-json.ids" >/dev/null
"$TB" encode "$V3GGUF" "$TEXT" 1 0 "$OUT/tok-whale.ids" >/dev/null
cl=$("$TB" cmp "$V3GGUF" "$OUT/tok-whale-json.ids" "$OUT/tok-whale.ids" || true)
echo "whale ids, tokenizer.json vs that GGUF: $(field "$cl" differing_tokens) of $(field "$cl" tokens_a) tokens differ"

printf "\n%-23s %5s | %9s %9s %6s | %11s %11s | %9s %s\n" vocabulary chunk "whale" "llama.cpp" ratio \
    "wh range" "ll range" tokens "ids differ"
printf "%-23s %5s | %9s %9s %6s | %11s %11s | %9s %s\n" "" "" "MB/s" "MB/s" "" "MB/s" "MB/s" "" "(chunks/tokens)"
for v in "$V3GGUF" "$LLM"; do
    [ -f "$v" ] || { echo "$v missing, skipped"; continue; }
    name=$(basename "$v" .gguf)
    for c in $CHUNKS; do
        w=$("$TB" encode "$v" "$TEXT" "$REPS" "$c" "$OUT/tok-whale.ids")
        wm=$(field "$w" mbps_median)
        wr="$(field "$w" mbps_min)-$(field "$w" mbps_max)"
        lm=""; lr="-"; ratio="-"; diff="-"
        if [ -x "$LLTB" ]; then
            l=$("$LLTB" "$v" "$TEXT" "$REPS" "$c" "$OUT/tok-llama.ids")
            lm=$(field "$l" mbps_median)
            lr="$(field "$l" mbps_min)-$(field "$l" mbps_max)"
            ratio=$(awk -v a="$wm" -v b="$lm" 'BEGIN { printf "%.2f", a / b }')
            cl=$("$TB" cmp "$v" "$OUT/tok-whale.ids" "$OUT/tok-llama.ids" || true)
            echo "$cl" | grep -v '^cmp ' >&2 || true
            diff="$(field "$cl" differing_chunks)/$(field "$cl" differing_tokens)"
        fi
        printf "%-23s %5s | %9s %9s %6s | %11s %11s | %9s %s\n" "$name" "$c" "$wm" "${lm:--}" "$ratio" \
            "$wr" "$lr" "$(field "$w" tokens)" "$diff"
    done
done
echo
echo "MB/s: 10^6 bytes of text per second, one thread, median of $REPS runs (range: min-max); ratio:"
echo "whale / llama.cpp (target >= 1.5). No BOS, special tokens not parsed, on both sides."
echo "chunk 0: the whole text in one encode call; N: pieces ending at the first newline after N bytes."
