"""The `bandmate` command, as a user runs it: against a daemon, and in-process with --local."""
import json
import os
import subprocess
import sys

from .conftest import ROOT


def bm(*args, home, timeout=120):
    env = dict(os.environ, BANDMATE_HOME=str(home), BANDMATE_CONFIG=os.path.join(str(home), "none.toml"))
    return subprocess.run([sys.executable, "-m", "bridge.cli"] + list(args), cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_cli_against_a_running_daemon(daemon, tone):
    ep = ["--endpoint", daemon.zmq, "--pub-endpoint", daemon.pub]
    out = bm("ping", "--count", "3", *ep, home=daemon.home)
    assert out.returncode == 0 and out.stdout.startswith("pong from")
    out = bm("status", *ep, home=daemon.home)  # found through daemon.json as well as the flags
    assert out.returncode == 0 and "device:" in out.stdout and "models:" in out.stdout
    out = bm("analyze", tone, "--json", *ep, home=daemon.home)
    assert out.returncode == 0, out.stderr
    song = json.loads(out.stdout)
    assert song["source"]["channels"] == 2 and "decode" in out.stderr  # progress went to stderr
    out = bm("analyze", tone, "--no-wait", *ep, home=daemon.home)
    job_id = out.stdout.split()[1]
    out = bm("jobs", *ep, home=daemon.home)
    assert job_id in out.stdout
    out = bm("analyze", "/no/such.wav", *ep, home=daemon.home)
    assert out.returncode == 1 and "file_not_found" in out.stderr


def test_cli_without_daemon_says_so(tmp_path):
    out = bm("ping", "--endpoint", "tcp://127.0.0.1:9", "--timeout", "0.5", home=tmp_path)
    assert out.returncode == 3 and "bandmate serve" in out.stderr
    assert "no Bandmate daemon listens" in out.stderr or "no reply" in out.stderr  # refused port, or timed out first
    out = bm("ping", "--endpoint", "tcp://127.0.0.1:9", "--timeout", "30", home=tmp_path)
    assert out.returncode == 3 and "no Bandmate daemon listens" in out.stderr and "--local" in out.stderr


def test_cli_local_runs_in_process(tmp_path, tone):
    out = bm("analyze", tone, "--local", "--no-models", "--json", home=tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["source"]["sample_rate"] == 44100
    out = bm("jobs", "--local", "--no-models", "--json", home=tmp_path)
    assert json.loads(out.stdout)[0]["type"] == "analyze"
    assert os.path.exists(tmp_path / "local" / "bandmate.sqlite3")


def test_doctor_lists_system_packages(tmp_path):
    out = bm("doctor", "check", home=tmp_path)
    assert "fluidsynth" in out.stdout and "liblo tools" in out.stdout
