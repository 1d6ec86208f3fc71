"""The neural symbolic analyser: transposition-equivariant features and targets, decoding, a tiny training run
plugged into analyze_midi."""
import os

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


def test_ensemble_averages_members_and_round_trips(tmp_path):
    torch.set_num_threads(1)
    x = sn.frame_features(cadence(), 8)
    ref = [(0, "major", r, "maj", r, "", "C:major") for r in (0, 0, 5, 5, 7, 7, 0, 0)]
    members = sn.train_ensemble([(x, sn.frame_targets(ref))], members=2, steps=3, crop=8, batch=2, hidden=16)
    assert len(members) == 2
    one = [sn.predict_log_probs(m, x)["key"] for m in members]
    both = sn.predict_log_probs(members, x)["key"]
    assert np.allclose(np.exp(both), (np.exp(one[0]) + np.exp(one[1])) / 2, atol=1e-6)
    assert not np.allclose(one[0], one[1])            # different seeds, different members
    net = sn.SymbolicNet(members)
    net.save(str(tmp_path / "e"), {"pieces": 1})
    again = sn.SymbolicNet.load(str(tmp_path / "e"))
    assert len(again.members) == 2
    assert np.allclose(again.log_probs(cadence(), 8.0)[1]["key"], both, atol=1e-3)   # float16-free: same weights


def test_single_net_checkpoint_without_members_still_loads(tmp_path):
    from safetensors.torch import save_file
    import json
    module = sn.build_net(16)
    save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(tmp_path / "old.safetensors"))
    (tmp_path / "old.json").write_text(json.dumps({"hidden": 16, "qualities": list(sn.NET_QUALITIES),
                                                   "n_features": sn.N_FEATURES}))
    net = sn.SymbolicNet.load(str(tmp_path / "old"))
    assert len(net.members) == 1


def test_recogniser_scores_follow_the_heads():
    from models.analysis.symbolic import chord_states, recogniser_scores
    states = chord_states()
    n = 2
    lp = {"root": np.log(np.full((n, 12), 0.01)), "bass": np.log(np.full((n, 12), 0.01)),
          "quality": np.log(np.full((n, len(sn.NET_QUALITIES)), 0.01)), "qualities": sn.NET_QUALITIES}
    lp["root"][:, 7] = lp["bass"][:, 7] = lp["quality"][:, sn.NET_QUALITIES.index("7")] = 0.0
    s = recogniser_scores(lp, states, n)
    assert states[int(s[0].argmax())] == (7, "7", 7)
    sus = [i for i, st in enumerate(states) if st == (7, "sus4", 7)][0]   # a quality the net lacks
    assert s[0, sus] == pytest.approx(np.log(0.01) * 1 + 0.0 + 0.0)


def test_hybrid_mixes_net_chords_and_key_profiles():
    """With chord_weight, a net sure of a minor quality names an open fifth minor; with profile_mix the tables'
    key profile joins the net's key head and can outvote a net that barely prefers another key."""
    from models.analysis.symbolic import analyze_notes, rule_model
    notes = [Note(p, 0.0, 4.0) for p in (55, 62)]            # an open fifth G-D: G major or G minor, or Gsus
    n = 4
    flat = {"key": np.log(np.full((n, 24), 1 / 24)), "root": np.log(np.full((n, 12), 1 / 12)),
            "bass": np.log(np.full((n, 12), 1 / 12)), "degree": np.log(np.full((n, 12), 1 / 12)),
            "quality": np.log(np.full((n, len(sn.NET_QUALITIES)), 0.001)), "qualities": sn.NET_QUALITIES}
    flat["quality"][:, sn.NET_QUALITIES.index("min")] = 0.0
    plain = analyze_notes(notes, 4.0, model=rule_model(), key_log_probs=flat["key"])
    assert plain.states[plain.chord_path[0]] == (7, "maj", 7)       # the templates alone read G major
    mixed = analyze_notes(notes, 4.0, model=rule_model(), key_log_probs=flat["key"], chord_log_probs=flat,
                          chord_weight=1.0)
    assert mixed.states[mixed.chord_path[0]] == (7, "min", 7)
    scale = [Note(p, float(i), i + 1.0) for i, p in enumerate((67, 69, 71, 72, 74, 76, 78, 79))]   # G major
    lp = np.log(np.full((8, 24), 0.04))
    lp[:, 0] = np.log(0.05)                                   # the net leans to C major
    assert set(analyze_notes(scale, 8.0, model=rule_model(), key_log_probs=lp).key_path) == {0}
    assert set(analyze_notes(scale, 8.0, model=rule_model(), key_log_probs=lp, profile_mix=3.0).key_path) == {7}


