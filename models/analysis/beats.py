"""Beats, downbeats, tempo and meter: features, the network and the bar-pointer decoder.

Pipeline (after Böck, Krebs & Widmer's joint beat/downbeat trackers, written from the papers):

1. Features (`beat_features`): two magnitude STFTs (1024 and 2048 samples, Hann) of the mono 22.05 kHz signal
   at FPS = 50 frames/s, each reduced to N_BANDS log-spaced bands (30 Hz - 11 kHz), log-compressed, plus the
   positive first difference of each (onsets). Shape (frames, 4, N_BANDS).
2. The network (`build_model`): a small 2-D conv front end that folds the bands away, then a non-causal
   temporal convolution network (dilations 1 .. 128 frames, about 20 s of context), softmax over three classes
   per frame: no beat, beat, downbeat.
3. Decoding (`decode_bar_pointer`): a dynamic Bayesian network whose hidden state is (beats per bar, beat in
   the bar, beat period in frames, phase in the beat); the phase advances one frame per frame, the period may
   change only when a beat starts, with a probability that falls off exponentially with the relative change
   (Krebs, Böck & Widmer 2015). Observations are only informative where a beat starts (the downbeat class on
   the first beat of a bar, the beat class on the others), so Viterbi reduces to a recursion over beat starts:
   best(t, bar beat k, period j) = obs(t, k) + max_i [best(t - period_i, k - 1, i) + log A(i, j)]. Since every
   period is at least `min(periods)` frames, blocks of that many frames are computed at once. The decoder runs
   at DBN_FPS (activations interpolated), so whole-frame periods are about 2 % apart; the bar lengths compete
   in one Viterbi pass, and the winner is the meter.
4. Read-out (`track_beats`): beat times refined to the activation peak, positions in the bar, downbeats, a
   tempo map (piecewise-constant segments of the beat intervals), the tempo that lasts longest as the song's
   BPM, and the meter (beats per bar, compound when the beats divide in three).

Units: times in seconds, tempi in beats (tactus) per minute, frames at FPS frames/s (frame k centred at k / FPS
seconds), periods in frames per beat (at the decoder's rate).
"""
from __future__ import annotations

import json
import os

import numpy as np

from .features import MODEL_SR, stft_magnitude

FPS = 50
HOP = MODEL_SR // FPS  # 441 samples
FFT_SIZES = (1024, 2048)
N_BANDS = 64
FMIN_HZ, FMAX_HZ = 30.0, 11000.0
LOW_BANDS = 17  # the first 17 of the N_BANDS log-spaced bands reach about 150 Hz (kick and bass)
COMPRESSION = 1000.0  # log1p(COMPRESSION * magnitude); full-scale sine magnitude is 1
LOG_FLOOR = 1e-7  # floor of the cached log magnitudes (natural log)
CLASSES = ("none", "beat", "downbeat")
MIN_BPM, MAX_BPM = 55.0, 215.0
BEATS_PER_BAR = (2, 3, 4)  # 6/8 and 12/8 are 2 and 4 dotted-quarter beats per bar
# Prior of each bar length (a clip in 4 is far likelier than one in 3 or in 2 dotted-quarter beats).
BAR_PRIOR = {2: 0.05, 3: 0.15, 4: 0.8}
DBN_FPS = 100  # the decoder runs on activations upsampled to this rate, for finer beat periods
N_TEMPI = 60  # beat periods the decoder considers (log-spaced between MIN_BPM and MAX_BPM)
TRANSITION_LAMBDA = 100.0  # log-probability per unit of relative period change at a beat
BEAT_BONUS = 1.0  # log-probability added at each beat (see decode_bar_pointer; tuned on validation)
MAX_TEMPO_STEPS = 3  # places along the period grid a period may move from one beat to the next
DECODE_WINDOW_S = 300.0  # longer signals are decoded window by window
DEFAULT_CHECKPOINT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "checkpoints",
                                  "beats")


