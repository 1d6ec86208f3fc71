"""Pure music helpers (no Live API): Harte chord labels to MIDI notes, key names for Live, section names for
cue points, and a small Standard MIDI File writer for clips too big to send over UDP."""
import struct

PITCH_CLASSES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
NAMES = ["C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]

# Harte shorthand -> semitones above the root
QUALITIES = {
    "maj": (0, 4, 7), "min": (0, 3, 7), "dim": (0, 3, 6), "aug": (0, 4, 8), "sus2": (0, 2, 7),
    "sus4": (0, 5, 7), "7": (0, 4, 7, 10), "maj7": (0, 4, 7, 11), "min7": (0, 3, 7, 10), "dim7": (0, 3, 6, 9),
    "hdim7": (0, 3, 6, 10), "minmaj7": (0, 3, 7, 11), "maj6": (0, 4, 7, 9), "min6": (0, 3, 7, 9),
    "9": (0, 4, 7, 10, 14), "maj9": (0, 4, 7, 11, 14), "min9": (0, 3, 7, 10, 14), "5": (0, 7), "1": (0,),
    "7sus4": (0, 5, 7, 10), "aug7": (0, 4, 8, 10),
}
DEGREES = {"1": 0, "b2": 1, "2": 2, "#2": 3, "b3": 3, "3": 4, "4": 5, "#4": 6, "b5": 6, "5": 7, "#5": 8, "b6": 8,
           "6": 9, "bb7": 9, "b7": 10, "7": 11, "b9": 1, "9": 2, "#9": 3, "11": 5, "#11": 6, "b13": 8, "13": 9}


def pitch_class(name):
    """'C#' -> 1, 'Bb' -> 10, 'Cb' -> 11; raises ValueError."""
    name = (name or "").strip()
    if not name or name[0].upper() not in PITCH_CLASSES:
        raise ValueError("not a pitch name: %r" % (name,))
    pc = PITCH_CLASSES[name[0].upper()]
    for ch in name[1:]:
        if ch == "#":
            pc += 1
        elif ch == "b":
            pc -= 1
        else:
            raise ValueError("not a pitch name: %r" % (name,))
    return pc % 12


def parse_chord(label):
    """Harte label -> (root pc, intervals, bass pc) or None for 'N'/'X'/unreadable."""
    if not label or label in ("N", "X"):
        return None
    head, _, bass = label.partition("/")
    root, _, quality = head.partition(":")
    try:
        root_pc = pitch_class(root)
    except ValueError:
        return None
    intervals = QUALITIES.get(quality or "maj")
    if intervals is None:
        base = quality.split("(")[0]
        intervals = QUALITIES.get(base, QUALITIES["maj"])
    bass_pc = root_pc
    if bass:
        bass_pc = (root_pc + DEGREES.get(bass, 0)) % 12
    return root_pc, intervals, bass_pc


def chord_pitches(label, bass_name=None):
    """MIDI pitches of a plain voicing: the bass in octave 2 (36-47), the chord from its root in octave 3 (48-59
    upwards). Empty for no-chord."""
    parsed = parse_chord(label)
    if parsed is None:
        return []
    root_pc, intervals, bass_pc = parsed
    if bass_name:
        try:
            bass_pc = pitch_class(bass_name)
        except ValueError:
            pass
    return [36 + bass_pc] + [48 + root_pc + i for i in intervals]


def chord_notes(chords, clip_time, velocity=90):
    """Live note dicts (beats from the clip start) for chord segments {label, start_beat, end_beat[, bass]};
    `clip_time(beat)` maps the analysis's beats to the chord clip's time. Segments before the clip are cut."""
    notes = []
    for seg in chords:
        if "start_beat" not in seg or "end_beat" not in seg:
            continue
        start, end = clip_time(float(seg["start_beat"])), clip_time(float(seg["end_beat"]))
        start = max(0.0, start)
        if end - start < 1e-3:
            continue
        for pitch in chord_pitches(seg.get("label"), seg.get("bass")):
            if 0 <= pitch <= 127:
                notes.append({"pitch": pitch, "start_time": round(start, 6), "duration": round(end - start, 6),
                              "velocity": velocity, "mute": False})
    return notes


def key_label(key):
    """'Db:major' or {'label': 'Db:major'} -> 'Db major'; '' when unknown."""
    if isinstance(key, dict):
        key = key.get("label") or ("%s:%s" % (key.get("tonic", ""), key.get("mode", "")) if key.get("tonic")
                                   else "")
    if not key:
        return ""
    return str(key).replace(":", " ")


def key_to_live(key):
    """'E:minor' -> (4, 'Minor') for song.root_note / song.scale_name; None when unreadable."""
    text = key.get("label", "") if isinstance(key, dict) else str(key or "")
    tonic, _, mode = text.replace(" ", ":").partition(":")
    try:
        pc = pitch_class(tonic)
    except ValueError:
        return None
    mode = (mode or "major").lower()
    if mode.startswith("min"):
        return pc, "Minor"
    if mode.startswith("maj"):
        return pc, "Major"
    return None


MINOR_SCALES = ("minor", "dorian", "phrygian", "aeolian", "locrian", "harmonic minor", "melodic minor")
MAJOR_SCALES = ("major", "ionian", "lydian", "mixolydian")


def key_from_live(root_note, scale_name):
    """Live 12's song.root_note (0-11) and song.scale_name -> 'E:minor', or None for scales that are neither
    major nor minor in character."""
    try:
        root = NAMES[int(root_note) % 12]
    except (TypeError, ValueError):
        return None
    name = str(scale_name or "").strip().lower()
    if name in MINOR_SCALES:
        return "%s:minor" % root
    if name in MAJOR_SCALES:
        return "%s:major" % root
    return None


def section_name(section):
    """'chorus' + 'A' -> 'Chorus A'."""
    label = str(section.get("label") or "section").replace("_", " ")
    label = label[:1].upper() + label[1:]
    letter = section.get("letter")
    return ("%s %s" % (label, letter)) if letter else label


def bar_length(numerator, denominator):
    """Beats (quarter notes) in one bar."""
    return 4.0 * float(numerator) / float(denominator or 4)


def clip_length(notes, bar_beats, minimum_bars=1):
    """Whole bars covering every note."""
    end = max([n["start_time"] + n["duration"] for n in notes] or [0.0])
    bars = max(minimum_bars, int(-(-end // bar_beats)) if end > 0 else minimum_bars)
    return bars * bar_beats


def _varlen(value):
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.insert(0, (value & 0x7F) | 0x80)
        value >>= 7
    return bytes(out)


def midi_file_bytes(notes, tempo=120.0, numerator=4, denominator=4, ppq=480):
    """A format-0 Standard MIDI File of Live note dicts (beats), with tempo and time signature: the symbolic
    analysis reads it like the note list itself, without UDP's size limit."""
    events = []
    for n in notes:
        if n.get("mute"):
            continue
        pitch = max(0, min(127, int(n["pitch"])))
        velocity = max(1, min(127, int(round(n.get("velocity", 100)))))
        on = int(round(float(n["start_time"]) * ppq))
        off = max(on + 1, int(round((float(n["start_time"]) + float(n["duration"])) * ppq)))
        if on < 0:
            continue
        events.append((off, 0, bytes([0x80, pitch, 0])))
        events.append((on, 1, bytes([0x90, pitch, velocity])))
    events.sort(key=lambda e: (e[0], e[1]))
    denominator_power = {1: 0, 2: 1, 4: 2, 8: 3, 16: 4, 32: 5}.get(int(denominator), 2)
    mpqn = int(round(60000000.0 / float(tempo)))
    track = bytearray()
    track += b"\x00\xff\x51\x03" + struct.pack(">I", mpqn)[1:]
    track += b"\x00\xff\x58\x04" + bytes([int(numerator) & 0x7F, denominator_power, 24, 8])
    now = 0
    for tick, _, data in events:
        track += _varlen(tick - now) + data
        now = tick
    track += b"\x00\xff\x2f\x00"
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, ppq) + b"MTrk" + struct.pack(">I", len(track)) + bytes(track)
