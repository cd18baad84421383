"""Clones round 9 (issue #38): an overlap guard that spares rotated or rescaled copies (`GOR`).

`pairs DATA...`: every confirmed pair that reaches 1.3's overlap guard on the untouched views of the
given benchmark-style folders, with its overlap, rotation and scale (the design data for R and S).

`score R S DATA...`: 1.3 and `GOR`(R, S) on every copy-move and untouched view of the folders: per set,
copymove IoU (against mask | source mask, map > 0.5) and untouched views flagged (more than 1 % of the
pixels above 0.5). An image is run a second time, as 1.3, only when `GOR` kept a pair that 1.3 drops
(otherwise the two maps are the same by construction).

Both patch `engine.evidence.clones_keypoints` at run time (research only; the product is unchanged).
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

import engine.evidence.clones_keypoints as ck
from engine import evidence
from clones_scoring import entries, score  # noqa: E402  (research/ is the script folder)

STATE = {"a": None, "log": [], "gor": None, "kept": 0}
_aniso, _overlap = ck.anisotropy, ck.overlap


def _anisotropy(a):
    STATE["a"] = np.asarray(a, np.float64)   # called for every transform just before its confirmation
    return _aniso(a)


def _guard(src_mask, dst_mask):
    v = _overlap(src_mask, dst_mask)
    lin = STATE["a"][:, :2]
    rot = math.degrees(math.atan2(lin[1, 0], lin[0, 0]))
    scale = math.sqrt(abs(float(np.linalg.det(lin))))
    STATE["log"].append((v, rot, scale))
    if STATE["gor"] is not None and v > 0.1:
        r, s = STATE["gor"]
        if abs(rot) >= r or abs(scale - 1) >= s:   # rotated or rescaled: a copy, not a repeating pattern
            STATE["kept"] += 1
            return 0.0
    return v


ck.anisotropy, ck.overlap = _anisotropy, _guard


def run_map(path: Path) -> np.ndarray:
    return evidence.run("clones", str(path)).probability


def cmd_pairs(folders: list[Path]) -> None:
    for folder in folders:
        for e in entries(folder, ("authentic",)):
            STATE["log"] = []
            run_map(folder / e["image"])
            for v, rot, sc in STATE["log"]:
                print(f"{folder.name}/{Path(e['image']).name} overlap {v:.2f} rotation {rot:7.2f} scale {sc:.3f}"
                      + ("  DROPPED by 1.3" if v > 0.1 else ""))


def cmd_score(r: float, s: float, folders: list[Path]) -> None:
    for folder in folders:
        res = {"copymove": ([], []), "authentic": ([], [])}
        for e in entries(folder, ("copymove", "authentic")):
            path = folder / e["image"]
            STATE.update(gor=(r, s), kept=0)
            cand = score(run_map(path), folder, e)
            base = cand
            if STATE["kept"]:
                STATE.update(gor=None)
                base = score(run_map(path), folder, e)
                print(f"  {folder.name}/{path.name}: GOR kept {STATE['kept']} pair(s): 1.3 {base:.3f} -> {cand:.3f}")
            res[e["kind"]][0].append(base)
            res[e["kind"]][1].append(cand)
        cm, au = res["copymove"], res["authentic"]
        line = f"{folder.name}:"
        if cm[0]:
            line += f" copymove IoU 1.3 {100 * np.mean(cm[0]):.1f} -> GOR {100 * np.mean(cm[1]):.1f} (n {len(cm[0])})"
        if au[0]:
            line += f"; untouched flagged 1.3 {int(sum(au[0]))} -> GOR {int(sum(au[1]))} of {len(au[0])}"
        print(line, flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "pairs":
        cmd_pairs([Path(p) for p in sys.argv[2:]])
    else:
        cmd_score(float(sys.argv[2]), float(sys.argv[3]), [Path(p) for p in sys.argv[4:]])
