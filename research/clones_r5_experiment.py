"""Round 5 of the `clones` layer (issue #38): can the dense confirmation mark more of a found copy?

    python research/clones_r5_experiment.py hyps DATA                       # 1.2's hypotheses, build/r5cache/DATA
    python research/clones_r5_experiment.py maps DATA NAME '{"band": "grow"}'   # maps into build/r3cache/DATA/NAME
    python research/clones_r3_experiment.py score DATA NAME                 # scoring is round 3's
    python research/clones_r5_experiment.py time '{"band": "grow"}'          # 1.2 and a candidate, 12 MP photo
    python research/clones_r5_experiment.py recall DATA NAME [NAME2 ...]     # each copy's recall, precision, IoU
    python research/clones_r5_experiment.py truehyp DATA [HYP_DIR]           # each copy's hypotheses: inliers,
                                                                            # share on the copy, confirmed by 1.2

The keypoints, g2NN and sequential RANSAC are 1.2's and do not change between candidates, so each view's
hypotheses (map, inlier points) are computed once and cached; a candidate re-runs only the confirmation.
Candidates (research/README.md, round 5): `band` a second, band-pass correlation under a larger window that
JPEG and resizing leave ("grow": used for the growth only; "seed": for the seed test too); `diff_k` growth
by hysteresis on the warped difference relative to the local contrast, inside the inliers' hull enlarged by
`hull_margin`; `low_corr` a lower seed threshold for hypotheses with at least `low_min_inliers` inliers.
"""
from __future__ import annotations

import json
import pickle
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clones_r3_experiment import CACHE, load  # noqa: E402

HYP = Path("build/r5cache")
BASE = {"max_side": 2048, "ratio": 0.6, "knn": 10, "min_distance": 20, "ransac_px": 3.0, "min_inliers": 4,
        "max_transforms": 6, "correlation": 0.6, "min_area": 300, "contrast": 0.01, "max_keypoints": 9000,
        "grow_low": 0.3, "grow_reach": 16, "seed": 0}


def hypotheses(src, p=BASE, r4: dict | None = None):
    """1.2's keypoint stage: (working luma, scale, [(map, source inliers, target inliers), ...]); with `r4`,
    round 4's keypoints and matching (clones_r4_experiment.py, e.g. its `H`) instead, for a diagnostic."""
    import cv2
    from engine.evidence.clone_regions import working_gray
    from engine.evidence.clones_keypoints import _g2nn, ransac_affine, sequential_fits

    gray, scale = working_gray(src.rgb, p["max_side"])
    fit = ransac_affine
    if r4 is not None and r4.get("model") == "similarity":   # round 4's `S`: 1.2's keypoints, similarity-first fits
        from clones_r4_experiment import similarity_first
        fit = similarity_first
    elif r4 is not None:
        return (gray, scale, r4_hypotheses(gray, p, r4))
    sift = cv2.SIFT_create(nfeatures=int(p["max_keypoints"]), contrastThreshold=float(p["contrast"]))
    kps, desc = sift.detectAndCompute(gray, None)
    hyps = []
    if desc is not None and len(kps) >= 3:
        pts = np.float32([kp.pt for kp in kps])
        pairs = [(i, j) for i, j in _g2nn(desc.astype(np.float32), p["knn"], p["ratio"], p["seed"])
                 if np.hypot(*(pts[i] - pts[j])) >= p["min_distance"]]
        hyps = list(sequential_fits(pts, pairs, p["min_inliers"], p["max_transforms"], p["ransac_px"], fit))
    return gray, scale, hyps


def r4_hypotheses(gray: np.ndarray, p: dict, r4: dict):
    import cv2
    from clones_r4_experiment import find_keypoints, g2nn_pairs
    from engine.evidence.clones_keypoints import sequential_fits

    pts, sizes, desc = find_keypoints(gray, r4.get("contrast", 0.002), r4.get("max_keypoints", 30000),
                                      r4.get("enlarge_side", 2048), 0.0, 128, 0)
    if desc is None:
        return []
    mean = cv2.GaussianBlur(gray.astype(np.float32), (0, 0), 4.0)
    xy = np.clip(np.rint(pts).astype(int), 0, [gray.shape[1] - 1, gray.shape[0] - 1])
    groups = np.stack([np.floor(np.log2(np.maximum(sizes, 1e-3))), np.floor(mean[xy[:, 1], xy[:, 0]] / 32.0)],
                      1).astype(np.int64)
    pairs = [(i, j) for i, j in g2nn_pairs(desc, p["knn"], p["ratio"], p["seed"], groups)
             if np.hypot(*(pts[i] - pts[j])) >= p["min_distance"]]
    return list(sequential_fits(pts, pairs, p["min_inliers"], p["max_transforms"], p["ransac_px"]))


# the growth's helpers now live in the product (clones 1.3, round 7); same code, same names here for rounds 5-7
from engine.evidence.clone_regions import grow_within as _grow_within, near_points as _hull  # noqa: E402


