"""Clones round 15 (issue #38): keypoints' two repeat guards for the `dense` method (`DG`).

`score DATA...`: `dense` as today and `DG` (a dense pair is dropped when its map stretches unevenly,
anisotropy above 1.15, or its source and target overlap before growth by more than 0.05, as clones 1.5's
keypoints guards do) on every copy-move and untouched view: per set, copymove IoU (against mask | source
mask, map > 0.5), copies found (IoU > 0.1) and untouched views flagged (more than 1 % above 0.5).

Patches `engine.evidence.clones_dense.confirm` at run time (research only; the product is unchanged).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

import engine.evidence.clones_dense as cd
from engine import evidence
from engine.evidence.clone_regions import anisotropy

STATE = {"guard": False}
_confirm = cd.confirm


def _guarded_confirm(gray, a, *args, **kw):
    if STATE["guard"] and anisotropy(a) > 1.15:
        return None
    ok = _confirm(gray, a, *args, **kw)
    if ok is not None and STATE["guard"] and ok.core_overlap > 0.05:
        return None
    return ok


cd.confirm = _guarded_confirm


def score(prob: np.ndarray, folder: Path, e: dict) -> float:
    flag = prob > 0.5
    if e["kind"] == "authentic":
        return float(flag.mean() > 0.01)
    gt = np.asarray(Image.open(folder / e["mask"])) > 0
    if e.get("source_mask"):
        gt |= np.asarray(Image.open(folder / e["source_mask"])) > 0
    union = (flag | gt).sum()
    return float((flag & gt).sum() / union) if union else 0.0


def main(folders: list[Path]) -> None:
    for folder in folders:
        res = {"copymove": ([], []), "authentic": ([], [])}
        for e in json.loads((folder / "manifest.json").read_text()):
            if e["kind"] not in res:
                continue
            got = []
            for guard in (False, True):
                STATE["guard"] = guard
                got.append(score(evidence.run("clones", str(folder / e["image"]), method="dense").probability, folder, e))
            res[e["kind"]][0].append(got[0])
            res[e["kind"]][1].append(got[1])
            print(f"  {folder.name}/{Path(e['image']).name}: dense {got[0]:.3f} DG {got[1]:.3f}", flush=True)
        cm, au = res["copymove"], res["authentic"]
        line = f"{folder.name}:"
        if cm[0]:
            line += (f" copymove IoU dense {100 * np.mean(cm[0]):.1f} -> DG {100 * np.mean(cm[1]):.1f}, found "
                     f"{sum(v > 0.1 for v in cm[0])} -> {sum(v > 0.1 for v in cm[1])} of {len(cm[0])}")
        if au[0]:
            line += f"; untouched flagged dense {int(sum(au[0]))} -> DG {int(sum(au[1]))} of {len(au[0])}"
        print(line, flush=True)


if __name__ == "__main__":
    main([Path(p) for p in sys.argv[1:]])
