"""`bandmate install ableton [--path DIR]`: copy the Live Remote Script into Live's User Library.

Live loads user Remote Scripts from the User Library's "Remote Scripts" folder:
  Windows: %USERPROFILE%\\Documents\\Ableton\\User Library\\Remote Scripts
  macOS:   ~/Music/Ableton/User Library/Remote Scripts
`--path` names that folder directly (any OS; it is created when missing). The package is copied as `Bandmate`,
with protocol/osc.py, messages.py and errors.py vendored fresh into Bandmate/vendor/; a settings.json the
user already has is kept. Pure Python, no shell.
"""
import argparse
import os
import shutil
import sys

NAME = "Bandmate"
VENDORED = ("osc.py", "messages.py", "errors.py")
KEEP = ("settings.json",)  # the user's settings survive a reinstall


def script_source():
    """The Remote Script package folder in this checkout or installation."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    src = os.path.join(here, "ableton_remote_script", NAME)
    if os.path.isfile(os.path.join(src, "__init__.py")):
        return src
    import ableton_remote_script  # an installed wheel

    return ableton_remote_script.SCRIPT_DIR


def protocol_dir():
    try:
        import protocol
    except ImportError:
        return None
    return os.path.dirname(os.path.abspath(protocol.__file__))


def user_library_candidates(home=None, platform=None, env=None):
    """User Library folders to try, the platform's own first."""
    home = home or os.path.expanduser("~")
    platform = platform or sys.platform
    env = os.environ if env is None else env
    windows = [os.path.join(env.get("USERPROFILE") or home, "Documents", "Ableton", "User Library"),
               os.path.join(env.get("OneDrive") or os.path.join(env.get("USERPROFILE") or home, "OneDrive"),
                            "Documents", "Ableton", "User Library")]
    mac = [os.path.join(home, "Music", "Ableton", "User Library")]
    if platform.startswith("win"):
        return windows
    if platform == "darwin":
        return mac
    return mac + windows[:1]  # Live has no Linux build; a copied or mounted User Library may still be there


def find_remote_scripts(home=None, platform=None, env=None):
    """The 'Remote Scripts' folder of the first User Library that exists (created inside it when missing), or
    None."""
    for library in user_library_candidates(home, platform, env):
        if os.path.isdir(library):
            target = os.path.join(library, "Remote Scripts")
            os.makedirs(target, exist_ok=True)
            return target
    return None


def _ignore(src_dir, names):
    return [n for n in names if n == "__pycache__" or n.endswith((".pyc", ".pyo"))]


def install(remote_scripts, name=NAME):
    """Copy the package to <remote_scripts>/<name>; returns its path."""
    src = script_source()
    dest = os.path.join(remote_scripts, name)
    kept = {}
    if os.path.isdir(dest):
        for keep in KEEP:
            path = os.path.join(dest, keep)
            if os.path.isfile(path):
                with open(path, "rb") as fh:
                    kept[keep] = fh.read()
        shutil.rmtree(dest)
    shutil.copytree(src, dest, ignore=_ignore)
    proto = protocol_dir()
    if proto is not None:
        for fname in VENDORED:
            if os.path.isfile(os.path.join(proto, fname)):
                shutil.copyfile(os.path.join(proto, fname), os.path.join(dest, "vendor", fname))
    for keep, data in kept.items():
        with open(os.path.join(dest, keep), "wb") as fh:
            fh.write(data)
    return dest


def main(argv=None):
    ap = argparse.ArgumentParser(prog="bandmate install ableton",
                                 description="Copy Bandmate's MIDI Remote Script into Live's User Library.")
    ap.add_argument("--path", help="the 'Remote Scripts' folder to install into (default: found in the User "
                                   "Library: Documents\\Ableton on Windows, ~/Music/Ableton on macOS)")
    args = ap.parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.path:
        target = os.path.abspath(os.path.expanduser(args.path))
        try:
            os.makedirs(target, exist_ok=True)
        except OSError as exc:
            print("error: cannot create %s: %s" % (target, exc), file=sys.stderr)
            return 2
    else:
        target = find_remote_scripts()
        if target is None:
            tried = "\n  ".join(os.path.join(p, "Remote Scripts") for p in user_library_candidates())
            print("error: Live's User Library was not found; looked for:\n  %s\n"
                  "Pass the Remote Scripts folder with --path DIR (Live shows the User Library's location in "
                  "Preferences > Library)." % tried, file=sys.stderr)
            return 2
    try:
        dest = install(target)
    except OSError as exc:
        print("error: cannot install into %s: %s" % (target, exc), file=sys.stderr)
        return 2
    print("Installed the Bandmate Remote Script into %s" % dest)
    print("Next, in Live: Preferences > Link, Tempo & MIDI > Control Surface: choose 'Bandmate' in an empty "
          "slot (Input/Output: None). Restart Live if it does not list it yet.")
    print("Start the daemon (`bandmate serve`), select a clip and rename it to end in [bm analyze], or send "
          "/bandmate_live/analyze_selected to UDP port 7409. Settings: %s" % os.path.join(dest, "settings.json"))
    return 0


COMMANDS = {"analyze": "analyze_selected", "generate": "generate", "live": "live_toggle", "attach": "live_attach",
            "stop": "live_stop", "status": "status"}


def command_main(argv=None):
    """`bandmate ableton analyze|generate [STEMS]|live|attach SESSION|stop|status [--port 7409]`: send a command to
    the Remote Script running inside Live (its UDP port), as a clip-name tag would. `status` prints its reply."""
    import json
    import socket

    from protocol.osc import decode_packet, encode_message

    ap = argparse.ArgumentParser(prog="bandmate ableton", description=command_main.__doc__.split(":", 1)[1])
    ap.add_argument("action", choices=sorted(COMMANDS))
    ap.add_argument("value", nargs="?", help="generate: stems ('bass,drums'); attach: a live session id")
    ap.add_argument("--port", type=int, default=7409, help="the script's listen_port setting (default 7409)")
    ap.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for the status reply")
    args = ap.parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.action == "attach" and not args.value:
        ap.error("attach needs a session id")
    address = "/bandmate_live/" + COMMANDS[args.action]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(args.timeout)
        sock.sendto(encode_message(address, [args.value] if args.value else []), ("127.0.0.1", args.port))
        if args.action != "status":
            print("sent %s to the Remote Script on UDP port %d (Live's status bar shows what happens)"
                  % (address, args.port))
            return 0
        try:
            reply = decode_packet(sock.recvfrom(65536)[0])[0]
        except (socket.timeout, OSError):
            print("error: no answer on UDP port %d: is Live running with the Bandmate Control Surface selected?"
                  % args.port, file=sys.stderr)
            return 1
    print(json.dumps(json.loads(reply.args[0]), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
