"""Song description -> JAMS, a chord-track MIDI file, RomanText.

- `to_jams(song)`: the MIR annotation standard (`jams` package): beat, chord (Harte), key_mode, segment_open,
  tempo annotations, validated against jams' namespace schemas.
- `write_chord_midi(song, path)`: a type-1 Standard MIDI File with a conductor track (tempo, time signature and
  key signature meta events) and one block chord per chord segment in a middle register (voice-led: each chord
  takes the inversion nearest the previous one), plus an optional bass track with the chord's bass note.
- `to_romantext(song)`: RomanText (the format of music21's analyses, Gotham & Tymoczko) with Composer, Title,
  Analyst and Time Signature lines and one line per measure with beat positions and key changes.

Units: the song description's times are seconds; musical positions (quarter notes) come from each chord's
`start_beat` where the analysis wrote it, else from the tempo map (`tempo_map`, else `bpm`, else beats).
"""
from __future__ import annotations

import re
from bisect import bisect_right

from models.theory.harmony import QUALITIES, parse_harte, pc_of

TICKS_PER_QUARTER = 480
CHORD_REGISTER = (52, 64)       # MIDI pitches: the lowest chord note lies in [E3, E4)
BASS_REGISTER = (36, 48)        # MIDI pitches: bass notes lie in [C2, C3)
# mido's key_signature spellings (Standard MIDI Files store sharps/flats count and mode).
_MIDO_MAJOR = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_MIDO_MINOR = ("Cm", "C#m", "Dm", "Ebm", "Em", "Fm", "F#m", "Gm", "G#m", "Am", "Bbm", "Bm")


