"""Genre from musical features: a transparent linear model with human-readable reasons.

Features (all computed by `genre_features` from a theory reading; each is a plain number, listed in FEATURES):

    bpm_norm        bpm / 200
    house_tempo     1 when 115 <= bpm <= 135 (house / dance range)
    slow_tempo      1 when bpm < 85
    fast_tempo      1 when bpm > 150
    triple_meter    1 when the meter has 3 beats (3/4)
    compound_meter  1 for 6/8, 9/8, 12/8
    swing           (swing ratio - 0.5) / (2/3 - 0.5), clipped to 0..1; swing ratio = median position of the
                    off-beat eighth inside the beat (0.5 straight, 0.667 triplet swing), 0 when unknown
    dominant7_share share of chord time on dominant-seventh family chords (7, 9, 7b9, 7#9, 7sus4)
    extended_share  share of chord time on maj7, min7, min9, maj9, hdim7, dim7, 6 chords (jazz colour)
    sus_share       share of chord time on sus2/sus4 chords
    nondiatonic     share of chords whose Roman function is 'other' or 'secondary_dominant' or borrowed
    minor_key       1 when the global key is minor
    blues_form      1 when a blues pattern or bar form is found
    ii_V            min(1, number of ii-V-I / minor ii-V-i occurrences / 2)
    pop_loop        1 when an axis, doo-wop, Royal Road or other pop loop is found
    chords_per_bar  chord changes per bar / 4, capped at 1
    drum_density    drum onsets per second / 10, capped at 1 (0 when no drum notes)
    note_density    pitched onsets per second / 20, capped at 1
    four_on_floor   share of beats with a kick onset within 60 ms (0 without drum notes)
    backbeat        share of beats 2 and 4 (in 4/4) with a snare onset within 60 ms
    syncopation     Witek index per bar / 10, capped at 1 (0 without drum notes)
    has_drums       1 when drum notes were given (lets the model discount drum features when absent)

Score of genre g: s_g = b_g + sum_f W[g][f] * (x_f - mu_f) / sigma_f; probabilities softmax(s). Primary and
secondary are the two highest; confidence is the primary's probability. The weights W, biases b and the
standardisation (mu, sigma) are fitted by `fit_genre_model` (multinomial logistic regression, L2 penalty,
gradient descent) on the songbook's `train_h` split and stored in `genre_model.json` beside this file.

Reasons: the features with the largest positive contribution W[g][f] * z_f to the primary genre, worded from
the raw values ("BPM 124 (115-135, the dance-tempo band)", "swing ratio 0.64", "12-bar blues form").
"""
from __future__ import annotations

import json
import os

import numpy as np

GENRES = ("pop", "rock", "blues", "jazz", "country", "latin", "electronic", "rnb", "ballad", "waltz_march")
FEATURES = ("bpm_norm", "house_tempo", "slow_tempo", "fast_tempo", "triple_meter", "compound_meter", "swing",
            "dominant7_share", "extended_share", "sus_share", "nondiatonic", "minor_key", "blues_form", "ii_V",
            "pop_loop", "chords_per_bar", "drum_density", "note_density", "four_on_floor", "backbeat",
            "syncopation", "has_drums")
MODEL_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "genre_model.json")
POP_LOOPS = ("axis", "axis_vi_start", "axis_IV_start", "doo_wop", "royal_road", "pop_I_IV_vi_V", "pachelbel",
             "sensitive_minor", "louie_louie")
BLUES = ("twelve_bar_blues", "quick_change_blues", "minor_blues")
_DOM = ("7", "9", "7(b9)", "7(#9)", "sus4(b7)")
_EXT = ("maj7", "min7", "min9", "maj9", "hdim7", "dim7", "maj6", "min6", "minmaj7")


