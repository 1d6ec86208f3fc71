"""The real-music set: music21's 68 RomanText analyses (20 Bach chorales, 48 Monteverdi madrigals) with their
scores, rendered to audio with expert harmonic annotation aligned to it.

Alignment: every piece is played at one tempo (`bpm` quarter notes per minute, default 80); music21 writes the
score as MIDI with that single tempo, and seconds are read back from the MIDI file's tempo map, so score offset q
(quarter notes) sits at q x 60 / bpm seconds. A Roman numeral at measure m, offset o (quarter notes into the
measure's written content) sits at the score's measure m offset + o (repeats are not expanded: the score plays
once as written, as the analyses number it): music21 pads pickup measures the same way in
the RomanText and in the score. Numerals in measures the score lacks are dropped. Two repairs first
(`repair_overfull_measures`, `content_alignment`): measures a voice overfills with duplicated rests (24 madrigal
files) are trimmed so the voices stay together, and numerals move by whole bars where an analysis numbers its
measures against another edition (madrigals 4.1 and 4.2 leave out written-out repeats); score passages no
numeral covers get no chord (label 'N'). Each chord lasts until the next
numeral (the last one to the end of its measure). A few corpus chorales are printed in another key than the
analysed edition: `transposition` finds the shift where the analysis' roots sound, and the score is transposed
to the analysis' key before rendering (recorded as `songbook.transposed_semitones`). Beats are the time signature's beat unit (dotted quarter in 6/8,
half in 2/2 and 3/2), from each measure's time signature; pickup beats count from their place in the bar.

Output, like the songbook's: OUT/index.json, OUT/pieces/<id>/{<id>.mid, stems/<part>.mid, mix.flac,
stems/<part>.flac, <id>.json, <id>.jams}. Stems are the score's parts (voices), rendered separately and summed.
"""
from __future__ import annotations

import json
import os
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context

import mido
import numpy as np

from models.theory.harmony import DEGREE_NAMES, bass_degree, quality_from_intervals
from .midi_tools import TempoMap
from .progressions import rntxt_paths
from .render import SAMPLE_RATE, normalise, render_midi, write_audio
from .truth import SCHEMA_VERSION, to_jams

TAIL_SECONDS = 2.0
# GM programs per collection, rotated by piece: church organ, choir aahs, strings, reed organ / recorder ...
PROGRAMS = {"bach": (19, 52, 48, 20, 0), "monteverdi": (52, 53, 48, 74, 19)}


def m21_name(pitch_name: str) -> str:
    """music21 spelling ('B-', 'F#') -> ours ('Bb', 'F#')."""
    return pitch_name.replace("-", "b")


def harte_of_rn(rn) -> tuple[str, str, str, str]:
    """(Harte label, root name, quality, bass name) of a music21 RomanNumeral; unknown pitch sets get Harte's
    explicit degree list, e.g. 'Ab:(3,5,b7)' -> augmented sixths keep their real pitches."""
    root = rn.root()
    rname, bname = m21_name(root.name), m21_name(rn.bass().name)
    ivs = {(p.pitchClass - root.pitchClass) % 12 for p in rn.pitches}
    b_iv = (rn.bass().pitchClass - root.pitchClass) % 12
    q = quality_from_intervals(ivs)
    if q is not None:
        label = f"{rname}:{q}" + (f"/{bass_degree(q, b_iv)}" if b_iv else "")
        return label, rname, q, bname
    if not ivs - {0}:                       # a bare root (unison / octaves): Harte '1'
        return f"{rname}:1" + (f"/{DEGREE_NAMES[b_iv]}" if b_iv else ""), rname, "1", bname
    degs = ",".join(DEGREE_NAMES[i] for i in sorted(ivs - {0}))
    label = f"{rname}:({degs})" + (f"/{DEGREE_NAMES[b_iv]}" if b_iv else "")
    return label, rname, "(" + degs + ")", bname


def _corpus_relpath(path: str) -> str:
    """Path inside music21's corpus folder, e.g. 'bach/choraleAnalyses/riemenschneider001.rntxt'."""
    import music21
    return os.path.relpath(path, os.path.join(os.path.dirname(music21.__file__), "corpus"))


