"""`bandmate train generation`: train the stem transformer on songbook sets.

    bandmate train generation --train data/sb-a,data/sb-b --out models/checkpoints/generation [--steps 3000]

Songs whose groove file hashes into the validation tenth are held out (whole grooves, so validation measures
generalisation to grooves never seen); the checkpoint with the best validation loss is kept. Training crops
8-bar windows at bar lines. The model is relative to key and chord, so every song already teaches all 12 keys.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time

import numpy as np

from .dataset import load_songbook, pack
from .model import StemTransformer, loss_fn, n_parameters, shift_prev

WINDOW_BARS = 8
LONG = ("root", "quality", "bass_iv", "next_root", "next_quality", "change", "mode", "pos", "section",
        "bar_in_section", "last_bar", "bass", "bass_dur", "bass_vel", "keys", "keys_dur", "keys_vel", "melody",
        "melody_dur", "melody_vel", "drum_vel")


def held_out(groove_file: str) -> bool:
    return int(hashlib.sha1(groove_file.encode()).hexdigest(), 16) % 10 == 0


def read_sets(dirs, log):
    songs = []
    for d in dirs:
        with open(os.path.join(d, "index.json"), encoding="utf-8") as fh:
            gfile = {s["id"]: s.get("groove_file", s.get("groove", "")) for s in json.load(fh)["songs"]}
        for sid, groove, cond, tok in load_songbook(d, split="train", progress=log):
            songs.append((sid, gfile.get(sid, groove), pack(cond, tok)))
        log("%s: %d songs so far" % (d, len(songs)))
    return songs


def density_priors(songs):
    """family -> stem -> probabilities of density classes 0 (absent), 1, 2, 3 over the training songs: the
    sampler draws a song's density from these when the request does not set one."""
    counts = {}
    for _, _, a in songs:
        fam = int(a["song"][0][3])
        for k, stem in enumerate(("drums", "bass", "keys", "melody")):
            c = counts.setdefault(fam, {}).setdefault(stem, [0, 0, 0, 0])
            c[int(a["song"][0][4 + k])] += 1
    from .tokens import FAMILIES

    out = {}
    for fam, per in counts.items():
        name = FAMILIES[fam] if fam < len(FAMILIES) else "other"
        out[name] = {stem: [round(x / max(1, sum(c)), 4) for x in c] for stem, c in per.items()}
    return out


def make_batch(items, rng, torch):
    """Random 8-bar windows (at bar lines) of the given packed songs, padded; returns (batch, mask)."""
    crops = []
    for a in items:
        spb = int(a["steps_per_bar"])
        n = len(a["root"])
        bars = n // spb
        length = min(WINDOW_BARS, bars) * spb
        start = int(rng.integers(0, bars - length // spb + 1)) * spb
        crops.append({k: v[start:start + length] for k, v in a.items() if k != "steps_per_bar"})
    n = max(len(c["root"]) for c in crops)
    batch = {}
    for k in crops[0]:
        arrs = []
        for c in crops:
            v = c[k]
            pad = [(0, n - len(v))] + [(0, 0)] * (v.ndim - 1)
            arrs.append(np.pad(v, pad))
        t = torch.from_numpy(np.stack(arrs))
        batch[k] = t.long() if k in LONG or k == "song" else t.float()
    mask = torch.zeros(len(crops), n, dtype=torch.bool)
    for i, c in enumerate(crops):
        mask[i, :len(c["root"])] = True
    return batch, mask


def feats_of(batch):
    return {k: batch[k] for k in ("root", "quality", "bass_iv", "next_root", "next_quality", "change", "mode",
                                  "pos", "section", "bar_in_section", "last_bar", "song")}


def evaluate(model, songs, torch, batch_size=32):
    rng = np.random.default_rng(0)
    model.eval()
    tot, parts_sum, k = 0.0, {}, 0
    with torch.no_grad():
        for i in range(0, len(songs), batch_size):
            batch, mask = make_batch([s[2] for s in songs[i:i + batch_size]], rng, torch)
            out = model(feats_of(batch), shift_prev(batch))
            loss, parts = loss_fn(out, batch, mask)
            tot += float(loss)
            for p, v in parts.items():
                parts_sum[p] = parts_sum.get(p, 0.0) + v
            k += 1
    model.train()
    return tot / max(k, 1), {p: round(v / max(k, 1), 4) for p, v in parts_sum.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(prog="bandmate train generation", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", required=True, help="comma-separated songbook directories (their train split)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "checkpoints", "generation"))
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=24)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--minutes", type=float, default=0, help="stop after this many minutes (0 = no limit)")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init", help="start from this checkpoint (path without .safetensors)")
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--d", type=int, default=192, help="model width")
    ap.add_argument("--layers", type=int, default=4)
    args = ap.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    dirs = [d for d in args.train.split(",") if d]
    songs = read_sets(dirs, log)
    if len(songs) < 10:
        log("bandmate train generation: need at least 10 songs, found %d" % len(songs))
        return 2
    from models.analysis.train_chords import set_metadata

    set_info = [dict(set_metadata(d), name=os.path.basename(os.path.normpath(d))) for d in dirs]
    priors = density_priors(songs)
    valid = [s for s in songs if held_out(s[1])]
    train = [s for s in songs if not held_out(s[1])]
    log("train %d songs, valid %d songs (held-out grooves)" % (len(train), len(valid)))
    model = StemTransformer(d=args.d, layers=args.layers, dropout=args.dropout)
    if args.init:
        from safetensors.torch import load_file

        model.load_state_dict(load_file(args.init + ".safetensors"))
        log("warm start from %s" % args.init)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    from models.schedule import one_cycle
    sched = one_cycle(opt, args.lr, args.steps, pct_start=0.05)
    rng = np.random.default_rng(args.seed)
    best, best_state, history = float("inf"), None, []
    t0 = time.time()

    def info(step):
        return {"density_priors": priors, "sets": [os.path.basename(os.path.normpath(d)) for d in dirs], "set_info": set_info,
                "train_songs": len(train), "valid_songs": len(valid), "steps": step,
                "steps_asked": args.steps, "batch": args.batch, "lr": args.lr, "seed": args.seed,
                "dropout": args.dropout, "weight_decay": args.weight_decay, "init": args.init, "history": history,
                "minutes": round((time.time() - t0) / 60, 1)}
    step = 0
    for step in range(1, args.steps + 1):
        idx = rng.integers(0, len(train), args.batch)
        batch, mask = make_batch([train[i][2] for i in idx], rng, torch)
        out = model(feats_of(batch), shift_prev(batch))
        loss, _ = loss_fn(out, batch, mask)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        over = args.minutes and time.time() - t0 > args.minutes * 60
        if step % args.eval_every == 0 or step == args.steps or over:
            vl, parts = evaluate(model, valid, torch)
            history.append({"step": step, "train_loss": round(float(loss), 4), "valid_loss": round(vl, 4),
                            "valid_parts": parts, "minutes": round((time.time() - t0) / 60, 2)})
            log("step %d train %.3f valid %.3f %s (%.1f min)" % (step, float(loss), vl, parts,
                                                                (time.time() - t0) / 60))
            if vl < best:
                best = vl
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                model_best = StemTransformer(**model.config)
                model_best.load_state_dict(best_state)
                save(model_best, args.out, dict(info(step), best_valid_loss=round(best, 4)))  # never lose the best
        if over:
            log("time budget reached")
            break
    model.load_state_dict(best_state)
    save(model, args.out, dict(info(step), best_valid_loss=round(best, 4)))
    log("saved %s.safetensors (valid loss %.3f)" % (args.out, best))
    return 0


