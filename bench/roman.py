"""`bandmate bench roman`: the symbolic analyser against music21's expert RomanText analyses.

    python -m bench.cli roman [--limit N] [--collection bach|monteverdi] [--out-dir DIR] [--cache FILE]
        [--model cv|net|hybrid|rules|shipped] [--folds K] [--steps N] [--fit PATH] [--extra DIR] [--json]

The set: every RomanText analysis in music21's corpus with a matching score (`models.songbook.corpus.piece_list`:
20 Bach chorales, 48 Monteverdi madrigals). The analyser sees only the score's notes (pitch, onset, duration in
quarter notes, as a Live clip would send them): no meter, no key signature, no part names. Scores printed in
another key than the analysed edition are transposed to the analysis' key first (`corpus.transposition`), as the
songbook corpus does. Alignment, shared with the songbook corpus: overfull measures whose surplus is rests
(duplicated whole-bar rests in 24 madrigal files) are trimmed so the voices stay together
(`corpus.repair_overfull_measures`); numerals sit at their measure's offset in the score
(`corpus.aligned_numerals`), moved by whole bars where the analysis numbers against another edition and whole
passages agree better further on (`corpus.content_alignment`: madrigals 4.1 and 4.2 skip written-out repeats).
Each piece's `root_sounding` (share of scored quarters whose annotated root sounds) is the alignment check.

Comparison, per quarter note of the score (frame [q, q+1) is scored by the labels active at q; quarters before
the first numeral or in measures the analysis lacks are left out). Every score here is notated in 4/4 or 3/4
(music21's time signatures: 65 x 4/4, 5 x 3/4 over the 68 pieces), so a quarter note is the beat and this is a
per-beat comparison:
- key: tonic pitch class and mode (major/minor) equal to the annotated local key.
- root: chord root pitch class equal. quality: the chord's pitch-class set relative to its root equal (Harte
  quality; annotated chords outside the vocabulary, e.g. augmented sixths, `[no3]` dyads, can never match).
  inversion: the bass's position in the chord (root, 3rd, 5th, 7th) equal.
- RN (full Roman numeral): key AND root AND quality AND inversion all correct, i.e. the same chord on the same
  degree of the same key with the same bass. This follows the "RN" metric of AugmentedNet (Napoles Lopez,
  Gotham & Fujinaga 2021) and Micchi et al. (2020), where a Roman numeral is correct only when key, degree,
  quality and inversion all are. One difference: degrees here are compared as pitch classes in the key, so an
  applied chord and its diatonic respelling (V/V vs II in major) count as the same numeral.
- RN|key: root, quality and inversion correct, whatever the key (the chord would be the right numeral in the
  annotated key).
Accuracies are shares of scored quarters, pooled over pieces (per collection and overall); the mean over
pieces is reported beside them.

The model: the analyser's template scores are rules; its key profiles and chord-in-key priors are counted from
annotated pieces (`fit_harmony_model`). With `--model cv` (default) they are fitted per fold of a piece-level
k-fold cross-validation, so every number comes from pieces the tables never saw; `--model net` trains the neural analyser
(`models/analysis/symbolic_net.py`) per fold on the same folds instead; `--model hybrid` trains the net and
fits the tables per fold and analyses with the net's keys and the templates' chords (analyze_midi's default); `--model rules` uses the rule
tables; `--model shipped` the committed checkpoint (fitted on all 68 pieces, so in-sample). With `--extra DIR` (a
When-in-Rome checkout, `load_extra`) the nets of `--model net|hybrid` also train, in every fold, on its OpenScore
Lieder songs, its Bach chorales other than the 20 test chorales and their tunes and (with `--extra-scores DIR`, a Chorale-Corpus/Goudimel_C checkout) its Goudimel psalms, none of them ever scored
(the shipped net is trained so). The few scalar
weights of `Params` were set by hand while looking at pooled cross-validated results (not nested), a mild
optimism the reader should keep in mind.

Results: OUT_DIR/roman.json and OUT_DIR/roman.md (OUT_DIR defaults to bench/results/roman/MODEL/, where MODEL
is the --model name and `cv` writes to tables/).
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import time

import numpy as np

from models.analysis.symbolic import (Params, analyze_midi, default_model, fit_harmony_model, notes_from_live,
                                      parse_key, rule_model)
from models.theory.harmony import QUALITIES, parse_harte, quality_from_intervals

DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "roman")  # + model folder
OUT_FOLDERS = {"cv": "tables"}
METRICS = ("key", "root", "quality", "inversion", "rn", "rn_given_key")


def load_piece(piece: dict) -> dict:
    """Notes (Live-style dicts, quarter notes) and per-quarter reference labels of one corpus piece.
    Reference: list over quarter notes of None or (key tonic pc, mode, root pc, quality or None, bass pc,
    figure, key label)."""
    from music21 import converter, corpus
    out = piece_of(corpus.parse(piece["score"]), converter.parse(piece["rntxt"], format="romanText"))
    return dict(out, id=piece["id"], collection=piece["collection"])


def piece_of(score, analysis, transpose: bool = True) -> dict:
    """`load_piece`'s fields (less id and collection) from a parsed score and its parsed RomanText analysis."""
    from models.songbook.corpus import (aligned_numerals, content_alignment, remove_chord_symbols,
                                        repair_overfull_measures, transposition)
    remove_chord_symbols(score)  # stray chord symbols in 43 madrigals are not notes of the piece
    trimmed = repair_overfull_measures(score)
    rns = aligned_numerals(score, analysis)
    end_q = float(score.highestTime)
    shift = transposition(score, rns, end_q)[0] if transpose else 0
    if shift:
        score = score.transpose(-shift)
    spans = content_alignment(score, rns, end_q)
    notes = []
    for el in score.flatten().notes:
        if float(el.quarterLength) <= 0:
            continue
        for p in el.pitches:
            notes.append({"pitch": int(p.midi), "start_time": float(el.offset), "duration": float(el.quarterLength),
                          "velocity": 100, "mute": False})
    ref = [None] * int(np.ceil(end_q))
    # Frame [f, f+1) takes the numeral whose span holds its start; frames no span holds stay unscored.
    for a, b, rn in spans:
        root = rn.root().pitchClass
        quality = quality_from_intervals({(p.pitchClass - root) % 12 for p in rn.pitches})
        label = (rn.key.tonic.pitchClass, "minor" if rn.key.mode == "minor" else "major", root, quality,
                 rn.bass().pitchClass, rn.figure, "%s:%s" % (rn.key.tonic.name.replace("-", "b"), rn.key.mode))
        for f in range(int(np.ceil(a - 1e-6)), min(len(ref), int(np.ceil(b - 1e-6)))):
            ref[f] = label
    written = {id(rn): q for q, rn in rns}
    moved = sum(1 for a, _, rn in spans if abs(a - written[id(rn)]) > 1e-6)
    return {"notes": notes, "end_q": end_q, "ref": ref, "transposed_semitones": -shift,
            "trimmed_measures": trimmed, "moved_numerals": moved, "root_sounding": _root_sounding(notes, ref)}