def piece_list() -> list[dict]:
    """The 68 pieces: id, analysis path, score corpus name, collection."""
    out = []
    for p in rntxt_paths():
        base = os.path.splitext(os.path.basename(p))[0]
        if "bach" in p:
            with open(p, encoding="utf-8", errors="replace") as f:
                m = re.search(r"^BWV:\s*([\d.]+)", f.read(), re.M)
            score = f"bach/bwv{m.group(1)}" if m else None
            out.append({"id": f"bach-{base}", "rntxt": p, "score": score, "collection": "bach"})
        else:
            out.append({"id": f"monteverdi-{base}", "rntxt": p, "score": f"monteverdi/{base}",
                        "collection": "monteverdi"})
    return out


def remove_chord_symbols(score) -> int:
    """Remove chord symbols (music21 Harmony objects) from `score`; returns how many. 43 of the corpus' Monteverdi
    madrigals carry a few stray ones (bare letters such as 'E', 'D' or 'A' attached to the voices; madrigals are
    unaccompanied), and music21's MIDI writer sounds each as a triad held until the part's next chord symbol:
    an E major drone under a passage in G minor. They are not the music, so they never reach the audio."""
    from music21 import harmony
    found = list(score.recurse().getElementsByClass(harmony.Harmony))
    for h in found:
        if h.activeSite is not None:
            h.activeSite.remove(h)
    if found:
        score.coreElementsChanged()
    return len(found)


def _score_midi(score, bpm: float, path: str, program: int) -> mido.MidiFile:
    """Write `score` as MIDI at one tempo, every part on `program`; returns the mido file. Chord symbols are
    removed first (remove_chord_symbols): only the voices sound."""
    from music21 import bar, repeat, spanner, tempo
    remove_chord_symbols(score)
    for mm in list(score.recurse().getElementsByClass(tempo.MetronomeMark)):
        mm.activeSite.remove(mm)
    # Play the score once as written: music21 would expand repeats, which the analyses' measure numbers do not.
    for m in score.recurse().getElementsByClass("Measure"):
        if isinstance(m.leftBarline, bar.Repeat):
            m.leftBarline = bar.Barline("regular")
        if isinstance(m.rightBarline, bar.Repeat):
            m.rightBarline = bar.Barline("final")
    for el in list(score.recurse().getElementsByClass((repeat.RepeatExpression, spanner.RepeatBracket))):
        if el.activeSite is not None:
            el.activeSite.remove(el)
    score.parts[0].getElementsByClass("Measure")[0].insert(0, tempo.MetronomeMark(number=bpm))
    score.write("midi", fp=path)
    mid = mido.MidiFile(path)
    for tr in mid.tracks:
        chans = sorted({m.channel for m in tr if hasattr(m, "channel")})
        for m in [m for m in tr if m.type == "program_change"]:
            tr.remove(m)
        for ch in chans:
            tr.insert(0, mido.Message("program_change", channel=ch, program=program, time=0))
    mid.save(path)
    return mid


def repair_overfull_measures(score) -> int:
    """Trim measures that hold more than their time signature allows when the surplus is rests only, and lay
    every part's measures end to end again; returns how many measures were trimmed. Why: 24 of the corpus'
    Monteverdi madrigals (Sibelius/Dolet MusicXML) write a whole-bar rest twice in some measures of some
    voices, so music21 makes those measures 8 quarter notes long in that voice alone; every later note of the
    voice then sounds late, and the voices drift apart and away from the analysis' measure offsets."""
    from music21 import stream
    trimmed = 0
    for part in score.parts:
        ts, offset = None, 0.0
        for m in list(part.getElementsByClass(stream.Measure)):
            ts = m.timeSignature or ts
            bar = float(ts.barDuration.quarterLength) if ts is not None else None
            if bar is not None and float(m.duration.quarterLength) > bar + 1e-6:
                late = [e for e in m.recurse().notesAndRests if float(e.getOffsetInHierarchy(m)) >= bar - 1e-6]
                if late and all(e.isRest for e in late):
                    for e in late:
                        e.activeSite.remove(e)
                    m.duration = None          # back to the length of what the measure holds
                    trimmed += 1
            part.setElementOffset(m, offset)
            offset += float(m.duration.quarterLength)
        part.coreElementsChanged()
    score.coreElementsChanged()
    return trimmed


