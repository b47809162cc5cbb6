#!/usr/bin/env bash
# Build the llama.cpp second oracle (tools/llamacpp/llama_logits).
#
# Idempotent.  Steps:
#   1. npm-install node-llama-cpp@3.21.1 + its prebuilt linux-x64 CPU binaries into
#      $LLAMACPP_NODE_DIR (default build/llamacpp/node).  Skipped when already there.
#   2. Extract include/ and ggml/include/ of the exact llama.cpp source the binaries were
#      built from (the git bundle shipped inside the npm package) into build/llamacpp/src.
#      No llama.cpp source is ever committed to this repository.
#   3. Compile tools/llamacpp/llama_logits.c -> build/llamacpp/llama_logits (rpath set to the
#      npm package's library folder) and tests/tools/fx_compare.c -> build/llamacpp/fx_compare.
#
# Environment:
#   LLAMACPP_BUILD_DIR  output folder              (default <repo>/build/llamacpp)
#   LLAMACPP_NODE_DIR   npm prefix to install into / reuse (default $LLAMACPP_BUILD_DIR/node)
#   CC, CFLAGS          C compiler and extra flags (default cc)
set -euo pipefail

NLC_VERSION=3.21.1
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${LLAMACPP_BUILD_DIR:-$ROOT/build/llamacpp}
NODE_DIR=${LLAMACPP_NODE_DIR:-$BUILD/node}
CC=${CC:-cc}

die() { echo "setup.sh: error: $*" >&2; exit 1; }

mkdir -p "$BUILD"
# Keep everything in the build folder out of git, whatever the top-level .gitignore says.
[ -f "$BUILD/.gitignore" ] || printf '*\n' > "$BUILD/.gitignore"

NM=$NODE_DIR/node_modules
LIBDIR=$NM/@node-llama-cpp/linux-x64/bins/linux-x64
BUNDLE=$NM/node-llama-cpp/llama/gitRelease.bundle

installed_version() {
    [ -f "$NM/node-llama-cpp/package.json" ] || return 1
    sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$NM/node-llama-cpp/package.json" | head -n1
}

# ---- 1. npm package ---------------------------------------------------------------------
if [ "$(installed_version || true)" = "$NLC_VERSION" ] && [ -f "$LIBDIR/libllama.v0.4.0.so" ] \
        && [ -f "$BUNDLE" ]; then
    echo "setup.sh: node-llama-cpp@$NLC_VERSION already in $NODE_DIR"
else
    command -v npm >/dev/null || die "npm not found (needed once to fetch node-llama-cpp@$NLC_VERSION)"
    mkdir -p "$NODE_DIR"
    echo "setup.sh: installing node-llama-cpp@$NLC_VERSION into $NODE_DIR"
    # --ignore-scripts: we only need the files; the package's postinstall would probe/build.
    npm i --prefix "$NODE_DIR" -E --omit=optional --ignore-scripts --no-audit --no-fund \
        "node-llama-cpp@$NLC_VERSION" "@node-llama-cpp/linux-x64@$NLC_VERSION"
fi
[ -f "$BUNDLE" ] || die "git bundle not found: $BUNDLE"
LIBLLAMA=$(ls "$LIBDIR"/libllama.v*.so 2>/dev/null | head -n1 || true)
LIBGGML=$(ls "$LIBDIR"/libggml.v*.so 2>/dev/null | head -n1 || true)
[ -n "$LIBLLAMA" ] && [ -n "$LIBGGML" ] && [ -f "$LIBDIR/libggml-base.so" ] \
    || die "prebuilt libraries missing in $LIBDIR"

# ---- 2. headers from the bundle -----------------------------------------------------------
SRC=$BUILD/src
GITDIR=$BUILD/llama.cpp.git
BUNDLE_SUM=$(cksum < "$BUNDLE")
if [ ! -f "$SRC/.bundle-sum" ] || [ "$(cat "$SRC/.bundle-sum")" != "$BUNDLE_SUM" ] \
        || [ ! -f "$SRC/include/llama.h" ]; then
    command -v git >/dev/null || die "git not found (needed to read $BUNDLE)"
    rm -rf "$GITDIR" "$SRC"
    git clone -q --bare "$BUNDLE" "$GITDIR"
    mkdir -p "$SRC"
    git --git-dir="$GITDIR" archive HEAD include ggml/include | tar -x -C "$SRC"
    echo "$BUNDLE_SUM" > "$SRC/.bundle-sum"
