"""Key finding from chord segments (and optionally a chromagram): the global key and key regions.

Model
-----
Each chord segment i gets a log-likelihood under each of the 24 keys k = (tonic t, mode m):

    e_i(k) = d_i * ( W_PC     * mean_{p in pcs(i)} log P_m^pc((p - t) mod 12)
                   + W_CHORD  * log P_m^chord(family_i, (root_i - t) mod 12)
                   + W_CHROMA * sum_p c_i[p] log P_m^pc((p - t) mod 12) )

where d_i is the segment's duration in seconds (so a held chord counts more than a passing one), pcs(i) its
sounding pitch classes (bass included), family_i its quality family (maj, min, dom, dim, sus) and c_i the mean
chroma over the segment, normalised to sum 1 (only when a chromagram is given). Both profiles are chord-degree
statistics: how much chord duration, in songbook songs with annotated key regions, has a chord tone (P^pc) or a
root of a given family (P^chord) each number of semitones above the local tonic (see `derive_key_profiles`,
which recomputes them from any annotated songs). Unlike the Krumhansl-Kessler or Temperley pitch profiles, the
root-and-family profile tells C major from A minor, which share their seven notes: a minor chord on the tonic
is 39 % of minor-key harmony but a minor chord on the sixth degree only 9 % of major-key harmony, and a
dominant seventh sits on the fifth degree.

Key regions come from a Viterbi path over the chord sequence with 24 states: staying in a key costs nothing,
moving to another costs `MODULATION_PENALTY` (log units, per change). Regions shorter than `min_region_chords`
chords or `min_region_s` seconds are then merged into the neighbour that explains them better, so a single
borrowed or applied chord never becomes a modulation.

The global key is the song's home key, chosen by a learned, transposition-invariant scorer over the 24 keys
(`key_features`, weights in `key_model.json`). For a candidate key k (tonic t, mode m) the song is described
relative to t: the duration share of each (chord family, root interval) pair, of each bass interval and of each
chord-tone interval; the first chord's and the first four chords' (family, root interval); the (family, root
interval) share of the opening 15 % of the song (where the home key is stated: songs open at home); the share of
chord changes from root interval a to b (12 x 12) and of arrivals from a major or dominant chord a fifth above
(V -> I, V7 -> i, applied dominants); and the profile log-likelihood per second above. The score is w_m . phi_k;
a softmax over the 24 keys gives the confidence. w_major and w_minor are fitted by L2-regularised cross-entropy
(L-BFGS) on annotated songs (`fit_key_model`), and regenerated with

    python -m models.theory.key --fit /tmp/data/train /tmp/data/train_h --synth 6000

(`--synth N` adds N chord plans drawn by the songbook planner from its *train* pool of grooves and progressions,
without rendering audio; test-pool progressions are never used). Because every feature is relative to the
candidate tonic, transposing a song transposes its key (augmenting by transposition adds nothing). The
relative major / minor choice, the main error of the profile model (0.82 MIREX on the songbook test split), is
what the learned weights settle: a song's opening chords and its cadential arrivals tell C major with applied
dominants to vi from A minor. Without `key_model.json` the global key falls back to the profile rule: among
the region keys, the best mean log-likelihood per second plus `HOME_BONUS` times the duration share of the
first and the last region in that key. The regions are made consistent with the global key: a region whose
key is the global key's relative (same notes) takes the global key's name.
"""
from __future__ import annotations

import json
import os

import numpy as np

from .decoding import viterbi_change_penalty
from .harmony import QUALITIES, key_spelling, parse_harte, pc_of

MODES = ("major", "minor")

