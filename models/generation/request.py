"""A generation request, checked and completed: what the user gave, what the analysis says, what the planner
suggests, in that order of precedence. Every refusal is a BandmateError('bad_params', ...) naming the field;
documented clamps are reported in `notices`.

Chords are written as a string or a list:
- chord symbols, one per bar: "C G Am F"; bars separated by `|` hold several chords each: "C G | Am F";
- or Roman numerals in the key: "I V vi IV", "ii7 V7 Imaj7", "i bVII bVI V" (the songbook's numeral syntax);
- Harte labels also work ("A:min7").
Symbols understood: C Cm C7 Cmaj7 CM7 Cm7 Cmin7 Cdim Co Cdim7 Co7 Cm7b5 Cø Caug C+ Csus2 Csus4 C7sus4 C6 Cm6 C9
Cmaj9 Cm9 Cadd9 C7b9 C7#9 CmM7, any of them over a bass: C/E. 'N' is a bar of silence for the pitched stems.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from models.analysis.beats import hint_beats_per_bar
from models.analysis.exports import beat_unit_q
from models.theory.harmony import LETTERS, key_spelling, parse_harte, parse_roman, pc_of
from protocol import BandmateError

from .tokens import FAMILIES, MODES, STEMS

STEM_ALIASES = {"drums": "drums", "drum": "drums", "bass": "bass", "keys": "keys", "guitar": "keys",
                "chords": "keys", "piano": "keys", "guitar/keys": "keys", "melody": "melody", "vocal": "melody",
                "lead": "melody", "vocals": "melody"}
GENRE_ALIASES = {"hip hop": "rnb", "hiphop": "rnb", "soul": "rnb", "funk": "rnb", "r&b": "rnb", "edm": "electronic",
                 "house": "electronic", "techno": "electronic", "disco": "electronic", "bossa": "latin",
                 "bossa nova": "latin", "salsa": "latin", "reggae": "latin", "swing": "jazz", "waltz": "waltz_march",
                 "march": "waltz_march", "folk": "country", "metal": "rock", "punk": "rock", "indie": "rock",
                 "funk/soul": "rnb", "waltz/march": "waltz_march"}
MAX_BARS = 256
MIN_BPM, MAX_BPM = 30.0, 300.0
MAX_VARIATIONS = 8
_SYMBOL_QUALITY = (  # longest suffix first
    ("maj9", "maj9"), ("maj7", "maj7"), ("M7", "maj7"), ("mM7", "minmaj7"), ("m7b5", "hdim7"), ("min7", "min7"),
    ("m7", "min7"), ("dim7", "dim7"), ("o7", "dim7"), ("7sus4", "sus4(b7)"), ("7sus", "sus4(b7)"),
    ("7b9", "7(b9)"), ("7#9", "7(#9)"), ("add9", "maj(9)"), ("sus2", "sus2"), ("sus4", "sus4"), ("sus", "sus4"),
    ("dim", "dim"), ("aug", "aug"), ("min", "min"), ("maj", "maj"), ("m9", "min9"), ("m6", "min6"),
    ("ø7", "hdim7"), ("ø", "hdim7"), ("o", "dim"), ("+", "aug"), ("m", "min"), ("9", "9"), ("7", "7"),
    ("6", "maj6"), ("", "maj"))
_SYMBOL_RE = re.compile(r"^(?P<root>[A-G][b#]?)(?P<rest>[^/]*)(?:/(?P<bass>[A-G][b#]?))?$")


@dataclass
class ChordSpan:
    """A chord for a stretch of the request, in tactus beats from the start."""
    root: int            # -1 = no chord
    quality: str
    bass: int
    symbol: str
    roman: str
    start: float         # tactus beats
    end: float


@dataclass
class Request:
    stems: list
    bpm: float
    beats_per_bar: int
    numerator: int
    denominator: int
    tonic: int
    mode: str
    bars: int
    chords: list                           # ChordSpan, covering [0, bars * beats_per_bar)
    sections: list                         # [{label, start_bar, bars}]
    family: str
    prompt: str = ""
    complexity: float | None = None       # 0..1; None = the genre's usual density
    seed: int = 0
    variations: int = 1
    temperature: float = 0.9
    top_p: float = 0.95
    constraints: dict = field(default_factory=lambda: {"scale": True, "chord_tones": True, "range": True})
    render: bool = True
    renderer: str = "soundfont"            # soundfont | diffusion
    tuning_cents: float = 0.0              # the audio's tuning off A4 = 440 Hz (both renderers follow it)
    notices: list = field(default_factory=list)

    @property
    def compound(self) -> bool:
        return self.beats_per_bar != self.numerator

    @property
    def quarters_per_beat(self) -> float:
        """Quarter notes per tactus beat (1 in 4/4 and 3/4, 1.5 in 6/8 and 12/8, 0.5 in 2/8...)."""
        return beat_unit_q((self.numerator, self.denominator))

    @property
    def meter(self) -> str:
        return "%d/%d" % (self.numerator, self.denominator)

    @property
    def key_label(self) -> str:
        return "%s:%s" % (key_spelling(self.tonic, self.mode)[0], self.mode)

    @property
    def key_short(self) -> str:
        name = key_spelling(self.tonic, self.mode)[0]
        return name + ("min" if self.mode == "minor" else "maj" if self.mode == "major" else self.mode[:3])


def _bad(field_name, message):
    return BandmateError("bad_params", "field '%s': %s" % (field_name, message))


def parse_key(text, field_name="key"):
    """'E:minor', 'Em', 'E minor', 'Eb', 'F#m', 'D dorian' -> (tonic pc, mode)."""
    if not isinstance(text, str) or not text.strip():
        raise _bad(field_name, "must be a key such as 'E:minor' or 'Eb'")
    t = text.strip().replace(":", " ")
    m = re.match(r"^([A-Ga-g][b#]?)\s*(.*)$", t)
    if not m:
        raise _bad(field_name, "unknown key %r (use e.g. 'E:minor', 'Bb', 'F#m')" % text)
    root = m.group(1)[0].upper() + m.group(1)[1:]
    rest = m.group(2).strip().lower()
    mode = {"": "major", "maj": "major", "major": "major", "m": "minor", "min": "minor", "minor": "minor",
            "aeolian": "minor", "ionian": "major"}.get(rest, rest)
    if m.group(2).strip() == "m":
        mode = "minor"
    if mode not in MODES:
        raise _bad(field_name, "unknown mode %r (major, minor, dorian, phrygian, lydian, mixolydian)" % rest)
    return pc_of(root), mode


def parse_meter(text):
    if isinstance(text, (list, tuple)) and len(text) == 2:
        text = "%s/%s" % tuple(text)
    m = re.match(r"^\s*(\d+)\s*/\s*(\d+)\s*$", str(text))
    if not m:
        raise _bad("meter", "must look like '4/4' or '6/8', got %r" % (text,))
    num, den = int(m.group(1)), int(m.group(2))
    if den not in (2, 4, 8, 16) or not 1 <= num <= 16:
        raise _bad("meter", "impossible meter %s (numerator 1-16, denominator 2, 4, 8 or 16)" % text)
    bpb = hint_beats_per_bar((num, den))   # compound meters count dotted beats, as the analysis does
    if bpb > 7:
        raise _bad("meter", "meter %s has %d beats a bar; at most 7 are supported" % (text, bpb))
    return num, den, bpb


def parse_symbol(sym, field_name="chords"):
    """(root pc, Harte quality, bass pc) of a chord symbol or Harte label; None for 'N'."""
    s = sym.strip()
    if s in ("N", "NC", "N.C.", "-"):
        return None
    if ":" in s:
        try:
            return parse_harte(s)
        except ValueError as exc:
            raise _bad(field_name, str(exc))
    m = _SYMBOL_RE.match(s)
    if not m:
        raise _bad(field_name, "unknown chord symbol %r" % sym)
    root = pc_of(m.group("root"))
    rest = m.group("rest")
    for suffix, quality in _SYMBOL_QUALITY:
        if rest == suffix:
            bass = pc_of(m.group("bass")) if m.group("bass") else root
            return root, quality, bass
    raise _bad(field_name, "unknown chord quality %r in %r" % (rest, sym))


def _is_roman(token):
    """Chord symbols start with a note letter; Roman numerals with a numeral (or its b/# accidental)."""
    return bool(re.match(r"^[b#]?[IViv]", token))


def chord_bars(spec, tonic, mode, field_name="chords"):
    """Bars of chords: [[(root, quality, bass, symbol, roman), ...], ...] from a string or a list."""
    if isinstance(spec, list):
        text = " ".join(str(x) for x in spec)
    elif isinstance(spec, str):
        text = spec
    else:
        raise _bad(field_name, "must be a string or a list of chord symbols / Roman numerals")
    text = text.replace(",", " ")
    bars_txt = [b.split() for b in text.split("|")] if "|" in text else [[t] for t in text.split()]
    bars_txt = [b for b in bars_txt if b]
    if not bars_txt:
        raise _bad(field_name, "the progression is empty")
    name, letter = key_spelling(tonic, mode)
    out = []
    for bar in bars_txt:
        row = []
        for tok in bar:
            if _is_roman(tok):
                try:
                    ch, _ = parse_roman(tok, tonic, LETTERS.index(name[0]))
                except ValueError:
                    raise _bad(field_name, "unknown Roman numeral %r" % tok)
                row.append((ch.root, ch.quality, ch.bass, ch.mma, tok))
            else:
                parsed = parse_symbol(tok, field_name)
                if parsed is None:
                    row.append((-1, "N", -1, "N", ""))
                else:
                    row.append(parsed + (tok, ""))
        out.append(row)
    return out


def spans_from_bars(bars_chords, n_bars, bpb):
    """ChordSpans for n_bars, looping the given bars; chords share a bar equally."""
    spans = []
    for b in range(n_bars):
        row = bars_chords[b % len(bars_chords)]
        for k, (root, q, bass, sym, rn) in enumerate(row):
            start = b * bpb + bpb * k / len(row)
            end = b * bpb + bpb * (k + 1) / len(row)
            if spans and (spans[-1].root, spans[-1].quality, spans[-1].bass) == (root, q, bass) and \
                    abs(spans[-1].end - start) < 1e-9:
                spans[-1].end = end
            else:
                spans.append(ChordSpan(root, q, bass, sym, rn, start, end))
    return spans


def _number(params, name, lo, hi, default, kind=float, clamp=False, notices=None):
    if params.get(name) is None:
        return default
    v = params[name]
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _bad(name, "must be a number")
    if kind is int and int(v) != v:
        raise _bad(name, "must be a whole number")
    v = kind(v)
    if not lo <= v <= hi:
        if clamp:
            c = min(hi, max(lo, v))
            if notices is not None:
                notices.append("%s %s clamped to %s" % (name, v, c))
            return kind(c)
        raise _bad(name, "must be between %s and %s, got %s" % (lo, hi, v))
    return v


def parse_stems(value):
    if value is None:
        return list(STEMS)
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list):
        raise _bad("stems", "must be a list or a comma-separated string")
    out = []
    for it in items:
        name = STEM_ALIASES.get(str(it).strip().lower())
        if name is None:
            raise _bad("stems", "unknown stem %r (drums, bass, keys/guitar, melody/vocal)" % it)
        if name not in out:
            out.append(name)
    if not out:
        raise _bad("stems", "no stems asked for")
    return out


def parse_genre(value):
    if value is None:
        return None
    g = str(value).strip().lower()
    g = GENRE_ALIASES.get(g, g)
    if g not in FAMILIES:
        raise _bad("genre", "unknown genre %r (one of %s, or e.g. funk, house, bossa nova, swing)"
                   % (value, ", ".join(FAMILIES)))
    return g


__all__ = ["Request", "ChordSpan", "parse_key", "parse_meter", "parse_symbol", "chord_bars", "spans_from_bars",
           "parse_stems", "parse_genre", "MAX_BARS"]
