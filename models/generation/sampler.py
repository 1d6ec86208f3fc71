"""Sampling the stem transformer step by step, with the user's switchable constraints, and turning the tokens
into notes.

Constraints are masks on the logits, so the model still chooses among what is allowed:
- range: bass and melody onsets inside the instrument's range (tokens.RANGES); keys voicings likewise;
- scale: melody onsets on the local scale or the current chord's tones;
- chord_tones: bass onsets on a beat, and melody onsets on strong beats, are chord tones; a melody
  non-chord tone is followed by a chord tone at most two semitones away (a passing or neighbour tone), when
  one exists.
"""
from __future__ import annotations

import numpy as np

from models.theory.harmony import MODE_SCALES

from .tokens import (DRUM_CLASSES, DURATIONS, MELODY_LOW, N_BASS, N_DRUMS, N_KEYS, N_MELODY, RANGES,
                     VELOCITIES, Conditioning, StepTokens, bass_pitch, home, keys_pitches, melody_pitch)

PITCHED = ("bass", "keys", "melody")


def strong_step(step: int, grid: int, beats_per_bar: int) -> bool:
    """On the downbeat, or on the middle beat of an even bar (beat 3 of 4/4)."""
    pos = step % (grid * beats_per_bar)
    if pos % grid:
        return False
    beat = pos // grid
    return beat == 0 or (beats_per_bar % 2 == 0 and beat == beats_per_bar // 2)


def masks(cond: Conditioning, constraints: dict) -> dict:
    """Allowed-token masks per step: stem -> (n_steps, vocab) bool arrays (token 0, no onset, always allowed).
    Rows depend only on the chord, the key and the metric position, so each distinct case is computed once."""
    n = cond.n_steps
    out = {"bass": np.ones((n, N_BASS), bool), "melody": np.ones((n, N_MELODY), bool),
           "keys": np.ones((n, N_KEYS), bool), "melody_ct": np.ones((n, N_MELODY), bool)}
    flags = tuple(constraints.get(k, True) for k in ("range", "scale", "chord_tones"))
    cache = {}
    for i, c in enumerate(cond.chords):
        on_beat = i % cond.grid == 0
        strong = strong_step(i, cond.grid, cond.beats_per_bar)
        key = (c.root, c.quality, c.bass, c.tonic, c.mode, on_beat, strong)
        if key not in cache:
            cache[key] = _mask_rows(c, on_beat, strong, *flags)
        for name, row in cache[key].items():
            out[name][i] = row
    return out


def _mask_rows(c, on_beat, strong, use_range, use_scale, use_ct):
    rows = {"bass": np.ones(N_BASS, bool), "melody": np.ones(N_MELODY, bool), "keys": np.ones(N_KEYS, bool),
            "melody_ct": np.ones(N_MELODY, bool)}
    if c.root < 0:
        rows["bass"][1:] = False
        rows["keys"][1:] = False
        return rows
    tones = set(c.tones())
    scale = {(c.tonic + d) % 12 for d in MODE_SCALES.get(c.mode, MODE_SCALES["major"])} | tones
    for t in range(1, N_BASS):
        p = bass_pitch(t, c)
        ok = not (use_range and not RANGES["bass"][0] <= p <= RANGES["bass"][1])
        if use_ct and on_beat and p % 12 not in tones:
            ok = False
        rows["bass"][t] = ok
    for t in range(1, N_MELODY):
        p = melody_pitch(t, c)
        ok = not (use_range and not RANGES["melody"][0] <= p <= RANGES["melody"][1])
        if use_scale and p % 12 not in scale:
            ok = False
        rows["melody"][t] = ok and not (use_ct and strong and p % 12 not in tones)
        rows["melody_ct"][t] = ok and p % 12 in tones
    if use_range:
        for t in range(1, N_KEYS):
            ps = keys_pitches(t, c)
            rows["keys"][t] = bool(ps) and RANGES["keys"][0] <= min(ps) and max(ps) <= RANGES["keys"][1]
    for name in ("bass", "melody", "keys"):
        if not rows[name][1:].any():
            rows[name][1:] = False
    return rows


def _sample_categorical(logits, temperature, top_p, rng):
    z = np.asarray(logits, np.float64) / max(temperature, 1e-3)
    top = z.max()
    if not np.isfinite(top):
        return 0
    p = np.exp(z - top)
    if top_p < 1.0:
        order = np.argsort(-p)
        cum = np.cumsum(p[order])
        cut = int(np.searchsorted(cum, top_p * cum[-1])) + 1
        q = np.zeros_like(p)
        q[order[:cut]] = p[order[:cut]]
        p = q
    c = np.cumsum(p)
    return int(min(np.searchsorted(c, rng.random() * c[-1], side="right"), len(p) - 1))


SILENCE_BOOST = 2.0   # logit added to a requested stem's onsets per bar it has been silent (at most 2 bars' worth)


def _sample_onset(logits, allowed, temperature, top_p, rng):
    """Token 0 (no onset) or an onset: whether to play comes from the model's unconstrained distribution, what to
    play from its distribution over the allowed onsets, so constraints change pitches, never the rhythm."""
    z = np.asarray(logits, np.float64) / max(temperature, 1e-3)
    p = np.exp(z - z.max())
    p_onset = 1.0 - p[0] / p.sum()
    if rng.random() >= p_onset or not allowed[1:].any():
        return 0
    return 1 + _sample_categorical(np.where(allowed[1:], logits[1:], -np.inf), temperature, top_p, rng)


def sample(model, cond: Conditioning, constraints=None, temperature=0.9, top_p=0.95, seed=0, window=None,
           onset_bias=0.0, wanted=None):
    """Generate StepTokens for `cond`, one step at a time (model.FastStepper). Past the model's context the
    window restarts, keeping the last half (whole bars) as context. `onset_bias` (logits) makes every pitched
    stem busier (> 0) or sparser (< 0); a stem in `wanted` that has been silent for a bar gets its onsets
    boosted (SILENCE_BOOST per bar), so a melody that was asked for is played even where the songbook's
    melodies rest."""
    import torch

    from .model import N_DUR, FastStepper

    constraints = constraints or {}
    rng = np.random.default_rng(seed)
    n = cond.n_steps
    allowed = masks(cond, constraints)
    tok = StepTokens.empty(n)
    max_len = window or model.config["max_len"]
    spb = cond.steps_per_bar
    keep = max(spb, (max_len // 2) // spb * spb)
    prev_mel_nct = None   # pitch of the last melody onset when it was a non-chord tone
    feats = {k: torch.from_numpy(v)[None] for k, v in cond.arrays().items()}
    model.eval()
    wants = {s: bool(cond.density.get(s, 1)) for s in ("drums",) + PITCHED}
    boost_for = set(wanted if wanted is not None else PITCHED)
    last_onset = {s: -2 * spb for s in PITCHED}   # a wanted stem starts as if it had rested two bars

    def prev_inputs(j):
        if j < 0:
            return np.zeros(N_DRUMS, np.float32), {s: 0 for s in PITCHED}, {s: 0 for s in PITCHED}
        ptok = {s: int(getattr(tok, s)[j]) for s in PITCHED}
        pdur = {s: (int(getattr(tok, s + "_dur")[j]) + 1 if ptok[s] else 0) for s in PITCHED}
        return tok.drums[j], ptok, pdur

    with torch.no_grad(), _one_blas_thread():
        stepper = FastStepper(model, feats, max_len)
        base = 0
        for i in range(n):
            if i - base >= max_len:   # context full: restart it on the last `keep` steps
                base = i - keep
                stepper.reset()
                for j in range(base, i):
                    stepper.step(j, *prev_inputs(j - 1 if j > base else -1))
            out = stepper.step(i, *prev_inputs(i - 1 if i > base else -1))
            if wants["drums"]:
                d = out["drums"]
                p = 1.0 / (1.0 + np.exp(-d[:N_DRUMS] / max(temperature, 1e-3)))
                hits = rng.random(N_DRUMS) < p
                tok.drums[i] = hits
                if hits.any():
                    tok.drum_vel[i] = _sample_categorical(d[N_DRUMS:], temperature, 1.0, rng)
            for s in PITCHED:
                if not wants[s]:
                    continue
                logits = out[s]
                nv = allowed[s].shape[1]
                t_log, d_log, v_log = logits[:nv], logits[nv:nv + N_DUR], logits[nv + N_DUR:]
                m = allowed[s][i]
                if s == "melody" and prev_mel_nct is not None and constraints.get("chord_tones", True):
                    near = allowed["melody_ct"][i].copy()
                    near[1:] &= np.abs(_MELODY_OFFSETS + home_tonic(cond.chords[i]) - prev_mel_nct) <= 2
                    if near[1:].any():
                        m = near
                bias = onset_bias
                if s in boost_for:
                    bias += SILENCE_BOOST * min(2.0, (i - last_onset[s]) / spb) if i - last_onset[s] >= spb else 0.0
                if bias:
                    t_log = t_log.copy()
                    t_log[1:] += bias
                t = _sample_onset(t_log, m, temperature, top_p, rng)
                getattr(tok, s)[i] = t
                if t > 0:
                    last_onset[s] = i
                if t > 0:
                    getattr(tok, s + "_dur")[i] = _sample_categorical(d_log, temperature, top_p, rng)
                    getattr(tok, s + "_vel")[i] = _sample_categorical(v_log, temperature, 1.0, rng)
                    if s == "melody":
                        c = cond.chords[i]
                        p_ = melody_pitch(t, c)
                        prev_mel_nct = p_ if p_ % 12 not in set(c.tones()) else None
    return tok


def _one_blas_thread():
    """Matrix-vector products at batch 1 are fastest on one BLAS thread (more threads only add overhead)."""
    try:
        from threadpoolctl import threadpool_limits

        return threadpool_limits(1, user_api="blas")
    except ImportError:  # pragma: no cover
        import contextlib

        return contextlib.nullcontext()


_MELODY_OFFSETS = np.arange(1, N_MELODY) + MELODY_LOW - 1


def home_tonic(chord) -> int:
    return home(chord.tonic, 60)


def tokens_to_notes(tok: StepTokens, cond: Conditioning, quarters_per_step: float, seed: int = 0) -> dict:
    """stem -> [{pitch, start_time, duration, velocity, mute}] in quarter-note beats. Pitched stems are cut at
    their next onset (no overlaps) and keys also at the next chord change."""
    rng = np.random.default_rng(seed + 7)
    n = cond.n_steps
    out = {"drums": [], "bass": [], "keys": [], "melody": []}
    q = quarters_per_step
    for i in range(n):
        for k in np.nonzero(tok.drums[i])[0]:
            vel = VELOCITIES[tok.drum_vel[i]] + int(rng.integers(-6, 7))
            out["drums"].append(_note(DRUM_CLASSES[k][1], i * q, min(q, 0.25), vel))
    change = [i for i in range(1, n) if (cond.chords[i].root, cond.chords[i].quality, cond.chords[i].bass)
              != (cond.chords[i - 1].root, cond.chords[i - 1].quality, cond.chords[i - 1].bass)]
    for s in PITCHED:
        arr = getattr(tok, s)
        onsets = [i for i in range(n) if arr[i] > 0]
        for j, i in enumerate(onsets):
            c = cond.chords[i]
            end = i + DURATIONS[getattr(tok, s + "_dur")[i]]
            nxt = onsets[j + 1] if j + 1 < len(onsets) else n
            end = min(end, nxt, n)
            if s == "keys":
                end = min([end] + [x for x in change if x > i])
            vel = VELOCITIES[getattr(tok, s + "_vel")[i]] + int(rng.integers(-5, 6))
            if s == "keys":
                pitches = keys_pitches(int(arr[i]), c)
            else:
                p = bass_pitch(int(arr[i]), c) if s == "bass" else melody_pitch(int(arr[i]), c)
                pitches = [] if p is None else [p]
            for p in pitches:
                out[s].append(_note(p, i * q, (end - i) * q, vel))
    return out


def _note(pitch, start, duration, velocity):
    return {"pitch": int(pitch), "start_time": round(float(start), 6), "duration": round(float(duration), 6),
            "velocity": int(min(127, max(1, velocity))), "mute": False}
