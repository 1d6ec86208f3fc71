"""Model cards (Markdown) of the VAE and the diffusion renderer, written from their JSON cards and, when present,
the bench results (bench/results/render.json).

    python -m models.generation.diffusion.cards
"""
from __future__ import annotations

import json
import os
import sys

from .config import GL_ITERS
from .render import DIFFUSION_CHECKPOINT, VAE_CHECKPOINT
from .schedule import DEFAULT_STEPS, DEFAULT_TEMPERATURE, STEM_GUIDANCE, guidance_text

RESULTS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))),
                       "bench", "results", "render.json")


# what was measured and not kept, per VAE version (the cards are regenerated from the JSON; this is the prose)
TRIED = {
    "vae-0.1": "a 32-channel latent trained with an extra spectral-convergence loss (weight 0.5) was blurrier on the "
               "chord probe after 1600 steps (0/3 test excerpts with chords recognised vs 2/3), so the committed VAE "
               "is the 16-channel, L1-only run.",
    "vae-0.2": "trained from scratch for 7 minutes each (1 thread, about 3,700 steps) and checked on 12 test "
               "requests' soundfont stems through the VAE (chords majmin / note F1, Griffin-Lim 32): this shape "
               "0.384 / 0.218; width 256 with a 64-channel latent (lr 1e-3) 0.052 / 0.028 (a blown-up start); an "
               "added log-frequency band L1 (every octave weighing the same) 0.274 / 0.166, and with width 192 and a "
               "32-channel latent 0.340 / 0.152. A 32-channel latent with a 512-unit last decoder layer (`--head "
               "512`), 22 minutes from scratch (16,000 steps, cosine decay): 0.731 / 0.431 against vae-0.2's "
               "0.781 / 0.432 (Griffin-Lim 64), so the 16-channel shape stayed (it also keeps the "
               "diffusion model's input and its earlier weights). What moved the numbers was training longer: "
               "vae-0.1's 4,177 steps gave 0.587 / 0.200 on the same requests.",
}
# vae-0.3 is vae-0.2 trained on: its shape and the bake-offs behind it are unchanged
TRIED["vae-0.3"] = TRIED["vae-0.2"] + (" vae-0.3 is vae-0.2 continued on 1,000 songs' stems (19,839 crops, 3.3x "
                                       "the data): on the same 12 requests 0.772 / 0.486 against vae-0.2's 0.781 / "
                                       "0.432.")

# vae-0.4 is vae-0.3's encoder with a retrained, grown decoder
TRIED["vae-0.4"] = TRIED["vae-0.3"] + (
    " Why the decoder was grown: on 12 songbook valid requests' bass stems, basic-pitch read the second partial as "
    "a note an octave up 102 times in the soundfont render, 146 in the vae-0.3 round trip and 175 in the diffusion "
    "render; low notes' partials (3.5 bins apart at 55 Hz) came out of vae-0.3's decoder smeared into one band. "
    "vae-0.4 keeps vae-0.3's encoder and latent and retrains only the decoder, grown by the piano-roll input and a "
    "512-unit residual path: on 16 valid requests (Griffin-Lim 64) note F1 went from 0.498 to 0.553 (diffusion) "
    "and 0.463 to 0.520 (VAE round trip). Dropped: the residual path alone, without notes (18 minutes, 11,000 "
    "steps: held-out L1 0.1515 against vae-0.3's 0.1499, stopped); a spectral-contrast post-filter before "
    "Griffin-Lim (log-magnitudes below the stem's peak stretched by 1.3): diffusion note F1 0.560 -> 0.565 at "
    "Griffin-Lim 256, within noise, and it widens the dynamics; per frame 0.556 (1.3) and 0.551 (1.6).")

