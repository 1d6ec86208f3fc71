"""A librosa 0.11 baseline: what a few lines of textbook MIR give.

Install:
    pip install "librosa==0.11.*"
(plus "setuptools<81" where a dependency still imports pkg_resources). Licence: ISC.

- tempo and beats: `librosa.beat.beat_track` (dynamic programming beat tracker, Ellis 2007);
- key: Krumhansl-Kessler profiles correlated with the mean CQT chroma (Krumhansl 1990);
- chords: cosine match of beat-synchronous CQT chroma against 24 major/minor triad templates, 'N' where the
  chroma energy is low;
- sections: `librosa.segment.agglomerative` on beat-synchronous chroma + MFCC, one section per ~15 s (at least
  2), labelled A, B, ... by similarity of the sections' mean features.
"""
from __future__ import annotations

import numpy as np

from . import load_mono, missing, segments

NAME = "librosa"
INSTALL = 'pip install "librosa==0.11.*"'
SR, HOP = 22050, 512
NOTES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
# Krumhansl-Kessler key profiles, C major / C minor.
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
SECONDS_PER_SECTION = 15.0


def available() -> tuple[bool, str]:
    return missing("librosa", INSTALL)


def key_from_chroma(chroma: np.ndarray) -> str:
    """'Eb:maj'-style key of a (12, frames) chroma by Krumhansl-Kessler profile correlation."""
    mean = chroma.mean(axis=1)
    best, label = -np.inf, "C:maj"
    for mode, prof in (("maj", KK_MAJOR), ("min", KK_MINOR)):
        for tonic in range(12):
            r = np.corrcoef(mean, np.roll(prof, tonic))[0, 1]
            if r > best:
                best, label = r, f"{NOTES[tonic]}:{mode}"
    return label


def triad_templates() -> tuple[np.ndarray, list[str]]:
    """(24, 12) unit-norm major/minor triad templates and their Harte labels."""
    temps, labels = [], []
    for mode, third in (("maj", 4), ("min", 3)):
        for root in range(12):
            t = np.zeros(12)
            t[[root, (root + third) % 12, (root + 7) % 12]] = 1.0
            temps.append(t / np.linalg.norm(t))
            labels.append(f"{NOTES[root]}:{mode}")
    return np.array(temps), labels


def chords_from_chroma(chroma: np.ndarray, energy: np.ndarray, threshold: float = 0.05) -> list[str]:
    """Harte label per column of a (12, n) chroma: best triad by cosine, 'N' where `energy` (n,) is below
    `threshold` x its maximum."""
    temps, labels = triad_templates()
    norm = chroma / np.maximum(np.linalg.norm(chroma, axis=0, keepdims=True), 1e-9)
    best = np.argmax(temps @ norm, axis=0)
    quiet = energy < threshold * max(float(energy.max()), 1e-9)
    return ["N" if q else labels[b] for b, q in zip(best, quiet)]


def sections_from_features(feats: np.ndarray, bound_times: np.ndarray, k: int) -> list[dict]:
    """Sections from beat-synchronous `feats` (d, n): agglomerative boundaries into `k` parts; `bound_times`
    (n + 1,) are the start of each column and the end of the last, seconds."""
    import librosa

    k = max(1, min(k, feats.shape[1]))
    starts = librosa.segment.agglomerative(feats, k)
    starts = sorted(set(int(s) for s in starts) | {0})
    ends = starts[1:] + [feats.shape[1]]
    means = [feats[:, a:b].mean(axis=1) for a, b in zip(starts, ends)]
    letters, protos, out = [], [], []
    for (a, b), m in zip(zip(starts, ends), means):
        m = m / max(np.linalg.norm(m), 1e-9)
        sims = [float(m @ p) for p in protos]
        if sims and max(sims) > 0.95:
            lab = letters[int(np.argmax(sims))]
        else:
            lab = chr(ord("A") + len(protos)) if len(protos) < 26 else "Z"
            letters.append(lab)
            protos.append(m)
        out.append({"start": float(bound_times[a]), "end": float(bound_times[b]), "label": lab})
    return out


def analyze(path: str) -> dict:
    import librosa

    y = load_mono(path, SR)
    end = len(y) / SR
    tempo, beat_frames = librosa.beat.beat_track(y=y, sr=SR, hop_length=HOP)
    beat_times = librosa.frames_to_time(beat_frames, sr=SR, hop_length=HOP)
    chroma = librosa.feature.chroma_cqt(y=y, sr=SR, hop_length=HOP)
    out = {"bpm": float(np.atleast_1d(tempo)[0]), "beats": [float(t) for t in beat_times],
           "key": key_from_chroma(chroma)}
    n = chroma.shape[1]
    # beat-synchronous spans: [0, b0), [b0, b1), ..., [b_last, end)
    bounds = librosa.util.fix_frames(beat_frames, x_min=0, x_max=n)
    sync = librosa.util.sync(chroma, bounds, aggregate=np.median)
    rms = librosa.feature.rms(y=y, hop_length=HOP)[0][:n]
    energy = librosa.util.sync(rms[np.newaxis, :], bounds, aggregate=np.mean)[0]
    times = librosa.frames_to_time(bounds, sr=SR, hop_length=HOP)
    times[-1] = end
    out["chords"] = segments(chords_from_chroma(sync, energy), list(times[:-1]), end)
    mfcc = librosa.feature.mfcc(y=y, sr=SR, hop_length=HOP, n_mfcc=13)[:, :n]
    mfcc_sync = librosa.util.sync(mfcc, bounds, aggregate=np.mean)
    feats = np.vstack([librosa.util.normalize(sync, axis=0),
                       mfcc_sync / max(float(np.abs(mfcc_sync).max()), 1e-9)])
    k = max(2, int(round(end / SECONDS_PER_SECTION)))
    out["sections"] = sections_from_features(feats, times, k)
    return out
