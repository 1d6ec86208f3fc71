"""Stem generation: requests, the step grid, the sampler's constraints, files on disk, the daemon job."""
import json
import os

import mido
import numpy as np
import pytest
import soundfile as sf
import torch

from models.generation import metrics as M
from models.generation.generate import build_request, conditioning, generate, load_model
from models.generation.model import FastStepper, StemTransformer, shift_prev
from models.generation.request import parse_key, parse_meter, parse_symbol
from models.generation.sampler import sample, tokens_to_notes
from models.generation.tokens import (RANGES, StepChord, bass_pitch, bass_token, keys_pitches, keys_token,
                                      melody_pitch, melody_token)
from models.generation.train import feats_of
from models.theory.harmony import MODE_SCALES
from protocol import BandmateError

os.environ.setdefault("BANDMATE_SOUNDFONT", "TimGM6mb")


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    m = StemTransformer(d=32, layers=2, heads=2, ff=64, dropout=0.0, max_len=64)
    m.eval()
    m.version = "test-random"
    return m


def test_chord_symbols_romans_and_keys():
    assert parse_symbol("Am7") == (9, "min7", 9)
    assert parse_symbol("C/E") == (0, "maj", 4)
    assert parse_symbol("F#m7b5") == (6, "hdim7", 6)
    assert parse_symbol("Bbmaj7") == (10, "maj7", 10)
    assert parse_symbol("G7sus4") == (7, "sus4(b7)", 7)
    assert parse_symbol("A:min/b3") == (9, "min", 0)
    assert parse_symbol("N") is None
    assert parse_key("Em") == (4, "minor") and parse_key("Eb:major") == (3, "major")
    assert parse_key("D dorian") == (2, "dorian")
    assert parse_meter("6/8") == (6, 8, 2) and parse_meter("3/4") == (3, 4, 3)
    req = build_request({"chords": "I V vi IV", "key": "G", "tempo": 100, "meter": "4/4"})
    assert [(c.root, c.quality) for c in req.chords] == [(7, "maj"), (2, "maj"), (4, "min"), (0, "maj")]
    assert req.bars == 4
    req = build_request({"chords": "C G | Am F", "bars": 4, "key": "C"})
    assert [c.start for c in req.chords] == [0, 2, 4, 6, 8, 10, 12, 14]   # two chords a bar, looped to 4 bars


@pytest.mark.parametrize("params,field", [
    ({"chords": "C H7"}, "chords"), ({"meter": "7/3"}, "meter"), ({"tempo": 0}, "tempo"), ({"tempo": 1000}, "tempo"),
    ({"chords": ""}, "chords"), ({"chords": " | "}, "chords"), ({"bars": 10000}, "bars"), ({"genre": "polka-step"}, "genre"),
    ({"stems": "drums,kazoo"}, "stems"), ({"colour": "blue"}, "colour"), ({"key": "H minor"}, "key"),
    ({"constraints": {"scale": "yes"}}, "constraints"), ({"renderer": "tape"}, "renderer"), ({"seed": -1}, "seed"), ({"variations": 50}, "variations"),
])
def test_bad_requests_name_the_field(params, field):
    with pytest.raises(BandmateError) as e:
        build_request(params)
    assert e.value.code == "bad_params" and ("'%s'" % field) in e.value.message


def test_request_sections_give_the_form():
    req = build_request({"key": "C", "sections": [{"label": "verse", "bars": 4, "chords": "C Am F G"},
                                                  {"label": "chorus", "bars": 2, "chords": "F G"}]})
    assert req.bars == 6 and [(s["label"], s["start_bar"], s["bars"]) for s in req.sections] == [
        ("verse", 0, 4), ("chorus", 4, 2)]
    assert [c.root for c in req.chords][-2:] == [5, 7]
    cond = conditioning(req)
    assert cond.last_bar[3 * 16] == 1 and cond.last_bar[4 * 16] == 0   # bar 4 ends the verse
    with pytest.raises(BandmateError) as e:
        build_request({"sections": [{"label": "solo", "bars": 4}]})
    assert "'sections'" in e.value.message


