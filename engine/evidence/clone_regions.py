"""Shared by both clone detectors: working scale, clean-up of a detection mask, clone pairs as data."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Confirmed(NamedTuple):
    """A clone hypothesis the dense check confirmed: its source and target areas (grown), the local
    correlation at each end, the weaker end's strength, and how much the two areas overlapped before
    any growth (the repeat guard's measure: research/README.md, clones round 13)."""
    src: np.ndarray
    dst: np.ndarray
    ncc_s: np.ndarray
    ncc_t: np.ndarray
    strength: float
    core_overlap: float


def working_gray(rgb: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Luma at a working scale whose long side is at most `max_side` (never enlarged); returns (gray, scale)."""
    import cv2

    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    h, w = gray.shape
    scale = min(1.0, float(max_side) / max(h, w)) if max_side else 1.0
    if scale < 1.0:
        gray = cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return gray, scale


def remove_small(mask: np.ndarray, min_area: int) -> np.ndarray:
    import cv2

    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area
    return keep[labels]


def to_full(mask_or_map: np.ndarray, height: int, width: int) -> np.ndarray:
    import cv2

    if mask_or_map.shape == (height, width):
        return mask_or_map.astype(np.float32)
    return cv2.resize(mask_or_map.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)


def affine_to_full(a: np.ndarray, scale: float) -> np.ndarray:
    """An affine map between working-scale coordinates as one between full-resolution coordinates."""
    full = np.array(a, np.float64).copy()
    full[:, 2] = full[:, 2] / scale
    return full


def bbox(mask: np.ndarray, scale: float) -> list[int]:
    ys, xs = np.nonzero(mask)
    return [int(xs.min() / scale), int(ys.min() / scale), int(np.ceil((xs.max() + 1) / scale)),
            int(np.ceil((ys.max() + 1) / scale))]


def pair_record(method: str, src_mask: np.ndarray, dst_mask: np.ndarray, a: np.ndarray, scale: float,
                **extra) -> dict:
    """One clone pair as JSON: source and target boxes [x0, y0, x1, y1] at full resolution, areas,
    and the affine transform (2x3, full-resolution pixels) that maps source points onto target points."""
    a_full = affine_to_full(a, scale)
    lin = a_full[:, :2]
    return {"method": method,
            "source_bbox": bbox(src_mask, scale), "target_bbox": bbox(dst_mask, scale),
            "source_area": int(round(src_mask.sum() / scale ** 2)),
            "target_area": int(round(dst_mask.sum() / scale ** 2)),
            "transform": [[round(float(v), 5) for v in row] for row in a_full],
            "rotation_deg": round(float(np.degrees(np.arctan2(lin[1, 0], lin[0, 0]))), 2),
            "scale": round(float(np.sqrt(abs(np.linalg.det(lin)))), 4),
            **extra}


def box_text(box) -> str:
    """[x0, y0, x1, y1] as 'x 21-127, y 154-257 px' (full-resolution pixels)."""
    return f"x {box[0]}–{box[2]}, y {box[1]}–{box[3]} px" if box and len(box) == 4 else str(box)


def pair_text(k: int, pair: dict, boxes: bool = True, compact: bool = False) -> str:
    """One clone pair for people: 'S1 ↔ T1: rotated 20.0°, scale 1.02, moved 293 px' and, with boxes,
    where each end lies; compact: 'S1 ↔ T1: 20.0°, ×1.02, 293 px apart' (a list row). k counts from 1,
    as the S/T tags on the image."""
    s, t = pair.get("source_bbox"), pair.get("target_bbox")
    how = []
    if pair.get("rotation_deg") is not None:
        how.append(f"{'' if compact else 'rotated '}{float(pair['rotation_deg']):.1f}°")
    if pair.get("scale") is not None:
        how.append(f"{'×' if compact else 'scale '}{float(pair['scale']):.2f}")
    if s and t and len(s) == 4 and len(t) == 4:
        shift = np.hypot((t[0] + t[2] - s[0] - s[2]) / 2, (t[1] + t[3] - s[1] - s[3]) / 2)
        how.append(f"{shift:.0f} px apart" if compact else f"moved {shift:.0f} px")
    if pair.get("confirmed_by") == "difference":   # clones 1.4: a flat copy, confirmed by equal pixel values
        how.append("equal pixels" if compact else "confirmed by equal pixel values (too flat to correlate)")
    text = f"S{k} ↔ T{k}: {', '.join(how)}" if how else f"S{k} ↔ T{k}"
    return f"{text} (S{k} {box_text(s)}; T{k} {box_text(t)})" if boxes else text


def local_ncc(a: np.ndarray, b: np.ndarray, valid: np.ndarray, sigma: float = 2.5,
              min_var: float = 4.0) -> np.ndarray:
    """Local normalised cross-correlation of two float32 images under a Gaussian window.

    Flat areas correlate with anything, so both sides need a local variance of at least `min_var`."""
    import cv2

    def g(x):
        return cv2.GaussianBlur(x, (0, 0), sigma)

    ma, mb = g(a), g(b)
    va = g(a * a) - ma * ma
    vb = g(b * b) - mb * mb
    ncc = (g(a * b) - ma * mb) / np.sqrt(np.maximum(va * vb, 1e-6))
    ncc[(va < min_var) | (vb < min_var) | ~valid] = 0.0
    return ncc


def keep_seeded(mask: np.ndarray, seeds: np.ndarray, min_area: int) -> np.ndarray:
    """Connected areas of `mask` (after a small opening and closing) that hold a seed point (x, y)
    and are at least `min_area` pixels."""
    import cv2

    mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    n, labels = cv2.connectedComponents(mask, connectivity=8)
    h, w = mask.shape
    if len(seeds) == 0:
        return np.zeros((h, w), bool)
    s = np.clip(np.rint(seeds).astype(int), 0, [w - 1, h - 1])
    lab = np.unique(labels[s[:, 1], s[:, 0]])
    keep = np.zeros(n, bool)
    keep[lab[lab > 0]] = True
    return remove_small(keep[labels], min_area)


def grow_region(mask: np.ndarray, ncc: np.ndarray, low: float, reach: int) -> np.ndarray:
    """A confirmed area grown by hysteresis and with its holes filled.

    The copy's flat or blurred parts correlate weakly (or not at all: flat detail counts as 0), so the
    area above `correlation` is ragged and holed. It is extended to connected pixels above `low`
    within `reach` px of it, closed over gaps up to `reach`, and its enclosed holes are filled:
    pixels a copy's outline surrounds belong to the copy."""
    import cv2
    from scipy.ndimage import binary_fill_holes

    if not mask.any() or reach <= 0:
        return mask
    # work in the area's box plus a margin the growth cannot cross: cheap on a 2048 px working image
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    m = 2 * reach + 2
    box = (slice(max(0, ys.min() - m), min(h, ys.max() + 1 + m)), slice(max(0, xs.min() - m), min(w, xs.max() + 1 + m)))
    sub = mask[box]
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
    near = cv2.dilate(sub.astype(np.uint8), k) > 0
    cand = ((ncc[box] > low) & near) | sub
    n, labels = cv2.connectedComponents(cand.astype(np.uint8), connectivity=8)
    keep = np.zeros(n, bool)
    keep[np.unique(labels[sub])] = True
    keep[0] = False
    grown = cv2.morphologyEx(keep[labels].astype(np.uint8), cv2.MORPH_CLOSE, k) > 0
    out = np.zeros_like(mask)
    out[box] = binary_fill_holes(grown)
    return out


def near_points(points: np.ndarray, shape, margin: int) -> np.ndarray:
    """The convex hull of `points` (x, y), dilated by `margin` pixels."""
    import cv2

    m = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(m, cv2.convexHull(np.rint(points).astype(np.int32).reshape(-1, 1, 2)), 1)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
    return cv2.dilate(m, k) > 0


def grow_within(seed: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Connected pixels of ok | seed that touch the seed, closed (5 px) and with holes filled."""
    import cv2
    from scipy.ndimage import binary_fill_holes

    if not seed.any():
        return seed
    n, labels = cv2.connectedComponents((ok | seed).astype(np.uint8), connectivity=8)
    keep = np.zeros(n, bool)
    keep[np.unique(labels[seed])] = True
    keep[0] = False
    grown = cv2.morphologyEx(keep[labels].astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8)) > 0
    return binary_fill_holes(grown)


def compared_ends(shape, a: np.ndarray, min_distance: float) -> tuple[np.ndarray, np.ndarray]:
    """Where the image may be compared with itself moved by a (the target end) and by a^-1 (the source
    end): inside the frame after the move, and at least `min_distance` px from the pixel's own place,
    since a pixel compared with itself (or its next-door neighbour) is no evidence of a copy."""
    import cv2

    h, w = shape
    inside = np.ones((h, w), np.uint8)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)

    def end(m, came_from):   # m moves the image onto this end; came_from maps each pixel back
        shift = np.hypot(xx - (came_from[0, 0] * xx + came_from[0, 1] * yy + came_from[0, 2]),
                         yy - (came_from[1, 0] * xx + came_from[1, 1] * yy + came_from[1, 2]))
        return (cv2.warpAffine(inside, m, (w, h), flags=cv2.INTER_NEAREST) > 0) & (shift >= min_distance)

    inv = cv2.invertAffineTransform(a)
    return end(a, inv), end(inv, a)


def local_sd(raw: np.ndarray) -> np.ndarray:
    """Local contrast (Gaussian window, sigma 4) plus a noise allowance of 2 grey levels: the scale of
    the difference test below."""
    import cv2

    mean = cv2.GaussianBlur(raw, (0, 0), 4.0)
    return np.sqrt(np.maximum(cv2.GaussianBlur(raw * raw, (0, 0), 4.0) - mean * mean, 0)) + 2.0


def equal_to_moved(raw: np.ndarray, m: np.ndarray, sd: np.ndarray, valid: np.ndarray, seeds: np.ndarray,
                   diff_k: float, hull_margin: int) -> np.ndarray:
    """Pixels of one end (m moves the image onto it) where the image equals its moved copy up to noise:
    the blurred difference below diff_k x local_sd, within `hull_margin` px of the seeds' hull (sky
    matches any sky)."""
    import cv2

    h, w = raw.shape
    moved = cv2.warpAffine(raw, m, (w, h), flags=cv2.INTER_LINEAR)
    return (cv2.GaussianBlur(np.abs(raw - moved), (0, 0), 2.0) < diff_k * sd) & valid \
        & near_points(seeds, (h, w), hull_margin)


def verify_transform(gray: np.ndarray, a: np.ndarray, src_seeds: np.ndarray, dst_seeds: np.ndarray,
                     min_distance: float, correlation: float, min_area: int, detail_sigma: float = 2.0,
                     min_var: float = 1.0, grow_low: float = 0.3, grow_reach: int = 0, diff_k: float = 0.0,
                     hull_margin: int = 32):
    """Dense check of one clone hypothesis a (2x3, source -> target, working-scale pixels).

    The image is correlated locally with itself moved by a (high on the target) and by a^-1 (high
    on the source), after A. Pan and S. Lyu, 'Region duplication detection using image feature
    matching', IEEE TIFS 5(4), 2010. With `diff_k` > 0 (clones 1.3) the confirmed areas also grow
    over pixels where the image and its moved copy differ by less than diff_k times the local
    contrast, within `hull_margin` px of the inliers' hull. Returns (source mask, target mask,
    source NCC, target NCC, overlap of the two areas before growth); empty masks if the hypothesis is
    not confirmed."""
    import cv2

    h, w = gray.shape
    raw = gray
    # correlate fine detail, not brightness: smooth gradients and shading agree with any shifted
    # copy of themselves, the grain and texture of a copied area agree only with their original
    gray = gray - cv2.GaussianBlur(gray, (0, 0), detail_sigma)
    inv = cv2.invertAffineTransform(a)
    moved = cv2.warpAffine(gray, a, (w, h), flags=cv2.INTER_LINEAR)
    back = cv2.warpAffine(gray, inv, (w, h), flags=cv2.INTER_LINEAR)
    valid_t, valid_s = compared_ends((h, w), a, min_distance)
    ncc_t = local_ncc(gray, moved, valid_t, min_var=min_var)
    ncc_s = local_ncc(gray, back, valid_s, min_var=min_var)
    dst = keep_seeded(ncc_t > correlation, dst_seeds, min_area)
    src = keep_seeded(ncc_s > correlation, src_seeds, min_area)
    if not dst.any() or not src.any():
        empty = np.zeros((h, w), bool)
        return empty, empty, ncc_s, ncc_t, 0.0
    # before growth: a copy over part of its own source overwrote that part, so what still matches is
    # disjoint from the copy; a repeating pattern's two ends overlap already here
    core = overlap(src, dst)
    src = grow_region(src, ncc_s, grow_low, grow_reach) & valid_s
    dst = grow_region(dst, ncc_t, grow_low, grow_reach) & valid_t
    if diff_k:
        # a copy equals its source up to noise wherever it is, flat or not, where correlation of fine
        # detail sees nothing: grow where the moved difference is small for the local contrast
        sd = local_sd(raw)
        src = grow_within(src, equal_to_moved(raw, inv, sd, valid_s, src_seeds, diff_k, hull_margin)) & valid_s
        dst = grow_within(dst, equal_to_moved(raw, a, sd, valid_t, dst_seeds, diff_k, hull_margin)) & valid_t
    return src, dst, ncc_s, ncc_t, core


def strength(ncc: np.ndarray, mask: np.ndarray, correlation: float) -> float:
    """A confirmed area's correlation: the mean NCC over its pixels above `correlation`."""
    v = ncc[mask & (ncc > correlation)]
    return float(v.mean()) if v.size else float(correlation)


def paint(prob: np.ndarray, mask: np.ndarray, ncc: np.ndarray, level: float) -> np.ndarray:
    """The map over a confirmed area: its local correlation, but at least the area's own strength,
    so the grown and filled parts show at the same threshold as the rest of the copy."""
    return np.maximum(prob, np.where(mask, np.maximum(ncc, level), 0).astype(np.float32))


def anisotropy(a: np.ndarray) -> float:
    """How unevenly a map stretches: its linear part's larger singular value over the smaller one.
    Copies are moved, rotated and scaled uniformly (near 1); a fit to unrelated points often is not."""
    sv = np.linalg.svd(np.asarray(a, np.float64)[:, :2], compute_uv=False)
    return float(sv[0] / max(sv[1], 1e-12))


def overlap(src_mask: np.ndarray, dst_mask: np.ndarray) -> float:
    """The share of the smaller of source and target that both cover. A pattern that matches itself over
    a region wider than the map's step (textile, brickwork, ornament) gives regions that run into each
    other; a copy pasted elsewhere does not."""
    small = min(int(src_mask.sum()), int(dst_mask.sum()))
    return float((src_mask & dst_mask).sum()) / small if small else 0.0


def stretches(a: np.ndarray, max_aniso: float) -> bool:
    """The repeat guard on a map (both methods): copies move, rotate and scale uniformly, so a map whose
    anisotropy is above `max_aniso` (0: off) is a fit to unrelated points or to a foreshortened pattern."""
    return bool(max_aniso) and anisotropy(a) > max_aniso


def runs_into_itself(ok: Confirmed, max_overlap: float | None, on: str = "core") -> bool:
    """The repeat guard on a confirmed pair's areas (both methods; None: off): a pattern matching itself over
    a region wider than the map's step has ends that overlap before any growth, while a copy over part
    of its own source overwrote what would overlap (clones round 13). on="grown": 1.4's measure, after
    growth."""
    if max_overlap is None:
        return False
    return (ok.core_overlap if on == "core" else overlap(ok.src, ok.dst)) > max_overlap


def moved_residual(raw: np.ndarray, a: np.ndarray, dst: np.ndarray, sigma: float = 0.0) -> float:
    """Median over a confirmed target of |image - image moved by a| / local_sd: how far the target is from
    being a copy of its source. A copy equals its source up to JPEG and resampling noise; two areas of
    natural texture that merely correlate differ by a good part of their contrast (clones round 19). With
    `sigma` > 0 both are first blurred (Gaussian, sigma px), so that the resampling of a rescaled copy,
    which changes the finest detail, counts less (clones round 20)."""
    import cv2

    if not dst.any():
        return 0.0
    h, w = raw.shape
    moved = cv2.warpAffine(raw, a, (w, h), flags=cv2.INTER_LINEAR)
    if sigma:
        raw, moved = cv2.GaussianBlur(raw, (0, 0), sigma), cv2.GaussianBlur(moved, (0, 0), sigma)
    return float(np.median(np.abs(raw - moved)[dst] / local_sd(raw)[dst]))


# A map within these of a pure shift is what an exemplar (PatchMatch) fill copies with: see too_different.
SHIFT_ROTATION_DEG = 0.5
SHIFT_SCALE = 0.02


def is_shift(a: np.ndarray) -> bool:
    """The map moves without turning (|rotation| <= 0.5 degrees) or rescaling (within 2 %)."""
    lin = np.asarray(a, np.float64)[:, :2]
    rotation = abs(np.degrees(np.arctan2(lin[1, 0], lin[0, 0])))
    return rotation <= SHIFT_ROTATION_DEG and abs(np.sqrt(abs(np.linalg.det(lin))) - 1) <= SHIFT_SCALE


def too_different(raw: np.ndarray, a: np.ndarray, dst: np.ndarray, max_residual: float | None,
                  sigma: float = 0.0, spare_shifts: bool = False) -> bool:
    """The chance-pair guard (None: off): a confirmed pair whose target differs from its moved source by more
    than `max_residual` of the local contrast (median) correlates without being a copy. spare_shifts: a pair
    whose map is a pure shift is kept whatever its residual, because an exemplar fill copies unturned,
    unscaled patches and blends them by voting, so its pairs repeat their sources less exactly than a copy
    does (research/README.md, clones rounds 20-21); a turned or rescaled copy must still match closely."""
    if max_residual is None or (spare_shifts and is_shift(a)):
        return False
    return moved_residual(raw, a, dst, sigma) > max_residual


def plausible(a: np.ndarray) -> bool:
    """An affine map that a copy-move could be: no collapse, no mirror-free extreme scaling."""
    det = float(np.linalg.det(np.asarray(a)[:, :2]))
    return 0.4 < abs(det) < 2.5


def confirm(gray: np.ndarray, a: np.ndarray, src_seeds: np.ndarray, dst_seeds: np.ndarray, min_distance: float,
            correlation: float, min_area: int, grow_low: float, grow_reach: int, diff_k: float = 0.0,
            hull_margin: int = 32):
    """Verify hypothesis a densely. Returns a Confirmed (strength: the weaker end's mean correlation), or
    None if unconfirmed."""
    srcm, tgt, ncc_s, ncc_t, core = verify_transform(gray, a, src_seeds, dst_seeds, min_distance, correlation, min_area,
                                               grow_low=grow_low, grow_reach=grow_reach, diff_k=diff_k,
                                               hull_margin=hull_margin)
    if not tgt.any():
        return None
    weaker = min(strength(ncc_t, tgt, correlation), strength(ncc_s, srcm, correlation))
    return Confirmed(srcm, tgt, ncc_s, ncc_t, weaker, core)


FLAT_LEVEL = 0.6   # the map over a pair confirmed by difference: above the default threshold, below most correlations


def confirm_by_difference(gray: np.ndarray, a: np.ndarray, src_seeds: np.ndarray, dst_seeds: np.ndarray,
                          min_distance: float, min_area: int, diff_k: float, hull_margin: int):
    """Confirm hypothesis a where the image equals its moved copy up to noise, for a copy too flat for
    the correlation of fine detail (below its variance floor the correlation is undefined, not low).
    Only for hypotheses that many isotropic keypoint matches support (clones_keypoints, `flat_inliers`):
    on flat content those keypoints come from noise and grain, which match at random unless the pixels
    were copied (research/README.md, clones round 12). Returns a Confirmed (its areas are not grown, so
    core_overlap is their overlap) or None."""
    import cv2

    valid_t, valid_s = compared_ends(gray.shape, a, min_distance)
    sd = local_sd(gray)
    dst = keep_seeded(equal_to_moved(gray, a, sd, valid_t, dst_seeds, diff_k, hull_margin), dst_seeds, min_area)
    src = keep_seeded(equal_to_moved(gray, cv2.invertAffineTransform(a), sd, valid_s, src_seeds, diff_k, hull_margin),
                      src_seeds, min_area)
    if not dst.any() or not src.any():
        return None
    level = np.full(gray.shape, FLAT_LEVEL, np.float32)
    return Confirmed(src, dst, level, level, FLAT_LEVEL, overlap(src, dst))
