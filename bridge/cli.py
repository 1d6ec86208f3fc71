"""The `bandmate` command.

Client commands talk to a running daemon over ZeroMQ (or run it in-process with --local). Commands that need
the daemon or the model code (serve, songbook, bench, train) are loaded by module name when invoked, so the
client depends only on protocol/.
"""
import argparse
import importlib
import json
import os
import sys
import time

from protocol import BandmateError

from .progress import ProgressBar

# Subcommands implemented elsewhere: name -> ("module:function", help). Each function takes argv.
DELEGATED = {
    "serve": ("daemon.cli:main", "run the daemon in the foreground"),
    "songbook": ("models.songbook.cli:main", "make ground-truth songs (songbook make / corpus)"),
    "bench": ("bench.cli:main", "benchmarks: transport, analysis, ..."),
    "dataset": ("models.analysis.dataset:main", "turn a folder of your songs into a training set (dataset FOLDER "
                                                "--out DIR; your .lab / .beats / .jams labels win)"),
    "train": ("models.train_cli:main", "train Bandmate's models (train chords --train DIR --out PATH)"),
    "doctor": ("bridge.sysdeps:main", "check the system packages Bandmate uses (check | install)"),
    "install": ("bridge.install:main", "install the DAW scripts: install ableton|reaper [--path DIR]"),
    "ableton": ("bridge.install_ableton:command_main", "send a command to the Live Remote Script: ableton "
                                                       "analyze|generate [STEMS]|live|attach SESSION|stop|status"),
    "ui": ("bridge.ui:main", "the companion window: last analysis, generated files to drag into any DAW"),
}
# Actions of client commands that run in this process, not in the daemon: (command, action) -> "module:function".
LOCAL_ACTIONS = {
    ("models", "fetch"): "models.analysis.separation:fetch_main",  # bandmate models fetch htdemucs [--to DIR]
}


def _client(args):
    if args.local:
        from .local import LocalClient

        return LocalClient(models=[] if args.no_models else None)
    from .client import Client

    return Client(endpoint=args.endpoint, pub_endpoint=args.pub_endpoint, token=args.token, timeout=args.timeout)


def _out(args, obj, text=None):
    if args.json or text is None:
        print(json.dumps(obj, indent=1, sort_keys=True))
    else:
        print(text)


def cmd_ping(c, args):
    times = []
    for _ in range(args.count):
        t0 = time.perf_counter()
        c.request("ping", {"payload": "cli"})
        times.append((time.perf_counter() - t0) * 1000)
    _out(args, {"count": len(times), "ms": times},
         "pong from %s: %s" % (getattr(c, "endpoint", "in-process daemon"),
                               ", ".join("%.3f ms" % t for t in times)))


def cmd_status(c, args):
    st = c.request("status")["status"]
    lines = ["Bandmate %s (protocol %s), up %.0f s, pid %s, memory %s" % (
        st["version"], st["protocol"], st["uptime_s"], st["pid"],
        "%.0f MB" % (st["rss_bytes"] / 1e6) if st.get("rss_bytes") else "?"),
             "device: %s%s" % (st["device"]["name"], " [%s]" % st["device"]["reason"] if st["device"].get("reason")
                               else ""),
             "endpoints: %s" % ", ".join("%s=%s" % kv for kv in sorted(st["endpoints"].items())),
             "jobs: %s" % (", ".join("%s %d" % kv for kv in sorted(st["jobs"].items())) or "none"),
             "data dir: %s" % st["data_dir"], "models:"]
    for m in st["models"]:
        mem = "%.1f MB" % (m["memory_bytes"] / 1e6) if m.get("memory_bytes") else "-"
        lines.append("  %-14s %-11s %-8s load %s  mem %s  %s" % (
            m["name"], m["state"], m["device"] or "-", "%.2f s" % m["load_s"] if m["load_s"] else "-", mem,
            m["error"]))
    _out(args, st, "\n".join(lines))


def _run_job(c, args, msg_type, params):
    accepted = c.request(msg_type, params)
    if args.no_wait:
        _out(args, accepted, "job %s %s" % (accepted["job_id"], accepted["state"]))
        return None
    bar = ProgressBar(msg_type) if not args.quiet else None
    try:
        job = c.wait(accepted["job_id"], on_progress=bar)
    finally:
        if bar:
            bar.close()
    if job["state"] != "done":
        err = job.get("error") or {"code": job["state"], "message": job["state"]}
        raise BandmateError(err["code"], err["message"])
    return job


