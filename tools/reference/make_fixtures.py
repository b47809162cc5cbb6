#!/usr/bin/python3
# whale reference oracle -- fixture generator (MIT License, part of the whale project).
#
# Generates tiny random-weight checkpoints (HF safetensors dirs + GGUF files) and the
# expected outputs (.whfx) computed by ref_model.py, into tests/fixtures/.
# Deterministic: every fixture has a base seed; seeds are tried in order until the
# clear-margin checks pass (see README.md). Run with Debian's python3-torch:
#     /usr/bin/python3 tools/reference/make_fixtures.py      (or: make -C tools/reference)

import copy
import json
import os
import re
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import formats as fm  # noqa: E402
import ref_model as rm  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT = os.path.join(ROOT, "tests", "fixtures")

VOCAB, T, G, BOS, EOS = 256, 12, 8, 0, 1
LOGIT_MARGIN = 0.02
ROUTER_MARGIN = 1e-3
MAX_TRIES = 400
MIN_DISTINCT_GEN = 4  # reject degenerate continuations (e.g. one token repeated)

torch.set_num_threads(1)


class Reject(Exception):
    pass


# ----------------------------------------------------------------------------------------
# configs
# ----------------------------------------------------------------------------------------


def common_cfg():
    return {"vocab_size": VOCAB, "bos_token_id": BOS, "eos_token_id": EOS, "torch_dtype": "float32",
            "tie_word_embeddings": False, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
            "max_position_embeddings": 128, "initializer_range": 0.02, "hidden_act": "silu",
            "use_cache": True}


def ds_cfg(v3, **kw):
    c = common_cfg()
    c.update({
        "architectures": ["DeepseekV3ForCausalLM" if v3 else "DeepseekV2ForCausalLM"],
        "model_type": "deepseek_v3" if v3 else "deepseek_v2",
        "attention_bias": False, "attention_dropout": 0.0, "moe_layer_freq": 1,
        "num_key_value_heads": kw.get("num_attention_heads"), "aux_loss_alpha": 0.001,
        "seq_aux": True, "ep_size": 1, "pretraining_tp": 1, "num_nextn_predict_layers": 0,
    })
    c.update(kw)
    c["num_key_value_heads"] = c["num_attention_heads"]
    return c


YARN = {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32, "beta_fast": 32,
        "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 1.0}

CFG_DSV3 = ds_cfg(True, hidden_size=64, intermediate_size=128, moe_intermediate_size=32,
                  num_hidden_layers=3, first_k_dense_replace=1, num_attention_heads=4, q_lora_rank=32,
                  kv_lora_rank=32, qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=16,
                  n_routed_experts=16, n_group=4, topk_group=2, num_experts_per_tok=4, n_shared_experts=1,
                  routed_scaling_factor=2.5, norm_topk_prob=True, scoring_func="sigmoid",
                  topk_method="noaux_tc", rope_scaling=dict(YARN), num_nextn_predict_layers=1)

CFG_DSV3_FP8 = ds_cfg(True, hidden_size=256, intermediate_size=384, moe_intermediate_size=128,
                      num_hidden_layers=2, first_k_dense_replace=1, num_attention_heads=2, q_lora_rank=192,
                      kv_lora_rank=160, qk_nope_head_dim=32, qk_rope_head_dim=16, v_head_dim=32,
                      n_routed_experts=6, n_group=2, topk_group=1, num_experts_per_tok=2, n_shared_experts=1,
                      routed_scaling_factor=2.5, norm_topk_prob=True, scoring_func="sigmoid",
                      topk_method="noaux_tc", rope_scaling=dict(YARN), num_nextn_predict_layers=1,
                      torch_dtype="bfloat16",
                      quantization_config={"activation_scheme": "dynamic", "fmt": "e4m3",
                                           "quant_method": "fp8", "weight_block_size": [128, 128]})

CFG_DSV2 = ds_cfg(False, hidden_size=64, intermediate_size=128, moe_intermediate_size=32,
                  num_hidden_layers=3, first_k_dense_replace=1, num_attention_heads=4, q_lora_rank=None,
                  kv_lora_rank=32, qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=16,
                  n_routed_experts=8, n_group=4, topk_group=2, num_experts_per_tok=3, n_shared_experts=2,
                  routed_scaling_factor=2.0, norm_topk_prob=False, scoring_func="softmax",
                  topk_method="group_limited_greedy",
                  rope_scaling=dict(YARN, mscale=0.707, mscale_all_dim=0.707))

CFG_DSV2_LITE = ds_cfg(False, hidden_size=64, intermediate_size=128, moe_intermediate_size=32,
                       num_hidden_layers=2, first_k_dense_replace=1, num_attention_heads=4, q_lora_rank=None,
                       kv_lora_rank=32, qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=16,
                       n_routed_experts=8, n_group=1, topk_group=1, num_experts_per_tok=3, n_shared_experts=2,
                       routed_scaling_factor=1.0, norm_topk_prob=False, scoring_func="softmax",
                       topk_method="greedy", rope_scaling=None)

CFG_QWEN2 = dict(common_cfg(), architectures=["Qwen2ForCausalLM"], model_type="qwen2", hidden_size=64,
                 intermediate_size=160, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                 tie_word_embeddings=True, rope_theta=1000000.0, rms_norm_eps=1e-6, rope_scaling=None,
                 use_sliding_window=False, sliding_window=None, max_window_layers=2, attention_dropout=0.0)

# original_max_position_embeddings 64 (not 32): with head_dim 16 and theta 5e5 the
# wavelengths are 6.3, 32.4, 167, ...; orig=32 puts none in the smoothed band (8..32],
# orig=64 gives high (6.3 < 16), mid (16 <= 32.4 <= 64) and low (> 64) bands.
CFG_LLAMA = dict(common_cfg(), architectures=["LlamaForCausalLM"], model_type="llama", hidden_size=64,
                 intermediate_size=160, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                 tie_word_embeddings=False, rope_theta=500000.0, rms_norm_eps=1e-5, torch_dtype="bfloat16",
                 rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                               "high_freq_factor": 4.0, "original_max_position_embeddings": 64},
                 attention_bias=False, mlp_bias=False, head_dim=16)


