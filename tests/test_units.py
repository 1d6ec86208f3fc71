"""Unit tests of the daemon's parts: config precedence, device policy, storage, job engine, model pool,
loudness."""
import asyncio
import os
import sqlite3
import threading
import time

import numpy as np
import pytest

from daemon.config import ConfigError, load_config
from daemon.device import CPU_FALLBACKS, DeviceChoice, cpu_fallback, choose_device
from daemon.jobs import JobEngine
from daemon.storage import Storage
from protocol import BandmateError


# -- configuration ---------------------------------------------------------------------------------------------
def test_config_precedence_toml_env_flags(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text('[server]\nzmq_port = 9001\nosc_port = 9003\n[jobs]\nconcurrency = 3\n[models]\nload = []\n')
    env = {"BANDMATE_OSC_PORT": "9004", "BANDMATE_HOME": str(tmp_path / "data")}
    cfg = load_config(str(toml), {"jobs": {"concurrency": 4}}, environ=env)
    assert cfg.server.zmq_port == 9001  # file
    assert cfg.server.osc_port == 9004  # env beats file
    assert cfg.jobs.concurrency == 4  # flag beats file
    assert cfg.models.load == [] and cfg.data_dir == str(tmp_path / "data")


@pytest.mark.parametrize("text,match", [("[server]\nzmq_port = 'x'\n", "zmq_port"), ("[nope]\na=1\n", "nope"),
                                        ("[server\n", "TOML"), ("[models]\ndevice = 'tpu'\n", "device"),
                                        ("[server]\nosc_port = 70000\n", "osc_port")])
def test_config_errors_name_the_setting(tmp_path, text, match):
    toml = tmp_path / "c.toml"
    toml.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_config(str(toml), environ={})


# -- device policy ---------------------------------------------------------------------------------------------
class FakeProbe:
    def __init__(self, dml=False, ort_dml=False, cuda=False, mps=False):
        self._dml, self._ort_dml, self._cuda, self._mps = dml, ort_dml, cuda, mps

    def torch(self):
        return None

    def directml_torch_device(self):
        return ("privateuseone:0", "Radeon RX 7600") if self._dml else None

    def onnx_providers(self):
        return (["DmlExecutionProvider"] if self._ort_dml else []) + ["CPUExecutionProvider"]

    def cuda(self):
        return ("cuda:0", "RTX 4070") if self._cuda else None

    def mps(self):
        return ("mps", "Apple M2") if self._mps else None


@pytest.mark.parametrize("probe,pref,kind", [
    (FakeProbe(dml=True, cuda=True), "auto", "directml"),
    (FakeProbe(ort_dml=True), "auto", "directml"),
    (FakeProbe(cuda=True, mps=True), "auto", "cuda"),
    (FakeProbe(mps=True), "auto", "mps"),
    (FakeProbe(), "auto", "cpu"),
    (FakeProbe(dml=True, cuda=True), "cuda", "cuda"),
    (FakeProbe(dml=True), "cpu", "cpu"),
    (FakeProbe(), "cuda", "cpu"),
])
def test_device_policy_order_and_overrides(probe, pref, kind):
    choice = choose_device(pref, probe)
    assert choice.kind == kind
    if kind == "directml":
        assert choice.onnx_providers[0] == "DmlExecutionProvider"
    if pref not in ("auto", kind):
        assert "fell back" in choice.reason


def test_directml_from_torch_directml_uses_its_device():
    choice = choose_device("auto", FakeProbe(dml=True))
    assert choice.torch_device == "privateuseone:0" and "Radeon" in choice.name


def test_real_machine_device_is_cpu_here():
    choice = choose_device("auto")
    assert choice.kind in ("cpu", "cuda", "mps", "directml")
    assert choice.probed["onnxruntime_providers"]


def test_cpu_fallback_counts_ops_directml_lacks():
    dml = DeviceChoice("directml", "directml (x)")
    before = CPU_FALLBACKS.snapshot().get("stft", 0)
    assert cpu_fallback("stft", dml) is True
    assert cpu_fallback("stft", DeviceChoice("cpu", "cpu")) is False
    assert CPU_FALLBACKS.snapshot()["stft"] == before + 1


# -- storage ---------------------------------------------------------------------------------------------------
def test_storage_wal_blobs_and_interrupted(tmp_path):
    s = Storage(tmp_path)
    assert s._query("PRAGMA journal_mode")[0][0] == "wal"
    p1 = s.put_blob_bytes(b"hello", ".txt")
    assert p1 == s.put_blob_bytes(b"hello", ".txt") and open(p1, "rb").read() == b"hello"
    src = tmp_path / "x.mid"
    src.write_bytes(b"MThd")
    p2 = s.put_blob_file(str(src))
    assert p2.endswith(".mid") and os.path.dirname(p2).startswith(str(tmp_path / "blobs"))
    s.insert_job("a", "analyze", {}, "interactive", "run1")
    s.insert_job("b", "analyze", {}, "interactive", "run1")
    s.update_job("b", state="running")
    s.insert_job("c", "analyze", {}, "interactive", "run2")
    assert s.mark_interrupted("run2") == 2
    assert s.get_job("b")["error"]["code"] == "interrupted" and s.get_job("c")["state"] == "queued"
    s.close()
    # a plain sqlite3 reader sees the same rows: it is a real file
    rows = sqlite3.connect(str(tmp_path / "bandmate.sqlite3")).execute("SELECT COUNT(*) FROM jobs").fetchone()
    assert rows[0] == 3


# -- job engine ------------------------------------------------------------------------------------------------
def _engine(tmp_path, concurrency):
    events = []
    eng = JobEngine(Storage(tmp_path), lambda t, e: events.append(e), {}, concurrency=concurrency,
                    default_timeout=30)
    return eng, events


def test_priorities_and_bounded_concurrency(tmp_path):
    order, active, peak = [], [0], [0]
    lock = threading.Lock()
    gate = threading.Event()

    def work(ctx):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        if ctx.params.get("block"):
            gate.wait(10)
        order.append(ctx.params["name"])
        with lock:
            active[0] -= 1
        return {"name": ctx.params["name"]}

    async def go():
        eng, _ = _engine(tmp_path, 1)
        eng.register("w", work, "batch")
        await eng.start()
        first = eng.submit("w", {"name": "blocker", "block": True}, "batch")
        await asyncio.sleep(0.1)  # the blocker occupies the only slot
        ids = [eng.submit("w", {"name": "b1"}, "batch"), eng.submit("w", {"name": "i1"}, "interactive"),
               eng.submit("w", {"name": "l1"}, "live"), eng.submit("w", {"name": "i2"}, "interactive")]
        gate.set()
        for _ in range(200):
            if all(eng.storage.get_job(j)["state"] == "done" for j in ids + [first]):
                break
            await asyncio.sleep(0.02)
        await eng.stop()

    asyncio.run(go())
    assert order == ["blocker", "l1", "i1", "i2", "b1"]
    assert peak[0] == 1


def test_concurrency_two_runs_two_at_once(tmp_path):
    peak, active = [0], [0]
    lock = threading.Lock()

    def work(ctx):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.2)
        with lock:
            active[0] -= 1
        return {}

    async def go():
        eng, _ = _engine(tmp_path, 2)
        eng.register("w", work)
        await eng.start()
        ids = [eng.submit("w", {}) for _ in range(6)]
        for _ in range(300):
            if all(eng.storage.get_job(j)["state"] == "done" for j in ids):
                break
            await asyncio.sleep(0.02)
        await eng.stop()

    asyncio.run(go())
    assert peak[0] == 2


