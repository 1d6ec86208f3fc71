"""A real daemon process on loopback, driven over ZeroMQ and OSC: requests, jobs, events, errors."""
import asyncio
import json
import os
import threading
import time

import numpy as np
import pytest
import soundfile as sf
import zmq

from bridge.client import AsyncClient
from protocol import PROTOCOL_VERSION, BandmateError
from protocol.osc import encode_message

from .conftest import write_tone


def test_hello_ping_status(daemon):
    with daemon.client() as c:
        hello = c.hello()
        assert hello["protocol"] == PROTOCOL_VERSION and "analyze" in hello["capabilities"]
        assert c.ping("xyz")["payload"] == "xyz"
        st = c.status()
        assert st["endpoints"]["zmq"] == daemon.zmq and st["data_dir"] == daemon.home
        assert {"queued", "running"} <= set(st["jobs"])
        with pytest.raises(BandmateError) as e:
            c.request("hello", {"protocol": "2.0"})
        assert e.value.code == "version_mismatch"


def test_analyze_measures_the_source_and_caches(daemon, tmp_path):
    path = write_tone(tmp_path / "a.flac", seconds=3.0, sr=48000, channels=2, amp=0.5, fmt="FLAC")
    with daemon.client() as c:
        seen = []
        job = c.analyze(path, wait=True, on_progress=lambda s, f: seen.append((s, f)))
        assert job["state"] == "done" and seen[-1] == ("done", 1.0)
        song = job["result"]["song"]
        src = song["source"]
        assert src["sample_rate"] == 48000 and src["channels"] == 2 and abs(src["duration"] - 3.0) < 1e-6
        assert src["format"].startswith("FLAC")
        assert abs(src["peak_dbfs"] - 20 * np.log10(0.5)) < 0.01
        assert -12 < src["loudness_lufs"] < -2  # a -6 dBFS stereo 440 Hz tone: about -6 LUFS
        assert "chords" not in song and "bpm" not in song  # nothing unmeasured is faked
        with open(job["result_path"]) as fh:
            assert json.load(fh) == song
        assert job["result"]["cached"] is False
        again = c.analyze(path, wait=True)
        assert again["result"]["cached"] is True and again["result"]["song"] == song
        ranged = c.analyze(path, start=1.0, end=2.5, wait=True)
        assert ranged["result"]["cached"] is False
        assert abs(ranged["result"]["song"]["source"]["duration"] - 1.5) < 1e-6


def test_analyze_out_dir_export(daemon, tmp_path, tone):
    out = tmp_path / "exports"
    with daemon.client() as c:
        job = c.analyze(tone, out_dir=str(out), wait=True)
    assert job["result"]["exported"] == str(out / "tone.bandmate.json")
    assert json.loads((out / "tone.bandmate.json").read_text())["source"]["channels"] == 2


