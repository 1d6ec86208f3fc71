"""`bandmate bench render`: the diffusion renderer beside the soundfont renderer on the same held-out MIDI, in one
run.

    bandmate bench render --set /tmp/data/test [--n 50] [--bars 4] [--steps 5] [--guidance 1.5] [--temperature 0.3]
        [--seeds 3]

Each request is a test-split song (grooves and progressions never trained on): its four stem MIDI files over
`bars` bars from the first downbeat, its chords, sections, key, genre family and tempo, handed to `render_notes`
as generate.py would (notes in quarter-note beats, each note with its GM program from the stem file, so the
renderer knows a layered stem's instruments as the soundfont does). The same notes are rendered by FluidSynth
with the product's soundfont (best_soundfont()), and the soundfont render is also passed through the VAE alone
(encode, decode, Griffin-Lim) to show what the VAE costs before any diffusion.

Measures, per renderer:
- chords: Bandmate's own chord recognizer (models/checkpoints/chords) on the loudness-normalised mix of the four
  rendered stems vs the requested chords, mir_eval majmin (duration-weighted over the requests);
- note F1: basic-pitch (models/analysis/transcription.py) on each pitched stem (bass, keys, melody) vs the input
  MIDI notes, onsets within 50 ms, offsets ignored (mir_eval.transcription), mean over stems and requests;
- onset F1: librosa onset detection on every stem vs the MIDI onsets (within 70 ms; onsets closer than 30 ms
  merged), mean over stems and requests;
- spectral distance: multi-resolution STFT distance (vae.mrstft_distance: mean log-magnitude L1 over FFT sizes
  512/1024/2048, and spectral convergence) of each stem at 16 kHz against the soundfont render of the same MIDI;
  for scale, the same distance between two soundfonts (FluidR3_GM vs the product's) of the same MIDI; a stem
  whose soundfont render is silent in the excerpt (no notes there) is skipped;
- speed: warm real-time factor of one stem (keys, 4 bars) in torch and through onnxruntime, the conditioner,
  the sampler and the VAE decode (with Griffin-Lim) timed apart, at the default steps and at 50.
Writes bench/results/render.{json,md} and render_mels.png (3 examples: soundfont, VAE, diffusion).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

STEMS = ("drums", "bass", "keys", "melody")
SONGBOOK_STEM = {"drums": "drums", "bass": "bass", "keys": "chords", "melody": "melody"}
PITCHED = ("bass", "keys", "melody")
EVAL_SR = 22050
SEED_STRIDE = 1000           # sampling seed j of request i is i + SEED_STRIDE * j (--seeds)
METRICS = ("chords_majmin", "note_f1", "onset_f1")            # per request and renderer
STFT_KEYS = ("log_l1", "spectral_convergence")                # spectral distance to the soundfont render


def _resample(x, sr_in, sr_out):
    import soxr

    return soxr.resample(np.asarray(x, np.float32), sr_in, sr_out).astype(np.float32)


def song_request(set_dir, entry, bars, note_programs=True):
    """(notes_by_stem in quarter beats, request_info, excerpt (t_start, t_end) s, reference chords [(s, e, label)]
    relative to the excerpt, stem notes in seconds relative to the excerpt, paths of the stem MIDI files).
    With `note_programs` each note carries its GM program from the stem file (a layered stem names each
    layer's instrument, as the soundfont render hears it); without, a stem has only its first program."""
    from models.generation.dataset import midi_note_programs, midi_notes_seconds
    from models.generation.diffusion.data import song_context, stem_program
    from models.generation.tokens import programs_for

    with open(os.path.join(set_dir, entry["paths"]["json"]), encoding="utf-8") as fh:
        desc = json.load(fh)
    ctx = song_context(desc)
    bpb = ctx["beats_per_bar"]
    num, den = desc["meter"]["numerator"], desc["meter"]["denominator"]
    compound = den == 8 and num % 3 == 0 and num > 3
    qpb = (4.0 / den) * (3 if compound else 1)
    spb = 60.0 / ctx["bpm"]
    t_start = ctx["first_downbeat"]
    t_end = min(t_start + bars * bpb * spb, ctx["duration"])
    bars = int(round((t_end - t_start) / (bpb * spb)))
    t_end = t_start + bars * bpb * spb
    song_dir = os.path.dirname(os.path.join(set_dir, entry["paths"]["json"]))
    notes_q, notes_s, paths, programs = {}, {}, {}, dict(programs_for(ctx["family"]))
    for stem, sb in SONGBOOK_STEM.items():
        p = os.path.join(song_dir, "stems", sb + ".mid")
        if not os.path.exists(p):
            continue
        ns = [(a - t_start, min(b, t_end) - t_start, pit, vel) for a, b, pit, vel in midi_notes_seconds(p)
              if t_start - 1e-6 <= a < t_end]
        if not ns:
            continue
        paths[stem] = p
        notes_s[stem] = ns
        q = ctx["bpm"] * qpb / 60.0   # quarter notes per second
        notes_q[stem] = [{"pitch": int(pit), "start_time": a * q, "duration": max(b - a, 0.01) * q, "velocity": vel}
                         for a, b, pit, vel in ns]
        if note_programs and stem != "drums":
            by_onset: dict = {}
            for a, pit, prog in midi_note_programs(p):
                by_onset.setdefault((round(a - t_start, 6), pit), []).append(prog)
            for n, (a, _, pit, _) in zip(notes_q[stem], ns):
                progs = by_onset.get((round(a, 6), pit))
                if progs:
                    n["program"] = progs.pop(0) if len(progs) > 1 else progs[0]
        if stem != "drums":
            programs[stem] = stem_program(p)
    chords, ref = [], []
    for c in ctx["chords"]:
        s, e = max(c["start"], t_start), min(c["end"], t_end)
        if e - s < 1e-3:
            continue
        chords.append(dict(c, start=(s - t_start) / spb, end=(e - t_start) / spb))
    for c in desc["chords"]:
        s, e = max(c["start"], t_start), min(c["end"], t_end)
        if e - s >= 1e-3:
            ref.append((s - t_start, e - t_start, c["label"]))
    sections = []
    for s, e, label in ctx["sections"]:
        sb_, eb_ = (max(s, t_start) - t_start) / (bpb * spb), (min(e, t_end) - t_start) / (bpb * spb)
        if eb_ - sb_ > 1e-3:
            sections.append({"label": label, "start_bar": int(round(sb_)), "bars": max(1, int(round(eb_ - sb_)))})
    info = {"bpm": ctx["bpm"] * qpb, "beats_per_bar": bpb, "quarters_per_beat": qpb, "tonic": ctx["tonic"],
            "mode": ctx["mode"], "family": ctx["family"], "bars": bars, "chords": chords, "sections": sections,
            "programs": programs}
    return notes_q, info, (t_start, t_end), ref, notes_s, paths


def soundfont_stems(paths, sf_path, excerpt, seconds):
    """{stem: mono float32 at EVAL_SR}, the excerpt of each stem's soundfont render (scaled like training)."""
    from models.generation.diffusion.data import FIXED_GAIN
    from models.songbook.render import SAMPLE_RATE, render_midi

    t_start, _ = excerpt
    out = {}
    for stem, p in paths.items():
        x = render_midi(p, sf_path, int((t_start + seconds) * SAMPLE_RATE))
        x = x[int(t_start * SAMPLE_RATE):].mean(axis=1) * FIXED_GAIN
        out[stem] = _resample(x, SAMPLE_RATE, EVAL_SR)
    return out


def through_magnitude(stems_eval, to_logmag):
    """Each stem at 16 kHz (padded to whole latent frames) -> `to_logmag` ((1, samples) tensor and the stem's
    name -> scaled log-magnitude) -> Griffin-Lim, back at EVAL_SR and the input's length."""
    import torch

    from models.generation.diffusion.config import FRAME_SAMPLES, GL_ITERS, SAMPLE_RATE
    from models.generation.diffusion.vae import griffin_lim

    out = {}
    for s, y in stems_eval.items():
        x = _resample(y, EVAL_SR, SAMPLE_RATE)
        n = int(np.ceil(len(x) / FRAME_SAMPLES)) * FRAME_SAMPLES
        x = torch.from_numpy(np.pad(x, (0, n - len(x))).astype(np.float32))[None]
        with torch.no_grad():
            w = griffin_lim(to_logmag(x, s), n_iter=GL_ITERS)[0].numpy()
        out[s] = _resample(w, SAMPLE_RATE, EVAL_SR)[:len(y)]
    return out


def vae_roundtrip(renderer, stems_eval, notes_s=None):
    """The VAE alone: encode -> decode -> Griffin-Lim. A notes decoder also reads each stem's piano roll (from
    `notes_s`, {stem: [(onset s, offset s, pitch, velocity)]}), as it does inside the renderer."""
    import torch

    from models.generation.diffusion.conditioner import roll_rows

    vae, dev = renderer.vae, renderer.device

    def to_logmag(x, stem):
        z = vae.encode(x.to(dev))
        roll = None
        if vae.notes and notes_s and stem in notes_s:
            roll = torch.from_numpy(np.ascontiguousarray(roll_rows(notes_s[stem], stem, 0.0, z.shape[-1]).T[None]))
        return vae.decode(z, None if roll is None else roll.to(dev)).cpu()
    return through_magnitude(stems_eval, to_logmag)


def griffin_lim_ceiling(stems_eval):
    """Griffin-Lim on the input's own magnitude: what the phase recovery alone costs (the ceiling of any
    magnitude model)."""
    from models.generation.diffusion.vae import log_magnitude

    return through_magnitude(stems_eval, lambda x, _stem: log_magnitude(x))


def normalised_mix(stems, n):
    from models.analysis.loudness import integrated_loudness

    mix = np.zeros(n, np.float32)
    for y in stems.values():
        mix[:min(n, len(y))] += y[:n]
    lufs = integrated_loudness(np.repeat(mix[:, None], 2, 1), EVAL_SR)
    if lufs is not None:
        mix = mix * 10 ** ((-16.0 - lufs) / 20)
    peak = float(np.abs(mix).max()) if len(mix) else 0
    return mix / peak * 0.98 if peak > 0.98 else mix


def chord_score(chord_model, mix, ref, duration):
    import mir_eval

    from models.analysis.features import log_freq_spectrogram
    from models.analysis.train_chords import predict

    spec, _ = log_freq_spectrogram(mix, EVAL_SR)
    est = predict(chord_model, spec, duration=duration)
    ref_i = np.array([[a, b] for a, b, _ in ref])
    est_i = np.array([[c["start"], c["end"]] for c in est]) if est else np.array([[0.0, duration]])
    est_l = [c["label"] for c in est] if est else ["N"]
    scores = mir_eval.chord.evaluate(ref_i, [l for _, _, l in ref], est_i, est_l)
    return float(scores["majmin"]), [(round(c["start"], 2), c["label"]) for c in est]


def note_f1(session, y, ref_notes):
    import mir_eval

    from models.analysis.transcription import transcribe

    est = transcribe(y, EVAL_SR, session)
    ref = [(a, b, p) for a, b, p, _ in ref_notes if b > a]
    if not ref:
        return None
    ref_i = np.array([[a, max(b, a + 0.01)] for a, b, _ in ref])
    ref_p = np.array([440.0 * 2 ** ((p - 69) / 12) for _, _, p in ref])
    if not est:
        return 0.0
    est_i = np.array([[n.onset_s, max(n.offset_s, n.onset_s + 0.01)] for n in est])
    est_p = np.array([440.0 * 2 ** ((n.midi_pitch - 69) / 12) for n in est])
    _, _, f, _ = mir_eval.transcription.precision_recall_f1_overlap(ref_i, ref_p, est_i, est_p,
                                                                     onset_tolerance=0.05, offset_ratio=None)
    return float(f)


def onset_f1(y, ref_notes, duration):
    import librosa
    import mir_eval

    ons = sorted({round(a, 3) for a, _, _, _ in ref_notes if a < duration})
    ref = []
    for t in ons:
        if not ref or t - ref[-1] > 0.03:
            ref.append(t)
    if not ref:
        return None
    est = librosa.onset.onset_detect(y=y[:int(duration * EVAL_SR)], sr=EVAL_SR, units="time", backtrack=False)
    return float(mir_eval.onset.f_measure(np.array(ref), np.asarray(est), window=0.07)[0])


SILENT_RMS = 1e-4   # a soundfont stem this quiet (-80 dBFS) has no notes in the excerpt: no spectral distance


def spectral(a, b):
    """MR-STFT distance of `a` to the reference `b` (both at EVAL_SR), or None when `b` is silent (spectral
    convergence divides by the reference's norm and would explode)."""
    from models.generation.diffusion.config import SAMPLE_RATE
    from models.generation.diffusion.vae import mrstft_distance

    if float(np.sqrt(np.mean(np.square(b, dtype=np.float64)))) < SILENT_RMS:
        return None
    return mrstft_distance(_resample(a, EVAL_SR, SAMPLE_RATE), _resample(b, EVAL_SR, SAMPLE_RATE))


def spectral_vs(stems, reference):
    """Mean MR-STFT distance over the stems whose reference render is not silent: {log_l1, spectral_convergence}
    (None values when every reference stem is silent)."""
    d = [x for x in (spectral(stems[s], reference[s]) for s in stems) if x is not None]
    return {k: _mean([x[k] for x in d]) for k in STFT_KEYS}


def speed(renderer, steps_list, onnx_dir=None, repeats=3):
    """Warm RTF of one stem (keys, 4 bars of quarter-note chords at 100 BPM): torch, then onnxruntime."""
    from models.generation.diffusion.render import render_notes

    notes = {"keys": [{"pitch": p, "start_time": float(b), "duration": 0.9, "velocity": 90}
                      for b in range(16) for p in (60, 64, 67)]}
    info = {"bpm": 100.0, "beats_per_bar": 4, "quarters_per_beat": 1.0, "tonic": 0, "mode": "major",
            "family": "pop", "bars": 4, "chords": [{"root": 0, "quality": "maj", "bass": 0, "start": 0, "end": 16}],
            "sections": [{"label": "verse", "start_bar": 0, "bars": 4}], "programs": {"keys": 0}}
    out = {}
    for backend in ("torch", "onnxruntime"):
        if backend == "onnxruntime":
            try:
                renderer.use_onnx(onnx_dir)
            except Exception as exc:  # noqa: BLE001 - reported, not fatal
                out[backend] = {"error": str(exc)[:200]}
                continue
        for steps in steps_list:
            render_notes(notes, info, renderer=renderer, steps=steps)   # warm
            runs = []
            for _ in range(repeats):
                render_notes(notes, info, renderer=renderer, steps=steps)
                runs.append(dict(renderer.last_timing))
            med = {k: float(np.median([r[k] for r in runs])) for k in ("conditioner_s", "sampler_s", "decode_s",
                                                                        "total_s")}
            med["audio_s"] = runs[0]["audio_s"]
            med["rtf"] = med["total_s"] / med["audio_s"]
            out.setdefault(backend, {})["steps_%d" % steps] = {k: round(v, 4) for k, v in med.items()}
    renderer.onnx = None
    return out


def mel_png(examples, path):
    import librosa
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = ("soundfont", "vae", "diffusion")
    fig, axes = plt.subplots(len(examples), 3, figsize=(13, 3.0 * len(examples)), squeeze=False)
    for r, ex in enumerate(examples):
        for c, name in enumerate(cols):
            m = librosa.feature.melspectrogram(y=ex[name], sr=EVAL_SR, n_fft=2048, hop_length=256, n_mels=96,
                                               fmax=8000)
            ax = axes[r][c]
            ax.imshow(librosa.power_to_db(m + 1e-10, ref=1.0, top_db=80), origin="lower", aspect="auto",
                      extent=[0, len(ex[name]) / EVAL_SR, 0, 96], vmin=-80, vmax=0 + 10, cmap="magma")
            ax.set_title("%s: %s" % (ex["title"], name), fontsize=9)
            ax.set_xlabel("s")
            ax.set_ylabel("mel bin (to 8 kHz)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def request_metrics(stems, ref, notes_s, dur, chord_model, session, reference=None) -> dict:
    """One render of one request: chords (majmin) on its mix, note F1 over the pitched stems, onset F1 over all
    stems, and with a `reference` (the soundfont render) the MR-STFT distance to it."""
    n = int(dur * EVAL_SR)
    cs, _ = chord_score(chord_model, normalised_mix(stems, n), ref, dur)
    out = {"chords_majmin": cs,
           "note_f1": _mean([note_f1(session, stems[s], notes_s[s]) for s in PITCHED if s in stems]),
           "onset_f1": _mean([onset_f1(stems[s], notes_s[s], dur) for s in stems])}
    if reference is not None:
        out["stft_vs_soundfont"] = spectral_vs(stems, reference)
    return out


def mean_of_runs(runs: list) -> dict:
    """One request's diffusion metrics averaged over its sampling seeds (a metric None in a run is left out)."""
    out = {k: _mean([r[k] for r in runs]) for k in METRICS}
    out["stft_vs_soundfont"] = {k: _mean([r["stft_vs_soundfont"][k] for r in runs]) for k in STFT_KEYS}
    return out


def _mean(xs):
    xs = [x for x in xs if x is not None]
    return round(float(np.mean(xs)), 4) if xs else None


def _median(xs):
    """Median over requests: one quiet reference stem (a soft note another soundfont plays loud) makes a
    spectral convergence in the thousands, which a mean would report as the whole set's."""
    xs = [x for x in xs if x is not None]
    return round(float(np.median(xs)), 4) if xs else None


def main(argv=None):
    ap = argparse.ArgumentParser(prog="bandmate bench render")
    ap.add_argument("--set", default="data/sb-test", help="songbook set (test split)")
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--bars", type=int, default=4)
    ap.add_argument("--steps", type=int, default=None, help="sampler steps (default: the renderer's default)")
    ap.add_argument("--guidance", type=float, default=None, help="one classifier-free guidance scale for every "
                    "stem (default: the renderer's per-stem scales)")
    ap.add_argument("--temperature", type=float, default=None, help="standard deviation of the sampler's starting "
                    "noise (default: the renderer's, DEFAULT_TEMPERATURE)")
    ap.add_argument("--seeds", type=int, default=1, help="sampling seeds per request: the diffusion row is their "
                    "mean (each request's metrics averaged over its seeds), and the report lists each seed's row "
                    "(the sampling seed alone moves note F1 by about 0.01 on 50 requests)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--speed-steps", default="5,20,50")
    ap.add_argument("--minutes", type=float, default=None, help="stop taking new requests after this long (the "
                    "report says how many were measured)")
    ap.add_argument("--out-dir", default=None)
    ap.add_argument("--name", default="render")
    ap.add_argument("--vae", default=None)
    ap.add_argument("--diffusion", default=None)
    args = ap.parse_args(argv)
    if args.seeds < 1:
        ap.error("--seeds must be at least 1")

    import torch

    from models.analysis.engine import load_chord_model
    from models.analysis.transcription import load_session
    from models.generation.diffusion import render as R
    from models.generation.diffusion.data import FIXED_GAIN
    from models.generation.diffusion.schedule import DEFAULT_STEPS, DEFAULT_TEMPERATURE, STEM_GUIDANCE
    from models.generation.generate import best_soundfont
    from models.songbook.render import available_soundfonts

    from .report import RESULTS_DIR, machine, markdown_table, write

    if args.threads:
        torch.set_num_threads(args.threads)
    steps = args.steps or DEFAULT_STEPS
    guidance = dict(STEM_GUIDANCE) if args.guidance is None else args.guidance
    temperature = DEFAULT_TEMPERATURE if args.temperature is None else args.temperature
    renderer = R.load_renderer(args.vae or R.VAE_CHECKPOINT, args.diffusion or R.DIFFUSION_CHECKPOINT)
    if renderer is None:
        print("no trained diffusion renderer (bandmate train vae; bandmate train diffusion)", file=sys.stderr)
        return 2
    chord_model = load_chord_model()
    session = load_session()
    font_name, sf_path = best_soundfont()
    fonts = available_soundfonts()
    alt_name = "FluidR3_GM" if font_name != "FluidR3_GM" else "TimGM6mb"
    with open(os.path.join(args.set, "index.json"), encoding="utf-8") as fh:
        songs = json.load(fh)["songs"][:args.n]
    out_dir = args.out_dir or RESULTS_DIR
    os.makedirs(out_dir, exist_ok=True)
    rows, examples = [], []
    t_run = time.time()
    for i, entry in enumerate(songs):
        if args.minutes and time.time() - t_run > 60 * args.minutes:
            print("time cap reached after %d requests" % len(rows))
            break
        notes_q, info, excerpt, ref, notes_s, paths = song_request(args.set, entry, args.bars)
        if not paths:
            continue
        dur = excerpt[1] - excerpt[0]
        n = int(dur * EVAL_SR)
        t0 = time.perf_counter()
        diff_runs = []
        for j in range(args.seeds):      # seed j of request i: i + SEED_STRIDE * j (j = 0 is the one-seed run)
            diff48 = R.render_notes(notes_q, info, renderer=renderer, steps=steps, guidance=guidance,
                                     seed=i + SEED_STRIDE * j, temperature=temperature)
            if j == 0:
                t_diff = time.perf_counter() - t0
            # render_notes gives FluidSynth's raw level; the soundfont renders here carry the training gain
            diff_runs.append({s: FIXED_GAIN * _resample(y[:, 0], R.OUTPUT_RATE, EVAL_SR)[:n]
                              for s, y in diff48.items()})
        renders = {"diffusion": diff_runs[0]}
        renders["soundfont"] = {s: y[:n] for s, y in soundfont_stems(paths, sf_path, excerpt, dur).items()}
        renders["vae"] = vae_roundtrip(renderer, renders["soundfont"], notes_s)
        renders["griffin_lim"] = griffin_lim_ceiling(renders["soundfont"])
        alt = {s: y[:n] for s, y in soundfont_stems(paths, fonts[alt_name], excerpt, dur).items()} \
            if alt_name in fonts else None
        row = {"song": entry["id"], "family": info["family"], "bpm": round(info["bpm"], 1), "seconds": round(dur, 2),
               "diffusion_render_s": round(t_diff, 3)}
        for name, stems in renders.items():
            row[name] = request_metrics(stems, ref, notes_s, dur, chord_model, session,
                                        None if name == "soundfont" else renders["soundfont"])
        if len(diff_runs) > 1:
            per_seed = [row["diffusion"]] + [request_metrics(stems, ref, notes_s, dur, chord_model, session,
                                                             renders["soundfont"]) for stems in diff_runs[1:]]
            row["diffusion_per_seed"] = per_seed
            row["diffusion"] = mean_of_runs(per_seed)
        if alt is not None:
            row["other_soundfont_stft_vs_soundfont"] = spectral_vs(alt, renders["soundfont"])
        rows.append(row)
        if len(examples) < 3:
            examples.append({"title": "%s (%s)" % (entry["id"], info["family"]),
                             **{k: normalised_mix(v, n) for k, v in renders.items()}})
        print("%d/%d %s  chords sf %.2f vae %.2f diff %.2f | notes sf %s diff %s | %.0f s" % (
            i + 1, len(songs), entry["id"], row["soundfont"]["chords_majmin"], row["vae"]["chords_majmin"],
            row["diffusion"]["chords_majmin"], row["soundfont"]["note_f1"], row["diffusion"]["note_f1"],
            time.time() - t_run), flush=True)
    png = mel_png(examples, os.path.join(out_dir, args.name + "_mels.png")) if examples else None
    spd = speed(renderer, [int(s) for s in args.speed_steps.split(",")])
    report = build_report(rows, spd, args, font_name, alt_name, steps, guidance, temperature, renderer, png)
    report["machine"] = machine()
    report["torch_threads"] = torch.get_num_threads()
    write(args.name, report, markdown(report, markdown_table), out_dir)
    print(markdown(report, markdown_table))
    return 0


def agg_runs(results: list, rows: list, key: str):
    """The set's value of `key` over per-request results (chords duration-weighted, the others a plain mean)."""
    if key == "chords_majmin":
        w = np.array([r["seconds"] for r in rows])
        v = np.array([x[key] for x in results])
        return round(float((w * v).sum() / w.sum()), 4) if len(rows) else None
    return _mean([x[key] for x in results])


def build_report(rows, spd, args, font, alt_name, steps, guidance, temperature, renderer, png):
    def agg(name, key):
        return agg_runs([r[name] for r in rows], rows, key)

    summary = {}
    for name in ("soundfont", "griffin_lim", "vae", "diffusion"):
        summary[name] = {k: agg(name, k) for k in METRICS}
        if name != "soundfont":
            summary[name]["stft_vs_soundfont"] = {k: _median([r[name]["stft_vs_soundfont"][k] for r in rows])
                                                  for k in STFT_KEYS}
    if rows and all("diffusion_per_seed" in r for r in rows):     # every request ran the same --seeds
        summary["diffusion_per_seed"] = [
            {k: agg_runs([r["diffusion_per_seed"][j] for r in rows], rows, k) for k in METRICS}
            for j in range(len(rows[0]["diffusion_per_seed"]))]
    alt = [r["other_soundfont_stft_vs_soundfont"] for r in rows if "other_soundfont_stft_vs_soundfont" in r]
    if alt:
        summary["other_soundfont"] = {"name": alt_name, "stft_vs_soundfont": {
            k: _median([a[k] for a in alt]) for k in STFT_KEYS}}
    goals = {"chords_majmin": ">= 0.85 and within 0.10 of the soundfont", "note_f1": ">= 0.6 (soundfont = ceiling)",
             "onset_f1": ">= 0.8", "rtf_one_stem": "<= 1.0 at the default steps"}
    return {"set": args.set, "n": len(rows), "n_asked": args.n, "bars": args.bars, "soundfont": font, "steps": steps,
            "guidance": guidance, "temperature": temperature, "seeds": getattr(args, "seeds", 1),
            "renderer": renderer.version, "native_rate_hz": 16000,
            "native_bandwidth_hz": 8000,
            "summary": summary, "speed": spd, "goals": goals, "mels_png": os.path.basename(png) if png else None,
            "rows": rows}


def markdown(r, table):
    from models.generation.diffusion.schedule import guidance_text

    s = r["summary"]

    def g(name, key):
        v = s.get(name, {}).get(key)
        return "-" if v is None else "%.3f" % v

    lines = ["# Diffusion renderer beside the soundfont renderer", "",
             "%d held-out requests from `%s` (%d bars each), diffusion %s, %d DDIM steps, guidance %s, temperature %g; "
             "soundfont %s. Native rate 16 kHz mono (8 kHz bandwidth), delivered as 48 kHz stereo. Written by "
             "`bandmate bench render`." % (r["n"], r["set"], r["bars"], r["renderer"], r["steps"],
                                            guidance_text(r["guidance"]), r.get("temperature", 1.0),
                                            r["soundfont"]), ""]
    rows = []
    for name, label in (("soundfont", "soundfont (%s)" % r["soundfont"]),
                        ("griffin_lim", "Griffin-Lim on the soundfont's magnitude (phase ceiling)"),
                        ("vae", "VAE round trip of the soundfont"), ("diffusion", "diffusion")):
        st = s[name].get("stft_vs_soundfont") or {}
        rows.append([label, g(name, "chords_majmin"), g(name, "note_f1"), g(name, "onset_f1"),
                     "-" if not st else "%.3f / %.3f" % (st["log_l1"], st["spectral_convergence"])])
    if "other_soundfont" in s:
        st = s["other_soundfont"]["stft_vs_soundfont"]
        rows.append(["another soundfont (%s), for scale" % s["other_soundfont"]["name"], "", "", "",
                     "%.3f / %.3f" % (st["log_l1"], st["spectral_convergence"])])
    lines.append(table(["renderer", "chords majmin", "note F1 (50 ms)", "onset F1 (70 ms)",
                        "MR-STFT vs soundfont (log L1 / SC)"], rows))
    per_seed = s.get("diffusion_per_seed")
    if per_seed:
        lines += ["", "The diffusion row is the mean over %d sampling seeds per request (seed of request i: i + %d j); "
                      "each seed alone (chords / note F1 / onset F1): %s." % (
                          len(per_seed), SEED_STRIDE, "; ".join("%.3f / %.3f / %.3f" % (
                              x["chords_majmin"], x["note_f1"], x["onset_f1"]) for x in per_seed))]
    lines += ["", "Goals (issue 8): chords >= 0.85 and within 10 points of the soundfont; note F1 >= 0.6; onset F1 "
                  ">= 0.8; RTF of one stem <= 1.0 at the default steps.", "", "## Speed (one stem, warm, this CPU)", ""]
    srows = []
    for backend, by_steps in r["speed"].items():
        if "error" in by_steps:
            srows.append([backend, "-", "-", "-", "-", "error: " + by_steps["error"]])
            continue
        for k, v in by_steps.items():
            srows.append([backend, k.split("_")[1], "%.3f" % v["conditioner_s"], "%.3f" % v["sampler_s"],
                          "%.3f" % v["decode_s"], "%.3f (%.2f s audio)" % (v["rtf"], v["audio_s"])])
    lines.append(table(["backend", "steps", "conditioner s", "sampler s", "VAE decode + Griffin-Lim s", "RTF"], srows))
    lines += ["", "Measures: chords = Bandmate's chord recognizer on the mix vs the requested chords (mir_eval "
                  "majmin); note F1 = basic-pitch on bass/keys/melody vs the input MIDI (onsets 50 ms, offsets "
                  "ignored); onset F1 = librosa onsets per stem vs MIDI onsets (70 ms); MR-STFT = mean over FFT "
                  "512/1024/2048 of log-magnitude L1 and spectral convergence at 16 kHz, per stem, against the "
                  "soundfont render of the same MIDI, stems silent in the soundfont render skipped, median over "
                  "requests (another soundfont's distance gives the scale).",
              "", "Mel spectrograms of 3 examples (mix): `%s`." % r.get("mels_png")]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