def test_extra_pool_is_drawn_at_its_share(monkeypatch):
    """Crops come from the extra pool about its share of the time; without one, training is unchanged."""
    torch.set_num_threads(1)
    x = sn.frame_features(cadence(), 8)
    y = sn.frame_targets([(0, "major", 0, "maj", 0, "", "C:major")] * 8)
    x2, y2 = x + 0.5, sn.frame_targets([(7, "major", 7, "maj", 7, "", "G:major")] * 8)
    seen = []
    real = sn.roll_features
    monkeypatch.setattr(sn, "roll_features", lambda xc, t: (seen.append(float(xc[0, 0]) > x[0, 0] + 0.25),
                                                              real(xc, t))[1])
    sn.train([(x, y)], steps=40, crop=8, batch=8, hidden=8, extra=[(0.25, [(x2, y2)])])
    assert 0.12 < np.mean(seen) < 0.4
    seen.clear()
    sn.train([(x, y)], steps=5, crop=8, batch=8, hidden=8)
    assert not any(seen)


def test_extra_pieces_load_from_a_when_in_rome_checkout(tmp_path):
    """Score + hand-made analysis pairs under Corpus/<collection>/ become labelled pieces; an unreadable score
    and an analysis whose roots do not sound are left out, not fatal; automatic analyses and other collections
    are not read."""
    pytest.importorskip("music21")
    from music21 import chord, meter, stream
    from bench.roman import extra_dirs, load_extra

    def song(folder, analysis):
        folder.mkdir(parents=True)
        part = stream.Part()
        for i, pitches in enumerate((("C3", "E4", "G4"), ("F3", "A4", "C5"), ("G3", "B4", "D5"), ("C3", "E4", "G4"))):
            m = stream.Measure(number=i + 1)
            if i == 0:
                m.append(meter.TimeSignature("4/4"))
            m.append(chord.Chord(list(pitches), quarterLength=4.0))
            part.append(m)
        stream.Score([part]).write("mxl", fp=str(folder / "score.mxl"))
        (folder / "analysis.txt").write_text(analysis)

    root = tmp_path / "When-in-Rome"
    lieder = root / "Corpus" / "OpenScore-LiederCorpus"
    song(lieder / "Composer" / "Good", "Composer: X\nTitle: good\n\nTime Signature: 4/4\n\nm1 C: I\nm2 IV\nm3 V\nm4 I\n")
    song(lieder / "Composer" / "Broken", "Time Signature: 4/4\n\nm1 C: I\n")
    (lieder / "Composer" / "Broken" / "score.mxl").write_bytes(b"PK\x03\x04 not a zip")
    song(lieder / "Composer" / "Misaligned", "Time Signature: 4/4\n\nm1 C: ii\nm2 iii\nm3 vi\nm4 ii\n")
    song(root / "Corpus" / "Piano_Sonatas" / "Other", "Time Signature: 4/4\n\nm1 C: I\n")
    (lieder / "Composer" / "Auto").mkdir()
    (lieder / "Composer" / "Auto" / "analysis_automatic.rntxt").write_text("m1 C: I\n")
    assert [os.path.basename(d) for d in extra_dirs(str(root))] == ["Broken", "Good", "Misaligned"]
    pieces = load_extra(str(root), workers=1, progress=False, cache=str(tmp_path / "extra.pkl"))
    assert [p["id"] for p in pieces] == ["Corpus/OpenScore-LiederCorpus/Composer/Good"]
    good = pieces[0]
    assert good["collection"] == "OpenScore-LiederCorpus" and len(good["ref"]) == 16
    assert [good["ref"][q][2] for q in (0, 4, 8, 12)] == [0, 5, 7, 0]         # roots C F G C
    assert all(r[0] == 0 and r[1] == "major" for r in good["ref"]) and good["root_sounding"] == 1.0
    assert load_extra("unused", cache=str(tmp_path / "extra.pkl"), progress=False) == pieces   # from the cache
    with pytest.raises(FileNotFoundError):
        load_extra(str(tmp_path / "nowhere"), progress=False)


