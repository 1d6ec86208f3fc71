"""Training the live (causal, leading-edge) chord network on songbook sets.

    bandmate train live --train /tmp/data/train_h,/tmp/data/train_b --out models/checkpoints/live_chords
        [--steps 3000] [--batch 16] [--crop 300] [--lr 1e-3] [--seed 0] [--cache DIR]
    bandmate train live --tune --out models/checkpoints/live_chords [--cache DIR]

Every twentieth song of the last set is held out for validation (loss and frame accuracy; the best step's
weights are kept). Augmentation is the offline chord model's (train_chords.augment_timbre: random EQ, room
smear, distractor melodies, drum hits, scaled to 20 ms frames), applied identically to both windows, plus
transposition by -6..+5 semitones, gain, tilt and noise. Targets are the chord sounding at each frame's time
(the end of its windows), so the network is pushed to switch as soon as a new chord can be heard.

`--tune` then picks the online decoder's change penalty, hysteresis and back-dating on the same validation
songs (simulate(): the decoder over the network's outputs, as the tracker runs it) and writes them to the card.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time

import numpy as np

from .chords import NO_CHORD, QUALITY_CLASSES, frame_targets, state_log_probs
from .live_net import HOP_S, build_live_model, causal_features
from .train_chords import (augment_timbre, load_index, loss_fn, optimizer_step, parent_card, set_metadata,
                           transpose)


def cache_set(set_dir: str, cache_dir: str, progress=True) -> list[str]:
    """Causal features (float16) and frame targets of every song of a set, computed once."""
    from .features import MODEL_SR, load_mono

    os.makedirs(cache_dir, exist_ok=True)
    out, songs, t0 = [], load_index(set_dir), time.time()
    for i, song in enumerate(songs):
        path = os.path.join(cache_dir, song["id"] + ".npz")
        if not os.path.exists(path):
            feats = causal_features(load_mono(os.path.join(set_dir, song["paths"]["mix"]), MODEL_SR))
            with open(os.path.join(set_dir, song["paths"]["json"]), encoding="utf-8") as fh:
                truth = json.load(fh)
            times = np.arange(len(feats)) * HOP_S
            np.savez(path, feats=feats.astype(np.float16), targets=frame_targets(truth["chords"], times))
        out.append(path)
        if progress and (i + 1) % 50 == 0:
            print("live features %s: %d/%d (%.0f s)" % (os.path.basename(set_dir), i + 1, len(songs),
                                                         time.time() - t0), file=sys.stderr, flush=True)
    return out


def augment(feats: np.ndarray, targets: np.ndarray, rng):
    """feats (frames, 2, bins): both windows get the same transposition, timbre draw, gain and tilt."""
    semis = int(rng.integers(-6, 6))
    chans = []
    for ch in range(feats.shape[1]):
        spec, tg = transpose(feats[:, ch], targets, semis)
        chans.append(spec)
    targets = tg
    if rng.random() < 0.8:
        draw = int(rng.integers(1 << 31))  # one timbre draw, replayed on both windows
        chans = [augment_timbre(c, np.random.default_rng(draw), frame_s=HOP_S) for c in chans]
    gain = rng.uniform(0.7, 1.3)
    tilt = rng.uniform(-0.4, 0.4) * np.linspace(-1, 1, feats.shape[2], dtype=np.float32)
    noise = rng.uniform(0, 0.1)
    out = np.stack(chans, axis=1) * gain * (1.0 + tilt)[None, None, :]
    out = out + rng.normal(0, noise, out.shape).astype(np.float32)
    return np.maximum(out, 0).astype(np.float32), targets


def batches(data, batch, crop, rng, augment_data=True):
    data = [d for d in data if len(d[1]) >= crop]
    while True:
        xs, ys = [], []
        for _ in range(batch):
            feats, tg = data[int(rng.integers(len(data)))]
            s = int(rng.integers(0, len(tg) - crop + 1))
            x, y = feats[s:s + crop].astype(np.float32), tg[s:s + crop]
            if augment_data:
                x, y = augment(x, y, rng)
            xs.append(x)
            ys.append(y)
        yield np.stack(xs), np.stack(ys)


def change_weights(targets: np.ndarray, window: int, extra: float) -> np.ndarray:
    """Per-frame loss weights (..., frames): 1, plus `extra` on the `window` frames from each change of the
    target triad (root, or major/minor third): the frames a live network must get right soonest."""
    minor = np.isin(targets[..., 1], [QUALITY_CLASSES.index(k) for k in ("min", "min7", "dim", "hdim7", "dim7")])
    triad = targets[..., 0].astype(np.int64) * 2 + minor
    w = np.ones(triad.shape, dtype=np.float32)
    if extra <= 0 or window <= 0:
        return w
    changed = np.zeros(triad.shape, dtype=bool)
    changed[..., 1:] = triad[..., 1:] != triad[..., :-1]
    since = np.zeros(triad.shape, dtype=bool)
    for lag in range(window):  # frame t is within `window` frames of a change at t - lag
        since[..., lag:] |= changed[..., :triad.shape[-1] - lag]
    return w + extra * since


def weighted_loss(model, x, y, w):
    """The chord loss (train_chords.loss_fn's heads and weights) with per-frame weights w (batch, frames)."""
    import torch.nn.functional as F

    root, quality, bass = model(x)
    w = w.reshape(-1)
    norm = w.sum()
    l_root = (F.cross_entropy(root.reshape(-1, 13), y[..., 0].reshape(-1), reduction="none") * w).sum() / norm
    has_chord = y[..., 0].reshape(-1) != NO_CHORD
    if has_chord.any():
        lq = F.cross_entropy(quality.reshape(-1, len(QUALITY_CLASSES))[has_chord], y[..., 1].reshape(-1)[has_chord],
                             reduction="none")
        l_quality = (lq * w[has_chord]).sum() / w[has_chord].sum()
    else:
        l_quality = root.sum() * 0
    l_bass = (F.cross_entropy(bass.reshape(-1, 13), y[..., 2].reshape(-1), reduction="none") * w).sum() / norm
    return l_root + l_quality + 0.5 * l_bass


def validate(model, data, window: int = 0, change_weight: float = 0.0) -> dict:
    """Loss (weighted like training when `change_weight` > 0) and frame accuracies (root; majmin-level state) of
    whole validation songs, run causally."""
    import torch

    model.eval()
    losses, n, root_ok, state_ok = [], 0, 0, 0
    minor = {QUALITY_CLASSES.index(k) for k in ("min", "min7", "dim", "hdim7", "dim7")}
    with torch.no_grad():
        for feats, tg in data:
            x = torch.from_numpy(feats.astype(np.float32))[None]
            heads = model(x)  # one forward pass for the loss and the accuracies
            if change_weight > 0:
                loss = weighted_loss(lambda _x: heads, x, torch.from_numpy(tg)[None],
                                     torch.from_numpy(change_weights(tg[None], window, change_weight)))
            else:
                loss, _ = loss_fn(lambda _x: heads, x, torch.from_numpy(tg)[None])
            losses.append(loss.item() * len(tg))
            root, quality, _ = (torch.log_softmax(h[0], -1).numpy() for h in heads)
            pred = state_log_probs(root, quality).argmax(1)
            r, q = np.divmod(pred, len(QUALITY_CLASSES))
            r[pred == 12 * len(QUALITY_CLASSES)] = NO_CHORD
            root_ok += int(np.sum(r == tg[:, 0]))
            third_ok = np.array([(a in minor) == (b in minor) for a, b in zip(q, tg[:, 1])])
            state_ok += int(np.sum((r == tg[:, 0]) & ((tg[:, 0] == NO_CHORD) | third_ok)))
            n += len(tg)
    model.train()
    return {"loss": round(sum(losses) / n, 4), "root": round(root_ok / n, 4), "majmin_frames": round(state_ok / n, 4)}


def train(train_dirs: str, out: str, steps=3000, batch=16, crop=300, lr=1e-3, seed=0, hidden=160,
          eval_every=250, threads=None, progress=True, cache=None, channels=8, init: str | None = None,
          change_weight: float = 0.0, change_window_s: float = 0.3):
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    sets = [d for d in train_dirs.split(",") if d]
    cache_root = cache or os.path.join(os.path.dirname(os.path.abspath(out)), ".cache_live")
    files = [cache_set(d, os.path.join(cache_root, os.path.basename(os.path.normpath(d))), progress) for d in sets]
    valid_files = files[-1][::20]
    train_files = [f for fs in files[:-1] for f in fs] + [f for i, f in enumerate(files[-1]) if i % 20]

    def load(fs):
        return [(d["feats"], d["targets"]) for d in (np.load(f) for f in fs)]
    train_data, valid_data = load(train_files), load(valid_files)
    model = build_live_model(hidden, channels)
    if init:  # fine-tune a trained checkpoint (same architecture)
        from safetensors.torch import load_file

        model.load_state_dict(load_file(init + ".safetensors"))
    window = int(round(change_window_s / HOP_S))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    from models.schedule import one_cycle
    sched = one_cycle(opt, lr, steps, pct_start=0.1)
    gen = batches(train_data, batch, crop, rng)
    history, best, best_state, t0, losses = [], None, None, time.time(), []
    for step in range(1, steps + 1):
        x, y = next(gen)
        if change_weight > 0:
            loss = weighted_loss(model, torch.from_numpy(x), torch.from_numpy(y),
                                 torch.from_numpy(change_weights(y, window, change_weight)))
        else:
            loss, _ = loss_fn(model, torch.from_numpy(x), torch.from_numpy(y))
        losses.append(optimizer_step(model, opt, sched, loss))
        if step % eval_every == 0 or step == steps:
            val = validate(model, valid_data, window, change_weight)
            history.append({"step": step, "train_loss": round(float(np.mean(losses)), 4), "valid": val,
                            "elapsed_s": round(time.time() - t0, 1)})
            losses = []
            if best is None or val["loss"] < best["loss"]:
                best, best_state = dict(val, step=step), {k: v.detach().clone() for k, v in model.state_dict().items()}
                os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
                save_file({k: v.contiguous() for k, v in best_state.items()}, out + ".safetensors")  # resumable view
            if progress:
                print("step %d/%d train %.4f valid %s (%.0f s)" % (step, steps, history[-1]["train_loss"], val,
                                                                  time.time() - t0), file=sys.stderr, flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    save_file({k: v.contiguous() for k, v in best_state.items()}, out + ".safetensors")
    with open(out + ".safetensors", "rb") as fh:
        version = "0.1-" + hashlib.sha256(fh.read()).hexdigest()[:10]
    card = {"model": "live_chords", "version": version, "hidden": hidden, "channels": channels,
            "architecture": "per-frame conv over frequency (%d filters) + 2 dense layers + one-way GRU(%d) + "
                            "root/quality/bass heads; causal" % (channels, hidden),
            "parameters": int(sum(p.numel() for p in model.parameters())),
            "input": "causal log-frequency spectra every 20 ms at 22.05 kHz mono: windows of 4096 and 1024 samples "
                     "ending at the frame time, 176 half-semitone bands from A0, log(1 + 100 x)",
            "vocabulary": list(QUALITY_CLASSES),
            "data": {"train": ",".join(os.path.abspath(d) for d in sets), "train_songs": len(train_files),
                     "valid_songs": len(valid_files), "valid": "every 20th song of %s" % os.path.abspath(sets[-1]),
                     "train_set": [set_metadata(d) for d in sets]},
            "training": {"steps": steps, "batch": batch, "crop_frames": crop, "lr": lr, "seed": seed,
                         "seconds": round(time.time() - t0, 1), "best_step": best["step"],
                         "init": parent_card(init, ("steps", "lr", "seconds", "change_weight", "init")),
                         "change_weight": change_weight, "change_window_s": change_window_s,
                         "augmentation": "transpose -6..+5 semitones; p=0.8 timbre (random EQ +-9 dB, room smear, "
                                         "distractor melodies, drum hits), the same on both windows; gain 0.7-1.3, "
                                         "tilt +-0.4, noise"},
            "metrics_valid": best, "history": history, "licence": "MIT (Bandmate)"}
    with open(out + ".json", "w", encoding="utf-8") as fh:
        json.dump(card, fh, indent=1)
    with open(out + ".md", "w", encoding="utf-8") as fh:
        fh.write(model_card_markdown(card))
    return card


def is_change(prev_label: str, label: str) -> bool:
    """A ground-truth change the live metrics count: to a chord the major/minor level scores (not N, not dim or
    sus), different there from the one before (C:maj -> C:7 is not a change: the chord already shown stays
    right)."""
    import mir_eval

    if label in ("N", "X") or label == prev_label:
        return False
    if float(mir_eval.chord.majmin([label], [label])[0]) < 0:  # outside the major/minor vocabulary: not scored
        return False
    if prev_label in ("N", "X"):
        return True
    return 1.0 not in (float(mir_eval.chord.majmin([prev_label], [label])[0]),
                       float(mir_eval.chord.majmin([label], [prev_label])[0]))


def change_latencies(events: list[dict], ref: list[dict]):
    """(latencies in s of the detected true changes, misses): for each counted change (is_change), the first
    chord event ready (`ready_s`) from 50 ms before it to 0.5 s after the next change that names it at the
    major/minor level."""
    import mir_eval

    chords = [e for e in events if e["type"] == "chord"]
    out, misses = [], 0
    for prev, seg, nxt in zip(ref, ref[1:], ref[2:] + [None]):
        if not is_change(prev["label"], seg["label"]):
            continue
        limit = nxt["start"] if nxt is not None else seg["end"]
        hit = next((e for e in chords if seg["start"] - 0.05 <= e["ready_s"] < limit + 0.5
                    and float(mir_eval.chord.majmin([seg["label"]], [e["label"]])[0]) == 1.0), None)
        if hit is None:
            misses += 1
        else:
            out.append(max(0.0, hit["ready_s"] - seg["start"]))
    return out, misses


def percentile_with_misses(latencies, misses: int, q: float):
    """The q-th percentile (0..100, nearest rank) of latencies in s where every missed change counts as never
    named (infinite): None when the rank falls on a miss. A decoder that stays silent on hard changes cannot
    look fast this way."""
    values = sorted(latencies) + [float("inf")] * int(misses)
    if not values:
        return None
    v = values[max(0, int(np.ceil(q / 100.0 * len(values))) - 1)]
    return None if not np.isfinite(v) else float(v)


def timeline_majmin(ref: list[dict], segments: list[dict]) -> float:
    """mir_eval majmin of chord segments [{start, end, label}] against the reference segments."""
    import mir_eval

    return float(mir_eval.chord.evaluate(np.array([[c["start"], c["end"]] for c in ref]), [c["label"] for c in ref],
                                         np.array([[c["start"], c["end"]] for c in segments]),
                                         [c["label"] for c in segments])["majmin"])


def simulate(model, set_dir: str, cache_dir: str, ids: list[str], penalty: float, confirm: int, react_s: float,
             beat_clock: bool = False, logps: dict | None = None, min_prob: float = 0.0,
             on_beat: float | None = None, off_beat: float | None = None) -> dict:
    """The live tracker's decisions (LiveChordTracker._decide: OnlineChordDecoder and the dating of changes)
    over the network's outputs on whole songs, without streaming the audio again: latency from each true change
    to the frame that announces it (p50/p95), event timeline majmin, and emitted / true changes. `logps`
    caches the network outputs per song id."""
    from .features import MODEL_SR
    from .live import LiveChordTracker, timeline
    from .live_net import batch_log_probs

    songs = {s["id"]: s for s in load_index(set_dir)}
    lat, misses, emitted, true_changes, mm, weight = [], 0, 0, 0, 0.0, 0.0
    logps = {} if logps is None else logps
    for sid in ids:
        with open(os.path.join(set_dir, songs[sid]["paths"]["json"]), encoding="utf-8") as fh:
            truth = json.load(fh)
        if sid not in logps:
            feats = np.load(os.path.join(cache_dir, sid + ".npz"))["feats"].astype(np.float32)
            root, quality, bass = batch_log_probs(model, feats)
            logps[sid] = (state_log_probs(root, quality), bass)
        lp, bass = logps[sid]
        # a fixed key: the key tracker has no say in the chord decisions, and costs time here
        tr = LiveChordTracker(model, MODEL_SR, key="C:major", change_penalty=penalty, confirm=confirm,
                              react_s=react_s, min_prob=min_prob, on_beat=on_beat, off_beat=off_beat)
        if beat_clock and truth.get("beats") and truth.get("bpm"):
            b0 = truth["beats"][0]
            tr.push_clock(float(truth["bpm"]), b0["beat"] - b0["time"] * float(truth["bpm"]) / 60.0, True)
        events = []
        for k in range(len(lp)):
            for e in tr._decide(k, lp[k], bass[k]):
                e["ready_s"] = k * HOP_S
                events.append(e)
        dur = truth["source"]["duration"]
        ref = truth["chords"]
        mm += timeline_majmin(ref, timeline(events, dur)) * dur
        weight += dur
        emitted += sum(1 for e in events if e["type"] == "chord")
        true_changes += sum(1 for a, b in zip(ref, ref[1:]) if a["label"] != b["label"])
        found, missed = change_latencies(events, ref)
        lat += found
        misses += missed
    strict = percentile_with_misses(lat, misses, 95)
    return {"latency_p50_ms": round(float(np.percentile(lat, 50)) * 1000, 1) if lat else None,
            "latency_p95_ms": round(float(np.percentile(lat, 95)) * 1000, 1) if lat else None,
            "latency_p95_strict_ms": round(strict * 1000, 1) if strict is not None else None,
            "misses": misses, "majmin": round(mm / max(weight, 1e-9), 4),
            "changes_ratio": round(emitted / max(1, true_changes), 3)}


def tune(out: str, cache: str | None = None, penalties=(4.0, 8.0, 16.0, 32.0), confirms=(1, 2, 3),
         reacts=(0.04, 0.08, 0.12), min_probs=(0.0, 0.5, 0.6, 0.7), max_ratio: float = 1.15, progress=True,
         on_beats=(0.5, 0.75, 1.0), off_beats=(1.0, 1.5, 2.0, 3.0)) -> dict:
    """Choose the live decoder's settings on the validation songs (never the test split): among the settings
    whose emitted / true changes stay at or under `max_ratio` (the issue's 1.2 with a margin), the lowest p95
    latency counting missed changes as never named (percentile_with_misses), then the best majmin. The choice and the whole grid go into the model card ('decoder'), where the
    tracker reads its defaults."""
    from .live_net import load_live_model

    with open(out + ".json", encoding="utf-8") as fh:
        card = json.load(fh)
    sets = card["data"]["train"].split(",")
    cache_dir = os.path.join(cache or os.path.join(os.path.dirname(os.path.abspath(out)), ".cache_live"),
                             os.path.basename(os.path.normpath(sets[-1])))
    ids = [s["id"] for s in load_index(sets[-1])][::20]
    model = load_live_model(out)
    logps, grid = {}, []
    import itertools

    for penalty, confirm, react, min_prob in itertools.product(penalties, confirms, reacts, min_probs):
        m = simulate(model, sets[-1], cache_dir, ids, penalty, confirm, react, logps=logps, min_prob=min_prob)
        grid.append(dict(m, penalty=penalty, confirm=confirm, react_s=react, min_prob=min_prob))
        if progress:
            print("penalty %g confirm %d react %.2f min_prob %.2f: %s" % (penalty, confirm, react, min_prob, m),
                  file=sys.stderr, flush=True)
    ok = [g for g in grid if g["changes_ratio"] <= max_ratio and g["latency_p95_strict_ms"] is not None]
    if ok:
        best = min(ok, key=lambda g: (g["latency_p95_strict_ms"], -g["majmin"]))
    else:  # none is steady enough: the steadiest
        best = min(grid, key=lambda g: (g["changes_ratio"], g["latency_p95_ms"] or 1e9))
    # with the DAW's beat clock the penalty is scaled just after beats (on_beat) and elsewhere (off_beat): the
    # scales are chosen the same way, the songs' own beat grids standing in for the DAW's clock
    clock_grid = []
    for on_beat, off_beat in itertools.product(on_beats, off_beats):
        m = simulate(model, sets[-1], cache_dir, ids, best["penalty"], best["confirm"], best["react_s"],
                     beat_clock=True, logps=logps, min_prob=best["min_prob"], on_beat=on_beat, off_beat=off_beat)
        clock_grid.append(dict(m, on_beat=on_beat, off_beat=off_beat))
        if progress:
            print("beat clock: on_beat %.2f off_beat %.2f: %s" % (on_beat, off_beat, m), file=sys.stderr, flush=True)
    ok = [g for g in clock_grid if g["changes_ratio"] <= max_ratio and g["latency_p95_strict_ms"] is not None]
    clock_best = min(ok, key=lambda g: (g["latency_p95_strict_ms"], -g["majmin"])) if ok else \
        min(clock_grid, key=lambda g: (g["changes_ratio"], g["latency_p95_ms"] or 1e9))
    card["decoder"] = {"change_penalty": best["penalty"], "confirm": best["confirm"], "react_s": best["react_s"],
                       "min_prob": best["min_prob"],
                       "chosen_on": "%d validation songs (every 20th of %s): lowest p95 latency (misses counted as "
                                    "never named) with emitted / true changes <= %g" % (len(ids), sets[-1], max_ratio),
                       "valid": {k: best[k] for k in ("latency_p50_ms", "latency_p95_ms", "latency_p95_strict_ms",
                                                      "misses", "majmin", "changes_ratio")},
                       "grid": grid,
                       "beat_clock": {"on_beat": clock_best["on_beat"], "off_beat": clock_best["off_beat"],
                                      "valid": {k: clock_best[k] for k in ("latency_p50_ms", "latency_p95_ms",
                                                                           "latency_p95_strict_ms", "misses",
                                                                           "majmin", "changes_ratio")},
                                      "grid": clock_grid}}
    with open(out + ".json", "w", encoding="utf-8") as fh:
        json.dump(card, fh, indent=1)
    with open(out + ".md", "w", encoding="utf-8") as fh:
        fh.write(model_card_markdown(card))
    return card["decoder"]


def _without_grids(d):
    """A card section without its tuning grids (they stay in the JSON)."""
    if isinstance(d, dict):
        return {k: _without_grids(v) for k, v in d.items() if k != "grid"}
    return d


def model_card_markdown(card: dict) -> str:
    d, t = card["data"], card["training"]
    return "\n".join([
        "# Model card: %s %s" % (card["model"], card["version"]), "",
        "- Architecture: %s (%d parameters)" % (card["architecture"], card["parameters"]),
        "- Input: " + card["input"],
        "- Output: per 20 ms frame, root (12 + no-chord), quality {%s}, bass (12 + no-chord); decoded online by "
        "models/analysis/live.py (forward Viterbi score with a change penalty, hysteresis, beat-synchronous with a "
        "DAW clock)" % ", ".join(card["vocabulary"]),
        "- Data: %d songbook songs from %s; validation: %s (%d songs). Synthetic (MMA grooves, FluidSynth "
        "soundfonts FluidR3 GM and MuseScore General; TimGM6mb held out for the test split)."
        % (d["train_songs"], d["train"], d["valid"], d["valid_songs"]),
        "- Songbook sets: %s" % json.dumps(d.get("train_set", [])),
        "- Training: %d steps (best at %d), batch %d, crops of %d frames, lr %g, seed %d, %.0f s on CPU; "
        "augmentation: %s" % (t["steps"], t["best_step"], t["batch"], t["crop_frames"], t["lr"], t["seed"],
                              t["seconds"], t["augmentation"]),
        ("- Fine-tuned from %s for these steps, with the frames up to %.2f s after each chord change weighted %g "
         "times more (1 + change weight)" % (json.dumps(t["init"]), t.get("change_window_s", 0.3),
                                            1 + t.get("change_weight", 0.0))) if t.get("init")
        else "- Trained from scratch",
        "- Validation (causal, per frame, best step): %s" % json.dumps(card["metrics_valid"]),
        "- Decoder settings (`bandmate train live --tune`): %s" % (json.dumps(_without_grids(card["decoder"]))
                                                                   if card.get("decoder")
                                                                   else "not tuned: the tracker's built-in defaults"),
        "- Live numbers: `bandmate bench live` (bench/results/live.md).",
        "- Licence: " + card["licence"],
        "- Limits: synthetic General-MIDI renderings only. With no look-ahead, its frame-by-frame best triad is the "
        "new chord's on 80 % of changes 120 ms in and 87 % 200 ms in on the validation songs; on the 200 songbook "
        "test songs (a soundfont it never heard) 65 % and 79 % (the checkpoint before change weighting: 72 / 86 % "
        "and 58 / 75 %). The decoder's hysteresis adds to that (bench/results/live.md). It is the `latency: fast` "
        "engine, the daemon's default.", ""])


def main(argv=None):
    ap = argparse.ArgumentParser(prog="bandmate train live", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", help="songbook set(s), comma-separated (index.json); required unless --tune")
    ap.add_argument("--out", default="models/checkpoints/live_chords", help="checkpoint path without extension")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--crop", type=int, default=300, help="frames per example (50 per second)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--hidden", type=int, default=160)
    ap.add_argument("--channels", type=int, default=8, help="conv filters over frequency")
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--cache", help="feature cache folder (default: .cache_live beside --out)")
    ap.add_argument("--init", help="checkpoint (path without extension) to fine-tune instead of starting afresh")
    ap.add_argument("--change-weight", type=float, default=0.0,
                    help="extra loss weight on the frames just after each chord change (0: none)")
    ap.add_argument("--change-window", type=float, default=0.3, help="seconds after a change that --change-weight covers")
    ap.add_argument("--tune", action="store_true", help="only choose the decoder settings of the checkpoint at "
                                                          "--out on the validation songs (written to its card)")
    args = ap.parse_args(argv)
    if args.tune:
        print(json.dumps(_without_grids(tune(args.out, args.cache))))
        return 0
    if not args.train:
        ap.error("--train is required (or --tune)")
    card = train(args.train, args.out, args.steps, args.batch, args.crop, args.lr, args.seed, args.hidden,
                 args.eval_every, args.threads, cache=args.cache, channels=args.channels, init=args.init,
                 change_weight=args.change_weight, change_window_s=args.change_window)
    print(json.dumps(card["metrics_valid"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
