#!/usr/bin/env python3
"""Untouched 'shallow depth of field' photos for the `noise` layer, made from the TRAINING photo pool.

    python research/noise_dof_data.py PHOTOS_DIR OUT_DIR [--count 40] [--seed 71]

A camera blurs the out-of-focus background optically and then adds its sensor noise to every pixel
alike; the last JPEG then keeps that noise where there is texture and quantises it away where the
picture is smooth. So: a view of a pool photo (long side 768-1024 px), everything outside a blob
(the in-focus subject, 15-40 % of the view) blurred by a Gaussian of sigma 3-8 px with a soft edge,
Gaussian noise of sigma 1.5-4 grey levels added to the whole view, and a final JPEG at q75/85/95
(one in three downscaled by 0.75 first). Nothing is pasted: every flag is a false alarm.
Photos are split into dev/check halves by name hash as `evidence_val_data.py` does. Writes
OUT_DIR/{dev,check}/manifest.json (benchmark layout; kind `authentic_dof`, mask null).
"""
from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from evidence_val_data import _view, halves  # noqa: E402  (the same views and split as the other own sets)


def _blob(h: int, w: int, rng, frac) -> np.ndarray:
    area = float(rng.uniform(*frac)) * h * w
    ry = np.sqrt(area / np.pi) * rng.uniform(0.7, 1.4)
    rx = area / np.pi / ry
    cy, cx = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w
    yy, xx = np.mgrid[0:h, 0:w]
    return (((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0).astype(np.float32)


def make(photo: Path, rng) -> np.ndarray:
    rgb = np.asarray(Image.open(photo).convert("RGB"))
    v = _view(rgb, rng).astype(np.float32)
    h, w = v.shape[:2]
    focus = cv2.GaussianBlur(_blob(h, w, rng, (0.15, 0.4)), (0, 0), 6)[..., None]
    sigma = float(rng.uniform(3, 8))
    out = focus * v + (1 - focus) * cv2.GaussianBlur(v, (0, 0), sigma)
    out += rng.normal(0, float(rng.uniform(1.5, 4)), out.shape)
    out = np.clip(out, 0, 255).astype(np.uint8)
    if rng.random() < 1 / 3:
        out = cv2.resize(out, (round(w * 0.75), round(h * 0.75)), interpolation=cv2.INTER_AREA)
    buf = io.BytesIO()
    Image.fromarray(out).save(buf, "JPEG", quality=int(rng.choice([75, 85, 95])))
    return buf.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("photos")
    ap.add_argument("out")
    ap.add_argument("--count", type=int, default=40)
    ap.add_argument("--seed", type=int, default=71)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    for split, group in halves(a.photos).items():
        root = Path(a.out) / split
        (root / "images").mkdir(parents=True, exist_ok=True)
        entries = []
        for i in range(a.count):
            photo = group[i % len(group)]
            name = f"images/{i:04d}_dof.jpg"
            (root / name).write_bytes(make(photo, rng))
            entries.append({"image": name, "mask": None, "source_mask": None, "kind": "authentic_dof",
                            "manipulated": False, "photo": photo.name})
        (root / "manifest.json").write_text(json.dumps(entries, indent=1))
        print(f"{split}: {len(group)} photos, {a.count} untouched shallow-depth-of-field views")


if __name__ == "__main__":
    main()
