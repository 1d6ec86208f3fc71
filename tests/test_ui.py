"""The companion window (`bandmate ui`): renders offscreen into a non-trivial PNG, shows a real daemon's last
analysis as chord blocks, says so when the daemon is down, and its drag handles carry file URLs (text/uri-list)
that DAWs accept."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before Qt is imported anywhere

import shutil  # noqa: E402
import socket  # noqa: E402
import time  # noqa: E402

import pytest  # noqa: E402

pytest.importorskip("PySide6")

from PySide6 import QtCore, QtGui, QtWidgets  # noqa: E402

from bridge import ui, ui_model  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A real analysis (songbook song, 29 s, analysed by Bandmate), trimmed to what the window draws.
_CHORDS = [(0.0, 1.45, "Db:maj", "I", "tonic"), (1.45, 2.95, "Ab:7", "V7", "dominant"),
           (2.95, 4.45, "Db:maj", "I", "tonic"), (4.45, 5.95, "Gb:maj", "IV", "subdominant"),
           (5.95, 7.45, "Db:maj", "I", "tonic"), (7.45, 8.95, "Eb:maj", "II", "other"),
           (8.95, 11.95, "Db:maj", "I", "tonic"), (11.95, 13.45, "Gb:maj7", "IVmaj7", "subdominant"),
           (13.45, 14.95, "Ab:7", "V7", "dominant"), (14.95, 16.35, "F:min7", "iii7", "tonic_substitute"),
           (16.35, 17.85, "Bb:min", "vi", "tonic_substitute"), (17.85, 19.35, "Db:maj", "I", "tonic"),
           (19.35, 20.85, "Eb:maj", "II", "other"), (20.85, 25.35, "Db:maj", "I", "tonic"),
           (25.35, 26.75, "Eb:maj", "V/V", "secondary_dominant"), (26.75, 28.8322, "N", None, None)]
SONG = {
    "schema_version": "1.0",
    "source": {"path": "/music/country_demo.flac", "kind": "audio", "duration": 28.8322},
    "bpm": 160.99, "meter": {"numerator": 4, "denominator": 4},
    "key": {"tonic": "Db", "mode": "major", "label": "Db:major", "confidence": 0.98},
    "key_regions": [{"start": 0.0, "end": 26.75, "key": "Db:major"}],
    "chords": [dict({"start": s, "end": e, "label": lab, "roman_numeral": rn, "function": fn},
                    **({"root": lab.split(":")[0], "quality": lab.split(":")[1], "bass": lab.split(":")[0]}
                       if ":" in lab else {}))
               for s, e, lab, rn, fn in _CHORDS],
    "sections": [{"start": 0.0, "end": 2.9789, "label": "intro", "letter": "A"},
                 {"start": 2.9789, "end": 14.9013, "label": "verse", "letter": "B"},
                 {"start": 14.9013, "end": 17.882, "label": "verse", "letter": "C"},
                 {"start": 17.882, "end": 23.8524, "label": "chorus", "letter": "D"},
                 {"start": 23.8524, "end": 28.8322, "label": "outro", "letter": "E"}],
    "downbeats": [0.0, 1.482, 2.979, 4.47, 5.959, 7.456, 8.94, 10.437, 11.922, 13.415, 14.901, 16.398, 17.882,
                  19.378, 20.87, 22.36, 23.852, 25.338],
    "genre_analysis": {"primary": "country"},
}
for _c in SONG["chords"]:
    if _c["roman_numeral"] is None:
        del _c["roman_numeral"], _c["function"]

STATUS = {"version": "0.1.0", "uptime_s": 812.4,
          "device": {"kind": "cpu", "name": "cpu (torch 2.13.0, 2 threads)"},
          "models": [{"name": "chords", "state": "warm", "load_s": 0.41, "memory_bytes": 3.1e6, "device": "cpu"},
                     {"name": "beats", "state": "warm", "load_s": 0.38, "memory_bytes": 2.2e6, "device": "cpu"},
                     {"name": "htdemucs", "state": "unavailable", "load_s": None, "memory_bytes": None}],
          "jobs": {"done": 7, "running": 0, "queued": 0}}


@pytest.fixture(scope="module")
def qapp():
    return QtWidgets.QApplication.instance() or QtWidgets.QApplication(["test"])


def _wait(qapp, cond, seconds):
    end = time.monotonic() + seconds
    while not cond() and time.monotonic() < end:
        qapp.processEvents(QtCore.QEventLoop.AllEvents, 50)
        time.sleep(0.02)
    return cond()


@pytest.fixture(scope="module")
def generation(tmp_path_factory):
    """A generate job's result with real small files named like the daemon names them."""
    import mido
    import numpy as np
    import soundfile as sf

    out = tmp_path_factory.mktemp("gen")
    stems = {}
    for ch, (stem, program, notes) in enumerate((("bass", 33, [40, 43, 45, 47]), ("drums", 0, [36, 38, 36, 38]),
                                                  ("keys", 4, [64, 67, 71, 72]))):
        mid = mido.MidiFile(ticks_per_beat=480)
        tr = mido.MidiTrack()
        mid.tracks.append(tr)
        tr.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(120)))
        for n in notes:
            tr.append(mido.Message("note_on", note=n, velocity=90, time=0))
            tr.append(mido.Message("note_off", note=n, time=480))
        midi = str(out / ("%s_120bpm_Emin.mid" % stem))
        mid.save(midi)
        wav = str(out / ("%s_120bpm_Emin.wav" % stem))
        t = np.arange(11025) / 22050.0
        sf.write(wav, 0.3 * np.sin(2 * np.pi * 110 * (ch + 1) * t), 22050)
        stems[stem] = {"midi": midi, "audio": wav, "notes": str(out / ("%s.json" % stem)), "program": program,
                       "channel": 9 if stem == "drums" else ch, "n_notes": len(notes)}
    mix = str(out / "mix_120bpm_Emin.wav")
    shutil.copyfile(stems["bass"]["audio"], mix)
    multi = str(out / "band_120bpm_Emin.mid")
    shutil.copyfile(stems["bass"]["midi"], multi)
    bass_v2 = str(out / "bass_120bpm_Emin_v2.mid")
    shutil.copyfile(stems["bass"]["midi"], bass_v2)
    # the shape of models/generation/generate.py's result: the first variation is the result itself
    variations = [{"seed": 0, "stems": stems, "midi": multi, "audio": mix, "notes": str(out / "band.notes.json")},
                  {"seed": 1, "stems": {"bass": dict(stems["bass"], midi=bass_v2, audio=None, n_notes=5)},
                   "midi": None, "audio": None, "notes": None}]
    return {"tempo": 120.0, "meter": "4/4", "key": "E:minor", "bars": 8, "stems": stems, "midi": multi,
            "audio": mix, "notes": str(out / "band.notes.json"), "variations": variations, "out_dir": str(out)}


