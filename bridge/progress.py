"""A dependency-free progress bar for long commands (stderr; one line per stage when not a terminal)."""
import sys
import time


class ProgressBar:
    def __init__(self, label="", stream=None, width=30):
        self.stream = stream or sys.stderr
        self.label = label
        self.width = width
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._stage = None
        self._last = 0.0
        self.t0 = time.monotonic()

    def __call__(self, stage, fraction):
        fraction = max(0.0, min(1.0, fraction or 0.0))
        if self.tty:
            now = time.monotonic()
            if now - self._last < 0.05 and fraction < 1.0 and stage == self._stage:
                return
            self._last = now
            done = int(self.width * fraction)
            self.stream.write("\r%s [%s%s] %3d%% %-12s %5.1fs" % (self.label, "#" * done, "." * (self.width - done),
                                                                  fraction * 100, stage[:12], now - self.t0))
            self.stream.flush()
        elif stage != self._stage:
            self.stream.write("%s %s %d%%\n" % (self.label, stage, fraction * 100))
            self.stream.flush()
        self._stage = stage

    def close(self):
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
