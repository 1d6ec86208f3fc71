"""Transcription: basic-pitch (ONNX) note accuracy on songbook stems and its speed on whole mixes.

Accuracy: each stem's audio (bass, chords, melody) against the stem's own ground-truth MIDI, note F-measure with
onsets only (mir_eval.transcription: 50 ms onset tolerance, pitch within 50 cents, offsets ignored), pooled
over the notes of all songs; plus the median onset error of matched notes (a timing bias shows there).
Speed: transcribe() on the first 30 s and on 180 s of songbook mixes (songs joined end to end), decode and
resampling excluded, best of `--repeat` runs; the two parts (model, note decoding) are timed apart.

    python -m bench.transcription --set data/test [--songs 10] [--repeat 3] [--json] [--out-dir DIR]
"""
import argparse
import glob
import json
import os
import sys
import time

import numpy as np

from . import report

STEMS = ("bass", "chords", "melody")


def _midi_notes(path):
    import pretty_midi

    notes = [n for inst in pretty_midi.PrettyMIDI(path).instruments if not inst.is_drum for n in inst.notes]
    return (np.array([[n.start, n.end] for n in notes]).reshape(-1, 2),
            np.array([n.pitch for n in notes], dtype=float))


def _hz(midi):
    return 440.0 * 2 ** ((np.asarray(midi, dtype=float) - 69) / 12)


def accuracy(songs, session):
    import mir_eval
    import soundfile as sf

    from models.analysis.transcription import transcribe

    per_stem = {s: {"tp": 0, "ref": 0, "est": 0, "onset_errors": []} for s in STEMS}
    for song in songs:
        for stem in STEMS:
            audio, midi = os.path.join(song, "stems", stem + ".flac"), os.path.join(song, "stems", stem + ".mid")
            if not (os.path.exists(audio) and os.path.exists(midi)):
                continue
            y, sr = sf.read(audio, dtype="float32", always_2d=True)
            notes = transcribe(y.mean(axis=1), sr, session)
            ref_iv, ref_p = _midi_notes(midi)
            est_iv = np.array([[n.onset_s, max(n.offset_s, n.onset_s + 1e-3)] for n in notes]).reshape(-1, 2)
            est_p = np.array([n.midi_pitch for n in notes], dtype=float)
            acc = per_stem[stem]
            acc["ref"] += len(ref_p)
            acc["est"] += len(est_p)
            if len(ref_p) and len(est_p):
                match = mir_eval.transcription.match_notes(ref_iv, _hz(ref_p), est_iv, _hz(est_p),
                                                           offset_ratio=None)
                acc["tp"] += len(match)
                acc["onset_errors"] += [est_iv[j, 0] - ref_iv[i, 0] for i, j in match]
    out = {}
    for stem, acc in per_stem.items():
        p = acc["tp"] / acc["est"] if acc["est"] else 0.0
        r = acc["tp"] / acc["ref"] if acc["ref"] else 0.0
        out[stem] = {"precision": round(p, 4), "recall": round(r, 4),
                     "f_measure": round(2 * p * r / (p + r), 4) if p + r else 0.0,
                     "ref_notes": acc["ref"], "est_notes": acc["est"],
                     "median_onset_error_ms": round(1000 * float(np.median(acc["onset_errors"])), 1)
                     if acc["onset_errors"] else None}
    return out


