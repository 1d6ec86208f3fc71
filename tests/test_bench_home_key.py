"""bench/home_key.py: both home-key readings are scored against the reference on a real analysis."""
from bench.home_key import held_longest, run_set, score


def test_held_longest_sums_region_lengths():
    desc = {"key_regions": [{"start_beat": 0, "end_beat": 4, "key": "C:major"},
                            {"start_beat": 4, "end_beat": 13, "key": "A:minor"},
                            {"start_beat": 13, "end_beat": 17, "key": "C:major"}]}
    assert held_longest(desc) == "A:minor"
    assert held_longest({"key_regions": []}) is None


def test_score_is_the_analysis_benchs_mirex_key_score():
    assert score("C:major", "C:major") == 1.0
    assert score("C:major", "G:major") == 0.5
    assert score("C:major", "F:major") == 0.5      # a fifth below counts too (mir_eval alone gives 0)
    assert score("C:major", "A:minor") == 0.3
    assert score("C:major", None) == 0.0


def test_run_set_analyses_notes_and_scores_both_readings():
    notes = []
    for i, chord in enumerate(((48, 60, 64, 67), (53, 60, 65, 69), (43, 59, 62, 65, 67), (48, 60, 64, 67)) * 2):
        notes += [{"pitch": p, "start_time": 4.0 * i, "duration": 4.0} for p in chord]
    out = run_set([(notes, "C:major"), (notes, "F#:major")], progress=False)
    assert set(out) == {"held_longest", "home_key"}
    assert out["home_key"][0] == 1.0 and out["home_key"][1] < 0.5
