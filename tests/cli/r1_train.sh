#!/bin/sh
# r1_train.sh — the R1 post-training pipeline end to end on the tiny test config
# (tests/fixtures/train/tiny.conf + tok/): `whale tasks --sft` -> `whale sft` (from a
# seeded model) -> `whale grpo` 2 steps from the SFT export -> `whale eval` on the result;
# `whale distill` with the solver as teacher. Random-size models score 0: the files, the
# log fields and determinism are checked, not scores.
BUILD=${BUILD:-build}
W="$BUILD/whale"
D=$(mktemp -d /tmp/whale-cli-r1t-XXXXXX)
trap 'rm -rf "$D"' EXIT
fail=0
ok() { echo "r1_train: ok: $1"; }
bad() { echo "r1_train: FAIL: $1"; fail=1; }
C=tests/fixtures/train/tiny.conf
TOK=tests/fixtures/train/tok
"$W" tasks --family arith --level 1 --n 8 --sft "$D/sft.jsonl" || bad "whale tasks --sft"
if "$W" sft "$C" --tokenizer $TOK --sft-data "$D/sft.jsonl" --seq-len 96 --steps 3 --out "$D/sft" 2>"$D/sft.err"; then
    ok "sft 3 steps"; else bad "sft"; cat "$D/sft.err"; fi
for f in checkpoint.bin log.jsonl loss.svg model/config.json model/model.safetensors model/tokenizer.json; do
    [ -s "$D/sft/$f" ] && ok "sft wrote $f" || bad "sft: missing $f"
done
[ "$(wc -l < "$D/sft/log.jsonl")" -eq 3 ] && grep -q '"loss_main"' "$D/sft/log.jsonl" && grep -q '"assistant_tokens"' "$D/sft/log.jsonl" \
    && ok "sft log: 3 lines with loss_main, assistant_tokens" || bad "sft log"
grep -q "chat format plain" "$D/sft.err" && grep -q "assistant CE" "$D/sft.err" && ok "sft progress line" || bad "sft progress line"

G="--init-from $D/sft/model --seq-len 96 --batch-size 4 --steps 2 --warmup 0 --lr 1e-3 --tasks arith --levels 1 --prompts 2 --group 4 --mu 2 --max-resample 1"
# shellcheck disable=SC2086
if "$W" grpo "$C" $G --out "$D/grpo" 2>"$D/grpo.err"; then ok "grpo 2 steps"; else bad "grpo"; cat "$D/grpo.err"; fi
for f in checkpoint.bin log.jsonl reward.svg kl.svg model/config.json model/model.safetensors model/tokenizer.json; do
    [ -s "$D/grpo/$f" ] && ok "grpo wrote $f" || bad "grpo: missing $f"
done
[ "$(wc -l < "$D/grpo/log.jsonl")" -eq 2 ] && ok "grpo log: 2 lines" || bad "grpo log lines"
for k in reward accuracy format zero_var_frac kl clip_frac entropy len_correct len_wrong truncated grad_norm updates; do
    grep -q "\"$k\":" "$D/grpo/log.jsonl" || { bad "grpo log has no $k"; }
done
ok "grpo log fields"
grep -q '"updates":4' "$D/grpo/log.jsonl" && ok "mu 2: 4 updates in 2 steps" || bad "updates"
grep -q "zero-var" "$D/grpo.err" && grep -q "rollout" "$D/grpo.err" && ok "grpo progress line" || bad "grpo progress line"
# shellcheck disable=SC2086
"$W" grpo "$C" $G --out "$D/grpo2" --no-export 2>/dev/null || bad "grpo rerun"
strip() { sed 's/"seconds".*//' "$1"; }
[ "$(strip "$D/grpo/log.jsonl")" = "$(strip "$D/grpo2/log.jsonl")" ] && cmp -s "$D/grpo/checkpoint.bin" "$D/grpo2/checkpoint.bin" \
    && ok "grpo deterministic by seed (log and checkpoint)" || bad "grpo reruns differ"

if "$W" eval -m "$D/grpo/model" --tasks arith --levels 1 --n 2 --k 2 --max-tokens 24 -t 1 -q --json "$D/eval.json" >"$D/eval.txt" 2>&1; then
    grep -q '"pass@1"' "$D/eval.json" && ok "whale eval on the GRPO model" || bad "eval JSON"
else bad "eval"; cat "$D/eval.txt"; fi

if "$W" distill "$C" --tokenizer $TOK --teacher solver --tasks arith,sort --levels 1 --distill-n 3 --seq-len 96 --steps 1 --out "$D/dist" 2>"$D/dist.err"; then
    [ "$(wc -l < "$D/dist/traces.jsonl")" -eq 6 ] && [ -s "$D/dist/model/model.safetensors" ] && ok "distill: 6 verified solver traces, student trained" || bad "distill files"
else bad "distill"; cat "$D/dist.err"; fi

"$W" grpo "$C" $G --out "$D/x" --group 1 2>"$D/x.err" && bad "group 1 accepted" || { grep -q "group" "$D/x.err" && ok "bad group refused"; }
"$W" grpo "$C" $G --out "$D/x" --aggregation mean 2>"$D/x.err" && bad "bad aggregation accepted" || { grep -q 'want token or sequence' "$D/x.err" && ok "bad aggregation named"; }
"$W" sft "$C" --out "$D/x" 2>"$D/x.err" && bad "sft without tokenizer accepted" || { grep -q "tokenizer" "$D/x.err" && ok "sft without tokenizer refused"; }
exit $fail
