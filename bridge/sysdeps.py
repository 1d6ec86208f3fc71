"""System packages Bandmate uses outside Python, and how to get them. Standard library only: the Makefile runs
this with the system Python before the virtual environment exists. Also `bandmate doctor`.

    python3 bridge/sysdeps.py check      # report what is missing (exit 1 if something is)
    python3 bridge/sysdeps.py install    # Debian/Ubuntu as root or with sudo: apt-get install; else explain
"""
import os
import platform
import shutil
import subprocess
import sys

# (what, how to tell it is there, Debian package, why Bandmate needs it)
REQUIREMENTS = [
    ("fluidsynth", ("cmd", "fluidsynth"), "fluidsynth", "renders MIDI to audio (songbook, generation)"),
    ("mma", ("cmd", "mma"), "mma", "Musical MIDI Accompaniment: the songbook's groove library"),
    ("FluidR3 GM soundfont", ("file", "/usr/share/sounds/sf2/FluidR3_GM.sf2"), "fluid-soundfont-gm",
     "a General MIDI soundfont"),
    ("MuseScore General soundfont", ("glob", "/usr/share/sounds/sf*/MuseScore_General*"),
     "musescore-general-soundfont", "a second General MIDI soundfont"),
    ("liblo tools", ("cmd", "oscsend"), "liblo-tools", "oscsend/oscdump: an independent OSC peer for tests"),
    ("PortAudio", ("lib", "portaudio"), "libportaudio2", "audio input devices for live chords"),
    ("libsndfile", ("lib", "sndfile"), "libsndfile1", "audio file decoding"),
    ("Lua 5.4", ("cmd", "lua5.4"), "lua5.4", "runs the REAPER scripts in tests"),
    # The companion window (`bandmate ui`, PySide6): the wheel bundles Qt but links these system libraries, and
    # even the offscreen platform (tests, --screenshot) loads them. Linux only: elsewhere the wheels carry all.
    *([("EGL", ("lib", "EGL"), "libegl1", "Qt GUI (companion window), also offscreen"),
       ("OpenGL (libGL)", ("lib", "GL"), "libgl1", "Qt GUI (companion window), also offscreen"),
       ("X11 client library", ("lib", "X11"), "libx11-6", "Qt GUI (companion window), also offscreen"),
       ("xkbcommon", ("lib", "xkbcommon"), "libxkbcommon0", "Qt GUI keyboard handling (companion window)"),
       ("fontconfig", ("lib", "fontconfig"), "libfontconfig1", "Qt finds fonts (companion window)"),
       ("FreeType", ("lib", "freetype"), "libfreetype6", "Qt draws text (companion window)"),
       ("GLib", ("lib", "glib-2.0"), "libglib2.0-0", "Qt's event loop (companion window)"),
       ("D-Bus library", ("lib", "dbus-1"), "libdbus-1-3", "Qt GUI (companion window)"),
       ("DejaVu fonts", ("glob", "/usr/share/fonts/truetype/dejavu/DejaVuSans*.ttf"), "fonts-dejavu-core",
        "text in the companion window and its screenshots"),
       ("xcb-cursor", ("lib", "xcb-cursor"), "libxcb-cursor0", "Qt's X11 plugin: the companion window on an "
        "X11 desktop")]
      if sys.platform.startswith("linux") else []),
]

OTHER_OS_HINTS = {
    "Darwin": "macOS: brew install fluid-synth liblo portaudio libsndfile lua (MMA from its project page); "
              "a General MIDI soundfont is bundled with pretty_midi.",
    "Windows": "Windows: the pip wheels bundle libsndfile and PortAudio; install FluidSynth from its releases "
               "and put its bin folder (fluidsynth.exe and libfluidsynth-3.dll) on PATH. Soundfont rendering falls back to pretty_midi's bundled one.",
}


def _present(kind, what):
    if kind == "cmd":
        return shutil.which(what) is not None
    if kind == "file":
        return os.path.exists(what)
    if kind == "glob":
        import glob

        return bool(glob.glob(what))
    if kind == "lib":
        import ctypes.util

        return ctypes.util.find_library(what) is not None
    return False


def missing():
    return [r for r in REQUIREMENTS if not _present(*r[1])]


def is_debian():
    return os.path.exists("/etc/debian_version") and shutil.which("apt-get") is not None


def check():
    gone = missing()
    for name, _, pkg, why in REQUIREMENTS:
        state = "missing" if any(g[0] == name for g in gone) else "ok"
        print("%-28s %-8s %s" % (name, state, why))
    if gone:
        print("\nmissing: " + ", ".join(g[0] for g in gone))
        if is_debian():
            print("install with: sudo apt-get install -y " + " ".join(sorted({g[2] for g in gone})))
        else:
            print(OTHER_OS_HINTS.get(platform.system(), "install the programs above with your package manager"))
    return 1 if gone else 0


def install():
    gone = missing()
    if not gone:
        print("system packages: all present")
        return 0
    pkgs = sorted({g[2] for g in gone})
    if not is_debian():
        print("bandmate: not a Debian/Ubuntu machine; please install: %s" % ", ".join(g[0] for g in gone))
        print(OTHER_OS_HINTS.get(platform.system(), ""))
        return 0  # the Python side still installs; features needing these say so clearly at run time
    prefix = []
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        if shutil.which("sudo") and subprocess.call(["sudo", "-n", "true"], stderr=subprocess.DEVNULL) == 0:
            prefix = ["sudo", "-n"]
        else:
            print("bandmate: these Debian packages are needed and I am not root (and sudo needs a password):\n"
                  "    sudo apt-get install -y %s\nthen run make again." % " ".join(pkgs))
            return 0
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    print("installing Debian packages: " + " ".join(pkgs), flush=True)
    subprocess.call(prefix + ["apt-get", "update", "-qq"], env=env)
    rc = subprocess.call(prefix + ["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + pkgs, env=env)
    if rc != 0:
        print("bandmate: apt-get install failed (exit %d); install by hand: %s" % (rc, " ".join(pkgs)))
    return rc


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    cmd = argv[0] if argv else "check"
    if cmd == "install":
        return install()
    return check()


if __name__ == "__main__":
    sys.exit(main())