fi
[ -f "$SRC/include/llama.h" ] && [ -f "$SRC/ggml/include/ggml.h" ] || die "header extraction failed"

INFO=$NM/node-llama-cpp/llama/llama.cpp.info.json
TAG=$(sed -n 's/.*"tag": *"\([^"]*\)".*/\1/p' "$INFO" 2>/dev/null | head -n1)
SUBJECT=$(git --git-dir="$GITDIR" log -1 --format=%B 2>/dev/null | grep -v '^## SQUASHED' | grep -v '^$' | head -n1 || true)
echo "setup.sh: llama.cpp release ${TAG:-?} (bundle HEAD $(git --git-dir="$GITDIR" rev-parse --short HEAD): ${SUBJECT:-?})"
GGML_VER=$(sed -n 's/^set(GGML_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\))/\2/p' <(git --git-dir="$GITDIR" show HEAD:ggml/CMakeLists.txt) | paste -sd. -)
echo "setup.sh: ggml $GGML_VER, libraries in $LIBDIR"

# ---- 3. compile ---------------------------------------------------------------------------
WFLAGS="-std=c11 -O2 -Wall -Wextra -Werror"
LLAMA_SO=$(basename "$LIBLLAMA")
GGML_SO=$(basename "$LIBGGML")
set -x
$CC $WFLAGS ${CFLAGS:-} -I"$SRC/include" -I"$SRC/ggml/include" \
    -DLLAMACPP_LIBDIR="\"$LIBDIR\"" -DLLAMACPP_RELEASE="\"${TAG:-unknown}\"" \
    -o "$BUILD/llama_logits" "$ROOT/tools/llamacpp/llama_logits.c" \
    -L"$LIBDIR" -l:"$LLAMA_SO" -l:"$GGML_SO" -l:libggml-base.so \
    -Wl,-rpath,"$LIBDIR" -lm
$CC $WFLAGS ${CFLAGS:-} -o "$BUILD/fx_compare" "$ROOT/tests/tools/fx_compare.c" -lm
{ set +x; } 2>/dev/null
echo "setup.sh: built $BUILD/llama_logits and $BUILD/fx_compare"
"$BUILD/llama_logits" --version
# the peer side of `make bench`
if [ -f "$ROOT/bench/llama_bench.c" ]; then
    $CC $WFLAGS ${CFLAGS:-} -I"$SRC/include" -I"$SRC/ggml/include" \
        -DLLAMACPP_LIBDIR="\"$LIBDIR\"" -DLLAMACPP_RELEASE="\"${TAG:-unknown}\"" \
        -o "$BUILD/llama_bench" "$ROOT/bench/llama_bench.c" \
        -L"$LIBDIR" -l:"$LLAMA_SO" -l:"$GGML_SO" -l:libggml-base.so -Wl,-rpath,"$LIBDIR" -lm
    echo "setup.sh: built $BUILD/llama_bench"
fi
# the peer side of bench/tok_bench.sh (tokenizer speed)
if [ -f "$ROOT/bench/llama_tok_bench.c" ]; then
    $CC $WFLAGS ${CFLAGS:-} -I"$SRC/include" -I"$SRC/ggml/include" \
        -DLLAMACPP_RELEASE="\"${TAG:-unknown}\"" \
        -o "$BUILD/llama_tok_bench" "$ROOT/bench/llama_tok_bench.c" \
        -L"$LIBDIR" -l:"$LLAMA_SO" -l:"$GGML_SO" -l:libggml-base.so -Wl,-rpath,"$LIBDIR" -lm
    echo "setup.sh: built $BUILD/llama_tok_bench"
fi