def aligned_numerals(score, analysis) -> list:
    """[(score offset in quarter notes, music21 RomanNumeral)] sorted by offset: each numeral of the RomanText
    `analysis` at its measure's offset in the score (the first score measure of that number: a measure split
    by a repeat sign continues in the next one) plus its offset in the measure. Numerals in measures the score
    lacks are dropped. Call `repair_overfull_measures(score)` first."""
    from music21 import roman, stream
    measures = {}
    for m in score.parts[0].getElementsByClass(stream.Measure):
        measures.setdefault(m.number, m)
    rns = []
    for m in analysis.parts[0].getElementsByClass(stream.Measure):
        if m.number not in measures:
            continue
        for rn in m.getElementsByClass(roman.RomanNumeral):
            rns.append((float(measures[m.number].offset) + float(rn.offset), rn))
    rns.sort(key=lambda x: x[0])
    return rns


def content_alignment(score, rns: list, end_q: float, max_shift: int = 96, change_cost: float = 8.0) -> list:
    """[(start, end, RomanNumeral)] in score quarter notes: the numerals of `aligned_numerals` moved by a
    piecewise-constant shift (whole quarter notes) where the analysis' measure numbers do not follow the score.
    Why: a few analyses number measures against another edition (madrigal 4.2 leaves out a written-out repeat
    of 11 bars and numbers on, so its m39 is the score's m50; 4.1 likewise from its m68, 12 bars). Each numeral's shift maximises how many of its pitch classes sound in its
    span (weighted by the span's length in quarter notes); the path starts at shift 0, a change costs
    `change_cost`, shifts only grow (the analysis may skip score passages, never re-read one) and always move
    a measure onto the start of a score measure, so the measure-number alignment stays unless whole passages
    agree better further on.
    Spans end at the next numeral (under its own shift, so skipped score passages get no label) or at the end
    of the analysis' last measure. Call after any transposition, on the score as it will sound."""
    if not rns:
        return []
    from music21 import stream
    res = 2                                              # grid cells per quarter note
    n_cells = int(np.ceil(end_q * res)) + 1
    sounding = np.zeros((n_cells, 12), dtype=bool)
    for n in score.flatten().notes:
        a, b = float(n.offset), float(n.offset + n.quarterLength)
        if b <= a:
            continue
        c0, c1 = int(np.floor(a * res + 1e-9)), max(int(np.ceil(b * res - 1e-9)), int(np.floor(a * res + 1e-9)) + 1)
        for p in n.pitches:
            sounding[c0:min(c1, n_cells), p.pitchClass] = True
    # The last numeral lasts to the end of its measure (the score's, which may hold a longer final note).
    last_m = rns[-1][1].getContextByClass(stream.Measure)
    last_end = rns[-1][0] - float(rns[-1][1].offset) + (float(last_m.duration.quarterLength) if last_m else 4.0)
    for m in score.parts[0].getElementsByClass(stream.Measure):
        if float(m.offset) <= rns[-1][0] < float(m.offset + m.duration.quarterLength):
            last_end = max(last_end, float(m.offset + m.duration.quarterLength))
    ends = [rns[i + 1][0] for i in range(len(rns) - 1)] + [min(last_end, end_q)]
    shifts = np.arange(-max_shift, max_shift + 1)
    emit = np.zeros((len(rns), len(shifts)))
    cum = np.vstack([np.zeros((1, 12)), np.cumsum(sounding, axis=0)])
    for i, (q, rn) in enumerate(rns):
        pcs = sorted({p.pitchClass for p in rn.pitches})
        dur = max(ends[i] - q, 0.0)
        if dur <= 0 or not pcs:
            continue
        a = np.clip(np.floor((q + shifts) * res + 1e-9).astype(int), 0, n_cells)
        b = np.clip(np.ceil((ends[i] + shifts) * res - 1e-9).astype(int), 0, n_cells)
        hit = (cum[b][:, pcs] - cum[a][:, pcs]) > 0
        emit[i] = min(dur, 4.0) * hit.mean(axis=1) * (b > a)
    # A numeral's measure may only land on the start of a score measure (no sub-bar drift).
    starts = np.array(sorted({round(float(m.offset), 4) for m in score.parts[0].getElementsByClass(stream.Measure)}))
    for i, (q, rn) in enumerate(rns):
        target = q - float(rn.offset) + shifts
        near = np.abs(starts[np.clip(np.searchsorted(starts, target), 0, len(starts) - 1)] - target) < 1e-3
        near |= np.abs(starts[np.clip(np.searchsorted(starts, target) - 1, 0, len(starts) - 1)] - target) < 1e-3
        emit[i, ~near] = -4.0 * change_cost
    zero = int(np.where(shifts == 0)[0][0])
    delta = np.where(shifts == 0, emit[0], -np.inf)
    back = np.zeros((len(rns), len(shifts)), dtype=int)
    for i in range(1, len(rns)):
        # Shifts only grow: the analysis may skip score passages (a written-out repeat), never re-read one.
        pre_arg = np.zeros(len(shifts), dtype=int)
        best = 0
        for s_ in range(len(shifts)):
            if delta[s_] > delta[best]:
                best = s_
            pre_arg[s_] = best
        jump = delta[pre_arg] - change_cost
        stay = (delta > jump) | (pre_arg == np.arange(len(shifts)))   # on a tie, jump as late as possible
        back[i] = np.where(stay, np.arange(len(shifts)), pre_arg)
        delta = np.where(stay, delta, jump) + emit[i]
    path = np.zeros(len(rns), dtype=int)
    path[-1] = int(np.argmax(delta)) if delta.max() > delta[zero] else zero
    for i in range(len(rns) - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    out = []
    for i, (q, rn) in enumerate(rns):
        d = float(shifts[path[i]])
        a, b = q + d, min(ends[i] + d, end_q)
        if b > a and a >= 0:
            out.append((a, b, rn))
    return out


def transposition(score, rns: list, end_q: float) -> tuple[int, float]:
    """(k, agreement): the score sounds the analysis k semitones up (some corpus chorales are printed in another
    key than the analysed edition). k maximises the share of numerals whose root sounds in their span; k = 0
    unless another shift is clearly better. Offsets in quarter notes."""
    notes = [(float(n.offset), float(n.offset + n.quarterLength), {p.pitchClass for p in n.pitches})
             for n in score.flatten().notes]
    spans = []
    for i, (q, rn) in enumerate(rns):
        q1 = rns[i + 1][0] if i + 1 < len(rns) else end_q
        sounding = set().union(*[pcs for s, e, pcs in notes if s < q1 and e > q] or [set()])
        spans.append((rn.root().pitchClass, sounding))
    if not spans:
        return 0, 0.0
    rate = [sum((r + k) % 12 in s for r, s in spans) / len(spans) for k in range(12)]
    best = max(range(12), key=lambda k: rate[k])
    k = best if rate[best] > rate[0] + 0.2 else 0
    return k, rate[k]


def make_piece(job: dict) -> dict:
    """Render one piece and write its annotation. `job`: piece (from piece_list), out, bpm, soundfont (name, path),
    program. Returns its index entry."""
    from music21 import converter, corpus, roman, stream
    piece, out, bpm = job["piece"], job["out"], job["bpm"]
    sf_name, sf_path = job["soundfont"]
    rel = os.path.join("pieces", piece["id"])
    d = os.path.join(out, rel)
    os.makedirs(os.path.join(d, "stems"), exist_ok=True)
    score = corpus.parse(piece["score"])
    repair_overfull_measures(score)
    analysis = converter.parse(piece["rntxt"], format="romanText")
    measures = {}
    for m in score.parts[0].getElementsByClass(stream.Measure):
        measures.setdefault(m.number, m)
    rns = aligned_numerals(score, analysis)
    end_q = float(score.highestTime)
    shift, agreement = transposition(score, rns, end_q)
    if shift:
        score = score.transpose(-shift)
    midi_rel = os.path.join(rel, piece["id"] + ".mid")
    mid = _score_midi(score, bpm, os.path.join(out, midi_rel), job["program"])
    tm = TempoMap(mid)
    sec = lambda q: round(tm.seconds(q * tm.tpq), 6)   # noqa: E731  quarter notes -> seconds

    # Beats from each measure's time signature.
    beats, downbeats, ts = [], [], None
    for num in sorted(measures):
        m = measures[num]
        ts = m.timeSignature or ts or m.getContextByClass("TimeSignature")
        unit = float(ts.beatDuration.quarterLength) if ts else 1.0
        nbeats = ts.beatCount if ts else 4
        pad = float(m.paddingLeft or 0.0)
        for k in range(nbeats):
            q = k * unit - pad
            if q < -1e-9 or q >= float(m.duration.quarterLength) - 1e-9:
                continue
            t = sec(float(m.offset) + q)
            beats.append({"time": t, "beat": float(m.offset) + q, "position": k + 1})
            if k == 0:
                downbeats.append(t)
    chords, key_regions = [], []
    last_end = 0.0
    for q, q_end, rn in content_alignment(score, rns, end_q):
        if q_end <= q:
            continue
        if q > last_end + 1e-6:               # a passage no numeral covers (before the first, a skipped repeat)
            chords.append({"start": sec(last_end), "end": sec(q), "start_beat": last_end, "end_beat": q,
                           "label": "N"})
        label, rname, quality, bname = harte_of_rn(rn)
        key = f"{m21_name(rn.key.tonic.name)}:{'minor' if rn.key.mode == 'minor' else 'major'}"
        chords.append({"start": sec(q), "end": sec(q_end), "start_beat": q, "end_beat": q_end, "label": label,
                       "root": rname, "quality": quality, "bass": bname, "roman_numeral": rn.figure, "key": key})
        if key_regions and key_regions[-1]["key"] == key and abs(q - last_end) < 1e-6:
            key_regions[-1]["end"] = sec(q_end)
        else:
            key_regions.append({"start": sec(q), "end": sec(q_end), "key": key})
        last_end = q_end

    # Audio: one stem per part (MIDI track with notes).
    n_frames = int(round((tm.seconds(end_q * tm.tpq) + TAIL_SECONDS) * SAMPLE_RATE))
    duration = n_frames / SAMPLE_RATE
    stems, audio = {}, {}
    conductor = [i for i, tr in enumerate(mid.tracks) if not any(m.type == "note_on" for m in tr)]
    parts = [i for i, tr in enumerate(mid.tracks) if any(m.type == "note_on" for m in tr)]
    names = [p.partName or f"part{k + 1}" for k, p in enumerate(score.parts)]
    for k, ti in enumerate(parts):
        name = re.sub(r"[^a-z0-9]+", "_", (names[k] if k < len(names) else f"part{k + 1}").lower()).strip("_")
        name = name if name not in stems else f"{name}_{k + 1}"
        sm = mido.MidiFile(type=1, ticks_per_beat=mid.ticks_per_beat)
        for ci in conductor:
            sm.tracks.append(mid.tracks[ci])
        sm.tracks.append(mid.tracks[ti])
        p = os.path.join(rel, "stems", name + ".mid")
        sm.save(os.path.join(out, p))
        stems[name] = {"midi": p, "path": os.path.join(rel, "stems", name + ".flac")}
        audio[name] = render_midi(os.path.join(out, p), sf_path, n_frames)
    mix, scaled, gain_db, lufs = normalise(audio)
    mix_rel = os.path.join(rel, "mix.flac")
    write_audio(os.path.join(out, mix_rel), mix)
    for k, v in scaled.items():
        write_audio(os.path.join(out, stems[k]["path"]), v)
    peak = float(np.max(np.abs(mix)))
    first_key = key_regions[0]["key"] if key_regions else None
    meter = None
    if beats:
        ts0 = next(iter(score.recurse().getElementsByClass("TimeSignature")), None)
        if ts0 is not None:
            meter = {"numerator": ts0.numerator, "denominator": ts0.denominator, "beats_per_bar": ts0.beatCount}
    desc = {"schema_version": SCHEMA_VERSION,
            "source": {"path": mix_rel, "kind": "audio", "format": "FLAC PCM_16", "sample_rate": SAMPLE_RATE,
                       "channels": 2, "duration": round(duration, 6),
                       "loudness_lufs": round(lufs, 2) if lufs is not None else None,
                       "peak_dbfs": round(20 * np.log10(peak), 2) if peak > 0 else None},
            "bpm": bpm, "tempo_map": [{"time": 0.0, "beat": 0.0, "bpm": bpm}],
            "beats": beats, "downbeats": downbeats, "key_regions": key_regions, "chords": chords,
            "genre_analysis": {"primary": "classical", "confidence": 1.0,
                               "reasons": ["Bach chorale" if piece["collection"] == "bach" else "Monteverdi madrigal"]},
            "stems": stems, "notes": {k: v["midi"] for k, v in stems.items()},
            "songbook": {"id": piece["id"], "split": "real", "collection": piece["collection"],
                         "score": piece["score"], "analysis": _corpus_relpath(piece["rntxt"]),
                         "transposed_semitones": -shift, "root_agreement": round(agreement, 3),
                         "soundfont": sf_name, "program": job["program"], "midi": midi_rel,
                         "gain_db": round(float(gain_db), 3)}}
    if meter:
        desc["meter"] = meter
    if first_key:
        t, mde = first_key.split(":")
        desc["key"] = {"tonic": t, "mode": mde, "label": first_key, "confidence": 1.0}
    json_rel = os.path.join(rel, piece["id"] + ".json")
    with open(os.path.join(out, json_rel), "w") as f:
        json.dump(desc, f, indent=1)
    desc_j = dict(desc, sections=[])
    jam = to_jams(desc_j)
    jams_rel = os.path.join(rel, piece["id"] + ".jams")
    jam.save(os.path.join(out, jams_rel))
    return {"id": piece["id"], "collection": piece["collection"], "score": piece["score"], "key": first_key,
            "bpm": bpm, "meter": f"{meter['numerator']}/{meter['denominator']}" if meter else None,
            "soundfont": sf_name, "duration": desc["source"]["duration"], "n_chords": len(chords),
            "root_agreement": round(agreement, 3), "transposed_semitones": -shift,
            "paths": {"mix": mix_rel, "json": json_rel, "jams": jams_rel, "midi": midi_rel,
                      "stems": {k: v["path"] for k, v in stems.items()}}}


def make_corpus(out: str, limit: int | None = None, bpm: float = 80.0, workers: int | None = None,
                soundfont: str | None = None, progress: bool = True) -> list[dict]:
    """Render the RomanText-analysed pieces into `out` and write `out/index.json`."""
    from .factory import _progress, resolve_soundfonts
    from .render import check_fluidsynth
    check_fluidsynth()
    sfs = resolve_soundfonts([soundfont] if soundfont else None)
    names = sorted(sfs)
    pieces = [p for p in piece_list() if p["score"]][: limit or None]
    os.makedirs(out, exist_ok=True)
    jobs = []
    for i, p in enumerate(pieces):
        name = names[i % len(names)]
        progs = PROGRAMS[p["collection"]]
        jobs.append({"piece": p, "out": os.path.abspath(out), "bpm": bpm, "soundfont": (name, sfs[name]),
                     "program": progs[i % len(progs)]})
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    t0, entries, failures = time.time(), [], []
    if workers == 1:
        for j in jobs:
            try:
                entries.append(make_piece(j))
            except Exception as e:  # noqa: BLE001 - report and go on with the other pieces
                failures.append(f"{j['piece']['id']}: {e}")
            if progress:
                _progress(len(entries) + len(failures), len(jobs), t0, noun="pieces")
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as ex:
            futs = {ex.submit(make_piece, j): j for j in jobs}
            for f in as_completed(futs):
                try:
                    entries.append(f.result())
                except Exception as e:  # noqa: BLE001
                    failures.append(f"{futs[f]['piece']['id']}: {e}")
                if progress:
                    _progress(len(entries) + len(failures), len(jobs), t0, noun="pieces")
    for msg in failures:
        print(f"corpus: skipped {msg}", file=sys.stderr)
    entries.sort(key=lambda e: e["id"])
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump({"corpus": "music21 RomanText (Bach chorales, Monteverdi madrigals)", "bpm": bpm,
                   "pieces": entries, "skipped": failures}, f, indent=1)
    return entries

