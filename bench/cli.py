"""`bandmate bench <suite>`: transport (and more suites as they land)."""
import argparse
import importlib
import sys

SUITES = {
    "transport": ("bench.transport", "ping latency over ZeroMQ and OSC, concurrent clients, cold start"),
    "analysis": ("bench.analysis", "Bandmate's analyzer beside Chordino, madmom, essentia, librosa on a songbook"),
    "roman": ("bench.roman", "symbolic key/chord/Roman numeral analysis vs music21's RomanText analyses"),
    "home-key": ("bench.home_key", "the symbolic path's home key (MIDI in): key held longest vs the key scorer"),
    "separation": ("bench.separation", "htdemucs's real-time factor on this CPU (1 and 2 threads)"),
    "live": ("bench.live", "live chord events on songbook test songs: latency, accuracy vs offline, CPU"),
    "generation": ("bench.generation", "stem generation beside MMA and the songbook reference: follows the "
                                       "request, musical measures, speed"),
    "render": ("bench.render", "the diffusion renderer beside the soundfont renderer on held-out MIDI: chords, "
                               "notes, onsets, spectral distance, real-time factor (torch and onnxruntime)"),
    "adapt": ("bench.adapt", "fine-tuning the chord network on your own songs via `bandmate dataset`: with your "
                             "labels, with the analysis' own, and the shipped network, on a sound it never heard"),
    "speed": ("bench.speed", "whole analysis of one 3-minute song, Bandmate beside the peers, as ratios"),
}


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in SUITES:
        ap = argparse.ArgumentParser(prog="bandmate bench")
        ap.add_argument("suite", choices=sorted(SUITES), help="; ".join("%s: %s" % (k, v[1])
                                                                        for k, v in SUITES.items()))
        ap.parse_args(argv)
        return 2
    try:
        suite = importlib.import_module(SUITES[argv[0]][0])
    except ImportError as exc:
        print("bandmate bench %s is not available in this installation: %s" % (argv[0], exc), file=sys.stderr)
        return 2
    return suite.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
