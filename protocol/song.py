"""The song description: the one data model that analysis returns, generation takes, and the diffusion
conditioner reads. Versioned JSON; the schema below is JSON Schema (draft 2020-12).

Units: times in seconds from the start of the analysed range (`time`, `start`, `end`), and, where the DAW sent
context, also in the DAW's beats (`beat`, `start_beat`, `end_beat`, quarter notes from the DAW's beat 0).
Tempo in BPM (quarter notes per minute), loudness in LUFS, frequencies in Hz.

Only what an analysis really measured is present: a field absent from a description was not computed, never
filled with a placeholder. `source` is always present.
"""

SONG_SCHEMA_VERSION = "1.0"

_num = {"type": "number"}
_time = {"type": "number", "minimum": 0, "description": "seconds"}
_beat = {"type": "number", "description": "DAW beats (quarter notes)"}
_str = {"type": "string"}

_chord = {
    "type": "object",
    "required": ["start", "end", "label"],
    "properties": {
        "start": _time, "end": _time, "start_beat": _beat, "end_beat": _beat,
        "label": {"type": "string", "description": "Harte syntax, e.g. 'A:min7/b3', 'N' for no chord"},
        "root": {"type": "string", "description": "pitch class name, e.g. 'A'"},
        "quality": {"type": "string", "description": "maj, min, 7, maj7, min7, dim, dim7, hdim7, aug, sus2, sus4..."},
        "bass": {"type": "string", "description": "bass pitch class name"},
        "roman_numeral": {"type": "string", "description": "relative to the local key, e.g. 'V7/V', 'bVI', 'N6'"},
        "function": {"type": "string", "description": "tonic | subdominant | predominant | dominant | tonic_substitute"},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
    },
}

SONG_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Bandmate song description",
    "type": "object",
    "required": ["schema_version", "source"],
    "properties": {
        "schema_version": {"const": SONG_SCHEMA_VERSION},
        "source": {
            "type": "object",
            "required": ["duration"],
            "properties": {
                "path": _str,
                "kind": {"enum": ["audio", "midi"]},
                "format": {"type": "string", "description": "decoded container/codec, e.g. 'WAV PCM_16'"},
                "sample_rate": {"type": "integer", "description": "Hz, of the file"},
                "channels": {"type": "integer"},
                "duration": {"type": "number", "description": "seconds of the analysed range"},
                "file_duration": {"type": "number", "description": "seconds of the whole file"},
                "start": _time, "end": _time,
                "sha256": {"type": "string", "description": "hash of the file's bytes"},
                "loudness_lufs": {"type": ["number", "null"], "description": "ITU-R BS.1770-4 integrated "
                                  "loudness of the range; null when the range is silent (below the -70 LUFS gate)"},
                "peak_dbfs": {"type": ["number", "null"], "description": "sample peak, dBFS; null for digital silence"},
                "rms_dbfs": {"type": ["number", "null"], "description": "RMS level, dBFS; null for digital silence"},
            },
        },
        "tuning": {"type": "object", "description": "the music's tuning reference, as the chord and key models "
                   "read it (their bands follow it)", "properties": {
                       "a4_hz": {"type": "number", "description": "Hz of A4, e.g. 440.0, 432.0"},
                       "cents": {"type": "number", "description": "offset from A4 = 440 Hz, cents, -50..50"}}},
        "bpm": {"type": "number", "description": "main tempo, BPM"},
        "tempo_map": {"type": "array", "items": {"type": "object", "required": ["time", "bpm"],
                                                  "properties": {"time": _time, "beat": _beat, "bpm": _num}}},
        "meter": {"type": "object", "properties": {"numerator": {"type": "integer"},
                                                   "denominator": {"type": "integer"}}},
        "beats": {"type": "array", "items": {"type": "object", "required": ["time"],
                                              "properties": {"time": _time, "beat": _beat,
                                                             "position": {"type": "integer",
                                                                          "description": "1 = downbeat"}}}},
        "downbeats": {"type": "array", "items": _time, "description": "seconds"},
        "key": {"type": "object", "properties": {"tonic": _str, "mode": _str, "label": _str,
                                                 "confidence": _num}},
        "key_regions": {"type": "array", "items": {"type": "object", "required": ["start", "end", "key"],
                                                    "properties": {"start": _time, "end": _time, "key": _str}}},
        "chords": {"type": "array", "items": _chord},
        "sections": {"type": "array", "items": {
            "type": "object", "required": ["start", "end", "label"],
            "properties": {"start": _time, "end": _time, "start_beat": _beat, "end_beat": _beat,
                           "label": {"type": "string", "description": "intro | verse | chorus | bridge | outro ..."},
                           "letter": {"type": "string", "description": "repetition letter, A, B, ..."}}}},
        "harmonic_analysis": {"type": "object", "description": "roman numerals, functions, progressions, "
                              "cadences, voice leading, harmonic rhythm, complexity"},
        "rhythmic_analysis": {"type": "object", "description": "metric hierarchy, syncopation, density, "
                              "polyrhythm, complexity"},
        "genre_analysis": {"type": "object", "properties": {
            "primary": _str, "secondary": _str, "confidence": _num,
            "reasons": {"type": "array", "items": _str}}},
        "stems": {"type": "object", "description": "stem name -> {path, ...}; or {'unavailable': reason}"},
        "notes": {"type": "object", "description": "stem name -> path of a transcribed MIDI file"},
        "downbeats_beat": {"type": "array", "items": _beat, "description": "downbeats in DAW beats (with context)"},
        "exports": {"type": "object", "description": "export kind (json, jams, midi, rntxt) -> absolute path"},
        "analysis": {"type": "object", "description": "how the description was made: seconds per stage "
                     "(decode, features, chords, beats, separation, notes, theory, sections), options, context"},
        "notices": {"type": "array", "items": _str,
                    "description": "what the analysis could not do and why, e.g. 'separation unavailable: ...'"},
    },
}


def new_song_description(source):
    """A minimal valid description around a `source` dict."""
    return {"schema_version": SONG_SCHEMA_VERSION, "source": dict(source)}
