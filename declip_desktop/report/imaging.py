"""Pictures for the report: the evidence image, overlay, mask, colour bar, boxed regions, crops.

Everything is rendered at print size (about 150 dpi at the width it is shown) and photos are
stored as JPEG, so a 100-item report stays small. Colours and blending are the viewer's
(`engine.overlay`), so the report looks like the screen.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps
from reportlab.platypus import Image as RLImage

import resources
from engine.images import as_rgb, read_orientation
from engine.overlay import colorbar_image, known, render_overlay

from .regions import Region

WORK_LONG_SIDE = 2000      # JPEG draft decodes at the smallest 1/2^k scale still >= this (crops come from it)
PANEL_LONG_SIDE = 560      # pixels of one of the four panels (about 150 dpi at 9 cm)
THUMB_LONG_SIDE = 120
CROP_LONG_SIDE = 300
JPEG_QUALITY = 80
BOX_COLOURS = [(0, 229, 255), (255, 214, 0), (118, 255, 3), (255, 64, 129), (224, 64, 251), (255, 145, 0)]


class Unreadable(Exception):
    """The evidence image cannot be shown (missing or undecodable); str() says why."""


def load_evidence(path: Path | None, long_side: int = WORK_LONG_SIDE) -> Image.Image:
    """The evidence as RGB with EXIF orientation applied, decoded at most `long_side` large."""
    if path is None:
        raise Unreadable("no file recorded")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(path)
            k = long_side / max(img.size)   # draft() wants a box both sides of which the result covers
            img.draft("RGB", (max(1, int(img.width * k)), max(1, int(img.height * k))))  # JPEG: reduced-scale decode
            img.load()
            transposed = ImageOps.exif_transpose(img, in_place=False) if read_orientation(img)[0] != 1 else img
            img = transposed
            img = as_rgb(img)   # the analysis's own conversion: 16-bit, CMYK and alpha shown as analysed
            if max(img.size) > 2 * long_side:   # draft() only reduces JPEG; others are scaled here
                img.thumbnail((long_side, long_side), Image.LANCZOS, reducing_gap=2.0)
            return img
    except FileNotFoundError:
        raise Unreadable(f"file not found: {path}") from None
    except Exception as exc:  # corrupt or unsupported: the report still goes on
        raise Unreadable(f"cannot decode {Path(path).name}: {exc}") from None


def fit(img: Image.Image, long_side: int) -> Image.Image:
    """A resized copy no larger than `long_side` (never enlarged)."""
    scale = long_side / max(img.size)
    if scale >= 1:
        return img.copy()
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img.resize(size, Image.LANCZOS, reducing_gap=2.0)


def prob_at(prob: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Probability map resampled to `size` (w, h) for display."""
    if prob.shape[::-1] == tuple(size):
        return prob.astype(np.float32, copy=False)
    im = Image.fromarray(prob.astype(np.float32, copy=False), mode="F")
    # Box (area average) when shrinking keeps small regions visible; bilinear when enlarging.
    method = Image.BOX if size[0] < prob.shape[1] else Image.BILINEAR
    return np.clip(np.asarray(im.resize(size, method), dtype=np.float32), 0.0, 1.0)


# ---- colour -------------------------------------------------------------------------------
# The viewer's tables, blending and threshold outline (engine.overlay), so a printed figure looks
# like the screen the analyst judged it on.
def overlay(rgb: Image.Image, prob: np.ndarray, cmap: str, opacity: float, threshold: float) -> Image.Image:
    """The viewer's heat display at the analyst's opacity and threshold: pixels at or below the
    threshold faded, the threshold's outline drawn, as on screen and in the CLI's overlay PNG."""
    arr = np.asarray(rgb.convert("RGB"), dtype=np.uint8)
    p = prob_at(prob, rgb.size) if prob.shape != arr.shape[:2] else prob
    width = max(1, round(max(rgb.size) / 280))  # about one screen pixel at the printed size
    return Image.fromarray(render_overlay(arr, p, cmap=known(cmap), opacity=opacity, threshold=threshold,
                                          mode="heat", outline_width=width))


def mask_image(prob: np.ndarray, size: tuple[int, int], threshold: float) -> Image.Image:
    """Binary mask at display size: white = flagged (probability above the threshold)."""
    p = prob_at(prob, size)
    return Image.fromarray(np.where(p > threshold, 255, 0).astype(np.uint8), mode="L")


def colorbar(cmap: str, width: int = 512, height: int = 14) -> Image.Image:
    return Image.fromarray(colorbar_image(known(cmap), width, height))