# -- plain functions ---------------------------------------------------------------------------------------
def test_chord_blocks_match_the_songs_chords():
    blocks = ui_model.chord_blocks(SONG, px_per_s=10.0, x0=4.0)
    assert len(blocks) == len(SONG["chords"])
    for b, c in zip(blocks, SONG["chords"]):
        assert (b["start"], b["end"], b["label"]) == (c["start"], c["end"], c["label"])
        assert b["roman_numeral"] == c.get("roman_numeral", "")
        assert b["x"] == pytest.approx(4.0 + 10.0 * c["start"])
        assert b["width"] == pytest.approx(10.0 * (c["end"] - c["start"]))
    assert [b["symbol"] for b in blocks[:2]] == ["Db", "Ab7"]
    assert blocks[7]["symbol"] == "Gbmaj7" and blocks[-1]["symbol"] == "N.C."
    assert blocks[0]["colour"] == ui_model.FUNCTION_COLOURS["tonic"]
    assert blocks[1]["colour"] == ui_model.FUNCTION_COLOURS["dominant"]
    # unordered input and empty segments: drawn in time order, nothing of zero length
    odd = {"chords": [{"start": 2.0, "end": 4.0, "label": "A:min7/b3"}, {"start": 0.0, "end": 2.0, "label": "C"},
                      {"start": 4.0, "end": 4.0, "label": "G"}]}
    assert [b["symbol"] for b in ui_model.chord_blocks(odd)] == ["C", "Am7/C"]
    sections = ui_model.section_blocks(SONG)
    assert [s["text"] for s in sections] == ["intro A", "verse B", "verse C", "chorus D", "outro E"]
    facts = ui_model.song_summary(SONG)
    assert (facts["key"], facts["tempo"], facts["meter"]) == ("Db major", "161 BPM", "4/4")


