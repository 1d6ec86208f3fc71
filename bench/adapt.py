"""`bandmate bench adapt`: does fine-tuning on your own songs through `bandmate dataset` help, and does it need
your labels? The chord network on songs of a sound it never trained on, three ways side by side.

    python -m bench.cli adapt --set data/tim60 [--train 40] [--epochs 3] [--steps 100] [--lr 5e-4] [--out-dir DIR]

The set is a songbook set with audio (make one in a sound the network never heard, e.g. `bandmate songbook make
--n 60 --seed 606 --split valid --soundfonts TimGM6mb --no-stems --duration 30 --out data/tim60`). Its first
`--train` songs play "your folder": each mix is put in a folder as a user would have it, once with its chords as
a `.lab` file beside it (your labels) and once without (the analysis labels itself), and `bandmate dataset`
turns each folder into a set. The shipped chord network is fine-tuned on each (`train_chords.train --init`, the
same settings for both) and all three networks read the remaining songs, scored with mir_eval (duration-weighted
root / majmin / sevenths / mirex).
Results: OUT_DIR/adapt.json and adapt.md (default bench/results/).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

from bench.report import markdown_table, write

DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
METRICS = ("root", "majmin", "sevenths", "mirex")


def user_folders(set_dir: str, songs: list[dict], root: str) -> dict:
    """{'labelled': folder, 'self': folder}: the songs' mixes as a user's files, with and without .lab chords."""
    out = {}
    for variant in ("labelled", "self"):
        folder = os.path.join(root, "folder_" + variant)
        os.makedirs(folder, exist_ok=True)
        for s in songs:
            mix = os.path.join(set_dir, s["paths"]["mix"])
            shutil.copyfile(mix, os.path.join(folder, s["id"] + os.path.splitext(mix)[1]))
            if variant == "labelled":
                with open(os.path.join(set_dir, s["paths"]["json"]), encoding="utf-8") as fh:
                    chords = json.load(fh)["chords"]
                with open(os.path.join(folder, s["id"] + ".lab"), "w", encoding="utf-8") as fh:
                    fh.writelines("%.6f %.6f %s\n" % (c["start"], c["end"], c["label"]) for c in chords)
        out[variant] = folder
    return out


def held_out_set(set_dir: str, index: dict, songs: list[dict], root: str) -> str:
    """A set of the held-out songs: the same index with absolute paths (the audio stays in `set_dir`)."""
    folder = os.path.join(root, "held_out")
    os.makedirs(folder, exist_ok=True)
    rows = [dict(s, paths={k: os.path.join(os.path.abspath(set_dir), v) if isinstance(v, str) else v
                           for k, v in s["paths"].items()}) for s in songs]
    with open(os.path.join(folder, "index.json"), "w", encoding="utf-8") as fh:
        json.dump(dict(index, songs=rows), fh)
    return folder


def run(set_dir: str, n_train: int = 40, epochs: int = 3, steps: int = 100, lr: float = 5e-4, batch: int = 16,
        work: str | None = None, log=None) -> dict:
    from models.analysis import train_chords as T
    from models.analysis.dataset import make_dataset
    from models.analysis.engine import CHORD_CHECKPOINT, load_chord_model

    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    with open(os.path.join(set_dir, "index.json"), encoding="utf-8") as fh:
        index = json.load(fh)
    songs = index["songs"]
    if len(songs) <= n_train:
        raise ValueError("%s has %d songs: --train %d leaves none to score" % (set_dir, len(songs), n_train))
    base = load_chord_model()
    if base is None:
        raise RuntimeError("no shipped chord network (bandmate train chords)")
    own = tempfile.TemporaryDirectory() if work is None else None
    root = work or own.name
    try:
        held = held_out_set(set_dir, index, songs[n_train:], root)
        files = T.cache_features(held, os.path.join(root, "cache_held_out"), progress=False)
        rows = {"shipped": T.evaluate(base, held, files)}
        log("adapt: shipped network on %d held-out songs: %s" % (len(files), rows["shipped"]))
        timing = {}
        for variant, folder in user_folders(set_dir, songs[:n_train], root).items():
            t0 = time.time()
            ds = os.path.join(root, "set_" + variant)
            make_dataset(folder, ds, log=lambda m: None)
            t1 = time.time()
            out = os.path.join(root, "net_" + variant)
            # every song trains (the held-out set is only read at the end; train() keeps its last epoch, never
            # choosing by it)
            T.train(ds, out, valid_dir=held, epochs=epochs, steps_per_epoch=steps, batch=batch, lr=lr,
                    init=CHORD_CHECKPOINT, cache=os.path.join(root, "cache_" + variant))
            rows[variant] = T.evaluate(load_chord_model(out), held, files)
            timing[variant] = {"dataset_s": round(t1 - t0, 1), "train_s": round(time.time() - t1, 1)}
            log("adapt: fine-tuned on %d songs (%s): %s" % (n_train, variant, rows[variant]))
    finally:
        if own is not None:
            own.cleanup()
    return {"set": os.path.abspath(set_dir), "train_songs": n_train, "held_out_songs": len(songs) - n_train,
            "settings": {"epochs": epochs, "steps": steps, "lr": lr, "batch": batch}, "scores": rows,
            "timing": timing}


ROW_NAMES = {"shipped": "shipped chord network",
             "labelled": "fine-tuned on the songs with your chords (.lab)",
             "self": "fine-tuned on the songs with the analysis' own labels"}


def to_markdown(result: dict) -> str:
    st = result["settings"]
    lines = ["# Fine-tuning on your own songs (`bandmate dataset`)", "",
             "Set `%s`: the first %d songs play a user's folder, the other %d are scored. Fine-tuning: `--init` the "
             "shipped chord network, %d epochs of %d steps, lr %g, batch %d. Written by `bandmate bench adapt`." % (
                 result["set"], result["train_songs"], result["held_out_songs"], st["epochs"], st["steps"],
                 st["lr"], st["batch"]), "",
             markdown_table(["network", *METRICS], [[ROW_NAMES.get(k, k), *("%.3f" % scores.get(m, float("nan"))
                                                                              for m in METRICS)]
                                                    for k, scores in result["scores"].items()])]
    lines += ["", "Time per variant (dataset / fine-tune, s): " + "; ".join(
        "%s %.0f / %.0f" % (k, v["dataset_s"], v["train_s"]) for k, v in result["timing"].items())]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="bandmate bench adapt", description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", required=True, help="a songbook set with audio, in a sound the network never heard")
    ap.add_argument("--train", type=int, default=40, help="songs that play the user's folder (the rest are scored)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--steps", type=int, default=100, help="steps per epoch")
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--out-dir", default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(int(os.environ.get("BANDMATE_THREADS", "2")))
    result = run(args.set, args.train, args.epochs, args.steps, args.lr, args.batch)
    md = to_markdown(result)
    write("adapt", result, md, args.out_dir)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
