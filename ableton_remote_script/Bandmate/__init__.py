"""Bandmate for Ableton Live: a MIDI Remote Script (Live 11 and 12; standard library only, Python 3.7 syntax).

Live imports this package from the User Library's "Remote Scripts" folder and calls create_instance when
"Bandmate" is chosen as a Control Surface (Preferences > Link, Tempo & MIDI). See README.md beside the
repository's copy (ableton_remote_script/README.md) for what it does and how to drive it.
"""


def create_instance(c_instance):
    from .surface import Bandmate

    return Bandmate(c_instance)
