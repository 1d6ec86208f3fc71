"""The warm model pool: loads registry models at start onto the chosen device and keeps them resident."""
import fnmatch
import logging
import threading
import time

from models.registry import REGISTRY, ModelUnavailable, user_model_spec
from protocol import BandmateError

from .device import CPU_FALLBACKS, choose_device

log = logging.getLogger("bandmate.pool")

try:
    import psutil
except ImportError:  # pragma: no cover
    psutil = None


def _rss():
    return psutil.Process().memory_info().rss if psutil else None


def _object_bytes(obj):
    """Bytes held by a torch module / state dict; None when it cannot be told (then RSS growth is used)."""
    tensors = []
    if hasattr(obj, "parameters") and hasattr(obj, "buffers"):
        tensors = list(obj.parameters()) + list(obj.buffers())
    elif isinstance(obj, dict):
        tensors = [v for v in obj.values() if hasattr(v, "element_size") and hasattr(v, "nelement")]
    if not tensors:
        return None
    return int(sum(t.element_size() * t.nelement() for t in tensors))


class ModelPool:
    def __init__(self, models_config, on_event=None, probe=None):
        self.config = models_config
        self.on_event = on_event or (lambda topic, event: None)
        self.probe = probe
        self.specs = dict(REGISTRY)
        for entry in models_config.extra:
            spec = user_model_spec(entry)
            self.specs[spec.name] = spec
        self.device = None
        self.device_s = None
        self._models = {}
        self._entries = {name: {"name": name, "state": "not_loaded", "task": s.task, "version": s.version,
                                "licence": s.licence, "device": None, "load_s": None, "memory_bytes": None,
                                "error": ""} for name, s in self.specs.items()}
        self._lock = threading.Lock()
        self._device_lock = threading.Lock()

    def wanted(self):
        """Names to load at start: those named in models.load, plus default models matching a pattern there."""
        pats = self.config.load
        return [n for n, s in self.specs.items() if n in pats or (s.default and any(fnmatch.fnmatch(n, p)
                                                                                    for p in pats))]

    def resolve_device(self):
        with self._device_lock:
            return self._resolve_device()

    def _resolve_device(self):
        if self.device is None:
            t0 = time.perf_counter()
            self.device = choose_device(self.config.device, self.probe)
            self.device_s = time.perf_counter() - t0
            log.info("device: %s (%s)", self.device.name, self.device.reason)
        return self.device

    def load(self, names=None):
        """Load models (blocking; call from a thread). Failures are recorded per model, never raised."""
        device = self.resolve_device()
        for name in names if names is not None else self.wanted():
            spec = self.specs[name]
            self._set(name, state="loading", error="")
            self.on_event("model", {"name": name, "state": "loading", "message": ""})
            rss0, t0 = _rss(), time.perf_counter()
            try:
                obj = spec.loader(device)
            except ModelUnavailable as exc:
                self._set(name, state="unavailable", error=str(exc))
                log.warning("model %s unavailable: %s", name, exc)
                self.on_event("model", {"name": name, "state": "unavailable", "message": str(exc)})
                continue
            except Exception as exc:
                self._set(name, state="failed", error="%s: %s" % (type(exc).__name__, exc))
                log.exception("model %s failed to load", name)
                self.on_event("model", {"name": name, "state": "failed", "message": str(exc)})
                continue
            load_s = time.perf_counter() - t0
            mem = _object_bytes(obj)
            if mem is None and rss0 is not None:
                mem = max(0, _rss() - rss0)
            with self._lock:
                self._models[name] = obj
            self._set(name, state="warm", device=device.kind, load_s=round(load_s, 4), memory_bytes=mem)
            log.info("model %s warm on %s in %.3f s", name, device.kind, load_s)
            self.on_event("model", {"name": name, "state": "warm", "message": ""})

    def _set(self, name, **fields):
        with self._lock:
            self._entries[name].update(fields)

    def get(self, name):
        with self._lock:
            obj = self._models.get(name)
            entry = dict(self._entries.get(name, {}))
        if obj is not None:
            return obj
        if not entry:
            raise BandmateError("not_found", "no model named %r" % name)
        raise BandmateError("not_available", "model %s is %s%s" % (
            name, entry["state"], (": " + entry["error"]) if entry["error"] else ""))

    def ensure(self, name, timeout=300.0):
        """The model, loading it now if nobody has (or waiting while the start-up thread loads it)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                state = self._entries.get(name, {}).get("state")
            if state == "loading" and time.monotonic() < deadline:
                time.sleep(0.1)
                continue
            if state == "not_loaded":
                self.load([name])
            return self.get(name)

    def refuses(self, name):
        """True when the model is known to be unusable (unavailable or failed to load), so requests needing it
        can be refused at once; a model still loading or not yet loaded is not refused."""
        with self._lock:
            return self._entries.get(name, {}).get("state") in ("unavailable", "failed")

    def warm_models(self):
        """name -> loaded model, for every warm model (what job functions hand to the analysis code)."""
        with self._lock:
            return dict(self._models)

    def status(self):
        with self._lock:
            entries = [dict(e) for e in self._entries.values()]
        return entries

    def device_status(self):
        """The chosen device; the first call without one starts the probe in the background."""
        if self.device is None:
            if not self._device_lock.locked():
                threading.Thread(target=self.resolve_device, daemon=True, name="device-probe").start()
            return {"kind": None, "name": "probing", "reason": "the device probe is running; ask again"}
        d = self.device.to_dict()
        d["probe_s"] = round(self.device_s or 0, 4)
        d["cpu_fallbacks"] = CPU_FALLBACKS.snapshot()
        return d
