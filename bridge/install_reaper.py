"""`bandmate install reaper [--path DIR]`: copy the Bandmate ReaScripts into REAPER and register them as actions.

REAPER keeps user scripts under <resource folder>/Scripts and its action list in <resource folder>/reaper-kb.ini,
one `SCR 4 0 RS<id> "Custom: <name>" "<path under Scripts>"` line per script. The installer copies the scripts to
Scripts/Bandmate/, adds those lines (replacing its own earlier ones, so running it again changes nothing), and
writes Scripts/Bandmate/bandmate_config.lua with the `bandmate` command of this Python environment, which the
scripts spawn. Settings of your own go in bandmate_user.lua beside it; the installer never overwrites that file.
"""
import argparse
import hashlib
import os
import shutil
import sys

ACTIONS = (  # (script file, action name in REAPER's action list)
    ("bandmate_analyze_item.lua", "Bandmate: Analyze selected item"),
    ("bandmate_generate_stem.lua", "Bandmate: Generate stem at edit cursor"),
    ("bandmate_live_chords.lua", "Bandmate: Live chords (toggle)"),
)
LIBRARIES = ("bandmate_common.lua",)
SUBDIR = "Bandmate"
CONFIG = "bandmate_config.lua"
USER_CONFIG = "bandmate_user.lua"

USER_TEMPLATE = """-- Your Bandmate settings for REAPER (`bandmate install reaper` never overwrites this file).
-- Uncomment what you need; these override bandmate_config.lua.
return {
  -- endpoint = "tcp://127.0.0.1:7401",      -- the daemon, when it is not the one in its daemon.json
  -- pub_endpoint = "tcp://127.0.0.1:7402",
  -- token = "secret",                       -- when the daemon requires one
  -- timeout = 10,                           -- seconds to wait for each reply
  -- tempo_hint = false,                     -- analyse without the project tempo/meter (audio not at project tempo)
  -- live_input = "BlackHole 2ch",           -- live chords listen to this input instead of the selected item
  -- work_dir = "/path/for/bandmate/files",  -- default: <project media folder>/Bandmate
}
"""


