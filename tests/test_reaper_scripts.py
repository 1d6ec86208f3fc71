"""The REAPER ReaScripts, run for real in Lua 5.4 (lupa) against a fake `reaper` API (tests/fake_reaper) and a real
daemon: the scripts spawn the real `bandmate` client, which talks to the test daemon, and the test reads back the
regions, markers, MIDI notes and ext state the scripts wrote. Also the pure-Lua JSON codec and time map, the bad
cases (no item, daemon down, error reply), the installer, and a syntax check with the system lua5.4."""
import glob
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

from .conftest import ROOT, DaemonProcess

pytest.importorskip("lupa")

SCRIPTS = os.path.join(ROOT, "reaper_scripts")
LUA_FILES = sorted(glob.glob(os.path.join(SCRIPTS, "*.lua")))
ACTION_FILES = ["bandmate_analyze_item.lua", "bandmate_generate_stem.lua", "bandmate_live_chords.lua"]

# the test song: C Am F G, one chord a bar, 4/4 at 120 BPM (2 s a bar), triads over a bass note and a click
SR, BPM, BARS = 22050, 120.0, 16
PROGRESSION = [("C", "C:maj", [60, 64, 67]), ("Am", "A:min", [57, 60, 64]), ("F", "F:maj", [53, 57, 60]),
               ("G", "G:maj", [55, 59, 62])]
# how the item plays it in the project: 2 bars trimmed off the front, sped up 1.25x, at 10 s, project at 150 BPM
ITEM_POS, START_OFFS, PLAYRATE, PROJECT_BPM = 10.0, 4.0, 1.25, 150.0


