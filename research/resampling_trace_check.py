#!/usr/bin/env python3
"""Is a rescaled paste's interpolation trace still there after the final JPEG? (issue 38, resampling)

    python research/resampling_trace_check.py build/evval/dev      # a folder made by evidence_val_data.py

For each `resampled_paste` item with a 48x48 (else 32x32) square fully inside the paste, the 1-D
spectra (mean along rows and along columns) of a residual feature are taken inside the square and in
30 squares of the same size outside the mask. At the bin where the paste's own rescale factor puts
its peak (known here from the manifest: frequency |1/s - round(1/s)|, with the 0.75 whole-image
resize folded in), it prints the rank of the inside value among the outside ones: the mean rank and
the share of pastes above the 97th percentile, per final quality and for the resized items. The
frequency is KNOWN here, so this is an upper bound on what a blind per-block detector can find.
Features: p-maps of Kirchner's fixed predictor residue (sigma 1, 2, 4), |residue|, and the second
derivative (Gallagher 2005).
"""
from __future__ import annotations

import json
import sys

import cv2
import numpy as np
from PIL import Image

PRED = np.array([[-0.25, 0.5, -0.25], [0.5, 0, 0.5], [-0.25, 0.5, -0.25]], np.float32)


def features(im):
    e = im - cv2.filter2D(im, -1, PRED)
    out = {f"p-map sigma {s}": (np.exp(-e ** 2 / (2 * s ** 2)),) * 2 for s in (1, 2, 4)}
    out["|residue|"] = (np.abs(e),) * 2
    out["|2nd derivative|"] = (np.abs(cv2.filter2D(im, -1, np.array([[1, -2, 1]], np.float32))),
                               np.abs(cv2.filter2D(im, -1, np.array([[1], [-2], [1]], np.float32))))
    return out


def spectrum(fx, fy):
    total = 0
    for sig in (fx.mean(0), fy.mean(1)):
        sig = sig - sig.mean()
        s = np.abs(np.fft.rfft(sig * np.hanning(len(sig))))
        total = total + s / (s[2:].mean() + 1e-9)
    return total


def main(folder: str) -> None:
    entries = json.load(open(f"{folder}/manifest.json"))
    res: dict = {}
    for e in entries:
        if e["kind"] != "resampled_paste":
            continue
        im = np.asarray(Image.open(f"{folder}/{e['image']}").convert("L")).astype(np.float32)
        mk = np.asarray(Image.open(f"{folder}/{e['mask']}")) > 127
        ys, xs = np.nonzero(mk)
        cy, cx = int(ys.mean()), int(xs.mean())
        r = next((r for r in (24, 16) if mk[cy - r:cy + r, cx - r:cx + r].all()), None)
        if r is None:
            continue
        f = 1 / e["post"]["scale"] / e["post"].get("resize", 1.0)
        f = min(f % 1, 1 - f % 1)
        k = int(round(f * 2 * r))
        key = "resized 0.75" if "resize" in e["post"] else f"q{e['post']['jpeg_quality']}"
        rng = np.random.default_rng(0)
        boxes = []
        while len(boxes) < 30:
            y, x = rng.integers(0, im.shape[0] - 2 * r), rng.integers(0, im.shape[1] - 2 * r)
            if not mk[y:y + 2 * r, x:x + 2 * r].any():
                boxes.append((y, x))
        for name, (fx, fy) in features(im).items():
            inside = spectrum(fx[cy - r:cy + r, cx - r:cx + r], fy[cy - r:cy + r, cx - r:cx + r])[k]
            outside = np.array([spectrum(fx[y:y + 2 * r, x:x + 2 * r], fy[y:y + 2 * r, x:x + 2 * r])[k]
                                for y, x in boxes])
            res.setdefault(name, {}).setdefault(key, []).append(float((outside < inside).mean()))
    for name, d in res.items():
        print(f"{name:18}", "  ".join(f"{k}: rank {np.mean(v):.2f}, above p97 {np.mean(np.array(v) >= 0.97):.2f} (n={len(v)})"
                                      for k, v in sorted(d.items())))


if __name__ == "__main__":
    main(sys.argv[1])
