"""Rhythm theory on onset grids: metric hierarchy, Longuet-Higgins & Lee syncopation, Witek et al. (2014)
polyphonic drum syncopation, note density, polyrhythm (cross-rhythm ratios between layers) and a rhythmic complexity
score.

Conventions: a bar is cut into `steps` equal grid positions (e.g. 16 sixteenths in 4/4); onsets are given in
beats (quarter notes) from the first downbeat, or as grid step indices where said. Metric weights follow
Longuet-Higgins & Lee (1984): 0 on the downbeat, -1 on the next level's boundaries, -2 below, and so on.
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np


def meter_factors(numerator: int, denominator: int, steps_per_beat: int = 4) -> list[int]:
    """How each metric level divides the one above, from the bar down to the grid step.

    Simple meters split the bar into beats (binary where the beat count is a power of two, else by the beat
    count: 3/4 -> [3, ...]); compound meters (6/8, 9/8, 12/8) group eighths in threes: 6/8 -> [2, 3, 2].
    `steps_per_beat` counts grid steps per quarter note (4 = sixteenths, 12 = sixteenth triplets)."""
    if numerator < 1 or denominator not in (1, 2, 4, 8, 16, 32):
        raise ValueError("meter %d/%d is not supported" % (numerator, denominator))
    factors: list[int] = []
    compound = denominator >= 8 and numerator % 3 == 0 and numerator > 3
    groups = numerator // 3 if compound else numerator
    factors += _split(groups)
    if compound:
        factors.append(3)
    # below the notated unit: steps_per_beat counts steps per quarter note
    unit_steps = Fraction(steps_per_beat * 4, denominator)
    if unit_steps.denominator != 1 or unit_steps < 1:
        raise ValueError("steps_per_beat %d is too coarse for %d/%d" % (steps_per_beat, numerator, denominator))
    factors += _split(int(unit_steps))
    return [f for f in factors if f > 1]


def _split(n: int) -> list[int]:
    """Prime factors, twos last-but-not-first so 4 -> [2, 2], 6 -> [2, 3], 3 -> [3], 5 -> [5]."""
    out, k = [], n
    for p in (2, 3, 5, 7):
        while k % p == 0 and k > 1:
            out.append(p)
            k //= p
    if k > 1:
        out.append(k)
    return out


def metric_weights(numerator: int, denominator: int, steps_per_beat: int = 4) -> np.ndarray:
    """LHL metric weight of each grid step of one bar (0 = downbeat, more negative = weaker)."""
    factors = meter_factors(numerator, denominator, steps_per_beat)
    steps = int(np.prod(factors)) if factors else 1
    weights = np.full(steps, -len(factors), dtype=int)
    span = steps
    for level, f in enumerate(factors):
        weights[::span] = np.maximum(weights[::span], -level)
        span //= f
    weights[0] = 0
    return weights


def metric_hierarchy(numerator: int, denominator: int) -> dict:
    """Weight per beat position of the bar, normalised to 0..1, with strong/weak labels (for the song
    description's rhythmic_analysis)."""
    steps_per_beat = 12 if denominator >= 8 else 4  # eighth-note meters need steps divisible by three
    w = metric_weights(numerator, denominator, steps_per_beat)
    per_beat = len(w) // numerator
    beat_w = w[::per_beat][:numerator].astype(float)
    lo = beat_w.min()
    norm = (beat_w - lo) / (0 - lo) if lo < 0 else np.ones_like(beat_w)
    labels = ["downbeat" if i == 0 else ("strong" if norm[i] >= 0.5 else "weak") for i in range(numerator)]
    return {"meter": "%d/%d" % (numerator, denominator), "beat_weights": [round(float(x), 3) for x in norm],
            "beat_labels": labels, "grid_weights": [int(x) for x in w]}


def onsets_to_grid(onsets_beats, numerator: int, denominator: int, steps_per_beat: int = 4, n_bars=None):
    """Quantise onsets (quarter-note beats from the first downbeat) to a boolean grid of shape (bars, steps)."""
    bar_beats = numerator * 4.0 / denominator
    steps = len(metric_weights(numerator, denominator, steps_per_beat))
    onsets = np.asarray(onsets_beats, dtype=float)
    if n_bars is None:
        n_bars = int(math.floor(onsets.max() / bar_beats)) + 1 if onsets.size else 1
    grid = np.zeros((n_bars, steps), dtype=bool)
    idx = np.round(onsets / bar_beats * steps).astype(int)
    idx = idx[(idx >= 0) & (idx < n_bars * steps)]
    grid.reshape(-1)[idx] = True
    return grid


def lhl_syncopation(grid: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Longuet-Higgins & Lee syncopation per bar of a (bars, steps) onset grid.

    A note at step n followed by silence at a metrically stronger step r before the next note is a
    syncopation of strength w(r) - w(n) (the strongest such rest counts). Notes at the end of a bar look into
    the next bar; the last bar wraps to the first (a loop)."""
    bars, steps = grid.shape
    flat = grid.reshape(-1)
    w = np.tile(weights, bars)
    on = np.flatnonzero(flat)
    out = np.zeros(bars)
    if on.size == 0:
        return out
    total = flat.size
    for k, n in enumerate(on):
        nxt = on[k + 1] if k + 1 < on.size else on[0] + total
        rests = [(n + d) % total for d in range(1, nxt - n)]
        if rests:
            strongest = max(w[r] for r in rests)
            if strongest > w[n]:
                out[n // steps] += strongest - w[n]
    return out


def note_density(onsets_seconds, duration_s: float) -> float:
    """Notes per second."""
    return float(len(onsets_seconds)) / duration_s if duration_s > 0 else 0.0


def dominant_period(onsets_beats, max_period=4.0, resolution=1 / 48.0):
    """The most salient inter-onset period of a layer, in beats, and how regular the layer is at it (0..1),
    from the autocorrelation of its onset train on a fine grid."""
    on = np.asarray(sorted(onsets_beats), dtype=float)
    if on.size < 3:
        return None, 0.0
    n = int(np.ceil(on[-1] / resolution)) + 1
    train = np.zeros(n)
    train[np.round(on / resolution).astype(int)] = 1.0
    lags = np.arange(int(1 / 12 / resolution), min(n - 1, int(max_period / resolution)) + 1)
    if lags.size == 0:
        return None, 0.0
    ac = np.array([np.dot(train[:-lag], train[lag:]) for lag in lags]) / train.sum()
    # prefer the shortest lag that is nearly as strong as the best (the pulse, not its multiples)
    best = ac.max()
    i = int(np.flatnonzero(ac >= 0.9 * best)[0])
    return float(lags[i] * resolution), float(min(1.0, ac[i]))


def polyrhythms(layers: dict, min_regularity=0.6) -> list[dict]:
    """Cross-rhythms between layers: pairs whose dominant periods stand in a small non-trivial ratio (3:2,
    4:3, 5:4, ...). `layers` maps a name to onsets in beats. Returns [{'layers': (a, b), 'ratio': '3:2', ...}]."""
    periods = {}
    for name, onsets in layers.items():
        p, reg = dominant_period(onsets)
        if p is not None and reg >= min_regularity:
            periods[name] = (p, reg)
    found = []
    names = sorted(periods)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            exact = periods[b][0] / periods[a][0]
            ratio = min((Fraction(n, d) for n in range(1, 6) for d in range(1, 6)),
                        key=lambda f: abs(float(f) / exact - 1.0))
            if abs(float(ratio) / exact - 1.0) > 0.03:
                continue  # e.g. 8:3 is not a small ratio: no named cross-rhythm
            if ratio.numerator == 1 or ratio.denominator == 1:
                continue  # 1:2, 2:1, 1:1 are the same pulse family, not a cross-rhythm
            found.append({"layers": [a, b], "ratio": "%d:%d" % (ratio.numerator, ratio.denominator),
                          "periods_beats": [round(periods[a][0], 4), round(periods[b][0], 4)],
                          "regularity": round(min(periods[a][1], periods[b][1]), 3)})
    return found


def ioi_entropy(onsets_beats, resolution=0.25) -> float:
    """Shannon entropy (bits) of the inter-onset intervals quantised to `resolution` beats."""
    on = np.asarray(sorted(onsets_beats), dtype=float)
    if on.size < 2:
        return 0.0
    q = np.round(np.diff(on) / resolution).astype(int)
    q = q[q > 0]
    if q.size == 0:
        return 0.0
    _, counts = np.unique(q, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())


def rhythmic_complexity(onsets_beats, numerator: int, denominator: int) -> dict:
    """Rhythmic complexity in 0..1 with its parts:

        complexity = 0.5 * sync + 0.3 * entropy + 0.2 * offbeat
        sync    = mean LHL syncopation per bar / steps (a bar of steps notes all maximally syncopated ~ 1),
                  capped at 1
        entropy = IOI entropy (sixteenth resolution) / log2(steps)
        offbeat = share of onsets not on a beat
    """
    weights = metric_weights(numerator, denominator, 4)
    steps = len(weights)
    grid = onsets_to_grid(onsets_beats, numerator, denominator, 4)
    sync = float(min(1.0, lhl_syncopation(grid, weights).mean() / steps))
    entropy = ioi_entropy(onsets_beats) / math.log2(steps) if steps > 1 else 0.0
    on = np.asarray(onsets_beats, dtype=float)
    beat_len = 4.0 / denominator * (3 if denominator >= 8 and numerator % 3 == 0 and numerator > 3 else 1)
    offbeat = float(np.mean(np.abs(on / beat_len - np.round(on / beat_len)) > 0.05)) if on.size else 0.0
    score = 0.5 * sync + 0.3 * min(1.0, entropy) + 0.2 * offbeat
    return {"complexity": round(score, 4), "syncopation": round(sync, 4), "ioi_entropy": round(entropy, 4),
            "offbeat_share": round(offbeat, 4)}


# General MIDI percussion keys (channel 10) of the three layers the Witek et al. (2014) index reads.
GM_KICK = (35, 36)
GM_SNARE = (37, 38, 39, 40)  # side stick, acoustic snare, hand clap, electric snare
GM_HIHAT = (42, 44, 46, 51, 53, 59)  # closed, pedal, open hi-hat; ride cymbal and bell stand in when no hi-hat


def split_drum_layers(drum_notes) -> dict:
    """Split a General MIDI drum note list [(onset_s, offset_s, midi_pitch, velocity)] into
    {'kick', 'snare', 'hihat'} onset arrays (seconds, sorted). Other drums (toms, crashes, latin percussion) are
    left out; ride cymbal notes count as hi-hat only when the part has no hi-hat at all."""
    notes = [(float(n[0]), int(n[2])) for n in drum_notes]
    hats = [t for t, p in notes if p in (42, 44, 46)]
    if not hats:
        hats = [t for t, p in notes if p in GM_HIHAT]
    return {"kick": np.array(sorted(t for t, p in notes if p in GM_KICK)),
            "snare": np.array(sorted(t for t, p in notes if p in GM_SNARE)),
            "hihat": np.array(sorted(hats))}


# Instrument weights I(note layer, layer sounding on the stronger position) of the polyphonic index. A kick
# note answered by a snare on the stronger position reads as the most syncopated, a snare answered by a kick
# less so; a syncopation into silence (no layer there) adds nothing beyond the metric difference.
WITEK_INSTRUMENT_WEIGHTS = {("kick", "snare"): 2, ("snare", "kick"): 1}
WITEK_SYNCOPATING_LAYERS = ("kick", "snare")


def witek_syncopation(layers: dict, numerator: int, denominator: int, n_bars: int | None = None,
                      instrument_weights: dict | None = None) -> dict:
    """Polyphonic syncopation index of a drum part after Witek, Clarke, Wallentin, Kringelbach & Vuust (2014,
    PLoS ONE 9(4): e94446), on the LHL metric weights of `metric_weights` (sixteenth grid).

    `layers` maps 'kick', 'snare', 'hihat' to onsets in beats (quarter notes) from the first downbeat.
    For every note N of a syncopating layer (kick or snare) at grid step n, let r be the first later step whose
    metric weight is higher than w(n). If the same layer has no onset in (n, r], N is a syncopation of value

        S = w(r) - w(n) + I

    where I is the instrument weight of (N's layer, the layer sounding at r): 2 for a kick note with a snare at
    r, 1 for a snare note with a kick at r, 0 when r is silent or holds only the hi-hat (a continuous hi-hat
    marks the grid rather than answering the note). The part's index is the sum of S over all notes; returned
    with its per-bar mean and the number of syncopations. Bars wrap (a loop), as in `lhl_syncopation`.
    Returns {'index', 'per_bar', 'count', 'bars'}."""
    weights = metric_weights(numerator, denominator, 4)
    steps = len(weights)
    inst = WITEK_INSTRUMENT_WEIGHTS if instrument_weights is None else instrument_weights
    bar_beats = numerator * 4.0 / denominator
    all_on = [np.asarray(v, dtype=float) for v in layers.values() if len(v)]
    if n_bars is None:
        last = max((float(a.max()) for a in all_on), default=0.0)
        n_bars = int(math.floor(last / bar_beats)) + 1
    grids = {name: onsets_to_grid(layers.get(name, []), numerator, denominator, 4, n_bars).reshape(-1)
             for name in ("kick", "snare", "hihat")}
    total = n_bars * steps
    # steps from each grid position of a bar to the next metrically stronger position (the next downbeat for
    # weak positions at the bar's end; none for the downbeat itself)
    span = np.zeros(steps, dtype=int)
    for n in range(1, steps):
        later = [d for d in range(1, steps - n + 1) if (weights[(n + d) % steps] if n + d < steps else 0)
                 > weights[n]]
        span[n] = later[0]
    index, count = 0.0, 0
    for name in WITEK_SYNCOPATING_LAYERS:
        grid = grids[name]
        cum = np.concatenate([[0], np.cumsum(np.concatenate([grid, grid]))])  # onsets before each step, 2 loops
        for n in np.flatnonzero(grid):
            d = span[n % steps]
            if d == 0:
                continue  # a downbeat: nothing is stronger
            r = (n + d) % total
            if cum[n + d + 1] - cum[n + 1] > 0:
                continue  # the layer plays again before (or on) the stronger position
            bonus = max((inst.get((name, other), 0) for other in ("kick", "snare")
                         if other != name and grids[other][r]), default=0)
            index += float(weights[r % steps] - weights[n % steps] + bonus)
            count += 1
    return {"index": round(index, 3), "per_bar": round(index / n_bars, 3), "count": count, "bars": n_bars}
