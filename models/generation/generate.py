"""Generation end to end: request -> plan -> step conditioning -> stem transformer -> notes -> files.

`generate(params, model, planner=None, analysis=None, out_dir=...)` returns the job result documented in
protocol/README.md (`generate`): per stem a MIDI file, a note-list JSON in quarter-note beats (what a DAW clip
wants), and audio; one multitrack MIDI file and the mix. Tempo in a request is quarter-note BPM, as DAWs show
it; in 6/8 and 12/8 the planner and the model think in dotted-quarter beats.
"""
from __future__ import annotations

import json
import os
import time

import numpy as np

from models.registry import CHECKPOINT_DIR
from protocol import BandmateError

from .request import (MAX_BARS, MAX_VARIATIONS, ChordSpan, Request, _bad, _number, chord_bars, parse_genre,
                      parse_key, parse_meter, parse_stems, spans_from_bars)
from .sampler import tokens_to_notes, sample
from .tokens import CHANNELS, SECTIONS, STEMS, Conditioning, StepChord, programs_for

CHECKPOINT = os.path.join(CHECKPOINT_DIR, "generation")
SWING_FAMILIES = ("jazz", "blues")
STEM_NAMES = {"drums": "Drums", "bass": "Bass", "keys": "Keys", "melody": "Melody"}


def load_model(path=CHECKPOINT, device=None):
    """The trained stem transformer, or None when no checkpoint exists."""
    if not os.path.exists(path + ".safetensors"):
        return None
    from safetensors.torch import load_file

    from .model import StemTransformer

    with open(path + ".json", encoding="utf-8") as fh:
        card = json.load(fh)
    cfg = dict(card["config"])
    cfg["dropout"] = 0.0
    model = StemTransformer(**cfg)
    model.load_state_dict(load_file(path + ".safetensors"))
    model.eval()
    model.version = card["version"]
    model.density_priors = card.get("training", {}).get("density_priors")
    return model


# ------------------------------------------------------------------------------------------------ request
def _analysis_context(song: dict):
    """(tempo quarter BPM, meter text, key text, chord spans in tactus beats from the first downbeat, bars,
    sections) of a song description."""
    from .dataset import BeatClock
    from .request import parse_symbol

    from models.analysis.exports import beat_unit_q, meter_of

    num, den = meter_of(song)
    _, _, bpb = parse_meter("%d/%d" % (num, den))
    qpb = beat_unit_q((num, den))
    beats = song.get("beats") or []
    key = (song.get("key") or {}).get("label")
    tempo = float(song.get("bpm") or 120.0) * qpb
    if len(beats) < 2 * bpb:
        return tempo, "%d/%d" % (num, den), key, [], 0, []
    clock = BeatClock([b["time"] for b in beats])
    b0 = next((i for i, b in enumerate(beats) if b.get("position") == 1), 0)
    bars = (len(beats) - b0) // bpb
    spans = []
    for c in song.get("chords") or []:
        try:
            parsed = parse_symbol(c["label"], "analysis")
        except BandmateError:
            parsed = None
        s = float(clock.beat(c["start"])) - b0
        e = float(clock.beat(c["end"])) - b0
        s, e = max(0.0, s), min(bars * bpb, e)
        if e - s < 1e-3:
            continue
        root, q, bass = parsed if parsed else (-1, "N", -1)
        spans.append(ChordSpan(root, q, bass, c["label"], c.get("roman_numeral") or "", s, e))
    sections = []
    for sec in song.get("sections") or []:
        sb = int(round((float(clock.beat(sec["start"])) - b0) / bpb))
        eb = int(round((float(clock.beat(sec["end"])) - b0) / bpb))
        if eb > sb >= 0:
            sections.append({"label": sec.get("label", "verse"), "start_bar": sb, "bars": min(eb, bars) - sb})
    return tempo, "%d/%d" % (num, den), key, spans, bars, sections


