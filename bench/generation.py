"""`bandmate bench generation`: stem generation on requests made from songbook test songs, beside MMA's own
accompaniment for the same chords and the songbook's reference statistics, all in one run.

    bandmate bench generation --set data/sb-test [--n 100] [--bars 8] [--render 10] [--reference data/sb-train]

Each request takes a test song's genre family, tempo, meter, key and the chords of its first `bars` bars
(test split: grooves and progressions never trained on). Bandmate generates drums, bass, keys and melody;
the files are read back from disk (MIDI), never from memory. MMA plays the same chords with the test song's own
groove (`mma` on the same bars). The songbook reference is the test song's own stems over the same bars.
Speed: sampling time per request (warm, 8 bars x 4 stems), and soundfont rendering's real-time factor on the
first `--render` requests.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

from models.generation import metrics as M
from models.analysis.exports import beat_unit_q, meter_of
from models.generation.dataset import BeatClock, midi_notes_seconds
from models.generation.request import parse_key, parse_meter
from models.generation.tokens import RANGES
from models.songbook.midi_tools import stem_of_track, track_notes
from models.theory.harmony import QUALITIES, parse_harte, pc_of

from .report import machine, markdown_table, percentiles, write

STEMS = ("drums", "bass", "keys", "melody")
SONGBOOK_STEM = {"drums": "drums", "bass": "bass", "keys": "chords", "melody": "melody"}


def _name(pc):
    return ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")[pc % 12]


def mma_chord(root, quality, bass):
    name = _name(root) + QUALITIES[quality][1]
    return name + ("/" + _name(bass) if bass != root else "")


def song_request(root, entry, bars, seed):
    """(request, chords in quarter notes, the song's first-bar offset in seconds, song description)."""
    with open(os.path.join(root, entry["paths"]["json"]), encoding="utf-8") as fh:
        desc = json.load(fh)
    num, den = meter_of(desc)
    _, _, bpb = parse_meter("%d/%d" % (num, den))
    qpb = beat_unit_q((num, den))
    clock = BeatClock([b["time"] for b in desc["beats"]])
    bars = min(bars, len(desc["beats"]) // bpb)
    bar_chords = []
    for b in range(bars):
        row = []
        for k in range(bpb):   # one chord label per beat, merged within the bar
            t = float(clock.seconds(b * bpb + k + 0.01))
            seg = next((c for c in desc["chords"] if c["start"] <= t < c["end"]), None)
            lab = seg["label"] if seg else "N"
            row.append(lab)
        merged = []
        for lab in row:
            if not merged or merged[-1][0] != lab:
                merged.append([lab, 1])
            else:
                merged[-1][1] += 1
        if len(merged) > 1 and bpb % len(merged) == 0 and all(m[1] == bpb // len(merged) for m in merged):
            bar_chords.append([m[0] for m in merged])
        else:
            bar_chords.append([max(merged, key=lambda m: m[1])[0]])
    text = " | ".join(" ".join(r) for r in bar_chords)
    key = desc["key"]["label"]
    request = {"chords": text, "bars": bars, "tempo": round(float(desc["bpm"]) * qpb, 3), "meter": "%d/%d" % (num, den),
               "key": key, "genre": entry["family"], "seed": seed, "render": False}
    chords_q = []
    for b, row in enumerate(bar_chords):
        for k, lab in enumerate(row):
            s = (b + k / len(row)) * bpb * qpb
            e = (b + (k + 1) / len(row)) * bpb * qpb
            parsed = parse_harte(lab) if lab != "N" else None
            chords_q.append((s, e) + (parsed if parsed else (-1, "N", -1)))
    return request, chords_q, bar_chords, desc, (bpb, qpb)


def read_midi_notes(path, tracks=None):
    """Notes of a MIDI file (a path or a mido.MidiFile; `tracks`: only these of its tracks) in quarter notes
    (ticks / ticks per quarter), sorted; a note never released is stuck (duration 1e9)."""
    import mido

    mid = path if isinstance(path, mido.MidiFile) else mido.MidiFile(path)
    tpq = mid.ticks_per_beat
    notes = [n for tr in (tracks if tracks is not None else mid.tracks) for n in track_notes(tr, False)]
    return [{"pitch": n.pitch, "start_time": n.start / tpq, "velocity": n.velocity, "channel": n.channel,
             "duration": 1e9 if n.end is None else (n.end - n.start) / tpq}
            for n in sorted(notes, key=lambda n: (n.start, n.pitch))]


def midi_facts(path):
    """Tempo (quarter BPM), meter, key signature and length in quarters of a MIDI file."""
    import mido

    mid = mido.MidiFile(path)
    facts = {"tempo": None, "meter": None, "key": None}
    end = 0
    for tr in mid.tracks:
        t = 0
        for msg in tr:
            t += msg.time
            if msg.type == "set_tempo" and facts["tempo"] is None:
                facts["tempo"] = round(mido.tempo2bpm(msg.tempo), 3)
            elif msg.type == "time_signature" and facts["meter"] is None:
                facts["meter"] = "%d/%d" % (msg.numerator, msg.denominator)
            elif msg.type == "key_signature" and facts["key"] is None:
                facts["key"] = msg.key
        end = max(end, t)
    facts["length_q"] = end / mid.ticks_per_beat
    return facts


def stem_metrics(stem, notes, chords_q, bars, bpb, qpb, tonic, mode):
    m = {"notes": len(notes)}
    if stem == "drums":
        m["groove_consistency"] = M.groove_consistency(notes, bars, bpb, qpb)
        m["profile"] = M.groove_profile(notes, bars, bpb, qpb)
    else:
        m["pc_entropy"] = M.pitch_class_entropy(notes)
        m["repetition"] = M.bar_repetition(notes, bars, bpb, qpb)
        m["problems"] = M.problems(notes, RANGES.get(stem), monophonic=stem in ("bass", "melody"))
    if stem == "bass":
        m["chord_tone_strong"] = M.chord_tone_ratio(notes, chords_q, bpb, qpb)
    if stem == "melody":
        tonic_mode = (tonic, mode)
        m["scale_consistency"] = M.scale_consistency(notes, *tonic_mode)
        m["ctnctr"] = M.ctnctr(notes, chords_q)
    if stem == "drums":
        m["problems"] = M.problems(notes)
    return m


def run_mma(groove, bar_chords, tempo_q, bpb, workdir):
    """MMA's accompaniment of the chords with `groove`: stem -> notes (quarters), or None when MMA fails."""
    exe = shutil.which("mma")
    if not exe:
        return None
    lines = ["Tempo %g" % tempo_q, "Groove %s" % groove]
    for k, row in enumerate(bar_chords):
        names = []
        for lab in row:
            p = parse_harte(lab) if lab != "N" else None
            names.append(mma_chord(*p) if p else "z")
        per = max(1, bpb // len(names))
        slots = []
        for nm in names:
            slots += [nm] + ["/"] * (per - 1)
        lines.append("%d %s" % (k + 1, " ".join(slots[:max(bpb, len(names))])))
    src = os.path.join(workdir, "peer.mma")
    out = os.path.join(workdir, "peer.mid")
    with open(src, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    r = subprocess.run([exe, "-f", out, src], capture_output=True, text=True, timeout=120)
    if r.returncode != 0 or not os.path.exists(out):
        return None
    import mido

    mid = mido.MidiFile(out)
    stems = {s: [] for s in STEMS}
    for tr in mid.tracks[1:]:
        stem = {"chords": "keys"}.get(stem_of_track(tr.name), stem_of_track(tr.name))
        stems[stem] += read_midi_notes(mid, [tr])
    return stems


def reference_notes(root, entry, desc, bars, bpb, qpb):
    """The songbook song's own stems over its first `bars` bars, in quarter notes of the song's tempo."""
    clock = BeatClock([b["time"] for b in desc["beats"]])
    out = {}
    for stem, sb in SONGBOOK_STEM.items():
        p = (entry["paths"].get("stem_midi") or {}).get(sb)
        if not p:
            out[stem] = []
            continue
        notes = []
        for on, off, pitch, vel in midi_notes_seconds(os.path.join(root, p)):
            b0, b1 = float(clock.beat(on)), float(clock.beat(off))
            if b0 < bars * bpb - 1e-6:
                notes.append({"pitch": pitch, "start_time": b0 * qpb, "duration": (b1 - b0) * qpb, "velocity": vel})
        out[stem] = notes
    return out


def summarize(rows, key, stem):
    vals = [r[stem].get(key) for r in rows if r.get(stem) and r[stem].get(key) is not None]
    if not vals:
        return None
    return {"mean": round(float(np.mean(vals)), 4), "p10": round(float(np.percentile(vals, 10)), 4),
            "p90": round(float(np.percentile(vals, 90)), 4), "n": len(vals)}


def main(argv=None):
    ap = argparse.ArgumentParser(prog="bandmate bench generation", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", required=True, help="a songbook directory (its test-split songs)")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--bars", type=int, default=8)
    ap.add_argument("--render", type=int, default=10, help="render audio for this many requests (RTF)")
    ap.add_argument("--out", default=None, help="results directory (default bench/results)")
    ap.add_argument("--examples", type=int, default=2, help="piano-roll PNGs of the first N requests")
    args = ap.parse_args(argv)
    from models.generation.generate import best_soundfont, generate, load_model, render_audio

    model = load_model()
    if model is None:
        print("no generation model: bandmate train generation", file=sys.stderr)
        return 2
    with open(os.path.join(args.set, "index.json"), encoding="utf-8") as fh:
        index = json.load(fh)
    songs = [s for s in index["songs"] if s.get("split") == "test"] or index["songs"]
    work = tempfile.mkdtemp(prefix="bench-gen-")
    rows = {"bandmate": [], "mma": [], "reference": []}
    follow = {"tempo": 0, "meter": 0, "key": 0, "bars": 0, "files": 0}
    sample_s, notes_total, rtf = [], 0, []
    examples = []
    # warm-up (the first call builds caches)
    req0 = song_request(args.set, songs[0], args.bars, 0)[0]
    warm = generate(dict(req0, render=True), model, out_dir=os.path.join(work, "warm"))  # loads the soundfont
    del warm
    font = best_soundfont()[0]
    families = {}
    t_start = time.time()
    for i in range(args.n):
        entry = songs[i % len(songs)]
        req, chords_q, bar_chords, desc, (bpb, qpb) = song_request(args.set, entry, args.bars, i)
        tonic, mode = parse_key(req["key"])
        out_dir = os.path.join(work, "req%03d" % i)
        res = generate(req, model, out_dir=out_dir)
        sample_s.append(res["timing"]["sample_s"][0])
        bars = res["bars"]
        row = {"family": entry["family"]}
        for stem in STEMS:
            st = res["stems"][stem]
            facts = midi_facts(st["midi"])
            follow["files"] += 1
            follow["tempo"] += abs((facts["tempo"] or 0) - req["tempo"]) < 0.01
            follow["meter"] += facts["meter"] == req["meter"]
            follow["key"] += facts["key"] is not None and _key_matches(facts["key"], tonic, mode)
            follow["bars"] += abs(facts["length_q"] - bars * bpb * qpb) < 1e-6
            notes = read_midi_notes(st["midi"])
            notes_total += len(notes)
            row[stem] = stem_metrics(stem, notes, chords_q, bars, bpb, qpb, tonic, mode)
        rows["bandmate"].append(row)
        if i < args.render:
            wavs = {s: os.path.join(out_dir, s + ".wav") for s in STEMS}
            t0 = time.perf_counter()
            render_audio({s: res["stems"][s]["midi"] for s in STEMS}, res["seconds"], wavs,
                         os.path.join(out_dir, "mix.wav"))
            rtf.append((time.perf_counter() - t0) / res["seconds"])
        if i < args.examples:
            examples.append((req, res, os.path.join(out_dir)))
        peer = run_mma(entry["groove"], bar_chords, req["tempo"], bpb, out_dir)
        if peer is not None:
            rows["mma"].append({"family": entry["family"], **{s: stem_metrics(s, peer[s], chords_q, bars, bpb, qpb,
                                                                              tonic, mode) for s in STEMS}})
        ref = reference_notes(args.set, entry, desc, bars, bpb, qpb)
        rows["reference"].append({"family": entry["family"], **{s: stem_metrics(s, ref[s], chords_q, bars, bpb, qpb,
                                                                                tonic, mode) for s in STEMS}})
        families.setdefault(entry["family"], []).append(i)
        if (i + 1) % 10 == 0:
            print("%d/%d requests (%.0f s)" % (i + 1, args.n, time.time() - t_start), file=sys.stderr, flush=True)
    # groove similarity to the genre's reference profile (mean of the reference drum profiles of that family)
    for system in rows:
        for k, r in enumerate(rows[system]):
            fam = r["family"]
            refs = [x["drums"]["profile"] for j, x in enumerate(rows["reference"]) if x["family"] == fam and
                    x["drums"]["profile"] is not None and x["drums"]["notes"] and not (system == "reference" and
                                                                                       j == k)]
            prof = r["drums"].get("profile")
            if refs and prof is not None and len(prof) == len(refs[0]):
                r["drums"]["genre_groove_similarity"] = M.cosine(np.asarray(prof, float),
                                                                 np.mean([np.asarray(x, float) for x in refs
                                                                          if len(x) == len(prof)], axis=0))
    report = build_report(rows, follow, sample_s, notes_total, rtf, args, font)
    figures = piano_rolls(examples, args.out)
    report["examples"] = figures
    md = markdown(report)
    write("generation", report, md, args.out)
    print(md)
    shutil.rmtree(work, ignore_errors=True)
    return 0


def _key_matches(sig, tonic, mode):
    """Does a MIDI key signature name the requested key (or, for modes, the signature of its parent scale)?"""
    minor = sig.endswith("m")
    pc = pc_of(sig[:-1] if minor else sig)
    if mode == "major":
        return not minor and pc == tonic
    if mode == "minor":
        return minor and pc == tonic
    return True


def build_report(rows, follow, sample_s, notes_total, rtf, args, font):
    n_files = max(follow["files"], 1)
    out = {"machine": dict(machine(), loadavg_1min=round(os.getloadavg()[0], 2)), "set": args.set, "requests": args.n, "bars": args.bars, "soundfont": font,
           "follows": {k: round(follow[k] / n_files, 4) for k in ("tempo", "meter", "key", "bars")},
           "speed": {"sample_s": percentiles(sample_s, (50, 95)), "notes_per_s": round(notes_total / sum(sample_s), 1),
                     "render_rtf": percentiles(rtf, (50, 95)) if rtf else None},
           "systems": {}}
    for system, rs in rows.items():
        s = {}
        s["bass_chord_tone_strong"] = summarize(rs, "chord_tone_strong", "bass")
        s["melody_scale_consistency"] = summarize(rs, "scale_consistency", "melody")
        s["melody_ctnctr"] = summarize(rs, "ctnctr", "melody")
        s["drums_groove_consistency"] = summarize(rs, "groove_consistency", "drums")
        s["drums_genre_groove_similarity"] = summarize(rs, "genre_groove_similarity", "drums")
        for stem in ("bass", "keys", "melody"):
            s[stem + "_pc_entropy"] = summarize(rs, "pc_entropy", stem)
            s[stem + "_repetition"] = summarize(rs, "repetition", stem)
        probs = {"overlapping": 0, "stuck": 0, "out_of_range": 0}
        for r in rs:
            for stem in STEMS:
                for k, v in (r[stem].get("problems") or {}).items():
                    probs[k] += v
        s["problems"] = probs
        s["notes_per_request"] = {stem: round(float(np.mean([r[stem]["notes"] for r in rs])), 1) for stem in STEMS}
        s["n"] = len(rs)
        out["systems"][system] = s
    return out


def markdown(r):
    sysn = ("bandmate", "mma", "reference")
    names = {"bandmate": "Bandmate", "mma": "MMA (same chords, the song's groove)", "reference": "songbook reference"}

    def cell(v):
        if v is None:
            return "-"
        return "%.3f (%.2f-%.2f)" % (v["mean"], v["p10"], v["p90"])

    metrics = [("bass chord tones on strong beats (goal >= 0.95)", "bass_chord_tone_strong"),
               ("melody scale consistency (goal >= 0.95)", "melody_scale_consistency"),
               ("melody CTnCTR (goal >= 0.9)", "melody_ctnctr"),
               ("drums groove consistency", "drums_groove_consistency"),
               ("drums groove similarity to the genre", "drums_genre_groove_similarity"),
               ("bass pitch-class entropy (bits)", "bass_pc_entropy"), ("keys pitch-class entropy", "keys_pc_entropy"),
               ("melody pitch-class entropy", "melody_pc_entropy"), ("bass bar repetition", "bass_repetition"),
               ("keys bar repetition", "keys_repetition"), ("melody bar repetition", "melody_repetition")]
    rows = [[label] + [cell(r["systems"][s].get(key)) for s in sysn if s in r["systems"]] for label, key in metrics]
    rows.append(["overlapping / stuck / out-of-range notes"] +
                ["%d / %d / %d" % tuple(r["systems"][s]["problems"][k] for k in ("overlapping", "stuck", "out_of_range"))
                 for s in sysn if s in r["systems"]])
    rows.append(["notes per request (drums/bass/keys/melody)"] +
                ["/".join(str(r["systems"][s]["notes_per_request"][k]) for k in STEMS) for s in sysn if s in r["systems"]])
    sp = r["speed"]
    lines = ["# Stem generation", "",
             "%d requests of %d bars from `%s` test songs; mean (10th-90th percentile). Machine: %s, %d CPUs, %s." % (
                 r["requests"], r["bars"], r["set"], r["machine"]["platform"], r["machine"]["cpus"], r["machine"]["when"]),
             "", markdown_table(["metric"] + [names[s] for s in sysn if s in r["systems"]], rows), "",
             "Follows the request (share of the %d stem MIDI files read back): tempo %.3f, meter %.3f, key %.3f, "
             "bar count %.3f." % (r["requests"] * 4, r["follows"]["tempo"], r["follows"]["meter"], r["follows"]["key"],
                                  r["follows"]["bars"]), "",
             "Speed (warm, one CPU thread of sampling, 8 bars x 4 stems): p50 %.3f s, p95 %.3f s (goal <= 0.5 s); "
             "%.0f notes/s; load average at the end of the run %.2f on %d cores (other work shares the CPU)." % (
                 sp["sample_s"]["p50"], sp["sample_s"]["p95"], sp["notes_per_s"], r["machine"]["loadavg_1min"],
                 r["machine"]["cpus"])]
    if sp.get("render_rtf"):
        lines.append("Soundfont rendering (%s, 4 stems + mix, 48 kHz WAV): real-time factor p50 %.4f, p95 %.4f "
                     "(goal <= 0.05)." % (r["soundfont"], sp["render_rtf"]["p50"], sp["render_rtf"]["p95"]))
    for ex in r.get("examples") or []:
        lines += ["", "Example: `%s` -> %s" % (json.dumps(ex["request"]), ex["png"]), "", ex["description"]]
    return "\n".join(lines) + "\n"


def piano_rolls(examples, out_dir=None):
    """A piano-roll PNG per example request (all stems, one colour each) under bench/results/."""
    from .report import RESULTS_DIR

    out = []
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return out
    colours = {"drums": "#888888", "bass": "#1f77b4", "keys": "#2ca02c", "melody": "#d62728"}
    for k, (req, res, _) in enumerate(examples):
        fig, ax = plt.subplots(figsize=(12, 5))
        desc = []
        for stem in STEMS:
            notes = read_midi_notes(res["stems"][stem]["midi"])
            for n in notes:
                ax.add_patch(plt.Rectangle((n["start_time"], n["pitch"] - 0.4), max(n["duration"], 0.05), 0.8,
                                           color=colours[stem], alpha=0.8))
            desc.append("%s: %d notes, %s" % (stem, len(notes), os.path.basename(res["stems"][stem]["midi"])))
        ax.set_xlim(0, res["length_beats"])
        ax.set_ylim(25, 100)
        ax.set_xlabel("quarter notes")
        ax.set_ylabel("MIDI pitch")
        ax.set_title("%s %s %s %g BPM: %s" % (req["genre"], req["key"], req["meter"], req["tempo"], req["chords"]))
        for stem, c in colours.items():
            ax.plot([], [], color=c, label=stem, linewidth=6)
        ax.legend(loc="upper right")
        path = os.path.join(out_dir or RESULTS_DIR, "generation_example%d.png" % (k + 1))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fig.savefig(path, dpi=80, bbox_inches="tight")
        plt.close(fig)
        out.append({"request": {kk: v for kk, v in req.items() if kk != "render"}, "png": os.path.relpath(
            path, os.path.dirname(RESULTS_DIR)), "description": "; ".join(desc)})
    return out


if __name__ == "__main__":
    sys.exit(main())
