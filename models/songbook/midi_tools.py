"""MIDI after MMA: tempo map, stems, chord coverage, and the parts we add (pad, bass, melody).

Times are MIDI ticks unless a name says seconds. MMA writes a conductor track (tempo, time signature) and one
track per MMA track, named after it ('Drum', 'Bass-Sus', 'Chord-Guitar', ...). Stems by MMA track kind:

| stem   | MMA tracks                              | added by us                                  |
|--------|-----------------------------------------|----------------------------------------------|
| drums  | Drum*                                   |                                              |
| bass   | Bass*, Walk*                            | a root/slash-bass line when the groove has none |
| chords | Chord*, Plectrum*, Arpeggio*            | a sustained pad when MMA's voicing misses a chord tone |
| melody | Solo*, Melody*, Scale*, Aria*           | a chord-tone/scale melody in some sections    |
"""
from __future__ import annotations

import random
from bisect import bisect_right
from dataclasses import dataclass

import mido

from models.theory.harmony import MODE_SCALES, QUALITIES
from .plan import SongPlan

STEMS = ("drums", "bass", "chords", "melody")
_KIND_STEM = {"drum": "drums", "bass": "bass", "walk": "bass", "chord": "chords", "plectrum": "chords",
              "arpeggio": "chords", "solo": "melody", "melody": "melody", "scale": "melody", "aria": "melody"}
ONSET_SLACK = 12   # ticks (1/16 of a quarter at 192 tpq): MMA's Rtime moves onsets a little either way


@dataclass
class Note:
    """A note: onset and offset in ticks (offset None: never released), MIDI pitch, channel, velocity."""
    start: int
    end: int | None
    pitch: int
    channel: int
    velocity: int = 0


def stem_of_track(name: str) -> str:
    """Stem of an MMA track name ('Chord-Guitar' -> 'chords'); unknown names go to 'melody'."""
    kind = name.split("-")[0].strip().lower()
    return _KIND_STEM.get(kind, "melody")


def track_notes(track: mido.MidiTrack, unreleased_at_end: bool = True) -> list[Note]:
    """Notes of a track (note_on velocity 0 counts as note_off). A note never released ends with the track, or
    has end None when `unreleased_at_end` is False (to tell stuck notes)."""
    notes, on, t = [], {}, 0
    for msg in track:
        t += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            on.setdefault((msg.channel, msg.note), []).append((t, msg.velocity))
        elif msg.type in ("note_off", "note_on"):
            starts = on.get((msg.channel, msg.note))
            if starts:
                s, v = starts.pop(0)
                notes.append(Note(s, t, msg.note, msg.channel, v))
    for (ch, p), starts in on.items():
        notes.extend(Note(s, t if unreleased_at_end else None, p, ch, v) for s, v in starts)
    return sorted(notes, key=lambda n: (n.start, n.pitch))


class TempoMap:
    """Ticks <-> seconds from a MIDI file's set_tempo events (all tracks)."""

    def __init__(self, mid: mido.MidiFile):
        self.tpq = mid.ticks_per_beat
        events = []
        for tr in mid.tracks:
            t = 0
            for msg in tr:
                t += msg.time
                if msg.type == "set_tempo":
                    events.append((t, msg.tempo))
        events.sort()
        if not events or events[0][0] > 0:
            events.insert(0, (0, 500000))
        self.ticks, self.tempos, self.secs = [], [], []
        sec = 0.0
        for i, (t, tempo) in enumerate(events):
            if i:
                sec += (t - self.ticks[-1]) * self.tempos[-1] / 1e6 / self.tpq
            if self.ticks and self.ticks[-1] == t:
                self.tempos[-1] = tempo
                continue
            self.ticks.append(t)
            self.tempos.append(tempo)
            self.secs.append(sec)

    def seconds(self, tick: float) -> float:
        """Seconds at `tick`."""
        i = max(0, bisect_right(self.ticks, tick) - 1)
        return self.secs[i] + (tick - self.ticks[i]) * self.tempos[i] / 1e6 / self.tpq

    def changes(self) -> list[tuple[int, float, float]]:
        """(tick, seconds, quarter-note BPM) at every tempo change."""
        return [(t, s, 60e6 / tp) for t, s, tp in zip(self.ticks, self.secs, self.tempos)]


def check_conductor(mid: mido.MidiFile, plan: SongPlan) -> None:
    """Verify MMA's tempo events sit where the plan's sections start (so bar 1 is at tick 0, no lead-in)."""
    tm = TempoMap(mid)
    bar = plan.mma_beats_per_bar * mid.ticks_per_beat
    want = {}
    for sec in plan.sections:
        want.setdefault(sec.start_bar * bar, sec.tempo * plan.mma_beats_per_tactus)
    have = {t: bpm for t, _, bpm in tm.changes()}
    last = None
    for tick, bpm in sorted(want.items()):
        if bpm == last:
            continue
        got = have.get(tick)
        if got is None or abs(got - bpm) > 0.01:
            raise RuntimeError(f"{plan.id}: expected tempo {bpm} at tick {tick}, MIDI has {sorted(have.items())}")
        last = bpm


