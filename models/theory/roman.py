"""Chords in a key -> Roman numerals and harmonic functions.

The inverse of `harmony.parse_roman`. Numerals follow the pop/Berklee convention the songbook uses: degrees and
accidentals count from the tonic's MAJOR scale in every mode (C minor: i, ii°, bIII, iv, v/V, bVI, bVII).
Beyond diatonic chords it names secondary dominants and leading-tone chords (V7/V, viio7/ii), modal mixture
(borrowed chords, flagged), the Neapolitan (N, N6) and augmented sixths (It+6, Fr+6, Ger+6, which need the
next chord: they resolve to V or to I64).

Chords are (root pitch class, Harte quality, bass pitch class); keys are (tonic pitch class, 'major'|'minor').
"""
from __future__ import annotations

from dataclasses import dataclass

from .harmony import MAJOR_SCALE, QUALITIES

MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)
_UPPER = ("I", "II", "III", "IV", "V", "VI", "VII")

# Quality families: which triad a Harte quality extends, and the suffix a numeral takes for it.
_TRIAD = {"maj": "maj", "min": "min", "dim": "dim", "aug": "aug", "7": "maj", "maj7": "maj", "min7": "min",
          "minmaj7": "min", "dim7": "dim", "hdim7": "dim", "maj6": "maj", "min6": "min", "9": "maj", "maj9": "maj",
          "min9": "min", "sus2": "sus", "sus4": "sus", "sus4(b7)": "sus", "maj(9)": "maj", "7(b9)": "maj",
          "7(#9)": "maj"}
_SUFFIX = {"maj": "", "min": "", "dim": "o", "aug": "+", "7": "7", "maj7": "maj7", "min7": "7", "minmaj7": "maj7",
           "dim7": "o7", "hdim7": "ø7", "maj6": "add6", "min6": "add6", "9": "9", "maj9": "maj9", "min9": "9",
           "sus2": "sus2", "sus4": "sus4", "sus4(b7)": "7sus4", "maj(9)": "add9", "7(b9)": "7b9", "7(#9)": "7#9"}
_DOMINANT_QUALITIES = ("maj", "7", "9", "7(b9)", "7(#9)")
_LEADING_QUALITIES = ("dim", "dim7", "hdim7")


@dataclass(frozen=True)
class RomanNumeral:
    numeral: str  # e.g. 'V7/V', 'bVI', 'N6', 'Ger+6', 'ii65'
    function: str  # tonic | tonic_substitute | predominant | subdominant | dominant | secondary_dominant | other
    degree: int  # 1..7 scale degree of the root (of the tonicised degree for applied chords), 0 if none
    borrowed: bool = False  # modal mixture from the parallel key
    applied_to: str = ""  # the tonicised numeral for secondary chords, e.g. 'V'


def _scale(mode: str) -> tuple:
    return MINOR_SCALE if mode == "minor" else MAJOR_SCALE


def _degree_name(interval: int) -> tuple[int, str]:
    """(degree 1..7, accidental) of an interval above the tonic, against the major scale: 3 -> (3, 'b')."""
    if interval in MAJOR_SCALE:
        return MAJOR_SCALE.index(interval) + 1, ""
    if (interval + 1) % 12 in MAJOR_SCALE:  # flats read better than sharps in pop numerals (bIII, bVI, bVII)
        return MAJOR_SCALE.index((interval + 1) % 12) + 1, "b"
    return MAJOR_SCALE.index((interval - 1) % 12) + 1, "#"


def _case(numeral: str, quality: str) -> str:
    return numeral.lower() if _TRIAD.get(quality) in ("min", "dim") else numeral


def _inversion_figure(quality: str, root: int, bass: int) -> str:
    """Figured-bass inversion for a bass that is a chord tone: 6/64 for triads, 65/43/42 for sevenths."""
    ivs = [i % 12 for i in QUALITIES.get(quality, ((0, 4, 7), ""))[0]]
    iv = (bass - root) % 12
    if iv == 0 or iv not in ivs:
        return ""
    pos = sorted(set(ivs)).index(iv)
    if len(set(ivs)) >= 4:
        return {1: "65", 2: "43", 3: "42"}.get(pos, "")
    return {1: "6", 2: "64"}.get(pos, "")


def _with_figure(numeral: str, suffix: str, figure: str) -> str:
    if figure and suffix.endswith("7"):  # V7 in first inversion is V65, not V765
        return numeral + suffix[:-1] + figure
    return numeral + suffix + figure


def diatonic_quality_family(interval: int, mode: str) -> str | None:
    """The triad family ('maj', 'min', 'dim', 'aug') of the diatonic triad on `interval`, or None if the
    interval is not a scale degree. In minor, V (major) and vii° on the raised leading tone count as diatonic."""
    scale = _scale(mode)
    if mode == "minor" and interval == 11:
        return "dim"
    if interval not in scale:
        return None
    i = scale.index(interval)
    third = (scale[(i + 2) % 7] - interval) % 12
    fifth = (scale[(i + 4) % 7] - interval) % 12
    fam = {(4, 7): "maj", (3, 7): "min", (3, 6): "dim", (4, 8): "aug"}.get((third, fifth))
    if mode == "minor" and interval == 7:
        return "maj"  # harmonic-minor dominant
    return fam


