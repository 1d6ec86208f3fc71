"""Source separation: a mix in, four stems out (drums, bass, other, vocals), with Demucs's htdemucs.

The model code, the release listing and the checkpoint format are Demucs's own (MIT; the `separation` extra,
or `pip install --no-deps demucs==4.1.0 einops julius tqdm pyyaml`). Demucs 4.1 needs no torchaudio; its audio
I/O modules (sphn, lameenc) are not imported here. The weights (42 M parameters, about 80 MB) are not shipped:
`bandmate models fetch htdemucs` downloads them from the URL that Demucs's own release listing gives, into the
user's model cache. Where they are absent, `load_separator` raises SeparationUnavailable with the paths it
searched and the command that fixes it.

Where the weights are looked for, in order:
1. the configured path: `models.htdemucs` in the config, else the environment variable BANDMATE_HTDEMUCS. It
   may name a `.th` file (Demucs's package format), a `.safetensors` file (Demucs's HuggingFace format), or a
   folder in Demucs's local-repo layout (`htdemucs.yaml` beside `955717e8-8726e21a.th` or
   `955717e8.safetensors`);
2. Bandmate's model cache: `<user cache dir>/bandmate/models/htdemucs` (what `models fetch` writes);
3. the torch hub cache Demucs itself downloads into (`<torch hub dir>/checkpoints/955717e8-*.th`);
4. the HuggingFace cache of `adefossez/HTDemucs` (Demucs 4.1's own default source).

Separation runs the song in blocks of `block_seconds` (default 60 s) with a 1 s linear crossfade between blocks,
and inside each block Demucs's `apply_model` splits into the model's 7.8 s training segments with overlap, so
memory stays bounded for any length: stems are streamed to FLAC files block by block.
"""
from __future__ import annotations

import glob
import hashlib
import os
import pathlib
import shutil
import tempfile
import urllib.request
from fractions import Fraction

import numpy as np

from protocol import BandmateError

MODEL_NAME = "htdemucs"
ENV_VAR = "BANDMATE_HTDEMUCS"
HF_REPO = "adefossez/HTDemucs"
BLOCK_SECONDS = 60.0
CROSSFADE_SECONDS = 1.0
DOWNLOAD_TIMEOUT_S = 30.0
FETCH_HINT = "run `bandmate models fetch htdemucs`"
INSTALL_HINT = 'pip install -e ".[separation]" (or: pip install --no-deps demucs==4.1.0 einops julius tqdm pyyaml)'

# The released htdemucs (signature 955717e8): the HTDemucs arguments stored in its checkpoint that differ from
# the class defaults (Demucs's conf/config.yaml `htdemucs` section with the grids/mmi.py experiment's overrides:
# dconv_mode 3, bottom_channels 512, t_dropout 0.02; 7.8 s segments at 44.1 kHz stereo). Builds the real
# architecture with random weights for the speed benchmark and the tests; inference never needs it (a
# checkpoint carries its own arguments).
RELEASE_ARCH = {
    "sources": ["drums", "bass", "other", "vocals"], "audio_channels": 2, "samplerate": 44100,
    "segment": Fraction(39, 5), "multi_freqs": [], "dconv_mode": 3, "bottom_channels": 512, "t_dropout": 0.02,
    "t_sparse_attn_window": 400,
}


class SeparationUnavailable(Exception):
    """Separation cannot run on this installation; `reason` says why and how to fix it."""

    def __init__(self, reason):
        super().__init__("separation unavailable: " + reason)
        self.reason = reason


def _demucs():
    """Import Demucs's model modules, or say how to install them."""
    try:
        import demucs.apply
        import demucs.hf
        import demucs.htdemucs
        import demucs.pretrained
        import demucs.repo
        import demucs.states
    except ImportError as exc:
        raise SeparationUnavailable("demucs is not installed (%s): %s" % (exc, INSTALL_HINT))
    return demucs


