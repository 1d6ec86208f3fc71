"""`bandmate bench adapt` end to end on a tiny songbook set: folders as a user has them, `bandmate dataset`,
two fine-tunes and the scores side by side (tiny settings: this checks the plumbing, not the numbers)."""
import json
import os
import shutil

import pytest

pytest.importorskip("jams")


def test_adapt_bench_runs_and_reports(tmp_path):
    from models.analysis.engine import load_chord_model
    from models.songbook.render import _lib

    if _lib() is None or not shutil.which("mma"):
        pytest.skip("mma and fluidsynth render the songs")
    if load_chord_model() is None:
        pytest.skip("no shipped chord network")
    from bench.adapt import main, user_folders
    from models.songbook.factory import make_songbook

    sb = tmp_path / "sb"
    make_songbook(3, seed=31, out=str(sb), workers=1, duration=10.0, soundfonts=["TimGM6mb"], split="valid",
                  progress=False, stems=False)
    with open(sb / "index.json") as fh:
        songs = json.load(fh)["songs"]
    folders = user_folders(str(sb), songs[:1], str(tmp_path / "work"))
    assert sorted(os.listdir(folders["labelled"])) == [songs[0]["id"] + ".flac", songs[0]["id"] + ".lab"]
    assert os.listdir(folders["self"]) == [songs[0]["id"] + ".flac"]
    out = tmp_path / "results"
    assert main(["--set", str(sb), "--train", "2", "--epochs", "1", "--steps", "2", "--batch", "2",
                 "--out-dir", str(out)]) == 0
    with open(out / "adapt.json") as fh:
        result = json.load(fh)
    assert result["train_songs"] == 2 and result["held_out_songs"] == 1
    assert set(result["scores"]) == {"shipped", "labelled", "self"}
    assert all(0.0 <= s["majmin"] <= 1.0 for s in result["scores"].values())
    assert "| fine-tuned on the songs with your chords (.lab) |" in (out / "adapt.md").read_text()
    with pytest.raises(ValueError, match="leaves none"):
        main(["--set", str(sb), "--train", "3", "--out-dir", str(out)])
