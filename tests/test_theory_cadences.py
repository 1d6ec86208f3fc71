"""Cadence types and strengths."""
from models.theory.cadences import find_cadences


def segs(labels, dur=2.0):
    return [{"start": i * dur, "end": (i + 1) * dur, "label": lab} for i, lab in enumerate(labels)]


def beats_4_4(n_bars, beat=0.5):
    return [{"time": i * beat, "position": i % 4 + 1} for i in range(n_bars * 4)]


def types(cads):
    return [c["type"] for c in cads]


def test_perfect_authentic_on_downbeat_is_strong():
    cads = find_cadences(segs(["F:maj", "G:7", "C:maj"]), ["C:major"] * 3, beats_4_4(3), {"numerator": 4,
                                                                                           "denominator": 4})
    pac = [c for c in cads if c["type"] == "perfect_authentic"][0]
    assert pac["time"] == 4.0 and pac["chord_index"] == 2
    assert pac["components"]["metric"] == 1.0 and 0.5 < pac["strength"] <= 1.0


def test_inverted_arrival_is_imperfect_and_weaker():
    pac = find_cadences(segs(["G:7", "C:maj"]), ["C:major"] * 2)[0]
    iac = find_cadences(segs(["G:7", "C:maj/3"]), ["C:major"] * 2)[0]
    assert pac["type"] == "perfect_authentic" and iac["type"] == "imperfect_authentic"
    assert iac["strength"] < pac["strength"]


def test_soprano_not_on_tonic_makes_it_imperfect():
    cads = find_cadences(segs(["G:7", "C:maj"]), ["C:major"] * 2, melody_pitch_at=lambda t: 64)
    assert cads[0]["type"] == "imperfect_authentic" and cads[0]["components"]["soprano"] == 0.5


def test_plagal_deceptive_half_phrygian():
    assert types(find_cadences(segs(["F:maj", "C:maj"]), ["C:major"] * 2)) == ["plagal"]
    assert types(find_cadences(segs(["G:7", "A:min"]), ["C:major"] * 2)) == ["deceptive"]
    assert types(find_cadences(segs(["E:7", "F:maj"]), ["A:minor"] * 2)) == ["deceptive"]
    assert "half" in types(find_cadences(segs(["C:maj", "D:min", "G:maj", "N"]), ["C:major"] * 3 + [None]))
    assert types(find_cadences(segs(["D:min/b3", "E:maj"]), ["A:minor"] * 2)) == ["phrygian_half"]


def test_V_going_home_is_not_a_half_cadence():
    assert "half" not in types(find_cadences(segs(["D:min", "G:maj", "C:maj"]), ["C:major"] * 3))


def test_key_change_between_chords_gives_no_cadence():
    assert find_cadences(segs(["G:7", "C:maj"]), ["C:major", "F:major"]) == []
