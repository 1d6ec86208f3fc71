"""ONNX graphs of the diffusion renderer, for onnxruntime (and so DirectML through onnxruntime-directml).

    python -m models.generation.diffusion.onnx_export --out DIR [--check]

Three graphs, batch and length dynamic: conditioner.onnx (ints, floats -> notation), unet.onnx (x, t, notation ->
v), vae_decoder.onnx (z [, roll for a notes decoder] -> scaled log-magnitude). The sampler loop and Griffin-Lim
stay in Python (the STFT is one of the ops DirectML lacks; it runs on CPU on purpose). `--check` compares each graph with torch on random
input and prints the largest absolute difference. Needs the `onnx` package to export; running needs only
onnxruntime.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch

from .conditioner import N_FLOAT, N_INT, piano_roll

OPSET = 17


class _Decoder(torch.nn.Module):
    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, z, roll=None):
        return self.vae.decode(z, roll)


def _export(module, args, path, names_in, names_out, dynamic):
    kw = {"dynamo": False} if "dynamo" in torch.onnx.export.__code__.co_varnames else {}
    torch.onnx.export(module, args, path, input_names=names_in, output_names=names_out, dynamic_axes=dynamic,
                      opset_version=OPSET, do_constant_folding=True, **kw)


def export(renderer, out_dir):
    """Write the three graphs of a loaded DiffusionRenderer (torch, CPU copy) into out_dir."""
    os.makedirs(out_dir, exist_ok=True)
    model = renderer.model.cpu().eval()
    vae = renderer.vae.cpu().eval()
    T = 64
    ints = torch.zeros(1, T, N_INT, dtype=torch.long)
    floats = torch.zeros(1, T, N_FLOAT)
    lat = int(renderer.card["unet"]["latent"])
    dim = int(renderer.card["conditioner"]["dim"])
    with torch.no_grad():
        _export(model.conditioner, (ints, floats), os.path.join(out_dir, "conditioner.onnx"), ["ints", "floats"],
                ["notation"], {"ints": {0: "b", 1: "t"}, "floats": {0: "b", 1: "t"}, "notation": {0: "b", 1: "t"}})
        _export(model.unet, (torch.randn(2, lat, T), torch.rand(2), torch.randn(2, T, dim)),
                os.path.join(out_dir, "unet.onnx"), ["x", "t", "notation"], ["v"],
                {"x": {0: "b", 2: "t"}, "t": {0: "b"}, "notation": {0: "b", 1: "t"}, "v": {0: "b", 2: "t"}})
        roll_in = ["roll"] if vae.notes else []    # a notes decoder: the piano roll is a second input
        _export(_Decoder(vae), (torch.randn(1, lat, T),) + tuple(torch.rand(1, vae.notes, T) for _ in roll_in),
                os.path.join(out_dir, "vae_decoder.onnx"), ["z"] + roll_in, ["logmag"],
                {"z": {0: "b", 2: "t"}, "logmag": {0: "b", 2: "f"}, **{n: {0: "b", 2: "t"} for n in roll_in}})
    renderer.model.to(renderer.device)
    renderer.vae.to(renderer.device)
    return out_dir


def sessions(out_dir, providers=("CPUExecutionProvider",)):
    from models.registry import onnx_session

    return {n: onnx_session(os.path.join(out_dir, n + ".onnx"), providers)
            for n in ("conditioner", "unet", "vae_decoder")}


def check(renderer, out_dir, T=128, seed=0) -> dict:
    """Largest absolute difference between torch and onnxruntime for each graph on random input."""
    rng = np.random.default_rng(seed)
    ss = sessions(out_dir)
    lat = int(renderer.card["unet"]["latent"])
    from .conditioner import INT_FIELDS

    ints = np.stack([rng.integers(0, n, size=(2, T)) for _, n in INT_FIELDS], -1).astype(np.int64)
    floats = rng.random((2, T, N_FLOAT)).astype(np.float32) * (rng.random((2, T, N_FLOAT)) < 0.05)
    floats = floats.astype(np.float32)
    x = rng.standard_normal((2, lat, T)).astype(np.float32)
    t = np.array([0.3, 0.9], np.float32)
    m, v = renderer.model.cpu().eval(), renderer.vae.cpu().eval()
    with torch.no_grad():
        n_t = m.conditioner(torch.from_numpy(ints), torch.from_numpy(floats)).numpy()
        v_t = m.unet(torch.from_numpy(x), torch.from_numpy(t), torch.from_numpy(n_t)).numpy()
        roll = np.ascontiguousarray(piano_roll(floats)) if v.notes else None
        d_t = v.decode(torch.from_numpy(x), None if roll is None else torch.from_numpy(roll)).numpy()
    n_o = ss["conditioner"].run(None, {"ints": ints, "floats": floats})[0]
    v_o = ss["unet"].run(None, {"x": x, "t": t, "notation": n_t})[0]
    d_o = ss["vae_decoder"].run(None, {"z": x, **({"roll": roll} if roll is not None else {})})[0]
    return {"conditioner": float(np.abs(n_t - n_o).max()), "unet": float(np.abs(v_t - v_o).max()),
            "vae_decoder": float(np.abs(d_t - d_o).max())}


def main(argv=None):
    from .render import load_renderer

    ap = argparse.ArgumentParser(prog="python -m models.generation.diffusion.onnx_export")
    ap.add_argument("--out", default=None, help="folder for the .onnx files (default: the user cache)")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    r = load_renderer()
    if r is None:
        print("no trained renderer (bandmate train vae; bandmate train diffusion)", file=sys.stderr)
        return 1
    from .render import default_onnx_dir

    out = export(r, args.out or default_onnx_dir(r))
    print("exported to", out)
    if args.check:
        print("max |torch - onnxruntime|:", check(r, out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
