"""The music-theory reading of an analysed song: key and key regions, Roman numerals and functions, named
progressions, cadences, voice leading, harmonic rhythm and harmonic complexity, rhythm (metric hierarchy,
syncopation, density, polyrhythm, complexity) and genre, all filled into the song description.

Inputs are what analysis (audio or MIDI) produced: `bpm`, `meter`, `beats` [{time, position}], `downbeats` [s],
`chords` [{start, end, label (Harte)}], optionally `key` / `key_regions`; optionally per-stem notes
{stem: [(onset_s, offset_s, midi_pitch, velocity)]} and a chromagram. Whatever cannot be computed for lack of
input is left out and said in `notices`.

Harmonic rhythm:
    changes_per_bar = chord changes (a new label, no-chord segments skipped) / bars spanned by the chords
    regularity      = 1 - CV(chord durations in beats), clipped to 0..1 (CV = std / mean; 1 = every chord
                      lasts as long as every other)
Harmonic complexity (0..1):
    score = 0.3 * vocabulary + 0.3 * transitions + 0.25 * non_diatonic + 0.15 * rhythm_variety
    vocabulary     = entropy (bits) of the duration-weighted distribution of chords (Roman numeral) / log2(24)
    transitions    = entropy (bits) of the distribution of chord-to-chord changes (numeral pairs) / log2(48)
    non_diatonic   = share of chords that are applied, borrowed or outside the key (function 'other')
    rhythm_variety = min(1, CV of chord durations in beats)
    (each capped at 1; log2(24) and log2(48) are the entropies of a uniform choice among 24 chords and
    48 changes, more than any song in the songbook uses)
"""
from __future__ import annotations

import math

import numpy as np

from . import rhythm as rh
from .cadences import find_cadences
from .genre import classify_genre
from .harmony import parse_harte
from .key import estimate_key, key_at, parse_key
from .progressions import find_progressions, match_bar_forms
from .roman import analyze_progression
from .voice_leading import DRUM_STEMS, voice_leading

COMPLEXITY_WEIGHTS = {"vocabulary": 0.3, "transitions": 0.3, "non_diatonic": 0.25, "rhythm_variety": 0.15}
BEAT_MATCH_S = 0.06
POLYRHYTHM_BARS = 16  # seconds: an onset this close to a beat is on it


def stem_notes_from_midi(path: str) -> list[tuple[float, float, int, int]]:
    """All notes of a MIDI file (drum channel included) as [(onset_s, offset_s, midi_pitch, velocity)],
    following the file's tempo map."""
    import mido

    notes, open_notes = [], {}
    for t, msg in _timed_messages(mido.MidiFile(path)):
        if msg.type == "note_on" and msg.velocity > 0:
            open_notes.setdefault((msg.channel, msg.note), []).append((t, msg.velocity))
        elif msg.type in ("note_on", "note_off") and open_notes.get((msg.channel, msg.note)):
            start, vel = open_notes[(msg.channel, msg.note)].pop(0)
            notes.append((start, max(t, start + 1e-3), int(msg.note), int(vel)))
    return sorted(notes)


def _timed_messages(mid):
    """(seconds, message) over all tracks merged, honouring tempo changes (mido's own merge and tick->second
    conversion)."""
    t = 0.0
    for msg in mid:  # iterating a MidiFile yields messages with delta times in seconds
        t += msg.time
        if not msg.is_meta:
            yield t, msg


