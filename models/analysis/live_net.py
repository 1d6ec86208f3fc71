"""The live chord network: causal features, a causal network, and its frame-by-frame runner.

The offline chord network (chords.py) reads centred 0.19 s windows 0.1 s apart and a bidirectional GRU: a
chord change is only named once about a second of the new chord has passed. The live network is built for the
stream's leading edge instead:

  features   every 20 ms (441 samples at 22.05 kHz), two windows that END at the frame's time: a long one
             (4096 samples, 186 ms; bass resolution) and a short one (1024 samples, 46 ms; reacts to a new
             chord within a frame or two), each on the 176 half-semitone bands of features.log_filterbank,
             log(1 + 100 x). Frame k covers audio up to k * 20 ms and nothing after it.
  network    per frame, a convolution over frequency (both windows as two channels), two dense layers, a one-way GRU
             carried from frame to frame, and the offline model's three heads (root + N, quality, bass + N).
             Nothing looks ahead: the output at frame k depends on audio up to k * 20 ms only.
  training   models/analysis/train_live.py, with frame targets of the chord sounding at the frame's time, so
             the network learns to switch as soon as the new chord is audible.

`StreamingLiveNet` runs the network one frame at a time with the GRU state carried (tests check it equals the
batched forward pass).
"""
from __future__ import annotations

import os

import numpy as np

from .chords import QUALITY_CLASSES
from .features import MODEL_SR, log_filterbank, stft_magnitude

HOP = 441  # samples at MODEL_SR between frames: 20 ms
HOP_S = HOP / float(MODEL_SR)
N_LONG = 4096
N_SHORT = 1024
N_BINS = 176
COMPRESSION = 100.0
CHECKPOINT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "checkpoints", "live_chords")

_FB = {}


def filterbank(n_fft: int, tuning_cents: float = 0.0) -> np.ndarray:
    """The 176 half-semitone bands for an `n_fft` window, moved `tuning_cents` off A440 (cached)."""
    key = (n_fft, round(float(tuning_cents), 3))
    if key not in _FB:
        _FB[key] = log_filterbank(MODEL_SR, n_fft, tuning_cents=key[1])
    return _FB[key]


