"""Clones round 22 (issue #38): per copy-move figures of cached methods on a set (design data only).

For each copy-move view: IoU of each cached method (map > 0.5 against mask | source mask), the view's
post-processing (resize, JPEG quality), the copy's share of the view and the fine detail of its source
(mean |luma - Gaussian blur sigma 2|, the round 8 floor is 0.8).

    python research/clones_r22_items.py build/r21/out build/r21/lom-440 --methods kp,rsd,w1024
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter

from clones_r17_experiment import _flag  # noqa: E402  (research/ is the script folder)
from clones_scoring import entries  # noqa: E402


def detail(folder: Path, e: dict) -> float:
    luma = np.asarray(Image.open(folder / e["image"]).convert("L"), dtype=np.float32)
    src = np.asarray(Image.open(folder / e["source_mask"]).convert("L")) > 127
    return float(np.abs(luma - gaussian_filter(luma, 2))[src].mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("data", type=Path)
    ap.add_argument("--methods", default="kp,rsd")
    a = ap.parse_args()
    have = dict(np.load(a.out / f"{a.data.name}.npz"))
    methods = a.methods.split(",")
    print("view  " + " ".join(f"{m:>6s}" for m in methods) + "  resize  q  share  detail")
    for e in entries(a.data, ("copymove",)):
        stem = Path(e["image"]).stem
        gt = np.asarray(Image.open(a.data / e["mask"]).convert("L")) > 127
        gt |= np.asarray(Image.open(a.data / e["source_mask"]).convert("L")) > 127
        ious = []
        for m in methods:
            f = _flag(have, f"{stem}|{m}")
            ious.append(100 * (f & gt).sum() / max((f | gt).sum(), 1))
        post = e.get("post", {})
        print(f"{stem[:3]}  " + " ".join(f"{v:6.1f}" for v in ious)
              + f"  {post.get('resize', 1):5}  {post.get('jpeg_quality', '-')}  {e['mask_fraction']:.3f}  {detail(a.data, e):.2f}")


if __name__ == "__main__":
    main()
