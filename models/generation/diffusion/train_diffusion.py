"""`bandmate train diffusion`: the music-theory conditioner and the latent U-Net, trained together on cached
songbook stem crops encoded by a trained VAE (frozen).

    bandmate train diffusion --data /tmp/diffdata --vae models/checkpoints/vae --out models/checkpoints/diffusion
        [--minutes 35] [--batch 16] [--width 64] [--steps 100000] [--lr 5e-4] [--threads 1] [--device auto]

Objective: v-prediction MSE at uniformly drawn times (schedule.py), the notation zeroed for CONDITION_DROP of
the examples (classifier-free guidance). Weights are averaged (EMA, `--ema`) and the EMA weights are what is
evaluated and saved. Validation: the v loss on held-out songs' crops at fixed times and fixed noise, so the
numbers are comparable between evaluations; the best is kept. Resumable from `--work`.
"""
from __future__ import annotations

import argparse
import copy
import os
import sys
import time

import numpy as np
import torch

from . import trainutil as U
from .conditioner import MusicTheoryConditioner
from .config import CONDITIONER_CONFIG, UNET_CONFIG, WORK_DIR
from .schedule import CONDITION_DROP, alpha_sigma, training_loss
from .unet import DiffusionUNet
from .vae import SpectralVAE, count_parameters

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_OUT = os.path.join(ROOT, "checkpoints", "diffusion")
DEFAULT_VAE = os.path.join(ROOT, "checkpoints", "vae")
RESULTS = os.path.join(os.path.dirname(ROOT), "bench", "results")
VERSION = "diffusion-0.3"   # written into the card; bump when the shipped weights change


class Renderer(torch.nn.Module):
    """Conditioner + U-Net as one module (one state dict: conditioner.*, unet.*)."""

    def __init__(self, conditioner: dict, unet: dict):
        super().__init__()
        self.conditioner = MusicTheoryConditioner(**conditioner)
        self.unet = DiffusionUNet(**unet)

    def forward(self, x, t, ints, floats, drop=None):
        notation = self.conditioner(ints, floats)
        if drop is not None:
            notation = notation * (~drop)[:, None, None].to(notation.dtype)
        return self.unet(x, t, notation)


def load_vae(path):
    import json

    with open(path + ".json", encoding="utf-8") as fh:
        card = json.load(fh)
    vae = SpectralVAE(**card["config"])
    vae.load_state_dict(U.load_weights(path + ".safetensors"))
    return vae.eval(), card


def encode_all(vae, audio, batch=64):
    out = []
    with torch.no_grad():
        for i in range(0, len(audio), batch):
            x = torch.from_numpy(np.asarray(audio[i:i + batch], np.float32))
            out.append((vae.encode(x) * vae.latent_scale).numpy())
    return np.concatenate(out).astype(np.float32)


def valid_loss(model, lat, ints, floats, valid, device, n=64):
    """v MSE on held-out crops at 8 fixed times with fixed noise."""
    idx = np.asarray(valid[:n])
    g = torch.Generator().manual_seed(1234)
    x0 = torch.from_numpy(lat[idx]).to(device)
    it = torch.from_numpy(ints[idx].astype(np.int64)).to(device)
    fl = torch.from_numpy(floats[idx].astype(np.float32)).to(device)
    model.eval()
    losses = []
    with torch.no_grad():
        for t in np.linspace(0.05, 0.95, 8):
            eps = torch.randn(x0.shape, generator=g).to(device)
            a, s = (float(v) for v in alpha_sigma(float(t)))
            xt = a * x0 + s * eps
            v = a * eps - s * x0
            tt = torch.full((len(idx),), float(t), device=device)
            losses.append(float(((model(xt, tt, it, fl) - v) ** 2).mean()))
    model.train()
    return float(np.mean(losses))