@pytest.mark.parametrize("make,code", [
    (lambda d: str(d / "missing.wav"), "file_not_found"),
    (lambda d: str(d), "unreadable_file"),
    (lambda d: "relative.wav", "bad_params"),
    (lambda d: _write(d / "notes.txt", b"just some text, not audio at all " * 10), "unsupported_format"),
    (lambda d: _write(d / "song.wav", b"RIFF\x10\x00\x00\x00WAVEfmt garbage"), "corrupt_file"),
    (lambda d: _write(d / "clip.mid", b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0"), "corrupt_file"),
])
def test_analyze_bad_files_get_coded_errors(daemon, tmp_path, make, code):
    with daemon.client() as c:
        with pytest.raises(BandmateError) as e:
            c.request("analyze", {"path": make(tmp_path)})
        assert e.value.code == code, e.value.message
        assert c.ping()["pong"] == "pong"


def _write(path, data):
    path.write_bytes(data)
    return str(path)


def test_truncated_audio_is_analysed_as_far_as_it_goes(daemon, tmp_path):
    full = write_tone(tmp_path / "full.wav", seconds=2.0)
    data = open(full, "rb").read()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) // 2])  # header still promises 2 s
    with daemon.client() as c:
        job = c.analyze(str(cut), wait=True)
    assert job["state"] == "done"
    assert 0.9 < job["result"]["song"]["source"]["duration"] < 1.1


def test_bad_ranges_and_params(daemon, tone):
    with daemon.client() as c:
        for params, field in [({"path": tone, "start": 50.0}, "start"), ({"path": tone, "start": -1.0}, "start"),
                              ({"path": tone, "start": 1.0, "end": 0.5}, "end"),
                              ({"path": tone, "timeout": -3.0}, "timeout"),
                              ({"path": tone, "out_dir": "rel/dir"}, "out_dir")]:
            with pytest.raises(BandmateError) as e:
                c.request("analyze", params)
            assert e.value.code == "bad_params" and field in e.value.message
        for request, field in (({"stems": ["kazoo"]}, "stems"), ({"tempo": 0}, "tempo"), ("C G", "request")):
            with pytest.raises(BandmateError) as e:
                c.request("generate", {"request": request})
            assert e.value.code == "bad_params" and field in e.value.message
        with pytest.raises(BandmateError) as e:
            c.job("nope")
        assert e.value.code == "not_found"


def test_raw_zmq_garbage_gets_error_replies(daemon):
    ctx = zmq.Context.instance()
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(daemon.zmq)
    cases = [(b"\xff\xfe", "bad_request", None), (b"[1,2]", "bad_request", None),
             (b'{"id": "k", "type": "teleport"}', "unknown_type", "k"),
             (b'{"id": "k2", "type": "ping", "params": [1]}', "bad_params", "k2"),
             (b'{"id": "' + b"x" * 2000 + b'", "type": "ping"}', "bad_request", None),
             (b" " * (1024 * 1024 + 10), "too_large", None)]
    try:
        for raw, code, req_id in cases:
            s.send(raw)
            assert s.poll(5000), raw[:40]
            reply = json.loads(s.recv())
            assert reply["ok"] is False and reply["error"]["code"] == code and reply["id"] == req_id
        s.send_multipart([b"", b'{"id": "req-style", "type": "ping"}'])  # REQ-style empty delimiter frame
        assert s.poll(5000)
        frames = s.recv_multipart()
        assert json.loads(frames[-1])["result"]["pong"] == "pong"
    finally:
        s.close(0)


def test_osc_requests_replies_and_errors(daemon):
    with daemon.osc_client() as osc:
        assert osc.request("ping", {"payload": "hi"})["payload"] == "hi"
        st = osc.request("status")["status"]
        assert st["endpoints"]["osc"].endswith(":%d" % daemon.osc_port)
        for address, args, code in [("/bandmate/teleport", ["i1"], "unknown_type"),
                                    ("/bandmate/jobs", ["i2", "ten"], "bad_params"),
                                    ("/bandmate/ping", [42], "bad_request"),
                                    ("/bandmate/ping", [], "bad_request"),
                                    ("/bandmate/analyze", ["i3", "/nope.wav"], "file_not_found"),
                                    ("/bandmate/ping", ["i4", "a", "b", "c"], "bad_params")]:
            osc.send_raw(encode_message(address, args))
            msg = osc.receive(5.0)
            assert msg is not None and msg.address == "/bandmate/error", address
            assert msg.args[1] == code, (address, msg.args)
            if args and isinstance(args[0], str):
                assert msg.args[0] == args[0]
        osc.send_raw(b"/bandmate/ping\x00\x00,s\x00")  # truncated
        msg = osc.receive(5.0)
        assert msg.address == "/bandmate/error" and msg.args[1] == "bad_request"
        osc.send_raw(encode_message("/bandmate/ping", ["big", "x" * 40000]))
        msg = osc.receive(5.0)
        assert msg.address == "/bandmate/error" and msg.args[1] == "too_large"
        assert osc.request("ping")["pong"] == "pong"


def test_osc_job_and_event_subscription(daemon, tone):
    with daemon.osc_client() as osc:
        sub = osc.request("subscribe", {"topics": "job"})
        assert sub["pub_endpoint"] == daemon.pub
        accepted = osc.request("analyze", {"path": tone})
        deadline = time.monotonic() + 20
        states = []
        while time.monotonic() < deadline and "done" not in states:
            msg = osc.receive(1.0)
            if msg is not None and msg.address == "/bandmate/event/job" and msg.args[0] == accepted["job_id"]:
                states.append(msg.args[1])
        states += [m.args[1] for m in osc.events if m.args[0] == accepted["job_id"]]
        assert "queued" in states and "done" in states
        job = osc.request("job", {"job_id": accepted["job_id"]})["job"]
        assert job["state"] == "done" and os.path.exists(job["result_path"])
        assert osc.request("unsubscribe")["removed"] == 1


def test_jobs_progress_cancel_and_timeout(daemon):
    with daemon.client() as c:
        accepted = c.request("selftest", {"seconds": 30.0})
        deadline = time.monotonic() + 10
        while c.job(accepted["job_id"])["state"] != "running" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert c.cancel(accepted["job_id"]) == "cancelled"
        job = c.job(accepted["job_id"])
        assert job["state"] == "cancelled" and job["error"]["code"] == "cancelled"
        accepted = c.request("selftest", {"seconds": 30.0, "timeout": 0.5})
        job = c.wait(accepted["job_id"], timeout=20)
        assert job["state"] == "failed" and job["error"]["code"] == "timeout"
        ok = c.submit("selftest", {"seconds": 0.2}, wait=True, timeout=30)
        assert ok["state"] == "done" and ok["result"]["gflops"] > 0
        listed = c.jobs(limit=100)
        assert {ok["job_id"], accepted["job_id"]} <= {j["job_id"] for j in listed}
        assert c.jobs(state="cancelled")


def test_pub_events_carry_progress(daemon, tone):
    ctx = zmq.Context.instance()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"job")
    sub.connect(daemon.pub)
    time.sleep(0.3)  # let the subscription reach the PUB socket
    try:
        with daemon.client() as c:
            job_id = c.request("selftest", {"seconds": 0.5})["job_id"]
            events = []
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if sub.poll(500):
                    topic, raw = sub.recv_multipart()
                    ev = json.loads(raw)
                    if ev["job_id"] == job_id:
                        events.append(ev)
                        if ev["state"] == "done":
                            break
        stages = [(e["state"], e["stage"]) for e in events]
        assert stages[0] == ("queued", "") and stages[-1][0] == "done"
        fractions = [e["fraction"] for e in events if e["stage"] == "matmul"]
        assert len(fractions) >= 3 and fractions == sorted(fractions)
    finally:
        sub.close(0)


