"""Exports of a song description: JAMS (validated), chord-track MIDI (read back with mido), RomanText (parsed
back with music21)."""
import mido
import pytest

from models.analysis.exports import SongClock, to_jams, to_romantext, write_chord_midi
from models.analysis.symbolic import analyze_midi

# One bar per chord in C major, then A minor: I IV V7 I | i iv V i (keys fixed by the analysis below).
C_BARS = [(48, 60, 64, 67), (53, 60, 65, 69), (43, 59, 62, 65, 67), (48, 60, 64, 67)]


def live(chords, bar_q=4.0):
    return [{"pitch": p, "start_time": i * bar_q, "duration": bar_q, "velocity": 100, "mute": False}
            for i, ps in enumerate(chords) for p in ps]


@pytest.fixture(scope="module")
def song():
    desc = analyze_midi(live(C_BARS), tempo=100)
    desc["sections"] = [{"start": 0.0, "end": desc["source"]["duration"], "label": "verse"}]
    return desc


def minor_song():
    """A hand-written description in A minor moving to C major, 3/4, with a tempo change."""
    chords = [("A:min", "A", "min", "A", "A:minor", 0, 3), ("D:min/b3", "D", "min", "F", "A:minor", 3, 6),
              ("E:7", "E", "7", "E", "A:minor", 6, 9), ("A:min", "A", "min", "A", "A:minor", 9, 12),
              ("G:7", "G", "7", "G", "C:major", 12, 13.5), ("C:maj", "C", "maj", "C", "C:major", 13.5, 15)]
    sec = lambda q: q * 60 / 90 if q <= 12 else 8.0 + (q - 12) * 60 / 120  # noqa: E731
    return {"schema_version": "1.0", "source": {"kind": "midi", "duration": sec(15)},
            "bpm": 90, "tempo_map": [{"time": 0.0, "bpm": 90}, {"time": 8.0, "bpm": 120}],
            "meter": {"numerator": 3, "denominator": 4},
            "key_regions": [{"start": 0.0, "end": 8.0, "key": "A:minor"},
                            {"start": 8.0, "end": sec(15), "key": "C:major"}],
            "chords": [{"start": sec(a), "end": sec(b), "label": lab, "root": r, "quality": q, "bass": bs, "key": k}
                       for lab, r, q, bs, k, a, b in chords]}


def test_jams_validates_and_holds_everything(song):
    jam = to_jams(song)
    jam.validate()
    ns = {a.namespace for a in jam.annotations}
    assert ns == {"beat", "chord", "key_mode", "segment_open", "tempo"}
    chords = jam.annotations.search(namespace="chord")[0]
    assert [o.value for o in chords.data] == ["C:maj", "F:maj", "G:7", "C:maj"]
    assert jam.annotations.search(namespace="key_mode")[0].data[0].value == "C:major"
    assert jam.annotations.search(namespace="tempo")[0].data[0].value == 100
    assert len(jam.annotations.search(namespace="beat")[0].data) == 16
    assert jam.file_metadata.duration == pytest.approx(song["source"]["duration"])


def test_chord_midi_round_trip(song, tmp_path):
    path = write_chord_midi(song, str(tmp_path / "chords.mid"))
    mid = mido.MidiFile(path)
    metas = [m for m in mid.tracks[0] if m.is_meta]
    assert [m.tempo for m in metas if m.type == "set_tempo"] == [mido.bpm2tempo(100)]
    assert [(m.numerator, m.denominator) for m in metas if m.type == "time_signature"] == [(4, 4)]
    assert [m.key for m in metas if m.type == "key_signature"] == ["C"]
    # chord track: notes per onset
    onsets, t = {}, 0
    for m in mid.tracks[1]:
        t += m.time
        if m.type == "note_on" and m.velocity > 0:
            onsets.setdefault(t, []).append(m.note)
    tpq = mid.ticks_per_beat
    assert sorted(onsets) == [0, 4 * tpq, 8 * tpq, 12 * tpq]
    pcs = [sorted({n % 12 for n in onsets[k]}) for k in sorted(onsets)]
    assert pcs == [[0, 4, 7], [0, 5, 9], [2, 5, 7, 11], [0, 4, 7]]
    assert all(52 <= min(v) < 64 and max(v) < 80 for v in onsets.values())
    bass = [m.note for m in mid.tracks[2] if m.type == "note_on" and m.velocity > 0]
    assert [b % 12 for b in bass] == [0, 5, 7, 0] and all(36 <= b < 48 for b in bass)
    assert mid.length == pytest.approx(song["source"]["duration"], abs=0.01)


def test_chord_midi_tempo_change_keys_and_no_bass(tmp_path):
    s = minor_song()
    mid = mido.MidiFile(write_chord_midi(s, str(tmp_path / "m.mid"), bass=False))
    assert len(mid.tracks) == 2
    t, tempos, keys = 0, [], []
    for m in mid.tracks[0]:
        t += m.time
        if m.type == "set_tempo":
            tempos.append((t, round(mido.tempo2bpm(m.tempo))))
        if m.type == "key_signature":
            keys.append((t, m.key))
    tpq = mid.ticks_per_beat
    assert tempos == [(0, 90), (12 * tpq, 120)] and keys == [(0, "Am"), (12 * tpq, "C")]
    assert SongClock(s).quarter(9.0) == pytest.approx(14.0)
    assert mid.length == pytest.approx(s["source"]["duration"], abs=0.01)


def test_romantext_parses_back(song):
    from music21 import converter, roman
    text = to_romantext(song, composer="Test", title="Cadence")
    assert text.startswith("Composer: Test\nTitle: Cadence\nAnalyst: Bandmate\nTime Signature: 4/4\n")
    score = converter.parse(text, format="romanText")
    rns = list(score.recurse().getElementsByClass(roman.RomanNumeral))
    assert [r.figure for r in rns] == ["I", "IV", "V7", "I"]
    assert {r.key.tonic.name for r in rns} == {"C"}


def test_romantext_minor_key_change_and_beats():
    from music21 import converter, roman
    s = minor_song()
    text = to_romantext(s)
    assert "m1 a: i" in text and "m5 C: V7 b2.5 I" in text
    rns = list(converter.parse(text, format="romanText").recurse().getElementsByClass(roman.RomanNumeral))
    assert [r.figure for r in rns] == ["i", "iv6", "V7", "i", "V7", "I"]
    assert [(r.key.tonic.name, r.key.mode) for r in rns] == [("A", "minor")] * 4 + [("C", "major")] * 2
    # the pitches music21 reads back are the chords' pitches, bass included
    assert [sorted({p.pitchClass for p in r.pitches}) for r in rns][:3] == [[0, 4, 9], [2, 5, 9], [2, 4, 8, 11]]
    assert rns[1].bass().pitchClass == 5
