"""Song plans: everything random about one song, drawn from (seed, split, index) and nothing else.

Splits are disjoint by groove and by progression. `split_of(key)` hashes a stable key (SHA-1 of
'bandmate-songbook/' + key) to a number in [0, 1) and cuts it at 0.8 / 0.9: train / valid / test.
- Grooves split by MMA file ('stdlib/8beat': all grooves of a file share patterns, so they fall on one side),
  stratified by genre family so every family has test and valid grooves: within a family, files ordered by the
  hash of their name, the first 10% (at least one) test, the next 10% (at least one) valid, the rest train.
- Progressions split by `split_of` of their content (chords as root, quality and bass above the tonic, with
  lengths), so two library entries that spell the same progression cannot straddle splits.
- Songs without `--split` get `split_of("song:<seed>:<index>")`.
A song of split S only uses grooves and progressions of split S.
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

from . import grooves as G
from models.theory.harmony import Chord, key_spelling
from .progressions import Progression, all_progressions

SPLITS = ("train", "valid", "test")
SPLIT_CUTS = (0.8, 0.9)

# Tactus tempo ranges (BPM) by family; compound meters (6/8, 12/8) use COMPOUND_TEMPO.
FAMILY_TEMPO = {"pop": (80, 132), "rock": (96, 168), "jazz": (90, 190), "latin": (88, 150), "blues": (60, 132),
                "electronic": (115, 140), "ballad": (60, 92), "rnb": (72, 118), "country": (88, 170),
                "waltz_march": (84, 190)}
COMPOUND_TEMPO = (60, 100)

FORMS = (("intro", "verse", "chorus", "outro"), ("verse", "chorus", "verse", "chorus"),
         ("intro", "verse", "chorus", "bridge", "chorus"), ("verse", "chorus", "bridge", "chorus", "outro"),
         ("intro", "verse", "verse", "chorus", "outro"), ("intro", "chorus", "verse", "chorus"))

LEAD_PROGRAMS = (73, 65, 56, 71, 80, 81, 11, 22, 68, 40, 66, 0)   # flute, alto sax, trumpet, clarinet, leads ...
PAD_PROGRAMS = (48, 49, 89, 88, 19, 16, 4, 52, 50, 91)            # strings, pads, organs, e-piano, choir
BASS_PROGRAMS = (33, 32, 34, 38, 35)


def split_of(key: str) -> str:
    """'train' | 'valid' | 'test' for a stable key (see module doc)."""
    h = _hash01(key)
    return SPLITS[0] if h < SPLIT_CUTS[0] else SPLITS[1] if h < SPLIT_CUTS[1] else SPLITS[2]


def _hash01(key: str) -> float:
    return int(hashlib.sha1(("bandmate-songbook/" + key).encode()).hexdigest()[:12], 16) / float(1 << 48)


_GROOVE_FILE_SPLIT: dict[str, str] = {}


def groove_file_splits() -> dict[str, str]:
    """MMA groove file -> split, stratified by genre family: within each family the files are ordered by the hash
    of their name; the first 10% (at least one) are test, the next 10% (at least one) valid, the rest train."""
    if not _GROOVE_FILE_SPLIT:
        fams: dict[str, set[str]] = {}
        for g in G.load_table():
            fams.setdefault(g.family, set()).add(g.file)
        for files in fams.values():
            order = sorted(files, key=lambda f: _hash01("groove:" + f))
            n_test = n_valid = max(1, round(0.1 * len(order)))
            for i, f in enumerate(order):
                _GROOVE_FILE_SPLIT[f] = "test" if i < n_test else "valid" if i < n_test + n_valid else "train"
    return _GROOVE_FILE_SPLIT


def groove_split(g: G.Groove) -> str:
    """Split of a groove: by its MMA file (see groove_file_splits)."""
    return groove_file_splits()[g.file]


def progression_key(p: Progression) -> str:
    """Content key of a progression: chords as (root, quality, bass) above the tonic, with bar lengths."""
    parts = [f"{c.root}:{c.quality}/{c.bass}~{b:g}" for c, b in p.realise(0)]
    return p.mode + "|" + " ".join(parts)


def progression_split(p: Progression) -> str:
    """Split of a progression: by its content."""
    return split_of("progression:" + progression_key(p))


@dataclass
class ChordSpan:
    """A chord of the plan: position in bars from the song start (float), length in bars."""
    chord: Chord
    start_bar: float
    bars: float
    key_tonic: str
    key_mode: str


@dataclass
class Section:
    """One section: `start_bar`/`bars` in bars; `grooves` the MMA groove of each bar; `tempo` tactus BPM."""
    label: str
    letter: str
    start_bar: int
    bars: int
    grooves: list[str]
    progression: str
    tonic_pc: int
    tonic: str
    mode: str
    tempo: float
    melody: bool


@dataclass
class SongPlan:
    """All choices for one song. Tempi are tactus BPM; MMA's tempo is tactus BPM x mma_beats_per_tactus."""
    id: str
    seed: int
    index: int
    split: str
    groove: str
    groove_file: str
    family: str
    meter: str
    mma_beats_per_bar: int
    mma_beats_per_tactus: int
    beats_per_bar: int
    soundfont: str
    mma_seed: int
    sections: list[Section] = field(default_factory=list)
    chords: list[ChordSpan] = field(default_factory=list)
    lead_program: int = 73
    pad_program: int = 48
    bass_program: int = 33

    @property
    def bars(self) -> int:
        """Length in bars."""
        return sum(s.bars for s in self.sections)

    @property
    def progressions(self) -> list[str]:
        """Distinct progression ids, in order of use."""
        return list(dict.fromkeys(s.progression for s in self.sections))


