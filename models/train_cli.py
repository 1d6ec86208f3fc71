"""`bandmate train <what>`: reproducible training commands for Bandmate's own models."""
import importlib
import sys

TARGETS = {
    "chords": ("models.analysis.train_chords", "the chord recognition network (songbook sets)"),
    "live": ("models.analysis.train_live", "the live (causal, low-latency) chord network (songbook sets)"),
    "beats": ("models.analysis.train_beats", "the beat / downbeat / tempo network (songbook sets)"),
    "octave": ("models.analysis.train_tempo_octave", "the tempo-octave chooser after the beat decoder (songbook sets)"),
    "generation": ("models.generation.train", "the stem transformer (drums, bass, keys, melody; songbook sets)"),
    "planner": ("models.generation.train_planner", "the structure planner (prompt -> plan; songbook metadata)"),
    "vae": ("models.generation.diffusion.train_vae", "the diffusion renderer's VAE (songbook stems rendered with "
                                                     "soundfonts)"),
    "diffusion": ("models.generation.diffusion.train_diffusion", "the diffusion renderer: conditioner + latent "
                                                                 "U-Net (needs a trained VAE)"),
    "symbolic": ("models.analysis.symbolic_net", "the symbolic key / chord network of MIDI analysis (music21's "
                                                 "RomanText corpus; --extra a When-in-Rome checkout)"),
    "analysis": ("models.analysis.train_all", "every analysis model in turn: chords, beats, key scorer"),
}


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in TARGETS:
        print("usage: bandmate train {%s} ...\n%s" % (",".join(TARGETS), "\n".join(
            "  %-9s %s" % (k, v[1]) for k, v in TARGETS.items())), file=sys.stderr)
        return 2
    return importlib.import_module(TARGETS[argv[0]][0]).main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
