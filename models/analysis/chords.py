"""Chord recognition: vocabulary, per-frame targets from ground truth, the network, and decoding.

The network reads the semitone spectrogram (features.log_freq_spectrogram: 10 frames/s, 176 half-semitone
bins from A0) and predicts, per frame, three structured heads (after McFee & Bello's structured training):
the root (12 pitch classes + no-chord), the quality (QUALITY_CLASSES) and the bass (12 + no-chord). Decoding
combines root and quality into one chord state and smooths with a Viterbi pass that penalises changes.
"""
from __future__ import annotations

import numpy as np

from models.theory.decoding import viterbi_change_penalty
from models.theory.harmony import PITCH_NAMES_FLAT, PITCH_NAMES_SHARP, harte_label, parse_harte

QUALITY_CLASSES = ("maj", "min", "7", "maj7", "min7", "dim", "dim7", "hdim7", "aug", "sus2", "sus4")
# Richer Harte qualities reduced to the class the network predicts.
QUALITY_REDUCTION = {"maj6": "maj", "min6": "min", "9": "7", "maj9": "maj7", "min9": "min7", "minmaj7": "min",
                     "sus4(b7)": "sus4", "maj(9)": "maj", "7(b9)": "7", "7(#9)": "7"}
NO_CHORD = 12  # index of 'N' in the root and bass heads
N_STATES = 12 * len(QUALITY_CLASSES) + 1  # decoded chord states: root x quality, plus N (the last)


def quality_class(quality: str) -> int:
    q = QUALITY_REDUCTION.get(quality, quality)
    return QUALITY_CLASSES.index(q) if q in QUALITY_CLASSES else 0


def frame_targets(chords: list, times: np.ndarray) -> np.ndarray:
    """Per-frame targets (frames, 3): root (0-11, 12 = N), quality class, bass (0-11, 12 = N), from chord
    segments [{start, end, label}] in seconds. Frames outside every segment are N."""
    out = np.zeros((len(times), 3), dtype=np.int64)
    out[:, 0] = NO_CHORD
    out[:, 2] = NO_CHORD
    for seg in chords:
        parsed = parse_harte(seg["label"]) if seg.get("label") not in (None, "N", "X") else None
        if parsed is None:
            continue
        root, quality, bass = parsed
        sel = (times >= seg["start"]) & (times < seg["end"])
        out[sel] = (root, quality_class(quality), bass)
    return out


def state_label(state: int, bass: int | None = None, prefer_flats: bool = True) -> str:
    """Harte label of a decoded chord state (root * n_qualities + quality; the last state is N)."""
    if state == N_STATES - 1:
        return "N"
    root, q = divmod(state, len(QUALITY_CLASSES))
    names = PITCH_NAMES_FLAT if prefer_flats else PITCH_NAMES_SHARP
    quality = QUALITY_CLASSES[q]
    interval = 0 if bass is None or bass == NO_CHORD else (bass - root) % 12
    return harte_label(names[root], quality, interval)


def state_log_probs(root_logp: np.ndarray, quality_logp: np.ndarray) -> np.ndarray:
    """(frames, N_STATES) log-probabilities of chord states from the root and quality heads."""
    chords = root_logp[:, :12, None] + quality_logp[:, None, :]
    return np.concatenate([chords.reshape(len(root_logp), -1), root_logp[:, 12:13]], axis=1)


def viterbi(logp: np.ndarray, change_penalty: float) -> np.ndarray:
    """Most likely state path under a transition model that stays put for free and pays `change_penalty`
    (log units) to move to any other state (models/theory/decoding.py)."""
    return viterbi_change_penalty(logp, change_penalty)


def segments_from_path(path: np.ndarray, times: np.ndarray, hop_s: float, bass_logp: np.ndarray | None = None,
                       duration: float | None = None) -> list[dict]:
    """Chord segments [{start, end, label, root, quality, bass, confidence?}] from a decoded state path; the bass
    of each segment is the bass head's most likely pitch class over it (written as a slash when it differs
    from the root)."""
    out = []
    if len(path) == 0:
        return out
    bounds = np.flatnonzero(np.diff(path)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [len(path)]])
    end_time = duration if duration is not None else times[-1] + hop_s
    for s, e in zip(starts, ends):
        state = int(path[s])
        bass = None
        if bass_logp is not None and state != N_STATES - 1:
            bass = int(np.argmax(bass_logp[s:e].sum(axis=0)[:12]))
            root = state // len(QUALITY_CLASSES)
            if bass != root and not _bass_in_chord(state, bass):
                bass = None
        label = state_label(state, bass)
        seg = {"start": round(float(max(0.0, times[s] - hop_s / 2)), 4),
               "end": round(float(min(end_time, times[e - 1] + hop_s / 2)), 4), "label": label}
        parsed = parse_harte(label)
        if parsed is not None:
            names = PITCH_NAMES_FLAT
            seg.update(root=names[parsed[0]], quality=parsed[1], bass=names[parsed[2]])
        out.append(seg)
    if out:
        out[0]["start"] = 0.0
        out[-1]["end"] = round(float(end_time), 4)
    return out


def _bass_in_chord(state: int, bass: int) -> bool:
    from models.theory.harmony import QUALITIES

    root, q = divmod(state, len(QUALITY_CLASSES))
    return (bass - root) % 12 in {i % 12 for i in QUALITIES[QUALITY_CLASSES[q]][0]}


def build_model(n_bins: int = 176):
    """The chord network (torch): a small CNN over frequency, a bidirectional GRU over time, three heads."""
    from torch import nn

    class ChordNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.n_bins = n_bins
            c = 24
            self.conv = nn.Sequential(
                nn.Conv2d(1, c, (3, 3), padding=1), nn.BatchNorm2d(c), nn.ReLU(),
                nn.Conv2d(c, c, (3, 3), padding=1), nn.BatchNorm2d(c), nn.ReLU(),
                nn.MaxPool2d((1, 2)),
                nn.Conv2d(c, 2 * c, (3, 3), padding=1), nn.BatchNorm2d(2 * c), nn.ReLU(),
                nn.MaxPool2d((1, 2)),
                nn.Conv2d(2 * c, 2 * c, (1, 3), padding=(0, 1)), nn.BatchNorm2d(2 * c), nn.ReLU(),
                nn.Dropout(0.2),
            )
            flat = 2 * c * (n_bins // 4)
            self.proj = nn.Sequential(nn.Linear(flat, 128), nn.ReLU(), nn.Dropout(0.3))
            self.gru = nn.GRU(128, 96, batch_first=True, bidirectional=True)
            self.root = nn.Linear(192, 13)
            self.quality = nn.Linear(192, len(QUALITY_CLASSES))
            self.bass = nn.Linear(192, 13)

        def forward(self, x):  # x: (batch, frames, bins)
            b, t, f = x.shape
            h = self.conv(x.unsqueeze(1))  # (b, c, t, f/4)
            h = h.permute(0, 2, 1, 3).reshape(b, t, -1)
            h, _ = self.gru(self.proj(h))
            return self.root(h), self.quality(h), self.bass(h)

    return ChordNet()
