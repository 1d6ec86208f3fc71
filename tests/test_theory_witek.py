"""Witek et al. (2014) polyphonic drum syncopation and GM drum layer splitting."""
from models.theory.rhythm import split_drum_layers, witek_syncopation


def test_split_gm_layers():
    notes = [(0.0, 0.1, 36, 100), (0.5, 0.6, 38, 100), (0.25, 0.3, 42, 80), (1.0, 1.1, 49, 100)]
    layers = split_drum_layers(notes)
    assert list(layers["kick"]) == [0.0] and list(layers["snare"]) == [0.5] and list(layers["hihat"]) == [0.25]


def test_ride_stands_in_for_hihat_only_without_hihat():
    assert list(split_drum_layers([(0.0, 0.1, 51, 90)])["hihat"]) == [0.0]
    assert list(split_drum_layers([(0.0, 0.1, 51, 90), (0.5, 0.6, 42, 90)])["hihat"]) == [0.5]


def test_four_on_the_floor_kick_alone_is_not_syncopated():
    w = witek_syncopation({"kick": [0, 1, 2, 3]}, 4, 4)
    assert w["index"] == 0 and w["count"] == 0


def test_kick_anticipating_snare_scores_with_instrument_weight():
    # kick on the 'and' of 2 (beat 1.5, weight -3), snare on beat 3 (weight -1): S = -1 - (-3) + 2 = 4;
    # the snare itself then anticipates the next downbeat (weight 0), where the kick answers: S = 1 + 1 = 2
    w = witek_syncopation({"kick": [0, 1.5], "snare": [2]}, 4, 4)
    assert w["index"] == 6 and w["count"] == 2
    # the same kick into silence scores the metric difference only
    assert witek_syncopation({"kick": [0, 1.5]}, 4, 4)["index"] == 2


def test_more_offbeats_more_syncopation():
    plain = witek_syncopation({"kick": [0, 2], "snare": [1, 3], "hihat": [i / 2 for i in range(8)]}, 4, 4)
    busy = witek_syncopation({"kick": [0, 0.75, 2.5], "snare": [1, 1.75, 3], "hihat": [i / 2 for i in range(8)]},
                             4, 4)
    assert busy["per_bar"] > plain["per_bar"]
