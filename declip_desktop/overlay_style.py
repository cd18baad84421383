"""The viewer's side of the shared look (`engine.overlay`): a style, and its tables as Qt wants them.

Changing a slider only rebuilds a 256-entry table (microseconds); the per-pixel work is one
table lookup over the visible part of one pyramid level, plus the threshold's outline there.
Pure numpy, no Qt.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

import numpy as np

from engine import overlay as look


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

    @property
    def drawn_as(self) -> str:
        """The engine's display mode this one draws (side by side: the heat map beside the original)."""
        return "heat" if self is DisplayMode.SIDE_BY_SIDE else self.value


@dataclass(frozen=True)
class OverlayStyle:
    cmap: str = "inferno"
    opacity: float = 0.5  # 0..1
    threshold: float = look.DEFAULT_THRESHOLD  # 0..1
    mode: DisplayMode = DisplayMode.HEAT

    def with_(self, **kw) -> "OverlayStyle":
        return replace(self, **kw)

    @property
    def threshold_u8(self) -> int:
        return look.threshold_u8(self.threshold)

    def rgba(self) -> np.ndarray:
        return look.style_rgba(look.known(self.cmap), round(self.opacity, 4), round(self.threshold, 4),
                               self.mode.drawn_as)


def _pack(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """(N,3) colours + (N,) alpha 0..1 -> (N,) uint32 straight (not premultiplied) ARGB,
    the form QImage.setColorTable expects."""
    a8 = (np.clip(alpha, 0.0, 1.0) * 255).round().astype(np.uint32)
    c = np.clip(np.rint(rgb), 0, 255).astype(np.uint32)
    return np.where(a8 > 0, (a8 << 24) | (c[:, 0] << 16) | (c[:, 1] << 8) | c[:, 2], 0).astype(np.uint32)


def color_table(style: OverlayStyle) -> np.ndarray:
    """256 ARGB32 entries: index = map value 0..255 (the engine's table for this style)."""
    t = style.rgba()
    return _pack(t[:, :3], t[:, 3])


def outline_table() -> np.ndarray:
    """Two entries: 0 = transparent, 1 = the threshold's outline, opaque."""
    rgb = np.stack([np.zeros(3, np.uint8), np.asarray(look.THRESHOLD_COLOUR, np.uint8)])
    return _pack(rgb, np.array([0.0, 1.0]))


def draws_outline(style: OverlayStyle) -> bool:
    return look.draws_outline(style.mode.drawn_as)


def contour(u8: np.ndarray, threshold_u8: int) -> np.ndarray:
    """uint8 0/1 image of the outline of {u8 > threshold} (engine.overlay.outline_of)."""
    return look.outline_of(u8, int(threshold_u8)).view(np.uint8)


def colorize(u8: np.ndarray, style: OverlayStyle) -> np.ndarray:
    """HxW uint8 map -> HxW uint32 straight ARGB for `style` (any mode), outline on top; for tests."""
    out = color_table(style)[u8]
    if draws_outline(style):
        out = np.where(contour(u8, style.threshold_u8).astype(bool), outline_table()[1], out)
    return out
