"""The one look of a probability map, shared by the viewer, the CLI overlay and the report.

A style (colour map, opacity, threshold, display mode) becomes a 256-entry RGBA table indexed by
the map quantised to 0..255, plus the threshold's outline. The viewer hands that table to Qt;
`render_overlay` blends the same table and outline over an array. So a threshold moved on screen
changes the picture in every mode, and the PNG or PDF shows what the examiner saw.

- heat: every pixel coloured; at or below the threshold faded to FADE of the opacity; the
  threshold's outline drawn in THRESHOLD_COLOUR.
- mask: pixels above the threshold in one colour (the map's top colour).
- contour: only the threshold's outline.
- original: nothing over the image.

Colour maps are 256-entry LUTs interpolated from anchor colours (values from the published
matplotlib/Google definitions); viridis and cividis are colour-blind safe. Pure numpy, no Qt.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image

from .bands import in_bands
from .quantise import BAND_ROWS, quantise

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
DISPLAY_MODES = ("heat", "mask", "contour", "original")
MASK_COLOUR = (255, 40, 40)
THRESHOLD_COLOUR = (0, 229, 255)  # the threshold's outline, and its marker on the colour bar
FADE = 0.3  # share of the opacity left to pixels at or below the threshold in the heat display
DEFAULT_THRESHOLD = 0.5


def known(name: str) -> str:
    """`name`, or inferno for a colour map this version lacks (an older or hand-edited case), so
    every front end shows such a case alike instead of failing."""
    return name if name in _ANCHORS else "inferno"


def is_color_blind_safe(name: str) -> bool:
    return name in COLORBLIND_SAFE


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
    return quantise(np.asarray(prob, np.float32), 255, np.float32, np.uint8)


def threshold_u8(threshold: float) -> int:
    """The threshold on the 0..255 scale the tables are indexed by: flagged means u8 > this."""
    return int(round(min(max(float(threshold), 0.0), 1.0) * 255))


def mask_colour(cmap: str) -> np.ndarray:
    """The mask display's colour: the map's top colour (grey map: the mask red)."""
    if cmap == "gray":
        return np.asarray(MASK_COLOUR, np.uint8)
    return np.asarray(lut(known(cmap))[255], np.uint8)


@lru_cache(maxsize=256)
def style_rgba(cmap: str, opacity: float, threshold: float, mode: str) -> np.ndarray:
    """(256, 4) float32 table: RGB 0..255 and alpha 0..1 for each quantised map value.

    The outline of the thresholded region is not in the table (it depends on the neighbours):
    draw `outline_of` over it in THRESHOLD_COLOUR when `draws_outline(mode)`."""
    if mode not in DISPLAY_MODES:
        raise ValueError(f"unknown display mode {mode!r}; choose one of {', '.join(DISPLAY_MODES)}")
    opacity = float(np.clip(opacity, 0.0, 1.0))
    t = threshold_u8(threshold)
    out = np.zeros((256, 4), np.float32)
    if mode == "heat":
        out[:, :3] = lut(known(cmap))
        out[:, 3] = opacity
        out[: t + 1, 3] = opacity * FADE
    elif mode == "mask":
        out[:, :3] = mask_colour(cmap)
        out[t + 1:, 3] = opacity
    out.setflags(write=False)
    return out


def draws_outline(mode: str) -> bool:
    return mode in ("heat", "contour")


def outline_of(u8: np.ndarray, threshold: float | int) -> np.ndarray:
    """bool HxW: pixels of {u8 > threshold} with a 4-neighbour outside it (image edges count as
    inside, so a region touching the border is not framed). threshold: 0..1, or 0..255 as int."""
    t = threshold if isinstance(threshold, (int, np.integer)) else threshold_u8(threshold)
    m = u8 > t
    inner = m.copy()
    inner[1:, :] &= m[:-1, :]
    inner[:-1, :] &= m[1:, :]
    inner[:, 1:] &= m[:, :-1]
    inner[:, :-1] &= m[:, 1:]
    return m & ~inner


def thicken(edge: np.ndarray, width: int) -> np.ndarray:
    """Grow a 1-pixel outline to `width` pixels (for prints and small reproductions)."""
    for _ in range(max(0, width - 1)):
        grown = edge.copy()
        grown[1:] |= edge[:-1]
        grown[:-1] |= edge[1:]
        grown[:, 1:] |= edge[:, :-1]
        grown[:, :-1] |= edge[:, 1:]
        edge = grown
    return edge


def render_overlay(rgb: np.ndarray, prob: np.ndarray, cmap: str = "inferno", opacity: float = 0.5,
                   threshold: float | None = None, mode: str = "heat", outline_width: int = 1) -> np.ndarray:
    """Blend the probability map over the image in the shared look. Returns HxWx3 uint8.

    threshold None means DEFAULT_THRESHOLD. outline_width > 1 thickens the threshold's outline
    (the viewer draws it one screen pixel wide)."""
    rgb = np.asarray(rgb, np.uint8)[..., :3]
    if prob.shape != rgb.shape[:2]:
        prob = np.asarray(Image.fromarray(np.asarray(prob, np.float32), "F").resize(
            (rgb.shape[1], rgb.shape[0]), Image.BILINEAR))
    thr = DEFAULT_THRESHOLD if threshold is None else float(threshold)
    table = _blend_table(known(cmap), round(float(opacity), 4), round(thr, 4), mode)
    u8 = to_u8(prob)
    out = np.empty(rgb.shape, np.uint8)
    in_bands(lambda y0, y1: _blend_rows(rgb, u8, table, out, y0, y1), rgb.shape[0])
    if draws_outline(mode):  # the outline is sparse: set its pixels by index, not through a 12 MP mask
        edge = np.flatnonzero(thicken(outline_of(u8, thr), outline_width))
        out.reshape(-1, 3)[edge] = THRESHOLD_COLOUR
    return out


def _blend_rows(rgb: np.ndarray, u8: np.ndarray, table: np.ndarray, out: np.ndarray, y0: int, y1: int) -> None:
    """out[y0:y1] = the blend of rgb and the map's 8-bit values there: one table look-up per value,
    BAND_ROWS rows at a time so the temporaries stay in the CPU cache."""
    index = np.empty((min(BAND_ROWS, y1 - y0), rgb.shape[1]), np.uint16)
    for y in range(y0, y1, BAND_ROWS):
        rows = slice(y, min(y + BAND_ROWS, y1))
        i = index[: rows.stop - y]
        for ch in range(3):
            np.left_shift(rgb[rows, :, ch], 8, out=i, dtype=np.uint16)
            np.bitwise_or(i, u8[rows], out=i)
            np.take(table[ch].ravel(), i, out=out[rows, :, ch], mode="clip")  # "clip": no range check, no buffer


@lru_cache(maxsize=32)
def _blend_table(cmap: str, opacity: float, threshold: float, mode: str) -> np.ndarray:
    """(3, 256, 256) uint8: [channel, image value, map value] -> the blended value, computed with
    the float32 blend image * (1 - alpha) + colour * alpha of `style_rgba` (so the result is the
    same to the bit as blending pixel by pixel, for a 12 MP photo in a fraction of the time)."""
    t = style_rgba(cmap, opacity, threshold, mode)
    image = np.arange(256, dtype=np.float32)[None, :, None]
    colour, alpha = t[:, :3].T[:, None, :], t[:, 3][None, None, :]
    out = np.clip(np.rint(image * (1 - alpha) + colour * alpha), 0, 255).astype(np.uint8)
    out.setflags(write=False)
    return out


def colorbar_image(cmap: str = "inferno", width: int = 256, height: int = 16, vertical: bool = False) -> np.ndarray:
    """A colour-bar strip (low -> high), HxWx3 uint8."""
    table = lut(known(cmap))
    if vertical:
        idx = np.linspace(255, 0, height).round().astype(int)
        return np.repeat(table[idx][:, None, :], width, axis=1)
    idx = np.linspace(0, 255, width).round().astype(int)
    return np.repeat(table[idx][None, :, :], height, axis=0)
