"""The whole theory reading of a song description: fields filled, absent inputs noticed, speed."""

import jsonschema
import pytest

from models.theory.reading import harmonic_complexity, swing_ratio, theory_reading
from protocol.song import SONG_SCHEMA, new_song_description


def song(n_bars=16, bpm=120.0, progression=("C:maj", "G:maj", "A:min", "F:maj")):
    beat = 60.0 / bpm
    s = new_song_description({"duration": n_bars * 4 * beat, "kind": "midi"})
    s["bpm"] = bpm
    s["meter"] = {"numerator": 4, "denominator": 4}
    s["beats"] = [{"time": round(i * beat, 6), "position": i % 4 + 1} for i in range(n_bars * 4)]
    s["downbeats"] = [round(i * 4 * beat, 6) for i in range(n_bars)]
    s["chords"] = [{"start": round(i * 4 * beat, 6), "end": round((i + 1) * 4 * beat, 6),
                    "label": progression[i % len(progression)]} for i in range(n_bars)]
    return s


def drum_notes(n_bars, bpm=120.0):
    beat = 60.0 / bpm
    out = []
    for b in range(n_bars * 4):
        t = b * beat
        out.append((t, t + 0.1, 36 if b % 2 == 0 else 38, 100))
        out += [(t, t + 0.05, 42, 70), (t + beat / 2, t + beat / 2 + 0.05, 42, 70)]
    return out


def test_reading_without_notes_fills_harmony_and_notices():
    s = theory_reading(song())
    assert s["key"]["label"] == "C:major" and s["key_regions"][0]["key"] == "C:major"
    assert [c["roman_numeral"] for c in s["chords"][:4]] == ["I", "V", "vi", "IV"]
    assert s["chords"][0]["function"] == "tonic" and s["chords"][0]["key"] == "C:major"
    ha = s["harmonic_analysis"]
    assert {"roman_numerals", "functions", "progressions", "cadences", "voice_leading", "harmonic_rhythm",
            "complexity"} <= set(ha)
    assert any(p["name"] == "axis" and p["count"] == 4 for p in ha["progressions"])
    assert ha["harmonic_rhythm"]["changes_per_bar"] == pytest.approx(1.0)
    assert ha["harmonic_rhythm"]["regularity"] == pytest.approx(1.0)
    assert ha["voice_leading"]["source"] == "chord_labels"
    assert 0 <= ha["complexity"]["score"] <= 1 and "formula" in ha["complexity"]
    ra = s["rhythmic_analysis"]
    assert "metric_hierarchy" in ra and "syncopation" not in ra
    assert any("no notes" in n for n in s["notices"])
    assert s["genre_analysis"]["primary"] and s["genre_analysis"]["reasons"]
    jsonschema.validate(s, SONG_SCHEMA)


def test_given_key_is_kept_and_regions_filled():
    s = song()
    s["key"] = {"tonic": "C", "mode": "major", "label": "C:major", "confidence": 1.0}
    out = theory_reading(s)
    assert out["key"]["confidence"] == 1.0 and out["key_regions"]


def test_reading_with_notes_measures_rhythm():
    s = song(8)
    notes = {"drums": drum_notes(8), "bass": [(c["start"], c["end"], 36, 90) for c in s["chords"]]}
    out = theory_reading(s, notes)
    ra = out["rhythmic_analysis"]
    assert ra["note_density"]["drums"] > ra["note_density"]["bass"] > 0
    assert "witek" in ra["syncopation"] and "lhl" in ra["syncopation"]
    assert ra["swing_ratio"] == pytest.approx(0.5, abs=0.02)
    assert "complexity" in ra and isinstance(ra["polyrhythms"], list)
    assert out["harmonic_analysis"]["voice_leading"]["source"] in ("notes", "chord_labels")
    jsonschema.validate(out, SONG_SCHEMA)


def test_empty_description_says_why():
    s = new_song_description({"duration": 10.0})
    out = theory_reading(s)
    assert "harmonic_analysis" not in out and "genre_analysis" not in out
    assert any("no chords" in n for n in out["notices"])


def test_swing_ratio_and_complexity_helpers():
    swung = [b + f for b in range(16) for f in (0.0, 0.66)]
    assert swing_ratio(swung) == pytest.approx(0.66)
    assert swing_ratio([0, 1, 2]) is None
    assert harmonic_complexity([], [], None)["score"] == 0


def test_three_minute_song_is_fast():
    s = song(n_bars=96, progression=("C:maj", "A:min", "D:min7", "G:7", "E:7", "A:min", "F:maj", "G:maj"))
    assert len(s["chords"]) == 96  # 3 min 12 s at 120 BPM, ~100 chords
    notes = {"drums": drum_notes(96)}
    # speed is measured in bench/ (bench speed); here only that a 3-minute song with drums reads completely
    out = theory_reading(dict(s, chords=[dict(c) for c in s["chords"]]), notes)
    assert out["harmonic_analysis"]["progressions"] and out["rhythmic_analysis"]["syncopation"]["witek"]
