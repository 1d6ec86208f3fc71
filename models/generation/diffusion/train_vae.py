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
import time

import numpy as np
import torch

from . import trainutil as U
from .conditioner import ROLL_ROWS, piano_roll
from .config import FRAME_SAMPLES, GL_ITERS, HOP, N_FFT, SAMPLE_RATE, VAE_CONFIG, WORK_DIR
from .schedule import DEFAULT_STEPS
from .vae import SpectralVAE, count_parameters, griffin_lim, log_magnitude, magnitude_of, mrstft_distance

VERSION = "vae-0.6"   # written into the card; bump when the shipped weights change

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_OUT = os.path.join(ROOT, "checkpoints", "vae")
RESULTS = os.path.join(os.path.dirname(ROOT), "bench", "results")


def spectral_convergence(recon, target):
    """||M - M^||_F / ||M||_F on linear magnitudes, per example, averaged."""
    m, r = magnitude_of(target), magnitude_of(torch.clamp(recon, max=1.0))
    return (torch.linalg.norm((m - r).flatten(1), dim=1) / (torch.linalg.norm(m.flatten(1), dim=1) + 1e-3)).mean()


def batch_audio(audio, idx, rng, augment=True, plain=None):
    """The crops `idx` (in sorted order) as a (B, samples) tensor, each at a random gain (+-6 dB) when `augment`,
    except the rows where the mask `plain` is true (kept at the cache's gain)."""
    x = np.asarray(audio[np.sort(idx)], np.float32)
    if augment:
        gain = 10 ** (rng.uniform(-6, 6, size=(len(x), 1)) / 20)
        if plain is not None:
            gain[plain] = 1.0
        x = x * gain.astype(np.float32)
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


EVAL_CROPS = 64   # held-out crops `evaluate` reads


def evaluate(model, audio, floats, valid, device, n=EVAL_CROPS, gen=None, gen_frac=0.0):
    """Held-out L1 of the first `n` validation crops decoded from their encoder means; with `gen` ({crop:
    generated latent}), the mix (1 - gen_frac) x that + gen_frac x the L1 of the same crops decoded from their
    generated latents, the mix training sees."""
    model.eval()
    crops = np.sort(np.asarray(valid[:n]))
    with torch.no_grad():
        x = log_magnitude(torch.from_numpy(np.asarray(audio[crops], np.float32)).to(device))
        roll = batch_roll(model, floats, crops, device)
        mean, _ = model.encode_spec(x)
        loss = float((model.decode(mean, roll) - x).abs().mean())
        if gen:
            z = torch.from_numpy(np.stack([gen[i] for i in crops])).to(device)
            loss = (1 - gen_frac) * loss + gen_frac * float((model.decode(z, roll) - x).abs().mean())
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
    """The VAE's forward with the (frozen) encoder outside autograd: a posterior sample decoded, KL 0; where
    `use` (B,) is true, the example's latent is `z_gen`'s instead (a latent the diffusion model sampled)."""

    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, logmag, roll=None, z_gen=None, use=None):
        with torch.no_grad():
            mean, logvar = self.vae.encode_spec(logmag)
            z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
            if z_gen is not None:
                z = torch.where(use[:, None, None], z_gen, z)
        return self.vae.decode(z, roll), torch.zeros(())


