"""The message table: every request type, its parameters, its reply fields, and their OSC argument order.

One table drives validation on the daemon, argument packing in clients, and the tables in protocol/README.md
(tests check that the README documents every entry). Parameter kinds and their OSC type tags:

    str   -> s        int   -> i (h accepted)        float -> f (i, h, d accepted)
    bool  -> T/F (i 0/1 accepted)                     json  -> s holding JSON text (object or array)

Over ZeroMQ a request is {"id", "type", "params": {...}, "token"?}; over OSC it is the address
/bandmate/<type> with the request id as first argument, then the parameters in table order (trailing optional
ones may be left out). When the daemon has an auth token, OSC requests carry it as the second argument.
"""
import json
from collections import namedtuple

from .errors import BandmateError

Param = namedtuple("Param", "name kind required doc")
Field = namedtuple("Field", "name kind doc")
Message = namedtuple("Message", "type params reply job doc")

OSC_PREFIX = "/bandmate/"
OSC_ERROR_ADDRESS = "/bandmate/error"
OSC_EVENT_PREFIX = "/bandmate/event/"
KINDS = ("str", "int", "float", "bool", "json")
PRIORITIES = ("live", "interactive", "batch")

_JOB_REPLY = [
    Field("job_id", "str", "id of the accepted job; follow it with `job` or the job events"),
    Field("state", "str", "queued | running | done (a cache hit is done at once)"),
]


def _m(type_, params, reply, job, doc):
    return Message(type_, [Param(*p) for p in params], reply, job, doc)


