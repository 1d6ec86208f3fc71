"""Audio features for the analysis models: mono loading at the models' rate, magnitude STFT, log-frequency
(semitone-spaced) filterbank spectrograms and chroma.

Units: sample rates in Hz, hops and FFT sizes in samples, frame times in seconds (frame k is centred at
k * hop / sr), frequencies in Hz, pitches as MIDI numbers (A4 = 69 = 440 Hz).
"""
from __future__ import annotations

import numpy as np

MODEL_SR = 22050


def midi_to_hz(midi):
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=float) - 69.0) / 12.0)


class MonoResampler:
    """Collects decoded blocks (samples, channels) at `in_sr` as one mono signal at `out_sr`, resampling as
    they arrive, so a file is decoded once for everything that reads it."""

    def __init__(self, in_sr: int, out_sr: int = MODEL_SR):
        import soxr

        self.stream = soxr.ResampleStream(in_sr, out_sr, 1, dtype="float32") if in_sr != out_sr else None
        self.parts = []

    def feed(self, block: np.ndarray) -> None:
        mono = block.mean(axis=1).astype(np.float32)
        self.parts.append(self.stream.resample_chunk(mono) if self.stream is not None else mono)

    def result(self) -> np.ndarray:
        if self.stream is not None:
            self.parts.append(self.stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
            self.stream = None
        return np.concatenate(self.parts) if self.parts else np.zeros(0, dtype=np.float32)


def load_mono(path: str, sr: int = MODEL_SR, start: float | None = None, end: float | None = None,
              max_seconds: float = 4 * 3600):
    """Decode `path` (any format models.analysis.audio reads), mix to mono and resample to `sr` Hz.
    Returns float32 samples. Decodes block by block, so only the mono result is held in memory."""
    from .audio import iter_blocks, probe, resolve_range

    info = probe(path)
    start, end = resolve_range(info, start, end)
    end = min(end, start + max_seconds)
    mono = MonoResampler(info["sample_rate"], sr)
    for block in iter_blocks(path, info, start, end):
        mono.feed(block)
    return mono.result()


def stft_magnitude(y: np.ndarray, n_fft: int, hop: int, filterbank: np.ndarray | None = None,
                   chunk_frames: int = 2048) -> np.ndarray:
    """|STFT| with a Hann window, scaled so a sine of amplitude A peaks at A; frames centred (the signal is
    zero-padded by n_fft/2 at both ends). Returns (frames, n_fft // 2 + 1), float32; frame k is centred at
    sample k * hop. With `filterbank` ((n_fft // 2 + 1, bands)) returns magnitude @ filterbank instead. Frames
    are transformed `chunk_frames` at a time, so memory stays bounded on hour-long files."""
    import scipy.fft

    y = np.ascontiguousarray(y, dtype=np.float32)
    pad = n_fft // 2
    y = np.pad(y, (pad, pad))
    width = filterbank.shape[1] if filterbank is not None else n_fft // 2 + 1
    if len(y) < n_fft:
        return np.zeros((0, width), dtype=np.float32)
    n_frames = 1 + (len(y) - n_fft) // hop
    frames = np.lib.stride_tricks.as_strided(y, shape=(n_frames, n_fft), strides=(y.strides[0] * hop,
                                                                                   y.strides[0]))
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)
    scale = np.float32(2.0 / window.sum())
    out = np.empty((n_frames, width), dtype=np.float32)
    for a in range(0, n_frames, chunk_frames):
        mag = np.abs(scipy.fft.rfft(frames[a:a + chunk_frames] * window, axis=1)).astype(np.float32) * scale
        out[a:a + chunk_frames] = mag if filterbank is None else mag @ filterbank
    return out


def log_filterbank(sr: int, n_fft: int, fmin_midi: float = 21.0, n_bins: int = 88 * 2,
                   bins_per_semitone: int = 2, tuning_cents: float = 0.0) -> np.ndarray:
    """Triangular filters centred on pitches fmin_midi, fmin_midi + 1/bins_per_semitone, ... (MIDI numbers),
    each spanning its neighbours' centres, all moved `tuning_cents` off A440 (the music's tuning,
    `estimate_tuning`). Filters narrower than one FFT bin fall back to the nearest bin, so low notes keep energy.
    Returns (n_fft // 2 + 1, n_bins)."""
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    centres = midi_to_hz(fmin_midi + tuning_cents / 100.0 + np.arange(-1, n_bins + 1) / bins_per_semitone)
    fb = np.zeros((len(freqs), n_bins), dtype=np.float32)
    for b in range(n_bins):
        lo, mid, hi = centres[b], centres[b + 1], centres[b + 2]
        rising = (freqs - lo) / (mid - lo)
        falling = (hi - freqs) / (hi - mid)
        tri = np.maximum(0.0, np.minimum(rising, falling))
        if tri.sum() == 0:
            tri[np.argmin(np.abs(freqs - mid))] = 1.0
        fb[:, b] = tri / tri.sum()
    return fb


