"""Clones round 14 trace (research/README.md): per copy-move, the low-texture stage's keypoints and g2NN pairs
on the copy and its source, then each sequential affine fit: inliers, anisotropy, share of its ends on the
copy or source, and whether the dense check confirms it.

    python research/clones_r14_trace.py SET_DIR NNN [NNN ...]   (NNN: the copy-move's number, e.g. 007)
"""
import json, sys, numpy as np
from pathlib import Path
from PIL import Image
from engine.evidence import clones_keypoints as ck
from engine.evidence.clone_regions import anisotropy, confirm, working_gray
import cv2
root = Path(sys.argv[1])
for n in sys.argv[2:]:
    rgb = np.asarray(Image.open(root / f"images/{n}_copymove.jpg").convert("RGB"))
    h, w = rgb.shape[:2]
    on = (np.asarray(Image.open(root / f"masks/{n}_copymove.png")) > 127) | (np.asarray(Image.open(root / f"masks_source/{n}_copymove.png")) > 127)
    gray, scale = working_gray(rgb, 2048)
    pts, pairs, nk = ck._low_texture_pairs(gray, 0.002, 30000, 2048, 10, 0.6, 0)
    pairs = [(i, j) for i, j in pairs if np.hypot(*(pts[i] - pts[j])) >= 20]
    xy = np.clip(np.rint(pts).astype(int), 0, [w - 1, h - 1]); onk = on[xy[:, 1], xy[:, 0]]
    both_on = sum(1 for i, j in pairs if onk[i] and onk[j])
    print(n, "keypoints", nk, "on copy/source", int(onk.sum()), "pairs", len(pairs), "pairs with both ends on", both_on)
    g32 = gray.astype(np.float32)
    for k, (a, a_in, b_in) in enumerate(ck.sequential_fits(pts, pairs, 4, 6, 3.0)):
        q = np.clip(np.rint(np.concatenate([a_in, b_in])).astype(int), 0, [w - 1, h - 1])
        ok = confirm(g32, a, a_in, b_in, 20, 0.6, 300, 0.3, 16, 0.5, 32)
        print("  fit", k, "inliers", len(a_in), "aniso", round(anisotropy(a), 3), "on", round(float(on[q[:, 1], q[:, 0]].mean()), 2),
              "confirmed", ok is not None)
