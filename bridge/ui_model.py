"""What the companion window shows, as plain data: no Qt here, so every rule is testable on its own.

A song description (protocol/song.py) becomes `chord_blocks` and `section_blocks` (seconds and pixels), a short
`song_summary`; a generate job's result becomes `generated_files` (one row per MIDI or audio file); the daemon's
job list becomes the newest analysis and generations (`pick_jobs`).
"""
import json
import os
import re

DAEMON_DOWN = "daemon not running \u2014 start it with `bandmate serve`"

MIDI_EXTS = (".mid", ".midi")
AUDIO_EXTS = (".wav", ".flac", ".aif", ".aiff", ".ogg", ".mp3")

PITCH_CLASSES = {"C": 0, "B#": 0, "C#": 1, "Db": 1, "D": 2, "D#": 3, "Eb": 3, "E": 4, "Fb": 4, "E#": 5, "F": 5,
                 "F#": 6, "Gb": 6, "G": 7, "G#": 8, "Ab": 8, "A": 9, "A#": 10, "Bb": 10, "B": 11, "Cb": 11}

# Harte quality -> lead-sheet suffix (what a producer reads on a chart)
QUALITY_SUFFIX = {"maj": "", "min": "m", "7": "7", "maj7": "maj7", "min7": "m7", "dim": "dim", "dim7": "dim7",
                  "hdim7": "m7b5", "aug": "aug", "sus2": "sus2", "sus4": "sus4", "maj6": "6", "min6": "m6",
                  "9": "9", "maj9": "maj9", "min9": "m9", "minmaj7": "m(maj7)", "5": "5", "1": "(no 3rd)",
                  "7sus4": "7sus4", "11": "11", "13": "13"}

# harmonic function -> block colour; chords without a function are coloured by root on the circle of fifths
FUNCTION_COLOURS = {"tonic": "#3f7fbf", "tonic_substitute": "#6aa5d9", "subdominant": "#4f9f5f",
                    "predominant": "#4f9f5f", "dominant": "#cf5f3f", "secondary_dominant": "#d98c3f"}
NO_CHORD_COLOUR = "#5a5a5a"
SECTION_COLOURS = ("#8e6fbf", "#bf8e4f", "#4fa3a3", "#bf5f8e", "#7f9f3f", "#5f7fcf", "#cf7f5f", "#6f6f9f")


def _hsv_hex(h, s, v):
    import colorsys

    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return "#%02x%02x%02x" % (int(r * 255), int(g * 255), int(b * 255))


def root_colour(root):
    """A colour per root pitch class, neighbours on the circle of fifths get neighbouring hues."""
    pc = PITCH_CLASSES.get(root or "")
    if pc is None:
        return NO_CHORD_COLOUR
    return _hsv_hex(((pc * 7) % 12) / 12.0, 0.45, 0.78)


def chord_colour(chord):
    if chord.get("label", "N") in ("N", "X"):
        return NO_CHORD_COLOUR
    return FUNCTION_COLOURS.get(chord.get("function") or "") or root_colour(chord.get("root") or
                                                                           _harte_parts(chord["label"])[0])


def _harte_parts(label):
    """'A:min7/b3' -> ('A', 'min7', 'b3'); 'C' -> ('C', 'maj', '')."""
    root, _, rest = label.partition(":")
    quality, _, bass = (rest or "maj").partition("/")
    return root, quality or "maj", bass


def chord_symbol(chord):
    """Lead-sheet symbol of a chord segment: {'label': 'A:min7', 'bass': 'C', ...} -> 'Am7/C'; 'N' -> 'N.C.'."""
    label = chord.get("label") or "N"
    if label in ("N", "X"):
        return "N.C."
    root, quality, bass_interval = _harte_parts(label)
    root = chord.get("root") or root
    quality = chord.get("quality") or quality
    suffix = QUALITY_SUFFIX.get(quality, quality)
    bass = chord.get("bass") or ""
    if bass and bass != root:
        return "%s%s/%s" % (root, suffix, bass)
    if not bass and bass_interval and bass_interval != "1":
        return "%s%s/%s" % (root, suffix, _interval_note(root, bass_interval))
    return root + suffix


