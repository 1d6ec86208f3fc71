"""Tempo octave: choosing the beat level (half, as decoded, double, triple, or 3:2 either way) after the
bar-pointer decoder.

The decoder (beats.py) finds a steady pulse, but on a 61 BPM ballad with eighth-note arpeggios or a 180 BPM
march the pulse it finds is often an octave (or a 3:2 step) away from the tactus people count; on a heavily
syncopated march it can lock to every third beat. This step scores six beat grids built from the decoded beats —
every other beat (x0.5), the beats (x1), the beats and their midpoints (x2), three beats in the time of two
(x1.5), two in the time of three (x2/3) and three per decoded beat (x3) — with a linear model over features that
describe how music sits on a beat level:

  level         which grid (indicators for x0.5, x2, x1.5, x2/3 and x3, the last three interpolated between
                beats; x0.5, x1.5 and x3 in the phase the downbeat activation and chord changes favour, since a
                decoder at the wrong level may sit on offbeats)
  tempo         log2(BPM / 100) and its square (a learned tempo preference)
  activation    the beat network's peak activation on the grid, between grid beats, and their difference;
                the downbeat activation on the grid
  harmony       the fraction of chord changes that land within 70 ms of a grid beat; log2 of the median
                chord length in grid beats (chords rarely last 8 beats or half a beat)
  onsets        log2 of onset peaks per grid beat (notes per beat)
  derived       how far chords are from lasting four grid beats (absolute and squared, in octaves), and
                whether the network is silent between grid beats

The model (a conditional logit: softmax of the scores over the candidates) is fitted on songbook training sets
by `bandmate train octave` (the real decodings plus simulated wrong-level ones, see train_tempo_octave.py) and
stored as JSON (models/checkpoints/tempo_octave.json) with its card. When a
grid other than x1 wins, beats.track_activations decodes again within 8 % of that tempo. Without the file the
decoder's own level is kept.
"""
from __future__ import annotations

import json
import os

import numpy as np

RELATIONS = (0.5, 2.0 / 3.0, 1.0, 1.5, 2.0, 3.0)
INTERPOLATED = (2.0 / 3.0, 1.5, 3.0)  # grids placed between the decoded beats
FEATURES = ("bias_x0.5", "bias_x2", "bias_x1.5", "bias_x2/3", "bias_x3", "log2_bpm", "log2_bpm_sq", "act_on", "act_mid", "act_on_minus_mid",
            "downbeat_on", "chord_changes_on_grid", "log2_beats_per_chord", "log2_onsets_per_beat")
# derived from the raw features before scoring: how far chords are from lasting a bar of four beats (either
# way), and whether the network never fires between grid beats (the grid is already the finest level it hears)
DERIVED = ("beats_per_chord_off_4", "beats_per_chord_off_4_sq", "silent_between")
MIN_BPM, MAX_BPM = 40.0, 240.0
CHECKPOINT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "checkpoints",
                          "tempo_octave.json")


def grid_for(times: np.ndarray, positions: np.ndarray, relation: float, offset: float = 0.0) -> np.ndarray:
    """Beat times of the candidate level: x1 the beats, x2 the beats and their midpoints, x0.5 every other
    beat, in the phase that holds more of the decoded downbeats; the interpolated levels (x1.5: three beats in
    the time of two, x2/3: two in the time of three, x3: three per beat) start `offset` decoded beats in."""
    times = np.asarray(times, dtype=np.float64)
    if relation == 1.0 or len(times) < 2:
        return times
    if relation in INTERPOLATED:
        idx = np.arange(offset, len(times) - 1 + 1e-9, 1.0 / relation)
        return np.interp(idx, np.arange(len(times)), times)
    if relation == 2.0:
        mids = 0.5 * (times[:-1] + times[1:])
        return np.sort(np.concatenate([times, mids]))
    down = np.asarray(positions) == 1
    phase = 0 if down[0::2].sum() >= down[1::2].sum() else 1
    return times[phase::2]


