"""Beat tracking: features and network shapes, the bar-pointer decoder on synthetic activations, the tempo
map, DAW hints, degenerate input, and the trained checkpoint on a click track."""
import numpy as np
import pytest

from models.analysis import beats
from models.analysis.features import MODEL_SR


def synthetic_activations(bpm, beats_per_bar, seconds, first_beat=0.3, fps=beats.FPS, seed=0):
    """(frames, 3) none/beat/downbeat probabilities with a smooth peak at every beat, and the beat times."""
    rng = np.random.default_rng(seed)
    n = int(seconds * fps)
    act = np.zeros((n, 3))
    times = np.arange(first_beat, seconds, 60.0 / bpm)
    for k, t in enumerate(times):
        cls = 2 if k % beats_per_bar == 0 else 1
        for g in range(int(t * fps) - 2, int(t * fps) + 3):
            if 0 <= g < n:
                act[g, cls] = max(act[g, cls], 0.9 * np.exp(-0.5 * ((g - t * fps) / 0.8) ** 2))
    act[:, 0] = 1.0 - act[:, 1] - act[:, 2]
    act += rng.uniform(0, 0.05, act.shape)
    return (act / act.sum(axis=1, keepdims=True)).astype(np.float32), times


@pytest.mark.parametrize("bpm,per_bar", [(120, 4), (95, 3), (70, 2), (181, 4)])
def test_decoder_finds_period_phase_and_meter(bpm, per_bar):
    act, times = synthetic_activations(bpm, per_bar, 30.0)
    frames, positions, per_bar_found = beats.decode_long(act, beats.beat_periods())
    est = beats.refine_times(frames, act[:, 1] + act[:, 2])
    assert per_bar_found == per_bar
    assert len(est) == len(times)
    assert np.abs(est - times).max() < 0.02
    assert positions.tolist() == [k % per_bar + 1 for k in range(len(times))]
    assert abs(beats.song_bpm(beats.tempo_map(est), 30.0) - bpm) < 0.02 * bpm


def test_decoder_follows_the_daw_meter_hint():
    act, _ = synthetic_activations(120, 4, 20.0)
    frames, positions, per_bar = beats.decode_long(act, beats.beat_periods(110, 130), beats_per_bar=(3,))
    assert per_bar == 3 and set(positions.tolist()) == {1, 2, 3}
    assert beats.hint_beats_per_bar((6, 8)) == 2 and beats.hint_beats_per_bar((12, 8)) == 4
    assert beats.hint_beats_per_bar((3, 4)) == 3 and beats.hint_beats_per_bar((7, 8)) == 7
    assert beats.parse_hint({"tempo": "128", "meter": "6/8"}) == (128.0, (6, 8))
    assert beats.parse_hint({"tempo": -1, "meter": [4, 3]}) == (None, None)


def test_tempo_map_splits_at_a_tempo_change():
    times = np.concatenate([np.arange(0, 20, 0.5), 20 + np.arange(0, 10, 60 / 132.0)])
    tmap = beats.tempo_map(times)
    assert [round(s["bpm"]) for s in tmap] == [120, 132]
    assert tmap[0]["time"] == 0.0 and abs(tmap[1]["time"] - 20.0) < 1.1
    assert beats.song_bpm(tmap, 30.0) == tmap[0]["bpm"]
    assert beats.tempo_map(np.array([1.0])) == []


def test_feature_and_network_shapes():
    y = np.random.default_rng(0).normal(0, 0.1, MODEL_SR * 2).astype(np.float32)
    feats = beats.beat_features(y)
    assert feats.shape == (2 * beats.FPS + 1, 4, beats.N_BANDS) and feats.dtype == np.float32
    assert (feats[:, 2:] >= 0).all()
    act = beats.activations(beats.build_model(), feats)
    assert act.shape == (len(feats), 3) and np.allclose(act.sum(axis=1), 1.0, atol=1e-5)
    targets = beats.frame_targets([0.5, 1.0], [0.5], 100)
    assert targets[25].tolist() == [0, 0, 1] and targets[50].tolist() == [0, 1, 0]
    assert targets[26].tolist() == [0.5, 0, 0.5] and np.allclose(targets.sum(axis=1), 1.0)


@pytest.mark.parametrize("seconds", [0.0, 0.01, 0.3, 0.6, 3.0])
def test_empty_short_and_silent_input(seconds):
    model = beats.build_model()
    out = beats.track_beats(model, np.zeros(int(seconds * MODEL_SR), dtype=np.float32),
                            {"tempo": 100, "meter": [3, 4]})
    assert set(out) == {"bpm", "tempo_map", "meter", "beats", "downbeats", "confidence"}
    assert out["meter"] == {"numerator": 3, "denominator": 4}
    assert isinstance(out["bpm"], float) and 0.0 <= out["confidence"] <= 1.0