def build_request(params: dict, analysis: dict | None = None, planner=None) -> Request:
    """Check the request and fill what it leaves open: user fields > the analysis > the planner's reading of
    the prompt > defaults."""
    if not isinstance(params, dict):
        raise BandmateError("bad_params", "field 'request': must be an object")
    known = {"stems", "tempo", "bpm", "meter", "key", "bars", "chords", "analysis", "genre", "prompt", "complexity",
             "density", "seed", "variations", "temperature", "top_p", "constraints", "render", "sections", "section",
             "renderer", "tuning"}
    unknown = sorted(set(params) - known)
    if unknown:
        raise _bad(unknown[0], "unknown request field (known: %s)" % ", ".join(sorted(known)))
    notices = []
    stems = parse_stems(params.get("stems"))
    genre = parse_genre(params.get("genre"))
    prompt = params.get("prompt") or ""
    if not isinstance(prompt, str) or len(prompt) > 2000:
        raise _bad("prompt", "must be text of at most 2000 characters")
    tempo_key = "tempo" if params.get("tempo") is not None else "bpm"
    tempo = _number(params, tempo_key, 20.0, 400.0, None)
    if tempo is not None and not 30.0 <= tempo <= 300.0:
        raise _bad(tempo_key, "must be between 30 and 300 BPM, got %s" % tempo)
    bars = _number(params, "bars", 1, MAX_BARS, None, kind=int)
    meter = parse_meter(params["meter"]) if params.get("meter") is not None else None
    key = parse_key(params["key"]) if params.get("key") is not None else None
    a_tempo = a_meter = a_key = None
    a_spans, a_bars, a_sections = [], 0, []
    if analysis is not None:
        a_tempo, a_meter, a_key, a_spans, a_bars, a_sections = _analysis_context(analysis)
    fixed = {"genre": genre, "tempo": tempo or a_tempo, "meter": meter or (parse_meter(a_meter) if a_meter
                                                                           else None),
             "key": key or (parse_key(a_key, "analysis") if a_key else None), "bars": bars or (a_bars or None)}
    plan = planner.plan(prompt, fixed) if planner is not None else default_plan(fixed)
    num, den, bpb = fixed["meter"] or parse_meter(plan["meter"])
    tonic, mode = fixed["key"] or parse_key(plan["key"])
    bpm = float(fixed["tempo"] or plan["tempo"])
    family = fixed["genre"] or plan["genre"]
    if params.get("sections") is not None:
        sections, spans = request_sections(params["sections"], params.get("chords"), plan, tonic, mode, bpb)
        n_bars = sum(s["bars"] for s in sections)
    elif params.get("chords") is not None:
        cb = chord_bars(params["chords"], tonic, mode)
        n_bars = bars or len(cb)
        spans = spans_from_bars(cb, n_bars, bpb)
        label = params.get("section") or "verse"
        sections = [{"label": label if label in SECTIONS else "verse", "start_bar": 0, "bars": n_bars}]
    elif a_spans:
        n_bars = min(bars or a_bars, a_bars)
        spans = [s for s in a_spans if s.start < n_bars * bpb]
        sections = [dict(s, bars=min(s["bars"], n_bars - s["start_bar"])) for s in a_sections
                    if s["start_bar"] < n_bars] or [{"label": "verse", "start_bar": 0, "bars": n_bars}]
    else:
        sections, spans = plan_chords(plan, tonic, mode, bpb, bars or plan.get("bars"))
        n_bars = sum(s["bars"] for s in sections)
    if analysis is not None and not a_spans and params.get("chords") is None:
        notices.append("the analysis has no chords to follow; the planner chose them")
    if n_bars > MAX_BARS:
        raise _bad("bars", "at most %d bars, got %d" % (MAX_BARS, n_bars))
    complexity = _number(params, "complexity", 0.0, 1.0, None)
    if complexity is None:
        complexity = _number(params, "density", 0.0, 1.0, None)
    constraints = {"scale": True, "chord_tones": True, "range": True}
    if params.get("constraints") is not None:
        c = params["constraints"]
        if not isinstance(c, dict) or any(k not in constraints or not isinstance(v, bool) for k, v in c.items()):
            raise _bad("constraints", "must be an object of booleans: scale, chord_tones, range")
        constraints.update(c)
    render = params.get("render", True)
    if not isinstance(render, bool):
        raise _bad("render", "must be true or false")
    renderer = params.get("renderer") or "soundfont"
    if renderer not in ("soundfont", "diffusion"):
        raise _bad("renderer", "must be 'soundfont' or 'diffusion'")
    tuning = _number(params, "tuning", -50.0, 50.0, None)
    if tuning is None and analysis is not None:   # play in tune with the analysed recording
        tuning = ((analysis.get("tuning") or {}).get("cents"))
    tuning = float(tuning or 0.0)
    return Request(stems=stems, bpm=bpm, beats_per_bar=bpb, numerator=num, denominator=den, tonic=tonic, mode=mode,
                   bars=n_bars, chords=spans, sections=sections, family=family, prompt=prompt,
                   complexity=complexity, seed=_number(params, "seed", 0, 2 ** 31 - 1, 0, kind=int),
                   variations=_number(params, "variations", 1, MAX_VARIATIONS, 1, kind=int),
                   temperature=_number(params, "temperature", 0.05, 2.0, 0.9),
                   top_p=_number(params, "top_p", 0.1, 1.0, 0.95), constraints=constraints, render=render,
                   renderer=renderer, tuning_cents=tuning,
                   notices=notices + plan.get("notices", []))