_INTERVALS = {"1": 0, "b2": 1, "2": 2, "#2": 3, "b3": 3, "3": 4, "4": 5, "#4": 6, "b5": 6, "5": 7, "#5": 8,
              "b6": 8, "6": 9, "bb7": 9, "b7": 10, "7": 11, "b9": 1, "9": 2, "#9": 3, "11": 5, "#11": 6, "13": 9}
_SHARP_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_FLAT_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")


def _interval_note(root, interval):
    """The note a Harte bass interval names above the root: ('A', 'b3') -> 'C'; unknown intervals stay as given."""
    pc, step = PITCH_CLASSES.get(root), _INTERVALS.get(interval)
    if pc is None or step is None:
        return interval
    names = _FLAT_NAMES if ("b" in root[1:] or root == "F" or "b" in interval) else _SHARP_NAMES
    return names[(pc + step) % 12]


def song_duration(song):
    """Seconds the timeline spans: the analysed range, else the end of the last chord or section."""
    src = song.get("source") or {}
    ends = [c.get("end", 0.0) for c in song.get("chords") or []] + [s.get("end", 0.0) for s in
                                                                    song.get("sections") or []]
    return float(src.get("duration") or max(ends or [0.0]) or 0.0)


def _blocks(items, px_per_s, x0):
    out = []
    for it in items:
        start, end = float(it["start"]), float(it["end"])
        if end <= start:
            continue
        out.append({"start": start, "end": end, "x": x0 + start * px_per_s, "width": (end - start) * px_per_s})
    return out


def chord_blocks(song, px_per_s=1.0, x0=0.0):
    """The chord timeline as drawable blocks, in time order: one per chord segment of the song description,
    with `start`/`end` (seconds), `x`/`width` (pixels at `px_per_s`), the Harte `label`, a lead-sheet `symbol`,
    the `roman_numeral` and `function` (or '') and a `colour` (#rrggbb). Segments of zero length are left out."""
    chords = sorted(song.get("chords") or [], key=lambda c: c["start"])
    blocks = []
    for c in chords:
        b = _blocks([c], px_per_s, x0)
        if not b:
            continue
        b = b[0]
        b.update(label=c.get("label", "N"), symbol=chord_symbol(c), roman_numeral=c.get("roman_numeral") or "",
                 function=c.get("function") or "", colour=chord_colour(c))
        blocks.append(b)
    return blocks


def section_blocks(song, px_per_s=1.0, x0=0.0):
    """Sections as blocks (like `chord_blocks`): `label` ('verse'), `letter` ('B'), `text` ('verse B') and a
    colour per repetition letter, so repeats of the same music share a colour."""
    blocks = []
    for s in sorted(song.get("sections") or [], key=lambda s: s["start"]):
        b = _blocks([s], px_per_s, x0)
        if not b:
            continue
        b = b[0]
        letter = s.get("letter") or ""
        idx = (ord(letter[0].upper()) - ord("A")) if letter else len(blocks)
        b.update(label=s.get("label", ""), letter=letter, text=("%s %s" % (s.get("label", ""), letter)).strip(),
                 colour=SECTION_COLOURS[idx % len(SECTION_COLOURS)])
        blocks.append(b)
    return blocks


def key_text(key):
    """'Db:major' or {'label': 'Db:major'} -> 'Db major'."""
    label = key.get("label") if isinstance(key, dict) else key
    if not label:
        return ""
    tonic, _, mode = label.partition(":")
    return ("%s %s" % (tonic, mode)).strip()