def resource_dir(platform=None, environ=None, home=None):
    """REAPER's default resource folder on this OS (where reaper.ini, reaper-kb.ini and Scripts/ live)."""
    platform = platform or sys.platform
    environ = os.environ if environ is None else environ
    home = home or os.path.expanduser("~")
    if platform.startswith("win"):
        return os.path.join(environ.get("APPDATA") or os.path.join(home, "AppData", "Roaming"), "REAPER")
    if platform == "darwin":
        return os.path.join(home, "Library", "Application Support", "REAPER")
    return os.path.join(environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config"), "REAPER")


def scripts_source():
    """The folder holding the .lua files: the installed `reaper_scripts` package, else the source checkout."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    candidates = [os.path.join(here, "reaper_scripts")]
    try:
        import importlib.util

        spec = importlib.util.find_spec("reaper_scripts")
        if spec is not None and spec.submodule_search_locations:
            candidates[:0] = list(spec.submodule_search_locations)
    except (ImportError, ValueError):
        pass
    for path in candidates:
        if os.path.isfile(os.path.join(path, LIBRARIES[0])):
            return path
    raise FileNotFoundError("the Bandmate ReaScripts were not found (looked in %s)" % ", ".join(candidates))


def command_id(script):
    """The action's command id (REAPER shows it as _RS<id>): stable, so reinstalling keeps your shortcuts."""
    return "RS" + hashlib.sha1(("bandmate/" + script).encode("utf-8")).hexdigest()


def kb_lines():
    return ['SCR 4 0 %s "Custom: %s" "%s/%s"' % (command_id(script), name, SUBDIR, script)
            for script, name in ACTIONS]


def _ours(line):
    parts = line.split()
    if len(parts) < 4 or parts[0] != "SCR":
        return False
    ids = {command_id(s) for s, _ in ACTIONS}
    return parts[3] in ids or any(('"%s/%s"' % (SUBDIR, s)) in line or line.rstrip().endswith(" %s/%s" % (SUBDIR, s))
                                  for s, _ in ACTIONS)


def update_kb(path):
    """Add the Bandmate actions to reaper-kb.ini (replacing earlier Bandmate lines). Returns True if it changed."""
    old = ""
    if os.path.exists(path):
        with open(path, "rb") as fh:
            old = fh.read().decode("utf-8", errors="surrogateescape")
    newline = "\r\n" if "\r\n" in old else "\n"
    kept = [line for line in old.splitlines() if not _ours(line)]
    while kept and not kept[-1].strip():
        kept.pop()
    text = newline.join(kept + kb_lines()) + newline
    if text == old:
        return False
    tmp = path + ".bandmate-tmp"
    with open(tmp, "wb") as fh:
        fh.write(text.encode("utf-8", errors="surrogateescape"))
    os.replace(tmp, path)
    return True


def bandmate_command(executable=None, platform=None):
    """argv prefix that runs the `bandmate` client of this Python environment."""
    executable = executable or sys.executable
    platform = platform or sys.platform
    bindir = os.path.dirname(os.path.abspath(executable))
    names = ["bandmate.exe", os.path.join("Scripts", "bandmate.exe")] if platform.startswith("win") else ["bandmate"]
    for name in names:
        path = os.path.join(bindir, name)
        if os.path.isfile(path):
            return [path]
    return [os.path.abspath(executable), "-m", "bridge.cli"]


def lua_string(value):
    """A Lua string literal (any bytes: Windows paths, quotes, non-ASCII)."""
    out = []
    for ch in str(value).encode("utf-8"):
        c = chr(ch)
        if c in '\\"':
            out.append("\\" + c)
        elif 32 <= ch < 127:
            out.append(c)
        else:
            out.append("\\%03d" % ch)
    return '"' + "".join(out) + '"'


def config_text(argv, endpoint=None, pub_endpoint=None):
    lines = ["-- Written by `bandmate install reaper`; it is rewritten on every install.",
             "-- Put settings of your own in bandmate_user.lua beside this file.",
             "return {",
             "  bandmate = {%s},  -- the command the scripts spawn" % ", ".join(lua_string(a) for a in argv)]
    if endpoint:
        lines.append("  endpoint = %s," % lua_string(endpoint))
    if pub_endpoint:
        lines.append("  pub_endpoint = %s," % lua_string(pub_endpoint))
    lines.append("}")
    return "\n".join(lines) + "\n"


def install(resource, endpoint=None, pub_endpoint=None, executable=None, log=print):
    """Copy the scripts into <resource>/Scripts/Bandmate, write the config, register the actions. Returns the
    scripts folder."""
    src = scripts_source()
    dest = os.path.join(resource, "Scripts", SUBDIR)
    os.makedirs(dest, exist_ok=True)
    for name in LIBRARIES + tuple(s for s, _ in ACTIONS):
        shutil.copyfile(os.path.join(src, name), os.path.join(dest, name))
    with open(os.path.join(dest, CONFIG), "w", encoding="utf-8", newline="\n") as fh:
        fh.write(config_text(bandmate_command(executable), endpoint, pub_endpoint))
    user = os.path.join(dest, USER_CONFIG)
    if not os.path.exists(user):
        with open(user, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(USER_TEMPLATE)
    changed = update_kb(os.path.join(resource, "reaper-kb.ini"))
    log("copied %d scripts to %s" % (len(LIBRARIES) + len(ACTIONS), dest))
    log("%s the actions in %s:" % ("registered" if changed else "already registered",
                                   os.path.join(resource, "reaper-kb.ini")))
    for script, name in ACTIONS:
        log("  %-40s _%s" % (name, command_id(script)))
    return dest


def main(argv=None):
    ap = argparse.ArgumentParser(prog="bandmate install reaper",
                                 description="Copy the Bandmate ReaScripts into REAPER and register them as actions.")
    ap.add_argument("--path", help="REAPER's resource folder (default: %s); in REAPER: Options > Show REAPER "
                                   "resource path" % resource_dir())
    ap.add_argument("--endpoint", help="daemon ZeroMQ endpoint the scripts use (default: the running daemon's)")
    ap.add_argument("--pub-endpoint", help="daemon event endpoint the scripts use")
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    resource = os.path.abspath(os.path.expanduser(args.path)) if args.path else resource_dir()
    if not args.path and not os.path.isdir(resource):
        print("REAPER's resource folder was not found at %s. Start REAPER once, or give it with --path (REAPER: "
              "Options > Show REAPER resource path in explorer/finder)." % resource, file=sys.stderr)
        return 1
    try:
        install(resource, args.endpoint, args.pub_endpoint)
    except (OSError, FileNotFoundError) as exc:
        print("bandmate install reaper: %s" % exc, file=sys.stderr)
        return 1
    print("Best installed with REAPER closed: a running REAPER reads the action list when it starts. Then find the "
          "actions in Actions > Show action list by typing 'Bandmate'.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