def test_async_client_many_in_flight(daemon):
    import asyncio

    async def go():
        async with AsyncClient(endpoint=daemon.zmq, pub_endpoint=daemon.pub) as c:
            replies = await asyncio.gather(*[c.ping(str(i)) for i in range(200)])
            return [r["payload"] for r in replies]

    assert asyncio.run(go()) == [str(i) for i in range(200)]


def test_concurrent_clients_get_their_own_replies(daemon):
    errors = []

    def worker(n):
        try:
            with daemon.client() as c:
                for i in range(100):
                    payload = "%d-%d" % (n, i)
                    if c.ping(payload)["payload"] != payload:
                        errors.append(payload)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []


def test_audio_formats_rates_and_channels(daemon, tmp_path):
    cases = [("a.wav", 8000, 1, None), ("b.aiff", 192000, 2, None), ("c.ogg", 22050, 2, "OGG"),
             ("d.wav", 44100, 6, None), ("e.mp3", 44100, 2, "MP3")]
    with daemon.client() as c:
        for name, sr, ch, fmt in cases:
            path = write_tone(tmp_path / name, seconds=1.0, sr=sr, channels=ch, fmt=fmt)
            job = c.analyze(path, wait=True, timeout=30)
            assert job["state"] == "done", (name, job["error"])
            src = job["result"]["song"]["source"]
            assert (src["sample_rate"], src["channels"]) == (sr, ch)
            assert abs(src["duration"] - 1.0) < 0.06  # mp3 adds encoder padding


def test_silence_and_tiny_clips(daemon, tmp_path):
    silent = tmp_path / "silent.wav"
    sf.write(str(silent), np.zeros((44100, 2)), 44100)
    tiny = write_tone(tmp_path / "tiny.wav", seconds=0.2)
    with daemon.client() as c:
        s = c.analyze(str(silent), wait=True)["result"]["song"]["source"]
        assert s["loudness_lufs"] is None and s["peak_dbfs"] is None
        t = c.analyze(tiny, wait=True)["result"]["song"]["source"]
        assert abs(t["duration"] - 0.2) < 1e-3 and t["loudness_lufs"] is None  # shorter than one 400 ms block
        assert t["peak_dbfs"] is not None


def test_m4a_without_ffmpeg_is_a_clear_error(daemon, tmp_path):
    import shutil

    if shutil.which("ffmpeg"):
        pytest.skip("ffmpeg present: m4a decodes")
    path = tmp_path / "song.m4a"
    path.write_bytes(b"\x00\x00\x00\x18ftypM4A " + b"\x00" * 100)
    with daemon.client() as c:
        with pytest.raises(BandmateError) as e:
            c.request("analyze", {"path": str(path)})
    assert e.value.code == "not_available" and "ffmpeg" in e.value.message


def test_structured_log_file(daemon):
    import json as _json

    path = os.path.join(daemon.home, "logs", "bandmate.log")
    with open(path, encoding="utf-8") as fh:
        records = [_json.loads(line) for line in fh if line.strip()]
    assert any(r["msg"] == "ready" and "endpoints" in r for r in records)
    assert all({"ts", "level", "logger", "msg"} <= set(r) for r in records)


def test_analyze_needs_exactly_one_input_and_valid_options(daemon, tone):
    with daemon.client() as c:
        for params, field in [({}, "path"), ({"path": tone, "notes": []}, "path"),
                              ({"notes": "C E G"}, "notes"), ({"path": tone, "options": {"stems": 3}}, "stems"),
                              ({"path": tone, "context": {"meter": "7"}}, "meter")]:
            with pytest.raises(BandmateError) as e:
                c.request("analyze", params)
            assert e.value.code == "bad_params" and field in e.value.message, e.value.message
        assert c.ping()["pong"] == "pong"


