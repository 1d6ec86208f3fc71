"""The Ableton Live Remote Script, end to end: the real script's main-thread tick, driven by a fake Live
(tests/fake_live: Live's API subset with its rules) over real UDP against a real daemon with the chord and beat
models. Analysis of audio and MIDI clips into cue points, a chord clip and names; stem generation; live chords;
bad replies; the installer; Python 3.7 syntax and the vendored protocol files."""
import ast
import json
import os
import shutil
import socket
import subprocess
import sys
import threading

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAKE_LIVE = os.path.join(ROOT, "tests", "fake_live")
SCRIPT = os.path.join(ROOT, "ableton_remote_script", "Bandmate")
if FAKE_LIVE not in sys.path:
    sys.path.insert(0, FAKE_LIVE)

import Live  # noqa: E402  (the fake)
from fake_host import FakeHost  # noqa: E402

from ableton_remote_script.Bandmate import settings as script_settings  # noqa: E402
from ableton_remote_script.Bandmate.surface import Bandmate  # noqa: E402

from .conftest import DaemonProcess, render_songbook_song  # noqa: E402

HAVE_RENDER = bool(shutil.which("mma") and shutil.which("fluidsynth"))
PCS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
TRIADS = {"maj": (0, 4, 7), "min": (0, 3, 7), "dim": (0, 3, 6), "aug": (0, 4, 8), "7": (0, 4, 7, 10),
          "min7": (0, 3, 7, 10), "maj7": (0, 4, 7, 11), "sus4": (0, 5, 7), "sus2": (0, 2, 7),
          "hdim7": (0, 3, 6, 10), "dim7": (0, 3, 6, 9)}


def pc(name):
    return (PCS[name[0]] + name.count("#") - name[1:].count("b")) % 12


def expected_pcs(label):
    head = label.split("/")[0]
    root, _, quality = head.partition(":")
    return {(pc(root) + i) % 12 for i in TRIADS[quality or "maj"]}


# fixtures ------------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bm_daemon(tmp_path_factory):
    models = "chords,beats,generation"  # names this build lacks are skipped; no soundfont: it loads for 18 s
    d = DaemonProcess(tmp_path_factory.mktemp("abl_home"), ["--models", models, "--jobs", "1"]).start()
    yield d
    d.stop()


@pytest.fixture(scope="module")
def rendered_song(tmp_path_factory):
    if not HAVE_RENDER:
        pytest.skip("mma and fluidsynth render the test song")
    out, entry, truth = render_songbook_song(str(tmp_path_factory.mktemp("abl_song")), seed=5, duration=16.0)
    return os.path.join(out, entry["paths"]["mix"]), truth


@pytest.fixture
def make_surface(tmp_path):
    made = []

    def make(daemon_port, version=(12, 1, 0), tempo=120.0, **overrides):
        host = FakeHost(version=version, tempo=tempo)
        settings = dict(script_settings.DEFAULTS, daemon_port=daemon_port, listen_port=0, request_timeout=5.0,
                        job_poll=0.05, clock_interval=0.05, user_library=str(tmp_path / "User Library"),
                        job_timeout=120.0)
        settings.update(overrides)
        surface = Bandmate(host, settings=settings)
        host.surface = surface
        made.append(surface)
        return host, surface

    yield make
    for s in made:
        s.disconnect()


def idle(surface):
    return not surface.flows and not surface.queued


def analysed(host, surface, timeout=60.0):
    """Tick until the analysis is in Live; fails at once with the script's own message when it failed."""
    host.run(lambda: (surface.last_error or (surface.analysis.last and surface.analysis.last.get("chord_clip")))
             and idle(surface), timeout=timeout)
    assert surface.last_error is None, surface.last_status
    return surface.analysis.last


def command(surface, name, *args):
    from protocol.osc import encode_message

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(encode_message("/bandmate_live/" + name, list(args)), ("127.0.0.1", surface.link.port))