def main(argv=None):
    ap = argparse.ArgumentParser(prog="bandmate train diffusion")
    U.common_arguments(ap, DEFAULT_OUT, os.path.join(WORK_DIR, "diffusion"), 35.0, 250,
                       os.path.join(RESULTS, "render_diffusion_loss.png"))
    ap.add_argument("--vae", default=DEFAULT_VAE, help="trained VAE checkpoint (without extension)")
    ap.add_argument("--width", type=int, default=UNET_CONFIG["width"])
    ap.add_argument("--notation", type=int, default=CONDITIONER_CONFIG["dim"])
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--ema", type=float, default=0.995)
    args = ap.parse_args(argv)

    device, rank, world, rng, (audio, ints, floats, meta), train, valid = U.start(args)
    vae, vae_card = load_vae(args.vae)
    os.makedirs(args.work, exist_ok=True)
    lat_path = os.path.join(args.work, "latents.npy")
    vae_stamp = os.path.getmtime(args.vae + ".safetensors")
    stamp_path = lat_path + ".stamp"
    if os.path.exists(lat_path) and os.path.exists(stamp_path) and open(stamp_path).read() == repr(vae_stamp):
        lat = np.load(lat_path)
    else:
        t = time.time()
        lat = encode_all(vae, audio)
        if rank == 0:
            np.save(lat_path, lat)
            with open(stamp_path, "w") as fh:
                fh.write(repr(vae_stamp))
        print("encoded %d crops in %.0f s (latent std %.3f)" % (len(lat), time.time() - t, float(lat.std())))
    cond_cfg = dict(CONDITIONER_CONFIG, dim=args.notation)
    unet_cfg = dict(UNET_CONFIG, width=args.width, notation=args.notation, latent=int(lat.shape[1]))
    unet_cfg["mults"] = list(unet_cfg["mults"])
    model = Renderer(cond_cfg, unet_cfg).to(device)
    ema = copy.deepcopy(model).eval()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    state_path = os.path.join(args.work, "state.pt")
    st = U.load_state(state_path)
    resume = st is not None and st["config"] == [cond_cfg, unet_cfg]
    if resume:
        model.load_state_dict(st["model"])
        ema.load_state_dict(st["ema"])
        opt.load_state_dict(st["opt"])
    if not resume and args.init:
        U.init_from(model, args.init)
        ema.load_state_dict(model.state_dict())
    prog = U.Progress(st if resume else None)
    if resume:
        rng = np.random.default_rng(args.seed + rank + prog.step)
        print("resumed at step %d (best valid %.4f)" % (prog.step, prog.best))
    ddp = U.wrap_ddp(model, device, world)
    print("conditioner %d + U-Net %d parameters, %d train / %d valid crops, device %s x%d" % (
        count_parameters(model.conditioner), count_parameters(model.unet), len(train), len(valid), device, world))
    cap = U.TimeCap(args.minutes)
    warmup = 200
    while prog.step < args.steps and not cap.done():
        idx = np.sort(rng.choice(train, size=args.batch, replace=False))
        x0 = torch.from_numpy(lat[idx]).to(device)
        it = torch.from_numpy(ints[idx].astype(np.int64)).to(device)
        fl = torch.from_numpy(floats[idx].astype(np.float32)).to(device)
        drop = torch.from_numpy(rng.random(len(idx)) < CONDITION_DROP).to(device)
        for gr in opt.param_groups:
            gr["lr"] = U.learning_rate(args.lr, prog.step, args.steps, cap, args.cosine, warmup)
        loss = training_loss(lambda x, t, n: ddp(x, t, it, fl, drop), x0, None)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            d = min(args.ema, (1 + prog.step) / (10 + prog.step))
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.mul_(d).add_(pm.detach(), alpha=1 - d)
        prog.add(loss)
        if prog.step % args.eval_every == 0 and rank == 0:
            now = prog.record(valid_loss(ema, lat, ints, floats, valid, device), ema.state_dict(), "valid(EMA)")
            U.save_state(state_path, model=model.state_dict(), ema=ema.state_dict(), opt=opt.state_dict(),
                         config=[cond_cfg, unet_cfg], **prog.saved(now))
    if rank != 0:
        return 0
    prog.finish()
    best_sd = prog.best_sd if prog.best_sd is not None else ema.state_dict()
    card = {"name": "diffusion", "version": VERSION, "conditioner": cond_cfg, "unet": unet_cfg,
            "vae": {"path": os.path.basename(args.vae), "version": vae_card.get("version"),
                    "latent_scale": vae_card.get("latent_scale")},
            "objective": "v-prediction, cosine schedule, classifier-free guidance (drop %.2f)" % CONDITION_DROP,
            "parameters": {"conditioner": count_parameters(model.conditioner), "unet": count_parameters(model.unet)},
            "steps": prog.step, "batch": args.batch * world, "lr": args.lr, "ema": args.ema,
            "train_seconds": round(prog.elapsed, 1), "best_valid_v_mse": round(prog.best, 5),
            "data": {"cache": args.data, "sets": meta.get("sets"), "fonts": meta.get("fonts"),
                     "train_crops": len(train), "valid_crops": len(valid)},
            "history": prog.history, **U.run_record("bandmate train diffusion", ap, args)}
    U.save_checkpoint(args.out, best_sd, card)
    U.plot_curves(args.plot, prog.history, "Diffusion U-Net: v-prediction MSE")
    print("saved %s (.safetensors, .json), best valid %.4f" % (args.out, prog.best))
    return 0


if __name__ == "__main__":
    sys.exit(main())
