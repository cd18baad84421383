"""`ela`: error level analysis.

Recompress the displayed image at one JPEG quality and measure how much each 8x8 block changes.
A region whose compression history differs from the rest (saved fewer times, at another quality,
or never) settles differently. But any block's error level also grows with its fine detail (more
non-zero DCT coefficients to round), which is why plain ELA lights up foliage, water and edges in
every photo. So the level is corrected for texture with the image's own straight line between
log error level and log fine-detail energy (as `noise` does for its bands), averaged over a few
blocks (a region, not a pixel, has a history), and the map is that residual's deviation above the
image's own typical level (robust z-score). An absolute floor (version 2.1) keeps rounding noise dark:
an area is shown only where most of its blocks (the median of the region's blocks) changed by at least
LEVEL_FLOOR. A different compression history changes every block of an area; re-rounding a file last
saved at this very quality changes a few scattered blocks, or every block by a fraction of a grey level.
"""
from __future__ import annotations

import time

import numpy as np

from .base import (EvidenceInput, LayerOutput, block_mean, box_mean, image_score, jpeg_roundtrip, relative_map,
                   robust_line, upsample_blocks)

VERSION = "2.1"
TITLE = "Error level analysis"
REFERENCE = "N. Krawetz, 'A picture's worth: digital image analysis and forensics', Black Hat 2007."
HOW_TO_READ = ("Bright = this area changes more than the rest of the image when recompressed at the chosen "
               "quality, more than its texture explains, i.e. its compression history differs. Look for a bright "
               "area with the shape of an object.")
LIMITS = ("After several resaves, resizing or a strong final compression every region converges and the trace "
          "disappears; a region saved at the same quality as the rest is invisible; texture unlike the rest of "
          "the image (text, a screen, a sharp object on a blurred background) can still stand out; an area is "
          "never bright unless most of its 8x8 blocks change by at least 0.55 grey levels (root mean square), so "
          "a file last saved at the recompression quality itself with the same settings shows (almost) nothing "
          "(a note says so), and so does a region whose history changes it less than that.")
DEFAULTS = {"quality": 90, "region": 3, "z_half": 3.0}
# Mean squared change (grey levels^2, the mean over the colour channels, over an 8x8 block) below which a
# block's recompression error is rounding, not a compression history: 0.3, a root mean square change of
# 0.55 grey levels. Required of the region's MEDIAN block, because one re-rounded chroma coefficient (a
# step of up to 20 at q90) changes a single block by several grey levels^2. Chosen on own data by a rule
# written beforehand (research/README.md, `ela` round 6): authentic q90/4:4:4 photos flagged 11 of 24 ->
# 0 (dev) and 13 of 17 -> 2 (check), rescaled pastes' IoU unchanged (14.1 -> 14.0, 14.0 -> 14.1).
LEVEL_FLOOR = 0.3


def compute(src: EvidenceInput, quality: int = 90, region: int = 3, z_half: float = 3.0) -> LayerOutput:
    import cv2
    from scipy.ndimage import median_filter

    if not 1 <= int(quality) <= 100:
        raise ValueError(f"quality must be 1..100, found {quality}")
    region = int(region)
    if region < 1:
        raise ValueError(f"region must be at least 1 block, found {region}")
    src.require_size("ela", 16)
    t0 = time.perf_counter()
    again = jpeg_roundtrip(src.rgb, int(quality))
    # mean absolute difference over the three channels (cv2.transform: one pass, ~6x numpy's mean)
    diff = cv2.transform(cv2.absdiff(src.rgb, again).astype(np.float32), np.full((1, 3), 1 / 3, np.float32))
    # luma for the detail measure only: OpenCV's 8-bit conversion is 20x faster than src.gray()
    y = cv2.cvtColor(src.rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    fine = y - cv2.GaussianBlur(y, (0, 0), 1.0)
    bs = 8   # JPEG's block: the unit whose coefficients are rounded together
    level = block_mean(cv2.multiply(diff, diff), bs)
    detail = block_mean(cv2.multiply(fine, fine), bs)
    # the absolute floor asks whether MOST of the region changed (its median block), as a history would
    changed = (median_filter(level, size=region, mode="reflect") if region > 1 else level) >= LEVEL_FLOOR
    if region > 1:
        level, detail = box_mean(level, region), box_mean(detail, region)
    # +0.05 / +1: an area that does not change or has no detail at all has a finite log
    lx, ly = np.log(detail + 1.0), np.log(level + 0.05)
    # clipped (saturated) blocks have neither error nor detail: keep them out of the image's line and level
    lum = block_mean(y, bs)
    valid = (lum > 4) & (lum < 251)
    stat = ly - robust_line(lx[valid], ly[valid])(lx) if valid.sum() > 8 else ly
    # min_spread 0.1 (in log units): an image saved at exactly this quality barely changes at all,
    # and then tiny relative changes are not news
    grid = relative_map(stat, z_half, mask=valid if valid.any() else None, min_spread=0.1)
    # the absolute floor (v2.1): a relative z-score also ranks pure rounding noise, e.g. on a file last saved
    # at this very quality, where nearly nothing changes
    grid = np.where(changed, grid, 0.0).astype(np.float32)
    prob = upsample_blocks(grid, bs, src.height, src.width)
    t1 = time.perf_counter()
    return LayerOutput(map=prob, score=image_score(prob),
                       parameters={"quality": int(quality), "region": region, "z_half": float(z_half)},
                       details={"mean_error_level": float(diff.mean())},
                       timings={"compute_s": t1 - t0},
                       notes=unchanged_note(float(diff.mean()), int(quality)))


# Mean error level (grey levels) below which the recompression left the image as it was: measured
# 0.001-0.02 on photos last saved at the ELA quality itself (e.g. GIMP's quality 90, 4:4:4), against
# 0.2-1.5 on other photos.
UNCHANGED_LEVEL = 0.05


def unchanged_note(mean_level: float, quality: int) -> list[str]:
    """A note when recompressing at `quality` barely changes the image: what the map still shows is then most
    likely rounding noise."""
    if mean_level >= UNCHANGED_LEVEL:
        return []
    return [f"Recompressing at quality {quality} changes this image by only {mean_level:.3f} grey levels on average: "
            f"it was most likely last saved at that quality with the same settings, so every region looks alike to "
            f"ELA: changes this small are kept dark, and whatever still stands out is most likely rounding noise "
            f"(clipped highlights, a few re-rounded coefficients), not a different history. Another quality "
            f"(parameter quality) may show more."]
