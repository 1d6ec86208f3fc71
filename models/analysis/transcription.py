"""Note transcription: audio in, notes out (onset and offset in seconds, MIDI pitch, velocity), with Spotify's
basic-pitch (ICASSP 2022, Apache-2.0) ONNX model, and multi-track MIDI files from the notes.

Only the model file comes from the basic-pitch package (installed with --no-deps): its own inference module
needs librosa and its note module needs resampy, so the windowing and the note decoding are written here,
following the procedure the basic-pitch paper and package describe:

- the model hears 22050 Hz mono in windows of 43844 samples (2 s less one 256-sample hop) and gives, per window,
  172 frames (one per 256 samples, 11.6 ms) x 88 piano keys of three activations: `note` (a pitch sounds),
  `onset` (a note starts) and `contour` (pitch at a third of a semitone; not used here);
- windows overlap by about 30 frames; the frames near window edges are dropped, and here the hop is a whole
  number of frames (141 frames = 36096 samples), so frame n of the result is at exactly n * 256 / 22050 s;
- notes are decoded greedily: onset peaks above `onset_threshold` (with extra onsets inferred where the note
  activation jumps) start notes, each held while the note activation stays above `frame_threshold` (allowing
  10 frames of dip); notes shorter than `min_note_ms` are dropped; then the strongest activation left
  unexplained seeds further notes, walked both ways in time (the "melodia trick").
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from protocol import BandmateError

MODEL_SR = 22050  # Hz, mono
FFT_HOP = 256  # samples per activation frame
FRAME_S = FFT_HOP / MODEL_SR  # seconds per frame (11.6 ms)
WINDOW_SAMPLES = 2 * MODEL_SR - FFT_HOP  # 43844: the model's fixed input length
WINDOW_FRAMES = 172  # activation frames per window
LEAD_FRAMES = 15  # frames dropped at the start of each window (edge effects)
KEEP_FRAMES = 141  # frames kept per window; the window hop is KEEP_FRAMES * FFT_HOP samples
HOP_SAMPLES = KEEP_FRAMES * FFT_HOP
LOWEST_PITCH = 21  # MIDI pitch of the first of the 88 keys (A0)
N_PITCHES = 88
ENERGY_TOLERANCE = 11  # frames a held note may dip below frame_threshold before it ends
OUTPUT_NAMES = ("StatefulPartitionedCall:1", "StatefulPartitionedCall:2")  # note, onset activations
BATCH_WINDOWS = 8
DRUM_STEMS = {"drums", "drum", "percussion"}


class Note(NamedTuple):
    """A transcribed note: seconds from the clip start, MIDI pitch (21-108), MIDI velocity (1-127)."""
    onset_s: float
    offset_s: float
    midi_pitch: int
    velocity: int


def load_session(providers=("CPUExecutionProvider",)):
    """The basic-pitch ONNX session (what the registry's `basic_pitch` model holds). Raises
    BandmateError(not_available) when basic-pitch is not installed."""
    from models.registry import onnx_session, package_file

    path = package_file("basic_pitch", "saved_models", "icassp_2022", "nmp.onnx")
    if path is None:
        raise BandmateError("not_available", "note transcription needs basic-pitch: pip install --no-deps "
                                             "basic-pitch")
    return onnx_session(path, providers)


def _mono(y, sr):
    if not isinstance(y, np.ndarray) or y.ndim not in (1, 2) or y.size == 0:
        raise BandmateError("bad_params", "audio must be a non-empty numpy array (samples,) or (samples, channels)")
    if not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise BandmateError("bad_params", "sample rate must be a positive integer in Hz, got %r" % (sr,))
    y = y.astype(np.float32, copy=False)
    if y.ndim == 2:
        y = y.mean(axis=1)
    if not np.all(np.isfinite(y)):
        raise BandmateError("bad_params", "audio contains NaN or infinite samples")
    if sr != MODEL_SR:
        import soxr

        y = soxr.resample(y, sr, MODEL_SR, quality="HQ").astype(np.float32, copy=False)
    return y


def activations(y: np.ndarray, sr: int, session=None, batch_windows: int = BATCH_WINDOWS) -> dict:
    """basic-pitch's activations for a clip: {"note": (frames, 88), "onset": (frames, 88)} float32 in [0, 1],
    frame n at n * FRAME_S seconds, column k = MIDI pitch LOWEST_PITCH + k. y: (samples,) or (samples,
    channels) at `sr` Hz (mixed to mono, resampled to 22050 Hz)."""
    session = session if session is not None else load_session()
    x = _mono(y, sr)
    n_frames = -(-len(x) // FFT_HOP)
    n_windows = -(-len(x) // HOP_SAMPLES)
    # Leading silence puts frame 0 of the clip at frame LEAD_FRAMES of the first window.
    padded = np.zeros(LEAD_FRAMES * FFT_HOP + (n_windows - 1) * HOP_SAMPLES + WINDOW_SAMPLES, dtype=np.float32)
    padded[LEAD_FRAMES * FFT_HOP:LEAD_FRAMES * FFT_HOP + len(x)] = x
    input_name = session.get_inputs()[0].name
    note, onset = [], []
    for first in range(0, n_windows, batch_windows):
        idx = np.arange(first, min(n_windows, first + batch_windows)) * HOP_SAMPLES
        batch = np.stack([padded[i:i + WINDOW_SAMPLES] for i in idx])[..., None]
        out_note, out_onset = session.run(list(OUTPUT_NAMES), {input_name: batch})
        note.append(out_note[:, LEAD_FRAMES:LEAD_FRAMES + KEEP_FRAMES].reshape(-1, N_PITCHES))
        onset.append(out_onset[:, LEAD_FRAMES:LEAD_FRAMES + KEEP_FRAMES].reshape(-1, N_PITCHES))
    return {"note": np.concatenate(note)[:n_frames], "onset": np.concatenate(onset)[:n_frames]}


def _inferred_onsets(onset, note, n_diff=2):
    """The onset activation, raised where the note activation jumps up over 1 and 2 frames (rescaled to the
    onset activation's peak), so notes re-struck without a clear onset still start."""
    rise = None
    for lag in range(1, n_diff + 1):
        d = np.zeros_like(note)
        d[lag:] = note[lag:] - note[:-lag]
        d[:lag] = note[:lag]
        rise = d if rise is None else np.minimum(rise, d)
    rise = np.maximum(rise, 0.0)
    rise[:n_diff] = 0.0
    top = rise.max()
    if top > 0:
        rise *= onset.max() / top
    return np.maximum(onset, rise)


def _hold(energy, t, p, step, frame_threshold, stop):
    """Walk from frame t in direction `step` along pitch p while the energy stays above threshold, allowing
    ENERGY_TOLERANCE - 1 frames of dip. Returns the last frame index passed and the dip count at the end."""
    i, below = t, 0
    while i != stop and below < ENERGY_TOLERANCE:
        below = below + 1 if energy[i, p] < frame_threshold else 0
        i += step
    return i, below


def decode_notes(note: np.ndarray, onset: np.ndarray, onset_threshold: float = 0.5, frame_threshold: float = 0.3,
                 min_note_frames: int = 11, infer_onsets: bool = True, melodia: bool = True) -> list:
    """Greedy note decoding of activations (see the module docstring). Returns [(start_frame, end_frame,
    pitch_index, amplitude)], end exclusive, amplitude = mean note activation over the note (0-1)."""
    n_frames = note.shape[0]
    if n_frames < 3:
        return []
    onset = _inferred_onsets(onset, note) if infer_onsets else onset
    peak = np.zeros_like(onset, dtype=bool)
    peak[1:-1] = (onset[1:-1] > onset[:-2]) & (onset[1:-1] > onset[2:])
    starts_t, starts_p = np.nonzero(peak & (onset >= onset_threshold))
    energy = note.copy()
    events = []

    def clear(a, b, p):
        energy[a:b, max(0, p - 1):p + 2] = 0.0

    for t, p in sorted(zip(starts_t.tolist(), starts_p.tolist()), reverse=True):  # latest onsets first
        if t >= n_frames - 1:
            continue
        i, below = _hold(energy, t + 1, p, 1, frame_threshold, n_frames - 1)
        end = i - below
        if end - t <= min_note_frames:
            continue
        clear(t, end, p)
        events.append((t, end, p, float(note[t:end, p].mean())))

    if melodia:
        # The strongest unexplained activation seeds a note, walked forward and back. Energies only ever drop
        # to zero, so visiting the seeds in one presorted order equals taking the maximum each time.
        cand = np.flatnonzero(energy > frame_threshold)
        for flat in cand[np.argsort(-energy.ravel()[cand], kind="stable")]:
            t, p = divmod(int(flat), N_PITCHES)
            if energy[t, p] <= frame_threshold:
                continue
            energy[t, p] = 0.0
            i, below = t + 1, 0
            while i < n_frames - 1 and below < ENERGY_TOLERANCE:
                below = below + 1 if energy[i, p] < frame_threshold else 0
                energy[i, max(0, p - 1):p + 2] = 0.0
                i += 1
            end = i - 1 - below
            i, below = t - 1, 0
            while i > 0 and below < ENERGY_TOLERANCE:
                below = below + 1 if energy[i, p] < frame_threshold else 0
                energy[i, max(0, p - 1):p + 2] = 0.0
                i -= 1
            start = i + 1 + below
            if end - start <= min_note_frames:
                continue
            events.append((start, end, p, float(note[start:end, p].mean())))
    return events


def transcribe(y: np.ndarray, sr: int, session=None, onset_threshold: float = 0.5, frame_threshold: float = 0.3,
               min_note_ms: float = 127.7, min_pitch: int | None = None, max_pitch: int | None = None,
               melodia: bool = True) -> list:
    """Notes of a clip, sorted by onset then pitch: [Note(onset_s, offset_s, midi_pitch, velocity)].

    y: mono audio (samples,) float32 (a (samples, channels) array is mixed to mono) at `sr` Hz; session: the
    basic-pitch ONNX session (the daemon's warm `basic_pitch` model; loaded here when None).
    onset_threshold / frame_threshold: activation levels (0-1) that start a note / keep it sounding;
    min_note_ms: shortest note kept, milliseconds (basic-pitch's defaults: 0.5, 0.3, 127.7 ms);
    min_pitch / max_pitch: MIDI pitch range kept (inclusive); melodia: also decode notes without an onset.
    Velocity is 127 x the mean note activation over the note."""
    act = activations(y, sr, session)
    note, onset = act["note"], act["onset"]
    lo = 0 if min_pitch is None else max(0, int(min_pitch) - LOWEST_PITCH)
    hi = N_PITCHES if max_pitch is None else min(N_PITCHES, int(max_pitch) - LOWEST_PITCH + 1)
    if lo > 0 or hi < N_PITCHES:
        note, onset = note.copy(), onset.copy()
        note[:, :lo] = note[:, hi:] = 0.0
        onset[:, :lo] = onset[:, hi:] = 0.0
    min_frames = int(round(min_note_ms / 1000.0 / FRAME_S))
    events = decode_notes(note, onset, onset_threshold, frame_threshold, min_frames, melodia=melodia)
    notes = [Note(round(a * FRAME_S, 4), round(b * FRAME_S, 4), int(p) + LOWEST_PITCH,
                  int(np.clip(round(127 * amp), 1, 127))) for a, b, p, amp in events]
    return sorted(notes, key=lambda n: (n.onset_s, n.midi_pitch))


def write_midi(notes_by_stem: dict, path: str, bpm: float | None = None, ticks_per_beat: int = 480) -> str:
    """Write a type-1 MIDI file: a tempo track (`bpm`, default 120: note times are kept in seconds either way),
    then one named track per stem with its notes. A stem called drums/drum/percussion goes on MIDI channel 10,
    the others on channels 1-9, 11-16 in order. notes_by_stem: {stem: [Note or (onset_s, offset_s, midi_pitch,
    velocity)]}. Returns `path`."""
    import mido

    bpm = 120.0 if bpm is None else float(bpm)
    if not 1.0 <= bpm <= 1000.0:
        raise BandmateError("bad_params", "bpm must be between 1 and 1000, got %g" % bpm)
    tempo = mido.bpm2tempo(bpm)
    ticks_per_s = ticks_per_beat * 1e6 / tempo
    mid = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat)
    mid.tracks.append(mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=tempo, time=0),
                                      mido.MetaMessage("end_of_track", time=0)]))
    melodic_channels = iter([c for c in range(16) if c != 9] * 8)
    for stem, notes in notes_by_stem.items():
        channel = 9 if str(stem).lower() in DRUM_STEMS else next(melodic_channels)
        events = []  # (tick, order, message): note-offs sort before note-ons at the same tick
        for onset_s, offset_s, pitch, velocity in notes:
            start = int(round(float(onset_s) * ticks_per_s))
            end = max(start + 1, int(round(float(offset_s) * ticks_per_s)))
            pitch, velocity = int(np.clip(pitch, 0, 127)), int(np.clip(velocity, 1, 127))
            events.append((start, 1, "note_on", pitch, velocity))
            events.append((end, 0, "note_off", pitch, 0))
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=str(stem), time=0)])
        now = 0
        for tick, _, kind, pitch, velocity in sorted(events):
            track.append(mido.Message(kind, channel=channel, note=pitch, velocity=velocity, time=tick - now))
            now = tick
        track.append(mido.MetaMessage("end_of_track", time=0))
        mid.tracks.append(track)
    mid.save(path)
    return path