def causal_features(y: np.ndarray, tuning_cents: float = 0.0) -> np.ndarray:
    """(frames, 2, 176) causal features of a mono 22.05 kHz signal: frame k ends at sample k * HOP (the audio
    before the signal is silence); the bands follow `tuning_cents` (features.estimate_tuning)."""
    n = len(y) // HOP + 1
    out = np.zeros((n, 2, N_BINS), dtype=np.float32)
    for ch, n_fft in enumerate((N_LONG, N_SHORT)):
        # stft_magnitude centres frame k on sample k*HOP of its input; n_fft/2 zeros in front make the window end
        # there instead
        padded = np.concatenate([np.zeros(n_fft // 2, np.float32), np.asarray(y, np.float32)])
        mag = stft_magnitude(padded, n_fft, HOP, filterbank=filterbank(n_fft, tuning_cents))[:n]
        out[:len(mag), ch] = np.log1p(COMPRESSION * mag)
    return out


class FrameFeatures:
    """The same features one frame at a time from a ring of samples: `frame(buf, end)` with buf[:end] the
    signal so far (end = k * HOP, at least N_LONG samples of history, zeros before the start); the bands follow
    `tuning_cents`."""

    def __init__(self, tuning_cents: float = 0.0):
        self.tuning_cents = tuning_cents
        self.win = {n: np.hanning(n + 1)[:-1].astype(np.float32) for n in (N_LONG, N_SHORT)}
        self.scale = {n: np.float32(2.0 / self.win[n].sum()) for n in (N_LONG, N_SHORT)}

    def frame(self, seg_long: np.ndarray) -> np.ndarray:
        """seg_long: the last N_LONG samples up to the frame's time. Returns (2, 176)."""
        out = np.empty((2, N_BINS), dtype=np.float32)
        for ch, n in enumerate((N_LONG, N_SHORT)):
            seg = seg_long[-n:]
            mag = np.abs(np.fft.rfft(seg * self.win[n])).astype(np.float32) * self.scale[n]
            out[ch] = np.log1p(COMPRESSION * (mag @ filterbank(n, self.tuning_cents)))
        return out


def build_live_model(hidden: int = 160, channels: int = 8):
    """The causal chord network (torch)."""
    from torch import nn

    class LiveChordNet(nn.Module):
        causal = True

        def __init__(self):
            super().__init__()
            c = channels
            self.hidden = hidden
            # a pitch-local filter bank shared along frequency (peaks, partials), then dense layers over it: the
            # cheap front end keeps training and 50 frames/s streaming on a laptop CPU
            self.conv = nn.Sequential(nn.Conv1d(2, c, 5, padding=2), nn.ReLU(), nn.MaxPool1d(2))
            self.proj = nn.Sequential(nn.Linear(c * (N_BINS // 2), 256), nn.ReLU(), nn.Dropout(0.2),
                                      nn.Linear(256, 128), nn.ReLU())
            self.gru = nn.GRU(128, hidden, batch_first=True)
            self.root = nn.Linear(hidden, 13)
            self.quality = nn.Linear(hidden, len(QUALITY_CLASSES))
            self.bass = nn.Linear(hidden, 13)

        def frame_embed(self, x):  # x: (n, 2, bins) -> (n, 128)
            return self.proj(self.conv(x).flatten(1))

        def forward(self, x, h=None):  # x: (batch, frames, 2, bins)
            b, t = x.shape[:2]
            e = self.frame_embed(x.reshape(b * t, 2, -1)).reshape(b, t, -1)
            out, _ = self.gru(e, h)
            return self.root(out), self.quality(out), self.bass(out)

    return LiveChordNet()


def load_live_model(checkpoint: str = CHECKPOINT):
    """The trained live chord network, or None when its checkpoint is absent."""
    if not os.path.exists(checkpoint + ".safetensors"):
        return None
    import json

    from safetensors.torch import load_file

    hidden, channels = 160, 8
    if os.path.exists(checkpoint + ".json"):
        with open(checkpoint + ".json", encoding="utf-8") as fh:
            card = json.load(fh)
            hidden, channels = int(card.get("hidden", hidden)), int(card.get("channels", channels))
    decoder = {}
    if os.path.exists(checkpoint + ".json"):
        with open(checkpoint + ".json", encoding="utf-8") as fh:
            decoder = json.load(fh).get("decoder") or {}
    model = build_live_model(hidden, channels)
    model.load_state_dict(load_file(checkpoint + ".safetensors"))
    # the decoder settings chosen for this checkpoint (train_live.tune), read by the live tracker
    model.decoder_defaults = {k: decoder[k] for k in ("change_penalty", "confirm", "react_s", "min_prob", "beat_clock")
                              if k in decoder}
    return model.eval()


class StreamingLiveNet:
    """Runs a LiveChordNet frame by frame: `step(features (2, 176))` -> (root, quality, bass) log-probabilities
    of that frame, the GRU state carried between calls. The GRU step and heads run in numpy (a few
    matrix-vector products; torch's per-call overhead would dominate at 50 frames/s)."""

    def __init__(self, model):
        import torch

        self.torch = torch
        self.model = model.eval()
        g = model.gru
        self.w_ih = g.weight_ih_l0.detach().numpy().copy()
        self.w_hh = g.weight_hh_l0.detach().numpy().copy()
        self.b_ih = g.bias_ih_l0.detach().numpy().copy()
        self.b_hh = g.bias_hh_l0.detach().numpy().copy()
        self.heads = [(m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy())
                      for m in (model.root, model.quality, model.bass)]
        self.h = np.zeros(g.hidden_size, dtype=np.float32)

    def reset(self):
        self.h[:] = 0

    def embed(self, frames: np.ndarray) -> np.ndarray:
        """(n, 2, 176) -> (n, 128): the per-frame CNN and projection (batched when several frames are due)."""
        with self.torch.no_grad():
            return self.model.frame_embed(self.torch.from_numpy(np.ascontiguousarray(frames))).numpy()

    def step_embedded(self, e: np.ndarray):
        n = len(self.h)
        gi = self.w_ih @ e + self.b_ih
        gh = self.w_hh @ self.h + self.b_hh
        r = 1.0 / (1.0 + np.exp(-(gi[:n] + gh[:n])))
        z = 1.0 / (1.0 + np.exp(-(gi[n:2 * n] + gh[n:2 * n])))
        cand = np.tanh(gi[2 * n:] + r * gh[2 * n:])
        self.h = ((1.0 - z) * cand + z * self.h).astype(np.float32)
        out = []
        for w, b in self.heads:
            logits = self.h @ w + b
            logits = logits - logits.max()
            out.append(logits - np.log(np.exp(logits).sum()))
        return out

    def run(self, frames: np.ndarray):
        """Log-probabilities of several consecutive frames: lists of (root, quality, bass) arrays per frame."""
        return [self.step_embedded(e) for e in self.embed(frames)]


def batch_log_probs(model, feats: np.ndarray):
    """(root, quality, bass) log-probabilities over a whole (frames, 2, 176) feature array at once."""
    import torch

    with torch.no_grad():
        heads = model(torch.from_numpy(np.ascontiguousarray(feats))[None])
        return [torch.log_softmax(h[0], -1).numpy() for h in heads]