def scrub_paths(mid: mido.MidiFile, name: str) -> None:
    """Replace the file paths MMA writes into the conductor track (track name, 'Input filename' text), so the
    MIDI bytes depend on the song only, not on where it was made."""
    for i, msg in enumerate(mid.tracks[0]):
        if msg.type == "track_name":
            mid.tracks[0][i] = msg.copy(name=name)
        elif msg.type == "text" and "filename" in msg.text.lower():
            mid.tracks[0][i] = msg.copy(text=f"Created by MMA for the bandmate songbook: {name}")


def stem_tracks(mid: mido.MidiFile) -> dict[str, list[int]]:
    """Stem -> indexes of the MIDI tracks that carry notes for it (track 0, the conductor, excluded)."""
    out: dict[str, list[int]] = {s: [] for s in STEMS}
    for i, tr in enumerate(mid.tracks[1:], start=1):
        if any(m.type == "note_on" for m in tr):
            out[stem_of_track(tr.name)].append(i)
    return out


def chord_ticks(plan: SongPlan, tpq: int) -> list[tuple[int, int]]:
    """(start, end) ticks of every chord span of the plan."""
    bar = plan.mma_beats_per_bar * tpq
    return [(int(round(c.start_bar * bar)), int(round((c.start_bar + c.bars) * bar))) for c in plan.chords]


def required_pcs(chord) -> set[int]:
    """Pitch classes a chord track must sound for the label to be audible: every chord tone except the perfect
    fifth (voicings drop it) and except a slash bass outside the chord (the bass stem plays that)."""
    root = chord.root
    return {(root + iv) % 12 for iv in QUALITIES[chord.quality][0] if iv % 12 != 7 or chord.quality in
            ("sus2", "sus4")}


def sounding_pcs(notes: list[Note], t0: int, t1: int) -> set[int]:
    """Pitch classes of notes struck inside [t0, t1) (onsets up to ONSET_SLACK early count)."""
    return {n.pitch % 12 for n in notes if t0 - ONSET_SLACK <= n.start < t1 - ONSET_SLACK}


def coverage(plan: SongPlan, notes: list[Note], tpq: int) -> list[bool]:
    """Per chord span: does `notes` sound all its required pitch classes?"""
    return [required_pcs(c.chord) <= sounding_pcs(notes, t0, t1)
            for c, (t0, t1) in zip(plan.chords, chord_ticks(plan, tpq))]


def _free_channel(mid: mido.MidiFile) -> int:
    """A MIDI channel no track uses. When MMA has taken all 15 melodic channels, the least needed MMA tracks
    give theirs up: melody-stem tracks (Scale, Aria, Solo), then arpeggios, then sustained ('Sus') chord layers."""
    def used():
        return {m.channel for tr in mid.tracks for m in tr if hasattr(m, "channel")}
    for ch in range(15, -1, -1):
        if ch != 9 and ch not in used():
            return ch
    for pick in (lambda n: stem_of_track(n) == "melody", lambda n: n.lower().startswith("arpeggio"),
                 lambda n: "sus" in n.lower()):
        for i in range(len(mid.tracks) - 1, 0, -1):
            tr = mid.tracks[i]
            chans = {m.channel for m in tr if hasattr(m, "channel")}
            if pick(tr.name) and chans and 9 not in chans:
                del mid.tracks[i]
                free = chans - used()
                if free:
                    return max(free)
    raise RuntimeError("no free MIDI channel")


def events_track(name: str, channel: int, program: int | None, notes: list[tuple[int, int, int, int]],
                 volume: int | None = 100, end_tick: int | None = None) -> mido.MidiTrack:
    """A track from (start, end, pitch, velocity) notes, ticks absolute: its name, then the program change and
    channel volume (None: left out), then the notes; `end_tick` pads the track to that length."""
    ev = []
    for s, e, p, v in notes:
        ev.append((s, 1, mido.Message("note_on", channel=channel, note=p, velocity=v)))
        ev.append((e, 0, mido.Message("note_off", channel=channel, note=p, velocity=0)))
    ev.sort(key=lambda x: (x[0], x[1]))
    tr = mido.MidiTrack([mido.MetaMessage("track_name", name=name)])
    if program is not None:
        tr.append(mido.Message("program_change", channel=channel, program=program))
    if volume is not None:
        tr.append(mido.Message("control_change", channel=channel, control=7, value=volume))
    t = 0
    for at, _, msg in ev:
        tr.append(msg.copy(time=at - t))
        t = at
    tr.append(mido.MetaMessage("end_of_track", time=max(0, (end_tick or t) - t)))
    return tr