def genre_features(reading: dict) -> dict:
    """Feature values (see the module docstring) from a dict with keys: bpm, meter, chords (with 'function'
    and 'borrowed' flags where known), key, progressions, bar_forms, harmonic_rhythm, swing_ratio,
    drum_density, note_density, four_on_floor, backbeat, witek_per_bar, has_drums."""
    from .harmony import parse_harte

    bpm = float(reading.get("bpm") or 0.0)
    meter = reading.get("meter") or {}
    num, den = int(meter.get("numerator", 4)), int(meter.get("denominator", 4))
    total = dom = ext = sus = 0.0
    nondia = n = 0
    for c in reading.get("chords") or []:
        try:
            p = parse_harte(str(c.get("label", "N")))
        except ValueError:
            p = None
        if p is None:
            continue
        d = float(c["end"]) - float(c["start"])
        total += d
        dom += d * (p[1] in _DOM)
        ext += d * (p[1] in _EXT)
        sus += d * (p[1] in ("sus2", "sus4"))
        n += 1
        nondia += c.get("function") in ("other", "secondary_dominant") or bool(c.get("borrowed"))
    names = {p["name"] for p in reading.get("progressions") or []}
    forms = {f["name"] for f in reading.get("bar_forms") or []}
    ii_v = sum(p["count"] for p in reading.get("progressions") or [] if p["name"] in ("ii_V_I", "minor_ii_V_i"))
    hr = reading.get("harmonic_rhythm") or {}
    swing_ratio = reading.get("swing_ratio")
    key = reading.get("key") or {}
    return {
        "bpm_norm": bpm / 200.0,
        "house_tempo": float(115 <= bpm <= 135),
        "slow_tempo": float(0 < bpm < 85),
        "fast_tempo": float(bpm > 150),
        "triple_meter": float(num == 3),
        "compound_meter": float(den >= 8 and num % 3 == 0),
        "swing": float(np.clip(((swing_ratio or 0.5) - 0.5) / (2 / 3 - 0.5), 0, 1)),
        "dominant7_share": dom / total if total else 0.0,
        "extended_share": ext / total if total else 0.0,
        "sus_share": sus / total if total else 0.0,
        "nondiatonic": nondia / n if n else 0.0,
        "minor_key": float(key.get("mode") == "minor"),
        "blues_form": float(bool(names & set(BLUES)) or any(f.endswith("blues") or "blues" in f for f in forms)),
        "ii_V": min(1.0, ii_v / 2.0),
        "pop_loop": float(bool(names & set(POP_LOOPS))),
        "chords_per_bar": min(1.0, float(hr.get("changes_per_bar") or 0.0) / 4.0),
        "drum_density": min(1.0, float(reading.get("drum_density") or 0.0) / 10.0),
        "note_density": min(1.0, float(reading.get("note_density") or 0.0) / 20.0),
        "four_on_floor": float(reading.get("four_on_floor") or 0.0),
        "backbeat": float(reading.get("backbeat") or 0.0),
        "syncopation": min(1.0, float(reading.get("witek_per_bar") or 0.0) / 10.0),
        "has_drums": float(bool(reading.get("has_drums"))),
    }