def cmd_analyze(c, args):
    params = {"path": os.path.abspath(args.path), "start": args.start, "end": args.end,
              "out_dir": os.path.abspath(args.out_dir) if args.out_dir else None}
    if args.context:
        params["context"] = json.loads(args.context)
    options = {}
    if args.stems is not None:
        options["stems"] = {"yes": True, "no": False, "auto": "auto"}[args.stems]
    if args.transcribe:
        options["transcribe"] = True
    if args.export:
        options["exports"] = [e for e in args.export.split(",") if e]
    if options:
        params["options"] = options
    job = _run_job(c, args, "analyze", {k: v for k, v in params.items() if v is not None})
    if job is None:
        return
    song = job["result"]["song"]
    if args.json:
        print(json.dumps(song, indent=1, sort_keys=True))
        return
    for line in summary_lines(song, cached=job["result"].get("cached")):
        print(line)
    print("result: %s" % job["result_path"])


def summary_lines(song, cached=False):
    """A producer's reading of a song description, one fact per line."""
    src = song["source"]
    lines = []
    if src.get("kind") == "midi":
        lines.append("%s: MIDI, %.2f s" % (os.path.basename(src.get("path") or "notes"), src["duration"]))
    else:
        lines.append("%s: %s, %d Hz, %d ch, %.2f s%s" % (os.path.basename(src["path"]), src["format"],
                                                         src["sample_rate"], src["channels"], src["duration"],
                                                         " (cached)" if cached else ""))
        lines.append("loudness %s LUFS, peak %s dBFS, RMS %s dBFS" % (src["loudness_lufs"], src["peak_dbfs"],
                                                                   src["rms_dbfs"]))
    if song.get("tuning"):
        lines.append("tuning A4 = %.1f Hz (%+.0f cents)" % (song["tuning"]["a4_hz"], song["tuning"]["cents"]))
    if song.get("bpm"):
        meter = song.get("meter") or {}
        lines.append("tempo %.1f BPM, meter %s/%s, %d beats, %d bars" % (
            song["bpm"], meter.get("numerator", "?"), meter.get("denominator", "?"), len(song.get("beats", [])),
            len(song.get("downbeats", []))))
    if song.get("key"):
        regions = song.get("key_regions") or []
        lines.append("key %s%s" % (song["key"].get("label"), "; regions: " + ", ".join(
            "%s at %.1f s" % (r["key"], r["start"]) for r in regions) if len(regions) > 1 else ""))
    if song.get("chords"):
        chords = [c for c in song["chords"] if c["label"] != "N"]
        lines.append("chords: " + " ".join("%s%s" % (c["label"], "(%s)" % c["roman_numeral"]
                                                      if c.get("roman_numeral") else "") for c in chords[:16])
                     + (" ..." if len(chords) > 16 else ""))
    ha = song.get("harmonic_analysis") or {}
    if ha.get("progressions"):
        lines.append("progressions: " + ", ".join("%s x%d" % (p["name"], p.get("count", 1))
                                                  for p in ha["progressions"][:6]))
    if ha.get("cadences"):
        lines.append("cadences: " + ", ".join("%s at %.1f s" % (c["type"], c["time"]) for c in ha["cadences"][:6]))
    if song.get("sections"):
        lines.append("sections: " + " ".join("%s(%s) %.1f-%.1f" % (s["label"], s.get("letter", ""), s["start"],
                                                                   s["end"]) for s in song["sections"]))
    g = song.get("genre_analysis") or {}
    if g.get("primary"):
        lines.append("genre %s (%.0f%%), then %s: %s" % (g["primary"], 100 * g.get("confidence", 0),
                                                        g.get("secondary", "-"), "; ".join(g.get("reasons", [])[:3])))
    for name, path in (song.get("exports") or {}).items():
        lines.append("export %s: %s" % (name, path))
    for note in song.get("notices", []):
        lines.append("note: " + note)
    return lines


def cmd_generate(c, args):
    request = json.loads(args.request) if args.request else {}
    for key in ("stems", "key", "meter", "genre", "prompt", "chords", "renderer"):
        if getattr(args, key, None):
            request[key] = getattr(args, key)
    for key in ("tempo", "bars", "seed", "variations", "complexity", "tuning"):
        if getattr(args, key, None) is not None:
            request[key] = getattr(args, key)
    if args.analysis:
        request["analysis"] = os.path.abspath(args.analysis) if os.path.exists(args.analysis) else args.analysis
    if args.no_render:
        request["render"] = False
    if args.free:
        request["constraints"] = {"scale": False, "chord_tones": False, "range": False}
    job = _run_job(c, args, "generate", {"request": request,
                                         "out_dir": os.path.abspath(args.out_dir) if args.out_dir else None})
    if job is not None:
        _out(args, job["result"], "\n".join(generate_lines(job["result"])))


