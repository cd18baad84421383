"""Corroboration: the regions each map flags at its own threshold, and which other maps agree.

An examiner corroborates a finding with two independent analyses that mark the same place. For
each map (the learned map, each evidence layer), every connected region above that map's
threshold is listed with its box and area, and with the other maps that flag a real part of it.
Computed on a copy of the maps shrunk to `long_side` pixels (regions, not pixels, are compared).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

AGREE_SHARE = 0.25      # another map agrees when it flags at least this share of the region
MIN_REGION_SHARE = 0.001  # regions smaller than this share of the image are not listed


@dataclass
class FlaggedRegion:
    source: str                      # the map that flags it ("learned map", "ela", ...)
    index: int                       # 1-based within its map, largest first
    box: list[int]                   # [x0, y0, x1, y1] in image pixels
    area_share: float                # of the whole image
    overlap: dict[str, float] = field(default_factory=dict)   # other map -> share of this region it flags

    @property
    def agrees_with(self) -> list[str]:
        return [k for k, v in self.overlap.items() if v >= AGREE_SHARE]

    def agreement_text(self) -> str:
        """'clones' / 'none' / 'touches: learned map 2 %': the maps that agree, then those that flag some of
        the region but less than AGREE_SHARE (so a small region inside a large one is not read as a
        contradiction: the small one agrees with the large one, which only touches the small one)."""
        partly = [f"{k} {max(1, round(100 * v))} %" for k, v in self.overlap.items() if 0 < v < AGREE_SHARE]
        parts = [", ".join(self.agrees_with)] if self.agrees_with else []
        if partly:
            parts.append("touches: " + ", ".join(partly))
        return "; ".join(parts) or "none"


def _shrink(prob: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    if prob.shape == size:
        return prob.astype(np.float32, copy=False)
    return cv2.resize(prob.astype(np.float32, copy=False), (size[1], size[0]), interpolation=cv2.INTER_AREA)


def corroborate(maps: dict[str, tuple[np.ndarray, float]], long_side: int = 512,
                max_regions: int = 8) -> list[FlaggedRegion]:
    """maps: name -> (probability HxW in [0, 1], threshold). All maps must share one image size."""
    from scipy import ndimage

    if not maps:
        return []
    shapes = {p.shape for p, _ in maps.values()}
    if len(shapes) != 1:
        raise ValueError(f"maps of different sizes cannot be compared: {sorted(shapes)}")
    h, w = shapes.pop()
    s = min(1.0, long_side / max(h, w))
    size = (max(1, round(h * s)), max(1, round(w * s)))
    masks = {n: _shrink(p, size) > float(t) for n, (p, t) in maps.items()}
    out: list[FlaggedRegion] = []
    for name, mask in masks.items():
        labels, n = ndimage.label(mask)
        if n == 0:
            continue
        areas = ndimage.sum_labels(np.ones_like(labels), labels, index=np.arange(1, n + 1))
        order = [int(i) + 1 for i in np.argsort(-areas) if areas[i] >= MIN_REGION_SHARE * mask.size][:max_regions]
        boxes = ndimage.find_objects(labels)
        for k, lab in enumerate(order, 1):
            region = labels == lab
            sl = boxes[lab - 1]
            box = [int(sl[1].start / s), int(sl[0].start / s), int(np.ceil(sl[1].stop / s)), int(np.ceil(sl[0].stop / s))]
            overlap = {other: float(m[region].mean()) for other, m in masks.items() if other != name}
            out.append(FlaggedRegion(name, k, box, float(region.sum()) / mask.size, overlap))
    return out


__all__ = ["AGREE_SHARE", "FlaggedRegion", "corroborate"]
