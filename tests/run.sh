#!/bin/sh
# run.sh — runs every test binary given, then shell tests, and prints one summary line.
pass=0
fail=0
failed=""
for t in "$@"; do
    if "$t"; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        failed="$failed $t"
    fi
done
for t in tests/cli/*.sh; do
    [ -f "$t" ] || continue
    if BUILD="${BUILD:-build}" sh "$t"; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        failed="$failed $t"
    fi
done
[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