def make_song(path):
    beat = 60.0 / BPM
    rng = np.random.RandomState(0)
    bars = []
    for b in range(BARS):
        notes = PROGRESSION[b % 4][2]
        n = int(4 * beat * SR)
        t = np.arange(n) / SR
        x = np.zeros(n)
        for p in notes + [notes[0] - 12]:
            f = 440.0 * 2 ** ((p - 69) / 12.0)
            x += 0.15 * np.sin(2 * np.pi * f * t) + 0.05 * np.sin(4 * np.pi * f * t)
        for k in range(4):
            i, m = int(k * beat * SR), int(0.03 * SR)
            x[i:i + m] += (0.6 if k == 0 else 0.3) * rng.randn(m) * np.exp(-np.arange(m) / (0.005 * SR))
        bars.append(x)
    y = np.concatenate(bars)
    sf.write(path, y / (np.abs(y).max() * 1.2), SR)
    return path


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    return make_song(str(tmp_path_factory.mktemp("reaper_song") / "song.wav"))


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    """A real daemon with the chord, beat and generation models warm (the shared fixture loads none)."""
    d = DaemonProcess(tmp_path_factory.mktemp("home"), ["--models", "chords,beats,generation"]).start()
    yield d
    d.stop()


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The scripts as `bandmate install reaper --path` puts them into a REAPER resource folder."""
    from bridge import install_reaper

    resource = tmp_path_factory.mktemp("REAPER")
    assert install_reaper.main(["--path", str(resource)]) == 0
    return os.path.join(str(resource), "Scripts", "Bandmate")


def configure(scripts_dir, work_dir, endpoint=None, pub=None, timeout=None, extra="", command=None):
    """bandmate_user.lua pointing the scripts at the test daemon through `python -m bridge.cli`."""
    from bridge.install_reaper import lua_string

    command = command or [sys.executable, "-m", "bridge.cli"]
    lines = ["return {", "  bandmate = {%s}," % ", ".join(lua_string(a) for a in command),
             "  work_dir = %s," % lua_string(work_dir)]
    if endpoint:
        lines.append("  endpoint = %s," % lua_string(endpoint))
    if pub:
        lines.append("  pub_endpoint = %s," % lua_string(pub))
    if timeout:
        lines.append("  timeout = %s," % timeout)
    lines += [extra, "}"]
    with open(os.path.join(scripts_dir, "bandmate_user.lua"), "w") as fh:
        fh.write("\n".join(lines) + "\n")


@pytest.fixture
def reaper(tmp_path, installed):
    from .fake_reaper import FakeReaper

    fake = FakeReaper(tmp_path / "project")
    os.makedirs(str(tmp_path / "project"), exist_ok=True)
    fake.S.tempo = PROJECT_BPM
    fake.dir = installed
    fake.work = str(tmp_path / "work")
    return fake


def script(fake, name):
    return os.path.join(fake.dir, name)


def add_song_item(fake, song_path, selected=True):
    F = fake.F
    track = F.add_track("Song")
    length = (BARS * 2.0 - START_OFFS) / PLAYRATE
    item = F.add_item(track, ITEM_POS, length, F.file_source(song_path), START_OFFS, PLAYRATE)
    F.select_item(item, selected)
    return item


def no_error(result):
    ok, err = result
    assert ok, err


# ---- pure Lua: JSON, chords, time map ------------------------------------------------------------------------
def test_json_codec_round_trips_and_reports_errors(tmp_path):
    from .fake_reaper import FakeReaper

    fake = FakeReaper(tmp_path)
    lua = fake.lua
    bm = lua.eval("dofile")(os.path.join(SCRIPTS, "bandmate_common.lua"))
    doc = {"a": [1, 2.5, -3e-7, True, False, None], "s": "quote \" back \\ tab \t nl \n é € 𝄞 \u0001",
           "empty": [], "obj": {}, "n": {"x": {"y": [[], [1]]}}, "big": 12345678901234}
    text = json.dumps(doc)
    value, err = bm.json.decode(text)
    assert err is None
    again = json.loads(bm.json.encode(value))
    assert again == doc
    assert bm.json.decode('"\\ud834\\udd1e \\u00e9"')[0] == "𝄞 é"
    for bad in ["{", "[1,]", '{"a" 1}', "tru", '"abc', "[1] x", "", "{'a': 1}", "01x"]:
        value, err = bm.json.decode(bad)
        assert value is None and err.startswith("json:"), bad
    assert bm.json.encode(bm.json.array(lua.table())) == "[]" and bm.json.encode(lua.table()) == "{}"


def test_chord_spelling_matches_the_theory_code(tmp_path):
    from models.theory.harmony import QUALITIES, parse_harte

    from .fake_reaper import FakeReaper

    fake = FakeReaper(tmp_path)
    bm = fake.lua.eval("dofile")(os.path.join(SCRIPTS, "bandmate_common.lua"))
    for label in ["C:maj", "A:min7", "A:min7/b3", "F#:hdim7", "Bb:7", "Eb:maj7/5", "G:sus4(b7)", "D:min/5",
                  "C:maj(9)", "E", "Ab:dim7", "B:aug", "C#:min6/b3"]:
        root, quality, bass = parse_harte(label)
        want = {(36 + bass)} | {48 + root + iv for iv in QUALITIES[quality][0]}
        got = set(bm.chord_pitches(label).values())
        assert got == want, label
    assert len(bm.chord_pitches("N")) == 0 and len(bm.chord_pitches("nonsense")) == 0
    chord = fake.table({"label": "A:min7/b3", "root": "A", "bass": "C", "roman_numeral": "vi7"})
    assert bm.chord_marker_name(chord) == "Am7/C (vi7)"
    assert bm.chord_marker_name(fake.table({"label": "A:min7", "root": "A", "roman_numeral": "vi7"})) == "Am7 (vi7)"
    assert bm.section_name(fake.table({"label": "chorus", "letter": "B"})) == "Chorus B"
    song = fake.table({"chords": [{"start": 0, "end": 2, "label": "C:maj"}, {"start": 2, "end": 3, "label": "F:maj"},
                                  {"start": 3, "end": 4, "label": "G:7"}, {"start": 4, "end": 8, "label": "A:min"}],
                       "downbeats": [0, 2, 4, 6]})
    assert bm.chords_per_bar(song) == "C | F G7 | Am | Am"


def test_time_map_of_sections_and_reversed_takes(tmp_path, song):
    from .fake_reaper import FakeReaper

    fake = FakeReaper(tmp_path)
    bm = fake.lua.eval("dofile")(os.path.join(SCRIPTS, "bandmate_common.lua"))
    F = fake.F
    tr = F.add_track("t")
    plain = F.file_source(song)
    assert abs(plain.length - BARS * 2.0) < 1e-6
    # a section of the file from 6 s, 10 s long; the item starts 1 s into it, at half speed
    item = F.add_item(tr, 20.0, 8.0, F.section_source(plain, 6.0, 10.0, False), 1.0, 0.5)
    info = bm.item_source_info(item)
    assert info.file == song and info.range_start == pytest.approx(7.0) and info.range_end == pytest.approx(11.0)
    assert bm.analysis_to_project(info, 2.0) == pytest.approx(24.0)  # 2 s of audio at half speed = 4 s
    # the same section reversed: the item's first moment is the section's end
    item = F.add_item(tr, 40.0, 4.0, F.section_source(plain, 6.0, 10.0, True), 1.0, 1.0)
    info = bm.item_source_info(item)
    assert info.reversed and info.range_end == pytest.approx(15.0) and info.range_start == pytest.approx(11.0)
    assert bm.file_to_project(info, 15.0) == pytest.approx(40.0) and bm.file_to_project(info, 11.0) == \
        pytest.approx(44.0)
    # a looped item longer than its source analyses the first pass only
    item = F.add_item(tr, 0.0, 100.0, plain, 30.0, 1.0)
    info = bm.item_source_info(item)
    assert info.range_start == pytest.approx(30.0) and info.range_end == pytest.approx(32.0)
    # an in-project MIDI item has no file
    midi = fake.lua.eval("reaper").CreateNewMIDIItemInProj(tr, 0.0, 1.0, False)
    info, err = bm.item_source_info(midi)
    assert info is None and "MIDI item is stored in the project" in err


# ---- analyze ---------------------------------------------------------------------------------------------------
def test_analyze_writes_regions_markers_chord_track_and_key(reaper, daemon, song):
    from models.theory.harmony import QUALITIES, parse_harte

    configure(reaper.dir, reaper.work, daemon.zmq, daemon.pub)
    add_song_item(reaper, song)
    no_error(reaper.run(script(reaper, "bandmate_analyze_item.lua")))
    reaper.tick(until=lambda: reaper.proj_ext("analysis") is not None or reaper.S.messages[1] is not None,
                timeout=120)
    assert not reaper.messages(), reaper.messages() + [reaper.console()]
    with open(reaper.proj_ext("analysis")) as fh:
        result = json.load(fh)

    def proj(t):  # analysis seconds -> project seconds, as REAPER plays the item
        return ITEM_POS + t / PLAYRATE

    item_end = ITEM_POS + (BARS * 2.0 - START_OFFS) / PLAYRATE
    # analysed exactly the part of the file the item plays, with the project's tempo as the file's tempo
    assert result["source"]["start"] == pytest.approx(START_OFFS, abs=1e-3)
    assert result["source"]["end"] == pytest.approx(BARS * 2.0, abs=1e-3)
    assert result["analysis"]["context"]["tempo"] == pytest.approx(PROJECT_BPM / PLAYRATE)
    markers = reaper.markers()
    regions = [m for m in markers if m["isrgn"]]
    assert result["sections"] and len(regions) == len(result["sections"])
    for r, s in zip(regions, result["sections"]):
        assert r["name"] == s["label"].capitalize() + " " + s["letter"]
        assert r["pos"] == pytest.approx(max(ITEM_POS, proj(s["start"])), abs=1e-6)
        assert r["end"] == pytest.approx(min(item_end, proj(s["end"])), abs=1e-6)
    chord_markers = [m for m in markers if not m["isrgn"]]
    chords = [c for c in result["chords"] if c["label"] != "N"]
    assert len(chord_markers) == len(chords) >= 12
    for m, c in zip(chord_markers, chords):
        assert m["pos"] == pytest.approx(proj(c["start"]), abs=1e-6)
        sym = c["root"] + {"maj": "", "min": "m"}.get(c["quality"], c["quality"])
        assert m["name"].startswith(sym) and m["name"].endswith("(%s)" % c["roman_numeral"])
    # against the truth: the chord sounding in the file at each marker (project time back to file time)
    right = 0
    for m in chord_markers:
        file_t = START_OFFS + (m["pos"] - ITEM_POS) * PLAYRATE + 0.3
        right += m["name"].split(" ")[0] == PROGRESSION[int(file_t // 2.0) % 4][0]
    assert right >= 0.8 * len(chord_markers), [m["name"] for m in chord_markers]
    # the chord track: a MIDI item over the song item, the chord tones of each chord at its PPQ positions
    track = reaper.track("Bandmate chords")
    assert track is not None and [t.name for t in reaper.tracks()][:2] == ["Song", "Bandmate chords"]
    item = track["items"][1]
    assert item.pos == pytest.approx(ITEM_POS) and item.len == pytest.approx(item_end - ITEM_POS)
    notes = reaper.notes(item.takes[1])
    assert item.takes[1].sorted
    by_start = {}
    for n in notes:
        by_start.setdefault(round(n["start"], 3), []).append(n)
    ppq_per_s = PROJECT_BPM / 60.0 * 960
    for c in chords:
        root, quality, bass = parse_harte(c["label"])
        start = round((proj(c["start"]) - ITEM_POS) * ppq_per_s, 3)
        here = by_start[start]
        assert {n["pitch"] for n in here} == {36 + bass} | {48 + root + iv for iv in QUALITIES[quality][0]}
        end = (min(item_end, proj(c["end"])) - ITEM_POS) * ppq_per_s
        assert all(n["end"] == pytest.approx(end, abs=1e-3) for n in here)
    assert len(notes) == sum(len(v) for v in by_start.values())
    # key, tempo, meter and per-bar chords for the other actions
    assert reaper.proj_ext("key") == result["key"]["label"] == "C:major"
    assert float(reaper.proj_ext("tuning")) == pytest.approx(result["tuning"]["cents"], abs=0.051)
    assert float(reaper.proj_ext("tempo")) == pytest.approx(PROJECT_BPM, rel=0.03)
    assert reaper.proj_ext("meter") == "4/4"
    bars = reaper.proj_ext("chords").split(" | ")
    assert len(bars) >= 12 and sum(b in ("C", "Am", "F", "G") for b in bars) >= 0.75 * len(bars)
    assert "key C:major" in reaper.console()
    undo = list(reaper.S.undo.values())
    assert undo == ["begin", "Bandmate: analyze selected item"]

    # running it again replaces this item's markers instead of piling them up, and keeps the producer's own
    reaper.lua.eval("reaper").AddProjectMarker2(0, False, ITEM_POS + 1.0, 0, "my cue", -1, 0)
    markers = reaper.markers()
    first = reaper.proj_ext("analysis")
    no_error(reaper.run(script(reaper, "bandmate_analyze_item.lua")))
    reaper.tick(until=lambda: reaper.proj_ext("analysis") != first or reaper.S.messages[1] is not None,
                timeout=60)
    assert [t.name for t in reaper.tracks()] == ["Song", "Bandmate chords"]  # the chord item was replaced
    assert len(track["items"]) == 1 and len(reaper.notes(track["items"][1].takes[1])) == len(notes)
    assert sorted(m["name"] for m in reaper.markers()) == sorted(m["name"] for m in markers)
    assert not reaper.messages()


def test_analyze_in_project_midi_item(reaper, daemon, tmp_path):
    """A MIDI item stored in the project: its notes go to the daemon as a MIDI file; markers at project times."""
    import mido

    configure(reaper.dir, reaper.work, daemon.zmq, daemon.pub)
    api = reaper.lua.eval("reaper")
    track = reaper.F.add_track("Keys")
    pos, bar = 4.0, 4 * 60.0 / PROJECT_BPM
    item = api.CreateNewMIDIItemInProj(track, pos, pos + 8 * bar, False)
    take = api.GetActiveTake(item)
    for b in range(8):
        _, _, pitches = PROGRESSION[b % 4]
        for p in [pitches[0] - 12] + pitches:
            api.MIDI_InsertNote(take, False, False, b * 3840, (b + 1) * 3840, 0, p, 90, True)
    api.MIDI_InsertNote(take, False, True, 0, 3840, 0, 61, 90, True)  # muted: left out
    api.MIDI_Sort(take)
    reaper.F.select_item(item)
    no_error(reaper.run(script(reaper, "bandmate_analyze_item.lua")))
    reaper.tick(until=lambda: reaper.proj_ext("analysis") is not None or reaper.S.messages[1] is not None,
                timeout=60)
    assert not reaper.messages(), reaper.messages()
    (mid,) = glob.glob(os.path.join(reaper.work, "analyze-*", "take.mid"))
    f = mido.MidiFile(mid)
    assert f.ticks_per_beat == 960 and f.length == pytest.approx(8 * bar, abs=1e-6)
    assert sum(1 for m in f.tracks[0] if m.type == "note_on" and m.velocity) == 32
    assert [m.tempo for m in f.tracks[0] if m.type == "set_tempo"] == [mido.bpm2tempo(PROJECT_BPM)]
    chords = [m for m in reaper.markers() if not m["isrgn"]]
    assert [m["name"].split(" ")[0] for m in chords] == [PROGRESSION[b % 4][0] for b in range(8)]
    for b, m in enumerate(chords):
        assert m["pos"] == pytest.approx(pos + b * bar, abs=0.05)
    assert reaper.proj_ext("key") == "C:major"
    assert reaper.proj_ext("chords") == " | ".join(PROGRESSION[b % 4][0] for b in range(8))


def test_analyze_bad_cases_show_messages(reaper, daemon, tmp_path, song):
    configure(reaper.dir, reaper.work, daemon.zmq, daemon.pub)
    # nothing selected
    no_error(reaper.run(script(reaper, "bandmate_analyze_item.lua")))
    assert "Select an audio item" in reaper.messages()[0]
    # an in-project MIDI item without notes
    tr = reaper.F.add_track("keys")
    midi = reaper.lua.eval("reaper").CreateNewMIDIItemInProj(tr, 0.0, 4.0, False)
    reaper.F.select_item(midi)
    no_error(reaper.run(script(reaper, "bandmate_analyze_item.lua")))
    assert "MIDI item has no notes" in reaper.messages()[1]
    reaper.F.select_item(midi, False)
    # the daemon answers with an error code: a file that is not audio
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"this is not a wave file at all" * 100)
    item = reaper.F.add_item(tr, 0.0, 10.0, reaper.F.file_source(str(junk), 10.0), 0.0, 1.0)
    reaper.F.select_item(item)
    no_error(reaper.run(script(reaper, "bandmate_analyze_item.lua")))
    reaper.tick(until=lambda: reaper.S.messages[3] is not None, timeout=60)
    msg = reaper.messages()[2]
    assert msg.startswith("Analysis failed: junk.wav"), msg
    assert "[unsupported_format]" in msg or "[corrupt_file]" in msg, msg
    # the daemon is down
    reaper.F.select_item(item, False)
    add_song_item(reaper, song)
    configure(reaper.dir, reaper.work, "tcp://127.0.0.1:9", "tcp://127.0.0.1:9", timeout=1)
    no_error(reaper.run(script(reaper, "bandmate_analyze_item.lua")))
    reaper.tick(until=lambda: reaper.S.messages[4] is not None, timeout=60)
    msg = reaper.messages()[3]
    assert "daemon is not answering" in msg and "bandmate serve" in msg, msg
    # the client command is missing
    with open(os.path.join(reaper.dir, "bandmate_user.lua"), "w") as fh:
        fh.write('return { bandmate = {"/no/such/bandmate"}, work_dir = %s }\n' % json.dumps(reaper.work))
    no_error(reaper.run(script(reaper, "bandmate_analyze_item.lua")))
    reaper.tick(until=lambda: reaper.S.messages[5] is not None, timeout=30)
    assert "`bandmate` command was not found" in reaper.messages()[4], reaper.messages()
    assert not [m for m in reaper.S.missing.values() if m != "set_action_options"]


# ---- generate --------------------------------------------------------------------------------------------------
def test_generate_inserts_midi_items_with_the_result_notes(reaper, daemon):
    configure(reaper.dir, reaper.work, daemon.zmq, daemon.pub)
    reaper.S.cursor = 8.0  # bar 6 at 150 BPM
    reaper.F.queue_input(True, "bass\n2\n\n\nA:minor\nAm F C G\nno")  # MIDI only: rendering takes ~25 s here
    no_error(reaper.run(script(reaper, "bandmate_generate_stem.lua")))
    prompt = reaper.S.input_prompts[1]
    captions = prompt.captions.split(",")  # REAPER splits captions at commas; separator= is for the values
    assert len(captions) == 9 and "separator=\n" in captions and prompt.n == 7
    reaper.tick(until=lambda: reaper.track("Bandmate bass") is not None or reaper.S.messages[1] is not None,
                timeout=300)
    if reaper.messages() and "[not_available]" in reaper.messages()[0]:
        pytest.skip("the daemon answers generate with not_available in this build: " + reaper.messages()[0])
    assert not reaper.messages(), reaper.messages()
    out = glob.glob(os.path.join(reaper.work, "generate-*", "stdout.json"))
    with open(out[0]) as fh:
        result = json.load(fh)
    assert result["meter"] in ("4/4", [4, 4]) and float(result["tempo"]) == pytest.approx(PROJECT_BPM)
    for stem in ("bass",):
        track = reaper.track("Bandmate " + stem)
        assert track is not None, stem
        item = track["items"][1]
        assert item.pos == pytest.approx(8.0)
        with open(result["stems"][stem]["notes"]) as fh:
            doc = json.load(fh)
        want = sorted((round((n["start_time"]) * 960, 3), round((n["start_time"] + n["duration"]) * 960, 3),
                       n["pitch"]) for n in doc["notes"] if n["duration"] > 0)
        got = sorted((round(n["start"], 3), round(n["end"], 3), n["pitch"]) for n in reaper.notes(item.takes[1]))
        assert got == want and got, stem
        assert item.len == pytest.approx(doc["length_beats"] * 60.0 / PROJECT_BPM, abs=1e-6)
    assert result["audio"] is None and reaper.track("Bandmate audio") is None  # render: false was asked for


def test_generate_request_and_insertion_with_a_stub_client(reaper):
    """What the script asks for (project tempo and meter at the cursor, key and chords of the last analysis) and
    how it lays the answer out, against a stand-in client that answers in the generate result's shape."""
    stub = os.path.join(ROOT, "tests", "fake_reaper", "stub_bandmate.py")
    configure(reaper.dir, reaper.work, command=[sys.executable, stub])
    reaper.S.num, reaper.S.den = 3, 4
    reaper.S.cursor = 6.0
    reaper.S.proj_ext.Bandmate = reaper.table({"key": "A:minor", "chords": "Am | F | C G | E7", "tuning": "-31.8"})
    reaper.F.queue_input(True, "drums,bass\n4\nfunk\nlaid back, with ghost notes\n\n")
    no_error(reaper.run(script(reaper, "bandmate_generate_stem.lua")))
    assert reaper.S.input_prompts[1].defaults.split("\n")[4] == "A:minor"  # the analysed key is the default
    reaper.tick(until=lambda: reaper.track("Bandmate audio") is not None or reaper.S.messages[1] is not None,
                timeout=60)
    assert not reaper.messages(), reaper.messages()
    (job,) = glob.glob(os.path.join(reaper.work, "generate-*"))
    with open(os.path.join(job, "argv.json")) as fh:
        argv = json.load(fh)
    request = json.loads(argv[argv.index("--request") + 1])
    assert request == {"stems": ["drums", "bass"], "bars": 4, "tempo": PROJECT_BPM, "meter": "3/4",
                       "key": "A:minor", "chords": "Am | F | C G | E7", "genre": "funk",
                       "prompt": "laid back, with ghost notes", "tuning": -31.8}   # in tune with the analysed item
    assert "--json" in argv and argv[argv.index("--out-dir") + 1] == job
    names = [t.name for t in reaper.tracks()]
    assert names == ["Bandmate drums", "Bandmate bass", "Bandmate audio"]
    for stem, chan in (("drums", 9), ("bass", 1)):
        item = reaper.track("Bandmate " + stem)["items"][1]
        take = item.takes[1]
        assert item.pos == pytest.approx(6.0) and item.len == pytest.approx(12 * 60.0 / PROJECT_BPM)
        with open(os.path.join(job, stem + ".notes.json")) as fh:
            doc = json.load(fh)
        want = [(n["start_time"] * 960, (n["start_time"] + n["duration"]) * 960, n["pitch"], n["velocity"],
                 n["mute"]) for n in doc["notes"]]
        got = [(n["start"], n["end"], n["pitch"], n["vel"], n["muted"]) for n in reaper.notes(take)]
        assert sorted(got) == sorted(want) and all(n["chan"] == chan for n in reaper.notes(take))
        ccs = list(take.ccs.values())
        assert (stem == "drums" and not ccs) or (ccs[0].msg == 0xC0 and ccs[0].m2 == 33 and ccs[0].chan == 1)
    audio = reaper.track("Bandmate audio")["items"][1]
    assert audio.takes[1].source.file == os.path.join(job, "mix.wav")
    assert audio.pos == pytest.approx(6.0) and audio.len == pytest.approx(12 * 60.0 / PROJECT_BPM, abs=1e-3)
    assert list(reaper.S.undo.values()) == ["begin", "Bandmate: generate stem at edit cursor"]
    assert "stub generator" in reaper.console()


