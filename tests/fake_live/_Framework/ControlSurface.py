"""Fake _Framework.ControlSurface: what Live's base class gives a Remote Script (song, status bar, log,
scheduled messages, the ~100 ms update_display tick)."""
from contextlib import contextmanager

import Live
from Live._core import check_thread


class ControlSurface(object):
    def __init__(self, c_instance):
        check_thread("ControlSurface.__init__")
        self._c_instance = c_instance
        self._scheduled = []  # [ticks left, callback, parameter]
        self._in_guard = False
        self._disconnected = False

    def song(self):
        return self._c_instance.song()

    def application(self):
        return Live.Application.get_application()

    def show_message(self, message):
        check_thread("show_message")
        self._c_instance.show_message(message)

    def log_message(self, *message):
        self._c_instance.log_message(" ".join(str(m) for m in message))

    def schedule_message(self, delay_in_ticks, callback, parameter=None):
        self._scheduled.append([int(delay_in_ticks), callback, parameter])

    def update_display(self):
        check_thread("update_display")
        due = [s for s in self._scheduled if s[0] <= 0]
        for s in self._scheduled:
            s[0] -= 1
        self._scheduled = [s for s in self._scheduled if s not in due]
        for _, callback, parameter in due:
            callback() if parameter is None else callback(parameter)

    @contextmanager
    def component_guard(self):
        self._in_guard = True
        try:
            yield
        finally:
            self._in_guard = False

    def disconnect(self):
        self._disconnected = True
