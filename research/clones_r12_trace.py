"""Clones round 12 design trace (research/README.md): for every sequential affine fit of clones 1.3 on
the copy-moves (and untouched views) of a set, its anisotropy, inliers, whether its inliers lie on the
copy, and whether the same inliers refitted as a similarity pass the dense check.

    python research/clones_r12_trace.py SET_DIR OUT.json
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from engine.evidence import clones_keypoints as ck
from engine.evidence.clone_regions import anisotropy, confirm, overlap, plausible, working_gray


def similarity_refit(a_in: np.ndarray, b_in: np.ndarray):
    m, _ = cv2.estimateAffinePartial2D(a_in, b_in, method=cv2.LMEDS)
    mm, _ = cv2.estimateAffinePartial2D(a_in * np.float32([-1, 1]), b_in, method=cv2.LMEDS)
    def err(x, flip):
        if x is None:
            return np.inf
        p = (a_in * np.float32([-1, 1]) if flip else a_in) @ x[:, :2].T + x[:, 2]
        return float(np.median(np.hypot(*(p - b_in).T)))
    if err(mm, True) < err(m, False):
        mm = mm.copy(); mm[:, 0] = -mm[:, 0]
        return mm
    return m


def main() -> int:
    root, out = Path(sys.argv[1]), Path(sys.argv[2])
    rows = []
    for e in json.loads((root / "manifest.json").read_text()):
        if e["kind"] not in ("copymove", "authentic"):
            continue
        rgb = np.asarray(Image.open(root / e["image"]).convert("RGB"))
        h, w = rgb.shape[:2]
        on = np.zeros((h, w), bool)
        for k in ("mask", "source_mask"):
            if e.get(k):
                on |= np.asarray(Image.open(root / e[k])) > 127
        gray, scale = working_gray(rgb, 2048)
        pts, pairs, _ = ck._low_texture_pairs(gray, 0.002, 30000, 2048, 10, 0.6, 0)
        pairs = [(i, j) for i, j in pairs if np.hypot(*(pts[i] - pts[j])) >= 20]
        g32 = gray.astype(np.float32)
        for k, (a, a_in, b_in) in enumerate(ck.sequential_fits(pts, pairs, 4, 6, 3.0)):
            xy = np.clip(np.rint(np.concatenate([a_in, b_in])).astype(int), 0, [w - 1, h - 1])
            share = float(on[xy[:, 1], xy[:, 0]].mean())
            ok_aff = confirm(g32, a, a_in, b_in, 20, 0.6, 300, 0.3, 16, 0.5, 32)
            s = similarity_refit(a_in, b_in)
            ok_sim = confirm(g32, s, a_in, b_in, 20, 0.6, 300, 0.3, 16, 0.5, 32) if s is not None and plausible(s) else None
            rows.append({"image": e["image"], "kind": e["kind"], "fit": k, "inliers": int(len(a_in)),
                         "aniso": round(anisotropy(a), 3), "on_copy": round(share, 2),
                         "affine_confirmed": ok_aff is not None,
                         "affine_overlap": round(overlap(ok_aff[0], ok_aff[1]), 3) if ok_aff else None,
                         "similarity_confirmed": ok_sim is not None,
                         "similarity_overlap": round(overlap(ok_sim[0], ok_sim[1]), 3) if ok_sim else None})
        print(e["image"], sum(r["image"] == e["image"] for r in rows), flush=True)
    out.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
