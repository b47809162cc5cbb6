#!/bin/sh
# train_bench.sh — training tokens/s, whale vs PyTorch (Debian python3-torch, CPU), same
# DeepSeek-V3-style configs, threads, batch and sequence length, in the same run; and
# whale's achieved GFLOP/s (6 x active parameters x tokens, attention excluded) against
# the sgemm peak measured by OpenBLAS through numpy... no: through torch.mm at the same
# threads. Not a test. Usage: BUILD=build sh bench/train_bench.sh [THREADS] [STEPS]
BUILD=${BUILD:-build}
TH=${1:-2}
STEPS=${2:-20}
W="$BUILD/whale"
PY=/usr/bin/python3
D=$(mktemp -d /tmp/whale-train-bench-XXXXXX)
trap 'rm -rf "$D"' EXIT
# random-token shard (header: WHTK v1, vocab, u32, count, eos) for a vocabulary V
shard() { # V dir
    mkdir -p "$2"
    $PY - "$1" "$2" <<'PY'
import struct, sys, random
V, d = int(sys.argv[1]), sys.argv[2]
n = 400000
random.seed(1)
with open(d + "/train-00000.tok", "wb") as f:
    f.write(struct.pack("<IIIIQII", 0x4B544857, 1, V, 1, n, 0xFFFFFFFF, 0))
    f.write(struct.pack("<%dI" % n, *[random.randrange(V) for _ in range(n)]))
PY
}
S1="vocab_size=2048 hidden_size=128 num_hidden_layers=4 num_attention_heads=4 q_lora_rank=64 kv_lora_rank=64 qk_nope_head_dim=32 qk_rope_head_dim=16 v_head_dim=32 intermediate_size=384 moe_intermediate_size=64 n_routed_experts=8 num_experts_per_tok=2 n_shared_experts=1 first_k_dense_replace=1 num_nextn_predict_layers=1"
S20="vocab_size=8192 hidden_size=384 num_hidden_layers=6 num_attention_heads=6 q_lora_rank=192 kv_lora_rank=128 qk_nope_head_dim=64 qk_rope_head_dim=32 v_head_dim=64 intermediate_size=1024 moe_intermediate_size=192 n_routed_experts=8 num_experts_per_tok=2 n_shared_experts=1 first_k_dense_replace=1 num_nextn_predict_layers=1"
RUN="batch_size=8 seq_len=128 threads=$TH"
peak=$($PY -c "
import torch, time
torch.set_num_threads($TH)
a = torch.randn(1024, 1024); b = torch.randn(1024, 1024)
for _ in range(3): a @ b
t = time.perf_counter(); n = 20
for _ in range(n): a @ b
print('%.1f' % (2 * 1024**3 * n / (time.perf_counter() - t) / 1e9))")
echo "sgemm peak (1024^3, $TH threads): $peak GFLOP/s"
echo "| model | params | whale tok/s | PyTorch tok/s | ratio | whale GFLOP/s | % of sgemm peak |"
echo "|---|---|---|---|---|---|---|"
for name in 1M 20M; do
    if [ $name = 1M ]; then S=$S1; else S=$S20; fi
    V=$(echo "$S" | sed 's/.*vocab_size=\([0-9]*\).*/\1/')
    shard "$V" "$D/data$V"
    conf="$D/$name.conf"
    for kv in $S $RUN; do echo "$kv" | sed 's/=/ = /'; done > "$conf"
    "$W" train "$conf" --data "$D/data$V" --out "$D/out$name" --steps "$STEPS" --warmup 2 \
        --eval_interval 0 --checkpoint_interval 0 --no-export 2>"$D/$name.err" || { cat "$D/$name.err"; exit 1; }
    params=$(sed -n 's/.*train: \([0-9]*\) parameters.*/\1/p' "$D/$name.err")
    wtok=$(sed -n 's/.*"tokens_per_s":\([0-9.]*\).*/\1/p' "$D/out$name/log.jsonl" | tail -n +3 | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    ttok=$($PY bench/train_torch.py $S $RUN steps="$STEPS" | sed -n 's/.*tokens\/s \([0-9.]*\).*/\1/p')
    # active parameters per token ~ total minus the routed experts not chosen
    gf=$($PY -c "
import re
s = dict(kv.split('=') for kv in '$S'.split())
g = lambda k: int(s[k])
C, E, K, MI, L, FD, M = g('hidden_size'), g('n_routed_experts'), g('num_experts_per_tok'), g('moe_intermediate_size'), g('num_hidden_layers'), g('first_k_dense_replace'), g('num_nextn_predict_layers')
inactive = (L - FD + M) * (E - K) * 3 * MI * C
act = $params - inactive - g('vocab_size') * C  # the embedding lookup is no matmul
print('%.2f %.1f' % (6 * act * $wtok / 1e9, 100 * 6 * act * $wtok / 1e9 / $peak))")
    echo "| $name | $params | $wtok | $ttok | $($PY -c "print('%.2fx' % ($wtok / $ttok))") | ${gf% *} | ${gf#* } |"
done