def _pools(split: str):
    grooves = [g for g in G.load_table() if g.role == "main" and groove_split(g) == split]
    progs = [p for p in all_progressions() if progression_split(p) == split]
    return grooves, progs


_POOL_CACHE: dict[str, tuple] = {}


def pools(split: str):
    """(main grooves, progressions) of a split; cached per process."""
    if split not in _POOL_CACHE:
        _POOL_CACHE[split] = _pools(split)
    return _POOL_CACHE[split]


def song_split(seed: int, index: int) -> str:
    """Split of song `index` when none is asked for: the same 80/10/10 hash on (seed, index)."""
    return split_of(f"song:{seed}:{index}")


def _pick_progression(rng: random.Random, progs: list[Progression], family: str, half_ok: bool,
                      mode: str | None, avoid: set[str]) -> Progression:
    def ok(p, need_mode):
        return ((family in p.tags) and (half_ok or not p.has_half_bars) and (need_mode is None or p.mode == need_mode)
                and p.id not in avoid)
    use_rntxt = rng.random() < 0.25
    for need_mode in (mode, None):
        cands = [p for p in progs if ok(p, need_mode) and p.id.startswith("rntxt-") == use_rntxt]
        cands = cands or [p for p in progs if ok(p, need_mode)]
        if cands:
            return rng.choice(cands)
    return rng.choice([p for p in progs if half_ok or not p.has_half_bars])


