"""The songbook factory: ground truth checked against the MIDI it describes, audio against its stems."""
from __future__ import annotations

import json
import os
import shutil
from collections import defaultdict

import numpy as np
import pytest

mido = pytest.importorskip("mido")
jams = pytest.importorskip("jams")
sf = pytest.importorskip("soundfile")

from models.songbook import grooves as G  # noqa: E402
from models.songbook import midi_tools as M  # noqa: E402
from models.theory.harmony import QUALITIES, Chord, parse_roman  # noqa: E402
from models.analysis.loudness import integrated_loudness  # noqa: E402
from models.songbook.plan import groove_split, plan_song, progression_split  # noqa: E402
from models.songbook.progressions import CURATED, all_progressions, rntxt_progressions  # noqa: E402



def _tools() -> bool:
    from models.songbook.render import _lib
    return bool(shutil.which("mma")) and (_lib() is not None or bool(shutil.which("fluidsynth")))


needs_tools = pytest.mark.skipif(not _tools(), reason="mma and fluidsynth are needed")


def _tempo_seconds(mid: mido.MidiFile, tick: int) -> float:
    """Seconds at `tick`, walking the set_tempo events with mido.tick2second (independent of TempoMap)."""
    events = sorted((sum(m.time for m in tr[:i + 1]), m.tempo) for tr in mid.tracks for i, m in enumerate(tr)
                    if m.type == "set_tempo")
    sec, last_t, tempo = 0.0, 0, 500000
    for t, tp in events:
        if t >= tick:
            break
        sec += mido.tick2second(t - last_t, mid.ticks_per_beat, tempo)
        last_t, tempo = t, tp
    return sec + mido.tick2second(tick - last_t, mid.ticks_per_beat, tempo)


# ---------------------------------------------------------------- fast, no rendering

def test_harmony_spelling():
    cases = {("vi7", 0): ("A:min7", "Am7"), ("V65", 0): ("G:7/3", "G7/B"), ("IV@5", 0): ("F:maj/2", "F/G"),
             ("viio7/V", 0): ("F#:dim7", "F#dim7"), ("bVII", 0): ("Bb:maj", "Bb"), ("i42", 9): ("A:min7/b7", "Am7/G"),
             ("iiø7", 9): ("B:hdim7", "Bm7b5"), ("V[7(b9)]", 5): ("C:7(b9)", "C7b9"), ("I64", 7): ("G:maj/5", "G/D")}
    for (tok, tonic), (harte, mma) in cases.items():
        letter = {0: 0, 9: 5, 5: 3, 7: 4}[tonic]
        c, _ = parse_roman(tok, tonic, letter)
        assert (c.harte, c.mma) == (harte, mma), tok


def test_progression_library():
    assert len(CURATED) >= 80
    for p in CURATED:
        assert p.realise(0), p.id
    ids = [p.id for p in all_progressions()]
    assert len(ids) == len(set(ids))
    rn = rntxt_progressions()
    assert len(rn) > 300 and {p.id.split("-")[1] for p in rn} == {"bach", "monteverdi"}
    blues = next(p for p in CURATED if p.id == "blues-12")
    assert [c.harte for c, _ in blues.realise(7)][:5] == ["G:7", "G:7", "G:7", "G:7", "C:7"]
    tags = {t for p in CURATED for t in p.tags}
    assert set(G.FAMILIES) <= tags


def test_groove_table():
    table = G.load_table()
    assert len(table) > 1500
    assert {g.family for g in table} == set(G.FAMILIES)
    assert {g.meter for g in table} == {"4/4", "3/4", "6/8", "12/8"}
    by_file = defaultdict(set)
    for g in table:
        by_file[g.file].add(g.family)
        assert g.mma_beats_per_bar == g.beats_per_bar * g.mma_beats_per_tactus
    assert all(len(f) == 1 for f in by_file.values())
    assert G.by_name()["8Beat"].meter == "4/4" and G.by_name()["Waltz"].meter == "3/4"


def test_splits_disjoint_by_groove_and_progression():
    plans = [plan_song(7, i, duration=20) for i in range(60)]
    used = defaultdict(lambda: (set(), set()))
    for p in plans:
        used[p.split][0].add(p.groove_file)
        used[p.split][1].update(p.progressions)
    assert {"train", "valid", "test"} <= set(used) or len(used) >= 2
    splits = list(used)
    for i, a in enumerate(splits):
        for b in splits[i + 1:]:
            assert not used[a][0] & used[b][0], (a, b)
            assert not used[a][1] & used[b][1], (a, b)
    # the rule itself: every groove file and every progression content has exactly one split
    for g in G.load_table():
        assert groove_split(g) == groove_split(next(x for x in G.load_table() if x.file == g.file))
    assert all(progression_split(p) in ("train", "valid", "test") for p in CURATED)
    for p in plans[:20]:
        for s in p.sections:
            assert s.progression in {q.id for q in all_progressions() if progression_split(q) == p.split}