def generate_lines(result):
    """What a person wants to see of a generation: the plan, then every file."""
    plan = result.get("plan") or {}
    lines = ["%s  %s  %s  %d bars  %s" % (plan.get("genre", "?"), result["key"], result["meter"], result["bars"],
                                           "%g BPM" % result["tempo"])]
    secs = " ".join("%s(%d)" % (s["label"], s["bars"]) for s in plan.get("sections") or [])
    if secs:
        lines.append("form: " + secs)
    chords = " ".join(ch["symbol"] for ch in (plan.get("chords") or [])[:16])
    if chords:
        lines.append("chords: " + chords + (" ..." if len(plan.get("chords") or []) > 16 else ""))
    for v in result.get("variations") or []:
        for name, st in v["stems"].items():
            lines.append("%-7s %4d notes  %s%s" % (name, st["n_notes"], st["midi"],
                                                   ("  " + st["audio"]) if st.get("audio") else ""))
        lines.append("band    %s%s" % (v["midi"], ("  " + v["audio"]) if v.get("audio") else ""))
    for note in result.get("notices") or []:
        lines.append("note: " + note)
    return lines


def cmd_selftest(c, args):
    job = _run_job(c, args, "selftest", {"seconds": args.seconds})
    if job is not None:
        r = job["result"]
        _out(args, r, "%s on %s: %.1f GFLOP/s (%d x %dx%d matmuls in %.2f s)" % (
            r["backend"], r["device"]["name"], r["gflops"], r["iterations"], r["matrix"], r["matrix"],
            r["seconds"]))


def cmd_jobs(c, args):
    jobs = c.request("jobs", {"limit": args.limit, "state": args.state})["jobs"]
    lines = ["%-16s %-9s %-10s %-9s %5.0f%%  %s  %s" % (
        j["job_id"], j["type"], j["state"], j["priority"], 100 * (j["fraction"] or 0),
        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(j["created"])),
        (j["error"]["code"] + ": " + j["error"]["message"]) if j["error"] else (j["result_path"] or ""))
        for j in jobs]
    _out(args, jobs, "\n".join(lines) or "no jobs")


def cmd_job(c, args):
    job = c.request("job", {"job_id": args.job_id})["job"]
    _out(args, job)


def cmd_cancel(c, args):
    r = c.request("cancel", {"job_id": args.job_id})
    _out(args, r, "job %s: %s" % (r["job_id"], r["state"]))


def cmd_models(c, args):
    _out(args, c.request("models")["models"])


def live_line(ev):
    """One printed line per live event."""
    t = ev.get("time")
    head = "%8.2f s" % t if isinstance(t, (int, float)) else " " * 10
    if ev.get("beat") is not None:
        head += "  beat %7.2f" % ev["beat"]
    kind = ev.get("type")
    if kind == "chord":
        return "%s  %-12s %-10s %-18s key %-9s conf %.2f" % (
            head, ev["label"], ev.get("roman_numeral") or "", ev.get("function") or "", ev.get("key") or "?",
            ev.get("confidence") or 0.0)
    if kind == "key":
        return "%s  key -> %s (conf %.2f)" % (head, ev["key"], ev.get("confidence") or 0.0)
    rest = {k: v for k, v in ev.items() if k not in ("type", "time", "beat", "session", "emitted_at", "server_time")}
    return "%s  [%s] %s" % (head, kind, " ".join("%s=%s" % kv for kv in sorted(rest.items()) if kv[1] not in
                                                 (None, "")))


