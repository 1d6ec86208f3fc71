"""Songbook songs -> step grids (tokens.py) for training the stem transformer.

A song's stem MIDI files are read with their own tempo map, note times go to seconds, then to fractional tactus
beats through the song description's beat list (the truth the songbook wrote), then to steps. Chords, keys and
sections come from the song description, never from a detector.
"""
from __future__ import annotations

import json
import os

import numpy as np

from models.analysis.beats import hint_beats_per_bar
from models.theory.harmony import parse_harte, pc_of

from .tokens import (SECTIONS, STEMS, Conditioning, StepChord, StepTokens, bass_token,
                     density_class, drum_class, duration_class, keys_token, melody_token, velocity_class)

SONGBOOK_STEM = {"drums": "drums", "bass": "bass", "keys": "chords", "melody": "melody"}


def midi_notes_seconds(path: str) -> list[tuple[float, float, int, int]]:
    """(onset s, offset s, pitch, velocity) of every released note in a MIDI file, through its own tempo map."""
    import mido

    from models.songbook.midi_tools import TempoMap, track_notes

    mid = mido.MidiFile(path)
    tm = TempoMap(mid)
    notes = sorted((n for tr in mid.tracks for n in track_notes(tr, unreleased_at_end=False) if n.end is not None),
                   key=lambda n: (n.start, n.pitch))
    return [(tm.seconds(n.start), tm.seconds(n.end), n.pitch, n.velocity) for n in notes]


def midi_note_programs(path: str) -> list[tuple[float, int, int]]:
    """(onset s, pitch, GM program) of every note-on in a MIDI file: the last program change on the note's
    channel before it (0 when none), so a file that layers instruments names each note's instrument."""
    import mido

    from models.songbook.midi_tools import TempoMap

    mid = mido.MidiFile(path)
    tm = TempoMap(mid)
    out = []
    for tr in mid.tracks:
        tick, program = 0, {}
        for msg in tr:
            tick += msg.time
            if msg.type == "program_change":
                program[msg.channel] = int(msg.program)
            elif msg.type == "note_on" and msg.velocity > 0:
                out.append((tm.seconds(tick), int(msg.note), program.get(msg.channel, 0)))
    return sorted(out)


class BeatClock:
    """Seconds <-> fractional tactus beats, from a list of beat times (extrapolated at the last period)."""

    def __init__(self, beat_times):
        bt = np.asarray(beat_times, float)
        if len(bt) < 2:
            raise ValueError("need at least two beats")
        period = bt[-1] - bt[-2]
        self.times = np.concatenate([bt, bt[-1] + period * np.arange(1, 65)])
        self.index = np.arange(len(self.times), dtype=float)

    def beat(self, seconds):
        return np.interp(seconds, self.times, self.index)

    def seconds(self, beat):
        return np.interp(beat, self.index, self.times)


def choose_grid(onset_beats, beats_per_bar: int, compound: bool) -> int:
    """Steps per beat: 6 under compound meters; else 3 when onsets sit on triplets clearly better than on
    sixteenths (swung grooves), 4 otherwise."""
    if compound:
        return 6
    b = np.asarray(onset_beats, float)
    if len(b) == 0:
        return 4

    def err(r):
        x = b * r
        return float(np.mean(np.abs(x - np.round(x)))) / r
    return 3 if err(3) < 0.5 * err(4) else 4


def _parse_key(label: str) -> tuple[int, str]:
    tonic, _, mode = (label or "C:major").partition(":")
    return pc_of(tonic), (mode or "major")


