"""Audio (and MIDI) in, song description out."""
