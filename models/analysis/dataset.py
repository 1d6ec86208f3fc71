"""`bandmate dataset FOLDER --out DIR`: a folder of your songs becomes a training set.

Every audio file under FOLDER (any format `bandmate analyze` reads) is analysed in this process, and the set is
written in the songbook's layout, so the trainers take it as they take a songbook set
(`bandmate train chords --train DIR`, `train beats`, `train live`, the key scorer's `--fit`):

    DIR/index.json                      {"songs": [{id, paths: {mix, json, jams}, duration, bpm, key, labels,
                                                    source: {path, size, mtime}}], "failed": [...]}
    DIR/songs/<id>/<id>.json            the song description (`protocol/song.py`), labels in place
    DIR/songs/<id>/<id>.jams            the same as JAMS (where the jams package is installed)

`paths.mix` is the audio file's absolute path (the audio stays where it is), or with `--copy` a copy beside the
JSON (a set that travels).

Human labels win over the analysis. Beside `song.flac` (same folder, same name stem) Bandmate reads:
- `song.lab` or `song.chords.lab`: chords, one "start end label" line per segment (seconds, Harte labels: the
  Isophonics / MIREX format);
- `song.beats` or `song.beats.txt`: beats, one "time [position in bar]" line per beat (position 1 = downbeat);
  the tempo becomes 60 / the median beat interval;
- `song.jams`: its chord, beat, key_mode and tempo annotations (first of each namespace).
What a sidecar gives replaces the analysis' reading; the rest (and every field a sidecar lacks) is Bandmate's
own. Each song's `labels` says where each of chords, beats and key came from ("analysis" or the sidecar's name).
Trained on analysis labels alone, a model learns Bandmate's own readings back (self-training: useful for
adapting to a timbre, not for fixing its errors); labelled songs are what teach it something new.

Runs resume: a song whose source file has the same size and modification time as recorded is kept, not
analysed again. A file that cannot be read, or whose sidecar does not parse, is listed under "failed" with its
error code (`protocol/errors.py`); the run goes on.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import time

import numpy as np

from protocol import BandmateError

from .audio import FFMPEG_EXTENSIONS, NATIVE_EXTENSIONS

AUDIO_EXTENSIONS = NATIVE_EXTENSIONS | FFMPEG_EXTENSIONS


def audio_files(folder: str) -> list[str]:
    """Audio files under `folder` (recursively), sorted by relative path; hidden folders and files skipped."""
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for f in sorted(files):
            if not f.startswith(".") and os.path.splitext(f)[1].lower() in AUDIO_EXTENSIONS:
                out.append(os.path.join(root, f))
    return sorted(out, key=lambda p: os.path.relpath(p, folder).replace(os.sep, "/"))


def song_id(folder: str, path: str) -> str:
    """A stable, file-system-safe id: the name stem (letters, digits, '-' and '_') and 8 hex digits of the
    relative path's hash (two 'intro.wav' in different folders stay apart)."""
    rel = os.path.relpath(path, folder).replace(os.sep, "/")
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", os.path.splitext(os.path.basename(path))[0]).strip("_")[:40] or "song"
    return "%s-%s" % (stem, hashlib.sha1(rel.encode("utf-8")).hexdigest()[:8])


# ------------------------------------------------------------------------------------------------ sidecars
def _sidecar(path: str, suffixes) -> str | None:
    base = os.path.splitext(path)[0]
    return next((base + s for s in suffixes if os.path.isfile(base + s)), None)


def _rows(path: str) -> list[list[str]]:
    with open(path, encoding="utf-8-sig") as fh:
        return [line.split() for line in fh if line.strip() and not line.lstrip().startswith("#")]


def read_lab(path: str) -> list[dict]:
    """Chord segments [{start, end, label}] of a .lab file ("start end label", seconds); ValueError when a line
    does not parse or a label is not Harte syntax."""
    from models.theory.harmony import parse_harte

    out = []
    for i, row in enumerate(_rows(path), 1):
        if len(row) < 3:
            raise ValueError("%s line %d: expected 'start end label'" % (path, i))
        start, end, label = float(row[0]), float(row[1]), row[2]
        if label not in ("N", "X"):
            parse_harte(label)
        if end > start:
            out.append({"start": round(start, 6), "end": round(end, 6), "label": "N" if label == "X" else label})
    if not out:
        raise ValueError("%s: no chord segments" % path)
    return sorted(out, key=lambda c: c["start"])


def read_beats(path: str) -> list[dict]:
    """Beats [{time, position}] of a beat file ("time [position]"); position None where the file has none."""
    out = []
    for i, row in enumerate(_rows(path), 1):
        try:
            out.append({"time": round(float(row[0]), 6), "position": int(float(row[1])) if len(row) > 1 else None})
        except ValueError:
            raise ValueError("%s line %d: expected 'time [position]'" % (path, i)) from None
    if len(out) < 2:
        raise ValueError("%s: fewer than two beats" % path)
    return sorted(out, key=lambda b: b["time"])