def test_plans_are_deterministic_and_hold_out_soundfont():
    sfs = ("FluidR3_GM", "MuseScore_General", "TimGM6mb")
    a = [plan_song(3, i, soundfonts=sfs, holdout_soundfont="TimGM6mb") for i in range(40)]
    b = [plan_song(3, i, soundfonts=sfs, holdout_soundfont="TimGM6mb") for i in range(40)]
    assert [(p.groove, p.soundfont, [c.chord.harte for c in p.chords]) for p in a] == \
           [(p.groove, p.soundfont, [c.chord.harte for c in p.chords]) for p in b]
    for p in a:
        assert (p.soundfont == "TimGM6mb") == (p.split == "test")
    tests = [plan_song(3, i, split="test", soundfonts=sfs, holdout_soundfont="TimGM6mb") for i in range(5)]
    assert all(p.split == "test" and p.soundfont == "TimGM6mb" for p in tests)


def test_loudness_reference_sine():
    # BS.1770: a 0 dBFS 997 Hz sine in one channel reads -3.01 LUFS
    sr = 48000
    t = np.arange(sr * 5) / sr
    x = np.stack([np.sin(2 * np.pi * 997 * t), np.zeros_like(t)], axis=1)
    assert abs(integrated_loudness(x, sr) + 3.01) < 0.05
    assert integrated_loudness(np.zeros((sr, 2)), sr) is None


def test_normalise_one_gain_and_ceiling():
    from models.songbook.render import PEAK_CEILING, normalise
    rng = np.random.default_rng(0)
    a = (0.05 * rng.standard_normal((44100, 2))).astype(np.float32)
    b = -0.8 * a
    a[100] = 0.9                        # a stem peak that the other stem cancels in the mix
    mix, stems, gain_db, lufs = normalise({"a": a, "b": b})
    assert np.allclose(stems["a"] + stems["b"], mix, atol=1e-6)
    assert max(np.abs(v).max() for v in [mix, *stems.values()]) <= PEAK_CEILING + 1e-6
    assert np.allclose(stems["a"], a * 10 ** (gain_db / 20), atol=1e-6)
    quiet = {"a": (0.01 * rng.standard_normal((44100 * 3, 2))).astype(np.float32)}
    assert normalise(quiet)[3] == pytest.approx(-16.0, abs=0.01)


def test_cli_reports_missing_mma(tmp_path, monkeypatch, capsys):
    from models.songbook import cli, mma_writer
    monkeypatch.setattr(mma_writer.shutil, "which", lambda name: None)
    assert cli.main(["make", "--n", "1", "--out", str(tmp_path / "x")]) != 0
    assert "mma not found" in capsys.readouterr().err


@needs_tools
def test_mma_sounds_every_quality(tmp_path):
    """MMA's own chord voicing (8Beat's piano) plays the pitch classes of every label we write."""
    from models.songbook.mma_writer import render_mma
    names = list(QUALITIES)
    chords = [Chord(0, "C", q, 0, "C", "I") for q in names] + [Chord(9, "A", "min7", 7, "G", "vi42"),
                                                                  Chord(5, "F", "maj", 7, "G", "IV/^5")]
    src = "RndSeed 1\nTempo 120\nGroove 8Beat\n" + "".join(f"{i + 1} {c.mma}\n" for i, c in enumerate(chords))
    render_mma(src, str(tmp_path / "q.mma"), str(tmp_path / "q.mid"))
    mid = mido.MidiFile(str(tmp_path / "q.mid"))
    piano = [tr for tr in mid.tracks if tr.name == "Chord"][0]
    notes = M.track_notes(piano)
    bar = 4 * mid.ticks_per_beat
    for i, c in enumerate(chords):
        pcs = {n.pitch % 12 for n in notes if i * bar <= n.start < (i + 1) * bar}
        assert {(c.root + iv) % 12 for iv in QUALITIES[c.quality][0]} <= pcs, c.harte


# ---------------------------------------------------------------- a small rendered songbook

@pytest.fixture(scope="module")
def songbook(tmp_path_factory):
    if not _tools():
        pytest.skip("mma and fluidsynth are needed")
    from models.songbook.factory import make_songbook
    out = str(tmp_path_factory.mktemp("songbook"))
    make_songbook(3, seed=11, out=out, workers=1, duration=12.0, soundfonts=["TimGM6mb"], progress=False)
    with open(os.path.join(out, "index.json")) as f:
        return out, json.load(f)


def _load(out, entry):
    with open(os.path.join(out, entry["paths"]["json"])) as f:
        return json.load(f)


