"""Test helpers around the fake Live: a host that plays Live's part (owns the Song, records the status bar and
the log, runs Live's tick: deferred edits, the transport, then the script's update_display)."""
import time

import Live
from Live._core import STATE, run_pending


class FakeHost(object):
    """Live's c_instance for one control surface, and the driver of its main-thread tick."""

    def __init__(self, version=(12, 1, 0), tempo=120.0, meter=(4, 4), n_scenes=8):
        STATE.reset(version)  # this thread is Live's main thread from now on
        self._song = Live.Song.Song(tempo=tempo, meter=meter, n_scenes=n_scenes)
        self.messages = []
        self.log = []
        self.surface = None
        self._last = time.monotonic()

    # c_instance ------------------------------------------------------------------------------------------------
    def song(self):
        return self._song

    def show_message(self, message):
        self.messages.append(message)

    def log_message(self, message):
        self.log.append(message)

    # building a Set ------------------------------------------------------------------------------------------
    def add_track(self, midi=True, name=""):
        self._song._new_track(midi, -1, name)
        return self._song.tracks[-1]

    def select(self, clip):
        self._song.view.detail_clip = clip

    # Live's tick -----------------------------------------------------------------------------------------------
    def tick(self):
        now = time.monotonic()
        self._song._advance(now - self._last)
        self._last = now
        run_pending()
        if self.surface is not None:
            self.surface.update_display()

    def run(self, until, timeout=60.0, interval=0.01):
        """Tick (every `interval` s) until until() is true; returns its value. Bounded by `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            self.tick()
            value = until()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError("timed out after %.0f s; status: %r" % (
                    timeout, self.messages[-3:]))
            time.sleep(interval)

    def run_for(self, seconds, interval=0.01):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.tick()
            time.sleep(interval)
