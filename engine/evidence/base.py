"""What every evidence layer shares: the input it reads, the result it returns, its refusals.

A layer is a function `compute(src: EvidenceInput, **params) -> LayerOutput`. `engine.evidence.run`
wraps its output in the engine's one result type (`engine.AnalysisResult`), so the viewer, the
case and the report treat a layer like the learned map: `probability` is the layer's map in [0, 1]
at the image's displayed size, `score` its image-level score, `metadata` says how it was made.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from ..errors import DeclipError
from ..images import JPEG_FORMATS


class EvidenceError(DeclipError):
    """A layer that cannot run: it does not apply to this image, a bad parameter, an unreadable file."""


class LayerFailed(DeclipError):
    """A layer broke on one image (a defect or an extreme parameter the layer's checks did not foresee):
    one line naming the layer, the image and the error; the other layers and images go on."""


class NotApplicable(EvidenceError):
    """The layer does not apply to this image (a PNG for a JPEG-only layer, a 1x1 image ...): an answer
    about the image, not a failure (an evaluation scores it as an empty map)."""


@dataclass
class EvidenceInput:
    """An image as a layer sees it: displayed RGB, plus the file's bytes when the layer needs them."""

    rgb: np.ndarray                  # HxWx3 uint8, EXIF orientation applied (the map's frame)
    name: str
    sha256: str | None
    format: str | None               # Pillow's format name ("JPEG", "MPO", "PNG", ...) or None for arrays
    orientation: int = 1             # EXIF orientation that turns the stored pixels into `rgb`
    data: bytes | None = None        # the file's bytes (JPEG layers read the stored coefficients)

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    def gray(self) -> np.ndarray:
        """Luma (ITU-R BT.601, as JPEG uses) as float32."""
        r, g, b = (self.rgb[..., i].astype(np.float32) for i in range(3))
        return 0.299 * r + 0.587 * g + 0.114 * b

    def require_jpeg(self, layer: str) -> bytes:
        """The JPEG file's bytes, or a one-line refusal naming why this layer cannot apply."""
        if self.format not in JPEG_FORMATS or not self.data:
            what = self.format or "an array without a file"
            raise NotApplicable(f"{self.name}: layer {layer!r} needs a JPEG file, found {what}")
        return self.data

    def stored_luma(self, layer: str) -> np.ndarray:
        """The JPEG decoded in its STORED orientation (8x8 grid at the origin) as float32 luma."""
        data = self.require_jpeg(layer)

        def luma(native: bool) -> np.ndarray:
            with Image.open(io.BytesIO(data)) as im:
                if native and im.mode in ("RGB", "YCbCr"):
                    im.draft("YCbCr", im.size)     # libjpeg's own YCbCr output, no RGB round trip
                return np.asarray(im.convert("YCbCr"))[..., 0].astype(np.float32)

        try:
            try:
                return luma(native=True)
            except OSError:
                # a JPEG coded in RGB (Adobe transform 0), from which libjpeg gives no YCbCr: its RGB,
                # converted (before, "broken data stream" for an intact file)
                return luma(native=False)
        except (OSError, ValueError) as exc:
            raise EvidenceError(f"{self.name}: cannot decode the JPEG for layer {layer!r} ({exc})") from None

    def require_size(self, layer: str, minimum: int) -> None:
        if self.height < minimum or self.width < minimum:
            raise NotApplicable(f"{self.name}: layer {layer!r} needs an image of at least {minimum}x{minimum} "
                                f"pixels, found {self.width}x{self.height}")


@dataclass
class LayerOutput:
    """What a layer's compute function returns; `run` adds the shared metadata."""

    map: np.ndarray                  # float32 HxW in [0, 1] at the image's displayed size
    score: float                     # image-level score in [0, 1] (higher = more suspicious)
    parameters: dict[str, Any]
    details: dict[str, Any] = field(default_factory=dict)   # layer-specific facts (estimated qualities, clone pairs)
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)          # what this image's answer cannot tell, in words


def orient(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8) to a 2-D array stored in the file's frame."""
    ops = {1: lambda a: a, 2: np.fliplr, 3: lambda a: np.rot90(a, 2), 4: np.flipud,
           5: lambda a: np.transpose(a), 6: lambda a: np.rot90(a, -1), 7: lambda a: np.rot90(np.transpose(a), 2),
           8: lambda a: np.rot90(a, 1)}
    return np.ascontiguousarray(ops.get(int(orientation or 1), ops[1])(arr))


