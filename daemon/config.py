"""Configuration: defaults, then a TOML file, then BANDMATE_* environment variables, then command-line flags.

The TOML file is `<config dir>/config.toml` (or --config PATH / BANDMATE_CONFIG). Sections mirror the
dataclasses below, e.g.

    [server]
    host = "127.0.0.1"
    zmq_port = 7401
    [jobs]
    concurrency = 2
    [models]
    load = ["*"]          # which registry models to load at start; [] for none
    device = "auto"       # auto | directml | cuda | mps | cpu
"""
import dataclasses
import ipaddress
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from protocol import DEFAULT_HOST, DEFAULT_OSC_PORT, DEFAULT_PUB_PORT, DEFAULT_ZMQ_PORT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

APP = "bandmate"


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message names the setting."""


@dataclass
class ServerConfig:
    host: str = DEFAULT_HOST
    zmq_port: int = DEFAULT_ZMQ_PORT
    pub_port: int = DEFAULT_PUB_PORT
    osc_port: int = DEFAULT_OSC_PORT
    token: str = ""  # required (and then checked on every request) when host is not loopback
    max_osc_bytes: int = 32768


@dataclass
class JobsConfig:
    concurrency: int = 2
    max_queued: int = 1000
    timeout_s: float = 900.0  # default per-job time limit
    keep_days: float = 30.0


@dataclass
class ModelsConfig:
    load: list = field(default_factory=lambda: ["*"])
    device: str = "auto"
    # Extra checkpoints declared by the user: [{name, path, format: torch|safetensors|onnx}]
    extra: list = field(default_factory=list)
    # htdemucs weights: a .th/.safetensors file or a Demucs local-repo folder ("" = the user model cache)
    htdemucs: str = ""


@dataclass
class Config:
    data_dir: str = ""
    log_level: str = "info"
    log_format: str = "text"  # text | json (on the console; the log file is always JSON lines)
    server: ServerConfig = field(default_factory=ServerConfig)
    jobs: JobsConfig = field(default_factory=JobsConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)

    @property
    def data_path(self):
        return Path(self.data_dir)

    def to_dict(self):
        d = dataclasses.asdict(self)
        if d["server"]["token"]:
            d["server"]["token"] = "***"
        return d


def default_data_dir():
    return os.environ.get("BANDMATE_HOME") or platformdirs.user_data_dir(APP, appauthor=False)


def default_config_path():
    return os.environ.get("BANDMATE_CONFIG") or os.path.join(platformdirs.user_config_dir(APP, appauthor=False),
                                                             "config.toml")


def is_loopback(host):
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _apply(obj, values, where):
    for key, value in values.items():
        if not hasattr(obj, key):
            raise ConfigError("%s: unknown setting %r" % (where, key))
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError("%s.%s must be a table" % (where, key))
            _apply(current, value, "%s.%s" % (where, key))
            continue
        if isinstance(current, bool):
            if isinstance(value, str):
                value = value.lower() in ("1", "true", "yes", "on")
        elif isinstance(current, int) and not isinstance(value, bool):
            try:
                value = int(value)
            except (TypeError, ValueError):
                raise ConfigError("%s.%s must be an integer, got %r" % (where, key, value))
        elif isinstance(current, float):
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise ConfigError("%s.%s must be a number, got %r" % (where, key, value))
        elif isinstance(current, list) and isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        setattr(obj, key, value)


# Environment variables that override settings (flags override these in turn).
ENV_VARS = {
    "BANDMATE_HOME": ("data_dir",),
    "BANDMATE_HOST": ("server", "host"),
    "BANDMATE_ZMQ_PORT": ("server", "zmq_port"),
    "BANDMATE_PUB_PORT": ("server", "pub_port"),
    "BANDMATE_OSC_PORT": ("server", "osc_port"),
    "BANDMATE_TOKEN": ("server", "token"),
    "BANDMATE_DEVICE": ("models", "device"),
    "BANDMATE_MODELS": ("models", "load"),
    "BANDMATE_HTDEMUCS": ("models", "htdemucs"),
    "BANDMATE_JOBS": ("jobs", "concurrency"),
    "BANDMATE_LOG_LEVEL": ("log_level",),
}


def _nest(path, value):
    d = value
    for key in reversed(path):
        d = {key: d}
    return d


def load_config(path=None, overrides=None, environ=None):
    """Build a Config. `overrides` is a nested dict of flag values (None values are ignored)."""
    cfg = Config()
    path = path or default_config_path()
    if path and os.path.exists(path):
        try:
            with open(path, "rb") as fh:
                _apply(cfg, tomllib.load(fh), os.path.basename(path))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("%s is not valid TOML: %s" % (path, exc))
    environ = os.environ if environ is None else environ
    for var, key_path in ENV_VARS.items():
        if environ.get(var):
            _apply(cfg, _nest(key_path, environ[var]), var)
    if overrides:
        _apply(cfg, _prune(overrides), "flag")
    if not cfg.data_dir:
        cfg.data_dir = default_data_dir()
    cfg.data_dir = os.path.abspath(os.path.expanduser(cfg.data_dir))
    validate(cfg)
    return cfg


def _prune(d):
    return {k: (_prune(v) if isinstance(v, dict) else v) for k, v in d.items() if v is not None}


def validate(cfg):
    s = cfg.server
    for name in ("zmq_port", "pub_port", "osc_port"):
        port = getattr(s, name)
        if not 0 <= port <= 65535:
            raise ConfigError("server.%s must be 0..65535, got %d" % (name, port))
    if not is_loopback(s.host) and not s.token:
        raise ConfigError("server.host is %r, which is not loopback: set server.token (or BANDMATE_TOKEN) so "
                          "every request must carry it" % s.host)
    if cfg.jobs.concurrency < 1:
        raise ConfigError("jobs.concurrency must be at least 1")
    if cfg.models.device not in ("auto", "directml", "cuda", "mps", "cpu"):
        raise ConfigError("models.device must be auto, directml, cuda, mps or cpu, got %r" % cfg.models.device)
    if cfg.log_format not in ("text", "json"):
        raise ConfigError("log_format must be text or json")