def request_sections(value, chords, plan, tonic, mode, bpb):
    """The user's form: [{label, bars, chords?}]; a section without chords plays the request's chords, else the
    plan's progression for its label (or the plan's first)."""
    if not isinstance(value, list) or not value or len(value) > 64:
        raise _bad("sections", "must be a list of 1-64 {label, bars, chords} objects")
    by_label = {s["label"]: s["progression"] for s in plan.get("sections") or []}
    fallback = (plan.get("sections") or [{"progression": "I IV V I"}])[0]["progression"]
    sections, spans, start = [], [], 0
    for k, sec in enumerate(value):
        if not isinstance(sec, dict):
            raise _bad("sections", "item %d must be an object {label, bars, chords}" % k)
        label = sec.get("label", "verse")
        if label not in SECTIONS[:-1]:
            raise _bad("sections", "item %d: label must be one of %s" % (k, ", ".join(SECTIONS[:-1])))
        bars = sec.get("bars", 4)
        if isinstance(bars, bool) or not isinstance(bars, int) or not 1 <= bars <= MAX_BARS:
            raise _bad("sections", "item %d: bars must be a whole number from 1 to %d" % (k, MAX_BARS))
        prog = sec.get("chords") or chords or by_label.get(label) or fallback
        cb = chord_bars(prog, tonic, mode, "sections")
        for sp in spans_from_bars(cb, bars, bpb):
            sp.start += start * bpb
            sp.end += start * bpb
            spans.append(sp)
        sections.append({"label": label, "start_bar": start, "bars": bars})
        start += bars
    return sections, spans


def default_plan(fixed: dict) -> dict:
    """The plan when no planner model is loaded: a pop verse/chorus in C major at 110 BPM, the user's fields
    kept."""
    return {"genre": fixed.get("genre") or "pop", "tempo": fixed.get("tempo") or 110.0, "meter": "4/4",
            "key": "C:major", "sections": [{"label": "verse", "bars": 4, "progression": "I V vi IV"},
                                           {"label": "chorus", "bars": 4, "progression": "IV V iii vi"}]}


