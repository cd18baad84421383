"""Tiled analysis (beyond the paper): overlapping model-size windows over a rescaled image,
blended with a tent weight so window borders leave no seams."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import ImageError

# Bounds on one tiled analysis. Without them a 5000x3 strip (short side scaled up to the tile size)
# planned 2222 tiles and a huge working image; time and memory grow with both, so refuse instead.
MAX_TILES = 4096
MAX_SCALED_PIXELS = 128_000_000  # the rescaled working image (RGB copy plus two float32 blend planes)
MAX_SCALE = 4.0  # explicit scale upper bound: enlarging more only interpolates, it adds no detail
AUTO_LONG_SIDE_FACTOR = 4  # automatic scale: long side at most this many times max_side


class TilingError(ImageError, ValueError):
    """An image/settings pair that tiled mode refuses. An ImageError, so front-ends report it for that
    image and go on with the rest; a ValueError for callers that checked plan_tiles' old errors."""


@dataclass
class TilePlan:
    scale: float
    scaled_w: int
    scaled_h: int
    tile: int
    stride: int
    boxes: list[tuple[int, int]]  # top-left (x, y) of each window in scaled pixels

    def as_metadata(self) -> dict:
        return {"tile_size": self.tile, "stride": self.stride, "scale": round(self.scale, 6),
                "scaled_size": [self.scaled_w, self.scaled_h], "tiles": len(self.boxes)}


def _count(length: int, tile: int, stride: int) -> int:
    # len(_starts(...)) without building the list (which is what must not explode)
    return 1 if length <= tile else math.ceil((length - tile) / stride) + 1


def _starts(length: int, tile: int, stride: int) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile + 1, stride))
    if starts[-1] != length - tile:
        starts.append(length - tile)
    return starts


def default_stride(tile: int) -> int:
    """The stride used when none is given: three quarters of the window. Public because the report decides
    from it whether a re-run must pass --tile-stride; a copy of the rule there could drift from this one."""
    return tile * 3 // 4


def plan_tiles(width: int, height: int, tile: int = 224, stride: int | None = None,
               scale: float | None = None, max_side: int = 1024) -> TilePlan:
    """scale=None picks one that keeps the long side <= max_side and the short side >= tile."""
    if stride is None:
        stride = default_stride(tile)
    if not 0 < stride <= tile:
        raise TilingError(f"tile stride must be in 1..{tile}, found {stride}")
    if width <= 0 or height <= 0:
        raise TilingError(f"image has no pixels ({width}x{height})")
    if scale is None:
        scale = min(1.0, max_side / max(width, height))
        scale = max(scale, tile / min(width, height))
        long_side = round(max(width, height) * scale)
        # Raising the short side to the window size drags the long side along; past a few times
        # max_side that is a strip (e.g. 5000x3 -> 373333x224 px), not a photo: refuse, don't explode.
        if long_side > AUTO_LONG_SIDE_FACTOR * max_side:
            raise TilingError(
                f"image is {width}x{height}: too elongated for tiled mode (bringing its short side to the "
                f"{tile} px window makes the long side {long_side} px, limit {AUTO_LONG_SIDE_FACTOR * max_side}); "
                "use --mode paper")
    elif not (0 < scale <= MAX_SCALE):  # `not (...)` also catches NaN, which passes every comparison
        raise TilingError(f"tile scale must be above 0 and at most {MAX_SCALE:g}, found {scale}")
    sw, sh = max(tile, round(width * scale)), max(tile, round(height * scale))
    n = _count(sw, tile, stride) * _count(sh, tile, stride)
    if n > MAX_TILES or sw * sh > MAX_SCALED_PIXELS:
        raise TilingError(f"image is {width}x{height}: too large for tiled mode at this scale and stride "
                          f"({n} windows on a {sw}x{sh} px working image; limits {MAX_TILES} windows, "
                          f"{MAX_SCALED_PIXELS / 1e6:.0f} MP); use a smaller --tile-scale, a larger "
                          "--tile-stride or --mode paper")
    boxes = [(x, y) for y in _starts(sh, tile, stride) for x in _starts(sw, tile, stride)]
    return TilePlan(scale, sw, sh, tile, stride, boxes)


def tent_weight(tile: int) -> np.ndarray:
    """Separable tent, never zero, so every pixel has weight and seams fade out."""
    r = 1.0 - np.abs(np.linspace(-1, 1, tile, dtype=np.float32))
    r = 0.05 + 0.95 * r
    return np.outer(r, r).astype(np.float32)


class Blender:
    def __init__(self, plan: TilePlan):
        self.plan = plan
        self.acc = np.zeros((plan.scaled_h, plan.scaled_w), np.float32)
        self.wsum = np.zeros_like(self.acc)
        self.w = tent_weight(plan.tile)

    def add(self, box: tuple[int, int], prob: np.ndarray) -> None:
        x, y = box
        t = self.plan.tile
        self.acc[y:y + t, x:x + t] += prob * self.w
        self.wsum[y:y + t, x:x + t] += self.w

    def result(self) -> np.ndarray:
        return self.acc / np.maximum(self.wsum, 1e-12)