def test_token_round_trips():
    c = StepChord(9, "min7", 9, 0, "major")
    for p in range(28, 60):
        assert bass_pitch(bass_token(p, c), c) == p
    for p in range(48, 84):
        assert melody_pitch(melody_token(p, c), c) == p
    for t in range(1, 10):
        ps = keys_pitches(t, c)
        assert {x % 12 for x in ps} == {9, 0, 4, 7} and keys_token(ps[0], c) == t


def test_midi_only_songbook_songs_become_step_grids(tmp_path):
    from models.generation.dataset import load_songbook
    from models.songbook.factory import make_songbook

    entries = make_songbook(3, 5, str(tmp_path), split="train", workers=1, audio=False, progress=False,
                            duration=20)
    assert len(entries) == 3 and not list(tmp_path.rglob("*.flac"))
    songs = load_songbook(str(tmp_path), split="train")
    assert len(songs) == 3
    for _, _, cond, tok in songs:
        assert cond.n_steps % cond.steps_per_bar == 0 and cond.grid in (3, 4, 6)
        assert tok.drums.sum() > 0 and (tok.bass > 0).sum() > 0 and (tok.keys > 0).sum() > 0
        assert all(c.root >= 0 for c in cond.chords[:cond.steps_per_bar])


def test_fast_stepper_matches_the_batched_forward(tiny_model):
    req = build_request({"chords": "C G Am F", "bars": 2, "key": "C"})
    cond = conditioning(req)
    tok = sample(tiny_model, cond, seed=3)
    from models.generation.dataset import pack

    a = pack(cond, tok)
    batch = {k: torch.from_numpy(np.asarray(v))[None] for k, v in a.items() if k != "steps_per_bar"}
    batch = {k: (v.float() if k == "drums" else v.long()) for k, v in batch.items()}
    with torch.no_grad():
        full = tiny_model(feats_of(batch), shift_prev(batch))
    st = FastStepper(tiny_model, feats_of(batch), 64)
    for i in range(12):
        j = i - 1
        pt = {s: int(getattr(tok, s)[j]) if j >= 0 else 0 for s in ("bass", "keys", "melody")}
        pd = {s: int(getattr(tok, s + "_dur")[j]) + 1 if pt[s] else 0 for s in pt}
        out = st.step(i, tok.drums[j] if j >= 0 else np.zeros(15, np.float32), pt, pd)
        for s in ("drums", "bass", "keys", "melody"):
            assert np.allclose(out[s], full[s][0, i].numpy(), atol=1e-4)


def _chords_q(req):
    q = req.quarters_per_beat
    return [(c.start * q, c.end * q, c.root, c.quality, c.bass) for c in req.chords]


def test_constraints_hold_even_for_an_untrained_model(tiny_model):
    req = build_request({"chords": "Am7 D7 Gmaj7 Cmaj7 | F#m7b5 B7", "bars": 8, "key": "G", "tempo": 120,
                         "complexity": 1.0})
    cond = conditioning(req)
    notes = tokens_to_notes(sample(tiny_model, cond, req.constraints, seed=1), cond, req.quarters_per_beat / cond.grid)
    chords = _chords_q(req)
    assert notes["bass"] and notes["melody"]
    assert M.chord_tone_ratio(notes["bass"], chords, 4, 1.0, strong_only=False) is not None
    on_beat = [n for n in notes["bass"] if abs(n["start_time"] - round(n["start_time"])) < 1e-6]
    assert all(n["pitch"] % 12 in M.chord_pcs(M.chord_at(chords, n["start_time"] + 1e-4)) for n in on_beat)
    scale = {(7 + d) % 12 for d in MODE_SCALES["major"]}
    for n in notes["melody"]:
        pcs = M.chord_pcs(M.chord_at(chords, n["start_time"] + 1e-4))
        assert n["pitch"] % 12 in scale | pcs
    for stem in ("bass", "melody", "keys"):
        assert all(RANGES[stem][0] <= n["pitch"] <= RANGES[stem][1] for n in notes[stem])
        assert M.problems(notes[stem], RANGES[stem], monophonic=stem != "keys") == \
            {"overlapping": 0, "stuck": 0, "out_of_range": 0}
    free = build_request({"chords": "Am7 D7 Gmaj7 Cmaj7", "bars": 8, "key": "G", "complexity": 1.0,
                          "constraints": {"scale": False, "chord_tones": False, "range": False}})
    fc = conditioning(free)
    fnotes = tokens_to_notes(sample(tiny_model, fc, free.constraints, seed=1), fc, 0.25)
    outside = [n for n in fnotes["melody"] if n["pitch"] % 12 not in scale]
    assert outside, "with the constraints off an untrained model wanders off the scale"


