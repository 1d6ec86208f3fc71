"""The neural symbolic analyser: transposition-equivariant features and targets, decoding, a tiny training run
plugged into analyze_midi."""
import numpy as np
import pytest

from models.analysis.symbolic import Note, analyze_midi
from models.analysis import symbolic_net as sn

torch = pytest.importorskip("torch")


def cadence():
    """I IV V I in C, one chord per half note, bass an octave down."""
    notes = []
    for i, chord in enumerate(((48, 60, 64, 67), (53, 60, 65, 69), (55, 59, 62, 67), (48, 60, 64, 67))):
        notes += [Note(p, 2.0 * i, 2.0 * i + 2.0) for p in chord]
    return notes


def test_features_transpose_by_rolling():
    x = sn.frame_features(cadence(), 8)
    up = sn.frame_features([Note(n.pitch + 3, n.start, n.end) for n in cadence()], 8)
    assert x.shape == (8, sn.N_FEATURES)
    assert np.allclose(sn.roll_features(x, 3)[:, :60], up[:, :60])
    assert x[0, 48] == 1.0                        # C in the bass all through the first quarter


def test_targets_roll_with_the_music():
    ref = [(0, "major", 7, "7", 11, "V65", "C:major"), None]
    y = sn.frame_targets(ref)
    assert y[0].tolist() == [0, 7, sn.NET_QUALITIES.index("7"), 11, 7] and (y[1] == -100).all()
    z = sn.roll_targets(y, 2)
    assert z[0].tolist() == [2, 9, sn.NET_QUALITIES.index("7"), 1, 7]
    assert sn.roll_targets(sn.frame_targets([(9, "minor", 9, "min", 9)]), 5)[0, 0] == 12 + 2


def test_decode_picks_consistent_states():
    n = 4
    lp = {"key": np.log(np.full((n, 24), 1 / 24)), "root": np.log(np.full((n, 12), 0.01)),
          "quality": np.log(np.full((n, len(sn.NET_QUALITIES)), 0.01)), "bass": np.log(np.full((n, 12), 0.01)),
          "degree": np.log(np.full((n, 12), 1 / 12))}
    lp["root"][:, 7] = lp["quality"][:, 0] = lp["bass"][:, 11] = 0.0
    lp["key"][:, 0] = 0.0
    keys, chords, states = sn.decode(lp)
    assert (keys == 0).all() and all(states[c] == (7, "maj", 11) for c in chords)


def test_tiny_net_runs_through_analyze_midi(tmp_path):
    torch.set_num_threads(1)
    x = sn.frame_features(cadence(), 8)
    ref = [(0, "major", r, "maj", r, "", "C:major") for r in (0, 0, 5, 5, 7, 7, 0, 0)]
    net = sn.SymbolicNet(sn.train([(x, sn.frame_targets(ref))], steps=3, crop=8, batch=2, hidden=16))
    notes = [{"pitch": n.pitch, "start_time": n.start, "duration": n.end - n.start} for n in cadence()]
    desc = analyze_midi(notes, tempo=120, model=net)
    assert desc["chords"] and all("roman_numeral" in c for c in desc["chords"] if c["label"] != "N")
    assert "neural" in desc["harmonic_analysis"]["method"]
    net.save(str(tmp_path / "n"), {"pieces": 1})
    again = sn.SymbolicNet.load(str(tmp_path / "n"))
    assert analyze_midi(notes, tempo=120, model=again)["chords"] == desc["chords"]
