"""Clones round 17 trace (research/README.md): why `dense` misses a copy that `keypoints` finds. Per copy-move,
the seed areas of the offset field (largest first), how many of their pixels lie on the copy or its source, and
what happens to each: the hypothesis limit, the plausibility and anisotropy guards, the dense check, the overlap guard.

    python research/clones_r17_trace.py SET_DIR NNN [NNN ...] [--max-side N] [--radius R] [--iterations K]
"""
import argparse
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from engine.evidence import clones_dense as cd
from engine.evidence.clone_regions import anisotropy, confirm, plausible, runs_into_itself, working_gray
from engine.evidence.offset_field import OffsetField

ap = argparse.ArgumentParser()
ap.add_argument("root", type=Path)
ap.add_argument("items", nargs="+")
ap.add_argument("--max-side", type=int, default=768)
ap.add_argument("--radius", type=int, default=8)
ap.add_argument("--iterations", type=int, default=4)
ap.add_argument("--show", type=int, default=15)
a = ap.parse_args()
for n in a.items:
    rgb = np.asarray(Image.open(a.root / f"images/{n}_copymove.jpg").convert("RGB"))
    on_full = (np.asarray(Image.open(a.root / f"masks/{n}_copymove.png").convert("L")) > 127) | \
              (np.asarray(Image.open(a.root / f"masks_source/{n}_copymove.png").convert("L")) > 127)
    gray, scale = working_gray(rgb, a.max_side)
    on = cv2.resize(on_full.astype(np.uint8), gray.shape[::-1], interpolation=cv2.INTER_NEAREST) > 0
    feats = cd.zernike_features(gray, a.radius)
    field = OffsetField(feats, 24, np.random.default_rng(0))
    for it in range(a.iterations):
        field.propagate(1 if it % 2 == 0 else -1)
        field.random_search()
    dy = cv2.medianBlur(field.dy.astype(np.float32), 5)
    dx = cv2.medianBlur(field.dx.astype(np.float32), 5)
    err, slopes = cd.local_affine(dy, dx, 7)
    g = gray.astype(np.float32)
    mean = cv2.blur(g, (7, 7))
    std = np.sqrt(np.maximum(cv2.blur(g * g, (7, 7)) - mean * mean, 0))
    jac = (1 + slopes[..., 3]) * (1 + slopes[..., 0]) - slopes[..., 1] * slopes[..., 2]
    ty_all, tx_all = np.mgrid[0:g.shape[0], 0:g.shape[1]]
    ty_all = np.clip(np.rint(ty_all + dy), 0, g.shape[0] - 1).astype(int)
    tx_all = np.clip(np.rint(tx_all + dx), 0, g.shape[1] - 1).astype(int)
    right = on & on[ty_all, tx_all]            # pixel on the copy/source whose match is on it too
    affine = err <= 1.0
    seeds = (affine & (np.hypot(dy, dx) >= 24) & (std >= 2.0) & (jac > 0.4) & (jac < 2.5) & np.isfinite(field.cost))
    print(f"{n}: scale {scale:.3f}, copy+source {int(on.sum())} px; matched onto it {int(right.sum())} "
          f"({right.sum() / max(on.sum(), 1):.2f}); of those locally affine {int((right & affine).sum())}, "
          f"seeds {int((right & seeds).sum())} (std>=2 there: {(std[on] >= 2).mean():.2f})")
    nlab, labels, stats, _ = cv2.connectedComponentsWithStats(seeds.astype(np.uint8), connectivity=8)
    order = [lab for lab in np.argsort(-stats[:, cv2.CC_STAT_AREA]) if lab > 0 and stats[lab, cv2.CC_STAT_AREA] >= 30]
    for rank, lab in enumerate(order[: a.show]):
        ys, xs = np.nonzero(labels == lab)
        ty, tx = ys + dy[ys, xs], xs + dx[ys, xs]
        design = np.column_stack([xs, ys, np.ones_like(xs)]).astype(np.float64)
        coef, *_ = np.linalg.lstsq(design, np.column_stack([tx, ty]).astype(np.float64), rcond=None)
        A = coef.T
        share = float(right[ys, xs].mean())
        verdict = "implausible" if not plausible(A) else f"aniso {anisotropy(A):.2f}"
        if plausible(A):
            ok = confirm(g, A, np.column_stack([xs, ys]), np.column_stack([tx, ty]), 24, 0.6, 300, 0.3, 16)
            if ok is None:
                verdict += ", refused by the dense check"
            else:
                verdict += f", confirmed (strength {ok.strength:.2f}, overlap {ok.core_overlap:.2f}" \
                           f"{', overlap guard' if runs_into_itself(ok, 0.05) else ''})"
        print(f"  #{rank:2d} area {len(ys):5d} on copy {share:.2f}: {verdict}")
