"""`bandmate bench home-key`: the home key the symbolic path (MIDI files, Live clips) names, two ways side by side.

    python -m bench.cli home-key --set data/sb-test [--n 200] [--roman-cache FILE] [--no-roman] [--out-dir DIR]

Sets: the songbook split's MIDI files (truth: the song's key) and music21's 68 RomanText scores (truth: the
first annotated key; the shipped symbolic net trained on these scores, so that column is in-sample for the
decoded keys, never for the key scorer). Each piece is analysed once by `symbolic.analyze_midi`; two readings of
its home key are scored with the analysis bench's MIREX weighted key score (`bench.analysis.key_score`: a fifth
above or below 0.5, relative 0.3, parallel 0.2; until 2026-11-25 mir_eval's, which credits the fifth above only):
- held longest: the decoded local key covering the most quarter notes (the symbolic path's rule until
  2026-11-24);
- home_key: the chord-sequence key scorer over the decoded chords, among the decoded keys (`symbolic.home_key`,
  the default).
Results: OUT_DIR/home_key.json and .md (default bench/results/).
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import time

def held_longest(desc: dict) -> str | None:
    """The decoded local key covering the most quarter notes ('C:major')."""
    held = {}
    for r in desc.get("key_regions", []):
        held[r["key"]] = held.get(r["key"], 0.0) + r["end_beat"] - r["start_beat"]
    return max(held, key=held.get) if held else None


def score(ref: str, est: str | None) -> float:
    from bench.analysis import key_score
    return key_score(ref, est) if est else 0.0


def run_set(items, progress: bool = True) -> dict:
    """items: [(notes or MIDI path, reference 'C:major')] -> {method: [scores]}."""
    from models.analysis.symbolic import analyze_midi
    out = {"held_longest": [], "home_key": []}
    t0 = time.time()
    for i, (src, ref) in enumerate(items):
        desc = analyze_midi(src, tempo=60.0) if isinstance(src, list) else analyze_midi(src)
        out["held_longest"].append(score(ref, held_longest(desc)))
        out["home_key"].append(score(ref, desc["key"]["label"] if desc.get("key") else None))
        if progress:
            print("\r%d/%d (%.0f s)" % (i + 1, len(items), time.time() - t0), end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="bandmate bench home-key", description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", required=True, help="a songbook split (its songs/*/*.mid and .json)")
    ap.add_argument("--n", type=int, default=200, help="first N songs")
    ap.add_argument("--roman-cache", help="pickle of the parsed RomanText set (bench.roman.load_set)")
    ap.add_argument("--no-roman", action="store_true", help="skip the RomanText scores")
    ap.add_argument("--out-dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    args = ap.parse_args(argv)
    mids = sorted(glob.glob(os.path.join(args.set, "songs", "*", "*.mid")))[: args.n]
    if not mids:
        print("no songs under %s/songs" % args.set, file=sys.stderr)
        return 2
    items = []
    for p in mids:
        with open(p[:-4] + ".json") as f:
            items.append((p, json.load(f)["key"]["label"]))
    sets = {"songbook %s (%d songs)" % (os.path.basename(os.path.normpath(args.set)), len(items)): run_set(items)}
    if not args.no_roman:
        from bench.roman import load_set
        from models.theory.key import key_label
        data = load_set(cache=args.roman_cache)
        refs = []
        for p in data:
            first = next(r for r in p["ref"] if r is not None)
            refs.append((p["notes"], key_label(first[0], first[1])))
        sets["RomanText scores (%d, first annotated key)" % len(refs)] = run_set(refs)
    summary = {s: {m: {"weighted": round(sum(v) / len(v), 4), "exact": round(sum(x == 1.0 for x in v) / len(v), 4)}
                   for m, v in r.items()} for s, r in sets.items()}
    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, "home_key.json"), "w") as f:
        json.dump({"summary": summary, "set": args.set}, f, indent=1)
    lines = ["# Home key of the symbolic path (MIDI in)", "", "MIREX weighted key score, a fifth either way 0.5 (exact share in brackets); "
             "written by `bandmate bench home-key` (see bench/home_key.py).", "",
             "| set | key held longest | home_key (default) |", "|---|---|---|"]
    for s, r in summary.items():
        lines.append("| %s | %.3f (%.3f) | %.3f (%.3f) |" % (s, r["held_longest"]["weighted"], r["held_longest"]["exact"],
                                                           r["home_key"]["weighted"], r["home_key"]["exact"]))
    with open(os.path.join(args.out_dir, "home_key.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
