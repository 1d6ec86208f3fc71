"""Symbolic analysis: notes (a MIDI file, a Live clip's notes, a music21 score) in, song description out.

The pipeline works on a grid of harmonic frames, one quarter note long by default (`frame_q`):

1. Pitch-class weights per frame: each note adds the quarter notes it overlaps the frame, times a metric weight
   (full when it sounds on the frame's onset, `offbeat_weight` when it enters later: passing tones mostly do),
   times a velocity weight. The bass is the lowest sounding note, sampled `BASS_SAMPLES` times per frame.
2. Chords by template matching over (root, quality, bass) states: every quality of `CHORD_QUALITIES`, every root,
   every chord tone as bass (inversions). The score rewards the weight on chord tones, penalises weight outside
   the chord (more for a strong one) and chord tones that do not sound, and rewards the frame's bass on the
   state's bass.
3. Local key over the 24 major/minor keys: each frame scores its pitch-class weights against the key's profile,
   and each chord gets the key's prior for it (`HarmonyModel`: counted from annotated music, or rules). Where
   the neural key finder's checkpoint exists (`symbolic_net`), its key log probabilities replace the profile
   term by default, with the tables' profile term kept at a small weight beside it, and the net's chord heads
   join the template scores (cross-validated: key 0.692 vs 0.625, RN 0.536 vs 0.467 on music21's analyses).
4. Smoothing: chords and keys are decoded together by Viterbi over (key, chord) states, with a constant
   penalty per chord change (`change_penalty`) and per key change (`modulation_penalty`).
5. Roman numerals and functions per chord, relative to its local key (`models.theory.roman`).
6. Home key: among the decoded local keys, the one the audio path's chord-sequence key scorer names
   (`home_key`); else the key held longest.

Units: note times in quarter notes ("beats" as Live and MIDI count them) from the clip's or file's start;
output times in seconds through the tempo map, with `start_beat`/`end_beat` in quarter notes beside them.
"""
from __future__ import annotations

import json
import math
import os
import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from protocol.song import new_song_description
from models.theory.decoding import viterbi_change_penalty
from models.theory.harmony import QUALITIES, harte_label, key_spelling, pc_of, spell
from models.theory.roman import roman_numeral, _degree_name  # noqa: F401 - _degree_name spells chord roots

# The chord vocabulary the analyser names (Harte qualities, see models.theory.harmony.QUALITIES).
CHORD_QUALITIES = ("maj", "min", "7", "maj7", "min7", "dim", "dim7", "hdim7", "aug", "sus2", "sus4")
# Log-prior per quality: triads are the default reading; sevenths must show their seventh; symmetric and
# suspended chords are rare in most repertoires and win only when the notes ask for them.
QUALITY_PRIOR = {"maj": 0.0, "min": 0.0, "7": -0.05, "maj7": -0.25, "min7": -0.2, "dim": -0.15, "dim7": -0.2,
                 "hdim7": -0.2, "aug": -0.5, "sus2": -0.5, "sus4": -0.4}
RULE_PRIOR_SCALE = 5.0            # rule chord priors -> the spread of fitted log probabilities
MODULATION_PENALTY = 4.0           # cost of a key change between frames (the tables' key profiles; `Params`)
MIDI_DEFAULT_BPM = 120.0           # the Standard MIDI File default when a file has no set_tempo event
BASS_SAMPLES = 4                   # bass samples per frame
DEFAULT_MODEL = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "checkpoints",
                             "symbolic_harmony.json")

# Krumhansl & Kessler (1982) probe-tone profiles, tonic first: how well each pitch class fits a key.
KK_MAJOR = (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88)
KK_MINOR = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)


@dataclass(frozen=True)
class Note:
    """One note: MIDI pitch, onset and end in quarter notes, velocity 1-127."""
    pitch: int
    start: float
    end: float
    velocity: int = 100


@dataclass
class Params:
    """Knobs of the analyser (weights are in log-score units per frame)."""
    frame_q: float = 1.0             # frame length, quarter notes
    offbeat_weight: float = 0.6      # weight of a note entering after the frame's onset
    in_weight: float = 1.0           # reward per unit of weight on chord tones
    out_weight: float = 1.4          # penalty per unit of weight outside the chord
    missing_weight: float = 0.35     # penalty per chord tone that does not sound (root and third count double)
    extra_weight: float = 0.7        # penalty per pitch class outside the chord holding > `extra_share` of it
    extra_share: float = 0.12
    bass_weight: float = 0.6         # reward for the frame's bass on the state's bass
    root_position_bonus: float = 0.08
    bass_boost: float = 0.5          # extra pitch-class weight of the bass note (roots hide in the bass)
    change_penalty: float = 0.45     # cost of a chord change between frames
    modulation_penalty: float | None = None  # cost of a key change between frames; None: the analyser's own
    #                                          (MODULATION_PENALTY for the tables, symbolic_net.HYBRID_MODULATION_PENALTY
    #                                          beside the net's key head)
    profile_weight: float = 1.0      # weight of the key's pitch-class profile term
    chord_key_weight: float = 0.2    # weight of the key's chord priors (log probabilities)


