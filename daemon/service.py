"""The daemon's core, independent of transports: request handlers, job engine, model pool, storage, events.
Servers (daemon/servers.py) and the in-process `--local` client route envelopes into `Service.handle`."""
import asyncio
import inspect
import json
import logging
import os
import time
import uuid

from protocol import PROTOCOL_VERSION, BandmateError, protocol_major
from protocol.messages import MESSAGES, validate_params

from . import __version__, tasks
from .jobs import JobEngine
from .pool import ModelPool
from .storage import Storage

log = logging.getLogger("bandmate.service")

OSC_INLINE_RESULT_BYTES = 8192  # bigger job results reach OSC clients as result_path only


class Peer:
    """Who sent a request: transport (zmq | osc | local), address, and whether it is on this machine."""

    __slots__ = ("transport", "addr", "loopback")

    def __init__(self, transport, addr=None, loopback=True):
        self.transport, self.addr, self.loopback = transport, addr, loopback


LOCAL_PEER = Peer("local")


class Service:
    def __init__(self, config, probe=None):
        self.config = config
        self.run_id = uuid.uuid4().hex
        self.started = time.time()
        self.storage = Storage(config.data_dir)
        self.sinks = []  # callables(topic, event) fed by publish(); servers add theirs
        self.osc_subscribers = {}  # (host, port) -> set of topics (empty = all)
        self.endpoints = {}
        self.loop = None
        self.stopping = None  # an asyncio.Event once started; set by `shutdown`
        self.pool = ModelPool(config.models, on_event=self.publish_threadsafe, probe=probe)
        self.jobs = JobEngine(self.storage, self.publish, {"storage": self.storage, "pool": self.pool,
                                                          "config": config,
                                                          "resolve_analysis": self.resolve_analysis},
                              concurrency=config.jobs.concurrency, max_queued=config.jobs.max_queued,
                              default_timeout=config.jobs.timeout_s, run_id=self.run_id)
        self.jobs.register("analyze", tasks.analyze, "interactive")
        self.jobs.register("generate", tasks.generate, "interactive")
        self.jobs.register("selftest", tasks.selftest, "batch")
        from .live import LiveSessions

        self.live = LiveSessions(self)
        self.handlers = {t: getattr(self, "h_" + t) for t in MESSAGES}

    async def start(self):
        self.loop = asyncio.get_running_loop()
        self.stopping = asyncio.Event()
        await self.jobs.start()
        purged = self.storage.purge_jobs(self.config.jobs.keep_days * 86400)
        if purged:
            log.info("purged %d finished jobs older than %g days", purged, self.config.jobs.keep_days)

    async def load_models(self):
        """Resolve the device and load the configured models (in a thread; the loop keeps serving)."""
        await self.loop.run_in_executor(None, self.pool.load)

    async def close(self):
        self.live.close()
        await self.jobs.stop()
        self.storage.close()

    # -- events ----------------------------------------------------------------------------------------------
    def publish(self, topic, event):
        for sink in list(self.sinks):
            try:
                sink(topic, event)
            except Exception:
                log.exception("event sink failed")

    def publish_threadsafe(self, topic, event):
        if self.loop is not None and self.loop.is_running():
            self.loop.call_soon_threadsafe(self.publish, topic, event)

    # -- dispatch --------------------------------------------------------------------------------------------
    def dispatch(self, msg_type, params, peer=LOCAL_PEER):
        """Validate and run one request. Most handlers answer at once and this returns their result dict;
        handlers that wait on I/O return an awaitable. Raises BandmateError (unexpected errors become
        `internal`)."""
        params = validate_params(msg_type, params)
        try:
            result = self.handlers[msg_type](params, peer)
        except Exception as exc:
            raise _as_wire_error(msg_type, exc)
        return self._guard(msg_type, result) if inspect.isawaitable(result) else result

    async def _guard(self, msg_type, awaitable):
        try:
            return await awaitable
        except Exception as exc:
            raise _as_wire_error(msg_type, exc)

    async def handle(self, msg_type, params, peer=LOCAL_PEER):
        """dispatch() for callers that can always await (the --local client)."""
        result = self.dispatch(msg_type, params, peer)
        return (await result) if inspect.isawaitable(result) else result

    # -- handlers --------------------------------------------------------------------------------------------
    def h_hello(self, p, peer):
        major = protocol_major(p.get("protocol", PROTOCOL_VERSION))
        if major != protocol_major(PROTOCOL_VERSION):
            raise BandmateError("version_mismatch", "daemon speaks protocol %s; client asked for %s"
                                % (PROTOCOL_VERSION, p.get("protocol")))
        caps = sorted(MESSAGES) + ["jobs:" + t for t in sorted(self.jobs.job_types)]
        return {"protocol": PROTOCOL_VERSION, "server": __version__, "capabilities": caps}

    def h_ping(self, p, peer):
        return {"pong": "pong", "payload": p.get("payload", ""), "server_time": time.time()}

    def h_status(self, p, peer):
        counts = self.storage.count_jobs()
        counts.update(self.jobs.counts())
        return {"status": {
            "version": __version__, "protocol": PROTOCOL_VERSION, "pid": os.getpid(),
            "uptime_s": round(time.time() - self.started, 3), "device": self.pool.device_status(),
            "models": self.pool.status(), "jobs": counts, "endpoints": self.endpoints,
            "rss_bytes": _rss_bytes(), "data_dir": self.config.data_dir,
            "osc_subscribers": len(self.osc_subscribers), "live_sessions": self.live.status(),
            "auth": bool(self.config.server.token)}}

    def h_models(self, p, peer):
        return {"models": self.pool.status()}

    def _job_options(self, p):
        out_dir = p.get("out_dir")
        if out_dir is not None:
            if not os.path.isabs(out_dir):
                raise BandmateError("bad_params", "field 'out_dir': must be an absolute directory path")
            if os.path.exists(out_dir) and not os.path.isdir(out_dir):
                raise BandmateError("forbidden_path", "out_dir %s exists and is not a directory" % out_dir)
        timeout = p.get("timeout")
        if timeout is not None and not 0 < timeout <= 7 * 86400:
            raise BandmateError("bad_params", "field 'timeout': must be between 0 and 604800 seconds")
        return p.get("priority"), timeout

    async def h_analyze(self, p, peer):
        from models.analysis.audio import resolve_range
        from models.analysis.context import parse_context
        from models.analysis.engine import parse_options, probe_input

        priority, timeout = self._job_options(p)
        parse_context(p.get("context"))
        parse_options(p.get("options"))
        if (p.get("path") is None) == (p.get("notes") is None):
            raise BandmateError("bad_params", "field 'path': give either a file path or a note list (notes)")
        if p.get("notes") is not None:
            if not isinstance(p["notes"], list):
                raise BandmateError("bad_params", "field 'notes': must be a list of notes")
        else:
            info = await self.loop.run_in_executor(None, probe_input, p["path"])  # bad files are refused at once
            if info.get("kind") != "midi":
                resolve_range(info, p.get("start"), p.get("end"))
        job_id = self.jobs.submit("analyze", p, priority, timeout)
        return {"job_id": job_id, "state": "queued"}

    def h_generate(self, p, peer):
        from models.generation.generate import build_request

        priority, timeout = self._job_options(p)
        request = p.get("request")
        if not isinstance(request, dict):
            raise BandmateError("bad_params", "field 'request': must be an object")
        analysis = self.resolve_analysis(request.get("analysis")) if request.get("analysis") is not None else None
        build_request(request, analysis)   # every field is checked now, so a bad request never becomes a job
        if self.pool.refuses("generation"):
            self.pool.get("generation")    # raises not_available with the reason
        job_id = self.jobs.submit("generate", p, priority, timeout)
        return {"job_id": job_id, "state": "queued"}

    def resolve_analysis(self, ref):
        """A song description to follow: the result of a finished analyze job (by id) or a JSON file (by
        absolute path)."""
        if not isinstance(ref, str) or not ref:
            raise BandmateError("bad_params", "field 'analysis': must be an analyze job id or an absolute path")
        if os.path.isabs(ref):
            try:
                with open(ref, encoding="utf-8") as fh:
                    song = json.load(fh)
            except OSError as exc:
                raise BandmateError("file_not_found", "cannot read analysis %s: %s" % (ref, exc))
            except ValueError:
                raise BandmateError("bad_params", "field 'analysis': %s is not JSON" % ref)
            song = song.get("song", song) if isinstance(song, dict) else song
        else:
            job = self.storage.get_job(ref)
            if job is None or job["type"] != "analyze":
                raise BandmateError("not_found", "no analyze job %s" % ref)
            if job["state"] != "done":
                raise BandmateError("bad_params", "field 'analysis': job %s is %s, not done" % (ref, job["state"]))
            with open(job["result_path"], encoding="utf-8") as fh:
                song = json.load(fh)
            song = song.get("song", song)
        if not isinstance(song, dict) or "beats" not in song:
            raise BandmateError("bad_params", "field 'analysis': not a song description (no beats)")
        return song

    def h_selftest(self, p, peer):
        seconds = p.get("seconds", 2.0)
        if not 0 < seconds <= 600:
            raise BandmateError("bad_params", "field 'seconds': must be in (0, 600]")
        priority, timeout = self._job_options(p)
        return {"job_id": self.jobs.submit("selftest", p, priority, timeout), "state": "queued"}

    def h_job(self, p, peer):
        job = self.storage.get_job(p["job_id"])
        if job is None:
            raise BandmateError("not_found", "no job %r" % p["job_id"])
        if peer.transport == "osc" and job["result"] is not None:
            if len(json.dumps(job["result"])) > OSC_INLINE_RESULT_BYTES:
                job["result"], job["result_omitted"] = None, True  # UDP is no place for bulk: read result_path
        return {"job": job}

    def h_jobs(self, p, peer):
        limit = p.get("limit", 50)
        if not 1 <= limit <= 1000:
            raise BandmateError("bad_params", "field 'limit': must be 1..1000")
        return {"jobs": self.storage.list_jobs(limit, p.get("state"))}

    def h_cancel(self, p, peer):
        return {"job_id": p["job_id"], "state": self.jobs.cancel(p["job_id"])}

    def h_subscribe(self, p, peer):
        topics = [t.strip() for t in p.get("topics", "").split(",") if t.strip()]
        unknown = [t for t in topics if t not in ("job", "model", "live")]
        if unknown:
            raise BandmateError("bad_params", "field 'topics': unknown topic(s) %s" % ", ".join(unknown))
        if peer.transport == "osc":
            port = p.get("port") or peer.addr[1]
            if not 1 <= port <= 65535:
                raise BandmateError("bad_params", "field 'port': must be 1..65535")
            self.osc_subscribers[(peer.addr[0], port)] = set(topics)
        return {"pub_endpoint": self.endpoints.get("pub", ""), "topics": ",".join(topics) or "all"}

    def h_unsubscribe(self, p, peer):
        if peer.transport != "osc":
            return {"removed": 0}
        port = p.get("port") or peer.addr[1]
        return {"removed": 1 if self.osc_subscribers.pop((peer.addr[0], port), None) is not None else 0}

    def h_live_start(self, p, peer):
        return self.live.start(p, peer)

    def h_live_push(self, p, peer):
        return self.live.push(p, peer)

    def h_live_clock(self, p, peer):
        return self.live.clock(p, peer)

    def h_live_stop(self, p, peer):
        return self.live.stop(p, peer)

    def h_live_devices(self, p, peer):
        from .live import list_devices

        return {"devices": list_devices()}

    def h_shutdown(self, p, peer):
        if not peer.loopback:
            raise BandmateError("unauthorized", "shutdown is only accepted from this machine")
        self.loop.call_later(0.05, self.stopping.set)
        return {"stopping": True}


def _rss_bytes():
    try:
        import psutil

        return psutil.Process().memory_info().rss
    except Exception:  # psutil missing or the platform refuses: status still answers
        return None


def _as_wire_error(msg_type, exc):
    """A handler's exception as a BandmateError: coded ones pass through, anything else is `internal`."""
    if isinstance(exc, BandmateError):
        return exc
    log.error("handler %s failed", msg_type, exc_info=exc)
    return BandmateError("internal", "%s: %s" % (type(exc).__name__, exc))