# ------------------------------------------------------------------------------------------------- timing
class BeatClock:
    """Seconds <-> quarter-note beats from the first downbeat, from the description's beats (else bpm)."""

    def __init__(self, song: dict):
        meter = song.get("meter") or {}
        self.num = int(meter.get("numerator", 4))
        self.den = int(meter.get("denominator", 4))
        self.bar_quarters = self.num * 4.0 / self.den
        beats = sorted(song.get("beats") or [], key=lambda b: b["time"])
        self.times = np.array([float(b["time"]) for b in beats])
        positions = [int(b["position"]) for b in beats if "position" in b]
        per_bar = max(positions) if positions else self.num
        self.quarters_per_beat = self.bar_quarters / per_bar if per_bar else 1.0
        first = next((i for i, b in enumerate(beats) if b.get("position") == 1), 0)
        self.offset = first
        self.bpm = float(song.get("bpm") or 0.0)
        downbeats = song.get("downbeats") or []
        self.first_downbeat = float(downbeats[0]) if downbeats else (float(self.times[first]) if len(self.times)
                                                                      else 0.0)
        self.known = len(self.times) >= 2 or self.bpm > 0

    def to_quarters(self, seconds) -> np.ndarray:
        """Quarter-note beats from the first downbeat (extrapolated linearly past the ends)."""
        s = np.asarray(seconds, dtype=float)
        if len(self.times) >= 2:
            idx = np.arange(len(self.times), dtype=float)
            period = float(np.median(np.diff(self.times)))
            b = np.interp(s, self.times, idx)
            b = np.where(s < self.times[0], (s - self.times[0]) / period, b)
            b = np.where(s > self.times[-1], idx[-1] + (s - self.times[-1]) / period, b)
            return (b - self.offset) * self.quarters_per_beat
        return (s - self.first_downbeat) * self.bpm / 60.0


# ------------------------------------------------------------------------------------------------ harmony
def _entropy(weights: dict) -> float:
    total = sum(weights.values())
    if total <= 0:
        return 0.0
    p = np.array([v / total for v in weights.values() if v > 0])
    return float(-(p * np.log2(p)).sum())


def harmonic_rhythm(chords: list[dict], clock: BeatClock, downbeats) -> dict | None:
    """Chord changes per bar and regularity (see the module docstring); None without chords or timing."""
    segs = [c for c in chords if c.get("label") not in ("N", "X", None)]
    if not segs or not clock.known:
        return None
    changes = sum(1 for a, b in zip(segs, segs[1:]) if a["label"] != b["label"]) + 1
    start, end = float(segs[0]["start"]), float(segs[-1]["end"])
    if downbeats is not None and len(downbeats) >= 2:
        db = np.asarray(downbeats, dtype=float)
        bars = float(np.interp(end, db, np.arange(len(db))) - np.interp(start, db, np.arange(len(db))))
        if end > db[-1]:
            bars += (end - db[-1]) / float(np.median(np.diff(db)))
    else:
        q = clock.to_quarters([start, end])
        bars = float(q[1] - q[0]) / clock.bar_quarters
    q = clock.to_quarters([[float(c["start"]), float(c["end"])] for c in segs])
    dur_beats = (q[:, 1] - q[:, 0]) / clock.quarters_per_beat
    cv = float(dur_beats.std() / dur_beats.mean()) if dur_beats.mean() > 0 else 0.0
    bars = float(bars)
    return {"changes_per_bar": round(changes / bars, 4) if bars > 0 else None,
            "bars": round(bars, 3), "changes": changes,
            "mean_chord_beats": round(float(dur_beats.mean()), 3),
            "regularity": round(float(np.clip(1 - cv, 0, 1)), 4), "duration_cv": round(cv, 4),
            "formula": "regularity = 1 - std(chord beats) / mean(chord beats), clipped to 0..1"}


def harmonic_complexity(chords: list[dict], numerals: list, hr: dict | None) -> dict:
    """Harmonic complexity score and components (see the module docstring)."""
    vocab: dict = {}
    trans: dict = {}
    prev = None
    non_diatonic = n = 0
    for c, rn in zip(chords, numerals):
        if rn is None:
            prev = None
            continue
        n += 1
        vocab[rn.numeral] = vocab.get(rn.numeral, 0.0) + float(c["end"]) - float(c["start"])
        non_diatonic += rn.function in ("other", "secondary_dominant") or rn.borrowed
        if prev is not None and prev != rn.numeral:
            trans[(prev, rn.numeral)] = trans.get((prev, rn.numeral), 0) + 1
        prev = rn.numeral
    comps = {"vocabulary": min(1.0, _entropy(vocab) / math.log2(24)),
             "transitions": min(1.0, _entropy(trans) / math.log2(48)),
             "non_diatonic": non_diatonic / n if n else 0.0,
             "rhythm_variety": min(1.0, float((hr or {}).get("duration_cv") or 0.0))}
    score = sum(COMPLEXITY_WEIGHTS[k] * v for k, v in comps.items())
    return {"score": round(score, 4), "components": {k: round(v, 4) for k, v in comps.items()},
            "formula": "0.3*vocabulary + 0.3*transitions + 0.25*non_diatonic + 0.15*rhythm_variety "
                       "(vocabulary = H(chords)/log2 24, transitions = H(chord changes)/log2 48, "
                       "rhythm_variety = min(1, CV of chord beats))"}