# ------------------------------------------------------------------------------------------------ input
def _tempo_seconds(tempo_changes: list[tuple[float, float]]):
    """A function quarter notes -> seconds for tempo changes [(quarter note, bpm), ...] (sorted, first at 0)."""
    qs = [q for q, _ in tempo_changes]
    secs = [0.0]
    for i in range(1, len(tempo_changes)):
        q0, bpm0 = tempo_changes[i - 1]
        secs.append(secs[-1] + (tempo_changes[i][0] - q0) * 60.0 / bpm0)

    def seconds(q: float) -> float:
        i = max(0, bisect_right(qs, q) - 1)
        return secs[i] + (q - qs[i]) * 60.0 / tempo_changes[i][1]
    return seconds


def read_midi(path: str) -> dict:
    """Notes and meta events of a MIDI file: {'notes': [Note], 'tempo_changes': [(quarter note, bpm)],
    'meters': [(quarter note, numerator, denominator)], 'key_signature': 'Eb' or 'Cm' or None,
    'end_q': last note end}. Drum channel 10 is left out (no pitch content)."""
    import mido
    mid = mido.MidiFile(path)
    tpq = float(mid.ticks_per_beat)
    notes, tempos, meters, key_sig = [], [], [], None
    for track in mid.tracks:
        tick, open_notes = 0, {}
        for msg in track:
            tick += msg.time
            q = tick / tpq
            if msg.type == "set_tempo":
                tempos.append((q, mido.tempo2bpm(msg.tempo)))
            elif msg.type == "time_signature":
                meters.append((q, msg.numerator, msg.denominator))
            elif msg.type == "key_signature" and key_sig is None:
                key_sig = msg.key
            elif msg.type in ("note_on", "note_off") and msg.channel != 9:
                k = (msg.channel, msg.note)
                if msg.type == "note_on" and msg.velocity > 0:
                    open_notes.setdefault(k, []).append((q, msg.velocity))
                elif open_notes.get(k):
                    start, vel = open_notes[k].pop(0)
                    if q > start:
                        notes.append(Note(msg.note, start, q, vel))
    tempos = sorted({q: bpm for q, bpm in sorted(tempos)}.items())
    return {"notes": sorted(notes, key=lambda n: (n.start, n.pitch)), "tempo_changes": tempos,
            "meters": sorted({q: (q, n, d) for q, n, d in meters}.values()), "key_signature": key_sig,
            "end_q": max((n.end for n in notes), default=0.0)}


def notes_from_live(notes) -> list[Note]:
    """Notes from Live's clip API: `get_notes_extended` dicts (pitch, start_time, duration, velocity, mute) or
    `get_notes` tuples (pitch, time, duration, velocity, mute). Times are Live beats (quarter notes); muted
    notes are left out."""
    out = []
    for n in notes:
        if isinstance(n, dict):
            pitch, start, dur = n["pitch"], n["start_time"], n["duration"]
            vel, mute = n.get("velocity", 100), n.get("mute", False)
        else:
            pitch, start, dur = n[0], n[1], n[2]
            vel = n[3] if len(n) > 3 else 100
            mute = n[4] if len(n) > 4 else False
        if mute or dur <= 0:
            continue
        out.append(Note(int(pitch), float(start), float(start) + float(dur), int(round(float(vel)))))
    return sorted(out, key=lambda n: (n.start, n.pitch))


def read_music21(score) -> dict:
    """Notes, tempo and meters of a music21 stream, in the shape of `read_midi` (offsets in quarter notes)."""
    flat = score.flatten()
    notes = []
    for el in flat.notes:
        start = float(el.offset)
        end = start + float(el.quarterLength)
        if end <= start:
            continue   # grace notes
        vel = el.volume.velocity if el.volume.velocity is not None else 100
        for p in el.pitches:
            notes.append(Note(int(p.midi), start, end, int(vel)))
    tempos = [(float(mm.offset), float(mm.getQuarterBPM())) for mm in flat.getElementsByClass("MetronomeMark")
              if mm.getQuarterBPM()]
    meters = [(float(ts.offset), ts.numerator, ts.denominator) for ts in flat.getElementsByClass("TimeSignature")]
    return {"notes": sorted(notes, key=lambda n: (n.start, n.pitch)), "tempo_changes": tempos,
            "meters": sorted({q: (q, n, d) for q, n, d in meters}.values()), "key_signature": None,
            "end_q": max((n.end for n in notes), default=0.0)}


