"""`ghost`: JPEG ghosts (H. Farid, 'Exposing digital forgeries from JPEG ghosts', IEEE TIFS 2009).

A region that was first saved at a lower quality q1 and then pasted into an image saved at q2 > q1
keeps the coarser quantisation of q1. Recompressing the whole image at quality q and measuring
the local squared difference gives, for that region, a dip (a 'ghost') at q = q1 that the rest of
the image does not have. We scan q over 50..(q2 - 5). How deep a curve dips also depends on the
content (fine texture, flat or clipped areas) and on coincidences of the quantisation tables (a step
exactly twice another) that the whole picture shares, so each quality's difference is first divided
by what the image's own cells of the same fine detail show at that quality (a robust straight line
between log difference and log detail, fitted per quality). A cell's score is the depth of its
deepest relative dip, d = -log2(r_q / max over q' > q of r_q'), mapped to d^2 / (d^2 + dip_half^2):
a dip to half the later level reads 0.5. Flat and clipped cells, where every quality rounds to
nearly nothing, read 0.
"""
from __future__ import annotations

import time

import numpy as np

from .base import (EvidenceInput, NotApplicable, LayerOutput, block_view, box_mean, image_score, jpeg_quality_estimate,
                   jpeg_roundtrip, orient, robust_line, upsample_blocks)

VERSION = "2.0"
TITLE = "JPEG ghosts"
REFERENCE = "H. Farid, 'Exposing digital forgeries from JPEG ghosts', IEEE Trans. Inf. Forensics Security 4(1), 2009."
HOW_TO_READ = ("Bright = this area's recompression error has a dip at a lower quality than the rest of the image: "
               "it was probably saved at that lower quality before being put into this picture. "
               "The quality at which the bright areas dip is recorded with the layer's stored result.")
LIMITS = ("Needs a JPEG file whose final quality is above the region's first quality; invisible when the region "
          "was resized or shifted off the 8x8 grid after its first save, and on very flat or saturated areas.")
DEFAULTS = {"q_min": 50, "q_step": 5, "window": 16, "eps": 0.25, "dip_half": 1.0, "min_detail": 4.0}


def compute(src: EvidenceInput, q_min: int = 50, q_step: int = 5, window: int = 16, eps: float = 0.25,
            dip_half: float = 1.0, min_detail: float = 4.0) -> LayerOutput:
    import cv2

    data = src.require_jpeg("ghost")
    src.require_size("ghost", 16)
    t0 = time.perf_counter()
    q2 = jpeg_quality_estimate(data) or 95
    qualities = list(range(int(q_min), min(q2 - int(q_step), 95) + 1, int(q_step)))
    if len(qualities) < 2:
        raise NotApplicable(f"{src.name}: layer 'ghost' needs a JPEG saved above quality {q_min + q_step}, "
                            f"found about {q2}")
    y = src.stored_luma("ghost")
    y8 = np.clip(np.rint(y), 0, 255).astype(np.uint8)
    # the curves are local means over `window` px anyway: keep them on a 4x coarser grid (memory)
    step = 4
    gh, gw = y.shape[0] // step, y.shape[1] // step
    curves = np.empty((len(qualities), gh, gw), np.float32)
    for i, q in enumerate(qualities):
        d = y - jpeg_roundtrip(y8, q).astype(np.float32)
        sq = block_view(d * d, step).mean(axis=(2, 3))
        curves[i] = box_mean(sq, max(1, int(window) // step))
    # fine detail per cell: on flat or clipped areas every quality rounds to nearly nothing, and
    # coincidences of the quantisation tables (a step twice another) make dips that mean nothing
    fine = y - cv2.GaussianBlur(y, (0, 0), 1.0)
    detail = box_mean(block_view(fine * fine, step).mean(axis=(2, 3)), max(1, int(window) // step))
    # near black or white, recompression errors are clipped away: dips there are the clipping's
    clipped = box_mean(block_view(((y < 8) | (y > 247)).astype(np.float32), step).mean(axis=(2, 3)),
                       max(1, int(window) // step))
    t1 = time.perf_counter()
    valid = (detail > float(min_detail)) & (clipped < 0.2)
    # Each quality's difference relative to what the image's own cells of the same detail show at
    # that quality (a straight line between log difference and log detail, fitted per quality): a dip
    # that the whole picture shares (all of it saved at that quality once, or quantisation tables that
    # are multiples of each other) and the way texture shapes the curves are the image's, not a region's.
    eps = float(eps)
    ld = np.log(detail + 1.0)
    fit = valid if valid.sum() > 16 else np.ones(valid.shape, bool)
    sub = max(1, int(fit.sum()) // 200_000)       # a regular sample is enough for a line
    rel = np.empty_like(curves)
    for i in range(len(qualities)):
        lc = np.log(curves[i] + eps)
        rel[i] = np.exp(lc - robust_line(ld[fit][::sub], lc[fit][::sub])(ld))
    # An image saved once at q2 has a difference curve that falls as q rises towards q2. A region
    # saved at q1 < q2 before has a dip (ghost) at q1: lower than the curve at some higher quality.
    # Per cell: the deepest dip = min over q of rel_q / (max over q' > q of rel_q').
    later = np.maximum.accumulate(rel[::-1], axis=0)[::-1]   # max over q' >= q
    ratio = rel[:-1] / later[1:]
    best = ratio.argmin(axis=0)
    depth = -np.log2(np.minimum(ratio.min(axis=0), 1.0))
    # the map: a dip to 2^-dip_half of the later level (relative to the image's own curve) reads 0.5
    grid = (depth ** 2 / (depth ** 2 + float(dip_half) ** 2)).astype(np.float32)
    grid[~valid] = 0.0
    peak_q = None
    if (grid > 0.5).any():
        peak_q = int(qualities[int(np.bincount(best[grid > 0.5].ravel(), minlength=len(qualities)).argmax())])
    prob = orient(upsample_blocks(grid, step, y.shape[0], y.shape[1]), src.orientation)
    untested = 1.0 - float(valid.mean())
    t2 = time.perf_counter()
    return LayerOutput(map=prob, score=image_score(prob),
                       parameters={"q_min": int(q_min), "q_step": int(q_step), "window": int(window),
                                   "eps": float(eps), "dip_half": float(dip_half), "min_detail": float(min_detail),
                                   "qualities": qualities},
                       details={"final_quality_estimate": int(q2), "ghost_quality_map_peak": peak_q,
                                "untested_share": round(untested, 4)},
                       timings={"recompress_s": t1 - t0, "score_s": t2 - t1},
                       notes=[reach_note(int(q2), qualities, untested)])


def reach_note(q2: int, qualities: list[int], untested: float) -> str:
    """What this file lets the layer see: the first qualities a ghost can show, and the untested area."""
    return (f"This file was last saved at about quality {q2}: a region first saved at quality {qualities[0]}-"
            f"{qualities[-1]} can show as a ghost, one first saved at about {q2} or above cannot. "
            f"{100 * untested:.0f} % of the image is too flat or too near black or white to test.")