def fit_genre_model(rows: list[dict], labels: list[str], l2: float = 0.01, steps: int = 3000,
                    lr: float = 0.5) -> dict:
    """Fit the softmax model on feature dicts `rows` with genre `labels`. Returns the model dict stored in
    genre_model.json: {genres, features, mean, std, bias, weights (genre -> feature -> weight), l2, n}."""
    x = np.array([[r[f] for f in FEATURES] for r in rows], dtype=float)
    mu, sd = x.mean(axis=0), x.std(axis=0)
    sd[sd < 1e-9] = 1.0
    z = (x - mu) / sd
    y = np.array([GENRES.index(g) for g in labels])
    onehot = np.eye(len(GENRES))[y]
    w = np.zeros((len(FEATURES), len(GENRES)))
    b = np.zeros(len(GENRES))
    for _ in range(steps):
        s = z @ w + b
        p = np.exp(s - s.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        g = (p - onehot) / len(y)
        w -= lr * (z.T @ g + l2 * w)
        b -= lr * g.sum(axis=0)
    return {"genres": list(GENRES), "features": list(FEATURES), "mean": [round(float(v), 6) for v in mu],
            "std": [round(float(v), 6) for v in sd], "bias": {g: round(float(b[i]), 4) for i, g in enumerate(GENRES)},
            "weights": {g: {f: round(float(w[j, i]), 4) for j, f in enumerate(FEATURES)}
                        for i, g in enumerate(GENRES)}, "l2": l2, "n": int(len(y))}


_MODEL_CACHE: dict = {}


def load_genre_model(path: str = MODEL_PATH) -> dict:
    """The fitted model (cached)."""
    if path not in _MODEL_CACHE:
        with open(path) as fh:
            _MODEL_CACHE[path] = json.load(fh)
    return _MODEL_CACHE[path]


def _reason(feature: str, reading: dict, x: dict) -> str | None:
    """A musician's wording of one feature's raw value; None when the raw value says nothing."""
    bpm = reading.get("bpm")
    meter = reading.get("meter") or {}
    names = [p["name"] for p in reading.get("progressions") or []]
    if feature in ("house_tempo", "slow_tempo", "fast_tempo", "bpm_norm") and bpm:
        band = {"house_tempo": " (115-135, the dance-tempo band)", "slow_tempo": " (slow, below 85)",
                "fast_tempo": " (fast, above 150)"}.get(feature, "")
        return "BPM %d%s" % (round(float(bpm)), band)
    if feature in ("triple_meter", "compound_meter") and x[feature]:
        return "%d/%d meter" % (meter.get("numerator", 4), meter.get("denominator", 4))
    if feature == "swing" and reading.get("swing_ratio") is not None:
        return "swing ratio %.2f" % reading["swing_ratio"]
    if feature == "dominant7_share" and x[feature] > 0:
        return "dominant-seventh heavy (%d%% of chord time)" % round(100 * x[feature])
    if feature == "extended_share" and x[feature] > 0:
        return "extended chords (maj7/min7/9ths, %d%% of chord time)" % round(100 * x[feature])
    if feature == "sus_share" and x[feature] > 0:
        return "suspended chords (%d%% of chord time)" % round(100 * x[feature])
    if feature == "nondiatonic" and x[feature] > 0:
        return "%d%% non-diatonic chords" % round(100 * x[feature])
    if feature == "minor_key":
        return "minor key" if x[feature] else "major key"
    if feature == "blues_form" and x[feature]:
        return "12-bar blues form"
    if feature == "ii_V" and x[feature]:
        return "ii-V-I progressions"
    if feature == "pop_loop" and x[feature]:
        loop = next((n for n in names if n in POP_LOOPS), "pop loop")
        roman = next((p["roman"] for p in reading.get("progressions") or [] if p["name"] == loop), "")
        return "uses %s" % (roman.replace(" ", "-") or loop)
    if feature == "chords_per_bar":
        return "%.2f chord changes per bar" % ((reading.get("harmonic_rhythm") or {}).get("changes_per_bar") or 0)
    if feature == "drum_density" and reading.get("has_drums"):
        return "drums %.1f onsets/s" % float(reading.get("drum_density") or 0)
    if feature == "note_density" and reading.get("note_density"):
        return "%.1f notes/s" % float(reading["note_density"])
    if feature == "four_on_floor" and reading.get("has_drums"):
        return "kick on %d%% of beats (four on the floor)" % round(100 * x[feature])
    if feature == "backbeat" and reading.get("has_drums"):
        return "snare backbeat on %d%% of beats 2 and 4" % round(100 * x[feature])
    if feature == "syncopation" and reading.get("witek_per_bar") is not None:
        return "drum syncopation %.1f per bar (Witek)" % float(reading["witek_per_bar"])
    return None


def classify_genre(reading: dict, model: dict | None = None, n_reasons: int = 4) -> dict:
    """{primary, secondary, confidence, probabilities, reasons} for a reading (see `genre_features`)."""
    model = model or load_genre_model()
    x = genre_features(reading)
    z = (np.array([x[f] for f in model["features"]]) - np.array(model["mean"])) / np.array(model["std"])
    w = np.array([[model["weights"][g][f] for g in model["genres"]] for f in model["features"]])
    s = z @ w + np.array([model["bias"][g] for g in model["genres"]])
    p = np.exp(s - s.max())
    p /= p.sum()
    order = np.argsort(-p)
    primary, secondary = model["genres"][order[0]], model["genres"][order[1]]
    contrib = w[:, order[0]] * z
    reasons = []
    for j in np.argsort(-contrib):
        if contrib[j] <= 0 or len(reasons) >= n_reasons:
            break
        text = _reason(model["features"][j], reading, x)
        if text and text.startswith("BPM") and any(r.startswith("BPM") for r in reasons):
            continue  # one tempo reason is enough
        if text and text not in reasons:
            reasons.append(text)
    return {"primary": primary, "secondary": secondary, "confidence": round(float(p[order[0]]), 4),
            "probabilities": {model["genres"][i]: round(float(p[i]), 4) for i in order},
            "reasons": reasons, "features": {k: round(v, 4) for k, v in x.items()}}
