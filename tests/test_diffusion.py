"""The diffusion renderer: conditioner rows, VAE / U-Net shapes, the sampler, tiny end-to-end training (resumable),
render_notes output, the ONNX export against torch. Tiny configs throughout (well under a minute on 1 CPU)."""
import json
import os

import numpy as np
import pytest
import torch

from models.generation.diffusion import render as R
from models.generation.diffusion.conditioner import (FUNCTIONS, INT_FIELDS, N_FLOAT, N_INT, MusicTheoryConditioner,
                                                     notation_frames)
from models.generation.diffusion.config import CROP_FRAMES, FRAME_S, FRAME_SAMPLES, N_BINS, SAMPLE_RATE
from models.generation.diffusion.schedule import alpha_sigma, ddim_sample, training_loss
from models.generation.diffusion.unet import DiffusionUNet
from models.generation.diffusion.vae import SpectralVAE, griffin_lim, log_magnitude, mrstft_distance

torch.set_num_threads(1)

CHORDS = [{"start": 0.0, "end": 1.0, "root": 9, "quality": "min", "bass": 9, "function": None},
          {"start": 1.0, "end": 2.1, "root": 5, "quality": "maj", "bass": 0, "function": "subdominant"}]
BEATS = [0.5 * k for k in range(8)]


def _rows(n_frames=CROP_FRAMES, notes=((0.0, 0.4, 57, 100), (0.5, 0.9, 60, 80)), stem="bass", t0=0.0):
    return notation_frames(list(notes), CHORDS, BEATS, 4, [(0.0, 1.0, "intro"), (1.0, 3.0, "chorus")], 0, "major",
                           "rock", stem, 33, 120.0, 0.5, t0, n_frames)


def test_notation_rows_carry_the_music():
    ints, floats = _rows()
    assert ints.shape == (CROP_FRAMES, N_INT) and floats.shape == (CROP_FRAMES, N_FLOAT)
    for k, (_, n) in enumerate(INT_FIELDS):
        assert ints[:, k].min() >= 0 and ints[:, k].max() < n
    assert ints[0, 0] == 9 and ints[0, 3] == 9                       # A minor in C: degree 9
    assert FUNCTIONS[ints[0, 4]] == "tonic_substitute"               # inferred from the degree
    f = int(1.5 / FRAME_S)
    assert ints[f, 0] == 5 and ints[f, 2] == 0 and FUNCTIONS[ints[f, 4]] == "subdominant"   # F/C
    assert ints[0, 6] == 0                                           # downbeat
    assert floats[0, 7 + 57] > 0 and floats[0, 7 + 128 + 57] == 1     # sustain and onset of A3
    on = int(0.5 / FRAME_S)
    assert floats[on, 7 + 128 + 60] == 1 and floats[on + 1, 7 + 128 + 60] == 0
    assert floats[int(0.7 / FRAME_S), 7 + 60] == pytest.approx(80 / 127, abs=1e-3)
    d_ints, _ = _rows(stem="drums")
    assert d_ints[0, 10] == 128                                      # the drum kit's own program slot


def test_conditioner_shape_and_sensitivity():
    torch.manual_seed(0)
    cond = MusicTheoryConditioner(dim=256, emb=16).eval()
    a, b = _rows()
    out = cond(torch.from_numpy(a)[None], torch.from_numpy(b)[None])
    assert out.shape == (1, CROP_FRAMES, 256)
    a2 = a.copy()
    a2[:, 0] = 0   # another chord root
    out2 = cond(torch.from_numpy(a2)[None], torch.from_numpy(b)[None])
    assert float((out - out2).abs().max().detach()) > 1e-3


def test_vae_shapes_and_expansion():
    vae = SpectralVAE(width=16, latent=16, n_res=1).eval()
    wav = torch.randn(2, CROP_FRAMES * FRAME_SAMPLES) * 0.1
    spec = log_magnitude(wav)
    assert spec.shape == (2, N_BINS, CROP_FRAMES * 2)
    z = vae.encode(wav)
    assert z.shape == (2, 16, CROP_FRAMES)
    assert wav.shape[-1] / z[0].numel() == 32                        # samples per latent value (16 channels)
    assert SpectralVAE().config["latent"] * 32 == FRAME_SAMPLES        # the default: 32x
    y = vae.decode_audio(z, n_iter=2)
    assert y.shape == wav.shape


