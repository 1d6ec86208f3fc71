"""Audio input: probe and decode any file Bandmate accepts, in bounded memory.

wav, aiff, flac, ogg and mp3 decode through libsndfile (soundfile); m4a/aac/mp4/other containers through
ffmpeg where it is installed, else a clear error. Errors carry wire codes (protocol.errors).
"""
import os
import shutil
import subprocess

import numpy as np
import soundfile as sf

from protocol import BandmateError

from .loudness import LoudnessMeter

NATIVE_EXTENSIONS = {".wav", ".wave", ".aif", ".aiff", ".aifc", ".flac", ".ogg", ".oga", ".mp3", ".w64", ".caf"}
FFMPEG_EXTENSIONS = {".m4a", ".mp4", ".aac", ".alac", ".wma", ".opus", ".webm", ".mka"}
MIDI_EXTENSIONS = {".mid", ".midi", ".smf"}
BLOCK_SECONDS = 10.0


def check_readable(path):
    """Raise file_not_found / unreadable_file / bad_params for a path a request names."""
    if not isinstance(path, str) or not path:
        raise BandmateError("bad_params", "field 'path': must be a file path")
    if not os.path.isabs(path):
        raise BandmateError("bad_params", "field 'path': must be absolute, got %r" % path)
    if not os.path.exists(path):
        raise BandmateError("file_not_found", "no such file: %s" % path)
    if os.path.isdir(path):
        raise BandmateError("unreadable_file", "%s is a directory, not an audio file" % path)
    if not os.access(path, os.R_OK):
        raise BandmateError("unreadable_file", "cannot read %s (permissions)" % path)


def probe(path):
    """Format facts without decoding: {format, sample_rate, channels, frames, duration}. Raises
    unsupported_format (not audio), corrupt_file (damaged header), not_available (needs ffmpeg)."""
    check_readable(path)
    ext = os.path.splitext(path)[1].lower()
    if ext in FFMPEG_EXTENSIONS:
        return _ffprobe(path)
    try:
        info = sf.info(path)
    except sf.LibsndfileError as exc:
        head = _head(path)
        if ext in NATIVE_EXTENSIONS or _looks_like_audio(head):
            raise BandmateError("corrupt_file", "%s: cannot decode (%s)" % (os.path.basename(path), exc))
        if head[:4] == b"MThd":
            raise BandmateError("unsupported_format", "%s is a MIDI file: send it as MIDI, not audio"
                                % os.path.basename(path))
        if shutil.which("ffmpeg") and head[4:8] == b"ftyp":
            return _ffprobe(path)
        raise BandmateError("unsupported_format", "%s is not an audio file Bandmate reads (wav, aiff, flac, mp3, "
                            "ogg; m4a with ffmpeg)" % os.path.basename(path))
    except RuntimeError as exc:
        raise BandmateError("corrupt_file", "%s: cannot decode (%s)" % (os.path.basename(path), exc))
    if info.samplerate <= 0 or info.channels <= 0:
        raise BandmateError("corrupt_file", "%s: header gives %d Hz, %d channels"
                            % (os.path.basename(path), info.samplerate, info.channels))
    return {"format": "%s %s" % (info.format, info.subtype), "sample_rate": int(info.samplerate),
            "channels": int(info.channels), "frames": int(info.frames),
            "duration": float(info.frames) / info.samplerate, "decoder": "libsndfile"}


def _head(path, n=64):
    with open(path, "rb") as fh:
        return fh.read(n)


def _looks_like_audio(head):
    return (head[:4] in (b"RIFF", b"RF64", b"FORM", b"fLaC", b"OggS") or head[:3] == b"ID3"
            or (len(head) > 1 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0))


def _ffprobe(path):
    if not shutil.which("ffmpeg") or not shutil.which("ffprobe"):
        raise BandmateError("not_available", "%s needs ffmpeg to decode, and ffmpeg is not installed"
                            % os.path.splitext(path)[1])
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
                          "stream=sample_rate,channels,codec_name:format=duration", "-of", "default=nw=1", path],
                         capture_output=True, text=True, timeout=60)
    fields = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    try:
        sr, ch, dur = int(fields["sample_rate"]), int(fields["channels"]), float(fields["duration"])
    except (KeyError, ValueError):
        raise BandmateError("corrupt_file", "%s: ffmpeg cannot read an audio stream (%s)"
                            % (os.path.basename(path), out.stderr.strip()[:200]))
    return {"format": "ffmpeg %s" % fields.get("codec_name", "?"), "sample_rate": sr, "channels": ch,
            "frames": int(round(dur * sr)), "duration": dur, "decoder": "ffmpeg"}


