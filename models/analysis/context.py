"""DAW context: the tempo, meter, key and warp markers a DAW sends with a clip, and the map from the answer's
seconds to the DAW's beats.

Units: `seconds` in a warp marker are seconds from the start of the audio FILE (Live's sample time, REAPER's
take source position); `beat` is the DAW's beat (quarter notes from the DAW's beat 0, Live's beat time). Times in
a song description are seconds from the start of the analysed range, so a description time t lies at file time
range_start + t.

    context = {"tempo": 120.0, "meter": [4, 4], "key": "A:minor",
               "warp_markers": [[0.0, 0.0], [16.0, 7.93]], "beat_offset": 0.0}

With two or more warp markers the map is piecewise linear between them and extended past the first and last
marker with the slope of the nearest segment. With one marker, or none, the tempo (context tempo, else the
analysed tempo) fixes the slope, anchored at the marker or at `beat_offset` (the DAW beat of the range start,
default 0).
"""
from __future__ import annotations

import bisect

from protocol.errors import BandmateError


class ContextError(BandmateError):
    """A context the DAW sent that cannot be used (wire code bad_params)."""

    def __init__(self, message):
        BandmateError.__init__(self, "bad_params", message)


def _num(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ContextError("context %s must be a number, got %r" % (what, value))
    if value != value or value in (float("inf"), float("-inf")):
        raise ContextError("context %s must be finite, got %r" % (what, value))
    return float(value)


def parse_context(context) -> dict:
    """Validated copy of a DAW context dict (unknown keys are kept for forward compatibility). Raises
    ContextError naming the bad field."""
    if context is None:
        return {}
    if not isinstance(context, dict):
        raise ContextError("context must be an object, got %s" % type(context).__name__)
    out = dict(context)
    if context.get("tempo") is not None:
        tempo = _num(context["tempo"], "tempo")
        if not 10.0 <= tempo <= 999.0:
            raise ContextError("context tempo %.3f BPM is outside 10..999" % tempo)
        out["tempo"] = tempo
    if context.get("meter") is not None:
        meter = context["meter"]
        if isinstance(meter, str) and "/" in meter:
            meter = meter.split("/", 1)
        try:
            num, den = int(meter[0]), int(meter[1])
        except (TypeError, ValueError, IndexError, KeyError):
            raise ContextError("context meter must be [numerator, denominator] or 'n/d', got %r" % (meter,))
        if not (1 <= num <= 32 and den in (1, 2, 4, 8, 16, 32)):
            raise ContextError("context meter %d/%d is not a time signature" % (num, den))
        out["meter"] = [num, den]
    if context.get("key") is not None:
        from models.theory.harmony import pc_of

        key = context["key"]
        tonic, _, mode = str(key).replace(" ", ":").partition(":")
        mode = (mode or "major").lower()
        mode = {"maj": "major", "min": "minor"}.get(mode, mode)
        try:
            pc_of(tonic)
        except (KeyError, ValueError):
            raise ContextError("context key %r: unknown tonic %r" % (key, tonic))
        if mode not in ("major", "minor"):
            raise ContextError("context key %r: mode must be major or minor" % (key,))
        out["key"] = "%s:%s" % (tonic, mode)
    if context.get("warp_markers") is not None:
        markers = context["warp_markers"]
        if not isinstance(markers, (list, tuple)):
            raise ContextError("context warp_markers must be a list of [beat, seconds] pairs")
        pairs = []
        for m in markers:
            if isinstance(m, dict):
                m = (m.get("beat", m.get("beat_time")), m.get("seconds", m.get("sample_time")))
            if not isinstance(m, (list, tuple)) or len(m) != 2:
                raise ContextError("each warp marker must be [beat, seconds], got %r" % (m,))
            pairs.append((_num(m[0], "warp marker beat"), _num(m[1], "warp marker seconds")))
        pairs.sort(key=lambda p: p[1])
        for (b0, s0), (b1, s1) in zip(pairs, pairs[1:]):
            if s1 <= s0 or b1 <= b0:
                raise ContextError("warp markers must increase in both beats and seconds: %r then %r"
                                   % ((b0, s0), (b1, s1)))
        out["warp_markers"] = [list(p) for p in pairs]
    if context.get("beat_offset") is not None:
        out["beat_offset"] = _num(context["beat_offset"], "beat_offset")
    return out


class BeatMap:
    """Seconds of a description (from the analysed range's start) to DAW beats."""

    def __init__(self, context: dict, range_start: float = 0.0, tempo: float | None = None):
        self.range_start = float(range_start)
        markers = context.get("warp_markers") or []
        self.points = [(s, b) for b, s in markers]  # (file seconds, beat), increasing
        bpm = context.get("tempo") or tempo
        self.slope = (bpm / 60.0) if bpm else None  # beats per second where markers do not fix it
        if len(self.points) == 1 and self.slope is None:
            self.points = []
        self.offset = float(context.get("beat_offset", 0.0))
        self.available = bool(len(self.points) >= 2 or self.slope is not None)

    def beat(self, t: float) -> float | None:
        """DAW beat of description time `t` seconds, or None when there is nothing to map with."""
        if not self.available:
            return None
        x = self.range_start + float(t)
        pts = self.points
        if len(pts) >= 2:
            i = bisect.bisect_right([p[0] for p in pts], x) - 1
            i = min(max(i, 0), len(pts) - 2)
            (s0, b0), (s1, b1) = pts[i], pts[i + 1]
            return round(b0 + (x - s0) * (b1 - b0) / (s1 - s0), 4)
        if len(pts) == 1:
            s0, b0 = pts[0]
            return round(b0 + (x - s0) * self.slope, 4)
        return round(self.offset + float(t) * self.slope, 4)


def add_beats(song: dict, beat_map: BeatMap) -> None:
    """Write DAW beats beside every time in `song` (in place): `beat` on beats and tempo-map points,
    `start_beat`/`end_beat` on chords, sections and key regions, and `downbeats_beat`."""
    if not beat_map.available:
        return
    for item in song.get("beats", []) + song.get("tempo_map", []):
        item["beat"] = beat_map.beat(item["time"])
    for name in ("chords", "sections", "key_regions"):
        for item in song.get(name, []):
            item["start_beat"] = beat_map.beat(item["start"])
            item["end_beat"] = beat_map.beat(item["end"])
    if song.get("downbeats"):
        song["downbeats_beat"] = [beat_map.beat(t) for t in song["downbeats"]]
    for cad in (song.get("harmonic_analysis") or {}).get("cadences", []):
        if "time" in cad:
            cad["beat"] = beat_map.beat(cad["time"])