def plan_chords(plan, tonic, mode, bpb, bars=None):
    """Sections and chord spans of a plan, stretched or cut to `bars` when given."""
    sections, spans, start = [], [], 0
    plan_secs = plan["sections"] or [{"label": "verse", "bars": 4, "progression": "I IV V I"}]
    if bars:   # repeat or cut the plan's form to the asked length
        secs, k, acc = [], 0, 0
        while acc < bars:
            s = dict(plan_secs[k % len(plan_secs)])
            s["bars"] = min(s["bars"], bars - acc)
            secs.append(s)
            acc += s["bars"]
            k += 1
        plan_secs = secs
    for s in plan_secs:
        cb = chord_bars(s["progression"], tonic, mode, "plan")
        for sp in spans_from_bars(cb, s["bars"], bpb):
            sp.start += start * bpb
            sp.end += start * bpb
            spans.append(sp)
        sections.append({"label": s["label"], "start_bar": start, "bars": s["bars"]})
        start += s["bars"]
    return sections, spans


def conditioning(req: Request, priors: dict | None = None) -> Conditioning:
    """The step grid of a request. Each stem's density class comes from the request's complexity (0-1: sparse,
    medium, busy) or, when it sets none, is drawn (seeded) from how busy that stem is in the genre's training
    songs (`priors`, stored in the model card)."""
    grid = 6 if req.compound else (3 if req.family in SWING_FAMILIES else 4)
    n = req.bars * req.beats_per_bar * grid
    chords, j = [], 0
    spans = req.chords
    for i in range(n):
        beat = i / grid
        while j + 1 < len(spans) and spans[j].end <= beat + 1e-9:
            j += 1
        sp = spans[j] if spans and spans[j].start - 1e-9 <= beat < spans[j].end else None
        if sp is None or sp.root < 0:
            chords.append(StepChord(-1, "N", -1, req.tonic, req.mode))
        else:
            chords.append(StepChord(sp.root, sp.quality, sp.bass, req.tonic, req.mode))
    section, bar_in, last = [], [], []
    spb = grid * req.beats_per_bar
    for i in range(n):
        bar = i // spb
        sec = next((s for s in req.sections if s["start_bar"] <= bar < s["start_bar"] + s["bars"]),
                   req.sections[-1] if req.sections else {"label": "verse", "start_bar": 0, "bars": req.bars})
        section.append(SECTIONS.index(sec["label"]) if sec["label"] in SECTIONS else len(SECTIONS) - 1)
        bar_in.append(bar - sec["start_bar"])
        last.append(1 if bar == sec["start_bar"] + sec["bars"] - 1 else 0)
    if req.complexity is not None:
        level = 1 + min(2, int(req.complexity * 3))   # 0..1 -> sparse, medium, busy
        density = {s: level for s in STEMS}
    else:
        rng = np.random.default_rng(req.seed + 101)
        fam = (priors or {}).get(req.family) or {}
        density = {}
        for s in STEMS:
            p = np.asarray((fam.get(s) or [0, 0.25, 0.5, 0.25])[1:], float)
            density[s] = 1 + int(rng.choice(3, p=p / p.sum())) if p.sum() > 0 else 2
    return Conditioning(grid=grid, beats_per_bar=req.beats_per_bar, bpm=req.bpm / req.quarters_per_beat,
                        family=req.family, chords=chords, section=section, bar_in_section=bar_in, last_bar=last,
                        density=density)


# ------------------------------------------------------------------------------------------------ output
def _safe_key(req: Request) -> str:
    return req.key_short.replace("#", "s")


