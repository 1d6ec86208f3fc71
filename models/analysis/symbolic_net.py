"""A small neural symbolic harmony analyser: notes in, local key and chord (root, quality, bass) per quarter note.

    bandmate train symbolic [--cache FILE] [--steps N] [--extra When-in-Rome --extra-scores Goudimel_C]
        [--out models/checkpoints/symbolic_net]                                     # = python -m ... --fit
    python -m models.analysis.symbolic_net --cv [--cache FILE] [--folds 5] [--extra DIR]   # cross-validated only

Input, per frame of one quarter note (`frame_features`), everything relative to pitch class, nothing about
meter or key signature (the analyser sees only notes, as a Live clip sends them):
- pitch-class weight over the quarter (duration-weighted, scaled to max 1) and in each of its two eighths (36),
- pitch classes that start in the frame (12), the bass (lowest sounding note) over four sample points (12),
- texture: sounding notes / 6, onsets / 8, lowest pitch, silence (4).
Model (`HarmonyNet`): a per-frame linear layer, then residual dilated 1-D convolutions over frames (dilations
`DILATIONS`, about 64 quarter notes of context either side; a temporal convolutional net, chosen over a BiGRU
because it trains several times faster on a CPU), then five heads: local key (24 = 12 tonics x major/minor), chord root (12), quality (`NET_QUALITIES`),
bass pitch class (12) and the root's degree above the tonic (12, ties key and chord together). Training crops
random windows and transposes every crop by a random shift of 0-11 semitones (features and labels rolled
together), so the model is equivariant in practice and never learns the corpus' favourite keys.

Decoding (`decode`): per frame, every (root, quality, bass-as-chord-tone) state scores log p(root) + log
p(quality) + log p(bass); with each key it adds log p(key) + log p(degree); keys are smoothed by Viterbi over
the 24 keys (`MODULATION_PENALTY` per change), and the chord is the best state under the decoded key. The head
probabilities are averaged over the piece read in all 12 transpositions (`TTA_SHIFTS`, each reading moved back):
the net is then exactly transposition-equivariant, and cross-validated key / RN rose 0.689 / 0.536 -> 0.695 /
0.540 (one net per fold). The result is a `symbolic.FrameAnalysis`, so `symbolic.analyze_midi` turns it into the usual song description
(Harte labels, Roman numerals via `models.theory.roman`).

Data: music21's 68 RomanText analyses with their scores (`bench.roman.load_set`) and, with `--extra DIR` (a
When-in-Rome checkout), that corpus' hand-made analyses (CC BY-SA 4.0) of free scores (`bench.roman.load_extra`):
175 OpenScore Lieder songs (scores CC0), 322 Bach chorales (scores from music21's corpus; the 20 test chorales and
every chorale on their tunes left out) and, with `--extra-scores DIR` (a Chorale-Corpus/Goudimel_C checkout,
scores CC0), 41 Goudimel psalms; each collection is drawn for its `EXTRA_SHARES` of the training crops. They are
never scored: they widen the repertoire the key head has seen (Romantic modulation, tonal chorales, Renaissance
homophony beside the test chorales and madrigals).

Evaluation is by piece-level k-fold cross-validation only (the folds of `bench/roman.py`): `--cv` trains one
model per fold on the other folds (plus all the extra pieces) and scores the held-out pieces; the shipped
checkpoint (`--fit`) is trained on all pieces with the same recipe, and its model card quotes the cross-validated
numbers.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np

from models.theory.harmony import QUALITIES

# The qualities the net names: the Harte qualities the corpus' annotations use (sus4 and 9ths: 3 quarters).
NET_QUALITIES = ("maj", "min", "dim", "aug", "7", "maj7", "min7", "hdim7", "dim7")
N_FEATURES = 64
DILATIONS = (1, 2, 4, 8, 16, 32, 1)  # receptive field about 64 quarters each side: key needs phrases
MODULATION_PENALTY = 3.0          # log-probability cost of a key change between quarters (decoding)
DEGREE_WEIGHT = 0.5               # weight of the degree head when joining key and chord
CHANGE_PENALTY = 0.0              # log-probability cost of a chord change under the decoded key
STEPS = 3000                      # steps per member (cross-validated RN: 2000 -> 3000 with the lieder 0.533 -> 0.536)
MEMBERS = 3                       # ensemble members, seeds 0, 1, 2 (probabilities averaged)
CHORD_WEIGHT = 0.3                # weight of the net's chord heads beside the templates (`NetKeyTemplates`)
QUALITY_WEIGHT = 0.5              # scale of its quality log probs there (it under-reads sevenths: 3% of its data)
TTA_SHIFTS = tuple(range(12))    # transpositions each piece is read in, readings averaged (`predict_log_probs`)
EXTRA_SHARE = 0.25                # share of the training crops for an extra collection EXTRA_SHARES does not name
# Share of the training crops drawn from each extra collection (`collection_shares`, `extra_pools`;
# bench.roman.load_extra's `collection` field).
EXTRA_SHARES = {"OpenScore-LiederCorpus": 0.25, "Bach,_Johann_Sebastian": 0.1, "Goudimel,_Claude": 0.1}
HYBRID_MODULATION_PENALTY = 2.5   # cost of a key change in `NetKeyTemplates`' joint decoding (tables alone: 4.0)
PROFILE_MIX = 0.5                 # weight of the tables' key-profile term beside the net's key head (`NetKeyTemplates`)
CHECKPOINT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "checkpoints",
                          "symbolic_net")


# ------------------------------------------------------------------------------------------------ features
def frame_features(notes, n_frames: int) -> np.ndarray:
    """[n_frames, N_FEATURES] features per quarter note for `symbolic.Note`s (times in quarter notes). Blocks of
    12 are pitch classes C..B, so transposing by t semitones is `roll_features(x, t)`."""
    x = np.zeros((n_frames, N_FEATURES), dtype=np.float32)
    whole, halves, onset = x[:, 0:12], (x[:, 12:24], x[:, 24:36]), x[:, 36:48]
    bass = x[:, 48:60]
    lowest = np.full((n_frames, 4), 1000)
    count = np.zeros(n_frames)
    onsets = np.zeros(n_frames)
    pos = (np.arange(4) + 0.5) / 4
    for n in notes:
        f0 = max(0, int(math.floor(n.start + 1e-9)))
        f1 = min(n_frames - 1, int(math.ceil(n.end - 1e-9)) - 1)
        pc = n.pitch % 12
        if f0 < n_frames and n.start >= f0 - 1e-9:
            onset[f0, pc] += 1.0
            onsets[f0] += 1
        for f in range(f0, f1 + 1):
            ov = min(f + 1.0, n.end) - max(float(f), n.start)
            if ov <= 0:
                continue
            whole[f, pc] += ov
            count[f] += ov
            for h in range(2):
                ovh = min(f + 0.5 * (h + 1), n.end) - max(f + 0.5 * h, n.start)
                if ovh > 0:
                    halves[h][f, pc] += ovh * 2
            t = f + pos
            snd = (t >= n.start - 1e-9) & (t < n.end - 1e-9)
            lowest[f, snd] = np.minimum(lowest[f, snd], n.pitch)
    for block in (whole, halves[0], halves[1], onset):
        m = block.max(axis=1, keepdims=True)
        np.divide(block, m, out=block, where=m > 0)
    for f in range(n_frames):
        for p in lowest[f]:
            if p < 1000:
                bass[f, p % 12] += 0.25
    low = np.where(lowest.min(axis=1) < 1000, lowest.min(axis=1), 60)
    x[:, 60] = count / 6.0
    x[:, 61] = onsets / 8.0
    x[:, 62] = (low - 48) / 24.0
    x[:, 63] = (count <= 0).astype(np.float32)
    return x


def roll_features(x: np.ndarray, t: int) -> np.ndarray:
    """Features of the music transposed up by t semitones."""
    y = x.copy()
    for b in range(0, 60, 12):
        y[..., b:b + 12] = np.roll(x[..., b:b + 12], t, axis=-1)
    return y


def frame_targets(ref: list) -> np.ndarray:
    """[n_frames, 5] int targets (key 0-23, root, quality index, bass, degree) from bench-style reference
    labels (None or (tonic, mode, root, quality, bass, ...)); -100 where unknown."""
    y = np.full((len(ref), 5), -100, dtype=np.int64)
    for f, r in enumerate(ref):
        if r is None:
            continue
        tonic, mode, root, quality, bass = r[:5]
        y[f, 0] = tonic + (12 if mode == "minor" else 0)
        y[f, 1] = root
        y[f, 2] = NET_QUALITIES.index(quality) if quality in NET_QUALITIES else -100
        y[f, 3] = bass
        y[f, 4] = (root - tonic) % 12
    return y


def roll_targets(y: np.ndarray, t: int) -> np.ndarray:
    z = y.copy()
    ok = y[:, 0] >= 0
    z[ok, 0] = (y[ok, 0] % 12 + t) % 12 + 12 * (y[ok, 0] // 12)
    for c in (1, 3):
        z[ok, c] = (y[ok, c] + t) % 12
    return z


# ------------------------------------------------------------------------------------------------ model
def _torch():
    import torch
    return torch


def build_net(hidden: int = 64):
    """The `HarmonyNet` module (built lazily so importing this file needs no torch)."""
    torch = _torch()
    nn = torch.nn

    class Block(nn.Module):
        """A residual dilated convolution over frames (non-causal: harmony is read with hindsight)."""
        def __init__(self, dilation: int):
            super().__init__()
            self.conv = nn.Conv1d(hidden, hidden, 3, padding=dilation, dilation=dilation)
            self.mix = nn.Conv1d(hidden, hidden, 1)
            self.norm = nn.GroupNorm(1, hidden)
            self.drop = nn.Dropout(0.1)

        def forward(self, h):
            return h + self.drop(self.mix(torch.nn.functional.gelu(self.norm(self.conv(h)))))

    class HarmonyNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden = hidden
            self.frame = nn.Sequential(nn.Linear(N_FEATURES, hidden), nn.GELU())
            self.blocks = nn.Sequential(*[Block(d) for d in DILATIONS])
            self.drop = nn.Dropout(0.2)
            self.heads = nn.ModuleDict({"key": nn.Linear(hidden, 24), "root": nn.Linear(hidden, 12),
                                        "quality": nn.Linear(hidden, len(NET_QUALITIES)),
                                        "bass": nn.Linear(hidden, 12), "degree": nn.Linear(hidden, 12)})

        def forward(self, x):                     # x [batch, frames, N_FEATURES]
            h = self.blocks(self.frame(x).transpose(1, 2)).transpose(1, 2)
            h = self.drop(h)
            return {k: head(h) for k, head in self.heads.items()}

    return HarmonyNet()


HEADS = ("key", "root", "quality", "bass", "degree")


def collection_shares(collections, shares: dict | None = None) -> dict:
    """{collection: share of the training crops}, sorted by name: `shares` (default `EXTRA_SHARES`), else
    `EXTRA_SHARE`."""
    shares = EXTRA_SHARES if shares is None else shares
    return {c: shares.get(c, EXTRA_SHARE) for c in sorted(collections)}


def extra_pools(pieces: list, shares: dict | None = None) -> list:
    """[(share, examples)] of extra labelled pieces (`bench.roman.load_extra`), one pool per collection, each with
    its share of the training crops (`collection_shares`; the shares must leave some for the test repertoire)."""
    by: dict = {}
    for p in pieces:
        by.setdefault(p["collection"], []).append(p)
    out = [(share, examples_of(by[c])) for c, share in collection_shares(by, shares).items()]
    out = [(s, ex) for s, ex in out if s > 0 and ex]
    if sum(s for s, _ in out) >= 1:
        raise ValueError("extra shares %s leave no crops for the annotated corpus" % [s for s, _ in out])
    return out


def train(examples: list, steps: int = STEPS, crop: int = 128, batch: int = 16, lr: float = 3e-3, seed: int = 0,
          hidden: int = 64, progress: bool = False, extra: list | None = None):
    """Train a net on [(features [n, F], targets [n, 5])]; returns the module in eval mode. `extra`: more
    examples of other repertoires as `extra_pools`' [(share, examples)], each crop drawn from pool i with
    probability share_i (the rest from `examples`); pieces are drawn by length within each pool."""
    torch = _torch()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = build_net(hidden)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-3)
    from models.schedule import one_cycle
    sched = one_cycle(opt, lr, steps, pct_start=0.1)
    extra = list(extra or [])
    pools = [examples] + [ex for _, ex in extra]
    bounds = np.cumsum([sh for sh, _ in extra])        # u < bounds[i]: extra pool i; beyond: the corpus
    weights = [np.array([len(x) for x, _ in pool], dtype=float) for pool in pools]
    weights = [w / w.sum() for w in weights]
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=-100)
    net.train()
    t0 = time.time()
    for step in range(steps):
        xs, ys = [], []
        for _ in range(batch):
            k = (int(np.searchsorted(bounds, rng.random(), side="right")) + 1) % len(pools) if extra else 0
            x, y = pools[k][rng.choice(len(pools[k]), p=weights[k])]
            n = len(x)
            a = int(rng.integers(0, max(1, n - crop + 1)))
            xc, yc = x[a:a + crop], y[a:a + crop]
            t = int(rng.integers(0, 12))
            xc, yc = roll_features(xc, t), roll_targets(yc, t)
            if len(xc) < crop:                    # pad short pieces; padded frames carry no target
                pad = crop - len(xc)
                xc = np.vstack([xc, np.zeros((pad, xc.shape[1]), np.float32)])
                xc[-pad:, 63] = 1.0
                yc = np.vstack([yc, np.full((pad, 5), -100, np.int64)])
            xs.append(xc)
            ys.append(yc)
        xb, yb = torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))
        out = net(xb)
        loss = sum(loss_fn(out[h].reshape(-1, out[h].shape[-1]), yb[..., i].reshape(-1))
                   for i, h in enumerate(HEADS) if bool((yb[..., i] >= 0).any()))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        if progress and (step + 1) % 100 == 0:
            print("\rstep %d/%d loss %.3f (%.0f s)" % (step + 1, steps, float(loss.detach()), time.time() - t0),
                  end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    net.eval()
    return net


def _unroll(head: str, lp, t: int):
    """Log probabilities [..., classes] of a head read from music transposed up by t, moved back to the original
    pitch: key (two blocks of 12 tonics), root and bass roll by -t; quality and degree do not move."""
    torch = _torch()
    if head in ("root", "bass"):
        return torch.roll(lp, -t, dims=-1)
    if head == "key":
        return torch.cat([torch.roll(lp[..., :12], -t, dims=-1), torch.roll(lp[..., 12:], -t, dims=-1)], dim=-1)
    return lp


def predict_log_probs(net, x: np.ndarray, shifts=None) -> dict:
    """Per-head log probabilities [frames, classes] for features [frames, F] (whole piece at once). `net` is one
    module or a list of them (an ensemble: the members' probabilities are averaged). `shifts` (default
    `TTA_SHIFTS`): the piece is also read transposed by each of these semitones and the readings, moved back, are
    averaged with the members' (test-time augmentation: the net was trained on every transposition)."""
    torch = _torch()
    members = net if isinstance(net, (list, tuple)) else [net]
    shifts = list(TTA_SHIFTS if shifts is None else shifts) or [0]
    with torch.no_grad():
        xb = torch.from_numpy(np.stack([roll_features(x, t) for t in shifts]).astype(np.float32))
        outs = []
        for m in members:
            y = m(xb)
            outs += [{k: _unroll(k, torch.log_softmax(v[i], dim=-1), t) for k, v in y.items()}
                     for i, t in enumerate(shifts)]
        return {k: (torch.logsumexp(torch.stack([o[k] for o in outs]), dim=0) - math.log(len(outs))
                    ).numpy().astype(np.float64) for k in outs[0]}


