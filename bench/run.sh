#!/bin/sh
# run.sh — `make bench`: whale vs llama.cpp on the same GGUF files, same run.
# Generates random-weight models with real shapes (bench/gen_model) into build/bench,
# measures this machine's read bandwidth (bench/stream), then for each shape, type and
# thread count runs whale_bench and llama_bench REPS times and prints the medians,
# the ratio whale/llama.cpp, the decode roofline and peak RSS.
# Environment (defaults in brackets): SHAPES [qwen2 deepseek2] TYPES [f16 q8_0 q4_k_m]
# THREADS [1 2] REPS [3] PROMPT [512] GEN [128] DEPTH [2048]
set -eu
BUILD=${BUILD:-build}
OUT=$BUILD/bench
SHAPES=${SHAPES:-"qwen2 deepseek2"}
TYPES=${TYPES:-"f16 q8_0 q4_k_m"}
THREADS=${THREADS:-"1 2"}
REPS=${REPS:-3}
PROMPT=${PROMPT:-512}
GEN=${GEN:-128}
DEPTH=${DEPTH:-2048}
LLB=build/llamacpp/llama_bench
mkdir -p "$OUT"

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print 0; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
field() { echo "$1" | awk -v k="$2" '{for (i=1;i<NF;i++) if ($i==k) print $(i+1)}'; }

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GiB"
BW=$("$BUILD/bench/stream" 2 2048 | awk '$2==2{print $3}')
echo "read bandwidth (2 threads, 2 GiB buffer): $BW GB/s"
if [ -x "$LLB" ]; then
    echo "peer: $("$BUILD/llamacpp/llama_logits" --version 2>&1 | head -1)"
else
    echo "peer: llama.cpp harness missing (bash tools/llamacpp/setup.sh); whale only"
fi
printf "\n%-10s %-7s %3s | %10s %10s %6s | %10s %10s %6s | %10s %10s %6s | %7s %6s | %8s %8s\n" \
    shape type thr "pp whale" "pp llama" ratio "tg0 whale" "tg0 llama" ratio "tgD whale" "tgD llama" ratio \
    "roofl" "frac" "rss wh" "rss ll"
for shape in $SHAPES; do
    for type in $TYPES; do
        f=$OUT/$shape-$type.gguf
        [ -f "$f" ] || "$BUILD/bench/gen_model" "$shape" "$type" "$f"
        bytes=$(stat -c %s "$f")
        for t in $THREADS; do
            w_pp=""; w_tg=""; w_td=""; w_rss=""; l_pp=""; l_tg=""; l_td=""; l_rss=""
            r=0
            while [ $r -lt "$REPS" ]; do
                line=$("$BUILD/bench/whale_bench" "$f" "$t" "$PROMPT" "$GEN" "$DEPTH")
                w_pp="$w_pp $(field "$line" prefill_tps)"; w_tg="$w_tg $(field "$line" decode0_tps)"
                w_td="$w_td $(field "$line" decodeD_tps)"; w_rss="$w_rss $(field "$line" rss_mb)"
                if [ -x "$LLB" ]; then
                    fa=""; [ "$shape" = deepseek2 ] && fa=nofa
                    # llama.cpp aborts on some files (deepseek2 Q8_0): record nothing, go on
                    line=$("$LLB" "$f" "$t" "$PROMPT" "$GEN" "$DEPTH" $fa 2>"$OUT/llama.err") ||
                        { echo "llama.cpp failed on $f: $(grep -m1 -o 'GGML_ASSERT.*' "$OUT/llama.err")" >&2; line=""; }
                    l_pp="$l_pp $(field "$line" prefill_tps)"; l_tg="$l_tg $(field "$line" decode0_tps)"
                    l_td="$l_td $(field "$line" decodeD_tps)"; l_rss="$l_rss $(field "$line" rss_mb)"
                fi
                r=$((r + 1))
            done
            m() { echo "$1" | tr ' ' '\n' | grep . | median; }
            wp=$(m "$w_pp"); wt=$(m "$w_tg"); wd=$(m "$w_td"); wr=$(m "$w_rss")
            lp=$(m "$l_pp"); lt=$(m "$l_tg"); ld=$(m "$l_td"); lr=$(m "$l_rss")
            ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'; }
            # roofline: tokens/s if every weight byte (minus the embedding rows not read) is read once per token
            roof=$(awk -v bw="$BW" -v by="$bytes" 'BEGIN { printf "%.1f", bw * 1e9 / by }')
            frac=$(awk -v a="$wt" -v b="$roof" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b }')
            printf "%-10s %-7s %3s | %10.2f %10.2f %6s | %10.2f %10.2f %6s | %10.2f %10.2f %6s | %7s %6s | %8.0f %8.0f\n" \
                "$shape" "$type" "$t" "$wp" "$lp" "$(ratio "$wp" "$lp")" "$wt" "$lt" "$(ratio "$wt" "$lt")" \
                "$wd" "$ld" "$(ratio "$wd" "$ld")" "$roof" "$frac" "$wr" "$lr"
        done
    done
done
echo
echo "pp: prefill tokens/s ($PROMPT-token prompt); tg0/tgD: decode tokens/s ($GEN tokens at context 0 / after $DEPTH);"
echo "medians of $REPS runs. roofl: read bandwidth / file bytes (upper bound for decode at context 0, MoE"
echo "reads fewer bytes per token than the file holds, so its bound is higher); frac: whale tg0 / roofl."
