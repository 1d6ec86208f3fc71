"""The script's settings: defaults, overridden by settings.json beside this file (the installer writes a template
and never overwrites the user's copy). A Remote Script has no preferences page, so a JSON file is the UI."""
import json
import os
import sys

DEFAULTS = {
    "daemon_host": "127.0.0.1",
    "daemon_port": 0,             # 0: the running daemon's daemon.json, else 7400
    "listen_port": 7409,          # the script's own UDP port: daemon replies, events and /bandmate_live/* commands
    "token": "",                  # the daemon's auth token, when it has one
    "request_timeout": 5.0,       # seconds without a reply before the daemon is called unreachable
    "job_timeout": 900.0,         # seconds a job may run before the script stops waiting
    "job_poll": 0.3,              # seconds between `job` requests while a job runs
    "out_dir": "",                # where the daemon writes files; default: <User Library>/Bandmate
    "user_library": "",           # Live's User Library; default: found from this script's folder
    "chord_track_name": "Bandmate Chords",
    "set_song_scale": False,      # Live 12: also set the Set's root note and scale from the analysed key
    "name_triggers": True,        # react to clip names ending in [bm analyze], [bm generate], [bm live]
    "live_source": "device",      # live chords: the daemon listens to an input device (e.g. a loopback)
    "live_device": "",            # that device's name or index ('' = the system default input)
    "live_key": "",               # read Roman numerals in this key ('' = tracked)
    "live_latency": "",           # '' = the daemon's default (fast); 'steady': the offline chord network (slower)
    "live_tuning": "",            # cents off A4 = 440 Hz; '' = the last analysis' (none yet: the daemon reads it)
    "clock_interval": 0.2,        # seconds between live_clock messages while a live session runs
    "live_clip_name": False,      # also write the current chord into the selected clip's name while live
    "generate_stems": "drums,bass,keys,melody",
    "generate_bars": 0,           # 0: the analysed clip's length, else the daemon's default
    "generate_genre": "",
    "generate_seed": -1,          # -1: the daemon picks
    "generate_render": True,      # also render audio (false: MIDI only, faster)
}

SCRIPT_DIR = os.path.dirname(os.path.abspath(__file__))
SETTINGS_FILE = os.path.join(SCRIPT_DIR, "settings.json")


def load(path=SETTINGS_FILE):
    """(settings dict, problem text or ''). A broken file never stops the script: defaults are used and the
    problem is shown in Live's status bar."""
    out = dict(DEFAULTS)
    if not os.path.exists(path):
        return out, ""
    try:
        with open(path, "r", encoding="utf-8") as fh:
            data = json.load(fh)
        if not isinstance(data, dict):
            raise ValueError("the file must hold a JSON object")
    except (OSError, ValueError) as exc:
        return out, "settings.json ignored (%s)" % exc
    unknown = []
    for key, value in data.items():
        if key.startswith("_"):
            continue  # comments
        if key not in DEFAULTS:
            unknown.append(key)
            continue
        default = DEFAULTS[key]
        if isinstance(default, bool):
            value = bool(value)
        elif isinstance(default, (int, float)) and not isinstance(value, (int, float)):
            unknown.append(key)
            continue
        out[key] = value
    return out, ("settings.json: unknown or bad keys %s" % ", ".join(sorted(unknown))) if unknown else ""


def data_dir():
    """The daemon's data dir, as platformdirs names it for app 'bandmate' (BANDMATE_HOME wins)."""
    if os.environ.get("BANDMATE_HOME"):
        return os.environ["BANDMATE_HOME"]
    home = os.path.expanduser("~")
    if sys.platform.startswith("win"):
        return os.path.join(os.environ.get("LOCALAPPDATA") or os.path.join(home, "AppData", "Local"), "bandmate")
    if sys.platform == "darwin":
        return os.path.join(home, "Library", "Application Support", "bandmate")
    return os.path.join(os.environ.get("XDG_DATA_HOME") or os.path.join(home, ".local", "share"), "bandmate")


def daemon_address(settings):
    """(host, port) of the daemon's OSC server."""
    host = settings.get("daemon_host") or "127.0.0.1"
    port = int(settings.get("daemon_port") or 0)
    if port:
        return host, port
    try:
        with open(os.path.join(data_dir(), "daemon.json"), "r", encoding="utf-8") as fh:
            osc = json.load(fh)["endpoints"]["osc"]  # "udp://127.0.0.1:7400"
        return host, int(osc.rsplit(":", 1)[1])
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return host, 7400


def user_library(settings):
    """Live's User Library: the setting, else the folder holding 'Remote Scripts' that holds this script, else
    the platform default."""
    if settings.get("user_library"):
        return settings["user_library"]
    parent = os.path.dirname(SCRIPT_DIR)
    if os.path.basename(parent).lower() == "remote scripts":
        return os.path.dirname(parent)
    home = os.path.expanduser("~")
    if sys.platform == "darwin":
        return os.path.join(home, "Music", "Ableton", "User Library")
    return os.path.join(home, "Documents", "Ableton", "User Library")


def output_dir(settings):
    """Where generated and analysed files go: the setting, else <User Library>/Bandmate (Live's browser shows it,
    so the files are ready to drag)."""
    return settings.get("out_dir") or os.path.join(user_library(settings), "Bandmate")
