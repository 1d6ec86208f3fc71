"""The analysis engine: a clip in, the song description (protocol/song.py) out.

Audio path, in order (each stage reports progress and its wall time lands in `analysis.seconds`):
  decode      one pass over the file: loudness/peak/RMS, and a mono 22.05 kHz copy for the models
  features    the semitone spectrogram (10 frames/s) shared by chords, key and sections
  chords      our chord network + Viterbi (models/analysis/chords.py)
  beats       our beat/downbeat network + bar-pointer decoding: tempo, tempo map, meter, beats, downbeats
  separation  htdemucs stems when its weights are present and asked for (else a notice says why)
  notes       basic-pitch transcription (of the pitched stems, or of the mix) when asked for
  theory      key and key regions, Roman numerals, functions, progressions, cadences, harmonic rhythm,
              voice leading, rhythm reading, genre (models/theory/reading.py)
  sections    bar-synchronous self-similarity segmentation with labels (models/analysis/sections.py)
  context     every time also in DAW beats when the DAW sent tempo or warp markers
MIDI files (and Live note lists, `analyze_notes`) take the symbolic path (models/analysis/symbolic.py) and get
the same theory reading. Only what was measured is present; `notices` says what was not and why.
"""
from __future__ import annotations

import os
import time

from protocol import BandmateError
from protocol.song import new_song_description

from .context import BeatMap, add_beats, parse_context

CHECKPOINTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "checkpoints")
CHORD_CHECKPOINT = os.path.join(CHECKPOINTS, "chords")
DEFAULT_OPTIONS = {"stems": "auto", "transcribe": False, "exports": []}
EXPORTS = ("json", "jams", "midi", "rntxt")


def load_chord_model(checkpoint: str = CHORD_CHECKPOINT, device=None):
    """The trained chord network, or None when its checkpoint is absent."""
    path = checkpoint + ".safetensors"
    if not os.path.exists(path):
        return None
    from safetensors.torch import load_file

    from .chords import build_model

    model = build_model()
    model.load_state_dict(load_file(path))
    model.eval()
    if device is not None:
        model.to(device)
    return model


_default_models: dict = {}


def default_models() -> dict:
    """The default checkpoints, loaded once per process (the daemon passes its warm pool instead)."""
    if not _default_models:
        from .beats import load_beat_model

        _default_models["chords"] = load_chord_model()
        _default_models["beats"] = load_beat_model()
    return _default_models


_default_separator: list = []  # [model or SeparationUnavailable], filled on first use


def default_separator():
    """htdemucs loaded once per process (the daemon passes its warm pool's instead); a missing model's
    SeparationUnavailable is remembered too, so the weights are not searched for on every analysis."""
    if not _default_separator:
        from .separation import SeparationUnavailable, load_separator

        try:
            _default_separator.append(load_separator())
        except SeparationUnavailable as exc:
            _default_separator.append(exc)
    if isinstance(_default_separator[0], Exception):
        raise _default_separator[0]
    return _default_separator[0]


def is_midi(path: str) -> bool:
    from .audio import MIDI_EXTENSIONS, check_readable

    check_readable(path)
    if os.path.splitext(path)[1].lower() in MIDI_EXTENSIONS:
        return True
    with open(path, "rb") as fh:
        return fh.read(4) == b"MThd"


