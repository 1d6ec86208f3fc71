"""The job engine: long work (analyze, generate, selftest, ...) is accepted at once with a job id, queued by
priority (live > interactive > batch), run with bounded concurrency in worker threads, reported through
progress events (stage + fraction), cancellable, time-limited, and persisted in SQLite."""
import asyncio
import itertools
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from protocol import BandmateError

log = logging.getLogger("bandmate.jobs")

PRIORITY_RANK = {"live": 0, "interactive": 1, "batch": 2}
PROGRESS_MIN_INTERVAL_S = 0.05  # progress events are throttled; stage changes always go out


class JobCancelled(Exception):
    """Raised inside a job's thread at its next progress call once the job is cancelled or timed out."""


class JobContext:
    """What a job function gets: its params, the services it may use, and `progress` to report and to learn
    that it should stop."""

    def __init__(self, engine, job_id, job_type, params):
        self.engine = engine
        self.job_id = job_id
        self.type = job_type
        self.params = params
        self.services = engine.services
        self._cancel = threading.Event()
        self._last_emit = 0.0
        self._stage = None
        self.stop_reason = None

    @property
    def cancelled(self):
        return self._cancel.is_set()

    def cancel(self, reason):
        self.stop_reason = reason
        self._cancel.set()

    def progress(self, stage, fraction):
        """Report progress (fraction 0..1 of the whole job). Raises JobCancelled once the job should stop."""
        if self._cancel.is_set():
            raise JobCancelled(self.stop_reason or "cancelled")
        now = time.monotonic()
        if stage != self._stage or now - self._last_emit >= PROGRESS_MIN_INTERVAL_S or fraction >= 1.0:
            self._stage, self._last_emit = stage, now
            self.engine.loop.call_soon_threadsafe(self.engine._progress, self.job_id, stage,
                                                  max(0.0, min(1.0, float(fraction))))


class JobEngine:
    def __init__(self, storage, publish, services, concurrency=2, max_queued=1000, default_timeout=900.0,
                 run_id=None):
        self.storage = storage
        self.publish = publish
        self.services = services  # handed to job functions (pool, storage, config)
        self.concurrency = concurrency
        self.max_queued = max_queued
        self.default_timeout = default_timeout
        self.run_id = run_id or uuid.uuid4().hex
        self.job_types = {}
        self.loop = None
        self._queue = None
        self._seq = itertools.count()
        self._queued = {}  # job_id -> (type, params, timeout)
        self._running = {}  # job_id -> JobContext
        self._workers = []
        self._executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="bandmate-job")

    def register(self, job_type, fn, default_priority="interactive"):
        """fn(ctx) -> result dict, run in a worker thread."""
        self.job_types[job_type] = (fn, default_priority)

    async def start(self):
        self.loop = asyncio.get_running_loop()
        self._queue = asyncio.PriorityQueue()
        n = self.storage.mark_interrupted(self.run_id)
        if n:
            log.warning("%d job(s) from an earlier run were interrupted; marked failed", n)
        self._workers = [asyncio.create_task(self._worker(i)) for i in range(self.concurrency)]

    async def stop(self):
        for ctx in list(self._running.values()):
            ctx.cancel("daemon stopping")
        for w in self._workers:
            w.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        now = time.time()
        for job_id in list(self._queued) + list(self._running):
            self.storage.update_job(job_id, state="failed", finished=now, error_code="interrupted",
                                    error_message="the daemon stopped while this job was queued or running")
        self._executor.shutdown(wait=False, cancel_futures=True)

    def submit(self, job_type, params, priority=None, timeout=None):
        if job_type not in self.job_types:
            raise BandmateError("not_available", "no job type %r on this daemon" % job_type)
        if len(self._queued) >= self.max_queued:
            raise BandmateError("busy", "%d jobs are queued already; try again later" % len(self._queued))
        priority = priority or self.job_types[job_type][1]
        job_id = uuid.uuid4().hex[:16]
        self.storage.insert_job(job_id, job_type, params, priority, self.run_id)
        self._queued[job_id] = (job_type, params, timeout or self.default_timeout)
        self._queue.put_nowait((PRIORITY_RANK[priority], next(self._seq), job_id))
        self._event(job_id, "queued", "", 0.0)
        return job_id

    def cancel(self, job_id):
        job = self.storage.get_job(job_id)
        if job is None:
            raise BandmateError("not_found", "no job %r" % job_id)
        if job_id in self._queued:
            del self._queued[job_id]  # the worker skips it when it comes up
            self._finish(job_id, "cancelled", error=("cancelled", "cancelled while queued"))
            return "cancelled"
        ctx = self._running.get(job_id)
        if ctx is not None:
            ctx.cancel("cancelled by request")
            self._finish(job_id, "cancelled", error=("cancelled", "cancelled while running"))
            return "cancelled"
        return job["state"]

    def counts(self):
        return {"queued": len(self._queued), "running": len(self._running)}

    # -- internals -------------------------------------------------------------------------------------------
    def _event(self, job_id, state, stage, fraction, message=""):
        self.publish("job", {"job_id": job_id, "state": state, "stage": stage, "fraction": fraction,
                             "message": message})

    def _progress(self, job_id, stage, fraction):
        if job_id in self._running and not self._running[job_id].cancelled:
            self.storage.update_job(job_id, stage=stage, fraction=fraction)
            self._event(job_id, "running", stage, fraction)

    def _finish(self, job_id, state, result=None, result_path=None, error=None):
        fields = {"state": state, "finished": time.time()}
        if state == "done":
            fields.update(fraction=1.0, result=result, result_path=result_path)
        if error:
            fields.update(error_code=error[0], error_message=error[1])
        self.storage.update_job(job_id, **fields)
        self._event(job_id, state, "", 1.0 if state == "done" else 0.0, error[1] if error else "")

    async def _worker(self, index):
        while True:
            _, _, job_id = await self._queue.get()
            item = self._queued.pop(job_id, None)
            if item is None:
                continue  # cancelled while queued
            job_type, params, timeout = item
            fn = self.job_types[job_type][0]
            ctx = JobContext(self, job_id, job_type, params)
            self._running[job_id] = ctx
            self.storage.update_job(job_id, state="running", started=time.time())
            self._event(job_id, "running", "start", 0.0)
            future = self.loop.run_in_executor(self._executor, fn, ctx)
            try:
                try:
                    result = await asyncio.wait_for(asyncio.shield(future), timeout)
                except asyncio.TimeoutError:
                    ctx.cancel("timed out after %g s" % timeout)
                    self._finish(job_id, "failed", error=("timeout", "the job ran past its %g s limit" % timeout))
                    await asyncio.gather(future, return_exceptions=True)  # the slot stays taken until it stops
                    continue
                if ctx.cancelled:
                    continue  # already marked cancelled; the result is discarded
                result_path = None
                if isinstance(result, dict) and result.get("__result_path__"):
                    result_path = result.pop("__result_path__")
                self._finish(job_id, "done", result=result, result_path=result_path)
            except JobCancelled:
                pass
            except BandmateError as exc:
                self._finish(job_id, "failed", error=(exc.code, exc.message))
            except asyncio.CancelledError:
                ctx.cancel("daemon stopping")
                raise
            except Exception as exc:
                log.exception("job %s (%s) crashed", job_id, job_type)
                self._finish(job_id, "failed", error=("internal", "%s: %s" % (type(exc).__name__, exc)))
            finally:
                self._running.pop(job_id, None)
