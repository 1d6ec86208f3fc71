"""The diffusion renderer at inference: notes + the request's music theory -> 48 kHz stereo audio per stem.

    renderer = load_renderer(device="cpu")                     # warm it once (the daemon's model pool)
    audio = render_notes(notes_by_stem, request_info_from(req), renderer=renderer)
    # {stem: float32 (frames, 2) at 48 kHz}; renderer.last_timing has conditioner / sampler / decode seconds

notes_by_stem: {stem: [{pitch, start_time, duration, velocity, mute?, program?}]} in quarter-note beats (what
generate.py writes; a note's optional GM `program` overrides its stem's, and a bass or melody stem whose notes
name several programs is rendered one part per program and summed, see `stem_parts`). request_info: a dict (see
`request_info_from`): tempo in quarter-note BPM, meter, key, chords and sections in tactus beats, genre family,
GM programs per stem.

How: the excerpt is cut into windows of CROP_FRAMES latent frames (the training length, 2.048 s) with
OVERLAP frames shared between neighbours; every window of every stem is sampled in one batch (DDIM,
`steps`, classifier-free guidance), neighbours are cross-faded in the latent, the VAE decodes the
log-magnitude spectrogram, Griffin-Lim makes the 16 kHz waveform, soxr takes it to 48 kHz, dual mono.
The model's native bandwidth is 8 kHz (16 kHz sampling); nothing above it is generated.
"""
from __future__ import annotations

import json
import os
import time

import numpy as np
import torch

from . import trainutil as U
from .conditioner import DRUM_PROGRAM, notation_frames, piano_roll
from .config import CROP_FRAMES, FRAME_S, GL_ITERS, OUTPUT_RATE, SAMPLE_RATE
from .data import FIXED_GAIN
from .schedule import DEFAULT_STEPS, DEFAULT_TEMPERATURE, STEM_GUIDANCE, ddim_sample
from .vae import griffin_lim

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHECKPOINT_DIR = os.path.join(ROOT, "checkpoints")
VAE_CHECKPOINT = os.path.join(CHECKPOINT_DIR, "vae")
DIFFUSION_CHECKPOINT = os.path.join(CHECKPOINT_DIR, "diffusion")
OVERLAP = 16            # latent frames shared by neighbouring windows (cross-faded)
STEM_ORDER = ("drums", "bass", "keys", "melody")
# Stem kinds whose layers (notes naming different GM programs) are rendered apart and summed. On the 120 valid
# requests (two sampling seeds, note F1) that lifted the bass 0.661 / 0.651 -> 0.687 / 0.681 and the melody
# 0.649 / 0.650 -> 0.653 / 0.658 but lowered the keys 0.567 / 0.561 -> 0.558 / 0.550 (keys stems layer up to
# four programs, and each part brings its own noise floor and Griffin-Lim phase), so keys stay blended.
LAYERED_STEMS = ("bass", "melody")


