#!/bin/sh
# setup.sh — installs what the `whale serve` black-box tests need: the npm packages
# pinned in package.json (the official openai SDK, playwright-core) into
# tests/serve/node_modules (git-ignored), and Debian's chromium for the web-page test
# when it is missing and apt-get can be used. Exit status 0 when the npm part worked.
set -e
cd "$(dirname "$0")"
if ! command -v npm >/dev/null 2>&1; then
    echo "serve setup: npm not found" >&2
    exit 2
fi
if [ ! -d node_modules/openai ] || [ ! -d node_modules/playwright-core ]; then
    npm install --no-audit --no-fund --no-save --loglevel=error >&2
fi
if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "serve setup: installing chromium (Debian) for the web-page test" >&2
        (apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 ||
            { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends chromium >/dev/null 2>&1; }) ||
            echo "serve setup: chromium could not be installed; the web-page test will be skipped" >&2
    else
        echo "serve setup: chromium missing and apt-get not usable; the web-page test will be skipped" >&2
    fi
fi
exit 0
