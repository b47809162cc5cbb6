# whale reference oracle -- PyTorch reference forward pass (MIT License, part of whale).
#
# A deliberately plain, float32, no-cache implementation of the architectures whale runs,
# written from the equations of the DeepSeek-V2 paper (Multi-head Latent Attention,
# DeepSeekMoE with softmax gating, group-limited greedy routing), the DeepSeek-V3 paper
# (sigmoid gating, auxiliary-loss-free bias e_score_correction_bias used only for
# selection, node/group-limited routing with top-2-sum group scores) and the Hugging Face
# config/weight naming conventions. Also Qwen2 / Llama (GQA, rotate_half RoPE, SwiGLU,
# Llama-3 RoPE frequency scaling).
#
# Weights are a dict HF-name -> float32 torch tensor ([out, in] for linears). The forward
# pass recomputes the whole sequence; it returns logits for every position plus routing
# diagnostics (chosen experts, the choice without the correction bias, decision margins).

import math

import torch

F = torch.nn.functional


def rms_norm(x, w, eps):
    x = x.float()
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def lin(x, w, b=None):
    y = x @ w.t()
    return y + b if b is not None else y


def swiglu_mlp(W, p, x):
    return lin(F.silu(lin(x, W[p + "gate_proj.weight"])) * lin(x, W[p + "up_proj.weight"]),
               W[p + "down_proj.weight"])


# ----------------------------------------------------------------------------------------
# RoPE
# ----------------------------------------------------------------------------------------


def yarn_get_mscale(scale, mscale):
    return 1.0 if scale <= 1 else 0.1 * mscale * math.log(scale) + 1.0