def train_ensemble(examples: list, members: int = MEMBERS, seed: int = 0, progress: bool = False, **options):
    """`members` nets trained by `train` with seeds seed, seed+1, ...; returns the list of modules."""
    out = []
    for i in range(members):
        if progress and members > 1:
            print("member %d/%d" % (i + 1, members), file=sys.stderr, flush=True)
        out.append(train(examples, seed=seed + i, progress=progress, **options))
    return out


# ------------------------------------------------------------------------------------------------ decoding
def net_states() -> list:
    """(root, quality, bass) states the decoder chooses from: every `NET_QUALITIES` chord with a chord tone in the
    bass."""
    out = []
    for q in NET_QUALITIES:
        for root in range(12):
            for iv in sorted({i % 12 for i in QUALITIES[q][0]}):
                out.append((root, q, (root + iv) % 12))
    return out


def decode(lp: dict, fixed_key: int | None = None, modulation_penalty: float = MODULATION_PENALTY,
           degree_weight: float = DEGREE_WEIGHT, change_penalty: float = CHANGE_PENALTY
           ) -> tuple[np.ndarray, np.ndarray, list]:
    """(key path [frames], chord state path [frames], states) from per-head log probabilities."""
    states = net_states()
    r = np.array([s[0] for s in states])
    q = np.array([NET_QUALITIES.index(s[1]) for s in states])
    b = np.array([s[2] for s in states])
    chord = lp["root"][:, r] + lp["quality"][:, q] + lp["bass"][:, b]            # [F, S]
    n = chord.shape[0]
    tonic = np.arange(24) % 12
    deg = (r[None, :] - tonic[:, None]) % 12                                      # [24, S]
    joint = lp["key"][:, :, None] + chord[:, None, :] + degree_weight * lp["degree"][:, deg]   # [F, 24, S]
    key_score = joint.max(axis=2)
    if fixed_key is not None:
        key_score[:, np.arange(24) != fixed_key] = -1e9
    # Viterbi over keys with a constant change cost.
    back = np.zeros((n, 24), dtype=np.int32)
    delta = key_score[0].copy()
    for t in range(1, n):
        best = int(np.argmax(delta))
        stay = delta >= delta[best] - modulation_penalty
        back[t] = np.where(stay, np.arange(24), best)
        delta = np.where(stay, delta, delta[best] - modulation_penalty) + key_score[t]
    keys = np.zeros(n, dtype=np.int32)
    keys[-1] = int(np.argmax(delta))
    for t in range(n - 1, 0, -1):
        keys[t - 1] = back[t, keys[t]]
    in_key = joint[np.arange(n), keys]
    if change_penalty > 0:
        from models.analysis.symbolic import viterbi_uniform
        chords = viterbi_uniform(in_key, change_penalty).astype(np.int32)
    else:
        chords = in_key.argmax(axis=1).astype(np.int32)
    return keys, chords, states