def release_files(name: str = MODEL_NAME) -> dict:
    """What Demucs's own release listing says about a pretrained model: {"yaml": path of the bag definition
    shipped in the demucs package, "signatures": [...], "urls": {signature: download URL},
    "files": {signature: file name, with its sha256 prefix}}."""
    import yaml

    dm = _demucs()
    yaml_path = os.path.join(str(dm.pretrained.REMOTE_ROOT), name + ".yaml")
    if not os.path.exists(yaml_path):
        raise SeparationUnavailable("demucs does not list a model named %r" % name)
    with open(yaml_path, encoding="utf-8") as fh:
        bag = yaml.safe_load(fh)
    urls = dm.pretrained._parse_remote_files(dm.pretrained.REMOTE_ROOT / "files.txt")
    sigs = [str(s) for s in bag["models"]]
    missing = [s for s in sigs if s not in urls]
    if missing:
        raise SeparationUnavailable("demucs's release listing has no URL for %s" % ", ".join(missing))
    return {"yaml": yaml_path, "signatures": sigs, "urls": {s: urls[s] for s in sigs},
            "files": {s: urls[s].rsplit("/", 1)[1] for s in sigs}}


def cache_dir() -> str:
    """Bandmate's htdemucs folder in the user's model cache (platformdirs user cache dir)."""
    import platformdirs

    return os.path.join(platformdirs.user_cache_dir("bandmate", appauthor=False), "models", MODEL_NAME)


def _configured_path(config):
    """The path the config (`models.htdemucs`, a dict, a Config or a ModelsConfig) or BANDMATE_HTDEMUCS names."""
    value = None
    if isinstance(config, str):
        value = config
    elif isinstance(config, dict):
        value = config.get("htdemucs") or (config.get("models") or {}).get("htdemucs")
    elif config is not None:
        value = getattr(config, "htdemucs", None) or getattr(getattr(config, "models", None), "htdemucs", None)
    return value or os.environ.get(ENV_VAR) or None


def weight_locations(config=None) -> list:
    """[(label, path)] in search order; paths may not exist. See the module docstring."""
    locations = []
    configured = _configured_path(config)
    if configured:
        locations.append(("configured", os.path.abspath(os.path.expanduser(configured))))
    locations.append(("bandmate cache", cache_dir()))
    try:
        import torch

        locations.append(("torch hub cache", os.path.join(torch.hub.get_dir(), "checkpoints")))
    except ImportError:  # pragma: no cover - torch is a core dependency
        pass
    try:
        from huggingface_hub.constants import HF_HUB_CACHE

        locations.append(("huggingface cache", os.path.join(HF_HUB_CACHE, "models--" + HF_REPO.replace("/", "--"),
                                                            "snapshots")))
    except ImportError:
        pass
    return locations


def load_separator(config=None, device=None):
    """The htdemucs model (a Demucs BagOfModels), loaded from the first location holding its weights, in eval
    mode, on `device` (a torch device; CPU by default). Raises SeparationUnavailable with a human reason."""
    import torch

    _demucs()
    release = release_files()
    searched = []
    for label, path in weight_locations(config):
        searched.append(path)
        if label == "configured" and not os.path.exists(path):
            raise SeparationUnavailable("the configured htdemucs weights %s (models.htdemucs / %s) do not exist"
                                        % (path, ENV_VAR))
        model = _load_from(path, release, explicit=label == "configured")
        if model is not None:
            model.eval()
            if device is not None:
                model.to(device)
            # On a GPU a song separates in seconds; on a CPU it takes minutes (bench/results/separation.md).
            model.fast_device = device is not None and torch.device(device).type in ("cuda", "mps")
            return model
    raise SeparationUnavailable("htdemucs weights not found in %s; %s" % (", ".join(searched), FETCH_HINT))


def registry_loader(device):
    """The model registry's loader for `htdemucs` (device: daemon/device.py's choice). Raises the registry's
    ModelUnavailable with the reason. Demucs computes complex STFTs inside the model, which DirectML lacks, so
    there the model stays on the CPU."""
    from models.registry import ModelUnavailable

    torch_device = None if getattr(device, "kind", "cpu") == "directml" else getattr(device, "torch_device", None)
    try:
        return load_separator(device=torch_device)
    except SeparationUnavailable as exc:
        raise ModelUnavailable(str(exc))


