"""Note transcription with basic-pitch's ONNX model: frame timing, notes of synthesized tones, multi-track MIDI."""
import mido
import numpy as np
import pytest

from models.registry import package_file
from protocol import BandmateError

pytestmark = pytest.mark.skipif(package_file("basic_pitch", "saved_models", "icassp_2022", "nmp.onnx") is None,
                                reason="basic-pitch is not installed")

from models.analysis import transcription  # noqa: E402
from models.analysis.transcription import FRAME_S, Note, activations, transcribe, write_midi  # noqa: E402


@pytest.fixture(scope="module")
def session():
    return transcription.load_session()


def _tones(notes, sr=44100, seconds=4.0):
    """Harmonic tones with a plucked envelope: notes = [(onset_s, offset_s, midi_pitch)]."""
    y = np.zeros(int(seconds * sr), np.float32)
    for on, off, pitch in notes:
        t = np.arange(int((off - on) * sr)) / sr
        f0 = 440.0 * 2 ** ((pitch - 69) / 12)
        tone = sum(0.5 ** k * np.sin(2 * np.pi * f0 * (k + 1) * t) for k in range(4)) * np.exp(-1.5 * t)
        tone[-200:] *= np.linspace(1, 0, 200)
        y[int(on * sr):int(on * sr) + len(tone)] += 0.2 * tone
    return y


def test_activations_cover_the_clip_frame_by_frame(session):
    y = _tones([(1.0, 2.0, 57)], sr=22050, seconds=3.3)
    act = activations(y, 22050, session)
    frames = -(-len(y) // 256)
    assert act["note"].shape == act["onset"].shape == (frames, 88)
    onset_frame = int(np.argmax(act["onset"][:, 57 - 21]))
    assert abs(onset_frame * FRAME_S - 1.0) < 0.035  # the frame grid is exact: frame n at n * 256 / 22050 s
    assert act["note"][int(1.5 / FRAME_S), 57 - 21] > 0.5 and act["note"][int(2.6 / FRAME_S), 57 - 21] < 0.3


def test_transcribe_finds_the_notes_played(session):
    played = [(0.5, 1.5, 48), (1.0, 2.5, 64), (2.0, 3.0, 67)]
    notes = transcribe(_tones(played), 44100, session)
    assert notes == sorted(notes, key=lambda n: (n.onset_s, n.midi_pitch))
    assert all(isinstance(n, Note) and 1 <= n.velocity <= 127 and n.offset_s > n.onset_s for n in notes)
    for on, off, pitch in played:
        assert [n for n in notes if n.midi_pitch == pitch and abs(n.onset_s - on) < 0.05], \
            "missed %d at %.2f s in %s" % (pitch, on, notes)
        middle = (on + off) / 2
        assert [n for n in notes if n.midi_pitch == pitch and n.onset_s < middle < n.offset_s]
    # Anything else is an overtone of a played note (octave, twelfth, two octaves), not noise.
    played_pitches = {p for _, _, p in played}
    assert all(any(n.midi_pitch - p in (0, 12, 19, 24) for p in played_pitches) for n in notes)


def test_thresholds_and_pitch_range_narrow_the_result(session):
    y = _tones([(0.5, 1.5, 48), (1.0, 2.5, 64)])
    assert {n.midi_pitch for n in transcribe(y, 44100, session, max_pitch=60)} <= set(range(21, 61))
    assert len(transcribe(y, 44100, session, min_note_ms=3000)) == 0
    assert transcribe(np.zeros(22050, np.float32), 22050, session) == []


def test_bad_audio_is_a_bad_params_error(session):
    for y, sr in [(np.zeros(0, np.float32), 22050), (np.full(100, np.inf, np.float32), 22050),
                  (np.zeros(100, np.float32), -1), ("audio", 22050)]:
        with pytest.raises(BandmateError) as err:
            transcribe(y, sr, session)
        assert err.value.code == "bad_params"


def test_write_midi_one_named_track_per_stem(tmp_path):
    notes = {"bass": [Note(0.0, 0.5, 36, 90), Note(0.5, 1.0, 36, 80)],
             "drums": [(0.25, 0.3, 38, 100)],
             "melody": [Note(1.0, 1.75, 72, 64)]}
    path = write_midi(notes, str(tmp_path / "notes.mid"), bpm=90)
    mid = mido.MidiFile(path)
    assert mid.type == 1 and len(mid.tracks) == 4
    tempo = next(m.tempo for m in mid.tracks[0] if m.type == "set_tempo")
    assert round(mido.tempo2bpm(tempo), 3) == 90
    got = {}
    for track in mid.tracks[1:]:
        name = next(m.name for m in track if m.type == "track_name")
        now, ons = 0, []
        for msg in track:
            now += msg.time
            if msg.type == "note_on":
                ons.append((round(mido.tick2second(now, mid.ticks_per_beat, tempo), 3), msg.note, msg.velocity,
                            msg.channel))
        got[name] = ons
    assert got["bass"] == [(0.0, 36, 90, 0), (0.5, 36, 80, 0)]  # the repeated note is re-struck, not merged
    assert got["drums"] == [(0.25, 38, 100, 9)]
    assert got["melody"] == [(1.0, 72, 64, 1)]
    with pytest.raises(BandmateError):
        write_midi(notes, str(tmp_path / "x.mid"), bpm=0)
