"""Live.Clip: Clip, MidiNote, MidiNoteSpecification (Live 11+), WarpMarker (Live 11+)."""
import os

from ._core import STATE, LiveObject, check_change, prop

LIVE_11 = (11, 0, 0)
LIVE_11_1 = (11, 1, 0)


class MidiNoteSpecification(object):
    """What add_new_notes takes (Live 11+). Keyword arguments as in Live's API."""

    def __init__(self, pitch, start_time, duration, velocity=100.0, mute=False, probability=1.0,
                 velocity_deviation=0.0, release_velocity=64.0):
        if not isinstance(pitch, int) or not 0 <= pitch <= 127:
            raise ValueError("pitch must be an int 0..127, got %r" % (pitch,))
        if not isinstance(start_time, float) or not isinstance(duration, float):
            raise TypeError("start_time and duration must be floats")
        if duration <= 0:
            raise ValueError("duration must be positive")
        self.pitch, self.start_time, self.duration = pitch, start_time, duration
        self.velocity, self.mute = float(velocity), bool(mute)
        self.probability, self.velocity_deviation, self.release_velocity = probability, velocity_deviation, \
            release_velocity


class MidiNote(object):
    """A note as get_notes_extended / get_all_notes_extended hand it out."""

    _ids = [0]

    def __init__(self, pitch, start_time, duration, velocity=100.0, mute=False):
        MidiNote._ids[0] += 1
        self.note_id = MidiNote._ids[0]
        self.pitch, self.start_time, self.duration = int(pitch), float(start_time), float(duration)
        self.velocity, self.mute = float(velocity), bool(mute)
        self.probability, self.velocity_deviation, self.release_velocity = 1.0, 0.0, 64.0


class WarpMarker(object):
    def __init__(self, beat_time, sample_time):
        self.beat_time, self.sample_time = float(beat_time), float(sample_time)


class Clip(LiveObject):
    _since = {"is_arrangement_clip": LIVE_11, "warp_markers": LIVE_11, "get_notes_extended": LIVE_11,
              "add_new_notes": LIVE_11, "remove_notes_extended": LIVE_11, "get_all_notes_extended": LIVE_11_1}
    _observable = ("name", "notes", "warp_markers", "start_marker", "end_marker")

    name = prop("name", check=lambda v: str(v))
    start_marker = prop("start_marker")
    end_marker = prop("end_marker")
    loop_start = prop("loop_start")
    loop_end = prop("loop_end")
    looping = prop("looping")
    warping = prop("warping")
    is_midi_clip = prop("is_midi_clip", settable=False)
    is_audio_clip = prop("is_audio_clip", settable=False)
    is_arrangement_clip = prop("is_arrangement_clip", settable=False)
    file_path = prop("file_path", settable=False)
    start_time = prop("start_time", settable=False)
    canonical_parent = prop("canonical_parent", settable=False)

    def __init__(self, midi=True, length=4.0, name="", file_path="", arrangement_start=None, warping=True,
                 warp_markers=(), start_marker=0.0, end_marker=None, notes=()):
        d = self.__dict__
        d["_is_midi_clip"], d["_is_audio_clip"] = bool(midi), not midi
        d["_name"], d["_file_path"] = name, ("" if midi else file_path)
        d["_start_marker"] = float(start_marker)
        d["_end_marker"] = float(end_marker if end_marker is not None else length)
        d["_loop_start"], d["_loop_end"] = float(start_marker), d["_end_marker"]
        d["_looping"], d["_warping"] = True, bool(warping)
        d["_is_arrangement_clip"] = arrangement_start is not None
        d["_start_time"] = float(arrangement_start or 0.0)
        d["_warp_markers"] = tuple(WarpMarker(b, s) for b, s in warp_markers)
        d["_notes"] = [MidiNote(*n) if not isinstance(n, MidiNote) else n for n in notes]
        d["_canonical_parent"] = None

    @property
    def length(self):
        return self.__dict__["_loop_end"] - self.__dict__["_loop_start"]

    @property
    def warp_markers(self):
        if not self.__dict__["_is_audio_clip"]:
            raise RuntimeError("MIDI clips have no warp markers")
        return self.__dict__["_warp_markers"]

    # notes -------------------------------------------------------------------------------------------------------

    def _midi_only(self, what):
        if not self.__dict__["_is_midi_clip"]:
            raise RuntimeError("%s: not a MIDI clip" % what)

    def get_notes(self, from_time, from_pitch, time_span, pitch_span):
        """Legacy API: tuple of (pitch, time, duration, velocity, mute)."""
        self._midi_only("get_notes")
        return tuple((n.pitch, n.start_time, n.duration, int(n.velocity), n.mute) for n in self._select(
            from_pitch, pitch_span, from_time, time_span))

    def get_notes_extended(self, from_pitch, pitch_span, from_time, time_span):
        self._midi_only("get_notes_extended")
        return tuple(self._select(from_pitch, pitch_span, from_time, time_span))

    def get_all_notes_extended(self):
        self._midi_only("get_all_notes_extended")
        return tuple(self.__dict__["_notes"])

    def _select(self, from_pitch, pitch_span, from_time, time_span):
        return [n for n in self.__dict__["_notes"] if from_pitch <= n.pitch < from_pitch + pitch_span and
                from_time <= n.start_time < from_time + time_span]

    def add_new_notes(self, specs):
        check_change("Clip.add_new_notes")
        self._midi_only("add_new_notes")
        new = []
        for s in specs:
            if not isinstance(s, _Spec):
                raise TypeError("add_new_notes takes MidiNoteSpecification objects, got %s" % type(s).__name__)
            new.append(MidiNote(s.pitch, s.start_time, s.duration, s.velocity, s.mute))
        self.__dict__["_notes"].extend(new)
        self._notify("notes")
        return tuple(n.note_id for n in new)

    def set_notes(self, notes):
        """Legacy API (Live 10; deprecated later): tuple of (pitch, time, duration, velocity, mute) tuples."""
        check_change("Clip.set_notes")
        self._midi_only("set_notes")
        for n in notes:
            if not isinstance(n, tuple) or len(n) != 5:
                raise TypeError("set_notes takes (pitch, time, duration, velocity, mute) tuples")
            self.__dict__["_notes"].append(MidiNote(*n))
        self._notify("notes")

    def remove_notes_extended(self, from_pitch, pitch_span, from_time, time_span):
        check_change("Clip.remove_notes_extended")
        gone = set(id(n) for n in self._select(from_pitch, pitch_span, from_time, time_span))
        self.__dict__["_notes"] = [n for n in self.__dict__["_notes"] if id(n) not in gone]
        self._notify("notes")


def __getattr__(name):  # PEP 562: MidiNoteSpecification exists from Live 11 on
    if name == "MidiNoteSpecification" and STATE.version >= LIVE_11:
        return _Spec
    raise AttributeError("module 'Live.Clip' has no attribute %r" % name)


_Spec = MidiNoteSpecification
del MidiNoteSpecification


def audio_file_exists(path):
    return bool(path) and os.path.isfile(path)