def _load_from(path, release, explicit=False):
    """A BagOfModels from a file or folder, or None when the folder holds no htdemucs weights."""
    dm = _demucs()
    if os.path.isfile(path):
        return dm.apply.BagOfModels([_load_one(path, release)])
    if not os.path.isdir(path):
        return None
    folders = [path] + sorted(glob.glob(os.path.join(path, "*", "")))  # HF cache: one folder per snapshot
    for folder in folders:
        yaml_path = os.path.join(folder, MODEL_NAME + ".yaml")
        weights, segment, sigs = None, None, release["signatures"]
        if os.path.exists(yaml_path):
            import yaml

            with open(yaml_path, encoding="utf-8") as fh:
                bag = yaml.safe_load(fh) or {}
            sigs, weights, segment = [str(s) for s in bag.get("models", sigs)], bag.get("weights"), bag.get("segment")
        files = [_weight_file(folder, sig) for sig in sigs]
        if all(files):
            return dm.apply.BagOfModels([_load_one(f, release) for f in files], weights, segment)
        if os.path.exists(yaml_path) or (explicit and any(files)):
            missing = [s for s, f in zip(sigs, files) if not f]
            raise SeparationUnavailable("%s lacks the weights for signature %s (%s or %s.safetensors)"
                                        % (folder, ", ".join(missing), release["files"].get(missing[0], "?"),
                                           missing[0]))
    if explicit:
        raise SeparationUnavailable("%s holds no htdemucs weights (%s)" % (path, ", ".join(release["files"].values())))
    return None


def _weight_file(folder, sig):
    for pattern in (sig + "-*.th", sig + ".th", sig + ".safetensors"):
        found = sorted(glob.glob(os.path.join(folder, pattern)))
        if found:
            return found[0]
    return None


def _load_one(path, release):
    """One Demucs model from a `.safetensors` or `.th` file. A `.th` named `<sig>-<sha256 prefix>.th` is checked
    against its checksum first (as Demucs does). It is a pickle: it is read with torch's weights-only unpickler
    allowing just Demucs's model classes and Fraction; only a file whose checksum matches Demucs's own release
    listing is trusted with the full unpickler when that is not enough."""
    import pickle

    import torch

    dm = _demucs()
    if path.endswith(".safetensors"):
        return dm.hf.load_safetensors_model(path)
    stem = os.path.splitext(os.path.basename(path))[0]
    verified = False
    if "-" in stem:
        sig, checksum = stem.rsplit("-", 1)
        try:
            dm.repo.check_checksum(pathlib.Path(path), checksum)
        except dm.repo.ModelLoadingError as exc:
            raise SeparationUnavailable("%s is damaged (%s); %s again" % (path, exc, FETCH_HINT))
        verified = release["files"].get(sig) == os.path.basename(path)
    from demucs.demucs import Demucs
    from demucs.hdemucs import HDemucs
    from demucs.htdemucs import HTDemucs

    try:
        with torch.serialization.safe_globals([HTDemucs, HDemucs, Demucs, Fraction]):
            package = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if not verified:
            raise SeparationUnavailable("%s holds objects beyond a Demucs model package; refusing to unpickle it "
                                        "(%s)" % (path, str(exc).splitlines()[0]))
        package = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(package, dict) or "klass" not in package:
        raise SeparationUnavailable("%s is not a Demucs model package" % path)
    return dm.states.load_model(package)


def release_architecture(seed: int = 0, **overrides):
    """The released htdemucs architecture (RELEASE_ARCH) with random weights, wrapped as a BagOfModels like the
    loaded model. For benchmarks and tests: it separates nothing useful."""
    import torch

    dm = _demucs()
    torch.manual_seed(seed)
    model = dm.htdemucs.HTDemucs(**dict(RELEASE_ARCH, **overrides))
    return dm.apply.BagOfModels([model]).eval()


def _block_starts(n, block, fade):
    """Start samples of the blocks separate() runs: each spans block + fade samples, the last reaches n."""
    starts = [0]
    while starts[-1] + block + fade < n:
        starts.append(starts[-1] + block)
    return starts


def _as_frames(y):
    """(samples, channels) float32 from a 1-D or 2-D array; bad_params for anything else."""
    if not isinstance(y, np.ndarray):
        raise BandmateError("bad_params", "audio must be a numpy array (samples, channels)")
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[0] == 0 or y.shape[1] == 0:
        raise BandmateError("bad_params", "audio must be (samples, channels) with samples > 0, got shape %s"
                            % (y.shape,))
    y = y.astype(np.float32, copy=False)
    if not np.all(np.isfinite(y)):
        raise BandmateError("bad_params", "audio contains NaN or infinite samples")
    return y


