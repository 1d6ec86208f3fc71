"""Training crops for the VAE and the diffusion model, made from songbook stem MIDI.

Stem audio is not stored in the songbook, so each (song, stem) is rendered here with FluidSynth
(models/songbook/render.py, 44.1 kHz stereo), one soundfont per (song, stem) taken in turn from those installed
(several soundfonts, so the renderer learns instruments, not one font), mixed to mono, scaled by FIXED_GAIN,
resampled with soxr to SAMPLE_RATE (16 kHz) and cut into crops of CROP_FRAMES latent frames (2.048 s). Each crop
keeps its notation rows (conditioner.notation_frames) computed from the song description and the stem's notes.

    python -m models.generation.diffusion.data --sets /tmp/data/train /tmp/data/train_b --out /tmp/diffdata

Writes audio.npy (N, samples) float16, ints.npy (N, frames, N_INT) int16, floats.npy (N, frames, N_FLOAT)
float16 and meta.json (song, stem, soundfont, offset of each crop).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from .conditioner import notation_frames
from .config import CROP_FRAMES, DATA_DIR, FRAME_S, FRAME_SAMPLES, SAMPLE_RATE

SONGBOOK_STEMS = {"drums": "drums", "bass": "bass", "keys": "chords", "melody": "melody"}
FIXED_GAIN = 2.0           # FluidSynth's output (synth gain 0.4) is quiet; one fixed gain for every stem
FONT_ORDER = ("FluidR3_GM", "TimGM6mb", "MuseScore_General")


def stem_program(midi_path: str) -> int:
    """The first GM program of a stem file (0 when none)."""
    import mido

    for tr in mido.MidiFile(midi_path).tracks:
        for msg in tr:
            if msg.type == "program_change":
                return int(msg.program)
    return 0


def song_context(desc: dict) -> dict:
    """What notation_frames needs from a song description (times in seconds)."""
    from models.theory.harmony import pc_of

    key = desc.get("key") or {}
    tonic = pc_of(key["tonic"]) if key.get("tonic") else 0
    chords = []
    for c in desc.get("chords") or []:
        if not c.get("root"):
            chords.append({"start": c["start"], "end": c["end"], "root": -1})
            continue
        chords.append({"start": c["start"], "end": c["end"], "root": pc_of(c["root"]), "quality": c.get("quality"),
                       "bass": pc_of(c["bass"]) if c.get("bass") else None, "function": c.get("function")})
    beats = desc.get("beats") or []
    first_down = next((b["time"] for b in beats if b.get("position") == 1), 0.0)
    meter = desc.get("meter") or {}
    return {"chords": chords, "beat_times": [b["time"] for b in beats], "first_downbeat": first_down,
            "beats_per_bar": int(meter.get("beats_per_bar") or 4), "tonic": tonic,
            "mode": key.get("mode") or "major", "family": (desc.get("genre_analysis") or {}).get("primary", "pop"),
            "sections": [(s["start"], s["end"], s["label"]) for s in desc.get("sections") or []],
            "bpm": float(desc.get("bpm") or 120.0), "duration": float((desc.get("source") or {}).get("duration", 30))}


def crop_rows(ctx: dict, stem: str, notes, program: int, t0: float, n_frames: int, complexity: float):
    return notation_frames(notes, ctx["chords"], ctx["beat_times"], ctx["beats_per_bar"], ctx["sections"],
                           ctx["tonic"], ctx["mode"], ctx["family"], stem, program, ctx["bpm"], complexity, t0,
                           n_frames, ctx["first_downbeat"])


def to_model_rate(stereo_44k: np.ndarray) -> np.ndarray:
    import soxr

    from models.songbook.render import SAMPLE_RATE as SR

    mono = stereo_44k.mean(axis=1) * FIXED_GAIN
    return soxr.resample(mono, SR, SAMPLE_RATE).astype(np.float32)


def build(sets, out_dir, max_songs=None, crops_per_stem=6, seconds=24.0, seed=0, log=print):
    from models.generation.dataset import midi_notes_seconds
    from models.songbook.render import SAMPLE_RATE as SR
    from models.songbook.render import available_soundfonts, render_midi

    rng = np.random.default_rng(seed)
    fonts = available_soundfonts()
    font_names = [f for f in FONT_ORDER if f in fonts]
    songs = []
    for d in sets:
        with open(os.path.join(d, "index.json"), encoding="utf-8") as fh:
            songs += [(d, s) for s in json.load(fh)["songs"]]
    rng.shuffle(songs)
    songs = songs[:max_songs] if max_songs else songs
    crop_s = CROP_FRAMES * FRAME_S
    audio, ints, floats, meta = [], [], [], []
    t_start = time.time()
    k = 0
    for i, (d, s) in enumerate(songs):
        with open(os.path.join(d, s["paths"]["json"]), encoding="utf-8") as fh:
            desc = json.load(fh)
        ctx = song_context(desc)
        song_dir = os.path.dirname(os.path.join(d, s["paths"]["json"]))
        stem_notes = {}
        for stem, sb in SONGBOOK_STEMS.items():
            p = os.path.join(song_dir, "stems", sb + ".mid")
            stem_notes[stem] = midi_notes_seconds(p) if os.path.exists(p) else []
        total_on = sum(len(v) for v in stem_notes.values())
        complexity = float(min(1.0, np.log1p(total_on / max(ctx["duration"], 1.0)) / 4.0))   # all stems' onsets / s
        dur = min(seconds, ctx["duration"])
        for stem, sb in SONGBOOK_STEMS.items():
            p = os.path.join(song_dir, "stems", sb + ".mid")
            if not stem_notes[stem]:
                continue
            font = font_names[k % len(font_names)]
            k += 1
            wav = to_model_rate(render_midi(p, fonts[font], int(dur * SR)))
            program = 128 if stem == "drums" else stem_program(p)
            n_max = len(wav) - CROP_FRAMES * FRAME_SAMPLES
            for _ in range(crops_per_stem):
                start = int(rng.integers(0, max(n_max, 1)))
                t0 = start / SAMPLE_RATE
                if not any(t0 - 0.5 <= n[0] < t0 + crop_s for n in stem_notes[stem]) and rng.random() > 0.1:
                    continue   # keep only a few silent crops
                seg = wav[start:start + CROP_FRAMES * FRAME_SAMPLES]
                if len(seg) < CROP_FRAMES * FRAME_SAMPLES:
                    continue
                a, b = crop_rows(ctx, stem, stem_notes[stem], program, t0, CROP_FRAMES, complexity)
                audio.append(seg.astype(np.float16))
                ints.append(a.astype(np.int16))
                floats.append(b.astype(np.float16))
                meta.append({"song": s["id"], "stem": stem, "font": font, "t0": round(t0, 4), "program": program})
        if (i + 1) % 20 == 0:
            log("  %d/%d songs, %d crops, %.0f s" % (i + 1, len(songs), len(audio), time.time() - t_start))
    os.makedirs(out_dir, exist_ok=True)
    np.save(os.path.join(out_dir, "audio.npy"), np.stack(audio))
    np.save(os.path.join(out_dir, "ints.npy"), np.stack(ints))
    np.save(os.path.join(out_dir, "floats.npy"), np.stack(floats))
    with open(os.path.join(out_dir, "meta.json"), "w", encoding="utf-8") as fh:
        json.dump({"sample_rate": SAMPLE_RATE, "crop_frames": CROP_FRAMES, "fixed_gain": FIXED_GAIN,
                   "sets": list(sets), "fonts": font_names, "crops": meta}, fh)
    return len(audio)


def ensure_cache(out_dir, sets=None, max_songs=200, crops_per_stem=6):
    """Build the crop cache in out_dir from `sets` when it is not there yet."""
    if os.path.exists(os.path.join(out_dir, "meta.json")):
        return
    if not sets:
        raise SystemExit("no crop cache in %s: pass --sets DIR [DIR...] (songbook train split) to build it" % out_dir)
    print("building the crop cache in %s from %s (%d songs)" % (out_dir, ", ".join(sets), max_songs), flush=True)
    build(sets, out_dir, max_songs, crops_per_stem)


def load(out_dir):
    """(audio (N, samples) float16, ints, floats, meta) of a cache, memory-mapped."""
    a = np.load(os.path.join(out_dir, "audio.npy"), mmap_mode="r")
    i = np.load(os.path.join(out_dir, "ints.npy"), mmap_mode="r")
    f = np.load(os.path.join(out_dir, "floats.npy"), mmap_mode="r")
    with open(os.path.join(out_dir, "meta.json"), encoding="utf-8") as fh:
        meta = json.load(fh)
    return a, i, f, meta


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m models.generation.diffusion.data")
    ap.add_argument("--sets", nargs="+", required=True)
    ap.add_argument("--out", default=DATA_DIR)
    ap.add_argument("--max-songs", type=int, default=None)
    ap.add_argument("--crops", type=int, default=6, help="crops per (song, stem)")
    ap.add_argument("--seconds", type=float, default=24.0, help="seconds of each stem rendered")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    n = build(args.sets, args.out, args.max_songs, args.crops, args.seconds, args.seed)
    print("%d crops in %s" % (n, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