def _parse_meter(meter) -> tuple[int, int] | None:
    if meter is None:
        return None
    if isinstance(meter, dict):
        return int(meter["numerator"]), int(meter["denominator"])
    if isinstance(meter, str):
        m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", meter)
        if not m:
            raise ValueError("meter must look like '3/4', got %r" % meter)
        return int(m.group(1)), int(m.group(2))
    return int(meter[0]), int(meter[1])


def parse_key(key: str) -> tuple[int, str]:
    """(tonic pitch class, 'major'|'minor') of 'A:minor', 'A:min', 'A minor', 'Am', 'Eb', 'f#' (lower case =
    minor, as RomanText writes keys)."""
    m = re.fullmatch(r"\s*([A-Ga-g])([b#-]*)\s*:?\s*(major|minor|maj|min|m|M)?\s*", key)
    if not m:
        raise ValueError("not a key: %r (try 'C:major' or 'A:minor')" % key)
    letter, acc, mode = m.groups()
    if mode is None:
        mode = "minor" if letter.islower() else "major"
    else:
        mode = "minor" if mode in ("minor", "min", "m") else "major"
    return pc_of(letter.upper() + acc.replace("-", "b")), mode


# ------------------------------------------------------------------------------------------------ features
def frame_features(notes: list[Note], n_frames: int, frame_q: float = 1.0,
                   offbeat_weight: float = 0.6) -> tuple[np.ndarray, np.ndarray]:
    """(pitch-class weights [n_frames, 12], bass weights [n_frames, 12]) on a grid of `frame_q` quarter notes.
    Pitch-class weight: quarter notes of overlap x metric weight (1 when the note sounds at the frame's onset,
    `offbeat_weight` when it enters later) x velocity / 127. Bass weight: share of the frame's `BASS_SAMPLES`
    sample points at which the pitch class is the lowest sounding note."""
    chroma = np.zeros((n_frames, 12))
    bass = np.zeros((n_frames, 12))
    lowest = np.full((n_frames, BASS_SAMPLES), 1000)
    sample_pos = (np.arange(BASS_SAMPLES) + 0.5) / BASS_SAMPLES * frame_q
    for n in notes:
        f0 = max(0, int(math.floor(n.start / frame_q + 1e-9)))
        f1 = min(n_frames - 1, int(math.ceil(n.end / frame_q - 1e-9)) - 1)
        vel = max(n.velocity, 1) / 127.0
        for f in range(f0, f1 + 1):
            t0, t1 = f * frame_q, (f + 1) * frame_q
            overlap = min(t1, n.end) - max(t0, n.start)
            if overlap <= 0:
                continue
            metric = 1.0 if n.start <= t0 + 1e-9 else offbeat_weight
            chroma[f, n.pitch % 12] += overlap / frame_q * metric * vel
            pos = t0 + sample_pos
            sounding = (pos >= n.start - 1e-9) & (pos < n.end - 1e-9)
            lowest[f, sounding] = np.minimum(lowest[f, sounding], n.pitch)
    for f in range(n_frames):
        for p in lowest[f]:
            if p < 1000:
                bass[f, p % 12] += 1.0 / BASS_SAMPLES
    return chroma, bass


# ------------------------------------------------------------------------------------------------ chords
@lru_cache(maxsize=4)
def chord_states(qualities=CHORD_QUALITIES) -> tuple[tuple[int, str, int], ...]:
    """Every (root pc, Harte quality, bass pc) with the bass a chord tone: root position and inversions."""
    states = []
    for q in qualities:
        ivs = sorted({i % 12 for i in QUALITIES[q][0]})
        for root in range(12):
            for iv in ivs:
                states.append((root, q, (root + iv) % 12))
    return tuple(states)


def chord_scores(chroma: np.ndarray, bass: np.ndarray, states: list, params: Params) -> np.ndarray:
    """Log-scores [frames, states] of every chord state for every frame (see the module doc, step 2).
    Silent frames score every state 0 (they take the neighbouring chord)."""
    n_states = len(states)
    member = np.zeros((12, n_states))
    root_third = np.zeros((12, n_states))
    bass_of = np.zeros((12, n_states))
    prior = np.zeros(n_states)
    for s, (root, q, b) in enumerate(states):
        ivs = sorted({i % 12 for i in QUALITIES[q][0]})
        for iv in ivs:
            member[(root + iv) % 12, s] = 1.0
        root_third[root, s] = 1.0
        root_third[(root + ivs[1]) % 12, s] = 1.0
        bass_of[b, s] = 1.0
        prior[s] = QUALITY_PRIOR.get(q, 0.0) + (params.root_position_bonus if b == root else 0.0)
    w = chroma + params.bass_boost * bass * chroma.sum(axis=1, keepdims=True)
    total = w.sum(axis=1, keepdims=True)
    wn = np.divide(w, total, out=np.zeros_like(w), where=total > 0)
    present = (wn > 0.04).astype(float)
    absent = 1.0 - present
    inside = wn @ member
    score = params.in_weight * inside - params.out_weight * (1.0 - inside)
    score -= params.missing_weight * (absent @ member + absent @ root_third)
    # A pitch class that fills a real share of the frame and is no chord tone (an unresolved seventh, a held
    # added note) argues against the chord beyond its weight: passing tones stay below `extra_share`.
    strong = (wn > params.extra_share).astype(float)
    score -= params.extra_weight * (strong @ (1.0 - member))
    bn = bass / np.maximum(bass.sum(axis=1, keepdims=True), 1e-9)
    score += params.bass_weight * (bn @ bass_of)
    score += prior
    score[total[:, 0] <= 0] = 0.0
    return score


