"""`resampling`: traces of interpolation, per block (M. Kirchner, 'Fast and reliable resampling detection by
spectral analysis of fixed linear predictor residue', ACM MM&Sec 2008; after A. Popescu & H. Farid,
'Exposing digital forgeries by detecting traces of resampling', IEEE TSP 53(2), 2005).

Interpolation makes each pixel a fixed linear combination of its neighbours on a periodic pattern.
A fixed linear predictor's residue e is therefore periodically small, and the 'p-map'
p = exp(-e^2 / (2 sigma^2)) has sharp peaks in its spectrum. We compute the p-map once, cut it into
overlapping blocks, and score each block by the peakiness of its windowed spectrum (highest peak
over the mean, JPEG's 8x8 grid frequencies and the lowest frequencies left out). The map is the
block score's deviation above the image's own level, so a photo that was resized as a whole is
measured against itself and only a region resampled differently stands out.
"""
from __future__ import annotations

import time

import numpy as np

from .base import EvidenceInput, LayerOutput, relative_map, upsample_blocks, image_score

VERSION = "1.0"
TITLE = "Resampling (interpolation) traces"
REFERENCE = ("M. Kirchner, ACM Multimedia & Security Workshop 2008; A. C. Popescu, H. Farid, IEEE Trans. Signal "
             "Processing 53(2), 2005.")
HOW_TO_READ = ("Bright = this area shows a periodic interpolation pattern that the rest of the image does not: it was "
               "probably enlarged, shrunk or rotated on its own before being pasted.")
LIMITS = ("Strong JPEG compression, blur or noise added after the paste erase the pattern; downscaling leaves a much "
          "weaker trace than enlarging; regular textures (fabric, brickwork, screens) have spectral peaks of their own; "
          "a region smaller than about two blocks cannot be measured.")
DEFAULTS = {"block": 32, "sigma": 1.0, "z_half": 2.5}

# Kirchner's fixed predictor: each pixel from its 8 neighbours
_PREDICTOR = np.array([[-0.25, 0.5, -0.25], [0.5, 0.0, 0.5], [-0.25, 0.5, -0.25]], np.float32)


def _excluded(block: int) -> np.ndarray:
    """Spectrum bins (rfft2 layout) that are not resampling evidence: DC neighbourhood, 8x8 JPEG grid."""
    fy = np.fft.fftfreq(block) * block
    fx = np.fft.rfftfreq(block) * block
    gy, gx = np.meshgrid(np.abs(fy), np.abs(fx), indexing="ij")
    ex = (gy <= 1) & (gx <= 1)
    step = block / 8.0
    on_grid = (np.abs(gy / step - np.rint(gy / step)) < 1e-6) & (np.abs(gx / step - np.rint(gx / step)) < 1e-6)
    return ex | on_grid


def compute(src: EvidenceInput, block: int = 32, sigma: float = 1.0, z_half: float = 2.5) -> LayerOutput:
    import cv2

    block = int(block)
    if block < 16 or block % 8:
        raise ValueError(f"block must be a multiple of 8 and at least 16, found {block}")
    src.require_size("resampling", block)
    t0 = time.perf_counter()
    y = src.gray()
    e = y - cv2.filter2D(y, -1, _PREDICTOR, borderType=cv2.BORDER_REFLECT)
    p = np.exp(-(e * e) / (2.0 * float(sigma) ** 2)).astype(np.float32)
    step = block // 2
    h, w = p.shape
    ny, nx = (h - block) // step + 1, (w - block) // step + 1
    win = np.outer(np.hanning(block), np.hanning(block)).astype(np.float32)
    bad = _excluded(block)
    score = np.empty((ny, nx), np.float32)
    for r in range(ny):   # one row of blocks at a time keeps memory small on 100 MP images
        rows = p[r * step: r * step + block]
        strip = np.lib.stride_tricks.sliding_window_view(rows, (block, block))[0, ::step][:nx]
        strip = strip - strip.mean(axis=(1, 2), keepdims=True)
        spec = np.abs(np.fft.rfft2(strip * win))
        spec[:, bad] = 0.0
        flat = spec.reshape(nx, -1)
        score[r] = flat.max(axis=1) / (flat.sum(axis=1) / (~bad).sum() + 1e-6)
    t1 = time.perf_counter()
    stat = np.log(score + 1e-3)
    grid = relative_map(stat, z_half)
    # block r covers pixels [r*step, r*step + block), centred half a step later than cell r of a
    # `step`-pixel grid
    prob = upsample_blocks(grid, step, h, w, offset=step / 2)
    t2 = time.perf_counter()
    return LayerOutput(map=prob, score=image_score(prob),
                       parameters={"block": block, "sigma": float(sigma), "z_half": float(z_half),
                                   "predictor": _PREDICTOR.tolist()},
                       details={"blocks": int(ny * nx)},
                       timings={"spectra_s": t1 - t0, "map_s": t2 - t1})