# Chord-degree statistics: share of chord-tone / root / bass duration at each interval above the local tonic
# (0 = tonic .. 11), per mode. Derived by `derive_key_profiles` from the songbook's `train` and `train_h` splits
# (620 songs, 1063 key regions; modal regions folded into major/minor: dorian/phrygian/aeolian -> minor,
# lydian/mixolydian -> major), rounded to 3 decimals.
PROFILE_PC = {
    "major": (0.215, 0.003, 0.092, 0.008, 0.159, 0.099, 0.008, 0.190, 0.005, 0.112, 0.022, 0.088),
    "minor": (0.191, 0.002, 0.100, 0.179, 0.007, 0.097, 0.003, 0.188, 0.057, 0.026, 0.117, 0.032),
}
# Root-and-quality profile: share of chord duration by (family, root interval above the tonic), family-major
# order FAMILIES = (maj, min, dom, dim, sus), 12 intervals each; same data and derivation as above. A dominant
# seventh on the fifth degree, or a minor chord on the tonic, is far more telling than its pitch classes alone.
PROFILE_CHORD = {
    "major": (0.296, 0.000, 0.002, 0.000, 0.003, 0.182, 0.001, 0.139, 0.003, 0.001, 0.007, 0.003,   # maj
              0.001, 0.000, 0.047, 0.000, 0.048, 0.007, 0.001, 0.003, 0.000, 0.088, 0.000, 0.000,   # min
              0.057, 0.000, 0.017, 0.000, 0.000, 0.015, 0.000, 0.053, 0.000, 0.005, 0.002, 0.000,   # dom
              0.000, 0.001, 0.001, 0.000, 0.000, 0.000, 0.002, 0.000, 0.000, 0.000, 0.000, 0.008,   # dim
              0.000, 0.000, 0.000, 0.000, 0.000, 0.000, 0.000, 0.005, 0.000, 0.000, 0.000, 0.000),  # sus
    "minor": (0.017, 0.005, 0.010, 0.060, 0.000, 0.012, 0.000, 0.066, 0.077, 0.000, 0.129, 0.000,
              0.386, 0.000, 0.010, 0.000, 0.000, 0.079, 0.000, 0.058, 0.000, 0.007, 0.000, 0.000,
              0.000, 0.000, 0.000, 0.000, 0.000, 0.038, 0.000, 0.014, 0.000, 0.000, 0.009, 0.000,
              0.000, 0.000, 0.008, 0.000, 0.001, 0.000, 0.000, 0.000, 0.000, 0.001, 0.000, 0.013,
              0.000, 0.000, 0.000, 0.000, 0.000, 0.000, 0.000, 0.000, 0.000, 0.000, 0.000, 0.000),
}
# Probability floor before taking logs: an interval never seen in training (a chromatic passing chord) costs
# log(0.004) ~ -5.5 nats instead of minus infinity.
PROFILE_FLOOR = 0.004
W_PC, W_CHORD, W_CHROMA = 1.0, 1.0, 1.0
MODULATION_PENALTY = 12.0  # log units per key change (a change must explain ~3 s of chords clearly better)
HOME_BONUS = 0.5           # weight of the opening/closing region share in choosing the global key
# Chord families for the root-and-quality profile: what a chord's quality says about its role in a key.
FAMILIES = ("maj", "min", "dom", "dim", "sus")
QUALITY_FAMILY = {"maj": "maj", "maj7": "maj", "maj6": "maj", "maj9": "maj", "maj(9)": "maj", "aug": "maj",
                  "min": "min", "min7": "min", "min6": "min", "min9": "min", "minmaj7": "min",
                  "7": "dom", "9": "dom", "7(b9)": "dom", "7(#9)": "dom", "sus4(b7)": "dom",
                  "dim": "dim", "dim7": "dim", "hdim7": "dim", "sus2": "sus", "sus4": "sus"}
_MODE_FOLD = {"major": "major", "minor": "minor", "ionian": "major", "aeolian": "minor", "dorian": "minor",
              "phrygian": "minor", "lydian": "major", "mixolydian": "major", "locrian": "minor", "maj": "major",
              "min": "minor"}


def key_label(tonic_pc: int, mode: str) -> str:
    """Harte-style key label with conventional spelling: (3, 'minor') -> 'Eb:minor'."""
    return "%s:%s" % (key_spelling(tonic_pc, mode)[0], mode)


def parse_key(label: str) -> tuple[int, str] | None:
    """(tonic pc, 'major'|'minor') of a key label 'Eb:minor', 'Eb minor', 'D:dorian'; None if unreadable."""
    if not label:
        return None
    parts = str(label).replace(":", " ").split()
    if len(parts) != 2:
        return None
    try:
        tonic = pc_of(parts[0])
    except (KeyError, IndexError):
        return None
    mode = _MODE_FOLD.get(parts[1].lower())
    return None if mode is None else (tonic, mode)


