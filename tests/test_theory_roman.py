"""Roman numerals of chords in keys, checked against textbook readings."""
import pytest

from models.theory.roman import analyze_progression, roman_numeral

C, Db, D, Eb, E, F, Fs, G, Ab, A, Bb, B = range(12)


@pytest.mark.parametrize("chord,key,nxt,numeral,function", [
    ((C, "maj", C), (C, "major"), None, "I", "tonic"),
    ((G, "7", G), (C, "major"), None, "V7", "dominant"),
    ((G, "7", B), (C, "major"), None, "V65", "dominant"),
    ((G, "maj", D), (C, "major"), None, "V64", "dominant"),
    ((D, "min7", D), (C, "major"), None, "ii7", "predominant"),
    ((A, "min", A), (C, "major"), None, "vi", "tonic_substitute"),
    ((B, "dim", B), (C, "major"), None, "viio", "dominant"),
    ((B, "hdim7", B), (C, "major"), None, "viiø7", "dominant"),
    ((D, "7", D), (C, "major"), (G, "maj", G), "V7/V", "secondary_dominant"),
    ((A, "7", A), (C, "major"), (D, "min", D), "V7/ii", "secondary_dominant"),
    ((Fs, "dim7", Fs), (C, "major"), (G, "maj", G), "viio7/V", "secondary_dominant"),
    ((C, "7", C), (C, "major"), (F, "maj", F), "V7/IV", "secondary_dominant"),
    ((Db, "maj", Db), (C, "major"), None, "N", "predominant"),
    ((Db, "maj", F), (C, "major"), None, "N6", "predominant"),
    ((Ab, "7", Ab), (C, "major"), (G, "maj", G), "Ger+6", "predominant"),
    ((E, "maj", E), (A, "minor"), None, "V", "dominant"),
    ((E, "7", E), (A, "minor"), None, "V7", "dominant"),
    ((C, "maj", C), (A, "minor"), None, "bIII", "tonic_substitute"),
    ((F, "maj", F), (A, "minor"), None, "bVI", "tonic_substitute"),
    ((G, "maj", G), (A, "minor"), None, "bVII", "dominant"),
    ((D, "min", D), (A, "minor"), None, "iv", "subdominant"),
])
def test_textbook_numerals(chord, key, nxt, numeral, function):
    rn = roman_numeral(chord[0], chord[1], chord[2], key[0], key[1], nxt)
    assert (rn.numeral, rn.function) == (numeral, function)


def test_modal_mixture_is_flagged():
    for chord, numeral in [((Ab, "maj", Ab), "bVI"), ((F, "min", F), "iv"), ((Bb, "maj", Bb), "bVII"),
                           ((Eb, "maj", Eb), "bIII")]:
        rn = roman_numeral(chord[0], chord[1], chord[2], C, "major")
        assert rn.numeral == numeral and rn.borrowed, (chord, rn)
    assert not roman_numeral(F, "maj", F, C, "major").borrowed


def test_progressions_in_any_key_are_transposition_invariant():
    pop = [(0, "maj", 0), (7, "maj", 7), (9, "min", 9), (5, "maj", 5)]
    for tonic in range(12):
        chords = [((r + tonic) % 12, q, (b + tonic) % 12) for r, q, b in pop]
        assert [x.numeral for x in analyze_progression(chords, tonic)] == ["I", "V", "vi", "IV"]
    andalusian = [(9, "min", 9), (7, "maj", 7), (5, "maj", 5), (4, "maj", 4)]
    assert [x.numeral for x in analyze_progression(andalusian, 9, "minor")] == ["i", "bVII", "bVI", "V"]


def test_round_trip_with_the_songbook_library():
    """Chords spelled from the curated library's numerals are named back to the same sounding chords."""
    from models.songbook.progressions import CURATED
    from models.theory.harmony import parse_roman

    expand = (("add6", "[maj6]"), ("maj7", "[maj7]"), ("add9", "[maj(9)]"), ("7sus4", "[sus4(b7)]"),
              ("sus4", "[sus4]"), ("sus2", "[sus2]"), ("/^", "@"))
    total = same = 0
    for prog in CURATED:
        mode = "minor" if prog.mode in ("minor", "dorian", "phrygian") else "major"
        tonic = C if mode == "major" else A
        chords = [c for c, _ in prog.realise(tonic)]
        for c, rn in zip(chords, analyze_progression([(c.root, c.quality, c.bass) for c in chords], tonic, mode)):
            token = rn.numeral.replace("N6", "bII6").replace("N", "bII").replace("Ger+6", "bVI7")
            for a, b in expand:
                token = token.replace(a, b)
            total += 1
            try:
                back = parse_roman(token, tonic, 0 if mode == "major" else 5)[0]
            except ValueError:  # a suffix the library's token syntax spells differently (e.g. 7b9)
                continue
            same += (back.root, back.bass, back.pitch_classes) == (c.root, c.bass, c.pitch_classes)
    assert total > 400 and same / total >= 0.98, (same, total)