# ------------------------------------------------------------------------------------------------ extra data
# Training data beside the 68 test pieces: When-in-Rome (github.com/MarkGotham/When-in-Rome) hand-made RomanText
# analyses (analysis.txt, CC BY-SA 4.0) with their scores, only where the score is free to use:
# - the OpenScore Lieder Corpus: the score is the folder's score.mxl (CC0);
# - the Bach chorales of Early_Choral (Tymoczko's collection, analysed by Andrew Jones, proofread by Tymoczko and
#   Robb; the music21 corpus holds 20 of them, our test pieces): the score is the music21 corpus file its
#   remote.json names. A chorale whose BWV number or tune is one of the test chorales' is left out
#   (`test_chorales`), so no test piece and no other harmonisation of a test melody is trained on;
# - the Goudimel psalms of Early_Choral (analysed by Tymoczko with computer help): the score is the CC0 transcription
#   in a Chorale-Corpus/Goudimel_C checkout (`score_roots`; github.com/Chorale-Corpus/Goudimel_C), transposed to the
#   analysis' key (`piece_of`).
# Never the Monteverdi madrigals (the test repertoire), never analysis_automatic.rntxt (a model's output, not an
# annotation), never analyses under a non-commercial licence (DCML).
EXTRA_COLLECTIONS = ("OpenScore-LiederCorpus", "Early_Choral/Bach,_Johann_Sebastian/Chorales",
                     "Early_Choral/Goudimel,_Claude/Psalmes")