# ----------------------------------------------------------------------------------------
# random weights (HF names, float32 numpy)
# ----------------------------------------------------------------------------------------


def _lin(rng, out_dim, in_dim, gain=1.0):
    return (rng.standard_normal((out_dim, in_dim)) * (gain / np.sqrt(in_dim))).astype(np.float32)


def _norm(rng, n):
    return (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)


def _mlp(rng, W, p, h, inter):
    W[p + "gate_proj.weight"] = _lin(rng, inter, h)
    W[p + "up_proj.weight"] = _lin(rng, inter, h)
    W[p + "down_proj.weight"] = _lin(rng, h, inter)


def deepseek_weights(cfg, rng, bias_std=0.1):
    h, V = cfg["hidden_size"], cfg["vocab_size"]
    H, dn, dr, dv, r = (cfg["num_attention_heads"], cfg["qk_nope_head_dim"], cfg["qk_rope_head_dim"],
                        cfg["v_head_dim"], cfg["kv_lora_rank"])
    W = {"model.embed_tokens.weight": rng.standard_normal((V, h)).astype(np.float32),
         "model.norm.weight": _norm(rng, h),
         "lm_head.weight": _lin(rng, V, h, gain=3.0)}
    L = cfg["num_hidden_layers"]
    for i in range(L + cfg.get("num_nextn_predict_layers", 0)):
        p = "model.layers.%d." % i
        W[p + "input_layernorm.weight"] = _norm(rng, h)
        W[p + "post_attention_layernorm.weight"] = _norm(rng, h)
        a = p + "self_attn."
        if cfg.get("q_lora_rank"):
            qr = cfg["q_lora_rank"]
            W[a + "q_a_proj.weight"] = _lin(rng, qr, h)
            W[a + "q_a_layernorm.weight"] = _norm(rng, qr)
            W[a + "q_b_proj.weight"] = _lin(rng, H * (dn + dr), qr)
        else:
            W[a + "q_proj.weight"] = _lin(rng, H * (dn + dr), h)
        W[a + "kv_a_proj_with_mqa.weight"] = _lin(rng, r + dr, h)
        W[a + "kv_a_layernorm.weight"] = _norm(rng, r)
        W[a + "kv_b_proj.weight"] = _lin(rng, H * (dn + dv), r)
        W[a + "o_proj.weight"] = _lin(rng, h, H * dv)
        m = p + "mlp."
        if rm.is_moe_layer(cfg, i):
            E = cfg["n_routed_experts"]
            W[m + "gate.weight"] = _lin(rng, E, h, gain=2.0)
            if cfg["topk_method"] == "noaux_tc":
                W[m + "gate.e_score_correction_bias"] = (bias_std * rng.standard_normal(E)).astype(np.float32)
            for e in range(E):
                _mlp(rng, W, m + "experts.%d." % e, h, cfg["moe_intermediate_size"])
            if cfg.get("n_shared_experts"):
                _mlp(rng, W, m + "shared_experts.", h, cfg["moe_intermediate_size"] * cfg["n_shared_experts"])
        else:
            _mlp(rng, W, m, h, cfg["intermediate_size"])
        if i >= L:  # multi-token-prediction module (not used for the main logits)
            W[p + "enorm.weight"] = _norm(rng, h)
            W[p + "hnorm.weight"] = _norm(rng, h)
            W[p + "eh_proj.weight"] = _lin(rng, h, 2 * h)
            W[p + "shared_head.norm.weight"] = _norm(rng, h)
            W[p + "shared_head.head.weight"] = _lin(rng, V, h, gain=3.0)
            W[p + "embed_tokens.weight"] = rng.standard_normal((V, h)).astype(np.float32)
    return W


def dense_weights(cfg, rng, qkv_bias):
    h, V = cfg["hidden_size"], cfg["vocab_size"]
    H, KV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    d = h // H
    tied = cfg["tie_word_embeddings"]
    out_gain = 4.0 if tied else 1.0
    W = {"model.embed_tokens.weight": (rng.standard_normal((V, h)) * (3.0 / np.sqrt(h) if tied else 1.0))
         .astype(np.float32),
         "model.norm.weight": _norm(rng, h)}
    if not tied:
        W["lm_head.weight"] = _lin(rng, V, h, gain=3.0)
    for i in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % i
        W[p + "input_layernorm.weight"] = _norm(rng, h)
        W[p + "post_attention_layernorm.weight"] = _norm(rng, h)
        a = p + "self_attn."
        W[a + "q_proj.weight"] = _lin(rng, H * d, h)
        W[a + "k_proj.weight"] = _lin(rng, KV * d, h)
        W[a + "v_proj.weight"] = _lin(rng, KV * d, h)
        # tied embeddings: the residual copy of the input embedding scores itself highly
        # through the tied head (greedy then repeats one token); larger layer outputs avoid it
        W[a + "o_proj.weight"] = _lin(rng, h, H * d, gain=out_gain)
        if qkv_bias:
            W[a + "q_proj.bias"] = (0.5 * rng.standard_normal(H * d)).astype(np.float32)
            W[a + "k_proj.bias"] = (0.5 * rng.standard_normal(KV * d)).astype(np.float32)
            W[a + "v_proj.bias"] = (0.5 * rng.standard_normal(KV * d)).astype(np.float32)
        _mlp(rng, W, p + "mlp.", h, cfg["intermediate_size"])
        W[p + "mlp.down_proj.weight"] *= np.float32(out_gain)
    return W