def viterbi_uniform(scores: np.ndarray, change_penalty: float) -> np.ndarray:
    """Best state path [frames] for per-frame log-scores [frames, states] when every change of state costs
    `change_penalty` and staying costs nothing (models/theory/decoding.py)."""
    return viterbi_change_penalty(scores, change_penalty)


# ------------------------------------------------------------------------------------------------ keys
@dataclass
class HarmonyModel:
    """What a key predicts, relative to its tonic, per mode (0 major, 1 minor): `key_profiles` [2, 12] log
    probability of each pitch class (tonic = 0) in a frame's weights, and `chord_priors` [2, states] log
    probability of each chord state written on tonic C (`chord_states()` order). Either built from rules
    (`rule_model`) or counted from annotated music (`fit_harmony_model`)."""
    key_profiles: np.ndarray
    chord_priors: np.ndarray
    description: str = "rules"

    def to_json(self) -> dict:
        return {"description": self.description, "states": [list(s) for s in chord_states()],
                "key_profiles": np.round(self.key_profiles, 4).tolist(),
                "chord_priors": np.round(self.chord_priors, 4).tolist()}

    @classmethod
    def from_json(cls, d: dict) -> "HarmonyModel":
        if tuple(tuple(s) for s in d["states"]) != chord_states():
            raise ValueError("harmony model was fitted on another chord vocabulary")
        return cls(np.array(d["key_profiles"]), np.array(d["chord_priors"]), d.get("description", ""))


def rule_model() -> HarmonyModel:
    """Key profiles from Krumhansl & Kessler; chord priors by rule: diatonic chords (harmonic minor's V and
    vii° count in minor) 0, the tonic and the dominant a bonus, applied dominants a small cost, borrowed chords a
    larger one, everything else the largest (scaled by `RULE_PRIOR_SCALE` to log-probability units, so one
    `Params.chord_key_weight` suits both models)."""
    states = chord_states()
    profiles = np.log(np.array([np.array(KK_MAJOR) / sum(KK_MAJOR), np.array(KK_MINOR) / sum(KK_MINOR)]))
    priors = np.full((2, len(states)), -1.5)
    for m, mode in enumerate(("major", "minor")):
        for s, (root, q, b) in enumerate(states):
            rn = roman_numeral(root, q, b, 0, mode)
            if rn.function in ("tonic", "dominant", "predominant", "subdominant", "tonic_substitute") \
                    and not rn.borrowed:
                priors[m, s] = 0.5 if rn.degree == 1 and q in ("maj", "min") else \
                    0.4 if rn.degree == 5 and q in ("maj", "7") else 0.0
            elif rn.borrowed:
                priors[m, s] = -1.0
            elif rn.function == "secondary_dominant":
                priors[m, s] = -0.7
    return HarmonyModel(profiles, RULE_PRIOR_SCALE * priors, "rules: Krumhansl-Kessler profiles, diatonic chord priors")


def fit_harmony_model(examples, params: Params | None = None, smoothing: float = 0.5) -> HarmonyModel:
    """Count a `HarmonyModel` from annotated pieces. `examples`: iterable of (notes, labels) with `labels` per
    frame of `params.frame_q` quarter notes either None or (key tonic pc, 'major'|'minor', chord root pc, Harte
    quality, bass pc); chords outside the vocabulary count for the key profile only. `smoothing`: add-k
    pseudo-count per pitch class and per chord state."""
    params = params or Params()
    states = chord_states()
    index = {s: i for i, s in enumerate(states)}
    pc_counts = np.full((2, 12), smoothing)
    chord_counts = np.full((2, len(states)), smoothing)
    for notes, labels in examples:
        chroma, _ = frame_features(notes, len(labels), params.frame_q, params.offbeat_weight)
        total = chroma.sum(axis=1, keepdims=True)
        wn = np.divide(chroma, total, out=np.zeros_like(chroma), where=total > 0)
        for f, lab in enumerate(labels):
            if lab is None:
                continue
            tonic, mode, root, quality, bass = lab[:5]
            m = 1 if mode == "minor" else 0
            pc_counts[m] += np.roll(wn[f], -tonic)
            s = index.get(((root - tonic) % 12, quality, (bass - tonic) % 12))
            if s is not None:
                chord_counts[m, s] += 1
    return HarmonyModel(np.log(pc_counts / pc_counts.sum(axis=1, keepdims=True)),
                        np.log(chord_counts / chord_counts.sum(axis=1, keepdims=True)), "fitted")