# ------------------------------------------------------------------------------------------------ timing
class SongClock:
    """Seconds <-> quarter notes of a song description, from its tempo map (or one tempo: `bpm`, else the
    median beat period with the meter's beat unit, else 120 BPM, the MIDI default)."""

    def __init__(self, song: dict):
        tm = sorted(song.get("tempo_map") or [], key=lambda t: t["time"])
        if not tm:
            tm = [{"time": 0.0, "bpm": float(song.get("bpm") or self._beats_bpm(song) or 120.0)}]
        if tm[0]["time"] > 0:
            tm.insert(0, {"time": 0.0, "bpm": tm[0]["bpm"]})
        self.times = [float(t["time"]) for t in tm]
        self.bpms = [float(t["bpm"]) for t in tm]
        self.quarters = [0.0]
        for i in range(1, len(tm)):
            self.quarters.append(self.quarters[-1] + (self.times[i] - self.times[i - 1]) * self.bpms[i - 1] / 60.0)

    @staticmethod
    def _beats_bpm(song: dict) -> float | None:
        times = sorted(b["time"] for b in song.get("beats") or [])
        if len(times) < 2:
            return None
        gaps = sorted(b - a for a, b in zip(times, times[1:]) if b > a)
        if not gaps:
            return None
        unit_q = beat_unit_q(meter_of(song))
        return 60.0 / gaps[len(gaps) // 2] * unit_q

    def quarter(self, seconds: float) -> float:
        """Quarter notes at `seconds`."""
        i = max(0, bisect_right(self.times, seconds) - 1)
        return self.quarters[i] + (seconds - self.times[i]) * self.bpms[i] / 60.0

    def changes(self) -> list[tuple[float, float]]:
        """Tempo changes as (quarter note, bpm)."""
        return list(zip(self.quarters, self.bpms))


def meter_of(song: dict) -> tuple[int, int]:
    """(numerator, denominator) of the song's meter, 4/4 when absent."""
    m = song.get("meter") or {}
    return int(m.get("numerator", 4)), int(m.get("denominator", 4))


def beat_unit_q(meter: tuple[int, int]) -> float:
    """Quarter notes per counted beat: the denominator's note, dotted in compound meters (6/8, 9/8, 12/8)."""
    num, den = meter
    return 4.0 / den * (3 if den >= 8 and num % 3 == 0 and num > 3 else 1)


def _chord_quarters(song: dict, clock: SongClock) -> list[tuple[float, float, dict]]:
    """(start, end in quarter notes, chord) of every chord segment, sorted."""
    out = []
    for c in song.get("chords") or []:
        q0 = float(c["start_beat"]) if c.get("start_beat") is not None else clock.quarter(c["start"])
        q1 = float(c["end_beat"]) if c.get("end_beat") is not None else clock.quarter(c["end"])
        if q1 > q0:
            out.append((q0, q1, c))
    return sorted(out, key=lambda x: x[0])


_MODE_TO_PARENT = {"dorian": 2, "phrygian": 4, "lydian": 5, "mixolydian": 7}  # semitones above the major parent


def mido_key_signature(tonic_pc: int, mode: str) -> str:
    """mido's key_signature name for a key: major and minor as they are; a church mode gets its parent scale's
    signature (D dorian -> 'Am' ... written as the relative minor for minor-like modes, the major otherwise)."""
    if mode in _MODE_TO_PARENT:
        parent = (tonic_pc - _MODE_TO_PARENT[mode]) % 12
        return _MIDO_MINOR[(parent + 9) % 12] if mode in ("dorian", "phrygian") else _MIDO_MAJOR[parent]
    return (_MIDO_MINOR if mode == "minor" else _MIDO_MAJOR)[tonic_pc % 12]


def _key_of(label: str) -> tuple[int, str, str] | None:
    """(tonic pc, mode, tonic name) of 'Eb:major' / 'F#:minor' (church modes map to their major/minor parent);
    None for 'N' or unreadable labels."""
    m = re.fullmatch(r"([A-G][b#]?):?(\w*)", label or "")
    if not m:
        return None
    mode = "minor" if m.group(2) in ("minor", "min", "aeolian", "dorian", "phrygian", "locrian") else "major"
    return pc_of(m.group(1)), mode, m.group(1)


# ------------------------------------------------------------------------------------------------ JAMS
def to_jams(song: dict, validate: bool = True):
    """A `jams.JAMS` of a song description: beat (value = position in bar), chord (Harte), key_mode (key
    regions, else the main key), segment_open (sections), tempo (tempo map, else bpm). Only what the description
    has is written. Validates against jams' schemas unless `validate` is False (raises jams.SchemaError)."""
    import jams
    dur = float(song["source"]["duration"])
    jam = jams.JAMS()
    jam.file_metadata.duration = dur
    jam.file_metadata.title = song.get("title") or song["source"].get("path", "")
    meta = jams.AnnotationMetadata(annotator={"name": "bandmate"}, data_source="bandmate analysis")

    def annotation(namespace):
        a = jams.Annotation(namespace, duration=dur, annotation_metadata=meta)
        jam.annotations.append(a)
        return a

    if song.get("beats"):
        a = annotation("beat")
        for b in song["beats"]:
            a.append(time=b["time"], duration=0.0, value=b.get("position"), confidence=None)
    if song.get("chords"):
        a = annotation("chord")
        for c in song["chords"]:
            a.append(time=c["start"], duration=max(0.0, c["end"] - c["start"]), value=c["label"],
                     confidence=c.get("confidence"))
        a.sandbox.update(roman_numerals=[{"time": c["start"], "roman_numeral": c["roman_numeral"],
                                          "function": c.get("function"), "key": c.get("key")}
                                         for c in song["chords"] if c.get("roman_numeral")])
    regions = song.get("key_regions") or []
    if not regions and song.get("key", {}).get("label"):
        regions = [{"start": 0.0, "end": dur, "key": song["key"]["label"]}]
    if regions:
        a = annotation("key_mode")
        for r in regions:
            a.append(time=r["start"], duration=max(0.0, r["end"] - r["start"]), value=r["key"], confidence=None)
    if song.get("sections"):
        a = annotation("segment_open")
        for s in song["sections"]:
            a.append(time=s["start"], duration=max(0.0, s["end"] - s["start"]), value=s["label"], confidence=None)
    tempo_map = song.get("tempo_map") or ([{"time": 0.0, "bpm": song["bpm"]}] if song.get("bpm") else [])
    if tempo_map:
        a = annotation("tempo")
        for i, t in enumerate(tempo_map):
            end = tempo_map[i + 1]["time"] if i + 1 < len(tempo_map) else dur
            a.append(time=t["time"], duration=max(0.0, end - t["time"]), value=float(t["bpm"]), confidence=1.0)
    jam.sandbox.update(meter=song.get("meter"), schema_version=song.get("schema_version"))
    if validate:
        jam.validate()
    return jam


# ------------------------------------------------------------------------------------------------ MIDI
def _voicing(pcs: list[int], previous: list[int] | None) -> list[int]:
    """Close-position voicing of pitch classes `pcs` (root first) with its lowest note in CHORD_REGISTER: of
    every inversion there, the one whose notes move least from `previous` (the first chord sits root-position
    nearest the register's middle)."""
    lo, hi = CHORD_REGISTER
    best, best_cost = None, None
    for rot in range(len(pcs)):
        order = pcs[rot:] + pcs[:rot]
        for base in range(lo, hi):
            if base % 12 != order[0]:
                continue
            notes = [base]
            for pc in order[1:]:
                n = notes[-1] + 1
                while n % 12 != pc:
                    n += 1
                notes.append(n)
            if previous:
                cost = sum(min(abs(n - p) for p in previous) for n in notes) + \
                    sum(min(abs(p - n) for n in notes) for p in previous)
            else:
                cost = abs(base - (lo + hi) / 2) + (0 if rot == 0 else 12)
            if best_cost is None or cost < best_cost:
                best, best_cost = notes, cost
    return best


def write_chord_midi(song: dict, path: str, bass: bool = True, program: int = 0, velocity: int = 80,
                     bass_program: int = 32) -> str:
    """Write the song's chord segments as a type-1 MIDI file at `path` (returns `path`): track 0 holds tempo,
    time signature and key signature meta events (key changes at each key region), track 1 one block chord per
    segment on channel 1 (`program`, General MIDI number 0-127), track 2 (when `bass`) the chord's bass note
    on channel 2 (`bass_program`). Chords Bandmate cannot spell into pitches ('N', unknown qualities) are
    rests. Times: see the module doc; ticks at TICKS_PER_QUARTER per quarter note."""
    import mido
    clock = SongClock(song)
    tpq = TICKS_PER_QUARTER
    tick = lambda q: int(round(q * tpq))  # noqa: E731 - quarter notes -> ticks
    conductor = []  # (tick, order, message)
    for q, bpm in clock.changes():
        conductor.append((tick(q), 0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm))))
    num, den = meter_of(song)
    conductor.append((0, 1, mido.MetaMessage("time_signature", numerator=num, denominator=den)))
    regions = song.get("key_regions") or []
    if not regions and song.get("key", {}).get("label"):
        regions = [{"start": 0.0, "key": song["key"]["label"]}]
    last = None
    for r in sorted(regions, key=lambda r: r["start"]):
        k = _key_of(r["key"])
        if k is None or k[:2] == last:
            continue
        last = k[:2]
        name = mido_key_signature(k[0], k[1])
        q = r["start_beat"] if r.get("start_beat") is not None else clock.quarter(r["start"])
        conductor.append((tick(q), 2, mido.MetaMessage("key_signature", key=name)))
    chord_events, bass_events, previous = [], [], None
    for q0, q1, c in _chord_quarters(song, clock):
        try:
            parsed = parse_harte(c["label"])
        except ValueError:
            parsed = None
        if parsed is None:
            continue
        root, quality, bass_pc = parsed
        pcs = []
        for iv in QUALITIES[quality][0]:
            if (root + iv) % 12 not in pcs:
                pcs.append((root + iv) % 12)
        notes = _voicing(pcs, previous)
        previous = notes
        t0, t1 = tick(q0), tick(q1)
        for n in notes:
            chord_events += [(t0, 1, mido.Message("note_on", channel=0, note=n, velocity=velocity)),
                             (t1, 0, mido.Message("note_off", channel=0, note=n, velocity=0))]
        if bass:
            b = BASS_REGISTER[0] + (bass_pc - BASS_REGISTER[0]) % 12
            bass_events += [(t0, 1, mido.Message("note_on", channel=1, note=b, velocity=velocity)),
                            (t1, 0, mido.Message("note_off", channel=1, note=b, velocity=0))]
    mid = mido.MidiFile(type=1, ticks_per_beat=tpq)
    tracks = [("conductor", conductor, None), ("chords", chord_events, (0, program))]
    if bass:
        tracks.append(("bass", bass_events, (1, bass_program)))
    for name, events, prog in tracks:
        tr = mido.MidiTrack()
        tr.append(mido.MetaMessage("track_name", name=name, time=0))
        if prog is not None:
            tr.append(mido.Message("program_change", channel=prog[0], program=prog[1], time=0))
        now = 0
        for t, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
            tr.append(msg.copy(time=t - now))
            now = t
        tr.append(mido.MetaMessage("end_of_track", time=0))
        mid.tracks.append(tr)
    mid.save(path)
    return path


