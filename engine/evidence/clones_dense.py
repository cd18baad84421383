"""Copy-move by a dense field of rotation-invariant features (after D. Cozzolino, G. Poggi, L. Verdoliva,
'Efficient dense-field copy-move forgery detection', IEEE TIFS 10(11), 2015).

1. Features: at every pixel of the working-scale luma, the magnitudes |Z_nm| of the Zernike moments
   of the disc of radius `radius` around it (orders n <= 5: 12 values). A rotation of the disc only
   changes the moments' phases, so the magnitudes match a rotated copy.
2. Nearest neighbours: a vectorised PatchMatch finds for every pixel p an offset d(p) to a far
   (|d| >= min_distance) pixel with similar features. Candidates are random offsets, the offsets of
   neighbours 1, 4 and 16 px away (zero-order) and the linear extrapolation of the
   two nearest neighbours' offsets (first-order, which follows a rotated or scaled copy), and random
   search around the current best at halving radii.
3. Verification by dense linear fitting: the offset field is median-filtered, and at every pixel an
   affine model of the offsets is fitted over a window; a copy-move gives a field that is exactly
   affine there (small residual), a chance match does not. Each connected area of small residual (a seed
   area, largest first) gives an affine hypothesis, refitted to every pixel of the field that agrees with
   it (1.8).
4. The dense check (clone_regions): the image is correlated locally with itself moved by the hypothesis,
   from the agreeing pixels, so source and target are both found, with the transform.

Clones 1.6 (research/README.md, clones rounds 15-16): the keypoints method's two guards against genuine repeats
apply here too: a pair whose map stretches unevenly (`max_aniso`) or whose source and target overlap before
growth (`max_overlap`) is dropped (`max_aniso=0, max_overlap=None`: 1.5's `dense`).

Clones 1.7 (research/README.md, clones round 17): 12 PatchMatch iterations instead of 4. The vectorised search
moves a good offset only 1, 4 or 16 px per propagation step, so after 4 iterations a rotated and rescaled copy
was mostly still unmatched although its true match had the lower feature cost (`iterations=4`: 1.6's `dense`).

Clones 1.8 (research/README.md, clones round 18): each seed area's map is refitted to every pixel of the field
that agrees with it (`refit`), those pixels seed the dense check, and the confirmed areas grow over pixels that
equal their moved copy up to noise (`diff_k`, as `keypoints` since 1.3). A seed area's own fit was a few degrees
off, so a copy was confirmed only in fragments next to its seeds (`refit=0 refit_seeds=false diff_k=0`: 1.7).
"""
from __future__ import annotations

import math
import time

import numpy as np

from .base import EvidenceInput, LayerOutput
from .clone_fill import detect_fills
from .clone_coverage import coverage
from .clone_regions import (confirm, paint, pair_record, plausible, runs_into_itself, stretches, to_full, too_different,
                            working_gray)
from .offset_field import OffsetField

ORDERS = [(n, m) for n in range(6) for m in range(n + 1) if (n - m) % 2 == 0]