def cmd_live(c, args):
    from .live import ClockFile, EventFeed, stream_file

    events_fh = open(args.events_file, "a", encoding="utf-8") if args.events_file else None
    clock = ClockFile(args.clock_file) if args.clock_file else None

    def show(ev):
        print(json.dumps(ev, sort_keys=True) if args.json else live_line(ev), flush=True)
        if events_fh is not None:  # one JSON line per event, for DAW scripts that read files
            events_fh.write(json.dumps(ev, sort_keys=True) + "\n")
            events_fh.flush()

    if args.list_devices:
        devices = c.request("live_devices")["devices"]
        if args.json:
            print(json.dumps(devices, indent=1))
        for d in devices:
            print("%3d  %-40s %2d ch  %.0f Hz" % (d["index"], d["name"], d["channels"], d["sample_rate"]))
        return
    if not args.input:
        raise BandmateError("bad_params", "give --input FILE|DEVICE, or --list-devices")
    if os.path.isfile(args.input):
        _, result = stream_file(c, args.input, speed=args.speed, key=args.key, on_event=show,
                                midi_port=args.midi_port, start=args.start, latency=args.latency, tuning=args.tuning,
                                on_block=(lambda sid: clock.tick(c, sid)) if clock else None)
        print("%.1f s of audio, %d events, %.3f CPU s per audio s" % (
            result["audio_s"], result["events"], result["cpu_per_audio_s"]), file=sys.stderr)
        return
    feed = EventFeed(c)
    started = c.request("live_start", {"source": "device", "device": args.input, "sample_rate": args.sample_rate,
                                       "channels": args.channels, "key": args.key,
                                       "midi_port": args.midi_port, "latency": args.latency,
                                       "tuning": args.tuning})
    feed.session = started["session"]
    print("listening to %s (Ctrl-C stops)" % args.input, file=sys.stderr)
    try:
        while True:
            for ev in feed.get(0.5 if clock is None else 0.1):
                show(ev)
                if ev.get("type") == "ended":
                    return
            if clock is not None and not clock.tick(c, started["session"]):
                c.request("live_stop", {"session": started["session"]})
                for ev in feed.get(1.0):
                    show(ev)
                return
    except KeyboardInterrupt:
        c.request("live_stop", {"session": started["session"]})
    finally:
        feed.close()


def cmd_stop(c, args):
    c.request("shutdown")
    _out(args, {"stopping": True}, "daemon stopping")


