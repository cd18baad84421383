#!/usr/bin/env python3
"""Round 26: compare models on one split of a `declip synth` set, overall and per edit kind.

    python research/r26_compare.py DATA_DIR NAME=RESULT_JSON [NAME=RESULT_JSON ...]

Each RESULT_JSON is `declip evaluate --json` output with its `--csv` beside it (same stem). Prints a
markdown table: IoU per kind (joined with the synth manifest), overall IoU, image AP beside chance,
and the authentic images flagged (> 1 % of pixels above 0.5).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.finalize_default_model import iou_by_kind  # noqa: E402


def main() -> int:
    data = Path(sys.argv[1])
    manifest = json.loads((data / "manifest.json").read_text())
    rows = []
    for arg in sys.argv[2:]:
        name, path = arg.split("=", 1)
        res = json.loads(Path(path).read_text())["metrics"]
        rows.append((name, res, iou_by_kind(Path(path).with_suffix(".csv"), manifest)))
    kinds = sorted({k for _, _, by in rows for k in by if k != "real"})
    print("| model | " + " | ".join(kinds) + " | IoU (manipulated) | image AP (chance) | authentic flagged |")
    print("|---" * (len(kinds) + 4) + "|")
    for name, m, by in rows:
        cells = [f"{by.get(k, float('nan')):.1f}" for k in kinds]
        ap = f"{m.get('detection_ap', float('nan')):.1f} ({m.get('detection_ap_chance', float('nan')):.1f})"
        fl = f"{m.get('authentic_flagged', float('nan')):.0f} % ({m.get('authentic_flagged_count', '?')} of {m.get('authentic')})"
        print(f"| {name} | " + " | ".join(cells) + f" | {m['iou']:.1f} | {ap} | {fl} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