def test_generate_refuses_bad_answers_without_asking_the_daemon(reaper):
    configure(reaper.dir, reaper.work, "tcp://127.0.0.1:9", "tcp://127.0.0.1:9", timeout=1)
    reaper.F.queue_input(False, "")
    no_error(reaper.run(script(reaper, "bandmate_generate_stem.lua")))
    assert not reaper.messages() and reaper.tick(timeout=2) == 1  # cancelled: nothing queued
    reaper.F.queue_input(True, "tuba\n4\n\n\n\n")
    no_error(reaper.run(script(reaper, "bandmate_generate_stem.lua")))
    assert "Unknown stem 'tuba'" in reaper.messages()[0]
    reaper.F.queue_input(True, "bass\nmany\n\n\n\n")
    no_error(reaper.run(script(reaper, "bandmate_generate_stem.lua")))
    assert "Bars must be a whole number" in reaper.messages()[1]
    reaper.F.queue_input(True, "bass\n4\n\n\nH:major\n")
    no_error(reaper.run(script(reaper, "bandmate_generate_stem.lua")))
    assert "is not a key" in reaper.messages()[2]
    reaper.F.queue_input(True, "bass\n4\n\n\n\n\nperhaps")
    no_error(reaper.run(script(reaper, "bandmate_generate_stem.lua")))
    assert "answer yes or no" in reaper.messages()[3]
    assert not os.path.isdir(reaper.work) or not glob.glob(os.path.join(reaper.work, "generate-*"))
    # daemon down
    reaper.F.queue_input(True, "bass\n4\n\n\n\n")
    no_error(reaper.run(script(reaper, "bandmate_generate_stem.lua")))
    reaper.tick(until=lambda: reaper.S.messages[5] is not None, timeout=60)
    assert "daemon is not answering" in reaper.messages()[4]


