"""`bandmate bench speed`: whole-song analysis time of a 3-minute song, Bandmate beside the peers, one run.

    bandmate bench speed --set data/test [--seconds 180] [--rounds 3] [--systems bandmate,madmom,...]
        [--out bench/results/speed]

The song is made by concatenating songbook mixes of `--set` (in index order) up to `--seconds` and written as a
44.1 kHz stereo FLAC, the format a DAW hands over. Every system first analyses a 10 s clip (warm-up: models
loaded, caches filled; not counted), then the systems take turns on the song for `--rounds` rounds (interleaved,
so background load hits all alike), and the median wall time per system is reported with its ratio to Bandmate.
What each system computes is its adapter's full output (bench/systems): madmom = beats + downbeats + tempo +
key + chords; Bandmate = the whole song description without separation.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time

import numpy as np

from . import systems
from .analysis import load_set


def make_song(set_dir: str, seconds: float, path: str) -> float:
    """Concatenate the set's mixes into `path` until `seconds`; returns the written duration in seconds."""
    import soundfile as sf
    import soxr

    _, entries, _ = load_set(set_dir)
    parts, total, sr_out = [], 0, 44100
    for e in entries:
        x, sr = sf.read(os.path.join(set_dir, e["paths"]["mix"]), dtype="float32", always_2d=True)
        if x.shape[1] == 1:
            x = np.repeat(x, 2, axis=1)
        x = x[:, :2]
        if sr != sr_out:
            x = soxr.resample(x, sr, sr_out)
        parts.append(x)
        total += len(x)
        if total >= seconds * sr_out:
            break
    song = np.concatenate(parts)[: int(seconds * sr_out)]
    sf.write(path, song, sr_out)
    return len(song) / sr_out


def run(set_dir: str, names: list[str], seconds: float = 180.0, rounds: int = 3) -> dict:
    adapters, status = {}, {}
    for name in names:
        mod = systems.load(name)
        ok, why = mod.available()
        status[name] = "ok" if ok else why
        if ok:
            adapters[name] = mod
    times = {n: [] for n in adapters}
    warm = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "song.flac")
        dur = make_song(set_dir, seconds, path)
        clip = os.path.join(tmp, "warmup.flac")
        make_song(set_dir, 10.0, clip)
        for name, mod in adapters.items():
            t0 = time.perf_counter()
            mod.analyze(clip)
            warm[name] = time.perf_counter() - t0
        for r in range(rounds):
            for name, mod in adapters.items():
                t0 = time.perf_counter()
                mod.analyze(path)
                times[name].append(time.perf_counter() - t0)
                print("speed: round %d %s %.2f s" % (r + 1, name, times[name][-1]), file=sys.stderr)
    med = {n: statistics.median(t) for n, t in times.items()}
    base = med.get("bandmate")
    rows = [{"system": n, "status": status[n], "median_s": round(med[n], 3) if n in med else None,
             "runs_s": [round(t, 3) for t in times.get(n, [])],
             "warmup_s": round(warm[n], 3) if n in warm else None,
             "x_bandmate": round(med[n] / base, 2) if base and n in med else None} for n in names]
    return {"song_seconds": round(dur, 2), "rounds": rounds, "set": os.path.abspath(set_dir),
            "machine": "%s, %d CPUs" % (platform.platform(), os.cpu_count() or 0),
            "date": time.strftime("%Y-%m-%d %H:%M:%S"), "rows": rows}


def to_markdown(res: dict) -> str:
    lines = ["# Analysis speed: one %.0f s song" % res["song_seconds"], "",
             "%s; %s; median of %d interleaved rounds after a warm-up clip." % (res["machine"], res["date"],
                                                                                 res["rounds"]), "",
             "| system | status | median s | runs s | time / Bandmate's |", "|---|---|---|---|---|"]
    for r in res["rows"]:
        lines.append("| %s | %s | %s | %s | %s |" % (
            r["system"], r["status"], r["median_s"] if r["median_s"] is not None else "-",
            ", ".join("%.2f" % t for t in r["runs_s"]) or "-",
            "%.2fx" % r["x_bandmate"] if r["x_bandmate"] is not None else "-"))
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="bandmate bench speed", description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", required=True, help="songbook set directory (index.json + songs)")
    ap.add_argument("--seconds", type=float, default=180.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--systems", default="bandmate,madmom,chordino,essentia,librosa")
    ap.add_argument("--out", default=os.path.join("bench", "results", "speed"))
    a = ap.parse_args(argv)
    res = run(a.set, [s.strip() for s in a.systems.split(",") if s.strip()], a.seconds, a.rounds)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "speed.json"), "w", encoding="utf-8") as fh:
        json.dump(res, fh, indent=1)
    md = to_markdown(res)
    with open(os.path.join(a.out, "speed.md"), "w", encoding="utf-8") as fh:
        fh.write(md)
    print(md)
    return 0
