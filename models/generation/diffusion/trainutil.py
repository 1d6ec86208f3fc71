"""What both training commands share: device and DDP setup, resumable state, the time cap, checkpoints with
their cards, loss-curve plots.

DDP: launched with `torchrun --nproc_per_node N -m models.train_cli vae ...` each process trains on its own
batches and gradients are averaged; only rank 0 evaluates, saves and plots. Without torchrun it is one process.
"""
from __future__ import annotations

import json
import math
import os
import time

import torch

from .config import DATA_DIR


def common_arguments(ap, out, work, minutes, eval_every, plot):
    """The options both training commands share: data cache, songbook sets, output, resumable work folder,
    time cap, steps, batch, evaluation period, threads, device, seed and the loss-curve PNG."""
    ap.add_argument("--data", default=DATA_DIR, help="crop cache (python -m models.generation.diffusion.data)")
    ap.add_argument("--sets", nargs="*", default=None, help="songbook sets (train split) to build the crop cache "
                    "from when --data has none yet")
    ap.add_argument("--max-songs", type=int, default=200, help="songs rendered into a new cache")
    ap.add_argument("--out", default=out)
    ap.add_argument("--work", default=work, help="resumable training state")
    ap.add_argument("--minutes", type=float, default=minutes, help="wall-time cap (0 = none)")
    ap.add_argument("--steps", type=int, default=100000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--eval-every", type=int, default=eval_every)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plot", default=plot)
    ap.add_argument("--init", default=None, help="checkpoint (without extension) whose weights start a new run "
                    "(ignored when --work holds a resumable state)")
    ap.add_argument("--cosine", action="store_true", help="decay the learning rate along a half cosine to 5%% "
                    "over this run's budget (the --minutes cap, else --steps)")
    return ap


def run_record(prog: str, ap, args) -> dict:
    """What a model card keeps about how it was trained: the command with every option that differs from its
    default, and, for a run started from `--init`, that checkpoint's own card figures (so the total training is
    stated, not just this run's)."""
    parts = [prog]
    for action in ap._actions:
        if not action.option_strings or action.dest == "help":
            continue
        v = getattr(args, action.dest)
        if v == action.default or action.dest in ("plot", "work"):
            continue
        flag = action.option_strings[-1]
        parts += [flag] if v is True else [flag, " ".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)]
    rec = {"command": " ".join(parts)}
    if args.init:
        rec["init"] = {"path": os.path.basename(args.init)}
        try:
            with open(args.init + ".json", encoding="utf-8") as fh:
                c = json.load(fh)
        except (OSError, ValueError):
            return rec
        rec["init"]["version"] = c.get("version")
        for k in ("steps", "train_seconds"):      # the starting checkpoint's own training, its own start included
            rec["init"][k] = c.get(k, 0) + (c.get("init") or {}).get(k, 0)
    return rec


def init_from(model, path, new: tuple = ()) -> None:
    """Start `model` from the weights of checkpoint `path` (without extension): `--init`. Parameters whose names
    start with one of `new` may be missing from the checkpoint (modules this run adds, left at their own start);
    any other mismatch is an error."""
    missing, unexpected = model.load_state_dict(load_weights(path + ".safetensors"), strict=False)
    bad = [k for k in missing if not k.startswith(tuple(new) or ("\0",))] + list(unexpected)
    if bad:
        raise ValueError("%s does not fit this model: %s" % (path, ", ".join(bad[:6])))
    print("initialised from %s%s" % (path, " (new: %s)" % ", ".join(sorted({k.split(".")[0] for k in missing}))
                                     if missing else ""))


def learning_rate(base: float, step: int, steps: int, cap: "TimeCap", cosine: bool, warmup: int = 0) -> float:
    """The learning rate of one step: linear warm-up over `warmup` steps, then constant, or with `cosine` a half
    cosine from `base` to 5 % of it over the run's budget (whichever of the time cap and the step count is
    closer to its end)."""
    lr = base * min(1.0, (step + 1) / warmup) if warmup else base
    if cosine:
        frac = min(1.0, max(step / max(steps, 1), cap.fraction() or 0.0))
        lr *= 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * frac))
    return lr


def start(args):
    """Common start of a training run: device (and DDP rank), seeds, the crop cache (built when missing), the
    crops and their train/validation split. Returns (device, rank, world, rng, (audio, ints, floats, meta),
    train indices, validation indices)."""
    import numpy as np

    from .data import ensure_cache, load

    device, rank, world = setup(args.device, args.threads)
    torch.manual_seed(args.seed + rank)
    rng = np.random.default_rng(args.seed + rank)
    ensure_cache(args.data, args.sets, args.max_songs)
    data = load(args.data)
    train, valid = split_indices(data[3])
    return device, rank, world, rng, data, train, valid


