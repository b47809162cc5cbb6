#!/bin/sh
# serve.sh — black-box tests of `whale serve` (tests/serve/*.test.mjs): the official
# openai npm SDK drives the API and headless Chromium the web page. Installs the npm
# packages (and Debian's chromium, when possible) with tests/serve/setup.sh on first
# use; prints SKIP only when node or npm is missing.
BUILD=${BUILD:-build}
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "serve: SKIP: node/npm not found (the server tests need the openai npm SDK)"
    exit 0
fi
if [ ! -d tests/serve/node_modules/openai ] || [ ! -d tests/serve/node_modules/playwright-core ]; then
    if ! sh tests/serve/setup.sh; then
        echo "serve: FAIL: tests/serve/setup.sh could not install the npm packages"
        exit 1
    fi
fi
if [ ! -x "$BUILD/whale" ]; then
    echo "serve: FAIL: $BUILD/whale not built"
    exit 1
fi
# node's own runner prints a summary (tests, pass, fail); files run one after another
if BUILD="$BUILD" timeout 300 node --test --test-concurrency=1 \
        tests/serve/api.test.mjs tests/serve/web.test.mjs >"$BUILD/serve-test.log" 2>&1; then
    grep -E '^# (tests|pass|fail|skipped)' "$BUILD/serve-test.log" | tr '\n' ' ' | sed 's/^/serve: ok: /; s/ *$/\n/'
    exit 0
fi
grep -E -B2 -A20 '^ *not ok' "$BUILD/serve-test.log" | head -80
grep -E '^# (tests|pass|fail)' "$BUILD/serve-test.log"
echo "serve: FAIL (full log: $BUILD/serve-test.log)"
exit 1
