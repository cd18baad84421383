"""Scoring shared by the clones research rounds (9, 13, 15-16): one view's figure, as `declip evaluate`
scores `clones` (copy-moves against mask | source mask, map > 0.5; an untouched view counts as flagged
when more than 1 % of its pixels are above 0.5)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image


def entries(folder: Path, kinds: tuple[str, ...]) -> list[dict]:
    return [e for e in json.loads((folder / "manifest.json").read_text()) if e["kind"] in kinds]


def score(prob: np.ndarray, folder: Path, e: dict) -> float:
    """IoU for an edited view, 1.0 / 0.0 (flagged or not) for an untouched one."""
    flag = prob > 0.5
    if e["kind"] == "authentic":
        return float(flag.mean() > 0.01)
    gt = np.asarray(Image.open(folder / e["mask"])) > 0
    if e.get("source_mask"):
        gt |= np.asarray(Image.open(folder / e["source_mask"])) > 0
    union = (flag | gt).sum()
    return float((flag & gt).sum() / union) if union else 0.0


def summary(name: str, res: dict, before: str, after: str) -> str:
    """One set's line: copymove IoU and copies found (IoU > 0.1), untouched views flagged, before -> after.
    res: {"copymove": (before scores, after scores), "authentic": (before, after)}."""
    cm, au = res["copymove"], res["authentic"]
    line = f"{name}:"
    if cm[0]:
        line += (f" copymove IoU {before} {100 * np.mean(cm[0]):.1f} -> {after} {100 * np.mean(cm[1]):.1f}, found "
                 f"{sum(v > 0.1 for v in cm[0])} -> {sum(v > 0.1 for v in cm[1])} of {len(cm[0])}")
    if au[0]:
        line += f"; untouched flagged {before} {int(sum(au[0]))} -> {after} {int(sum(au[1]))} of {len(au[0])}"
    return line
