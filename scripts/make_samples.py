#!/usr/bin/env python3
"""Build resources/samples/: the photos behind `declip-desktop --demo`, with their licences.

    python scripts/make_samples.py [OUT_DIR]

Sources are scikit-image's bundled sample photographs (public domain / CC0). Two of them are
manipulated here on purpose (a copy-move and a splice) so the demo has something to find; their
ground-truth masks go to OUT_DIR/masks/ (not evidence, so the demo does not ingest them).
Everything is written as JPEG quality 92, long side 512 px, to keep the package small.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parent.parent
LONG_SIDE = 512


def skimage_photo(name: str) -> Image.Image:
    import skimage

    p = Path(skimage.__file__).parent / "data" / f"{name}.png"
    return Image.open(p).convert("RGB")


def fit(img: Image.Image) -> Image.Image:
    s = LONG_SIDE / max(img.size)
    return img.resize((round(img.width * s), round(img.height * s)), Image.LANCZOS) if s < 1 else img


def paste_soft(dst: np.ndarray, src: np.ndarray, box_src, box_dst) -> np.ndarray:
    """Paste src[box_src] into dst at box_dst with a feathered edge; returns the 0/255 mask."""
    (sy, sx, h, w), (dy, dx) = box_src, box_dst
    patch = src[sy:sy + h, sx:sx + w].astype(np.float32)
    mask = Image.new("L", (w, h), 0)
    inner = Image.new("L", (w - 12, h - 12), 255)
    mask.paste(inner, (6, 6))
    alpha = np.asarray(mask.filter(ImageFilter.GaussianBlur(3)), np.float32)[..., None] / 255.0
    region = dst[dy:dy + h, dx:dx + w].astype(np.float32)
    dst[dy:dy + h, dx:dx + w] = np.clip(region * (1 - alpha) + patch * alpha, 0, 255).astype(np.uint8)
    full = np.zeros(dst.shape[:2], np.uint8)
    full[dy:dy + h, dx:dx + w] = (alpha[..., 0] > 0.5) * 255
    return full


def main(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(exist_ok=True)
    licences = {}
    originals = {
        "astronaut": ("Public domain (NASA)", "NASA, Eileen Collins; via scikit-image skimage.data.astronaut"),
        "chelsea": ("CC0-1.0", "Stefan van der Walt; via scikit-image skimage.data.chelsea"),
        "coffee": ("CC0-1.0", "Rachel Michetti; via scikit-image skimage.data.coffee"),
    }
    photos = {}
    for name, (lic, attribution) in originals.items():
        img = fit(skimage_photo(name))
        photos[name] = np.asarray(img).copy()
        img.save(out / f"{name}.jpg", quality=92)
        licences[f"{name}.jpg"] = {"licence": lic, "attribution": attribution, "group": name, "manipulated": False}

    cat = photos["chelsea"].copy()
    h, w = cat.shape[:2]
    mask = paste_soft(cat, photos["chelsea"], (int(h * 0.55), int(w * 0.05), int(h * 0.3), int(w * 0.22)),
                      (int(h * 0.05), int(w * 0.7)))
    Image.fromarray(cat).save(out / "chelsea_copy_move.jpg", quality=92)
    Image.fromarray(mask).save(out / "masks" / "chelsea_copy_move.mask.png")
    licences["chelsea_copy_move.jpg"] = {
        "licence": "CC0-1.0", "attribution": originals["chelsea"][1], "group": "chelsea",
        "manipulated": True, "manipulation": "copy-move: a patch of the lower left pasted at the top right "
        "(feathered edge); ground truth in masks/chelsea_copy_move.mask.png", "made_by": "scripts/make_samples.py"}

    astro = photos["astronaut"].copy()
    coffee = photos["coffee"]
    ah, aw = astro.shape[:2]
    ch, cw = coffee.shape[:2]
    mask = paste_soft(astro, coffee, (int(ch * 0.25), int(cw * 0.3), int(ah * 0.28), int(aw * 0.28)),
                      (int(ah * 0.62), int(aw * 0.64)))
    Image.fromarray(astro).save(out / "astronaut_splice.jpg", quality=92)
    Image.fromarray(mask).save(out / "masks" / "astronaut_splice.mask.png")
    licences["astronaut_splice.jpg"] = {
        "licence": "Public domain (NASA) + CC0-1.0", "attribution": originals["astronaut"][1] + "; "
        + originals["coffee"][1], "group": "astronaut", "manipulated": True,
        "manipulation": "splice: a patch of coffee.jpg pasted at the lower right (feathered edge); "
        "ground truth in masks/astronaut_splice.mask.png", "made_by": "scripts/make_samples.py"}
    # Same layout as scripts/collect_photos.py (a list of {file, licence, attribution, group}),
    # which `declip synth` reads too.
    entries = [{"file": name, **meta} for name, meta in licences.items()]
    (out / "LICENSES.json").write_text(json.dumps(entries, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(licences)} samples to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "resources" / "samples"))