def speed(mixes, session, seconds_list=(30, 180), repeat=3):
    import soundfile as sf

    from models.analysis import transcription as tr

    sr = None
    parts = []
    for path in mixes:
        y, sr_i = sf.read(path, dtype="float32", always_2d=True)
        if sr is None:
            sr = sr_i
        if sr_i == sr:
            parts.append(y.mean(axis=1))
        if sum(len(p) for p in parts) >= max(seconds_list) * sr:
            break
    joined = np.concatenate(parts)
    out = []
    for seconds in seconds_list:
        y = joined[:int(seconds * sr)]
        if len(y) < seconds * sr:
            continue
        best = None
        for _ in range(repeat):
            t0 = time.perf_counter()
            act = tr.activations(y, sr, session)
            t1 = time.perf_counter()
            events = tr.decode_notes(act["note"], act["onset"], 0.5, 0.3, int(round(0.1277 / tr.FRAME_S)))
            t2 = time.perf_counter()
            run = {"model_s": t1 - t0, "decode_s": t2 - t1, "total_s": t2 - t0, "notes": len(events)}
            best = run if best is None or run["total_s"] < best["total_s"] else best
        out.append({"audio_seconds": seconds, "sample_rate": sr, **{k: round(v, 3) if isinstance(v, float) else v
                                                                     for k, v in best.items()},
                    "rtf": round(best["total_s"] / seconds, 4)})
        print("%d s: %.2f s (model %.2f s, notes %.2f s)" % (seconds, best["total_s"], best["model_s"],
                                                              best["decode_s"]), file=sys.stderr)
    return out


def run(set_dir, n_songs=10, repeat=3):
    import onnxruntime

    from models.analysis.transcription import load_session

    songs = sorted(glob.glob(os.path.join(set_dir, "songs", "*")))
    if not songs:
        raise SystemExit("no songs under %s/songs (bandmate songbook make ... --out %s)" % (set_dir, set_dir))
    session = load_session()
    load_before = os.getloadavg()[0]
    timings = speed([os.path.join(s, "mix.flac") for s in songs], session, repeat=repeat)
    scores = accuracy(songs[:n_songs], session)
    return {"model": "basic-pitch icassp_2022 (ONNX)", "onnxruntime": onnxruntime.__version__,
            "thresholds": {"onset": 0.5, "frame": 0.3, "min_note_ms": 127.7}, "set": os.path.abspath(set_dir),
            "songs_scored": min(n_songs, len(songs)), "speed": timings, "accuracy": scores,
            "load_avg_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)], "machine": report.machine()}


def to_markdown(res):
    speed_rows = [[r["audio_seconds"], "%.2f" % r["total_s"], "%.2f" % r["model_s"], "%.2f" % r["decode_s"],
                   "%.3f" % r["rtf"], r["notes"]] for r in res["speed"]]
    acc_rows = [[stem, "%.3f" % a["f_measure"], "%.3f" % a["precision"], "%.3f" % a["recall"], a["ref_notes"],
                 a["est_notes"], a["median_onset_error_ms"]] for stem, a in res["accuracy"].items()]
    return "\n".join([
        "# Transcription: basic-pitch (ONNX)", "",
        "onnxruntime %s, %d CPUs, load average %.1f -> %.1f, %s." % (
            res["onnxruntime"], res["machine"]["cpus"], res["load_avg_1min"][0], res["load_avg_1min"][1],
            res["machine"]["when"]), "",
        "## Speed (mono mix, best of runs; decoding and resampling of the file excluded)", "",
        report.markdown_table(["audio s", "total s", "model s", "notes s", "RTF", "notes"], speed_rows), "",
        "## Note accuracy on %d songbook songs (each stem vs its MIDI; onset-only F, 50 ms)" % res["songs_scored"],
        "", report.markdown_table(["stem", "F", "precision", "recall", "ref notes", "est notes",
                                   "median onset error ms"], acc_rows),
    ])


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench.transcription", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", default="data/test", help="a songbook folder (with songs/*/stems)")
    ap.add_argument("--songs", type=int, default=10, help="songs to score")
    ap.add_argument("--repeat", type=int, default=3, help="speed runs per length (the best is kept)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--out-dir", help="where to write transcription.json/.md (default bench/results)")
    args = ap.parse_args(argv)
    res = run(args.set, args.songs, args.repeat)
    md = to_markdown(res)
    paths = report.write("transcription", res, md, args.out_dir)
    print(json.dumps(res, indent=1) if args.json else md)
    print("\nwritten: %s" % ", ".join(paths), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
