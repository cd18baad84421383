"""Synthetic clone-detection data for tuning the `clones` layer (issue #38, round 2).

Mimics, on photos of the project's own pool (scripts/collect_photos.py --extra-train; never the
external benchmark's photographs), the two kinds a clone detector must find:

- `copymove`: an object-shaped region (trainer.synth.region_mask) rotated 8-30 degrees either way,
  rescaled 0.85-1.15, feathered (sigma 0-2.5 px) and pasted elsewhere; `mask` = where it was pasted,
  `source_mask` = the region copied;
- `removal_patch`: an object-shaped hole (1-12 % of the image, dilated 5 px) filled by PatchMatch
  (pypatchmatch, as trainer.synth does);
- `authentic`: the view untouched.

Each view is a random crop (60-100 %) of a photo, long side 1024 px (never enlarged); after the edit,
one in three is downscaled by 0.75 and every image is saved as JPEG at quality 75, 85 or 95. Writes a
benchmark-style folder (images/, masks/, masks_source/, manifest.json) that
`declip evaluate --layer clones --data DIR --no-ela [--sweep ...]` scores directly (then
`python -m trainer.layer_scoring`, since folded into `trainer.evaluate`).

    python research/clones_synth_data.py build/photos build/clones-synth --per-kind 24 --seed 38

`--realistic` (round 3) makes the views the way external-v1's README says its images were made, on
the pool's own photos (scripts/collect_photos.py, no wallpaper photo): every view has a long side of
1024 px (smaller photos enlarged by up to 2x, bicubic, which also makes their content smoother), is
saved as a q95 "camera original" and decoded before the edit; half the regions (`flat`) are the
least textured of 8 candidate regions, and a copy-move's target is then the least textured of the
placements that fit (sky, water, walls, skin), so that the keypoint-free case is well represented.
Each manifest entry records `flat` and `upscale`.

    python research/clones_synth_data.py build/photos build/clones-real --realistic --per-kind 24 --seed 338
"""
from __future__ import annotations

import argparse
import io
import json
import math
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from trainer.synth import _read_rgb, inward_alpha, region_mask


def view(rgb: np.ndarray, rng: np.random.Generator, long_side: int = 1024, max_up: float = 1.0) -> np.ndarray:
    h, w = rgb.shape[:2]
    frac = float(rng.uniform(0.6, 1.0))
    ch, cw = int(h * frac), int(w * frac)
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    crop = rgb[y:y + ch, x:x + cw]
    f = min(max_up, long_side / max(ch, cw))
    if f != 1:
        crop = cv2.resize(crop, (round(cw * f), round(ch * f)),
                          interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC)
    return np.ascontiguousarray(crop)


def texture(rgb: np.ndarray) -> np.ndarray:
    """Local fine-detail level (std of luma minus its blur, 15x15 box): low on sky, water, walls, skin."""
    g = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    d = g - cv2.GaussianBlur(g, (0, 0), 2.0)
    return np.sqrt(cv2.blur(d * d, (15, 15)))


def camera_original(rgb: np.ndarray) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=95)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")).copy()


def pick_region(host: np.ndarray, rng: np.random.Generator, area: tuple[float, float], flat: bool) -> np.ndarray:
    if not flat:
        return region_mask(host, rng, area)
    tex = texture(host)
    cands = [region_mask(host, rng, area) for _ in range(8)]
    return min(cands, key=lambda m: float(tex[m].mean()) if m.any() else 1e9)


STRESS = {"area": (0.02, 0.10), "feather": (0.0, 2.5), "overlap": 0.05, "near": False,   # round 8 stress sets
          "interp": "linear", "resize_interp": "area"}                                   # round 14 stress sets
INTERP = {"nearest": cv2.INTER_NEAREST, "linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC,
          "lanczos": cv2.INTER_LANCZOS4, "area": cv2.INTER_AREA}


def copy_move(host: np.ndarray, rng: np.random.Generator, flat: bool = False):
    """(image, target mask, source mask) or None when no placement fits."""
    h, w = host.shape[:2]
    src = pick_region(host, rng, STRESS["area"], flat)
    ys, xs = np.nonzero(src)
    cy, cx = ys.mean(), xs.mean()
    ang = float(rng.uniform(8, 30)) * (1 if rng.random() < 0.5 else -1)
    s = float(rng.uniform(0.85, 1.15))
    rad = math.hypot(ys.max() - ys.min(), xs.max() - xs.min()) / 2 * s + 4
    tex = texture(host) if flat else None
    fits = []
    for _ in range(50):
        ty = float(rng.uniform(rad, h - rad)) if h > 2 * rad else None
        tx = float(rng.uniform(rad, w - rad)) if w > 2 * rad else None
        if ty is None or tx is None:
            return None
        if STRESS["near"]:   # a short move: the copy lands next to, or partly over, its own source
            ty = float(np.clip(cy + rng.uniform(-1.6, 1.6) * rad, rad, h - rad))
            tx = float(np.clip(cx + rng.uniform(-1.6, 1.6) * rad, rad, w - rad))
        a = cv2.getRotationMatrix2D((cx, cy), ang, s)
        a[:, 2] += [tx - cx, ty - cy]
        tgt = cv2.warpAffine(src.astype(np.float32), a, (w, h), flags=cv2.INTER_LINEAR) > 0.5
        if tgt.sum() > 0.5 * src.sum() and (tgt & src).sum() < STRESS["overlap"] * tgt.sum():
            fits.append((a, tgt))
            if not flat or len(fits) >= 12:
                break
    if not fits:
        return None
    a, tgt = min(fits, key=lambda f: float(tex[f[1]].mean())) if flat else fits[0]
    moved = cv2.warpAffine(host, a, (w, h), flags=INTERP[STRESS["interp"]], borderMode=cv2.BORDER_REFLECT)
    alpha = inward_alpha(tgt, float(rng.uniform(*STRESS["feather"])))[..., None]
    out = (alpha * moved + (1 - alpha) * host).round().astype(np.uint8)
    return out, tgt, src