def save(model, out, training):
    from safetensors.torch import save_file

    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, out + ".safetensors")
    with open(out + ".safetensors", "rb") as fh:
        digest = hashlib.sha256(fh.read()).hexdigest()[:10]
    card = {"model": "generation", "version": "0.1-" + digest, "architecture": "causal transformer over a step grid",
            "config": model.config, "parameters": n_parameters(model), "licence": "MIT", "training": training}
    with open(out + ".json", "w", encoding="utf-8") as fh:
        json.dump(card, fh, indent=1)
    with open(out + ".md", "w", encoding="utf-8") as fh:
        fh.write(card_markdown(card))
    return card


def card_markdown(card):
    t = card["training"]
    last = t["history"][-1] if t["history"] else {}
    best = min(t["history"], key=lambda h: h["valid_loss"]) if t["history"] else {}
    return "\n".join([
        "# Model card: generation %s" % card["version"], "",
        "- Architecture: %s, %s (%d parameters). Drums as 15 independent hit classes, bass relative to the "
        "chord root, melody relative to the local tonic, keys as voicings of the sounding chord; durations and "
        "velocities as classes." % (card["architecture"], ", ".join("%s=%s" % kv for kv in card["config"].items()),
                                    card["parameters"]),
        "- Conditioning per step: chord root/quality/bass relative to the local key, the next chord, steps to the "
        "change, mode, position in bar, section, bar in section, last bar of section; per song: grid (16ths, "
        "triplets, compound), beats per bar, tempo bucket, genre family (10), density per stem.",
        "- Data: the train split of the songbook sets %s (MMA grooves and progressions of the train split only; "
        "songs of one MMA groove file in every tenth hash bucket held out for validation: %d train songs, %d "
        "validation songs). Stem MIDI and the songbook's exact chords, keys, beats and sections; no audio. %s"
        % (", ".join(t["sets"]), t["train_songs"], t["valid_songs"], " ".join(
            "`%s`: `bandmate songbook make --n %s --seed %s --split %s --duration %s%s`." % (
                i["name"], i.get("n"), i.get("seed"), i.get("split"), i.get("duration_target"),
                " --midi-only" if i["name"].startswith("gen") else "") for i in t.get("set_info") or [])),
        "- Training: `bandmate train generation --train %s --steps %d --batch %d` (AdamW, one-cycle lr %g, "
        "8-bar windows at bar lines, seed %d); %d steps in %.0f minutes on 1 CPU thread; the checkpoint with the "
        "best validation loss is kept." % (",".join(t["sets"]), t.get("steps_asked", t["steps"]), t["batch"], t["lr"],
                                             t["seed"], t["steps"], t["minutes"]),
        "- Validation (held-out grooves), per step: total %.3f at step %s (drums %s, bass %s, keys %s, melody %s); "
        "last: %.3f at step %s." % (best.get("valid_loss", float("nan")), best.get("step"),
                                    *(best.get("valid_parts", {}).get(k) for k in ("drums", "bass", "keys", "melody")),
                                    last.get("valid_loss", float("nan")), last.get("step")),
        "- Evaluation: `bandmate bench generation` (bench/results/generation.md): request following, chord tones, "
        "scale consistency, CTnCTR, groove consistency and similarity, entropy, repetition, speed, beside MMA and "
        "the songbook reference.",
        "- Licence: MIT (weights and code). Training data is generated by MMA (GPL program; its output is ours) "
        "from progressions of common practice and music21's RomanText corpus (BSD).",
        "- Limits: trained on MMA's accompaniment styles only; melodies in the songbook are simple chord-tone/"
        "scale lines, so the melody stem is the weakest; no lyrics, no vocal timbre.", ""])


if __name__ == "__main__":
    sys.exit(main())