class DiffusionRenderer:
    """VAE + conditioner + U-Net on one torch device (or their ONNX sessions, `backend='onnx'`)."""

    def __init__(self, vae, model, vae_card, card, device="cpu"):
        self.vae, self.model = vae, model
        self.vae_card, self.card = vae_card, card
        self.device = torch.device(device)
        self.version = "%s+%s" % (card.get("version"), vae_card.get("version"))
        self.last_timing = {}
        self.onnx = None   # {name: onnxruntime session} once `use_onnx` was called

    # -------------------------------------------------------------------------------------------- networks
    def notation(self, ints, floats):
        if self.onnx is not None:
            return self.onnx["conditioner"].run(None, {"ints": ints, "floats": floats})[0]
        with torch.no_grad():
            return self.model.conditioner(torch.from_numpy(ints).to(self.device),
                                          torch.from_numpy(floats).to(self.device))

    def v(self, x, t, notation):
        if self.onnx is not None:
            return self.onnx["unet"].run(None, {"x": x, "t": t, "notation": notation})[0]
        with torch.no_grad():
            return self.model.unet(x, t, notation)

    def decode_spec(self, z, roll=None):
        """Latent (B, C, T), already divided by the latent scale [and the piano roll (B, ROLL_ROWS, T), read when
        the VAE's decoder takes notes] -> scaled log-magnitude (torch, CPU)."""
        if self.onnx is not None:
            feed = {"z": np.asarray(z, np.float32)}
            if self.vae.notes:   # the graph always takes the roll: no notes is the all-zero roll
                feed["roll"] = np.zeros((z.shape[0], self.vae.notes, z.shape[-1]), np.float32) if roll is None \
                    else np.asarray(roll, np.float32)
            return torch.from_numpy(self.onnx["vae_decoder"].run(None, feed)[0])
        with torch.no_grad():
            rt = None if roll is None else torch.as_tensor(np.asarray(roll, np.float32)).to(self.device)
            return self.vae.decode(torch.as_tensor(z).to(self.device), rt).cpu()

    def use_onnx(self, onnx_dir=None, providers=("CPUExecutionProvider",)):
        """Switch to onnxruntime sessions (exported on first use into `onnx_dir`)."""
        from .onnx_export import export, sessions

        onnx_dir = onnx_dir or default_onnx_dir(self)
        if not all(os.path.exists(os.path.join(onnx_dir, n + ".onnx")) for n in ("conditioner", "unet",
                                                                                  "vae_decoder")):
            export(self, onnx_dir)
        self.onnx = sessions(onnx_dir, providers)
        return self

    # -------------------------------------------------------------------------------------------- sampling
    def sample_latents(self, ints, floats, steps=DEFAULT_STEPS, guidance=STEM_GUIDANCE["default"], seed=0,
                       temperature=DEFAULT_TEMPERATURE):
        """(B, T, N_INT) int64, (B, T, N_FLOAT) float32 -> latent (B, C, T) (scaled) and the timing; `guidance`
        is one scale or one per example, `temperature` the starting noise's standard deviation."""
        t0 = time.perf_counter()
        notation = self.notation(ints, floats)
        t1 = time.perf_counter()
        shape = (ints.shape[0], int(self.card["unet"]["latent"]), ints.shape[1])
        z = ddim_sample(self.v, shape, notation, steps=steps, guidance=guidance, seed=seed,
                        temperature=temperature)
        if torch.is_tensor(z):
            z = z.cpu().numpy()
        t2 = time.perf_counter()
        return z, {"conditioner_s": t1 - t0, "sampler_s": t2 - t1}

    def decode(self, z_scaled, roll=None):
        """Scaled latent (B, C, T) numpy [and the stems' piano rolls (B, ROLL_ROWS, T)] -> waveforms (B, T *
        FRAME_SAMPLES) at 16 kHz (numpy)."""
        scale = float(self.vae_card.get("latent_scale") or 1.0)
        spec = self.decode_spec(np.asarray(z_scaled, np.float32) / scale, roll)
        return griffin_lim(spec, n_iter=GL_ITERS).numpy() / FIXED_GAIN


def _read_card(path):
    with open(path + ".json", encoding="utf-8") as fh:
        return json.load(fh)


def available(vae_path=VAE_CHECKPOINT, diffusion_path=DIFFUSION_CHECKPOINT) -> bool:
    return all(os.path.exists(p + ext) for p in (vae_path, diffusion_path) for ext in (".safetensors", ".json"))


def check_latent(vae_card: dict, card: dict) -> None:
    """A diffusion model works in the latent of the VAE it was trained with: a VAE with another encoder (another
    latent scale) would decode noise. Decoder-only VAE runs keep the encoder and its scale, so they fit. (The
    tolerance is float16's: the weights file stores the scale in half precision.)"""
    want = (card.get("vae") or {}).get("latent_scale")
    have = vae_card.get("latent_scale")
    if want is not None and have is not None and abs(float(want) - float(have)) > 1e-3 * abs(float(want)):
        raise ValueError("%s was trained on the latent of %s (scale %.6g) but this VAE (%s) has scale %.6g: train the "
                         "diffusion model on it (bandmate train diffusion --vae ...) or train only its decoder "
                         "(bandmate train vae --decoder-only --init ...)" % (
                             card.get("version"), (card.get("vae") or {}).get("version"), float(want),
                             vae_card.get("version"), float(have)))


