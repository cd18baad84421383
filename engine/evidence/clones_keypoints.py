"""Copy-move by keypoints (after Amerini et al., IEEE TIFS 6(3), 2011), verified densely.

1. SIFT keypoints and descriptors on the luma at the working scale.
2. g2NN: each keypoint's k nearest descriptors d1 <= d2 <= ... are accepted as matches while
   d_i / d_(i+1) < ratio, so one keypoint can match several copies; pairs closer than
   `min_distance` pixels are dropped (a keypoint matching its own neighbourhood); with `dedupe=True`,
   matches between the same two places count once (not the default: research/README.md, round 3).
3. Sequential RANSAC: the largest set of pairs explained by one affine map is a clone transform;
   its pairs are removed and the search repeats (each pair enters in both directions, so the
   transform's orientation is free).
4. Dense verification (after A. Pan, S. Lyu 2010): the image is correlated locally with its own
   copy warped by the transform; connected areas above `correlation` that hold inlier keypoints
   are the target, and their images under the inverse map are the source.

Clones 1.3 (research/README.md, clones rounds 4-7) adds, each reachable as 1.2 by its parameter:
- low-texture keypoints on working images under `enlarge_side` px (after Li & Zhou, IEEE TIFS 14(5),
  2019): the luma enlarged to `enlarge_side`, SIFT contrast `low_contrast`, up to `low_max_keypoints`,
  matched by g2NN within bins of similar scale and local brightness (`low_texture=False`: 1.2's stage);
- growth over pixels that equal their moved copy up to noise (`diff_k`, 0: off), near the inliers;
- two guards against genuine repeats: a map that stretches unevenly (`max_aniso`, 0: off) and source
  and target regions that run into each other (`max_overlap`, None: off).

Clones 1.4 (research/README.md, clones round 12): a hypothesis with at least `flat_inliers` matches and an
anisotropy of at most `flat_aniso` that the dense check refuses (a copy too flat for the correlation of
fine detail) is confirmed where the image equals its moved copy up to noise; such pairs are recorded
with `confirmed_by: "difference"` and drawn at 0.6 (`flat_inliers=0`: 1.3).

Clones 1.5 (research/README.md, clones round 13): the overlap guard measures the two areas as the dense
check first confirms them, before growth (`overlap_on="core"`, above `max_overlap` 0.05). A copy pasted
over part of its own source overwrote that part, so what still matches is disjoint from the copy until
growth makes them meet; a repeating pattern's two ends overlap from the start (`overlap_on="grown"` with
`max_overlap=0.1`: 1.4).
"""
from __future__ import annotations

import time

import numpy as np

from .base import EvidenceInput, LayerOutput
from .clone_fill import detect_fills
from .clone_coverage import coverage
from .clone_regions import (anisotropy, confirm, confirm_by_difference, paint, pair_record, plausible, runs_into_itself,
                            stretches, to_full, working_gray)


def _seeded_flann(seed: int):
    import cv2

    # FLANN's randomised kd-trees draw from OpenCV's RNG: seeded, the same photo gives the same
    # matches (and so the same map) on every run, as a finding must
    cv2.setRNGSeed(int(seed))
    return cv2.FlannBasedMatcher({"algorithm": 1, "trees": 4}, {"checks": 64})


def _g2nn_accepted(row: list, ratio: float) -> list:
    """g2NN's test on one keypoint's neighbours d1 <= d2 <= ... (itself already left out): each d_i
    is a match while d_i / d_(i+1) < ratio, so one keypoint can match several copies."""
    out = []
    for a, b in zip(row, row[1:]):
        if a.distance >= ratio * b.distance:
            break
        out.append(a)
    return out


def _g2nn(desc: np.ndarray, k: int, ratio: float, seed: int = 0) -> list[tuple[int, int]]:
    knn = _seeded_flann(seed).knnMatch(desc, desc, k=min(k + 1, len(desc)))
    return [(i, m.trainIdx) for i, row in enumerate(knn)
            for m in _g2nn_accepted([m for m in row if m.trainIdx != i], ratio)]


