"""liblo's oscsend and oscdump (Debian liblo-tools) as an independent OSC peer of the daemon."""
import os
import re
import select
import shutil
import socket
import subprocess
import time

import pytest

from protocol.osc import decode_packet, encode_message

pytestmark = pytest.mark.skipif(not (shutil.which("oscsend") and shutil.which("oscdump")),
                                reason="liblo-tools (oscsend, oscdump) not installed")


def _free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _wait_until_bound(port, timeout=10):
    """oscdump is listening once its port can no longer be bound by us."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return
        finally:
            s.close()
        time.sleep(0.05)
    raise AssertionError("oscdump did not bind port %d" % port)


def test_our_encoder_matches_liblo_bytes():
    for types, values, py in [("s", ["id1"], ["id1"]), ("sifs", ["a", "3", "1.5", "x y"], ["a", 3, 1.5, "x y"]),
                              ("sT", ["b"], ["b", True])]:
        raw = subprocess.run(["oscsend", "-", "/bandmate/ping", types] + values, capture_output=True,
                             check=True).stdout
        assert raw == encode_message("/bandmate/ping", py, types)
        assert decode_packet(raw)[0].args == py


def test_oscsend_requests_reach_daemon_and_oscdump_gets_events(daemon):
    port = _free_udp_port()
    dump = subprocess.Popen(["oscdump", "-L", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_until_bound(port)
        daemon_port = str(daemon.osc_port)
        # liblo sends from an ephemeral port, so it names oscdump's port for the events
        subprocess.run(["oscsend", "127.0.0.1", daemon_port, "/bandmate/subscribe", "ssi", "sub1", "job", str(port)],
                       check=True)
        time.sleep(0.2)
        subprocess.run(["oscsend", "127.0.0.1", daemon_port, "/bandmate/selftest", "sf", "job1", "0.2"], check=True)
        # read the pipe's raw bytes: a buffered readline can swallow several lines at once, and select then
        # never reports the ones already sitting in Python's buffer
        raw = b""
        deadline = time.monotonic() + 60  # generous: a loaded 2-core CI box can stall the SQLite job writes
        while time.monotonic() < deadline and not re.search(rb'/bandmate/event/job[^\n]*"done"', raw):
            ready, _, _ = select.select([dump.stdout], [], [], 0.5)
            if ready:
                chunk = os.read(dump.stdout.fileno(), 65536)
                if not chunk:
                    break
                raw += chunk
        text = raw.decode("utf-8", "replace")
        assert "/bandmate/event/job" in text and '"queued"' in text and '"done"' in text, text
        # oscdump prints a timestamp, the address, the types and the values: a job event is sssfs
        # (job_id, state, stage, fraction, message)
        assert "/bandmate/event/job sssfs" in text
        subprocess.run(["oscsend", "127.0.0.1", daemon_port, "/bandmate/unsubscribe", "si", "u1", str(port)],
                       check=True)
    finally:
        dump.terminate()
        dump.wait(5)
    with daemon.osc_client() as osc:
        assert osc.request("ping")["pong"] == "pong"