# ------------------------------------------------------------------------------------------------ RomanText
def _rntxt_key(tonic_name: str, mode: str) -> str:
    """RomanText key token: upper case major ('Eb:'), lower case minor ('f#:')."""
    return (tonic_name if mode == "major" else tonic_name[0].lower() + tonic_name[1:]) + ":"


def _figure(c: dict, key: tuple[int, str, str]) -> str | None:
    """The chord's Roman numeral as music21 reads it in the key: music21's own naming of the chord's pitches
    (bass first) when music21 is installed, which reads back to the same pitches; else the analysis'
    `roman_numeral` (pop convention: flats count from the major scale, so minor-key numerals such as 'bVI'
    may read differently). None when the chord has no pitches ('N')."""
    try:
        parsed = parse_harte(c["label"])
    except ValueError:
        parsed = None
    if parsed is None:
        return None
    root, quality, bass = parsed
    try:
        from music21 import chord as m21chord, key as m21key, roman as m21roman
    except ImportError:
        return c.get("roman_numeral")
    pcs = [bass] + [(root + iv) % 12 for iv in QUALITIES[quality][0] if (root + iv) % 12 != bass]
    pitches, last = [], 47
    for pc in pcs:                         # stack upwards from the bass so music21 sees the inversion
        n = last + 1
        while n % 12 != pc:
            n += 1
        pitches.append(n)
        last = n
    tonic = key[2].replace("b", "-") if len(key[2]) > 1 else key[2]
    k = m21key.Key(tonic if key[1] == "major" else tonic.lower())
    figure = m21roman.romanNumeralFromChord(m21chord.Chord(pitches), k).figure
    # music21 spells alterations it could leave implied ('V75#3' for V7 in minor): keep the shortest figure
    # that reads back to the same pitch classes and bass.
    plain = re.sub(r"[#b]\d+", "", figure)
    candidates = [figure, plain, re.sub(r"(?<=7)5$|(?<=[IViv])53?$", "", plain)]
    target = ({p % 12 for p in pitches}, bass)
    best = figure
    for cand in sorted(set(candidates), key=len):
        try:
            rn = m21roman.RomanNumeral(cand, k)
            if ({p.pitchClass for p in rn.pitches}, rn.bass().pitchClass) == target:
                best = cand
                break
        except Exception:  # noqa: BLE001 - an unreadable candidate is simply not taken
            continue
    return best