# ------------------------------------------------------------------------------------------------- rhythm
def swing_ratio(onsets_q) -> float | None:
    """Median position (0..1) of off-beat eighth onsets inside their quarter-note beat: 0.5 straight, ~0.67
    triplet swing. Counts onsets whose position lies in 0.4..0.8 of the beat; None with fewer than 8."""
    on = np.asarray(onsets_q, dtype=float)
    frac = on - np.floor(on)
    off = frac[(frac > 0.4) & (frac < 0.8)]
    return round(float(np.median(off)), 3) if off.size >= 8 else None


def _on_beat_share(onsets_s, beat_times) -> float:
    if len(beat_times) == 0:
        return 0.0
    on = np.sort(np.asarray(onsets_s, dtype=float))
    if on.size == 0:
        return 0.0
    j = np.clip(np.searchsorted(on, beat_times), 1, max(on.size - 1, 1))
    near = np.minimum(np.abs(on[j - 1] - beat_times), np.abs(on[np.minimum(j, on.size - 1)] - beat_times))
    return float(np.mean(near <= BEAT_MATCH_S))


def rhythmic_analysis(song: dict, notes: dict | None, clock: BeatClock, notices: list) -> tuple[dict, dict]:
    """(rhythmic_analysis dict, extra features for genre)."""
    out: dict = {}
    extra: dict = {"has_drums": False}
    try:
        out["metric_hierarchy"] = rh.metric_hierarchy(clock.num, clock.den)
    except ValueError as exc:
        notices.append("metric hierarchy unavailable: %s" % exc)
    duration = float((song.get("source") or {}).get("duration") or 0.0)
    if not notes:
        notices.append("no notes: syncopation, note density, polyrhythm and rhythmic complexity need notes (a "
                       "separated drum stem, or transcription: the 'transcribe' option, `bandmate analyze "
                       "--transcribe`)")
        return out, extra
    if not duration:
        duration = max((float(n[1]) for lst in notes.values() for n in lst), default=0.0)
    if not clock.known:
        notices.append("no beats or tempo: syncopation, polyrhythm and swing need a beat grid")
    density = {stem: round(rh.note_density([n[0] for n in lst], duration), 3) for stem, lst in notes.items()}
    out["note_density"] = density
    pitched = [n[0] for s, lst in notes.items() if s.lower() not in DRUM_STEMS for n in lst]
    extra["note_density"] = len(pitched) / duration if duration else 0.0
    drums = [n for s, lst in notes.items() if s.lower() in DRUM_STEMS for n in lst]
    if not clock.known:
        return out, extra
    layers_q = {}
    sync: dict = {}
    weights = rh.metric_weights(clock.num, clock.den, 4)
    for stem, lst in notes.items():
        if not lst or stem.lower() in DRUM_STEMS:
            continue
        q = clock.to_quarters([n[0] for n in lst])
        q = q[q >= 0]
        if q.size:
            layers_q[stem] = q
            grid = rh.onsets_to_grid(q, clock.num, clock.den, 4)
            sync.setdefault("lhl", {})[stem] = round(float(rh.lhl_syncopation(grid, weights).mean()), 3)
    if drums:
        extra["has_drums"] = True
        split = rh.split_drum_layers(drums)
        dq = {name: clock.to_quarters(v)[clock.to_quarters(v) >= 0] for name, v in split.items()}
        dq = {k: v for k, v in dq.items() if v.size}
        if dq:
            w = rh.witek_syncopation(dq, clock.num, clock.den)
            sync["witek"] = w
            extra["witek_per_bar"] = w["per_bar"]
            layers_q.update({"drums_" + k: v for k, v in dq.items()})
        extra["drum_density"] = len(drums) / duration if duration else 0.0
        beat_times = clock.times if len(clock.times) else np.array([])
        extra["four_on_floor"] = _on_beat_share(split["kick"], beat_times)
        positions = np.array([int(b.get("position", 0)) for b in sorted(song.get("beats") or [],
                                                                        key=lambda b: b["time"])])
        if clock.num == 4 and len(beat_times):
            extra["backbeat"] = _on_beat_share(split["snare"], beat_times[(positions == 2) | (positions == 4)])
        if dq:
            hat_q = dq.get("hihat", np.array([]))
            all_drum_q = np.sort(np.concatenate(list(dq.values())))
            extra["swing_ratio"] = swing_ratio(hat_q if hat_q.size >= 8 else all_drum_q)
            out["complexity"] = rh.rhythmic_complexity(all_drum_q, clock.num, clock.den)
            out["complexity"]["source"] = "drums (kick, snare, hi-hat)"
        else:
            notices.append("drum notes hold no kick, snare or hi-hat: Witek syncopation left out")
    else:
        notices.append("no drum notes: Witek syncopation and drum features left out")
        if layers_q:
            allq = np.sort(np.concatenate(list(layers_q.values())))
            out["complexity"] = rh.rhythmic_complexity(allq, clock.num, clock.den)
            out["complexity"]["source"] = "all stems"
            extra["swing_ratio"] = swing_ratio(allq)
    if extra.get("swing_ratio") is not None:
        out["swing_ratio"] = extra["swing_ratio"]
    if sync:
        out["syncopation"] = sync
    # cross-rhythms are bar-level patterns: the first POLYRHYTHM_BARS bars show them (and bound the cost of the
    # autocorrelation in rhythm.dominant_period)
    window = POLYRHYTHM_BARS * clock.bar_quarters
    out["polyrhythms"] = rh.polyrhythms({k: v[v < window] for k, v in layers_q.items()})
    return out, extra


