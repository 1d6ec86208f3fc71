"""Voice leading: least-motion pairing, common tones, parallels, from labels and from notes."""
import pytest

from models.theory.voice_leading import pair_voices, realise_chords, voice_leading


def segs(labels, dur=2.0):
    return [{"start": i * dur, "end": (i + 1) * dur, "label": lab} for i, lab in enumerate(labels)]


def test_pairing_is_least_motion_and_non_crossing():
    assert pair_voices([60, 64, 67], [59, 65, 67]) == [(0, 0), (1, 1), (2, 2)]
    assert pair_voices([60, 67], [59, 62, 67]) == [(0, 0), (1, 2)]
    assert pair_voices([48, 60, 64, 67], [60, 65]) == [(1, 0), (3, 1)] or \
        pair_voices([48, 60, 64, 67], [60, 65]) == [(1, 0), (2, 1)]


def test_labels_realise_smoothly():
    v = realise_chords(["C:maj", "F:maj/5", "G:7", "C:maj"])
    assert all(len(x) == 4 for x in v)
    assert v[0][0] % 12 == 0 and v[1][0] % 12 == 0  # F/C keeps C in the bass
    vl = voice_leading(segs(["C:maj", "A:min", "F:maj", "G:maj"]))
    assert vl["source"] == "chord_labels" and vl["transitions"] == 3
    assert vl["mean_motion_semitones"] < 3.0
    assert vl["common_tones_mean"] == pytest.approx((2 + 2 + 0) / 3, abs=1e-3)


def test_parallel_fifths_from_notes():
    notes = {"piano": [(0.0, 2.0, 48, 90), (0.0, 2.0, 55, 90), (0.0, 2.0, 64, 90),
                       (2.0, 4.0, 50, 90), (2.0, 4.0, 57, 90), (2.0, 4.0, 65, 90)]}
    vl = voice_leading(segs(["C:maj", "D:min"]), notes)
    assert vl["source"] == "notes"
    assert vl["parallel_fifths"]["inner"] + vl["parallel_fifths"]["outer"] == 1
    assert vl["mean_motion_semitones"] == pytest.approx((2 + 2 + 1) / 3, abs=1e-3)


def test_drums_are_not_voices_and_too_few_chords_gives_none():
    assert voice_leading(segs(["C:maj"])) is None
    vl = voice_leading(segs(["C:maj", "G:maj"]), {"drums": [(0.0, 0.1, 36, 100)]})
    assert vl["source"] == "chord_labels"