@needs_tools
def test_index_and_files(songbook):
    out, index = songbook
    assert len(index["songs"]) == 3
    for e in index["songs"]:
        for k in ("id", "split", "groove", "family", "progressions", "key", "bpm", "meter", "soundfont", "duration"):
            assert e[k] not in (None, "", []), k
        d = _load(out, e)
        assert d["schema_version"] == "1.0"
        assert d["genre_analysis"]["primary"] == e["family"] in G.FAMILIES
        assert set(d["stems"]) >= {"bass", "chords"}   # some grooves (arpeggio, piano ballads) have no drums
        for s in d["stems"].values():
            assert os.path.exists(os.path.join(out, s["path"])) and os.path.exists(os.path.join(out, s["midi"]))
        assert 8.0 < d["source"]["duration"] < 25.0
        jams.load(os.path.join(out, e["paths"]["jams"]), validate=True)


@needs_tools
def test_chords_sound_in_chord_stem(songbook):
    out, index = songbook
    for e in index["songs"]:
        d = _load(out, e)
        mid = mido.MidiFile(os.path.join(out, d["stems"]["chords"]["midi"]))
        notes = [n for tr in mid.tracks for n in M.track_notes(tr)]
        tpq = mid.ticks_per_beat
        inside = total = 0
        for c in d["chords"]:
            if c["label"] == "N":
                continue
            chord = Chord(_pc(c["root"]), c["root"], c["quality"], _pc(c["bass"]), c["bass"], c["roman_numeral"])
            t0, t1 = int(round(c["start_beat"] * tpq)), int(round(c["end_beat"] * tpq))
            # every chord tone but the fifth is struck inside the span (merged spans: checked as a whole)
            assert M.required_pcs(chord) <= M.sounding_pcs(notes, t0, t1), (e["id"], c)
            struck = [n.pitch % 12 for n in notes if t0 - M.ONSET_SLACK <= n.start < t1 - M.ONSET_SLACK]
            inside += sum(pc in chord.pitch_classes for pc in struck)
            total += len(struck)
        # ... and the chord stem plays (almost) nothing outside the labelled chords
        assert total and inside / total > 0.97, e["id"]


def _pc(name):
    from models.theory.harmony import pc_of
    return pc_of(name)


@needs_tools
def test_beats_match_tempo_map(songbook):
    out, index = songbook
    for e in index["songs"]:
        d = _load(out, e)
        mid = mido.MidiFile(os.path.join(out, e["paths"]["midi"]))
        tpq = mid.ticks_per_beat
        n = d["meter"]["beats_per_bar"]
        beats = d["beats"]
        assert beats[0]["time"] == 0.0 and beats[0]["position"] == 1
        for i, b in enumerate(beats):
            assert b["position"] == i % n + 1
            assert abs(b["time"] - _tempo_seconds(mid, int(round(b["beat"] * tpq)))) < 1e-4
        assert d["downbeats"] == [b["time"] for b in beats[::n]]
        # bar lengths follow the MIDI time signature / MMA Time: equal tick spacing of downbeats
        ticks = [round(b["beat"] * tpq) for b in beats[::n]]
        assert len(set(np.diff(ticks))) == 1
        # chords and sections tile the song on the beat grid
        grid = {round(b["beat"], 6) for b in beats} | {round(d["chords"][-1].get("end_beat", 0), 6)}
        for c in d["chords"]:
            if "start_beat" in c:
                assert round(c["start_beat"], 6) in grid
        assert d["sections"][0]["start"] == 0.0
        for a, b in zip(d["sections"], d["sections"][1:]):
            assert a["end"] == b["start"]
        # tempo map bpm is the MIDI tempo in tactus beats
        assert d["tempo_map"][0]["bpm"] == pytest.approx(d["bpm"])


@needs_tools
def test_audio_onsets_at_beat_zero(songbook):
    out, index = songbook
    for e in index["songs"]:
        d = _load(out, e)
        x, sr = sf.read(os.path.join(out, d["source"]["path"]))
        first = int(np.argmax(np.abs(x).max(axis=1) > 1e-3))
        assert first / sr < 0.05, "audio must start with bar 1 (no count-in/lead-in)"


@needs_tools
def test_stems_sum_to_mix(songbook):
    out, index = songbook
    for e in index["songs"]:
        mix, sr = sf.read(os.path.join(out, e["paths"]["mix"]))
        assert sr == 44100 and mix.ndim == 2
        total = sum(sf.read(os.path.join(out, p))[0] for p in e["paths"]["stems"].values())
        assert np.max(np.abs(total - mix)) < 5e-4
        d = _load(out, e)
        lufs = d["source"]["loudness_lufs"]
        assert lufs <= -15.9 and lufs > -30


