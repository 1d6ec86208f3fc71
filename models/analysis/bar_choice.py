"""Bar length and phase: which beats are downbeats, chosen after the beat level is settled.

The bar-pointer decoder (beats.py) reads bars from the network's downbeat activation alone; a pop song with a
weak downbeat comes out in bars of two, or with beat 3 taken for beat 1. Harmony and bass know better: chords
change on downbeats far more often than elsewhere, and the bass and kick mark beat 1. This step scores every
(beats per bar M in 2, 3, 4; phase 0..M-1) over the final beats with a linear model (a conditional logit,
tempo_octave.fit) over:

  prior         which bar length (indicators for 2 and 3; 4 is the baseline) and whether it is the decoder's
                own choice
  activation    the downbeat activation at the candidate's downbeats, and minus its mean at the other beats
  harmony       the fraction of chord changes landing on a candidate downbeat; the fraction of candidate
                downbeats that bring a chord change; the same on the candidate's other beats
  low onsets    low-band (30-150 Hz: kick, bass) onset strength at candidate downbeats over the other beats

Fitted by `bandmate train octave` beside the tempo-octave model (models/checkpoints/bar_choice.json). Without
the file the decoder's bars are kept.
"""
from __future__ import annotations

import os

import numpy as np

from .tempo_octave import chord_changes, load as load_json, nearest, peak_near, scores

BARS = (2, 3, 4)
FEATURES = ("bar_2", "bar_3", "decoder_choice", "down_act", "down_act_minus_others", "changes_on_downbeats",
            "downbeats_with_change", "other_beats_with_change", "low_onsets_ratio")
CHECKPOINT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "checkpoints",
                          "bar_choice.json")


def candidates(times: np.ndarray, positions: np.ndarray, decoder_bar: int, down_act: np.ndarray,
               low_onsets: np.ndarray, chords: list | None, fps: float) -> list:
    """[(beats per bar, phase, features)]: phase p makes beat i a downbeat when (i - p) % M == 0."""
    times = np.asarray(times, dtype=np.float64)
    n = len(times)
    if n < 8:
        return []
    down = peak_near(down_act, times, fps)
    low = peak_near(low_onsets, times, fps)
    changes, _ = chord_changes(chords)
    # which beat (if any) each chord change lands on, within 70 ms
    beat_change = np.zeros(n, dtype=bool)
    on_beat = np.full(len(changes), -1)
    if len(changes):
        j, d = nearest(changes, times)
        ok = d <= 0.07
        on_beat[ok] = j[ok]
        beat_change[j[ok]] = True
    dec_phase = int(np.flatnonzero(np.asarray(positions) == 1)[0]) % decoder_bar \
        if np.any(np.asarray(positions) == 1) else 0
    out = []
    idx = np.arange(n)
    for m in BARS:
        for p in range(m):
            is_down = (idx - p) % m == 0
            others = ~is_down
            f_changes = float(np.mean(is_down[on_beat[on_beat >= 0]])) if np.any(on_beat >= 0) else 1.0 / m
            feats = [m == 2, m == 3, m == decoder_bar and p == dec_phase, down[is_down].mean(),
                     down[is_down].mean() - down[others].mean(), f_changes,
                     beat_change[is_down].mean(), beat_change[others].mean(),
                     np.log((low[is_down].mean() + 1e-3) / (low[others].mean() + 1e-3))]
            out.append((m, p, np.asarray(feats, dtype=np.float64)))
    return out


def load(path: str = CHECKPOINT) -> dict | None:
    """The fitted weights {weights, mean, std} or None without the file."""
    return load_json(path)


def choose(cands: list, model: dict | None):
    """(beats per bar, phase) of the best candidate, or None without a model or candidates."""
    if model is None or not cands:
        return None
    best = int(np.argmax(scores([c[2] for c in cands], model)))
    return cands[best][0], cands[best][1]


def positions_for(n: int, bar: int, phase: int) -> np.ndarray:
    """Position in the bar (1 = downbeat) of n beats under (bar, phase); beats before the first downbeat
    count as the end of a bar."""
    return (np.arange(n) - phase) % bar + 1
