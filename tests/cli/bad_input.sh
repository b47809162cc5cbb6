#!/bin/sh
# bad_input.sh — the whale program on bad input: `whale info` on broken model
# files exits with status 1 (an error, not a crash) and its message names the
# file; `whale run` without a model prints how to call it; `whale --help`
# succeeds; and a good model still reports its KV-cache size. One line per check.
BUILD=${BUILD:-build}
W="$BUILD/whale"
if [ ! -x "$W" ]; then
    echo "bad_input: FAIL — $W not built"
    exit 1
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0

ok() { echo "bad_input: ok   $1"; }
bad() { echo "bad_input: FAIL $1"; fail=1; }

# expect_error NAME MODEL: exit status 1..125 (not a signal) and MODEL in stderr.
expect_error() {
    "$W" info "$2" >"$TMP/out" 2>"$TMP/err"
    rc=$?
    if [ "$rc" -ge 1 ] && [ "$rc" -le 125 ] && grep -qF "$2" "$TMP/err"; then
        ok "$1 (exit $rc: $(head -c 160 "$TMP/err"))"
    else
        bad "$1: exit $rc, stderr: $(cat "$TMP/err")"
    fi
}

# 1. an empty .gguf file
: >"$TMP/empty.gguf"
expect_error "empty GGUF" "$TMP/empty.gguf"

# 2. wrong magic: "GGUX", version 3, no tensors, no metadata
printf 'GGUX\003\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000' \
    >"$TMP/magic.gguf"
expect_error "GGUF with wrong magic" "$TMP/magic.gguf"

# 3. a GGUF that declares 2^40 tensors in 24 bytes
printf 'GGUF\003\000\000\000\000\000\000\000\000\001\000\000\000\000\000\000\000\000\000\000' \
    >"$TMP/count.gguf"
expect_error "GGUF tensor count 2^40" "$TMP/count.gguf"

# 4. a truncated safetensors file (first 100 bytes of the qwen2 fixture)
mkdir "$TMP/trunc"
cp tests/fixtures/qwen2/config.json "$TMP/trunc/"
head -c 100 tests/fixtures/qwen2/model.safetensors >"$TMP/trunc/model.safetensors"
expect_error "truncated safetensors" "$TMP/trunc"

# 5. a safetensors header length far beyond the file
mkdir "$TMP/hlen"
cp tests/fixtures/qwen2/config.json "$TMP/hlen/"
printf '\377\377\377\377\377\377\377\177{}' >"$TMP/hlen/model.safetensors"
expect_error "safetensors header length beyond the file" "$TMP/hlen"

# 6. a config that does not match the weights
mkdir "$TMP/layers"
sed 's/"num_hidden_layers": 2/"num_hidden_layers": 3/' tests/fixtures/qwen2/config.json \
    >"$TMP/layers/config.json"
cp tests/fixtures/qwen2/model.safetensors "$TMP/layers/"
expect_error "config with a layer the weights lack" "$TMP/layers"

# 7. no such path
expect_error "missing path" "$TMP/nowhere"

# `whale run` without -m: a usage message, non-zero exit
"$W" run --tokens 1,2,3 >"$TMP/out" 2>"$TMP/err"
rc=$?
if [ "$rc" -ge 1 ] && [ "$rc" -le 125 ] && grep -q "whale run -m MODEL" "$TMP/err"; then
    ok "run without -m (exit $rc: $(cat "$TMP/err"))"
else
    bad "run without -m: exit $rc, stderr: $(cat "$TMP/err")"
fi

# `whale --help` succeeds and prints the usage
if "$W" --help >"$TMP/out" 2>"$TMP/err" && grep -q "usage: whale" "$TMP/out"; then
    ok "--help"
else
    bad "--help: $(cat "$TMP/out" "$TMP/err")"
fi

# numeric options: out of range, overflowing or not numbers are refused by name
expect_opt() { # NAME ARGS...: exit 1 and the option named in stderr
    name=$1; shift
    "$W" "$@" </dev/null >"$TMP/out" 2>"$TMP/err"
    rc=$?
    if [ "$rc" -eq 1 ] && grep -qF -- "$name" "$TMP/err"; then
        ok "$* (exit 1: $(head -c 120 "$TMP/err"))"
    else
        bad "$*: exit $rc, stderr: $(cat "$TMP/err")"
    fi
}
expect_opt -n chat -m tests/fixtures/dsv3 -n 99999999999
expect_opt --temp chat -m tests/fixtures/dsv3 --temp abc
expect_opt --think-budget chat -m tests/fixtures/dsv3 --think-budget -7
expect_opt --port serve -m tests/fixtures/dsv3 --port 70000
expect_opt --ctx serve -m tests/fixtures/dsv3 --ctx 1e3

# a good model after all that
if "$W" info tests/fixtures/dsv3 >"$TMP/out" 2>"$TMP/err" &&
    grep -q "kv cache:     480 bytes per token" "$TMP/out"; then
    ok "info tests/fixtures/dsv3: 480 KV bytes per token"
else
    bad "info tests/fixtures/dsv3: $(cat "$TMP/out" "$TMP/err")"
fi

exit $fail
