#!/bin/sh
# simd.sh — the SIMD kernels and their scalar twins (WHALE_NO_SIMD=1) generate the
# same greedy tokens on the fixtures with block-quantised and 16-bit weights.
BUILD=${BUILD:-build}
fail=0
for f in dsv2-q8_0.gguf qwen2-f16.gguf llama dsv3-fp8; do
    a=$("$BUILD/whale" run -m "tests/fixtures/$f" --tokens 0,5,17,42,99,7 -n 24 -t 2) || fail=1
    b=$(WHALE_NO_SIMD=1 "$BUILD/whale" run -m "tests/fixtures/$f" --tokens 0,5,17,42,99,7 -n 24 -t 1) || fail=1
    if [ -n "$a" ] && [ "$a" = "$b" ]; then
        echo "simd: $f: 24 greedy tokens equal (SIMD, 2 threads vs scalar, 1 thread)"
    else
        echo "simd: $f: MISMATCH"; echo "  simd:   $a"; echo "  scalar: $b"; fail=1
    fi
done
exit $fail
