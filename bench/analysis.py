"""`bandmate bench analysis`: Bandmate's analyzer beside Chordino, madmom, essentia and librosa on a songbook.

    python -m bench.cli analysis --set DIR [--systems a,b,...] [--limit N] [--detune CENTS] [--json] [--out-dir DIR]

Every system (an adapter in `bench/systems/`) analyses the same songs in one process; its output is scored
against the songbook's JAMS ground truth with `mir_eval`, and the scores, the time each system took and what it
could not do go to OUT_DIR/analysis.json, OUT_DIR/analysis.md, OUT_DIR/analysis_metrics.png and
OUT_DIR/analysis_chords_<song id>.png (OUT_DIR defaults to bench/results/).

Metrics (all in [0, 1]; per song, then averaged over songs weighted by song duration):
- chords: mir_eval.chord root, majmin, sevenths, mirex (each duration-weighted within the song) and seg
  (1 - max(over-, under-segmentation)); reference labels mir_eval cannot parse are scored as X (left out).
- beats: F-measure (+-70 ms), CMLt, AMLt; downbeats: F-measure (+-70 ms). As in MIREX and mir_eval's own
  evaluate(), beats in the first 5 s are left out of both reference and estimate.
- tempo: Acc1 (within 4 % of the reference) and Acc2 (within 4 % of 1, 2, 1/2, 3 or 1/3 times the reference).
  The reference is the tempo that lasts longest in the song's tempo map (tactus beats per minute).
- key: MIREX weighted score: same key 1, perfect fifth 0.5, relative 0.3, parallel 0.2, else 0. mir_eval's
  weighted_score only credits the estimate a fifth ABOVE the reference; as MIREX has since 2017, a fifth in
  either direction (above: the dominant key, below: the subdominant key) scores 0.5 here. The reference is the
  song's first (home) key. Church modes count as their major-like (ionian, lydian, mixolydian) or minor-like
  (aeolian, dorian, phrygian, locrian) parent for the score, which knows major and minor only.
- sections: boundary hit rate F-measure with +-0.5 s (HR.5F) and +-3 s (HR3F) windows
  (mir_eval.segment.detection, first and last boundaries kept).
- speed: seconds of analysis per minute of audio (wall time of analyze(), after one warm-up call on a 5 s
  excerpt so that model loading and JIT compiling are not counted; the warm-up time is reported apart).
`--detune CENTS` plays every song that many cents off A440 (the mix resampled, so pitch and tempo both move by
2^(CENTS/1200); the ground truth's times and tempo move with it, its labels stay): recordings are often tuned
off A440 (A4 = 432 Hz is -32 cents, an old tape or a detuned band as far as a quarter tone), the songbook never
is. A metric is scored only where the ground truth has it (the real-music corpus: chords and key only) and the
system produces it; a song on which a system raises counts as failed for that system and is reported.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
import warnings

import numpy as np

from . import report, systems

# metric key -> (column header, what it is)
METRICS = {
    "chord_root": ("root", "chords: root (mir_eval.chord.root)"),
    "chord_majmin": ("majmin", "chords: major/minor (mir_eval.chord.majmin)"),
    "chord_sevenths": ("sevenths", "chords: sevenths (mir_eval.chord.sevenths)"),
    "chord_mirex": ("mirex", "chords: MIREX (3 shared pitch classes)"),
    "chord_seg": ("seg", "chords: segmentation, 1 - max(over, under)"),
    "beat_f": ("beat F", "beats: F-measure, +-70 ms"),
    "beat_cmlt": ("CMLt", "beats: correct metrical level, total"),
    "beat_amlt": ("AMLt", "beats: any metrical level, total"),
    "downbeat_f": ("downbeat F", "downbeats: F-measure, +-70 ms"),
    "tempo_acc1": ("tempo Acc1", "tempo within 4 %"),
    "tempo_acc2": ("tempo Acc2", "tempo within 4 % up to x2, x1/2, x3, x1/3"),
    "key_weighted": ("key", "key: MIREX weighted score (fifth both directions)"),
    "section_hr05f": ("HR.5F", "section boundaries: F-measure, +-0.5 s"),
    "section_hr3f": ("HR3F", "section boundaries: F-measure, +-3 s"),
}
# which ground-truth field and which system output each metric needs
NEEDS = {"chord": "chords", "beat": "beats", "downbeat": "downbeats", "tempo": "bpm", "key": "key",
         "section": "sections"}
CORPUS_METRICS = ("chord_root", "chord_majmin", "chord_sevenths", "chord_mirex", "chord_seg", "key_weighted")
OUTPUTS = ("bpm", "beats", "downbeats", "key", "chords", "sections")
TEMPO_TOLERANCE = 0.04
TEMPO_FACTORS = (1.0, 2.0, 0.5, 3.0, 1.0 / 3.0)
BEAT_TRIM_S = 5.0
WARMUP_S = 5.0

MAJOR_LIKE = {"maj", "major", "ionian", "lydian", "mixolydian"}
MINOR_LIKE = {"min", "minor", "aeolian", "dorian", "phrygian", "locrian", "harmonic_minor", "melodic_minor"}
KEY_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


# ---------------------------------------------------------------------------------------------- ground truth
def load_set(set_dir: str) -> tuple[dict, list[dict], str]:
    """(index without its song list, song entries, kind) of a songbook folder; kind is 'songbook' or 'corpus'
    (the real-music RomanText set, whose index lists 'pieces')."""
    path = os.path.join(set_dir, "index.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no index.json in {set_dir} (make one: python -m models.songbook.cli make ...)")
    with open(path, encoding="utf-8") as fh:
        index = json.load(fh)
    if "songs" in index:
        return {k: v for k, v in index.items() if k != "songs"}, index["songs"], "songbook"
    if "pieces" in index:
        return {k: v for k, v in index.items() if k != "pieces"}, index["pieces"], "corpus"
    raise ValueError(f"{path}: neither 'songs' nor 'pieces' in the index")


def ground_truth(jams_path: str) -> dict:
    """The benchmark's view of a songbook JAMS: duration (s), beats and downbeats (s), bpm, key (first key),
    chords and sections ({start, end, label}, seconds). Fields the JAMS lacks are absent."""
    import jams

    jam = jams.load(jams_path, validate=False)
    gt: dict = {"duration": float(jam.file_metadata.duration)}

    def first(ns):
        anns = jam.search(namespace=ns)
        return anns[0] if len(anns) else None

    beat = first("beat")
    if beat is not None and len(beat.data):
        obs = sorted(beat.data, key=lambda o: o.time)
        gt["beats"] = [float(o.time) for o in obs]
        if all(o.value is not None for o in obs):
            gt["downbeats"] = [float(o.time) for o in obs if int(o.value) == 1]
    tempo = first("tempo")
    if tempo is not None and len(tempo.data):
        weight: dict = {}
        for o in tempo.data:
            weight[float(o.value)] = weight.get(float(o.value), 0.0) + float(o.duration)
        gt["bpm"] = max(weight, key=lambda v: (weight[v], -list(weight).index(v)))
    key = first("key_mode")
    if key is not None and len(key.data):
        gt["key"] = str(sorted(key.data, key=lambda o: o.time)[0].value)
    for ns, field in (("chord", "chords"), ("segment_open", "sections")):
        ann = first(ns)
        if ann is not None and len(ann.data):
            gt[field] = [{"start": float(o.time), "end": float(o.time + o.duration), "label": str(o.value)}
                         for o in sorted(ann.data, key=lambda o: o.time)]
    return gt


def detuned_truth(gt: dict, ratio: float) -> dict:
    """The ground truth of a song played `ratio` times faster (and higher): times / ratio, tempo x ratio."""
    out = dict(gt)
    if "duration" in gt:
        out["duration"] = gt["duration"] / ratio
    for field in ("beats", "downbeats"):
        if field in gt:
            out[field] = [t / ratio for t in gt[field]]
    for field in ("chords", "sections"):
        if field in gt:
            out[field] = [dict(seg, start=seg["start"] / ratio, end=seg["end"] / ratio) for seg in gt[field]]
    if "bpm" in gt:
        out["bpm"] = gt["bpm"] * ratio
    return out


def detuned_audio(path: str, cents: float, folder: str) -> str:
    """`path` resampled so that it plays `cents` higher (and as much faster), as a float WAV in `folder`."""
    import soundfile as sf
    import soxr

    x, sr = sf.read(path, dtype="float32", always_2d=True)
    out = os.path.join(folder, "detuned.wav")
    sf.write(out, soxr.resample(x, sr * 2.0 ** (cents / 1200.0), sr), sr, subtype="FLOAT")
    return out


# --------------------------------------------------------------------------------------------------- metrics
def mirex_key(label: str | None) -> str:
    """mir_eval's key string ('Eb major', 'X') of a label like 'Eb:major', 'Eb:maj', 'eb minor', 'D:dorian'."""
    if not label:
        return "X"
    text = str(label).replace(":", " ").split()
    if len(text) != 2:
        return "X"
    tonic, mode = text[0], text[1].lower()
    try:
        pc = systems.pitch_class(tonic)
    except (KeyError, IndexError):
        return "X"
    mode = "major" if mode in MAJOR_LIKE else "minor" if mode in MINOR_LIKE else "other"
    return f"{KEY_NAMES[pc]} {mode}"