def _log_profiles() -> tuple[np.ndarray, np.ndarray]:
    """Log profiles rotated to all 24 keys (key index = mode * 12 + tonic): the pitch-class profile as (24, 12)
    indexed [key, pitch class], the root-and-quality profile as (24, families, 12) indexed [key, family, root]."""
    pc_rows = []
    for mode in MODES:
        prof = np.maximum(np.asarray(PROFILE_PC[mode], dtype=float), PROFILE_FLOOR)
        prof = np.log(prof / prof.sum())
        for tonic in range(12):
            pc_rows.append(np.roll(prof, tonic))  # row[p] = log P((p - tonic) mod 12)
    rows = []
    for mode in MODES:
        prof = np.maximum(np.asarray(PROFILE_CHORD[mode], dtype=float), PROFILE_FLOOR).reshape(len(FAMILIES), 12)
        prof = np.log(prof / prof.sum())
        for tonic in range(12):
            rows.append(np.roll(prof, tonic, axis=1))
    return np.array(pc_rows), np.array(rows)


_LOG_PC, _LOG_CHORD = _log_profiles()


def chord_table(chords: list[dict]) -> tuple[list[int], list[tuple[int, str, int]], np.ndarray, np.ndarray]:
    """Parse chord segments. Returns (indices of harmonic segments, their (root, quality, bass),
    starts and ends in seconds). 'N'/'X' and unparseable labels are skipped."""
    idx, parsed, starts, ends = [], [], [], []
    for i, c in enumerate(chords):
        try:
            p = parse_harte(str(c.get("label", "N")))
        except ValueError:
            p = None
        if p is None or float(c["end"]) <= float(c["start"]):
            continue
        idx.append(i)
        parsed.append(p)
        starts.append(float(c["start"]))
        ends.append(float(c["end"]))
    return idx, parsed, np.asarray(starts), np.asarray(ends)


def chord_emissions(parsed, durations, chroma=None, chroma_times=None, starts=None) -> np.ndarray:
    """Log-likelihood (n_chords, 24) of each chord under each key (see the module docstring), weighted by the
    chord's duration in seconds. `chroma` is (frames, 12), `chroma_times` its frame times in seconds."""
    n = len(parsed)
    e = np.zeros((n, 24))
    for i, (root, quality, bass) in enumerate(parsed):
        pcs = sorted({(root + iv) % 12 for iv in QUALITIES[quality][0]} | {bass})
        fam = FAMILIES.index(QUALITY_FAMILY.get(quality, "maj"))
        e[i] = W_PC * _LOG_PC[:, pcs].mean(axis=1) + W_CHORD * _LOG_CHORD[:, fam, root]
    if chroma is not None and chroma_times is not None and starts is not None and n:
        chroma = np.asarray(chroma, dtype=float)
        times = np.asarray(chroma_times, dtype=float)
        ends = starts + durations
        for i in range(n):
            sel = (times >= starts[i]) & (times < ends[i])
            if sel.any():
                c = chroma[sel].mean(axis=0)
                if c.sum() > 0:
                    e[i] += W_CHROMA * _LOG_PC @ (c / c.sum())
    return e * np.asarray(durations, dtype=float)[:, None]


def viterbi_keys(emissions: np.ndarray, penalty: float = MODULATION_PENALTY) -> np.ndarray:
    """Most likely key index (0..23) per chord under a 24-state HMM whose transitions cost `penalty` (log
    units) for any change of key and nothing for staying."""
    return viterbi_change_penalty(emissions, penalty)


def _runs(path) -> list[list[int]]:
    """[start, end (exclusive), key] runs of equal values."""
    runs = []
    for i, k in enumerate(path):
        if runs and runs[-1][2] == k:
            runs[-1][1] = i + 1
        else:
            runs.append([i, i + 1, int(k)])
    return runs


def _agree_with_home(runs, home: int) -> list[list[int]]:
    """Rename regions in the home key's relative (same seven notes, other mode) to the home key and merge
    equal neighbours, so key regions and the global key tell one story."""
    relative = (home + 9) % 12 + 12 if home < 12 else (home + 3) % 12
    out: list[list[int]] = []
    for a, b, k in runs:
        k = home if k == relative else k
        if out and out[-1][2] == k:
            out[-1][1] = b
        else:
            out.append([a, b, k])
    return out


MIN_REGION_CHORDS, MIN_REGION_S = 3, 4.0  # shorter key regions merge into a neighbour