def test_generated_files_and_names(generation):
    files = ui_model.generated_files(generation)
    names = [f["name"] for f in files]
    assert names == ["bass_120bpm_Emin.mid", "bass_120bpm_Emin.wav", "drums_120bpm_Emin.mid",
                     "drums_120bpm_Emin.wav", "keys_120bpm_Emin.mid", "keys_120bpm_Emin.wav",
                     "band_120bpm_Emin.mid", "mix_120bpm_Emin.wav", "bass_120bpm_Emin_v2.mid"]
    assert [f["role"] for f in files] == ["stem"] * 6 + ["multitrack", "mix", "variation"]
    assert files[0]["detail"] == "4 notes, program 33, ch 1" and files[2]["detail"].endswith("ch 10")
    assert files[-1]["detail"].startswith("variation 2, 5 notes")
    assert all(f["exists"] and os.path.isabs(f["path"]) for f in files)
    assert [f["kind"] for f in files[:2]] == ["midi", "audio"]
    assert ui_model.name_facts("bass_120bpm_Emin.mid") == {"stem": "bass", "bpm": 120.0, "key": "Emin"}
    assert ui_model.name_facts("keys_100bpm_Fsmin_v2.wav") == {"stem": "keys", "bpm": 100.0, "key": "F#min"}
    assert ui_model.name_facts("lead_guitar_92.5bpm_Bbmaj.wav") == {"stem": "lead_guitar", "bpm": 92.5,
                                                                   "key": "Bbmaj"}
    assert ui_model.generation_summary(generation) == "120 BPM \u00b7 E minor \u00b7 4/4 \u00b7 8 bars"
    jobs = [{"job_id": "g2", "type": "generate", "state": "running"}, {"job_id": "a2", "type": "analyze",
                                                                       "state": "failed"},
            {"job_id": "g1", "type": "generate", "state": "done"}, {"job_id": "a1", "type": "analyze",
                                                                    "state": "done"}]
    assert ui_model.pick_jobs(jobs) == ("a1", ["g1"])


def test_mime_for_files_carries_file_urls(qapp, generation, tmp_path, monkeypatch):
    paths = [generation["stems"]["bass"]["midi"], generation["stems"]["bass"]["audio"]]
    mime = ui.mime_for_files(paths)
    assert "text/uri-list" in mime.formats()
    assert [u.toString() for u in mime.urls()] == ["file://" + p for p in paths]
    assert all(u.isLocalFile() and u.toLocalFile() == p for u, p in zip(mime.urls(), paths))
    uri_list = bytes(mime.data("text/uri-list")).decode()
    assert [line for line in uri_list.split("\r\n") if line] == ["file://" + p for p in paths]
    monkeypatch.chdir(tmp_path)  # relative paths become absolute
    (tmp_path / "x.mid").write_bytes(b"")
    assert ui.mime_for_files(["x.mid"]).urls()[0].toLocalFile() == str(tmp_path / "x.mid")


