"""The Live MIDI Remote Script lives in ./Bandmate (it imports Live's own `Live` and `_Framework` modules, so
it only runs inside Ableton Live or against tests/fake_live). `bandmate install ableton` copies it into Live's
User Library; see README.md."""
import os

SCRIPT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "Bandmate")
