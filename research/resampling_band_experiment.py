#!/usr/bin/env python3
"""Does an enlarged paste's missing high band survive the final JPEG? (issue 38, resampling, round 3)

    python research/resampling_band_experiment.py build/evval/dev [--cell 16] [--smooth 3]

An area enlarged by s (x1.1-1.5) holds almost nothing above 1/s of Nyquist before the final save,
while the camera original around it does. Per cell (cell x cell pixels, on the JPEG 8x8 grid), the
energy in a high band and in a mid band of the luma's 8x8 block DCT (or of a windowed 2-D FFT) is
taken; x = log mid, y = log high, and the image's own robust line y ~ x (base.robust_line) removes
what the content's detail explains. A low residual = less high band than this much detail has
elsewhere in the image. For each image, the AUC of (-residual) between cells wholly inside the
paste and cells wholly outside it is printed per final post-processing (q75, q85, q95, resized),
beside v2's p-map map sampled at the same cells. Blind to the paste's scale: nothing from the
manifest but the mask and the post-processing label is read.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image


def dct_matrix(n=8):
    k = np.arange(n)
    d = np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * n)) * np.sqrt(2 / n)
    d[0] /= np.sqrt(2)
    return d.astype(np.float32)


D8 = dct_matrix()


def block_dct_power(y):
    h, w = (y.shape[0] // 8) * 8, (y.shape[1] // 8) * 8
    b = y[:h, :w].reshape(h // 8, 8, w // 8, 8).swapaxes(1, 2)
    c = np.einsum("ij,abjk,lk->abil", D8, b - 128.0, D8, optimize=True)
    return c * c                                   # (H/8, W/8, 8, 8) power per coefficient


def bands_dct(p, hi_from, mid):
    u = np.maximum(*np.meshgrid(np.arange(8), np.arange(8), indexing="ij"))
    hi = p[..., u >= hi_from].sum(-1)
    md = p[..., (u >= mid[0]) & (u <= mid[1])].sum(-1)
    return hi, md


def cell_sum(a, f):
    h, w = (a.shape[0] // f) * f, (a.shape[1] // f) * f
    return a[:h, :w].reshape(h // f, f, w // f, f).sum((1, 3))


def auc(pos, neg):
    if len(pos) == 0 or len(neg) == 0:
        return None
    allv = np.concatenate([pos, neg])
    r = np.argsort(np.argsort(allv, kind="stable"), kind="stable") + 1
    return float((r[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def main():
    import cv2
    from engine.evidence.base import robust_line

    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("--cell", type=int, default=16)
    ap.add_argument("--smooth", type=int, default=3)
    a = ap.parse_args()
    folder = Path(a.folder)
    entries = json.loads((folder / "manifest.json").read_text())
    f = a.cell // 8
    variants = {"dct hi>=6 mid2-4": (6, (2, 4)), "dct hi>=7 mid2-4": (7, (2, 4)),
                "dct hi>=5 mid1-3": (5, (1, 3)), "dct hi>=6 mid3-5": (6, (3, 5))}
    res: dict = {}
    for e in entries:
        if e["kind"] != "resampled_paste":
            continue
        with Image.open(folder / e["image"]) as im:
            im.draft("YCbCr", im.size)
            y = np.asarray(im.convert("YCbCr"))[..., 0].astype(np.float32)
        mk = np.asarray(Image.open(folder / e["mask"])) > 127
        frac = cell_sum(mk[: y.shape[0] // 8 * 8, : y.shape[1] // 8 * 8].astype(np.float32), a.cell) / a.cell ** 2
        key = "resized" if "resize" in e["post"] else f"q{e['post']['jpeg_quality']}"
        p = block_dct_power(y)
        lum = cell_sum(y[: p.shape[0] * 8, : p.shape[1] * 8], a.cell) / a.cell ** 2
        valid = (lum > 8) & (lum < 247)
        for name, (hf, mid) in variants.items():
            hi, md = bands_dct(p, hf, mid)
            hi, md = cell_sum(hi, f), cell_sum(md, f)
            n = a.cell * a.cell
            lx, ly = np.log(md / n + 1.0), np.log(hi / n + 0.1)
            textured = lx > np.log(1 + 4.0)
            ok = valid & textured
            if ok.sum() < 10:
                continue
            stat = -(ly - robust_line(lx[ok], ly[ok])(lx))
            stat[~ok] = np.nan
            if a.smooth > 1:
                s = np.nan_to_num(stat)
                w = ok.astype(np.float32)
                k = (a.smooth, a.smooth)
                stat = cv2.blur(s.astype(np.float32), k) / np.maximum(cv2.blur(w, k), 1e-6)
                stat[cv2.blur(w, k) < 0.3] = np.nan
            ins, out = stat[(frac > 0.99) & ~np.isnan(stat)], stat[(frac < 0.01) & ~np.isnan(stat)]
            v = auc(ins, out)
            if v is not None:
                res.setdefault(name, {}).setdefault(key, []).append(v)
    for name, d in res.items():
        print(f"{name:20}", "  ".join(f"{k}: AUC {np.mean(v):.2f} (>0.8: {np.mean(np.array(v) > 0.8):.2f}, n={len(v)})"
                                      for k, v in sorted(d.items())))


if __name__ == "__main__":
    main()