def write_midi(path, stems_notes: dict, req: Request, stems=None):
    """A type-1 MIDI file: conductor (tempo, meter, key), then one named track per stem with its GM program;
    drums on channel 10."""
    import mido

    from models.analysis.exports import TICKS_PER_QUARTER as tpq, mido_key_signature
    from models.songbook.midi_tools import events_track

    end_tick = int(round(req.bars * req.beats_per_bar * req.quarters_per_beat * tpq))
    mid = mido.MidiFile(type=1, ticks_per_beat=tpq)
    mid.tracks.append(mido.MidiTrack([
        mido.MetaMessage("track_name", name="Bandmate", time=0),
        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(req.bpm), time=0),
        mido.MetaMessage("time_signature", numerator=req.numerator, denominator=req.denominator, time=0),
        mido.MetaMessage("key_signature", key=mido_key_signature(req.tonic, req.mode), time=0),
        mido.MetaMessage("end_of_track", time=end_tick)]))
    programs = programs_for(req.family)
    for stem in (stems or list(stems_notes)):
        notes = []
        for n in stems_notes[stem]:
            on = int(round(n["start_time"] * tpq))
            notes.append((on, max(on + 1, int(round((n["start_time"] + n["duration"]) * tpq))), n["pitch"],
                          n["velocity"]))
        mid.tracks.append(events_track(STEM_NAMES[stem], CHANNELS[stem], None if stem == "drums" else
                                       programs[stem], notes, volume=None, end_tick=end_tick))
    mid.save(path)
    return path


def best_soundfont():
    """The General MIDI soundfont to render with: BANDMATE_SOUNDFONT (a name below or a path) when set, else the
    first installed of FluidR3 GM (loads in about a second), MuseScore General (richer, but its compressed sf3
    takes 15-20 s to load), pretty_midi's TimGM6mb (small, everywhere)."""
    from models.songbook.render import available_soundfonts

    fonts = available_soundfonts()
    want = os.environ.get("BANDMATE_SOUNDFONT")
    if want:
        if os.path.exists(want):
            return os.path.splitext(os.path.basename(want))[0], want
        if want in fonts:
            return want, fonts[want]
    for name in ("FluidR3_GM", "MuseScore_General", "TimGM6mb"):
        if name in fonts:
            return name, fonts[name]
    return None, None


OUTPUT_RATE = 48000
RENDER_THREADS = 2
TUNING_MIN_CENTS = 3.0   # a track closer than this to A440 is rendered at A440 (1-2 cents are inaudible)


def audible_tuning(cents: float) -> float:
    """The tuning both renderers play: `cents`, or 0.0 closer than TUNING_MIN_CENTS to A440."""
    return cents if abs(cents) >= TUNING_MIN_CENTS else 0.0


def tuned_midi(path: str, cents: float, out_path: str) -> str:
    """A copy of the MIDI file `path` whose every channel is fine-tuned `cents` (-100..100) by the RPN 1 (Channel
    Fine Tuning) messages at the start of each track, which FluidSynth obeys: the rendered audio plays in tune
    with a recording off A440. The clips the DAW gets stay untouched."""
    import mido

    mid = mido.MidiFile(path)
    value = max(0, min(16383, int(round(8192 + cents / 100.0 * 8192))))
    for track in mid.tracks:
        channels = sorted({m.channel for m in track if hasattr(m, "channel")})
        rpn = []
        for ch in channels:
            rpn += [mido.Message("control_change", channel=ch, control=101, value=0, time=0),
                    mido.Message("control_change", channel=ch, control=100, value=1, time=0),
                    mido.Message("control_change", channel=ch, control=6, value=value >> 7, time=0),
                    mido.Message("control_change", channel=ch, control=38, value=value & 127, time=0),
                    mido.Message("control_change", channel=ch, control=101, value=127, time=0),
                    mido.Message("control_change", channel=ch, control=100, value=127, time=0)]
        at = next((i for i, m in enumerate(track) if not (m.is_meta and m.time == 0)), len(track))
        track[at:at] = rpn   # after the track's leading meta events (name, tempo), before its first note
    mid.save(out_path)
    return out_path


