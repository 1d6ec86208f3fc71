"""The diffusion renderer: notes + music theory -> audio, instead of a soundfont.

    conditioner.py  MusicTheoryConditioner: per latent frame, chord / Roman numeral / function / metre / section /
                    genre / tempo / the stem's own notes -> notation features (batch, frames, 256)
    vae.py          SpectralVAE: 16 kHz mono audio <-> latent (16, frames), one latent frame = 512 samples (32 ms);
                    the decoder gives a log-magnitude spectrogram, Griffin-Lim gives the waveform
    unet.py         DiffusionUNet: 1-D U-Net over the latent, cross-attention to the notation, timestep in every
                    ResBlock, v-prediction
    schedule.py     cosine noise schedule, DDIM sampler with classifier-free guidance
    data.py         training crops rendered from songbook stem MIDI with several soundfonts (cached .npy)
    train_vae.py, train_diffusion.py   `bandmate train vae|diffusion`
    render.py       DiffusionRenderer, `render_notes(notes_by_stem, request_info)` -> 48 kHz stereo per stem
    onnx_export.py  ONNX graphs of conditioner, U-Net and VAE decoder; the onnxruntime renderer
"""
