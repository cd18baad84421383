"""Experiment (not product code): a feature self-correlation cue trained jointly with the decoder.

A copy-move puts two regions with the same content into one photo. Rounds 3 and 15 looked for the
copy at the pixel level, where `declip synth`'s rescaling (0.8-1.2), mirroring, resizing and JPEG
break exact matches. ImageNet features are made to survive such changes, so this compares the
backbone's own cells instead: for each cell of the 32x32 grid, its K best cosine similarities to
cells outside its 5x5 neighbourhood (channels standardised over the image first, so the photo's
overall look does not make everything similar), sorted, as K extra maps next to the image context.
As BusterNet does, the decoder learns what a real pair looks like against natural repetition.

It runs `declip train` with the engine's ImageContext patched to append those maps (the
engine itself is unchanged), so its validation IoU per epoch compares directly with a plain run
of the same command:

    python research/selfcorr_experiment.py --k 4 -- train --data DS --recipe small-data ...   (round 16)
    python research/selfcorr_experiment.py --k 4 -- evaluate --model OUT --data DS --split test ...
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def self_correlation(x: torch.Tensor, k: int, exclude: int = 2) -> torch.Tensor:
    """(B,C,H,W) features -> (B,k,H,W): each cell's k best similarities to cells further than
    `exclude` cells away in either direction, best first."""
    b, c, h, w = x.shape
    f = x.float().reshape(b, c, h * w)
    f = (f - f.mean(2, keepdim=True)) / (f.std(2, keepdim=True) + 1e-5)
    f = F.normalize(f, dim=1)
    sim = torch.bmm(f.transpose(1, 2), f)  # (B, HW, HW)
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    yy, xx = yy.reshape(-1), xx.reshape(-1)
    near = ((yy[:, None] - yy[None]).abs() <= exclude) & ((xx[:, None] - xx[None]).abs() <= exclude)
    sim = sim.masked_fill(near.to(sim.device), -1.0)
    top = sim.topk(k, dim=2).values  # (B, HW, k)
    return top.transpose(1, 2).reshape(b, k, h, w).to(x.dtype)


def patch(k: int) -> None:
    from engine import decoders, network
    import trainer.train as T

    def forward(self, x):
        with torch.no_grad():  # frozen features: the cue needs no gradient
            sc = self_correlation(x, k)
        return torch.cat([x, x - x.mean(dim=(2, 3), keepdim=True), sc], 1)

    decoders.ImageContext.forward = forward
    build = T.build_decoder

    def build_wider(spec, c_in, cnn):  # the context doubles c_in; k more channels on top
        dec = build(spec, c_in, cnn)
        first = next(i for i, m in enumerate(dec) if isinstance(m, torch.nn.Conv2d))
        old = dec[first]
        dec[first] = torch.nn.Conv2d(old.in_channels + k, old.out_channels, old.kernel_size, padding=old.padding)
        return dec

    T.build_decoder = build_wider
    network.build_decoder = build_wider  # so `evaluate --model` loads the wider first conv too
    # The engine's input check knows only 2x the backbone's channels; the strict weight load that
    # follows still names any real mismatch.
    network._check_decoder_input = lambda *a, **k: None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("rest", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    patch(a.k)
    from declip_desktop.cli import main as cli

    rest = a.rest[1:] if a.rest[:1] == ["--"] else a.rest
    sys.exit(cli(rest))


if __name__ == "__main__":
    main()