def render_audio(midi_paths: dict, seconds: float, wav_paths: dict, mix_path: str, tuning_cents: float = 0.0):
    """Render each stem's MIDI with FluidSynth straight at 48 kHz, one loudness gain for all (mix at -16 LUFS,
    peak <= 0.98), and write 48 kHz stereo 16-bit WAVs; `tuning_cents` off A440 (`tuned_midi`). Returns
    (soundfont name, loudness LUFS)."""
    import tempfile

    import soundfile as sf

    from models.songbook import render

    name, sf_path = best_soundfont()
    if sf_path is None:
        raise BandmateError("not_available", "no General MIDI soundfont found (install fluid-soundfont-gm or "
                                             "pretty_midi)")
    from concurrent.futures import ThreadPoolExecutor

    n = int((seconds + 1.5) * OUTPUT_RATE)
    stems = list(midi_paths)
    lanes = [stems[k::RENDER_THREADS] for k in range(RENDER_THREADS)]   # lanes run at once, a synth per stem

    tmp = tempfile.TemporaryDirectory() if audible_tuning(tuning_cents) else None
    if tmp is not None:
        midi_paths = {s: tuned_midi(p, tuning_cents, os.path.join(tmp.name, "%s.mid" % s))
                      for s, p in midi_paths.items()}

    def lane(k):
        return {s: render.render_midi(midi_paths[s], sf_path, n, rate=OUTPUT_RATE)
                for s in lanes[k]}

    audio = {}
    try:
        with ThreadPoolExecutor(RENDER_THREADS) as pool:   # libfluidsynth and libsndfile run without the GIL
            for part in pool.map(lane, range(RENDER_THREADS)):
                audio.update(part)
            mix, scaled, _, lufs = render.normalise({s: audio[s] for s in stems}, rate=OUTPUT_RATE)
            jobs = [(wav_paths.get(s, mix_path), x) for s, x in list(scaled.items()) + [("__mix__", mix)]]
            list(pool.map(lambda j: sf.write(j[0], np.clip(j[1], -1, 1), OUTPUT_RATE, subtype="PCM_16"), jobs))
    finally:
        if tmp is not None:
            tmp.cleanup()
    return name, lufs


def render_diffusion(renderer, notes_by_stem, req, wav_paths, mix_path, seed=0):
    """The diffusion renderer's audio of the generated notes (48 kHz WAVs like render_audio); returns
    ('diffusion <version>', loudness LUFS)."""
    from .diffusion.render import load_renderer, render_notes, request_info_from, write_stems

    renderer = renderer or load_renderer()
    if renderer is None:
        raise BandmateError("not_available", "no trained diffusion renderer (bandmate train vae, bandmate train "
                                             "diffusion); use renderer: soundfont")
    audio = render_notes(notes_by_stem, request_info_from(req), renderer=renderer, seed=seed,
                         tuning_cents=audible_tuning(req.tuning_cents))
    lufs = write_stems(audio, wav_paths, mix_path)
    return "diffusion %s" % (getattr(renderer, "version", "") or ""), lufs