def _midi_facts(path):
    mid = mido.MidiFile(path)
    facts, end = {}, 0
    for tr in mid.tracks:
        t = 0
        for msg in tr:
            t += msg.time
            if msg.is_meta and msg.type in ("set_tempo", "time_signature", "key_signature"):
                facts.setdefault(msg.type, msg)
        end = max(end, t)
    return facts, end / mid.ticks_per_beat, mid


def test_generate_writes_midi_notes_and_audio_that_follow_the_request(tiny_model, tmp_path):
    res = generate({"chords": "Em C G D", "bars": 4, "tempo": 92, "key": "E:minor", "meter": "6/8", "seed": 5,
                    "genre": "ballad", "variations": 2}, tiny_model, out_dir=str(tmp_path))
    assert res["tempo"] == 92 and res["meter"] == "6/8" and res["key"] == "E:minor" and res["bars"] == 4
    assert res["length_beats"] == 4 * 3.0   # four bars of 6/8 = 12 quarter notes
    assert os.path.basename(res["stems"]["bass"]["midi"]) == "bass_92bpm_Emin.mid"
    assert len(res["variations"]) == 2 and res["variations"][1]["midi"].endswith("_v2.mid")
    for stem, st in res["stems"].items():
        facts, length_q, mid = _midi_facts(st["midi"])
        assert round(mido.tempo2bpm(facts["set_tempo"].tempo), 3) == 92
        assert (facts["time_signature"].numerator, facts["time_signature"].denominator) == (6, 8)
        assert facts["key_signature"].key == "Em"
        assert abs(length_q - 12.0) < 1e-9
        chans = {m.channel for tr in mid.tracks for m in tr if m.type == "note_on"}
        assert chans <= {9 if stem == "drums" else st["channel"]}
        with open(st["notes"]) as fh:
            nl = json.load(fh)
        assert nl["stem"] == stem and len(nl["notes"]) == st["n_notes"]
        assert all(0 <= n["start_time"] < 12 and n["duration"] > 0 and not n["mute"] for n in nl["notes"])
        audio, sr = sf.read(st["audio"])
        assert sr == 48000 and audio.ndim == 2 and audio.shape[1] == 2
    mix, sr = sf.read(res["audio"])
    assert sr == 48000 and np.abs(mix).max() <= 0.99 and np.abs(mix).max() > 0.01
    band = mido.MidiFile(res["midi"])
    assert [t.name for t in band.tracks[1:]] == ["Drums", "Bass", "Keys", "Melody"]


def test_diffusion_renderer_is_selectable(tmp_path):
    model = load_model()
    res = generate({"chords": "C G", "bars": 2, "tempo": 120, "key": "C", "stems": "bass", "renderer": "diffusion",
                    "seed": 1}, model, out_dir=str(tmp_path))
    audio, sr = sf.read(res["stems"]["bass"]["audio"])
    assert sr == 48000 and audio.shape[1] == 2 and audio.shape[0] >= 4 * 48000
    assert res["variations"][0]["renderer"] == "diffusion" and res["variations"][0]["soundfont"].startswith("diffusion")