# ---- live chords -----------------------------------------------------------------------------------------------
def _cli_has_live_files():
    out = subprocess.run([sys.executable, "-m", "bridge.cli", "live", "--help"], cwd=os.getcwd(),
                         capture_output=True, text=True, timeout=60)
    return "--clock-file" in out.stdout and "--events-file" in out.stdout


def test_live_chords_toggle_shows_chords_and_stops(reaper, daemon, song):
    if not _cli_has_live_files():
        pytest.skip("`bandmate live` has no --events-file/--clock-file yet (see reaper_scripts/README.md)")
    configure(reaper.dir, reaper.work, daemon.zmq, daemon.pub)
    add_song_item(reaper, song)
    reaper.S.play_state = 1
    reaper.S.play_pos = ITEM_POS + 2.0
    # the analysis' key and tuning ride along (`bandmate live --key ... --tuning ...`: a bad flag shows no chords)
    reaper.S.proj_ext.Bandmate = reaper.table({"key": "C:major", "tuning": "-3.0"})
    path = script(reaper, "bandmate_live_chords.lua")
    no_error(reaper.run(path))
    cmd = reaper.S.command_id
    assert reaper.S.toggles[cmd] == 1 and reaper.S.gfx.open

    names = {p[0] for p in PROGRESSION}

    def shows_chord():
        reaper.S.play_pos = reaper.S.play_pos + 0.05
        return any(s in names for s in reaper.gfx_strings())

    reaper.tick(until=shows_chord, timeout=25)
    shown = [s for s in reaper.gfx_strings() if s in names]
    assert shown, (reaper.gfx_strings()[-6:], reaper.console(), reaper.messages())
    assert any(s in ("I", "vi", "IV", "V") or s.split()[0] in ("I", "vi", "IV", "V")
               for s in reaper.gfx_strings() if s.strip()), reaper.gfx_strings()[-6:]
    assert reaper.S.ext["Bandmate/live_chord"].split(" ")[0] in names
    events = glob.glob(os.path.join(reaper.work, "live-*", "events.jsonl"))

    def clocked_chord():  # the first chords may come before the first clock file: wait for one the clock dated
        reaper.S.play_pos = reaper.S.play_pos + 0.05
        with open(events[0]) as fh:
            evs = [json.loads(line) for line in fh if line.strip()]
        return any(e["type"] == "chord" and e.get("beat") is not None for e in evs)

    reaper.tick(until=clocked_chord, timeout=25)
    assert clocked_chord()  # the clock reached the daemon
    # run the action again: the running instance stops, the toggle goes off, the client ends its session
    no_error(reaper.relaunch(path))
    assert reaper.S.toggles[cmd] == 0 and not reaper.S.gfx.open
    assert reaper.tick(timeout=1) == 1  # nothing left in the defer queue
    rc = os.path.join(os.path.dirname(events[0]), "exit_code.txt")
    end = time.monotonic() + 20
    while time.monotonic() < end and not os.path.exists(rc):
        time.sleep(0.1)
    with open(rc) as fh:
        assert fh.read().strip() == "0"
    with open(events[0]) as fh:
        assert any(json.loads(line)["type"] == "ended" for line in fh if line.strip())