def generate(params: dict, model, planner=None, analysis: dict | None = None, out_dir: str = ".",
             progress=None, diffusion=None) -> dict:
    """Run a generation request; returns the job result (paths of every file written). `diffusion` is the warm
    diffusion renderer (models/generation/diffusion), used when the request says renderer: diffusion."""
    progress = progress or (lambda stage, fraction: None)
    if model is None:
        raise BandmateError("not_available", "no trained generation model (bandmate train generation)")
    t0 = time.perf_counter()
    progress("plan", 0.0)
    req = build_request(params, analysis, planner)
    cond = conditioning(req, getattr(model, "density_priors", None))
    os.makedirs(out_dir, exist_ok=True)
    base = "%dbpm_%s" % (round(req.bpm), _safe_key(req))
    q_step = req.quarters_per_beat / cond.grid
    length_beats = req.bars * req.beats_per_bar * req.quarters_per_beat
    seconds = length_beats * 60.0 / req.bpm
    variations, timing = [], {"plan_s": round(time.perf_counter() - t0, 4), "sample_s": [], "render_s": []}
    for v in range(req.variations):
        seed = req.seed + v
        suffix = "" if v == 0 else "_v%d" % (v + 1)
        t1 = time.perf_counter()
        tok = sample(model, cond, req.constraints, req.temperature, req.top_p, seed=seed,
                     onset_bias=0.0 if req.complexity is None else 2.0 * (req.complexity - 0.5),
                     wanted=req.stems)
        notes = tokens_to_notes(tok, cond, q_step, seed=seed)
        timing["sample_s"].append(round(time.perf_counter() - t1, 4))
        progress("sample", (v + 0.5) / req.variations)
        stems, midi_paths = {}, {}
        for s in req.stems:
            stem_base = os.path.join(out_dir, "%s_%s%s" % (s, base, suffix))
            midi_paths[s] = write_midi(stem_base + ".mid", notes, req, [s])
            with open(stem_base + ".notes.json", "w", encoding="utf-8") as fh:
                json.dump({"stem": s, "program": programs_for(req.family)[s], "channel": CHANNELS[s], "tempo": req.bpm,
                           "meter": req.meter, "key": req.key_label, "length_beats": length_beats,
                           "notes": notes[s]}, fh)
            stems[s] = {"midi": midi_paths[s], "audio": None, "notes": stem_base + ".notes.json",
                        "program": programs_for(req.family)[s], "channel": CHANNELS[s],
                        "n_notes": len(notes[s])}
        band = os.path.join(out_dir, "band_%s%s" % (base, suffix))
        write_midi(band + ".mid", notes, req, req.stems)
        with open(band + ".notes.json", "w", encoding="utf-8") as fh:
            json.dump({"tempo": req.bpm, "meter": req.meter, "key": req.key_label, "length_beats": length_beats,
                       "stems": {s: notes[s] for s in req.stems}}, fh)
        entry = {"seed": seed, "stems": stems, "midi": band + ".mid", "audio": None, "notes": band + ".notes.json"}
        if req.render:
            t2 = time.perf_counter()
            wavs = {s: os.path.join(out_dir, "%s_%s%s.wav" % (s, base, suffix)) for s in req.stems}
            mix_wav = os.path.join(out_dir, "mix_%s%s.wav" % (base, suffix))
            if req.renderer == "diffusion":
                font, lufs = render_diffusion(diffusion, {s: notes[s] for s in req.stems}, req, wavs, mix_wav,
                                              seed=seed)
            else:
                font, lufs = render_audio(midi_paths, seconds, wavs, mix_wav, tuning_cents=req.tuning_cents)
            for s in req.stems:
                stems[s]["audio"] = wavs[s]
            entry.update({"audio": os.path.join(out_dir, "mix_%s%s.wav" % (base, suffix)), "soundfont": font,
                          "renderer": req.renderer,
                          "loudness_lufs": None if lufs is None else round(lufs, 2)})
            timing["render_s"].append(round(time.perf_counter() - t2, 4))
        variations.append(entry)
        progress("render" if req.render else "sample", (v + 1) / req.variations)
    plan = {"genre": req.family, "tempo": req.bpm, "meter": req.meter, "key": req.key_label, "bars": req.bars,
            "sections": req.sections, "prompt": req.prompt,
            "chords": [{"symbol": c.symbol, "roman_numeral": c.roman, "start_beat": round(c.start *
                                                                                       req.quarters_per_beat, 4),
                        "end_beat": round(c.end * req.quarters_per_beat, 4)} for c in req.chords]}
    first = variations[0]
    return {"tempo": req.bpm, "meter": req.meter, "key": req.key_label, "bars": req.bars,
            "length_beats": length_beats, "seconds": round(seconds, 3), "plan": plan, "stems": first["stems"],
            "midi": first["midi"], "audio": first["audio"], "notes": first["notes"], "variations": variations,
            "out_dir": os.path.abspath(out_dir), "notices": req.notices, "timing": timing,
            "constraints": req.constraints, "model": getattr(model, "version", None)}


__all__ = ["generate", "build_request", "conditioning", "load_model", "write_midi", "render_audio"]