def song_summary(song):
    """Short facts for the header: name, key, tempo, meter, duration, genre (only what was measured)."""
    src = song.get("source") or {}
    out = {}
    if src.get("path"):
        out["source"] = os.path.basename(src["path"])
    if song.get("key"):
        out["key"] = key_text(song["key"])
        regions = [r.get("key") for r in song.get("key_regions") or []]
        if len(set(regions)) > 1:
            out["key_regions"] = " \u2192 ".join(key_text(k) for k in regions)
    if song.get("bpm"):
        out["tempo"] = "%g BPM" % round(float(song["bpm"]), 1)
    meter = song.get("meter") or {}
    if meter.get("numerator"):
        out["meter"] = "%d/%d" % (meter["numerator"], meter.get("denominator") or 4)
    duration = song_duration(song)
    if duration:
        out["duration"] = "%d:%04.1f" % (duration // 60, duration % 60)
    genre = (song.get("genre_analysis") or {}).get("primary")
    if genre:
        out["genre"] = genre
    return out


def load_song(path):
    """A song description from a JSON file: the description itself, an analyze job's result ({'song': ...})
    or a whole job ({'result': {'song': ...}})."""
    with open(path, encoding="utf-8") as fh:
        obj = json.load(fh)
    if isinstance(obj, dict) and isinstance(obj.get("result"), dict):
        obj = obj["result"]
    if isinstance(obj, dict) and isinstance(obj.get("song"), dict):
        obj = obj["song"]
    if not isinstance(obj, dict) or not ("chords" in obj or "source" in obj or "bpm" in obj):
        raise ValueError("%s is not a Bandmate song description" % path)
    return obj


# -- generated files ---------------------------------------------------------------------------------------
NAME_RE = re.compile(r"^(?P<stem>.+?)_(?P<bpm>\d+(?:\.\d+)?)bpm"
                     r"(?:_(?P<key>[A-G][#bs]?(?:maj|min|dor|phr|lyd|mix|loc|aeo|ion|m)?))?(?![a-z])", re.IGNORECASE)


def file_kind(path):
    ext = os.path.splitext(path)[1].lower()
    if ext in MIDI_EXTS:
        return "midi"
    if ext in AUDIO_EXTS:
        return "audio"
    return "other"


def name_facts(path):
    """What a generated file's name says: 'bass_120bpm_Emin.mid' -> {'stem': 'bass', 'bpm': 120.0,
    'key': 'Emin'}; names that do not follow the pattern give {'stem': <name without extension>}."""
    base = os.path.splitext(os.path.basename(path))[0]
    m = NAME_RE.match(base)
    if not m:
        return {"stem": base}
    out = {"stem": m.group("stem"), "bpm": float(m.group("bpm"))}
    if m.group("key"):
        key = m.group("key")
        out["key"] = key[0] + "#" + key[2:] if key[1:2] == "s" else key  # 'Fsmin': '#' is spelled 's' in names
    return out


def file_entry(path, stem=None, role=None, detail=""):
    path = os.path.abspath(path)
    facts = name_facts(path)
    return {"path": path, "name": os.path.basename(path), "kind": file_kind(path),
            "stem": stem or facts["stem"], "role": role or "", "detail": detail, "exists": os.path.exists(path),
            "bpm": facts.get("bpm"), "key": facts.get("key")}


def _media_paths(obj):
    """Every string in a nested result that names a MIDI or audio file (variations' shape is open)."""
    if isinstance(obj, str):
        if os.path.isabs(obj) and file_kind(obj) != "other":
            yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            for p in _media_paths(v):
                yield p
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            for p in _media_paths(v):
                yield p


def generated_files(result):
    """The files of a generate job's result, one entry per MIDI or audio file: each stem's MIDI then its audio,
    then the multitrack MIDI and the mix, then the same for each further variation (the first variation is the
    result itself). Entries carry `path` (absolute), `name`, `kind` (midi | audio), `stem`, `role` (stem |
    multitrack | mix, or variation), `detail` and `exists`."""
    result = result or {}
    out, seen = [], set()

    def add(path, stem=None, role=None, detail=""):
        if not path or not isinstance(path, str) or path in seen:
            return
        seen.add(path)
        out.append(file_entry(path, stem, role, detail))

    def add_set(files, role=None, note=""):
        for stem, info in (files.get("stems") or {}).items():
            if not isinstance(info, dict):
                continue
            bits = [note] if note else []
            if info.get("n_notes") is not None:
                bits.append("%d notes" % info["n_notes"])
            if info.get("program") is not None:
                bits.append("program %s" % info["program"])
            if isinstance(info.get("channel"), int):
                bits.append("ch %d" % (info["channel"] + 1))  # 0-based on the wire, 1-16 as DAWs count
            add(info.get("midi"), stem, role or "stem", ", ".join(bits))
            add(info.get("audio"), stem, role or "stem", ", ".join(([note] if note else []) + ["rendered audio"]))
        add(files.get("midi"), "all stems", role or "multitrack", ", ".join(([note] if note else []) +
                                                                            ["multitrack MIDI"]))
        add(files.get("audio"), "mix", role or "mix", ", ".join(([note] if note else []) + ["rendered mix"]))

    add_set(result)
    for i, var in enumerate(result.get("variations") or []):
        if isinstance(var, dict):
            add_set(var, "variation", "variation %d" % (i + 1))
        for p in _media_paths(var):  # anything else a variation names
            add(p, None, "variation", "variation %d" % (i + 1))
    return out


def files_title(entries, title="files"):
    """A heading for loose files: 'files · 120 BPM · Emin' when their names say so."""
    named = [e for e in entries if e.get("bpm")]
    if not named:
        return title
    return " \u00b7 ".join([title, "%g BPM" % named[0]["bpm"]] + ([named[0]["key"]] if named[0].get("key") else []))


def generation_summary(result):
    """'120 BPM · E minor · 4/4 · 8 bars' for a generate job's result."""
    result = result or {}
    bits = []
    if result.get("tempo"):
        bits.append("%g BPM" % round(float(result["tempo"]), 1))
    if result.get("key"):
        bits.append(key_text(result["key"]))
    meter = result.get("meter")
    if isinstance(meter, dict) and meter.get("numerator"):
        bits.append("%d/%d" % (meter["numerator"], meter.get("denominator") or 4))
    elif isinstance(meter, (list, tuple)) and len(meter) == 2:
        bits.append("%s/%s" % tuple(meter))
    elif isinstance(meter, str):
        bits.append(meter)
    if result.get("bars"):
        bits.append("%s bars" % result["bars"])
    return " \u00b7 ".join(bits)


def common_folder(paths):
    """The folder to open for a set of files: their common directory (or the first one's)."""
    dirs = [os.path.dirname(os.path.abspath(p)) for p in paths if p]
    if not dirs:
        return None
    try:
        return os.path.commonpath(dirs)
    except ValueError:  # different drives on Windows
        return dirs[0]


# -- daemon snapshot ---------------------------------------------------------------------------------------
def pick_jobs(jobs, n_generations=3):
    """From the daemon's job list (newest first): the newest finished analyze job and the newest finished
    generate jobs (at most n_generations), as (analysis_job_id or None, [generate job ids])."""
    analysis, generations = None, []
    for j in jobs or []:
        if j.get("state") != "done":
            continue
        if j.get("type") == "analyze" and analysis is None:
            analysis = j["job_id"]
        elif j.get("type") == "generate" and len(generations) < n_generations:
            generations.append(j["job_id"])
    return analysis, generations


def device_text(status):
    dev = (status or {}).get("device") or {}
    name = dev.get("name") or "unknown"
    if dev.get("kind") and dev["kind"] not in name:
        return "%s (%s)" % (dev["kind"], name)
    return name


def models_text(status):
    """'chords warm 0.4 s 12 MB, beats not loaded' for the status line."""
    bits = []
    for m in (status or {}).get("models") or []:
        state = (m.get("state") or "?").replace("_", " ")
        extra = []
        if m.get("load_s") is not None:
            extra.append("%.1f s" % m["load_s"])
        if m.get("memory_bytes"):
            extra.append("%d MB" % round(m["memory_bytes"] / 1e6))
        if m.get("device") and state == "warm":
            extra.append("on %s" % m["device"])
        bits.append(" ".join([m.get("name", "?"), state] + extra))
    return ", ".join(bits) or "no models"


def jobs_text(status):
    counts = (status or {}).get("jobs") or {}
    return ", ".join("%d %s" % (counts[k], k) for k in ("running", "queued", "done", "failed") if counts.get(k))
