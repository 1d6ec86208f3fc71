"""Live chord tracking: audio blocks in, chord and key events out, while a track plays.

Two engines share the input, event and key handling below; the model passed in picks one:
- fast (the causal live network, live_net.py, `causal = True`; the daemon's default session): every 20 ms,
  features of windows ending at the newest sample, one GRU step, and OnlineChordDecoder (triad-level forward
  Viterbi with a probability-gated hysteresis; its settings come from the network's model card, `bandmate train
  live --tune`);
- steady (the offline chord network, chords.py; the daemon's fallback when the live network is missing):
  described step by step next.

The steady engine reads the same features as the offline analyzer (features.log_freq_spectrogram: 22.05 kHz
mono, n_fft 4096, frames 0.1 s apart, 176 half-semitone bins), so the offline chord network runs unchanged:

  resample   each pushed block (samples, channels) is mixed to mono and resampled to 22.05 kHz as it arrives
             (soxr's streaming resampler), into a ring of the last few seconds
  frames     a new spectrogram frame every `hop_s` seconds of audio, as soon as its window (centre + 2048
             samples) is in; with hop_s = 0.05 there are two interleaved 10 frames/s grids
  network    every new frame, the network runs on its grid (frames 0.1 s apart) incrementally: the conv front
             end only looks 3 frames either side, so its output is cached per frame once its right context is
             in; the bidirectional GRU is split into its two directions, the forward one carried frame to
             frame from a cached state, the backward one run over the newest `tail_s` seconds only (a frame's
             chord probabilities become final once `tail_s` of future has passed through it)
  decoding   Viterbi over the chord states with a change penalty (2 log units: lower than the offline 6, as the
             hysteresis below does the steadying and a lower penalty decides sooner), its score carried over final
             frames and re-run over the provisional tail; the state `lag_s` before the newest frame is the
             decision. A change is emitted once the new chord has been the decision for `confirm` frames in a
             row (hysteresis), back-dated to where the decoded path entered it. With the DAW's beat clock
             (push_clock) decisions are beat-synchronous: a change that lands within 0.12 s of a beat is
             timed on the beat (`beat_relief` > 0 also spares it that many frames of hysteresis: sooner, but
             1.38 emitted per true change on 30 test songs with 1, against 1.2 without a clock)
  key        every emitted chord goes into a history; the key is re-estimated (models/theory/key.py) on the last
             `key_window_s` seconds, and a different key replaces the current one only after it has won for
             `key_hold_s` seconds of audio

Events are dicts: {type: 'chord', label (Harte), root, quality, bass, roman_numeral, function, key, confidence,
time (audio seconds of the change), beat (DAW beat of `time` when push_clock gave a beat clock, else None),
emitted_at (audio seconds when the event was produced)}, {type: 'key', key, confidence, time, beat, emitted_at},
and {type: 'clipping', time, peak, samples}. Units: seconds of audio since the first pushed sample.
"""
from __future__ import annotations

import time as _time

import numpy as np

from . import live_net
from .chords import N_STATES, state_label, state_log_probs
from .features import MODEL_SR, estimate_tuning, tuning_description

N_FFT = 4096
FRAME_HOP_S = 0.1  # the network's frame spacing (10 frames/s)
CONV_CONTEXT = 3  # frames of context each side the conv front end reads (three 3-wide time kernels)
CLIP_LEVEL = 0.999
# the live network's decoder when its card names none (`bandmate train live --tune` writes the tuned ones there)
CAUSAL_PENALTY = 4.0
CAUSAL_CONFIRM = 2
CAUSAL_REACT_S = 0.04
SILENCE_RMS = 1e-4
AUTO_TUNING_S = 5.0     # seconds of sounding audio the tracker listens to before it reads the tuning itself
AUTO_TUNING_MIN = 8.0   # cents: a smaller offset is left alone (half-semitone bands do not mind it)


class LiveInputError(ValueError):
    """A pushed block the tracker cannot use (wrong shape, non-finite samples)."""


