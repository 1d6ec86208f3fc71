"""Feature frontend: pitches land in the right bins, frame times follow the hop, long files stream."""
import numpy as np
import soundfile as sf

from models.analysis.features import chroma, load_mono, log_freq_spectrogram, midi_to_hz


def test_tones_peak_at_their_pitch_bins():
    sr = 22050
    t = np.arange(sr * 2) / sr
    for midi in (33, 45, 57, 69, 81):
        y = np.sin(2 * np.pi * midi_to_hz(midi) * t).astype(np.float32)
        spec, times = log_freq_spectrogram(y, sr)
        assert abs(times[1] - times[0] - 0.1) < 1e-9
        peak_bin = int(np.argmax(spec[5:-5].mean(axis=0)))
        # below ~100 Hz a 186 ms window cannot split semitones: allow one there
        assert abs((21 + peak_bin / 2) - midi) <= (0.5 if midi >= 45 else 1.0), (midi, peak_bin)


def test_chroma_of_a_c_major_triad():
    sr = 22050
    t = np.arange(sr) / sr
    y = sum(np.sin(2 * np.pi * midi_to_hz(m) * t) for m in (60, 64, 67)).astype(np.float32)
    c = chroma(log_freq_spectrogram(y, sr)[0]).mean(axis=0)
    assert set(np.argsort(c)[-3:]) == {0, 4, 7}


def test_load_mono_resamples_and_mixes(tmp_path):
    sr = 48000
    t = np.arange(sr * 3) / sr
    x = np.sin(2 * np.pi * 440 * t)
    sf.write(str(tmp_path / "a.wav"), np.stack([x, -x * 0 + x], 1) * 0.5, sr)
    y = load_mono(str(tmp_path / "a.wav"), 22050, start=0.5, end=2.5)
    assert abs(len(y) - 2 * 22050) <= 64 and abs(np.abs(y).max() - 0.5) < 0.02


def test_run_windowed_matches_one_pass_for_a_local_function():
    import numpy as np

    from models.analysis.features import run_windowed

    x = np.random.default_rng(0).normal(size=(1000, 3))

    def smooth(a):  # a 5-frame moving average: needs 2 frames of context each side
        k = np.ones(5) / 5
        return np.stack([np.convolve(a[:, i], k, mode="same") for i in range(a.shape[1])], axis=1)
    whole = smooth(x)
    win = run_windowed(smooth, x, window=64, context=8)
    assert win.shape == whole.shape and np.allclose(win[2:-2], whole[2:-2])


def test_chunked_stft_equals_one_pass():
    import numpy as np

    from models.analysis.features import log_filterbank, stft_magnitude

    y = np.random.default_rng(1).normal(size=22050 * 3).astype(np.float32)
    fb = log_filterbank(22050, 2048)
    a = stft_magnitude(y, 2048, 441, filterbank=fb, chunk_frames=7)
    b = stft_magnitude(y, 2048, 441) @ fb
    assert np.allclose(a, b, atol=1e-5)


def _chords_at(cents, sr=22050, seconds=4.0, seed=0):
    """Random piano-like four-note chords (five decaying harmonics each, a little noise) tuned `cents` off A440."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    y = 0.01 * rng.standard_normal(len(t))
    for m in rng.choice(np.arange(40, 84), 4, replace=False):
        f = float(midi_to_hz(m + cents / 100.0))
        y += sum(np.sin(2 * np.pi * f * h * t) * np.exp(-t) / h for h in range(1, 6) if f * h < sr / 2)
    return y.astype(np.float32)


def test_estimate_tuning_reads_the_offset_from_a440():
    from models.analysis.features import estimate_tuning
    for cents in (-45.0, -31.8, -12.0, 0.0, 7.0, 25.0, 44.0):
        assert abs(estimate_tuning(_chords_at(cents, seed=int(cents) + 50)) - cents) < 2.0, cents
    assert estimate_tuning(np.zeros(22050 * 2, dtype=np.float32)) == 0.0
    assert estimate_tuning(np.zeros(100, dtype=np.float32)) == 0.0


def test_bands_follow_the_tuning():
    """A4 at 432 Hz sits between two bands of the A440 filterbank; with the tuning passed it fills the A4 band."""
    sr = 22050
    t = np.arange(sr * 2) / sr
    y = np.sin(2 * np.pi * 432.0 * t).astype(np.float32)
    cents = 1200 * np.log2(432.0 / 440.0)
    a4 = (69 - 21) * 2
    plain = log_freq_spectrogram(y, sr)[0][5:-5].mean(axis=0)
    tuned = log_freq_spectrogram(y, sr, tuning_cents=cents)[0][5:-5].mean(axis=0)
    assert int(np.argmax(plain)) == a4 - 1            # untuned: the energy leans to the band below
    assert int(np.argmax(tuned)) == a4 and tuned[a4] > plain[a4]
    assert abs(tuned[a4 - 1] - tuned[a4 + 1]) < 0.1 * tuned[a4]   # centred between its neighbours
