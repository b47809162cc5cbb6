# whale reference oracle -- the GRPO objective and its gradient (MIT License, part of whale).
#
# Written from the papers, independent of the C code (src/train/grpo.c):
#   DeepSeekMath (Shao et al. 2024) §4.1, eq. 3: the clipped-ratio objective averaged per
#     sequence; eq. 4: the k3 KL estimator pi_ref/pi - log(pi_ref/pi) - 1; §4.1.2: outcome
#     supervision, A_i = (r_i - mean(r)) / std(r) over the group;
#   DeepSeek-R1 §2.2.1 (the same objective, rule-based rewards);
#   DAPO (Yu et al. 2025) eq. 10 clip-higher (eps_low, eps_high), eq. 12 token-level mean.
# On a fixed tiny batch -- given sequences (prompt positions have no target), rewards of two
# groups, fixed old and reference log-probabilities -- it computes in float64 with autograd
# the advantages, the ratios, the k3 terms, the loss and every parameter gradient of the
# model of train_ref.py (main head only: GRPO's loss has no MTP or balance term), for two
# settings (token-level with clip-higher and KL; sequence-level with symmetric clip and
# another beta), and checks the identity: with old = current log-probs the ratio is 1 and
# the gradient equals that of sum c (-A lp + beta k3).
#
# Usage: /usr/bin/python3 tools/reference/grpo_ref.py OUT.bin   (make fixtures)
#
# File, little-endian:
#   int32 magic 0x52474857 ("WHGR"), version 1, n_seq, G, T, B, n_tensors, n_params, n_cases, 0...
#         (16 ints)
#   int32 cfg[32], float32 fcfg[16]: as train_ref.py's state header (its layout)
#   int32 tokens[n_seq*T], targets[n_seq*T]      (targets -1 off the response)
#   float32 rewards[n_seq], old_lp[n_seq*T], ref_lp[n_seq*T]
#   int32 counts[n_tensors]; float32 route_bias[L+mtp][E], params[n_params]
#   per case: float32 hp[8] (clip_eps, clip_eps_high, kl_beta, adv_eps, aggregation 0/1, 0...),
#             adv[n_seq], ratio[n_seq*T], kl[n_seq*T], loss, pg, grads[n_params]

import math
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_ref as tr  # noqa: E402

torch.set_default_dtype(torch.float64)

N_SEQ, G = 6, 3
CASES = [dict(clip_eps=0.2, clip_eps_high=0.28, kl_beta=0.04, adv_eps=1e-4, agg=0),
         dict(clip_eps=0.2, clip_eps_high=0.2, kl_beta=0.1, adv_eps=1e-4, agg=1)]


def logprobs(cfg, P, bias, tokens, targets):
    """log pi(target) per position (0 where target < 0), the main head only."""
    B, T = tokens.shape
    cos, sin, scale = tr.rope_tables(cfg, T)
    rec = {"sel": [], "margins": [], "bal": 0.0}
    h = torch.where((tokens >= 0)[..., None], P["embed"][tokens.clamp(min=0)],
                    torch.zeros(()))
    for l in range(cfg["L"]):
        h = tr.block(cfg, P, l, h, cos, sin, scale, bias, rec)
    logits = tr.rms_norm(h, P["final_norm"], cfg["eps"]) @ P["head"].t()
    lp = torch.log_softmax(logits, -1).gather(-1, targets.clamp(min=0)[..., None])[..., 0]
    return lp * (targets >= 0), rec


def advantages(r, eps):
    g = r.view(-1, G)
    mean = g.mean(1, keepdim=True)
    std = g.std(1, unbiased=True, keepdim=True)
    return ((g - mean) / (std + eps)).view(-1)


def coefs(targets, agg):
    mask = (targets >= 0).double()
    if agg == 0:
        return mask / mask.sum()
    return mask / (mask.sum(1, keepdim=True) * targets.shape[0])


def grpo_loss(lp, old, ref, adv, c, hp):
    ratio = torch.exp(lp - old)
    A = adv[:, None]
    pg = torch.min(ratio * A, torch.clamp(ratio, 1 - hp["clip_eps"], 1 + hp["clip_eps_high"]) * A)
    k3 = torch.exp(ref - lp) - (ref - lp) - 1
    loss = (c * (-pg + hp["kl_beta"] * k3)).sum()
    return loss, (c * pg).sum(), ratio, k3


def grad_of(P, n):
    # MTP parameters are not in GRPO's loss: zero gradient
    return P[n].grad.detach().clone() if P[n].grad is not None else torch.zeros_like(P[n])


