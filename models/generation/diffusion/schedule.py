"""Noise schedule and sampler: continuous time t in [0, 1], cosine schedule, v-prediction, DDIM with
classifier-free guidance.

    x_t = alpha(t) * x_0 + sigma(t) * eps,   alpha = cos(pi/2 * (t + s) / (1 + s)),  sigma = sqrt(1 - alpha^2)
    v   = alpha * eps - sigma * x_0   (what the U-Net predicts)

Training draws t uniformly, so any number of sampling steps works with one model: DEFAULT_STEPS (5) for the
renderer, 20 or 50 on request. Guidance: v = v_uncond + scale * (v_cond - v_uncond), the unconditional branch
seeing all-zero notation (what training shows it for CONDITION_DROP of the examples); the scale may differ per
example, so each stem of one batch gets its own (STEM_GUIDANCE).
"""
from __future__ import annotations

import math

import numpy as np
import torch

# Sampler steps and per-stem guidance, chosen on the songbook valid split for diffusion-0.3 + vae-0.5 (basic-pitch
# note F1 over 40 valid requests; the numbers are in the diffusion card, cards.SAMPLING_CHOICE): fewer steps read
# better (50 / 20 / 10 / 5 / 3 steps at guidance 1.5: 0.525 / 0.537 / 0.549 / 0.551 / 0.552), and the bass wants
# less guidance (1.0) than the keys (2.0).
DEFAULT_STEPS = 5
# Classifier-free guidance scale, chosen on the songbook valid split (`bandmate songbook make --n 40 --seed 5 --split
# valid --midi-only`, `bandmate bench render --set <valid> --n 40 --guidance G`; chords majmin / note F1 / onset F1)
# for diffusion-0.3: 1.5 0.890 / 0.478 / 0.876, 2.0 0.886 / 0.481 / 0.884, 2.5 0.881 / 0.474 / 0.889. diffusion-0.2
# on the first 20 of those songs: 1.25 0.850 / 0.469, 1.5 0.878 / 0.479, 2.0 0.857 / 0.486, 3.0 0.846 / 0.482; and
# diffusion-0.1 (20 songs): 1.0 0.678 / 0.257, 1.25 0.689 / 0.282, 1.5 0.649 / 0.304, 2.0 0.447 / 0.298. The better
# trained the model, the more guidance it takes; 1.5 reads best as chords on both recent models, and stays the
# scale of the stems STEM_GUIDANCE does not name (melody, drums).
DEFAULT_GUIDANCE = 1.5
# Per stem (what the renderer uses unless told one scale); "default" for the stems not named.
STEM_GUIDANCE = {"default": DEFAULT_GUIDANCE, "bass": 1.0, "keys": 2.0}
# Standard deviation of the starting noise (reduced-temperature sampling: below 1 the sampler starts nearer the
# mean of the noise and lands on more typical latents, trading variety for fidelity to the notes). Chosen on the
# songbook valid split (see the diffusion card).
DEFAULT_TEMPERATURE = 0.3
CONDITION_DROP = 0.1


def guidance_text(guidance) -> str:
    """'1.5', or for a per-stem table 'bass 1, keys 2, other stems 1.5'."""
    if not isinstance(guidance, dict):
        return "%g" % guidance
    parts = ["%s %g" % (k, v) for k, v in guidance.items() if k != "default"]
    return ", ".join(parts + (["other stems %g" % guidance["default"]] if "default" in guidance else []))


_S = 0.008
T_MAX = 0.995       # the last few thousandths are pure noise; stopping short keeps alpha > 0


def alpha_sigma(t):
    """(alpha, sigma) of time t (tensor or float)."""
    if not torch.is_tensor(t):
        t = torch.tensor(float(t))
    a = torch.cos(0.5 * math.pi * (t + _S) / (1 + _S))
    return a, torch.sqrt(torch.clamp(1 - a * a, min=0.0))


def training_loss(v_model, x0, notation, generator=None):
    """Mean squared v error at uniformly drawn times; `v_model(x_t, t, notation)`."""
    b = x0.shape[0]
    t = torch.rand(b, generator=generator, device=x0.device) * T_MAX
    eps = torch.randn(x0.shape, generator=generator, device=x0.device)
    a, s = alpha_sigma(t)
    a, s = a[:, None, None], s[:, None, None]
    xt = a * x0 + s * eps
    v = a * eps - s * x0
    return torch.mean((v_model(xt, t, notation) - v) ** 2)


def ddim_times(steps: int) -> np.ndarray:
    return np.linspace(T_MAX, 0.0, steps + 1)


def ddim_sample(v_fn, shape, notation, steps: int = DEFAULT_STEPS, guidance=DEFAULT_GUIDANCE, seed: int = 0,
                noise=None, temperature: float = 1.0):
    """Deterministic DDIM from noise to a latent. `v_fn(x, t, notation)` takes and returns numpy arrays or torch
    tensors (whatever `notation` is); `guidance` is one scale or one per example (shape (B,)); where any scale
    != 1, `v_fn` is called once per step on a doubled batch (conditional, then unconditional with zero
    notation). The starting noise (drawn from `seed` unless given) is multiplied by `temperature`."""
    is_np = isinstance(notation, np.ndarray)
    lib_cat = np.concatenate if is_np else torch.cat
    if noise is None:
        g = np.random.default_rng(seed)
        noise = g.standard_normal(shape).astype(np.float32)
    x = noise if is_np else torch.from_numpy(np.asarray(noise, np.float32)).to(notation.device)
    if temperature != 1.0:
        x = x * float(temperature)
    b = shape[0]
    scales = np.array(np.broadcast_to(np.asarray(guidance, np.float32).reshape(-1), (b,))).reshape(b, 1, 1)
    use_cfg = bool(np.any(scales != 1.0))
    if use_cfg and not is_np:
        scales = torch.from_numpy(scales).to(notation.device)
    ctx = lib_cat([notation, notation * 0], 0) if use_cfg else notation
    times = ddim_times(steps)
    for i in range(steps):
        t, t_next = float(times[i]), float(times[i + 1])
        a, s = (float(v) for v in alpha_sigma(t))
        an, sn = (float(v) for v in alpha_sigma(t_next))
        xin = lib_cat([x, x], 0) if use_cfg else x
        tt = np.full((xin.shape[0],), t, np.float32)
        v = v_fn(xin, tt if is_np else torch.from_numpy(tt).to(x.device), ctx)
        if use_cfg:
            v = v[b:] + scales * (v[:b] - v[b:])
        x0 = a * x - s * v
        eps = s * x + a * v
        x = x0 if i == steps - 1 else an * x0 + sn * eps   # the last step lands on the clean estimate
    return x


__all__ = ["alpha_sigma", "training_loss", "ddim_sample", "DEFAULT_STEPS", "DEFAULT_GUIDANCE", "STEM_GUIDANCE",
           "DEFAULT_TEMPERATURE", "guidance_text", "CONDITION_DROP"]