def clip_pcs_at(clip, t):
    """Pitch classes sounding at clip time t (read with get_notes, which every Live version has)."""
    return {n[0] % 12 for n in clip.get_notes(-1000.0, 0, 100000.0, 128) if n[1] <= t < n[1] + n[2]}


def daemon_song(daemon, job_id):
    with daemon.client() as c:
        return c.job(job_id)["result"]["song"]


# analysis --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("version,arrangement,warped", [((12, 1, 0), True, True), ((11, 0, 0), False, False)])
def test_analyze_an_audio_clip(bm_daemon, rendered_song, make_surface, version, arrangement, warped):
    import soundfile as sf

    path, truth = rendered_song
    bpm = float(truth["bpm"])
    host, surface = make_surface(bm_daemon.osc_port, version=version, tempo=bpm)
    track = host.add_track(midi=False, name="Mix")
    seconds = sf.info(path).duration
    if warped:  # an Arrangement clip at bar 5, warped: markers in beats, warp markers map beats to file seconds
        beats = seconds * bpm / 60.0
        offset = 16.0
        clip = track._put_arrangement_clip(Live.Clip.Clip(
            midi=False, name="mix", file_path=path, length=beats, arrangement_start=offset, warping=True,
            warp_markers=[(0.0, 0.0), (beats, seconds)]))
    else:  # a Session clip, unwarped: Live gives its markers in seconds of the file
        offset = 0.0
        clip = track.clip_slots[0]._put(Live.Clip.Clip(midi=False, name="mix", file_path=path, warping=False,
                                                        start_marker=2.0, end_marker=seconds - 1.0))
    host.select(clip)
    command(surface, "analyze_selected")  # the CLI way: an OSC command to the script's port
    last = analysed(host, surface)
    song = daemon_song(bm_daemon, last["job_id"])
    params = last["clip"]["params"]
    assert params["path"] == path
    if warped:  # warp markers in the Set's beats
        assert params["context"]["warp_markers"][0] == [16.0, 0.0] and "start" not in params
    else:
        assert params["start"] == 2.0 and params["end"] == pytest.approx(seconds - 1.0)
        assert params["context"]["beat_offset"] == 0.0
    # cue points named after the sections, at the sections' beats in the Set
    sections = song["sections"]
    assert sections
    cues = {round(c.time, 3): c.name for c in host.song().cue_points}
    assert len(cues) == len({round(s["start_beat"], 3) for s in sections})
    for s in sections:
        name = s["label"][:1].upper() + s["label"][1:] + (" " + s["letter"] if s.get("letter") else "")
        assert cues[round(s["start_beat"], 3)] == name, (s, cues)
    assert min(cues) == pytest.approx(offset, abs=0.5)
    # the chord clip: a MIDI track's clip whose notes follow the analysis's chords
    chord_track = [t for t in host.song().tracks if t.name == "Bandmate Chords"]
    assert len(chord_track) == 1 and chord_track[0].has_midi_input
    chord_clip = last["chord_clip"]
    assert chord_clip.canonical_parent.canonical_parent is chord_track[0]
    checked = 0
    for seg in song["chords"]:
        if seg["label"] in ("N", "X") or seg["end_beat"] - seg["start_beat"] < 0.5:
            continue
        mid = (seg["start_beat"] + seg["end_beat"]) / 2.0 - offset
        assert clip_pcs_at(chord_clip, mid) == expected_pcs(seg["label"]), (seg, mid)
        checked += 1
    assert checked >= 3
    # the key and tempo in the clip's name, and the status bar
    key = song["key"]["label"]
    assert key.split(":")[0] in chord_clip.name and "%.0f BPM" % song["bpm"] in chord_clip.name
    assert key.replace(":", " ") in surface.last_status
    assert surface.daemon["protocol"] == "1.0"  # the start-up handshake
    assert host.song().current_song_time == 0.0  # the playhead is back where it was
    if version >= (12, 0, 0):
        assert host.song().root_note == 0 and host.song().scale_name == "Major"  # the user's scale: untouched


