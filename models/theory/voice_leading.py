"""Voice leading between successive chords: how far the voices move, what they keep, and parallel perfect
intervals.

Voices come from one of two sources:

- notes (per stem: [(onset_s, offset_s, midi_pitch, velocity)]): for each chord segment, the distinct MIDI
  pitches of the pitched stems sounding at the segment's midpoint, low to high (at most `MAX_VOICES`, the
  outermost kept). Drum stems are skipped.
- chord labels (when no notes): a four-part realisation. The bass is the label's bass note in MIDI 40-51
  (E2-D#3); the upper voices are three chord tones (a triad's three tones, so the bass note is doubled; a
  seventh chord's tones other than the bass; ninth chords drop the ninth), each placed in MIDI 55-79 as close
  as possible to the previous upper voices (the
  first chord in close position from G3 upward). This is the smoothest realisation a keyboard player would
  choose, so the figures describe the progression's parsimony rather than an arrangement.

Between two chords with voices a (m pitches) and b (n pitches), both sorted low to high, voices are paired by
the non-crossing assignment of least total motion: the min(m, n) voices of the thinner chord are matched in
order to distinct voices of the fuller one, minimising sum |a_i - b_j| (dynamic programming, O(m n)). Reported:

    mean_motion_semitones = mean over transitions of (sum of |motion| over paired voices / number of pairs)
    common_tones_mean     = mean over transitions of |pitch classes(a) & pitch classes(b)|
    parallel fifths / octaves: a pair of paired voices (i < j) moving in the same direction, both moving,
        whose interval mod 12 is 7 (fifth) or 0 (octave or unison) in both chords; counted for the outer pair
        (lowest and highest voice) and for all other pairs (inner) separately.
"""
from __future__ import annotations

import numpy as np

from .harmony import QUALITIES, parse_harte

MAX_VOICES = 6
BASS_RANGE = (40, 51)
UPPER_RANGE = (55, 79)
DRUM_STEMS = ("drums", "drum", "percussion")


def pair_voices(a: list[int], b: list[int]) -> list[tuple[int, int]]:
    """Non-crossing least-motion pairing of two sorted voice lists; returns index pairs (i into a, j into b)."""
    swap = len(a) > len(b)
    x, y = (b, a) if swap else (a, b)
    m, n = len(x), len(y)
    if m == 0:
        return []
    inf = float("inf")
    cost = np.full((m + 1, n + 1), inf)
    cost[0, :] = 0.0
    for i in range(1, m + 1):
        for j in range(i, n + 1):
            cost[i, j] = min(cost[i, j - 1], cost[i - 1, j - 1] + abs(x[i - 1] - y[j - 1]))
    pairs = []
    i, j = m, n
    while i > 0:
        if j > i and cost[i, j] == cost[i, j - 1]:
            j -= 1
        else:
            pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
    pairs.reverse()
    return [(q, p) for p, q in pairs] if swap else pairs


def _nearest(pc: int, target: float, lo: int, hi: int) -> int:
    """The MIDI pitch of pitch class `pc` within [lo, hi] nearest to `target`."""
    base = int(round(target)) - ((int(round(target)) - pc) % 12)  # the pc at or below the target
    cands = [p for p in (base - 12, base, base + 12, base + 24) if lo <= p <= hi]
    if not cands:  # target far outside the range: the pc nearest the range's middle
        cands = [p for p in range(lo, hi + 1) if p % 12 == pc]
    return min(cands, key=lambda p: (abs(p - target), p))


def realise_chords(labels: list[str]) -> list[list[int] | None]:
    """Four-part voicings (MIDI pitches, low to high) for Harte labels; None for 'N'/unreadable labels."""
    out: list[list[int] | None] = []
    prev_upper: list[int] | None = None
    for label in labels:
        try:
            p = parse_harte(label)
        except ValueError:
            p = None
        if p is None:
            out.append(None)
            continue
        root, quality, bass = p
        tones = [(root + iv) % 12 for iv in QUALITIES[quality][0]]
        upper_pcs = [t for t in dict.fromkeys(tones) if t != bass] if len(set(tones)) >= 4 else list(tones)
        upper_pcs = (upper_pcs + [root] * 3)[:3] if len(upper_pcs) < 3 else upper_pcs[:3]
        bass_note = _nearest(bass, (BASS_RANGE[0] + BASS_RANGE[1]) / 2, *BASS_RANGE)
        if prev_upper is None:
            upper, floor = [], UPPER_RANGE[0]
            for pc in sorted(upper_pcs, key=lambda q: (q - upper_pcs[0]) % 12):
                note = _nearest(pc, floor + 5, floor, UPPER_RANGE[1])
                upper.append(note)
                floor = note + 1
        else:
            upper = _closest_voicing(upper_pcs, prev_upper)
        prev_upper = sorted(upper)
        out.append([bass_note] + prev_upper)
    return out