def test_extra_chorales_leave_out_the_test_chorales_and_their_tunes(tmp_path):
    """When-in-Rome's Bach chorales (scores from music21's corpus) join the extra data, but never one of the 20
    test chorales, another harmonisation of their tunes, or their scores; Goudimel psalms join only when a
    transcription checkout is given; with the test chorales missing the loader refuses rather than guess."""
    pytest.importorskip("music21")
    import json as _json
    from bench.roman import extra_dirs, test_chorales

    numbers = test_chorales()
    assert len(numbers) == 20
    base = tmp_path / "wir" / "Corpus" / "Early_Choral" / "Bach,_Johann_Sebastian" / "Chorales"

    def chorale(num, **meta):
        d = base / ("%03d" % num)
        d.mkdir(parents=True)
        (d / "analysis.txt").write_text("Time Signature: 4/4\n\nm1 C: I\n")
        (d / "remote.json").write_text(_json.dumps(dict({"remote_score_music21": "bach/bwv%d.mxl" % (1000 + num),
                                                         "tune": "tune %d" % num, "BWV": str(1000 + num)}, **meta)))
        return d

    for n in sorted(numbers):
        chorale(n)
    chorale(300, tune="tune %d" % min(numbers))                               # a test chorale's tune
    chorale(301, remote_score_music21="bach/bwv%d.mxl" % (1000 + max(numbers)))   # a test chorale's score
    chorale(302, BWV=str(1000 + min(numbers)))                                 # a test chorale's BWV number
    chorale(303)
    psalm = tmp_path / "wir" / "Corpus" / "Early_Choral" / "Goudimel,_Claude" / "Psalmes" / "007"
    psalm.mkdir(parents=True)
    (psalm / "analysis.txt").write_text("Time Signature: 4/4\n\nm1 G: I\n")
    (psalm / "remote.json").write_text("{}")
    assert [os.path.basename(d) for d in extra_dirs(str(tmp_path / "wir"))] == ["303"]
    scores = tmp_path / "Goudimel_C" / "Pseaumes" / "007"
    scores.mkdir(parents=True)
    (scores / "Goudimel_007_modern.mxl").write_bytes(b"")
    got = sorted(os.path.relpath(d, tmp_path / "wir" / "Corpus")
                 for d in extra_dirs(str(tmp_path / "wir"), score_roots=[str(tmp_path / "Goudimel_C")]))
    assert got == ["Early_Choral/Bach,_Johann_Sebastian/Chorales/303", "Early_Choral/Goudimel,_Claude/Psalmes/007"]
    import shutil
    shutil.rmtree(base / ("%03d" % min(numbers)))
    with pytest.raises(ValueError):
        extra_dirs(str(tmp_path / "wir"))


