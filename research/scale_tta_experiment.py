#!/usr/bin/env python3
"""Round 24 experiment: does averaging the default model over input sizes (multi-scale test-time
averaging) beat its one 448-px view?

    python research/scale_tta_experiment.py dump --data DS --split val --sizes 384,448,512 --out DIR
    python research/scale_tta_experiment.py score DIR --split val --combo 448 --combo 448+512 [...]

`dump` runs the shipped default model (flip-averaged, as it analyses) at each input size and stores
its 256x256 logit map per image (float16). `score` averages the logits of each combination of sizes,
resizes the map to the image as the engine does, and reports the mean IoU at 0.5 over the
manipulated images, the measure `declip evaluate` reports. Sizes are chosen on validation; test is
only reported.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import Detector  # noqa: E402
from engine.preprocess import resize_map  # noqa: E402
from trainer import datasets as D  # noqa: E402
from trainer import metrics as M  # noqa: E402


@torch.inference_mode()
def _logits(det: Detector, pil) -> torch.Tensor:
    """The (256,256) logit map as the engine computes it (flip-averaged by the network itself),
    taken before the sigmoid rather than recovered from the probabilities."""
    return det.net.decode(det.extract_features(det.preprocess(pil)[None]))[0, 0].float()


def dump(args) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ds = D.load_dataset(Path(args.data), args.split)
    fakes = [s for s in ds.samples if s.label]
    (out / f"{args.split}.names.json").write_text(json.dumps([str(s.image) for s in fakes]))
    det = Detector.from_model(args.model, device="cpu")
    for size in [int(x) for x in args.sizes.split(",")]:
        dest = out / f"{args.split}.{size}.npy"
        if dest.exists():
            continue
        det.input_size = size
        maps = np.zeros((len(fakes), 256, 256), np.float16)
        for i, s in enumerate(fakes):
            pil = D.read_rgb(s.image)
            maps[i] = _logits(det, pil).numpy()
            if i % 50 == 0:
                print(f"{args.split} {size}: {i}/{len(fakes)}", flush=True)
        np.save(dest, maps)


def score(args) -> None:
    d = Path(args.dir)
    names = [Path(n) for n in json.loads((d / f"{args.split}.names.json").read_text())]
    ds = D.load_dataset(Path(args.data), args.split)
    by_name = {s.image: s for s in ds.samples}
    gts = []
    for n in names:
        s = by_name[n]
        size = D.read_rgb(s.image).size
        gts.append(D.read_mask(s, size))
    cache: dict[int, np.ndarray] = {}
    for combo in args.combo:
        sizes = [int(x) for x in combo.split("+")]
        for s in sizes:
            if s not in cache:
                cache[s] = np.load(d / f"{args.split}.{s}.npy")
        ious = []
        for i, gt in enumerate(gts):
            mean = sum(torch.from_numpy(cache[s][i].astype(np.float32)) for s in sizes) / len(sizes)
            prob = resize_map(torch.sigmoid(mean + args.shift), gt.shape[0], gt.shape[1])
            ious.append(M.iou(prob, gt))
        print(f"{args.split} {combo:16s} IoU {np.mean(ious):6.2f}  ({len(ious)} images)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("dump")
    p.add_argument("--data", required=True)
    p.add_argument("--split", default="val")
    p.add_argument("--sizes", default="384,448,512")
    p.add_argument("--model", default=None, help="model id or folder (default: the embedded default)")
    p.add_argument("--out", required=True)
    p = sub.add_parser("score")
    p.add_argument("dir")
    p.add_argument("--data", required=True)
    p.add_argument("--split", default="val")
    p.add_argument("--combo", action="append", default=[], help="sizes joined by +, e.g. 448+512")
    p.add_argument("--shift", type=float, default=0.0, help="constant added to the mean logit")
    args = ap.parse_args()
    {"dump": dump, "score": score}[args.cmd](args)


if __name__ == "__main__":
    main()
