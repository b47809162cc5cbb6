#!/bin/sh
# mpi.sh — data-parallel training over OpenMPI: `mpirun -np 2 whale train` on the tiny
# config (global batch: grad_accum 2 micro-batches of 2 sequences, one micro-batch per
# rank) must equal the single-process run with the same global batch (-np 1 accumulates
# both micro-batches): the logged losses, and the checkpoint (parameters, AdamW moments,
# routing biases) byte for byte. Runs only for a whale built with `make MPI=1`.
BUILD=${BUILD:-build}
W="$BUILD/whale"
if ! grep -q MPI_Init "$W" 2>/dev/null || ! command -v mpirun >/dev/null 2>&1; then
    echo "mpi: skipped ($W is not built with MPI=1, or no mpirun)"
    exit 0
fi
D=$(mktemp -d /tmp/whale-cli-mpi-XXXXXX)
trap 'rm -rf "$D"' EXIT
fail=0
i=0
while [ $i -lt 60 ]; do
    echo "{\"text\": \"the cat $i sat on the mat and then the cat ran $((i * 7)) times around\"}"
    i=$((i + 1))
done > "$D/docs.jsonl"
"$W" data -t tests/fixtures/train/tok -o "$D/data" --val 0.2 "$D/docs.jsonl" >/dev/null || exit 1
MPIRUN="mpirun --allow-run-as-root --oversubscribe"
export OMPI_MCA_btl_vader_single_copy_mechanism=none
for np in 1 2; do
    if ! $MPIRUN -np $np "$W" train tests/fixtures/train/tiny.conf --data "$D/data" \
            --out "$D/np$np" --steps 5 2>"$D/np$np.err"; then
        echo "mpi: FAIL: -np $np"; cat "$D/np$np.err"; exit 1
    fi
done
grep -q "on 2 rank(s)" "$D/np2.err" && echo "mpi: ok: 2 ranks" || { echo "mpi: FAIL: not 2 ranks"; fail=1; }
l1=$(sed 's/"tokens_per_s":[^,]*,//' "$D/np1/log.jsonl"); l2=$(sed 's/"tokens_per_s":[^,]*,//' "$D/np2/log.jsonl")
if [ "$l1" = "$l2" ]; then echo "mpi: ok: -np 2 logs the same losses, norms and loads as -np 1"; else
    echo "mpi: FAIL: logs differ"; diff "$D/np1/log.jsonl" "$D/np2/log.jsonl" | head; fail=1; fi
if cmp -s "$D/np1/checkpoint.bin" "$D/np2/checkpoint.bin"; then
    echo "mpi: ok: -np 2 parameters and optimizer state identical to -np 1 (5 steps)"
else
    echo "mpi: FAIL: checkpoints differ"; fail=1
fi
exit $fail
