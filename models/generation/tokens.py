"""The step grid the stem transformer reads and writes, and the conditioning it is given.

A song is a sequence of *steps*: `grid` steps per tactus beat (4 = sixteenths in 4/4 and 3/4, 3 = eighth-note
triplets for swung grooves, 6 = sixteenths under a dotted-quarter beat in 6/8 and 12/8). At every step each stem
has one token:

- drums: which of the DRUM_CLASSES are struck (multi-hot), with one velocity bucket for the step;
- bass: nothing, or an onset `pitch - home(chord root)` in semitones, where home puts the chord root in
  E1..D#2 (MIDI 28-39), so a bass line is stored relative to the chord it plays over;
- melody: nothing, or an onset `pitch - home(tonic)`, home = the local tonic in C4..B4 (MIDI 60-71);
- keys: nothing, or a chord onset voiced by (inversion 0-2: which chord tone is lowest) x (register 0-2: the
  lowest note in E2-D#3, E3-D#4, E4-D#5); the pitches come from the chord itself.

Pitched onsets also carry a duration class (DURATIONS, in steps) and a velocity bucket. Everything is relative
to the local key and the current chord, so the model is transposition invariant: the key only enters at the end,
when tokens become MIDI pitches.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from models.theory.harmony import QUALITIES

STEMS = ("drums", "bass", "keys", "melody")
# GM program and MIDI channel (zero-based) of each stem's output track.
PROGRAMS = {"drums": 0, "bass": 33, "keys": 4, "melody": 80}
CHANNELS = {"drums": 9, "bass": 1, "keys": 2, "melody": 3}
# GM programs per genre family: (bass, keys, melody). Keys are guitar in guitar-led families.
FAMILY_PROGRAMS = {
    "pop": (33, 4, 80), "rock": (33, 29, 30), "jazz": (32, 0, 65), "latin": (33, 24, 73), "blues": (33, 26, 22),
    "electronic": (38, 89, 81), "ballad": (33, 0, 48), "rnb": (33, 4, 66), "country": (33, 25, 110),
    "waltz_march": (32, 21, 71),
}


def programs_for(family: str) -> dict:
    bass, keys, melody = FAMILY_PROGRAMS.get(family, (PROGRAMS["bass"], PROGRAMS["keys"], PROGRAMS["melody"]))
    return {"drums": 0, "bass": bass, "keys": keys, "melody": melody}


# Instrument ranges (MIDI pitch, inclusive) that generated notes are held to.
RANGES = {"bass": (28, 60), "keys": (40, 84), "melody": (55, 91)}

# (name, representative GM pitch, GM pitches mapped to the class)
DRUM_CLASSES = (
    ("kick", 36, (35, 36)), ("snare", 38, (38, 40)), ("rim", 37, (37,)), ("clap", 39, (39,)),
    ("closed_hat", 42, (42,)), ("pedal_hat", 44, (44,)), ("open_hat", 46, (46,)), ("ride", 51, (51, 53, 59)),
    ("crash", 49, (49, 52, 55, 57)), ("low_tom", 45, (41, 43, 45)), ("high_tom", 48, (47, 48, 50)),
    ("hand_drum", 63, tuple(range(60, 69))), ("shaker", 70, (54, 69, 70, 82)), ("bell", 56, (56, 80, 81)),
    ("other_perc", 75, ()),
)
N_DRUMS = len(DRUM_CLASSES)
_DRUM_OF_PITCH = {p: i for i, (_, _, ps) in enumerate(DRUM_CLASSES) for p in ps}


def drum_class(pitch: int) -> int:
    return _DRUM_OF_PITCH.get(pitch, N_DRUMS - 1)


BASS_LOW, BASS_HIGH = -12, 35          # semitones around the chord root's home
MELODY_LOW, MELODY_HIGH = -24, 24      # semitones around the tonic's home
N_BASS = BASS_HIGH - BASS_LOW + 2      # + "no onset"
N_MELODY = MELODY_HIGH - MELODY_LOW + 2
N_KEYS = 1 + 3 * 3
KEYS_REGISTERS = (40, 52, 64)          # lowest note of a keys voicing: E2.., E3.., E4..
DURATIONS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)   # steps
VELOCITIES = (48, 68, 88, 108)
GRIDS = (4, 3, 6)
MAX_STEPS_PER_BAR = 24

QUALITY_NAMES = ("N",) + tuple(QUALITIES)
QUALITY_INDEX = {q: i for i, q in enumerate(QUALITY_NAMES)}
MODES = ("major", "minor", "dorian", "phrygian", "lydian", "mixolydian")
FAMILIES = ("pop", "rock", "jazz", "latin", "blues", "electronic", "ballad", "rnb", "country", "waltz_march")
SECTIONS = ("intro", "verse", "chorus", "bridge", "outro", "other")
TEMPO_EDGES = (70, 90, 110, 130, 150)  # BPM bucket edges
CHANGE_EDGES = (1, 2, 3, 4, 6, 8, 12, 16)  # steps to the next chord change, bucketed
DENSITY_EDGES = {"drums": (1.5, 4.0), "bass": (0.6, 1.5), "keys": (0.5, 1.5), "melody": (0.6, 1.6)}  # onsets per beat


def home(pc: int, low: int) -> int:
    """The MIDI pitch of pitch class `pc` in [low, low + 11]."""
    return low + (pc - low) % 12


def bucket(value: float, edges) -> int:
    return int(np.searchsorted(np.asarray(edges, dtype=float), value, side="right"))


def duration_class(steps: float) -> int:
    return int(np.argmin([abs(np.log2(max(steps, 0.5) / d)) for d in DURATIONS]))


def velocity_class(velocity: int) -> int:
    return int(np.argmin([abs(velocity - v) for v in VELOCITIES]))


def density_class(stem: str, onsets_per_beat: float | None) -> int:
    """0 = stem absent, 1..3 = sparse, medium, busy."""
    if onsets_per_beat is None:
        return 0
    return 1 + bucket(onsets_per_beat, DENSITY_EDGES[stem])


@dataclass
class StepChord:
    """The harmony at one step, relative to the local key."""
    root: int        # pitch class of the chord root (absolute), -1 for no chord
    quality: str     # Harte quality, 'N' for no chord
    bass: int        # pitch class of the bass note (absolute)
    tonic: int       # local tonic pitch class
    mode: str        # local mode

    def tones(self) -> tuple[int, ...]:
        """Absolute pitch classes of the chord (root first, bass included)."""
        if self.root < 0:
            return ()
        ivs = [(self.root + i) % 12 for i in QUALITIES[self.quality][0]]
        if self.bass % 12 not in ivs:
            ivs.append(self.bass % 12)
        return tuple(dict.fromkeys(ivs))


@dataclass
class Conditioning:
    """Everything the model is told about the song, step by step (arrays of length n_steps), plus song-level
    settings. Built from a request (generation) or from a songbook song (training)."""
    grid: int
    beats_per_bar: int
    bpm: float
    family: str
    chords: list                       # StepChord per step
    section: list                      # section label index per step
    bar_in_section: list               # bar number within its section per step
    last_bar: list                     # 1 on the last bar of a section
    density: dict = field(default_factory=dict)   # stem -> density class 1..3 (0 = absent)

    @property
    def n_steps(self) -> int:
        return len(self.chords)

    @property
    def steps_per_bar(self) -> int:
        return self.grid * self.beats_per_bar

    def arrays(self) -> dict:
        """Integer feature arrays (n_steps,) for the model's conditioning embeddings."""
        n = self.n_steps
        root = np.zeros(n, np.int64)
        qual = np.zeros(n, np.int64)
        bass = np.zeros(n, np.int64)
        nroot = np.zeros(n, np.int64)
        nqual = np.zeros(n, np.int64)
        change = np.zeros(n, np.int64)
        mode = np.zeros(n, np.int64)
        ident = [(c.root, c.quality, c.bass, c.tonic) for c in self.chords]
        nxt = n
        next_idx = [n] * n
        for i in range(n - 1, -1, -1):   # index of the next step whose chord differs
            next_idx[i] = nxt
            if i > 0 and ident[i - 1] != ident[i]:
                nxt = i
        for i, c in enumerate(self.chords):
            root[i] = 0 if c.root < 0 else 1 + (c.root - c.tonic) % 12
            qual[i] = QUALITY_INDEX.get(c.quality, 0)
            bass[i] = 0 if c.root < 0 else (c.bass - c.root) % 12
            mode[i] = MODES.index(c.mode) if c.mode in MODES else 0
            j = next_idx[i]
            if j < n:
                d = self.chords[j]
                nroot[i] = 0 if d.root < 0 else 1 + (d.root - c.tonic) % 12
                nqual[i] = QUALITY_INDEX.get(d.quality, 0)
            change[i] = bucket(j - i, CHANGE_EDGES)
        pos = np.arange(n) % self.steps_per_bar
        song = np.array([GRIDS.index(self.grid), min(self.beats_per_bar, 4), bucket(self.bpm, TEMPO_EDGES),
                         FAMILIES.index(self.family) if self.family in FAMILIES else len(FAMILIES)]
                        + [self.density.get(s, 0) for s in STEMS], np.int64)
        return {"root": root, "quality": qual, "bass_iv": bass, "next_root": nroot, "next_quality": nqual,
                "change": change, "mode": mode, "pos": pos.astype(np.int64),
                "section": np.asarray(self.section, np.int64), "bar_in_section": np.minimum(
                    np.asarray(self.bar_in_section, np.int64), 7), "last_bar": np.asarray(self.last_bar, np.int64),
                "song": np.tile(song, (n, 1))}


