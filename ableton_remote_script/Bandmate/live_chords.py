"""Live chords: the daemon listens (an input device, e.g. a loopback of Live's master, or a session another
client feeds), the script subscribes to its 'live' events over OSC, forwards Live's beat clock and tempo on the
tick, and shows the current chord with its Roman numeral in Live's status bar."""
import json
import os

from .handler import Handler
from .transport import DaemonError


def chord_text(event):
    """'Am  vi  (C major)' from a chord event."""
    label = event.get("label") or "N"
    if label == "N":
        return "no chord"
    root, quality = event.get("root") or label.split(":")[0], event.get("quality") or ""
    short = {"maj": "", "min": "m", "7": "7", "maj7": "maj7", "min7": "m7", "dim": "dim", "aug": "aug",
             "dim7": "dim7", "hdim7": "m7b5", "sus2": "sus2", "sus4": "sus4"}.get(quality, quality)
    name = root + short
    if event.get("bass") and event.get("bass") != root:
        name += "/" + event["bass"]
    parts = [name]
    if event.get("roman_numeral"):
        parts.append(event["roman_numeral"])
    if event.get("key"):
        parts.append("(%s)" % str(event["key"]).replace(":", " "))
    return "  ".join(parts)


class LiveChordsHandler(Handler):
    name = "live"

    def __init__(self, surface):
        Handler.__init__(self, surface)
        self.session = None       # the session whose events we show
        self.owned = False        # True when this script started it (and so stops it)
        self.subscribed = False
        self.current = None       # the last chord event
        self.last_chord = None    # the last chord event that named a chord (not 'N')
        self.events = 0
        self.clock_sent = 0
        self._next_clock = 0.0
        self._clock_call = None
        self._counter = 0

    @property
    def active(self):
        return self.session is not None

    def toggle(self):
        if self.active:
            return self.stop()
        return self.start()

    def start(self, session=None):
        """Flow: subscribe, then start a device session (or attach to `session`, one that already runs)."""
        if self.active:
            self.status("live chords already running (session %s)" % self.session)
            return
        yield from self._subscribe()
        if session:
            self.session, self.owned = session, False
            self.status("live chords: following session %s" % session)
        else:
            params = self.start_params()
            try:
                reply = yield from self.link.call("live_start", params)
            except DaemonError:
                yield from self._unsubscribe()
                raise
            self.session, self.owned = reply["session"], True
            self.status("live chords on (session %s): play something" % self.session)
        self.current, self.last_chord, self.events, self._next_clock = None, None, 0, 0.0

    def start_params(self):
        """live_start's params from the settings; the tuning is `live_tuning` (cents) where set, else the last
        analysis' where there is one (music tuned off A440 reads best with it)."""
        self._counter += 1
        params = {"source": self.settings["live_source"] or "device",
                  "session": "ableton-%d-%d" % (os.getpid(), self._counter)}
        if self.settings.get("live_device"):
            params["device"] = str(self.settings["live_device"])
        if self.settings.get("live_key"):
            params["key"] = self.settings["live_key"]
        if self.settings.get("live_latency"):
            params["latency"] = self.settings["live_latency"]
        tuning = self.settings.get("live_tuning")
        if tuning in (None, ""):
            last = getattr(self.surface.analysis, "last", None) or {}
            tuning = ((last.get("song") or {}).get("tuning") or {}).get("cents")
        try:
            params["tuning"] = max(-50.0, min(50.0, float(tuning)))
        except (TypeError, ValueError):   # none known, or a setting that is not a number: the daemon reads it
            pass
        return params

    def stop(self):
        """Flow: stop our session (or leave the one we followed) and unsubscribe."""
        session, owned = self.session, self.owned
        self.session, self.owned, self._clock_call = None, False, None
        if session and owned:
            try:
                yield from self.link.call("live_stop", {"session": session})
            except DaemonError as exc:
                if exc.code != "not_found":  # already ended: nothing to stop
                    raise
        yield from self._unsubscribe()
        self.status("live chords off")

    def _subscribe(self):
        yield from self.link.call("subscribe", {"topics": "live"})
        self.subscribed = True

    def _unsubscribe(self):
        if self.subscribed:
            self.subscribed = False
            try:
                yield from self.link.call("unsubscribe", {})
            except DaemonError:
                pass

    # the tick ------------------------------------------------------------------------------------------------

    def tick(self):
        """Forward Live's clock (every clock_interval seconds) while a session runs."""
        if self.session is None:
            return
        call = self._clock_call
        if call is not None and call.done:
            self._clock_call = None
            if call.error is not None and call.error.code == "not_found":
                self.status("live chords ended (the daemon has no session %s)" % self.session)
                self.session, self.owned = None, False
                return
        now = self.surface.clock()
        if now < self._next_clock:
            return
        self._next_clock = now + float(self.settings["clock_interval"])
        song = self.song()
        self._clock_call = self.link.send("live_clock", {
            "session": self.session, "tempo": float(song.tempo), "beat": float(song.current_song_time),
            "playing": bool(song.is_playing)})
        self.clock_sent += 1

    def on_event(self, args):
        """An OSC event at /bandmate/event/live: one JSON argument."""
        try:
            event = json.loads(args[0])
        except (IndexError, TypeError, ValueError):
            return
        if not isinstance(event, dict) or self.session is None or event.get("session") != self.session:
            return
        self.events += 1
        kind = event.get("type")
        if kind == "chord":
            self.current = event
            if event.get("label") not in (None, "N", "X"):
                self.last_chord = event
            text = chord_text(event)
            self.status(text)
            if self.settings.get("live_clip_name"):
                clip = self.song().view.detail_clip
                if clip is not None:
                    clip.name = "Bandmate: " + text
        elif kind == "key":
            self.status("key %s" % str(event.get("key", "")).replace(":", " "))
        elif kind == "ended":
            self.status("live chords ended (%s)" % (event.get("reason") or "stopped"))
            self.session, self.owned = None, False
            self.surface.start_flow("live-unsubscribe", self._unsubscribe())
        elif kind in ("clipping", "xrun", "sample_rate_changed"):
            self.status("live input: %s" % kind.replace("_", " "))
