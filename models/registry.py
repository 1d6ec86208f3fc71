"""The pretrained-model registry: every model the daemon can keep warm, where its weights come from, and how
to load it onto a device. Loaders take a device choice (see daemon/device.py: it has `kind`, `torch_device`
and `onnx_providers`) and return the loaded object. A model whose weights are absent is reported unavailable
with the reason and the command that provides it; it never stops the daemon.
"""
import importlib
import importlib.util
import os
from dataclasses import dataclass, field

CHECKPOINT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "checkpoints")


class ModelUnavailable(Exception):
    """The model cannot be loaded on this installation; the message says why and how to fix it."""


@dataclass
class ModelSpec:
    name: str
    task: str
    version: str
    licence: str
    loader: object  # callable(device_choice) -> loaded model
    description: str = ""
    default: bool = True  # loaded at start when the config says load = ["*"]
    extra: dict = field(default_factory=dict)


def onnx_session(path, providers):
    """An onnxruntime session on the first usable provider (falls back to CPU if the provider fails)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(path, sess_options=opts, providers=list(providers))
    except Exception:
        if list(providers) == ["CPUExecutionProvider"]:
            raise
        return ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])


def package_file(package, *parts):
    """Path of a file shipped inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], *parts)
    return path if os.path.exists(path) else None


def _load_basic_pitch(device):
    path = package_file("basic_pitch", "saved_models", "icassp_2022", "nmp.onnx")
    if path is None:
        raise ModelUnavailable("basic-pitch is not installed: pip install --no-deps basic-pitch")
    return onnx_session(path, device.onnx_providers)


def _load_chords(device):
    from models.analysis.engine import CHORD_CHECKPOINT, load_chord_model

    model = load_chord_model(device=device.torch_device)
    if model is None:
        raise ModelUnavailable("no trained chord model at %s.safetensors (bandmate train chords)" % CHORD_CHECKPOINT)
    return model


def _load_live_chords(device):
    from models.analysis.live_net import CHECKPOINT, load_live_model

    model = load_live_model()
    if model is None:
        raise ModelUnavailable("no trained live chord model at %s.safetensors (bandmate train live)" % CHECKPOINT)
    return model  # frame-by-frame streaming runs on the CPU: a GRU step per 20 ms is a few small products


def _load_beats(device):
    from models.analysis.beats import load_beat_model

    model = load_beat_model(device=device.torch_device)
    if model is None:
        raise ModelUnavailable("no trained beat model in %s (bandmate train beats)" % CHECKPOINT_DIR)
    return model


def _load_htdemucs(device):
    from models.analysis.separation import registry_loader

    return registry_loader(device)


def _load_generation(device):
    from models.generation.generate import CHECKPOINT, load_model

    model = load_model()
    if model is None:
        raise ModelUnavailable("no trained generation model at %s.safetensors (bandmate train generation)"
                               % CHECKPOINT)
    return model  # sampling runs on the CPU: at batch 1 a step is a few small matrix-vector products


def _load_planner(device):
    from models.generation.planner import Planner

    return Planner.load()


def _load_soundfont(device):
    """The rendering soundfont (generate.best_soundfont), loaded into a warm FluidSynth at the output rate."""
    from models.generation.generate import best_soundfont
    from models.songbook import render

    name, path = best_soundfont()
    if path is None:
        raise ModelUnavailable("no General MIDI soundfont (install fluid-soundfont-gm, or pip install pretty_midi)")
    render.preload(path)
    return {"name": name, "path": path}


def _load_vae(device):
    from models.generation.diffusion.render import VAE_CHECKPOINT
    from models.generation.diffusion.train_diffusion import load_vae

    if not os.path.exists(VAE_CHECKPOINT + ".safetensors"):
        raise ModelUnavailable("no trained VAE at %s.safetensors (bandmate train vae)" % VAE_CHECKPOINT)
    vae, _ = load_vae(VAE_CHECKPOINT)
    return vae.to(device.torch_device) if device.torch_device is not None and device.kind != "directml" else vae


def _load_diffusion(device):
    from models.generation.diffusion.render import DIFFUSION_CHECKPOINT, load_for_device

    try:
        renderer = load_for_device(device)
    except ValueError as exc:        # checkpoints that do not belong together (render.check_latent)
        raise ModelUnavailable(str(exc)) from exc
    if renderer is None:
        raise ModelUnavailable("no trained diffusion renderer at %s.safetensors (bandmate train vae; bandmate "
                               "train diffusion)" % DIFFUSION_CHECKPOINT)
    return renderer