def key_score(reference: str, estimate: str | None) -> float:
    """MIREX weighted key score with a perfect fifth in either direction (see the module docstring)."""
    import mir_eval

    ref, est = mirex_key(reference), mirex_key(estimate)
    score = float(mir_eval.key.weighted_score(ref, est))
    if score == 0.0 and ref != "X" and est != "X":
        (rt, rm), (et, em) = ref.split(), est.split()
        # mir_eval credits est = ref + 7 semitones only; MIREX 2017+ also credits ref + 5 (a fifth below).
        if rm == em and (systems.pitch_class(et) - systems.pitch_class(rt)) % 12 == 5:
            score = 0.5
    return score


def tempo_scores(reference_bpm: float, estimate_bpm: float) -> dict:
    """Acc1 and Acc2 (1.0 or 0.0) of one tempo estimate, 4 % tolerance."""
    def near(factor):
        target = reference_bpm * factor
        return abs(estimate_bpm - target) <= TEMPO_TOLERANCE * target
    return {"tempo_acc1": float(near(1.0)), "tempo_acc2": float(any(near(f) for f in TEMPO_FACTORS))}


def _intervals(segs: list[dict]) -> tuple[np.ndarray, list[str]]:
    segs = [s for s in segs if s["end"] > s["start"]]
    return (np.array([[s["start"], s["end"]] for s in segs], dtype=float).reshape(-1, 2),
            [str(s["label"]) for s in segs])