A_MINOR = [(57, 60, 64), (53, 57, 60), (52, 56, 59), (57, 60, 64)]  # Am F E Am, one bar each


def _note_list(chords, repeat=1):
    notes = []
    for bar, chord in enumerate(chords * repeat):
        for p in chord + (chord[0] - 12,):
            notes.append((p, 4.0 * bar, 4.0, 90, False))
    return notes


@pytest.mark.parametrize("version", [(10, 1, 30), (11, 0, 0), (12, 1, 0)])
def test_analyze_a_midi_clip_by_renaming_it(bm_daemon, make_surface, version):
    host, surface = make_surface(bm_daemon.osc_port, version=version, tempo=100.0, set_song_scale=True)
    track = host.add_track(midi=True, name="Keys")
    clip = track.clip_slots[0]._put(Live.Clip.Clip(midi=True, length=16.0, name="Pads", notes=_note_list(A_MINOR)))
    host.select(clip)
    host.tick()
    clip.name = "Pads [bm analyze]"  # the no-UI trigger: a tag in the selected clip's name
    analysed(host, surface)
    assert clip.name == "Pads"  # the tag is removed
    last = surface.analysis.last
    assert len(last["clip"]["params"]["notes"]) == 16 and last["clip"]["params"]["context"]["tempo"] == 100.0
    chord_clip = last["chord_clip"]
    assert [clip_pcs_at(chord_clip, t) for t in (2.0, 6.0, 10.0, 14.0)] == [{9, 0, 4}, {5, 9, 0}, {4, 8, 11},
                                                                          {9, 0, 4}]
    assert "A minor" in chord_clip.name and "100 BPM" in chord_clip.name
    song = host.song()
    if version >= (12, 0, 0):
        assert (song.root_note, song.scale_name) == (9, "Minor")  # asked for by set_song_scale
    else:
        assert not hasattr(song, "root_note")
    # a second analysis reuses the chord track, in another empty slot
    clip.name = "Pads [bm analyse]"
    host.run(lambda: clip.name == "Pads" and idle(surface))
    chord_tracks = [t for t in song.tracks if t.name == "Bandmate Chords"]
    assert len(chord_tracks) == 1 and sum(s.has_clip for s in chord_tracks[0].clip_slots) == 2


