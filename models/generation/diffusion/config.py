"""Fixed signal constants of the diffusion renderer and the default (CPU-sized) model configs.

A GPU run scales the models by passing a bigger config (`--width`, `--batch`, `--steps` on the train commands);
the signal constants below are part of the checkpoint's contract and are stored in its card.
"""
import os
import tempfile

# Default working folders of the training commands, in the system's temp folder (/tmp, %TEMP%, ...).
DATA_DIR = os.path.join(tempfile.gettempdir(), "diffdata")     # crop cache (`python -m ...diffusion.data`)
WORK_DIR = os.path.join(tempfile.gettempdir(), "diffwork")     # checkpoints in progress, per model
SAMPLE_RATE = 16000          # Hz, mono: the native rate of the VAE (bandwidth 8 kHz)
N_FFT = 1024                 # samples (64 ms)
HOP = 256                    # samples per spectrogram frame (16 ms)
LATENT_STRIDE = 2            # spectrogram frames per latent frame
FRAME_SAMPLES = HOP * LATENT_STRIDE          # 512 samples = 32 ms per latent frame
FRAME_S = FRAME_SAMPLES / SAMPLE_RATE        # seconds per latent / notation frame
N_BINS = N_FFT // 2 + 1
OUTPUT_RATE = 48000          # Hz, what render_notes returns (stereo)
GL_ITERS = 128               # Griffin-Lim iterations from magnitude to waveform: on soundfont magnitudes basic-pitch's
                             # note F1 is 0.546 at 32, 0.608 at 64, 0.624 at 128 (soundfont 0.632; 12 test requests);
                             # on the diffusion renderer (vae-0.4, 16 songbook valid requests) 0.553 at 64, 0.555 at
                             # 128, 0.560 at 256; each 64 iterations cost ~0.2 s per 10 s of a stem

VAE_CONFIG = {"n_bins": N_BINS, "width": 128, "latent": 16, "n_res": 2, "stride": LATENT_STRIDE}
UNET_CONFIG = {"latent": 16, "width": 64, "mults": (1, 2, 2), "notation": 256, "heads": 4, "local": 64}
CONDITIONER_CONFIG = {"dim": 256, "emb": 32}
CROP_FRAMES = 64             # latent frames per training crop (2.048 s)
