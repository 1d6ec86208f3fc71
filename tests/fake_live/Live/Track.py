"""Live.Track: name, clip slots, MIDI or audio input, arrangement clips (Live 11+)."""
from ._core import LiveObject, prop
from .ClipSlot import ClipSlot

LIVE_11 = (11, 0, 0)


class Track(LiveObject):
    _since = {"arrangement_clips": LIVE_11}
    _observable = ("name", "clip_slots", "arrangement_clips")

    name = prop("name", check=lambda v: str(v))
    clip_slots = prop("clip_slots", settable=False)
    has_midi_input = prop("has_midi_input", settable=False)
    has_audio_input = prop("has_audio_input", settable=False)
    arrangement_clips = prop("arrangement_clips", settable=False)
    canonical_parent = prop("canonical_parent", settable=False)

    def __init__(self, song, midi=True, name="", n_slots=8):
        self.__dict__.update(_name=name or ("MIDI" if midi else "Audio"), _has_midi_input=bool(midi),
                             _has_audio_input=not midi, _canonical_parent=song, _arrangement_clips=())
        self.__dict__["_clip_slots"] = tuple(ClipSlot(self) for _ in range(n_slots))

    def _add_slot(self):
        self.__dict__["_clip_slots"] = self.__dict__["_clip_slots"] + (ClipSlot(self),)

    def _put_arrangement_clip(self, clip):
        clip.__dict__["_canonical_parent"] = self
        self._set("arrangement_clips", self.__dict__["_arrangement_clips"] + (clip,))
        return clip
