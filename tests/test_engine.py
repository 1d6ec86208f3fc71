"""The analysis engine: source facts always, chords when a chord model is given, honest notices otherwise."""
import numpy as np
import soundfile as sf

from models.analysis.engine import analyze_file, load_chord_model


def _chord_audio(path, sr=22050):
    t = np.arange(int(sr * 4)) / sr
    notes = [(60, 64, 67), (57, 60, 64)]  # C major, then A minor
    y = np.concatenate([sum(0.1 * np.sin(2 * np.pi * 440 * 2 ** ((m - 69) / 12) * t[:sr * 2]) for m in ch)
                        for ch in notes])
    sf.write(str(path), y, sr)
    return str(path)


def test_without_a_chord_model_only_source_and_notices(tmp_path):
    song = analyze_file(_chord_audio(tmp_path / "c.wav"), models={})
    assert "chords" not in song and song["source"]["channels"] == 1
    assert any("chords unavailable" in n for n in song["notices"])


def test_with_a_chord_model_segments_cover_the_clip(tmp_path):
    import torch
    from safetensors.torch import save_file

    from models.analysis.chords import build_model

    torch.manual_seed(0)
    ckpt = str(tmp_path / "chords")
    save_file(build_model().state_dict(), ckpt + ".safetensors")
    model = load_chord_model(ckpt)
    stages = []
    song = analyze_file(_chord_audio(tmp_path / "c.wav"), models={"chords": model},
                        progress=lambda s, f: stages.append(s))
    chords = song["chords"]
    assert chords[0]["start"] == 0.0 and abs(chords[-1]["end"] - 4.0) < 1e-6
    assert all(a["end"] == b["start"] for a, b in zip(chords, chords[1:]))
    assert {"decode", "chords", "done"} <= set(stages)
    assert load_chord_model(str(tmp_path / "missing")) is None