def test_vae_wide_head_config_round_trips(tmp_path):
    from models.generation.diffusion import trainutil as U

    vae = SpectralVAE(width=16, latent=8, n_res=1, head=48).eval()
    assert vae.config["head"] == 48 and "head" not in SpectralVAE(width=16, n_res=1).config
    U.save_checkpoint(str(tmp_path / "v"), vae.state_dict(), {"config": vae.config}, half=False)
    again = SpectralVAE(**json.load(open(str(tmp_path / "v.json")))["config"])
    again.load_state_dict(U.load_weights(str(tmp_path / "v.safetensors")))
    z = torch.randn(1, 8, 6)
    with torch.no_grad():
        assert torch.allclose(vae.decode(z), again.eval().decode(z))
        assert vae.decode(z).shape == (1, N_BINS, 12)


def test_griffin_lim_recovers_a_tone():
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    x = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    y = griffin_lim(log_magnitude(torch.from_numpy(x)[None]), n_iter=16)[0].numpy()
    assert mrstft_distance(x, y)["spectral_convergence"] < 0.2
    assert mrstft_distance(x, x)["log_l1"] == 0.0


def test_unet_shape_and_gradient():
    torch.manual_seed(0)
    unet = DiffusionUNet(latent=16, width=16, mults=(1, 2, 2), notation=32, heads=2, local=8)
    x = torch.randn(3, 16, 64)
    n = torch.randn(3, 64, 32)
    v = unet(x, torch.rand(3), n)
    assert v.shape == x.shape
    loss = training_loss(lambda a, t, c: unet(a, t, n), x, None)
    loss.backward()
    assert unet.conv_out.weight.grad is not None and float(unet.conv_out.weight.grad.abs().sum()) > 0
    assert unet.down_xattn[0].q.weight.grad is not None   # cross-attention is on the path