MESSAGES = {m.type: m for m in [
    _m("hello", [
        ("client", "str", False, "client name and version, e.g. 'ableton-remote-script/0.1'"),
        ("protocol", "str", False, "protocol version the client speaks, e.g. '1.0'"),
    ], [
        Field("protocol", "str", "protocol version the daemon speaks"),
        Field("server", "str", "daemon version"),
        Field("capabilities", "json", "list of message types and features this daemon serves"),
    ], False, "Version handshake. A different major protocol version is refused with version_mismatch."),
    _m("ping", [
        ("payload", "str", False, "echoed back unchanged"),
    ], [
        Field("pong", "str", "always 'pong'"),
        Field("payload", "str", "the payload sent, or ''"),
        Field("server_time", "float", "daemon wall clock, seconds since the epoch"),
    ], False, "Liveness and latency check."),
    _m("status", [], [
        Field("status", "json", "version, uptime_s, device, models, jobs (counts by state), endpoints, data_dir"),
    ], False, "Daemon status: compute device, warm models with memory and load time, job counts."),
    _m("models", [], [
        Field("models", "json", "list of {name, state, device, load_s, memory_bytes, version, error}"),
    ], False, "The warm model pool."),
    _m("analyze", [
        ("path", "str", False, "absolute path of an audio file (wav, aiff, flac, mp3, ogg; m4a with ffmpeg) or "
                               "of a MIDI file (symbolic analysis); required unless `notes` is given"),
        ("start", "float", False, "start of the range to analyse, seconds from the file start (default 0)"),
        ("end", "float", False, "end of the range, seconds (default: end of file)"),
        ("context", "json", False, "DAW context: {tempo, meter, key, warp_markers: [[beat, seconds], ...]}"),
        ("out_dir", "str", False, "absolute directory for result files (default: the daemon's data dir)"),
        ("options", "json", False, "{stems: true|false|'auto' (htdemucs; auto = only on a GPU), transcribe: bool "
                                   "(basic-pitch notes, default false), exports: ['json','jams','midi','rntxt']}"),
        ("notes", "json", False, "a MIDI clip's notes as Live returns them: [{pitch, start_time, duration, "
                                 "velocity, mute}] (beats), read at context.tempo; instead of `path`"),
        ("priority", "str", False, "live | interactive | batch (default interactive)"),
        ("timeout", "float", False, "seconds before the job fails with timeout (default from config)"),
    ], _JOB_REPLY, True, "Analyse an audio clip, a MIDI file or a note list; the job's result is the song "
                         "description (protocol/song.py)."),
    _m("generate", [
        ("request", "json", True, "{stems: list or 'drums,bass,keys,melody' (guitar = keys, vocal = melody), "
                                  "tempo (quarter-note BPM, 30-300), meter ('4/4'), key ('E:minor', 'Em'), bars "
                                  "(1-256), chords ('C G Am F', 'C G | Am F' for several a bar, or Roman numerals "
                                  "'I V vi IV'), analysis (an analyze job id or a song-description JSON path: its "
                                  "tempo, meter, key and chords are followed), genre, prompt (text), complexity "
                                  "(0-1), seed, variations (1-8), temperature, top_p, constraints {scale, "
                                  "chord_tones, range} (booleans, default true), render (audio too, default true)}; "
                                  "the user's fields win over the analysis, which wins over the prompt"),
        ("out_dir", "str", False, "absolute directory for MIDI/audio files (default: the daemon's data dir)"),
        ("priority", "str", False, "live | interactive | batch (default interactive)"),
        ("timeout", "float", False, "seconds before the job fails with timeout"),
    ], _JOB_REPLY, True, "Generate stems. The job's result: {tempo, meter, key, bars, length_beats, plan{genre, "
                         "sections, chords}, stems{name: {midi, audio (48 kHz WAV or null), notes (JSON: "
                         "[{pitch, start_time, duration, velocity, mute}] in quarter-note beats), program, "
                         "channel, n_notes}}, midi (multitrack), audio (the mix), notes (all stems), "
                         "variations[{seed, stems, midi, audio, notes}], out_dir, notices}. Files are named "
                         "<stem>_<bpm>bpm_<key>, e.g. bass_120bpm_Emin.mid."),
    _m("selftest", [
        ("seconds", "float", False, "how long to measure (default 2, at most 600)"),
        ("priority", "str", False, "live | interactive | batch (default batch)"),
        ("timeout", "float", False, "seconds before the job fails with timeout"),
    ], _JOB_REPLY, True, "Measure the compute device's matrix-multiply throughput (GFLOP/s) as a job."),
    _m("job", [
        ("job_id", "str", True, "a job id"),
    ], [
        Field("job", "json", "{job_id, type, state, stage, fraction, created, started, finished, result, "
                             "result_path, error}"),
    ], False, "One job's state and, once done, its result (and the path of its result JSON file)."),
    _m("jobs", [
        ("limit", "int", False, "newest N jobs (default 50, at most 1000)"),
        ("state", "str", False, "only jobs in this state"),
    ], [
        Field("jobs", "json", "list of job summaries, newest first"),
    ], False, "List jobs, including those of earlier daemon runs."),
    _m("cancel", [
        ("job_id", "str", True, "a job id"),
    ], [
        Field("job_id", "str", "the job"),
        Field("state", "str", "its state after the request: cancelled, or done/failed if it had finished"),
    ], False, "Cancel a queued or running job."),
    _m("subscribe", [
        ("topics", "str", False, "comma-separated topics (job, model, live); '' or absent = all"),
        ("port", "int", False, "OSC only: UDP port on the sender's host to send events to (0 or absent: the "
                               "sender's own port)"),
    ], [
        Field("pub_endpoint", "str", "the ZeroMQ PUB endpoint that carries the same events"),
        Field("topics", "str", "the topics subscribed"),
    ], False, "Register for events. Over OSC, events go to /bandmate/event/<topic>."),
    _m("unsubscribe", [
        ("port", "int", False, "OSC only: the port given to subscribe (0 or absent: the sender's own port)"),
    ], [
        Field("removed", "int", "how many subscriptions were removed"),
    ], False, "Stop receiving events."),
    _m("live_start", [
        ("source", "str", False, "push (the client sends audio with live_push, ZeroMQ only) | device (an input "
                                 "device the daemon opens with sounddevice); default push"),
        ("device", "str", False, "source=device: device name or index as listed by live_devices (default: the "
                                 "system's default input)"),
        ("sample_rate", "int", False, "Hz of the audio (default 44100)"),
        ("channels", "int", False, "channels of the audio (default 2)"),
        ("key", "str", False, "key to read Roman numerals in, e.g. 'Eb:major' (default: tracked online)"),
        ("session", "str", False, "client-chosen session id (default: the daemon picks one)"),
        ("idle_timeout", "float", False, "source=push: seconds without a push before the session ends "
                                         "(default 10)"),
        ("midi_port", "str", False, "play each chord's notes on this MIDI output port ('' = the default port); "
                                    "not_available where the OS or mido has none"),
        ("latency", "str", False, "fast (default: the causal live network, names a change in about 0.25 s) | "
                                  "steady (the offline chord network with two seconds of context: about 0.45 s, "
                                  "a few points more accurate); the default falls back to steady where the live "
                                  "network's checkpoint is missing"),
        ("tuning", "float", False, "cents the music is tuned off A4 = 440 Hz, -50..50 (an analysis' tuning.cents): "
                                   "the chord bands follow it; default: read from the first 5 s of sound, a "
                                   "'tuning' event when the bands move (8 cents or more)"),
    ], [
        Field("session", "str", "the session id; its events on topic 'live' carry it"),
        Field("latency", "str", "the engine the session runs: steady | fast"),
        Field("sample_rate", "int", "Hz"),
        Field("channels", "int", "channels"),
    ], False, "Start live chord analysis. Events on topic 'live' (PUB and OSC, one JSON argument over OSC): "
              "{session, type: chord, label (Harte), root, quality, bass, roman_numeral, function, key, "
              "confidence, time (audio seconds of the change), beat (DAW beat when live_clock was sent), "
              "emitted_at (audio seconds when it was decided), server_time (wall clock)}; {type: key, key, "
              "confidence, time}; {type: tuning, cents, a4_hz, time}; {type: started | ended (reason: stopped, "
              "idle, device_lost, error, daemon_stopping) | clipping | xrun | sample_rate_changed}."),
    _m("live_push", [
        ("session", "str", True, "a live session (source push)"),
        ("audio", "str", True, "base64 of interleaved little-endian samples, (frames x channels)"),
        ("format", "str", False, "float32 (default) | int16"),
        ("sample_rate", "int", False, "Hz of this block when it differs from the session's (the session "
                                      "restarts its analysis at the new rate and says so in an event)"),
    ], [
        Field("ok", "bool", "true"),
        Field("audio_s", "float", "seconds of audio the session has received"),
        Field("events", "int", "events this block caused (they go out on topic 'live')"),
    ], False, "Push a block of audio into a live session (ZeroMQ only; at most 1 MB a message, so blocks of "
              "about a second or less)."),
    _m("live_clock", [
        ("session", "str", True, "a live session"),
        ("tempo", "float", False, "BPM (default 120)"),
        ("beat", "float", False, "the DAW's beat position at the end of the audio sent so far (default 0)"),
        ("playing", "bool", False, "transport playing (default true); events carry no beat while stopped"),
    ], [
        Field("ok", "bool", "true"),
        Field("audio_s", "float", "the session's audio time the clock was pinned to"),
    ], False, "The DAW's beat clock, so live events carry DAW beats."),
    _m("live_stop", [
        ("session", "str", True, "a live session"),
    ], [
        Field("session", "str", "the session"),
        Field("audio_s", "float", "seconds of audio analysed"),
        Field("events", "int", "events the session sent"),
        Field("cpu_per_audio_s", "float", "CPU seconds of analysis per second of audio"),
    ], False, "Stop a live session (its last chords are flushed first; an 'ended' event follows)."),
    _m("live_devices", [], [
        Field("devices", "json", "list of input devices {index, name, channels, sample_rate}"),
    ], False, "Audio input devices the daemon can read (not_available says why where there are none)."),
    _m("shutdown", [], [
        Field("stopping", "bool", "true"),
    ], False, "Stop the daemon after replying (refused from non-loopback clients)."),
]}