def region_path(emissions, durations, penalty: float = MODULATION_PENALTY, min_chords: int = MIN_REGION_CHORDS,
                min_seconds: float = MIN_REGION_S) -> np.ndarray:
    """Key index per chord: Viterbi over the 24 keys, then short regions merged into a neighbour."""
    return merge_short_regions(viterbi_keys(emissions, penalty), emissions, durations, min_chords, min_seconds)


def merge_short_regions(path, emissions, durations, min_chords: int, min_seconds: float) -> np.ndarray:
    """Merge runs shorter than `min_chords` chords or `min_seconds` seconds into the neighbour key that gives
    them the higher log-likelihood, shortest first, until none is left (or only one region remains)."""
    path = np.asarray(path).copy()
    durations = np.asarray(durations, dtype=float)
    while True:
        runs = _runs(path)
        if len(runs) <= 1:
            return path
        short = [(durations[a:b].sum(), a, b, k, j) for j, (a, b, k) in enumerate(runs)
                 if b - a < min_chords or durations[a:b].sum() < min_seconds]
        if not short:
            return path
        _, a, b, _, j = min(short)
        cands = [runs[jj][2] for jj in (j - 1, j + 1) if 0 <= jj < len(runs)]
        path[a:b] = max(cands, key=lambda kk: emissions[a:b, kk].sum())


# ------------------------------------------------------------------------------------------------ learned scorer
KEY_MODEL_PATH = os.path.join(os.path.dirname(__file__), "key_model.json")
# Feature blocks of `key_features`, in order: name -> size. Shapes are (families, 12) or (12,) or (12, 12), all
# indexed by interval above the candidate tonic.
FEATURE_BLOCKS = (("chord_share", 60), ("bass_share", 12), ("pc_share", 12), ("first_chord", 60),
                  ("root_moves", 144), ("fifth_arrivals", 60), ("first_four", 60), ("opening_share", 60),
                  ("profile_loglik", 1), ("regions", 4), ("bias", 1))
OPENING_SHARE = 0.15  # fraction of the song's time read as its opening
_NF = len(FAMILIES)


def _block_offset(name: str) -> int:
    """Column where feature block `name` starts in a `key_features` row."""
    names = [b for b, _ in FEATURE_BLOCKS]
    return sum(n for _, n in FEATURE_BLOCKS[:names.index(name)])


def _family_index(quality: str) -> int:
    return FAMILIES.index(QUALITY_FAMILY.get(quality, "maj"))


def region_features(path, durations) -> np.ndarray:
    """(24, 4) per candidate key: the share of the song's time in key regions of that key, in regions of its
    relative (same notes, other mode), and whether the first and the last region are in that key. `path` is
    the region decoding's key index per chord."""
    d = np.asarray(durations, dtype=float)
    share = np.zeros(24)
    np.add.at(share, np.asarray(path, dtype=int), d / max(d.sum(), 1e-9))
    relative = np.concatenate([share[12 + (np.arange(12) + 9) % 12], share[(np.arange(12) + 3) % 12]])
    out = np.zeros((24, 4))
    out[:, 0], out[:, 1] = share, relative
    out[int(path[0]), 2] = 1.0
    out[int(path[-1]), 3] = 1.0
    return out