def read_jams(path: str) -> dict:
    """{chords, beats, key, bpm} from a JAMS file's first chord, beat, key_mode and tempo annotations (those it
    has)."""
    import jams

    jam = jams.load(path, validate=False)
    out: dict = {}

    def first(namespace):
        found = jam.search(namespace=namespace)
        return sorted(found[0].data, key=lambda o: o.time) if len(found) else []
    chords = [{"start": round(float(o.time), 6), "end": round(float(o.time + o.duration), 6), "label": str(o.value)}
              for o in first("chord") if o.duration > 0]
    if chords:
        out["chords"] = chords
    beats = [{"time": round(float(o.time), 6), "position": None if o.value is None else int(o.value)}
             for o in first("beat")]
    if len(beats) >= 2:
        out["beats"] = beats
    keys = [o for o in first("key_mode") if str(o.value) not in ("N", "X", "")]
    if keys:
        out["key"] = str(keys[0].value)
    tempo = first("tempo")
    if tempo:
        out["bpm"] = float(tempo[0].value)
    return out


def sidecar_labels(path: str) -> dict:
    """{field: (value, source name)} for chords, beats, key, bpm from the sidecars of `path` (.lab and .beats
    win over .jams)."""
    out: dict = {}
    jams_path = _sidecar(path, (".jams",))
    if jams_path:
        out.update({k: (v, os.path.basename(jams_path)) for k, v in read_jams(jams_path).items()})
    lab = _sidecar(path, (".lab", ".chords.lab"))
    if lab:
        out["chords"] = (read_lab(lab), os.path.basename(lab))
    beats = _sidecar(path, (".beats", ".beats.txt"))
    if beats:
        out["beats"] = (read_beats(beats), os.path.basename(beats))
    return out


def apply_labels(song: dict, labels: dict) -> dict:
    """The song description with the sidecars' labels in place; returns {field: source} for chords, beats,
    key."""
    source = {"chords": "analysis", "beats": "analysis", "key": "analysis"}
    if "chords" in labels:
        chords, source["chords"] = labels["chords"]
        song["chords"] = [dict(c) for c in chords]
    analysed_downbeats = list(song.get("downbeats") or [])
    if "beats" in labels:
        beats, source["beats"] = labels["beats"]
        song["beats"] = [dict(b) for b in beats]
        song["downbeats"] = [b["time"] for b in beats if b.get("position") == 1]
        ibi = np.diff([b["time"] for b in beats])
        if len(ibi) and float(np.median(ibi)) > 0 and "bpm" not in labels:
            song["bpm"] = round(60.0 / float(np.median(ibi)), 3)
            song["tempo_map"] = [{"time": beats[0]["time"], "bpm": song["bpm"]}]
        positions = [b["position"] for b in beats if b.get("position")]
        if positions:
            song.setdefault("meter", {})["numerator"] = max(positions)
        else:   # beats without bar positions: the bars as the analysis reads them, on your beats
            song["downbeats"], song["beats"] = _positions_from(song["beats"], analysed_downbeats)
    if "bpm" in labels:
        song["bpm"] = round(float(labels["bpm"][0]), 3)
    if "key" in labels:
        label, source["key"] = labels["key"]
        tonic, _, mode = label.partition(":")
        song["key"] = {"tonic": tonic, "mode": mode or "major", "label": label if mode else tonic + ":major",
                       "confidence": 1.0}
        song["key_regions"] = []
    return source


def _positions_from(beats: list[dict], downbeats: list[float], tolerance: float = 0.1) -> tuple[list, list]:
    """(downbeat times, beats with positions) for beats that have none: each analysed downbeat marks the beat
    nearest to it (within `tolerance` s) as a bar's first; the beats count on from there (None before the first
    mark)."""
    times = np.array([b["time"] for b in beats])
    marks = set()
    for d in downbeats:
        j = int(np.argmin(np.abs(times - d)))
        if abs(times[j] - d) <= tolerance:
            marks.add(j)
    out, pos = [], None
    for j, b in enumerate(beats):
        pos = 1 if j in marks else (pos + 1 if pos is not None else None)
        out.append(dict(b, position=pos))
    return [float(times[j]) for j in sorted(marks)], out


# ------------------------------------------------------------------------------------------------ the set
def _source_stamp(path: str) -> dict:
    st = os.stat(path)
    return {"path": os.path.abspath(path), "size": st.st_size, "mtime": round(st.st_mtime, 3)}


