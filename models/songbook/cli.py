"""Command line: `python -m models.songbook.cli make ...`, `... corpus ...` and `... polyphony ...` (wired as
`bandmate songbook`)."""
from __future__ import annotations

import argparse
import os
import sys
import time


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bandmate songbook", description="Make the songbook: songs with exact ground "
                                "truth (MMA + FluidSynth), and the music21 RomanText real-music set.")
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make", help="generate N songs with stems, MIDI, JAMS and song descriptions")
    m.add_argument("--n", type=int, required=True, help="number of songs")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--out", required=True, help="output folder")
    m.add_argument("--split", choices=("train", "valid", "test"), default=None,
                   help="make songs of one split only (default: 80/10/10 by a hash of seed and index)")
    m.add_argument("--workers", type=int, default=None, help="parallel workers (default: number of cores)")
    m.add_argument("--engine", choices=("local", "ray"), default="local")
    m.add_argument("--duration", type=float, default=30.0, help="target song length, seconds")
    m.add_argument("--holdout-soundfont", default=None,
                   help="soundfont used by the test split only (FluidR3_GM, MuseScore_General, TimGM6mb)")
    m.add_argument("--soundfonts", default=None, help="comma-separated soundfont names to use (default: all installed)")
    m.add_argument("--no-stems", action="store_true", help="render the mix only (stem MIDI is still written)")
    m.add_argument("--midi-only", action="store_true", help="no audio at all: MIDI, stem MIDI and the truth "
                                                             "(training data for the stem generator; fast)")
    c = sub.add_parser("corpus", help="render music21's RomanText-analysed Bach chorales and Monteverdi madrigals")
    c.add_argument("--out", required=True)
    c.add_argument("--limit", type=int, default=None, help="only the first N pieces")
    c.add_argument("--bpm", type=float, default=80.0, help="quarter-note tempo for every piece")
    c.add_argument("--workers", type=int, default=None)
    c.add_argument("--soundfont", default=None, help="one soundfont for all pieces (default: rotate)")
    y = sub.add_parser("polyphony", help="render music21 chorales and Palestrina (not the analysed 68) with chord "
                                         "labels from Bandmate's symbolic analyser: training data for part-writing")
    y.add_argument("--out", required=True)
    y.add_argument("--n", type=int, default=160, help="number of pieces (half Palestrina, half Bach)")
    y.add_argument("--seed", type=int, default=5)
    y.add_argument("--workers", type=int, default=None)
    y.add_argument("--max-quarters", type=float, default=320.0, help="cut longer scores to this many quarter notes")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    t0 = time.time()
    try:
        if args.cmd == "make":
            from .factory import make_songbook
            if args.n < 1:
                raise RuntimeError("--n must be at least 1")
            entries = make_songbook(args.n, args.seed, args.out, split=args.split, workers=args.workers,
                                    engine=args.engine, duration=args.duration,
                                    holdout_soundfont=args.holdout_soundfont, stems=not args.no_stems,
                                    audio=not args.midi_only,
                                    soundfonts=args.soundfonts.split(",") if args.soundfonts else None)
            el = time.time() - t0
            size = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(args.out) for f in fs)
            print(f"{len(entries)} songs in {el:.1f} s ({len(entries) / el * 60:.1f} songs/min), "
                  f"{size / len(entries) / 1e6:.2f} MB per song -> {os.path.join(args.out, 'index.json')}",
                  file=sys.stderr)
        elif args.cmd == "polyphony":
            from .polyphony import make_set
            entries = make_set(args.out, args.n, args.seed, args.workers, args.max_quarters)
            print(f"{len(entries)} pieces in {time.time() - t0:.1f} s -> {os.path.join(args.out, 'index.json')}",
                  file=sys.stderr)
        else:
            from .corpus import make_corpus
            entries = make_corpus(args.out, limit=args.limit, bpm=args.bpm, workers=args.workers,
                                  soundfont=args.soundfont)
            print(f"{len(entries)} pieces in {time.time() - t0:.1f} s -> {os.path.join(args.out, 'index.json')}",
                  file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (RuntimeError, OSError, ValueError) as e:
        print(f"songbook: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
