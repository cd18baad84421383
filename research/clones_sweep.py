"""Sweep `clones` parameters on the synthetic clone data (research/clones_synth_data.py).

    python research/clones_sweep.py build/clones-synth '{"method": "keypoints"}' '{"method": "keypoints", "grow_reach": 8}'

One line per parameter set and threshold: mean IoU per kind (copy-moves against mask | source_mask),
authentic images with more than 1 % flagged, image AP, seconds."""
from __future__ import annotations

import json
import sys

from pathlib import Path

from trainer.datasets import load_dataset
from trainer.evaluate import evaluate_dataset
from trainer.producers import evidence_producer


def main(argv: list[str]) -> int:
    folder, configs = argv[0], argv[1:]
    for c in configs:
        params = json.loads(c)
        ths = params.pop("thresholds", [0.5])
        # (trainer.layer_scoring, which this script first used, is now evaluate's --sweep)
        rep = evaluate_dataset(evidence_producer("clones", **params), load_dataset(Path(folder), "all"), sweep=ths)
        for key, v in rep["sweep"].items():
            kinds = " ".join(f"{k}={x:.1f}" for k, x in v["per_kind"].items())
            print(f"{json.dumps(params)} t={key}: all {v['iou']:.1f} | {kinds} | authentic flagged "
                  f"{v['authentic_flagged_count']}/{v['authentic']} | AP {rep.get('detection_ap', float('nan')):.1f} "
                  f"| {rep['seconds']:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
