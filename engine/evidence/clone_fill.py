"""Exemplar fills (PatchMatch-style inpainting) as many small copies: a translation-only dense cue.

An object removed with an exemplar-based fill (Criminisi et al. 2004; PatchMatch, Barnes et al. 2009)
leaves a mosaic of chunks copied, without rotation, from elsewhere in the image: too small and too
many for one affine clone hypothesis. Per pixel, the nearest neighbour of a small raw-intensity patch
at least `min_distance` px away is found by the same vectorised PatchMatch as the dense detector
(`offset_field.OffsetField`; translations only). A pixel is *copied* when that match is near-exact
for its texture (error below `max_error` x the patch's own variance, plus a noise floor for JPEG),
the patch is textured, and its offset agrees with its neighbours' (it lies inside a copied chunk, as
in Cozzolino et al.'s zero-order offset coherence). Areas where copied pixels are dense (share above
`min_density` in a `window`) and at least `min_area` px are marked; like every clone finding, they
include both the fill and the places it was copied from.
"""
from __future__ import annotations

import numpy as np

from .offset_field import OffsetField


def patch_features(gray: np.ndarray, step: int = 2) -> np.ndarray:
    """HxWx9: the lightly smoothed intensity at a 3x3 grid of spacing `step` around each pixel."""
    import cv2

    g = cv2.GaussianBlur(gray.astype(np.float32), (0, 0), 0.8)
    pad = cv2.copyMakeBorder(g, step, step, step, step, cv2.BORDER_REFLECT)
    h, w = g.shape
    return np.stack([pad[step + dy:step + dy + h, step + dx:step + dx + w]
                     for dy in (-step, 0, step) for dx in (-step, 0, step)], axis=-1)


def copied_density(gray: np.ndarray, min_distance: int, iterations: int, max_error: float, noise: float,
                   window: int, seed: int = 0) -> np.ndarray:
    """Share of copied pixels (see the module text) in a `window` x `window` box around each pixel."""
    import cv2

    f = patch_features(gray)
    field = OffsetField(f, min_distance, np.random.default_rng(seed))
    for it in range(int(iterations)):
        field.propagate(1 if it % 2 == 0 else -1)
        field.random_search()
    energy = f.var(axis=-1) * f.shape[-1]            # the patch's own variance, summed like the cost
    floor = f.shape[-1] * noise * noise
    dy, dx = field.dy.astype(np.float32), field.dx.astype(np.float32)
    coherent = (np.abs(dy - cv2.medianBlur(dy, 5)) + np.abs(dx - cv2.medianBlur(dx, 5))) <= 1
    copied = coherent & (energy > floor) & (field.cost < max_error * (energy + floor))
    return cv2.blur(copied.astype(np.float32), (int(window), int(window)))


def fill_areas(density: np.ndarray, min_density: float, min_area: int) -> tuple[np.ndarray, list[dict]]:
    """(map in [0, 1]: 0.5 + half the local density on the kept areas, 0 elsewhere; one record per area)."""
    import cv2
    from scipy.ndimage import binary_fill_holes

    mask = binary_fill_holes(density > min_density)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    out = np.zeros(density.shape, np.float32)
    areas = []
    for lab in range(1, n):
        if stats[lab, cv2.CC_STAT_AREA] < min_area:
            continue
        m = labels == lab
        out[m] = 0.5 + 0.5 * np.clip(density[m], 0, 1)
        x, y, w, h = (int(v) for v in stats[lab, :4])
        areas.append({"bbox": [x, y, x + w, y + h], "area": int(stats[lab, cv2.CC_STAT_AREA]),
                      "density": round(float(density[m].mean()), 4)})
    return out, areas


def detect_fills(rgb: np.ndarray, max_side: int, min_density: float, min_area: int, min_distance: int = 16,
                 iterations: int = 4, max_error: float = 0.15, noise: float = 2.0, window: int = 21
                 ) -> tuple[np.ndarray, list[dict], dict]:
    """The fill stage of a clone detector: (map at the working scale, areas with full-resolution boxes,
    parameters). `min_area` is in working-scale pixels."""
    from .clone_regions import working_gray

    gray, scale = working_gray(rgb, max_side)
    density = copied_density(gray, min_distance, iterations, max_error, noise, window)
    fmap, areas = fill_areas(density, min_density, min_area)
    for a in areas:
        a["bbox"] = [int(a["bbox"][0] / scale), int(a["bbox"][1] / scale), int(np.ceil(a["bbox"][2] / scale)),
                     int(np.ceil(a["bbox"][3] / scale))]
        a["area"] = int(round(a["area"] / scale ** 2))
    params = {"fill_side": int(max_side), "fill_scale": round(scale, 6), "fill_density": float(min_density),
              "fill_area": int(min_area), "fill_distance": int(min_distance), "fill_iterations": int(iterations),
              "fill_max_error": float(max_error), "fill_noise": float(noise), "fill_window": int(window)}
    return fmap, areas, params
