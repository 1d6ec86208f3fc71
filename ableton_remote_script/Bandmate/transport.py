"""The link to the daemon: one non-blocking UDP socket, polled on Live's main thread.

The socket is bound to the script's own port (settings `listen_port`, default 7409), so one socket carries
everything: requests to the daemon and their replies, the events the daemon sends to subscribers, and the
/bandmate_live/* commands that `oscsend` or the `bandmate` CLI send to the script. Nothing here blocks and
nothing here starts a thread: `poll()` reads what has arrived, and flows wait on a `Call` by yielding.
"""
import errno
import socket
import time

from .vendor.messages import MESSAGES, reply_from_osc
from .vendor.osc import OSCError, decode_packet, encode_message

COMMAND_PREFIX = "/bandmate_live/"
MAX_PACKETS_PER_POLL = 64  # a bounded amount of work per tick
MAX_DATAGRAM = 65536
MAX_REQUEST_BYTES = 32000  # the daemon refuses OSC packets over 32 KiB


class DaemonError(Exception):
    """An error reply from the daemon, or none at all (code 'unreachable')."""

    def __init__(self, code, message):
        Exception.__init__(self, "%s: %s" % (code, message))
        self.code = code
        self.message = message


class Call(object):
    """One request in flight. `done` turns true once the reply, an error reply or the timeout arrived."""

    __slots__ = ("req_id", "msg_type", "deadline", "done", "result", "error")

    def __init__(self, req_id, msg_type, deadline):
        self.req_id, self.msg_type, self.deadline = req_id, msg_type, deadline
        self.done, self.result, self.error = False, None, None

    def finish(self, result=None, error=None):
        if not self.done:
            self.done, self.result, self.error = True, result, error


def osc_arguments(msg_type, params):
    """Positional OSC arguments and type tags for a params dict, in the message table's order. Parameters left
    out before a given one travel as nil, which the daemon reads as absent."""
    spec = MESSAGES[msg_type].params
    names = [p.name for p in spec]
    unknown = [k for k in params if k not in names]
    if unknown:
        raise ValueError("unknown field(s) for %s: %s" % (msg_type, ", ".join(sorted(unknown))))
    given = [i for i, p in enumerate(spec) if params.get(p.name) is not None]
    args, tags = [], []
    for p in spec[:(given[-1] + 1) if given else 0]:
        value = params.get(p.name)
        if value is None:
            args.append(None)
            tags.append("N")
        elif p.kind == "json":
            import json

            args.append(json.dumps(value, separators=(",", ":")))
            tags.append("s")
        elif p.kind == "float":
            args.append(float(value))
            tags.append("f")
        elif p.kind == "int":
            args.append(int(value))
            tags.append("i")
        elif p.kind == "bool":
            args.append(bool(value))
            tags.append("T" if value else "F")
        else:
            args.append(str(value))
            tags.append("s")
    return args, "".join(tags)


