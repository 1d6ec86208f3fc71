"""Training the beat network on songbook sets: feature cache, augmentation, the loop, evaluation, and the
checkpoint with its model card.

    python -m models.analysis.train_beats --train DIR [--valid DIR] --out models/checkpoints/beats
        [--epochs 20] [--steps 100] [--batch 8] [--crop 16] [--seed 0] [--threads 1]

The cache holds each song's log band magnitudes (beats.log_band_magnitudes) at CACHE_FPS frames/s, finer than
the network's beats.FPS, so that a time-stretched crop can be read off it without re-rendering audio.
Augmentation (so that the network learns beats, not the songbook's soundfonts and mixes): tempo change by
time-stretching the spectrogram (0.75-1.33x, beat labels follow), random crops, gain, spectral tilt and a
random smooth EQ curve, added noise, and a masked band range.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time

import numpy as np

from .beats import BEATS_PER_BAR, CLASSES, FPS, HOP, MAX_BPM, MIN_BPM, MODEL_SR, N_BANDS, build_model, \
    frame_targets, log_band_magnitudes, network_input, track_features
from .features import load_mono
from .train_chords import optimizer_step, set_metadata, split_sets

CACHE_HOP = HOP // 3  # 147 samples: frame 3k of the cache is frame k of the network's input
CACHE_FPS = MODEL_SR / CACHE_HOP  # 150 frames/s
BEAT_TRIM_S = 5.0  # as the benchmark (and MIREX): beats in the first 5 s are not scored


def load_index(set_dir: str) -> list[dict]:
    with open(os.path.join(set_dir, "index.json"), encoding="utf-8") as fh:
        index = json.load(fh)
    return index.get("songs") or index.get("pieces") or []


def cache_features(set_dir: str, cache_dir: str, progress=True) -> list[str]:
    """Log band magnitudes (float16, CACHE_FPS) + beats, downbeats (s), bpm and beats per bar of every song
    of a set, as .npz files under cache_dir (computed once)."""
    os.makedirs(cache_dir, exist_ok=True)
    out = []
    songs = load_index(set_dir)
    t0 = time.time()
    for i, song in enumerate(songs):
        path = os.path.join(cache_dir, song["id"] + ".npz")
        if not os.path.exists(path):
            y = load_mono(os.path.join(set_dir, song["paths"]["mix"]), MODEL_SR)
            with open(os.path.join(set_dir, song["paths"]["json"]), encoding="utf-8") as fh:
                truth = json.load(fh)
            beats = [b["time"] for b in truth["beats"]]
            meter = truth.get("meter") or {}
            np.savez_compressed(path, bands=log_band_magnitudes(y, MODEL_SR, CACHE_HOP).astype(np.float16),
                                beats=np.array(beats, dtype=float),
                                downbeats=np.array(truth.get("downbeats", []), dtype=float),
                                bpm=float(truth.get("bpm") or 0.0),
                                beats_per_bar=int(meter.get("beats_per_bar") or meter.get("numerator") or 4))
        out.append(path)
        if progress and (i + 1) % 40 == 0:
            print("features: %d/%d songs (%.0f s)" % (i + 1, len(songs), time.time() - t0), file=sys.stderr)
    return out


def augment(bands: np.ndarray, rng) -> np.ndarray:
    """Random gain, spectral tilt, smooth EQ, noise and band masking on log band magnitudes (frames, 2,
    bands); returns linear magnitudes."""
    n_bands = bands.shape[2]
    x = np.linspace(-1.0, 1.0, n_bands, dtype=np.float32)
    curve = np.float32(np.log(rng.uniform(0.25, 4.0))) + np.float32(rng.uniform(-1.5, 1.5)) * x
    for k in range(1, 4):  # a smooth random EQ: a few cosines across the band axis
        curve = curve + np.float32(rng.uniform(-0.4, 0.4)) * np.cos(np.pi * k * (x + 1) / 2 + rng.uniform(0, np.pi))
    mag = np.exp(bands.astype(np.float32) + curve[None, None, :])
    if rng.random() < 0.5:  # noise from far below the music up to about its median level
        level = float(np.median(mag)) * 10 ** rng.uniform(-2.0, 0.0)
        mag = mag + level * np.abs(rng.normal(0, 1, mag.shape)).astype(np.float32)
    if rng.random() < 0.3:
        w = int(rng.integers(2, 10))
        s = int(rng.integers(0, n_bands - w))
        mag[:, :, s:s + w] *= np.float32(rng.uniform(0.0, 0.1))
    return mag


def example(song: dict, crop_frames: int, rng, augment_data: bool = True):
    """One training example (input (crop, 4, bands), soft targets (crop, 3)) from a cached song: a random
    tempo change (time-stretch by reading the cache at a scaled hop), a random crop, augmentation."""
    bands, beats, downbeats = song["bands"], song["beats"], song["downbeats"]
    dur = len(bands) / CACHE_FPS
    rate = 1.0
    if augment_data:
        rate = float(np.exp(rng.uniform(np.log(0.75), np.log(1.33))))
        if song["bpm"] > 0:  # keep the stretched tempo inside the decoder's range
            rate = float(np.clip(rate, (MIN_BPM + 5) / song["bpm"], (MAX_BPM - 5) / song["bpm"]))
    span = crop_frames / FPS * rate  # seconds of the song under the crop
    if span > dur:
        span = dur
        crop_frames = max(1, int(dur / rate * FPS))
    start = float(rng.uniform(0.0, dur - span)) if augment_data else 0.0
    src = np.round((start + np.arange(crop_frames) * rate / FPS) * CACHE_FPS).astype(int)
    x = bands[np.clip(src, 0, len(bands) - 1)]
    mag = augment(x, rng) if augment_data else np.exp(x.astype(np.float32))
    out_beats = (beats - start) / rate
    out_down = (downbeats - start) / rate
    return network_input(mag), frame_targets(out_beats, out_down, crop_frames, FPS)


def batches(files, batch, crop_frames, rng):
    """Endless batches of augmented examples; songs in 2 or 3 beats to the bar are drawn 4x as often (the
    songbook is mostly in 4)."""
    data = []
    for f in files:
        d = np.load(f)
        data.append({k: d[k] for k in ("bands", "beats", "downbeats")} | {"bpm": float(d["bpm"]),
                                                                           "per_bar": int(d["beats_per_bar"])})
    weights = np.array([1.0 if d["per_bar"] == 4 else 4.0 for d in data])
    weights /= weights.sum()
    while True:
        xs, ys = [], []
        for _ in range(batch):
            x, y = example(data[int(rng.choice(len(data), p=weights))], crop_frames, rng)
            xs.append(x)
            ys.append(y)
        n = min(len(x) for x in xs)
        yield np.stack([x[:n] for x in xs]), np.stack([y[:n] for y in ys])


def loss_fn(model, x, y):
    """Cross-entropy against the soft frame targets."""
    import torch

    logp = torch.log_softmax(model(x), -1)
    return -(y * logp).sum(-1).mean()


def evaluate(model, files: list[str], limit: int | None = None) -> dict:
    """Beat F-measure, downbeat F-measure (mir_eval, +-70 ms, first 5 s left out, as the benchmark), tempo
    Acc1 (within 4 %) and how often the beats per bar are right, of the whole pipeline on cached songs,
    averaged over songs."""
    import warnings

    import mir_eval

    scores = {"beat_f": [], "downbeat_f": [], "tempo_acc1": [], "meter_ok": []}
    model.eval()
    for f in files[:limit]:
        d = np.load(f)
        est = track_features(model, network_input(np.exp(d["bands"][::3].astype(np.float32))))
        ref_b = mir_eval.beat.trim_beats(d["beats"], BEAT_TRIM_S)
        ref_d = mir_eval.beat.trim_beats(d["downbeats"], BEAT_TRIM_S)
        est_b = mir_eval.beat.trim_beats(np.array([b["time"] for b in est["beats"]]), BEAT_TRIM_S)
        est_d = mir_eval.beat.trim_beats(np.array(est["downbeats"]), BEAT_TRIM_S)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scores["beat_f"].append(mir_eval.beat.f_measure(ref_b, est_b))
            scores["downbeat_f"].append(mir_eval.beat.f_measure(ref_d, est_d))
        scores["tempo_acc1"].append(float(abs(est["bpm"] - float(d["bpm"])) <= 0.04 * float(d["bpm"])))
        per_bar = {(2, 4): 2, (6, 8): 2, (3, 4): 3, (9, 8): 3, (4, 4): 4, (12, 8): 4}.get(
            (est["meter"]["numerator"], est["meter"]["denominator"]), 0)
        scores["meter_ok"].append(float(per_bar == int(d["beats_per_bar"])))
    return {k: round(float(np.mean(v)), 4) for k, v in scores.items() if v}


def train(train_dir, out, valid_dir=None, epochs=20, steps_per_epoch=100, batch=8, crop_s=16.0, seed=0,
          lr=2e-3, threads=None, max_minutes=None, init=None):
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    cache_root = os.path.join(os.path.dirname(os.path.abspath(out)), ".cache", "beats")
    sets, train_files, valid_dir, valid_files = split_sets(
        train_dir, valid_dir, lambda d: cache_features(d, os.path.join(cache_root, os.path.basename(
            os.path.normpath(d)))))
    model = build_model()
    if init:  # warm start from an earlier checkpoint of the same architecture
        from safetensors.torch import load_file

        model.load_state_dict(load_file(init + ".safetensors"))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    total = epochs * steps_per_epoch
    from models.schedule import one_cycle
    sched = one_cycle(opt, lr, total, pct_start=0.1)
    gen = batches(train_files, batch, int(crop_s * FPS), rng)
    history = []
    t0 = time.time()
    done_steps = 0
    for epoch in range(epochs):
        model.train()
        losses = []
        for _ in range(steps_per_epoch):
            x, y = next(gen)
            loss = loss_fn(model, torch.from_numpy(x), torch.from_numpy(y))
            losses.append(optimizer_step(model, opt, sched, loss))
            done_steps += 1
        out_of_time = max_minutes is not None and time.time() - t0 > 60 * max_minutes
        last = epoch == epochs - 1 or out_of_time
        val = evaluate(model, valid_files) if (epoch + 1) % 5 == 0 or last else {}
        history.append({"epoch": epoch + 1, "loss": round(float(np.mean(losses)), 4), "valid": val,
                        "elapsed_s": round(time.time() - t0, 1)})
        print("epoch %d loss %.4f %s (%.0f s)" % (epoch + 1, np.mean(losses), val, time.time() - t0),
              file=sys.stderr, flush=True)
        if out_of_time:
            break
    model.eval()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, out + ".safetensors",
              metadata={"config": json.dumps(model.config)})
    with open(out + ".safetensors", "rb") as fh:
        version = "0.1-" + hashlib.sha256(fh.read()).hexdigest()[:10]
    card = {"model": "beats", "version": version,
            "architecture": "2-D conv front end + TCN (%d residual blocks, %d channels, kernel %d, dilations %s) "
                            "+ none/beat/downbeat softmax" % (len(model.config["dilations"]),
                                                              model.config["channels"], model.config["kernel"],
                                                              model.config["dilations"]),
            "config": model.config, "parameters": int(sum(p.numel() for p in model.parameters())),
            "input": "22.05 kHz mono, %d frames/s; STFT 1024 and 2048 (Hann), %d log-spaced bands 30 Hz-11 kHz, "
                     "log1p(1000 x), plus positive first differences" % (FPS, N_BANDS),
            "classes": list(CLASSES),
            "decoding": "bar-pointer DBN (Viterbi) over %s beats per bar, %g-%g BPM, at 100 frames/s"
                        % ("/".join(map(str, BEATS_PER_BAR)), MIN_BPM, MAX_BPM),
            "data": {"train": ",".join(os.path.abspath(d) for d in sets), "train_songs": len(train_files),
                     "train_set": [set_metadata(d) for d in sets], "init": init,
                     "valid": os.path.abspath(valid_dir), "valid_songs": len(valid_files)},
            "training": {"epochs": len(history), "steps": done_steps, "batch": batch, "crop_s": crop_s,
                         "lr": lr, "seed": seed, "seconds": round(time.time() - t0, 1),
                         "augmentation": "time-stretch 0.75-1.33x of the spectrogram, random crops, gain 0.25-4x, "
                                         "tilt +-1.5 (log units), random smooth EQ, noise, band masking; songs "
                                         "in 2 or 3 drawn 4x as often"},
            "metrics_valid": history[-1]["valid"], "history": history, "licence": "MIT (Bandmate)",
            "reproduce": "bandmate train beats --train %s --out %s --epochs %d --steps %d --batch %d --crop %g "
                         "--lr %g --seed %d --threads 1%s" % (train_dir, os.path.relpath(out), epochs, steps_per_epoch,
                                                              batch, crop_s, lr, seed,
                                                              " --init " + init if init else "")}
    with open(out + ".json", "w", encoding="utf-8") as fh:
        json.dump(card, fh, indent=1)
    with open(out + ".md", "w", encoding="utf-8") as fh:
        fh.write(model_card_markdown(card))
    return card


def model_card_markdown(card: dict) -> str:
    """The human-readable model card next to the weights."""
    d, t = card["data"], card["training"]
    lines = ["# Model card: %s %s" % (card["model"], card["version"]), "",
             "- Architecture: %s (%d parameters)" % (card["architecture"], card["parameters"]),
             "- Input: " + card["input"],
             "- Output: per-frame probabilities of %s; %s" % ("/".join(card["classes"]), card["decoding"]),
             "- Data: %d songbook songs from %s (validation: %d songs from %s). The songbook is synthetic "
             "(MMA grooves, FluidSynth soundfonts); splits share no groove or progression with the test split."
             % (d["train_songs"], d["train"], d["valid_songs"], d["valid"]),
             "- Songbook set: %s" % json.dumps(d.get("train_set", {})),
             "- Training: %d epochs, %d steps, batch %d, crops of %g s, lr %g, seed %d, %.0f s on CPU; "
             "augmentation: %s" % (t["epochs"], t["steps"], t["batch"], t["crop_s"], t["lr"], t["seed"],
                                   t["seconds"], t["augmentation"]),
             "- Validation metrics (whole pipeline; mir_eval F-measure +-70 ms after 5 s; tempo within 4 %%): %s"
             % json.dumps(card["metrics_valid"]),
             "- Licence: " + card["licence"],
             "- Reproduce: `%s`" % card.get("reproduce", ""),
             "- Limits: trained on synthetic General-MIDI renderings only; real recordings (voice, rubato, "
             "distortion, dense mixes) are out of its training distribution; meters other than 2, 3 or 4 beats "
             "to the bar are only decoded when the DAW says so.", ""]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="bandmate train beats", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", required=True, help="songbook set to train on (its index.json)")
    ap.add_argument("--valid", help="songbook set to validate on (default: every tenth training song)")
    ap.add_argument("--out", required=True, help="checkpoint path without extension")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--steps", type=int, default=100, help="steps per epoch")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=float, default=16.0, help="seconds per training example")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--max-minutes", type=float, help="stop after the epoch that passes this much time")
    ap.add_argument("--init", help="warm start from this checkpoint (path without extension)")
    args = ap.parse_args(argv)
    card = train(args.train, args.out, args.valid, args.epochs, args.steps, args.batch, args.crop, args.seed,
                 args.lr, args.threads, args.max_minutes, args.init)
    print(json.dumps(card["metrics_valid"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