def unique_pairs(pts: np.ndarray, pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """One match per pair of places. SIFT gives a blob one keypoint per dominant orientation, all at the
    same point, so matches among a few blobs would count several times each and could outvote a true
    copy in RANSAC with an affine map fitted to 3-4 distinct points."""
    seen: set = set()
    out = []
    for i, j in pairs:
        key = tuple(sorted((tuple(np.rint(pts[i]).astype(int)), tuple(np.rint(pts[j]).astype(int)))))
        if key not in seen:
            seen.add(key)
            out.append((i, j))
    return out


def low_texture_keypoints(gray: np.ndarray, contrast: float, max_keypoints: int, enlarge_side: int):
    """SIFT on the luma enlarged to `enlarge_side` at a low contrast threshold, so smooth areas (sky,
    walls, skin) get keypoints; returns (points and sizes at working scale, descriptors) or None."""
    import cv2

    f = float(enlarge_side) / max(gray.shape)
    big = cv2.resize(gray, (round(gray.shape[1] * f), round(gray.shape[0] * f)), interpolation=cv2.INTER_CUBIC)
    kps, desc = cv2.SIFT_create(nfeatures=int(max_keypoints), contrastThreshold=float(contrast)).detectAndCompute(big, None)
    if desc is None or len(kps) < 3:
        return None
    return np.float32([k.pt for k in kps]) / f, np.float32([k.size for k in kps]) / f, desc.astype(np.float32)


def g2nn_binned(desc: np.ndarray, groups: np.ndarray, k: int, ratio: float, seed: int = 0):
    """g2NN of each keypoint against the keypoints of its own and the neighbouring bins only (Li & Zhou's
    hierarchical matching): many weak keypoints stay cheap to match. Bins of up to 4000 are matched exactly."""
    import cv2

    pairs = []
    for g in np.unique(groups, axis=0):
        q = np.flatnonzero((groups == g).all(1))
        pool = np.flatnonzero((np.abs(groups - g) <= 1).all(1))
        if len(pool) < 2:
            continue
        matcher = cv2.BFMatcher(cv2.NORM_L2) if len(pool) <= 4000 else _seeded_flann(seed)
        for qi, row in zip(q, matcher.knnMatch(desc[q], desc[pool], k=min(k + 1, len(pool)))):
            row = [m for m in row if pool[m.trainIdx] != qi]
            pairs += [(int(qi), int(pool[m.trainIdx])) for m in _g2nn_accepted(row, ratio)]
    return pairs


def _low_texture_pairs(gray: np.ndarray, contrast: float, max_keypoints: int, enlarge_side: int, knn: int,
                       ratio: float, seed: int):
    import cv2

    found = low_texture_keypoints(gray, contrast, max_keypoints, enlarge_side)
    if found is None:
        return np.zeros((0, 2), np.float32), [], 0
    pts, sizes, desc = found
    mean = cv2.GaussianBlur(gray.astype(np.float32), (0, 0), 4.0)
    xy = np.clip(np.rint(pts).astype(int), 0, [gray.shape[1] - 1, gray.shape[0] - 1])
    # bins: scale octave and local brightness in steps of 32 grey levels
    groups = np.stack([np.floor(np.log2(np.maximum(sizes, 1e-3))), np.floor(mean[xy[:, 1], xy[:, 0]] / 32.0)],
                      1).astype(np.int64)
    return pts, g2nn_binned(desc, groups, knn, ratio, seed), len(pts)


def ransac_affine(a_pts: np.ndarray, b_pts: np.ndarray, ransac_px: float):
    """The affine map (2x3) that RANSAC finds for the most point pairs, and its inlier mask (N x 1)."""
    import cv2

    return cv2.estimateAffine2D(a_pts, b_pts, method=cv2.RANSAC, ransacReprojThreshold=ransac_px, maxIters=4000,
                                confidence=0.995)


def sequential_fits(pts: np.ndarray, pairs: list[tuple[int, int]], min_inliers: int, max_transforms: int,
                    ransac_px: float, fit=ransac_affine):
    """Sequential RANSAC over matched keypoints: the map explaining the most pairs is a hypothesis, its
    pairs are removed and the search repeats. Each pair enters in both directions, so the map's
    orientation is free. Yields (map, source points, target points) for each plausible map with at
    least `min_inliers` inliers; `fit(a_pts, b_pts, ransac_px)` returns (map, inlier mask)."""
    live = np.ones(len(pairs), bool)
    for _ in range(max_transforms):
        idx = np.flatnonzero(live)
        if len(idx) < min_inliers:
            return
        p = np.array([pairs[i] for i in idx])
        a_pts = np.concatenate([pts[p[:, 0]], pts[p[:, 1]]])
        b_pts = np.concatenate([pts[p[:, 1]], pts[p[:, 0]]])
        a, inl = fit(a_pts, b_pts, ransac_px)
        if a is None:
            return
        inl = inl.ravel().astype(bool)
        live[idx[inl[: len(idx)] | inl[len(idx):]]] = False
        if inl.sum() >= min_inliers and plausible(a):
            yield a, a_pts[inl], b_pts[inl]


def detect(src: EvidenceInput, max_side: int = 2048, ratio: float = 0.6, knn: int = 10, min_distance: int = 20,
           ransac_px: float = 3.0, min_inliers: int = 4, max_transforms: int = 6, correlation: float = 0.6,
           min_area: int = 300, contrast: float = 0.01, max_keypoints: int = 9000, grow_low: float = 0.3,
           grow_reach: int = 16, fill: bool = False, fill_side: int = 1024, fill_density: float = 0.4,
           fill_area: int = 1000, dedupe: bool = False, seed: int = 0, low_texture: bool = True,
           enlarge_side: int = 2048, low_contrast: float = 0.002, low_max_keypoints: int = 30000,
           diff_k: float = 0.5, hull_margin: int = 32, max_aniso: float = 1.15,
           max_overlap: float | None = 0.05, flat_inliers: int = 20, flat_aniso: float = 1.05,
           overlap_on: str = "core") -> LayerOutput:
    """Clones 1.5 by default; 1.4 with overlap_on="grown", max_overlap=0.1; 1.3 also with flat_inliers=0;
    1.2 with low_texture=False, diff_k=0, max_aniso=0, max_overlap=None, flat_inliers=0."""
    import cv2

    if overlap_on not in ("core", "grown"):
        raise ValueError(f"overlap_on must be 'core' or 'grown', found {overlap_on!r}")
    t0 = time.perf_counter()
    gray, scale = working_gray(src.rgb, max_side)
    # low-texture keypoints only where the working image is enlarged: on a photo of enlarge_side px or
    # more their number, not an enlargement, would be the cost (research/README.md, clones round 6)
    low = bool(low_texture) and max(gray.shape) < int(enlarge_side)
    if low:
        pts, pairs, n_kps = _low_texture_pairs(gray, low_contrast, low_max_keypoints, enlarge_side, knn, ratio, seed)
    else:
        # the strongest max_keypoints only: matching cost grows with their number on large photos
        # (1024 px photos have fewer than 9000 at this contrast threshold, so this only bounds big ones)
        sift = cv2.SIFT_create(nfeatures=int(max_keypoints), contrastThreshold=float(contrast))
        kps, desc = sift.detectAndCompute(gray, None)
        n_kps, pts, pairs = len(kps), np.zeros((0, 2), np.float32), []
        if desc is not None and len(kps) >= 3:
            pts = np.float32([kp.pt for kp in kps])
            pairs = _g2nn(desc.astype(np.float32), knn, ratio, seed)
    t1 = time.perf_counter()
    params = {"max_side": int(max_side), "working_scale": round(scale, 6), "ratio": ratio, "knn": knn,
              "min_distance": min_distance, "ransac_px": ransac_px, "min_inliers": min_inliers,
              "max_transforms": max_transforms, "correlation": correlation, "min_area": min_area,
              "contrast": float(contrast), "max_keypoints": int(max_keypoints), "grow_low": float(grow_low),
              "grow_reach": int(grow_reach), "dedupe": bool(dedupe), "seed": int(seed),
              "low_texture": bool(low_texture), "enlarge_side": int(enlarge_side), "low_contrast": float(low_contrast),
              "low_max_keypoints": int(low_max_keypoints), "low_texture_used": low, "diff_k": float(diff_k),
              "hull_margin": int(hull_margin), "max_aniso": float(max_aniso),
              "max_overlap": None if max_overlap is None else float(max_overlap), "overlap_on": overlap_on,
              "flat_inliers": int(flat_inliers), "flat_aniso": float(flat_aniso)}
    prob = np.zeros(gray.shape, np.float32)
    pairs_out: list[dict] = []
    pairs = [(i, j) for i, j in pairs if np.hypot(*(pts[i] - pts[j])) >= min_distance]
    if dedupe:
        pairs = unique_pairs(pts, pairs)
    n_matches = len(pairs)
    g32 = gray.astype(np.float32)
    for a, a_in, b_in in sequential_fits(pts, pairs, min_inliers, max_transforms, ransac_px):
        if stretches(a, max_aniso):
            continue
        ok = confirm(g32, a, a_in, b_in, min_distance, correlation, min_area, grow_low, grow_reach, diff_k,
                     hull_margin)
        how = "correlation"
        if ok is None and flat_inliers and len(a_in) >= flat_inliers and anisotropy(a) <= flat_aniso:
            # a copy too flat for the correlation of fine detail, which many isotropic matches support
            ok = confirm_by_difference(g32, a, a_in, b_in, min_distance, min_area, diff_k or 0.5, hull_margin)
            how = "difference"
        if ok is None:
            continue
        if runs_into_itself(ok, max_overlap, overlap_on):
            continue
        srcm, tgt, ncc_s, ncc_t, st, _ = ok
        prob = paint(paint(prob, tgt, ncc_t, st), srcm, ncc_s, st)
        pairs_out.append(pair_record("keypoints", srcm, tgt, a, scale, matches=len(a_in),
                                     correlation=round(st, 4), confirmed_by=how))
    t2 = time.perf_counter()
    full = np.clip(to_full(prob, src.height, src.width), 0, 1)
    fills: list[dict] = []
    params["fill"] = bool(fill)
    if fill:   # exemplar (PatchMatch) fills: many small unrotated copies that no keypoint pair explains
        # (off by default here: about 5 s of CPU at any image size, the whole 12 MP budget of this method)
        fmap, fills, fparams = detect_fills(src.rgb, fill_side, fill_density, fill_area)
        full = np.maximum(full, np.clip(to_full(fmap, src.height, src.width), 0, 1))
        params.update(fparams)
    t3 = time.perf_counter()
    cover, notes = coverage(g32)
    return LayerOutput(map=full, score=float(full.max()), parameters=params,
                       details={"keypoints": n_kps, "g2nn_matches": n_matches, "pairs": pairs_out, "fills": fills,
                                **cover},
                       timings={"keypoints_s": t1 - t0, "match_verify_s": t2 - t1, "fill_s": t3 - t2},
                       notes=notes)

