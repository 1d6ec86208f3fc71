"""The Bandmate daemon: servers (ZeroMQ ROUTER+PUB, OSC UDP), job engine, warm model pool with device policy,
storage (SQLite + content-addressed blobs), configuration and the `bandmate serve` entry point."""

__version__ = "0.1.0"
