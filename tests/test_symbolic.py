"""Symbolic analysis: notes in (Live clip notes, MIDI files, music21 streams), chords, keys and Roman numerals
out; and the RomanText benchmark's scoring."""
import mido
import pytest

from models.analysis.symbolic import (analyze_midi, chord_states, fit_harmony_model, notes_from_live,
                                      parse_key, read_midi, rule_model)
from bench.roman import _inversion, score_piece

# One bar (4 quarter notes) per chord: (pitches, ...).
C_MAJOR_CADENCE = [(48, 60, 64, 67), (53, 60, 65, 69), (43, 59, 62, 65, 67), (48, 60, 64, 67)]   # I IV V7 I


def live_notes(chords, bar_q=4.0, as_tuples=False):
    out = []
    for i, pitches in enumerate(chords):
        for p in pitches:
            if as_tuples:
                out.append((p, i * bar_q, bar_q, 100, False))
            else:
                out.append({"pitch": p, "start_time": i * bar_q, "duration": bar_q, "velocity": 100, "mute": False})
    return out


def labels(desc):
    return [c["label"] for c in desc["chords"]]


def test_live_notes_cadence_in_c():
    desc = analyze_midi(live_notes(C_MAJOR_CADENCE), tempo=120)
    assert desc["source"]["kind"] == "midi" and desc["schema_version"] == "1.0"
    assert labels(desc) == ["C:maj", "F:maj", "G:7", "C:maj"]
    assert [c["roman_numeral"] for c in desc["chords"]] == ["I", "IV", "V7", "I"]
    assert [c["function"] for c in desc["chords"]] == ["tonic", "subdominant", "dominant", "tonic"]
    assert desc["key"]["label"] == "C:major"
    assert desc["bpm"] == 120 and desc["meter"] == {"numerator": 4, "denominator": 4}
    assert len(desc["beats"]) == 16 and desc["downbeats"] == [0.0, 2.0, 4.0, 6.0]
    assert desc["chords"][1]["start"] == pytest.approx(2.0) and desc["chords"][1]["start_beat"] == 4.0
    assert desc["source"]["duration"] == pytest.approx(8.0)


def test_live_tuples_and_muted_notes():
    notes = live_notes(C_MAJOR_CADENCE, as_tuples=True)
    notes.append((61, 0.0, 16.0, 100, True))     # a muted C# across the clip must not count
    assert [n.pitch for n in notes_from_live(notes)].count(61) == 0
    desc = analyze_midi(notes, tempo=100)
    assert labels(desc) == ["C:maj", "F:maj", "G:7", "C:maj"]
    assert desc["downbeats"][1] == pytest.approx(4 * 60 / 100)


def test_no_tempo_is_said():
    desc = analyze_midi(live_notes(C_MAJOR_CADENCE))
    assert desc["bpm"] == 120 and any("120" in n for n in desc["notices"])


def test_midi_file_meta_minor_key_and_inversions(tmp_path):
    # A minor in 3/4 at 90 BPM: i  iv6  V  i, one bar (3 quarters) each.
    chords = [(45, 57, 60, 64), (41, 57, 62, 65), (40, 56, 59, 64), (45, 57, 60, 64)]
    mid = mido.MidiFile(type=1, ticks_per_beat=96)
    meta, tr = mido.MidiTrack(), mido.MidiTrack()
    meta += [mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(90), time=0),
             mido.MetaMessage("time_signature", numerator=3, denominator=4, time=0)]
    for pitches in chords:
        for p in pitches:
            tr.append(mido.Message("note_on", note=p, velocity=90, time=0))
        for k, p in enumerate(pitches):
            tr.append(mido.Message("note_off", note=p, velocity=0, time=3 * 96 if k == 0 else 0))
    mid.tracks += [meta, tr]
    path = tmp_path / "minor.mid"
    mid.save(path)
    assert len(read_midi(str(path))["notes"]) == 16
    desc = analyze_midi(str(path))
    assert desc["bpm"] == pytest.approx(90) and desc["meter"] == {"numerator": 3, "denominator": 4}
    assert [b["position"] for b in desc["beats"]][:4] == [1, 2, 3, 1]
    assert desc["downbeats"][1] == pytest.approx(3 * 60 / 90)
    assert labels(desc) == ["A:min", "D:min/b3", "E:maj", "A:min"]
    assert desc["key"]["label"] == "A:minor"
    assert [c["roman_numeral"] for c in desc["chords"]] == ["i", "iv6", "V", "i"]
    assert "notices" not in desc


