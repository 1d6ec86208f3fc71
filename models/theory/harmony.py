"""Chord spelling: Roman numerals -> chords in a key -> Harte labels and MMA chord names (shared by the songbook,
analysis and generation).

A chord here is a `Chord`: root pitch class and spelled name, a Harte quality (`maj`, `min7`, `hdim7`, ...), the
bass pitch class, and the Roman numeral it came from. Pitch classes are integers 0-11 (C = 0).

Roman numeral syntax of the curated library (`progressions.py`), one token per chord:

    [b|#] NUMERAL [o|ø|+] [FIGURE] [[QUALITY]] [/SECONDARY] [@BASS] [~BARS]

- NUMERAL: I..VII, upper case = major triad, lower case = minor; `o` diminished, `ø` half-diminished (with 7),
  `+` augmented. Degrees and accidentals count from the tonic's MAJOR scale in every mode (pop/Berklee use):
  in minor the Andalusian cadence is `i bVII bVI V`.
- FIGURE: `6`, `64` (triad inversions), `7`, `65`, `43`, `42` (sevenths and their inversions), `9`.
  `7` on an upper-case numeral is a dominant seventh (`I7` in a blues), on lower case a minor seventh.
- [QUALITY]: a Harte quality that overrides the triad/seventh, e.g. `IV[maj7]`, `I[maj(9)]`, `V[sus4]`, `I[maj6]`.
- /SECONDARY: tonicised degree, `V7/V`, `viio7/ii`, `IV/IV`.
- @BASS: a bass note by scale degree of the key, for slash chords over a non-chord tone: `IV@5` is F/G in C.
- ~BARS: length in bars (default 1; `~2`, `~0.5`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

PITCH_NAMES_SHARP = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
PITCH_NAMES_FLAT = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
LETTERS = "CDEFGAB"
LETTER_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MODE_SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10), "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10), "lydian": (0, 2, 4, 6, 7, 9, 11), "mixolydian": (0, 2, 4, 5, 7, 9, 10),
}

# Harte quality -> (intervals above the root in semitones, MMA chord suffix). Extensions above the octave
# (9ths) are written +12 so voicing code knows they sit on top.
QUALITIES: dict[str, tuple[tuple[int, ...], str]] = {
    "maj": ((0, 4, 7), ""), "min": ((0, 3, 7), "m"), "dim": ((0, 3, 6), "mb5"), "aug": ((0, 4, 8), "aug"),
    "sus2": ((0, 2, 7), "sus2"), "sus4": ((0, 5, 7), "sus4"),
    "7": ((0, 4, 7, 10), "7"), "maj7": ((0, 4, 7, 11), "M7"), "min7": ((0, 3, 7, 10), "m7"),
    "minmaj7": ((0, 3, 7, 11), "mM7"), "dim7": ((0, 3, 6, 9), "dim7"), "hdim7": ((0, 3, 6, 10), "m7b5"),
    "maj6": ((0, 4, 7, 9), "6"), "min6": ((0, 3, 7, 9), "m6"),
    "9": ((0, 4, 7, 10, 14), "9"), "maj9": ((0, 4, 7, 11, 14), "M9"), "min9": ((0, 3, 7, 10, 14), "m9"),
    "sus4(b7)": ((0, 5, 7, 10), "7sus"), "maj(9)": ((0, 4, 7, 14), "add9"),
    "7(b9)": ((0, 4, 7, 10, 13), "7b9"), "7(#9)": ((0, 4, 7, 10, 15), "7#9"),
}

DEGREE_NAMES = {0: "1", 1: "b2", 2: "2", 3: "b3", 4: "3", 5: "4", 6: "b5", 7: "5", 8: "b6", 9: "6", 10: "b7",
                 11: "7"}
_NUMERALS = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5, "VI": 6, "VII": 7}
_TOKEN_RE = re.compile(
    r"^(?P<acc>[b#]?)(?P<num>VII|VI|V|IV|III|II|I|vii|vi|v|iv|iii|ii|i)(?P<qm>[oø+h]?)"
    r"(?P<fig>64|65|43|42|6|7|9|2)?(?:\[(?P<qual>[^\]]+)\])?(?:/(?P<sec>[b#]?(?:VII|VI|V|IV|III|II|I|vii|vi|v|iv|"
    r"iii|ii|i)))?(?:@(?P<bass>[b#]?[1-7]))?(?:~(?P<bars>[0-9.]+))?$")


@dataclass(frozen=True)
class Chord:
    """A chord in a key. `root`/`bass` are pitch classes (0-11); `root_name`/`bass_name` their spelled names."""
    root: int
    root_name: str
    quality: str          # Harte quality, a key of QUALITIES
    bass: int
    bass_name: str
    roman: str            # display Roman numeral, relative to the local key

    @property
    def pitch_classes(self) -> frozenset[int]:
        """Sounding pitch classes, including the bass."""
        return frozenset({(self.root + i) % 12 for i in QUALITIES[self.quality][0]} | {self.bass})

    @property
    def harte(self) -> str:
        """Harte-syntax label, e.g. 'A:min7/b3', 'G:7', 'F:maj/2'."""
        return harte_label(self.root_name, self.quality, (self.bass - self.root) % 12)

    @property
    def mma(self) -> str:
        """MMA chord name, e.g. 'Cm7/Bb' (roots spelled with at most one accidental)."""
        name = simple_name(self.root_name) + QUALITIES[self.quality][1]
        if self.bass != self.root:
            name += "/" + simple_name(self.bass_name)
        return name


def pc_of(name: str) -> int:
    """Pitch class of a spelled note name ('Bb' -> 10, 'E#' -> 5, 'Fbb' -> 3)."""
    pc = LETTER_PC[name[0].upper()]
    for ch in name[1:]:
        pc += 1 if ch == "#" else -1 if ch in "b-" else 0
    return pc % 12


def simple_name(name: str) -> str:
    """Respell with at most one accidental, keeping the name if it already has one or none."""
    acc = name[1:]
    if len(acc) <= 1 and name not in ("Cb", "Fb", "E#", "B#"):
        return name
    pc = pc_of(name)
    return PITCH_NAMES_FLAT[pc] if "b" in acc else PITCH_NAMES_SHARP[pc]


def spell(letter_index: int, pc: int) -> str:
    """Spell pitch class `pc` on letter `LETTERS[letter_index % 7]`; falls back to a simple name past 2 accidentals."""
    letter = LETTERS[letter_index % 7]
    diff = (pc - LETTER_PC[letter] + 6) % 12 - 6
    if abs(diff) > 2:
        return PITCH_NAMES_FLAT[pc]
    name = letter + ("#" * diff if diff > 0 else "b" * -diff)
    return name if abs(diff) <= 1 else simple_name(name)


def harte_label(root_name: str, quality: str, bass_interval: int = 0) -> str:
    """Harte label from a root name, a quality and the bass interval above the root in semitones."""
    label = f"{root_name}:{quality}"
    if bass_interval % 12:
        label += "/" + bass_degree(quality, bass_interval % 12)
    return label


def bass_degree(quality: str, interval: int) -> str:
    """Harte bass degree for `interval` semitones above the root, spelled to fit the quality."""
    if interval == 8 and quality.startswith("aug"):
        return "#5"
    if interval == 9 and quality == "dim7":
        return "bb7"
    return DEGREE_NAMES[interval % 12]


def quality_from_intervals(intervals: set[int]) -> str | None:
    """Harte quality whose interval set (mod 12) equals `intervals` (mod 12, root included), or None."""
    target = {i % 12 for i in intervals} | {0}
    for q, (ivs, _) in QUALITIES.items():
        if {i % 12 for i in ivs} == target:
            return q
    return None


def parse_roman(token: str, tonic_pc: int, tonic_letter: int) -> tuple[Chord, float]:
    """Parse one library token (see module doc) in a key; returns (chord, length in bars)."""
    m = _TOKEN_RE.match(token)
    if not m:
        raise ValueError(f"bad Roman numeral token {token!r}")
    acc, num, qm, fig, qual, sec = (m.group(k) or "" for k in ("acc", "num", "qm", "fig", "qual", "sec"))
    bars = float(m.group("bars") or 1)
    deg = _NUMERALS[num.upper()]
    # Root: (secondary target's root) + numeral degree of the major scale + accidental.
    base_pc, base_letter = tonic_pc, tonic_letter
    if sec:
        sacc = {"b": -1, "#": 1}.get(sec[0], 0)
        sdeg = _NUMERALS[sec.lstrip("b#").upper()]
        base_pc = (tonic_pc + MAJOR_SCALE[sdeg - 1] + sacc) % 12
        base_letter = tonic_letter + sdeg - 1
    root_pc = (base_pc + MAJOR_SCALE[deg - 1] + {"b": -1, "#": 1}.get(acc, 0)) % 12
    root_letter = base_letter + deg - 1
    upper = num.isupper()
    seventh = fig in ("7", "65", "43", "42", "2")
    if qual:
        quality = qual
    elif qm == "o":
        quality = "dim7" if seventh else "dim"
    elif qm in ("ø", "h"):
        quality = "hdim7"
    elif qm == "+":
        quality = "aug"
    elif fig == "9":
        quality = "9" if upper else "min9"
    elif seventh:
        quality = "7" if upper else "min7"
    else:
        quality = "maj" if upper else "min"
    if quality not in QUALITIES:
        raise ValueError(f"unknown quality {quality!r} in {token!r}")
    ivs = QUALITIES[quality][0]
    inversion = {"6": 1, "64": 2, "65": 1, "43": 2, "42": 3, "2": 3}.get(fig, 0)
    inversion = min(inversion, len(ivs) - 1)
    bass_iv = ivs[inversion] % 12
    bass_pc = (root_pc + bass_iv) % 12
    bass_letter = root_letter + int(bass_degree(quality, bass_iv).lstrip("b#")) - 1
    if m.group("bass"):
        b = m.group("bass")
        bdeg = int(b.lstrip("b#"))
        bass_pc = (tonic_pc + MAJOR_SCALE[bdeg - 1] + {"b": -1, "#": 1}.get(b[0], 0)) % 12
        bass_letter = tonic_letter + bdeg - 1
    roman = display_roman(token)
    return (Chord(root=root_pc, root_name=spell(root_letter, root_pc), quality=quality, bass=bass_pc,
                  bass_name=spell(bass_letter, bass_pc), roman=roman), bars)


_DISPLAY_QUAL = {"maj7": "maj7", "maj(9)": "add9", "maj6": "add6", "min6": "add6", "sus4": "sus4", "sus2": "sus2",
                 "sus4(b7)": "7sus4", "maj9": "maj9", "min9": "9", "minmaj7": "maj7", "7(b9)": "7b9",
                 "7(#9)": "7#9", "9": "9", "7": "7", "min7": "7", "aug": "+", "dim": "o", "dim7": "o7",
                 "hdim7": "ø7", "min": "", "maj": ""}


def display_roman(token: str) -> str:
    """Readable Roman numeral for a library token: brackets become suffixes, '@5' becomes '/^5', bars dropped."""
    t = token.split("~")[0]
    m = re.match(r"^(.*?)\[([^\]]+)\](.*)$", t)
    if m:
        t = m.group(1) + _DISPLAY_QUAL.get(m.group(2), m.group(2)) + m.group(3)
    return t.replace("@", "/^")


def key_spelling(tonic_pc: int, mode: str) -> tuple[str, int]:
    """Conventional tonic name and letter index for a key (fewest accidentals; F# major, Eb minor)."""
    if mode in ("major", "lydian", "mixolydian"):
        names = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
    else:
        names = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B")
    name = names[tonic_pc % 12]
    return name, LETTERS.index(name[0])


_HARTE_RE = re.compile(r"^(?P<root>[A-G][b#]*)(?::(?P<qual>[^/]*))?(?:/(?P<bass>b*#*[1-9]+))?$")
_HARTE_DEGREE = {"1": 0, "2": 2, "3": 4, "4": 5, "5": 7, "6": 9, "7": 11, "9": 2, "11": 5, "13": 9}


def parse_harte(label: str) -> tuple[int, str, int] | None:
    """(root pc, quality, bass pc) of a Harte label: 'A:min7/b3' -> (9, 'min7', 0); a bare root is 'maj'.
    'N' and 'X' give None. Raises ValueError for malformed labels or qualities outside QUALITIES (interval
    lists such as 'C:(1,3)' are matched to a named quality when they equal one)."""
    if label in ("N", "X", ""):
        return None
    m = _HARTE_RE.match(label.strip())
    if not m:
        raise ValueError("not a Harte chord label: %r" % label)
    root = pc_of(m.group("root"))
    quality = m.group("qual") or "maj"
    if quality.startswith("("):
        degrees = [d.strip() for d in quality.strip("()").split(",") if d.strip()]
        quality = quality_from_intervals({_degree_semitones(d) for d in degrees}) or ""
    if quality not in QUALITIES:
        raise ValueError("unknown Harte quality in %r" % label)
    bass = root
    if m.group("bass"):
        bass = (root + _degree_semitones(m.group("bass"))) % 12
    return root, quality, bass


def _degree_semitones(degree: str) -> int:
    flats, sharps = degree.count("b"), degree.count("#")
    return _HARTE_DEGREE[degree.lstrip("b#")] - flats + sharps
