#!/usr/bin/env python3
"""A small validation set for the classical evidence layers, made from the TRAINING photo pool.

    python research/evidence_val_data.py PHOTOS_DIR OUT_DIR [--pastes 60] [--authentic 40] [--seed 38] [--reduce 0.6,0.8]

Mimics the kind of post-processing examiners meet (and that external-v1 describes in words; no
image of it is read): a "camera original" saved at JPEG q95, then either nothing (`authentic`) or
a polygon cut from another photo, rescaled x1.1-1.5 (bilinear or bicubic) and pasted with a hard
edge (`resampled_paste`), or (with --ghosts N) a polygon of the same picture replaced by its own
copy saved at JPEG q50-80 on the same 8x8 grid (`recompressed_region`, Farid's ghost case), then, for one item in three, the whole picture downscaled by 0.75, and a
final JPEG at quality 75, 85 or 95. Photos are split in two halves by name hash (`dev` to tune,
`check` to confirm), so a choice made on `dev` is checked on photos it never saw.
Writes OUT_DIR/{dev,check}/manifest.json (the benchmark layout: image, mask, source_mask, kind,
manipulated, post) with images/ and masks/.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw


def _jpeg(rgb: np.ndarray, q: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=int(q))
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"))


def _view(rgb: np.ndarray, rng, long_side=(768, 1024)) -> np.ndarray:
    """A crop of the photo with a long side in the range; photos larger than that are reduced first
    (INTER_AREA), smaller ones are used at their own size (never enlarged: that would resample the host)."""
    h, w = rgb.shape[:2]
    target = int(rng.integers(long_side[0], long_side[1] + 1))
    if max(h, w) > target * 1.3:
        f = target * 1.3 / max(h, w)
        rgb = cv2.resize(rgb, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
        h, w = rgb.shape[:2]
    ch, cw = min(h, target), min(w, target)
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    return np.ascontiguousarray(rgb[y:y + ch, x:x + cw])


def _polygon(h: int, w: int, rng, frac) -> np.ndarray:
    area = float(rng.uniform(*frac)) * h * w
    r = np.sqrt(area / np.pi)
    cy, cx = rng.uniform(r + 2, h - r - 2), rng.uniform(r + 2, w - r - 2)
    n = int(rng.integers(5, 10))
    ang = np.sort(rng.uniform(0, 2 * np.pi, n))
    rad = r * rng.uniform(0.7, 1.3, n)
    pts = [(float(cx + a * np.cos(t)), float(cy + a * np.sin(t))) for a, t in zip(rad, ang)]
    m = Image.new("L", (w, h), 0)
    ImageDraw.Draw(m).polygon(pts, fill=255)
    return np.asarray(m) > 127


def make(photos: list[Path], out: Path, n_paste: int, n_auth: int, seed: int, n_ghost: int = 0,
         reduce: tuple[float, float] | None = None) -> None:
    rng = np.random.default_rng(seed)
    cache: dict[Path, np.ndarray] = {}
    # --reduce: each photo reduced once (INTER_AREA, a factor drawn per photo from its own name's hash,
    # so the item sequence of the random generator is unchanged), as a camera photo viewed at 1024 px
    # was: its detail then reaches Nyquist, which the pool's small, soft photos mostly do not
    def rgb(p: Path) -> np.ndarray:
        if p not in cache:
            a = np.asarray(Image.open(p).convert("RGB"))
            if reduce:
                u = int(hashlib.sha256(p.name.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
                f = reduce[0] + (reduce[1] - reduce[0]) * u
                a = cv2.resize(a, (round(a.shape[1] * f), round(a.shape[0] * f)), interpolation=cv2.INTER_AREA)
            cache[p] = a
        return cache[p]

    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    entries = []
    for i in range(n_paste + n_auth + n_ghost):
        paste = i < n_paste
        ghost = i >= n_paste + n_auth
        host_p = photos[int(rng.integers(len(photos)))]
        host = _jpeg(_view(rgb(host_p), rng), 95)             # the "camera original"
        h, w = host.shape[:2]
        post: dict = {}
        mask = None
        if paste:
            donor_p = [p for p in photos if p != host_p][int(rng.integers(len(photos) - 1))]
            donor = _jpeg(_view(rgb(donor_p), rng), 95)
            s = float(rng.uniform(1.1, 1.5))
            interp = [cv2.INTER_LINEAR, cv2.INTER_CUBIC][int(rng.integers(2))]
            big = cv2.resize(donor, (round(donor.shape[1] * s), round(donor.shape[0] * s)), interpolation=interp)
            mask = _polygon(h, w, rng, (0.01, 0.07))
            ys, xs = np.nonzero(mask)
            bh, bw = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
            if big.shape[0] < bh or big.shape[1] < bw:
                big = cv2.resize(big, (max(bw, big.shape[1]), max(bh, big.shape[0])), interpolation=interp)
            oy, ox = int(rng.integers(0, big.shape[0] - bh + 1)), int(rng.integers(0, big.shape[1] - bw + 1))
            patch = big[oy:oy + bh, ox:ox + bw]
            host = host.copy()
            sub = mask[ys.min():ys.min() + bh, xs.min():xs.min() + bw]
            host[ys.min():ys.min() + bh, xs.min():xs.min() + bw][sub] = patch[sub]
            post.update(scale=round(s, 3), interpolation="bicubic" if interp == cv2.INTER_CUBIC else "bilinear",
                        donor=donor_p.name)
        if ghost:
            mask = _polygon(h, w, rng, (0.01, 0.07))
            q1 = int(rng.integers(50, 81))
            host = host.copy()
            host[mask] = _jpeg(host, q1)[mask]
            post.update(first_quality=q1)
        if rng.random() < 1 / 3:
            nh, nw = round(h * 0.75), round(w * 0.75)
            host = cv2.resize(host, (nw, nh), interpolation=cv2.INTER_AREA)
            if mask is not None:
                mask = cv2.resize(mask.astype(np.uint8), (nw, nh), interpolation=cv2.INTER_NEAREST) > 0
            post["resize"] = 0.75
        q = int(rng.choice([75, 85, 95]))
        post["jpeg_quality"] = q
        kind = "resampled_paste" if paste else "recompressed_region" if ghost else "authentic"
        name = f"{i:04d}_{kind}"
        Image.fromarray(host).save(out / "images" / f"{name}.jpg", "JPEG", quality=q)
        if mask is not None:
            Image.fromarray(mask.astype(np.uint8) * 255).save(out / "masks" / f"{name}.png")
        entries.append({"image": f"images/{name}.jpg", "mask": f"masks/{name}.png" if mask is not None else None,
                        "source_mask": None, "kind": kind, "manipulated": mask is not None, "host": host_p.name, "post": post})
    (out / "manifest.json").write_text(json.dumps(entries, indent=1))


def halves(photos_dir) -> dict[str, list[Path]]:
    """The pool's photos (.jpg, .png) split in two by a hash of their names: `dev` to tune, `check` to confirm.
    Every own set made from the pool uses this split, so a photo is on the same side in each."""
    out: dict[str, list[Path]] = {"dev": [], "check": []}
    for p in sorted(p for p in Path(photos_dir).iterdir() if p.suffix.lower() in (".jpg", ".png")):
        out["dev" if int(hashlib.sha256(p.name.encode()).hexdigest(), 16) % 2 else "check"].append(p)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("photos")
    ap.add_argument("out")
    ap.add_argument("--pastes", type=int, default=60)
    ap.add_argument("--authentic", type=int, default=40)
    ap.add_argument("--ghosts", type=int, default=0)
    ap.add_argument("--seed", type=int, default=38)
    ap.add_argument("--reduce", default=None, help="LO,HI: reduce each photo by a factor in [LO, HI] first (full-band originals)")
    a = ap.parse_args()
    reduce = tuple(float(v) for v in a.reduce.split(",")) if a.reduce else None
    for k, (name, ph) in enumerate(halves(a.photos).items()):
        make(ph, Path(a.out) / name, a.pastes // 2, a.authentic // 2, a.seed + k, a.ghosts // 2, reduce)
        print(f"{name}: {len(ph)} photos, {a.pastes // 2} pastes, {a.authentic // 2} authentic, {a.ghosts // 2} ghosts")


if __name__ == "__main__":
    main()