def _radial(n: int, m: int, rho: np.ndarray) -> np.ndarray:
    out = np.zeros_like(rho)
    for s in range((n - m) // 2 + 1):
        c = (-1) ** s * math.factorial(n - s) / (
            math.factorial(s) * math.factorial((n + m) // 2 - s) * math.factorial((n - m) // 2 - s))
        out += c * rho ** (n - 2 * s)
    return out


def zernike_features(gray: np.ndarray, radius: int) -> np.ndarray:
    """HxWx12 float32: |Z_nm| of the disc around each pixel (rotation-invariant)."""
    import cv2

    r = int(radius)
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1].astype(np.float64)
    rho = np.hypot(xx, yy) / (r + 0.5)
    theta = np.arctan2(yy, xx)
    disc = rho <= 1.0
    g = gray.astype(np.float32)
    feats = []
    for n, m in ORDERS:
        v = _radial(n, m, rho) * disc * (n + 1) / (disc.sum())
        re = cv2.filter2D(g, cv2.CV_32F, (v * np.cos(m * theta)).astype(np.float32), borderType=cv2.BORDER_REFLECT)
        if m == 0:
            feats.append(np.abs(re))
            continue
        im = cv2.filter2D(g, cv2.CV_32F, (v * np.sin(m * theta)).astype(np.float32), borderType=cv2.BORDER_REFLECT)
        feats.append(np.sqrt(re * re + im * im))
    out = np.stack(feats, axis=-1)
    # equal weight per moment: otherwise Z00 (the disc's mean brightness) decides every match
    out /= out.reshape(-1, out.shape[2]).std(axis=0) + 1e-6
    return out


def local_affine(dy: np.ndarray, dx: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Dense linear fit of the offset field over a size x size window at every pixel.

    Returns (residual in px^2 per pixel, slopes HxWx4 = d(dy)/dx, d(dy)/dy, d(dx)/dx, d(dx)/dy).
    The window's coordinates are centred on the pixel, so box filters give the least-squares fit."""
    import cv2

    def box(a):
        return cv2.blur(a, (size, size), borderType=cv2.BORDER_REFLECT)

    h, w = dy.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    var_u = (size * size - 1) / 12.0     # variance of a window coordinate about its centre
    err = np.zeros((h, w))
    slopes = []
    for d in (dy.astype(np.float64), dx.astype(np.float64)):
        md = box(d)
        var_d = box(d * d) - md * md
        cov_x = box(xx * d) - xx * md
        cov_y = box(yy * d) - yy * md
        err += var_d - cov_x ** 2 / var_u - cov_y ** 2 / var_u
        slopes += [cov_x / var_u, cov_y / var_u]
    return np.maximum(err, 0.0), np.stack(slopes, axis=-1)


class FieldMatches:
    """Every usable pixel of the offset field with where it matched, set up once for all seed areas."""

    def __init__(self, dy: np.ndarray, dx: np.ndarray, usable: np.ndarray):
        self.ys, self.xs = np.nonzero(usable)
        self.design = np.column_stack([self.xs, self.ys, np.ones_like(self.xs)]).astype(np.float64)
        ys, xs = self.ys, self.xs
        self.target = np.column_stack([xs + dx[ys, xs], ys + dy[ys, xs]]).astype(np.float64)

    def refit(self, a: np.ndarray, rounds: int, tolerance: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Refit a seed area's affine map to every pixel whose offset agrees with it within `tolerance` px,
        `rounds` times. A seed area is small, so its fit is imprecise (a few degrees, a few per cent of
        scale), and the dense check then confirms only the part of the copy next to the seed; the pixels of
        the copy that the search matched correctly are spread over all of it and pin the map down. Returns
        the map and the agreeing pixels (y, x), which seed the dense check over the whole copy as keypoint
        inliers do."""
        for _ in range(rounds):
            agree = self.agreeing(a, tolerance)
            if agree.sum() < 3:
                break
            coef, *_ = np.linalg.lstsq(self.design[agree], self.target[agree], rcond=None)
            a = coef.T
        agree = self.agreeing(a, tolerance)
        return a, self.ys[agree], self.xs[agree]

    def agreeing(self, a: np.ndarray, tolerance: float) -> np.ndarray:
        return np.hypot(*(self.design @ a.T - self.target).T) <= tolerance


def detect(src: EvidenceInput, max_side: int = 768, radius: int = 8, min_distance: int = 24, iterations: int = 12,
           median: int = 5, fit_window: int = 7, max_fit_error: float = 1.0, min_seed: int = 30,
           max_hypotheses: int = 12, correlation: float = 0.6, min_area: int = 300, seed: int = 0,
           grow_low: float = 0.3, grow_reach: int = 16, fill: bool = True, fill_side: int = 1024,
           fill_density: float = 0.4, fill_area: int = 1000, max_aniso: float = 1.15,
           max_overlap: float | None = 0.05, refit: int = 3, refit_tolerance: float = 3.0,
           refit_seeds: bool = True, diff_k: float = 0.5, hull_margin: int = 32,
           max_residual: float | None = None, residual_sigma: float = 0.0,
           residual_spare_shifts: bool = False) -> LayerOutput:
    import cv2

    t0 = time.perf_counter()
    gray, scale = working_gray(src.rgb, max_side)
    feats = zernike_features(gray, radius)
    t1 = time.perf_counter()
    field = OffsetField(feats, min_distance, np.random.default_rng(seed))
    del feats
    for it in range(int(iterations)):
        field.propagate(1 if it % 2 == 0 else -1)
        field.random_search()
    t2 = time.perf_counter()
    dy = cv2.medianBlur(field.dy.astype(np.float32), median)
    dx = cv2.medianBlur(field.dx.astype(np.float32), median)
    err, slopes = local_affine(dy, dx, fit_window)
    g = gray.astype(np.float32)
    mean = cv2.blur(g, (fit_window, fit_window))
    std = np.sqrt(np.maximum(cv2.blur(g * g, (fit_window, fit_window)) - mean * mean, 0))
    jac = (1 + slopes[..., 3]) * (1 + slopes[..., 0]) - slopes[..., 1] * slopes[..., 2]
    # seeds: where the field is locally affine (Cozzolino's dense linear fit), far, textured, plausible
    seeds = ((err <= max_fit_error) & (np.hypot(dy, dx) >= min_distance) & (std >= 2.0)
             & (jac > 0.4) & (jac < 2.5) & np.isfinite(field.cost))
    matches = FieldMatches(dy, dx, (std >= 2.0) & np.isfinite(field.cost)) if refit else None
    n, labels, stats, _ = cv2.connectedComponentsWithStats(seeds.astype(np.uint8), connectivity=8)
    order = [lab for lab in np.argsort(-stats[:, cv2.CC_STAT_AREA]) if lab > 0
             and stats[lab, cv2.CC_STAT_AREA] >= min_seed][: int(max_hypotheses)]
    prob = np.zeros(gray.shape, np.float32)
    covered = np.zeros(gray.shape, bool)
    pairs: list[dict] = []
    tried = 0
    for lab in order:
        ys, xs = np.nonzero(labels == lab)
        if covered[ys, xs].mean() > 0.5:   # already explained by a confirmed pair
            continue
        tried += 1
        ty, tx = ys + dy[ys, xs], xs + dx[ys, xs]
        design = np.column_stack([xs, ys, np.ones_like(xs)]).astype(np.float64)
        coef, *_ = np.linalg.lstsq(design, np.column_stack([tx, ty]).astype(np.float64), rcond=None)
        a = coef.T                         # this seed area (source) -> where it matched (target)
        sy, sx = ys, xs                    # the pixels that seed the dense check, and their matches
        if refit:
            a, ry, rx = matches.refit(a, int(refit), refit_tolerance)
            if refit_seeds and len(ry) > len(ys):   # fewer: the seed area itself seeds better
                sy, sx = ry, rx
        if not plausible(a) or stretches(a, max_aniso):
            continue
        ok = confirm(g, a, np.column_stack([sx, sy]), np.column_stack([sx + dx[sy, sx], sy + dy[sy, sx]]),
                     min_distance, correlation, min_area, grow_low, grow_reach, diff_k, hull_margin)
        if ok is None:
            continue
        if runs_into_itself(ok, max_overlap) or too_different(g, a, ok.dst, max_residual, residual_sigma,
                                                              residual_spare_shifts):
            continue
        srcm, tgt, ncc_s, ncc_t, st, _ = ok
        covered |= srcm | tgt
        prob = paint(paint(prob, tgt, ncc_t, st), srcm, ncc_s, st)
        pairs.append(pair_record("dense", srcm, tgt, a, scale, seed_pixels=int(len(ys)), correlation=round(st, 4)))
    full = np.clip(to_full(prob, src.height, src.width), 0, 1)
    fills: list[dict] = []
    fparams: dict = {}
    if fill:   # exemplar (PatchMatch) fills: many small unrotated copies, too small for a hypothesis each
        fmap, fills, fparams = detect_fills(src.rgb, fill_side, fill_density, fill_area)
        full = np.maximum(full, np.clip(to_full(fmap, src.height, src.width), 0, 1))
    t3 = time.perf_counter()
    params = {"max_side": int(max_side), "working_scale": round(scale, 6), "radius": int(radius),
              "features": f"Zernike |Z_nm|, n<=5 ({len(ORDERS)} values)", "min_distance": int(min_distance),
              "iterations": int(iterations), "median": int(median), "fit_window": int(fit_window),
              "max_fit_error": float(max_fit_error), "min_seed": int(min_seed), "max_hypotheses": int(max_hypotheses),
              "correlation": float(correlation), "min_area": int(min_area), "seed": int(seed),
              "grow_low": float(grow_low), "grow_reach": int(grow_reach), "max_aniso": float(max_aniso),
              "max_overlap": None if max_overlap is None else float(max_overlap), "fill": bool(fill), **fparams}
    params.update(refit=int(refit), refit_tolerance=float(refit_tolerance), refit_seeds=bool(refit_seeds),
                  diff_k=float(diff_k), hull_margin=int(hull_margin),
                  max_residual=None if max_residual is None else float(max_residual),
                  residual_sigma=float(residual_sigma), residual_spare_shifts=bool(residual_spare_shifts))
    cover, notes = coverage(g, method="dense")
    return LayerOutput(map=full, score=float(full.max()), parameters=params,
                       details={"pairs": pairs, "fills": fills, "seed_areas": int(n - 1), "hypotheses_tried": tried,
                                **cover},
                       timings={"features_s": t1 - t0, "patchmatch_s": t2 - t1, "verify_s": t3 - t2},
                       notes=notes)
