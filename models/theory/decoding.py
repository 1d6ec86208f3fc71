"""Sequence decoding shared by the chord, key and symbolic analysers.

viterbi_change_penalty: the most likely state path when staying in a state is free and moving to any other
state costs a fixed `penalty` (log units). This transition model needs no matrix: at each frame a state either
keeps its own score or takes the best score minus the penalty, so decoding is O(frames x states).
"""
from __future__ import annotations

import numpy as np


def viterbi_change_penalty(logp: np.ndarray, penalty: float) -> np.ndarray:
    """Best state path (frames,) int64 for per-frame log-scores `logp` (frames, states)."""
    n_frames, n_states = logp.shape
    if n_frames == 0:
        return np.zeros(0, dtype=np.int64)
    back = np.zeros((n_frames, n_states), dtype=np.int64)
    score = logp[0].copy()
    states = np.arange(n_states)
    for t in range(1, n_frames):
        best = int(np.argmax(score))
        move = score[best] - penalty
        stay = score >= move
        back[t] = np.where(stay, states, best)
        score = np.where(stay, score, move) + logp[t]
    path = np.zeros(n_frames, dtype=np.int64)
    path[-1] = int(np.argmax(score))
    for t in range(n_frames - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path