def test_live_chords_on_older_reaper_daemon_down_and_no_item(reaper, song):
    """REAPER before 7.03 has no set_action_options: the second launch asks the first to stop."""
    reaper.lua.execute("reaper.set_action_options = nil")
    path = script(reaper, "bandmate_live_chords.lua")
    no_error(reaper.run(path))
    assert "Select the audio item" in reaper.messages()[0]
    configure(reaper.dir, reaper.work, "tcp://127.0.0.1:9", "tcp://127.0.0.1:9", timeout=1)
    add_song_item(reaper, song)
    reaper.S.play_state, reaper.S.play_pos = 1, ITEM_POS + 1.0
    no_error(reaper.run(path))
    cmd = reaper.S.command_id
    assert reaper.S.toggles[cmd] == 1
    reaper.tick(until=lambda: any(s.startswith("Bandmate:") for s in reaper.gfx_strings()), timeout=40)
    said = [s for s in reaper.gfx_strings() if s.startswith("Bandmate:")]
    assert said and ("not answering" in said[-1] or "no --events-file" in said[-1] or "failed" in said[-1]), \
        reaper.gfx_strings()[-4:]
    assert "Bandmate live chords:" in reaper.console()
    no_error(reaper.run(path))  # the second instance only asks the first to stop
    reaper.tick(timeout=3)
    assert reaper.S.toggles[cmd] == 0 and not reaper.S.gfx.open and reaper.S.ext["Bandmate/live_running"] == "0"


