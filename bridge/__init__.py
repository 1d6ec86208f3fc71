"""Client side of Bandmate: the Python SDK (sync and async) over ZeroMQ, OSC helpers, the `bandmate` command,
installers for the DAW scripts and the companion window."""

__version__ = "0.1.0"