def _transposer(states: list) -> np.ndarray:
    """[12, states]: index of each state transposed down by t semitones (its reading on tonic C in key t)."""
    index = {s: i for i, s in enumerate(states)}
    out = np.zeros((12, len(states)), dtype=np.int64)
    for t in range(12):
        for i, (r, q, b) in enumerate(states):
            out[t, i] = index[((r - t) % 12, q, (b - t) % 12)]
    return out


def joint_viterbi(chord_score: np.ndarray, key_score: np.ndarray, chord_key: np.ndarray, change_penalty: float,
                  modulation_penalty: float) -> tuple[np.ndarray, np.ndarray]:
    """Best (key path, chord path) for chord_score [frames, states] + key_score [frames, 24] + chord_key
    [24, states] per frame, when a chord change costs `change_penalty` and a key change `modulation_penalty`."""
    n_frames, n_states = chord_score.shape
    n_keys = key_score.shape[1]
    flat = np.arange(n_keys * n_states).reshape(n_keys, n_states)
    back = np.zeros((n_frames, n_keys, n_states), dtype=np.int32)
    delta = chord_score[0][None, :] + key_score[0][:, None] + chord_key
    for t in range(1, n_frames):
        in_key = delta.argmax(axis=1)                       # best chord to leave, per key
        in_key_val = delta[np.arange(n_keys), in_key] - change_penalty
        by_chord = delta.argmax(axis=0)                     # best key to leave, per chord
        by_chord_val = delta[by_chord, np.arange(n_states)] - modulation_penalty
        g = int(delta.argmax())
        g_val = delta.flat[g] - change_penalty - modulation_penalty
        cands = np.stack([delta, np.broadcast_to(in_key_val[:, None], delta.shape),
                          np.broadcast_to(by_chord_val[None, :], delta.shape), np.full(delta.shape, g_val)])
        which = cands.argmax(axis=0)
        src = np.select([which == 0, which == 1, which == 2],
                        [flat, (np.arange(n_keys) * n_states + in_key)[:, None],
                         (by_chord * n_states + np.arange(n_states))[None, :]], g)
        back[t] = src
        delta = np.take_along_axis(cands, which[None], 0)[0] + chord_score[t][None, :] + key_score[t][:, None] \
            + chord_key
    cur = int(delta.argmax())
    keys, chords = np.zeros(n_frames, dtype=np.int32), np.zeros(n_frames, dtype=np.int32)
    for t in range(n_frames - 1, -1, -1):
        keys[t], chords[t] = divmod(cur, n_states)
        cur = int(back[t].flat[cur])
    return keys, chords


def key_label(k: int) -> str:
    """'C:major' .. 'B:minor' for a key index (0-11 major on C..B, 12-23 minor)."""
    mode = "major" if k < 12 else "minor"
    return "%s:%s" % (key_spelling(k % 12, mode)[0], mode)


_CACHE: dict = {}


def default_model() -> HarmonyModel:
    """The shipped fitted model (`DEFAULT_MODEL`), or the rule model where it is absent."""
    if "model" not in _CACHE:
        if os.path.exists(DEFAULT_MODEL):
            with open(DEFAULT_MODEL) as f:
                _CACHE["model"] = HarmonyModel.from_json(json.load(f))
        else:
            _CACHE["model"] = rule_model()
    return _CACHE["model"]


# ------------------------------------------------------------------------------------------------ analysis
@dataclass
class FrameAnalysis:
    """Per-frame result of `analyze_notes`: chord state and key index per frame."""
    frame_q: float
    states: list
    chord_path: np.ndarray
    key_path: np.ndarray
    silent: np.ndarray


