"""Essentia: RhythmExtractor2013 (bpm, beats), KeyExtractor (key), HPCP + ChordsDetectionBeats (chords).

Install:
    pip install essentia
Licence: AGPL-3.0: benchmark only. Settings follow essentia's tonal examples: 44.1 kHz, 4096-sample frames,
2048 hop, Blackman-Harris 62 window, 36-bin HPCP of spectral peaks 40-5000 Hz; chords are essentia's
per-beat chord detection between the beats RhythmExtractor2013 found (N before the first beat).
"""
from __future__ import annotations

from . import harte_from_name, load_mono, missing, segments

NAME = "essentia"
INSTALL = "pip install essentia"
SR, FRAME, HOP = 44100, 4096, 2048


def available() -> tuple[bool, str]:
    ok, why = missing("essentia", INSTALL)
    if ok:
        import essentia
        essentia.log.infoActive = False  # silence the import-time "MusicExtractorSVM" notice on stderr
        essentia.log.warningActive = False
        ok, why = missing("essentia.standard", INSTALL)
    return ok, why


def analyze(path: str) -> dict:
    import essentia
    import essentia.standard as es
    import numpy as np

    essentia.log.warningActive = False
    x = load_mono(path, SR)
    end = len(x) / SR
    bpm, ticks, _, _, _ = es.RhythmExtractor2013(method="multifeature")(x)
    tonic, scale, _ = es.KeyExtractor(sampleRate=SR)(x)
    window, spectrum = es.Windowing(type="blackmanharris62"), es.Spectrum()
    peaks = es.SpectralPeaks(orderBy="magnitude", magnitudeThreshold=1e-5, minFrequency=40, maxFrequency=5000,
                             maxPeaks=100, sampleRate=SR)
    hpcp = es.HPCP(size=36, referenceFrequency=440, harmonics=8, bandPreset=True, minFrequency=40,
                   maxFrequency=5000, weightType="cosine", nonLinear=False, windowSize=1.0, sampleRate=SR)
    frames = []
    for frame in es.FrameGenerator(x, frameSize=FRAME, hopSize=HOP, startFromZero=True):
        f, m = peaks(spectrum(window(frame)))
        frames.append(hpcp(f, m))
    out = {"bpm": float(bpm), "beats": [float(t) for t in ticks],
           "key": f"{tonic}:{'maj' if scale == 'major' else 'min'}"}
    if len(ticks) >= 2 and frames:
        labels, _ = es.ChordsDetectionBeats(hopSize=HOP, sampleRate=SR)(np.array(frames, dtype=np.float32),
                                                                       np.asarray(ticks, dtype=np.float32))
        # one label per inter-beat span: ticks[i] .. ticks[i+1]
        starts = [0.0] + [float(t) for t in ticks[:len(labels)]]
        labs = ["N"] + [harte_from_name(str(c)) for c in labels]
        last = float(ticks[len(labels)]) if len(labels) < len(ticks) else end
        out["chords"] = segments(labs, starts, last)
        if last < end:
            out["chords"].append({"start": last, "end": end, "label": "N"})
    return out