def load_renderer(vae_path=VAE_CHECKPOINT, diffusion_path=DIFFUSION_CHECKPOINT, device="cpu"):
    """The trained renderer, or None when a checkpoint is missing (`bandmate train vae` / `... diffusion`)."""
    if not available(vae_path, diffusion_path):
        return None
    from .train_diffusion import Renderer
    from .vae import SpectralVAE

    vae_card, card = _read_card(vae_path), _read_card(diffusion_path)
    check_latent(vae_card, card)
    vae = SpectralVAE(**vae_card["config"])
    vae.load_state_dict(U.load_weights(vae_path + ".safetensors"))
    model = Renderer(card["conditioner"], card["unet"])
    model.load_state_dict(U.load_weights(diffusion_path + ".safetensors"))
    dev = torch.device(device) if not hasattr(device, "torch_device") else torch.device(device.torch_device)
    r = DiffusionRenderer(vae.to(dev).eval(), model.to(dev).eval(), vae_card, card, dev)
    return r


def load_for_device(device):
    """The renderer on a daemon DeviceChoice (daemon/device.py), or None without checkpoints. DirectML runs the
    networks through onnxruntime (the ONNX graphs are exported into the user cache on first use; without the
    `onnx` package it stays on torch CPU and says so in `notice`). Griffin-Lim runs on CPU everywhere."""
    kind = getattr(device, "kind", "cpu")
    r = load_renderer(device="cpu" if kind == "directml" else (getattr(device, "torch_device", None) or "cpu"))
    if r is None:
        return None
    r.notice = None
    if kind == "directml":
        try:
            r.use_onnx(providers=tuple(getattr(device, "onnx_providers", ("CPUExecutionProvider",))))
        except Exception as exc:  # noqa: BLE001 - degrade to CPU torch, reported
            r.notice = "diffusion renderer on CPU (torch): ONNX export/session failed: %s" % str(exc)[:200]
    return r


