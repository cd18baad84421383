#!/usr/bin/env python3
"""Round 20 experiment: which pool of trained Lite2 members makes the best flip-averaged ensemble?

    python research/member_pool_experiment.py dump MEMBER_DIR [...] --data DS --out DIR
    python research/member_pool_experiment.py pools DIR --pool NAME=GLOB[,GLOB...] [...] [--greedy]

`dump` runs each member decoder on the trainer's cached features of the validation and test splits,
both views (the image and its mirror image, as a flip-averaged card does), and stores the
flip-averaged 256x256 logits per split (float16, one .npy per member and split). `pools` averages
the logits of each named pool of members, picks the constant logit shift with the best validation
IoU (as `declip ensemble --data` does) and reports validation and test IoU at that shift, the
trainer's 256x256 measure. A logit scale moves no mask at 0.5, so it is left out here; the chosen
pool is then built with `declip ensemble` and judged with `declip evaluate` at full image size.
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.cards import ModelCard  # noqa: E402
from engine.decoders import build_decoder, decoder_state_to_module  # noqa: E402
from engine.network import FlipAveraged  # noqa: E402
from trainer.calibration import CALIBRATION_SHIFTS, iou_by_shift  # noqa: E402
from trainer.decoder_setup import load_init_state  # noqa: E402
from trainer.features import is_cnn  # noqa: E402
from trainer.splits import with_mirrored_view  # noqa: E402
from trainer.validator import Validator  # noqa: E402

SHAPE_KEYS = ("type", "depth", "widths", "context")  # what makes two decoders one form

SPLITS = ("val", "test")


def dump(args) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cards = {Path(m): ModelCard.load(Path(m)) for m in args.members}
    first = next(iter(cards.values()))
    for split in SPLITS:
        v = Validator.for_card(first, first.decoder, Path(args.data), split, log=print)
        _, samples = v.load_split(split)
        both = with_mirrored_view(v.features(samples, split), v.features(samples, split, mirrored=True))
        np.save(out / f"{split}.masks.npy", both.masks.numpy())
        (out / f"{split}.names.json").write_text(json.dumps(both.names))
        for m, card in cards.items():
            dest = out / f"{m.name}.{split}.npy"
            if dest.exists():
                continue
            spec = {k: card.decoder[k] for k in SHAPE_KEYS if k in card.decoder}
            dec = FlipAveraged(build_decoder(spec, int(both.feats.shape[1]) // 2, is_cnn(first.backbone)))
            dec.decoder.load_state_dict(decoder_state_to_module(load_init_state(m), spec))
            logits = torch.cat([lg for lg, _ in v.logits(dec, both)])
            np.save(dest, logits.numpy().astype(np.float16))
            print(f"{m.name} {split}: {len(logits)} maps", flush=True)


def _score(logits: torch.Tensor, masks: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Mean IoU x 100 per shift, batch by batch (memory)."""
    parts = [iou_by_shift(logits[i:i + 64], masks[i:i + 64], shifts) for i in range(0, len(logits), 64)]
    return torch.cat(parts).mean(0)


def pools(args) -> None:
    d = Path(args.dir)
    members = sorted({p.name.rsplit(".", 2)[0] for p in d.glob("*.val.npy")})
    masks = {s: torch.from_numpy(np.load(d / f"{s}.masks.npy")) for s in SPLITS}
    cache: dict[tuple[str, str], torch.Tensor] = {}

    def logits(name: str, split: str) -> torch.Tensor:
        if (name, split) not in cache:
            cache[name, split] = torch.from_numpy(np.load(d / f"{name}.{split}.npy"))
        return cache[name, split]

    def judge(names: list[str], shifts: torch.Tensor = CALIBRATION_SHIFTS) -> tuple[float, float, float]:
        mean = {s: sum(logits(n, s).float() for n in names) / len(names) for s in SPLITS}
        val = _score(mean["val"], masks["val"], shifts)
        best = int(val.argmax())
        shift = shifts[best:best + 1]
        return float(val[best]), float(_score(mean["test"], masks["test"], shift)[0]), float(shift[0])

    for spec in args.pool:
        name, globs = spec.split("=", 1)
        names = [m for m in members if any(fnmatch.fnmatch(m, g) for g in globs.split(","))]
        v, te, sh = judge(names)
        print(f"{name:24s} {len(names):2d} members  val {v:6.2f}  test {te:6.2f}  shift {sh:+.2f}", flush=True)
    if args.greedy:
        # forward selection on validation only; test is reported, never used to choose. Shifts near the
        # ones every pool chose (-1..+1.5) keep each step affordable on 2 cores.
        near = CALIBRATION_SHIFTS[(CALIBRATION_SHIFTS >= -1) & (CALIBRATION_SHIFTS <= 1.5)]
        chosen: list[str] = []
        pool = [m for m in members if any(fnmatch.fnmatch(m, g) for g in args.greedy.split(","))]
        for _ in range(min(args.steps, len(pool))):
            (v, te, sh), m = max(((judge(chosen + [m], near), m) for m in pool), key=lambda x: x[0][0])
            chosen.append(m)
            pool.remove(m)
            print(f"greedy +{m:16s} {len(chosen):2d} members  val {v:6.2f}  test {te:6.2f}  shift {sh:+.2f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("dump")
    p.add_argument("members", nargs="+")
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("pools")
    p.add_argument("dir")
    p.add_argument("--pool", action="append", default=[], help="NAME=GLOB[,GLOB...] over member folder names")
    p.add_argument("--greedy", help="GLOB[,GLOB...]: forward selection on validation IoU among these members")
    p.add_argument("--steps", type=int, default=8, help="members the forward selection adds at most")
    args = ap.parse_args()
    {"dump": dump, "pools": pools}[args.cmd](args)


if __name__ == "__main__":
    main()