def song_grid(desc: dict, stem_paths: dict, family: str):
    """(Conditioning, StepTokens) of a songbook song: `desc` its song description, `stem_paths` stem -> MIDI."""
    meter = desc["meter"]
    bpb = int(meter["beats_per_bar"])
    compound = hint_beats_per_bar((meter["numerator"], meter["denominator"])) != meter["numerator"]
    clock = BeatClock([b["time"] for b in desc["beats"]])
    notes = {s: midi_notes_seconds(p) for s, p in stem_paths.items() if p and os.path.exists(p)}
    onsets = [clock.beat(n[0]) for s in notes for n in notes[s]]
    grid = choose_grid(onsets, bpb, compound)
    n_beats = len(desc["beats"])
    n = (n_beats // bpb) * bpb * grid
    if n == 0:
        raise ValueError("song too short")
    step_t = clock.seconds(np.arange(n) / grid)
    chords = []
    segs = desc["chords"]
    j = 0
    home_key = _parse_key(desc["key"]["label"] if isinstance(desc.get("key"), dict) else desc.get("key"))
    for t in step_t:
        while j + 1 < len(segs) and segs[j]["end"] <= t + 1e-6:
            j += 1
        seg = segs[j] if segs and segs[j]["start"] <= t + 1e-6 < segs[j]["end"] else None
        parsed = parse_harte(seg["label"]) if seg else None
        tonic, mode = _parse_key(seg.get("key")) if seg and seg.get("key") else home_key
        if parsed is None:
            chords.append(StepChord(-1, "N", -1, tonic, mode))
        else:
            chords.append(StepChord(parsed[0], parsed[1], parsed[2], tonic, mode))
    section, bar_in, last = [], [], []
    secs = desc.get("sections") or [{"start": 0.0, "end": 1e9, "label": "verse"}]
    bar_of_step = np.arange(n) // (grid * bpb)
    sec_start_bar = {}
    for i, t in enumerate(step_t):
        k = next((k for k, s in enumerate(secs) if s["start"] - 1e-6 <= t < s["end"]), len(secs) - 1)
        sec_start_bar.setdefault(k, int(bar_of_step[i]))
        lab = secs[k]["label"]
        section.append(SECTIONS.index(lab) if lab in SECTIONS else len(SECTIONS) - 1)
        bar_in.append(int(bar_of_step[i]) - sec_start_bar[k])
        end_bar = int(clock.beat(secs[k]["end"]) // bpb) - 1
        last.append(1 if int(bar_of_step[i]) >= end_bar else 0)
    tok = StepTokens.empty(n)
    density = {}

    def step_of(seconds):
        return int(np.round(clock.beat(seconds) * grid))

    for stem in STEMS:
        ns = notes.get(stem) or []
        if not ns:
            continue
        density[stem] = density_class(stem, len(ns) / max(1.0, n / grid) if stem != "keys" else
                                      len({step_of(x[0]) for x in ns}) / max(1.0, n / grid))
        by_step = {}
        for on, off, pitch, vel in ns:
            s = step_of(on)
            if 0 <= s < n:
                by_step.setdefault(s, []).append((pitch, vel, max(1.0, (clock.beat(off) - clock.beat(on)) * grid)))
        for s, group in by_step.items():
            if stem == "drums":
                for pitch, vel, _ in group:
                    tok.drums[s, drum_class(pitch)] = 1.0
                tok.drum_vel[s] = velocity_class(max(v for _, v, _ in group))
                continue
            c = chords[s]
            if stem == "bass":
                pitch, vel, dur = min(group)
                if c.root < 0:
                    continue
                tok.bass[s], tok.bass_dur[s], tok.bass_vel[s] = bass_token(pitch, c), duration_class(dur), \
                    velocity_class(vel)
            elif stem == "melody":
                pitch, vel, dur = max(group)
                tok.melody[s], tok.melody_dur[s], tok.melody_vel[s] = melody_token(pitch, c), \
                    duration_class(dur), velocity_class(vel)
            else:
                if c.root < 0:
                    continue
                pitch = min(p for p, _, _ in group)
                tok.keys[s] = keys_token(pitch, c)
                tok.keys_dur[s] = duration_class(float(np.median([d for _, _, d in group])))
                tok.keys_vel[s] = velocity_class(max(v for _, v, _ in group))
    cond = Conditioning(grid=grid, beats_per_bar=bpb, bpm=float(desc["bpm"]), family=family, chords=chords,
                        section=section, bar_in_section=bar_in, last_bar=last, density=density)
    return cond, tok


def load_songbook(root: str, split: str | None = "train", limit: int | None = None, progress=None):
    """[(song id, groove, Conditioning, StepTokens)] of a songbook directory's songs in `split`."""
    with open(os.path.join(root, "index.json"), encoding="utf-8") as fh:
        index = json.load(fh)
    songs = [s for s in index["songs"] if split is None or s.get("split") == split][:limit]
    out = []
    for k, s in enumerate(songs):
        with open(os.path.join(root, s["paths"]["json"]), encoding="utf-8") as fh:
            desc = json.load(fh)
        stem_paths = {stem: os.path.join(root, s["paths"]["stem_midi"][sb]) for stem, sb in SONGBOOK_STEM.items()
                      if s["paths"].get("stem_midi", {}).get(sb)}
        try:
            cond, tok = song_grid(desc, stem_paths, s.get("family", "pop"))
        except (ValueError, KeyError, OSError) as exc:
            if progress:
                progress("skip %s: %s" % (s["id"], exc))
            continue
        out.append((s["id"], s.get("groove", ""), cond, tok))
        if progress and (k + 1) % 100 == 0:
            progress("read %d/%d songs" % (k + 1, len(songs)))
    return out


def pack(cond: Conditioning, tok: StepTokens) -> dict:
    """Arrays of one song for saving/batching: conditioning features and targets."""
    a = cond.arrays()
    a.update({"drums": tok.drums, "drum_vel": tok.drum_vel, "bass": tok.bass, "bass_dur": tok.bass_dur,
              "bass_vel": tok.bass_vel, "keys": tok.keys, "keys_dur": tok.keys_dur, "keys_vel": tok.keys_vel,
              "melody": tok.melody, "melody_dur": tok.melody_dur, "melody_vel": tok.melody_vel})
    a["steps_per_bar"] = np.array(cond.steps_per_bar)
    return a


__all__ = ["song_grid", "load_songbook", "pack", "BeatClock", "choose_grid", "midi_notes_seconds"]
