"""`bandmate train vae`: the SpectralVAE on cached songbook stem crops.

    bandmate train vae --data /tmp/diffdata --out models/checkpoints/vae [--minutes 25] [--batch 16]
        [--width 128] [--latent 16] [--steps 100000] [--lr 1e-3] [--kl 1e-4] [--threads 1] [--device auto]

Decoder-only runs (`--decoder-only --init CHECKPOINT`) freeze the encoder, so the latent a trained diffusion model
works in stays exactly as it was (and so does the latent scale), and train the decoder alone; `--refine N` grows it
a residual path of N hidden units to the bins whose last layer starts at zero (the first step decodes exactly as
the checkpoint did).

Loss: L1 between the log-magnitude spectrograms (scaled, floor -80 dB) of the input and the decoder's output,
plus `sc` x the spectral convergence of the linear magnitudes (so the loud partials, which carry the pitches, come
first), plus `kl` x the KL divergence to N(0, 1). Augmentation: random gain (+-6 dB). Every `--eval-every` steps the
validation loss (songs held out of the crop cache) is measured; the best weights are kept as the checkpoint.
Resumable: the full state goes to `--work` and a second run with the same arguments continues from it. At the
end: the latent scale (1 / std of the latent means, so the diffusion model sees unit variance), and the
reconstruction quality of the best weights (multi-resolution STFT distance of the Griffin-Lim waveform to the
input, and of Griffin-Lim on the true magnitude as the phase-recovery ceiling), written into the card.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import torch

from . import trainutil as U
from .conditioner import ROLL_ROWS, piano_roll
from .config import FRAME_SAMPLES, GL_ITERS, HOP, N_FFT, SAMPLE_RATE, VAE_CONFIG
from .vae import SpectralVAE, count_parameters, griffin_lim, log_magnitude, magnitude_of, mrstft_distance

VERSION = "vae-0.6"   # written into the card; bump when the shipped weights change

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_OUT = os.path.join(ROOT, "checkpoints", "vae")
RESULTS = os.path.join(os.path.dirname(ROOT), "bench", "results")


def spectral_convergence(recon, target):
    """||M - M^||_F / ||M||_F on linear magnitudes, per example, averaged."""
    m, r = magnitude_of(target), magnitude_of(torch.clamp(recon, max=1.0))
    return (torch.linalg.norm((m - r).flatten(1), dim=1) / (torch.linalg.norm(m.flatten(1), dim=1) + 1e-3)).mean()


def batch_audio(audio, idx, rng, augment=True):
    x = np.asarray(audio[np.sort(idx)], np.float32)
    if augment:
        x = x * (10 ** (rng.uniform(-6, 6, size=(len(x), 1)) / 20)).astype(np.float32)
    return torch.from_numpy(x)


def batch_roll(model, floats, idx, device, rng=None, drop=0.0):
    """The crops' piano rolls (B, ROLL_ROWS, frames) for a notes decoder (None otherwise); with `rng`, each
    example's roll is dropped (zeros) with probability `drop`, so the decoder also works without notes."""
    if not model.notes:
        return None
    roll = torch.from_numpy(np.ascontiguousarray(piano_roll(np.asarray(floats[np.sort(idx)], np.float32))))
    if rng is not None and drop > 0:
        roll = roll * torch.from_numpy((rng.random(len(roll)) >= drop).astype(np.float32))[:, None, None]
    return roll.to(device)


def evaluate(model, audio, floats, valid, device, n=64):
    model.eval()
    with torch.no_grad():
        x = log_magnitude(torch.from_numpy(np.asarray(audio[valid[:n]], np.float32)).to(device))
        mean, _ = model.encode_spec(x)
        loss = float((model.decode(mean, batch_roll(model, floats, valid[:n], device)) - x).abs().mean())
    model.train()
    return loss


def reconstruction_report(model, audio, floats, valid, n=32, n_iter=GL_ITERS):
    """Multi-resolution STFT distances on held-out crops: VAE (encode, decode, Griffin-Lim) vs input, and
    Griffin-Lim of the input's own magnitude vs input (what phase recovery alone costs)."""
    model = model.cpu().eval()
    vae_d, gl_d = [], []
    with torch.no_grad():
        for i in [i for i in valid if float(np.sqrt(np.mean(np.square(audio[i], dtype=np.float32)))) > 1e-3][:n]:
            x = torch.from_numpy(np.asarray(audio[i], np.float32))[None]   # silent crops say nothing here
            z = model.encode(x)
            y = model.decode_audio(z, n_iter=n_iter, roll=batch_roll(model, floats, [i], "cpu"))[0].numpy()
            g = griffin_lim(log_magnitude(x), n_iter=n_iter)[0].numpy()
            vae_d.append(mrstft_distance(x[0].numpy(), y))
            gl_d.append(mrstft_distance(x[0].numpy(), g))

    def avg(ds):
        return {k: round(float(np.mean([d[k] for d in ds])), 4) for k in ds[0]}
    if not vae_d:
        return {"n_crops": 0}
    return {"vae": avg(vae_d), "griffin_lim_only": avg(gl_d), "n_crops": len(vae_d)}


class _DecoderOnly(torch.nn.Module):
    """The VAE's forward with the (frozen) encoder outside autograd: a posterior sample decoded, KL 0."""

    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, logmag, roll=None):
        with torch.no_grad():
            mean, logvar = self.vae.encode_spec(logmag)
            z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
        return self.vae.decode(z, roll), torch.zeros(())


