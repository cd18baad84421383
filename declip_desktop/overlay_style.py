"""How the probability overlay is drawn: colour tables for one style, and the contour of a map.

Changing a slider only rebuilds a 256-entry table (microseconds); the per-pixel work is one
table lookup over the visible part of one pyramid level. Pure numpy, no Qt.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

import numpy as np

from declip_desktop import colormaps


class DisplayMode(str, Enum):
    HEAT = "heat"
    MASK = "mask"
    CONTOUR = "contour"
    ORIGINAL = "original"
    SIDE_BY_SIDE = "side_by_side"

    @property
    def label(self) -> str:
        return {
            "heat": "Heat map",
            "mask": "Thresholded mask",
            "contour": "Contour outline",
            "original": "Original only",
            "side_by_side": "Side by side",
        }[self.value]


@dataclass(frozen=True)
class OverlayStyle:
    cmap: str = "inferno"
    opacity: float = 0.5  # 0..1
    threshold: float = 0.5  # 0..1
    mode: DisplayMode = DisplayMode.HEAT

    def with_(self, **kw) -> "OverlayStyle":
        return replace(self, **kw)

    @property
    def threshold_u8(self) -> int:
        return int(round(min(max(self.threshold, 0.0), 1.0) * 255))


def _pack(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """(N,3) uint8 colours + (N,) alpha 0..1 -> (N,) uint32 straight (not premultiplied) ARGB,
    the form QImage.setColorTable expects."""
    a8 = (np.clip(alpha, 0.0, 1.0) * 255).round().astype(np.uint32)
    c = rgb.astype(np.uint32)
    return np.where(a8 > 0, (a8 << 24) | (c[:, 0] << 16) | (c[:, 1] << 8) | c[:, 2], 0).astype(np.uint32)


def mask_color(cmap: str) -> np.ndarray:
    """As engine.overlay.render_overlay: the colour map's top colour (grey map: the mask red)."""
    if cmap == "gray":
        return np.asarray(colormaps.MASK_COLOUR, dtype=np.uint8)
    return np.asarray(colormaps.lut(cmap)[255], dtype=np.uint8)


def color_table(style: OverlayStyle) -> np.ndarray:
    """256 ARGB32 entries: index = map value 0..255."""
    table = colormaps.lut(style.cmap)
    alpha = np.full(256, style.opacity)
    if style.mode is DisplayMode.MASK:
        alpha[: style.threshold_u8 + 1] = 0.0
        rgb = np.repeat(mask_color(style.cmap)[None, :], 256, axis=0)
        return _pack(rgb, alpha)
    if style.mode in (DisplayMode.ORIGINAL,):
        return np.zeros(256, dtype=np.uint32)
    return _pack(table, alpha)


def contour_table(style: OverlayStyle) -> np.ndarray:
    """Two entries: 0 = transparent, 1 = the outline in the engine's mask red, opaque."""
    rgb = np.stack([np.zeros(3, np.uint8), np.asarray(colormaps.MASK_COLOUR, np.uint8)])
    return _pack(rgb, np.array([0.0, 1.0]))


def contour(u8: np.ndarray, threshold_u8: int) -> np.ndarray:
    """uint8 0/1 image of the outline of {u8 > threshold}: mask minus its 4-neighbour erosion."""
    m = u8 > threshold_u8
    inner = m.copy()
    inner[1:, :] &= m[:-1, :]
    inner[:-1, :] &= m[1:, :]
    inner[:, 1:] &= m[:, :-1]
    inner[:, :-1] &= m[:, 1:]
    return (m & ~inner).view(np.uint8)


def colorize(u8: np.ndarray, style: OverlayStyle) -> np.ndarray:
    """HxW uint8 map -> HxW uint32 straight ARGB for `style` (any mode); for tests and export."""
    if style.mode is DisplayMode.CONTOUR:
        return contour_table(style)[contour(u8, style.threshold_u8)]
    return color_table(style)[u8]

