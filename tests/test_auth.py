"""Auth: off loopback a token is mandatory; with a token set, every request on both transports must carry it."""
import pytest

from daemon.config import ConfigError, load_config
from protocol import BandmateError


def test_non_loopback_without_token_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="token"):
        load_config(str(tmp_path / "none.toml"), {"server": {"host": "0.0.0.0"}}, environ={})
    cfg = load_config(str(tmp_path / "none.toml"), {"server": {"host": "0.0.0.0", "token": "s3cret"}}, environ={})
    assert cfg.server.token == "s3cret" and cfg.to_dict()["server"]["token"] == "***"


def test_serve_refuses_public_bind_without_token(tmp_path):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "bridge.cli", "serve", "--host", "0.0.0.0", "--data-dir",
                          str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "token" in out.stderr


def test_token_required_on_every_request(make_daemon):
    d = make_daemon(["--models", "none", "--token", "s3cret"])
    with d.client(token="") as c:
        with pytest.raises(BandmateError) as e:
            c.ping()
        assert e.value.code == "unauthorized"
    with d.client(token="wrong") as c:
        with pytest.raises(BandmateError) as e:
            c.ping()
        assert e.value.code == "unauthorized"
    with d.client(token="s3cret") as c:
        assert c.ping("ok")["payload"] == "ok"
    with d.osc_client() as osc:
        with pytest.raises(BandmateError) as e:
            osc.request("ping")
        assert e.value.code == "unauthorized"
    with d.osc_client(token="s3cret") as osc:
        assert osc.request("ping", {"payload": "ok"})["payload"] == "ok"
