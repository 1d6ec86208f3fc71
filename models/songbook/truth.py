"""Ground truth of a song from its plan and its MIDI tempo map: never from a detector.

Beats are the tactus (see `grooves.py`): bar b starts at tick b x Time x tpq of the MMA MIDI, beat k of the bar
k x (MMA beats per tactus) x tpq later; seconds come from the MIDI file's own set_tempo events. Chord spans come
from the plan's bar positions the same way. `bpm` and `tempo_map[].bpm` count tactus beats per minute (quarter
notes in 4/4 and 3/4, dotted quarters in 6/8 and 12/8); `tempo_map[].beat` and chords' `start_beat`/`end_beat`
are quarter notes of the MIDI file (DAW beats).
"""
from __future__ import annotations

import re

import jams

from models.theory.harmony import pc_of
from models.theory.roman import roman_numeral
from .midi_tools import TempoMap, chord_ticks
from .plan import SongPlan

SCHEMA_VERSION = "1.0"
_JAMS_ROMAN = re.compile(r"^([b#]?(?:VII|VI|V|IV|III|II|I|vii|vi|v|iv|iii|ii|i))([oø+h]?)(\d{0,2})")

def jams_roman(display: str) -> str | None:
    """Reduce a display Roman numeral ('V7/V', 'IVmaj7', 'viiø7') to jams' chord_roman pattern, or None."""
    main, _, sec = display.partition("/")
    m = _JAMS_ROMAN.match(main)
    if not m:
        return None
    qual = {"ø": "h", "o": "o", "+": "+", "h": "h"}.get(m.group(2), "")
    rest = main[m.end():]
    fig = m.group(3) or ("7" if rest.startswith(("maj7", "7")) else "")
    out = m.group(1) + qual + fig
    if sec and re.fullmatch(r"[b#]?(VII|VI|V|IV|III|II|I|vii|vi|v|iv|iii|ii|i)", sec):
        out += "/" + sec
    return out


def beat_grid(plan: SongPlan, tm: TempoMap) -> list[tuple[float, int, float]]:
    """(seconds, position in bar 1.., MIDI quarter-note beat) of every tactus beat of the song."""
    tpq = tm.tpq
    out = []
    for b in range(plan.bars):
        for k in range(plan.beats_per_bar):
            tick = (b * plan.mma_beats_per_bar + k * plan.mma_beats_per_tactus) * tpq
            out.append((tm.seconds(tick), k + 1, tick / tpq))
    return out


def chord_segments(plan: SongPlan, tm: TempoMap, duration: float) -> list[dict]:
    """Chord segments in seconds (Harte labels, Roman numerals); equal neighbours merged; 'N' after the last bar.

    `roman_numeral` and `function` come from models.theory.roman, so every song speaks one convention (degrees
    from the major scale, applied chords named by their resolution); `roman_source` keeps the numeral the
    progression was written in (curated library or RomanText)."""
    segs: list[dict] = []
    chords = [c for c in plan.chords]
    for i, (c, (t0, t1)) in enumerate(zip(chords, chord_ticks(plan, tm.tpq))):
        ch = c.chord
        nxt = chords[i + 1].chord if i + 1 < len(chords) and chords[i + 1].key_tonic == c.key_tonic else None
        rn = roman_numeral(ch.root, ch.quality, ch.bass, _pc(c.key_tonic), c.key_mode,
                           None if nxt is None else (nxt.root, nxt.quality, nxt.bass))
        seg = {"start": round(tm.seconds(t0), 6), "end": round(tm.seconds(t1), 6), "start_beat": t0 / tm.tpq,
               "end_beat": t1 / tm.tpq, "label": ch.harte, "root": ch.root_name, "quality": ch.quality,
               "bass": ch.bass_name, "roman_numeral": rn.numeral, "roman_source": ch.roman,
               "function": rn.function, "key": f"{c.key_tonic}:{c.key_mode}"}
        if rn.borrowed:
            seg["borrowed"] = True
        if segs and all(segs[-1][k] == seg[k] for k in ("label", "roman_numeral", "key")):
            segs[-1]["end"], segs[-1]["end_beat"] = seg["end"], seg["end_beat"]
        else:
            segs.append(seg)
    end = segs[-1]["end"]
    if duration - end > 1e-3:
        segs.append({"start": end, "end": round(duration, 6), "label": "N"})
    return segs


def _pc(name: str) -> int:
    return pc_of(name)


def key_regions(plan: SongPlan, tm: TempoMap) -> list[dict]:
    """Key regions in seconds (sections in the same key merged); key as 'Eb:major', 'D:dorian'."""
    bar = plan.mma_beats_per_bar * tm.tpq
    out: list[dict] = []
    for s in plan.sections:
        key = f"{s.tonic}:{s.mode}"
        start, end = tm.seconds(s.start_bar * bar), tm.seconds((s.start_bar + s.bars) * bar)
        if out and out[-1]["key"] == key:
            out[-1]["end"] = round(end, 6)
        else:
            out.append({"start": round(start, 6), "end": round(end, 6), "key": key})
    return out