def build_parser():
    ap = argparse.ArgumentParser(prog="bandmate", description="Bandmate: an AI companion for your DAW.")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_) in DELEGATED.items():
        sub.add_parser(name, help=help_, add_help=False)

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--endpoint", help="daemon ZeroMQ endpoint (default: the running daemon's, else "
                                           "tcp://127.0.0.1:7401)")
    common.add_argument("--pub-endpoint", help="daemon event endpoint")
    common.add_argument("--token", help="auth token (or BANDMATE_TOKEN)")
    common.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for each reply")
    common.add_argument("--local", action="store_true", help="run the daemon in this process (no server needed)")
    common.add_argument("--no-models", action="store_true", help="with --local: load no models")
    common.add_argument("--json", action="store_true", help="print JSON")
    jobopts = argparse.ArgumentParser(add_help=False)
    jobopts.add_argument("--no-wait", action="store_true", help="print the job id and return at once")
    jobopts.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("ping", parents=[common], help="check the daemon answers")
    p.add_argument("--count", type=int, default=1)
    p.set_defaults(fn=cmd_ping)
    sub.add_parser("status", parents=[common], help="device, warm models, jobs").set_defaults(fn=cmd_status)
    sub.add_parser("models", parents=[common], help="the warm model pool; `models fetch htdemucs [--to DIR]` "
                                                    "downloads third-party weights").set_defaults(fn=cmd_models)
    p = sub.add_parser("analyze", parents=[common, jobopts], help="analyse an audio or MIDI file")
    p.add_argument("path")
    p.add_argument("--start", type=float, help="seconds")
    p.add_argument("--end", type=float, help="seconds")
    p.add_argument("--context", help="DAW context as JSON: {tempo, meter, key, warp_markers}")
    p.add_argument("--out-dir", help="write the result JSON, exports, stems and notes here")
    p.add_argument("--stems", choices=["yes", "no", "auto"], help="htdemucs separation (auto: only on a GPU)")
    p.add_argument("--transcribe", action="store_true", help="transcribe notes with basic-pitch (slower)")
    p.add_argument("--export", help="comma-separated: json,jams,midi,rntxt (needs --out-dir)")
    p.set_defaults(fn=cmd_analyze)
    p = sub.add_parser("generate", parents=[common, jobopts], help="generate stems (MIDI + audio)")
    p.add_argument("--request", help="the whole request as JSON")
    p.add_argument("--stems", help="comma-separated: drums,bass,keys,melody (default all)")
    p.add_argument("--tempo", type=float, help="quarter-note BPM")
    p.add_argument("--key", help="e.g. 'E:minor', 'Em', 'Bb'")
    p.add_argument("--meter", help="e.g. 4/4, 3/4, 6/8")
    p.add_argument("--bars", type=int)
    p.add_argument("--genre", help="pop, rock, jazz, latin, blues, electronic, ballad, rnb, country, waltz_march")
    p.add_argument("--prompt", help="text, e.g. 'an upbeat pop song about summer'")
    p.add_argument("--seed", type=int)
    p.add_argument("--chords", help="'C G Am F', 'C G | Am F' (bars), or Roman numerals 'I V vi IV'")
    p.add_argument("--analysis", help="follow an analysis: an analyze job id or a song-description JSON file")
    p.add_argument("--variations", type=int, help="how many takes (1-8)")
    p.add_argument("--complexity", type=float, help="0 (sparse) .. 1 (busy)")
    p.add_argument("--no-render", action="store_true", help="MIDI only, no audio")
    p.add_argument("--renderer", choices=["soundfont", "diffusion"], help="audio from FluidSynth (default) or the "
                                                                          "diffusion renderer")
    p.add_argument("--tuning", type=float, help="render the audio this many cents off A4 = 440 Hz, -50..50 "
                   "(default: the analysis' tuning, else 440 Hz)")
    p.add_argument("--free", action="store_true", help="switch off the scale/chord-tone/range constraints")
    p.add_argument("--out-dir", help="where the MIDI/WAV files go (default: the daemon's data dir)")
    p.set_defaults(fn=cmd_generate)
    p = sub.add_parser("selftest", parents=[common, jobopts], help="measure the compute device")
    p.add_argument("--seconds", type=float, default=2.0)
    p.set_defaults(fn=cmd_selftest)
    p = sub.add_parser("jobs", parents=[common], help="list jobs (also from earlier runs)")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--state")
    p.set_defaults(fn=cmd_jobs)
    p = sub.add_parser("job", parents=[common], help="one job with its result")
    p.add_argument("job_id")
    p.set_defaults(fn=cmd_job)
    p = sub.add_parser("cancel", parents=[common], help="cancel a job")
    p.add_argument("job_id")
    p.set_defaults(fn=cmd_cancel)
    sub.add_parser("stop", parents=[common], help="stop the daemon").set_defaults(fn=cmd_stop)
    p = sub.add_parser("live", parents=[common], help="name chords live: stream a file, or listen to a device")
    p.add_argument("--input", help="an audio file (streamed in real time) or an input device name/index")
    p.add_argument("--list-devices", action="store_true", help="list the daemon's audio input devices")
    p.add_argument("--speed", type=float, default=1.0, help="file streaming speed (x real time; 0 = as fast as "
                                                            "possible)")
    p.add_argument("--key", help="read Roman numerals in this key, e.g. 'Eb:major' (default: tracked)")
    p.add_argument("--sample-rate", type=int, default=44100, help="device sample rate (Hz)")
    p.add_argument("--channels", type=int, default=2, help="device channels")
    p.add_argument("--midi-port", help="play each chord's notes on this MIDI output port ('' = default)")
    p.add_argument("--latency", choices=["steady", "fast"], help="fast (default): the causal live network, about "
                   "0.25 s to name a change; steady: the offline chord network at the stream's edge, about 0.45 s")
    p.add_argument("--start", type=float, default=0.0, help="file input: start this many seconds into the file")
    p.add_argument("--tuning", type=float, help="cents the music is tuned off A4 = 440 Hz, -50..50 (what `bandmate "
                   "analyze` prints as tuning; default 0)")
    p.add_argument("--events-file", help="also append each event to this file as one JSON line (DAW scripts)")
    p.add_argument("--clock-file", help="JSON file {tempo, beat, playing, stop} the DAW rewrites: sent as "
                                        "live_clock when it changes; stop: true ends the session")
    p.set_defaults(fn=cmd_live)
    return ap


def _delegate(name, argv):
    target = LOCAL_ACTIONS[name] if isinstance(name, tuple) else DELEGATED[name][0]
    module, func = target.split(":")
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        print("bandmate %s is not available in this installation (%s)"
              % (" ".join(name) if isinstance(name, tuple) else name, exc), file=sys.stderr)
        return 2
    return getattr(mod, func)(argv) or 0


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DELEGATED:
        return _delegate(argv[0], argv[1:])
    if tuple(argv[:2]) in LOCAL_ACTIONS:
        return _delegate(tuple(argv[:2]), argv[2:])
    ap = build_parser()
    args = ap.parse_args(argv)
    if not getattr(args, "fn", None):
        ap.print_help()
        return 1
    from .client import DaemonUnreachable

    client = None
    try:
        client = _client(args)
        args.fn(client, args)
        return 0
    except BandmateError as exc:
        print("bandmate: error %s: %s" % (exc.code, exc.message), file=sys.stderr)
        return 1
    except DaemonUnreachable as exc:
        print("bandmate: %s" % exc, file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130
    finally:
        if client is not None:
            client.close()


if __name__ == "__main__":
    sys.exit(main())
