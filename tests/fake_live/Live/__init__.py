"""A fake of Ableton Live's `Live` module for tests: the subset of the Live Object Model that Bandmate's Remote
Script uses, with Live's signatures and rules (main thread, no changes from notifications, version-gated
features, deferred clip creation). See _core.py. Put tests/fake_live on sys.path; never install it."""
from . import Application, Clip, ClipSlot, Song, Track  # noqa: F401
from ._core import STATE, run_pending  # noqa: F401

__all__ = ["Application", "Clip", "ClipSlot", "Song", "Track", "STATE", "run_pending"]
