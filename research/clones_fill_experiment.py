"""Is there a per-pixel cue for PatchMatch-filled holes? (issue #38, round 2; synthetic data only)

Computes `engine.evidence.clone_fill.copied_density` once per image of the synthetic clone set
(research/clones_synth_data.py) at a working long side of 1024 px, caches it, and sweeps the area
rule (min_density, min_area): mean IoU of the fill areas against the removal masks (and, for
copy-moves, mask | source mask), authentic views with more than 1 % marked.

    python research/clones_fill_experiment.py build/clones-synth build/r/fill-cache
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from engine.evidence.clone_fill import copied_density, fill_areas
from engine.evidence.clone_regions import working_gray

PARAMS = dict(min_distance=16, iterations=4, max_error=0.15, noise=2.0, window=21)


def main(argv):
    folder, cache = Path(argv[0]), Path(argv[1])
    cache.mkdir(parents=True, exist_ok=True)
    man = json.loads((folder / "manifest.json").read_text())
    data = []
    for e in man:
        c = cache / (Path(e["image"]).stem + ".npy")
        rgb = np.asarray(Image.open(folder / e["image"]).convert("RGB"))
        if not c.exists():
            gray, _ = working_gray(rgb, 1024)
            np.save(c, copied_density(gray, **PARAMS).astype(np.float16))
        d = np.load(c).astype(np.float32)
        gt = np.zeros(rgb.shape[:2], bool)
        for k in ("mask", "source_mask"):
            if e.get(k):
                gt |= np.asarray(Image.open(folder / e[k])) > 127
        if d.shape != gt.shape:
            d = cv2.resize(d, gt.shape[::-1])
        data.append((e["kind"], d, gt))
    for md in (0.3, 0.4, 0.5, 0.6):
        for ma in (300, 1000, 3000):
            iou = {"copymove": [], "removal_patch": []}
            flagged = 0
            for kind, d, gt in data:
                m = fill_areas(d, md, ma)[0] > 0.5
                if kind == "authentic":
                    flagged += m.mean() > 0.01
                else:
                    iou[kind].append((m & gt).sum() / max((m | gt).sum(), 1) * 100)
            print(f"min_density {md} min_area {ma}: removal_patch {np.mean(iou['removal_patch']):.1f} "
                  f"copymove {np.mean(iou['copymove']):.1f} authentic flagged {flagged}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
