"""Audio from MIDI with FluidSynth, loudness normalisation, FLAC writing.

Rendering uses libfluidsynth through ctypes: every file gets a fresh synth with its MIDI player on the sample
clock (`fluid_synth_write_float`), so the same file renders the same samples whatever was rendered before it (a
reused synth carries its chorus and reverb state, and the phase of its sample blocks, from one file to the next).
One idle synth per soundfont stays loaded per process (`preload`), so that libfluidsynth's sample cache keeps the
soundfont's samples in memory and a fresh synth loads it in tens of milliseconds instead of seconds.
Where the library cannot be loaded it falls back to the `fluidsynth` program (`-ni -F out.wav`), slower.
Audio is float32, samples x 2 channels, 44.1 kHz.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import subprocess
import tempfile
import threading

import numpy as np
import soundfile as sf

from models.analysis.loudness import integrated_loudness

SAMPLE_RATE = 44100
SYNTH_GAIN = 0.4
TARGET_LUFS = -16.0
PEAK_CEILING = 0.98        # linear; normalisation never pushes the mix's sample peak above this

_PRETTY_MIDI_SF = None
try:  # TimGM6mb ships inside pretty_midi
    import pretty_midi as _pm
    _PRETTY_MIDI_SF = os.path.join(os.path.dirname(_pm.__file__), "TimGM6mb.sf2")
except Exception:  # noqa: BLE001 - optional
    pass

SOUNDFONT_CANDIDATES = {
    "FluidR3_GM": ["/usr/share/sounds/sf2/FluidR3_GM.sf2"],
    "MuseScore_General": ["/usr/share/sounds/sf3/MuseScore_General.sf3",
                          "/usr/share/sounds/sf3/MuseScore_General_Full.sf3",
                          "/usr/share/sounds/sf2/MuseScore_General.sf2"],
    "TimGM6mb": [p for p in [_PRETTY_MIDI_SF] if p],
}


def available_soundfonts() -> dict[str, str]:
    """Soundfont name -> path, for those installed."""
    out = {}
    for name, paths in SOUNDFONT_CANDIDATES.items():
        for p in paths:
            if os.path.exists(p):
                out[name] = os.path.realpath(p)
                break
    return out


def library_candidates() -> list[str]:
    """Where libfluidsynth may be, best first: `BANDMATE_FLUIDSYNTH_LIB`, the system's library search (Linux
    libfluidsynth.so.3, Windows libfluidsynth-3.dll on PATH), then beside the `fluidsynth` program: the Windows
    release zip keeps the DLL next to fluidsynth.exe, Homebrew keeps the dylib in ../lib (which macOS does not
    search under /opt/homebrew)."""
    out = [os.environ.get("BANDMATE_FLUIDSYNTH_LIB", "")]
    out += [ctypes.util.find_library(n) or "" for n in ("fluidsynth", "libfluidsynth-3", "libfluidsynth-2")]
    exe = shutil.which("fluidsynth")
    if exe:
        here = os.path.dirname(os.path.realpath(exe))
        for folder in (here, os.path.join(here, os.pardir, "lib")):
            for name in ("libfluidsynth-3.dll", "libfluidsynth-2.dll", "fluidsynth.dll", "libfluidsynth.3.dylib",
                         "libfluidsynth.dylib", "libfluidsynth.so.3"):
                path = os.path.normpath(os.path.join(folder, name))
                if os.path.isfile(path):
                    out.append(path)
    out.append("libfluidsynth.so.3")
    return list(dict.fromkeys(p for p in out if p))


def _load_library() -> ctypes.CDLL:
    errors = []
    for path in library_candidates():
        try:
            if os.path.isabs(path) and hasattr(os, "add_dll_directory"):   # Windows: its DLLs sit beside it
                os.add_dll_directory(os.path.dirname(path))
            return ctypes.CDLL(path)
        except OSError as exc:
            errors.append("%s: %s" % (path, exc))
    raise OSError("libfluidsynth not found (%s)" % "; ".join(errors))


class _Lib:
    """The few libfluidsynth calls we need."""

    def __init__(self):
        lib = _load_library()
        vp, cp, ci, cd = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_double
        sig = {"new_fluid_settings": (vp, []), "fluid_settings_setnum": (ci, [vp, cp, cd]),
               "fluid_settings_setint": (ci, [vp, cp, ci]), "fluid_settings_setstr": (ci, [vp, cp, cp]),
               "new_fluid_synth": (vp, [vp]), "fluid_synth_sfload": (ci, [vp, cp, ci]),
               "delete_fluid_synth": (None, [vp]), "delete_fluid_settings": (None, [vp]),
               "new_fluid_player": (vp, [vp]), "fluid_player_add_mem": (ci, [vp, cp, ctypes.c_size_t]), "fluid_player_play": (ci, [vp]),
               "fluid_player_stop": (ci, [vp]), "delete_fluid_player": (None, [vp]),
               "fluid_synth_write_float": (ci, [vp, ci, vp, ci, ci, vp, ci, ci]),
               "fluid_synth_system_reset": (ci, [vp]), "fluid_player_join": (ci, [vp])}
        for name, (res, args) in sig.items():
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = res, args
        self.lib = lib


_LIB = None   # _Lib once loaded, False where it could not be
_HELD: dict[str, tuple] = {}     # soundfont path -> (settings, synth) kept loaded
_HELD_LOCK = threading.Lock()


def _lib() -> _Lib | None:
    """The loaded library, or None (looked for once per process) where it is absent."""
    global _LIB
    if _LIB is None:
        try:
            _LIB = _Lib()
        except (OSError, AttributeError):
            _LIB = False
    return _LIB or None


def check_fluidsynth() -> None:
    """Raise RuntimeError when neither libfluidsynth nor the fluidsynth program is available."""
    if _lib() is None and not shutil.which("fluidsynth"):
        raise RuntimeError("fluidsynth not found: install the Debian package fluidsynth")


def _new_synth(sf_path: str, rate: int = SAMPLE_RATE) -> tuple:
    """(settings, synth) with `sf_path` loaded; the caller deletes both (`_delete`)."""
    L = _lib().lib
    st = L.new_fluid_settings()
    L.fluid_settings_setnum(st, b"synth.sample-rate", float(rate))
    L.fluid_settings_setnum(st, b"synth.gain", SYNTH_GAIN)
    L.fluid_settings_setint(st, b"synth.polyphony", 512)
    L.fluid_settings_setint(st, b"synth.cpu-cores", 1)
    L.fluid_settings_setstr(st, b"player.timing-source", b"sample")
    L.fluid_settings_setint(st, b"synth.lock-memory", 0)
    syn = L.new_fluid_synth(st)
    if not syn or L.fluid_synth_sfload(syn, sf_path.encode(), 1) < 0:
        _delete((st, syn))
        raise RuntimeError(f"fluidsynth could not load soundfont {sf_path}")
    return st, syn


def _delete(pair: tuple) -> None:
    L = _lib().lib
    st, syn = pair
    if syn:
        L.delete_fluid_synth(syn)
    L.delete_fluid_settings(st)


def preload(sf_path: str) -> bool:
    """Keep `sf_path` loaded in this process (an idle synth holds it in libfluidsynth's sample cache), so every
    render with it starts fast. False where libfluidsynth is absent (the program fallback loads per file)."""
    if _lib() is None:
        return False
    with _HELD_LOCK:
        if sf_path not in _HELD:
            _HELD[sf_path] = _new_synth(sf_path)
    return True


def render_midi(midi_path: str, sf_path: str, n_frames: int, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Render `midi_path` with `sf_path` to exactly `n_frames` stereo frames (float32, samples x 2) at `rate` Hz,
    on a fresh synth (the same file always gives the same samples). Thread-safe: each call has its own synth."""
    if _lib() is None:
        return _render_cli(midi_path, sf_path, n_frames, rate)
    L = _lib().lib
    preload(sf_path)
    pair = _new_synth(sf_path, rate)
    syn = pair[1]
    block = 4096
    left, right = np.zeros(block, np.float32), np.zeros(block, np.float32)
    player = L.new_fluid_player(syn)
    try:
        with open(midi_path, "rb") as fh:     # handed over as bytes: no path encoding to get wrong (Windows)
            data = fh.read()
        if L.fluid_player_add_mem(player, data, len(data)) != 0:
            raise RuntimeError(f"fluidsynth could not read {midi_path}")
        L.fluid_player_play(player)
        out = np.zeros((n_frames, 2), np.float32)
        pos = 0
        while pos < n_frames:
            n = min(block, n_frames - pos)
            L.fluid_synth_write_float(syn, n, left.ctypes.data, 0, 1, right.ctypes.data, 0, 1)
            out[pos:pos + n, 0] = left[:n]
            out[pos:pos + n, 1] = right[:n]
            pos += n
        L.fluid_player_stop(player)
        L.fluid_player_join(player)
    finally:
        L.delete_fluid_player(player)
        _delete(pair)
    return out


def _render_cli(midi_path: str, sf_path: str, n_frames: int, rate: int = SAMPLE_RATE) -> np.ndarray:
    exe = shutil.which("fluidsynth")
    if not exe:
        raise RuntimeError("fluidsynth not found: install the Debian package fluidsynth")
    with tempfile.TemporaryDirectory() as d:
        wav = os.path.join(d, "out.wav")
        subprocess.run([exe, "-ni", "-q", "-F", wav, "-r", str(rate), "-g", str(SYNTH_GAIN), sf_path,
                        midi_path], check=True, capture_output=True)
        x, _ = sf.read(wav, dtype="float32", always_2d=True)
    out = np.zeros((n_frames, 2), np.float32)
    n = min(n_frames, len(x))
    out[:n] = x[:n, :2]
    return out


def normalise(stems: dict[str, np.ndarray], target_lufs: float = TARGET_LUFS,
              rate: int = SAMPLE_RATE) -> tuple[np.ndarray, dict, float, float]:
    """Mix = sum of stems, scaled by ONE gain so its integrated loudness is `target_lufs` (or less, when the sample
    peak of the mix or of any stem would pass PEAK_CEILING). Returns (mix, scaled stems, gain in dB, final loudness in LUFS)."""
    mix = np.sum(list(stems.values()), axis=0)
    lufs = integrated_loudness(mix, rate)  # None for silence
    gain = 1.0 if lufs is None else 10 ** ((target_lufs - lufs) / 20)
    # The ceiling holds for the stems too: a stem can peak above the mix where others cancel it.
    peak = max([float(np.max(np.abs(v))) for v in [mix, *stems.values()] if v.size] or [0.0])
    if peak * gain > PEAK_CEILING:
        gain = PEAK_CEILING / peak
    out = {k: (v * gain).astype(np.float32) for k, v in stems.items()}
    mix = (mix * gain).astype(np.float32)
    gain_db = 20 * np.log10(gain)
    return mix, out, gain_db, (None if lufs is None else lufs + gain_db)  # loudness scales exactly with gain


def write_audio(path: str, audio: np.ndarray) -> None:
    """Write float audio as 16-bit FLAC (or WAV, by the extension)."""
    fmt = "FLAC" if path.endswith(".flac") else "WAV"
    sf.write(path, np.clip(audio, -1.0, 1.0), SAMPLE_RATE, format=fmt, subtype="PCM_16")
