"""The stem transformer: one causal transformer over the step grid, all four stems at once.

Input at step t: the conditioning of step t (chord relative to the local key, the next chord, steps to the
change, position in bar, section, bar in section, genre family, tempo bucket, grid, meter, per-stem density)
plus the tokens every stem played at step t-1. Output: each stem's token at step t (drums as independent hits,
pitched stems as categorical onsets with duration and velocity). Stems are conditionally independent within a
step, given the past of all of them, so one forward pass per step generates the whole band. Sampling keeps a
key/value cache, so a step costs one token's worth of compute.
"""
from __future__ import annotations

import math

import numpy as np

import torch
import torch.nn.functional as F
from torch import nn

from .tokens import (DURATIONS, FAMILIES, GRIDS, MAX_STEPS_PER_BAR, MODES, N_BASS, N_DRUMS, N_KEYS, N_MELODY,
                     QUALITY_NAMES, SECTIONS, TEMPO_EDGES, VELOCITIES, CHANGE_EDGES)

N_DUR, N_VEL = len(DURATIONS), len(VELOCITIES)
PITCHED = {"bass": N_BASS, "keys": N_KEYS, "melody": N_MELODY}


class Block(nn.Module):
    def __init__(self, d, heads, ff, dropout):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.ff = nn.Sequential(nn.Linear(d, ff), nn.GELU(), nn.Linear(ff, d))
        self.drop = nn.Dropout(dropout)

    def forward(self, x, cache=None):
        b, n, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        q, k, v = (t.view(b, n, self.heads, d // self.heads).transpose(1, 2) for t in (q, k, v))
        if cache is not None:
            if "k" in cache:
                k = torch.cat([cache["k"], k], dim=2)
                v = torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        causal = cache is None or n > 1
        att = F.scaled_dot_product_attention(q, k, v, is_causal=causal and k.shape[2] == n,
                                             dropout_p=self.drop.p if self.training else 0.0)
        x = x + self.drop(self.out(att.transpose(1, 2).reshape(b, n, d)))
        return x + self.drop(self.ff(self.ln2(x)))


class StemTransformer(nn.Module):
    def __init__(self, d=192, layers=4, heads=4, ff=512, dropout=0.1, max_len=512):
        super().__init__()
        self.config = dict(d=d, layers=layers, heads=heads, ff=ff, dropout=dropout, max_len=max_len)
        e = lambda n: nn.Embedding(n, d)  # noqa: E731
        self.cond = nn.ModuleDict({
            "root": e(13), "quality": e(len(QUALITY_NAMES)), "bass_iv": e(12), "next_root": e(13),
            "next_quality": e(len(QUALITY_NAMES)), "change": e(len(CHANGE_EDGES) + 1), "mode": e(len(MODES)),
            "pos": e(MAX_STEPS_PER_BAR), "section": e(len(SECTIONS)), "bar_in_section": e(8), "last_bar": e(2)})
        self.song = nn.ModuleList([e(len(GRIDS)), e(5), e(len(TEMPO_EDGES) + 1), e(len(FAMILIES) + 1)]
                                  + [e(4) for _ in range(4)])
        self.prev_drums = nn.Linear(N_DRUMS, d)
        self.prev = nn.ModuleDict({"p_" + s: e(n) for s, n in PITCHED.items()})
        self.prev_dur = nn.ModuleDict({"p_" + s: e(N_DUR + 1) for s in PITCHED})
        self.position = e(max_len)
        self.blocks = nn.ModuleList([Block(d, heads, ff, dropout) for _ in range(layers)])
        self.ln = nn.LayerNorm(d)
        self.head_drums = nn.Linear(d, N_DRUMS + N_VEL)
        self.heads = nn.ModuleDict({"p_" + s: nn.Linear(d, n + N_DUR + N_VEL) for s, n in PITCHED.items()})
        self.apply(self._init)

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)

    def embed(self, feats, prev, offset=0):
        """feats: dict of (B, N) long tensors (+ 'song' (B, N, 8)); prev: dict of the previous step's tokens
        ('drums' (B, N, N_DRUMS) float, pitched (B, N) long, '<stem>_dur' (B, N) long with 0 = none)."""
        x = sum(self.cond[k](feats[k]) for k in self.cond)
        song = feats["song"]
        x = x + sum(emb(song[..., i]) for i, emb in enumerate(self.song))
        x = x + self.prev_drums(prev["drums"])
        for s in PITCHED:
            x = x + self.prev["p_" + s](prev[s]) + self.prev_dur["p_" + s](prev[s + "_dur"])
        n = x.shape[1]
        pos = torch.arange(offset, offset + n, device=x.device).clamp(max=self.position.num_embeddings - 1)
        return x + self.position(pos)

    def forward(self, feats, prev, caches=None, offset=0):
        x = self.embed(feats, prev, offset)
        for i, blk in enumerate(self.blocks):
            x = blk(x, None if caches is None else caches[i])
        x = self.ln(x)
        out = {"drums": self.head_drums(x)}
        for s in PITCHED:
            out[s] = self.heads["p_" + s](x)
        return out


class FastStepper:
    """Incremental decoding for sampling, in numpy: the conditioning of every step is embedded in one batched
    torch call, then each step runs on preallocated key/value buffers with plain matrix-vector products (per
    call overhead is what costs on a CPU at batch 1, and numpy's is a fraction of torch's). Gives the same
    numbers as `forward` on the same inputs (a test checks it)."""

    def __init__(self, model, feats, max_len):
        import torch
        from scipy.special import erf

        self.erf = erf
        self.max_len = max_len
        with torch.no_grad():
            x = sum(model.cond[k](feats[k]) for k in model.cond)
            song = feats["song"]
            self.cond = (x + sum(emb(song[..., i]) for i, emb in enumerate(model.song)))[0].numpy()
        w = lambda t: t.detach().numpy().astype(np.float32)  # noqa: E731
        d, h = model.config["d"], model.config["heads"]
        self.h, self.dh = h, d // h
        self.blocks = [dict(ln1=(w(b.ln1.weight), w(b.ln1.bias)), ln2=(w(b.ln2.weight), w(b.ln2.bias)),
                            qkv=(w(b.qkv.weight), w(b.qkv.bias)), out=(w(b.out.weight), w(b.out.bias)),
                            ff1=(w(b.ff[0].weight), w(b.ff[0].bias)), ff2=(w(b.ff[2].weight), w(b.ff[2].bias)))
                       for b in model.blocks]
        self.eps = model.blocks[0].ln1.eps
        self.k = [np.zeros((h, max_len, d // h), np.float32) for _ in model.blocks]
        self.v = [np.zeros((h, max_len, d // h), np.float32) for _ in model.blocks]
        self.len = 0
        self.scale = 1.0 / math.sqrt(d // h)
        self.pos = w(model.position.weight)
        self.drum_w, self.drum_b = w(model.prev_drums.weight), w(model.prev_drums.bias)
        self.prev = {s: w(model.prev["p_" + s].weight) for s in PITCHED}
        self.prev_dur = {s: w(model.prev_dur["p_" + s].weight) for s in PITCHED}
        self.ln = (w(model.ln.weight), w(model.ln.bias))
        heads = [model.head_drums] + [model.heads["p_" + s] for s in PITCHED]
        self.head_w = np.concatenate([w(hd.weight) for hd in heads], 0)
        self.head_b = np.concatenate([w(hd.bias) for hd in heads], 0)
        self.splits = np.cumsum([hd.weight.shape[0] for hd in heads])[:-1]

    def reset(self):
        self.len = 0

    def _ln(self, x, p):
        c = x - x.sum() / x.size
        return c / math.sqrt(float(c @ c) / x.size + self.eps) * p[0] + p[1]

    def step(self, i, prev_drums, prev_tok, prev_dur):
        """Logits for step i given step i-1's tokens (drums: float array; pitched: stem -> int)."""
        x = self.cond[i] + self.pos[min(self.len, self.pos.shape[0] - 1)] + self.drum_b
        hits = np.nonzero(prev_drums)[0]
        if len(hits):
            x = x + self.drum_w[:, hits].sum(1)
        for s in PITCHED:
            x = x + self.prev[s][prev_tok[s]] + self.prev_dur[s][prev_dur[s]]
        t = self.len
        for li, b in enumerate(self.blocks):
            y = self._ln(x, b["ln1"])
            q, k, v = (b["qkv"][0] @ y + b["qkv"][1]).reshape(3, self.h, self.dh)
            self.k[li][:, t] = k
            self.v[li][:, t] = v
            sc = np.einsum("htd,hd->ht", self.k[li][:, :t + 1], q) * self.scale
            sc = np.exp(sc - sc.max(axis=1, keepdims=True))
            sc /= sc.sum(axis=1, keepdims=True)
            o = np.einsum("ht,htd->hd", sc, self.v[li][:, :t + 1]).reshape(-1)
            x = x + b["out"][0] @ o + b["out"][1]
            y = self._ln(x, b["ln2"])
            u = b["ff1"][0] @ y + b["ff1"][1]
            u = 0.5 * u * (1.0 + self.erf(u / math.sqrt(2.0)))
            x = x + b["ff2"][0] @ u + b["ff2"][1]
        self.len += 1
        logits = self.head_w @ self._ln(x, self.ln) + self.head_b
        parts = np.split(logits, self.splits)
        out = {"drums": parts[0]}
        for s, part in zip(PITCHED, parts[1:]):
            out[s] = part
        return out


def split_head(logits, stem):
    """(token, duration, velocity) logits of a pitched stem's head output."""
    n = PITCHED[stem]
    return logits[..., :n], logits[..., n:n + N_DUR], logits[..., n + N_DUR:]


def shift_prev(batch):
    """The model's `prev` inputs: each stem's targets moved one step later (zeros at step 0)."""
    def sh(t):
        out = torch.zeros_like(t)
        out[:, 1:] = t[:, :-1]
        return out
    prev = {"drums": sh(batch["drums"])}
    for s in PITCHED:
        prev[s] = sh(batch[s])
        dur = batch[s + "_dur"] + 1
        prev[s + "_dur"] = sh(torch.where(batch[s] > 0, dur, torch.zeros_like(dur)))
    return prev


def loss_fn(model_out, batch, mask):
    """Mean per-step loss: drum hits (BCE) + velocity, pitched tokens (CE) + duration/velocity on onsets."""
    m = mask.float()
    denom = m.sum().clamp(min=1)
    d = model_out["drums"]
    bce = F.binary_cross_entropy_with_logits(d[..., :N_DRUMS], batch["drums"], reduction="none").sum(-1)
    total = (bce * m).sum() / denom
    hit = (batch["drums"].sum(-1) > 0).float() * m
    if hit.sum() > 0:
        ce = F.cross_entropy(d[..., N_DRUMS:].reshape(-1, N_VEL), batch["drum_vel"].reshape(-1), reduction="none")
        total = total + 0.3 * (ce * hit.reshape(-1)).sum() / hit.sum()
    parts = {"drums": float((bce * m).sum().detach() / denom)}
    for s in PITCHED:
        tok, dur, vel = split_head(model_out[s], s)
        ce = F.cross_entropy(tok.reshape(-1, tok.shape[-1]), batch[s].reshape(-1), reduction="none")
        tl = (ce * m.reshape(-1)).sum() / denom
        onset = ((batch[s] > 0).float() * m).reshape(-1)
        total = total + tl
        parts[s] = float(tl.detach())
        if onset.sum() > 0:
            for head, tgt, w in ((dur, s + "_dur", 0.5), (vel, s + "_vel", 0.3)):
                ce = F.cross_entropy(head.reshape(-1, head.shape[-1]), batch[tgt].reshape(-1), reduction="none")
                total = total + w * (ce * onset).sum() / onset.sum()
    return total, parts


def n_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = ["StemTransformer", "loss_fn", "shift_prev", "split_head", "n_parameters", "PITCHED"]