def key_features(parsed, durations, starts, loglik_per_s=None, path=None) -> np.ndarray:
    """Features (24, n_features) of a song under each candidate key (index = mode * 12 + tonic), see
    FEATURE_BLOCKS and the module docstring. `parsed` is [(root, quality, bass)], `durations` and `starts` in
    seconds; `loglik_per_s` (24,) is the profile log-likelihood per second and `path` the key-region decoding
    per chord (both computed from the chords when None)."""
    d = np.asarray(durations, dtype=float)
    starts = np.asarray(starts, dtype=float)
    w = d / max(d.sum(), 1e-9)
    fams = [_family_index(q) for _, q, _ in parsed]
    chord, bass, pcs = np.zeros((_NF, 12)), np.zeros(12), np.zeros(12)
    for (root, q, b), f, wi in zip(parsed, fams, w):
        chord[f, root] += wi
        bass[b] += wi
        tones = {(root + iv) % 12 for iv in QUALITIES[q][0]} | {b}
        for p in tones:
            pcs[p] += wi / len(tones)
    first = np.zeros((_NF, 12))
    first[fams[0], parsed[0][0]] = 1.0
    four = np.zeros((_NF, 12))
    for (root, _, _), f in list(zip(parsed, fams))[:4]:
        four[f, root] += 0.25
    moves, arrivals = np.zeros((12, 12)), np.zeros((_NF, 12))
    n_moves = 0
    for i in range(1, len(parsed)):
        r0, r1 = parsed[i - 1][0], parsed[i][0]
        if r0 == r1:
            continue
        n_moves += 1
        moves[r0, r1] += 1
        if (r0 - r1) % 12 == 7 and fams[i - 1] in (0, 2):  # a major or dominant chord falling a fifth
            arrivals[fams[i], r1] += 1
    if n_moves:
        moves /= n_moves
        arrivals /= n_moves
    ends = starts + d
    cut = starts[0] + OPENING_SHARE * (ends[-1] - starts[0])
    opening = np.zeros((_NF, 12))
    for (root, _, _), f, x in zip(parsed, fams, np.clip(np.minimum(ends, cut) - starts, 0.0, None)):
        opening[f, root] += x
    opening /= max(opening.sum(), 1e-9)
    if loglik_per_s is None or path is None:
        em = chord_emissions(parsed, d)
        if loglik_per_s is None:
            loglik_per_s = em.sum(axis=0) / max(d.sum(), 1e-9)
        if path is None:
            path = region_path(em, d)
    regions = region_features(path, d)
    rows = np.empty((24, sum(n for _, n in FEATURE_BLOCKS)))
    for k in range(24):
        t = k % 12
        rows[k] = np.concatenate([
            np.roll(chord, -t, 1).ravel(), np.roll(bass, -t), np.roll(pcs, -t), np.roll(first, -t, 1).ravel(),
            np.roll(np.roll(moves, -t, 0), -t, 1).ravel(), np.roll(arrivals, -t, 1).ravel(),
            np.roll(four, -t, 1).ravel(), np.roll(opening, -t, 1).ravel(), [loglik_per_s[k] / 3.0], regions[k], [1.0]])
    return rows


_KEY_MODEL: dict = {}


def load_key_model(path: str = KEY_MODEL_PATH) -> np.ndarray | None:
    """Weights (2, n_features) [major, minor] of the learned key scorer, or None when the file is absent."""
    if path not in _KEY_MODEL:
        weights = None
        if os.path.exists(path):
            with open(path, encoding="utf-8") as fh:
                m = json.load(fh)
            if [tuple(b) for b in m["blocks"]] == [tuple(b) for b in FEATURE_BLOCKS]:
                weights = np.array([m["weights"]["major"], m["weights"]["minor"]], dtype=float)
        _KEY_MODEL[path] = weights
    return _KEY_MODEL[path]


