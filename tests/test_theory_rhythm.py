"""Rhythm theory on hand-made patterns whose answers are known from the literature's definitions."""
import pytest

from models.theory.rhythm import (lhl_syncopation, meter_factors, metric_hierarchy, metric_weights, note_density,
                                  onsets_to_grid, polyrhythms, rhythmic_complexity)


def test_meter_factors_and_weights():
    assert meter_factors(4, 4) == [2, 2, 2, 2]
    assert meter_factors(3, 4) == [3, 2, 2]
    assert meter_factors(6, 8, 4) == [2, 3, 2]
    assert meter_factors(12, 8, 4) == [2, 2, 3, 2]
    w = metric_weights(4, 4)
    assert list(w) == [0, -4, -3, -4, -2, -4, -3, -4, -1, -4, -3, -4, -2, -4, -3, -4]
    w68 = metric_weights(6, 8, 4)
    assert len(w68) == 12 and w68[0] == 0 and w68[6] == -1 and w68[2] == -2 and w68[1] == -3
    with pytest.raises(ValueError):
        meter_factors(4, 5)


def test_metric_hierarchy_labels():
    h = metric_hierarchy(4, 4)
    assert h["beat_labels"] == ["downbeat", "weak", "strong", "weak"]
    assert h["beat_weights"][0] == 1.0 and h["beat_weights"][2] > h["beat_weights"][1]
    assert metric_hierarchy(3, 4)["beat_labels"][0] == "downbeat"


def test_lhl_syncopation_known_patterns():
    w = metric_weights(4, 4)
    four_on_floor = onsets_to_grid([0, 1, 2, 3], 4, 4)
    assert lhl_syncopation(four_on_floor, w).sum() == 0
    # an eighth before beat 3 tied over it: note at step 6 (w=-3), silent step 8 (w=-1) -> 2
    grid = onsets_to_grid([0, 1.5, 3], 4, 4)
    assert lhl_syncopation(grid, w).tolist() == [2.0]
    # the same note followed by a note on beat 3 is not syncopated
    assert lhl_syncopation(onsets_to_grid([0, 1.5, 2, 3], 4, 4), w).sum() == 0
    # a bar whose downbeat is silent: the last note (beat 4, w=-2) wraps over the empty downbeat (w=0)
    assert lhl_syncopation(onsets_to_grid([1, 2, 3], 4, 4, n_bars=1), w).tolist() == [2.0]


def test_density_polyrhythm_and_complexity():
    assert note_density([0.1, 0.5, 0.9, 1.3], 2.0) == 2.0
    triplets = [i * 4 / 3 for i in range(12)]  # three evenly spaced notes per 4/4 bar against quarter notes
    quarters = list(range(16))
    found = polyrhythms({"bass": quarters, "keys": triplets})
    assert found and found[0]["ratio"] in ("4:3", "3:4")
    assert polyrhythms({"a": quarters, "b": [i * 0.5 for i in range(32)]}) == []  # 2:1 is not a cross-rhythm
    plain = rhythmic_complexity(quarters, 4, 4)["complexity"]
    funky = rhythmic_complexity([0, 0.75, 1.5, 2.25, 2.75, 3.5, 4, 4.75, 5.5, 6.25, 6.75, 7.5], 4, 4)["complexity"]
    assert 0 <= plain < funky <= 1
