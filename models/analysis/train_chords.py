"""Training the chord network on songbook sets: feature cache, augmentation, the loop, evaluation, and the
checkpoint with its model card.

    python -m models.analysis.train_chords --train DIR [--valid DIR] --out models/checkpoints/chords
        [--epochs 30] [--batch 16] [--crop 100] [--seed 0]

Augmentation (so the model learns chords, not the songbook's three soundfonts): transposition by rolling the
spectrogram a whole number of semitones (labels follow), random gain and spectral tilt, and noise.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from .chords import NO_CHORD, N_STATES, QUALITY_CLASSES, build_model, frame_targets, segments_from_path, \
    state_log_probs, viterbi
from .features import MODEL_SR, load_mono, log_freq_spectrogram

HOP_S = 0.1
BINS_PER_SEMITONE = 2


def load_index(set_dir: str) -> list[dict]:
    with open(os.path.join(set_dir, "index.json"), encoding="utf-8") as fh:
        index = json.load(fh)
    return index.get("songs") or index.get("pieces") or []


def cache_features(set_dir: str, cache_dir: str, progress=True) -> list[str]:
    """Spectrogram + frame targets of every song of a set, as .npz files under cache_dir (computed once)."""
    os.makedirs(cache_dir, exist_ok=True)
    out = []
    songs = load_index(set_dir)
    t0 = time.time()
    for i, song in enumerate(songs):
        path = os.path.join(cache_dir, song["id"] + ".npz")
        if not os.path.exists(path):
            y = load_mono(os.path.join(set_dir, song["paths"]["mix"]), MODEL_SR)
            spec, times = log_freq_spectrogram(y, MODEL_SR)
            with open(os.path.join(set_dir, song["paths"]["json"]), encoding="utf-8") as fh:
                truth = json.load(fh)
            np.savez_compressed(path, spec=spec, targets=frame_targets(truth["chords"], times))
        out.append(path)
        if progress and (i + 1) % 20 == 0:
            print("features: %d/%d songs (%.0f s)" % (i + 1, len(songs), time.time() - t0), file=sys.stderr)
    return out


def transpose(spec: np.ndarray, targets: np.ndarray, semitones: int):
    """Shift a spectrogram by whole semitones (zero-filled, not wrapped) and its root/bass labels with it."""
    shift = semitones * BINS_PER_SEMITONE
    out = np.zeros_like(spec)
    if shift > 0:
        out[:, shift:] = spec[:, :-shift]
    elif shift < 0:
        out[:, :shift] = spec[:, -shift:]
    else:
        out[:] = spec
    t = targets.copy()
    for col in (0, 2):
        sel = t[:, col] != NO_CHORD
        t[sel, col] = (t[sel, col] + semitones) % 12
    return out, t


COMPRESSION = 100.0  # features.log_freq_spectrogram's log(1 + 100 x)


def _linear(spec):
    return np.expm1(spec) / COMPRESSION


def _log(lin):
    return np.log1p(COMPRESSION * np.maximum(lin, 0.0)).astype(np.float32)


def augment_timbre(spec: np.ndarray, rng, frame_s: float = HOP_S) -> np.ndarray:
    """Recording-condition augmentation in the linear-magnitude domain, so the model meets more than three
    General-MIDI soundfonts: a smooth random EQ (three Gaussian bumps of +-9 dB on the pitch axis), room
    smear (a one-pole decay along time, up to ~0.3 s), distractor melodies (harmonic tones on random pitches
    that are not the chord's, like a voice or a lead line), and broadband hits (drums). Labels are unchanged.
    `frame_s` is the spectrogram's frame spacing; durations and decays are in seconds, so they scale with it."""
    n_frames, n_bins = spec.shape
    per = HOP_S / frame_s  # frames of this spectrogram per 0.1 s
    lin = _linear(spec)
    axis = np.arange(n_bins, dtype=np.float32)
    eq_db = np.zeros(n_bins, dtype=np.float32)
    for _ in range(3):
        centre, width = rng.uniform(0, n_bins), rng.uniform(8, 50)
        eq_db += rng.uniform(-9, 9) * np.exp(-0.5 * ((axis - centre) / width) ** 2)
    lin = lin * (10.0 ** (eq_db / 20.0))[None, :]
    if rng.random() < 0.5:
        a = rng.uniform(0.2, 0.7) ** (1.0 / per)
        out = lin.copy()
        for t in range(1, n_frames):
            out[t] = np.maximum(out[t], a * out[t - 1])
        lin = out
    level = float(np.percentile(lin.max(axis=1), 75)) if n_frames else 0.0
    if rng.random() < 0.6 and level > 0:
        t = 0
        while t < n_frames:
            dur = max(1, int(round(rng.integers(1, 8) * per)))
            if rng.random() < 0.7:
                pitch_bin = int(rng.integers(2 * 30, 2 * 66))  # MIDI 51..87
                amp = level * rng.uniform(0.2, 1.0)
                for h, k in enumerate((1, 2, 3, 4, 5)):
                    b = pitch_bin + int(round(24 * np.log2(k)))
                    if b < n_bins:
                        lin[t:t + dur, b] += amp / (1 + h) ** 1.2
            t += dur
    if rng.random() < 0.5 and level > 0:
        hits = rng.random(n_frames) < rng.uniform(0.05, 0.3) / per
        shape = rng.uniform(0.05, 0.4) * level * np.linspace(1.2, 0.3, n_bins, dtype=np.float32)
        lin[hits] += shape[None, :]
    return _log(lin)


def augment(spec, targets, rng):
    spec, targets = transpose(spec, targets, int(rng.integers(-6, 6)))
    if rng.random() < 0.8:
        spec = augment_timbre(spec, rng)
    gain = rng.uniform(0.7, 1.3)
    tilt = rng.uniform(-0.4, 0.4) * np.linspace(-1, 1, spec.shape[1], dtype=np.float32)
    spec = spec * gain * (1.0 + tilt)[None, :]
    spec = spec + rng.normal(0, rng.uniform(0, 0.1), spec.shape).astype(np.float32)
    return np.maximum(spec, 0).astype(np.float32), targets


def batches(files, batch, crop, rng, augment_data=True):
    """Endless random crops of `crop` frames from the cached songs."""
    data = [np.load(f) for f in files]
    data = [(d["spec"], d["targets"]) for d in data if len(d["targets"]) >= crop]
    while True:
        xs, ys = [], []
        for _ in range(batch):
            spec, tg = data[int(rng.integers(len(data)))]
            s = int(rng.integers(0, len(tg) - crop + 1))
            x, y = spec[s:s + crop], tg[s:s + crop]
            if augment_data:
                x, y = augment(x, y, rng)
            xs.append(x)
            ys.append(y)
        yield np.stack(xs), np.stack(ys)


def loss_fn(model, x, y):
    import torch.nn.functional as F

    root, quality, bass = model(x)
    l_root = F.cross_entropy(root.reshape(-1, 13), y[..., 0].reshape(-1))
    has_chord = y[..., 0].reshape(-1) != NO_CHORD
    q = quality.reshape(-1, len(QUALITY_CLASSES))[has_chord]
    l_quality = F.cross_entropy(q, y[..., 1].reshape(-1)[has_chord]) if has_chord.any() else root.sum() * 0
    l_bass = F.cross_entropy(bass.reshape(-1, 13), y[..., 2].reshape(-1))
    return l_root + l_quality + 0.5 * l_bass, (l_root.item(), l_quality.item(), l_bass.item())


def optimizer_step(model, opt, sched, loss, clip: float = 5.0) -> float:
    """One optimisation step on `loss` with gradient-norm clipping; returns the loss value."""
    import torch

    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    opt.step()
    sched.step()
    return loss.item()


def predict(model, spec: np.ndarray, change_penalty: float = 6.0, duration: float | None = None):
    """Chord segments of one song's spectrogram (frames, bins) at HOP_S seconds per frame."""
    import torch

    from .features import run_windowed

    model.eval()

    def run(x):
        with torch.no_grad():
            heads = model(torch.from_numpy(np.ascontiguousarray(x)[None]))
            return np.concatenate([torch.log_softmax(h[0], -1).numpy() for h in heads], axis=1)
    # 5-minute windows with 30 s of context each side: bounded memory on long files
    out = run_windowed(run, spec, int(300 / HOP_S), int(30 / HOP_S))
    root_lp, qual_lp, bass_lp = out[:, :13], out[:, 13:13 + len(QUALITY_CLASSES)], out[:, 13 + len(QUALITY_CLASSES):]
    path = viterbi(state_log_probs(root_lp, qual_lp), change_penalty)
    times = np.arange(len(spec)) * HOP_S
    return segments_from_path(path, times, HOP_S, bass_lp, duration)


def evaluate(model, set_dir: str, files: list[str], limit: int | None = None) -> dict:
    """mir_eval chord scores (duration-weighted over the songs) of the model on cached songs of a set."""
    import mir_eval

    songs = {s["id"]: s for s in load_index(set_dir)}
    totals, weight = {}, 0.0
    for f in files[:limit]:
        sid = os.path.basename(f)[:-4]
        with open(os.path.join(set_dir, songs[sid]["paths"]["json"]), encoding="utf-8") as fh:
            truth = json.load(fh)
        dur = truth["source"]["duration"]
        est = predict(model, np.load(f)["spec"], duration=dur)
        ref_i = np.array([[c["start"], c["end"]] for c in truth["chords"]])
        ref_l = [c["label"] for c in truth["chords"]]
        est_i = np.array([[c["start"], c["end"]] for c in est])
        est_l = [c["label"] for c in est]
        scores = mir_eval.chord.evaluate(ref_i, ref_l, est_i, est_l)
        for k in ("root", "majmin", "sevenths", "mirex", "thirds"):
            totals[k] = totals.get(k, 0.0) + float(scores[k]) * dur
        weight += dur
    return {k: round(v / weight, 4) for k, v in totals.items()} if weight else {}


def train(train_dir, out, valid_dir=None, epochs=30, steps_per_epoch=100, batch=16, crop=100, seed=0,
          lr=1e-3, threads=None, init=None, cache=None):
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    cache_root = cache or os.path.join(os.path.dirname(os.path.abspath(out)), ".cache")
    sets, train_files, valid_dir, valid_files = split_sets(
        train_dir, valid_dir, lambda d: cache_features(d, os.path.join(cache_root, os.path.basename(
            os.path.normpath(d)))))
    model = build_model()
    if init:  # fine-tune a trained checkpoint (same architecture) instead of starting afresh
        from safetensors.torch import load_file

        model.load_state_dict(load_file(init + ".safetensors"))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    from models.schedule import one_cycle
    sched = one_cycle(opt, lr, epochs * steps_per_epoch)
    gen = batches(train_files, batch, crop, rng)
    history = []
    t0 = time.time()
    for epoch in range(epochs):
        model.train()
        losses = []
        for _ in range(steps_per_epoch):
            x, y = next(gen)
            loss, parts = loss_fn(model, torch.from_numpy(x), torch.from_numpy(y))
            losses.append(optimizer_step(model, opt, sched, loss))
        val = evaluate(model, valid_dir, valid_files, limit=40) if (epoch + 1) % 5 == 0 or epoch == epochs - 1 \
            else {}
        history.append({"epoch": epoch + 1, "loss": round(float(np.mean(losses)), 4), "valid": val,
                        "elapsed_s": round(time.time() - t0, 1)})
        print("epoch %d loss %.4f %s (%.0f s)" % (epoch + 1, np.mean(losses), val, time.time() - t0),
              file=sys.stderr, flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, out + ".safetensors")
    import hashlib

    with open(out + ".safetensors", "rb") as fh:
        version = "0.1-" + hashlib.sha256(fh.read()).hexdigest()[:10]
    card = {"model": "chords", "version": version, "architecture": "CNN (4 conv) + BiGRU(96) + root/quality/bass heads",
            "parameters": int(sum(p.numel() for p in model.parameters())),
            "input": "log-frequency spectrogram, 22.05 kHz mono, 10 frames/s, 176 half-semitone bins from A0",
            "vocabulary": list(QUALITY_CLASSES), "decoding": "Viterbi over %d root x quality states" % N_STATES,
            "data": {"train": ",".join(os.path.abspath(d) for d in sets), "train_songs": len(train_files),
                     "train_set": [set_metadata(d) for d in sets],
                     "valid": os.path.abspath(valid_dir), "valid_songs": len(valid_files)},
            "training": {"epochs": epochs, "steps": epochs * steps_per_epoch, "batch": batch, "crop_frames": crop,
                         "lr": lr, "seed": seed, "seconds": round(time.time() - t0, 1),
                         "init": parent_card(init),
                         "augmentation": "transpose -6..+5 semitones; p=0.8 timbre (random EQ +-9 dB, room smear, "
                                         "distractor melodies, drum hits); gain 0.7-1.3, tilt +-0.4, noise"},
            "metrics_valid": history[-1]["valid"], "history": history, "licence": "MIT (Bandmate)"}
    with open(out + ".json", "w", encoding="utf-8") as fh:
        json.dump(card, fh, indent=1)
    with open(out + ".md", "w", encoding="utf-8") as fh:
        fh.write(model_card_markdown(card))
    return card


def parent_card(init, keys=("epochs", "steps", "lr", "seconds", "init")):
    """What a fine-tuned checkpoint started from, for its card: the parent's name, version, training data and the
    `keys` of its training section (None when trained afresh). Shared by the chord and live trainers."""
    if not init:
        return None
    try:
        with open(init + ".json", encoding="utf-8") as fh:
            parent = json.load(fh)
    except (OSError, ValueError):
        return {"checkpoint": os.path.basename(init)}
    return {"checkpoint": os.path.basename(init), "version": parent.get("version"),
            "train": parent.get("data", {}).get("train"),
            "training": {k: v for k, v in parent.get("training", {}).items() if k in keys}}


def split_sets(train_dir: str, valid_dir: str | None, cache) -> tuple[list, list, str, list]:
    """Training and validation files of comma-separated songbook sets: `cache(set_dir)` -> feature files.
    Without `valid_dir`, every tenth song of the first set is held out. Returns (sets, train_files, valid_dir,
    valid_files)."""
    sets = [d for d in train_dir.split(",") if d]
    per_set = [cache(d) for d in sets]
    if valid_dir:
        return sets, [f for files in per_set for f in files], valid_dir, cache(valid_dir)
    train_files = [f for i, f in enumerate(per_set[0]) if i % 10] + [f for files in per_set[1:] for f in files]
    return sets, train_files, sets[0], per_set[0][::10]


def set_metadata(set_dir: str) -> dict:
    """How a songbook set was made (from its index.json), so the card says how to make it again."""
    with open(os.path.join(set_dir, "index.json"), encoding="utf-8") as fh:
        index = json.load(fh)
    keys = ("songbook_version", "seed", "n", "split", "duration_target", "holdout_soundfont", "soundfonts", "kind",
            "collections")
    return {k: index.get(k) for k in keys if k in index or k in keys[:7]}


def model_card_markdown(card: dict) -> str:
    """The human-readable model card next to the weights."""
    d, t = card["data"], card["training"]
    lines = ["# Model card: %s %s" % (card["model"], card["version"]), "",
             "- Architecture: %s (%d parameters)" % (card["architecture"], card["parameters"]),
             "- Input: " + card["input"],
             "- Output vocabulary: roots x {%s}, bass, no-chord; %s" % (", ".join(card["vocabulary"]),
                                                                         card["decoding"]),
             "- Data: %d songbook songs from %s (validation: %d songs from %s). The songbook is synthetic "
             "(MMA grooves, FluidSynth soundfonts); splits share no groove or progression with the test split."
             % (d["train_songs"], d["train"], d["valid_songs"], d["valid"]),
             "- Songbook set: %s" % json.dumps(d.get("train_set", {})),
             ] + (["- Pseudo-labelled polyphony (`bandmate songbook polyphony`): Palestrina and Bach chorale scores "
                   "from music21's corpus, none of the 68 the real-music benchmark analyses, rendered with random "
                   "tempi, timbres and the training soundfonts; their chord labels are Bandmate's symbolic analyser's "
                   "reading of the notes (a teacher, not an expert annotation)"]
                  if any(isinstance(x, dict) and x.get("kind") == "pseudo-labelled polyphony"
                         for x in d.get("train_set", [])) else []) + [
             "- Training: %d epochs, %d steps, batch %d, crops of %d frames, lr %g, seed %d, %.0f s on CPU; "
             "augmentation: %s" % (t["epochs"], t["steps"], t["batch"], t["crop_frames"], t["lr"], t["seed"],
                                   t["seconds"], t["augmentation"]),
             "- Fine-tuned from: %s" % json.dumps(t["init"]) if t.get("init") else "- Trained from scratch",
             "- Validation metrics (mir_eval, duration-weighted): %s" % json.dumps(card["metrics_valid"]),
             "- Licence: " + card["licence"],
             "- Limits: trained on synthetic General-MIDI renderings only; real recordings (voice, distortion, "
             "dense mixes) are out of its training distribution."]
    if card.get("reproduce"):
        lines.append("- Reproduce: `%s`" % card["reproduce"])
    lines.append("")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="bandmate train chords", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", required=True, help="songbook set(s) to train on, comma-separated (index.json)")
    ap.add_argument("--valid", help="songbook set to validate on (default: every tenth training song)")
    ap.add_argument("--out", required=True, help="checkpoint path without extension")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--steps", type=int, default=100, help="steps per epoch")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--crop", type=int, default=100, help="frames per training example (10 per second)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--init", help="checkpoint (path without extension) to fine-tune instead of starting afresh")
    ap.add_argument("--cache", help="feature cache folder (default: .cache beside --out)")
    args = ap.parse_args(argv)
    card = train(args.train, args.out, args.valid, args.epochs, args.steps, args.batch, args.crop, args.seed,
                 args.lr, args.threads, init=args.init, cache=args.cache)
    print(json.dumps(card["metrics_valid"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