# ----------------------------------------------------------------------------------------
# evaluation and margin checks
# ----------------------------------------------------------------------------------------


def to_torch(W):
    return {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in W.items()}


def argmax_low(v):
    return int(np.argmax(v))  # numpy returns the first (lowest) index among ties


def top_margin(v):
    s = np.sort(v)
    return float(s[-1] - s[-2])


def evaluate(cfg, W, tokens, need_bias_changes=0):
    """Run the reference, produce everything the .whfx needs, and enforce clear margins."""
    Wt = to_torch(W)
    logits, routing = rm.forward(cfg, Wt, list(tokens))
    logits = logits.numpy().astype(np.float32)
    margins = [top_margin(logits[-1])]
    seq = list(tokens)
    gen = []
    step_logits = logits
    last_routing = routing
    for g in range(G):
        if g > 0:
            sl, last_routing = rm.forward(cfg, Wt, seq)
            step_logits = sl.numpy()
            margins.append(top_margin(step_logits[-1]))
            if not np.allclose(step_logits[:T], logits, atol=1e-4, rtol=1e-4):
                raise AssertionError("reference is not causal/consistent")
        nxt = argmax_low(step_logits[-1])
        if nxt == EOS:
            raise Reject("greedy continuation hits EOS")
        gen.append(nxt)
        seq.append(nxt)
    if len(set(gen)) < MIN_DISTINCT_GEN:
        raise Reject("greedy repetitive %s" % gen)
    if min(margins) < LOGIT_MARGIN:
        raise Reject("logit margin %.4f" % min(margins))
    router_min = float("inf")
    for rec in last_routing:  # covers prompt and generated positions
        for name, v in rec["margins"]:
            router_min = min(router_min, v)
            if v < ROUTER_MARGIN:
                raise Reject("router %s margin %.2g (layer %d)" % (name, v, rec["layer"]))
    moe, n_bias_changed = [], 0
    for rec in routing:
        moe.append((rec["layer"], np.asarray(rec["sel"], dtype=np.int32)))
        if rec["sel_nobias"] is not None:
            n_bias_changed += sum(sorted(a) != sorted(b) for a, b in zip(rec["sel"], rec["sel_nobias"]))
    if n_bias_changed < need_bias_changes:
        raise Reject("n_bias_changed %d" % n_bias_changed)
    return {"logits": logits, "gen": gen, "moe": moe, "n_bias_changed": n_bias_changed,
            "top_k": cfg.get("num_experts_per_tok", 0) if moe else 0,
            "min_margin": min(margins), "router_min": router_min,
            "max_abs": float(np.abs(logits).max())}


# ----------------------------------------------------------------------------------------
# safetensors / config output
# ----------------------------------------------------------------------------------------

FP8_LINEAR = re.compile(r"^model\.layers\.\d+\.(.*\.)?(q_a_proj|q_b_proj|q_proj|kv_a_proj_with_mqa|kv_b_proj|"
                        r"o_proj|gate_proj|up_proj|down_proj|eh_proj)\.weight$")


def st_records(W, mode):
    """Storage records for an HF checkpoint. mode: 'f32', 'bf16', or 'fp8' (V3 release
    layout). Returns (records name->(dtype, shape, bytes), effective float32 weights)."""
    recs, eff = {}, {}
    for n, w in W.items():
        if mode == "f32":
            recs[n], eff[n] = fm.st_tensor("F32", w), w
        elif mode == "bf16":
            bits = fm.f32_to_bf16_bits(w).reshape(w.shape)
            recs[n], eff[n] = fm.st_tensor("BF16", bits), fm.bf16_bits_to_f32(bits).reshape(w.shape)
        elif mode == "fp8":
            if FP8_LINEAR.match(n):
                codes, scale, deq = fm.fp8_block_quantize(w)
                recs[n] = fm.st_tensor("F8_E4M3", codes)
                recs[n + "_scale_inv"] = fm.st_tensor("F32", scale)
                eff[n] = deq
            elif n.endswith("e_score_correction_bias"):
                recs[n], eff[n] = fm.st_tensor("F32", w), w
            else:
                bits = fm.f32_to_bf16_bits(w).reshape(w.shape)
                recs[n], eff[n] = fm.st_tensor("BF16", bits), fm.bf16_bits_to_f32(bits).reshape(w.shape)
        else:
            raise ValueError(mode)
    return recs, eff


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=False)
        f.write("\n")


def write_hf_dir(d, cfg, recs, shards=1):
    os.makedirs(d, exist_ok=True)
    for fn in os.listdir(d):
        if fn.endswith(".safetensors") or fn.endswith(".json"):
            os.remove(os.path.join(d, fn))
    write_json(os.path.join(d, "config.json"), cfg)
    write_json(os.path.join(d, "generation_config.json"),
               {"bos_token_id": BOS, "eos_token_id": EOS, "do_sample": False, "_from_model_config": True})
    if shards == 1:
        fm.write_safetensors(os.path.join(d, "model.safetensors"), recs)
        return ["model.safetensors"]

    def layer_of(n):
        m = re.match(r"model\.layers\.(\d+)\.", n)
        return int(m.group(1)) if m else (-1 if "embed" in n else 10 ** 6)

    names = sorted(recs, key=lambda n: (layer_of(n), n))
    cut = [0] + [len(names) * (s + 1) // shards for s in range(shards)]
    # keep each layer within one shard: move the cut to a layer boundary
    for s in range(1, shards):
        while 0 < cut[s] < len(names) and layer_of(names[cut[s]]) == layer_of(names[cut[s] - 1]):
            cut[s] += 1
    weight_map, total, files = {}, 0, []
    for s in range(shards):
        fn = "model-%05d-of-%05d.safetensors" % (s + 1, shards)
        part = {n: recs[n] for n in names[cut[s]:cut[s + 1]]}
        total += fm.write_safetensors(os.path.join(d, fn), part)
        weight_map.update({n: fn for n in part})
        files.append(fn)
    write_json(os.path.join(d, "model.safetensors.index.json"),
               {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))})
    return files