def default_onnx_dir(renderer) -> str:
    base = os.environ.get("BANDMATE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "bandmate")
    import hashlib

    h = hashlib.sha1(json.dumps([renderer.card.get("history"), renderer.vae_card.get("history"),
                                 renderer.card.get("unet"), renderer.card.get("steps")],
                                sort_keys=True).encode()).hexdigest()[:10]
    return os.path.join(base, "onnx", "%s-%s" % (renderer.version, h))   # one folder per trained checkpoint


# ------------------------------------------------------------------------------------------------ request side
def request_info_from(req) -> dict:
    """The renderer's view of a generation Request (models/generation/request.py)."""
    from models.generation.tokens import programs_for

    return {"bpm": float(req.bpm), "beats_per_bar": int(req.beats_per_bar),
            "quarters_per_beat": float(req.quarters_per_beat), "tonic": int(req.tonic), "mode": req.mode,
            "family": req.family, "bars": int(req.bars),
            "chords": [{"root": c.root, "quality": c.quality, "bass": c.bass, "roman": c.roman, "start": c.start,
                        "end": c.end} for c in req.chords],
            "sections": list(req.sections), "programs": programs_for(req.family)}


def _timeline(info: dict):
    """(seconds per tactus beat, chords in seconds, beat times, sections in seconds, length in seconds)."""
    qpb = float(info.get("quarters_per_beat", 1.0))
    spb = 60.0 / float(info["bpm"]) * qpb
    bpb = int(info.get("beats_per_bar", 4))
    chords = [{"start": c["start"] * spb, "end": c["end"] * spb, "root": c.get("root", -1),
               "quality": c.get("quality"), "bass": c.get("bass"), "function": c.get("function")}
              for c in info.get("chords") or []]
    bars = int(info.get("bars") or 0)
    length = bars * bpb * spb if bars else max([c["end"] for c in chords] or [4 * spb])
    beats = list(np.arange(0, length / spb + 2 * bpb + 1) * spb)
    sections = [(s["start_bar"] * bpb * spb, (s["start_bar"] + s["bars"]) * bpb * spb, s["label"])
                for s in info.get("sections") or []]
    return spb, chords, beats, sections, length


def notes_seconds(notes, bpm_quarter: float):
    """Note dicts in quarter-note beats -> [(onset s, offset s, pitch, velocity)], muted notes left out."""
    q = 60.0 / bpm_quarter
    return [(n["start_time"] * q, (n["start_time"] + n["duration"]) * q, int(n["pitch"]), int(n.get("velocity", 100)))
            for n in notes if not n.get("mute")]


def windows(n_frames: int, size=CROP_FRAMES, overlap=OVERLAP):
    """Start frames of windows covering n_frames."""
    hop = size - overlap
    starts = [0]
    while starts[-1] + size < n_frames:
        starts.append(starts[-1] + hop)
    return starts


def stitch(latents, starts, n_frames, overlap=OVERLAP):
    """Windows (W, C, size) -> (C, n_frames), linear cross-fades over the shared frames."""
    size = latents.shape[-1]
    out = np.zeros((latents.shape[1], max(n_frames, starts[-1] + size)), np.float32)
    weight = np.zeros(out.shape[-1], np.float32)
    ramp = np.ones(size, np.float32)
    if overlap:
        ramp[:overlap] = np.linspace(0, 1, overlap + 2)[1:-1]
        ramp[-overlap:] = np.linspace(1, 0, overlap + 2)[1:-1]
    for k, s in enumerate(starts):
        w = ramp.copy()
        if k == 0:
            w[:overlap] = 1
        if k == len(starts) - 1:
            w[-overlap:] = 1
        out[:, s:s + size] += latents[k] * w
        weight[s:s + size] += w
    return (out / np.maximum(weight, 1e-6))[:, :n_frames]


def stem_rows(stem, notes_s, info, program, n_frames):
    """Notation rows of a whole stem (n_frames)."""
    spb, chords, beats, sections, length = _timeline(info)
    all_notes = info.get("_all_notes_s", notes_s)
    complexity = float(min(1.0, np.log1p(len(all_notes) / max(length, 1.0)) / 4.0))   # as in data.py
    return notation_frames(notes_s, chords, beats, int(info.get("beats_per_bar", 4)), sections,
                           int(info.get("tonic", 0)), info.get("mode", "major"), info.get("family", "pop"), stem,
                           program, 60.0 / spb, complexity, 0.0, n_frames, 0.0)


def stem_guidance(stem: str, guidance=None) -> float:
    """The classifier-free guidance scale of `stem` ('chords' is the keys stem): `guidance` when it is a number,
    else STEM_GUIDANCE overridden by the {stem: scale} dict `guidance` (its "default" for stems it does not name)."""
    if guidance is not None and not isinstance(guidance, dict):
        return float(guidance)
    table = {**STEM_GUIDANCE, **(guidance or {})}
    return float(table.get(stem, table.get("keys" if stem == "chords" else stem, table["default"])))


def stem_parts(notes_by_stem: dict, info: dict, split=LAYERED_STEMS) -> list:
    """[(stem, kind, GM program, notes in seconds)]: one part per stem, except that a stem of a kind in `split`
    whose notes name several programs ("program" on a note overrides the stem's program in info["programs"])
    gets one part per program, so a layered bass (strings over an acoustic bass) is rendered as its
    instruments and summed, as a soundfont renders it. Other layered stems keep the stem's program."""
    programs = info.get("programs") or {}
    parts = []
    for s in notes_by_stem:
        kind = "keys" if s == "chords" else s
        notes = notes_seconds(notes_by_stem[s], info["bpm"])
        if kind == "drums":
            parts.append((s, kind, DRUM_PROGRAM, notes))
            continue
        default = int(programs.get(s, programs.get(kind, 0)))
        groups: dict = {}
        for n in notes_by_stem[s]:
            groups.setdefault(int(n.get("program", default)), []).append(n)
        if len(groups) == 1:
            parts.append((s, kind, next(iter(groups)), notes))
        elif kind not in split or not groups:
            parts.append((s, kind, default, notes))
        else:
            parts.extend((s, kind, prog, notes_seconds(groups[prog], info["bpm"])) for prog in sorted(groups))
    return parts


def render_notes(notes_by_stem: dict, request_info: dict, renderer=None, steps: int = DEFAULT_STEPS,
                 guidance=None, seed: int = 0, tail_s: float = 1.5,
                 temperature: float = DEFAULT_TEMPERATURE, tuning_cents: float = 0.0) -> dict:
    """{stem: float32 (frames, 2) at OUTPUT_RATE (48 kHz)} for every stem in notes_by_stem ('keys' and
    'chords' both mean the keys stem). `guidance`: None (each stem's STEM_GUIDANCE), one scale for all stems, or
    {stem: scale}. `temperature`: the starting noise's standard deviation (DEFAULT_TEMPERATURE). Raises
    RuntimeError when no trained renderer exists. The renderer's `last_timing` gets conditioner_s, sampler_s,
    decode_s, audio_s (seconds of audio per stem) and rtf. `tuning_cents` (-50..50) off A440: the notes are
    rendered that much slower (the tempo over 2^(cents/1200)) and the audio read back that much faster, so it
    plays in tune with the track at the request's tempo (a shift of at most 3 %, formants included, as a
    soundfont's fine tuning moves them too)."""
    import soxr

    renderer = renderer or _default_renderer()
    if renderer is None:
        raise RuntimeError("no trained diffusion renderer (bandmate train vae; bandmate train diffusion)")
    ratio = 2.0 ** (float(tuning_cents) / 1200.0)
    info = dict(request_info)
    info["bpm"] = float(info["bpm"]) / ratio
    _, _, _, _, length = _timeline(info)
    seconds = length + tail_s * ratio      # rendered seconds; the output is `seconds / ratio` long
    n_frames = int(np.ceil(seconds / FRAME_S))
    starts = windows(n_frames)
    stems = list(notes_by_stem)
    parts = stem_parts(notes_by_stem, info)
    info["_all_notes_s"] = [n for _, _, _, ns in parts for n in ns]
    ints, floats, rolls = [], [], []
    for _, kind, prog, notes_s in parts:
        a, b = stem_rows(kind, notes_s, info, prog, starts[-1] + CROP_FRAMES)
        rolls.append(piano_roll(b[:n_frames]))
        for st in starts:
            ints.append(a[st:st + CROP_FRAMES])
            floats.append(b[st:st + CROP_FRAMES])
    ints = np.stack(ints).astype(np.int64)
    floats = np.stack(floats).astype(np.float32)
    scales = np.repeat([stem_guidance(s, guidance) for s, _, _, _ in parts], len(starts)).astype(np.float32)
    z, timing = renderer.sample_latents(ints, floats, steps=steps, guidance=scales, seed=seed,
                                        temperature=temperature)
    t0 = time.perf_counter()
    w = len(starts)
    stitched = np.stack([stitch(z[k * w:(k + 1) * w], starts, n_frames) for k in range(len(parts))])
    wav16 = renderer.decode(stitched, np.stack(rolls))
    timing["decode_s"] = time.perf_counter() - t0
    n_out = int(round(seconds / ratio * OUTPUT_RATE))
    mono = {s: np.zeros(n_out, np.float32) for s in stems}
    for k, (s, _, _, _) in enumerate(parts):
        # read at `ratio` times the model's rate: `ratio` times higher and shorter (1.0: a plain resampling)
        y = soxr.resample(wav16[k].astype(np.float32), SAMPLE_RATE * ratio, OUTPUT_RATE)[:n_out]
        mono[s][:len(y)] += y
    out = {s: np.repeat(y[:, None], 2, axis=1).astype(np.float32) for s, y in mono.items()}
    total = timing["conditioner_s"] + timing["sampler_s"] + timing["decode_s"]
    timing.update(audio_s=seconds / ratio, stems=len(stems), steps=steps, total_s=total,
                  rtf_per_stem=total / (seconds / ratio * max(1, len(stems))))
    renderer.last_timing = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in timing.items()}
    return out


