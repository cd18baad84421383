#!/usr/bin/env python3
"""Round 25 (issue #37): can a decision threshold chosen on the project's own validation photos keep
authentic photos clean, and what does it cost?  research/threshold-calibration.md has the result.

    PYTHONPATH=. python research/threshold_calibration.py SYNTH_DIR OUT.json

SYNTH_DIR: `declip synth` output made from the default model's three validation photos (astronaut,
chelsea, gravel, pinned to val) plus filler photos; only val items whose host is one of those
three are scored. external-v1 is NOT read here (never select with it). The rule: the lowest
threshold on the grid at which at most 10 % of the authentic validation images have more than
1 % of their pixels above it; the IoU it costs on the manipulated validation images is printed.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VAL_PHOTOS = {"skimage__astronaut.png", "skimage__chelsea.png", "skimage__gravel.png"}
# A first run on a 0.05 grid (0.50 .. 0.95) found nothing above 0.66 at all (IoU 0 from 0.70 on),
# so the grid is 0.01 wide over the range where the map lives.
GRID = [round(0.5 + 0.01 * k, 2) for k in range(21)]  # 0.50 .. 0.70
MAX_FLAGGED = 10.0  # percent of authentic images


def main(synth: Path, out: Path) -> None:
    from trainer import metrics as M
    from trainer.datasets import Sample, read_mask
    from trainer.producers import detector_producer

    man = json.loads((synth / "manifest.json").read_text())
    items = [i for i in man["items"] if i["split"] == "val" and i["host"] in VAL_PHOTOS]
    prod = detector_producer("declip-lite2-default")
    per_t = {t: {"iou": [], "flagged": []} for t in GRID}
    for k, it in enumerate(items):
        prob, _ = prod(synth / it["image"])
        mask = synth / it["mask"] if it.get("mask") else None
        gt = read_mask(Sample(synth / it["image"], mask), (prob.shape[1], prob.shape[0]))
        for t in GRID:
            if mask is not None:
                per_t[t]["iou"].append(M.iou(prob, gt, t))
            else:
                per_t[t]["flagged"].append(float((prob > t).mean()) > 0.01)
        print(f"{k + 1}/{len(items)} {it['kind']}", file=sys.stderr, flush=True)
    table = {t: {"iou": float(np.mean(v["iou"])), "authentic_flagged": float(np.mean(v["flagged"]) * 100),
                 "manipulated": len(v["iou"]), "authentic": len(v["flagged"])} for t, v in per_t.items()}
    chosen = next((t for t in GRID if table[t]["authentic_flagged"] <= MAX_FLAGGED), None)
    res = {"items": len(items), "rule": f"lowest threshold with <= {MAX_FLAGGED} % of authentic val images flagged",
           "table": table, "chosen": chosen}
    out.write_text(json.dumps(res, indent=1) + "\n")
    for t in GRID:
        print(f"t={t:.2f}  val IoU {table[t]['iou']:.1f}  authentic flagged {table[t]['authentic_flagged']:.0f} %")
    print(f"chosen threshold: {chosen}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
