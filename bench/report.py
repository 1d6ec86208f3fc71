"""Writing results: JSON and a Markdown table under bench/results/."""
import json
import os
import platform
import time

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def machine():
    import multiprocessing

    return {"python": platform.python_version(), "platform": platform.platform(),
            "cpus": multiprocessing.cpu_count(), "when": time.strftime("%Y-%m-%d %H:%M:%S")}


def percentiles(values_ms, ps=(50, 90, 99)):
    import numpy as np

    arr = np.asarray(values_ms, dtype=float)
    out = {"p%d" % p: round(float(np.percentile(arr, p)), 4) for p in ps}
    out.update(mean=round(float(arr.mean()), 4), max=round(float(arr.max()), 4), n=int(arr.size))
    return out


def markdown_table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write(name, data, markdown, out_dir=None):
    out_dir = out_dir or RESULTS_DIR
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, name + ".json"), "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, sort_keys=True)
    with open(os.path.join(out_dir, name + ".md"), "w", encoding="utf-8") as fh:
        fh.write(markdown.rstrip() + "\n")
    return os.path.join(out_dir, name + ".json"), os.path.join(out_dir, name + ".md")
