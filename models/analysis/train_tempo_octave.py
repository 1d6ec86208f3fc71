"""Fitting the metrical choosers after the beat decoder on songbook sets: the tempo octave (tempo_octave.py)
and the bar length and phase (bar_choice.py).

    bandmate train octave --train /tmp/data/train_h,/tmp/data/train_b [--out-dir models/checkpoints]
        [--cache DIR] [--l2 0.01] [--half-weight 6] [--sim-share 0.5]

For every song: the beat network's activations, onset envelopes and the chord network's segments (cached per
set under --cache, about 0.4 s a song). Then
1. tempo octave: the candidate grids (x0.5, x2/3, x1, x1.5, x2, x3) of the first decoding; the right one is within
   4 % of the song's true tempo (songs where none is are left out); plus, for songs decoded at the right level,
   the candidates of simulated wrong-level decodings (`simulated_groups`, weighing --sim-share per song);
2. bars: with the fitted octave model applied, every (beats per bar, phase) over the final beats; the right one
   has the best downbeat F-measure against the truth (left out under 0.8).
Every tenth song is held out: the cards report tempo Acc1 and downbeat F there with and without each chooser;
then the weights are refitted on all songs.
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import time

import numpy as np


def collect_set(set_dir: str, cache_dir: str, progress=True) -> list[dict]:
    """Per song: id, truth (bpm, downbeats), activations (float16), onset envelopes and chord segments."""
    from .beats import activations, beat_features, onset_envelopes
    from .engine import default_models
    from .features import MODEL_SR, load_mono, log_freq_spectrogram
    from .train_chords import load_index, predict

    os.makedirs(cache_dir, exist_ok=True)
    path = os.path.join(cache_dir, os.path.basename(os.path.normpath(set_dir)) + ".v2.pkl")
    if os.path.exists(path):
        with open(path, "rb") as fh:
            return pickle.load(fh)
    models = default_models()
    out, songs, t0 = [], load_index(set_dir), time.time()
    for i, song in enumerate(songs):
        with open(os.path.join(set_dir, song["paths"]["json"]), encoding="utf-8") as fh:
            truth = json.load(fh)
        y = load_mono(os.path.join(set_dir, song["paths"]["mix"]), MODEL_SR)
        spec, _ = log_freq_spectrogram(y, MODEL_SR)
        chords = predict(models["chords"], spec, duration=len(y) / MODEL_SR)
        feats = beat_features(y)
        onsets, low = onset_envelopes(feats)
        out.append({"id": song["id"], "truth_bpm": float(truth["bpm"]), "downbeats": truth.get("downbeats") or [],
                    "meter": song.get("meter"), "family": song.get("family"),
                    "act": activations(models["beats"], feats).astype(np.float16),
                    "onsets": onsets.astype(np.float32), "low": low.astype(np.float32), "chords": chords})
        if progress and (i + 1) % 50 == 0:
            print("metrical features %s: %d/%d (%.0f s)" % (os.path.basename(set_dir), i + 1, len(songs),
                                                            time.time() - t0), file=sys.stderr, flush=True)
    with open(path, "wb") as fh:
        pickle.dump(out, fh)
    return out


def run_song(r: dict, octave, bars) -> tuple[dict, dict]:
    """(track_activations result, its collected candidates) of a collected song under the given models."""
    from .beats import track_activations

    col: dict = {}
    res = track_activations(r["act"].astype(np.float32), r["onsets"], r["low"], chords=r["chords"],
                            octave=octave, bars=bars, collect=col)
    return res, col


def downbeat_f(est, ref) -> float:
    """Downbeat F-measure (+-70 ms) without the first BEAT_TRIM_S seconds, as the beat trainer scores."""
    import mir_eval

    from .train_beats import BEAT_TRIM_S

    ref = mir_eval.beat.trim_beats(np.asarray(ref, dtype=float), BEAT_TRIM_S)
    est = mir_eval.beat.trim_beats(np.asarray(sorted(est), dtype=float), BEAT_TRIM_S)
    if len(ref) == 0:
        return 1.0 if len(est) == 0 else 0.0
    return float(mir_eval.beat.f_measure(ref, est, 0.07))


def octave_group(cands: list, truth_bpm: float):
    """(candidate features, index of the first candidate within 4 % of the true tempo), or None when no
    candidate is right or there is nothing to choose between."""
    ok = [i for i, c in enumerate(cands) if abs(c[1] / truth_bpm - 1.0) <= 0.04]
    return (np.stack([c[2] for c in cands]), ok[0]) if ok and len(cands) > 1 else None


def octave_groups(cols: list[dict], rows: list[dict]) -> list:
    groups = [octave_group(col.get("octave") or [], r["truth_bpm"]) for col, r in zip(cols, rows)]
    return [g for g in groups if g is not None]


def bar_groups(cols: list[dict], rows: list[dict]) -> list:
    from .bar_choice import positions_for

    out = []
    for col, r in zip(cols, rows):
        cands, times = col.get("bars") or [], col.get("times")
        if not cands:
            continue
        scores = [downbeat_f(times[positions_for(len(times), m, p) == 1], r["downbeats"]) for m, p, _ in cands]
        best = int(np.argmax(scores))
        if scores[best] >= 0.8:
            out.append((np.stack([c[2] for c in cands]), best))
    return out


def scores(rows: list[dict], octave, bars) -> dict:
    acc, dbf = [], []
    for r in rows:
        res, _ = run_song(r, octave, bars)
        acc.append(abs(res["bpm"] / r["truth_bpm"] - 1.0) <= 0.04 if res["bpm"] else False)
        dbf.append(downbeat_f(res["downbeats"], r["downbeats"]))
    return {"tempo_acc1": round(float(np.mean(acc)), 4), "downbeat_f": round(float(np.mean(dbf)), 4)}


HALF_WEIGHT = 6.0  # weight of the songs whose right level is half the decoder's (see main's --half-weight)


def weight_half(groups: list, weight: float) -> list:
    """The octave groups, weighted: those whose right candidate is the x0.5 level count `weight` times
    (rounded), the others once."""
    from .tempo_octave import FEATURES

    half, times = FEATURES.index("bias_x0.5"), max(1, int(round(weight)))
    return [(x, k, times if x[k][half] == 1.0 else 1) for x, k in groups]


SIM_SHARE = 0.5  # total weight of the simulated wrong-level decodings per rightly decoded song (--sim-share)
# how a decoder can miss the level: (name, the relation that undoes it, its phases)
SIMULATIONS = (("every_2nd", 2.0, 2), ("every_3rd", 3.0, 3), ("eighths", 0.5, 1), ("three_in_two", 2.0 / 3.0, 2),
               ("two_in_three", 1.5, 2))


def simulate(times: np.ndarray, kind: str, phase: int) -> np.ndarray:
    """The grid a decoder would find from the right beats `times` had it locked to another level: every second
    or third beat (from beat `phase`), the eighths, three beats in the time of two (from the beat or its
    offbeat), or two in the time of three (from beat `phase` % 2)."""
    from .tempo_octave import grid_for

    t = np.asarray(times, dtype=np.float64)
    if kind == "every_2nd":
        return t[phase % 2::2]
    if kind == "every_3rd":
        return t[phase % 3::3]
    if kind == "eighths":
        return grid_for(t, None, 2.0)
    if kind == "three_in_two":
        return grid_for(t, None, 1.5, 0.5 * (phase % 2))
    return grid_for(t, None, 2.0 / 3.0, float(phase % 2))


def simulated_groups(cols: list[dict], rows: list[dict], share: float) -> list:
    """Weighted octave groups from decodings the decoder did not make: for songs it decoded at the right level,
    the grids it would have found at a wrong one (every SIMULATIONS kind in each of its phases), weighing
    `share` in all per song, split evenly over the kinds. The songbook's training grooves rarely make the decoder
    lock to two or three beats, so without these the chooser never learns to undo it; the activations, onsets
    and chords stay the song's own."""
    from .beats import FPS
    from .tempo_octave import candidates

    out = []
    if share <= 0:
        return out
    for col, r in zip(cols, rows):
        first = col.get("first")
        if first is None or len(first[0]) < 8:
            continue
        times = np.asarray(first[0], dtype=np.float64)
        if abs(60.0 / float(np.median(np.diff(times))) / r["truth_bpm"] - 1.0) > 0.04:
            continue
        act = r["act"].astype(np.float32)
        for kind, _, phases in SIMULATIONS:
            for phase in range(phases):
                grid = simulate(times, kind, phase)
                if len(grid) < 4:
                    continue
                group = octave_group(candidates(grid, np.ones(len(grid), int), act[:, 1] + act[:, 2], act[:, 2],
                                                r["onsets"], r["chords"], FPS), r["truth_bpm"])
                if group is not None:
                    out.append(group + (share / len(SIMULATIONS) / phases,))
    return out


