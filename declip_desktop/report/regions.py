"""The most strongly flagged regions of a probability map, found as connected components."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

# Components are searched on a copy of the map at most this many pixels on its long side: fast,
# and regions smaller than a pixel at this scale are too small to crop meaningfully anyway.
SEARCH_LONG_SIDE = 768


@dataclass
class Region:
    rank: int
    box: tuple[int, int, int, int]   # x0, y0, x1, y1 (exclusive) in probability-map pixels
    area_fraction: float             # share of the image covered by the component
    mean_probability: float
    max_probability: float

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1]


def shrink(prob: np.ndarray, long_side: int) -> np.ndarray:
    """Area-averaged copy of `prob` no larger than `long_side` (the map itself if small enough)."""
    h, w = prob.shape
    factor = -(-max(h, w) // long_side)   # ceil: whole pixels per block, so the result fits
    if factor <= 1:
        return prob.astype(np.float32, copy=False)
    return np.asarray(Image.fromarray(prob.astype(np.float32, copy=False), mode="F").reduce(factor),
                      dtype=np.float32)


def flagged_regions(prob: np.ndarray, threshold: float, max_regions: int = 4,
                    min_area_fraction: float = 0.0005, small: np.ndarray | None = None) -> list[Region]:
    """Up to `max_regions` components of `prob > threshold`, strongest first.

    Strength = summed probability over the component (large, confident regions first). Boxes are
    returned in the coordinates of `prob`. `small` = shrink(prob, ...) when the caller has it.
    """
    if prob.ndim != 2 or prob.size == 0:
        return []
    h, w = prob.shape
    if small is None:
        small = shrink(prob, SEARCH_LONG_SIDE)
    sh, sw = small.shape
    mask = small > threshold
    if not mask.any():
        return []
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    flat = labels.ravel()
    area = np.bincount(flat, minlength=n + 1)[1:]
    psum = np.bincount(flat, weights=small.ravel(), minlength=n + 1)[1:]
    total = float(sh * sw)
    keep = [i for i in np.argsort(-psum, kind="stable") if area[i] / total >= min_area_fraction]
    slices = ndimage.find_objects(labels)
    out: list[Region] = []
    fx, fy = w / sw, h / sh
    for rank, i in enumerate(keep[:max_regions], 1):
        ys, xs = slices[i]
        box = (int(np.floor(xs.start * fx)), int(np.floor(ys.start * fy)),
               min(w, int(np.ceil(xs.stop * fx))), min(h, int(np.ceil(ys.stop * fy))))
        pmax = float(small[ys, xs][labels[ys, xs] == i + 1].max())
        out.append(Region(rank=rank, box=box, area_fraction=float(area[i] / total),
                          mean_probability=float(psum[i] / area[i]), max_probability=pmax))
    return out
