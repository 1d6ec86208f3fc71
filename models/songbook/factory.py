"""The songbook factory: plan -> MMA -> MIDI (+ pad, bass, melody) -> stems audio -> ground truth, per song,
run over a local process pool or Ray.

Output folder:

    OUT/index.json                       one entry per song (see `index_entry`)
    OUT/songs/<id>/<id>.mma              MMA source
    OUT/songs/<id>/<id>.mid              full MIDI (all stems)
    OUT/songs/<id>/stems/<stem>.mid      per-stem MIDI (conductor track + the stem's tracks)
    OUT/songs/<id>/mix.flac              the mix = sum of the stems, loudness-normalised
    OUT/songs/<id>/stems/<stem>.flac     stems, scaled by the same gain
    OUT/songs/<id>/<id>.json             song description (project schema 1.0)
    OUT/songs/<id>/<id>.jams             JAMS

Paths inside index.json and the JSON/JAMS files are relative to OUT.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context

import mido
import numpy as np

from . import midi_tools as M
from .mma_writer import mma_binary, mma_source, render_mma
from .plan import plan_song
from .render import SAMPLE_RATE, available_soundfonts, check_fluidsynth, normalise, render_midi, write_audio
from .truth import description, to_jams

TAIL_SECONDS = 2.0    # audio after the last bar: release and reverb; labelled 'N'


def make_song(job: dict) -> dict:
    """Make one song. `job`: seed, index, split (or None), out (folder), duration (s), soundfonts (name -> path),
    holdout (name or None), stems (bool). Returns its index entry."""
    sfs = job["soundfonts"]
    plan = plan_song(job["seed"], job["index"], job.get("split"), job.get("duration", 30.0), tuple(sorted(sfs)),
                     job.get("holdout"))
    out = job["out"]
    rel = os.path.join("songs", plan.id)
    d = os.path.join(out, rel)
    os.makedirs(os.path.join(d, "stems"), exist_ok=True)
    mma_path = os.path.join(d, plan.id + ".mma")
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "mma.mid")
        render_mma(mma_source(plan), mma_path, raw)
        mid = mido.MidiFile(raw)
    M.check_conductor(mid, plan)
    M.scrub_paths(mid, plan.id)
    tpq = mid.ticks_per_beat
    tracks = M.stem_tracks(mid)
    bass_added = not tracks["bass"]
    if bass_added:
        M.add_bass(mid, plan)
    cov = M.coverage(plan, M.stem_notes(mid, tracks["chords"]), tpq)
    pad_added = not all(cov)
    if pad_added:
        M.add_pad(mid, plan)
    if any(s.melody for s in plan.sections):
        M.add_melody(mid, plan)
    tracks = M.stem_tracks(mid)
    midi_rel = os.path.join(rel, plan.id + ".mid")
    mid.save(os.path.join(out, midi_rel))
    stems = {}
    for stem in M.STEMS:
        if tracks[stem]:
            p = os.path.join(rel, "stems", stem + ".mid")
            M.stem_midi(mid, tracks[stem]).save(os.path.join(out, p))
            stems[stem] = {"midi": p}

    tm = M.TempoMap(mid)
    end_s = tm.seconds(plan.bars * plan.mma_beats_per_bar * tpq)
    duration = end_s + TAIL_SECONDS
    n_frames = int(round(duration * SAMPLE_RATE))
    duration = n_frames / SAMPLE_RATE
    sf_path = sfs[plan.soundfont]
    if not job.get("audio", True):   # --midi-only: the MIDI and the truth, no rendering (generation training)
        mix_rel, gain_db, lufs, peak = None, 0.0, None, 0.0
    else:
        if job.get("stems", True):
            audio = {k: render_midi(os.path.join(out, v["midi"]), sf_path, n_frames) for k, v in stems.items()}
        else:
            audio = {"mix": render_midi(os.path.join(out, midi_rel), sf_path, n_frames)}
        mix, scaled, gain_db, lufs = normalise(audio)
        mix_rel = os.path.join(rel, "mix.flac")
        write_audio(os.path.join(out, mix_rel), mix)
        if job.get("stems", True):
            for k, v in scaled.items():
                stems[k]["path"] = os.path.join(rel, "stems", k + ".flac")
                write_audio(os.path.join(out, stems[k]["path"]), v)
        peak = float(np.max(np.abs(mix)))
    info = {"mix": mix_rel, "sample_rate": SAMPLE_RATE, "loudness_lufs": round(lufs, 2) if lufs is not None else None,
            "peak_dbfs": round(20 * np.log10(peak), 2) if peak > 0 else None, "stems": stems, "midi": midi_rel,
            "mma": os.path.join(rel, plan.id + ".mma"), "pad_added": pad_added, "bass_added": bass_added}
    desc = description(plan, tm, duration, info)
    desc["songbook"]["gain_db"] = round(float(gain_db), 3)
    desc["songbook"]["mma_chord_coverage"] = round(sum(cov) / len(cov), 4)
    json_rel = os.path.join(rel, plan.id + ".json")
    with open(os.path.join(out, json_rel), "w") as f:
        json.dump(desc, f, indent=1)
    jams_rel = os.path.join(rel, plan.id + ".jams")
    to_jams(desc).save(os.path.join(out, jams_rel))
    return index_entry(plan, desc, json_rel, jams_rel)


def _safe_make_song(job: dict) -> dict:
    """make_song, with a failure returned as {'index', 'error'} so one bad song does not stop the run."""
    try:
        return make_song(job)
    except Exception as e:  # noqa: BLE001 - reported in index.json and on stderr
        return {"index": job["index"], "error": f"{type(e).__name__}: {e}"}


def index_entry(plan, desc: dict, json_rel: str, jams_rel: str) -> dict:
    """One row of index.json."""
    return {"id": plan.id, "index": plan.index, "split": plan.split, "groove": plan.groove,
            "groove_file": plan.groove_file, "family": plan.family, "progressions": plan.progressions,
            "key": desc["key"]["label"], "keys": sorted({k["key"] for k in desc["key_regions"]}),
            "bpm": desc["bpm"], "meter": plan.meter, "soundfont": plan.soundfont,
            "duration": desc["source"]["duration"], "sections": [s["label"] for s in desc["sections"]],
            "pad_added": desc["songbook"]["pad_added"], "bass_added": desc["songbook"]["bass_added"],
            "paths": {"mix": desc["source"]["path"], "json": json_rel, "jams": jams_rel,
                      "midi": desc["songbook"]["midi"], "mma": desc["songbook"]["mma"],
                      "stems": {k: v.get("path") for k, v in desc["stems"].items()},
                      "stem_midi": {k: v["midi"] for k, v in desc["stems"].items()}}}


def _progress(done: int, total: int, t0: float, stream=sys.stderr, noun: str = "songs") -> None:
    el = time.time() - t0
    rate = done / el * 60 if el > 0 else 0.0
    eta = (total - done) / (done / el) if done else 0.0
    stream.write(f"\rsongbook: {done}/{total} {noun}, {rate:.1f} {noun}/min, elapsed {el:.0f} s, eta {eta:.0f} s ")
    stream.flush()
    if done == total:
        stream.write("\n")


def resolve_soundfonts(names: list[str] | None = None) -> dict[str, str]:
    """Installed soundfonts (name -> path), optionally restricted to `names`; raises when none is found."""
    have = available_soundfonts()
    if names:
        missing = [n for n in names if n not in have]
        if missing:
            raise RuntimeError(f"soundfont(s) not found: {', '.join(missing)}; installed: {', '.join(have) or 'none'}")
        have = {n: have[n] for n in names}
    if not have:
        raise RuntimeError("no soundfont found: install fluid-soundfont-gm or musescore-general-soundfont")
    return have


def make_songbook(n: int, seed: int, out: str, split: str | None = None, workers: int | None = None,
                  engine: str = "local", duration: float = 30.0, holdout_soundfont: str | None = None,
                  stems: bool = True, soundfonts: list[str] | None = None, progress: bool = True,
                  audio: bool = True) -> list[dict]:
    """Make `n` songs into `out` and write `out/index.json`. Returns the index entries sorted by song index."""
    mma_binary()
    check_fluidsynth()
    sfs = resolve_soundfonts(soundfonts)
    if holdout_soundfont and holdout_soundfont not in sfs:
        raise RuntimeError(f"holdout soundfont {holdout_soundfont!r} is not installed; have {', '.join(sfs)}")
    if holdout_soundfont and len(sfs) < 2:
        raise RuntimeError("--holdout-soundfont needs at least two soundfonts")
    os.makedirs(out, exist_ok=True)
    jobs = [{"seed": seed, "index": i, "split": split, "out": os.path.abspath(out), "duration": duration,
             "soundfonts": sfs, "holdout": holdout_soundfont, "stems": stems, "audio": audio}
            for i in range(n)]
    workers = max(1, workers or os.cpu_count() or 1)
    t0 = time.time()
    results: list[dict] = []
    if engine == "ray":
        results = _run_ray(jobs, workers, t0, progress)
    elif workers == 1:
        for j in jobs:
            results.append(_safe_make_song(j))
            if progress:
                _progress(len(results), n, t0)
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as ex:
            futs = [ex.submit(_safe_make_song, j) for j in jobs]
            for f in as_completed(futs):
                results.append(f.result())
                if progress:
                    _progress(len(results), n, t0)
    entries = sorted((r for r in results if "error" not in r), key=lambda e: e["index"])
    failures = sorted((r for r in results if "error" in r), key=lambda e: e["index"])
    for r in failures:
        print(f"songbook: song {r['index']} failed: {r['error']}", file=sys.stderr)
    if not entries:
        raise RuntimeError(f"all {n} songs failed; first error: {failures[0]['error']}")
    index = {"songbook_version": 1, "seed": seed, "n": n, "split": split or "mixed", "duration_target": duration,
             "holdout_soundfont": holdout_soundfont, "soundfonts": sorted(sfs), "songs": entries,
             "failed": failures}
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump(index, f, indent=1)
    return entries


def _run_ray(jobs: list[dict], workers: int, t0: float, progress: bool) -> list[dict]:
    try:
        import ray
    except ImportError as e:
        raise RuntimeError("ray not installed: pip install 'ray>=2.9' (or use --engine local)") from e
    started = False
    if not ray.is_initialized():
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        started = True
    try:
        remote = ray.remote(_safe_make_song)
        pending = [remote.remote(j) for j in jobs]
        entries = []
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            entries.extend(ray.get(done))
            if progress:
                _progress(len(entries), len(jobs), t0)
        return entries
    finally:
        if started:
            ray.shutdown()