def separate(y: np.ndarray, sr: int, out_dir: str, model=None, progress=None, block_seconds: float = BLOCK_SECONDS,
             overlap: float = 0.25, shifts: int = 0) -> dict:
    """Split a mix into stems and write them as FLAC (24-bit) files `<out_dir>/<stem>.flac`.

    y: audio, (samples, channels) or (samples,), float32 in [-1, 1]; sr: its sample rate in Hz. The model runs
    at its own rate (44.1 kHz stereo): the mix is resampled there and the stems back to `sr`, so every stem has
    exactly the input's number of samples; a mono mix gives mono stems, a stereo (or wider: first two
    channels) mix stereo stems. model: a loaded separator (load_separator()); loaded here when None.
    progress(stage, fraction) is called as segments finish. overlap: fraction of Demucs's 7.8 s segments that
    overlap; shifts: Demucs's random-shift averaging (0 = off; each shift costs one more pass).

    Returns {stem: {"path", "sample_rate" (Hz), "channels", "frames" (samples), "duration" (s)}}, stems named by
    the model (drums, bass, other, vocals)."""
    import soundfile as sf
    import soxr
    import torch

    dm = _demucs()
    report = progress or (lambda stage, fraction: None)
    y = _as_frames(y)
    if not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise BandmateError("bad_params", "sample rate must be a positive integer in Hz, got %r" % (sr,))
    if not 0.0 <= overlap < 1.0:
        raise BandmateError("bad_params", "overlap must be in [0, 1), got %r" % (overlap,))
    if block_seconds < 2 * CROSSFADE_SECONDS:
        raise BandmateError("bad_params", "block_seconds must be at least %g s" % (2 * CROSSFADE_SECONDS))
    model = model if model is not None else load_separator()
    msr, mch = int(model.samplerate), int(model.audio_channels)
    n_out, out_ch = y.shape[0], (1 if y.shape[1] == 1 else mch)

    x = y[:, :mch] if y.shape[1] >= mch else np.repeat(y[:, :1], mch, axis=1)
    if sr != msr:
        x = soxr.resample(x, sr, msr, quality="HQ").astype(np.float32, copy=False)
    # Demucs's models expect a standardised mix: scale by the mono mix's spread, undo on the stems.
    ref = x.mean(axis=1)
    mean, std = float(ref.mean()), float(ref.std())
    std = std if std > 1e-8 else 1.0
    x = (x - mean) / std
    n = x.shape[0]

    os.makedirs(out_dir, exist_ok=True)
    paths = {s: os.path.abspath(os.path.join(out_dir, s + ".flac")) for s in model.sources}
    writers = {s: sf.SoundFile(p, "w", samplerate=sr, channels=out_ch, format="FLAC", subtype="PCM_24")
               for s, p in paths.items()}
    resamplers = ({s: soxr.ResampleStream(msr, sr, out_ch, dtype="float32", quality="HQ") for s in model.sources}
                  if sr != msr else None)
    written = dict.fromkeys(model.sources, 0)
    device = next(iter(model.parameters())).device
    block, fade = int(block_seconds * msr), int(CROSSFADE_SECONDS * msr)
    segment_len = int(float(model.models[0].segment if hasattr(model, "models") else model.segment) * msr)
    stride = max(1, int((1 - overlap) * segment_len))
    total_segments = max(1, shifts) * sum(-(-(min(n, a + block + fade) - a) // stride)
                                          for a in _block_starts(n, block, fade))
    done = [0]

    def on_segment(info):
        if info.get("state") == "end":
            done[0] += 1
            report("separate", min(1.0, done[0] / total_segments))

    def emit(stems, last):
        for k, name in enumerate(model.sources):
            part = stems[k].T * std + mean  # (samples, channels) at the model rate
            if out_ch == 1:
                part = part.mean(axis=1, keepdims=True)
            part = np.ascontiguousarray(part, dtype=np.float32)
            if resamplers is not None:
                part = resamplers[name].resample_chunk(part, last=last)
            part = part[:max(0, n_out - written[name])]
            writers[name].write(np.clip(part, -1.0, 1.0))
            written[name] += part.shape[0]

    try:
        carry, start = None, 0
        while start < n:
            end = min(n, start + block + fade)
            mix = torch.from_numpy(np.ascontiguousarray(x[start:end].T))[None]
            with torch.no_grad():
                out = dm.apply.apply_model(model, mix, shifts=shifts, split=True, overlap=overlap, device=device,
                                           progress=False, callback=on_segment)[0].cpu().numpy()
            if carry is not None:  # crossfade with the previous block's tail
                f = carry.shape[-1]
                up = (np.arange(f, dtype=np.float32) + 0.5) / f
                out[..., :f] = out[..., :f] * up + carry
            if end < n:
                f = end - (start + block)
                down = 1.0 - (np.arange(f, dtype=np.float32) + 0.5) / f
                carry = out[..., block:] * down
                emit(out[..., :block], last=False)
            else:
                emit(out, last=True)
                break
            start += block
        for name in model.sources:  # resampling can end a few samples short of the input's length
            if written[name] < n_out:
                writers[name].write(np.zeros((n_out - written[name], out_ch), dtype=np.float32))
                written[name] = n_out
    finally:
        for w in writers.values():
            w.close()
    report("separate", 1.0)
    return {name: {"path": paths[name], "sample_rate": int(sr), "channels": out_ch, "frames": written[name],
                   "duration": round(written[name] / float(sr), 6)} for name in model.sources}


def separate_file(model, path: str, out_dir: str, start: float | None = None, end: float | None = None,
                  progress=None) -> dict:
    """separate() of an audio file's [start, end) seconds (the whole file by default), decoded by
    models.analysis.audio (any format Bandmate reads). Stems keep the file's sample rate. model: a loaded
    separator, or None to load one. Returns separate()'s dict."""
    from .audio import iter_blocks, probe, resolve_range

    info = probe(path)
    start, end = resolve_range(info, start, end)
    blocks = list(iter_blocks(path, info, start, end))
    if not blocks:
        raise BandmateError("corrupt_file", "%s: no audio data could be decoded" % os.path.basename(path))
    return separate(np.concatenate(blocks), info["sample_rate"], out_dir, model=model, progress=progress)


def fetch(dest: str | None = None, progress=None) -> str:
    """Download htdemucs's weights from the URL Demucs's release listing gives into `dest` (default: the
    Bandmate model cache), with Demucs's bag definition beside them, so `dest` is a Demucs local repo. The
    file's sha256 prefix (in its name) is checked. Returns `dest`; raises SeparationUnavailable when the
    download fails (no internet, proxy, checksum)."""
    release = release_files()
    dest = os.path.abspath(os.path.expanduser(dest or cache_dir()))
    os.makedirs(dest, exist_ok=True)
    for sig in release["signatures"]:
        name, url = release["files"][sig], release["urls"][sig]
        target = os.path.join(dest, name)
        if os.path.exists(target):
            continue
        _download(url, target, expect_sha256=name.rsplit("-", 1)[1].split(".")[0], progress=progress)
    shutil.copyfile(release["yaml"], os.path.join(dest, MODEL_NAME + ".yaml"))
    return dest


def _download(url, target, expect_sha256, progress=None):
    sha = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                resp = urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S)
            except (OSError, ValueError) as exc:
                raise SeparationUnavailable("cannot download htdemucs weights from %s (%s). Download them on a "
                                            "machine with internet (`bandmate models fetch htdemucs --to DIR`) and "
                                            "copy DIR to %s, or point %s at it"
                                            % (url, getattr(exc, "reason", exc), cache_dir(), ENV_VAR))
            with resp:
                total = int(resp.headers.get("Content-Length") or 0)
                got = 0
                while True:
                    chunk = resp.read(1 << 20)
                    if not chunk:
                        break
                    out.write(chunk)
                    sha.update(chunk)
                    got += len(chunk)
                    if progress and total:
                        progress("download", got / total)
        if not sha.hexdigest().startswith(expect_sha256):
            raise SeparationUnavailable("downloaded %s does not match its checksum %s (got %s)"
                                        % (url, expect_sha256, sha.hexdigest()[:len(expect_sha256)]))
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def fetch_main(argv=None) -> int:
    """`bandmate models fetch htdemucs [--to DIR]`."""
    import argparse
    import sys

    ap = argparse.ArgumentParser(prog="bandmate models fetch",
                                 description="download third-party model weights into the model cache")
    ap.add_argument("model", choices=[MODEL_NAME])
    ap.add_argument("--to", help="folder to write the weights to (default %s)" % cache_dir())
    args = ap.parse_args(argv)
    try:
        dest = fetch(args.to, progress=lambda stage, f: print("\r%s %3.0f%%" % (stage, 100 * f), end="",
                                                                 file=sys.stderr))
    except SeparationUnavailable as exc:
        print("\nbandmate: error not_available: %s" % exc, file=sys.stderr)
        return 1
    print("\n%s weights in %s" % (args.model, dest))
    if args.to:
        print("point Bandmate at them with %s=%s (or models.htdemucs in config.toml)" % (ENV_VAR, dest))
    return 0