# ------------------------------------------------------------------------------------------------ reading
def theory_reading(song: dict, notes: dict | None = None, chroma=None, chroma_times=None) -> dict:
    """Fill the theory fields of a song description (in place) and return it.

    `notes`: {stem: [(onset_s, offset_s, midi_pitch, velocity)]} (a stem named 'drums' is read as General
    MIDI percussion). `chroma`: (frames, 12) chromagram with `chroma_times` (s) per frame, used for the key.
    Fills key (when absent), key_regions (when absent), per-chord roman_numeral / function / key,
    harmonic_analysis, rhythmic_analysis, genre_analysis and notices."""
    notices: list = list(song.get("notices") or [])
    chords = song.get("chords") or []
    clock = BeatClock(song)
    harmonic: dict = {}
    per_chord_keys: list = [None] * len(chords)
    numerals: list = [None] * len(chords)

    if chords:
        est = estimate_key(chords, chroma, chroma_times)
        if est is None:
            notices.append("no chord labels: key, Roman numerals, progressions and cadences need chords")
        else:
            given = parse_key((song.get("key") or {}).get("label") or "")
            if given is None and song.get("key", {}).get("tonic"):
                given = parse_key("%s:%s" % (song["key"]["tonic"], song["key"].get("mode", "major")))
            if given is None:
                song["key"] = est["key"]
            if not song.get("key_regions"):
                song["key_regions"] = est["key_regions"]
                per_chord_keys = est["per_chord"]
            else:
                per_chord_keys = [key_at(song["key_regions"], 0.5 * (float(c["start"]) + float(c["end"])))
                                  if k is not None else None for c, k in zip(chords, est["per_chord"])]
            numerals = _roman_numerals(chords, per_chord_keys)
            for c, k, rn in zip(chords, per_chord_keys, numerals):
                if rn is not None:
                    c["roman_numeral"], c["function"], c["key"] = rn.numeral, rn.function, k
    else:
        notices.append("no chords: harmonic analysis needs chord segments")

    hr = harmonic_rhythm(chords, clock, song.get("downbeats")) if chords else None
    progressions, bar_forms, cadences = [], [], []
    if any(rn is not None for rn in numerals):
        counts: dict = {}
        functions: dict = {}
        for c, rn in zip(chords, numerals):
            if rn is not None:
                d = float(c["end"]) - float(c["start"])
                counts[rn.numeral] = counts.get(rn.numeral, 0) + 1
                functions[rn.function] = round(functions.get(rn.function, 0.0) + d, 6)
        harmonic["roman_numerals"] = {
            "sequence": [rn.numeral if rn is not None else "N" for rn in numerals],
            "counts": dict(sorted(counts.items(), key=lambda kv: -kv[1])),
            "borrowed": sum(1 for rn in numerals if rn is not None and rn.borrowed),
            "applied": sum(1 for rn in numerals if rn is not None and rn.function == "secondary_dominant")}
        harmonic["functions"] = {"seconds": functions}
        progressions = find_progressions(chords, per_chord_keys)
        harmonic["progressions"] = progressions
        if song.get("downbeats"):
            bar_forms = match_bar_forms(chords, per_chord_keys, song["downbeats"])
            if bar_forms:
                harmonic["bar_forms"] = bar_forms
        melody_at = _melody_lookup(notes)
        cadences = find_cadences(chords, per_chord_keys, song.get("beats"), song.get("meter"), melody_at)
        harmonic["cadences"] = cadences
        vl = voice_leading(chords, notes)
        if vl is not None:
            harmonic["voice_leading"] = vl
        if hr is not None:
            harmonic["harmonic_rhythm"] = hr
        elif chords:
            notices.append("no beats or tempo: harmonic rhythm needs a beat grid")
        harmonic["complexity"] = harmonic_complexity(chords, numerals, hr)
        song["harmonic_analysis"] = harmonic

    rhythmic, extra = rhythmic_analysis(song, notes, clock, notices)
    if rhythmic:
        song["rhythmic_analysis"] = rhythmic

    if song.get("bpm") or chords:
        features_in = {"bpm": song.get("bpm"), "meter": song.get("meter"), "key": song.get("key"),
                       "chords": [dict(c, borrowed=bool(rn is not None and rn.borrowed))
                                  for c, rn in zip(chords, numerals)],
                       "progressions": progressions, "bar_forms": bar_forms, "harmonic_rhythm": hr, **extra}
        g = classify_genre(features_in)
        song["genre_analysis"] = {"primary": g["primary"], "secondary": g["secondary"],
                                  "confidence": g["confidence"], "reasons": g["reasons"],
                                  "probabilities": g["probabilities"]}
    else:
        notices.append("no tempo and no chords: genre needs musical features")
    if notices:
        song["notices"] = list(dict.fromkeys(notices))
    return song