def description(plan: SongPlan, tm: TempoMap, duration: float, audio: dict) -> dict:
    """The song description (project schema 1.0) of a rendered song. `audio` carries paths (relative to the
    songbook folder), loudness and the per-stem MIDI/audio paths."""
    grid = beat_grid(plan, tm)
    bar = plan.mma_beats_per_bar * tm.tpq
    tempo_map = [{"time": round(s, 6), "beat": t / tm.tpq, "bpm": round(q / plan.mma_beats_per_tactus, 3)}
                 for t, s, q in tm.changes() if t < plan.bars * bar]
    home = plan.sections[0]
    desc = {
        "schema_version": SCHEMA_VERSION,
        "source": {"path": audio["mix"], "kind": "audio", "format": "FLAC PCM_16", "sample_rate": audio["sample_rate"],
                   "channels": 2, "duration": round(duration, 6), "loudness_lufs": audio.get("loudness_lufs"),
                   "peak_dbfs": audio.get("peak_dbfs")},
        "bpm": tempo_map[0]["bpm"],
        "tempo_map": tempo_map,
        "meter": {"numerator": int(plan.meter.split("/")[0]), "denominator": int(plan.meter.split("/")[1]),
                  "beats_per_bar": plan.beats_per_bar},
        "beats": [{"time": round(t, 6), "beat": q, "position": p} for t, p, q in grid],
        "downbeats": [round(t, 6) for t, p, _ in grid if p == 1],
        "key": {"tonic": home.tonic, "mode": home.mode, "label": f"{home.tonic}:{home.mode}", "confidence": 1.0},
        "key_regions": key_regions(plan, tm),
        "chords": chord_segments(plan, tm, duration),
        "sections": [{"start": round(tm.seconds(s.start_bar * bar), 6),
                      "end": round(tm.seconds((s.start_bar + s.bars) * bar), 6),
                      "start_beat": s.start_bar * bar / tm.tpq, "end_beat": (s.start_bar + s.bars) * bar / tm.tpq,
                      "label": s.label, "letter": s.letter} for s in plan.sections],
        "genre_analysis": {"primary": plan.family, "confidence": 1.0,
                           "reasons": [f"MMA groove {plan.groove} ({plan.groove_file})"]},
        "harmonic_analysis": {"progressions": [{"section": s.label, "progression": s.progression} for s in
                                               plan.sections]},
        "stems": {k: dict(v) for k, v in audio["stems"].items()},
        "notes": {k: v["midi"] for k, v in audio["stems"].items()},
        "songbook": {"id": plan.id, "split": plan.split, "groove": plan.groove, "groove_file": plan.groove_file,
                     "soundfont": plan.soundfont, "seed": plan.seed, "index": plan.index,
                     "midi": audio["midi"], "mma": audio["mma"], "pad_added": audio.get("pad_added", False),
                     "bass_added": audio.get("bass_added", False)},
    }
    return desc


def to_jams(desc: dict) -> jams.JAMS:
    """JAMS of a song description: beat, chord (Harte), chord_roman, key_mode, segment_open, tempo."""
    dur = desc["source"]["duration"]
    jam = jams.JAMS()
    jam.file_metadata.duration = dur
    sb = desc.get("songbook", {})
    jam.file_metadata.title = sb.get("id", desc["source"].get("path", ""))
    jam.file_metadata.identifiers = {k: sb[k] for k in ("split", "groove", "soundfont") if k in sb}
    meta = dict(annotator={"name": "bandmate songbook"}, data_source="songbook (exact, from MMA source)")

    beat = jams.Annotation("beat", duration=dur, annotation_metadata=jams.AnnotationMetadata(**meta))
    for b in desc["beats"]:
        beat.append(time=b["time"], duration=0.0, value=b["position"], confidence=1.0)
    chord = jams.Annotation("chord", duration=dur, annotation_metadata=jams.AnnotationMetadata(**meta))
    roman = jams.Annotation("chord_roman", duration=dur, annotation_metadata=jams.AnnotationMetadata(**meta))
    full_roman = []
    for c in desc["chords"]:
        chord.append(time=c["start"], duration=c["end"] - c["start"], value=c["label"], confidence=1.0)
        if c.get("roman_numeral"):
            tonic = c["key"].split(":")[0]
            r = jams_roman(c["roman_numeral"])
            if r is not None and re.fullmatch(r"[A-G][b#]?", tonic):
                roman.append(time=c["start"], duration=c["end"] - c["start"], value={"tonic": tonic, "chord": r},
                             confidence=1.0)
            full_roman.append({"time": c["start"], "duration": c["end"] - c["start"], "key": c["key"],
                               "roman_numeral": c["roman_numeral"]})
    roman.sandbox.update(roman_numerals=full_roman)
    key = jams.Annotation("key_mode", duration=dur, annotation_metadata=jams.AnnotationMetadata(**meta))
    for k in desc["key_regions"]:
        key.append(time=k["start"], duration=k["end"] - k["start"], value=k["key"], confidence=1.0)
    seg = jams.Annotation("segment_open", duration=dur, annotation_metadata=jams.AnnotationMetadata(**meta))
    for s in desc["sections"]:
        seg.append(time=s["start"], duration=s["end"] - s["start"], value=s["label"], confidence=1.0)
    tempo = jams.Annotation("tempo", duration=dur, annotation_metadata=jams.AnnotationMetadata(**meta))
    tm = desc["tempo_map"]
    for i, t in enumerate(tm):
        end = tm[i + 1]["time"] if i + 1 < len(tm) else dur
        tempo.append(time=t["time"], duration=max(0.0, end - t["time"]), value=t["bpm"], confidence=1.0)
    for a in (beat, chord, roman, key, seg, tempo):
        jam.annotations.append(a)
    jam.sandbox.update(song_description_path=sb.get("id", "") + ".json", meter=desc.get("meter"),
                       genre=desc.get("genre_analysis", {}).get("primary"), stems=desc.get("stems", {}))
    return jam