def test_failures_become_coded_job_errors(tmp_path):
    def bad(ctx):
        raise BandmateError("corrupt_file", "broken")

    def crash(ctx):
        raise ZeroDivisionError("oops")

    async def go():
        eng, _ = _engine(tmp_path, 1)
        eng.register("bad", bad)
        eng.register("crash", crash)
        await eng.start()
        a, b = eng.submit("bad", {}), eng.submit("crash", {})
        for _ in range(200):
            if eng.storage.get_job(b)["state"] != "queued" and eng.storage.get_job(b)["state"] != "running":
                break
            await asyncio.sleep(0.02)
        await eng.stop()
        return eng.storage.get_job(a), eng.storage.get_job(b)

    ja, jb = asyncio.run(go())
    assert ja["error"] == {"code": "corrupt_file", "message": "broken"}
    assert jb["error"]["code"] == "internal" and "ZeroDivisionError" in jb["error"]["message"]


def test_queue_limit_answers_busy(tmp_path):
    async def go():
        eng, _ = _engine(tmp_path, 1)
        eng.max_queued = 2
        eng.register("w", lambda ctx: time.sleep(0.5) or {})
        await eng.start()
        eng.submit("w", {})
        await asyncio.sleep(0.05)
        eng.submit("w", {})
        eng.submit("w", {})
        with pytest.raises(BandmateError) as e:
            eng.submit("w", {})
        await eng.stop()
        return e.value.code

    assert asyncio.run(go()) == "busy"


