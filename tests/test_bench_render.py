"""The render bench's report: every renderer row (the Griffin-Lim phase ceiling included) aggregated and tabled."""
from types import SimpleNamespace

from bench import render as B
from bench.report import markdown_table


def _row(seconds, sf, gl, vae, diff):
    def one(chords, stft=True):
        d = {"chords_majmin": chords, "note_f1": chords / 2, "onset_f1": 0.8}
        if stft:
            d["stft_vs_soundfont"] = {"log_l1": 1.0 - chords, "spectral_convergence": 0.5}
        return d
    return {"song": "s", "family": "pop", "bpm": 120.0, "seconds": seconds, "soundfont": one(sf, False),
            "griffin_lim": one(gl), "vae": one(vae), "diffusion": one(diff)}


def test_report_has_the_griffin_lim_ceiling_row():
    rows = [_row(10.0, 0.9, 0.8, 0.6, 0.5), _row(30.0, 0.7, 0.6, 0.2, 0.1)]
    args = SimpleNamespace(set="x", n=2, bars=4)
    spd = {"torch": {"steps_20": {"conditioner_s": 0.01, "sampler_s": 0.2, "decode_s": 0.1, "rtf": 0.05,
                                  "audio_s": 10.0}}}
    r = B.build_report(rows, spd, args, "FluidR3_GM", "TimGM6mb", 20, 1.25, 1.0, SimpleNamespace(version="d+v"), None)
    s = r["summary"]
    assert abs(s["griffin_lim"]["chords_majmin"] - 0.65) < 1e-9          # duration-weighted: (8 + 18) / 40
    assert abs(s["diffusion"]["chords_majmin"] - 0.2) < 1e-9
    assert abs(s["griffin_lim"]["note_f1"] - 0.35) < 1e-9                # plain mean over requests
    text = B.markdown(r, markdown_table)
    lines = [ln for ln in text.splitlines() if ln.startswith("| ")]
    labels = [ln.split("|")[1].strip() for ln in lines]
    assert labels.index("soundfont (FluidR3_GM)") < labels.index("Griffin-Lim on the soundfont's magnitude "
                                                                 "(phase ceiling)") < labels.index("diffusion")
    assert "0.650" in text


def test_spectral_distance_skips_silent_reference_stems():
    import numpy as np

    t = np.arange(B.EVAL_SR) / B.EVAL_SR
    tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    noisy = tone + 0.01 * np.random.default_rng(0).standard_normal(len(t)).astype(np.float32)
    silent = np.zeros_like(tone)
    assert B.spectral(noisy, silent) is None                      # spectral convergence would divide by ~0
    one = B.spectral(noisy, tone)
    both = B.spectral_vs({"keys": noisy, "bass": noisy}, {"keys": tone, "bass": silent})
    assert both == {k: round(v, 4) for k, v in one.items()}       # the silent stem does not enter the mean
    assert B.spectral_vs({"bass": noisy}, {"bass": silent}) == {"log_l1": None, "spectral_convergence": None}


def test_seeded_diffusion_row_is_the_mean_over_seeds_and_each_seed_is_reported():
    runs = [{"chords_majmin": c, "note_f1": f, "onset_f1": 0.9,
             "stft_vs_soundfont": {"log_l1": l1, "spectral_convergence": None}}
            for c, f, l1 in ((0.8, 0.5, 1.0), (0.6, 0.7, 2.0))]
    mean = B.mean_of_runs(runs)
    assert mean["chords_majmin"] == 0.7 and mean["note_f1"] == 0.6
    assert mean["stft_vs_soundfont"] == {"log_l1": 1.5, "spectral_convergence": None}
    rows = [_row(10.0, 0.9, 0.8, 0.6, 0.5), _row(30.0, 0.7, 0.6, 0.2, 0.1)]
    for r, (a, b) in zip(rows, ((0.4, 0.6), (0.0, 0.2))):
        r["diffusion_per_seed"] = [{"chords_majmin": a, "note_f1": a, "onset_f1": 0.8},
                                   {"chords_majmin": b, "note_f1": b, "onset_f1": 0.8}]
    args = SimpleNamespace(set="x", n=2, bars=4, seeds=2)
    r = B.build_report(rows, {}, args, "FluidR3_GM", "TimGM6mb", 5, 1.5, 0.3, SimpleNamespace(version="d+v"), None)
    per_seed = r["summary"]["diffusion_per_seed"]
    assert [x["note_f1"] for x in per_seed] == [0.2, 0.4]                  # plain means over requests, per seed
    assert abs(per_seed[0]["chords_majmin"] - 0.1) < 1e-9                  # duration-weighted: (4 + 0) / 40
    assert r["seeds"] == 2
    assert "each seed alone" in B.markdown(r, markdown_table)
