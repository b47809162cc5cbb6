# train_torch.py — the PyTorch side of bench/train_bench.sh: the same DeepSeek-V3-style model
# as whale's trainer (MLA naive form with q-LoRA and decoupled RoPE, DeepSeekMoE with sigmoid
# router + bias top-k + shared expert, sequence-wise balance loss, one MTP module), written
# the way HF's DeepseekV3 training path is (vectorised attention, experts looped over their
# tokens), trained with torch.optim.AdamW + clipping on random tokens. Prints tokens/s.
# Usage: /usr/bin/python3 bench/train_torch.py KEY=VALUE ... (the keys of whale's config)
import math, sys, time
import torch
import torch.nn.functional as F

a = dict(kv.split("=") for kv in sys.argv[1:])
g = lambda k: int(a[k])
V, C, L, NH, QLR, KVLR = g("vocab_size"), g("hidden_size"), g("num_hidden_layers"), g("num_attention_heads"), g("q_lora_rank"), g("kv_lora_rank")
NOPE, ROPE, VD, FF, MI = g("qk_nope_head_dim"), g("qk_rope_head_dim"), g("v_head_dim"), g("intermediate_size"), g("moe_intermediate_size")
E, K, NS, FD, MTP = g("n_routed_experts"), g("num_experts_per_tok"), g("n_shared_experts"), g("first_k_dense_replace"), g("num_nextn_predict_layers")
B, T, STEPS, TH = g("batch_size"), g("seq_len"), g("steps"), g("threads")
torch.set_num_threads(TH)
torch.manual_seed(0)
QHD = NOPE + ROPE


def P(*shape, std=0.02):
    return torch.nn.Parameter(torch.randn(*shape) * std)


def norm(n):
    return torch.nn.Parameter(torch.ones(n))


def rms(x, w):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * w


inv = 1.0 / 10000 ** (torch.arange(0, ROPE, 2).float() / ROPE)
ang = torch.arange(T).float()[:, None] * inv[None]
COS, SIN = torch.cos(ang), torch.sin(ang)


def rope(x):
    x0, x1 = x[..., 0::2], x[..., 1::2]
    return torch.stack([x0 * COS - x1 * SIN, x0 * SIN + x1 * COS], -1).flatten(-2)


class Block(torch.nn.Module):
    def __init__(s, moe):
        super().__init__()
        s.n1, s.n2 = norm(C), norm(C)
        s.wq_a, s.qn, s.wq_b = P(QLR, C), norm(QLR), P(NH * QHD, QLR)
        s.wkv_a, s.kvn, s.wkv_b, s.wo = P(KVLR + ROPE, C), norm(KVLR), P(NH * (NOPE + VD), KVLR), P(C, NH * VD)
        s.moe = moe
        if moe:
            s.router = P(E, C)
            s.register_buffer("bias", torch.zeros(E))
            s.eg, s.eu, s.ed = P(E, MI, C), P(E, MI, C), P(E, C, MI)
            s.sg, s.su, s.sd = P(NS * MI, C), P(NS * MI, C), P(C, NS * MI)
        else:
            s.g, s.u, s.d = P(FF, C), P(FF, C), P(C, FF)

    def attn(s, x):
        q = rms(x @ s.wq_a.t(), s.qn) @ s.wq_b.t()
        q = q.view(B, T, NH, QHD).transpose(1, 2)
        q = torch.cat([q[..., :NOPE], rope(q[..., NOPE:])], -1)
        kva = x @ s.wkv_a.t()
        c = rms(kva[..., :KVLR], s.kvn)
        kpe = rope(kva[..., KVLR:])
        kv = (c @ s.wkv_b.t()).view(B, T, NH, NOPE + VD).transpose(1, 2)
        k = torch.cat([kv[..., :NOPE], kpe[:, None].expand(B, NH, T, ROPE)], -1)
        o = F.scaled_dot_product_attention(q, k, kv[..., NOPE:], is_causal=True) if hasattr(F, "scaled_dot_product_attention") else None
        if o is None:
            sc = (q @ k.transpose(-1, -2)) / math.sqrt(QHD)
            sc = sc.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf"))
            o = torch.softmax(sc, -1) @ kv[..., NOPE:]
        return o.transpose(1, 2).reshape(B, T, NH * VD) @ s.wo.t()

    def ffn(s, x):
        if not s.moe:
            return (F.silu(x @ s.g.t()) * (x @ s.u.t())) @ s.d.t(), 0.0
        xs = x.reshape(-1, C)
        sc = torch.sigmoid(xs @ s.router.t())
        sel = torch.topk(sc.detach() + s.bias, K, -1).indices
        gates = sc.gather(1, sel)
        gates = gates / gates.sum(-1, keepdim=True) * 2.5
        out = torch.zeros_like(xs)
        for e in range(E):
            tok, slot = (sel == e).nonzero(as_tuple=True)
            if tok.numel() == 0:
                continue
            h = xs[tok]
            y = (F.silu(h @ s.eg[e].t()) * (h @ s.eu[e].t())) @ s.ed[e].t()
            out.index_add_(0, tok, y * gates[tok, slot, None])
        out = out + (F.silu(xs @ s.sg.t()) * (xs @ s.su.t())) @ s.sd.t()
        f = torch.zeros(B, E).scatter_add_(1, sel.view(B, T * K), torch.ones(B, T * K)) * E / (K * T)
        bal = 1e-4 * (f * (sc / sc.sum(-1, keepdim=True)).view(B, T, E).mean(1)).sum(-1).mean()
        return out.view(B, T, C), bal

    def forward(s, x):
        h = x + s.attn(rms(x, s.n1))
        y, bal = s.ffn(rms(h, s.n2))
        return h + y, bal


class Model(torch.nn.Module):
    def __init__(s):
        super().__init__()
        s.embed, s.head, s.fn = P(V, C), P(V, C), norm(C)
        s.blocks = torch.nn.ModuleList([Block(E > 0 and l >= FD) for l in range(L + MTP)])
        if MTP:
            s.en, s.hn, s.eh, s.mn = norm(C), norm(C), P(C, 2 * C), norm(C)

    def forward(s, tok, tgt):
        h = s.embed[tok]
        bal = 0.0
        for l in range(L):
            h, b = s.blocks[l](h)
            bal = bal + b
        loss = F.cross_entropy((rms(h, s.fn) @ s.head.t()).view(-1, V), tgt.view(-1))
        if MTP:
            x = torch.cat([rms(s.embed[tgt], s.en), rms(h, s.hn)], -1) @ s.eh.t()
            x, b = s.blocks[L](x)
            bal = bal + b
            lg = (rms(x, s.mn) @ s.head.t())[:, :-1]
            loss = loss + 0.3 * F.cross_entropy(lg.reshape(-1, V), tgt[:, 1:].reshape(-1))
        return loss + bal


m = Model()
n_params = sum(p.numel() for p in m.parameters())
opt = torch.optim.AdamW(m.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)
times = []
for step in range(STEPS):
    tok = torch.randint(0, V, (B, T))
    tgt = torch.randint(0, V, (B, T))
    t0 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    loss = m(tok, tgt)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
    opt.step()
    times.append(time.perf_counter() - t0)
times = sorted(times[2:])
med = times[len(times) // 2]
print("torch params %d tokens/s %.1f (median of %d steps, %.1f ms/step, torch %s, %d threads)"
      % (n_params, B * T / med, len(times), 1e3 * med, torch.__version__, TH))