TRIED["vae-0.5"] = TRIED["vae-0.4"] + (
    " vae-0.5 is vae-0.4's decoder trained 30 more minutes (lr 1.5e-4, cosine; held-out L1 0.1459 -> 0.1448): on "
    "the 16 valid requests at Griffin-Lim 128, note F1 0.555 -> 0.564 (diffusion) and 0.514 -> 0.533 (VAE round "
    "trip). Classifier-free guidance checked again with it: 1.0 / 1.5 / 2.0 gave diffusion note F1 0.550 / 0.564 / "
    "0.536, so 1.5 stays. On the 50 test requests of `bench render` the two decoders are level (vae-0.4: chords "
    "0.873, note F1 0.555, VAE round trip 0.845 / 0.512; vae-0.5: 0.874, 0.552, 0.856 / 0.525); vae-0.5 ships "
    "because the valid requests, not the test ones, choose. Tried since, on the 40 valid requests with the "
    "renderer's 5 steps and per-stem guidance (diffusion note F1 0.567 with this decoder at Griffin-Lim 128), and "
    "dropped: this decoder trained 35 more minutes (30,000 steps, lr 2e-4) with half of each batch decoding a "
    "latent the diffusion model sampled for that crop (`--generated 20000`, all 19,839 training crops sampled in "
    "3.6 minutes) so that it learns the latents it is given at render time: 0.548 (it learned to average, and "
    "basic-pitch found more notes that are not there); Griffin-Lim 256 iterations: 0.542; Griffin-Lim started from "
    "the phase of a harmonic sketch of the notes (16 partials per note) instead of zero phase: 0.548 against 0.564 "
    "(16 requests, 20 steps), and 0.562 against 0.571 on the soundfont's own magnitude; this decoder trained 20 "
    "more minutes as before (lr 1e-4, cosine, 17,000 steps; held-out L1 0.1444): 0.543, so a lower L1 alone no "
    "longer buys notes.")


def _load(path):
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def _fmt(v, nd=3):
    return "-" if v is None else ("%.*f" % (nd, v) if isinstance(v, float) else str(v))


def _training(card, where) -> str:
    """How a checkpoint was trained, from its JSON card: the command, steps, batch and time, and the checkpoint
    it started from with that one's own steps and time (old cards without a command say less)."""
    text = "`%s`: " % card["command"] if card.get("command") else ""
    text += "%d steps, batch %d, %.0f s on %s" % (card["steps"], card["batch"], card["train_seconds"], where)
    init = card.get("init")
    if init:
        text += ", started from %s (%s" % (init.get("path"), init.get("version") or "?")
        if init.get("steps"):
            text += ", itself %d steps in %.0f s; %d steps and %.0f min in all" % (
                init["steps"], init.get("train_seconds", 0.0), _total(card, "steps"),
                _total(card, "train_seconds") / 60.0)
        text += ")"
    return text


def _total(card, key):
    """This run's `key` (steps, train_seconds) plus the starting checkpoint's."""
    return card[key] + (card.get("init") or {}).get(key, 0)