EXTRA_MIN_ROOT_SOUNDING = 0.6     # drop pieces whose analysis does not line up with the score


def test_chorales() -> set:
    """Riemenschneider numbers of the music21 corpus' 20 analysed chorales (the test pieces, `riemenschneiderNNN`);
    `extra_dirs` leaves out every chorale sharing a tune, a score or a BWV number with one of them."""
    import re
    from models.songbook.corpus import piece_list
    return {int(m.group(1)) for p in piece_list() if p["collection"] == "bach"
            for m in [re.search(r"riemenschneider(\d+)", p["id"])] if m}


def _remote(path: str) -> dict:
    try:
        with open(os.path.join(path, "remote.json"), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _score_source(path: str, files, score_roots, meta: dict) -> tuple | None:
    """Where the score of a When-in-Rome folder comes from: ('file', path, transpose) or ('corpus', music21 name),
    or None when it has no usable score (a Goudimel psalm whose transcription no root holds)."""
    if "score.mxl" in files:
        return ("file", os.path.join(path, "score.mxl"), False)
    if "Goudimel" in path:       # .../Psalmes/NNN -> ROOT/Pseaumes/NNN/Goudimel_NNN_modern.mxl (Goudimel_C)
        num = os.path.basename(path)
        for r in score_roots or ():
            cand = os.path.join(r, "Pseaumes", num, "Goudimel_%s_modern.mxl" % num)
            if os.path.exists(cand):
                return ("file", cand, True)
        return None
    name = meta.get("remote_score_music21")
    return ("corpus", os.path.splitext(name)[0]) if name else None


def _extra_sources(root: str, collections=EXTRA_COLLECTIONS, score_roots=()) -> list[tuple]:
    """[(folder, score source)] under ROOT/Corpus/<collection>/ holding analysis.txt and a usable score (see
    `_score_source`), music21 corpus chorales that are test pieces or share their tune, score or BWV number left
    out; sorted by folder."""
    out, chorales = [], []
    for coll in collections:
        for dirpath, _, files in os.walk(os.path.join(root, "Corpus", *coll.split("/"))):
            if "analysis.txt" not in files:
                continue
            meta = _remote(dirpath) if "remote.json" in files else {}
            src = _score_source(dirpath, files, score_roots, meta)
            if src is None:
                continue
            (chorales if src[0] == "corpus" else out).append((dirpath, src, meta))
    if chorales:
        numbers = test_chorales()
        test = [m for d, _, m in chorales if os.path.basename(d).isdigit() and int(os.path.basename(d)) in numbers]
        if len(test) != len(numbers):
            raise ValueError("found %d of the %d test chorales under %s: cannot leave them out safely"
                             % (len(test), len(numbers), root))
        fields = ("tune", "BWV", "remote_score_music21")
        banned = {(k, str(m[k])) for m in test for k in fields if m.get(k)}
        out += [c for c in chorales if not any((k, str(c[2].get(k))) in banned for k in fields)]
    return sorted((d, src) for d, src, _ in out)


def extra_dirs(root: str, collections=EXTRA_COLLECTIONS, score_roots=()) -> list[str]:
    """Folders under ROOT/Corpus/<collection>/ holding analysis.txt and a usable score (score.mxl, a music21 corpus
    chorale that is not a test piece, or a Goudimel transcription under `score_roots`), sorted."""
    return [d for d, _ in _extra_sources(root, collections, score_roots)]


def _load_extra_piece(args) -> dict:
    path, root, src = args
    import warnings
    from music21 import converter, corpus
    warnings.filterwarnings("ignore")
    ident = os.path.relpath(path, root).replace(os.sep, "/")
    try:
        analysis = converter.parse(os.path.join(path, "analysis.txt"), format="romanText")
        if src[0] == "file":
            out = piece_of(converter.parse(src[1]), analysis, transpose=src[2])
        else:
            out = piece_of(corpus.parse(src[1]), analysis, transpose=True)
    except Exception as e:  # noqa: BLE001 - a score music21 cannot read is skipped and reported, never fatal
        return {"id": ident, "error": "%s: %s" % (type(e).__name__, str(e)[:160])}
    parts = ident.split("/")
    return dict(out, id=ident, collection=parts[2] if parts[1] == "Early_Choral" else parts[1])


def load_extra(root: str, collections=EXTRA_COLLECTIONS, cache: str | None = None, workers: int | None = None,
               progress: bool = True, score_roots=()) -> list[dict]:
    """Extra labelled pieces (`load_piece`'s format) from a When-in-Rome checkout at `root`; pieces music21
    cannot read or whose annotated roots sound in under `EXTRA_MIN_ROOT_SOUNDING` of their quarters are left out
    (counted on stderr). Read from / written to the pickle `cache` when given."""
    def jobs():
        sources = _extra_sources(root, collections, score_roots)
        if not sources:
            raise FileNotFoundError("no score + analysis.txt pairs under %s/Corpus/{%s}: is it a When-in-Rome "
                                    "checkout?" % (root, ",".join(collections)))
        return [(d, root, src) for d, src in sources]

    from concurrent.futures import ProcessPoolExecutor
    with ProcessPoolExecutor(max(1, workers or min(4, os.cpu_count() or 1))) as pool:   # workers start on use
        data = _cached_pieces(cache, "extra ", jobs, _load_extra_piece, progress, mapper=pool.map)
    ok = [p for p in data if "error" not in p and (p["root_sounding"] or 0) >= EXTRA_MIN_ROOT_SOUNDING]
    if progress:
        print("extra pieces: %d kept, %d unreadable, %d misaligned" % (
            len(ok), sum("error" in p for p in data), len(data) - len(ok) - sum("error" in p for p in data)),
              file=sys.stderr)
    return ok


def _root_sounding(notes: list[dict], ref: list) -> float:
    """Share of labelled quarters in which the annotated root sounds: an alignment check (chorales ~0.97)."""
    n = len(ref)
    sounding = [set() for _ in range(n)]
    for x in notes:
        for f in range(int(np.floor(x["start_time"] + 1e-6)), min(n, int(np.ceil(x["start_time"] + x["duration"]
                                                                                  - 1e-6)))):
            sounding[f].add(x["pitch"] % 12)
    hits = [r[2] in sounding[f] for f, r in enumerate(ref) if r is not None]
    return round(float(np.mean(hits)), 4) if hits else 0.0


def _cached_pieces(cache: str | None, label: str, jobs, load, progress: bool, mapper=map) -> list:
    """The pieces pickled at `cache` when it exists, else `load` mapped over `jobs()` (by `mapper`, with a
    progress line) and pickled there."""
    if cache and os.path.exists(cache):
        with open(cache, "rb") as f:
            return pickle.load(f)
    todo, data, t0 = jobs(), [], time.time()
    for i, piece in enumerate(mapper(load, todo)):
        data.append(piece)
        if progress:
            print("\rloading %s%d/%d pieces (%.0f s)" % (label, i + 1, len(todo), time.time() - t0), end="",
                  file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    if cache:
        with open(cache, "wb") as f:
            pickle.dump(data, f)
    return data


def load_set(limit: int | None = None, collection: str | None = None, cache: str | None = None,
             progress: bool = True) -> list[dict]:
    """All pieces (see `load_piece`), read from / written to the pickle `cache` when given."""
    from models.songbook.corpus import piece_list
    data = _cached_pieces(cache, "", lambda: [p for p in piece_list() if p["score"]], load_piece, progress)
    if collection:
        data = [d for d in data if d["collection"] == collection]
    return data[: limit or None]


def _inversion(root: int, quality: str | None, bass: int) -> int:
    """Position of the bass among the chord's tones in stacked-thirds order (0 = root position); -1 when the
    bass is no chord tone or the quality is unknown."""
    if quality is None or quality not in QUALITIES:
        return -1
    ivs = sorted({i % 12 for i in QUALITIES[quality][0]})
    iv = (bass - root) % 12
    return ivs.index(iv) if iv in ivs else -1


def predicted_frames(desc: dict, n_frames: int) -> list:
    """Per quarter note: None or (key tonic pc, mode, root pc, quality, bass pc) from a song description."""
    out = [None] * n_frames
    for c in desc.get("chords", []):
        if c["label"] == "N":
            continue
        root, quality, bass = parse_harte(c["label"])
        tonic, mode = parse_key(c["key"])
        for f in range(int(round(c["start_beat"])), min(n_frames, int(round(c["end_beat"])))):
            out[f] = (tonic, mode, root, quality, bass)
    return out


def score_piece(piece: dict, desc: dict) -> dict:
    """Counts of correct quarters per metric for one piece."""
    pred = predicted_frames(desc, len(piece["ref"]))
    counts = {m: 0 for m in METRICS}
    n = 0
    for r, p in zip(piece["ref"], pred):
        if r is None:
            continue
        n += 1
        if p is None:
            continue
        key_ok = (r[0], r[1]) == (p[0], p[1])
        root_ok = r[2] == p[2]
        qual_ok = r[3] is not None and r[3] == p[3]
        inv_ok = _inversion(r[2], r[3], r[4]) == _inversion(p[2], p[3], p[4]) and r[4] == p[4]
        counts["key"] += key_ok
        counts["root"] += root_ok
        counts["quality"] += qual_ok
        counts["inversion"] += inv_ok
        counts["rn_given_key"] += root_ok and qual_ok and inv_ok
        counts["rn"] += key_ok and root_ok and qual_ok and inv_ok
    return {"id": piece["id"], "collection": piece["collection"], "frames": n, "correct": counts}


def summarise(rows: list[dict]) -> dict:
    """Pooled and per-piece-mean accuracies, overall and per collection."""
    out = {}
    groups = {"all": rows}
    for r in rows:
        groups.setdefault(r["collection"], []).append(r)
    for g, rs in groups.items():
        frames = sum(r["frames"] for r in rs)
        out[g] = {"pieces": len(rs), "frames": frames}
        for m in METRICS:
            out[g][m] = round(sum(r["correct"][m] for r in rs) / max(frames, 1), 4)
            out[g][m + "_piece_mean"] = round(float(np.mean([r["correct"][m] / max(r["frames"], 1) for r in rs])), 4)
    return out


def folds_of(data: list[dict], k: int) -> list[int]:
    """Fold index per piece: pieces dealt round-robin in corpus order, so every fold holds chorales and
    madrigals from across the books."""
    return [i % k for i in range(len(data))]


def evaluate(data: list[dict], model: str = "cv", folds: int = 5, params: Params | None = None,
             progress: bool = True, net_options: dict | None = None, extra: list | None = None,
             extra_shares: dict | None = None) -> tuple[list[dict], dict]:
    """Analyse every piece from its notes alone and score it; returns (per-piece rows, summary).
    `model`: 'cv' fits the key/chord tables (`fit_harmony_model`) on the other folds' pieces for each fold
    (piece-level k-fold cross-validation: no piece is analysed by a model that saw it), 'rules' uses the rule
    model, 'shipped' the committed checkpoint (fitted on all pieces: an optimistic, in-sample number); 'net' trains
    the neural analyser per fold, 'hybrid' the net (keys) and the tables (chords) per fold. `extra`: more
    labelled pieces (`load_extra`) the nets also train on in every fold (never scored; the tables stay fitted on
    the folds alone), each collection at its `extra_shares` of the crops (default `symbolic_net.EXTRA_SHARES`)."""
    params = params or Params()
    fold = folds_of(data, folds) if model in ("cv", "net", "hybrid") else [0] * len(data)
    examples = [(notes_from_live(p["notes"]), p["ref"]) for p in data]
    if model in ("net", "hybrid"):
        from models.analysis.symbolic_net import (NetKeyTemplates, SymbolicNet, examples_of, extra_pools,
                                                   train_ensemble)
        net_examples = examples_of(data)
        net_options = dict(net_options or {}, extra=extra_pools(extra, extra_shares) if extra else None)
    rows = []
    for k in sorted(set(fold)):
        if model == "cv":
            fitted = fit_harmony_model([e for e, f in zip(examples, fold) if f != k], params)
        elif model in ("net", "hybrid"):
            t0 = time.time()
            fitted = SymbolicNet(train_ensemble([e for e, f in zip(net_examples, fold) if f != k], **net_options))
            if model == "hybrid":
                fitted = NetKeyTemplates(fitted, fit_harmony_model([e for e, f in zip(examples, fold) if f != k],
                                                                   params))
            if progress:
                print("fold %d: net trained in %.0f s" % (k, time.time() - t0), file=sys.stderr, flush=True)
        else:
            fitted = rule_model() if model == "rules" else default_model()
        for piece, f in zip(data, fold):
            if f != k:
                continue
            desc = analyze_midi(piece["notes"], tempo=60.0, params=params, model=fitted)
            row = score_piece(piece, desc)
            row.update(fold=f, transposed_semitones=piece["transposed_semitones"],
                       root_sounding=piece.get("root_sounding"), trimmed_measures=piece.get("trimmed_measures"),
                       moved_numerals=piece.get("moved_numerals"))
            rows.append(row)
            if progress:
                print("\ranalysed %d/%d pieces" % (len(rows), len(data)), end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    rows.sort(key=lambda r: r["id"])
    return rows, summarise(rows)


MODEL_TEXT = {"cv": "key/chord tables fitted by piece-level %d-fold cross-validation (each piece analysed by "
                    "tables counted from the other folds only)",
              "net": "the neural analyser (`models/analysis/symbolic_net.py`) trained by piece-level %d-fold "
                     "cross-validation (each piece analysed by a net trained on the other folds only)",
              "hybrid": "the neural analyser's key head (an ensemble of `symbolic_net.MEMBERS` nets, each reading the "
                        "piece in the `symbolic_net.TTA_SHIFTS` transpositions, the tables' key profiles beside it) with the template analyser's chords joined by the nets' chord heads "
                        "(analyze_midi's default), nets and tables all trained by piece-level %d-fold "
                        "cross-validation",
              "rules": "rule tables (Krumhansl-Kessler key profiles, diatonic chord priors), nothing fitted",
              "shipped": "the committed checkpoint, fitted on ALL pieces: in-sample, optimistic"}


def add_extra_arguments(ap) -> None:
    """The extra-data options shared by `bench roman` and `python -m models.analysis.symbolic_net`."""
    ap.add_argument("--extra", metavar="DIR", help="a When-in-Rome checkout (git clone https://github.com/MarkGotham/"
                    "When-in-Rome): its lieder, Bach chorale (the test chorales and their tunes left out) and Goudimel "
                    "analyses join the nets' training, as the shipped checkpoint's do (`load_extra`)")
    ap.add_argument("--extra-scores", metavar="DIR", action="append", default=[],
                    help="a Chorale-Corpus/Goudimel_C checkout (git clone https://github.com/Chorale-Corpus/"
                    "Goudimel_C): the Goudimel psalms' scores (without it the psalms are left out)")
    ap.add_argument("--extra-cache", help="pickle of the parsed extra pieces (read if present, else written)")
    ap.add_argument("--extra-share", metavar="COLLECTION=SHARE", action="append", default=[],
                    help="share of the training crops from one extra collection (default symbolic_net.EXTRA_SHARES)")


def extra_from_args(args) -> tuple:
    """(extra pieces or None, crop shares per collection or None for the defaults) from `add_extra_arguments`."""
    extra = load_extra(args.extra, cache=args.extra_cache, score_roots=args.extra_scores) if args.extra else None
    shares = None
    if args.extra_share:
        from models.analysis.symbolic_net import EXTRA_SHARES
        shares = dict(EXTRA_SHARES, **{k: float(v) for k, v in (a.rsplit("=", 1) for a in args.extra_share)})
    return extra, shares


def write_report(rows: list[dict], summary: dict, out_dir: str, seconds: float, model: str = "cv",
                 folds: int = 5, extra: list | None = None, extra_shares: dict | None = None) -> None:
    """OUT_DIR/roman.json and OUT_DIR/roman.md."""
    os.makedirs(out_dir, exist_ok=True)
    text = MODEL_TEXT[model] % folds if "%d" in MODEL_TEXT[model] else MODEL_TEXT[model]
    shares = ""
    if extra and model in ("net", "hybrid"):
        from models.analysis.symbolic_net import collection_shares
        text += "; the nets also trained on %d When-in-Rome pieces (%d annotated quarters: %s), never scored" % (
            len(extra), sum(r is not None for p in extra for r in p["ref"]),
            ", ".join(sorted({p["collection"] for p in extra})))
        shares = "; shares of the training crops: " + ", ".join(
            "%s %.2f" % cs for cs in collection_shares({p["collection"] for p in extra}, extra_shares).items())
    with open(os.path.join(out_dir, "roman.json"), "w") as f:
        json.dump({"summary": summary, "model": model, "model_text": text, "folds": folds,
                   "extra_pieces": len(extra or []), "params": vars(Params()), "pieces": rows,
                   "seconds": round(seconds, 1)}, f, indent=1)
    heads = ("key", "root", "quality", "inversion", "rn_given_key", "rn")
    analyser = ("neural analyser (`models/analysis/symbolic_net.py`: dilated conv net, key Viterbi)"
                if model == "net" else "neural key finder + template chords (`symbolic_net.NetKeyTemplates`)"
                if model == "hybrid" else "analyser (`models/analysis/symbolic.py`: rule templates, Viterbi, "
                "key/chord tables)")
    lines = ["# Symbolic Roman numeral analysis vs music21's RomanText analyses", "",
             "Bandmate's symbolic " + analyser + " on the score notes alone, scored per quarter note against the expert analyses (see "
             "`bench/roman.py` for the exact comparison). RN = key, root, quality and inversion all correct "
             "(AugmentedNet's full-RN metric, "
             "degrees compared as pitch classes); RN|key = root, quality and inversion correct.", "",
             "Model: " + text + shares + ".", "", "Reproduce: `python -m bench.cli roman --model %s%s`" % (
                 model, " --extra When-in-Rome --extra-scores Goudimel_C" if extra and model in ("net", "hybrid")
                 else ""), "",
             "| set | pieces | quarters | key | root | quality | inversion | RN\\|key | RN |",
             "|---|---|---|---|---|---|---|---|---|"]
    for g in ("all", "bach", "monteverdi"):
        if g in summary:
            s = summary[g]
            lines.append("| %s | %d | %d | " % (g, s["pieces"], s["frames"]) +
                         " | ".join("%.3f" % s[h] for h in heads) + " |")
    lines += ["", "Mean over pieces:", "", "| set | key | root | quality | inversion | RN\\|key | RN |",
              "|---|---|---|---|---|---|---|"]
    for g in ("all", "bach", "monteverdi"):
        if g in summary:
            lines.append("| %s | " % g + " | ".join("%.3f" % summary[g][h + "_piece_mean"] for h in heads) + " |")
    lines += ["", "Per piece (root sounding: share of scored quarters whose annotated root sounds in the score, "
              "an alignment check):", "", "| piece | quarters | root sounding | key | RN\\|key | RN |",
              "|---|---|---|---|---|---|"]
    for r in rows:
        n = max(r["frames"], 1)
        lines.append("| %s | %d | %.3f | %.3f | %.3f | %.3f |" % (
            r["id"], r["frames"], r.get("root_sounding", float("nan")), r["correct"]["key"] / n,
            r["correct"]["rn_given_key"] / n, r["correct"]["rn"] / n))
    lines += ["", "Analysis time: %.1f s for %d pieces." % (seconds, len(rows)), ""]
    with open(os.path.join(out_dir, "roman.md"), "w") as f:
        f.write("\n".join(lines))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="bandmate bench roman", description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=int, help="first N pieces only")
    ap.add_argument("--collection", choices=("bach", "monteverdi"))
    ap.add_argument("--out-dir", help="where roman.json and roman.md go (default bench/results/roman/MODEL/: tables/ for cv)")
    ap.add_argument("--cache", help="pickle of the parsed corpus (read if present, else written)")
    ap.add_argument("--model", choices=("cv", "net", "hybrid", "rules", "shipped"), default="cv",
                    help="cv: key/chord tables fitted per fold (default); net: the neural analyser "
                         "(models/analysis/symbolic_net.py) trained per fold; hybrid: the net's keys with the "
                         "tables' chords, both per fold (analyze_midi's default); rules; shipped: the committed "
                         "tables")
    ap.add_argument("--steps", type=int, default=None, help="training steps per member and fold (--model net, "
                    "hybrid; default symbolic_net.STEPS)")
    ap.add_argument("--members", type=int, default=None, help="ensemble members per fold (--model net, hybrid; "
                    "default symbolic_net.MEMBERS)")
    ap.add_argument("--folds", type=int, default=5, help="folds of the piece-level cross-validation")
    ap.add_argument("--fit", metavar="PATH", help="also fit the tables on all pieces and write them to PATH "
                    "(the shipped checkpoint is made this way)")
    add_extra_arguments(ap)
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = ap.parse_args(argv)
    args.out_dir = args.out_dir or os.path.join(DEFAULT_OUT, OUT_FOLDERS.get(args.model, args.model))
    data = load_set(args.limit, args.collection, args.cache)
    extra, shares = extra_from_args(args)
    t0 = time.time()
    if args.model in ("net", "hybrid"):
        import torch
        torch.set_num_threads(int(os.environ.get("BANDMATE_THREADS", "1")))
    rows, summary = evaluate(data, args.model, args.folds,
                             net_options={k: v for k, v in (("steps", args.steps), ("members", args.members))
                                          if v}, extra=extra, extra_shares=shares)
    write_report(rows, summary, args.out_dir, time.time() - t0, args.model, args.folds, extra=extra,
                 extra_shares=shares)
    if args.fit:
        fitted = fit_harmony_model([(notes_from_live(p["notes"]), p["ref"]) for p in data])
        fitted.description = ("fitted on %d music21 RomanText analyses (%s) by `python -m bench.cli roman "
                              "--fit`" % (len(data), ", ".join(sorted({p["collection"] for p in data}))))
        with open(args.fit, "w") as f:
            json.dump(fitted.to_json(), f)
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        with open(os.path.join(args.out_dir, "roman.md")) as f:
            print("\n".join(f.read().splitlines()[:14]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
