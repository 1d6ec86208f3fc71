"""Live sessions: one LiveChordTracker (models/analysis/live.py) per session, fed by a client pushing audio over
ZeroMQ (`live_push`) or by an input device through sounddevice; their events go out on the 'live' topic (PUB
and OSC subscribers), each tagged with its session id.

Conditions become events rather than errors where the session can go on: clipping, xruns (device overflow), a
sample-rate change between pushes (the tracker restarts at the new rate, audio time runs on), a client that
stops pushing (the session ends with {type: 'ended', reason: 'idle'}), a device that vanishes ('device_lost').
"""
import asyncio
import base64
import binascii
import logging
import queue
import threading
import time
import uuid

import numpy as np

from protocol import BandmateError

log = logging.getLogger("bandmate.live")

MAX_SESSIONS = 16
IDLE_S = 10.0  # a push session whose client sent nothing for this long ends
# the engine a session runs when live_start names none: fast, the causal live network (bench/results/live.md:
# it names a change in about 0.25 s where steady takes 0.45 s, at the same stability); steady when its
# checkpoint is missing
DEFAULT_LATENCY = "fast"
FORMATS = {"float32": np.float32, "int16": np.int16}


def _bad(message):
    return BandmateError("bad_params", message)


class ChordMidiOut:
    """Plays each live chord's notes on a MIDI output port (mido): the bass in octave 2, the chord from middle
    C up, the previous chord released first."""

    def __init__(self, port_name, channel=0, velocity=80):
        try:
            import mido

            self.port = mido.open_output(port_name or None)
        except ImportError as exc:
            raise BandmateError("not_available", "MIDI out needs mido with a backend such as python-rtmidi (%s)"
                                % exc)
        except Exception as exc:  # no backend, no port of that name, no MIDI on this OS
            raise BandmateError("not_available", "cannot open MIDI output %r: %s" % (port_name or "default", exc))
        self.mido, self.channel, self.velocity, self.sounding = mido, channel, velocity, []

    @staticmethod
    def chord_notes(label):
        from models.theory.harmony import QUALITIES, parse_harte

        parsed = parse_harte(label) if label not in (None, "N", "X") else None
        if parsed is None:
            return []
        root, quality, bass = parsed
        notes = [60 + root + iv for iv in QUALITIES.get(quality, ((0, 4, 7), ""))[0]]
        return [36 + bass] + notes

    def play(self, label):
        self.release()
        self.sounding = self.chord_notes(label)
        for n in self.sounding:
            self.port.send(self.mido.Message("note_on", note=n, velocity=self.velocity, channel=self.channel))

    def release(self):
        for n in self.sounding:
            self.port.send(self.mido.Message("note_off", note=n, velocity=0, channel=self.channel))
        self.sounding = []

    def close(self):
        try:
            self.release()
            self.port.close()
        except Exception:  # the port may be gone already
            pass


class LiveSession:
    def __init__(self, session_id, source, sample_rate, channels, key, publish, make_tracker, idle_s):
        self.id, self.source, self.key = session_id, source, key
        self.sample_rate, self.channels = sample_rate, channels
        self.publish, self.make_tracker, self.idle_s = publish, make_tracker, idle_s
        self.tracker = make_tracker(sample_rate, channels, key)
        self.offset_s = 0.0  # audio seconds before the current tracker (after a sample-rate change)
        self.last_push = time.monotonic()
        self.lock = asyncio.Lock()
        self.n_events = 0
        self.stream = None  # sounddevice stream for device sessions
        self.worker = None
        self.queue = None
        self.ended = False
        self.midi = None  # ChordMidiOut when the session plays its chords to a MIDI port

    @property
    def audio_s(self):
        return self.offset_s + self.tracker.audio_s

    def emit(self, event):
        event = dict(event)
        for k in ("time", "emitted_at"):
            if isinstance(event.get(k), (int, float)):
                event[k] = round(event[k] + self.offset_s, 3)
        if self.midi is not None and event.get("type") == "chord":
            try:
                self.midi.play(event.get("label"))
            except Exception as exc:  # a port that vanished stops MIDI out, not the session
                log.warning("MIDI out failed: %s", exc)
                self.midi = None
        event["session"] = self.id
        event["server_time"] = round(time.time(), 4)  # wall clock, for clients that measure their own latency
        self.n_events += 1
        self.publish("live", event)

    def feed(self, block):
        """Run the tracker on one block (a worker thread); returns its events (not yet offset)."""
        return self.tracker.push(block)

    def change_rate(self, sample_rate):
        old = self.sample_rate
        self.offset_s += self.tracker.audio_s
        self.sample_rate = sample_rate
        # a tuning told or already read carries over; one still being read is read again at the new rate
        self.tracker = self.make_tracker(sample_rate, self.channels, self.tracker.key_label or self.key,
                                         self.tracker.settled_tuning)
        self.emit({"type": "sample_rate_changed", "from": old, "to": sample_rate, "time": 0.0,
                   "emitted_at": 0.0})


