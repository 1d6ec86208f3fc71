"""Job functions: each takes a JobContext (daemon/jobs.py), runs in a worker thread, reports progress, and
returns a result dict (with `__result_path__` naming the persisted result file)."""
import hashlib
import json
import os
import time

from protocol import SONG_SCHEMA_VERSION

from .storage import sha256_file

# Bumped whenever the analysis output changes, so cached results of older code are not served.
ANALYSIS_VERSION = "0.3-full"


def analysis_cache_key(audio_sha, params, model_versions):
    keyed = {"audio": audio_sha, "start": params.get("start"), "end": params.get("end"),
             "context": params.get("context"), "options": params.get("options"), "analysis": ANALYSIS_VERSION,
             "schema": SONG_SCHEMA_VERSION,
             "models": model_versions}
    return hashlib.sha256(json.dumps(keyed, sort_keys=True).encode("utf-8")).hexdigest()


def _write_out_dir(out_dir, path, obj):
    if not out_dir:
        return None
    os.makedirs(out_dir, exist_ok=True)
    target = os.path.join(out_dir, os.path.splitext(os.path.basename(path))[0] + ".bandmate.json")
    with open(target, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=1, sort_keys=True)
    return target


def analyze(ctx):
    from models.analysis.engine import analyze_file  # numpy/scipy/torch stay out of the daemon's start-up

    storage, pool = ctx.services["storage"], ctx.services["pool"]
    p = ctx.params
    if p.get("notes") is not None:
        from models.analysis.engine import analyze_notes

        ctx.progress("notes", 0.0)
        song = analyze_notes(p["notes"], context=p.get("context"), options=p.get("options"),
                             out_dir=p.get("out_dir"))
        return {"song": song, "cached": False, "__result_path__": storage.put_json(song, kind="analysis")}
    ctx.progress("hash", 0.0)
    audio_sha = sha256_file(p["path"])
    model_versions = {m["name"]: m["version"] for m in pool.status() if m["state"] == "warm"}
    key = analysis_cache_key(audio_sha, p, model_versions)
    hit = storage.cache_get(key)
    if hit is not None:
        with open(hit["result_path"], encoding="utf-8") as fh:
            song = json.load(fh)
        kinds = (p.get("options") or {}).get("exports")
        if kinds and p.get("out_dir"):  # the cached description, exported where this request asks
            from models.analysis.engine import parse_options, write_exports

            song["exports"] = write_exports(song, parse_options({"exports": kinds})["exports"], p["out_dir"])
        ctx.progress("cache", 1.0)
        return {"song": song, "cached": True, "__result_path__": hit["result_path"],
                "exported": _write_out_dir(p.get("out_dir"), p["path"], song)}
    warm = pool.warm_models()
    song = analyze_file(p["path"], p.get("start"), p.get("end"), p.get("context"), models=warm,
                        progress=ctx.progress, options=p.get("options"), out_dir=p.get("out_dir") or os.path.join(
                            str(storage.root), "analyses", ctx.job_id), separator=warm.get("htdemucs"))
    song["source"]["sha256"] = audio_sha
    result_path = storage.put_json(song, kind="analysis")
    storage.cache_put(key, ctx.job_id, audio_sha, {k: p.get(k) for k in ("start", "end", "context")},
                      model_versions, result_path)
    ctx.progress("done", 1.0)
    return {"song": song, "cached": False, "__result_path__": result_path,
            "exported": _write_out_dir(p.get("out_dir"), p["path"], song)}


def _optional_model(pool, name):
    """A model loaded on first use (start-up may have left it out), or None when it cannot be had."""
    if name not in pool.specs or pool.refuses(name):
        return None
    try:
        return pool.ensure(name)
    except Exception:  # noqa: BLE001 - the caller works without it
        return None


def generate(ctx):
    from models.generation.generate import generate as run

    storage, pool = ctx.services["storage"], ctx.services["pool"]
    p = ctx.params
    request = p["request"]
    model = pool.ensure("generation")
    diffusion = planner = None
    if request.get("renderer") == "diffusion":
        diffusion = pool.ensure("diffusion")   # not_available, with the reason, when it cannot load
    else:
        _optional_model(pool, "soundfont")     # warms FluidSynth; rendering also works cold
    if request.get("prompt"):
        planner = _optional_model(pool, "planner")   # without it the planner runs on rules
    analysis = None
    if request.get("analysis") is not None:
        analysis = ctx.services["resolve_analysis"](request["analysis"])
    out_dir = p.get("out_dir") or os.path.join(str(storage.root), "generations", ctx.job_id)
    result = run(request, model, planner=planner, analysis=analysis, out_dir=out_dir, progress=ctx.progress,
                 diffusion=diffusion)
    result["__result_path__"] = storage.put_json(dict(result), kind="generation")
    ctx.progress("done", 1.0)
    return result


def selftest(ctx):
    """Matrix-multiply throughput of the compute device, measured for `seconds`."""
    pool = ctx.services["pool"]
    seconds = min(600.0, max(0.05, ctx.params.get("seconds", 2.0)))
    device = pool.resolve_device()
    n = 512
    flops_per = 2.0 * n ** 3
    if device.torch_device is not None:
        import torch

        a = torch.randn(n, n, device=device.torch_device)
        b = torch.randn(n, n, device=device.torch_device)

        def step():
            (a @ b).sum().item()  # .item() waits for the device
        backend = "torch"
    else:
        import numpy as np

        a = np.random.default_rng(0).standard_normal((n, n)).astype("float32")
        b = a.T.copy()

        def step():
            float((a @ b).sum())
        backend = "numpy"
    step()  # warm-up
    t0 = time.perf_counter()
    iters = 0
    while True:
        step()
        iters += 1
        elapsed = time.perf_counter() - t0
        ctx.progress("matmul", min(1.0, elapsed / seconds))
        if elapsed >= seconds:
            break
    result = {"device": device.to_dict(), "backend": backend, "matrix": n, "iterations": iters,
              "seconds": round(elapsed, 4), "gflops": round(iters * flops_per / elapsed / 1e9, 3)}
    result["__result_path__"] = ctx.services["storage"].put_json(dict(result), kind="selftest")
    return result
