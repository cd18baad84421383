"""Round 4 of the `clones` layer (issue #38): more keypoint hypotheses on low-texture content.

    python research/clones_r4_experiment.py maps DATA NAME '{"enlarge_side": 2048, "hier": true}'
    python research/clones_r3_experiment.py score DATA NAME            # scoring is round 3's
    python research/clones_r4_experiment.py time '{"model": "similarity"}'   # 1.2 and a candidate, 12 MP photo

Only how keypoints are found and matched changes; RANSAC, the dense confirmation and the grown areas are
1.2's (`engine.evidence.clone_regions`). Ideas after Li & Zhou, 'Fast and effective image copy-move forgery
detection via hierarchical feature point matching', IEEE TIFS 14(5), 2019 (written from the paper, not
from code): a low SIFT contrast threshold and an enlarged image give smooth regions keypoints; matching
only within groups of similar scale and local intensity keeps that many keypoints cheap to match. Beside
them: CLAHE of the luma for detection only, and a cap on keypoints per tile (an adaptive threshold:
flat tiles keep their strongest, weak keypoints). Maps are cached like round 3's (build/r3cache/DATA/NAME).
"""
from __future__ import annotations

import json
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clones_r3_experiment import CACHE, load  # noqa: E402


def find_keypoints(gray: np.ndarray, contrast: float, max_keypoints: int, enlarge_side: int, clahe: float,
                   tile: int, per_tile: int):
    """Keypoints and descriptors of the working-scale luma; returns (points at working scale, sizes at
    working scale, descriptors)."""
    import cv2

    det = cv2.createCLAHE(clipLimit=float(clahe), tileGridSize=(8, 8)).apply(gray) if clahe else gray
    f = 1.0
    if enlarge_side and max(det.shape) < enlarge_side:
        f = float(enlarge_side) / max(det.shape)
        det = cv2.resize(det, (round(det.shape[1] * f), round(det.shape[0] * f)), interpolation=cv2.INTER_CUBIC)
    if per_tile:
        sift = cv2.SIFT_create(nfeatures=0, contrastThreshold=float(contrast))
        kps = sift.detect(det, None)
        if kps:
            pts = np.float32([k.pt for k in kps]) / f
            resp = np.float32([k.response for k in kps])
            cell = (pts[:, 1] // tile).astype(np.int64) * 100000 + (pts[:, 0] // tile).astype(np.int64)
            order = np.lexsort((-resp, cell))          # by tile, strongest first
            c = cell[order]
            start = np.r_[0, np.flatnonzero(np.diff(c)) + 1]
            rank = np.arange(len(c)) - np.repeat(start, np.diff(np.r_[start, len(c)]))
            keep = order[rank < per_tile]
            keep = keep[np.argsort(-resp[keep])][:max_keypoints]
            kps = [kps[i] for i in keep]
        kps, desc = sift.compute(det, kps) if kps else (kps, None)
    else:
        sift = cv2.SIFT_create(nfeatures=int(max_keypoints), contrastThreshold=float(contrast))
        kps, desc = sift.detectAndCompute(det, None)
    if desc is None or len(kps) < 3:
        return np.zeros((0, 2), np.float32), np.zeros(0, np.float32), None
    return (np.float32([k.pt for k in kps]) / f, np.float32([k.size for k in kps]) / f, desc.astype(np.float32))


def _knn(query: np.ndarray, pool: np.ndarray, k: int, seed: int, exact_below: int = 0):
    import cv2

    if len(pool) <= exact_below:    # exact and deterministic for small groups
        return cv2.BFMatcher(cv2.NORM_L2).knnMatch(query, pool, k=min(k, len(pool)))
    cv2.setRNGSeed(int(seed))
    m = cv2.FlannBasedMatcher({"algorithm": 1, "trees": 4}, {"checks": 64})
    return m.knnMatch(query, pool, k=min(k, len(pool)))


def g2nn_pairs(desc: np.ndarray, k: int, ratio: float, seed: int, groups: np.ndarray | None = None):
    """g2NN (Amerini et al. 2011) over all keypoints, or, with `groups` (N x 2 integer bins), each keypoint
    against the keypoints of its own and the neighbouring bins only (Li & Zhou's hierarchical matching)."""
    if groups is None:
        sets = [(np.arange(len(desc)), np.arange(len(desc)))]
    else:
        sets = []
        for g in np.unique(groups, axis=0):
            q = np.flatnonzero((groups == g).all(1))
            p = np.flatnonzero((np.abs(groups - g) <= 1).all(1))
            sets.append((q, p))
    pairs = []
    for q, p in sets:
        if len(p) < 2:
            continue
        for qi, row in zip(q, _knn(desc[q], desc[p], k + 1, seed, 0 if groups is None else 4000)):
            row = [m for m in row if p[m.trainIdx] != qi]
            for a, b in zip(row, row[1:]):
                if a.distance >= ratio * b.distance:
                    break
                pairs.append((int(qi), int(p[a.trainIdx])))
    return pairs


def similarity_first(a_pts: np.ndarray, b_pts: np.ndarray, ransac_px: float, max_cond: float = 1.5):
    """RANSAC over similarities (rotation, uniform scale, shift): 2 points make one, so a few distinct
    places cannot make it degenerate; a full affine refit on its inliers keeps shear where they support it."""
    import cv2

    a, inl = cv2.estimateAffinePartial2D(a_pts, b_pts, method=cv2.RANSAC, ransacReprojThreshold=ransac_px,
                                         maxIters=4000, confidence=0.995)
    if a is not None and inl.sum() >= 3:
        keep = inl.ravel().astype(bool)
        full_a, _ = cv2.estimateAffine2D(a_pts[keep], b_pts[keep], method=cv2.LMEDS)
        if full_a is not None and np.isfinite(full_a).all():
            sv = np.linalg.svd(full_a[:, :2], compute_uv=False)
            if sv[0] <= max_cond * sv[1]:
                a = full_a
    return a, inl


def detect_r4(src, max_side=2048, ratio=0.6, knn=10, min_distance=20, ransac_px=3.0, min_inliers=4,
              max_transforms=6, correlation=0.6, min_area=300, contrast=0.01, max_keypoints=9000,
              grow_low=0.3, grow_reach=16, seed=0, enlarge_side=0, clahe=0.0, tile=128, per_tile=0,
              hier=False, size_bin=1.0, int_bin=32.0, model="affine", max_cond=1.5):
    import cv2
    from engine.evidence.clone_regions import confirm, paint, to_full, working_gray
    from engine.evidence.clones_keypoints import ransac_affine, sequential_fits

    t0 = time.perf_counter()
    gray, scale = working_gray(src.rgb, max_side)
    pts, sizes, desc = find_keypoints(gray, contrast, max_keypoints, enlarge_side, clahe, tile, per_tile)
    t1 = time.perf_counter()
    prob = np.zeros(gray.shape, np.float32)
    n_pairs = 0
    if desc is not None:
        groups = None
        if hier:
            mean = cv2.GaussianBlur(gray.astype(np.float32), (0, 0), 4.0)
            xy = np.clip(np.rint(pts).astype(int), 0, [gray.shape[1] - 1, gray.shape[0] - 1])
            groups = np.stack([np.floor(np.log2(np.maximum(sizes, 1e-3)) / size_bin),
                               np.floor(mean[xy[:, 1], xy[:, 0]] / int_bin)], 1).astype(np.int64)
        pairs = [(i, j) for i, j in g2nn_pairs(desc, knn, ratio, seed, groups)
                 if np.hypot(*(pts[i] - pts[j])) >= min_distance]
        g32 = gray.astype(np.float32)
        fit = partial(similarity_first, max_cond=max_cond) if model == "similarity" else ransac_affine
        for a, a_in, b_in in sequential_fits(pts, pairs, min_inliers, max_transforms, ransac_px, fit):
            ok = confirm(g32, a, a_in, b_in, min_distance, correlation, min_area, grow_low, grow_reach)
            if ok is None:
                continue
            srcm, tgt, ncc_s, ncc_t, st = ok[:5]
            prob = paint(paint(prob, tgt, ncc_t, st), srcm, ncc_s, st)
            n_pairs += 1
        n_matches = len(pairs)
    else:
        n_matches = 0
    full = np.clip(to_full(prob, src.height, src.width), 0, 1)
    return full, {"keypoints": int(len(pts)), "matches": n_matches, "pairs": n_pairs,
                  "kp_s": round(t1 - t0, 2), "total_s": round(time.perf_counter() - t0, 2)}


def maps(folder: Path, name: str, params: dict) -> None:
    from engine.evidence import prepare

    out = CACHE / folder.name / name
    out.mkdir(parents=True, exist_ok=True)
    (out / "params.json").write_text(json.dumps(params))
    with open(out / "log.jsonl", "a") as log:
        for e in load(folder):
            stem = Path(e["image"]).stem
            if (out / f"{stem}.npy").exists():
                continue
            src, _ = prepare(str(folder / e["image"]))
            t0 = time.process_time()
            full, info = detect_r4(src, **params)
            info = {"stem": stem, "cpu_s": round(time.process_time() - t0, 2), **info}
            np.save(out / f"{stem}.npy", (full * 255).round().astype(np.uint8))
            log.write(json.dumps(info) + "\n")
            print(info, flush=True)


def timing(params: dict, repeat: int = 2) -> None:
    """1.2's detector and a candidate on bench_evidence.py's 12 MP photo, best of `repeat`, wall and CPU."""
    compare_12mp(lambda src: detect_r4(src, **params), repeat)


def compare_12mp(candidate, repeat: int = 2) -> None:
    """1.2's detector and `candidate(src)` on bench_evidence.py's 12 MP photo in one process, best of
    `repeat`, wall and CPU (round 5 reuses it)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from bench_evidence import ROOT, make_photo
    from engine.evidence import prepare
    from engine.evidence.clones_keypoints import detect

    src, _ = prepare(str(make_photo(ROOT / "build" / "bench" / "evidence-12mp.jpg")))
    for name, fn in (("1.2", lambda: detect(src)), ("candidate", lambda: candidate(src))):
        best = None
        for _ in range(repeat):
            w, c = time.perf_counter(), time.process_time()
            fn()
            w, c = time.perf_counter() - w, time.process_time() - c
            best = (w, c) if best is None or w < best[0] else best
        print(f"{name}: wall {best[0]:.2f} s, cpu {best[1]:.2f} s", flush=True)

if __name__ == "__main__":
    if sys.argv[1] == "maps":
        maps(Path(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4]))
    elif sys.argv[1] == "time":
        timing(json.loads(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 2)
    else:
        raise SystemExit(__doc__)