def click_track(bpm, per_bar, seconds, first_beat=0.25):
    """Clicks (short decaying sines) at every beat, higher and louder on downbeats, with a soft noise bed."""
    rng = np.random.default_rng(1)
    y = rng.normal(0, 0.003, int(seconds * MODEL_SR)).astype(np.float32)
    n = int(0.04 * MODEL_SR)
    env = np.exp(-np.arange(n) / (0.008 * MODEL_SR))
    times = np.arange(first_beat, seconds - 0.1, 60.0 / bpm)
    for k, t in enumerate(times):
        freq, amp = (1760.0, 0.6) if k % per_bar == 0 else (880.0, 0.35)
        s = int(t * MODEL_SR)
        y[s:s + n] += (amp * env * np.sin(2 * np.pi * freq * np.arange(n) / MODEL_SR)).astype(np.float32)
    return y, times


def test_trained_checkpoint_on_a_click_track():
    model = beats.load_beat_model()
    if model is None:
        pytest.skip("no trained beat checkpoint (bandmate train beats)")
    y, times = click_track(120.0, 4, 20.0)
    out = beats.track_beats(model, y)
    est = np.array([b["time"] for b in out["beats"]])
    hits = sum(np.abs(est - t).min() < 0.07 for t in times[4:])
    assert hits >= 0.9 * len(times[4:])
    assert abs(out["bpm"] - 120.0) < 0.04 * 120.0
    assert out["downbeats"] == [b["time"] for b in out["beats"] if b["position"] == 1]
    hinted = beats.track_beats(model, y, {"tempo": 120.0, "meter": [4, 4]})
    assert abs(hinted["bpm"] - 120.0) < 0.04 * 120.0 and hinted["meter"] == {"numerator": 4, "denominator": 4}


def test_load_beat_model_without_checkpoint(tmp_path):
    assert beats.load_beat_model(str(tmp_path / "absent")) is None


def test_tempo_octave_grids_features_and_choice():
    from models.analysis import tempo_octave as to

    fps = beats.FPS
    times = np.arange(0.5, 20.0, 0.5)  # 120 BPM, a downbeat every 4 beats starting on the second beat
    positions = np.array([(k + 3) % 4 + 1 for k in range(len(times))])
    assert np.allclose(to.grid_for(times, positions, 2.0)[:3], [0.5, 0.75, 1.0])
    half = to.grid_for(times, positions, 0.5)
    assert half[0] == times[1] and np.allclose(np.diff(half), 1.0)  # the phase that holds the downbeats
    # activations with strong peaks at every 0.5 s and weak ones between them
    n = int(21 * fps)
    beat_act = np.zeros(n)
    beat_act[np.round(times * fps).astype(int)] = 0.9
    beat_act[np.round((times + 0.25) * fps).astype(int)] = 0.1
    chords = [{"start": float(t), "end": float(t + 2.0), "label": lab}
              for t, lab in zip(np.arange(0.5, 18.0, 2.0), ["C:maj", "G:maj", "A:min", "F:maj"] * 3)]
    cands = to.candidates(times, positions, beat_act, np.zeros(n), beat_act, chords, fps)
    assert [c[0] for c in cands] == [0.5, 2.0 / 3.0, 1.0, 1.5, 2.0]
    assert [round(c[1]) for c in cands] == [60, 80, 120, 180, 240]
    assert np.allclose(to.grid_for(times, positions, 1.5)[:4], [0.5, 0.5 + 1 / 3, 0.5 + 2 / 3, 1.5])
    f = {c[0]: dict(zip(to.FEATURES, c[2])) for c in cands}
    assert f[1.0]["act_on"] > f[2.0]["act_on"] and f[1.0]["act_mid"] < f[0.5]["act_mid"]
    assert f[1.0]["chord_changes_on_grid"] == 1.0 and f[1.0]["log2_beats_per_chord"] == pytest.approx(2.0)
    assert to.choose(cands, None)[0] == 1.0  # no model: the decoder's level
    # a fitted model learns from groups where the x1 grid is right
    model = to.fit([(np.stack([c[2] for c in cands]), 2)] * 5 + [(np.stack([c[2] for c in cands[2:]]), 0)] * 2)
    rel, bpm, probs = to.choose(cands, model)
    assert rel == 1.0 and round(bpm) == 120 and probs["1.0"] > 0.5
    # an out-of-range level is no candidate
    slow = to.candidates(times * 3, positions, np.zeros(int(61 * fps)), np.zeros(int(61 * fps)),
                         np.zeros(int(61 * fps)), None, fps)
    assert [c[0] for c in slow] == [1.0, 1.5, 2.0, 3.0]
    # a decoder locked to every third beat, on the offbeats (0.75 s, 2.25 s, ... while the beats and chord changes
    # fall on 0.5 s, 1.0 s, ...): the x3 candidate is the grid shifted by half a beat, on the chord changes
    third = times[:-1:3] + 0.25
    x3 = {c[0]: c for c in to.candidates(third, np.ones(len(third), int), beat_act, np.zeros(n), beat_act, chords,
                                          fps)}[3.0]
    assert round(x3[1]) == 120 and dict(zip(to.FEATURES, x3[2]))["chord_changes_on_grid"] == 1.0
    # decoded downbeats on the wrong phase (on 1.0 s, 3.0 s, ... while the chords change on 0.5 s, 2.5 s, ...):
    # the half-tempo candidate takes the beats the chords change on, not the decoded downbeats' phase
    assert to.grid_for(times, positions, 0.5)[0] == times[1]
    half = {c[0]: dict(zip(to.FEATURES, c[2])) for c in cands}[0.5]
    assert half["chord_changes_on_grid"] == 1.0