def setup(device_arg: str = "auto", threads: int | None = None):
    """(device, rank, world size); initialises torch.distributed under torchrun."""
    if threads:
        torch.set_num_threads(threads)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if device_arg == "auto":
        device_arg = "cuda" if torch.cuda.is_available() else "cpu"
    if world > 1:
        import torch.distributed as dist

        dist.init_process_group("nccl" if device_arg == "cuda" else "gloo")
        if device_arg == "cuda":
            local = int(os.environ.get("LOCAL_RANK", "0"))
            torch.cuda.set_device(local)
            device_arg = "cuda:%d" % local
    return torch.device(device_arg), rank, world


def wrap_ddp(model, device, world):
    if world <= 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


class Progress:
    """What both training loops keep and resume: step, loss history, the best validation value and its
    weights, and wall time (`elapsed` before this run, plus this run's since `t0`)."""

    def __init__(self, state: dict | None = None):
        self.step, self.history, self.best, self.best_sd, self.elapsed = 0, {"train": [], "valid": []}, \
            float("inf"), None, 0.0
        if state is not None:
            self.step, self.history, self.best, self.best_sd, self.elapsed = (
                state[k] for k in ("step", "history", "best", "best_sd", "elapsed"))
        self.t0, self.running = time.time(), []

    def add(self, loss):
        """One training step's loss."""
        self.step += 1
        self.running.append(float(loss.detach()))

    def record(self, value: float, weights: dict, label: str = "valid") -> float:
        """A validation `value` of the current `weights` (state dict): history, best, a log line. Returns the
        wall time so far."""
        import numpy as np

        self.history["train"].append((self.step, float(np.mean(self.running))))
        self.history["valid"].append((self.step, value))
        self.running = []
        if value < self.best:
            self.best = value
            self.best_sd = {k: t.detach().cpu().clone() for k, t in weights.items()}
        now = self.elapsed + time.time() - self.t0
        print("step %d  train %.4f  %s %.4f  best %.4f  %.0f s" % (self.step, self.history["train"][-1][1], label,
                                                                    value, self.best, now), flush=True)
        return now

    def saved(self, now: float) -> dict:
        """The fields save_state keeps for a resume."""
        return {"step": self.step, "history": self.history, "best": self.best, "best_sd": self.best_sd,
                "elapsed": now}

    def finish(self):
        self.elapsed += time.time() - self.t0


class TimeCap:
    """Stops training after `minutes` of wall time (checked between steps)."""

    def __init__(self, minutes: float | None):
        self.start = time.time()
        self.end = None if not minutes else self.start + 60.0 * minutes

    def fraction(self):
        """Share of the wall-time budget used (None without a cap)."""
        return None if self.end is None else (time.time() - self.start) / (self.end - self.start)

    def done(self) -> bool:
        return self.end is not None and time.time() >= self.end


def save_state(path, **state):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_state(path):
    if not os.path.exists(path):
        return None
    return torch.load(path, map_location="cpu", weights_only=False)


def save_checkpoint(out, state_dict: dict, card: dict, half: bool = True):
    """`out`.safetensors (float16 to keep the repository small) and `out`.json (the card's machine half)."""
    from safetensors.torch import save_file

    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tensors = {k: (v.detach().cpu().half() if half and v.is_floating_point() else v.detach().cpu()).contiguous()
               for k, v in state_dict.items()}
    save_file(tensors, out + ".safetensors")
    with open(out + ".json", "w", encoding="utf-8") as fh:
        json.dump(card, fh, indent=1)


def load_weights(path):
    """A safetensors file as float32 tensors."""
    from safetensors.torch import load_file

    return {k: (v.float() if v.is_floating_point() else v) for k, v in load_file(path).items()}


def plot_curves(path, history: dict, title: str):
    """history: {name: [(step, value), ...]} -> a PNG (log-scale y)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, pts in history.items():
        if pts:
            xs, ys = zip(*pts)
            ax.plot(xs, ys, label=name, lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def split_indices(meta: dict, valid_fraction: float = 0.05):
    """(train, valid) crop indices, split by song so no valid song is trained on."""
    import zlib

    train, valid = [], []
    for i, c in enumerate(meta["crops"]):
        h = zlib.crc32(c["song"].encode()) % 1000
        (valid if h < valid_fraction * 1000 else train).append(i)
    if not valid or not train:   # tiny caches (tests): hold out the last tenth of the crops instead
        allc = sorted(train + valid)
        k = max(1, len(allc) // 10)
        train, valid = allc[:-k] or allc, allc[-k:]
    return train, valid
