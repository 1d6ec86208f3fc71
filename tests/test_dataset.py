"""`bandmate dataset`: a folder of songs (real files, real analysis) becomes a set the trainers read."""
import json
import os
import shutil

import numpy as np
import pytest

from tests.conftest import render_songbook_song

pytest.importorskip("jams")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    from models.songbook.render import _lib

    if _lib() is None or not shutil.which("mma"):
        pytest.skip("mma and fluidsynth render the songs")
    root = tmp_path_factory.mktemp("dataset")
    music = root / "My Music"
    (music / "demos").mkdir(parents=True)
    truths = {}
    for seed, rel in ((21, "first take.flac"), (22, "demos/idea.flac")):
        out, entry, truth = render_songbook_song(str(tmp_path_factory.mktemp("song%d" % seed)), seed=seed,
                                                 duration=12)
        shutil.copyfile(os.path.join(out, entry["paths"]["mix"]), music / rel)
        truths[rel] = truth
    truth = truths["demos/idea.flac"]
    with open(music / "demos" / "idea.lab", "w") as fh:        # human chords, Isophonics style
        for c in truth["chords"]:
            fh.write("%.6f %.6f %s\n" % (c["start"], c["end"], c["label"]))
    with open(music / "demos" / "idea.beats", "w") as fh:      # beats without bar positions
        for b in truth["beats"]:
            fh.write("%.6f\n" % b["time"])
    (music / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage")
    (music / "notes.txt").write_text("not audio")
    return music, truths


def test_a_folder_becomes_a_training_set(folder, tmp_path):
    from models.analysis.dataset import main, make_dataset
    from models.analysis.train_chords import cache_features

    music, truths = folder
    out = tmp_path / "set"
    logs = []
    index = make_dataset(str(music), str(out), log=logs.append)
    assert [s["file"] for s in index["songs"]] == ["demos/idea.flac", "first take.flac"]
    assert [f["file"] for f in index["failed"]] == ["broken.wav"] and index["failed"][0]["code"] == "corrupt_file"
    with open(out / "index.json") as fh:
        assert json.load(fh) == index
    idea, take = index["songs"]
    assert idea["labels"] == {"chords": "idea.lab", "beats": "idea.beats", "key": "analysis"}
    assert take["labels"] == {"chords": "analysis", "beats": "analysis", "key": "analysis"}
    assert os.path.isabs(take["paths"]["mix"]) and os.path.exists(out / take["paths"]["jams"])
    with open(out / idea["paths"]["json"]) as fh:
        song = json.load(fh)
    truth = truths["demos/idea.flac"]
    assert [c["label"] for c in song["chords"]] == [c["label"] for c in truth["chords"]]
    assert [b["time"] for b in song["beats"]] == pytest.approx([b["time"] for b in truth["beats"]], abs=1e-6)
    # the bars come from the analysis, placed on the given beats: mostly the true downbeats
    true_down = np.array(truth["downbeats"])
    hits = [np.min(np.abs(true_down - d)) < 0.01 for d in song["downbeats"]]
    assert len(song["downbeats"]) >= 0.8 * len(true_down) and np.mean(hits) >= 0.8
    assert song["bpm"] == pytest.approx(truth["bpm"], rel=0.01)
    with open(out / take["paths"]["json"]) as fh:
        analysed = json.load(fh)
    assert analysed["chords"] and analysed["key"]["label"] and analysed["dataset"]["labels"]["chords"] == "analysis"
    # the trainers read it as they read a songbook set
    cached = cache_features(str(out), str(tmp_path / "cache"), progress=False)
    assert len(cached) == 2 and all(np.load(p)["targets"].shape[0] > 100 for p in cached)
    # a second run keeps what has not changed; --copy makes a set that travels
    logs.clear()
    again = make_dataset(str(music), str(out), log=logs.append)
    assert again["songs"] == index["songs"] and sum("kept (unchanged)" in m for m in logs) == 2
    assert main([str(music), "--out", str(tmp_path / "copied"), "--copy", "--limit", "2"]) == 0
    with open(tmp_path / "copied" / "index.json") as fh:
        copied = json.load(fh)["songs"][0]
    assert not os.path.isabs(copied["paths"]["mix"]) and os.path.exists(tmp_path / "copied" / copied["paths"]["mix"])


def test_bad_labels_and_empty_folders_are_clear_errors(folder, tmp_path):
    from models.analysis.dataset import main, make_dataset, read_lab

    music, _ = folder
    bad = tmp_path / "bad"
    bad.mkdir()
    shutil.copyfile(music / "first take.flac", bad / "song.flac")
    (bad / "song.lab").write_text("0.0 2.0 C:maj\n2.0 4.0 H:nonsense\n")
    index = make_dataset(str(bad), str(tmp_path / "out"), log=lambda m: None)
    assert index["songs"] == [] and index["failed"][0]["code"] == "corrupt_file"
    assert "song.lab" in index["failed"][0]["message"] or "H:nonsense" in index["failed"][0]["message"]
    with pytest.raises(ValueError):
        read_lab(str(bad / "song.lab"))
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([str(empty), "--out", str(tmp_path / "o")]) == 1
    assert main([str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 1


def test_a_jams_sidecar_gives_chords_beats_key_and_tempo(tmp_path):
    """A song.jams beside song.flac: its first chord, beat, key_mode and tempo annotations replace the analysis';
    a song.lab beside it wins for chords."""
    import jams

    from models.analysis.dataset import apply_labels, sidecar_labels

    jam = jams.JAMS()
    jam.file_metadata.duration = 8.0
    for ns, rows in (("chord", [(0.0, 4.0, "A:min"), (4.0, 4.0, "E:7")]),
                     ("beat", [(0.5 * k, 0.0, k % 4 + 1) for k in range(16)]),
                     ("key_mode", [(0.0, 8.0, "N"), (0.0, 8.0, "A:minor")]), ("tempo", [(0.0, 8.0, 120.0)])):
        ann = jams.Annotation(ns, duration=8.0)
        for t, d, v in rows:
            ann.append(time=t, duration=d, value=v, confidence=1.0)
        jam.annotations.append(ann)
    jam.save(str(tmp_path / "song.jams"))
    (tmp_path / "song.flac").write_bytes(b"")
    song = {"chords": [{"start": 0.0, "end": 8.0, "label": "C:maj"}], "beats": [], "downbeats": [], "bpm": 90.0,
            "key": {"label": "C:major"}, "key_regions": [{"start": 0, "end": 8, "key": "C:major"}],
            "meter": {"numerator": 3, "denominator": 4}}
    source = apply_labels(song, sidecar_labels(str(tmp_path / "song.flac")))
    assert source == {"chords": "song.jams", "beats": "song.jams", "key": "song.jams"}
    assert [c["label"] for c in song["chords"]] == ["A:min", "E:7"] and song["key"]["label"] == "A:minor"
    assert song["downbeats"] == [0.0, 2.0, 4.0, 6.0] and song["meter"]["numerator"] == 4 and song["bpm"] == 120.0
    (tmp_path / "song.lab").write_text("0 8 D:min7\n")
    song["chords"] = []
    assert apply_labels(song, sidecar_labels(str(tmp_path / "song.flac")))["chords"] == "song.lab"
    assert [c["label"] for c in song["chords"]] == ["D:min7"]
