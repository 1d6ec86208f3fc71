"""The pseudo-labelled polyphony set: held-out scores stay out, a rendered piece has audio and chord labels."""
import json
import os

import numpy as np
import pytest

from tests.test_songbook import _tools


def test_candidates_leave_out_the_benchmark_scores():
    from models.songbook.corpus import piece_list
    from models.songbook.polyphony import candidate_scores

    cands = candidate_scores()
    stems = {os.path.splitext(c)[0] for c in cands}
    held = {p["score"] for p in piece_list() if p["score"]}
    assert held and not (held & stems)
    assert any(c.startswith("palestrina/") for c in cands) and any(c.startswith("bach/") for c in cands)
    assert not any(c.startswith("monteverdi/") for c in cands)


def _training_soundfont() -> bool:
    from models.songbook.polyphony import HOLDOUT_SOUNDFONT
    from models.songbook.render import available_soundfonts

    return any(name != HOLDOUT_SOUNDFONT for name in available_soundfonts())


@pytest.mark.skipif(not _tools() or not _training_soundfont(),
                    reason="fluidsynth and a soundfont other than the held-out one are needed")
def test_one_piece_renders_with_labels(tmp_path):
    import soundfile as sf

    from models.analysis.train_chords import cache_features
    from models.songbook.polyphony import HOLDOUT_SOUNDFONT, make_set

    entries = make_set(str(tmp_path / "poly"), n=2, seed=3, workers=1, max_quarters=24, progress=False)
    assert len(entries) == 2
    index = json.loads((tmp_path / "poly" / "index.json").read_text())
    assert HOLDOUT_SOUNDFONT not in index["soundfonts"] and not index["failures"]
    for e in entries:
        song = json.loads((tmp_path / "poly" / e["paths"]["json"]).read_text())
        assert song["songbook"]["soundfont"] != HOLDOUT_SOUNDFONT
        audio, sr = sf.read(str(tmp_path / "poly" / e["paths"]["mix"]))
        assert sr == 44100 and np.abs(audio).max() > 0.01
        chords = song["chords"]
        assert len(chords) >= 3 and all(c["end"] > c["start"] for c in chords)
        assert any(c["label"] != "N" for c in chords)
        assert chords[-1]["end"] == pytest.approx(song["source"]["duration"], abs=0.01)
    # the chord trainer reads the set as it reads the songbook's
    files = cache_features(str(tmp_path / "poly"), str(tmp_path / "cache"), progress=False)
    targets = np.load(files[0])["targets"]
    assert len(targets) > 50 and (targets[:, 0] < 12).mean() > 0.5
