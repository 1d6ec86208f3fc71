"""Small helpers over Live's Python API, with feature checks (`hasattr`) instead of version guesses.

Every function here runs on Live's main thread, inside the tick; the generators yield to wait for Live (a new
clip appears in its slot on a later tick).
"""
import Live

WAIT_TICKS = 50  # how long (in ticks, about 100 ms each in Live) to wait for Live to finish an edit


# reading a clip ------------------------------------------------------------------------------------------------

def _note_dict(note):
    """A note as Live hands it out (MidiNote object, dict, or the legacy tuple) -> the wire's note dict."""
    if isinstance(note, dict):
        get = note.get
    elif isinstance(note, (tuple, list)):  # legacy get_notes: (pitch, time, duration, velocity, mute)
        values = dict(zip(("pitch", "start_time", "duration", "velocity", "mute"), note))
        get = values.get
    else:
        def get(name, default=None):
            return getattr(note, name, default)
    return {"pitch": int(get("pitch")), "start_time": round(float(get("start_time")), 6),
            "duration": round(float(get("duration")), 6), "velocity": round(float(get("velocity", 100)), 3),
            "mute": bool(get("mute", False))}


def read_notes(clip):
    """Every note of a MIDI clip, as dicts, sorted by time then pitch."""
    if hasattr(clip, "get_all_notes_extended"):                 # Live 11.1+
        raw = clip.get_all_notes_extended()
    else:
        start = min(clip.start_marker, clip.loop_start, 0.0)
        span = max(clip.end_marker, clip.loop_end, clip.length) - start
        if hasattr(clip, "get_notes_extended"):                 # Live 11.0
            raw = clip.get_notes_extended(0, 128, start, span)
        else:                                                   # Live 10
            raw = clip.get_notes(start, 0, span, 128)
    notes = [_note_dict(n) for n in raw]
    notes.sort(key=lambda n: (n["start_time"], n["pitch"]))
    return notes


def warp_markers(clip):
    """[(beat_time, sample_time seconds)] of a warped audio clip, [] where Live has none or hides them."""
    if not getattr(clip, "warping", False) or not hasattr(clip, "warp_markers"):
        return []
    out = []
    for m in clip.warp_markers:
        out.append((float(m.beat_time), float(m.sample_time)))
    out.sort()
    return out


def beat_to_seconds(markers, beat):
    """File seconds of a clip beat through warp markers (linear between them, the nearest segment's slope
    beyond)."""
    if len(markers) < 2:
        return None
    for i in range(len(markers) - 1):
        (b0, s0), (b1, s1) = markers[i], markers[i + 1]
        if beat <= b1 or i == len(markers) - 2:
            if b1 == b0:
                return s0
            return s0 + (beat - b0) * (s1 - s0) / (b1 - b0)
    return None


def is_arrangement_clip(clip):
    if hasattr(clip, "is_arrangement_clip"):
        return bool(clip.is_arrangement_clip)
    return False


# writing notes ---------------------------------------------------------------------------------------------------

def write_notes(clip, notes):
    """Add note dicts to a MIDI clip: add_new_notes with MidiNoteSpecification (Live 11+), else set_notes."""
    if hasattr(clip, "add_new_notes") and hasattr(Live.Clip, "MidiNoteSpecification"):
        spec = Live.Clip.MidiNoteSpecification
        clip.add_new_notes(tuple(spec(pitch=int(n["pitch"]), start_time=float(n["start_time"]),
                                      duration=float(n["duration"]), velocity=float(n.get("velocity", 100)),
                                      mute=bool(n.get("mute", False))) for n in notes))
    else:
        clip.set_notes(tuple((int(n["pitch"]), float(n["start_time"]), float(n["duration"]),
                              int(round(n.get("velocity", 100))), bool(n.get("mute", False))) for n in notes))


# tracks, slots and clips -----------------------------------------------------------------------------------------

def selected_scene_index(song):
    scene = getattr(song.view, "selected_scene", None)
    for i, s in enumerate(song.scenes):
        if s == scene:
            return i
    return 0


def new_track(song, kind, name):
    """A new MIDI or audio track at the end of the Set, named."""
    count = len(song.tracks)
    if kind == "midi":
        song.create_midi_track(-1)
    else:
        song.create_audio_track(-1)
    tracks = song.tracks
    track = tracks[len(tracks) - 1] if len(tracks) > count else None
    if track is None:
        raise RuntimeError("Live did not create the %s track" % kind)
    track.name = name
    return track


def empty_slot(song, track, prefer=0):
    """An empty clip slot of `track`: the preferred scene's, else the first empty one, else one in a new scene."""
    slots = track.clip_slots
    if prefer < len(slots) and not slots[prefer].has_clip:
        return slots[prefer]
    for slot in slots:
        if not slot.has_clip:
            return slot
    song.create_scene(-1)
    return track.clip_slots[len(track.clip_slots) - 1]


def midi_track(song, name, prefer_slot=0):
    """The MIDI track called `name` with an empty slot (ours from an earlier run), else a new one."""
    for track in song.tracks:
        if track.name == name and getattr(track, "has_midi_input", False):
            return track
    return new_track(song, "midi", name)


def create_midi_clip(song, track, length, prefer_slot=0):
    """Flow step (`yield from`): an empty MIDI clip of `length` beats in an empty slot; waits until Live shows it.
    Returns (slot, clip)."""
    slot = empty_slot(song, track, prefer_slot)
    slot.create_clip(float(length))
    for _ in range(WAIT_TICKS):
        if slot.has_clip and slot.clip is not None:
            return slot, slot.clip
        yield
    raise RuntimeError("Live did not create the MIDI clip on track '%s'" % track.name)


def create_audio_clip(song, track, path, prefer_slot=0):
    """Flow step: an audio clip of `path` in an empty slot (ClipSlot.create_audio_clip, Live 12.0.5+). Returns the
    clip."""
    slot = empty_slot(song, track, prefer_slot)
    slot.create_audio_clip(path)
    for _ in range(WAIT_TICKS):
        if slot.has_clip and slot.clip is not None:
            return slot.clip
        yield
    raise RuntimeError("Live did not create the audio clip for %s" % path)


def can_create_audio_clips(song):
    """Live 12.0.5+ has ClipSlot.create_audio_clip; probe an audio track's slot, or any slot."""
    for track in song.tracks:
        for slot in track.clip_slots:
            return hasattr(slot, "create_audio_clip")
    return False


# cue points ------------------------------------------------------------------------------------------------------

def cue_at(song, beat, tolerance=1e-3):
    for cue in song.cue_points:
        if abs(cue.time - beat) <= tolerance:
            return cue
    return None


def add_cue(song, beat, name):
    """Flow step: a cue point named `name` at `beat`. An existing cue there is the user's and stays as it is
    (set_or_delete_cue would delete it). Returns True when a cue was added."""
    beat = max(0.0, round(float(beat), 3))
    if cue_at(song, beat) is not None:
        return False
    before = list(song.cue_points)
    song.current_song_time = beat  # set_or_delete_cue works at the playhead: move it there, in the same tick
    song.set_or_delete_cue()
    for _ in range(WAIT_TICKS):
        new = [c for c in song.cue_points if c not in before]
        if new:
            new[0].name = name
            return True
        yield
    raise RuntimeError("Live did not add the cue point at beat %.2f" % beat)
