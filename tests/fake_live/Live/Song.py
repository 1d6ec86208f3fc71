"""Live.Song: tempo, meter, transport, tracks, scenes, cue points, the view (detail_clip), and Live 12's scale
(root_note, scale_name, scale_mode)."""
from ._core import LiveObject, check_change, prop
from .Track import Track

LIVE_12 = (12, 0, 0)


class CuePoint(LiveObject):
    _observable = ("name", "time")
    name = prop("name", check=lambda v: str(v))
    time = prop("time", settable=False)

    def __init__(self, song, time, name=""):
        self.__dict__.update(_song=song, _time=float(time), _name=name)

    def jump(self):
        self.__dict__["_song"].current_song_time = self.__dict__["_time"]


class Scene(LiveObject):
    name = prop("name", check=lambda v: str(v))

    def __init__(self, name=""):
        self.__dict__["_name"] = name


class View(LiveObject):
    _observable = ("detail_clip", "selected_track", "selected_scene")
    detail_clip = prop("detail_clip")
    selected_track = prop("selected_track")
    selected_scene = prop("selected_scene")

    def __init__(self):
        self.__dict__.update(_detail_clip=None, _selected_track=None, _selected_scene=None)


def _tempo(value):
    value = float(value)
    if not 20.0 <= value <= 999.0:
        raise ValueError("tempo out of range")
    return value


def _root(value):
    if not isinstance(value, int) or not 0 <= value <= 11:
        raise ValueError("root_note must be an int 0..11")
    return value


SCALES = ("Major", "Minor", "Dorian", "Mixolydian", "Lydian", "Phrygian", "Locrian", "Whole Tone",
          "Half-whole Dim.", "Whole-half Dim.", "Minor Blues", "Minor Pentatonic", "Major Pentatonic",
          "Harmonic Minor", "Melodic Minor")


def _scale(value):
    if value not in SCALES:
        raise ValueError("unknown scale %r" % (value,))
    return value


class Song(LiveObject):
    _since = {"root_note": LIVE_12, "scale_name": LIVE_12, "scale_mode": LIVE_12}
    _observable = ("tempo", "current_song_time", "is_playing", "tracks", "scenes", "cue_points",
                   "signature_numerator", "signature_denominator", "root_note", "scale_name", "scale_mode")

    tempo = prop("tempo", check=_tempo)
    signature_numerator = prop("signature_numerator")
    signature_denominator = prop("signature_denominator")
    current_song_time = prop("current_song_time", check=lambda v: max(0.0, float(v)))
    is_playing = prop("is_playing", check=bool)
    tracks = prop("tracks", settable=False)
    scenes = prop("scenes", settable=False)
    cue_points = prop("cue_points", settable=False)
    view = prop("view", settable=False)
    root_note = prop("root_note", check=_root)
    scale_name = prop("scale_name", check=_scale)
    scale_mode = prop("scale_mode", check=bool)

    def __init__(self, tempo=120.0, meter=(4, 4), n_scenes=8):
        view = View()
        scenes = tuple(Scene() for _ in range(n_scenes))
        self.__dict__.update(_tempo=float(tempo), _signature_numerator=meter[0], _signature_denominator=meter[1],
                             _current_song_time=0.0, _is_playing=False, _tracks=(), _scenes=scenes,
                             _cue_points=(), _view=view, _root_note=0, _scale_name="Major", _scale_mode=False)
        view.__dict__["_selected_scene"] = scenes[0]

    def _new_track(self, midi, index, name=""):
        check_change("Song.create_%s_track" % ("midi" if midi else "audio"))
        tracks = list(self.__dict__["_tracks"])
        if index == -1:
            index = len(tracks)
        if not 0 <= index <= len(tracks):
            raise IndexError("track index %d out of range" % index)
        track = Track(self, midi=midi, name=name, n_slots=len(self.__dict__["_scenes"]))
        tracks.insert(index, track)
        self._set("tracks", tuple(tracks))
        self.__dict__["_view"]._set("selected_track", track)
        return track

    def create_midi_track(self, index=-1):
        self._new_track(True, index)

    def create_audio_track(self, index=-1):
        self._new_track(False, index)

    def create_scene(self, index=-1):
        check_change("Song.create_scene")
        scenes = list(self.__dict__["_scenes"])
        scenes.insert(len(scenes) if index == -1 else index, Scene())
        for t in self.__dict__["_tracks"]:
            t._add_slot()
        self._set("scenes", tuple(scenes))

    def set_or_delete_cue(self):
        """Adds a cue point at the current song time, or deletes the one that is there."""
        check_change("Song.set_or_delete_cue")
        now = self.__dict__["_current_song_time"]
        cues = list(self.__dict__["_cue_points"])
        here = [c for c in cues if abs(c.__dict__["_time"] - now) < 1e-6]
        if here:
            cues.remove(here[0])
        else:
            cues.append(CuePoint(self, now))
            cues.sort(key=lambda c: c.__dict__["_time"])
        self._set("cue_points", tuple(cues))

    def start_playing(self):
        check_change("Song.start_playing")
        self._set("is_playing", True)

    def stop_playing(self):
        check_change("Song.stop_playing")
        self._set("is_playing", False)

    def _advance(self, seconds):
        """Live's transport: while playing, song time moves at the tempo."""
        if self.__dict__["_is_playing"]:
            self._set("current_song_time", self.__dict__["_current_song_time"] + seconds * self.__dict__["_tempo"]
                      / 60.0)