def confirm_r5(gray: np.ndarray, a: np.ndarray, s_in: np.ndarray, t_in: np.ndarray, p: dict):
    """1.2's confirmation (clone_regions.verify_transform + confirm) with the round-5 options; returns
    (source mask, target mask, source NCC, target NCC, strength) or None."""
    import cv2
    from engine.evidence.clone_regions import grow_region, keep_seeded, local_ncc, strength

    h, w = gray.shape
    corr = p["correlation"]
    if p.get("low_corr") and len(t_in) >= p.get("low_min_inliers", 20):
        corr = p["low_corr"]
    inv = cv2.invertAffineTransform(a)
    inside = np.ones((h, w), np.uint8)
    in_t = cv2.warpAffine(inside, a, (w, h), flags=cv2.INTER_NEAREST) > 0
    in_s = cv2.warpAffine(inside, inv, (w, h), flags=cv2.INTER_NEAREST) > 0
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    shift_t = np.hypot(xx - (inv[0, 0] * xx + inv[0, 1] * yy + inv[0, 2]), yy - (inv[1, 0] * xx + inv[1, 1] * yy + inv[1, 2]))
    shift_s = np.hypot(xx - (a[0, 0] * xx + a[0, 1] * yy + a[0, 2]), yy - (a[1, 0] * xx + a[1, 1] * yy + a[1, 2]))
    valid_t, valid_s = in_t & (shift_t >= p["min_distance"]), in_s & (shift_s >= p["min_distance"])

    def warp_pair(img):
        return (cv2.warpAffine(img, a, (w, h), flags=cv2.INTER_LINEAR),
                cv2.warpAffine(img, inv, (w, h), flags=cv2.INTER_LINEAR))

    fine = gray - cv2.GaussianBlur(gray, (0, 0), 2.0)
    mv, bk = warp_pair(fine)
    ncc_t = local_ncc(fine, mv, valid_t, min_var=1.0)
    ncc_s = local_ncc(fine, bk, valid_s, min_var=1.0)
    grow_t, grow_s = ncc_t, ncc_s
    if p.get("band"):
        band = cv2.GaussianBlur(gray, (0, 0), 1.5) - cv2.GaussianBlur(gray, (0, 0), 6.0)
        mv, bk = warp_pair(band)
        bt = local_ncc(band, mv, valid_t, sigma=p.get("band_window", 6.0), min_var=1.0)
        bs = local_ncc(band, bk, valid_s, sigma=p.get("band_window", 6.0), min_var=1.0)
        grow_t, grow_s = np.maximum(ncc_t, bt), np.maximum(ncc_s, bs)
    seed_t, seed_s = (grow_t, grow_s) if p.get("band") == "seed" else (ncc_t, ncc_s)
    dst = keep_seeded(seed_t > corr, t_in, p["min_area"])
    src = keep_seeded(seed_s > corr, s_in, p["min_area"])
    if not dst.any() or not src.any():
        return None
    if p.get("diff_k"):
        # the copy equals its source up to noise wherever it is, flat or not: grow where the warped
        # difference is small for the local contrast, but only near the inliers (sky matches sky)
        mv, bk = warp_pair(gray)
        mean = cv2.GaussianBlur(gray, (0, 0), 4.0)
        sd = np.sqrt(np.maximum(cv2.GaussianBlur(gray * gray, (0, 0), 4.0) - mean * mean, 0)) + 2.0
        k = p["diff_k"]
        ok_t = (cv2.GaussianBlur(np.abs(gray - mv), (0, 0), 2.0) < k * sd) & valid_t & _hull(t_in, (h, w), p["hull_margin"])
        ok_s = (cv2.GaussianBlur(np.abs(gray - bk), (0, 0), 2.0) < k * sd) & valid_s & _hull(s_in, (h, w), p["hull_margin"])
        src_m = grow_region(src, grow_s, p["grow_low"], p["grow_reach"]) & valid_s
        dst_m = grow_region(dst, grow_t, p["grow_low"], p["grow_reach"]) & valid_t
        src_m, dst_m = _grow_within(src_m, ok_s) & valid_s, _grow_within(dst_m, ok_t) & valid_t
    else:
        src_m = grow_region(src, grow_s, p["grow_low"], p["grow_reach"]) & valid_s
        dst_m = grow_region(dst, grow_t, p["grow_low"], p["grow_reach"]) & valid_t
    return src_m, dst_m, ncc_s, ncc_t, min(strength(ncc_t, dst_m, corr), strength(ncc_s, src_m, corr))


def render(gray: np.ndarray, hyps, p: dict) -> np.ndarray:
    from engine.evidence.clone_regions import paint

    g32 = gray.astype(np.float32)
    prob = np.zeros(gray.shape, np.float32)
    for a, s_in, t_in in hyps:
        ok = confirm_r5(g32, a, s_in, t_in, p)
        if ok is not None:
            srcm, tgt, ncc_s, ncc_t, st = ok
            prob = paint(paint(prob, tgt, ncc_t, st), srcm, ncc_s, st)
    return prob