@dataclass
class StepTokens:
    """Target/generated tokens, arrays of length n_steps (drums: n_steps x N_DRUMS)."""
    drums: np.ndarray
    drum_vel: np.ndarray
    bass: np.ndarray
    bass_dur: np.ndarray
    bass_vel: np.ndarray
    keys: np.ndarray
    keys_dur: np.ndarray
    keys_vel: np.ndarray
    melody: np.ndarray
    melody_dur: np.ndarray
    melody_vel: np.ndarray

    @classmethod
    def empty(cls, n: int) -> "StepTokens":
        z = lambda: np.zeros(n, np.int64)  # noqa: E731
        return cls(np.zeros((n, N_DRUMS), np.float32), z(), z(), z(), z(), z(), z(), z(), z(), z(), z())


def keys_token(lowest_pitch: int, chord: StepChord) -> int:
    """Voicing token of a keys onset whose lowest note is `lowest_pitch`."""
    tones = chord.tones()[:3] or (lowest_pitch % 12,)
    pc = lowest_pitch % 12
    inversion = tones.index(pc) if pc in tones else 0
    register = min(2, max(0, (lowest_pitch - KEYS_REGISTERS[0]) // 12))
    return 1 + inversion * 3 + register


def keys_pitches(token: int, chord: StepChord) -> list[int]:
    """MIDI pitches of a keys voicing token over `chord`: close position from the chosen lowest chord tone."""
    tones = chord.tones()
    if token <= 0 or not tones:
        return []
    inversion, register = divmod(token - 1, 3)
    triad = list(tones[:3]) if len(tones) >= 3 else list(tones)
    start = triad[min(inversion, len(triad) - 1)]
    low = home(start, KEYS_REGISTERS[register])
    order = tones[tones.index(start):] + tones[:tones.index(start)]
    pitches, p = [], low
    for pc in order:
        while p % 12 != pc:
            p += 1
        pitches.append(p)
    return pitches


def bass_pitch(token: int, chord: StepChord) -> int | None:
    if token <= 0 or chord.root < 0:
        return None
    return home(chord.root, 28) + token - 1 + BASS_LOW


def bass_token(pitch: int, chord: StepChord) -> int:
    d = pitch - home(chord.root if chord.root >= 0 else pitch % 12, 28)
    return 1 + int(np.clip(d, BASS_LOW, BASS_HIGH)) - BASS_LOW


def melody_pitch(token: int, chord: StepChord) -> int | None:
    if token <= 0:
        return None
    return home(chord.tonic, 60) + token - 1 + MELODY_LOW


def melody_token(pitch: int, chord: StepChord) -> int:
    d = pitch - home(chord.tonic, 60)
    return 1 + int(np.clip(d, MELODY_LOW, MELODY_HIGH)) - MELODY_LOW