def test_analyze_a_live_note_list(daemon):
    notes = [{"pitch": p, "start_time": 4.0 * bar, "duration": 4.0, "velocity": 90, "mute": False}
             for bar, chord in enumerate([(57, 60, 64), (53, 57, 60), (52, 56, 59), (57, 60, 64)]) for p in chord]
    with daemon.client() as c:
        job = c.analyze(notes=notes, context={"tempo": 100.0}, wait=True)
    song = job["result"]["song"]
    assert song["source"]["kind"] == "midi" and song["key"]["label"] == "A:minor"
    assert [ch["label"].split("/")[0] for ch in song["chords"] if ch["label"] != "N"][:3] == \
        ["A:min", "F:maj", "E:maj"]
    assert song["chords"][1]["start_beat"] == pytest.approx(4.0, abs=0.1)


def test_a_cached_analysis_is_exported_where_the_new_request_asks(daemon, tmp_path, tone):
    with daemon.client() as c:
        first = c.analyze(tone, out_dir=str(tmp_path / "a"), options={"exports": ["midi"]}, wait=True)
        again = c.analyze(tone, out_dir=str(tmp_path / "b"), options={"exports": ["midi"]}, wait=True)
    assert again["result"]["cached"] is True
    assert first["result"]["song"]["exports"]["midi"].startswith(str(tmp_path / "a"))
    assert again["result"]["song"]["exports"]["midi"].startswith(str(tmp_path / "b"))
    assert (tmp_path / "b" / "tone.chords.mid").exists()


def test_client_says_at_once_when_no_daemon_listens():
    import socket

    from bridge.client import Client, DaemonUnreachable

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # a port nothing listens on
    c = Client(endpoint="tcp://127.0.0.1:%d" % port, pub_endpoint="tcp://127.0.0.1:%d" % port, timeout=30.0)
    t0 = time.monotonic()
    with pytest.raises(DaemonUnreachable, match="no Bandmate daemon listens"):
        c.ping()
    assert time.monotonic() - t0 < 5.0  # not the 30 s timeout
    c.close()


def test_async_client_says_at_once_when_no_daemon_listens():
    import socket

    from bridge.client import DaemonUnreachable

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # a port nothing listens on

    async def go():
        async with AsyncClient(endpoint="tcp://127.0.0.1:%d" % port, pub_endpoint="tcp://127.0.0.1:%d" % port,
                               timeout=30.0) as c:
            await c.ping()

    t0 = time.monotonic()
    with pytest.raises(DaemonUnreachable, match="no Bandmate daemon listens"):
        asyncio.run(go())
    assert time.monotonic() - t0 < 5.0  # not the 30 s timeout


def test_async_client_still_waits_for_a_slow_daemon():
    from protocol import envelope

    ctx = zmq.Context.instance()
    router = ctx.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    port = router.bind_to_random_port("tcp://127.0.0.1")

    def answer_late():  # busy for 1.5 s with the port open: the client keeps waiting past the probe
        if router.poll(10000):
            ident, data = router.recv_multipart()
            time.sleep(1.5)
            router.send_multipart([ident, envelope.encode_reply(envelope.decode_request(data)[0], {"ok": 1})])

    async def go():
        async with AsyncClient(endpoint="tcp://127.0.0.1:%d" % port, pub_endpoint="tcp://127.0.0.1:%d" % port,
                               timeout=10.0) as c:
            return await c.request("ping")

    th = threading.Thread(target=answer_late)
    th.start()
    try:
        assert asyncio.run(go())["ok"] == 1
    finally:
        th.join()
        router.close(0)


def test_client_still_waits_for_a_slow_daemon():
    from bridge.client import Client
    from protocol import envelope

    ctx = zmq.Context.instance()
    router = ctx.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    port = router.bind_to_random_port("tcp://127.0.0.1")

    def answer_late():  # a daemon busy for 1.5 s: the port is open, so the client keeps waiting
        if router.poll(10000):
            ident, data = router.recv_multipart()
            time.sleep(1.5)
            router.send_multipart([ident, envelope.encode_reply(envelope.decode_request(data)[0], {"ok": 1})])

    th = threading.Thread(target=answer_late)
    th.start()
    try:
        with Client(endpoint="tcp://127.0.0.1:%d" % port, pub_endpoint="tcp://127.0.0.1:%d" % port,
                    timeout=10.0) as c:
            assert c.request("ping")["ok"] == 1
    finally:
        th.join()
        router.close(0)