def resolve_range(info, start=None, end=None):
    """Clamp a requested range (seconds) to the file; raise bad_params when it is empty or reversed."""
    start = 0.0 if start is None else float(start)
    end = info["duration"] if end is None else min(float(end), info["duration"])
    if start < 0:
        raise BandmateError("bad_params", "field 'start': must be >= 0 seconds, got %g" % start)
    if start >= info["duration"] and info["duration"] > 0:
        raise BandmateError("bad_params", "field 'start': %g s is past the end of the file (%.3f s)"
                            % (start, info["duration"]))
    if end <= start and info["duration"] > 0:
        raise BandmateError("bad_params", "field 'end': %g s is not after start %g s" % (end, start))
    return start, end


def iter_blocks(path, info, start, end, block_seconds=BLOCK_SECONDS):
    """Yield float32 blocks of shape (samples, channels) covering [start, end) seconds, in file order."""
    sr = info["sample_rate"]
    first, last = int(round(start * sr)), int(round(end * sr))
    block = max(1, int(block_seconds * sr))
    if info["decoder"] == "ffmpeg":
        yield from _ffmpeg_blocks(path, info, first, last, block)
        return
    try:
        with sf.SoundFile(path) as f:
            if first:
                f.seek(first)
            pos = first
            while pos < last:
                data = f.read(min(block, last - pos), dtype="float32", always_2d=True)
                if data.shape[0] == 0:
                    break  # truncated file: the header promised more frames than the data holds
                pos += data.shape[0]
                yield data
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise BandmateError("corrupt_file", "%s: decoding failed (%s)" % (os.path.basename(path), exc))


def _ffmpeg_blocks(path, info, first, last, block):
    sr, ch = info["sample_rate"], info["channels"]
    cmd = ["ffmpeg", "-v", "error", "-ss", "%.6f" % (first / sr), "-i", path, "-t", "%.6f" % ((last - first) / sr),
           "-f", "f32le", "-ac", str(ch), "-ar", str(sr), "-"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        nbytes = block * ch * 4
        while True:
            raw = proc.stdout.read(nbytes)
            if not raw:
                break
            usable = len(raw) - len(raw) % (ch * 4)
            yield np.frombuffer(raw[:usable], dtype=np.float32).reshape(-1, ch)
    finally:
        proc.kill()
        proc.wait()


def describe_source(path, start=None, end=None, progress=None, on_block=None, info=None):
    """Everything the foundation can measure about a clip, streamed in bounded memory: the `source` part of
    the song description (format, sample rate, channels, durations in seconds, loudness in LUFS, peak and RMS
    in dBFS). `progress(stage, fraction)` is called as blocks are read; `on_block(block)` receives every decoded
    block, so other features can be computed from the same single decode. `info` is probe(path) when the caller
    has it already."""
    info = info or probe(path)
    start, end = resolve_range(info, start, end)
    meter = LoudnessMeter(info["sample_rate"], info["channels"])
    frames = 0
    total = max(1, int(round((end - start) * info["sample_rate"])))
    for block in iter_blocks(path, info, start, end):
        meter.feed(block)
        if on_block is not None:
            on_block(block)
        frames += block.shape[0]
        if progress:
            progress("decode", min(1.0, frames / total))
    if frames == 0 and end > start:
        raise BandmateError("corrupt_file", "%s: no audio data could be decoded" % os.path.basename(path))
    duration = frames / float(info["sample_rate"])
    return {
        "path": path, "kind": "audio", "format": info["format"], "sample_rate": info["sample_rate"],
        "channels": info["channels"], "file_duration": round(info["duration"], 6), "start": round(start, 6),
        "end": round(start + duration, 6), "duration": round(duration, 6),
        "loudness_lufs": _round(meter.integrated()), "peak_dbfs": _round(meter.peak_dbfs()),
        "rms_dbfs": _round(meter.rms_dbfs()),
    }


def _round(x, nd=3):
    return None if x is None else round(x, nd)
