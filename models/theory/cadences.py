"""Cadences: where a phrase closes, what kind of close it is, and how strong.

Types (each judged between two successive chords in their shared local key; degrees from the major scale of
the tonic as in `roman.py`):

- perfect_authentic (PAC): V or V7 in root position -> I/i in root position, with the melody (highest note of
  the arrival) on the tonic when notes are known.
- imperfect_authentic (IAC): V(7) or vii°(7) -> I/i where a chord is inverted, the approach is vii°, or the
  melody of the arrival is not the tonic.
- plagal: IV/iv -> I/i.
- half: arrival on V (major or dominant seventh, root position or not) from a chord that is not V, where the V
  is not followed by I/i (then it is the first half of an authentic cadence) but by something else, a rest or
  the end of the song.
- phrygian_half: iv6 (minor iv over the lowered sixth degree) -> V, in minor.
- deceptive: V(7) -> vi (major key) or bVI (minor key).

Strength (0..1) of a cadence arriving on chord j:

    strength = BASE[type] * mean(components)

    components (each 0..1, only those whose input is known):
      metric     1.0 on a downbeat, 0.6 on another strong beat (position 3 in 4/4, see rhythm.metric_hierarchy),
                 0.3 elsewhere; from `beats` [{time, position}] (a beat within 60 ms of the arrival counts)
      position   1.0 when the arrival chord is in root position, 0.5 when inverted
      duration   min(1, d_j / (2 * median chord duration)): a held arrival sounds final
      soprano    1.0 when the highest note sounding at the arrival is the arrival's root (the tonic for
                 authentic and plagal, the fifth degree for half cadences), 0.5 otherwise

    BASE = {perfect_authentic 1.0, imperfect_authentic 0.8, half 0.7, phrygian_half 0.7, plagal 0.7,
            deceptive 0.6}
"""
from __future__ import annotations

import numpy as np

from .harmony import parse_harte
from .key import QUALITY_FAMILY, parse_key
from .rhythm import metric_hierarchy

BASE_STRENGTH = {"perfect_authentic": 1.0, "imperfect_authentic": 0.8, "half": 0.7, "phrygian_half": 0.7,
                 "plagal": 0.7, "deceptive": 0.6}
BEAT_TOLERANCE_S = 0.06


def _metric_component(time_s: float, beats: list[dict] | None, meter: dict | None) -> float | None:
    if not beats:
        return None
    times = np.array([float(b["time"]) for b in beats])
    i = int(np.argmin(np.abs(times - time_s)))
    if abs(times[i] - time_s) > BEAT_TOLERANCE_S or "position" not in beats[i]:
        return 0.3
    pos = int(beats[i]["position"])
    if pos == 1:
        return 1.0
    num = int((meter or {}).get("numerator", 4))
    den = int((meter or {}).get("denominator", 4))
    try:
        labels = metric_hierarchy(num, den)["beat_labels"]
    except ValueError:
        labels = []
    return 0.6 if 0 < pos - 1 < len(labels) and labels[pos - 1] == "strong" else 0.3


def find_cadences(chords: list[dict], keys: list[str | None], beats: list[dict] | None = None,
                  meter: dict | None = None, melody_pitch_at=None) -> list[dict]:
    """Cadences in chord segments [{start, end, label}] (seconds) with each chord's local key label.

    `melody_pitch_at(time_s)` may return the MIDI pitch of the highest sounding note at a time (or None).
    Returns [{type, time (s, the arrival), chord_index (arrival), key, strength, components}], in time order."""
    parsed: list = []
    for c in chords:
        try:
            parsed.append(parse_harte(str(c.get("label", "N"))))
        except ValueError:
            parsed.append(None)
    durs = [float(c["end"]) - float(c["start"]) for c, p in zip(chords, parsed) if p is not None]
    median = float(np.median(durs)) if durs else 0.0
    out = []
    for j in range(1, len(chords)):
        a, b = parsed[j - 1], parsed[j]
        if a is None or b is None or keys[j - 1] != keys[j] or not keys[j]:
            continue
        key = parse_key(keys[j])
        if key is None:
            continue
        tonic, mode = key
        ra, rb = (a[0] - tonic) % 12, (b[0] - tonic) % 12
        fa, fb = QUALITY_FAMILY.get(a[1], "maj"), QUALITY_FAMILY.get(b[1], "maj")
        a_root_pos, b_root_pos = a[2] == a[0], b[2] == b[0]
        nxt = parsed[j + 1] if j + 1 < len(chords) else None
        tonic_family = "maj" if mode == "major" else "min"
        dominant_a = ra == 7 and fa in ("maj", "dom")
        leading_a = ra == 11 and fa == "dim"
        tonic_b = rb == 0 and fb in (tonic_family, "maj", "min") and fb != "dim"
        kind = None
        if (dominant_a or leading_a) and tonic_b:
            kind = "perfect_authentic" if dominant_a and a_root_pos and b_root_pos else "imperfect_authentic"
        elif dominant_a and ((mode == "major" and rb == 9 and fb == "min") or
                             (mode == "minor" and rb == 8 and fb == "maj")):
            kind = "deceptive"
        elif ra == 5 and fa in ("maj", "min") and tonic_b:
            kind = "plagal"
        elif rb == 7 and fb in ("maj", "dom") and not (ra == 7):
            nxt_is_tonic = nxt is not None and (nxt[0] - tonic) % 12 == 0
            if not nxt_is_tonic:
                phrygian = mode == "minor" and ra == 5 and fa == "min" and (a[2] - tonic) % 12 == 8
                kind = "phrygian_half" if phrygian else "half"
        if kind is None:
            continue
        t = float(chords[j]["start"])
        comps: dict[str, float] = {}
        metric = _metric_component(t, beats, meter)
        if metric is not None:
            comps["metric"] = metric
        comps["position"] = 1.0 if b_root_pos else 0.5
        if median > 0:
            comps["duration"] = min(1.0, (float(chords[j]["end"]) - t) / (2 * median))
        if melody_pitch_at is not None:
            top = melody_pitch_at(t + 0.5 * (float(chords[j]["end"]) - t))
            if top is not None:
                target = b[0]
                comps["soprano"] = 1.0 if int(top) % 12 == target else 0.5
                if kind == "perfect_authentic" and comps["soprano"] < 1.0:
                    kind = "imperfect_authentic"
        strength = BASE_STRENGTH[kind] * float(np.mean(list(comps.values())))
        out.append({"type": kind, "time": round(t, 6), "chord_index": j, "key": keys[j],
                    "strength": round(strength, 4), "components": {k: round(v, 3) for k, v in comps.items()}})
    return out