def _closest_voicing(pcs: list[int], prev: list[int]) -> list[int]:
    """Place pitch classes `pcs` in the upper range so the sum of distances to the sorted `prev` voices is least
    (tries every assignment of pitch classes to previous voices; three voices -> six)."""
    from itertools import permutations

    best, best_cost = None, float("inf")
    for perm in set(permutations(pcs)):
        notes = [_nearest(pc, v, *UPPER_RANGE) for pc, v in zip(perm, prev)]
        cost = sum(abs(n - v) for n, v in zip(notes, prev))
        if cost < best_cost:
            best, best_cost = notes, cost
    return best


def voices_from_notes(chords: list[dict], notes: dict) -> list[list[int] | None]:
    """Sounding MIDI pitches (sorted, distinct, at most MAX_VOICES) of pitched stems at each chord's midpoint."""
    events = []
    for stem, lst in (notes or {}).items():
        if str(stem).lower() in DRUM_STEMS:
            continue
        events.extend((float(n[0]), float(n[1]), int(n[2])) for n in lst)
    if not events:
        return [None] * len(chords)
    arr = np.array(events)
    out: list[list[int] | None] = []
    for c in chords:
        mid = 0.5 * (float(c["start"]) + float(c["end"]))
        sel = (arr[:, 0] <= mid) & (arr[:, 1] > mid)
        pitches = sorted({int(p) for p in arr[sel, 2]})
        if len(pitches) > MAX_VOICES:
            inner = pitches[1:-1][:MAX_VOICES - 2]
            pitches = [pitches[0]] + inner + [pitches[-1]]
        out.append(pitches or None)
    return out


def voice_leading(chords: list[dict], notes: dict | None = None) -> dict | None:
    """Voice-leading summary of chord segments [{start, end, label}] (see the module docstring). Uses `notes`
    when they give voices, else the chord labels. None when fewer than two chords have voices."""
    source = "chord_labels"
    voicings = None
    if notes:
        voicings = voices_from_notes(chords, notes)
        if sum(v is not None and len(v) >= 2 for v in voicings) >= 2:
            source = "notes"
        else:
            voicings = None
    if voicings is None:
        voicings = realise_chords([str(c.get("label", "N")) for c in chords])
    motions, commons = [], []
    par5 = {"outer": 0, "inner": 0}
    par8 = {"outer": 0, "inner": 0}
    prev = None
    for v in voicings:
        if v is None or len(v) < 1:
            prev = None
            continue
        if prev is not None and prev != v:
            pairs = pair_voices(prev, v)
            if pairs:
                motions.append(sum(abs(v[j] - prev[i]) for i, j in pairs) / len(pairs))
                commons.append(len({p % 12 for p in prev} & {p % 12 for p in v}))
                for x in range(len(pairs)):
                    for y in range(x + 1, len(pairs)):
                        (i1, j1), (i2, j2) = pairs[x], pairs[y]
                        m1, m2 = v[j1] - prev[i1], v[j2] - prev[i2]
                        if m1 == 0 or m2 == 0 or (m1 > 0) != (m2 > 0):
                            continue
                        before, after = (prev[i2] - prev[i1]) % 12, (v[j2] - v[j1]) % 12
                        where = "outer" if x == 0 and y == len(pairs) - 1 else "inner"
                        if before == after == 7:
                            par5[where] += 1
                        elif before == after == 0:
                            par8[where] += 1
        prev = v
    if not motions:
        return None
    return {"source": source, "transitions": len(motions),
            "mean_motion_semitones": round(float(np.mean(motions)), 3),
            "common_tones_mean": round(float(np.mean(commons)), 3),
            "parallel_fifths": par5, "parallel_octaves": par8,
            "parallels_total": sum(par5.values()) + sum(par8.values())}
