"""The control surface: a thin tick on Live's main thread. Each tick reads the daemon link, runs queued actions
and steps the running flows (generators that yield while they wait for the daemon or for Live).

Live calls update_display about every 100 ms on its main thread; every Live API call of this script happens
inside it (or in __init__/disconnect, which Live also calls on that thread). Nothing blocks, no threads."""
import json
import os
import time
import traceback

from _Framework.ControlSurface import ControlSurface

from . import settings as settings_mod
from .analysis import AnalysisHandler
from .generation import GenerationHandler
from .handler import UserError
from .live_chords import LiveChordsHandler
from .transport import DaemonError, DaemonLink
from .triggers import ClipNameTriggers, tag_of

VERSION = "0.1"
PROTOCOL = "1.0"  # the wire protocol this script speaks (protocol.PROTOCOL_VERSION)
MAX_FLOW_STEPS = 8  # flows stepped per tick: bounded work on Live's main thread


class Bandmate(ControlSurface):
    """Bandmate's Remote Script: analyse clips, generate stems, name chords live, via the local daemon."""

    def __init__(self, c_instance, settings=None, clock=time.monotonic):
        ControlSurface.__init__(self, c_instance)
        self.clock = clock
        problem = ""
        if settings is None:
            settings, problem = settings_mod.load()
        self.settings = settings
        self.link = DaemonLink(settings_mod.daemon_address(settings), settings["listen_port"], settings["token"],
                               settings["request_timeout"], clock)
        self.link.on_event = self._on_event
        self.link.on_command = self._on_command
        self.analysis = AnalysisHandler(self)
        self.generation = GenerationHandler(self, self.analysis)
        self.live = LiveChordsHandler(self)
        # The address table: /bandmate_live/<name> (and clip-name tags) -> handler.
        self.commands = {
            "analyze_selected": lambda args: self.analysis.run(),
            "analyze": lambda args: self.analysis.run(),
            "generate": lambda args: self.generation.run(args[0] if args and args[0] else None),
            "live_toggle": lambda args: self.live.toggle(),
            "live_start": lambda args: self.live.start(),
            "live_attach": lambda args: self.live.start(session=str(args[0]) if args else None),
            "live_stop": lambda args: self.live.stop(),
        }
        self.flows = []          # [(name, generator)]
        self.queued = []         # [(action, clip)] from clip-name listeners
        self.last_status = ""
        self.last_error = None   # (code, message) of the last failed action
        self.ticks = 0
        self.triggers = None
        with self.component_guard():
            try:
                self.link.open()
            except OSError as exc:
                problem = "cannot open a UDP socket (%s)" % exc
            if settings.get("name_triggers", True):
                self.triggers = ClipNameTriggers(self.song(), self._queue_tag)
        self.log_message("Bandmate %s: daemon %s:%d, commands on UDP %s" % (
            VERSION, self.link.address[0], self.link.address[1], self.link.port))
        self.status(problem or "ready (daemon %s:%d, commands on UDP port %s)" % (
            self.link.address[0], self.link.address[1], self.link.port))
        self.daemon = None  # the daemon's hello reply, once it answered
        self.start_flow("hello", self._hello())

    def _hello(self):
        """Flow: the version handshake, so a missing or mismatched daemon is said at once, not at first use."""
        self.daemon = yield from self.link.call("hello", {"client": "ableton-remote-script/%s" % VERSION,
                                                          "protocol": PROTOCOL})
        self.log_message("Bandmate: daemon %s, protocol %s" % (self.daemon.get("server"),
                                                                self.daemon.get("protocol")))

    # helpers the handlers use ------------------------------------------------------------------------------------

    def status(self, text):
        self.last_status = "Bandmate: " + text
        self.show_message(self.last_status)
        self.log_message(self.last_status)

    def user_library(self):
        return settings_mod.user_library(self.settings)

    def output_dir(self, sub=""):
        base = settings_mod.output_dir(self.settings)
        return os.path.abspath(os.path.join(base, sub) if sub else base)

    # actions -----------------------------------------------------------------------------------------------------

    def start_flow(self, name, flow):
        """Run a flow (generator) on the coming ticks; one flow per name at a time."""
        if flow is None:
            return False
        for running, _ in self.flows:
            if running == name.split(":")[0]:
                self.status("%s is still running" % running)
                flow.close()
                return False
        self.flows.append((name.split(":")[0], flow))
        return True

    def _queue_tag(self, action, clip):
        # called from a Live notification: changing the Set here is not allowed, so only remember it
        if (action, clip) not in self.queued:
            self.queued.append((action, clip))

    def _run_tag(self, action, clip):
        _, clean = tag_of(clip.name)
        clip.name = clean.rstrip()
        if action == "analyze":
            self.start_flow("analyze", self.analysis.run(clip))
        elif action == "generate":
            self.start_flow("generate", self.generation.run())
        elif action == "live":
            self.start_flow("live", self.live.toggle())

    def _on_command(self, name, args, sender):
        if name == "status":
            self.link.send_to(sender, "/bandmate_live/status", [json.dumps(self.state(), default=str)])
            return
        if name == "ping":
            self.link.send_to(sender, "/bandmate_live/pong", [VERSION])
            return
        handler = self.commands.get(name)
        if handler is None:
            self.status("unknown command /bandmate_live/%s" % name)
            return
        flow_name = {"analyze_selected": "analyze", "live_toggle": "live", "live_start": "live",
                     "live_attach": "live", "live_stop": "live"}.get(name, name)
        self.start_flow(flow_name, handler(args))

    def _on_event(self, topic, args):
        if topic == "live":
            self.live.on_event(args)

    def state(self):
        """What `/bandmate_live/status` answers: a small JSON-able summary."""
        last = self.analysis.last
        return {"version": VERSION, "daemon": "%s:%d" % self.link.address, "port": self.link.port,
                "status": self.last_status, "running": [n for n, _ in self.flows],
                "last_error": self.last_error, "live_session": self.live.session,
                "chord": self.live.current and self.live.current.get("label"),
                "analysis": last and last["job_id"]}

    # the tick ------------------------------------------------------------------------------------------------------

    def update_display(self):
        ControlSurface.update_display(self)
        self.tick()

    def tick(self):
        """One bounded step of everything; never raises into Live."""
        self.ticks += 1
        try:
            self.link.poll()
            while self.link.notes:
                self.status(self.link.notes.pop(0))
            queued, self.queued = self.queued, []
            for action, clip in queued:
                self._guard("tag", self._run_tag, action, clip)
            self._step_flows()
            self._guard("live", self.live.tick)
        except Exception as exc:  # the tick must survive anything
            self._report("tick", exc)

    def _step_flows(self):
        for entry in list(self.flows[:MAX_FLOW_STEPS]):
            name, flow = entry
            try:
                next(flow)
            except StopIteration:
                self.flows.remove(entry)
            except Exception as exc:
                self.flows.remove(entry)
                self._report(name, exc)

    def _guard(self, what, fn, *args):
        try:
            fn(*args)
        except Exception as exc:
            self._report(what, exc)

    def _report(self, what, exc):
        if isinstance(exc, DaemonError):
            self.last_error = (exc.code, exc.message)
            if exc.code == "unreachable":
                self.status("%s: %s" % (what, exc.message))
            elif exc.code == "not_available":
                self.status("%s is not available: %s" % (what, exc.message))
            else:
                self.status("%s failed: %s: %s" % (what, exc.code, exc.message))
        elif isinstance(exc, UserError):
            self.last_error = ("user", str(exc))
            self.status(str(exc))
        else:
            self.last_error = ("internal", "%s: %s" % (type(exc).__name__, exc))
            self.log_message("Bandmate: %s raised:\n%s" % (what, traceback.format_exc()))
            self.status("%s failed: %s: %s (details in Live's Log.txt)" % (what, type(exc).__name__, exc))

    def disconnect(self):
        """Live unloads the script (Set closed, surface deselected): stop what we started, close the socket."""
        try:
            if self.triggers is not None:
                self.triggers.disconnect()
            if self.live.active and self.live.owned:
                self.link.send("live_stop", {"session": self.live.session})
            if self.live.subscribed:
                self.link.send("unsubscribe", {})
            for _, flow in self.flows:
                flow.close()
            self.flows = []
        except Exception as exc:
            self.log_message("Bandmate: disconnect: %s" % exc)
        finally:
            self.link.close()
            ControlSurface.disconnect(self)