def generated_latents(path, vae_init, diffusion, ints, floats, meta, crops, steps, seed=0, batch=64):
    """{crop index: latent (C, T) float32, unscaled} that the diffusion model `diffusion` samples from each crop's
    notation as the renderer does (DDIM `steps`, each stem's guidance), through the VAE `vae_init` (whose latent
    it was trained in); cached in `path` (.npz) and reused when it holds the same crops."""
    from .render import load_renderer, stem_guidance

    crops = np.sort(np.asarray(crops, dtype=np.int64))
    if os.path.exists(path):
        got = np.load(path)
        if np.array_equal(got["crops"], crops):
            return dict(zip(got["crops"].tolist(), got["z"]))
    renderer = load_renderer(vae_init, diffusion)
    scale = float(renderer.vae_card.get("latent_scale") or 1.0)
    out, t0 = [], time.time()
    for k in range(0, len(crops), batch):
        b = crops[k:k + batch]
        g = np.array([stem_guidance(meta["crops"][i]["stem"]) for i in b], np.float32)
        z, _ = renderer.sample_latents(np.asarray(ints[b], np.int64), np.asarray(floats[b], np.float32),
                                       steps=steps, guidance=g, seed=seed + k)
        out.append(np.asarray(z, np.float32) / scale)
        if (k // batch) % 20 == 0:
            print("sampled %d / %d generated latents (%.0f s)" % (k + len(b), len(crops), time.time() - t0),
                  flush=True)
    z = np.concatenate(out)
    np.savez(path, crops=crops, z=z)
    return dict(zip(crops.tolist(), z))


def main(argv=None):
    ap = argparse.ArgumentParser(prog="bandmate train vae")
    U.common_arguments(ap, DEFAULT_OUT, os.path.join(WORK_DIR, "vae"), 25.0, 200, os.path.join(RESULTS, "render_vae_loss.png"))
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
    ap.add_argument("--generated", type=int, default=0, help="decoder-only: sample this many training crops' "
                    "latents with the diffusion model (--diffusion) and decode them too, so the decoder learns the "
                    "latents it is given at render time (0: off)")
    ap.add_argument("--gen-frac", type=float, default=0.5, help="fraction of a batch's crops that have a "
                    "generated latent which decode it instead of their own")
    ap.add_argument("--diffusion", default=os.path.join(ROOT, "checkpoints", "diffusion"),
                    help="the diffusion checkpoint whose samples --generated decodes")
    ap.add_argument("--gen-steps", type=int, default=DEFAULT_STEPS, help="sampler steps of the generated latents")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--kl", type=float, default=1e-4)
    ap.add_argument("--sc", type=float, default=0.5, help="weight of the linear-magnitude spectral convergence "
                    "(puts the loud partials, i.e. the pitches, first)")
    args = ap.parse_args(argv)

    if args.decoder_only and not args.init:
        ap.error("--decoder-only needs --init: the checkpoint whose encoder (and latent) it keeps")
    if args.generated and not args.decoder_only:
        ap.error("--generated needs --decoder-only: the diffusion model's latents are those of --init's encoder")
    device, rank, world, rng, (audio, ints, floats, meta), train, valid = U.start(args)
    gen = {}
    if args.generated:
        pick = np.random.default_rng(args.seed).choice(train, size=min(args.generated, len(train)), replace=False)
        os.makedirs(args.work, exist_ok=True)
        gen = generated_latents(os.path.join(args.work, "generated.npz"), args.init, args.diffusion, ints, floats,
                                meta, np.concatenate([pick, np.asarray(valid[:EVAL_CROPS])]), args.gen_steps,
                                seed=args.seed)
        gen_zero = np.zeros_like(next(iter(gen.values())))
        train_gen = {int(i): gen[int(i)] for i in pick}
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
        roll = batch_roll(model, floats, idx, device, rng, args.note_drop)
        if gen:   # crops with a generated latent decode it (at the cache's gain: the sample knows no other)
            order = np.sort(idx)
            use = np.array([i in train_gen for i in order]) & (rng.random(len(order)) < args.gen_frac)
            x = log_magnitude(batch_audio(audio, idx, rng, plain=use).to(device))
            z_gen = torch.from_numpy(np.stack([train_gen[i] if u else gen_zero
                                               for i, u in zip(order, use)])).to(device)
            recon, kl = ddp(x, roll, z_gen, torch.from_numpy(use).to(device))
        else:
            x = log_magnitude(batch_audio(audio, idx, rng).to(device))
            recon, kl = ddp(x, roll)
        loss = (recon - x).abs().mean() + args.sc * spectral_convergence(recon, x)
        if not args.decoder_only:
            loss = loss + args.kl * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        prog.add(loss)
        if prog.step % args.eval_every == 0 and rank == 0:
            now = prog.record(evaluate(model, audio, floats, valid, device, gen=gen, gen_frac=args.gen_frac),
                              model.state_dict())
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
            "generated_latents": ({"crops": len(train_gen), "steps": args.gen_steps, "fraction": args.gen_frac,
                                   "diffusion": os.path.basename(args.diffusion)} if gen else None),
            "history": prog.history, **U.run_record("bandmate train vae", ap, args)}
    U.save_checkpoint(args.out, model.state_dict(), card)
    U.plot_curves(args.plot, prog.history, "SpectralVAE: log-magnitude L1 (+KL)")
    print("saved %s (.safetensors, .json); reconstruction %s" % (args.out, report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
