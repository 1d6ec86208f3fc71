"""ITU-R BS.1770-4 loudness: K-weighting, 400 ms gated blocks, absolute (-70 LUFS) and relative (-10 LU) gates.

Works on streams: feed blocks of samples in order, read the integrated loudness at the end, so memory stays
bounded for hour-long files.
"""
import math

import numpy as np
from scipy.signal import lfilter

# Filter parameters of the standard's two K-weighting stages (pre-filter shelf and RLB high-pass), from which
# coefficients are derived for any sample rate by the bilinear transform.
_SHELF_F0, _SHELF_GAIN_DB, _SHELF_Q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
_HP_F0, _HP_Q = 38.13547087602444, 0.5003270373238773

# Channel weights by position for 1-6 channels (L, R, C, LFE, Ls, Rs); LFE is excluded.
_WEIGHTS = {1: [1.0], 2: [1.0, 1.0], 3: [1.0, 1.0, 1.0], 4: [1.0, 1.0, 1.41, 1.41],
            5: [1.0, 1.0, 1.0, 1.41, 1.41], 6: [1.0, 1.0, 1.0, 0.0, 1.41, 1.41]}


def k_weighting(sample_rate):
    """Coefficients (b, a) of the two K-weighting biquads for `sample_rate` Hz."""
    k = math.tan(math.pi * _SHELF_F0 / sample_rate)
    vh = 10 ** (_SHELF_GAIN_DB / 20.0)
    vb = vh ** 0.4996667741545416
    a0 = 1.0 + k / _SHELF_Q + k * k
    shelf = (np.array([(vh + vb * k / _SHELF_Q + k * k) / a0, 2.0 * (k * k - vh) / a0,
                       (vh - vb * k / _SHELF_Q + k * k) / a0]),
             np.array([1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / _SHELF_Q + k * k) / a0]))
    k = math.tan(math.pi * _HP_F0 / sample_rate)
    a0 = 1.0 + k / _HP_Q + k * k
    highpass = (np.array([1.0, -2.0, 1.0]),
                np.array([1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / _HP_Q + k * k) / a0]))
    return shelf, highpass


class LoudnessMeter:
    """Streaming integrated loudness. feed(block) with shape (samples, channels), float in [-1, 1]."""

    def __init__(self, sample_rate, channels):
        self.sr = int(sample_rate)
        self.channels = int(channels)
        self.weights = np.array(_WEIGHTS.get(self.channels, [1.0] * self.channels))
        self.stages = k_weighting(self.sr)
        self._zi = [np.zeros((2, self.channels)) for _ in self.stages]
        self.step = max(1, int(round(0.1 * self.sr)))  # 100 ms: blocks are 4 steps long, 75 % overlap
        self._carry = np.zeros((0, self.channels))
        self._step_energy = []  # mean square per channel per 100 ms step
        self.peak = 0.0
        self.sum_sq = 0.0
        self.n = 0

    def feed(self, block):
        block = np.asarray(block, dtype=np.float64)
        if block.ndim == 1:
            block = block[:, None]
        if block.shape[0] == 0:
            return
        self.peak = max(self.peak, float(np.max(np.abs(block))))
        self.sum_sq += float(np.sum(block * block))
        self.n += block.size
        y = block
        for i, (b, a) in enumerate(self.stages):
            y, self._zi[i] = lfilter(b, a, y, axis=0, zi=self._zi[i])
        y = np.concatenate([self._carry, y])
        whole = (y.shape[0] // self.step) * self.step
        if whole:
            steps = y[:whole].reshape(-1, self.step, self.channels)
            self._step_energy.extend(np.mean(steps * steps, axis=1))
        self._carry = y[whole:]

    def integrated(self):
        """Integrated loudness in LUFS, or None when no block passes the absolute gate (silence, < 400 ms)."""
        e = np.array(self._step_energy)
        if len(e) < 4:
            return None
        blocks = (e[:-3] + e[1:-2] + e[2:-1] + e[3:]) / 4.0  # 400 ms blocks every 100 ms
        z = blocks @ self.weights
        with np.errstate(divide="ignore"):
            lk = -0.691 + 10.0 * np.log10(z)
        keep = lk > -70.0
        if not np.any(keep):
            return None
        rel = -0.691 + 10.0 * np.log10(np.mean(z[keep])) - 10.0
        keep &= lk > rel
        if not np.any(keep):
            return None
        return float(-0.691 + 10.0 * np.log10(np.mean(z[keep])))

    def peak_dbfs(self):
        return None if self.peak <= 0 else float(20.0 * np.log10(self.peak))

    def rms_dbfs(self):
        if self.n == 0 or self.sum_sq <= 0:
            return None
        return float(10.0 * np.log10(self.sum_sq / self.n))


def integrated_loudness(samples, sample_rate):
    """Integrated loudness (LUFS) of a whole signal, shape (samples,) or (samples, channels)."""
    samples = np.asarray(samples)
    meter = LoudnessMeter(sample_rate, 1 if samples.ndim == 1 else samples.shape[1])
    meter.feed(samples)
    return meter.integrated()
