"""The music-theory conditioner: what the renderer must play, per latent frame (FRAME_S = 32 ms).

Two halves:
- `notation_frames(...)` (numpy) turns notes + chords + beats + sections + key + genre + tempo into integer and
  float arrays, one row per frame. Times are seconds from the start of the excerpt.
- `MusicTheoryConditioner` (torch) embeds those rows into notation features (batch, frames, 256): a sum of
  embeddings (chord root, quality, bass, Roman degree, harmonic function, beat in bar, metric level, section,
  genre family, stem, GM program), a projection of the continuous features (BPM, complexity, density, beat
  and bar phase) and of the stem's piano roll (sustain and onset rolls, 128 pitches each), then two 1-D
  convolutions for local context.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from models.generation.tokens import FAMILIES, QUALITY_NAMES, SECTIONS

from .config import CONDITIONER_CONFIG, FRAME_S

STEM_KINDS = ("drums", "bass", "keys", "melody")
FUNCTIONS = ("none", "tonic", "tonic_substitute", "predominant", "subdominant", "dominant", "secondary_dominant",
             "other")
# integer fields: (name, vocabulary size)
INT_FIELDS = (("root", 13), ("quality", len(QUALITY_NAMES)), ("bass", 13), ("degree", 13),
              ("function", len(FUNCTIONS)), ("beat_in_bar", 8), ("metric_level", 5),
              ("section", len(SECTIONS)), ("family", len(FAMILIES)), ("stem", len(STEM_KINDS)), ("program", 129))
N_INT = len(INT_FIELDS)
CONTINUOUS = ("bpm", "complexity", "density", "beat_sin", "beat_cos", "bar_sin", "bar_cos")
N_PITCH = 128
N_FLOAT = len(CONTINUOUS) + 2 * N_PITCH
DRUM_PROGRAM = 128
ROLL_ROWS = 2 * N_PITCH    # the piano-roll part of a notation row: sustain then onset, per MIDI pitch


def piano_roll(floats):
    """Notation floats (..., T, N_FLOAT) numpy -> the stem's piano roll channels-first (..., ROLL_ROWS, T), what a notes
    decoder (vae.SpectralVAE(notes=ROLL_ROWS)) reads."""
    return np.swapaxes(floats[..., len(CONTINUOUS):], -1, -2)


def function_of_degree(degree: int, quality: str, mode: str = "major") -> str:
    """A harmonic function from the chord root's semitone degree above the tonic, when the source names none."""
    if degree < 0:
        return "none"
    minorish = mode in ("minor", "dorian", "phrygian")
    if degree == 0:
        return "tonic"
    if degree in ((8, 3) if minorish else (9, 4)):
        return "tonic_substitute"
    if degree in (5,):
        return "subdominant"
    if degree in (2,):
        return "predominant"
    if degree in (7, 11):
        return "dominant"
    if quality in ("7", "9") and degree in (2, 4, 9):
        return "secondary_dominant"
    return "other"