# ------------------------------------------------------------------------------------------------ checkpoint
class SymbolicNet:
    """A trained net (one module or an ensemble: a list of modules) with its decoding: `analyze(notes, end_q,
    key)` -> `symbolic.FrameAnalysis`."""

    def __init__(self, module, meta: dict | None = None):
        self.members = list(module) if isinstance(module, (list, tuple)) else [module]
        self.meta = meta or {}

    def log_probs(self, notes, end_q: float) -> tuple[np.ndarray, dict]:
        """(features, per-head log probabilities) per quarter note of `notes` up to `end_q`."""
        x = frame_features(notes, max(1, int(math.ceil(end_q - 1e-9))))
        return x, predict_log_probs(self.members, x)

    def analyze(self, notes, end_q: float, key: tuple[int, str] | None = None, params=None):
        """All heads decoded by `decode` (`params`, the template analyser's knobs, are not used)."""
        from models.analysis.symbolic import FrameAnalysis
        x, lp = self.log_probs(notes, end_q)
        fixed = None if key is None else key[0] + (12 if key[1] == "minor" else 0)
        keys, chords, states = decode(lp, fixed)
        return FrameAnalysis(1.0, states, chords, keys, x[:, 63] > 0.5)

    def save(self, path: str, meta: dict) -> None:
        from safetensors.torch import save_file
        state = {"m%d.%s" % (i, k): v.detach().contiguous()
                 for i, m in enumerate(self.members) for k, v in m.state_dict().items()}
        save_file(state, path + ".safetensors", metadata={"format": "pt"})
        with open(path + ".json", "w") as f:
            json.dump(dict(meta, hidden=self.members[0].hidden, members=len(self.members),
                           qualities=list(NET_QUALITIES), n_features=N_FEATURES), f, indent=1)

    @classmethod
    def load(cls, path: str = CHECKPOINT) -> "SymbolicNet":
        from models.registry import load_checkpoint
        with open(path + ".json") as f:
            meta = json.load(f)
        if tuple(meta.get("qualities", ())) != NET_QUALITIES or meta.get("n_features") != N_FEATURES:
            raise ValueError("symbolic net checkpoint %s was trained for other features or qualities" % path)
        state = load_checkpoint(path + ".safetensors")
        # members' keys carry "m0.", "m1.", ...; a single net saved before ensembles has them unprefixed
        prefixes = ["m%d." % i for i in range(int(meta["members"]))] if "members" in meta else [""]
        members = []
        for prefix in prefixes:
            module = build_net(int(meta.get("hidden", 64)))
            module.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
            module.eval()
            members.append(module)
        return cls(members, meta)