def make_dataset(folder: str, out: str, copy: bool = False, limit: int | None = None, log=None) -> dict:
    """Analyse every audio file under `folder` into a training set at `out` (module doc); returns the index."""
    from .engine import analyze_file

    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    if not os.path.isdir(folder):
        raise BandmateError("file_not_found", "no such folder: %s" % folder)
    files = audio_files(folder)[:limit]
    if not files:
        raise BandmateError("file_not_found", "no audio files under %s (%s)" % (folder, " ".join(
            sorted(AUDIO_EXTENSIONS))))
    os.makedirs(os.path.join(out, "songs"), exist_ok=True)
    index_path = os.path.join(out, "index.json")
    previous = {}
    if os.path.exists(index_path):
        with open(index_path, encoding="utf-8") as fh:
            previous = {s["id"]: s for s in json.load(fh).get("songs", [])}
    songs, failed, t0 = [], [], time.time()
    for i, path in enumerate(files, 1):
        sid = song_id(folder, path)
        rel = os.path.relpath(path, folder)
        stamp = _source_stamp(path)
        song_dir = os.path.join(out, "songs", sid)
        json_rel = "songs/%s/%s.json" % (sid, sid)
        old = previous.get(sid)
        if (old and old.get("source", {}).get("size") == stamp["size"]
                and old.get("source", {}).get("mtime") == stamp["mtime"]
                and os.path.exists(os.path.join(out, json_rel))):
            songs.append(old)
            log("dataset: [%d/%d] %s: kept (unchanged)" % (i, len(files), rel))
            continue
        t1 = time.time()
        try:
            labels = sidecar_labels(path)
            song = analyze_file(os.path.abspath(path))
        except BandmateError as exc:
            failed.append({"file": rel, "code": exc.code, "message": exc.message})
            log("dataset: [%d/%d] %s: failed (%s: %s)" % (i, len(files), rel, exc.code, exc.message))
            continue
        except (ValueError, OSError) as exc:   # a sidecar that does not parse
            failed.append({"file": rel, "code": "corrupt_file", "message": "labels: %s" % exc})
            log("dataset: [%d/%d] %s: failed (corrupt_file: labels: %s)" % (i, len(files), rel, exc))
            continue
        source = apply_labels(song, labels)
        os.makedirs(song_dir, exist_ok=True)
        mix = stamp["path"]
        if copy:
            mix_rel = "songs/%s/%s%s" % (sid, sid, os.path.splitext(path)[1].lower())
            shutil.copyfile(path, os.path.join(out, mix_rel))
            mix = mix_rel
        song["dataset"] = {"source": stamp["path"], "labels": source}
        with open(os.path.join(out, json_rel), "w", encoding="utf-8") as fh:
            json.dump(song, fh, indent=1)
        paths = {"mix": mix, "json": json_rel, "jams": None}
        try:
            from .exports import to_jams
            jams_rel = "songs/%s/%s.jams" % (sid, sid)
            to_jams(song, validate=False).save(os.path.join(out, jams_rel))
            paths["jams"] = jams_rel
        except ImportError:
            pass
        songs.append({"id": sid, "file": rel.replace(os.sep, "/"), "paths": paths,
                      "duration": song["source"]["duration"], "bpm": song.get("bpm"),
                      "key": (song.get("key") or {}).get("label"), "labels": source, "source": stamp})
        labelled = ", ".join("%s from %s" % (k, v) for k, v in source.items() if v != "analysis")
        log("dataset: [%d/%d] %s: %s (%.1f s)" % (i, len(files), rel, "analysed" + (", " + labelled if labelled
                                                                                   else ""), time.time() - t1))
    index = {"name": os.path.basename(os.path.abspath(out)), "made_by": "bandmate dataset",
             "source_folder": os.path.abspath(folder), "songs": songs, "failed": failed}
    tmp = index_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(index, fh, indent=1)
    os.replace(tmp, index_path)
    n_labelled = sum(1 for s in songs if any(v != "analysis" for v in s["labels"].values()))
    log("dataset: %d songs (%d with your labels), %d failed, %.0f s -> %s" % (
        len(songs), n_labelled, len(failed), time.time() - t0, index_path))
    return index


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="bandmate dataset", description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", help="a folder of songs (searched recursively)")
    ap.add_argument("--out", required=True, help="the training set's folder (index.json, songs/)")
    ap.add_argument("--copy", action="store_true", help="copy the audio into the set (default: refer to it)")
    ap.add_argument("--limit", type=int, help="the first N files only")
    args = ap.parse_args(argv)
    try:
        index = make_dataset(args.folder, args.out, copy=args.copy, limit=args.limit)
    except BandmateError as exc:
        print("bandmate dataset: %s" % exc, file=sys.stderr)
        return 1
    return 0 if index["songs"] else 1


if __name__ == "__main__":
    sys.exit(main())
