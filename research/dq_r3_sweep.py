#!/usr/bin/env python3
"""`dq` round 3: its smoothing and threshold on its own case (rule in research/README.md, "`dq` round 3").

    python research/dq_r3_sweep.py PHOTOS_DIR [--sets build/evg]

dq's own case (`dq_null_experiment.double_set`: a pool view saved at q60-80; then nothing or a polygon from
another, reduced photo pasted with a hard edge; last save at q85-95), dev half seed 91, check half seed 92,
60 items each. For smooth 3, 5, 7 and thresholds 0.8-0.98: paste IoU and authentic double saves flagged
(> 1 % of the pixels); and with --sets, the authentic images flagged on `evidence_val_data`'s dev and check.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from dq_null_experiment import double_set  # noqa: E402
from engine import evidence  # noqa: E402

SMOOTH = (3, 5, 7)
THRESHOLDS = (0.8, 0.9, 0.95, 0.98)


def sweep(items) -> dict:
    out = {}
    for smooth in SMOOTH:
        iou = {t: [] for t in THRESHOLDS}
        flagged = {t: 0 for t in THRESHOLDS}
        for _, _, data, mask in items:
            prob = evidence.run("dq", Image.open(io.BytesIO(data)), data=data, smooth=smooth).probability
            for t in THRESHOLDS:
                flag = prob > t
                if mask is None:
                    flagged[t] += bool(flag.mean() > 0.01)
                else:
                    iou[t].append(100 * (flag & mask).sum() / max(1, (flag | mask).sum()))
        for t in THRESHOLDS:
            out[(smooth, t)] = (float(np.mean(iou[t])), flagged[t])
    return out


def authentic_flagged(root: Path) -> dict:
    entries = json.loads((root / "manifest.json").read_text())
    counts = {key: 0 for key in [(s, t) for s in SMOOTH for t in THRESHOLDS]}
    for e in entries:
        if e["mask"]:
            continue
        for smooth in SMOOTH:
            prob = evidence.run("dq", root / e["image"], smooth=smooth).probability
            for t in THRESHOLDS:
                counts[(smooth, t)] += bool((prob > t).mean() > 0.01)
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("photos")
    ap.add_argument("--sets", default=None)
    a = ap.parse_args()
    for half, seed in (("dev", 91), ("check", 92)):
        res = sweep(list(double_set(a.photos, half, seed, n=60)))
        for (smooth, t), (iou, fl) in res.items():
            print(f"own case {half}: smooth {smooth} threshold {t}: paste IoU {iou:.1f}, authentic flagged {fl} of 30",
                  flush=True)
    if a.sets:
        for split in ("dev", "check"):
            for (smooth, t), n in authentic_flagged(Path(a.sets) / split).items():
                print(f"evidence_val_data {split}: smooth {smooth} threshold {t}: authentic flagged {n} of 30", flush=True)


if __name__ == "__main__":
    main()
