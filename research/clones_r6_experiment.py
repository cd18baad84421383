"""Round 6 of the `clones` layer (issue #38): guards and speed for round 4's `H` hypotheses + round 5's `D`.

    python research/clones_r6_experiment.py maps DATA NAME '{"flat_p": 10, "repeat_x": 0.3}' [HYP_DIR]
    python research/clones_r6_experiment.py score DATA NAME      # round 3's scoring over the views with a map
    python research/clones_r6_experiment.py pairs DATA 040_authentic,032_authentic   # per-pair diagnostics
    python research/clones_r6_experiment.py time '{"speed": "Sa", "flat_p": 10}'   # 1.2 and a candidate, 12 MP

Hypotheses come from round 5's cache (`H`, contrast 0.002: build/r5cache/DATA-r4); the confirmation is round
5's `confirm_r5` with `D` (k 0.5, M 32) plus the round-6 guards: `flat_p` (GF: `D` grows only into pixels
whose local standard deviation, sigma 4, is at least the image's own p-th percentile) and `repeat_x` (GR:
a pair is dropped when a(target) outside the pair, or a^-1(source), still correlates above the seed
threshold on a share >= X of its pixels: the pattern repeats by the same step again) and `aniso_x` (GA: a
pair is dropped when its map's singular values differ by a ratio > X). `speed` picks what a
working image that is not enlarged (a photo of 2048 px or more) gets: "Sa" 1.2's keypoint stage, "Sb"
contrast 0.002 with 1.2's 9000 keypoints and hierarchical g2NN.
"""
from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import clones_r5_experiment as r5  # noqa: E402
from clones_r3_experiment import CACHE, load  # noqa: E402

D = {"diff_k": 0.5, "hull_margin": 32}
H = {"contrast": 0.002, "max_keypoints": 30000, "enlarge_side": 2048}
_grow_within_r5 = r5._grow_within


def _not_flat(gray: np.ndarray, p: float) -> np.ndarray:
    import cv2

    mean = cv2.GaussianBlur(gray, (0, 0), 4.0)
    sd = np.sqrt(np.maximum(cv2.GaussianBlur(gray * gray, (0, 0), 4.0) - mean * mean, 0))
    return sd >= np.percentile(sd, p)


def _repeats(a: np.ndarray, src: np.ndarray, dst: np.ndarray, ncc_s: np.ndarray, ncc_t: np.ndarray,
             corr: float, min_area: int) -> float:
    """The larger share, over a(target) and a^-1(source) outside the pair, of pixels still correlating above
    `corr` under the same map (0 where neither area holds min_area pixels)."""
    import cv2

    h, w = dst.shape
    pair = src | dst
    best = 0.0
    for m, mask, ncc in ((a, dst, ncc_t), (cv2.invertAffineTransform(a), src, ncc_s)):
        nxt = (cv2.warpAffine(mask.astype(np.uint8), m, (w, h), flags=cv2.INTER_NEAREST) > 0) & ~pair
        if nxt.sum() >= min_area:
            best = max(best, float((ncc[nxt] > corr).mean()))
    return best


def render(gray: np.ndarray, hyps, p: dict) -> np.ndarray:
    from engine.evidence.clone_regions import paint

    g32 = gray.astype(np.float32)
    if p.get("flat_p"):   # GF: D's growth (round 5's _grow_within) stops at the image's flattest pixels
        keep = _not_flat(g32, p["flat_p"])
        r5._grow_within = lambda seed, ok: _grow_within_r5(seed, ok & keep)
    try:
        prob = np.zeros(gray.shape, np.float32)
        for a, s_in, t_in in hyps:
            ok = r5.confirm_r5(g32, a, s_in, t_in, p)
            if ok is None:
                continue
            srcm, tgt, ncc_s, ncc_t, st = ok
            sv = np.linalg.svd(a[:, :2], compute_uv=False)
            if p.get("aniso_x") and sv[0] > p["aniso_x"] * sv[1]:   # GA: copies move, rotate, scale uniformly
                continue
            if p.get("repeat_x") and _repeats(a, srcm, tgt, ncc_s, ncc_t, p["correlation"],
                                              p["min_area"]) >= p["repeat_x"]:
                continue
            prob = paint(paint(prob, tgt, ncc_t, st), srcm, ncc_s, st)
    finally:
        r5._grow_within = _grow_within_r5
    return prob


