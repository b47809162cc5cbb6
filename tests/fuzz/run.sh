#!/bin/sh
# run.sh — runs the fuzz targets built in BUILD/fuzz (make test-fuzz / make fuzz).
#   sh tests/fuzz/run.sh BUILD LIBFUZZER-OPTION...   e.g. -runs=50000 or -max_total_time=600
# For each target: first replays every file of tests/fuzz/regress/<target>/ (inputs that
# once crashed it), then fuzzes from the committed seeds tests/fuzz/corpus/<target>/ plus
# the inputs found so far (BUILD/corpus/<target>/, where new ones are written). Prints
# executions, exec/s and seconds per target; stops at the first failure.
# FUZZ_ONLY="fuzz_gguf fuzz_api" limits the run to some targets.
set -u
BUILD=$1
shift
cd "$(dirname "$0")/../.." || exit 1
mkdir -p "$BUILD/crashes"
total_start=$(date +%s)
status=0
for bin in "$BUILD"/fuzz/fuzz_*; do
    t=$(basename "$bin")
    if [ -n "${FUZZ_ONLY:-}" ] && ! echo " $FUZZ_ONLY " | grep -q " $t "; then
        continue
    fi
    # input size limit per target: big enough for its seeds, small enough to stay fast
    case $t in
        fuzz_gguf) max_len=8192 ;;
        fuzz_tokenizer_json) max_len=12288 ;;
        fuzz_encode) max_len=2048 ;;
        *) max_len=4096 ;;
    esac
    if [ -d "tests/fuzz/regress/$t" ] && [ -n "$(ls "tests/fuzz/regress/$t")" ]; then
        if ! "$bin" tests/fuzz/regress/"$t"/* >"$BUILD/$t.regress.log" 2>&1; then
            echo "FAIL $t: a regression input fails again (see $BUILD/$t.regress.log)"
            tail -30 "$BUILD/$t.regress.log"
            status=1
            break
        fi
    fi
    mkdir -p "$BUILD/corpus/$t"
    start=$(date +%s)
    "$bin" "$@" -max_len=$max_len -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 \
        -artifact_prefix="$BUILD/crashes/$t-" \
        "$BUILD/corpus/$t" "tests/fuzz/corpus/$t" >"$BUILD/$t.log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$BUILD/$t.log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$BUILD/$t.log")
    if [ $rc -ne 0 ]; then
        echo "FAIL $t after ${secs}s (see $BUILD/$t.log; input in $BUILD/crashes/)"
        grep -m5 -E "ERROR|SUMMARY|fuzz:|runtime error" "$BUILD/$t.log"
        status=1
        break
    fi
    printf 'ok   %-22s %8s execs %7s exec/s %5ss\n' "$t" "${execs:-?}" "${rate:-?}" "$secs"
done
echo "fuzz: $(( $(date +%s) - total_start ))s in all"
exit $status
