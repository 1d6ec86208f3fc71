"""DiffusionUNet: a 1-D U-Net over the VAE latent (B, latent, T), conditioned on notation features (B, T, 256).

    encoder, per level: [Conv in] -> ResBlock -> cross-attention to the notation -> Downsample (x2, twice)
    middle:             ResBlock -> self-attention -> cross-attention -> ResBlock
    decoder, per level: Upsample -> ResBlock (with the encoder's skip) -> cross-attention
    out:                GroupNorm -> SiLU -> Conv -> v (v-prediction)

The diffusion timestep (sinusoidal, then an MLP) enters every ResBlock as a scale and shift. Queries and keys
of the cross-attention carry a sinusoidal code of the frame's time, so a frame finds its own notation without
being told; in addition the notation, projected to `local` channels, is concatenated to the noisy latent at the
input (a cheap aligned path that makes the small model learn fast; both paths are dropped together for
classifier-free guidance). T must be a multiple of 2 ** (levels - 1).
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .config import UNET_CONFIG


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """(B,) continuous time in [0, 1] -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = (t.float() * 1000.0)[:, None] * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], -1)


def position_code(n: int, dim: int, step: float, device=None) -> torch.Tensor:
    """(n, dim) sinusoidal code of frame positions 0, step, 2*step... (in latent frames)."""
    pos = torch.arange(n, dtype=torch.float32, device=device) * step
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, dtype=torch.float32, device=device) / half)
    args = pos[:, None] * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], -1)


def _groups(ch):
    return 8 if ch % 8 == 0 else 1


class ResBlock(nn.Module):
    def __init__(self, cin, cout, tdim):
        super().__init__()
        self.n1 = nn.GroupNorm(_groups(cin), cin)
        self.c1 = nn.Conv1d(cin, cout, 3, padding=1)
        self.t = nn.Linear(tdim, 2 * cout)
        self.n2 = nn.GroupNorm(_groups(cout), cout)
        self.c2 = nn.Conv1d(cout, cout, 3, padding=1)
        self.skip = nn.Conv1d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, temb):
        h = self.c1(F.silu(self.n1(x)))
        scale, shift = self.t(temb)[..., None].chunk(2, dim=1)
        h = self.n2(h) * (1 + scale) + shift
        return self.skip(x) + self.c2(F.silu(h))


