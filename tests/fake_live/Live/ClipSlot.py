"""Live.ClipSlot: a Session View cell. create_clip (MIDI tracks) and, from Live 12.0.5, create_audio_clip (audio
tracks). The new clip shows up on Live's next tick."""
import os

from ._core import STATE, LiveObject, check_change, prop
from .Clip import Clip

LIVE_12_0_5 = (12, 0, 5)


class ClipSlot(LiveObject):
    _since = {"create_audio_clip": LIVE_12_0_5}
    _observable = ("has_clip",)

    has_clip = prop("has_clip", settable=False)
    clip = prop("clip", settable=False)
    canonical_parent = prop("canonical_parent", settable=False)

    def __init__(self, track):
        self.__dict__.update(_has_clip=False, _clip=None, _canonical_parent=track, _creating=False)

    def _place(self, clip):
        clip.__dict__["_canonical_parent"] = self
        self.__dict__["_clip"] = clip
        self.__dict__["_creating"] = False
        self._set("has_clip", True)

    def _check_empty(self, what):
        if self.__dict__["_has_clip"] or self.__dict__["_creating"]:
            raise RuntimeError("%s: the clip slot is not empty" % what)

    def create_clip(self, length):
        check_change("ClipSlot.create_clip")
        self._check_empty("create_clip")
        track = self.__dict__["_canonical_parent"]
        if not track.__dict__["_has_midi_input"]:
            raise RuntimeError("create_clip: only MIDI tracks can hold MIDI clips")
        if not isinstance(length, float) or length <= 0:
            raise ValueError("create_clip: length must be a positive float, got %r" % (length,))
        self.__dict__["_creating"] = True
        STATE.pending.append(lambda: self._place(Clip(midi=True, length=length)))

    def create_audio_clip(self, path):
        check_change("ClipSlot.create_audio_clip")
        self._check_empty("create_audio_clip")
        track = self.__dict__["_canonical_parent"]
        if track.__dict__["_has_midi_input"]:
            raise RuntimeError("create_audio_clip: the clip slot is not on an audio track")
        if not os.path.isabs(path) or not os.path.isfile(path):
            raise RuntimeError("create_audio_clip: not a valid audio file: %s" % path)
        self.__dict__["_creating"] = True
        name = os.path.splitext(os.path.basename(path))[0]
        STATE.pending.append(lambda: self._place(Clip(midi=False, length=4.0, name=name, file_path=path)))

    def delete_clip(self):
        check_change("ClipSlot.delete_clip")
        self.__dict__["_clip"] = None
        self._set("has_clip", False)

    def _put(self, clip):
        """Test helper: a clip placed at once (Live's side)."""
        self._place(clip)
        return clip