def test_simulated_wrong_level_decodings_teach_every_relation():
    from models.analysis import tempo_octave as to
    from models.analysis.train_tempo_octave import SIMULATIONS, simulated_groups

    fps = beats.FPS
    times = np.arange(0.5, 30.0, 0.5)  # 120 BPM
    n = int(31 * fps)
    act = np.zeros((n, 3), np.float32)
    act[np.round(times * fps).astype(int), 1] = 0.9
    chords = [{"start": float(t), "end": float(t + 2.0), "label": lab}
              for t, lab in zip(np.arange(0.5, 28.0, 2.0), ["C:maj", "G:maj", "A:min", "F:maj"] * 4)]
    row = {"truth_bpm": 120.0, "act": act, "onsets": act[:, 1].copy(), "chords": chords}
    groups = simulated_groups([{"first": (times, np.ones(len(times), int))}], [row], share=2.0)
    assert len(groups) == sum(phases for _, _, phases in SIMULATIONS)  # every kind in every phase
    assert sum(w for _, _, w in groups) == pytest.approx(2.0)
    names = ("bias_x0.5", "bias_x2", "bias_x1.5", "bias_x2/3", "bias_x3")
    right = {next((nm for nm in names if x[k][to.FEATURES.index(nm)] == 1.0), "x1") for x, k, _ in groups}
    assert right == {"bias_x2", "bias_x3", "bias_x0.5", "bias_x2/3", "bias_x1.5"}
    # a song the decoder got wrong gives no simulations (its own group already says what went wrong)
    assert simulated_groups([{"first": (times[::2], np.ones(len(times[::2]), int))}], [row], share=5) == []


def test_bar_choice_reads_chord_changes():
    from models.analysis import bar_choice as bc

    fps = beats.FPS
    times = np.arange(0.5, 20.0, 0.5)
    n = int(21 * fps)
    # chords change every four beats, from the third beat on: bars of four with phase 2
    chords = [{"start": 0.0, "end": float(times[2]), "label": "C:maj"}]
    for k, t in enumerate(times[2::4]):
        chords.append({"start": float(t), "end": float(t + 2.0), "label": ["G:maj", "A:min", "F:maj", "C:maj"][k % 4]})
    positions = bc.positions_for(len(times), 2, 0)  # what a confused decoder said: bars of two
    assert positions[:4].tolist() == [1, 2, 1, 2] and bc.positions_for(5, 4, 2).tolist() == [3, 4, 1, 2, 3]
    cands = bc.candidates(times, positions, 2, np.zeros(n), np.zeros(n), chords, fps)
    assert len(cands) == 2 + 3 + 4
    f = {(m, p): dict(zip(bc.FEATURES, x)) for m, p, x in cands}
    assert f[(4, 2)]["changes_on_downbeats"] == 1.0 and f[(4, 2)]["downbeats_with_change"] == 1.0
    assert f[(2, 0)]["changes_on_downbeats"] == 1.0 and f[(2, 0)]["downbeats_with_change"] == pytest.approx(0.5, abs=0.06)
    assert f[(2, 0)]["decoder_choice"] == 1.0 and f[(4, 0)]["changes_on_downbeats"] == 0.0
    assert bc.choose(cands, None) is None
    weights = np.zeros(len(bc.FEATURES))
    weights[bc.FEATURES.index("changes_on_downbeats")] = 1.0
    weights[bc.FEATURES.index("downbeats_with_change")] = 1.0
    model = {"weights": weights.tolist(), "mean": [0.0] * len(weights), "std": [1.0] * len(weights)}
    assert bc.choose(cands, model) == (4, 2)


def test_tempo_change_survives_the_tempo_chooser():
    model = beats.load_beat_model()
    if model is None:
        pytest.skip("no trained beat checkpoint (bandmate train beats)")
    y1, _ = click_track(70.0, 4, 15.0)
    y2, _ = click_track(90.0, 4, 15.0)
    out = beats.track_beats(model, np.concatenate([y1, y2]))
    tempi = [seg["bpm"] for seg in out["tempo_map"]]
    assert any(abs(t / 70.0 - 1) < 0.04 for t in tempi) and any(abs(t / 90.0 - 1) < 0.04 for t in tempi), tempi
    assert out["tempo_map"][0]["time"] == 0.0 and 13.0 < out["tempo_map"][-1]["time"] < 17.0