# Events published on the ZeroMQ PUB socket as [topic, json] and to OSC subscribers at /bandmate/event/<topic>.
EVENTS = {
    "job": [
        Field("job_id", "str", "the job"),
        Field("state", "str", "queued | running | done | failed | cancelled"),
        Field("stage", "str", "what the job is doing, e.g. 'decode', 'beats', 'chords'"),
        Field("fraction", "float", "progress 0..1"),
        Field("message", "str", "error message when failed, else ''"),
    ],
    "model": [
        Field("name", "str", "model name"),
        Field("state", "str", "loading | warm | failed | unavailable"),
        Field("message", "str", "error or reason, else ''"),
    ],
}


def _coerce(kind, name, value):
    """Check one parameter against its kind; returns the value in its Python form."""
    if kind == "str":
        if isinstance(value, str):
            return value
    elif kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif kind == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = float(value)
            if value == value and value not in (float("inf"), float("-inf")):
                return value
            raise BandmateError("bad_params", "field '%s': must be a finite number" % name)
    elif kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
    elif kind == "json":
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise BandmateError("bad_params", "field '%s': not valid JSON text" % name)
        if isinstance(value, (dict, list)):
            return value
    raise BandmateError("bad_params", "field '%s': expected %s, got %s" % (name, kind, _type_name(value)))


