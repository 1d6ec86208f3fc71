"""Python client SDK for the Bandmate daemon over ZeroMQ: `Client` (blocking) and `AsyncClient` (asyncio).

    from bridge.client import Client
    with Client() as bm:
        job = bm.analyze("/path/song.wav", wait=True, on_progress=print)
        print(job["result"]["song"]["source"]["loudness_lufs"])
"""
import asyncio
import json
import os
import time
import uuid

import zmq
import zmq.asyncio

from protocol import DEFAULT_HOST, DEFAULT_PUB_PORT, DEFAULT_ZMQ_PORT, BandmateError, envelope

FINAL_STATES = ("done", "failed", "cancelled")


class DaemonUnreachable(ConnectionError):
    """No daemon answered at the endpoint in time."""


def data_dir():
    import platformdirs

    return os.environ.get("BANDMATE_HOME") or platformdirs.user_data_dir("bandmate", appauthor=False)


def discover(home=None):
    """Endpoints of the daemon on this machine: from the running daemon's daemon.json, else the defaults."""
    path = os.path.join(home or data_dir(), "daemon.json")
    try:
        with open(path, encoding="utf-8") as fh:
            state = json.load(fh)
        return state["endpoints"]
    except (OSError, ValueError, KeyError):
        return {"zmq": "tcp://%s:%d" % (DEFAULT_HOST, DEFAULT_ZMQ_PORT),
                "pub": "tcp://%s:%d" % (DEFAULT_HOST, DEFAULT_PUB_PORT)}


def _new_id():
    return uuid.uuid4().hex[:12]


def _unwrap(env):
    if env.get("ok"):
        return env.get("result") or {}
    err = env.get("error") or {}
    raise BandmateError(err.get("code", "internal"), err.get("message", "unknown error"))


