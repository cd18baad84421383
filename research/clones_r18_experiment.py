"""Clones round 18 (issue #38): first-order propagation at every jump of `dense`'s PatchMatch.

Today's propagation offers each pixel its neighbours' offsets at jumps of 1, 4 and 16 px unchanged, and
a first-order prediction d(p-e) + (d(p-e) - d(p-2e)) only at jump 1. Inside a rotated or rescaled copy the
offset changes linearly, so an unchanged offset from 16 px away is wrong by up to 16 x |A - I| px and a
good offset spreads through the copy slowly. Candidate `FO`: the first-order prediction at every jump,
2 d(p-ke) - d(p-2ke) for k in 1, 4, 16 (exact wherever the field is affine). Research patch only: the
method names are cached beside round 17's in the same format, so `clones_r17_experiment.py score` scores
them together.

    python research/clones_r18_experiment.py run build/r18/out SET [SET ...] [--candidates d12,fo12]
    python research/clones_r17_experiment.py score build/r18/out SET
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from clones_scoring import entries  # noqa: E402  (research/ is the script folder)

KINDS = ("copymove", "removal_patch", "authentic")


def first_order_everywhere(self, sign: int) -> None:
    for k in (1, 4, 16):
        for sy, sx in ((sign * k, 0), (0, sign * k)):
            d1y, d1x = self.shifted(self.dy, sy, sx), self.shifted(self.dx, sy, sx)
            self.offer(d1y, d1x)
            d2y, d2x = self.shifted(self.dy, 2 * sy, 2 * sx), self.shifted(self.dx, 2 * sy, 2 * sx)
            self.offer(2 * d1y - d2y, 2 * d1x - d2x)


CANDIDATES = {
    "kp": ({}, None),
    "d12": ({"method": "dense"}, None),
    "fo12": ({"method": "dense"}, first_order_everywhere),
    "rf3": ({"method": "dense", "refit": 3}, None),
    "rs": ({"method": "dense", "refit": 3, "refit_seeds": True}, None),
    "rsd": ({"method": "dense", "refit": 3, "refit_seeds": True, "diff_k": 0.5}, None),
    "dd": ({"method": "dense", "diff_k": 0.5}, None),
    # round 19: rsd is 1.8's dense default
    "gr20": ({"method": "dense", "max_residual": 0.2}, None),
    # round 20
    "gb18": ({"method": "dense", "max_residual": 0.18, "residual_sigma": 1.5}, None),
    # round 21: round 20's guard, sparing pairs whose map is a pure shift (exemplar fills)
    "gs18": ({"method": "dense", "max_residual": 0.18, "residual_sigma": 1.5, "residual_spare_shifts": True}, None),
    # round 22: dense at the views' own resolution (working long side 1024 instead of 768)
    "w1024": ({"method": "dense", "max_side": 1024}, None),
}


def run(out: Path, folder: Path, names: list[str]) -> None:
    from engine import evidence
    from engine.evidence.offset_field import OffsetField

    original = OffsetField.propagate
    out.mkdir(parents=True, exist_ok=True)
    cache = out / f"{folder.name}.npz"
    have = dict(np.load(cache)) if cache.exists() else {}
    for e in entries(folder, KINDS):
        stem = Path(e["image"]).stem
        for name in names:
            params, patch = CANDIDATES[name]
            key = f"{stem}|{name}"
            if key in have:
                continue
            OffsetField.propagate = patch or original
            t = time.perf_counter()
            try:
                res = evidence.run("clones", str(folder / e["image"]), **params)
            finally:
                OffsetField.propagate = original
            have[key] = np.packbits(res.probability > 0.5)
            have[f"{key}|shape"] = np.array(res.probability.shape)
            have[f"{key}|s"] = np.array(time.perf_counter() - t)
        np.savez_compressed(cache, **have)
        print(stem, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=("run",))
    ap.add_argument("out", type=Path)
    ap.add_argument("data", type=Path, nargs="+")
    ap.add_argument("--candidates", default="kp,d12,fo12")
    a = ap.parse_args()
    for folder in a.data:
        run(a.out, folder, a.candidates.split(","))


if __name__ == "__main__":
    main()