def fit_both(rows: list[dict], l2: float, half_weight: float = HALF_WEIGHT, sim_share: float = SIM_SHARE):
    from . import bar_choice, tempo_octave

    cols = [run_song(r, None, None)[1] for r in rows]
    groups = weight_half(octave_groups(cols, rows), half_weight) + simulated_groups(cols, rows, sim_share)
    octave = tempo_octave.fit(groups, l2)
    cols = [run_song(r, octave, None)[1] for r in rows]
    bars = tempo_octave.fit(bar_groups(cols, rows), l2, transform=lambda x: np.asarray(x, np.float64),
                            indicators=(0, 1, 2), names=bar_choice.FEATURES)
    return octave, bars


def main(argv=None) -> int:
    from . import tempo_octave

    ap = argparse.ArgumentParser(prog="bandmate train octave", description=__doc__, allow_abbrev=False,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", required=True, help="songbook set(s), comma-separated")
    ap.add_argument("--out-dir", default=os.path.dirname(tempo_octave.CHECKPOINT))
    ap.add_argument("--cache", default=os.path.join(os.path.dirname(tempo_octave.CHECKPOINT), ".cache_octave"))
    ap.add_argument("--l2", type=float, default=1e-2)
    ap.add_argument("--half-weight", type=float, default=HALF_WEIGHT,
                    help="count songs whose right level is half the decoder's this many times: the decoder "
                         "rarely doubles on the training grooves but does on unseen slow ones (chosen on a "
                         "songbook valid split: tempo Acc1 0.920 at 1, 0.947 at 6)")
    ap.add_argument("--sim-share", type=float, default=SIM_SHARE,
                    help="total weight per rightly decoded song of the simulated wrong-level decodings (every "
                         "second or third beat, eighths, 3:2 either way), which teach the chooser to undo a lock "
                         "the training grooves rarely cause (chosen on a songbook valid split: tempo Acc1 0.947 "
                         "at 0, 0.953 at 0.25 and 0.5, 0.940 at 1)")
    a = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    t0 = time.time()
    sets = [d for d in a.train.split(",") if d]
    rows = [r for d in sets for r in collect_set(d, a.cache)]
    held, rest = rows[::10], [r for i, r in enumerate(rows) if i % 10]
    oct_rest, bars_rest = fit_both(rest, a.l2, a.half_weight, a.sim_share)
    valid = {"songs": len(held), "decoder_only": scores(held, None, None),
             "with_octave": scores(held, oct_rest, None), "with_both": scores(held, oct_rest, bars_rest)}
    octave, bars = fit_both(rows, a.l2, a.half_weight, a.sim_share)
    version = "0.1-%s" % time.strftime("%Y%m%d")
    data = {"train": [os.path.abspath(d) for d in sets], "songs": len(rows), "half_weight": a.half_weight,
            "sim_share": a.sim_share}
    seconds = round(time.time() - t0, 1)
    os.makedirs(a.out_dir, exist_ok=True)
    for name, model, what in (
            ("tempo_octave", octave, "a conditional logit over six beat levels (x0.5, x2/3, x1, x1.5, x2, x3 of "
                                     "the bar-pointer decoding)"),
            ("bar_choice", bars, "a conditional logit over bar lengths (2, 3, 4 beats) and phases over the final "
                                 "beats")):
        card = dict(model, model=name, version=version, data=data, valid=valid, seconds=seconds,
                    licence="MIT (Bandmate)")
        with open(os.path.join(a.out_dir, name + ".json"), "w", encoding="utf-8") as fh:
            json.dump(card, fh, indent=1)
        with open(os.path.join(a.out_dir, name + ".md"), "w", encoding="utf-8") as fh:
            fh.write("\n".join([
                "# Model card: %s %s" % (name, version), "",
                "- What: %s; %d weights over the features %s (models/analysis/%s.py)." % (
                    what, len(card["features"]), ", ".join(card["features"]), name),
                "- Data: %d songbook songs from %s (synthetic: MMA grooves, FluidSynth soundfonts)."
                % (len(rows), ", ".join(data["train"])),
                "- Held out (every tenth song, fitted on the rest; %d songs): tempo Acc1 / downbeat F %.3f / %.3f "
                "from the decoder alone, %.3f / %.3f with the tempo octave, %.3f / %.3f with both choosers." % (
                    valid["songs"], valid["decoder_only"]["tempo_acc1"], valid["decoder_only"]["downbeat_f"],
                    valid["with_octave"]["tempo_acc1"], valid["with_octave"]["downbeat_f"],
                    valid["with_both"]["tempo_acc1"], valid["with_both"]["downbeat_f"]),
                "- Command: `bandmate train octave --train %s --half-weight %g --sim-share %g` (%.0f s this run; "
                "the networks' passes over the songs, about 0.4 s a song, are cached under --cache). Songs whose "
                "right level is half the decoder's count %g times: the decoder rarely doubles on the training "
                "grooves but does on unseen slow ones. Each rightly decoded song also gives the grids the decoder "
                "would have found at a wrong level (every second or third beat in each phase, the eighths, 3:2 "
                "either way), weighing %g in all: the training grooves rarely make it lock to two or three beats."
                % (",".join(sets), a.half_weight, a.sim_share, seconds, a.half_weight, a.sim_share),
                "- Licence: MIT (Bandmate).",
                "- Limits: it learns the songbook's conventions (quarter-note tactus, dotted quarters in 6/8 and "
                "12/8, chords changing on downbeats); on a real recording the 'right' level can be a matter of "
                "taste.", ""]))
    print(json.dumps(valid))
    return 0


if __name__ == "__main__":
    sys.exit(main())
