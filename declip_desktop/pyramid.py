"""Precomputed multi-resolution copies of an image and of its probability map.

Built once, off the GUI thread (QImage is safe to build in a worker; QPixmap is not), so the
viewer can draw any zoom level from a copy close to screen resolution: a slider move then only
recolours the visible part of one small level and never touches the full-size data
(segment-anything style: compute the heavy part once, let cheap controls reuse it).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PySide6.QtGui import QImage

MIN_LEVEL_SIZE = 384  # stop halving when the long side is this small


def _halve(arr: np.ndarray) -> np.ndarray:
    """2x2 box down-sampling of a uint8 HxW or HxWxC array (odd edges are cropped)."""
    h, w = arr.shape[:2]
    h2, w2 = h // 2, w // 2
    a = arr[: h2 * 2, : w2 * 2]
    s = a[0::2, 0::2].astype(np.uint16)
    s += a[1::2, 0::2]
    s += a[0::2, 1::2]
    s += a[1::2, 1::2]
    s += 2
    s >>= 2
    return s.astype(np.uint8)


def build_levels(arr: np.ndarray) -> list[np.ndarray]:
    levels = [arr]
    while max(levels[-1].shape[:2]) > MIN_LEVEL_SIZE and min(levels[-1].shape[:2]) >= 4:
        levels.append(_halve(levels[-1]))
    return levels


def rgb_to_bgra(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 RGB -> HxWx4 bytes in QImage.Format_RGB32 memory order (B, G, R, 0xFF).

    Done with numpy, which releases the GIL; QImage.convertToFormat would hold it for
    ~200 ms on a 24 MP photo and freeze the GUI thread."""
    h, w = rgb.shape[:2]
    out = np.empty((h, w, 4), dtype=np.uint8)
    out[..., 0] = rgb[..., 2]
    out[..., 1] = rgb[..., 1]
    out[..., 2] = rgb[..., 0]
    out[..., 3] = 255
    return out


def bgra_qimage(bgra: np.ndarray) -> QImage:
    """A QImage viewing `bgra`'s memory (no copy). The caller keeps `bgra` alive."""
    h, w = bgra.shape[:2]
    return QImage(bgra.data, w, h, 4 * w, QImage.Format.Format_RGB32)


@dataclass
class ImagePyramid:
    """The evidence image at full size and at successive halvings, ready to draw."""

    width: int
    height: int
    levels: list[QImage]
    buffers: list[np.ndarray] = field(default_factory=list, repr=False)  # memory behind `levels`

    @classmethod
    def from_array(cls, rgb: np.ndarray) -> "ImagePyramid":
        arrays = build_levels(np.ascontiguousarray(rgb[..., :3]))
        buffers = []
        for i, a in enumerate(arrays):
            buffers.append(rgb_to_bgra(a))
            arrays[i] = None  # free each RGB level once converted
        return cls(width=rgb.shape[1], height=rgb.shape[0], levels=[bgra_qimage(b) for b in buffers],
                   buffers=buffers)

    def thumbnail(self, size: int = 128) -> QImage:
        smallest = self.levels[-1]
        from PySide6.QtCore import Qt

        return smallest.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                               Qt.TransformationMode.SmoothTransformation)


@dataclass
class MapPyramid:
    """A probability map as uint8 levels (0..255 = 0..1), plus what the live readouts need."""

    width: int
    height: int
    levels: list[np.ndarray]
    probability: np.ndarray  # float32 full size, for the value under the cursor
    score: float
    above: np.ndarray = field(repr=False, default=None)  # above[k] = pixels with q16 > k
    max_value: float = 1.0  # the highest probability in the map: thresholds above it flag nothing

    @classmethod
    def from_probability(cls, prob: np.ndarray, score: float | None = None) -> "MapPyramid":
        prob = np.asarray(prob, dtype=np.float32)
        q16 = np.empty(prob.shape, dtype=np.uint16)
        scaled = np.clip(prob, 0.0, 1.0) * np.float32(65535.0)
        np.rint(scaled, out=scaled)
        q16[...] = scaled
        del scaled
        flat = q16.ravel()
        counts = np.zeros(65536, dtype=np.int64)
        step = 1 << 21  # bincount holds the GIL: count in slices so the GUI thread gets turns
        for start in range(0, flat.size, step):
            counts += np.bincount(flat[start:start + step], minlength=65536)
        above = counts[::-1].cumsum()[::-1]  # above[k] = count(q >= k)
        above = np.concatenate([above[1:], [0]])  # -> count(q > k)
        u8 = ((q16.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
        del q16
        if score is None:
            score = float(prob.mean())
        nonzero = np.flatnonzero(counts)
        top = float(nonzero[-1]) / 65535.0 if nonzero.size else 0.0
        return cls(width=prob.shape[1], height=prob.shape[0], levels=build_levels(u8),
                   probability=prob, score=float(score), above=above, max_value=top)

    def flagged_fraction(self, threshold: float) -> float:
        """Share of pixels with probability above `threshold` (16-bit precision, O(1))."""
        k = int(round(min(max(threshold, 0.0), 1.0) * 65535))
        return float(self.above[k]) / float(self.width * self.height)

    def value_at(self, x: int, y: int) -> float | None:
        if 0 <= x < self.width and 0 <= y < self.height:
            return float(self.probability[y, x])
        return None
