"""Objective measures of generated (or any) stems, shared by the generation benchmark and the tests.

Notes are dicts {pitch, start_time, duration, velocity} in quarter-note beats. Chords are ChordSpans (tactus
beats; request.py) or (start_q, end_q, root, quality, bass) tuples in quarter notes.

- chord_tone_ratio(bass, on strong beats): fraction of onsets on strong beats (downbeat, and the middle beat of an
  even bar) whose pitch class belongs to the sounding chord.
- scale_consistency: fraction of notes in the key's scale (Mogren 2016 takes the best of all scales; we use the
  requested key, which is stricter).
- ctnctr: chord tone to non-chord tone ratio (Yeh et al. 2021): (chord tones + proper non-chord tones) /
  (chord tones + non-chord tones), a non-chord tone being proper when the next note is at most two semitones away.
- groove_consistency: mean over pairs of bars of 1 - (Hamming distance of their onset grids) / grid size (Wu &
  Yang 2020, "grooving pattern similarity").
- pitch_class_entropy: Shannon entropy (bits) of the duration-unweighted pitch-class histogram.
- bar_repetition: fraction of bars whose (position, pitch) content equals some earlier bar's.
- problems: notes overlapping on one pitch, notes longer than `stuck_beats`, notes outside the stem's range.
"""
from __future__ import annotations

import math

import numpy as np

from models.theory.harmony import MODE_SCALES, QUALITIES


def chord_at(chords, q):
    for c in chords:
        if c[0] - 1e-6 <= q < c[1] - 1e-6:
            return c
    return None


def chord_pcs(c):
    if c is None or c[2] < 0:
        return set()
    return {(c[2] + i) % 12 for i in QUALITIES[c[3]][0]} | {c[4] % 12}


def strong(q, beats_per_bar, quarters_per_beat):
    beat = q / quarters_per_beat
    if abs(beat - round(beat)) > 1e-3:
        return False
    b = int(round(beat)) % beats_per_bar
    return b == 0 or (beats_per_bar % 2 == 0 and b == beats_per_bar // 2)


def chord_tone_ratio(notes, chords, beats_per_bar, quarters_per_beat, strong_only=True):
    hits = total = 0
    for n in notes:
        if strong_only and not strong(n["start_time"], beats_per_bar, quarters_per_beat):
            continue
        pcs = chord_pcs(chord_at(chords, n["start_time"] + 1e-4))
        if not pcs:
            continue
        total += 1
        hits += n["pitch"] % 12 in pcs
    return hits / total if total else None


def scale_consistency(notes, tonic, mode):
    if not notes:
        return None
    scale = {(tonic + d) % 12 for d in MODE_SCALES.get(mode, MODE_SCALES["major"])}
    return sum(n["pitch"] % 12 in scale for n in notes) / len(notes)


def ctnctr(notes, chords):
    seq = sorted(notes, key=lambda n: (n["start_time"], -n["pitch"]))
    mono = []
    for n in seq:   # the top line, one note per onset
        if mono and abs(mono[-1]["start_time"] - n["start_time"]) < 1e-6:
            continue
        mono.append(n)
    c = p = nn = 0
    for i, n in enumerate(mono):
        pcs = chord_pcs(chord_at(chords, n["start_time"] + 1e-4))
        if not pcs:
            continue
        if n["pitch"] % 12 in pcs:
            c += 1
        else:
            nn += 1
            if i + 1 < len(mono) and abs(mono[i + 1]["pitch"] - n["pitch"]) <= 2:
                p += 1
    return (c + p) / (c + nn) if (c + nn) else None


def onset_grid(notes, bars, beats_per_bar, quarters_per_beat, steps_per_beat=4):
    """bars x (beats_per_bar * steps_per_beat) binary onset grid."""
    q = steps_per_beat * beats_per_bar
    grid = np.zeros((bars, q), bool)
    bar_q = beats_per_bar * quarters_per_beat
    for n in notes:
        bar = int(n["start_time"] // bar_q + 1e-9)
        pos = int(round((n["start_time"] - bar * bar_q) / quarters_per_beat * steps_per_beat))
        if 0 <= bar < bars and 0 <= pos < q:
            grid[bar, pos] = True
    return grid


def groove_consistency(notes, bars, beats_per_bar, quarters_per_beat):
    g = onset_grid(notes, bars, beats_per_bar, quarters_per_beat)
    if bars < 2:
        return None
    sims = [1 - np.sum(g[i] ^ g[j]) / g.shape[1] for i in range(bars) for j in range(i + 1, bars)]
    return float(np.mean(sims))


def groove_profile(notes, bars, beats_per_bar, quarters_per_beat):
    """Onset probability per position in the bar (the drum pattern's fingerprint)."""
    g = onset_grid(notes, bars, beats_per_bar, quarters_per_beat)
    return g.mean(axis=0) if bars else None


def cosine(a, b):
    if a is None or b is None or len(a) != len(b):
        return None
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    return float(a @ b / (na * nb)) if na and nb else None


def pitch_class_entropy(notes):
    if not notes:
        return None
    h = np.bincount([n["pitch"] % 12 for n in notes], minlength=12).astype(float)
    p = h[h > 0] / h.sum()
    return float(-(p * np.log2(p)).sum())


def bar_repetition(notes, bars, beats_per_bar, quarters_per_beat):
    if bars < 2:
        return None
    bar_q = beats_per_bar * quarters_per_beat
    content = [set() for _ in range(bars)]
    for n in notes:
        bar = int(n["start_time"] // bar_q + 1e-9)
        if 0 <= bar < bars:
            content[bar].add((round(n["start_time"] - bar * bar_q, 2), n["pitch"]))
    seen, rep = [], 0
    for c in content:
        if c and any(c == s for s in seen):
            rep += 1
        seen.append(c)
    return rep / (bars - 1)


def problems(notes, stem_range=None, stuck_beats=16.0, monophonic=False):
    """Counts of overlapping notes (same pitch; any pitch when monophonic), stuck notes and out-of-range notes."""
    overlap = stuck = out = 0
    by_pitch = {}
    seq = sorted(notes, key=lambda n: (n["start_time"], n["pitch"]))
    for n in seq:
        if n["duration"] > stuck_beats or n["duration"] <= 0:
            stuck += 1
        if stem_range and not stem_range[0] <= n["pitch"] <= stem_range[1]:
            out += 1
        key = 0 if monophonic else n["pitch"]
        last = by_pitch.get(key)
        if last is not None and last > n["start_time"] + 1e-6:
            overlap += 1
        by_pitch[key] = max(last or 0, n["start_time"] + n["duration"])
    return {"overlapping": overlap, "stuck": stuck, "out_of_range": out}


def notes_per_second(n_notes, seconds):
    return n_notes / seconds if seconds else math.nan
