#!/usr/bin/env python3
"""`dq` round 3b: the rounding between the two saves in the comb (rule in research/README.md, "`dq` round 3").

    python research/dq_r3b_rounding.py PHOTOS_DIR [--sets build/evg] [--stage choose|confirm]

choose: on the dev half of dq's own case (`dq_null_experiment.double_set`, seed 91, 60 items) every
candidate sigma (`rounding`) x smooth x threshold: paste IoU, authentic double saves flagged (> 1 % of
pixels), double compression found, and 'saved twice' claims on the 123 single saves.
confirm: 1.2 (rounding 0, smooth 3, threshold 0.8) against the chosen candidate on a fresh half (check2,
seed 93) and on `evidence_val_data`'s dev and check (--sets).
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

from dq_null_experiment import double_set, single_views  # noqa: E402
from engine import evidence  # noqa: E402

SIGMAS = (0.3, 0.5, 0.8, 1.0, 1.2, 1.5)
CHOSEN = {"rounding": 0.8, "smooth": 3, "threshold": 0.9}
BEFORE = {"rounding": 0.0, "smooth": 3, "threshold": 0.8}


def run(data: bytes, **params):
    return evidence.run("dq", Image.open(io.BytesIO(data)), data=data, **params)


def own_case(items, threshold, **params) -> tuple[float, int, int]:
    ious, flagged, found = [], 0, 0
    for _, _, data, mask in items:
        res = run(data, **params)
        flag = res.probability > threshold
        if mask is None:
            flagged += bool(flag.mean() > 0.01)
            found += bool(res.metadata["details"]["informative_frequencies"])
        else:
            ious.append(100 * (flag & mask).sum() / max(1, (flag | mask).sum()))
    return float(np.mean(ious)), flagged, found


def choose(photos: str) -> None:
    dev = list(double_set(photos, "dev", 91, n=60))
    views = list(single_views(photos))
    for sigma in SIGMAS:
        claims = sum(bool(run(d, rounding=sigma).metadata["details"]["informative_frequencies"]) for _, _, d in views)
        for smooth in (3, 5):
            for t in (0.8, 0.9):
                iou, flagged, found = own_case(dev, t, rounding=sigma, smooth=smooth)
                print(f"sigma {sigma} smooth {smooth} t {t}: dev paste IoU {iou:.1f}, authentic flagged {flagged}, "
                      f"found {found} of 30, single claims {claims}", flush=True)


def confirm(photos: str, sets: str | None) -> None:
    check2 = list(double_set(photos, "check", 93, n=60))
    for label, cfg in (("1.2", BEFORE), ("chosen", CHOSEN)):
        params = {k: v for k, v in cfg.items() if k != "threshold"}
        iou, flagged, found = own_case(check2, cfg["threshold"], **params)
        print(f"{label}: check2 paste IoU {iou:.1f}, authentic flagged {flagged} of 30, found {found}", flush=True)
        for split in ("dev", "check") if sets else ():
            root = Path(sets) / split
            n, ious = 0, []
            for e in json.loads((root / "manifest.json").read_text()):
                flag = evidence.run("dq", root / e["image"], **params).probability > cfg["threshold"]
                if not e["mask"]:
                    n += bool(flag.mean() > 0.01)
                else:
                    m = np.asarray(Image.open(root / e["mask"])) > 127
                    ious.append(100 * (flag & m).sum() / max(1, (flag | m).sum()))
            print(f"{label}: evidence_val_data {split}: authentic flagged {n} of 30, IoU {np.mean(ious):.1f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("photos")
    ap.add_argument("--sets", default=None)
    ap.add_argument("--stage", choices=["choose", "confirm"], default="confirm")
    a = ap.parse_args()
    choose(a.photos) if a.stage == "choose" else confirm(a.photos, a.sets)


if __name__ == "__main__":
    main()
