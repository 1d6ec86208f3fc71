"""Everything that computes music: analysis, theory, generation, training, and the songbook data factory."""