class NetKeyTemplates:
    """The default analyser: the net's key head as the key finder, the template analyser (`symbolic.analyze_notes`
    with `tables`, a `HarmonyModel`) for chords with the net's chord heads added (`chord_weight`, the quality head's
    log probabilities scaled by `quality_weight`), the tables' key profiles kept beside the net's keys
    (`profile_mix`), decoded jointly, a key change costing `modulation_penalty` unless `Params` sets one.
    Cross-validated, it beats both the templates alone (the key profiles are
    their weak part) and the net alone (the net under-reads the rare sevenths)."""

    def __init__(self, net: SymbolicNet, tables=None, key_weight: float = 1.0, chord_weight: float = CHORD_WEIGHT,
                 quality_weight: float = QUALITY_WEIGHT, profile_mix: float = PROFILE_MIX,
                 modulation_penalty: float = HYBRID_MODULATION_PENALTY):
        self.net, self.tables, self.key_weight = net, tables, key_weight
        self.chord_weight, self.quality_weight, self.profile_mix = chord_weight, quality_weight, profile_mix
        self.modulation_penalty = modulation_penalty

    def analyze(self, notes, end_q: float, key: tuple[int, str] | None = None, params=None):
        from models.analysis.symbolic import analyze_notes
        _, lp = self.net.log_probs(notes, end_q)
        chords = dict(lp, quality=self.quality_weight * lp["quality"], qualities=NET_QUALITIES)
        return analyze_notes(notes, end_q, params, key, self.tables, key_log_probs=lp["key"],
                             key_weight=self.key_weight, chord_log_probs=chords, chord_weight=self.chord_weight,
                             profile_mix=self.profile_mix, modulation_penalty=self.modulation_penalty)