def estimate_tuning(y: np.ndarray, sr: int = MODEL_SR, n_fft: int = 8192, max_frames: int = 300,
                    fmin: float = 80.0, fmax: float = 2500.0) -> float:
    """Deviation of the music's tuning from A4 = 440 Hz in cents (-50..50; a recording at A4 = 432 Hz reads
    about -31.8). Spectral peaks (local maxima within 30 dB of their frame's loudest, between `fmin` and `fmax`,
    frequency refined by parabolic interpolation of the log magnitude) of up to `max_frames` frames spread over
    the signal vote, weighted by magnitude, for their offset from the nearest equal-tempered semitone; the
    answer is the circular mean of the votes within 15 cents of the histogram's peak (offsets wrap at +-50).
    0.0 when the signal has no peaks (silence, noise-free clicks)."""
    y = np.asarray(y, dtype=np.float32)
    if len(y) < n_fft:
        return 0.0
    starts = np.unique(np.linspace(0, len(y) - n_fft, max_frames).astype(int))
    window = np.hanning(n_fft).astype(np.float32)
    frames = np.stack([y[a:a + n_fft] for a in starts]) * window
    mag = np.abs(np.fft.rfft(frames, axis=1))
    lo, hi = int(fmin * n_fft / sr), int(fmax * n_fft / sr) + 1
    m = mag[:, lo - 1:hi + 1]
    peak = (m[:, 1:-1] > m[:, :-2]) & (m[:, 1:-1] >= m[:, 2:])
    peak &= m[:, 1:-1] > 10 ** (-30 / 20) * m.max(axis=1, keepdims=True)
    f_idx, b_idx = np.nonzero(peak)
    if len(f_idx) == 0:
        return 0.0
    la, lb, lc = (np.log(m[f_idx, b_idx + k] + 1e-12) for k in (0, 1, 2))
    denom = la - 2 * lb + lc
    shift = 0.5 * (la - lc) / np.where(np.abs(denom) > 1e-12, denom, np.inf)   # a flat top: no shift
    freq = (lo + b_idx + np.clip(shift, -0.5, 0.5)) * sr / n_fft
    cents = 1200.0 * np.log2(freq / 440.0)
    offset = (cents + 50.0) % 100.0 - 50.0
    weight = m[f_idx, b_idx + 1]
    hist = np.bincount(np.floor(offset + 50.0).astype(int) % 100, weights=weight, minlength=100)
    smooth = sum(np.roll(hist, k) for k in range(-5, 6))
    centre = float(np.argmax(smooth)) - 50.0 + 0.5
    near = np.abs((offset - centre + 50.0) % 100.0 - 50.0) <= 15.0
    angle = 2 * np.pi * offset[near] / 100.0
    mean = np.arctan2((weight[near] * np.sin(angle)).sum(), (weight[near] * np.cos(angle)).sum())
    return float(mean * 100.0 / (2 * np.pi))


def tuning_description(cents: float) -> dict:
    """The song description's `tuning` (and the live 'tuning' event's fields) for an offset from A440 in cents."""
    return {"a4_hz": round(440.0 * 2.0 ** (cents / 1200.0), 2), "cents": round(cents, 1)}


def log_freq_spectrogram(y: np.ndarray, sr: int = MODEL_SR, n_fft: int = 4096, hop: int = 2205,
                         fmin_midi: float = 21.0, n_bins: int = 176, bins_per_semitone: int = 2,
                         compression: float = 100.0, tuning_cents: float = 0.0):
    """Semitone-spaced spectrogram, log-compressed as log(1 + compression * x). Defaults: 10 frames/s at
    22.05 kHz, A0 (MIDI 21) upwards in half-semitone bins over 88 keys. `tuning_cents` moves every band by
    that much (the music's tuning, `estimate_tuning`), so a recording at A4 = 432 Hz fills the bands an A440
    one does. Returns (features (frames, n_bins), frame times in seconds)."""
    spec = stft_magnitude(y, n_fft, hop, filterbank=log_filterbank(sr, n_fft, fmin_midi, n_bins, bins_per_semitone,
                                                                    tuning_cents))
    times = np.arange(spec.shape[0]) * hop / float(sr)
    return np.log1p(compression * spec).astype(np.float32), times


def chroma(logspec: np.ndarray, fmin_midi: float = 21.0, bins_per_semitone: int = 2) -> np.ndarray:
    """Fold a log-frequency spectrogram into 12 pitch classes (C = 0): the bins centred on semitones, less
    each frame's median (the leakage floor that log compression lifts), each frame normalised to max 1."""
    centred = logspec[:, ::bins_per_semitone]
    centred = np.maximum(0.0, centred - np.median(centred, axis=1, keepdims=True))
    pcs = (int(round(fmin_midi)) + np.arange(centred.shape[1])) % 12
    out = np.zeros((logspec.shape[0], 12), dtype=np.float32)
    for pc in range(12):
        out[:, pc] = centred[:, pcs == pc].sum(axis=1)
    peak = out.max(axis=1, keepdims=True)
    return out / np.maximum(peak, 1e-9)


def run_windowed(fn, x: np.ndarray, window: int, context: int) -> np.ndarray:
    """fn over the frames of x (frames first) in windows of `window` frames, each seen with `context` frames
    of its neighbours on both sides, the outputs (frames first, same count) concatenated. Bounds the memory of
    networks on hour-long inputs; inputs up to window + 2 * context frames go through in one call."""
    n = len(x)
    if n <= window + 2 * context:
        return fn(x)
    parts = []
    for a in range(0, n, window):
        lo, hi = max(0, a - context), min(n, a + window + context)
        parts.append(fn(x[lo:hi])[a - lo:a - lo + min(window, n - a)])
    return np.concatenate(parts)