# ------------------------------------------------------------------------------------------------- features
def band_filterbank(sr: int, n_fft: int, n_bands: int = N_BANDS, fmin: float = FMIN_HZ,
                    fmax: float = FMAX_HZ) -> np.ndarray:
    """Triangular filters with log-spaced centres from fmin to fmax Hz, each reaching its neighbours' centres
    and normalised to unit area; a filter that falls between two FFT bins takes the nearest bin, so low bands
    of the short FFT repeat rather than vanish. Returns (n_fft // 2 + 1, n_bands), float32."""
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    edges = np.geomspace(fmin, fmax, n_bands + 2)
    fb = np.zeros((len(freqs), n_bands), dtype=np.float32)
    for b in range(n_bands):
        lo, mid, hi = edges[b], edges[b + 1], edges[b + 2]
        tri = np.maximum(0.0, np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)))
        if tri.sum() == 0:
            tri[np.argmin(np.abs(freqs - mid))] = 1.0
        fb[:, b] = tri / tri.sum()
    return fb


_FILTERBANKS: dict = {}


def log_band_magnitudes(y: np.ndarray, sr: int = MODEL_SR, hop: int = HOP) -> np.ndarray:
    """Natural log of the band magnitudes of both FFT sizes, floored at LOG_FLOOR: (frames, 2, N_BANDS),
    float32, frame k centred at k * hop / sr seconds. Training caches these (at a finer hop) so that gain, EQ,
    noise and time-stretch can be applied before compression."""
    mags = []
    for n_fft in FFT_SIZES:
        key = (sr, n_fft)
        if key not in _FILTERBANKS:
            _FILTERBANKS[key] = band_filterbank(sr, n_fft)
        mags.append(stft_magnitude(y, n_fft, hop, filterbank=_FILTERBANKS[key]))
    n = min(len(m) for m in mags)
    return np.log(np.maximum(np.stack([m[:n] for m in mags], axis=1), LOG_FLOOR)).astype(np.float32)


def network_input(band_magnitudes: np.ndarray) -> np.ndarray:
    """Network input from linear band magnitudes (frames, 2, N_BANDS): log1p-compressed bands and their
    positive difference to the previous frame, (frames, 4, N_BANDS) float32."""
    comp = np.log1p(COMPRESSION * np.asarray(band_magnitudes, dtype=np.float32))
    diff = np.zeros_like(comp)
    diff[1:] = np.maximum(0.0, comp[1:] - comp[:-1])
    return np.concatenate([comp, diff], axis=1).astype(np.float32)


def beat_features(y: np.ndarray, sr: int = MODEL_SR) -> np.ndarray:
    """The network's input for a mono signal at `sr` Hz: (frames, 4, N_BANDS) at FPS frames/s."""
    return network_input(np.exp(log_band_magnitudes(y, sr, HOP)))


def frame_targets(beats: list, downbeats: list, n_frames: int, fps: float = FPS) -> np.ndarray:
    """Soft per-frame class targets (frames, 3) for beat times and downbeat times in seconds: 1 on the frame
    nearest each beat (class downbeat for downbeats), 0.5 on its two neighbours, the rest 'none'."""
    out = np.zeros((n_frames, 3), dtype=np.float32)
    weight = np.zeros(n_frames, dtype=np.float32)
    label = np.zeros(n_frames, dtype=np.int64)
    down = np.asarray(downbeats, dtype=float)
    for t in beats:
        f = int(round(t * fps))
        cls = 2 if len(down) and np.min(np.abs(down - t)) < 0.5 / fps + 1e-6 else 1
        for off, w in ((0, 1.0), (-1, 0.5), (1, 0.5)):
            g = f + off
            if 0 <= g < n_frames and w > weight[g]:
                weight[g], label[g] = w, cls
    out[np.arange(n_frames), label] = weight
    out[:, 0] += 1.0 - weight
    return out


