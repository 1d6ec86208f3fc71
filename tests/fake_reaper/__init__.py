"""Run the Bandmate ReaScripts in Lua 5.4 (lupa) against fake_reaper.lua, a recording stand-in for REAPER's API."""
import os
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "fake_reaper.lua")


class FakeReaper:
    """One Lua state with the fake `reaper` and `gfx` tables. `F` is the fake's module table, `S` its state."""

    def __init__(self, project_path, resource_path=None):
        from lupa import lua54

        self.lua = lua54.LuaRuntime(unpack_returned_tuples=True)
        self.F = self.lua.eval("dofile")(FAKE)
        self.S = self.F.S
        self.F.now = time.monotonic
        self.S.project_path = str(project_path)
        self.S.resource_path = str(resource_path or project_path)

    def table(self, value):
        """A Python list/dict as a Lua table (nested)."""
        if isinstance(value, dict):
            return self.lua.table_from({k: self.table(v) for k, v in value.items()})
        if isinstance(value, (list, tuple)):
            return self.lua.table_from([self.table(v) for v in value])
        return value

    def run(self, script):
        """Run a script file as REAPER runs an action; returns (ok, error) of the Lua pcall."""
        return self.F.run_script(str(script))

    def relaunch(self, script):
        return self.F.relaunch(str(script))

    def tick(self, until=None, timeout=30.0, interval=0.05):
        """Run deferred functions (as REAPER's defer loop would) until `until()` is true, the queue is empty, or
        `timeout` seconds pass. Returns the number of rounds."""
        end = time.monotonic() + timeout
        rounds = 0
        while time.monotonic() < end:
            n = self.F.run_defer()
            rounds += 1
            if until is not None and until():
                return rounds
            if n == 0 and until is None:
                return rounds
            time.sleep(interval)
        return rounds

    # ---- reading the fake project back -----------------------------------------------------------------------
    def messages(self):
        return [m.msg for m in self.S.messages.values()]

    def console(self):
        return "".join(self.S.console.values())

    def markers(self):
        return [dict(isrgn=bool(m.isrgn), pos=m.pos, end=m.rgnend, name=m.name, id=m.id)
                for m in self.S.markers.values()]

    def proj_ext(self, key, section="Bandmate"):
        sec = self.S.proj_ext[section]
        return None if sec is None else sec[key]

    def tracks(self):
        return list(self.S.tracks.values())

    def track(self, name):
        for tr in self.S.tracks.values():
            if tr.name == name:
                return tr
        return None

    @staticmethod
    def notes(take):
        return [dict(start=n.s, end=n.e, pitch=n.pitch, chan=n.chan, vel=n.vel, muted=bool(n.muted))
                for n in take.notes.values()]

    def gfx_strings(self):
        return [s for s in self.S.gfx.strings.values()]