def _roman_numerals(chords: list[dict], keys: list) -> list:
    """Roman numerals per chord, each run of one key analysed together so applied chords see their target."""
    out: list = [None] * len(chords)
    i = 0
    while i < len(chords):
        if keys[i] is None:
            i += 1
            continue
        j = i
        while j + 1 < len(chords) and keys[j + 1] == keys[i]:
            j += 1
        key = parse_key(keys[i])
        idx, triples = [], []
        for k in range(i, j + 1):
            try:
                p = parse_harte(str(chords[k].get("label", "N")))
            except ValueError:
                p = None
            if p is not None:
                idx.append(k)
                triples.append(p)
        if key is not None:
            for k, rn in zip(idx, analyze_progression(triples, key[0], key[1])):
                out[k] = rn
        i = j + 1
    return out


def _melody_lookup(notes: dict | None):
    """time_s -> highest pitched MIDI note sounding (prefers a 'melody' or 'vocals' stem), or None."""
    if not notes:
        return None
    stems = [s for s in notes if s.lower() in ("melody", "vocals", "lead")] or \
        [s for s in notes if s.lower() not in DRUM_STEMS]
    arr = np.array([(float(n[0]), float(n[1]), int(n[2])) for s in stems for n in notes[s]])
    if arr.size == 0:
        return None

    def at(t: float):
        sel = (arr[:, 0] <= t) & (arr[:, 1] > t)
        return int(arr[sel, 2].max()) if sel.any() else None
    return at


__all__ = ["theory_reading", "stem_notes_from_midi", "harmonic_rhythm", "harmonic_complexity", "swing_ratio",
           "rhythmic_analysis", "BeatClock"]
