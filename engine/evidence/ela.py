"""`ela`: error level analysis.

Recompress the displayed image at one JPEG quality and measure, per pixel, how much it changes.
A region whose compression history differs from the rest (saved fewer times, at another quality,
or never) settles differently. The map is the local error level's deviation above the image's
own typical level (robust z-score), so a photo saved many times does not light up everywhere.
"""
from __future__ import annotations

import time

import numpy as np

from .base import EvidenceInput, LayerOutput, box_mean, jpeg_roundtrip, relative_map, image_score

VERSION = "1.0"
TITLE = "Error level analysis"
REFERENCE = "N. Krawetz, 'A picture's worth: digital image analysis and forensics', Black Hat 2007."
HOW_TO_READ = ("Bright = this area changes more than the rest of the image when recompressed at the chosen "
               "quality, i.e. its compression history differs. Look for a bright area with the shape of an object, "
               "not for edges and fine texture.")
LIMITS = ("High-contrast edges and fine texture always have a higher error level; after several resaves, "
          "resizing or a strong final compression every region converges and the trace disappears; "
          "a region saved at the same quality as the rest is invisible.")
DEFAULTS = {"quality": 90, "window": 9, "z_half": 4.0}


def compute(src: EvidenceInput, quality: int = 90, window: int = 9, z_half: float = 4.0) -> LayerOutput:
    if not 1 <= int(quality) <= 100:
        raise ValueError(f"quality must be 1..100, found {quality}")
    src.require_size("ela", 2)
    t0 = time.perf_counter()
    again = jpeg_roundtrip(src.rgb, int(quality))
    import cv2

    # mean absolute difference over the three channels (cv2.transform: one pass, ~6x numpy's mean)
    diff = cv2.transform(cv2.absdiff(src.rgb, again).astype(np.float32), np.full((1, 3), 1 / 3, np.float32))
    # the error level of a pixel is only meaningful over a neighbourhood (8x8 JPEG blocks)
    level = np.sqrt(box_mean(diff * diff, int(window)))
    # min_spread 0.05 grey levels: an image saved at exactly this quality barely changes at all,
    # and then the faint changes of a few edge pixels are not news
    prob = relative_map(level, z_half, min_spread=0.05)
    t1 = time.perf_counter()
    return LayerOutput(map=prob, score=image_score(prob),
                       parameters={"quality": int(quality), "window": int(window), "z_half": float(z_half)},
                       details={"mean_error_level": float(diff.mean())},
                       timings={"compute_s": t1 - t0})