# ----------------------------------------------------------------------------------------
# GGUF conversion (HF names -> llama.cpp names)
# ----------------------------------------------------------------------------------------


def _choose_type(name, arr, policy):
    if arr.ndim < 2:
        return fm.GGML_F32
    if policy == "f16":
        return fm.GGML_F16
    if policy == "q8_0":
        if arr.shape[-1] % fm.QK8_0 == 0 and ".ffn_gate_inp." not in name:
            return fm.GGML_Q8_0
        return fm.GGML_F32
    return fm.GGML_F32


class GGUFBuilder:
    """Collects (gguf name, array in torch order, setter) entries; quantizes them with the
    type policy and writes the represented values back into an effective HF weight dict."""

    def __init__(self, W, policy):
        self.eff = {k: v.copy() for k, v in W.items()}
        self.W = W
        self.policy = policy
        self.tensors = []

    def add(self, name, arr, setter=None):
        rec = fm.gguf_tensor(_choose_type(name, arr, self.policy), arr)
        self.tensors.append((name, rec))
        if setter is not None:
            setter(rec["values"])

    def direct(self, name, hf):
        def s(v):
            self.eff[hf] = v.reshape(self.W[hf].shape).astype(np.float32)
        self.add(name, self.W[hf], s)

    def stacked(self, name, hf_fmt, E):
        arr = np.stack([self.W[hf_fmt % e] for e in range(E)])

        def s(v):
            for e in range(E):
                self.eff[hf_fmt % e] = v[e].astype(np.float32)
        self.add(name, arr, s)


def file_type(policy):
    return {"f32": 0, "f16": 1, "q8_0": 7}[policy]


def base_kvs(arch, name, cfg, policy, head_count_kv, rope_dim):
    return [
        ("general.architecture", fm.GGUF_STR, arch),
        ("general.name", fm.GGUF_STR, name),
        ("general.file_type", fm.GGUF_U32, file_type(policy)),
        ("general.alignment", fm.GGUF_U32, 32),
        (arch + ".block_count", fm.GGUF_U32, cfg["num_hidden_layers"]),
        (arch + ".context_length", fm.GGUF_U32, cfg["max_position_embeddings"]),
        (arch + ".embedding_length", fm.GGUF_U32, cfg["hidden_size"]),
        (arch + ".feed_forward_length", fm.GGUF_U32, cfg["intermediate_size"]),
        (arch + ".attention.head_count", fm.GGUF_U32, cfg["num_attention_heads"]),
        (arch + ".attention.head_count_kv", fm.GGUF_U32, head_count_kv),
        (arch + ".rope.freq_base", fm.GGUF_F32, float(cfg["rope_theta"])),
        (arch + ".attention.layer_norm_rms_epsilon", fm.GGUF_F32, float(cfg["rms_norm_eps"])),
        (arch + ".vocab_size", fm.GGUF_U32, cfg["vocab_size"]),
        (arch + ".rope.dimension_count", fm.GGUF_U32, rope_dim),
    ]


