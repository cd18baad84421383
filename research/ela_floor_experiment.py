#!/usr/bin/env python3
"""`ela` round 6: an absolute floor under the block error level (rule in research/README.md).

    python research/ela_floor_experiment.py SET_DIR [SET_DIR ...] --cache build/ela_feats.pkl --out build/ela_floor.csv

Each SET_DIR holds a benchmark manifest.json (research/evidence_val_data.py, ela_quality_set.py).
The expensive part of `ela` (the JPEG round trip at q90 and the 8x8 block statistics, region 3) is
computed once per image with the layer's own code path and cached; each candidate then only
changes how those statistics become the map:

- `offset C`: log(level + C) instead of log(level + 0.05) (v2.0 is C = 0.05);
- `gate F`: v2.0's map, set to 0 where the block's (region's) error level is below F;
- `share F` (addendum): v2.0's map, set to 0 unless the median block of the region (3 x 3 blocks)
  changed by at least F, i.e. unless most of the area changed.

Scored as `declip evaluate` scores a layer: IoU x 100 of map > 0.5 against the mask (manipulated
items), authentic items flagged when more than 1 % of their pixels are above 0.5.
"""
from __future__ import annotations

import argparse
import csv
import json
import pickle
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from scipy.ndimage import median_filter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from engine import evidence  # noqa: E402
from engine.evidence.base import (block_mean, box_mean, jpeg_roundtrip, relative_map, robust_line,  # noqa: E402
                                  upsample_blocks)
from trainer import metrics as M  # noqa: E402

BS, REGION, QUALITY, Z_HALF = 8, 3, 90, 3.0
CANDIDATES = ([("offset", c) for c in (0.05, 0.1, 0.2, 0.5, 1.0, 2.0)]
              + [("gate", f) for f in (0.05, 0.1, 0.2, 0.3, 0.5, 1.0)]
              + [("share", f) for f in (0.05, 0.1, 0.2, 0.3, 0.5)])


def features(path: Path) -> dict:
    """What ela v2.0 computes before its log: region error level, region detail, valid blocks."""
    src, _ = evidence.prepare(path)
    again = jpeg_roundtrip(src.rgb, QUALITY)
    diff = cv2.transform(cv2.absdiff(src.rgb, again).astype(np.float32), np.full((1, 3), 1 / 3, np.float32))
    y = cv2.cvtColor(src.rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    fine = y - cv2.GaussianBlur(y, (0, 0), 1.0)
    block = block_mean(cv2.multiply(diff, diff), BS)
    level = box_mean(block, REGION)
    detail = box_mean(block_mean(cv2.multiply(fine, fine), BS), REGION)
    lum = block_mean(y, BS)
    return {"block": block, "level": level, "detail": detail, "valid": (lum > 4) & (lum < 251), "h": src.height,
            "w": src.width, "mean_error_level": float(diff.mean())}


def grid(f: dict, kind: str, value: float) -> np.ndarray:
    c = value if kind == "offset" else 0.05
    lx, ly = np.log(f["detail"] + 1.0), np.log(f["level"] + c)
    valid = f["valid"]
    stat = ly - robust_line(lx[valid], ly[valid])(lx) if valid.sum() > 8 else ly
    g = relative_map(stat, Z_HALF, mask=valid if valid.any() else None, min_spread=0.1)
    if kind == "gate":
        g = np.where(f["level"] >= value, g, 0.0).astype(np.float32)
    if kind == "share":
        g = np.where(median_filter(f["block"], size=REGION, mode="reflect") >= value, g, 0.0).astype(np.float32)
    return g


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sets", nargs="+")
    ap.add_argument("--cache", default="build/ela_feats.pkl")
    ap.add_argument("--out", default="build/ela_floor.csv")
    a = ap.parse_args()
    cache = pickle.loads(Path(a.cache).read_bytes()) if Path(a.cache).exists() else {}
    rows = []
    for sd in map(Path, a.sets):
        for e in json.loads((sd / "manifest.json").read_text()):
            p = sd / e["image"]
            key = str(p.resolve())
            if key not in cache:
                cache[key] = features(p)
            f = cache[key]
            gt = None
            if e["mask"]:
                m = Image.open(sd / e["mask"]).convert("L").resize((f["w"], f["h"]), Image.NEAREST)
                gt = np.asarray(m, np.float32) / 255.0
            for kind, value in CANDIDATES:
                prob = upsample_blocks(grid(f, kind, value), BS, f["h"], f["w"])
                rows.append({"set": str(sd), "image": e["image"], "kind": e["kind"], "cand": f"{kind} {value:g}",
                             "iou": M.iou(prob, gt, 0.5) if gt is not None else "",
                             "flagged_pct": float((prob > 0.5).mean() * 100), "mel": f["mean_error_level"]})
        Path(a.cache).write_bytes(pickle.dumps(cache))
        print(f"{sd}: done", flush=True)
    with open(a.out, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    summarise(rows)


def summarise(rows: list[dict]) -> None:
    """Per candidate: mean IoU per edited kind; authentic images flagged per set and in all."""
    sets = sorted({r["set"] for r in rows if r["kind"] == "authentic"})
    short = [Path(s).name if Path(s).name.startswith("q") else "evval" for s in sets]
    print("candidate | paste IoU | ghost IoU | " + " | ".join(short) + " | all authentic")
    for cand in dict.fromkeys(r["cand"] for r in rows):
        rs = [r for r in rows if r["cand"] == cand]
        iou = {k: np.mean([r["iou"] for r in rs if r["kind"] == k] or [np.nan])
               for k in ("resampled_paste", "recompressed_region")}
        flags = [sum(r["flagged_pct"] > 1.0 for r in rs if r["set"] == s and r["kind"] == "authentic") for s in sets]
        n = [sum(1 for r in rs if r["set"] == s and r["kind"] == "authentic") for s in sets]
        print(f"{cand} | {iou['resampled_paste']:.1f} | {iou['recompressed_region']:.1f} | "
              + " | ".join(f"{f}/{k}" for f, k in zip(flags, n)) + f" | {sum(flags)}/{sum(n)}")


if __name__ == "__main__":
    main()
