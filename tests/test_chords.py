"""Chord model plumbing: targets, transposition, Viterbi decoding, segments, and a tiny training run."""
import numpy as np

from models.analysis.chords import (N_STATES, NO_CHORD, QUALITY_CLASSES, frame_targets, segments_from_path,
                                    state_label, viterbi)
from models.analysis.train_chords import transpose


def test_frame_targets_and_labels():
    times = np.arange(0, 4, 0.5)
    t = frame_targets([{"start": 0.0, "end": 2.0, "label": "A:min7/b3"}, {"start": 2.0, "end": 3.0,
                                                                            "label": "N"}], times)
    assert t[0].tolist() == [9, QUALITY_CLASSES.index("min7"), 0]
    assert t[4].tolist() == [NO_CHORD, 0, NO_CHORD] and t[-1, 0] == NO_CHORD
    assert state_label(9 * len(QUALITY_CLASSES) + QUALITY_CLASSES.index("min7"), bass=0) == "A:min7/b3"
    assert state_label(N_STATES - 1) == "N"


def test_transpose_moves_bins_and_labels():
    spec = np.zeros((2, 176), dtype=np.float32)
    spec[:, 96] = 1.0  # A4
    targets = np.array([[9, 0, 9], [NO_CHORD, 0, NO_CHORD]])
    s2, t2 = transpose(spec, targets, 3)
    assert s2[0].argmax() == 102 and t2[0].tolist() == [0, 0, 0] and t2[1, 0] == NO_CHORD


def test_viterbi_smooths_single_frame_flips():
    logp = np.log(np.full((10, 3), 0.1))
    logp[:, 0] = np.log(0.8)
    logp[5] = np.log([0.3, 0.6, 0.1])  # one noisy frame
    assert viterbi(logp, 2.0).tolist() == [0] * 10
    assert viterbi(logp, 0.0)[5] == 1
    segs = segments_from_path(np.array([0, 0, N_STATES - 1, N_STATES - 1]), np.arange(4) * 0.1, 0.1,
                              duration=0.4)
    assert [s["label"] for s in segs] == ["C:maj", "N"] and segs[-1]["end"] == 0.4


def test_tiny_training_run_learns(tmp_path):
    """A few hundred steps on synthetic chord spectra must beat chance clearly: the loop really learns."""
    import torch

    from models.analysis.chords import build_model
    from models.analysis.train_chords import loss_fn

    torch.manual_seed(0)
    rng = np.random.default_rng(0)

    def example(root, minor):
        spec = np.zeros((20, 176), dtype=np.float32)
        for iv in (0, 3 if minor else 4, 7):
            for octave in (3, 4):
                midi = 12 * (octave + 1) + (root + iv) % 12
                spec[:, (midi - 21) * 2] = 1.0 + 0.2 * rng.random()
        return spec, np.array([[root, int(minor), root]] * 20)

    model = build_model()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(60):
        xs, ys = zip(*[example(int(rng.integers(12)), bool(rng.integers(2))) for _ in range(8)])
        loss, _ = loss_fn(model, torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    xs, ys = zip(*[example(r, m) for r in range(12) for m in (False, True)])
    with torch.no_grad():
        root, quality, _ = model(torch.from_numpy(np.stack(xs)))
    acc = float((root.argmax(-1)[:, 10].numpy() == np.array([y[0, 0] for y in ys])).mean())
    assert acc >= 0.5, acc  # chance is 1/13
