"""Bandmate's wire contract: message types, OSC codec and address map, ZeroMQ envelopes, error codes, the
song-description schema. Standard library only, Python 3.7 syntax, so DAW-side code can vendor this package.
"""
from .errors import ERROR_CODES, BandmateError
from .messages import EVENTS, MESSAGES, PRIORITIES
from .song import SONG_SCHEMA, SONG_SCHEMA_VERSION

PROTOCOL_VERSION = "1.0"

# Default endpoints; all configurable. Loopback unless an auth token is configured.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_ZMQ_PORT = 7401  # ROUTER: requests and replies
DEFAULT_PUB_PORT = 7402  # PUB: events
DEFAULT_OSC_PORT = 7400  # UDP: OSC requests; replies go to the sender's address and port

__all__ = ["PROTOCOL_VERSION", "DEFAULT_HOST", "DEFAULT_ZMQ_PORT", "DEFAULT_PUB_PORT", "DEFAULT_OSC_PORT",
           "ERROR_CODES", "BandmateError", "EVENTS", "MESSAGES", "PRIORITIES", "SONG_SCHEMA",
           "SONG_SCHEMA_VERSION"]


def protocol_major(version):
    """'1.0' -> 1; None or garbage -> None."""
    try:
        return int(str(version).split(".")[0])
    except ValueError:
        return None