def key_scores(features: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Score (24,) of each key: w_major . phi_k for the 12 major keys, w_minor . phi_k for the minor ones."""
    return np.concatenate([features[:12] @ weights[0], features[12:] @ weights[1]])


def fit_key_model(examples, l2: float = 3e-4, max_iter: int = 3000) -> np.ndarray:
    """Fit the scorer on [(features (24, F), true key index)] by softmax cross-entropy over the 24 keys with
    an L2 penalty `l2` on all weights but the bias (L-BFGS). Returns weights (2, F)."""
    from scipy.optimize import minimize

    x = np.array([e[0] for e in examples])
    y = np.array([e[1] for e in examples])
    n, _, f = x.shape
    rows = np.arange(n)

    def loss_grad(flat):
        w = flat.reshape(2, f)
        s = np.concatenate([x[:, :12] @ w[0], x[:, 12:] @ w[1]], axis=1)
        s -= s.max(axis=1, keepdims=True)
        p = np.exp(s)
        p /= p.sum(axis=1, keepdims=True)
        loss = -np.log(p[rows, y] + 1e-300).mean() + l2 * (w[:, :-1] ** 2).sum()
        g = p
        g[rows, y] -= 1.0
        g /= n
        grad = np.stack([np.einsum("nk,nkf->f", g[:, :12], x[:, :12]), np.einsum("nk,nkf->f", g[:, 12:], x[:, 12:])])
        grad[:, :-1] += 2 * l2 * w[:, :-1]
        return loss, grad.ravel()

    w0 = np.zeros(2 * f)
    at = _block_offset("profile_loglik")
    w0[at] = w0[f + at] = 3.0  # start from the profile model
    res = minimize(loss_grad, w0, jac=True, method="L-BFGS-B", options={"maxiter": max_iter})
    return res.x.reshape(2, f)


def _song_example(chords: list[dict], key_label_: str):
    key = parse_key(key_label_)
    _, parsed, starts, ends = chord_table(chords)
    if key is None or not parsed:
        return None
    return key_features(parsed, ends - starts, starts), key[0] + 12 * MODES.index(key[1])


def songbook_examples(set_dir: str) -> list:
    """(features, key index) of every song of a songbook set directory (index.json + song descriptions)."""
    with open(os.path.join(set_dir, "index.json"), encoding="utf-8") as fh:
        index = json.load(fh)
    out = []
    for s in index["songs"]:
        with open(os.path.join(set_dir, s["paths"]["json"]), encoding="utf-8") as fh:
            song = json.load(fh)
        ex = _song_example(song.get("chords") or [], (song.get("key") or {}).get("label", ""))
        if ex is not None:
            out.append(ex)
    return out


def planned_examples(n: int, seed: int = 7, split: str = "train") -> list:
    """(features, key index) of `n` songbook plans of `split` (chords and keys only, no audio): the home key
    is the first section's key, as in the songbook's truth."""
    from models.songbook.plan import plan_song

    out = []
    for i in range(n):
        plan = plan_song(seed, i, split)
        bar_s = plan.beats_per_bar * 60.0 / max(plan.sections[0].tempo, 1.0)
        chords: list[dict] = []
        for c in plan.chords:
            label, key = c.chord.harte, (c.key_tonic, c.key_mode)
            start, end = c.start_bar * bar_s, (c.start_bar + c.bars) * bar_s
            if chords and chords[-1]["label"] == label and chords[-1]["key"] == key:
                chords[-1]["end"] = end  # equal neighbours merge, as in the songbook's chord segments
            else:
                chords.append({"start": start, "end": end, "label": label, "key": key})
        home = plan.sections[0]
        ex = _song_example(chords, "%s:%s" % (home.tonic, home.mode))
        if ex is not None:
            out.append(ex)
    return out


def save_key_model(weights: np.ndarray, path: str = KEY_MODEL_PATH, **meta) -> None:
    """Write the scorer's weights (rounded to 5 decimals) with its feature layout and `meta`."""
    doc = {"blocks": [list(b) for b in FEATURE_BLOCKS], **meta,
           "weights": {m: [round(float(v), 5) for v in weights[i]] for i, m in enumerate(MODES)}}
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, separators=(",", ":"))
    _KEY_MODEL.pop(path, None)