def nearest(points: np.ndarray, grid: np.ndarray):
    """(index of the nearest grid time, its distance) for each point; grid sorted. O(n log m) memory-light,
    for hour-long files."""
    points, grid = np.asarray(points, dtype=np.float64), np.asarray(grid, dtype=np.float64)
    j = np.clip(np.searchsorted(grid, points), 1, len(grid) - 1)
    left = points - grid[j - 1] <= grid[j] - points
    j = np.where(left, j - 1, j)
    return j, np.abs(points - grid[j])


def chord_changes(chords: list | None):
    """(times of the changes to a new chord (s), median chord length (s) or None) of chord segments."""
    chords = chords or []
    changes = [float(c["start"]) for prev, c in zip(chords, chords[1:])
               if c.get("label") not in (None, "N", "X") and c["label"] != prev.get("label")]
    lengths = [float(c["end"]) - float(c["start"]) for c in chords if c.get("label") not in (None, "N", "X")]
    return np.asarray(changes, dtype=np.float64), (float(np.median(lengths)) if lengths else None)


def peak_near(act: np.ndarray, times: np.ndarray, fps: float, radius: int = 2) -> np.ndarray:
    """The highest value of a per-frame curve within `radius` frames of each time (s)."""
    if len(times) == 0:
        return np.zeros(0)
    idx = np.clip(np.round(np.asarray(times) * fps).astype(int), 0, len(act) - 1)
    lo, hi = np.clip(idx - radius, 0, len(act) - 1), np.clip(idx + radius + 1, 1, len(act))
    return np.array([act[a:b].max() for a, b in zip(lo, hi)])


def candidate_features(grid: np.ndarray, relation: float, beat_act: np.ndarray, down_act: np.ndarray,
                       onsets: np.ndarray, changes: np.ndarray, chord_len: float | None,
                       fps: float) -> np.ndarray | None:
    """The feature vector (FEATURES) of one candidate grid, given the song's chord_changes; None when it has
    too few beats or its tempo is out of range."""
    if len(grid) < 4:
        return None
    period = float(np.median(np.diff(grid)))
    bpm = 60.0 / period if period > 0 else 0.0
    if not MIN_BPM <= bpm <= MAX_BPM:
        return None
    on = peak_near(beat_act, grid, fps)
    mid = peak_near(beat_act, 0.5 * (grid[:-1] + grid[1:]), fps)
    down = peak_near(down_act, grid, fps)
    if len(changes):
        _, dist = nearest(changes, grid)
        aligned = float(np.mean(dist <= 0.07))
    else:
        aligned = 0.5
    beats_per_chord = float(np.clip(np.log2(max(chord_len, 1e-3) / period), -3, 5)) if chord_len is not None \
        else 1.0
    a, b = int(grid[0] * fps), int(grid[-1] * fps) + 1
    seg = onsets[a:b]
    if len(seg) > 2:
        thr = seg.mean() + 0.5 * seg.std()
        peaks = int(np.sum((seg[1:-1] > seg[:-2]) & (seg[1:-1] >= seg[2:]) & (seg[1:-1] > thr)))
    else:
        peaks = 0
    per_beat = float(np.log2((peaks + 1.0) / len(grid)))
    lb = float(np.log2(bpm / 100.0))
    mid_mean = mid.mean() if len(mid) else 0.0
    return np.array([relation == 0.5, relation == 2.0, relation == 1.5, relation == 2.0 / 3.0, relation == 3.0,
                     lb, lb * lb,
                     on.mean(), mid_mean, on.mean() - mid_mean, down.mean(), aligned, beats_per_chord, per_beat],
                    dtype=np.float64)


_PHASE_COLS = [FEATURES.index("downbeat_on"), FEATURES.index("chord_changes_on_grid")]  # what picks a phase