def maps(folder: Path, name: str, params: dict, hyp_dir: str = "") -> None:
    """Round 5's map loop over the cached hypotheses, with this round's confirmation (`D` + guards)."""
    r5.render = render
    r5.maps(folder, name, {**D, **params}, hyp_dir or folder.name + "-r4")


def hypotheses(src, speed: str):
    """`H`'s hypotheses on a view the working scale enlarges; on a larger one, `speed`'s."""
    from engine.evidence.clone_regions import working_gray

    gray, _ = working_gray(src.rgb, r5.BASE["max_side"])
    if max(gray.shape) < H["enlarge_side"]:
        return gray, r5.r4_hypotheses(gray, r5.BASE, H)
    if speed == "Sa":
        return gray, r5.hypotheses(src)[2]
    return gray, r5.r4_hypotheses(gray, r5.BASE, {**H, "max_keypoints": 9000})


def pairs(folder: Path, stems: list[str], hyp_dir: str = "") -> None:
    """Each pair `H` + `D` confirms on the named views: inliers, area share, the map's singular-value ratio,
    median target NCC, GR's repeat share, and whether GA at 1.15 drops it."""
    p = {**r5.BASE, **D}
    for stem in stems:
        d = pickle.loads((r5.HYP / (hyp_dir or folder.name + "-r4") / f"{stem}.pkl").read_bytes())
        g = d["gray"].astype(np.float32)
        for a, s_in, t_in in d["hyps"]:
            ok = r5.confirm_r5(g, a, s_in, t_in, p)
            if ok is None:
                continue
            srcm, tgt, ncc_s, ncc_t, _ = ok
            sv = np.linalg.svd(a[:, :2], compute_uv=False)
            print(stem, f"inliers {len(t_in)} area {(srcm | tgt).mean():.3f} ratio {sv[0] / sv[1]:.2f} "
                  f"median NCC {np.median(ncc_t[tgt]):.2f} repeat {_repeats(a, srcm, tgt, ncc_s, ncc_t, 0.6, 300):.2f}"
                  + (" GA-drop" if sv[0] > 1.15 * sv[1] else ""))


def timing(params: dict, repeat: int = 2) -> None:
    from clones_r4_experiment import compare_12mp

    def cand(src):
        gray, hyps = hypotheses(src, params.get("speed", "H"))
        render(gray, hyps, {**r5.BASE, **D, **params})

    compare_12mp(cand, repeat)


if __name__ == "__main__":
    if sys.argv[1] == "maps":     # maps DATA NAME PARAMS [HYP_DIR]
        maps(Path(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4]), sys.argv[5] if len(sys.argv) > 5 else "")
    elif sys.argv[1] == "pairs":  # pairs DATA STEM[,STEM...]
        pairs(Path(sys.argv[2]), sys.argv[3].split(","))
    elif sys.argv[1] == "time":
        timing(json.loads(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 2)
    elif sys.argv[1] == "score":  # round 3's, over the views cached (no removals: H's cache has none)
        import clones_r3_experiment as r3
        folder, names = Path(sys.argv[2]), sys.argv[3:]
        r3.load = lambda f: [e for e in load(f) if (CACHE / f.name / names[0] / (Path(e["image"]).stem + ".npy")).exists()]
        res = r3.score(folder, names, 0.5)
        per = res.pop("per_item")
        print(json.dumps({k: v for k, v in res.items() if not k.endswith("_by")}), per)
    else:
        raise SystemExit(__doc__)
