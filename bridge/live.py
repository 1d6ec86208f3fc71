"""Client side of live chord analysis: stream an audio file (or the daemon's input device) into a live session
and receive its events. Used by `bandmate live`; works against a daemon (ZeroMQ) or the in-process --local one.
"""
import base64
import json
import os
import queue
import time

import numpy as np

BLOCK_S = 0.1  # seconds of audio per live_push (about 35 kB of base64 at 44.1 kHz stereo float32)


def encode_audio(block, fmt="float32"):
    """base64 text of a (frames, channels) block as interleaved little-endian float32 (or int16)."""
    x = np.asarray(block, dtype=np.float32)
    if fmt == "int16":
        x = np.clip(np.round(x * 32767.0), -32768, 32767).astype("<i2")
    else:
        x = x.astype("<f4")
    return base64.b64encode(np.ascontiguousarray(x).tobytes()).decode("ascii")


class EventFeed:
    """Live events of one session, from the daemon's PUB socket or, for a LocalClient, from its service."""

    def __init__(self, client):
        self.q = queue.Queue()
        self.sub = None
        self.session = None
        if hasattr(client, "service"):  # --local: the service publishes in this process
            self._client = client
            client.service.sinks.append(self._sink)
        else:
            import zmq

            self.sub = zmq.Context.instance().socket(zmq.SUB)
            self.sub.setsockopt(zmq.LINGER, 0)
            self.sub.setsockopt(zmq.SUBSCRIBE, b"live")
            self.sub.connect(client.pub_endpoint)
            time.sleep(0.2)  # a SUB socket misses what is published before its subscription lands

    def _sink(self, topic, event):
        if topic == "live":
            self.q.put(event)

    def get(self, timeout=0.0):
        """Events that arrived (waiting up to `timeout` seconds for the first), of this feed's session."""
        out = []
        if self.sub is not None:
            while self.sub.poll(int(timeout * 1000)):
                ev = json.loads(self.sub.recv_multipart()[1])
                timeout = 0
                if self.session is None or ev.get("session") == self.session:
                    out.append(ev)
        else:
            try:
                while True:
                    ev = self.q.get(timeout=timeout) if timeout else self.q.get_nowait()
                    timeout = 0
                    if self.session is None or ev.get("session") == self.session:
                        out.append(ev)
            except queue.Empty:
                pass
        return out

    def close(self):
        if self.sub is not None:
            self.sub.close(0)
        else:
            try:
                self._client.service.sinks.remove(self._sink)
            except ValueError:
                pass


class ClockFile:
    """The DAW transport as a small JSON file the DAW script rewrites, {"tempo", "beat", "playing", "stop"}: how
    a script without sockets (REAPER's Lua) drives a live session's clock and ends it."""

    def __init__(self, path, stale_s=30.0):
        self.path, self.stale_s = path, stale_s
        self.last, self.mtime, self.seen = None, None, time.monotonic()

    def tick(self, client, session):
        """Send live_clock when the file changed. False when it says stop, or went unchanged for stale_s seconds
        (the DAW is gone)."""
        try:
            mtime = os.path.getmtime(self.path)
            with open(self.path, encoding="utf-8") as fh:
                clock = json.load(fh)
        except (OSError, ValueError):
            return time.monotonic() - self.seen < self.stale_s
        if mtime != self.mtime or clock != self.last:
            self.mtime, self.seen = mtime, time.monotonic()
        if not isinstance(clock, dict):
            return time.monotonic() - self.seen < self.stale_s
        if clock.get("stop"):
            return False
        if clock != self.last:
            self.last = clock
            client.request("live_clock", {"session": session, "tempo": float(clock.get("tempo") or 120.0),
                                          "beat": float(clock.get("beat") or 0.0),
                                          "playing": bool(clock.get("playing", True))})
        return time.monotonic() - self.seen < self.stale_s


def stream_file(client, path, speed=1.0, key=None, on_event=None, block_s=BLOCK_S, fmt="float32", tail_s=1.0,
                midi_port=None, start=0.0, on_block=None, latency=None, tuning=None):
    """Stream an audio file into a new push session at `speed` x real time (0: as fast as the daemon answers),
    from `start` seconds into the file, calling on_event(event) as events arrive; `midi_port` plays the chords
    there; `tuning` (cents off A440) moves the chord bands with the music. After each block on_block(session) may
    return False to stop early. Returns (events, live_stop result)."""
    import soundfile as sf

    feed = EventFeed(client)
    events = []

    def drain(timeout=0.0):
        for ev in feed.get(timeout):
            events.append(ev)
            if on_event is not None:
                on_event(ev)

    try:
        with sf.SoundFile(os.path.abspath(path)) as f:
            started = client.request("live_start", {"source": "push", "sample_rate": f.samplerate,
                                                    "channels": f.channels, "key": key,
                                                    "midi_port": midi_port, "latency": latency,
                                                    "tuning": tuning})
            feed.session = sid = started["session"]
            block = max(1, int(f.samplerate * block_s))
            if start and start > 0:
                f.seek(min(f.frames, int(round(start * f.samplerate))))
            t0, sent = time.monotonic(), 0
            for x in f.blocks(blocksize=block, dtype="float32", always_2d=True):
                client.request("live_push", {"session": sid, "audio": encode_audio(x, fmt), "format": fmt})
                if on_block is not None and on_block(sid) is False:
                    break
                sent += len(x)
                if speed and speed > 0:
                    wait = t0 + sent / f.samplerate / speed - time.monotonic()
                    drain(max(0.0, wait))
                    left = t0 + sent / f.samplerate / speed - time.monotonic()
                    if left > 0:
                        time.sleep(left)
                else:
                    drain()
        result = client.request("live_stop", {"session": sid})
        end = time.monotonic() + tail_s
        while time.monotonic() < end and not any(e.get("type") == "ended" for e in events):
            drain(0.05)
        return events, result
    finally:
        feed.close()
