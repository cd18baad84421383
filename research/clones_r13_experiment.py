"""Clones round 13 (issue #38): the overlap guard measured on the confirmed areas before growth (`SO`).

Why: a copy pasted over part of its own source overwrites that part, so only the rest of the source
still matches; the areas the dense check confirms (source minus target, and its image under the map)
are then disjoint, and only growth, closing and hole filling can make them meet. A pattern that
matches itself over a region wider than the map's step confirms areas that overlap before any growth.

`pairs DATA...`: every confirmed pair that reaches 1.4's overlap guard on the untouched views of the
given benchmark-style folders: its overlap as 1.4 measures it (grown areas) and before growth (seeds).

`score X DATA...`: 1.4 and `SO`(X) (drop a pair when its areas before growth overlap by more than X)
on every copy-move and untouched view: per set, copymove IoU (against mask | source mask, map > 0.5)
and untouched views flagged (more than 1 % of the pixels above 0.5). An image is run a second time, as
1.4, only when the two guards disagreed on one of its pairs (otherwise the maps are the same).

Both patch `engine.evidence` at run time (research only; the product is unchanged).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import engine.evidence.clone_regions as cr
import engine.evidence.clones_keypoints as ck
from engine import evidence
from clones_scoring import entries, score, summary  # noqa: E402  (research/ is the script folder)

STATE = {"seeds": [], "log": [], "so": None, "differ": 0}
_keep_seeded, _overlap = cr.keep_seeded, ck.overlap


def _recording_keep_seeded(mask, seeds, min_area):
    out = _keep_seeded(mask, seeds, min_area)
    STATE["seeds"] = (STATE["seeds"] + [out])[-2:]   # each confirmation seeds its target, then its source
    return out


def _guard(src_mask, dst_mask):
    grown = _overlap(src_mask, dst_mask)
    dst0, src0 = STATE["seeds"]
    seed = _overlap(src0, dst0)
    STATE["log"].append((grown, seed))
    if STATE["so"] is None:
        return grown
    if (grown > 0.1) != (seed > STATE["so"]):
        STATE["differ"] += 1
    return 1.0 if seed > STATE["so"] else 0.0   # ck drops the pair above its max_overlap (0.1)


cr.keep_seeded, ck.overlap = _recording_keep_seeded, _guard


def run_map(path: Path) -> np.ndarray:
    return evidence.run("clones", str(path)).probability


def cmd_pairs(folders: list[Path]) -> None:
    for folder in folders:
        for e in entries(folder, ("authentic",)):
            STATE.update(log=[], so=None)
            run_map(folder / e["image"])
            for grown, seed in STATE["log"]:
                print(f"{folder.name}/{Path(e['image']).name} overlap grown {grown:.2f} before growth {seed:.2f}"
                      + ("  DROPPED by 1.4" if grown > 0.1 else ""), flush=True)


def cmd_score(x: float, folders: list[Path]) -> None:
    for folder in folders:
        res = {"copymove": ([], []), "authentic": ([], [])}
        for e in entries(folder, ("copymove", "authentic")):
            path = folder / e["image"]
            STATE.update(so=x, differ=0, log=[])
            cand = score(run_map(path), folder, e)
            base = cand
            if STATE["differ"]:
                STATE.update(so=None)
                base = score(run_map(path), folder, e)
                print(f"  {folder.name}/{path.name}: guards differ on {STATE['differ']} pair(s): "
                      f"1.4 {base:.3f} -> SO {cand:.3f}", flush=True)
            res[e["kind"]][0].append(base)
            res[e["kind"]][1].append(cand)
        print(summary(folder.name, res, "1.4", "SO"), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "pairs":
        cmd_pairs([Path(p) for p in sys.argv[2:]])
    else:
        cmd_score(float(sys.argv[2]), [Path(p) for p in sys.argv[3:]])