# -- model pool ------------------------------------------------------------------------------------------------
def test_pool_loads_user_checkpoints_safely(tmp_path):
    import torch
    from safetensors.torch import save_file

    from daemon.config import ModelsConfig
    from daemon.pool import ModelPool

    st_path, pt_path = str(tmp_path / "m.safetensors"), str(tmp_path / "m.pt")
    save_file({"w": torch.ones(256, 256)}, st_path)
    torch.save({"w": torch.zeros(10)}, pt_path)
    evil = str(tmp_path / "evil.pt")
    torch.save({"obj": object.__new__(_Gadget)}, evil)  # a pickled object: weights_only refuses it
    cfg = ModelsConfig(load=["st", "pt", "evil", "missing"], device="cpu", extra=[
        {"name": "st", "path": st_path}, {"name": "pt", "path": pt_path, "format": "torch"},
        {"name": "evil", "path": evil, "format": "torch"}, {"name": "missing", "path": str(tmp_path / "no.pt")}])
    events = []
    pool = ModelPool(cfg, on_event=lambda t, e: events.append(e))
    pool.load()
    states = {m["name"]: m for m in pool.status()}
    assert states["st"]["state"] == "warm" and states["st"]["memory_bytes"] == 256 * 256 * 4
    assert states["pt"]["state"] == "warm" and states["st"]["load_s"] is not None
    assert states["evil"]["state"] == "failed"
    assert states["missing"]["state"] == "unavailable" and "does not exist" in states["missing"]["error"]
    assert float(pool.get("st")["w"].sum()) == 256 * 256
    with pytest.raises(BandmateError) as e:
        pool.get("missing")
    assert e.value.code == "not_available"
    assert {"loading", "warm", "failed", "unavailable"} <= {e["state"] for e in events}


class _Gadget:
    pass


def test_basic_pitch_model_is_warm_when_installed():
    from daemon.config import ModelsConfig
    from daemon.pool import ModelPool
    from models.registry import package_file

    pool = ModelPool(ModelsConfig(load=["basic_pitch"], device="cpu"))
    pool.load()
    entry = {m["name"]: m for m in pool.status()}["basic_pitch"]
    if package_file("basic_pitch", "saved_models", "icassp_2022", "nmp.onnx") is None:
        assert entry["state"] == "unavailable" and "pip install" in entry["error"]
        return
    assert entry["state"] == "warm"
    sess = pool.get("basic_pitch")
    shape = sess.get_inputs()[0].shape
    x = np.zeros((1, shape[1] if isinstance(shape[1], int) else 43844, 1), dtype=np.float32)
    outs = sess.run(None, {sess.get_inputs()[0].name: x})
    assert len(outs) == 3  # contours, notes, onsets


# -- loudness --------------------------------------------------------------------------------------------------
def test_loudness_calibration_and_streaming():
    from models.analysis.loudness import LoudnessMeter, integrated_loudness

    sr = 48000
    t = np.arange(sr * 4) / sr
    sine = np.sin(2 * np.pi * 997 * t)
    assert abs(integrated_loudness(sine, sr) - (-3.01)) < 0.05  # BS.1770: 0 dBFS 997 Hz on one channel
    stereo = np.stack([sine, sine], 1) * 10 ** (-20 / 20)
    assert abs(integrated_loudness(stereo, sr) - (-20.0)) < 0.05  # -20 dBFS on L and R reads -20 LUFS
    meter = LoudnessMeter(sr, 2)
    for i in range(0, len(stereo), 12345):  # odd block sizes give the same answer
        meter.feed(stereo[i:i + 12345])
    assert abs(meter.integrated() - integrated_loudness(stereo, sr)) < 1e-6
    assert integrated_loudness(np.zeros(sr * 2), sr) is None
