"""Sweep `clones` parameters on the synthetic clone data (research/clones_synth_data.py).

    python research/clones_sweep.py build/clones-synth '{"method": "keypoints"}' '{"method": "keypoints", "grow_reach": 8}'

One line per parameter set and threshold: mean IoU per kind (copy-moves against mask | source_mask),
authentic images with more than 1 % flagged, image AP, seconds."""
from __future__ import annotations

import json
import sys

from trainer.layer_scoring import layer_producer, score_map_producer


def main(argv: list[str]) -> int:
    folder, configs = argv[0], argv[1:]
    for c in configs:
        params = json.loads(c)
        ths = params.pop("thresholds", [0.5])
        rep = score_map_producer(folder, layer_producer("clones", **params), thresholds=ths)
        for key, v in rep["thresholds"].items():
            kinds = " ".join(f"{k}={x:.1f}" for k, x in v["iou_by_kind"].items())
            print(f"{json.dumps(params)} t={key}: all {v['iou_all']:.1f} | {kinds} | authentic flagged "
                  f"{v['authentic_flagged']}/{v['authentic']} | AP {rep['image_ap']:.1f} | {rep['seconds']:.0f} s",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
