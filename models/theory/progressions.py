"""Named chord progressions, found in a song's Roman-numeral sequence.

Each pattern is a sequence of Roman numerals in the library syntax of `harmony.parse_roman` (degrees counted
from the tonic's major scale in every mode, so the Andalusian cadence is `i bVII bVI V`). A pattern is matched
transposition-invariantly: every chord of the song is reduced to (root interval above its local tonic, chord
family) and compared with the pattern's tokens reduced the same way. Families are maj, min, dom (dominant
sevenths and ninths), dim (diminished and half-diminished) and sus; a pattern's major token (`V`) also accepts a
dominant seventh (`V7`), a `7` token on an upper-case numeral (`I7` in a blues) asks for the dominant family,
and a suspended chord stands in for a major, minor or dominant chord on its root.

Repeated chords: consecutive chords with the same reduced token are merged before matching (a bar of C then
another bar of C is one I), so `I I IV V` matches `I IV V`. The blues forms are also checked bar by bar when
downbeats are known (`match_bar_forms`).

Rotations: loop patterns (`loop=True`) also match their rotations, reported with `rotation` k (the pattern
started at its k-th chord), unless that rotation is itself a named pattern (vi-IV-I-V is its own entry, not
"the axis progression rotated by 2").

Mode: a pattern marked "major" matches only in major key regions, "minor" only in minor ones, "any" in both.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .harmony import parse_harte, parse_roman
from .key import QUALITY_FAMILY, parse_key


@dataclass(frozen=True)
class Pattern:
    name: str
    roman: str            # space-separated Roman numerals
    mode: str             # major | minor | any
    loop: bool            # a repeating loop (rotations match too)
    description: str


PATTERNS: tuple[Pattern, ...] = (
    Pattern("axis", "I V vi IV", "major", True, "the 'four chords' of pop (I-V-vi-IV)"),
    Pattern("axis_vi_start", "vi IV I V", "major", True, "axis progression from the relative minor (vi-IV-I-V)"),
    Pattern("axis_IV_start", "IV I V vi", "major", True, "axis progression from IV (IV-I-V-vi)"),
    Pattern("doo_wop", "I vi IV V", "major", True, "50s / doo-wop progression (I-vi-IV-V)"),
    Pattern("doo_wop_ii", "I vi ii V", "major", True, "jazz turnaround / 'rhythm changes' A (I-vi-ii-V)"),
    Pattern("ii_V_I", "ii V I", "major", False, "jazz ii-V-I cadence"),
    Pattern("minor_ii_V_i", "iio V i", "minor", False, "minor ii°-V-i cadence"),
    Pattern("iii_vi_ii_V", "iii vi ii V", "major", False, "circle-of-fifths turnaround (iii-vi-ii-V)"),
    Pattern("circle_of_fifths", "vi ii V I", "major", False, "descending fifths into the tonic (vi-ii-V-I)"),
    Pattern("full_circle", "I IV viio iii vi ii V I", "major", False, "the diatonic circle of fifths"),
    Pattern("three_chord", "I IV V", "major", False, "three-chord song (I-IV-V)"),
    Pattern("three_chord_return", "I IV V I", "major", False, "I-IV-V-I, the hymn/country cadence"),
    Pattern("louie_louie", "I IV V IV", "major", True, "garage-rock loop (I-IV-V-IV)"),
    Pattern("pop_I_IV_vi_V", "I IV vi V", "major", True, "pop loop I-IV-vi-V"),
    Pattern("twelve_bar_blues", "I IV I V IV I", "any", False,
            "12-bar blues (I I I I / IV IV I I / V IV I I), repeated chords merged"),
    Pattern("quick_change_blues", "I IV I IV I V IV I", "any", False, "12-bar blues with the quick change to IV"),
    Pattern("minor_blues", "i iv i V iv i", "minor", False, "12-bar minor blues"),
    Pattern("andalusian", "i bVII bVI V", "minor", False, "Andalusian cadence (i-bVII-bVI-V)"),
    Pattern("pachelbel", "I V vi iii IV I IV V", "major", False, "Pachelbel's Canon"),
    Pattern("royal_road", "IV V iii vi", "major", True, "Royal Road / J-pop (IV-V-iii-vi)"),
    Pattern("mixolydian_cadence", "bVII IV I", "major", False, "Mixolydian double-plagal cadence (bVII-IV-I)"),
    Pattern("mixolydian_vamp", "I bVII IV I", "major", False, "Mixolydian rock vamp (I-bVII-IV-I)"),
    Pattern("aeolian_vamp", "i bVII bVI bVII", "minor", True, "Aeolian rock vamp (i-bVII-bVI-bVII)"),
    Pattern("epic_minor", "i bVI bIII bVII", "minor", True, "minor-key axis (i-bVI-bIII-bVII)"),
    Pattern("aeolian_cadence", "bVI bVII I", "major", False, "'Mario' cadence, borrowed bVI-bVII-I"),
    Pattern("ragtime", "III7 VI7 II7 V7", "major", False, "ragtime chain of secondary dominants (III7-VI7-II7-V7)"),
    Pattern("backdoor", "iv bVII7 I", "major", False, "backdoor ii-V (iv-bVII7-I)"),
    Pattern("minor_plagal", "I iv I", "major", False, "minor plagal colour (I-iv-I)"),
    Pattern("creep", "I III IV iv", "major", True, "I-III-IV-iv (chromatic mediant and minor iv)"),
    Pattern("dorian_vamp", "i IV", "minor", True, "Dorian vamp (i-IV)"),
    Pattern("natural_minor_cadence", "i iv v i", "minor", False, "natural-minor cadence (i-iv-v-i)"),
    Pattern("harmonic_minor_cadence", "i iv V i", "minor", False, "harmonic-minor cadence (i-iv-V-i)"),
    Pattern("lydian_vamp", "I II", "major", True, "Lydian vamp (I-II)"),
    Pattern("rock_bIII", "I bIII IV", "major", False, "blues-rock I-bIII-IV"),
    Pattern("sensitive_minor", "vi V IV V", "major", True, "vi-V-IV-V loop"),
    Pattern("lament_descent", "i bVII bVI", "minor", False, "descending minor tetrachord (i-bVII-bVI)"),
)

# Blues forms bar by bar (chord root family per bar), for `match_bar_forms`.
BAR_FORMS = {
    "twelve_bar_blues": "I I I I IV IV I I V IV I I",
    "quick_change_blues": "I IV I I IV IV I I V IV I I",
    "twelve_bar_blues_V_turnaround": "I I I I IV IV I I V IV I V",
    "quick_change_blues_V_turnaround": "I IV I I IV IV I I V IV I V",
    "minor_blues": "i i i i iv iv i i V iv i i",
    "eight_bar_blues": "I V IV IV I V I V",
}


def pattern_tokens(roman: str) -> tuple[tuple[int, str], ...]:
    """Reduce a space-separated Roman pattern to (root interval above the tonic, family) tokens: 'ii V7 I' ->
    ((2, 'min'), (7, 'dom'), (0, 'maj'))."""
    out = []
    for tok in roman.split():
        chord, _ = parse_roman(tok, 0, 0)
        out.append((chord.root % 12, QUALITY_FAMILY.get(chord.quality, "maj")))
    return tuple(out)


def chord_token(root: int, quality: str, tonic: int) -> tuple[int, str]:
    """(root interval above `tonic`, family) of one chord."""
    return (root - tonic) % 12, QUALITY_FAMILY.get(quality, "maj")


def token_matches(pattern_tok: tuple[int, str], chord_tok: tuple[int, str]) -> bool:
    """Whether a chord token satisfies a pattern token (same root; family rules in the module docstring)."""
    if pattern_tok[0] != chord_tok[0]:
        return False
    want, have = pattern_tok[1], chord_tok[1]
    if have == want or have == "sus":
        return True
    return want == "maj" and have == "dom"


def _candidates() -> list[tuple[Pattern, int, tuple]]:
    """(pattern, rotation, tokens) to look for, longest first; rotations that are named patterns are left out."""
    named = {(p.mode, pattern_tokens(p.roman)) for p in PATTERNS}
    out = []
    for p in PATTERNS:
        toks = pattern_tokens(p.roman)
        out.append((p, 0, toks))
        if p.loop:
            for k in range(1, len(toks)):
                rot = toks[k:] + toks[:k]
                if (p.mode, rot) not in named and rot != toks:
                    out.append((p, k, rot))
    return sorted(out, key=lambda c: -len(c[2]))


_CANDIDATES = _candidates()


def merge_repeats(tokens: list, keys: list) -> list[tuple[int, int]]:
    """Index ranges [first, last] of runs of equal (token, key) in a chord sequence."""
    runs: list[list[int]] = []
    for i, (t, k) in enumerate(zip(tokens, keys)):
        if runs and tokens[runs[-1][0]] == t and keys[runs[-1][0]] == k:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return [(a, b) for a, b in runs]


def find_progressions(chords: list[dict], keys: list[str | None]) -> list[dict]:
    """Named progressions in chord segments [{start, end, label}] (seconds) given each chord's local key label
    ('C:major'; None for no-chord segments, which break patterns).

    Returns [{name, roman, description, mode, rotation, count, occurrences: [{start, end, chord_start,
    chord_end}]}] with `chord_start`/`chord_end` inclusive indices into `chords`. Occurrences of one pattern do
    not overlap; a shorter pattern is not reported inside an occurrence of a longer one that contains it
    exactly (the ii-V-I inside a full circle of fifths), and a match sharing more than half its chords with an
    earlier match at least as long is dropped, so a repeated four-chord loop is named once per pass, not once
    per rotation."""
    toks: list = []
    modes: list = []
    for c, k in zip(chords, keys):
        parsed = None
        try:
            parsed = parse_harte(str(c.get("label", "N")))
        except ValueError:
            pass
        key = parse_key(k) if k else None
        if parsed is None or key is None:
            toks.append(None)
            modes.append(None)
        else:
            toks.append(chord_token(parsed[0], parsed[1], key[0]))
            modes.append(key[1])
    runs = merge_repeats(toks, modes)
    seq = [(toks[a], modes[a], a, b) for a, b in runs]

    results: dict[tuple[str, int], dict] = {}
    covered: list[tuple[int, int, int]] = []  # (first run, last run, pattern length) of accepted matches
    claimed = np.zeros(len(seq), dtype=int)  # per run: the longest accepted match covering it
    for pattern, rotation, ptoks in _CANDIDATES:
        n = len(ptoks)
        i = 0
        while i + n <= len(seq):
            window = seq[i:i + n]
            ok = all(w[0] is not None and token_matches(pt, w[0]) and
                     (pattern.mode == "any" or w[1] == pattern.mode) for pt, w in zip(ptoks, window))
            if ok and (int((claimed[i:i + n] >= n).sum()) > n // 2 or any(
                    a <= i and i + n - 1 <= b and length > n for a, b, length in covered)):
                ok = False  # inside a longer named pattern, or mostly the same chords as one already named
                #            (a repeated loop is named once, not once per rotation)
            if not ok:
                i += 1
                continue
            first, last = window[0][2], window[-1][3]
            entry = results.setdefault((pattern.name, rotation), {
                "name": pattern.name, "roman": " ".join(pattern.roman.split()[rotation:] +
                                                        pattern.roman.split()[:rotation]),
                "description": pattern.description, "mode": pattern.mode, "rotation": rotation, "occurrences": []})
            entry["occurrences"].append({"start": round(float(chords[first]["start"]), 6),
                                         "end": round(float(chords[last]["end"]), 6),
                                         "chord_start": first, "chord_end": last})
            covered.append((i, i + n - 1, n))
            claimed[i:i + n] = np.maximum(claimed[i:i + n], n)
            i += n
    out = list(results.values())
    for e in out:
        e["count"] = len(e["occurrences"])
    return sorted(out, key=lambda e: (e["occurrences"][0]["start"], e["name"]))


def match_bar_forms(chords: list[dict], keys: list[str | None], downbeats) -> list[dict]:
    """Bar-level forms (the blues): the chord sounding at each downbeat (seconds), reduced to tokens in its
    local key, compared with BAR_FORMS at every bar offset. Returns [{name, start, end, bar_start, count}]
    with one entry per form found (count = complete, non-overlapping passes through the form)."""
    downbeats = [float(t) for t in downbeats]
    if len(downbeats) < 8:
        return []
    bar_toks: list = []
    for t in downbeats:
        tok = None
        for c, k in zip(chords, keys):
            if float(c["start"]) - 1e-6 <= t < float(c["end"]) and k:
                try:
                    parsed = parse_harte(str(c["label"]))
                except ValueError:
                    parsed = None
                key = parse_key(k)
                if parsed is not None and key is not None:
                    tok = (chord_token(parsed[0], parsed[1], key[0]), key[1])
                break
        bar_toks.append(tok)
    found = []
    for name, form in BAR_FORMS.items():
        ftoks = pattern_tokens(form)
        minor = name.startswith("minor")
        passes, first_bar, b = 0, None, 0
        while b + len(ftoks) <= len(bar_toks):
            window = bar_toks[b:b + len(ftoks)]
            if all(w is not None and token_matches(f, w[0]) and (not minor or w[1] == "minor")
                   for f, w in zip(ftoks, window)):
                passes += 1
                first_bar = b if first_bar is None else first_bar
                b += len(ftoks)
            else:
                b += 1
        if passes:
            end_bar = min(first_bar + passes * len(ftoks), len(downbeats) - 1)
            found.append({"name": name, "start": round(downbeats[first_bar], 6),
                          "end": round(downbeats[end_bar], 6), "bar_start": first_bar, "count": passes})
    return found