# -------------------------------------------------------------------------------------------------- network
def build_model(channels: int = 32, dilations: tuple = tuple(2 ** i for i in range(8)), kernel: int = 5,
                dropout: float = 0.15, n_bands: int = N_BANDS):
    """The beat network (torch): input (batch, frames, 4, n_bands) -> logits (batch, frames, 3)."""
    from torch import nn

    class ResidualBlock(nn.Module):
        def __init__(self, dilation):
            super().__init__()
            self.conv = nn.Conv1d(channels, channels, kernel, dilation=dilation,
                                  padding=dilation * (kernel - 1) // 2)
            self.norm = nn.BatchNorm1d(channels)
            self.drop = nn.Dropout(dropout)
            self.mix = nn.Conv1d(channels, channels, 1)

        def forward(self, x):
            h = self.mix(self.drop(nn.functional.elu(self.norm(self.conv(x)))))
            return x + h, h

    class BeatNet(nn.Module):
        def __init__(self):
            super().__init__()
            c = channels
            self.config = {"channels": channels, "dilations": list(dilations), "kernel": kernel,
                           "dropout": dropout, "n_bands": n_bands}
            self.frontend = nn.Sequential(  # folds the bands away: n_bands -> n_bands / 4 -> n_bands / 16 -> 1
                nn.Conv2d(4, c // 4, 3, padding=1), nn.BatchNorm2d(c // 4), nn.ELU(), nn.MaxPool2d((1, 4)),
                nn.Dropout(dropout),
                nn.Conv2d(c // 4, c // 2, 3, padding=1), nn.BatchNorm2d(c // 2), nn.ELU(), nn.MaxPool2d((1, 4)),
                nn.Dropout(dropout),
                nn.Conv2d(c // 2, c, (1, n_bands // 16)), nn.BatchNorm2d(c), nn.ELU())
            self.blocks = nn.ModuleList(ResidualBlock(d) for d in dilations)
            self.head = nn.Conv1d(c, len(CLASSES), 1)

        def forward(self, x):  # x: (batch, frames, 4, bands)
            h = self.frontend(x.permute(0, 2, 1, 3))  # (batch, c, frames, 1)
            h = h[..., 0]
            skips = 0
            for block in self.blocks:
                h, s = block(h)
                skips = skips + s
            return self.head(nn.functional.elu(skips)).transpose(1, 2)

    return BeatNet()


def load_beat_model(checkpoint: str | None = None, device=None):
    """The trained beat network, or None when its checkpoint (`checkpoint`.safetensors, default
    models/checkpoints/beats) is absent. The architecture is read from the checkpoint's metadata."""
    checkpoint = checkpoint or DEFAULT_CHECKPOINT
    path = checkpoint if checkpoint.endswith(".safetensors") else checkpoint + ".safetensors"
    if not os.path.exists(path):
        return None
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(path, framework="pt") as fh:
        meta = fh.metadata() or {}
    config = json.loads(meta.get("config", "{}"))
    if "dilations" in config:
        config["dilations"] = tuple(config["dilations"])
    model = build_model(**config)
    model.load_state_dict(load_file(path))
    model.eval()
    if device is not None:
        model.to(device)
    return model


def activations(model, features: np.ndarray) -> np.ndarray:
    """Per-frame class probabilities (frames, 3): none, beat, downbeat, from beat_features output."""
    import torch

    if len(features) == 0:
        return np.zeros((0, 3), dtype=np.float32)
    from .features import run_windowed

    param = next(model.parameters())
    model.eval()

    def run(x):
        with torch.no_grad():
            logits = model(torch.from_numpy(np.ascontiguousarray(x)[None]).to(param.device, param.dtype))
            return torch.softmax(logits[0].float(), -1).cpu().numpy()
    # 5-minute windows with 25 s of context each side (beyond the TCN's receptive field)
    return run_windowed(run, features, 300 * FPS, 25 * FPS)


# ------------------------------------------------------------------------------------------------- decoding
def beat_periods(min_bpm: float = MIN_BPM, max_bpm: float = MAX_BPM, fps: float = DBN_FPS,
                 n_tempi: int = N_TEMPI) -> np.ndarray:
    """Beat periods in whole frames (at `fps`) from max_bpm down to min_bpm, about log-spaced: at most
    `n_tempi` of them, every whole number where they would be closer than one frame. At least one."""
    lo = max(2, int(np.ceil(60.0 * fps / max_bpm)))
    hi = max(lo, int(np.floor(60.0 * fps / min_bpm)))
    if hi - lo + 1 <= n_tempi:
        return np.arange(lo, hi + 1)
    return np.unique(np.round(np.geomspace(lo, hi, n_tempi)).astype(np.int64))


def decode_bar_pointer(act: np.ndarray, periods: np.ndarray, beats_per_bar=BEATS_PER_BAR,
                       bar_prior: dict | None = None, transition_lambda: float = TRANSITION_LAMBDA,
                       max_steps: int = MAX_TEMPO_STEPS, beat_bonus: float = BEAT_BONUS, eps: float = 1e-6):
    """Viterbi path of the bar-pointer DBN over per-frame probabilities `act` (frames, 3: none, beat,
    downbeat). `periods`: allowed beat periods in frames, ascending; from one beat to the next the period may
    move at most `max_steps` places along them, at a log-cost of `transition_lambda` times the relative change;
    `beats_per_bar`: the bar lengths (beats) to consider, each weighted by `bar_prior`; `beat_bonus` (log units)
    is added to every beat, so that a path skipping beats the network saw (half tempo) does not come for free.
    Returns (beat frames (n,), position in the bar (n,) 1 = downbeat, period of each beat in frames (n,),
    beats per bar, path log-score); empty arrays when there are no frames."""
    act = np.asarray(act, dtype=np.float32)
    n_frames = len(act)
    beats_per_bar = tuple(int(m) for m in beats_per_bar)
    periods = np.asarray(periods, dtype=np.int64)
    if n_frames == 0 or len(periods) == 0:
        return np.zeros(0, int), np.zeros(0, int), np.zeros(0, int), beats_per_bar[0], 0.0
    n_tempi = len(periods)
    bar_prior = bar_prior or BAR_PRIOR
    # slots: one per (beats per bar M, beat k of the bar); a beat in slot q follows a beat in slot pred[q]
    slot_meter, slot_beat, pred = [], [], []
    for m in beats_per_bar:
        base = len(slot_meter)
        for k in range(m):
            slot_meter.append(m)
            slot_beat.append(k)
            pred.append(base + (k - 1) % m)
    slot_meter, slot_beat, pred = np.array(slot_meter), np.array(slot_beat), np.array(pred)
    prior = np.array([np.log(bar_prior.get(int(m), min(bar_prior.values()))) for m in slot_meter],
                     dtype=np.float32)
    # period transitions i -> j, banded to |i - j| <= max_steps, each row normalised
    idx = np.arange(n_tempi)
    ratio = periods[None, :] / periods[:, None]
    log_a = -transition_lambda * np.abs(ratio - 1.0)
    log_a[np.abs(idx[:, None] - idx[None, :]) > max_steps] = -np.inf
    log_a = (log_a - np.logaddexp.reduce(log_a, axis=1, keepdims=True)).astype(np.float32)
    steps = min(max_steps, n_tempi - 1)
    # tempo on the first axis, so that shifting along it reads contiguous memory
    from_below = [log_a[idx[d:] - d, idx[d:]][:, None, None] for d in range(1, steps + 1)]  # i = j - d
    from_above = [log_a[idx[:-d] + d, idx[:-d]][:, None, None] for d in range(1, steps + 1)]  # i = j + d
    stay = log_a[idx, idx][:, None, None]
    # observations relative to 'no beat', so every state off a beat start scores 0
    log_p = np.log(np.clip(act, eps, 1.0))
    obs = np.where(slot_beat[None, :] == 0, (log_p[:, 2] - log_p[:, 0])[:, None],
                   (log_p[:, 1] - log_p[:, 0])[:, None]).astype(np.float32) + np.float32(beat_bonus)
    n_slots = len(slot_meter)
    # best[j, pad + t, q]: score of the best path whose beat in slot q, period j, starts at frame t. The
    # first `pad` rows stand for beats before frame 0, so a path may begin anywhere inside its first beat.
    pad = int(periods.max())
    best = np.empty((n_tempi, pad + n_frames, n_slots), dtype=np.float32)
    best[:, :pad] = prior[None, None, :]
    flat = best.reshape(-1)
    chunk = int(periods.min())  # beats in a block of this many frames only depend on earlier blocks
    gather = (idx[:, None, None] * best.shape[1] * n_slots + (pad + np.arange(chunk)[None, :, None]
              - periods[:, None, None]) * n_slots + pred[None, None, :])
    for t0 in range(0, n_frames, chunk):
        c = min(chunk, n_frames - t0)
        prev = flat.take(gather[:, :c] + t0 * n_slots)  # (tempi i, c, slots): the beat before, per period
        new = prev + stay
        for d in range(1, steps + 1):
            np.maximum(new[d:], prev[:-d] + from_below[d - 1], out=new[d:])
            np.maximum(new[:-d], prev[d:] + from_above[d - 1], out=new[:-d])
        best[:, pad + t0:pad + t0 + c] = new + obs[t0:t0 + c][None]
    # the last beat is still running at the last frame: it started within its period of the end
    score, t, q, j = -np.inf, 0, 0, 0
    for jj in range(n_tempi):
        tail = best[jj, pad + n_frames - min(n_frames, int(periods[jj])):]
        k = int(np.argmax(tail))
        if tail.flat[k] > score:
            score = float(tail.flat[k])
            tt, q = divmod(k, n_slots)
            t, j = n_frames - len(tail) + tt, jj
    frames, slots, tempi = [], [], []
    while True:  # back-pointers are recomputed per beat instead of stored per frame
        frames.append(t)
        slots.append(q)
        tempi.append(j)
        cand_i = np.arange(max(0, j - steps), min(n_tempi, j + steps + 1))
        prev = best[cand_i, pad + np.maximum(t - periods[cand_i], -pad), pred[q]]
        i = int(cand_i[np.argmax(prev + log_a[cand_i, j])])
        if t - periods[i] < 0:  # the path began inside this beat's predecessor
            break
        t, q, j = t - int(periods[i]), int(pred[q]), i
    frames, slots, tempi = frames[::-1], np.array(slots[::-1]), np.array(tempi[::-1])
    return (np.array(frames, dtype=int), slot_beat[slots] + 1, periods[tempi], int(slot_meter[slots[0]]), score)


def refine_times(frames: np.ndarray, beat_act: np.ndarray, fps: float = FPS, radius: int = 2) -> np.ndarray:
    """Beat times in seconds: each frame moved to the highest activation within `radius` frames, then to the
    vertex of the parabola through that frame and its neighbours."""
    out = np.zeros(len(frames))
    n = len(beat_act)
    for b, f in enumerate(frames):
        lo, hi = max(0, f - radius), min(n, f + radius + 1)
        p = lo + int(np.argmax(beat_act[lo:hi]))
        delta = 0.0
        if 0 < p < n - 1:
            a, c, e = beat_act[p - 1], beat_act[p], beat_act[p + 1]
            denom = a - 2 * c + e
            if denom < 0:
                delta = float(np.clip(0.5 * (a - e) / denom, -0.5, 0.5))
        out[b] = (p + delta) / fps
    return out


def tempo_map(beat_times: np.ndarray, tolerance: float = 0.04, min_beats: int = 6) -> list[dict]:
    """Piecewise-constant tempo [{time, bpm}] (seconds, beats per minute) from beat times: a new segment starts
    where the median-smoothed beat interval leaves the current segment's by more than `tolerance` (relative)
    for `min_beats` beats running; each segment's tempo is the least-squares slope of its beat times. The first
    segment starts at 0 s."""
    from scipy.ndimage import median_filter

    beat_times = np.asarray(beat_times, dtype=float)
    if len(beat_times) < 2:
        return []
    ibi = np.diff(beat_times)
    smooth = median_filter(ibi, size=min(5, len(ibi)), mode="nearest")
    starts = [0]
    ref = smooth[0]
    run = 0
    for b in range(1, len(smooth)):
        seg = smooth[starts[-1]:b]
        ref = float(np.median(seg))
        if abs(smooth[b] / ref - 1.0) > tolerance:
            run += 1
            if run >= min_beats:
                starts.append(b - run + 1)
                run = 0
        else:
            run = 0
    bounds = starts + [len(ibi)]
    out = []
    for s, e in zip(bounds[:-1], bounds[1:]):
        t = beat_times[s:e + 1]
        idx = np.arange(len(t))
        period = float(np.polyfit(idx, t, 1)[0]) if len(t) >= 3 else float(np.mean(np.diff(t)))
        bpm = round(60.0 / period, 2)
        if out and abs(bpm / out[-1]["bpm"] - 1.0) <= tolerance / 2:
            continue  # a boundary that did not change the tempo
        out.append({"time": round(float(t[0]), 4) if out else 0.0, "bpm": bpm})
    return out


def song_bpm(tmap: list[dict], end_time: float) -> float:
    """The tempo (BPM) that lasts longest in a tempo map [{time, bpm}] running to end_time seconds."""
    if not tmap:
        return 0.0
    lasting: dict = {}
    for a, b in zip(tmap, tmap[1:] + [{"time": end_time}]):
        lasting[a["bpm"]] = lasting.get(a["bpm"], 0.0) + max(0.0, b["time"] - a["time"])
    return float(max(lasting, key=lasting.get))


def subdivision(onsets: np.ndarray, beat_times: np.ndarray, fps: float = FPS) -> float:
    """How much more onset strength falls on the beats' thirds than on their halves (ratio; > 1: the beats
    divide in three, as dotted-quarter beats in 6/8 and 12/8)."""
    if len(beat_times) < 3:
        return 1.0

    def at(times):
        idx = np.round(np.asarray(times) * fps).astype(int)
        idx = np.clip(idx, 1, len(onsets) - 2)
        return np.maximum(np.maximum(onsets[idx - 1], onsets[idx]), onsets[idx + 1])

    a, b = beat_times[:-1], np.diff(beat_times)
    thirds = 0.5 * (at(a + b / 3) + at(a + 2 * b / 3))
    halves = at(a + b / 2)
    return float((np.median(thirds) + 1e-6) / (np.median(halves) + 1e-6))


def meter_name(beats_per_bar: int, compound_ratio: float) -> dict:
    """Time signature for a bar of `beats_per_bar` tactus beats: compound (x/8) when the beats divide in three
    (compound_ratio > 1.25); two beats are taken as 6/8 unless they clearly divide in two."""
    if beats_per_bar == 2:
        return {"numerator": 2, "denominator": 4} if compound_ratio < 0.8 else {"numerator": 6, "denominator": 8}
    if compound_ratio > 1.25:
        return {"numerator": 3 * beats_per_bar, "denominator": 8}
    return {"numerator": int(beats_per_bar), "denominator": 4}


def parse_hint(context: dict | None):
    """(tempo in BPM or None, meter (numerator, denominator) or None) from a DAW context {"tempo", "meter"};
    the meter may be [num, den], {"numerator", "denominator"} or "num/den". Bad values are ignored."""
    context = context or {}
    tempo, meter = context.get("tempo"), context.get("meter")
    try:
        tempo = float(tempo) if tempo is not None else None
        if tempo is not None and not (20.0 <= tempo <= 400.0):
            tempo = None
    except (TypeError, ValueError):
        tempo = None
    try:
        if isinstance(meter, dict):
            meter = (int(meter["numerator"]), int(meter["denominator"]))
        elif isinstance(meter, str):
            num, den = meter.split("/")
            meter = (int(num), int(den))
        elif meter is not None:
            meter = (int(meter[0]), int(meter[1]))
        if meter is not None and not (1 <= meter[0] <= 32 and meter[1] in (1, 2, 4, 8, 16, 32)):
            meter = None
    except (TypeError, ValueError, KeyError, IndexError):
        meter = None
    return tempo, meter


def hint_beats_per_bar(meter: tuple[int, int]) -> int:
    """Tactus beats per bar of a time signature: compound meters (6/8, 9/8, 12/8) count dotted quarters."""
    num, den = meter
    if den >= 8 and num % 3 == 0 and num > 3:
        return num // 3
    return num


def upsample(act: np.ndarray, factor: int) -> np.ndarray:
    """Activations (frames, classes) linearly interpolated to `factor` times the frame rate; frame k of the
    result lies at k / factor input frames."""
    if factor == 1 or len(act) < 2:
        return act
    pos = np.arange((len(act) - 1) * factor + 1) / factor
    out = np.empty((len(pos), act.shape[1]), dtype=np.float32)
    for c in range(act.shape[1]):
        out[:, c] = np.interp(pos, np.arange(len(act)), act[:, c])
    return out


def decode_long(act: np.ndarray, periods: np.ndarray, beats_per_bar=BEATS_PER_BAR,
                window_s: float = DECODE_WINDOW_S):
    """decode_bar_pointer on activations at FPS, run at DBN_FPS, in consecutive windows of window_s seconds
    (so memory stays bounded on long files; the bar count restarts at each window). Returns (beat frames at
    FPS, positions, beats per bar of the longest window)."""
    factor = DBN_FPS // FPS
    win = int(window_s * FPS)
    frames, positions, meters = [], [], []
    for start in range(0, len(act), win):
        part = act[start:start + win]
        if len(part) < 2 and start > 0:
            break
        f, p, _, m, _ = decode_bar_pointer(upsample(part, factor), periods, beats_per_bar)
        f = np.round(f / factor).astype(int) + start
        if frames and len(f):  # drop a beat the window boundary doubled
            keep = f - frames[-1][-1] >= 0.5 * periods.min() / factor if len(frames[-1]) else np.ones(len(f), bool)
            f, p = f[keep], p[keep]
        frames.append(f)
        positions.append(p)
        meters.append((len(part), m))
    if not frames:
        return np.zeros(0, int), np.zeros(0, int), beats_per_bar[0]
    return np.concatenate(frames), np.concatenate(positions), max(meters)[1]


def _empty_result(meter=None, tempo=None) -> dict:
    return {"bpm": float(tempo or 0.0), "tempo_map": [{"time": 0.0, "bpm": float(tempo)}] if tempo else [],
            "meter": {"numerator": int(meter[0]), "denominator": int(meter[1])} if meter else
            {"numerator": 4, "denominator": 4},
            "beats": [], "downbeats": [], "confidence": 0.0}


def track_beats(model, y: np.ndarray, context: dict | None = None, activation_threshold: float = 0.05,
                chords: list | None = None) -> dict:
    """Beats, downbeats, tempo and meter of a mono float32 signal at features.MODEL_SR Hz.

    `context` may carry a DAW hint {"tempo": BPM (tactus beats per minute), "meter": [num, den]}: the decoder
    then only considers periods within 8 % of that tempo and bars of that meter's beats. Returns {"bpm",
    "tempo_map": [{time, bpm}], "meter": {numerator, denominator}, "beats": [{time, position}] (position 1 is
    the downbeat), "downbeats": [seconds], "confidence": mean peak activation at the beats, 0..1}."""
    if model is None:
        raise ValueError("no beat model: train one with `bandmate train beats`")
    y = np.asarray(y, dtype=np.float32).reshape(-1)
    if len(y) < MODEL_SR // 2 or not np.isfinite(y).all():
        return _empty_result(*reversed(parse_hint(context)))
    return track_features(model, beat_features(y), context, activation_threshold, chords)


def track_features(model, feats: np.ndarray, context: dict | None = None,
                   activation_threshold: float = 0.05, chords: list | None = None, octave="default",
                   bars="default") -> dict:
    """track_beats from precomputed beat_features (frames, 4, N_BANDS) at FPS."""
    hint_tempo, hint_meter = parse_hint(context)
    if len(feats) < FPS // 2:
        return _empty_result(hint_meter, hint_tempo)
    return track_activations(activations(model, feats), *onset_envelopes(feats), context=context,
                             activation_threshold=activation_threshold, chords=chords, octave=octave, bars=bars)


def onset_envelopes(feats: np.ndarray):
    """(all-band onset strength, low-band onset strength (30-150 Hz: kick and bass)) per frame, from
    beat_features' positive band differences."""
    return feats[:, 2:].sum(axis=(1, 2)), feats[:, 2:, :LOW_BANDS].sum(axis=(1, 2))


def track_activations(act: np.ndarray, onsets: np.ndarray, low_onsets: np.ndarray, context: dict | None = None,
                      activation_threshold: float = 0.05, chords: list | None = None, octave="default",
                      bars="default", collect: dict | None = None) -> dict:
    """The decoding half of track_features, from the network's activations (frames, 3) and onset_envelopes.
    Without a DAW tempo, the tempo octave is chosen after the first decoding (tempo_octave.py; `octave`: its
    fitted model, "default" for the shipped one, None to keep the decoder's level); without a DAW meter, the
    bar length and phase are chosen next (bar_choice.py; `bars` likewise). Both read `chords` (the song's
    chord segments) as one of their cues. `collect`, when a dict, receives their candidates (training)."""
    hint_tempo, hint_meter = parse_hint(context)
    beat_act = act[:, 1] + act[:, 2]
    # decode only where the music is: leading and trailing silence gets no beats
    active = np.flatnonzero(beat_act > activation_threshold)
    if len(active) < 2:
        return _empty_result(hint_meter, hint_tempo)
    first, last = int(active[0]), int(active[-1]) + 1
    if hint_tempo is not None:
        periods = beat_periods(hint_tempo / 1.08, hint_tempo * 1.08)
    else:
        periods = beat_periods()
    bar_set = (hint_beats_per_bar(hint_meter),) if hint_meter is not None else BEATS_PER_BAR
    frames, positions, per_bar = decode_long(act[first:last], periods, bar_set)
    if len(frames) == 0:
        return _empty_result(hint_meter, hint_tempo)
    frames = frames + first
    times = refine_times(frames, beat_act)
    if hint_tempo is None:
        from . import tempo_octave

        model = tempo_octave.load() if octave == "default" else octave
        cands = tempo_octave.candidates(times, positions, beat_act, act[:, 2], onsets, chords, FPS)
        if collect is not None:
            collect["octave"], collect["first"] = cands, (times, positions)
        relation, bpm_c, _ = tempo_octave.choose(cands, model)
        if relation != 1.0:  # decode again at the chosen level, over the tempi the first decoding went through
            ibi = np.diff(times)
            lo, hi = (60.0 / np.percentile(ibi, 95), 60.0 / np.percentile(ibi, 5)) if len(ibi) >= 2 else (bpm_c, bpm_c)
            lo, hi = min(lo * relation, bpm_c), max(hi * relation, bpm_c)
            f2, p2, b2 = decode_long(act[first:last], beat_periods(lo / 1.08, hi * 1.08), bar_set)
            if len(f2) >= 2:
                frames, positions, per_bar = f2 + first, p2, b2
                times = refine_times(frames, beat_act)
    if hint_meter is None:
        from . import bar_choice

        model = bar_choice.load() if bars == "default" else bars
        cands = bar_choice.candidates(times, positions, per_bar, act[:, 2], low_onsets, chords, FPS)
        if collect is not None:
            collect["bars"], collect["times"] = cands, times
        choice = bar_choice.choose(cands, model)
        if choice is not None:
            per_bar = choice[0]
            positions = bar_choice.positions_for(len(times), *choice)
    tmap = tempo_map(times)
    bpm = song_bpm(tmap, len(act) / FPS) if tmap else float(hint_tempo or 0.0)
    if hint_meter is not None:
        meter = {"numerator": int(hint_meter[0]), "denominator": int(hint_meter[1])}
    else:
        meter = meter_name(per_bar, subdivision(onsets, times))
    peaks = [float(beat_act[max(0, f - 1):f + 2].max()) for f in frames]
    return {"bpm": round(bpm, 2), "tempo_map": tmap, "meter": meter,
            "beats": [{"time": round(float(t), 4), "position": int(p)} for t, p in zip(times, positions)],
            "downbeats": [round(float(t), 4) for t, p in zip(times, positions) if p == 1],
            "confidence": round(float(np.clip(np.mean(peaks), 0.0, 1.0)), 4)}
