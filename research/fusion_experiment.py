#!/usr/bin/env python3
"""Round 19 experiment: do two models on different backbones (Lite0 and Lite2 ensembles) make
different mistakes, so that the mean of their logits maps edits better than either alone?

    python research/fusion_experiment.py dump MODEL_DIR --data DS --split val --out LOGITS.npz
    python research/fusion_experiment.py fuse A.npz B.npz [C.npz ...] --data DS --split val [--weights 0.5,0.5]

`dump` runs the model through the engine exactly as `declip analyze` does in paper mode (the card's
flip averaging included) and stores each image's 256x256 logit map (float16). `fuse` combines such
files with weights (a grid over the first file's weight when two files and no --weights), then
scores them as `declip evaluate` does: sigmoid, bilinear resize to the image size, per-image
metrics averaged over the manipulated images.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.preprocess import resize_map  # noqa: E402
from trainer import datasets as D  # noqa: E402
from trainer import metrics as M  # noqa: E402


def dump(args) -> None:
    from trainer.mixture import part_logits

    ds = D.load_dataset(Path(args.data), args.split)
    t0 = time.perf_counter()
    logits, kept, _ = part_logits(Path(args.model), ds.samples)
    names = [str(ds.samples[i].image) for i in kept]
    print(f"{len(names)} images, {time.perf_counter() - t0:.0f} s")
    np.savez(args.out, names=np.array(names), logits=logits.numpy().astype(np.float16), model=str(args.model))


def _load(paths):
    files = [np.load(p) for p in paths]
    names = list(files[0]["names"])
    for p, f in zip(paths[1:], files[1:]):
        if list(f["names"]) != names:
            raise SystemExit(f"{p}: not the same images in the same order as {paths[0]}")
    return names, [torch.from_numpy(f["logits"].astype(np.float32)) for f in files]


def score(logit: torch.Tensor, samples, full: bool = False) -> dict:
    ious, aps, f1s, kinds = [], [], [], {}
    for lg, s in zip(logit, samples):
        pil_size = s._size
        prob = resize_map(torch.sigmoid(lg), pil_size[1], pil_size[0])
        gt = s._gt
        if s.label:
            if full:
                m = M.localisation_metrics(prob, gt)
                ious.append(m["iou"]); aps.append(m["pixel_ap"]); f1s.append(m["f1_best"])
            else:
                ious.append(M.iou(prob, gt))
            kinds.setdefault(s._kind, []).append(ious[-1])
    out = {"iou": float(np.mean(ious))}
    if full:
        out.update(pixel_ap=M.mean_ignoring_nan(aps), f1_best=M.mean_ignoring_nan(f1s),
                   kinds={k: round(float(np.mean(v)), 2) for k, v in sorted(kinds.items())})
    return out


def fuse(args) -> None:
    import json

    names, logits = _load(args.files)
    ds = D.load_dataset(Path(args.data), args.split)
    by_name = {str(s.image): s for s in ds.samples}
    manifest = json.loads((Path(args.data) / "manifest.json").read_text())
    kind_of = {it["image"]: it.get("kind", "?") for it in manifest.get("items", [])}  # split/images/name
    samples = []
    for n in names:
        s = by_name[n]
        pil = D.read_rgb(s.image)
        s._size, s._gt = pil.size, D.read_mask(s, pil.size, [])
        s._kind = kind_of.get("/".join(Path(n).parts[-3:]), "?")
        samples.append(s)
    if args.weights:
        grid = [[float(w) for w in args.weights.split(",")]]
    elif len(logits) == 2:
        grid = [[w / 10, 1 - w / 10] for w in range(11)]
    else:
        grid = [[1 / len(logits)] * len(logits)]
    shifts = [float(x) for x in args.shifts.split(",")]
    for ws in grid:
        mix = sum(w * lg for w, lg in zip(ws, logits))
        row = {f"{s:+.2f}": round(score(mix + s, samples)["iou"], 2) for s in shifts}
        print("weights", ws, "IoU by shift", row, flush=True)
    if args.full:
        ws = grid[0] if len(grid) == 1 else None
        if ws:
            print("full", score(sum(w * lg for w, lg in zip(ws, logits)) + shifts[0], samples, full=True))


def main() -> None:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("model")
    d.add_argument("--data", required=True)
    d.add_argument("--split", default="val")
    d.add_argument("--out", required=True)
    f = sub.add_parser("fuse")
    f.add_argument("files", nargs="+")
    f.add_argument("--data", required=True)
    f.add_argument("--split", default="val")
    f.add_argument("--weights")
    f.add_argument("--shifts", default="0")
    f.add_argument("--full", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(2)
    dump(args) if args.cmd == "dump" else fuse(args)


if __name__ == "__main__":
    main()