def add_pad(mid: mido.MidiFile, plan: SongPlan) -> None:
    """Add 'Chord-Pad': every chord of the plan held for its span, all chord tones in close position."""
    notes = []
    for c, (t0, t1) in zip(plan.chords, chord_ticks(plan, mid.ticks_per_beat)):
        base = 48 + (c.chord.root - 48) % 12    # root in C3..B3
        for iv in QUALITIES[c.chord.quality][0]:
            notes.append((t0, t1 - 2, base + iv, 62))
    mid.tracks.append(events_track("Chord-Pad", _free_channel(mid), plan.pad_program, notes, volume=90))


def add_bass(mid: mido.MidiFile, plan: SongPlan) -> None:
    """Add 'Bass-Line': the bass note of every chord on each tactus beat of its span."""
    tpq = mid.ticks_per_beat
    step = plan.mma_beats_per_tactus * tpq
    notes = []
    for c, (t0, t1) in zip(plan.chords, chord_ticks(plan, tpq)):
        pitch = 36 + (c.chord.bass - 36) % 12 if c.chord.bass % 12 < 8 else 24 + (c.chord.bass - 24) % 12
        t = t0
        while t < t1:
            notes.append((t, min(t + step, t1) - 4, pitch, 96 if (t - t0) == 0 else 80))
            t += step
    mid.tracks.append(events_track("Bass-Line", _free_channel(mid), plan.bass_program, notes))


def add_melody(mid: mido.MidiFile, plan: SongPlan) -> None:
    """Add 'Melody-Lead' in sections whose plan says melody: chord tones on tactus beats, scale steps between,
    rhythm cells drawn per bar. Seeded from the plan, so it is deterministic."""
    rng = random.Random(f"melody:{plan.id}:{plan.mma_seed}")
    tpq = mid.ticks_per_beat
    beat = plan.mma_beats_per_tactus * tpq
    bar = plan.mma_beats_per_bar * tpq
    spans = chord_ticks(plan, tpq)
    # Rhythm cells: fractions of one tactus beat (thirds in compound meters).
    cells = ([1.0], [0.5, 0.5], [0.75, 0.25], [0.25, 0.25, 0.5], [0.5, 0.25, 0.25]) \
        if plan.meter not in ("6/8", "12/8") else ([1.0], [2 / 3, 1 / 3], [1 / 3] * 3)
    notes, prev = [], 72
    for sec in plan.sections:
        if not sec.melody:
            continue
        scale = [(sec.tonic_pc + s) % 12 for s in MODE_SCALES.get(sec.mode, MODE_SCALES["major"])]
        for b in range(sec.start_bar, sec.start_bar + sec.bars):
            for k in range(plan.beats_per_bar):
                t = b * bar + k * beat
                for i, frac in enumerate(rng.choice(cells)):
                    dur = int(round(frac * beat))
                    ch = plan.chords[max(j for j, (s, _) in enumerate(spans) if s <= t)].chord
                    pcs = (ch.pitch_classes - {ch.bass}) | {ch.root} if i == 0 else set(scale)
                    cand = sorted((p for p in range(60, 85) if p % 12 in pcs), key=lambda p: (abs(p - prev), p))
                    pitch = rng.choice(cand[:3])
                    if i == 0 or rng.random() > 0.12:     # a few rests off the beat
                        notes.append((t, t + dur - 6, pitch, rng.randint(78, 100)))
                    prev = pitch
                    t += dur
    if notes:
        mid.tracks.append(events_track("Melody-Lead", _free_channel(mid), plan.lead_program, notes))


def stem_midi(mid: mido.MidiFile, track_ids: list[int]) -> mido.MidiFile:
    """A type-1 MIDI file of the conductor track plus `track_ids`."""
    out = mido.MidiFile(type=1, ticks_per_beat=mid.ticks_per_beat)
    out.tracks.append(mid.tracks[0])
    for i in track_ids:
        out.tracks.append(mid.tracks[i])
    return out


def stem_notes(mid: mido.MidiFile, track_ids: list[int]) -> list[Note]:
    """All notes of the given tracks, sorted by onset."""
    return sorted((n for i in track_ids for n in track_notes(mid.tracks[i])), key=lambda n: (n.start, n.pitch))


def last_tick(mid: mido.MidiFile) -> int:
    """Tick of the last event of any track."""
    return max(sum(m.time for m in tr) for tr in mid.tracks)
