#!/bin/sh
# train.sh — `whale data` and `whale train` end to end on a tiny config: shards from
# JSONL, a run that logs/plots/checkpoints/exports, `whale run` on the export, a resumed
# run (3 steps + --resume + 3) identical to one that never stopped, a corrupt checkpoint
# refused, bad config keys named.
BUILD=${BUILD:-build}
W="$BUILD/whale"
D=$(mktemp -d /tmp/whale-cli-train-XXXXXX)
trap 'rm -rf "$D"' EXIT
fail=0
ok() { echo "train: ok: $1"; }
bad() { echo "train: FAIL: $1"; fail=1; }
i=0
while [ $i -lt 60 ]; do
    echo "{\"text\": \"the cat $i sat on the mat and then the cat ran $((i * 7)) times around\"}"
    i=$((i + 1))
done > "$D/docs.jsonl"
if "$W" data -t tests/fixtures/train/tok -o "$D/data" --val 0.2 "$D/docs.jsonl" >"$D/data.out" 2>&1; then
    ok "whale data: $(cat "$D/data.out" | cut -c1-90)"
else
    bad "whale data"; cat "$D/data.out"
fi
C=tests/fixtures/train/tiny.conf
if "$W" train "$C" --data "$D/data" --out "$D/a" 2>"$D/a.err"; then ok "train 6 steps"; else bad "train"; cat "$D/a.err"; fi
for f in checkpoint.bin log.jsonl loss.svg model/config.json model/model.safetensors; do
    [ -s "$D/a/$f" ] && ok "wrote $f" || bad "missing $f"
done
[ "$(wc -l < "$D/a/log.jsonl")" -eq 6 ] && ok "6 log lines" || bad "log lines"
grep -q '"val_loss"' "$D/a/log.jsonl" && grep -q '"max_over_mean"' "$D/a/log.jsonl" && grep -q '"bias_mean_abs"' "$D/a/log.jsonl" \
    && ok "log has val_loss, expert load, bias stats" || bad "log fields"
grep -q "tok/s" "$D/a.err" && grep -q "ETA" "$D/a.err" && ok "progress line" || bad "progress line"
"$W" run -m "$D/a/model" --tokens 258,32,99 -n 4 >/dev/null 2>"$D/run.err" && ok "whale run loads the export" || { bad "whale run on the export"; cat "$D/run.err"; }
# interrupted after 3 steps, resumed: identical to the straight run
"$W" train "$C" --data "$D/data" --out "$D/b" --stop-after 3 2>/dev/null || bad "stop-after"
"$W" train "$C" --data "$D/data" --out "$D/b" --resume 2>"$D/b.err" || { bad "resume"; cat "$D/b.err"; }
if cmp -s "$D/a/checkpoint.bin" "$D/b/checkpoint.bin" && cmp -s "$D/a/model/model.safetensors" "$D/b/model/model.safetensors"; then
    ok "3 + resume + 3 steps: checkpoint and export identical to 6 straight"
else
    bad "resumed run differs"
fi
la=$(sed 's/"tokens_per_s":[^,]*,//' "$D/a/log.jsonl"); lb=$(sed 's/"tokens_per_s":[^,]*,//' "$D/b/log.jsonl")
[ "$la" = "$lb" ] && ok "resumed log identical (losses, lr, grad norms, loads)" || bad "resumed log differs"
# a corrupt checkpoint is refused
cp -r "$D/b" "$D/c"
printf 'XXXX' | dd of="$D/c/checkpoint.bin" bs=1 seek=200 conv=notrunc 2>/dev/null
if "$W" train "$C" --data "$D/data" --out "$D/c" --resume 2>"$D/c.err"; then bad "corrupt checkpoint accepted"; else
    grep -q "checksum mismatch" "$D/c.err" && ok "corrupt checkpoint refused: $(cat "$D/c.err")" || { bad "wrong error"; cat "$D/c.err"; }
fi
# config errors name the key
"$W" train "$C" --data "$D/data" --out "$D/d" --bogus 1 2>"$D/d.err"; grep -q 'unknown key "bogus"' "$D/d.err" && ok "unknown key named" || bad "unknown key"
"$W" train "$C" --data "$D/data" --out "$D/d" --lr abc 2>"$D/d.err"; grep -q 'lr = "abc"' "$D/d.err" && ok "bad value named" || bad "bad value"
exit $fail