def test_drag_handle_starts_a_qdrag_with_the_files(qapp, generation, monkeypatch):
    started = []

    def fake_exec(drag, *args):
        started.append(([u.toLocalFile() for u in drag.mimeData().urls()], drag.mimeData().formats(), args))
        return QtCore.Qt.CopyAction

    monkeypatch.setattr(QtGui.QDrag, "exec", fake_exec)
    win = ui.CompanionWindow(poll=False)
    try:
        win.set_generations([("g", ui_model.generated_files(generation), generation["out_dir"])])
        rows = win.file_rows()
        assert [r.entry["name"] for r in rows][:2] == ["bass_120bpm_Emin.mid", "bass_120bpm_Emin.wav"]
        win.show()
        handle = rows[0].handle
        assert handle.isEnabled()
        # a real press-and-pull on the handle, as the mouse does it
        press = QtGui.QMouseEvent(QtCore.QEvent.MouseButtonPress, QtCore.QPointF(5, 5), QtCore.QPointF(5, 5),
                                  QtCore.Qt.LeftButton, QtCore.Qt.LeftButton, QtCore.Qt.NoModifier)
        QtWidgets.QApplication.sendEvent(handle, press)
        move = QtGui.QMouseEvent(QtCore.QEvent.MouseMove, QtCore.QPointF(40, 5), QtCore.QPointF(40, 5),
                                 QtCore.Qt.NoButton, QtCore.Qt.LeftButton, QtCore.Qt.NoModifier)
        QtWidgets.QApplication.sendEvent(handle, move)
        assert started and started[0][0] == [generation["stems"]["bass"]["midi"]]
        assert "text/uri-list" in started[0][1] and started[0][2] == (QtCore.Qt.CopyAction,)
        # "all MIDI" drags every stem's MIDI file at once (Live makes one track per file)
        box = win.generation_boxes[0]
        all_midi = [h for h in box.all_handles if "MIDI" in h.text()][0]
        assert all_midi.start_drag() == QtCore.Qt.CopyAction
        assert started[-1][0] == [generation["stems"][s]["midi"] for s in ("bass", "drums", "keys")]
        # open folder goes to the job's out_dir
        opened = []
        monkeypatch.setattr(ui, "open_folder", opened.append)
        box.folder_button.click()
        win.open_files_folder()
        assert opened == [generation["out_dir"]] * 2
        # a missing file gets no working handle
        gone = ui.FileRow(ui_model.file_entry(os.path.join(generation["out_dir"], "gone_90bpm_C.mid")))
        assert not gone.handle.isEnabled()
    finally:
        win.close()


def _distinct_colours(png):
    img = QtGui.QImage(png)
    assert not img.isNull()
    step = 3
    return img, {img.pixel(x, y) for x in range(0, img.width(), step) for y in range(0, img.height(), step)}


def test_window_renders_offscreen_to_a_png(qapp, generation, tmp_path):
    win = ui.CompanionWindow(poll=False)
    try:
        win.resize(1100, 720)
        win.show()
        win.set_song(SONG)
        win.show_snapshot({"ok": True, "status": STATUS, "endpoint": "tcp://127.0.0.1:7401", "active": [],
                           "analysis": None,
                           "generations": [{"job_id": "5be1f0c2a9d84e77", "result": generation}]})
        assert "cpu (torch 2.13.0, 2 threads)" in win.status_label.text()
        assert "chords warm" in win.models_label.text()
        assert "Db major" in win.summary_label.text() and "161 BPM" in win.summary_label.text()
        assert len(win.file_rows()) == 9
        png = win.screenshot(str(tmp_path / "ui.png"))
    finally:
        win.close()
    img, colours = _distinct_colours(png)
    assert (img.width(), img.height()) == (1100, 720)
    assert len(colours) > 50  # blocks, text, badges: far from one flat colour
    docs = os.path.join(ROOT, "bench", "results", "ui_screenshot.png")
    os.makedirs(os.path.dirname(docs), exist_ok=True)
    shutil.copyfile(png, docs)


