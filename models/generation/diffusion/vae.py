"""SpectralVAE: 16 kHz mono audio <-> a compact latent, and the signal helpers around it.

Encoder: waveform -> log-magnitude STFT (N_FFT 1024, hop 256: 513 bins x 62.5 frames/s) -> 1-D convolutions over
time with the bins as channels -> a stride-2 convolution -> mean and log-variance of a latent of LATENT channels
at 31.25 frames/s (one latent frame = 512 samples = 32 ms). The default 16 channels are 500 values per second for
16000 samples: a 32x expansion on decode (`--latent` widens it).
Decoder: latent -> log-magnitude spectrogram (mirror of the encoder, nearest upsampling + convolution; optionally
a residual `refine` path to the bins and, with `notes`, the stem's piano roll as a second input); the
waveform comes from Griffin-Lim (`griffin_lim`, fast variant with momentum, deterministic start), which runs on
CPU in torch (no learned phase: a small, honest first renderer).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .config import FRAME_SAMPLES, GL_ITERS, HOP, N_FFT, VAE_CONFIG

LOG_FLOOR = 1e-4      # magnitude floor before the log (-80 dB re full scale)
LOG_SCALE = 4.0       # log-magnitudes are divided by this so they sit around [-2.3, 1]


def _window(n, device=None):
    return torch.hann_window(n, device=device)


def log_magnitude(wav: torch.Tensor) -> torch.Tensor:
    """(B, samples) at SAMPLE_RATE -> (B, N_BINS, samples // HOP) scaled log-magnitude."""
    spec = torch.stft(wav, N_FFT, HOP, window=_window(N_FFT, wav.device), center=True, return_complex=True)
    mag = spec.abs()[..., : wav.shape[-1] // HOP]
    return torch.log(mag + LOG_FLOOR) / LOG_SCALE


def magnitude_of(logmag: torch.Tensor) -> torch.Tensor:
    return torch.clamp(torch.exp(logmag * LOG_SCALE) - LOG_FLOOR, min=0.0)


def griffin_lim(logmag: torch.Tensor, n_iter: int = GL_ITERS, momentum: float = 0.99) -> torch.Tensor:
    """(B, N_BINS, frames) scaled log-magnitude -> (B, frames * HOP) waveform (fast Griffin-Lim, zero-phase
    start, so the same input always gives the same output)."""
    mag = magnitude_of(logmag)
    mag = torch.cat([mag, mag[..., -1:]], -1)          # center=True wants frames + 1
    length = (mag.shape[-1] - 1) * HOP
    win = _window(N_FFT, mag.device)
    angles = torch.ones_like(mag, dtype=torch.complex64)
    prev = torch.zeros_like(angles)
    for _ in range(n_iter):
        wav = torch.istft(mag * angles, N_FFT, HOP, window=win, center=True, length=length)
        rebuilt = torch.stft(wav, N_FFT, HOP, window=win, center=True, return_complex=True)
        acc = rebuilt - (momentum / (1 + momentum)) * prev
        angles = acc / (acc.abs() + 1e-8)
        prev = rebuilt
    return torch.istft(mag * angles, N_FFT, HOP, window=win, center=True, length=length)


def mrstft_distance(a: np.ndarray, b: np.ndarray, resolutions=((512, 128), (1024, 256), (2048, 512))) -> dict:
    """Multi-resolution STFT distance between two mono signals of one rate: the mean over resolutions of the
    log-magnitude L1 (natural log, floor 1e-5) and of the spectral convergence ||A-B||_F / ||A||_F."""
    n = min(len(a), len(b))
    ta, tb = torch.from_numpy(np.ascontiguousarray(a[:n], np.float32)), torch.from_numpy(np.ascontiguousarray(b[:n], np.float32))
    l1, sc = [], []
    for n_fft, hop in resolutions:
        w = _window(n_fft)
        A = torch.stft(ta, n_fft, hop, window=w, return_complex=True).abs()
        B = torch.stft(tb, n_fft, hop, window=w, return_complex=True).abs()
        l1.append(float((torch.log(A + 1e-5) - torch.log(B + 1e-5)).abs().mean()))
        sc.append(float(torch.linalg.norm(A - B) / (torch.linalg.norm(A) + 1e-8)))
    return {"log_l1": float(np.mean(l1)), "spectral_convergence": float(np.mean(sc))}


class ResBlock1d(nn.Module):
    def __init__(self, ch: int, dilation: int = 1):
        super().__init__()
        self.n1 = nn.GroupNorm(8, ch)
        self.c1 = nn.Conv1d(ch, ch, 3, padding=dilation, dilation=dilation)
        self.n2 = nn.GroupNorm(8, ch)
        self.c2 = nn.Conv1d(ch, ch, 3, padding=1)

    def forward(self, x):
        h = self.c1(F.silu(self.n1(x)))
        return x + self.c2(F.silu(self.n2(h)))


class SpectralVAE(nn.Module):
    def __init__(self, n_bins=VAE_CONFIG["n_bins"], width=VAE_CONFIG["width"], latent=VAE_CONFIG["latent"],
                 n_res=VAE_CONFIG["n_res"], stride=VAE_CONFIG["stride"], head=None, refine=None, notes=None):
        super().__init__()
        self.config = {"n_bins": n_bins, "width": width, "latent": latent, "n_res": n_res, "stride": stride}
        if head:
            self.config["head"] = head
        if refine:
            self.config["refine"] = refine
        if notes:
            self.config["notes"] = notes
        self.notes = int(notes or 0)
        self.stride = stride
        self.enc_in = nn.Conv1d(n_bins, width, 3, padding=1)
        self.enc_res = nn.Sequential(*[ResBlock1d(width, 2 ** k) for k in range(n_res)])
        self.enc_down = nn.Conv1d(width, width, 2 * stride, stride=stride, padding=stride // 2)
        self.enc_res2 = ResBlock1d(width)
        self.enc_out = nn.Conv1d(width, 2 * latent, 1)
        self.dec_in = nn.Conv1d(latent, width, 3, padding=1)
        self.dec_res = ResBlock1d(width)
        self.dec_up = nn.Conv1d(width, width, 3, padding=1)
        self.dec_res2 = nn.Sequential(*[ResBlock1d(width, 2 ** k) for k in range(n_res)])
        if head:   # a wider last layer: more basis spectra (pitch x timbre combs) than `width` can hold
            self.dec_out = nn.Sequential(nn.Conv1d(width, head, 3, padding=1), nn.SiLU(), nn.Conv1d(head, n_bins, 1))
        else:
            self.dec_out = nn.Conv1d(width, n_bins, 3, padding=1)
        self.dec_refine = None
        if refine:   # a residual second path to the bins, added to dec_out's: its last layer starts at zero, so a
            # decoder grown from a trained one (`bandmate train vae --decoder-only --refine N`) starts where it was
            self.dec_refine = nn.Sequential(nn.Conv1d(width, refine, 3, padding=1), nn.SiLU(),
                                            nn.Conv1d(refine, n_bins, 1))
            nn.init.zeros_(self.dec_refine[2].weight)
            nn.init.zeros_(self.dec_refine[2].bias)
        self.dec_notes = self.dec_notes_refine = None
        if notes:    # the stem's piano roll (sustain + onset, `notes` rows at the latent rate) read by the decoder,
            # as a vocoder reads f0: where the partials go comes from the notes, timbre and envelope from the latent.
            # Zero at the start, so a decoder grown from a trained one decodes as it did.
            self.dec_notes = nn.Conv1d(notes, width, 3, padding=1)
            nn.init.zeros_(self.dec_notes.weight)
            nn.init.zeros_(self.dec_notes.bias)
            if refine:
                self.dec_notes_refine = nn.Conv1d(notes, refine, 1)
        self.register_buffer("latent_scale", torch.ones(()))   # 1 / std of the latent means, set after training

    def encode_spec(self, logmag):
        """(B, bins, frames) -> (mean, logvar), each (B, latent, frames // stride)."""
        h = self.enc_res(self.enc_in(logmag))
        h = self.enc_res2(self.enc_down(h))
        h = self.enc_out(F.silu(h))
        n = logmag.shape[-1] // self.stride
        mean, logvar = h[..., :n].chunk(2, dim=1)
        return mean, logvar.clamp(-12, 6)

    def decode(self, z, roll=None):
        """(B, latent, T) [and, for a notes decoder, the piano roll (B, notes, T); None = no notes, read as the
        all-zero roll it was trained with] -> (B, bins, T * stride) scaled log-magnitude."""
        h = self.dec_in(z)
        if self.dec_notes is not None:
            if roll is None:
                roll = z.new_zeros(z.shape[0], self.notes, z.shape[-1])
            h = h + self.dec_notes(roll)
        h = self.dec_res(h)
        h = F.interpolate(h, scale_factor=self.stride, mode="nearest")
        h = F.silu(self.dec_res2(self.dec_up(h)))
        out = self.dec_out(h)
        if self.dec_refine is None:
            return out
        r = self.dec_refine[0](h)
        if self.dec_notes_refine is not None:
            r = r + F.interpolate(self.dec_notes_refine(roll), scale_factor=self.stride, mode="nearest")
        return out + self.dec_refine[2](self.dec_refine[1](r))

    def encode(self, wav):
        """(B, samples) -> latent mean (B, latent, samples // FRAME_SAMPLES)."""
        return self.encode_spec(log_magnitude(wav[..., : wav.shape[-1] // FRAME_SAMPLES * FRAME_SAMPLES]))[0]

    def forward(self, logmag, roll=None):
        mean, logvar = self.encode_spec(logmag)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
        kl = 0.5 * (mean ** 2 + logvar.exp() - 1 - logvar).mean()
        return self.decode(z, roll), kl

    def decode_audio(self, z, n_iter: int = GL_ITERS, roll=None):
        """Latent (B, latent, T) -> waveform (B, T * FRAME_SAMPLES) at SAMPLE_RATE."""
        return griffin_lim(self.decode(z, roll), n_iter=n_iter)


def count_parameters(module) -> int:
    return int(sum(p.numel() for p in module.parameters()))


__all__ = ["SpectralVAE", "log_magnitude", "griffin_lim", "mrstft_distance", "count_parameters"]