def removal(host: np.ndarray, rng: np.random.Generator, flat: bool = False):
    from patchmatch import patch_match

    m = pick_region(host, rng, (0.01, 0.12), flat)
    m = cv2.dilate(m.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    out = np.asarray(patch_match.inpaint(host, m.astype(np.uint8) * 255, patch_size=3), np.uint8)
    out[~m] = host[~m]
    return out, m & np.any(out != host, axis=-1), None


def finish(img: np.ndarray, masks: list, rng: np.random.Generator):
    post = {}
    if rng.random() < 1 / 3:
        h, w = img.shape[:2]
        nw, nh = round(w * 0.75), round(h * 0.75)
        img = cv2.resize(img, (nw, nh), interpolation=INTERP[STRESS["resize_interp"]])
        masks = [None if m is None else cv2.resize(m.astype(np.uint8), (nw, nh), interpolation=cv2.INTER_NEAREST)
                 .astype(bool) for m in masks]
        post["resize"] = 0.75
    q = int(rng.choice([75, 85, 95]))
    post["jpeg_quality"] = q
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=q)
    return buf.getvalue(), masks, post


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("photos")
    p.add_argument("out")
    p.add_argument("--per-kind", type=int, default=24)
    p.add_argument("--authentic", type=int, default=16)
    p.add_argument("--seed", type=int, default=38)
    p.add_argument("--realistic", action="store_true", help="round 3: 1024 px views, q95 original, flat regions")
    p.add_argument("--flat-share", type=float, default=0.5, help="with --realistic: share of flat regions")
    p.add_argument("--area", default="0.02,0.10", help="round 8 stress: copied region's share of the image")
    p.add_argument("--feather", default="0,2.5", help="round 8 stress: feather sigma range, px")
    p.add_argument("--overlap", type=float, default=0.05, help="round 8 stress: most of the copy over its source")
    p.add_argument("--no-removal", action="store_true", help="copy-moves (and --authentic) only")
    p.add_argument("--near", action="store_true", help="round 8 stress: the copy lands within 1.6 radii of its source")
    p.add_argument("--interp", default="linear", choices=["nearest", "linear", "cubic", "lanczos"],
                   help="round 14 stress: the copy's rotation and rescaling kernel")
    p.add_argument("--resize-interp", default="area", choices=["nearest", "linear", "cubic", "lanczos", "area"],
                   help="round 14 stress: the kernel of the 0.75 downscale of one image in three")
    a = p.parse_args()
    STRESS.update(interp=a.interp, resize_interp=a.resize_interp, area=tuple(map(float, a.area.split(","))), feather=tuple(map(float, a.feather.split(","))),
                  overlap=a.overlap, near=a.near)
    rng = np.random.default_rng(a.seed)
    photos = sorted(q for q in Path(a.photos).iterdir() if q.suffix.lower() in (".jpg", ".png"))
    out = Path(a.out)
    for sub in ("images", "masks", "masks_source"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    manifest = []
    plan = ["copymove"] * a.per_kind + ["removal_patch"] * (0 if a.no_removal else a.per_kind) + ["authentic"] * a.authentic
    for i, kind in enumerate(plan):
        for _ in range(10):
            photo = photos[int(rng.integers(len(photos)))]
            rgb = _read_rgb(photo)
            flat = bool(a.realistic and rng.random() < a.flat_share)
            host = view(rgb, rng, max_up=2.0) if a.realistic else view(rgb, rng)
            upscale = round(max(host.shape[:2]) / max(rgb.shape[:2]), 3)
            if a.realistic:
                host = camera_original(host)
            made = (host, None, None) if kind == "authentic" else \
                (copy_move if kind == "copymove" else removal)(host, rng, flat and kind != "authentic")
            if made is not None and (kind == "authentic" or made[1].sum() > 200):
                break
        img, tgt, src = made
        data, (tgt, src), post = finish(img, [tgt, src], rng)
        stem = f"{i:03d}_{kind}"
        (out / "images" / f"{stem}.jpg").write_bytes(data)
        e = {"image": f"images/{stem}.jpg", "mask": None, "source_mask": None, "kind": kind, "photo": photo.name,
             "manipulated": kind != "authentic", "post": post}
        if a.realistic:
            e.update(flat=flat and kind != "authentic", upscale=upscale)
        if tgt is not None:
            Image.fromarray(tgt.astype(np.uint8) * 255).save(out / "masks" / f"{stem}.png")
            e["mask"] = f"masks/{stem}.png"
            e["mask_fraction"] = round(float(tgt.mean()), 4)
        if src is not None:
            Image.fromarray(src.astype(np.uint8) * 255).save(out / "masks_source" / f"{stem}.png")
            e["source_mask"] = f"masks_source/{stem}.png"
        manifest.append(e)
        print(stem, photo.name, post, flush=True)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