def notation_frames(notes, chords, beat_times, beats_per_bar: int, sections, tonic: int, mode: str, family: str,
                    stem: str, program: int, bpm: float, complexity: float, t0: float, n_frames: int,
                    first_downbeat: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(ints (n_frames, N_INT) int64, floats (n_frames, N_FLOAT) float32) for frames starting at t0 seconds.

    notes: [(onset s, offset s, pitch, velocity)]; chords: [{start, end (s), root (pc, -1 none), quality, bass,
    function (or None)}]; beat_times: tactus beat times (s), the first downbeat at `first_downbeat`;
    sections: [(start s, end s, label)]; bpm: tactus beats per minute; complexity 0-1."""
    times = t0 + (np.arange(n_frames) + 0.5) * FRAME_S
    ints = np.zeros((n_frames, N_INT), np.int64)
    floats = np.zeros((n_frames, N_FLOAT), np.float32)
    # chords
    ints[:, 0], ints[:, 2], ints[:, 3] = 12, 12, 12
    for c in chords:
        m = (times >= c["start"]) & (times < c["end"])
        if not m.any() or c.get("root", -1) is None or c.get("root", -1) < 0:
            continue
        root, q, bass = int(c["root"]) % 12, c.get("quality") or "maj", c.get("bass")
        bass = root if bass is None or bass < 0 else int(bass) % 12
        degree = (root - tonic) % 12
        fn = c.get("function") or function_of_degree(degree, q, mode)
        ints[m, 0] = root
        ints[m, 1] = QUALITY_NAMES.index(q) if q in QUALITY_NAMES else QUALITY_NAMES.index("maj")
        ints[m, 2] = bass
        ints[m, 3] = degree
        ints[m, 4] = FUNCTIONS.index(fn) if fn in FUNCTIONS else FUNCTIONS.index("other")
    # metre: fractional beat index from the beat times (extrapolated at the edge periods)
    bt = np.asarray(beat_times, float)
    if len(bt) >= 2:
        p0, p1 = bt[1] - bt[0], bt[-1] - bt[-2]
        ext = np.concatenate([bt[0] - p0 * np.arange(64, 0, -1), bt, bt[-1] + p1 * np.arange(1, 257)])
        idx = np.arange(len(ext), dtype=float) - 64
        beat = np.interp(times, ext, idx)
        b0 = float(np.interp(first_downbeat, ext, idx))
        tol = 0.5 * FRAME_S * (bpm / 60.0)
        in_bar = (beat - b0) % beats_per_bar
        ints[:, 5] = np.minimum(np.floor(in_bar + tol).astype(int) % beats_per_bar, 7)
        for k, pos in enumerate(in_bar):
            frac = pos % 1.0
            if min(frac, 1 - frac) <= tol:
                ints[k, 6] = 0 if (pos <= tol or pos >= beats_per_bar - tol) else 1
            elif abs(frac - 0.5) <= tol:
                ints[k, 6] = 2
            elif min(abs(frac - 0.25), abs(frac - 0.75)) <= tol:
                ints[k, 6] = 3
            else:
                ints[k, 6] = 4
        floats[:, 3] = np.sin(2 * np.pi * beat)
        floats[:, 4] = np.cos(2 * np.pi * beat)
        floats[:, 5] = np.sin(2 * np.pi * in_bar / beats_per_bar)
        floats[:, 6] = np.cos(2 * np.pi * in_bar / beats_per_bar)
    else:
        ints[:, 6] = 4
    ints[:, 7] = SECTIONS.index("verse")
    for s, e, label in sections:
        m = (times >= s) & (times < e)
        ints[m, 7] = SECTIONS.index(label) if label in SECTIONS else len(SECTIONS) - 1
    ints[:, 8] = FAMILIES.index(family) if family in FAMILIES else 0
    ints[:, 9] = STEM_KINDS.index(stem)
    ints[:, 10] = DRUM_PROGRAM if stem == "drums" else int(program) % 128
    # continuous
    dur = n_frames * FRAME_S
    n_on = sum(1 for n in notes if t0 <= n[0] < t0 + dur)
    floats[:, 0] = bpm / 200.0
    floats[:, 1] = complexity
    floats[:, 2] = np.log1p(n_on / max(dur, 1e-3)) / 3.0   # log(1 + onsets per second) / 3
    floats[:, len(CONTINUOUS):] = roll_rows(notes, stem, t0, n_frames)
    return ints, floats


def roll_rows(notes, stem: str, t0: float, n_frames: int) -> np.ndarray:
    """The piano-roll part of the notation rows, (n_frames, ROLL_ROWS) float32: sustain (velocity / 127) over a
    note's frames (drums: its onset frame only), then onset (1 in the onset's frame), per MIDI pitch."""
    out = np.zeros((n_frames, ROLL_ROWS), np.float32)
    dur = n_frames * FRAME_S
    for on, off, pitch, vel in notes:
        if off <= t0 or on >= t0 + dur:
            continue
        a = int(np.floor((on - t0) / FRAME_S))
        b = int(np.ceil((off - t0) / FRAME_S)) if stem != "drums" else a + 1
        a_c, b_c = max(a, 0), min(max(b, a + 1), n_frames)
        out[a_c:b_c, pitch] = np.maximum(out[a_c:b_c, pitch], vel / 127.0)
        if 0 <= a < n_frames:
            out[a, N_PITCH + pitch] = 1.0
    return out


class MusicTheoryConditioner(nn.Module):
    """(ints (B, T, N_INT), floats (B, T, N_FLOAT)) -> notation features (B, T, dim)."""

    def __init__(self, dim: int = CONDITIONER_CONFIG["dim"], emb: int = CONDITIONER_CONFIG["emb"]):
        super().__init__()
        self.embeddings = nn.ModuleList([nn.Embedding(n, emb) for _, n in INT_FIELDS])
        self.continuous = nn.Linear(len(CONTINUOUS), emb)
        self.roll = nn.Linear(2 * N_PITCH, 4 * emb)   # wide: which pitches sound must survive
        self.mix = nn.Linear(emb * (N_INT + 1) + 4 * emb, dim)
        self.conv1 = nn.Conv1d(dim, dim, 5, padding=2)
        self.conv2 = nn.Conv1d(dim, dim, 5, padding=2)
        self.norm = nn.LayerNorm(dim)
        self.dim = dim

    def forward(self, ints: torch.Tensor, floats: torch.Tensor) -> torch.Tensor:
        parts = [e(ints[..., k]) for k, e in enumerate(self.embeddings)]
        parts.append(self.continuous(floats[..., :len(CONTINUOUS)]))
        parts.append(self.roll(floats[..., len(CONTINUOUS):]))
        h = torch.nn.functional.gelu(self.mix(torch.cat(parts, -1)))
        x = h.transpose(1, 2)
        x = x + self.conv2(torch.nn.functional.gelu(self.conv1(x)))
        return self.norm(x.transpose(1, 2))


__all__ = ["MusicTheoryConditioner", "notation_frames", "piano_roll", "roll_rows", "ROLL_ROWS", "INT_FIELDS", "N_INT",
           "N_FLOAT", "STEM_KINDS", "FUNCTIONS", "function_of_degree"]