def test_live_chords_from_an_input_device_needs_no_item(reaper, daemon):
    """With live_input set the daemon listens to that device; here there is none, and the window says why."""
    configure(reaper.dir, reaper.work, daemon.zmq, daemon.pub,
              extra='  live_input = "No Such Device", live_latency = "fast",')
    path = script(reaper, "bandmate_live_chords.lua")
    no_error(reaper.run(path))
    assert not reaper.messages() and reaper.S.toggles[reaper.S.command_id] == 1
    reaper.tick(until=lambda: any(s.startswith("Bandmate:") for s in reaper.gfx_strings()), timeout=30)
    said = [s for s in reaper.gfx_strings() if s.startswith("Bandmate:")]
    assert said, reaper.gfx_strings()[-4:]
    # the daemon's answer (no sounddevice, or no such device), or an older client's usage error
    assert ("[not_available]" in said[-1] or "[bad_params]" in said[-1]) if _cli_has_live_files() else \
        "exit 2" in said[-1], said
    assert "Bandmate live chords:" in reaper.console()
    no_error(reaper.relaunch(path))
    assert reaper.S.toggles[reaper.S.command_id] == 0 and not reaper.S.gfx.open


# ---- installer and syntax ------------------------------------------------------------------------------------
def test_installer_copies_scripts_and_registers_actions_idempotently(tmp_path, capsys):
    from bridge import install, install_reaper

    resource = tmp_path / "REAPER"
    resource.mkdir()
    kb = b'SCR 4 0 RSother "Custom: Mine" "Mine/mine.lua"\r\nKEY 1 65 _RSother 0\r\n'
    (resource / "reaper-kb.ini").write_bytes(kb)
    assert install.main(["reaper", "--path", str(resource)]) == 0
    first = (resource / "reaper-kb.ini").read_bytes()
    dest = resource / "Scripts" / "Bandmate"
    for name in ACTION_FILES + ["bandmate_common.lua", "bandmate_config.lua", "bandmate_user.lua"]:
        assert (dest / name).is_file(), name
    lines = first.decode().split("\r\n")
    assert lines[:2] == ['SCR 4 0 RSother "Custom: Mine" "Mine/mine.lua"', "KEY 1 65 _RSother 0"]
    ours = [line for line in lines if "Bandmate/" in line]
    assert len(ours) == 3
    for line, (name, title) in zip(ours, [("bandmate_analyze_item.lua", "Analyze selected item"),
                                          ("bandmate_generate_stem.lua", "Generate stem at edit cursor"),
                                          ("bandmate_live_chords.lua", "Live chords (toggle)")]):
        parts = line.split(" ", 4)
        assert parts[:3] == ["SCR", "4", "0"] and parts[3].startswith("RS") and len(parts[3]) == 42
        assert parts[4] == '"Custom: Bandmate: %s" "Bandmate/%s"' % (title, name)
    # the user's settings survive a reinstall; the kb file does not change
    (dest / "bandmate_user.lua").write_text('return { live_input = "Loopback" }\n')
    assert install_reaper.main(["--path", str(resource), "--endpoint", "tcp://127.0.0.1:7777"]) == 0
    assert (resource / "reaper-kb.ini").read_bytes() == first
    assert "Loopback" in (dest / "bandmate_user.lua").read_text()
    out = capsys.readouterr().out
    assert "already registered" in out and "_RS" in out
    # the config names this environment's bandmate and is valid Lua the scripts read
    from .fake_reaper import FakeReaper

    fake = FakeReaper(tmp_path)
    bm = fake.lua.eval("dofile")(str(dest / "bandmate_common.lua"))
    cfg = bm.config()
    argv = list(cfg.bandmate.values())
    assert argv == install_reaper.bandmate_command()
    assert os.path.dirname(argv[0]) == os.path.dirname(sys.executable) or argv[0] == sys.executable
    assert cfg.endpoint == "tcp://127.0.0.1:7777" and cfg.live_input == "Loopback"
    # an older kb file with a moved Bandmate entry is cleaned up, not duplicated
    (resource / "reaper-kb.ini").write_text('SCR 4 0 RSdeadbeef "Custom: old" "Bandmate/bandmate_live_chords.lua"\n')
    install_reaper.main(["--path", str(resource)])
    assert (resource / "reaper-kb.ini").read_text().count("bandmate_live_chords.lua") == 1