@needs_tools
@pytest.mark.slow
def test_deterministic_for_a_seed(songbook, tmp_path):
    from models.songbook.factory import make_songbook
    out, index = songbook
    make_songbook(3, seed=11, out=str(tmp_path), workers=2, duration=12.0, soundfonts=["TimGM6mb"],
                  progress=False)
    with open(tmp_path / "index.json") as f:
        again = json.load(f)
    assert again["songs"] == index["songs"]
    for e in index["songs"]:
        for p in [e["paths"]["midi"], *e["paths"]["stem_midi"].values()]:
            with open(os.path.join(out, p), "rb") as a, open(tmp_path / p, "rb") as b:
                assert a.read() == b.read(), p
        # the audio too, sample for sample, though other songs were rendered before it in this process (a synth
        # reused from file to file carried its chorus, reverb and block phase along: the mixes came out different)
        mix = e["paths"]["mix"]
        assert np.array_equal(sf.read(os.path.join(out, mix))[0], sf.read(str(tmp_path / mix))[0]), mix


@needs_tools
@pytest.mark.slow
def test_corpus_piece(tmp_path):
    pytest.importorskip("music21")
    from models.songbook.corpus import make_corpus
    entries = make_corpus(str(tmp_path), limit=1, workers=1, soundfont="TimGM6mb", progress=False)
    assert len(entries) == 1
    e = entries[0]
    jams.load(str(tmp_path / e["paths"]["jams"]), validate=True)
    with open(tmp_path / e["paths"]["json"]) as f:
        d = json.load(f)
    mid = mido.MidiFile(str(tmp_path / e["paths"]["midi"]))
    notes = [n for tr in mid.tracks for n in M.track_notes(tr)]
    tpq = mid.ticks_per_beat
    hits = total = 0
    for c in d["chords"]:
        if c["label"] == "N":
            continue
        t0, t1 = c["start_beat"] * tpq, c["end_beat"] * tpq
        sounding = {n.pitch % 12 for n in notes if n.start < t1 and n.end > t0}
        total += 1
        hits += _pc(c["root"]) in sounding and _pc(c["bass"]) in sounding
    assert total > 20 and hits / total > 0.9       # the analysis is aligned with the audio's notes
    assert all(abs(b["time"] - b["beat"] * 60 / 80.0) < 1e-4 for b in d["beats"])
    x, sr = sf.read(str(tmp_path / e["paths"]["mix"]))
    stems = sum(sf.read(str(tmp_path / p))[0] for p in e["paths"]["stems"].values())
    assert np.max(np.abs(stems - x)) < 5e-4 and abs(len(x) / sr - d["source"]["duration"]) < 1e-3


@needs_tools
@pytest.mark.slow
def test_ray_engine(tmp_path):
    pytest.importorskip("ray")
    from models.songbook.factory import make_songbook
    entries = make_songbook(1, seed=5, out=str(tmp_path), workers=1, engine="ray", duration=8.0,
                            soundfonts=["TimGM6mb"], progress=False, stems=False)
    assert len(entries) == 1 and os.path.exists(tmp_path / entries[0]["paths"]["mix"])


def test_libfluidsynth_is_found_beside_the_program(tmp_path, monkeypatch):
    """Where the system search finds no libfluidsynth (Homebrew under /opt/homebrew, the Windows release zip), the
    library beside the `fluidsynth` program is loaded: here a Homebrew-like prefix with the real library as
    lib/libfluidsynth.dylib. BANDMATE_FLUIDSYNTH_LIB comes first."""
    import ctypes.util

    from models.songbook import render

    real = ctypes.util.find_library("fluidsynth")
    if not real:
        pytest.skip("no libfluidsynth on this machine")
    real = next((os.path.join(d, real) for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib", "/usr/local/lib")
                 if os.path.exists(os.path.join(d, real))), real)
    prefix = tmp_path / "homebrew"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "lib").mkdir()
    exe = prefix / "bin" / "fluidsynth"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    os.symlink(real, prefix / "lib" / "libfluidsynth.dylib")
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    monkeypatch.setenv("PATH", str(prefix / "bin"))
    monkeypatch.delenv("BANDMATE_FLUIDSYNTH_LIB", raising=False)
    found = render.library_candidates()
    assert found[0] == str(prefix / "lib" / "libfluidsynth.dylib")
    assert render._load_library()._name == found[0]
    monkeypatch.setenv("BANDMATE_FLUIDSYNTH_LIB", str(tmp_path / "custom.so"))
    assert render.library_candidates()[0] == str(tmp_path / "custom.so")
    assert render._load_library()._name == found[0]      # a wrong setting falls through to the next place
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("BANDMATE_FLUIDSYNTH_LIB")
    assert render.library_candidates() == ["libfluidsynth.so.3"]
