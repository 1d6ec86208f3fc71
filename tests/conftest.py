"""Shared fixtures: a real daemon process on free loopback ports with its own data dir."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class DaemonProcess:
    def __init__(self, home, extra_args=(), env=None):
        self.home = str(home)
        self.extra_args = list(extra_args)
        self.env = dict(os.environ, BANDMATE_HOME=self.home, BANDMATE_CONFIG=os.path.join(self.home, "none.toml"),
                        **(env or {}))
        self.proc = None
        self.lines = []

    def start(self, timeout=60):
        state = os.path.join(self.home, "daemon.json")
        if os.path.exists(state):
            os.remove(state)
        args = [sys.executable, "-m", "bridge.cli", "serve", "--zmq-port", "0", "--pub-port", "0", "--osc-port", "0"]
        self.proc = subprocess.Popen(args + self.extra_args, cwd=ROOT, env=self.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("daemon exited early:\n" + "".join(self.lines))
            self.lines.append(line)
            if line.startswith("ready"):
                break
        else:
            raise RuntimeError("daemon not ready in time:\n" + "".join(self.lines))
        with open(state) as fh:
            self.endpoints = json.load(fh)["endpoints"]
        # keep draining stdout so the daemon never blocks on a full pipe
        import threading
        threading.Thread(target=self._drain, daemon=True).start()
        return self

    def _drain(self):
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def zmq(self):
        return self.endpoints["zmq"]

    @property
    def pub(self):
        return self.endpoints["pub"]

    @property
    def osc_port(self):
        return int(self.endpoints["osc"].rsplit(":", 1)[1])

    def client(self, **kw):
        from bridge.client import Client

        return Client(endpoint=self.zmq, pub_endpoint=self.pub, **kw)

    def osc_client(self, **kw):
        from bridge.osc import OscClient

        return OscClient("127.0.0.1", self.osc_port, **kw)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    d = DaemonProcess(tmp_path_factory.mktemp("home"), ["--models", "none"]).start()
    yield d
    d.stop()


@pytest.fixture
def make_daemon(tmp_path):
    made = []

    def make(extra_args=("--models", "none"), home=None, env=None):
        d = DaemonProcess(home or tmp_path / ("home%d" % len(made)), extra_args, env)
        made.append(d)
        return d.start()

    yield make
    for d in made:
        d.stop()


def render_songbook_song(out, seed, duration):
    """One songbook song rendered with TimGM6mb into `out`: (out, index entry, its song description). Needs the
    mma and fluidsynth programs."""
    from models.songbook.factory import make_songbook

    make_songbook(1, seed=seed, out=out, workers=1, duration=duration, soundfonts=["TimGM6mb"], progress=False)
    with open(os.path.join(out, "index.json")) as fh:
        entry = json.load(fh)["songs"][0]
    with open(os.path.join(out, entry["paths"]["json"])) as fh:
        truth = json.load(fh)
    return out, entry, truth


def write_tone(path, seconds=2.0, sr=44100, channels=2, freq=440.0, amp=0.5, subtype=None, fmt=None):
    t = np.arange(int(seconds * sr)) / sr
    x = amp * np.sin(2 * np.pi * freq * t)
    data = np.stack([x] * channels, axis=1) if channels > 1 else x
    sf.write(str(path), data, sr, subtype=subtype, format=fmt)
    return str(path)


@pytest.fixture
def tone(tmp_path):
    return write_tone(tmp_path / "tone.wav")