def test_music21_stream_and_fixed_key():
    from music21 import chord, stream
    s = stream.Stream()
    for i, pitches in enumerate(C_MAJOR_CADENCE):
        c = chord.Chord(list(pitches), quarterLength=4)
        s.insert(i * 4.0, c)
    desc = analyze_midi(s, tempo=60)
    assert labels(desc) == ["C:maj", "F:maj", "G:7", "C:maj"]
    fixed = analyze_midi(s, tempo=60, key="G:major")
    assert {r["key"] for r in fixed["key_regions"]} == {"G:major"}
    assert [c["roman_numeral"] for c in fixed["chords"]][:2] == ["IV", "bVII"]


def test_parse_key_forms():
    assert parse_key("A:minor") == (9, "minor") == parse_key("Am") == parse_key("a")
    assert parse_key("Eb") == (3, "major") == parse_key("E-:major")
    with pytest.raises(ValueError):
        parse_key("H dur")


def test_fitted_model_learns_from_labels():
    notes = notes_from_live(live_notes(C_MAJOR_CADENCE))
    labels_per_q = [(0, "major", 0, "maj", 0)] * 4 + [(0, "major", 5, "maj", 5)] * 4 + \
        [(0, "major", 7, "7", 7)] * 4 + [(0, "major", 0, "maj", 0)] * 4
    model = fit_harmony_model([(notes, labels_per_q)])
    states = chord_states()
    i_major = states.index((0, "maj", 0))
    assert model.chord_priors[0, i_major] > model.chord_priors[0, states.index((1, "maj", 1))]
    assert model.key_profiles[0, 0] > model.key_profiles[0, 1]
    assert labels(analyze_midi(live_notes(C_MAJOR_CADENCE), tempo=120, model=model)) == \
        labels(analyze_midi(live_notes(C_MAJOR_CADENCE), tempo=120, model=rule_model()))


def test_empty_input_gives_a_valid_description():
    desc = analyze_midi([], tempo=120)
    assert "chords" not in desc and desc["notices"]


def test_bench_scoring_counts_rn_only_when_all_parts_agree():
    assert _inversion(7, "7", 11) == 1 and _inversion(0, "maj", 2) == -1
    piece = {"id": "x", "collection": "bach",
             # per quarter: (tonic, mode, root, quality, bass, figure, key label)
             "ref": [(0, "major", 0, "maj", 0, "I", "C:major")] * 4 + [(0, "major", 7, "7", 11, "V65", "C:major")] * 4}
    desc = {"chords": [{"label": "C:maj", "key": "C:major", "start_beat": 0, "end_beat": 4, "start": 0, "end": 2},
                       {"label": "G:7", "key": "G:major", "start_beat": 4, "end_beat": 8, "start": 2, "end": 4}]}
    row = score_piece(piece, desc)
    assert row["frames"] == 8
    assert row["correct"]["key"] == 4 and row["correct"]["root"] == 8
    assert row["correct"]["inversion"] == 4          # G7 in root position vs V65
    assert row["correct"]["rn"] == 4 and row["correct"]["rn_given_key"] == 4


def test_home_key_is_the_scorers_among_the_decoded_keys():
    """The chord-sequence key scorer names the home key, but only among keys the decoded path visits."""
    from models.analysis.symbolic import home_key
    chords = [{"start": 2.0 * i, "end": 2.0 * i + 2.0, "label": lab}
              for i, lab in enumerate(["C:maj", "F:maj", "G:7", "C:maj", "A:min", "D:min", "G:7", "C:maj", "N"])]
    a_minor = 9 + 12
    k, confidence = home_key(chords, {0: 10, a_minor: 30})       # A minor held longer; C major is home
    assert k == 0 and 0.0 < confidence <= 1.0
    assert home_key(chords, {a_minor: 40}) is None              # the scorer's key was never decoded: no say
    assert home_key([{"start": 0.0, "end": 1.0, "label": "N"}], {0: 4}) is None
