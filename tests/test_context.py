"""DAW context: validation with coded errors, and the seconds -> DAW beats map."""
import pytest

from models.analysis.context import BeatMap, ContextError, add_beats, parse_context


def test_parse_normalises_and_keeps_unknown_keys():
    ctx = parse_context({"tempo": 120, "meter": "6/8", "key": "F# min", "warp_markers": [[8, 4.0], [0, 0.0]],
                         "clip": "x"})
    assert ctx["tempo"] == 120.0 and ctx["meter"] == [6, 8] and ctx["key"] == "F#:minor"
    assert ctx["warp_markers"] == [[0.0, 0.0], [8.0, 4.0]] and ctx["clip"] == "x"
    assert parse_context(None) == {}


@pytest.mark.parametrize("bad, field", [
    ({"tempo": "fast"}, "tempo"), ({"tempo": 0}, "tempo"), ({"tempo": float("nan")}, "tempo"),
    ({"meter": [4, 3]}, "meter"), ({"meter": "four"}, "meter"), ({"key": "H:major"}, "key"),
    ({"key": "C:dorian"}, "key"), ({"warp_markers": [[0, 0], [1, 0]]}, "warp"), ({"warp_markers": 3}, "warp"),
    ({"warp_markers": [[0, 1, 2]]}, "warp"), ("120bpm", "object"),
])
def test_bad_context_is_a_coded_error(bad, field):
    with pytest.raises(ContextError) as info:
        parse_context(bad)
    assert info.value.code == "bad_params" and field in info.value.message


def test_warp_markers_map_piecewise_and_extrapolate():
    # a clip warped at 120 BPM for 4 beats, then 60 BPM; the analysed range starts 1 s into the file
    bm = BeatMap(parse_context({"warp_markers": [[0, 0.0], [4, 2.0], [8, 6.0]]}), range_start=1.0)
    assert bm.beat(0.0) == 2.0          # file 1 s
    assert bm.beat(3.0) == 6.0          # file 4 s, in the 60 BPM segment
    assert bm.beat(7.0) == 10.0         # past the last marker, slope of the last segment
    assert BeatMap(parse_context({"warp_markers": [[0, 0.0], [4, 2.0]]}), range_start=0.0).beat(-0.5) == -1.0


def test_tempo_only_and_single_marker():
    assert BeatMap({"tempo": 90.0, "beat_offset": 16.0}).beat(2.0) == 19.0
    assert BeatMap({}, tempo=120.0).beat(1.5) == 3.0
    assert BeatMap(parse_context({"warp_markers": [[4, 1.0]], "tempo": 60})).beat(3.0) == 6.0
    assert not BeatMap({}).available and BeatMap({}).beat(1.0) is None


def test_add_beats_annotates_every_timed_field():
    song = {"beats": [{"time": 0.5}], "tempo_map": [{"time": 0.0, "bpm": 120}], "downbeats": [0.5],
            "chords": [{"start": 0.0, "end": 1.0, "label": "C:maj"}], "sections": [{"start": 0, "end": 2.0}],
            "harmonic_analysis": {"cadences": [{"time": 1.0}]}}
    add_beats(song, BeatMap({"tempo": 120.0}))
    assert song["beats"][0]["beat"] == 1.0 and song["chords"][0]["end_beat"] == 2.0
    assert song["sections"][0]["end_beat"] == 4.0 and song["downbeats_beat"] == [1.0]
    assert song["harmonic_analysis"]["cadences"][0]["beat"] == 2.0