def follow_job(get_job, job_id, on_progress=None, timeout=None, pause=time.sleep, interval=0.05):
    """Poll `get_job(job_id)` until the job ends; returns the final job dict. Between polls `pause(seconds)`
    waits (a client may wait on its event stream there instead of sleeping)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        job = get_job(job_id)
        if job["state"] in FINAL_STATES:
            if on_progress and job["state"] == "done":
                on_progress("done", 1.0)
            return job
        if on_progress:
            on_progress(job["stage"] or job["state"], job["fraction"])
        if deadline is not None and time.monotonic() > deadline:
            raise BandmateError("timeout", "job %s still %s after %g s" % (job_id, job["state"], timeout))
        pause(interval)


PROBE_AFTER_S = 0.5  # a request unanswered this long looks once whether anything listens at its endpoint


def _listening(endpoint: str) -> bool:
    """False only when `endpoint` is tcp:// on this machine and a TCP connection to it is refused; True
    otherwise (other hosts and transports are not probed)."""
    import socket

    if not endpoint.startswith("tcp://"):
        return True
    host, _, port = endpoint[len("tcp://"):].rpartition(":")
    if host not in ("127.0.0.1", "localhost", "::1", "[::1]") or not port.isdigit():
        return True
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=0.5):
            return True
    except ConnectionRefusedError:
        return False
    except OSError:
        return True


def _no_daemon(endpoint: str, hint: str = "") -> DaemonUnreachable:
    return DaemonUnreachable("no Bandmate daemon listens at %s (start it with `bandmate serve`%s)" % (endpoint, hint))


def _no_reply(endpoint: str, limit: float) -> DaemonUnreachable:
    return DaemonUnreachable("no reply from the Bandmate daemon at %s within %.1f s (is `bandmate serve` running?)"
                             % (endpoint, limit))


class _Endpoints(object):
    def __init__(self, endpoint=None, pub_endpoint=None, token=None, timeout=10.0, home=None):
        found = discover(home) if endpoint is None or pub_endpoint is None else {}
        self.endpoint = endpoint or found["zmq"]
        self.pub_endpoint = pub_endpoint or found.get("pub")
        self.token = token if token is not None else os.environ.get("BANDMATE_TOKEN")
        self.timeout = timeout


class Client(_Endpoints):
    """Blocking client. One request at a time per Client (use one per thread, or AsyncClient)."""

    def __init__(self, endpoint=None, pub_endpoint=None, token=None, timeout=10.0, home=None):
        _Endpoints.__init__(self, endpoint, pub_endpoint, token, timeout, home)
        self.ctx = zmq.Context.instance()
        self.sock = None
        self._connect()

    def _connect(self):
        if self.sock is not None:
            self.sock.close(0)
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(self.endpoint)

    def close(self):
        if self.sock is not None:
            self.sock.close(0)
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def request(self, msg_type, params=None, timeout=None):
        """Send one request and return its result dict; raises BandmateError or DaemonUnreachable."""
        req_id = _new_id()
        self.sock.send(envelope.encode_request(req_id, msg_type, params or {}, self.token))
        limit = self.timeout if timeout is None else timeout
        start = time.monotonic()
        deadline, probe_at = start + limit, start + PROBE_AFTER_S  # probe_at: None once probed
        while True:
            now = time.monotonic()
            if now >= deadline:
                self._connect()  # drop whatever is in flight; a late reply must not answer the next request
                raise _no_reply(self.endpoint, limit)
            wake = deadline if probe_at is None else min(deadline, probe_at)
            if self.sock.poll(int((wake - now) * 1000)):
                env = envelope.decode_reply(self.sock.recv())
                if env.get("id") == req_id:
                    return _unwrap(env)
                if env.get("id") is None and not env.get("ok"):
                    return _unwrap(env)  # the daemon could not read our id back: the error is ours
            elif probe_at is not None and time.monotonic() >= probe_at:
                # no reply yet: a refused TCP connection means no daemon, said now rather than after the timeout
                probe_at = None
                if not _listening(self.endpoint):
                    self._connect()
                    raise _no_daemon(self.endpoint, ", or pass --local to run one in this process")

    # -- conveniences ----------------------------------------------------------------------------------------
    def ping(self, payload=""):
        return self.request("ping", {"payload": payload})

    def hello(self, client="bandmate-python"):
        from protocol import PROTOCOL_VERSION

        return self.request("hello", {"client": client, "protocol": PROTOCOL_VERSION})

    def status(self):
        return self.request("status")["status"]

    def job(self, job_id):
        return self.request("job", {"job_id": job_id})["job"]

    def jobs(self, limit=50, state=None):
        return self.request("jobs", {"limit": limit, "state": state})["jobs"]

    def cancel(self, job_id):
        return self.request("cancel", {"job_id": job_id})["state"]

    def submit(self, msg_type, params, wait=False, on_progress=None, timeout=None):
        accepted = self.request(msg_type, params)
        if not wait:
            return accepted
        return self.wait(accepted["job_id"], on_progress=on_progress, timeout=timeout)

    def analyze(self, path=None, start=None, end=None, context=None, out_dir=None, priority=None, wait=False,
                on_progress=None, timeout=None, options=None, notes=None):
        """Analyse an audio or MIDI file (`path`), or a note list as Live returns it (`notes`)."""
        params = {"path": os.path.abspath(path) if path else None, "start": start, "end": end, "context": context,
                  "out_dir": os.path.abspath(out_dir) if out_dir else None, "priority": priority,
                  "options": options, "notes": notes}
        return self.submit("analyze", {k: v for k, v in params.items() if v is not None}, wait, on_progress,
                           timeout)

    def generate(self, request, out_dir=None, priority=None, wait=False, on_progress=None, timeout=None):
        """Generate stems: `request` as documented in protocol/README.md (`generate`)."""
        params = {"request": request, "out_dir": os.path.abspath(out_dir) if out_dir else None, "priority": priority}
        return self.submit("generate", {k: v for k, v in params.items() if v is not None}, wait, on_progress,
                           timeout)

    def wait(self, job_id, on_progress=None, timeout=None, poll_s=0.5):
        """Block until the job ends; returns the final job dict. `on_progress(stage, fraction)` is fed from the
        PUB events (and from polling, so nothing is missed if an event is dropped)."""
        if not (self.pub_endpoint and on_progress is not None):
            return follow_job(self.job, job_id, on_progress, timeout, interval=poll_s)
        sub = self.ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.SUBSCRIBE, b"job")
        sub.connect(self.pub_endpoint)

        def pause(seconds):  # relay this job's progress events until the next poll or its end
            end = time.monotonic() + seconds
            while sub.poll(max(0, int((end - time.monotonic()) * 1000))):
                ev = json.loads(sub.recv_multipart()[1])
                if ev.get("job_id") != job_id:
                    continue
                if ev["state"] in FINAL_STATES:
                    return
                on_progress(ev.get("stage") or ev["state"], ev.get("fraction", 0.0))

        try:
            return follow_job(self.job, job_id, on_progress, timeout, pause, poll_s)
        finally:
            sub.close(0)


class AsyncClient(_Endpoints):
    """asyncio client: many requests in flight at once, replies matched by id."""

    def __init__(self, endpoint=None, pub_endpoint=None, token=None, timeout=10.0, home=None):
        _Endpoints.__init__(self, endpoint, pub_endpoint, token, timeout, home)
        self.ctx = zmq.asyncio.Context.instance()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(self.endpoint)
        self._waiting = {}
        self._reader = None

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()

    async def close(self):
        if self._reader:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        self.sock.close(0)

    async def _read(self):
        while True:
            env = envelope.decode_reply(await self.sock.recv())
            fut = self._waiting.pop(env.get("id"), None)
            if fut is not None and not fut.done():
                fut.set_result(env)

    async def request(self, msg_type, params=None, timeout=None):
        if self._reader is None:
            self._reader = asyncio.ensure_future(self._read())
        req_id = _new_id()
        fut = asyncio.get_running_loop().create_future()
        self._waiting[req_id] = fut
        await self.sock.send(envelope.encode_request(req_id, msg_type, params or {}, self.token))
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        try:
            try:
                env = await asyncio.wait_for(asyncio.shield(fut), min(PROBE_AFTER_S, limit))
            except asyncio.TimeoutError:
                # no reply yet: a refused TCP connection means no daemon, said now rather than after the timeout
                listening = await asyncio.get_running_loop().run_in_executor(None, _listening, self.endpoint)
                if not listening:
                    raise _no_daemon(self.endpoint)
                env = await asyncio.wait_for(fut, max(0.0, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            raise _no_reply(self.endpoint, limit)
        finally:
            self._waiting.pop(req_id, None)
            if not fut.done():
                fut.cancel()
        return _unwrap(env)

    async def ping(self, payload=""):
        return await self.request("ping", {"payload": payload})

    async def status(self):
        return (await self.request("status"))["status"]

    async def job(self, job_id):
        return (await self.request("job", {"job_id": job_id}))["job"]

    async def wait(self, job_id, poll_s=0.2, timeout=None):
        start = time.monotonic()
        while True:
            job = await self.job(job_id)
            if job["state"] in FINAL_STATES:
                return job
            if timeout is not None and time.monotonic() - start > timeout:
                raise BandmateError("timeout", "job %s still %s" % (job_id, job["state"]))
            await asyncio.sleep(poll_s)
