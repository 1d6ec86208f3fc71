"""`bandmate train analysis`: every trained part of the analysis, in order, from songbook sets.

    bandmate train analysis --train data/train_h,data/train_b [--polyphony data/poly] [--out-dir models/checkpoints]
        [--chord-epochs 16] [--beat-epochs 30] [--beat-minutes 35] [--threads 1]

1. the chord network  (models/analysis/train_chords.py; with --polyphony, then fine-tuned on the songbook plus
                      that pseudo-labelled part-writing set) -> OUT/chords.{safetensors,json,md}
2. the beat network   (models/analysis/train_beats.py)  -> OUT/beats.{safetensors,json,md}
3. the key scorer     (models/theory/key.py --fit)      -> models/theory/key_model.json
4. the tempo octave   (models/analysis/train_tempo_octave.py, after 1 and 2) -> OUT/tempo_octave.{json,md}
5. the live network   (models/analysis/train_live.py: from scratch, then fine-tuned with the frames just after chord
                      changes weighted up, then its decoder tuning) -> OUT/live_chords.{safetensors,json,md}
Each step prints its progress and writes its model card; run a step alone with
`bandmate train chords|beats|octave|live`.
"""
from __future__ import annotations

import argparse
import os
import sys


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="bandmate train analysis", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", required=True, help="songbook set(s), comma-separated")
    ap.add_argument("--out-dir", default=os.path.join("models", "checkpoints"))
    ap.add_argument("--chord-epochs", type=int, default=16)
    ap.add_argument("--polyphony", help="a `bandmate songbook polyphony` set: the chord network is fine-tuned on "
                                        "the training sets plus it (8 epochs)")
    ap.add_argument("--beat-epochs", type=int, default=30)
    ap.add_argument("--beat-minutes", type=float, default=35.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--live-steps", type=int, default=3000)
    ap.add_argument("--live-fine-tune-steps", type=int, default=1200,
                    help="steps of the change-weighted fine-tune of the live network (0: none)")
    ap.add_argument("--skip", default="", help="comma-separated steps to skip: chords,beats,key,octave,live")
    a = ap.parse_args(argv)
    skip = {s for s in a.skip.split(",") if s}
    threads = ["--threads", str(a.threads)]
    if "chords" not in skip:
        from . import train_chords

        print("train analysis: 1/5 chords", file=sys.stderr)
        out = os.path.join(a.out_dir, "chords")
        train_chords.main(["--train", a.train, "--out", out, "--epochs", str(a.chord_epochs)] + threads)
        if a.polyphony:
            first = out + "_base"
            for ext in (".safetensors", ".json", ".md"):
                os.replace(out + ext, first + ext)
            train_chords.main(["--train", a.train + "," + a.polyphony, "--out", out, "--init", first,
                               "--epochs", "8", "--lr", "5e-4"] + threads)
            for ext in (".safetensors", ".json", ".md"):
                os.remove(first + ext)
    if "beats" not in skip:
        from . import train_beats

        print("train analysis: 2/5 beats", file=sys.stderr)
        train_beats.main(["--train", a.train, "--out", os.path.join(a.out_dir, "beats"), "--epochs",
                          str(a.beat_epochs), "--max-minutes", str(a.beat_minutes), "--crop", "12"] + threads)
    if "key" not in skip:
        from models.theory import key

        print("train analysis: 3/5 key scorer", file=sys.stderr)
        key.main(["--fit"] + a.train.split(",") + ["--synth", "6000"])  # plus 6000 train-pool chord plans
    if "octave" not in skip:
        from . import train_tempo_octave

        print("train analysis: 4/5 tempo octave", file=sys.stderr)
        train_tempo_octave.main(["--train", a.train, "--out-dir", a.out_dir])
    if "live" not in skip:
        from . import train_live

        print("train analysis: 5/5 live chords", file=sys.stderr)
        out = os.path.join(a.out_dir, "live_chords")
        train_live.main(["--train", a.train, "--out", out, "--steps", str(a.live_steps)] + threads)
        if a.live_fine_tune_steps > 0:
            first = out + "_base"
            for ext in (".safetensors", ".json", ".md"):
                os.replace(out + ext, first + ext)
            train_live.main(["--train", a.train, "--out", out, "--init", first, "--steps",
                             str(a.live_fine_tune_steps), "--lr", "3e-4", "--change-weight", "2",
                             "--eval-every", "200"] + threads)
            for ext in (".safetensors", ".json", ".md"):
                os.remove(first + ext)
        train_live.main(["--tune", "--out", out])
    return 0


if __name__ == "__main__":
    sys.exit(main())