def main(argv=None):
    ap = argparse.ArgumentParser(prog="bandmate train vae")
    U.common_arguments(ap, DEFAULT_OUT, "/tmp/diffwork/vae", 25.0, 200, os.path.join(RESULTS, "render_vae_loss.png"))
    ap.add_argument("--width", type=int, default=VAE_CONFIG["width"])
    ap.add_argument("--latent", type=int, default=VAE_CONFIG["latent"])
    ap.add_argument("--head", type=int, default=0, help="hidden units of the "
                    "decoder's last layer (0: one convolution from --width channels to the bins)")
    ap.add_argument("--refine", type=int, default=0, help="hidden units of a residual second path from the "
                    "decoder's last features to the bins, starting at zero (0: none)")
    ap.add_argument("--notes", action="store_true", help="the decoder also reads the stem's piano roll (the "
                    "notation rows' sustain and onset rolls), as a vocoder reads f0")
    ap.add_argument("--note-drop", type=float, default=0.1, help="fraction of training crops whose roll is "
                    "zeroed (the decoder still works without notes)")
    ap.add_argument("--decoder-only", action="store_true", help="freeze the encoder of --init (its latent and "
                    "latent scale stay valid for a diffusion model trained on it) and train the decoder")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--kl", type=float, default=1e-4)
    ap.add_argument("--sc", type=float, default=0.5, help="weight of the linear-magnitude spectral convergence "
                    "(puts the loud partials, i.e. the pitches, first)")
    args = ap.parse_args(argv)

    if args.decoder_only and not args.init:
        ap.error("--decoder-only needs --init: the checkpoint whose encoder (and latent) it keeps")
    device, rank, world, rng, (audio, _, floats, meta), train, valid = U.start(args)
    model = SpectralVAE(**dict(VAE_CONFIG, width=args.width, latent=args.latent, head=args.head,
                               refine=args.refine, notes=ROLL_ROWS if args.notes else None)).to(device)
    cfg = model.config
    for n, p in model.named_parameters():   # a decoder-only run freezes the encoder
        p.requires_grad_(not (args.decoder_only and n.startswith("enc_")))
    trained = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trained, lr=args.lr, weight_decay=1e-4)
    state_path = os.path.join(args.work, "state.pt")
    st = U.load_state(state_path)
    resume = st is not None and st["config"] == cfg
    if resume:
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
    if not resume and args.init:
        U.init_from(model, args.init, new=("dec_refine", "dec_notes"))
    prog = U.Progress(st if resume else None)
    if resume:
        rng = np.random.default_rng(args.seed + rank + prog.step)
        print("resumed at step %d (best valid %.4f)" % (prog.step, prog.best))
    ddp = U.wrap_ddp(_DecoderOnly(model) if args.decoder_only else model, device, world)
    print("SpectralVAE: %d parameters (%d trained), %d train / %d valid crops, device %s x%d" % (
          count_parameters(model), sum(p.numel() for p in trained), len(train), len(valid), device, world))
    cap = U.TimeCap(args.minutes)
    while prog.step < args.steps and not cap.done():
        idx = rng.choice(train, size=args.batch, replace=False)
        for gr in opt.param_groups:
            gr["lr"] = U.learning_rate(args.lr, prog.step, args.steps, cap, args.cosine)
        x = log_magnitude(batch_audio(audio, idx, rng).to(device))
        recon, kl = ddp(x, batch_roll(model, floats, idx, device, rng, args.note_drop))
        loss = (recon - x).abs().mean() + args.sc * spectral_convergence(recon, x)
        if not args.decoder_only:
            loss = loss + args.kl * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        prog.add(loss)
        if prog.step % args.eval_every == 0 and rank == 0:
            now = prog.record(evaluate(model, audio, floats, valid, device), model.state_dict())
            U.save_state(state_path, model=model.state_dict(), opt=opt.state_dict(), config=cfg, **prog.saved(now))
    if rank != 0:
        return 0
    prog.finish()
    model.load_state_dict(prog.best_sd if prog.best_sd is not None else model.state_dict())
    model = model.cpu().eval()
    if not args.decoder_only:   # latent scale on training crops (a decoder-only run keeps its encoder's)
        with torch.no_grad():
            xs = torch.from_numpy(np.asarray(audio[np.sort(np.asarray(train)[:256])], np.float32))
            means = torch.cat([model.encode(xs[i:i + 32]) for i in range(0, len(xs), 32)])
            model.latent_scale.fill_(1.0 / float(means.std()))
    scale = float(model.latent_scale)
    if args.decoder_only:   # the --init card's exact figure (the weights file holds it in float16)
        try:
            with open(args.init + ".json", encoding="utf-8") as fh:
                scale = float(json.load(fh).get("latent_scale") or scale)
        except (OSError, ValueError):
            pass
    report = reconstruction_report(model, audio, floats, valid)
    card = {"name": "vae", "version": VERSION, "config": cfg, "sample_rate": SAMPLE_RATE, "n_fft": N_FFT,
            "hop": HOP, "frame_samples": FRAME_SAMPLES, "latent_scale": scale,
            "parameters": count_parameters(model), "steps": prog.step, "batch": args.batch * world,
            "train_seconds": round(prog.elapsed, 1), "best_valid_l1": round(prog.best, 5),
            "final_train_l1": prog.history["train"][-1][1] if prog.history["train"] else None,
            "reconstruction": report, "data": {"cache": args.data, "sets": meta.get("sets"),
                                               "fonts": meta.get("fonts"), "train_crops": len(train),
                                               "valid_crops": len(valid)},
            "decoder_only": bool(args.decoder_only),
            "history": prog.history, **U.run_record("bandmate train vae", ap, args)}
    U.save_checkpoint(args.out, model.state_dict(), card)
    U.plot_curves(args.plot, prog.history, "SpectralVAE: log-magnitude L1 (+KL)")
    print("saved %s (.safetensors, .json); reconstruction %s" % (args.out, report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
