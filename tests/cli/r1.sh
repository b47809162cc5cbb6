#!/bin/sh
# r1.sh — the R1 task front ends: `whale tasks` (items deterministic by seed, the pinned
# held-out set, teacher traces, SFT JSONL) and `whale eval` on the tiny fixture model
# (random weights, so only the machinery is checked: table rows, JSON fields and counts,
# the same numbers for the same seed, bad options refused).
BUILD=${BUILD:-build}
W="$BUILD/whale"
M=tests/fixtures/dsv3.gguf
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0
check() { # name, expected, actual
    if [ "$2" = "$3" ]; then echo "r1: ok: $1"; else echo "r1: FAIL: $1"; echo "  want: $2"; echo "  got:  $3"; fail=1; fi
}
check "tasks: N lines" "5" "$("$W" tasks --family countdown --level 2 --n 5 | wc -l | tr -d ' ')"
check "tasks: same seed, same items" "$("$W" tasks --family all --n 4 --seed 3)" "$("$W" tasks --family all --n 4 --seed 3)"
a=$("$W" tasks --family arith --n 4 --seed 1); b=$("$W" tasks --family arith --n 4 --seed 2)
[ "$a" != "$b" ] && echo "r1: ok: tasks: another seed, other items" || { echo "r1: FAIL: seeds 1 and 2 gave the same items"; fail=1; }
check "tasks: pinned held-out item" "$(printf 'sort\t1\tSort 67, 38, 5, 66 in ascending order. Put the final answer in \\boxed{}.\t5, 38, 66, 67')" \
    "$("$W" tasks --family sort --split test --n 1)"
check "tasks --trace: one think block per item" "3" "$("$W" tasks --family sort --n 3 --trace | grep -c '^</think>$')"
"$W" tasks --family all --level 2 --n 7 --sft "$TMP/sft.jsonl" || fail=1
check "tasks --sft: one line per item" "21" "$(wc -l < "$TMP/sft.jsonl" | tr -d ' ')"
if command -v jq >/dev/null 2>&1; then
    check "tasks --sft: valid JSON with the fields" "21" \
        "$(jq -c 'select(.messages[1].role == "assistant" and (.messages[1].reasoning_content | length) > 0 and .task != null and .level == 2 and .answer != null)' "$TMP/sft.jsonl" | wc -l | tr -d ' ')"
fi

"$W" eval -m $M --levels 1-2 --n 2 --k 3 --temp 0.9 --seed 4 --max-tokens 20 -t 1 -q --json "$TMP/a.json" > "$TMP/a.txt" || fail=1
"$W" eval -m $M --levels 1-2 --n 2 --k 3 --temp 0.9 --seed 4 --max-tokens 20 -t 1 -q --json "$TMP/b.json" > "$TMP/b.txt" || fail=1
check "eval: table rows (6 cells + 3 totals + header + note)" "11" "$(wc -l < "$TMP/a.txt" | tr -d ' ')"
check "eval: same seed, same table" "$(sed '$d' "$TMP/a.txt")" "$(sed '$d' "$TMP/b.txt")"
check "eval: same seed, same JSON" "$(grep -v '"seconds"' "$TMP/a.json")" "$(grep -v '"seconds"' "$TMP/b.json")"
if command -v jq >/dev/null 2>&1; then
    check "eval: JSON cells" "6" "$(jq '.results | length' "$TMP/a.json")"
    check "eval: JSON items per cell" "2 2 2 2 2 2" "$(jq -r '[.results[].items | length] | map(tostring) | join(" ")' "$TMP/a.json")"
    check "eval: JSON fields" "true" \
        "$(jq '[.results[] | has("pass@1") and has("pass@k") and has("cons@k") and has("format") and has("think_tokens") and .k == 3] | all' "$TMP/a.json")"
fi
"$W" eval -m $M --tasks sort --levels 1 --n 1 --k 1 -t 1 -q --json - 2>/dev/null > "$TMP/c.json"
check "eval --json -: JSON alone on stdout" "{" "$(head -c 1 "$TMP/c.json")"
for bad in "--tasks nope" "--levels 0-2" "--levels 3-1" "--k 0" "--k 999" "--temp -1" "--mode x"; do
    # shellcheck disable=SC2086
    if "$W" eval -m $M $bad -q >/dev/null 2>&1; then echo "r1: FAIL: eval accepted $bad"; fail=1; fi
done
echo "r1: ok: bad eval options refused"
exit $fail
