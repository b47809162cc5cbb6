#!/bin/sh
# build.sh — reproduces whale's shipped tiny R1 model from scratch (`make tiny-r1`):
#   1. data: R1 conversations from the programmatic solvers (make_corpus.sh)
#   2. tokenizer: a 462-id byte-level BPE with the R1 markers (make_tokenizer.py)
#   3. pretraining of a DeepSeek-V3-architecture model (MLA + MoE + MTP) on the
#      R1-formatted corpus (pretrain.conf, whale train)
#   4. SFT cold start on the solvers' conversations, loss on the reply (sft.conf)
#   5. GRPO with rule-based rewards on the R1 tasks (grpo.conf)
#   6. export to GGUF (whale quantize) and evaluation on the held-out tasks (whale eval)
# STEPS, SFT_STEPS, GRPO_STEPS override the configs' step counts; PRETRAINED=checkpoint
# skips stages 1-3 (data and tokenizer must then exist in WORK_DIR).
# Deterministic by seed. usage: build.sh [WORK_DIR] ; writes models/whale-tiny-r1.gguf
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
W=${WHALE:-$ROOT/build/whale}
WORK=${1:-$ROOT/build/tiny-r1}
mkdir -p "$WORK" "$ROOT/models"
t0=$(date +%s)
PRE=${PRETRAINED:-}
if [ -z "$PRE" ]; then
    echo "== 1. data"
    sh "$ROOT/tools/tiny_r1/make_corpus.sh" "$W" "$WORK/data"
    echo "== 2. tokenizer"
    python3 "$ROOT/tools/tiny_r1/make_tokenizer.py" "$WORK/data/corpus.txt" "$WORK/tok" --merges 200
    "$W" data -t "$WORK/tok" -o "$WORK/shards" --val 0.02 --seed 1 "$WORK/data/pretrain.jsonl"
    echo "== 3. pretraining"
    "$W" train "$ROOT/tools/tiny_r1/pretrain.conf" --data "$WORK/shards" --out "$WORK/pretrain" \
        ${STEPS:+--steps "$STEPS"}
    PRE=$WORK/pretrain/checkpoint.bin
fi
echo "== 4. SFT"
"$W" sft "$ROOT/tools/tiny_r1/sft.conf" --init_from "$PRE" --tokenizer "$WORK/tok" \
    --sft_data "$WORK/data/sft_mix.jsonl" --out "$WORK/sft" ${SFT_STEPS:+--steps "$SFT_STEPS"}
echo "== 5. GRPO"
"$W" grpo "$ROOT/tools/tiny_r1/grpo.conf" --init_from "$WORK/sft/checkpoint.bin" \
    --tokenizer "$WORK/tok" --out "$WORK/grpo" ${GRPO_STEPS:+--steps "$GRPO_STEPS"}
cp "$WORK/tok/tokenizer.json" "$WORK/tok/tokenizer_config.json" "$WORK/grpo/model/"
echo "== 6. export and evaluation"
"$W" quantize "$WORK/grpo/model" "$ROOT/models/whale-tiny-r1.gguf" --type f16
# pass@1 of every stage on the held-out sets (the base model after pretraining, the SFT
# model, the GRPO model that ships)
for stage in pretrain sft grpo; do
    if [ "$stage" = grpo ]; then m="$ROOT/models/whale-tiny-r1.gguf"; else m="$WORK/$stage/model"; fi
    [ -e "$m" ] || continue
    [ -d "$m" ] && cp "$WORK/tok/tokenizer.json" "$WORK/tok/tokenizer_config.json" "$m/"
    echo "-- $stage"
    "$W" eval -m "$m" --tasks arith,sort,countdown --levels 1-2 --n 300 --k 1 --temp 0 \
        --seed 1 --json "$WORK/eval-$stage.json" | tee "$WORK/eval-$stage.txt"
done
echo "tiny-r1: done in $(( $(date +%s) - t0 )) s; models/whale-tiny-r1.gguf"