def _valid_chord(label: str) -> str:
    import mir_eval

    try:
        mir_eval.chord.validate_chord_label(label)
        mir_eval.chord.encode(label)
    except Exception:  # noqa: BLE001 - mir_eval raises InvalidChordException or ValueError
        return "X"
    return label


def chord_scores(reference: list[dict], estimate: list[dict], duration: float) -> dict:
    """root, majmin, sevenths, mirex and seg of one song's chord segments against the reference."""
    import mir_eval

    ref_int, ref_lab = _intervals(reference)
    # mir_eval scores the reference's span only and clips the estimate to it; a segment wholly outside it (an
    # analysis that goes on over the audio's tail past the last annotated chord) would be clipped to zero
    # length and make mir_eval refuse the song, so it is left out here
    lo, hi = (float(ref_int.min()), float(ref_int.max())) if len(ref_int) else (0.0, duration)
    est_int, est_lab = _intervals([dict(s, start=max(s["start"], lo), end=min(s["end"], hi)) for s in estimate])
    if not len(est_int):
        est_int, est_lab = np.array([[0.0, max(duration, float(ref_int.max()))]]), ["N"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = mir_eval.chord.evaluate(ref_int, [_valid_chord(x) for x in ref_lab], est_int,
                                    [_valid_chord(x) for x in est_lab])
    return {"chord_root": s["root"], "chord_majmin": s["majmin"], "chord_sevenths": s["sevenths"],
            "chord_mirex": s["mirex"], "chord_seg": s["seg"]}


def beat_scores(reference: list[float], estimate: list[float]) -> dict | None:
    """F-measure, CMLt, AMLt (beats of the first 5 s left out); None when the reference has no beat after 5 s."""
    import mir_eval

    ref = mir_eval.beat.trim_beats(np.asarray(reference, dtype=float), BEAT_TRIM_S)
    est = mir_eval.beat.trim_beats(np.asarray(sorted(estimate), dtype=float), BEAT_TRIM_S)
    if len(ref) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = mir_eval.beat.f_measure(ref, est)
        _, cmlt, _, amlt = mir_eval.beat.continuity(ref, est)
    return {"beat_f": f, "beat_cmlt": cmlt, "beat_amlt": amlt}


def downbeat_score(reference: list[float], estimate: list[float]) -> float | None:
    """Downbeat F-measure (+-70 ms, first 5 s left out); None when the reference has none after 5 s."""
    import mir_eval

    ref = mir_eval.beat.trim_beats(np.asarray(reference, dtype=float), BEAT_TRIM_S)
    est = mir_eval.beat.trim_beats(np.asarray(sorted(estimate), dtype=float), BEAT_TRIM_S)
    if not len(ref):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(mir_eval.beat.f_measure(ref, est))


def section_scores(reference: list[dict], estimate: list[dict], duration: float) -> dict:
    """HR.5F and HR3F: boundary F-measures with 0.5 s and 3 s windows, both spans padded to [0, duration]."""
    import mir_eval

    end = max(duration, max(s["end"] for s in reference))
    ref_int, ref_lab = _intervals(reference)
    # mir_eval scores the reference's span only and clips the estimate to it; a segment wholly outside it (an
    # analysis that goes on over the audio's tail past the last annotated chord) would be clipped to zero
    # length and make mir_eval refuse the song, so it is left out here
    lo, hi = (float(ref_int.min()), float(ref_int.max())) if len(ref_int) else (0.0, duration)
    est_int, est_lab = _intervals([dict(s, start=max(s["start"], lo), end=min(s["end"], hi)) for s in estimate])
    if not len(est_int):
        est_int, est_lab = np.array([[0.0, end]]), ["A"]
    ref_int, _ = mir_eval.util.adjust_intervals(ref_int, ref_lab, t_min=0.0, t_max=end)
    est_int, _ = mir_eval.util.adjust_intervals(est_int, est_lab, t_min=0.0, t_max=end)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = {}
        for key, window in (("section_hr05f", 0.5), ("section_hr3f", 3.0)):
            out[key] = float(mir_eval.segment.detection(ref_int, est_int, window=window, trim=False)[2])
    return out


def score_song(gt: dict, est: dict, allowed=tuple(METRICS)) -> dict:
    """Every metric in `allowed` that the ground truth `gt` has and the system output `est` produces."""
    out: dict = {}
    dur = gt["duration"]

    def want(prefix):
        field = NEEDS[prefix]
        return any(m.startswith(prefix + "_") for m in allowed) and gt.get(field) and field in est

    if want("chord"):
        out.update(chord_scores(gt["chords"], est["chords"], dur))
    if want("beat"):
        out.update(beat_scores(gt["beats"], est["beats"]) or {})
    if want("downbeat"):
        f = downbeat_score(gt["downbeats"], est["downbeats"])
        if f is not None:
            out["downbeat_f"] = f
    if want("tempo") and est["bpm"] is not None:
        out.update(tempo_scores(float(gt["bpm"]), float(est["bpm"])))
    if want("key") and mirex_key(gt["key"]) != "X":
        out["key_weighted"] = key_score(gt["key"], est["key"])
    if want("section"):
        out.update(section_scores(gt["sections"], est["sections"], dur))
    return {k: round(float(v), 6) for k, v in out.items() if k in allowed}


def aggregate(songs: list[tuple[float, dict]]) -> dict:
    """Duration-weighted mean of each metric over (duration, scores) pairs, over the songs that have it."""
    out = {}
    for m in METRICS:
        pairs = [(d, s[m]) for d, s in songs if m in s]
        if pairs:
            w = sum(d for d, _ in pairs)
            out[m] = round(sum(d * v for d, v in pairs) / w, 4) if w > 0 else None
    return out


# ------------------------------------------------------------------------------------------------------- run
def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _warmup_clip(path: str, folder: str) -> str:
    import soundfile as sf

    sr = sf.info(path).samplerate
    x, _ = sf.read(path, dtype="float32", always_2d=True, frames=int(WARMUP_S * sr))
    clip = os.path.join(folder, "warmup.wav")
    sf.write(clip, x, sr)
    return clip


def run_benchmark(set_dir: str, names: list[str], limit: int | None = None, chord_song: str | None = None,
                  detune: float = 0.0) -> dict:
    """Run the systems `names` over the songs of `set_dir` (played `detune` cents off A440) and score them.
    Returns the result dict (JSON-able); `result['_chord_timeline']` holds the chord segments of one song for the
    plot (left out of the JSON)."""
    ratio = 2.0 ** (detune / 1200.0)
    meta, entries, kind = load_set(set_dir)
    entries = entries[:limit] if limit else entries
    allowed = CORPUS_METRICS if kind == "corpus" else tuple(METRICS)
    adapters, rows = {}, {}
    for name in names:
        mod = systems.load(name)
        try:
            ok, why = mod.available()
        except Exception as e:  # noqa: BLE001
            ok, why = False, f"availability check failed: {type(e).__name__}: {e}"
        rows[name] = {"name": name, "available": bool(ok), "status": "ok" if ok else why, "metrics": None,
                      "songs_ok": 0, "songs_failed": 0, "failures": [], "seconds": 0.0, "audio_minutes": 0.0,
                      "s_per_min": None, "warmup_s": None, "produces": [], "missing": []}
        if ok:
            adapters[name] = mod
        else:
            _log(f"analysis: {name}: {why}; skipped")
    if not entries:
        raise ValueError(f"{set_dir}: the index lists no songs")
    songs_out, per_system, produced = [], {n: [] for n in names}, {n: set() for n in names}
    timeline = {"song": None, "truth": None, "systems": {}}
    plot_id = chord_song or entries[0]["id"]
    with tempfile.TemporaryDirectory() as tmp:
        if adapters:
            clip = _warmup_clip(os.path.join(set_dir, entries[0]["paths"]["mix"]), tmp)
            for name, mod in adapters.items():
                t0 = time.perf_counter()
                try:
                    mod.analyze(clip)
                except Exception as e:  # noqa: BLE001 - reported; the songs decide
                    rows[name]["warmup_error"] = f"{type(e).__name__}: {e}"
                rows[name]["warmup_s"] = round(time.perf_counter() - t0, 3)
                _log(f"analysis: warm-up {name}: {rows[name]['warmup_s']:.2f} s")
        for i, entry in enumerate(entries, 1):
            sid = entry["id"]
            audio = os.path.join(set_dir, entry["paths"]["mix"])
            try:
                gt = ground_truth(os.path.join(set_dir, entry["paths"]["jams"]))
                if detune:
                    gt, audio = detuned_truth(gt, ratio), detuned_audio(audio, detune, tmp)
            except Exception as e:  # noqa: BLE001
                _log(f"analysis: [{i}/{len(entries)}] {sid}: ground truth unreadable ({e}); song skipped")
                songs_out.append({"id": sid, "error": f"ground truth: {type(e).__name__}: {e}"})
                continue
            dur = float(entry.get("duration") or gt["duration"]) / ratio
            song = {"id": sid, "duration": round(dur, 3), "systems": {}}
            if sid == plot_id and gt.get("chords"):
                timeline.update(song=sid, truth=gt["chords"], duration=dur)
            for name, mod in adapters.items():
                t0 = time.perf_counter()
                try:
                    est = mod.analyze(audio)
                    secs = time.perf_counter() - t0
                    scores = score_song(gt, est, allowed)
                except Exception as e:  # noqa: BLE001 - one song failing must not end the run
                    secs = time.perf_counter() - t0
                    err = f"{type(e).__name__}: {e}"
                    rows[name]["songs_failed"] += 1
                    rows[name]["failures"].append({"song": sid, "error": err,
                                                   "where": traceback.format_exc(limit=-2).strip().splitlines()[-3:]})
                    song["systems"][name] = {"seconds": round(secs, 3), "error": err}
                    _log(f"analysis: [{i}/{len(entries)}] {sid} {name}: FAILED after {secs:.2f} s: {err}")
                    continue
                produced[name].update(k for k in OUTPUTS if k in est)
                rows[name]["songs_ok"] += 1
                rows[name]["seconds"] += secs
                rows[name]["audio_minutes"] += dur / 60.0
                per_system[name].append((dur, scores))
                song["systems"][name] = {"seconds": round(secs, 3), "metrics": scores}
                if sid == timeline["song"] and "chords" in est:
                    timeline["systems"][name] = est["chords"]
                _log(f"analysis: [{i}/{len(entries)}] {sid} {name}: {secs:.2f} s")
            songs_out.append(song)
    for name, row in rows.items():
        if not row["available"]:
            continue
        row["metrics"] = aggregate(per_system[name])
        row["produces"] = [k for k in OUTPUTS if k in produced[name]]
        row["missing"] = [k for k in OUTPUTS if k not in produced[name]]
        row["seconds"] = round(row["seconds"], 3)
        row["s_per_min"] = round(row["seconds"] / row["audio_minutes"], 3) if row["audio_minutes"] else None
        row["audio_minutes"] = round(row["audio_minutes"], 3)
        if row["songs_ok"] == 0:
            row["status"] = "failed on every song"
    minutes = sum(s.get("duration", 0.0) for s in songs_out) / 60.0
    return {"suite": "analysis", "machine": report.machine(),
            "set": {"path": os.path.abspath(set_dir), "kind": kind, "n_songs": len(songs_out),
                    "audio_minutes": round(minutes, 3), "index": meta, "detune_cents": detune},
            "metrics": {k: v[1] for k, v in METRICS.items() if k in allowed},
            "systems": [rows[n] for n in names], "songs": songs_out, "_chord_timeline": timeline}


# ---------------------------------------------------------------------------------------------------- output
def _note(row: dict) -> str:
    if not row["available"]:
        return row["status"]
    parts = []
    if row["missing"]:
        parts.append("does not produce " + ", ".join(row["missing"]))
    if row["songs_failed"]:
        parts.append(f"failed on {row['songs_failed']} song(s): " + "; ".join(
            f"{f['song']} ({f['error'][:80]})" for f in row["failures"][:3]))
    if row.get("warmup_error"):
        parts.append("warm-up failed: " + row["warmup_error"][:80])
    return "; ".join(parts) or "-"


def to_markdown(result: dict) -> str:
    metrics = list(result["metrics"])
    headers = ["system", "status"] + [METRICS[m][0] for m in metrics] + ["s / min audio", "songs ok/failed"]
    rows = []
    for row in result["systems"]:
        if not row["available"]:
            rows.append([row["name"], row["status"]] + ["-"] * len(metrics) + ["-", "-"])
            continue
        vals = [("%.3f" % row["metrics"][m]) if row["metrics"].get(m) is not None else "-" for m in metrics]
        spm = "%.2f" % row["s_per_min"] if row["s_per_min"] is not None else "-"
        rows.append([row["name"], row["status"]] + vals + [spm, f"{row['songs_ok']}/{row['songs_failed']}"])
    s = result["set"]
    lines = [f"# Analysis benchmark ({s['kind']})", "",
             f"{s['n_songs']} songs, {s['audio_minutes']:.2f} min of audio from `{s['path']}`; "
             f"{result['machine']['platform']}, {result['machine']['cpus']} CPUs, {result['machine']['when']}."
             + (f" Every song played {s['detune_cents']:+g} cents off A440 (`--detune`: resampled, the truth's "
                f"times and tempo moved with it)." if s.get("detune_cents") else ""), "",
             report.markdown_table(headers, rows), "", "## Per system", ""]
    for row in result["systems"]:
        warm = f" (warm-up {row['warmup_s']:.2f} s, not counted)" if row.get("warmup_s") is not None else ""
        lines.append(f"- **{row['name']}**: {_note(row)}{warm}")
    lines += ["", "## Metrics", ""] + [f"- {METRICS[m][0]}: {d}" for m, d in result["metrics"].items()]
    lines += ["", "Scores are per song, then averaged weighted by song duration, over the songs where the "
              "ground truth has the field and the system produces it ('-': not produced or not applicable). "
              "Beats and downbeats: the first 5 s are left out (MIREX). Key: a fifth above or below scores 0.5 "
              "(MIREX 2017+; mir_eval alone credits only the fifth above); modes count as major or minor."]
    return "\n".join(lines)


def plot_metrics(result: dict, path: str) -> str:
    """Grouped bars: one group per metric, one bar per available system."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = list(result["metrics"])
    rows = [r for r in result["systems"] if r["available"] and r["metrics"]]
    fig, ax = plt.subplots(figsize=(max(8, 0.9 * len(metrics) + 2), 4.5))
    width = 0.8 / max(1, len(rows))
    x = np.arange(len(metrics))
    for j, row in enumerate(rows):
        vals = [row["metrics"].get(m) for m in metrics]
        ax.bar(x + (j - (len(rows) - 1) / 2) * width, [v if v is not None else 0 for v in vals], width,
               label=row["name"])
    ax.set_xticks(x)
    ax.set_xticklabels([METRICS[m][0] for m in metrics], rotation=35, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score (0..1)")
    off = [r["name"] + ": " + r["status"] for r in result["systems"] if not r["available"]]
    ax.set_title(f"Analysis benchmark, {result['set']['n_songs']} songs" + ("\n" + "; ".join(off) if off else ""),
                 fontsize=9)
    if rows:
        ax.legend(fontsize=8, ncol=min(len(rows), 5))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_chords(timeline: dict, path: str) -> str:
    """Chord timeline of one song: ground truth on top, one lane per system, colour by root."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lanes = [("truth", timeline["truth"])] + sorted(timeline["systems"].items())
    cmap = plt.get_cmap("hsv")
    fig, ax = plt.subplots(figsize=(12, 0.7 * len(lanes) + 1.2))
    for y, (name, segs) in enumerate(reversed(lanes)):
        for s in segs:
            lab = str(s["label"])
            root = lab.split(":")[0].split("/")[0]
            try:
                color = cmap(systems.pitch_class(root) / 12.0)
                alpha = 0.35 if ":min" in lab else 0.7
            except (KeyError, IndexError):
                color, alpha = "lightgrey", 0.6
            ax.barh(y, s["end"] - s["start"], left=s["start"], height=0.8, color=color, alpha=alpha,
                    edgecolor="black", linewidth=0.4)
            if s["end"] - s["start"] > 0.6:
                ax.text((s["start"] + s["end"]) / 2, y, lab, ha="center", va="center", fontsize=6, clip_on=True)
    ax.set_yticks(range(len(lanes)))
    ax.set_yticklabels([n for n, _ in reversed(lanes)])
    ax.set_xlim(0, timeline.get("duration") or max(s["end"] for s in timeline["truth"]))
    ax.set_xlabel("seconds")
    ax.set_title(f"Chords of {timeline['song']}: ground truth and each system (colour: root; pale: minor)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="bandmate bench analysis", description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", required=True, help="songbook folder (with index.json)")
    ap.add_argument("--systems", default=",".join(systems.SYSTEMS),
                    help="comma-separated systems (default: %(default)s)")
    ap.add_argument("--limit", type=int, default=None, help="only the first N songs")
    ap.add_argument("--json", action="store_true", help="print the JSON result instead of the Markdown table")
    ap.add_argument("--out-dir", default=None, help="where analysis.{json,md,png} go (default: bench/results/)")
    ap.add_argument("--chord-song", default=None, help="song id of the chord timeline plot (default: the first)")
    ap.add_argument("--detune", type=float, default=0.0, metavar="CENTS",
                    help="play every song this many cents off A440, -50..50 (resampled; the truth's times follow)")
    args = ap.parse_args(argv)
    if not -50.0 <= args.detune <= 50.0:
        print("analysis: --detune must be within -50..50 cents", file=sys.stderr)
        return 2
    names = [n.strip() for n in args.systems.split(",") if n.strip()]
    unknown = [n for n in names if n not in systems.SYSTEMS]
    if unknown or not names:
        print(f"analysis: unknown system(s) {', '.join(unknown) or '(none given)'}; known: "
              f"{', '.join(systems.SYSTEMS)}", file=sys.stderr)
        return 2
    try:
        result = run_benchmark(args.set, names, args.limit, args.chord_song, args.detune)
    except (OSError, ValueError, KeyError) as e:
        print(f"analysis: error: {e}", file=sys.stderr)
        return 2
    timeline = result.pop("_chord_timeline")
    out_dir = args.out_dir or report.RESULTS_DIR
    os.makedirs(out_dir, exist_ok=True)
    plots = [plot_metrics(result, os.path.join(out_dir, "analysis_metrics.png"))]
    if timeline.get("truth"):
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in timeline["song"])
        plots.append(plot_chords(timeline, os.path.join(out_dir, f"analysis_chords_{safe}.png")))
    result["plots"] = [os.path.basename(p) for p in plots]
    markdown = to_markdown(result) + "\n\nPlots: " + ", ".join(f"`{p}`" for p in result["plots"]) + "\n"
    json_path, md_path = report.write("analysis", result, markdown, out_dir)
    print(json.dumps(result, indent=1, sort_keys=True) if args.json else markdown)
    _log(f"analysis: wrote {json_path}, {md_path}, " + ", ".join(plots))
    return 0


if __name__ == "__main__":
    sys.exit(main())