def _form_and_lengths(rng: random.Random, total: int) -> tuple[tuple[str, ...], list[int]]:
    """A form and its section lengths in bars (main sections 4 or 8 bars, intro/outro 2 or 4), close to `total`."""
    options = []
    for form in FORMS + (("verse", "chorus"), ("intro", "verse", "chorus"), ("verse",)):
        for main_len in (4, 8):
            edge = 2 if main_len == 4 else 4
            lengths = [edge if lab in ("intro", "outro") else main_len for lab in form]
            options.append((abs(sum(lengths) - total), form, lengths))
    best = min(o[0] for o in options)
    near = [o for o in options if o[0] <= best + max(1, total // 8)]
    _, form, lengths = rng.choice(near)
    return form, lengths


def plan_song(seed: int, index: int, split: str | None = None, duration: float = 30.0,
              soundfonts: tuple[str, ...] = ("FluidR3_GM",), holdout_soundfont: str | None = None) -> SongPlan:
    """Draw the plan of song `index` for `seed`. `duration` is the target length in seconds (bars are whole, so
    the real length differs by up to a bar). Pure function of its arguments."""
    split = split or song_split(seed, index)
    rng = random.Random(f"bandmate-songbook:{seed}:{split}:{index}")
    grooves, progs = pools(split)
    if not grooves or not progs:
        raise RuntimeError(f"split {split!r} has no grooves or progressions")
    families = sorted({g.family for g in grooves})
    family = rng.choice(families)
    files = sorted({g.file for g in grooves if g.family == family})
    gfile = rng.choice(files)
    main = rng.choice([g for g in grooves if g.file == gfile])
    sib = G.siblings(main)
    compound = main.meter in ("6/8", "12/8")
    lo, hi = COMPOUND_TEMPO if compound else FAMILY_TEMPO[family]
    tempo = float(rng.randint(lo, hi))
    bar_seconds = main.beats_per_bar * 60.0 / tempo
    total = max(4, int(round(duration / bar_seconds)))
    form, lengths = _form_and_lengths(rng, total)

    if holdout_soundfont:
        sf_pool = (holdout_soundfont,) if split == "test" else tuple(s for s in soundfonts if s != holdout_soundfont)
    else:
        sf_pool = soundfonts
    plan = SongPlan(id=f"sb{seed}-{split}-{index:05d}", seed=seed, index=index, split=split, groove=main.name,
                    groove_file=main.file, family=family, meter=main.meter,
                    mma_beats_per_bar=main.mma_beats_per_bar, mma_beats_per_tactus=main.mma_beats_per_tactus,
                    beats_per_bar=main.beats_per_bar, soundfont=rng.choice(sf_pool), mma_seed=rng.randrange(1, 1 << 30),
                    lead_program=rng.choice(LEAD_PROGRAMS), pad_program=rng.choice(PAD_PROGRAMS),
                    bass_program=rng.choice(BASS_PROGRAMS))
    half_ok = main.mma_beats_per_bar % 2 == 0
    # One progression per distinct label; intro and outro borrow the verse's or chorus's.
    tonic_pc = rng.randrange(12)
    by_label: dict[str, Progression] = {}
    first = _pick_progression(rng, progs, family, half_ok, None, set())
    home_mode = first.mode
    by_label["verse"] = first
    for lab in ("chorus", "bridge"):
        mode = home_mode if rng.random() < 0.85 else None
        by_label[lab] = _pick_progression(rng, progs, family, half_ok, mode, {p.id for p in by_label.values()})
    by_label["intro"] = by_label["chorus"] if rng.random() < 0.5 else by_label["verse"]
    by_label["outro"] = by_label["chorus"] if rng.random() < 0.5 else by_label["verse"]
    letters: dict[str, str] = {}
    melody_labels = {"chorus"} | ({"verse", "bridge"} if rng.random() < 0.5 else set())
    has_melody = rng.random() < 0.75
    modulate_last = rng.random() < 0.15
    tempo_shift = rng.random() < 0.15
    start = 0
    for si, (lab, n) in enumerate(zip(form, lengths)):
        prog = by_label[lab]
        sec_tonic = tonic_pc
        if prog.mode != home_mode:          # relative major/minor for a different-mode progression
            rel = {("major", "minor"): 9, ("minor", "major"): 3}.get((home_mode, prog.mode), 0)
            sec_tonic = (tonic_pc + rel) % 12
        if modulate_last and si == len(form) - 1 and lab == "chorus":
            sec_tonic = (sec_tonic + rng.choice((1, 2))) % 12
        sec_tempo = tempo
        if tempo_shift and lab in ("bridge", "outro"):
            sec_tempo = float(round(tempo * rng.choice((0.9, 0.95, 1.05, 1.1))))
        letters.setdefault(lab, "ABCDEFG"[len(letters)])
        bar_grooves = [main.name] * n
        if lab == "intro" and sib.get("intro") and rng.random() < 0.7:
            bar_grooves = [rng.choice(sib["intro"]).name] * n
        elif lab in ("chorus", "bridge") and len(sib.get("main", [])) > 1 and rng.random() < 0.7:
            bar_grooves = [rng.choice([g for g in sib["main"] if g.name != main.name]).name] * n
        if si < len(form) - 1 and sib.get("fill") and n > 1 and rng.random() < 0.4:
            bar_grooves[-1] = rng.choice(sib["fill"]).name
        if si == len(form) - 1 and sib.get("end") and rng.random() < 0.6:
            bar_grooves[-1] = rng.choice(sib["end"]).name
        tname, _ = key_spelling(sec_tonic, prog.mode)
        plan.sections.append(Section(label=lab, letter=letters[lab], start_bar=start, bars=n, grooves=bar_grooves,
                                     progression=prog.id, tonic_pc=sec_tonic, tonic=tname, mode=prog.mode,
                                     tempo=sec_tempo, melody=has_melody and lab in melody_labels))
        # Loop the progression over the section; cut the last chord at the section's end.
        chords = prog.realise(sec_tonic)
        pos, i = 0.0, 0
        while pos < n - 1e-9:
            ch, bars = chords[i % len(chords)]
            if not half_ok and bars % 1:
                bars = 1.0
            bars = min(bars, n - pos)
            plan.chords.append(ChordSpan(ch, start + pos, bars, tname, prog.mode))
            pos += bars
            i += 1
        start += n
    return plan
