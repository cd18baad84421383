"""Tiled analysis (beyond the paper): overlapping model-size windows over a rescaled image,
blended with a tent weight so window borders leave no seams."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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


def _starts(length: int, tile: int, stride: int) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile + 1, stride))
    if starts[-1] != length - tile:
        starts.append(length - tile)
    return starts


def plan_tiles(width: int, height: int, tile: int = 224, stride: int | None = None,
               scale: float | None = None, max_side: int = 1024) -> TilePlan:
    """scale=None picks one that keeps the long side <= max_side and the short side >= tile."""
    if stride is None:
        stride = tile * 3 // 4
    if not 0 < stride <= tile:
        raise ValueError(f"tile stride must be in 1..{tile}, found {stride}")
    if scale is None:
        scale = min(1.0, max_side / max(width, height))
        scale = max(scale, tile / min(width, height))
    if scale <= 0:
        raise ValueError(f"tile scale must be positive, found {scale}")
    sw, sh = max(tile, round(width * scale)), max(tile, round(height * scale))
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