class LiveSessions:
    """The live engine of one Service."""

    def __init__(self, service, idle_s=IDLE_S):
        self.service = service
        self.sessions = {}
        self.idle_s = idle_s
        self._model = None
        self._watch = None

    # -- model -----------------------------------------------------------------------------------------------
    def _chord_model(self, latency=None):
        """The warm network of a latency mode: steady, the offline chord network run incrementally at the
        stream's edge; fast, the causal live network. Loaded into the pool on first use when the daemon started
        without it; not_available with the reason when it cannot load."""
        pool = self.service.pool
        name = "live_chords" if (latency or DEFAULT_LATENCY) == "fast" else "chords"
        try:
            return pool.get(name)
        except BandmateError:
            pass
        if name in pool.specs:
            pool.load([name])
        return pool.get(name)

    def _make_tracker_factory(self, model, tuning=None):
        from models.analysis.live import LiveChordTracker, LiveInputError

        def make(sample_rate, channels, key, tuning_cents=tuning):
            try:
                return LiveChordTracker(model, sample_rate, key=key, channels=channels, tuning_cents=tuning_cents)
            except LiveInputError as exc:
                raise _bad(str(exc))
        return make

    # -- requests --------------------------------------------------------------------------------------------
    async def start(self, p, peer):
        source = p.get("source", "push")
        if source not in ("push", "device"):
            raise _bad("field 'source': must be 'push' or 'device'")
        if source == "push" and peer.transport == "osc":
            raise _bad("field 'source': audio cannot travel over OSC; use 'device', or push over ZeroMQ")
        sr = p.get("sample_rate", 44100)
        if not 8000 <= sr <= 384000:
            raise _bad("field 'sample_rate': must be 8000..384000 Hz")
        channels = p.get("channels", 2)
        if not 1 <= channels <= 32:
            raise _bad("field 'channels': must be 1..32")
        key = p.get("key") or None
        if key is not None:
            from models.theory.key import parse_key

            if parse_key(key) is None:
                raise _bad("field 'key': not a key label like 'Eb:major'")
        requested = p.get("latency") or None
        latency = requested or DEFAULT_LATENCY
        if latency not in ("steady", "fast"):
            raise _bad("field 'latency': must be 'steady' or 'fast'")
        tuning = p.get("tuning")   # None: the tracker reads it from the first seconds of sound
        if tuning is not None and not -50.0 <= tuning <= 50.0:
            raise _bad("field 'tuning': must be -50..50 cents")
        idle_s = p.get("idle_timeout", self.idle_s)
        if not 0 < idle_s <= 3600:
            raise _bad("field 'idle_timeout': must be in (0, 3600] seconds")
        sid = p.get("session") or uuid.uuid4().hex[:12]
        if sid in self.sessions:
            raise _bad("field 'session': session %r is already running" % sid)
        if len(self.sessions) >= MAX_SESSIONS:
            raise BandmateError("busy", "at most %d live sessions at once" % MAX_SESSIONS)
        device = None
        if source == "device":
            device = self._check_device(p.get("device"), sr, channels)
        midi = ChordMidiOut(p["midi_port"]) if p.get("midi_port") is not None else None
        loop = asyncio.get_running_loop()
        try:
            try:
                model = await loop.run_in_executor(None, self._chord_model, latency)
            except BandmateError:
                if requested is not None or latency == "steady":
                    raise
                # the default engine's network is missing (not trained, deleted): the other one serves, and the
                # started event and the reply say which
                latency = "steady"
                model = await loop.run_in_executor(None, self._chord_model, latency)
        except Exception:
            if midi is not None:
                midi.close()
            raise
        session = LiveSession(sid, source, int(sr), int(channels), key, self.service.publish,
                              self._make_tracker_factory(model, tuning), idle_s)
        session.midi = midi
        if source == "device":
            try:
                self._open_device(session, device, loop)
            except Exception:
                if midi is not None:
                    midi.close()
                raise
        self.sessions[sid] = session
        self._ensure_watch(loop)
        session.emit({"type": "started", "source": source, "sample_rate": sr, "channels": channels,
                      "key": key, "latency": latency, "time": 0.0, "emitted_at": 0.0})
        return {"session": sid, "sample_rate": sr, "channels": channels, "latency": latency}

    def _get(self, sid):
        s = self.sessions.get(sid)
        if s is None:
            raise BandmateError("not_found", "no live session %r (it may have ended)" % sid)
        return s

    async def push(self, p, peer):
        if peer.transport == "osc":
            raise _bad("live_push is ZeroMQ only: audio never travels over UDP")
        s = self._get(p["session"])
        if s.source != "push":
            raise _bad("session %r reads a device; it takes no pushed audio" % s.id)
        fmt = p.get("format", "float32")
        if fmt not in FORMATS:
            raise _bad("field 'format': must be float32 or int16")
        try:
            raw = base64.b64decode(p["audio"], validate=True)
        except (binascii.Error, ValueError):
            raise _bad("field 'audio': not valid base64")
        dtype = np.dtype(FORMATS[fmt]).newbyteorder("<")
        frame_bytes = dtype.itemsize * s.channels
        if len(raw) % frame_bytes:
            raise _bad("field 'audio': %d bytes is not a whole number of %d-channel %s frames"
                       % (len(raw), s.channels, fmt))
        x = np.frombuffer(raw, dtype=dtype).reshape(-1, s.channels)
        x = x.astype(np.float32) / 32768.0 if fmt == "int16" else x.astype(np.float32)
        if not np.all(np.isfinite(x)):
            raise _bad("field 'audio': contains NaN or infinite samples")
        s.last_push = time.monotonic()
        sr = p.get("sample_rate")
        async with s.lock:
            if s.ended:
                raise BandmateError("not_found", "live session %r has ended" % s.id)
            if sr is not None and int(sr) != s.sample_rate:
                if not 8000 <= sr <= 384000:
                    raise _bad("field 'sample_rate': must be 8000..384000 Hz")
                s.change_rate(int(sr))
            try:
                events = await asyncio.get_running_loop().run_in_executor(None, s.feed, x)
            except ValueError as exc:
                raise _bad(str(exc))
            for ev in events:
                s.emit(ev)
            return {"ok": True, "audio_s": round(s.audio_s, 3), "events": len(events)}

    def clock(self, p, peer):
        s = self._get(p["session"])
        tempo = p.get("tempo", 120.0)
        if not 1 <= tempo <= 999:
            raise _bad("field 'tempo': must be 1..999 BPM")
        s.tracker.push_clock(tempo, p.get("beat", 0.0), p.get("playing", True))
        return {"ok": True, "audio_s": round(s.audio_s, 3)}

    async def stop(self, p, peer):
        s = self._get(p["session"])
        async with s.lock:
            events = await asyncio.get_running_loop().run_in_executor(None, s.tracker.flush)
        for ev in events:
            s.emit(ev)
        self._end(s, "stopped")
        return {"session": s.id, "audio_s": round(s.audio_s, 3), "events": s.n_events,
                "cpu_per_audio_s": round(s.tracker.cpu_per_audio_s(), 4)}

    def status(self):
        return [{"session": s.id, "source": s.source, "audio_s": round(s.audio_s, 3), "events": s.n_events,
                 "key": s.tracker.key_label} for s in self.sessions.values()]

    def _end(self, s, reason, message=""):
        if s.ended:
            return
        s.ended = True
        self.sessions.pop(s.id, None)
        if s.stream is not None:
            try:
                s.stream.close()
            except Exception:  # the device may already be gone
                pass
        if s.queue is not None:
            s.queue.put(None)
        if s.midi is not None:
            s.midi.close()
        s.emit({"type": "ended", "reason": reason, "message": message, "time": s.tracker.audio_s,
                "emitted_at": s.tracker.audio_s})

    def close(self):
        for s in list(self.sessions.values()):
            self._end(s, "daemon_stopping")
        if self._watch is not None:
            self._watch.cancel()

    # -- idle sessions ---------------------------------------------------------------------------------------
    def _ensure_watch(self, loop):
        if self._watch is None or self._watch.done():
            self._watch = loop.create_task(self._watch_idle())

    async def _watch_idle(self):
        while self.sessions:
            await asyncio.sleep(0.25)
            now = time.monotonic()
            for s in list(self.sessions.values()):
                if s.source == "push" and now - s.last_push > s.idle_s and not s.lock.locked():
                    self._end(s, "idle", "no audio pushed for %.1f s" % s.idle_s)

    # -- devices ---------------------------------------------------------------------------------------------
    def _check_device(self, device, sr, channels):
        sd = sounddevice_or_error()
        try:
            info = sd.query_devices(device if device not in (None, "") else None, "input")
        except (ValueError, sd.PortAudioError) as exc:
            raise BandmateError("not_available", "no input device %s: %s"
                                % (repr(device) if device else "(default)", exc))
        if info.get("max_input_channels", 0) < channels:
            raise BandmateError("not_available", "device %r has %d input channels; %d asked"
                                % (info.get("name"), info.get("max_input_channels", 0), channels))
        return info["name"] if device not in (None, "") else None

    def _open_device(self, s, device, loop):
        sd = sounddevice_or_error()
        s.queue = queue.Queue(maxsize=256)

        def publish(ev):
            loop.call_soon_threadsafe(s.emit, ev)

        def callback(indata, frames, time_info, status):
            if status and status.input_overflow:
                publish({"type": "xrun", "time": s.tracker.audio_s, "emitted_at": s.tracker.audio_s})
            try:
                s.queue.put_nowait(indata.copy())
            except queue.Full:
                publish({"type": "xrun", "time": s.tracker.audio_s, "emitted_at": s.tracker.audio_s,
                         "message": "analysis fell behind; a block was dropped"})

        def finished():
            if not s.ended:
                loop.call_soon_threadsafe(self._end, s, "device_lost", "the input stream stopped")

        def work():
            while True:
                block = s.queue.get()
                if block is None:
                    return
                try:
                    for ev in s.feed(block):
                        publish(ev)
                except Exception as exc:
                    loop.call_soon_threadsafe(self._end, s, "error", str(exc))
                    return

        try:
            s.stream = sd.InputStream(samplerate=s.sample_rate, channels=s.channels, device=device,
                                      dtype="float32", callback=callback, finished_callback=finished)
            s.stream.start()
        except Exception as exc:
            raise BandmateError("not_available", "cannot open input device %r: %s" % (device or "default", exc))
        s.worker = threading.Thread(target=work, daemon=True, name="live-" + s.id)
        s.worker.start()


def sounddevice_or_error():
    """The sounddevice module, or not_available saying why (not installed, or no PortAudio library)."""
    try:
        import sounddevice
    except ImportError as exc:
        raise BandmateError("not_available", "live input devices need the sounddevice package (%s)" % exc)
    except OSError as exc:  # sounddevice imports but PortAudio is missing
        raise BandmateError("not_available", "live input devices need PortAudio: %s" % exc)
    return sounddevice


def list_devices():
    """Input devices [{index, name, channels, sample_rate}] or BandmateError(not_available) saying why none."""
    sd = sounddevice_or_error()
    try:
        devices = sd.query_devices()
    except Exception as exc:
        raise BandmateError("not_available", "cannot list audio devices: %s" % exc)
    out = [{"index": i, "name": d["name"], "channels": d["max_input_channels"],
            "sample_rate": d["default_samplerate"]} for i, d in enumerate(devices) if d["max_input_channels"] > 0]
    if not out:
        raise BandmateError("not_available", "no audio input devices on this machine")
    return out