_LOADED: dict = {}


def default_net() -> "SymbolicNet | None":
    """The shipped net (`CHECKPOINT`), or None where it (or torch) is absent."""
    if "net" not in _LOADED:
        try:
            _LOADED["net"] = SymbolicNet.load() if os.path.exists(CHECKPOINT + ".safetensors") else None
        except (ImportError, OSError, ValueError):
            _LOADED["net"] = None
    return _LOADED["net"]


# ------------------------------------------------------------------------------------------------ CLI
def examples_of(data: list) -> list:
    """(features, targets) per bench piece (`bench.roman.load_set`)."""
    from models.analysis.symbolic import notes_from_live
    out = []
    for p in data:
        n = len(p["ref"])
        out.append((frame_features(notes_from_live(p["notes"]), n), frame_targets(p["ref"])))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m models.analysis.symbolic_net", description=__doc__.split("\n\n")[0])
    ap.add_argument("--fit", action="store_true", help="train on all pieces and write the checkpoint (what it does "
                    "when neither --fit nor --cv is given)")
    ap.add_argument("--cv", action="store_true", help="cross-validate (bench/roman.py folds) and report")
    ap.add_argument("--cache", help="pickle of the parsed corpus (bench.roman.load_set)")
    ap.add_argument("--steps", type=int, default=STEPS, help="training steps per member")
    ap.add_argument("--members", type=int, default=MEMBERS, help="ensemble members (seeds seed, seed+1, ...)")
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=CHECKPOINT, help="checkpoint path without extension")
    from bench.roman import add_extra_arguments, extra_from_args, load_set
    add_extra_arguments(ap)
    args = ap.parse_args(argv)
    args.fit = args.fit or not args.cv
    import torch
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)) if os.environ.get("BANDMATE_THREADS") is None
                          else int(os.environ["BANDMATE_THREADS"]))
    data = load_set(cache=args.cache)
    extra, shares = extra_from_args(args)
    extra = extra or []
    if args.cv:
        from bench.roman import evaluate
        t0 = time.time()
        _, summary = evaluate(data, "net", args.folds, net_options={"steps": args.steps, "hidden": args.hidden,
                                                                     "seed": args.seed, "members": args.members},
                              extra=extra, extra_shares=shares)
        print(json.dumps(summary, indent=1))
        print("cross-validation: %.0f s" % (time.time() - t0), file=sys.stderr)
    if args.fit:
        t0 = time.time()
        net = train_ensemble(examples_of(data), members=args.members, steps=args.steps, hidden=args.hidden,
                             seed=args.seed, progress=True, extra=extra_pools(extra, shares) if extra else None)
        seconds = time.time() - t0
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        about = "music21 RomanText analyses with scores: %s" % ", ".join(sorted({p["collection"] for p in data}))
        if extra:
            about += "; When-in-Rome (CC BY-SA 4.0 analyses): %d pieces of %s, shares %s of the crops" % (
                len(extra), ", ".join(sorted({p["collection"] for p in extra})),
                collection_shares({p["collection"] for p in extra}, shares))
        SymbolicNet(net).save(args.out, {"pieces": len(data), "extra_pieces": len(extra), "steps": args.steps,
                                         "seed": args.seed, "train_seconds": round(seconds, 1), "data": about})
        print("trained on %d pieces in %.0f s -> %s.safetensors" % (len(data), seconds, args.out), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
