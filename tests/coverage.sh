#!/bin/sh
# coverage.sh — branch coverage of the parsers after `make coverage` ran the tests in a
# --coverage build (BUILD, default build-cov). For each parser source: gcov -b's
# "Taken at least once" branch figure, then the total; then every line that reports an
# error (wh_err / wh_api_fail) and never ran: the error paths no test reaches yet.
# Uses gcovr instead when it is installed and COVERAGE_GCOVR=1.
set -u
BUILD=${1:-build-cov}
cd "$(dirname "$0")/.." || exit 1
PARSERS="src/formats/gguf.c src/formats/safetensors.c src/formats/tensor.c src/model/config.c
src/tokenizer/load_json.c src/tokenizer/load_gguf.c src/tokenizer/pretok.c src/tokenizer/encode.c
src/tokenizer/vocab.c src/tokenizer/chat.c src/base/mapfile.c"
[ -f src/serve/api.c ] && PARSERS="$PARSERS src/serve/api.c"

if [ "${COVERAGE_GCOVR:-0}" = 1 ] && command -v gcovr >/dev/null 2>&1; then
    filters=""
    for f in $PARSERS; do filters="$filters --filter $f"; done
    # shellcheck disable=SC2086
    exec gcovr --root . --object-directory "$BUILD" $filters --branches --print-summary
fi

out="$BUILD/gcov"
rm -rf "$out"
mkdir -p "$out"
taken_all=0
total_all=0
printf '%-32s %9s %9s %7s\n' "file" "branches" "taken" "%"
for f in $PARSERS; do
    obj="$BUILD/${f%.c}.o"
    gcda="$BUILD/${f%.c}.gcda"
    if [ ! -f "$gcda" ]; then
        printf '%-32s (not run)\n' "$f"
        continue
    fi
    # gcov writes <file>.gcov files into the current folder: move them into $out
    summary=$(gcov -b -o "$(dirname "$obj")" "$f" 2>/dev/null |
        awk -v f="/$(basename "$f")" '
            /^File / { cur = index($0, f "\047") > 0 }
            cur && /^Taken at least once:/ {
                s = $0; sub(/^Taken at least once:/, "", s); sub(/%.*/, "", s); print s, $NF }')
    mv ./*.gcov "$out/" 2>/dev/null
    pct=$(echo "$summary" | head -1 | awk '{print $1}')
    n=$(echo "$summary" | head -1 | awk '{print $2}')
    [ -z "$pct" ] && continue
    taken=$(awk -v p="$pct" -v n="$n" 'BEGIN { printf "%d", p * n / 100 + 0.5 }')
    taken_all=$((taken_all + taken))
    total_all=$((total_all + n))
    printf '%-32s %9s %9s %6s%%\n' "$f" "$n" "$taken" "$pct"
done
awk -v t="$taken_all" -v n="$total_all" 'BEGIN { printf "%-32s %9d %9d %6.2f%%\n", "total", n, t, n ? 100 * t / n : 0 }'

echo
echo "error reports never reached (file:line):"
missed=0
for f in $PARSERS; do
    g="$out/$(basename "$f").gcov"
    [ -f "$g" ] || continue
    # lines "    #####:  123:    return wh_err(...": never executed. gcov may count a call
    # that spans lines on its argument line instead: a report whose next source line ran
    # (before the statement ends) was reached.
    m=$(awk -F: -v f="$f" '
        pend != "" && $2 + 0 > 0 {
            if ($1 !~ /#####|^ *-$/) pend = ""
            else if ($0 ~ /;[ \t]*$/) { print pend; pend = "" }
        }
        $1 ~ /#####/ && ($0 ~ /wh_err\(|wh_api_fail\(/) {
            ln = $2; gsub(/^ +/, "", ln)
            if ($0 ~ /;[ \t]*$/) print "  " f ":" ln
            else pend = "  " f ":" ln
        }
        END { if (pend != "") print pend }' "$g")
    if [ -n "$m" ]; then
        echo "$m"
        missed=$((missed + $(echo "$m" | wc -l)))
    fi
done
echo "$missed error reports not reached"