def test_extra_pools_draw_each_collection_at_its_share(monkeypatch):
    """`extra_pools` groups extra pieces by collection with their shares, and `train` draws crops from each pool
    at about that share (the rest from the annotated corpus); shares that leave nothing for the corpus fail."""
    def piece(coll, n=8):
        return {"collection": coll, "notes": [{"pitch": 60, "start_time": float(q), "duration": 1.0,
                                               "velocity": 100, "mute": False} for q in range(n)],
                "ref": [(0, "major", 0, "maj", 0, "I", "C:major")] * n, "end_q": float(n)}

    pools = sn.extra_pools([piece("A"), piece("B"), piece("A")], {"A": 0.3, "B": 0.2})
    assert [(s, len(ex)) for s, ex in pools] == [(0.3, 2), (0.2, 1)]
    assert sn.extra_pools([piece("C")], {"A": 0.3})[0][0] == sn.EXTRA_SHARE
    assert sn.extra_pools([piece("A")], {"A": 0.0}) == []
    with pytest.raises(ValueError):
        sn.extra_pools([piece("A"), piece("B")], {"A": 0.6, "B": 0.5})
    torch.set_num_threads(1)
    x = sn.frame_features(cadence(), 8)
    y = sn.frame_targets([(0, "major", 0, "maj", 0, "", "C:major")] * 8)
    marked = [(share, [(np.full_like(x, 10.0 * (k + 1)), y)]) for k, (share, _) in enumerate(pools)]
    seen = []
    real = sn.roll_features
    monkeypatch.setattr(sn, "roll_features", lambda xc, t: (seen.append(int(round(float(xc[0, 0]) / 10))),
                                                              real(xc, t))[1])
    sn.train([(np.zeros_like(x), y)], steps=60, crop=8, batch=8, hidden=8, extra=marked)
    share = {k: seen.count(k) / len(seen) for k in (0, 1, 2)}
    assert abs(share[1] - 0.3) < 0.08 and abs(share[2] - 0.2) < 0.08 and abs(share[0] - 0.5) < 0.08


def test_reading_in_all_twelve_transpositions_makes_the_net_transposition_equivariant():
    """With `shifts` 0..11 the averaged reading of a transposed piece is the original reading moved by the same
    interval (key and root roll, quality and degree stay); with one shift an untrained net is not equivariant."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    net = sn.build_net(8).eval()
    x = sn.frame_features(cadence(), 8)
    t = 5
    a = sn.predict_log_probs(net, x, shifts=range(12))
    b = sn.predict_log_probs(net, sn.roll_features(x, t), shifts=range(12))
    for head in ("root", "bass"):
        assert np.allclose(np.roll(a[head], t, axis=-1), b[head], atol=1e-5)
    assert np.allclose(np.concatenate([np.roll(a["key"][:, :12], t, axis=-1), np.roll(a["key"][:, 12:], t, axis=-1)],
                                      axis=-1), b["key"], atol=1e-5)
    for head in ("quality", "degree"):
        assert np.allclose(a[head], b[head], atol=1e-5)
    one_a, one_b = sn.predict_log_probs(net, x, shifts=[0]), sn.predict_log_probs(net, sn.roll_features(x, t), shifts=[0])
    assert not np.allclose(np.roll(one_a["root"], t, axis=-1), one_b["root"], atol=1e-3)
    assert np.allclose(np.exp(a["key"]).sum(axis=-1), 1.0, atol=1e-5)


def test_key_change_penalty_the_hybrid_default_and_params_override():
    """A key change costs `Params.modulation_penalty` where set, else the analyser's own: 4.0 for the tables
    (`symbolic.MODULATION_PENALTY`), `HYBRID_MODULATION_PENALTY` (lower) beside the net's key head."""
    from models.analysis.symbolic import MODULATION_PENALTY, Params, analyze_notes, rule_model
    notes = [Note(p, float(i), i + 1.0) for i in range(8) for p in (48, 55)]   # an open fifth C-G throughout
    lp = np.full((8, 24), -5.0)
    lp[:4, 0] = 0.0                      # C major for four quarters,
    lp[4:, 7], lp[4:, 0] = 0.0, -0.8     # then G major, 0.8 per quarter ahead: 3.2 for a change
    flat = Params(chord_key_weight=0.0)

    def keys(params, penalty=None):
        return list(analyze_notes(notes, 8.0, params, model=rule_model(), key_log_probs=lp,
                                  modulation_penalty=penalty).key_path)
    moved, stayed = [0] * 4 + [7] * 4, [0] * 8
    assert keys(flat, 2.5) == moved and keys(flat, 4.0) == stayed
    assert keys(flat) == stayed and MODULATION_PENALTY > 3.2
    assert keys(Params(chord_key_weight=0.0, modulation_penalty=2.0), 4.0) == moved   # Params wins
    assert sn.HYBRID_MODULATION_PENALTY < 3.2
    assert sn.NetKeyTemplates(None).modulation_penalty == sn.HYBRID_MODULATION_PENALTY
