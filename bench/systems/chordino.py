"""Chordino (NNLS-Chroma Vamp plugin) through the `chord-extractor` package: chords only.

Install (the `vamp` host module has no wheel and needs numpy at build time, hence no build isolation):
    pip install wheel
    pip install vamp --no-build-isolation
    pip install chord-extractor
chord-extractor imports pkg_resources, so setuptools must be < 81. Licence: GPL-2.0 (plugin and wrapper).
"""
from __future__ import annotations

import warnings

from . import changes_to_segments, harte_from_name, missing

NAME = "chordino"
INSTALL = "pip install wheel && pip install vamp --no-build-isolation && pip install chord-extractor"


def available() -> tuple[bool, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pkg_resources deprecation
        return missing("chord_extractor.extractors", INSTALL)


def analyze(path: str) -> dict:
    """Chordino with its default (pop) parameters at the file's own sample rate."""
    import soundfile as sf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from chord_extractor.extractors import Chordino

        changes = Chordino().extract(path, sr=None)
    end = sf.info(path).duration
    chords = changes_to_segments([(c.timestamp, harte_from_name(c.chord)) for c in changes], end)
    return {"chords": chords}
