"""The whole analysis on awkward audio: silence, noise, a 0.2 s clip, clipping, 5.1, 8 kHz and 192 kHz, a wrong
extension. Each gives a schema-valid description (or a coded error), never a crash or a hang."""
import numpy as np
import pytest
import soundfile as sf

from protocol import BandmateError
from protocol.song import SONG_SCHEMA


def _analyse(path):
    import jsonschema

    from models.analysis.engine import analyze_file

    song = analyze_file(str(path))
    jsonschema.validate(song, SONG_SCHEMA)
    return song


def _tone(sr, seconds, channels=2, amp=0.3):
    t = np.arange(int(sr * seconds)) / sr
    y = amp * (np.sin(2 * np.pi * 220 * t) + np.sin(2 * np.pi * 277.2 * t) + np.sin(2 * np.pi * 329.6 * t)) / 3
    clicks = (np.sin(2 * np.pi * 2000 * t) * (np.mod(t, 0.5) < 0.01)) * amp
    return np.repeat((y + clicks)[:, None], channels, axis=1).astype(np.float32)


def test_digital_silence(tmp_path):
    p = tmp_path / "silence.wav"
    sf.write(str(p), np.zeros((44100 * 6, 2), dtype=np.float32), 44100)
    song = _analyse(p)
    assert song["source"]["loudness_lufs"] is None
    assert not song.get("beats")  # no pulse in silence: nothing invented
    assert all(c["label"] == "N" for c in song.get("chords", []))


def test_white_noise(tmp_path):
    p = tmp_path / "noise.flac"
    sf.write(str(p), np.random.default_rng(0).normal(0, 0.2, (22050 * 8, 1)).clip(-1, 1), 22050)
    song = _analyse(p)
    assert song["source"]["duration"] == pytest.approx(8.0)


def test_a_fifth_of_a_second(tmp_path):
    p = tmp_path / "blip.wav"
    sf.write(str(p), _tone(44100, 0.2), 44100)
    song = _analyse(p)
    assert song["source"]["duration"] == pytest.approx(0.2, abs=1e-3)
    assert any("sections" in n for n in song["notices"])


@pytest.mark.parametrize("sr,channels", [(8000, 1), (192000, 2), (48000, 6)])
def test_rates_and_channel_layouts(tmp_path, sr, channels):
    p = tmp_path / ("x_%d_%d.wav" % (sr, channels))
    sf.write(str(p), _tone(sr, 6.0, channels), sr, subtype="PCM_24")
    song = _analyse(p)
    assert song["source"]["sample_rate"] == sr and song["source"]["channels"] == channels
    assert song["chords"] and song["chords"][-1]["end"] == pytest.approx(6.0, abs=0.01)


def test_clipped_audio(tmp_path):
    p = tmp_path / "clipped.wav"
    sf.write(str(p), np.clip(_tone(44100, 6.0) * 20, -1, 1), 44100)
    song = _analyse(p)
    assert song["source"]["peak_dbfs"] == pytest.approx(0.0, abs=0.01)


def test_wrong_extension_is_decoded_by_content(tmp_path):
    p = tmp_path / "actually_flac.mp3"
    sf.write(str(p), _tone(44100, 3.0), 44100, format="FLAC")
    try:
        song = _analyse(p)
    except BandmateError as exc:  # libsndfile may refuse by extension: then it must be a coded error
        assert exc.code in ("corrupt_file", "unsupported_format")
    else:
        assert song["source"]["duration"] == pytest.approx(3.0, abs=0.01)
