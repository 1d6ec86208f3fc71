"""`bandmate install ableton|reaper [--path DIR]`: copy the DAW scripts where the DAW finds them.

Each DAW has its own module (bridge/install_ableton.py, bridge/install_reaper.py) with `main(argv)`; this only
picks one, so a DAW's installer can change without touching the other.
"""
import importlib
import sys

TARGETS = {
    "ableton": ("bridge.install_ableton", "the Live MIDI Remote Script into the User Library"),
    "reaper": ("bridge.install_reaper", "the ReaScripts into REAPER's Scripts folder, registered as actions"),
}


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in TARGETS:
        print("usage: bandmate install {%s} [--path DIR]\n%s" % ("|".join(TARGETS), "\n".join(
            "  %-8s %s" % (k, v[1]) for k, v in TARGETS.items())), file=sys.stderr)
        return 2
    return importlib.import_module(TARGETS[argv[0]][0]).main(argv[1:]) or 0


if __name__ == "__main__":
    sys.exit(main())