def deepseek2_gguf(name, cfg, W, layout, policy):
    """layout 'old': unsplit attn_kv_b; 'new': attn_k_b / attn_v_b. MTP layers are dropped."""
    H, dn, dr, dv, r = (cfg["num_attention_heads"], cfg["qk_nope_head_dim"], cfg["qk_rope_head_dim"],
                        cfg["v_head_dim"], cfg["kv_lora_rank"])
    a = "deepseek2"
    kvs = base_kvs(a, name, cfg, policy, H if layout == "old" else 1, dr)
    # always written (0 = no q compression): llama.cpp only infers "lite" from the layer count
    kvs.append((a + ".attention.q_lora_rank", fm.GGUF_U32, cfg.get("q_lora_rank") or 0))
    kvs.append((a + ".attention.kv_lora_rank", fm.GGUF_U32, r))
    if layout == "old":
        kvs += [(a + ".attention.key_length", fm.GGUF_U32, dn + dr),
                (a + ".attention.value_length", fm.GGUF_U32, dv)]
    else:
        kvs += [(a + ".attention.key_length", fm.GGUF_U32, r + dr),
                (a + ".attention.value_length", fm.GGUF_U32, r),
                (a + ".attention.key_length_mla", fm.GGUF_U32, dn + dr),
                (a + ".attention.value_length_mla", fm.GGUF_U32, dv)]
    kvs += [
        (a + ".leading_dense_block_count", fm.GGUF_U32, cfg["first_k_dense_replace"]),
        (a + ".expert_feed_forward_length", fm.GGUF_U32, cfg["moe_intermediate_size"]),
        (a + ".expert_count", fm.GGUF_U32, cfg["n_routed_experts"]),
        (a + ".expert_shared_count", fm.GGUF_U32, cfg["n_shared_experts"]),
        (a + ".expert_used_count", fm.GGUF_U32, cfg["num_experts_per_tok"]),
        (a + ".expert_weights_scale", fm.GGUF_F32, float(cfg["routed_scaling_factor"])),
        (a + ".expert_weights_norm", fm.GGUF_BOOL, bool(cfg["norm_topk_prob"])),
        (a + ".expert_gating_func", fm.GGUF_U32, 2 if cfg["scoring_func"] == "sigmoid" else 1),
        (a + ".expert_group_count", fm.GGUF_U32, cfg["n_group"]),
        (a + ".expert_group_used_count", fm.GGUF_U32, cfg["topk_group"]),
    ]
    rs = cfg.get("rope_scaling")
    if rs:
        kvs += [(a + ".rope.scaling.type", fm.GGUF_STR, "yarn"),
                (a + ".rope.scaling.factor", fm.GGUF_F32, float(rs["factor"])),
                (a + ".rope.scaling.original_context_length", fm.GGUF_U32, rs["original_max_position_embeddings"]),
                (a + ".rope.scaling.yarn_log_multiplier", fm.GGUF_F32, 0.1 * rs["mscale_all_dim"])]
    kvs += fm.gguf_tokenizer_kvs(cfg["vocab_size"], BOS, EOS)

    b = GGUFBuilder(W, policy)
    b.direct("token_embd.weight", "model.embed_tokens.weight")
    for i in range(cfg["num_hidden_layers"]):
        p, g = "model.layers.%d." % i, "blk.%d." % i
        s = p + "self_attn."
        b.direct(g + "attn_norm.weight", p + "input_layernorm.weight")
        if cfg.get("q_lora_rank"):
            b.direct(g + "attn_q_a.weight", s + "q_a_proj.weight")
            b.direct(g + "attn_q_a_norm.weight", s + "q_a_layernorm.weight")
            b.direct(g + "attn_q_b.weight", s + "q_b_proj.weight")
        else:
            b.direct(g + "attn_q.weight", s + "q_proj.weight")
        b.direct(g + "attn_kv_a_mqa.weight", s + "kv_a_proj_with_mqa.weight")
        b.direct(g + "attn_kv_a_norm.weight", s + "kv_a_layernorm.weight")
        kvb = s + "kv_b_proj.weight"
        if layout == "old":
            b.direct(g + "attn_kv_b.weight", kvb)
        else:
            v3 = W[kvb].reshape(H, dn + dv, r)

            def set_k(v, kvb=kvb):
                b.eff[kvb].reshape(H, dn + dv, r)[:, :dn, :] = v.transpose(0, 2, 1)

            def set_v(v, kvb=kvb):
                b.eff[kvb].reshape(H, dn + dv, r)[:, dn:, :] = v
            b.add(g + "attn_k_b.weight", np.ascontiguousarray(v3[:, :dn, :].transpose(0, 2, 1)), set_k)
            b.add(g + "attn_v_b.weight", np.ascontiguousarray(v3[:, dn:, :]), set_v)
        b.direct(g + "attn_output.weight", s + "o_proj.weight")
        b.direct(g + "ffn_norm.weight", p + "post_attention_layernorm.weight")
        m = p + "mlp."
        if rm.is_moe_layer(cfg, i):
            E = cfg["n_routed_experts"]
            b.direct(g + "ffn_gate_inp.weight", m + "gate.weight")
            if m + "gate.e_score_correction_bias" in W:
                b.direct(g + "exp_probs_b.bias", m + "gate.e_score_correction_bias")
            b.stacked(g + "ffn_gate_exps.weight", m + "experts.%d.gate_proj.weight", E)
            b.stacked(g + "ffn_up_exps.weight", m + "experts.%d.up_proj.weight", E)
            b.stacked(g + "ffn_down_exps.weight", m + "experts.%d.down_proj.weight", E)
            if cfg.get("n_shared_experts"):
                b.direct(g + "ffn_gate_shexp.weight", m + "shared_experts.gate_proj.weight")
                b.direct(g + "ffn_up_shexp.weight", m + "shared_experts.up_proj.weight")
                b.direct(g + "ffn_down_shexp.weight", m + "shared_experts.down_proj.weight")
        else:
            b.direct(g + "ffn_gate.weight", m + "gate_proj.weight")
            b.direct(g + "ffn_up.weight", m + "up_proj.weight")
            b.direct(g + "ffn_down.weight", m + "down_proj.weight")
    b.direct("output_norm.weight", "model.norm.weight")
    b.direct("output.weight", "lm_head.weight")
    return kvs, b.tensors, b.eff


