"""Is there a detail floor below which `clones` cannot find a copy? (issue #38, clones round 8)

For every copy-move of a benchmark-style folder, the fine detail of the copied region: the mean
absolute residual of the luma against its Gaussian blur (sigma 2 px), over the source mask eroded
by 4 px (its feathered rim left out), in grey levels of the final JPEG. Printed beside the IoU that
`declip evaluate --layer clones --csv` recorded for the image, sorted by detail.

    python research/clones_detail_floor.py DATA RESULTS.csv [DATA2 RESULTS2.csv ...]
"""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image


def detail(gray: np.ndarray, region: np.ndarray) -> float:
    hp = gray - cv2.GaussianBlur(gray, (0, 0), 2)
    inner = cv2.erode(region.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    return float(np.abs(hp[inner if inner.any() else region]).mean())


def rows_of(data: Path, results: Path) -> list[tuple[float, float, str, dict]]:
    entries = {e["image"]: e for e in json.loads((data / "manifest.json").read_text())}
    out = []
    for r in csv.DictReader(results.open()):
        if r["group"] != "copymove":
            continue
        rel = str(Path(r["image"]).relative_to(data.resolve())) if Path(r["image"]).is_absolute() else \
            r["image"].split(data.name + "/", 1)[1]
        e = entries[rel]
        gray = np.asarray(Image.open(data / e["image"]).convert("L"), np.float32)
        src = np.asarray(Image.open(data / e["source_mask"])) > 0
        out.append((detail(gray, src), float(r["iou"]), f"{data.name}/{Path(rel).name}", e))
    return out


def main(argv: list[str]) -> int:
    rows = []
    for data, results in zip(argv[0::2], argv[1::2]):
        rows += rows_of(Path(data), Path(results))
    rows.sort()
    print("detail  IoU    image                          post")
    for d, iou, name, e in rows:
        print(f"{d:6.2f} {iou:6.1f}  {name:30s} {e.get('post')}")
    for floor in (0.6, 0.7, 0.8, 0.9, 1.0):
        below = [iou for d, iou, *_ in rows if d < floor]
        above = [iou for d, iou, *_ in rows if d >= floor]
        found = lambda xs: sum(x > 10 for x in xs)
        print(f"floor {floor}: below {found(below)} of {len(below)} found, mean IoU "
              f"{np.mean(below) if below else float('nan'):.1f}; at or above {found(above)} of {len(above)} found, "
              f"mean IoU {np.mean(above) if above else float('nan'):.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
