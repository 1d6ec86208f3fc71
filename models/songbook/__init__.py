"""The songbook: songs with exact ground truth (MMA grooves playing curated and RomanText progressions,
rendered per stem by FluidSynth) and the music21 RomanText real-music set. See README.md in this folder.

Entry points: `cli.main(argv)`, `factory.make_songbook(...)`, `corpus.make_corpus(...)`.
"""