def _beat_text(b: float) -> str:
    return ("%.2f" % b).rstrip("0").rstrip(".")


def to_romantext(song: dict, composer: str = "", title: str = "", analyst: str = "Bandmate") -> str:
    """RomanText of the song's chords and keys. Measures are counted from quarter note 0 in the song's meter
    (first meter only); beats are the meter's counting unit (`beat_unit_q`), written 'b2', 'b2.5'; a key token
    ('G:', 'e:') stands before the first chord and before every chord whose key differs from the previous one.
    Chords without pitches ('N') are left out (the previous chord holds). Each chord's key is its `key` field,
    else the key region holding its start, else the main key."""
    clock = SongClock(song)
    num, den = meter_of(song)
    bar_q = num * 4.0 / den
    unit_q = beat_unit_q((num, den))
    regions = sorted(song.get("key_regions") or [], key=lambda r: r["start"])
    main = song.get("key", {}).get("label")
    source = song.get("source", {})
    lines = ["Composer: " + (composer or "unknown"),
             "Title: " + (title or source.get("path") or "untitled").replace("\n", " "),
             "Analyst: " + analyst,
             "Time Signature: %d/%d" % (num, den), ""]
    measures: dict[int, list[str]] = {}
    current_key = None
    for q0, _, c in _chord_quarters(song, clock):
        label = c.get("key")
        if not label:
            inside = [r for r in regions if r["start"] <= c["start"] + 1e-6]
            label = inside[-1]["key"] if inside else main
        key = _key_of(label) if label else None
        if key is None:
            continue
        fig = _figure(c, key)
        if not fig:
            continue
        bar = int(q0 // bar_q + 1e-9)
        beat = 1.0 + (q0 - bar * bar_q) / unit_q
        tokens = measures.setdefault(bar + 1, [])
        tokens.append("b" + _beat_text(beat) if beat > 1.0 + 1e-6 or tokens else "")
        if key[:2] != current_key:
            tokens.append(_rntxt_key(key[2], key[1]))
            current_key = key[:2]
        tokens.append(fig)
    for m in sorted(measures):
        lines.append(("m%d " % m + " ".join(t for t in measures[m] if t)).rstrip())
    return "\n".join(lines) + "\n"


__all__ = ["to_jams", "write_chord_midi", "to_romantext", "SongClock", "meter_of", "beat_unit_q"]