def yarn_inv_freq(d, base, rs):
    """DeepSeek YaRN frequency blend. Returns (inv_freq float64 [d/2], band per index)."""
    i = torch.arange(0, d, 2, dtype=torch.float64)
    inv_extra = 1.0 / (base ** (i / d))
    factor = rs["factor"]
    inv_inter = inv_extra / factor
    orig = rs["original_max_position_embeddings"]

    def fcd(r):
        return (d * math.log(orig / (r * 2 * math.pi))) / (2 * math.log(base))

    low = max(math.floor(fcd(rs.get("beta_fast", 32))), 0)
    high = min(math.ceil(fcd(rs.get("beta_slow", 1))), d - 1)
    if low == high:
        high += 0.001
    ramp = ((torch.arange(d // 2, dtype=torch.float64) - low) / (high - low)).clamp(0, 1)
    mask = 1.0 - ramp  # 1: keep original (extrapolation), 0: interpolate
    return inv_inter * (1 - mask) + inv_extra * mask, mask


def deepseek_rope(cfg, T):
    """cos/sin tables [T, d/2] (already multiplied by the YaRN mscale ratio) and the
    attention softmax scale."""
    d = cfg["qk_rope_head_dim"]
    base = float(cfg["rope_theta"])
    rs = cfg.get("rope_scaling")
    scale = (cfg["qk_nope_head_dim"] + cfg["qk_rope_head_dim"]) ** -0.5
    mscale = 1.0
    if rs and rs.get("type", rs.get("rope_type")) == "yarn":
        inv, _ = yarn_inv_freq(d, base, rs)
        f = rs["factor"]
        mscale = yarn_get_mscale(f, rs.get("mscale", 1)) / yarn_get_mscale(f, rs.get("mscale_all_dim", 0))
        if rs.get("mscale_all_dim"):
            m = yarn_get_mscale(f, rs["mscale_all_dim"])
            scale = scale * m * m
    else:
        inv = 1.0 / (base ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]
    return (torch.cos(ang) * mscale).float(), (torch.sin(ang) * mscale).float(), scale


def rope_interleaved(x, cos, sin):
    """Rotate pairs (x[2i], x[2i+1]) by angle pos*inv_freq[i]. x [..., T, d]."""
    x0, x1 = x[..., 0::2], x[..., 1::2]
    y0 = x0 * cos - x1 * sin
    y1 = x0 * sin + x1 * cos
    return torch.stack([y0, y1], dim=-1).flatten(-2)


def llama3_inv_freq(d, base, rs):
    inv = 1.0 / (base ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
    factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
    orig = rs["original_max_position_embeddings"]
    low_wl, high_wl = orig / lo, orig / hi
    out = inv.clone()
    bands = []
    for j in range(inv.shape[0]):
        wl = 2 * math.pi / inv[j].item()
        if wl < high_wl:
            bands.append("high")
        elif wl > low_wl:
            out[j] = inv[j] / factor
            bands.append("low")
        else:
            smooth = (orig / wl - lo) / (hi - lo)
            out[j] = (1 - smooth) * inv[j] / factor + smooth * inv[j]
            bands.append("mid")
    return inv, out, bands


def half_rope_tables(cfg, T, freq_divisors=None):
    d = cfg["hidden_size"] // cfg["num_attention_heads"]
    base = float(cfg["rope_theta"])
    rs = cfg.get("rope_scaling")
    if freq_divisors is not None:  # GGUF rope_freqs.weight (llama.cpp convention)
        inv = 1.0 / (base ** (torch.arange(0, d, 2, dtype=torch.float64) / d)) / freq_divisors.double()
    elif rs and rs.get("rope_type", rs.get("type")) == "llama3":
        _, inv, _ = llama3_inv_freq(d, base, rs)
    else:
        inv = 1.0 / (base ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]
    return torch.cos(ang).float(), torch.sin(ang).float()


def rope_rotate_half(x, cos, sin):
    """HF rotate_half convention: pairs (i, i + d/2)."""
    h = x.shape[-1] // 2
    x1, x2 = x[..., :h], x[..., h:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


def causal_softmax_attend(scores, v):
    T = scores.shape[-1]
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    p = torch.softmax(scores.masked_fill(mask, float("-inf")), dim=-1)
    return p @ v


# ----------------------------------------------------------------------------------------
# DeepSeek V2 / V3
# ----------------------------------------------------------------------------------------


def mla_attention(cfg, W, p, x, cos, sin, scale):
    T = x.shape[0]
    H = cfg["num_attention_heads"]
    dn, dr, dv = cfg["qk_nope_head_dim"], cfg["qk_rope_head_dim"], cfg["v_head_dim"]
    r = cfg["kv_lora_rank"]
    eps = cfg["rms_norm_eps"]
    if cfg.get("q_lora_rank"):
        cq = rms_norm(lin(x, W[p + "q_a_proj.weight"]), W[p + "q_a_layernorm.weight"], eps)
        q = lin(cq, W[p + "q_b_proj.weight"])
    else:
        q = lin(x, W[p + "q_proj.weight"])
    q = q.view(T, H, dn + dr).transpose(0, 1)  # [H, T, dn+dr]
    q_nope, q_pe = q[..., :dn], q[..., dn:]
    kva = lin(x, W[p + "kv_a_proj_with_mqa.weight"])  # [T, r+dr]
    c = rms_norm(kva[:, :r], W[p + "kv_a_layernorm.weight"], eps)
    k_pe = kva[:, r:]
    q_pe = rope_interleaved(q_pe, cos, sin)
    k_pe = rope_interleaved(k_pe, cos, sin)  # one head shared by all query heads
    if p + "k_b" in W:
        # split (absorbed) form, as stored in new-layout GGUF: k_b [H, r, dn], v_b [H, dv, r];
        # attention runs in the latent space of c.
        q_lat = q_nope @ W[p + "k_b"].transpose(1, 2)  # [H, T, r]
        scores = (q_lat @ c.t()[None] + q_pe @ k_pe.t()[None]) * scale
        o_lat = causal_softmax_attend(scores, c[None].expand(H, T, r))  # [H, T, r]
        o = (o_lat @ W[p + "v_b"].transpose(1, 2)).transpose(0, 1).reshape(T, H * dv)
    else:
        kv = lin(c, W[p + "kv_b_proj.weight"]).view(T, H, dn + dv).transpose(0, 1)
        k_nope, v = kv[..., :dn], kv[..., dn:]
        scores = (q_nope @ k_nope.transpose(-1, -2) + q_pe @ k_pe.t()[None]) * scale
        o = causal_softmax_attend(scores, v).transpose(0, 1).reshape(T, H * dv)
    return lin(o, W[p + "o_proj.weight"])


def route_token(cfg, s, bias):
    """Select experts for one token. s: gating scores [E] (sigmoid or softmax);
    bias: correction bias [E] or None. Returns (selected indices sorted, weights in that
    order, list of decision margins)."""
    E = s.shape[0]
    k = cfg["num_experts_per_tok"]
    method = cfg["topk_method"]
    choice = s + bias if bias is not None else s
    margins = []
    allowed = torch.ones(E, dtype=torch.bool)
    if method in ("noaux_tc", "group_limited_greedy"):
        G, kg = cfg["n_group"], cfg["topk_group"]
        grp = choice.view(G, E // G)
        if method == "noaux_tc":
            gscore = grp.topk(2, dim=-1).values.sum(-1)
        else:
            gscore = grp.max(dim=-1).values
        order = torch.argsort(gscore, descending=True)
        if kg < G:
            margins.append(("group", (gscore[order[kg - 1]] - gscore[order[kg]]).item()))
        allowed = torch.zeros(G, dtype=torch.bool)
        allowed[order[:kg]] = True
        allowed = allowed.repeat_interleave(E // G)
    elif method != "greedy":
        raise ValueError(method)
    masked = choice.masked_fill(~allowed, float("-inf"))
    order = torch.argsort(masked, descending=True)
    sel = order[:k]
    if k < int(allowed.sum()):
        margins.append(("expert", (masked[order[k - 1]] - masked[order[k]]).item()))
    if method == "noaux_tc":
        # HF masks excluded groups with 0.0 rather than -inf; require the k-th kept choice
        # to be clearly positive so both conventions pick the same experts.
        margins.append(("positive", masked[order[k - 1]].item()))
    w = s[sel]
    if cfg["scoring_func"] == "sigmoid":
        if k > 1 and cfg["norm_topk_prob"]:
            w = w / (w.sum() + 1e-20)
        w = w * cfg["routed_scaling_factor"]
    else:
        if k > 1 and cfg["norm_topk_prob"]:
            w = w / (w.sum() + 1e-20)
        else:
            w = w * cfg["routed_scaling_factor"]
    srt = torch.argsort(sel)
    return sel[srt], w[srt], margins


def moe_block(cfg, W, p, x, rec):
    T = x.shape[0]
    logits = lin(x, W[p + "gate.weight"])
    if cfg["scoring_func"] == "sigmoid":
        s = torch.sigmoid(logits)
    elif cfg["scoring_func"] == "softmax":
        s = torch.softmax(logits, dim=-1)
    else:
        raise ValueError(cfg["scoring_func"])
    bias = W.get(p + "gate.e_score_correction_bias") if cfg["topk_method"] == "noaux_tc" else None
    out = torch.zeros_like(x)
    sels, sels_nb, margins = [], [], []
    for t in range(T):
        sel, w, m = route_token(cfg, s[t], bias)
        sels.append(sel.tolist())
        margins += m
        if bias is not None:
            sel_nb, _, m_nb = route_token(cfg, s[t], None)
            sels_nb.append(sel_nb.tolist())
            margins += [(n + "(nobias)", v) for n, v in m_nb]
        for e, g in zip(sel.tolist(), w):
            out[t] += g * swiglu_mlp(W, p + "experts.%d." % e, x[t:t + 1])[0]
    if cfg.get("n_shared_experts"):
        out = out + swiglu_mlp(W, p + "shared_experts.", x)
    rec.append({"sel": sels, "sel_nobias": sels_nb if bias is not None else None,
                "margins": margins})
    return out


def is_moe_layer(cfg, i):
    return bool(cfg.get("n_routed_experts")) and i >= cfg["first_k_dense_replace"] and \
        i % cfg.get("moe_layer_freq", 1) == 0


def deepseek_forward(cfg, W, tokens):
    T = len(tokens)
    eps = cfg["rms_norm_eps"]
    cos, sin, scale = deepseek_rope(cfg, T)
    h = W["model.embed_tokens.weight"][torch.tensor([int(t) for t in tokens], dtype=torch.long)]
    routing = []
    for i in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % i
        h = h + mla_attention(cfg, W, p + "self_attn.", rms_norm(h, W[p + "input_layernorm.weight"], eps),
                              cos, sin, scale)
        x = rms_norm(h, W[p + "post_attention_layernorm.weight"], eps)
        if is_moe_layer(cfg, i):
            rec = []
            h = h + moe_block(cfg, W, p + "mlp.", x, rec)
            rec[0]["layer"] = i
            routing.append(rec[0])
        else:
            h = h + swiglu_mlp(W, p + "mlp.", x)
    h = rms_norm(h, W["model.norm.weight"], eps)
    return lin(h, W["lm_head.weight"]), routing


# ----------------------------------------------------------------------------------------
# Qwen2 / Llama
# ----------------------------------------------------------------------------------------


def gqa_attention(cfg, W, p, x, cos, sin):
    T = x.shape[0]
    H, KV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    d = cfg["hidden_size"] // H
    q = lin(x, W[p + "q_proj.weight"], W.get(p + "q_proj.bias")).view(T, H, d).transpose(0, 1)
    k = lin(x, W[p + "k_proj.weight"], W.get(p + "k_proj.bias")).view(T, KV, d).transpose(0, 1)
    v = lin(x, W[p + "v_proj.weight"], W.get(p + "v_proj.bias")).view(T, KV, d).transpose(0, 1)
    rope = rope_interleaved if cfg.get("_rope_style") == "interleaved" else rope_rotate_half
    q, k = rope(q, cos, sin), rope(k, cos, sin)
    rep = H // KV
    k, v = k.repeat_interleave(rep, dim=0), v.repeat_interleave(rep, dim=0)
    o = causal_softmax_attend((q @ k.transpose(-1, -2)) * d ** -0.5, v)
    return lin(o.transpose(0, 1).reshape(T, H * d), W[p + "o_proj.weight"], W.get(p + "o_proj.bias"))


def dense_forward(cfg, W, tokens):
    T = len(tokens)
    eps = cfg["rms_norm_eps"]
    cos, sin = half_rope_tables(cfg, T, W.get("rope_freqs"))
    h = W["model.embed_tokens.weight"][torch.tensor([int(t) for t in tokens], dtype=torch.long)]
    for i in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % i
        h = h + gqa_attention(cfg, W, p + "self_attn.", rms_norm(h, W[p + "input_layernorm.weight"], eps), cos, sin)
        h = h + swiglu_mlp(W, p + "mlp.", rms_norm(h, W[p + "post_attention_layernorm.weight"], eps))
    h = rms_norm(h, W["model.norm.weight"], eps)
    head = W["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else W["lm_head.weight"]
    return lin(h, head), []


def forward(cfg, W, tokens):
    """Returns (logits float32 [T, V], routing records per MoE layer)."""
    arch = cfg["architectures"][0]
    with torch.no_grad():
        if arch in ("DeepseekV3ForCausalLM", "DeepseekV2ForCausalLM"):
            return deepseek_forward(cfg, W, tokens)
        if arch in ("Qwen2ForCausalLM", "LlamaForCausalLM"):
            return dense_forward(cfg, W, tokens)
    raise ValueError(arch)