class Attention(nn.Module):
    """Multi-head attention of frames (B, C, T) to a context (B, S, D); self-attention when context is None."""

    def __init__(self, ch, ctx_dim=None, heads=4):
        super().__init__()
        self.norm = nn.GroupNorm(_groups(ch), ch)
        self.heads = heads
        self.q = nn.Linear(ch, ch)
        self.k = nn.Linear(ctx_dim or ch, ch)
        self.v = nn.Linear(ctx_dim or ch, ch)
        self.out = nn.Linear(ch, ch)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x, context=None, q_pos=None, k_pos=None):
        b, c, t = x.shape
        h = self.norm(x).transpose(1, 2)                      # (B, T, C)
        ctx = h if context is None else context
        q_in = h if q_pos is None else h + q_pos
        kv_in = ctx if k_pos is None else ctx + k_pos
        q, k, v = self.q(q_in), self.k(kv_in), self.v(ctx)   # positions steer where to look, not what is read

        def split(z):
            return z.reshape(b, z.shape[1], self.heads, c // self.heads).transpose(1, 2)

        q, k, v = split(q), split(k), split(v)
        w = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(c // self.heads), dim=-1)
        o = (w @ v).transpose(1, 2).reshape(b, t, c)
        return x + self.out(o).transpose(1, 2)


class DiffusionUNet(nn.Module):
    def __init__(self, latent=UNET_CONFIG["latent"], width=UNET_CONFIG["width"], mults=UNET_CONFIG["mults"],
                 notation=UNET_CONFIG["notation"], heads=UNET_CONFIG["heads"], local=UNET_CONFIG["local"]):
        super().__init__()
        mults = tuple(mults)
        self.config = {"latent": latent, "width": width, "mults": list(mults), "notation": notation,
                       "heads": heads, "local": local}
        self.levels = len(mults)
        tdim = 4 * width
        self.width = width
        self.tmlp = nn.Sequential(nn.Linear(width, tdim), nn.SiLU(), nn.Linear(tdim, tdim))
        self.local = nn.Linear(notation, local)
        self.conv_in = nn.Conv1d(latent + local, width, 3, padding=1)
        chans = [width * m for m in mults]
        self.ctx_pos = nn.Linear(64, notation)
        self.down_res, self.down_xattn, self.down, self.q_pos = (nn.ModuleList() for _ in range(4))
        cin = width
        for i, ch in enumerate(chans):
            self.down_res.append(ResBlock(cin, ch, tdim))
            self.down_xattn.append(Attention(ch, notation, heads))
            self.q_pos.append(nn.Linear(64, ch))
            self.down.append(nn.Conv1d(ch, ch, 3, stride=2, padding=1) if i < self.levels - 1 else nn.Identity())
            cin = ch
        mid = chans[-1]
        self.mid_res1 = ResBlock(mid, mid, tdim)
        self.mid_self = Attention(mid, None, heads)
        self.mid_xattn = Attention(mid, notation, heads)
        self.mid_q_pos = nn.Linear(64, mid)
        self.mid_res2 = ResBlock(mid, mid, tdim)
        self.up_res, self.up_xattn, self.up, self.up_q_pos = (nn.ModuleList() for _ in range(4))
        cin = mid
        for i in reversed(range(self.levels)):
            ch = chans[i]
            self.up.append(nn.Conv1d(cin, cin, 3, padding=1) if i < self.levels - 1 else nn.Identity())
            self.up_res.append(ResBlock(cin + ch, ch, tdim))
            self.up_xattn.append(Attention(ch, notation, heads))
            self.up_q_pos.append(nn.Linear(64, ch))
            cin = ch
        self.norm_out = nn.GroupNorm(_groups(width), width)
        self.conv_out = nn.Conv1d(width, latent, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, x, t, notation):
        """x: noisy latent (B, latent, T); t: (B,) in [0, 1]; notation: (B, T, notation_dim) -> v (B, latent, T)."""
        T = x.shape[-1]
        temb = self.tmlp(timestep_embedding(t, self.width))
        local = self.local(notation).transpose(1, 2)
        k_pos = self.ctx_pos(position_code(notation.shape[1], 64, 1.0, x.device))[None]
        h = self.conv_in(torch.cat([x, local], 1))
        skips = []
        for i in range(self.levels):
            step = float(2 ** i)
            h = self.down_res[i](h, temb)
            qp = self.q_pos[i](position_code(h.shape[-1], 64, step, x.device))[None]
            h = self.down_xattn[i](h, notation, qp, k_pos)
            skips.append(h)
            h = self.down[i](h)
        step = float(2 ** (self.levels - 1))
        h = self.mid_res1(h, temb)
        h = self.mid_self(h)
        h = self.mid_xattn(h, notation, self.mid_q_pos(position_code(h.shape[-1], 64, step, x.device))[None], k_pos)
        h = self.mid_res2(h, temb)
        for j, i in enumerate(reversed(range(self.levels))):
            if i < self.levels - 1:
                h = self.up[j](F.interpolate(h, scale_factor=2, mode="nearest"))
            h = self.up_res[j](torch.cat([h, skips[i]], 1), temb)
            qp = self.up_q_pos[j](position_code(h.shape[-1], 64, float(2 ** i), x.device))[None]
            h = self.up_xattn[j](h, notation, qp, k_pos)
        out = self.conv_out(F.silu(self.norm_out(h)))
        return out[..., :T]


__all__ = ["DiffusionUNet", "timestep_embedding"]