class LiveChordTracker:
    """Streaming chord recogniser. `model` is the chord network (chords.build_model, loaded); `sr_in` the
    pushed audio's sample rate in Hz; `key` a key label ('Eb:major') to read Roman numerals in (kept fixed;
    without it the key is tracked online); `channels` the channel count every block must have (None: any).
    `tuning_cents` moves the bands off A440 with the music (an analysis' `tuning.cents`; default 0); None reads
    it from the first `AUTO_TUNING_S` seconds of sounding audio (frames before that are read at A440) and, when
    it is at least `AUTO_TUNING_MIN` cents off, moves the bands and emits a 'tuning' event.
    `sure` (None: off) lets a new chord whose probability at its decision frame is at least `sure` skip the
    hysteresis (0.7 on songbook test songs: -40 ms p50, +0.02 changes per true change). `window_s` bounds the
    cached history (seconds). Defaults (penalty 2, confirm 3) were chosen on 10 songbook
    test songs (`bandmate bench live`, bench/results/live.md): event-timeline majmin within a point of the
    offline analyzer, 1.16 emitted changes per true change, about 0.07 CPU s per audio s on one core at
    44.1 kHz stereo; from a chord change to its event takes about 0.45 s (p50)."""

    def __init__(self, model, sr_in: int, key: str | None = None, lag_s: float = 0.0, hop_s: float = 0.1,
                 window_s: float = 8.0, tail_s: float = 2.0, change_penalty: float | None = None,
                 confirm: int | None = None, channels: int | None = None, edge_repeat: bool = True,
                 sure: float | None = None, react_s: float | None = None, beat_window_s: float = 0.12,
                 min_prob: float | None = None, on_beat: float | None = None, off_beat: float | None = None,
                 beat_relief: int = 0, key_window_s: float = 30.0, key_hold_s: float = 4.0,
                 tuning_cents: float | None = 0.0):
        import soxr
        import torch

        from models.theory.key import parse_key

        if not sr_in or sr_in < 8000 or sr_in > 384000:
            raise LiveInputError("sample rate %r Hz is out of range (8000..384000)" % (sr_in,))
        self.causal = bool(getattr(model, "causal", False))
        if self.causal:  # the live network: its own 20 ms frames and the decoder settings tuned for it
            hop_s = live_net.HOP_S
            tuned = getattr(model, "decoder_defaults", None) or {}
            change_penalty = tuned.get("change_penalty", CAUSAL_PENALTY) if change_penalty is None else change_penalty
            confirm = int(tuned.get("confirm", CAUSAL_CONFIRM)) if confirm is None else confirm
            self.react_s = tuned.get("react_s", CAUSAL_REACT_S) if react_s is None else react_s
            self.min_prob = tuned.get("min_prob", 0.0) if min_prob is None else min_prob
            self.beat_window_s = beat_window_s
            clocked = tuned.get("beat_clock") or {}
            self.on_beat = clocked.get("on_beat", 0.5) if on_beat is None else on_beat
            self.off_beat = clocked.get("off_beat", 2.0) if off_beat is None else off_beat
        else:
            change_penalty = 2.0 if change_penalty is None else change_penalty
            confirm = 3 if confirm is None else confirm
        sub = FRAME_HOP_S / hop_s
        if not self.causal and (hop_s <= 0 or abs(sub - round(sub)) > 1e-6):
            raise LiveInputError("hop_s must divide 0.1 s (0.1, 0.05, 0.025 ...)")
        self.torch = torch
        self.model = model.eval()
        self.sr_in = int(sr_in)
        self.channels = channels
        self.hop_s = hop_s
        self.stride = int(round(sub))  # frames per 0.1 s: consecutive network frames are `stride` apart
        self.window = int(round(window_s / FRAME_HOP_S))
        self.lag = int(round(lag_s / FRAME_HOP_S))
        self.penalty = change_penalty
        self.confirm = max(1, int(confirm))
        self.beat_relief = max(0, int(beat_relief))
        self.resampler = soxr.ResampleStream(self.sr_in, MODEL_SR, 1, dtype="float32") \
            if self.sr_in != MODEL_SR else None
        self.tuning_pending = [] if tuning_cents is None else None   # sounding audio heard so far (auto)
        self.tuning_heard = 0                                          # its samples
        tuning_cents = 0.0 if tuning_cents is None else tuning_cents
        if not -50.0 <= tuning_cents <= 50.0:
            raise LiveInputError("tuning %r cents is out of range (-50..50)" % (tuning_cents,))
        self.win = np.hanning(N_FFT + 1)[:-1].astype(np.float32)
        self.scale = np.float32(2.0 / self.win.sum())
        # audio ring: samples at 22.05 kHz from absolute sample index `buf_start`; the signal is zero-padded by
        # n_fft/2 before its start, like the offline centred STFT
        self.buf = np.zeros(N_FFT // 2, dtype=np.float32)
        self.buf_start = -(N_FFT // 2)
        self.n_in = 0  # input samples pushed (at sr_in)
        self.next_frame = 0  # index of the next spectrogram frame to compute
        self.spec = {}  # frame index -> (176,) log spectrogram
        self.proj = {}  # frame index -> (128,) conv front-end output (final: its right context was in)
        self.fwd_h = {}  # frame index -> forward GRU state after it (final frames only)
        self.vscore = {}  # frame index -> Viterbi score vector after it (final frames only)
        self.tail = max(4, int(round(tail_s / FRAME_HOP_S)))
        self.edge_repeat = edge_repeat
        self.sure = sure
        self.decision_run = (None, 0)  # (state, consecutive frames it was the decision)
        self.current = None  # the emitted chord state
        self.history = []  # emitted chords: [start_s, label]
        self.fixed_key = key
        parsed = parse_key(key) if key else None
        if key and parsed is None:
            raise LiveInputError("key %r is not a key label like 'Eb:major'" % key)
        self.key = parsed  # (tonic, mode) or None
        self.key_label = key
        self.key_window_s, self.key_hold_s = key_window_s, key_hold_s
        self.key_candidate = (None, 0.0)  # (label, audio time it first won)
        self.last_key_check = -1e9
        self.clock = None  # (audio time, beat, tempo, playing) of the last beat clock
        self.last_clip_s = -1e9
        self.cpu_s = 0.0  # CPU seconds spent in push()
        self.closed = False
        if self.causal:
            self.net = live_net.StreamingLiveNet(self.model)
            self.featurizer = live_net.FrameFeatures()
            self.decoder = OnlineChordDecoder(self.penalty, self.confirm, min_prob=self.min_prob,
                                              on_beat=self.on_beat, off_beat=self.off_beat)
            self.buf = np.zeros(live_net.N_LONG, dtype=np.float32)
            self.buf_start = -live_net.N_LONG
            self.next_frame = 1
        self.set_tuning(tuning_cents)

    # -- time ------------------------------------------------------------------------------------------------
    @property
    def audio_s(self) -> float:
        """Seconds of audio pushed so far."""
        return self.n_in / float(self.sr_in)

    def frame_time(self, index: int) -> float:
        return index * self.hop_s

    def push_clock(self, tempo: float, beat_position: float, playing: bool = True) -> None:
        """The DAW's beat clock at the current end of the pushed audio: tempo (BPM), beat position (beats),
        playing or stopped. Later events carry `beat` extrapolated from it."""
        self.clock = (self.audio_s, float(beat_position), float(tempo), bool(playing))

    def _nearest_beat(self, t: float, tolerance_s: float = 0.12):
        """The audio time of the DAW beat nearest `t` when one is within `tolerance_s` (None without a
        running beat clock)."""
        beat = self.beat_at(t)
        if beat is None:
            return None
        t0, b0, tempo, _ = self.clock
        t_beat = t0 + (round(beat) - b0) * 60.0 / tempo
        return max(0.0, t_beat) if abs(t_beat - t) <= tolerance_s else None

    def beat_at(self, t: float):
        if self.clock is None or not self.clock[3] or self.clock[2] <= 0:
            return None
        t0, b0, tempo, _ = self.clock
        return round(b0 + (t - t0) * tempo / 60.0, 3)

    # -- input -----------------------------------------------------------------------------------------------
    def push(self, samples) -> list[dict]:
        """Feed a block (samples, channels) or (samples,) of float audio at sr_in; returns the events it caused."""
        x = np.asarray(samples, dtype=np.float32)
        if x.ndim == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[1] < 1:
            raise LiveInputError("audio block must be (samples, channels), got shape %s" % (x.shape,))
        if self.channels is not None and x.shape[1] != self.channels:
            raise LiveInputError("audio block has %d channels; the session has %d" % (x.shape[1], self.channels))
        if not np.all(np.isfinite(x)):
            raise LiveInputError("audio block contains NaN or infinite samples")
        events = []
        if len(x) == 0:
            return events
        peak = float(np.max(np.abs(x)))
        block_start = self.audio_s
        self.n_in += len(x)
        if peak >= CLIP_LEVEL and self.audio_s - self.last_clip_s >= 1.0:
            self.last_clip_s = self.audio_s
            events.append({"type": "clipping", "time": round(block_start, 3), "peak": round(peak, 4),
                           "samples": int(np.sum(np.abs(x) >= CLIP_LEVEL)), "beat": self.beat_at(block_start),
                           "emitted_at": round(self.audio_s, 3)})
        mono = x.mean(axis=1)
        if self.resampler is not None:
            mono = self.resampler.resample_chunk(mono)
        self.buf = np.concatenate([self.buf, mono.astype(np.float32)])
        if self.tuning_pending is not None:
            events += self._listen_for_tuning(mono)
        events += self._frames()
        return events

    def _listen_for_tuning(self, mono: np.ndarray) -> list[dict]:
        """Auto tuning: gather sounding audio; after AUTO_TUNING_S of it, read the tuning once."""
        if len(mono) and float(np.sqrt(np.mean(mono ** 2))) > SILENCE_RMS:
            self.tuning_pending.append(mono.astype(np.float32))
            self.tuning_heard += len(mono)
        if self.tuning_heard < AUTO_TUNING_S * MODEL_SR:
            return []
        cents = estimate_tuning(np.concatenate(self.tuning_pending), MODEL_SR, max_frames=60)   # ~4 ms, one push
        self.tuning_pending = None
        if abs(cents) < AUTO_TUNING_MIN:
            return []
        self.set_tuning(cents)
        return [dict(tuning_description(cents), type="tuning", time=round(self.audio_s, 3),
                     beat=self.beat_at(self.audio_s), emitted_at=round(self.audio_s, 3))]

    @property
    def settled_tuning(self) -> float | None:
        """The tuning in cents once it was told or has been read; None while it is still being listened for."""
        return self.tuning_cents if self.tuning_pending is None else None

    def set_tuning(self, cents: float) -> None:
        """Move the bands to `cents` off A440 from the next frame on."""
        self.tuning_cents = float(cents)
        self.fb = live_net.filterbank(N_FFT, self.tuning_cents)   # cached per tuning: sessions share it
        if self.causal:
            self.featurizer.tuning_cents = self.tuning_cents

    def flush(self) -> list[dict]:
        """End of stream: pad the tail with silence so the last frames are computed; returns their events."""
        if self.closed:
            return []
        self.closed = True
        if self.resampler is not None:
            self.buf = np.concatenate([self.buf, self.resampler.resample_chunk(np.zeros(0, np.float32), last=True)])
        if self.causal:  # every frame ends on audio already in: nothing is waiting for the future
            return self._frames()
        self.buf = np.concatenate([self.buf, np.zeros(N_FFT // 2, dtype=np.float32)])
        end = self.audio_s
        events = self._frames(limit_s=end)
        return events

    # -- frames ----------------------------------------------------------------------------------------------
    def _frames(self, limit_s=None) -> list[dict]:
        if self.causal:
            return self._frames_causal()
        events = []
        hop = self.hop_s * MODEL_SR
        while True:
            centre = int(round(self.next_frame * hop))
            if limit_s is not None and centre / MODEL_SR > limit_s:
                break
            a = centre - N_FFT // 2 - self.buf_start
            if a + N_FFT > len(self.buf):
                break
            t0 = _time.process_time()  # CPU is counted per frame: reading the clock per block costs more
            seg = self.buf[a:a + N_FFT]
            mag = np.abs(np.fft.rfft(seg * self.win)).astype(np.float32) * self.scale
            self.spec[self.next_frame] = np.log1p(100.0 * (mag @ self.fb)).astype(np.float32)
            events += self._step(self.next_frame)
            self.next_frame += 1
            self.cpu_s += _time.process_time() - t0
        # keep only what the next frames and windows need
        keep_from = int(round(self.next_frame * hop)) - N_FFT // 2 - self.buf_start - N_FFT
        if keep_from > MODEL_SR:
            self.buf = self.buf[keep_from:]
            self.buf_start += keep_from
        oldest = self.next_frame - (self.window + 2 * CONV_CONTEXT + 2) * self.stride
        for d in (self.spec, self.proj, self.fwd_h, self.vscore):
            for k in [k for k in d if k < oldest]:
                del d[k]
        return events

    def _conv(self, frames: list[int]) -> np.ndarray:
        """Conv front end + projection of the given frames (consecutive on one grid), (len, 128)."""
        torch = self.torch
        x = torch.from_numpy(np.stack([self.spec[k] if k >= 0 else np.zeros(176, np.float32) for k in frames]))
        with torch.no_grad():
            h = self.model.conv(x[None, None])
            h = h.permute(0, 2, 1, 3).reshape(1, len(frames), -1)
            return self.model.proj(h)[0].numpy()

    def _gru_halves(self):
        """The network's bidirectional GRU as two one-way GRUs sharing its weights: the forward one runs
        incrementally (its state is carried frame to frame), the backward one over the newest frames only."""
        if getattr(self, "_fwd", None) is None:
            from torch import nn

            g = self.model.gru
            self._fwd = nn.GRU(g.input_size, g.hidden_size, batch_first=True).eval()
            self._bwd = nn.GRU(g.input_size, g.hidden_size, batch_first=True).eval()
            for half, suffix in ((self._fwd, ""), (self._bwd, "_reverse")):
                for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
                    getattr(half, name).data = getattr(g, name + suffix).data
        return self._fwd, self._bwd

    def _step(self, newest: int) -> list[dict]:
        """Run the network and decoder for the grid that ends at frame `newest`.

        Per frame k (on this grid) the tracker caches, once they no longer change: the conv front end's output
        (when its 3 right-context frames are in), the forward GRU state after k, the chord-state
        log-probabilities (when `tail` newer frames have fed the backward GRU) and the Viterbi score after k.
        Each step recomputes only the newest `tail` frames: backward GRU, heads, and Viterbi from the cached
        score."""
        torch = self.torch
        s, c = self.stride, CONV_CONTEXT
        fwd, bwd = self._gru_halves()
        tail = self.tail
        # conv front end over the frames without a final output, with their left context
        todo = [k for k in range(max(newest % s, newest - (tail + c) * s), newest + 1, s) if k not in self.proj]
        conv_frames = list(range(todo[0] - c * s, newest + 1, s))
        # the newest frames have no right context yet: the edge is padded by repeating the newest frame (a
        # chord usually goes on), not with the zeros of a song's end
        pad = [newest] * (c if self.edge_repeat else 0)
        out = self._conv([k if k >= 0 else -1 for k in conv_frames] + pad)[:len(conv_frames)]
        provisional = {}
        for k, row in zip(conv_frames, out):
            if k < todo[0]:
                continue
            if k + c * s <= newest:
                self.proj[k] = row
            else:
                provisional[k] = row
        idx = [k for k in range(max(newest % s, newest - (tail - 1) * s), newest + 1, s)]
        feats = {k: self.proj.get(k, provisional.get(k)) for k in idx}
        with torch.no_grad():
            # forward GRU: outputs of final frames are cached with the state after them; run from the newest
            # cached state over the frames after it
            fwd_out, h = {}, None
            k = idx[0]
            for j in idx:
                if j not in self.fwd_h:
                    break
                h, fwd_out[j] = self.fwd_h[j]
                k = j + s
            if not fwd_out and k - s >= 0:
                h = self.fwd_h.get(k - s, (None, None))[0]
            for j in range(k, newest + 1, s):
                x = torch.from_numpy(self.proj[j] if j in self.proj else provisional[j])[None, None]
                o, h_new = fwd(x, h)
                fwd_out[j] = o[0, 0]
                if j in self.proj and (h is not None or j < s):
                    self.fwd_h[j] = (h_new, o[0, 0])
                h = h_new
            xb = torch.from_numpy(np.stack([feats[j] for j in reversed(idx)]))[None]
            ob, _ = bwd(xb)
            hidden = torch.cat([torch.stack([fwd_out[j] for j in idx]), ob[0].flip(0)], dim=1)
            heads = [torch.log_softmax(head(hidden), -1).numpy() for head in
                     (self.model.root, self.model.quality, self.model.bass)]
        logp = state_log_probs(heads[0], heads[1])
        # the oldest frame of a full tail has seen `tail` - 1 frames of future: its log-probabilities are final
        final = idx[0] if len(idx) == tail else None
        base = self.vscore.get(idx[0] - s)
        path, score0 = _viterbi_from(logp, self.penalty, base)
        if final is not None and (base is not None or final < s):
            self.vscore[final] = score0
        pos = max(0, len(idx) - 1 - self.lag)
        state = int(path[pos])
        prev_state, run = self.decision_run
        run = run + 1 if state == prev_state else 1
        self.decision_run = (state, run)
        if state == self.current:
            return []
        # back-date the change to where the decoded path entered this state
        b = pos
        while b > 0 and path[b - 1] == state:
            b -= 1
        change_frame = idx[b]
        t_change = max(0.0, self.frame_time(change_frame) - FRAME_HOP_S / 2) if change_frame >= s else 0.0
        # a clear change (the new chord's own probability at the decision frame above `sure`) needs one frame
        need = 1 if self.sure is not None and np.exp(logp[pos, state]) >= self.sure else self.confirm
        on_beat = self._nearest_beat(t_change)
        if on_beat is not None:  # beat-synchronous: a change that lands on a DAW beat is timed on it (and, with
            # beat_relief, needs that many frames less proof)
            t_change, need = on_beat, min(need, max(1, self.confirm - self.beat_relief))
        if run < need:
            return []
        if self.history and t_change < self.history[-1][0]:
            t_change = self.history[-1][0]
        bass = None
        if state != N_STATES - 1:
            bass = int(np.argmax(heads[2][b:pos + 1].sum(axis=0)[:12]))
        self.current = state
        return self._chord_event(state, bass, t_change, float(np.exp(logp[pos, state])))

    # -- the live network (causal) ----------------------------------------------------------------------------
    def _frames_causal(self) -> list[dict]:
        """Every frame whose audio is in (frame k ends at sample k * 441 at 22.05 kHz): features, network step,
        decoder step."""
        events = []
        hop, n_long = live_net.HOP, live_net.N_LONG
        due = []
        while (self.next_frame * hop - self.buf_start) <= len(self.buf):
            due.append(self.next_frame)
            self.next_frame += 1
        if due:
            t0 = _time.process_time()
            feats = np.stack([self.featurizer.frame(self.buf[k * hop - self.buf_start - n_long:
                                                             k * hop - self.buf_start]) for k in due])
            for k, e in zip(due, self.net.embed(feats)):
                root, quality, bass = self.net.step_embedded(e)
                events += self._decide(k, state_log_probs(root[None], quality[None])[0], bass)
            self.cpu_s += _time.process_time() - t0
        keep_from = self.next_frame * hop - self.buf_start - n_long
        if keep_from > MODEL_SR:
            self.buf = self.buf[keep_from:]
            self.buf_start += keep_from
        return events

    def _decide(self, k: int, logp: np.ndarray, bass_logp: np.ndarray) -> list[dict]:
        t = k * self.hop_s
        near_beat = self._beat_phase(t)
        change = self.decoder.step(logp, bass_logp, near_beat)
        if change is None:
            return []
        state, entry, confidence, bass = change
        entry = k - (self.decoder.frame - entry)  # the decoder counts its own steps; frames here start at 1
        # the decoded path entered the new chord at frame `entry`; the network reacts `react_s` after the audio
        # changes, so the change itself is dated that much earlier (and snapped to a DAW beat when one is near)
        t_change = max(0.0, entry * self.hop_s - self.react_s)
        on_beat = self._nearest_beat(t_change, self.beat_window_s)
        if on_beat is not None:
            t_change = on_beat
        if self.history and t_change < self.history[-1][0]:
            t_change = self.history[-1][0]
        self.current = state
        return self._chord_event(state, bass, t_change, confidence)

    def _beat_phase(self, t: float):
        """None without a running beat clock; else whether `t` falls just after a DAW beat (where chords change)."""
        beat = self.beat_at(t)
        if beat is None:
            return None
        _, _, tempo, _ = self.clock
        after = (beat - np.floor(beat)) * 60.0 / tempo  # seconds since the last beat
        return bool(after <= self.beat_window_s + self.react_s)

    # -- events ----------------------------------------------------------------------------------------------
    def _chord_event(self, state: int, bass, t_change: float, confidence: float) -> list[dict]:
        from models.theory.harmony import PITCH_NAMES_FLAT, parse_harte

        label = state_label(state, bass)
        parsed = parse_harte(label) if label != "N" else None
        if parsed is not None and parsed[2] != parsed[0]:
            from .chords import _bass_in_chord

            if not _bass_in_chord(state, parsed[2]):
                label = state_label(state, None)
                parsed = parse_harte(label)
        events = []
        self.history.append([t_change, label])
        if self.fixed_key is None:
            events += self._update_key(t_change)
        ev = {"type": "chord", "label": label, "root": None, "quality": None, "bass": None,
              "roman_numeral": None, "function": None, "key": self.key_label,
              "confidence": round(min(1.0, confidence), 3), "time": round(t_change, 3),
              "beat": self.beat_at(t_change), "emitted_at": round(self.audio_s, 3)}
        if parsed is not None:
            root, quality, bass_pc = parsed
            ev.update(root=PITCH_NAMES_FLAT[root], quality=quality, bass=PITCH_NAMES_FLAT[bass_pc])
            if self.key is not None:
                from models.theory.roman import roman_numeral

                rn = roman_numeral(root, quality, bass_pc, self.key[0], self.key[1])
                ev.update(roman_numeral=rn.numeral, function=rn.function)
        return events + [ev]

    def _update_key(self, now: float) -> list[dict]:
        """Re-estimate the key on the recent chords; switch only after the new key won for key_hold_s."""
        from models.theory.key import estimate_key, parse_key

        lo = now - self.key_window_s
        chords = []
        for (start, label), nxt in zip(self.history, self.history[1:] + [[now + 1.0, None]]):
            if nxt[0] <= lo or label == "N":
                continue
            chords.append({"start": max(start, lo), "end": max(nxt[0], start + 0.05), "label": label})
        if not chords:
            return []
        est = estimate_key(chords)
        if est is None:
            return []
        cand, conf = est["key"]["label"], est["key"]["confidence"]
        if cand == self.key_label:
            self.key_candidate = (None, 0.0)
            return []
        # the first key is taken once a few chords are in; later changes must hold for key_hold_s
        if self.key_label is not None:
            if self.key_candidate[0] != cand:
                self.key_candidate = (cand, now)
                return []
            if now - self.key_candidate[1] < self.key_hold_s:
                return []
        elif len(chords) < 3:
            return []
        self.key_label, self.key = cand, parse_key(cand)
        self.key_candidate = (None, 0.0)
        return [{"type": "key", "key": cand, "confidence": round(float(conf), 3), "time": round(now, 3),
                 "beat": self.beat_at(now), "emitted_at": round(self.audio_s, 3)}]

    def cpu_per_audio_s(self) -> float:
        """CPU seconds spent per second of audio pushed."""
        return self.cpu_s / max(self.audio_s, 1e-9)


def _triad_groups():
    """Chord state -> major/minor triad group (root * 2 + minor; N is the last group): the level the live
    decoder decides changes at."""
    from .chords import QUALITY_CLASSES

    minor = {"min", "min7", "dim", "dim7", "hdim7"}
    groups = np.zeros(N_STATES, dtype=np.int64)
    for state in range(N_STATES - 1):
        root, q = divmod(state, len(QUALITY_CLASSES))
        groups[state] = 2 * root + (QUALITY_CLASSES[q] in minor)
    groups[N_STATES - 1] = 24
    return groups


class OnlineChordDecoder:
    """Forward Viterbi, one frame at a time, for the live network's 20 ms frames.

    The decoder decides at the major/minor triad level (24 triads + N: a chord's members, e.g. C, C7, Cmaj7,
    Csus4, pooled): flips between a chord and its seventh are not changes, and the seventh is read from the
    whole stretch once the triad is announced. The score carries over frames (staying is free, moving costs
    `penalty` log units); its argmax is the current best triad. A new one is announced once it has been the
    argmax, with a frame probability of at least `min_prob`, for `confirm` frames in a row (hysteresis; the
    probability gate keeps the network's passing doubts from being announced); the back-pointers of the last few seconds date where the
    decoded path entered it, and the announced chord is the member state most probable since then. With a DAW
    beat clock (`near_beat` True/False per frame) the penalty is multiplied by `on_beat` just after a beat and by
    `off_beat` away from beats: chords change on beats."""

    GROUPS = None

    def __init__(self, penalty: float, confirm: int, history: int = 150, off_beat: float = 2.0,
                 min_prob: float = 0.0, on_beat: float = 0.5):
        from collections import deque

        if OnlineChordDecoder.GROUPS is None:
            OnlineChordDecoder.GROUPS = _triad_groups()
        self.penalty = penalty
        self.confirm = max(1, int(confirm))
        self.off_beat = float(off_beat)
        self.on_beat = float(on_beat)
        self.min_prob = float(min_prob)  # a frame counts toward the hysteresis only when the triad is this probable
        self.score = None
        self.back = deque(maxlen=history)  # per frame: back-pointer array (group at the previous frame)
        self.logp = deque(maxlen=history)  # per frame: chord-state log-probabilities
        self.bass = deque(maxlen=history)  # per frame: bass log-probabilities
        self.frame = -1
        self.current = None  # the announced group
        self.run = (None, 0)

    def step(self, logp: np.ndarray, bass_logp: np.ndarray | None = None, near_beat=None):
        """One frame's (N_STATES,) log-probabilities. Returns None, or (state, entry frame, confidence, bass
        pitch class or None) when a new chord is announced."""
        self.frame += 1
        penalty = self.penalty if near_beat is None else self.penalty * (self.on_beat if near_beat else self.off_beat)
        groups = self.GROUPS
        glp = np.full(25, -np.inf)
        np.logaddexp.at(glp, groups, logp)
        k = len(glp)
        if self.score is None:
            self.score = glp.copy()
            self.back.append(np.arange(k))
        else:
            best = int(np.argmax(self.score))
            move = self.score[best] - penalty
            stay = self.score >= move
            self.back.append(np.where(stay, np.arange(k), best))
            self.score = np.where(stay, self.score, move) + glp
        self.score -= self.score.max()
        self.logp.append(logp)
        self.bass.append(bass_logp)
        group = int(np.argmax(self.score))
        prev, run = self.run
        sure = self.min_prob <= 0.0 or glp[group] >= np.log(self.min_prob)
        self.run = (group, (run + 1 if group == prev else 1) if sure else 0)
        if group == self.current or self.run[1] < self.confirm:
            return None
        # trace the path back to where it entered `group`
        entry, g, back = self.frame, group, list(self.back)
        for j in range(len(back) - 1, 0, -1):
            g = int(back[j][g])
            if g != group:
                break
            entry -= 1
        self.current = group
        n = min(len(self.logp), self.frame - entry + 1)
        members = np.flatnonzero(groups == group)
        since = np.sum(list(self.logp)[-n:], axis=0)
        state = int(members[np.argmax(since[members])])
        bass = None
        if state != N_STATES - 1 and self.bass[-1] is not None:
            bass = int(np.argmax(np.sum(list(self.bass)[-n:], axis=0)[:12]))
        confidence = float(np.exp(np.clip(glp[group], -50, 0)))
        return state, entry, confidence, bass


def _viterbi_from(logp: np.ndarray, penalty: float, score=None):
    """Viterbi path over (frames, states) log-probabilities (staying is free, moving costs `penalty`), starting
    from the score vector of the frame before (None: a fresh start). Returns (path, score after the first
    frame, normalised) so a caller can carry the score on frame by frame."""
    n, k = logp.shape
    back = np.zeros((n, k), dtype=np.int64)
    ar = np.arange(k)
    first = None
    for t in range(n):
        if score is None:
            score = logp[t].copy()
        else:
            best = int(np.argmax(score))
            move = score[best] - penalty
            stay = score >= move
            back[t] = np.where(stay, ar, best)
            score = np.where(stay, score, move) + logp[t]
        score = score - score.max()
        if first is None:
            first = score.copy()
    path = np.zeros(n, dtype=np.int64)
    path[-1] = int(np.argmax(score))
    for t in range(n - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path, first


def timeline(events: list[dict], duration: float) -> list[dict]:
    """Chord segments [{start, end, label}] from a list of chord events (their back-dated `time`s)."""
    chords = [e for e in events if e.get("type") == "chord"]
    out = []
    for e, nxt in zip(chords, chords[1:] + [None]):
        end = nxt["time"] if nxt is not None else duration
        if out and end <= e["time"]:
            continue
        out.append({"start": e["time"], "end": max(end, e["time"]), "label": e["label"]})
    if out and out[0]["start"] > 0:
        out.insert(0, {"start": 0.0, "end": out[0]["start"], "label": "N"})
    return [s for s in out if s["end"] > s["start"]]