def robust_z(stat: np.ndarray, mask: np.ndarray | None = None, min_spread: float = 1e-6,
             relative_floor: float = 0.0) -> np.ndarray:
    """(stat - median) / (1.4826 * MAD) over the image (or `mask`): a robust z-score. The spread is
    at least `min_spread` and `relative_floor` x |median|."""
    ref = stat[mask] if mask is not None and mask.any() else stat
    ref = np.asarray(ref).ravel()
    if ref.size > 1_000_000:   # the median of a regular sample of a million values is as good, and 10x faster
        ref = ref[:: ref.size // 1_000_000]
    med = float(np.median(ref))
    mad = float(np.median(np.abs(ref - med))) * 1.4826
    spread = max(mad, relative_floor * (abs(med) + 1e-6), float(min_spread))
    return (stat - med) / spread


def relative_map(stat: np.ndarray, z_half: float, two_sided: bool = False, mask: np.ndarray | None = None,
                 min_spread: float = 1e-6) -> np.ndarray:
    """Deviation of a local statistic from the image's own typical value, mapped to [0, 1].

    z is the robust z-score over the image (or `mask`, see robust_z); the map is
    z^2 / (z^2 + z_half^2) for z > 0 (|z| when two-sided), so 0.5 means `z_half` robust standard
    deviations above the image's level. Measuring against the image itself is what keeps a
    uniformly noisy or heavily compressed photo from lighting up everywhere."""
    # the relative floor: when most of the image is identical (a spread of ~0), a tiny change is not news
    z = robust_z(stat, mask, min_spread=min_spread, relative_floor=1e-3)
    z = np.abs(z) if two_sided else np.maximum(z, 0.0)
    z2 = z.astype(np.float32) ** 2
    return (z2 / (z2 + np.float32(z_half) ** 2)).astype(np.float32)


def robust_line(x: np.ndarray, y: np.ndarray):
    """y ~ a + b x fitted by least squares, refitted twice without the worst 20 % (the edits themselves).

    The layers use it to remove what an image's content explains (texture raises the noise level
    and the error level alike) before measuring a region against the rest."""
    keep = np.ones(x.shape, bool)
    a, b = float(np.median(y)) if y.size else 0.0, 0.0
    for _ in range(2):
        if keep.sum() > 2 and np.ptp(x[keep]) > 1e-6:
            b, a = np.polyfit(x[keep], y[keep], 1)
        else:
            b, a = 0.0, float(np.median(y[keep])) if keep.any() else a
        res = np.abs(y - (a + b * x))
        keep = res <= np.percentile(res, 80)
    return lambda v: a + b * v


def block_view(a: np.ndarray, bs: int) -> np.ndarray:
    """Non-overlapping bs x bs blocks of a 2-D array (cropped to whole blocks): (H/bs, W/bs, bs, bs)."""
    h, w = (a.shape[0] // bs) * bs, (a.shape[1] // bs) * bs
    return a[:h, :w].reshape(h // bs, bs, w // bs, bs).swapaxes(1, 2)


def block_mean(a: np.ndarray, bs: int) -> np.ndarray:
    """Mean of each whole bs x bs block of a 2-D array, (H/bs, W/bs) float32 (OpenCV's area
    reduction by an exact integer factor: the same means as block_view(a, bs).mean((2, 3)), ~3x faster)."""
    import cv2

    h, w = (a.shape[0] // bs) * bs, (a.shape[1] // bs) * bs
    return cv2.resize(np.ascontiguousarray(a[:h, :w], dtype=np.float32), (w // bs, h // bs),
                      interpolation=cv2.INTER_AREA)


def upsample_blocks(grid: np.ndarray, bs, height: int, width: int, smooth: bool = True,
                    offset: float = 0.0) -> np.ndarray:
    """A per-block grid back to pixels: each block's value at its centre, bilinear in between
    (smooth) or nearest (not smooth); pixels beyond the last whole block take the edge value.
    `offset` shifts the grid right/down by that many pixels (overlapping blocks start late).
    Not smooth, `bs` may be (rows, columns): a JPEG that stores its luma subsampled has oblong blocks."""
    import cv2

    gh, gw = grid.shape
    if not smooth:
        by, bx = bs if isinstance(bs, tuple) else (bs, bs)
        up = np.repeat(np.repeat(grid, by, axis=0), bx, axis=1)
        out = np.empty((height, width), np.float32)
        out[: up.shape[0], : up.shape[1]] = up[:height, :width]
        if up.shape[0] < height:
            out[up.shape[0]:, : up.shape[1]] = up[-1:, :width]
        if up.shape[1] < width:
            out[:, up.shape[1]:] = out[:, up.shape[1] - 1: up.shape[1]]
        return out
    # map block centres: pixel x sits at grid coordinate (x + 0.5) / bs - 0.5
    xs = ((np.arange(width, dtype=np.float32) + 0.5 - offset) / bs - 0.5).clip(0, gw - 1)
    ys = ((np.arange(height, dtype=np.float32) + 0.5 - offset) / bs - 0.5).clip(0, gh - 1)
    mx, my = np.meshgrid(xs, ys)
    return cv2.remap(grid.astype(np.float32), mx, my, interpolation=cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def box_mean(a: np.ndarray, size: int) -> np.ndarray:
    import cv2

    return cv2.blur(a.astype(np.float32), (size, size), borderType=cv2.BORDER_REFLECT)


def jpeg_roundtrip(arr: np.ndarray, quality: int) -> np.ndarray:
    """Compress with libjpeg (Pillow) at `quality` (4:4:4 for colour, so chroma is not blurred) and decode."""
    buf = io.BytesIO()
    mode = "L" if arr.ndim == 2 else "RGB"
    Image.fromarray(arr, mode).save(buf, format="JPEG", quality=int(quality), subsampling=0)
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im)


def jpeg_quality_estimate(data: bytes) -> int | None:
    """Closest IJG quality for the file's luminance table (None if not a JPEG)."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            tables = getattr(im, "quantization", None)
    except (OSError, ValueError):
        return None
    if not tables or 0 not in tables:
        return None
    lum = np.asarray(tables[0], np.float64)
    best, best_err = None, np.inf
    base = np.asarray(_IJG_LUMA, np.float64)
    for q in range(1, 101):
        s = 5000 / q if q < 50 else 200 - 2 * q
        t = np.clip(np.floor((base * s + 50) / 100), 1, 255)
        err = float(np.abs(t - lum).sum())
        if err < best_err:
            best, best_err = q, err
    return best


# IJG's standard luminance table (JPEG standard Annex K), row-major as Pillow reports it.
_IJG_LUMA = [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
             14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
             49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99]


def image_score(prob: np.ndarray) -> float:
    """A layer's image-level score: the share of the image whose map is above one half.

    (A high percentile of a map that is relative to the image itself saturates on every image.)"""
    return float((np.asarray(prob) > 0.5).mean())
