"""Pseudo-labelled polyphony: a training set of vocal and instrumental part-writing for the audio chord network.

    bandmate songbook polyphony --out data/poly [--n 160] [--seed 5] [--workers 2]

The songbook's songs are pop textures: a bass line on the root, a comping instrument, drums. Choral and
consort music moves differently (four or five sustained voices, suspensions and passing notes, inversions,
open fifths, no drums), and an audio chord network that never heard it reads it poorly. music21's corpus
holds such scores without expert chord labels: Palestrina's masses and motets and Bach's chorales. This module
renders them and labels them with Bandmate's own symbolic analyser (`models.analysis.symbolic.analyze_midi`
on the rendered MIDI: the chords the notes spell, timed in seconds from the MIDI's tempo map). The labels are
a teacher's, not an expert's (on the expert-analysed corpus the analyser gets the root of about 85 % of
quarter notes right: `bandmate bench roman`), so the audio network learns to hear what the notes spell.

Held out, so the real-music benchmark stays unseen: every score of the 68 RomanText analyses
(`corpus.piece_list`: 20 chorales, 48 madrigals) and the TimGM6mb soundfont (the songbook's test
soundfont). Each piece gets a random tempo (56-110 quarter notes per minute), a random soundfont of the
others, and either one sustained GM timbre for every voice or a mixed consort (organ, choir, strings, winds,
piano, guitar). Long pieces are cut to their first `max_quarters` quarter notes.

Output, like the songbook's: OUT/index.json ({"songs": [{id, paths: {mix, json, midi}, ...}]}), OUT/songs/<id>/
{<id>.mid, mix.flac, <id>.json} with source, bpm, chords (Harte labels with start/end seconds) and key.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context

import mido
import numpy as np

from .render import SAMPLE_RATE, normalise, render_midi, write_audio
from .truth import SCHEMA_VERSION

# sustained and plucked GM programs a choir or consort piece may be played on
TIMBRES = (19, 20, 52, 53, 48, 49, 42, 73, 74, 71, 68, 0, 24, 16, 89)
COLLECTIONS = ("palestrina", "bach")
HOLDOUT_SOUNDFONT = "TimGM6mb"


def candidate_scores(collections=COLLECTIONS) -> list[str]:
    """Corpus scores of `collections` (paths relative to music21's corpus, without extension), minus every score
    the real-music benchmark analyses."""
    from music21 import corpus

    from .corpus import piece_list

    held = {p["score"] for p in piece_list() if p["score"]}
    out = []
    for p in corpus.getCorePaths():
        rel = str(p).replace("\\", "/").split("/corpus/", 1)[-1]
        coll = rel.split("/", 1)[0]
        stem, ext = os.path.splitext(rel)
        if coll not in collections or ext.lower() not in (".mxl", ".xml", ".musicxml", ".krn", ".mid"):
            continue
        if stem in held or stem.split(".")[0] in held:
            continue
        out.append(rel)
    return sorted(out)


def _programs(mid: mido.MidiFile, rng) -> list[int]:
    """Set every voice's program: one shared timbre (60 %) or a mixed consort; returns them in track order."""
    tracks = [tr for tr in mid.tracks if any(m.type == "note_on" for m in tr)]
    shared = rng.random() < 0.6
    first = int(rng.choice(TIMBRES))
    progs = []
    for tr in tracks:
        prog = first if shared else int(rng.choice(TIMBRES))
        for m in [m for m in tr if m.type == "program_change"]:
            tr.remove(m)
        for ch in sorted({m.channel for m in tr if hasattr(m, "channel")}):
            tr.insert(0, mido.Message("program_change", channel=ch, program=prog, time=0))
        progs.append(prog)
    return progs


def make_piece(job: dict) -> dict:
    """Render one score and label it. `job`: score (corpus path), id, out, seed, soundfonts {name: path},
    max_quarters. Returns its index entry."""
    from music21 import corpus

    from models.analysis.symbolic import analyze_midi

    from .corpus import _score_midi
    from .midi_tools import TempoMap

    rng = np.random.default_rng(job["seed"])
    score = corpus.parse(job["score"])
    if float(score.highestTime) > job["max_quarters"]:
        last = None
        for m in score.parts[0].getElementsByClass("Measure"):
            if float(m.offset) + float(m.duration.quarterLength) > job["max_quarters"]:
                break
            last = m.number
        if last:
            score = score.measures(0, last)
    bpm = float(np.round(rng.uniform(56, 110)))
    rel = os.path.join("songs", job["id"])
    d = os.path.join(job["out"], rel)
    os.makedirs(d, exist_ok=True)
    midi_rel = os.path.join(rel, job["id"] + ".mid")
    midi_path = os.path.join(job["out"], midi_rel)
    mid = _score_midi(score, bpm, midi_path, 0)
    programs = _programs(mid, rng)
    mid.save(midi_path)
    tm = TempoMap(mid)
    reading = analyze_midi(midi_path)
    chords = [{"start": round(c["start"], 4), "end": round(c["end"], 4), "label": c["label"]}
              for c in reading["chords"] if c["end"] > c["start"]]
    if not chords:
        raise ValueError("the analyser found no chords")
    names = sorted(job["soundfonts"])
    sf_name = names[int(rng.integers(len(names)))]
    end_s = tm.seconds(float(score.highestTime) * tm.tpq)
    n_frames = int(round((end_s + 2.0) * SAMPLE_RATE))
    audio = render_midi(midi_path, job["soundfonts"][sf_name], n_frames)
    mix, _, gain_db, lufs = normalise({"mix": audio})
    mix_rel = os.path.join(rel, "mix.flac")
    write_audio(os.path.join(job["out"], mix_rel), mix)
    duration = n_frames / SAMPLE_RATE
    if chords[-1]["end"] < duration:
        chords.append({"start": chords[-1]["end"], "end": round(duration, 4), "label": "N"})
    desc = {"schema_version": SCHEMA_VERSION,
            "source": {"path": mix_rel, "kind": "audio", "format": "FLAC PCM_16", "sample_rate": SAMPLE_RATE,
                       "channels": 2, "duration": round(duration, 6),
                       "loudness_lufs": round(lufs, 2) if lufs is not None else None},
            "bpm": bpm, "chords": chords, "key": reading.get("key"),
            "songbook": {"id": job["id"], "split": "train", "kind": "pseudo-labelled polyphony",
                         "score": job["score"], "soundfont": sf_name, "programs": programs, "midi": midi_rel,
                         "labels": "models.analysis.symbolic.analyze_midi on the MIDI (a teacher, not an expert)",
                         "gain_db": round(float(gain_db), 3)}}
    json_rel = os.path.join(rel, job["id"] + ".json")
    with open(os.path.join(job["out"], json_rel), "w", encoding="utf-8") as fh:
        json.dump(desc, fh, indent=1)
    return {"id": job["id"], "score": job["score"], "bpm": bpm, "soundfont": sf_name,
            "duration": round(duration, 3), "n_chords": len(chords),
            "paths": {"mix": mix_rel, "json": json_rel, "midi": midi_rel}}


def make_set(out: str, n: int = 160, seed: int = 5, workers: int | None = None, max_quarters: float = 320.0,
             progress: bool = True) -> list[dict]:
    """Render `n` scores (drawn evenly from the collections) into `out` and write `out/index.json`."""
    from .factory import _progress
    from .render import available_soundfonts, check_fluidsynth

    check_fluidsynth()
    sfs = {k: v for k, v in available_soundfonts().items() if k != HOLDOUT_SOUNDFONT}
    if not sfs:
        raise RuntimeError("no soundfont other than the held-out %s is installed" % HOLDOUT_SOUNDFONT)
    rng = np.random.default_rng(seed)
    by_coll = {c: [s for s in candidate_scores() if s.startswith(c + "/")] for c in COLLECTIONS}
    picks = []
    for c, scores in by_coll.items():
        k = min(len(scores), n // len(COLLECTIONS))
        picks += [scores[i] for i in sorted(rng.choice(len(scores), size=k, replace=False))]
    os.makedirs(out, exist_ok=True)
    jobs = [{"score": s, "id": "poly-%04d" % i, "out": os.path.abspath(out), "seed": int(seed * 100003 + i),
             "soundfonts": sfs, "max_quarters": max_quarters} for i, s in enumerate(picks)]
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    t0, entries, failures = time.time(), [], []

    def done(job, fut_result=None, error=None):
        if error is not None:
            failures.append("%s (%s): %s" % (job["id"], job["score"], error))
        else:
            entries.append(fut_result)
        if progress:
            _progress(len(entries) + len(failures), len(jobs), t0, noun="pieces")

    if workers == 1:
        for j in jobs:
            try:
                done(j, make_piece(j))
            except Exception as e:  # noqa: BLE001 - report and go on with the other pieces
                done(j, error=e)
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as ex:
            futs = {ex.submit(make_piece, j): j for j in jobs}
            for f in as_completed(futs):
                try:
                    done(futs[f], f.result())
                except Exception as e:  # noqa: BLE001
                    done(futs[f], error=e)
    entries.sort(key=lambda e: e["id"])
    index = {"kind": "pseudo-labelled polyphony", "seed": seed, "n": n, "split": "train",
             "holdout_soundfont": HOLDOUT_SOUNDFONT, "soundfonts": sorted(sfs), "collections": list(COLLECTIONS),
             "held_out_scores": "the 68 RomanText-analysed scores (models.songbook.corpus.piece_list)",
             "songs": entries, "failures": failures}
    with open(os.path.join(out, "index.json"), "w", encoding="utf-8") as fh:
        json.dump(index, fh, indent=1)
    return entries


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="bandmate songbook polyphony", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=160)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--workers", type=int)
    ap.add_argument("--max-quarters", type=float, default=320.0, help="cut longer scores to this many quarter notes")
    args = ap.parse_args(argv)
    entries = make_set(args.out, args.n, args.seed, args.workers, args.max_quarters)
    print(json.dumps({"songs": len(entries), "minutes": round(sum(e["duration"] for e in entries) / 60, 1),
                      "out": os.path.abspath(args.out)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
