"""Write a song plan as an MMA file and render it to multitrack MIDI with the `mma` program.

Each bar is one MMA line with one chord slot per MMA beat (`Time N Tabs=1,..,N` after every `Groove`, because
grooves such as `Time 6/8` place chords on tabs 1 and 4 only); the first slot always names the chord, the
others are `/` (hold) or the next chord. `RndSeed` makes MMA's humanising (Rtime, Rskip, RVolume) repeatable.
MMA starts bar 1 at tick 0 with no count-in; `midi_tools.check_conductor` verifies that on every file.
"""
from __future__ import annotations

import os
import shutil
import subprocess

from .plan import SongPlan


class ToolMissing(RuntimeError):
    """A required external program is not installed."""


def mma_binary() -> str:
    """Path of the `mma` program; raises ToolMissing with the install hint."""
    exe = shutil.which("mma")
    if not exe:
        raise ToolMissing("mma not found: install the Debian package mma (apt-get install mma)")
    return exe


def mma_source(plan: SongPlan) -> str:
    """MMA source text of a plan. MMA tempo = tactus BPM x MMA beats per tactus beat."""
    n = plan.mma_beats_per_bar
    tabs = ",".join(str(i + 1) for i in range(n))
    out = [f"// {plan.id}: groove {plan.groove} ({plan.family}, {plan.meter})", f"RndSeed {plan.mma_seed}"]
    # Chord tokens per MMA beat across the whole song.
    slots: list[str | None] = [None] * (plan.bars * n)
    for span in plan.chords:
        k = int(round(span.start_bar * n))
        slots[k] = span.chord.mma
    cur_groove, cur_tempo, cur = None, None, None
    bar_no = 1
    for sec in plan.sections:
        out.append(f"// section {sec.label} ({sec.letter}) key {sec.tonic} {sec.mode} progression {sec.progression}")
        mma_tempo = sec.tempo * plan.mma_beats_per_tactus
        if mma_tempo != cur_tempo:
            out.append(f"Tempo {mma_tempo:g}")
            cur_tempo = mma_tempo
        for b in range(sec.bars):
            g = sec.grooves[b]
            if g != cur_groove:
                out.append(f"Groove {g}")
                out.append(f"Time {n} Tabs={tabs}")
                cur_groove = g
            toks = []
            for s in range(n):
                tok = slots[(bar_no - 1) * n + s]
                if tok is not None:
                    cur = tok
                toks.append(cur if (s == 0 or tok is not None) else "/")
            out.append(f"{bar_no} " + " ".join(toks))
            bar_no += 1
    return "\n".join(out) + "\n"


def render_mma(source: str, mma_path: str, midi_path: str, timeout: float = 60.0) -> None:
    """Write `source` to `mma_path` and run MMA to make `midi_path`; raises RuntimeError with MMA's message."""
    exe = mma_binary()
    with open(mma_path, "w") as f:
        f.write(source)
    r = subprocess.run([exe, "-f", os.path.abspath(midi_path), os.path.abspath(mma_path)], capture_output=True,
                       text=True, timeout=timeout, cwd=os.path.dirname(os.path.abspath(mma_path)))
    if r.returncode != 0 or not os.path.exists(midi_path):
        msg = "\n".join(ln for ln in (r.stdout + r.stderr).splitlines() if "PLUGIN" not in ln)
        raise RuntimeError(f"mma failed on {mma_path}: {msg.strip()[-500:]}")
