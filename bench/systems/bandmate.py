"""Bandmate's own analyzer (`models.analysis.engine.analyze_file`).

The analysis engine is a later issue: until `models.analysis.engine` with `analyze_file(path) -> song
description` exists, this system reports "not implemented" and the table shows no numbers for it.
"""
from __future__ import annotations

import importlib
import importlib.util

NAME = "bandmate"
INSTALL = "part of bandmate (models.analysis.engine)"


def _engine():
    try:
        if importlib.util.find_spec("models.analysis.engine") is None:
            return None
    except (ImportError, ValueError):
        return None
    mod = importlib.import_module("models.analysis.engine")
    return mod if callable(getattr(mod, "analyze_file", None)) else None


def available() -> tuple[bool, str]:
    try:
        ok = _engine() is not None
    except Exception as e:  # noqa: BLE001 - a broken engine module is reported, not raised
        return False, f"models.analysis.engine does not import: {type(e).__name__}: {e}"
    return (True, "") if ok else (False, "not implemented")


def analyze(path: str) -> dict:
    """The engine's song description reduced to the benchmark's subset (seconds, Harte labels)."""
    desc = _engine().analyze_file(path)
    out: dict = {}
    if desc.get("bpm") is not None:
        out["bpm"] = float(desc["bpm"])
    if desc.get("beats"):
        out["beats"] = [float(b["time"] if isinstance(b, dict) else b) for b in desc["beats"]]
    if desc.get("downbeats"):
        out["downbeats"] = [float(b["time"] if isinstance(b, dict) else b) for b in desc["downbeats"]]
    key = desc.get("key")
    if isinstance(key, dict):
        key = key.get("label") or (f"{key['tonic']}:{key['mode']}" if key.get("tonic") else None)
    if key:
        out["key"] = key
    for k in ("chords", "sections"):
        if desc.get(k):
            out[k] = [{"start": float(s["start"]), "end": float(s["end"]), "label": s["label"]} for s in desc[k]]
    return out