def main():
    out = [a for a in sys.argv[1:] if not a.startswith("--")][0]
    cfg = tr.make_cfg(True)
    T = cfg["T"]
    E = cfg["E"]
    nb = cfg["L"] + cfg["mtp"]
    table = tr.param_table(cfg)
    for seed in range(1, 200):
        gen = torch.Generator().manual_seed(1000 + seed)
        P = tr.init_params(cfg, gen)
        bias = (0.05 * torch.randn(nb, E, generator=gen)).float().double()
        for l in range(nb):
            if not tr.is_moe(cfg, l):
                bias[l] = 0.0
        tokens = torch.randint(0, cfg["V"], (N_SEQ, T), generator=gen)
        targets = torch.full((N_SEQ, T), -1, dtype=torch.long)
        for i in range(N_SEQ):
            s = 1 + i % 2
            e = T - (i % 3)
            targets[i, s:e] = torch.randint(0, cfg["V"], (e - s,), generator=gen)
        with torch.no_grad():
            lp0, rec = logprobs(cfg, P, bias, tokens, targets)
        if min(abs(m) for m in rec["margins"]) > 2e-4:
            break
    else:
        raise SystemExit("no seed with a stable routing")
    mask = (targets >= 0).double()
    rewards = torch.tensor([2.0, 1.0, 0.0, 1.0, 1.0, 2.0])
    old = ((lp0 + 0.3 * torch.randn(N_SEQ, T, generator=gen)) * mask).float().double()
    ref = ((lp0 + 0.2 * torch.randn(N_SEQ, T, generator=gen)) * mask).float().double()

    results = []
    for hp in CASES:
        for v in P.values():
            v.grad = None
            v.requires_grad_(True)
        lp, _ = logprobs(cfg, P, bias, tokens, targets)
        adv = advantages(rewards, hp["adv_eps"])
        c = coefs(targets, hp["agg"])
        loss, pg, ratio, k3 = grpo_loss(lp, old, ref, adv, c, hp)
        loss.backward()
        grads = {n: grad_of(P, n) for n, _ in table}
        clip = ((ratio < 1 - hp["clip_eps"]) | (ratio > 1 + hp["clip_eps_high"])) & (mask > 0)
        print("case agg=%d: loss %.7f pg %.7f, clipped ratios %d of %d"
              % (hp["agg"], loss.item(), pg.item(), int(clip.sum()), int(mask.sum())))
        results.append((hp, adv, (ratio * mask).detach(), (k3 * mask).detach(), loss.item(),
                        pg.item(), grads))

        # identity: old = current -> ratio 1, gradient of sum c (-A lp + beta k3)
        for v in P.values():
            v.grad = None
        lp, _ = logprobs(cfg, P, bias, tokens, targets)
        l1, _, r1, _ = grpo_loss(lp, lp.detach(), ref, adv, c, hp)
        l1.backward()
        g1 = {n: grad_of(P, n) for n, _ in table}
        for v in P.values():
            v.grad = None
        lp, _ = logprobs(cfg, P, bias, tokens, targets)
        k3b = torch.exp(ref - lp) - (ref - lp) - 1
        l2 = (c * (-adv[:, None] * lp + hp["kl_beta"] * k3b)).sum()
        l2.backward()
        worst = max(((g1[n] - grad_of(P, n)).abs().max() / (grad_of(P, n).abs().max() + 1e-30))
                    .item() for n, _ in table if grad_of(P, n).abs().max() > 0)
        assert torch.allclose(r1[mask > 0], torch.ones(())), "ratio is not 1"
        print("  identity: ratio 1, gradient = -A grad lp + beta grad k3 within %.1e" % worst)
        assert worst < 1e-10

    hdr = [0x52474857, 1, N_SEQ, G, T, cfg["B"], len(table),
           sum(P[n].numel() for n, _ in table), len(CASES)] + [0] * 7
    ch = [0x52544857, 2] + [cfg[k] for k in (
        "V", "C", "L", "NH", "QLR", "KVLR", "NOPE", "ROPE", "VD", "FF", "E", "K", "MI", "NS", "G",
        "TG", "first_dense", "norm_topk", "mtp", "rope_scaling", "rope_orig_max_pos", "B", "T")]
    ch += [0] * (32 - len(ch))
    fh = [cfg[k] for k in ("eps", "route_scale", "mtp_lambda", "bal_alpha", "rope_theta",
                           "rope_factor", "beta_fast", "beta_slow", "mscale", "mscale_all_dim")]
    fh += [0.0] * (16 - len(fh))

    def f32(t):
        return t.detach().reshape(-1).float().numpy().tobytes()

    def i32(t):
        return torch.as_tensor(t, dtype=torch.int32).reshape(-1).numpy().tobytes()

    with open(out, "wb") as f:
        f.write(struct.pack("<16i", *hdr))
        f.write(struct.pack("<32i", *ch))
        f.write(struct.pack("<16f", *fh))
        f.write(i32(tokens))
        f.write(i32(targets))
        f.write(f32(rewards))
        f.write(f32(old))
        f.write(f32(ref))
        f.write(struct.pack("<%di" % len(table), *[P[n].numel() for n, _ in table]))
        f.write(f32(bias))
        for n, _ in table:
            f.write(f32(P[n]))
        for hp, adv, ratio, k3, loss, pg, grads in results:
            f.write(struct.pack("<8f", hp["clip_eps"], hp["clip_eps_high"], hp["kl_beta"],
                                hp["adv_eps"], hp["agg"], 0, 0, 0))
            f.write(f32(adv))
            f.write(f32(ratio))
            f.write(f32(k3))
            f.write(struct.pack("<2f", loss, pg))
            for n, _ in table:
                f.write(f32(grads[n]))
    print("%s: seed %d, %d sequences in %d groups, %d cases" % (out, seed, N_SEQ, N_SEQ // G,
                                                               len(CASES)))


if __name__ == "__main__":
    main()
