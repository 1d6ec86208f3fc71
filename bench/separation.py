"""Separation speed: htdemucs's real-time factor on this machine's CPU.

The model is Demucs's HTDemucs class built with the released htdemucs's arguments (models.analysis.separation.
RELEASE_ARCH, 42 M parameters) and random weights: the weights do not change the cost, and they need no
download. It runs Demucs's own apply_model the way separate() does (7.8 s segments, 25 % overlap, no shifts)
on `--seconds` of audio, once per thread count. RTF = processing seconds / audio seconds (below 1 is faster
than real time).

    bandmate bench separation [--seconds 30] [--threads 1,2] [--audio mix.flac] [--json] [--out-dir DIR]
"""
import argparse
import json
import os
import platform
import sys
import time

from . import report


def _audio(path, seconds, sr):
    """(2, samples) float32 at `sr`: the start of `path`, or seeded noise shaped like a mix (the model's
    weights are random, so content does not matter for speed)."""
    import numpy as np

    n = int(seconds * sr)
    if path:
        import soundfile as sf
        import soxr

        y, file_sr = sf.read(path, dtype="float32", always_2d=True)
        y = y[:, :2] if y.shape[1] >= 2 else np.repeat(y, 2, axis=1)
        if file_sr != sr:
            y = soxr.resample(y, file_sr, sr)
        y = np.tile(y, (int(np.ceil(n / len(y))), 1))[:n]
        return np.ascontiguousarray(y.T, dtype=np.float32)
    rng = np.random.default_rng(0)
    return (0.1 * rng.standard_normal((2, n))).astype(np.float32)


def run(seconds=30.0, threads=(1, 2), audio=None, overlap=0.25):
    import psutil
    import torch
    from demucs.apply import apply_model

    from models.analysis.separation import RELEASE_ARCH, release_architecture

    model = release_architecture(seed=0)
    sr = int(model.samplerate)
    mix = torch.from_numpy(_audio(audio, seconds, sr))[None]
    params = sum(p.numel() for p in model.parameters())
    torch.set_num_threads(max(threads))
    t0 = time.perf_counter()
    with torch.no_grad():  # warm-up: one segment, so first-call costs stay out of the timings
        apply_model(model, mix[..., :sr], shifts=0, split=True, overlap=overlap)
    warmup_s = time.perf_counter() - t0
    runs = []
    for n_threads in threads:
        torch.set_num_threads(n_threads)
        load_before = os.getloadavg()[0]
        t0, c0 = time.perf_counter(), time.process_time()
        with torch.no_grad():
            out = apply_model(model, mix, shifts=0, split=True, overlap=overlap)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        assert out.shape == (1, len(model.sources), 2, mix.shape[-1])
        # CPU seconds and the load average show whether other work shared the cores during the run.
        runs.append({"threads": n_threads, "seconds": round(elapsed, 3), "rtf": round(elapsed / seconds, 4),
                     "cpu_seconds": round(cpu, 3), "load_avg_1min": [round(load_before, 2),
                                                                     round(os.getloadavg()[0], 2)]})
        print("threads %d: %.1f s for %.0f s of audio, RTF %.3f" % (n_threads, elapsed, seconds, elapsed / seconds),
              file=sys.stderr)
    return {
        "model": "htdemucs (release architecture, random weights)", "parameters": int(params),
        "segment_s": float(RELEASE_ARCH["segment"]), "overlap": overlap, "shifts": 0, "audio_seconds": seconds,
        "audio": audio or "seeded noise", "warmup_s": round(warmup_s, 3), "runs": runs,
        "peak_rss_mb": round(psutil.Process().memory_info().rss / 1e6, 1), "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(), "machine": report.machine(),
    }


def to_markdown(res):
    rows = [[r["threads"], "%.1f" % r["seconds"], "%.3f" % r["rtf"], "%.0f s" % (r["rtf"] * 180),
             "%.1f" % r["cpu_seconds"], "%.1f -> %.1f" % tuple(r["load_avg_1min"])] for r in res["runs"]]
    return "\n".join([
        "# Separation speed: htdemucs on CPU", "",
        "%s, %.1f M parameters; Demucs apply_model on %.0f s of %s, %.1f s segments, overlap %.2f, no shifts. "
        "torch %s, %s, %d CPUs, %s." % (res["model"], res["parameters"] / 1e6, res["audio_seconds"], res["audio"],
                                          res["segment_s"], res["overlap"], res["torch"], res["cpu"],
                                          res["machine"]["cpus"], res["machine"]["when"]), "",
        report.markdown_table(["threads", "seconds", "RTF", "3-min song", "CPU seconds", "load avg (1 min)"], rows),
        "", "RTF = processing time / audio time. CPU seconds: the process's CPU time in the run; a load average "
        "above the CPU count means other work shared the cores, and the wall time is then pessimistic. "
        "Peak RSS %.0f MB." % res["peak_rss_mb"],
    ])


def main(argv=None):
    ap = argparse.ArgumentParser(prog="bandmate bench separation", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=30.0, help="audio length to separate, seconds")
    ap.add_argument("--threads", default="1,2", help="comma-separated torch thread counts")
    ap.add_argument("--audio", help="audio file to use (default: seeded noise)")
    ap.add_argument("--overlap", type=float, default=0.25)
    ap.add_argument("--json", action="store_true", help="print the JSON instead of the Markdown")
    ap.add_argument("--out-dir", help="where to write separation.json/.md (default bench/results)")
    args = ap.parse_args(argv)
    threads = [int(t) for t in args.threads.split(",") if t.strip()]
    try:
        res = run(args.seconds, threads, args.audio, args.overlap)
    except ImportError as exc:
        print("bandmate bench separation needs demucs (pip install --no-deps demucs==4.1.0): %s" % exc,
              file=sys.stderr)
        return 2
    md = to_markdown(res)
    paths = report.write("separation", res, md, args.out_dir)
    print(json.dumps(res, indent=1) if args.json else md)
    print("\nwritten: %s" % ", ".join(paths), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