_DEFAULT = {}


def _default_renderer():
    if "r" not in _DEFAULT:
        _DEFAULT["r"] = load_renderer()
    return _DEFAULT["r"]


def write_stems(audio: dict, wav_paths: dict, mix_path: str, target_lufs: float = -16.0):
    """Write render_notes' output as 16-bit 48 kHz stereo WAVs: one gain for all (mix at `target_lufs`, peaks of
    mix and stems at most 0.98), like the soundfont path. Returns the mix loudness (LUFS) or None (silence)."""
    import soundfile as sf

    from models.analysis.loudness import integrated_loudness

    mix = np.sum(list(audio.values()), axis=0)
    lufs = integrated_loudness(mix, OUTPUT_RATE)
    gain = 1.0 if lufs is None else 10 ** ((target_lufs - lufs) / 20)
    peak = max([float(np.max(np.abs(v))) for v in [mix, *audio.values()] if v.size] or [0.0])
    if peak * gain > 0.98:
        gain = 0.98 / peak
    for s, x in list(audio.items()) + [("__mix__", mix)]:
        sf.write(wav_paths.get(s, mix_path), np.clip(x * gain, -1, 1), OUTPUT_RATE, subtype="PCM_16")
    return None if lufs is None else lufs + 20 * np.log10(gain)


__all__ = ["DiffusionRenderer", "check_latent", "load_renderer", "render_notes", "request_info_from", "write_stems",
           "available"]