def analyze_notes(notes: list[Note], end_q: float | None = None, params: Params | None = None,
                  key: tuple[int, str] | None = None, model: HarmonyModel | None = None,
                  key_log_probs: np.ndarray | None = None, key_weight: float = 1.0,
                  chord_log_probs: dict | None = None, chord_weight: float = 0.0,
                  profile_mix: float = 0.0, modulation_penalty: float | None = None) -> FrameAnalysis:
    """Chords and keys per frame for notes in quarter notes (module doc, steps 1-4); chords and keys are decoded
    jointly, so a key's chord priors help name ambiguous chords. `key` fixes the key. `key_log_probs` [frames, 24]
    (a key finder's, e.g. `symbolic_net`) replace the key-profile term, times `key_weight`, with `profile_mix` times the
    profile term kept beside them (a product of the two key experts). `chord_log_probs`: a chord
    recogniser's per-frame log probabilities {'root' [frames, 12], 'quality' [frames, len(qualities)], 'bass'
    [frames, 12], 'qualities': names} added to the template scores times `chord_weight` (a product of experts;
    a quality the recogniser lacks takes its least likely quality's score). A key change costs
    `params.modulation_penalty`, where None `modulation_penalty`, where None `MODULATION_PENALTY`."""
    params = params or Params()
    model = model or default_model()
    end_q = end_q if end_q is not None else max((n.end for n in notes), default=0.0)
    n_frames = max(1, int(math.ceil(end_q / params.frame_q - 1e-9)))
    chroma, bass = frame_features(notes, n_frames, params.frame_q, params.offbeat_weight)
    states = chord_states()
    if "transposer" not in _CACHE:
        _CACHE["transposer"] = _transposer(states)
    tr = _CACHE["transposer"]
    scores = chord_scores(chroma, bass, states, params)
    if chord_log_probs is not None and chord_weight:
        scores = scores + chord_weight * recogniser_scores(chord_log_probs, states, n_frames)
    total = chroma.sum(axis=1, keepdims=True)
    silent = total[:, 0] <= 0
    wn = np.divide(chroma, total, out=np.zeros_like(chroma), where=total > 0)
    profile = np.zeros((n_frames, 24))
    chord_key = np.zeros((24, len(states)))
    for k in range(24):
        m, tonic = divmod(k, 12)
        profile[:, k] = wn @ np.roll(model.key_profiles[m], tonic)
        chord_key[k] = params.chord_key_weight * model.chord_priors[m][tr[tonic]]
    profile -= profile.max(axis=1, keepdims=True)
    profile[silent] = 0.0
    if key_log_probs is not None:     # a key finder's [frames, 24] log probabilities replace the profile term
        key_score = key_weight * key_log_probs[:n_frames] + profile_mix * profile
    else:
        key_score = params.profile_weight * profile
    if key is not None:
        fixed = key[0] + (12 if key[1] == "minor" else 0)
        key_score[:, np.arange(24) != fixed] = -1e9
    penalty = next(p for p in (params.modulation_penalty, modulation_penalty, MODULATION_PENALTY) if p is not None)
    keys, chords = joint_viterbi(scores, key_score, chord_key, params.change_penalty, penalty)
    return FrameAnalysis(params.frame_q, states, chords, keys, silent)


def recogniser_scores(lp: dict, states, n_frames: int) -> np.ndarray:
    """[frames, states] log p(root) + log p(quality) + log p(bass) of every chord state from a recogniser's
    per-head log probabilities (see `analyze_notes`)."""
    names = list(lp["qualities"])
    root = np.array([s[0] for s in states])
    bass = np.array([s[2] for s in states])
    qi = np.array([names.index(s[1]) if s[1] in names else -1 for s in states])
    q = lp["quality"][:n_frames]
    quality = np.where(qi >= 0, q[:, np.maximum(qi, 0)], q.min(axis=1, keepdims=True))
    return lp["root"][:n_frames][:, root] + quality + lp["bass"][:n_frames][:, bass]


def _beat_grid(end_q: float, meters: list[tuple[float, int, int]]) -> list[tuple[float, int]]:
    """(quarter note, position in bar: 1 = downbeat) of every beat before `end_q`. The beat is the meter's
    counting unit: the denominator's note, or a dotted one in compound meters (6/8, 9/8, 12/8)."""
    out = []
    for i, (q0, num, den) in enumerate(meters):
        q1 = meters[i + 1][0] if i + 1 < len(meters) else end_q
        compound = den >= 8 and num % 3 == 0 and num > 3
        unit = 4.0 / den * (3 if compound else 1)
        per_bar = num // 3 if compound else num
        k = 0
        while q0 + k * unit < q1 - 1e-9:
            out.append((q0 + k * unit, k % per_bar + 1))
            k += 1
    return out


