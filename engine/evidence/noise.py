"""`noise`: local noise level (after B. Mahdian & S. Saic, 'Using noise inconsistencies for blind image
forensics', Image and Vision Computing 27(10), 2009).

The finest diagonal wavelet subband (Haar HH1) of the luma holds mostly sensor noise. Its local
level is estimated per block with the robust median estimator sigma = median(|HH|) / 0.6745
(Donoho & Johnstone), and corrected for texture with the next coarser band (HH2): the image's own
straight line between the two (log scale) says what level texture explains. A pasted region from another camera or another exposure, or a retouched
(smoothed or re-noised) one, has another noise level than the rest. The map is the deviation of
log(sigma) from the image's own typical level, in robust standard deviations.
"""
from __future__ import annotations

import time

import numpy as np

from .base import EvidenceInput, LayerOutput, block_view, box_mean, relative_map, robust_line, upsample_blocks, image_score

VERSION = "1.0"
TITLE = "Local noise level"
REFERENCE = ("B. Mahdian, S. Saic, 'Using noise inconsistencies for blind image forensics', Image and Vision "
             "Computing 27(10), 2009; D. Donoho, I. Johnstone, 'Ideal spatial adaptation by wavelet shrinkage', "
             "Biometrika 81(3), 1994.")
HOW_TO_READ = ("Bright = the noise level here differs from the rest of the image: higher, lower or either, as "
               "the direction parameter says (both by default). A pasted object, an inpainted or smoothed area, or added grain shows as a "
               "bright area with a plausible object shape.")
LIMITS = ("Fine texture (foliage, fabric, text) reads as noise; flat, dark or saturated areas read as noise-free. "
          "In a photo with shallow depth of field, the sharp subject stands out against the blurred background "
          "(and thin sharp lines, such as wires against the sky) without any edit. "
          "Strong JPEG compression, resizing and denoising flatten noise everywhere and hide the trace.")
DEFAULTS = {"block": 16, "smooth": 3, "direction": "both", "z_half": 2.0}


def compute(src: EvidenceInput, block: int = 16, smooth: int = 3, direction: str = "both",
            z_half: float = 2.0) -> LayerOutput:
    if direction not in ("both", "higher", "lower"):
        raise ValueError(f"direction must be both, higher or lower, found {direction!r}")
    block = int(block)
    src.require_size("noise", 2 * block)
    t0 = time.perf_counter()
    y = src.gray()
    hh1, ll1 = _haar(y)
    hh2, _ = _haar(ll1)
    sigma = _block_sigma(hh1, block // 2)
    coarse = _block_sigma(hh2, block // 4)[: sigma.shape[0], : sigma.shape[1]]
    sigma = sigma[: coarse.shape[0], : coarse.shape[1]]
    # clipped pixels carry no noise: leave blocks that are mostly saturated out of the image's level
    lum = block_view(y, block).mean(axis=(2, 3))[: sigma.shape[0], : sigma.shape[1]]
    valid = (lum > 8) & (lum < 247)
    # Texture raises the finest band too, but together with the coarser one (natural images have a
    # falling spectrum); noise raises the finest band alone. Predict log sigma1 from log sigma2 with
    # the image's own straight line and keep the residual: the noise level given the texture.
    x1, x2 = np.log(sigma + 0.25), np.log(coarse + 0.25)
    stat = x1 - robust_line(x2[valid], x1[valid])(x2) if valid.sum() > 8 else x1
    if smooth > 1:
        stat = box_mean(stat, int(smooth))
    if direction == "lower":
        stat = -stat
    prob_grid = relative_map(stat, z_half, two_sided=direction == "both", mask=valid)
    prob_grid[~valid] = 0.0
    prob = upsample_blocks(prob_grid, block, src.height, src.width)
    sigma_all = sigma
    t1 = time.perf_counter()
    level = float(np.median(sigma_all[valid])) if valid.any() else float(np.median(sigma_all))
    return LayerOutput(map=prob, score=image_score(prob),
                       parameters={"block": block, "smooth": int(smooth), "direction": direction,
                                   "z_half": float(z_half)},
                       details={"image_noise_sigma": level},
                       timings={"compute_s": t1 - t0})


def _haar(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """|HH| and LL of one orthonormal Haar level."""
    h2, w2 = (y.shape[0] // 2) * 2, (y.shape[1] // 2) * 2
    a, b = y[0:h2:2, 0:w2:2], y[0:h2:2, 1:w2:2]
    c, d = y[1:h2:2, 0:w2:2], y[1:h2:2, 1:w2:2]
    return np.abs(a - b - c + d) * 0.5, (a + b + c + d) * 0.5


def _block_sigma(hh: np.ndarray, sub: int) -> np.ndarray:
    """Robust noise sigma per sub x sub block of a diagonal subband: median(|HH|) / 0.6745."""
    blocks = block_view(hh, sub).reshape(hh.shape[0] // sub, hh.shape[1] // sub, -1)
    return np.median(blocks, axis=2) / 0.6745