def test_installer_finds_reaper_per_os_and_quotes_windows_paths(tmp_path, monkeypatch, capsys):
    from bridge import install_reaper

    appdata = r"C:\Users\me\AppData\Roaming"
    assert install_reaper.resource_dir("win32", {"APPDATA": appdata}, "C:/Users/me") == \
        os.path.join(appdata, "REAPER")
    assert install_reaper.resource_dir("darwin", {}, "/Users/me") == "/Users/me/Library/Application Support/REAPER"
    assert install_reaper.resource_dir("linux", {}, "/home/me") == "/home/me/.config/REAPER"
    # no --path and no REAPER on this machine: it says where it looked, and writes nothing
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))
    assert install_reaper.main([]) == 1 and not (tmp_path / "home").exists()
    assert "resource folder was not found" in capsys.readouterr().err
    text = install_reaper.config_text([r'C:\Program Files\Bandmate "x"\bandmate.exe'])
    from .fake_reaper import FakeReaper

    fake = FakeReaper(tmp_path)
    assert fake.lua.execute(text).bandmate[1] == r'C:\Program Files\Bandmate "x"\bandmate.exe'
    # the Windows command line the scripts build: argv quoting and cmd.exe metacharacters
    bm = fake.lua.eval("dofile")(os.path.join(SCRIPTS, "bandmate_common.lua"))
    assert bm.quote_windows(r'C:\a b\x.exe') == r'"C:\a b\x.exe"'
    assert bm.quote_windows('{"k": "a&b"}') == r'"{\"k\": \"a&b\"}"'
    assert bm.quote_windows("trail\\ ") == '"trail\\ "' and bm.quote_windows("plain") == "plain"
    assert bm.cmd_escape('a & "b & c"') == 'a ^& "b & c"'
    fake.S.os = "Win64"
    line = bm.background_command(fake.table(["C:\\py\\bandmate.exe", "analyze", "C:\\My Music\\a&b.wav"]),
                                 "C:\\t\\out.json", "C:\\t\\err.txt", "C:\\t\\rc.txt")
    assert line.startswith('cmd.exe /S /C "(') and '"C:\\My Music\\a&b.wav"' in line and "(echo 0)>" in line


