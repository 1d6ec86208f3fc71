"""Device policy: DirectML -> CUDA -> MPS -> CPU, overridable by config, BANDMATE_DEVICE or --device.

DirectML comes two ways on Windows: torch-directml (a torch device) and onnxruntime-directml (the
DmlExecutionProvider for ONNX models). Ops a backend lacks (e.g. complex STFT on DirectML) run on CPU on purpose
through `cpu_fallback`, which counts and logs them so `status` can show the cost.
"""
import importlib
import importlib.util
import logging
import threading
from dataclasses import dataclass, field

log = logging.getLogger("bandmate.device")

ORDER = ("directml", "cuda", "mps", "cpu")


@dataclass
class DeviceChoice:
    kind: str  # directml | cuda | mps | cpu
    name: str  # human-readable, e.g. "cuda:0 (NVIDIA H100)" or "cpu (torch 2.13.0, 2 threads)"
    torch_device: object = None  # what to pass to .to(); None when torch is absent
    onnx_providers: list = field(default_factory=lambda: ["CPUExecutionProvider"])
    reason: str = ""
    probed: dict = field(default_factory=dict)

    def to_dict(self):
        return {"kind": self.kind, "name": self.name, "onnx_providers": list(self.onnx_providers),
                "reason": self.reason, "probed": dict(self.probed)}


class SystemProbe:
    """What this machine offers. Each method answers without raising; tests substitute a fake probe to
    exercise every branch of the policy (this machine has no DirectML, CUDA or MPS)."""

    def torch(self):
        if importlib.util.find_spec("torch") is None:
            return None
        return importlib.import_module("torch")

    def directml_torch_device(self):
        if importlib.util.find_spec("torch_directml") is None:
            return None
        try:
            dml = importlib.import_module("torch_directml")
            if dml.device_count() < 1:
                return None
            return dml.device(dml.default_device()), dml.device_name(dml.default_device())
        except Exception as exc:  # a broken driver must not stop the daemon
            log.warning("torch-directml present but unusable: %s", exc)
            return None

    def onnx_providers(self):
        if importlib.util.find_spec("onnxruntime") is None:
            return []
        try:
            return list(importlib.import_module("onnxruntime").get_available_providers())
        except Exception as exc:
            log.warning("onnxruntime present but unusable: %s", exc)
            return []

    def cuda(self):
        torch = self.torch()
        try:
            if torch is not None and torch.cuda.is_available():
                return torch.device("cuda:0"), torch.cuda.get_device_name(0)
        except Exception as exc:
            log.warning("CUDA probe failed: %s", exc)
        return None

    def mps(self):
        torch = self.torch()
        try:
            mps = getattr(getattr(torch, "backends", None), "mps", None)
            if mps is not None and mps.is_available():
                return torch.device("mps"), "Apple Metal (MPS)"
        except Exception as exc:
            log.warning("MPS probe failed: %s", exc)
        return None


def choose_device(preference="auto", probe=None):
    """Pick the compute device. `preference` is auto or one of ORDER; a preference the machine cannot honour
    falls back down the order with the reason recorded (never an error: the daemon must start)."""
    probe = probe or SystemProbe()
    if preference not in ("auto",) + ORDER:
        raise ValueError("device must be auto, directml, cuda, mps or cpu, got %r" % (preference,))
    providers = probe.onnx_providers()
    ort_dml = "DmlExecutionProvider" in providers
    probed = {"onnxruntime_providers": providers}
    start = 0 if preference == "auto" else ORDER.index(preference)
    notes = []
    for kind in ORDER[start:]:
        if kind == "directml":
            dev = probe.directml_torch_device()
            probed["torch_directml"] = dev is not None
            if dev is not None or ort_dml:
                torch_dev, name = dev if dev is not None else (None, "onnxruntime DirectML")
                return DeviceChoice("directml", "directml (%s)" % name, torch_dev,
                                    ["DmlExecutionProvider", "CPUExecutionProvider"],
                                    _reason(preference, kind, notes), probed)
            notes.append("no DirectML (torch-directml or onnxruntime-directml)")
        elif kind == "cuda":
            dev = probe.cuda()
            probed["cuda"] = dev is not None
            if dev is not None:
                onnx = [p for p in ("CUDAExecutionProvider",) if p in providers] + ["CPUExecutionProvider"]
                return DeviceChoice("cuda", "cuda:0 (%s)" % dev[1], dev[0], onnx, _reason(preference, kind, notes),
                                    probed)
            notes.append("no CUDA")
        elif kind == "mps":
            dev = probe.mps()
            probed["mps"] = dev is not None
            if dev is not None:
                onnx = [p for p in ("CoreMLExecutionProvider",) if p in providers] + ["CPUExecutionProvider"]
                return DeviceChoice("mps", "mps (%s)" % dev[1], dev[0], onnx, _reason(preference, kind, notes),
                                    probed)
            notes.append("no MPS")
        else:
            torch = probe.torch()
            if torch is not None:
                name = "cpu (torch %s, %d threads)" % (torch.__version__.split("+")[0], torch.get_num_threads())
                dev = torch.device("cpu")
            else:
                name, dev = "cpu (no torch)", None
            return DeviceChoice("cpu", name, dev, ["CPUExecutionProvider"], _reason(preference, kind, notes), probed)
    raise AssertionError("unreachable")


def _reason(preference, kind, notes):
    if preference == "auto":
        return "auto: " + ("; ".join(notes + ["chose " + kind]) if notes else "chose " + kind)
    if preference == kind:
        return "requested " + kind
    return "requested %s, but %s; fell back to %s" % (preference, "; ".join(notes), kind)


class FallbackCounter:
    """Counts ops deliberately run on CPU because the chosen backend lacks them."""

    def __init__(self):
        self._lock = threading.Lock()
        self.counts = {}

    def note(self, op, backend):
        with self._lock:
            first = op not in self.counts
            self.counts[op] = self.counts.get(op, 0) + 1
        if first:
            log.info("op %s runs on CPU: %s lacks it", op, backend)

    def snapshot(self):
        with self._lock:
            return dict(self.counts)


CPU_FALLBACKS = FallbackCounter()


def cpu_fallback(op, choice):
    """True when `op` must run on CPU for this device choice (and counts it). Known gaps: complex-valued
    STFT/FFT on DirectML."""
    if choice.kind == "directml" and op in ("stft", "istft", "fft"):
        CPU_FALLBACKS.note(op, choice.kind)
        return True
    return False