def probe_input(path: str) -> dict:
    """Format facts of an input file without analysing it: audio.probe() for audio; for MIDI
    {kind: 'midi', duration, tracks}. Raises the coded errors of audio.probe, and corrupt_file for a MIDI file
    that does not parse."""
    if is_midi(path):
        import mido

        try:
            mid = mido.MidiFile(path)
            length = mid.length
        except (OSError, EOFError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise BandmateError("corrupt_file", "%s: not a readable MIDI file (%s)" % (os.path.basename(path), exc))
        if not any(msg.type == "note_on" and msg.velocity > 0 for tr in mid.tracks for msg in tr):
            raise BandmateError("corrupt_file", "%s: the MIDI file has no notes" % os.path.basename(path))
        return {"kind": "midi", "duration": float(length), "tracks": len(mid.tracks)}
    from .audio import probe

    info = probe(path)
    info["kind"] = "audio"
    return info


def parse_options(options: dict | None) -> dict:
    out = dict(DEFAULT_OPTIONS)
    for k, v in (options or {}).items():
        if k not in DEFAULT_OPTIONS:
            raise BandmateError("bad_params", "unknown analysis option %r (known: %s)" % (k, ", ".join(
                DEFAULT_OPTIONS)))
        out[k] = v
    if out["stems"] not in ("auto", True, False):
        raise BandmateError("bad_params", "option 'stems' must be true, false or 'auto'")
    if not isinstance(out["transcribe"], bool):
        raise BandmateError("bad_params", "option 'transcribe' must be true or false")
    exports = out["exports"]
    if isinstance(exports, str):
        exports = [e for e in exports.split(",") if e]
    bad = [e for e in exports if e not in EXPORTS]
    if bad:
        raise BandmateError("bad_params", "unknown export %r (known: %s)" % (bad[0], ", ".join(EXPORTS)))
    out["exports"] = list(exports)
    return out


class _Stages:
    def __init__(self, progress):
        self.report = progress or (lambda stage, fraction: None)
        self.seconds: dict = {}
        self._t = time.perf_counter()
        self._name = None

    def __call__(self, name: str, fraction: float):
        now = time.perf_counter()
        if self._name is not None:
            self.seconds[self._name] = round(self.seconds.get(self._name, 0.0) + now - self._t, 4)
        self._name, self._t = name, now
        self.report(name, fraction)

    def done(self):
        self("done", 1.0)
        return self.seconds


def analyze_file(path: str, start: float | None = None, end: float | None = None, context: dict | None = None,
                 models: dict | None = None, progress=None, options: dict | None = None,
                 out_dir: str | None = None, separator=None) -> dict:
    """Song description of `path` (times in seconds from `start`). `models` maps names to loaded models (the
    daemon's warm pool: 'chords', 'beats', 'basic_pitch'); without it the default checkpoints are loaded once
    per process. `separator` is a loaded htdemucs model or None. Files (stems, notes, exports) go to
    `out_dir`."""
    ctx = parse_context(context)
    opts = _checked_options(options, out_dir)
    if is_midi(path):
        from .symbolic import analyze_midi

        stages = _Stages(progress)
        song = analyze_midi(path, tempo=ctx.get("tempo"), meter=ctx.get("meter"), key=ctx.get("key"))
        return _finish_symbolic(song, ctx, opts, out_dir, stages, midi_stem_notes(path))

    from .audio import describe_source, probe
    from .features import MODEL_SR, MonoResampler, chroma, estimate_tuning, log_freq_spectrogram, tuning_description

    stages = _Stages(progress)
    models = models if models is not None else default_models()
    info = probe(path)
    mono = MonoResampler(info["sample_rate"], MODEL_SR)
    stages("decode", 0.0)
    source = describe_source(path, start, end, progress=lambda s, f: stages.report("decode", 0.3 * f),
                             on_block=mono.feed, info=info)
    song = new_song_description(source)
    notices: list = []
    y = mono.result()
    duration = source["duration"]

    stages("features", 0.3)
    # Recordings are often off A440 (a quarter tone flat reads as no chord at all): the bands follow the music.
    cents = estimate_tuning(y, MODEL_SR)
    if len(y) >= MODEL_SR:
        song["tuning"] = tuning_description(cents)
    spec, spec_times = log_freq_spectrogram(y, MODEL_SR, tuning_cents=cents)

    stages("chords", 0.4)
    chord_model = models.get("chords")
    if chord_model is not None and len(spec):
        from .train_chords import predict

        song["chords"] = predict(chord_model, spec, duration=duration)
    elif chord_model is None:
        notices.append("chords unavailable: no trained chord model (bandmate train chords)")

    stages("beats", 0.55)
    beat_model = models.get("beats")
    if beat_model is not None:
        from .beats import track_beats

        hint = {k: ctx[k] for k in ("tempo", "meter") if k in ctx}
        rhythm = track_beats(beat_model, y, context=hint or None, chords=song.get("chords"))
        for k in ("bpm", "tempo_map", "meter", "beats", "downbeats"):
            if rhythm.get(k) not in (None, []):
                song[k] = rhythm[k]
        if not rhythm.get("beats"):
            notices.append("no beats found (silence, or no steady pulse)")
    else:
        notices.append("beats unavailable: no trained beat model (bandmate train beats)")

    notes = None
    stages("separation", 0.65)
    if opts["stems"] is not False:
        _separate(song, path, source, separator, opts, out_dir, notices)
    stems = {k: v for k, v in (song.get("stems") or {}).items() if isinstance(v, dict) and v.get("path")}
    if stems.get("drums"):
        stages("drums", 0.7)
        import soundfile as sf

        from .drums import transcribe_drums

        d, d_sr = sf.read(stems["drums"]["path"], dtype="float32", always_2d=True)
        notes = {"drums": transcribe_drums(d, d_sr)}
    if opts["transcribe"]:
        stages("notes", 0.72)
        notes = _transcribe(song, y, models, out_dir, notices, stems, notes)

    stages("theory", 0.8)
    _theory(song, notes, chroma(spec) if len(spec) else None, spec_times, ctx)

    stages("sections", 0.9)
    if song.get("downbeats") and duration >= 4.0:
        from .sections import segment

        song["sections"] = segment(y, [b["time"] for b in song.get("beats", [])], song["downbeats"],
                                   song.get("chords"), duration=duration, features=(spec, spec_times))
    else:
        notices.append("sections need downbeats and at least 4 s of audio")
    return _finish(song, ctx, opts, out_dir, stages, BeatMap(ctx, range_start=source.get("start", 0.0)), notices)


def analyze_notes(notes: list, tempo: float | None = None, meter=None, key: str | None = None,
                  context: dict | None = None, options: dict | None = None, out_dir: str | None = None) -> dict:
    """Song description of a note list as Ableton Live returns it (pitch, start_time and duration in beats,
    velocity, mute), read at `tempo` BPM."""
    from .symbolic import analyze_midi

    ctx = parse_context(context)
    opts = _checked_options(options, out_dir)
    stages = _Stages(None)
    song = analyze_midi(notes, tempo=tempo or ctx.get("tempo"), meter=meter or ctx.get("meter"),
                        key=key or ctx.get("key"))
    return _finish_symbolic(song, ctx, opts, out_dir, stages, None)


def _checked_options(options, out_dir) -> dict:
    opts = parse_options(options)
    if opts["exports"] and not out_dir:
        raise BandmateError("bad_params", "exports need out_dir")
    return opts


def _finish_symbolic(song, ctx, opts, out_dir, stages, notes):
    """The theory reading of a MIDI-derived description; its times map to DAW beats through the context, else
    through the file's own tempo from beat 0."""
    _theory(song, notes, None, None, ctx)
    beat_map = BeatMap(ctx)
    if not beat_map.available:
        beat_map = BeatMap({}, tempo=song.get("bpm"))
    return _finish(song, ctx, opts, out_dir, stages, beat_map)


def _separate(song, path, source, separator, opts, out_dir, notices):
    from .separation import SeparationUnavailable, separate_file

    if separator is None:
        try:
            separator = default_separator()
        except SeparationUnavailable as exc:
            notices.append("separation unavailable: %s" % exc.reason)
            song["stems"] = {"unavailable": exc.reason}
            return
    if opts["stems"] == "auto" and not getattr(separator, "fast_device", False):
        notices.append("separation skipped: htdemucs on this CPU would take minutes; ask for stems: true")
        return
    if not out_dir:
        notices.append("separation skipped: no out_dir for the stem files")
        return
    song["stems"] = separate_file(separator, path, os.path.join(out_dir, "stems"), start=source.get("start"),
                                  end=source.get("end"))


def _transcribe(song, y, models, out_dir, notices, stems=None, notes=None):
    """basic-pitch notes of the pitched stems (bass, other, vocals) when separation ran, else of the mix;
    written as one multi-track MIDI file when there is an out_dir."""
    import soundfile as sf

    from .features import MODEL_SR
    from .transcription import transcribe, write_midi

    session = models.get("basic_pitch")
    if session is None:
        notices.append("notes unavailable: the basic-pitch model is not loaded")
        return notes
    notes = dict(notes or {})
    pitched = [k for k in ("bass", "other", "vocals") if (stems or {}).get(k)]
    for name in pitched:
        x, sr = sf.read(stems[name]["path"], dtype="float32", always_2d=True)
        notes["melody" if name == "vocals" else name] = transcribe(x.mean(axis=1), sr, session=session)
    if not pitched:
        notes["mix"] = transcribe(y, MODEL_SR, session=session)
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
        path = os.path.join(out_dir, "notes.mid")
        write_midi(notes, path, bpm=song.get("bpm"))
        song["notes"] = {name: path for name in notes}
    return notes


def _theory(song, notes, chroma_matrix, chroma_times, ctx):
    """The theory reading (models/theory/reading.py), in place; a key the DAW sent is kept as the key."""
    from models.theory.reading import theory_reading

    if ctx.get("key"):
        tonic, mode = ctx["key"].split(":")
        song["key"] = {"tonic": tonic, "mode": mode, "label": ctx["key"], "confidence": 1.0, "source": "daw"}
    theory_reading(song, notes=notes, chroma=chroma_matrix, chroma_times=chroma_times)


def midi_stem_notes(path: str) -> dict:
    """Notes of a MIDI file by stem, {stem: [(onset_s, offset_s, midi_pitch, velocity)]}: channel 10 is
    'drums', General-MIDI bass programs (32-39) 'bass', everything else its track name (or 'track N')."""
    import mido

    from models.songbook.midi_tools import TempoMap

    mid = mido.MidiFile(path)
    seconds = TempoMap(mid).seconds

    out: dict = {}
    for i, track in enumerate(mid.tracks):
        name = next((m.name for m in track if m.type == "track_name" and m.name.strip()), "track %d" % i)
        program, tick, open_notes = {}, 0, {}
        for msg in track:
            tick += msg.time
            if msg.type == "program_change":
                program[msg.channel] = msg.program
            elif msg.type == "note_on" and msg.velocity > 0:
                open_notes.setdefault((msg.channel, msg.note), []).append((tick, msg.velocity))
            elif msg.type in ("note_on", "note_off") and open_notes.get((msg.channel, msg.note)):
                start, vel = open_notes[(msg.channel, msg.note)].pop(0)
                stem = "drums" if msg.channel == 9 else ("bass" if 32 <= program.get(msg.channel, 0) <= 39
                                                         else name.strip().lower())
                on = seconds(start)
                out.setdefault(stem, []).append((on, max(seconds(tick), on + 1e-3), int(msg.note), int(vel)))
    return {k: sorted(v) for k, v in out.items()}


def _finish(song, ctx, opts, out_dir, stages, beat_map, notices=()):
    """Notices, DAW beats, how the description was made, and the exports."""
    song["notices"] = list(song.get("notices", [])) + list(notices)
    add_beats(song, beat_map)
    song["analysis"] = {"seconds": stages.done(), "options": dict(opts)}
    if ctx:
        song["analysis"]["context"] = ctx
    if opts["exports"]:
        song.setdefault("exports", {}).update(write_exports(song, opts["exports"], out_dir))
    return song


def write_exports(song: dict, kinds: list, out_dir: str) -> dict:
    """Write the song description as the export kinds asked for; returns {kind: path}."""
    import json

    from . import exports

    os.makedirs(out_dir, exist_ok=True)
    stem = os.path.splitext(os.path.basename(song.get("source", {}).get("path") or "song"))[0]
    out = {}
    for kind in kinds:
        path = os.path.join(out_dir, stem + {"json": ".bandmate.json", "jams": ".jams", "midi": ".chords.mid",
                                             "rntxt": ".rntxt"}[kind])
        if kind == "json":
            with open(path, "w", encoding="utf-8") as fh:
                json.dump(song, fh, indent=1)
        elif kind == "jams":
            exports.to_jams(song).save(path)
        elif kind == "midi":
            exports.write_chord_midi(song, path)
        else:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(exports.to_romantext(song))
        out[kind] = path
    return out