def test_ddim_with_an_oracle_recovers_the_data():
    x0 = np.random.default_rng(1).standard_normal((2, 4, 8)).astype(np.float32)

    def oracle(x, t, notation):   # the exact v for data that is always x0
        a, s = alpha_sigma(torch.from_numpy(np.asarray(t)))
        a, s = a.numpy()[:, None, None], s.numpy()[:, None, None]
        eps = (x - a * np.concatenate([x0] * (len(x) // 2), 0)) / s
        return a * eps - s * np.concatenate([x0] * (len(x) // 2), 0)

    out = ddim_sample(oracle, x0.shape, np.zeros((2, 8, 3), np.float32), steps=10, guidance=1.5, seed=3)
    assert np.allclose(out, x0, atol=1e-3)


def test_ddim_guidance_per_example_is_each_examples_own_scale():
    rng = np.random.default_rng(2)
    w = rng.standard_normal((3, 4)).astype(np.float32)

    def v_fn(x, t, notation):   # conditional and unconditional answers differ (zero notation = unconditional)
        return 0.5 * x + np.einsum("bfc,cd->bdf", notation, w)[:, :, :x.shape[-1]] * 0.3

    notation = rng.standard_normal((2, 8, 3)).astype(np.float32)
    noise = rng.standard_normal((2, 4, 8)).astype(np.float32)
    both = ddim_sample(v_fn, noise.shape, notation, steps=4, guidance=np.array([1.0, 2.5], np.float32), noise=noise)
    one = ddim_sample(v_fn, (1, 4, 8), notation[:1], steps=4, guidance=1.0, noise=noise[:1])
    two = ddim_sample(v_fn, (1, 4, 8), notation[1:], steps=4, guidance=2.5, noise=noise[1:])
    assert np.allclose(both[:1], one, atol=1e-5) and np.allclose(both[1:], two, atol=1e-5)
    assert not np.allclose(two, ddim_sample(v_fn, (1, 4, 8), notation[1:], steps=4, guidance=1.0, noise=noise[1:]))


def test_ddim_temperature_scales_the_starting_noise():
    rng = np.random.default_rng(4)
    w = rng.standard_normal((3, 4)).astype(np.float32)

    def v_fn(x, t, notation):
        return 0.5 * x + np.einsum("bfc,cd->bdf", notation, w)[:, :, :x.shape[-1]] * 0.3

    notation = rng.standard_normal((2, 8, 3)).astype(np.float32)
    cool = ddim_sample(v_fn, (2, 4, 8), notation, steps=4, guidance=1.5, seed=9, temperature=0.5)
    noise = np.random.default_rng(9).standard_normal((2, 4, 8)).astype(np.float32)
    assert np.allclose(cool, ddim_sample(v_fn, (2, 4, 8), notation, steps=4, guidance=1.5, noise=0.5 * noise),
                       atol=1e-6)
    plain = ddim_sample(v_fn, (2, 4, 8), notation, steps=4, guidance=1.5, seed=9)
    assert np.allclose(plain, ddim_sample(v_fn, (2, 4, 8), notation, steps=4, guidance=1.5, noise=noise), atol=1e-6)
    assert not np.allclose(cool, plain, atol=1e-3)
    # given noise is scaled too, and a cooler start lands nearer the conditional mean (smaller spread)
    assert np.allclose(cool, ddim_sample(v_fn, (2, 4, 8), notation, steps=4, guidance=1.5, noise=noise,
                                         temperature=0.5), atol=1e-6)
    assert cool.std() < plain.std()


def test_stem_guidance_table():
    from models.generation.diffusion.schedule import STEM_GUIDANCE

    assert R.stem_guidance("bass") == STEM_GUIDANCE["bass"]
    assert R.stem_guidance("chords") == STEM_GUIDANCE["keys"]                 # the keys stem under its other name
    assert R.stem_guidance("drums") == STEM_GUIDANCE["default"]
    assert R.stem_guidance("bass", 2.0) == 2.0                                # one scale for every stem
    assert R.stem_guidance("keys", {"bass": 3.0}) == STEM_GUIDANCE["keys"]     # a table's missing stems: defaults
    assert R.stem_guidance("bass", {"bass": 3.0}) == 3.0


def test_windows_and_stitch():
    starts = R.windows(150)
    assert starts[0] == 0 and starts[-1] + CROP_FRAMES >= 150
    lat = np.ones((len(starts), 4, CROP_FRAMES), np.float32)
    assert np.allclose(R.stitch(lat, starts, 150), 1.0)


def _tiny_cache(path, n=12):
    rng = np.random.default_rng(0)
    audio, ints, floats, crops = [], [], [], []
    t = np.arange(CROP_FRAMES * FRAME_SAMPLES) / SAMPLE_RATE
    for i in range(n):
        pitch = int(rng.integers(45, 70))
        hz = 440 * 2 ** ((pitch - 69) / 12)
        audio.append((0.2 * np.sin(2 * np.pi * hz * t) * (t % 0.5 < 0.4)).astype(np.float16))
        notes = [(k * 0.5, k * 0.5 + 0.4, pitch, 100) for k in range(5)]
        a, b = _rows(notes=notes, stem=("bass", "keys", "melody", "drums")[i % 4])
        ints.append(a.astype(np.int16))
        floats.append(b.astype(np.float16))
        crops.append({"song": "s%d" % i, "stem": "bass", "font": "x", "t0": 0.0, "program": 33})
    os.makedirs(path, exist_ok=True)
    np.save(os.path.join(path, "audio.npy"), np.stack(audio))
    np.save(os.path.join(path, "ints.npy"), np.stack(ints))
    np.save(os.path.join(path, "floats.npy"), np.stack(floats))
    with open(os.path.join(path, "meta.json"), "w") as fh:
        json.dump({"crops": crops, "sets": ["synthetic"], "fonts": []}, fh)


@pytest.fixture(scope="module")
def tiny_renderer(tmp_path_factory):
    from models.generation.diffusion import train_diffusion, train_vae

    d = tmp_path_factory.mktemp("diff")
    _tiny_cache(str(d / "cache"))
    common = ["--data", str(d / "cache"), "--batch", "4", "--eval-every", "2", "--threads", "1", "--device", "cpu"]
    assert train_vae.main(common + ["--out", str(d / "vae"), "--work", str(d / "vw"), "--steps", "2", "--width", "16",
                                    "--plot", str(d / "vae.png")]) == 0
    # resumable: a second run continues from step 2
    assert train_vae.main(common + ["--out", str(d / "vae"), "--work", str(d / "vw"), "--steps", "4", "--width", "16",
                                    "--plot", str(d / "vae.png")]) == 0
    card = json.load(open(str(d / "vae.json")))
    assert card["steps"] == 4 and card["latent_scale"] > 0 and "reconstruction" in card
    assert os.path.exists(str(d / "vae.png"))
    assert train_diffusion.main(common + ["--vae", str(d / "vae"), "--out", str(d / "diffusion"), "--work",
                                          str(d / "dw"), "--steps", "2", "--width", "16", "--notation", "32",
                                          "--plot", str(d / "d.png")]) == 0
    r = R.load_renderer(str(d / "vae"), str(d / "diffusion"))
    assert r is not None
    return r, d


def test_train_vae_init_starts_from_a_checkpoint(tiny_renderer):
    from models.generation.diffusion import train_vae
    from models.generation.diffusion import trainutil as U

    _, d = tiny_renderer
    common = ["--data", str(d / "cache"), "--batch", "4", "--eval-every", "2", "--threads", "1", "--device", "cpu",
              "--width", "16", "--plot", str(d / "vi.png")]
    # no steps: the saved weights are the starting weights, i.e. the --init checkpoint's
    assert train_vae.main(common + ["--out", str(d / "vi"), "--work", str(d / "viw"), "--steps", "0",
                                    "--init", str(d / "vae")]) == 0
    a, b = U.load_weights(str(d / "vae.safetensors")), U.load_weights(str(d / "vi.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a if k != "latent_scale")
    card = json.load(open(str(d / "vi.json")))
    assert card["command"].startswith("bandmate train vae") and "--init" in card["command"]
    assert card["init"]["steps"] == 4 and card["init"]["version"] == json.load(open(str(d / "vae.json")))["version"]
    assert train_vae.main(common + ["--out", str(d / "vj"), "--work", str(d / "vjw"), "--steps", "0"]) == 0
    c = U.load_weights(str(d / "vj.safetensors"))
    assert not torch.equal(a["enc_in.weight"], c["enc_in.weight"])


def test_decoder_only_run_keeps_the_latent_and_grows_a_refine_path(tiny_renderer):
    from models.generation.diffusion import train_vae
    from models.generation.diffusion import trainutil as U

    _, d = tiny_renderer
    common = ["--data", str(d / "cache"), "--batch", "4", "--eval-every", "2", "--threads", "1", "--device", "cpu",
              "--width", "16", "--plot", str(d / "vd.png"), "--init", str(d / "vae"), "--decoder-only"]
    # the refine path starts at zero: with no steps the grown decoder decodes exactly as the checkpoint's
    assert train_vae.main(common + ["--out", str(d / "vd0"), "--work", str(d / "vd0w"), "--steps", "0",
                                    "--refine", "24"]) == 0
    old, grown = R.load_renderer(str(d / "vae"), str(d / "diffusion")).vae, \
        R.load_renderer(str(d / "vd0"), str(d / "diffusion")).vae
    assert grown.config["refine"] == 24 and "refine" not in old.config
    z = torch.randn(1, old.config["latent"], 6)
    with torch.no_grad():
        assert torch.allclose(old.decode(z), grown.decode(z), atol=1e-6)
    assert train_vae.main(common + ["--out", str(d / "vd"), "--work", str(d / "vdw"), "--steps", "3",
                                    "--refine", "24", "--lr", "1e-2"]) == 0
    a, b = U.load_weights(str(d / "vae.safetensors")), U.load_weights(str(d / "vd.safetensors"))
    enc = [k for k in a if k.startswith("enc_")] + ["latent_scale"]
    assert all(torch.equal(a[k], b[k]) for k in enc)                      # the latent the U-Net knows is kept
    assert not torch.equal(a["dec_in.weight"], b["dec_in.weight"])       # the decoder trained
    assert b["dec_refine.2.weight"].abs().sum() > 0
    card = json.load(open(str(d / "vd.json")))
    assert card["decoder_only"] is True and "--decoder-only" in card["command"]
    with pytest.raises(SystemExit):                                      # nothing to keep without --init
        train_vae.main([x for x in common if x not in ("--init", str(d / "vae"))] + ["--steps", "0"])


def test_decoder_learns_from_generated_latents(tiny_renderer, tmp_path):
    from models.generation.diffusion import train_vae
    from models.generation.diffusion import trainutil as U

    _, d = tiny_renderer
    common = ["--data", str(d / "cache"), "--batch", "4", "--eval-every", "2", "--threads", "1", "--device", "cpu",
              "--width", "16", "--plot", str(tmp_path / "vg.png"), "--init", str(d / "vae"), "--decoder-only",
              "--generated", "6", "--gen-frac", "1", "--gen-steps", "2", "--diffusion", str(d / "diffusion"),
              "--work", str(tmp_path / "w")]
    assert train_vae.main(common + ["--out", str(tmp_path / "vg"), "--steps", "3", "--lr", "1e-2"]) == 0
    cached = np.load(str(tmp_path / "w" / "generated.npz"))
    assert cached["z"].shape[0] > 6 and np.isfinite(cached["z"]).all()    # 6 training crops + the held-out ones
    card = json.load(open(str(tmp_path / "vg.json")))
    assert card["generated_latents"]["crops"] == 6 and "--generated 6" in card["command"]
    a, b = U.load_weights(str(d / "vae.safetensors")), U.load_weights(str(tmp_path / "vg.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a if k.startswith("enc_"))
    assert not torch.equal(a["dec_in.weight"], b["dec_in.weight"])
    with pytest.raises(SystemExit):                                      # a generated latent needs a kept encoder
        train_vae.main([x for x in common if x != "--decoder-only"] + ["--out", str(tmp_path / "x"), "--steps", "0"])


def test_init_refuses_a_checkpoint_that_does_not_fit(tiny_renderer, tmp_path):
    from models.generation.diffusion import trainutil as U

    _, d = tiny_renderer
    with pytest.raises(ValueError, match="does not fit"):
        U.init_from(SpectralVAE(width=16, n_res=1, refine=8), str(d / "vae"))   # refine not allowed as new here


def test_learning_rate_warmup_and_cosine():
    from models.generation.diffusion.trainutil import TimeCap, learning_rate

    cap = TimeCap(None)
    assert learning_rate(1e-3, 0, 100, cap, False, warmup=10) == pytest.approx(1e-4)
    assert learning_rate(1e-3, 50, 100, cap, False, warmup=10) == pytest.approx(1e-3)
    assert learning_rate(1e-3, 0, 100, cap, True) == pytest.approx(1e-3)
    assert learning_rate(1e-3, 50, 100, cap, True) == pytest.approx(1e-3 * (0.05 + 0.95 * 0.5))
    assert learning_rate(1e-3, 100, 100, cap, True) == pytest.approx(5e-5)
    spent = TimeCap(1.0)
    spent.start -= 60.0        # the whole minute used: the time cap, not the step count, sets the decay
    spent.end -= 60.0
    assert learning_rate(1e-3, 1, 100, spent, True) == pytest.approx(5e-5, rel=1e-3)


def _request_info():
    from models.generation.generate import build_request

    req = build_request({"chords": "Am F C G", "bars": 2, "tempo": 120, "key": "Am", "genre": "rock"})
    return R.request_info_from(req)


NOTES = {"bass": [{"pitch": 45, "start_time": float(b), "duration": 0.9, "velocity": 100} for b in range(8)],
         "drums": [{"pitch": 36, "start_time": float(b), "duration": 0.1, "velocity": 110} for b in range(8)]}


def test_render_notes_gives_48k_stereo_per_stem(tiny_renderer):
    r, _ = tiny_renderer
    info = _request_info()
    assert info["chords"][0]["root"] == 9 and info["bars"] == 2
    out = R.render_notes(NOTES, info, renderer=r, steps=3, tail_s=0.5)
    assert set(out) == {"bass", "drums"}
    n = int(round((2 * 4 * 0.5 + 0.5) * 48000))
    for y in out.values():
        assert y.dtype == np.float32 and y.shape == (n, 2) and np.isfinite(y).all()
    t = r.last_timing
    assert t["steps"] == 3 and t["sampler_s"] > 0 and t["decode_s"] > 0 and t["rtf_per_stem"] > 0
    again = R.render_notes(NOTES, info, renderer=r, steps=3, tail_s=0.5)
    assert np.array_equal(again["bass"], out["bass"])                 # seeded: same request, same audio
    other = R.render_notes(NOTES, info, renderer=r, steps=3, tail_s=0.5, guidance={"bass": 4.0})
    assert np.array_equal(other["drums"], out["drums"])               # each stem's guidance is its own
    assert not np.array_equal(other["bass"], out["bass"])


def test_a_layered_stem_is_rendered_as_its_instruments(tiny_renderer):
    info = _request_info()
    layered = [dict(n, program=48 if i % 2 else 32) for i, n in enumerate(NOTES["bass"])]
    parts = R.stem_parts({"bass": layered, "drums": NOTES["drums"]}, info)
    assert [(s, p, len(ns)) for s, _, p, ns in parts] == [("bass", 32, 4), ("bass", 48, 4), ("drums", 128, 8)]
    plain = R.stem_parts(NOTES, info)                                   # no per-note program: one part per stem
    assert [(s, p) for s, _, p, _ in plain] == [("bass", info["programs"]["bass"]), ("drums", 128)]
    keys = R.stem_parts({"keys": layered}, dict(info, programs={"keys": 4}))
    assert [(p, len(ns)) for _, _, p, ns in keys] == [(4, 8)]           # layered keys stay one blended part
    solo = R.stem_parts({"keys": [dict(n, program=19) for n in NOTES["bass"]]}, dict(info, programs={"keys": 4}))
    assert [p for _, _, p, _ in solo] == [19]                           # one named program is the stem's
    r, _ = tiny_renderer
    one = R.render_notes({"bass": layered}, info, renderer=r, steps=3, tail_s=0.5)
    assert set(one) == {"bass"} and one["bass"].shape == (int(round(4.5 * 48000)), 2)
    assert np.isfinite(one["bass"]).all()
    merged = R.render_notes({"bass": NOTES["bass"]}, info, renderer=r, steps=3, tail_s=0.5)
    assert not np.allclose(one["bass"], merged["bass"])                 # the layers were sampled apart and summed


def test_midi_note_programs_names_each_layer(tmp_path):
    import mido

    from models.generation.dataset import midi_note_programs, midi_notes_seconds

    mid = mido.MidiFile(ticks_per_beat=480)
    for ch, prog, pitch in ((0, 48, 52), (1, 32, 40)):
        tr = mido.MidiTrack()
        tr.append(mido.Message("program_change", channel=ch, program=prog, time=0))
        for k in range(2):
            tr.append(mido.Message("note_on", channel=ch, note=pitch + k, velocity=90, time=0 if k == 0 else 240))
            tr.append(mido.Message("note_off", channel=ch, note=pitch + k, velocity=0, time=240))
        mid.tracks.append(tr)
    tr = mido.MidiTrack()                                      # a program change part-way through a channel
    tr.append(mido.Message("note_on", channel=2, note=70, velocity=90, time=0))
    tr.append(mido.Message("note_off", channel=2, note=70, velocity=0, time=480))
    tr.append(mido.Message("program_change", channel=2, program=73, time=0))
    tr.append(mido.Message("note_on", channel=2, note=72, velocity=90, time=0))
    tr.append(mido.Message("note_off", channel=2, note=72, velocity=0, time=480))
    mid.tracks.append(tr)
    path = str(tmp_path / "layered.mid")
    mid.save(path)
    got = midi_note_programs(path)
    assert [(round(a, 3), p, g) for a, p, g in got] == [(0.0, 40, 32), (0.0, 52, 48), (0.0, 70, 0),
                                                        (0.5, 41, 32), (0.5, 53, 48), (0.5, 72, 73)]
    # the same onsets as midi_notes_seconds, so the bench can pair each note with its program
    assert sorted((a, p) for a, _, p, _ in midi_notes_seconds(path)) == [(a, p) for a, p, _ in got]


def _assert_onnx_matches_torch(r, out_dir):
    """Export `r`'s graphs into out_dir; each graph and a whole render agree with torch."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from models.generation.diffusion.onnx_export import check, export

    export(r, out_dir)
    assert max(check(r, out_dir, T=64).values()) < 1e-3
    info = _request_info()
    ref = R.render_notes(NOTES, info, renderer=r, steps=3, tail_s=0.5)
    r.use_onnx(out_dir)
    try:
        got = R.render_notes(NOTES, info, renderer=r, steps=3, tail_s=0.5)
    finally:
        r.onnx = None
    for s in ref:
        # Griffin-Lim can turn float-level latent differences into phase differences, so compare magnitudes
        assert mrstft_distance(ref[s][:, 0], got[s][:, 0])["spectral_convergence"] < 0.05, s


def test_onnx_matches_torch(tiny_renderer, tmp_path):
    r, _ = tiny_renderer
    _assert_onnx_matches_torch(r, str(tmp_path))


def test_write_stems_normalises(tiny_renderer, tmp_path):
    import soundfile as sf

    sr = 48000
    t = np.arange(sr) / sr
    audio = {"bass": np.repeat((0.01 * np.sin(2 * np.pi * 110 * t))[:, None], 2, 1).astype(np.float32)}
    lufs = R.write_stems(audio, {"bass": str(tmp_path / "bass.wav")}, str(tmp_path / "mix.wav"))
    y, rate = sf.read(str(tmp_path / "mix.wav"))
    assert rate == 48000 and y.shape[1] == 2 and lufs == pytest.approx(-16.0, abs=0.5)


def test_missing_checkpoints_are_reported(tmp_path, monkeypatch):
    assert R.load_renderer(str(tmp_path / "nope"), str(tmp_path / "nope2")) is None
    monkeypatch.setattr(R, "_DEFAULT", {"r": None})
    with pytest.raises(RuntimeError, match="bandmate train vae"):
        R.render_notes(NOTES, _request_info())


def test_a_vae_with_another_latent_is_refused(tiny_renderer, tmp_path):
    import shutil

    _, d = tiny_renderer
    for ext in (".safetensors", ".json"):
        shutil.copy(str(d / "vae") + ext, str(tmp_path / "other") + ext)
    card = json.load(open(str(tmp_path / "other.json")))
    card["latent_scale"] *= 1.5                       # as if its encoder had been retrained
    json.dump(card, open(str(tmp_path / "other.json"), "w"))
    with pytest.raises(ValueError, match="--decoder-only"):
        R.load_renderer(str(tmp_path / "other"), str(d / "diffusion"))


def test_notes_decoder_reads_the_roll_and_exports(tiny_renderer, tmp_path):
    from models.generation.diffusion import train_vae
    from models.generation.diffusion.conditioner import ROLL_ROWS

    _, d = tiny_renderer
    common = ["--data", str(d / "cache"), "--batch", "4", "--eval-every", "2", "--threads", "1", "--device", "cpu",
              "--width", "16", "--plot", str(tmp_path / "vn.png"), "--init", str(d / "vae"), "--decoder-only",
              "--notes", "--refine", "24"]
    assert train_vae.main(common + ["--out", str(tmp_path / "vn0"), "--work", str(tmp_path / "w0"),
                                    "--steps", "0"]) == 0
    old = R.load_renderer(str(d / "vae"), str(d / "diffusion"))
    grown = R.load_renderer(str(tmp_path / "vn0"), str(d / "diffusion"))
    assert grown.vae.notes == ROLL_ROWS
    z = torch.randn(1, old.vae.config["latent"], 6)
    roll = torch.rand(1, ROLL_ROWS, 6)
    with torch.no_grad():                      # grown from a checkpoint, it starts by decoding as that one did
        assert torch.allclose(old.vae.decode(z), grown.vae.decode(z, roll), atol=1e-6)
    assert train_vae.main(common + ["--out", str(tmp_path / "vn"), "--work", str(tmp_path / "w"), "--steps", "3",
                                    "--lr", "1e-2", "--note-drop", "0"]) == 0
    r = R.load_renderer(str(tmp_path / "vn"), str(d / "diffusion"))
    with torch.no_grad():                      # trained, the roll changes what it decodes
        assert not torch.allclose(r.vae.decode(z, roll), r.vae.decode(z, torch.zeros_like(roll)), atol=1e-4)
    ref = R.render_notes(NOTES, _request_info(), renderer=r, steps=3, tail_s=0.5)
    assert all(np.isfinite(y).all() for y in ref.values())
    _assert_onnx_matches_torch(r, str(tmp_path / "onnx"))
