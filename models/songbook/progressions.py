"""Chord progressions from real harmonic practice, as Roman numerals (syntax in `harmony.py`).

Two sources:
- `CURATED`: a hand-written library of common progressions of pop, rock, jazz, blues, latin, soul, country,
  classical and modal practice, each with an id, a mode, genre tags and a name.
- `rntxt_progressions()`: short windows (4-8 chords, one key) of the Roman numeral sequences in the 68
  RomanText analyses of music21's corpus (20 Bach chorales, 48 Monteverdi madrigals). Precomputed with music21
  into `rntxt_progressions.json` (`python -m models.songbook.progressions --rebuild-rntxt`), each chord stored
  key-independently (root and bass in semitones above the tonic, Harte quality) so the songbook can play it in
  any key.

Durations: each token lasts one bar unless it says `~2` (two bars) or `~0.5` (half a bar). Half-bar chords are
only used in meters whose bar splits evenly (4/4, 12/8, 6/8).
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass

from models.theory.harmony import (QUALITIES, Chord, key_spelling, parse_roman, quality_from_intervals, spell)

RNTXT_PATH = os.path.join(os.path.dirname(__file__), "rntxt_progressions.json")


@dataclass(frozen=True)
class Progression:
    """A progression: `tokens` are Roman numeral tokens (curated) or explicit chord specs (rntxt windows)."""
    id: str
    mode: str                  # major | minor | dorian | mixolydian | lydian | phrygian
    tags: tuple[str, ...]      # genre families it fits; 'any' = all
    tokens: tuple[str, ...]
    name: str = ""
    specs: tuple[tuple[int, str, int, str, float], ...] = ()   # rntxt: (root st, quality, bass st, roman, bars)

    @property
    def bars(self) -> float:
        """Length of one pass in bars."""
        if self.specs:
            return sum(s[4] for s in self.specs)
        return sum(float(t.split("~")[1]) if "~" in t else 1.0 for t in self.tokens)

    @property
    def has_half_bars(self) -> bool:
        """True when some chord lasts less than a bar."""
        return any(s[4] % 1 for s in self.specs) or any(float(t.split("~")[1]) % 1 for t in self.tokens if "~" in t)

    def realise(self, tonic_pc: int) -> list[tuple[Chord, float]]:
        """The chords in the key with tonic `tonic_pc`, each with its length in bars."""
        tonic_name, letter = key_spelling(tonic_pc, self.mode)
        if not self.specs:
            return [parse_roman(t, tonic_pc, letter) for t in self.tokens]
        out = []
        for root_st, quality, bass_st, roman, bars in self.specs:
            root = (tonic_pc + root_st) % 12
            bass = (tonic_pc + bass_st) % 12
            rname = spell(letter + _letter_steps(root_st), root)
            bname = spell(letter + _letter_steps(bass_st), bass)
            out.append((Chord(root, rname, quality, bass, bname, roman), bars))
        return out


def _letter_steps(semitones: int) -> int:
    """Letter steps above the tonic for a chromatic degree (flats preferred: 1 -> b2, 6 -> #4 -> 3)."""
    return (0, 1, 1, 2, 2, 3, 3, 4, 5, 5, 6, 6)[semitones % 12]


_ALL = ("pop", "rock", "jazz", "latin", "blues", "electronic", "ballad", "rnb", "country", "waltz_march")
_POP = ("pop", "rock", "electronic", "ballad", "rnb", "country", "latin", "waltz_march")


def _p(pid, mode, tags, seq, name=""):
    return Progression(pid, mode, tuple(tags), tuple(seq.split()), name)


CURATED: list[Progression] = [
    # --- pop / rock staples
    _p("pop-axis", "major", _POP, "I V vi IV", "axis (I-V-vi-IV)"),
    _p("pop-axis-vi", "major", _POP, "vi IV I V", "axis from vi"),
    _p("pop-axis-iv", "major", _POP, "IV I V vi", "axis from IV"),
    _p("pop-sensitive", "major", _POP, "vi IV I V", "sensitive female"),
    _p("pop-doowop", "major", _POP + ("jazz",), "I vi IV V", "doo-wop / 50s"),
    _p("pop-doowop-ii", "major", _POP + ("jazz",), "I vi ii V", "doo-wop with ii"),
    _p("pop-pachelbel", "major", _POP + ("waltz_march",), "I V vi iii IV I IV V", "Pachelbel canon"),
    _p("pop-pachelbel-inv", "major", _POP, "I V6 vi I64 IV I6 ii V", "canon with stepwise bass"),
    _p("pop-three-chord", "major", _POP + ("blues",), "I IV V IV", "three-chord rock"),
    _p("pop-I-IV", "major", _POP, "I IV I V", "I-IV with turnaround"),
    _p("pop-plagal-loop", "major", _POP, "I IV I IV", "plagal vamp"),
    _p("pop-IV-V-iii-vi", "major", _POP, "IV V iii vi", "royal road (J-pop)"),
    _p("pop-royal-road-7", "major", _POP + ("rnb",), "IV[maj7] V7 iii7 vi", "royal road with sevenths"),
    _p("pop-ii-IV-V", "major", _POP, "I ii IV V", "ascending"),
    _p("pop-vi-V-IV-V", "major", _POP, "vi V IV V", "minor-start pop"),
    _p("pop-I-iii-IV-V", "major", _POP, "I iii IV V", "stepwise climb"),
    _p("pop-I-V6-vi-V", "major", _POP, "I V6 vi V", "descending bass to vi"),
    _p("pop-descending", "major", _POP + ("ballad",), "I V6 vi V IV I6 ii V", "descending bass line"),
    _p("pop-add9", "major", _POP, "I[maj(9)] V vi IV[maj(9)]", "axis with add9 colours"),
    _p("pop-sus", "major", _POP, "I V[sus4] V vi IV", "suspended dominant"),
    _p("pop-slash-IV-over-5", "major", _POP + ("rnb",), "I IV@5 I IV@5", "IV over the fifth (gospel pop)"),
    _p("pop-I-over-3", "major", _POP, "I I6 IV V", "first inversion walk-up"),
    _p("rock-mixo", "mixolydian", ("rock", "pop", "country"), "I bVII IV I", "Mixolydian rock"),
    _p("rock-bVI-bVII", "major", ("rock", "pop", "electronic"), "I bVI bVII I", "Mario cadence"),
    _p("rock-bIII-IV", "major", ("rock", "pop"), "I bIII IV I", "borrowed bIII"),
    _p("rock-I-bVII-bVI-bVII", "minor", ("rock", "electronic", "pop"), "i bVII bVI bVII", "Aeolian rock"),
    _p("rock-power-aeolian", "minor", ("rock", "electronic"), "i bVI bIII bVII", "epic minor loop"),
    _p("rock-I-V-IV", "major", ("rock", "country", "pop"), "I V IV IV", "I-V-IV"),
    _p("rock-double-plagal", "major", ("rock", "pop"), "bVII IV I I", "double plagal"),
    _p("rock-I-bVII-IV-I", "major", ("rock", "pop"), "I bVII IV I~0.5 V~0.5", "Mixolydian with V"),
    # --- minor / Andalusian / Latin
    _p("minor-andalusian", "minor", ("latin", "rock", "pop", "ballad"), "i bVII bVI V", "Andalusian cadence"),
    _p("minor-andalusian-7", "minor", ("latin", "jazz", "rock"), "i bVII bVI V7", "Andalusian with V7"),
    _p("minor-i-iv-v", "minor", ("blues", "rock", "latin", "pop"), "i iv v i", "natural minor"),
    _p("minor-i-iv-V", "minor", ("latin", "ballad", "waltz_march", "pop"), "i iv V i", "harmonic minor cadence"),
    _p("minor-i-VI-III-VII", "minor", _POP, "i bVI bIII bVII", "minor axis"),
    _p("minor-i-VII-VI-VII", "minor", _POP, "i bVII bVI bVII", "minor rock loop"),
    _p("minor-line-cliche", "minor", ("jazz", "ballad", "pop"), "i i[minmaj7] i7 i[min6]", "line cliché"),
    _p("minor-i-iv7-VII7-III", "minor", ("jazz", "latin"), "i7 iv7 bVII7 bIII[maj7]", "minor circle"),
    _p("minor-circle-full", "minor", ("jazz", "latin", "ballad"), "i7 iv7 bVII7 bIII[maj7] bVI[maj7] iiø7 V7 i",
       "minor circle of fifths (Autumn-Leaves type)"),
    _p("latin-i-V", "minor", ("latin",), "i V7 V7 i", "tonic-dominant minor (son, tango)"),
    _p("latin-I-V7", "major", ("latin", "country", "waltz_march"), "I V7 V7 I", "tonic-dominant major"),
    _p("latin-montuno", "major", ("latin",), "I IV V IV", "montuno vamp"),
    _p("latin-bossa", "major", ("latin", "jazz"), "I[maj7] II7 ii7 V7", "bossa (Girl-from-Ipanema type)"),
    _p("latin-phrygian", "phrygian", ("latin", "rock"), "i bII i bII", "Phrygian flamenco vamp"),
    # --- jazz
    _p("jazz-ii-V-I", "major", ("jazz", "latin", "ballad"), "ii7 V7 I[maj7] I[maj7]", "ii-V-I"),
    _p("jazz-ii-V-I-half", "major", ("jazz", "latin"), "ii7~0.5 V7~0.5 I[maj7]", "ii-V-I fast"),
    _p("jazz-turnaround", "major", ("jazz", "ballad", "rnb"), "I[maj7] vi7 ii7 V7", "I-vi-ii-V turnaround"),
    _p("jazz-turnaround-VI7", "major", ("jazz",), "I[maj7] VI7 ii7 V7", "turnaround with secondary dominant"),
    _p("jazz-iii-vi-ii-V", "major", ("jazz",), "iii7 vi7 ii7 V7", "iii-vi-ii-V"),
    _p("jazz-rhythm-A", "major", ("jazz",), "I~0.5 vi~0.5 ii~0.5 V~0.5 I~0.5 vi~0.5 ii~0.5 V~0.5 "
       "I~0.5 I7~0.5 IV~0.5 iv~0.5 I~0.5 V~0.5 I", "rhythm changes A"),
    _p("jazz-bridge", "major", ("jazz",), "III7~2 VI7~2 II7~2 V7~2", "rhythm-changes bridge (secondary dominants)"),
    _p("jazz-ii-V-minor", "minor", ("jazz", "latin"), "iiø7 V[7(b9)] i7 i7", "minor ii-V-i"),
    _p("jazz-tritone-sub", "major", ("jazz",), "ii7 bII7 I[maj7] I[maj7]", "tritone substitution"),
    _p("jazz-backdoor", "major", ("jazz", "rnb"), "iv7 bVII7 I[maj7] I[maj7]", "backdoor ii-V"),
    _p("jazz-coltrane-up", "major", ("jazz",), "I[maj7] V7/IV IV[maj7] iv7", "major-minor IV"),
    _p("jazz-dim-passing", "major", ("jazz", "ballad", "waltz_march"), "I[maj7] #io7 ii7 V7", "passing diminished"),
    _p("jazz-ii-V-chain", "major", ("jazz",), "ii7/ii~0.5 V7/ii~0.5 ii7~0.5 V7~0.5 I[maj7] vi7",
       "chained ii-Vs"),
    _p("jazz-maj6", "major", ("jazz", "waltz_march"), "I[maj6] vi7 ii7 V9", "sixth-chord turnaround"),
    _p("jazz-minor-vamp", "dorian", ("jazz", "latin", "rnb"), "i7 IV7 i7 IV7", "Dorian vamp"),
    _p("jazz-lydian", "lydian", ("jazz", "electronic", "ballad"), "I[maj7] II7 I[maj7] II7", "Lydian vamp"),
    _p("jazz-ladybird", "major", ("jazz",), "I[maj7]~2 iv7 bVII7 I[maj7] bIII7 bVI7 bII7",
       "chromatic borrowed chords"),
    # --- blues
    _p("blues-12", "major", ("blues", "rock", "jazz", "rnb", "country"),
       "I7 I7 I7 I7 IV7 IV7 I7 I7 V7 IV7 I7 V7", "12-bar blues"),
    _p("blues-12-quickchange", "major", ("blues", "rock", "jazz", "rnb"),
       "I7 IV7 I7 I7 IV7 IV7 I7 I7 V7 IV7 I7 V7", "12-bar quick change"),
    _p("blues-12-jazz", "major", ("jazz", "blues"),
       "I7 IV7 I7 v7~0.5 I7~0.5 IV7 #ivo7 I7 VI7 ii7 V7 I7~0.5 VI7~0.5 ii7~0.5 V7~0.5", "jazz blues"),
    _p("blues-minor-12", "minor", ("blues", "jazz", "latin"),
       "i7 i7 i7 i7 iv7 iv7 i7 i7 bVI7 V7 i7 V7", "minor blues"),
    _p("blues-8", "major", ("blues", "rock", "country"), "I7 V7 IV7 IV7 I7 V7 I7 V7", "8-bar blues"),
    _p("blues-turnaround", "major", ("blues",), "I7 IV7 I7 V7", "blues turnaround"),
    # --- soul / funk / r&b / gospel
    _p("soul-I-IV-vamp", "mixolydian", ("rnb", "electronic"), "I7 IV7 I7 IV7", "funk vamp"),
    _p("soul-dorian", "dorian", ("rnb", "electronic", "jazz"), "i7 i7 IV7 IV7", "Dorian funk"),
    _p("soul-neo", "major", ("rnb", "jazz", "pop"), "IV[maj7] iii7 ii7 I[maj7]", "neo-soul descent"),
    _p("soul-ii-iii-IV", "major", ("rnb", "pop"), "ii7 iii7 IV[maj7] V[sus4(b7)]", "climbing soul"),
    _p("soul-gospel", "major", ("rnb", "ballad"), "I V7/vi vi V7/V IV I@5 V7 I", "gospel walk"),
    _p("soul-minor-ii-V", "minor", ("rnb", "electronic"), "i9 iv9 i9 bVII[sus4(b7)]", "minor groove"),
    _p("soul-motown", "major", ("rnb", "pop"), "I ii iii IV", "Motown walk-up"),
    # --- country / folk
    _p("country-I-IV-V", "major", ("country", "waltz_march", "pop"), "I I IV IV V V I I", "country I-IV-V"),
    _p("country-II7", "major", ("country", "jazz"), "I I II7 II7 V7 V7 I I", "ragtime secondary dominant"),
    _p("country-circle", "major", ("country", "jazz", "waltz_march"), "I VI7 II7 V7", "ragtime circle"),
    _p("country-folk", "major", ("country", "ballad", "pop"), "I IV vi V", "folk"),
    _p("folk-dorian", "dorian", ("country", "rock"), "i IV i bVII", "Dorian folk"),
    _p("folk-mixolydian", "mixolydian", ("country", "rock"), "I bVII I V", "Mixolydian folk"),
    # --- electronic / modal
    _p("edm-minor-loop", "minor", ("electronic", "pop"), "i bVI bIII bVII", "EDM minor loop"),
    _p("edm-vi-IV-I-V", "major", ("electronic", "pop"), "vi IV I V", "festival loop"),
    _p("edm-i-v", "minor", ("electronic",), "i i bVI bVII", "dark minor"),
    _p("edm-suspended", "major", ("electronic", "pop", "ballad"), "I[sus2] V[sus4] vi IV[sus2]", "suspended pop"),
    # --- ballad / classical practice
    _p("ballad-secondary", "major", ("ballad", "pop", "waltz_march"), "I V7/vi vi V7/V V I", "secondary dominants"),
    _p("ballad-iv-borrowed", "major", ("ballad", "pop", "rock"), "I IV iv I", "minor iv (borrowed)"),
    _p("ballad-bVI-borrowed", "major", ("ballad", "pop"), "I bVI[maj7] IV[maj7] I", "borrowed bVI"),
    _p("ballad-I-iii-vi", "major", ("ballad", "pop"), "I iii vi IV ii V7 I I", "ballad circle"),
    _p("ballad-passing-64", "major", ("ballad", "waltz_march"), "I IV64 I V7", "neighbour 6/4"),
    _p("classical-cadence", "major", ("waltz_march", "ballad"), "I IV I64 V7", "cadential 6/4"),
    _p("classical-circle", "major", ("waltz_march", "ballad", "jazz"), "I IV viio iii vi ii V I",
       "diatonic circle of fifths"),
    _p("classical-minor-circle", "minor", ("waltz_march", "ballad"), "i iv bVII bIII bVI iio V i",
       "minor circle of fifths"),
    _p("classical-neapolitan", "minor", ("waltz_march", "ballad", "latin"), "i iv bII6 V7", "Neapolitan sixth"),
    _p("classical-V65", "major", ("waltz_march", "ballad"), "I V65 I IV64", "dominant 6/5"),
    _p("classical-viio7", "minor", ("waltz_march", "ballad"), "i viio7 i V", "leading-tone diminished"),
    _p("classical-V7-V", "major", ("waltz_march", "ballad", "pop"), "I ii65 V7/V V", "applied dominant"),
    _p("classical-lament", "minor", ("ballad", "rock"), "i v6 iv6 V", "lament bass"),
    _p("classical-romanesca", "major", ("waltz_march", "ballad"), "I V vi iii IV I ii V", "romanesca"),
    _p("waltz-I-V7", "major", ("waltz_march",), "I I V7 V7 V7 V7 I I", "waltz oom-pah-pah"),
    _p("march-I-IV-V7", "major", ("waltz_march",), "I IV I V7 I IV V7 I", "march strain"),
]


def curated() -> list[Progression]:
    """The curated library (validated: every token parses)."""
    return list(CURATED)


def rntxt_progressions() -> list[Progression]:
    """Windows of the music21 RomanText analyses (precomputed JSON; empty list if it is missing)."""
    if not os.path.exists(RNTXT_PATH):
        return []
    with open(RNTXT_PATH) as f:
        data = json.load(f)
    return [Progression(d["id"], d["mode"], tuple(d["tags"]), tuple(s[3] for s in d["specs"]), d["name"],
                        tuple(tuple(s) for s in d["specs"])) for d in data]


def all_progressions() -> list[Progression]:
    """Curated plus RomanText windows."""
    return curated() + rntxt_progressions()


def rntxt_paths() -> list[str]:
    """Paths of the 68 RomanText analyses in music21's corpus, sorted."""
    import glob
    import music21
    base = os.path.join(os.path.dirname(music21.__file__), "corpus")
    return sorted(glob.glob(os.path.join(base, "**", "*.rntxt"), recursive=True))


def rn_to_spec(rn, tonic_pc: int) -> tuple[int, str, int, str] | None:
    """(root st above tonic, Harte quality, bass st above tonic, figure) for a music21 RomanNumeral, or None
    when its pitch set has no quality in `QUALITIES` (augmented sixths and other rarities)."""
    root = rn.root().pitchClass
    pcs = {p.pitchClass for p in rn.pitches}
    quality = quality_from_intervals({(pc - root) % 12 for pc in pcs})
    if quality is None:
        return None
    return ((root - tonic_pc) % 12, quality, (rn.bass().pitchClass - tonic_pc) % 12, rn.figure)


def build_rntxt_windows(max_per_piece: int = 12) -> list[dict]:
    """Cut the RomanText analyses into windows of 4 chords (one bar each) or 8 chords (half a bar each) inside
    one key, without immediate repeats; windows with unsupported chords are skipped."""
    from music21 import converter, roman
    out = []
    for path in rntxt_paths():
        piece = os.path.splitext(os.path.basename(path))[0]
        group = "bach" if "bach" in path else "monteverdi"
        s = converter.parse(path, format="romanText")
        seq = []   # (key label, mode, spec)
        for rn in s.recurse().getElementsByClass(roman.RomanNumeral):
            k = rn.key
            mode = "minor" if k.mode == "minor" else "major"
            spec = rn_to_spec(rn, k.tonic.pitchClass)
            if spec is None:
                seq.append(None)
                continue
            item = (k.tonic.name + ":" + mode, mode, spec)
            if seq and seq[-1] is not None and seq[-1][0] == item[0] and seq[-1][2][:3] == spec[:3]:
                continue
            seq.append(item)
        n_here, i = 0, 0
        while i + 4 <= len(seq) and n_here < max_per_piece:
            size = 8 if (n_here % 3 == 2 and i + 8 <= len(seq)) else 4
            win = seq[i:i + size]
            if all(w is not None and w[0] == win[0][0] for w in win):
                bars = 1.0 if size == 4 else 0.5
                out.append({"id": f"rntxt-{group}-{piece}-{i:03d}", "mode": win[0][1],
                            "tags": list(_ALL), "name": f"{group} {piece} chords {i}-{i + size - 1}",
                            "specs": [list(w[2][:3]) + [w[2][3], bars] for w in win]})
                n_here += 1
                i += size
            else:
                i += 1
    return out


def validate_curated() -> None:
    """Raise ValueError when a curated token does not parse or a quality is unknown."""
    for p in CURATED:
        for t in p.tokens:
            c, _ = parse_roman(t, 0, 0)
            if c.quality not in QUALITIES:
                raise ValueError(p.id)


if __name__ == "__main__":
    if "--rebuild-rntxt" in sys.argv:
        wins = build_rntxt_windows()
        with open(RNTXT_PATH, "w") as f:
            f.write("[\n" + ",\n".join(json.dumps(w) for w in wins) + "\n]\n")
        print(f"{len(wins)} windows written to {RNTXT_PATH}")