def llama_permute_rows(w, n_head):
    """Reorder rows so that HF rotate_half pairs (j, j + d/2) of each head become
    adjacent (2j, 2j+1): new row h*d + 2j + c = old row h*d + j + c*d/2."""
    d = w.shape[0] // n_head
    idx = np.array([hh * d + (j // 2) + (j % 2) * (d // 2) for hh in range(n_head) for j in range(d)])
    return w[idx], idx


def dense_gguf(name, cfg, W, policy):
    arch = "qwen2" if cfg["model_type"] == "qwen2" else "llama"
    H, KV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    d = cfg["hidden_size"] // H
    kvs = base_kvs(arch, name, cfg, policy, KV, d) + fm.gguf_tokenizer_kvs(cfg["vocab_size"], BOS, EOS)
    b = GGUFBuilder(W, policy)
    b.direct("token_embd.weight", "model.embed_tokens.weight")
    permute = arch == "llama"
    for i in range(cfg["num_hidden_layers"]):
        p, g = "model.layers.%d." % i, "blk.%d." % i
        s = p + "self_attn."
        b.direct(g + "attn_norm.weight", p + "input_layernorm.weight")
        for proj, gn, nh in (("q_proj", "attn_q", H), ("k_proj", "attn_k", KV), ("v_proj", "attn_v", KV)):
            hf = s + proj + ".weight"
            if permute and proj != "v_proj":
                pw, idx = llama_permute_rows(W[hf], nh)

                def setter(v, hf=hf, idx=idx):
                    b.eff[hf][idx] = v
                b.add(g + gn + ".weight", pw, setter)
            else:
                b.direct(g + gn + ".weight", hf)
            if s + proj + ".bias" in W:
                assert not permute
                b.direct(g + gn + ".bias", s + proj + ".bias")
        b.direct(g + "attn_output.weight", s + "o_proj.weight")
        b.direct(g + "ffn_norm.weight", p + "post_attention_layernorm.weight")
        b.direct(g + "ffn_gate.weight", p + "mlp.gate_proj.weight")
        b.direct(g + "ffn_up.weight", p + "mlp.up_proj.weight")
        b.direct(g + "ffn_down.weight", p + "mlp.down_proj.weight")
    b.direct("output_norm.weight", "model.norm.weight")
    if not cfg["tie_word_embeddings"]:
        b.direct("output.weight", "lm_head.weight")
    rs = cfg.get("rope_scaling")
    if rs and rs.get("rope_type") == "llama3":
        inv, inv_s, bands = rm.llama3_inv_freq(d, float(cfg["rope_theta"]), rs)
        assert {"high", "mid", "low"} <= set(bands), bands
        b.add("rope_freqs.weight", (inv / inv_s).numpy().astype(np.float32))
    return kvs, b.tensors, b.eff


# ----------------------------------------------------------------------------------------
# independent re-load checks: files -> weights -> forward -> compare with the expectation
# ----------------------------------------------------------------------------------------


def load_hf_dir(d):
    files = sorted(f for f in os.listdir(d) if f.endswith(".safetensors"))
    idx = os.path.join(d, "model.safetensors.index.json")
    recs, total = {}, 0
    for fn in files:
        r, meta = fm.read_safetensors(os.path.join(d, fn))
        assert meta == {"format": "pt"}
        recs.update(r)
    if os.path.exists(idx):
        j = json.load(open(idx))
        for fn in files:
            r, _ = fm.read_safetensors(os.path.join(d, fn))
            for n, rec in r.items():
                assert j["weight_map"][n] == fn
                total += len(rec[2])
        assert j["metadata"]["total_size"] == total and len(j["weight_map"]) == len(recs)
    W = {}
    for n, (dt, shape, data) in recs.items():
        if n.endswith("_scale_inv"):
            continue
        v = fm.st_decode(dt, shape, data)
        if dt == "F8_E4M3":
            sdt, sshape, sdata = recs[n + "_scale_inv"]
            assert sdt == "F32" and sshape == [-(-shape[0] // 128), -(-shape[1] // 128)]
            v = fm.fp8_block_dequantize(np.frombuffer(data, np.uint8).reshape(shape),
                                        fm.st_decode(sdt, sshape, sdata))
        W[n] = v
    return json.load(open(os.path.join(d, "config.json"))), W


def gguf_to_hf(kv, tensors, cfg):
    """Inverse name mapping. For the split MLA layout keeps k_b/v_b (absorbed attention);
    for llama keeps the permuted Q/K rows (checked with interleaved RoPE + rope_freqs)."""
    arch = kv["general.architecture"]
    W = {}
    vals = {n: fm.gguf_decode(*t) for n, t in tensors.items()}
    rev = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
           "output.weight": "lm_head.weight", "rope_freqs.weight": "rope_freqs"}
    blk = {"attn_norm.weight": "input_layernorm.weight", "ffn_norm.weight": "post_attention_layernorm.weight",
           "attn_q_a.weight": "self_attn.q_a_proj.weight", "attn_q_a_norm.weight": "self_attn.q_a_layernorm.weight",
           "attn_q_b.weight": "self_attn.q_b_proj.weight", "attn_q.weight": "self_attn.q_proj.weight",
           "attn_kv_a_mqa.weight": "self_attn.kv_a_proj_with_mqa.weight",
           "attn_kv_a_norm.weight": "self_attn.kv_a_layernorm.weight",
           "attn_kv_b.weight": "self_attn.kv_b_proj.weight", "attn_k_b.weight": "self_attn.k_b",
           "attn_v_b.weight": "self_attn.v_b", "attn_output.weight": "self_attn.o_proj.weight",
           "attn_k.weight": "self_attn.k_proj.weight", "attn_v.weight": "self_attn.v_proj.weight",
           "attn_q.bias": "self_attn.q_proj.bias", "attn_k.bias": "self_attn.k_proj.bias",
           "attn_v.bias": "self_attn.v_proj.bias",
           "ffn_gate.weight": "mlp.gate_proj.weight", "ffn_up.weight": "mlp.up_proj.weight",
           "ffn_down.weight": "mlp.down_proj.weight", "ffn_gate_inp.weight": "mlp.gate.weight",
           "exp_probs_b.bias": "mlp.gate.e_score_correction_bias",
           "ffn_gate_shexp.weight": "mlp.shared_experts.gate_proj.weight",
           "ffn_up_shexp.weight": "mlp.shared_experts.up_proj.weight",
           "ffn_down_shexp.weight": "mlp.shared_experts.down_proj.weight"}
    exps = {"ffn_gate_exps.weight": "gate_proj", "ffn_up_exps.weight": "up_proj",
            "ffn_down_exps.weight": "down_proj"}
    for n, v in vals.items():
        if n in rev:
            W[rev[n]] = v
            continue
        m = re.match(r"blk\.(\d+)\.(.*)$", n)
        i, rest = int(m.group(1)), m.group(2)
        p = "model.layers.%d." % i
        if rest in exps:
            for e in range(v.shape[0]):
                W[p + "mlp.experts.%d.%s.weight" % (e, exps[rest])] = v[e]
        else:
            W[p + blk[rest]] = v
    if arch in ("qwen2", "llama") and "lm_head.weight" not in W:
        assert cfg["tie_word_embeddings"]
    return W


def check_gguf(path, cfg, expected, layout):
    kv, tensors = fm.read_gguf(path)
    arch = kv["general.architecture"]
    assert kv[arch + ".block_count"] == cfg["num_hidden_layers"]
    assert kv[arch + ".embedding_length"] == cfg["hidden_size"]
    assert kv[arch + ".vocab_size"] == cfg["vocab_size"] == len(kv["tokenizer.ggml.tokens"])
    assert all(t[0] == fm.GGML_F32 for n, t in tensors.items() if len(t[1]) == 1)
    W = gguf_to_hf(kv, tensors, cfg)
    c = copy.deepcopy(cfg)
    if arch == "llama":
        c["_rope_style"] = "interleaved"
    logits, _ = rm.forward(c, to_torch(W), list(expected["tokens"]))
    err = float(np.abs(logits.numpy() - expected["logits"]).max())
    assert err < 2e-4, (path, err)
    return err


# ----------------------------------------------------------------------------------------
# fixtures
# ----------------------------------------------------------------------------------------


def prompt_and_rng(seed):
    rng = np.random.default_rng(seed)
    tokens = np.concatenate([[BOS], rng.integers(2, VOCAB, T - 1)]).astype(np.int32)
    return tokens, rng


def fx_deepseek(name, cfg, seed, mode, shards, ggufs, need_bias):
    """ggufs: list of (file name, layout, policy, own expected file or None)."""
    tokens, rng = prompt_and_rng(seed)
    W = deepseek_weights(cfg, rng)
    recs, eff = st_records(W, mode)
    main_cfg = cfg
    res = evaluate(main_cfg, eff, tokens, need_bias)
    outs = [("%s/expected.whfx" % name, res)]
    gg = []
    mainW = {k: v for k, v in W.items() if not re.match(r"model\.layers\.%d\." % cfg["num_hidden_layers"], k)}
    for fn, layout, policy, own in ggufs:
        kvs, tens, geff = deepseek2_gguf(fn[:-5], cfg, mainW, layout, policy)
        if own:
            r2 = evaluate(cfg, geff, tokens, need_bias)
            outs.append((own, r2))
        gg.append((fn, kvs, tens, own, layout))

    def write():
        files = write_hf_dir(os.path.join(OUT, name), cfg, recs, shards)
        for fn, kvs, tens, own, layout in gg:
            fm.write_gguf(os.path.join(OUT, fn), kvs, tens)
        return files, gg
    return tokens, outs, write


def fx_dense(name, cfg, seed, mode, ggufs):
    tokens, rng = prompt_and_rng(seed)
    W = dense_weights(cfg, rng, qkv_bias=cfg["model_type"] == "qwen2")
    recs, eff = st_records(W, mode)
    if cfg["tie_word_embeddings"]:
        recs.pop("lm_head.weight", None)
    res = evaluate(cfg, eff, tokens)
    outs = [("%s/expected.whfx" % name, res)]
    gg = []
    for fn, policy, own in ggufs:
        kvs, tens, geff = dense_gguf(fn[:-5], cfg, eff, policy)
        if own:
            outs.append((own, evaluate(cfg, geff, tokens)))
        gg.append((fn, kvs, tens, own, None))

    def write():
        files = write_hf_dir(os.path.join(OUT, name), cfg, recs, 1)
        for fn, kvs, tens, own, layout in gg:
            fm.write_gguf(os.path.join(OUT, fn), kvs, tens)
        return files, gg
    return tokens, outs, write


FIXTURES = [
    ("dsv3", 1000, lambda s: fx_deepseek("dsv3", CFG_DSV3, s, "f32", 2,
                                         [("dsv3.gguf", "new", "f32", None)], need_bias=3)),
    ("dsv3-fp8", 2000, lambda s: fx_deepseek("dsv3-fp8", CFG_DSV3_FP8, s, "fp8", 1, [], need_bias=3)),
    ("dsv2", 3000, lambda s: fx_deepseek("dsv2", CFG_DSV2, s, "f32", 1,
                                         [("dsv2-old.gguf", "old", "f32", None),
                                          ("dsv2-new.gguf", "new", "f32", None),
                                          ("dsv2-q8_0.gguf", "new", "q8_0", "dsv2-q8_0.expected.whfx")],
                                         need_bias=0)),
    ("dsv2-lite", 4000, lambda s: fx_deepseek("dsv2-lite", CFG_DSV2_LITE, s, "f32", 1,
                                              [("dsv2-lite.gguf", "new", "f32", None)], need_bias=0)),
    ("qwen2", 5000, lambda s: fx_dense("qwen2", CFG_QWEN2, s, "f32",
                                       [("qwen2.gguf", "f32", None),
                                        ("qwen2-f16.gguf", "f16", "qwen2-f16.expected.whfx")])),
    ("llama", 6000, lambda s: fx_dense("llama", CFG_LLAMA, s, "bf16", [("llama.gguf", "f32", None)])),
]


def fsize(p):
    return os.path.getsize(os.path.join(OUT, p))


def run_fixture(name, base_seed, build):
    reasons = {}
    for attempt in range(MAX_TRIES):
        seed = base_seed + attempt
        try:
            tokens, outs, write = build(seed)
        except Reject as e:
            key = str(e).split(" ")[0] + " " + str(e).split(" ")[1]
            reasons[key] = reasons.get(key, 0) + 1
            continue
        files, gg = write()
        for path, res in outs:
            fm.write_whfx(os.path.join(OUT, path), tokens, res["logits"], res["gen"], res["moe"],
                          res["top_k"], res["n_bias_changed"])
        # round-trip / re-load checks
        for path, res in outs:
            rd = fm.read_whfx(os.path.join(OUT, path))
            assert (rd["tokens"] == tokens).all() and np.array_equal(rd["logits"], res["logits"])
            assert list(rd["gen"]) == res["gen"] and rd["n_bias_changed"] == res["n_bias_changed"]
        cfg, W = load_hf_dir(os.path.join(OUT, name))
        exp = fm.read_whfx(os.path.join(OUT, name, "expected.whfx"))
        lg, _ = rm.forward(cfg, to_torch(W), list(exp["tokens"]))
        assert np.array_equal(lg.numpy(), exp["logits"]), "safetensors reload mismatch"
        for fn, kvs, tens, own, layout in gg:
            e = fm.read_whfx(os.path.join(OUT, own)) if own else exp
            kv, tt = fm.read_gguf(os.path.join(OUT, fn))
            assert len(tt) == len(tens) and all(tt[n][2] == t["data"] for n, t in tens)
            err = check_gguf(os.path.join(OUT, fn), cfg, e, layout)
            print("    re-load %-20s max |dlogit| vs expected %.2g" % (fn, err))
        print("%-10s seed %d (%d rejected: %s)" % (name, seed, attempt, reasons or "-"))
        for path, res in outs:
            print("    %-28s max|logit| %6.2f  min top1-top2 %.4f  router min margin %.4g  "
                  "n_bias_changed %d  gen %s" % (path, res["max_abs"], res["min_margin"], res["router_min"],
                                                 res["n_bias_changed"], res["gen"]))
        for f in [os.path.join(name, x) for x in sorted(os.listdir(os.path.join(OUT, name)))] + \
                [g[0] for g in gg] + [o[0] for o in outs[1:]]:
            print("    %-40s %9d bytes" % (f, fsize(f)))
        return
    raise SystemExit("%s: no seed passed the margin checks in %d tries: %s" % (name, MAX_TRIES, reasons))


def self_test():
    """Unit checks of the number formats and writers."""
    # FP8 E4M3FN
    assert fm.fp8_e4m3_decode(np.array([0x7E], np.uint8))[0] == 448.0
    assert fm.fp8_e4m3_decode(np.array([0x01], np.uint8))[0] == 2.0 ** -9
    allc = np.array([c for c in range(256) if (c & 0x7F) != 0x7F], np.uint8)
    assert (fm.fp8_e4m3_encode(fm.fp8_e4m3_decode(allc)) == allc).all()
    assert fm.fp8_e4m3_encode(np.array([1.0625]))[0] == 0x38  # tie 1.0/1.125 -> even (1.0)
    assert fm.fp8_e4m3_encode(np.array([1.1875]))[0] == 0x3A  # tie 1.125/1.25 -> even (1.25)
    assert fm.fp8_e4m3_encode(np.array([1000.0]))[0] == 0x7E
    # bf16
    assert fm.round_bf16(np.array([1.0 + 2 ** -8], np.float32))[0] == 1.0
    assert fm.round_bf16(np.array([1.0 + 3 * 2 ** -8], np.float32))[0] == 1.0 + 2 ** -6
    # Q8_0
    x = np.random.default_rng(0).standard_normal((3, 64)).astype(np.float32)
    raw, deq = fm.q8_0_quantize(x)
    assert len(raw) == 6 * 34 and np.array_equal(fm.q8_0_dequantize(raw, x.shape), deq)
    assert np.abs(deq - x).max() < np.abs(x).max() / 127
    # safetensors + gguf round trip
    fd, tmp = tempfile.mkstemp(suffix=".whale-selftest")
    os.close(fd)
    recs = {"a": fm.st_tensor("F32", x), "b": fm.st_tensor("BF16", fm.f32_to_bf16_bits(x).reshape(x.shape))}
    fm.write_safetensors(tmp, recs)
    back, _ = fm.read_safetensors(tmp)
    assert back == {k: (v[0], v[1], v[2]) for k, v in recs.items()}
    tens = [("t0", fm.gguf_tensor(fm.GGML_F32, x[0])), ("t1", fm.gguf_tensor(fm.GGML_Q8_0, x)),
            ("t2", fm.gguf_tensor(fm.GGML_F16, x.reshape(3, 2, 32)))]
    kvs = [("k.u32", fm.GGUF_U32, 7), ("k.f32", fm.GGUF_F32, 0.5), ("k.b", fm.GGUF_BOOL, True),
           ("k.s", fm.GGUF_STR, "héllo"), ("k.a", fm.GGUF_ARR, (fm.GGUF_I32, [1, -2, 3]))]
    fm.write_gguf(tmp, kvs, tens)
    kv, tt = fm.read_gguf(tmp)
    assert kv == {"k.u32": 7, "k.f32": 0.5, "k.b": True, "k.s": "héllo", "k.a": [1, -2, 3]}
    for n, t in tens:
        assert tt[n][0] == t["type"] and tt[n][1] == t["ne"] and tt[n][2] == t["data"]
        assert np.array_equal(fm.gguf_decode(*tt[n]), t["values"])
    os.remove(tmp)
    # llama permutation: permuted rows + interleaved rope == HF rows + rotate_half rope
    w = np.random.default_rng(1).standard_normal((32, 8)).astype(np.float32)
    pw, _ = llama_permute_rows(w, 2)
    xin = torch.randn(5, 8)
    cos, sin = torch.rand(5, 8), torch.rand(5, 8)
    a = rm.rope_rotate_half((xin @ torch.from_numpy(w).t()).view(5, 2, 16).transpose(0, 1), cos, sin)
    b = rm.rope_interleaved((xin @ torch.from_numpy(pw).t()).view(5, 2, 16).transpose(0, 1), cos, sin)
    perm = llama_permute_rows(np.arange(16)[:, None], 1)[0][:, 0]
    assert torch.allclose(a[..., perm], b, atol=1e-5)
    print("self-test ok")


def main():
    os.makedirs(OUT, exist_ok=True)
    self_test()
    only = set(sys.argv[1:])
    for name, base, build in FIXTURES:
        if only and name not in only:
            continue
        run_fixture(name, base, build)
    total = 0
    for dp, _, fns in os.walk(OUT):
        total += sum(os.path.getsize(os.path.join(dp, f)) for f in fns)
    print("total size of tests/fixtures: %d bytes" % total)


if __name__ == "__main__":
    main()
