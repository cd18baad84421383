"""Colour maps and overlays shared by the CLI, the GUI and the report (one look everywhere).

Colour maps are 256-entry LUTs interpolated from anchor colours (values from the published
matplotlib/Google definitions); viridis and cividis are colour-blind safe.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image

_ANCHORS: dict[str, list[tuple[int, int, int]]] = {
    "inferno": [(0, 0, 4), (40, 11, 84), (101, 21, 110), (159, 42, 99), (212, 72, 66), (245, 125, 21),
                (250, 193, 39), (252, 255, 164)],
    "viridis": [(68, 1, 84), (72, 40, 120), (62, 74, 137), (49, 104, 142), (38, 130, 142), (31, 158, 137),
                (53, 183, 121), (109, 205, 89), (180, 222, 44), (253, 231, 37)],
    "cividis": [(0, 34, 78), (18, 53, 112), (59, 73, 108), (87, 92, 109), (112, 113, 115), (138, 134, 120),
                (165, 156, 116), (195, 179, 105), (225, 204, 85), (254, 232, 56)],
    "jet": [(0, 0, 128), (0, 0, 255), (0, 128, 255), (0, 255, 255), (128, 255, 128), (255, 255, 0),
            (255, 128, 0), (255, 0, 0), (128, 0, 0)],
    "turbo": [(48, 18, 59), (70, 107, 227), (40, 187, 236), (50, 242, 152), (164, 252, 60), (237, 208, 58),
              (251, 128, 34), (210, 49, 5), (122, 4, 3)],
    "gray": [(0, 0, 0), (255, 255, 255)],
}
COLORMAPS = tuple(_ANCHORS)
COLORBLIND_SAFE = ("viridis", "cividis")
DISPLAY_MODES = ("heat", "mask", "contour")
MASK_COLOUR = (255, 40, 40)


@lru_cache(maxsize=None)
def lut(name: str = "inferno") -> np.ndarray:
    """(256, 3) uint8 colour table."""
    if name not in _ANCHORS:
        raise ValueError(f"unknown colour map {name!r}; choose one of {', '.join(COLORMAPS)}")
    a = np.asarray(_ANCHORS[name], np.float64)
    x = np.linspace(0, 1, len(a))
    t = np.linspace(0, 1, 256)
    out = np.stack([np.interp(t, x, a[:, c]) for c in range(3)], axis=1)
    out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    out.setflags(write=False)
    return out


def to_u8(prob: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(np.asarray(prob, np.float32) * 255.0), 0, 255).astype(np.uint8)


def contour_of(mask: np.ndarray, width: int = 1) -> np.ndarray:
    """Boundary pixels of a boolean mask (4-neighbour edge), thickened to `width`."""
    m = mask.astype(bool)
    edge = np.zeros_like(m)
    edge[:-1] |= m[:-1] != m[1:]
    edge[1:] |= m[:-1] != m[1:]
    edge[:, :-1] |= m[:, :-1] != m[:, 1:]
    edge[:, 1:] |= m[:, :-1] != m[:, 1:]
    edge &= m
    for _ in range(max(0, width - 1)):
        grown = edge.copy()
        grown[1:] |= edge[:-1]
        grown[:-1] |= edge[1:]
        grown[:, 1:] |= edge[:, :-1]
        grown[:, :-1] |= edge[:, 1:]
        edge = grown
    return edge


def render_overlay(rgb: np.ndarray, prob: np.ndarray, cmap: str = "inferno", opacity: float = 0.5,
                   threshold: float | None = None, mode: str = "heat", contour_width: int = 2) -> np.ndarray:
    """Blend the probability map over the image. Returns HxWx3 uint8.

    heat: colour-mapped probability; with a threshold only pixels above it are coloured.
    mask: pixels above the threshold (default 0.5) tinted in one colour.
    contour: outline of the thresholded region.
    """
    rgb = np.asarray(rgb, np.uint8)
    if prob.shape != rgb.shape[:2]:
        prob = np.asarray(Image.fromarray(np.asarray(prob, np.float32), "F").resize(
            (rgb.shape[1], rgb.shape[0]), Image.BILINEAR))
    opacity = float(np.clip(opacity, 0.0, 1.0))
    if mode == "heat" and threshold is None:
        return _heat_blend(rgb, to_u8(prob), cmap, opacity)
    base = rgb.astype(np.float32)
    if mode == "heat":
        colour = lut(cmap)[to_u8(prob)].astype(np.float32)
        alpha = np.full(prob.shape, opacity, np.float32)
        if threshold is not None:
            alpha[prob <= threshold] = 0.0
    elif mode in ("mask", "contour"):
        thr = 0.5 if threshold is None else threshold
        region = prob > thr
        sel = region if mode == "mask" else contour_of(region, contour_width)
        colour = np.empty_like(base)
        colour[:] = lut(cmap)[255] if mode == "mask" and cmap != "gray" else MASK_COLOUR
        alpha = sel.astype(np.float32) * (opacity if mode == "mask" else 1.0)
    else:
        raise ValueError(f"unknown display mode {mode!r}; choose one of {', '.join(DISPLAY_MODES)}")
    out = base * (1 - alpha[..., None]) + colour * alpha[..., None]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


@lru_cache(maxsize=16)
def _heat_table(cmap: str, opacity: float) -> np.ndarray:
    """(3, 256, 256) uint8: [channel, image value, map index] -> blended value.

    The blend below, tabulated: the same float32 arithmetic on every (pixel, colour) pair there is,
    so the overlay is the same to the bit and costs one table look-up per value instead of five
    float32 passes over a 12 MP image (about 1.4 s and 500 MB)."""
    alpha = np.full((1, 1, 1), opacity, np.float32)
    image = np.arange(256, dtype=np.float32)[None, :, None]
    colour = lut(cmap).astype(np.float32).T[:, None, :]
    out = np.clip(np.rint(image * (1 - alpha) + colour * alpha), 0, 255).astype(np.uint8)
    out.setflags(write=False)
    return out


def _heat_blend(rgb: np.ndarray, index: np.ndarray, cmap: str, opacity: float) -> np.ndarray:
    table = _heat_table(cmap, opacity)
    out = np.empty(rgb.shape, np.uint8)
    for ch in range(3):
        flat = (rgb[..., ch].astype(np.uint16) << 8) | index
        np.take(table[ch].ravel(), flat, out=out[..., ch])
    return out


def colorbar_image(cmap: str = "inferno", width: int = 256, height: int = 16, vertical: bool = False) -> np.ndarray:
    """A colour-bar strip (low -> high), HxWx3 uint8."""
    table = lut(cmap)
    if vertical:
        idx = np.linspace(255, 0, height).round().astype(int)
        return np.repeat(table[idx][:, None, :], width, axis=1)
    idx = np.linspace(0, 255, width).round().astype(int)
    return np.repeat(table[idx][None, :, :], height, axis=0)