def candidates(times, positions, beat_act, down_act, onsets, chords, fps):
    """[(relation, bpm, features)] of the candidate levels that are in range."""
    out = []
    changes, chord_len = chord_changes(chords)
    for rel in RELATIONS:
        if rel == 0.5:
            # every other beat, both phases: the decoded downbeats may sit on the wrong one when the decoder
            # runs at twice the tactus, so the phase whose beats the chord changes and the downbeat activation
            # favour stands for the level
            grids = [np.asarray(times, dtype=np.float64)[p::2] for p in (0, 1)]
        elif rel in (1.5, 3.0):
            # a decoder locked at two or three candidate beats may sit on their offbeats: the grid shifted by
            # half a candidate beat competes too
            grids = [grid_for(times, positions, rel, off) for off in (0.0, 0.5 / rel)]
        else:
            grids = [grid_for(times, positions, rel)]
        scored = [(g, candidate_features(g, rel, beat_act, down_act, onsets, changes, chord_len, fps)) for g in grids]
        scored = [(g, f) for g, f in scored if f is not None]
        if scored:
            grid, f = max(scored, key=lambda gf: gf[1][_PHASE_COLS].sum())
            out.append((rel, 60.0 / float(np.median(np.diff(grid))), f))
    return out


def expand(f: np.ndarray) -> np.ndarray:
    """Raw FEATURES (..., F) -> FEATURES + DERIVED."""
    f = np.asarray(f, dtype=np.float64)
    i_bpc, i_mid = FEATURES.index("log2_beats_per_chord"), FEATURES.index("act_mid")
    off = np.abs(f[..., i_bpc] - 2.0)
    return np.concatenate([f, np.stack([off, off * off, (f[..., i_mid] < 0.05).astype(np.float64)], -1)], -1)


_MODEL: dict = {}


def load(path: str = CHECKPOINT) -> dict | None:
    """The fitted weights {weights, mean, std} or None without the file."""
    if path not in _MODEL:
        if not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as fh:
            _MODEL[path] = json.load(fh)
    return _MODEL[path]


def scores(features: list, model: dict) -> np.ndarray:
    """The linear scores of candidates' (already transformed) feature vectors under a fitted model."""
    w, mean, std = (np.asarray(model[k]) for k in ("weights", "mean", "std"))
    return np.array([((np.asarray(f) - mean) / std) @ w for f in features])


def choose(cands: list, model: dict | None) -> tuple[float, float, dict]:
    """(relation, bpm, {relation: probability}) of the best candidate; x1 without a model."""
    x1 = next((c for c in cands if c[0] == 1.0), None)
    if model is None or not cands or x1 is None:
        return 1.0, (x1[1] if x1 else 0.0), {}
    s = scores([expand(c[2]) for c in cands], model)
    p = np.exp(s - s.max())
    p /= p.sum()
    best = int(np.argmax(p))
    return cands[best][0], cands[best][1], {str(c[0]): round(float(q), 3) for c, q in zip(cands, p)}


def fit(groups: list, l2: float = 1e-2, transform=expand, indicators=(0, 1, 2, 3, 4, -1),
        names=FEATURES + DERIVED) -> dict:
    """Conditional-logit weights from groups [(features (n_cands, F), index of the right candidate[, weight])]
    (weight 1 where not given): `transform` maps raw features to the scored ones, whose `indicators` columns (0/1)
    are not standardised."""
    from scipy.optimize import minimize

    groups = [(transform(g[0]), g[1], float(g[2]) if len(g) > 2 else 1.0) for g in groups]
    allx = np.concatenate([g[0] for g in groups])
    mean, std = allx.mean(axis=0), allx.std(axis=0) + 1e-6
    for i in indicators:
        mean[i], std[i] = 0.0, 1.0
    xs = [((g[0] - mean) / std, g[1], g[2]) for g in groups]
    n = sum(g[2] for g in xs)

    def loss(w):
        total, grad = 0.0, np.zeros_like(w)
        for x, y, weight in xs:
            s = x @ w
            s = s - s.max()
            p = np.exp(s) / np.exp(s).sum()
            total -= weight * np.log(p[y] + 1e-12)
            grad -= weight * (x[y] - p @ x)
        return total / n + l2 * w @ w, grad / n + 2 * l2 * w
    res = minimize(loss, np.zeros(allx.shape[1]), jac=True, method="L-BFGS-B")
    return {"weights": res.x.tolist(), "mean": mean.tolist(), "std": std.tolist(), "features": list(names),
            "train_loss": round(float(res.fun), 4)}
