"""The analysis engine: an audio clip in, the song description out (protocol/song.py).

What it measures today: the source facts (format, durations, loudness) and, when the chord model is trained
and present, chord segments with Harte labels. Every other field stays absent, and `notices` says so.
"""
from __future__ import annotations

import os

from protocol.song import new_song_description

from .audio import describe_source

CHORD_CHECKPOINT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "checkpoints",
                                "chords")
NOT_YET = "tempo, beats, downbeats, key, sections and the theory reading are not part of this build yet"


def load_chord_model(checkpoint: str = CHORD_CHECKPOINT, device=None):
    """The trained chord network, or None when its checkpoint is absent."""
    path = checkpoint + ".safetensors"
    if not os.path.exists(path):
        return None
    from safetensors.torch import load_file

    from .chords import build_model

    model = build_model()
    model.load_state_dict(load_file(path))
    model.eval()
    if device is not None:
        model.to(device)
    return model


_default_models: dict = {}


def analyze_file(path: str, start: float | None = None, end: float | None = None, context: dict | None = None,
                 models: dict | None = None, progress=None) -> dict:
    """Song description of `path` (seconds from `start`). `models` maps names to loaded models (the daemon's
    warm pool); without it the default checkpoints are loaded once per process."""
    from .audio import probe
    from .features import MODEL_SR, MonoResampler, log_freq_spectrogram
    from .train_chords import predict

    report = progress or (lambda stage, fraction: None)
    if models is None:
        if "chords" not in _default_models:
            _default_models["chords"] = load_chord_model()
        models = _default_models
    chord_model = models.get("chords")
    info = probe(path)
    mono = MonoResampler(info["sample_rate"], MODEL_SR) if chord_model is not None else None
    source = describe_source(path, start, end, progress=lambda s, f: report("decode", 0.3 * f),
                             on_block=mono.feed if mono is not None else None, info=info)
    song = new_song_description(source)
    notices = []
    if chord_model is not None:
        report("features", 0.4)
        spec, _ = log_freq_spectrogram(mono.result(), MODEL_SR)
        report("chords", 0.7)
        song["chords"] = predict(chord_model, spec, duration=source["duration"])
    else:
        notices.append("chords unavailable: no trained chord model (bandmate train chords)")
    notices.append(NOT_YET)
    song["notices"] = notices
    report("done", 1.0)
    return song