def cache_hyps(folder: Path, r4: dict | None = None, kinds: str = "") -> None:
    from engine.evidence import prepare

    out = HYP / (folder.name + ("" if r4 is None else "-" + r4.get("tag", "r4")))
    out.mkdir(parents=True, exist_ok=True)
    for e in load(folder):
        stem = Path(e["image"]).stem
        if (out / f"{stem}.pkl").exists() or (kinds and e["kind"] not in kinds.split(",")):
            continue
        src, _ = prepare(str(folder / e["image"]))
        gray, scale, hyps = hypotheses(src, BASE, r4)
        (out / f"{stem}.pkl").write_bytes(pickle.dumps({"gray": gray, "hw": (src.height, src.width), "hyps": hyps}))
        print(stem, len(hyps), flush=True)


def maps(folder: Path, name: str, params: dict, hyp_dir: str = "") -> None:
    from engine.evidence.clone_regions import to_full

    p = {**BASE, **params}
    out = CACHE / folder.name / name
    out.mkdir(parents=True, exist_ok=True)
    (out / "params.json").write_text(json.dumps(params))
    t0 = time.process_time()
    for e in load(folder):
        stem = Path(e["image"]).stem
        f = HYP / (hyp_dir or folder.name) / f"{stem}.pkl"
        if not f.exists():
            continue
        d = pickle.loads(f.read_bytes())
        full = np.clip(to_full(render(d["gray"], d["hyps"], p), *d["hw"]), 0, 1)
        np.save(out / f"{stem}.npy", (full * 255).round().astype(np.uint8))
    print(name, f"confirmation CPU {time.process_time() - t0:.1f} s", flush=True)


def _copies(folder: Path, shape_of):
    """(stem, ground truth mask | source mask) of each copy-move, at the size shape_of(stem) gives."""
    from PIL import Image

    for e in load(folder):
        if e["kind"] != "copymove":
            continue
        stem = Path(e["image"]).stem
        h, w = shape_of(stem)
        gt = np.zeros((h, w), bool)
        for key in ("mask", "source_mask"):
            gt |= np.asarray(Image.open(folder / e[key]).convert("L").resize((w, h))) > 127
        yield stem, gt


def recall(folder: Path, names: list[str]) -> None:
    for n in names:
        for stem, gt in _copies(folder, lambda st: np.load(CACHE / folder.name / n / f"{st}.npy").shape):
            pred = np.load(CACHE / folder.name / n / f"{stem}.npy") > 127
            tp = (gt & pred).sum()
            print(stem, n, f"recall {tp / gt.sum():.2f} precision {tp / max(1, pred.sum()):.2f} "
                  f"IoU {tp / (gt | pred).sum():.2f}")


def true_hypotheses(folder: Path, hyp_dir: str = "") -> None:
    """For each copy, each hypothesis as inliers:share of both ends' inliers on the copy:C (1.2 confirms it)."""
    d = {}

    def shape_of(stem):
        d[stem] = pickle.loads((HYP / (hyp_dir or folder.name) / f"{stem}.pkl").read_bytes())
        return d[stem]["gray"].shape

    for stem, gt in _copies(folder, shape_of):
        g = d[stem]["gray"]
        h, w = g.shape

        def share(pts):
            p = np.clip(np.rint(pts).astype(int), 0, [w - 1, h - 1])
            return gt[p[:, 1], p[:, 0]].mean()

        print(stem, [f"{len(t)}:{min(share(s), share(t)):.2f}:{'C' if confirm_r5(g.astype(np.float32), a, s, t, BASE) else '-'}"
                     for a, s, t in d[stem]["hyps"]])


def timing(params: dict, repeat: int = 2) -> None:
    """1.2's detector and the candidate (1.2's hypotheses + the candidate's confirmation) on
    bench_evidence.py's 12 MP photo, best of `repeat`, wall and CPU, in one process."""
    from clones_r4_experiment import compare_12mp

    def cand(src):
        gray, _, hyps = hypotheses(src)
        render(gray, hyps, {**BASE, **params})

    compare_12mp(cand, repeat)

if __name__ == "__main__":
    if sys.argv[1] == "hyps":     # hyps DATA [R4_PARAMS KINDS]
        cache_hyps(Path(sys.argv[2]), json.loads(sys.argv[3]) if len(sys.argv) > 3 else None,
                   sys.argv[4] if len(sys.argv) > 4 else "")
    elif sys.argv[1] == "maps":   # maps DATA NAME PARAMS [HYP_DIR]
        maps(Path(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4]), sys.argv[5] if len(sys.argv) > 5 else "")
    elif sys.argv[1] == "recall":
        recall(Path(sys.argv[2]), sys.argv[3:])
    elif sys.argv[1] == "truehyp":
        true_hypotheses(Path(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else "")
    elif sys.argv[1] == "time":
        timing(json.loads(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 2)
    else:
        raise SystemExit(__doc__)
