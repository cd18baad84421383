"""Clones round 15 (issue #38): keypoints' two repeat guards for the `dense` method (`DG`).

`score DATA...`: `dense` as today and `DG` (a dense pair is dropped when its map stretches unevenly,
anisotropy above 1.15, or its source and target overlap before growth by more than 0.05, as clones 1.5's
keypoints guards do) on every copy-move and untouched view: per set, copymove IoU (against mask | source
mask, map > 0.5), copies found (IoU > 0.1) and untouched views flagged (more than 1 % above 0.5).

Patches `engine.evidence.clones_dense.confirm` at run time (research only; the product is unchanged).
"""
from __future__ import annotations

import sys
from pathlib import Path

import engine.evidence.clones_dense as cd
from engine import evidence
from engine.evidence.clone_regions import anisotropy
from clones_scoring import entries, score, summary  # noqa: E402  (research/ is the script folder)

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


def main(folders: list[Path]) -> None:
    for folder in folders:
        res = {"copymove": ([], []), "authentic": ([], [])}
        for e in entries(folder, tuple(res)):
            got = []
            for guard in (False, True):
                STATE["guard"] = guard
                got.append(score(evidence.run("clones", str(folder / e["image"]), method="dense").probability, folder, e))
            res[e["kind"]][0].append(got[0])
            res[e["kind"]][1].append(got[1])
            print(f"  {folder.name}/{Path(e['image']).name}: dense {got[0]:.3f} DG {got[1]:.3f}", flush=True)
        print(summary(folder.name, res, "dense", "DG"), flush=True)


if __name__ == "__main__":
    main([Path(p) for p in sys.argv[1:]])