def test_analysis_chords_are_followed(tiny_model, tmp_path):
    beats = [{"time": 0.5 * i, "beat": float(i), "position": 1 + i % 4} for i in range(32)]
    song = {"bpm": 120.0, "meter": {"numerator": 4, "denominator": 4}, "key": {"label": "D:major"}, "beats": beats,
            "chords": [{"start": 0.0, "end": 2.0, "label": "D:maj"}, {"start": 2.0, "end": 4.0, "label": "B:min"},
                       {"start": 4.0, "end": 16.0, "label": "G:maj7"}],
            "sections": [{"start": 0.0, "end": 8.0, "label": "verse"}, {"start": 8.0, "end": 16.0, "label": "chorus"}]}
    req = build_request({"analysis": "x"}, analysis=song)
    assert (req.bpm, req.tonic, req.mode, req.bars) == (120.0, 2, "major", 8)
    assert [(c.root, c.quality) for c in req.chords] == [(2, "maj"), (11, "min"), (7, "maj7")]
    assert [s["label"] for s in req.sections] == ["verse", "chorus"]
    req = build_request({"analysis": "x", "tempo": 90, "key": "E:minor"}, analysis=song)
    assert req.bpm == 90 and req.tonic == 4    # the user's fields win over the analysis


def test_planner_rules_and_fixed_context():
    from models.generation.planner import Planner, explicit_facts

    assert explicit_facts("a dark ballad in E minor at 72 BPM, 16 bars") == {"tempo": 72.0, "key": "E:minor",
                                                                               "bars": 16}
    assert explicit_facts("a waltz")["meter"] == "3/4"
    rules = Planner(None, None, None)
    plan = rules.plan("a sad slow ballad", {"tempo": 92.0, "key": (4, "minor")})
    assert plan["tempo"] == 92.0 and plan["key"] == "E:minor" and plan["sections"]
    req = build_request({"prompt": "a sad slow ballad", "tempo": 92, "key": "Em"}, planner=rules)
    assert req.bpm == 92 and (req.tonic, req.mode) == (4, "minor") and req.bars == sum(
        s["bars"] for s in plan["sections"])


def test_trained_planner_reads_prompts_and_keeps_the_daw_context():
    from models.generation.planner import Planner

    planner = Planner.load()
    assert planner.net is not None and planner.encoder is not None
    pop = planner.plan("an upbeat pop song about summer")
    assert pop["genre"] == "pop" and pop["key"].endswith(":major") and pop["tempo"] >= 105
    labels = [s["label"] for s in pop["sections"]]
    if "verse" in labels and "chorus" in labels:
        prog = {s["label"]: s["progression_id"] for s in pop["sections"]}
        assert prog["verse"] != prog["chorus"]
    dark = planner.plan("a dark slow piano ballad in E minor at 70 BPM, 16 bars")
    assert (dark["genre"], dark["key"], dark["tempo"], dark["bars"]) == ("ballad", "E:minor", 70.0, 16)
    fixed = planner.plan("an upbeat pop song about summer", {"tempo": 92.0, "key": (4, "minor"), "meter": (3, 4, 3)})
    assert (fixed["tempo"], fixed["key"], fixed["meter"]) == (92.0, "E:minor", "3/4")
    req = build_request({"prompt": "a dark slow piano ballad in E minor at 70 BPM, 16 bars"}, planner=planner)
    assert (req.bpm, req.tonic, req.mode, req.bars, req.family) == (70.0, 4, "minor", 16, "ballad")


def test_committed_model_loads_and_samples_fast_enough_to_be_usable():
    model = load_model()
    assert model is not None, "models/checkpoints/generation.safetensors is committed"
    req = build_request({"chords": "C Am F G", "bars": 8, "key": "C", "tempo": 110, "genre": "pop"})
    cond = conditioning(req)
    notes = tokens_to_notes(sample(model, cond, req.constraints, seed=0), cond, 0.25)
    assert len(notes["drums"]) > 16 and len(notes["bass"]) >= 8 and notes["keys"]


