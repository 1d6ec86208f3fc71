"""Analysis systems benchmarked side by side: one small adapter module per system.

Each adapter exposes
  NAME: str                       the system's name in tables
  INSTALL: str                    the pip command that installs it (the pyproject `peers` extra)
  available() -> (bool, reason)   False with a one-line reason when it cannot run here
  analyze(path) -> dict           the song-description subset it produces, in seconds:
      {"bpm": float, "beats": [s], "downbeats": [s], "key": "Eb:maj",
       "chords": [{"start", "end", "label" (Harte)}], "sections": [{"start", "end", "label"}]}
  and leaves out what the system does not produce.

The peers' licences (madmom's models CC BY-NC-SA, essentia AGPL, Chordino GPL) keep them out of the default
install: they are for benchmarks only.
"""
from __future__ import annotations

import importlib
import re

import numpy as np

from models.theory.harmony import DEGREE_NAMES, pc_of

SYSTEMS = ("bandmate", "chordino", "madmom", "essentia", "librosa")



def load(name: str):
    """The adapter module of system `name` (bench.systems.<name>); KeyError for an unknown name."""
    if name not in SYSTEMS:
        raise KeyError(f"unknown system {name!r}; known: {', '.join(SYSTEMS)}")
    return importlib.import_module(f"bench.systems.{name}")


def missing(module: str, install: str) -> tuple[bool, str]:
    """(True, '') when `module` imports; (False, 'not installed (INSTALL)') when it or a dependency is absent;
    (False, 'does not import (...)') when it is there but broken."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False, f"not installed ({install})"
    except Exception as e:  # noqa: BLE001 - a peer broken at import time is reported, never raised
        return False, f"does not import ({type(e).__name__}: {e}); reinstall: {install}"
    return True, ""


def load_mono(path: str, sample_rate: int) -> np.ndarray:
    """Mono float32 samples of an audio file at `sample_rate` Hz (soundfile + soxr, no ffmpeg needed)."""
    import soundfile as sf
    import soxr

    x, sr = sf.read(path, dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    if sr != sample_rate:
        x = soxr.resample(x, sr, sample_rate)
    return np.ascontiguousarray(x, dtype=np.float32)


def pitch_class(name: str) -> int:
    """Pitch class 0..11 of a note name ('Eb', 'F#', 'Cb', music21's 'B-'); KeyError for anything else."""
    if not name or name[0].upper() not in "CDEFGAB" or any(acc not in "#b-" for acc in name[1:]):
        raise KeyError(name)
    return pc_of(name)


# Chordino / essentia / lead-sheet chord names -> Harte. Order matters: longer suffixes first.
_SUFFIX = (("m7b5", "hdim7"), ("maj7", "maj7"), ("dim7", "dim7"), ("m7", "min7"), ("m6", "min6"), ("dim", "dim"),
           ("aug", "aug"), ("sus4", "sus4"), ("sus2", "sus2"), ("7", "7"), ("6", "maj6"), ("m", "min"),
           ("", "maj"))
_CHORD_NAME = re.compile(r"^([A-G][b#]?)([^/]*)(?:/([A-G][b#]?))?$")


def harte_from_name(name: str) -> str:
    """Harte label of a lead-sheet chord name ('Cm7' -> 'C:min7', 'Bb/D' -> 'Bb:maj/3', 'N' -> 'N').
    Unknown suffixes give 'X' (mir_eval leaves X out of the scores)."""
    name = name.strip()
    if name in ("", "N", "N.C.", "NC"):
        return "N"
    m = _CHORD_NAME.match(name)
    if not m:
        return "X"
    root, suffix, bass = m.groups()
    quality = dict(_SUFFIX).get(suffix)
    if quality is None:
        return "X"
    label = f"{root}:{quality}"
    if bass:
        label += "/" + DEGREE_NAMES[(pitch_class(bass) - pitch_class(root)) % 12]
    return label


def segments(labels, times, end: float) -> list[dict]:
    """Chord segments from per-frame (or per-beat) `labels` starting at `times` (seconds), the last ending at
    `end`; equal neighbours merged."""
    out: list[dict] = []
    for i, (lab, t) in enumerate(zip(labels, times)):
        t1 = times[i + 1] if i + 1 < len(times) else end
        if t1 <= t:
            continue
        if out and out[-1]["label"] == lab:
            out[-1]["end"] = float(t1)
        else:
            out.append({"start": float(t), "end": float(t1), "label": str(lab)})
    return out


def changes_to_segments(changes, end: float) -> list[dict]:
    """Chord segments from (time, label) change points; the first starts at 0 (N before the first change)."""
    changes = sorted((float(t), lab) for t, lab in changes)
    if not changes or changes[0][0] > 0:
        changes.insert(0, (0.0, "N"))
    return segments([c[1] for c in changes], [c[0] for c in changes], end)
