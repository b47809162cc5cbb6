#!/bin/sh
# setup.sh — installs the Debian packages whale builds and tests with, if missing.
#   build-essential, clang     compilers (gcc is the default; clang for the second build and fuzzers)
#   libjson-c-dev              JSON: config.json, safetensors headers, tokenizer.json
#   libpcre2-dev               Unicode-property regexes for the tokenizer's pre-tokenizers
#   libcmocka-dev              unit-test runner
#   libopenblas-dev            BLAS for prefill and training
#   libmicrohttpd-dev          the HTTP server of `whale serve`
#   libedit-dev                line editing and history in `whale chat`
#   libopenmpi-dev, openmpi-bin  OpenMPI: headers/mpicc and mpirun for data-parallel training
#                              (`make MPI=1`, `mpirun -np N whale train`); optional at build
#                              time, but CI builds and tests it (tests/cli/mpi.sh)
set -e
PKGS="build-essential clang libjson-c-dev libpcre2-dev libcmocka-dev libopenblas-dev libmicrohttpd-dev libedit-dev libopenmpi-dev openmpi-bin pkg-config"
MISSING=""
for p in $PKGS; do
    dpkg -s "$p" >/dev/null 2>&1 || MISSING="$MISSING $p"
done
if [ -n "$MISSING" ]; then
    echo "setup: installing:$MISSING"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $MISSING
fi
