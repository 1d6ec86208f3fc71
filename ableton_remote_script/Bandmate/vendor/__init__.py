"""Vendored copies of Bandmate's wire contract (protocol/osc.py, protocol/messages.py, protocol/errors.py).

Live runs this script with its own Python, where the `protocol` package is not installed, so the files are
copied here byte for byte; `bandmate install ableton` refreshes them and tests/test_ableton_script.py checks
that they are identical to protocol/."""