class DaemonLink(object):
    """Requests to the daemon's OSC server and what comes back, without blocking Live."""

    def __init__(self, address, listen_port=7409, token="", timeout=5.0, clock=time.monotonic):
        self.address = address
        self.listen_port = listen_port
        self.token = token or ""
        self.timeout = float(timeout)
        self.clock = clock
        self.sock = None
        self.port = None
        self.pending = {}
        self.on_event = None     # fn(topic, args)
        self.on_command = None   # fn(name, args, sender)
        self.notes = []          # things worth telling the user once (e.g. the command port was taken)
        self._counter = 0

    def open(self):
        """Bind the script's port (a free one when it is taken: replies still arrive, commands need the port the
        status bar names)."""
        self.close()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind(("127.0.0.1", int(self.listen_port)))
        except OSError as exc:
            self.notes.append("port %s is taken (%s): listening on a free port instead" % (self.listen_port, exc))
            sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        self.sock = sock
        self.port = sock.getsockname()[1]
        return self.port

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None
        for call in list(self.pending.values()):
            call.finish(error=DaemonError("cancelled", "the script is shutting down"))
        self.pending.clear()

    # requests ------------------------------------------------------------------------------------------------

    def send(self, msg_type, params=None, timeout=None):
        """Send one request; returns its Call (already failed when it cannot be sent)."""
        self._counter += 1
        req_id = "lv%d" % self._counter
        call = Call(req_id, msg_type, self.clock() + (self.timeout if timeout is None else timeout))
        try:
            args, tags = osc_arguments(msg_type, params or {})
            if self.token:
                args, tags = [self.token] + args, "s" + tags
            packet = encode_message("/bandmate/" + msg_type, [req_id] + args, "s" + tags)
        except (ValueError, OSCError) as exc:
            call.finish(error=DaemonError("bad_params", str(exc)))
            return call
        if len(packet) > MAX_REQUEST_BYTES:
            call.finish(error=DaemonError("too_large", "a %s request of %d bytes is too large for UDP"
                                          % (msg_type, len(packet))))
            return call
        if self.sock is None:
            self.open()
        try:
            self.sock.sendto(packet, self.address)
        except OSError as exc:
            call.finish(error=DaemonError("unreachable", "cannot send to the daemon at %s:%d (%s)"
                                          % (self.address[0], self.address[1], exc)))
            return call
        self.pending[req_id] = call
        return call

    def call(self, msg_type, params=None, timeout=None):
        """A flow step (use with `yield from`): send, wait for the reply, return its result dict. Raises
        DaemonError."""
        call = self.send(msg_type, params, timeout)
        while not call.done:
            yield
        if call.error is not None:
            raise call.error
        return call.result

    def send_to(self, address, osc_address, args):
        """A reply to a command sender (fire and forget)."""
        try:
            self.sock.sendto(encode_message(osc_address, args), address)
        except (OSError, OSCError, AttributeError):
            pass

    # the tick --------------------------------------------------------------------------------------------------

    def poll(self):
        """Read what has arrived (at most MAX_PACKETS_PER_POLL packets), route it, expire overdue calls."""
        if self.sock is None:
            return
        for _ in range(MAX_PACKETS_PER_POLL):
            try:
                data, sender = self.sock.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, socket.timeout):
                break
            except OSError as exc:
                # Windows reports an ICMP 'port unreachable' for an earlier send (to the daemon, or to a command
                # sender that has gone) as WSAECONNRESET (10054) on the next receive. It cannot say which peer,
                # so it is skipped: a request that gets no answer times out with a clear message instead.
                if getattr(exc, "winerror", None) == 10054 or exc.errno in (errno.ECONNREFUSED, errno.ECONNRESET):
                    continue
                if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                    break
                raise
            try:
                messages = decode_packet(data)
            except OSCError:
                continue  # not for us, or damaged: UDP has no one to tell
            for msg in messages:
                self._route(msg, sender)
        now = self.clock()
        for req_id, call in list(self.pending.items()):
            if now >= call.deadline:
                del self.pending[req_id]
                call.finish(error=DaemonError(
                    "unreachable", "no answer from the daemon at %s:%d in %.0f s; is `bandmate serve` running?"
                    % (self.address[0], self.address[1], self.timeout)))

    def _route(self, msg, sender):
        address, args = msg.address, msg.args
        if address.startswith(COMMAND_PREFIX):
            if self.on_command is not None:
                self.on_command(address[len(COMMAND_PREFIX):], list(args), sender)
            return
        if address.startswith("/bandmate/event/"):
            if self.on_event is not None:
                self.on_event(address[len("/bandmate/event/"):], list(args))
            return
        if not args or not isinstance(args[0], str):
            return
        call = self.pending.pop(args[0], None)
        if call is None:
            if address == "/bandmate/error" and args[0] == "" and len(args) >= 3:
                self.notes.append("the daemon refused a packet: %s: %s" % (args[1], args[2]))
            return
        if address == "/bandmate/error":
            code = args[1] if len(args) > 1 else "internal"
            text = args[2] if len(args) > 2 else ""
            call.finish(error=DaemonError(str(code), str(text)))
            return
        try:
            call.finish(result=reply_from_osc(call.msg_type, args[1:]))
        except ValueError as exc:  # a JSON field that does not parse
            call.finish(error=DaemonError("bad_reply", "unreadable %s reply: %s" % (call.msg_type, exc)))
