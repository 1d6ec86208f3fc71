"""Aligning music21's RomanText analyses with their scores: overfull measures, numerals moved by whole bars."""
import pytest

music21 = pytest.importorskip("music21")
from music21 import meter, note, roman, stream  # noqa: E402

from models.songbook.corpus import aligned_numerals, content_alignment, repair_overfull_measures  # noqa: E402


def part_of(measures):
    p = stream.Part()
    for i, els in enumerate(measures):
        m = stream.Measure(number=i + 1)
        if i == 0:
            m.insert(0, meter.TimeSignature("4/4"))
        for el in els:
            m.append(el)
        p.append(m)
    return p


def test_duplicated_bar_rests_are_trimmed_and_voices_meet_again():
    s = stream.Score()
    s.insert(0, part_of([[note.Note("C5", quarterLength=4)], [note.Note("D5", quarterLength=4)]]))
    s.insert(0, part_of([[note.Rest(quarterLength=4), note.Rest(quarterLength=4)], [note.Note("G3", quarterLength=4)]]))
    assert float(s.parts[1].highestTime) == 12.0
    assert repair_overfull_measures(s) == 1
    assert [float(n.offset) for n in s.parts[1].flatten().notes] == [4.0]
    assert float(s.highestTime) == 8.0


def test_numerals_follow_measures_and_skip_a_repeat_the_analysis_leaves_out():
    # Score: C C | G G | (repeat: C C | G G) | F F ; analysis numbers the F bar as m3.
    bars = [["C4", "E4", "G4"], ["G3", "B3", "D4"], ["C4", "E4", "G4"], ["G3", "B3", "D4"], ["F3", "A3", "C4"]]
    s = stream.Score()
    for v in range(3):
        s.insert(0, part_of([[note.Note(b[v], quarterLength=4)] for b in bars]))
    an = stream.Score()
    ap = stream.Part()
    for i, fig in enumerate(("I", "V", "IV")):
        m = stream.Measure(number=i + 1)
        if i == 0:
            m.insert(0, meter.TimeSignature("4/4"))
        m.insert(0, roman.RomanNumeral(fig, "C"))
        ap.append(m)
    an.insert(0, ap)
    rns = aligned_numerals(s, an)
    assert [q for q, _ in rns] == [0.0, 4.0, 8.0]
    spans = content_alignment(s, rns, float(s.highestTime), change_cost=1.0)
    assert [(a, b, rn.figure) for a, b, rn in spans] == [(0.0, 4.0, "I"), (4.0, 8.0, "V"), (16.0, 20.0, "IV")]


def test_chord_symbols_never_sound(tmp_path):
    """A stray chord symbol among the voices would be written to MIDI as a held triad: it is removed first."""
    import mido
    from music21 import harmony

    from models.songbook.corpus import _score_midi

    s = stream.Score()
    p = part_of([[note.Note("G4", quarterLength=4)], [note.Note("A4", quarterLength=4)]])
    p.getElementsByClass(stream.Measure)[0].insert(0, harmony.ChordSymbol("E"))
    s.insert(0, p)
    mid = _score_midi(s, 80.0, str(tmp_path / "x.mid"), 52)
    pitches = [m.note for tr in mido.MidiFile(str(tmp_path / "x.mid")).tracks for m in tr
               if m.type == "note_on" and m.velocity > 0]
    assert sorted(pitches) == [67, 69], pitches  # G4, A4 and no E major triad
    assert mid is not None and not list(s.recurse().getElementsByClass(harmony.Harmony))