def estimate_key(chords: list[dict], chroma=None, chroma_times=None, penalty: float = MODULATION_PENALTY,
                 min_region_chords: int = MIN_REGION_CHORDS, min_region_s: float = MIN_REGION_S) -> dict | None:
    """Global key and key regions of chord segments [{start, end, label (Harte)}] (seconds).

    Returns {"key": {tonic, mode, label, confidence}, "key_regions": [{start, end, key}], "per_chord": [key
    label or None per input segment]} or None when no segment carries a chord. `confidence` (0..1) is the
    softmax probability of the chosen key against the other 23 under the learned scorer (or, without
    key_model.json, over the per-second mean log-likelihood of the whole song)."""
    idx, parsed, starts, ends = chord_table(chords)
    if not parsed:
        return None
    durations = ends - starts
    em = chord_emissions(parsed, durations, chroma, chroma_times, starts)
    path = region_path(em, durations, penalty, min_region_chords, min_region_s)
    runs = _runs(path)

    total = durations.sum()
    weights = load_key_model()
    if weights is not None:
        # the scorer was trained on chord evidence alone: the profile log-likelihood without chroma
        if chroma is None:
            plain, plain_path = em, path
        else:
            plain = chord_emissions(parsed, durations)
            plain_path = region_path(plain, durations)  # as key_features decodes it in training
        score = key_scores(key_features(parsed, durations, starts, plain.sum(axis=0) / max(total, 1e-9), plain_path),
                           weights)
        best = int(np.argmax(score))
        runs = _agree_with_home(runs, best)
        path = np.concatenate([[k] * (b - a) for a, b, k in runs]).astype(int)
    else:
        score = em.sum(axis=0) / max(total, 1e-9)  # mean log-likelihood per second, per key
        first, last = runs[0], runs[-1]
        score[first[2]] += HOME_BONUS * durations[first[0]:first[1]].sum() / total
        score[last[2]] += HOME_BONUS * durations[last[0]:last[1]].sum() / total
        region_keys = sorted({k for _, _, k in runs})
        best = max(region_keys, key=lambda k: score[k])  # the home key is one the song actually sits in
    p = np.exp(score - score.max())
    confidence = float(p[best] / p.sum())
    tonic, mode = best % 12, MODES[best // 12]

    regions = []
    for a, b, k in runs:
        regions.append({"start": round(float(starts[a]), 6), "end": round(float(ends[b - 1]), 6),
                        "key": key_label(k % 12, MODES[k // 12])})
    per_chord: list[str | None] = [None] * len(chords)
    for j, i in enumerate(idx):
        per_chord[i] = key_label(path[j] % 12, MODES[path[j] // 12])
    return {"key": {"tonic": key_spelling(tonic, mode)[0], "mode": mode, "label": key_label(tonic, mode),
                    "confidence": round(confidence, 4)},
            "key_regions": regions, "per_chord": per_chord}


def key_at(regions: list[dict], time_s: float, default: str | None = None) -> str | None:
    """The key label of the region containing `time_s` (seconds); the nearest region when in a gap."""
    best, dist = default, float("inf")
    for r in regions:
        if r["start"] <= time_s < r["end"]:
            return r["key"]
        d = min(abs(time_s - r["start"]), abs(time_s - r["end"]))
        if d < dist:
            best, dist = r["key"], d
    return best


def derive_key_profiles(songs) -> dict:
    """Recompute the chord-degree profiles from annotated songs (iterable of song descriptions with `chords`
    and `key_regions`). Returns {"pc": {mode: 12 shares}, "chord": {mode: 5 * 12 shares}}: duration-weighted
    counts of chord tones by interval above the local tonic, and of chord roots by (family in FAMILIES order,
    interval), each normalised per mode: the tables PROFILE_PC and PROFILE_CHORD."""
    acc = {"pc": {m: np.zeros(12) for m in MODES}}
    acc["chord"] = {m: np.zeros(12 * len(FAMILIES)) for m in MODES}
    for song in songs:
        regions = song.get("key_regions") or []
        for c in song.get("chords", []):
            try:
                p = parse_harte(str(c["label"]))
            except ValueError:
                continue
            if p is None:
                continue
            key = parse_key(key_at(regions, 0.5 * (c["start"] + c["end"])) or "")
            if key is None:
                continue
            tonic, mode = key
            dur = float(c["end"]) - float(c["start"])
            for iv in {(p[0] + i) % 12 for i in QUALITIES[p[1]][0]}:
                acc["pc"][mode][(iv - tonic) % 12] += dur
            fam = QUALITY_FAMILY.get(p[1], "maj")
            acc["chord"][mode][FAMILIES.index(fam) * 12 + (p[0] - tonic) % 12] += dur
    return {name: {m: [round(float(x), 3) for x in v / max(v.sum(), 1e-12)] for m, v in tab.items()}
            for name, tab in acc.items()}


def main(argv=None) -> None:
    """python -m models.theory.key --fit SET_DIR [SET_DIR ...] [--synth N] [--l2 X]: refit key_model.json."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m models.theory.key", description=main.__doc__)
    ap.add_argument("--fit", nargs="+", required=True, metavar="SET_DIR", help="songbook set directories")
    ap.add_argument("--synth", type=int, default=0, help="also N songbook plans from the train pool")
    ap.add_argument("--l2", type=float, default=3e-4)
    ap.add_argument("--out", default=KEY_MODEL_PATH)
    args = ap.parse_args(argv)
    examples = [ex for d in args.fit for ex in songbook_examples(d)]
    n_songs = len(examples)
    examples += planned_examples(args.synth) if args.synth else []
    weights = fit_key_model(examples, args.l2)
    acc = float(np.mean([int(np.argmax(key_scores(x, weights))) == y for x, y in examples]))
    save_key_model(weights, args.out, trained_on=[os.path.basename(os.path.normpath(d)) for d in args.fit],
                   songs=n_songs, planned_songs=args.synth, l2=args.l2, train_accuracy=round(acc, 4))
    print("fitted on %d songs + %d plans, train accuracy %.4f -> %s" % (n_songs, args.synth, acc, args.out))


if __name__ == "__main__":
    main()