def analyze_midi(path_or_notes, tempo: float | None = None, meter=None, key: str | None = None,
                 params: Params | None = None, model: HarmonyModel | None = None) -> dict:
    """Song description of symbolic music.

    `path_or_notes`: a .mid path, a list of Live clip notes (see `notes_from_live`; beats = quarter notes), or a
    music21 stream. `tempo` (BPM) overrides the file's tempo map (Live notes carry none: give the song's tempo;
    without one the MIDI default of 120 BPM is used and said so in `notices`). `meter` ('3/4', (3, 4) or
    {'numerator', 'denominator'}) overrides the file's time signatures (default 4/4). `key` ('C:major',
    'A:minor', 'Am') fixes the key instead of estimating it. `params`/`model`: analyser knobs and the
    key/chord model: a `HarmonyModel` runs the template/Viterbi analyser with `params`; a
    `symbolic_net.SymbolicNet` runs the neural analyser alone; a `symbolic_net.NetKeyTemplates` the net's keys
    with the templates' chords. None (default): `NetKeyTemplates` with the shipped net and tables where the net's
    checkpoint exists (`symbolic_net.default_net`), else the templates with `default_model()`.

    Fills bpm, tempo_map, meter, beats, downbeats, chords (Harte label, root, quality, bass, roman_numeral,
    function, start/end in seconds and quarter notes), key, key_regions, harmonic_analysis.
    """
    notices = []
    if isinstance(path_or_notes, (str, os.PathLike)):
        data = read_midi(os.fspath(path_or_notes))
        source = {"path": os.path.abspath(os.fspath(path_or_notes)), "kind": "midi", "format": "Standard MIDI File"}
    elif hasattr(path_or_notes, "recurse"):
        data = read_music21(path_or_notes)
        source = {"kind": "midi", "format": "music21 stream"}
    else:
        data = {"notes": notes_from_live(path_or_notes), "tempo_changes": [], "meters": [], "key_signature": None}
        data["end_q"] = max((n.end for n in data["notes"]), default=0.0)
        source = {"kind": "midi", "format": "Live clip notes"}
    notes, end_q = data["notes"], data["end_q"]
    if tempo is not None:
        tempo_changes = [(0.0, float(tempo))]
    elif data["tempo_changes"]:
        tempo_changes = list(data["tempo_changes"])
        if tempo_changes[0][0] > 0:
            tempo_changes.insert(0, (0.0, MIDI_DEFAULT_BPM))
    else:
        tempo_changes = [(0.0, MIDI_DEFAULT_BPM)]
        notices.append("no tempo given or found: %g BPM (the MIDI default) assumed" % MIDI_DEFAULT_BPM)
    m = _parse_meter(meter)
    meters = [(0.0, m[0], m[1])] if m else list(data["meters"]) or [(0.0, 4, 4)]
    if meters[0][0] > 0:
        meters.insert(0, (0.0, 4, 4))
    seconds = _tempo_seconds(tempo_changes)
    desc = new_song_description(dict(source, duration=round(seconds(end_q), 6)))
    # Main tempo: the one that lasts longest (in quarter notes).
    spans = {}
    for i, (q, bpm) in enumerate(tempo_changes):
        q1 = tempo_changes[i + 1][0] if i + 1 < len(tempo_changes) else max(end_q, q)
        spans[bpm] = spans.get(bpm, 0.0) + (q1 - q)
    desc["bpm"] = round(max(spans, key=spans.get), 3)
    desc["tempo_map"] = [{"time": round(seconds(q), 6), "beat": q, "bpm": round(bpm, 3)} for q, bpm in tempo_changes]
    desc["meter"] = {"numerator": meters[0][1], "denominator": meters[0][2]}
    grid = _beat_grid(end_q, meters)
    desc["beats"] = [{"time": round(seconds(q), 6), "beat": q, "position": pos} for q, pos in grid]
    desc["downbeats"] = [round(seconds(q), 6) for q, pos in grid if pos == 1]
    if notices:
        desc["notices"] = notices
    if not notes:
        desc.setdefault("notices", []).append("no notes: nothing to analyse")
        return desc

    fixed = parse_key(key) if key else None
    net = model if hasattr(model, "analyze") else None
    if model is None:
        from models.analysis.symbolic_net import NetKeyTemplates, default_net
        net = NetKeyTemplates(default_net()) if default_net() is not None else None
    if net is not None:
        fa = net.analyze(notes, end_q, fixed, params)
        method = ("symbolic: neural key finder + chord templates; joint key/chord Viterbi over 24 keys"
                  if hasattr(net, "tables") else
                  "symbolic neural net (dilated conv net: key, root, quality, bass heads); key Viterbi over 24 keys")
    else:
        fa = analyze_notes(notes, end_q, params, fixed, model)
        method = "symbolic chord templates; joint key/chord Viterbi over 24 keys"
    fq = fa.frame_q
    # Key regions from the key path; the main key is the one held longest, unless `home_key` names another.
    regions = []
    for f, k in enumerate(fa.key_path):
        if regions and regions[-1][2] == k:
            regions[-1][1] = f + 1
        else:
            regions.append([f, f + 1, int(k)])
    held = {}
    for f0, f1, k in regions:
        held[k] = held.get(k, 0) + f1 - f0
    main = max(held, key=held.get)
    confidence = held[main] / len(fa.key_path)
    desc["key_regions"] = [{"start": round(seconds(f0 * fq), 6), "end": round(seconds(min(f1 * fq, end_q)), 6),
                            "start_beat": f0 * fq, "end_beat": min(f1 * fq, end_q), "key": key_label(k)}
                           for f0, f1, k in regions]
    desc["chords"] = chord_segments(fa, end_q, seconds)
    home = None if fixed else home_key(desc["chords"], held)
    if home is not None:
        main, confidence = home
        method += "; home key: the chord-sequence key scorer, among the decoded keys"
    tonic_name, _ = key_spelling(main % 12, "major" if main < 12 else "minor")
    desc["key"] = {"tonic": tonic_name, "mode": "major" if main < 12 else "minor", "label": key_label(main),
                   "confidence": round(confidence, 3)}
    desc["harmonic_analysis"] = {"method": method,
                                 "frame_q": fq,
                                 "roman_numerals": [c.get("roman_numeral") for c in desc["chords"]
                                                    if "roman_numeral" in c]}
    return desc