def _type_name(value):
    return "null" if value is None else type(value).__name__


def validate_params(msg_type, params):
    """Validate a params dict for a message type; returns a new dict with coerced values.
    Raises BandmateError(unknown_type | bad_params)."""
    spec = MESSAGES.get(msg_type)
    if spec is None:
        raise BandmateError("unknown_type", "unknown message type %r" % (msg_type,))
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise BandmateError("bad_params", "params must be an object, got %s" % _type_name(params))
    known = {p.name for p in spec.params}
    extra = sorted(k for k in params if k not in known)
    if extra:
        raise BandmateError("bad_params", "unknown field(s) for %s: %s" % (msg_type, ", ".join(map(str, extra))))
    out = {}
    for p in spec.params:
        if p.name in params and params[p.name] is not None:
            out[p.name] = _coerce(p.kind, p.name, params[p.name])
        elif p.required:
            raise BandmateError("bad_params", "field '%s' is required for %s" % (p.name, msg_type))
    if "priority" in out and out["priority"] not in PRIORITIES:
        raise BandmateError("bad_params", "field 'priority': must be one of %s" % ", ".join(PRIORITIES))
    return out


def osc_address(msg_type):
    return OSC_PREFIX + msg_type


def type_from_osc_address(address):
    """'/bandmate/ping' -> 'ping'; raises BandmateError(unknown_type) for anything else."""
    if address.startswith(OSC_PREFIX):
        msg_type = address[len(OSC_PREFIX):]
        if msg_type in MESSAGES:
            return msg_type
    raise BandmateError("unknown_type", "unknown OSC address %r" % (address,))


def params_from_osc(msg_type, args):
    """Map positional OSC arguments (after id and token) onto the message's parameters."""
    spec = MESSAGES[msg_type]
    if len(args) > len(spec.params):
        raise BandmateError("bad_params", "%s takes at most %d arguments after the id, got %d"
                            % (osc_address(msg_type), len(spec.params), len(args)))
    return validate_params(msg_type, {p.name: a for p, a in zip(spec.params, args)})


def params_to_osc(msg_type, params):
    """Positional OSC arguments for a params dict (JSON kinds become JSON text)."""
    spec = MESSAGES[msg_type]
    args = []
    names = [p.name for p in spec.params]
    last = max([names.index(k) for k in params if params[k] is not None] or [-1])
    for p in spec.params[:last + 1]:
        value = params.get(p.name)
        if value is None:
            raise BandmateError("bad_params", "OSC arguments are positional: give '%s' to send later ones" % p.name)
        args.append(json.dumps(value, separators=(",", ":")) if p.kind == "json" else value)
    return args


def _field_to_osc(field, value):
    if field.kind == "json":
        return json.dumps(value, separators=(",", ":"))
    if value is None:
        return "" if field.kind == "str" else 0
    return value


def reply_to_osc(msg_type, result):
    """OSC arguments (after the id) for a result dict, in the table's reply order."""
    return [_field_to_osc(f, result.get(f.name)) for f in MESSAGES[msg_type].reply]


def reply_from_osc(msg_type, args):
    """Inverse of reply_to_osc, for clients."""
    out = {}
    for f, a in zip(MESSAGES[msg_type].reply, args):
        out[f.name] = json.loads(a) if f.kind == "json" else a
    return out


def event_to_osc(topic, event):
    fields = EVENTS.get(topic)
    if fields is None:  # topics without a fixed table travel as one JSON argument
        return [json.dumps(event, separators=(",", ":"))]
    return [_field_to_osc(f, event.get(f.name)) for f in fields]