def test_daemon_generate_job_end_to_end(make_daemon, tmp_path):
    d = make_daemon(("--models", "generation,soundfont"), env={"BANDMATE_SOUNDFONT": "TimGM6mb"})
    c = d.client(timeout=30)
    try:
        with pytest.raises(BandmateError) as e:
            c.request("generate", {"request": {"tempo": 1000}})
        assert e.value.code == "bad_params" and "'tempo'" in e.value.message
        with pytest.raises(BandmateError) as e:
            c.request("generate", {"request": {"analysis": "no-such-job"}})
        assert e.value.code == "not_found"
        out = tmp_path / "gen"
        r = c.request("generate", {"request": {"chords": "Dm7 G7 Cmaj7", "bars": 3, "tempo": 100, "key": "C",
                                               "stems": "bass,keys"}, "out_dir": str(out)})
        job = c.wait(r["job_id"], timeout=120, poll_s=0.2)
        assert job["state"] == "done", job
        res = job["result"]
        assert sorted(res["stems"]) == ["bass", "keys"]
        assert all(os.path.exists(res["stems"][s][k]) for s in res["stems"] for k in ("midi", "audio", "notes"))
        assert c.request("ping")["pong"] == "pong"
    finally:
        c.close()


def test_rendered_audio_plays_in_tune_with_the_analysed_recording(tiny_model, tmp_path):
    """An analysis of a track tuned 30 cents flat: the soundfont render follows it (the audio reads -30 cents),
    the MIDI the DAW gets does not change; the request's own tuning wins; out of range is an error."""
    from models.analysis.features import estimate_tuning, load_mono

    song = {"bpm": 100.0, "meter": {"numerator": 4, "denominator": 4}, "key": {"label": "C:major"},
            "tuning": {"a4_hz": 432.5, "cents": -30.0}}
    assert build_request({"analysis": "x"}, analysis=song).tuning_cents == -30.0
    assert build_request({"analysis": "x", "tuning": 12}, analysis=song).tuning_cents == 12.0
    assert build_request({}).tuning_cents == 0.0
    with pytest.raises(BandmateError, match="tuning"):
        build_request({"tuning": 70})
    req = {"chords": "C F G C", "bars": 4, "tempo": 100, "key": "C", "stems": "keys,bass", "seed": 3}
    plain = generate(req, tiny_model, out_dir=str(tmp_path / "a440"))
    flat = generate(dict(req, tuning=-30.0), tiny_model, out_dir=str(tmp_path / "flat"))
    assert abs(estimate_tuning(load_mono(plain["audio"]))) < 5
    assert abs(estimate_tuning(load_mono(flat["audio"])) + 30) < 5
    with open(plain["stems"]["keys"]["midi"], "rb") as a, open(flat["stems"]["keys"]["midi"], "rb") as b:
        assert a.read() == b.read()


def test_diffusion_render_plays_in_tune_too(tiny_model, tmp_path):
    """The shipped diffusion renderer follows the tuning as the soundfont does (it renders the notes that much slower
    and reads the audio back that much faster): the audio reads -30 / +25 cents, as long as at A440, and onsets
    stay on the beat."""
    from models.analysis.features import estimate_tuning, load_mono
    from models.generation.diffusion.render import load_renderer

    renderer = load_renderer()
    if renderer is None:
        pytest.skip("no trained diffusion renderer")
    req = {"chords": "C F G C", "bars": 4, "tempo": 100, "key": "C", "stems": "keys,bass", "seed": 3,
           "renderer": "diffusion"}
    out = {c: generate(dict(req, tuning=c), tiny_model, out_dir=str(tmp_path / str(c)), diffusion=renderer)
           for c in (0.0, -30.0, 25.0)}
    for c, res in out.items():
        assert abs(estimate_tuning(load_mono(res["audio"])) - c) < 5, c
        assert sf.info(res["audio"]).frames == sf.info(out[0.0]["audio"]).frames
        assert not res["notices"]

    def onset_frame(path):              # the first frame where the mix wakes up, 10 ms frames
        y = load_mono(path, 48000)
        env = np.array([np.abs(y[k:k + 480]).max() for k in range(0, len(y) - 480, 480)])
        return int(np.argmax(env > 0.1 * env.max()))
    assert abs(onset_frame(out[-30.0]["audio"]) - onset_frame(out[0.0]["audio"])) <= 2