def _checkpoint_version(name):
    """Version of a committed checkpoint: its model card's `version`, else 'absent'."""
    import json

    try:
        with open(os.path.join(CHECKPOINT_DIR, name + ".json"), encoding="utf-8") as fh:
            return str(json.load(fh).get("version", "unversioned"))
    except (OSError, ValueError):
        return "absent"


def load_checkpoint(path, fmt=None):
    """Load weights safely: safetensors, or torch.load(weights_only=True). Returns a state dict."""
    fmt = fmt or ("safetensors" if path.endswith(".safetensors") else "torch")
    if not os.path.exists(path):
        raise ModelUnavailable("checkpoint %s does not exist" % path)
    if fmt == "safetensors":
        from safetensors.torch import load_file

        return load_file(path)
    if fmt == "torch":
        import torch

        return torch.load(path, map_location="cpu", weights_only=True)
    raise ModelUnavailable("unknown checkpoint format %r (safetensors, torch or onnx)" % fmt)


def user_model_spec(entry):
    """A ModelSpec for a checkpoint the user declared in the config's [[models.extra]] table:
    {name, path, format: safetensors | torch | onnx}."""
    name, path = entry.get("name"), entry.get("path")
    if not name or not path:
        raise ValueError("models.extra entries need a name and a path")
    fmt = entry.get("format") or ("onnx" if path.endswith(".onnx") else None)

    def load(device):
        if fmt == "onnx":
            if not os.path.exists(path):
                raise ModelUnavailable("checkpoint %s does not exist" % path)
            return onnx_session(path, device.onnx_providers)
        state = load_checkpoint(path, fmt)
        if device.torch_device is not None:
            state = {k: v.to(device.torch_device) for k, v in state.items()}
        return state

    return ModelSpec(name, entry.get("task", "user"), entry.get("version", "user"), entry.get("licence", "user"),
                     load, "user checkpoint " + path)


REGISTRY = {s.name: s for s in [
    ModelSpec("chords", "chord recognition", _checkpoint_version("chords"), "MIT", _load_chords,
              "Bandmate's chord network (CNN + BiGRU), trained on the songbook by `bandmate train chords`"),
    ModelSpec("live_chords", "live chord recognition", _checkpoint_version("live_chords"), "MIT", _load_live_chords,
              "Bandmate's causal chord network for live sessions (20 ms frames, one-way GRU), trained by "
              "`bandmate train live`"),
    ModelSpec("beats", "beats, downbeats, tempo, meter", _checkpoint_version("beats"), "MIT", _load_beats,
              "Bandmate's beat/downbeat network with bar-pointer decoding, trained by `bandmate train beats`"),
    ModelSpec("htdemucs", "source separation", "955717e8", "MIT", _load_htdemucs,
              "Demucs htdemucs (drums, bass, other, vocals); weights: `bandmate models fetch htdemucs`"),
    ModelSpec("generation", "stem generation (drums, bass, keys, melody)", _checkpoint_version("generation"), "MIT",
              _load_generation, "Bandmate's stem transformer, trained on the songbook by `bandmate train generation`"),
    ModelSpec("planner", "song structure from a text prompt", _checkpoint_version("planner"), "MIT", _load_planner,
              "Bandmate's structure planner (all-MiniLM-L6-v2 text embedding + a small transformer decoder); "
              "loaded by the first request with a prompt, since importing the text encoder takes ~13 s",
              default=False),
    ModelSpec("soundfont", "MIDI rendering", "gm", "see the soundfont's licence", _load_soundfont,
              "a General MIDI soundfont kept loaded in FluidSynth for rendering generated stems"),
    ModelSpec("vae", "audio latent codec (diffusion renderer)", _checkpoint_version("vae"), "MIT", _load_vae,
              "Bandmate's SpectralVAE: 16 kHz audio <-> 16-channel latent at 31.25 frames/s (`bandmate train vae`)",
              default=False),
    ModelSpec("diffusion", "MIDI rendering (diffusion)", _checkpoint_version("diffusion"), "MIT", _load_diffusion,
              "Bandmate's music-theory conditioned latent diffusion renderer (`bandmate train diffusion`)",
              default=False),
    ModelSpec("basic_pitch", "note transcription", "icassp_2022", "Apache-2.0", _load_basic_pitch,
              "Spotify's basic-pitch polyphonic note transcription (ONNX), for voice leading and note density"),
]}
