"""Named progressions matched on Roman numerals: transposition, repeats, rotations, modes, blues forms."""
from models.theory.progressions import PATTERNS, find_progressions, match_bar_forms, pattern_tokens


def segs(labels, dur=2.0):
    return [{"start": i * dur, "end": (i + 1) * dur, "label": lab} for i, lab in enumerate(labels)]


def names(found):
    return {f["name"] for f in found}


def test_library_is_large_and_parses():
    assert len(PATTERNS) >= 30
    for p in PATTERNS:
        assert pattern_tokens(p.roman)


def test_axis_in_any_key_with_positions():
    chords = segs(["Eb:maj", "Bb:maj", "C:min", "Ab:maj"] * 2)
    found = find_progressions(chords, ["Eb:major"] * 8)
    axis = next(f for f in found if f["name"] == "axis")
    assert axis["count"] == 2
    assert axis["occurrences"][0] == {"start": 0.0, "end": 8.0, "chord_start": 0, "chord_end": 3}


def test_repeated_chords_merge():
    chords = segs(["C:maj", "C:maj", "F:maj", "G:7", "G:7", "C:maj"])
    found = find_progressions(chords, ["C:major"] * 6)
    assert "three_chord_return" in names(found)
    occ = next(f for f in found if f["name"] == "three_chord_return")["occurrences"][0]
    assert occ["chord_start"] == 0 and occ["chord_end"] == 5


def test_named_rotation_wins_and_other_rotations_are_flagged():
    found = find_progressions(segs(["A:min", "F:maj", "C:maj", "G:maj"]), ["C:major"] * 4)
    assert "axis_vi_start" in names(found) and "axis" not in names(found)
    found = find_progressions(segs(["G:maj", "A:min", "F:maj", "C:maj"]), ["C:major"] * 4)
    rot = [f for f in found if f["name"] == "axis"]
    assert rot and rot[0]["rotation"] == 1 and rot[0]["roman"] == "V vi IV I"


def test_mode_awareness_andalusian():
    chords = segs(["A:min", "G:maj", "F:maj", "E:7"])
    assert "andalusian" in names(find_progressions(chords, ["A:minor"] * 4))
    assert "andalusian" not in names(find_progressions(chords, ["C:major"] * 4))


def test_ii_V_I_and_ragtime():
    assert "ii_V_I" in names(find_progressions(segs(["D:min7", "G:7", "C:maj7"]), ["C:major"] * 3))
    assert "ragtime" in names(find_progressions(segs(["E:7", "A:7", "D:7", "G:7"]), ["C:major"] * 4))


def test_no_chord_breaks_a_pattern():
    found = find_progressions(segs(["D:min7", "N", "G:7", "C:maj7"]), ["C:major", None, "C:major", "C:major"])
    assert "ii_V_I" not in names(found)


def test_twelve_bar_blues_bar_form():
    bars = ["G:7"] * 4 + ["C:7"] * 2 + ["G:7"] * 2 + ["D:7", "C:7", "G:7", "G:7"]
    chords = segs(bars, dur=2.0)
    keys = ["G:major"] * 12
    forms = match_bar_forms(chords, keys, [i * 2.0 for i in range(12)])
    assert any(f["name"] == "twelve_bar_blues" and f["count"] == 1 for f in forms)
    assert "twelve_bar_blues" in names(find_progressions(chords, keys))