def test_scripts_use_only_stock_reaper_functions_and_compile_with_lua54(tmp_path):
    import re

    from .fake_reaper import FakeReaper

    fake = FakeReaper(tmp_path)
    stock = set(fake.F.api.keys())
    for path in LUA_FILES:
        with open(path, encoding="utf-8") as fh:
            used = set(re.findall(r"reaper\.([A-Za-z_][A-Za-z0-9_]*)", fh.read()))
        assert used <= stock, (os.path.basename(path), used - stock)
    lua = shutil.which("luac5.4") or shutil.which("lua5.4")
    if not lua:
        pytest.skip("no system lua5.4")
    for path in LUA_FILES:
        if lua.endswith("luac5.4"):
            out = subprocess.run([lua, "-p", path], capture_output=True, text=True)
        else:
            out = subprocess.run([lua, "-e", "assert(loadfile(arg[1]))", path], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
    # the shared module loads and round-trips JSON under the system interpreter too
    lua54 = shutil.which("lua5.4")
    if lua54:
        code = ("reaper = {GetOS = function() return 'Linux' end}; local bm = dofile(%s); "
                "local v = assert(bm.json.decode('{\"a\":[1,2.5,\"x\"]}')); print(bm.json.encode(v))"
                % json.dumps(os.path.join(SCRIPTS, "bandmate_common.lua")))
        out = subprocess.run([lua54, "-e", code], capture_output=True, text=True)
        assert out.returncode == 0 and json.loads(out.stdout) == {"a": [1, 2.5, "x"]}, out.stderr