@lru_cache(maxsize=4)
def _label_font(size: int):
    try:
        return ImageFont.truetype(str(resources.path("fonts", "DejaVuSans-Bold.ttf")), size)
    except Exception:
        return ImageFont.load_default()


def draw_boxes(rgb: Image.Image, regions: list[Region], map_size: tuple[int, int]) -> Image.Image:
    """Copy of `rgb` with each region's bounding box and its number drawn on it."""
    out = rgb.copy()
    d = ImageDraw.Draw(out)
    sx, sy = rgb.width / map_size[0], rgb.height / map_size[1]
    lw = max(2, round(max(rgb.size) / 220))
    font = _label_font(max(11, round(max(rgb.size) / 32)))
    for r in regions:
        col = BOX_COLOURS[(r.rank - 1) % len(BOX_COLOURS)]
        x0, y0, x1, y1 = r.box[0] * sx, r.box[1] * sy, r.box[2] * sx - 1, r.box[3] * sy - 1
        d.rectangle([x0 - lw, y0 - lw, x1 + lw, y1 + lw], outline=(0, 0, 0), width=1)
        d.rectangle([x0, y0, x1, y1], outline=col, width=lw)
        label = str(r.rank)
        tb = d.textbbox((0, 0), label, font=font)
        tw, th = tb[2] - tb[0], tb[3] - tb[1]
        lx, ly = x0, y0 - th - 2 * lw - 2
        if ly < 0:
            ly = y0 + lw
        d.rectangle([lx, ly, lx + tw + 2 * lw + 2, ly + th + 2 * lw + 2], fill=col)
        d.text((lx + lw + 1 - tb[0], ly + lw + 1 - tb[1]), label, fill=(0, 0, 0), font=font)
    return out


def crop(work: Image.Image, region: Region, map_size: tuple[int, int], long_side: int = CROP_LONG_SIDE,
         pad: float = 0.2) -> Image.Image:
    """The region cut from the decoded evidence with a margin of context around it."""
    sx, sy = work.width / map_size[0], work.height / map_size[1]
    x0, y0, x1, y1 = region.box
    bw, bh = (x1 - x0) * sx, (y1 - y0) * sy
    m = max(pad * max(bw, bh), 8)
    box = (max(0, int(x0 * sx - m)), max(0, int(y0 * sy - m)),
           min(work.width, int(np.ceil(x1 * sx + m))), min(work.height, int(np.ceil(y1 * sy + m))))
    c = work.crop(box)
    scale = long_side / max(c.size)
    if scale < 1:
        c = c.resize((max(1, round(c.width * scale)), max(1, round(c.height * scale))), Image.LANCZOS)
    elif scale > 1:  # small regions are enlarged with visible pixels, never smoothed into detail
        scale = max(1, int(scale))
        c = c.resize((c.width * scale, c.height * scale), Image.NEAREST)
    # The region itself, outlined thinly in its colour inside the context margin.
    k = c.width / (box[2] - box[0])
    rx0, ry0 = (x0 * sx - box[0]) * k, (y0 * sy - box[1]) * k
    rx1, ry1 = (x1 * sx - box[0]) * k - 1, (y1 * sy - box[1]) * k - 1
    d = ImageDraw.Draw(c)
    col = BOX_COLOURS[(region.rank - 1) % len(BOX_COLOURS)]
    d.rectangle([rx0, ry0, rx1, ry1], outline=col, width=max(1, round(c.width / 160)))
    return c


# ---- into the PDF ---------------------------------------------------------------------------
@dataclass
class Encoded:
    """An image compressed for the PDF (JPEG for photos, PNG for masks) and its pixel size."""

    data: bytes
    width: int
    height: int


def encode(img: Image.Image, lossless: bool = False) -> Encoded:
    buf = io.BytesIO()
    if lossless:
        img.save(buf, format="PNG", optimize=True)
    else:
        img.convert("RGB").save(buf, format="JPEG", quality=JPEG_QUALITY, optimize=True, subsampling=2)
    return Encoded(buf.getvalue(), img.width, img.height)


def flowable(img: "Encoded | Image.Image", max_w: float, max_h: float, lossless: bool = False) -> RLImage:
    """A platypus Image fitted into max_w x max_h points. reportlab embeds JPEG data as is."""
    enc = img if isinstance(img, Encoded) else encode(img, lossless)
    scale = min(max_w / enc.width, max_h / enc.height)
    return RLImage(io.BytesIO(enc.data), width=enc.width * scale, height=enc.height * scale)