def test_command_line_screenshot_without_daemon(qapp, generation, tmp_path):
    import json

    song_json = tmp_path / "song.json"
    song_json.write_text(json.dumps({"song": SONG, "cached": False}))  # an analyze result works too
    png = str(tmp_path / "cli.png")
    files = [generation["stems"]["bass"]["midi"], generation["stems"]["bass"]["audio"]]
    assert ui.main(["--no-daemon", "--show-analysis", str(song_json), "--files"] + files +
                   ["--screenshot", png, "--size", "900x600"]) == 0
    img, colours = _distinct_colours(png)
    assert (img.width(), img.height()) == (900, 600) and len(colours) > 30
    assert ui.main(["--no-daemon", "--files", str(tmp_path / "nope.mid"), "--screenshot", png]) == 2


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_daemon_down_says_so_and_keeps_trying(qapp, tmp_path):
    win = ui.CompanionWindow(endpoint="tcp://127.0.0.1:%d" % _free_port(), interval=0.2, timeout=0.3)
    try:
        assert _wait(qapp, lambda: win.snapshots >= 2, 10)  # answered, then retried
        assert win.status_label.text() == ui_model.DAEMON_DOWN
        assert "bandmate serve" in win.status_label.text()
        png = win.screenshot(str(tmp_path / "down.png"))
        assert os.path.getsize(png) > 1000
    finally:
        win.close()


def test_window_follows_a_real_daemon(qapp, daemon, tmp_path):
    import mido

    mid = mido.MidiFile(ticks_per_beat=480)
    tr = mido.MidiTrack()
    mid.tracks.append(tr)
    tr.append(mido.MetaMessage("set_tempo", tempo=500000))
    for chord in ([60, 64, 67], [57, 60, 64], [53, 57, 60], [55, 59, 62]):  # C Am F G
        for n in chord:
            tr.append(mido.Message("note_on", note=n, velocity=80, time=0))
        for i, n in enumerate(chord):
            tr.append(mido.Message("note_off", note=n, velocity=0, time=1920 if i == 0 else 0))
    path = str(tmp_path / "prog.mid")
    mid.save(path)
    with daemon.client() as c:
        job = c.analyze(path, wait=True, timeout=60)
    assert job["state"] == "done", job
    song = job["result"]["song"]

    win = ui.CompanionWindow(endpoint=daemon.zmq, interval=0.3)
    try:
        assert _wait(qapp, lambda: win.song is not None, 15), getattr(win, "last_snapshot", None)
        assert win.status_label.text().startswith("daemon ")
        assert "models:" in win.models_label.text()
        blocks = win.timeline.view.blocks()
        assert [(b["start"], b["end"], b["label"], b["roman_numeral"]) for b in blocks] == \
            [(c["start"], c["end"], c["label"], c.get("roman_numeral", "")) for c in song["chords"]]
        assert [b["symbol"] for b in blocks] == ["C", "Am", "F", "G"]
        assert "C major" in win.summary_label.text()
        win.screenshot(str(tmp_path / "daemon.png"))
    finally:
        win.close()


def test_no_display_is_explained(monkeypatch, capsys):
    for var in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(ui.sys, "platform", "linux")
    assert ui.main(["--no-daemon"]) == 2
    assert "no display" in capsys.readouterr().err


def test_timeline_tooltip_and_rows_held_during_a_drag(qapp, generation):
    win = ui.CompanionWindow(poll=False)
    try:
        win.show()
        win.set_song(SONG)
        view = win.timeline.view
        b = view.blocks()[1]
        assert view.block_at(b["x"] + 1)["symbol"] == "Ab7" and view.block_at(-5) is None
        pos = QtCore.QPoint(int(b["x"] + 2), 30)
        QtWidgets.QApplication.sendEvent(view, QtGui.QHelpEvent(QtCore.QEvent.ToolTip, pos, view.mapToGlobal(pos)))
        snap = {"ok": True, "status": STATUS, "generations": [{"job_id": "abc", "result": generation}]}
        ui.DragHandle.active = 1  # a drag in progress: its source row must not be rebuilt under it
        try:
            win.show_snapshot(snap)
            assert win.file_rows() == []
        finally:
            ui.DragHandle.active = 0
        win.show_snapshot(snap)
        assert len(win.file_rows()) == 9
    finally:
        win.close()