def vae_card(card, bench) -> str:
    rec = card.get("reconstruction", {})
    d = card.get("data", {})
    lines = [
        "# vae (%s): SpectralVAE, the diffusion renderer's audio codec" % card["version"], "",
        "- **What**: 16 kHz mono audio <-> latent of %d channels at 31.25 frames/s (one frame = %d samples = 32 ms); "
        "%d latent values per second for 16000 samples, a %dx expansion on decode. The encoder reads the "
        "log-magnitude STFT (N_FFT %d, hop %d, 513 bins); the decoder gives it back and Griffin-Lim (%d iterations, "
        "deterministic zero-phase start) makes the waveform." % (
            card["config"]["latent"], card["frame_samples"], card["config"]["latent"] * 16000 // card["frame_samples"],
            card["frame_samples"] // card["config"]["latent"], card["n_fft"], card["hop"], GL_ITERS),
        "- **Native rate / bandwidth**: 16 kHz, so nothing above 8 kHz; delivered as 48 kHz stereo (dual mono) by "
        "the renderer.",
        "- **Size**: %d parameters (config %s), weights stored float16." % (card["parameters"],
                                                                         json.dumps(card["config"])),
        "- **Data**: songbook stem MIDI (train split only: %s) rendered by FluidSynth with %s, one soundfont per "
        "(song, stem) in turn; %d training crops, %d held-out crops (by song), 2.048 s each." % (
            ", ".join(d.get("sets") or []), ", ".join(d.get("fonts") or []), d.get("train_crops", 0),
            d.get("valid_crops", 0)),
        "- **Training**: %s; L1 on scaled log-magnitude + spectral convergence%s. Best held-out L1 %s "
        "(held-out crops of this run's cache). Loss curves: bench/results/render_vae_loss.png." % (
            _training(card, "this 2-core CPU"), "" if card.get("decoder_only") else " + 1e-4 KL",
            _fmt(card.get("best_valid_l1"), 4)),
        "- **Reconstruction (held-out crops, multi-resolution STFT distance to the input, FFT 512/1024/2048)**: "
        "VAE %s log-L1 / %s spectral convergence; Griffin-Lim alone on the true magnitude (the phase-recovery "
        "floor) %s / %s." % (_fmt(rec.get("vae", {}).get("log_l1")), _fmt(rec.get("vae", {}).get("spectral_convergence")),
                              _fmt(rec.get("griffin_lim_only", {}).get("log_l1")),
                              _fmt(rec.get("griffin_lim_only", {}).get("spectral_convergence"))),
    ]
    cfg = card["config"]
    if cfg.get("notes") or cfg.get("refine"):
        lines.insert(3, "- **Decoder inputs**: %s%s." % (
            "the latent and the stem's piano roll (%d rows: sustain and onset per MIDI pitch, at the latent rate), "
            "as a vocoder reads f0: where the partials go comes from the notes, timbre and envelope from the "
            "latent; without notes (roll zeros, 10%% of training crops) it decodes the latent alone" % cfg["notes"]
            if cfg.get("notes") else "the latent",
            "; a residual path of %d hidden units beside the last layer" % cfg["refine"] if cfg.get("refine") else ""))
    if card.get("decoder_only"):
        init = card.get("init") or {}
        lines.append("- **Decoder-only run**: the encoder, its latent and the latent scale are %s's, unchanged, so "
                     "the diffusion model trained on that latent decodes through this decoder without retraining; "
                     "only the decoder (and its new parts, which start at zero) trained." % init.get("version", "?"))
    if bench:
        s = bench["summary"]
        lines.append("- **Chord / note / onset checks on reconstructions** (`bandmate bench render`, %d held-out "
                     "requests, the soundfont render passed through the VAE): chords majmin %s (soundfont %s), note "
                     "F1 %s (soundfont %s), onset F1 %s (soundfont %s)." % (
                         bench["n"], _fmt(s["vae"]["chords_majmin"]), _fmt(s["soundfont"]["chords_majmin"]),
                         _fmt(s["vae"]["note_f1"]), _fmt(s["soundfont"]["note_f1"]), _fmt(s["vae"]["onset_f1"]),
                         _fmt(s["soundfont"]["onset_f1"])))
    if TRIED.get(card["version"]):
        lines.append("- **Tried and dropped**: " + TRIED[card["version"]])
    lines += ["- **Limits**: no learned phase (Griffin-Lim sounds phasey, smears transients); 8 kHz bandwidth; "
              "trained minutes, not days.", "- **Licence**: MIT (weights and code); training audio made from our "
              "own MIDI with GM soundfonts (FluidR3_GM: MIT; MuseScore General: MIT; TimGM6mb: GPL-2, used only "
              "to render training audio)."]
    return "\n".join(lines) + "\n"


def _latent_note(card, vae) -> str:
    """When the diffusion model was trained in the latent of an earlier VAE version (a decoder-only VAE run kept
    that encoder), say so."""
    trained_on = (card.get("vae") or {}).get("version")
    if trained_on and trained_on != vae.get("version"):
        return ", whose encoder and latent are %s's, the latent this model was trained in" % trained_on
    return ""


SAMPLING_CHOICE = (
    "Steps and guidance were chosen on the songbook valid split (40 requests of `--split valid`, never the test "
    "split; basic-pitch note F1 pooled over stems): at guidance 1.5 for all stems, 50 / 20 / 10 / 5 / 3 steps gave "
    "0.525 / 0.537 / 0.549 / 0.551 / 0.552 (more steps draw more of the model's fine detail, which at this "
    "training is more noise than music); at 5 steps the bass read best at guidance 1.0 (0.75 / 1.0 / 1.25 / 1.5 / "
    "2.0: 0.604 / 0.635 / 0.626 / 0.600 / 0.582), the keys at 2.0 (1.0 / 1.5 / 1.75 / 2.0 / 2.5: 0.497 / 0.525 / "
    "0.527 / 0.533 / 0.516), the melody at 1.5 (1.0 / 1.5 / 2.0: 0.500 / 0.512 / 0.503); together 0.567 against "
    "0.537 for the earlier default (20 steps, 1.5). `bandmate bench render` on those 40 requests (chords majmin / "
    "note F1 / onset F1): 5 steps with the per-stem guidance 0.922 / 0.566 / 0.889, 20 steps at 1.5 0.909 / 0.535 "
    "/ 0.877, the soundfont 0.925 / 0.572 / 0.822. The sampling seed alone moves those 40 requests' note F1 by "
    "about 0.01 (seeds +0, +1000, +2000: 0.567 / 0.552 / 0.559), so the temperature (the starting noise's standard "
    "deviation) was then chosen on 120 other valid requests (`bandmate songbook make --n 120 --seed 77 --split "
    "valid`), steps and guidance fixed: 1.0 / 0.9 / 0.8 / 0.7 / 0.6 / 0.5 / 0.3 gave note F1 0.597 / 0.601 / 0.606 "
    "/ 0.611 / 0.613 / 0.615 / 0.621, most of it the bass (0.617 -> 0.661: fewer octave and twelfth ghost notes), "
    "while the median MR-STFT distance to the soundfont render stayed level (20 valid requests, per stem: log-L1 "
    "2.19 / 2.21 / 2.22 / 2.21 at 1.0 / 0.8 / 0.6 / 0.3, spectral convergence 0.79 / 0.79 / 0.79 / 0.77) and mel "
    "spectrograms at 1.0, 0.5 and 0.3 look alike; at 0.3, 3 / 5 / 10 steps gave 0.613 / 0.621 / 0.615, so 5 "
    "stay. A cooler start lands on more typical latents: less variety between seeds, which a renderer of given "
    "notes can spare. Also tried on those requests and dropped: a "
    "per-stem EQ matching the training audio's long-term spectrum (note F1 0.597 with level only; the full EQ "
    "0.555 on the 40), phase-gradient (PGHI) initialisation of Griffin-Lim (0.560 against 0.567 on the 40, the "
    "Griffin-Lim ceiling also 0.560), CFG rescale 0.7 (0.566), 3 / 8 / 12 steps with the per-stem guidance (0.559 "
    "/ 0.560 / 0.553). Re-checked at temperature 0.3 on the 120 (all against 0.621): temperature 0.15 / 0 gave "
    "0.620 / 0.622 (a plateau); per-stem guidance bass 0.5 / 1.0 / 1.5: 0.644 / 0.661 / 0.636, keys 2.0 / 2.5 / "
    "3.0: 0.567 / 0.552 / 0.526, melody 1.0 / 1.5 / 2.0: 0.654 / 0.649 / 0.649 (the chosen scales stay); 256 "
    "Griffin-Lim iterations 0.617; three samples per window averaged in log magnitude before Griffin-Lim 0.619; a "
    "19-minute continuation of this U-Net (lr 1.5e-4, held-out v-MSE 0.1927 -> 0.1914) 0.616. None moved it "
    "beyond the seed noise: at this size and training the sampler's settings are spent.")


def diffusion_card(card, vae, bench) -> str:
    d = card.get("data", {})
    p = card["parameters"]
    lines = [
        "# diffusion (%s): the music-theory conditioned latent diffusion renderer" % card["version"], "",
        "- **What**: renders a stem's notes to audio. MusicTheoryConditioner (chord root/quality/bass, Roman degree, "
        "harmonic function, beat in bar and metric level, section, genre family, stem, GM program, BPM, complexity, "
        "density, the stem's sustain and onset piano rolls -> (batch, frames, %d)) + DiffusionUNet over the "
        "VAE latent (encoder ResBlock -> cross-attention -> Downsample x2, middle ResBlock -> self-attention -> "
        "cross-attention -> ResBlock, decoder Upsample -> ResBlock with skips -> cross-attention; timestep in "
        "every ResBlock; v-prediction, cosine schedule), plus the notation concatenated to the input as an aligned "
        "local path." % card["conditioner"]["dim"],
        "- **Sampling**: DDIM, %d steps by default (any count works, e.g. 50), classifier-free guidance per stem "
        "(%s; notation dropped for %s of training examples), starting noise at temperature %g; 2.048 s windows "
        "with 0.512 s cross-faded overlaps, "
        "all windows and stems in one batch. %s" % (
            DEFAULT_STEPS, guidance_text(STEM_GUIDANCE), card["objective"].split("drop ")[-1].rstrip(")"),
            DEFAULT_TEMPERATURE, SAMPLING_CHOICE),
        "- **Native rate / bandwidth**: 16 kHz mono (8 kHz bandwidth) through the VAE (%s%s); output resampled to "
        "48 kHz stereo (dual mono)." % (vae.get("version"), _latent_note(card, vae)),
        "- **Size**: conditioner %d + U-Net %d parameters (U-Net config %s), float16 weights." % (
            p["conditioner"], p["unet"], json.dumps(card["unet"])),
        "- **Data**: a crop cache of train-split songbook stems (%s; %s; %d train / %d held-out crops, 2.048 s "
        "each)." % (", ".join(d.get("sets") or []), ", ".join(d.get("fonts") or []), d.get("train_crops", 0),
                    d.get("valid_crops", 0)),
        "- **Training**: %s; lr %g, EMA %g. Best held-out v-MSE (EMA weights, fixed times and noise) %s. Loss "
        "curves: bench/results/render_diffusion_loss.png." % (
            _training(card, "this CPU"), card["lr"], card["ema"], _fmt(card.get("best_valid_v_mse"), 4)),
    ]
    if bench:
        s, sp = bench["summary"], bench["speed"]
        t = sp.get("torch", {}).get("steps_%d" % bench["steps"], {})
        o = sp.get("onnxruntime", {}).get("steps_%d" % bench["steps"], {})
        per_seed = s.get("diffusion_per_seed") or []      # present when the bench ran more than one seed
        seeded = (", diffusion figures the mean over %d sampling seeds per request (note F1 per seed: %s)" % (
            len(per_seed), " / ".join(_fmt(x["note_f1"]) for x in per_seed))) if per_seed else ""
        lines.append("- **Bench** (`bandmate bench render`, %d held-out requests, %d bars%s): chords majmin %s "
                     "(soundfont %s), note F1 %s (soundfont %s), onset F1 %s (soundfont %s), MR-STFT log-L1 to the "
                     "soundfont render %s (another soundfont: %s). RTF of one stem, warm, this CPU: torch %s, "
                     "onnxruntime %s. Full table: bench/results/render.md." % (
                         bench["n"], bench["bars"], seeded, _fmt(s["diffusion"]["chords_majmin"]),
                         _fmt(s["soundfont"]["chords_majmin"]), _fmt(s["diffusion"]["note_f1"]),
                         _fmt(s["soundfont"]["note_f1"]), _fmt(s["diffusion"]["onset_f1"]),
                         _fmt(s["soundfont"]["onset_f1"]), _fmt(s["diffusion"]["stft_vs_soundfont"]["log_l1"]),
                         _fmt(s.get("other_soundfont", {}).get("stft_vs_soundfont", {}).get("log_l1")),
                         _fmt(t.get("rtf")), _fmt(o.get("rtf"))))
    valid = (card.get("history") or {}).get("valid") or []
    best = ""
    if valid:
        best_at = min(valid, key=lambda sv: sv[1])[0]
        best = " the last run's best held-out v-MSE came at step %d of %d%s;" % (
            best_at, card["steps"], " (more songs, not more steps, is the next lever)"
            if best_at < 0.8 * card["steps"] else "")
    lines += ["- **Limits**: a small model trained for %.0f minutes on this 2-core CPU: it follows notes and chords "
              "only as far as the bench says;%s timbre is General-MIDI-like by construction (it learned soundfont "
              "renders); Griffin-Lim phase; 8 kHz bandwidth. One GM program conditions each rendered part. Songbook "
              "stems often layer several programs (on the 120 valid requests 46 bass and 84 keys stems do; "
              "PopWaltz's bass is strings over an acoustic bass), so a bass or melody stem whose notes name several "
              "programs is rendered one part per program and summed (`stem_parts`): on the 120 valid requests note "
              "F1 over all stems reads 0.633 against 0.621 when each stem is rendered as one blended timbre (bass "
              "0.687 against 0.661; on the 15 valid waltzes 0.540 against 0.509, bass 0.626 against 0.549). Keys "
              "stay blended: split, they read 0.558 against 0.567 (layered pads and pianos share a range, and the "
              "model, trained on whole-stem crops named by one program, renders a lone pad layer worse). Training "
              "on per-layer crops is the next data change; naming each training stem by its most-playing program "
              "instead (4397 of 14948 crops relabelled, 24 minutes more training) read 0.614, not kept.%s Scale up "
              "with `--width`, `--batch`, `--minutes 0 --steps N`, torchrun for DDP." % (
                  _total(card, "train_seconds") / 60.0, best, _trailing_family(bench)),
              "- **Licence**: MIT."]
    return "\n".join(lines) + "\n"


def _trailing_family(bench) -> str:
    """' On the test bench <family> trails the soundfont most (note F1 a against b, n requests).' from the rows."""
    fam = {}
    for r in (bench or {}).get("rows") or []:
        d, f = (r.get("diffusion") or {}).get("note_f1"), (r.get("soundfont") or {}).get("note_f1")
        if d is not None and f is not None:
            fam.setdefault(r.get("family") or "?", []).append((d, f))
    fam = {k: v for k, v in fam.items() if len(v) >= 3}
    if not fam:
        return ""
    mean = {k: (sum(d for d, _ in v) / len(v), sum(f for _, f in v) / len(v), len(v)) for k, v in fam.items()}
    k = max(mean, key=lambda k: mean[k][1] - mean[k][0])
    return " On the test bench %s trails the soundfont most (note F1 %s against %s, %d requests)." % (
        k.replace("_", "/"), _fmt(mean[k][0]), _fmt(mean[k][1]), mean[k][2])


def main(argv=None):
    vae, diff = _load(VAE_CHECKPOINT + ".json"), _load(DIFFUSION_CHECKPOINT + ".json")
    bench = _load(RESULTS)
    if vae:
        with open(VAE_CHECKPOINT + ".md", "w", encoding="utf-8") as fh:
            fh.write(vae_card(vae, bench))
    if diff and vae:
        with open(DIFFUSION_CHECKPOINT + ".md", "w", encoding="utf-8") as fh:
            fh.write(diffusion_card(diff, vae, bench))
    print("cards written" if vae else "no checkpoints")
    return 0


if __name__ == "__main__":
    sys.exit(main())