def _function(degree: int) -> str:
    if degree == 1:
        return "tonic"
    if degree in (6, 3):
        return "tonic_substitute"
    if degree in (2, 4):
        return "predominant" if degree == 2 else "subdominant"
    if degree in (5, 7):
        return "dominant"
    return "other"


def roman_numeral(root: int, quality: str, bass: int, tonic: int, mode: str = "major",
                  next_chord: tuple | None = None) -> RomanNumeral:
    """Roman numeral of one chord in a key. `next_chord` (root, quality, bass) lets applied chords and
    augmented sixths be named by where they resolve."""
    if mode not in ("major", "minor"):
        mode = "minor" if mode in ("dorian", "phrygian", "aeolian") else "major"
    iv = (root - tonic) % 12
    fam = _TRIAD.get(quality, "maj")
    figure = _inversion_figure(quality, root, bass)
    nxt_iv = None if next_chord is None else (next_chord[0] - tonic) % 12

    # Augmented sixths: b6 in the bass with #4 above, resolving outward to V (or to a cadential I64).
    if (bass - tonic) % 12 == 8 and next_chord is not None and nxt_iv in (7, 0):
        pcs = {(root + i) % 12 for i in QUALITIES.get(quality, ((0,), ""))[0]} | {bass}
        rel = {(p - tonic) % 12 for p in pcs}
        if {8, 0, 6} <= rel:
            name = "Ger+6" if 3 in rel else "Fr+6" if 2 in rel else "It+6"
            return RomanNumeral(name, "predominant", 6)

    # The Neapolitan: a major triad on the lowered second degree.
    if iv == 1 and fam == "maj" and quality in ("maj", "maj7"):
        return RomanNumeral("N" + ("6" if figure == "6" else ""), "predominant", 2)

    rn = _roman_root_position(root, quality, bass, tonic, mode, iv, fam, figure, next_chord, nxt_iv)
    chord_tones = {(root + i) % 12 for i in QUALITIES.get(quality, ((0, 4, 7), ""))[0]}
    if bass % 12 not in chord_tones:  # a slash chord over a foreign bass: 'IV/^5' is F/G in C
        b_deg, b_acc = _degree_name((bass - tonic) % 12)
        rn = RomanNumeral(rn.numeral + "/^" + b_acc + str(b_deg), rn.function, rn.degree, rn.borrowed,
                          rn.applied_to)
    return rn


def _roman_root_position(root, quality, bass, tonic, mode, iv, fam, figure, next_chord, nxt_iv):
    diatonic = diatonic_quality_family(iv, mode)
    degree, acc = _degree_name(iv)
    numeral = acc + _case(_UPPER[degree - 1], quality)
    suffix = _SUFFIX.get(quality, "")
    # Diatonic, except a dominant seventh away from V (its b7 is foreign: C7 in C is V7/IV, not I7).
    if diatonic is not None and (diatonic == fam or fam == "sus") and not (quality == "7" and iv != 7):
        return RomanNumeral(_with_figure(numeral, suffix, figure), _function(degree), degree)

    # Applied chords: a dominant a fifth above, or a leading-tone chord a semitone below, a diatonic degree
    # other than the tonic (confirmed by the next chord when one is given).
    for target_iv, kind in (((iv - 7) % 12, "V"), ((iv + 1) % 12, "vii")):
        if target_iv == 0 or diatonic_quality_family(target_iv, mode) not in ("maj", "min"):
            continue
        if kind == "V" and quality not in _DOMINANT_QUALITIES:
            continue
        if kind == "vii" and quality not in _LEADING_QUALITIES:
            continue
        if next_chord is not None and nxt_iv != target_iv:
            continue
        t_deg, t_acc = _degree_name(target_iv)
        target = t_acc + (_UPPER[t_deg - 1] if diatonic_quality_family(target_iv, mode) == "maj"
                          else _UPPER[t_deg - 1].lower())
        head = _with_figure("V" if kind == "V" else "vii", suffix, figure)
        return RomanNumeral("%s/%s" % (head, target), "secondary_dominant", t_deg, applied_to=target)

    # Modal mixture: diatonic in the parallel key.
    other = "minor" if mode == "major" else "major"
    parallel = diatonic_quality_family(iv, other)
    borrowed = parallel is not None and (parallel == fam or fam == "sus")
    return RomanNumeral(_with_figure(numeral, suffix, figure), _function(degree) if borrowed else "other", degree,
                        borrowed=borrowed)


def analyze_progression(chords, tonic: int, mode: str = "major") -> list[RomanNumeral]:
    """Roman numerals of a chord sequence [(root, quality, bass), ...] in one key, each looking at the next."""
    out = []
    for i, ch in enumerate(chords):
        nxt = chords[i + 1] if i + 1 < len(chords) else None
        out.append(roman_numeral(ch[0], ch[1], ch[2], tonic, mode, nxt))
    return out