def test_a_big_midi_clip_travels_as_a_midi_file(bm_daemon, make_surface, tmp_path):
    host, surface = make_surface(bm_daemon.osc_port, tempo=100.0, out_dir=str(tmp_path / "out"))
    track = host.add_track(midi=True)
    arpeggio = []
    for bar, chord in enumerate(A_MINOR * 12):  # 48 bars of eighth notes and a bass: over UDP's limit
        for step in range(8):
            arpeggio.append((chord[step % 3] + 12 * (step // 3 % 2), 4.0 * bar + 0.5 * step, 0.5, 80, False))
        arpeggio.append((chord[0] - 12, 4.0 * bar, 4.0, 90, False))
    assert len(arpeggio) > 400
    clip = track.clip_slots[0]._put(Live.Clip.Clip(midi=True, length=192.0, name="Arp", notes=arpeggio))
    host.select(clip)
    command(surface, "analyze")
    analysed(host, surface)
    params = surface.analysis.last["clip"]["params"]
    assert "notes" not in params and params["path"].endswith(".mid") and os.path.exists(params["path"])
    assert surface.analysis.last["clip"]["params"]["path"].startswith(str(tmp_path / "out"))
    assert clip_pcs_at(surface.analysis.last["chord_clip"], 6.0) == {5, 9, 0}


# generation ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", [(12, 1, 0), (11, 1, 0)])
def test_generate_stems_into_new_tracks(bm_daemon, make_surface, tmp_path, version):
    # MIDI only: rendering loads a soundfont for about 20 s; audio's way into Live is tested without a daemon below
    host, surface = make_surface(bm_daemon.osc_port, version=version, tempo=100.0, generate_bars=4,
                                 job_timeout=300.0, generate_render=False)
    track = host.add_track(midi=True, name="Keys")
    clip = track.clip_slots[0]._put(Live.Clip.Clip(midi=True, length=16.0, name="Pads", notes=_note_list(A_MINOR)))
    host.select(clip)
    command(surface, "analyze_selected")
    analysed(host, surface)
    n_tracks = len(host.song().tracks)
    command(surface, "generate", "bass,drums")
    host.run(lambda: (surface.generation.last is not None or surface.last_error) and idle(surface), timeout=300)
    if surface.generation.last is None and surface.last_error and surface.last_error[0] == "not_available":
        pytest.skip("the daemon does not generate yet: %s" % surface.last_error[1])
    assert surface.generation.last is not None, surface.last_error
    last = surface.generation.last
    request = last["request"]
    assert request["analysis"] == surface.analysis.last["job_id"] and request["tempo"] == 100.0
    assert request["meter"] == "4/4" and request["key"] == "A:minor" and request["bars"] == 4
    assert request["render"] is False
    result = last["result"]
    assert set(result["stems"]) == {"bass", "drums"}
    new_tracks = host.song().tracks[n_tracks:]
    midi_tracks = [t for t in new_tracks if t.has_midi_input]
    assert sorted(t.name for t in midi_tracks) == ["BM Bass", "BM Drums"]
    for t in midi_tracks:
        stem = t.name.split()[-1].lower()
        clips = [s.clip for s in t.clip_slots if s.has_clip]
        assert len(clips) == 1
        with open(result["stems"][stem]["notes"]) as fh:
            expected = json.load(fh)["notes"]
        got = clips[0].get_all_notes_extended()
        assert len(got) == len(expected) > 0
        assert sorted((n.pitch, round(n.start_time, 4)) for n in got) == \
            sorted((n["pitch"], round(n["start_time"], 4)) for n in expected)
        assert "A minor" in clips[0].name or result["key"].split(":")[0] in clips[0].name
    audio = [result["stems"][s].get("audio") for s in ("bass", "drums") if result["stems"][s].get("audio")]
    if version >= (12, 0, 5):
        audio_tracks = [t for t in new_tracks if not t.has_midi_input]
        assert len(audio_tracks) == len(audio)
        assert sorted(t.clip_slots[0].clip.file_path for t in audio_tracks) == sorted(audio)
    else:
        library = tmp_path / "User Library" / "Bandmate"
        assert len(last["files"]) == len(audio)
        for f in last["files"]:
            assert f.startswith(str(library)) and os.path.exists(f)


# live chords -----------------------------------------------------------------------------------------------------

def test_live_chords_follow_a_session_and_forward_the_clock(bm_daemon, rendered_song, make_surface):
    import soundfile as sf

    from bridge.live import encode_audio

    path, truth = rendered_song
    host, surface = make_surface(bm_daemon.osc_port, tempo=float(truth["bpm"]))
    x, sr = sf.read(path, dtype="float32", always_2d=True)
    x = x[:, :1]
    with bm_daemon.client(timeout=60) as c:
        sid = c.request("live_start", {"sample_rate": sr, "channels": 1, "idle_timeout": 20.0})["session"]
        try:
            command(surface, "live_attach", sid)
            host.run(lambda: surface.live.session == sid and idle(surface))
            host.song().start_playing()
            host.run(lambda: surface.live.clock_sent >= 3)
            block = sr // 2
            for a in range(0, len(x), block):
                c.request("live_push", {"session": sid, "audio": encode_audio(x[a:a + block])})
                host.tick()
            host.run(lambda: surface.live.last_chord is not None)
        finally:
            c.request("live_stop", {"session": sid})
    chord = surface.live.last_chord
    assert chord["session"] == sid and chord.get("roman_numeral")
    assert chord.get("beat") is not None  # the clock reached the daemon: events carry Live's beats
    shown = [m for m in host.messages if chord["roman_numeral"] in m and m.startswith("Bandmate: ")]
    assert shown, host.messages[-5:]
    host.run(lambda: surface.live.session is None and idle(surface))  # the daemon's 'ended' event
    assert any("ended" in m for m in host.messages)
    assert surface.live.subscribed is False  # and the script unsubscribed


def test_live_toggle_starts_a_device_session_or_says_why_not(bm_daemon, make_surface):
    host, surface = make_surface(bm_daemon.osc_port)
    command(surface, "live_toggle")
    host.run(lambda: (surface.live.session or surface.last_error) and idle(surface))
    if surface.live.session:  # a machine with an input device
        command(surface, "live_toggle")
        host.run(lambda: surface.live.session is None and idle(surface))
        assert "live chords off" in surface.last_status
    else:
        assert surface.last_error[0] in ("not_available", "bad_params")
        assert "live" in surface.last_status and surface.live.subscribed is False


# bad replies and the tick's safety -----------------------------------------------------------------------------------

def _free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_daemon_down_is_a_clear_message(make_surface):
    host, surface = make_surface(_free_udp_port(), request_timeout=0.5)
    track = host.add_track(midi=True)
    host.select(track.clip_slots[0]._put(Live.Clip.Clip(midi=True, notes=_note_list(A_MINOR[:1]))))
    host.run(lambda: surface.last_error and idle(surface), timeout=10)  # the start-up handshake says so
    assert surface.last_error[0] == "unreachable" and surface.daemon is None
    assert "hello" in surface.last_status and "bandmate serve" in surface.last_status
    surface.last_error = None
    command(surface, "analyze_selected")
    host.run(lambda: surface.last_error and idle(surface), timeout=10)
    assert surface.last_error[0] == "unreachable"
    assert "analyze" in surface.last_status and "bandmate serve" in surface.last_status


def test_error_replies_and_junk_never_escape_the_tick(bm_daemon, make_surface, tmp_path):
    host, surface = make_surface(bm_daemon.osc_port)
    command(surface, "analyze_selected")  # nothing selected
    host.run(lambda: surface.last_error and idle(surface))
    assert surface.last_error[0] == "user" and "select a clip" in surface.last_status
    track = host.add_track(midi=False)
    gone = str(tmp_path / "gone.wav")
    host.select(track.clip_slots[0]._put(Live.Clip.Clip(midi=False, file_path=gone, warping=False, length=2.0)))
    surface.last_error = None
    command(surface, "analyze_selected")
    host.run(lambda: surface.last_error and idle(surface))
    assert surface.last_error[0] == "file_not_found" and "file_not_found" in surface.last_status
    # junk on the script's port: not OSC, an error for no request, an unknown command, an event for no session
    from protocol.osc import encode_message

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for packet in (b"hello", b"\x00" * 7, encode_message("/bandmate/error", ["nope", "internal", "x"]),
                       encode_message("/bandmate/job", ["lv999", "{not json"]),
                       encode_message("/bandmate/event/live", ["{\"type\": \"chord\"}"]),
                       encode_message("/bandmate/event/live", [42]),
                       encode_message("/bandmate_live/teleport", [])):
            s.sendto(packet, ("127.0.0.1", surface.link.port))
    host.run_for(0.3)
    assert "unknown command /bandmate_live/teleport" in " ".join(host.messages)
    # a status query answers the sender
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(0.05)
        s.sendto(encode_message("/bandmate_live/status", []), ("127.0.0.1", surface.link.port))
        from protocol.osc import decode_packet

        reply = None
        for _ in range(100):
            host.tick()
            try:
                reply = decode_packet(s.recvfrom(65536)[0])[0]
                break
            except socket.timeout:
                pass
    assert reply is not None and reply.address == "/bandmate_live/status"
    assert json.loads(reply.args[0])["daemon"].endswith(":%d" % bm_daemon.osc_port)


def test_a_live_api_error_inside_a_flow_is_reported(bm_daemon, make_surface):
    host, surface = make_surface(bm_daemon.osc_port)
    track = host.add_track(midi=True)
    clip = track.clip_slots[0]._put(Live.Clip.Clip(midi=True, notes=_note_list(A_MINOR)))
    host.select(clip)

    def broken():
        raise RuntimeError("Live said no")
        yield

    surface.start_flow("analyze", broken())
    host.run(lambda: idle(surface))
    assert surface.last_error[0] == "internal" and "Live said no" in surface.last_status


def test_the_fake_enforces_lives_rules():
    host = FakeHost()
    song = host.song()
    errors = []
    t = threading.Thread(target=lambda: errors.append(_catch(lambda: song.tempo)))
    t.start()
    t.join()
    assert isinstance(errors[0], AssertionError)  # off the main thread
    song.view.add_detail_clip_listener(lambda: song.create_midi_track(-1))
    with pytest.raises(RuntimeError, match="notifications"):
        song.view.detail_clip = None if song.view.detail_clip else Live.Clip.Clip()
    FakeHost(version=(10, 1, 0))
    assert not hasattr(Live.Clip, "MidiNoteSpecification")
    assert not hasattr(Live.Clip.Clip(), "add_new_notes")
    FakeHost(version=(12, 0, 5))
    assert hasattr(Live.Clip, "MidiNoteSpecification") and hasattr(Live.Clip.Clip(), "get_all_notes_extended")


def _catch(fn):
    try:
        fn()
    except Exception as exc:
        return exc
    return None


# the package: Python 3.7, stdlib only, vendored protocol, installer --------------------------------------------------

def _script_files():
    for base, _, files in os.walk(SCRIPT):
        for f in files:
            if f.endswith(".py"):
                yield os.path.join(base, f)


def test_python_37_syntax_and_standard_library_only():
    stdlib = set(sys.stdlib_module_names)
    for path in _script_files():
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read(), path, feature_version=(3, 7))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in stdlib | {"Live", "_Framework"}, (path, name)
    vermin = os.path.join(os.path.dirname(sys.executable), "vermin")
    if not os.path.exists(vermin):
        pytest.skip("vermin is not installed")
    out = subprocess.run([vermin, "-t=3.7-", "--no-tips", "--violations", SCRIPT], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_vendored_protocol_files_are_identical():
    from ableton_remote_script.Bandmate.surface import PROTOCOL
    from protocol import PROTOCOL_VERSION

    assert PROTOCOL == PROTOCOL_VERSION
    for name in ("osc.py", "messages.py", "errors.py"):
        with open(os.path.join(ROOT, "protocol", name), "rb") as a, \
                open(os.path.join(SCRIPT, "vendor", name), "rb") as b:
            assert a.read() == b.read(), ("ableton_remote_script/Bandmate/vendor/%s differs from protocol/: "
                                          "cp protocol/%s ableton_remote_script/Bandmate/vendor/" % (name, name))


def test_install_into_a_folder_and_load_it_in_the_fake_live(tmp_path, capsys):
    from bridge import install, install_ableton

    target = tmp_path / "Remote Scripts"
    assert install.main(["ableton", "--path", str(target)]) == 0
    out = capsys.readouterr().out
    assert "Control Surface" in out and "Bandmate" in out
    dest = target / "Bandmate"
    for name in ("osc.py", "messages.py", "errors.py"):
        with open(os.path.join(ROOT, "protocol", name), "rb") as fh:
            assert (dest / "vendor" / name).read_bytes() == fh.read()
    assert not list(dest.rglob("__pycache__"))
    (dest / "settings.json").write_text('{"listen_port": 0, "daemon_port": 1}')
    assert install_ableton.main(["--path", str(target)]) == 0  # reinstall keeps the user's settings
    assert json.loads((dest / "settings.json").read_text()) == {"listen_port": 0, "daemon_port": 1}
    code = ("import sys; sys.path[:0] = [%r, %r]\n"
            "from fake_host import FakeHost\n"
            "import Bandmate\n"
            "host = FakeHost()\n"
            "s = Bandmate.create_instance(host); host.surface = s\n"
            "host.tick(); s.disconnect()\n"
            "print(Bandmate.__file__); print(host.messages[0])\n") % (FAKE_LIVE, str(target))
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=str(tmp_path))
    assert run.returncode == 0, run.stderr
    assert str(dest) in run.stdout and "Bandmate: ready" in run.stdout


def test_install_without_a_user_library_says_to_pass_path(tmp_path, monkeypatch, capsys):
    from bridge import install_ableton

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("USERPROFILE", str(tmp_path))
    monkeypatch.delenv("OneDrive", raising=False)
    assert install_ableton.main([]) == 2
    assert "--path" in capsys.readouterr().err
    library = tmp_path / "Music" / "Ableton" / "User Library"
    library.mkdir(parents=True)
    assert install_ableton.find_remote_scripts(str(tmp_path), "darwin") == str(library / "Remote Scripts")
    win = install_ableton.user_library_candidates("C:\\Users\\me", "win32", {"USERPROFILE": "C:\\Users\\me"})
    assert win[0].startswith("C:\\Users\\me") and "Documents" in win[0] and win[0].endswith("User Library")


@pytest.mark.parametrize("version", [(12, 1, 0), (11, 1, 0)])
def test_a_generate_result_lands_in_live(make_surface, tmp_path, version):
    """The generate job's result (the contract's shape, made here) becomes tracks and clips without a daemon:
    MIDI tracks with the notes; audio clips on Live 12.0.5+, else files in the User Library's Bandmate folder."""
    from .conftest import write_tone

    host, surface = make_surface(_free_udp_port(), version=version)
    surface.flows = [f for f in surface.flows if f[0] != "hello"]  # no daemon here: skip the handshake
    out = tmp_path / "gen"
    out.mkdir()
    stems = {}
    for stem, pitches in (("bass", (45, 41, 40, 45)), ("drums", (36, 38, 36, 38))):
        notes = [{"pitch": p, "start_time": 4.0 * i, "duration": 1.0, "velocity": 96, "mute": False}
                 for i, p in enumerate(pitches)]
        (out / ("%s.notes.json" % stem)).write_text(json.dumps({"stem": stem, "notes": notes, "length_beats": 16.0}))
        stems[stem] = {"notes": str(out / ("%s.notes.json" % stem)), "midi": None, "n_notes": 4,
                       "audio": write_tone(out / ("%s.wav" % stem), seconds=0.5)}
    result = {"tempo": 120.0, "meter": "4/4", "key": "A:minor", "length_beats": 16.0, "stems": stems}
    surface.start_flow("generate", surface.generation.apply(host.song(), result))
    host.run(lambda: idle(surface))
    assert surface.last_error is None, surface.last_status
    tracks = {t.name: t for t in host.song().tracks}
    assert {"BM Bass", "BM Drums"} <= set(tracks)
    clip = tracks["BM Bass"].clip_slots[0].clip
    assert sorted(n.pitch for n in clip.get_all_notes_extended()) == [40, 41, 45, 45]
    assert clip.length == 16.0 and "A minor" in clip.name and "120 BPM" in clip.name
    if version >= (12, 0, 5):
        assert tracks["BM Bass audio"].clip_slots[0].clip.file_path == stems["bass"]["audio"]
    else:
        files = surface.generation.last["files"]
        assert len(files) == 2 and all(f.startswith(str(tmp_path / "User Library" / "Bandmate")) for f in files)
        assert all(os.path.exists(f) for f in files) and "drag" in surface.last_status


def test_generate_request_follows_lives_scale_when_scale_mode_is_on(make_surface):
    host, surface = make_surface(_free_udp_port(), version=(12, 1, 0), tempo=93.0)
    song = host.song()
    surface.analysis.last = {"job_id": "j1", "song": {"key": {"label": "A:minor"}}, "clip": {"length": 32.0}}
    request = surface.generation.build_request(song, "bass")
    assert request == {"stems": "bass", "tempo": 93.0, "meter": "4/4", "key": "A:minor", "analysis": "j1",
                       "bars": 8}
    song.root_note, song.scale_name, song.scale_mode = 2, "Dorian", True
    assert surface.generation.build_request(song)["key"] == "D:minor"


def test_settings_file_template_and_mistakes(tmp_path, monkeypatch):
    values, problem = script_settings.load(os.path.join(SCRIPT, "settings.json"))
    assert problem == "" and values["listen_port"] == 7409 and values["set_song_scale"] is False
    bad = tmp_path / "settings.json"
    bad.write_text("{not json")
    values, problem = script_settings.load(str(bad))
    assert values == script_settings.DEFAULTS and "ignored" in problem
    bad.write_text('{"listen_port": "high", "colour": 1, "set_song_scale": 1}')
    values, problem = script_settings.load(str(bad))
    assert values["listen_port"] == 7409 and values["set_song_scale"] is True
    assert "colour" in problem and "listen_port" in problem
    home = tmp_path / "home"
    home.mkdir()
    (home / "daemon.json").write_text(json.dumps({"endpoints": {"osc": "udp://127.0.0.1:7555"}}))
    monkeypatch.setenv("BANDMATE_HOME", str(home))  # the running daemon's endpoints, as clients read them
    assert script_settings.daemon_address(dict(script_settings.DEFAULTS)) == ("127.0.0.1", 7555)
    assert script_settings.daemon_address(dict(script_settings.DEFAULTS, daemon_port=7777))[1] == 7777


def test_cue_points_leave_the_users_own_alone():
    from ableton_remote_script.Bandmate import live_api

    host = FakeHost()
    song = host.song()
    song.current_song_time = 8.0
    song.set_or_delete_cue()
    song.cue_points[0].name = "Mine"
    song.current_song_time = 0.0

    def drive(flow):
        try:
            while True:
                next(flow)
                host.tick()
        except StopIteration as stop:
            return stop.value

    assert drive(live_api.add_cue(song, 8.0, "Verse A")) is False
    assert drive(live_api.add_cue(song, 4.0, "Chorus B")) is True
    assert [(c.time, c.name) for c in song.cue_points] == [(4.0, "Chorus B"), (8.0, "Mine")]


def test_command_line_sends_commands_to_the_script(bm_daemon, make_surface, capsys):
    from bridge import install_ableton

    host, surface = make_surface(bm_daemon.osc_port)
    assert install_ableton.command_main(["analyze", "--port", str(surface.link.port)]) == 0
    host.run(lambda: surface.last_error and idle(surface))
    assert "select a clip" in surface.last_status  # the command arrived and ran
    result = {}
    thread = threading.Thread(target=lambda: result.update(rc=install_ableton.command_main(
        ["status", "--port", str(surface.link.port), "--timeout", "10"])))
    thread.start()
    host.run(lambda: not thread.is_alive(), timeout=15)
    thread.join()
    assert result["rc"] == 0 and json.loads(capsys.readouterr().out.split("\n", 1)[1])["port"] == surface.link.port


def test_live_session_follows_the_analysed_tuning(make_surface):
    host, surface = make_surface(_free_udp_port())
    assert "tuning" not in surface.live.start_params()            # nothing analysed yet: the daemon reads it
    surface.analysis.last = {"job_id": "j1", "song": {"tuning": {"a4_hz": 432.0, "cents": -31.8}},
                             "clip": {"length": 16.0}}
    params = surface.live.start_params()
    assert params["tuning"] == -31.8 and params["source"] == "device"
    surface.settings["live_tuning"] = 12
    assert surface.live.start_params()["tuning"] == 12.0          # the setting wins
    surface.settings["live_tuning"] = "sharp"
    assert "tuning" not in surface.live.start_params()            # not a number: the daemon reads it, no crash