def home_key(chords: list[dict], held: dict) -> tuple[int, float] | None:
    """(key index 0-23, confidence) of the piece's home key by the audio path's chord-sequence key scorer
    (`models.theory.key.estimate_key`, learned on songbook chord plans) over the decoded chords, when that key is
    one the decoded key path visits (`held`: quarters per key index); else None (the key held longest stays).
    The decoded key path names where the music is; the scorer is better at which of those keys is home: on the
    songbook's 200 test songs' MIDI the home key reads 0.898 weighted against 0.856 for the key held longest, on
    the 68 RomanText scores (the first annotated key) 0.894 against 0.790."""
    from models.theory.key import estimate_key, parse_key as parse_key_label
    est = estimate_key([c for c in chords if c.get("label", "N") != "N"])
    parsed = parse_key_label(est["key"]["label"]) if est else None
    if parsed is None:
        return None
    k = parsed[0] + (12 if parsed[1] == "minor" else 0)
    return (k, float(est["key"]["confidence"])) if k in held else None


def chord_segments(fa: FrameAnalysis, end_q: float, seconds) -> list[dict]:
    """Chord segments of a frame analysis: consecutive frames with one chord state (silent frames are 'N'),
    with Harte labels spelled in the local key, Roman numerals and functions (each chord looks at the next one
    in the same key, so applied chords and augmented sixths are named by their resolution)."""
    fq = fa.frame_q
    segs = []
    for f in range(len(fa.chord_path)):
        s = -1 if fa.silent[f] else int(fa.chord_path[f])
        k = int(fa.key_path[f])
        if segs and segs[-1][2] == s and (s == -1 or segs[-1][3] == k):
            segs[-1][1] = f + 1
        elif segs and segs[-1][2] == s and s != -1:
            segs.append([f, f + 1, s, k])
        else:
            segs.append([f, f + 1, s, k])
    out = []
    for i, (f0, f1, s, k) in enumerate(segs):
        q0, q1 = f0 * fq, min(f1 * fq, end_q)
        seg = {"start": round(seconds(q0), 6), "end": round(seconds(q1), 6), "start_beat": q0, "end_beat": q1}
        if s == -1:
            out.append(dict(seg, label="N"))
            continue
        root, quality, bass = fa.states[s]
        tonic, mode = k % 12, ("major" if k < 12 else "minor")
        nxt = None
        if i + 1 < len(segs) and segs[i + 1][2] != -1 and segs[i + 1][3] == k:
            nxt = fa.states[segs[i + 1][2]]
        rn = roman_numeral(root, quality, bass, tonic, mode, nxt)
        root_name = spell_in_key(root, tonic, mode)
        bass_name = spell_in_key(bass, tonic, mode)
        label = harte_label(root_name, quality, (bass - root) % 12)
        out.append(dict(seg, label=label, root=root_name, quality=quality, bass=bass_name,
                        roman_numeral=rn.numeral, function=rn.function, key=key_label(k)))
    return out


def spell_in_key(pc: int, tonic: int, mode: str) -> str:
    """Spell pitch class `pc` on the letter of its scale degree in the key (F# in D major, Bb in F)."""
    tonic_name, tonic_letter = key_spelling(tonic, mode)
    degree, _ = _degree_name((pc - tonic) % 12)
    return spell(tonic_letter + degree - 1, pc)


__all__ = ["Note", "Params", "HarmonyModel", "analyze_midi", "analyze_notes", "read_midi", "read_music21",
           "notes_from_live", "frame_features", "chord_states", "chord_scores", "viterbi_uniform", "joint_viterbi",
           "rule_model", "fit_harmony_model", "default_model", "chord_segments", "parse_key", "key_label",
           "spell_in_key"]
